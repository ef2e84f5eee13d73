/* SPDX-License-Identifier: MIT */
/*
 * Parses a JSON Web Key Set (RFC 7517 §5) into RSA public keys usable for
 * RS256, and builds such keys from n and e (RFC 7518 §6.3.1) with OpenSSL 3.
 * An entry that is not a usable key is skipped rather than failing the set,
 * as RFC 7517 §5 recommends, so one odd entry in a platform's set does not
 * stop launches that use its other keys.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include "lti/jwks.h"
#include "lti/jwt.h"
#include "jwt_int.h"

/* {"keys":[{"key_ops":["verify"]}]} is depth 4. */
#define JWKS_MAX_DEPTH 4
/* An 8192-bit n is 1366 base64url characters. Longer members are rejected
 * before a buffer is allocated for them. */
#define JWK_MEMBER_MAX_CHARS 2048

/* 65537 in its minimal big-endian form, the only exponent accepted. */
static const unsigned char rsa_f4[] = {0x01, 0x00, 0x01};

/* Members that only a private or symmetric key has. A set that publishes one
 * is misconfigured, and an oct key ("k") must never become a verification key. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Checks the modulus bytes: minimal encoding (no leading zero byte, RFC 7518
 * §6.3.1.1), 2048 to 8192 bits (RFC 7518 §3.3 sets the minimum), and odd. */
static int check_modulus(const unsigned char *n, size_t n_len, char *why, size_t whylen)
{
    if (n == NULL || n_len == 0) {
        set_why(why, whylen, "modulus is empty");
        return -1;
    }
    if (n[0] == 0) {
        set_why(why, whylen, "modulus has a leading zero byte");
        return -1;
    }
    if (n_len > LTI_JWK_MAX_BITS / 8) {
        set_why(why, whylen, "modulus is %zu bytes, more than %d bits", n_len, LTI_JWK_MAX_BITS);
        return -1;
    }

    size_t bits = (n_len - 1) * 8;
    for (unsigned top = n[0]; top != 0; top >>= 1)
        bits++;
    if (bits < LTI_JWK_MIN_BITS) {
        set_why(why, whylen, "modulus is %zu bits, fewer than %d", bits, LTI_JWK_MIN_BITS);
        return -1;
    }
    if ((n[n_len - 1] & 1) == 0) {
        set_why(why, whylen, "modulus is even");
        return -1;
    }
    return 0;
}

static int check_exponent(const unsigned char *e, size_t e_len, char *why, size_t whylen)
{
    if (e != NULL && e_len == sizeof(rsa_f4) && memcmp(e, rsa_f4, sizeof(rsa_f4)) == 0)
        return 0;
    if (e != NULL && e_len > 0 && e[0] == 0)
        set_why(why, whylen, "exponent has a leading zero byte");
    else
        set_why(why, whylen, "exponent is not 65537");
    return -1;
}

/* Builds the key with OSSL_PARAM_BLD and EVP_PKEY_fromdata (OpenSSL 3). */
static EVP_PKEY *build_rsa_public(const unsigned char *n, size_t n_len)
{
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    BIGNUM *bn_e = BN_bin2bn(rsa_f4, (int)sizeof(rsa_f4), NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (bn_n == NULL || bn_e == NULL || bld == NULL)
        goto out;
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1)
        goto out;
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;

out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    ERR_clear_error();
    return key;
}

EVP_PKEY *lti_rsa_pubkey_from_ne(const unsigned char *n, size_t n_len, const unsigned char *e,
                                 size_t e_len, char *why, size_t whylen)
{
    if (check_modulus(n, n_len, why, whylen) != 0)
        return NULL;
    if (check_exponent(e, e_len, why, whylen) != 0)
        return NULL;

    EVP_PKEY *key = build_rsa_public(n, n_len);
    if (key == NULL)
        set_why(why, whylen, "OpenSSL could not build the RSA key");
    return key;
}

static int member_equals(const json_t *obj, const char *name, const char *value)
{
    const json_t *member = json_object_get(obj, name);

    return json_is_string(member) && strcmp(json_string_value(member), value) == 0;
}

