/* SPDX-License-Identifier: MIT */
/*
 * The launch endpoint (1EdTech Security Framework 1.0 §5.1.3, LTI Core 1.3
 * §5): the pipeline from the form-posted id_token to a session. Each step
 * ends the request with its own reason code:
 *
 *   form -> state cookie -> take state (single use) -> JWS shape and header
 *   -> platform key by kid (may wait for a JWKS fetch) -> RS256 signature
 *   -> claims -> deployment -> record nonce (single use) -> session
 *
 * The state is taken before the token is looked at, so a state can never be
 * tried twice, whatever the outcome of the first try.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "http_int.h"
#include "lti/deeplink.h"
#include "lti/jarena.h"
#include "lti/jwt.h"
#include "lti/launch.h"
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/session.h"

typedef struct launch launch_t;

/* Heap-allocated while a JWKS fetch is pending, because the request (and
 * its pool) may be gone when the fetch thread calls back. */
typedef struct pending {
    lti_jwks_waiter_t super;
    launch_t *launch; /* NULL once the request was disposed */
} pending_t;

struct launch {
    h2o_req_t *req;
    lti_thread_t *thread;
    const char *id_token;
    size_t id_token_len;
    const char *state;
    lti_oidc_record_t record;
    const lti_platform_cfg_t *platform;
    lti_jws_t jws;
    EVP_PKEY *key;
    lti_launch_t result;
    lti_dl_settings_t dl_settings; /* deep linking only; borrowed from result.claims */
    pending_t *pending;
    char nonce_key[600];
    /* lti_storage_target of a launch that came without its state cookie:
     * the platform storage check replaces the cookie check. */
    const char *storage_target;
    /* Holds the parsed token's JSON trees until the request ends. */
    lti_jarena_t arena;
};

static void on_launch_dispose(void *p)
{
    launch_t *self = p;
    if (self->pending != NULL)
        self->pending->launch = NULL;
    lti_oidc_record_clear(&self->record);
    lti_jarena_t *previous = lti_jarena_enter(&self->arena);
    lti_jws_clear(&self->jws);
    lti_launch_clear(&self->result);
    lti_jarena_leave(previous);
    lti_jarena_release(&self->arena);
    EVP_PKEY_free(self->key);
}

/* Fills the log fields known at this point. `kv` must hold 11 slots. */
static void log_fields(launch_t *self, const char **kv)
{
    size_t n = 0;
    if (self->platform != NULL) {
        kv[n++] = "iss";
        kv[n++] = self->platform->issuer;
        kv[n++] = "client_id";
        kv[n++] = self->platform->client_id;
    }
    if (self->result.deployment_id != NULL) {
        kv[n++] = "deployment_id";
        kv[n++] = self->result.deployment_id;
    }
    if (self->jws.kid != NULL) {
        kv[n++] = "kid";
        kv[n++] = self->jws.kid;
    }
    kv[n] = NULL;
}

static void reject(launch_t *self, lti_reason_t reason, const char *detail)
{
    const char *kv[11];
    log_fields(self, kv);
    lti_send_reason(self->req, "launch", reason, detail, kv);
}

/* Removes the Set-Cookie headers of this response whose cookie name starts
 * with `prefix`, so that a launch rejected after lti_dl_landing leaves no
 * working selection cookie behind. */
static void drop_set_cookies(h2o_req_t *req, const char *prefix)
{
    size_t n = strlen(prefix);
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->res.headers, H2O_TOKEN_SET_COOKIE, i)) != -1) {
        h2o_iovec_t v = req->res.headers.entries[i].value;
        if (v.len >= n && memcmp(v.base, prefix, n) == 0) {
            h2o_delete_header(&req->res.headers, i);
            i = -1; /* deleting shifts the entries: search again */
        }
    }
}

