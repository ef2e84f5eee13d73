/* SPDX-License-Identifier: MIT */
/*
 * Key set transport: ltigate's lti13KeysUrl points at a stub server on
 * loopback that redirects, sends an oversized body, drips slowly or fails.
 * Every launch must then be rejected with jwks_unavailable, quickly, and
 * the stub's redirect target must never be fetched.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "harness.h"

typedef enum stub_mode {
    STUB_REDIRECT,  /* 302 to the simulated platform's real key set */
    STUB_OVERSIZED, /* 200 with a 300 KiB body, above jwks.maxBytes */
    STUB_DRIP,      /* 200 without a length, then one byte every 200 ms */
    STUB_ERROR,     /* 500 */
} stub_mode_t;

typedef struct stub {
    int listen_fd;
    uint16_t port;
    stub_mode_t mode;
    char redirect_to[256];
    atomic_int requests;
    atomic_int stop;
    pthread_t thread;
} stub_t;

static void stub_serve(stub_t *s, int fd)
{
    char buf[4096];
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (recv(fd, buf, sizeof(buf), 0) <= 0)
        return;
    atomic_fetch_add(&s->requests, 1);
    if (s->mode == STUB_REDIRECT) {
        snprintf(buf, sizeof(buf),
                 "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 s->redirect_to);
        send(fd, buf, strlen(buf), MSG_NOSIGNAL);
    } else if (s->mode == STUB_OVERSIZED) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\n\r\n{\"keys\":[],\"pad\":\"";
        send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL);
        memset(buf, 'a', sizeof(buf));
        for (int i = 0; i < 75; i++)
            if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
                break;
    } else if (s->mode == STUB_DRIP) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\n\r\n";
        send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL);
        for (int i = 0; i < 100 && !atomic_load(&s->stop); i++) {
            if (send(fd, "{", 1, MSG_NOSIGNAL) < 0)
                break;
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    } else {
        static const char resp[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
        send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
    }
}

static void *stub_main(void *arg)
{
    stub_t *s = arg;
    while (!atomic_load(&s->stop)) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        stub_serve(s, fd);
        close(fd);
    }
    return NULL;
}

static int stub_start(stub_t *s, stub_mode_t mode)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sin, &len) != 0)
        return -1;
    /* accept wakes up every 200 ms to see the stop flag. */
    setsockopt(s->listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    s->port = ntohs(sin.sin_port);
    return pthread_create(&s->thread, NULL, stub_main, s) == 0 ? 0 : -1;
}

static void stub_stop(stub_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

typedef struct outcome {
    sim_outcome_t outcome;
    long status;
    char reason[64];
    double seconds;
    int stub_requests;
    unsigned long platform_jwks_hits;
    int logged; /* the ltigate log contains the expected fetch failure */
} outcome_t;

/* Starts ltigate with its key set URL on a stub in `mode`, runs one launch
 * and records what happened, including whether the log names `failure`. */
static void launch_with_stub(stub_mode_t mode, const char *failure, outcome_t *out)
{
    harness_t h;
    stub_t stub;
    char keys_url[64];
    sim_launch_opts_t lo;
    sim_launch_result_t res;
    sim_platform_stats_t stats;
    struct timespec t0, t1;

    memset(out, 0, sizeof(*out));
    assert_int_equal(stub_start(&stub, mode), 0);
    snprintf(keys_url, sizeof(keys_url), "http://127.0.0.1:%u/jwks", stub.port);
    harness_opts_t opts = {.keys_url = keys_url,
                           .extra_yaml = "jwks:\n  timeout: 1500\n  connectTimeout: 500\n"
                                         "  maxBytes: 65536\n"};
    if (harness_start(&h, &opts) != 0) {
        stub_stop(&stub);
        fail_msg("ltigate did not start");
    }
    snprintf(stub.redirect_to, sizeof(stub.redirect_to), "%s/api/lti/security/jwks",
             sim_platform_base_url(h.platform));
    sim_platform_get_stats(h.platform, &stats);
    unsigned long hits_before = stats.jwks_hits;

    harness_launch_opts(&h, &lo);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sim_launch(&lo, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sim_platform_get_stats(h.platform, &stats);

    out->outcome = res.outcome;
    out->status = res.status;
    snprintf(out->reason, sizeof(out->reason), "%s", res.reason);
    out->seconds =
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    out->platform_jwks_hits = stats.jwks_hits - hits_before;
    out->logged = harness_log_contains(&h, failure);
    sim_launch_result_clear(&res);
    harness_stop(&h);
    stub_stop(&stub);
    out->stub_requests = atomic_load(&stub.requests);
}

static void check_unavailable(const char *label, const outcome_t *o)
{
    printf("%s: outcome %s, HTTP %ld, reason %s, %.2f s, %d stub requests\n", label,
           sim_outcome_name(o->outcome), o->status, o->reason, o->seconds, o->stub_requests);
    assert_int_equal(o->outcome, SIM_REJECTED);
    assert_int_equal(o->status, 503);
    assert_string_equal(o->reason, "jwks_unavailable");
    assert_true(o->stub_requests >= 1);
    assert_true(o->seconds < 8.0);
    assert_true(o->logged);
}

static void redirect_not_followed(void **state)
{
    (void)state;
    outcome_t o;
    launch_with_stub(STUB_REDIRECT, "HTTP status 302", &o);
    check_unavailable("redirect", &o);
    /* The redirect target is the real key set; it must never be fetched. */
    assert_int_equal(o.platform_jwks_hits, 0);
}

static void oversized_key_set_rejected(void **state)
{
    (void)state;
    outcome_t o;
    launch_with_stub(STUB_OVERSIZED, "key set larger than 65536 bytes", &o);
    check_unavailable("oversized", &o);
}

static void dripping_key_set_times_out(void **state)
{
    (void)state;
    outcome_t o;
    launch_with_stub(STUB_DRIP, "Timeout was reached", &o);
    check_unavailable("drip", &o);
}

static void failing_key_set_rejected(void **state)
{
    (void)state;
    outcome_t o;
    launch_with_stub(STUB_ERROR, "HTTP status 500", &o);
    check_unavailable("error 500", &o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirect_not_followed),
        cmocka_unit_test(oversized_key_set_rejected),
        cmocka_unit_test(dripping_key_set_times_out),
        cmocka_unit_test(failing_key_set_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
