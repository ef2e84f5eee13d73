/* SPDX-License-Identifier: MIT */
/* Login-state helpers (lti/oidc.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "lti/jwt.h"
#include "lti/oidc.h"

int lti_oidc_random(char out[LTI_OIDC_RANDOM_LEN])
{
    unsigned char bytes[LTI_OIDC_RANDOM_BYTES];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -1;
    lti_b64url_encode(bytes, sizeof(bytes), out);
    return 0;
}

int lti_oidc_random_pair(char a[LTI_OIDC_RANDOM_LEN], char b[LTI_OIDC_RANDOM_LEN])
{
    unsigned char bytes[2 * LTI_OIDC_RANDOM_BYTES];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -1;
    lti_b64url_encode(bytes, LTI_OIDC_RANDOM_BYTES, a);
    lti_b64url_encode(bytes + LTI_OIDC_RANDOM_BYTES, LTI_OIDC_RANDOM_BYTES, b);
    OPENSSL_cleanse(bytes, sizeof(bytes));
    return 0;
}

void lti_oidc_state_cookie_name(const char *state, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%.16s", LTI_OIDC_COOKIE_PREFIX, state);
}

int lti_oidc_target_is_ours(const lti_config_t *cfg, const char *target)
{
    size_t n = strlen(cfg->base_url);
    if (strncmp(target, cfg->base_url, n) != 0)
        return 0;
    /* "https://kaf.example.com.evil" and "https://kaf.example.com@evil" must
     * not pass as a prefix match. */
    return target[n] == '\0' || target[n] == '/' || target[n] == '?';
}

/* Formats an optional field as "<len>:" for a value, or "-" for NULL; the
 * value itself follows it in the record. */
static const char *optional_prefix(const char *value, char buf[24])
{
    if (value == NULL)
        return "-";
    snprintf(buf, 24, "%zu:", strlen(value));
    return buf;
}

char *lti_oidc_record_encode(size_t platform_index, const char *nonce, const char *target,
                             const char *deployment_hint, const char *storage_target,
                             long long created)
{
    char hint_len[24], storage_len[24];
    char *text = NULL;
    if (asprintf(&text, "r1 %zu %lld %zu:%s %zu:%s %s%s %s%s", platform_index, created,
                 strlen(nonce), nonce, strlen(target), target,
                 optional_prefix(deployment_hint, hint_len),
                 deployment_hint != NULL ? deployment_hint : "",
                 optional_prefix(storage_target, storage_len),
                 storage_target != NULL ? storage_target : "") < 0)
        return NULL;
    return text;
}

/* Reads a decimal number of at most 18 digits ending at `stop`. */
static const char *read_number(const char *p, const char *end, char stop, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 18)
        v = v * 10 + (unsigned long long)(*p++ - '0');
    if (p == start || p >= end || *p != stop)
        return NULL;
    *out = v;
    return p + 1;
}

/* Reads "<len>:<bytes>" followed by `stop` (or the end when stop is 0) and
 * copies the bytes, NUL-terminated, to *to. */
static const char *read_string(const char *p, const char *end, char stop, char **to,
                               const char **out)
{
    unsigned long long n;
    if ((p = read_number(p, end, ':', &n)) == NULL || n > (unsigned long long)(end - p))
        return NULL;
    if (stop != 0 ? (p + n >= end || p[n] != stop) : p + n != end)
        return NULL;
    if (memchr(p, '\0', n) != NULL)
        return NULL;
    memcpy(*to, p, n);
    (*to)[n] = '\0';
    *out = *to;
    *to += n + 1;
    return p + n + (stop != 0);
}

/* Reads "-" (NULL) or "<len>:<bytes>", followed by `stop` as read_string. */
static const char *read_optional(const char *p, const char *end, char stop, char **to,
                                 const char **out)
{
    if (p < end && *p == '-') {
        if (stop != 0 ? (p + 1 >= end || p[1] != stop) : p + 1 != end)
            return NULL;
        *out = NULL;
        return p + 1 + (stop != 0);
    }
    return read_string(p, end, stop, to, out);
}

int lti_oidc_record_decode(const lti_config_t *cfg, const char *buf, size_t len,
                           lti_oidc_record_t *out)
{
    const char *p = buf, *end = buf + len;
    unsigned long long index, created;

    memset(out, 0, sizeof(*out));
    if (len < 3 || memcmp(buf, "r1 ", 3) != 0 || (out->owned = malloc(len)) == NULL)
        return -1;
    char *to = out->owned;
    p = read_number(p + 3, end, ' ', &index);
    p = p != NULL ? read_number(p, end, ' ', &created) : NULL;
    p = p != NULL ? read_string(p, end, ' ', &to, &out->nonce) : NULL;
    p = p != NULL ? read_string(p, end, ' ', &to, &out->target_link_uri) : NULL;
    p = p != NULL ? read_optional(p, end, ' ', &to, &out->deployment_hint) : NULL;
    p = p != NULL ? read_optional(p, end, 0, &to, &out->storage_target) : NULL;
    if (p == NULL || index >= cfg->n_platforms || created > (unsigned long long)INT64_MAX) {
        lti_oidc_record_clear(out);
        return -1;
    }
    out->platform_index = (size_t)index;
    out->created = (long long)created;
    return 0;
}

void lti_oidc_record_clear(lti_oidc_record_t *record)
{
    free(record->owned);
    memset(record, 0, sizeof(*record));
}
