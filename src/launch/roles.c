/* SPDX-License-Identifier: MIT */
/*
 * Maps the LTI roles claim to one application role through the roles table
 * of the configuration: every role is expanded to its canonical URI, looked
 * up in the table, and the most privileged application role earned wins.
 */
#include <string.h>
#include "lti/launch.h"

/* Maximum role length in bytes; longer role strings are skipped. Role URIs
 * of the LTI 1.3 vocabularies are at most 96 bytes, such as
 * membership/Instructor#TeachingAssistantSectionAssociation. */
#define ROLE_MAX 512

/* Returns the position of `app` in app_role_order (0 = least privileged), or
 * -1 when the order does not list it. */
static long app_role_rank(const lti_config_t *cfg, const char *app)
{
    for (size_t i = 0; i < cfg->n_app_role_order; i++)
        if (strcmp(cfg->app_role_order[i], app) == 0)
            return (long)i;
    return -1;
}

/* Returns the highest rank that the canonical role `lis` earns through the
 * roles table, or -1 when the table does not map it. */
static long lis_role_rank(const lti_config_t *cfg, const char *lis)
{
    long best = -1;

    for (size_t i = 0; i < cfg->n_role_map; i++) {
        if (strcmp(cfg->role_map[i].lis, lis) != 0)
            continue;
        /* NOTE: an app role missing from app_role_order earns nothing here;
         * the config loader is expected to reject such a table. */
        long rank = app_role_rank(cfg, cfg->role_map[i].app);
        if (rank > best)
            best = rank;
    }
    return best;
}

const char *lti_launch_map_role(const lti_config_t *cfg, json_t *roles)
{
    char canonical[ROLE_MAX + 128];
    long best = -1;
    json_t *entry;
    size_t i;

    json_array_foreach(roles, i, entry) {
        if (!json_is_string(entry))
            continue;
        const char *role = json_string_value(entry);
        size_t len = json_string_length(entry);
        /* A role with an embedded NUL byte would compare as its prefix. */
        if (len > ROLE_MAX || strlen(role) != len)
            continue;
        const char *lis = lti_role_canonical(role, canonical, sizeof(canonical));
        if (lis == NULL)
            continue;
        long rank = lis_role_rank(cfg, lis);
        if (rank > best)
            best = rank;
    }

    if (best >= 0)
        return cfg->app_role_order[best];
    if (cfg->default_role != NULL)
        return cfg->default_role;
    /* The loader always sets roles.default; these keep the promise of a
     * non-NULL result for a hand-built config. */
    return cfg->n_app_role_order > 0 ? cfg->app_role_order[0] : "";
}
