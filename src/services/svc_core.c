/* SPDX-License-Identifier: MIT */
/*
 * Services set-up and the pieces that do no I/O (lti/services.h): calls,
 * the client assertion, scope sets, URL rules, AGS score documents, NRPS
 * pages, Link headers and the session CSRF token.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "lti/jwt.h"
#include "lti/launch.h"
#include "lti/log.h"
#include "lti/tool.h"
#include "svc_int.h"

#define SECRET_FILE_MAX 4096
#define CATALOG_FILE_MAX (1024 * 1024)

/* ---- calls ---------------------------------------------------------------- */

static int dup_opt(char **dst, const char *src)
{
    *dst = src != NULL ? strdup(src) : NULL;
    return src != NULL && *dst == NULL ? -1 : 0;
}

lti_svc_call_t *lti_svc_call_new(size_t platform, const char *method, const char *url,
                                 const char *scopes, const char *what)
{
    lti_svc_call_t *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return NULL;
    call->platform = platform;
    call->what = what != NULL ? what : "call";
    if (dup_opt(&call->method, method) != 0 || dup_opt(&call->url, url) != 0 ||
        dup_opt(&call->scopes, scopes) != 0 || call->method == NULL || call->url == NULL) {
        lti_svc_call_free(call);
        return NULL;
    }
    return call;
}

