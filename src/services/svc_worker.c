/* SPDX-License-Identifier: MIT */
/*
 * The services worker (lti/services.h): one thread drives a libcurl multi
 * handle for every outbound platform call, keeps the service token cache,
 * and hands finished calls back to their event loops. The token cache and
 * the transfers belong to this thread alone; only the inbox of submitted
 * calls and the counters are shared, under `lock`.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "lti/jwt.h"
#include "lti/log.h"
#include "lti/outbound.h"
#include "lti/services.h"
#include "svc_int.h"

#define MAX_ACCESS_TOKEN 4096
#define CONNECT_TIMEOUT_MAX_MS 3000

typedef struct token_entry {
    size_t platform;
    char *scope_key;
    char *token;          /* NULL when none is cached */
    double valid_until;   /* monotonic seconds */
    int fetching;
    lti_svc_call_t *waiters; /* calls waiting for the fetch, linked by next_waiter */
    struct token_entry *next;
} token_entry_t;

typedef struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    lti_svc_call_t *call;   /* a service call, or NULL for a token request */
    token_entry_t *entry;   /* the token request's entry */
    char *post;             /* token request body */
    char *data;
    size_t len, cap;
    int too_large;
    char *next_url;
    struct xfer *prev, *next; /* svc->xfers: every transfer added to the multi handle */
} xfer_t;

static void xfer_link(lti_services_t *svc, xfer_t *x)
{
    x->next = svc->xfers;
    if (x->next != NULL)
        x->next->prev = x;
    svc->xfers = x;
    curl_multi_add_handle(svc->multi, x->easy);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- transfers ----------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nmemb;
    if (x->len + n > x->cap) {
        x->too_large = 1;
        return 0; /* aborts the transfer: an oversized answer is refused, never cut */
    }
    if (x->data == NULL && (x->data = malloc(x->cap + 1)) == NULL)
        return 0;
    memcpy(x->data + x->len, ptr, n);
    x->len += n;
    x->data[x->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nmemb;
    if (x->next_url == NULL && n > 5 && strncasecmp(ptr, "link:", 5) == 0)
        x->next_url = lti_link_next(ptr + 5, n - 5);
    return n;
}

static xfer_t *xfer_new(lti_services_t *svc, const lti_platform_cfg_t *platform, const char *url,
                        size_t cap)
{
    xfer_t *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->easy = curl_easy_init()) == NULL) {
        free(x);
        return NULL;
    }
    unsigned timeout = svc->cfg->service_timeout_ms;
    CURL *c = x->easy;
    x->cap = cap;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                     platform->allow_http_loopback ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout < CONNECT_TIMEOUT_MAX_MS ? timeout : CONNECT_TIMEOUT_MAX_MS));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, lti_outbound_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, (void *)platform);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ltigate");
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    return x;
}

static void xfer_free(lti_services_t *svc, xfer_t *x)
{
    if (x == NULL)
        return;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else if (svc->xfers == x)
        svc->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    if (x->easy != NULL) {
        curl_multi_remove_handle(svc->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    if (x->post != NULL) {
        OPENSSL_cleanse(x->post, strlen(x->post));
        free(x->post);
    }
    if (x->data != NULL && x->call == NULL)
        OPENSSL_cleanse(x->data, x->len); /* a token answer */
    free(x->data);
    free(x->next_url);
    free(x);
}

/* ---- finishing calls ---------------------------------------------------- */

/* Copies the URL without its query string, which may carry secrets. */
static void url_for_log(const char *url, char *out, size_t outlen)
{
    size_t n = strcspn(url, "?#");
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), url);
}

