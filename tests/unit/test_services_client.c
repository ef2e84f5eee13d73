/* SPDX-License-Identifier: MIT */
/*
 * The service client pieces: the RFC 7523 client assertion (checked with
 * OpenSSL against the tool's public key), scope sets, URL rules, AGS and
 * NRPS documents, Link headers, quiz grading and the CSRF token; then the
 * worker and its token cache against the simulated Canvas's token endpoint
 * in this process on 127.0.0.1 (one request in flight per key, expiry, one
 * retry after a 401, exact aud).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <h2o.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "lti/config.h"
#include "lti/jwt.h"
#include "lti/services.h"
#include "lti/tool.h"
#include "../../src/sim/sim_services.h"

#define TOKEN_URL_FMT "%s/login/oauth2/token"

typedef struct fixture {
    EVP_PKEY *key;
    lti_config_t cfg;
    lti_platform_cfg_t reg[2];
    char token_url[2][160];
    lti_role_map_entry_t map[2];
    char *order[2];
    sim_platform_t *platform;
    lti_services_t *svc;
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    /* the tool's key set, served on its own loopback port */
    int jwks_fd;
    char jwks_url[80];
    char *jwks_doc;
    pthread_t jwks_thread;
    volatile int stop;
} fixture_t;

static fixture_t F;

/* ---- a one-document HTTP server for the tool key set ---------------------- */

static void *serve_jwks(void *arg)
{
    fixture_t *f = arg;
    char buf[4096], head[160];
    while (!f->stop) {
        int c = accept(f->jwks_fd, NULL, NULL);
        if (c < 0)
            continue;
        if (read(c, buf, sizeof(buf)) > 0) {
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             strlen(f->jwks_doc));
            if (write(c, head, (size_t)n) < 0 || write(c, f->jwks_doc, strlen(f->jwks_doc)) < 0)
                fprintf(stderr, "jwks server: write failed\n");
        }
        close(c);
    }
    return NULL;
}

static int start_jwks_server(fixture_t *f)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    json_t *jwk = lti_jwk_public(f->key);
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    f->jwks_doc = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    f->jwks_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 200 * 1000};
    setsockopt(f->jwks_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(f->jwks_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(f->jwks_fd, (struct sockaddr *)&sin, &len) != 0 || listen(f->jwks_fd, 16) != 0)
        return -1;
    snprintf(f->jwks_url, sizeof(f->jwks_url), "http://127.0.0.1:%u/jwks", ntohs(sin.sin_port));
    return pthread_create(&f->jwks_thread, NULL, serve_jwks, f);
}

static int setup(void **state)
{
    fixture_t *f = &F;
    char errbuf[256];
    memset(f, 0, sizeof(*f));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    f->key = EVP_RSA_gen(2048);
    if (f->key == NULL || start_jwks_server(f) != 0)
        return -1;
    sim_platform_opts_t po = {.tool_jwks_url = f->jwks_url};
    f->platform = sim_platform_start(&po, errbuf, sizeof(errbuf));
    if (f->platform == NULL)
        return -1;
    const char *base = sim_platform_base_url(f->platform);
    snprintf(f->token_url[0], sizeof(f->token_url[0]), TOKEN_URL_FMT, base);
    /* The same endpoint under another host name: Canvas compares aud with
     * the exact token URL, so this registration's assertions are refused. */
    snprintf(f->token_url[1], sizeof(f->token_url[1]), "http://localhost:%u/login/oauth2/token",
             (unsigned)sim_platform_port(f->platform));
    for (int i = 0; i < 2; i++) {
        f->reg[i].issuer = (char *)SIM_DEFAULT_ISSUER;
        f->reg[i].client_id = (char *)SIM_DEFAULT_CLIENT_ID;
        f->reg[i].token_url = f->token_url[i];
        f->reg[i].allow_http_loopback = 1;
    }
    f->map[0].lis = (char *)"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
    f->map[0].app = (char *)"student";
    f->map[1].lis = (char *)"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
    f->map[1].app = (char *)"instructor";
    f->order[0] = (char *)"student";
    f->order[1] = (char *)"instructor";
    f->cfg.private_key = f->key;
    f->cfg.platforms = f->reg;
    f->cfg.n_platforms = 2;
    f->cfg.service_timeout_ms = 3000;
    f->cfg.role_map = f->map;
    f->cfg.n_role_map = 2;
    f->cfg.app_role_order = f->order;
    f->cfg.n_app_role_order = 2;
    f->cfg.default_role = (char *)"student";
    memset(f->cfg.session_secret, 7, 32);
    f->cfg.session_secret_len = 32;
    f->svc = lti_services_new(&f->cfg, errbuf, sizeof(errbuf));
    if (f->svc == NULL) {
        fprintf(stderr, "services: %s\n", errbuf);
        return -1;
    }
    f->loop = h2o_evloop_create();
    f->queue = h2o_multithread_create_queue(f->loop);
    h2o_multithread_register_receiver(f->queue, &f->receiver, lti_services_on_messages);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = &F;
    lti_services_free(f->svc);
    h2o_multithread_unregister_receiver(f->queue, &f->receiver);
    h2o_multithread_destroy_queue(f->queue);
    sim_platform_stop(f->platform);
    f->stop = 1;
    pthread_join(f->jwks_thread, NULL);
    close(f->jwks_fd);
    free(f->jwks_doc);
    EVP_PKEY_free(f->key);
    curl_global_cleanup();
    return 0;
}

