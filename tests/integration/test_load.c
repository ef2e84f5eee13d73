/* SPDX-License-Identifier: MIT */
/*
 * `ltisim load` against a real ltigate process and the simulated Canvas on
 * loopback: bounded full-mode and split-mode runs finish without errors and
 * report sane numbers, tampered tokens are all rejected, deep-linking round
 * trips return responses that verify against ltigate's key set (and fail
 * against any other key), and URLs off loopback are rejected before any
 * traffic.
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
#include <curl/curl.h>
#include <jansson.h>
#include <unistd.h>
#include "harness.h"

static harness_t shared;

static int start_shared(void **state)
{
    /* The picker of deep-linking round trips offers the sample catalog. */
    const char *source = getenv("LTIGATE_SOURCE_DIR");
    static char hosted_yaml[600];
    snprintf(hosted_yaml, sizeof(hosted_yaml), "  mediaCatalogFile: %s/conf/catalog.json\n",
             source != NULL ? source : ".");
    harness_opts_t opts = {.extra_hosted_yaml = hosted_yaml};
    return harness_start(&shared, &opts);
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

static json_int_t dl_at(const json_t *report, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(report, "deep_linking"), key));
}

static void deep_linking_20_round_trips_verified(void **state)
{
    int status = -1;
    json_t *r = run_load("--count 20 --concurrency 4 --deep-linking 100 --dl-verify-every 1",
                         &status);
    assert_non_null(r);
    assert_int_equal(status, 0);
    assert_int_equal(int_at(r, "summary", "ok"), 20);
    assert_int_equal(int_at(r, "summary", "errors"), 0);
    assert_int_equal(json_object_size(json_object_get(r, "errors_by_reason")), 0);
    assert_int_equal(dl_at(r, "responses"), 20);
    assert_int_equal(dl_at(r, "verified"), 20);
    assert_int_equal(dl_at(r, "errors"), 0);
    assert_true(json_number_value(json_object_get(json_object_get(r, "deep_linking"), "rate")) >
                0);
    check_step(r, "launch", 20);
    check_step(r, "picker", 20);
    check_step(r, "dl_response", 20);
    check_step(r, "dl_verify", 20);
    /* The picker replaces the landing page of a deep-linking launch. */
    assert_null(json_object_get(json_object_get(r, "steps"), "landing"));
    json_decref(r);
}

/* Half the flows deep-link. Split mode times their selection POSTs in a
 * phase of their own and reports ltigate's CPU time per phase. */
static void deep_linking_split_phase_timed(void **state)
{
    char args[128];
    int status = -1;
    snprintf(args, sizeof(args), "--mode split --count 40 --concurrency 4 --deep-linking 50 "
                                 "--server-pid %ld", (long)shared.tool_pid);
    json_t *r = run_load(args, &status);
    assert_non_null(r);
    assert_int_equal(status, 0);
    const json_t *phases = json_object_get(r, "phases");
    static const char *const names[] = {"logins", "authorize", "launch POSTs", "picker pages",
                                        "deep-link responses"};
    static const int timed[] = {1, 0, 1, 0, 1};
    static const json_int_t ok[] = {40, 40, 40, 20, 20};
    assert_int_equal(json_array_size(phases), 5);
    for (size_t i = 0; i < 5; i++) {
        const json_t *p = json_array_get(phases, i);
        assert_string_equal(json_string_value(json_object_get(p, "name")), names[i]);
        assert_int_equal(json_is_true(json_object_get(p, "timed")), timed[i]);
        assert_int_equal(json_integer_value(json_object_get(p, "ok")), ok[i]);
        assert_true(json_number_value(json_object_get(p, "server_cpu_s")) >= 0);
    }
    /* The headline stays the launch POST rate, and deep linking has its own. */
    assert_int_equal(int_at(r, "summary", "ok"), 40);
    assert_int_equal(int_at(r, "summary", "errors"), 0);
    assert_int_equal(dl_at(r, "responses"), 20);
    assert_int_equal(dl_at(r, "verified"), 1);
    const json_t *dl = json_object_get(r, "deep_linking");
    assert_string_equal(json_string_value(json_object_get(dl, "phase")), "deep-link responses");
    assert_true(json_number_value(json_object_get(dl, "generator_cpu_us_per_response")) > 0);
    assert_non_null(json_object_get(dl, "server_cpu_us_per_response"));
    check_step(r, "dl_response", 20);
    json_decref(r);
}

typedef struct body {
    char data[64 * 1024];
    size_t len;
} body_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n >= sizeof(b->data))
        return 0;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Returns the key set document at `url`. */
static json_t *get_jwks(const char *url)
{
    static body_t body;
    body.len = 0;
    body.data[0] = '\0';
    CURL *e = curl_easy_init();
    assert_non_null(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    json_error_t jerr;
    json_t *doc = json_loads(body.data, 0, &jerr);
    assert_non_null(json_object_get(doc, "keys"));
    return doc;
}

/* A key set that names ltigate's kid with the platform's RSA modulus:
 * ltigate's signatures cannot verify against it, so every verified
 * response must count as an error. */
static void deep_linking_wrong_key_counted(void **state)
{
    char url[256], path[] = "/tmp/ltisim-wrong-jwks-XXXXXX", args[512];
    int status = -1;
    snprintf(url, sizeof(url), "%s/hosted/index/jwks", shared.tool_base);
    json_t *tool = get_jwks(url);
    snprintf(url, sizeof(url), "%s/api/lti/security/jwks", sim_platform_base_url(shared.platform));
    json_t *platform = get_jwks(url);
    json_t *key = json_deep_copy(json_array_get(json_object_get(tool, "keys"), 0));
    json_t *other = json_array_get(json_object_get(platform, "keys"), 0);
    assert_non_null(key);
    assert_non_null(other);
    json_object_set(key, "n", json_object_get(other, "n"));
    json_object_set(key, "e", json_object_get(other, "e"));
    json_t *wrong = json_pack("{s:[o]}", "keys", key);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(json_dump_file(wrong, path, 0), 0);

    snprintf(args, sizeof(args),
             "--count 12 --concurrency 4 --deep-linking 100 --dl-verify-every 1 --tool-jwks %s",
             path);
    json_t *r = run_load(args, &status);
    assert_non_null(r);
    assert_int_equal(status, 1);
    assert_int_equal(int_at(r, "summary", "errors"), 12);
    assert_int_equal(int_at(r, "errors_by_reason", "dl_response_signature_invalid"), 12);
    assert_int_equal(dl_at(r, "verified"), 0);
    assert_int_equal(dl_at(r, "responses"), 0);
    json_decref(r);

    /* The platform's own key set has no key with ltigate's kid. */
    snprintf(args, sizeof(args),
             "--count 6 --concurrency 2 --deep-linking 100 --dl-verify-every 1 --tool-jwks %s",
             url);
    r = run_load(args, &status);
    assert_non_null(r);
    assert_int_equal(status, 1);
    assert_int_equal(int_at(r, "errors_by_reason", "dl_response_kid_unknown"), 6);
    json_decref(r);

    unlink(path);
    json_decref(wrong);
    json_decref(tool);
    json_decref(platform);
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
        cmocka_unit_test(deep_linking_20_round_trips_verified),
        cmocka_unit_test(deep_linking_split_phase_timed),
        cmocka_unit_test(deep_linking_wrong_key_counted),
        cmocka_unit_test(non_loopback_url_rejected),
    };
    return cmocka_run_group_tests(tests, start_shared, stop_shared);
}
