/* SPDX-License-Identifier: MIT */
/*
 * Launches in a frame whose third-party cookies the browser drops (Safari,
 * Chrome with third-party cookies blocked), using LTI Platform Storage
 * (lti_storage_target, lti.capabilities, lti.put_data, lti.get_data):
 *
 *  - login: instead of a bare redirect, a page whose script stores the
 *    state and nonce in the platform's frame and then submits the
 *    authentication request. The state cookie is set as well, so a browser
 *    that keeps it completes through the cookie.
 *  - launch without the state cookie: the id_token is verified as always
 *    (state taken, nonce recorded), then the session waits in the store
 *    under a one-time completion id for 60 s. The page's script reads the
 *    state and nonce back from the platform's storage and posts them with
 *    the id to /hosted/index/storage-complete, which compares them in
 *    constant time before it sets the session cookie. A state stolen from
 *    one browser therefore cannot complete in another: the other browser's
 *    platform storage does not hold it.
 *  - after the completion: the session (and selection) cookies are
 *    Partitioned, and the page checks whether they come back. A browser
 *    that drops them continues on a short-lived token in the landing page's
 *    URL (session_req.c).
 *
 * Pages carry their data in HTML-escaped data- attributes and load the
 * script from /hosted/static/lti-storage.js, so the CSP needs no inline
 * script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "http_int.h"
#include "lti/deeplink.h"
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/session.h"

/* How long a verified launch waits for its completion step. */
#define COMPLETION_TTL 60
/* Maximum length of lti_storage_target: "_parent" or a frame name. */
#define MAX_STORAGE_TARGET 64
/* Maximum length of an authentication request URL sent by GET, as in h_login.c. */
#define MAX_GET_URL 4096

