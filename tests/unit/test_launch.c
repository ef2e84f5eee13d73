/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/launch/: claim validation, user-ID mapping and role
 * mapping. The cases live in tests/data/launch/ as JSON tables: each one
 * patches a Canvas-shaped base payload (set or delete claims) and names the
 * expected reason code or mapped value. The 1EdTech certification payloads
 * from ../shared/cases/certification run as extra cases when that folder
 * exists.
 *
 * Notation inside the tables: {"$now": N} is the test clock plus N seconds
 * (an integer, or a real when N is real); {"$repeat": ["c", N]} is a string
 * of N copies of c. Claim names may be short: "lti:X" is LTI_CLAIM_PREFIX X,
 * "dl:settings" is LTI_CLAIM_DL_SETTINGS, "canvas:placement" is
 * LTI_CLAIM_PLACEMENT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "lti/launch.h"
#include "lti/reason.h"

#define NOW INT64_C(1760000000)
#define CANVAS_ISS "https://canvas.instructure.com"
#define CANVAS_CLIENT_ID "170000000000123"
#define LOGIN_NONCE "b1d0b2c4c7b8483a9b1b1b8f5f0d3e21"
#define LOGIN_TARGET "https://kaf.example.test/hosted/index/oauth2-launch"
#define BASE_SUB "6f1e2d3c-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
#define BASE_NAME "Pat Example"
#define BASE_EMAIL "pat.example@example.test"

#define CERT_ISS "https://ltiadvantagevalidator.imsglobal.org"
#define CERT_CLIENT_ID "imstester_3dfad6d"

#define MEMBERSHIP "http://purl.imsglobal.org/vocab/lis/v2/membership"

static char *canvas_trusted[] = {"https://trusted.example.test"};

static const lti_platform_cfg_t canvas_platform = {
    .name = "canvas",
    .issuer = CANVAS_ISS,
    .client_id = CANVAS_CLIENT_ID,
    .trusted_audiences = canvas_trusted,
    .n_trusted_audiences = 1,
};

static const lti_platform_cfg_t cert_platform = {
    .name = "1EdTech validator",
    .issuer = CERT_ISS,
    .client_id = CERT_CLIENT_ID,
};

static const lti_login_record_t canvas_login = {
    .nonce = LOGIN_NONCE,
    .target_link_uri = LOGIN_TARGET,
    .iss = CANVAS_ISS,
    .client_id = CANVAS_CLIENT_ID,
};

static lti_role_map_entry_t role_map[] = {
    {MEMBERSHIP "#Instructor", "instructor"},
    {MEMBERSHIP "/Instructor#TeachingAssistant", "ta"},
    {MEMBERSHIP "#Learner", "learner"},
    {MEMBERSHIP "#ContentDeveloper", "instructor"},
    {MEMBERSHIP "#Mentor", "guest"},
    {"http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin", "admin"},
    {"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator", "admin"},
};

static char *role_order[] = {"guest", "learner", "ta", "instructor", "admin"};

/* Fills `cfg` with the settings every test starts from: a Canvas-style
 * KAF setup that maps users by the login ID custom field, falling back to
 * sub, and the roles table above. */
static void init_config(lti_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->user_id_attribute = "custom_canvas_user_login_id";
    cfg->user_id_fallback = "sub";
    cfg->clock_skew = 60;
    cfg->max_token_age = 600;
    cfg->max_token_lifetime = 3600;
    cfg->role_map = role_map;
    cfg->n_role_map = sizeof(role_map) / sizeof(role_map[0]);
    cfg->app_role_order = role_order;
    cfg->n_app_role_order = sizeof(role_order) / sizeof(role_order[0]);
    cfg->default_role = "guest";
}

static const char *source_dir(void)
{
    const char *dir = getenv("LTIGATE_SOURCE_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

/* Loads a JSON file the way the tests need it: duplicate keys are an error,
 * and \u0000 is allowed so the tables can carry NUL bytes into claims. */
static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

    if (v == NULL)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return v;
}

static json_t *load_table(const char *name)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/tests/data/launch/%s", source_dir(), name);
    return load_json(path);
}

