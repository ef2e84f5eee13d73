/* SPDX-License-Identifier: MIT */
/*
 * The engine of `ltisim load`: one libcurl multi handle drives
 * `concurrency` browsers, each an easy handle that runs flows one after
 * another. The multi handle's connection cache keeps the HTTP/1.1
 * connections alive between requests, so a steady run opens about one
 * connection per browser.
 *
 * Steps of a flow with the in-process platform: login initiation at the
 * tool, signing (in this process, as soon as the login redirect reveals the
 * nonce), the launch POST and the landing page. With an external platform
 * the browser also fetches /sim/launch and the authorize endpoint there.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "sim_load_int.h"

#define ACCEPT_HTML "Accept: text/html,application/xhtml+xml"

enum { PHASE_FULL = 0, PHASE_LOGIN, PHASE_AUTHORIZE, PHASE_LAUNCH, PHASE_GET, PHASE_PICKER,
       PHASE_DL };

typedef struct browser {
    CURL *easy;
    load_t *load;
    flow_t *flow;
    flow_t own; /* the flow storage in full mode */
    load_step_t step;
    double t0;
    sim_buf_t body;
    sim_buf_t set_cookies; /* name=value pairs set by the current response */
    char location[4096];
    int location_too_long;
    char reason[LOAD_REASON_LEN];
    char *url; /* URL of the current request */
} browser_t;

struct load {
    const sim_load_opts_t *o;
    CURLM *multi;
    struct curl_slist *headers;
    browser_t *browsers;
    unsigned n_browsers;
    flow_t *flows; /* split mode: one per flow */
    uint64_t n_flows;
    uint64_t next; /* next flow index to start */
    int phase;
    double phase_start, deadline;
    int deadline_hit;
    load_signer_t signer;
    int have_signer;
    json_t *dl_keys; /* the tool's key set, read once before the first flow */

    load_lat_t lat[STEP_COUNT];
    uint64_t step_errors[STEP_COUNT];
    load_reasons_t errors;
    load_reasons_t rejections; /* tampered tokens rejected, by reason */
    uint64_t ok, failed;       /* flows (or GETs) in the current phase */
    uint64_t launches_ok;      /* launch POSTs accepted (honest tokens) */
    uint64_t connects;         /* TCP connections opened; keep-alive keeps this near
                                  the number of browsers */
    uint64_t tampered_sent[FLOW_KINDS], tampered_rejected[FLOW_KINDS];
    uint64_t tampered_accepted[FLOW_KINDS];
    uint64_t dl_responses; /* signed deep-linking responses received and parsed */
    uint64_t dl_verified;  /* of which verified against the tool's key set */

    load_phase_stats_t phases[LOAD_MAX_PHASES];
    size_t n_phases;
    double last_progress;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Returns the user plus system CPU seconds of process `pid` from
 * /proc/PID/stat (Linux, in clock ticks of usually 10 ms), or -1 when
 * `pid` is 0 or unreadable. */
static double server_cpu_s(long pid)
{
    char path[64], buf[1024];
    unsigned long long user = 0, sys = 0;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    /* The command name in brackets may contain spaces, so the fields are
     * read after the last ')'. utime and stime are fields 14 and 15. */
    const char *p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &user, &sys) != 2)
        return -1;
    return (double)(user + sys) / (double)sysconf(_SC_CLK_TCK);
}

static void flow_clear(flow_t *f)
{
    free(f->cookies);
    free(f->next_url);
    free(f->nonce);
    free(f->state);
    free(f->form);
    free(f->dl_url);
    json_decref(f->dl_expect);
    memset(f, 0, sizeof(*f));
}

static void flow_reset(flow_t *f, uint64_t index, const sim_load_opts_t *o)
{
    flow_clear(f);
    f->index = index;
    f->kind = o->negative ? (flow_kind_t)(1 + index % (FLOW_KINDS - 1)) : FLOW_NORMAL;
    f->dl = load_flow_is_dl(o, index);
}

/* ---- URLs -------------------------------------------------------------- */

/* Returns `ref` resolved against `base` when the result is an http URL on a
 * loopback host, else NULL. */
static char *resolve_loopback(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *host = NULL, *scheme = NULL, *full = NULL, *out = NULL;
    if (u == NULL)
        return NULL;
    if ((base != NULL && curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) ||
        curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "http") == 0 && sim_host_is_loopback(host))
        out = strdup(full);
out:
    curl_free(host);
    curl_free(scheme);
    curl_free(full);
    curl_url_cleanup(u);
    return out;
}

static int url_is_loopback(const char *url)
{
    char *r = resolve_loopback(NULL, url);
    free(r);
    return r != NULL;
}

/* Copies the query parameters of `url` into `out`. */
static int url_query(const char *url, sim_params_t *out)
{
    CURLU *u = curl_url();
    char *query = NULL;
    int rc = -1;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK)
        rc = sim_params_parse(out, query, strlen(query));
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

/* ---- HTML forms from the platform simulator --------------------------- */

char *load_tag_attr(const char *tag, const char *end, const char *attr)
{
    char pattern[32];
    snprintf(pattern, sizeof(pattern), " %s=\"", attr);
    const char *p = strstr(tag, pattern);
    if (p == NULL || p >= end)
        return NULL;
    p += strlen(pattern);
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (q == NULL)
        return NULL;
    return sim_html_unescape(p, (size_t)(q - p));
}

/* Collects the hidden inputs of the first form in `html` as a form body,
 * replacing the names id_token and state by the configured ones. */
static char *form_body(const sim_load_opts_t *o, const char *html, char **token, char **state)
{
    sim_buf_t b;
    const char *p = html;
    sim_buf_init(&b, 64 * 1024);
    while (p != NULL && (p = strstr(p, "<input ")) != NULL) {
        const char *end = strchr(p, '>');
        if (end == NULL)
            break;
        char *name = load_tag_attr(p, end, "name");
        char *value = load_tag_attr(p, end, "value");
        if (name != NULL && value != NULL) {
            const char *sent = name;
            if (strcmp(name, "id_token") == 0) {
                sent = o->token_param;
                if (token != NULL)
                    *token = strdup(value);
            } else if (strcmp(name, "state") == 0) {
                sent = o->state_param;
                if (state != NULL)
                    *state = strdup(value);
            }
            if (b.len > 0)
                sim_buf_puts(&b, "&");
            sim_buf_put_urlenc(&b, sent);
            sim_buf_puts(&b, "=");
            sim_buf_put_urlenc(&b, value);
        }
        free(name);
        free(value);
        p = end;
    }
    if (b.overflow || b.len == 0) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* ---- curl callbacks ---------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    browser_t *b = arg;
    size_t len = size * nmemb;
    if (sim_buf_append(&b->body, data, len) != 0)
        return 0; /* aborts the transfer: the body exceeds LOAD_MAX_BODY */
    return len;
}

