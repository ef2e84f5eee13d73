/* SPDX-License-Identifier: MIT */
/* Address policy for outbound platform calls (lti/outbound.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include "lti/config.h"
#include "lti/outbound.h"

curl_socket_t lti_outbound_open_socket(void *arg, curlsocktype purpose,
                                       struct curl_sockaddr *addr)
{
    const lti_platform_cfg_t *platform = arg;
    int loopback = 0, forbidden = 0;

    if (addr->family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->addr;
        uint32_t a = ntohl(sin->sin_addr.s_addr);
        loopback = (a >> 24) == 127;
        forbidden = (a >> 24) == 0 || (a >> 24) == 10 || (a >> 16) == 0xa9fe ||
                    (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100u << 2 | 1);
    } else if (addr->family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr->addr;
        const unsigned char *b = sin6->sin6_addr.s6_addr;
        loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
        forbidden = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
                    IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || (b[0] & 0xfe) == 0xfc ||
                    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
    } else {
        forbidden = 1;
    }
    if (forbidden || (loopback && !platform->allow_http_loopback))
        return CURL_SOCKET_BAD;
    return socket(addr->family, addr->socktype, addr->protocol);
}
