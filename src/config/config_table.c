/* SPDX-License-Identifier: MIT */
/*
 * The key tables: one row per configuration key with its type, range,
 * default and check. Defaults are written as YAML text and go through the
 * same parsers as the file's values (config_apply.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "config_int.h"

/* Numbers are stored by field size (config_apply.c). Ints, unsigneds and
 * enums share one 4-byte representation for the small non-negative values
 * the ranges allow. */
_Static_assert(sizeof(int) == 4 && sizeof(unsigned) == 4, "4-byte int expected");
_Static_assert(sizeof(lti_deploy_policy_t) == sizeof(int), "enum stored as int");
/* acceptNewDeployments is a bool stored straight into deployment_policy. */
_Static_assert(LTI_DEPLOY_LIST == 0 && LTI_DEPLOY_RECORD == 1, "bool maps to the policy");

#define FIELD_OF(type, f) .offset = offsetof(type, f), .size = sizeof(((type *)0)->f)
#define CF(f) FIELD_OF(lti_config_t, f)
#define PF(f) FIELD_OF(lti_platform_cfg_t, f)

/* Every key has an upper bound, so a value is never truncated and a
 * mistyped number is reported rather than used. */
static const cfg_row_t server_rows[] = {
    {.name = "listen", .type = CFG_LISTEN, .max = LTI_CONFIG_MAX_LISTEN,
     .def = "127.0.0.1:8080"},
    {.name = "baseUrl", .type = CFG_URL, CF(base_url), .max = 512, .flags = CFG_REQUIRED,
     .check = cfg_check_base_url},
    {.name = "threads", .type = CFG_UINT, CF(threads), .max = 64, .def = "0",
     .unit = "threads (0 = one per CPU)"},
    {.name = "maxRequestBody", .type = CFG_SIZE, CF(max_body), .min = 1024, .max = 1048576,
     .def = "65536", .unit = "bytes"},
    {.name = "maxConnections", .type = CFG_UINT, CF(max_connections), .min = 1, .max = 1000000,
     .def = "10000", .unit = "connections"},
    {.name = "requestTimeout", .type = CFG_MILLIS, CF(request_timeout_ms), .min = 100,
     .max = 300000, .def = "10000", .unit = "ms"},
    {.name = "trustedProxies", .type = CFG_STRLIST, CF(trusted_proxies),
     .count_offset = offsetof(lti_config_t, n_trusted_proxies), .max = 64,
     .check = cfg_check_cidr},
    {.name = "logFile", .type = CFG_PATH, CF(log_file), .max = 4096, .def = "stderr",
     .flags = CFG_STDERR},
    {.name = "logLevel", .type = CFG_LOG_LEVEL, CF(log_level), .def = "info"},
};

static const cfg_row_t hosted_rows[] = {
    /* Checked but not stored: LTI 1.3 is the only launch protocol served. */
    {.name = "authMethod", .type = CFG_STRING, .max = 32, .flags = CFG_REQUIRED,
     .check = cfg_check_auth_method},
    {.name = "lti13ServicePrivateKey", .type = CFG_PATH, CF(private_key_file), .max = 4096,
     .flags = CFG_REQUIRED},
    {.name = "lti13ServiceNextPrivateKey", .type = CFG_PATH, CF(next_private_key_file),
     .max = 4096},
    {.name = "ltiUserIdAttribute", .type = CFG_STRING, CF(user_id_attribute), .max = 128,
     .def = "sub", .check = cfg_check_user_id_attribute},
    {.name = "lti13UserIdClaim", .type = CFG_STRING, CF(user_id_claim), .max = 255,
     .check = cfg_check_claim_name},
    {.name = "lti13UserIdClaimProperty", .type = CFG_STRING, CF(user_id_claim_property),
     .max = 255, .check = cfg_check_claim_property},
    {.name = "userIdFallback", .type = CFG_STRING, CF(user_id_fallback), .max = 16,
     .def = "sub", .check = cfg_check_user_id_fallback},
    {.name = "clockSkew", .type = CFG_SECONDS, CF(clock_skew), .max = 300, .def = "60",
     .unit = "seconds"},
    {.name = "stateLifetime", .type = CFG_SECONDS, CF(state_lifetime), .min = 30, .max = 3600,
     .def = "300", .unit = "seconds"},
    {.name = "maxTokenAge", .type = CFG_SECONDS, CF(max_token_age), .min = 60, .max = 86400,
     .def = "600", .unit = "seconds"},
    {.name = "maxTokenLifetime", .type = CFG_SECONDS, CF(max_token_lifetime), .min = 60,
     .max = 86400, .def = "3600", .unit = "seconds"},
    {.name = "sessionLifetime", .type = CFG_SECONDS, CF(session_lifetime), .min = 60,
     .max = 604800, .def = "28800", .unit = "seconds"},
    {.name = "sessionTokenLifetime", .type = CFG_SECONDS, CF(session_token_lifetime),
     .max = 3600, .def = "900", .unit = "seconds"},
    {.name = "sessionSecretFile", .type = CFG_PATH, CF(session_secret_file), .max = 4096},
    {.name = "mediaCatalogFile", .type = CFG_PATH, CF(media_catalog_file), .max = 4096},
    {.name = "scoreApiSecretFile", .type = CFG_PATH, CF(score_api_secret_file), .max = 4096},
    {.name = "serviceTimeout", .type = CFG_MILLIS, CF(service_timeout_ms), .min = 100,
     .max = 120000, .def = "10000", .unit = "ms"},
};

