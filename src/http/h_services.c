/* SPDX-License-Identifier: MIT */
/*
 * Endpoints that call the platform (lti/services.h):
 *
 *   GET  /hosted/quiz?entry=ID        quiz questions of an entry, with the CSRF token
 *   POST /hosted/quiz/submit          grade the answers on the server, post the score (AGS)
 *   POST /hosted/api/scores           an app behind ltigate posts a score (bearer secret)
 *   GET  /hosted/api/lineitems        line items of the launch's course (AGS)
 *   POST /hosted/api/lineitems        create a line item (session + CSRF)
 *   GET  /hosted/api/results          results of a line item of the course (AGS)
 *   GET  /hosted/api/roster           course members over every NRPS page, roles mapped
 *   GET  /hosted/canvas/authorize     start the Canvas OAuth2 flow for this user
 *   GET  /hosted/canvas/oauth-callback  exchange the code, store the user's tokens
 *   GET  /hosted/api/canvas/courses[/ID], /hosted/api/canvas/profile  Canvas REST calls
 *
 * Each request that waits for the platform keeps an op_t on the heap; the
 * request pool only holds a pointer to it, so a client that goes away while
 * a call is in flight leaves the op to be freed when the call comes back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "http_int.h"
#include "lti/jwt.h"
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/services.h"
#include "lti/session.h"

#define CANVAS_TOKEN_TTL (14 * 86400) /* seconds a user's Canvas tokens stay in the store */
#define CANVAS_RECORD_MAX 8192
#define SCORE_BODY_MAX 8192

typedef struct op op_t;
typedef void (*op_step_fn)(op_t *self, lti_svc_call_t *call);

struct op {
    h2o_req_t *req;      /* NULL once the request was disposed */
    lti_app_t *app;
    h2o_multithread_receiver_t *receiver;
    json_t *facts;       /* the session, or NULL (score API) */
    size_t platform;
    op_step_fn step;     /* what to do with the next finished call */
    int busy;            /* a call or store operation is under way */
    const char *mod;
    /* roster */
    json_t *members;
    int pages;
    /* quiz */
    double given, maximum;
    /* Canvas REST */
    char store_key[72];  /* "ct:" and 64 hex digits */
    json_t *record;      /* the user's Canvas tokens */
    char *rest_url;
    char *state;
};

typedef struct op_ref {
    op_t *op;
} op_ref_t;

static void op_free(op_t *self)
{
    json_decref(self->facts);
    json_decref(self->members);
    if (self->record != NULL) {
        json_object_clear(self->record);
        json_decref(self->record);
    }
    free(self->rest_url);
    free(self->state);
    free(self);
}

static void on_op_dispose(void *p)
{
    op_ref_t *ref = p;
    op_t *self = ref->op;
    if (self == NULL)
        return;
    self->req = NULL;
    if (!self->busy)
        op_free(self);
}

static op_t *op_new(h2o_req_t *req, const char *mod)
{
    lti_thread_t *thread = lti_thread_of(req);
    op_t *self = calloc(1, sizeof(*self));
    op_ref_t *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_op_dispose);
    if (self == NULL) {
        ref->op = NULL;
        return NULL;
    }
    ref->op = self;
    self->req = req;
    self->app = thread->app;
    self->receiver = &thread->svc_receiver;
    self->mod = mod;
    return self;
}

static void reject(op_t *self, lti_reason_t reason, const char *detail)
{
    const char *kv[] = {"user_id", json_string_value(json_object_get(self->facts, "user_id")),
                        "context_id",
                        json_string_value(json_object_get(self->facts, "context_id")), NULL};
    lti_send_reason(self->req, self->mod, reason, detail, kv);
}

/* The call came back: free it and the op when the request is gone, else
 * run the current step. */
static void on_call_done(lti_svc_call_t *call)
{
    op_t *self = call->data;
    self->busy = 0;
    if (self->req == NULL) {
        lti_svc_call_free(call);
        op_free(self);
        return;
    }
    self->step(self, call);
    lti_svc_call_free(call);
}

static void submit(op_t *self, lti_svc_call_t *call, op_step_fn step)
{
    call->receiver = self->receiver;
    call->on_done = on_call_done;
    call->data = self;
    self->step = step;
    self->busy = 1;
    lti_svc_submit(self->app->services, call);
}

/* ---- session helpers ------------------------------------------------------ */

/* Verifies the session (cookie, else token in `params` or the query);
 * sends the rejection and returns NULL without one. The credential (cookie
 * value or token) is returned for the CSRF check, and *token is the token
 * when the session came by token. */
static json_t *session_of(h2o_req_t *req, const char *mod, const lti_form_t *params,
                          const char **cookie, size_t *len, const char **token)
{
    lti_req_session_t session;
    if (lti_request_session(req, mod, params, &session) != 0)
        return NULL;
    if (cookie != NULL) {
        *cookie = session.credential;
        *len = session.credential_len;
    }
    if (token != NULL)
        *token = session.token;
    return session.facts;
}

static const char *fact(json_t *facts, const char *key)
{
    return json_string_value(json_object_get(facts, key));
}

/* Finds the registration the session came from. */
static int platform_of(const lti_config_t *cfg, json_t *facts, size_t *index)
{
    int ambiguous = 0;
    const lti_platform_cfg_t *p =
        lti_config_find_platform(cfg, fact(facts, "iss"), fact(facts, "client_id"), &ambiguous);
    if (p == NULL)
        return -1;
    *index = (size_t)(p - cfg->platforms);
    return 0;
}

/* Instructors and every role above them in roles.order manage grades and
 * see the roster; without an "instructor" role only the top role does. */
static int is_staff(const lti_config_t *cfg, const char *role)
{
    size_t mine = SIZE_MAX, bar = cfg->n_app_role_order > 0 ? cfg->n_app_role_order - 1 : 0;
    for (size_t i = 0; role != NULL && i < cfg->n_app_role_order; i++) {
        if (strcmp(cfg->app_role_order[i], role) == 0)
            mine = i;
        if (strcmp(cfg->app_role_order[i], "instructor") == 0)
            bar = i;
    }
    return mine != SIZE_MAX && mine >= bar;
}

