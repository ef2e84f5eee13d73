/* SPDX-License-Identifier: MIT */
/*
 * key=value logging, one line per event:
 *   ts=2026-12-04T15:54:10Z level=warn mod=launch reason=nonce_reused iss=... msg="..."
 * Values are quoted when they contain spaces, quotes or control bytes, and
 * control bytes are escaped, so a hostile value cannot forge a log line.
 * Never pass tokens, keys, cookies, state values, hints, names or e-mail
 * addresses; log reason codes and ids.
 */
#ifndef LTI_LOG_H
#define LTI_LOG_H

#include <stdio.h>

typedef enum lti_log_level {
    LTI_LOG_ERROR = 0,
    LTI_LOG_WARN,
    LTI_LOG_INFO,
    LTI_LOG_DEBUG,
} lti_log_level_t;

extern int lti_log_threshold;

/* Opens the log destination: NULL or "stderr" for standard error, else a file
 * opened for appending. Returns 0, or -1 with errno set. */
int lti_log_open(const char *path, lti_log_level_t threshold);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int lti_log_level_parse(const char *name);

/* Writes one line. `kv` is a NULL-terminated list of key, value string pairs;
 * a NULL value is skipped. `msg` may be NULL. */
void lti_log_kv(lti_log_level_t level, const char *mod, const char *msg, const char *const *kv);

/* Writes one line with a printf-style message and no other fields. */
void lti_log(lti_log_level_t level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a log-safe reference to a user ID into `out` (at least 16 bytes):
 * "u-" and the first 12 hex digits of its SHA-256. Mapped user IDs are often
 * login names or e-mail addresses, which the log must not contain; the
 * reference still lets an admin match log lines with a known user. Returns
 * `out`, or NULL when `user_id` is NULL. */
const char *lti_log_user_ref(const char *user_id, char *out);

#define LTI_LOG_ENABLED(level) ((int)(level) <= lti_log_threshold)

#endif
