/* SPDX-License-Identifier: MIT */
/*
 * Turns YAML values into the fields that the key tables name: scalars
 * (strings, URLs, paths, numbers with units, booleans, log levels), lists of
 * strings and the listen list, each checked against its row. Also applies
 * the defaults and frees what the rows stored.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lti/log.h"
#include "config_int.h"

static void *field(void *base, const cfg_row_t *row)
{
    return (char *)base + row->offset;
}

static void store_uint(void *base, const cfg_row_t *row, uint64_t v)
{
    if (row->size == sizeof(uint32_t)) {
        uint32_t x = (uint32_t)v;
        memcpy(field(base, row), &x, sizeof(x));
    } else if (row->size == sizeof(uint64_t)) {
        memcpy(field(base, row), &v, sizeof(v));
    }
}

static void store_string(void *base, const cfg_row_t *row, char *s)
{
    if (row->size == 0) {
        free(s);
        return;
    }
    char **dst = field(base, row);
    free(*dst);
    *dst = s;
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        free(items[i]);
    free(items);
}

static void store_list(void *base, const cfg_row_t *row, char **items, size_t n)
{
    char ***dst = field(base, row);
    size_t *count = (size_t *)((char *)base + row->count_offset);
    free_list(*dst, *count);
    *dst = items;
    *count = n;
}

/* Parses decimal digits with an optional unit allowed by the type. Returns
 * 0 on success, 1 when the text is not a number of that type, or 2 when it
 * is a number that is negative or too large. */
static int parse_number(const char *s, cfg_type_t type, uint64_t *out)
{
    static const struct {
        cfg_type_t type;
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {CFG_SECONDS, "s", 1},      {CFG_SECONDS, "m", 60},   {CFG_SECONDS, "h", 3600},
        {CFG_SECONDS, "d", 86400},  {CFG_MILLIS, "ms", 1},    {CFG_MILLIS, "s", 1000},
        {CFG_SIZE, "KiB", 1024},    {CFG_SIZE, "MiB", 1048576},
    };
    uint64_t v = 0, mult = 1;
    const char *p = s;
    int negative = 0;

    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return 1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 2;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0') {
        size_t i;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (units[i].type == type && strcmp(p, units[i].suffix) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return 1;
        mult = units[i].mult;
    }
    if (negative)
        return v == 0 ? 1 : 2;
    if (v > UINT64_MAX / mult)
        return 2;
    *out = v * mult;
    return 0;
}

static const char *number_hint(cfg_type_t type)
{
    switch (type) {
    case CFG_SECONDS:
        return "write whole seconds such as 60, or use a unit: 90s, 5m, 2h, 1d";
    case CFG_MILLIS:
        return "write whole milliseconds such as 2000, or use a unit: 2000ms, 2s";
    case CFG_SIZE:
        return "write bytes such as 65536, or use a unit: 64KiB, 1MiB";
    default:
        return "write a decimal number such as 20";
    }
}

static int store_number(cfg_ctx_t *ctx, const cfg_row_t *row, void *base,
                        const yaml_node_t *node, const char *key, const char *text)
{
    uint64_t v = 0;
    int rc = parse_number(text, row->type, &v);

    if (rc == 1)
        return cfg_fail(ctx, node, key, "'%s' is not a number; %s", text, number_hint(row->type));
    if (rc == 2 || v < row->min || v > row->max)
        return cfg_fail(ctx, node, key, "value %s is out of range; use %" PRIu64 " to %" PRIu64
                        " %s", text, row->min, row->max, row->unit != NULL ? row->unit : "");
    store_uint(base, row, v);
    return 0;
}

static int store_bool(cfg_ctx_t *ctx, const cfg_row_t *row, void *base, const yaml_node_t *node,
                      const char *key, const char *text)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};

    for (size_t i = 0; i < 3; i++) {
        if (strcmp(text, yes[i]) == 0) {
            store_uint(base, row, 1);
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            store_uint(base, row, 0);
            return 0;
        }
    }
    return cfg_fail(ctx, node, key, "'%s' is not a boolean; write true or false", text);
}

/* Checks the bytes of a string value: no control characters, at most `max`
 * bytes (0: no limit here). UTF-8 is allowed (names of platforms). */
