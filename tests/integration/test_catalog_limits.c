/* SPDX-License-Identifier: MIT */
/*
 * Limits that a single case folder cannot express: a full state store,
 * slow clients, long login parameters, over-long request lines and headers,
 * and the h2c upgrade. Each test runs a real ltigate on loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "harness.h"

#define STORE_ENTRIES 16

/* ---- raw HTTP ----------------------------------------------------------- */

static int connect_tool(const harness_t *h, long timeout_ms)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(h->tool_port)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the peer closes, the buffer is full or the timeout passes.
 * Returns the number of bytes read. */
static size_t read_response(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = recv(fd, buf + got, len - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

/* Sends `data` on a new connection and returns the response status, or -1.
 * The response head goes to `head` when it is not NULL. */
static long raw_request(const harness_t *h, const char *data, size_t len, char *head,
                        size_t head_len)
{
    static char buf[1 << 16];
    int fd = connect_tool(h, 5000);
    long status = -1;
    if (fd < 0)
        return -1;
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    read_response(fd, buf, sizeof(buf));
    close(fd);
    if (sscanf(buf, "HTTP/1.1 %ld", &status) != 1)
        status = -1;
    if (head != NULL)
        snprintf(head, head_len, "%s", buf);
    return status;
}

/* ---- store full --------------------------------------------------------- */

typedef struct flood {
    const harness_t *h;
    int logins_ok;   /* logins that got a 302 while the store filled up */
    int store_full;  /* a login got 503 store_full */
    int retry_after; /* that 503 carried Retry-After */
} flood_t;

static const char login_query[] =
    "GET /hosted/index/oidc-login?iss=https%%3A%%2F%%2Fcanvas.instructure.com"
    "&login_hint=flood&client_id=170000000000123"
    "&target_link_uri=http%%3A%%2F%%2F127.0.0.1%%3A%u%%2Fhosted%%2Findex%%2Foauth2-launch"
    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/* Runs between the browser's login and its launch POST: fills the store
 * with other logins until ltigate responds 503. */
static char *fill_store(void *arg, const char *id_token)
{
    flood_t *f = arg;
    char request[1024], head[4096];
    int len = snprintf(request, sizeof(request), login_query, f->h->tool_port);
    for (int i = 0; i < 4 * STORE_ENTRIES && !f->store_full; i++) {
        long status = raw_request(f->h, request, (size_t)len, head, sizeof(head));
        if (status == 302) {
            f->logins_ok++;
        } else if (status == 503) {
            f->store_full = strstr(head, "x-lti-reason: store_full") != NULL;
            f->retry_after = strstr(head, "retry-after: ") != NULL;
        }
    }
    return strdup(id_token);
}

static void store_full_keeps_live_states(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {.extra_yaml = "store:\n  backend: memory\n  maxEntries: 16\n"};
    sim_launch_opts_t lo;
    sim_launch_result_t res;
    flood_t flood = {.h = &h};

    assert_int_equal(harness_start(&h, &opts), 0);
    harness_launch_opts(&h, &lo);
    lo.edit_id_token = fill_store;
    lo.edit_arg = &flood;
    sim_launch(&lo, &res);
    int logged = harness_log_contains(&h, "reason=store_full");
    harness_stop(&h);

    assert_true(flood.logins_ok > 0);
    assert_true(flood.logins_ok < STORE_ENTRIES);
    assert_true(flood.store_full);
    assert_true(flood.retry_after);
    /* The launch whose state was stored before the flood still completes. */
    assert_int_equal(res.outcome, SIM_LAUNCHED);
    assert_true(logged);
    sim_launch_result_clear(&res);
}

/* ---- per-client limit --------------------------------------------------- */

/* Sends one login from source address `source` (any of 127.0.0.0/8) and
 * returns the status; copies the response head into `head`. */
/* Sends one login from the local address `source`, with an
 * X-Forwarded-For header when `forwarded` is not NULL. */
static long login_via(const harness_t *h, const char *source, const char *forwarded, char *head,
                      size_t head_len)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(h->tool_port)};
    struct timeval tv = {.tv_sec = 5};
    char request[1024];
    long status = -1;
    int len = snprintf(request, sizeof(request), login_query, h->tool_port);
    if (forwarded != NULL) {
        /* Put the header before the blank line that ends the request. */
        len -= 2;
        len += snprintf(request + len, sizeof(request) - (size_t)len,
                        "X-Forwarded-For: %s\r\n\r\n", forwarded);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    head[0] = '\0';
    inet_pton(AF_INET, source, &src.sin_addr);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd >= 0 && bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0) {
        send(fd, request, (size_t)len, MSG_NOSIGNAL);
        read_response(fd, head, head_len);
        if (sscanf(head, "HTTP/1.1 %ld", &status) != 1)
            status = -1;
    }
    if (fd >= 0)
        close(fd);
    return status;
}

