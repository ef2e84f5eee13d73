/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON object parsing for JOSE headers, JWT payloads and JWK sets:
 * one parser reading the exact received bytes, with no NUL bytes, no
 * duplicate member names (RFC 7515 §4, RFC 7519 §4) and a small nesting depth.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lti/jwt.h"

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Names a jansson parse failure without quoting the input: jansson's own
 * message repeats the token near the error, which may be a claim value. */
static const char *parse_error_name(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_duplicate_key:
        return "duplicate member name";
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_null_character:
        return "\\u0000 escape in a string";
    case json_error_end_of_input_expected:
        return "bytes after the end of the value";
    case json_error_premature_end_of_input:
        return "truncated value";
    case json_error_out_of_memory:
        return "out of memory";
    default:
        return "syntax error";
    }
}

/* Returns the offset of the first bracket that opens level max_depth + 1, or
 * len when the nesting stays within max_depth. Brackets inside strings do not
 * count. The scan is a loop, so it cannot overflow the stack, whereas jansson
 * 2.14 recurses once per level up to 2048 levels. Malformed input is left for
 * jansson to reject. */
static size_t scan_depth(const char *buf, size_t len, size_t max_depth)
{
    size_t depth = 0;
    int in_string = 0;
    int escaped = 0;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return i;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return len;
}

json_t *lti_json_parse_strict(const char *buf, size_t len, size_t max_depth, char *why,
                              size_t whylen)
{
    json_error_t jerr;

    if (buf == NULL) {
        set_why(why, whylen, "no input (length %zu)", len);
        return NULL;
    }
    const char *nul = memchr(buf, '\0', len);
    /* A NUL byte would let a C-string reader stop early and see a different
     * document than this parser does. */
    if (nul != NULL) {
        set_why(why, whylen, "NUL byte at offset %zu", (size_t)(nul - buf));
        return NULL;
    }
    size_t deep_at = scan_depth(buf, len, max_depth);
    if (deep_at < len) {
        set_why(why, whylen, "nesting deeper than %zu levels at offset %zu", max_depth, deep_at);
        return NULL;
    }

    /* Without JSON_DECODE_ANY the top level must be an object or array.
     * Without JSON_DISABLE_EOF_CHECK, bytes other than whitespace after the
     * value fail. Without JSON_ALLOW_NUL, a "\u0000" escape fails. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        set_why(why, whylen, "invalid JSON at offset %d: %s", jerr.position,
                parse_error_name(&jerr));
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        set_why(why, whylen, "top level is not an object (length %zu)", len);
        return NULL;
    }
    return root;
}