static int header_is(const char *line, size_t len, const char *name, const char **value,
                     size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
}

/* Keeps name=value of a Set-Cookie header unless it deletes the cookie. */
static void keep_cookie(browser_t *b, const char *v, size_t len)
{
    const char *semi = memchr(v, ';', len);
    size_t pair = semi != NULL ? (size_t)(semi - v) : len;
    const char *eq = memchr(v, '=', pair);
    if (eq == NULL || eq == v || (size_t)(eq - v) + 1 == pair)
        return; /* no name, or an empty value */
    for (const char *a = semi; a != NULL && a < v + len; a = memchr(a + 1, ';', (size_t)(v + len - a - 1))) {
        const char *s = a + 1;
        while (s < v + len && *s == ' ')
            s++;
        if ((size_t)(v + len - s) >= 9 && strncasecmp(s, "Max-Age=0", 9) == 0)
            return;
    }
    if (b->set_cookies.len > 0)
        sim_buf_puts(&b->set_cookies, "; ");
    sim_buf_append(&b->set_cookies, v, pair);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    browser_t *b = arg;
    size_t len = size * nmemb;
    const char *v;
    size_t vlen;
    if (header_is(data, len, "Location", &v, &vlen)) {
        b->location_too_long = vlen >= sizeof(b->location);
        if (!b->location_too_long) {
            memcpy(b->location, v, vlen);
            b->location[vlen] = '\0';
        }
    } else if (header_is(data, len, "X-LTI-Reason", &v, &vlen)) {
        size_t n = 0;
        /* Reason codes are lower-case words; anything else is replaced. */
        for (size_t i = 0; i < vlen && n + 1 < sizeof(b->reason); i++) {
            char c = v[i];
            b->reason[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '?';
        }
        b->reason[n] = '\0';
    } else if (header_is(data, len, "Set-Cookie", &v, &vlen)) {
        keep_cookie(b, v, vlen);
    }
    return len;
}

/* ---- requests ---------------------------------------------------------- */

static int browser_init(load_t *L, browser_t *b)
{
    memset(b, 0, sizeof(*b));
    b->load = L;
    b->easy = curl_easy_init();
    if (b->easy == NULL)
        return -1;
    sim_buf_init(&b->body, LOAD_MAX_BODY);
    sim_buf_init(&b->set_cookies, LOAD_MAX_COOKIES);
    CURL *e = b->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, b);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, L->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, L->o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, L->o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    return 0;
}

static void browser_clear(browser_t *b)
{
    if (b->easy != NULL)
        curl_easy_cleanup(b->easy);
    sim_buf_free(&b->body);
    sim_buf_free(&b->set_cookies);
    flow_clear(&b->own);
    free(b->url);
}

/* Starts one request for the browser's current flow. `body` NULL = GET.
 * Every `url` is loopback: the option URLs are checked in check_opts and
 * URLs taken from responses go through resolve_loopback. */
static int send_request(browser_t *b, load_step_t step, const char *url, const char *body,
                        const char *cookies)
{
    load_t *L = b->load;
    CURL *e = b->easy;
    free(b->url);
    b->url = strdup(url);
    b->step = step;
    b->body.len = 0;
    if (b->body.data != NULL)
        b->body.data[0] = '\0';
    b->body.overflow = 0;
    b->set_cookies.len = 0;
    if (b->set_cookies.data != NULL)
        b->set_cookies.data[0] = '\0';
    b->location[0] = '\0';
    b->location_too_long = 0;
    b->reason[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, b->url);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_COOKIE, cookies);
    b->t0 = now_s();
    return curl_multi_add_handle(L->multi, e) == CURLM_OK ? 0 : -1;
}

/* ---- flow logic -------------------------------------------------------- */

/* Returns 1 when the browsers fetch /sim/launch and the authorize
 * endpoint from an external platform, which signs. */
static int is_external(const load_t *L)
{
    return L->o->platform_url != NULL && L->o->key_dir == NULL;
}

/* Returns 1 when the platform is another process reached over HTTP. */
static int platform_is_remote(const load_t *L)
{
    return L->o->platform_url != NULL;
}

static int is_baseline(const load_t *L)
{
    return L->o->baseline_url != NULL;
}

static void fail_flow(browser_t *b, load_step_t step, const char *reason)
{
    load_t *L = b->load;
    L->step_errors[step]++;
    load_reasons_add(&L->errors, reason);
    if (b->flow != NULL)
        b->flow->failed = 1;
    L->failed++;
}

static void finish_flow(browser_t *b)
{
    load_t *L = b->load;
    L->ok++;
    if (b->flow != NULL && L->phase == PHASE_FULL)
        load_lat_add(&L->lat[STEP_FLOW], (now_s() - b->flow->started) * 1e6);
}

/* Returns 0 when the next request of the flow started (rc == 0), else
 * fails the flow and returns 1. */
static int continued(browser_t *b, int rc, load_step_t step)
{
    if (rc == 0)
        return 0;
    fail_flow(b, step, "request_not_started");
    return 1;
}

/* Merges the cookies the last response set into the flow's Cookie header. */
static int merge_cookies(browser_t *b)
{
    flow_t *f = b->flow;
    if (b->set_cookies.len == 0)
        return 0;
    if (b->set_cookies.overflow)
        return -1;
    size_t old = f->cookies != NULL ? strlen(f->cookies) : 0;
    if (old + b->set_cookies.len + 2 > LOAD_MAX_COOKIES)
        return -1;
    char *joined = malloc(old + b->set_cookies.len + 3);
    if (joined == NULL)
        return -1;
    if (old > 0)
        sprintf(joined, "%s; %s", f->cookies, b->set_cookies.data);
    else
        memcpy(joined, b->set_cookies.data, b->set_cookies.len + 1);
    free(f->cookies);
    f->cookies = joined;
    return 0;
}