int lti_storage_target_valid(const char *target, size_t len)
{
    if (len == 0 || len > MAX_STORAGE_TARGET)
        return 0;
    if (len == 7 && memcmp(target, "_parent", 7) == 0)
        return 1;
    for (size_t i = 0; i < len; i++) {
        char c = target[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    /* Other names starting with "_" are browsing-context keywords (_top,
     * _self, _blank), not frame names. */
    return target[0] != '_';
}

/* Returns "scheme://host[:port]" of `url` in the pool, or "" when the URL has
 * no scheme and host. */
static const char *origin_of(h2o_req_t *req, const char *url)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return "";
    const char *end = sep + 3;
    while (*end != '\0' && *end != '/' && *end != '?' && *end != '#')
        end++;
    return h2o_strdup(&req->pool, url, (size_t)(end - url)).base;
}

static h2o_iovec_t cat(h2o_req_t *req, h2o_iovec_t a, const char *b)
{
    return h2o_concat(&req->pool, a, h2o_iovec_init(b, strlen(b)));
}

/* Appends ` name="escaped value"`. */
static h2o_iovec_t attr(h2o_req_t *req, h2o_iovec_t a, const char *name, const char *value)
{
    a = cat(req, a, " ");
    a = cat(req, a, name);
    a = cat(req, a, "=\"");
    a = cat(req, a, lti_html(req, value));
    return cat(req, a, "\"");
}

static h2o_iovec_t hidden(h2o_req_t *req, h2o_iovec_t a, const char *name, const char *value)
{
    a = cat(req, a, "<input type=\"hidden\"");
    a = attr(req, a, "name", name);
    a = attr(req, a, "value", value);
    return cat(req, a, ">\n");
}

/* Sends a page that loads the platform storage script. */
static void send_script_page(h2o_req_t *req, const char *title, h2o_iovec_t body)
{
    h2o_iovec_t page = h2o_iovec_init(H2O_STRLIT(""));
    page = cat(req, page,
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
               /* With no-referrer (the header's policy) a browser sends
                * "Origin: null" even on a same-origin POST, and the
                * completion step needs the real origin. */
               "<meta name=\"referrer\" content=\"same-origin\">"
               "<link rel=\"stylesheet\" href=\"/hosted/static/ltigate.css\">"
               "<script src=\"" LTI_STORAGE_JS_PATH "\" defer></script><title>");
    page = cat(req, page, lti_html(req, title));
    page = cat(req, page, "</title></head><body>\n");
    page = h2o_concat(&req->pool, page, body);
    page = cat(req, page, "\n</body></html>\n");
    req->res.status = 200;
    req->res.reason = "OK";
    lti_add_page_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/html; charset=utf-8"));
    req->res.content_length = page.len;
    h2o_send_inline(req, page.base, page.len);
}

void lti_storage_send_login_page(h2o_req_t *req, const lti_storage_login_t *in)
{
    const char *action = in->platform->oidc_auth_url;
    const char *query = in->auth_url.base + strlen(action);
    size_t query_len = in->auth_url.len - (size_t)(query - in->auth_url.base);
    int as_get = in->auth_url.len <= MAX_GET_URL && strchr(action, '?') == NULL;
    lti_form_t *fields = h2o_mem_alloc_pool(&req->pool, sizeof(*fields));
    lti_err_t err = {0};
    char key[LTI_OIDC_RANDOM_LEN + 16];
    h2o_iovec_t b = h2o_iovec_init(H2O_STRLIT("<main id=\"lti-storage\" data-mode=\"login\""));

    b = attr(req, b, "data-target", in->target);
    b = attr(req, b, "data-origin", origin_of(req, action));
    snprintf(key, sizeof(key), "lti_state_%s", in->state);
    b = attr(req, b, "data-state-key", key);
    b = attr(req, b, "data-state", in->state);
    snprintf(key, sizeof(key), "lti_nonce_%s", in->nonce);
    b = attr(req, b, "data-nonce-key", key);
    b = attr(req, b, "data-nonce", in->nonce);
    b = cat(req, b,
            ">\n<h1>Connecting to the platform</h1>\n"
            "<form id=\"lti-continue\"");
    b = attr(req, b, "method", as_get ? "get" : "post");
    b = attr(req, b, "action", action);
    b = cat(req, b, ">\n");
    if (query_len > 1 &&
        lti_form_parse(&req->pool, query + 1, query_len - 1, fields, &err) == LTI_R_ok) {
        for (size_t i = 0; i < fields->n; i++)
            b = hidden(req, b, fields->params[i].name, fields->params[i].value);
    }
    b = cat(req, b,
            "<button type=\"submit\">Continue</button></form>\n"
            "<p id=\"lti-new-window\" hidden>This browser keeps no data for this tool inside the "
            "course page. <a target=\"_blank\" rel=\"noopener\"");
    b = attr(req, b, "href", in->new_window_url);
    b = cat(req, b, ">Open the tool in a new window</a>.</p>\n</main>");
    /* A cookie the script can read: when it is missing, the browser drops
     * this frame's cookies and the state cookie is gone too. */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                   H2O_STRLIT(LTI_STORAGE_PROBE_COOKIE "=1; Path=/hosted/; Max-Age=60; Secure; "
                              "SameSite=None"));
    send_script_page(req, "ltigate: connecting", b);
}

/* ---- launch without the state cookie ------------------------------------ */

typedef struct completion {
    h2o_req_t *req;
    const lti_platform_cfg_t *platform;
    const char *target, *state, *nonce, *id;
} completion_t;

static void on_completion_stored(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    completion_t *self = arg;
    h2o_req_t *req = self->req;
    const char *kv[] = {"iss", self->platform->issuer, "client_id", self->platform->client_id,
                        NULL};
    char key[LTI_OIDC_RANDOM_LEN + 16];
    (void)value;
    (void)len;

    if (reason != LTI_R_ok) {
        lti_send_reason(req, "launch",
                        reason == LTI_R_nonce_reused ? LTI_R_internal_error : reason,
                        "cannot store the launch completion", kv);
        return;
    }
    h2o_iovec_t b = h2o_iovec_init(H2O_STRLIT("<main id=\"lti-storage\" data-mode=\"launch\""));
    b = attr(req, b, "data-target", self->target);
    b = attr(req, b, "data-origin", origin_of(req, self->platform->oidc_auth_url));
    snprintf(key, sizeof(key), "lti_state_%s", self->state);
    b = attr(req, b, "data-state-key", key);
    snprintf(key, sizeof(key), "lti_nonce_%s", self->nonce);
    b = attr(req, b, "data-nonce-key", key);
    b = cat(req, b,
            ">\n<h1>Finishing the launch</h1>\n"
            "<form id=\"lti-complete\" method=\"post\" action=\"" LTI_STORAGE_COMPLETE_PATH
            "\">\n");
    b = hidden(req, b, "completion_id", self->id);
    b = cat(req, b,
            "<input type=\"hidden\" name=\"state\" value=\"\">\n"
            "<input type=\"hidden\" name=\"nonce\" value=\"\">\n</form>\n"
            "<p id=\"lti-storage-failed\" hidden>The platform did not return this launch's "
            "data. Start the launch again from the course, or open the tool in a new "
            "window.</p>\n</main>");
    const char *log[] = {"iss", self->platform->issuer, "client_id", self->platform->client_id,
                         "outcome", "storage_check", NULL};
    lti_log_kv(LTI_LOG_INFO, "launch", "id_token verified, waiting for the platform storage check",
               log);
    send_script_page(req, "ltigate: finishing the launch", b);
}

