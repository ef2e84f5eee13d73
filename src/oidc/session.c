/* SPDX-License-Identifier: MIT */
/* Signed session cookies and the placement-to-page rule (lti/session.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "lti/jwt.h"
#include "lti/session.h"

#define MAC_LEN 32

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(obj, key, json_string(value));
}

/* Copies a string member of at most 2048 bytes. */
static void copy_url(json_t *to, const char *key, json_t *from, const char *member)
{
    json_t *v = json_object_get(from, member);
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 2048)
        json_object_set(to, key, v);
}

/* The service endpoints of the launch (AGS line item, line items, scopes;
 * NRPS memberships URL), so that later requests can call the platform. */
static void add_service_facts(json_t *facts, json_t *claims)
{
    json_t *ags = json_object_get(claims, "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint");
    json_t *nrps =
        json_object_get(claims, "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice");
    if (json_is_object(ags)) {
        json_t *out = json_object();
        json_t *scope = json_object_get(ags, "scope");
        copy_url(out, "lineitem", ags, "lineitem");
        copy_url(out, "lineitems", ags, "lineitems");
        if (json_is_array(scope) && json_array_size(scope) <= 8) {
            json_t *list = json_array();
            size_t i;
            json_t *s;
            json_array_foreach(scope, i, s) {
                if (json_is_string(s) && json_string_length(s) <= 128)
                    json_array_append(list, s);
            }
            json_object_set_new(out, "scope", list);
        }
        json_object_set_new(facts, "ags", out);
    }
    if (json_is_object(nrps))
        copy_url(facts, "nrps_url", nrps, "context_memberships_url");
}

/* Canvas's $com.instructure.PostMessageToken (a UUID), when the developer
 * key maps it to the custom parameter canvas_post_message_token. The
 * landing pages send it with lti.frameResize. Anything but 1 to 64
 * letters, digits and hyphens is left out. */
static void add_post_message_token(json_t *facts, json_t *claims)
{
    json_t *custom = json_object_get(claims, LTI_CLAIM_PREFIX "custom");
    const char *token = json_string_value(json_object_get(custom, "canvas_post_message_token"));
    size_t len = token != NULL ? strlen(token) : 0;
    if (len == 0 || len > 64)
        return;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return;
    }
    json_object_set_new(facts, "post_message_token", json_string(token));
}

json_t *lti_session_from_launch(const lti_config_t *cfg, const lti_launch_t *launch,
                                const char *page, int64_t now)
{
    json_t *facts = json_object();
    if (facts == NULL)
        return NULL;
    set_str(facts, "user_id", launch->user_id);
    set_str(facts, "app_role", launch->app_role);
    set_str(facts, "name", launch->name);
    json_object_set_new(facts, "placement",
                        launch->placement ? json_string(launch->placement) : json_null());
    set_str(facts, "page", page);
    set_str(facts, "context_id", launch->context_id);
    set_str(facts, "context_title", launch->context_title);
    set_str(facts, "iss", launch->platform->issuer);
    set_str(facts, "client_id", launch->platform->client_id);
    set_str(facts, "deployment_id", launch->deployment_id);
    set_str(facts, "message_type", launch->message_type == LTI_MSG_DEEP_LINKING
                                        ? "LtiDeepLinkingRequest"
                                        : "LtiResourceLinkRequest");
    set_str(facts, "resource_link_id", launch->resource_link_id);
    set_str(facts, "sub", launch->sub);
    add_service_facts(facts, launch->claims);
    add_post_message_token(facts, launch->claims);
    json_object_set_new(facts, "iat", json_integer(now));
    json_object_set_new(facts, "exp", json_integer(now + (int64_t)cfg->session_lifetime));
    return facts;
}

static void mac(const lti_config_t *cfg, const char *data, size_t len, unsigned char *out)
{
    unsigned int out_len = MAC_LEN;
    HMAC(EVP_sha256(), cfg->session_secret, (int)cfg->session_secret_len,
         (const unsigned char *)data, len, out, &out_len);
}

char *lti_session_encode(const lti_config_t *cfg, json_t *facts)
{
    char *json = json_dumps(facts, JSON_COMPACT);
    char *cookie = NULL;
    if (json == NULL)
        return NULL;
    size_t json_len = strlen(json);
    size_t body_len = (json_len + 2) / 3 * 4;
    size_t total = body_len + 1 + (MAC_LEN + 2) / 3 * 4;
    if (total > LTI_SESSION_MAX_COOKIE || (cookie = malloc(total + 2)) == NULL)
        goto out;
    size_t n = lti_b64url_encode((const unsigned char *)json, json_len, cookie);
    unsigned char tag[MAC_LEN];
    mac(cfg, cookie, n, tag);
    cookie[n++] = '.';
    lti_b64url_encode(tag, MAC_LEN, cookie + n);
out:
    free(json);
    return cookie;
}

json_t *lti_session_decode(const lti_config_t *cfg, const char *value, size_t len, int64_t now,
                           lti_err_t *err)
{
    const char *dot = memchr(value, '.', len);
    unsigned char tag[MAC_LEN], got[MAC_LEN + 3];
    unsigned char *body = NULL;
    json_t *facts = NULL;
    char why[128];

    if (len > LTI_SESSION_MAX_COOKIE || dot == NULL) {
        lti_err_set(err, LTI_R_session_invalid, "session cookie is not body.mac");
        goto out;
    }
    size_t body_len = (size_t)(dot - value);
    mac(cfg, value, body_len, tag);
    long got_len = lti_b64url_decode(dot + 1, len - body_len - 1, got);
    if (got_len != MAC_LEN || CRYPTO_memcmp(tag, got, MAC_LEN) != 0) {
        lti_err_set(err, LTI_R_session_invalid, "session cookie MAC does not verify");
        goto out;
    }
    if ((body = malloc(body_len * 3 / 4 + 2)) == NULL) {
        lti_err_set(err, LTI_R_internal_error, "out of memory");
        goto out;
    }
    long n = lti_b64url_decode(value, body_len, body);
    facts = n < 0 ? NULL : lti_json_parse_strict((const char *)body, (size_t)n, 4, why, sizeof(why));
    if (facts == NULL) {
        lti_err_set(err, LTI_R_session_invalid, "session body is not JSON");
        goto out;
    }
    json_t *exp = json_object_get(facts, "exp");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now) {
        lti_err_set(err, LTI_R_session_expired, "session expired");
        json_decref(facts);
        facts = NULL;
    }
out:
    free(body);
    return facts;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *lti_session_landing_page(const lti_launch_t *launch)
{
    if (launch->placement != NULL) {
        if (strcmp(launch->placement, "global_navigation") == 0)
            return "/hosted/my-media";
        if (strcmp(launch->placement, "course_navigation") == 0)
            return "/hosted/media-gallery";
        return "/hosted/resource";
    }
    /* Other platforms, and Canvas launches from assignments or modules, send
     * no placement: the target link decides, by a page path or by the
     * placement query parameter of the developer key's per-placement
     * target_link_uri (...oauth2-launch?placement=my_media). */
    const char *t = launch->target_link_uri;
    if (t != NULL) {
        if (ends_with(t, "/hosted/my-media") || strstr(t, "placement=my_media") != NULL)
            return "/hosted/my-media";
        if (ends_with(t, "/hosted/media-gallery") || strstr(t, "placement=course_gallery") != NULL)
            return "/hosted/media-gallery";
    }
    return "/hosted/resource";
}