static char *click_url(load_t *L, const flow_t *f)
{
    sim_params_t params = {0};
    sim_buf_t b;
    char claims[128];
    sim_buf_init(&b, 16 * 1024);
    sim_buf_printf(&b, "%s/sim/launch?", L->o->platform_url);
    load_flow_params(L->o, f->index, &params);
    if (f->kind == FLOW_BAD_SIGNATURE) {
        sim_params_add(&params, "forge", "bad_signature");
    } else if (f->kind == FLOW_FOREIGN_NONCE) {
        char nonce[65];
        sim_random_hex(nonce, 32);
        snprintf(claims, sizeof(claims), "{\"nonce\":\"%s\"}", nonce);
        sim_params_add(&params, "claims", claims);
    }
    for (size_t i = 0; i < params.n; i++) {
        sim_buf_printf(&b, "%s%s=", i > 0 ? "&" : "", params.items[i].name);
        sim_buf_put_urlenc(&b, params.items[i].value);
    }
    sim_params_clear(&params);
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* The login initiation form Canvas posts, built here for the in-process
 * platform. */
static char *login_form(load_t *L, const flow_t *f)
{
    sim_params_t params = {0};
    sim_buf_t b;
    char hint[41], message_hint[32];
    const char *user;
    sim_buf_init(&b, 16 * 1024);
    load_flow_params(L->o, f->index, &params);
    user = sim_params_get(&params, "user");
    sim_login_hint_for(user, hint);
    snprintf(message_hint, sizeof(message_hint), "load-%llu", (unsigned long long)f->index);
    const char *target = sim_params_get(&params, "target");
    const char *fields[][2] = {
        {"iss", L->o->issuer},
        {"login_hint", hint},
        {"target_link_uri", target != NULL ? target : L->o->launch_url},
        {"lti_message_hint", message_hint},
        {"client_id", L->o->client_id},
        {"lti_deployment_id", L->o->deployment_id},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        sim_buf_printf(&b, "%s%s=", i > 0 ? "&" : "", fields[i][0]);
        sim_buf_put_urlenc(&b, fields[i][1]);
    }
    sim_params_clear(&params);
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

static int start_login(browser_t *b)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    if (is_baseline(L))
        return send_request(b, STEP_LOGIN, L->o->baseline_url, NULL, NULL);
    if (is_external(L)) {
        char *url = click_url(L, f);
        int rc = url != NULL ? send_request(b, STEP_CLICK, url, NULL, NULL) : -1;
        free(url);
        return rc;
    }
    char *form = login_form(L, f);
    if (form == NULL)
        return -1;
    int rc;
    if (L->o->login_get) {
        char *url = malloc(strlen(L->o->login_url) + strlen(form) + 2);
        if (url == NULL) {
            free(form);
            return -1;
        }
        sprintf(url, "%s%c%s", L->o->login_url, strchr(L->o->login_url, '?') ? '&' : '?', form);
        rc = send_request(b, STEP_LOGIN, url, NULL, NULL);
        free(url);
        free(form);
    } else {
        free(f->form);
        f->form = form; /* curl reads POSTFIELDS until the transfer ends */
        rc = send_request(b, STEP_LOGIN, L->o->login_url, f->form, NULL);
    }
    return rc;
}

static int start_launch(browser_t *b, load_step_t step)
{
    load_t *L = b->load;
    const char *url = is_baseline(L) ? L->o->baseline_url : L->o->launch_url;
    if (step == STEP_REPLAY)
        L->tampered_sent[FLOW_REPLAY]++;
    else if (b->flow->kind == FLOW_BAD_SIGNATURE || b->flow->kind == FLOW_FOREIGN_NONCE)
        L->tampered_sent[b->flow->kind]++;
    return send_request(b, step, url, b->flow->form, b->flow->cookies);
}

/* Signs the token of the browser's flow in this thread and times it. */
static int sign_now(browser_t *b)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    char reason[LOAD_REASON_LEN];
    double t0 = now_s();
    if (is_baseline(L)) {
        /* A do-nothing tool issues no nonce; sign one of our own. */
        char nonce[65], state[65];
        sim_random_hex(nonce, 32);
        sim_random_hex(state, 32);
        free(f->nonce);
        free(f->state);
        f->nonce = strdup(nonce);
        f->state = strdup(state);
    }
    if (load_sign_flow(&L->signer, L->o, f, reason, sizeof(reason)) != 0) {
        fail_flow(b, STEP_SIGN, reason);
        return -1;
    }
    load_lat_add(&L->lat[STEP_SIGN], (now_s() - t0) * 1e6);
    return 0;
}

/* Handles the tool's response to a login initiation: a redirect to the
 * platform's authorize endpoint with the state and nonce. */
static int after_login(browser_t *b, long status)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    sim_params_t q = {0};
    if (is_baseline(L)) {
        if (status != 200) {
            fail_flow(b, STEP_LOGIN, "baseline_status");
            return -1;
        }
        return 0;
    }
    if (status < 300 || status > 399 || b->location[0] == '\0') {
        fail_flow(b, STEP_LOGIN, b->reason[0] != '\0' ? b->reason
                                 : status >= 400      ? "login_rejected"
                                                      : "login_no_redirect");
        return -1;
    }
    free(f->next_url);
    f->next_url = resolve_loopback(b->url, b->location);
    if (f->next_url == NULL) {
        fail_flow(b, STEP_LOGIN, "redirect_not_loopback");
        return -1;
    }
    if (merge_cookies(b) != 0) {
        fail_flow(b, STEP_LOGIN, "cookies_too_large");
        return -1;
    }
    if (!is_external(L)) {
        const char *nonce, *state;
        if (url_query(f->next_url, &q) != 0 || (nonce = sim_params_get(&q, "nonce")) == NULL ||
            (state = sim_params_get(&q, "state")) == NULL) {
            sim_params_clear(&q);
            fail_flow(b, STEP_LOGIN, "login_redirect_incomplete");
            return -1;
        }
        free(f->nonce);
        free(f->state);
        f->nonce = strdup(nonce);
        f->state = strdup(state);
        sim_params_clear(&q);
    }
    return 0;
}

/* Handles the platform's authorize response: the auto-submitting form
 * that carries the id_token and state. */
static int after_authorize(browser_t *b, long status)
{
    flow_t *f = b->flow;
    if (status != 200 || b->body.data == NULL) {
        fail_flow(b, STEP_AUTHORIZE, "authorize_failed");
        return -1;
    }
    char *token = NULL;
    free(f->form);
    f->form = form_body(b->load->o, b->body.data, &token, NULL);
    if (f->form == NULL) {
        free(token);
        fail_flow(b, STEP_AUTHORIZE, "authorize_no_form");
        return -1;
    }
    if (f->dl && load_flow_dl_sampled(b->load->o, f->index) && token != NULL) {
        json_decref(f->dl_expect);
        f->dl_expect = load_dl_expect_from_token(token);
    }
    free(token);
    return 0;
}

static int launch_accepted(const load_t *L, long status)
{
    for (size_t i = 0; i < L->o->n_launch_statuses; i++)
        if (L->o->launch_statuses[i] == status)
            return 1;
    return 0;
}

/* Counts a tampered token's outcome. Returns 1 when it was accepted. */
static int judge_tampered(browser_t *b, flow_kind_t kind, long status)
{
    load_t *L = b->load;
    if (launch_accepted(L, status)) {
        L->tampered_accepted[kind]++;
        fail_flow(b, b->step, "tampered_accepted");
        return 1;
    }
    L->tampered_rejected[kind]++;
    char reason[LOAD_REASON_LEN];
    if (b->reason[0] != '\0')
        snprintf(reason, sizeof(reason), "%s", b->reason);
    else
        snprintf(reason, sizeof(reason), "http_%ld", status);
    load_reasons_add(&L->rejections, reason);
    return 0;
}