/* Moves the deep-linking selection cookies that the launch handler added to
 * this response into `list`, so that they reach the browser only after the
 * storage check, and then partitioned like the session cookie. */
static void take_selection_cookies(h2o_req_t *req, json_t *list)
{
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->res.headers, H2O_TOKEN_SET_COOKIE, i)) != -1) {
        h2o_iovec_t v = req->res.headers.entries[i].value;
        if (v.len > sizeof(LTI_DL_COOKIE_PREFIX) - 1 &&
            memcmp(v.base, LTI_DL_COOKIE_PREFIX, sizeof(LTI_DL_COOKIE_PREFIX) - 1) == 0) {
            json_array_append_new(list, json_stringn(v.base, v.len));
            /* The next entry moves into slot i, and the search resumes after
             * the cursor. */
            i = h2o_delete_header(&req->res.headers, i) - 1;
        }
    }
}

void lti_storage_begin_completion(h2o_req_t *req, lti_store_t *store,
                                  const lti_platform_cfg_t *platform, size_t platform_index,
                                  const char *target, const char *state, const char *nonce,
                                  const char *page, const char *session_cookie)
{
    completion_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    char id[LTI_OIDC_RANDOM_LEN];
    const char *kv[] = {"iss", platform->issuer, "client_id", platform->client_id, NULL};

    if (lti_oidc_random(id) != 0) {
        lti_send_reason(req, "launch", LTI_R_internal_error, "RAND_bytes failed", kv);
        return;
    }
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:[]}", "state", state, "nonce", nonce,
                            "page", page, "session", session_cookie, "platform",
                            (json_int_t)platform_index, "cookies");
    if (rec != NULL)
        take_selection_cookies(req, json_object_get(rec, "cookies"));
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (text == NULL) {
        lti_send_reason(req, "launch", LTI_R_internal_error, "out of memory", kv);
        return;
    }
    h2o_iovec_t copy = h2o_strdup(&req->pool, text, SIZE_MAX);
    OPENSSL_clear_free(text, copy.len);

    self->req = req;
    self->platform = platform;
    self->target = h2o_strdup(&req->pool, target, SIZE_MAX).base;
    self->state = h2o_strdup(&req->pool, state, SIZE_MAX).base;
    self->nonce = h2o_strdup(&req->pool, nonce, SIZE_MAX).base;
    self->id = h2o_strdup(&req->pool, id, SIZE_MAX).base;
    char key[LTI_OIDC_RANDOM_LEN + 8];
    snprintf(key, sizeof(key), "sc:%s", id);
    lti_store_put_nx(store, key, copy.base, copy.len, COMPLETION_TTL, on_completion_stored, self);
}

/* ---- POST /hosted/index/storage-complete -------------------------------- */

typedef struct complete {
    h2o_req_t *req;
    const char *state, *nonce;
} complete_t;

static int same(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* Returns the landing URL for a browser that returns no cookie: `page`
 * with a session token, or for a deep-linking launch (`selection` is its
 * Set-Cookie value) with a selection token, since the picker needs only
 * the selection. Returns `page` itself when tokens are off. */
static const char *fallback_url(h2o_req_t *req, const char *page, const char *session,
                                const char *selection)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    int64_t now = (int64_t)time(NULL);
    lti_err_t err = {0};
    const char *kind = LTI_SESSION_TOKEN_SESSION, *param = LTI_SESSION_TOKEN_PARAM;
    const char *value = session;
    size_t len = strlen(session);

    if (selection != NULL) {
        const char *eq = strchr(selection, '=');
        value = eq != NULL ? eq + 1 : "";
        len = strcspn(value, ";");
        kind = LTI_SESSION_TOKEN_SELECTION;
        param = LTI_SELECTION_TOKEN_PARAM;
    }
    json_t *facts = lti_session_decode_kind(cfg, kind, value, len, now, &err);
    char *token = facts != NULL ? lti_session_token_seal(cfg, kind, facts, now) : NULL;
    json_decref(facts);
    if (token == NULL)
        return page;
    const char *url = lti_link_with_token(req, page, param, token);
    OPENSSL_clear_free(token, strlen(token));
    return url;
}

