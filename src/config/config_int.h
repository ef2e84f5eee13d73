/* SPDX-License-Identifier: MIT */
/*
 * Internals of the config loader: the parse context, the key table types
 * and the helpers that report an error at the YAML mark of a node.
 * Every error is one line: "FILE:LINE:COL: key 'K': what is wrong; what to do".
 */
#ifndef LTI_CONFIG_INT_H
#define LTI_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <yaml.h>
#include "lti/config.h"

#define CFG_KEY_MAX 192   /* max length of a key path in a message */
#define CFG_MAX_ROWS 24   /* max keys in one section table */

typedef struct cfg_ctx {
    const char *path;     /* config file as given, for messages */
    char *dir;            /* its directory; NULL when the path has no '/' */
    yaml_document_t *doc;
    char *errbuf;
    size_t errlen;
    int failed;           /* set by the first cfg_fail; later calls keep that message */
} cfg_ctx_t;

typedef enum cfg_type {
    CFG_STRING,   /* char *; plain null, "~" or "" leaves the field NULL */
    CFG_URL,      /* char *; http(s) URL without spaces, user info or fragment */
    CFG_PATH,     /* char *; a relative path resolves against the config directory */
    CFG_UINT,     /* plain decimal count */
    CFG_SECONDS,  /* decimal seconds, or with a unit: 90s, 5m, 2h, 1d */
    CFG_MILLIS,   /* decimal milliseconds, or with a unit: 2000ms, 2s */
    CFG_SIZE,     /* decimal bytes, or with a unit: 64KiB, 1MiB */
    CFG_BOOL,     /* int; true or false */
    CFG_LOG_LEVEL,/* int; error, warn, info or debug */
    CFG_STRLIST,  /* char ** at offset, size_t count at count_offset */
    CFG_LISTEN,   /* the server.listen list, parsed into lti_listen_cfg_t */
} cfg_type_t;

enum {
    CFG_REQUIRED = 1u << 0, /* missing or empty is an error */
    CFG_STDERR = 1u << 1,   /* CFG_PATH: the word "stderr" stores NULL */
};

/* Checks one string value (a scalar, or one item of a list). Returns 0, or
 * -1 after writing "what is wrong; what to do" to `msg`. `node` is the YAML
 * node the value came from, NULL for a built-in default. */
typedef int (*cfg_check_fn)(const yaml_node_t *node, const char *value, char *msg, size_t msglen);

/* One configuration key: where its value goes and how it is checked. */
typedef struct cfg_row {
    const char *name;
    cfg_type_t type;
    size_t offset;        /* destination field in the section's struct */
    size_t size;          /* its size; 0 for a key that is checked but not stored */
    size_t count_offset;  /* CFG_STRLIST: the size_t count field */
    uint64_t min, max;    /* numbers: range; strings: max bytes; lists: max items */
    const char *def;      /* default written as in YAML; NULL = none */
    unsigned flags;
    cfg_check_fn check;
    const char *unit;     /* word used in range messages: "seconds", "bytes", ... */
} cfg_row_t;

typedef struct cfg_section {
    const char *name;
    const cfg_row_t *rows;
    size_t n_rows;
} cfg_section_t;

extern const cfg_section_t cfg_server_section;
extern const cfg_section_t cfg_hosted_section;
extern const cfg_section_t cfg_jwks_section;
extern const cfg_section_t cfg_store_section;
extern const cfg_section_t cfg_platform_section;
extern const cfg_section_t cfg_canvas_section;

/* A URL split into the parts the checks need; pointers point into the input. */
typedef struct cfg_url {
    int https;
    const char *host;     /* without brackets for an IPv6 literal */
    size_t host_len;
    int has_port;
    const char *rest;     /* path, query: everything after the authority */
} cfg_url_t;

/* Records the first error as one line and returns -1. `node` may be NULL,
 * then the message carries no line and column. */
int cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with an explicit mark (for libyaml parser errors). */
int cfg_fail_mark(cfg_ctx_t *ctx, yaml_mark_t mark, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *cfg_node_kind(const yaml_node_t *node);
/* 1 for a plain null scalar ("", "~", "null"), as YAML reads it. */
int cfg_is_null(const yaml_node_t *node);
/* Returns the text of a non-null scalar without NUL bytes, or NULL. */
const char *cfg_scalar_text(const yaml_node_t *node);
yaml_node_t *cfg_node(const cfg_ctx_t *ctx, int index);
/* Returns the value node of `key` in a mapping node, or NULL. */
yaml_node_t *cfg_map_get(const cfg_ctx_t *ctx, const yaml_node_t *map, const char *key);
/* Returns the name in `names` closest to `name` (at most two edits away,
 * or equal ignoring case), or NULL. */
const char *cfg_suggest(const char *name, const char *const *names, size_t n);
/* Checks that every key of the mapping is a scalar and appears once. */
int cfg_check_keys(cfg_ctx_t *ctx, const yaml_node_t *map, const char *prefix);

/* Writes the defaults of every row into `base`. */
void cfg_apply_defaults(cfg_ctx_t *ctx, const cfg_section_t *sec, void *base);
/* Stores each key of `map` through the section's rows; `nodes[i]` receives
 * the value node of row i (NULL when absent). `map` may be NULL or a null
 * scalar for an absent or empty section, then `where` is used for marks. */
int cfg_apply_mapping(cfg_ctx_t *ctx, const yaml_node_t *map, const yaml_node_t *where,
                      const char *prefix, const cfg_section_t *sec, void *base,
                      const yaml_node_t **nodes);
/* Returns the row index of `name` in the section; the name must exist. */
size_t cfg_row_index(const cfg_section_t *sec, const char *name);
/* Frees every heap value the section's rows stored in `base`. */
void cfg_free_rows(const cfg_section_t *sec, void *base);

/* Returns a malloc'd copy of `path`, joined to the config directory when
 * relative, or NULL when out of memory. */
char *cfg_resolve_path(const cfg_ctx_t *ctx, const char *path);

/* Splits an http or https URL and checks its characters. Returns 0, or -1
 * with `msg` describing the fault. */
int cfg_url_parse(const char *url, cfg_url_t *out, char *msg, size_t msglen);
/* 1 when the host is 127.0.0.1, ::1 or localhost. */
int cfg_url_is_loopback(const cfg_url_t *url);

/* Checks the canvas section as a whole (config_canvas.c): exactly one
 * placement in subAccountMode. */
int cfg_check_canvas(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                     const lti_config_t *cfg);
/* Checks that useScopedKey comes with customAppId, customAppKeyFile and
 * apiUrl (config_services.c). */
int cfg_check_canvas_rest(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                          const lti_config_t *cfg);

/* Checks of single values, usable as cfg_check_fn. */
int cfg_check_base_url(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_cidr(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_client_id(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
/* config_frames.c: frameAncestors entries, and the union of all
 * registrations' entries (or defaults) in cfg->frame_ancestors. */
int cfg_check_frame_ancestor(const yaml_node_t *node, const char *value, char *msg,
                             size_t msglen);
int cfg_build_frame_ancestors(lti_config_t *cfg);
int cfg_check_deployment_id(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_issuer(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_audience(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_auth_method(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_user_id_attribute(const yaml_node_t *node, const char *value, char *msg,
                                size_t msglen);
int cfg_check_claim_name(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_claim_property(const yaml_node_t *node, const char *value, char *msg,
                             size_t msglen);
int cfg_check_user_id_fallback(const yaml_node_t *node, const char *value, char *msg,
                               size_t msglen);
int cfg_check_store_backend(const yaml_node_t *node, const char *value, char *msg,
                            size_t msglen);
int cfg_check_key_prefix(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
/* Checks an app role name of roles.order: 1-64 letters, digits, '_' or '-'. */
int cfg_check_app_role(const yaml_node_t *node, const char *value, char *msg, size_t msglen);
int cfg_check_privacy_level(const yaml_node_t *node, const char *value, char *msg,
                            size_t msglen);
int cfg_check_placement(const yaml_node_t *node, const char *value, char *msg, size_t msglen);

/* Section loaders with cross-key checks (config_platforms.c, config_roles.c,
 * config_keys.c). */
int cfg_load_platforms(cfg_ctx_t *ctx, const yaml_node_t *node, const yaml_node_t *where,
                       lti_config_t *cfg);
int cfg_load_roles(cfg_ctx_t *ctx, const yaml_node_t *node, const yaml_node_t *where,
                   lti_config_t *cfg);
void cfg_free_roles(lti_config_t *cfg);
void cfg_free_platforms(lti_config_t *cfg);
/* Loads the tool keys and the session secret named in the hosted section.
 * `nodes` are the hosted section's value nodes from cfg_apply_mapping. */
int cfg_load_secrets(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                     lti_config_t *cfg);
/* Reads a file of at most cap - 1 bytes into `buf` (warning when every user
 * may read it). Returns its length, or -1 after cfg_fail. */
ssize_t cfg_read_secret_file(cfg_ctx_t *ctx, const yaml_node_t *node, const char *key,
                             const char *path, unsigned char *buf, size_t cap,
                             const char *too_big_hint);
/* Splits store.redisUrl, reconciles it with store.database and reads
 * store.passwordFile (config_store.c). `nodes` are the store section's value
 * nodes from cfg_apply_mapping. */
int cfg_load_store(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                   lti_config_t *cfg);
/* Frees what cfg_load_store filled in. */
void cfg_free_store(lti_config_t *cfg);

#endif
