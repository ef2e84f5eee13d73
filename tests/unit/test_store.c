/* SPDX-License-Identifier: MIT */
/* The in-memory state store: single use, expiry, set-if-absent, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "lti/store.h"

static double fake_now;
static double fixed_clock(void)
{
    return fake_now;
}

typedef struct outcome {
    lti_reason_t reason;
    char value[64];
    int calls;
} outcome_t;

static void record(void *arg, lti_reason_t reason, const char *value, size_t len)
{
    outcome_t *o = arg;
    o->reason = reason;
    o->calls++;
    o->value[0] = '\0';
    if (value != NULL) {
        assert_true(len < sizeof(o->value));
        memcpy(o->value, value, len);
        o->value[len] = '\0';
    }
}

static int setup(void **state)
{
    lti_store_now = fixed_clock;
    fake_now = 1000;
    *state = lti_store_memory_new(4);
    return *state == NULL;
}

static int teardown(void **state)
{
    lti_store_t *s = *state;
    s->ops->destroy(s);
    return 0;
}

static void take_returns_value_once(void **state)
{
    lti_store_t *s = *state;
    outcome_t o = {0};
    lti_store_put_nx(s, "st:a", "record", 6, 60, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    lti_store_take(s, "st:a", record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    assert_string_equal(o.value, "record");
    lti_store_take(s, "st:a", record, &o);
    assert_int_equal(o.reason, LTI_R_state_unknown);
    assert_int_equal(o.calls, 3);
}

static void expired_record_is_gone(void **state)
{
    lti_store_t *s = *state;
    outcome_t o = {0};
    lti_store_put_nx(s, "st:b", "x", 1, 60, record, &o);
    fake_now += 60;
    lti_store_take(s, "st:b", record, &o);
    assert_int_equal(o.reason, LTI_R_state_unknown);
}

static void put_nx_rejects_existing_key(void **state)
{
    lti_store_t *s = *state;
    outcome_t o = {0};
    lti_store_put_nx(s, "nonce:n", "1", 1, 60, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    lti_store_put_nx(s, "nonce:n", "1", 1, 60, record, &o);
    assert_int_equal(o.reason, LTI_R_nonce_reused);
    fake_now += 61;
    lti_store_put_nx(s, "nonce:n", "1", 1, 60, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
}

static void full_store_rejects_then_recovers(void **state)
{
    lti_store_t *s = *state;
    outcome_t o = {0};
    char key[16];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        lti_store_put_nx(s, key, "v", 1, 30, record, &o);
        assert_int_equal(o.reason, LTI_R_ok);
    }
    lti_store_put_nx(s, "k4", "v", 1, 30, record, &o);
    assert_int_equal(o.reason, LTI_R_store_full);
    assert_int_equal(s->ops->count(s), 4);
    fake_now += 31; /* all expire; the next put purges them */
    lti_store_put_nx(s, "k4", "v", 1, 30, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    assert_int_equal(s->ops->count(s), 1);
}

/* The bucket array doubles several times while records arrive. Every
 * record, its value (binary, NUL bytes included) and the set-if-absent
 * rule survive each doubling, and expired records are still removed. */
static void records_survive_table_growth(void **state)
{
    enum { N = 20000 };
    lti_store_t *s = lti_store_memory_new(100000);
    outcome_t o = {0};
    char key[32], value[16];

    assert_non_null(s);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "nonce:%d", i);
        int n = snprintf(value, sizeof(value), "v%d", i);
        value[1] = '\0'; /* values are bytes, not strings */
        lti_store_put_nx(s, key, value, (size_t)n, i < N / 2 ? 60 : 600, record, &o);
        assert_int_equal(o.reason, LTI_R_ok);
    }
    assert_int_equal(s->ops->count(s), N);
    for (int i = 0; i < N; i += 97) {
        snprintf(key, sizeof(key), "nonce:%d", i);
        lti_store_put_nx(s, key, "x", 1, 60, record, &o);
        assert_int_equal(o.reason, LTI_R_nonce_reused);
    }
    snprintf(key, sizeof(key), "nonce:%d", N - 1);
    lti_store_take(s, key, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    char expected[16];
    int n = snprintf(expected, sizeof(expected), "v%d", N - 1);
    expected[1] = '\0';
    assert_memory_equal(o.value, expected, (size_t)n);

    fake_now += 61; /* the first half expires */
    assert_int_equal(s->ops->count(s), N / 2 - 1);
    snprintf(key, sizeof(key), "nonce:%d", 1);
    lti_store_take(s, key, record, &o);
    assert_int_equal(o.reason, LTI_R_state_unknown);
    snprintf(key, sizeof(key), "nonce:%d", N / 2);
    lti_store_take(s, key, record, &o);
    assert_int_equal(o.reason, LTI_R_ok);
    s->ops->destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(take_returns_value_once, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_record_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(put_nx_rejects_existing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(full_store_rejects_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(records_survive_table_growth, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_memory", tests, NULL, NULL);
}
