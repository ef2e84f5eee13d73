/* SPDX-License-Identifier: MIT */
/*
 * Claim checks on an id_token whose signature has already been verified, per
 * 1EdTech Security Framework 1.0 §5.1.3, the LTI Core 1.3 message claims and
 * the Deep Linking 2.0 request claims, and the lti_launch_t that a valid
 * token yields.
 *
 * The checks run in a fixed order and stop at the first failure, so a token
 * with several faults always gets the same reason code. Detail messages name
 * the claim and its value, except for the nonce, names and e-mail addresses,
 * which never go into a message.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <openssl/crypto.h>
#include "lti/launch.h"
#include "launch_int.h"

#define CLAIM(name) LTI_CLAIM_PREFIX name

/* Maximum nonce length in bytes. This tool issues 43-byte nonces, so a longer
 * value cannot be one of them and is rejected without a comparison. */
#define NONCE_MAX 128

/* Maximum NumericDate accepted: 2^53. Above it IEEE 754 doubles, the number
 * type of many JSON parsers, no longer represent every integer exactly. */
#define NUMERIC_DATE_MAX (INT64_C(1) << 53)

/* Maximum number of bytes of a claim value quoted in a detail message. */
#define QUOTE_MAX 96

/* Records `reason` with a message such as "roles is missing" or "roles is an
 * integer, not an array", and returns `reason`. */
static lti_reason_t wrong_type(lti_err_t *err, lti_reason_t reason, const char *label,
                               const json_t *v, const char *expected)
{
    if (v == NULL)
        return lti_err_set(err, reason, "%s is missing", label);
    return lti_err_set(err, reason, "%s is %s, not %s", label, lti_json_type_name(v), expected);
}

/* Checks that iss is byte for byte the registered issuer. A prefix, a trailing
 * slash or different letter case is a different issuer. */
static lti_reason_t check_iss(const lti_platform_cfg_t *platform, json_t *claims, lti_err_t *err)
{
    json_t *iss = json_object_get(claims, "iss");

    if (!json_is_string(iss))
        return wrong_type(err, LTI_R_iss_mismatch, "iss", iss, "a string");
    if (!lti_json_str_equal(iss, platform->issuer))
        return lti_err_set(err, LTI_R_iss_mismatch, "iss '%.*s' is not the registered issuer '%s'",
                           QUOTE_MAX, json_string_value(iss), platform->issuer);
    return LTI_R_ok;
}

static int audience_trusted(const lti_platform_cfg_t *platform, const json_t *aud)
{
    for (size_t i = 0; i < platform->n_trusted_audiences; i++)
        if (lti_json_str_equal(aud, platform->trusted_audiences[i]))
            return 1;
    return 0;
}

/* Checks aud and azp: aud is a string or a non-empty array of strings that
 * contains client_id. An array with several audiences needs azp, and every
 * audience besides client_id must be listed in trustedAudiences. When azp is
 * present it must be client_id. */
static lti_reason_t check_aud_azp(const lti_platform_cfg_t *platform, json_t *claims,
                                  lti_err_t *err)
{
    const char *client_id = platform->client_id;
    json_t *aud = json_object_get(claims, "aud");
    json_t *azp = json_object_get(claims, "azp");
    json_t *entry;
    size_t i;
    int found = 0;

    if (json_is_string(aud)) {
        if (!lti_json_str_equal(aud, client_id))
            return lti_err_set(err, LTI_R_aud_mismatch, "aud '%.*s' is not client_id '%s'",
                               QUOTE_MAX, json_string_value(aud), client_id);
    } else {
        if (!json_is_array(aud))
            return wrong_type(err, LTI_R_aud_invalid, "aud", aud, "a string or array");
        if (json_array_size(aud) == 0)
            return lti_err_set(err, LTI_R_aud_invalid, "aud is an empty array");
        json_array_foreach(aud, i, entry) {
            if (!json_is_string(entry))
                return lti_err_set(err, LTI_R_aud_invalid, "aud[%zu] is %s, not a string", i,
                                   lti_json_type_name(entry));
            if (lti_json_str_equal(entry, client_id))
                found = 1;
        }
        if (!found)
            return lti_err_set(err, LTI_R_aud_mismatch,
                               "aud array of %zu entries does not contain client_id '%s'",
                               json_array_size(aud), client_id);
        if (json_array_size(aud) > 1) {
            if (azp == NULL)
                return lti_err_set(err, LTI_R_azp_missing, "aud has %zu entries and no azp",
                                   json_array_size(aud));
            json_array_foreach(aud, i, entry) {
                if (!lti_json_str_equal(entry, client_id) && !audience_trusted(platform, entry))
                    return lti_err_set(err, LTI_R_aud_mismatch,
                                       "untrusted audience '%.*s' in aud[%zu]", QUOTE_MAX,
                                       json_string_value(entry), i);
            }
        }
    }

    if (azp != NULL && !lti_json_str_equal(azp, client_id)) {
        if (json_is_string(azp))
            return lti_err_set(err, LTI_R_azp_mismatch, "azp '%.*s' is not client_id '%s'",
                               QUOTE_MAX, json_string_value(azp), client_id);
        return wrong_type(err, LTI_R_azp_mismatch, "azp", azp, "a string");
    }
    return LTI_R_ok;
}

