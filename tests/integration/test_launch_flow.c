/* SPDX-License-Identifier: MIT */
/*
 * End-to-end launches through a real ltigate process and the simulated
 * Canvas on loopback: login initiation, authorize, form-posted id_token,
 * JWKS over HTTP, landing page and launch-context JSON.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "harness.h"

static harness_t shared;

static int start_shared(void **state)
{
    return harness_start(&shared, NULL);
}

static int stop_shared(void **state)
{
    harness_stop(&shared);
    return 0;
}

static void run(const sim_launch_opts_t *o, sim_launch_result_t *r)
{
    memset(r, 0, sizeof(*r));
    sim_launch(o, r);
    if (r->outcome == SIM_ERROR)
        fprintf(stderr, "launch error: %s\n", r->error);
}

static void course_navigation_student_lands_in_gallery(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "asmith";
    o.name = "Ann Smith";
    o.role = "student";
    o.placement = "course_navigation";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, "/hosted/media-gallery");
    assert_string_equal(r.user_id, "asmith");
    assert_string_equal(r.app_role, "student");
    assert_string_equal(r.placement, "course_navigation");
    assert_non_null(strstr(r.body, "asmith"));
    sim_launch_result_clear(&r);
}

static void global_navigation_instructor_lands_in_my_media(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "jdoe";
    o.name = "Jane Doe";
    o.role = "instructor";
    o.placement = "global_navigation";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, "/hosted/my-media");
    assert_string_equal(r.user_id, "jdoe");
    assert_string_equal(r.app_role, "instructor");
    sim_launch_result_clear(&r);
}

static void null_placement_lands_on_resource(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "asmith";
    o.role = "student";
    o.placement = "null";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, "/hosted/resource");
    sim_launch_result_clear(&r);
}

static void replayed_id_token_rejected(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "asmith";
    o.role = "student";
    o.placement = "course_navigation";
    o.replay = 1;
    run(&o, &r);
    assert_int_equal(r.first_outcome, SIM_LAUNCHED);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 401);
    /* The launch cleared the state cookie, so the browser's replay fails
     * the binding check; state_single_use covers a replay with the cookie. */
    assert_string_equal(r.reason, "state_cookie_missing");
    sim_launch_result_clear(&r);
}

static void wrong_state_rejected(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "student";
    o.bad_state = 1;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_unknown");
    sim_launch_result_clear(&r);
}

/* Logs in by hand, then posts to the launch twice with the state cookie:
 * the first post spends the state whatever the token, the second finds
 * no state. */
static void state_single_use(void **state)
{
    char reason[64], location[2048], body[512], cookie[128];
    snprintf(body, sizeof(body),
             "iss=https%%3A%%2F%%2Fcanvas.instructure.com&login_hint=abc&client_id=%s"
             "&target_link_uri=%s%%2Fhosted%%2Findex%%2Foauth2-launch&lti_message_hint=h",
             SIM_DEFAULT_CLIENT_ID, shared.tool_base);
    long status = harness_http_location(&shared, "POST", "/hosted/index/oidc-login",
                                        "application/x-www-form-urlencoded", body, strlen(body),
                                        NULL, reason, sizeof(reason), location, sizeof(location));
    assert_int_equal(status, 302);
    const char *st = strstr(location, "&state=");
    assert_non_null(st);
    char state_value[64];
    snprintf(state_value, sizeof(state_value), "%.43s", st + 7);
    assert_non_null(strstr(location, "scope=openid&response_type=id_token&response_mode=form_post"
                                     "&prompt=none"));
    assert_non_null(strstr(location, "&lti_message_hint=h&"));
    assert_non_null(strstr(location, "&nonce="));

    snprintf(cookie, sizeof(cookie), "ltist_%.16s=%s", state_value, state_value);
    snprintf(body, sizeof(body), "id_token=a.b.c&state=%s", state_value);
    status = harness_http(&shared, "POST", "/hosted/index/oauth2-launch",
                          "application/x-www-form-urlencoded", body, strlen(body), cookie, reason,
                          sizeof(reason));
    assert_int_equal(status, 401);
    assert_string_equal(reason, "token_malformed");
    status = harness_http(&shared, "POST", "/hosted/index/oauth2-launch",
                          "application/x-www-form-urlencoded", body, strlen(body), cookie, reason,
                          sizeof(reason));
    assert_int_equal(status, 401);
    assert_string_equal(reason, "state_unknown");
}

static void missing_cookie_rejected(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "student";
    o.no_cookies = 1;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_string_equal(r.reason, "state_cookie_missing");
    sim_launch_result_clear(&r);
}

