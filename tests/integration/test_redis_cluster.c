/* SPDX-License-Identifier: MIT */
/*
 * Two ltigate instances sharing one Redis behind HAProxy, all started by
 * this test on 127.0.0.1. Redis runs without persistence, instances A and
 * B share one tool key and session secret, HAProxy balances round-robin,
 * and the simulated Canvas points at HAProxy. Checks cross-instance
 * launches, single use under replay and under 50 concurrent identical
 * launch POSTs, failing closed while Redis is stopped or killed, and
 * recovery when Redis returns. Exits 77 (skipped) when redis-server or
 * haproxy is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "harness.h"

#define N_CONCURRENT 50
#define FAIL_BOUND_MS 1000.0  /* commandTimeout is 200 ms; the rest is CI slack */
#define RECOVERY_BOUND_S 10.0

typedef struct cluster {
    char dir[256];
    char redis_bin[256], haproxy_bin[256];
    uint16_t redis_port, port_a, port_b, lb_port;
    pid_t redis_pid, a_pid, b_pid, lb_pid;
    char base_a[64], base_b[64], base_lb[64];
    char log_a[300], log_b[300];
    sim_platform_t *platform;
    int keep_dir; /* a failure left files worth reading */
} cluster_t;

static cluster_t cl;

/* ---- processes ---------------------------------------------------------- */

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

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int find_program(const char *name, char *out, size_t outlen)
{
    static const char *const dirs[] = {"/usr/bin", "/usr/sbin", "/usr/local/bin",
                                       "/usr/local/sbin", "/bin", "/sbin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(out, outlen, "%s/%s", dirs[i], name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* Starts argv[0] with stdout and stderr appended to `log`. */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop_process(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGCONT);
    kill(*pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        sleep_ms(50);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

/* Sends PING to Redis over a raw socket; returns 1 on +PONG. */
static int redis_pings(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[16] = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
             write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof(buf) - 1) > 0 &&
             strncmp(buf, "+PONG", 5) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int start_redis(void)
{
    char port[8], log[300];
    snprintf(port, sizeof(port), "%u", cl.redis_port);
    snprintf(log, sizeof(log), "%s/redis.log", cl.dir);
    char *argv[] = {cl.redis_bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", cl.dir, "--protected-mode", "yes",
                    "--daemonize", "no", NULL};
    cl.redis_pid = spawn(argv, log);
    for (int i = 0; i < 100; i++) {
        if (redis_pings(cl.redis_port))
            return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "redis-server did not answer PING; see %s\n", log);
    return -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "w");
    int ok = fp != NULL && fwrite(data, 1, len, fp) == len;
    if (fp != NULL && fclose(fp) != 0)
        ok = 0;
    chmod(path, 0600);
    return ok ? 0 : -1;
}

static int write_shared_secrets(void)
{
    char path[320];
    unsigned char secret[32];
    snprintf(path, sizeof(path), "%s/tool-key.pem", cl.dir);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    FILE *fp = fopen(path, "w");
    int ok = key != NULL && fp != NULL &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fp != NULL)
        fclose(fp);
    EVP_PKEY_free(key);
    chmod(path, 0600);
    snprintf(path, sizeof(path), "%s/session-secret", cl.dir);
    if (!ok || RAND_bytes(secret, sizeof(secret)) != 1)
        return -1;
    return write_file(path, secret, sizeof(secret));
}

static int write_instance_config(const char *name, uint16_t port, const char *log)
{
    char path[320], text[4096];
    const char *base = sim_platform_base_url(cl.platform);
    int n = snprintf(text, sizeof(text),
                     "server:\n"
                     "  listen: [\"127.0.0.1:%u\"]\n"
                     "  baseUrl: %s\n"
                     "  threads: 2\n"
                     "  logFile: %s\n"
                     "  logLevel: info\n"
                     "hosted:\n"
                     "  authMethod: lti1.3\n"
                     "  lti13ServicePrivateKey: tool-key.pem\n"
                     "  sessionSecretFile: session-secret\n"
                     "  ltiUserIdAttribute: custom_canvas_user_login_id\n"
                     "store:\n"
                     "  backend: redis\n"
                     "  redisUrl: redis://127.0.0.1:%u/0\n"
                     "  keyPrefix: \"test%u:\"\n"
                     "  connectTimeout: 500ms\n"
                     "  commandTimeout: 200ms\n"
                     "platforms:\n"
                     "  - name: Simulated Canvas\n"
                     "    issuer: %s\n"
                     "    lti13ClientID: \"%s\"\n"
                     "    lti13PlatformOidcAuthUrl: %s/api/lti/authorize_redirect\n"
                     "    lti13AuthTokenUrl: %s/login/oauth2/token\n"
                     "    lti13KeysUrl: %s/api/lti/security/jwks\n"
                     "    selfHosted: true\n"
                     "    allowHttpLoopback: true\n"
                     "    deploymentIds: [\"%s\"]\n",
                     port, cl.base_lb, log, cl.redis_port, (unsigned)getpid(),
                     sim_platform_issuer(cl.platform), SIM_DEFAULT_CLIENT_ID, base, base, base,
                     SIM_DEFAULT_DEPLOYMENT_ID);
    snprintf(path, sizeof(path), "%s/%s.yaml", cl.dir, name);
    return n > 0 && (size_t)n < sizeof(text) ? write_file(path, text, (size_t)n) : -1;
}

static long http_get_status(const char *url);

static pid_t start_instance(const char *name)
{
    char config[320], out[320];
    const char *bin = getenv("LTIGATE_BIN");
    snprintf(config, sizeof(config), "%s/%s.yaml", cl.dir, name);
    snprintf(out, sizeof(out), "%s/%s.stderr", cl.dir, name);
    char *argv[] = {(char *)bin, "--config", config, NULL};
    return spawn(argv, out);
}

static int start_haproxy(void)
{
    char path[320], log[320], text[2048];
    int n = snprintf(text, sizeof(text),
                     "global\n"
                     "  maxconn 2000\n"
                     "defaults\n"
                     "  mode http\n"
                     "  timeout connect 2s\n"
                     "  timeout client 15s\n"
                     "  timeout server 15s\n"
                     "frontend lti\n"
                     "  bind 127.0.0.1:%u\n"
                     "  default_backend ltigate\n"
                     "backend ltigate\n"
                     "  balance roundrobin\n"
                     "  server a 127.0.0.1:%u\n"
                     "  server b 127.0.0.1:%u\n",
                     cl.lb_port, cl.port_a, cl.port_b);
    snprintf(path, sizeof(path), "%s/haproxy.cfg", cl.dir);
    snprintf(log, sizeof(log), "%s/haproxy.log", cl.dir);
    if (write_file(path, text, (size_t)n) != 0)
        return -1;
    char *argv[] = {cl.haproxy_bin, "-db", "-f", path, NULL};
    cl.lb_pid = spawn(argv, log);
    char url[128];
    snprintf(url, sizeof(url), "%s/healthz", cl.base_lb);
    for (int i = 0; i < 100; i++) {
        if (http_get_status(url) == 200)
            return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "haproxy did not forward /healthz; see %s\n", log);
    return -1;
}

/* ---- HTTP --------------------------------------------------------------- */

typedef struct http_res {
    long status;
    char reason[64];
    char location[4096];
    char cookies[4096]; /* "name=value; ..." from the Set-Cookie headers */
    char *body;
    size_t body_len;
    double ms;
} http_res_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    http_res_t *res = arg;
    size_t n = size * nmemb;
    char *grown = realloc(res->body, res->body_len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + res->body_len, ptr, n);
    res->body = grown;
    res->body_len += n;
    res->body[res->body_len] = '\0';
    return n;
}

