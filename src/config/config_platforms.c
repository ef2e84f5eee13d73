/* SPDX-License-Identifier: MIT */
/*
 * The platforms list: one registration per (issuer, lti13ClientID), with the
 * Canvas cloud endpoint defaults, the https rule for every platform URL and
 * the deployment policy checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "config_int.h"

/* Instructure-hosted Canvas: the issuers and the sso host that serves their
 * OIDC auth, token and JWKS endpoints. Self-hosted Canvas also uses the
 * issuer https://canvas.instructure.com by default but serves the endpoints
 * from its own host, which is why selfHosted: true turns the defaults off. */
static const struct {
    const char *issuer;
    const char *sso;
} canvas_cloud[] = {
    {"https://canvas.instructure.com", "https://sso.canvaslms.com"},
    {"https://canvas.beta.instructure.com", "https://sso.beta.canvaslms.com"},
    {"https://canvas.test.instructure.com", "https://sso.test.canvaslms.com"},
};

static const struct {
    const char *key;
    size_t offset;
    const char *path; /* Canvas cloud path on the sso host */
} endpoints[] = {
    {"lti13PlatformOidcAuthUrl", offsetof(lti_platform_cfg_t, oidc_auth_url),
     "/api/lti/authorize_redirect"},
    {"lti13AuthTokenUrl", offsetof(lti_platform_cfg_t, token_url), "/login/oauth2/token"},
    {"lti13KeysUrl", offsetof(lti_platform_cfg_t, keys_url), "/api/lti/security/jwks"},
};

static const char *canvas_sso_host(const char *issuer)
{
    for (size_t i = 0; i < sizeof(canvas_cloud) / sizeof(canvas_cloud[0]); i++)
        if (strcmp(issuer, canvas_cloud[i].issuer) == 0)
            return canvas_cloud[i].sso;
    return NULL;
}

static const yaml_node_t *node_of(const yaml_node_t **nodes, const char *name,
                                  const yaml_node_t *fallback)
{
    const yaml_node_t *n = nodes[cfg_row_index(&cfg_platform_section, name)];
    return n != NULL ? n : fallback;
}

/* Fills the Canvas cloud URLs that were left out, or reports the first
 * missing URL when the registration has no defaults. */
static int fill_endpoints(cfg_ctx_t *ctx, const yaml_node_t *item, const char *prefix,
                          lti_platform_cfg_t *p)
{
    const char *sso = p->self_hosted ? NULL : canvas_sso_host(p->issuer);
    char key[CFG_KEY_MAX];

    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        char **url = (char **)((char *)p + endpoints[i].offset);
        if (*url != NULL)
            continue;
        snprintf(key, sizeof(key), "%s.%s", prefix, endpoints[i].key);
        if (sso == NULL)
            return cfg_fail(ctx, item, key, "missing required key; only a Canvas cloud issuer "
                            "(https://canvas[.beta|.test].instructure.com) with selfHosted: false "
                            "has default endpoint URLs");
        size_t n = strlen(sso) + strlen(endpoints[i].path) + 1;
        if ((*url = malloc(n)) == NULL)
            return cfg_fail(ctx, item, key, "out of memory");
        snprintf(*url, n, "%s%s", sso, endpoints[i].path);
    }
    return 0;
}

/* Platform URLs must be https, because the keys URL decides which keys are
 * trusted and the auth URL receives the user's browser. Plain http is
 * accepted only for a loopback host with allowHttpLoopback (test setups). */
static int check_https(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                       const lti_platform_cfg_t *p, const char *value)
{
    cfg_url_t url;
    char msg[256];

    if (cfg_url_parse(value, &url, msg, sizeof(msg)) != 0)
        return cfg_fail(ctx, node, key, "%s", msg);
    if (url.https)
        return 0;
    if (!p->allow_http_loopback)
        return cfg_fail(ctx, node, key, "uses http://; use https:// (http:// is accepted only "
                        "for a loopback host with allowHttpLoopback: true)");
    if (!cfg_url_is_loopback(&url))
        return cfg_fail(ctx, node, key, "uses http:// with the host '%.*s', which is not "
                        "loopback; use https:// (allowHttpLoopback covers only 127.0.0.1, ::1 and "
                        "localhost)", (int)url.host_len, url.host);
    return 0;
}

static int check_urls(cfg_ctx_t *ctx, const yaml_node_t *item, const char *prefix,
                      const yaml_node_t **nodes, const lti_platform_cfg_t *p)
{
    char key[CFG_KEY_MAX];

    snprintf(key, sizeof(key), "%s.issuer", prefix);
    if (check_https(ctx, node_of(nodes, "issuer", item), key, p, p->issuer) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        const char *url = *(char *const *)((const char *)p + endpoints[i].offset);
        snprintf(key, sizeof(key), "%s.%s", prefix, endpoints[i].key);
        if (check_https(ctx, node_of(nodes, endpoints[i].key, item), key, p, url) != 0)
            return -1;
    }
    return 0;
}

/* The recorded-deployments file may not exist yet, but its directory must,
 * or the first new deployment could not be recorded. */
