/* SPDX-License-Identifier: MIT */
/*
 * Canonical form of an LTI role: the LTI 1.3 vocabulary URI. LTI 1.3 allows
 * deprecated short context role names ("Instructor"), and LTI 1.1 platforms
 * send URNs. Both are mapped to the URI that Canvas sends, so one roles
 * table entry matches every spelling.
 */
#include <stdio.h>
#include <string.h>
#include "lti/launch.h"

#define LIS_V2 "http://purl.imsglobal.org/vocab/lis/v2/"

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* A role name is "Name" or "Name/SubRole" (LTI 1.1 and the short forms
 * write sub-roles after a slash). Returns the slash position, the length
 * for a name without one, or -1 when the text is not a role name. */
static long split_role_name(const char *name)
{
    const char *slash = NULL;
    size_t len = strlen(name);

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '/' && slash == NULL && i > 0 && i + 1 < len)
            slash = name + i;
        else if (!is_name_char(name[i]))
            return -1;
    }
    return slash != NULL ? (long)(slash - name) : (long)len;
}

/* Writes LIS_V2 + vocab + "#Name", or vocab + "/Name#SubRole". Returns NULL
 * when the result does not fit, or when `name` is not a role name (then the
 * caller keeps the role as it is). */
static const char *expand(const char *vocab, const char *name, char *out, size_t outlen,
                          int *not_name)
{
    long cut = split_role_name(name);
    int n;

    *not_name = cut < 0;
    if (cut < 0)
        return NULL;
    if (name[cut] == '/')
        n = snprintf(out, outlen, LIS_V2 "%s/%.*s#%s", vocab, (int)cut, name, name + cut + 1);
    else
        n = snprintf(out, outlen, LIS_V2 "%s#%s", vocab, name);
    return n >= 0 && (size_t)n < outlen ? out : NULL;
}

static const char *copy_role(const char *role, char *out, size_t outlen)
{
    size_t len = strlen(role);
    if (len >= outlen)
        return NULL;
    memcpy(out, role, len + 1);
    return out;
}

/* Returns NULL, with `out` unspecified, when the canonical form does not fit
 * in `outlen` bytes or an argument is NULL. */
const char *lti_role_canonical(const char *role, char *out, size_t outlen)
{
    static const struct {
        const char *urn;   /* LTI 1.1 URN prefix */
        const char *vocab; /* LTI 1.3 vocabulary under LIS_V2 */
    } urns[] = {
        {"urn:lti:role:ims/lis/", "membership"},
        {"urn:lti:instrole:ims/lis/", "institution/person"},
        {"urn:lti:sysrole:ims/lis/", "system/person"},
    };
    int not_name = 0;
    const char *r;

    if (role == NULL || out == NULL || outlen == 0)
        return NULL;
    if (strncmp(role, "http://", 7) == 0 || strncmp(role, "https://", 8) == 0)
        return copy_role(role, out, outlen);
    for (size_t i = 0; i < sizeof(urns) / sizeof(urns[0]); i++) {
        size_t plen = strlen(urns[i].urn);
        if (strncmp(role, urns[i].urn, plen) != 0)
            continue;
        r = expand(urns[i].vocab, role + plen, out, outlen, &not_name);
        return not_name ? copy_role(role, out, outlen) : r;
    }
    /* Short names are context (membership) roles in LTI 1.3. */
    r = expand("membership", role, out, outlen, &not_name);
    return not_name ? copy_role(role, out, outlen) : r;
}