static void copy_header_value(const char *v, size_t len, char *out, size_t outlen)
{
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    http_res_t *res = arg;
    size_t n = size * nmemb;
    if (n > 14 && strncasecmp(ptr, "x-lti-reason: ", 14) == 0)
        copy_header_value(ptr + 14, n - 14, res->reason, sizeof(res->reason));
    else if (n > 10 && strncasecmp(ptr, "location: ", 10) == 0)
        copy_header_value(ptr + 10, n - 10, res->location, sizeof(res->location));
    else if (n > 12 && strncasecmp(ptr, "set-cookie: ", 12) == 0) {
        size_t len = strcspn(ptr + 12, ";\r\n");
        size_t used = strlen(res->cookies);
        if (used + len + 3 < sizeof(res->cookies)) {
            if (used > 0)
                strcat(res->cookies, "; ");
            strncat(res->cookies, ptr + 12, len);
        }
    }
    return n;
}

static CURL *make_request(const char *url, const char *form, const char *cookie,
                          http_res_t *res, struct curl_slist **headers)
{
    CURL *curl = curl_easy_init();
    memset(res, 0, sizeof(*res));
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, res);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    *headers = NULL;
    if (form != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
        *headers = curl_slist_append(*headers,
                                     "Content-Type: application/x-www-form-urlencoded");
    }
    *headers = curl_slist_append(*headers, "Accept: text/html");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
    if (cookie != NULL)
        curl_easy_setopt(curl, CURLOPT_COOKIE, cookie);
    return curl;
}