int lti_svc_call_set_body(lti_svc_call_t *call, const char *content_type, const char *body,
                          size_t len)
{
    free(call->content_type);
    free(call->body);
    call->content_type = strdup(content_type);
    call->body = malloc(len + 1);
    if (call->content_type == NULL || call->body == NULL)
        return -1;
    memcpy(call->body, body, len);
    call->body[len] = '\0';
    call->body_len = len;
    return 0;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void lti_svc_call_free(lti_svc_call_t *call)
{
    if (call == NULL)
        return;
    free(call->scopes);
    free_secret(call->bearer);
    free(call->method);
    free(call->url);
    free(call->accept);
    free(call->content_type);
    if (call->body != NULL)
        OPENSSL_cleanse(call->body, call->body_len); /* may hold a refresh token or secret */
    free(call->body);
    if (call->response != NULL)
        OPENSSL_cleanse(call->response, call->response_len);
    free(call->response);
    free(call->next_url);
    free_secret(call->token);
    free(call);
}

/* ---- set-up --------------------------------------------------------------- */

/* Reads a small secret file; trailing newlines are dropped. Returns a
 * malloc'd string or NULL with a message. */
static char *read_secret(const char *key, const char *path, size_t *len, char *errbuf,
                         size_t errlen)
{
    char buf[SECRET_FILE_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    ssize_t n = -1;

    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, buf, sizeof(buf));
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        snprintf(errbuf, errlen, "%s: cannot read '%s': %s", key, path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        return NULL;
    }
    if ((size_t)n > SECRET_FILE_MAX) {
        OPENSSL_cleanse(buf, sizeof(buf));
        snprintf(errbuf, errlen, "%s: '%s' has more than %d bytes", key, path, SECRET_FILE_MAX);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < 16 || memchr(buf, '\0', (size_t)n) != NULL) {
        OPENSSL_cleanse(buf, sizeof(buf));
        snprintf(errbuf, errlen, "%s: '%s' must hold a secret of at least 16 bytes and no NUL",
                 key, path);
        return NULL;
    }
    char *out = malloc((size_t)n + 1);
    if (out != NULL) {
        memcpy(out, buf, (size_t)n);
        out[n] = '\0';
        *len = (size_t)n;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}

static json_t *load_quizzes(const char *path, char *errbuf, size_t errlen)
{
    FILE *fp = path != NULL ? fopen(path, "r") : NULL;
    char *buf = NULL, why[128];
    json_t *catalog = NULL, *quizzes = NULL;

    if (path == NULL)
        return json_object();
    if (fp == NULL) {
        snprintf(errbuf, errlen, "hosted.mediaCatalogFile: cannot open '%s'", path);
        return NULL;
    }
    buf = malloc(CATALOG_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, CATALOG_FILE_MAX + 1, fp) : 0;
    fclose(fp);
    if (buf == NULL || n > CATALOG_FILE_MAX) {
        snprintf(errbuf, errlen, "hosted.mediaCatalogFile: '%s' is larger than %d bytes", path,
                 CATALOG_FILE_MAX);
        goto out;
    }
    catalog = lti_json_parse_strict(buf, n, 10, why, sizeof(why));
    if (catalog == NULL) {
        snprintf(errbuf, errlen, "hosted.mediaCatalogFile: '%s': %s", path, why);
        goto out;
    }
    quizzes = lti_quiz_load(catalog, errbuf, errlen);
out:
    json_decref(catalog);
    free(buf);
    return quizzes;
}

lti_services_t *lti_services_new(const lti_config_t *cfg, char *errbuf, size_t errlen)
{
    lti_services_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    svc->cfg = cfg;
    pthread_mutex_init(&svc->lock, NULL);
    if ((svc->quizzes = load_quizzes(cfg->media_catalog_file, errbuf, errlen)) == NULL)
        goto fail;
    if (cfg->score_api_secret_file != NULL) {
        svc->score_secret = (unsigned char *)read_secret(
            "hosted.scoreApiSecretFile", cfg->score_api_secret_file, &svc->score_secret_len,
            errbuf, errlen);
        if (svc->score_secret == NULL)
            goto fail;
    }
    if (cfg->canvas_use_scoped_key) {
        size_t len;
        if (cfg->canvas_custom_app_id == NULL || cfg->canvas_custom_app_key_file == NULL ||
            cfg->canvas_api_url == NULL) {
            snprintf(errbuf, errlen, "canvas.useScopedKey is true but canvas.customAppId, "
                     "canvas.customAppKeyFile or canvas.apiUrl is missing; set all three");
            goto fail;
        }
        svc->canvas_app_key = read_secret("canvas.customAppKeyFile",
                                          cfg->canvas_custom_app_key_file, &len, errbuf, errlen);
        if (svc->canvas_app_key == NULL)
            goto fail;
    }
    if (lti_svc_worker_start(svc) != 0) {
        snprintf(errbuf, errlen, "cannot start the services thread");
        goto fail;
    }
    return svc;
fail:
    lti_services_free(svc);
    return NULL;
}

void lti_services_free(lti_services_t *svc)
{
    if (svc == NULL)
        return;
    lti_svc_worker_stop(svc);
    json_decref(svc->quizzes);
    free_secret(svc->canvas_app_key);
    if (svc->score_secret != NULL) {
        OPENSSL_cleanse(svc->score_secret, svc->score_secret_len);
        free(svc->score_secret);
    }
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

json_t *lti_services_quizzes(lti_services_t *svc)
{
    return svc->quizzes;
}

const char *lti_services_canvas_app_key(lti_services_t *svc)
{
    return svc->canvas_app_key;
}

int lti_services_score_auth_ok(lti_services_t *svc, const char *header, size_t len)
{
    static const char prefix[] = "Bearer ";
    if (svc->score_secret == NULL || header == NULL || len < sizeof(prefix) - 1 ||
        strncasecmp(header, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    const unsigned char *got = (const unsigned char *)header + sizeof(prefix) - 1;
    size_t got_len = len - (sizeof(prefix) - 1);
    /* Compare digests so the time taken does not depend on the length either. */
    unsigned char a[32], b[32];
    EVP_Digest(got, got_len, a, NULL, EVP_sha256(), NULL);
    EVP_Digest(svc->score_secret, svc->score_secret_len, b, NULL, EVP_sha256(), NULL);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* ---- client assertion ---------------------------------------------------- */

static char *b64_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    char *out = text != NULL ? malloc((strlen(text) + 2) / 3 * 4 + 1) : NULL;
    if (out != NULL)
        lti_b64url_encode((const unsigned char *)text, strlen(text), out);
    free(text);
    return out;
}

char *lti_svc_client_assertion(const lti_config_t *cfg, const lti_platform_cfg_t *platform,
                               int64_t now, char *jti)
{
    char kid[LTI_JWK_KID_LEN], id[33];
    unsigned char rnd[16];
    char *h = NULL, *p = NULL, *input = NULL, *sig = NULL, *out = NULL;

    if (cfg->private_key == NULL || platform->token_url == NULL ||
        lti_jwk_thumbprint(cfg->private_key, kid) != 0 || RAND_bytes(rnd, sizeof(rnd)) != 1)
        return NULL;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "iss", platform->client_id, "sub",
                               platform->client_id, "aud", platform->token_url, "iat",
                               (json_int_t)now, "exp",
                               (json_int_t)(now + LTI_SVC_ASSERTION_LIFETIME), "jti", id);
    h = header != NULL ? b64_json(header) : NULL;
    p = claims != NULL ? b64_json(claims) : NULL;
    if (h == NULL || p == NULL || asprintf(&input, "%s.%s", h, p) < 0) {
        input = NULL;
        goto out;
    }
    sig = lti_rs256_sign_b64(cfg->private_key, (const unsigned char *)input, strlen(input));
    if (sig == NULL || asprintf(&out, "%s.%s", input, sig) < 0)
        out = NULL;
    if (out != NULL && jti != NULL)
        memcpy(jti, id, sizeof(id));
out:
    json_decref(header);
    json_decref(claims);
    free(h);
    free(p);
    free(input);
    free(sig);
    return out;
}

/* ---- scopes and URLs ------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lti_svc_scope_key(const char *scopes, char *out, size_t outlen)
{
    char copy[1024], *items[16], *save = NULL;
    size_t n = 0, len = 0;

    if (scopes == NULL || strlen(scopes) >= sizeof(copy))
        return -1;
    strcpy(copy, scopes);
    for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        if (n == sizeof(items) / sizeof(items[0]))
            return -1;
        items[n++] = t;
    }
    if (n == 0)
        return -1;
    qsort(items, n, sizeof(items[0]), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(items[i], items[i - 1]) == 0)
            continue;
        int w = snprintf(out + len, outlen - len, "%s%s", len > 0 ? " " : "", items[i]);
        if (w < 0 || (size_t)w >= outlen - len)
            return -1;
        len += (size_t)w;
    }
    return 0;
}

static int host_is_loopback(const char *host, size_t len)
{
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (len == 5 && memcmp(host, "[::1]", 5) == 0) ||
           (len >= 9 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == len);
}

int lti_svc_url_allowed(const lti_platform_cfg_t *platform, const char *url)
{
    const char *rest;
    size_t len = url != NULL ? strlen(url) : 0;

    if (len == 0 || len > LTI_SVC_MAX_URL)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f || url[i] == '#' ||
            url[i] == '\\')
            return 0;
    int http = strncmp(url, "http://", 7) == 0;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (http)
        rest = url + 7;
    else
        return 0;
    size_t auth = strcspn(rest, "/?");
    if (auth == 0 || memchr(rest, '@', auth) != NULL)
        return 0;
    if (!http)
        return 1;
    /* The host without the port. */
    size_t host_len = auth;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', auth);
        if (close == NULL)
            return 0;
        host_len = (size_t)(close - rest) + 1;
    } else {
        const char *colon = memchr(rest, ':', auth);
        if (colon != NULL)
            host_len = (size_t)(colon - rest);
    }
    return platform->allow_http_loopback && host_is_loopback(rest, host_len);
}

/* ---- AGS ------------------------------------------------------------------ */

char *lti_ags_child_url(const char *lineitem, const char *suffix)
{
    size_t path_len = strcspn(lineitem, "?");
    char *out = NULL;
    /* A trailing slash on the line item would give "//scores". */
    size_t base = path_len;
    while (base > 0 && lineitem[base - 1] == '/')
        base--;
    if (asprintf(&out, "%.*s%s%s", (int)base, lineitem, suffix, lineitem + path_len) < 0)
        return NULL;
    return out;
}

static const char *const activities[] = {"Initialized", "Started", "InProgress", "Submitted",
                                         "Completed"};
static const char *const gradings[] = {"FullyGraded", "Pending", "PendingManual", "Failed",
                                       "NotReady"};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

int lti_ags_activity_valid(const char *s)
{
    return in_list(s, activities, 5);
}

int lti_ags_grading_valid(const char *s)
{
    return in_list(s, gradings, 5);
}

json_t *lti_ags_score(const char *user_id, double given, double maximum, const char *activity,
                      const char *grading, const char *comment, int64_t now_ms)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    char stamp[64];
    gmtime_r(&secs, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now_ms % 1000));
    json_t *score = json_pack("{s:s,s:f,s:f,s:s,s:s,s:s}", "userId", user_id, "scoreGiven",
                              given, "scoreMaximum", maximum, "activityProgress", activity,
                              "gradingProgress", grading, "timestamp", stamp);
    if (score != NULL && comment != NULL)
        json_object_set_new(score, "comment", json_string(comment));
    return score;
}

