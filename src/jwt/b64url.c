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

/* One more than the 6-bit value of each byte as a base64url character, and
 * 0 (left out of the initializer) for any other byte, including '=', '+',
 * '/', whitespace and NUL. */
static const int8_t b64url_values[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,
    ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
    ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
    ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
    ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
    ['_'] = 64,
};

/* Returns the 6-bit value, or -1 for bytes outside the alphabet. */
static inline int b64url_value(unsigned char c)
{
    return b64url_values[c] - 1;
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

long lti_b64url_decode_capped(const char *in, size_t len, unsigned char *out, size_t cap)
{
    /* Every 4 characters make 3 bytes, and a tail of 2 or 3 makes 1 or 2. */
    size_t decoded = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    if (len % 4 == 1 || decoded > cap)
        return -1;
    return lti_b64url_decode(in, len, out);
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