/* Starts an op for a session request: session, registration, optional
 * staff check, optional CSRF check of form field "csrf". */
static op_t *session_op(h2o_req_t *req, const char *mod, int staff, const lti_form_t *form)
{
    lti_app_t *app = lti_thread_of(req)->app;
    const char *cookie = NULL;
    size_t cookie_len = 0, pidx = 0;
    json_t *facts = session_of(req, mod, form, &cookie, &cookie_len, NULL);
    if (facts == NULL)
        return NULL;
    if (platform_of(app->cfg, facts, &pidx) != 0) {
        json_decref(facts);
        lti_send_reason(req, mod, LTI_R_registration_unknown, "session names no registration",
                        NULL);
        return NULL;
    }
    if (staff && !is_staff(app->cfg, fact(facts, "app_role"))) {
        char user_ref[16];
        const char *kv[] = {"user", lti_log_user_ref(fact(facts, "user_id"), user_ref), "app_role",
                            fact(facts, "app_role"), NULL};
        lti_send_reason(req, mod, LTI_R_service_forbidden, "role may not use this endpoint", kv);
        json_decref(facts);
        return NULL;
    }
    if (form != NULL &&
        !lti_svc_csrf_check(app->cfg, cookie, cookie_len, lti_form_get(form, "csrf", NULL, NULL))) {
        json_decref(facts);
        lti_send_reason(req, mod, LTI_R_csrf_invalid, NULL, NULL);
        return NULL;
    }
    op_t *self = op_new(req, mod);
    if (self == NULL) {
        json_decref(facts);
        lti_send_reason(req, mod, LTI_R_internal_error, "out of memory", NULL);
        return NULL;
    }
    self->facts = facts;
    self->platform = pidx;
    return self;
}

/* Parses the POST form; sends the rejection and returns -1 on failure. */
static int read_form(h2o_req_t *req, const char *mod, lti_form_t *form)
{
    lti_err_t err = {0};
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        lti_send_method_not_allowed(req, mod, "POST");
        return -1;
    }
    if (lti_request_params(req, form, &err) != LTI_R_ok) {
        lti_send_reason(req, mod, err.reason, err.msg, NULL);
        return -1;
    }
    return 0;
}

static int is_get(h2o_req_t *req, const char *mod)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return 1;
    lti_send_method_not_allowed(req, mod, "GET");
    return 0;
}

static const char *ags_url(json_t *facts, const char *key)
{
    return json_string_value(json_object_get(json_object_get(facts, "ags"), key));
}

static int ags_has_scope(json_t *facts, const char *scope)
{
    json_t *list = json_object_get(json_object_get(facts, "ags"), "scope");
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        if (json_is_string(s) && strcmp(json_string_value(s), scope) == 0)
            return 1;
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Sends a platform failure: the call's reason, with its status and detail
 * in the log. */
static void reject_call(op_t *self, lti_svc_call_t *call)
{
    char status[16], detail[300];
    snprintf(status, sizeof(status), "%ld", call->status);
    snprintf(detail, sizeof(detail), "%s failed: %s", call->what, call->msg);
    char user_ref[16];
    const char *kv[] = {"what", call->what, "platform_status", status, "user",
                        lti_log_user_ref(fact(self->facts, "user_id"), user_ref), NULL};
    lti_send_reason(self->req, self->mod, call->reason, detail, kv);
}

/* ---- quiz ----------------------------------------------------------------- */

static json_t *quiz_for(lti_app_t *app, const char *entry)
{
    return entry != NULL ? json_object_get(lti_services_quizzes(app->services), entry) : NULL;
}

void lti_handle_quiz_page(h2o_req_t *req)
{
    lti_app_t *app = lti_thread_of(req)->app;
    lti_form_t form;
    lti_err_t err = {0};
    const char *cookie = NULL;
    size_t cookie_len = 0;
    char csrf[44];

    if (!is_get(req, "quiz"))
        return;
    if (lti_request_params(req, &form, &err) != LTI_R_ok) {
        lti_send_reason(req, "quiz", err.reason, err.msg, NULL);
        return;
    }
    const char *token = NULL;
    json_t *facts = session_of(req, "quiz", &form, &cookie, &cookie_len, &token);
    if (facts == NULL)
        return;
    const char *entry = lti_form_get(&form, "entry", NULL, NULL);
    json_t *quiz = quiz_for(app, entry);
    if (quiz == NULL) {
        json_decref(facts);
        lti_send_reason(req, "quiz", LTI_R_quiz_unknown, NULL, NULL);
        return;
    }
    lti_svc_csrf_token(app->cfg, cookie, cookie_len, csrf);
    int graded = ags_url(facts, "lineitem") != NULL;
    json_decref(facts);

    json_t *questions = json_array();
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(quiz, "questions"), i, q) {
        /* The answer key stays on the server. */
        json_array_append_new(questions,
                              json_pack("{s:O,s:O,s:O}", "id", json_object_get(q, "id"), "text",
                                        json_object_get(q, "text"), "choices",
                                        json_object_get(q, "choices")));
    }
    if (lti_wants_json(req)) {
        lti_send_json(req, 200, json_pack("{s:s,s:o,s:s,s:b}", "entry", entry, "questions",
                                          questions, "csrf", csrf, "graded", graded));
        return;
    }
    /* An HTML form of the questions, posted to /hosted/quiz/submit. */
    h2o_iovec_t html = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(
                                      "<header><h1>Quiz</h1></header>\n<main>\n"
                                      "<form method=\"post\" action=\"/hosted/quiz/submit\">\n"
                                      "<input type=\"hidden\" name=\"csrf\" value=\"")),
                                  h2o_iovec_init(csrf, strlen(csrf)),
                                  h2o_iovec_init(H2O_STRLIT("\">\n<input type=\"hidden\" "
                                                            "name=\"entry\" value=\"")),
                                  h2o_iovec_init(entry, strlen(entry)),
                                  h2o_iovec_init(H2O_STRLIT("\">\n")));
    /* A quiz page served by session token posts the token back in the form
     * body, where it stays out of URLs. */
    if (token != NULL)
        html = h2o_concat(&req->pool, html,
                          h2o_iovec_init(H2O_STRLIT("<input type=\"hidden\" name=\""
                                                    LTI_SESSION_TOKEN_PARAM "\" value=\"")),
                          h2o_iovec_init(token, strlen(token)),
                          h2o_iovec_init(H2O_STRLIT("\">\n")));
    json_array_foreach(questions, i, q) {
        const char *qid = json_string_value(json_object_get(q, "id"));
        const char *text = lti_html(req, json_string_value(json_object_get(q, "text")));
        html = h2o_concat(&req->pool, html, h2o_iovec_init(H2O_STRLIT("<fieldset><legend>")),
                          h2o_iovec_init(text, strlen(text)),
                          h2o_iovec_init(H2O_STRLIT("</legend>\n")));
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(q, "choices"), j, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            const char *label = lti_html(req, json_string_value(json_object_get(c, "text")));
            html = h2o_concat(&req->pool, html,
                              h2o_iovec_init(H2O_STRLIT("<label><input type=\"radio\" name=\"q_")),
                              h2o_iovec_init(qid, strlen(qid)),
                              h2o_iovec_init(H2O_STRLIT("\" value=\"")),
                              h2o_iovec_init(cid, strlen(cid)), h2o_iovec_init(H2O_STRLIT("\"> ")),
                              h2o_iovec_init(label, strlen(label)),
                              h2o_iovec_init(H2O_STRLIT("</label><br>\n")));
        }
        html = h2o_concat(&req->pool, html, h2o_iovec_init(H2O_STRLIT("</fieldset>\n")));
    }
    html = h2o_concat(&req->pool, html,
                      h2o_iovec_init(H2O_STRLIT("<button type=\"submit\">Submit answers</button>\n"
                                                "</form>\n</main>")));
    json_decref(questions);
    lti_send_page(req, 200, "Quiz", html.base);
}