/* ---- the client assertion ------------------------------------------------ */

static json_t *segment(const char *token, int index)
{
    const char *start = token;
    for (int i = 0; i < index; i++)
        start = strchr(start, '.') + 1;
    size_t len = strcspn(start, ".");
    unsigned char *raw = malloc(len * 3 / 4 + 2);
    long n = lti_b64url_decode(start, len, raw);
    json_error_t jerr;
    json_t *doc = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, &jerr) : NULL;
    free(raw);
    return doc;
}

static void assertion_is_signed_for_the_token_url(void **state)
{
    fixture_t *f = *state;
    char jti[33], kid[LTI_JWK_KID_LEN];
    int64_t now = (int64_t)time(NULL);
    char *jws = lti_svc_client_assertion(&f->cfg, &f->reg[0], now, jti);
    assert_non_null(jws);

    json_t *h = segment(jws, 0), *p = segment(jws, 1);
    assert_int_equal(lti_jwk_thumbprint(f->key, kid), 0);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    assert_string_equal(json_string_value(json_object_get(p, "iss")), SIM_DEFAULT_CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(p, "sub")), SIM_DEFAULT_CLIENT_ID);
    /* aud is the token URL exactly, as a string. */
    assert_string_equal(json_string_value(json_object_get(p, "aud")), f->token_url[0]);
    assert_int_equal(json_integer_value(json_object_get(p, "iat")), now);
    assert_true(json_integer_value(json_object_get(p, "exp")) - now <= 300);
    assert_true(json_integer_value(json_object_get(p, "exp")) > now);
    assert_string_equal(json_string_value(json_object_get(p, "jti")), jti);
    json_decref(h);
    json_decref(p);

    /* The signature verifies with the public half only. */
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(f->key, &der);
    const unsigned char *q = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, der_len);
    const char *dot = strrchr(jws, '.');
    unsigned char sig[512];
    long sig_len = lti_b64url_decode(dot + 1, strlen(dot + 1), sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, (size_t)sig_len, (const unsigned char *)jws,
                                      (size_t)(dot - jws)), 1);
    /* One changed byte in the signed part fails. */
    jws[5] = jws[5] == 'A' ? 'B' : 'A';
    EVP_MD_CTX_reset(md);
    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub);
    assert_int_not_equal(EVP_DigestVerify(md, sig, (size_t)sig_len, (const unsigned char *)jws,
                                          (size_t)(dot - jws)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    OPENSSL_free(der);
    free(jws);
}

static int cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void assertion_jti_is_fresh(void **state)
{
    fixture_t *f = *state;
    enum { N = 200 };
    static char jtis[N][33];
    for (int i = 0; i < N; i++) {
        char *jws = lti_svc_client_assertion(&f->cfg, &f->reg[0], (int64_t)time(NULL), jtis[i]);
        assert_non_null(jws);
        assert_int_equal(strlen(jtis[i]), 32);
        free(jws);
    }
    qsort(jtis, N, sizeof(jtis[0]), cmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(jtis[i - 1], jtis[i]);
}

/* ---- small pieces -------------------------------------------------------- */

static void scope_sets_are_sorted_and_deduplicated(void **state)
{
    char out[256];
    assert_int_equal(lti_svc_scope_key("b a  c a", out, sizeof(out)), 0);
    assert_string_equal(out, "a b c");
    assert_int_equal(lti_svc_scope_key("   ", out, sizeof(out)), -1);
    assert_int_equal(lti_svc_scope_key("aaaa bbbb", out, 5), -1);
}

static void service_urls_follow_the_registration(void **state)
{
    lti_platform_cfg_t strict = {0}, loop = {.allow_http_loopback = 1};
    assert_true(lti_svc_url_allowed(&strict, "https://canvas.example.edu/api/lti/courses/1/x"));
    assert_false(lti_svc_url_allowed(&strict, "http://127.0.0.1:8080/x"));
    assert_true(lti_svc_url_allowed(&loop, "http://127.0.0.1:8080/x"));
    assert_true(lti_svc_url_allowed(&loop, "http://[::1]:8080/x"));
    assert_true(lti_svc_url_allowed(&loop, "http://localhost/x"));
    assert_false(lti_svc_url_allowed(&loop, "http://10.0.0.1/x"));
    assert_false(lti_svc_url_allowed(&loop, "http://127.0.0.1.evil.example/x"));
    assert_false(lti_svc_url_allowed(&strict, "https://user@canvas.example.edu/x"));
    assert_false(lti_svc_url_allowed(&strict, "https://canvas.example.edu/x#frag"));
    assert_false(lti_svc_url_allowed(&strict, "https://canvas.example.edu/a b"));
    assert_false(lti_svc_url_allowed(&strict, "ftp://canvas.example.edu/x"));
    assert_false(lti_svc_url_allowed(&strict, "file:///etc/passwd"));
}

static void scores_url_goes_before_the_query(void **state)
{
    char *u = lti_ags_child_url("https://c.example/api/lti/courses/1/line_items/2?x=1", "/scores");
    assert_string_equal(u, "https://c.example/api/lti/courses/1/line_items/2/scores?x=1");
    free(u);
    u = lti_ags_child_url("https://c.example/li/2/", "/results");
    assert_string_equal(u, "https://c.example/li/2/results");
    free(u);
}

static void score_document_has_the_ags_fields(void **state)
{
    json_t *s = lti_ags_score("u1", 7, 10, "Completed", "FullyGraded", NULL, 1764860050123LL);
    assert_string_equal(json_string_value(json_object_get(s, "userId")), "u1");
    assert_string_equal(json_string_value(json_object_get(s, "timestamp")),
                        "2025-12-04T14:54:10.123Z");
    assert_true(json_number_value(json_object_get(s, "scoreGiven")) == 7.0);
    json_decref(s);
    assert_true(lti_ags_activity_valid("Submitted"));
    assert_false(lti_ags_activity_valid("Done"));
    assert_true(lti_ags_grading_valid("PendingManual"));
    assert_false(lti_ags_grading_valid("graded"));
}

static void link_header_next_is_found(void **state)
{
    const char *v = " <https://c.example/nr?page=1>; rel=\"first\", "
                    "<https://c.example/nr?page=3>; rel=\"next\", <https://c.example/nr?page=9>; "
                    "rel=\"last\"\r\n";
    char *next = lti_link_next(v, strlen(v));
    assert_string_equal(next, "https://c.example/nr?page=3");
    free(next);
    assert_null(lti_link_next(" <https://c.example/a>; rel=\"last\"", 33));
    assert_null(lti_link_next(" <https://c.example/a; rel=\"next\"", 34));
}

static void nrps_members_get_app_roles(void **state)
{
    fixture_t *f = *state;
    lti_err_t err = {0};
    const char *page =
        "{\"id\":\"x\",\"members\":[{\"user_id\":\"u1\",\"roles\":["
        "\"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor\"],\"name\":\"A\"},"
        "{\"user_id\":\"u2\",\"status\":\"Inactive\",\"roles\":[\"Learner\"]},"
        "{\"user_id\":\"u3\",\"roles\":[]}]}";
    json_t *out = json_array();
    assert_int_equal(lti_nrps_append_page(&f->cfg, page, strlen(page), out, &err), LTI_R_ok);
    assert_int_equal(json_array_size(out), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "app_role")),
                        "instructor");
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1), "status")),
                        "Inactive");
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 2), "app_role")),
                        "student");
    const char *bad[] = {"{\"members\":{}}", "{\"members\":[{\"roles\":[]}]}",
                         "{\"members\":[{\"user_id\":\"a\",\"user_id\":\"b\",\"roles\":[]}]}",
                         "{\"members\": [ {\"user_id\": "};
    for (size_t i = 0; i < 4; i++) {
        lti_err_clear(&err);
        assert_int_equal(lti_nrps_append_page(&f->cfg, bad[i], strlen(bad[i]), out, &err),
                         LTI_R_service_response_invalid);
    }
    json_decref(out);
}

