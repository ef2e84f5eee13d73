/* SPDX-License-Identifier: MIT */
/*
 * Endpoints of the Canvas-like platform: the JWKS, the OIDC authorize
 * endpoint with Canvas's checks and error form posts, the simulated "user
 * clicks the tool" page, the deep-linking return URL, and the /sim/ control
 * endpoints used by tests. Also the in-process control API from sim.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lti/log.h"
#include "sim_dl.h"
#include "sim_platform_int.h"
#include "sim_services.h"

#define HTML "text/html; charset=utf-8"
#define TEXT "text/plain; charset=utf-8"
#define PAGE_MAX (256 * 1024)

/* OAuth error codes Canvas posts back to the tool, with its descriptions. */
static const struct {
    const char *code;
    const char *description;
} oauth_errors[] = {
    {"launch_no_longer_valid", "The launch has either expired or already been consumed"},
    {"login_required", "Must have an active user session"},
    {"invalid_request_object", "The request is missing required parameters"},
    {"unauthorized_client", "Client not authorized in requested context"},
};

static const char *oauth_error_description(const char *code)
{
    for (size_t i = 0; i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++)
        if (strcmp(oauth_errors[i].code, code) == 0)
            return oauth_errors[i].description;
    return NULL;
}

static int method_is(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static int path_is(h2o_req_t *req, const char *path)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

/* Sends a plain-text response. Error responses are logged with the method
 * and path only, because the query and the text may quote request values. */
static int respond_text(h2o_req_t *req, int status, const char *text)
{
    if (status >= 400) {
        char method[16], path[256], code[8];
        snprintf(method, sizeof(method), "%.*s", (int)req->method.len, req->method.base);
        snprintf(path, sizeof(path), "%.*s", (int)req->path_normalized.len,
                 req->path_normalized.base);
        snprintf(code, sizeof(code), "%d", status);
        const char *kv[] = {"status", code, "method", method, "path", path, NULL};
        lti_log_kv(LTI_LOG_WARN, "sim", "request rejected", kv);
    }
    return sim_server_respond(req, status, TEXT, text, strlen(text));
}

/* Collects query parameters, then form-body parameters for a POST with
 * an application/x-www-form-urlencoded body. Returns -1 on bad encoding. */
static int read_params(h2o_req_t *req, sim_params_t *params)
{
    if (req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1;
        size_t len = req->path.len - req->query_at - 1;
        if (sim_params_parse(params, q, len) != 0)
            return -1;
    }
    if (!method_is(req, "POST") || req->entity.base == NULL)
        return 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    static const char form[] = "application/x-www-form-urlencoded";
    if (i < 0 || req->headers.entries[i].value.len < sizeof(form) - 1 ||
        h2o_lcstris(req->headers.entries[i].value.base, sizeof(form) - 1, form, sizeof(form) - 1) ==
            0)
        return 0;
    return sim_params_parse(params, req->entity.base, req->entity.len);
}

/* Builds the auto-submitting form page that Canvas uses for every
 * browser hop: hidden inputs, submitted on load. */
static char *form_page(const char *title, const char *action, const sim_params_t *fields)
{
    sim_buf_t b;
    sim_buf_init(&b, PAGE_MAX);
    sim_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    sim_buf_put_html(&b, title);
    sim_buf_puts(&b, "</title></head>\n<body>\n<form action=\"");
    sim_buf_put_html(&b, action);
    sim_buf_puts(&b, "\" method=\"POST\" id=\"auto_submit_form\">\n");
    for (size_t i = 0; i < fields->n; i++) {
        sim_buf_puts(&b, "<input type=\"hidden\" name=\"");
        sim_buf_put_html(&b, fields->items[i].name);
        sim_buf_puts(&b, "\" value=\"");
        sim_buf_put_html(&b, fields->items[i].value);
        sim_buf_puts(&b, "\">\n");
    }
    sim_buf_puts(&b, "<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n"
                     "<script>document.getElementById('auto_submit_form').submit();</script>\n"
                     "</body></html>\n");
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

static int respond_form(h2o_req_t *req, const char *title, const char *action,
                        const sim_params_t *fields)
{
    char *page = form_page(title, action, fields);
    if (page == NULL)
        return respond_text(req, 500, "form page too large\n");
    sim_server_respond(req, 200, HTML, page, strlen(page));
    free(page);
    return 0;
}

static void launch_remove_at(sim_platform_t *p, size_t i)
{
    p->launches[i] = p->launches[--p->n_launches];
}

/* Drops expired launches. Caller holds the lock. */
static void launches_purge(sim_platform_t *p, double now)
{
    for (size_t i = p->n_launches; i > 0; i--) {
        if (p->launches[i - 1]->expires_at <= now) {
            sim_launch_req_free(p->launches[i - 1]);
            free(p->launches[i - 1]);
            launch_remove_at(p, i - 1);
        }
    }
}

/* GET|POST /sim/launch: plays Canvas's side of a click on the tool. */
static int handle_launch(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    char err[256] = "";
    sim_launch_req_t *launch = calloc(1, sizeof(*launch));
    sim_params_t fields = {0};

    pthread_mutex_lock(&p->lock);
    char *target = strdup(p->tool_launch);
    pthread_mutex_unlock(&p->lock);
    if (launch == NULL || target == NULL ||
        sim_launch_req_parse(launch, params, target, err, sizeof(err)) != 0) {
        free(target);
        sim_launch_req_free(launch);
        free(launch);
        sim_buf_t b;
        sim_buf_init(&b, 1024);
        sim_buf_printf(&b, "invalid launch request: %s\n", err[0] ? err : "out of memory");
        respond_text(req, 400, b.data != NULL ? b.data : "invalid launch request\n");
        sim_buf_free(&b);
        return 0;
    }
    free(target);
    launch->expires_at = sim_monotonic() + p->hint_lifetime;
    /* storage=1 offers LTI Platform Storage the way Canvas does: the login
     * and the launch both name the post_message_forwarding frame. */
    const char *storage = sim_params_get(params, "storage");
    launch->storage_offered = storage != NULL && strcmp(storage, "1") == 0;

    pthread_mutex_lock(&p->lock);
    launches_purge(p, sim_monotonic());
    sim_launch_req_t **grown = NULL;
    if (p->n_launches < SIM_MAX_LAUNCHES)
        grown = realloc(p->launches, (p->n_launches + 1) * sizeof(*grown));
    if (grown != NULL) {
        p->launches = grown;
        p->launches[p->n_launches++] = launch;
        p->stats.logins++;
        sim_params_add(&fields, "iss", p->issuer);
        sim_params_add(&fields, "login_hint", launch->login_hint);
        sim_params_add(&fields, "target_link_uri", launch->target_link_uri);
        sim_params_add(&fields, "lti_message_hint", launch->message_hint);
        sim_params_add(&fields, "client_id", p->client_id);
        sim_params_add(&fields, "lti_deployment_id", p->deployment_id);
        sim_params_add(&fields, "canvas_environment", "prod");
        sim_params_add(&fields, "canvas_region", "us-east-1");
        if (launch->storage_offered)
            sim_params_add(&fields, "lti_storage_target", SIM_STORAGE_TARGET);
    }
    char *login_url = strdup(p->tool_login);
    pthread_mutex_unlock(&p->lock);

    if (grown == NULL) {
        sim_launch_req_free(launch);
        free(launch);
        respond_text(req, 503, "too many launches waiting for authorization\n");
    } else {
        const char *kv[] = {"role",         launch->role,         "placement", launch->placement,
                            "message_type", launch->message_type, NULL};
        lti_log_kv(LTI_LOG_INFO, "sim", "launch started", kv);
        respond_form(req, "Launching tool", login_url, &fields);
    }
    free(login_url);
    sim_params_clear(&fields);
    return 0;
}

/* Posts an OAuth error to the tool, the way Canvas reports authorize
 * failures (never as an HTTP error once redirect_uri is known). */
static int post_error(h2o_req_t *req, const char *redirect_uri, const char *code,
                      const char *description, const char *state)
{
    sim_params_t fields = {0};
    sim_params_add(&fields, "error", code);
    sim_params_add(&fields, "error_description", description);
    if (state != NULL)
        sim_params_add(&fields, "state", state);
    const char *kv[] = {"error", code, NULL};
    lti_log_kv(LTI_LOG_WARN, "sim", "authorize request rejected with an error post", kv);
    respond_form(req, "Launch error", redirect_uri, &fields);
    sim_params_clear(&fields);
    return 0;
}

/* Returns the comma-separated names of required parameters that are
 * missing or empty, or "" when all are present. */
static void missing_params(const sim_params_t *params, char *out, size_t outlen)
{
    static const char *const required[] = {"client_id",     "login_hint",   "nonce",
                                           "prompt",        "redirect_uri", "response_mode",
                                           "response_type", "scope"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        const char *v = sim_params_get(params, required[i]);
        if (v == NULL || v[0] == '\0') {
            size_t len = strlen(out);
            snprintf(out + len, outlen - len, "%s%s", len > 0 ? ", " : "", required[i]);
        }
    }
}

/* Finds the launch for `hint`. Canvas checks the user session before it
 * reads the cached launch, so a login_hint mismatch leaves the launch in
 * place. A match removes it, because each hint is single use. The caller
 * holds the lock. Returns the OAuth error code, or NULL with *out set. */
static const char *take_launch(sim_platform_t *p, const char *hint, const char *login_hint,
                               sim_launch_req_t **out)
{
    launches_purge(p, sim_monotonic());
    for (size_t i = 0; hint != NULL && i < p->n_launches; i++) {
        sim_launch_req_t *launch = p->launches[i];
        if (strcmp(launch->message_hint, hint) != 0)
            continue;
        if (strcmp(launch->login_hint, login_hint) != 0)
            return "login_required";
        launch_remove_at(p, i);
        *out = launch;
        return NULL;
    }
    return "launch_no_longer_valid";
}

/* Keeps the deep_linking_settings of a deep-linking launch under the path
 * and query of its return URL, which Canvas also uses to find the request
 * when the response arrives. Caller holds the lock. */
static void remember_dl_request(sim_platform_t *p, const sim_launch_req_t *launch,
                                json_t *payload)
{
    json_t *settings = json_object_get(
        payload, "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings");
    const char *url = json_string_value(json_object_get(settings, "deep_link_return_url"));
    size_t base_len = strlen(p->base_url);
    if (url == NULL || strncmp(url, p->base_url, base_len) != 0)
        return;
    /* NOTE: a full table is emptied rather than aged; tests and demos stay
     * far below this many open deep-linking requests. */
    if (json_object_size(p->dl_requests) >= SIM_MAX_LAUNCHES)
        json_object_clear(p->dl_requests);
    json_object_set_new(p->dl_requests, url + base_len,
                        json_pack("{s:s,s:O}", "placement", launch->placement, "settings",
                                  settings));
}

/* Builds and signs the id_token for `launch`. Caller holds the lock. */
static char *issue_id_token(sim_platform_t *p, const sim_launch_req_t *launch, const char *nonce,
                            char *err, size_t errlen)
{
    sim_token_ctx_t ctx = {.issuer = p->issuer,
                           .client_id = p->client_id,
                           .deployment_id = p->deployment_id,
                           .base_url = p->base_url,
                           .platform_guid = p->guid};
    json_t *payload = sim_claims_build(&ctx, launch, nonce, (int64_t)time(NULL));
    remember_dl_request(p, launch, payload);
    char *token = sim_token_sign(&p->keys, launch, payload, err, errlen);
    json_decref(payload);
    if (token != NULL)
        p->stats.id_tokens++;
    return token;
}

static int authorize_success(h2o_req_t *req, const char *redirect_uri, const char *id_token,
                             const char *state, int storage_offered)
{
    char authenticity[65];
    sim_random_hex(authenticity, 32);
    sim_params_t fields = {0};
    /* Rails adds these two fields to every form Canvas renders. */
    sim_params_add(&fields, "utf8", "\xE2\x9C\x93");
    sim_params_add(&fields, "authenticity_token", authenticity);
    sim_params_add(&fields, "id_token", id_token);
    if (state != NULL)
        sim_params_add(&fields, "state", state);
    if (storage_offered)
        sim_params_add(&fields, "lti_storage_target", SIM_STORAGE_TARGET);
    respond_form(req, "Launching tool", redirect_uri, &fields);
    sim_params_clear(&fields);
    return 0;
}

/* GET|POST /api/lti/authorize_redirect, with the checks Canvas makes in
 * Lti::IMS::AuthenticationController. */
static int handle_authorize(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *redirect_uri = sim_params_get(params, "redirect_uri");
    const char *state = sim_params_get(params, "state");
    const char *scope = sim_params_get(params, "scope");
    const char *client_id = sim_params_get(params, "client_id");
    char missing[160], err[256] = "";
    char next_error[40];
    sim_launch_req_t *launch = NULL;
    char *id_token = NULL;

    pthread_mutex_lock(&p->lock);
    p->stats.authorize++;
    int redirect_ok = redirect_uri != NULL && strcmp(redirect_uri, p->tool_launch) == 0;
    snprintf(next_error, sizeof(next_error), "%s", redirect_ok ? p->next_error : "");
    if (redirect_ok)
        p->next_error[0] = '\0';
    pthread_mutex_unlock(&p->lock);

    /* Canvas never posts to a redirect_uri that is not registered on the
     * developer key; it shows an error page instead. */
    if (!redirect_ok) {
        return respond_text(req, 400,
                            "redirect_uri is missing or not registered for this "
                            "client_id\n");
    }
    if (next_error[0] != '\0')
        return post_error(req, redirect_uri, next_error, oauth_error_description(next_error),
                          state);

    missing_params(params, missing, sizeof(missing));
    if (missing[0] != '\0') {
        char description[200];
        snprintf(description, sizeof(description), "The following parameters are missing: %s",
                 missing);
        return post_error(req, redirect_uri, "invalid_request_object", description, state);
    }
    if (strcmp(scope, "openid") != 0)
        return post_error(req, redirect_uri, "invalid_request_object",
                          "The 'scope' must be 'openid'", state);
    if (strcmp(sim_params_get(params, "response_type"), "id_token") != 0)
        return post_error(req, redirect_uri, "invalid_request_object",
                          "The 'response_type' must be 'id_token'", state);
    if (strcmp(sim_params_get(params, "response_mode"), "form_post") != 0)
        return post_error(req, redirect_uri, "invalid_request_object",
                          "The 'response_mode' must be 'form_post'", state);

    pthread_mutex_lock(&p->lock);
    const char *error = strcmp(client_id, p->client_id) != 0 ? "unauthorized_client" : NULL;
    if (error == NULL)
        error = take_launch(p, sim_params_get(params, "lti_message_hint"),
                            sim_params_get(params, "login_hint"), &launch);
    if (error == NULL)
        id_token = issue_id_token(p, launch, sim_params_get(params, "nonce"), err, sizeof(err));
    pthread_mutex_unlock(&p->lock);

    if (error != NULL)
        return post_error(req, redirect_uri, error, oauth_error_description(error), state);
    if (id_token == NULL) {
        lti_log(LTI_LOG_ERROR, "sim", "id_token not issued: %s", err);
        respond_text(req, 500, "id_token could not be signed\n");
    } else {
        const char *kv[] = {"role",
                            launch->role,
                            "placement",
                            launch->placement,
                            "message_type",
                            launch->message_type,
                            "forge",
                            launch->forge,
                            NULL};
        lti_log_kv(LTI_LOG_INFO, "sim", "id_token issued", kv);
        authorize_success(req, redirect_uri, id_token, state, launch->storage_offered);
    }
    free(id_token);
    sim_launch_req_free(launch);
    free(launch);
    return 0;
}

static int handle_jwks(sim_platform_t *p, h2o_req_t *req)
{
    pthread_mutex_lock(&p->lock);
    p->stats.jwks_hits++;
    sim_jwks_mode_t mode = p->jwks_mode;
    unsigned delay = p->slow_ms;
    pthread_mutex_unlock(&p->lock);

    if (mode == SIM_JWKS_DOWN)
        return respond_text(req, 503, "key set temporarily unavailable\n");
    if (mode == SIM_JWKS_SLOW) {
        sim_server_delay_jwks(p, req, delay);
        return 0;
    }
    return sim_server_send_jwks(p, req);
}

static json_t *stats_json(sim_platform_t *p)
{
    sim_platform_stats_t s;
    sim_platform_get_stats(p, &s);
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "jwks_hits", (json_int_t)s.jwks_hits, "authorize",
                     (json_int_t)s.authorize, "logins", (json_int_t)s.logins, "id_tokens",
                     (json_int_t)s.id_tokens, "deep_linking_responses",
                     (json_int_t)s.deep_linking_responses);
}

static int handle_rotate(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *publish_text = sim_params_get(params, "publish");
    int publish = publish_text == NULL || strcmp(publish_text, "0") != 0;
    char kid[SIM_KID_MAX];
    if (sim_platform_rotate(p, publish, kid, sizeof(kid)) != 0)
        return respond_text(req, 500, "key rotation failed\n");
    return sim_server_respond_json(
        req, 200, json_pack("{s:s,s:b}", "signing_kid", kid, "published_before", publish));
}

static int handle_jwks_mode(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *mode = sim_params_get(params, "mode");
    const char *delay_text = sim_params_get(params, "delay_ms");
    int64_t delay = 0;
    sim_jwks_mode_t m;
    if (mode != NULL && strcmp(mode, "up") == 0)
        m = SIM_JWKS_UP;
    else if (mode != NULL && strcmp(mode, "down") == 0)
        m = SIM_JWKS_DOWN;
    else if (mode != NULL && strcmp(mode, "slow") == 0)
        m = SIM_JWKS_SLOW;
    else
        return respond_text(req, 400, "parameter mode must be up, down or slow\n");
    if (delay_text != NULL &&
        (sim_parse_i64(delay_text, &delay) != 0 || delay < 0 || delay > 600000))
        return respond_text(req, 400, "parameter delay_ms must be 0 to 600000\n");
    sim_platform_set_jwks_mode(p, m, (unsigned)delay);
    return sim_server_respond_json(req, 200, json_pack("{s:s}", "mode", mode));
}

static int handle_next_error(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *error = sim_params_get(params, "error");
    if (error == NULL || sim_platform_set_next_error(p, error) != 0)
        return respond_text(req, 400,
                            "parameter error must be launch_no_longer_valid, "
                            "login_required, invalid_request_object or "
                            "unauthorized_client\n");
    return sim_server_respond_json(req, 200, json_pack("{s:s}", "next_error", error));
}

static int handle_tool(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *jwks = sim_params_get(params, "jwks");
    if (sim_platform_set_tool(p, sim_params_get(params, "login"),
                              sim_params_get(params, "launch")) != 0 ||
        (jwks != NULL && sim_platform_set_tool_jwks(p, jwks) != 0))
        return respond_text(req, 500, "out of memory\n");
    pthread_mutex_lock(&p->lock);
    json_t *doc = json_pack("{s:s,s:s}", "login", p->tool_login, "launch", p->tool_launch);
    pthread_mutex_unlock(&p->lock);
    return sim_server_respond_json(req, 200, doc);
}

/* Writes the received JWT to <state_dir>/last_deep_linking_response.jwt. */
static void save_dl_jwt(const sim_platform_t *p, const char *jwt)
{
    char path[4096];
    if (p->state_dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/last_deep_linking_response.jwt", p->state_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t len = strlen(jwt);
    if (fd < 0 || write(fd, jwt, len) != (ssize_t)len)
        lti_log(LTI_LOG_WARN, "sim", "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* Verifies a response as Canvas does, when the tool's public_jwk_url is
 * known, and keeps the report. Returns the report (new reference) or NULL
 * when verification is off. The key set is fetched without holding the
 * lock. */
static json_t *verify_dl_response(sim_platform_t *p, h2o_req_t *req, const char *jwt)
{
    char path[4096];
    snprintf(path, sizeof(path), "%.*s", (int)req->path.len, req->path.base);

    pthread_mutex_lock(&p->lock);
    char *jwks = p->tool_jwks != NULL ? strdup(p->tool_jwks) : NULL;
    json_t *request = json_incref(json_object_get(p->dl_requests, path));
    char *issuer = strdup(p->issuer), *client_id = strdup(p->client_id);
    char *deployment_id = strdup(p->deployment_id);
    char *tool_url = strdup(p->tool_launch);
    pthread_mutex_unlock(&p->lock);

    json_t *report = NULL;
    if (jwks != NULL) {
        sim_dl_expect_t expect = {
            .issuer = issuer,
            .client_id = client_id,
            .deployment_id = deployment_id,
            .placement = json_string_value(json_object_get(request, "placement")),
            .settings = json_object_get(request, "settings"),
            .tool_url = tool_url,
        };
        report = sim_dl_verify(&expect, jwks, jwt, 5000);
        pthread_mutex_lock(&p->lock);
        json_decref(p->last_dl_result);
        p->last_dl_result = json_incref(report);
        pthread_mutex_unlock(&p->lock);
    }
    json_decref(request);
    free(jwks);
    free(issuer);
    free(client_id);
    free(deployment_id);
    free(tool_url);
    return report;
}

/* POST /courses/<id>/deep_linking_response: records the tool's JWT, and
 * verifies it when the tool's key set URL is known. Like Canvas, a response
 * that fails verification gets HTTP 400 with {"errors": {"jwt": [...]}}. */
static int handle_deep_linking_response(sim_platform_t *p, h2o_req_t *req,
                                        const sim_params_t *params)
{
    const char *jwt = sim_params_get(params, "JWT");
    if (jwt == NULL || jwt[0] == '\0')
        return respond_text(req, 400, "form field JWT is missing\n");
    char *copy = strdup(jwt);
    if (copy == NULL)
        return respond_text(req, 500, "out of memory\n");
    pthread_mutex_lock(&p->lock);
    free(p->last_dl_jwt);
    p->last_dl_jwt = copy;
    p->stats.deep_linking_responses++;
    save_dl_jwt(p, copy);
    pthread_mutex_unlock(&p->lock);
    lti_log(LTI_LOG_INFO, "sim", "deep linking response received (%zu bytes)", strlen(jwt));
    json_t *report = verify_dl_response(p, req, jwt);
    if (report == NULL)
        return respond_text(req, 200, "received\n");
    int valid = json_is_true(json_object_get(report, "valid"));
    const char *kv[] = {"valid", valid ? "true" : "false", "placement",
                        json_string_value(json_object_get(report, "placement")), NULL};
    lti_log_kv(valid ? LTI_LOG_INFO : LTI_LOG_WARN, "sim", "deep linking response verified", kv);
    if (valid)
        return sim_server_respond_json(req, 200, report);
    json_t *body = json_pack("{s:{s:[O]},s:o}", "errors", "jwt", json_object_get(report, "error"),
                             "report", report);
    return sim_server_respond_json(req, 400, body);
}

static int handle_last_dl(sim_platform_t *p, h2o_req_t *req)
{
    pthread_mutex_lock(&p->lock);
    json_t *doc = json_pack("{s:o,s:I,s:O}", "jwt",
                            p->last_dl_jwt != NULL ? json_string(p->last_dl_jwt) : json_null(),
                            "count", (json_int_t)p->stats.deep_linking_responses, "verification",
                            p->last_dl_result != NULL ? p->last_dl_result : json_null());
    pthread_mutex_unlock(&p->lock);
    return sim_server_respond_json(req, 200, doc);
}

static int is_deep_linking_path(h2o_req_t *req)
{
    static const char prefix[] = "/courses/", suffix[] = "/deep_linking_response";
    const char *path = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    if (len <= sizeof(prefix) - 1 + sizeof(suffix) - 1 ||
        memcmp(path, prefix, sizeof(prefix) - 1) != 0 ||
        memcmp(path + len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) != 0)
        return 0;
    for (size_t i = sizeof(prefix) - 1; i < len - (sizeof(suffix) - 1); i++)
        if (path[i] == '/')
            return 0;
    return 1;
}

/* Routes one request. GET-or-POST endpoints read parameters from both the
 * query string and a form body, as Rails does. */
int sim_platform_on_req(sim_platform_t *p, h2o_req_t *req)
{
    int get = method_is(req, "GET"), post = method_is(req, "POST");
    sim_params_t params = {0};
    int rc = 0;

    if (read_params(req, &params) != 0) {
        rc = respond_text(req, 400, "invalid percent-encoding, NUL byte or too many parameters\n");
    } else if (path_is(req, SIM_JWKS_PATH)) {
        rc = get ? handle_jwks(p, req) : respond_text(req, 405, "use GET\n");
    } else if (path_is(req, SIM_AUTHORIZE_PATH) || path_is(req, "/api/lti/authorize")) {
        rc = get || post ? handle_authorize(p, req, &params)
                         : respond_text(req, 405, "use GET or POST\n");
    } else if (sim_storage_route(p->base_url, req, &params, &rc)) {
        /* course page and storage frames (sim_storage.c) */
    } else if (path_is(req, "/sim/launch")) {
        rc = get || post ? handle_launch(p, req, &params)
                         : respond_text(req, 405, "use GET or POST\n");
    } else if (path_is(req, "/sim/stats")) {
        rc = get ? sim_server_respond_json(req, 200, stats_json(p))
                 : respond_text(req, 405, "use GET\n");
    } else if (path_is(req, "/sim/rotate")) {
        rc = post ? handle_rotate(p, req, &params) : respond_text(req, 405, "use POST\n");
    } else if (path_is(req, "/sim/jwks")) {
        rc = post ? handle_jwks_mode(p, req, &params) : respond_text(req, 405, "use POST\n");
    } else if (path_is(req, "/sim/next-error")) {
        rc = post ? handle_next_error(p, req, &params) : respond_text(req, 405, "use POST\n");
    } else if (path_is(req, "/sim/tool")) {
        rc = post ? handle_tool(p, req, &params) : respond_text(req, 405, "use POST\n");
    } else if (path_is(req, "/sim/deep-linking-response")) {
        rc = get ? handle_last_dl(p, req) : respond_text(req, 405, "use GET\n");
    } else if (is_deep_linking_path(req)) {
        rc = post ? handle_deep_linking_response(p, req, &params)
                  : respond_text(req, 405, "use POST\n");
    } else if ((rc = sim_services_on_req(p, req, &params)) == SIM_SVC_UNHANDLED) {
        rc = respond_text(req, 404, "not found\n");
    }
    sim_params_clear(&params);
    return rc;
}

/* ---- in-process control API ------------------------------------------ */

const char *sim_platform_base_url(const sim_platform_t *p)
{
    return p->base_url;
}

uint16_t sim_platform_port(const sim_platform_t *p)
{
    return p->port;
}

const char *sim_platform_issuer(const sim_platform_t *p)
{
    return p->issuer;
}

int sim_platform_set_tool(sim_platform_t *p, const char *login_url, const char *launch_url)
{
    char *login = login_url != NULL ? strdup(login_url) : NULL;
    char *launch = launch_url != NULL ? strdup(launch_url) : NULL;
    if ((login_url != NULL && login == NULL) || (launch_url != NULL && launch == NULL)) {
        free(login);
        free(launch);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    if (login != NULL) {
        free(p->tool_login);
        p->tool_login = login;
    }
    if (launch != NULL) {
        free(p->tool_launch);
        p->tool_launch = launch;
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int sim_platform_rotate(sim_platform_t *p, int publish, char *kid, size_t kid_len)
{
    pthread_mutex_lock(&p->lock);
    int rc = sim_keyring_rotate(&p->keys, publish);
    if (kid != NULL && kid_len > 0)
        snprintf(kid, kid_len, "%s", p->keys.slot[SIM_KEY_PRESENT].kid);
    const char *kv[] = {"kid", p->keys.slot[SIM_KEY_PRESENT].kid, "published_before",
                        publish ? "true" : "false", NULL};
    lti_log_kv(rc == 0 ? LTI_LOG_INFO : LTI_LOG_ERROR, "sim",
               rc == 0 ? "keys rotated" : "key rotation failed", kv);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void sim_platform_set_jwks_mode(sim_platform_t *p, sim_jwks_mode_t mode, unsigned delay_ms)
{
    static const char *const names[] = {"up", "down", "slow"};
    pthread_mutex_lock(&p->lock);
    p->jwks_mode = mode;
    p->slow_ms = delay_ms != 0 ? delay_ms : SIM_DEFAULT_SLOW_MS;
    pthread_mutex_unlock(&p->lock);
    lti_log(LTI_LOG_INFO, "sim", "jwks mode set to %s", names[mode]);
}

int sim_platform_set_next_error(sim_platform_t *p, const char *error)
{
    if (oauth_error_description(error) == NULL)
        return -1;
    pthread_mutex_lock(&p->lock);
    snprintf(p->next_error, sizeof(p->next_error), "%s", error);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void sim_platform_get_stats(sim_platform_t *p, sim_platform_stats_t *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    pthread_mutex_unlock(&p->lock);
}

EVP_PKEY *sim_platform_signing_key(sim_platform_t *p, char *kid, size_t kid_len)
{
    pthread_mutex_lock(&p->lock);
    EVP_PKEY *key = p->keys.slot[SIM_KEY_PRESENT].pkey;
    if (key != NULL)
        EVP_PKEY_up_ref(key);
    if (kid != NULL && kid_len > 0)
        snprintf(kid, kid_len, "%s", p->keys.slot[SIM_KEY_PRESENT].kid);
    pthread_mutex_unlock(&p->lock);
    return key;
}

char *sim_platform_jwks_json(sim_platform_t *p)
{
    pthread_mutex_lock(&p->lock);
    char *jwks = sim_keyring_jwks(&p->keys);
    pthread_mutex_unlock(&p->lock);
    return jwks;
}

json_t *sim_platform_last_deep_linking_result(sim_platform_t *p)
{
    pthread_mutex_lock(&p->lock);
    json_t *report = json_incref(p->last_dl_result);
    pthread_mutex_unlock(&p->lock);
    return report;
}

int sim_platform_set_tool_jwks(sim_platform_t *p, const char *url)
{
    char *copy = url != NULL ? strdup(url) : NULL;
    if (url != NULL && copy == NULL)
        return -1;
    pthread_mutex_lock(&p->lock);
    free(p->tool_jwks);
    p->tool_jwks = copy;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

char *sim_platform_last_deep_linking_jwt(sim_platform_t *p)
{
    pthread_mutex_lock(&p->lock);
    char *jwt = p->last_dl_jwt != NULL ? strdup(p->last_dl_jwt) : NULL;
    pthread_mutex_unlock(&p->lock);
    return jwt;
}