static long login_from(const harness_t *h, const char *source, char *head, size_t head_len)
{
    return login_via(h, source, NULL, head, head_len);
}

static void per_client_limit_spares_others(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {.extra_yaml = "store:\n  maxEntries: 1000\n  maxStatesPerClient: 5\n"};
    char head[4096];
    long first[5], over, other;
    int limited_reason, retry_after;

    assert_int_equal(harness_start(&h, &opts), 0);
    for (int i = 0; i < 5; i++)
        first[i] = login_from(&h, "127.0.0.1", head, sizeof(head));
    over = login_from(&h, "127.0.0.1", head, sizeof(head));
    limited_reason = strstr(head, "x-lti-reason: login_rate_limited") != NULL;
    retry_after = strstr(head, "retry-after: ") != NULL;
    other = login_from(&h, "127.0.0.2", head, sizeof(head));
    harness_stop(&h);

    for (int i = 0; i < 5; i++)
        assert_int_equal(first[i], 302);
    assert_int_equal(over, 429);
    assert_true(limited_reason);
    assert_true(retry_after);
    assert_int_equal(other, 302);
}

/* Behind a trusted proxy (127.0.0.1 here) the limit counts the client the
 * proxy names: the rightmost X-Forwarded-For entry that is not a trusted
 * proxy. Entries left of it are written by the client and change
 * nothing. A peer outside trustedProxies is counted by its own address,
 * whatever header it sends. */
static void per_client_limit_behind_trusted_proxy(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {
        .extra_yaml = "store:\n  maxEntries: 1000\n  maxStatesPerClient: 2\n",
        .extra_server_yaml = "  trustedProxies: [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n",
    };
    char head[4096];
    long a[3], spoofed, chained, b, untrusted[3];

    assert_int_equal(harness_start(&h, &opts), 0);
    for (int i = 0; i < 2; i++)
        a[i] = login_via(&h, "127.0.0.1", "198.51.100.7", head, sizeof(head));
    /* A forged entry on the left does not make a new client. */
    spoofed = login_via(&h, "127.0.0.1", "203.0.113.1, 198.51.100.7", head, sizeof(head));
    /* Trusted hops on the right are skipped: this is 198.51.100.8. */
    chained = login_via(&h, "127.0.0.1", "198.51.100.8, 10.1.2.3", head, sizeof(head));
    b = login_via(&h, "127.0.0.1", "[2001:db8::8]:4711", head, sizeof(head));
    a[2] = login_via(&h, "127.0.0.1", "198.51.100.7:5555", head, sizeof(head));
    /* 127.0.0.2 is no trusted proxy: its header is ignored. */
    for (int i = 0; i < 3; i++) {
        char forged[32];
        snprintf(forged, sizeof(forged), "192.0.2.%d", i + 1);
        untrusted[i] = login_via(&h, "127.0.0.2", forged, head, sizeof(head));
    }
    harness_stop(&h);

    assert_int_equal(a[0], 302);
    assert_int_equal(a[1], 302);
    assert_int_equal(spoofed, 429);
    assert_int_equal(chained, 302);
    assert_int_equal(b, 302);
    assert_int_equal(a[2], 429);
    assert_int_equal(untrusted[0], 302);
    assert_int_equal(untrusted[1], 302);
    assert_int_equal(untrusted[2], 429);
}

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Sends one login on `curl` (kept alive between calls) as forwarded for
 * `client`; returns the status. */
static long login_forwarded(CURL *curl, const harness_t *h, const char *client)
{
    char url[512], header[128];
    long status = -1;
    snprintf(url, sizeof(url),
             "%s/hosted/index/oidc-login?iss=https%%3A%%2F%%2Fcanvas.instructure.com"
             "&login_hint=flood&client_id=170000000000123&target_link_uri=%s%%2Fhosted"
             "%%2Findex%%2Foauth2-launch",
             h->tool_base, h->tool_base);
    snprintf(header, sizeof(header), "X-Forwarded-For: %s", client);
    struct curl_slist *headers = curl_slist_append(NULL, header);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return status;
}

/* Counting is per client, never per shared bucket, and the addresses of one
 * IPv6 /64 are one client. When more clients log in within a window than
 * the table tracks, the newcomers are let through instead of everyone
 * getting 429, because the store's maxEntries still bounds them. */
