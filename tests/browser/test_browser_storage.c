/* SPDX-License-Identifier: MIT */
/*
 * Launches in real headless Chromium: the simulated course page on
 * http://localhost:PORT frames ltigate on http://127.0.0.1:PORT, so the
 * tool's frame is third-party. tests/browser/cdp_launch.mjs drives Chromium
 * over the DevTools pipe and reports the course page's storage log (which
 * messages the platform's frames answered) and what the tool's frame shows.
 * A passing launch alone proves nothing about the path (Chromium keeps
 * partitioned cookies with third-party cookies blocked), so every case also
 * checks the storage log and ltigate's log. The cases without any cookie
 * block the tool's origin with a site setting, and check from the
 * browser's own request headers that ltigate got no Cookie header.
 *
 * Skips (exit 77) only when no Chromium is installed. Screenshots go to
 * LTIGATE_BROWSER_OUT (default ./browser-out).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "harness.h"

static harness_t shared;
static const char *chromium;
static char out_dir[512];

static const char *find_chromium(void)
{
    static const char *const candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                             "/usr/lib/chromium/chromium"};
    const char *env = getenv("LTIGATE_CHROMIUM");
    if (env != NULL && access(env, X_OK) == 0)
        return env;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

static int start_shared(void **state)
{
    static char hosted[600];
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    (void)state;
    /* The catalog gives the landing pages links and the picker entries. */
    snprintf(hosted, sizeof(hosted), "  mediaCatalogFile: %s/conf/catalog.json\n",
             src != NULL ? src : ".");
    /* The course page is on localhost; without the frameAncestors line the
     * CSP's frame-ancestors keeps the tool out of it. */
    harness_opts_t opts = {.extra_hosted_yaml = hosted,
                           .extra_platform_yaml = "    frameAncestors: [\"http://localhost:*\"]\n"};
    if (harness_start(&shared, &opts) != 0)
        return -1;
    /* The platform verifies deep-linking responses against the tool's keys. */
    char jwks[128];
    snprintf(jwks, sizeof(jwks), "%s/hosted/index/jwks", shared.tool_base);
    return sim_platform_set_tool_jwks(shared.platform, jwks);
}

static int stop_shared(void **state)
{
    (void)state;
    harness_stop(&shared);
    return 0;
}

/* One browser case. */
typedef struct browser_case {
    const char *name;
    int block3pc;       /* block third-party cookies (partitioned ones stay) */
    int block_all;      /* block every cookie of the tool's origin, partitioned ones too */
    const char *answer; /* the course page's answer parameter: 1, 0 or forge */
    const char *launch; /* the launch's user, role, placement and message type */
    const char *then;   /* NULL, "follow-link" or "pick" */
} browser_case_t;

#define STUDENT_LAUNCH "user=asmith&role=student&name=Ann+Smith&placement=course_navigation"
#define PICKER_LAUNCH                                                                              \
    "user=jdoe&role=instructor&name=Jane+Doe&placement=editor_button"                              \
    "&message_type=LtiDeepLinkingRequest"