static int check_text(cfg_ctx_t *ctx, uint64_t max, const yaml_node_t *node, const char *key,
                      const char *text)
{
    size_t len = strlen(text);
    if (max != 0 && len > max)
        return cfg_fail(ctx, node, key, "the value has %zu bytes, more than the %" PRIu64
                        " accepted; shorten it", len, max);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return cfg_fail(ctx, node, key, "the value contains a control character (0x%02x); "
                            "remove it", *p);
    return 0;
}

static int run_check(cfg_ctx_t *ctx, const cfg_row_t *row, const yaml_node_t *node,
                     const char *key, const char *text)
{
    char msg[512];
    if (row->check == NULL || row->check(node, text, msg, sizeof(msg)) == 0)
        return 0;
    return cfg_fail(ctx, node, key, "%s", msg);
}

static int store_text(cfg_ctx_t *ctx, const cfg_row_t *row, void *base, const yaml_node_t *node,
                      const char *key, const char *text)
{
    char msg[512];
    cfg_url_t url;
    char *copy;

    if (check_text(ctx, row->max, node, key, text) != 0)
        return -1;
    if (row->type == CFG_URL && cfg_url_parse(text, &url, msg, sizeof(msg)) != 0)
        return cfg_fail(ctx, node, key, "%s", msg);
    if (run_check(ctx, row, node, key, text) != 0)
        return -1;
    if (row->type == CFG_PATH && (row->flags & CFG_STDERR) && strcmp(text, "stderr") == 0)
        copy = NULL;
    else if (row->type == CFG_PATH)
        copy = cfg_resolve_path(ctx, text);
    else
        copy = strdup(text);
    if (copy == NULL && !(row->flags & CFG_STDERR))
        return cfg_fail(ctx, node, key, "out of memory");
    store_string(base, row, copy);
    return 0;
}

/* Stores one scalar value. `node` is NULL for a built-in default. */
static int store_scalar(cfg_ctx_t *ctx, const cfg_row_t *row, void *base,
                        const yaml_node_t *node, const char *key, const char *text)
{
    int empty = node != NULL ? cfg_is_null(node) || text[0] == '\0' : text[0] == '\0';

    switch (row->type) {
    case CFG_STRING:
    case CFG_URL:
    case CFG_PATH:
        if (!empty)
            return store_text(ctx, row, base, node, key, text);
        if (row->flags & CFG_REQUIRED)
            return cfg_fail(ctx, node, key, "the value is empty; this key is required");
        store_string(base, row, NULL);
        return 0;
    case CFG_BOOL:
        return store_bool(ctx, row, base, node, key, text);
    case CFG_LOG_LEVEL: {
        int level = lti_log_level_parse(text);
        if (level < 0)
            return cfg_fail(ctx, node, key, "'%s' is not a log level; use error, warn, info or "
                            "debug", text);
        store_uint(base, row, (uint64_t)level);
        return 0;
    }
    default:
        if (empty)
            return cfg_fail(ctx, node, key, "the value is empty; %s, or remove the key to use "
                            "the default %s", number_hint(row->type), row->def);
        return store_number(ctx, row, base, node, key, text);
    }
}

/* Parses "host:port" or "[v6]:port" with an IP literal host. */
static int parse_listen(const char *text, lti_listen_cfg_t *out, char *msg, size_t msglen)
{
    const char *host = text, *colon;
    size_t host_len;
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    int family = AF_INET;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(msg, msglen, "'%s' is not [IPv6]:port; write it like [::1]:8080", text);
            return -1;
        }
        host = text + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
        family = AF_INET6;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL) {
            snprintf(msg, msglen, "'%s' is not host:port; write it like 127.0.0.1:8080 or "
                     "[::1]:8080", text);
            return -1;
        }
        host_len = (size_t)(colon - text);
    }
    if (host_len == 0 || host_len >= sizeof(buf)) {
        snprintf(msg, msglen, "'%s' has no valid host; write an IP address such as 127.0.0.1",
                 text);
        return -1;
    }
    memcpy(buf, host, host_len);
    buf[host_len] = '\0';
    if (inet_pton(family, buf, addr) != 1) {
        snprintf(msg, msglen, "'%s' is not an IP address; listen takes IP literals such as "
                 "127.0.0.1, 0.0.0.0 or [::1]", buf);
        return -1;
    }
    uint64_t port = 0;
    if (parse_number(colon + 1, CFG_UINT, &port) != 0 || port == 0 || port > 65535) {
        snprintf(msg, msglen, "'%s' has no valid port; use a port from 1 to 65535", text);
        return -1;
    }
    out->host = strdup(buf);
    out->port = (uint16_t)port;
    if (out->host == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

static void clear_listen(lti_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_listen; i++)
        free(cfg->listen[i].host);
    memset(cfg->listen, 0, sizeof(cfg->listen));
    cfg->n_listen = 0;
}

