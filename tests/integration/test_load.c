/* SPDX-License-Identifier: MIT */
/*
 * `ltisim load` against a real ltigate process and the simulated Canvas on
 * loopback: bounded full-mode and split-mode runs finish without errors and
 * report sane numbers, tampered tokens are all rejected, and URLs off
 * loopback are rejected before any traffic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <jansson.h>
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

/* Runs `ltisim load ARGS --json --quiet` against the shared ltigate and
 * platform. Returns the parsed report (NULL when none) and the exit status
 * in `status`. */
static json_t *run_load(const char *args, int *status)
{
    const char *bin = getenv("LTISIM_BIN");
    char cmd[2048];
    static char out[1024 * 1024];
    size_t len = 0;

    assert_non_null(bin);
    snprintf(cmd, sizeof(cmd), "%s load --tool %s --platform %s --json --quiet %s", bin,
             shared.tool_base, sim_platform_base_url(shared.platform), args);
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    while (len + 1 < sizeof(out)) {
        size_t n = fread(out + len, 1, sizeof(out) - 1 - len, fp);
        if (n == 0)
            break;
        len += n;
    }
    out[len] = '\0';
    int rc = pclose(fp);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    json_error_t jerr;
    json_t *report = json_loads(out, 0, &jerr);
    if (report == NULL)
        fprintf(stderr, "ltisim load printed no JSON report (status %d): %.500s\n", *status, out);
    return report;
}

static json_int_t int_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_integer_value(v);
}

/* Checks count, errors and ordered percentiles of one step. */
static void check_step(const json_t *report, const char *step, json_int_t count)
{
    const json_t *s = json_object_get(json_object_get(report, "steps"), step);
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_object_get(s, "count")), count);
    assert_int_equal(json_integer_value(json_object_get(s, "errors")), 0);
    double p50 = json_number_value(json_object_get(s, "p50_ms"));
    double p90 = json_number_value(json_object_get(s, "p90_ms"));
    double p99 = json_number_value(json_object_get(s, "p99_ms"));
    double max = json_number_value(json_object_get(s, "max_ms"));
    assert_true(p50 > 0);
    assert_true(p50 <= p90);
    assert_true(p90 <= p99);
    assert_true(p99 <= max);
    assert_true(max < 10000);
}

static void full_mode_200_launches_no_errors(void **state)
{
    int status = -1;
    json_t *r = run_load("--count 200 --concurrency 8", &status);
    assert_non_null(r);
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_object_get(r, "mode")), "full");
    assert_int_equal(int_at(r, "concurrency", NULL), 8);
    assert_int_equal(int_at(r, "summary", "ok"), 200);
    assert_int_equal(int_at(r, "summary", "errors"), 0);
    assert_int_equal(json_object_size(json_object_get(r, "errors_by_reason")), 0);
    double rate = json_number_value(json_object_get(json_object_get(r, "summary"), "rate"));
    assert_true(rate > 0);
    double cpu = json_number_value(
        json_object_get(json_object_get(r, "summary"), "generator_cpu_us_per_unit"));
    assert_true(cpu > 0);
    check_step(r, "click", 200);
    check_step(r, "login", 200);
    check_step(r, "authorize", 200);
    check_step(r, "launch", 200);
    check_step(r, "landing", 200);
    check_step(r, "flow", 200);
    /* Keep-alive: one connection per browser to the tool and one to the
     * platform, plus a few reconnects, not one per request. */
    json_int_t connects = int_at(r, "summary", "connections_opened");
    assert_true(connects >= 8);
    assert_true(connects <= 4 * 8);
    /* The key set was cached by ltigate before or at the first launch. */
    assert_true(int_at(r, "platform_jwks_fetches", NULL) <= 1);
    json_decref(r);
}

static void split_mode_phases_no_errors(void **state)
{
    int status = -1;
    json_t *r = run_load("--mode split --count 120 --concurrency 8", &status);
    assert_non_null(r);
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_object_get(r, "mode")), "split");
    const json_t *phases = json_object_get(r, "phases");
    assert_int_equal(json_array_size(phases), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(phases, 0), "name")),
                        "logins");
    assert_false(json_is_true(json_object_get(json_array_get(phases, 1), "timed")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(phases, 2), "name")),
                        "launch POSTs");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(phases, i), "ok")),
                         120);
    assert_int_equal(int_at(r, "summary", "ok"), 120);
    assert_int_equal(int_at(r, "summary", "errors"), 0);
    check_step(r, "login", 120);
    check_step(r, "launch", 120);
    json_decref(r);
}

static void negative_tampered_tokens_all_rejected(void **state)
{
    int status = -1;
    json_t *r = run_load("--negative --count 60 --concurrency 4", &status);
    assert_non_null(r);
    assert_int_equal(status, 0);
    const json_t *neg = json_object_get(r, "negative");
    assert_non_null(neg);
    assert_int_equal(int_at(neg, "accepted", NULL), 0);
    assert_int_equal(int_at(neg, "sent", NULL), 60);
    assert_int_equal(int_at(neg, "rejected", NULL), 60);
    const json_t *kinds = json_object_get(neg, "by_kind");
    assert_int_equal(int_at(kinds, "bad_signature", "rejected"), 20);
    assert_int_equal(int_at(kinds, "foreign_nonce", "rejected"), 20);
    assert_int_equal(int_at(kinds, "replay", "rejected"), 20);
    const json_t *reasons = json_object_get(neg, "rejections_by_reason");
    assert_int_equal(int_at(reasons, "signature_invalid", NULL), 20);
    assert_int_equal(int_at(reasons, "nonce_mismatch", NULL), 20);
    assert_int_equal(int_at(reasons, "state_unknown", NULL), 20);
    assert_int_equal(int_at(r, "summary", "errors"), 0);
    json_decref(r);
}

/* Counting 401 as an accepted launch makes every rejected tampered token
 * look accepted, which the report must flag as errors. */
static void negative_accepted_token_reported(void **state)
{
    int status = -1;
    json_t *r = run_load("--negative --count 30 --concurrency 4 --launch-status 303,401", &status);
    assert_non_null(r);
    assert_int_equal(status, 1);
    const json_t *neg = json_object_get(r, "negative");
    assert_int_equal(int_at(neg, "sent", NULL), 30);
    assert_int_equal(int_at(neg, "accepted", NULL), 30);
    assert_int_equal(int_at(neg, "rejected", NULL), 0);
    assert_int_equal(int_at(r, "summary", "errors"), 30);
    assert_int_equal(int_at(r, "errors_by_reason", "tampered_accepted"), 30);
    json_decref(r);
}

static void non_loopback_url_rejected(void **state)
{
    const char *bin = getenv("LTISIM_BIN");
    char cmd[1024];
    assert_non_null(bin);
    snprintf(cmd, sizeof(cmd),
             "%s load --tool http://192.0.2.1:8080 --count 1 --quiet >/dev/null 2>&1", bin);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 2);
    snprintf(cmd, sizeof(cmd),
             "%s load --mode get --url https://127.0.0.1:1/ --count 1 --quiet >/dev/null 2>&1",
             bin);
    rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_mode_200_launches_no_errors),
        cmocka_unit_test(split_mode_phases_no_errors),
        cmocka_unit_test(negative_tampered_tokens_all_rejected),
        cmocka_unit_test(negative_accepted_token_reported),
        cmocka_unit_test(non_loopback_url_rejected),
    };
    return cmocka_run_group_tests(tests, start_shared, stop_shared);
}