static void record_rejection(browser_t *b, load_step_t step, long status)
{
    char reason[LOAD_REASON_LEN];
    if (b->reason[0] != '\0')
        snprintf(reason, sizeof(reason), "%s", b->reason);
    else
        snprintf(reason, sizeof(reason), "http_%ld", status);
    fail_flow(b, step, reason);
}

/* ---- deep linking ------------------------------------------------------ */

static int start_picker(browser_t *b)
{
    return send_request(b, STEP_PICKER, b->flow->dl_url, NULL, b->flow->cookies);
}

static int start_selection(browser_t *b)
{
    return send_request(b, STEP_DL_RESPONSE, b->flow->dl_url, b->flow->form, b->flow->cookies);
}

/* Follows an accepted deep-linking launch to the picker it redirected to.
 * Split mode keeps the picker URL for the picker phase. */
static int after_dl_launch(browser_t *b)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    if (b->location[0] == '\0') {
        fail_flow(b, STEP_LAUNCH, "launch_no_redirect");
        return 1;
    }
    char *picker = resolve_loopback(b->url, b->location);
    if (picker == NULL) {
        fail_flow(b, STEP_LAUNCH, "redirect_not_loopback");
        return 1;
    }
    free(f->dl_url);
    f->dl_url = picker;
    f->dl_stage = DL_STAGE_PICKER;
    /* The launch form is spent, and the picker page provides the next body. */
    free(f->form);
    f->form = NULL;
    if (L->phase != PHASE_FULL) {
        finish_flow(b);
        return 1;
    }
    return continued(b, start_picker(b), STEP_PICKER);
}

/* Reads the picker page as a browser does: the selection URL and the body
 * built from the page's own form, CSRF token included. */
static int after_picker(browser_t *b, long status)
{
    flow_t *f = b->flow;
    char reason[LOAD_REASON_LEN];
    char *action = NULL, *body = NULL;
    if (status != 200) {
        record_rejection(b, STEP_PICKER, status);
        return -1;
    }
    if (merge_cookies(b) != 0) {
        fail_flow(b, STEP_PICKER, "cookies_too_large");
        return -1;
    }
    if (load_dl_picker_form(b->body.data, &action, &body, reason, sizeof(reason)) != 0) {
        fail_flow(b, STEP_PICKER, reason);
        return -1;
    }
    char *url = resolve_loopback(b->url, action);
    free(action);
    if (url == NULL) {
        free(body);
        fail_flow(b, STEP_PICKER, "redirect_not_loopback");
        return -1;
    }
    free(f->dl_url);
    f->dl_url = url;
    free(f->form);
    f->form = body;
    f->dl_stage = DL_STAGE_SELECT;
    return 0;
}

/* Reads the page that returns the signed response to the platform and
 * verifies the token of sampled flows. */
static void after_selection(browser_t *b, long status)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    char reason[LOAD_REASON_LEN];
    char *action = NULL, *jwt = NULL;
    if (status != 200) {
        record_rejection(b, STEP_DL_RESPONSE, status);
        return;
    }
    if (load_dl_response_form(b->body.data, &action, &jwt, reason, sizeof(reason)) != 0) {
        fail_flow(b, STEP_DL_RESPONSE, reason);
        return;
    }
    if (load_flow_dl_sampled(L->o, f->index)) {
        double t0 = now_s();
        int rc = -1;
        if (f->dl_expect == NULL)
            snprintf(reason, sizeof(reason), "dl_request_settings_missing");
        else
            rc = load_dl_verify(L->o, L->dl_keys, f->dl_expect, action, jwt, reason,
                                sizeof(reason));
        load_lat_add(&L->lat[STEP_DL_VERIFY], (now_s() - t0) * 1e6);
        if (rc != 0) {
            fail_flow(b, STEP_DL_VERIFY, reason);
            goto out;
        }
        L->dl_verified++;
    }
    L->dl_responses++;
    f->dl_stage = DL_STAGE_NONE;
    finish_flow(b);
out:
    free(action);
    free(jwt);
}

/* ---- the state machine ------------------------------------------------ */

static int start_flow(browser_t *b);

/* Returns 1 when a split-mode flow has what the current phase sends. */
static int flow_ready(const load_t *L, const flow_t *f)
{
    if (L->phase == PHASE_LOGIN)
        return 1;
    if (f->failed)
        return 0;
    switch (L->phase) {
    case PHASE_AUTHORIZE: return f->next_url != NULL;
    case PHASE_LAUNCH: return f->form != NULL;
    case PHASE_PICKER: return f->dl_stage == DL_STAGE_PICKER;
    case PHASE_DL: return f->dl_stage == DL_STAGE_SELECT;
    default: return 1;
    }
}

/* Picks the next flow for the browser in the current phase, or leaves it
 * idle when the phase has no more work. */
static void next_work(browser_t *b)
{
    load_t *L = b->load;
    for (;;) {
        if (now_s() >= L->deadline) {
            L->deadline_hit = 1;
            return;
        }
        if (L->phase == PHASE_GET) {
            if (L->o->count > 0 && L->next >= L->o->count)
                return;
            L->next++;
            if (send_request(b, STEP_GET, L->o->get_url, NULL, NULL) == 0)
                return;
            fail_flow(b, STEP_GET, "request_not_started");
            continue;
        }
        if (L->phase == PHASE_FULL) {
            if (L->o->count > 0 && L->next >= L->o->count)
                return;
            b->flow = &b->own;
            flow_reset(b->flow, L->next++, L->o);
        } else {
            if (L->next >= L->n_flows)
                return;
            b->flow = &L->flows[L->next++];
            /* Skip flows that failed earlier, never got past the last
             * phase because its deadline passed, or have no part in this
             * phase. */
            if (!flow_ready(L, b->flow))
                continue;
        }
        if (start_flow(b) == 0)
            return;
    }
}

static int start_flow(browser_t *b)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    int rc = -1;
    switch (L->phase) {
    case PHASE_FULL:
    case PHASE_LOGIN:
        f->started = now_s();
        rc = start_login(b);
        break;
    case PHASE_AUTHORIZE:
        if (f->next_url == NULL)
            return -1;
        rc = send_request(b, STEP_AUTHORIZE, f->next_url, NULL, NULL);
        break;
    case PHASE_LAUNCH:
        if (f->form == NULL)
            return -1;
        f->started = now_s();
        rc = start_launch(b, STEP_LAUNCH);
        break;
    case PHASE_PICKER:
        rc = start_picker(b);
        break;
    case PHASE_DL:
        f->started = now_s();
        rc = start_selection(b);
        break;
    default: break;
    }
    if (rc != 0)
        fail_flow(b, STEP_FLOW, "request_not_started");
    return rc;
}

