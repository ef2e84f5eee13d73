/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: a simulated Canvas (in-process, on its own
 * thread) and a real ltigate process, both on 127.0.0.1, with a config and
 * tool key written to a fresh temporary directory.
 */
#ifndef LTI_TEST_HARNESS_H
#define LTI_TEST_HARNESS_H

#include <stdint.h>
#include <sys/types.h>
#include "../../src/sim/sim.h"

typedef struct harness {
    char dir[256];         /* temporary directory, removed by harness_stop */
    char config_path[300];
    char log_path[300];
    char tool_base[64];    /* http://127.0.0.1:PORT */
    uint16_t tool_port;
    pid_t tool_pid;
    sim_platform_t *platform;
} harness_t;

typedef struct harness_opts {
    const char *extra_hosted_yaml;   /* lines appended to the hosted section */
    const char *extra_platform_yaml; /* lines appended to the platform entry */
    const char *extra_yaml;          /* whole sections appended at the end; each "$PLATFORM"
                                        becomes the simulated platform's base URL */
    /* Registration of the simulated platform; NULL = the simulator defaults. */
    const char *issuer, *client_id, *deployment_id;
    const char *extra_server_yaml; /* lines appended to the server section */
    const char *keys_url;          /* lti13KeysUrl; NULL = the platform's key set */
} harness_opts_t;

/* Starts the platform and ltigate and waits until /healthz answers.
 * Returns 0, or -1 after printing why. */
int harness_start(harness_t *h, const harness_opts_t *opts);
/* Stops ltigate (SIGTERM, then SIGKILL after 5 s) and the platform. */
void harness_stop(harness_t *h);

/* Fills launch options with the platform URL and the given user. */
void harness_launch_opts(const harness_t *h, sim_launch_opts_t *o);

/* Returns 1 when the ltigate log contains `needle`. */
int harness_log_contains(const harness_t *h, const char *needle);

/* Sends one HTTP request to ltigate; returns the status (or -1) and copies
 * the X-LTI-Reason header into `reason`. `body` may be NULL. */
long harness_http(const harness_t *h, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len,
                  const char *cookie, char *reason, size_t reason_len);

/* As harness_http, and copies the Location header into `location`. */
long harness_http_location(const harness_t *h, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_len,
                           const char *cookie, char *reason, size_t reason_len, char *location,
                           size_t location_len);

#endif