/* ---- NRPS ----------------------------------------------------------------- */

static void copy_string(json_t *to, const char *key, json_t *from, size_t max)
{
    json_t *v = json_object_get(from, key);
    if (json_is_string(v) && json_string_length(v) <= max)
        json_object_set(to, key, v);
}

lti_reason_t lti_nrps_append_page(const lti_config_t *cfg, const char *body, size_t len,
                                  json_t *out, lti_err_t *err)
{
    char why[128];
    json_t *doc = body != NULL ? lti_json_parse_strict(body, len, 8, why, sizeof(why)) : NULL;
    lti_reason_t r = LTI_R_ok;

    if (doc == NULL) {
        r = lti_err_set(err, LTI_R_service_response_invalid, "membership page: %s",
                        body == NULL ? "empty" : why);
        goto out;
    }
    json_t *members = json_object_get(doc, "members");
    if (!json_is_array(members)) {
        r = lti_err_set(err, LTI_R_service_response_invalid, "membership page has no members");
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        json_t *uid = json_object_get(m, "user_id");
        json_t *roles = json_object_get(m, "roles");
        if (!json_is_string(uid) || json_string_length(uid) == 0 ||
            json_string_length(uid) > 255 || !json_is_array(roles)) {
            r = lti_err_set(err, LTI_R_service_response_invalid,
                            "member %zu has no user_id string or roles array", i);
            goto out;
        }
        json_t *item = json_object();
        json_object_set(item, "user_id", uid);
        copy_string(item, "status", m, 32);
        if (json_object_get(item, "status") == NULL)
            json_object_set_new(item, "status", json_string("Active"));
        json_object_set(item, "roles", roles);
        json_object_set_new(item, "app_role", json_string(lti_launch_map_role(cfg, roles)));
        copy_string(item, "name", m, 255);
        copy_string(item, "email", m, 255);
        json_array_append_new(out, item);
    }
out:
    json_decref(doc);
    return r;
}

