/* SPDX-License-Identifier: MIT */
/*
 * Redis state store, shared by every ltigate instance behind a load
 * balancer. Each event loop thread owns one hiredis asynchronous connection
 * (found through a thread-local pointer), driven by the loop through
 * redis_h2o.c, so no loop thread ever waits on Redis.
 *
 * Single use is decided by Redis in one command: put_nx is
 * SET key value NX EX ttl and take is GETDEL key (Redis 6.2 or later), so
 * two instances racing on one state or nonce cannot both win. Commands are
 * sent argv-style, never formatted into a command string.
 *
 * Failing closed: hiredis 0.14 has no timeouts for asynchronous use, so the
 * loop's timers bound the connect-and-handshake time (connectTimeout) and
 * every command (commandTimeout). A command that times out drops the
 * connection, and while a thread has no ready connection every operation
 * completes at once with store_unavailable. Reconnection runs in the
 * background with exponential backoff, and service resumes when Redis
 * replies to PING again.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include "lti/config.h"
#include "lti/log.h"
#include "lti/store.h"
#include "redis_int.h"

#define MOD "store"
/* Max commands in flight on one connection. Beyond this an operation fails
 * at once instead of growing the queue while Redis is slow. */
#define MAX_PENDING 4096
/* Max length of a value accepted from Redis. Login state records are well
 * under 4 KiB, so anything larger is not ours. */
#define MAX_VALUE 65536
#define LOG_INTERVAL_SECONDS 10

/* Reconnection delays in milliseconds. The last one repeats. */
static const unsigned backoff_ms[] = {100, 200, 400, 800, 1600, 2000};
#define N_BACKOFF (sizeof(backoff_ms) / sizeof(backoff_ms[0]))

/* Failure classes. Each is logged at most once per LOG_INTERVAL_SECONDS per
 * process, and the next line of that class counts the repeats it skipped. */
typedef enum fail_class {
    FAIL_CONNECT,   /* connect(2) failed or the address is unusable */
    FAIL_HANDSHAKE, /* AUTH, SELECT or PING was rejected */
    FAIL_TIMEOUT,   /* no reply within commandTimeout or connectTimeout */
    FAIL_CLOSED,    /* the server closed the connection or an I/O error */
    FAIL_REPLY,     /* an error or unexpected reply to a command */
    FAIL_OVERLOAD,  /* too many commands in flight */
    N_FAIL,
} fail_class_t;

static const char *const fail_names[N_FAIL] = {"connect", "handshake", "timeout",
                                               "closed",  "reply",     "overload"};
static atomic_long fail_logged_at[N_FAIL];
static atomic_ulong fail_suppressed[N_FAIL];

typedef struct redis_store {
    lti_store_t super;
    char address[INET6_ADDRSTRLEN];
    int port;
    unsigned db;
    char *password;
    char *prefix;
    size_t prefix_len;
    unsigned connect_timeout_ms, command_timeout_ms;
} redis_store_t;

typedef enum conn_state {
    CONN_DOWN = 0,   /* no context; a retry timer is pending */
    CONN_CONNECTING, /* context exists, handshake not finished */
    CONN_READY,      /* PING succeeded, so commands are sent */
} conn_state_t;

/* One per event loop thread. */
typedef struct redis_loop {
    redis_store_t *store;
    h2o_evloop_t *loop;
    redisAsyncContext *ac;
    conn_state_t state;
    int detaching;
    int failed_since_ready; /* a failure was seen since the last ready connection */
    unsigned backoff_level;
    size_t pending;
    h2o_timeout_t command_timeout, connect_timeout, retry_timeouts[N_BACKOFF];
    h2o_timeout_entry_t connect_entry, retry_entry;
} redis_loop_t;

static __thread redis_loop_t *tls_loop;

typedef enum op_kind { OP_PUT, OP_TAKE, OP_PING } op_kind_t;