typedef struct form_answers {
    const lti_form_t *form;
} form_answers_t;

static const char *answer_from_form(void *arg, const char *qid)
{
    form_answers_t *a = arg;
    char name[80];
    int dup = 0;
    snprintf(name, sizeof(name), "q_%s", qid);
    const char *v = lti_form_get(a->form, name, NULL, &dup);
    return dup ? NULL : v;
}

static void quiz_scored(op_t *self, lti_svc_call_t *call)
{
    if (call->reason != LTI_R_ok) {
        reject_call(self, call);
        return;
    }
    char given[32], maximum[32];
    snprintf(given, sizeof(given), "%g", self->given);
    snprintf(maximum, sizeof(maximum), "%g", self->maximum);
    char user_ref[16];
    const char *kv[] = {"user", lti_log_user_ref(fact(self->facts, "user_id"), user_ref), "context_id",
                        fact(self->facts, "context_id"), "score_given", given, "score_maximum",
                        maximum, "outcome", "score_posted", NULL};
    lti_log_kv(LTI_LOG_INFO, "quiz", NULL, kv);
    if (lti_wants_json(self->req)) {
        lti_send_json(self->req, 200,
                      json_pack("{s:f,s:f,s:b}", "scoreGiven", self->given, "scoreMaximum",
                                self->maximum, "posted", 1));
        return;
    }
    char body[400];
    snprintf(body, sizeof(body),
             "<header><h1>Quiz submitted</h1></header>\n<main>\n<p id=\"score\">Your score: "
             "%s of %s.</p>\n<p class=\"note\">It was sent to the course gradebook.</p>\n</main>",
             given, maximum);
    lti_send_page(self->req, 200, "Quiz submitted", body);
}

void lti_handle_quiz_submit(h2o_req_t *req)
{
    lti_form_t form;
    lti_err_t err = {0};

    if (read_form(req, "quiz", &form) != 0)
        return;
    op_t *self = session_op(req, "quiz", 0, &form);
    if (self == NULL)
        return;
    const char *entry = lti_form_get(&form, "entry", NULL, NULL);
    json_t *quiz = quiz_for(self->app, entry);
    const char *lineitem = ags_url(self->facts, "lineitem");
    const char *sub = fact(self->facts, "sub");
    if (quiz == NULL) {
        reject(self, LTI_R_quiz_unknown, "no quiz for this entry");
        return;
    }
    if (lineitem == NULL || sub == NULL || !ags_has_scope(self->facts, LTI_SCOPE_SCORE)) {
        reject(self, LTI_R_service_not_offered, "the launch has no line item or score scope");
        return;
    }
    form_answers_t answers = {&form};
    if (lti_quiz_grade(quiz, answer_from_form, &answers, &self->given, &self->maximum, &err) !=
        LTI_R_ok) {
        reject(self, err.reason, err.msg);
        return;
    }
    json_t *score = lti_ags_score(sub, self->given, self->maximum, "Completed", "FullyGraded",
                                  NULL, now_ms());
    char *body = score != NULL ? json_dumps(score, JSON_COMPACT) : NULL;
    char *url = lti_ags_child_url(lineitem, "/scores");
    lti_svc_call_t *call =
        url != NULL ? lti_svc_call_new(self->platform, "POST", url, LTI_SCOPE_SCORE, "ags.score")
                    : NULL;
    json_decref(score);
    free(url);
    if (call == NULL || body == NULL ||
        lti_svc_call_set_body(call, LTI_MT_SCORE, body, strlen(body)) != 0) {
        free(body);
        lti_svc_call_free(call);
        reject(self, LTI_R_internal_error, "cannot build the score");
        return;
    }
    free(body);
    submit(self, call, quiz_scored);
}

