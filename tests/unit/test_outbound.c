/* SPDX-License-Identifier: MIT */
/* The outbound address policy applied to every platform call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "lti/config.h"
#include "lti/outbound.h"

/* Returns 1 when the hook opens a socket for `ip`, 0 when it refuses. */
static int allowed(const char *ip, int allow_loopback)
{
    lti_platform_cfg_t platform = {.allow_http_loopback = allow_loopback};
    /* libcurl passes a curl_sockaddr whose address storage is large enough
     * for IPv6, although the declared member is a plain struct sockaddr. */
    union {
        struct curl_sockaddr sa;
        unsigned char storage[sizeof(struct curl_sockaddr) + sizeof(struct sockaddr_in6)];
    } u;
    memset(&u, 0, sizeof(u));
    struct curl_sockaddr *ca = &u.sa;
    void *raw = u.storage + offsetof(struct curl_sockaddr, addr);
    ca->socktype = SOCK_STREAM;
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *sin6 = raw;
        ca->family = AF_INET6;
        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = raw;
        ca->family = AF_INET;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    }
    curl_socket_t fd = lti_outbound_open_socket(&platform, CURLSOCKTYPE_IPCXN, ca);
    if (fd == CURL_SOCKET_BAD)
        return 0;
    close(fd);
    return 1;
}

static void public_addresses_allowed(void **state)
{
    assert_true(allowed("93.184.216.34", 0));
    assert_true(allowed("2606:2800:220:1::1", 0));
}

static void metadata_and_private_refused(void **state)
{
    static const char *const refused[] = {
        "169.254.169.254", "10.0.0.1",   "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "100.64.0.1",      "0.0.0.0",    "fe80::1",    "fd00::1",        "::",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        print_message("%s\n", refused[i]);
        assert_false(allowed(refused[i], 0));
        assert_false(allowed(refused[i], 1));
    }
}

static void loopback_only_when_allowed(void **state)
{
    assert_false(allowed("127.0.0.1", 0));
    assert_false(allowed("::1", 0));
    assert_true(allowed("127.0.0.1", 1));
    assert_true(allowed("::1", 1));
    /* 172.32/12 is public: the private range ends at 172.31. */
    assert_true(allowed("172.32.0.1", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(public_addresses_allowed),
        cmocka_unit_test(metadata_and_private_refused),
        cmocka_unit_test(loopback_only_when_allowed),
    };
    return cmocka_run_group_tests_name("outbound", tests, NULL, NULL);
}
