/* SPDX-License-Identifier: MIT */
/*
 * IP address literals and CIDR prefixes for server.trustedProxies and the
 * per-client login limit. IPv4 addresses are kept as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so one 16-byte form and one comparison serve both.
 */
#ifndef LTI_NETADDR_H
#define LTI_NETADDR_H

#include <stddef.h>

typedef struct lti_cidr {
    unsigned char addr[16]; /* host bits beyond `bits` are zero */
    unsigned bits;          /* prefix length in the 128-bit form */
} lti_cidr_t;

/* Parses an IPv4 or IPv6 literal of `len` bytes (no brackets, port or zone)
 * into `out`. Returns 0, or -1 when it is not an address. */
int lti_addr_parse(const char *text, size_t len, unsigned char out[16]);

/* Parses "ADDRESS" or "ADDRESS/BITS" (0-32 for IPv4, 0-128 for IPv6).
 * Returns 0, or -1 when malformed or when host bits are set beyond the
 * prefix: "10.0.0.1/8" is refused rather than read as 10.0.0.0/8, since
 * either half of it may be the typo. */
int lti_cidr_parse(const char *text, lti_cidr_t *out);

/* Returns 1 when `addr` lies inside `cidr`. */
int lti_cidr_contains(const lti_cidr_t *cidr, const unsigned char addr[16]);

#endif
