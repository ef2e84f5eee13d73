/* SPDX-License-Identifier: MIT */
/*
 * Platform key cache: one entry per registration, a worker thread that
 * fetches key sets with libcurl, and the waiter hand-back to event loops.
 * The policy is described in lti/jwks_cache.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include "lti/jwks.h"
#include "lti/jwks_cache.h"
#include "lti/log.h"
#include "lti/outbound.h"

/* Failed fetches back off from 30 s to 15 min while stale keys still serve.
 * With no keys at all the back-off runs from 1 s to 30 s, so a platform that
 * was down when ltigate started is picked up within seconds. */
#define BACKOFF_MIN 30.0
#define BACKOFF_MAX 900.0
#define COLD_BACKOFF_MIN 1.0
#define COLD_BACKOFF_MAX 30.0
#define MAX_WAITERS 4096 /* per registration; beyond this a miss fails at once */

typedef struct waiter_node {
    lti_jwks_waiter_t *waiter;
    struct waiter_node *next;
} waiter_node_t;

typedef struct entry {
    const lti_platform_cfg_t *platform;
    lti_keyset_t keys;     /* guarded by the cache lock */
    int has_keys;
    double fresh_until;    /* monotonic seconds */
    double stale_until;
    double last_forced;    /* last kid-miss refetch, monotonic */
    double retry_at;       /* earliest next attempt after a failure */
    double backoff;
    int queued;            /* waiting in the fetch queue or being fetched */
    waiter_node_t *waiters;
    size_t n_waiters;
} entry_t;

