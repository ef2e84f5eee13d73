/* SPDX-License-Identifier: MIT */
/*
 * In-memory state store: a chained hash table under one mutex, shared by all
 * event loop threads of one process. Records expire after their TTL
 * (monotonic clock) and the table holds at most max_entries live records, so
 * a flood of login initiations cannot grow memory without bound.
 *
 * Nonce records stay for the token age window (720 s by default), so under
 * load the table contains one record per launch of the last minutes. Each
 * record is one allocation (header, key and value), and the bucket array
 * doubles as records arrive instead of being sized for max_entries up front:
 * a table sized for 2,000,000 records would touch 8 MB of buckets with the
 * first hundred thousand.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "lti/store.h"

typedef struct entry {
    struct entry *next;
    double expires; /* lti_store_now() seconds */
    size_t hash;
    size_t value_len;
    char key[]; /* NUL-terminated, then the value and a NUL */
} entry_t;

#define ENTRY_VALUE(e) ((e)->key + strlen((e)->key) + 1)
#define MIN_BUCKETS 1024
#define MAX_BUCKETS ((size_t)1 << 20)

typedef struct memory_store {
    lti_store_t super;
    pthread_mutex_t lock;
    entry_t **buckets;
    size_t n_buckets;
    size_t max_buckets; /* the table stops doubling here */
    size_t count;
    size_t max_entries;
    double next_sweep;
} memory_store_t;

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double (*lti_store_now)(void) = monotonic_now;

/* FNV-1a; keys contain 256-bit random values, so no seeding is needed
 * against collision floods on state keys. */
static size_t hash_key(const char *key)
{
    size_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static void free_entry(entry_t *e)
{
    size_t key_len = strlen(e->key);
    OPENSSL_clear_free(e, sizeof(*e) + key_len + 1 + e->value_len + 1);
}

/* Doubles the bucket array once records outnumber buckets. Called with the
 * lock held; on allocation failure the chains just grow longer. */
static void grow(memory_store_t *self)
{
    size_t n = self->n_buckets * 2;
    entry_t **buckets = calloc(n, sizeof(*buckets));
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < self->n_buckets; i++) {
        entry_t *e = self->buckets[i];
        while (e != NULL) {
            entry_t *next = e->next;
            e->next = buckets[e->hash % n];
            buckets[e->hash % n] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = buckets;
    self->n_buckets = n;
}

/* Removes every expired record. Called with the lock held. */
static void sweep(memory_store_t *self, double now)
{
    for (size_t i = 0; i < self->n_buckets; i++) {
        entry_t **link = &self->buckets[i];
        while (*link != NULL) {
            entry_t *e = *link;
            if (e->expires <= now) {
                *link = e->next;
                free_entry(e);
                self->count--;
            } else {
                link = &e->next;
            }
        }
    }
    self->next_sweep = now + 10;
}

/* Finds a live record and its link; drops an expired one on the way. */
static entry_t **find(memory_store_t *self, const char *key, size_t hash, double now)
{
    entry_t **link = &self->buckets[hash % self->n_buckets];
    while (*link != NULL) {
        entry_t *e = *link;
        if (e->hash == hash && strcmp(e->key, key) == 0) {
            if (e->expires > now)
                return link;
            *link = e->next;
            free_entry(e);
            self->count--;
            return NULL;
        }
        link = &e->next;
    }
    return NULL;
}

static void mem_put_nx(lti_store_t *store, const char *key, const char *value, size_t len,
                       unsigned ttl, lti_store_cb cb, void *arg)
{
    memory_store_t *self = (memory_store_t *)store;
    lti_reason_t reason = LTI_R_ok;
    double now = lti_store_now();
    size_t key_len = strlen(key);
    size_t hash = hash_key(key);
    entry_t *e = NULL;

    pthread_mutex_lock(&self->lock);
    if (now >= self->next_sweep || self->count >= self->max_entries)
        sweep(self, now);
    if (find(self, key, hash, now) != NULL) {
        reason = LTI_R_nonce_reused;
        goto out;
    }
    if (self->count >= self->max_entries) {
        reason = LTI_R_store_full;
        goto out;
    }
    e = malloc(sizeof(*e) + key_len + 1 + len + 1);
    if (e == NULL) {
        reason = LTI_R_store_unavailable;
        goto out;
    }
    memcpy(e->key, key, key_len + 1);
    memcpy(e->key + key_len + 1, value, len);
    e->key[key_len + 1 + len] = '\0';
    e->value_len = len;
    e->expires = now + ttl;
    e->hash = hash;
    size_t b = hash % self->n_buckets;
    e->next = self->buckets[b];
    self->buckets[b] = e;
    self->count++;
    if (self->count > self->n_buckets && self->n_buckets < self->max_buckets)
        grow(self);
out:
    pthread_mutex_unlock(&self->lock);
    cb(arg, reason, NULL, 0);
}

static void mem_take(lti_store_t *store, const char *key, lti_store_cb cb, void *arg)
{
    memory_store_t *self = (memory_store_t *)store;
    entry_t *e = NULL;

    pthread_mutex_lock(&self->lock);
    entry_t **link = find(self, key, hash_key(key), lti_store_now());
    if (link != NULL) {
        e = *link;
        *link = e->next;
        self->count--;
    }
    pthread_mutex_unlock(&self->lock);

    if (e == NULL) {
        cb(arg, LTI_R_state_unknown, NULL, 0);
        return;
    }
    cb(arg, LTI_R_ok, ENTRY_VALUE(e), e->value_len);
    free_entry(e);
}

static size_t mem_count(lti_store_t *store)
{
    memory_store_t *self = (memory_store_t *)store;
    pthread_mutex_lock(&self->lock);
    sweep(self, lti_store_now());
    size_t n = self->count;
    pthread_mutex_unlock(&self->lock);
    return n;
}

static void mem_destroy(lti_store_t *store)
{
    memory_store_t *self = (memory_store_t *)store;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->n_buckets; i++) {
        entry_t *e = self->buckets[i];
        while (e != NULL) {
            entry_t *next = e->next;
            free_entry(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&self->lock);
    free(self->buckets);
    free(self);
}

static const lti_store_ops_t memory_ops = {
    .put_nx = mem_put_nx, .take = mem_take, .count = mem_count, .destroy = mem_destroy,
};

lti_store_t *lti_store_memory_new(size_t max_entries)
{
    memory_store_t *self = calloc(1, sizeof(*self));
    if (self == NULL)
        return NULL;
    self->super.ops = &memory_ops;
    self->max_entries = max_entries > 0 ? max_entries : 1;
    self->max_buckets = MIN_BUCKETS;
    while (self->max_buckets < self->max_entries && self->max_buckets < MAX_BUCKETS)
        self->max_buckets <<= 1;
    self->n_buckets = MIN_BUCKETS;
    self->buckets = calloc(self->n_buckets, sizeof(*self->buckets));
    if (self->buckets == NULL) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->next_sweep = lti_store_now() + 10;
    return &self->super;
}
