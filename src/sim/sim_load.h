/* SPDX-License-Identifier: MIT */
/*
 * `ltisim load`: a load generator that plays many browsers through complete
 * LTI 1.3 launches over keep-alive connections (libcurl multi), against
 * ltigate or any other LTI 1.3 tool on loopback, and reports rates, latency
 * percentiles per step and rejections by reason code.
 */
#ifndef LTI_SIM_LOAD_H
#define LTI_SIM_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "sim.h"

#define LOAD_MAX_MIX 16        /* entries of --roles and --placements */
#define LOAD_MAX_STATUSES 8    /* entries of --launch-status */
#define LOAD_MAX_COUNT 5000000 /* flows per run */
#define LOAD_MAX_SPLIT_COUNT 200000 /* split mode keeps every signed token, ~2.5 KB each */
#define LOAD_MAX_DURATION 3600 /* seconds per timed phase */
#define LOAD_MAX_CONCURRENCY 4096
#define LOAD_DEFAULT_TOOL_JWKS_PATH "/hosted/index/jwks" /* ltigate's key set */

typedef enum load_mode {
    LOAD_FULL = 0, /* every flow signs its id_token when its nonce is known */
    LOAD_SPLIT,    /* all logins, then all signing (not timed), then all launch POSTs */
    LOAD_GET,      /* plain GETs of one URL: the HTTP ceiling of the target */
} load_mode_t;

/* Steps of a flow; each has its own latency distribution. */
typedef enum load_step {
    STEP_CLICK = 0, /* GET /sim/launch on an external platform */
    STEP_LOGIN,     /* login initiation at the tool */
    STEP_AUTHORIZE, /* authorize request on an external platform */
    STEP_SIGN,      /* in-process id_token signing */
    STEP_LAUNCH,    /* id_token form POST to the tool */
    STEP_LANDING,   /* GET of the page the launch redirected to */
    STEP_REPLAY,    /* second POST of the same id_token (--negative) */
    STEP_PICKER,    /* GET of the deep-linking picker the launch redirected to */
    STEP_DL_RESPONSE, /* the picker's selection POST; the response page carries the signed JWT */
    STEP_DL_VERIFY, /* in-process verification of a sampled deep-linking response */
    STEP_GET,       /* LOAD_GET requests */
    STEP_FLOW,      /* a whole flow, first request to last response */
    STEP_COUNT
} load_step_t;

typedef struct sim_load_opts {
    load_mode_t mode;
    const char *login_url;    /* tool login initiation URL */
    const char *launch_url;   /* tool launch (redirect_uri) URL */
    const char *get_url;      /* LOAD_GET target */
    const char *platform_url; /* external `ltisim platform`; NULL = in-process platform */
    sim_platform_t *platform; /* the in-process platform when platform_url is NULL */
    const char *key_dir;      /* with platform_url: sign in-process with the keys.json the
                                 platform keeps in this --state-dir */
    const char *issuer, *client_id, *deployment_id; /* registration the tokens carry */
    const char *baseline_url; /* full mode against a do-nothing tool: every request goes here */
    unsigned concurrency;
    uint64_t count;  /* flows; 0 = until `duration` */
    double duration; /* seconds per timed phase */
    unsigned users, courses;
    const char *roles[LOAD_MAX_MIX];
    size_t n_roles;
    const char *placements[LOAD_MAX_MIX];
    size_t n_placements;
    int login_get;                       /* send login initiation as GET (default POST) */
    const char *token_param;             /* launch form field of the token, "id_token" */
    const char *state_param;             /* launch form field of the state, "state" */
    long launch_statuses[LOAD_MAX_STATUSES]; /* launch POST statuses that count as accepted */
    size_t n_launch_statuses;
    int landing;                  /* full mode: follow the launch redirect, expect 200 */
    const char *landing_contains; /* text the landing page must contain, or NULL */
    int negative;                 /* send tampered tokens; any accepted one is an error */
    unsigned deep_linking_pct;    /* share of flows that are deep-linking round trips, 0..100 */
    const char *dl_placement;     /* placement of the deep-linking requests */
    const char *dl_target;        /* their target_link_uri; NULL = launch_url */
    const char *dl_jwks;          /* the tool's key set: loopback http URL or file path */
    unsigned dl_verify_every;     /* verify the first response and every Nth after it */
    long server_pid;              /* report this process's CPU time per phase; 0 = none */
    long timeout_ms;              /* per request */
    unsigned sign_threads;        /* split mode signing threads; 0 = one per CPU */
    int progress;                 /* print a live progress line on standard error */
} sim_load_opts_t;

/* Runs the load described by `opts` and returns the report as a JSON
 * object (see sim_load_print_table), or NULL with a message in `err` when
 * the options are unusable or nothing could be started. */
json_t *sim_load_run(const sim_load_opts_t *opts, char *err, size_t errlen);

/* Prints the report as text tables. */
void sim_load_print_table(const json_t *report, FILE *out);

/* The `ltisim load` command; returns the process exit status. */
int sim_load_main(int argc, char **argv);

#endif
