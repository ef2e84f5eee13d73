/* SPDX-License-Identifier: MIT */
/* IP literals and CIDR prefixes (lti/netaddr.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "lti/netaddr.h"

#define MAX_LITERAL 45 /* INET6_ADDRSTRLEN - 1 */

int lti_addr_parse(const char *text, size_t len, unsigned char out[16])
{
    char buf[MAX_LITERAL + 1];
    struct in_addr v4;

    if (len == 0 || len > MAX_LITERAL || memchr(text, '\0', len) != NULL)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

int lti_cidr_parse(const char *text, lti_cidr_t *out)
{
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    int v4 = memchr(text, ':', len) == NULL;
    unsigned max = v4 ? 32 : 128;
    unsigned bits = max;

    if (lti_addr_parse(text, len, out->addr) != 0)
        return -1;
    if (slash != NULL) {
        const char *p = slash + 1;
        char *end;
        if (*p < '0' || *p > '9' || strlen(p) > 3)
            return -1;
        unsigned long n = strtoul(p, &end, 10);
        if (*end != '\0' || n > max)
            return -1;
        bits = (unsigned)n;
    }
    out->bits = v4 ? bits + 96 : bits;
    for (unsigned i = out->bits; i < 128; i++)
        if (out->addr[i / 8] & (0x80u >> (i % 8)))
            return -1;
    return 0;
}

int lti_cidr_contains(const lti_cidr_t *cidr, const unsigned char addr[16])
{
    unsigned full = cidr->bits / 8, rest = cidr->bits % 8;
    if (memcmp(cidr->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (cidr->addr[full] & mask) == (addr[full] & mask);
}
