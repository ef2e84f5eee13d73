/* SPDX-License-Identifier: MIT */
/*
 * The session handed to the app after a launch: a JSON object of launch
 * facts, carried in a cookie as base64url(body) "." base64url(HMAC-SHA256),
 * where body is a compact binary form of the object (see session.c),
 * under the server's session secret. Instances that share the secret file
 * accept each other's sessions. The cookie is signed, not encrypted: it
 * holds only what the signed-in user may see about themselves.
 */
#ifndef LTI_SESSION_H
#define LTI_SESSION_H

#include <stdint.h>
#include <jansson.h>
#include "lti/config.h"
#include "lti/err.h"
#include "lti/launch.h"

#define LTI_SESSION_COOKIE "ltigate_session"
#define LTI_SESSION_MAX_COOKIE 3800 /* browsers keep cookies up to 4096 bytes */

/* Builds the session facts for a valid launch: user_id, app_role, name,
 * placement, page, context, iss, client_id, deployment_id, message_type,
 * resource_link_id, iat and exp. Returns a new object. */
json_t *lti_session_from_launch(const lti_config_t *cfg, const lti_launch_t *launch,
                                const char *page, int64_t now);

/* Encodes and signs `facts`; returns a malloc'd cookie value or NULL when it
 * would exceed LTI_SESSION_MAX_COOKIE. */
char *lti_session_encode(const lti_config_t *cfg, json_t *facts);

/* Packs `facts` (an object) into the compact binary body that session
 * cookies and tokens carry. Returns a malloc'd buffer of *len bytes, or NULL
 * when the body would exceed `max` bytes or nest deeper than 4 levels. */
unsigned char *lti_session_pack(json_t *facts, size_t max, size_t *len);

/* Reads a body made by lti_session_pack, checking every length. Returns a
 * new object, or NULL for any other input. */
json_t *lti_session_unpack(const unsigned char *body, size_t len);

/* Verifies a cookie value (constant-time MAC comparison) and its exp.
 * Returns the facts (new reference) or NULL with session_invalid or
 * session_expired in `err`. */
json_t *lti_session_decode(const lti_config_t *cfg, const char *value, size_t len, int64_t now,
                           lti_err_t *err);

/* The same for a cookie of another kind (LTI_SESSION_TOKEN_SELECTION for
 * the deep-linking selection cookie): the kind enters the MAC, so a cookie
 * of one kind never verifies as another. lti_session_encode and
 * lti_session_decode use LTI_SESSION_TOKEN_SESSION. */
char *lti_session_encode_kind(const lti_config_t *cfg, const char *kind, json_t *facts);
json_t *lti_session_decode_kind(const lti_config_t *cfg, const char *kind, const char *value,
                                size_t len, int64_t now, lti_err_t *err);

/* Session tokens: the fallback for browsers that return no cookie to the
 * tool's frame (lti_session_token_seal, lti_session_token_open in
 * src/oidc/session_token.c). Kinds are LTI_SESSION_TOKEN_SESSION (the session
 * facts) and LTI_SESSION_TOKEN_SELECTION (a deep-linking selection); a
 * token of one kind does not open as the other. */
#define LTI_SESSION_TOKEN_SESSION "session"
#define LTI_SESSION_TOKEN_SELECTION "selection"
#define LTI_SESSION_MAX_TOKEN 5200 /* encoded length; a sealed LTI_SESSION_MAX_COOKIE fits */

/* Seals a copy of `facts` (which keeps its own exp) with the issue time
 * `now`, encrypted and authenticated under a key derived from the session
 * secret. Returns a malloc'd base64url token, or NULL when tokens are off
 * (sessionTokenLifetime 0) or the object is too large. */
char *lti_session_token_seal(const lti_config_t *cfg, const char *kind, json_t *facts,
                             int64_t now);

/* Opens a token of `kind`: it must verify, be younger than
 * sessionTokenLifetime, and its facts' exp must lie after `now`. Returns the
 * facts (new reference) or NULL with session_invalid or session_expired in
 * `err`. */
json_t *lti_session_token_open(const lti_config_t *cfg, const char *kind, const char *value,
                               size_t len, int64_t now, lti_err_t *err);

/* The landing page path for a launch: /hosted/my-media for Canvas
 * global_navigation, /hosted/media-gallery for course_navigation; with no
 * placement claim the target_link_uri decides (a target ending in one of
 * those paths); otherwise /hosted/resource. */
const char *lti_session_landing_page(const lti_launch_t *launch);

#endif
