/* SPDX-License-Identifier: MIT */
/*
 * LTI Advantage services and the Canvas REST API end to end: a real ltigate
 * process calls the simulated Canvas on loopback for service tokens, AGS
 * scores and line items, NRPS pages, and the per-user OAuth2 flow. The
 * simulated Canvas checks each client assertion against the tool's key set
 * and can be told to fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include "harness.h"
#include "../../src/sim/sim_services.h"

#define SCORE_SECRET "app-score-secret-0123456789abcdef"
#define AGS_CLAIM "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"

static harness_t shared;
static char dir[64];
/* canvas section switches for the next start_shared */
static int use_scoped_key = 1, profile_scope = 1;

/* ---- HTTP helper with bodies and headers ---------------------------------- */

typedef struct resp {
    long status;
    char reason[64];
    char location[2048];
    char *body;
    size_t len;
} resp_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    resp_t *r = arg;
    size_t n = size * nmemb;
    char *grown = realloc(r->body, r->len + n + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    resp_t *r = arg;
    size_t n = size * nmemb;
    char line[2100];
    if (n >= sizeof(line))
        return n;
    memcpy(line, ptr, n);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "x-lti-reason: ", 14) == 0)
        snprintf(r->reason, sizeof(r->reason), "%.63s", line + 14);
    if (strncasecmp(line, "location: ", 10) == 0)
        snprintf(r->location, sizeof(r->location), "%.2047s", line + 10);
    return n;
}

/* `url` may be a path on ltigate. */
static long http(const char *method, const char *url, const char *cookie, const char *accept,
                 const char *content_type, const char *auth, const char *body, resp_t *r)
{
    char full[2600], line[300];
    struct curl_slist *headers = NULL;
    CURL *c = curl_easy_init();
    memset(r, 0, sizeof(*r));
    snprintf(full, sizeof(full), "%s%s", url[0] == '/' ? shared.tool_base : "", url);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (cookie != NULL)
        curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    if (accept != NULL) {
        snprintf(line, sizeof(line), "Accept: %s", accept);
        headers = curl_slist_append(headers, line);
    }
    if (content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, line);
    }
    if (auth != NULL) {
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    r->status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return r->status;
}

static void resp_clear(resp_t *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static json_t *resp_json(const resp_t *r)
{
    json_error_t jerr;
    return r->body != NULL ? json_loads(r->body, 0, &jerr) : NULL;
}

/* ---- fixtures ------------------------------------------------------------ */

static int write_file(const char *name, const char *content, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        return -1;
    fputs(content, fp);
    return fclose(fp);
}

static int start_shared(void **state)
{
    char score_path[128], key_path[128], hosted[1024], extra[1024];
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "/tmp/ltigate-svc-XXXXXX");
    if (mkdtemp(dir) == NULL || write_file("score.secret", SCORE_SECRET "\n", score_path,
                                           sizeof(score_path)) != 0 ||
        write_file("canvas.key", SIM_REST_CLIENT_SECRET "\n", key_path, sizeof(key_path)) != 0)
        return -1;
    snprintf(hosted, sizeof(hosted),
             "  mediaCatalogFile: %s/conf/catalog.json\n"
             "  scoreApiSecretFile: %s\n"
             "  serviceTimeout: 1500ms\n",
             src != NULL ? src : ".", score_path);
    snprintf(extra, sizeof(extra),
             "canvas:\n"
             "  useScopedKey: %s\n"
             "  customAppId: \"%s\"\n"
             "  customAppKeyFile: %s\n"
             "  apiUrl: $PLATFORM\n"
             "  enableUserProfileScope: %s\n",
             use_scoped_key ? "true" : "false", SIM_REST_CLIENT_ID, key_path,
             profile_scope ? "true" : "false");
    harness_opts_t o = {.extra_hosted_yaml = hosted, .extra_yaml = extra};
    return harness_start(&shared, &o);
}