/* Judges a launch POST: counts a tampered token's outcome, or follows an
 * accepted honest launch to its replay (--negative) or its landing page. */
static int after_launch(browser_t *b, long status)
{
    load_t *L = b->load;
    flow_t *f = b->flow;
    if (f->kind == FLOW_BAD_SIGNATURE || f->kind == FLOW_FOREIGN_NONCE) {
        if (!judge_tampered(b, f->kind, status))
            finish_flow(b);
        return 1;
    }
    int ok = is_baseline(L) ? status == 200 : launch_accepted(L, status);
    if (!ok) {
        record_rejection(b, STEP_LAUNCH, status);
        return 1;
    }
    L->launches_ok++;
    if (merge_cookies(b) != 0) {
        fail_flow(b, STEP_LAUNCH, "cookies_too_large");
        return 1;
    }
    if (f->dl)
        return after_dl_launch(b);
    if (f->kind == FLOW_REPLAY)
        return continued(b, start_launch(b, STEP_REPLAY), STEP_REPLAY);
    if (L->phase == PHASE_FULL && L->o->landing) {
        const char *next = is_baseline(L) ? L->o->baseline_url : NULL;
        char *landing = NULL;
        if (next == NULL) {
            if (b->location[0] == '\0') {
                fail_flow(b, STEP_LAUNCH, "launch_no_redirect");
                return 1;
            }
            landing = resolve_loopback(b->url, b->location);
            if (landing == NULL) {
                fail_flow(b, STEP_LAUNCH, "redirect_not_loopback");
                return 1;
            }
            next = landing;
        }
        int rc = send_request(b, STEP_LANDING, next, NULL, f->cookies);
        free(landing);
        return continued(b, rc, STEP_LANDING);
    }
    finish_flow(b);
    return 1;
}

/* Processes a finished transfer. Returns 0 when the browser sent its next
 * request for the same flow, 1 when the flow is over. */
