/* SPDX-License-Identifier: MIT */
/*
 * Per-registration cache of platform keys. Key sets are fetched with libcurl
 * on one worker thread; an event loop thread that needs a key it does not
 * have registers a waiter and is woken through an h2o multithread message
 * when the fetch ends, so no loop thread ever waits on the network.
 *
 * Policy: fresh for Cache-Control max-age clamped to [minCacheSeconds,
 * maxCacheSeconds] (defaultCacheSeconds without the header); keys keep
 * serving for staleSeconds past that while refreshes fail; an unknown kid
 * causes at most one refetch per refetchInterval per registration, shared by
 * every request waiting for it; failed fetches back off from 30 s to 15 min
 * while stale keys serve, and from 1 s to 30 s while there are none.
 */
#ifndef LTI_JWKS_CACHE_H
#define LTI_JWKS_CACHE_H

#include <openssl/evp.h>
#include <h2o/multithread.h>
#include "lti/config.h"
#include "lti/err.h"

typedef struct lti_jwks_cache lti_jwks_cache_t;

typedef struct lti_jwks_waiter lti_jwks_waiter_t;
struct lti_jwks_waiter {
    h2o_multithread_message_t super;     /* must be first: the message sent back */
    h2o_multithread_receiver_t *receiver;/* the waiting loop thread's receiver */
    void (*on_done)(lti_jwks_waiter_t *self); /* called on that loop thread */
};

typedef enum lti_jwks_result {
    LTI_JWKS_FOUND = 0, /* *key holds a new reference */
    LTI_JWKS_PENDING,   /* a fetch is under way; waiter->on_done runs when it ends */
    LTI_JWKS_FAILED,    /* err contains kid_unknown, kid_ambiguous or jwks_unavailable */
} lti_jwks_result_t;

/* Creates the cache for cfg->platforms and starts the fetch thread. The
 * config must outlive the cache. */
lti_jwks_cache_t *lti_jwks_cache_new(const lti_config_t *cfg);
/* Stops the fetch thread and frees every key. */
void lti_jwks_cache_free(lti_jwks_cache_t *self);
/* Stops the fetch thread after the fetch in progress, whose waiters are
 * handed back to their loops first, then hands back the waiters of entries
 * still queued. Call it while the loops still run, because their receivers
 * must outlive every message. Afterwards lookups still return cached keys,
 * and a lookup of a key that is not cached fails at once. */
void lti_jwks_cache_stop(lti_jwks_cache_t *self);

/* Queues a fetch of every registration's key set (used at start-up). */
void lti_jwks_cache_prefetch(lti_jwks_cache_t *self);

/* Looks up `kid` in the key set of platform `index`. With a waiter, a miss
 * queues a rate-limited refetch and returns PENDING; the caller then calls
 * this again from on_done, with waiter NULL, to read the outcome. Never
 * blocks. */
lti_jwks_result_t lti_jwks_cache_lookup(lti_jwks_cache_t *self, size_t index, const char *kid,
                                        lti_jwks_waiter_t *waiter, EVP_PKEY **key,
                                        lti_err_t *err);

/* Counters for tests, benchmarks and /readyz. */
typedef struct lti_jwks_stats {
    unsigned long fetches, fetch_failures, forced_refetches, rate_limited;
    int has_keys;       /* every registration has a key set (maybe stale) */
} lti_jwks_stats_t;
void lti_jwks_cache_stats(lti_jwks_cache_t *self, lti_jwks_stats_t *out);

#endif
