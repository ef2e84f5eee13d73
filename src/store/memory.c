/* SPDX-License-Identifier: MIT */
/*
 * In-memory state store: a chained hash table under one mutex, shared by all
 * event loop threads of one process. Records expire after their TTL
 * (monotonic clock) and the table holds at most max_entries live records, so
 * a flood of login initiations cannot grow memory without bound.
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
    size_t value_len;
    char *value;
    char key[]; /* NUL-terminated */
} entry_t;

typedef struct memory_store {
    lti_store_t super;
    pthread_mutex_t lock;
    entry_t **buckets;
    size_t n_buckets;
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
    OPENSSL_clear_free(e->value, e->value_len);
    free(e);
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
static entry_t **find(memory_store_t *self, const char *key, double now)
{
    entry_t **link = &self->buckets[hash_key(key) % self->n_buckets];
    while (*link != NULL) {
        entry_t *e = *link;
        if (strcmp(e->key, key) == 0) {
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
    entry_t *e = NULL;

    pthread_mutex_lock(&self->lock);
    if (now >= self->next_sweep || self->count >= self->max_entries)
        sweep(self, now);
    if (find(self, key, now) != NULL) {
        reason = LTI_R_nonce_reused;
        goto out;
    }
    if (self->count >= self->max_entries) {
        reason = LTI_R_store_full;
        goto out;
    }
    e = malloc(sizeof(*e) + key_len + 1);
    if (e == NULL || (e->value = malloc(len + 1)) == NULL) {
        free(e);
        reason = LTI_R_store_unavailable;
        goto out;
    }
    memcpy(e->key, key, key_len + 1);
    memcpy(e->value, value, len);
    e->value[len] = '\0';
    e->value_len = len;
    e->expires = now + ttl;
    size_t b = hash_key(key) % self->n_buckets;
    e->next = self->buckets[b];
    self->buckets[b] = e;
    self->count++;
out:
    pthread_mutex_unlock(&self->lock);
    cb(arg, reason, NULL, 0);
}

static void mem_take(lti_store_t *store, const char *key, lti_store_cb cb, void *arg)
{
    memory_store_t *self = (memory_store_t *)store;
    entry_t *e = NULL;

    pthread_mutex_lock(&self->lock);
    entry_t **link = find(self, key, lti_store_now());
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
    cb(arg, LTI_R_ok, e->value, e->value_len);
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
    self->n_buckets = 1024;
    while (self->n_buckets < self->max_entries && self->n_buckets < (1u << 20))
        self->n_buckets <<= 1;
    self->buckets = calloc(self->n_buckets, sizeof(*self->buckets));
    if (self->buckets == NULL) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->next_sweep = lti_store_now() + 10;
    return &self->super;
}