static void per_client_limit_table_never_locks_out_newcomers(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {
        .extra_yaml = "store:\n  maxEntries: 100000\n  maxStatesPerClient: 2\n",
        .extra_server_yaml = "  trustedProxies: [\"127.0.0.1/32\"]\n",
    };
    char client[64];
    long same64[3], newcomer;
    unsigned refused = 0;

    assert_int_equal(harness_start(&h, &opts), 0);
    CURL *curl = curl_easy_init();
    same64[0] = login_forwarded(curl, &h, "2001:db8:aaaa:1::1");
    same64[1] = login_forwarded(curl, &h, "2001:db8:aaaa:1::2");
    same64[2] = login_forwarded(curl, &h, "2001:db8:aaaa:1:ffff::3");
    /* More distinct /64s than the table has slots, one login each. */
    for (unsigned k = 0; k < 17000; k++) {
        snprintf(client, sizeof(client), "2001:db8:%x:%x::1", 0x100 + (k >> 16), k & 0xffff);
        if (login_forwarded(curl, &h, client) != 302)
            refused++;
    }
    newcomer = login_forwarded(curl, &h, "2001:db8:ffff:ffff::1");
    curl_easy_cleanup(curl);
    harness_stop(&h);

    assert_int_equal(same64[0], 302);
    assert_int_equal(same64[1], 302);
    assert_int_equal(same64[2], 429);
    assert_int_equal(refused, 0);
    assert_int_equal(newcomer, 302);
}

/* ---- slow clients ------------------------------------------------------- */

/* Returns the seconds until the server closes a connection that sent
 * `partial` and nothing more, or -1 when it stays open past `limit_s`. */