static int array_contains_string(const json_t *array, const char *value)
{
    size_t i;
    const json_t *item;

    json_array_foreach(array, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return 1;
    }
    return 0;
}

/* Checks that the entry declares an RSA key meant for RS256 signatures
 * (RFC 7517 §4.1-4.4). use, alg and key_ops are optional, but when present
 * they must allow verification with RS256. */
static int check_key_purpose(const json_t *jwk, char *why, size_t whylen)
{
    const json_t *key_ops = json_object_get(jwk, "key_ops");

    if (!member_equals(jwk, "kty", "RSA")) {
        set_why(why, whylen, "kty is not RSA");
        return -1;
    }
    if (json_object_get(jwk, "use") != NULL && !member_equals(jwk, "use", "sig")) {
        set_why(why, whylen, "use is present and not sig");
        return -1;
    }
    if (json_object_get(jwk, "alg") != NULL && !member_equals(jwk, "alg", "RS256")) {
        set_why(why, whylen, "alg is present and not RS256");
        return -1;
    }
    if (key_ops != NULL && !array_contains_string(key_ops, "verify")) {
        set_why(why, whylen, "key_ops is present and does not contain verify");
        return -1;
    }
    return 0;
}

static int check_public_only(const json_t *jwk, char *why, size_t whylen)
{
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        if (json_object_get(jwk, private_members[i]) != NULL) {
            set_why(why, whylen, "entry has the private key member %s", private_members[i]);
            return -1;
        }
    }
    return 0;
}

/* Returns the entry's kid when it is a valid kid string, else NULL. */
static const char *valid_kid(const json_t *jwk)
{
    const json_t *kid = json_object_get(jwk, "kid");

    if (!json_is_string(kid) || !lti_jwt_kid_is_valid(json_string_value(kid),
                                                      json_string_length(kid)))
        return NULL;
    return json_string_value(kid);
}

/* Decodes the base64url member `name` into a new buffer. */
static unsigned char *decode_member(const json_t *jwk, const char *name, size_t *out_len,
                                    char *why, size_t whylen)
{
    const json_t *member = json_object_get(jwk, name);

    if (!json_is_string(member)) {
        set_why(why, whylen, "%s is missing or not a string", name);
        return NULL;
    }
    size_t len = json_string_length(member);
    if (len > JWK_MEMBER_MAX_CHARS) {
        set_why(why, whylen, "%s is longer than %d characters", name, JWK_MEMBER_MAX_CHARS);
        return NULL;
    }
    unsigned char *buf = malloc(len * 3 / 4 + 1);
    if (buf == NULL) {
        set_why(why, whylen, "out of memory decoding %s", name);
        return NULL;
    }
    long n = lti_b64url_decode(json_string_value(member), len, buf);
    if (n <= 0) {
        free(buf);
        set_why(why, whylen, "%s is empty or not canonical base64url", name);
        return NULL;
    }
    *out_len = (size_t)n;
    return buf;
}

static EVP_PKEY *key_from_members(const json_t *jwk, char *why, size_t whylen)
{
    size_t n_len = 0;
    size_t e_len = 0;
    EVP_PKEY *key = NULL;
    unsigned char *n = decode_member(jwk, "n", &n_len, why, whylen);
    unsigned char *e = NULL;

    if (n == NULL)
        goto out;
    e = decode_member(jwk, "e", &e_len, why, whylen);
    if (e == NULL)
        goto out;
    key = lti_rsa_pubkey_from_ne(n, n_len, e, e_len, why, whylen);

out:
    free(n);
    free(e);
    return key;
}

/* Fills `out` from one entry of the keys array. Returns 0, or -1 with the
 * reason for skipping the entry in `why`. */
static int parse_entry(const json_t *jwk, lti_jwk_t *out, char *why, size_t whylen)
{
    if (!json_is_object(jwk)) {
        set_why(why, whylen, "entry is not an object");
        return -1;
    }
    if (check_key_purpose(jwk, why, whylen) != 0 || check_public_only(jwk, why, whylen) != 0)
        return -1;

    const char *kid = valid_kid(jwk);
    if (kid == NULL) {
        set_why(why, whylen, json_object_get(jwk, "kid") == NULL
                                 ? "kid is missing"
                                 : "kid is empty, too long, not a string or not printable ASCII");
        return -1;
    }
    EVP_PKEY *key = key_from_members(jwk, why, whylen);
    if (key == NULL)
        return -1;
    out->kid = strdup(kid);
    if (out->kid == NULL) {
        EVP_PKEY_free(key);
        set_why(why, whylen, "out of memory copying the kid");
        return -1;
    }
    out->key = key;
    out->ambiguous = 0;
    return 0;
}

