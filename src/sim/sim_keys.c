/* SPDX-License-Identifier: MIT */
/* Platform key ring: generation, rotation, JWKS output, libjwt signing and
 * the optional keys.json file that lets a restarted platform keep its keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "sim_int.h"
#include "sim_keys.h"

static const char *const slot_names[SIM_KEY_SLOTS] = {"past", "present", "future"};

static void key_clear(sim_key_t *key)
{
    EVP_PKEY_free(key->pkey);
    if (key->pem != NULL) {
        OPENSSL_cleanse(key->pem, strlen(key->pem));
        free(key->pem);
    }
    memset(key, 0, sizeof(*key));
}

static char *private_pem(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long len;
    if (bio == NULL)
        return NULL;
    if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
        (len = BIO_get_mem_data(bio, &data)) > 0 && (out = malloc((size_t)len + 1)) != NULL) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

/* Makes a new RSA-2048 key whose kid is the creation time, bumped by whole
 * seconds so that keys made within one second still get distinct kids. */
static int key_generate(sim_keyring_t *ring, sim_key_t *key)
{
    int64_t t = (int64_t)time(NULL);
    if (t <= ring->last_kid_time)
        t = ring->last_kid_time + 1;
    key->pkey = EVP_RSA_gen(2048);
    if (key->pkey == NULL)
        return -1;
    key->pem = private_pem(key->pkey);
    if (key->pem == NULL) {
        key_clear(key);
        return -1;
    }
    sim_iso8601(t, key->kid);
    ring->last_kid_time = t;
    return 0;
}

static int ring_save(const sim_keyring_t *ring)
{
    if (ring->path == NULL)
        return 0;
    json_t *doc = json_pack("{s:I}", "last_kid_time", (json_int_t)ring->last_kid_time);
    for (int i = 0; i < SIM_KEY_SLOTS; i++)
        json_object_set_new(
            doc, slot_names[i],
            json_pack("{s:s,s:s}", "kid", ring->slot[i].kid, "pem", ring->slot[i].pem));
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (text == NULL)
        return -1;

    /* Write a temporary file readable by the owner only, then rename it
     * over keys.json so a reader never sees half a file. */
    size_t plen = strlen(ring->path) + 5;
    char *tmp = malloc(plen);
    int rc = -1;
    if (tmp != NULL) {
        snprintf(tmp, plen, "%s.tmp", ring->path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            size_t len = strlen(text);
            int ok = write(fd, text, len) == (ssize_t)len;
            ok = close(fd) == 0 && ok;
            rc = ok && rename(tmp, ring->path) == 0 ? 0 : -1;
        }
        free(tmp);
    }
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return rc;
}

static EVP_PKEY *pem_to_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return pkey;
}

/* Returns 1 when loaded, 0 when the file does not exist, -1 on errors. */
static int ring_load(sim_keyring_t *ring, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_load_file(ring->path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        if (access(ring->path, F_OK) != 0 && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: invalid key file: %s", ring->path, jerr.text);
        return -1;
    }
    json_int_t last = 0;
    int rc = json_unpack(doc, "{s:I}", "last_kid_time", &last) == 0 ? 1 : -1;
    ring->last_kid_time = (int64_t)last;
    for (int i = 0; i < SIM_KEY_SLOTS && rc == 1; i++) {
        const char *kid = NULL, *pem = NULL;
        if (json_unpack(json_object_get(doc, slot_names[i]), "{s:s,s:s}", "kid", &kid, "pem",
                        &pem) != 0 ||
            strlen(kid) >= SIM_KID_MAX) {
            rc = -1;
            break;
        }
        sim_key_t *key = &ring->slot[i];
        snprintf(key->kid, sizeof(key->kid), "%s", kid);
        key->pem = strdup(pem);
        key->pkey = pem_to_key(pem);
        if (key->pem == NULL || key->pkey == NULL)
            rc = -1;
    }
    json_decref(doc);
    if (rc != 1)
        snprintf(err, errlen, "%s: key file lacks past, present or future key", ring->path);
    return rc;
}

int sim_keyring_init(sim_keyring_t *ring, const char *state_dir, char *err, size_t errlen)
{
    memset(ring, 0, sizeof(*ring));
    if (state_dir != NULL) {
        size_t len = strlen(state_dir) + sizeof("/keys.json");
        ring->path = malloc(len);
        if (ring->path == NULL)
            goto fail;
        snprintf(ring->path, len, "%s/keys.json", state_dir);
        int loaded = ring_load(ring, err, errlen);
        if (loaded < 0)
            goto fail;
        if (loaded == 1)
            return 0;
    }
    for (int i = 0; i < SIM_KEY_SLOTS; i++) {
        if (key_generate(ring, &ring->slot[i]) != 0) {
            snprintf(err, errlen, "RSA-2048 key generation failed");
            goto fail;
        }
    }
    if (ring_save(ring) != 0) {
        snprintf(err, errlen, "%s: cannot write key file: %s", ring->path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    sim_keyring_clear(ring);
    return -1;
}

void sim_keyring_clear(sim_keyring_t *ring)
{
    for (int i = 0; i < SIM_KEY_SLOTS; i++)
        key_clear(&ring->slot[i]);
    free(ring->path);
    ring->path = NULL;
}

int sim_keyring_rotate(sim_keyring_t *ring, int publish)
{
    sim_key_t fresh;
    memset(&fresh, 0, sizeof(fresh));
    if (key_generate(ring, &fresh) != 0)
        return -1;

    key_clear(&ring->slot[SIM_KEY_PAST]);
    ring->slot[SIM_KEY_PAST] = ring->slot[SIM_KEY_PRESENT];
    if (publish) {
        ring->slot[SIM_KEY_PRESENT] = ring->slot[SIM_KEY_FUTURE];
        ring->slot[SIM_KEY_FUTURE] = fresh;
    } else {
        ring->slot[SIM_KEY_PRESENT] = fresh;
    }
    return ring_save(ring);
}

/* Appends {"kty","alg","use","kid","n","e"} for `key` to `keys`. */
static int add_jwk(json_t *keys, const sim_key_t *key)
{
    BIGNUM *n = NULL, *e = NULL;
    int rc = -1;
    if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
        goto out;
    unsigned char nbuf[1024], ebuf[16];
    int nlen = BN_bn2bin(n, nbuf);
    int elen = BN_bn2bin(e, ebuf);
    char *n64 = sim_b64url_encode(nbuf, (size_t)nlen);
    char *e64 = sim_b64url_encode(ebuf, (size_t)elen);
    if (n64 != NULL && e64 != NULL)
        rc = json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "e",
                                                   e64, "n", n64, "kid", key->kid, "alg", "RS256",
                                                   "use", "sig"));
    free(n64);
    free(e64);
out:
    BN_free(n);
    BN_free(e);
    return rc;
}

char *sim_keyring_jwks(const sim_keyring_t *ring)
{
    json_t *keys = json_array();
    for (int i = 0; i < SIM_KEY_SLOTS; i++)
        add_jwk(keys, &ring->slot[i]);
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

char *sim_keyring_sign(const sim_keyring_t *ring, const char *payload_json,
                       const char *kid_override)
{
    const sim_key_t *key = &ring->slot[SIM_KEY_PRESENT];
    jwt_t *jwt = NULL;
    char *token = NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grants_json(jwt, payload_json) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)key->pem, (int)strlen(key->pem)) ==
            0 &&
        jwt_add_header(jwt, "kid", kid_override != NULL ? kid_override : key->kid) == 0)
        token = jwt_encode_str(jwt);
    jwt_free(jwt);
    return token;
}
