/* SPDX-License-Identifier: MIT */
/*
 * OIDC third-party-initiated login (1EdTech Security Framework 1.0 §5.1.1,
 * LTI Core 1.3 §4.1): picks the registration, checks target_link_uri,
 * stores a fresh state and nonce, binds the state to the browser with a
 * cookie and redirects to the platform's authentication endpoint.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <jansson.h>
#include <openssl/rand.h>
#include "http_int.h"
#include "lti/jwt.h"
#include "lti/log.h"
#include "lti/netaddr.h"
#include "lti/oidc.h"

#define MAX_ISS 2048
#define MAX_LOGIN_HINT 1024
#define MAX_MESSAGE_HINT 8192
#define MAX_TARGET 2048
#define MAX_ID 255
/* Maximum length of an authentication request sent as a 302 Location. A longer one (a
 * long lti_message_hint) goes as a form POST instead, because proxies cap
 * request lines at a few KiB (Apache's LimitRequestLine default is 8190). */
#define MAX_REDIRECT_URL 4096

/* Login counts per client for store.maxStatesPerClient: an open-addressing
 * table keyed by the client (an IPv4 address, or the /64 of an IPv6
 * address, since one IPv6 user commonly has a whole /64), one count per
 * window of stateLifetime seconds. A slot belongs to one client at a time:
 * a client whose probe finds only live slots of other clients is not
 * counted, so filling the table with many addresses lifts the limit for
 * the newcomers instead of refusing everyone (the store's maxEntries still
 * bounds them). */
#define CLIENT_SLOTS 16384
#define CLIENT_PROBES 8

typedef struct client_slot {
    unsigned char addr[16];
    time_t window_start; /* monotonic seconds */
    size_t count;        /* 0 = free */
} client_slot_t;

static client_slot_t client_slots[CLIENT_SLOTS];
static uint64_t client_seed;
static int client_seeded;
static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

/* X-Forwarded-For entries read, counted from the right: a proxy chain
 * longer than this is not expected, and only the rightmost entries are
 * written by proxies ltigate trusts. */
#define MAX_FORWARDED 32

static int is_trusted_proxy(const lti_config_t *cfg, const unsigned char addr[16])
{
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++)
        if (lti_cidr_contains(&cfg->trusted_proxy_nets[i], addr))
            return 1;
    return 0;
}

/* Parses one X-Forwarded-For entry: an address, optionally as
 * "a.b.c.d:port" or "[v6]:port", with spaces around it. */
static int parse_forwarded(const char *p, size_t len, unsigned char addr[16])
{
    while (len > 0 && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', len);
        return close != NULL ? lti_addr_parse(p + 1, (size_t)(close - p - 1), addr) : -1;
    }
    const char *colon = memchr(p, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - p)) == NULL)
        len = (size_t)(colon - p); /* IPv4 with a port; IPv6 has several colons */
    return lti_addr_parse(p, len, addr);
}

/* Fills `addr` with the client of `req` for the per-client login limit:
 * the TCP peer, or, when the peer is in server.trustedProxies, the
 * rightmost X-Forwarded-For entry that is not. Proxies append the address
 * they saw, so entries left of the first untrusted one may be forged and
 * are never read. Returns 0, or -1 when the peer is unknown. */
static int client_address(h2o_req_t *req, const lti_config_t *cfg, unsigned char addr[16])
{
    struct sockaddr_storage ss;

    memset(addr, 0, 16);
    memset(&ss, 0, sizeof(ss));
    if (req->conn->callbacks->get_peername == NULL ||
        req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    } else {
        return -1;
    }
    if (cfg->n_trusted_proxies == 0 || !is_trusted_proxy(cfg, addr))
        return 0;

    /* Entries of every X-Forwarded-For header, in order, keeping the last
     * MAX_FORWARDED. */
    h2o_iovec_t entries[MAX_FORWARDED];
    size_t n = 0, total = 0;
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i)) != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        const char *p = v.base, *end = v.base + v.len;
        while (p <= end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma != NULL ? comma : end;
            entries[total++ % MAX_FORWARDED] = h2o_iovec_init(p, (size_t)(stop - p));
            n = total < MAX_FORWARDED ? total : MAX_FORWARDED;
            p = stop + 1;
        }
    }
    for (size_t k = 0; k < n; k++) {
        h2o_iovec_t e = entries[(total - 1 - k) % MAX_FORWARDED];
        unsigned char hop[16];
        if (parse_forwarded(e.base, e.len, hop) != 0)
            return 0; /* not an address: count the proxy itself */
        if (!is_trusted_proxy(cfg, hop)) {
            memcpy(addr, hop, 16);
            return 0;
        }
    }
    return 0;
}