/* One command in flight. hiredis calls on_reply exactly once for it (with
 * a NULL reply when the context is freed), and that call frees it. */
typedef struct op {
    h2o_timeout_entry_t timeout;
    redis_loop_t *rl;
    op_kind_t kind;
    int done; /* the caller already got store_unavailable from the timeout */
    lti_store_cb cb;
    void *arg;
} op_t;

static long monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

static void log_failure(fail_class_t cls, const char *detail)
{
    long now = monotonic_seconds();
    long last = atomic_load(&fail_logged_at[cls]);
    if (last != 0 && now - last < LOG_INTERVAL_SECONDS) {
        atomic_fetch_add(&fail_suppressed[cls], 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&fail_logged_at[cls], &last, now)) {
        atomic_fetch_add(&fail_suppressed[cls], 1);
        return;
    }
    char repeats[24];
    snprintf(repeats, sizeof(repeats), "%lu", atomic_exchange(&fail_suppressed[cls], 0));
    const char *kv[] = {"reason", "store_unavailable", "backend", "redis", "class",
                        fail_names[cls], "detail", detail, "repeats_not_logged", repeats, NULL};
    lti_log_kv(LTI_LOG_ERROR, MOD, "redis unavailable", kv);
}

static void start_connect(redis_loop_t *rl);

static void schedule_retry(redis_loop_t *rl)
{
    if (rl->detaching || h2o_timeout_is_linked(&rl->retry_entry))
        return;
    unsigned level = rl->backoff_level < N_BACKOFF ? rl->backoff_level : N_BACKOFF - 1;
    h2o_timeout_link(rl->loop, &rl->retry_timeouts[level], &rl->retry_entry);
    if (rl->backoff_level < N_BACKOFF)
        rl->backoff_level++;
}

/* Forgets the current context and frees it, which completes every command
 * in flight with a NULL reply. Safe inside a hiredis callback (hiredis then
 * frees the context when the callback returns). */
static void drop_connection(redis_loop_t *rl, fail_class_t cls, const char *detail)
{
    redisAsyncContext *ac = rl->ac;
    rl->ac = NULL;
    rl->state = CONN_DOWN;
    rl->failed_since_ready = 1;
    if (h2o_timeout_is_linked(&rl->connect_entry))
        h2o_timeout_unlink(&rl->connect_entry);
    if (!rl->detaching)
        log_failure(cls, detail);
    schedule_retry(rl);
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* Marks the loop down after hiredis itself decided to free `ac` (connect
 * failure, server close, I/O error); hiredis frees it after this returns. */
static void lost_connection(redis_loop_t *rl, const redisAsyncContext *ac, fail_class_t cls)
{
    if (rl->ac != ac)
        return;
    rl->ac = NULL;
    drop_connection(rl, cls, ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr
                                                                         : "connection lost");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK && ac->data != NULL)
        lost_connection(ac->data, ac, FAIL_CONNECT);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ac->data != NULL)
        lost_connection(ac->data, ac, FAIL_CLOSED);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    redis_loop_t *rl = H2O_STRUCT_FROM_MEMBER(redis_loop_t, connect_entry, entry);
    drop_connection(rl, FAIL_TIMEOUT, "no connection and PING reply within connectTimeout");
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    redis_loop_t *rl = H2O_STRUCT_FROM_MEMBER(redis_loop_t, retry_entry, entry);
    start_connect(rl);
}