static long http_do(const char *url, const char *form, const char *cookie, http_res_t *res)
{
    struct curl_slist *headers = NULL;
    CURL *curl = make_request(url, form, cookie, res, &headers);
    double start = now_ms();
    res->status = -1;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    res->ms = now_ms() - start;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return res->status;
}

static void http_res_clear(http_res_t *res)
{
    free(res->body);
    res->body = NULL;
}

static long http_get_status(const char *url)
{
    http_res_t res;
    long status = http_do(url, NULL, NULL, &res);
    http_res_clear(&res);
    return status;
}

/* ---- a launch driven by hand -------------------------------------------- */

/* One login's result: the id_token and state the platform form-posts to
 * the tool, and the state cookie the tool set. */
typedef struct capture {
    char *form;   /* "id_token=...&state=..." */
    char *cookie; /* "ltist_...=STATE" */
} capture_t;

static void capture_clear(capture_t *c)
{
    free(c->form);
    free(c->cookie);
    memset(c, 0, sizeof(*c));
}

static char *html_unescape(const char *s, size_t len)
{
    static const struct {
        const char *entity;
        char c;
    } entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
                    {"&#39;", '\''}};
    char *out = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        for (; k < sizeof(entities) / sizeof(entities[0]); k++) {
            size_t el = strlen(entities[k].entity);
            if (i + el <= len && strncmp(s + i, entities[k].entity, el) == 0) {
                out[n++] = entities[k].c;
                i += el;
                break;
            }
        }
        if (k == sizeof(entities) / sizeof(entities[0]))
            out[n++] = s[i++];
    }
    out[n] = '\0';
    return out;
}

/* Turns the hidden inputs of the first form in `html` into a urlencoded
 * body. Returns NULL when there is no input. */
static char *form_body(const char *html)
{
    CURL *curl = curl_easy_init();
    size_t cap = strlen(html) * 3 + 1, used = 0;
    char *body = calloc(1, cap);
    const char *p = html;
    while ((p = strstr(p, "<input ")) != NULL) {
        const char *name = strstr(p, "name=\""), *value = strstr(p, "value=\"");
        if (name == NULL || value == NULL)
            break;
        name += 6;
        value += 7;
        char *n = html_unescape(name, strcspn(name, "\""));
        char *v = html_unescape(value, strcspn(value, "\""));
        char *ne = curl_easy_escape(curl, n, 0), *ve = curl_easy_escape(curl, v, 0);
        used += (size_t)snprintf(body + used, cap - used, "%s%s=%s", used > 0 ? "&" : "", ne,
                                 ve);
        curl_free(ne);
        curl_free(ve);
        free(n);
        free(v);
        p = value;
    }
    curl_easy_cleanup(curl);
    if (used == 0) {
        free(body);
        return NULL;
    }
    return body;
}

/* Returns the value of `name` in the hidden inputs of `html`, malloc'd. */
static char *form_value(const char *html, const char *name)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "name=\"%s\" value=\"", name);
    const char *p = strstr(html, needle);
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    return html_unescape(p, strcspn(p, "\""));
}

/* Runs the login against the tool at `login_base` and the platform's
 * authorize step, and stops before the launch POST. Returns 0, or the HTTP
 * status of the failing step (the login's reason in `reason`). */