static int stop_shared(void **state)
{
    char cmd[128];
    harness_stop(&shared);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Launches `user` with `role` and returns the launch result (session cookie
 * and launch-context JSON). `lineitem` adds an AGS claim with that line item. */
static void launch(const char *user, const char *name, const char *role, const char *placement,
                   const char *lineitem, sim_launch_result_t *r)
{
    sim_launch_opts_t o;
    char claims[2048];
    const char *base = sim_platform_base_url(shared.platform);
    harness_launch_opts(&shared, &o);
    o.user = user;
    o.name = name;
    o.role = role;
    o.placement = placement;
    if (lineitem != NULL) {
        snprintf(claims, sizeof(claims),
                 "{\"" AGS_CLAIM "\": {\"scope\": ["
                 "\"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem\","
                 "\"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly\","
                 "\"https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly\","
                 "\"https://purl.imsglobal.org/spec/lti-ags/scope/score\"],"
                 "\"lineitems\": \"%s/api/lti/courses/1234/line_items\","
                 "\"lineitem\": \"%s\"}}",
                 base, lineitem);
        o.claims_json = claims;
    }
    memset(r, 0, sizeof(*r));
    sim_launch(&o, r);
    if (r->outcome != SIM_LAUNCHED)
        fprintf(stderr, "launch: %s %s\n", r->reason, r->error);
    assert_int_equal(r->outcome, SIM_LAUNCHED);
    assert_non_null(r->session_cookie);
}

/* Reads the session's CSRF token from the quiz endpoint. */
static void csrf_of(const char *cookie, char *out, size_t len)
{
    resp_t r;
    assert_int_equal(http("GET", "/hosted/quiz?entry=1_abcd1234", cookie, "application/json",
                          NULL, NULL, NULL, &r), 200);
    json_t *doc = resp_json(&r);
    snprintf(out, len, "%s", json_string_value(json_object_get(doc, "csrf")));
    /* The answer key never leaves the server. */
    assert_null(strstr(r.body, "\"answer\""));
    json_decref(doc);
    resp_clear(&r);
}

/* Finds the gradebook entry of `user` on `lineitem`. */
static json_t *grade_of(const char *lineitem, const char *user)
{
    json_t *scores = sim_services_scores(shared.platform), *found = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(scores, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "lineitem")), lineitem) == 0 &&
            strcmp(json_string_value(json_object_get(s, "userId")), user) == 0)
            found = json_incref(s);
    }
    json_decref(scores);
    return found;
}

static char *sub_of(const sim_launch_result_t *r)
{
    json_error_t jerr;
    json_t *ctx = json_loads(r->context_json, 0, &jerr);
    char *sub = strdup(json_string_value(json_object_get(ctx, "sub")));
    json_decref(ctx);
    return sub;
}

/* ---- tests --------------------------------------------------------------- */

static void quiz_score_reaches_the_gradebook(void **state)
{
    sim_launch_result_t r;
    resp_t resp;
    char csrf[64], form[512];
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "Week 1 quiz", 30);
    sim_services_stats_t before, after;
    sim_services_get_stats(shared.platform, &before);

    launch("asmith", "Ann Smith", "student", "null", lineitem, &r);
    char *sub = sub_of(&r);
    csrf_of(r.session_cookie, csrf, sizeof(csrf));

    /* q1 right, q2 wrong, q3 right: 20 of 30. A score in the form is ignored. */
    snprintf(form, sizeof(form), "csrf=%s&entry=1_abcd1234&q_q1=b&q_q2=a&q_q3=a&scoreGiven=30",
             csrf);
    assert_int_equal(http("POST", "/hosted/quiz/submit", r.session_cookie, NULL,
                          "application/x-www-form-urlencoded", NULL, form, &resp), 200);
    assert_non_null(strstr(resp.body, "20 of 30"));
    resp_clear(&resp);

    json_t *grade = grade_of(lineitem, sub);
    assert_non_null(grade);
    assert_true(json_number_value(json_object_get(grade, "scoreGiven")) == 20.0);
    assert_true(json_number_value(json_object_get(grade, "scoreMaximum")) == 30.0);
    assert_string_equal(json_string_value(json_object_get(grade, "activityProgress")),
                        "Completed");
    assert_string_equal(json_string_value(json_object_get(grade, "gradingProgress")),
                        "FullyGraded");
    json_decref(grade);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.tokens_issued - before.tokens_issued, 1);

    /* Without the CSRF token nothing is posted. */
    assert_int_equal(http("POST", "/hosted/quiz/submit", r.session_cookie, NULL,
                          "application/x-www-form-urlencoded", NULL,
                          "entry=1_abcd1234&q_q1=b&q_q2=d&q_q3=a", &resp), 403);
    assert_string_equal(resp.reason, "csrf_invalid");
    resp_clear(&resp);
    /* A second submission reuses the cached token. */
    snprintf(form, sizeof(form), "csrf=%s&entry=1_abcd1234&q_q1=b&q_q2=d&q_q3=a", csrf);
    assert_int_equal(http("POST", "/hosted/quiz/submit", r.session_cookie, "application/json",
                          "application/x-www-form-urlencoded", NULL, form, &resp), 200);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    grade = grade_of(lineitem, sub);
    assert_true(json_number_value(json_object_get(grade, "scoreGiven")) == 30.0);
    json_decref(grade);

    free(sub);
    free(lineitem);
    sim_launch_result_clear(&r);
}

