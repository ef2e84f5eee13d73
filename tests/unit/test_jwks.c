/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for JWK Set parsing and RSA key construction from n and e. Keys
 * are generated with OpenSSL in the test and written out as JWKs. The bad
 * entries are hand-written variants of those.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "lti/jwks.h"
#include "lti/jwt.h"

#define MAX_KEYS 16
/* Expands a string literal to its pointer and length without the final NUL. */
#define LIT(s) s, sizeof(s) - 1

static EVP_PKEY *rsa_key;   /* 2048-bit key published as "k-good" */
static EVP_PKEY *other_key; /* a second 2048-bit key */
static EVP_PKEY *small_key; /* 1024-bit key, below the RS256 minimum */
static char *good_n;        /* base64url modulus of rsa_key */
static char *good_jwk;      /* minimal JWK of rsa_key with kid "k-good" */

/* ---- helpers ---------------------------------------------------------- */

static char *b64(const void *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    assert_non_null(out);
    lti_b64url_encode(data, len, out);
    return out;
}

/* Returns the big-endian modulus of `key` in a new buffer. */
static unsigned char *modulus_bytes(EVP_PKEY *key, size_t *len)
{
    BIGNUM *bn = NULL;

    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    *len = (size_t)BN_num_bytes(bn);
    unsigned char *buf = malloc(*len + 1);
    assert_non_null(buf);
    BN_bn2bin(bn, buf);
    BN_free(bn);
    return buf;
}

static char *modulus_b64(EVP_PKEY *key)
{
    size_t len = 0;
    unsigned char *n = modulus_bytes(key, &len);
    char *text = b64(n, len);
    free(n);
    return text;
}

/* Returns {"kty":"RSA","kid":kid,"n":..,"e":"AQAB"<extra>} for `key`. */
static char *jwk_of(EVP_PKEY *key, const char *kid, const char *extra)
{
    char *n = modulus_b64(key);
    char *jwk = NULL;

    assert_true(asprintf(&jwk, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"AQAB\"%s}",
                         kid, n, extra) > 0);
    free(n);
    return jwk;
}

static char *set_of(const char *first, const char *second)
{
    char *doc = NULL;

    if (second == NULL)
        assert_true(asprintf(&doc, "{\"keys\":[%s]}", first) > 0);
    else
        assert_true(asprintf(&doc, "{\"keys\":[%s,%s]}", first, second) > 0);
    return doc;
}

/* Records the on_skip calls of one lti_keyset_parse. */
typedef struct skip_log {
    size_t count;
    size_t index;
    int kid_is_null;
    char kid[LTI_JWT_MAX_KID + 1];
    char why[200];
} skip_log_t;

static void record_skip(void *arg, size_t index, const char *kid, const char *why)
{
    skip_log_t *log = arg;

    log->count++;
    log->index = index;
    log->kid_is_null = kid == NULL;
    snprintf(log->kid, sizeof(log->kid), "%s", kid != NULL ? kid : "");
    snprintf(log->why, sizeof(log->why), "%s", why);
}

static int parse_doc(const char *doc, size_t max_keys, lti_keyset_t *set, skip_log_t *log,
                     char *why, size_t whylen)
{
    memset(log, 0, sizeof(*log));
    return lti_keyset_parse(doc, strlen(doc), max_keys, set, record_skip, log, why, whylen);
}

static int group_setup(void **state)
{
    rsa_key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    small_key = EVP_RSA_gen(1024);
    if (rsa_key == NULL || other_key == NULL || small_key == NULL)
        return -1;
    good_n = modulus_b64(rsa_key);
    good_jwk = jwk_of(rsa_key, "k-good", "");
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(small_key);
    free(good_n);
    free(good_jwk);
    return 0;
}

/* ---- whole documents -------------------------------------------------- */