/* RFC 7517 §4.5 does not require kids to be unique. A token's kid that
 * matches two keys is rejected instead of trying each key, so the
 * signature check never depends on key order. */
static void mark_ambiguous(lti_jwk_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(keys[i].kid, keys[j].kid) == 0) {
                keys[i].ambiguous = 1;
                keys[j].ambiguous = 1;
            }
        }
    }
}

/* Parses every entry of `list` into `keys`, reporting skipped entries.
 * Returns the number of usable keys. */
static size_t parse_entries(const json_t *list, lti_jwk_t *keys,
                            void (*on_skip)(void *arg, size_t index, const char *kid,
                                            const char *why),
                            void *arg)
{
    size_t n_usable = 0;
    size_t i;
    const json_t *jwk;
    char reason[160];

    json_array_foreach(list, i, jwk) {
        if (parse_entry(jwk, &keys[n_usable], reason, sizeof(reason)) == 0)
            n_usable++;
        else if (on_skip != NULL)
            on_skip(arg, i, json_is_object(jwk) ? valid_kid(jwk) : NULL, reason);
    }
    return n_usable;
}

int lti_keyset_parse(const char *buf, size_t len, size_t max_keys, lti_keyset_t *out,
                     void (*on_skip)(void *arg, size_t index, const char *kid, const char *why),
                     void *arg, char *why, size_t whylen)
{
    char detail[128];
    lti_jwk_t *keys = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    json_t *root = lti_json_parse_strict(buf, len, JWKS_MAX_DEPTH, detail, sizeof(detail));
    if (root == NULL) {
        set_why(why, whylen, "key set is not a valid JSON object: %s", detail);
        goto out;
    }
    const json_t *list = json_object_get(root, "keys");
    if (!json_is_array(list)) {
        set_why(why, whylen, "key set has no \"keys\" array");
        goto out;
    }
    size_t count = json_array_size(list);
    if (count == 0) {
        set_why(why, whylen, "key set has an empty \"keys\" array");
        goto out;
    }
    if (count > max_keys) {
        set_why(why, whylen, "key set has %zu keys, limit %zu", count, max_keys);
        goto out;
    }

    keys = calloc(count, sizeof(*keys));
    if (keys == NULL) {
        set_why(why, whylen, "out of memory for %zu keys", count);
        goto out;
    }
    size_t n_usable = parse_entries(list, keys, on_skip, arg);
    if (n_usable == 0) {
        set_why(why, whylen, "none of the %zu keys is a usable RS256 signing key", count);
        goto out;
    }
    mark_ambiguous(keys, n_usable);
    out->keys = keys;
    out->n_keys = n_usable;
    keys = NULL;
    rc = 0;

out:
    free(keys); /* contains no key here, because it is freed only when none was usable */
    json_decref(root);
    return rc;
}

void lti_keyset_clear(lti_keyset_t *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n_keys; i++) {
        free(set->keys[i].kid);
        EVP_PKEY_free(set->keys[i].key);
    }
    free(set->keys);
    set->keys = NULL;
    set->n_keys = 0;
}

EVP_PKEY *lti_keyset_find(const lti_keyset_t *set, const char *kid, int *ambiguous)
{
    if (ambiguous != NULL)
        *ambiguous = 0;
    if (set == NULL || kid == NULL)
        return NULL;
    for (size_t i = 0; i < set->n_keys; i++) {
        if (strcmp(set->keys[i].kid, kid) != 0)
            continue;
        if (set->keys[i].ambiguous) {
            if (ambiguous != NULL)
                *ambiguous = 1;
            return NULL;
        }
        return set->keys[i].key;
    }
    return NULL;
}