/* Returns a deep copy of `v` with the $now and $repeat notation replaced. */
static json_t *resolve(json_t *v)
{
    const char *key;
    json_t *child, *copy;
    size_t i;

    if (json_is_object(v) && json_object_size(v) == 1) {
        json_t *rel = json_object_get(v, "$now");
        json_t *rep = json_object_get(v, "$repeat");
        if (json_is_integer(rel))
            return json_integer(NOW + json_integer_value(rel));
        if (json_is_real(rel))
            return json_real((double)NOW + json_real_value(rel));
        if (rep != NULL) {
            const char *unit = json_string_value(json_array_get(rep, 0));
            size_t n = (size_t)json_integer_value(json_array_get(rep, 1));
            assert_non_null(unit);
            char *s = malloc(n + 1);
            assert_non_null(s);
            memset(s, unit[0], n);
            s[n] = '\0';
            copy = json_stringn(s, n);
            free(s);
            return copy;
        }
    }
    if (json_is_object(v)) {
        copy = json_object();
        json_object_foreach(v, key, child)
            json_object_set_new(copy, key, resolve(child));
        return copy;
    }
    if (json_is_array(v)) {
        copy = json_array();
        json_array_foreach(v, i, child)
            json_array_append_new(copy, resolve(child));
        return copy;
    }
    return json_incref(v);
}

static void expand_claim_name(const char *name, char *buf, size_t len)
{
    if (strncmp(name, "lti:", 4) == 0)
        snprintf(buf, len, "%s%s", LTI_CLAIM_PREFIX, name + 4);
    else if (strcmp(name, "dl:settings") == 0)
        snprintf(buf, len, "%s", LTI_CLAIM_DL_SETTINGS);
    else if (strcmp(name, "canvas:placement") == 0)
        snprintf(buf, len, "%s", LTI_CLAIM_PLACEMENT);
    else
        snprintf(buf, len, "%s", name);
}

/* Builds the claims of one case: the base payload with the case's "set"
 * and "delete" lists applied. */
static json_t *build_claims(json_t *base, json_t *kase)
{
    json_t *claims = resolve(base);
    const char *name;
    char full[512];
    json_t *v;
    size_t i;

    json_object_foreach(json_object_get(kase, "set"), name, v) {
        expand_claim_name(name, full, sizeof(full));
        json_object_set_new(claims, full, resolve(v));
    }
    json_array_foreach(json_object_get(kase, "delete"), i, v) {
        expand_claim_name(json_string_value(v), full, sizeof(full));
        assert_int_equal(json_object_del(claims, full), 0);
    }
    return claims;
}

/* Applies a case's "config" object to `cfg`. The strings stay owned by the
 * case table, which outlives every use of `cfg`. */
static void apply_config(lti_config_t *cfg, json_t *kase)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"user_id_attribute", offsetof(lti_config_t, user_id_attribute)},
        {"user_id_claim", offsetof(lti_config_t, user_id_claim)},
        {"user_id_claim_property", offsetof(lti_config_t, user_id_claim_property)},
        {"user_id_fallback", offsetof(lti_config_t, user_id_fallback)},
    };
    const char *key;
    json_t *v;

    json_object_foreach(json_object_get(kase, "config"), key, v) {
        size_t i;
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(keys[i].key, key) == 0)
                break;
        if (i == sizeof(keys) / sizeof(keys[0]))
            fail_msg("unknown config key %s in case table", key);
        *(const char **)((char *)cfg + keys[i].offset) = json_string_value(v);
    }
}

static const struct {
    const char *name;
    size_t offset;
} launch_strings[] = {
    {"sub", offsetof(lti_launch_t, sub)},
    {"deployment_id", offsetof(lti_launch_t, deployment_id)},
    {"target_link_uri", offsetof(lti_launch_t, target_link_uri)},
    {"resource_link_id", offsetof(lti_launch_t, resource_link_id)},
    {"resource_link_title", offsetof(lti_launch_t, resource_link_title)},
    {"context_id", offsetof(lti_launch_t, context_id)},
    {"context_title", offsetof(lti_launch_t, context_title)},
    {"context_label", offsetof(lti_launch_t, context_label)},
    {"placement", offsetof(lti_launch_t, placement)},
    {"name", offsetof(lti_launch_t, name)},
    {"email", offsetof(lti_launch_t, email)},
    {"dl_return_url", offsetof(lti_launch_t, dl_return_url)},
    {"user_id", offsetof(lti_launch_t, user_id)},
    {"app_role", offsetof(lti_launch_t, app_role)},
};

/* Compares one expected field of a valid launch; returns 1 on a mismatch
 * after printing it. */
