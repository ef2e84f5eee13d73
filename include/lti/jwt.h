/* SPDX-License-Identifier: MIT */
/*
 * Strict compact-JWS parsing and RS256 verification with OpenSSL.
 * libjwt is never used here: it accepts alg:none with a NULL key and HS256
 * keyed with the RSA PEM (libjwt 1.10.2), and its base64 decoder skips bytes
 * outside the alphabet.
 */
#ifndef LTI_JWT_H
#define LTI_JWT_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "lti/err.h"

#define LTI_JWT_MAX_TOKEN 16384   /* Canvas id_tokens are 2-8 KiB */
#define LTI_JWT_MAX_KID 256
#define LTI_JSON_MAX_DEPTH 16     /* LTI claims nest fewer than 8 levels */

/* Decodes unpadded base64url. Rejects any byte outside [A-Za-z0-9_-], a
 * length of 1 mod 4, and a last character whose unused low bits are not
 * zero, so each byte string has exactly one accepted encoding. `out` must
 * hold len*3/4+1 bytes. Returns the decoded length, or -1. */
long lti_b64url_decode(const char *in, size_t len, unsigned char *out);
/* The same into a buffer of `cap` bytes: returns -1, writing nothing, when
 * the decoded length would exceed `cap`. For fixed-size buffers. */
long lti_b64url_decode_capped(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encodes without padding; `out` must hold (len+2)/3*4+1 bytes. Returns the
 * length written (NUL-terminated). */
size_t lti_b64url_encode(const unsigned char *in, size_t len, char *out);

/* Parses `len` bytes as one JSON object: no NUL byte anywhere, nesting depth
 * at most `max_depth` (checked by a scan before jansson recurses), duplicate
 * keys rejected. Returns a new reference, or NULL with a detail in `why`. */
json_t *lti_json_parse_strict(const char *buf, size_t len, size_t max_depth, char *why,
                              size_t whylen);

/* A compact JWS split and decoded. Pointers into `signing_input` are owned by
 * the struct; lti_jws_clear releases them. */
typedef struct lti_jws {
    json_t *header;              /* owned */
    json_t *payload;             /* owned */
    const char *kid;             /* borrowed from header */
    const char *signing_input;   /* the exact received "H.P" bytes, owned copy */
    size_t signing_input_len;
    unsigned char *sig;          /* owned */
    size_t sig_len;
} lti_jws_t;

/* Checks the token shape and header: size cap, exactly three canonical
 * base64url segments, strict JSON header with alg exactly "RS256", typ absent
 * or "JWT", no crit or b64, kid a 1-256 byte printable ASCII string. Other
 * header members (jku, x5u, jwk, x5c) are ignored and never fetched. The
 * payload is decoded and parsed strictly too, but no claim is checked.
 * Checks run in this order, and the first failure is returned: size, segment
 * count (an empty signature is token_malformed, so "alg":"none" with no
 * signature never reaches the header check), base64url, header, payload.
 * On failure `out` is cleared, and on success the caller releases it with
 * lti_jws_clear.
 * Returns LTI_R_ok or the reason (token_too_large, token_malformed,
 * header_invalid, alg_not_allowed, typ_invalid, crit_unsupported,
 * kid_missing, kid_invalid, payload_invalid). */
lti_reason_t lti_jws_parse(const char *token, size_t len, lti_jws_t *out, lti_err_t *err);
/* Runs every lti_jws_parse check except the payload one: the payload segment
 * must still be canonical base64url but is not parsed, and out->payload stays
 * NULL. It exists for signature test vectors whose payload is not JSON. A
 * launch must use lti_jws_parse. */
lti_reason_t lti_jws_parse_opaque(const char *token, size_t len, lti_jws_t *out, lti_err_t *err);
/* Frees what lti_jws_parse filled and zeroes the struct. NULL is allowed. */
void lti_jws_clear(lti_jws_t *jws);

/* Verifies RSASSA-PKCS1-v1_5 SHA-256 over `data` with an RSA public key.
 * The signature length must equal the modulus length. Returns 1 when valid,
 * 0 otherwise. Safe to call from several threads on one key. */
int lti_rs256_verify(EVP_PKEY *key, const unsigned char *data, size_t len,
                     const unsigned char *sig, size_t sig_len);

/* Signs `data` RS256 and returns a malloc'd base64url signature, or NULL. */
char *lti_rs256_sign_b64(EVP_PKEY *key, const unsigned char *data, size_t len);

#endif