static const char *answers_abc(void *arg, const char *qid)
{
    if (strcmp(qid, "q1") == 0)
        return "a";
    if (strcmp(qid, "q2") == 0)
        return "x";
    return arg;
}

static void quizzes_are_graded_on_the_server(void **state)
{
    char errbuf[200];
    lti_err_t err = {0};
    double given, maximum;
    const char *doc =
        "{\"entries\":[{\"id\":\"1_a\",\"quiz\":{\"questions\":["
        "{\"id\":\"q1\",\"text\":\"?\",\"choices\":[{\"id\":\"a\",\"text\":\"A\"},"
        "{\"id\":\"b\",\"text\":\"B\"}],\"answer\":\"a\",\"points\":2},"
        "{\"id\":\"q2\",\"text\":\"?\",\"choices\":[{\"id\":\"a\",\"text\":\"A\"},"
        "{\"id\":\"b\",\"text\":\"B\"}],\"answer\":\"b\"},"
        "{\"id\":\"q3\",\"text\":\"?\",\"choices\":[{\"id\":\"a\",\"text\":\"A\"},"
        "{\"id\":\"b\",\"text\":\"B\"}],\"answer\":\"b\",\"points\":3}]}},{\"id\":\"1_b\"}]}";
    json_error_t jerr;
    json_t *catalog = json_loads(doc, 0, &jerr);
    json_t *quizzes = lti_quiz_load(catalog, errbuf, sizeof(errbuf));
    assert_non_null(quizzes);
    assert_int_equal(json_object_size(quizzes), 1);
    json_t *quiz = json_object_get(quizzes, "1_a");
    assert_int_equal(lti_quiz_grade(quiz, answers_abc, "b", &given, &maximum, &err), LTI_R_ok);
    assert_true(given == 5.0 && maximum == 6.0);
    assert_int_equal(lti_quiz_grade(quiz, answers_abc, NULL, &given, &maximum, &err),
                     LTI_R_param_missing);
    json_decref(quizzes);
    /* An answer that is not a choice is a catalog error. */
    json_object_set_new(json_array_get(json_object_get(json_object_get(
                            json_array_get(json_object_get(catalog, "entries"), 0), "quiz"),
                            "questions"), 0),
                        "answer", json_string("z"));
    assert_null(lti_quiz_load(catalog, errbuf, sizeof(errbuf)));
    json_decref(catalog);
}