static int check_launch_field(const char *case_name, const lti_launch_t *l, const char *field,
                              json_t *want)
{
    long long got_int = 0;

    for (size_t i = 0; i < sizeof(launch_strings) / sizeof(launch_strings[0]); i++) {
        if (strcmp(launch_strings[i].name, field) != 0)
            continue;
        const char *got = *(const char *const *)((const char *)l + launch_strings[i].offset);
        if (json_is_null(want) ? got == NULL
                               : got != NULL && strcmp(got, json_string_value(want)) == 0)
            return 0;
        print_error("case '%s': %s is '%s', expected '%s'\n", case_name, field,
                    got != NULL ? got : "(null)",
                    json_is_null(want) ? "(null)" : json_string_value(want));
        return 1;
    }

    if (strcmp(field, "message_type") == 0) {
        const char *got = l->message_type == LTI_MSG_RESOURCE_LINK  ? "LtiResourceLinkRequest"
                          : l->message_type == LTI_MSG_DEEP_LINKING ? "LtiDeepLinkingRequest"
                                                                    : "(none)";
        if (strcmp(got, json_string_value(want)) == 0)
            return 0;
        print_error("case '%s': message_type is %s, expected %s\n", case_name, got,
                    json_string_value(want));
        return 1;
    }
    if (strcmp(field, "iat") == 0)
        got_int = l->iat;
    else if (strcmp(field, "exp") == 0)
        got_int = l->exp;
    else if (strcmp(field, "user_id_from_fallback") == 0)
        got_int = l->user_id_from_fallback;
    else
        fail_msg("case '%s': unknown field %s", case_name, field);
    if (got_int == json_integer_value(want))
        return 0;
    print_error("case '%s': %s is %lld, expected %lld\n", case_name, field, got_int,
                (long long)json_integer_value(want));
    return 1;
}

/* Returns 1 when `msg` quotes `value`, a claim value that must never be
 * logged. Short values are skipped because they match by chance. */
static int quotes_secret(const char *msg, json_t *value)
{
    return json_is_string(value) && json_string_length(value) >= 6 &&
           strstr(msg, json_string_value(value)) != NULL;
}

/* Checks the detail message of a rejection: it is set, it has the returned
 * reason, and it quotes no nonce, name or e-mail address. Returns 1 on a
 * problem after printing it. */
static int check_rejection_detail(const char *case_name, lti_reason_t rc, const lti_err_t *err,
                                  json_t *claims)
{
    if (err->reason != rc || err->msg[0] == '\0') {
        print_error("case '%s': err has reason %s and message '%s'\n", case_name,
                    lti_reason_code(err->reason), err->msg);
        return 1;
    }
    if (strstr(err->msg, LOGIN_NONCE) != NULL ||
        quotes_secret(err->msg, json_object_get(claims, "nonce")) ||
        quotes_secret(err->msg, json_object_get(claims, "name")) ||
        quotes_secret(err->msg, json_object_get(claims, "email")) ||
        strstr(err->msg, BASE_EMAIL) != NULL || strstr(err->msg, BASE_NAME) != NULL) {
        print_error("case '%s': message quotes a nonce, name or e-mail: %s\n", case_name, err->msg);
        return 1;
    }
    return 0;
}

/* Runs one row of claim_cases.json; returns the number of failed checks. */
static int run_claim_case(json_t *base, json_t *kase)
{
    const char *name = json_string_value(json_object_get(kase, "name"));
    const char *expect_code = json_string_value(json_object_get(kase, "expect"));
    lti_reason_t expect = lti_reason_from_code(expect_code);
    json_t *claims = build_claims(base, kase);
    lti_config_t cfg;
    lti_launch_t launch;
    lti_err_t err;
    int failures = 0;

    if (expect == LTI_R__COUNT)
        fail_msg("case '%s': unknown reason code %s", name, expect_code);
    init_config(&cfg);
    apply_config(&cfg, kase);
    lti_err_clear(&err);

    lti_reason_t rc =
        lti_launch_validate(&cfg, &canvas_platform, &canvas_login, claims, NOW, &launch, &err);
    if (rc != expect) {
        print_error("case '%s': got %s (%s), expected %s\n", name, lti_reason_code(rc), err.msg,
                    expect_code);
        failures++;
    } else if (rc == LTI_R_ok) {
        const char *field;
        json_t *want;
        if (launch.claims != claims || claims->refcount != 2 ||
            launch.platform != &canvas_platform || launch.user_id == NULL ||
            launch.app_role == NULL || err.reason != LTI_R_ok) {
            print_error("case '%s': valid launch lacks claims, platform, user_id or app_role\n",
                        name);
            failures++;
        }
        json_t *fields = json_object_get(kase, "fields");
        json_object_foreach(fields, field, want) {
            json_t *resolved = resolve(want);
            failures += check_launch_field(name, &launch, field, resolved);
            json_decref(resolved);
        }
        lti_launch_clear(&launch);
        if (launch.claims != NULL || claims->refcount != 1) {
            print_error("case '%s': lti_launch_clear kept the claims reference\n", name);
            failures++;
        }
    } else {
        failures += check_rejection_detail(name, rc, &err, claims);
        if (launch.claims != NULL || launch.user_id != NULL || claims->refcount != 1) {
            print_error("case '%s': rejected launch keeps data\n", name);
            failures++;
        }
    }
    json_decref(claims);
    return failures;
}

