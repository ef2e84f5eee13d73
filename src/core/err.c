/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include "lti/err.h"

lti_reason_t lti_err_set(lti_err_t *err, lti_reason_t reason, const char *fmt, ...)
{
    if (err == NULL || err->reason != LTI_R_ok)
        return reason;
    err->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return reason;
}

void lti_err_clear(lti_err_t *err)
{
    err->reason = LTI_R_ok;
    err->msg[0] = '\0';
}