/* Reads a NumericDate (RFC 7519 §2): a JSON number of seconds, integer or real,
 * from 0 to 2^53. A real is truncated toward zero. Booleans, strings, negative,
 * non-finite and larger values return -1. */
static int read_numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > NUMERIC_DATE_MAX)
            return -1;
        *out = (int64_t)n;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d > (double)NUMERIC_DATE_MAX)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

/* Formats a time claim that failed read_numeric_date for a detail message. */
static const char *describe_time(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%lld, out of range", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%g, out of range", json_real_value(v));
    else if (v == NULL)
        snprintf(buf, len, "missing");
    else
        snprintf(buf, len, "%s, not a number", lti_json_type_name(v));
    return buf;
}

/* Checks exp, iat and nbf (RFC 7519 §4.1.4 to §4.1.6). clock_skew allows for
 * platform clocks running ahead or behind. max_token_age bounds how long a
 * token stays usable, which also bounds how long its nonce must be remembered. */
static lti_reason_t check_times(const lti_config_t *cfg, json_t *claims, int64_t now,
                                lti_launch_t *l, lti_err_t *err)
{
    int64_t skew = cfg->clock_skew;
    int64_t exp, iat, nbf;
    char buf[64];
    json_t *v;

    v = json_object_get(claims, "exp");
    if (read_numeric_date(v, &exp) != 0)
        return lti_err_set(err, LTI_R_exp_invalid, "exp is %s", describe_time(v, buf, sizeof(buf)));
    if (exp <= now - skew)
        return lti_err_set(err, LTI_R_token_expired,
                           "exp %lld is %lld s before now %lld (clock skew %lld s)", (long long)exp,
                           (long long)(now - exp), (long long)now, (long long)skew);

    v = json_object_get(claims, "iat");
    if (read_numeric_date(v, &iat) != 0)
        return lti_err_set(err, LTI_R_iat_invalid, "iat is %s", describe_time(v, buf, sizeof(buf)));
    if (iat > now + skew)
        return lti_err_set(err, LTI_R_iat_future,
                           "iat %lld is %lld s after now %lld (clock skew %lld s)", (long long)iat,
                           (long long)(iat - now), (long long)now, (long long)skew);
    if (iat < now - (int64_t)cfg->max_token_age)
        return lti_err_set(err, LTI_R_iat_too_old, "iat %lld is %lld s old, more than %u s",
                           (long long)iat, (long long)(now - iat), cfg->max_token_age);

    v = json_object_get(claims, "nbf");
    if (v != NULL) {
        if (read_numeric_date(v, &nbf) != 0)
            return lti_err_set(err, LTI_R_claim_invalid, "nbf is %s",
                               describe_time(v, buf, sizeof(buf)));
        if (nbf > now + skew)
            return lti_err_set(
                err, LTI_R_nbf_future, "nbf %lld is %lld s after now %lld (clock skew %lld s)",
                (long long)nbf, (long long)(nbf - now), (long long)now, (long long)skew);
    }

    if (exp - iat > (int64_t)cfg->max_token_lifetime)
        return lti_err_set(err, LTI_R_lifetime_too_long, "exp - iat is %lld s, more than %u s",
                           (long long)(exp - iat), cfg->max_token_lifetime);

    l->exp = exp;
    l->iat = iat;
    return LTI_R_ok;
}

/* Checks that nonce is the one this tool sent in the authentication request of
 * this login. The comparison runs in constant time for equal lengths. The value
 * itself never goes into a message. Single use is enforced by the caller, which
 * takes the login record from the store. */