/* Counts one login for the client of `req` (client_address). Returns 1
 * when that client has already started `limit` logins in the current
 * window (the login is then not counted), else 0. A limit of 0 turns the
 * check off. */
static int client_over_limit(h2o_req_t *req, const lti_config_t *cfg, size_t limit,
                             unsigned window)
{
    unsigned char addr[16];
    struct timespec ts;
    int over;

    if (limit == 0 || client_address(req, cfg, addr) != 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);

    /* Every address of an IPv6 /64 is one client; IPv4-mapped ones stay whole. */
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) != 0)
        memset(addr + 8, 0, 8);

    pthread_mutex_lock(&client_lock);
    if (!client_seeded) {
        /* A secret seed keeps clients from choosing addresses that collide. */
        if (RAND_bytes((unsigned char *)&client_seed, sizeof(client_seed)) != 1)
            client_seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u;
        client_seeded = 1;
    }
    uint64_t words[2], hash = client_seed;
    memcpy(words, addr, sizeof(words));
    for (int i = 0; i < 2; i++) {
        hash = (hash ^ words[i]) * 0x9e3779b97f4a7c15u;
        hash ^= hash >> 29;
    }
    client_slot_t *slot = NULL, *open_slot = NULL;
    for (unsigned k = 0; k < CLIENT_PROBES && slot == NULL; k++) {
        client_slot_t *c = &client_slots[(hash + k) % CLIENT_SLOTS];
        int live = c->count > 0 && ts.tv_sec - c->window_start < (time_t)window;
        if (live && memcmp(c->addr, addr, 16) == 0)
            slot = c;
        else if (!live && open_slot == NULL)
            open_slot = c;
    }
    if (slot == NULL && open_slot != NULL) {
        slot = open_slot;
        memcpy(slot->addr, addr, 16);
        slot->window_start = ts.tv_sec;
        slot->count = 0;
    }
    over = slot != NULL && slot->count >= limit;
    if (slot != NULL && !over)
        slot->count++;
    pthread_mutex_unlock(&client_lock);
    return over;
}

typedef struct login {
    h2o_req_t *req;
    const lti_platform_cfg_t *platform;
    const char *state, *nonce, *login_hint, *message_hint;
    const char *deployment_hint;
    const char *target, *storage_target; /* storage_target: NULL unless offered */
} login_t;

/* Appends "&name=<percent-encoded value>" (or "?" first) to the pool string. */
static h2o_iovec_t append_param(h2o_mem_pool_t *pool, h2o_iovec_t url, const char *name,
                                const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t vlen = strlen(value), nlen = strlen(name);
    char *out = h2o_mem_alloc_pool(pool, url.len + nlen + vlen * 3 + 3);
    size_t n = url.len;
    memcpy(out, url.base, url.len);
    out[n++] = memchr(url.base, '?', url.len) != NULL ? '&' : '?';
    memcpy(out + n, name, nlen);
    n += nlen;
    out[n++] = '=';
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return h2o_iovec_init(out, n);
}

/* Sends the authentication request as a page with a POST form to `action`
 * carrying the parameters that were appended to `action` to make `url`.
 * The page has no script (the CSP allows none), so the user presses
 * Continue. */
static void send_form_post(h2o_req_t *req, const char *action, h2o_iovec_t url)
{
    const char *query = url.base + strlen(action);
    h2o_iovec_t body = h2o_iovec_init(H2O_STRLIT(""));
    lti_form_t *fields = h2o_mem_alloc_pool(&req->pool, sizeof(*fields));
    lti_err_t err = {0};

    body = h2o_concat(&req->pool, body,
                      h2o_iovec_init(H2O_STRLIT("<main><h1>Continue to the platform</h1>\n"
                                                "<form method=\"post\" action=\"")),
                      h2o_iovec_init(lti_html(req, action), strlen(lti_html(req, action))),
                      h2o_iovec_init(H2O_STRLIT("\">\n")));
    size_t query_len = url.len - (size_t)(query + 1 - url.base);
    if (lti_form_parse(&req->pool, query + 1, query_len, fields, &err) == LTI_R_ok) {
        for (size_t i = 0; i < fields->n; i++) {
            const char *name = lti_html(req, fields->params[i].name);
            const char *value = lti_html(req, fields->params[i].value);
            body = h2o_concat(&req->pool, body,
                              h2o_iovec_init(H2O_STRLIT("<input type=\"hidden\" name=\"")),
                              h2o_iovec_init(name, strlen(name)),
                              h2o_iovec_init(H2O_STRLIT("\" value=\"")),
                              h2o_iovec_init(value, strlen(value)),
                              h2o_iovec_init(H2O_STRLIT("\">\n")));
        }
    }
    body = h2o_concat(&req->pool, body,
                      h2o_iovec_init(H2O_STRLIT("<button type=\"submit\">Continue</button>"
                                                "</form></main>")));
    lti_send_page(req, 200, "ltigate: continue to the platform", body.base);
}