static void on_nonce_recorded(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    launch_t *self = arg;
    h2o_req_t *req = self->req;
    const lti_config_t *cfg = self->thread->app->cfg;
    lti_launch_t *launch = &self->result;

    if (reason != LTI_R_ok) {
        reject(self, reason, reason == LTI_R_nonce_reused ? "nonce already used" : "cannot record nonce");
        return;
    }
    const char *page = lti_session_landing_page(launch);
    json_t *facts = lti_session_from_launch(cfg, launch, page, (int64_t)time(NULL));
    lti_reason_t dl_reason = LTI_R_ok;
    const char *dl_page =
        facts != NULL ? lti_dl_landing(req, launch, &self->dl_settings, facts, &dl_reason) : NULL;
    if (dl_reason != LTI_R_ok) {
        json_decref(facts);
        reject(self, dl_reason, "cannot keep the deep linking settings");
        return;
    }
    if (dl_page != NULL)
        page = dl_page;
    /* With facts built, the encoding fails (short of memory) only when they
     * exceed one cookie. */
    int facts_ok = facts != NULL;
    char *cookie = facts_ok ? lti_session_encode(cfg, facts) : NULL;
    json_decref(facts);
    if (cookie == NULL) {
        drop_set_cookies(req, LTI_DL_COOKIE_PREFIX);
        reject(self, facts_ok ? LTI_R_session_too_large : LTI_R_internal_error,
               facts_ok ? "the session facts exceed one cookie" : "cannot build the session");
        return;
    }
    if (self->storage_target != NULL) {
        lti_storage_begin_completion(req, self->thread->app->store, self->platform,
                                     self->record.platform_index, self->storage_target,
                                     self->state, self->record.nonce, page, cookie);
        OPENSSL_clear_free(cookie, strlen(cookie));
        return;
    }
    lti_set_cookie(req, LTI_SESSION_COOKIE, cookie, "/", cfg->session_lifetime);
    free(cookie);
    lti_add_page_headers(req);

    /* The user reference costs a SHA-256; skip it when the line is off. */
    if (LTI_LOG_ENABLED(LTI_LOG_INFO)) {
        char user_ref[16];
        const char *kv[] = {"iss", self->platform->issuer, "client_id", self->platform->client_id,
                            "deployment_id", launch->deployment_id, "message_type",
                            launch->message_type == LTI_MSG_DEEP_LINKING
                                ? "LtiDeepLinkingRequest"
                                : "LtiResourceLinkRequest",
                            "placement", launch->placement, "user",
                            lti_log_user_ref(launch->user_id, user_ref), "app_role",
                            launch->app_role, "outcome", "launched", NULL};
        lti_log_kv(LTI_LOG_INFO, "launch", NULL, kv);
    }
    /* 303 makes the browser fetch the landing page with GET. */
    lti_send_redirect(req, 303, page);
}

/* Signature, claims, deployment, then the one-time nonce record. */
static void verify_and_finish(launch_t *self)
{
    const lti_config_t *cfg = self->thread->app->cfg;
    lti_err_t err = {0};

    /* The signature covers the exact received "header.payload" bytes. */
    if (!lti_rs256_verify(self->key, (const unsigned char *)self->jws.signing_input,
                          self->jws.signing_input_len, self->jws.sig, self->jws.sig_len)) {
        reject(self, LTI_R_signature_invalid, "RS256 signature does not verify");
        return;
    }
    lti_login_record_t login = {
        .nonce = self->record.nonce,
        .target_link_uri = self->record.target_link_uri,
        .iss = self->platform->issuer,
        .client_id = self->platform->client_id,
    };
    lti_reason_t r = lti_launch_validate(cfg, self->platform, &login, self->jws.payload,
                                         (int64_t)time(NULL), &self->result, &err);
    if (r != LTI_R_ok) {
        reject(self, r, err.msg);
        return;
    }
    if (self->result.message_type == LTI_MSG_DEEP_LINKING) {
        r = lti_dl_settings_parse(json_object_get(self->result.claims, LTI_CLAIM_DL_SETTINGS),
                                  &self->dl_settings, &err);
        if (r != LTI_R_ok) {
            reject(self, r, err.msg);
            return;
        }
    }
    r = lti_deployments_check(self->thread->app->deployments, self->record.platform_index,
                              self->result.deployment_id, &err);
    if (r != LTI_R_ok) {
        reject(self, r, err.msg);
        return;
    }
    /* The state already made this nonce single-use. The nonce record is a
     * second guard, for a token whose nonce reached another state record.
     * It lives as long as a token carrying it could pass the iat check. */
    snprintf(self->nonce_key, sizeof(self->nonce_key), "nonce:%s:%s", self->platform->issuer,
             self->record.nonce);
    unsigned ttl = cfg->max_token_age + 2 * cfg->clock_skew;
    lti_store_put_nx(self->thread->app->store, self->nonce_key, "1", 1, ttl, on_nonce_recorded,
                     self);
}

