/* SPDX-License-Identifier: MIT */
/*
 * Checks of single configuration values: URLs, the base URL, client and
 * deployment IDs, and the keys whose value is one of a fixed set of words.
 * Each check writes "what is wrong; what to do" for the loader to prefix
 * with the file position and key.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config_int.h"
#include "lti/netaddr.h"

static int bad(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

static int parse_port(const char *p, size_t len)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? 0 : -1;
}

/* Splits the authority (host and port) of a URL. */
static int parse_authority(const char *auth, size_t len, cfg_url_t *out, char *msg,
                           size_t msglen)
{
    const char *port = NULL;

    if (len == 0)
        return bad(msg, msglen, "the URL has no host; write it as https://host/path");
    if (memchr(auth, '@', len) != NULL)
        return bad(msg, msglen, "the URL contains user info ('user@'); remove it, credentials "
                   "do not belong in a URL");
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        char buf[INET6_ADDRSTRLEN + 1];
        unsigned char addr[16];
        size_t host_len = close != NULL ? (size_t)(close - auth - 1) : 0;
        if (close == NULL || host_len == 0 || host_len >= sizeof(buf))
            return bad(msg, msglen, "the URL has an invalid IPv6 host; write it as "
                       "https://[::1]:8443/");
        memcpy(buf, auth + 1, host_len);
        buf[host_len] = '\0';
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return bad(msg, msglen, "'%s' is not an IPv6 address", buf);
        out->host = auth + 1;
        out->host_len = host_len;
        if ((size_t)(close - auth) + 1 < len) {
            if (close[1] != ':')
                return bad(msg, msglen, "the URL has text after the IPv6 host; write "
                           "[address]:port");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', len);
        out->host = auth;
        out->host_len = colon != NULL ? (size_t)(colon - auth) : len;
        if (out->host_len == 0)
            return bad(msg, msglen, "the URL has no host; write it as https://host/path");
        for (size_t i = 0; i < out->host_len; i++)
            if (!is_host_char(auth[i]))
                return bad(msg, msglen, "the URL host contains '%c'; a host has letters, digits, "
                           "'-' and '.' only", auth[i]);
        if (colon != NULL)
            port = colon + 1;
    }
    if (port != NULL) {
        out->has_port = 1;
        if (parse_port(port, (size_t)(auth + len - port)) != 0)
            return bad(msg, msglen, "the URL port is invalid; use a number from 1 to 65535");
    }
    return 0;
}

int cfg_url_parse(const char *url, cfg_url_t *out, char *msg, size_t msglen)
{
    const char *auth;

    memset(out, 0, sizeof(*out));
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return bad(msg, msglen, "the URL contains a space, control or non-ASCII byte at "
                       "offset %zu; remove it or percent-encode it", (size_t)(p -
                       (const unsigned char *)url));
        if (strchr("\"<>\\^`{|}", *p) != NULL)
            return bad(msg, msglen, "the URL contains the character '%c'; percent-encode it", *p);
    }
    if (strncmp(url, "https://", 8) == 0) {
        out->https = 1;
        auth = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        auth = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0) {
        return bad(msg, msglen, "the URL scheme must be lower case; write https://");
    } else {
        return bad(msg, msglen, "'%s' is not an http(s) URL; write it as https://host/path", url);
    }
    size_t auth_len = strcspn(auth, "/?#");
    if (parse_authority(auth, auth_len, out, msg, msglen) != 0)
        return -1;
    out->rest = auth + auth_len;
    /* A fragment is never sent to a server, so a URL with one does not name
     * what the admin thinks it names. */
    if (strchr(out->rest, '#') != NULL)
        return bad(msg, msglen, "the URL has a fragment ('#...'); remove it");
    return 0;
}

int cfg_url_is_loopback(const cfg_url_t *url)
{
    static const char *const names[] = {"127.0.0.1", "::1", "localhost"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (url->host_len == strlen(names[i]) &&
            strncasecmp(url->host, names[i], url->host_len) == 0)
            return 1;
    return 0;
}

/* The base URL is the tool's public origin. The endpoint paths are appended
 * to it, so it carries no path, query or trailing slash. */
int cfg_check_cidr(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    (void)node;
    lti_cidr_t cidr;
    if (lti_cidr_parse(value, &cidr) == 0)
        return 0;
    snprintf(msg, msglen,
             "'%.64s' is not an IP address or prefix; write one such as 10.0.0.0/8, "
             "192.0.2.7 or 2001:db8::/32, with no bits set after the prefix length",
             value);
    return -1;
}

int cfg_check_base_url(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    cfg_url_t url;

    if (cfg_url_parse(value, &url, msg, msglen) != 0)
        return -1;
    if (!url.https && !cfg_url_is_loopback(&url))
        return bad(msg, msglen, "uses http:// with a host that is not loopback; use https:// "
                   "(http:// is accepted only for 127.0.0.1, ::1 and localhost)");
    if (strcmp(url.rest, "/") == 0)
        return bad(msg, msglen, "ends with '/'; remove the trailing slash");
    if (url.rest[0] == '?')
        return bad(msg, msglen, "has a query; remove it");
    if (url.rest[0] != '\0')
        return bad(msg, msglen, "has the path '%s'; give scheme://host[:port] only, because the "
                   "endpoints are served under /hosted/index/ at the root", url.rest);
    return 0;
}

/* OpenID Connect Core 1.0 defines the issuer as a URL without a query or
 * fragment. The https rule is checked later, with allowHttpLoopback. */
int cfg_check_issuer(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    cfg_url_t url;

    if (cfg_url_parse(value, &url, msg, msglen) != 0)
        return -1;
    if (strchr(url.rest, '?') != NULL)
        return bad(msg, msglen, "the issuer has a query; an issuer is a URL without a query");
    return 0;
}

static int is_printable_ascii(const char *s, int allow_space)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p > 0x7e || *p < 0x20 || (*p == ' ' && !allow_space))
            return 0;
    return 1;
}