static double seconds_until_closed(const harness_t *h, const char *partial, int limit_s)
{
    char buf[4096];
    struct timespec t0, t1;
    int fd = connect_tool(h, (long)limit_s * 1000);
    if (fd < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send(fd, partial, strlen(partial), MSG_NOSIGNAL);
    ssize_t n;
    do {
        n = recv(fd, buf, sizeof(buf), 0);
    } while (n > 0);
    int timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    if (timed_out)
        return -1;
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void slow_clients_disconnected(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {.extra_server_yaml = "  requestTimeout: 1000\n"};
    assert_int_equal(harness_start(&h, &opts), 0);

    /* Headers that never end. */
    double head_s =
        seconds_until_closed(&h, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 8);
    /* A body shorter than its Content-Length. */
    double body_s = seconds_until_closed(&h,
                             "POST /hosted/index/oauth2-launch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: 1000\r\n\r\nid_token=",
                             8);
    harness_stop(&h);
    printf("incomplete headers closed after %.2f s, incomplete body after %.2f s\n", head_s,
           body_s);
    assert_true(head_s >= 0.5);
    assert_true(head_s < 5.0);
    assert_true(body_s >= 0.5);
    assert_true(body_s < 5.0);
}

/* ---- login parameters --------------------------------------------------- */

/* Builds a login request with an lti_message_hint of `len` characters from
 * [A-Za-z0-9-_.~], which percent-encoding leaves as they are. */
static char *login_with_hint(const harness_t *h, size_t len, char **hint_out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    char *hint = malloc(len + 1);
    char *req = malloc(len + 1024);
    assert_non_null(hint);
    assert_non_null(req);
    for (size_t i = 0; i < len; i++)
        hint[i] = alphabet[(i * 7 + i / 3) % (sizeof(alphabet) - 1)];
    hint[len] = '\0';
    snprintf(req, len + 1024,
             "GET /hosted/index/oidc-login?iss=https%%3A%%2F%%2Fcanvas.instructure.com"
             "&login_hint=u1&client_id=170000000000123&lti_message_hint=%s"
             "&target_link_uri=http%%3A%%2F%%2F127.0.0.1%%3A%u%%2Fhosted%%2Findex%%2Foauth2-launch"
             " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             hint, h->tool_port);
    *hint_out = hint;
    return req;
}

static void long_message_hint_kept(void **state)
{
    (void)state;
    harness_t h;
    static char head[1 << 16];
    char *hint = NULL, *req = NULL, needle[16384];
    assert_int_equal(harness_start(&h, NULL), 0);

    /* 3 KiB: still a 302, and the hint is in the Location byte for byte. */
    req = login_with_hint(&h, 3000, &hint);
    long short_status = raw_request(&h, req, strlen(req), head, sizeof(head));
    snprintf(needle, sizeof(needle), "lti_message_hint=%s&", hint);
    int short_kept = strstr(head, needle) != NULL;
    free(req);
    free(hint);

    /* 8 KiB: the URL would pass 4 KiB, so the request goes as a form POST. */
    req = login_with_hint(&h, 8000, &hint);
    long long_status = raw_request(&h, req, strlen(req), head, sizeof(head));
    snprintf(needle, sizeof(needle), "name=\"lti_message_hint\" value=\"%s\"", hint);
    int long_kept = strstr(head, needle) != NULL;
    int has_form = strstr(head, "<form method=\"post\" action=\"") != NULL;
    int has_cookie = strstr(head, "set-cookie: ltist_") != NULL;
    int has_script = strstr(head, "<script") != NULL;
    free(req);
    free(hint);

    /* Above the 8 KiB cap: rejected, never truncated. */
    req = login_with_hint(&h, 8193, &hint);
    long over_status = raw_request(&h, req, strlen(req), head, sizeof(head));
    int over_reason = strstr(head, "x-lti-reason: param_too_long") != NULL;
    free(req);
    free(hint);
    harness_stop(&h);

    assert_int_equal(short_status, 302);
    assert_true(short_kept);
    assert_int_equal(long_status, 200);
    assert_true(long_kept);
    assert_true(has_form);
    assert_true(has_cookie);
    assert_false(has_script);
    assert_int_equal(over_status, 400);
    assert_true(over_reason);
}

/* ---- request line, headers, h2c ----------------------------------------- */

/* Sends a GET to `path` with `url_pad` extra bytes in the query and a
 * header of `header_pad` bytes; returns the status and copies the reason. */
static long oversized_get(const harness_t *h, const char *path, size_t url_pad, size_t header_pad,
                          char *reason, size_t reason_len)
{
    size_t cap = url_pad + header_pad + 512;
    char *req = malloc(cap), head[4096];
    assert_non_null(req);
    size_t n = (size_t)snprintf(req, cap, "GET %s?x=", path);
    memset(req + n, 'a', url_pad);
    n += url_pad;
    n += (size_t)snprintf(req + n, cap - n, " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
    memset(req + n, 'b', header_pad);
    n += header_pad;
    n += (size_t)snprintf(req + n, cap - n, "\r\nConnection: close\r\n\r\n");
    long status = raw_request(h, req, n, head, sizeof(head));
    free(req);
    const char *r = strstr(head, "x-lti-reason: ");
    snprintf(reason, reason_len, "%.*s", r != NULL ? (int)strcspn(r + 14, "\r\n") : 0,
             r != NULL ? r + 14 : "");
    return status;
}

static void oversized_request_line_and_headers(void **state)
{
    (void)state;
    harness_t h;
    char url_reason[64], header_reason[64], reason[64];
    assert_int_equal(harness_start(&h, NULL), 0);

    long url_status =
        oversized_get(&h, "/hosted/index/oidc-login", 20 * 1024, 1, url_reason, sizeof(url_reason));
    long header_status = oversized_get(&h, "/hosted/index/oidc-login", 1, 40 * 1024, header_reason,
                                       sizeof(header_reason));
    /* Past h2o's own limit of about 400 KiB per request head. */
    long huge_status = oversized_get(&h, "/healthz", 1, 600 * 1024, reason, sizeof(reason));
    /* The server keeps answering afterwards. */
    long health = harness_http(&h, "GET", "/healthz", NULL, NULL, 0, NULL, reason, sizeof(reason));
    harness_stop(&h);

    printf("20 KiB URL: HTTP %ld %s; 40 KiB header: HTTP %ld %s; 600 KiB header: HTTP %ld\n",
           url_status, url_reason, header_status, header_reason, huge_status);
    assert_int_equal(url_status, 414);
    assert_string_equal(url_reason, "url_too_long");
    assert_int_equal(header_status, 431);
    assert_string_equal(header_reason, "headers_too_large");
    assert_true(huge_status >= 400 && huge_status < 500);
    assert_int_equal(health, 200);
}

static void h2c_upgrade_answered_as_http1(void **state)
{
    (void)state;
    harness_t h;
    char head[4096];
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                              "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    assert_int_equal(harness_start(&h, NULL), 0);
    /* The connection stays open after a 200, so read with a short timeout. */
    int fd = connect_tool(&h, 1000);
    if (fd < 0) {
        harness_stop(&h);
        fail_msg("cannot connect to ltigate");
    }
    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
    read_response(fd, head, sizeof(head));
    close(fd);
    harness_stop(&h);
    assert_int_equal(strncmp(head, "HTTP/1.1 200", 12), 0);
    assert_null(strstr(head, "101"));
    assert_null(strstr(head, "upgrade: h2c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_full_keeps_live_states),
        cmocka_unit_test(per_client_limit_spares_others),
        cmocka_unit_test(per_client_limit_behind_trusted_proxy),
        cmocka_unit_test(per_client_limit_table_never_locks_out_newcomers),
        cmocka_unit_test(slow_clients_disconnected),
        cmocka_unit_test(long_message_hint_kept),
        cmocka_unit_test(oversized_request_line_and_headers),
        cmocka_unit_test(h2c_upgrade_answered_as_http1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
