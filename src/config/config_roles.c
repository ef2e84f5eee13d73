/* SPDX-License-Identifier: MIT */
/*
 * The roles section: the app roles from least to most privileged, the role
 * for users whose LTI roles map to nothing, and the map from LTI role URIs
 * (canonicalised at load) to app roles. Without a roles section the
 * built-in table below applies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lti/launch.h"
#include "config_int.h"

#define LIS "http://purl.imsglobal.org/vocab/lis/v2/"
#define ROLE_URI_MAX 512
#define ROLE_ORDER_MAX 32
#define ROLE_MAP_MAX 256

static const char *const default_order[] = {"guest", "viewer", "student", "ta", "instructor",
                                            "admin"};

/* The usual KAF mapping for Canvas. Canvas sends membership#Instructor
 * next to membership/Instructor#TeachingAssistant for a TA, so with this
 * table a Canvas TA gets 'instructor' (the most privileged mapped role wins).
 * institution/person#Instructor is deliberately absent: Canvas sends it in
 * every course of a user who teaches anywhere in the institution, including
 * courses where that user is a student. */
static const struct {
    const char *lis;
    const char *app;
} default_map[] = {
    {LIS "system/person#SysAdmin", "admin"},
    {LIS "institution/person#Administrator", "admin"},
    {LIS "membership#Instructor", "instructor"},
    {LIS "membership#ContentDeveloper", "instructor"},
    {LIS "membership/Instructor#TeachingAssistant", "ta"},
    {LIS "membership#Learner", "student"},
    {LIS "membership#Mentor", "viewer"},
    {LIS "system/person#None", "guest"},
};

static int in_order(const lti_config_t *cfg, const char *app)
{
    for (size_t i = 0; i < cfg->n_app_role_order; i++)
        if (strcmp(cfg->app_role_order[i], app) == 0)
            return 1;
    return 0;
}

static int add_order(cfg_ctx_t *ctx, lti_config_t *cfg, const yaml_node_t *node, const char *name)
{
    char *copy = strdup(name);
    if (copy == NULL)
        return cfg_fail(ctx, node, "roles.order", "out of memory");
    cfg->app_role_order[cfg->n_app_role_order++] = copy;
    return 0;
}

static int load_order(cfg_ctx_t *ctx, const yaml_node_t *node, lti_config_t *cfg)
{
    char msg[256];

    if (node == NULL) {
        size_t n = sizeof(default_order) / sizeof(default_order[0]);
        if ((cfg->app_role_order = calloc(n, sizeof(char *))) == NULL)
            return cfg_fail(ctx, NULL, "roles.order", "out of memory");
        for (size_t i = 0; i < n; i++)
            if (add_order(ctx, cfg, NULL, default_order[i]) != 0)
                return -1;
        return 0;
    }
    if (node->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ctx, node, "roles.order", "expected a list of app roles from least to "
                        "most privileged, found %s", cfg_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0 || n > ROLE_ORDER_MAX)
        return cfg_fail(ctx, node, "roles.order", "the list has %zu app roles; give 1 to %d", n,
                        ROLE_ORDER_MAX);
    if ((cfg->app_role_order = calloc(n, sizeof(char *))) == NULL)
        return cfg_fail(ctx, node, "roles.order", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = cfg_node(ctx, node->data.sequence.items.start[i]);
        const char *name = cfg_scalar_text(item);
        if (name == NULL)
            return cfg_fail(ctx, item, "roles.order", "item %zu is %s; each item is an app role "
                            "name", i + 1, cfg_node_kind(item));
        if (cfg_check_app_role(item, name, msg, sizeof(msg)) != 0)
            return cfg_fail(ctx, item, "roles.order", "%s", msg);
        if (in_order(cfg, name))
            return cfg_fail(ctx, item, "roles.order", "'%s' is listed twice; remove one", name);
        if (add_order(ctx, cfg, item, name) != 0)
            return -1;
    }
    return 0;
}

static int load_default_role(cfg_ctx_t *ctx, const yaml_node_t *node, lti_config_t *cfg)
{
    const char *name = cfg->app_role_order[0];

    if (node != NULL) {
        name = cfg_scalar_text(node);
        if (name == NULL)
            return cfg_fail(ctx, node, "roles.default", "expected an app role name, found %s",
                            cfg_node_kind(node));
        if (!in_order(cfg, name))
            return cfg_fail(ctx, node, "roles.default", "'%s' is not in roles.order; add it "
                            "there or choose one of the listed app roles", name);
    }
    if ((cfg->default_role = strdup(name)) == NULL)
        return cfg_fail(ctx, node, "roles.default", "out of memory");
    return 0;
}