static void keyset_accepts_usable_keys(void **state)
{
    char *full = jwk_of(other_key, "k-full", ",\"use\":\"sig\",\"alg\":\"RS256\","
                                             "\"key_ops\":[\"verify\"],\"x5c\":[\"MIIB\"]");
    char *doc = set_of(good_jwk, full);
    lti_keyset_t set;
    skip_log_t log;
    char why[200] = "";
    int ambiguous = -1;

    assert_int_equal(parse_doc(doc, MAX_KEYS, &set, &log, why, sizeof(why)), 0);
    assert_int_equal(set.n_keys, 2);
    assert_int_equal(log.count, 0);
    EVP_PKEY *found = lti_keyset_find(&set, "k-good", &ambiguous);
    assert_non_null(found);
    assert_int_equal(ambiguous, 0);
    assert_int_equal(EVP_PKEY_eq(found, rsa_key), 1);
    found = lti_keyset_find(&set, "k-full", &ambiguous);
    assert_non_null(found);
    assert_int_equal(EVP_PKEY_eq(found, other_key), 1);
    assert_null(lti_keyset_find(&set, "k-unknown", &ambiguous));
    assert_int_equal(ambiguous, 0);
    assert_null(lti_keyset_find(&set, "k-good ", NULL));
    assert_null(lti_keyset_find(&set, NULL, &ambiguous));

    /* The parsed public key verifies what the private key signed. */
    const unsigned char data[] = "header.payload";
    char *sig_text = lti_rs256_sign_b64(rsa_key, data, 14);
    unsigned char sig[260];
    assert_int_equal(lti_b64url_decode(sig_text, strlen(sig_text), sig), 256);
    assert_int_equal(lti_rs256_verify(lti_keyset_find(&set, "k-good", NULL), data, 14, sig, 256),
                     1);
    assert_int_equal(lti_rs256_verify(lti_keyset_find(&set, "k-full", NULL), data, 14, sig, 256),
                     0);

    lti_keyset_clear(&set);
    assert_null(set.keys);
    assert_int_equal(set.n_keys, 0);
    lti_keyset_clear(&set);
    free(sig_text);
    free(doc);
    free(full);
}

static void keyset_rejects_unusable_documents(void **state)
{
    char *deep = NULL;
    char *dup_member = NULL;
    char *oct_only = set_of("{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"AAAA\"}", NULL);
    const char *docs[] = {
        "not json",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":\"x\"}",
        "{\"keys\":null}",
        "{\"keys\":[]}",
        "{\"keys\":[1,2]}",
        "{\"keys\":[]} x",
        NULL,
        NULL,
        oct_only,
    };

    assert_true(asprintf(&deep, "{\"keys\":[{\"x\":[[1]]},%s]}", good_jwk) > 0);
    assert_true(asprintf(&dup_member, "{\"keys\":[%s],\"keys\":[%s]}", good_jwk, good_jwk) > 0);
    docs[9] = deep;
    docs[10] = dup_member;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        lti_keyset_t set;
        skip_log_t log;
        char why[200] = "";
        int rc = parse_doc(docs[i], MAX_KEYS, &set, &log, why, sizeof(why));
        if (rc != -1)
            print_error("accepted document %zu\n", i);
        assert_int_equal(rc, -1);
        assert_true(why[0] != '\0');
        assert_null(set.keys);
        assert_int_equal(set.n_keys, 0);
    }

    lti_keyset_t set;
    char why[200] = "";
    assert_int_equal(lti_keyset_parse(LIT("{\"keys\":[]}"), MAX_KEYS, &set, NULL, NULL, why,
                                      sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "empty"));

    /* A NUL byte inside the counted length. */
    char *with_nul = set_of(good_jwk, NULL);
    size_t len = strlen(with_nul);
    with_nul[len - 1] = '\0';
    assert_int_equal(lti_keyset_parse(with_nul, len, MAX_KEYS, &set, NULL, NULL, why,
                                      sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "NUL"));
    free(with_nul);
    free(oct_only);
    free(dup_member);
    free(deep);
}

static void keyset_limits_entry_count(void **state)
{
    char *second = jwk_of(other_key, "k2", "");
    char *doc = set_of(good_jwk, second);
    lti_keyset_t set;
    skip_log_t log;
    char why[200] = "";

    assert_int_equal(parse_doc(doc, 1, &set, &log, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "2 keys"));
    assert_int_equal(parse_doc(doc, 2, &set, &log, why, sizeof(why)), 0);
    assert_int_equal(set.n_keys, 2);
    lti_keyset_clear(&set);
    free(doc);
    free(second);
}

/* ---- skipped entries -------------------------------------------------- */

/* Parses {"keys":[entry, good]} and checks that only `entry` is skipped,
 * with a reason containing `expected_why`. */