/* Canvas client IDs are 14 to 17 digits. Written unquoted they are YAML
 * integers, and the exact source text is kept. A plain value that YAML would
 * read as a float or a boolean is rejected, because its text is probably not
 * the ID the admin copied. */
int cfg_check_client_id(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};

    if (!is_printable_ascii(value, 0))
        return bad(msg, msglen, "the client ID contains a space or a non-ASCII byte; copy it "
                   "again from the platform");
    if (node == NULL || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    char *end = NULL;
    strtod(value, &end);
    if (end != value && *end == '\0' && value[strspn(value, "0123456789")] != '\0')
        return bad(msg, msglen, "'%s' reads as a YAML float; put the client ID in quotes", value);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(value, words[i]) == 0)
            return bad(msg, msglen, "'%s' reads as a YAML boolean; put the client ID in quotes",
                       value);
    return 0;
}

/* LTI Core 1.3 limits deployment_id to 255 ASCII characters. */
int cfg_check_deployment_id(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    if (strlen(value) > 255 || !is_printable_ascii(value, 1))
        return bad(msg, msglen, "'%s' is not a deployment ID of 1 to 255 printable ASCII "
                   "characters", value);
    return 0;
}

int cfg_check_audience(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    if (strlen(value) > 255 || !is_printable_ascii(value, 0))
        return bad(msg, msglen, "'%s' is not an audience of 1 to 255 printable ASCII characters "
                   "without spaces", value);
    return 0;
}

int cfg_check_auth_method(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    if (strcmp(value, "lti1.3") != 0)
        return bad(msg, msglen, "'%s' is not supported; set authMethod: lti1.3, the only launch "
                   "protocol this service accepts", value);
    return 0;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* The custom_ form names a key of the LTI custom claim. Canvas custom
 * parameter names are letters, digits and underscores. */
int cfg_check_user_id_attribute(const yaml_node_t *node, const char *value, char *msg,
                                size_t msglen)
{
    static const char *const fixed[] = {"sub", "email", "lis_person_sourcedid",
                                        "lti11_legacy_user_id"};

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strcmp(value, fixed[i]) == 0)
            return 0;
    if (strncmp(value, "custom_", 7) == 0 && value[7] != '\0') {
        const char *p = value + 7;
        while (*p != '\0' && is_name_char(*p))
            p++;
        if (*p == '\0')
            return 0;
    }
    return bad(msg, msglen, "'%s' is not a user ID attribute; use sub, email, "
               "lis_person_sourcedid, lti11_legacy_user_id or custom_<name> (letters, digits, "
               "'_' and '-')", value);
}

int cfg_check_claim_name(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    if (!is_printable_ascii(value, 0))
        return bad(msg, msglen, "the claim name contains a space or a non-ASCII byte; give the "
                   "claim name as it appears in the id_token");
    return 0;
}

int cfg_check_claim_property(const yaml_node_t *node, const char *value, char *msg,
                             size_t msglen)
{
    if (!is_printable_ascii(value, 0))
        return bad(msg, msglen, "the property path contains a space or a non-ASCII byte");
    if (value[0] == '.' || value[strlen(value) - 1] == '.' || strstr(value, "..") != NULL)
        return bad(msg, msglen, "'%s' has an empty segment; write a dotted path such as "
                   "person.sourcedid", value);
    return 0;
}

int cfg_check_user_id_fallback(const yaml_node_t *node, const char *value, char *msg,
                               size_t msglen)
{
    if (strcmp(value, "sub") != 0 && strcmp(value, "reject") != 0)
        return bad(msg, msglen, "'%s' is not a fallback; use sub (take the launch's sub) or "
                   "reject (refuse the launch)", value);
    return 0;
}

int cfg_check_store_backend(const yaml_node_t *node, const char *value, char *msg,
                            size_t msglen)
{
    if (strcmp(value, "memory") != 0 && strcmp(value, "redis") != 0)
        return bad(msg, msglen, "'%s' is not a store backend; use memory (one process) or "
                   "redis (several instances sharing one Redis)", value);
    return 0;
}

int cfg_check_key_prefix(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    for (const char *p = value; *p != '\0'; p++)
        if (*p < 0x21 || *p > 0x7e)
            return bad(msg, msglen, "'%s' contains a space or control byte; use printable "
                       "ASCII such as ltigate:", value);
    return 0;
}

int cfg_check_app_role(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(value[i]))
            len = 0;
    if (len == 0 || len > 64)
        return bad(msg, msglen, "'%s' is not an app role name; use 1 to 64 letters, digits, "
                   "'_' or '-'", value);
    return 0;
}
