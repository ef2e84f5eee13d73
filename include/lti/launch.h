/* SPDX-License-Identifier: MIT */
/*
 * Claim validation of a verified id_token (1EdTech Security Framework 1.0
 * §5.1.3, LTI Core 1.3 §5.3 and §5.4) and the mapping of a valid launch to
 * an application user and role.
 */
#ifndef LTI_LAUNCH_H
#define LTI_LAUNCH_H

#include <stdint.h>
#include <jansson.h>
#include "lti/config.h"
#include "lti/err.h"

#define LTI_CLAIM_PREFIX "https://purl.imsglobal.org/spec/lti/claim/"
#define LTI_CLAIM_DL_SETTINGS "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
#define LTI_CLAIM_PLACEMENT "https://www.instructure.com/placement"

typedef enum lti_message_type {
    LTI_MSG_RESOURCE_LINK = 1, /* LtiResourceLinkRequest */
    LTI_MSG_DEEP_LINKING,      /* LtiDeepLinkingRequest */
} lti_message_type_t;

/* What the login stored under the state, needed to check the token. */
typedef struct lti_login_record {
    const char *nonce;
    const char *target_link_uri;
    const char *iss;
    const char *client_id;
} lti_login_record_t;

/* Facts of a valid launch. Strings are borrowed from `claims` (which the
 * struct holds a reference to) or from the config; lti_launch_clear
 * releases the reference. */
typedef struct lti_launch {
    json_t *claims;                  /* owned reference to the payload */
    const lti_platform_cfg_t *platform;
    lti_message_type_t message_type;
    const char *sub;                 /* NULL for an anonymous launch */
    const char *deployment_id;
    const char *target_link_uri;     /* NULL when absent (deep linking) */
    const char *resource_link_id;    /* NULL for deep linking */
    const char *resource_link_title;
    const char *context_id, *context_title, *context_label; /* NULL without context */
    const char *placement;           /* Canvas placement claim; NULL when null/absent */
    const char *name;                /* display name, NULL when the platform sent none */
    const char *email;
    const char *dl_return_url;       /* deep linking only */
    const char *user_id;             /* mapped per ltiUserIdAttribute; never NULL when valid */
    int user_id_from_fallback;       /* 1 when the attribute was unusable and sub was used */
    const char *app_role;            /* mapped per the roles table; never NULL when valid */
    int64_t iat, exp;
} lti_launch_t;

/* Checks every claim of a token whose signature has already been verified:
 * iss exact; aud string or array containing client_id (extra audiences only
 * when trusted, azp required when several, azp == client_id when present);
 * exp, iat, nbf type-checked numbers within clock_skew, iat not older than
 * max_token_age, exp - iat at most max_token_lifetime; nonce equal to the
 * login's; deployment_id 1-255 ASCII; version "1.3.0"; message_type
 * supported; roles an array of strings; target_link_uri equal to the
 * login's (when present; required for resource links); resource_link.id
 * (resource links); deep_linking_settings.deep_link_return_url (deep
 * linking); sub a 1-255 byte string when present. Then maps the user ID and
 * the app role. The deployment allow-list is checked by the caller, which
 * owns the recorded-deployments file. `now` is seconds since the epoch.
 * On success fills `out` (taking a reference to `claims`) and returns
 * LTI_R_ok. */
lti_reason_t lti_launch_validate(const lti_config_t *cfg, const lti_platform_cfg_t *platform,
                                 const lti_login_record_t *login, json_t *claims, int64_t now,
                                 lti_launch_t *out, lti_err_t *err);
void lti_launch_clear(lti_launch_t *launch);

/* Maps the user ID per hosted.ltiUserIdAttribute, or per lti13UserIdClaim
 * and lti13UserIdClaimProperty when set. A value that is missing, empty,
 * not a string, or a literal Canvas variable left unsubstituted ("$Canvas.user.loginId")
 * is not a user ID; then userIdFallback decides ("sub", or "reject").
 * Returns the borrowed value or NULL with LTI_R_user_id_missing in `err`. */
const char *lti_launch_map_user_id(const lti_config_t *cfg, json_t *claims, lti_err_t *err);

/* Expands a role to its canonical URI: short names ("Instructor") become
 * membership roles, LTI 1.1 URNs become their LTI 1.3 URIs. Writes to
 * `out` and returns it, or returns NULL when the result does not fit. */
const char *lti_role_canonical(const char *role, char *out, size_t outlen);

/* Maps a roles array to the most privileged app role it earns through the
 * roles table; a user with no mapped role gets roles.default, the least
 * privileged. Never returns NULL. */
const char *lti_launch_map_role(const lti_config_t *cfg, json_t *roles);

/* Returns 1 when `value` is a Canvas variable that was not substituted
 * (starts with '$' followed by a letter). */
int lti_is_unsubstituted(const char *value);

#endif
