/* SPDX-License-Identifier: MIT */
/*
 * Deployment allow-lists per registration. With acceptNewDeployments a new
 * deployment_id is accepted and recorded: it joins the in-memory set at once
 * and is appended to recordedDeploymentsFile by a writer thread, so a
 * restart keeps it and no event loop waits on the disk.
 */
#ifndef LTI_DEPLOYMENTS_H
#define LTI_DEPLOYMENTS_H

#include "lti/config.h"
#include "lti/err.h"

typedef struct lti_deployments lti_deployments_t;

/* Loads every registration's recorded deployments. Returns NULL with
 * `errbuf` filled when a file exists but cannot be read. */
lti_deployments_t *lti_deployments_new(const lti_config_t *cfg, char *errbuf, size_t errlen);
void lti_deployments_free(lti_deployments_t *self);

/* Checks deployment_id for platform `index`: LTI_R_ok when listed or (under
 * the record policy) newly recorded; LTI_R_deployment_unknown otherwise. */
lti_reason_t lti_deployments_check(lti_deployments_t *self, size_t index,
                                   const char *deployment_id, lti_err_t *err);

/* Waits until every queued record is on disk (for tests and shutdown). */
void lti_deployments_flush(lti_deployments_t *self);

#endif
