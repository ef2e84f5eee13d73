/* SPDX-License-Identifier: MIT */
/*
 * Cross-key checks of the store section: splits store.redisUrl into host,
 * port and database, reconciles the database with store.database, and reads
 * the Redis password from store.passwordFile so it never sits in the YAML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "config_int.h"

#define REDIS_DEFAULT_PORT 6379
#define PASSWORD_MAX 512

static int is_redis_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
}

/* Parses 1 to `digits` decimal digits into *out, at most `max`. */
static int parse_decimal(const char *p, size_t len, size_t digits, unsigned long max,
                         unsigned *out)
{
    unsigned long v = 0;
    if (len == 0 || len > digits)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Splits redis://HOST[:PORT][/DB]. HOST is a name, an IPv4 address or a
 * bracketed IPv6 address. *has_db is set when the URL names a database. */
static int parse_redis_url(const char *url, lti_config_t *cfg, int *has_db, char *msg,
                           size_t msglen)
{
    static const char scheme[] = "redis://";
    const char *host, *host_end, *p;

    *has_db = 0;
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(msg, msglen, "TLS (rediss://) is not available with hiredis 0.14; reach Redis "
                 "over a private network or through a TLS tunnel such as stunnel or spiped "
                 "listening on 127.0.0.1, and give the tunnel's redis:// address");
        return -1;
    }
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(msg, msglen, "'%s' is not a redis:// URL; write redis://HOST:PORT/DB", url);
        return -1;
    }
    host = url + sizeof(scheme) - 1;
    size_t authority_len = strcspn(host, "/?#");
    if (memchr(host, '@', authority_len) != NULL) {
        snprintf(msg, msglen, "the URL contains a user name or password; put the password in "
                 "store.passwordFile instead");
        return -1;
    }
    if (*host == '[') {
        host++;
        host_end = memchr(host, ']', authority_len);
        if (host_end == NULL || host_end == host) {
            snprintf(msg, msglen, "'%s' has an unterminated IPv6 address", url);
            return -1;
        }
        for (const char *c = host; c < host_end; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F') || *c == ':' || *c == '.'))
                host_end = NULL;
        if (host_end == NULL) {
            snprintf(msg, msglen, "'%s' has an invalid IPv6 address", url);
            return -1;
        }
        p = host_end + 1;
    } else {
        host_end = host;
        while (is_redis_host_char(*host_end))
            host_end++;
        p = host_end;
    }
    if (host_end == host) {
        snprintf(msg, msglen, "'%s' has no host; write redis://HOST:PORT/DB", url);
        return -1;
    }
    cfg->store_redis_port = REDIS_DEFAULT_PORT;
    if (*p == ':') {
        size_t port_len = strcspn(p + 1, "/?#");
        if (parse_decimal(p + 1, port_len, 5, 65535, &cfg->store_redis_port) != 0 ||
            cfg->store_redis_port == 0) {
            snprintf(msg, msglen, "'%s' has an invalid port; use 1 to 65535", url);
            return -1;
        }
        p += 1 + port_len;
    }
    if (*p == '/' && p[1] != '\0') {
        if (parse_decimal(p + 1, strlen(p + 1), 5, 65535, &cfg->store_redis_db) != 0) {
            snprintf(msg, msglen, "'%s' has an invalid database; the path is a database number "
                     "such as /0", url);
            return -1;
        }
        *has_db = 1;
    } else if (*p == '/') {
        /* redis://host:port/ names no database. */
    } else if (*p != '\0') {
        snprintf(msg, msglen, "'%s' has unexpected characters after the host; write "
                 "redis://HOST:PORT/DB without a query or fragment", url);
        return -1;
    }
    cfg->store_redis_host = strndup(host, (size_t)(host_end - host));
    if (cfg->store_redis_host == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

static int load_password(cfg_ctx_t *ctx, const yaml_node_t *node, lti_config_t *cfg)
{
    const char *key = "store.passwordFile";
    unsigned char buf[PASSWORD_MAX + 1];

    ssize_t len = cfg_read_secret_file(ctx, node, key, cfg->store_password_file, buf,
                                       sizeof(buf), "a Redis password is shorter");
    if (len < 0)
        return -1;
    /* One trailing line break is what `echo secret > file` writes. */
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len == 0 || memchr(buf, '\n', (size_t)len) != NULL) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return cfg_fail(ctx, node, key, "'%s' must contain the password on one line",
                        cfg->store_password_file);
    }
    cfg->store_password = malloc((size_t)len + 1);
    if (cfg->store_password != NULL) {
        memcpy(cfg->store_password, buf, (size_t)len);
        cfg->store_password[len] = '\0';
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (cfg->store_password == NULL)
        return cfg_fail(ctx, node, key, "out of memory");
    return 0;
}

static const yaml_node_t *store_node(const yaml_node_t **nodes, const char *name,
                                     const yaml_node_t *where)
{
    const yaml_node_t *n = nodes[cfg_row_index(&cfg_store_section, name)];
    return n != NULL ? n : where;
}

int cfg_load_store(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                   lti_config_t *cfg)
{
    char msg[512];
    int has_db = 0;
    const yaml_node_t *url_node = store_node(nodes, "redisUrl", where);
    const yaml_node_t *db_node = nodes[cfg_row_index(&cfg_store_section, "database")];

    if (cfg->store_redis_url == NULL)
        return cfg_fail(ctx, url_node, "store.redisUrl", "is empty; write redis://HOST:PORT/DB");
    if (parse_redis_url(cfg->store_redis_url, cfg, &has_db, msg, sizeof(msg)) != 0)
        return cfg_fail(ctx, url_node, "store.redisUrl", "%s", msg);
    if (has_db && db_node != NULL && cfg->store_redis_db != cfg->store_database)
        return cfg_fail(ctx, db_node, "store.database", "database %u differs from database %u "
                        "in store.redisUrl; give the database in one place",
                        cfg->store_database, cfg->store_redis_db);
    if (!has_db)
        cfg->store_redis_db = cfg->store_database;
    if (cfg->store_password_file != NULL &&
        load_password(ctx, store_node(nodes, "passwordFile", where), cfg) != 0)
        return -1;
    return 0;
}

void cfg_free_store(lti_config_t *cfg)
{
    free(cfg->store_redis_host);
    cfg->store_redis_host = NULL;
    if (cfg->store_password != NULL) {
        OPENSSL_clear_free(cfg->store_password, strlen(cfg->store_password));
        cfg->store_password = NULL;
    }
}
