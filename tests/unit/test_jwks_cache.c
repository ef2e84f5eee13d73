/* SPDX-License-Identifier: MIT */
/*
 * The platform key cache against the simulated Canvas JWKS endpoint on
 * loopback: start-up fetch, kid-miss refetch through the waiter hand-back,
 * the refetch rate limit, and stale keys serving while the endpoint is down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <h2o.h>
#include "lti/jwks_cache.h"
#include "../../src/sim/sim.h"

typedef struct fixture {
    sim_platform_t *platform;
    lti_config_t cfg;
    lti_platform_cfg_t reg;
    char keys_url[128];
    lti_jwks_cache_t *cache;
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
} fixture_t;

typedef struct test_waiter {
    lti_jwks_waiter_t super;
    int done;
} test_waiter_t;

static void on_done(lti_jwks_waiter_t *waiter)
{
    ((test_waiter_t *)waiter)->done = 1;
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        lti_jwks_waiter_t *waiter = (lti_jwks_waiter_t *)msg;
        waiter->on_done(waiter);
    }
}

static void wait_for_fetches(fixture_t *f, unsigned long n)
{
    lti_jwks_stats_t stats;
    for (int i = 0; i < 200; i++) {
        lti_jwks_cache_stats(f->cache, &stats);
        if (stats.fetches >= n)
            return;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("key set fetch %lu did not finish", n);
}

/* Runs the loop until the waiter is handed back, at most about 10 s. */
static void wait_for_waiter(fixture_t *f, test_waiter_t *w)
{
    for (int i = 0; i < 100 && !w->done; i++)
        h2o_evloop_run(f->loop, 100);
    assert_true(w->done);
}

static int setup(void **state)
{
    static fixture_t f;
    char errbuf[256];
    sim_platform_opts_t po = {0};

    memset(&f, 0, sizeof(f));
    f.platform = sim_platform_start(&po, errbuf, sizeof(errbuf));
    assert_non_null(f.platform);
    snprintf(f.keys_url, sizeof(f.keys_url), "%s/api/lti/security/jwks",
             sim_platform_base_url(f.platform));
    f.reg = (lti_platform_cfg_t){.issuer = "https://canvas.instructure.com",
                                 .client_id = "170000000000123",
                                 .keys_url = f.keys_url,
                                 .allow_http_loopback = 1};
    f.cfg = (lti_config_t){.platforms = &f.reg,
                           .n_platforms = 1,
                           .jwks_min_ttl = 300,
                           .jwks_max_ttl = 86400,
                           .jwks_default_ttl = 600,
                           .jwks_stale_ttl = 86400,
                           .jwks_refetch_interval = 30,
                           .jwks_connect_timeout_ms = 2000,
                           .jwks_timeout_ms = 5000,
                           .jwks_max_bytes = 65536,
                           .jwks_max_keys = 20};
    f.cache = lti_jwks_cache_new(&f.cfg);
    assert_non_null(f.cache);
    f.loop = h2o_evloop_create();
    f.queue = h2o_multithread_create_queue(f.loop);
    h2o_multithread_register_receiver(f.queue, &f.receiver, on_messages);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lti_jwks_cache_free(f->cache);
    h2o_multithread_unregister_receiver(f->queue, &f->receiver);
    /* h2o 2.2.5 (evloop build) closes the queue's socket in
     * h2o_multithread_destroy_queue but does not free the queue. */
    h2o_multithread_destroy_queue(f->queue);
    h2o_evloop_run(f->loop, 0);
    free(f->queue);
    h2o_evloop_destroy(f->loop);
    sim_platform_stop(f->platform);
    return 0;
}

static void cache_fetch_refetch_and_stale(void **state)
{
    fixture_t *f = *state;
    lti_err_t err = {0};
    lti_jwks_stats_t stats;
    sim_platform_stats_t sim_before, sim_after;
    EVP_PKEY *key = NULL;
    char kid[64], new_kid[64];

    /* Start-up fetch makes the current signing key available. */
    lti_jwks_cache_prefetch(f->cache);
    wait_for_fetches(f, 1);
    EVP_PKEY_free(sim_platform_signing_key(f->platform, kid, sizeof(kid)));
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, NULL, &key, &err), LTI_JWKS_FOUND);
    assert_non_null(key);
    EVP_PKEY_free(key);

    /* A key that signs before it was ever published: without a waiter the
     * lookup only reads the cache. */
    assert_int_equal(sim_platform_rotate(f->platform, 0, new_kid, sizeof(new_kid)), 0);
    lti_err_clear(&err);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, new_kid, NULL, &key, &err),
                     LTI_JWKS_FAILED);
    assert_int_equal(err.reason, LTI_R_kid_unknown);

    /* With a waiter the miss queues one refetch and hands the waiter back. */
    test_waiter_t w = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    sim_platform_get_stats(f->platform, &sim_before);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, new_kid, &w.super, &key, &err),
                     LTI_JWKS_PENDING);
    wait_for_waiter(f, &w);
    sim_platform_get_stats(f->platform, &sim_after);
    assert_int_equal(sim_after.jwks_hits - sim_before.jwks_hits, 1);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, new_kid, NULL, &key, &err),
                     LTI_JWKS_FOUND);
    EVP_PKEY_free(key);

    /* Within refetchInterval a second miss fails at once, without a fetch. */
    test_waiter_t w2 = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    lti_err_clear(&err);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, "2001-01-01T00:00:00Z", &w2.super, &key,
                                           &err),
                     LTI_JWKS_FAILED);
    assert_int_equal(err.reason, LTI_R_kid_unknown);
    lti_jwks_cache_stats(f->cache, &stats);
    assert_int_equal(stats.rate_limited, 1);
    assert_int_equal(stats.forced_refetches, 1);

    /* With the endpoint down, the cached keys keep serving. */
    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_DOWN, 0);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, NULL, &key, &err), LTI_JWKS_FOUND);
    EVP_PKEY_free(key);
    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_UP, 0);
}