static void test_claim_cases(void **state)
{
    (void)state;
    /* Every claim check needs at least one failing row in the table. */
    static const lti_reason_t required[] = {
        LTI_R_iss_mismatch,
        LTI_R_aud_invalid,
        LTI_R_aud_mismatch,
        LTI_R_azp_missing,
        LTI_R_azp_mismatch,
        LTI_R_exp_invalid,
        LTI_R_token_expired,
        LTI_R_iat_invalid,
        LTI_R_iat_future,
        LTI_R_iat_too_old,
        LTI_R_nbf_future,
        LTI_R_lifetime_too_long,
        LTI_R_nonce_missing,
        LTI_R_nonce_mismatch,
        LTI_R_deployment_id_missing,
        LTI_R_deployment_id_invalid,
        LTI_R_version_missing,
        LTI_R_version_unsupported,
        LTI_R_message_type_missing,
        LTI_R_message_type_unsupported,
        LTI_R_roles_missing,
        LTI_R_target_link_uri_mismatch,
        LTI_R_resource_link_missing,
        LTI_R_dl_settings_missing,
        LTI_R_sub_invalid,
        LTI_R_claim_invalid,
        LTI_R_user_id_missing,
    };
    int seen[LTI_R__COUNT] = {0};
    json_t *base = load_table("canvas_claims.json");
    json_t *cases = load_table("claim_cases.json");
    json_t *kase;
    size_t i;
    int failures = 0;

    json_array_foreach(cases, i, kase) {
        failures += run_claim_case(base, kase);
        lti_reason_t r = lti_reason_from_code(json_string_value(json_object_get(kase, "expect")));
        if (r < LTI_R__COUNT)
            seen[r] = 1;
    }
    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!seen[required[i]]) {
            print_error("no case expects %s\n", lti_reason_code(required[i]));
            failures++;
        }
    }
    print_message("%zu claim cases\n", json_array_size(cases));
    json_decref(cases);
    json_decref(base);
    assert_int_equal(failures, 0);
}

/* Runs one row of user_id_cases.json through lti_launch_map_user_id. A
 * fallback to sub shows as a result that is sub's own string. */
static int run_user_id_case(json_t *base, json_t *kase)
{
    const char *name = json_string_value(json_object_get(kase, "name"));
    json_t *want = resolve(json_object_get(kase, "user_id"));
    json_t *from_fallback = json_object_get(kase, "from_fallback");
    json_t *claims = build_claims(base, kase);
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    lti_config_t cfg;
    lti_err_t err;
    int failures = 0;

    init_config(&cfg);
    apply_config(&cfg, kase);
    lti_err_clear(&err);

    const char *got = lti_launch_map_user_id(&cfg, claims, &err);
    if (json_is_null(want)) {
        if (got != NULL) {
            print_error("case '%s': mapped to '%s', expected a rejection\n", name, got);
            failures++;
        } else if (err.reason != LTI_R_user_id_missing) {
            print_error("case '%s': rejection reason is %s\n", name, lti_reason_code(err.reason));
            failures++;
        } else {
            failures += check_rejection_detail(name, LTI_R_user_id_missing, &err, claims);
        }
    } else if (got == NULL || strcmp(got, json_string_value(want)) != 0) {
        print_error("case '%s': mapped to '%s' (%s), expected '%s'\n", name,
                    got != NULL ? got : "(null)", err.msg, json_string_value(want));
        failures++;
    } else if (from_fallback != NULL && (got == sub) != json_integer_value(from_fallback)) {
        print_error("case '%s': fallback to sub is %d, expected %lld\n", name, got == sub,
                    (long long)json_integer_value(from_fallback));
        failures++;
    } else if (err.reason != LTI_R_ok) {
        print_error("case '%s': success left err %s\n", name, lti_reason_code(err.reason));
        failures++;
    }
    json_decref(want);
    json_decref(claims);
    return failures;
}

