/* SPDX-License-Identifier: MIT */
/*
 * Deep linking in the browser. This file decides where a valid launch
 * lands, serves the media picker, and returns the signed response to the
 * platform as an auto-submitting form. Apps get the same response for
 * JSON content items, and an embedded link opens the player page later.
 *
 * A selection lives in its own signed cookie, ltidl_<first 16 characters
 * of its id>, so parallel pickers in one browser keep apart, and any
 * instance with the same sessionSecretFile (also after a restart) can finish
 * it. Every form post carries a CSRF token, the HMAC of the selection id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "http_int.h"
#include "lti/deeplink.h"
#include "lti/jwt.h"
#include "lti/launch.h"
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/services.h"
#include "lti/session.h"

/* Pages of this file load thumbnails from the media host and one script
 * from ltigate itself; nothing inline runs. */
#define DL_CSP                                                                                     \
    "default-src 'none'; style-src 'self'; img-src 'self' https:; script-src 'self'; "            \
    "form-action 'self' https: http:; base-uri 'none'; frame-ancestors "
#define CSRF_HEADER "x-csrf-token"

static const char autosubmit_js[] =
    "/* Submits the deep-linking return form; the button stays as the fallback. */\n"
    "(function () {\n"
    "  var form = document.getElementById('dl-return');\n"
    "  if (form) { form.submit(); }\n"
    "})();\n";

static const char type_mismatch_text[] =
    "This placement accepts none of the content types ltigate returns (LTI resource links).";

static int method_is(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static void dl_cookie_name(const char *id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%.16s", LTI_DL_COOKIE_PREFIX, id);
}

static void send_dl_page(h2o_req_t *req, int status, const char *title, const char *body)
{
    const char *t = lti_html(req, title);
    h2o_iovec_t page = h2o_concat(
        &req->pool,
        h2o_iovec_init(H2O_STRLIT("<!DOCTYPE html>\n<html lang=\"en\"><head>"
                                  "<meta charset=\"utf-8\">"
                                  "<meta name=\"viewport\" content=\"width=device-width, "
                                  "initial-scale=1\"><link rel=\"stylesheet\" "
                                  "href=\"/hosted/static/ltigate.css\"><title>")),
        h2o_iovec_init(t, strlen(t)), h2o_iovec_init(H2O_STRLIT("</title></head><body>\n")),
        h2o_iovec_init(body, strlen(body)), h2o_iovec_init(H2O_STRLIT("\n</body></html>\n")));
    req->res.status = status;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    /* The picker is framed by Canvas too: the registrations' frame ancestors. */
    const char *ancestors = lti_thread_of(req)->app->cfg->frame_ancestors;
    h2o_iovec_t csp = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(DL_CSP)),
                                 h2o_iovec_init(ancestors != NULL ? ancestors : "'none'",
                                                ancestors != NULL ? strlen(ancestors) : 6));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL, csp.base, csp.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/html; charset=utf-8"));
    h2o_send_inline(req, page.base, page.len);
}

/* Copies a malloc'd string into the request pool and frees it. */
static const char *to_pool(h2o_req_t *req, char *s)
{
    if (s == NULL)
        return NULL;
    h2o_iovec_t copy = h2o_strdup(&req->pool, s, SIZE_MAX);
    free(s);
    return copy.base;
}

/* Returns the entry a resource-link launch names: custom entry_id, or the
 * entry query parameter of its target_link_uri. NULL when none is valid or
 * the catalog has no such entry, and the launch then keeps its default
 * landing page. */
static const char *launch_entry(h2o_req_t *req, const lti_launch_t *launch)
{
    const lti_catalog_t *catalog = lti_thread_of(req)->app->tool->catalog;
    json_t *custom = json_object_get(launch->claims, LTI_CLAIM_PREFIX "custom");
    const char *id = json_string_value(json_object_get(custom, "entry_id"));
    const char *t = launch->target_link_uri;
    const char *q = t != NULL ? strchr(t, '?') : NULL;
    for (const char *p = q; id == NULL && p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, "entry=", 6) != 0)
            continue;
        size_t len = strcspn(p + 7, "&#");
        id = h2o_strdup(&req->pool, p + 7, len).base;
    }
    if (id == NULL || !lti_entry_id_valid(id) || lti_catalog_find(catalog, id) == NULL)
        return NULL;
    return id;
}