static long capture_login(const char *login_base, capture_t *c, char *reason, size_t reason_len)
{
    char url[8192];
    http_res_t click, login, auth;
    long rc = 0;

    memset(c, 0, sizeof(*c));
    reason[0] = '\0';
    snprintf(url, sizeof(url), "%s/sim/launch?user=asmith&role=student&placement="
             "course_navigation", sim_platform_base_url(cl.platform));
    if (http_do(url, NULL, NULL, &click) != 200 || click.body == NULL) {
        rc = click.status;
        http_res_clear(&click);
        return rc != 0 ? rc : -1;
    }
    char *body = form_body(click.body);
    http_res_clear(&click);
    snprintf(url, sizeof(url), "%s%s", login_base, SIM_LOGIN_PATH);
    http_do(url, body, NULL, &login);
    free(body);
    snprintf(reason, reason_len, "%s", login.reason);
    if (login.status != 302) {
        http_res_clear(&login);
        return login.status;
    }
    http_do(login.location, NULL, NULL, &auth);
    http_res_clear(&login);
    char *id_token = auth.body != NULL ? form_value(auth.body, "id_token") : NULL;
    char *state = auth.body != NULL ? form_value(auth.body, "state") : NULL;
    if (auth.status != 200 || id_token == NULL || state == NULL) {
        rc = auth.status > 0 ? auth.status : -1;
    } else {
        size_t len = strlen(id_token) + strlen(state) + 32;
        c->form = malloc(len);
        snprintf(c->form, len, "id_token=%s&state=%s", id_token, state);
        c->cookie = malloc(strlen(state) + 32);
        sprintf(c->cookie, "ltist_%.16s=%s", state, state);
    }
    free(id_token);
    free(state);
    http_res_clear(&auth);
    return rc;
}

static long post_launch(const char *base, const capture_t *c, http_res_t *res)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", base, SIM_LAUNCH_PATH);
    return http_do(url, c->form, c->cookie, res);
}

static int log_count(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "r");
    char line[8192];
    int n = 0;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, needle) != NULL;
    if (fp != NULL)
        fclose(fp);
    return n;
}

/* ---- setup -------------------------------------------------------------- */

static int wait_ready(const char *base)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", base);
    for (int i = 0; i < 200; i++) {
        if (http_get_status(url) == 200)
            return 0;
        sleep_ms(50);
    }
    return -1;
}

static int start_cluster(void **state)
{
    char errbuf[256], login[128], launch[128];

    snprintf(cl.dir, sizeof(cl.dir), "/tmp/ltigate-redis-XXXXXX");
    if (mkdtemp(cl.dir) == NULL)
        return -1;
    cl.redis_port = free_port();
    cl.port_a = free_port();
    cl.port_b = free_port();
    cl.lb_port = free_port();
    snprintf(cl.base_a, sizeof(cl.base_a), "http://127.0.0.1:%u", cl.port_a);
    snprintf(cl.base_b, sizeof(cl.base_b), "http://127.0.0.1:%u", cl.port_b);
    snprintf(cl.base_lb, sizeof(cl.base_lb), "http://127.0.0.1:%u", cl.lb_port);
    snprintf(cl.log_a, sizeof(cl.log_a), "%s/a.log", cl.dir);
    snprintf(cl.log_b, sizeof(cl.log_b), "%s/b.log", cl.dir);
    snprintf(login, sizeof(login), "%s%s", cl.base_lb, SIM_LOGIN_PATH);
    snprintf(launch, sizeof(launch), "%s%s", cl.base_lb, SIM_LAUNCH_PATH);

    if (start_redis() != 0)
        return -1;
    sim_platform_opts_t po = {.tool_login_url = login, .tool_launch_url = launch};
    cl.platform = sim_platform_start(&po, errbuf, sizeof(errbuf));
    if (cl.platform == NULL) {
        fprintf(stderr, "platform did not start: %s\n", errbuf);
        return -1;
    }
    if (write_shared_secrets() != 0 || write_instance_config("a", cl.port_a, cl.log_a) != 0 ||
        write_instance_config("b", cl.port_b, cl.log_b) != 0) {
        fprintf(stderr, "cannot write keys or configs in %s\n", cl.dir);
        return -1;
    }
    cl.a_pid = start_instance("a");
    cl.b_pid = start_instance("b");
    if (wait_ready(cl.base_a) != 0 || wait_ready(cl.base_b) != 0) {
        fprintf(stderr, "an instance did not become ready; see %s\n", cl.dir);
        return -1;
    }
    return start_haproxy();
}

