/* SPDX-License-Identifier: MIT */
/*
 * Tests of the store section: the Redis URL split into host, port and
 * database, the database key, the password file and the defaults. The
 * rejected values are error fixtures in tests/data/config/errors/store_*.
 */
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

static char tmpdir[256];

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    fclose(fp);
    chmod(path, 0600);
}

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ltigate-cfgstore-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    char path[512];
    snprintf(path, sizeof(path), "%s/tool-key.pem", tmpdir);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    FILE *fp = fopen(path, "w");
    int ok = key != NULL && fp != NULL &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fp != NULL)
        fclose(fp);
    chmod(path, 0600);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Loads a config whose store section is `store_yaml`. */
static lti_config_t *load_with_store(const char *store_yaml, char *err, size_t errlen)
{
    char text[2048], path[512];
    snprintf(text, sizeof(text),
             "server:\n"
             "  baseUrl: https://kaf.example.com\n"
             "hosted:\n"
             "  authMethod: lti1.3\n"
             "  lti13ServicePrivateKey: tool-key.pem\n"
             "platforms:\n"
             "  - issuer: https://canvas.instructure.com\n"
             "    lti13ClientID: \"170000000000123\"\n"
             "    deploymentIds: [\"42:abc\"]\n"
             "%s",
             store_yaml);
    write_text("ltigate.yaml", text);
    snprintf(path, sizeof(path), "%s/ltigate.yaml", tmpdir);
    return lti_config_load(path, err, errlen);
}

static void store_defaults(void **state)
{
    char err[1024];
    lti_config_t *cfg = load_with_store("", err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->store_backend, "memory");
    assert_string_equal(cfg->store_redis_url, "redis://127.0.0.1:6379");
    assert_string_equal(cfg->store_redis_host, "127.0.0.1");
    assert_int_equal(cfg->store_redis_port, 6379);
    assert_int_equal(cfg->store_redis_db, 0);
    assert_string_equal(cfg->store_key_prefix, "ltigate:");
    assert_int_equal(cfg->store_connect_timeout_ms, 1000);
    assert_int_equal(cfg->store_command_timeout_ms, 200);
    assert_null(cfg->store_password_file);
    assert_null(cfg->store_password);
    lti_config_free(cfg);
}

static void store_redis_full(void **state)
{
    char err[1024];
    write_text("redis-password", "s3cret pass\n");
    lti_config_t *cfg = load_with_store("store:\n"
                                        "  backend: redis\n"
                                        "  redisUrl: redis://redis.internal:6390/4\n"
                                        "  keyPrefix: \"kaf-prod:\"\n"
                                        "  connectTimeout: 2s\n"
                                        "  commandTimeout: 150ms\n"
                                        "  passwordFile: redis-password\n"
                                        "  database: 4\n",
                                        err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->store_backend, "redis");
    assert_string_equal(cfg->store_redis_host, "redis.internal");
    assert_int_equal(cfg->store_redis_port, 6390);
    assert_int_equal(cfg->store_redis_db, 4);
    assert_string_equal(cfg->store_key_prefix, "kaf-prod:");
    assert_int_equal(cfg->store_connect_timeout_ms, 2000);
    assert_int_equal(cfg->store_command_timeout_ms, 150);
    /* The line break that echo writes is not part of the password. */
    assert_string_equal(cfg->store_password, "s3cret pass");
    lti_config_free(cfg);
}

static void store_database_key_without_url_db(void **state)
{
    char err[1024];
    lti_config_t *cfg = load_with_store("store:\n"
                                        "  backend: redis\n"
                                        "  redisUrl: redis://[::1]\n"
                                        "  database: 7\n",
                                        err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->store_redis_host, "::1");
    assert_int_equal(cfg->store_redis_port, 6379);
    assert_int_equal(cfg->store_redis_db, 7);
    lti_config_free(cfg);
}

static void store_url_db_without_database_key(void **state)
{
    char err[1024];
    lti_config_t *cfg = load_with_store("store:\n"
                                        "  backend: redis\n"
                                        "  redisUrl: redis://10.1.2.3:6379/3\n",
                                        err, sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_string_equal(cfg->store_redis_host, "10.1.2.3");
    assert_int_equal(cfg->store_redis_db, 3);
    lti_config_free(cfg);
}

static void store_password_file_rules(void **state)
{
    char err[1024];
    write_text("empty-password", "\n");
    lti_config_t *cfg = load_with_store("store:\n"
                                        "  backend: redis\n"
                                        "  passwordFile: empty-password\n",
                                        err, sizeof(err));
    assert_null(cfg);
    assert_non_null(strstr(err, "store.passwordFile"));
    assert_non_null(strstr(err, "on one line"));

    write_text("two-lines", "first\nsecond\n");
    cfg = load_with_store("store:\n"
                          "  passwordFile: two-lines\n",
                          err, sizeof(err));
    assert_null(cfg);
    assert_non_null(strstr(err, "on one line"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_defaults),
        cmocka_unit_test(store_redis_full),
        cmocka_unit_test(store_database_key_without_url_db),
        cmocka_unit_test(store_url_db_without_database_key),
        cmocka_unit_test(store_password_file_rules),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
