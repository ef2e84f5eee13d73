/* SPDX-License-Identifier: MIT */
/*
 * server.maxConnections: connections over the cap are closed at accept,
 * and a slot frees when a client goes away.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

#define CAP 5

static int connect_tool(const harness_t *h)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(h->tool_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Returns 1 when the server closed `fd` within about 2 s without sending
 * anything, 0 when it keeps the connection open. */
static int closed_by_server(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) <= 0)
        return 0;
    char c;
    return recv(fd, &c, 1, 0) <= 0;
}

/* Sends a GET /healthz on `fd` and returns 1 when a 200 comes back. */
static int healthz_answers(int fd)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[256];
    if (send(fd, req, sizeof(req) - 1, 0) != (ssize_t)sizeof(req) - 1)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) <= 0)
        return 0;
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static void connections_over_cap_closed(void **state)
{
    harness_t h;
    harness_opts_t opts = {.extra_server_yaml = "  maxConnections: 5\n"};
    int fds[CAP];

    assert_int_equal(harness_start(&h, &opts), 0);
    for (int i = 0; i < CAP; i++) {
        fds[i] = connect_tool(&h);
        assert_true(healthz_answers(fds[i]));
    }

    int extra = connect_tool(&h);
    assert_true(closed_by_server(extra));
    close(extra);
    assert_true(harness_log_contains(&h, "server.maxConnections (5) reached"));

    /* The held connections still work, and closing one frees a slot. */
    assert_true(healthz_answers(fds[0]));
    close(fds[0]);
    usleep(200 * 1000);
    fds[0] = connect_tool(&h);
    assert_false(closed_by_server(fds[0]));
    assert_true(healthz_answers(fds[0]));

    for (int i = 0; i < CAP; i++)
        close(fds[i]);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connections_over_cap_closed),
    };
    return cmocka_run_group_tests_name("connection_cap", tests, NULL, NULL);
}