static void test_user_id_cases(void **state)
{
    (void)state;
    json_t *base = load_table("canvas_claims.json");
    json_t *cases = load_table("user_id_cases.json");
    json_t *kase;
    size_t i;
    int failures = 0;

    json_array_foreach(cases, i, kase)
        failures += run_user_id_case(base, kase);
    print_message("%zu user ID cases\n", json_array_size(cases));
    json_decref(cases);
    json_decref(base);
    assert_int_equal(failures, 0);
}

static void test_user_id_detail_quotes_variable_only(void **state)
{
    (void)state;
    lti_config_t cfg;
    lti_err_t err;
    json_t *claims;

    init_config(&cfg);
    cfg.user_id_fallback = "reject";

    claims = json_pack("{s:{s:s}}", LTI_CLAIM_PREFIX "custom", "canvas_user_login_id",
                       "$Canvas.user.loginId");
    lti_err_clear(&err);
    assert_null(lti_launch_map_user_id(&cfg, claims, &err));
    assert_int_equal(err.reason, LTI_R_user_id_missing);
    assert_non_null(strstr(err.msg, "$Canvas.user.loginId"));
    assert_non_null(strstr(err.msg, "custom_canvas_user_login_id"));
    json_decref(claims);

    claims =
        json_pack("{s:{s:s}}", LTI_CLAIM_PREFIX "custom", "canvas_user_login_id", "jdoe.secret ");
    lti_err_clear(&err);
    assert_null(lti_launch_map_user_id(&cfg, claims, &err));
    assert_int_equal(err.reason, LTI_R_user_id_missing);
    assert_null(strstr(err.msg, "jdoe.secret"));
    json_decref(claims);

    /* An e-mail address that starts like a variable is still not quoted. */
    claims = json_pack("{s:{s:s}}", LTI_CLAIM_PREFIX "custom", "canvas_user_login_id",
                       "$pat@example.test");
    lti_err_clear(&err);
    assert_null(lti_launch_map_user_id(&cfg, claims, &err));
    assert_null(strstr(err.msg, "example.test"));
    json_decref(claims);
}

static void test_is_unsubstituted(void **state)
{
    (void)state;
    assert_int_equal(lti_is_unsubstituted("$Canvas.user.loginId"), 1);
    assert_int_equal(lti_is_unsubstituted("$Person.sourcedId"), 1);
    assert_int_equal(lti_is_unsubstituted("$com.instructure.PostMessageToken"), 1);
    assert_int_equal(lti_is_unsubstituted("$x"), 1);
    assert_int_equal(lti_is_unsubstituted("$5"), 0);
    assert_int_equal(lti_is_unsubstituted("$"), 0);
    assert_int_equal(lti_is_unsubstituted("$ Canvas"), 0);
    assert_int_equal(lti_is_unsubstituted("jdoe"), 0);
    assert_int_equal(lti_is_unsubstituted("a$Canvas.user.id"), 0);
    assert_int_equal(lti_is_unsubstituted(""), 0);
    assert_int_equal(lti_is_unsubstituted(NULL), 0);
}

static void test_role_cases(void **state)
{
    (void)state;
    json_t *cases = load_table("role_cases.json");
    json_t *kase;
    lti_config_t cfg;
    size_t i;
    int failures = 0;

    init_config(&cfg);
    json_array_foreach(cases, i, kase) {
        const char *name = json_string_value(json_object_get(kase, "name"));
        const char *want = json_string_value(json_object_get(kase, "expect"));
        const char *got = lti_launch_map_role(&cfg, json_object_get(kase, "roles"));
        if (got == NULL || strcmp(got, want) != 0) {
            print_error("case '%s': role %s, expected %s\n", name, got != NULL ? got : "(null)",
                        want);
            failures++;
        }
    }
    print_message("%zu role cases\n", json_array_size(cases));
    json_decref(cases);
    assert_int_equal(failures, 0);
}

