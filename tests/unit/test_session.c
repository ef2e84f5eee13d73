/* SPDX-License-Identifier: MIT */
/* Session cookies, login-state helpers and the landing-page rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "lti/oidc.h"
#include "lti/session.h"

static lti_config_t cfg;
static lti_platform_cfg_t platform = {.issuer = "https://canvas.instructure.com",
                                      .client_id = "170000000000123"};

static int setup(void **state)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.session_secret, 7, 32);
    cfg.session_secret_len = 32;
    cfg.session_lifetime = 600;
    cfg.base_url = "https://kaf.example.com";
    cfg.platforms = &platform;
    cfg.n_platforms = 1;
    return 0;
}

static json_t *sample_facts(int64_t now)
{
    lti_launch_t launch = {.platform = &platform,
                           .message_type = LTI_MSG_RESOURCE_LINK,
                           .user_id = "jdoe",
                           .app_role = "instructor",
                           .placement = "course_navigation",
                           .deployment_id = "42:abc"};
    return lti_session_from_launch(&cfg, &launch, "/hosted/media-gallery", now);
}

static void session_round_trip(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    assert_non_null(cookie);
    json_t *back = lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "user_id")), "jdoe");
    assert_string_equal(json_string_value(json_object_get(back, "page")), "/hosted/media-gallery");
    json_decref(back);
    json_decref(facts);
    free(cookie);
}

static void session_tampered_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    cookie[3] = cookie[3] == 'A' ? 'B' : 'A';
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    json_decref(facts);
    free(cookie);
}

static void session_other_secret_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    cfg.session_secret[0] ^= 1;
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    json_decref(facts);
    free(cookie);
}

static void session_expired_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1600, &err));
    assert_int_equal(err.reason, LTI_R_session_expired);
    json_decref(facts);
    free(cookie);
}

static void landing_page_by_placement_and_target(void **state)
{
    lti_launch_t l = {0};
    l.placement = "global_navigation";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/my-media");
    l.placement = "course_navigation";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/media-gallery");
    l.placement = "link_selection";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/resource");
    l.placement = NULL;
    l.target_link_uri = "https://kaf.example.com/hosted/index/oauth2-launch?placement=my_media";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/my-media");
    l.target_link_uri = "https://kaf.example.com/hosted/media-gallery";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/media-gallery");
    l.target_link_uri = "https://kaf.example.com/hosted/index/oauth2-launch";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/resource");
}

static void target_must_be_ours(void **state)
{
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com"));
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com/hosted/index/oauth2-launch"));
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com?x=1"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com.evil/x"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com@evil.example/"));
    assert_false(lti_oidc_target_is_ours(&cfg, "http://kaf.example.com/"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://evil.example/https://kaf.example.com"));
}

static void random_values_are_unique(void **state)
{
    char a[LTI_OIDC_RANDOM_LEN], b[LTI_OIDC_RANDOM_LEN];
    assert_int_equal(lti_oidc_random(a), 0);
    assert_int_equal(lti_oidc_random(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
}

static void record_round_trip_and_bounds(void **state)
{
    lti_oidc_record_t rec;
    char *text = lti_oidc_record_encode(0, "nonce1", "https://kaf.example.com/x", "42:abc", 5);
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), 0);
    assert_string_equal(rec.nonce, "nonce1");
    assert_string_equal(rec.deployment_hint, "42:abc");
    lti_oidc_record_clear(&rec);
    free(text);
    text = lti_oidc_record_encode(3, "n", "t", NULL, 5); /* platform index beyond config */
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), -1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(session_round_trip, setup),
        cmocka_unit_test_setup(session_tampered_rejected, setup),
        cmocka_unit_test_setup(session_other_secret_rejected, setup),
        cmocka_unit_test_setup(session_expired_rejected, setup),
        cmocka_unit_test_setup(landing_page_by_placement_and_target, setup),
        cmocka_unit_test_setup(target_must_be_ours, setup),
        cmocka_unit_test_setup(random_values_are_unique, setup),
        cmocka_unit_test_setup(record_round_trip_and_bounds, setup),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