static void quiz_without_lineitem_is_refused(void **state)
{
    sim_launch_result_t r;
    resp_t resp;
    char csrf[64], form[256];
    launch("asmith", "Ann Smith", "student", "course_navigation", NULL, &r);
    csrf_of(r.session_cookie, csrf, sizeof(csrf));
    snprintf(form, sizeof(form), "csrf=%s&entry=1_abcd1234&q_q1=b&q_q2=d&q_q3=a", csrf);
    assert_int_equal(http("POST", "/hosted/quiz/submit", r.session_cookie, NULL,
                          "application/x-www-form-urlencoded", NULL, form, &resp), 400);
    assert_string_equal(resp.reason, "service_not_offered");
    resp_clear(&resp);
    sim_launch_result_clear(&r);
}

static long post_score(const char *auth, const char *lineitem, const char *user, double given,
                       resp_t *resp)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"iss\":\"%s\",\"client_id\":\"%s\",\"lineitem\":\"%s\",\"userId\":\"%s\","
             "\"scoreGiven\":%g,\"scoreMaximum\":10}",
             sim_platform_issuer(shared.platform), SIM_DEFAULT_CLIENT_ID, lineitem, user, given);
    return http("POST", "/hosted/api/scores", NULL, "application/json", "application/json", auth,
                body, resp);
}

static void app_posts_scores_with_its_credential(void **state)
{
    resp_t resp;
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "App graded", 10);
    assert_int_equal(post_score(NULL, lineitem, "user-1", 7, &resp), 401);
    assert_string_equal(resp.reason, "score_api_unauthorized");
    resp_clear(&resp);
    assert_int_equal(post_score("Bearer wrong-secret-0123456789", lineitem, "user-1", 7, &resp),
                     401);
    resp_clear(&resp);
    assert_int_equal(post_score("Bearer " SCORE_SECRET, lineitem, "user-1", 7, &resp), 200);
    resp_clear(&resp);
    json_t *grade = grade_of(lineitem, "user-1");
    assert_non_null(grade);
    assert_true(json_number_value(json_object_get(grade, "scoreGiven")) == 7.0);
    json_decref(grade);
    free(lineitem);
}

static void retry_once_after_401(void **state)
{
    resp_t resp;
    sim_services_stats_t before, after;
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "Retry", 10);
    assert_int_equal(post_score("Bearer " SCORE_SECRET, lineitem, "user-2", 1, &resp), 200);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &before);
    /* The platform forgets every token: the next call gets 401, ltigate
     * fetches a new token and sends the call once more. */
    sim_services_revoke(shared.platform);
    assert_int_equal(post_score("Bearer " SCORE_SECRET, lineitem, "user-2", 9, &resp), 200);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    assert_int_equal(after.scores_received - before.scores_received, 1);
    json_t *grade = grade_of(lineitem, "user-2");
    assert_true(json_number_value(json_object_get(grade, "scoreGiven")) == 9.0);
    json_decref(grade);
    assert_true(harness_log_contains(&shared, "retrying once with a new token"));
    free(lineitem);
}

