/* SPDX-License-Identifier: MIT */
/*
 * LTI Advantage services and the Canvas REST API, called from the tool:
 * service access tokens (client_credentials with an RFC 7523 client
 * assertion), Assignment and Grade Services, Names and Role Provisioning,
 * and calls with a per-user Canvas OAuth2 token.
 *
 * Every outbound call runs on one worker thread that drives a libcurl multi
 * handle, so calls overlap and no event loop waits on the network. A caller
 * fills an lti_svc_call_t, submits it, and gets it back on its own loop
 * thread through an h2o multithread message: the loop registers
 * lti_services_on_messages as a receiver, and each call's on_done runs there.
 *
 * Token policy: one cache entry per (registration, sorted scope set), used
 * until 60 s before its expiry; one token request in flight per entry, with
 * every other call for that entry waiting for it; a call that gets 401 drops
 * the token and is sent once more with a fresh one.
 */
#ifndef LTI_SERVICES_H
#define LTI_SERVICES_H

#include <stddef.h>
#include <stdint.h>
#include <h2o/multithread.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "lti/config.h"
#include "lti/err.h"

#define LTI_SCOPE_LINEITEM "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
#define LTI_SCOPE_LINEITEM_RO "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
#define LTI_SCOPE_RESULT_RO "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
#define LTI_SCOPE_SCORE "https://purl.imsglobal.org/spec/lti-ags/scope/score"
#define LTI_SCOPE_NRPS \
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

#define LTI_MT_LINEITEM "application/vnd.ims.lis.v2.lineitem+json"
#define LTI_MT_LINEITEMS "application/vnd.ims.lis.v2.lineitemcontainer+json"
#define LTI_MT_SCORE "application/vnd.ims.lis.v1.score+json"
#define LTI_MT_RESULTS "application/vnd.ims.lis.v2.resultcontainer+json"
#define LTI_MT_MEMBERSHIP "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

#define LTI_CLAIM_AGS "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#define LTI_CLAIM_NRPS "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

#define LTI_SVC_TOKEN_MARGIN 60      /* seconds before expiry a cached token is dropped */
#define LTI_SVC_ASSERTION_LIFETIME 300 /* seconds from iat to exp of a client assertion */
#define LTI_SVC_MAX_RESPONSE (1024 * 1024)
#define LTI_SVC_MAX_TOKEN_RESPONSE (64 * 1024)
#define LTI_SVC_MAX_URL 2048
#define LTI_SVC_MAX_PAGES 100        /* NRPS pages followed for one roster */

typedef struct lti_services lti_services_t;
typedef struct lti_svc_call lti_svc_call_t;

struct lti_svc_call {
    h2o_multithread_message_t super;       /* must be first: the message sent back */
    h2o_multithread_receiver_t *receiver;  /* the submitting loop thread's receiver */
    void (*on_done)(lti_svc_call_t *call); /* runs on that thread; it frees the call */
    void *data;                            /* the caller's */

    /* Request; strings are owned by the call (lti_svc_call_free). */
    size_t platform;   /* index into cfg->platforms */
    char *scopes;      /* space-separated; NULL sends no service token */
    char *bearer;      /* with scopes NULL: an Authorization: Bearer value (Canvas REST) */
    char *method;      /* "GET" or "POST" */
    char *url;
    char *accept;      /* NULL = application/json */
    char *content_type;
    char *body;
    size_t body_len;
    const char *what;  /* label for the log, such as "ags.score" (static string) */

    /* Result, filled before on_done. */
    lti_reason_t reason; /* ok for any 2xx response within the caps */
    long status;         /* HTTP status of the last response, 0 without one */
    char *response;      /* body, NUL-terminated, NULL when empty */
    size_t response_len;
    char *next_url;      /* Link: <...>; rel="next", NULL when absent */
    long elapsed_ms;
    int sends;           /* times the request was sent (2 after a 401 retry) */
    char msg[256];       /* log detail of a failure, which contains no token or secret */

    /* Private to the worker thread. */
    int retried;
    int waiting;
    lti_svc_call_t *next_waiter;
    char *token;         /* the access token this call was sent with */
    double started;
};

typedef struct lti_svc_stats {
    unsigned long token_requests;   /* POSTs to a token endpoint */
    unsigned long token_failures;
    unsigned long token_cache_hits; /* calls served by a cached token */
    unsigned long calls;            /* service calls sent, retries included */
    unsigned long retries_401;
} lti_svc_stats_t;

/* Creates the services for `cfg` and starts the worker thread. Reads the
 * secret files the config names (canvas.customAppKeyFile,
 * hosted.scoreApiSecretFile) and the quiz answer keys of the media catalog.
 * Returns NULL with a message in `errbuf`. The config must outlive it. */
lti_services_t *lti_services_new(const lti_config_t *cfg, char *errbuf, size_t errlen);
/* Stops the worker; calls still in flight are dropped without on_done. */
void lti_services_free(lti_services_t *svc);

/* Makes a call with copies of the strings; NULL on allocation failure. */
lti_svc_call_t *lti_svc_call_new(size_t platform, const char *method, const char *url,
                                 const char *scopes, const char *what);
