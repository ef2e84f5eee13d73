/* SPDX-License-Identifier: MIT */
/*
 * The state store: short-lived single-use records (login state, consumed
 * nonces) behind an ops table, so that a shared backend can replace the
 * in-memory one without touching the handlers. Operations complete through a
 * callback, which the in-memory backend calls before returning and a network
 * backend calls later on the same event loop thread.
 */
#ifndef LTI_STORE_H
#define LTI_STORE_H

#include <stddef.h>
#include "lti/reason.h"

typedef struct lti_store lti_store_t;
struct st_h2o_evloop_t;
struct lti_config;

/* `reason` is LTI_R_ok on success; for take, value is NULL and reason is
 * LTI_R_state_unknown when the key is absent or expired; for put_nx,
 * reason is LTI_R_nonce_reused when the key already exists. `value` is only
 * valid during the callback. Other failures: store_unavailable, store_full. */
typedef void (*lti_store_cb)(void *arg, lti_reason_t reason, const char *value, size_t len);

typedef struct lti_store_ops {
    /* Stores key -> value for ttl seconds unless the key exists (set-if-absent). */
    void (*put_nx)(lti_store_t *self, const char *key, const char *value, size_t len,
                   unsigned ttl, lti_store_cb cb, void *arg);
    /* Atomically reads and deletes key. */
    void (*take)(lti_store_t *self, const char *key, lti_store_cb cb, void *arg);
    /* Number of live records, for tests and /readyz. */
    size_t (*count)(lti_store_t *self);
    void (*destroy)(lti_store_t *self);
    /* Optional, NULL for backends shared by every thread. attach is called
     * on each event loop thread before it serves requests, and detach on
     * that thread after its last request. A network backend keeps one
     * connection per loop thread. detach completes pending operations with
     * store_unavailable. */
    void (*attach)(lti_store_t *self, struct st_h2o_evloop_t *loop);
    void (*detach)(lti_store_t *self);
    /* Optional: checks that the backend replies, completing with LTI_R_ok
     * or store_unavailable. A backend without it is always reachable. */
    void (*ping)(lti_store_t *self, lti_store_cb cb, void *arg);
} lti_store_ops_t;

struct lti_store {
    const lti_store_ops_t *ops;
};

/* In-memory backend: a mutex-protected hash table shared by all loop
 * threads, bounded to max_entries live records (put_nx fails with
 * store_full beyond that, after expired entries are purged). */
lti_store_t *lti_store_memory_new(size_t max_entries);

/* Redis backend (hiredis, one asynchronous connection per event loop
 * thread). The host name in cfg is resolved here, once. Returns NULL with
 * `errbuf` filled when the name does not resolve. */
lti_store_t *lti_store_redis_new(const struct lti_config *cfg, char *errbuf, size_t errlen);

/* Clock used for expiry; tests may replace it. Monotonic seconds. */
extern double (*lti_store_now)(void);

#define lti_store_put_nx(s, k, v, l, t, cb, a) (s)->ops->put_nx((s), (k), (v), (l), (t), (cb), (a))
#define lti_store_take(s, k, cb, a) (s)->ops->take((s), (k), (cb), (a))

#endif
