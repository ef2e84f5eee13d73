/* SPDX-License-Identifier: MIT */
/* Strict x-www-form-urlencoded parsing used by the login and launch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "../../src/http/http_int.h"

static lti_reason_t parse(const char *body, lti_form_t *form)
{
    static h2o_mem_pool_t pool;
    static int pool_used;
    lti_err_t err = {0};
    /* The previous form's values are no longer read, so its pool is freed
     * here rather than leaked (LeakSanitizer runs this test too). */
    if (pool_used)
        h2o_mem_clear_pool(&pool);
    h2o_mem_init_pool(&pool);
    pool_used = 1;
    return lti_form_parse(&pool, body, strlen(body), form, &err);
}

static void form_decodes_values(void **state)
{
    lti_form_t form;
    size_t len;
    assert_int_equal(parse("state=a%2Fb&id_token=x.y.z&name=Ann+Smith&empty=", &form), LTI_R_ok);
    assert_string_equal(lti_form_get(&form, "state", &len, NULL), "a/b");
    assert_int_equal(len, 3);
    assert_string_equal(lti_form_get(&form, "name", NULL, NULL), "Ann Smith");
    assert_string_equal(lti_form_get(&form, "empty", NULL, NULL), "");
    assert_null(lti_form_get(&form, "missing", NULL, NULL));
}

static void form_reports_duplicates(void **state)
{
    lti_form_t form;
    int dup = 0;
    assert_int_equal(parse("state=a&state=b", &form), LTI_R_ok);
    assert_string_equal(lti_form_get(&form, "state", NULL, &dup), "a");
    assert_int_equal(dup, 1);
}

static void form_rejects_bad_escapes(void **state)
{
    lti_form_t form;
    static const char *const bad[] = {"a=%G1", "a=%", "a=%4", "a=x%00y", "a%zz=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &form), LTI_R_param_invalid);
}

static void form_rejects_too_many_or_long(void **state)
{
    lti_form_t form;
    char body[LTI_PARAM_MAX_LEN + 64];
    memcpy(body, "a=", 2);
    memset(body + 2, 'x', LTI_PARAM_MAX_LEN + 1);
    body[LTI_PARAM_MAX_LEN + 3] = '\0';
    assert_int_equal(parse(body, &form), LTI_R_param_too_long);

    char many[LTI_FORM_MAX_PARAMS * 4 + 8] = "";
    for (int i = 0; i <= LTI_FORM_MAX_PARAMS; i++)
        strcat(many, "a=1&");
    assert_int_equal(parse(many, &form), LTI_R_param_invalid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(form_decodes_values),
        cmocka_unit_test(form_reports_duplicates),
        cmocka_unit_test(form_rejects_bad_escapes),
        cmocka_unit_test(form_rejects_too_many_or_long),
    };
    return cmocka_run_group_tests_name("http_form", tests, NULL, NULL);
}