/* Copies a request body and its media type. Returns 0 or -1. */
int lti_svc_call_set_body(lti_svc_call_t *call, const char *content_type, const char *body,
                          size_t len);
void lti_svc_call_free(lti_svc_call_t *call);

/* Queues the call. receiver and on_done must be set. The URL is checked
 * first (https, or http to a loopback host when the registration has
 * allowHttpLoopback); a refused URL completes with service_url_invalid. */
void lti_svc_submit(lti_services_t *svc, lti_svc_call_t *call);

/* The h2o receiver callback: runs on_done of each finished call. */
void lti_services_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

void lti_services_stats(lti_services_t *svc, lti_svc_stats_t *out);

/* The loaded quiz answer keys (mediaCatalogFile), a JSON object of entry id
 * to quiz; borrowed, never NULL. */
json_t *lti_services_quizzes(lti_services_t *svc);
/* canvas.customAppKeyFile contents, NULL when not configured. Sent only to
 * the Canvas token endpoint. */
const char *lti_services_canvas_app_key(lti_services_t *svc);
/* Checks an Authorization header value against "Bearer " + the secret of
 * hosted.scoreApiSecretFile in constant time. 0 when no secret is set. */
int lti_services_score_auth_ok(lti_services_t *svc, const char *header, size_t len);

/* ---- pieces, exported for tests ---------------------------------------- */

/* Builds and signs the client assertion for the registration's token URL:
 * header {"alg":"RS256","typ":"JWT","kid": thumbprint of the tool key};
 * iss = sub = client_id, aud = token_url exactly, iat = now,
 * exp = now + LTI_SVC_ASSERTION_LIFETIME, jti = 128 random bits in hex
 * (copied to `jti` when not NULL, 33 bytes). Returns a malloc'd JWS. */
char *lti_svc_client_assertion(const lti_config_t *cfg, const lti_platform_cfg_t *platform,
                               int64_t now, char *jti);

/* Writes the scope set of a space-separated list sorted and without
 * duplicates, joined by single spaces. Returns 0, or -1 when it does not
 * fit or has no scope. */
int lti_svc_scope_key(const char *scopes, char *out, size_t outlen);

/* Returns 1 when `url` may be called for `platform`: an https URL, or http
 * with a loopback host when allowHttpLoopback is set; no user info, no
 * fragment, at most LTI_SVC_MAX_URL bytes. */
int lti_svc_url_allowed(const lti_platform_cfg_t *platform, const char *url);

/* Returns "{lineitem}/scores" with "/scores" placed before any query
 * string (malloc'd), or NULL. The same for "/results" with `suffix`. */
char *lti_ags_child_url(const char *lineitem, const char *suffix);

/* Builds an AGS score: userId, scoreGiven, scoreMaximum, activityProgress,
 * gradingProgress, timestamp (ISO-8601 with milliseconds, UTC) and an
 * optional comment. Returns a new object. */
json_t *lti_ags_score(const char *user_id, double given, double maximum, const char *activity,
                      const char *grading, const char *comment, int64_t now_ms);
/* Returns 1 for the AGS activityProgress and gradingProgress values. */
int lti_ags_activity_valid(const char *s);
int lti_ags_grading_valid(const char *s);

/* Reads one NRPS page (strict JSON, at most LTI_SVC_MAX_RESPONSE bytes)
 * and appends each member to `out` as {user_id, status, roles, app_role,
 * name, email}, app_role from the roles table. Returns LTI_R_ok or
 * service_response_invalid. */
lti_reason_t lti_nrps_append_page(const lti_config_t *cfg, const char *body, size_t len,
                                  json_t *out, lti_err_t *err);

/* Returns the URL of rel="next" in a Link header value (malloc'd), or NULL. */
char *lti_link_next(const char *value, size_t len);

/* Reads the quiz answer keys from a catalog document {"entries": [{"id",
 * "quiz": {"questions": [{"id", "text", "choices", "answer", "points"}]}}]}.
 * Entries without a quiz are skipped. Returns a new object of entry id to
 * quiz, or NULL with a message in `errbuf`. */
json_t *lti_quiz_load(json_t *catalog, char *errbuf, size_t errlen);
/* Grades answers against a quiz: `answer(arg, question_id)` returns the
 * chosen value or NULL. *given is the sum of the points of correct answers
 * and *maximum the sum of all points. Returns LTI_R_ok or param_missing
 * when a question has no answer. */
lti_reason_t lti_quiz_grade(json_t *quiz, const char *(*answer)(void *arg, const char *qid),
                            void *arg, double *given, double *maximum, lti_err_t *err);

/* The CSRF token of a session: base64url(HMAC-SHA256(session secret,
 * "svc-csrf:" cookie value)), 43 characters and a NUL. */
void lti_svc_csrf_token(const lti_config_t *cfg, const char *cookie, size_t len, char out[44]);
int lti_svc_csrf_check(const lti_config_t *cfg, const char *cookie, size_t len,
                       const char *token);

#endif