struct lti_jwks_cache {
    const lti_config_t *cfg;
    entry_t *entries;
    size_t n_entries;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    size_t *queue; /* ring of entry indices, n_entries slots */
    size_t q_head, q_len;
    int stopping;
    int stopped; /* the fetch thread was joined */
    pthread_t thread;
    lti_jwks_stats_t stats;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Queues entry i for the fetch thread unless it is already queued. Lock held. */
static void enqueue(lti_jwks_cache_t *self, size_t i)
{
    entry_t *e = &self->entries[i];
    if (e->queued)
        return;
    e->queued = 1;
    self->queue[(self->q_head + self->q_len) % self->n_entries] = i;
    self->q_len++;
    pthread_cond_signal(&self->wake);
}

/* ---- fetching (worker thread) ---- */

typedef struct fetch_buf {
    char *data;
    size_t len, cap;
    int too_large;
    long max_age; /* -1 when the response had no usable max-age */
} fetch_buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    fetch_buf_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > b->cap) {
        b->too_large = 1;
        return 0; /* aborts the transfer: the set is rejected, not truncated */
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

/* Reads max-age from a Cache-Control header line; no-store and no-cache
 * count as 0, which the clamp turns into minCacheSeconds. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    fetch_buf_t *b = arg;
    size_t n = size * nmemb;
    static const char name[] = "cache-control:";
    if (n <= sizeof(name) - 1 || strncasecmp(ptr, name, sizeof(name) - 1) != 0)
        return n;
    char line[256];
    size_t len = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, ptr, len);
    line[len] = '\0';
    for (char *p = line; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    char *m = strstr(line, "max-age=");
    if (m != NULL) {
        char *end;
        long v = strtol(m + 8, &end, 10);
        if (end != m + 8 && v >= 0)
            b->max_age = v;
    } else if (strstr(line, "no-store") != NULL || strstr(line, "no-cache") != NULL) {
        b->max_age = 0;
    }
    return n;
}

/* Fetches one key set. Returns 0 with `out` filled, or -1 with `why`. */
static int fetch_keys(lti_jwks_cache_t *self, const lti_platform_cfg_t *platform,
                      lti_keyset_t *out, long *max_age, char *why, size_t whylen)
{
    const lti_config_t *cfg = self->cfg;
    fetch_buf_t buf = {.cap = cfg->jwks_max_bytes, .max_age = -1};
    long status = 0;
    int rc = -1;
    CURL *curl = curl_easy_init();

    buf.data = malloc(buf.cap + 1);
    if (curl == NULL || buf.data == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, platform->keys_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, platform->allow_http_loopback ? "http,https" : "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->jwks_connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cfg->jwks_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->jwks_max_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, lti_outbound_open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, (void *)platform);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ltigate");

    CURLcode cc = curl_easy_perform(curl);
    if (buf.too_large) {
        snprintf(why, whylen, "key set larger than %zu bytes", cfg->jwks_max_bytes);
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "fetch failed: %s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(why, whylen, "HTTP status %ld", status);
        goto out;
    }
    if (lti_keyset_parse(buf.data, buf.len, cfg->jwks_max_keys, out, NULL, NULL, why, whylen) != 0)
        goto out;
    *max_age = buf.max_age;
    rc = 0;
out:
    free(buf.data);
    curl_easy_cleanup(curl);
    return rc;
}

/* Hands every waiter of `e` back to its loop thread. Lock held. */
static void release_waiters(entry_t *e)
{
    waiter_node_t *node = e->waiters;
    e->waiters = NULL;
    e->n_waiters = 0;
    while (node != NULL) {
        waiter_node_t *next = node->next;
        h2o_multithread_send_message(node->waiter->receiver, &node->waiter->super);
        free(node);
        node = next;
    }
}

static void finish_fetch(lti_jwks_cache_t *self, size_t i, int ok, lti_keyset_t *keys, long max_age,
                         const char *why)
{
    const lti_config_t *cfg = self->cfg;
    entry_t *e = &self->entries[i];
    double now = now_mono();
    char n_keys[16];

    pthread_mutex_lock(&self->lock);
    self->stats.fetches++;
    if (ok) {
        long ttl = max_age < 0 ? (long)cfg->jwks_default_ttl : max_age;
        if (ttl < (long)cfg->jwks_min_ttl)
            ttl = cfg->jwks_min_ttl;
        if (ttl > (long)cfg->jwks_max_ttl)
            ttl = cfg->jwks_max_ttl;
        lti_keyset_clear(&e->keys);
        e->keys = *keys;
        e->has_keys = 1;
        e->fresh_until = now + (double)ttl;
        e->stale_until = e->fresh_until + cfg->jwks_stale_ttl;
        e->backoff = 0;
        e->retry_at = 0;
        snprintf(n_keys, sizeof(n_keys), "%zu", keys->n_keys);
    } else {
        self->stats.fetch_failures++;
        double min = e->has_keys ? BACKOFF_MIN : COLD_BACKOFF_MIN;
        double max = e->has_keys ? BACKOFF_MAX : COLD_BACKOFF_MAX;
        e->backoff = e->backoff < min ? min : e->backoff * 2;
        if (e->backoff > max)
            e->backoff = max;
        e->retry_at = now + e->backoff;
    }
    e->queued = 0;
    release_waiters(e);
    pthread_mutex_unlock(&self->lock);

    const char *kv[] = {"iss", e->platform->issuer, "client_id", e->platform->client_id,
                        "keys", ok ? n_keys : NULL, "reason", ok ? NULL : "jwks_unavailable",
                        NULL};
    lti_log_kv(ok ? LTI_LOG_INFO : LTI_LOG_WARN, "jwks", ok ? "key set fetched" : why, kv);
}

static void *fetch_thread(void *arg)
{
    lti_jwks_cache_t *self = arg;

    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (self->q_len == 0 && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stopping)
            break;
        size_t i = self->queue[self->q_head];
        self->q_head = (self->q_head + 1) % self->n_entries;
        self->q_len--;
        pthread_mutex_unlock(&self->lock);

        lti_keyset_t keys = {0};
        long max_age = -1;
        char why[256] = "";
        int ok = fetch_keys(self, self->entries[i].platform, &keys, &max_age, why, sizeof(why)) == 0;
        finish_fetch(self, i, ok, &keys, max_age, why);

        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* ---- public API ---- */

lti_jwks_cache_t *lti_jwks_cache_new(const lti_config_t *cfg)
{
    lti_jwks_cache_t *self = calloc(1, sizeof(*self));
    if (self == NULL)
        return NULL;
    self->cfg = cfg;
    self->n_entries = cfg->n_platforms;
    self->entries = calloc(self->n_entries + 1, sizeof(*self->entries));
    self->queue = calloc(self->n_entries + 1, sizeof(*self->queue));
    if (self->entries == NULL || self->queue == NULL) {
        free(self->entries);
        free(self->queue);
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < self->n_entries; i++)
        self->entries[i].platform = &cfg->platforms[i];
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pthread_create(&self->thread, NULL, fetch_thread, self) != 0) {
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->wake);
        free(self->entries);
        free(self->queue);
        free(self);
        return NULL;
    }
    return self;
}