static int stop_cluster(void **state)
{
    stop_process(&cl.lb_pid);
    stop_process(&cl.a_pid);
    stop_process(&cl.b_pid);
    stop_process(&cl.redis_pid);
    if (cl.platform != NULL)
        sim_platform_stop(cl.platform);
    if (getenv("LTIGATE_KEEP_TEST_DIR") == NULL && !cl.keep_dir && cl.dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cl.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", cl.dir);
    } else {
        fprintf(stderr, "cluster files kept in %s\n", cl.dir);
    }
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void readyz_reports_redis_store(void **state)
{
    http_res_t res;
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", cl.base_a);
    assert_int_equal(http_do(url, NULL, NULL, &res), 200);
    json_t *doc = json_loads(res.body, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "store")));
    assert_string_equal(json_string_value(json_object_get(doc, "store_backend")), "redis");
    json_decref(doc);
    http_res_clear(&res);
}

static void login_on_a_launch_on_b(void **state)
{
    capture_t c;
    http_res_t res, page;
    char reason[64], url[4200], cookie[8192];

    assert_int_equal(capture_login(cl.base_a, &c, reason, sizeof(reason)), 0);
    assert_int_equal(post_launch(cl.base_b, &c, &res), 303);
    assert_string_equal(res.reason, "");
    assert_non_null(strstr(res.cookies, "ltigate_session="));
    /* The landing page on A reads the session B signed. */
    snprintf(url, sizeof(url), "%s%s", cl.base_a, res.location);
    snprintf(cookie, sizeof(cookie), "%s", res.cookies);
    assert_int_equal(http_do(url, NULL, cookie, &page), 200);
    assert_non_null(strstr(page.body, "asmith"));
    http_res_clear(&page);
    http_res_clear(&res);
    capture_clear(&c);
}

static void replayed_launch_rejected_on_both(void **state)
{
    capture_t c;
    http_res_t res;
    char reason[64];

    assert_int_equal(capture_login(cl.base_b, &c, reason, sizeof(reason)), 0);
    assert_int_equal(post_launch(cl.base_a, &c, &res), 303);
    http_res_clear(&res);
    assert_int_equal(post_launch(cl.base_a, &c, &res), 401);
    assert_string_equal(res.reason, "state_unknown");
    http_res_clear(&res);
    assert_int_equal(post_launch(cl.base_b, &c, &res), 401);
    assert_string_equal(res.reason, "state_unknown");
    http_res_clear(&res);
    assert_int_equal(post_launch(cl.base_lb, &c, &res), 401);
    http_res_clear(&res);
    capture_clear(&c);
}

static void browser_launches_through_balancer(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    int launched_a = log_count(cl.log_a, "outcome=launched");
    int launched_b = log_count(cl.log_b, "outcome=launched");
    int login_a = log_count(cl.log_a, "outcome=redirect");
    int login_b = log_count(cl.log_b, "outcome=redirect");

    for (int i = 0; i < 4; i++) {
        memset(&o, 0, sizeof(o));
        o.platform = sim_platform_base_url(cl.platform);
        o.timeout_ms = 10000;
        o.user = i % 2 == 0 ? "jdoe" : "asmith";
        o.role = i % 2 == 0 ? "instructor" : "student";
        o.placement = i % 2 == 0 ? "global_navigation" : "course_navigation";
        sim_launch(&o, &r);
        if (r.outcome != SIM_LAUNCHED)
            fprintf(stderr, "launch %d: %s %s\n", i, r.reason, r.error);
        assert_int_equal(r.outcome, SIM_LAUNCHED);
        assert_string_equal(r.user_id, o.user);
        sim_launch_result_clear(&r);
    }
    launched_a = log_count(cl.log_a, "outcome=launched") - launched_a;
    launched_b = log_count(cl.log_b, "outcome=launched") - launched_b;
    login_a = log_count(cl.log_a, "outcome=redirect") - login_a;
    login_b = log_count(cl.log_b, "outcome=redirect") - login_b;
    printf("through the balancer: logins A %d B %d, launches A %d B %d\n", login_a, login_b,
           launched_a, launched_b);
    assert_int_equal(launched_a + launched_b, 4);
    assert_int_equal(login_a + login_b, 4);
    /* Round robin sent some launch POST to the instance that did not
     * handle its login. */
    assert_true((login_a > 0 && launched_b > 0) || (login_b > 0 && launched_a > 0));
}

