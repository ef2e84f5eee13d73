/* SPDX-License-Identifier: MIT */
/* IP literals and CIDR prefixes for server.trustedProxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "lti/netaddr.h"

static int inside(const char *cidr_text, const char *addr_text)
{
    lti_cidr_t cidr;
    unsigned char addr[16];
    assert_int_equal(lti_cidr_parse(cidr_text, &cidr), 0);
    assert_int_equal(lti_addr_parse(addr_text, strlen(addr_text), addr), 0);
    return lti_cidr_contains(&cidr, addr);
}

static void cidr_membership(void **state)
{
    assert_true(inside("10.0.0.0/8", "10.255.1.2"));
    assert_false(inside("10.0.0.0/8", "11.0.0.1"));
    assert_true(inside("192.0.2.7", "192.0.2.7"));
    assert_false(inside("192.0.2.7", "192.0.2.8"));
    assert_true(inside("172.16.0.0/12", "172.31.255.255"));
    assert_false(inside("172.16.0.0/12", "172.32.0.0"));
    assert_true(inside("0.0.0.0/0", "203.0.113.9"));
    assert_false(inside("0.0.0.0/0", "2001:db8::1")); /* IPv4 prefixes hold no IPv6 */
    assert_true(inside("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(inside("2001:db8::/32", "2001:db9::1"));
    assert_true(inside("::1/128", "::1"));
    assert_true(inside("::ffff:10.0.0.0/104", "10.1.2.3")); /* the mapped form of 10/8 */
    assert_true(inside("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(inside("2001:db8::/33", "2001:db8:8000::1"));
}

static void cidr_rejects_malformed(void **state)
{
    static const char *bad[] = {
        "", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8", "2001:db8::1/32",
        "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/0008", "10.0.0", "localhost", "[::1]",
        "::1%lo", "10.0.0.0 /8", "1.2.3.4:80",
    };
    lti_cidr_t cidr;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lti_cidr_parse(bad[i], &cidr) == 0)
            fail_msg("accepted '%s'", bad[i]);
}

static void addr_parse_is_exact(void **state)
{
    unsigned char addr[16];
    assert_int_equal(lti_addr_parse("127.0.0.1", 9, addr), 0);
    assert_int_equal(addr[10], 0xff);
    assert_int_equal(addr[15], 1);
    /* The length is honoured, so "1.2.3.45" read as 7 bytes is 1.2.3.4. */
    assert_int_equal(lti_addr_parse("1.2.3.45", 7, addr), 0);
    assert_int_equal(addr[15], 4);
    assert_int_equal(lti_addr_parse("1.2.3.4\0", 8, addr), -1);
    assert_int_equal(lti_addr_parse("", 0, addr), -1);
    char long_text[64];
    memset(long_text, '1', sizeof(long_text));
    assert_int_equal(lti_addr_parse(long_text, sizeof(long_text), addr), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_membership),
        cmocka_unit_test(cidr_rejects_malformed),
        cmocka_unit_test(addr_parse_is_exact),
    };
    return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