/* Returns the text of a scalar list item, or NULL after reporting why the
 * item is unusable. */
static const char *item_text(cfg_ctx_t *ctx, const yaml_node_t *item, const char *key, size_t i)
{
    if (item->type != YAML_SCALAR_NODE) {
        cfg_fail(ctx, item, key, "item %zu is %s; each item must be a single value", i + 1,
                 cfg_node_kind(item));
        return NULL;
    }
    if (cfg_is_null(item) || item->data.scalar.length == 0) {
        cfg_fail(ctx, item, key, "item %zu is empty; remove it or give it a value", i + 1);
        return NULL;
    }
    const char *text = (const char *)item->data.scalar.value;
    if (strlen(text) != item->data.scalar.length) {
        cfg_fail(ctx, item, key, "item %zu contains a NUL byte; remove it", i + 1);
        return NULL;
    }
    return text;
}

static int check_list_node(cfg_ctx_t *ctx, const cfg_row_t *row, const yaml_node_t *node,
                           const char *key, size_t *n)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ctx, node, key, "expected a list such as [\"a\", \"b\"], found %s",
                        cfg_node_kind(node));
    *n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (*n > row->max)
        return cfg_fail(ctx, node, key, "the list has %zu items, more than the %" PRIu64
                        " accepted", *n, row->max);
    return 0;
}

static int store_listen(cfg_ctx_t *ctx, const cfg_row_t *row, lti_config_t *cfg,
                        const yaml_node_t *node, const char *key)
{
    size_t n = 0;
    char msg[256];

    if (check_list_node(ctx, row, node, key, &n) != 0)
        return -1;
    if (n == 0)
        return cfg_fail(ctx, node, key, "the list is empty; give at least one host:port");
    clear_listen(cfg);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = cfg_node(ctx, node->data.sequence.items.start[i]);
        const char *text = item_text(ctx, item, key, i);
        if (text == NULL)
            return -1;
        if (parse_listen(text, &cfg->listen[i], msg, sizeof(msg)) != 0)
            return cfg_fail(ctx, item, key, "%s", msg);
        cfg->n_listen = i + 1;
        for (size_t j = 0; j < i; j++)
            if (cfg->listen[j].port == cfg->listen[i].port &&
                strcmp(cfg->listen[j].host, cfg->listen[i].host) == 0)
                return cfg_fail(ctx, item, key, "'%s' is listed twice; remove one", text);
    }
    return 0;
}

