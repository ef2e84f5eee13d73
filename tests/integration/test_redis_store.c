/* SPDX-License-Identifier: MIT */
/*
 * One ltigate instance on the Redis store, against a redis-server this test
 * starts on 127.0.0.1: where records land (key prefix, database, expiry),
 * AUTH with a password file, a wrong password, and an instance that starts
 * before Redis does. Exits 77 (skipped) when redis-server is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "harness.h"

#define PASSWORD "correct-horse-battery"

static char redis_bin[256];
static char redis_dir[256];
static uint16_t redis_port;
static pid_t redis_pid;

static uint16_t free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sends inline commands (values without spaces) and returns the replies
 * Redis sent within 300 ms, malloc'd. */
static char *redis_raw(const char *commands)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(redis_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {0, 300000};
    char *out = calloc(1, 65536);
    size_t used = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        if (fd >= 0)
            close(fd);
        return out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, commands, strlen(commands)) == (ssize_t)strlen(commands)) {
        ssize_t n;
        while (used < 65535 && (n = read(fd, out + used, 65535 - used)) > 0)
            used += (size_t)n;
    }
    close(fd);
    return out;
}

static int start_redis(int with_password)
{
    char port[8], log[300];
    snprintf(port, sizeof(port), "%u", redis_port);
    snprintf(log, sizeof(log), "%s/redis.log", redis_dir);
    redis_pid = fork();
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[] = {redis_bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", redis_dir,
                        with_password ? "--requirepass" : NULL, PASSWORD, NULL};
        execv(redis_bin, argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        char *reply = redis_raw(with_password ? "AUTH " PASSWORD "\r\nPING\r\n" : "PING\r\n");
        int up = strstr(reply, "+PONG") != NULL;
        free(reply);
        if (up)
            return 0;
        sleep_ms(50);
    }
    return -1;
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

static int setup(void **state)
{
    snprintf(redis_dir, sizeof(redis_dir), "/tmp/ltigate-redis-store-XXXXXX");
    if (mkdtemp(redis_dir) == NULL)
        return -1;
    redis_port = free_port();
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    stop_redis();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", redis_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes the password file and returns the store section for the harness. */
static const char *store_yaml(const char *password, unsigned database, char *buf, size_t len)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/redis-password-%u", redis_dir, database);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", password);
    fclose(fp);
    chmod(path, 0600);
    snprintf(buf, len,
             "store:\n"
             "  backend: redis\n"
             "  redisUrl: redis://127.0.0.1:%u\n"
             "  database: %u\n"
             "  keyPrefix: \"kaf-test:\"\n"
             "  passwordFile: %s\n"
             "  connectTimeout: 300ms\n"
             "  commandTimeout: 200ms\n",
             redis_port, database, path);
    return buf;
}

static long get_status(const harness_t *h, const char *path, char *reason, size_t len)
{
    return harness_http(h, "GET", path, NULL, NULL, 0, NULL, reason, len);
}

static int wait_ready(const harness_t *h, int seconds)
{
    char reason[64];
    for (int i = 0; i < seconds * 20; i++) {
        if (get_status(h, "/readyz", reason, sizeof(reason)) == 200)
            return 0;
        sleep_ms(50);
    }
    return -1;
}

