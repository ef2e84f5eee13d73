/* SPDX-License-Identifier: MIT */
/*
 * The platform's model of one launch ("the user clicked the tool") and the
 * Canvas-shaped id_token payload built from it at authorize time.
 */
#ifndef LTI_SIM_TOKEN_H
#define LTI_SIM_TOKEN_H

#include <stdint.h>
#include <jansson.h>
#include "sim_int.h"
#include "sim_keys.h"

/* A launch waiting for its authorize request, stored under its
 * lti_message_hint. Strings are owned. */
typedef struct sim_launch_req {
    char *user, *name, *email, *role, *placement, *course, *message_type;
    char *sis_id; /* NULL = "SIS-<user>", or the literal variable for admins */
    char *target_link_uri;
    char *kid;             /* header kid override, or NULL */
    char *forge;           /* NULL, or one of the modes listed in sim_token_forge_modes */
    json_t *claims;        /* merged into the payload last; NULL value deletes a claim */
    json_t *header;        /* merged into the JOSE header; signing then bypasses libjwt */
    /* Exact bytes to sign instead of the built payload or header, after the
     * placeholders listed at sim_token_sign are replaced; NULL = unused. */
    char *raw_payload, *raw_header;
    int64_t iat_offset;    /* seconds added to now */
    int64_t exp_offset;    /* seconds from iat to exp */
    char login_hint[41];   /* opaque per-user id, 40 hex digits */
    char message_hint[65]; /* random, the key of the launch */
    double expires_at;     /* monotonic seconds */
    int storage_offered;   /* lti_storage_target goes with the login and the launch */
} sim_launch_req_t;

/* Platform facts placed into every token. */
typedef struct sim_token_ctx {
    const char *issuer;
    const char *client_id;
    const char *deployment_id;
    const char *base_url; /* the platform's own URL, for service and return URLs */
    const char *platform_guid;
} sim_token_ctx_t;

extern const char *const sim_token_forge_modes;

/* Fills `req` from /sim/launch parameters, applying the defaults (jdoe,
 * instructor, course_navigation, course 1234, LtiResourceLinkRequest).
 * Returns 0, or -1 with a message naming the bad parameter in `err`. */
int sim_launch_req_parse(sim_launch_req_t *req, const sim_params_t *params,
                         const char *default_target, char *err, size_t errlen);
void sim_launch_req_free(sim_launch_req_t *req);

/* Builds the payload: registered claims, LTI claims, Canvas extensions,
 * then `req->claims` merged on top. `now` is seconds since the epoch. */
json_t *sim_claims_build(const sim_token_ctx_t *ctx, const sim_launch_req_t *req, const char *nonce,
                         int64_t now);

/* Signs `payload` for `req`: through libjwt with the present key and
 * header {"typ","alg","kid"} normally; with OpenSSL directly when the launch
 * requests a merged header, a raw payload or header, or a forged signature.
 * In `raw_payload` the placeholders $NONCE, $IAT, $EXP, $ISS, $AUD,
 * $DEPLOYMENT and $TARGET become the values of `payload` (strings without
 * quotes, numbers as digits); in `raw_header`, $KID becomes the signing kid.
 * Returns a malloc'd token, or NULL with a message in `err`. */
char *sim_token_sign(const sim_keyring_t *ring, const sim_launch_req_t *req, json_t *payload,
                     char *err, size_t errlen);

/* Writes the deterministic 40-hex login_hint Canvas would send for `user`. */
void sim_login_hint_for(const char *user, char out[41]);

#endif