static void test_role_default_never_null(void **state)
{
    (void)state;
    lti_config_t cfg;
    json_t *roles = json_pack("[s]", "Observer");

    init_config(&cfg);
    cfg.default_role = NULL;
    assert_string_equal(lti_launch_map_role(&cfg, roles), "guest");
    memset(&cfg, 0, sizeof(cfg));
    assert_string_equal(lti_launch_map_role(&cfg, roles), "");
    json_decref(roles);
}

static void test_validate_rejects_bad_arguments(void **state)
{
    (void)state;
    lti_config_t cfg;
    lti_launch_t launch;
    lti_err_t err;
    json_t *array = json_array();
    json_t *object = json_object();

    init_config(&cfg);
    lti_err_clear(&err);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &canvas_login, array, NOW, &launch, &err),
        LTI_R_payload_invalid);
    assert_int_equal(err.reason, LTI_R_payload_invalid);
    assert_null(launch.claims);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &canvas_login, NULL, NOW, &launch, NULL),
        LTI_R_payload_invalid);
    assert_int_equal(lti_launch_validate(&cfg, NULL, &canvas_login, object, NOW, &launch, NULL),
                     LTI_R_internal_error);
    assert_int_equal(lti_launch_validate(&cfg, &canvas_platform, NULL, object, NOW, &launch, NULL),
                     LTI_R_internal_error);
    /* A NULL err is allowed for ordinary rejections too. */
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &canvas_login, object, NOW, &launch, NULL),
        LTI_R_iss_mismatch);
    assert_int_equal(object->refcount, 1);
    json_decref(array);
    json_decref(object);
}

/* Checks that a login record without a nonce or target_link_uri never
 * matches, so a caller bug cannot turn into an accepted launch. */
static void test_validate_login_record_without_values(void **state)
{
    (void)state;
    json_t *base = load_table("canvas_claims.json");
    json_t *claims = resolve(base);
    lti_login_record_t login = canvas_login;
    lti_config_t cfg;
    lti_launch_t launch;
    lti_err_t err;

    init_config(&cfg);
    login.nonce = NULL;
    lti_err_clear(&err);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &login, claims, NOW, &launch, &err),
        LTI_R_nonce_mismatch);

    login = canvas_login;
    login.target_link_uri = NULL;
    lti_err_clear(&err);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &login, claims, NOW, &launch, &err),
        LTI_R_target_link_uri_mismatch);
    json_decref(claims);
    json_decref(base);
}

/* Checks that a nonce longer than 128 bytes is rejected even when it equals
 * the login's nonce, so the length cap does not depend on what the login
 * record holds. */
static void test_validate_long_nonce_rejected(void **state)
{
    (void)state;
    char long_nonce[130];
    json_t *base = load_table("canvas_claims.json");
    json_t *claims = resolve(base);
    lti_login_record_t login = canvas_login;
    lti_config_t cfg;
    lti_launch_t launch;
    lti_err_t err;

    memset(long_nonce, 'n', 129);
    long_nonce[129] = '\0';
    login.nonce = long_nonce;
    json_object_set_new(claims, "nonce", json_string(long_nonce));
    init_config(&cfg);
    lti_err_clear(&err);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &login, claims, NOW, &launch, &err),
        LTI_R_nonce_mismatch);
    assert_null(strstr(err.msg, long_nonce));

    long_nonce[128] = '\0';
    json_object_set_new(claims, "nonce", json_string(long_nonce));
    lti_err_clear(&err);
    assert_int_equal(
        lti_launch_validate(&cfg, &canvas_platform, &login, claims, NOW, &launch, &err), LTI_R_ok);
    lti_launch_clear(&launch);
    json_decref(claims);
    json_decref(base);
}

/* The certification folder sits next to the repository; the tests that
 * read it skip when it is absent. */
