/* SPDX-License-Identifier: MIT */
/* Buffers, form parsing, escaping and identifiers for the simulators. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "lti/jwt.h"
#include "sim_int.h"

void sim_buf_init(sim_buf_t *buf, size_t max)
{
    memset(buf, 0, sizeof(*buf));
    buf->max = max;
}

void sim_buf_free(sim_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

int sim_buf_append(sim_buf_t *buf, const void *data, size_t len)
{
    if (buf->overflow || len > buf->max - buf->len) {
        buf->overflow = 1;
        return -1;
    }
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap == 0 ? 256 : buf->cap;
        while (cap < buf->len + len + 1)
            cap *= 2;
        char *p = realloc(buf->data, cap);
        if (p == NULL) {
            buf->overflow = 1;
            return -1;
        }
        buf->data = p;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int sim_buf_puts(sim_buf_t *buf, const char *s)
{
    return sim_buf_append(buf, s, strlen(s));
}

int sim_buf_printf(sim_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *tmp = malloc((size_t)n + 1);
    if (tmp == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = sim_buf_append(buf, tmp, (size_t)n);
    free(tmp);
    return rc;
}

int sim_buf_put_html(sim_buf_t *buf, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        int rc = rep != NULL ? sim_buf_puts(buf, rep) : sim_buf_append(buf, p, 1);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int sim_buf_put_urlenc(sim_buf_t *buf, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            if (sim_buf_append(buf, p, 1) != 0)
                return -1;
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (sim_buf_append(buf, enc, 3) != 0)
                return -1;
        }
    }
    return 0;
}

char *sim_buf_steal(sim_buf_t *buf)
{
    char *p = buf->data != NULL ? buf->data : strdup("");
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return p;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes `len` bytes with '+' as space. Returns a malloc'd string
 * or NULL for a broken escape or a NUL byte. */
static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (len - i < 3 || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            c = hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
            i += 2;
        }
        if (c == 0) {
            free(out);
            return NULL;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}

int sim_params_add(sim_params_t *out, const char *name, const char *value)
{
    if (out->n >= SIM_MAX_PARAMS)
        return -1;
    sim_param_t *items = realloc(out->items, (out->n + 1) * sizeof(*items));
    if (items == NULL)
        return -1;
    out->items = items;
    items[out->n].name = strdup(name);
    items[out->n].value = strdup(value);
    if (items[out->n].name == NULL || items[out->n].value == NULL) {
        free(items[out->n].name);
        free(items[out->n].value);
        return -1;
    }
    out->n++;
    return 0;
}

int sim_params_parse(sim_params_t *out, const char *s, size_t len)
{
    size_t start = 0;
    while (start < len) {
        size_t end = start;
        while (end < len && s[end] != '&')
            end++;
        if (end > start) {
            size_t eq = start;
            while (eq < end && s[eq] != '=')
                eq++;
            if (end - start > SIM_MAX_PARAM_LEN)
                return -1;
            char *name = form_decode(s + start, eq - start);
            char *value = eq < end ? form_decode(s + eq + 1, end - eq - 1) : strdup("");
            int rc = name != NULL && value != NULL ? sim_params_add(out, name, value) : -1;
            free(name);
            free(value);
            if (rc != 0)
                return -1;
        }
        start = end + 1;
    }
    return 0;
}

const char *sim_params_get(const sim_params_t *params, const char *name)
{
    for (size_t i = params->n; i > 0; i--)
        if (strcmp(params->items[i - 1].name, name) == 0)
            return params->items[i - 1].value;
    return NULL;
}

void sim_params_clear(sim_params_t *params)
{
    for (size_t i = 0; i < params->n; i++) {
        free(params->items[i].name);
        free(params->items[i].value);
    }
    free(params->items);
    params->items = NULL;
    params->n = 0;
}

/* Appends code point `cp` as UTF-8; invalid code points become U+FFFD. */
static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *sim_html_unescape(const char *s, size_t len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    /* A character reference never expands: "&#1114111;" is 10 bytes for 4. */
    char *out = malloc(len + 1);
    size_t n = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '&') {
            out[n++] = s[i];
            continue;
        }
        size_t rest = len - i - 1;
        const char *p = s + i + 1;
        int done = 0;
        for (size_t k = 0; k < sizeof(named) / sizeof(named[0]) && !done; k++) {
            size_t nl = strlen(named[k].name);
            if (rest >= nl && memcmp(p, named[k].name, nl) == 0) {
                out[n++] = named[k].c;
                i += nl;
                done = 1;
            }
        }
        if (!done && rest >= 3 && p[0] == '#') {
            int is_hex = p[1] == 'x' || p[1] == 'X';
            size_t j = is_hex ? 2 : 1;
            unsigned long cp = 0;
            size_t digits = 0;
            while (j < rest && digits < 8) {
                int v = is_hex ? hex_value(p[j]) : (isdigit((unsigned char)p[j]) ? p[j] - '0' : -1);
                if (v < 0)
                    break;
                cp = cp * (is_hex ? 16 : 10) + (unsigned long)v;
                j++;
                digits++;
            }
            if (digits > 0 && j < rest && p[j] == ';') {
                n += put_utf8(out + n, cp);
                i += j + 1;
                done = 1;
            }
        }
        if (!done)
            out[n++] = '&';
    }
    out[n] = '\0';
    return out;
}

