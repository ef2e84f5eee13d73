/* SPDX-License-Identifier: MIT */
/*
 * The platform side of deep linking: verifying an LtiDeepLinkingResponse
 * the way Canvas does before it embeds anything, and describing what it
 * would embed for the placement of the request.
 */
#ifndef LTI_SIM_DL_H
#define LTI_SIM_DL_H

#include <jansson.h>

/* Canvas rejects responses whose iat is older than this or more than
 * SIM_DL_MAX_FUTURE seconds ahead. */
#define SIM_DL_MAX_AGE 300
#define SIM_DL_MAX_FUTURE 30
#define SIM_DL_JWKS_MAX (64 * 1024)

/* What the platform expects of one response. */
typedef struct sim_dl_expect {
    const char *issuer;        /* the aud the response must carry */
    const char *client_id;     /* the iss the response must carry */
    const char *deployment_id;
    const char *placement;     /* of the request; NULL when the request is unknown */
    json_t *settings;          /* the deep_linking_settings sent; NULL when unknown */
    const char *tool_url;      /* the tool's launch URL: an ltiResourceLink url must share its
                                  scheme, host and port; NULL skips the check */
} sim_dl_expect_t;

/* Verifies `jwt`: compact RS256 JWS with a kid found in the key set fetched
 * from `jwks_url` now (loopback http(s) only, never cached, as Canvas does
 * for public_jwk_url), iss = client_id, aud = issuer (string or array), exp
 * in the future, iat within SIM_DL_MAX_AGE, a nonce, message type and
 * version, deployment_id, data echoed unchanged, and content items valid
 * for the placement. Returns a new object:
 *   {"valid": bool, "error": text or null, "kid", "placement", "items": N,
 *    "msg", "errormsg", "embed": [what Canvas would create per item]}. */
json_t *sim_dl_verify(const sim_dl_expect_t *expect, const char *jwks_url, const char *jwt,
                      long timeout_ms);
/* Verifies `jwt` as sim_dl_verify does, against the key set document
 * `jwks` ({"keys": [...]}) the caller fetched. The report also names the
 * failed check in "stage": token (not a compact RS256 JWS with a kid), key
 * (no key with that kid), signature, or claims (claims and content items);
 * null when valid. */
json_t *sim_dl_verify_keys(const sim_dl_expect_t *expect, json_t *jwks, const char *jwt);

/* Checks a developer-key JSON document as Canvas's "Paste JSON" form does.
 * It needs the required fields and URLs, and public_jwk_url or a public_jwk
 * with kty, alg RS256, use sig, kid, n and e and no private members. Scopes
 * must be known, the canvas.instructure.com extension needs a privacy
 * level, and each placement a known name and a message type allowed there.
 * Returns a new array of problem messages, empty when the document passes. */
json_t *sim_devkey_check(json_t *doc);
/* `ltisim devkey FILE`: prints each problem; exit status 0 when none, 1
 * when the key would be refused, 2 for usage errors. */
int sim_devkey_main(int argc, char **argv);

#endif