static void expired_token_rejected(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "student";
    o.iat_offset = "-400";
    o.exp_offset = "300"; /* exp = now - 100 s, beyond the 60 s skew */
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "token_expired");
    sim_launch_result_clear(&r);
}

static void canvas_error_post_shows_page(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "student";
    assert_int_equal(sim_platform_set_next_error(shared.platform, "launch_no_longer_valid"), 0);
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "platform_error");
    assert_non_null(strstr(r.body, "start the launch again"));
    sim_launch_result_clear(&r);
}

static void jwks_down_cached_keys_still_work(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "instructor";
    o.placement = "course_navigation";
    sim_platform_set_jwks_mode(shared.platform, SIM_JWKS_DOWN, 0);
    run(&o, &r);
    sim_platform_set_jwks_mode(shared.platform, SIM_JWKS_UP, 0);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.app_role, "instructor");
    sim_launch_result_clear(&r);
}

static void log_has_no_token_or_state(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "logcheck";
    o.email = "logcheck@example.edu";
    o.role = "student";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_non_null(r.id_token);
    /* The signature segment is unique to this token. */
    const char *sig = strrchr(r.id_token, '.');
    assert_non_null(sig);
    assert_false(harness_log_contains(&shared, sig + 1));
    assert_false(harness_log_contains(&shared, "logcheck@example.edu"));
    assert_true(harness_log_contains(&shared, "outcome=launched"));
    sim_launch_result_clear(&r);
}

/* Rotation tests get their own service, so the kid-miss refetch budget
 * (one per refetchInterval) is not spent by other tests. */
static void unknown_kid_after_rotation_refetched(void **state)
{
    harness_t h;
    sim_launch_opts_t o;
    sim_launch_result_t r;
    sim_platform_stats_t before, after;
    char kid[64];

    assert_int_equal(harness_start(&h, NULL), 0);
    harness_launch_opts(&h, &o);
    o.role = "student";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    sim_launch_result_clear(&r);

    /* A key the service has never seen now signs. */
    assert_int_equal(sim_platform_rotate(h.platform, 0, kid, sizeof(kid)), 0);
    sim_platform_get_stats(h.platform, &before);
    run(&o, &r);
    sim_platform_get_stats(h.platform, &after);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_int_equal(after.jwks_hits - before.jwks_hits, 1);
    sim_launch_result_clear(&r);

    /* A kid that never appears: rejected, and the refetch budget is spent,
     * so no second fetch happens within refetchInterval. */
    o.kid = "2001-01-01T00:00:00Z";
    run(&o, &r);
    sim_platform_get_stats(h.platform, &before);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_string_equal(r.reason, "kid_unknown");
    sim_launch_result_clear(&r);
    run(&o, &r);
    sim_platform_get_stats(h.platform, &after);
    assert_string_equal(r.reason, "kid_unknown");
    assert_int_equal(after.jwks_hits, before.jwks_hits);
    sim_launch_result_clear(&r);
    harness_stop(&h);
}

/* Canvas sends the literal variable when it cannot substitute it; the
 * configured fallback (sub) must then provide the user ID. */
static void unsubstituted_login_id_falls_back_to_sub(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.user = "nologin";
    o.role = "student";
    o.claims_json = "{\"https://purl.imsglobal.org/spec/lti/claim/custom\":"
                    "{\"canvas_user_login_id\":\"$Canvas.user.loginId\"}}";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_non_null(r.user_id);
    assert_string_not_equal(r.user_id, "$Canvas.user.loginId");
    assert_string_not_equal(r.user_id, "nologin");
    assert_true(strlen(r.user_id) > 0);
    sim_launch_result_clear(&r);
}

static void error_page_names_reason(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    harness_launch_opts(&shared, &o);
    o.role = "student";
    o.claims_json = "{\"https://purl.imsglobal.org/spec/lti/claim/version\":\"1.1\"}";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "version_unsupported");
    assert_non_null(strstr(r.body, "version_unsupported"));
    sim_launch_result_clear(&r);

    char reason[64];
    long status = harness_http(&shared, "GET", "/nowhere", NULL, NULL, 0, NULL, reason,
                               sizeof(reason));
    assert_int_equal(status, 404);
    assert_string_equal(reason, "not_found");
}

/* --check must catch a log file that cannot be created, because the
 * service would fail at start for that reason. */
