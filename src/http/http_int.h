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
/* Maximum parameter value length. Twice LTI_JWT_MAX_TOKEN, so an over-long id_token
 * reaches the launch handler and is rejected there as token_too_large. */
#define LTI_PARAM_MAX_LEN 32768

/* One per event loop thread; reachable from a request through its context. */
typedef struct lti_thread {
    h2o_context_t ctx;     /* must be first: requests carry &ctx */
    lti_app_t *app;
    h2o_multithread_receiver_t jwks_receiver;
    h2o_multithread_receiver_t svc_receiver; /* finished platform service calls */
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
/* Sends 405 method_not_allowed with an Allow header listing `allow`
 * (RFC 9110 §15.5.6), for example "GET, POST". */
void lti_send_method_not_allowed(h2o_req_t *req, const char *mod, const char *allow);

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

/* Deep linking and the tool's published documents (h_deeplink.c,
 * h_tool_keys.c). lti_route_tool serves the request and returns 1 when the
 * path is one of theirs. */
int lti_route_tool(h2o_req_t *req);
void lti_handle_tool_jwks(h2o_req_t *req);
void lti_handle_devkey(h2o_req_t *req);
void lti_handle_dl_picker(h2o_req_t *req);
void lti_handle_dl_choose(h2o_req_t *req);
void lti_handle_dl_api(h2o_req_t *req);
void lti_handle_player(h2o_req_t *req);
struct lti_launch;
struct lti_dl_settings;
/* Returns the page a valid launch lands on instead of the default one: the
 * picker for deep linking (after setting the selection cookie and adding
 * dl_id and csrf_token to `facts`), the player for a resource link that
 * names a media entry, or NULL. Sets *reason when the selection cannot be
 * kept. */
const char *lti_dl_landing(h2o_req_t *req, const struct lti_launch *launch,
                           const struct lti_dl_settings *settings, json_t *facts,
                           lti_reason_t *reason);

/* Platform services (h_services.c). `rest` is the path after /hosted/api/canvas/. */
void lti_handle_quiz_page(h2o_req_t *req);
void lti_handle_quiz_submit(h2o_req_t *req);
void lti_handle_score_api(h2o_req_t *req);
void lti_handle_lineitems(h2o_req_t *req);
void lti_handle_results(h2o_req_t *req);
void lti_handle_roster(h2o_req_t *req);
void lti_handle_canvas_authorize(h2o_req_t *req);
void lti_handle_canvas_callback(h2o_req_t *req);
void lti_handle_canvas_api(h2o_req_t *req, const char *rest);

/* LTI Platform Storage (h_storage.c, static_js.c): login and launch in a
 * frame whose cookies the browser drops. */
#define LTI_STORAGE_JS_PATH "/hosted/static/lti-storage.js"
#define LTI_STORAGE_COMPLETE_PATH "/hosted/index/storage-complete"
#define LTI_STORAGE_PROBE_COOKIE "ltigate_probe"
extern const char lti_storage_js[];
/* Returns 1 for "_parent" or a frame name of 1 to 64 [A-Za-z0-9_-]. */
int lti_storage_target_valid(const char *target, size_t len);
typedef struct lti_storage_login {
    const lti_platform_cfg_t *platform;
    const char *target;         /* lti_storage_target */
    h2o_iovec_t auth_url;       /* platform's authentication URL with all parameters */
    const char *state, *nonce;
    const char *new_window_url; /* this login without lti_storage_target */
} lti_storage_login_t;
/* Sends the login page that stores state and nonce in platform storage. */
void lti_storage_send_login_page(h2o_req_t *req, const lti_storage_login_t *in);
/* Keeps a verified launch for the completion step and sends the page that
 * reads the state back from platform storage. */
void lti_storage_begin_completion(h2o_req_t *req, lti_store_t *store,
                                  const lti_platform_cfg_t *platform, size_t platform_index,
                                  const char *target, const char *state, const char *nonce,
                                  const char *page, const char *session_cookie);
void lti_handle_storage_complete(h2o_req_t *req);
void lti_handle_storage_js(h2o_req_t *req);

/* The session of a request (session_req.c): the session cookie, or only
 * when no session cookie came, the session token of parameter
 * LTI_SESSION_TOKEN_PARAM. */
#define LTI_SESSION_TOKEN_PARAM "session_token"
#define LTI_SELECTION_TOKEN_PARAM "selection_token"
#define LTI_SESSION_CHECK_PATH "/hosted/index/session-check"
typedef struct lti_req_session {
    json_t *facts;          /* new reference, for the caller to release */
    const char *credential; /* the cookie value or the token; CSRF tokens bind to it */
    size_t credential_len;
    const char *token;      /* the token when the session came by token, else NULL; pages put
                               it into their links and forms */
} lti_req_session_t;
/* Reads the session from the cookie, else from the token in `params` (the
 * parsed query or form) or, when `params` is NULL, in the query string.
 * Sends the rejection and returns -1 when there is no valid session. */
int lti_request_session(h2o_req_t *req, const char *mod, const lti_form_t *params,
                        lti_req_session_t *out);
/* Returns `url` with `name`=`token` added to its query when `token` is not
 * NULL, else `url` itself. */
const char *lti_link_with_token(h2o_req_t *req, const char *url, const char *name,
                                const char *token);
/* GET /hosted/index/session-check: {"cookie": true} when the session cookie
 * came with the request and verifies. */
void lti_handle_session_check(h2o_req_t *req);

/* Delivers finished JWKS fetches to waiting launches on this thread. */
void lti_launch_on_jwks_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