/* The platform offers storage: a page stores the state and nonce there
 * before it goes on. Its new-window link repeats this login without
 * lti_storage_target, so the new window takes the cookie path. */
static void send_storage_page(login_t *self, h2o_iovec_t auth_url)
{
    h2o_req_t *req = self->req;
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    const lti_platform_cfg_t *p = self->platform;
    h2o_iovec_t again = h2o_strdup(&req->pool, cfg->login_url, SIZE_MAX);

    again = append_param(&req->pool, again, "iss", p->issuer);
    again = append_param(&req->pool, again, "login_hint", self->login_hint);
    again = append_param(&req->pool, again, "target_link_uri", self->target);
    if (self->message_hint != NULL)
        again = append_param(&req->pool, again, "lti_message_hint", self->message_hint);
    again = append_param(&req->pool, again, "client_id", p->client_id);
    if (self->deployment_hint != NULL)
        again = append_param(&req->pool, again, "lti_deployment_id", self->deployment_hint);
    lti_storage_login_t in = {.platform = p,
                              .target = self->storage_target,
                              .auth_url = auth_url,
                              .state = self->state,
                              .nonce = self->nonce,
                              .new_window_url = again.base};
    const char *kv[] = {"iss", p->issuer, "client_id", p->client_id, "deployment_id",
                        self->deployment_hint, "outcome", "storage_page", NULL};
    lti_log_kv(LTI_LOG_INFO, "login", "authentication request sent", kv);
    lti_storage_send_login_page(req, &in);
}

static void send_redirect(login_t *self)
{
    h2o_req_t *req = self->req;
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    const lti_platform_cfg_t *p = self->platform;
    h2o_iovec_t url = h2o_strdup(&req->pool, p->oidc_auth_url, SIZE_MAX);

    url = append_param(&req->pool, url, "scope", "openid");
    url = append_param(&req->pool, url, "response_type", "id_token");
    url = append_param(&req->pool, url, "response_mode", "form_post");
    url = append_param(&req->pool, url, "prompt", "none");
    url = append_param(&req->pool, url, "client_id", p->client_id);
    url = append_param(&req->pool, url, "redirect_uri", cfg->launch_url);
    url = append_param(&req->pool, url, "login_hint", self->login_hint);
    if (self->message_hint != NULL)
        url = append_param(&req->pool, url, "lti_message_hint", self->message_hint);
    url = append_param(&req->pool, url, "state", self->state);
    url = append_param(&req->pool, url, "nonce", self->nonce);

    char cookie_name[64];
    lti_oidc_state_cookie_name(self->state, cookie_name, sizeof(cookie_name));
    lti_set_cookie(req, cookie_name, self->state, LTI_OIDC_LAUNCH_PATH, cfg->state_lifetime);

    if (self->storage_target != NULL) {
        send_storage_page(self, url);
        return;
    }
    int as_form = url.len > MAX_REDIRECT_URL;
    const char *kv[] = {"iss", p->issuer, "client_id", p->client_id, "deployment_id",
                        self->deployment_hint, "outcome", as_form ? "form_post" : "redirect",
                        NULL};
    lti_log_kv(LTI_LOG_INFO, "login", "authentication request sent", kv);
    if (as_form) {
        send_form_post(req, p->oidc_auth_url, url);
    } else {
        lti_add_page_headers(req);
        lti_send_redirect(req, 302, url.base);
    }
}

static void on_state_stored(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    login_t *self = arg;
    if (reason != LTI_R_ok) {
        const char *kv[] = {"iss", self->platform->issuer, "client_id", self->platform->client_id,
                            NULL};
        lti_send_reason(self->req, "login", reason == LTI_R_nonce_reused ? LTI_R_internal_error : reason,
                        "cannot store the login state", kv);
        return;
    }
    send_redirect(self);
}

/* Reads an optional parameter, rejecting duplicates and over-long values. */
static lti_reason_t get_param(const lti_form_t *form, const char *name, size_t max,
                              const char **out, lti_err_t *err)
{
    size_t len = 0;
    int dup = 0;
    *out = lti_form_get(form, name, &len, &dup);
    if (dup)
        return lti_err_set(err, LTI_R_param_duplicate, "parameter %s sent twice", name);
    if (*out != NULL && len > max)
        return lti_err_set(err, LTI_R_param_too_long, "%s is %zu bytes, more than %zu", name,
                           len, max);
    return LTI_R_ok;
}