static int check_deployments_dir(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                                 const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    struct stat st;
    int rc = 0;

    if (slash == NULL)
        return 0;
    dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (dir == NULL)
        return cfg_fail(ctx, node, key, "out of memory");
    if (stat(dir, &st) != 0)
        rc = cfg_fail(ctx, node, key, "the directory '%s' cannot be used: %s; create it or "
                      "change the path", dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = cfg_fail(ctx, node, key, "'%s' is not a directory; change the path", dir);
    free(dir);
    return rc;
}

static int check_deployments(cfg_ctx_t *ctx, const yaml_node_t *item, const char *prefix,
                             const yaml_node_t **nodes, const lti_platform_cfg_t *p)
{
    char key[CFG_KEY_MAX];

    if (p->deployment_policy == LTI_DEPLOY_RECORD) {
        snprintf(key, sizeof(key), "%s.recordedDeploymentsFile", prefix);
        if (p->deployments_file == NULL)
            return cfg_fail(ctx, node_of(nodes, "acceptNewDeployments", item), key,
                            "missing; acceptNewDeployments: true needs a file to record new "
                            "deployment IDs in");
    } else if (p->n_deployment_ids == 0) {
        snprintf(key, sizeof(key), "%s.deploymentIds", prefix);
        return cfg_fail(ctx, node_of(nodes, "deploymentIds", item), key,
                        "no deployment ID is listed, so every launch would be rejected; list "
                        "the deployment IDs or set acceptNewDeployments: true");
    }
    if (p->deployments_file != NULL) {
        snprintf(key, sizeof(key), "%s.recordedDeploymentsFile", prefix);
        return check_deployments_dir(ctx, node_of(nodes, "recordedDeploymentsFile", item), key,
                                     p->deployments_file);
    }
    return 0;
}

static int load_platform(cfg_ctx_t *ctx, const yaml_node_t *item, const char *prefix,
                         lti_platform_cfg_t *p)
{
    const yaml_node_t *nodes[CFG_MAX_ROWS];

    if (item->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, item, prefix, "expected a mapping with issuer, lti13ClientID and "
                        "the other registration keys, found %s", cfg_node_kind(item));
    cfg_apply_defaults(ctx, &cfg_platform_section, p);
    if (cfg_apply_mapping(ctx, item, item, prefix, &cfg_platform_section, p, nodes) != 0)
        return -1;
    if (p->name == NULL && (p->name = strdup(p->issuer)) == NULL)
        return cfg_fail(ctx, item, prefix, "out of memory");
    if (fill_endpoints(ctx, item, prefix, p) != 0 || check_urls(ctx, item, prefix, nodes, p) != 0)
        return -1;
    return check_deployments(ctx, item, prefix, nodes, p);
}

/* Registrations are keyed on (issuer, client_id): one Canvas issuer serves
 * every Instructure-hosted institution, so the issuer alone is not unique. */
static int check_unique(cfg_ctx_t *ctx, const yaml_node_t *seq, const lti_config_t *cfg,
                        size_t i, const char *prefix)
{
    const lti_platform_cfg_t *p = &cfg->platforms[i];

    for (size_t j = 0; j < i; j++) {
        const lti_platform_cfg_t *q = &cfg->platforms[j];
        if (strcmp(p->issuer, q->issuer) != 0 || strcmp(p->client_id, q->client_id) != 0)
            continue;
        const yaml_node_t *item = cfg_node(ctx, seq->data.sequence.items.start[i]);
        const yaml_node_t *prev = cfg_node(ctx, seq->data.sequence.items.start[j]);
        const yaml_node_t *at = cfg_map_get(ctx, item, "lti13ClientID");
        char key[CFG_KEY_MAX];
        snprintf(key, sizeof(key), "%s.lti13ClientID", prefix);
        return cfg_fail(ctx, at != NULL ? at : item, key, "the registration (issuer '%s', "
                        "client ID '%s') is already defined by platforms[%zu] on line %zu; "
                        "remove one", p->issuer, p->client_id, j, prev->start_mark.line + 1);
    }
    return 0;
}

int cfg_load_platforms(cfg_ctx_t *ctx, const yaml_node_t *node, const yaml_node_t *where,
                       lti_config_t *cfg)
{
    char prefix[32];

    if (node == NULL || cfg_is_null(node))
        return cfg_fail(ctx, node != NULL ? node : where, "platforms", "missing required key; "
                        "add a list with at least one platform registration");
    if (node->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ctx, node, "platforms", "expected a list of registrations "
                        "(- issuer: ...), found %s", cfg_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return cfg_fail(ctx, node, "platforms", "the list is empty; add at least one platform "
                        "registration");
    if ((cfg->platforms = calloc(n, sizeof(*cfg->platforms))) == NULL)
        return cfg_fail(ctx, node, "platforms", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = cfg_node(ctx, node->data.sequence.items.start[i]);
        snprintf(prefix, sizeof(prefix), "platforms[%zu]", i);
        cfg->n_platforms = i + 1;
        if (load_platform(ctx, item, prefix, &cfg->platforms[i]) != 0 ||
            check_unique(ctx, node, cfg, i, prefix) != 0)
            return -1;
    }
    return 0;
}

void cfg_free_platforms(lti_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_platforms; i++)
        cfg_free_rows(&cfg_platform_section, &cfg->platforms[i]);
    free(cfg->platforms);
    cfg->platforms = NULL;
    cfg->n_platforms = 0;
}