/* ---- score API for apps behind ltigate ----------------------------------- */

static void api_scored(op_t *self, lti_svc_call_t *call)
{
    if (call->reason != LTI_R_ok) {
        reject_call(self, call);
        return;
    }
    lti_send_json(self->req, 200, json_pack("{s:b,s:i}", "posted", 1, "platform_status",
                                            (int)call->status));
}

void lti_handle_score_api(h2o_req_t *req)
{
    static const char mod[] = "score_api";
    lti_app_t *app = lti_thread_of(req)->app;
    char why[128];
    int ambiguous = 0;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        lti_send_method_not_allowed(req, mod, "POST");
        return;
    }
    ssize_t h = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (h < 0 || !lti_services_score_auth_ok(app->services, req->headers.entries[h].value.base,
                                             req->headers.entries[h].value.len)) {
        lti_send_reason(req, mod, LTI_R_score_api_unauthorized, NULL, NULL);
        return;
    }
    if (req->entity.base == NULL || req->entity.len > SCORE_BODY_MAX) {
        lti_send_reason(req, mod, req->entity.base == NULL ? LTI_R_param_missing
                                                           : LTI_R_body_too_large,
                        "score body missing or too large", NULL);
        return;
    }
    json_t *doc = lti_json_parse_strict(req->entity.base, req->entity.len, 4, why, sizeof(why));
    const char *iss = json_string_value(json_object_get(doc, "iss"));
    const char *client_id = json_string_value(json_object_get(doc, "client_id"));
    const char *lineitem = json_string_value(json_object_get(doc, "lineitem"));
    const char *user = json_string_value(json_object_get(doc, "userId"));
    json_t *given = json_object_get(doc, "scoreGiven");
    json_t *maximum = json_object_get(doc, "scoreMaximum");
    const char *activity = json_string_value(json_object_get(doc, "activityProgress"));
    const char *grading = json_string_value(json_object_get(doc, "gradingProgress"));
    json_t *comment = json_object_get(doc, "comment");
    if (activity == NULL)
        activity = "Completed";
    if (grading == NULL)
        grading = "FullyGraded";
    const lti_platform_cfg_t *p =
        iss != NULL ? lti_config_find_platform(app->cfg, iss, client_id, &ambiguous) : NULL;
    if (doc == NULL || lineitem == NULL || user == NULL || user[0] == '\0' ||
        strlen(user) > 255 || !json_is_number(given) || !json_is_number(maximum) ||
        json_number_value(given) < 0 || json_number_value(maximum) <= 0 ||
        !isfinite(json_number_value(given)) || !isfinite(json_number_value(maximum)) ||
        !lti_ags_activity_valid(activity) || !lti_ags_grading_valid(grading) ||
        (comment != NULL && (!json_is_string(comment) || json_string_length(comment) > 1024))) {
        json_decref(doc);
        lti_send_reason(req, mod, LTI_R_param_invalid,
                        "score needs iss, lineitem, userId, scoreGiven >= 0, scoreMaximum > 0 "
                        "and valid progress values", NULL);
        return;
    }
    if (p == NULL) {
        json_decref(doc);
        lti_send_reason(req, mod, LTI_R_registration_unknown, NULL, NULL);
        return;
    }
    op_t *self = op_new(req, mod);
    json_t *score = lti_ags_score(user, json_number_value(given), json_number_value(maximum),
                                  activity, grading, json_string_value(comment), now_ms());
    char *body = score != NULL ? json_dumps(score, JSON_COMPACT) : NULL;
    char *url = lti_ags_child_url(lineitem, "/scores");
    size_t pidx = (size_t)(p - app->cfg->platforms);
    lti_svc_call_t *call =
        url != NULL ? lti_svc_call_new(pidx, "POST", url, LTI_SCOPE_SCORE, "ags.score") : NULL;
    json_decref(score);
    json_decref(doc);
    free(url);
    if (self == NULL || call == NULL || body == NULL ||
        lti_svc_call_set_body(call, LTI_MT_SCORE, body, strlen(body)) != 0) {
        free(body);
        lti_svc_call_free(call);
        lti_send_reason(req, mod, LTI_R_internal_error, "cannot build the score", NULL);
        return;
    }
    free(body);
    self->platform = pidx;
    submit(self, call, api_scored);
}

/* ---- line items and results ---------------------------------------------- */

static void send_platform_json(op_t *self, lti_svc_call_t *call, const char *member)
{
    char why[128];
    if (call->reason != LTI_R_ok) {
        reject_call(self, call);
        return;
    }
    json_t *doc = call->response != NULL
                      ? lti_json_parse_strict(call->response, call->response_len, 8, why,
                                              sizeof(why))
                      : NULL;
    /* Line item and result containers are JSON arrays; the strict parser
     * takes objects only, so those are wrapped first. */
    if (doc == NULL && call->response != NULL && call->response[0] == '[') {
        json_error_t jerr;
        doc = json_loadb(call->response, call->response_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_array(doc)) {
            json_decref(doc);
            doc = NULL;
        }
    }
    if (doc == NULL) {
        call->reason = LTI_R_service_response_invalid;
        snprintf(call->msg, sizeof(call->msg), "answer is not JSON");
        reject_call(self, call);
        return;
    }
    lti_send_json(self->req, call->status == 201 ? 201 : 200, json_pack("{s:o}", member, doc));
}

static void lineitems_listed(op_t *self, lti_svc_call_t *call)
{
    send_platform_json(self, call, "lineitems");
}

static void lineitem_created(op_t *self, lti_svc_call_t *call)
{
    send_platform_json(self, call, "lineitem");
}

static void results_listed(op_t *self, lti_svc_call_t *call)
{
    send_platform_json(self, call, "results");
}