void lti_handle_login(h2o_req_t *req)
{
    lti_thread_t *thread = lti_thread_of(req);
    const lti_config_t *cfg = thread->app->cfg;
    lti_err_t err = {0};
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    login_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    const char *iss = NULL, *client_id = NULL, *target = NULL, *dep = NULL, *dep2 = NULL;
    lti_reason_t r;

    memset(self, 0, sizeof(*self));
    self->req = req;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        lti_send_method_not_allowed(req, "login", "GET, POST");
        return;
    }
    if ((r = lti_request_params(req, form, &err)) != LTI_R_ok ||
        (r = get_param(form, "iss", MAX_ISS, &iss, &err)) != LTI_R_ok ||
        (r = get_param(form, "login_hint", MAX_LOGIN_HINT, &self->login_hint, &err)) != LTI_R_ok ||
        (r = get_param(form, "target_link_uri", MAX_TARGET, &target, &err)) != LTI_R_ok ||
        (r = get_param(form, "lti_message_hint", MAX_MESSAGE_HINT, &self->message_hint, &err)) !=
            LTI_R_ok ||
        (r = get_param(form, "client_id", MAX_ID, &client_id, &err)) != LTI_R_ok ||
        (r = get_param(form, "lti_deployment_id", MAX_ID, &dep, &err)) != LTI_R_ok ||
        (r = get_param(form, "deployment_id", MAX_ID, &dep2, &err)) != LTI_R_ok ||
        (r = get_param(form, "lti_storage_target", MAX_ID, &self->storage_target, &err)) !=
            LTI_R_ok) {
        lti_send_reason(req, "login", r, err.msg, NULL);
        return;
    }
    /* Canvas sends lti_deployment_id; its docs and some platforms say
     * deployment_id. Either is only a hint: the id_token's claim decides. */
    self->deployment_hint = dep != NULL ? dep : dep2;
    if (self->storage_target != NULL &&
        !lti_storage_target_valid(self->storage_target, strlen(self->storage_target))) {
        lti_send_reason(req, "login", LTI_R_param_invalid,
                        "lti_storage_target is not _parent or a frame name", NULL);
        return;
    }
    if (iss == NULL || iss[0] == '\0') {
        lti_send_reason(req, "login", LTI_R_param_missing, "login initiation without iss", NULL);
        return;
    }
    if (self->login_hint == NULL || self->login_hint[0] == '\0') {
        lti_send_reason(req, "login", LTI_R_login_hint_missing, NULL, NULL);
        return;
    }

    int ambiguous = 0;
    self->platform = lti_config_find_platform(cfg, iss, client_id, &ambiguous);
    const char *kv[] = {"iss", iss, "client_id", client_id, "deployment_id",
                        self->deployment_hint, NULL};
    if (self->platform == NULL) {
        lti_send_reason(req, "login",
                        ambiguous ? LTI_R_registration_ambiguous : LTI_R_registration_unknown,
                        NULL, kv);
        return;
    }
    /* The target must be an address of this tool (open-redirect guard). */
    if (target == NULL || !lti_oidc_target_is_ours(cfg, target)) {
        lti_send_reason(req, "login", LTI_R_target_link_uri_invalid,
                        target == NULL ? "target_link_uri missing" : "target_link_uri not ours", kv);
        return;
    }
    self->target = target;

    if (client_over_limit(req, cfg, cfg->store_max_states_per_client, cfg->state_lifetime)) {
        lti_send_reason(req, "login", LTI_R_login_rate_limited,
                        "client address reached store.maxStatesPerClient", kv);
        return;
    }

    char state[LTI_OIDC_RANDOM_LEN], nonce[LTI_OIDC_RANDOM_LEN];
    if (lti_oidc_random_pair(state, nonce) != 0) {
        lti_send_reason(req, "login", LTI_R_internal_error, "RAND_bytes failed", kv);
        return;
    }
    /* 252 random bits remain after the mark. */
    state[0] = self->storage_target != NULL ? LTI_OIDC_STATE_STORAGE : LTI_OIDC_STATE_COOKIE_ONLY;
    self->state = h2o_strdup(&req->pool, state, SIZE_MAX).base;
    self->nonce = h2o_strdup(&req->pool, nonce, SIZE_MAX).base;

    char *record = lti_oidc_record_encode(self->platform - cfg->platforms, nonce, target,
                                          self->deployment_hint, self->storage_target,
                                          (long long)time(NULL));
    if (record == NULL) {
        lti_send_reason(req, "login", LTI_R_internal_error, "out of memory", kv);
        return;
    }
    char key[LTI_OIDC_RANDOM_LEN + 8];
    snprintf(key, sizeof(key), "st:%s", state);
    h2o_iovec_t copy = h2o_strdup(&req->pool, record, SIZE_MAX);
    free(record);
    lti_store_put_nx(thread->app->store, key, copy.base, copy.len, cfg->state_lifetime,
                     on_state_stored, self);
}
