/* SPDX-License-Identifier: MIT */
/*
 * Logs the effective configuration at startup, so an admin can see which
 * defaults applied. Key material and the session secret are never logged:
 * the lines name the key files, the key size and the source of the secret.
 */
#include <stdio.h>
#include <string.h>
#include "lti/config.h"
#include "lti/log.h"

#define MOD "config"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void dump_server(const lti_config_t *cfg)
{
    char listen[LTI_CONFIG_MAX_LISTEN * 56] = "";
    char threads[16], body[24], conns[24], timeout[16];
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_listen && n < sizeof(listen); i++) {
        const lti_listen_cfg_t *l = &cfg->listen[i];
        int v6 = strchr(l->host, ':') != NULL;
        int w = snprintf(listen + n, sizeof(listen) - n, "%s%s%s%s:%u", i > 0 ? "," : "",
                         v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
        n += w < 0 ? 0 : (size_t)w;
    }
    snprintf(threads, sizeof(threads), "%d", cfg->threads);
    snprintf(body, sizeof(body), "%zu", cfg->max_body);
    snprintf(conns, sizeof(conns), "%zu", cfg->max_connections);
    snprintf(timeout, sizeof(timeout), "%u", cfg->request_timeout_ms);
    char proxies[16];
    snprintf(proxies, sizeof(proxies), "%zu", cfg->n_trusted_proxies);
    const char *kv[] = {
        "config_file", cfg->path, "listen", listen, "base_url", cfg->base_url,
        "launch_url", cfg->launch_url, "login_url", cfg->login_url, "threads", threads,
        "max_request_body", body, "max_connections", conns, "request_timeout_ms", timeout,
        "trusted_proxies", proxies, "log_file", cfg->log_file != NULL ? cfg->log_file : "stderr",
        "log_level", cfg->log_level >= 0 && cfg->log_level <= 3 ? level_names[cfg->log_level]
                                                                : "?",
        NULL,
    };
    lti_log_kv(LTI_LOG_INFO, MOD, "server", kv);
}

static void dump_hosted(const lti_config_t *cfg)
{
    char bits[16], next_bits[16], skew[16], state[16], age[16], life[16], session[16],
        token[16];

    snprintf(bits, sizeof(bits), "%d", cfg->private_key ? EVP_PKEY_get_bits(cfg->private_key) : 0);
    snprintf(next_bits, sizeof(next_bits), "%d",
             cfg->next_private_key ? EVP_PKEY_get_bits(cfg->next_private_key) : 0);
    snprintf(skew, sizeof(skew), "%u", cfg->clock_skew);
    snprintf(state, sizeof(state), "%u", cfg->state_lifetime);
    snprintf(age, sizeof(age), "%u", cfg->max_token_age);
    snprintf(life, sizeof(life), "%u", cfg->max_token_lifetime);
    snprintf(session, sizeof(session), "%u", cfg->session_lifetime);
    snprintf(token, sizeof(token), "%u", cfg->session_token_lifetime);
    const char *kv[] = {
        "private_key_file", cfg->private_key_file, "private_key_bits", bits,
        "next_private_key_file", cfg->next_private_key_file,
        "next_private_key_bits", cfg->next_private_key != NULL ? next_bits : NULL,
        "user_id_attribute", cfg->user_id_attribute, "user_id_claim", cfg->user_id_claim,
        "user_id_claim_property", cfg->user_id_claim_property,
        "user_id_fallback", cfg->user_id_fallback, "clock_skew", skew,
        "state_lifetime", state, "max_token_age", age, "max_token_lifetime", life,
        "session_lifetime", session, "session_token_lifetime", token,
        "session_secret", cfg->session_secret_from_file ? "file" : "random-per-process",
        "session_secret_file", cfg->session_secret_file,
        NULL,
    };
    lti_log_kv(LTI_LOG_INFO, MOD, "hosted", kv);
}

