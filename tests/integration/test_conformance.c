/* SPDX-License-Identifier: MIT */
/*
 * The 1EdTech certification launch payloads, read in place from
 * ../shared/cases/certification beside the checkout, run through
 * `ltisim conformance` against a real ltigate registered as the validator
 * (issuer https://ltiadvantagevalidator.imsglobal.org, client_id
 * imstester_3dfad6d, deployment testdeploy). Skipped (exit 77) when that
 * folder is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "harness.h"
#include "../../src/sim/sim_conformance.h"

/* 22 valid and 12 invalid cases; fewer means the folder is incomplete. */
#define MIN_CASES 34

static char suite_dir[4096];

typedef struct tally {
    unsigned failed;
    char failures[8192];
} tally_t;

static void on_case(void *arg, const sim_case_result_t *r)
{
    tally_t *t = arg;
    if (r->passed)
        return;
    t->failed++;
    size_t len = strlen(t->failures);
    snprintf(t->failures + len, sizeof(t->failures) - len, "  %s: %s\n", r->name, r->detail);
}

static void certification_cases_pass(void **state)
{
    (void)state;
    harness_t h;
    harness_opts_t opts = {.issuer = "https://ltiadvantagevalidator.imsglobal.org",
                           .client_id = "imstester_3dfad6d",
                           .deployment_id = "testdeploy"};
    tally_t tally = {0};
    unsigned passed = 0, failed = 0;

    assert_int_equal(harness_start(&h, &opts), 0);
    sim_conformance_opts_t co = {.dir = suite_dir,
                                 .platform = sim_platform_base_url(h.platform),
                                 .tool = h.tool_base,
                                 .out = stdout,
                                 .on_case = on_case,
                                 .arg = &tally};
    int rc = sim_conformance_run(&co, &passed, &failed);
    harness_stop(&h);
    if (tally.failed > 0)
        fail_msg("%u certification case(s) failed:\n%s", tally.failed, tally.failures);
    assert_int_equal(rc, 0);
    assert_int_equal(failed, 0);
    assert_true(passed >= MIN_CASES);
}

int main(void)
{
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    struct stat st;
    snprintf(suite_dir, sizeof(suite_dir), "%s/../shared/cases/certification",
             src != NULL ? src : ".");
    if (stat(suite_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: %s not found; the certification suite did not run\n", suite_dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(certification_cases_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
