/* SPDX-License-Identifier: MIT */
/*
 * Runs Wycheproof test vectors (C2SP/wycheproof, testvectors_v1) through the
 * RS256 verifier and the JWS parser. The vector files are read from
 * $LTIGATE_SOURCE_DIR/../shared/vectors/wycheproof, outside this repository.
 * When they are absent, each test reports "skipped", never "passed".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/x509.h>
#include "lti/jwks.h"
#include "lti/jwt.h"

/* Returns the parsed vector file, or NULL when it does not exist. */
static json_t *load_vectors(const char *name)
{
    const char *source_dir = getenv("LTIGATE_SOURCE_DIR");
    char path[4096];
    json_error_t jerr;

    snprintf(path, sizeof(path), "%s/../shared/vectors/wycheproof/%s",
             source_dir != NULL ? source_dir : ".", name);
    if (access(path, R_OK) != 0) {
        print_message("%s not found, skipping\n", path);
        return NULL;
    }
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        print_error("%s: %s\n", path, jerr.text);
    assert_non_null(root);
    return root;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the hex string member `name` of `obj` into a new buffer. */
static unsigned char *hex_member(const json_t *obj, const char *name, size_t *len)
{
    const char *hex = json_string_value(json_object_get(obj, name));
    assert_non_null(hex);
    size_t hex_len = strlen(hex);
    assert_int_equal(hex_len % 2, 0);
    unsigned char *out = malloc(hex_len / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        assert_true(hi >= 0 && lo >= 0);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = hex_len / 2;
    return out;
}

static EVP_PKEY *key_from_der(const json_t *group)
{
    size_t der_len = 0;
    unsigned char *der = hex_member(group, "publicKeyDer", &der_len);
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_len);

    assert_non_null(key);
    free(der);
    return key;
}

/* For e = 65537, checks that lti_rsa_pubkey_from_ne builds the same key from
 * the group's modulus, which Wycheproof writes with a leading 00 sign byte. */
static void check_from_ne_matches(const json_t *group, EVP_PKEY *der_key)
{
    const json_t *public_key = json_object_get(group, "publicKey");
    size_t n_len = 0;
    size_t e_len = 0;
    unsigned char *n = hex_member(public_key, "modulus", &n_len);
    unsigned char *e = hex_member(public_key, "publicExponent", &e_len);
    char why[200] = "";

    if (e_len == 3 && memcmp(e, "\x01\x00\x01", 3) == 0) {
        assert_int_equal(n[0], 0);
        EVP_PKEY *built = lti_rsa_pubkey_from_ne(n + 1, n_len - 1, e, e_len, why, sizeof(why));
        assert_non_null(built);
        assert_int_equal(EVP_PKEY_eq(built, der_key), 1);
        EVP_PKEY_free(built);
        /* The sign byte itself is a leading zero, which a JWK must not have. */
        assert_null(lti_rsa_pubkey_from_ne(n, n_len, e, e_len, why, sizeof(why)));
    } else {
        assert_null(lti_rsa_pubkey_from_ne(n + 1, n_len - 1, e, e_len, why, sizeof(why)));
    }
    free(e);
    free(n);
}

typedef struct rsa_counts {
    int valid_accepted;
    int invalid_rejected;
    int acceptable_accepted;
    int acceptable_rejected;
} rsa_counts_t;

static void run_rsa_case(EVP_PKEY *key, const json_t *test, rsa_counts_t *counts)
{
    size_t msg_len = 0;
    size_t sig_len = 0;
    unsigned char *msg = hex_member(test, "msg", &msg_len);
    unsigned char *sig = hex_member(test, "sig", &sig_len);
    const char *result = json_string_value(json_object_get(test, "result"));
    int id = (int)json_integer_value(json_object_get(test, "tcId"));
    int ok = lti_rs256_verify(key, msg, msg_len, sig, sig_len);

    assert_non_null(result);
    if (strcmp(result, "valid") == 0) {
        if (!ok)
            print_error("tcId %d: valid signature rejected\n", id);
        assert_int_equal(ok, 1);
        counts->valid_accepted++;
    } else if (strcmp(result, "invalid") == 0) {
        if (ok)
            print_error("tcId %d: invalid signature accepted\n", id);
        assert_int_equal(ok, 0);
        counts->invalid_rejected++;
    } else {
        if (ok)
            counts->acceptable_accepted++;
        else
            counts->acceptable_rejected++;
    }
    free(sig);
    free(msg);
}

static void wycheproof_rsa_pkcs1_sha256(void **state)
{
    json_t *root = load_vectors("rsa_signature_2048_sha256_test.json");
    rsa_counts_t counts = {0};
    size_t gi;
    size_t ti;
    const json_t *group;
    const json_t *test;

    if (root == NULL) {
        skip();
        return;
    }
    json_array_foreach(json_object_get(root, "testGroups"), gi, group) {
        EVP_PKEY *key = key_from_der(group);
        check_from_ne_matches(group, key);
        json_array_foreach(json_object_get(group, "tests"), ti, test)
            run_rsa_case(key, test, &counts);
        EVP_PKEY_free(key);
    }

    print_message("wycheproof rsa: %d valid accepted, %d invalid rejected, %d acceptable "
                  "(%d accepted, %d rejected)\n",
                  counts.valid_accepted, counts.invalid_rejected,
                  counts.acceptable_accepted + counts.acceptable_rejected,
                  counts.acceptable_accepted, counts.acceptable_rejected);
    int total = counts.valid_accepted + counts.invalid_rejected + counts.acceptable_accepted +
                counts.acceptable_rejected;
    assert_int_equal(total, json_integer_value(json_object_get(root, "numberOfTests")));
    assert_true(counts.valid_accepted > 0);
    assert_true(counts.invalid_rejected > 0);
    json_decref(root);
}

/* Builds the key set a platform would publish for this group: its public
 * JWK, or its private JWK when the group has no public one. The private
 * form is never usable, so such groups get an empty set. */
static void keyset_for_group(const json_t *group, lti_keyset_t *set)
{
    const json_t *jwk = json_object_get(group, "public");
    if (jwk == NULL)
        jwk = json_object_get(group, "private");
    json_t *doc = json_pack("{s:[O]}", "keys", jwk);
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);

    if (lti_keyset_parse(text, strlen(text), 8, set, NULL, NULL, NULL, 0) != 0)
        memset(set, 0, sizeof(*set));
    free(text);
    json_decref(doc);
}

