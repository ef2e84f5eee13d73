/* SPDX-License-Identifier: MIT */
/*
 * The tool's public keys (lti/tool.h): RFC 7638 thumbprints as kid, public
 * JWKs, the JWK set served at /hosted/index/jwks, and the bundle of
 * documents built once at start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "lti/jwt.h"
#include "lti/tool.h"

#define MAX_MODULUS_BYTES 1024 /* 8192-bit keys */

/* Writes base64url of the big-endian bytes of one RSA parameter. */
static char *param_b64(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char bytes[MAX_MODULUS_BYTES];
    char *out = NULL;

    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return NULL;
    int len = BN_num_bytes(bn);
    if (len > 0 && len <= MAX_MODULUS_BYTES && BN_bn2bin(bn, bytes) == len &&
        (out = malloc(((size_t)len + 2) / 3 * 4 + 1)) != NULL)
        lti_b64url_encode(bytes, (size_t)len, out);
    BN_free(bn);
    return out;
}

int lti_jwk_thumbprint(EVP_PKEY *key, char kid[LTI_JWK_KID_LEN])
{
    char *n = NULL, *e = NULL, *canonical = NULL;
    unsigned char digest[32];
    int rc = -1;

    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        return -1;
    n = param_b64(key, OSSL_PKEY_PARAM_RSA_N);
    e = param_b64(key, OSSL_PKEY_PARAM_RSA_E);
    /* RFC 7638 §3.2: the required members in lexicographic order, no spaces. */
    if (n == NULL || e == NULL ||
        asprintf(&canonical, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n) < 0) {
        canonical = NULL;
        goto out;
    }
    if (EVP_Digest(canonical, strlen(canonical), digest, NULL, EVP_sha256(), NULL) != 1)
        goto out;
    lti_b64url_encode(digest, sizeof(digest), kid);
    rc = 0;
out:
    free(n);
    free(e);
    free(canonical);
    return rc;
}

json_t *lti_jwk_public(EVP_PKEY *key)
{
    char kid[LTI_JWK_KID_LEN];
    char *n = NULL, *e = NULL;
    json_t *jwk = NULL;

    if (lti_jwk_thumbprint(key, kid) != 0)
        return NULL;
    n = param_b64(key, OSSL_PKEY_PARAM_RSA_N);
    e = param_b64(key, OSSL_PKEY_PARAM_RSA_E);
    if (n != NULL && e != NULL)
        jwk = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "alg", "RS256", "use", "sig",
                        "kid", kid, "n", n, "e", e);
    free(n);
    free(e);
    return jwk;
}

/* Builds {"keys":[current, next]}; the next key is published before it
 * signs, so a platform that caches the set already holds it after a switch. */
static char *build_jwks(const lti_config_t *cfg)
{
    json_t *keys = json_array();
    json_t *doc = json_pack("{s:o}", "keys", keys);
    EVP_PKEY *list[2] = {cfg->private_key, cfg->next_private_key};
    char *text = NULL;

    for (size_t i = 0; i < 2; i++) {
        if (list[i] == NULL)
            continue;
        json_t *jwk = lti_jwk_public(list[i]);
        if (jwk == NULL)
            goto out;
        json_array_append_new(keys, jwk);
    }
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(doc);
    return text;
}

lti_tool_t *lti_tool_new(const lti_config_t *cfg, char *errbuf, size_t errlen)
{
    lti_tool_t *tool = calloc(1, sizeof(*tool));
    json_t *devkey = NULL;

    if (tool == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    tool->signing_key = cfg->private_key;
    if (lti_jwk_thumbprint(cfg->private_key, tool->kid) != 0 ||
        (tool->jwks_json = build_jwks(cfg)) == NULL) {
        snprintf(errbuf, errlen, "cannot build the public JWK set from lti13ServicePrivateKey");
        goto fail;
    }
    tool->jwks_len = strlen(tool->jwks_json);
    devkey = lti_devkey_build(cfg, 0);
    tool->devkey_json = devkey != NULL ? json_dumps(devkey, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                                       : NULL;
    json_decref(devkey);
    if (tool->devkey_json == NULL) {
        snprintf(errbuf, errlen, "cannot build the Canvas developer-key JSON");
        goto fail;
    }
    if (cfg->media_catalog_file != NULL) {
        tool->catalog = lti_catalog_load(cfg->media_catalog_file, errbuf, errlen);
        if (tool->catalog == NULL)
            goto fail;
    } else {
        tool->catalog = calloc(1, sizeof(*tool->catalog));
        if (tool->catalog == NULL) {
            snprintf(errbuf, errlen, "out of memory");
            goto fail;
        }
    }
    return tool;
fail:
    lti_tool_free(tool);
    return NULL;
}

void lti_tool_free(lti_tool_t *tool)
{
    if (tool == NULL)
        return;
    free(tool->jwks_json);
    free(tool->devkey_json);
    lti_catalog_free(tool->catalog);
    free(tool);
}
