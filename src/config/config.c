/* SPDX-License-Identifier: MIT */
/*
 * Loads the YAML configuration. The file is read with a size cap and parsed
 * with libyaml's document API, so every node keeps its line and column. The
 * sections go through the key tables in config_table.c, then the checks
 * that span several keys run. The first error is reported as one line and
 * the service does not start.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "config_int.h"

/* A configuration file is a few kilobytes, so a larger file is a wrong path. */
#define CFG_FILE_MAX (1024 * 1024)

static const char *const section_names[] = {"server", "hosted", "jwks", "store", "platforms",
                                            "roles", "canvas"};
#define N_SECTIONS (sizeof(section_names) / sizeof(section_names[0]))

/* Replaces bytes that could break the one-line error (newlines in a quoted
 * value or a path) with '?'. */
static void make_one_line(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static int vfail(cfg_ctx_t *ctx, const yaml_mark_t *mark, const char *key, const char *fmt,
                 va_list ap)
{
    if (ctx->failed)
        return -1;
    ctx->failed = 1;
    if (ctx->errbuf == NULL || ctx->errlen == 0)
        return -1;

    size_t cap = ctx->errlen, n = 0;
    int w;
    if (mark != NULL)
        w = snprintf(ctx->errbuf, cap, "%s:%zu:%zu: ", ctx->path, mark->line + 1,
                     mark->column + 1);
    else
        w = snprintf(ctx->errbuf, cap, "%s: ", ctx->path);
    n = w < 0 ? 0 : (size_t)w;
    if (key != NULL && n < cap) {
        w = snprintf(ctx->errbuf + n, cap - n, "key '%s': ", key);
        n += w < 0 ? 0 : (size_t)w;
    }
    if (n < cap)
        vsnprintf(ctx->errbuf + n, cap - n, fmt, ap);
    make_one_line(ctx->errbuf);
    return -1;
}

int cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(ctx, node != NULL ? &node->start_mark : NULL, key, fmt, ap);
    va_end(ap);
    return rc;
}

int cfg_fail_mark(cfg_ctx_t *ctx, yaml_mark_t mark, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(ctx, &mark, key, fmt, ap);
    va_end(ap);
    return rc;
}

const char *cfg_node_kind(const yaml_node_t *node)
{
    if (node == NULL)
        return "nothing";
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return cfg_is_null(node) ? "an empty value" : "a single value";
    default:
        return "an empty node";
    }
}

int cfg_is_null(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE)
        return 0;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *cfg_scalar_text(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE || cfg_is_null(node))
        return NULL;
    const char *text = (const char *)node->data.scalar.value;
    return strlen(text) == node->data.scalar.length ? text : NULL;
}

yaml_node_t *cfg_node(const cfg_ctx_t *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

yaml_node_t *cfg_map_get(const cfg_ctx_t *ctx, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return cfg_node(ctx, p->value);
    }
    return NULL;
}

/* libyaml keeps every key of a mapping, so a key written twice would
 * silently lose one value; this rejects it at the second occurrence. */
int cfg_check_keys(cfg_ctx_t *ctx, const yaml_node_t *map, const char *prefix)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    yaml_node_pair_t *top = map->data.mapping.pairs.top;
    char key[CFG_KEY_MAX];

    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        if (k == NULL || k->type != YAML_SCALAR_NODE || cfg_is_null(k))
            return cfg_fail(ctx, k != NULL ? k : map, prefix,
                            "found %s as a key; keys must be plain names", cfg_node_kind(k));
        const char *name = (const char *)k->data.scalar.value;
        if (strlen(name) != k->data.scalar.length)
            return cfg_fail(ctx, k, prefix, "a key contains a NUL byte; remove it");
        for (yaml_node_pair_t *q = start; q < p; q++) {
            yaml_node_t *prev = cfg_node(ctx, q->key);
            if (strcmp((const char *)prev->data.scalar.value, name) != 0)
                continue;
            snprintf(key, sizeof(key), "%s%s%s", prefix != NULL ? prefix : "",
                     prefix != NULL ? "." : "", name);
            return cfg_fail(ctx, k, key, "duplicate key; it is already set on line %zu, "
                            "remove one of them", prev->start_mark.line + 1);
        }
    }
    return 0;
}