static void lookup_key(launch_t *self, int may_wait);

static void on_jwks_done(lti_jwks_waiter_t *waiter)
{
    pending_t *pending = (pending_t *)waiter;
    launch_t *self = pending->launch;
    free(pending);
    if (self == NULL)
        return; /* the browser went away while the keys were fetched */
    self->pending = NULL;
    lookup_key(self, 0);
}

void lti_launch_on_jwks_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        lti_jwks_waiter_t *waiter = (lti_jwks_waiter_t *)msg;
        waiter->on_done(waiter);
    }
}

static void lookup_key(launch_t *self, int may_wait)
{
    lti_err_t err = {0};
    pending_t *pending = NULL;

    if (may_wait) {
        pending = calloc(1, sizeof(*pending));
        if (pending == NULL) {
            reject(self, LTI_R_internal_error, "out of memory");
            return;
        }
        pending->super.receiver = &self->thread->jwks_receiver;
        pending->super.on_done = on_jwks_done;
        pending->launch = self;
    }
    switch (lti_jwks_cache_lookup(self->thread->app->jwks, self->record.platform_index,
                                  self->jws.kid, pending ? &pending->super : NULL, &self->key,
                                  &err)) {
    case LTI_JWKS_FOUND:
        free(pending);
        verify_and_finish(self);
        break;
    case LTI_JWKS_PENDING:
        self->pending = pending;
        break;
    case LTI_JWKS_FAILED:
        free(pending);
        reject(self, err.reason, err.msg);
        break;
    }
}

static void on_state_taken(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    launch_t *self = arg;
    const lti_config_t *cfg = self->thread->app->cfg;
    lti_err_t err = {0};
    char cookie_name[64];

    /* Whatever happens next, this state is spent: drop its cookie. */
    lti_oidc_state_cookie_name(self->state, cookie_name, sizeof(cookie_name));
    lti_set_cookie(self->req, cookie_name, "", LTI_OIDC_LAUNCH_PATH, 0);

    if (reason != LTI_R_ok) {
        reject(self, reason, reason == LTI_R_state_unknown ? "state not found, expired or used"
                                                           : "state store failed");
        return;
    }
    if (lti_oidc_record_decode(cfg, value, len, &self->record) != 0) {
        reject(self, LTI_R_state_unknown, "state record unreadable under this config");
        return;
    }
    self->platform = &cfg->platforms[self->record.platform_index];
    if (self->storage_target != NULL && (self->record.storage_target == NULL ||
                                         strcmp(self->record.storage_target,
                                                self->storage_target) != 0)) {
        reject(self, LTI_R_state_cookie_missing,
               "no state cookie, and the login offered no platform storage for this target");
        return;
    }

    lti_jarena_t *previous = lti_jarena_enter(&self->arena);
    lti_reason_t r = lti_jws_parse(self->id_token, self->id_token_len, &self->jws, &err);
    lti_jarena_leave(previous);
    if (r != LTI_R_ok) {
        reject(self, r, err.msg);
        return;
    }
    lookup_key(self, 1);
}

