/* SPDX-License-Identifier: MIT */
/* Lookup functions over the reason-code table in lti/reason.h. */
#include <string.h>
#include "lti/reason.h"

static const struct {
    const char *code;
    int status;
    const char *text;
} reasons[] = {
#define LTI_REASON_ROW(name, status, text) {#name, status, text},
    LTI_REASON_LIST(LTI_REASON_ROW)
#undef LTI_REASON_ROW
};

const char *lti_reason_code(lti_reason_t r)
{
    return (unsigned)r < LTI_R__COUNT ? reasons[r].code : "internal_error";
}

int lti_reason_status(lti_reason_t r)
{
    return (unsigned)r < LTI_R__COUNT ? reasons[r].status : 500;
}

const char *lti_reason_text(lti_reason_t r)
{
    return (unsigned)r < LTI_R__COUNT ? reasons[r].text : reasons[LTI_R_internal_error].text;
}

lti_reason_t lti_reason_from_code(const char *code)
{
    for (size_t i = 0; code != NULL && i < LTI_R__COUNT; i++)
        if (strcmp(reasons[i].code, code) == 0)
            return (lti_reason_t)i;
    return LTI_R__COUNT;
}