/* A JWK with private members (d, p, q, ...) must never become a
 * verification key, even when its public half is fine. */
static void check_private_jwk_rejected(const json_t *group)
{
    const json_t *jwk = json_object_get(group, "private");
    lti_keyset_t set;

    if (jwk == NULL)
        return;
    json_t *doc = json_pack("{s:[O]}", "keys", jwk);
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_int_equal(lti_keyset_parse(text, strlen(text), 8, &set, NULL, NULL, NULL, 0), -1);
    free(text);
    json_decref(doc);
}

/* Returns whether `token` passes the parser and verifies with the key named
 * by its kid. `opaque` skips the payload JSON check, because most Wycheproof
 * payloads are not JSON ("foo"). `reason` receives the parse result. */
static int token_accepted(const char *token, const lti_keyset_t *set, int opaque,
                          lti_reason_t *reason)
{
    lti_jws_t jws;
    size_t len = strlen(token);

    *reason = opaque ? lti_jws_parse_opaque(token, len, &jws, NULL)
                     : lti_jws_parse(token, len, &jws, NULL);
    if (*reason != LTI_R_ok)
        return 0;
    EVP_PKEY *key = lti_keyset_find(set, jws.kid, NULL);
    int ok = key != NULL && lti_rs256_verify(key, (const unsigned char *)jws.signing_input,
                                             jws.signing_input_len, jws.sig, jws.sig_len);
    lti_jws_clear(&jws);
    return ok;
}

typedef struct jws_counts {
    int cases;
    int valid_accepted;
    int valid_rejected_by_policy;
    int invalid_rejected;
} jws_counts_t;

static void run_jws_case(const json_t *test, const lti_keyset_t *set, jws_counts_t *counts)
{
    const char *token = json_string_value(json_object_get(test, "jws"));
    const char *result = json_string_value(json_object_get(test, "result"));
    int id = (int)json_integer_value(json_object_get(test, "tcId"));
    lti_reason_t full_reason;
    lti_reason_t opaque_reason;

    assert_non_null(token);
    assert_non_null(result);
    int full = token_accepted(token, set, 0, &full_reason);
    int opaque = token_accepted(token, set, 1, &opaque_reason);
    counts->cases++;

    if (strcmp(result, "valid") != 0) {
        if (full || opaque)
            print_error("tcId %d: invalid token accepted\n", id);
        assert_false(full);
        assert_false(opaque);
        counts->invalid_rejected++;
        return;
    }
    if (opaque) {
        counts->valid_accepted++;
        return;
    }
    /* A valid token that passes the shape and header checks while the group
     * has a usable key must verify; otherwise the verifier rejects good input. */
    int should_verify = opaque_reason == LTI_R_ok && set->n_keys > 0;
    if (should_verify)
        print_error("tcId %d: valid RS256 token rejected by the signature check\n", id);
    assert_false(should_verify);
    counts->valid_rejected_by_policy++;
}

static void wycheproof_jws(void **state)
{
    json_t *root = load_vectors("json_web_signature_test.json");
    jws_counts_t counts = {0};
    size_t gi;
    size_t ti;
    const json_t *group;
    const json_t *test;

    if (root == NULL) {
        skip();
        return;
    }
    json_array_foreach(json_object_get(root, "testGroups"), gi, group) {
        lti_keyset_t set;
        check_private_jwk_rejected(group);
        keyset_for_group(group, &set);
        json_array_foreach(json_object_get(group, "tests"), ti, test)
            run_jws_case(test, &set, &counts);
        lti_keyset_clear(&set);
    }

    print_message("wycheproof jws: %d cases; %d valid RS256 accepted, %d valid rejected by "
                  "policy (other alg, key or empty payload), %d invalid rejected\n",
                  counts.cases, counts.valid_accepted, counts.valid_rejected_by_policy,
                  counts.invalid_rejected);
    assert_int_equal(counts.cases, json_integer_value(json_object_get(root, "numberOfTests")));
    assert_true(counts.valid_accepted > 0);
    assert_true(counts.invalid_rejected > 0);
    json_decref(root);
}

/* CTest maps this exit status to "skipped" (SKIP_RETURN_CODE in
 * CMakeLists.txt), so a run without the vectors never counts as passed. */
#define EXIT_SKIPPED 77

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wycheproof_rsa_pkcs1_sha256),
        cmocka_unit_test(wycheproof_jws),
    };
    json_t *probe = load_vectors("rsa_signature_2048_sha256_test.json");
    if (probe == NULL)
        return EXIT_SKIPPED;
    json_decref(probe);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