/* Canvas posts error and error_description instead of an id_token when it
 * cannot authorize the launch (launch_no_longer_valid, login_required). */
static void handle_platform_error(launch_t *self, const char *error)
{
    char detail[160];
    size_t n = strlen(error);
    int printable = n > 0 && n <= 64;
    for (size_t i = 0; printable && i < n; i++)
        if (error[i] < 0x21 || error[i] > 0x7e)
            printable = 0;
    snprintf(detail, sizeof(detail), "platform returned error=%s",
             printable ? error : "(unprintable)");
    reject(self, LTI_R_platform_error, detail);
}

void lti_handle_launch(h2o_req_t *req)
{
    lti_thread_t *thread = lti_thread_of(req);
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    launch_t *self = h2o_mem_alloc_shared(&req->pool, sizeof(*self), on_launch_dispose);
    lti_err_t err = {0};
    int dup_token = 0, dup_state = 0, dup_error = 0;

    memset(self, 0, sizeof(*self));
    self->req = req;
    self->thread = thread;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        lti_send_method_not_allowed(req, "launch", "POST");
        return;
    }
    lti_reason_t r = lti_request_params(req, form, &err);
    if (r != LTI_R_ok) {
        reject(self, r, err.msg);
        return;
    }
    self->id_token = lti_form_get(form, "id_token", &self->id_token_len, &dup_token);
    self->state = lti_form_get(form, "state", NULL, &dup_state);
    const char *error = lti_form_get(form, "error", NULL, &dup_error);
    int dup_target = 0;
    size_t target_len = 0;
    const char *storage_target =
        lti_form_get(form, "lti_storage_target", &target_len, &dup_target);
    if (dup_token || dup_state || dup_error || dup_target) {
        reject(self, LTI_R_param_duplicate, "id_token, state or error sent twice");
        return;
    }
    if (self->id_token == NULL && error != NULL) {
        handle_platform_error(self, error);
        return;
    }
    if (self->id_token == NULL || self->id_token_len == 0) {
        reject(self, LTI_R_param_missing, "launch without id_token");
        return;
    }
    if (self->id_token_len > LTI_JWT_MAX_TOKEN) {
        reject(self, LTI_R_token_too_large, "id_token longer than 16 KiB");
        return;
    }
    if (self->state == NULL || self->state[0] == '\0') {
        reject(self, LTI_R_state_missing, NULL);
        return;
    }
    if (strlen(self->state) != LTI_OIDC_RANDOM_LEN - 1) {
        reject(self, LTI_R_state_unknown, "state has the wrong length");
        return;
    }

    /* Browser binding: the cookie set at login for this state must come back
     * with the same value, or a state stolen from one browser could be used
     * in another. */
    char cookie_name[64];
    size_t cookie_len = 0;
    lti_oidc_state_cookie_name(self->state, cookie_name, sizeof(cookie_name));
    const char *cookie = lti_cookie_get(req, cookie_name, &cookie_len);
    if (cookie == NULL || cookie_len != strlen(self->state) ||
        CRYPTO_memcmp(cookie, self->state, cookie_len) != 0) {
        /* Without the cookie, platform storage can still prove the binding
         * (h_storage.c), but only for a state whose login offered it: the
         * state's mark shows it before the state is spent, and the record's
         * storage target after. A wrong cookie is never overridden. */
        if (cookie != NULL || storage_target == NULL ||
            !lti_storage_target_valid(storage_target, target_len) ||
            self->state[0] != LTI_OIDC_STATE_STORAGE) {
            reject(self, LTI_R_state_cookie_missing, "no state cookie for this state");
            return;
        }
        self->storage_target = storage_target;
    }

    char key[LTI_OIDC_RANDOM_LEN + 8];
    snprintf(key, sizeof(key), "st:%s", self->state);
    lti_store_take(thread->app->store, key, on_state_taken, self);
}
