/* SPDX-License-Identifier: MIT */
/*
 * Tests of the YAML config loader. Keys, secrets and config files are
 * written to a fresh temporary directory. Fixtures under tests/data/config/
 * are copied there first, so their relative key paths resolve next to them.
 * Each file in tests/data/config/errors/ starts with
 *   # expect: LINE:COL KEY      (KEY "-" for an error without a key)
 *   # message: TEXT
 * and must fail to load with exactly that position, key and text.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "lti/config.h"
#include "lti/launch.h"
#include "lti/log.h"

#define LIS "http://purl.imsglobal.org/vocab/lis/v2/"
#define SECRET_TEXT "session-secret-0123456789abcdefghijklmnop"

static char tmpdir[256];

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t len)
{
    char *p = path_in(tmpdir, name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
    chmod(p, 0600);
    free(p);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    buf[len] = '\0';
    fclose(fp);
    return buf;
}

static void write_key(const char *name, EVP_PKEY *pkey, const EVP_CIPHER *cipher)
{
    char *p = path_in(tmpdir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, pkey, cipher, (unsigned char *)"pass", cipher ? 4 : 0,
                                          NULL, NULL), 1);
    fclose(fp);
    chmod(p, 0600);
    free(p);
}

static const char *source_dir(void)
{
    const char *dir = getenv("LTIGATE_SOURCE_DIR");
    return dir != NULL ? dir : ".";
}

/* Copies a fixture into the temporary directory and returns the copy's path. */
static char *copy_fixture(const char *relpath, const char *as)
{
    char *src = path_in(source_dir(), relpath);
    char *text = read_all(src);
    if (text == NULL)
        fail_msg("cannot read fixture %s", src);
    write_text(as, text);
    free(text);
    free(src);
    return path_in(tmpdir, as);
}

static lti_config_t *load_text(const char *yaml, char *err, size_t errlen)
{
    write_text("inline.yaml", yaml);
    char *p = path_in(tmpdir, "inline.yaml");
    lti_config_t *cfg = lti_config_load(p, err, errlen);
    free(p);
    return cfg;
}

static int setup_keys(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ltigate-config-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;

    EVP_PKEY *tool = EVP_RSA_gen(2048), *next = EVP_RSA_gen(2048), *shortkey = EVP_RSA_gen(1024);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    if (tool == NULL || next == NULL || shortkey == NULL || ec == NULL)
        return -1;
    write_key("tool-key.pem", tool, NULL);
    write_key("next-key.pem", next, NULL);
    write_key("short-key.pem", shortkey, NULL);
    write_key("ec-key.pem", ec, NULL);
    write_key("encrypted-key.pem", tool, EVP_aes_256_cbc());
    EVP_PKEY_free(tool);
    EVP_PKEY_free(next);
    EVP_PKEY_free(shortkey);
    EVP_PKEY_free(ec);

    write_text("not-a-key.pem", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
                                "-----END PRIVATE KEY-----\n");
    write_text("session.key", SECRET_TEXT);
    write_text("secret-short.bin", "0123456789abcdef");
    char big[100];
    memset(big, 'x', sizeof(big));
    write_file("secret-long.bin", big, sizeof(big));
    return 0;
}

