/* SPDX-License-Identifier: MIT */
/*
 * Splits and checks a compact JWS (RFC 7515 §3.1, §5.2) before any key is
 * looked up. It caps the size, requires three canonical base64url segments
 * and accepts only RS256 in the header, because the verifier picks the
 * algorithm, not the token (RFC 8725 §3.1). The kid syntax shared with jwk.c
 * is defined here too.
 */
#include <stdlib.h>
#include <string.h>
#include "lti/jwt.h"
#include "jwt_int.h"

/* {"alg":..,"kid":..} is depth 1. Depth 4 leaves room for structured
 * members such as jwk or x5c, which are ignored. */
#define JWS_HEADER_MAX_DEPTH 4

/* Offsets and lengths of the three segments inside the token. */
typedef struct jws_segments {
    size_t header_len;
    size_t payload_off;
    size_t payload_len;
    size_t sig_off;
    size_t sig_len;
} jws_segments_t;

int lti_jwt_kid_is_valid(const char *kid, size_t len)
{
    if (kid == NULL || len == 0 || len > LTI_JWT_MAX_KID)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)kid[i];
        if (c < 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

/* Finds exactly two dots with a non-empty segment around each. An empty
 * signature (the "alg":"none" form) fails here, before the header is read. */
static int split_segments(const char *token, size_t len, jws_segments_t *seg)
{
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return -1;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (dot2 == NULL)
        return -1;
    if (memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        return -1;

    seg->header_len = (size_t)(dot1 - token);
    seg->payload_off = seg->header_len + 1;
    seg->payload_len = (size_t)(dot2 - dot1 - 1);
    seg->sig_off = (size_t)(dot2 + 1 - token);
    seg->sig_len = len - seg->sig_off;
    if (seg->header_len == 0 || seg->payload_len == 0 || seg->sig_len == 0)
        return -1;
    return 0;
}

/* Decodes one segment into a new buffer. The length is capped by
 * LTI_JWT_MAX_TOKEN, so len * 3 / 4 + 1 cannot overflow. */
static lti_reason_t decode_segment(const char *text, size_t len, const char *name,
                                   unsigned char **out, size_t *out_len, lti_err_t *err)
{
    unsigned char *buf = malloc(len * 3 / 4 + 1);
    if (buf == NULL)
        return lti_err_set(err, LTI_R_internal_error, "out of memory decoding the %s", name);

    long n = lti_b64url_decode(text, len, buf);
    if (n < 0) {
        free(buf);
        return lti_err_set(err, LTI_R_token_malformed, "%s is not canonical base64url", name);
    }
    *out = buf;
    *out_len = (size_t)n;
    return LTI_R_ok;
}

static lti_reason_t check_alg(const json_t *header, lti_err_t *err)
{
    const json_t *alg = json_object_get(header, "alg");

    if (alg == NULL)
        return lti_err_set(err, LTI_R_alg_not_allowed, "header has no alg");
    if (!json_is_string(alg))
        return lti_err_set(err, LTI_R_alg_not_allowed, "alg is not a string");
    /* Case-sensitive (RFC 7515 §4.1.1). "none", HS256 keyed with the public
     * key's PEM, and the other RSA and PSS variants all stop here. strcmp is
     * exact because the strict parser rejects "\u0000" inside strings. */
    if (strcmp(json_string_value(alg), "RS256") != 0)
        return lti_err_set(err, LTI_R_alg_not_allowed, "alg \"%.20s\" is not RS256",
                           json_string_value(alg));
    return LTI_R_ok;
}

static lti_reason_t check_typ_and_crit(const json_t *header, lti_err_t *err)
{
    const json_t *typ = json_object_get(header, "typ");

    /* Explicit typing (RFC 8725 §3.11): an id_token has no typ or "JWT". */
    if (typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        return lti_err_set(err, LTI_R_typ_invalid, "typ is present and not \"JWT\"");
    /* No extension is understood, so any crit member fails (RFC 7515
     * §4.1.11), even an empty list, which that section also forbids. */
    if (json_object_get(header, "crit") != NULL)
        return lti_err_set(err, LTI_R_crit_unsupported, "header has a crit member");
    /* b64 (RFC 7797) changes which bytes are signed. It is rejected even
     * without crit, so no reader can treat the payload as unencoded. */
    if (json_object_get(header, "b64") != NULL)
        return lti_err_set(err, LTI_R_crit_unsupported, "header has a b64 member");
    return LTI_R_ok;
}

static lti_reason_t check_kid(const json_t *header, lti_jws_t *out, lti_err_t *err)
{
    const json_t *kid = json_object_get(header, "kid");

    if (kid == NULL)
        return lti_err_set(err, LTI_R_kid_missing, "header has no kid");
    if (!json_is_string(kid))
        return lti_err_set(err, LTI_R_kid_invalid, "kid is not a string");
    if (!lti_jwt_kid_is_valid(json_string_value(kid), json_string_length(kid)))
        return lti_err_set(err, LTI_R_kid_invalid,
                           "kid is empty, longer than %d bytes or not printable ASCII",
                           LTI_JWT_MAX_KID);
    out->kid = json_string_value(kid);
    return LTI_R_ok;
}

/* Parses the header into out->header and checks alg, typ, crit, b64 and kid.
 * Members such as jku, x5u, jwk and x5c are ignored, so no key is ever
 * fetched from a location named by the token (RFC 8725 §3.10). */
static lti_reason_t check_header(const unsigned char *buf, size_t len, lti_jws_t *out,
                                 lti_err_t *err)
{
    char why[128];
    lti_reason_t rc;

    out->header = lti_json_parse_strict((const char *)buf, len, JWS_HEADER_MAX_DEPTH, why,
                                        sizeof(why));
    if (out->header == NULL)
        return lti_err_set(err, LTI_R_header_invalid, "header: %s", why);

    rc = check_alg(out->header, err);
    if (rc != LTI_R_ok)
        return rc;
    rc = check_typ_and_crit(out->header, err);
    if (rc != LTI_R_ok)
        return rc;
    return check_kid(out->header, out, err);
}

static lti_reason_t parse_payload(const unsigned char *buf, size_t len, lti_jws_t *out,
                                  lti_err_t *err)
{
    char why[128];

    out->payload = lti_json_parse_strict((const char *)buf, len, LTI_JSON_MAX_DEPTH, why,
                                         sizeof(why));
    if (out->payload == NULL)
        return lti_err_set(err, LTI_R_payload_invalid, "payload: %s", why);
    return LTI_R_ok;
}

/* Copies "header.payload" exactly as received, because the signature covers
 * these bytes and not a re-encoding of the parsed JSON. */
static lti_reason_t copy_signing_input(const char *token, const jws_segments_t *seg,
                                       lti_jws_t *out, lti_err_t *err)
{
    size_t len = seg->sig_off - 1;
    char *copy = malloc(len + 1);

    if (copy == NULL)
        return lti_err_set(err, LTI_R_internal_error, "out of memory copying the signing input");
    memcpy(copy, token, len);
    copy[len] = '\0';
    out->signing_input = copy;
    out->signing_input_len = len;
    return LTI_R_ok;
}

/* Runs the shape and header checks in order: size, segments, base64url of
 * all three segments, header, then (when `with_payload`) the payload JSON. */
static lti_reason_t parse_jws(const char *token, size_t len, int with_payload, lti_jws_t *out,
                              lti_err_t *err)
{
    jws_segments_t seg;
    unsigned char *header = NULL;
    unsigned char *payload = NULL;
    size_t header_len = 0;
    size_t payload_len = 0;
    lti_reason_t rc;

    memset(out, 0, sizeof(*out));
    if (len > LTI_JWT_MAX_TOKEN)
        return lti_err_set(err, LTI_R_token_too_large, "token is %zu bytes, limit %d", len,
                           LTI_JWT_MAX_TOKEN);
    if (token == NULL || split_segments(token, len, &seg) != 0)
        return lti_err_set(err, LTI_R_token_malformed,
                           "token is not three non-empty segments separated by two dots");

    rc = decode_segment(token, seg.header_len, "header", &header, &header_len, err);
    if (rc != LTI_R_ok)
        goto out;
    rc = decode_segment(token + seg.payload_off, seg.payload_len, "payload", &payload,
                        &payload_len, err);
    if (rc != LTI_R_ok)
        goto out;
    rc = decode_segment(token + seg.sig_off, seg.sig_len, "signature", &out->sig, &out->sig_len,
                        err);
    if (rc != LTI_R_ok)
        goto out;

    rc = check_header(header, header_len, out, err);
    if (rc != LTI_R_ok)
        goto out;
    if (with_payload) {
        rc = parse_payload(payload, payload_len, out, err);
        if (rc != LTI_R_ok)
            goto out;
    }
    rc = copy_signing_input(token, &seg, out, err);

out:
    free(header);
    free(payload);
    if (rc != LTI_R_ok)
        lti_jws_clear(out);
    return rc;
}

lti_reason_t lti_jws_parse(const char *token, size_t len, lti_jws_t *out, lti_err_t *err)
{
    return parse_jws(token, len, 1, out, err);
}

lti_reason_t lti_jws_parse_opaque(const char *token, size_t len, lti_jws_t *out, lti_err_t *err)
{
    return parse_jws(token, len, 0, out, err);
}

void lti_jws_clear(lti_jws_t *jws)
{
    if (jws == NULL)
        return;
    json_decref(jws->header);
    json_decref(jws->payload);
    free((char *)jws->signing_input);
    free(jws->sig);
    memset(jws, 0, sizeof(*jws));
}
