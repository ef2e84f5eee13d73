/* SPDX-License-Identifier: MIT */
/*
 * Login-state helpers shared by the login and launch handlers: random
 * state and nonce values, the per-state browser cookie, the target_link_uri
 * rule, and the record stored under each state.
 */
#ifndef LTI_OIDC_H
#define LTI_OIDC_H

#include <stddef.h>
#include "lti/config.h"

#define LTI_OIDC_LOGIN_PATH "/hosted/index/oidc-login"
#define LTI_OIDC_LAUNCH_PATH "/hosted/index/oauth2-launch"
#define LTI_OIDC_RANDOM_BYTES 32 /* 256 bits each for state and nonce */
#define LTI_OIDC_RANDOM_LEN 44   /* base64url of 32 bytes plus NUL */
#define LTI_OIDC_COOKIE_PREFIX "ltist_"
/* The first character of a state sets how its launch may prove the
 * browser: by the state cookie only, or, for a login that offered
 * lti_storage_target, also through platform storage. The store key is the
 * whole state, so a client cannot change the mark of a state it has. */
#define LTI_OIDC_STATE_COOKIE_ONLY 'c'
#define LTI_OIDC_STATE_STORAGE 's'

/* Fills `out` with 32 random bytes in base64url. Returns 0, or -1 when the
 * OpenSSL generator fails. */
int lti_oidc_random(char out[LTI_OIDC_RANDOM_LEN]);
/* Fills two such values from one generator call (state and nonce). */
int lti_oidc_random_pair(char a[LTI_OIDC_RANDOM_LEN], char b[LTI_OIDC_RANDOM_LEN]);

/* Names the cookie that binds `state` to the browser: the prefix plus the
 * first 16 characters of the state, so that parallel launches in one
 * browser (a page with several embedded videos) each keep their own cookie. */
void lti_oidc_state_cookie_name(const char *state, char *out, size_t outlen);

/* Returns 1 when `target` is baseUrl itself or a path below it, i.e. an
 * address of this tool (open-redirect guard for target_link_uri). */
int lti_oidc_target_is_ours(const lti_config_t *cfg, const char *target);

/* The record stored under a state. Strings point into `owned`. */
typedef struct lti_oidc_record {
    size_t platform_index;
    const char *nonce;
    const char *target_link_uri;
    const char *deployment_hint; /* NULL when the login sent none */
    const char *storage_target;  /* lti_storage_target of the login, NULL when none */
    long long created;           /* seconds since the epoch */
    char *owned;                 /* malloc'd; release with lti_oidc_record_clear */
} lti_oidc_record_t;

/* Encodes a record as one line of text,
 *   r1 <platform index> <created> <len>:<nonce> <len>:<target> <hint> <storage>
 * where hint and storage are "<len>:<value>", or "-" when absent; lengths
 * make any byte safe in the strings. Returns a malloc'd string or NULL. */
char *lti_oidc_record_encode(size_t platform_index, const char *nonce, const char *target,
                             const char *deployment_hint, const char *storage_target,
                             long long created);
/* Decodes a stored record; returns 0, or -1 when it is malformed or names a
 * platform index outside the current config. */
int lti_oidc_record_decode(const lti_config_t *cfg, const char *buf, size_t len,
                           lti_oidc_record_t *out);
void lti_oidc_record_clear(lti_oidc_record_t *record);

#endif
