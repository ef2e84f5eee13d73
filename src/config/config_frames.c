/* SPDX-License-Identifier: MIT */
/*
 * The sites allowed to frame ltigate's pages: each registration's
 * frameAncestors (CSP source expressions). The default is the origin of its
 * issuer plus every https subdomain of instructure.com, because Canvas
 * cloud courses live on institution subdomains while the issuer is
 * https://canvas.instructure.com. The union over all registrations becomes
 * the frame-ancestors directive of every page, since error pages cannot
 * tell which registration a request belongs to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_int.h"

#define CANVAS_CLOUD_SOURCE "https://*.instructure.com"

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
}

/* Accepts "scheme://host[:port]" with an optional "*." host prefix and a
 * port of digits or "*". Paths, quotes, spaces, commas and semicolons
 * would change the policy's meaning, so they are rejected. */
int cfg_check_frame_ancestor(const yaml_node_t *node, const char *value, char *msg,
                             size_t msglen)
{
    (void)node;
    const char *p = value;
    if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else
        goto bad;
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    const char *host = p;
    while (is_host_char(*p))
        p++;
    if (p == host || strlen(value) > 255)
        goto bad;
    if (*p == ':') {
        p++;
        if (*p == '*') {
            p++;
        } else {
            const char *port = p;
            while (*p >= '0' && *p <= '9')
                p++;
            if (p == port || p - port > 5)
                goto bad;
        }
    }
    if (*p == '\0')
        return 0;
bad:
    snprintf(msg, msglen,
             "'%s' is not a frame ancestor; write scheme://host[:port], for example "
             "https://school.instructure.com or https://*.instructure.com",
             value);
    return -1;
}

/* Appends `src` unless it is already in the space-separated list. */
static int add_source(char **list, const char *src, size_t len)
{
    size_t have = *list != NULL ? strlen(*list) : 0;
    for (const char *p = *list; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, src, len) == 0)
            return 0;
        p = end != NULL ? end + 1 : p + n;
    }
    char *grown = realloc(*list, have + len + 2);
    if (grown == NULL)
        return -1;
    if (have > 0)
        grown[have++] = ' ';
    memcpy(grown + have, src, len);
    grown[have + len] = '\0';
    *list = grown;
    return 0;
}

int cfg_build_frame_ancestors(lti_config_t *cfg)
{
    char *list = NULL;
    for (size_t i = 0; i < cfg->n_platforms; i++) {
        const lti_platform_cfg_t *p = &cfg->platforms[i];
        if (p->n_frame_ancestors > 0) {
            for (size_t k = 0; k < p->n_frame_ancestors; k++)
                if (add_source(&list, p->frame_ancestors[k], strlen(p->frame_ancestors[k])) != 0)
                    goto fail;
            continue;
        }
        const char *sep = strstr(p->issuer, "://");
        if (sep != NULL) {
            const char *end = sep + 3;
            while (*end != '\0' && *end != '/' && *end != '?' && *end != '#')
                end++;
            if (add_source(&list, p->issuer, (size_t)(end - p->issuer)) != 0)
                goto fail;
        }
        if (add_source(&list, CANVAS_CLOUD_SOURCE, strlen(CANVAS_CLOUD_SOURCE)) != 0)
            goto fail;
    }
    if (list == NULL && (list = strdup("'none'")) == NULL)
        return -1;
    cfg->frame_ancestors = list;
    return 0;
fail:
    free(list);
    return -1;
}