static void line_items_created_and_listed(void **state)
{
    sim_launch_result_t r, s;
    resp_t resp;
    char csrf[64], form[256];
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "Existing", 5);
    launch("jdoe", "Jane Doe", "instructor", "null", lineitem, &r);
    csrf_of(r.session_cookie, csrf, sizeof(csrf));
    snprintf(form, sizeof(form), "csrf=%s&label=Video+quiz+2&scoreMaximum=25&tag=quiz"
             "&resourceId=1_efgh5678", csrf);
    assert_int_equal(http("POST", "/hosted/api/lineitems", r.session_cookie, "application/json",
                          "application/x-www-form-urlencoded", NULL, form, &resp), 200);
    json_t *doc = resp_json(&resp);
    json_t *item = json_object_get(doc, "lineitem");
    assert_string_equal(json_string_value(json_object_get(item, "label")), "Video quiz 2");
    assert_true(json_number_value(json_object_get(item, "scoreMaximum")) == 25.0);
    assert_non_null(json_object_get(item, "resourceLinkId"));
    json_decref(doc);
    resp_clear(&resp);

    assert_int_equal(http("GET", "/hosted/api/lineitems", r.session_cookie, "application/json",
                          NULL, NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp.body, "Video quiz 2"));
    assert_non_null(strstr(resp.body, "Existing"));
    resp_clear(&resp);

    /* Results of the launch's line item, and a URL outside the course refused. */
    assert_int_equal(http("GET", "/hosted/api/results", r.session_cookie, "application/json",
                          NULL, NULL, NULL, &resp), 200);
    resp_clear(&resp);
    assert_int_equal(http("GET", "/hosted/api/results?lineitem=http://127.0.0.1:9/x",
                          r.session_cookie, "application/json", NULL, NULL, NULL, &resp), 400);
    assert_string_equal(resp.reason, "service_url_invalid");
    resp_clear(&resp);

    /* A student may not create line items. */
    launch("asmith", "Ann Smith", "student", "null", lineitem, &s);
    csrf_of(s.session_cookie, csrf, sizeof(csrf));
    snprintf(form, sizeof(form), "csrf=%s&label=Mine&scoreMaximum=100", csrf);
    assert_int_equal(http("POST", "/hosted/api/lineitems", s.session_cookie, NULL,
                          "application/x-www-form-urlencoded", NULL, form, &resp), 403);
    assert_string_equal(resp.reason, "service_forbidden");
    resp_clear(&resp);
    free(lineitem);
    sim_launch_result_clear(&r);
    sim_launch_result_clear(&s);
}

static void roster_over_three_pages(void **state)
{
    sim_launch_result_t r;
    resp_t resp;
    sim_services_stats_t before, after;
    sim_services_get_stats(shared.platform, &before);
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);
    assert_int_equal(http("GET", "/hosted/api/roster", r.session_cookie, "application/json", NULL,
                          NULL, NULL, &resp), 200);
    json_t *doc = resp_json(&resp);
    json_t *members = json_object_get(doc, "members");
    assert_int_equal(json_array_size(members), 7);
    assert_int_equal(json_integer_value(json_object_get(doc, "pages")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(members, 0), "app_role")), "instructor");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(members, 6), "app_role")), "student");
    json_decref(doc);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.nrps_pages - before.nrps_pages, 3);
    sim_launch_result_clear(&r);
}