void lti_jwks_cache_stop(lti_jwks_cache_t *self)
{
    if (self == NULL || self->stopped)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = 1;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    /* A fetch in progress finishes first and hands its waiters back. */
    pthread_join(self->thread, NULL);
    self->stopped = 1;
    /* Entries still queued will not be fetched: their waiters go back to
     * their loops now, which find no key and reject those launches. */
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->n_entries; i++)
        release_waiters(&self->entries[i]);
    pthread_mutex_unlock(&self->lock);
}

void lti_jwks_cache_free(lti_jwks_cache_t *self)
{
    if (self == NULL)
        return;
    lti_jwks_cache_stop(self);
    for (size_t i = 0; i < self->n_entries; i++) {
        lti_keyset_clear(&self->entries[i].keys);
        waiter_node_t *node = self->entries[i].waiters;
        while (node != NULL) {
            waiter_node_t *next = node->next;
            free(node);
            node = next;
        }
    }
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    free(self->entries);
    free(self->queue);
    free(self);
}

void lti_jwks_cache_prefetch(lti_jwks_cache_t *self)
{
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->n_entries; i++)
        enqueue(self, i);
    pthread_mutex_unlock(&self->lock);
}

lti_jwks_result_t lti_jwks_cache_lookup(lti_jwks_cache_t *self, size_t index, const char *kid,
                                        lti_jwks_waiter_t *waiter, EVP_PKEY **key,
                                        lti_err_t *err)
{
    entry_t *e = &self->entries[index];
    double now = now_mono();
    lti_jwks_result_t result = LTI_JWKS_FAILED;
    int ambiguous = 0;

    *key = NULL;
    pthread_mutex_lock(&self->lock);
    int usable = e->has_keys && now < e->stale_until;
    EVP_PKEY *found = usable ? lti_keyset_find(&e->keys, kid, &ambiguous) : NULL;

    /* A set past its fresh lifetime is refreshed in the background while
     * its keys keep serving (stale-if-error up to staleSeconds). */
    if (e->has_keys && now >= e->fresh_until && now >= e->retry_at)
        enqueue(self, index);

    if (found != NULL) {
        EVP_PKEY_up_ref(found);
        *key = found;
        result = LTI_JWKS_FOUND;
        goto out;
    }
    if (ambiguous) {
        lti_err_set(err, LTI_R_kid_ambiguous, "kid '%s' names several keys", kid);
        goto out;
    }
    /* No fetch runs once the cache stops: a miss is final. */
    if (waiter == NULL || self->stopping)
        goto miss;

    /* A kid miss may mean the platform rotated keys: refetch once, shared by
     * every waiting request, and at most once per refetchInterval, so a
     * stream of tokens with random kids cannot turn into a stream of fetches. */
    if (!e->queued) {
        if (e->has_keys && now - e->last_forced < self->cfg->jwks_refetch_interval) {
            self->stats.rate_limited++;
            goto miss;
        }
        if (!e->has_keys && now < e->retry_at) {
            self->stats.rate_limited++;
            goto miss;
        }
        e->last_forced = now;
        self->stats.forced_refetches++;
        enqueue(self, index);
    }
    if (e->n_waiters >= MAX_WAITERS)
        goto miss;
    waiter_node_t *node = malloc(sizeof(*node));
    if (node == NULL)
        goto miss;
    node->waiter = waiter;
    node->next = e->waiters;
    e->waiters = node;
    e->n_waiters++;
    result = LTI_JWKS_PENDING;
    goto out;

miss:
    if (!usable)
        lti_err_set(err, LTI_R_jwks_unavailable, "no usable key set for %s",
                    e->platform->keys_url);
    else
        lti_err_set(err, LTI_R_kid_unknown, "kid '%s' not in the key set", kid);
out:
    pthread_mutex_unlock(&self->lock);
    return result;
}

void lti_jwks_cache_stats(lti_jwks_cache_t *self, lti_jwks_stats_t *out)
{
    pthread_mutex_lock(&self->lock);
    *out = self->stats;
    out->has_keys = 1;
    for (size_t i = 0; i < self->n_entries; i++)
        if (!self->entries[i].has_keys)
            out->has_keys = 0;
    pthread_mutex_unlock(&self->lock);
}
