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
#include "lti/deeplink.h"
#include "lti/log.h"
#include "lti/session.h"
#include "lti/tool.h"

/* Reads and verifies the session (cookie, else token); sends the rejection
 * and returns NULL when there is no valid session. Sets *token to the
 * session token when the session came by token, else NULL. */
static json_t *require_session(h2o_req_t *req, const char *mod, const char **token)
{
    lti_req_session_t session;
    if (lti_request_session(req, mod, NULL, &session) != 0)
        return NULL;
    if (token != NULL)
        *token = session.token;
    return session.facts;
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

/* The catalog's entries as links to the player. A page served by session
 * token carries the token in each link, because this browser returns no
 * cookie. */
static const char *media_links(h2o_req_t *req, const char *token)
{
    const lti_catalog_t *catalog = lti_thread_of(req)->app->tool->catalog;
    h2o_iovec_t html = h2o_iovec_init(H2O_STRLIT(""));
    if (catalog->n == 0)
        return "";
    html = h2o_concat(&req->pool, html, h2o_iovec_init(H2O_STRLIT("<ul class=\"media\">\n")));
    for (size_t i = 0; i < catalog->n; i++) {
        char url[128];
        snprintf(url, sizeof(url), LTI_PLAYER_PATH "?entry=%s", catalog->entries[i].id);
        const char *href = lti_html(req, lti_link_with_token(req, url, LTI_SESSION_TOKEN_PARAM,
                                                             token));
        const char *title = lti_html(req, catalog->entries[i].title);
        html = h2o_concat(&req->pool, html, h2o_iovec_init(H2O_STRLIT("<li><a href=\"")),
                          h2o_iovec_init(href, strlen(href)), h2o_iovec_init(H2O_STRLIT("\">")),
                          h2o_iovec_init(title, strlen(title)),
                          h2o_iovec_init(H2O_STRLIT("</a></li>\n")));
    }
    return h2o_concat(&req->pool, html, h2o_iovec_init(H2O_STRLIT("</ul>\n"))).base;
}

void lti_handle_page(h2o_req_t *req, const char *page)
{
    const char *token = NULL;
    json_t *facts = require_session(req, "page", &token);
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
                     "<p class=\"note\">%s</p>\n%s</main>\n"
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
                     media_links(req, token), lti_html(req, fact(facts, "post_message_token")));
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
    json_t *facts = require_session(req, "context", NULL);
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