static void finish(lti_services_t *svc, lti_svc_call_t *call)
{
    const lti_platform_cfg_t *platform = &svc->cfg->platforms[call->platform];
    char url[512], status[16], ms[24];

    call->elapsed_ms = (long)((now_mono() - call->started) * 1000.0);
    url_for_log(call->url, url, sizeof(url));
    snprintf(status, sizeof(status), "%ld", call->status);
    snprintf(ms, sizeof(ms), "%ld", call->elapsed_ms);
    const char *kv[] = {"what", call->what, "iss", platform->issuer, "client_id",
                        platform->client_id, "url", url, "status", status, "ms", ms,
                        "reason", call->reason == LTI_R_ok ? NULL : lti_reason_code(call->reason),
                        NULL};
    lti_log_kv(call->reason == LTI_R_ok ? LTI_LOG_INFO : LTI_LOG_WARN, "services",
               call->reason == LTI_R_ok ? "platform call done" : call->msg, kv);
    if (call->token != NULL) {
        OPENSSL_cleanse(call->token, strlen(call->token));
        free(call->token);
        call->token = NULL;
    }
    h2o_multithread_send_message(call->receiver, &call->super);
}

static void fail(lti_services_t *svc, lti_svc_call_t *call, lti_reason_t reason, const char *what,
                 const char *detail)
{
    call->reason = reason;
    snprintf(call->msg, sizeof(call->msg), "%s%s%s", what, detail != NULL ? ": " : "",
             detail != NULL ? detail : "");
    finish(svc, call);
}

/* ---- token cache -------------------------------------------------------- */

static token_entry_t *entry_for(lti_services_t *svc, size_t platform, const char *scope_key)
{
    for (token_entry_t *e = svc->entries; e != NULL; e = e->next)
        if (e->platform == platform && strcmp(e->scope_key, scope_key) == 0)
            return e;
    token_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->scope_key = strdup(scope_key)) == NULL) {
        free(e);
        return NULL;
    }
    e->platform = platform;
    e->next = svc->entries;
    svc->entries = e;
    return e;
}

static void drop_token(token_entry_t *e)
{
    if (e->token != NULL) {
        OPENSSL_cleanse(e->token, strlen(e->token));
        free(e->token);
        e->token = NULL;
    }
}

static void send_call(lti_services_t *svc, lti_svc_call_t *call, const char *token);

static int start_token_fetch(lti_services_t *svc, token_entry_t *e, char *why, size_t whylen)
{
    const lti_platform_cfg_t *platform = &svc->cfg->platforms[e->platform];
    char *assertion = NULL, *scope = NULL;
    xfer_t *x = NULL;

    if (platform->token_url == NULL || !lti_svc_url_allowed(platform, platform->token_url)) {
        snprintf(why, whylen, "lti13AuthTokenUrl is missing or not an allowed URL");
        return -1;
    }
    assertion = lti_svc_client_assertion(svc->cfg, platform, (int64_t)time(NULL), NULL);
    x = xfer_new(svc, platform, platform->token_url, LTI_SVC_MAX_TOKEN_RESPONSE);
    CURL *c = x != NULL ? x->easy : NULL;
    if (assertion == NULL || c == NULL || (scope = curl_easy_escape(c, e->scope_key, 0)) == NULL ||
        asprintf(&x->post,
                 "grant_type=client_credentials&client_assertion_type=urn%%3Aietf%%3Aparams%%3A"
                 "oauth%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s&scope=%s",
                 assertion, scope) < 0) {
        if (x != NULL)
            x->post = NULL;
        snprintf(why, whylen, "cannot build the client assertion");
        free(assertion);
        curl_free(scope);
        xfer_free(svc, x);
        return -1;
    }
    free(assertion);
    curl_free(scope);
    x->entry = e;
    x->headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->post);
    xfer_link(svc, x);
    e->fetching = 1;
    pthread_mutex_lock(&svc->lock);
    svc->stats.token_requests++;
    pthread_mutex_unlock(&svc->lock);
    return 0;
}

/* Completes or sends every call waiting on `e`. */
static void release_waiters(lti_services_t *svc, token_entry_t *e, lti_reason_t reason,
                            const char *why)
{
    lti_svc_call_t *call = e->waiters;
    e->waiters = NULL;
    while (call != NULL) {
        lti_svc_call_t *next = call->next_waiter;
        call->next_waiter = NULL;
        call->waiting = 0;
        if (reason == LTI_R_ok)
            send_call(svc, call, e->token);
        else
            fail(svc, call, reason, "service token not issued", why);
        call = next;
    }
}