void lti_handle_lineitems(h2o_req_t *req)
{
    static const char mod[] = "ags";
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    lti_form_t form;

    if (post && read_form(req, mod, &form) != 0)
        return;
    if (!post && !is_get(req, mod))
        return;
    op_t *self = session_op(req, mod, 1, post ? &form : NULL);
    if (self == NULL)
        return;
    const char *container = ags_url(self->facts, "lineitems");
    if (container == NULL) {
        reject(self, LTI_R_service_not_offered, "the launch has no lineitems URL");
        return;
    }
    if (!post) {
        lti_svc_call_t *call =
            lti_svc_call_new(self->platform, "GET", container, LTI_SCOPE_LINEITEM_RO,
                             "ags.lineitems");
        if (call == NULL || (call->accept = strdup(LTI_MT_LINEITEMS)) == NULL) {
            lti_svc_call_free(call);
            reject(self, LTI_R_internal_error, "out of memory");
            return;
        }
        submit(self, call, lineitems_listed);
        return;
    }
    const char *label = lti_form_get(&form, "label", NULL, NULL);
    const char *max_text = lti_form_get(&form, "scoreMaximum", NULL, NULL);
    const char *resource = lti_form_get(&form, "resourceId", NULL, NULL);
    const char *tag = lti_form_get(&form, "tag", NULL, NULL);
    char *end = NULL;
    double maximum = max_text != NULL ? strtod(max_text, &end) : 0;
    if (label == NULL || label[0] == '\0' || strlen(label) > 255 || end == NULL || *end != '\0' ||
        !(maximum > 0 && maximum <= 100000) || (resource != NULL && strlen(resource) > 255) ||
        (tag != NULL && strlen(tag) > 255)) {
        reject(self, LTI_R_param_invalid, "line item needs a label and 0 < scoreMaximum");
        return;
    }
    json_t *item = json_pack("{s:s,s:f}", "label", label, "scoreMaximum", maximum);
    if (resource != NULL)
        json_object_set_new(item, "resourceId", json_string(resource));
    if (tag != NULL)
        json_object_set_new(item, "tag", json_string(tag));
    if (fact(self->facts, "resource_link_id") != NULL)
        json_object_set_new(item, "resourceLinkId",
                            json_string(fact(self->facts, "resource_link_id")));
    char *body = json_dumps(item, JSON_COMPACT);
    json_decref(item);
    lti_svc_call_t *call =
        lti_svc_call_new(self->platform, "POST", container, LTI_SCOPE_LINEITEM, "ags.lineitem");
    if (call == NULL || body == NULL ||
        lti_svc_call_set_body(call, LTI_MT_LINEITEM, body, strlen(body)) != 0 ||
        (call->accept = strdup(LTI_MT_LINEITEM)) == NULL) {
        free(body);
        lti_svc_call_free(call);
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    free(body);
    submit(self, call, lineitem_created);
}

/* Returns 1 when `lineitem` is the launch's line item or lies under its
 * line items container, so a user cannot point ltigate at another URL. */
static int lineitem_of_course(json_t *facts, const char *lineitem)
{
    const char *own = ags_url(facts, "lineitem");
    const char *container = ags_url(facts, "lineitems");
    if (own != NULL && strcmp(own, lineitem) == 0)
        return 1;
    if (container == NULL)
        return 0;
    size_t n = strcspn(container, "?");
    return strncmp(lineitem, container, n) == 0 && lineitem[n] == '/' &&
           strstr(lineitem + n, "..") == NULL;
}

void lti_handle_results(h2o_req_t *req)
{
    static const char mod[] = "ags";
    lti_form_t form;
    lti_err_t err = {0};

    if (!is_get(req, mod))
        return;
    if (lti_request_params(req, &form, &err) != LTI_R_ok) {
        lti_send_reason(req, mod, err.reason, err.msg, NULL);
        return;
    }
    op_t *self = session_op(req, mod, 1, NULL);
    if (self == NULL)
        return;
    const char *lineitem = lti_form_get(&form, "lineitem", NULL, NULL);
    if (lineitem == NULL)
        lineitem = ags_url(self->facts, "lineitem");
    if (lineitem == NULL) {
        reject(self, LTI_R_service_not_offered, "no line item given or launched");
        return;
    }
    if (!lineitem_of_course(self->facts, lineitem)) {
        reject(self, LTI_R_service_url_invalid, "line item is not in the launch's course");
        return;
    }
    char *url = lti_ags_child_url(lineitem, "/results");
    lti_svc_call_t *call = url != NULL ? lti_svc_call_new(self->platform, "GET", url,
                                                          LTI_SCOPE_RESULT_RO, "ags.results")
                                       : NULL;
    free(url);
    if (call == NULL || (call->accept = strdup(LTI_MT_RESULTS)) == NULL) {
        lti_svc_call_free(call);
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    submit(self, call, results_listed);
}

/* ---- roster (NRPS) -------------------------------------------------------- */

static void roster_page(op_t *self, lti_svc_call_t *call)
{
    lti_err_t err = {0};
    if (call->reason != LTI_R_ok) {
        reject_call(self, call);
        return;
    }
    self->pages++;
    if (lti_nrps_append_page(self->app->cfg, call->response, call->response_len, self->members,
                             &err) != LTI_R_ok) {
        reject(self, err.reason, err.msg);
        return;
    }
    if (call->next_url != NULL) {
        if (self->pages >= LTI_SVC_MAX_PAGES) {
            reject(self, LTI_R_service_response_invalid, "roster has too many pages");
            return;
        }
        lti_svc_call_t *next = lti_svc_call_new(self->platform, "GET", call->next_url,
                                                LTI_SCOPE_NRPS, "nrps.page");
        if (next == NULL || (next->accept = strdup(LTI_MT_MEMBERSHIP)) == NULL) {
            lti_svc_call_free(next);
            reject(self, LTI_R_internal_error, "out of memory");
            return;
        }
        submit(self, next, roster_page);
        return;
    }
    char pages[16], count[16];
    snprintf(pages, sizeof(pages), "%d", self->pages);
    snprintf(count, sizeof(count), "%zu", json_array_size(self->members));
    const char *kv[] = {"context_id", fact(self->facts, "context_id"), "pages", pages, "members",
                        count, NULL};
    lti_log_kv(LTI_LOG_INFO, "nrps", "roster read", kv);
    lti_send_json(self->req, 200,
                  json_pack("{s:O,s:i,s:s?}", "members", self->members, "pages", self->pages,
                            "context_id", fact(self->facts, "context_id")));
}

void lti_handle_roster(h2o_req_t *req)
{
    static const char mod[] = "nrps";
    if (!is_get(req, mod))
        return;
    op_t *self = session_op(req, mod, 1, NULL);
    if (self == NULL)
        return;
    const char *url = fact(self->facts, "nrps_url");
    if (url == NULL) {
        reject(self, LTI_R_service_not_offered, "the launch has no context_memberships_url");
        return;
    }
    self->members = json_array();
    lti_svc_call_t *call =
        lti_svc_call_new(self->platform, "GET", url, LTI_SCOPE_NRPS, "nrps.page");
    if (call == NULL || (call->accept = strdup(LTI_MT_MEMBERSHIP)) == NULL) {
        lti_svc_call_free(call);
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    submit(self, call, roster_page);
}

/* ---- Canvas REST API through the scoped developer key -------------------- */

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static h2o_iovec_t url_encode(h2o_mem_pool_t *pool, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = h2o_mem_alloc_pool(pool, n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return h2o_iovec_init(out, o);
}

static const char canvas_callback_path[] = "/hosted/canvas/oauth-callback";

static char *callback_url(const lti_config_t *cfg)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s", cfg->base_url, canvas_callback_path) < 0)
        return NULL;
    return out;
}

static int canvas_enabled(h2o_req_t *req, const char *mod)
{
    if (lti_thread_of(req)->app->cfg->canvas_use_scoped_key)
        return 1;
    lti_send_reason(req, mod, LTI_R_canvas_api_disabled, NULL, NULL);
    return 0;
}

/* Store key of a user's Canvas tokens: "ct:" and the SHA-256 of
 * registration and user, so the key has a fixed length and names no user. */
static void token_key(op_t *self)
{
    unsigned char digest[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const char *parts[] = {fact(self->facts, "iss"), fact(self->facts, "client_id"),
                           fact(self->facts, "user_id")};
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < 3; i++) {
        const char *p = parts[i] != NULL ? parts[i] : "";
        EVP_DigestUpdate(md, p, strlen(p) + 1); /* the NUL separates the parts */
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    memcpy(self->store_key, "ct:", 3);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(self->store_key + 3 + 2 * i, 3, "%02x", digest[i]);
}

static void canvas_scopes(const lti_config_t *cfg, char *out, size_t outlen)
{
    snprintf(out, outlen, "url:GET|/api/v1/courses url:GET|/api/v1/courses/:id%s",
             cfg->canvas_enable_user_profile_scope ? " url:GET|/api/v1/users/:user_id/profile"
                                                   : "");
}

static void on_oauth_state_stored(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    if (reason != LTI_R_ok) {
        reject(self, reason, "cannot store the OAuth state");
        return;
    }
    const lti_config_t *cfg = self->app->cfg;
    char scopes[256];
    char *redirect = callback_url(cfg);
    canvas_scopes(cfg, scopes, sizeof(scopes));
    h2o_iovec_t e_client = url_encode(&self->req->pool, cfg->canvas_custom_app_id);
    h2o_iovec_t e_redirect =
        url_encode(&self->req->pool, redirect != NULL ? redirect : "");
    h2o_iovec_t e_scope = url_encode(&self->req->pool, scopes);
    free(redirect);
    char *url = NULL;
    if (asprintf(&url, "%s/login/oauth2/auth?client_id=%s&response_type=code&redirect_uri=%s"
                       "&state=%s&scope=%s",
                 cfg->canvas_api_url, e_client.base, e_redirect.base, self->state,
                 e_scope.base) < 0) {
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    h2o_iovec_t copy = h2o_strdup(&self->req->pool, url, SIZE_MAX);
    free(url);
    lti_add_page_headers(self->req);
    lti_send_redirect(self->req, 302, copy.base);
}

void lti_handle_canvas_authorize(h2o_req_t *req)
{
    static const char mod[] = "canvas";
    char state[LTI_OIDC_RANDOM_LEN], key[LTI_OIDC_RANDOM_LEN + 8];
    if (!is_get(req, mod) || !canvas_enabled(req, mod))
        return;
    op_t *self = session_op(req, mod, 0, NULL);
    if (self == NULL)
        return;
    if (lti_oidc_random(state) != 0) {
        reject(self, LTI_R_internal_error, "no random bytes");
        return;
    }
    self->state = strdup(state);
    json_t *rec = json_pack("{s:s?,s:s?,s:s?}", "iss", fact(self->facts, "iss"), "client_id",
                            fact(self->facts, "client_id"), "user_id",
                            fact(self->facts, "user_id"));
    char *value = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (self->state == NULL || value == NULL) {
        free(value);
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    snprintf(key, sizeof(key), "co:%s", state);
    self->busy = 1;
    lti_store_put_nx(self->app->store, key, value, strlen(value),
                     self->app->cfg->state_lifetime, on_oauth_state_stored, self);
    free(value);
}

static void token_stored(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    if (reason != LTI_R_ok) {
        reject(self, reason, "cannot store the Canvas tokens");
        return;
    }
    const char *kv[] = {"user_id", fact(self->facts, "user_id"), "outcome", "canvas_authorized",
                        NULL};
    lti_log_kv(LTI_LOG_INFO, "canvas", NULL, kv);
    if (lti_wants_json(self->req)) {
        lti_send_json(self->req, 200, json_pack("{s:b}", "authorized", 1));
        return;
    }
    lti_send_page(self->req, 200, "Canvas connected",
                  "<header><h1>Canvas connected</h1></header>\n<main><p id=\"canvas\">ltigate "
                  "may now read your Canvas courses. You can close this page.</p></main>");
}

/* Stores self->record under the user's key (replacing what a take removed). */
static void store_record(op_t *self, lti_store_cb cb)
{
    char *value = json_dumps(self->record, JSON_COMPACT);
    if (value == NULL) {
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    self->busy = 1;
    lti_store_put_nx(self->app->store, self->store_key, value, strlen(value), CANVAS_TOKEN_TTL,
                     cb, self);
    OPENSSL_cleanse(value, strlen(value));
    free(value);
}

/* Reads a Canvas token answer into self->record. Returns 0 or -1. */
static int read_token_answer(op_t *self, lti_svc_call_t *call)
{
    char why[128];
    json_t *doc = call->response != NULL
                      ? lti_json_parse_strict(call->response, call->response_len, 6, why,
                                              sizeof(why))
                      : NULL;
    const char *access = json_string_value(json_object_get(doc, "access_token"));
    const char *refresh = json_string_value(json_object_get(doc, "refresh_token"));
    json_t *expires = json_object_get(doc, "expires_in");
    if (access == NULL || access[0] == '\0' || strlen(access) > 2048 ||
        (refresh != NULL && strlen(refresh) > 2048) ||
        (expires != NULL && !json_is_integer(expires))) {
        json_decref(doc);
        return -1;
    }
    int64_t exp = (int64_t)time(NULL) +
                  (expires != NULL ? (int64_t)json_integer_value(expires) : 3600);
    /* Canvas keeps the refresh token across refreshes and omits it then. */
    const char *keep = refresh != NULL
                           ? refresh
                           : json_string_value(json_object_get(self->record, "refresh_token"));
    json_t *rec = json_pack("{s:s,s:s?,s:I}", "access_token", access, "refresh_token", keep,
                            "exp", (json_int_t)exp);
    json_decref(doc);
    if (rec == NULL)
        return -1;
    if (self->record != NULL) {
        json_object_clear(self->record);
        json_decref(self->record);
    }
    self->record = rec;
    return 0;
}

static void old_record_removed(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    store_record(self, token_stored);
}

static void code_exchanged(op_t *self, lti_svc_call_t *call)
{
    if (call->reason != LTI_R_ok || read_token_answer(self, call) != 0) {
        char status[16];
        snprintf(status, sizeof(status), "%ld", call->status);
        const char *kv[] = {"what", call->what, "platform_status", status, NULL};
        lti_send_reason(self->req, self->mod,
                        call->reason == LTI_R_service_unavailable ? LTI_R_service_unavailable
                                                                  : LTI_R_canvas_oauth_failed,
                        call->msg[0] != '\0' ? call->msg : "token answer invalid", kv);
        return;
    }
    token_key(self);
    /* A previous authorization of this user is replaced. */
    self->busy = 1;
    lti_store_take(self->app->store, self->store_key, old_record_removed, self);
}

/* Builds the form body of a Canvas token request. */
static char *token_form(op_t *self, const char *grant, const char *name, const char *value)
{
    const lti_config_t *cfg = self->app->cfg;
    char *redirect = callback_url(cfg);
    h2o_mem_pool_t *pool = &self->req->pool;
    const char *secret = lti_services_canvas_app_key(self->app->services);
    char *out = NULL;
    if (redirect == NULL || secret == NULL)
        goto out;
    h2o_iovec_t e_client = url_encode(pool, cfg->canvas_custom_app_id);
    h2o_iovec_t e_secret = url_encode(pool, secret);
    h2o_iovec_t e_redirect = url_encode(pool, redirect);
    h2o_iovec_t e_value = url_encode(pool, value);
    if (asprintf(&out, "grant_type=%s&client_id=%s&client_secret=%s&redirect_uri=%s&%s=%s",
                 grant, e_client.base, e_secret.base, e_redirect.base, name, e_value.base) < 0)
        out = NULL;
    OPENSSL_cleanse(e_secret.base, e_secret.len);
out:
    free(redirect);
    return out;
}

static void submit_token_request(op_t *self, const char *grant, const char *name,
                                 const char *value, op_step_fn step)
{
    char *url = NULL;
    char *body = token_form(self, grant, name, value);
    lti_svc_call_t *call = NULL;
    if (body != NULL && asprintf(&url, "%s/login/oauth2/token", self->app->cfg->canvas_api_url) >= 0)
        call = lti_svc_call_new(self->platform, "POST", url, NULL, "canvas.token");
    if (call == NULL ||
        lti_svc_call_set_body(call, "application/x-www-form-urlencoded", body, strlen(body)) != 0) {
        lti_svc_call_free(call);
        call = NULL;
    }
    if (body != NULL)
        OPENSSL_cleanse(body, strlen(body));
    free(body);
    free(url);
    if (call == NULL) {
        reject(self, LTI_R_internal_error, "cannot build the token request");
        return;
    }
    submit(self, call, step);
}

static void on_oauth_state_taken(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    char why[64];
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    json_t *rec = reason == LTI_R_ok ? lti_json_parse_strict(value, len, 2, why, sizeof(why))
                                     : NULL;
    const char *user = json_string_value(json_object_get(rec, "user_id"));
    const char *iss = json_string_value(json_object_get(rec, "iss"));
    int same = rec != NULL && user != NULL && iss != NULL && fact(self->facts, "user_id") &&
               strcmp(user, fact(self->facts, "user_id")) == 0 &&
               strcmp(iss, fact(self->facts, "iss")) == 0;
    json_decref(rec);
    if (!same) {
        reject(self, reason == LTI_R_ok || reason == LTI_R_state_unknown ? LTI_R_state_unknown
                                                                          : reason,
               "OAuth state unknown, used, or of another user");
        return;
    }
    submit_token_request(self, "authorization_code", "code", self->state, code_exchanged);
}

void lti_handle_canvas_callback(h2o_req_t *req)
{
    static const char mod[] = "canvas";
    lti_form_t form;
    lti_err_t err = {0};
    char key[300];
    if (!is_get(req, mod) || !canvas_enabled(req, mod))
        return;
    if (lti_request_params(req, &form, &err) != LTI_R_ok) {
        lti_send_reason(req, mod, err.reason, err.msg, NULL);
        return;
    }
    const char *state = lti_form_get(&form, "state", NULL, NULL);
    const char *code = lti_form_get(&form, "code", NULL, NULL);
    const char *error = lti_form_get(&form, "error", NULL, NULL);
    if (error != NULL) {
        lti_send_reason(req, mod, LTI_R_canvas_oauth_failed, "Canvas returned an OAuth error",
                        NULL);
        return;
    }
    if (state == NULL || code == NULL || strlen(state) > 128 || strlen(code) > 2048) {
        lti_send_reason(req, mod, LTI_R_param_missing, "state and code are required", NULL);
        return;
    }
    op_t *self = session_op(req, mod, 0, NULL);
    if (self == NULL)
        return;
    /* The code, not the state, is what the next step sends. */
    self->state = strdup(code);
    if (self->state == NULL) {
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    snprintf(key, sizeof(key), "co:%s", state);
    self->busy = 1;
    lti_store_take(self->app->store, key, on_oauth_state_taken, self);
}

static void rest_answered(op_t *self, lti_svc_call_t *call)
{
    if (call->reason == LTI_R_service_forbidden && call->status == 401) {
        /* Canvas revoked the token: the user authorizes again. */
        reject(self, LTI_R_canvas_auth_required, "Canvas refused the user's token");
        return;
    }
    send_platform_json(self, call, "canvas");
}

static void send_rest_call(op_t *self)
{
    const char *access = json_string_value(json_object_get(self->record, "access_token"));
    lti_svc_call_t *call =
        lti_svc_call_new(self->platform, "GET", self->rest_url, NULL, "canvas.rest");
    if (call == NULL || (call->bearer = strdup(access)) == NULL) {
        lti_svc_call_free(call);
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    submit(self, call, rest_answered);
}

static void record_put_back(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    if (reason != LTI_R_ok && reason != LTI_R_nonce_reused)
        lti_log(LTI_LOG_WARN, "canvas", "cannot store the refreshed Canvas token (%s)",
                lti_reason_code(reason));
    send_rest_call(self);
}

static void token_refreshed(op_t *self, lti_svc_call_t *call)
{
    if (call->reason != LTI_R_ok || read_token_answer(self, call) != 0) {
        reject(self,
               call->reason == LTI_R_service_unavailable ? LTI_R_service_unavailable
                                                         : LTI_R_canvas_auth_required,
               "refresh token refused; the user authorizes again");
        return;
    }
    const char *kv[] = {"user_id", fact(self->facts, "user_id"), "outcome", "canvas_refreshed",
                        NULL};
    lti_log_kv(LTI_LOG_INFO, "canvas", NULL, kv);
    store_record(self, record_put_back);
}

static void on_record_taken(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    op_t *self = arg;
    char why[64];
    self->busy = 0;
    if (self->req == NULL) {
        op_free(self);
        return;
    }
    if (reason == LTI_R_state_unknown) {
        reject(self, LTI_R_canvas_auth_required, "no Canvas token for this user");
        return;
    }
    self->record = reason == LTI_R_ok && len <= CANVAS_RECORD_MAX
                       ? lti_json_parse_strict(value, len, 2, why, sizeof(why))
                       : NULL;
    if (self->record == NULL) {
        reject(self, reason != LTI_R_ok ? reason : LTI_R_internal_error,
               "cannot read the stored Canvas token");
        return;
    }
    json_int_t exp = json_integer_value(json_object_get(self->record, "exp"));
    const char *refresh = json_string_value(json_object_get(self->record, "refresh_token"));
    if (exp - 60 <= (json_int_t)time(NULL) && refresh != NULL) {
        char *copy = strdup(refresh);
        if (copy == NULL) {
            reject(self, LTI_R_internal_error, "out of memory");
            return;
        }
        submit_token_request(self, "refresh_token", "refresh_token", copy, token_refreshed);
        OPENSSL_cleanse(copy, strlen(copy));
        free(copy);
        return;
    }
    /* The take removed the record; put it back before using it. */
    store_record(self, record_put_back);
}

void lti_handle_canvas_api(h2o_req_t *req, const char *rest)
{
    static const char mod[] = "canvas";
    const lti_config_t *cfg = lti_thread_of(req)->app->cfg;
    char path[128];

    if (!is_get(req, mod) || !canvas_enabled(req, mod))
        return;
    if (strcmp(rest, "courses") == 0) {
        snprintf(path, sizeof(path), "/api/v1/courses");
    } else if (strncmp(rest, "courses/", 8) == 0 && strlen(rest + 8) > 0 &&
               strlen(rest + 8) <= 20 && strspn(rest + 8, "0123456789") == strlen(rest + 8)) {
        snprintf(path, sizeof(path), "/api/v1/courses/%s", rest + 8);
    } else if (strcmp(rest, "profile") == 0) {
        if (!cfg->canvas_enable_user_profile_scope) {
            lti_log(LTI_LOG_INFO, "canvas",
                    "user profile call skipped: canvas.enableUserProfileScope is off");
            lti_send_reason(req, mod, LTI_R_canvas_scope_disabled, NULL, NULL);
            return;
        }
        snprintf(path, sizeof(path), "/api/v1/users/self/profile");
    } else {
        lti_send_reason(req, mod, LTI_R_not_found, NULL, NULL);
        return;
    }
    op_t *self = session_op(req, mod, 0, NULL);
    if (self == NULL)
        return;
    if (asprintf(&self->rest_url, "%s%s", cfg->canvas_api_url, path) < 0) {
        self->rest_url = NULL;
        reject(self, LTI_R_internal_error, "out of memory");
        return;
    }
    token_key(self);
    self->busy = 1;
    lti_store_take(self->app->store, self->store_key, on_record_taken, self);
}