/* Reply to AUTH or SELECT: anything but +OK ends the connection. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_loop_t *rl = privdata;
    redisReply *reply = r;
    if (reply == NULL || rl->ac != ac)
        return;
    if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "OK") != 0)
        drop_connection(rl, FAIL_HANDSHAKE, reply->type == REDIS_REPLY_ERROR
                                                ? reply->str
                                                : "unexpected reply to AUTH or SELECT");
}

static void on_handshake_ping(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_loop_t *rl = privdata;
    redisReply *reply = r;
    if (reply == NULL || rl->ac != ac)
        return;
    if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0) {
        drop_connection(rl, FAIL_HANDSHAKE,
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected PING reply");
        return;
    }
    h2o_timeout_unlink(&rl->connect_entry);
    rl->state = CONN_READY;
    rl->backoff_level = 0;
    char port[16], db[16];
    snprintf(port, sizeof(port), "%d", rl->store->port);
    snprintf(db, sizeof(db), "%u", rl->store->db);
    const char *kv[] = {"backend", "redis", "address", rl->store->address, "port", port,
                        "database", db, NULL};
    if (rl->failed_since_ready)
        lti_log_kv(LTI_LOG_WARN, MOD, "redis reachable again", kv);
    else
        lti_log_kv(LTI_LOG_DEBUG, MOD, "redis connected", kv);
    rl->failed_since_ready = 0;
}

static void start_connect(redis_loop_t *rl)
{
    redis_store_t *s = rl->store;
    redisAsyncContext *ac = redisAsyncConnect(s->address, s->port);

    if (ac == NULL || ac->err != 0) {
        char detail[160];
        snprintf(detail, sizeof(detail), "%s", ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rl->failed_since_ready = 1;
        log_failure(FAIL_CONNECT, detail);
        schedule_retry(rl);
        return;
    }
    if (lti_redis_h2o_attach(ac, rl->loop) != 0) {
        redisAsyncFree(ac);
        rl->failed_since_ready = 1;
        log_failure(FAIL_CONNECT, "cannot register the socket with the event loop");
        schedule_retry(rl);
        return;
    }
    ac->data = rl;
    rl->ac = ac;
    rl->state = CONN_CONNECTING;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* hiredis queues these until the connection is up. */
    if (s->password != NULL) {
        const char *argv[] = {"AUTH", s->password};
        size_t lens[] = {4, strlen(s->password)};
        redisAsyncCommandArgv(ac, on_setup_reply, rl, 2, argv, lens);
    }
    if (s->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%u", s->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        redisAsyncCommandArgv(ac, on_setup_reply, rl, 2, argv, lens);
    }
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    redisAsyncCommandArgv(ac, on_handshake_ping, rl, 1, argv, lens);
    h2o_timeout_link(rl->loop, &rl->connect_timeout, &rl->connect_entry);
}

/* Maps a reply to the caller's result. */
static void deliver(op_t *op, redisReply *reply)
{
    switch (op->kind) {
    case OP_PUT:
        if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
            op->cb(op->arg, LTI_R_ok, NULL, 0);
        else if (reply->type == REDIS_REPLY_NIL)
            op->cb(op->arg, LTI_R_nonce_reused, NULL, 0);
        else
            break;
        return;
    case OP_TAKE:
        if (reply->type == REDIS_REPLY_STRING && reply->len <= MAX_VALUE)
            op->cb(op->arg, LTI_R_ok, reply->str, reply->len);
        else if (reply->type == REDIS_REPLY_NIL)
            op->cb(op->arg, LTI_R_state_unknown, NULL, 0);
        else
            break;
        return;
    case OP_PING:
        if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0) {
            op->cb(op->arg, LTI_R_ok, NULL, 0);
            return;
        }
        break;
    }
    log_failure(FAIL_REPLY, reply->type == REDIS_REPLY_ERROR ? reply->str
                                                             : "unexpected reply type or size");
    op->cb(op->arg, LTI_R_store_unavailable, NULL, 0);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    op_t *op = privdata;
    redis_loop_t *rl = op->rl;
    redisReply *reply = r;

    rl->pending--;
    if (h2o_timeout_is_linked(&op->timeout))
        h2o_timeout_unlink(&op->timeout);
    if (reply == NULL && rl->ac == ac) {
        /* hiredis is freeing the context after an error; later operations
         * started from the callback below must not use it. */
        rl->ac = NULL;
        drop_connection(rl, FAIL_CLOSED, ac->errstr != NULL && ac->errstr[0] != '\0'
                                             ? ac->errstr
                                             : "connection lost");
    }
    if (!op->done) {
        if (reply == NULL)
            op->cb(op->arg, LTI_R_store_unavailable, NULL, 0);
        else
            deliver(op, reply);
    }
    free(op);
}