static void token_done(lti_services_t *svc, xfer_t *x, CURLcode cc)
{
    token_entry_t *e = x->entry;
    const lti_platform_cfg_t *platform = &svc->cfg->platforms[e->platform];
    long status = 0;
    char why[200] = "";
    lti_reason_t reason = LTI_R_service_token_failed;
    json_t *doc = NULL;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    e->fetching = 0;
    if (x->too_large) {
        snprintf(why, sizeof(why), "token response larger than %d bytes",
                 LTI_SVC_MAX_TOKEN_RESPONSE);
    } else if (cc != CURLE_OK) {
        reason = LTI_R_service_unavailable;
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
    } else if (status >= 500) {
        reason = LTI_R_service_unavailable;
        snprintf(why, sizeof(why), "token endpoint answered HTTP %ld", status);
    } else if (status != 200) {
        snprintf(why, sizeof(why), "token endpoint answered HTTP %ld", status);
    } else {
        char jwhy[64];
        doc = x->data != NULL ? lti_json_parse_strict(x->data, x->len, 4, jwhy, sizeof(jwhy))
                              : NULL;
        const char *tok = json_string_value(json_object_get(doc, "access_token"));
        const char *type = json_string_value(json_object_get(doc, "token_type"));
        json_t *exp = json_object_get(doc, "expires_in");
        json_int_t expires_in = json_is_integer(exp) ? json_integer_value(exp) : 3600;
        if (doc == NULL || tok == NULL || tok[0] == '\0' || strlen(tok) > MAX_ACCESS_TOKEN ||
            (type != NULL && strcasecmp(type, "bearer") != 0) ||
            (exp != NULL && !json_is_integer(exp)) || expires_in <= 0 ||
            expires_in > 86400 * 7) {
            snprintf(why, sizeof(why), "token response is not a bearer token with expires_in");
        } else {
            drop_token(e);
            e->token = strdup(tok);
            /* Used until LTI_SVC_TOKEN_MARGIN seconds before it expires; a
             * shorter-lived token serves only the calls already waiting. */
            e->valid_until = now_mono() + (double)expires_in - LTI_SVC_TOKEN_MARGIN;
            reason = e->token != NULL ? LTI_R_ok : LTI_R_internal_error;
        }
    }
    json_decref(doc);

    char code[16], url[512], ms[24];
    double total = 0;
    snprintf(code, sizeof(code), "%ld", status);
    url_for_log(platform->token_url, url, sizeof(url));
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &total);
    snprintf(ms, sizeof(ms), "%ld", (long)(total * 1000.0));
    const char *kv[] = {"iss", platform->issuer, "client_id", platform->client_id, "scope",
                        e->scope_key, "url", url, "status", code, "ms", ms,
                        "reason", reason == LTI_R_ok ? NULL : lti_reason_code(reason), NULL};
    lti_log_kv(reason == LTI_R_ok ? LTI_LOG_INFO : LTI_LOG_WARN, "services",
               reason == LTI_R_ok ? "service token issued" : why, kv);
    if (reason != LTI_R_ok) {
        pthread_mutex_lock(&svc->lock);
        svc->stats.token_failures++;
        pthread_mutex_unlock(&svc->lock);
    }
    release_waiters(svc, e, reason, why);
}

/* ---- service calls ------------------------------------------------------ */