/* A bounded `ltisim load` run through HAProxy finishes without errors. */
static void load_through_balancer_without_errors(void **state)
{
    const char *bin = getenv("LTISIM_BIN");
    char out[320];
    assert_non_null(bin);
    snprintf(out, sizeof(out), "%s/load.out", cl.dir);
    char *argv[] = {(char *)bin, "load", "--tool", cl.base_lb, "--platform",
                    (char *)sim_platform_base_url(cl.platform), "-c", "8", "-d", "3",
                    "--quiet", NULL};
    pid_t pid = spawn(argv, out);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ltisim load failed; its report is in %s\n", out);
        cl.keep_dir = 1;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void concurrent_identical_launches_one_wins(void **state)
{
    capture_t c;
    char reason[64];
    http_res_t res[N_CONCURRENT];
    CURL *easy[N_CONCURRENT];
    struct curl_slist *headers[N_CONCURRENT];
    CURLM *multi = curl_multi_init();
    char url_a[128], url_b[128];
    int running = 0, won = 0, unknown = 0;

    assert_int_equal(capture_login(cl.base_lb, &c, reason, sizeof(reason)), 0);
    snprintf(url_a, sizeof(url_a), "%s%s", cl.base_a, SIM_LAUNCH_PATH);
    snprintf(url_b, sizeof(url_b), "%s%s", cl.base_b, SIM_LAUNCH_PATH);
    for (int i = 0; i < N_CONCURRENT; i++) {
        easy[i] = make_request(i % 2 == 0 ? url_a : url_b, c.form, c.cookie, &res[i],
                               &headers[i]);
        curl_multi_add_handle(multi, easy[i]);
    }
    do {
        curl_multi_perform(multi, &running);
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    } while (running > 0);
    for (int i = 0; i < N_CONCURRENT; i++) {
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &res[i].status);
        won += res[i].status == 303;
        unknown += res[i].status == 401 && strcmp(res[i].reason, "state_unknown") == 0;
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        curl_slist_free_all(headers[i]);
        http_res_clear(&res[i]);
    }
    curl_multi_cleanup(multi);
    capture_clear(&c);
    printf("concurrent identical launches: %d accepted, %d state_unknown of %d\n", won,
           unknown, N_CONCURRENT);
    assert_int_equal(won, 1);
    assert_int_equal(unknown, N_CONCURRENT - 1);
}

/* Posts all captures at once, alternating A and B, so several commands are
 * in flight on each Redis connection. Every one must fail with 503
 * store_unavailable within FAIL_BOUND_MS. Returns the slowest in ms. */
static double expect_all_unavailable(capture_t *captures, int n)
{
    http_res_t res[16];
    CURL *easy[16];
    struct curl_slist *headers[16];
    CURLM *multi = curl_multi_init();
    char url_a[128], url_b[128];
    int running = 0;
    double slowest = 0, start = now_ms();

    assert_true(n <= 16);
    snprintf(url_a, sizeof(url_a), "%s%s", cl.base_a, SIM_LAUNCH_PATH);
    snprintf(url_b, sizeof(url_b), "%s%s", cl.base_b, SIM_LAUNCH_PATH);
    for (int i = 0; i < n; i++) {
        easy[i] = make_request(i % 2 == 0 ? url_a : url_b, captures[i].form,
                               captures[i].cookie, &res[i], &headers[i]);
        curl_multi_add_handle(multi, easy[i]);
    }
    do {
        curl_multi_perform(multi, &running);
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    } while (running > 0);
    for (int i = 0; i < n; i++) {
        double total = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &res[i].status);
        curl_easy_getinfo(easy[i], CURLINFO_TOTAL_TIME, &total);
        res[i].ms = total * 1000;
        if (res[i].status != 503)
            fprintf(stderr, "launch %d while Redis is down: HTTP %ld %s\n", i, res[i].status,
                    res[i].reason);
        if (res[i].ms > slowest)
            slowest = res[i].ms;
    }
    double elapsed = now_ms() - start;
    for (int i = 0; i < n; i++) {
        assert_int_equal(res[i].status, 503);
        assert_string_equal(res[i].reason, "store_unavailable");
        assert_true(res[i].ms < FAIL_BOUND_MS);
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        curl_slist_free_all(headers[i]);
        http_res_clear(&res[i]);
    }
    curl_multi_cleanup(multi);
    assert_true(elapsed < FAIL_BOUND_MS);
    return slowest;
}

