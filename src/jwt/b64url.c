/* SPDX-License-Identifier: MIT */
/*
 * Canonical unpadded base64url (RFC 7515 §2, RFC 4648 §5). The decoder
 * accepts exactly one encoding per byte string, so a token cannot be
 * rewritten into another string that still verifies.
 */
#include <stdint.h>
#include "lti/jwt.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of each byte as a base64url character, or -1 for any
 * other byte, including '=', '+', '/', whitespace and NUL. */
static const int8_t b64url_values[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,
    ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
    ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
    ['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27,
    ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34,
    ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47, ['w'] = 48,
    ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['-'] = 62,
    ['_'] = 63,
};

/* Returns the table value, or -1 for bytes outside the alphabet. Entries
 * left out of the initializer are 0, so 'A' is told apart by the byte. */
static inline int b64url_value(unsigned char c)
{
    int v = b64url_values[c];
    return v != 0 || c == 'A' ? v : -1;
}

long lti_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0, i = 0;

    /* One leftover character carries only 6 bits, less than a byte. */
    if (len % 4 == 1)
        return -1;

    /* Whole groups of four characters make three bytes. */
    for (; i + 4 <= len; i += 4) {
        int a = b64url_value(p[i]), b = b64url_value(p[i + 1]);
        int c = b64url_value(p[i + 2]), d = b64url_value(p[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[n++] = (unsigned char)(v >> 16);
        out[n++] = (unsigned char)(v >> 8);
        out[n++] = (unsigned char)v;
    }

    /* A tail of 2 or 3 characters makes 1 or 2 bytes. The 4 or 2 bits left
     * over must be zero, otherwise "QR" would decode to the same byte as
     * "QQ". */
    size_t rest = len - i;
    if (rest == 0)
        return (long)n;
    int a = b64url_value(p[i]), b = b64url_value(p[i + 1]);
    int c = rest == 3 ? b64url_value(p[i + 2]) : 0;
    if ((a | b | c) < 0)
        return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
    out[n++] = (unsigned char)(v >> 16);
    if (rest == 3)
        out[n++] = (unsigned char)(v >> 8);
    uint32_t unused = rest == 2 ? v & 0xffff : v & 0xff;
    if (unused != 0)
        return -1;
    return (long)n;
}

size_t lti_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t n = 0;
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
        out[n++] = b64url_alphabet[(v >> 6) & 63];
        out[n++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
        out[n++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[n] = '\0';
    return n;
}
