/* SPDX-License-Identifier: MIT */
/*
 * Secrets named by the hosted section: the tool's RSA signing key (and the
 * next key during a rotation), read from unencrypted PEM files, and the
 * session secret, read raw from a file or drawn from RAND_bytes per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "lti/log.h"
#include "config_int.h"

/* A PEM RSA key of 16384 bits is about 13 KB, so a larger file is a wrong path. */
#define KEY_FILE_MAX (64 * 1024)
/* RFC 7518 §3.3: RS256 keys are at least 2048 bits. */
#define KEY_MIN_BITS 2048
#define SECRET_MIN 32
#define SECRET_MAX 64

/* Reads a regular file of less than `cap` bytes. Returns the byte count,
 * or -1 after reporting the failure at `node` for `key`. A larger file is
 * rejected with `too_big_hint`, never cut. */
static ssize_t read_small_file(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                               const char *path, unsigned char *buf, size_t cap,
                               const char *too_big_hint)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    size_t len = 0;

    if (fd < 0)
        return cfg_fail(ctx, node, key, "cannot open '%s': %s; check the path (a relative path "
                        "is relative to the config file's directory)", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cfg_fail(ctx, node, key, "'%s' is not a regular file; check the path", path);
    }
    if (st.st_mode & S_IROTH)
        lti_log(LTI_LOG_WARN, "config", "%s: %s is readable by every user; chmod 600 it", key,
                path);
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return cfg_fail(ctx, node, key, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) {
            close(fd);
            return cfg_fail(ctx, node, key, "'%s' has more than %zu bytes; %s", path, cap - 1,
                            too_big_hint);
        }
    }
    close(fd);
    return (ssize_t)len;
}

/* Fails every passphrase request, because OpenSSL's default callback would
 * read a passphrase from the terminal and block the service start. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    *(int *)arg = 1;
    return -1;
}

static int check_rsa_key(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                         const char *path, EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
        return cfg_fail(ctx, node, key, "'%s' holds a key of type %s; the tool signs with RS256 "
                        "and needs an RSA key of at least %d bits", path,
                        EVP_PKEY_get0_type_name(pkey) != NULL ? EVP_PKEY_get0_type_name(pkey)
                                                              : "non-RSA", KEY_MIN_BITS);
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < KEY_MIN_BITS)
        return cfg_fail(ctx, node, key, "'%s' is an RSA key of %d bits; RS256 needs at least "
                        "%d, create a new key with: openssl genpkey -algorithm RSA -pkeyopt "
                        "rsa_keygen_bits:2048", path, bits, KEY_MIN_BITS);
    return 0;
}

static int load_rsa_key(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                        const char *path, EVP_PKEY **out)
{
    unsigned char *buf = malloc(KEY_FILE_MAX + 1);
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int prompted = 0, rc = -1;

    if (buf == NULL)
        return cfg_fail(ctx, node, key, "out of memory");
    ssize_t len = read_small_file(ctx, node, key, path, buf, KEY_FILE_MAX + 1,
                                  "a PEM private key is smaller, check the path");
    if (len < 0)
        goto out;
    if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
        cfg_fail(ctx, node, key, "out of memory");
        goto out;
    }
    ERR_set_mark();
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &prompted);
    ERR_pop_to_mark();
    if (pkey == NULL && prompted) {
        cfg_fail(ctx, node, key, "'%s' is encrypted with a passphrase; store the key "
                 "unencrypted, readable only by the service user", path);
        goto out;
    }
    if (pkey == NULL) {
        cfg_fail(ctx, node, key, "'%s' does not hold a PEM private key; create one with: "
                 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", path);
        goto out;
    }
    if (check_rsa_key(ctx, node, key, path, pkey) != 0)
        goto out;
    *out = pkey;
    pkey = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
    free(buf);
    return rc;
}

static int load_session_secret(cfg_ctx_t *ctx, const yaml_node_t *node, lti_config_t *cfg)
{
    const char *key = "hosted.sessionSecretFile";
    unsigned char buf[SECRET_MAX + 1];

    if (cfg->session_secret_file == NULL) {
        if (RAND_bytes(cfg->session_secret, SECRET_MIN) != 1)
            return cfg_fail(ctx, NULL, key, "RAND_bytes failed to produce a session secret");
        cfg->session_secret_len = SECRET_MIN;
        cfg->session_secret_from_file = 0;
        return 0;
    }
    ssize_t len = read_small_file(ctx, node, key, cfg->session_secret_file, buf, sizeof(buf),
                                  "the secret is 32 to 64 random bytes, read raw");
    if (len >= 0 && len < SECRET_MIN)
        cfg_fail(ctx, node, key, "'%s' has %zd bytes; it needs %d to %d random bytes, for "
                 "example from: head -c 32 /dev/urandom", cfg->session_secret_file, len,
                 SECRET_MIN, SECRET_MAX);
    if (len >= SECRET_MIN) {
        memcpy(cfg->session_secret, buf, (size_t)len);
        cfg->session_secret_len = (size_t)len;
        cfg->session_secret_from_file = 1;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return len >= SECRET_MIN ? 0 : -1;
}

static const yaml_node_t *hosted_node(const yaml_node_t **nodes, const char *name,
                                      const yaml_node_t *where)
{
    const yaml_node_t *n = nodes[cfg_row_index(&cfg_hosted_section, name)];
    return n != NULL ? n : where;
}

int cfg_load_secrets(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                     lti_config_t *cfg)
{
    const char *next_key = "hosted.lti13ServiceNextPrivateKey";
    const yaml_node_t *next_node = hosted_node(nodes, "lti13ServiceNextPrivateKey", where);

    if (load_rsa_key(ctx, hosted_node(nodes, "lti13ServicePrivateKey", where),
                     "hosted.lti13ServicePrivateKey", cfg->private_key_file,
                     &cfg->private_key) != 0)
        return -1;
    if (cfg->next_private_key_file != NULL) {
        if (load_rsa_key(ctx, next_node, next_key, cfg->next_private_key_file,
                         &cfg->next_private_key) != 0)
            return -1;
        /* Both keys are published in the tool's JWKS. The same key twice
         * would be published as two entries and rotate nothing. */
        if (EVP_PKEY_eq(cfg->private_key, cfg->next_private_key) == 1)
            return cfg_fail(ctx, next_node, next_key, "is the same key as "
                            "lti13ServicePrivateKey; give the new key here, or remove it");
    }
    return load_session_secret(ctx, hosted_node(nodes, "sessionSecretFile", where), cfg);
}

ssize_t cfg_read_secret_file(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                             const char *path, unsigned char *buf, size_t cap,
                             const char *too_big_hint)
{
    return read_small_file(ctx, node, key, path, buf, cap, too_big_hint);
}