/* Lookups of a known kid within the fresh lifetime never fetch again.
 * NOTE: the clamp of max-age to [minCacheSeconds, maxCacheSeconds] is not
 * covered here, because the cache reads the monotonic clock directly. */
static void cache_no_refresh_while_fresh(void **state)
{
    fixture_t *f = *state;
    lti_err_t err = {0};
    EVP_PKEY *key = NULL;
    char kid[64];
    lti_jwks_stats_t stats;

    lti_jwks_cache_prefetch(f->cache);
    wait_for_fetches(f, 1);
    EVP_PKEY_free(sim_platform_signing_key(f->platform, kid, sizeof(kid)));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, NULL, &key, &err),
                         LTI_JWKS_FOUND);
        EVP_PKEY_free(key);
    }
    lti_jwks_cache_stats(f->cache, &stats);
    assert_int_equal(stats.fetches, 1);
    assert_int_equal(stats.fetch_failures, 0);
}

/* A platform that is down when the service starts is retried within
 * seconds, not after the 30 s back-off used while stale keys serve. */
static void cache_cold_start_recovers(void **state)
{
    fixture_t *f = *state;
    lti_err_t err = {0};
    EVP_PKEY *key = NULL;
    char kid[64];

    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_DOWN, 0);
    lti_jwks_cache_prefetch(f->cache);
    wait_for_fetches(f, 1);
    EVP_PKEY_free(sim_platform_signing_key(f->platform, kid, sizeof(kid)));

    test_waiter_t w = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, &w.super, &key, &err),
                     LTI_JWKS_FAILED);
    assert_int_equal(err.reason, LTI_R_jwks_unavailable);

    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_UP, 0);
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, &w.super, &key, &err),
                     LTI_JWKS_PENDING);
    wait_for_waiter(f, &w);
    assert_int_equal(lti_jwks_cache_lookup(f->cache, 0, kid, NULL, &key, &err), LTI_JWKS_FOUND);
    EVP_PKEY_free(key);
}

/* Stopping the cache hands back every waiter: the one whose fetch is
 * running when its result arrives, and one queued behind it right after
 * the thread ends, since its fetch will never run. A miss after the stop
 * fails at once instead of waiting. */
static void cache_stop_answers_queued_waiters(void **state)
{
    fixture_t *f = *state;
    lti_platform_cfg_t regs[2] = {f->reg, f->reg};
    regs[1].client_id = "170000000000999";
    lti_config_t cfg = f->cfg;
    cfg.platforms = regs;
    cfg.n_platforms = 2;
    lti_jwks_cache_t *cache = lti_jwks_cache_new(&cfg);
    assert_non_null(cache);
    test_waiter_t first = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    test_waiter_t queued = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    EVP_PKEY *key = NULL;
    lti_err_t err = {0};

    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_SLOW, 1500);
    assert_int_equal(lti_jwks_cache_lookup(cache, 0, "k", &first.super, &key, &err),
                     LTI_JWKS_PENDING);
    struct timespec pause_ts = {0, 300 * 1000 * 1000};
    nanosleep(&pause_ts, NULL);
    assert_int_equal(lti_jwks_cache_lookup(cache, 1, "k", &queued.super, &key, &err),
                     LTI_JWKS_PENDING);
    lti_jwks_cache_stop(cache);
    wait_for_waiter(f, &first);
    wait_for_waiter(f, &queued);

    test_waiter_t late = {.super = {.receiver = &f->receiver, .on_done = on_done}};
    assert_int_equal(lti_jwks_cache_lookup(cache, 1, "k2", &late.super, &key, &err),
                     LTI_JWKS_FAILED);
    assert_null(key);
    sim_platform_set_jwks_mode(f->platform, SIM_JWKS_UP, 0);
    lti_jwks_cache_free(cache);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cache_fetch_refetch_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_no_refresh_while_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_cold_start_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_stop_answers_queued_waiters, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("jwks_cache", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