static void dump_jwks_store(const lti_config_t *cfg)
{
    char v[10][24];

    snprintf(v[0], sizeof(v[0]), "%u", cfg->jwks_min_ttl);
    snprintf(v[1], sizeof(v[1]), "%u", cfg->jwks_max_ttl);
    snprintf(v[2], sizeof(v[2]), "%u", cfg->jwks_default_ttl);
    snprintf(v[3], sizeof(v[3]), "%u", cfg->jwks_stale_ttl);
    snprintf(v[4], sizeof(v[4]), "%u", cfg->jwks_refetch_interval);
    snprintf(v[5], sizeof(v[5]), "%u", cfg->jwks_connect_timeout_ms);
    snprintf(v[6], sizeof(v[6]), "%u", cfg->jwks_timeout_ms);
    snprintf(v[7], sizeof(v[7]), "%zu", cfg->jwks_max_bytes);
    snprintf(v[8], sizeof(v[8]), "%zu", cfg->jwks_max_keys);
    snprintf(v[9], sizeof(v[9]), "%zu", cfg->store_max_entries);
    const char *jwks[] = {
        "min_cache_seconds", v[0], "max_cache_seconds", v[1], "default_cache_seconds", v[2],
        "stale_seconds", v[3], "refetch_interval", v[4], "connect_timeout_ms", v[5],
        "timeout_ms", v[6], "max_bytes", v[7], "max_keys", v[8], NULL,
    };
    lti_log_kv(LTI_LOG_INFO, MOD, "jwks", jwks);
    const char *store[] = {"backend", cfg->store_backend, "max_entries", v[9], NULL};
    lti_log_kv(LTI_LOG_INFO, MOD, "store", store);
    if (cfg->store_backend != NULL && strcmp(cfg->store_backend, "redis") == 0) {
        char r[4][24];
        snprintf(r[0], sizeof(r[0]), "%u", cfg->store_redis_port);
        snprintf(r[1], sizeof(r[1]), "%u", cfg->store_redis_db);
        snprintf(r[2], sizeof(r[2]), "%u", cfg->store_connect_timeout_ms);
        snprintf(r[3], sizeof(r[3]), "%u", cfg->store_command_timeout_ms);
        const char *redis[] = {"host", cfg->store_redis_host, "port", r[0], "database", r[1],
                               "key_prefix", cfg->store_key_prefix, "connect_timeout_ms", r[2],
                               "command_timeout_ms", r[3], "password",
                               cfg->store_password != NULL ? "file" : "none", NULL};
        lti_log_kv(LTI_LOG_INFO, MOD, "store redis", redis);
    }
}

static void dump_platform(const lti_platform_cfg_t *p, size_t index)
{
    char idx[24], ids[24], auds[24];

    snprintf(idx, sizeof(idx), "%zu", index);
    snprintf(ids, sizeof(ids), "%zu", p->n_deployment_ids);
    snprintf(auds, sizeof(auds), "%zu", p->n_trusted_audiences);
    const char *kv[] = {
        "platform", idx, "name", p->name, "iss", p->issuer, "client_id", p->client_id,
        "oidc_auth_url", p->oidc_auth_url, "token_url", p->token_url, "keys_url", p->keys_url,
        "self_hosted", p->self_hosted ? "true" : "false",
        "allow_http_loopback", p->allow_http_loopback ? "true" : "false",
        "deployment_policy", p->deployment_policy == LTI_DEPLOY_RECORD ? "record" : "list",
        "deployment_ids", ids, "deployments_file", p->deployments_file,
        "trusted_audiences", auds, NULL,
    };
    lti_log_kv(LTI_LOG_INFO, MOD, "platform", kv);
}

static void dump_roles(const lti_config_t *cfg)
{
    char order[512] = "", entries[24];
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_app_role_order && n < sizeof(order); i++) {
        int w = snprintf(order + n, sizeof(order) - n, "%s%s", i > 0 ? "<" : "",
                         cfg->app_role_order[i]);
        n += w < 0 ? 0 : (size_t)w;
    }
    snprintf(entries, sizeof(entries), "%zu", cfg->n_role_map);
    const char *kv[] = {"order", order, "default", cfg->default_role, "map_entries", entries,
                        NULL};
    lti_log_kv(LTI_LOG_INFO, MOD, "roles", kv);
    for (size_t i = 0; i < cfg->n_role_map; i++) {
        const char *e[] = {"lti_role", cfg->role_map[i].lis, "app_role", cfg->role_map[i].app,
                           NULL};
        lti_log_kv(LTI_LOG_DEBUG, MOD, "role map entry", e);
    }
}

void lti_config_dump(const lti_config_t *cfg)
{
    if (cfg == NULL)
        return;
    dump_server(cfg);
    dump_hosted(cfg);
    dump_jwks_store(cfg);
    for (size_t i = 0; i < cfg->n_platforms; i++)
        dump_platform(&cfg->platforms[i], i);
    dump_roles(cfg);
}
