/* SPDX-License-Identifier: MIT */
/*
 * The service configuration, loaded once from YAML (libyaml) and read-only
 * afterwards. Section and key names follow the Kaltura KAF admin modules
 * where KAF has a name for the setting (hosted.lti13ServicePrivateKey,
 * hosted.ltiUserIdAttribute, platforms[].lti13ClientID, ...).
 */
#ifndef LTI_CONFIG_H
#define LTI_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "lti/netaddr.h"

#define LTI_CONFIG_MAX_LISTEN 8

typedef struct lti_listen_cfg {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0" */
    uint16_t port;
} lti_listen_cfg_t;

typedef enum lti_deploy_policy {
    LTI_DEPLOY_LIST = 0,      /* only the deploymentIds listed are accepted */
    LTI_DEPLOY_RECORD,        /* accept any, record it in deploymentsFile */
} lti_deploy_policy_t;

typedef struct lti_platform_cfg {
    char *name;          /* label for logs and pages; defaults to the issuer */
    char *issuer;        /* exact iss string */
    char *client_id;     /* lti13ClientID, a string (Canvas ids are 14-17 digits) */
    char *oidc_auth_url; /* lti13PlatformOidcAuthUrl */
    char *token_url;     /* lti13AuthTokenUrl */
    char *keys_url;      /* lti13KeysUrl */
    int self_hosted;     /* selfHosted: true disables the Canvas cloud URL defaults */
    int allow_http_loopback; /* allowHttpLoopback: platform URLs may be http:// on a loopback
                                host (127.0.0.1, ::1, localhost) */
    lti_deploy_policy_t deployment_policy;
    char **deployment_ids; /* deploymentIds */
    size_t n_deployment_ids;
    char *deployments_file; /* recordedDeploymentsFile, for LTI_DEPLOY_RECORD */
    char **trusted_audiences; /* extra aud values accepted next to client_id */
    size_t n_trusted_audiences;
    char **frame_ancestors; /* frameAncestors: sites that may frame the tool's pages */
    size_t n_frame_ancestors;
} lti_platform_cfg_t;

typedef struct lti_role_map_entry {
    char *lis;  /* canonical role URI (short names are expanded at load time) */
    char *app;  /* app role name */
} lti_role_map_entry_t;