/* Starts a selection: the signed selection cookie, and the id and CSRF
 * token in the session facts for apps that respond without the picker. */
static const char *begin_selection(h2o_req_t *req, const lti_launch_t *launch,
                                   const lti_dl_settings_t *settings, json_t *facts,
                                   lti_reason_t *reason)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    char id[LTI_OIDC_RANDOM_LEN], name[64], csrf[LTI_JWK_KID_LEN];

    if (lti_oidc_random(id) != 0) {
        *reason = LTI_R_internal_error;
        return NULL;
    }
    lti_dl_context_t ctx = {
        .id = id,
        .issuer = launch->platform->issuer,
        .client_id = launch->platform->client_id,
        .deployment_id = launch->deployment_id,
        .placement = launch->placement,
        .settings = *settings,
        .exp = (int64_t)time(NULL) + cfg->session_lifetime,
    };
    json_t *dl = lti_dl_context_to_json(&ctx);
    char *cookie =
        dl != NULL ? lti_session_encode_kind(cfg, LTI_SESSION_TOKEN_SELECTION, dl) : NULL;
    json_decref(dl);
    if (cookie == NULL) {
        /* The settings passed their caps but together exceed one cookie. */
        *reason = LTI_R_dl_settings_invalid;
        return NULL;
    }
    dl_cookie_name(id, name, sizeof(name));
    lti_set_cookie(req, name, cookie, "/hosted", cfg->session_lifetime);
    free(cookie);
    lti_dl_csrf_token(cfg, id, csrf);
    json_object_set_new(facts, "dl_id", json_string(id));
    json_object_set_new(facts, "csrf_token", json_string(csrf));
    json_object_set_new(facts, "page", json_string(LTI_DL_PICKER_PATH));
    char *page = NULL;
    if (asprintf(&page, "%s?dl=%s", LTI_DL_PICKER_PATH, id) < 0)
        page = NULL;
    return to_pool(req, page);
}

const char *lti_dl_landing(h2o_req_t *req, const lti_launch_t *launch,
                           const lti_dl_settings_t *settings, json_t *facts, lti_reason_t *reason)
{
    *reason = LTI_R_ok;
    if (launch->message_type == LTI_MSG_DEEP_LINKING)
        return begin_selection(req, launch, settings, facts, reason);
    const char *entry = launch_entry(req, launch);
    if (entry == NULL)
        return NULL;
    char *page = NULL;
    if (asprintf(&page, "%s?entry=%s", LTI_PLAYER_PATH, entry) < 0)
        return NULL;
    json_object_set_new(facts, "page", json_string(LTI_PLAYER_PATH));
    json_object_set_new(facts, "entry_id", json_string(entry));
    return to_pool(req, page);
}

/* Reads the selection `id` from its cookie or, when no selection cookie
 * came, from the selection token in `params`; *token (may be NULL) gets
 * that token. Sends dl_request_unknown and returns -1 when neither is
 * present and valid for this id. */
static int load_selection(h2o_req_t *req, const char *mod, const char *id,
                          const lti_form_t *params, lti_dl_context_t *ctx, const char **token)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    lti_err_t err = {0};
    char name[64];
    size_t len = 0;
    int dup = 0;
    json_t *facts = NULL;

    memset(ctx, 0, sizeof(*ctx));
    if (token != NULL)
        *token = NULL;
    if (id == NULL || strlen(id) != LTI_OIDC_RANDOM_LEN - 1) {
        lti_send_reason(req, mod, LTI_R_dl_request_unknown, "selection id missing or malformed",
                        NULL);
        return -1;
    }
    dl_cookie_name(id, name, sizeof(name));
    const char *value = lti_cookie_get(req, name, &len);
    const char *why = "no selection cookie or token";
    if (value != NULL) {
        facts = lti_session_decode_kind(cfg, LTI_SESSION_TOKEN_SELECTION, value, len,
                                        (int64_t)time(NULL), &err);
        why = "selection cookie rejected";
    } else if (params != NULL &&
               (value = lti_form_get(params, LTI_SELECTION_TOKEN_PARAM, &len, &dup)) != NULL) {
        facts = dup ? NULL
                    : lti_session_token_open(cfg, LTI_SESSION_TOKEN_SELECTION, value, len,
                                             (int64_t)time(NULL), &err);
        why = "selection token rejected";
        if (facts != NULL && token != NULL)
            *token = value;
    }
    /* lti_dl_context_from_json owns `facts` from here, so clearing ctx frees it. */
    if (facts == NULL || lti_dl_context_from_json(facts, ctx) != 0 || strcmp(ctx->id, id) != 0) {
        lti_dl_context_clear(ctx);
        lti_send_reason(req, mod, LTI_R_dl_request_unknown, why, NULL);
        return -1;
    }
    return 0;
}