/* Adds one map entry; `builtin` is set for the entries of default_map. */
static int add_mapping(cfg_ctx_t *ctx, lti_config_t *cfg, const yaml_node_t *at,
                       const char *key, const char *lis, const char *app, int builtin)
{
    char canon[ROLE_URI_MAX];

    if (lti_role_canonical(lis, canon, sizeof(canon)) == NULL)
        return cfg_fail(ctx, at, key, "the role is longer than %d bytes; shorten it",
                        ROLE_URI_MAX - 1);
    for (size_t i = 0; i < cfg->n_role_map; i++)
        if (strcmp(cfg->role_map[i].lis, canon) == 0)
            return cfg_fail(ctx, at, key, "maps the same role as an earlier entry (%s); remove "
                            "one of them", canon);
    if (!in_order(cfg, app)) {
        if (builtin)
            return cfg_fail(ctx, at, key, "the built-in map uses the app role '%s', which "
                            "roles.order does not list; add it to roles.order or write "
                            "roles.map", app);
        return cfg_fail(ctx, at, key, "'%s' is not in roles.order; add it there or map to one "
                        "of the listed app roles", app);
    }
    lti_role_map_entry_t *e = &cfg->role_map[cfg->n_role_map];
    e->lis = strdup(canon);
    e->app = strdup(app);
    if (e->lis == NULL || e->app == NULL) {
        free(e->lis);
        free(e->app);
        return cfg_fail(ctx, at, key, "out of memory");
    }
    cfg->n_role_map++;
    return 0;
}

static int load_map(cfg_ctx_t *ctx, const yaml_node_t *node, const yaml_node_t *where,
                    lti_config_t *cfg)
{
    char key[CFG_KEY_MAX];

    if (node == NULL) {
        size_t n = sizeof(default_map) / sizeof(default_map[0]);
        if ((cfg->role_map = calloc(n, sizeof(*cfg->role_map))) == NULL)
            return cfg_fail(ctx, where, "roles.map", "out of memory");
        for (size_t i = 0; i < n; i++)
            if (add_mapping(ctx, cfg, where, "roles.map", default_map[i].lis,
                            default_map[i].app, 1) != 0)
                return -1;
        return 0;
    }
    if (cfg_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, node, "roles.map", "expected a mapping of LTI role to app role, "
                        "found %s", cfg_node_kind(node));
    if (cfg_check_keys(ctx, node, "roles.map") != 0)
        return -1;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n > ROLE_MAP_MAX)
        return cfg_fail(ctx, node, "roles.map", "the map has %zu entries, more than the %d "
                        "accepted", n, ROLE_MAP_MAX);
    if (n > 0 && (cfg->role_map = calloc(n, sizeof(*cfg->role_map))) == NULL)
        return cfg_fail(ctx, node, "roles.map", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        const yaml_node_t *k = cfg_node(ctx, p->key);
        const yaml_node_t *v = cfg_node(ctx, p->value);
        const char *lis = (const char *)k->data.scalar.value;
        const char *app = cfg_scalar_text(v);
        snprintf(key, sizeof(key), "roles.map.%s", lis);
        for (const unsigned char *c = (const unsigned char *)lis; *c != '\0'; c++)
            if (*c <= 0x20 || *c >= 0x7f)
                return cfg_fail(ctx, k, key, "the role contains a space, control or non-ASCII "
                                "byte; LTI roles are URIs or short names");
        if (app == NULL)
            return cfg_fail(ctx, v, key, "expected an app role name, found %s",
                            cfg_node_kind(v));
        if (add_mapping(ctx, cfg, v, key, lis, app, 0) != 0)
            return -1;
    }
    return 0;
}

int cfg_load_roles(cfg_ctx_t *ctx, const yaml_node_t *node, const yaml_node_t *where,
                   lti_config_t *cfg)
{
    static const char *const keys[] = {"order", "default", "map"};
    const yaml_node_t *section = node;

    if (node != NULL && !cfg_is_null(node)) {
        if (node->type != YAML_MAPPING_NODE)
            return cfg_fail(ctx, node, "roles", "expected a mapping with order, default and map, "
                            "found %s", cfg_node_kind(node));
        if (cfg_check_keys(ctx, node, "roles") != 0)
            return -1;
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             p < node->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = cfg_node(ctx, p->key);
            const char *name = (const char *)k->data.scalar.value;
            if (strcmp(name, "order") == 0 || strcmp(name, "default") == 0 ||
                strcmp(name, "map") == 0)
                continue;
            char key[CFG_KEY_MAX];
            const char *hint = cfg_suggest(name, keys, 3);
            snprintf(key, sizeof(key), "roles.%s", name);
            if (hint != NULL)
                return cfg_fail(ctx, k, key, "unknown key in section 'roles'; did you mean "
                                "'%s'?", hint);
            return cfg_fail(ctx, k, key, "unknown key in section 'roles'; the keys are order, "
                            "default and map");
        }
    } else {
        section = NULL;
    }
    if (load_order(ctx, cfg_map_get(ctx, section, "order"), cfg) != 0 ||
        load_default_role(ctx, cfg_map_get(ctx, section, "default"), cfg) != 0)
        return -1;
    return load_map(ctx, cfg_map_get(ctx, section, "map"), node != NULL ? node : where, cfg);
}

void cfg_free_roles(lti_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_role_map; i++) {
        free(cfg->role_map[i].lis);
        free(cfg->role_map[i].app);
    }
    free(cfg->role_map);
    for (size_t i = 0; i < cfg->n_app_role_order; i++)
        free(cfg->app_role_order[i]);
    free(cfg->app_role_order);
    free(cfg->default_role);
    cfg->role_map = NULL;
    cfg->app_role_order = NULL;
    cfg->default_role = NULL;
    cfg->n_role_map = 0;
    cfg->n_app_role_order = 0;
}
