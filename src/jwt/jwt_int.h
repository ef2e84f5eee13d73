/* SPDX-License-Identifier: MIT */
/* Helpers shared by the files in src/jwt/ and not part of the public API. */
#ifndef LTI_JWT_INT_H
#define LTI_JWT_INT_H

#include <stddef.h>

/* Checks a key id from a JWS header or a JWK: 1 to LTI_JWT_MAX_KID bytes, each
 * printable ASCII (0x21-0x7e) or a space. A kid is later written to logs and
 * used as a lookup key, so control bytes and non-ASCII text are rejected.
 * Returns 1 when valid, else 0. */
int lti_jwt_kid_is_valid(const char *kid, size_t len);

#endif
