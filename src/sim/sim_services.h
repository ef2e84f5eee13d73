/* SPDX-License-Identifier: MIT */
/*
 * The simulated Canvas's LTI Advantage services and REST API (token
 * endpoint, AGS, NRPS, OAuth2 for the REST developer key), with failure
 * injection for tests. Routed from sim_platform_on_req; the in-process
 * controls below are what tests and `ltisim` use.
 */
#ifndef LTI_SIM_SERVICES_H
#define LTI_SIM_SERVICES_H

#include <h2o.h>
#include <jansson.h>
#include "sim.h"
#include "sim_int.h"

#define SIM_SVC_UNHANDLED (-2)
/* The REST developer key the simulated Canvas knows (customAppId and the
 * contents of customAppKeyFile on the tool side). */
#define SIM_REST_CLIENT_ID "10000000000042"
#define SIM_REST_CLIENT_SECRET "sim-rest-developer-key-secret-0123456789"

typedef struct sim_services sim_services_t;

typedef struct sim_services_stats {
    unsigned long token_requests;      /* client_credentials POSTs, failed ones included */
    unsigned long tokens_issued;
    unsigned long scores_received;
    unsigned long lineitems_created;   /* through the AGS API */
    unsigned long nrps_pages;
    unsigned long rest_token_requests; /* authorization_code and refresh_token POSTs */
    unsigned long rest_refreshes;
    unsigned long rest_tokens_issued;
    unsigned long rest_calls;
} sim_services_stats_t;

sim_services_t *sim_services_new(void);
void sim_services_free(sim_services_t *s);

/* Answers the request when it is a services path; returns SIM_SVC_UNHANDLED
 * otherwise. Runs on the platform's loop thread without the lock held. */
int sim_services_on_req(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params);

void sim_services_get_stats(sim_platform_t *p, sim_services_stats_t *out);
json_t *sim_services_stats_json(sim_platform_t *p);
/* Forgets every service access token issued so far (the next call gets 401). */
void sim_services_revoke(sim_platform_t *p);
/* Makes the next `count` calls to `target` ("token", "ags", "nrps", "rest")
 * fail with `mode`: "401", "403", "404", "500", "timeout" (never answered)
 * or "garbage" (a cut-off JSON body). Returns -1 for an unknown target. */
int sim_services_set_fail(sim_platform_t *p, const char *target, const char *mode,
                          unsigned count);
/* Sets token lifetimes (seconds), roster size and NRPS page size; 0 keeps
 * a value. Defaults: 3600, 3600, 7 members, 3 per page. */
void sim_services_configure(sim_platform_t *p, unsigned token_ttl, unsigned rest_token_ttl,
                            unsigned roster_size, unsigned page_size);
/* Creates a line item in `course` and returns its URL (malloc'd). */
char *sim_services_lineitem(sim_platform_t *p, const char *course, const char *label,
                            double maximum);
/* Adds a line item; lock held. Returns a new reference or NULL. */
json_t *sim_services_add_lineitem(sim_platform_t *p, const char *course, const char *label,
                                  double maximum, const char *resource_id);
/* The gradebook: every score received, as a new array. */
json_t *sim_services_scores(sim_platform_t *p);

/* `ltisim quiz`: a student takes a video quiz from an assignment (sim_quiz.c). */
int sim_quiz_main(int argc, char **argv);

#endif