static void check_rejects_unwritable_log(void **state)
{
    char path[400], cmd[1024], line[1024];
    snprintf(path, sizeof(path), "%s/bad-log.yaml", shared.dir);
    FILE *in = fopen(shared.config_path, "r");
    FILE *out = fopen(path, "w");
    assert_non_null(in);
    assert_non_null(out);
    while (fgets(line, sizeof(line), in) != NULL) {
        if (strncmp(line, "  logFile:", 10) == 0)
            fputs("  logFile: /nonexistent-ltigate-dir/ltigate.log\n", out);
        else
            fputs(line, out);
    }
    fclose(in);
    fclose(out);
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --check >/dev/null 2>&1", getenv("LTIGATE_BIN"),
             path);
    int status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --check >/dev/null 2>&1", getenv("LTIGATE_BIN"),
             shared.config_path);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void method_and_media_type_rejected(void **state)
{
    char reason[64];
    long status = harness_http(&shared, "GET", "/hosted/index/oauth2-launch?id_token=x", NULL,
                               NULL, 0, NULL, reason, sizeof(reason));
    assert_int_equal(status, 405);
    assert_string_equal(reason, "method_not_allowed");
    status = harness_http(&shared, "POST", "/hosted/index/oauth2-launch", "application/json",
                          "{}", 2, NULL, reason, sizeof(reason));
    assert_int_equal(status, 415);
    assert_string_equal(reason, "unsupported_media_type");
}

static void login_unknown_registration_rejected(void **state)
{
    char reason[64];
    static const char body[] = "iss=https%3A%2F%2Fevil.example&login_hint=x&target_link_uri=x";
    long status = harness_http(&shared, "POST", "/hosted/index/oidc-login",
                               "application/x-www-form-urlencoded", body, sizeof(body) - 1, NULL,
                               reason, sizeof(reason));
    assert_int_equal(status, 400);
    assert_string_equal(reason, "registration_unknown");
}

static void session_required_for_pages(void **state)
{
    char reason[64];
    long status = harness_http(&shared, "GET", "/hosted/my-media", NULL, NULL, 0, NULL, reason,
                               sizeof(reason));
    assert_int_equal(status, 401);
    assert_string_equal(reason, "session_missing");
    status = harness_http(&shared, "GET", "/hosted/index/launch-context", NULL, NULL, 0,
                          "ltigate_session=eyJ1c2VyX2lkIjoiYWRtaW4ifQ.AAAA", reason,
                          sizeof(reason));
    assert_int_equal(status, 401);
    assert_string_equal(reason, "session_invalid");

    /* A MAC part longer than a tag must not reach the tag's decode buffer:
     * every length but 43 is session_invalid, and the server keeps running. */
    static const size_t mac_chars[] = {0, 42, 44, 48, 200, 3000};
    for (size_t i = 0; i < sizeof(mac_chars) / sizeof(mac_chars[0]); i++) {
        char cookie[3200];
        int n = snprintf(cookie, sizeof(cookie), "ltigate_session=AW8.");
        memset(cookie + n, 'Q', mac_chars[i]);
        cookie[n + (int)mac_chars[i]] = '\0';
        status = harness_http(&shared, "GET", "/hosted/media-gallery", NULL, NULL, 0, cookie,
                              reason, sizeof(reason));
        assert_int_equal(status, 401);
        assert_string_equal(reason, "session_invalid");
    }
    status = harness_http(&shared, "GET", "/healthz", NULL, NULL, 0, NULL, reason,
                          sizeof(reason));
    assert_int_equal(status, 200);
}

/* Returns the status of `method` on `path`, with the Allow header copied
 * into `allow` ("" when absent). */
static long status_and_allow(const char *method, const char *path, char *allow, size_t len)
{
    char url[512];
    long status = -1;
    struct curl_header *header = NULL;
    CURL *curl = curl_easy_init();

    allow[0] = '\0';
    snprintf(url, sizeof(url), "%s%s", shared.tool_base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (curl_easy_header(curl, "Allow", 0, CURLH_HEADER, -1, &header) == CURLHE_OK)
            snprintf(allow, len, "%s", header->value);
    }
    fclose(sink);
    curl_easy_cleanup(curl);
    return status;
}

/* A 405 names the methods the endpoint accepts (RFC 9110 §15.5.6). */
static void method_not_allowed_names_allowed_methods(void **state)
{
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"GET", "/hosted/index/oauth2-launch", "POST"},
        {"PUT", "/hosted/index/oauth2-launch", "POST"},
        {"DELETE", "/hosted/index/oidc-login", "GET, POST"},
        {"POST", "/hosted/index/jwks", "GET"},
        {"GET", "/hosted/deep-link/choose", "POST"},
        {"POST", "/hosted/index/session-check", "GET"},
        {"GET", "/hosted/index/storage-complete", "POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char allow[64];
        long status = status_and_allow(cases[i].method, cases[i].path, allow, sizeof(allow));
        if (status != 405 || strcmp(allow, cases[i].allow) != 0)
            fail_msg("%s %s: status %ld, Allow '%s', expected 405 and '%s'", cases[i].method,
                     cases[i].path, status, allow, cases[i].allow);
    }
}