/* The completion step's response: a page whose script requests
 * /hosted/index/session-check with credentials to learn whether the session
 * cookie just set comes back. It then opens `page`, or `fallback` (the page
 * with a token) when the cookie does not come back. So the token enters a URL only in browsers
 * that dropped the cookie. */
static void send_session_page(h2o_req_t *req, const char *page, const char *fallback)
{
    h2o_iovec_t b = h2o_iovec_init(H2O_STRLIT("<main id=\"lti-storage\" data-mode=\"session\""));
    b = attr(req, b, "data-check", LTI_SESSION_CHECK_PATH);
    b = attr(req, b, "data-page", page);
    b = attr(req, b, "data-fallback", fallback);
    b = cat(req, b, ">\n<h1>Signing in</h1>\n<p><a id=\"lti-continue-link\"");
    b = attr(req, b, "href", page);
    b = cat(req, b, ">Continue</a></p>\n</main>");
    send_script_page(req, "ltigate: signing in", b);
}

static void on_completion_taken(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    complete_t *self = arg;
    h2o_req_t *req = self->req;
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;

    if (reason != LTI_R_ok) {
        lti_send_reason(req, "launch",
                        reason == LTI_R_state_unknown ? LTI_R_completion_unknown : reason,
                        reason == LTI_R_state_unknown ? "completion id unknown, expired or used"
                                                      : "state store failed",
                        NULL);
        return;
    }
    json_t *rec = json_loadb(value, len, JSON_REJECT_DUPLICATES, NULL);
    const char *state = json_string_value(json_object_get(rec, "state"));
    const char *nonce = json_string_value(json_object_get(rec, "nonce"));
    const char *page = json_string_value(json_object_get(rec, "page"));
    const char *session = json_string_value(json_object_get(rec, "session"));
    json_int_t index = json_integer_value(json_object_get(rec, "platform"));
    if (state == NULL || nonce == NULL || page == NULL || session == NULL || index < 0 ||
        (size_t)index >= cfg->n_platforms) {
        json_decref(rec);
        lti_send_reason(req, "launch", LTI_R_completion_unknown,
                        "completion record unreadable under this config", NULL);
        return;
    }
    const lti_platform_cfg_t *p = &cfg->platforms[index];
    const char *kv[] = {"iss", p->issuer, "client_id", p->client_id, NULL};
    /* Both comparisons run, so the time taken does not tell which failed. */
    int ok = same(self->state, state) & same(self->nonce, nonce);
    if (!ok) {
        json_decref(rec);
        lti_send_reason(req, "launch", LTI_R_storage_binding_failed,
                        "platform storage did not return this launch's state and nonce", kv);
        return;
    }
    /* Partitioned (CHIPS): browsers that block third-party cookies still
     * keep a cookie partitioned by the top-level site, so the landing page
     * in the platform's frame gets its session. Browsers without CHIPS
     * ignore the attribute and may drop the cookie; they get the token. */
    char attrs[128];
    snprintf(attrs, sizeof(attrs),
             "; Path=/; Max-Age=%ld; Secure; HttpOnly; SameSite=None; Partitioned",
             (long)cfg->session_lifetime);
    h2o_iovec_t header = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(LTI_SESSION_COOKIE "=")),
                                    h2o_iovec_init(session, strlen(session)),
                                    h2o_iovec_init(attrs, strlen(attrs)));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, header.base,
                   header.len);
    const char *selection = NULL;
    size_t i;
    json_t *moved;
    json_array_foreach(json_object_get(rec, "cookies"), i, moved) {
        const char *v = json_string_value(moved);
        if (v == NULL)
            continue;
        header = h2o_concat(&req->pool, h2o_iovec_init(v, strlen(v)),
                            h2o_iovec_init(H2O_STRLIT("; Partitioned")));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, header.base,
                       header.len);
        selection = h2o_strdup(&req->pool, v, SIZE_MAX).base;
    }
    const char *page_copy = h2o_strdup(&req->pool, page, SIZE_MAX).base;
    const char *fallback = fallback_url(req, page_copy, session, selection);
    json_decref(rec);
    const char *log[] = {"iss", p->issuer, "client_id", p->client_id, "outcome",
                         "launched_via_storage", NULL};
    lti_log_kv(LTI_LOG_INFO, "launch", NULL, log);
    send_session_page(req, page_copy, fallback);
}