static void send_call(lti_services_t *svc, lti_svc_call_t *call, const char *token)
{
    const lti_platform_cfg_t *platform = &svc->cfg->platforms[call->platform];
    xfer_t *x = xfer_new(svc, platform, call->url, LTI_SVC_MAX_RESPONSE);
    char *line = NULL;

    if (x == NULL) {
        fail(svc, call, LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    x->call = call;
    if (token != NULL) {
        free(call->token);
        call->token = strdup(token);
        if (asprintf(&line, "Authorization: Bearer %s", token) < 0)
            line = NULL;
        x->headers = curl_slist_append(x->headers, line != NULL ? line : "X-No-Auth: 1");
        if (line != NULL) {
            OPENSSL_cleanse(line, strlen(line));
            free(line);
            line = NULL;
        }
    }
    if (asprintf(&line, "Accept: %s", call->accept != NULL ? call->accept : "application/json") >= 0) {
        x->headers = curl_slist_append(x->headers, line);
        free(line);
        line = NULL;
    }
    if (call->body != NULL &&
        asprintf(&line, "Content-Type: %s",
                 call->content_type != NULL ? call->content_type : "application/json") >= 0) {
        x->headers = curl_slist_append(x->headers, line);
        free(line);
    }
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    if (strcmp(call->method, "POST") == 0) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, call->body != NULL ? call->body : "");
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(call->body != NULL ? call->body_len : 0));
    } else if (strcmp(call->method, "GET") != 0) {
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, call->method);
    }
    call->sends++;
    pthread_mutex_lock(&svc->lock);
    svc->stats.calls++;
    pthread_mutex_unlock(&svc->lock);
    xfer_link(svc, x);
}

static void start_call(lti_services_t *svc, lti_svc_call_t *call)
{
    const lti_platform_cfg_t *platform = &svc->cfg->platforms[call->platform];
    char key[1024], why[200];

    if (!lti_svc_url_allowed(platform, call->url)) {
        fail(svc, call, LTI_R_service_url_invalid,
             "service URL is not https (or loopback http when allowed)", NULL);
        return;
    }
    if (call->scopes == NULL) {
        send_call(svc, call, call->bearer);
        return;
    }
    if (lti_svc_scope_key(call->scopes, key, sizeof(key)) != 0) {
        fail(svc, call, LTI_R_internal_error, "bad scope list", NULL);
        return;
    }
    token_entry_t *e = entry_for(svc, call->platform, key);
    if (e == NULL) {
        fail(svc, call, LTI_R_internal_error, "out of memory", NULL);
        return;
    }
    if (e->token != NULL && now_mono() < e->valid_until && !e->fetching) {
        pthread_mutex_lock(&svc->lock);
        svc->stats.token_cache_hits++;
        pthread_mutex_unlock(&svc->lock);
        send_call(svc, call, e->token);
        return;
    }
    call->waiting = 1;
    call->next_waiter = e->waiters;
    e->waiters = call;
    if (!e->fetching && start_token_fetch(svc, e, why, sizeof(why)) != 0)
        release_waiters(svc, e, LTI_R_service_token_failed, why);
}

static void call_done(lti_services_t *svc, xfer_t *x, CURLcode cc)
{
    lti_svc_call_t *call = x->call;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    call->status = status;
    free(call->response);
    free(call->next_url);
    call->response = NULL;
    call->next_url = NULL;
    call->response_len = 0;

    if (x->too_large) {
        fail(svc, call, LTI_R_service_response_invalid, "response larger than the cap", NULL);
        return;
    }
    if (cc != CURLE_OK) {
        fail(svc, call, LTI_R_service_unavailable, "call failed", curl_easy_strerror(cc));
        return;
    }
    if (status == 401 && call->scopes != NULL && !call->retried) {
        /* The token may have been revoked or expired early: drop it, if it
         * is still the cached one, and send once more with a new one. */
        char key[1024];
        call->retried = 1;
        pthread_mutex_lock(&svc->lock);
        svc->stats.retries_401++;
        pthread_mutex_unlock(&svc->lock);
        if (lti_svc_scope_key(call->scopes, key, sizeof(key)) == 0) {
            token_entry_t *e = entry_for(svc, call->platform, key);
            if (e != NULL && e->token != NULL && call->token != NULL &&
                strcmp(e->token, call->token) == 0)
                drop_token(e);
        }
        lti_log(LTI_LOG_INFO, "services", "call answered 401; retrying once with a new token");
        start_call(svc, call);
        return;
    }
    call->response = x->data;
    call->response_len = x->len;
    x->data = NULL;
    call->next_url = x->next_url;
    x->next_url = NULL;
    if (status >= 200 && status < 300) {
        call->reason = LTI_R_ok;
        finish(svc, call);
    } else if (status == 401 || status == 403) {
        fail(svc, call, LTI_R_service_forbidden, "platform refused the call", NULL);
    } else if (status >= 500) {
        fail(svc, call, LTI_R_service_unavailable, "platform failed the call", NULL);
    } else {
        fail(svc, call, LTI_R_service_rejected, "platform rejected the call", NULL);
    }
}