static int teardown_keys(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- error fixtures ---- */

/* Loads one error fixture. Returns 0 when the load fails with the position,
 * key and text that its header expects. */
static int run_error_case(const char *name)
{
    char rel[512], err[1024], want_pos[600], want_key[300], header[2][512];
    snprintf(rel, sizeof(rel), "tests/data/config/errors/%s", name);
    char *copy = copy_fixture(rel, name);
    FILE *fp = fopen(copy, "r");
    assert_non_null(fp);
    for (int i = 0; i < 2; i++) {
        if (fgets(header[i], sizeof(header[i]), fp) == NULL)
            header[i][0] = '\0';
        header[i][strcspn(header[i], "\n")] = '\0';
    }
    fclose(fp);

    unsigned line = 0, col = 0;
    char key[256] = "";
    if (sscanf(header[0], "# expect: %u:%u %255[^\n]", &line, &col, key) != 3 ||
        strncmp(header[1], "# message: ", 11) != 0) {
        print_error("%s: malformed header\n", name);
        free(copy);
        return -1;
    }
    const char *message = header[1] + 11;

    lti_config_t *cfg = lti_config_load(copy, err, sizeof(err));
    int bad = 0;
    snprintf(want_pos, sizeof(want_pos), "%s:%u:%u: ", copy, line, col);
    snprintf(want_key, sizeof(want_key), "key '%s': ", key);
    if (cfg != NULL) {
        print_error("%s: loaded, expected an error\n", name);
        lti_config_free(cfg);
        bad = 1;
    } else if (strncmp(err, want_pos, strlen(want_pos)) != 0) {
        print_error("%s: expected position %u:%u, got: %s\n", name, line, col, err);
        bad = 1;
    } else if (strcmp(key, "-") != 0 && strncmp(err + strlen(want_pos), want_key,
                                                  strlen(want_key)) != 0) {
        print_error("%s: expected key '%s', got: %s\n", name, key, err);
        bad = 1;
    } else if (strcmp(key, "-") == 0 && strstr(err, "key '") != NULL) {
        print_error("%s: expected no key, got: %s\n", name, err);
        bad = 1;
    } else if (strstr(err, message) == NULL) {
        print_error("%s: expected text '%s', got: %s\n", name, message, err);
        bad = 1;
    } else if (strchr(err, '\n') != NULL) {
        print_error("%s: error is not one line: %s\n", name, err);
        bad = 1;
    }
    free(copy);
    return bad ? -1 : 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void config_error_fixtures(void **state)
{
    char *dirpath = path_in(source_dir(), "tests/data/config/errors");
    DIR *dir = opendir(dirpath);
    assert_non_null(dir);
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    free(dirpath);
    qsort(names, n, sizeof(names[0]), compare_names);

    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
        if (run_error_case(names[i]) != 0)
            failures++;
        free(names[i]);
    }
    /* A missing or emptied fixture directory must not pass quietly. */
    assert_true(n >= 70);
    assert_int_equal(failures, 0);
}

/* ---- valid configurations ---- */

static void config_full_fixture(void **state)
{
    char err[1024];
    char *path = copy_fixture("tests/data/config/valid_full.yaml", "valid_full.yaml");
    lti_config_t *cfg = lti_config_load(path, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);

    assert_string_equal(cfg->path, path);
    assert_int_equal(cfg->n_listen, 2);
    assert_string_equal(cfg->listen[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen[0].port, 18080);
    assert_string_equal(cfg->listen[1].host, "::1");
    assert_int_equal(cfg->listen[1].port, 18443);
    assert_string_equal(cfg->base_url, "https://kaf.example.com");
    assert_string_equal(cfg->launch_url, "https://kaf.example.com/hosted/index/oauth2-launch");
    assert_string_equal(cfg->login_url, "https://kaf.example.com/hosted/index/oidc-login");
    assert_int_equal(cfg->threads, 4);
    assert_int_equal(cfg->max_body, 32 * 1024);
    assert_int_equal(cfg->max_connections, 500);
    assert_int_equal(cfg->request_timeout_ms, 2000);
    assert_null(cfg->log_file);
    assert_int_equal(cfg->log_level, LTI_LOG_DEBUG);

    char *key = path_in(tmpdir, "tool-key.pem"), *next = path_in(tmpdir, "next-key.pem");
    assert_string_equal(cfg->private_key_file, key);
    assert_string_equal(cfg->next_private_key_file, next);
    free(key);
    free(next);
    assert_non_null(cfg->private_key);
    assert_non_null(cfg->next_private_key);
    assert_int_equal(EVP_PKEY_get_bits(cfg->private_key), 2048);
    assert_string_equal(cfg->user_id_attribute, "custom_canvas_user_login_id");
    assert_string_equal(cfg->user_id_claim, "https://purl.imsglobal.org/spec/lti/claim/lis");
    assert_string_equal(cfg->user_id_claim_property, "person.sourcedid");
    assert_string_equal(cfg->user_id_fallback, "reject");
    assert_int_equal(cfg->clock_skew, 120);
    assert_int_equal(cfg->state_lifetime, 120);
    assert_int_equal(cfg->max_token_age, 3600);
    assert_int_equal(cfg->max_token_lifetime, 7200);
    assert_int_equal(cfg->session_lifetime, 86400);
    assert_int_equal(cfg->session_secret_from_file, 1);
    assert_int_equal(cfg->session_secret_len, strlen(SECRET_TEXT));
    assert_memory_equal(cfg->session_secret, SECRET_TEXT, strlen(SECRET_TEXT));

    assert_int_equal(cfg->jwks_min_ttl, 60);
    assert_int_equal(cfg->jwks_max_ttl, 2 * 86400);
    assert_int_equal(cfg->jwks_default_ttl, 900);
    assert_int_equal(cfg->jwks_stale_ttl, 3600);
    assert_int_equal(cfg->jwks_refetch_interval, 10);
    assert_int_equal(cfg->jwks_connect_timeout_ms, 1500);
    assert_int_equal(cfg->jwks_timeout_ms, 4000);
    assert_int_equal(cfg->jwks_max_bytes, 128 * 1024);
    assert_int_equal(cfg->jwks_max_keys, 10);
    assert_string_equal(cfg->store_backend, "memory");
    assert_int_equal(cfg->store_max_entries, 5000);

    assert_int_equal(cfg->n_platforms, 3);
    const lti_platform_cfg_t *p = &cfg->platforms[0];
    assert_string_equal(p->name, "Canvas (production)");
    /* An unquoted YAML integer is kept as its exact source text. */
    assert_string_equal(p->client_id, "170000000000123");
    assert_string_equal(p->keys_url, "https://sso.canvaslms.com/api/lti/security/jwks");
    assert_int_equal(p->deployment_policy, LTI_DEPLOY_LIST);
    assert_int_equal(p->n_deployment_ids, 2);
    assert_string_equal(p->deployment_ids[0], "42:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
    assert_string_equal(p->deployment_ids[1], "7:ffffffffffffffffffffffffffffffffffffffff");
    assert_int_equal(p->n_trusted_audiences, 1);
    assert_string_equal(p->trusted_audiences[0], "https://extra.example.com");

    p = &cfg->platforms[1];
    assert_int_equal(p->self_hosted, 1);
    assert_string_equal(p->keys_url, "https://canvas.example.edu/api/lti/security/jwks");
    assert_string_equal(p->oidc_auth_url, "https://canvas.example.edu/api/lti/authorize_redirect");
    assert_string_equal(p->token_url, "https://canvas.example.edu/login/oauth2/token");
    assert_int_equal(p->deployment_policy, LTI_DEPLOY_RECORD);
    assert_int_equal(p->n_deployment_ids, 0);
    char *deployments = path_in(tmpdir, "deployments.txt");
    assert_string_equal(p->deployments_file, deployments);
    free(deployments);

    p = &cfg->platforms[2];
    assert_string_equal(p->name, "http://127.0.0.1:9001");
    assert_int_equal(p->allow_http_loopback, 1);
    assert_string_equal(p->keys_url, "http://[::1]:9001/jwks");

    assert_int_equal(cfg->n_app_role_order, 3);
    assert_string_equal(cfg->app_role_order[0], "nobody");
    assert_string_equal(cfg->app_role_order[2], "owner");
    assert_string_equal(cfg->default_role, "nobody");
    assert_int_equal(cfg->n_role_map, 4);
    assert_string_equal(cfg->role_map[0].lis, LIS "membership#Instructor");
    assert_string_equal(cfg->role_map[0].app, "owner");
    assert_string_equal(cfg->role_map[1].lis, LIS "membership#Learner");
    assert_string_equal(cfg->role_map[2].lis, LIS "institution/person#Administrator");
    assert_string_equal(cfg->role_map[3].lis, LIS "membership#Mentor");
    assert_string_equal(cfg->role_map[3].app, "member");
    lti_config_free(cfg);
    free(path);
}

static void config_minimal_defaults(void **state)
{
    char err[1024];
    char *path = copy_fixture("tests/data/config/minimal.yaml", "minimal.yaml");
    lti_config_t *cfg = lti_config_load(path, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);

    assert_int_equal(cfg->n_listen, 1);
    assert_string_equal(cfg->listen[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen[0].port, 8080);
    assert_int_equal(cfg->threads, 0);
    assert_int_equal(cfg->max_body, 65536);
    assert_int_equal(cfg->max_connections, 10000);
    assert_int_equal(cfg->request_timeout_ms, 10000);
    assert_null(cfg->log_file);
    assert_int_equal(cfg->log_level, LTI_LOG_INFO);
    assert_null(cfg->next_private_key_file);
    assert_null(cfg->next_private_key);
    assert_string_equal(cfg->user_id_attribute, "sub");
    assert_null(cfg->user_id_claim);
    assert_null(cfg->user_id_claim_property);
    assert_string_equal(cfg->user_id_fallback, "sub");
    assert_int_equal(cfg->clock_skew, 60);
    assert_int_equal(cfg->state_lifetime, 300);
    assert_int_equal(cfg->max_token_age, 600);
    assert_int_equal(cfg->max_token_lifetime, 3600);
    assert_int_equal(cfg->session_lifetime, 28800);
    assert_int_equal(cfg->session_token_lifetime, 900);
    assert_int_equal(cfg->session_secret_from_file, 0);
    assert_null(cfg->session_secret_file);
    assert_int_equal(cfg->session_secret_len, 32);
    assert_int_equal(cfg->jwks_min_ttl, 300);
    assert_int_equal(cfg->jwks_max_ttl, 86400);
    assert_int_equal(cfg->jwks_default_ttl, 600);
    assert_int_equal(cfg->jwks_stale_ttl, 86400);
    assert_int_equal(cfg->jwks_refetch_interval, 30);
    assert_int_equal(cfg->jwks_connect_timeout_ms, 2000);
    assert_int_equal(cfg->jwks_timeout_ms, 5000);
    assert_int_equal(cfg->jwks_max_bytes, 65536);
    assert_int_equal(cfg->jwks_max_keys, 20);
    assert_string_equal(cfg->store_backend, "memory");
    assert_int_equal(cfg->store_max_entries, 100000);

    const lti_platform_cfg_t *p = &cfg->platforms[0];
    assert_string_equal(p->name, "https://canvas.instructure.com");
    assert_int_equal(p->self_hosted, 0);
    assert_int_equal(p->allow_http_loopback, 0);
    assert_null(p->deployments_file);
    assert_int_equal(p->n_trusted_audiences, 0);

    /* The built-in roles table. */
    static const char *const order[] = {"guest", "viewer", "student", "ta", "instructor", "admin"};
    assert_int_equal(cfg->n_app_role_order, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(cfg->app_role_order[i], order[i]);
    assert_string_equal(cfg->default_role, "guest");
    static const char *const map[][2] = {
        {LIS "system/person#SysAdmin", "admin"},
        {LIS "institution/person#Administrator", "admin"},
        {LIS "membership#Instructor", "instructor"},
        {LIS "membership#ContentDeveloper", "instructor"},
        {LIS "membership/Instructor#TeachingAssistant", "ta"},
        {LIS "membership#Learner", "student"},
        {LIS "membership#Mentor", "viewer"},
        {LIS "system/person#None", "guest"},
    };
    assert_int_equal(cfg->n_role_map, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(cfg->role_map[i].lis, map[i][0]);
        assert_string_equal(cfg->role_map[i].app, map[i][1]);
    }
    for (size_t i = 0; i < cfg->n_role_map; i++)
        assert_string_not_equal(cfg->role_map[i].lis, LIS "institution/person#Instructor");
    lti_config_free(cfg);
    free(path);
}

static const char canvas_template[] =
    "server:\n"
    "  baseUrl: https://kaf.example.com\n"
    "hosted:\n"
    "  authMethod: lti1.3\n"
    "  lti13ServicePrivateKey: tool-key.pem\n"
    "platforms:\n"
    "  - issuer: %s\n"
    "    lti13ClientID: \"1\"\n"
    "    deploymentIds: [\"1:a\"]\n"
    "%s";

static void config_canvas_cloud_defaults(void **state)
{
    static const struct {
        const char *issuer, *sso;
    } cases[] = {
        {"https://canvas.instructure.com", "https://sso.canvaslms.com"},
        {"https://canvas.beta.instructure.com", "https://sso.beta.canvaslms.com"},
        {"https://canvas.test.instructure.com", "https://sso.test.canvaslms.com"},
    };
    char yaml[1024], err[1024], want[256];

    for (size_t i = 0; i < 3; i++) {
        snprintf(yaml, sizeof(yaml), canvas_template, cases[i].issuer, "");
        lti_config_t *cfg = load_text(yaml, err, sizeof(err));
        if (cfg == NULL)
            fail_msg("%s: %s", cases[i].issuer, err);
        const lti_platform_cfg_t *p = &cfg->platforms[0];
        snprintf(want, sizeof(want), "%s/api/lti/authorize_redirect", cases[i].sso);
        assert_string_equal(p->oidc_auth_url, want);
        snprintf(want, sizeof(want), "%s/login/oauth2/token", cases[i].sso);
        assert_string_equal(p->token_url, want);
        snprintf(want, sizeof(want), "%s/api/lti/security/jwks", cases[i].sso);
        assert_string_equal(p->keys_url, want);
        lti_config_free(cfg);
    }

    /* A URL given explicitly wins; the others still default. */
    snprintf(yaml, sizeof(yaml), canvas_template, "https://canvas.instructure.com",
             "    lti13KeysUrl: https://canvas.instructure.com/api/lti/security/jwks\n");
    lti_config_t *cfg = load_text(yaml, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->platforms[0].keys_url,
                        "https://canvas.instructure.com/api/lti/security/jwks");
    assert_string_equal(cfg->platforms[0].token_url,
                        "https://sso.canvaslms.com/login/oauth2/token");
    lti_config_free(cfg);

    /* Near misses of the Canvas issuers get no defaults. */
    static const char *const others[] = {"https://canvas.instructure.com/",
                                         "https://school.instructure.com",
                                         "https://CANVAS.instructure.com"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(yaml, sizeof(yaml), canvas_template, others[i], "");
        cfg = load_text(yaml, err, sizeof(err));
        assert_null(cfg);
        assert_non_null(strstr(err, "key 'platforms[0].lti13PlatformOidcAuthUrl': missing"));
    }
}

static void config_self_hosted_with_urls(void **state)
{
    char yaml[2048], err[1024];
    snprintf(yaml, sizeof(yaml), canvas_template, "https://canvas.instructure.com",
             "    selfHosted: true\n"
             "    lti13PlatformOidcAuthUrl: https://lms.example.edu/api/lti/authorize_redirect\n"
             "    lti13AuthTokenUrl: https://lms.example.edu/login/oauth2/token\n"
             "    lti13KeysUrl: https://lms.example.edu/api/lti/security/jwks\n");
    lti_config_t *cfg = load_text(yaml, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->platforms[0].keys_url,
                        "https://lms.example.edu/api/lti/security/jwks");
    lti_config_free(cfg);
}

static void config_client_id_source_text(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"170000000000123", "170000000000123"},
        {"0012", "0012"},            /* YAML 1.1 would read an octal 10 */
        {"'0012'", "0012"},
        {"abcDEF-123", "abcDEF-123"},
        {"99999999999999999999999", "99999999999999999999999"}, /* past int64 */
    };
    char yaml[1024], err[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml),
                 "server:\n  baseUrl: https://kaf.example.com\n"
                 "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: tool-key.pem\n"
                 "platforms:\n  - issuer: https://canvas.instructure.com\n"
                 "    lti13ClientID: %s\n    deploymentIds: [\"1:a\"]\n", cases[i].yaml);
        lti_config_t *cfg = load_text(yaml, err, sizeof(err));
        if (cfg == NULL)
            fail_msg("%s: %s", cases[i].yaml, err);
        assert_string_equal(cfg->platforms[0].client_id, cases[i].want);
        lti_config_free(cfg);
    }
}

static void config_relative_key_path(void **state)
{
    char err[1024];
    char *sub = path_in(tmpdir, "conf.d");
    mkdir(sub, 0700);
    char *cfgpath = path_in(sub, "ltigate.yaml");
    char *keycopy = path_in(sub, "key-here.pem");
    char *orig = path_in(tmpdir, "tool-key.pem");
    char *pem = read_all(orig);
    FILE *fp = fopen(keycopy, "w");
    assert_non_null(fp);
    fputs(pem, fp);
    fclose(fp);
    chmod(keycopy, 0600);

    /* The working directory (the repository root) has no key-here.pem, so
     * the load succeeds only when the path resolves against conf.d/. */
    fp = fopen(cfgpath, "w");
    assert_non_null(fp);
    fprintf(fp, canvas_template, "https://canvas.instructure.com", "");
    fclose(fp);
    char *text = read_all(cfgpath);
    char *at = strstr(text, "tool-key.pem");
    assert_non_null(at);
    fp = fopen(cfgpath, "w");
    fprintf(fp, "%.*skey-here.pem%s", (int)(at - text), text, at + strlen("tool-key.pem"));
    fclose(fp);

    lti_config_t *cfg = lti_config_load(cfgpath, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->private_key_file, keycopy);
    assert_non_null(cfg->private_key);
    lti_config_free(cfg);

    /* An absolute path is kept as written. */
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "server:\n  baseUrl: https://kaf.example.com\n"
             "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: %s\n"
             "platforms:\n  - issuer: https://canvas.instructure.com\n"
             "    lti13ClientID: \"1\"\n    deploymentIds: [\"1:a\"]\n", orig);
    cfg = load_text(yaml, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->private_key_file, orig);
    lti_config_free(cfg);

    free(text);
    free(pem);
    free(orig);
    free(keycopy);
    free(cfgpath);
    free(sub);
}