static int on_done(browser_t *b, CURLcode cc)
{
    load_t *L = b->load;
    long status = 0;
    load_step_t step = b->step;

    load_lat_add(&L->lat[step], (now_s() - b->t0) * 1e6);
    long connects = 0;
    if (curl_easy_getinfo(b->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        L->connects += (uint64_t)connects;
    if (cc != CURLE_OK) {
        fail_flow(b, step,
                  cc == CURLE_OPERATION_TIMEDOUT ? "transport_timeout"
                  : cc == CURLE_COULDNT_CONNECT  ? "transport_connect_failed"
                  : cc == CURLE_WRITE_ERROR      ? "response_too_large"
                                                 : "transport_error");
        return 1;
    }
    curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
    if (b->location_too_long) {
        fail_flow(b, step, "location_too_long");
        return 1;
    }
    switch (step) {
    case STEP_GET:
        if (status == 200)
            L->ok++;
        else
            record_rejection(b, step, status);
        return 1;
    case STEP_CLICK:
        free(b->flow->form);
        b->flow->form = status == 200 && b->body.data != NULL
                            ? form_body(L->o, b->body.data, NULL, NULL)
                            : NULL;
        if (b->flow->form == NULL) {
            fail_flow(b, step, "platform_launch_failed");
            return 1;
        }
        return continued(b, send_request(b, STEP_LOGIN, L->o->login_url, b->flow->form, NULL),
                         STEP_LOGIN);
    case STEP_LOGIN:
        if (after_login(b, status) != 0)
            return 1;
        if (L->phase == PHASE_LOGIN) {
            finish_flow(b);
            return 1;
        }
        if (is_external(L))
            return continued(b, send_request(b, STEP_AUTHORIZE, b->flow->next_url, NULL, NULL),
                             STEP_AUTHORIZE);
        if (sign_now(b) != 0)
            return 1;
        return continued(b, start_launch(b, STEP_LAUNCH), STEP_LAUNCH);
    case STEP_AUTHORIZE:
        if (after_authorize(b, status) != 0)
            return 1;
        if (L->phase == PHASE_AUTHORIZE) {
            finish_flow(b);
            return 1;
        }
        return continued(b, start_launch(b, STEP_LAUNCH), STEP_LAUNCH);
    case STEP_LAUNCH:
        return after_launch(b, status);
    case STEP_REPLAY:
        if (!judge_tampered(b, FLOW_REPLAY, status))
            finish_flow(b);
        return 1;
    case STEP_PICKER:
        if (after_picker(b, status) != 0)
            return 1;
        if (L->phase == PHASE_PICKER) {
            finish_flow(b);
            return 1;
        }
        return continued(b, start_selection(b), STEP_DL_RESPONSE);
    case STEP_DL_RESPONSE:
        after_selection(b, status);
        return 1;
    case STEP_LANDING:
        if (status != 200) {
            record_rejection(b, step, status);
        } else if (L->o->landing_contains != NULL &&
                   (b->body.data == NULL || strstr(b->body.data, L->o->landing_contains) == NULL)) {
            fail_flow(b, step, "landing_text_missing");
        } else {
            finish_flow(b);
        }
        return 1;
    default: fail_flow(b, step, "internal_error"); return 1;
    }
}

/* ---- phases ------------------------------------------------------------ */

static const char *const phase_names[] = {"launches", "logins",       "authorize",
                                          "launch POSTs", "GETs",   "picker pages",
                                          "deep-link responses"};

static void show_progress(load_t *L, int final)
{
    double t = now_s();
    if (!L->o->progress || (!final && t - L->last_progress < 1.0))
        return;
    L->last_progress = t;
    double elapsed = t - L->phase_start;
    fprintf(stderr, "\r%-12s %7.1f s  done %-9llu %8.0f/s  errors %-7llu", phase_names[L->phase],
            elapsed, (unsigned long long)(L->ok + L->failed),
            elapsed > 0 ? (double)L->ok / elapsed : 0.0, (unsigned long long)L->errors.total);
    if (final)
        fputc('\n', stderr);
}

/* Runs one phase to completion and records its time and CPU. */
static void run_phase(load_t *L, int phase, int timed)
{
    double cpu0 = cpu_s(), server0 = server_cpu_s(L->o->server_pid);
    L->phase = phase;
    L->next = 0;
    L->ok = 0;
    L->failed = 0;
    L->phase_start = now_s();
    L->deadline = L->phase_start + L->o->duration;
    L->last_progress = L->phase_start;

    for (unsigned i = 0; i < L->n_browsers; i++)
        next_work(&L->browsers[i]);
    for (;;) {
        int running = 0, left = 0, handled = 0;
        curl_multi_perform(L->multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(L->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            browser_t *b = NULL;
            CURL *e = msg->easy_handle;
            CURLcode cc = msg->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&b);
            curl_multi_remove_handle(L->multi, e);
            if (on_done(b, cc) != 0)
                next_work(b);
            handled = 1;
        }
        show_progress(L, 0);
        if (handled)
            continue; /* requests started above need a curl_multi_perform first */
        if (running == 0)
            break;
        curl_multi_poll(L->multi, NULL, 0, 100, NULL);
    }
    show_progress(L, 1);

    if (L->n_phases < LOAD_MAX_PHASES) {
        load_phase_stats_t *s = &L->phases[L->n_phases++];
        s->name = phase_names[phase];
        s->start = L->phase_start;
        s->seconds = now_s() - L->phase_start;
        s->done = L->ok + L->failed;
        s->ok = L->ok;
        s->cpu_s = cpu_s() - cpu0;
        double server1 = server_cpu_s(L->o->server_pid);
        s->server_cpu_s = server0 >= 0 && server1 >= 0 ? server1 - server0 : -1;
        s->timed = timed;
        s->dl = phase == PHASE_DL;
    }
}

/* ---- external platform ------------------------------------------------- */

static size_t on_buf(char *data, size_t size, size_t nmemb, void *arg)
{
    return sim_buf_append(arg, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Sends a GET or an empty POST to the external platform's control endpoint
 * `path` and returns the HTTP status, or -1; `body` receives the response. */
static long platform_call(const load_t *L, const char *path, int post, sim_buf_t *body)
{
    CURL *e = curl_easy_init();
    char url[4096];
    long status = -1;
    if (e == NULL)
        return -1;
    snprintf(url, sizeof(url), "%s%s", L->o->platform_url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, L->o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_buf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    if (post)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

/* Returns the platform's JWKS fetch counter, or -1. */
static long long platform_jwks_hits(const load_t *L)
{
    if (!platform_is_remote(L)) {
        sim_platform_stats_t st;
        sim_platform_get_stats(L->o->platform, &st);
        return (long long)st.jwks_hits;
    }
    sim_buf_t body;
    long long hits = -1;
    sim_buf_init(&body, 64 * 1024);
    if (platform_call(L, "/sim/stats", 0, &body) == 200 && body.data != NULL) {
        json_t *doc = json_loads(body.data, 0, NULL);
        json_t *v = json_object_get(doc, "jwks_hits");
        if (json_is_integer(v))
            hits = json_integer_value(v);
        json_decref(doc);
    }
    sim_buf_free(&body);
    return hits;
}

/* Points the external platform at the tool under test. */
static int platform_set_tool(const load_t *L)
{
    sim_buf_t path;
    sim_buf_init(&path, 16 * 1024);
    sim_buf_puts(&path, "/sim/tool?login=");
    sim_buf_put_urlenc(&path, L->o->login_url);
    sim_buf_puts(&path, "&launch=");
    sim_buf_put_urlenc(&path, L->o->launch_url);
    sim_buf_t body;
    sim_buf_init(&body, 64 * 1024);
    long status = path.overflow ? -1 : platform_call(L, path.data, 1, &body);
    sim_buf_free(&body);
    sim_buf_free(&path);
    return status == 200 ? 0 : -1;
}

/* Returns where the tool's key set is read from: --tool-jwks, else
 * LOAD_DEFAULT_TOOL_JWKS_PATH on the launch URL's host, written to `buf`. */
static const char *dl_keys_source(const sim_load_opts_t *o, char *buf, size_t buflen)
{
    if (o->dl_jwks != NULL)
        return o->dl_jwks;
    CURLU *u = curl_url();
    char *url = NULL;
    buf[0] = '\0';
    if (u != NULL && curl_url_set(u, CURLUPART_URL, o->launch_url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PATH, LOAD_DEFAULT_TOOL_JWKS_PATH, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK)
        snprintf(buf, buflen, "%s", url);
    curl_free(url);
    curl_url_cleanup(u);
    return buf;
}

/* ---- report ------------------------------------------------------------ */

/* Describes the deep-linking round trips: responses per second over the
 * deep-link response phase (split mode) or the whole run (full mode). */
static json_t *dl_report(load_t *L)
{
    const sim_load_opts_t *o = L->o;
    const load_phase_stats_t *phase = NULL;
    char keys_url[2048];
    for (size_t i = 0; i < L->n_phases; i++) {
        if (L->phases[i].dl || (o->mode == LOAD_FULL && L->phases[i].timed))
            phase = &L->phases[i];
    }
    json_t *d = json_object();
    uint64_t errors = L->step_errors[STEP_PICKER] + L->step_errors[STEP_DL_RESPONSE] +
                      L->step_errors[STEP_DL_VERIFY];
    json_object_set_new(d, "share_pct", json_integer(o->deep_linking_pct));
    json_object_set_new(d, "placement", json_string(o->dl_placement));
    json_object_set_new(d, "tool_jwks", json_string(dl_keys_source(o, keys_url,
                                                                     sizeof(keys_url))));
    json_object_set_new(d, "responses", json_integer((json_int_t)L->dl_responses));
    json_object_set_new(d, "verified", json_integer((json_int_t)L->dl_verified));
    json_object_set_new(d, "verify_every", json_integer(o->dl_verify_every));
    json_object_set_new(d, "errors", json_integer((json_int_t)errors));
    if (phase == NULL)
        return d;
    json_object_set_new(d, "phase", json_string(phase->name));
    json_object_set_new(d, "seconds", json_real(phase->seconds));
    json_object_set_new(d, "rate", json_real(phase->seconds > 0 && phase->dl
                                                 ? (double)phase->ok / phase->seconds
                                             : phase->seconds > 0
                                                 ? (double)L->dl_responses / phase->seconds
                                                 : 0));
    /* Only the split-mode phase has no other work in it. */
    if (phase->dl && phase->ok > 0) {
        json_object_set_new(d, "generator_cpu_us_per_response",
                            json_real(phase->cpu_s * 1e6 / (double)phase->ok));
        if (phase->server_cpu_s >= 0)
            json_object_set_new(d, "server_cpu_us_per_response",
                                json_real(phase->server_cpu_s * 1e6 / (double)phase->ok));
    }
    return d;
}

static json_t *build_report(load_t *L, long long jwks_before, double gen_cpu)
{
    const sim_load_opts_t *o = L->o;
    json_t *r = json_object();
    static const char *const modes[] = {"full", "split", "get"};
    json_object_set_new(r, "mode", json_string(modes[o->mode]));
    json_object_set_new(r, "concurrency", json_integer(o->concurrency));
    json_object_set_new(r, "platform", json_string(o->mode == LOAD_GET ? "none"
                                                   : platform_is_remote(L) ? o->platform_url
                                                                    : "in-process"));
    if (o->mode == LOAD_GET) {
        json_object_set_new(r, "url", json_string(o->get_url));
    } else {
        json_object_set_new(r, "login_url", json_string(is_baseline(L) ? o->baseline_url
                                                                        : o->login_url));
        json_object_set_new(r, "launch_url", json_string(is_baseline(L) ? o->baseline_url
                                                                         : o->launch_url));
        json_object_set_new(r, "baseline", json_boolean(is_baseline(L)));
    }

    json_t *phases = json_array();
    double timed_s = 0, timed_cpu = 0;
    uint64_t timed_ok = 0;
    for (size_t i = 0; i < L->n_phases; i++) {
        const load_phase_stats_t *s = &L->phases[i];
        json_t *p = json_object();
        json_object_set_new(p, "name", json_string(s->name));
        json_object_set_new(p, "timed", json_boolean(s->timed));
        json_object_set_new(p, "seconds", json_real(s->seconds));
        json_object_set_new(p, "start_monotonic_s", json_real(s->start));
        json_object_set_new(p, "done", json_integer((json_int_t)s->done));
        json_object_set_new(p, "ok", json_integer((json_int_t)s->ok));
        json_object_set_new(p, "per_second",
                            json_real(s->seconds > 0 ? (double)s->ok / s->seconds : 0));
        json_object_set_new(p, "cpu_s", json_real(s->cpu_s));
        if (s->server_cpu_s >= 0)
            json_object_set_new(p, "server_cpu_s", json_real(s->server_cpu_s));
        json_array_append_new(phases, p);
    }
    /* The headline rate is the last timed phase apart from the deep-link
     * responses: the launches of full mode, the launch POSTs of split mode,
     * the GETs of get mode. */
    for (size_t i = L->n_phases; i > 0; i--) {
        if (L->phases[i - 1].timed && !L->phases[i - 1].dl) {
            timed_s = L->phases[i - 1].seconds;
            timed_ok = L->phases[i - 1].ok;
            timed_cpu = L->phases[i - 1].cpu_s;
            break;
        }
    }
    json_object_set_new(r, "phases", phases);

    json_t *steps = json_object();
    for (int s = 0; s < STEP_COUNT; s++) {
        if (L->lat[s].n == 0 && L->step_errors[s] == 0)
            continue;
        json_object_set_new(steps, load_step_name((load_step_t)s),
                            load_lat_json(&L->lat[s], L->step_errors[s]));
    }
    json_object_set_new(r, "steps", steps);

    json_t *summary = json_object();
    const char *unit = o->mode == LOAD_GET ? "request" : "launch";
    json_object_set_new(summary, "unit", json_string(unit));
    json_object_set_new(summary, "rate", json_real(timed_s > 0 ? (double)timed_ok / timed_s : 0));
    json_object_set_new(summary, "ok", json_integer((json_int_t)timed_ok));
    json_object_set_new(summary, "errors", json_integer((json_int_t)L->errors.total));
    json_object_set_new(summary, "seconds", json_real(timed_s));
    json_object_set_new(summary, "generator_cpu_s", json_real(gen_cpu));
    json_object_set_new(summary, "generator_cpu_us_per_unit",
                        json_real(timed_ok > 0 ? timed_cpu * 1e6 / (double)timed_ok : 0));
    json_object_set_new(summary, "deadline_reached", json_boolean(L->deadline_hit));
    json_object_set_new(summary, "connections_opened", json_integer((json_int_t)L->connects));
    json_object_set_new(r, "summary", summary);
    json_object_set_new(r, "errors_by_reason", load_reasons_json(&L->errors));

    if (o->negative) {
        json_t *neg = json_object(), *kinds = json_object();
        uint64_t sent = 0, rejected = 0, accepted = 0;
        for (int k = 1; k < FLOW_KINDS; k++) {
            json_t *one = json_object();
            json_object_set_new(one, "sent", json_integer((json_int_t)L->tampered_sent[k]));
            json_object_set_new(one, "rejected", json_integer((json_int_t)L->tampered_rejected[k]));
            json_object_set_new(one, "accepted", json_integer((json_int_t)L->tampered_accepted[k]));
            json_object_set_new(kinds, load_kind_name((flow_kind_t)k), one);
            sent += L->tampered_sent[k];
            rejected += L->tampered_rejected[k];
            accepted += L->tampered_accepted[k];
        }
        json_object_set_new(neg, "sent", json_integer((json_int_t)sent));
        json_object_set_new(neg, "rejected", json_integer((json_int_t)rejected));
        json_object_set_new(neg, "accepted", json_integer((json_int_t)accepted));
        json_object_set_new(neg, "by_kind", kinds);
        json_object_set_new(neg, "rejections_by_reason", load_reasons_json(&L->rejections));
        json_object_set_new(r, "negative", neg);
    }
    if (o->mode != LOAD_GET && o->deep_linking_pct > 0)
        json_object_set_new(r, "deep_linking", dl_report(L));
    if (o->mode != LOAD_GET && jwks_before >= 0) {
        long long after = platform_jwks_hits(L);
        if (after >= 0)
            json_object_set_new(r, "platform_jwks_fetches", json_integer(after - jwks_before));
    }
    return r;
}

/* ---- entry point ------------------------------------------------------- */

static int check_dl_opts(const sim_load_opts_t *o, char *err, size_t errlen)
{
    if (o->deep_linking_pct > 100) {
        snprintf(err, errlen, "--deep-linking must be a percentage 0 to 100");
        return -1;
    }
    if (o->deep_linking_pct > 0 && (o->negative || o->baseline_url != NULL)) {
        snprintf(err, errlen, "--deep-linking cannot be combined with --negative or "
                              "--baseline-url");
        return -1;
    }
    return 0;
}

static int check_opts(const sim_load_opts_t *o, char *err, size_t errlen)
{
    const char *keys_url = o->dl_jwks != NULL && strncmp(o->dl_jwks, "http", 4) == 0
                               ? o->dl_jwks
                               : NULL;
    const char *urls[] = {o->login_url, o->launch_url, o->get_url, o->platform_url,
                          o->baseline_url, o->dl_target, keys_url};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        if (urls[i] != NULL && !url_is_loopback(urls[i])) {
            snprintf(err, errlen, "%s is not an http URL on 127.0.0.1 or ::1; ltisim load sends "
                                  "traffic to loopback addresses only", urls[i]);
            return -1;
        }
    }
    if (o->concurrency < 1 || o->concurrency > LOAD_MAX_CONCURRENCY) {
        snprintf(err, errlen, "concurrency must be 1 to %d", LOAD_MAX_CONCURRENCY);
        return -1;
    }
    if (o->duration <= 0 || o->duration > LOAD_MAX_DURATION) {
        snprintf(err, errlen, "duration must be more than 0 and at most %d seconds",
                 LOAD_MAX_DURATION);
        return -1;
    }
    if (o->count > LOAD_MAX_COUNT) {
        snprintf(err, errlen, "count must be at most %d", LOAD_MAX_COUNT);
        return -1;
    }
    if (o->mode == LOAD_GET) {
        if (o->get_url == NULL) {
            snprintf(err, errlen, "get mode needs --url");
            return -1;
        }
        return 0;
    }
    if (o->login_url == NULL || o->launch_url == NULL) {
        snprintf(err, errlen, "--login-url and --launch-url are required");
        return -1;
    }
    if (o->mode == LOAD_SPLIT && (o->count == 0 || o->count > LOAD_MAX_SPLIT_COUNT)) {
        snprintf(err, errlen, "split mode needs --count of at most %d, because all logins run "
                              "first and every signed token stays in memory", LOAD_MAX_SPLIT_COUNT);
        return -1;
    }
    if (o->baseline_url != NULL &&
        (o->mode != LOAD_FULL || (o->platform_url != NULL && o->key_dir == NULL) ||
         o->negative)) {
        snprintf(err, errlen, "--baseline-url needs full mode, in-process signing and no "
                              "--negative");
        return -1;
    }
    if (o->platform_url == NULL && o->platform == NULL) {
        snprintf(err, errlen, "no platform: start the in-process one or give --platform");
        return -1;
    }
    if (o->n_roles == 0 || o->n_placements == 0 || o->users == 0 || o->courses == 0) {
        snprintf(err, errlen, "users, courses, roles and placements must not be empty");
        return -1;
    }
    return check_dl_opts(o, err, errlen);
}

static void load_free(load_t *L)
{
    for (unsigned i = 0; L->browsers != NULL && i < L->n_browsers; i++) {
        if (L->browsers[i].easy != NULL)
            curl_multi_remove_handle(L->multi, L->browsers[i].easy);
        browser_clear(&L->browsers[i]);
    }
    free(L->browsers);
    for (uint64_t i = 0; L->flows != NULL && i < L->n_flows; i++)
        flow_clear(&L->flows[i]);
    free(L->flows);
    for (int s = 0; s < STEP_COUNT; s++)
        load_lat_free(&L->lat[s]);
    if (L->multi != NULL)
        curl_multi_cleanup(L->multi);
    curl_slist_free_all(L->headers);
    if (L->have_signer)
        load_signer_clear(&L->signer);
    json_decref(L->dl_keys);
}

/* Runs split mode's untimed middle: signing in-process, or the authorize
 * requests to an external platform. */
static void split_sign(load_t *L)
{
    if (is_external(L)) {
        run_phase(L, PHASE_AUTHORIZE, 0);
        return;
    }
    double t0 = now_s(), cpu0 = cpu_s(), server0 = server_cpu_s(L->o->server_pid);
    uint64_t pending = 0;
    for (uint64_t i = 0; i < L->n_flows; i++)
        pending += !L->flows[i].failed && L->flows[i].nonce != NULL;
    if (L->o->progress)
        fprintf(stderr, "signing %llu id_tokens...\n", (unsigned long long)pending);
    uint64_t failed = load_sign_all(&L->signer, L->o, L->flows, L->n_flows, L->o->sign_threads);
    for (uint64_t i = 0; i < failed; i++) {
        L->step_errors[STEP_SIGN]++;
        load_reasons_add(&L->errors, "sign_failed");
    }
    if (L->n_phases < LOAD_MAX_PHASES) {
        double server1 = server_cpu_s(L->o->server_pid);
        L->phases[L->n_phases++] = (load_phase_stats_t){
            .name = "signing",
            .start = t0,
            .seconds = now_s() - t0,
            .done = pending,
            .ok = pending - failed,
            .cpu_s = cpu_s() - cpu0,
            .server_cpu_s = server0 >= 0 && server1 >= 0 ? server1 - server0 : -1,
        };
    }
}

json_t *sim_load_run(const sim_load_opts_t *o, char *err, size_t errlen)
{
    load_t L;
    json_t *report = NULL;
    long long jwks_before = -1;
    char keys_url[2048];

    memset(&L, 0, sizeof(L));
    L.o = o;
    if (check_opts(o, err, errlen) != 0)
        return NULL;
    L.multi = curl_multi_init();
    L.headers = curl_slist_append(NULL, "Expect:");
    L.headers = curl_slist_append(L.headers, ACCEPT_HTML);
    L.n_browsers = o->concurrency;
    L.browsers = calloc(L.n_browsers, sizeof(*L.browsers));
    if (L.multi == NULL || L.headers == NULL || L.browsers == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    curl_multi_setopt(L.multi, CURLMOPT_MAXCONNECTS, (long)o->concurrency * 2 + 4);
    for (unsigned i = 0; i < L.n_browsers; i++) {
        if (browser_init(&L, &L.browsers[i]) != 0) {
            snprintf(err, errlen, "curl_easy_init failed");
            goto out;
        }
    }
    if (o->mode != LOAD_GET && !is_external(&L)) {
        if (load_signer_init(&L.signer, o, err, errlen) != 0)
            goto out;
        L.have_signer = 1;
    }
    if (o->mode != LOAD_GET && platform_is_remote(&L) && platform_set_tool(&L) != 0) {
        snprintf(err, errlen, "POST %s/sim/tool failed; is `ltisim platform` running there?",
                 o->platform_url);
        goto out;
    }
    if (o->mode != LOAD_GET)
        jwks_before = platform_jwks_hits(&L);
    if (o->mode != LOAD_GET && o->deep_linking_pct > 0) {
        char keys_err[400] = "";
        L.dl_keys = load_dl_keys_read(dl_keys_source(o, keys_url, sizeof(keys_url)),
                                      o->timeout_ms, keys_err, sizeof(keys_err));
        if (L.dl_keys == NULL) {
            snprintf(err, errlen, "%s; set the tool's key set with --tool-jwks", keys_err);
            goto out;
        }
    }

    double cpu0 = cpu_s();
    if (o->mode == LOAD_GET) {
        run_phase(&L, PHASE_GET, 1);
    } else if (o->mode == LOAD_FULL) {
        run_phase(&L, PHASE_FULL, 1);
    } else {
        L.n_flows = o->count;
        L.flows = calloc(L.n_flows, sizeof(*L.flows));
        if (L.flows == NULL) {
            snprintf(err, errlen, "out of memory for %llu flows", (unsigned long long)o->count);
            goto out;
        }
        for (uint64_t i = 0; i < L.n_flows; i++)
            flow_reset(&L.flows[i], i, o);
        run_phase(&L, PHASE_LOGIN, 1);
        split_sign(&L);
        run_phase(&L, PHASE_LAUNCH, 1);
        if (o->deep_linking_pct > 0) {
            run_phase(&L, PHASE_PICKER, 0);
            run_phase(&L, PHASE_DL, 1);
        }
    }
    report = build_report(&L, jwks_before, cpu_s() - cpu0);
out:
    load_free(&L);
    return report;
}