static lti_reason_t check_nonce(const lti_login_record_t *login, json_t *claims, lti_err_t *err)
{
    json_t *v = json_object_get(claims, "nonce");

    if (!json_is_string(v))
        return wrong_type(err, LTI_R_nonce_missing, "nonce", v, "a string");

    size_t len = json_string_length(v);
    if (len > NONCE_MAX)
        return lti_err_set(err, LTI_R_nonce_mismatch, "nonce is %zu bytes, more than %d", len,
                           NONCE_MAX);
    if (login->nonce == NULL)
        return lti_err_set(err, LTI_R_nonce_mismatch, "the login record has no nonce");
    if (len != strlen(login->nonce) || CRYPTO_memcmp(json_string_value(v), login->nonce, len) != 0)
        return lti_err_set(err, LTI_R_nonce_mismatch,
                           "nonce (%zu bytes) is not the one issued at login", len);
    return LTI_R_ok;
}

/* Checks the deployment_id claim: a string of 1 to 255 printable ASCII bytes
 * (0x20 to 0x7e). Whether the deployment is allowed is decided by the caller. */
static lti_reason_t check_deployment_id(json_t *claims, lti_launch_t *l, lti_err_t *err)
{
    json_t *v = json_object_get(claims, CLAIM("deployment_id"));

    if (v == NULL)
        return lti_err_set(err, LTI_R_deployment_id_missing, "deployment_id is missing");
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_deployment_id_invalid, "deployment_id", v, "a string");

    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > LTI_LAUNCH_ID_MAX)
        return lti_err_set(err, LTI_R_deployment_id_invalid, "deployment_id is %zu bytes, not 1-%d",
                           len, LTI_LAUNCH_ID_MAX);
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return lti_err_set(err, LTI_R_deployment_id_invalid,
                               "deployment_id has byte 0x%02x at offset %zu, not printable ASCII",
                               s[i], i);
    l->deployment_id = (const char *)s;
    return LTI_R_ok;
}

/* Checks the version and message_type claims. */
static lti_reason_t check_version_type(json_t *claims, lti_launch_t *l, lti_err_t *err)
{
    json_t *v = json_object_get(claims, CLAIM("version"));

    if (v == NULL)
        return lti_err_set(err, LTI_R_version_missing, "version is missing");
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_version_unsupported, "version", v, "a string");
    if (!lti_json_str_equal(v, "1.3.0"))
        return lti_err_set(err, LTI_R_version_unsupported, "version '%.*s' is not 1.3.0", QUOTE_MAX,
                           json_string_value(v));

    v = json_object_get(claims, CLAIM("message_type"));
    if (v == NULL)
        return lti_err_set(err, LTI_R_message_type_missing, "message_type is missing");
    if (lti_json_str_equal(v, "LtiResourceLinkRequest")) {
        l->message_type = LTI_MSG_RESOURCE_LINK;
    } else if (lti_json_str_equal(v, "LtiDeepLinkingRequest")) {
        l->message_type = LTI_MSG_DEEP_LINKING;
    } else if (json_is_string(v)) {
        return lti_err_set(err, LTI_R_message_type_unsupported,
                           "message_type '%.*s' is not supported", QUOTE_MAX, json_string_value(v));
    } else {
        return wrong_type(err, LTI_R_message_type_unsupported, "message_type", v, "a string");
    }
    return LTI_R_ok;
}

/* Checks that roles is an array of strings, possibly empty. Canvas sends an
 * array even for users without a role. */
static lti_reason_t check_roles(json_t *claims, lti_err_t *err)
{
    json_t *v = json_object_get(claims, CLAIM("roles"));
    json_t *entry;
    size_t i;

    if (!json_is_array(v))
        return wrong_type(err, LTI_R_roles_missing, "roles", v, "an array");
    json_array_foreach(v, i, entry) {
        if (!json_is_string(entry))
            return lti_err_set(err, LTI_R_claim_invalid, "roles[%zu] is %s, not a string", i,
                               lti_json_type_name(entry));
    }
    return LTI_R_ok;
}

/* Checks target_link_uri against the one sent at login. Resource link launches
 * must carry it. Deep linking requests may omit it, as the 1EdTech
 * certification validator does, but when present it must match too. */
