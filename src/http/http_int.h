/* SPDX-License-Identifier: MIT */
/*
 * Private to src/http: the per-thread context, request helpers (strict form
 * parsing, cookies, responses with reason codes) and the handlers.
 */
#ifndef LTI_HTTP_INT_H
#define LTI_HTTP_INT_H

#include <h2o.h>
#include <jansson.h>
#include "lti/app.h"
#include "lti/err.h"

#define LTI_FORM_MAX_PARAMS 64
#define LTI_PARAM_MAX_LEN 16384 /* longest value: an id_token */

/* One per event loop thread; reachable from a request through its context. */
typedef struct lti_thread {
    h2o_context_t ctx;     /* must be first: requests carry &ctx */
    lti_app_t *app;
    h2o_multithread_receiver_t jwks_receiver;
} lti_thread_t;

static inline lti_thread_t *lti_thread_of(h2o_req_t *req)
{
    return (lti_thread_t *)req->conn->ctx;
}

typedef struct lti_param {
    const char *name;
    const char *value; /* NUL-terminated, decoded, in the request pool */
    size_t len;
} lti_param_t;

typedef struct lti_form {
    lti_param_t params[LTI_FORM_MAX_PARAMS];
    size_t n;
} lti_form_t;

/* Parses application/x-www-form-urlencoded bytes strictly: %XX must be two
 * hex digits, a decoded NUL is rejected, at most LTI_FORM_MAX_PARAMS
 * parameters, names up to 64 bytes, values up to LTI_PARAM_MAX_LEN. Returns
 * LTI_R_ok or param_invalid / param_too_long. */
lti_reason_t lti_form_parse(h2o_mem_pool_t *pool, const char *buf, size_t len, lti_form_t *form,
                            lti_err_t *err);
/* Returns the value of `name`, or NULL. Sets *dup when it occurs twice. */
const char *lti_form_get(const lti_form_t *form, const char *name, size_t *len, int *dup);

/* Reads the request's parameters: the query string for GET, the body for
 * POST (which must be application/x-www-form-urlencoded, optionally with
 * charset=utf-8). */
lti_reason_t lti_request_params(h2o_req_t *req, lti_form_t *form, lti_err_t *err);

/* Finds cookie `name` in the Cookie headers; returns its value in the pool. */
const char *lti_cookie_get(h2o_req_t *req, const char *name, size_t *len);

/* Appends a Set-Cookie header. */
void lti_set_cookie(h2o_req_t *req, const char *name, const char *value, const char *path,
                    long max_age);

/* Adds the headers every ltigate page carries (no caching, nosniff,
 * referrer policy, content security policy). */
void lti_add_page_headers(h2o_req_t *req);

/* Sends the error page or JSON body for `reason`, with an X-LTI-Reason
 * header, and writes one log line with the fields in `kv` (key, value
 * pairs, NULL-terminated) plus the detail message. */
void lti_send_reason(h2o_req_t *req, const char *mod, lti_reason_t reason, const char *detail,
                     const char *const *kv);

/* Sends a 200 text/html page: `title` and `body_html` (already escaped). */
void lti_send_page(h2o_req_t *req, int status, const char *title, const char *body_html);

/* Sends a 200 JSON body (takes the reference to `body`). */
void lti_send_json(h2o_req_t *req, int status, json_t *body);

/* Sends a redirect to `url` keeping the headers already added (h2o's own
 * h2o_send_redirect drops them, and with them the Set-Cookie headers). */
void lti_send_redirect(h2o_req_t *req, int status, const char *url);

/* Returns 1 when the client prefers JSON (Accept contains application/json). */
int lti_wants_json(h2o_req_t *req);

/* HTML-escapes into the request pool. */
const char *lti_html(h2o_req_t *req, const char *s);

/* Handlers. */
void lti_handle_login(h2o_req_t *req);
void lti_handle_launch(h2o_req_t *req);
void lti_handle_page(h2o_req_t *req, const char *page);
void lti_handle_launch_context(h2o_req_t *req);
void lti_handle_health(h2o_req_t *req, int ready);

/* Delivers finished JWKS fetches to waiting launches on this thread. */
void lti_launch_on_jwks_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
