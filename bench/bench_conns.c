/* SPDX-License-Identifier: MIT */
/*
 * bench_conns: opens N HTTP/1.1 keep-alive connections to a server on
 * 127.0.0.1, sends one GET on each and reads its response, then keeps the
 * connections idle until standard input closes. Prints "open K" when K
 * connections have had a response, and "still_open K" when it stops.
 * Raises RLIMIT_NOFILE to fit N.
 *
 * Usage: bench_conns PORT N PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 500          /* connections started before waiting for responses */
#define TIMEOUT_S 60.0     /* give up on connections without a response after this */

typedef struct conn {
    int fd;
    int state; /* 0 connecting, 1 response pending, 2 idle with a response, 3 failed */
    size_t got;
} conn_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur >= want)
        return 0;
    rl.rlim_cur = want;
    if (rl.rlim_max < want)
        rl.rlim_max = want;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_conns PORT N PATH\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long n = atol(argv[2]);
    if (port < 1 || port > 65535 || n < 1 || n > 100000) {
        fprintf(stderr, "bench_conns: PORT must be 1-65535 and N 1-100000\n");
        return 2;
    }
    if (raise_nofile((rlim_t)n + 64) != 0) {
        fprintf(stderr, "bench_conns: cannot raise RLIMIT_NOFILE to %ld: %s\n", n + 64,
                strerror(errno));
        return 1;
    }
    char request[512];
    int reqlen = snprintf(request, sizeof(request),
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: keep-alive\r\n\r\n",
                          argv[3], port);
    conn_t *conns = calloc((size_t)n, sizeof(*conns));
    int ep = epoll_create1(0);
    if (conns == NULL || ep < 0)
        return 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    long started = 0, answered = 0, failed = 0;
    double deadline = now_s() + TIMEOUT_S;
    struct epoll_event events[256];
    char buf[4096];

    while (answered + failed < n && now_s() < deadline) {
        /* Keep at most BATCH connections waiting for a response. */
        while (started < n && started - answered - failed < BATCH) {
            conn_t *c = &conns[started];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                c->state = 3;
                failed++;
                started++;
                continue;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 &&
                errno != EINPROGRESS) {
                close(c->fd);
                c->state = 3;
                failed++;
                started++;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            started++;
        }
        int k = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < k; i++) {
            conn_t *c = events[i].data.ptr;
            if (c->state == 0 && (events[i].events & EPOLLOUT)) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || write(c->fd, request, (size_t)reqlen) != reqlen) {
                    c->state = 3;
                    failed++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    continue;
                }
                c->state = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            } else if (c->state == 1 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r = read(c->fd, buf, sizeof(buf));
                if (r <= 0) {
                    c->state = 3;
                    failed++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    continue;
                }
                /* The response to /healthz is small and arrives in one read. */
                c->state = 2;
                answered++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    printf("open %ld failed %ld\n", answered, failed);
    fflush(stdout);
    /* Hold the connections until the parent closes our standard input. */
    while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
    }
    long still = 0;
    for (long i = 0; i < started; i++) {
        if (conns[i].state != 2)
            continue;
        /* A closed connection reads as EOF; an open idle one would block. */
        ssize_t r = recv(conns[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            still++;
    }
    printf("still_open %ld\n", still);
    return 0;
}