static int cert_dir(char *buf, size_t len)
{
    struct stat st;

    snprintf(buf, len, "%s/../shared/cases/certification", source_dir());
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_file(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int is_case_dir(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Prepares a certification payload as the folder's README describes. Unless
 * keep.json names them, iat and exp become now and now + 3600, or the
 * offsets of times.json. A nonce claim becomes the login's nonce, and a
 * target_link_uri claim becomes the login's target_link_uri. */
static json_t *load_cert_payload(const char *dir, const lti_login_record_t *login)
{
    char path[4096];
    json_t *payload, *keep = NULL, *times = NULL;
    json_int_t iat_offset = 0, exp_offset = 3600;

    snprintf(path, sizeof(path), "%s/payload.json", dir);
    payload = load_json(path);
    if (has_file(dir, "keep.json")) {
        snprintf(path, sizeof(path), "%s/keep.json", dir);
        keep = load_json(path);
    }
    if (has_file(dir, "times.json")) {
        snprintf(path, sizeof(path), "%s/times.json", dir);
        times = load_json(path);
        if (json_is_integer(json_object_get(times, "iat")))
            iat_offset = json_integer_value(json_object_get(times, "iat"));
        if (json_is_integer(json_object_get(times, "exp")))
            exp_offset = json_integer_value(json_object_get(times, "exp"));
    }

    int keep_iat = 0, keep_exp = 0;
    json_t *v;
    size_t i;
    json_array_foreach(keep, i, v) {
        keep_iat |= json_is_string(v) && strcmp(json_string_value(v), "iat") == 0;
        keep_exp |= json_is_string(v) && strcmp(json_string_value(v), "exp") == 0;
    }
    if (!keep_iat)
        json_object_set_new(payload, "iat", json_integer(NOW + iat_offset));
    if (!keep_exp)
        json_object_set_new(payload, "exp", json_integer(NOW + exp_offset));
    if (json_object_get(payload, "nonce") != NULL)
        json_object_set_new(payload, "nonce", json_string(login->nonce));
    if (json_object_get(payload, LTI_CLAIM_PREFIX "target_link_uri") != NULL)
        json_object_set_new(payload, LTI_CLAIM_PREFIX "target_link_uri",
                            json_string(login->target_link_uri));
    json_decref(keep);
    json_decref(times);
    return payload;
}

static void init_cert_config(lti_config_t *cfg)
{
    init_config(cfg);
    cfg->user_id_attribute = "sub";
    cfg->user_id_fallback = "reject";
}

static const lti_login_record_t cert_login = {
    .nonce = "3f6c0e1a9b2d4c5e8f7a6b5c4d3e2f1a",
    .target_link_uri = "https://kaf.example.test/hosted/index/oauth2-launch",
    .iss = CERT_ISS,
    .client_id = CERT_CLIENT_ID,
};

/* App role each valid certification case earns with the test roles table. */
static const struct {
    const char *name;
    const char *app_role;
} cert_valid_roles[] = {
    {"Assignments and Grades - Core Launch", "instructor"},
    {"Deep Linking - Core Launch of Passed LTI Link", "learner"},
    {"Deep Linking - Send Deep Linking Request Payload", "instructor"},
    {"Launch Instructor No PII", "instructor"},
    {"Launch Instructor Only Email", "instructor"},
    {"Launch Instructor Only Names", "instructor"},
    {"Launch Instructor With Email No Context", "instructor"},
    {"Launch Instructor With No Role", "guest"},
    {"Launch Instructor with Multiple Role Values", "instructor"},
    {"Launch Instructor with Short Role Value", "instructor"},
    {"Launch Instructor with Unknown Role", "guest"},
    {"Launch LTI 1.3 Message as Instructor", "instructor"},
    {"Launch LTI 1.3 Message as Student", "learner"},
    {"Launch Student No PII", "learner"},
    {"Launch Student Only Email", "learner"},
    {"Launch Student Only Names", "learner"},
    {"Launch Student Only Resource Link", "learner"},
    {"Launch Student With No Role", "guest"},
    {"Launch Student with Multiple Role Values", "learner"},
    {"Launch Student with Short Role Value", "learner"},
    {"Launch Student with Unknown Role", "learner"},
    {"Names and Roles - Core Launch if Needed", "instructor"},
};

/* Reason each invalid certification case gets; the first failing check in
 * the documented order decides. */
static const struct {
    const char *name;
    lti_reason_t reason;
} cert_invalid_reasons[] = {
    {"Exp and Iat Fields invalid", LTI_R_token_expired},
    {"LTI version passed is not 1.3", LTI_R_version_unsupported},
    {"Launch With Missing resource_link_id", LTI_R_resource_link_missing},
    {"No LTI Version Passed in JWT", LTI_R_version_missing},
    {"One or more JWT fields missing", LTI_R_version_missing},
    {"deployment_id Claim Missing", LTI_R_deployment_id_missing},
    {"message_type Claim Missing", LTI_R_message_type_missing},
    {"role Claim Missing", LTI_R_roles_missing},
    {"user Claim Missing", LTI_R_sub_invalid},
};

static void test_certification_valid(void **state)
{
    (void)state;
    char root[1024], dir[2048];
    struct dirent **names;
    lti_config_t cfg;
    int failures = 0, ran = 0;

    if (!cert_dir(root, sizeof(root)))
        skip();
    snprintf(dir, sizeof(dir), "%s/valid", root);
    int n = scandir(dir, &names, is_case_dir, alphasort);
    assert_true(n > 0);
    init_cert_config(&cfg);

    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        const char *want_role = NULL;
        lti_launch_t launch;
        lti_err_t err;

        snprintf(dir, sizeof(dir), "%s/valid/%s", root, name);
        json_t *payload = load_cert_payload(dir, &cert_login);
        lti_err_clear(&err);
        lti_reason_t rc =
            lti_launch_validate(&cfg, &cert_platform, &cert_login, payload, NOW, &launch, &err);
        for (size_t j = 0; j < sizeof(cert_valid_roles) / sizeof(cert_valid_roles[0]); j++)
            if (strcmp(cert_valid_roles[j].name, name) == 0)
                want_role = cert_valid_roles[j].app_role;

        if (rc != LTI_R_ok) {
            print_error("valid '%s': rejected with %s (%s)\n", name, lti_reason_code(rc), err.msg);
            failures++;
        } else {
            print_message("valid '%s': ok, user_id %s, app_role %s\n", name, launch.user_id,
                          launch.app_role);
            if (strcmp(launch.user_id, json_string_value(json_object_get(payload, "sub"))) != 0 ||
                (want_role != NULL && strcmp(launch.app_role, want_role) != 0)) {
                print_error("valid '%s': user_id %s, app_role %s, expected role %s\n", name,
                            launch.user_id, launch.app_role, want_role);
                failures++;
            }
            lti_launch_clear(&launch);
        }
        ran++;
        json_decref(payload);
        free(names[i]);
    }
    free(names);
    print_message("%d valid certification cases\n", ran);
    assert_int_equal(failures, 0);
}

static void test_certification_invalid(void **state)
{
    (void)state;
    char root[1024], dir[2048];
    struct dirent **names;
    lti_config_t cfg;
    int failures = 0, ran = 0;

    if (!cert_dir(root, sizeof(root)))
        skip();
    snprintf(dir, sizeof(dir), "%s/invalid", root);
    int n = scandir(dir, &names, is_case_dir, alphasort);
    assert_true(n > 0);
    init_cert_config(&cfg);

    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        lti_launch_t launch;
        lti_err_t err;

        snprintf(dir, sizeof(dir), "%s/invalid/%s", root, name);
        /* A case with its own JOSE header fails before claim validation,
         * in the JWS header checks, so it does not belong here. */
        if (has_file(dir, "header.json")) {
            print_message("invalid '%s': skipped, it needs its own JWS header\n", name);
            free(names[i]);
            continue;
        }
        json_t *payload = load_cert_payload(dir, &cert_login);
        lti_err_clear(&err);
        lti_reason_t rc =
            lti_launch_validate(&cfg, &cert_platform, &cert_login, payload, NOW, &launch, &err);
        lti_reason_t want = LTI_R__COUNT;
        for (size_t j = 0; j < sizeof(cert_invalid_reasons) / sizeof(cert_invalid_reasons[0]); j++)
            if (strcmp(cert_invalid_reasons[j].name, name) == 0)
                want = cert_invalid_reasons[j].reason;

        print_message("invalid '%s': %s (%s)\n", name, lti_reason_code(rc), err.msg);
        if (rc == LTI_R_ok) {
            lti_launch_clear(&launch);
            failures++;
        } else if (want != LTI_R__COUNT && rc != want) {
            print_error("invalid '%s': expected %s\n", name, lti_reason_code(want));
            failures++;
        }
        ran++;
        json_decref(payload);
        free(names[i]);
    }
    free(names);
    print_message("%d invalid certification cases\n", ran);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_cases),
        cmocka_unit_test(test_user_id_cases),
        cmocka_unit_test(test_user_id_detail_quotes_variable_only),
        cmocka_unit_test(test_is_unsubstituted),
        cmocka_unit_test(test_role_cases),
        cmocka_unit_test(test_role_default_never_null),
        cmocka_unit_test(test_validate_rejects_bad_arguments),
        cmocka_unit_test(test_validate_login_record_without_values),
        cmocka_unit_test(test_validate_long_nonce_rejected),
        cmocka_unit_test(test_certification_valid),
        cmocka_unit_test(test_certification_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