static const cfg_row_t jwks_rows[] = {
    {.name = "minCacheSeconds", .type = CFG_SECONDS, CF(jwks_min_ttl), .max = 86400,
     .def = "300", .unit = "seconds"},
    {.name = "maxCacheSeconds", .type = CFG_SECONDS, CF(jwks_max_ttl), .min = 1, .max = 2592000,
     .def = "86400", .unit = "seconds"},
    {.name = "defaultCacheSeconds", .type = CFG_SECONDS, CF(jwks_default_ttl), .max = 2592000,
     .def = "600", .unit = "seconds"},
    {.name = "staleSeconds", .type = CFG_SECONDS, CF(jwks_stale_ttl), .max = 604800,
     .def = "86400", .unit = "seconds"},
    {.name = "refetchInterval", .type = CFG_SECONDS, CF(jwks_refetch_interval), .min = 1,
     .max = 3600, .def = "30", .unit = "seconds"},
    {.name = "connectTimeout", .type = CFG_MILLIS, CF(jwks_connect_timeout_ms), .min = 100,
     .max = 60000, .def = "2000", .unit = "ms"},
    {.name = "timeout", .type = CFG_MILLIS, CF(jwks_timeout_ms), .min = 100, .max = 120000,
     .def = "5000", .unit = "ms"},
    {.name = "maxBytes", .type = CFG_SIZE, CF(jwks_max_bytes), .min = 1024, .max = 1048576,
     .def = "65536", .unit = "bytes"},
    {.name = "maxKeys", .type = CFG_UINT, CF(jwks_max_keys), .min = 1, .max = 100, .def = "20",
     .unit = "keys"},
};

static const cfg_row_t store_rows[] = {
    {.name = "backend", .type = CFG_STRING, CF(store_backend), .max = 32, .def = "memory",
     .check = cfg_check_store_backend},
    {.name = "maxEntries", .type = CFG_UINT, CF(store_max_entries), .min = 1, .max = 10000000,
     .def = "100000", .unit = "entries"},
    {.name = "maxStatesPerClient", .type = CFG_UINT, CF(store_max_states_per_client),
     .max = 10000000, .def = "0", .unit = "logins"},
    {.name = "redisUrl", .type = CFG_STRING, CF(store_redis_url), .max = 512,
     .def = "redis://127.0.0.1:6379"},
    {.name = "keyPrefix", .type = CFG_STRING, CF(store_key_prefix), .max = 64,
     .def = "ltigate:", .check = cfg_check_key_prefix},
    {.name = "connectTimeout", .type = CFG_MILLIS, CF(store_connect_timeout_ms), .min = 10,
     .max = 60000, .def = "1000", .unit = "ms"},
    {.name = "commandTimeout", .type = CFG_MILLIS, CF(store_command_timeout_ms), .min = 10,
     .max = 60000, .def = "200", .unit = "ms"},
    {.name = "passwordFile", .type = CFG_PATH, CF(store_password_file), .max = 4096},
    {.name = "database", .type = CFG_UINT, CF(store_database), .max = 65535, .def = "0",
     .unit = "database number"},
};

