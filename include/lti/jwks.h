/* SPDX-License-Identifier: MIT */
/*
 * JSON Web Key Sets: strict parsing of a platform's set into cached EVP_PKEYs,
 * and the per-registration cache that fetches them with libcurl on a worker
 * thread, so no event loop ever waits on the network.
 */
#ifndef LTI_JWKS_H
#define LTI_JWKS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "lti/err.h"

#define LTI_JWK_MIN_BITS 2048
#define LTI_JWK_MAX_BITS 8192

typedef struct lti_jwk {
    char *kid;
    EVP_PKEY *key;  /* RSA public key, >= 2048 bits, e = 65537 */
    int ambiguous;  /* another usable key in the set has the same kid */
} lti_jwk_t;

typedef struct lti_keyset {
    lti_jwk_t *keys;
    size_t n_keys;
} lti_keyset_t;

/* Parses a JWKS document ({"keys":[...]}) with lti_json_parse_strict and a
 * nesting depth of at most 4. An entry that is not a usable RS256 signing key
 * is skipped: kty other than RSA, use other than sig, alg other than RS256,
 * key_ops without verify, or any private or symmetric member (d, p, q, dp,
 * dq, qi, oth, k). A missing or invalid kid (same rules as a JWS header kid),
 * an n or e that is missing or not canonical base64url, and an n or e that
 * lti_rsa_pubkey_from_ne rejects are skipped too. Each skip calls
 * `on_skip(arg, index, kid_or_null, why)` when given, with kid NULL unless it
 * is a valid kid. Usable keys that share a kid are all marked ambiguous.
 * Returns 0 and fills `out`, or -1 with `why` set when the document itself is
 * unusable (not a JSON object, no "keys" array, no entries, more than
 * `max_keys` entries, no usable key). */
int lti_keyset_parse(const char *buf, size_t len, size_t max_keys, lti_keyset_t *out,
                     void (*on_skip)(void *arg, size_t index, const char *kid, const char *why),
                     void *arg, char *why, size_t whylen);
void lti_keyset_clear(lti_keyset_t *set);
/* Returns the key with this kid, or NULL. Sets *ambiguous to 1 when the kid
 * is shared by several keys (no key is then returned), else to 0. The key is
 * borrowed from `set`: call EVP_PKEY_up_ref to keep it after
 * lti_keyset_clear. */
EVP_PKEY *lti_keyset_find(const lti_keyset_t *set, const char *kid, int *ambiguous);

/* Builds an RSA public EVP_PKEY from big-endian n and e. Returns NULL, with
 * the reason in `why`, when n has a leading zero byte, is even or is outside
 * 2048..8192 bits, or when e is not exactly the bytes 01 00 01 (65537 with
 * no leading zero). */
EVP_PKEY *lti_rsa_pubkey_from_ne(const unsigned char *n, size_t n_len, const unsigned char *e,
                                 size_t e_len, char *why, size_t whylen);

#endif