static void csrf_token_is_bound_to_the_session(void **state)
{
    fixture_t *f = *state;
    char token[44];
    lti_svc_csrf_token(&f->cfg, "cookie-A", 8, token);
    assert_int_equal(strlen(token), 43);
    assert_true(lti_svc_csrf_check(&f->cfg, "cookie-A", 8, token));
    assert_false(lti_svc_csrf_check(&f->cfg, "cookie-B", 8, token));
    assert_false(lti_svc_csrf_check(&f->cfg, "cookie-A", 8, NULL));
    assert_false(lti_svc_csrf_check(&f->cfg, "cookie-A", 8, ""));
}

/* ---- the worker against the simulated token endpoint -------------------- */

typedef struct done_count {
    int done;
    int ok;
    int sends;
    lti_reason_t last;
} done_count_t;

static void on_done(lti_svc_call_t *call)
{
    done_count_t *d = call->data;
    d->done++;
    d->ok += call->reason == LTI_R_ok;
    d->sends += call->sends;
    d->last = call->reason;
    lti_svc_call_free(call);
}

/* Submits `n` GETs of the course's line items with `scopes` and waits. */
static void run_calls(fixture_t *f, size_t reg, int n, const char *scopes, done_count_t *d)
{
    char url[200];
    memset(d, 0, sizeof(*d));
    snprintf(url, sizeof(url), "%s/api/lti/courses/77/line_items",
             sim_platform_base_url(f->platform));
    for (int i = 0; i < n; i++) {
        lti_svc_call_t *call = lti_svc_call_new(reg, "GET", url, scopes, "test");
        call->receiver = &f->receiver;
        call->on_done = on_done;
        call->data = d;
        lti_svc_submit(f->svc, call);
    }
    for (int i = 0; i < 400 && d->done < n; i++)
        h2o_evloop_run(f->loop, 50);
    assert_int_equal(d->done, n);
}