/* ---- thread ------------------------------------------------------------- */

static void *worker(void *arg)
{
    lti_services_t *svc = arg;

    for (;;) {
        pthread_mutex_lock(&svc->lock);
        int stopping = svc->stopping;
        lti_svc_call_t *inbox = svc->inbox;
        svc->inbox = NULL;
        pthread_mutex_unlock(&svc->lock);
        if (stopping)
            break;
        /* The inbox is a stack; reverse it so calls start in order. */
        lti_svc_call_t *ordered = NULL;
        while (inbox != NULL) {
            lti_svc_call_t *next = inbox->next_waiter;
            inbox->next_waiter = ordered;
            ordered = inbox;
            inbox = next;
        }
        while (ordered != NULL) {
            lti_svc_call_t *next = ordered->next_waiter;
            ordered->next_waiter = NULL;
            start_call(svc, ordered);
            ordered = next;
        }

        int running = 0;
        curl_multi_perform(svc->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(svc->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer_t *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            if (x->call != NULL)
                call_done(svc, x, cc);
            else
                token_done(svc, x, cc);
            xfer_free(svc, x);
        }
        curl_multi_poll(svc->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

void lti_svc_submit(lti_services_t *svc, lti_svc_call_t *call)
{
    call->started = now_mono();
    call->reason = LTI_R_ok;
    pthread_mutex_lock(&svc->lock);
    call->next_waiter = svc->inbox;
    svc->inbox = call;
    pthread_mutex_unlock(&svc->lock);
    curl_multi_wakeup(svc->multi);
}

int lti_svc_worker_start(lti_services_t *svc)
{
    svc->multi = curl_multi_init();
    if (svc->multi == NULL)
        return -1;
    curl_multi_setopt(svc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 64L);
    if (pthread_create(&svc->thread, NULL, worker, svc) != 0) {
        curl_multi_cleanup(svc->multi);
        svc->multi = NULL;
        return -1;
    }
    svc->started = 1;
    return 0;
}

void lti_svc_worker_stop(lti_services_t *svc)
{
    if (!svc->started)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = 1;
    pthread_mutex_unlock(&svc->lock);
    curl_multi_wakeup(svc->multi);
    pthread_join(svc->thread, NULL);
    /* Transfers still running are dropped with their calls. */
    while (svc->xfers != NULL) {
        xfer_t *x = svc->xfers;
        if (x->call != NULL)
            lti_svc_call_free(x->call);
        xfer_free(svc, x);
    }
    while (svc->entries != NULL) {
        token_entry_t *e = svc->entries;
        svc->entries = e->next;
        while (e->waiters != NULL) {
            lti_svc_call_t *next = e->waiters->next_waiter;
            lti_svc_call_free(e->waiters);
            e->waiters = next;
        }
        drop_token(e);
        free(e->scope_key);
        free(e);
    }
    while (svc->inbox != NULL) {
        lti_svc_call_t *next = svc->inbox->next_waiter;
        lti_svc_call_free(svc->inbox);
        svc->inbox = next;
    }
    curl_multi_cleanup(svc->multi);
    svc->started = 0;
}

void lti_services_stats(lti_services_t *svc, lti_svc_stats_t *out)
{
    pthread_mutex_lock(&svc->lock);
    *out = svc->stats;
    pthread_mutex_unlock(&svc->lock);
}

void lti_services_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        lti_svc_call_t *call = (lti_svc_call_t *)msg;
        call->on_done(call);
    }
}
