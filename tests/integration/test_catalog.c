/* SPDX-License-Identifier: MIT */
/*
 * The bad-input catalog under tests/catalog, run through `ltisim
 * conformance` against a real ltigate registered for the simulated Canvas.
 * Every case names the exact reason code (or outcome) it expects, so a
 * rejection for the wrong reason fails as surely as an acceptance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"
#include "../../src/sim/sim_conformance.h"

/* The catalog holds about 140 cases; far fewer means folders went missing. */
#define MIN_CASES 120

static char suite_dir[4096];

typedef struct tally {
    unsigned failed;
    char failures[16384];
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

static void catalog_cases_pass(void **state)
{
    (void)state;
    harness_t h;
    tally_t tally = {0};
    unsigned passed = 0, failed = 0;

    assert_int_equal(harness_start(&h, NULL), 0);
    sim_conformance_opts_t co = {.dir = suite_dir,
                                 .platform = sim_platform_base_url(h.platform),
                                 .tool = h.tool_base,
                                 .out = stdout,
                                 .on_case = on_case,
                                 .arg = &tally};
    int rc = sim_conformance_run(&co, &passed, &failed);
    harness_stop(&h);
    if (tally.failed > 0)
        fail_msg("%u catalog case(s) failed:\n%s", tally.failed, tally.failures);
    assert_int_equal(rc, 0);
    assert_int_equal(failed, 0);
    assert_true(passed >= MIN_CASES);
}

int main(void)
{
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    snprintf(suite_dir, sizeof(suite_dir), "%s/tests/catalog", src != NULL ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalog_cases_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
