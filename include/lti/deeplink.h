/* SPDX-License-Identifier: MIT */
/*
 * LTI Deep Linking 2.0 on the tool side: the checked deep_linking_settings
 * of a request, the selection context carried from the launch to the
 * picker, content items for media entries, and the signed
 * LtiDeepLinkingResponse.
 */
#ifndef LTI_DEEPLINK_H
#define LTI_DEEPLINK_H

#include <stdint.h>
#include <jansson.h>
#include "lti/err.h"
#include "lti/tool.h"

/* Caps on settings values. The whole context travels in a signed cookie of
 * at most LTI_SESSION_MAX_COOKIE bytes, and a longer value is rejected. */
#define LTI_DL_MAX_RETURN_URL 2048
#define LTI_DL_MAX_DATA 1024
#define LTI_DL_MAX_TEXT 256
#define LTI_DL_MAX_LIST 16
#define LTI_DL_MAX_ITEMS 20       /* content items in one response */
#define LTI_DL_RESPONSE_LIFETIME 300 /* seconds from iat to exp; Canvas accepts 5 minutes */

#define LTI_DL_COOKIE_PREFIX "ltidl_"
#define LTI_DL_PICKER_PATH "/hosted/deep-link/picker"
#define LTI_DL_CHOOSE_PATH "/hosted/deep-link/choose"
#define LTI_DL_API_PATH "/hosted/index/deep-link-response"
#define LTI_DL_SCRIPT_PATH "/hosted/static/deep-link.js"
#define LTI_PLAYER_PATH "/hosted/player"

/* Content item types and presentation targets, as bit masks. */
enum {
    LTI_DL_TYPE_LTI_RESOURCE_LINK = 1 << 0,
    LTI_DL_TYPE_LINK = 1 << 1,
    LTI_DL_TYPE_FILE = 1 << 2,
    LTI_DL_TYPE_HTML = 1 << 3,
    LTI_DL_TYPE_IMAGE = 1 << 4,
};
enum {
    LTI_DL_TARGET_IFRAME = 1 << 0,
    LTI_DL_TARGET_WINDOW = 1 << 1,
    LTI_DL_TARGET_EMBED = 1 << 2,
};

/* The checked settings; strings are borrowed from the claim. */
typedef struct lti_dl_settings {
    const char *return_url;
    unsigned accept_types;    /* LTI_DL_TYPE_* of the known names listed */
    unsigned targets;         /* LTI_DL_TARGET_* of the known names listed */
    int accept_multiple;      /* absent = 0 */
    int accept_lineitem;      /* absent = 1 (Canvas omits it and accepts line items) */
    const char *data, *title, *text; /* NULL when absent */
} lti_dl_settings_t;

/* Checks the deep_linking_settings claim. deep_link_return_url must be an
 * http(s) URL of 1 to LTI_DL_MAX_RETURN_URL bytes. accept_types and
 * accept_presentation_document_targets must be non-empty arrays of at most
 * LTI_DL_MAX_LIST short strings, and unknown names in them are ignored.
 * accept_multiple, accept_lineitem and auto_create must be booleans when
 * present, data at most LTI_DL_MAX_DATA bytes, title and text at most
 * LTI_DL_MAX_TEXT. Returns LTI_R_ok, dl_settings_missing (no object or no
 * return URL) or dl_settings_invalid. */
lti_reason_t lti_dl_settings_parse(json_t *settings, lti_dl_settings_t *out, lti_err_t *err);

/* A selection in progress: what the response needs, kept from the launch
 * in a signed cookie. Strings are borrowed from `json` when decoded. */
typedef struct lti_dl_context {
    const char *id;            /* random, names the cookie */
    const char *issuer;        /* the platform issuer: aud of the response */
    const char *client_id;     /* iss of the response */
    const char *deployment_id;
    const char *placement;     /* may be NULL */
    lti_dl_settings_t settings;
    int64_t exp;
    json_t *json;              /* owned when decoded */
} lti_dl_context_t;

/* Encodes the context as the facts of a signed cookie (lti/session.h). */
json_t *lti_dl_context_to_json(const lti_dl_context_t *ctx);
/* Reads facts produced by lti_dl_context_to_json (taking the reference). */
int lti_dl_context_from_json(json_t *facts, lti_dl_context_t *out);
void lti_dl_context_clear(lti_dl_context_t *ctx);

/* Writes the CSRF token of a selection, base64url(HMAC-SHA256(secret,
 * "dl-csrf:" id)), to `out`, which has room for LTI_JWK_KID_LEN bytes. */
void lti_dl_csrf_token(const lti_config_t *cfg, const char *id, char out[LTI_JWK_KID_LEN]);
/* Compares a received token with the expected one in constant time. */
int lti_dl_csrf_check(const lti_config_t *cfg, const char *id, const char *token);

/* Builds the ltiResourceLink content item for `entry`: url = the launch URL
 * with ?entry=ID, custom entry_id, title, text, thumbnail, an iframe of
 * 640x400 when iframe or embed is accepted (a window otherwise), and a
 * lineItem when the placement is assignment_selection. */
json_t *lti_dl_item_for_entry(const lti_config_t *cfg, const lti_dl_context_t *ctx,
                              const lti_media_entry_t *entry);
/* Checks content items sent by an app. They must be an array of at most
 * LTI_DL_MAX_ITEMS objects (one unless accept_multiple), each with a type
 * the settings accept. An ltiResourceLink url must lie under baseUrl,
 * iframe and window need that target accepted, and custom values must be
 * strings. Returns LTI_R_ok, content_item_invalid or dl_type_not_accepted. */
lti_reason_t lti_dl_items_check(const lti_config_t *cfg, const lti_dl_context_t *ctx,
                                json_t *items, lti_err_t *err);

/* Builds the LtiDeepLinkingResponse claims. iss is the client_id, aud the
 * issuer, iat `now` and exp now + LTI_DL_RESPONSE_LIFETIME, with a fresh
 * random nonce, deployment_id, message_type and version. content_items is
 * `items` (borrowed, may be empty), data is echoed when the request had it,
 * and msg and errormsg are set when given. Returns a new object or NULL. */
json_t *lti_dl_response_claims(const lti_dl_context_t *ctx, json_t *items, const char *msg,
                               const char *errormsg, int64_t now);
/* Signs claims as a compact JWS with header {"alg":"RS256","typ":"JWT",
 * "kid": tool->kid} and the cached key. Returns a malloc'd token or NULL. */
char *lti_dl_response_sign(const lti_tool_t *tool, json_t *claims);

#endif
