/* SPDX-License-Identifier: MIT */
/*
 * Maps a launch to the application user ID with the semantics of Kaltura
 * KAF's hosted.ltiUserIdAttribute, lti13UserIdClaim and
 * lti13UserIdClaimProperty, plus userIdFallback.
 *
 * The value is used exactly as the platform sent it: no trimming and no case
 * folding, because login IDs and SIS IDs can be case- and space-sensitive.
 * A value that would need trimming is rejected instead.
 */
#include <stdio.h>
#include <string.h>
#include "lti/launch.h"
#include "launch_int.h"

#define CLAIM(name) LTI_CLAIM_PREFIX name
#define CUSTOM_PREFIX "custom_"

int lti_is_unsubstituted(const char *value)
{
    if (value == NULL || value[0] != '$')
        return 0;
    char c = value[1];
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Returns 1 when `s` has the shape of a Canvas variable name such as
 * "$Canvas.user.loginId": '$', then only letters, digits, dots and
 * underscores. Such a value is safe to quote in a detail message. */
static int is_variable_name(const char *s)
{
    if (!lti_is_unsubstituted(s))
        return 0;
    for (const char *p = s + 1; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_'))
            return 0;
    return 1;
}

/* Returns NULL when `v` is usable as a user ID, else the reason it is not,
 * as words for a detail message. Control bytes (NUL included) are rejected
 * because the ID ends up in logs, cookies and the application's user table. */
static const char *user_id_problem(const json_t *v)
{
    if (v == NULL)
        return "missing";
    if (!json_is_string(v))
        return "not a string";

    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t blanks = 0;
    if (len == 0)
        return "empty";
    if (len > LTI_LAUNCH_ID_MAX)
        return "longer than 255 bytes";
    if (lti_is_unsubstituted(s))
        return "an unsubstituted Canvas variable";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        if (c == ' ')
            blanks++;
    }
    if (blanks == len)
        return "blank";
    if (s[0] == ' ' || s[len - 1] == ' ')
        return "padded with spaces";
    return NULL;
}

/* Looks up the value named by ltiUserIdAttribute. Sets *known to 0 for an
 * attribute name this tool does not support. */
static json_t *attribute_value(const char *attribute, json_t *claims, int *known)
{
    *known = 1;
    if (strcmp(attribute, "sub") == 0 || strcmp(attribute, "email") == 0)
        return json_object_get(claims, attribute);
    if (strcmp(attribute, "lis_person_sourcedid") == 0)
        return json_object_get(json_object_get(claims, CLAIM("lis")), "person_sourcedid");
    if (strcmp(attribute, "lti11_legacy_user_id") == 0)
        return json_object_get(claims, CLAIM("lti11_legacy_user_id"));
    if (strncmp(attribute, CUSTOM_PREFIX, strlen(CUSTOM_PREFIX)) == 0 &&
        attribute[strlen(CUSTOM_PREFIX)] != '\0') {
        /* Canvas strips a leading "custom_" from custom field names, so the
         * developer-key field canvas_user_login_id arrives under that key in
         * the custom claim. Other platforms may keep the prefix. */
        json_t *custom = json_object_get(claims, CLAIM("custom"));
        json_t *v = json_object_get(custom, attribute + strlen(CUSTOM_PREFIX));
        return v != NULL ? v : json_object_get(custom, attribute);
    }
    *known = 0;
    return NULL;
}

/* Looks up lti13UserIdClaim and follows lti13UserIdClaimProperty, a dotted
 * path of object keys. A claim name without ':' is first tried as a short LTI
 * claim name ("custom" is LTI_CLAIM_PREFIX "custom") and then as a top-level
 * claim ("email"). An empty path segment finds nothing. */
static json_t *claim_path_value(const lti_config_t *cfg, json_t *claims)
{
    const char *name = cfg->user_id_claim;
    const char *path = cfg->user_id_claim_property;
    json_t *v = NULL;

    if (strchr(name, ':') == NULL) {
        char full[256];
        int n = snprintf(full, sizeof(full), "%s%s", LTI_CLAIM_PREFIX, name);
        if (n > 0 && (size_t)n < sizeof(full))
            v = json_object_get(claims, full);
    }
    if (v == NULL)
        v = json_object_get(claims, name);
    if (path == NULL || path[0] == '\0')
        return v;

    while (v != NULL) {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (len == 0 || !json_is_object(v))
            return NULL;
        v = json_object_getn(v, path, len);
        if (dot == NULL)
            break;
        path = dot + 1;
    }
    return v;
}

/* Writes the configured source of the user ID, e.g. "ltiUserIdAttribute
 * custom_canvas_user_login_id", to `buf` for detail messages. */
static const char *describe_source(const lti_config_t *cfg, const char *attribute, char *buf,
                                   size_t len)
{
    if (attribute != NULL)
        snprintf(buf, len, "ltiUserIdAttribute %.64s", attribute);
    else if (cfg->user_id_claim_property != NULL && cfg->user_id_claim_property[0] != '\0')
        snprintf(buf, len, "lti13UserIdClaim %.96s property %.64s", cfg->user_id_claim,
                 cfg->user_id_claim_property);
    else
        snprintf(buf, len, "lti13UserIdClaim %.96s", cfg->user_id_claim);
    return buf;
}

const char *lti_launch_map_user_id_ex(const lti_config_t *cfg, json_t *claims, int *from_fallback,
                                      lti_err_t *err)
{
    const char *attribute = NULL;
    const char *fallback = cfg->user_id_fallback != NULL ? cfg->user_id_fallback : "reject";
    const char *problem;
    char source[192];
    json_t *v;

    *from_fallback = 0;
    if (cfg->user_id_claim != NULL && cfg->user_id_claim[0] != '\0') {
        v = claim_path_value(cfg, claims);
    } else {
        int known;
        attribute = cfg->user_id_attribute != NULL && cfg->user_id_attribute[0] != '\0'
                        ? cfg->user_id_attribute
                        : "sub";
        v = attribute_value(attribute, claims, &known);
        if (!known) {
            lti_err_set(err, LTI_R_user_id_missing, "ltiUserIdAttribute %.64s is not supported",
                        attribute);
            return NULL;
        }
    }
    describe_source(cfg, attribute, source, sizeof(source));

    problem = user_id_problem(v);
    if (problem == NULL)
        return json_string_value(v);

    /* Only a variable name is quoted, because other values may be personal
     * data such as an e-mail address. */
    char quoted[80] = "";
    if (json_is_string(v) && is_variable_name(json_string_value(v)))
        snprintf(quoted, sizeof(quoted), " (%.64s)", json_string_value(v));

    if (strcmp(fallback, "sub") == 0 && (attribute == NULL || strcmp(attribute, "sub") != 0)) {
        json_t *sub = json_object_get(claims, "sub");
        const char *sub_problem = user_id_problem(sub);
        if (sub_problem == NULL) {
            *from_fallback = 1;
            return json_string_value(sub);
        }
        lti_err_set(err, LTI_R_user_id_missing, "%s is %s%s, and the fallback sub is %s", source,
                    problem, quoted, sub_problem);
        return NULL;
    }
    lti_err_set(err, LTI_R_user_id_missing, "%s is %s%s (userIdFallback %.16s)", source, problem,
                quoted, fallback);
    return NULL;
}

const char *lti_launch_map_user_id(const lti_config_t *cfg, json_t *claims, lti_err_t *err)
{
    int from_fallback;

    return lti_launch_map_user_id_ex(cfg, claims, &from_fallback, err);
}
