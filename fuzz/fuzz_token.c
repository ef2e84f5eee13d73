/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the token pre-parser (lti_jws_parse) and the claim
 * validator (lti_launch_validate). The input is tried twice: as a compact
 * JWS, and as a claims JSON document, so the validator is reached without
 * valid base64url or a signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lti/config.h"
#include "lti/jwt.h"
#include "lti/launch.h"
#include "lti/log.h"

/* 2026-12-04T00:00:00Z: the clock the claims are checked against. */
#define NOW INT64_C(1796342400)

static lti_role_map_entry_t role_map[] = {
    {"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", "instructor"},
    {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", "learner"},
};
static char *role_order[] = {"guest", "learner", "instructor"};
static const lti_platform_cfg_t platform = {
    .name = "fuzz",
    .issuer = "https://canvas.instructure.com",
    .client_id = "170000000000123",
};
static const lti_login_record_t login = {
    .nonce = "fuzz-nonce",
    .target_link_uri = "https://kaf.example.test/hosted/index/oauth2-launch",
    .iss = "https://canvas.instructure.com",
    .client_id = "170000000000123",
};
static lti_config_t cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lti_log_open("/dev/null", LTI_LOG_ERROR);
    cfg.user_id_attribute = "custom_canvas_user_login_id";
    cfg.user_id_fallback = "sub";
    cfg.clock_skew = 60;
    cfg.max_token_age = 600;
    cfg.max_token_lifetime = 3600;
    cfg.role_map = role_map;
    cfg.n_role_map = sizeof(role_map) / sizeof(role_map[0]);
    cfg.app_role_order = role_order;
    cfg.n_app_role_order = sizeof(role_order) / sizeof(role_order[0]);
    cfg.default_role = "guest";
    return 0;
}

static void validate(json_t *claims)
{
    lti_launch_t launch;
    lti_err_t err = {0};
    memset(&launch, 0, sizeof(launch));
    if (lti_launch_validate(&cfg, &platform, &login, claims, NOW, &launch, &err) == LTI_R_ok)
        lti_launch_clear(&launch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy without a NUL, so reads past the end are caught. */
    char *copy = malloc(size > 0 ? size : 1);
    lti_jws_t jws;
    lti_err_t err = {0};
    char why[256];

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(&jws, 0, sizeof(jws));
    if (lti_jws_parse(copy, size, &jws, &err) == LTI_R_ok) {
        validate(jws.payload);
        lti_jws_clear(&jws);
    }
    json_t *claims = lti_json_parse_strict(copy, size, LTI_JSON_MAX_DEPTH, why, sizeof(why));
    if (claims != NULL) {
        validate(claims);
        json_decref(claims);
    }
    free(copy);
    return 0;
}