static void expect_login_unavailable(const char *base)
{
    capture_t c;
    char reason[64];
    double start = now_ms();
    assert_int_equal(capture_login(base, &c, reason, sizeof(reason)), 503);
    assert_string_equal(reason, "store_unavailable");
    assert_true(now_ms() - start < FAIL_BOUND_MS + 500);
}

static void expect_readyz(const char *base, long status)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/readyz", base);
    assert_int_equal(http_get_status(url), status);
}

static void redis_down_fails_closed_then_recovers(void **state)
{
    enum { N = 8 };
    capture_t captures[2 * N];
    char reason[64];
    int launched_a = log_count(cl.log_a, "outcome=launched");
    int launched_b = log_count(cl.log_b, "outcome=launched");

    for (int i = 0; i < 2 * N; i++)
        assert_int_equal(capture_login(cl.base_lb, &captures[i], reason, sizeof(reason)), 0);

    /* Stopped: connections stay open but Redis sends no replies, so only
     * the command timeout detects it. */
    assert_int_equal(kill(cl.redis_pid, SIGSTOP), 0);
    double slowest_stopped = expect_all_unavailable(captures, N);
    expect_login_unavailable(cl.base_lb);
    expect_readyz(cl.base_a, 503);
    expect_readyz(cl.base_b, 503);

    /* Killed: connections are refused. */
    kill(cl.redis_pid, SIGKILL);
    waitpid(cl.redis_pid, NULL, 0);
    cl.redis_pid = 0;
    double slowest_killed = expect_all_unavailable(captures + N, N);
    expect_login_unavailable(cl.base_lb);
    printf("launches while Redis is down: slowest 503 %.1f ms (stopped), %.1f ms (killed)\n",
           slowest_stopped, slowest_killed);
    /* Nothing was accepted while the store was down. */
    assert_int_equal(log_count(cl.log_a, "outcome=launched"), launched_a);
    assert_int_equal(log_count(cl.log_b, "outcome=launched"), launched_b);
    assert_true(log_count(cl.log_a, "reason=store_unavailable") > 0);
    for (int i = 0; i < 2 * N; i++)
        capture_clear(&captures[i]);

    /* Restarted, empty: both instances reconnect by themselves. */
    assert_int_equal(start_redis(), 0);
    double start = now_ms();
    int ok_a = 0, ok_b = 0;
    while ((!ok_a || !ok_b) && now_ms() - start < RECOVERY_BOUND_S * 1000) {
        capture_t c;
        http_res_t res;
        const char *base = ok_a ? cl.base_b : cl.base_a;
        if (capture_login(base, &c, reason, sizeof(reason)) == 0 &&
            post_launch(base, &c, &res) == 303) {
            ok_a |= base == cl.base_a;
            ok_b |= base == cl.base_b;
        }
        if (c.form != NULL)
            http_res_clear(&res);
        capture_clear(&c);
        if (!ok_a || !ok_b)
            sleep_ms(100);
    }
    printf("launches succeed again on both instances %.1f s after Redis restarted\n",
           (now_ms() - start) / 1000);
    assert_true(ok_a);
    assert_true(ok_b);
    expect_readyz(cl.base_a, 200);
    expect_readyz(cl.base_b, 200);
    assert_true(log_count(cl.log_a, "redis reachable again") > 0);
}

int main(void)
{
    if (find_program("redis-server", cl.redis_bin, sizeof(cl.redis_bin)) != 0 ||
        find_program("haproxy", cl.haproxy_bin, sizeof(cl.haproxy_bin)) != 0) {
        printf("skipped: redis-server or haproxy is not installed; scripts/install-deps.sh "
               "installs both\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readyz_reports_redis_store),
        cmocka_unit_test(login_on_a_launch_on_b),
        cmocka_unit_test(replayed_launch_rejected_on_both),
        cmocka_unit_test(browser_launches_through_balancer),
        cmocka_unit_test(load_through_balancer_without_errors),
        cmocka_unit_test(concurrent_identical_launches_one_wins),
        cmocka_unit_test(redis_down_fails_closed_then_recovers),
    };
    int rc = cmocka_run_group_tests(tests, start_cluster, stop_cluster);
    curl_global_cleanup();
    return rc;
}