char *sim_b64url_encode(const unsigned char *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out != NULL)
        lti_b64url_encode(data, len, out);
    return out;
}

static int b64url_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *sim_b64url_decode(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len * 3 / 4 + 2);
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1UL << bits) - 1;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

void sim_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    if (RAND_bytes(raw, (int)nbytes) != 1)
        abort(); /* no randomness means no meaningful state, nonce or key */
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

static void format_uuid(const unsigned char b[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void sim_random_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort();
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    format_uuid(b, out);
}

static void derived_bytes(const char *label, const char *value, unsigned char md[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, label, strlen(label)) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, value, strlen(value)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        abort(); /* SHA-256 is always available in OpenSSL 3 */
    EVP_MD_CTX_free(ctx);
}

void sim_derived_hex(const char *label, const char *value, char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    derived_bytes(label, value, md);
    if (nbytes > sizeof(md))
        nbytes = sizeof(md);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

void sim_derived_uuid(const char *label, const char *value, char out[37])
{
    unsigned char md[32];
    derived_bytes(label, value, md);
    md[6] = (unsigned char)((md[6] & 0x0F) | 0x40);
    md[8] = (unsigned char)((md[8] & 0x3F) | 0x80);
    format_uuid(md, out);
}

void sim_iso8601(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sim_parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    if (s == NULL || *s == '\0')
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v > 1000000000000LL || v < -1000000000000LL)
        return -1;
    *out = (int64_t)v;
    return 0;
}

void sim_json_merge(json_t *target, json_t *patch)
{
    const char *key;
    json_t *value;
    json_object_foreach(patch, key, value)
    {
        if (json_is_null(value))
            json_object_del(target, key);
        else
            json_object_set(target, key, value);
    }
}

int sim_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)
        return 1;
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
        return a == 127 && b < 256 && c < 256 && d < 256;
    return 0;
}

/* Builds "b64(header).b64(payload)"; returns malloc'd or NULL. */
static char *signing_input(const char *header, const char *payload)
{
    char *h = sim_b64url_encode((const unsigned char *)header, strlen(header));
    char *p = sim_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *out = NULL;
    if (h != NULL && p != NULL && (out = malloc(strlen(h) + strlen(p) + 2)) != NULL)
        sprintf(out, "%s.%s", h, p);
    free(h);
    free(p);
    return out;
}

/* Appends "." b64(sig) to `input` and returns the new token (malloc'd). */
static char *append_signature(char *input, const unsigned char *sig, size_t sig_len)
{
    char *s = sim_b64url_encode(sig, sig_len);
    char *out = NULL;
    if (s != NULL && (out = malloc(strlen(input) + strlen(s) + 2)) != NULL)
        sprintf(out, "%s.%s", input, s);
    free(s);
    return out;
}

char *sim_jws_sign_rs256_raw(EVP_PKEY *key, const char *header, const char *payload)
{
    char *input = signing_input(header, payload);
    char *token = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (input == NULL || ctx == NULL)
        goto out;
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &sig_len, (unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = malloc(sig_len);
    if (sig == NULL ||
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)) != 1)
        goto out;
    token = append_signature(input, sig, sig_len);
out:
    EVP_MD_CTX_free(ctx);
    free(sig);
    free(input);
    return token;
}

char *sim_jws_unsecured_raw(const char *header, const char *payload)
{
    char *input = signing_input(header, payload);
    char *token = NULL;
    if (input != NULL && (token = malloc(strlen(input) + 2)) != NULL)
        sprintf(token, "%s.", input);
    free(input);
    return token;
}

char *sim_jws_sign_hs256_raw(const unsigned char *secret, size_t secret_len, const char *header,
                             const char *payload)
{
    char *input = signing_input(header, payload);
    char *token = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    if (input == NULL)
        return NULL;
    if (HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)input, strlen(input), mac,
             &mac_len) != NULL)
        token = append_signature(input, mac, mac_len);
    free(input);
    return token;
}

char *sim_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    char *data = NULL;
    long len;
    if (bio == NULL)
        return NULL;
    if (PEM_write_bio_PUBKEY(bio, key) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0 &&
        (out = malloc((size_t)len + 1)) != NULL) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

unsigned char *sim_jws_segment(const char *token, int index, size_t *len)
{
    const char *start = token;
    for (int i = 0; i < index; i++) {
        start = strchr(start, '.');
        if (start == NULL)
            return NULL;
        start++;
    }
    const char *end = strchr(start, '.');
    size_t seg_len = end != NULL ? (size_t)(end - start) : strlen(start);
    return sim_b64url_decode(start, seg_len, len);
}