static void one_token_request_for_concurrent_calls(void **state)
{
    fixture_t *f = *state;
    done_count_t d;
    sim_services_stats_t before, after;
    sim_services_get_stats(f->platform, &before);
    run_calls(f, 0, 10, LTI_SCOPE_LINEITEM_RO, &d);
    assert_int_equal(d.ok, 10);
    sim_services_get_stats(f->platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    /* Later calls with the same scope set, in another order, reuse it. */
    run_calls(f, 0, 3, LTI_SCOPE_LINEITEM_RO " " LTI_SCOPE_LINEITEM_RO, &d);
    sim_services_get_stats(f->platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    lti_svc_stats_t stats;
    lti_services_stats(f->svc, &stats);
    assert_true(stats.token_cache_hits >= 3);
}

static void expired_token_is_replaced(void **state)
{
    fixture_t *f = *state;
    done_count_t d;
    sim_services_stats_t before, after;
    const char *scopes = LTI_SCOPE_LINEITEM " " LTI_SCOPE_LINEITEM_RO;
    sim_services_configure(f->platform, 61, 0, 0, 0);
    sim_services_get_stats(f->platform, &before);
    run_calls(f, 0, 2, scopes, &d);
    run_calls(f, 0, 2, scopes, &d);
    sim_services_get_stats(f->platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    run_calls(f, 0, 2, scopes, &d);
    assert_int_equal(d.ok, 2);
    sim_services_get_stats(f->platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 2);
    sim_services_configure(f->platform, 3600, 0, 0, 0);
}

static void revoked_token_is_retried_once(void **state)
{
    fixture_t *f = *state;
    done_count_t d;
    sim_services_stats_t before, after;
    run_calls(f, 0, 1, LTI_SCOPE_LINEITEM_RO, &d);
    sim_services_get_stats(f->platform, &before);
    sim_services_revoke(f->platform);
    run_calls(f, 0, 1, LTI_SCOPE_LINEITEM_RO, &d);
    assert_int_equal(d.ok, 1);
    assert_int_equal(d.sends, 2);
    sim_services_get_stats(f->platform, &after);
    assert_int_equal(after.token_requests - before.token_requests, 1);
    /* A second 401 is not retried again. */
    sim_services_set_fail(f->platform, "ags", "401", 2);
    run_calls(f, 0, 1, LTI_SCOPE_LINEITEM_RO, &d);
    assert_int_equal(d.last, LTI_R_service_forbidden);
    assert_int_equal(d.sends, 2);
}

static void aud_must_be_the_exact_token_url(void **state)
{
    fixture_t *f = *state;
    done_count_t d;
    run_calls(f, 1, 2, LTI_SCOPE_RESULT_RO, &d);
    assert_int_equal(d.ok, 0);
    assert_int_equal(d.last, LTI_R_service_token_failed);
}

static void the_tool_key_must_sign(void **state)
{
    fixture_t *f = *state;
    done_count_t d;
    /* The platform knows another key under the tool's kid: the signature fails. */
    EVP_PKEY *other = EVP_RSA_gen(2048);
    json_t *jwk = lti_jwk_public(other);
    char kid[LTI_JWK_KID_LEN];
    lti_jwk_thumbprint(f->key, kid);
    json_object_set_new(jwk, "kid", json_string(kid));
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    char *saved = f->jwks_doc;
    f->jwks_doc = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    run_calls(f, 0, 1, LTI_SCOPE_SCORE " " LTI_SCOPE_LINEITEM_RO, &d);
    assert_int_equal(d.last, LTI_R_service_token_failed);
    free(f->jwks_doc);
    f->jwks_doc = saved;
    EVP_PKEY_free(other);
    run_calls(f, 0, 1, LTI_SCOPE_SCORE " " LTI_SCOPE_LINEITEM_RO, &d);
    assert_int_equal(d.last, LTI_R_ok);
}

/* Writes a config with `canvas_yaml` next to a tool key and loads it. */
static lti_config_t *load_with_canvas(fixture_t *f, const char *canvas_yaml, char *errbuf,
                                      size_t errlen)
{
    char dir[] = "/tmp/ltigate-svc-cfg-XXXXXX", path[128], cmd[160];
    if (mkdtemp(dir) == NULL)
        return NULL;
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    FILE *fp = fopen(path, "w");
    PEM_write_PrivateKey(fp, f->key, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/ltigate.yaml", dir);
    fp = fopen(path, "w");
    fprintf(fp, "server:\n  baseUrl: https://kaf.example.com\n"
                "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: key.pem\n"
                "platforms:\n  - issuer: https://canvas.instructure.com\n"
                "    lti13ClientID: \"10000000000001\"\n    deploymentIds: [\"1:abc\"]\n"
                "canvas:\n%s", canvas_yaml);
    fclose(fp);
    lti_config_t *cfg = lti_config_load(path, errbuf, errlen);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return cfg;
}

static void scoped_key_needs_its_settings(void **state)
{
    fixture_t *f = *state;
    char errbuf[512];
    lti_config_t *cfg = load_with_canvas(f, "  useScopedKey: true\n  apiUrl: https://s.example\n"
                                            "  customAppKeyFile: api.secret\n", errbuf,
                                         sizeof(errbuf));
    assert_null(cfg);
    assert_non_null(strstr(errbuf, "canvas.useScopedKey"));
    assert_non_null(strstr(errbuf, "customAppId is missing"));
    cfg = load_with_canvas(f, "  useScopedKey: true\n  apiUrl: https://s.example\n"
                              "  customAppKeyFile: api.secret\n  customAppId: \"17\"\n",
                           errbuf, sizeof(errbuf));
    if (cfg == NULL)
        fprintf(stderr, "%s\n", errbuf);
    assert_non_null(cfg);
    assert_true(cfg->canvas_use_scoped_key);
    assert_string_equal(cfg->canvas_custom_app_id, "17");
    assert_string_equal(cfg->canvas_api_url, "https://s.example");
    assert_false(cfg->canvas_enable_user_profile_scope);
    assert_int_equal(cfg->service_timeout_ms, 10000);
    lti_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(assertion_is_signed_for_the_token_url),
        cmocka_unit_test(assertion_jti_is_fresh),
        cmocka_unit_test(scope_sets_are_sorted_and_deduplicated),
        cmocka_unit_test(service_urls_follow_the_registration),
        cmocka_unit_test(scores_url_goes_before_the_query),
        cmocka_unit_test(score_document_has_the_ags_fields),
        cmocka_unit_test(link_header_next_is_found),
        cmocka_unit_test(nrps_members_get_app_roles),
        cmocka_unit_test(quizzes_are_graded_on_the_server),
        cmocka_unit_test(csrf_token_is_bound_to_the_session),
        cmocka_unit_test(one_token_request_for_concurrent_calls),
        cmocka_unit_test(expired_token_is_replaced),
        cmocka_unit_test(revoked_token_is_retried_once),
        cmocka_unit_test(aud_must_be_the_exact_token_url),
        cmocka_unit_test(the_tool_key_must_sign),
        cmocka_unit_test(scoped_key_needs_its_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
