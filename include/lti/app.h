/* SPDX-License-Identifier: MIT */
/*
 * The running service: configuration, shared stores and caches, and the
 * HTTP server threads. main() builds one lti_app_t; tests build their own.
 */
#ifndef LTI_APP_H
#define LTI_APP_H

#include "lti/config.h"
#include "lti/deployments.h"
#include "lti/jwks_cache.h"
#include "lti/store.h"
#include "lti/tool.h"

typedef struct lti_server lti_server_t;

typedef struct lti_app {
    const lti_config_t *cfg;
    lti_store_t *store;
    lti_jwks_cache_t *jwks;
    lti_deployments_t *deployments;
    struct lti_services *services; /* platform service calls (lti/services.h) */
    const lti_tool_t *tool; /* published keys, developer-key JSON, media catalog */
} lti_app_t;

/* Binds every listen address (failing if one cannot be bound) and starts
 * cfg->threads event loop threads. Returns NULL with `errbuf` filled. */
lti_server_t *lti_server_start(lti_app_t *app, char *errbuf, size_t errlen);
/* Stops the loops, joins the threads and closes the listeners. */
void lti_server_stop(lti_server_t *server);

#endif
