/* SPDX-License-Identifier: MIT */
/* Private to src/services: the services object shared by its sources. */
#ifndef LTI_SVC_INT_H
#define LTI_SVC_INT_H

#include <pthread.h>
#include <curl/curl.h>
#include <jansson.h>
#include "lti/services.h"

struct xfer;
struct token_entry;

struct lti_services {
    const lti_config_t *cfg;
    pthread_mutex_t lock;      /* guards inbox, stopping and stats */
    lti_svc_call_t *inbox;     /* submitted calls, linked by next_waiter */
    int stopping;
    lti_svc_stats_t stats;

    /* Owned by the worker thread. */
    CURLM *multi;
    pthread_t thread;
    int started;
    struct xfer *xfers;
    struct token_entry *entries;

    /* Read-only after lti_services_new. */
    json_t *quizzes;
    char *canvas_app_key;
    unsigned char *score_secret;
    size_t score_secret_len;
};

int lti_svc_worker_start(lti_services_t *svc);
void lti_svc_worker_stop(lti_services_t *svc);

#endif