/* Returns `text` with each occurrence of from[i] replaced by to[i]. */
static char *replace_all(const char *text, const char *const *from, const char *const *to,
                         size_t n_pairs)
{
    size_t cap = strlen(text) * 4 + 4096;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        size_t i = 0;
        while (i < n_pairs && strncmp(p, from[i], strlen(from[i])) != 0)
            i++;
        if (i < n_pairs) {
            n += (size_t)snprintf(out + n, cap - n, "%s", to[i]);
            p += strlen(from[i]);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

/* Loads a config shipped in conf/ with its absolute paths moved to `to`. */
static lti_config_t *load_shipped(const char *name, const char *const *from,
                                  const char *const *to, size_t n_pairs)
{
    char err[1024];
    char *src = path_in(source_dir(), name);
    char *text = read_all(src);
    assert_non_null(text);
    char *out = replace_all(text, from, to, n_pairs);
    lti_config_t *cfg = load_text(out, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s: %s", name, err);
    free(out);
    free(text);
    free(src);
    return cfg;
}

static void config_shipped_example_loads(void **state)
{
    /* The /etc and /var paths of the example point at the temporary
     * directory, where the test keys are. */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/", tmpdir);
    const char *const from[] = {"/etc/ltigate/", "/var/log/ltigate/"};
    const char *const to[] = {dir, dir};
    lti_config_t *cfg = load_shipped("conf/ltigate.yaml", from, to, 2);
    assert_string_equal(cfg->base_url, "https://kaf.example.com");
    assert_string_equal(cfg->listen[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen[0].port, 8080);
    assert_string_equal(cfg->platforms[0].keys_url,
                        "https://sso.canvaslms.com/api/lti/security/jwks");
    assert_int_equal(cfg->n_role_map, 8);
    assert_string_equal(cfg->role_map[5].lis, LIS "membership#Learner");
    lti_config_free(cfg);
}

/* conf/loadtest.yaml matches the README's load-testing commands. */
static void config_shipped_loadtest_loads(void **state)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/", tmpdir);
    char *catalog = path_in(source_dir(), "conf/catalog.json");
    const char *const from[] = {"/tmp/ltigate-load/", "catalog.json"};
    const char *const to[] = {dir, catalog};
    lti_config_t *cfg = load_shipped("conf/loadtest.yaml", from, to, 2);
    assert_string_equal(cfg->base_url, "http://127.0.0.1:8080");
    assert_int_equal(cfg->listen[0].port, 8080);
    assert_string_equal(cfg->platforms[0].keys_url,
                        "http://127.0.0.1:9001/api/lti/security/jwks");
    assert_true(cfg->state_lifetime >= 1800);
    lti_config_free(cfg);
    free(catalog);
}

static void config_find_platform(void **state)
{
    char err[1024];
    lti_config_t *cfg = load_text(
        "server:\n  baseUrl: https://kaf.example.com\n"
        "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: tool-key.pem\n"
        "platforms:\n"
        "  - issuer: https://canvas.instructure.com\n    lti13ClientID: \"111\"\n"
        "    deploymentIds: [\"1:a\"]\n"
        "  - issuer: https://canvas.instructure.com\n    lti13ClientID: \"222\"\n"
        "    deploymentIds: [\"1:a\"]\n"
        "  - issuer: https://lms.example.edu\n    lti13ClientID: \"111\"\n"
        "    lti13PlatformOidcAuthUrl: https://lms.example.edu/auth\n"
        "    lti13AuthTokenUrl: https://lms.example.edu/token\n"
        "    lti13KeysUrl: https://lms.example.edu/jwks\n"
        "    deploymentIds: [\"1:a\"]\n",
        err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    int ambiguous = -1;

    assert_ptr_equal(lti_config_find_platform(cfg, "https://canvas.instructure.com", "222",
                                              &ambiguous), &cfg->platforms[1]);
    assert_int_equal(ambiguous, 0);
    assert_ptr_equal(lti_config_find_platform(cfg, "https://lms.example.edu", "111", &ambiguous),
                     &cfg->platforms[2]);
    /* Without client_id: one registration for the issuer matches, two do not. */
    assert_ptr_equal(lti_config_find_platform(cfg, "https://lms.example.edu", NULL, &ambiguous),
                     &cfg->platforms[2]);
    assert_int_equal(ambiguous, 0);
    assert_null(lti_config_find_platform(cfg, "https://canvas.instructure.com", NULL, &ambiguous));
    assert_int_equal(ambiguous, 1);
    /* Exact bytes: no trailing-slash, case or prefix tolerance. */
    assert_null(
        lti_config_find_platform(cfg, "https://canvas.instructure.com/", "111", &ambiguous));
    assert_int_equal(ambiguous, 0);
    assert_null(lti_config_find_platform(cfg, "https://Canvas.instructure.com", "111", &ambiguous));
    assert_null(lti_config_find_platform(cfg, "https://canvas.instructure.com", "11", &ambiguous));
    assert_null(lti_config_find_platform(cfg, "https://canvas.instructure.com", "333", &ambiguous));
    assert_int_equal(ambiguous, 0);
    assert_null(lti_config_find_platform(cfg, "https://unknown.example", NULL, &ambiguous));
    assert_int_equal(ambiguous, 0);
    assert_null(lti_config_find_platform(cfg, "https://unknown.example", NULL, NULL));
    lti_config_free(cfg);
}

static void role_canonical_table(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Instructor", LIS "membership#Instructor"},
        {"Learner", LIS "membership#Learner"},
        {"ContentDeveloper", LIS "membership#ContentDeveloper"},
        {"Instructor/TeachingAssistant", LIS "membership/Instructor#TeachingAssistant"},
        {"urn:lti:role:ims/lis/Learner", LIS "membership#Learner"},
        {"urn:lti:role:ims/lis/Instructor/TeachingAssistant",
         LIS "membership/Instructor#TeachingAssistant"},
        {"urn:lti:instrole:ims/lis/Administrator", LIS "institution/person#Administrator"},
        {"urn:lti:instrole:ims/lis/Instructor", LIS "institution/person#Instructor"},
        {"urn:lti:sysrole:ims/lis/SysAdmin", LIS "system/person#SysAdmin"},
        {"urn:lti:sysrole:ims/lis/None", LIS "system/person#None"},
        {LIS "membership#Instructor", LIS "membership#Instructor"},
        {"http://purl.imsglobal.org/vocab/lti/system/person#TestUser",
         "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"},
        {"https://example.com/role#X", "https://example.com/role#X"},
        /* Not role names: kept as they are, so they match nothing by accident. */
        {"urn:lti:role:ims/lis/", "urn:lti:role:ims/lis/"},
        {"urn:other:Instructor", "urn:other:Instructor"},
        {"Instructor#x", "Instructor#x"},
        {"/Instructor", "/Instructor"},
        {"", ""},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lti_role_canonical(cases[i].in, out, sizeof(out));
        assert_non_null(got);
        assert_ptr_equal(got, out);
        assert_string_equal(got, cases[i].want);
    }
    /* A result that does not fit is refused, never cut. */
    char small[20];
    assert_null(lti_role_canonical("Instructor", small, sizeof(small)));
    assert_null(lti_role_canonical(LIS "membership#Instructor", small, sizeof(small)));
    assert_null(lti_role_canonical(NULL, out, sizeof(out)));
    assert_null(lti_role_canonical("Learner", out, 0));
}

static void config_units_and_ipv6_listen(void **state)
{
    char err[1024];
    lti_config_t *cfg = load_text(
        "server:\n  baseUrl: \"http://[::1]:8443\"\n"
        "  listen: [\"[::1]:8443\", \"0.0.0.0:80\"]\n  maxRequestBody: 1MiB\n"
        "  requestTimeout: 150ms\n"
        "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: tool-key.pem\n"
        "  clockSkew: 0\n  stateLifetime: 30s\n  sessionLifetime: 7d\n"
        "  sessionTokenLifetime: 10m\n"
        "platforms:\n  - issuer: https://canvas.instructure.com\n    lti13ClientID: \"1\"\n"
        "    acceptNewDeployments: true\n    recordedDeploymentsFile: deployments.txt\n",
        err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->base_url, "http://[::1]:8443");
    assert_string_equal(cfg->launch_url, "http://[::1]:8443/hosted/index/oauth2-launch");
    assert_int_equal(cfg->n_listen, 2);
    assert_string_equal(cfg->listen[0].host, "::1");
    assert_string_equal(cfg->listen[1].host, "0.0.0.0");
    assert_int_equal(cfg->listen[1].port, 80);
    assert_int_equal(cfg->max_body, 1048576);
    assert_int_equal(cfg->request_timeout_ms, 150);
    assert_int_equal(cfg->clock_skew, 0);
    assert_int_equal(cfg->state_lifetime, 30);
    assert_int_equal(cfg->session_lifetime, 7 * 86400);
    assert_int_equal(cfg->session_token_lifetime, 600);
    assert_int_equal(cfg->platforms[0].deployment_policy, LTI_DEPLOY_RECORD);
    lti_config_free(cfg);
}

static void config_file_level_errors(void **state)
{
    char err[1024];

    /* A zero-byte file. */
    assert_null(load_text("", err, sizeof(err)));
    assert_non_null(strstr(err, "inline.yaml:1:1: the file is empty"));

    char *missing = path_in(tmpdir, "no-such.yaml");
    assert_null(lti_config_load(missing, err, sizeof(err)));
    assert_non_null(strstr(err, "no-such.yaml: cannot open the configuration file"));
    free(missing);

    assert_null(lti_config_load(tmpdir, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));

    /* A short buffer gets a cut, terminated message; no buffer is fine too. */
    char tiny[12];
    memset(tiny, 'z', sizeof(tiny));
    assert_null(load_text("server: [", tiny, sizeof(tiny)));
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    assert_null(load_text("server: [", NULL, 0));
    assert_null(lti_config_load(NULL, err, sizeof(err)));
    lti_config_free(NULL);
}

static void config_dump_masks_secrets(void **state)
{
    char err[1024];
    char *path = copy_fixture("tests/data/config/valid_full.yaml", "valid_full.yaml");
    lti_config_t *cfg = lti_config_load(path, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    char *log = path_in(tmpdir, "dump.log");
    assert_int_equal(lti_log_open(log, LTI_LOG_DEBUG), 0);
    lti_config_dump(cfg);
    lti_log_open(NULL, LTI_LOG_INFO);
    char *text = read_all(log);
    assert_non_null(text);

    assert_non_null(strstr(text, "base_url=https://kaf.example.com"));
    assert_non_null(strstr(text, "listen=127.0.0.1:18080,[::1]:18443"));
    assert_non_null(strstr(text, "session_secret=file"));
    assert_non_null(strstr(text, "private_key_bits=2048"));
    assert_non_null(strstr(text, "client_id=170000000000123"));
    assert_non_null(strstr(text, "deployment_policy=record"));
    assert_non_null(strstr(text, "order=nobody<member<owner"));
    assert_non_null(strstr(text, "app_role=owner"));
    assert_null(strstr(text, SECRET_TEXT));
    assert_null(strstr(text, "BEGIN"));
    assert_null(strstr(text, "PRIVATE"));
    free(text);
    free(log);
    lti_config_free(cfg);
    free(path);
}

static void config_warns_world_readable_key(void **state)
{
    char err[1024];
    char *key = path_in(tmpdir, "tool-key.pem");
    char *log = path_in(tmpdir, "perm.log");
    char *path = copy_fixture("tests/data/config/minimal.yaml", "minimal.yaml");
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(lti_log_open(log, LTI_LOG_INFO), 0);
    lti_config_t *cfg = lti_config_load(path, err, sizeof(err));
    lti_log_open(NULL, LTI_LOG_INFO);
    assert_int_equal(chmod(key, 0600), 0);
    if (cfg == NULL)
        fail_msg("%s", err);
    lti_config_free(cfg);

    char *text = read_all(log);
    assert_non_null(text);
    assert_non_null(strstr(text, "level=warn"));
    assert_non_null(strstr(text, "is readable by every user"));
    free(text);
    free(path);
    free(log);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_error_fixtures),
        cmocka_unit_test(config_full_fixture),
        cmocka_unit_test(config_minimal_defaults),
        cmocka_unit_test(config_canvas_cloud_defaults),
        cmocka_unit_test(config_self_hosted_with_urls),
        cmocka_unit_test(config_client_id_source_text),
        cmocka_unit_test(config_relative_key_path),
        cmocka_unit_test(config_shipped_example_loads),
        cmocka_unit_test(config_shipped_loadtest_loads),
        cmocka_unit_test(config_find_platform),
        cmocka_unit_test(role_canonical_table),
        cmocka_unit_test(config_units_and_ipv6_listen),
        cmocka_unit_test(config_file_level_errors),
        cmocka_unit_test(config_dump_masks_secrets),
        cmocka_unit_test(config_warns_world_readable_key),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