static void on_command_timeout(h2o_timeout_entry_t *entry)
{
    op_t *op = H2O_STRUCT_FROM_MEMBER(op_t, timeout, entry);
    redis_loop_t *rl = op->rl;
    lti_store_cb cb = op->cb;
    void *arg = op->arg;

    /* No reply within commandTimeout: the server is stopped, partitioned
     * or overloaded. Dropping the connection fails the other commands in
     * flight now instead of one timeout later each; freeing the context
     * also frees `op`. */
    op->done = 1;
    drop_connection(rl, FAIL_TIMEOUT, "no reply within commandTimeout");
    cb(arg, LTI_R_store_unavailable, NULL, 0);
}

static void send_command(redis_store_t *s, op_kind_t kind, int argc, const char **argv,
                         const size_t *lens, lti_store_cb cb, void *arg)
{
    redis_loop_t *rl = tls_loop;

    if (rl == NULL || rl->store != s || rl->state != CONN_READY || rl->ac == NULL) {
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    if (rl->pending >= MAX_PENDING) {
        log_failure(FAIL_OVERLOAD, "too many commands in flight on one connection");
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    op_t *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    op->rl = rl;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    op->timeout.cb = on_command_timeout;
    if (redisAsyncCommandArgv(rl->ac, on_reply, op, argc, argv, lens) != REDIS_OK) {
        free(op);
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    rl->pending++;
    h2o_timeout_link(rl->loop, &rl->command_timeout, &op->timeout);
}

/* Returns prefix + key, malloc'd. */
static char *prefixed(redis_store_t *s, const char *key, size_t *len)
{
    size_t key_len = strlen(key);
    char *out = malloc(s->prefix_len + key_len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s->prefix, s->prefix_len);
    memcpy(out + s->prefix_len, key, key_len + 1);
    *len = s->prefix_len + key_len;
    return out;
}

static void redis_put_nx(lti_store_t *store, const char *key, const char *value, size_t len,
                         unsigned ttl, lti_store_cb cb, void *arg)
{
    redis_store_t *s = (redis_store_t *)store;
    size_t key_len = 0;
    char ttl_text[16];
    char *full = prefixed(s, key, &key_len);

    if (full == NULL) {
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    snprintf(ttl_text, sizeof(ttl_text), "%u", ttl > 0 ? ttl : 1);
    const char *argv[] = {"SET", full, value, "NX", "EX", ttl_text};
    size_t lens[] = {3, key_len, len, 2, 2, strlen(ttl_text)};
    send_command(s, OP_PUT, 6, argv, lens, cb, arg);
    free(full);
}

static void redis_take(lti_store_t *store, const char *key, lti_store_cb cb, void *arg)
{
    redis_store_t *s = (redis_store_t *)store;
    size_t key_len = 0;
    char *full = prefixed(s, key, &key_len);

    if (full == NULL) {
        cb(arg, LTI_R_store_unavailable, NULL, 0);
        return;
    }
    const char *argv[] = {"GETDEL", full};
    size_t lens[] = {6, key_len};
    send_command(s, OP_TAKE, 2, argv, lens, cb, arg);
    free(full);
}

static void redis_ping(lti_store_t *store, lti_store_cb cb, void *arg)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    send_command((redis_store_t *)store, OP_PING, 1, argv, lens, cb, arg);
}

/* NOTE: records live in Redis with their own expiry; counting them would
 * need a SCAN over the key prefix, so this backend reports 0. */
static size_t redis_count(lti_store_t *store)
{
    return 0;
}

static void redis_attach(lti_store_t *store, h2o_evloop_t *loop)
{
    redis_store_t *s = (redis_store_t *)store;
    redis_loop_t *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) {
        log_failure(FAIL_CONNECT, "out of memory for the loop's connection");
        return;
    }
    rl->store = s;
    rl->loop = loop;
    h2o_timeout_init(loop, &rl->command_timeout, s->command_timeout_ms);
    h2o_timeout_init(loop, &rl->connect_timeout, s->connect_timeout_ms);
    for (size_t i = 0; i < N_BACKOFF; i++)
        h2o_timeout_init(loop, &rl->retry_timeouts[i], backoff_ms[i]);
    rl->connect_entry.cb = on_connect_timeout;
    rl->retry_entry.cb = on_retry;
    tls_loop = rl;
    start_connect(rl);
}

static void redis_detach(lti_store_t *store)
{
    redis_loop_t *rl = tls_loop;
    if (rl == NULL || rl->store != (redis_store_t *)store)
        return;
    rl->detaching = 1;
    if (h2o_timeout_is_linked(&rl->retry_entry))
        h2o_timeout_unlink(&rl->retry_entry);
    drop_connection(rl, FAIL_CLOSED, "event loop stopping");
    h2o_timeout_dispose(rl->loop, &rl->command_timeout);
    h2o_timeout_dispose(rl->loop, &rl->connect_timeout);
    for (size_t i = 0; i < N_BACKOFF; i++)
        h2o_timeout_dispose(rl->loop, &rl->retry_timeouts[i]);
    tls_loop = NULL;
    free(rl);
}

static void redis_destroy(lti_store_t *store)
{
    redis_store_t *s = (redis_store_t *)store;
    if (s == NULL)
        return;
    if (s->password != NULL)
        OPENSSL_clear_free(s->password, strlen(s->password));
    free(s->prefix);
    free(s);
}

static const lti_store_ops_t redis_ops = {
    .put_nx = redis_put_nx,
    .take = redis_take,
    .count = redis_count,
    .destroy = redis_destroy,
    .attach = redis_attach,
    .detach = redis_detach,
    .ping = redis_ping,
};

/* Resolves the configured host once, at start-up, because hiredis 0.14
 * calls getaddrinfo inside redisAsyncConnect, which would block a loop
 * thread for a name. NOTE: a Redis host whose address changes later needs
 * an ltigate restart. */
static int resolve(const char *host, char *out, size_t outlen, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "store.redisUrl host %s does not resolve: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    const void *addr = res->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    int ok = inet_ntop(res->ai_family, addr, out, (socklen_t)outlen) != NULL;
    freeaddrinfo(res);
    if (!ok)
        snprintf(errbuf, errlen, "store.redisUrl host %s has an unusable address", host);
    return ok ? 0 : -1;
}

lti_store_t *lti_store_redis_new(const lti_config_t *cfg, char *errbuf, size_t errlen)
{
    redis_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->super.ops = &redis_ops;
    s->port = (int)cfg->store_redis_port;
    s->db = cfg->store_redis_db;
    s->connect_timeout_ms = cfg->store_connect_timeout_ms;
    s->command_timeout_ms = cfg->store_command_timeout_ms;
    s->prefix = strdup(cfg->store_key_prefix != NULL ? cfg->store_key_prefix : "");
    s->password = cfg->store_password != NULL ? strdup(cfg->store_password) : NULL;
    if (s->prefix == NULL || (cfg->store_password != NULL && s->password == NULL)) {
        snprintf(errbuf, errlen, "out of memory");
        redis_destroy(&s->super);
        return NULL;
    }
    s->prefix_len = strlen(s->prefix);
    if (cfg->store_redis_host == NULL ||
        resolve(cfg->store_redis_host, s->address, sizeof(s->address), errbuf, errlen) != 0) {
        if (cfg->store_redis_host == NULL)
            snprintf(errbuf, errlen, "store.redisUrl has no host");
        redis_destroy(&s->super);
        return NULL;
    }
    return &s->super;
}