void lti_handle_storage_complete(h2o_req_t *req)
{
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    complete_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    lti_err_t err = {0};
    size_t id_len = 0, state_len = 0, nonce_len = 0;
    int dup_id = 0, dup_state = 0, dup_nonce = 0;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        lti_send_method_not_allowed(req, "launch", "POST");
        return;
    }
    /* Only ltigate's own launch page may post here. Whoever made the launch
     * POST knows the completion id, state and nonce, so without this check
     * a page on another site could post them from a victim's browser and
     * sign the victim in as someone else (login CSRF). Browsers send Origin
     * with every form POST, and "Sec-Fetch-Site: same-origin" where they
     * support it; scripts can set neither. */
    const char *base = lti_thread_of(req)->app->cfg->base_url;
    ssize_t origin = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    ssize_t site = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-fetch-site"), -1);
    int same_site = site >= 0 && h2o_memis(req->headers.entries[site].value.base,
                                           req->headers.entries[site].value.len,
                                           H2O_STRLIT("same-origin"));
    if (origin < 0 || !(same_site || h2o_memis(req->headers.entries[origin].value.base,
                                               req->headers.entries[origin].value.len, base,
                                               strlen(base)))) {
        lti_send_reason(req, "launch", LTI_R_csrf_invalid,
                        origin < 0 ? "completion without an Origin header"
                                   : "completion posted from another origin",
                        NULL);
        return;
    }
    lti_reason_t r = lti_request_params(req, form, &err);
    if (r != LTI_R_ok) {
        lti_send_reason(req, "launch", r, err.msg, NULL);
        return;
    }
    const char *id = lti_form_get(form, "completion_id", &id_len, &dup_id);
    self->state = lti_form_get(form, "state", &state_len, &dup_state);
    self->nonce = lti_form_get(form, "nonce", &nonce_len, &dup_nonce);
    self->req = req;
    if (dup_id || dup_state || dup_nonce) {
        lti_send_reason(req, "launch", LTI_R_param_duplicate,
                        "completion_id, state or nonce sent twice", NULL);
        return;
    }
    if (id == NULL || self->state == NULL || self->nonce == NULL) {
        lti_send_reason(req, "launch", LTI_R_param_missing,
                        "completion without completion_id, state or nonce", NULL);
        return;
    }
    if (id_len != LTI_OIDC_RANDOM_LEN - 1) {
        lti_send_reason(req, "launch", LTI_R_completion_unknown,
                        "completion id has the wrong length", NULL);
        return;
    }
    char key[LTI_OIDC_RANDOM_LEN + 8];
    snprintf(key, sizeof(key), "sc:%s", id);
    /* Taken before the values are compared: one guess per completion. */
    lti_store_take(lti_thread_of(req)->app->store, key, on_completion_taken, self);
}

void lti_handle_session_check(h2o_req_t *req)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    lti_err_t err = {0};
    size_t len = 0;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        lti_send_method_not_allowed(req, "launch", "GET");
        return;
    }
    const char *value = lti_cookie_get(req, LTI_SESSION_COOKIE, &len);
    json_t *facts = value != NULL ? lti_session_decode(cfg, value, len, (int64_t)time(NULL), &err)
                                  : NULL;
    json_decref(facts);
    lti_send_json(req, 200, json_pack("{s:b}", "cookie", facts != NULL));
}

void lti_handle_storage_js(h2o_req_t *req)
{
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/javascript; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("public, max-age=3600"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    req->res.content_length = strlen(lti_storage_js);
    h2o_send_inline(req, lti_storage_js, strlen(lti_storage_js));
}
