/* SPDX-License-Identifier: MIT */
/*
 * Private to src/store: the adapter that drives a hiredis asynchronous
 * context from an h2o 2.2.5 event loop (redis_h2o.c).
 */
#ifndef LTI_REDIS_INT_H
#define LTI_REDIS_INT_H

#include <h2o.h>
#include <hiredis/async.h>

/* Registers the context's socket with `loop` and installs hiredis's event
 * hooks, so the loop calls redisAsyncHandleRead and redisAsyncHandleWrite
 * when the socket is ready. The loop watches a duplicate of hiredis's file
 * descriptor, so hiredis and h2o each close their own. The hooks are removed
 * by hiredis's cleanup when the context is freed. Returns 0, or -1 when the
 * descriptor cannot be duplicated (the context is left untouched). */
int lti_redis_h2o_attach(redisAsyncContext *ac, h2o_evloop_t *loop);

#endif
