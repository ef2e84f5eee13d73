/* SPDX-License-Identifier: MIT */
/*
 * RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) with OpenSSL 3 EVP.
 * Verification only reads the EVP_PKEY, so one cached key can serve several
 * threads at once; the initialised contexts are per thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "lti/jwt.h"

/* EVP_PKEY_RSA only: an RSA-PSS or EC key must not verify an RS256 token. */
static int is_rsa_key(EVP_PKEY *key)
{
    return key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
}

/*
 * EVP_DigestVerifyInit looks up the algorithm implementations on every call,
 * which costs about a fifth of a verification. Each thread keeps verification
 * contexts already initialised for the last few keys it used, and each call
 * verifies on a copy of one. A context holds a reference to its key, so a
 * cached key pointer cannot be freed and reused for another key while its
 * context is in the cache.
 */
#define VERIFY_CACHE_SLOTS 4

typedef struct verify_cache {
    EVP_PKEY *key[VERIFY_CACHE_SLOTS];
    EVP_MD_CTX *ctx[VERIFY_CACHE_SLOTS];
    unsigned next;
} verify_cache_t;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

static void free_cache(void *p)
{
    verify_cache_t *cache = p;
    for (int i = 0; i < VERIFY_CACHE_SLOTS; i++)
        EVP_MD_CTX_free(cache->ctx[i]);
    free(cache);
}

static void make_cache_key(void)
{
    cache_key_ok = pthread_key_create(&cache_key, free_cache) == 0;
}

static EVP_MD_CTX *new_verify_ctx(EVP_PKEY *key)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Returns this thread's initialised context for `key`, or NULL. */
static const EVP_MD_CTX *cached_verify_ctx(EVP_PKEY *key)
{
    pthread_once(&cache_once, make_cache_key);
    if (!cache_key_ok)
        return NULL;
    verify_cache_t *cache = pthread_getspecific(cache_key);
    if (cache == NULL) {
        if ((cache = calloc(1, sizeof(*cache))) == NULL)
            return NULL;
        if (pthread_setspecific(cache_key, cache) != 0) {
            free(cache);
            return NULL;
        }
    }
    for (int i = 0; i < VERIFY_CACHE_SLOTS; i++)
        if (cache->key[i] == key && cache->ctx[i] != NULL)
            return cache->ctx[i];
    EVP_MD_CTX *ctx = new_verify_ctx(key);
    if (ctx == NULL)
        return NULL;
    unsigned slot = cache->next++ % VERIFY_CACHE_SLOTS;
    EVP_MD_CTX_free(cache->ctx[slot]);
    cache->key[slot] = key;
    cache->ctx[slot] = ctx;
    return ctx;
}

int lti_rs256_verify(EVP_PKEY *key, const unsigned char *data, size_t len,
                     const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = NULL;
    int ok = 0;

    if (!is_rsa_key(key) || sig == NULL || (data == NULL && len > 0))
        return 0;
    /* RFC 8017 §8.2.2 step 1: the signature is exactly k bytes long, so
     * short or zero-padded encodings of the same integer are rejected.
     * OpenSSL 3.0's RSA_verify checks this too; the check here keeps the
     * rule when the provider changes. */
    int key_size = EVP_PKEY_get_size(key);
    if (key_size <= 0 || sig_len != (size_t)key_size)
        return 0;

    const EVP_MD_CTX *ready = cached_verify_ctx(key);
    if (ready != NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && EVP_MD_CTX_copy_ex(ctx, ready) != 1) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    } else {
        ctx = new_verify_ctx(key);
    }
    if (ctx == NULL)
        goto out;
    ok = EVP_DigestVerify(ctx, sig, sig_len, data != NULL ? data : (const unsigned char *)"",
                          len) == 1;

out:
    EVP_MD_CTX_free(ctx);
    /* A failed verification leaves entries on this thread's error queue.
     * They are dropped so that a later, unrelated call does not report them. */
    ERR_clear_error();
    return ok;
}

/* Signs into a new buffer of EVP_PKEY_get_size bytes; returns its length or 0. */
static size_t sign_raw(EVP_PKEY *key, const unsigned char *data, size_t len, unsigned char **out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;

    if (ctx == NULL)
        goto out;
    if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1)
        goto out;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto out;
    if (EVP_DigestSign(ctx, NULL, &sig_len, data, len) != 1)
        goto out;
    sig = malloc(sig_len);
    if (sig == NULL || EVP_DigestSign(ctx, sig, &sig_len, data, len) != 1) {
        free(sig);
        sig = NULL;
        sig_len = 0;
    }

out:
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    *out = sig;
    return sig_len;
}

char *lti_rs256_sign_b64(EVP_PKEY *key, const unsigned char *data, size_t len)
{
    unsigned char *sig = NULL;
    char *text = NULL;

    if (!is_rsa_key(key) || (data == NULL && len > 0))
        return NULL;
    if (data == NULL)
        data = (const unsigned char *)"";

    size_t sig_len = sign_raw(key, data, len, &sig);
    if (sig_len == 0)
        return NULL;
    text = malloc((sig_len + 2) / 3 * 4 + 1);
    if (text != NULL)
        lti_b64url_encode(sig, sig_len, text);
    free(sig);
    return text;
}
