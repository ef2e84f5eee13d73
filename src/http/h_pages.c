/* SPDX-License-Identifier: MIT */
/*
 * Pages served after a launch: the landing pages for each placement (My
 * Media, Media Gallery, a resource link), the JSON view of the current
 * launch for an app behind ltigate, the stylesheet, and health checks.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "http_int.h"
#include "lti/log.h"
#include "lti/session.h"

/* Reads and verifies the session cookie; sends the rejection and returns
 * NULL when there is no valid session. */
static json_t *require_session(h2o_req_t *req, const char *mod)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    lti_err_t err = {0};
    size_t len = 0;
    const char *value = lti_cookie_get(req, LTI_SESSION_COOKIE, &len);
    if (value == NULL) {
        lti_send_reason(req, mod, LTI_R_session_missing, NULL, NULL);
        return NULL;
    }
    json_t *facts = lti_session_decode(cfg, value, len, (int64_t)time(NULL), &err);
    if (facts == NULL)
        lti_send_reason(req, mod, err.reason, err.msg, NULL);
    return facts;
}

static const char *fact(json_t *facts, const char *key)
{
    const char *s = json_string_value(json_object_get(facts, key));
    return s != NULL ? s : "";
}

static const char *page_title(const char *page)
{
    if (strcmp(page, "/hosted/my-media") == 0)
        return "My Media";
    if (strcmp(page, "/hosted/media-gallery") == 0)
        return "Media Gallery";
    return "Media";
}

void lti_handle_page(h2o_req_t *req, const char *page)
{
    json_t *facts = require_session(req, "page");
    if (facts == NULL)
        return;
    if (lti_wants_json(req)) {
        lti_send_json(req, 200, facts);
        return;
    }
    const char *title = page_title(page);
    const char *course = fact(facts, "context_title");
    char *body = NULL;
    int n = asprintf(&body,
                     "<header><h1>%s</h1></header>\n<main>\n<dl class=\"who\">\n"
                     "<dt>Signed in as</dt><dd id=\"user-id\">%s</dd>\n"
                     "<dt>Name</dt><dd id=\"name\">%s</dd>\n"
                     "<dt>Role</dt><dd id=\"app-role\">%s</dd>\n"
                     "<dt>Course</dt><dd id=\"course\">%s</dd>\n"
                     "<dt>Placement</dt><dd id=\"placement\">%s</dd>\n</dl>\n"
                     "<p class=\"note\">%s</p>\n</main>\n"
                     /* lti-storage.js sends lti.frameResize from here. */
                     "<div id=\"lti-frame\" data-token=\"%s\" hidden></div>"
                     "<script src=\"" LTI_STORAGE_JS_PATH "\" defer></script>",
                     lti_html(req, title), lti_html(req, fact(facts, "user_id")),
                     lti_html(req, fact(facts, "name")), lti_html(req, fact(facts, "app_role")),
                     course[0] != '\0' ? lti_html(req, course) : "(no course)",
                     lti_html(req, json_is_string(json_object_get(facts, "placement"))
                                       ? fact(facts, "placement")
                                       : "none"),
                     strcmp(page, "/hosted/my-media") == 0
                         ? "Your personal media library."
                         : strcmp(page, "/hosted/media-gallery") == 0
                               ? "Media shared with this course."
                               : "The media linked from this course item.",
                     lti_html(req, fact(facts, "post_message_token")));
    json_decref(facts);
    if (n < 0) {
        lti_send_reason(req, "page", LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    h2o_iovec_t copy = h2o_strdup(&req->pool, body, (size_t)n);
    free(body);
    lti_send_page(req, 200, title, copy.base);
}

void lti_handle_launch_context(h2o_req_t *req)
{
    json_t *facts = require_session(req, "context");
    if (facts != NULL)
        lti_send_json(req, 200, facts);
}

/* A /readyz request waiting for the store's PING reply. */
typedef struct readiness {
    h2o_req_t *req;
} readiness_t;

static void send_readiness(h2o_req_t *req, int store_ok)
{
    lti_app_t *app = lti_thread_of(req)->app;
    json_t *body = json_object();
    lti_jwks_stats_t stats;
    int ready = app->cfg->private_key != NULL && store_ok;

    lti_jwks_cache_stats(app->jwks, &stats);
    json_object_set_new(body, "status", json_string(ready ? "ok" : "not ready"));
    json_object_set_new(body, "config", json_true());
    json_object_set_new(body, "tool_key", json_boolean(app->cfg->private_key != NULL));
    json_object_set_new(body, "store", json_boolean(store_ok));
    json_object_set_new(body, "store_backend", json_string(app->cfg->store_backend));
    json_object_set_new(body, "platform_keys", json_boolean(stats.has_keys));
    lti_send_json(req, ready ? 200 : 503, body);
}

static void on_store_ping(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    readiness_t *self = arg;
    send_readiness(self->req, reason == LTI_R_ok);
}

/* /healthz: the process runs and its loop responds. /readyz: the config
 * and tool key are loaded and the store replies to a ping (a PING round
 * trip for Redis, bounded by store.commandTimeout). A load balancer that
 * checks /readyz takes an instance out of rotation while its store is
 * unreachable. */
void lti_handle_health(h2o_req_t *req, int ready)
{
    lti_store_t *store = lti_thread_of(req)->app->store;

    if (!ready) {
        json_t *body = json_object();
        json_object_set_new(body, "status", json_string("ok"));
        lti_send_json(req, 200, body);
        return;
    }
    if (store->ops->ping == NULL) {
        send_readiness(req, 1);
        return;
    }
    readiness_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    self->req = req;
    store->ops->ping(store, on_store_ping, self);
}