static const cfg_row_t canvas_rows[] = {
    {.name = "title", .type = CFG_STRING, CF(canvas_title), .max = 255, .def = "Kaltura Media"},
    {.name = "description", .type = CFG_STRING, CF(canvas_description), .max = 1024,
     .def = "Kaltura video library, embedding and assignments for Canvas"},
    {.name = "toolId", .type = CFG_STRING, CF(canvas_tool_id), .max = 255, .def = "ltigate"},
    {.name = "domain", .type = CFG_STRING, CF(canvas_domain), .max = 255},
    {.name = "privacyLevel", .type = CFG_STRING, CF(canvas_privacy_level), .max = 16,
     .def = "public", .check = cfg_check_privacy_level},
    {.name = "text", .type = CFG_STRING, CF(canvas_text), .max = 255, .def = "Kaltura"},
    {.name = "iconUrl", .type = CFG_URL, CF(canvas_icon_url), .max = 2048},
    {.name = "placements", .type = CFG_STRLIST, CF(canvas_placements),
     .count_offset = offsetof(lti_config_t, n_canvas_placements), .max = 5,
     .check = cfg_check_placement},
    {.name = "subAccountMode", .type = CFG_BOOL, CF(canvas_sub_account_mode), .def = "false"},
    {.name = "selectionWidth", .type = CFG_UINT, CF(canvas_selection_width), .min = 100,
     .max = 4000, .def = "900", .unit = "pixels"},
    {.name = "selectionHeight", .type = CFG_UINT, CF(canvas_selection_height), .min = 100,
     .max = 4000, .def = "600", .unit = "pixels"},
    {.name = "courseNavigationText", .type = CFG_STRING, CF(canvas_course_navigation_text),
     .max = 255, .def = "Media Gallery"},
    {.name = "globalNavigationText", .type = CFG_STRING, CF(canvas_global_navigation_text),
     .max = 255, .def = "My Media"},
    {.name = "editorButtonText", .type = CFG_STRING, CF(canvas_editor_button_text), .max = 255,
     .def = "Embed Kaltura Media"},
    {.name = "linkSelectionText", .type = CFG_STRING, CF(canvas_link_selection_text),
     .max = 255, .def = "Kaltura Media"},
    {.name = "assignmentSelectionText", .type = CFG_STRING,
     CF(canvas_assignment_selection_text), .max = 255, .def = "Kaltura Video Quiz"},
    {.name = "useScopedKey", .type = CFG_BOOL, CF(canvas_use_scoped_key), .def = "false"},
    {.name = "customAppId", .type = CFG_STRING, CF(canvas_custom_app_id), .max = 255},
    {.name = "customAppKeyFile", .type = CFG_PATH, CF(canvas_custom_app_key_file), .max = 4096},
    {.name = "enableUserProfileScope", .type = CFG_BOOL, CF(canvas_enable_user_profile_scope),
     .def = "false"},
    {.name = "apiUrl", .type = CFG_URL, CF(canvas_api_url), .max = 2048},
};

static const cfg_row_t platform_rows[] = {
    {.name = "name", .type = CFG_STRING, PF(name), .max = 200},
    {.name = "issuer", .type = CFG_URL, PF(issuer), .max = 2048, .flags = CFG_REQUIRED,
     .check = cfg_check_issuer},
    {.name = "lti13ClientID", .type = CFG_STRING, PF(client_id), .max = 255,
     .flags = CFG_REQUIRED, .check = cfg_check_client_id},
    {.name = "lti13PlatformOidcAuthUrl", .type = CFG_URL, PF(oidc_auth_url), .max = 2048},
    {.name = "lti13AuthTokenUrl", .type = CFG_URL, PF(token_url), .max = 2048},
    {.name = "lti13KeysUrl", .type = CFG_URL, PF(keys_url), .max = 2048},
    {.name = "selfHosted", .type = CFG_BOOL, PF(self_hosted), .def = "false"},
    {.name = "allowHttpLoopback", .type = CFG_BOOL, PF(allow_http_loopback), .def = "false"},
    {.name = "deploymentIds", .type = CFG_STRLIST, PF(deployment_ids),
     .count_offset = offsetof(lti_platform_cfg_t, n_deployment_ids), .max = 10000,
     .check = cfg_check_deployment_id},
    {.name = "acceptNewDeployments", .type = CFG_BOOL, PF(deployment_policy), .def = "false"},
    {.name = "recordedDeploymentsFile", .type = CFG_PATH, PF(deployments_file), .max = 4096},
    {.name = "trustedAudiences", .type = CFG_STRLIST, PF(trusted_audiences),
     .count_offset = offsetof(lti_platform_cfg_t, n_trusted_audiences), .max = 16,
     .check = cfg_check_audience},
    {.name = "frameAncestors", .type = CFG_STRLIST, PF(frame_ancestors),
     .count_offset = offsetof(lti_platform_cfg_t, n_frame_ancestors), .max = 32,
     .check = cfg_check_frame_ancestor},
};

#define SECTION(n, rows) {n, rows, sizeof(rows) / sizeof(rows[0])}
const cfg_section_t cfg_server_section = SECTION("server", server_rows);
const cfg_section_t cfg_hosted_section = SECTION("hosted", hosted_rows);
const cfg_section_t cfg_jwks_section = SECTION("jwks", jwks_rows);
const cfg_section_t cfg_store_section = SECTION("store", store_rows);
const cfg_section_t cfg_platform_section = SECTION("platforms[]", platform_rows);
const cfg_section_t cfg_canvas_section = SECTION("canvas", canvas_rows);

_Static_assert(sizeof(hosted_rows) / sizeof(hosted_rows[0]) <= CFG_MAX_ROWS, "CFG_MAX_ROWS");
_Static_assert(sizeof(platform_rows) / sizeof(platform_rows[0]) <= CFG_MAX_ROWS, "CFG_MAX_ROWS");
_Static_assert(sizeof(canvas_rows) / sizeof(canvas_rows[0]) <= CFG_MAX_ROWS, "CFG_MAX_ROWS");

size_t cfg_row_index(const cfg_section_t *sec, const char *name)
{
    for (size_t i = 0; i < sec->n_rows; i++)
        if (strcmp(sec->rows[i].name, name) == 0)
            return i;
    abort(); /* a name missing from the table is a programming error */
}