static lti_reason_t check_target_link_uri(const lti_login_record_t *login, json_t *claims,
                                          lti_launch_t *l, lti_err_t *err)
{
    json_t *v = json_object_get(claims, CLAIM("target_link_uri"));

    if (v == NULL) {
        if (l->message_type == LTI_MSG_RESOURCE_LINK)
            return lti_err_set(err, LTI_R_target_link_uri_mismatch,
                               "target_link_uri is missing in a resource link launch");
        return LTI_R_ok;
    }
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_target_link_uri_mismatch, "target_link_uri", v, "a string");
    if (!lti_json_str_equal(v, login->target_link_uri))
        return lti_err_set(err, LTI_R_target_link_uri_mismatch,
                           "target_link_uri '%.*s' is not '%.*s' sent at login", QUOTE_MAX,
                           json_string_value(v), QUOTE_MAX,
                           login->target_link_uri != NULL ? login->target_link_uri : "(none)");
    l->target_link_uri = json_string_value(v);
    return LTI_R_ok;
}

/* Reads an optional display string such as a title: a string is kept, null or
 * an absent key gives NULL, and any other type is claim_invalid. */
static lti_reason_t read_display_string(json_t *obj, const char *key, const char *label,
                                        const char **out, lti_err_t *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return LTI_R_ok;
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_claim_invalid, label, v, "a string");
    *out = json_string_value(v);
    return LTI_R_ok;
}

/* Checks the claims that only one message type carries: resource_link.id of 1
 * to 255 bytes for resource links, and deep_linking_settings with a non-empty
 * deep_link_return_url for deep linking. */
static lti_reason_t check_message_claims(json_t *claims, lti_launch_t *l, lti_err_t *err)
{
    json_t *obj, *v;

    if (l->message_type == LTI_MSG_DEEP_LINKING) {
        obj = json_object_get(claims, LTI_CLAIM_DL_SETTINGS);
        if (!json_is_object(obj))
            return wrong_type(err, LTI_R_dl_settings_missing, "deep_linking_settings", obj,
                              "an object");
        v = json_object_get(obj, "deep_link_return_url");
        if (!json_is_string(v) || json_string_length(v) == 0)
            return lti_err_set(err, LTI_R_dl_settings_missing,
                               "deep_linking_settings.deep_link_return_url is %s",
                               json_is_string(v) ? "empty" : lti_json_type_name(v));
        l->dl_return_url = json_string_value(v);
        return LTI_R_ok;
    }

    obj = json_object_get(claims, CLAIM("resource_link"));
    if (!json_is_object(obj))
        return wrong_type(err, LTI_R_resource_link_missing, "resource_link", obj, "an object");
    v = json_object_get(obj, "id");
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_resource_link_missing, "resource_link.id", v, "a string");
    if (json_string_length(v) == 0 || json_string_length(v) > LTI_LAUNCH_ID_MAX)
        return lti_err_set(err, LTI_R_resource_link_missing,
                           "resource_link.id is %zu bytes, not 1-%d", json_string_length(v),
                           LTI_LAUNCH_ID_MAX);
    l->resource_link_id = json_string_value(v);
    return read_display_string(obj, "title", "resource_link.title", &l->resource_link_title, err);
}

/* Checks sub (OpenID Connect Core 1.0 §2): when present, a string of 1 to 255
 * bytes. LTI Core 1.3 allows an absent sub for an anonymous launch, which
 * Canvas sends from public courses. */
static lti_reason_t check_sub(json_t *claims, lti_launch_t *l, lti_err_t *err)
{
    json_t *v = json_object_get(claims, "sub");

    if (v == NULL)
        return LTI_R_ok;
    if (!json_is_string(v))
        return wrong_type(err, LTI_R_sub_invalid, "sub", v, "a string");

    size_t len = json_string_length(v);
    if (len == 0 || len > LTI_LAUNCH_ID_MAX)
        return lti_err_set(err, LTI_R_sub_invalid, "sub is %zu bytes, not 1-%d", len,
                           LTI_LAUNCH_ID_MAX);
    if (strlen(json_string_value(v)) != len)
        return lti_err_set(err, LTI_R_sub_invalid, "sub contains a NUL byte");
    l->sub = json_string_value(v);
    return LTI_R_ok;
}

/* Checks that an optional claim, when present, is a JSON object. */
static lti_reason_t check_optional_object(json_t *claims, const char *claim, const char *label,
                                          lti_err_t *err)
{
    json_t *v = json_object_get(claims, claim);

    if (v != NULL && !json_is_object(v))
        return wrong_type(err, LTI_R_claim_invalid, label, v, "an object");
    return LTI_R_ok;
}

/* Checks the types of the optional claims this tool reads, and reads them.
 * These are context, custom, lis, launch_presentation, the OpenID Connect name
 * and email, and the Canvas placement claim, which is a string or null (null
 * for assignment and module launches). */
