/* SPDX-License-Identifier: MIT */
/* Deployment allow-lists and the accept-and-record policy across restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "lti/deployments.h"

static char dir[64];
static char file[128];
static char *listed[] = {"1:abc"};
static lti_platform_cfg_t platforms[2];
static lti_config_t cfg;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/ltigate-deploy-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/recorded.txt", dir);
    memset(platforms, 0, sizeof(platforms));
    platforms[0] = (lti_platform_cfg_t){.issuer = "https://a.example", .client_id = "1",
                                        .deployment_ids = listed, .n_deployment_ids = 1};
    platforms[1] = (lti_platform_cfg_t){.issuer = "https://b.example", .client_id = "2",
                                        .deployment_policy = LTI_DEPLOY_RECORD,
                                        .deployments_file = file};
    cfg = (lti_config_t){.platforms = platforms, .n_platforms = 2};
    return 0;
}

static int teardown(void **state)
{
    unlink(file);
    rmdir(dir);
    return 0;
}

static void listed_deployment_only(void **state)
{
    char errbuf[128];
    lti_err_t err = {0};
    lti_deployments_t *d = lti_deployments_new(&cfg, errbuf, sizeof(errbuf));
    assert_non_null(d);
    assert_int_equal(lti_deployments_check(d, 0, "1:abc", &err), LTI_R_ok);
    assert_int_equal(lti_deployments_check(d, 0, "2:def", &err), LTI_R_deployment_unknown);
    lti_deployments_free(d);
}

static void recorded_deployment_survives_restart(void **state)
{
    char errbuf[128];
    lti_err_t err = {0};
    lti_deployments_t *d = lti_deployments_new(&cfg, errbuf, sizeof(errbuf));
    assert_int_equal(lti_deployments_check(d, 1, "7:new", &err), LTI_R_ok);
    assert_int_equal(lti_deployments_check(d, 1, "7:new", &err), LTI_R_ok);
    lti_deployments_flush(d);
    lti_deployments_free(d);

    FILE *fp = fopen(file, "r");
    char line[64];
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    assert_string_equal(line, "7:new\n");
    assert_null(fgets(line, sizeof(line), fp)); /* recorded once */
    fclose(fp);

    /* A restart reads the file back; the list policy of platform 0 is
     * untouched by what platform 1 recorded. */
    d = lti_deployments_new(&cfg, errbuf, sizeof(errbuf));
    platforms[1].deployment_policy = LTI_DEPLOY_LIST;
    assert_int_equal(lti_deployments_check(d, 1, "7:new", &err), LTI_R_ok);
    assert_int_equal(lti_deployments_check(d, 0, "7:new", &err), LTI_R_deployment_unknown);
    lti_deployments_free(d);
}

static void partial_last_line_ignored(void **state)
{
    char errbuf[128];
    lti_err_t err = {0};
    FILE *fp = fopen(file, "w");
    fputs("8:ok\n9:cut", fp);
    fclose(fp);
    lti_deployments_t *d = lti_deployments_new(&cfg, errbuf, sizeof(errbuf));
    assert_non_null(d);
    /* Switching to the list policy shows what was read from the file. */
    platforms[1].deployment_policy = LTI_DEPLOY_LIST;
    assert_int_equal(lti_deployments_check(d, 1, "8:ok", &err), LTI_R_ok);
    assert_int_equal(lti_deployments_check(d, 1, "9:cut", &err), LTI_R_deployment_unknown);
    lti_deployments_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(listed_deployment_only, setup, teardown),
        cmocka_unit_test_setup_teardown(recorded_deployment_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(partial_last_line_ignored, setup, teardown),
    };
    return cmocka_run_group_tests_name("deployments", tests, NULL, NULL);
}
