/* SPDX-License-Identifier: MIT */
/*
 * Session tokens for URLs and form fields (lti/session.h): a facts object,
 * packed as in session cookies (lti_session_pack) and sealed with
 * AES-256-GCM under a key derived from the session secret, for browsers
 * that return no cookie to ltigate's frame.
 *
 * The token is encrypted, not only signed, because URLs end up in browser
 * history and in proxy logs, and the object contains the user's name and
 * course. The key is HMAC-SHA256(session secret, label), so instances that
 * share sessionSecretFile accept each other's tokens, and a session cookie
 * never verifies as a token or the other way round.
 *
 * Layout: base64url(12-byte IV || ciphertext || 16-byte tag); the kind
 * ("session" or "selection") is bound as additional authenticated data.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "lti/jwt.h"
#include "lti/session.h"

#define IV_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32
/* Largest body sealed: the encoded token stays within LTI_SESSION_MAX_TOKEN.
 * It is larger than the largest cookie body, so every session that fits a
 * cookie also fits a token. */
#define MAX_PLAIN ((LTI_SESSION_MAX_TOKEN / 4) * 3 - IV_LEN - TAG_LEN)

static const char key_label[] = "ltigate session token key v1";

static void derive_key(const lti_config_t *cfg, unsigned char key[KEY_LEN])
{
    unsigned int len = KEY_LEN;
    HMAC(EVP_sha256(), cfg->session_secret, (int)cfg->session_secret_len,
         (const unsigned char *)key_label, sizeof(key_label) - 1, key, &len);
}

/* Runs AES-256-GCM over `in`; `encrypt` selects the direction. Returns the
 * output length, or -1 when the tag does not verify or OpenSSL fails. */
static long gcm(int encrypt, const unsigned char key[KEY_LEN], const unsigned char iv[IV_LEN],
                const char *kind, const unsigned char *in, size_t len, unsigned char *out,
                unsigned char tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    long result = -1;

    if (ctx == NULL)
        return -1;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, encrypt) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)kind, (int)strlen(kind)) != 1 ||
        EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
        goto out;
    if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
        goto out;
    if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        goto out;
    result = (long)n + fin;
out:
    EVP_CIPHER_CTX_free(ctx);
    return result;
}

char *lti_session_token_seal(const lti_config_t *cfg, const char *kind, json_t *facts,
                             int64_t now)
{
    unsigned char key[KEY_LEN];
    unsigned char *raw = NULL;
    unsigned char *plain = NULL;
    char *token = NULL;
    size_t len = 0;
    json_t *copy = json_copy(facts);

    if (copy == NULL || cfg->session_token_lifetime == 0)
        goto out;
    json_object_set_new(copy, "token_iat", json_integer(now));
    plain = lti_session_pack(copy, MAX_PLAIN, &len);
    if (plain == NULL || (raw = malloc(IV_LEN + len + TAG_LEN)) == NULL)
        goto out;
    if (RAND_bytes(raw, IV_LEN) != 1)
        goto out;
    derive_key(cfg, key);
    long n = gcm(1, key, raw, kind, plain, len, raw + IV_LEN, raw + IV_LEN + len);
    OPENSSL_cleanse(key, sizeof(key));
    if (n != (long)len || (token = malloc((IV_LEN + len + TAG_LEN + 2) / 3 * 4 + 1)) == NULL)
        goto out;
    lti_b64url_encode(raw, IV_LEN + len + TAG_LEN, token);
out:
    if (plain != NULL)
        OPENSSL_clear_free(plain, len);
    free(raw);
    json_decref(copy);
    return token;
}

json_t *lti_session_token_open(const lti_config_t *cfg, const char *kind, const char *value,
                               size_t len, int64_t now, lti_err_t *err)
{
    unsigned char key[KEY_LEN];
    unsigned char *raw = NULL, *plain = NULL;
    json_t *facts = NULL;

    if (cfg->session_token_lifetime == 0) {
        lti_err_set(err, LTI_R_session_invalid, "session tokens are off (sessionTokenLifetime 0)");
        goto out;
    }
    if (len > LTI_SESSION_MAX_TOKEN || (raw = malloc(len * 3 / 4 + 2)) == NULL) {
        lti_err_set(err, LTI_R_session_invalid, "session token too long");
        goto out;
    }
    long n = lti_b64url_decode(value, len, raw);
    if (n <= IV_LEN + TAG_LEN || (plain = malloc((size_t)n)) == NULL) {
        lti_err_set(err, LTI_R_session_invalid, "session token is not base64url or too short");
        goto out;
    }
    size_t body = (size_t)n - IV_LEN - TAG_LEN;
    derive_key(cfg, key);
    long m = gcm(0, key, raw, kind, raw + IV_LEN, body, plain, raw + IV_LEN + body);
    OPENSSL_cleanse(key, sizeof(key));
    if (m != (long)body) {
        lti_err_set(err, LTI_R_session_invalid, "session token does not verify");
        goto out;
    }
    facts = lti_session_unpack(plain, body);
    OPENSSL_cleanse(plain, body);
    if (facts == NULL) {
        lti_err_set(err, LTI_R_session_invalid,
                    "session token body is not in the version 1 format");
        goto out;
    }
    /* The lifetime in force now applies, so lowering sessionTokenLifetime
     * shortens tokens already issued. */
    json_t *iat = json_object_get(facts, "token_iat");
    json_t *exp = json_object_get(facts, "exp");
    if (!json_is_integer(iat) || json_integer_value(iat) > now + (int64_t)cfg->clock_skew ||
        json_integer_value(iat) + (int64_t)cfg->session_token_lifetime <= now ||
        !json_is_integer(exp) || json_integer_value(exp) <= now) {
        lti_err_set(err, LTI_R_session_expired, "session token expired");
        json_decref(facts);
        facts = NULL;
        goto out;
    }
    json_object_del(facts, "token_iat");
out:
    free(raw);
    free(plain);
    return facts;
}
