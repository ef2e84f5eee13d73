/* SPDX-License-Identifier: MIT */
/*
 * The tool's published documents: the JWK set at /hosted/index/jwks
 * (Canvas fetches it on every deep-linking response) and the developer-key
 * JSON page for the Canvas admin. Both are built once at start (lti/tool.h)
 * and served from memory.
 */
#include <string.h>
#include "http_int.h"
#include "lti/tool.h"

static int is_get(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

void lti_handle_tool_jwks(h2o_req_t *req)
{
    const lti_tool_t *tool = lti_thread_of(req)->app->tool;

    if (!is_get(req)) {
        lti_send_method_not_allowed(req, "keys", "GET");
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    /* Short, so that a rotation reaches platforms that cache the set. */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("public, max-age=3600"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_send_inline(req, tool->jwks_json, tool->jwks_len);
}

/* GET /canvas/config/create-json-for-instance: the JSON alone for
 * Accept: application/json or ?format=json, else a page with the JSON and
 * the redirect URIs to paste. */
void lti_handle_devkey(h2o_req_t *req)
{
    lti_app_t *app = lti_thread_of(req)->app;
    const char *json = app->tool->devkey_json;

    if (!is_get(req)) {
        lti_send_method_not_allowed(req, "devkey", "GET");
        return;
    }
    int want_json = lti_wants_json(req);
    if (req->query_at != SIZE_MAX) {
        h2o_iovec_t q = h2o_iovec_init(req->path.base + req->query_at + 1,
                                       req->path.len - req->query_at - 1);
        want_json = want_json || h2o_memis(q.base, q.len, H2O_STRLIT("format=json"));
    }
    if (want_json) {
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
        h2o_send_inline(req, json, strlen(json));
        return;
    }
    const char *launch = lti_html(req, app->cfg->launch_url);
    const char *body_json = lti_html(req, json);
    h2o_iovec_t body = h2o_concat(
        &req->pool,
        h2o_iovec_init(H2O_STRLIT("<header><h1>Canvas developer key</h1></header>\n<main>\n"
                                  "<p>In Canvas: Admin, Developer Keys, + Developer Key, + LTI "
                                  "Key. Choose Method: Paste JSON and paste the JSON below.</p>\n"
                                  "<h2>Redirect URIs</h2>\n<pre id=\"redirect-uris\">")),
        h2o_iovec_init(launch, strlen(launch)),
        h2o_iovec_init(H2O_STRLIT("</pre>\n<h2>LTI 1.3 configuration (JSON)</h2>\n"
                                  "<pre id=\"devkey-json\">")),
        h2o_iovec_init(body_json, strlen(body_json)),
        h2o_iovec_init(H2O_STRLIT("</pre>\n<p class=\"note\">Then save the key, switch it on, "
                                  "copy its Client ID into lti13ClientID and install the tool "
                                  "by Client ID in the account or course.</p>\n</main>")));
    lti_send_page(req, 200, "Canvas developer key", body.base);
}