typedef struct lti_config {
    char *path; /* the file this was loaded from */

    /* server */
    lti_listen_cfg_t listen[LTI_CONFIG_MAX_LISTEN];
    size_t n_listen;
    char *base_url;        /* baseUrl: scheme://host[:port], no trailing slash */
    char *launch_url;      /* base_url + "/hosted/index/oauth2-launch" */
    char *login_url;       /* base_url + "/hosted/index/oidc-login" */
    char *frame_ancestors; /* CSP frame-ancestors sources of all registrations */
    int threads;           /* 0 = one per CPU */
    size_t max_body;       /* maxRequestBody, bytes */
    size_t max_connections;
    unsigned request_timeout_ms;
    char **trusted_proxies; /* trustedProxies: CIDR prefixes whose X-Forwarded-For is
                               believed for the per-client login limit */
    size_t n_trusted_proxies;
    lti_cidr_t *trusted_proxy_nets; /* trusted_proxies parsed at load, same order */
    char *log_file;        /* NULL = stderr */
    int log_level;         /* lti_log_level_t */

    /* hosted */
    char *private_key_file;      /* lti13ServicePrivateKey */
    char *next_private_key_file; /* lti13ServiceNextPrivateKey, optional */
    EVP_PKEY *private_key;       /* loaded and checked at config load */
    EVP_PKEY *next_private_key;  /* the next key, NULL when not configured; checked like
                                    private_key */
    char *user_id_attribute;     /* ltiUserIdAttribute: sub, email, lis_person_sourcedid,
                                    lti11_legacy_user_id, custom_X */
    char *user_id_claim;         /* lti13UserIdClaim, optional; overrides the attribute */
    char *user_id_claim_property;/* lti13UserIdClaimProperty, optional dotted path */
    char *user_id_fallback;      /* userIdFallback: "sub" or "reject" */
    unsigned clock_skew;         /* seconds */
    unsigned state_lifetime;     /* seconds */
    unsigned max_token_age;      /* seconds an iat may lie in the past */
    unsigned max_token_lifetime; /* seconds allowed between iat and exp */
    unsigned session_lifetime;   /* seconds */
    unsigned session_token_lifetime; /* sessionTokenLifetime: seconds a session token in a
                                        URL or form stays valid; 0 turns tokens off */
    unsigned char session_secret[64];
    size_t session_secret_len;   /* from sessionSecretFile, or random per process */
    int session_secret_from_file;
    char *session_secret_file;   /* sessionSecretFile, NULL when the secret is random */
    char *media_catalog_file;    /* mediaCatalogFile: JSON list of media entries for the
                                    deep-linking picker; NULL = the picker lists nothing */
    char *score_api_secret_file; /* scoreApiSecretFile: bearer secret of the app that posts
                                    scores to /hosted/api/scores; NULL = that API is off */
    unsigned service_timeout_ms; /* serviceTimeout: total time of one platform service call */

    /* jwks */
    unsigned jwks_min_ttl, jwks_max_ttl, jwks_default_ttl; /* seconds */
    unsigned jwks_stale_ttl;       /* seconds stale keys keep serving */
    unsigned jwks_refetch_interval;/* seconds between kid-miss refetches */
    unsigned jwks_connect_timeout_ms, jwks_timeout_ms;
    size_t jwks_max_bytes, jwks_max_keys;

    /* store */
    char *store_backend;      /* "memory" or "redis" */
    size_t store_max_entries;
    size_t store_max_states_per_client; /* logins one client address may start per
                                           stateLifetime; 0 = no limit */
    char *store_redis_url;    /* redis://HOST[:PORT][/DB] */
    char *store_key_prefix;   /* prepended to every Redis key */
    unsigned store_connect_timeout_ms, store_command_timeout_ms;
    char *store_password_file; /* passwordFile; NULL = no AUTH */
    unsigned store_database;   /* database; a /DB in redisUrl must agree with it */
    /* Filled from the keys above by the loader (config_store.c). */
    char *store_redis_host;    /* host name or address literal, without brackets */
    unsigned store_redis_port;
    unsigned store_redis_db;
    char *store_password;      /* contents of passwordFile, NULL without one */

    /* platforms */
    lti_platform_cfg_t *platforms;
    size_t n_platforms;

    /* roles */
    lti_role_map_entry_t *role_map;
    size_t n_role_map;
    char **app_role_order; /* least to most privileged */
    size_t n_app_role_order;
    char *default_role;    /* for users whose roles map to nothing */

    /* canvas: the developer-key JSON for Canvas (lti/tool.h) */
    char *canvas_title, *canvas_description;
    char *canvas_tool_id;        /* extensions[0].tool_id */
    char *canvas_domain;         /* extensions[0].domain; NULL = the host of baseUrl */
    char *canvas_privacy_level;  /* anonymous, name_only, email_only or public */
    char *canvas_text;           /* extensions[0].settings.text */
    char *canvas_icon_url;       /* optional icon for the tool and the editor button */
    char **canvas_placements;    /* placement names; none listed = all five */
    size_t n_canvas_placements;
    int canvas_sub_account_mode; /* one placement per developer key */
    unsigned canvas_selection_width, canvas_selection_height; /* picker size in pixels */
    char *canvas_course_navigation_text, *canvas_global_navigation_text;
    char *canvas_editor_button_text, *canvas_link_selection_text;
    char *canvas_assignment_selection_text;
    /* canvas: the Canvas REST API through the scoped developer key (lti/services.h) */
    int canvas_use_scoped_key;       /* useScopedKey: the REST module is on */
    char *canvas_custom_app_id;      /* customAppId: the API developer key's client id */
    char *canvas_custom_app_key_file;/* customAppKeyFile: file holding that key's secret */
    int canvas_enable_user_profile_scope; /* enableUserProfileScope */
    char *canvas_api_url;            /* apiUrl: the Canvas instance, https://school.instructure.com */
} lti_config_t;

/* Loads and checks `path`, including the tool keys and the session secret
 * it names. Relative file paths resolve against the directory of `path`.
 * On failure returns NULL and writes to `errbuf` one line of the form
 * "FILE:LINE:COL: key 'K': what is wrong; what to do", with 1-based line and
 * column. File-level errors carry no key, and errors without a position
 * (the config file cannot be read) carry no line and column. */
lti_config_t *lti_config_load(const char *path, char *errbuf, size_t errlen);
/* Frees the config, wiping the session secret. Accepts NULL. */
void lti_config_free(lti_config_t *cfg);

/* Logs the effective configuration at INFO (role map entries at DEBUG),
 * one line per section and per platform. Key material and the session
 * secret are never written; the log shows the key files, the key size and
 * where the secret came from. */
void lti_config_dump(const lti_config_t *cfg);

/* Finds the registration for (iss, client_id). client_id may be NULL, which
 * matches only when exactly one registration has that issuer. Returns NULL
 * and sets *ambiguous to 1 when several match. */
const lti_platform_cfg_t *lti_config_find_platform(const lti_config_t *cfg, const char *iss,
                                                   const char *client_id, int *ambiguous);

#endif
