/* SPDX-License-Identifier: MIT */
/* key=value log lines, written with one fputs under the stdio lock so lines
 * from several loop threads never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>
#include "lti/log.h"

int lti_log_threshold = LTI_LOG_INFO;
static FILE *log_fp;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int lti_log_open(const char *path, lti_log_level_t threshold)
{
    lti_log_threshold = threshold;
    if (path == NULL || strcmp(path, "stderr") == 0) {
        log_fp = stderr;
        return 0;
    }
    FILE *fp = fopen(path, "a");
    if (fp == NULL)
        return -1;
    setvbuf(fp, NULL, _IOLBF, 0);
    log_fp = fp;
    return 0;
}

int lti_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* Appends `value` to buf at *pos, quoted when needed and with control bytes,
 * quotes and backslashes escaped. Output past `cap` is cut with "...". */
static void append_value(char *buf, size_t cap, size_t *pos, const char *value)
{
    int quote = value[0] == '\0';
    for (const char *p = value; *p != '\0' && !quote; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == 0x7f)
            quote = 1;
    size_t n = *pos;
    if (quote && n + 1 < cap)
        buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (n + 8 >= cap) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", *p);
        } else {
            buf[n++] = (char)*p;
        }
    }
    if (quote && n + 1 < cap)
        buf[n++] = '"';
    *pos = n;
}

static void append_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    if (*pos + 1 >= cap)
        return;
    size_t room = cap - *pos - 1;
    size_t len = strlen(s);
    if (len > room)
        len = room;
    memcpy(buf + *pos, s, len);
    *pos += len;
}

void lti_log_kv(lti_log_level_t level, const char *mod, const char *msg, const char *const *kv)
{
    if (!LTI_LOG_ENABLED(level))
        return;
    char line[2048], ts[32];
    size_t pos = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pos = (size_t)snprintf(line, sizeof(line), "ts=%s level=%s mod=%s", ts, level_names[level], mod);
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        if (kv[i + 1] == NULL)
            continue;
        append_raw(line, sizeof(line) - 1, &pos, " ");
        append_raw(line, sizeof(line) - 1, &pos, kv[i]);
        append_raw(line, sizeof(line) - 1, &pos, "=");
        append_value(line, sizeof(line) - 1, &pos, kv[i + 1]);
    }
    if (msg != NULL) {
        append_raw(line, sizeof(line) - 1, &pos, " msg=");
        append_value(line, sizeof(line) - 1, &pos, msg);
    }
    line[pos++] = '\n';
    line[pos] = '\0';
    FILE *fp = log_fp != NULL ? log_fp : stderr;
    int saved = errno;
    fputs(line, fp);
    errno = saved;
}

void lti_log(lti_log_level_t level, const char *mod, const char *fmt, ...)
{
    if (!LTI_LOG_ENABLED(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lti_log_kv(level, mod, msg, NULL);
}

const char *lti_log_user_ref(const char *user_id, char *out)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (user_id == NULL)
        return NULL;
    SHA256((const unsigned char *)user_id, strlen(user_id), digest);
    snprintf(out, 16, "u-%02x%02x%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3],
             digest[4], digest[5]);
    return out;
}