/* Runs `n` roster requests at the same time. */
static void parallel_rosters(const char *cookie, int n, long *statuses)
{
    CURLM *multi = curl_multi_init();
    CURL *handles[16];
    resp_t resps[16];
    char url[256];
    snprintf(url, sizeof(url), "%s/hosted/api/roster", shared.tool_base);
    for (int i = 0; i < n; i++) {
        memset(&resps[i], 0, sizeof(resps[i]));
        handles[i] = curl_easy_init();
        curl_easy_setopt(handles[i], CURLOPT_URL, url);
        curl_easy_setopt(handles[i], CURLOPT_COOKIE, cookie);
        curl_easy_setopt(handles[i], CURLOPT_TIMEOUT_MS, 15000L);
        curl_easy_setopt(handles[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(handles[i], CURLOPT_WRITEDATA, &resps[i]);
        curl_multi_add_handle(multi, handles[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_easy_getinfo(handles[i], CURLINFO_RESPONSE_CODE, &statuses[i]);
        curl_multi_remove_handle(multi, handles[i]);
        curl_easy_cleanup(handles[i]);
        free(resps[i].body);
    }
    curl_multi_cleanup(multi);
}

static void one_token_request_for_many_calls(void **state)
{
    sim_launch_result_t r;
    sim_services_stats_t before, after;
    long statuses[8];
    /* A fresh platform, fresh caches: restart with the same settings. */
    stop_shared(state);
    assert_int_equal(start_shared(state), 0);
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);
    sim_services_get_stats(shared.platform, &before);
    parallel_rosters(r.session_cookie, 8, statuses);
    for (int i = 0; i < 8; i++)
        assert_int_equal(statuses[i], 200);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    assert_int_equal(after.nrps_pages - before.nrps_pages, 8 * 3);
    sim_launch_result_clear(&r);
}

static void new_token_after_expiry(void **state)
{
    stop_shared(state);
    assert_int_equal(start_shared(state), 0);
    sim_launch_result_t r;
    resp_t resp;
    sim_services_stats_t before, after;
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "Expiry", 5);
    /* Tokens of 61 s are used until 60 s before expiry: one second. */
    sim_services_configure(shared.platform, 61, 0, 0, 0);
    launch("jdoe", "Jane Doe", "instructor", "null", lineitem, &r);
    sim_services_get_stats(shared.platform, &before);
    assert_int_equal(http("GET", "/hosted/api/lineitems", r.session_cookie, "application/json",
                          NULL, NULL, NULL, &resp), 200);
    resp_clear(&resp);
    assert_int_equal(http("GET", "/hosted/api/lineitems", r.session_cookie, "application/json",
                          NULL, NULL, NULL, &resp), 200);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    struct timespec ts = {1, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(http("GET", "/hosted/api/lineitems", r.session_cookie, "application/json",
                          NULL, NULL, NULL, &resp), 200);
    resp_clear(&resp);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 2);
    sim_services_configure(shared.platform, 3600, 0, 0, 0);
    free(lineitem);
    sim_launch_result_clear(&r);
}

/* Each simulated failure gives its documented reason. */
static void failure_modes_give_their_reasons(void **state)
{
    static const struct {
        const char *target, *mode;
        unsigned count;
        const char *target2, *mode2;
        long status;
        const char *reason;
    } cases[] = {
        {"ags", "500", 1, NULL, NULL, 503, "service_unavailable"},
        {"ags", "404", 1, NULL, NULL, 400, "service_rejected"},
        {"ags", "403", 1, NULL, NULL, 403, "service_forbidden"},
        {"ags", "401", 2, NULL, NULL, 403, "service_forbidden"},
        {"ags", "timeout", 1, NULL, NULL, 503, "service_unavailable"},
        {"ags", "401", 1, "token", "401", 502, "service_token_failed"},
        {"ags", "401", 1, "token", "500", 503, "service_unavailable"},
        {"ags", "401", 1, "token", "timeout", 503, "service_unavailable"},
        {"ags", "401", 1, "token", "garbage", 502, "service_token_failed"},
    };
    resp_t resp;
    char *lineitem = sim_services_lineitem(shared.platform, "1234", "Failures", 10);
    /* Caches a token first, so that token failures need the 401 path. */
    assert_int_equal(post_score("Bearer " SCORE_SECRET, lineitem, "user-3", 1, &resp), 200);
    resp_clear(&resp);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_services_set_fail(shared.platform, cases[i].target, cases[i].mode, cases[i].count);
        if (cases[i].target2 != NULL)
            sim_services_set_fail(shared.platform, cases[i].target2, cases[i].mode2, 1);
        long status = post_score("Bearer " SCORE_SECRET, lineitem, "user-3", 2, &resp);
        if (status != cases[i].status || strcmp(resp.reason, cases[i].reason) != 0)
            fprintf(stderr, "case %zu: %s %s -> %ld %s\n", i, cases[i].target, cases[i].mode,
                    status, resp.reason);
        assert_int_equal(status, cases[i].status);
        assert_string_equal(resp.reason, cases[i].reason);
        resp_clear(&resp);
        sim_services_set_fail(shared.platform, "ags", "500", 0);
        sim_services_set_fail(shared.platform, "token", "500", 0);
    }
    /* After the failures the service works again. */
    assert_int_equal(post_score("Bearer " SCORE_SECRET, lineitem, "user-3", 3, &resp), 200);
    resp_clear(&resp);

    /* A cut-off roster page is a malformed response. */
    sim_launch_result_t r;
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);
    sim_services_set_fail(shared.platform, "nrps", "garbage", 1);
    assert_int_equal(http("GET", "/hosted/api/roster", r.session_cookie, "application/json", NULL,
                          NULL, NULL, &resp), 502);
    assert_string_equal(resp.reason, "service_response_invalid");
    resp_clear(&resp);
    /* Failures are logged with the URL and status. */
    assert_true(harness_log_contains(&shared, "what=ags.score"));
    assert_true(harness_log_contains(&shared, "status=500"));
    sim_launch_result_clear(&r);
    free(lineitem);
}

