/* SPDX-License-Identifier: MIT */
/*
 * Address policy for outbound calls to a platform (key sets, service
 * tokens, AGS, NRPS, Canvas REST), applied by libcurl's open-socket hook on
 * the address actually connected to, so a DNS answer cannot move a call
 * to a refused address.
 */
#ifndef LTI_OUTBOUND_H
#define LTI_OUTBOUND_H

#include <curl/curl.h>

/* CURLOPT_OPENSOCKETFUNCTION for calls made on behalf of a registration;
 * CURLOPT_OPENSOCKETDATA must be its `const lti_platform_cfg_t *`. Refuses
 * loopback unless the registration sets allowHttpLoopback, and refuses
 * link-local (cloud metadata), private, shared (100.64/10), unspecified and
 * IPv4-mapped IPv6 addresses always. */
curl_socket_t lti_outbound_open_socket(void *platform, curlsocktype purpose,
                                       struct curl_sockaddr *addr);

#endif