/* Levenshtein distance, capped: names longer than 63 bytes never match. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];

    if (la >= 64 || lb >= 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cfg_suggest(const char *name, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only names at most two edits away */

    for (size_t i = 0; i < n; i++) {
        size_t d = strcasecmp(name, names[i]) == 0 ? 0 : edit_distance(name, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

char *cfg_resolve_path(const cfg_ctx_t *ctx, const char *path)
{
    if (path[0] == '/' || ctx->dir == NULL)
        return strdup(path);
    size_t len = strlen(ctx->dir) + 1 + strlen(path) + 1;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s/%s", ctx->dir, path);
    return out;
}

/* Reads the whole file, rejecting anything that is not a regular file of at
 * most CFG_FILE_MAX bytes. */
static int read_config_file(cfg_ctx_t *ctx, char **out, size_t *out_len)
{
    int fd = open(ctx->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (fd < 0)
        return cfg_fail(ctx, NULL, NULL, "cannot open the configuration file: %s; check the path",
                        strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cfg_fail(ctx, NULL, NULL, "not a regular file; pass the path of a YAML file");
        goto out;
    }
    if (st.st_size > CFG_FILE_MAX) {
        cfg_fail(ctx, NULL, NULL, "the file has %lld bytes, more than the %d accepted; check the "
                 "path", (long long)st.st_size, CFG_FILE_MAX);
        goto out;
    }
    buf = malloc(CFG_FILE_MAX + 1);
    if (buf == NULL) {
        cfg_fail(ctx, NULL, NULL, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cfg_fail(ctx, NULL, NULL, "cannot read the file: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CFG_FILE_MAX) {
            cfg_fail(ctx, NULL, NULL, "the file grew past %d bytes while being read",
                     CFG_FILE_MAX);
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

static int fail_syntax(cfg_ctx_t *ctx, const yaml_parser_t *parser)
{
    const char *problem = parser->problem != NULL ? parser->problem : "unknown problem";
    if (parser->error == YAML_MEMORY_ERROR)
        return cfg_fail(ctx, NULL, NULL, "out of memory while parsing");
    if (parser->context != NULL)
        return cfg_fail_mark(ctx, parser->problem_mark, NULL,
                             "YAML syntax error: %s (%s that starts on line %zu); check the "
                             "indentation, colons and quotes", problem, parser->context,
                             parser->context_mark.line + 1);
    return cfg_fail_mark(ctx, parser->problem_mark, NULL,
                         "YAML syntax error: %s; check the indentation, colons and quotes",
                         problem);
}

static int check_sections(cfg_ctx_t *ctx, const yaml_node_t *root)
{
    if (cfg_check_keys(ctx, root, NULL) != 0)
        return -1;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        const char *name = (const char *)k->data.scalar.value;
        size_t i;
        for (i = 0; i < N_SECTIONS; i++)
            if (strcmp(name, section_names[i]) == 0)
                break;
        if (i < N_SECTIONS)
            continue;
        const char *hint = cfg_suggest(name, section_names, N_SECTIONS);
        if (hint != NULL)
            return cfg_fail(ctx, k, name, "unknown section; did you mean '%s'?", hint);
        return cfg_fail(ctx, k, name, "unknown section; the sections are server, hosted, jwks, "
                        "store, platforms, roles and canvas");
    }
    return 0;
}

static int set_endpoint_urls(cfg_ctx_t *ctx, lti_config_t *cfg)
{
    size_t n = strlen(cfg->base_url) + sizeof("/hosted/index/oauth2-launch");
    cfg->launch_url = malloc(n);
    cfg->login_url = malloc(n);
    if (cfg->launch_url == NULL || cfg->login_url == NULL)
        return cfg_fail(ctx, NULL, NULL, "out of memory");
    snprintf(cfg->launch_url, n, "%s/hosted/index/oauth2-launch", cfg->base_url);
    snprintf(cfg->login_url, n, "%s/hosted/index/oidc-login", cfg->base_url);
    return 0;
}

/* Parses server.trustedProxies once, so that a login only compares. The
 * table row's check has already accepted every item. */
static int parse_trusted_proxies(cfg_ctx_t *ctx, lti_config_t *cfg)
{
    if (cfg->n_trusted_proxies == 0)
        return 0;
    cfg->trusted_proxy_nets = calloc(cfg->n_trusted_proxies, sizeof(*cfg->trusted_proxy_nets));
    if (cfg->trusted_proxy_nets == NULL)
        return cfg_fail(ctx, NULL, NULL, "out of memory");
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++)
        if (lti_cidr_parse(cfg->trusted_proxies[i], &cfg->trusted_proxy_nets[i]) != 0)
            return cfg_fail(ctx, NULL, "server.trustedProxies", "'%s' is not an address or prefix",
                            cfg->trusted_proxies[i]);
    return 0;
}

/* Returns the node to blame for a cross-key error: the key's own value when
 * it was written, else the section, else the top level. */
static const yaml_node_t *blame(const yaml_node_t *const *nodes, const cfg_section_t *sec,
                                const char *name, const yaml_node_t *fallback)
{
    const yaml_node_t *n = nodes[cfg_row_index(sec, name)];
    return n != NULL ? n : fallback;
}

static int check_hosted(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                        lti_config_t *cfg)
{
    const cfg_section_t *sec = &cfg_hosted_section;

    if (cfg->user_id_claim_property != NULL && cfg->user_id_claim == NULL)
        return cfg_fail(ctx, blame(nodes, sec, "lti13UserIdClaimProperty", where),
                        "hosted.lti13UserIdClaimProperty", "is set but lti13UserIdClaim is not; "
                        "name the claim that holds this property, or remove it");
    return 0;
}

static int check_jwks(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                      const lti_config_t *cfg)
{
    const cfg_section_t *sec = &cfg_jwks_section;

    if (cfg->jwks_min_ttl > cfg->jwks_max_ttl)
        return cfg_fail(ctx, blame(nodes, sec, "minCacheSeconds", where), "jwks.minCacheSeconds",
                        "is %u, more than maxCacheSeconds (%u); lower it", cfg->jwks_min_ttl,
                        cfg->jwks_max_ttl);
    if (cfg->jwks_default_ttl < cfg->jwks_min_ttl || cfg->jwks_default_ttl > cfg->jwks_max_ttl)
        return cfg_fail(ctx, blame(nodes, sec, "defaultCacheSeconds", where),
                        "jwks.defaultCacheSeconds", "is %u, outside minCacheSeconds.."
                        "maxCacheSeconds (%u..%u); choose a value in that range",
                        cfg->jwks_default_ttl,
                        cfg->jwks_min_ttl, cfg->jwks_max_ttl);
    if (cfg->jwks_connect_timeout_ms > cfg->jwks_timeout_ms)
        return cfg_fail(ctx, blame(nodes, sec, "connectTimeout", where), "jwks.connectTimeout",
                        "is %u ms, more than the whole-request timeout (%u ms); lower it or raise "
                        "jwks.timeout", cfg->jwks_connect_timeout_ms, cfg->jwks_timeout_ms);
    return 0;
}

/* Runs one table-driven section: defaults, the keys written, then the
 * section's own checks. */
static int load_section(cfg_ctx_t *ctx, const yaml_node_t *root, const cfg_section_t *sec,
                        lti_config_t *cfg, const yaml_node_t **nodes)
{
    const yaml_node_t *node = cfg_map_get(ctx, root, sec->name);
    cfg_apply_defaults(ctx, sec, cfg);
    return cfg_apply_mapping(ctx, node, node != NULL ? node : root, sec->name, sec, cfg, nodes);
}

static int load_root(cfg_ctx_t *ctx, const yaml_node_t *root, lti_config_t *cfg)
{
    const yaml_node_t *server[CFG_MAX_ROWS], *hosted[CFG_MAX_ROWS], *jwks[CFG_MAX_ROWS];
    const yaml_node_t *store[CFG_MAX_ROWS];

    if (root->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, root, NULL, "the top level is %s; it must be a mapping of sections "
                        "(server, hosted, jwks, store, platforms, roles)", cfg_node_kind(root));
    if (check_sections(ctx, root) != 0)
        return -1;

    if (load_section(ctx, root, &cfg_server_section, cfg, server) != 0 ||
        set_endpoint_urls(ctx, cfg) != 0 || parse_trusted_proxies(ctx, cfg) != 0)
        return -1;

    const yaml_node_t *hosted_node = cfg_map_get(ctx, root, "hosted");
    if (hosted_node == NULL)
        hosted_node = root;
    if (load_section(ctx, root, &cfg_hosted_section, cfg, hosted) != 0 ||
        check_hosted(ctx, hosted_node, hosted, cfg) != 0 ||
        cfg_load_secrets(ctx, hosted_node, hosted, cfg) != 0)
        return -1;

    const yaml_node_t *jwks_node = cfg_map_get(ctx, root, "jwks");
    if (load_section(ctx, root, &cfg_jwks_section, cfg, jwks) != 0 ||
        check_jwks(ctx, jwks_node != NULL ? jwks_node : root, jwks, cfg) != 0)
        return -1;

    const yaml_node_t *store_node = cfg_map_get(ctx, root, "store");
    if (load_section(ctx, root, &cfg_store_section, cfg, store) != 0 ||
        cfg_load_store(ctx, store_node != NULL ? store_node : root, store, cfg) != 0)
        return -1;

    const yaml_node_t *canvas[CFG_MAX_ROWS];
    const yaml_node_t *canvas_node = cfg_map_get(ctx, root, "canvas");
    if (load_section(ctx, root, &cfg_canvas_section, cfg, canvas) != 0 ||
        cfg_check_canvas(ctx, canvas_node != NULL ? canvas_node : root, canvas, cfg) != 0 ||
        cfg_check_canvas_rest(ctx, canvas_node != NULL ? canvas_node : root, canvas, cfg) != 0)
        return -1;

    if (cfg_load_platforms(ctx, cfg_map_get(ctx, root, "platforms"), root, cfg) != 0)
        return -1;
    return cfg_load_roles(ctx, cfg_map_get(ctx, root, "roles"), root, cfg);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return NULL;
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Parses the text into `doc`. Returns 0 with a root node, or -1 for a syntax
 * error, an empty file or a second document. */
static int parse_document(cfg_ctx_t *ctx, const char *text, size_t len, yaml_document_t *doc,
                          int *have_doc)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = -1;

    if (!yaml_parser_initialize(&parser))
        return cfg_fail(ctx, NULL, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        fail_syntax(ctx, &parser);
        goto out;
    }
    *have_doc = 1;
    if (yaml_document_get_root_node(doc) == NULL) {
        yaml_mark_t start = {0, 0, 0};
        cfg_fail_mark(ctx, start, NULL, "the file is empty or holds only comments; start from "
                      "conf/ltigate.yaml");
        goto out;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        fail_syntax(ctx, &parser);
        goto out;
    }
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second != NULL) {
        cfg_fail(ctx, second, NULL, "a second YAML document starts here; keep the whole "
                 "configuration in one document");
        yaml_document_delete(&extra);
        goto out;
    }
    yaml_document_delete(&extra);
    rc = 0;
out:
    yaml_parser_delete(&parser);
    return rc;
}

lti_config_t *lti_config_load(const char *path, char *errbuf, size_t errlen)
{
    cfg_ctx_t ctx = {.path = path != NULL ? path : "(null)", .errbuf = errbuf, .errlen = errlen};
    yaml_document_t doc;
    int have_doc = 0;
    lti_config_t *cfg = NULL;
    char *text = NULL;
    size_t len = 0;

    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        cfg_fail(&ctx, NULL, NULL, "no configuration file given");
        goto out;
    }
    if (read_config_file(&ctx, &text, &len) != 0)
        goto out;
    if (parse_document(&ctx, text, len, &doc, &have_doc) != 0)
        goto out;

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
        cfg_fail(&ctx, NULL, NULL, "out of memory");
        goto out;
    }
    ctx.dir = dir_of(path);
    ctx.doc = &doc;
    load_root(&ctx, yaml_document_get_root_node(&doc), cfg);
    if (!ctx.failed && cfg_build_frame_ancestors(cfg) != 0)
        cfg_fail(&ctx, NULL, NULL, "out of memory");
out:
    if (have_doc)
        yaml_document_delete(&doc);
    free(text);
    free(ctx.dir);
    if (ctx.failed) {
        lti_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void lti_config_free(lti_config_t *cfg)
{
    if (cfg == NULL)
        return;
    cfg_free_rows(&cfg_server_section, cfg);
    cfg_free_rows(&cfg_hosted_section, cfg);
    cfg_free_rows(&cfg_jwks_section, cfg);
    cfg_free_rows(&cfg_store_section, cfg);
    cfg_free_store(cfg);
    cfg_free_rows(&cfg_canvas_section, cfg);
    cfg_free_platforms(cfg);
    cfg_free_roles(cfg);
    free(cfg->path);
    free(cfg->launch_url);
    free(cfg->login_url);
    free(cfg->frame_ancestors);
    free(cfg->trusted_proxy_nets);
    EVP_PKEY_free(cfg->private_key);
    EVP_PKEY_free(cfg->next_private_key);
    OPENSSL_cleanse(cfg->session_secret, sizeof(cfg->session_secret));
    free(cfg);
}

const lti_platform_cfg_t *lti_config_find_platform(const lti_config_t *cfg, const char *iss,
                                                   const char *client_id, int *ambiguous)
{
    const lti_platform_cfg_t *found = NULL;
    size_t matches = 0;

    if (ambiguous != NULL)
        *ambiguous = 0;
    if (cfg == NULL || iss == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_platforms; i++) {
        const lti_platform_cfg_t *p = &cfg->platforms[i];
        if (strcmp(p->issuer, iss) != 0)
            continue;
        if (client_id != NULL) {
            if (strcmp(p->client_id, client_id) == 0)
                return p;
            continue;
        }
        found = p;
        matches++;
    }
    if (matches > 1) {
        if (ambiguous != NULL)
            *ambiguous = 1;
        return NULL;
    }
    return found;
}
