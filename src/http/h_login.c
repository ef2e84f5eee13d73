/* SPDX-License-Identifier: MIT */
/*
 * OIDC third-party-initiated login (1EdTech Security Framework 1.0 §5.1.1,
 * LTI Core 1.3 §4.1): picks the registration, checks target_link_uri,
 * stores a fresh state and nonce, binds the state to the browser with a
 * cookie and redirects to the platform's authentication endpoint.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/rand.h>
#include "http_int.h"
#include "lti/jwt.h"
#include "lti/log.h"
#include "lti/oidc.h"

#define MAX_ISS 2048
#define MAX_LOGIN_HINT 1024
#define MAX_MESSAGE_HINT 8192
#define MAX_TARGET 2048
#define MAX_ID 255

typedef struct login {
    h2o_req_t *req;
    const lti_platform_cfg_t *platform;
    const char *state, *nonce, *login_hint, *message_hint;
    const char *deployment_hint;
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
    lti_add_page_headers(req);

    const char *kv[] = {"iss", p->issuer, "client_id", p->client_id, "deployment_id",
                        self->deployment_hint, "outcome", "redirect", NULL};
    lti_log_kv(LTI_LOG_INFO, "login", "authentication request sent", kv);
    lti_send_redirect(req, 302, url.base);
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
        lti_send_reason(req, "login", LTI_R_method_not_allowed, "login accepts GET and POST", NULL);
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
        (r = get_param(form, "deployment_id", MAX_ID, &dep2, &err)) != LTI_R_ok) {
        lti_send_reason(req, "login", r, err.msg, NULL);
        return;
    }
    /* Canvas sends lti_deployment_id; its docs and some platforms say
     * deployment_id. Either is only a hint: the id_token's claim decides. */
    self->deployment_hint = dep != NULL ? dep : dep2;
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

    char state[LTI_OIDC_RANDOM_LEN], nonce[LTI_OIDC_RANDOM_LEN];
    if (lti_oidc_random(state) != 0 || lti_oidc_random(nonce) != 0) {
        lti_send_reason(req, "login", LTI_R_internal_error, "RAND_bytes failed", kv);
        return;
    }
    self->state = h2o_strdup(&req->pool, state, SIZE_MAX).base;
    self->nonce = h2o_strdup(&req->pool, nonce, SIZE_MAX).base;

    char *record = lti_oidc_record_encode(self->platform - cfg->platforms, nonce, target,
                                          self->deployment_hint, (long long)time(NULL));
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
