/* SPDX-License-Identifier: MIT */
/*
 * Error record passed down fallible calls: the reason code that the caller
 * reports, plus a detail message with the offending values for the log only.
 */
#ifndef LTI_ERR_H
#define LTI_ERR_H

#include "lti/reason.h"

typedef struct lti_err {
    lti_reason_t reason;
    char msg[256]; /* for logs; never shown to the browser */
} lti_err_t;

/* Records the first failure only (later calls keep the first reason and
 * message) and returns `reason`, so a check can end with
 * `return lti_err_set(err, LTI_R_aud_mismatch, "aud has %zu entries", n);`.
 * `err` may be NULL. */
lti_reason_t lti_err_set(lti_err_t *err, lti_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets `err` to LTI_R_ok with an empty message. */
void lti_err_clear(lti_err_t *err);

#endif
