/* SPDX-License-Identifier: MIT */
/*
 * The platform simulator's state, shared by the h2o plumbing (sim_server.c)
 * and the endpoint handlers (sim_platform.c).
 */
#ifndef LTI_SIM_PLATFORM_INT_H
#define LTI_SIM_PLATFORM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <h2o.h>
#include "sim.h"
#include "sim_int.h"
#include "sim_keys.h"
#include "sim_token.h"

/* Launches waiting for their authorize request; Canvas keeps them in a
 * cache, the simulator in a bounded list. */
#define SIM_MAX_LAUNCHES 4096
/* h2o rejects request bodies larger than this with 413. */
#define SIM_MAX_BODY (1024 * 1024)
#define SIM_MAX_CONNECTIONS 256

struct sim_platform {
    pthread_mutex_t lock;

    /* Guarded by `lock`: read by handlers on the loop thread, written by
     * the control functions from any thread. */
    char *issuer, *client_id, *deployment_id;
    char *tool_login, *tool_launch;
    sim_keyring_t keys;
    sim_launch_req_t **launches;
    size_t n_launches;
    sim_jwks_mode_t jwks_mode;
    unsigned slow_ms;
    char next_error[40];
    sim_platform_stats_t stats;
    char *last_dl_jwt;
    char *tool_jwks;           /* the tool's public_jwk_url, or NULL */
    json_t *dl_requests;       /* object: return URL path and query -> {placement, settings} */
    json_t *last_dl_result;    /* verification report of the last response, or NULL */
    struct sim_services *services; /* LTI Advantage and REST state (sim_services.c) */

    /* Fixed once started. */
    char base_url[80];
    uint16_t port;
    char guid[64];
    unsigned hint_lifetime;
    char *state_dir;

    /* Owned by the loop thread. */
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    h2o_timeout_t tick; /* timer that sends delayed JWKS responses */
    h2o_linklist_t slow_reqs;
    h2o_linklist_t conns;
    size_t n_conns;
    int h2o_ready; /* config and context were initialised */

    pthread_t thread;
    int thread_started;
    atomic_int stop;
};

/* sim_storage.c: the course page and the storage frames for browser tests.
 * Returns 1 and sets *rc when `req` is one of its paths. */
int sim_storage_route(const char *base, h2o_req_t *req, const sim_params_t *params, int *rc);

/* sim_server.c */
int sim_server_respond(h2o_req_t *req, int status, const char *content_type, const char *body,
                       size_t len);
int sim_server_respond_json(h2o_req_t *req, int status, json_t *doc);
/* Sends the JWKS in response to `req` after `delay_ms`, from the loop's timer. */
void sim_server_delay_jwks(sim_platform_t *p, h2o_req_t *req, unsigned delay_ms);
/* Sends the current key set with Canvas's Cache-Control header. */
int sim_server_send_jwks(sim_platform_t *p, h2o_req_t *req);

/* sim_platform.c */
int sim_platform_on_req(sim_platform_t *p, h2o_req_t *req);
double sim_monotonic(void);

#endif