static void records_land_in_database_with_prefix(void **state)
{
    harness_t h;
    char yaml[1024], reason[64];
    sim_launch_opts_t o;
    sim_launch_result_t r;

    assert_int_equal(start_redis(1), 0);
    harness_opts_t opts = {.extra_yaml = store_yaml(PASSWORD, 2, yaml, sizeof(yaml))};
    assert_int_equal(harness_start(&h, &opts), 0);
    assert_int_equal(wait_ready(&h, 5), 0);

    harness_launch_opts(&h, &o);
    o.user = "asmith";
    o.role = "student";
    sim_launch(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    sim_launch_result_clear(&r);

    /* The state was taken; the nonce stays, in database 2, under the
     * prefix, and expires. */
    char *keys = redis_raw("AUTH " PASSWORD "\r\nSELECT 2\r\nKEYS *\r\n");
    assert_non_null(strstr(keys, "kaf-test:nonce:https://canvas.instructure.com:"));
    assert_null(strstr(keys, "kaf-test:st:"));
    free(keys);
    char *other = redis_raw("AUTH " PASSWORD "\r\nSELECT 0\r\nDBSIZE\r\n");
    assert_non_null(strstr(other, ":0\r\n"));
    free(other);

    /* A login stores its state under st: with stateLifetime (300 s). */
    char body[512];
    snprintf(body, sizeof(body),
             "iss=https%%3A%%2F%%2Fcanvas.instructure.com&login_hint=u1&client_id=%s&"
             "target_link_uri=%s%s",
             SIM_DEFAULT_CLIENT_ID, h.tool_base, SIM_LAUNCH_PATH);
    assert_int_equal(harness_http(&h, "POST", SIM_LOGIN_PATH,
                                  "application/x-www-form-urlencoded", body, strlen(body), NULL,
                                  reason, sizeof(reason)),
                     302);
    char *scan = redis_raw("AUTH " PASSWORD "\r\nSELECT 2\r\nKEYS kaf-test:st:*\r\n");
    char *key = strstr(scan, "kaf-test:st:");
    assert_non_null(key);
    key[strcspn(key, "\r\n")] = '\0';
    char ttl_cmd[256];
    snprintf(ttl_cmd, sizeof(ttl_cmd), "AUTH " PASSWORD "\r\nSELECT 2\r\nTTL %s\r\n", key);
    free(scan);
    char *ttl = redis_raw(ttl_cmd);
    char *last = strrchr(ttl, ':');
    assert_non_null(last);
    long seconds = strtol(last + 1, NULL, 10);
    assert_true(seconds > 250 && seconds <= 300);
    free(ttl);

    harness_stop(&h);
    stop_redis();
}

static void wrong_password_fails_closed(void **state)
{
    harness_t h;
    char yaml[1024], reason[64];
    sim_launch_opts_t o;
    sim_launch_result_t r;

    assert_int_equal(start_redis(1), 0);
    harness_opts_t opts = {.extra_yaml = store_yaml("not-the-password", 0, yaml, sizeof(yaml))};
    assert_int_equal(harness_start(&h, &opts), 0);
    assert_int_equal(get_status(&h, "/healthz", reason, sizeof(reason)), 200);
    assert_int_equal(get_status(&h, "/readyz", reason, sizeof(reason)), 503);

    harness_launch_opts(&h, &o);
    sim_launch(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.reason, "store_unavailable");
    sim_launch_result_clear(&r);
    assert_true(harness_log_contains(&h, "class=handshake"));
    /* The password is never logged. */
    assert_false(harness_log_contains(&h, "not-the-password"));
    harness_stop(&h);
    stop_redis();
}

/* Redis accepts the login state but refuses the nonce record (an ACL that
 * allows only the st: keys): the launch must fail with store_unavailable
 * rather than go on without a recorded nonce. */
static void nonce_record_failure_rejects_launch(void **state)
{
    harness_t h;
    char yaml[1024];
    sim_launch_opts_t o;
    sim_launch_result_t r;

    assert_int_equal(start_redis(1), 0);
    char *acl = redis_raw("AUTH " PASSWORD "\r\nACL SETUSER default resetkeys ~kaf-test:st:*\r\n");
    assert_non_null(strstr(acl, "+OK\r\n+OK"));
    free(acl);
    harness_opts_t opts = {.extra_yaml = store_yaml(PASSWORD, 0, yaml, sizeof(yaml))};
    assert_int_equal(harness_start(&h, &opts), 0);
    assert_int_equal(wait_ready(&h, 5), 0);

    harness_launch_opts(&h, &o);
    sim_launch(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.reason, "store_unavailable");
    assert_false(r.session_after_reject);
    sim_launch_result_clear(&r);
    assert_true(harness_log_contains(&h, "class=reply"));
    assert_false(harness_log_contains(&h, "outcome=launched"));
    harness_stop(&h);
    stop_redis();
}

static void starts_before_redis_and_recovers(void **state)
{
    harness_t h;
    char yaml[1024], reason[64];
    sim_launch_opts_t o;
    sim_launch_result_t r;

    harness_opts_t opts = {.extra_yaml = store_yaml(PASSWORD, 0, yaml, sizeof(yaml))};
    assert_int_equal(harness_start(&h, &opts), 0);
    assert_int_equal(get_status(&h, "/healthz", reason, sizeof(reason)), 200);
    assert_int_equal(get_status(&h, "/readyz", reason, sizeof(reason)), 503);
    harness_launch_opts(&h, &o);
    sim_launch(&o, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.reason, "store_unavailable");
    sim_launch_result_clear(&r);
    assert_true(harness_log_contains(&h, "class=connect"));

    assert_int_equal(start_redis(1), 0);
    assert_int_equal(wait_ready(&h, 10), 0);
    sim_launch(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    sim_launch_result_clear(&r);
    assert_true(harness_log_contains(&h, "redis reachable again"));
    harness_stop(&h);
    stop_redis();
}

int main(void)
{
    static const char *const dirs[] = {"/usr/bin", "/usr/sbin", "/usr/local/bin"};
    int found = 0;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !found; i++) {
        snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", dirs[i]);
        found = access(redis_bin, X_OK) == 0;
    }
    if (!found) {
        printf("skipped: redis-server is not installed; scripts/install-deps.sh installs it\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_land_in_database_with_prefix),
        cmocka_unit_test(wrong_password_fails_closed),
        cmocka_unit_test(nonce_record_failure_rejects_launch),
        cmocka_unit_test(starts_before_redis_and_recovers),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