/* Runs the driver for one case; returns its JSON report (new reference). */
static json_t *drive_case(const browser_case_t *c)
{
    char dir[700], profile[800], shot[800], action_shot[800], url[512], cmd[4096];
    snprintf(dir, sizeof(dir), "%s/%s", out_dir, c->name);
    mkdir(out_dir, 0755);
    mkdir(dir, 0755);
    snprintf(profile, sizeof(profile), "%s/profile-XXXXXX", shared.dir);
    assert_non_null(mkdtemp(profile));
    snprintf(shot, sizeof(shot), "%s/landing.png", dir);
    snprintf(action_shot, sizeof(action_shot), "%s/before-click.png", dir);
    snprintf(url, sizeof(url), "http://localhost:%u/sim/course?answer=%s&%s",
             (unsigned)sim_platform_port(shared.platform), c->answer,
             c->launch != NULL ? c->launch : STUDENT_LAUNCH);
    json_t *opts = json_pack("{s:s, s:s, s:b, s:s, s:s, s:i}", "chromium", chromium, "profile",
                             profile, "block3pc", c->block3pc, "url", url, "screenshot", shot,
                             "timeoutMs", 30000);
    if (c->block_all)
        json_object_set_new(opts, "blockCookiesFor", json_string(shared.tool_base));
    if (c->then != NULL) {
        json_object_set_new(opts, "then", json_string(c->then));
        json_object_set_new(opts, "actionShot", json_string(action_shot));
    }
    char *text = json_dumps(opts, JSON_COMPACT);
    json_decref(opts);
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    /* The JSON has no single quotes, so it can go inside '...'. */
    snprintf(cmd, sizeof(cmd), "timeout 55 node '%s/tests/browser/cdp_launch.mjs' '%s'",
             src != NULL ? src : ".", text);
    free(text);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char line[1 << 18];
    size_t n = fread(line, 1, sizeof(line) - 1, p);
    line[n] = '\0';
    pclose(p);
    json_t *report = json_loads(line, 0, NULL);
    if (report == NULL) {
        fprintf(stderr, "driver output: %s\n", line);
        fail();
    }
    char *pretty = json_dumps(report, JSON_INDENT(1));
    fprintf(stderr, "%s: %s\n", c->name, pretty);
    char path[800];
    snprintf(path, sizeof(path), "%s/report.json", dir);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(pretty, f);
        fclose(f);
    }
    free(pretty);
    assert_false(json_is_string(json_object_get(report, "error")));
    return report;
}

static json_t *drive(const char *name, int block3pc, const char *answer)
{
    browser_case_t c = {.name = name, .block3pc = block3pc, .answer = answer};
    return drive_case(&c);
}

