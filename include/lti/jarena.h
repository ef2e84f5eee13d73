/* SPDX-License-Identifier: MIT */
/*
 * Bump-pointer memory for the jansson trees of one request.
 *
 * Parsing a 3 KB id_token payload makes a few hundred small jansson
 * allocations (244 for the Canvas payload in tests/data). Under callgrind
 * the arena cut ltigate's instructions for the parse by about a tenth. In
 * a tight loop, where malloc reuses the same chunks, bench_json measures
 * both ways within a few percent of each other.
 *
 * Inside an arena scope on a thread, jansson allocates from the arena, and
 * frees of arena memory do nothing. The arena is released in one go when
 * the request ends. Outside a scope, and for memory that is not the current
 * arena's, jansson uses malloc and free as usual. So a json_dumps string
 * made outside a scope can be freed with free(), but one made inside a
 * scope must not be.
 *
 * Rules for users:
 * - outside a scope of its arena, a tree made in an arena is read-only,
 *   because adding a member may free its old hash table;
 * - every json_decref that may drop the last reference to an arena object
 *   runs inside a scope of that same arena;
 * - no such object outlives lti_jarena_release.
 * Keep the scopes small: a parse, and the final decrefs. Sanitizer builds
 * abort with a message when arena memory reaches free().
 */
#ifndef LTI_JARENA_H
#define LTI_JARENA_H

#include <stddef.h>

typedef struct lti_jarena_chunk lti_jarena_chunk_t;

typedef struct lti_jarena {
    lti_jarena_chunk_t *chunks; /* newest first; NULL until the first allocation */
} lti_jarena_t;

/* Routes jansson's allocations through the arena hooks. Call once, before
 * any jansson object exists in the process. Programs that never call it
 * keep jansson on malloc; the scope functions are then harmless no-ops. */
void lti_jarena_install(void);

/* Makes `arena` current on this thread and returns the previous one, to be
 * handed back to lti_jarena_leave. Scopes nest. */
lti_jarena_t *lti_jarena_enter(lti_jarena_t *arena);
void lti_jarena_leave(lti_jarena_t *previous);

/* Frees every chunk. The arena must not be current on any thread. */
void lti_jarena_release(lti_jarena_t *arena);

/* Returns the total capacity of the arena's chunks in bytes (for tests). */
size_t lti_jarena_size(const lti_jarena_t *arena);

#endif
