/* SPDX-License-Identifier: MIT */
/*
 * Launches in real headless Chromium: the simulated course page on
 * http://localhost:PORT frames ltigate on http://127.0.0.1:PORT, so the
 * tool's frame is third-party. tests/browser/cdp_launch.mjs drives Chromium
 * over the DevTools pipe and reports the course page's storage log (which
 * messages the platform's frames answered) and what the tool's frame shows.
 * A passing launch alone proves nothing about the path (Chromium keeps
 * partitioned cookies with third-party cookies blocked), so every case also
 * checks the storage log and ltigate's log.
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
    (void)state;
    /* The course page is on localhost; without this line the CSP's
     * frame-ancestors keeps the tool out of it. */
    harness_opts_t opts = {.extra_platform_yaml = "    frameAncestors: [\"http://localhost:*\"]\n"};
    return harness_start(&shared, &opts);
}

static int stop_shared(void **state)
{
    (void)state;
    harness_stop(&shared);
    return 0;
}

/* Runs the driver for one case; returns its JSON report (new reference). */
static json_t *drive(const char *name, int block3pc, const char *answer)
{
    char dir[700], profile[800], shot[800], url[512], cmd[4096];
    snprintf(dir, sizeof(dir), "%s/%s", out_dir, name);
    mkdir(out_dir, 0755);
    mkdir(dir, 0755);
    snprintf(profile, sizeof(profile), "%s/profile-XXXXXX", shared.dir);
    assert_non_null(mkdtemp(profile));
    snprintf(shot, sizeof(shot), "%s/landing.png", dir);
    snprintf(url, sizeof(url),
             "http://localhost:%u/sim/course?answer=%s&user=asmith&role=student&name=Ann+Smith"
             "&placement=course_navigation",
             (unsigned)sim_platform_port(shared.platform), answer);
    json_t *opts = json_pack("{s:s, s:s, s:b, s:s, s:s, s:i}", "chromium", chromium, "profile",
                             profile, "block3pc", block3pc, "url", url, "screenshot", shot,
                             "timeoutMs", 30000);
    char *text = json_dumps(opts, JSON_COMPACT);
    json_decref(opts);
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    /* The JSON has no single quotes, so it can go inside '...'. */
    snprintf(cmd, sizeof(cmd), "timeout 55 node '%s/tests/browser/cdp_launch.mjs' '%s'",
             src != NULL ? src : ".", text);
    free(text);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char line[1 << 16];
    size_t n = fread(line, 1, sizeof(line) - 1, p);
    line[n] = '\0';
    pclose(p);
    json_t *report = json_loads(line, 0, NULL);
    if (report == NULL) {
        fprintf(stderr, "driver output: %s\n", line);
        fail();
    }
    char *pretty = json_dumps(report, JSON_INDENT(1));
    fprintf(stderr, "%s: %s\n", name, pretty);
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
    };
    return cmocka_run_group_tests(tests, start_shared, stop_shared);
}