/* Counts the lines of ltigate's log that contain `needle`. */
static int log_count(const char *needle)
{
    FILE *f = fopen(shared.log_path, "r");
    char line[4096];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* Returns how many of the tool frame's requests to ltigate the browser
 * made, and sets *with_cookie to how many of them carried a Cookie header
 * and *unknown to how many it reported no headers for. */
static int tool_requests(json_t *report, int *with_cookie, int *unknown)
{
    json_t *list = json_object_get(report, "requests"), *r;
    size_t i;
    int n = 0;
    *with_cookie = 0;
    *unknown = 0;
    json_array_foreach(list, i, r) {
        const char *u = json_string_value(json_object_get(r, "url"));
        if (u == NULL || strncmp(u, shared.tool_base, strlen(shared.tool_base)) != 0)
            continue;
        n++;
        json_t *cookie = json_object_get(r, "cookie");
        if (json_is_true(cookie))
            (*with_cookie)++;
        else if (!json_is_false(cookie))
            (*unknown)++;
    }
    return n;
}

static int count(json_t *report, const char *entry)
{
    json_t *log = json_object_get(report, "log"), *v;
    size_t i;
    int n = 0;
    json_array_foreach(log, i, v) {
        const char *s = json_string_value(v);
        if (s != NULL && strncmp(s, entry, strlen(entry)) == 0)
            n++;
    }
    return n;
}

static const char *tool_fact(json_t *report, const char *key)
{
    return json_string_value(json_object_get(json_object_get(report, "tool"), key));
}

static int tool_flag(json_t *report, const char *key)
{
    return json_is_true(json_object_get(json_object_get(report, "tool"), key));
}

static void assert_landed(json_t *report)
{
    const char *user = tool_fact(report, "user");
    assert_non_null(user);
    assert_string_equal(user, "asmith");
    assert_non_null(strstr(tool_fact(report, "url"), "/hosted/media-gallery"));
    /* The landing page's script sent its height to the course page, with
     * the launch's canvas_post_message_token. */
    assert_true(count(report, "resize:") >= 1);
    json_t *log = json_object_get(report, "log"), *v;
    size_t i;
    int with_token = 0;
    json_array_foreach(log, i, v) {
        const char *s = json_string_value(v);
        size_t n = s != NULL ? strlen(s) : 0;
        if (n > 6 && strncmp(s, "resize:", 7) == 0 && strcmp(s + n - 6, ":token") == 0)
            with_token = 1;
    }
    assert_true(with_token);
}

static void third_party_cookies_allowed(void **state)
{
    (void)state;
    json_t *r = drive("cookies-allowed", 0, "1");
    assert_landed(r);
    /* The login stored the values, but the cookie completed the launch: the
     * launch page never read them back. */
    assert_int_equal(count(r, "put_data"), 2);
    assert_int_equal(count(r, "get_data"), 0);
    json_decref(r);
}

static void blocked_with_platform_storage(void **state)
{
    (void)state;
    json_t *r = drive("cookies-blocked-storage", 1, "1");
    assert_landed(r);
    /* The partitioned session cookie came back, so no token entered a URL. */
    assert_null(strstr(tool_fact(r, "url"), "session_token"));
    assert_int_equal(count(r, "capabilities"), 2);
    assert_int_equal(count(r, "put_data"), 2);
    assert_int_equal(count(r, "get_data:hit"), 2);
    assert_int_equal(count(r, "get_data:miss"), 0);
    assert_true(harness_log_contains(&shared, "outcome=launched_via_storage"));
    json_decref(r);
}

static void blocked_without_platform_storage(void **state)
{
    (void)state;
    json_t *r = drive("cookies-blocked-no-storage", 1, "0");
    assert_true(tool_flag(r, "newWindow"));
    assert_null(tool_fact(r, "user"));
    assert_int_equal(count(r, "put_data"), 0);
    json_decref(r);
}

static void forged_get_data_answer_is_ignored(void **state)
{
    (void)state;
    json_t *r = drive("forged-get-data", 1, "forge");
    /* The course page (another origin) answered each get_data first with a
     * wrong value; the tool waited for the storage frame's answer. */
    assert_int_equal(count(r, "forged_get_data"), 2);
    assert_int_equal(count(r, "get_data:hit"), 2);
    assert_landed(r);
    json_decref(r);
}

/* Every cookie of the tool's origin is blocked, partitioned ones too: the
 * launch completes through platform storage and a landing-page link keeps
 * the session through the session token. */
static void no_cookies_token_keeps_session(void **state)
{
    (void)state;
    int before = log_count("session_source=token cookie_header=absent");
    browser_case_t c = {.name = "no-cookies-token", .block_all = 1, .block3pc = 1,
                        .answer = "1", .then = "follow-link"};
    json_t *r = drive_case(&c);
    assert_true(json_is_true(json_object_get(r, "acted")));
    assert_int_equal(count(r, "get_data:hit"), 2);
    assert_int_equal(count(r, "get_data:miss"), 0);
    assert_true(harness_log_contains(&shared, "outcome=launched_via_storage"));
    /* The link led to the player, signed in, by token. */
    assert_string_equal(tool_fact(r, "user"), "asmith");
    assert_non_null(tool_fact(r, "entry"));
    assert_non_null(strstr(tool_fact(r, "url"), "/hosted/player?entry="));
    assert_non_null(strstr(tool_fact(r, "url"), "&session_token="));
    /* The browser sent ltigate no cookie at all, and ltigate saw no Cookie
     * header on the landing page or the player. */
    int with_cookie = 0, unknown = 0;
    int n = tool_requests(r, &with_cookie, &unknown);
    assert_true(n >= 4);
    assert_int_equal(with_cookie, 0);
    assert_true(log_count("session_source=token cookie_header=absent") >= before + 2);
    json_decref(r);
}

/* Returns 1 when the tool frame requested a URL containing `part`, and
 * sets *cookie to whether that request carried a Cookie header. */
static int requested(json_t *report, const char *part, int *cookie)
{
    json_t *list = json_object_get(report, "requests"), *r;
    size_t i;
    json_array_foreach(list, i, r) {
        const char *u = json_string_value(json_object_get(r, "url"));
        if (u != NULL && strstr(u, part) != NULL) {
            *cookie = json_is_true(json_object_get(r, "cookie"));
            return 1;
        }
    }
    return 0;
}

static unsigned long dl_responses(void)
{
    sim_platform_stats_t stats;
    sim_platform_get_stats(shared.platform, &stats);
    return stats.deep_linking_responses;
}

/* Checks that the simulated platform received one more deep-linking
 * response than `before` and that it verified for the editor button. */
static void assert_platform_verified(json_t *r, unsigned long before)
{
    assert_true(json_is_true(json_object_get(r, "acted")));
    assert_non_null(strstr(tool_fact(r, "url"), "/deep_linking_response"));
    assert_int_equal(dl_responses(), before + 1);
    json_t *report = sim_platform_last_deep_linking_result(shared.platform);
    assert_true(json_is_true(json_object_get(report, "valid")));
    assert_string_equal(json_string_value(json_object_get(report, "placement")),
                        "editor_button");
    json_decref(report);
}

/* Third-party cookies blocked: the picker of a storage launch keeps its
 * selection in the partitioned selection cookie. */
static void deep_linking_blocked_with_storage(void **state)
{
    (void)state;
    unsigned long before = dl_responses();
    browser_case_t c = {.name = "deep-linking-blocked-storage", .block3pc = 1, .answer = "1",
                        .launch = PICKER_LAUNCH, .then = "pick"};
    json_t *r = drive_case(&c);
    assert_int_equal(count(r, "get_data:hit"), 2);
    assert_platform_verified(r, before);
    /* The picker and the choice ran on the partitioned cookies. */
    int cookie = 0;
    assert_true(requested(r, "/hosted/deep-link/choose", &cookie));
    assert_true(cookie);
    assert_false(requested(r, "selection_token=", &cookie));
    json_decref(r);
}

/* No cookies at all: the picker runs on the selection token. */
static void deep_linking_no_cookies(void **state)
{
    (void)state;
    unsigned long before = dl_responses();
    browser_case_t c = {.name = "deep-linking-no-cookies", .block3pc = 1, .block_all = 1,
                        .answer = "1", .launch = PICKER_LAUNCH, .then = "pick"};
    json_t *r = drive_case(&c);
    assert_int_equal(count(r, "get_data:hit"), 2);
    assert_platform_verified(r, before);
    int with_cookie = 0, unknown = 0;
    assert_true(tool_requests(r, &with_cookie, &unknown) >= 4);
    assert_int_equal(with_cookie, 0);
    int cookie = 1;
    assert_true(requested(r, "/hosted/deep-link/picker?dl=", &cookie));
    assert_false(cookie);
    assert_true(requested(r, "&selection_token=", &cookie));
    json_decref(r);
}

int main(void)
{
    chromium = find_chromium();
    if (chromium == NULL) {
        fprintf(stderr, "chromium not found; skipping the browser tests\n");
        return 77;
    }
    const char *out = getenv("LTIGATE_BROWSER_OUT");
    snprintf(out_dir, sizeof(out_dir), "%s", out != NULL ? out : "browser-out");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(third_party_cookies_allowed),
        cmocka_unit_test(blocked_with_platform_storage),
        cmocka_unit_test(blocked_without_platform_storage),
        cmocka_unit_test(forged_get_data_answer_is_ignored),
        cmocka_unit_test(no_cookies_token_keeps_session),
        cmocka_unit_test(deep_linking_blocked_with_storage),
        cmocka_unit_test(deep_linking_no_cookies),
    };
    return cmocka_run_group_tests(tests, start_shared, stop_shared);
}
