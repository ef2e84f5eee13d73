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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(take_returns_value_once, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_record_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(put_nx_rejects_existing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(full_store_rejects_then_recovers, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_memory", tests, NULL, NULL);
}