char *lti_link_next(const char *value, size_t len)
{
    /* Link: <url1>; rel="next", <url2>; rel="last" */
    size_t i = 0;
    while (i < len) {
        const char *lt = memchr(value + i, '<', len - i);
        if (lt == NULL)
            return NULL;
        const char *gt = memchr(lt, '>', (size_t)(value + len - lt));
        if (gt == NULL)
            return NULL;
        const char *end = gt + 1;
        while (end < value + len && *end != ',')
            end++;
        /* Parameters of this link, between '>' and ',' */
        char params[256];
        size_t plen = (size_t)(end - gt - 1);
        if (plen >= sizeof(params))
            plen = sizeof(params) - 1;
        memcpy(params, gt + 1, plen);
        params[plen] = '\0';
        for (char *p = params; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        if (strstr(params, "rel=\"next\"") != NULL || strstr(params, "rel=next") != NULL) {
            size_t ulen = (size_t)(gt - lt - 1);
            if (ulen == 0 || ulen > LTI_SVC_MAX_URL)
                return NULL;
            return strndup(lt + 1, ulen);
        }
        i = (size_t)(end - value) + 1;
    }
    return NULL;
}

/* ---- CSRF ----------------------------------------------------------------- */

void lti_svc_csrf_token(const lti_config_t *cfg, const char *cookie, size_t len, char out[44])
{
    static const char label[] = "svc-csrf:";
    unsigned char mac[32];
    unsigned int mac_len = sizeof(mac);
    unsigned char *msg = malloc(sizeof(label) - 1 + len);
    if (msg == NULL) {
        out[0] = '\0';
        return;
    }
    memcpy(msg, label, sizeof(label) - 1);
    memcpy(msg + sizeof(label) - 1, cookie, len);
    HMAC(EVP_sha256(), cfg->session_secret, (int)cfg->session_secret_len, msg,
         sizeof(label) - 1 + len, mac, &mac_len);
    free(msg);
    lti_b64url_encode(mac, sizeof(mac), out);
}

int lti_svc_csrf_check(const lti_config_t *cfg, const char *cookie, size_t len,
                       const char *token)
{
    char want[44];
    if (token == NULL || strlen(token) != 43)
        return 0;
    lti_svc_csrf_token(cfg, cookie, len, want);
    return want[0] != '\0' && CRYPTO_memcmp(want, token, 43) == 0;
}