static void log_response(const lti_dl_context_t *ctx, size_t n_items, const char *outcome)
{
    char count[16];
    snprintf(count, sizeof(count), "%zu", n_items);
    const char *kv[] = {"iss", ctx->issuer, "client_id", ctx->client_id, "deployment_id",
                        ctx->deployment_id, "placement", ctx->placement, "items", count,
                        "outcome", outcome, NULL};
    lti_log_kv(LTI_LOG_INFO, "deeplink", NULL, kv);
}

/* Signs the response and sends the page that posts it, field JWT, to the
 * return URL exactly as received. Takes the reference to `items`. */
static void send_response(h2o_req_t *req, const char *mod, const lti_dl_context_t *ctx,
                          json_t *items, const char *msg, const char *errormsg)
{
    lti_app_t *app = lti_thread_of(req)->app;
    size_t n_items = json_array_size(items);
    json_t *claims = lti_dl_response_claims(ctx, items, msg, errormsg, (int64_t)time(NULL));
    char *token = claims != NULL ? lti_dl_response_sign(app->tool, claims) : NULL;
    char name[64];

    json_decref(claims);
    json_decref(items);
    if (token == NULL) {
        lti_send_reason(req, mod, LTI_R_internal_error, "cannot sign the deep-linking response",
                        NULL);
        return;
    }
    /* The selection is finished: drop its cookie. */
    dl_cookie_name(ctx->id, name, sizeof(name));
    lti_set_cookie(req, name, "", "/hosted", 0);
    log_response(ctx, n_items, n_items > 0 ? "selected" : "cancelled");
    if (lti_wants_json(req)) {
        lti_send_json(req, 200, json_pack("{s:s,s:s}", "deep_link_return_url",
                                          ctx->settings.return_url, "JWT", token));
        free(token);
        return;
    }
    char *body = NULL;
    int n = asprintf(&body,
                     "<main><p>Returning to Canvas&hellip;</p>\n"
                     "<form id=\"dl-return\" method=\"POST\" action=\"%s\">\n"
                     "<input type=\"hidden\" name=\"JWT\" value=\"%s\">\n"
                     "<button type=\"submit\">Continue</button>\n</form></main>\n"
                     "<script src=\"" LTI_DL_SCRIPT_PATH "\"></script>",
                     lti_html(req, ctx->settings.return_url), token);
    free(token);
    if (n < 0) {
        lti_send_reason(req, mod, LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    send_dl_page(req, 200, "Returning to Canvas", to_pool(req, body));
}

/* A response waiting until its selection is recorded as used. */
typedef struct finish {
    h2o_req_t *req;
    const char *mod;
    lti_dl_context_t ctx; /* owned */
    json_t *items;        /* owned */
    const char *msg, *errormsg;
} finish_t;

static void on_selection_recorded(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    finish_t *self = arg;
    (void)value;
    (void)len;
    if (reason == LTI_R_ok) {
        send_response(self->req, self->mod, &self->ctx, self->items, self->msg, self->errormsg);
    } else {
        json_decref(self->items);
        lti_send_reason(self->req, self->mod,
                        reason == LTI_R_nonce_reused ? LTI_R_dl_request_used : reason,
                        reason == LTI_R_nonce_reused ? "selection already answered"
                                                     : "cannot record the selection as used",
                        NULL);
    }
    lti_dl_context_clear(&self->ctx);
}

/* Records the selection id in the store (set-if-absent, until the
 * selection expires), so each selection gets one signed response even when
 * its cookie or token is replayed, and then signs and sends the response.
 * Takes over `ctx` (left empty) and the reference to `items`. */
static void finish_selection(h2o_req_t *req, const char *mod, lti_dl_context_t *ctx,
                             json_t *items, const char *msg, const char *errormsg)
{
    lti_store_t *store = lti_thread_of(req)->app->store;
    finish_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    char key[LTI_OIDC_RANDOM_LEN + 8];

    self->req = req;
    self->mod = mod;
    self->ctx = *ctx;
    memset(ctx, 0, sizeof(*ctx));
    self->items = items;
    self->msg = msg != NULL ? h2o_strdup(&req->pool, msg, SIZE_MAX).base : NULL;
    self->errormsg = errormsg != NULL ? h2o_strdup(&req->pool, errormsg, SIZE_MAX).base : NULL;
    int64_t ttl = self->ctx.exp - (int64_t)time(NULL);
    snprintf(key, sizeof(key), "dlu:%s", self->ctx.id);
    lti_store_put_nx(store, key, "1", 1, ttl > 0 ? (unsigned)ttl : 1, on_selection_recorded,
                     self);
}

static void format_duration(int seconds, char *out, size_t outlen)
{
    if (seconds >= 3600)
        snprintf(out, outlen, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
    else
        snprintf(out, outlen, "%d:%02d", seconds / 60, seconds % 60);
}

/* GET /hosted/deep-link/picker?dl=ID */
void lti_handle_dl_picker(h2o_req_t *req)
{
    lti_app_t *app = lti_thread_of(req)->app;
    const lti_catalog_t *catalog = app->tool->catalog;
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    lti_dl_context_t ctx;
    lti_err_t err = {0};
    char csrf[LTI_JWK_KID_LEN], duration[24];
    int dup = 0;

    if (!method_is(req, "GET")) {
        lti_send_method_not_allowed(req, "picker", "GET");
        return;
    }
    lti_reason_t r = lti_request_params(req, form, &err);
    if (r != LTI_R_ok) {
        lti_send_reason(req, "picker", r, err.msg, NULL);
        return;
    }
    const char *id = lti_form_get(form, "dl", NULL, &dup);
    const char *token = NULL;
    if (load_selection(req, "picker", dup ? NULL : id, form, &ctx, &token) != 0)
        return;
    lti_dl_csrf_token(app->cfg, ctx.id, csrf);
    int accepted = (ctx.settings.accept_types & LTI_DL_TYPE_LTI_RESOURCE_LINK) != 0;
    const char *input_type = ctx.settings.accept_multiple ? "checkbox" : "radio";

    char *body = NULL;
    size_t body_len = 0;
    FILE *fp = open_memstream(&body, &body_len);
    if (fp == NULL) {
        lti_dl_context_clear(&ctx);
        lti_send_reason(req, "picker", LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    fprintf(fp, "<header><h1>%s</h1></header>\n<main>\n",
            lti_html(req, ctx.settings.title != NULL ? ctx.settings.title : "Choose media"));
    if (ctx.settings.text != NULL)
        fprintf(fp, "<p class=\"note\">%s</p>\n", lti_html(req, ctx.settings.text));
    fprintf(fp,
            "<form method=\"POST\" action=\"" LTI_DL_CHOOSE_PATH "\" id=\"picker\">\n"
            "<input type=\"hidden\" name=\"dl\" value=\"%s\">\n"
            "<input type=\"hidden\" name=\"csrf_token\" value=\"%s\">\n",
            ctx.id, csrf);
    /* Without a selection cookie the form posts the token back in its body. */
    if (token != NULL)
        fprintf(fp, "<input type=\"hidden\" name=\"" LTI_SELECTION_TOKEN_PARAM
                    "\" value=\"%s\">\n",
                token);
    if (!accepted) {
        fprintf(fp, "<p class=\"error\" id=\"type-mismatch\">%s</p>\n", type_mismatch_text);
    } else {
        fprintf(fp, "<ul class=\"catalog\">\n");
        for (size_t i = 0; i < catalog->n; i++) {
            const lti_media_entry_t *e = &catalog->entries[i];
            format_duration(e->duration, duration, sizeof(duration));
            fprintf(fp,
                    "<li><label><input type=\"%s\" name=\"entry\" value=\"%s\"> "
                    "<img src=\"%s\" alt=\"\" width=\"120\" height=\"68\"> "
                    "<span class=\"title\">%s</span> <span class=\"duration\">%s</span>"
                    "</label></li>\n",
                    input_type, e->id, lti_html(req, e->thumbnail), lti_html(req, e->title),
                    duration);
        }
        fprintf(fp, "</ul>\n<button type=\"submit\" name=\"action\" value=\"choose\">"
                    "Embed</button>\n");
    }
    fprintf(fp, "<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\n"
                "</form>\n</main>");
    fclose(fp);
    lti_dl_context_clear(&ctx);
    send_dl_page(req, 200, "Choose media", to_pool(req, body));
}

/* Collects the entry parameters of the picker form into content items. */
static lti_reason_t items_from_form(h2o_req_t *req, const lti_form_t *form,
                                    const lti_dl_context_t *ctx, json_t **out, lti_err_t *err)
{
    lti_app_t *app = lti_thread_of(req)->app;
    json_t *items = json_array();

    *out = NULL;
    for (size_t i = 0; i < form->n; i++) {
        if (strcmp(form->params[i].name, "entry") != 0)
            continue;
        const lti_media_entry_t *e = lti_entry_id_valid(form->params[i].value)
                                         ? lti_catalog_find(app->tool->catalog,
                                                            form->params[i].value)
                                         : NULL;
        if (e == NULL) {
            json_decref(items);
            return lti_err_set(err, LTI_R_content_item_invalid, "entry %zu is not in the catalog",
                               json_array_size(items) + 1);
        }
        /* The picker offers each entry once; the same entry twice is a
         * forged form, not a choice. */
        for (size_t j = 0; j < i; j++) {
            if (strcmp(form->params[j].name, "entry") == 0 &&
                strcmp(form->params[j].value, form->params[i].value) == 0) {
                json_decref(items);
                return lti_err_set(err, LTI_R_param_duplicate, "entry %s chosen twice",
                                   e->id);
            }
        }
        json_array_append_new(items, lti_dl_item_for_entry(app->cfg, ctx, e));
    }
    if (json_array_size(items) == 0) {
        json_decref(items);
        return lti_err_set(err, LTI_R_content_item_invalid, "no entry selected");
    }
    lti_reason_t r = lti_dl_items_check(app->cfg, ctx, items, err);
    if (r != LTI_R_ok) {
        json_decref(items);
        return r;
    }
    *out = items;
    return LTI_R_ok;
}

/* POST /hosted/deep-link/choose: dl, csrf_token, action (choose or
 * cancel) and the selected entry values. */
void lti_handle_dl_choose(h2o_req_t *req)
{
    lti_app_t *app = lti_thread_of(req)->app;
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    lti_dl_context_t ctx;
    lti_err_t err = {0};
    int dup_id = 0, dup_csrf = 0, dup_action = 0;

    if (!method_is(req, "POST")) {
        lti_send_method_not_allowed(req, "picker", "POST");
        return;
    }
    lti_reason_t r = lti_request_params(req, form, &err);
    if (r != LTI_R_ok) {
        lti_send_reason(req, "picker", r, err.msg, NULL);
        return;
    }
    const char *id = lti_form_get(form, "dl", NULL, &dup_id);
    const char *csrf = lti_form_get(form, "csrf_token", NULL, &dup_csrf);
    const char *action = lti_form_get(form, "action", NULL, &dup_action);
    if (dup_id || dup_csrf || dup_action) {
        lti_send_reason(req, "picker", LTI_R_param_duplicate, "dl, csrf_token or action twice",
                        NULL);
        return;
    }
    if (!lti_dl_csrf_check(app->cfg, id, csrf)) {
        lti_send_reason(req, "picker", LTI_R_csrf_invalid, "picker form CSRF token", NULL);
        return;
    }
    if (load_selection(req, "picker", id, form, &ctx, NULL) != 0)
        return;
    int accepted = (ctx.settings.accept_types & LTI_DL_TYPE_LTI_RESOURCE_LINK) != 0;
    if (action != NULL && strcmp(action, "cancel") == 0) {
        finish_selection(req, "picker", &ctx, json_array(), NULL,
                         accepted ? NULL : type_mismatch_text);
    } else if (action == NULL || strcmp(action, "choose") != 0) {
        lti_send_reason(req, "picker", LTI_R_param_invalid, "action is not choose or cancel",
                        NULL);
    } else if (!accepted) {
        lti_send_reason(req, "picker", LTI_R_dl_type_not_accepted,
                        "accept_types has no ltiResourceLink", NULL);
    } else {
        json_t *items = NULL;
        r = items_from_form(req, form, &ctx, &items, &err);
        if (r != LTI_R_ok) {
            lti_send_reason(req, "picker", r, err.msg, NULL);
        } else {
            char msg[64];
            snprintf(msg, sizeof(msg), "%zu media item%s added", json_array_size(items),
                     json_array_size(items) == 1 ? "" : "s");
            finish_selection(req, "picker", &ctx, items, msg, NULL);
        }
    }
    lti_dl_context_clear(&ctx);
}

/* Reads and verifies the session (cookie, else token in `params` or the
 * query); sends the rejection and returns NULL when there is none. Sets
 * *token to the session token when the session came by token. */
static json_t *require_session(h2o_req_t *req, const char *mod, const lti_form_t *params,
                               const char **token)
{
    lti_req_session_t session;
    if (lti_request_session(req, mod, params, &session) != 0)
        return NULL;
    if (token != NULL)
        *token = session.token;
    return session.facts;
}

static int is_json_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = sizeof("application/json") - 1;
    return v.len >= n && h2o_lcstris(v.base, n, "application/json", n) &&
           (v.len == n || v.base[n] == ';' || v.base[n] == ' ');
}

/* POST /hosted/index/deep-link-response: an app sends
 * {"content_items": [...], "msg": ..., "errormsg": ...} with the session
 * cookie and the session's csrf_token in X-CSRF-Token. */
void lti_handle_dl_api(h2o_req_t *req)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    lti_dl_context_t ctx;
    lti_err_t err = {0};
    char why[128];

    if (!method_is(req, "POST")) {
        lti_send_method_not_allowed(req, "deeplink", "POST");
        return;
    }
    if (!is_json_type(req)) {
        lti_send_reason(req, "deeplink", LTI_R_unsupported_media_type,
                        "Content-Type is not application/json", NULL);
        return;
    }
    if (req->entity.len > cfg->max_body) {
        lti_send_reason(req, "deeplink", LTI_R_body_too_large, NULL, NULL);
        return;
    }
    json_t *facts = require_session(req, "deeplink", NULL, NULL);
    if (facts == NULL)
        return;
    const char *id = json_string_value(json_object_get(facts, "dl_id"));
    ssize_t h = h2o_find_header_by_str(&req->headers, H2O_STRLIT(CSRF_HEADER), -1);
    h2o_iovec_t token = h >= 0 ? h2o_strdup(&req->pool, req->headers.entries[h].value.base,
                                            req->headers.entries[h].value.len)
                               : h2o_iovec_init(NULL, 0);
    if (id == NULL) {
        json_decref(facts);
        lti_send_reason(req, "deeplink", LTI_R_dl_request_unknown,
                        "the session is not a deep-linking launch", NULL);
        return;
    }
    if (!lti_dl_csrf_check(cfg, id, token.base)) {
        json_decref(facts);
        lti_send_reason(req, "deeplink", LTI_R_csrf_invalid, "X-CSRF-Token", NULL);
        return;
    }
    h2o_iovec_t id_copy = h2o_strdup(&req->pool, id, SIZE_MAX);
    json_decref(facts);
    if (load_selection(req, "deeplink", id_copy.base, NULL, &ctx, NULL) != 0)
        return;

    json_t *doc = lti_json_parse_strict(req->entity.base != NULL ? req->entity.base : "",
                                        req->entity.len, LTI_JSON_MAX_DEPTH, why, sizeof(why));
    json_t *items = json_object_get(doc, "content_items");
    json_t *msg = json_object_get(doc, "msg"), *errormsg = json_object_get(doc, "errormsg");
    lti_reason_t r = LTI_R_ok;
    if (doc == NULL || items == NULL || (msg != NULL && !json_is_string(msg)) ||
        (errormsg != NULL && !json_is_string(errormsg)) ||
        json_string_length(msg) > LTI_DL_MAX_TEXT || json_string_length(errormsg) > LTI_DL_MAX_TEXT)
        r = lti_err_set(&err, LTI_R_content_item_invalid,
                        "body is not {\"content_items\": [...]} with optional short msg and "
                        "errormsg strings");
    else
        r = lti_dl_items_check(cfg, &ctx, items, &err);
    if (r != LTI_R_ok)
        lti_send_reason(req, "deeplink", r, err.msg, NULL);
    else
        finish_selection(req, "deeplink", &ctx, json_incref(items), json_string_value(msg),
                      json_string_value(errormsg));
    json_decref(doc);
    lti_dl_context_clear(&ctx);
}

/* GET /hosted/player?entry=ID: the page an embedded link opens. */
void lti_handle_player(h2o_req_t *req)
{
    lti_app_t *app = lti_thread_of(req)->app;
    lti_form_t *form = h2o_mem_alloc_pool(&req->pool, sizeof(*form));
    lti_err_t err = {0};
    char duration[24];
    int dup = 0;

    lti_reason_t r = lti_request_params(req, form, &err);
    if (r != LTI_R_ok) {
        lti_send_reason(req, "player", r, err.msg, NULL);
        return;
    }
    const char *token = NULL;
    json_t *facts = require_session(req, "player", form, &token);
    if (facts == NULL)
        return;
    const char *id = lti_form_get(form, "entry", NULL, &dup);
    const lti_media_entry_t *e =
        !dup && lti_entry_id_valid(id) ? lti_catalog_find(app->tool->catalog, id) : NULL;
    if (e == NULL) {
        json_decref(facts);
        lti_send_reason(req, "player", LTI_R_not_found, "entry missing or not in the catalog",
                        NULL);
        return;
    }
    if (lti_wants_json(req)) {
        json_t *doc = json_pack("{s:s,s:s,s:i,s:O}", "entry_id", e->id, "title", e->title,
                                "duration", e->duration, "user_id",
                                json_object_get(facts, "user_id"));
        json_decref(facts);
        lti_send_json(req, 200, doc);
        return;
    }
    format_duration(e->duration, duration, sizeof(duration));
    int has_quiz = app->services != NULL &&
                   json_object_get(lti_services_quizzes(app->services), e->id) != NULL;
    char quiz_url[128];
    snprintf(quiz_url, sizeof(quiz_url), "/hosted/quiz?entry=%s", e->id);
    const char *quiz_href =
        lti_html(req, lti_link_with_token(req, quiz_url, LTI_SESSION_TOKEN_PARAM, token));
    char *body = NULL;
    int n = asprintf(&body,
                     "<header><h1 id=\"entry-title\">%s</h1></header>\n<main>\n"
                     "<figure class=\"player\" data-entry-id=\"%s\"><img src=\"%s\" alt=\"\" "
                     "width=\"640\" height=\"360\"><figcaption>%s &middot; %s</figcaption>"
                     "</figure>\n<dl class=\"who\"><dt>Signed in as</dt><dd id=\"user-id\">%s</dd>"
                     "</dl>\n%s%s%s</main>",
                     lti_html(req, e->title), e->id, lti_html(req, e->thumbnail),
                     lti_html(req, e->description), duration,
                     lti_html(req, json_string_value(json_object_get(facts, "user_id"))),
                     /* Entries with an answer key link to their quiz (h_services.c). */
                     has_quiz ? "<p><a id=\"quiz\" href=\"" : "", has_quiz ? quiz_href : "",
                     has_quiz ? "\">Take the quiz</a></p>\n" : "");
    json_decref(facts);
    if (n < 0) {
        lti_send_reason(req, "player", LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    send_dl_page(req, 200, e->title, to_pool(req, body));
}

static void send_script(h2o_req_t *req)
{
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/javascript; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("public, max-age=3600"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_send_inline(req, autosubmit_js, sizeof(autosubmit_js) - 1);
}

int lti_route_tool(h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;
#define PATH_IS(lit) h2o_memis(path.base, path.len, H2O_STRLIT(lit))
    if (PATH_IS(LTI_TOOL_JWKS_PATH))
        lti_handle_tool_jwks(req);
    else if (PATH_IS(LTI_TOOL_DEVKEY_PATH))
        lti_handle_devkey(req);
    else if (PATH_IS(LTI_DL_PICKER_PATH))
        lti_handle_dl_picker(req);
    else if (PATH_IS(LTI_DL_CHOOSE_PATH))
        lti_handle_dl_choose(req);
    else if (PATH_IS(LTI_DL_API_PATH))
        lti_handle_dl_api(req);
    else if (PATH_IS(LTI_PLAYER_PATH))
        lti_handle_player(req);
    else if (PATH_IS(LTI_DL_SCRIPT_PATH))
        send_script(req);
    else
        return 0;
#undef PATH_IS
    return 1;
}
