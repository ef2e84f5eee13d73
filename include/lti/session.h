/* SPDX-License-Identifier: MIT */
/*
 * The session handed to the app after a launch: a JSON object of launch
 * facts, carried in a cookie as base64url(JSON) "." base64url(HMAC-SHA256)
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

/* Verifies a cookie value (constant-time MAC comparison) and its exp.
 * Returns the facts (new reference) or NULL with session_invalid or
 * session_expired in `err`. */
json_t *lti_session_decode(const lti_config_t *cfg, const char *value, size_t len, int64_t now,
                           lti_err_t *err);

/* The landing page path for a launch: /hosted/my-media for Canvas
 * global_navigation, /hosted/media-gallery for course_navigation; with no
 * placement claim the target_link_uri decides (a target ending in one of
 * those paths); otherwise /hosted/resource. */
const char *lti_session_landing_page(const lti_launch_t *launch);

#endif
