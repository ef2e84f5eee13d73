/* SPDX-License-Identifier: MIT */
/*
 * hiredis event-loop adapter for h2o's evloop. hiredis 0.14 ships adapters
 * for libevent, libev and others but none for h2o, so this file maps its five
 * hooks onto an h2o socket:
 *
 *   addRead / delRead   -> h2o_socket_read_start / h2o_socket_read_stop
 *   addWrite / delWrite -> h2o_socket_notify_write (one-shot) and a flag
 *   cleanup             -> h2o_socket_close on the duplicated descriptor
 *
 * The socket is created with H2O_SOCKET_FLAG_DONT_READ, so h2o only reports
 * readiness and hiredis does every read and write on its own descriptor.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "redis_int.h"

typedef struct adapter {
    redisAsyncContext *ac;
    h2o_socket_t *sock;
    int reading;
    int write_wanted; /* hiredis has output queued or waits for connect(2) */
    int write_armed;  /* a notify_write callback is registered with h2o */
} adapter_t;

static void on_readable(h2o_socket_t *sock, const char *err)
{
    adapter_t *self = sock->data;
    /* hiredis reads, and itself detects end of file and errors, so `err`
     * needs no separate handling. The context (and `self`) may be freed by
     * this call. */
    redisAsyncHandleRead(self->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    adapter_t *self = sock->data;
    self->write_armed = 0;
    if (self->write_wanted)
        redisAsyncHandleWrite(self->ac); /* may free the context and `self` */
}

static void add_read(void *data)
{
    adapter_t *self = data;
    if (!self->reading) {
        self->reading = 1;
        h2o_socket_read_start(self->sock, on_readable);
    }
}

static void del_read(void *data)
{
    adapter_t *self = data;
    if (self->reading) {
        self->reading = 0;
        h2o_socket_read_stop(self->sock);
    }
}

static void add_write(void *data)
{
    adapter_t *self = data;
    self->write_wanted = 1;
    if (!self->write_armed) {
        self->write_armed = 1;
        h2o_socket_notify_write(self->sock, on_writable);
    }
}

/* h2o cannot cancel a write notification; one that fires after this is
 * ignored by on_writable. */
static void del_write(void *data)
{
    adapter_t *self = data;
    self->write_wanted = 0;
}

static void cleanup(void *data)
{
    adapter_t *self = data;
    self->ac->ev.data = NULL;
    self->sock->data = NULL;
    h2o_socket_close(self->sock);
    free(self);
}

int lti_redis_h2o_attach(redisAsyncContext *ac, h2o_evloop_t *loop)
{
    adapter_t *self = calloc(1, sizeof(*self));
    if (self == NULL)
        return -1;
    /* h2o closes the descriptor it watches when the socket is closed;
     * hiredis closes its own in redisAsyncFree. A duplicate gives each
     * side its own descriptor for the same connection. */
    int fd = fcntl(ac->c.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        free(self);
        return -1;
    }
    self->ac = ac;
    self->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    self->sock->data = self;
    ac->ev.data = self;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