static int store_strlist(cfg_ctx_t *ctx, const cfg_row_t *row, void *base,
                         const yaml_node_t *node, const char *key)
{
    size_t n = 0;
    char **items = NULL;
    int rc = -1;

    if (cfg_is_null(node)) {
        store_list(base, row, NULL, 0);
        return 0;
    }
    if (check_list_node(ctx, row, node, key, &n) != 0)
        return -1;
    if (n > 0 && (items = calloc(n, sizeof(*items))) == NULL)
        return cfg_fail(ctx, node, key, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = cfg_node(ctx, node->data.sequence.items.start[i]);
        const char *text = item_text(ctx, item, key, i);
        /* row->max counts items here; the item check caps each item's length. */
        if (text == NULL || check_text(ctx, 0, item, key, text) != 0 ||
            run_check(ctx, row, item, key, text) != 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (strcmp(items[j], text) == 0) {
                cfg_fail(ctx, item, key, "'%s' is listed twice; remove one", text);
                goto out;
            }
        if ((items[i] = strdup(text)) == NULL) {
            cfg_fail(ctx, item, key, "out of memory");
            goto out;
        }
    }
    store_list(base, row, items, n);
    items = NULL;
    rc = 0;
out:
    free_list(items, n);
    return rc;
}

static const char *type_word(cfg_type_t type)
{
    switch (type) {
    case CFG_BOOL:
        return "true or false";
    case CFG_UINT:
    case CFG_SECONDS:
    case CFG_MILLIS:
    case CFG_SIZE:
        return "a number";
    case CFG_URL:
        return "a URL";
    case CFG_PATH:
        return "a file path";
    default:
        return "a single value";
    }
}

static int store_node(cfg_ctx_t *ctx, const cfg_row_t *row, void *base, const yaml_node_t *node,
                      const char *key)
{
    if (row->type == CFG_LISTEN)
        return store_listen(ctx, row, base, node, key);
    if (row->type == CFG_STRLIST)
        return store_strlist(ctx, row, base, node, key);
    if (node->type != YAML_SCALAR_NODE)
        return cfg_fail(ctx, node, key, "expected %s, found %s", type_word(row->type),
                        cfg_node_kind(node));
    const char *text = (const char *)node->data.scalar.value;
    if (strlen(text) != node->data.scalar.length)
        return cfg_fail(ctx, node, key, "the value contains a NUL byte; remove it");
    return store_scalar(ctx, row, base, node, key, text);
}

void cfg_apply_defaults(cfg_ctx_t *ctx, const cfg_section_t *sec, void *base)
{
    for (size_t i = 0; i < sec->n_rows; i++) {
        const cfg_row_t *row = &sec->rows[i];
        if (row->def == NULL)
            continue;
        if (row->type == CFG_LISTEN) {
            lti_config_t *cfg = base;
            char msg[128];
            clear_listen(cfg);
            if (parse_listen(row->def, &cfg->listen[0], msg, sizeof(msg)) == 0)
                cfg->n_listen = 1;
            continue;
        }
        store_scalar(ctx, row, base, NULL, row->name, row->def);
    }
}

static int fail_unknown_key(cfg_ctx_t *ctx, const yaml_node_t *k, const char *key,
                            const char *prefix, const cfg_section_t *sec)
{
    const char *names[CFG_MAX_ROWS];
    const char *name = (const char *)k->data.scalar.value;

    for (size_t i = 0; i < sec->n_rows; i++)
        names[i] = sec->rows[i].name;
    const char *hint = cfg_suggest(name, names, sec->n_rows);
    if (hint != NULL)
        return cfg_fail(ctx, k, key, "unknown key in section '%s'; did you mean '%s'?", prefix,
                        hint);

    char list[512];
    size_t n = 0;
    for (size_t i = 0; i < sec->n_rows && n < sizeof(list); i++) {
        int w = snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "", names[i]);
        n += w < 0 ? 0 : (size_t)w;
    }
    return cfg_fail(ctx, k, key, "unknown key in section '%s'; the keys are: %s", prefix, list);
}

int cfg_apply_mapping(cfg_ctx_t *ctx, const yaml_node_t *map, const yaml_node_t *where,
                      const char *prefix, const cfg_section_t *sec, void *base,
                      const yaml_node_t **nodes)
{
    char key[CFG_KEY_MAX];

    for (size_t i = 0; i < sec->n_rows; i++)
        nodes[i] = NULL;
    if (map != NULL && !cfg_is_null(map)) {
        if (map->type != YAML_MAPPING_NODE)
            return cfg_fail(ctx, map, prefix, "expected a mapping of keys, found %s",
                            cfg_node_kind(map));
        if (cfg_check_keys(ctx, map, prefix) != 0)
            return -1;
        where = map;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = cfg_node(ctx, p->key);
            const char *name = (const char *)k->data.scalar.value;
            size_t i;
            snprintf(key, sizeof(key), "%s.%s", prefix, name);
            for (i = 0; i < sec->n_rows; i++)
                if (strcmp(sec->rows[i].name, name) == 0)
                    break;
            if (i == sec->n_rows)
                return fail_unknown_key(ctx, k, key, prefix, sec);
            nodes[i] = cfg_node(ctx, p->value);
            if (store_node(ctx, &sec->rows[i], base, nodes[i], key) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < sec->n_rows; i++) {
        if (!(sec->rows[i].flags & CFG_REQUIRED) || nodes[i] != NULL)
            continue;
        snprintf(key, sizeof(key), "%s.%s", prefix, sec->rows[i].name);
        return cfg_fail(ctx, where, key, "missing required key; add it to section '%s'", prefix);
    }
    return 0;
}

void cfg_free_rows(const cfg_section_t *sec, void *base)
{
    for (size_t i = 0; i < sec->n_rows; i++) {
        const cfg_row_t *row = &sec->rows[i];
        switch (row->type) {
        case CFG_STRING:
        case CFG_URL:
        case CFG_PATH:
            store_string(base, row, NULL);
            break;
        case CFG_STRLIST:
            store_list(base, row, NULL, 0);
            break;
        case CFG_LISTEN:
            clear_listen(base);
            break;
        default:
            break;
        }
    }
}
