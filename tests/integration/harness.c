/* SPDX-License-Identifier: MIT */
/* Integration test harness (harness.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "harness.h"

/* Finds a free loopback port by binding port 0. Another process could take
 * it before ltigate binds it; start-up then fails and the test reports it. */
static uint16_t free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(sin.sin_port);
}

static int write_key(const char *path)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    FILE *fp = fopen(path, "w");
    int ok = key != NULL && fp != NULL &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fp != NULL)
        fclose(fp);
    EVP_PKEY_free(key);
    chmod(path, 0600);
    return ok ? 0 : -1;
}

/* Returns `text` with each "$PLATFORM" replaced by the platform's base URL
 * (malloc'd), for settings that name the simulated Canvas. */
static char *with_platform_url(const char *text, const char *base)
{
    size_t n = 0, blen = strlen(base);
    for (const char *p = text; (p = strstr(p, "$PLATFORM")) != NULL; p += 9)
        n++;
    char *out = malloc(strlen(text) + n * blen + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = text; *p != '\0';) {
        if (strncmp(p, "$PLATFORM", 9) == 0) {
            memcpy(o, base, blen);
            o += blen;
            p += 9;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static int write_config(harness_t *h, const harness_opts_t *opts)
{
    const char *base = sim_platform_base_url(h->platform);
    char *extra = with_platform_url(opts && opts->extra_yaml ? opts->extra_yaml : "", base);
    FILE *fp = extra != NULL ? fopen(h->config_path, "w") : NULL;
    if (fp == NULL) {
        free(extra);
        return -1;
    }
    fprintf(fp,
            "server:\n"
            "  listen: [\"127.0.0.1:%u\"]\n"
            "  baseUrl: %s\n"
            "  threads: 2\n"
            "  logFile: %s\n"
            "  logLevel: debug\n"
            "%s"
            "hosted:\n"
            "  authMethod: lti1.3\n"
            "  lti13ServicePrivateKey: tool-key.pem\n"
            "  ltiUserIdAttribute: custom_canvas_user_login_id\n"
            "  userIdFallback: sub\n"
            "%s"
            "platforms:\n"
            "  - name: Simulated Canvas\n"
            "    issuer: %s\n"
            "    lti13ClientID: \"%s\"\n"
            "    lti13PlatformOidcAuthUrl: %s/api/lti/authorize_redirect\n"
            "    lti13AuthTokenUrl: %s/login/oauth2/token\n"
            "    lti13KeysUrl: %s%s\n"
            "    selfHosted: true\n"
            "    allowHttpLoopback: true\n"
            "    deploymentIds: [\"%s\"]\n"
            "%s"
            "%s",
            h->tool_port, h->tool_base, h->log_path,
            opts && opts->extra_server_yaml ? opts->extra_server_yaml : "",
            opts && opts->extra_hosted_yaml ? opts->extra_hosted_yaml : "",
            sim_platform_issuer(h->platform),
            opts && opts->client_id ? opts->client_id : SIM_DEFAULT_CLIENT_ID, base, base,
            opts && opts->keys_url ? "" : base,
            opts && opts->keys_url ? opts->keys_url : "/api/lti/security/jwks",
            opts && opts->deployment_id ? opts->deployment_id : SIM_DEFAULT_DEPLOYMENT_ID,
            opts && opts->extra_platform_yaml ? opts->extra_platform_yaml : "", extra);
    free(extra);
    return fclose(fp);
}

static int wait_healthy(harness_t *h)
{
    char reason[64];
    for (int i = 0; i < 100; i++) {
        if (harness_http(h, "GET", "/healthz", NULL, NULL, 0, NULL, reason, sizeof(reason)) == 200)
            return 0;
        int status;
        if (waitpid(h->tool_pid, &status, WNOHANG) == h->tool_pid) {
            h->tool_pid = 0;
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int harness_start(harness_t *h, const harness_opts_t *opts)
{
    char errbuf[256], login[128], launch[128], key_path[320];
    const char *bin = getenv("LTIGATE_BIN");

    memset(h, 0, sizeof(*h));
    if (bin == NULL) {
        fprintf(stderr, "harness: LTIGATE_BIN is not set (run through ctest)\n");
        return -1;
    }
    snprintf(h->dir, sizeof(h->dir), "/tmp/ltigate-test-XXXXXX");
    if (mkdtemp(h->dir) == NULL)
        return -1;
    snprintf(h->config_path, sizeof(h->config_path), "%s/ltigate.yaml", h->dir);
    snprintf(h->log_path, sizeof(h->log_path), "%s/ltigate.log", h->dir);
    snprintf(key_path, sizeof(key_path), "%s/tool-key.pem", h->dir);
    h->tool_port = free_port();
    snprintf(h->tool_base, sizeof(h->tool_base), "http://127.0.0.1:%u", h->tool_port);
    snprintf(login, sizeof(login), "%s%s", h->tool_base, SIM_LOGIN_PATH);
    snprintf(launch, sizeof(launch), "%s%s", h->tool_base, SIM_LAUNCH_PATH);

    sim_platform_opts_t po = {.tool_login_url = login, .tool_launch_url = launch};
    if (opts != NULL) {
        po.issuer = opts->issuer;
        po.client_id = opts->client_id;
        po.deployment_id = opts->deployment_id;
    }
    h->platform = sim_platform_start(&po, errbuf, sizeof(errbuf));
    if (h->platform == NULL) {
        fprintf(stderr, "harness: platform did not start: %s\n", errbuf);
        return -1;
    }
    if (write_key(key_path) != 0 || write_config(h, opts) != 0) {
        fprintf(stderr, "harness: cannot write the key or config in %s\n", h->dir);
        return -1;
    }
    h->tool_pid = fork();
    if (h->tool_pid == 0) {
        /* A failed assertion skips harness_stop; the service must still not
         * outlive the test, or it keeps CTest's output pipe open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(bin, "ltigate", "--config", h->config_path, (char *)NULL);
        _exit(127);
    }
    if (h->tool_pid < 0 || wait_healthy(h) != 0) {
        fprintf(stderr, "harness: ltigate did not become healthy; log %s, config %s\n",
                h->log_path, h->config_path);
        return -1;
    }
    return 0;
}

void harness_stop(harness_t *h)
{
    if (h->tool_pid > 0) {
        kill(h->tool_pid, SIGTERM);
        int status;
        for (int i = 0; i < 100; i++) {
            if (waitpid(h->tool_pid, &status, WNOHANG) == h->tool_pid) {
                h->tool_pid = 0;
                break;
            }
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (h->tool_pid > 0) {
            kill(h->tool_pid, SIGKILL);
            waitpid(h->tool_pid, &status, 0);
        }
    }
    if (h->platform != NULL)
        sim_platform_stop(h->platform);
    if (getenv("LTIGATE_KEEP_TEST_DIR") == NULL && h->dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: cannot remove %s\n", h->dir);
    }
}

void harness_launch_opts(const harness_t *h, sim_launch_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->platform = sim_platform_base_url(h->platform);
    o->timeout_ms = 10000;
}

int harness_log_contains(const harness_t *h, const char *needle)
{
    FILE *fp = fopen(h->log_path, "r");
    char line[4096];
    int found = 0;
    if (fp == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), fp) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(fp);
    return found;
}

typedef struct header_capture {
    char *reason;
    size_t len;
    char location[2048];
} header_capture_t;

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    header_capture_t *cap = arg;
    size_t n = size * nmemb;
    static const char name[] = "x-lti-reason:";
    static const char location[] = "location: ";
    if (n > sizeof(location) && n < sizeof(cap->location) &&
        strncasecmp(ptr, location, sizeof(location) - 1) == 0) {
        memcpy(cap->location, ptr + sizeof(location) - 1, n - (sizeof(location) - 1));
        cap->location[n - (sizeof(location) - 1)] = '\0';
        cap->location[strcspn(cap->location, "\r\n")] = '\0';
    }
    if (n > sizeof(name) && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        const char *v = ptr + sizeof(name) - 1;
        while (*v == ' ')
            v++;
        size_t vl = (size_t)(ptr + n - v);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= cap->len)
            vl = cap->len - 1;
        memcpy(cap->reason, v, vl);
        cap->reason[vl] = '\0';
    }
    return n;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    return size * nmemb;
}

long harness_http(const harness_t *h, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len,
                  const char *cookie, char *reason, size_t reason_len)
{
    return harness_http_location(h, method, path, content_type, body, body_len, cookie, reason,
                                 reason_len, NULL, 0);
}

long harness_http_location(const harness_t *h, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_len,
                           const char *cookie, char *reason, size_t reason_len, char *location,
                           size_t location_len)
{
    char url[512];
    long status = -1;
    struct curl_slist *headers = NULL;
    header_capture_t cap = {.reason = reason, .len = reason_len};
    CURL *curl = curl_easy_init();

    reason[0] = '\0';
    snprintf(url, sizeof(url), "%s%s", h->tool_base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &cap);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (content_type != NULL) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, line);
    }
    if (cookie != NULL)
        curl_easy_setopt(curl, CURLOPT_COOKIE, cookie);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (location != NULL)
        snprintf(location, location_len, "%s", cap.location);
    return status;
}
