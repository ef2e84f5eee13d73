/* SPDX-License-Identifier: MIT */
/*
 * The session of a request: the session cookie, or, only when the request
 * carries no session cookie, a session token (lti/session.h) in the
 * session_token parameter. Browsers that drop even partitioned cookies in
 * the platform's frame get the token from the completion page of a
 * platform storage launch, and every page served by token carries the same
 * token in its links and forms.
 */
#include <string.h>
#include <time.h>
#include "http_int.h"
#include "lti/log.h"
#include "lti/session.h"

/* Finds `name` in `params`, or in the query string when `params` is NULL.
 * Returns NULL when absent; sets *dup when it occurs twice. */
static const char *param_of(h2o_req_t *req, const lti_form_t *params, const char *name,
                            size_t *len, int *dup)
{
    lti_err_t err = {0};
    if (params == NULL) {
        lti_form_t *query = h2o_mem_alloc_pool(&req->pool, sizeof(*query));
        query->n = 0;
        if (req->query_at != SIZE_MAX &&
            lti_form_parse(&req->pool, req->path.base + req->query_at + 1,
                           req->path.len - req->query_at - 1, query, &err) != LTI_R_ok)
            return NULL;
        params = query;
    }
    return lti_form_get(params, name, len, dup);
}

static int has_cookie_header(h2o_req_t *req)
{
    return h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1) >= 0;
}

int lti_request_session(h2o_req_t *req, const char *mod, const lti_form_t *params,
                        lti_req_session_t *out)
{
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    lti_err_t err = {0};
    size_t len = 0;
    int dup = 0;

    memset(out, 0, sizeof(*out));
    const char *value = lti_cookie_get(req, LTI_SESSION_COOKIE, &len);
    if (value != NULL) {
        out->facts = lti_session_decode(cfg, value, len, (int64_t)time(NULL), &err);
    } else {
        value = param_of(req, params, LTI_SESSION_TOKEN_PARAM, &len, &dup);
        if (value == NULL) {
            lti_send_reason(req, mod, LTI_R_session_missing, NULL, NULL);
            return -1;
        }
        if (dup) {
            lti_send_reason(req, mod, LTI_R_param_duplicate, "session_token sent twice", NULL);
            return -1;
        }
        out->facts = lti_session_token_open(cfg, LTI_SESSION_TOKEN_SESSION, value, len,
                                            (int64_t)time(NULL), &err);
        if (out->facts != NULL) {
            out->token = value;
            /* Shows an admin how often the fallback is used; never the token. */
            const char *kv[] = {"session_source", "token", "cookie_header",
                                has_cookie_header(req) ? "present" : "absent", NULL};
            lti_log_kv(LTI_LOG_INFO, mod, NULL, kv);
        }
    }
    if (out->facts == NULL) {
        lti_send_reason(req, mod, err.reason, err.msg, NULL);
        return -1;
    }
    out->credential = value;
    out->credential_len = len;
    return 0;
}

const char *lti_link_with_token(h2o_req_t *req, const char *url, const char *name,
                                const char *token)
{
    if (token == NULL)
        return url;
    const char *sep = strchr(url, '?') != NULL ? "&" : "?";
    /* Tokens are base64url, so they need no percent-encoding. */
    return h2o_concat(&req->pool, h2o_iovec_init(url, strlen(url)),
                      h2o_iovec_init(sep, 1), h2o_iovec_init(name, strlen(name)),
                      h2o_iovec_init(H2O_STRLIT("=")), h2o_iovec_init(token, strlen(token)))
        .base;
}
