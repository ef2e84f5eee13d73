/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the simulator sources: bounded string buffers, form and
 * query parsing, HTML and URL escaping, base64url, and identifiers derived
 * from user names. Nothing here is used by the service.
 */
#ifndef LTI_SIM_INT_H
#define LTI_SIM_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "sim.h"

/* A growable buffer with a ceiling: appends past `max` bytes fail and set
 * `overflow`, so a network-filled buffer is rejected, never truncated. */
typedef struct sim_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;
    int overflow;
} sim_buf_t;

void sim_buf_init(sim_buf_t *buf, size_t max);
void sim_buf_free(sim_buf_t *buf);
int sim_buf_append(sim_buf_t *buf, const void *data, size_t len);
int sim_buf_puts(sim_buf_t *buf, const char *s);
int sim_buf_printf(sim_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` with &, <, >, " and ' replaced by character references. */
int sim_buf_put_html(sim_buf_t *buf, const char *s);
/* Appends `s` percent-encoded for a query string or form body (RFC 3986
 * unreserved characters stay as they are). */
int sim_buf_put_urlenc(sim_buf_t *buf, const char *s);
/* Moves the data out (never NULL on success; the caller frees it). */
char *sim_buf_steal(sim_buf_t *buf);

/* Decoded application/x-www-form-urlencoded parameters, in order. */
typedef struct sim_param {
    char *name;
    char *value;
} sim_param_t;

typedef struct sim_params {
    sim_param_t *items;
    size_t n;
} sim_params_t;

#define SIM_MAX_PARAMS 128
#define SIM_MAX_PARAM_LEN 65536

/* Appends the parameters of `s` (a query string or form body) to `out`.
 * Returns 0, or -1 for broken percent-encoding, a NUL byte, more than
 * SIM_MAX_PARAMS parameters or a value longer than SIM_MAX_PARAM_LEN. */
int sim_params_parse(sim_params_t *out, const char *s, size_t len);
int sim_params_add(sim_params_t *out, const char *name, const char *value);
/* Returns the value of the last parameter called `name`, as Rails does
 * when a name repeats, or NULL. */
const char *sim_params_get(const sim_params_t *params, const char *name);
void sim_params_clear(sim_params_t *params);

/* Decodes HTML character references (&amp; &lt; &gt; &quot; &apos; &#NN;
 * &#xHH;) in the first `len` bytes of `s`. Returns a malloc'd string. */
char *sim_html_unescape(const char *s, size_t len);

/* Unpadded base64url. The decoder accepts only the URL-safe alphabet and
 * returns a malloc'd buffer (NUL-terminated), or NULL. */
char *sim_b64url_encode(const unsigned char *data, size_t len);
unsigned char *sim_b64url_decode(const char *s, size_t len, size_t *out_len);

/* Fills `out` with 2*nbytes random hex digits and a NUL. */
void sim_random_hex(char *out, size_t nbytes);
/* Writes a random version-4 UUID (37 bytes with the NUL). */
void sim_random_uuid(char out[37]);
/* Writes the first 2*nbytes hex digits of SHA-256(label ":" value). Used
 * for stable opaque ids per user or course. nbytes <= 32. */
void sim_derived_hex(const char *label, const char *value, char *out, size_t nbytes);
/* Writes a UUID-shaped string derived from SHA-256(label ":" value). */
void sim_derived_uuid(const char *label, const char *value, char out[37]);

/* Formats `t` as "2026-12-04T15:54:10Z". */
void sim_iso8601(int64_t t, char out[21]);
/* Parses an integer with optional sign; returns 0, or -1 when `s` is not
 * entirely a number within +-10^12. */
int sim_parse_i64(const char *s, int64_t *out);

/* Merges `patch` into `target` member by member: a JSON null deletes the
 * member, any other value replaces it. */
void sim_json_merge(json_t *target, json_t *patch);

/* Returns 1 when `host` is 127.0.0.0/8, ::1 or localhost. */
int sim_host_is_loopback(const char *host);

#endif