static void expect_skip(const char *entry, const char *expected_why, const char *expected_kid)
{
    char *doc = set_of(entry, good_jwk);
    lti_keyset_t set;
    skip_log_t log;
    char why[200] = "";
    int rc = parse_doc(doc, MAX_KEYS, &set, &log, why, sizeof(why));

    if (rc != 0 || log.count != 1 || strstr(log.why, expected_why) == NULL)
        print_error("entry %.120s: rc %d, %zu skips, why \"%s\", expected \"%s\"\n", entry, rc,
                    log.count, log.why, expected_why);
    assert_int_equal(rc, 0);
    assert_int_equal(set.n_keys, 1);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.index, 0);
    assert_non_null(strstr(log.why, expected_why));
    if (expected_kid == NULL) {
        assert_true(log.kid_is_null);
    } else {
        assert_false(log.kid_is_null);
        assert_string_equal(log.kid, expected_kid);
    }
    assert_non_null(lti_keyset_find(&set, "k-good", NULL));
    lti_keyset_clear(&set);
    free(doc);
}

/* Builds an entry with kid "bad", the good modulus and `members` appended. */
static void expect_member_skip(const char *members, const char *expected_why)
{
    char *entry = jwk_of(rsa_key, "bad", members);
    expect_skip(entry, expected_why, "bad");
    free(entry);
}