static void canvas_rest_oauth_round_trip(void **state)
{
    sim_launch_result_t r;
    resp_t a, b, c;
    sim_services_stats_t before, after;
    /* REST tokens of 61 s need a refresh after one second. */
    sim_services_configure(shared.platform, 0, 61, 0, 0);
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);

    /* Before authorizing, the API asks for it. */
    assert_int_equal(http("GET", "/hosted/api/canvas/courses", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 401);
    assert_string_equal(a.reason, "canvas_auth_required");
    resp_clear(&a);

    assert_int_equal(http("GET", "/hosted/canvas/authorize", r.session_cookie, NULL, NULL, NULL,
                          NULL, &a), 302);
    assert_non_null(strstr(a.location, "/login/oauth2/auth?client_id=" SIM_REST_CLIENT_ID));
    assert_non_null(strstr(a.location, "redirect_uri=http%3A%2F%2F127.0.0.1"));
    assert_int_equal(http("GET", a.location, NULL, NULL, NULL, NULL, NULL, &b), 302);
    assert_non_null(strstr(b.location, "/hosted/canvas/oauth-callback?code="));
    const char *path = strstr(b.location, "/hosted/");
    assert_int_equal(http("GET", path, r.session_cookie, "application/json", NULL, NULL, NULL,
                          &c), 200);
    resp_clear(&c);
    /* The state is single use. */
    assert_int_equal(http("GET", path, r.session_cookie, "application/json", NULL, NULL, NULL,
                          &c), 401);
    assert_string_equal(c.reason, "state_unknown");
    resp_clear(&a);
    resp_clear(&b);
    resp_clear(&c);

    assert_int_equal(http("GET", "/hosted/api/canvas/courses", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 200);
    assert_non_null(strstr(a.body, "Course 1234"));
    resp_clear(&a);
    assert_int_equal(http("GET", "/hosted/api/canvas/courses/1234", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 200);
    resp_clear(&a);
    assert_int_equal(http("GET", "/hosted/api/canvas/profile", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 200);
    assert_non_null(strstr(a.body, "Simulated User"));
    resp_clear(&a);

    sim_services_get_stats(shared.platform, &before);
    struct timespec ts = {1, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(http("GET", "/hosted/api/canvas/courses", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 200);
    resp_clear(&a);
    sim_services_get_stats(shared.platform, &after);
    assert_int_equal(after.rest_refreshes - before.rest_refreshes, 1);
    assert_int_equal(after.rest_calls - before.rest_calls, 1);

    /* A Canvas failure is reported in words and a reason. */
    sim_services_set_fail(shared.platform, "rest", "500", 1);
    assert_int_equal(http("GET", "/hosted/api/canvas/courses", r.session_cookie, NULL, NULL,
                          NULL, NULL, &a), 503);
    assert_string_equal(a.reason, "service_unavailable");
    assert_non_null(strstr(a.body, "could not be reached or failed"));
    resp_clear(&a);
    sim_services_configure(shared.platform, 0, 3600, 0, 0);
    sim_launch_result_clear(&r);
}

static void log_holds_no_tokens_or_secrets(void **state)
{
    FILE *fp = fopen(shared.log_path, "r");
    char line[8192];
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strstr(line, "svc_") != NULL || strstr(line, "rest_") != NULL ||
            strstr(line, SCORE_SECRET) != NULL || strstr(line, SIM_REST_CLIENT_SECRET) != NULL ||
            strstr(line, "client_assertion=") != NULL) {
            fprintf(stderr, "log line with a secret: %s", line);
            fail();
        }
    }
    fclose(fp);
}

static void canvas_settings_switch_calls_off(void **state)
{
    sim_launch_result_t r;
    resp_t a;
    /* Without enableUserProfileScope the profile call is skipped with a log
     * line, and the authorization does not request its scope. */
    use_scoped_key = 1;
    profile_scope = 0;
    stop_shared(state);
    assert_int_equal(start_shared(state), 0);
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);
    assert_int_equal(http("GET", "/hosted/api/canvas/profile", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 403);
    assert_string_equal(a.reason, "canvas_scope_disabled");
    resp_clear(&a);
    assert_true(harness_log_contains(&shared, "user profile call skipped"));
    assert_int_equal(http("GET", "/hosted/canvas/authorize", r.session_cookie, NULL, NULL, NULL,
                          NULL, &a), 302);
    assert_non_null(strstr(a.location, "scope=url%3AGET%7C%2Fapi%2Fv1%2Fcourses"));
    assert_null(strstr(a.location, "profile"));
    resp_clear(&a);
    sim_launch_result_clear(&r);

    /* Without useScopedKey the REST module is off. */
    use_scoped_key = 0;
    stop_shared(state);
    assert_int_equal(start_shared(state), 0);
    launch("jdoe", "Jane Doe", "instructor", "course_navigation", NULL, &r);
    assert_int_equal(http("GET", "/hosted/api/canvas/courses", r.session_cookie,
                          "application/json", NULL, NULL, NULL, &a), 404);
    assert_string_equal(a.reason, "canvas_api_disabled");
    resp_clear(&a);
    assert_int_equal(http("GET", "/hosted/canvas/authorize", r.session_cookie, NULL, NULL, NULL,
                          NULL, &a), 404);
    resp_clear(&a);
    sim_launch_result_clear(&r);
    use_scoped_key = 1;
    profile_scope = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quiz_score_reaches_the_gradebook),
        cmocka_unit_test(quiz_without_lineitem_is_refused),
        cmocka_unit_test(app_posts_scores_with_its_credential),
        cmocka_unit_test(retry_once_after_401),
        cmocka_unit_test(line_items_created_and_listed),
        cmocka_unit_test(roster_over_three_pages),
        cmocka_unit_test(failure_modes_give_their_reasons),
        cmocka_unit_test(canvas_rest_oauth_round_trip),
        cmocka_unit_test(log_holds_no_tokens_or_secrets),
        /* These two restart ltigate, so that no token is cached yet. */
        cmocka_unit_test(one_token_request_for_many_calls),
        cmocka_unit_test(new_token_after_expiry),
        cmocka_unit_test(canvas_settings_switch_calls_off),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, start_shared, stop_shared);
    curl_global_cleanup();
    return rc;
}