/* A long name or course title is display text: cut in the session, and
 * the launch succeeds. Identifiers are never cut: a context id too long for
 * a session cookie gets 400 session_too_large, not a server error. */
static void long_values_fit_or_get_a_reason(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    size_t n = 3000;
    char *claims = malloc(2 * n + 512);
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';

    harness_launch_opts(&shared, &o);
    o.role = "student";
    snprintf(claims, 2 * n + 512,
             "{\"name\":\"%s\",\"https://purl.imsglobal.org/spec/lti/claim/context\":"
             "{\"id\":\"c1\",\"title\":\"%s\"}}", big, big);
    o.claims_json = claims;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_non_null(r.name);
    assert_int_equal(strlen(r.name), 256);
    assert_non_null(r.context_title);
    assert_int_equal(strlen(r.context_title), 256);
    sim_launch_result_clear(&r);

    snprintf(claims, 2 * n + 512,
             "{\"https://purl.imsglobal.org/spec/lti/claim/context\":{\"id\":\"%s\"}}", big);
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "session_too_large");
    sim_launch_result_clear(&r);
    free(claims);
    free(big);
}

static void *launch_in_thread(void *arg)
{
    sim_launch_result_t r;
    memset(&r, 0, sizeof(r));
    sim_launch(arg, &r);
    sim_launch_result_clear(&r);
    return NULL;
}

/* SIGTERM while launches wait for a key set fetch: the fetch thread hands
 * them back to their loops before the loops stop, and ltigate exits 0. */
static void sigterm_during_key_fetch_exits_cleanly(void **state)
{
    harness_t h;
    sim_launch_opts_t o;
    pthread_t threads[3];
    int status = -1;

    assert_int_equal(harness_start(&h, NULL), 0);
    harness_launch_opts(&h, &o);
    o.kid = "never-published";
    o.timeout_ms = 20000;
    sim_platform_set_jwks_mode(h.platform, SIM_JWKS_SLOW, 3000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, launch_in_thread, &o), 0);
    struct timespec pause_ts = {1, 0};
    nanosleep(&pause_ts, NULL);
    kill(h.tool_pid, SIGTERM);
    for (int i = 0; i < 300 && status == -1; i++) {
        int st;
        if (waitpid(h.tool_pid, &st, WNOHANG) == h.tool_pid)
            status = st;
        else
            usleep(50 * 1000);
    }
    if (status == -1) {
        kill(h.tool_pid, SIGKILL);
        waitpid(h.tool_pid, NULL, 0);
    }
    h.tool_pid = 0;
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    sim_platform_set_jwks_mode(h.platform, SIM_JWKS_UP, 0);
    harness_stop(&h);

    assert_int_not_equal(status, -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest shared_tests[] = {
        cmocka_unit_test(course_navigation_student_lands_in_gallery),
        cmocka_unit_test(global_navigation_instructor_lands_in_my_media),
        cmocka_unit_test(null_placement_lands_on_resource),
        cmocka_unit_test(replayed_id_token_rejected),
        cmocka_unit_test(wrong_state_rejected),
        cmocka_unit_test(state_single_use),
        cmocka_unit_test(missing_cookie_rejected),
        cmocka_unit_test(expired_token_rejected),
        cmocka_unit_test(canvas_error_post_shows_page),
        cmocka_unit_test(jwks_down_cached_keys_still_work),
        cmocka_unit_test(log_has_no_token_or_state),
        cmocka_unit_test(unsubstituted_login_id_falls_back_to_sub),
        cmocka_unit_test(error_page_names_reason),
        cmocka_unit_test(check_rejects_unwritable_log),
        cmocka_unit_test(method_and_media_type_rejected),
        cmocka_unit_test(login_unknown_registration_rejected),
        cmocka_unit_test(session_required_for_pages),
        cmocka_unit_test(method_not_allowed_names_allowed_methods),
        cmocka_unit_test(long_values_fit_or_get_a_reason),
    };
    const struct CMUnitTest own_service_tests[] = {
        cmocka_unit_test(unknown_kid_after_rotation_refetched),
        cmocka_unit_test(sigterm_during_key_fetch_exits_cleanly),
    };
    int failed = cmocka_run_group_tests_name("launch_flow", shared_tests, start_shared, stop_shared);
    failed += cmocka_run_group_tests_name("launch_rotation", own_service_tests, NULL, NULL);
    return failed;
}