static lti_reason_t check_optional_claims(json_t *claims, lti_launch_t *l, lti_err_t *err)
{
    lti_reason_t rc;
    json_t *context = json_object_get(claims, CLAIM("context"));
    json_t *v;

    if (context != NULL) {
        if (!json_is_object(context))
            return wrong_type(err, LTI_R_claim_invalid, "context", context, "an object");
        v = json_object_get(context, "id");
        if (v != NULL && !json_is_string(v))
            return wrong_type(err, LTI_R_claim_invalid, "context.id", v, "a string");
        l->context_id = json_string_value(v);
        if ((rc = read_display_string(context, "title", "context.title", &l->context_title, err)) !=
                LTI_R_ok ||
            (rc = read_display_string(context, "label", "context.label", &l->context_label, err)) !=
                LTI_R_ok)
            return rc;
    }

    if ((rc = check_optional_object(claims, CLAIM("custom"), "custom", err)) != LTI_R_ok ||
        (rc = check_optional_object(claims, CLAIM("lis"), "lis", err)) != LTI_R_ok ||
        (rc = check_optional_object(claims, CLAIM("launch_presentation"), "launch_presentation",
                                    err)) != LTI_R_ok)
        return rc;

    v = json_object_get(claims, LTI_CLAIM_PLACEMENT);
    if (v != NULL && !json_is_null(v) && !json_is_string(v))
        return wrong_type(err, LTI_R_claim_invalid, "placement", v, "a string or null");
    l->placement = json_string_value(v);

    /* The values are personal data, so the messages name only the claim. */
    if ((rc = read_display_string(claims, "name", "name", &l->name, err)) != LTI_R_ok ||
        (rc = read_display_string(claims, "email", "email", &l->email, err)) != LTI_R_ok)
        return rc;
    return LTI_R_ok;
}

/* Runs the checks in the order that the header documents; each returns LTI_R_ok
 * or the reason it recorded in `err`. */
static lti_reason_t check_claims(const lti_config_t *cfg, const lti_platform_cfg_t *platform,
                                 const lti_login_record_t *login, json_t *claims, int64_t now,
                                 lti_launch_t *l, lti_err_t *err)
{
    lti_reason_t rc;

    if ((rc = check_iss(platform, claims, err)) != LTI_R_ok ||
        (rc = check_aud_azp(platform, claims, err)) != LTI_R_ok ||
        (rc = check_times(cfg, claims, now, l, err)) != LTI_R_ok ||
        (rc = check_nonce(login, claims, err)) != LTI_R_ok ||
        (rc = check_deployment_id(claims, l, err)) != LTI_R_ok ||
        (rc = check_version_type(claims, l, err)) != LTI_R_ok ||
        (rc = check_roles(claims, err)) != LTI_R_ok ||
        (rc = check_target_link_uri(login, claims, l, err)) != LTI_R_ok ||
        (rc = check_message_claims(claims, l, err)) != LTI_R_ok ||
        (rc = check_sub(claims, l, err)) != LTI_R_ok ||
        (rc = check_optional_claims(claims, l, err)) != LTI_R_ok)
        return rc;
    return LTI_R_ok;
}

lti_reason_t lti_launch_validate(const lti_config_t *cfg, const lti_platform_cfg_t *platform,
                                 const lti_login_record_t *login, json_t *claims, int64_t now,
                                 lti_launch_t *out, lti_err_t *err)
{
    lti_launch_t l = {0};
    lti_reason_t rc;

    memset(out, 0, sizeof(*out));
    if (cfg == NULL || platform == NULL || login == NULL || platform->issuer == NULL ||
        platform->client_id == NULL)
        return lti_err_set(err, LTI_R_internal_error,
                           "launch validation called without a "
                           "registration or login record");
    if (!json_is_object(claims))
        return wrong_type(err, LTI_R_payload_invalid, "payload", claims, "an object");

    rc = check_claims(cfg, platform, login, claims, now, &l, err);
    if (rc != LTI_R_ok)
        return rc;

    l.user_id = lti_launch_map_user_id_ex(cfg, claims, &l.user_id_from_fallback, err);
    if (l.user_id == NULL)
        return LTI_R_user_id_missing;
    l.app_role = lti_launch_map_role(cfg, json_object_get(claims, CLAIM("roles")));

    l.platform = platform;
    l.claims = json_incref(claims);
    *out = l;
    return LTI_R_ok;
}

void lti_launch_clear(lti_launch_t *launch)
{
    if (launch == NULL)
        return;
    json_decref(launch->claims);
    memset(launch, 0, sizeof(*launch));
}