static void keyset_skips_wrong_key_types(void **state)
{
    expect_skip("{\"kty\":\"EC\",\"kid\":\"bad\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
                "kty", "bad");
    expect_skip("{\"kty\":\"oct\",\"kid\":\"bad\",\"k\":\"AAAA\"}", "kty", "bad");
    expect_skip("{\"kid\":\"bad\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "kty", "bad");
    expect_skip("{\"kty\":\"rsa\",\"kid\":\"bad\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "kty", "bad");
    expect_skip("{\"kty\":[\"RSA\"],\"kid\":\"bad\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "kty", "bad");
    expect_skip("[1]", "not an object", NULL);
    expect_skip("\"RSA\"", "not an object", NULL);
}

static void keyset_skips_wrong_purpose(void **state)
{
    expect_member_skip(",\"use\":\"enc\"", "use");
    expect_member_skip(",\"use\":\"SIG\"", "use");
    expect_member_skip(",\"use\":1", "use");
    expect_member_skip(",\"alg\":\"RS384\"", "alg");
    expect_member_skip(",\"alg\":\"PS256\"", "alg");
    expect_member_skip(",\"alg\":\"HS256\"", "alg");
    expect_member_skip(",\"alg\":\"none\"", "alg");
    expect_member_skip(",\"alg\":null", "alg");
    expect_member_skip(",\"key_ops\":[\"sign\"]", "key_ops");
    expect_member_skip(",\"key_ops\":[\"encrypt\",\"decrypt\"]", "key_ops");
    expect_member_skip(",\"key_ops\":[]", "key_ops");
    expect_member_skip(",\"key_ops\":\"verify\"", "key_ops");
}

static void keyset_skips_private_members(void **state)
{
    static const char *const members[] = {
        ",\"d\":\"AQAB\"", ",\"p\":\"AQAB\"", ",\"q\":\"AQAB\"", ",\"dp\":\"AQAB\"",
        ",\"dq\":\"AQAB\"", ",\"qi\":\"AQAB\"", ",\"oth\":[]", ",\"k\":\"AAAA\"",
    };
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        expect_member_skip(members[i], "private key member");
}

static void keyset_skips_bad_kids(void **state)
{
    char long_kid[LTI_JWT_MAX_KID + 2];
    char *entry = NULL;

    assert_true(asprintf(&entry, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", good_n) > 0);
    expect_skip(entry, "kid is missing", NULL);
    free(entry);
    entry = jwk_of(rsa_key, "", "");
    expect_skip(entry, "kid is empty", NULL);
    free(entry);
    entry = jwk_of(rsa_key, "a\\tb", "");
    expect_skip(entry, "not printable", NULL);
    free(entry);
    entry = jwk_of(rsa_key, "cl\xc3\xa9", "");
    expect_skip(entry, "not printable", NULL);
    free(entry);
    assert_true(asprintf(&entry, "{\"kty\":\"RSA\",\"kid\":7,\"n\":\"%s\",\"e\":\"AQAB\"}",
                         good_n) > 0);
    expect_skip(entry, "not a string", NULL);
    free(entry);

    memset(long_kid, 'k', LTI_JWT_MAX_KID + 1);
    long_kid[LTI_JWT_MAX_KID + 1] = '\0';
    entry = jwk_of(rsa_key, long_kid, "");
    expect_skip(entry, "too long", NULL);
    free(entry);
}

/* Builds an entry with kid "bad" and the given raw n and e member texts. */
static void expect_ne_skip(const char *n_member, const char *e_member, const char *expected_why)
{
    char *entry = NULL;

    assert_true(asprintf(&entry, "{\"kty\":\"RSA\",\"kid\":\"bad\"%s%s}", n_member, e_member) > 0);
    expect_skip(entry, expected_why, "bad");
    free(entry);
}

static void keyset_skips_bad_modulus(void **state)
{
    char *n = NULL;
    const char *e = ",\"e\":\"AQAB\"";
    size_t n_len = 0;
    unsigned char *n_bytes = modulus_bytes(rsa_key, &n_len);

    expect_ne_skip("", e, "n is missing");
    expect_ne_skip(",\"n\":12345", e, "n is missing or not a string");
    expect_ne_skip(",\"n\":\"\"", e, "n is empty or not canonical");

#define EXPECT_N_TEXT(why, ...)                                                                    \
    do {                                                                                           \
        assert_true(asprintf(&n, __VA_ARGS__) > 0);                                                \
        expect_ne_skip(n, e, why);                                                                 \
        free(n);                                                                                   \
    } while (0)

    /* 256 bytes encode to 342 characters plus "==" in padded base64. */
    EXPECT_N_TEXT("not canonical", ",\"n\":\"%s==\"", good_n);
    EXPECT_N_TEXT("not canonical", ",\"n\":\"+%s\"", good_n + 1);
    EXPECT_N_TEXT("not canonical", ",\"n\":\"/%s\"", good_n + 1);
    EXPECT_N_TEXT("not canonical", ",\"n\":\"%.100s %s\"", good_n, good_n + 100);
    EXPECT_N_TEXT("not canonical", ",\"n\":\"%.100s\\n%s\"", good_n, good_n + 100);
#undef EXPECT_N_TEXT

    /* RFC 7518 §6.3.1.1: no leading zero byte, even for a high top bit. */
    unsigned char *padded = malloc(n_len + 1);
    padded[0] = 0;
    memcpy(padded + 1, n_bytes, n_len);
    char *padded_text = b64(padded, n_len + 1);
    assert_true(asprintf(&n, ",\"n\":\"%s\"", padded_text) > 0);
    expect_ne_skip(n, e, "leading zero");
    free(n);

    char *small = jwk_of(small_key, "bad", "");
    expect_skip(small, "1024 bits, fewer than 2048", "bad");

    free(small);
    free(padded_text);
    free(padded);
    free(n_bytes);
}

static void keyset_skips_bad_exponent(void **state)
{
    char *n = NULL;

    assert_true(asprintf(&n, ",\"n\":\"%s\"", good_n) > 0);
    expect_ne_skip(n, "", "e is missing");
    expect_ne_skip(n, ",\"e\":65537", "e is missing or not a string");
    expect_ne_skip(n, ",\"e\":\"AQAB=\"", "e is empty or not canonical");
    expect_ne_skip(n, ",\"e\":\"AQAC\"", "not 65537");   /* 65538 */
    expect_ne_skip(n, ",\"e\":\"AQAA\"", "not 65537");   /* 65536 */
    expect_ne_skip(n, ",\"e\":\"Aw\"", "not 65537");     /* 3 */
    expect_ne_skip(n, ",\"e\":\"AQ\"", "not 65537");     /* 1 */
    expect_ne_skip(n, ",\"e\":\"AAEAAQ\"", "leading zero"); /* 00 01 00 01 */
    free(n);
}

/* ---- duplicate kids --------------------------------------------------- */

static void keyset_marks_duplicate_kids_ambiguous(void **state)
{
    char *first = jwk_of(rsa_key, "dup", "");
    char *second = jwk_of(other_key, "dup", "");
    char *third = jwk_of(other_key, "k3", "");
    char *doc = NULL;
    lti_keyset_t set;
    skip_log_t log;
    char why[200] = "";
    int ambiguous = -1;

    assert_true(asprintf(&doc, "{\"keys\":[%s,%s,%s]}", first, third, second) > 0);
    assert_int_equal(parse_doc(doc, MAX_KEYS, &set, &log, why, sizeof(why)), 0);
    assert_int_equal(set.n_keys, 3);
    assert_null(lti_keyset_find(&set, "dup", &ambiguous));
    assert_int_equal(ambiguous, 1);
    assert_null(lti_keyset_find(&set, "dup", NULL));
    assert_non_null(lti_keyset_find(&set, "k3", &ambiguous));
    assert_int_equal(ambiguous, 0);
    for (size_t i = 0; i < set.n_keys; i++)
        assert_int_equal(set.keys[i].ambiguous, strcmp(set.keys[i].kid, "dup") == 0);
    lti_keyset_clear(&set);
    free(doc);
    free(second);
    free(third);
    free(first);
}

/* Only usable keys count: a skipped entry with the same kid does not make
 * the usable one ambiguous. */
static void keyset_ignores_skipped_duplicates(void **state)
{
    char *usable = jwk_of(rsa_key, "dup", "");
    char *skipped = jwk_of(other_key, "dup", ",\"use\":\"enc\"");
    char *doc = set_of(skipped, usable);
    lti_keyset_t set;
    skip_log_t log;
    char why[200] = "";
    int ambiguous = -1;

    assert_int_equal(parse_doc(doc, MAX_KEYS, &set, &log, why, sizeof(why)), 0);
    assert_int_equal(log.count, 1);
    EVP_PKEY *found = lti_keyset_find(&set, "dup", &ambiguous);
    assert_non_null(found);
    assert_int_equal(ambiguous, 0);
    assert_int_equal(EVP_PKEY_eq(found, rsa_key), 1);
    lti_keyset_clear(&set);
    free(doc);
    free(skipped);
    free(usable);
}

static void keyset_allows_null_on_skip(void **state)
{
    char *bad = jwk_of(rsa_key, "bad", ",\"d\":\"AQAB\"");
    char *doc = set_of(bad, good_jwk);
    lti_keyset_t set;

    assert_int_equal(lti_keyset_parse(doc, strlen(doc), MAX_KEYS, &set, NULL, NULL, NULL, 0), 0);
    assert_int_equal(set.n_keys, 1);
    lti_keyset_clear(&set);
    free(doc);
    free(bad);
}

/* Random byte edits of a good set must never crash, and whatever parses
 * must hold only keys with valid kids. */
static void keyset_survives_mutated_documents(void **state)
{
    char *second = jwk_of(other_key, "k2", ",\"use\":\"sig\",\"key_ops\":[\"verify\"]");
    char *doc = set_of(good_jwk, second);
    size_t doc_len = strlen(doc);
    char *buf = malloc(doc_len + 4);
    int parsed = 0;

    for (int i = 0; i < 2000; i++) {
        unsigned char r[4];
        size_t len = doc_len;
        memcpy(buf, doc, doc_len);
        assert_int_equal(RAND_bytes(r, sizeof(r)), 1);
        size_t at = ((size_t)r[0] << 8 | r[1]) % len;
        if (r[2] & 1)
            buf[at] = (char)r[3];
        else
            len = at;
        lti_keyset_t set;
        if (lti_keyset_parse(buf, len, MAX_KEYS, &set, NULL, NULL, NULL, 0) != 0)
            continue;
        parsed++;
        assert_true(set.n_keys >= 1 && set.n_keys <= 2);
        for (size_t k = 0; k < set.n_keys; k++) {
            assert_non_null(set.keys[k].key);
            assert_true(strlen(set.keys[k].kid) >= 1);
        }
        lti_keyset_clear(&set);
    }
    print_message("%d of 2000 mutated key sets parsed\n", parsed);
    free(buf);
    free(doc);
    free(second);
}

/* ---- lti_rsa_pubkey_from_ne ------------------------------------------- */

static const unsigned char f4[] = {0x01, 0x00, 0x01};

/* Returns random bytes with the top byte `top` and the low bit set. */
static unsigned char *random_odd(size_t len, unsigned char top)
{
    unsigned char *buf = malloc(len);

    assert_non_null(buf);
    assert_int_equal(RAND_bytes(buf, (int)len), 1);
    buf[0] = top;
    buf[len - 1] |= 1;
    return buf;
}

static void expect_from_ne_null(const unsigned char *n, size_t n_len, const unsigned char *e,
                                size_t e_len, const char *expected_why)
{
    char why[200] = "";
    EVP_PKEY *key = lti_rsa_pubkey_from_ne(n, n_len, e, e_len, why, sizeof(why));

    if (key != NULL || strstr(why, expected_why) == NULL)
        print_error("why \"%s\", expected \"%s\"\n", why, expected_why);
    assert_null(key);
    assert_non_null(strstr(why, expected_why));
}

static void from_ne_builds_working_key(void **state)
{
    size_t n_len = 0;
    unsigned char *n = modulus_bytes(rsa_key, &n_len);
    char why[200] = "";
    EVP_PKEY *key = lti_rsa_pubkey_from_ne(n, n_len, f4, sizeof(f4), why, sizeof(why));
    const unsigned char data[] = "header.payload";
    unsigned char sig[260];

    assert_non_null(key);
    assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(key), 2048);
    assert_int_equal(EVP_PKEY_eq(key, rsa_key), 1);
    char *sig_text = lti_rs256_sign_b64(rsa_key, data, 14);
    assert_int_equal(lti_b64url_decode(sig_text, strlen(sig_text), sig), 256);
    assert_int_equal(lti_rs256_verify(key, data, 14, sig, 256), 1);
    /* The built key is public only, so it cannot sign. */
    assert_null(lti_rs256_sign_b64(key, data, 14));
    free(sig_text);
    EVP_PKEY_free(key);
    free(n);
}

static void from_ne_checks_modulus_size(void **state)
{
    unsigned char *n2047 = random_odd(256, 0x7f);
    unsigned char *n2048 = random_odd(256, 0x80);
    unsigned char *n8192 = random_odd(1024, 0xff);
    unsigned char *n8193 = random_odd(1025, 0x01);
    size_t small_len = 0;
    unsigned char *n1024 = modulus_bytes(small_key, &small_len);
    EVP_PKEY *key = NULL;

    expect_from_ne_null(n2047, 256, f4, sizeof(f4), "2047 bits, fewer than 2048");
    expect_from_ne_null(n1024, small_len, f4, sizeof(f4), "1024 bits");
    expect_from_ne_null(n8193, 1025, f4, sizeof(f4), "more than 8192");
    key = lti_rsa_pubkey_from_ne(n2048, 256, f4, sizeof(f4), NULL, 0);
    assert_non_null(key);
    EVP_PKEY_free(key);
    key = lti_rsa_pubkey_from_ne(n8192, 1024, f4, sizeof(f4), NULL, 0);
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_get_bits(key), 8192);
    EVP_PKEY_free(key);
    free(n1024);
    free(n8193);
    free(n8192);
    free(n2048);
    free(n2047);
}

static void from_ne_checks_encoding(void **state)
{
    unsigned char *n = random_odd(257, 0x00);
    static const unsigned char e3[] = {0x03};
    static const unsigned char e_padded[] = {0x00, 0x01, 0x00, 0x01};
    static const unsigned char e_long[] = {0x01, 0x00, 0x00, 0x01};

    n[1] = 0x80;
    expect_from_ne_null(n, 257, f4, sizeof(f4), "leading zero");
    expect_from_ne_null(n + 1, 256, e3, sizeof(e3), "not 65537");
    expect_from_ne_null(n + 1, 256, e_padded, sizeof(e_padded), "leading zero");
    expect_from_ne_null(n + 1, 256, e_long, sizeof(e_long), "not 65537");
    expect_from_ne_null(n + 1, 256, f4, 0, "not 65537");
    expect_from_ne_null(n + 1, 256, NULL, 0, "not 65537");
    expect_from_ne_null(NULL, 0, f4, sizeof(f4), "empty");
    n[256] &= 0xfe;
    expect_from_ne_null(n + 1, 256, f4, sizeof(f4), "even");
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyset_accepts_usable_keys),
        cmocka_unit_test(keyset_rejects_unusable_documents),
        cmocka_unit_test(keyset_limits_entry_count),
        cmocka_unit_test(keyset_skips_wrong_key_types),
        cmocka_unit_test(keyset_skips_wrong_purpose),
        cmocka_unit_test(keyset_skips_private_members),
        cmocka_unit_test(keyset_skips_bad_kids),
        cmocka_unit_test(keyset_skips_bad_modulus),
        cmocka_unit_test(keyset_skips_bad_exponent),
        cmocka_unit_test(keyset_marks_duplicate_kids_ambiguous),
        cmocka_unit_test(keyset_ignores_skipped_duplicates),
        cmocka_unit_test(keyset_allows_null_on_skip),
        cmocka_unit_test(keyset_survives_mutated_documents),
        cmocka_unit_test(from_ne_builds_working_key),
        cmocka_unit_test(from_ne_checks_modulus_size),
        cmocka_unit_test(from_ne_checks_encoding),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
