/* SPDX-License-Identifier: MIT */
/*
 * Tests of lti_sim. The platform simulator is driven over real HTTP on
 * loopback: authorize checks, key rotation, JWKS modes, and the id_token
 * shape and signature, checked with OpenSSL against the served key set.
 * The simulated browser is driven against the platform plus a small fake
 * tool defined here.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include "../../src/sim/sim.h"
#include "../../src/sim/sim_int.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
#define LIS "http://purl.imsglobal.org/vocab/lis/v2/"
#define PLACEMENT_CLAIM "https://www.instructure.com/placement"

/* LeakSanitizer hook (used only in sanitizer builds): h2o 2.2.5 keeps
 * per-thread free lists of pool chunks and socket buffers that are never
 * released when a loop thread exits, so each stopped platform leaves up to
 * a few KiB in h2o_mem_alloc_recycle. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

/* ---- HTTP client helpers ------------------------------------------------- */

typedef struct http_res {
    long status;
    sim_buf_t body;
    sim_buf_t headers;
    double seconds;
} http_res_t;

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    return sim_buf_append(arg, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Sends one request; `form` non-NULL makes it a urlencoded POST. */
static void http(const char *method, const char *url, const char *form, http_res_t *res)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    memset(res, 0, sizeof(*res));
    sim_buf_init(&res->body, 1 << 20);
    sim_buf_init(&res->headers, 1 << 16);
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &res->headers);
    if (form != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    }
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(cc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &res->seconds);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static void http_res_clear(http_res_t *res)
{
    sim_buf_free(&res->body);
    sim_buf_free(&res->headers);
}

static char *url_of(sim_platform_t *p, const char *path)
{
    size_t len = strlen(sim_platform_base_url(p)) + strlen(path) + 1;
    char *url = malloc(len);
    snprintf(url, len, "%s%s", sim_platform_base_url(p), path);
    return url;
}

static void platform_call(sim_platform_t *p, const char *method, const char *path, http_res_t *res)
{
    char *url = url_of(p, path);
    http(method, url, strcmp(method, "POST") == 0 ? "" : NULL, res);
    free(url);
}

/* Returns the HTML-unescaped value of hidden input `name` in `html`. */
static char *form_value(const char *html, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "name=\"%s\" value=\"", name);
    const char *p = html != NULL ? strstr(html, needle) : NULL;
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    const char *end = strchr(p, '"');
    return end != NULL ? sim_html_unescape(p, (size_t)(end - p)) : NULL;
}

static json_t *json_body(const http_res_t *res)
{
    json_error_t err;
    json_t *doc = json_loads(res->body.data != NULL ? res->body.data : "", 0, &err);
    if (doc == NULL)
        fail_msg("response is not JSON: %s", err.text);
    return doc;
}

/* ---- platform fixtures --------------------------------------------------- */

#define TOOL_LAUNCH "http://127.0.0.1:9/hosted/index/oauth2-launch"

static sim_platform_t *start_platform(unsigned hint_lifetime)
{
    sim_platform_opts_t opts;
    char err[256] = "";
    memset(&opts, 0, sizeof(opts));
    opts.tool_login_url = "http://127.0.0.1:9/hosted/index/oidc-login";
    opts.tool_launch_url = TOOL_LAUNCH;
    opts.hint_lifetime = hint_lifetime;
    sim_platform_t *p = sim_platform_start(&opts, err, sizeof(err));
    if (p == NULL)
        fail_msg("platform did not start: %s", err);
    return p;
}

static int setup_platform(void **state)
{
    *state = start_platform(0);
    return 0;
}

static int teardown_platform(void **state)
{
    sim_platform_stop(*state);
    return 0;
}

/* A launch started with /sim/launch: the hints the tool would receive. */
typedef struct pending {
    char *login_hint;
    char *message_hint;
    char *target_link_uri;
    char *iss;
} pending_t;

static void pending_clear(pending_t *pd)
{
    free(pd->login_hint);
    free(pd->message_hint);
    free(pd->target_link_uri);
    free(pd->iss);
}

static void start_launch(sim_platform_t *p, const char *query, pending_t *pd)
{
    char path[4096];
    http_res_t res;
    snprintf(path, sizeof(path), "/sim/launch?%s", query);
    platform_call(p, "GET", path, &res);
    assert_int_equal(res.status, 200);
    pd->login_hint = form_value(res.body.data, "login_hint");
    pd->message_hint = form_value(res.body.data, "lti_message_hint");
    pd->target_link_uri = form_value(res.body.data, "target_link_uri");
    pd->iss = form_value(res.body.data, "iss");
    assert_non_null(pd->login_hint);
    assert_non_null(pd->message_hint);
    http_res_clear(&res);
}

/* Authorize request fields; NULL fields are left out of the request. */
typedef struct auth_req {
    const char *scope, *response_type, *response_mode, *prompt, *client_id, *redirect_uri;
    const char *login_hint, *lti_message_hint, *nonce, *state;
} auth_req_t;

static auth_req_t auth_defaults(const pending_t *pd)
{
    auth_req_t a = {
        "openid",    "id_token",     "form_post",      "none",       SIM_DEFAULT_CLIENT_ID,
        TOOL_LAUNCH, pd->login_hint, pd->message_hint, "nonce-1234", "state-5678"};
    return a;
}

static void authorize(sim_platform_t *p, const auth_req_t *a, http_res_t *res)
{
    const char *names[] = {"scope",     "response_type", "response_mode", "prompt",
                           "client_id", "redirect_uri",  "login_hint",    "lti_message_hint",
                           "nonce",     "state"};
    const char *values[] = {a->scope,     a->response_type, a->response_mode, a->prompt,
                            a->client_id, a->redirect_uri,  a->login_hint,    a->lti_message_hint,
                            a->nonce,     a->state};
    sim_buf_t form;
    sim_buf_init(&form, 1 << 16);
    for (size_t i = 0; i < 10; i++) {
        if (values[i] == NULL)
            continue;
        sim_buf_printf(&form, "%s%s=", form.len > 0 ? "&" : "", names[i]);
        sim_buf_put_urlenc(&form, values[i]);
    }
    char *url = url_of(p, SIM_AUTHORIZE_PATH);
    http("POST", url, form.data != NULL ? form.data : "", res);
    free(url);
    sim_buf_free(&form);
}

/* Asserts that `res` is Canvas's error form post with code `error`. */
static void assert_error_post(const http_res_t *res, const char *error, const char *state)
{
    assert_int_equal(res->status, 200);
    assert_non_null(strstr(res->body.data, "action=\"" TOOL_LAUNCH "\""));
    char *code = form_value(res->body.data, "error");
    char *description = form_value(res->body.data, "error_description");
    char *echoed = form_value(res->body.data, "state");
    assert_non_null(code);
    assert_string_equal(code, error);
    assert_non_null(description);
    assert_true(strlen(description) > 0);
    assert_null(form_value(res->body.data, "id_token"));
    if (state != NULL) {
        assert_non_null(echoed);
        assert_string_equal(echoed, state);
    }
    free(code);
    free(description);
    free(echoed);
}

/* ---- JWKS and signature checks with OpenSSL ------------------------------ */

static BIGNUM *b64_bignum(const char *text)
{
    size_t len = 0;
    unsigned char *raw = sim_b64url_decode(text, strlen(text), &len);
    assert_non_null(raw);
    BIGNUM *bn = BN_bin2bn(raw, (int)len, NULL);
    free(raw);
    return bn;
}

static EVP_PKEY *jwk_to_key(json_t *jwk)
{
    BIGNUM *n = b64_bignum(json_string_value(json_object_get(jwk, "n")));
    BIGNUM *e = b64_bignum(json_string_value(json_object_get(jwk, "e")));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

static json_t *fetch_jwks(sim_platform_t *p)
{
    http_res_t res;
    platform_call(p, "GET", SIM_JWKS_PATH, &res);
    assert_int_equal(res.status, 200);
    json_t *doc = json_body(&res);
    http_res_clear(&res);
    return doc;
}

/* Returns the kids of the served key set, in order, as one string. */
static char *jwks_kids(sim_platform_t *p)
{
    json_t *doc = fetch_jwks(p);
    sim_buf_t b;
    sim_buf_init(&b, 4096);
    size_t i;
    json_t *jwk;
    json_array_foreach(json_object_get(doc, "keys"), i, jwk) sim_buf_printf(
        &b, "%s%s", i > 0 ? "," : "", json_string_value(json_object_get(jwk, "kid")));
    json_decref(doc);
    return sim_buf_steal(&b);
}

static int rs256_verify(EVP_PKEY *key, const char *token)
{
    const char *dot = strrchr(token, '.');
    size_t sig_len = 0;
    unsigned char *sig = sim_b64url_decode(dot + 1, strlen(dot + 1), &sig_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)token,
                              (size_t)(dot - token)) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

/* Verifies `token` against the key set `jwks` using the header kid.
 * Returns 1 when a key with that kid verifies the signature. */
static int verify_with_jwks(json_t *jwks, const char *token)
{
    size_t len = 0;
    unsigned char *header = sim_jws_segment(token, 0, &len);
    json_t *h = json_loads((char *)header, 0, NULL);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    int ok = 0;
    size_t i;
    json_t *jwk;
    json_array_foreach(json_object_get(jwks, "keys"), i, jwk)
    {
        if (kid == NULL || strcmp(json_string_value(json_object_get(jwk, "kid")), kid) != 0)
            continue;
        EVP_PKEY *key = jwk_to_key(jwk);
        ok = rs256_verify(key, token);
        EVP_PKEY_free(key);
    }
    json_decref(h);
    free(header);
    return ok;
}

static json_t *token_part(const char *token, int index)
{
    size_t len = 0;
    unsigned char *raw = sim_jws_segment(token, index, &len);
    assert_non_null(raw);
    json_t *doc = json_loads((char *)raw, 0, NULL);
    free(raw);
    assert_non_null(doc);
    return doc;
}

/* Starts a launch with `query`, authorizes it and returns the id_token. */
static char *issue_token(sim_platform_t *p, const char *query)
{
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, query, &pd);
    auth_req_t a = auth_defaults(&pd);
    authorize(p, &a, &res);
    assert_int_equal(res.status, 200);
    char *token = form_value(res.body.data, "id_token");
    if (token == NULL)
        fail_msg("authorize did not issue an id_token: %s", res.body.data);
    http_res_clear(&res);
    pending_clear(&pd);
    return token;
}

static json_t *issue_claims(sim_platform_t *p, const char *query)
{
    char *token = issue_token(p, query);
    json_t *claims = token_part(token, 1);
    free(token);
    return claims;
}

static int has_role(json_t *claims, const char *uri)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(claims, CLAIM "roles"), i,
                       v) if (strcmp(json_string_value(v), uri) == 0) return 1;
    return 0;
}

/* ---- platform tests ------------------------------------------------------ */

static void jwks_serves_three_public_keys(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    platform_call(p, "GET", SIM_JWKS_PATH, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.headers.data, "cache-control: max-age=864000"));
    json_t *doc = json_body(&res);
    json_t *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), 3);
    const char *kids[3];
    for (size_t i = 0; i < 3; i++) {
        json_t *jwk = json_array_get(keys, i);
        assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
        assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
        assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
        assert_null(json_object_get(jwk, "d"));
        assert_null(json_object_get(jwk, "p"));
        kids[i] = json_string_value(json_object_get(jwk, "kid"));
        assert_non_null(kids[i]);
        /* ISO-8601 like 2026-12-04T15:54:10Z */
        assert_int_equal(strlen(kids[i]), 20);
        assert_int_equal(kids[i][10], 'T');
        assert_int_equal(kids[i][19], 'Z');
        EVP_PKEY *key = jwk_to_key(jwk);
        assert_int_equal(EVP_PKEY_get_bits(key), 2048);
        EVP_PKEY_free(key);
    }
    assert_string_not_equal(kids[0], kids[1]);
    assert_string_not_equal(kids[1], kids[2]);
    assert_string_not_equal(kids[0], kids[2]);
    json_decref(doc);
    http_res_clear(&res);
}

static void id_token_verifies_against_jwks(void **state)
{
    sim_platform_t *p = *state;
    char *token = issue_token(p, "role=instructor");
    json_t *jwks = fetch_jwks(p);
    json_t *header = token_part(token, 0);
    char signing_kid[64];
    EVP_PKEY *signing = sim_platform_signing_key(p, signing_kid, sizeof(signing_kid));

    assert_true(verify_with_jwks(jwks, token));
    assert_true(rs256_verify(signing, token));
    assert_string_equal(json_string_value(json_object_get(header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(header, "kid")), signing_kid);
    /* The present key is the middle one of past, present, future. */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 1), "kid")),
        signing_kid);

    EVP_PKEY_free(signing);
    json_decref(header);
    json_decref(jwks);
    free(token);
}

static void id_token_has_canvas_claims(void **state)
{
    sim_platform_t *p = *state;
    time_t before = time(NULL);
    json_t *c = issue_claims(p, "role=instructor&user=jdoe&name=Jane%20Doe&course=1234");

    assert_string_equal(json_string_value(json_object_get(c, "iss")), SIM_DEFAULT_ISSUER);
    assert_string_equal(json_string_value(json_object_get(c, "aud")), SIM_DEFAULT_CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(c, "azp")), SIM_DEFAULT_CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(c, "nonce")), "nonce-1234");
    json_int_t iat = json_integer_value(json_object_get(c, "iat"));
    assert_true(iat >= before && iat <= time(NULL));
    assert_int_equal(json_integer_value(json_object_get(c, "exp")) - iat, 3600);
    assert_string_equal(json_string_value(json_object_get(c, CLAIM "version")), "1.3.0");
    assert_string_equal(json_string_value(json_object_get(c, CLAIM "message_type")),
                        "LtiResourceLinkRequest");
    assert_string_equal(json_string_value(json_object_get(c, CLAIM "deployment_id")),
                        SIM_DEFAULT_DEPLOYMENT_ID);
    assert_string_equal(json_string_value(json_object_get(c, CLAIM "target_link_uri")),
                        TOOL_LAUNCH);
    assert_non_null(json_object_get(json_object_get(c, CLAIM "resource_link"), "id"));
    json_t *ctx = json_object_get(c, CLAIM "context");
    assert_int_equal(strlen(json_string_value(json_object_get(ctx, "id"))), 40);
    assert_non_null(json_object_get(ctx, "title"));
    assert_non_null(json_object_get(ctx, "label"));
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Jane Doe");
    assert_string_equal(json_string_value(json_object_get(c, "given_name")), "Jane");
    assert_string_equal(json_string_value(json_object_get(c, "family_name")), "Doe");
    assert_int_equal(strlen(json_string_value(json_object_get(c, "sub"))), 36);
    assert_string_equal(json_string_value(json_object_get(c, PLACEMENT_CLAIM)),
                        "course_navigation");
    json_t *custom = json_object_get(c, CLAIM "custom");
    assert_string_equal(json_string_value(json_object_get(custom, "canvas_user_login_id")), "jdoe");
    assert_string_equal(json_string_value(json_object_get(custom, "canvas_course_id")), "1234");
    assert_int_equal(
        strlen(json_string_value(json_object_get(custom, "canvas_post_message_token"))), 36);
    assert_true(has_role(c, LIS "institution/person#Instructor"));
    assert_true(has_role(c, LIS "membership#Instructor"));
    assert_true(has_role(c, LIS "system/person#User"));
    assert_int_equal(json_array_size(json_object_get(c, CLAIM "roles")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, CLAIM "tool_platform"),
                                                          "product_family_code")),
                        "canvas");
    json_decref(c);
}

static void id_token_sub_stable_per_user(void **state)
{
    sim_platform_t *p = *state;
    json_t *a = issue_claims(p, "user=alice");
    json_t *b = issue_claims(p, "user=alice&role=student");
    json_t *c = issue_claims(p, "user=bob");
    assert_string_equal(json_string_value(json_object_get(a, "sub")),
                        json_string_value(json_object_get(b, "sub")));
    assert_string_not_equal(json_string_value(json_object_get(a, "sub")),
                            json_string_value(json_object_get(c, "sub")));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void id_token_role_variants(void **state)
{
    sim_platform_t *p = *state;
    json_t *ta = issue_claims(p, "role=ta");
    assert_true(has_role(ta, LIS "membership#Instructor"));
    assert_true(has_role(ta, LIS "membership/Instructor#TeachingAssistant"));
    json_decref(ta);

    json_t *student = issue_claims(p, "role=student");
    assert_true(has_role(student, LIS "membership#Learner"));
    assert_false(has_role(student, LIS "membership#Instructor"));
    json_decref(student);

    json_t *anon = issue_claims(p, "role=anonymous");
    assert_null(json_object_get(anon, "sub"));
    assert_null(json_object_get(anon, "name"));
    assert_null(json_object_get(anon, "email"));
    assert_true(has_role(anon, LIS "system/person#None"));
    assert_int_equal(json_array_size(json_object_get(anon, CLAIM "roles")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(anon, CLAIM "custom"),
                                                          "canvas_user_login_id")),
                        "$Canvas.user.loginId");
    json_decref(anon);

    json_t *admin = issue_claims(p, "role=admin");
    assert_true(has_role(admin, LIS "institution/person#Administrator"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(admin, CLAIM "lis"), "person_sourcedid")),
        "$Person.sourcedId");
    json_decref(admin);

    json_t *observer = issue_claims(p, "role=observer");
    assert_true(has_role(observer, LIS "membership#Mentor"));
    assert_int_equal(json_array_size(json_object_get(observer, CLAIM "role_scope_mentor")), 1);
    json_decref(observer);

    json_t *designer = issue_claims(p, "role=designer");
    assert_true(has_role(designer, LIS "membership#ContentDeveloper"));
    json_decref(designer);
}

static void id_token_placement_variants(void **state)
{
    sim_platform_t *p = *state;
    json_t *global = issue_claims(p, "placement=global_navigation");
    assert_null(json_object_get(global, CLAIM "context"));
    assert_string_equal(json_string_value(json_object_get(global, PLACEMENT_CLAIM)),
                        "global_navigation");
    assert_string_equal(json_string_value(json_object_get(json_object_get(global, CLAIM "custom"),
                                                          "canvas_course_id")),
                        "$Canvas.course.id");
    json_decref(global);

    json_t *null_placement = issue_claims(p, "placement=null");
    assert_true(json_is_null(json_object_get(null_placement, PLACEMENT_CLAIM)));
    json_decref(null_placement);

    json_t *absent = issue_claims(p, "placement=absent");
    assert_null(json_object_get(absent, PLACEMENT_CLAIM));
    json_decref(absent);
}

static void id_token_deep_linking_settings(void **state)
{
    sim_platform_t *p = *state;
    json_t *c = issue_claims(p, "message_type=LtiDeepLinkingRequest&placement=assignment_selection"
                                "&course=77");
    json_t *dl =
        json_object_get(c, "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings");
    assert_non_null(dl);
    assert_null(json_object_get(c, CLAIM "resource_link"));
    const char *url = json_string_value(json_object_get(dl, "deep_link_return_url"));
    char expected[128];
    snprintf(expected, sizeof(expected),
             "%s/courses/77/deep_linking_response?data=", sim_platform_base_url(p));
    assert_non_null(url);
    assert_memory_equal(url, expected, strlen(expected));
    assert_true(strlen(url) > strlen(expected));
    assert_int_equal(json_array_size(json_object_get(dl, "accept_types")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(dl, "accept_types"), 0)),
                        "ltiResourceLink");
    assert_true(json_is_false(json_object_get(dl, "accept_multiple")));
    json_decref(c);

    json_t *editor = issue_claims(p, "message_type=LtiDeepLinkingRequest&placement=editor_button");
    dl = json_object_get(editor,
                         "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings");
    assert_int_equal(json_array_size(json_object_get(dl, "accept_types")), 5);
    assert_true(json_is_true(json_object_get(dl, "accept_multiple")));
    json_decref(editor);
}

static void id_token_claims_merge_and_offsets(void **state)
{
    sim_platform_t *p = *state;
    json_t *c = issue_claims(p, "claims=%7B%22email%22%3Anull%2C%22aud%22%3A%5B%22a%22%2C%22b%22%5D"
                                "%7D&iat_offset=-120&exp_offset=60");
    assert_null(json_object_get(c, "email"));
    assert_true(json_is_array(json_object_get(c, "aud")));
    assert_int_equal(json_array_size(json_object_get(c, "aud")), 2);
    json_int_t iat = json_integer_value(json_object_get(c, "iat"));
    assert_true(iat <= time(NULL) - 119);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")) - iat, 60);
    json_decref(c);
}

static void id_token_kid_override(void **state)
{
    sim_platform_t *p = *state;
    char *token = issue_token(p, "kid=not-a-published-kid");
    json_t *header = token_part(token, 0);
    assert_string_equal(json_string_value(json_object_get(header, "kid")), "not-a-published-kid");
    json_t *jwks = fetch_jwks(p);
    assert_false(verify_with_jwks(jwks, token));
    json_decref(jwks);
    json_decref(header);
    free(token);
}

static void id_token_forged_variants(void **state)
{
    sim_platform_t *p = *state;
    json_t *jwks = fetch_jwks(p);
    char kid[64];
    EVP_PKEY *signing = sim_platform_signing_key(p, kid, sizeof(kid));

    char *none = issue_token(p, "forge=alg_none");
    json_t *h = token_part(none, 0);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "none");
    assert_int_equal(none[strlen(none) - 1], '.');
    json_decref(h);
    free(none);

    char *hs = issue_token(p, "forge=hs256_pubkey");
    h = token_part(hs, 0);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "HS256");
    char *pem = sim_public_pem(signing);
    const char *dot = strrchr(hs, '.');
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), pem, (int)strlen(pem), (const unsigned char *)hs, (size_t)(dot - hs), mac,
         &mac_len);
    char *expected = sim_b64url_encode(mac, mac_len);
    assert_string_equal(dot + 1, expected);
    free(expected);
    free(pem);
    json_decref(h);
    free(hs);

    char *bad = issue_token(p, "forge=bad_signature");
    assert_false(verify_with_jwks(jwks, bad));
    free(bad);

    char *wrong = issue_token(p, "forge=wrong_key");
    h = token_part(wrong, 0);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    assert_false(verify_with_jwks(jwks, wrong));
    json_decref(h);
    free(wrong);

    /* A merged header goes through OpenSSL and still verifies. */
    char *crit = issue_token(p, "header=%7B%22crit%22%3A%5B%22exp%22%5D%2C%22typ%22%3Anull%7D");
    h = token_part(crit, 0);
    assert_non_null(json_object_get(h, "crit"));
    assert_null(json_object_get(h, "typ"));
    assert_true(verify_with_jwks(jwks, crit));
    json_decref(h);
    free(crit);

    EVP_PKEY_free(signing);
    json_decref(jwks);
}

static void launch_rejects_bad_parameters(void **state)
{
    sim_platform_t *p = *state;
    const char *bad[] = {"/sim/launch?role=bogus",     "/sim/launch?claims=%5B1%5D",
                         "/sim/launch?claims=%7Bnot",  "/sim/launch?forge=alg",
                         "/sim/launch?iat_offset=abc", "/sim/launch?placement=a%20b",
                         "/sim/launch?user=%25zz",     "/sim/launch?name=%FF%FE"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_res_t res;
        platform_call(p, "GET", bad[i], &res);
        if (res.status != 400)
            fail_msg("%s returned %ld, expected 400", bad[i], res.status);
        http_res_clear(&res);
    }
}

static void launch_form_escapes_values(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    platform_call(p, "GET",
                  "/sim/launch?target=http%3A%2F%2F127.0.0.1%3A9%2Fx%3Fa%3D1%26b%3D%22%3E", &res);
    assert_int_equal(res.status, 200);
    assert_null(strstr(res.body.data, "\">\""));
    assert_non_null(strstr(res.body.data, "a=1&amp;b=&quot;&gt;"));
    char *target = form_value(res.body.data, "target_link_uri");
    assert_string_equal(target, "http://127.0.0.1:9/x?a=1&b=\">");
    char *env = form_value(res.body.data, "canvas_environment");
    assert_string_equal(env, "prod");
    free(env);
    free(target);
    http_res_clear(&res);
}

static void authorize_requires_exact_scope(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    const char *scopes[] = {"openid profile", "OPENID", "openid "};
    for (size_t i = 0; i < 3; i++) {
        auth_req_t a = auth_defaults(&pd);
        a.scope = scopes[i];
        authorize(p, &a, &res);
        assert_error_post(&res, "invalid_request_object", "state-5678");
        http_res_clear(&res);
    }
    /* The hint was not consumed by the rejected requests. */
    auth_req_t a = auth_defaults(&pd);
    authorize(p, &a, &res);
    char *token = form_value(res.body.data, "id_token");
    assert_non_null(token);
    free(token);
    http_res_clear(&res);
    pending_clear(&pd);
}

static void authorize_requires_parameters(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    for (int i = 0; i < 6; i++) {
        auth_req_t a = auth_defaults(&pd);
        const char **field[] = {&a.nonce,         &a.prompt,     &a.response_type,
                                &a.response_mode, &a.login_hint, &a.client_id};
        *field[i] = NULL;
        authorize(p, &a, &res);
        assert_error_post(&res, "invalid_request_object", "state-5678");
        http_res_clear(&res);
    }
    auth_req_t a = auth_defaults(&pd);
    a.response_type = "code";
    authorize(p, &a, &res);
    assert_error_post(&res, "invalid_request_object", NULL);
    http_res_clear(&res);
    a = auth_defaults(&pd);
    a.response_mode = "query";
    authorize(p, &a, &res);
    assert_error_post(&res, "invalid_request_object", NULL);
    http_res_clear(&res);
    pending_clear(&pd);
}

static void authorize_redirect_uri_mismatch_is_400(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    const char *uris[] = {"http://127.0.0.1:9/hosted/index/oauth2-launch/",
                          "http://127.0.0.1:10/hosted/index/oauth2-launch",
                          "http://evil.example/hosted/index/oauth2-launch", NULL};
    for (size_t i = 0; i < 4; i++) {
        auth_req_t a = auth_defaults(&pd);
        a.redirect_uri = uris[i];
        authorize(p, &a, &res);
        assert_int_equal(res.status, 400);
        assert_non_null(strstr(res.headers.data, "text/plain"));
        assert_null(strstr(res.body.data, "<form"));
        http_res_clear(&res);
    }
    pending_clear(&pd);
}

static void authorize_rejects_unknown_client(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    auth_req_t a = auth_defaults(&pd);
    a.client_id = "10000000000002";
    authorize(p, &a, &res);
    assert_error_post(&res, "unauthorized_client", "state-5678");
    http_res_clear(&res);
    pending_clear(&pd);
}

static void authorize_hint_single_use(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    auth_req_t a = auth_defaults(&pd);
    authorize(p, &a, &res);
    char *token = form_value(res.body.data, "id_token");
    char *echoed = form_value(res.body.data, "state");
    char *utf8 = form_value(res.body.data, "utf8");
    assert_non_null(token);
    assert_string_equal(echoed, "state-5678");
    assert_string_equal(utf8, "\xE2\x9C\x93");
    assert_non_null(strstr(res.body.data, "name=\"authenticity_token\""));
    free(token);
    free(echoed);
    free(utf8);
    http_res_clear(&res);

    authorize(p, &a, &res);
    assert_error_post(&res, "launch_no_longer_valid", "state-5678");
    http_res_clear(&res);

    a.lti_message_hint = NULL;
    authorize(p, &a, &res);
    assert_error_post(&res, "launch_no_longer_valid", "state-5678");
    http_res_clear(&res);

    a.lti_message_hint = "0123456789abcdef";
    authorize(p, &a, &res);
    assert_error_post(&res, "launch_no_longer_valid", NULL);
    http_res_clear(&res);
    pending_clear(&pd);
}

static void authorize_login_hint_mismatch(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "user=alice", &pd);
    auth_req_t a = auth_defaults(&pd);
    char other[41];
    snprintf(other, sizeof(other), "%s", "0000000000000000000000000000000000000000");
    a.login_hint = other;
    authorize(p, &a, &res);
    assert_error_post(&res, "login_required", "state-5678");
    http_res_clear(&res);

    a = auth_defaults(&pd);
    authorize(p, &a, &res);
    char *token = form_value(res.body.data, "id_token");
    assert_non_null(token);
    free(token);
    http_res_clear(&res);
    pending_clear(&pd);
}

static void authorize_hint_expires(void **state)
{
    (void)state;
    sim_platform_t *p = start_platform(1);
    pending_t pd = {0};
    http_res_t res;
    start_launch(p, "", &pd);
    sleep(2);
    auth_req_t a = auth_defaults(&pd);
    authorize(p, &a, &res);
    assert_error_post(&res, "launch_no_longer_valid", "state-5678");
    http_res_clear(&res);
    pending_clear(&pd);
    sim_platform_stop(p);
}

static void next_error_applies_once(void **state)
{
    sim_platform_t *p = *state;
    pending_t pd = {0};
    http_res_t res;
    platform_call(p, "POST", "/sim/next-error?error=bogus", &res);
    assert_int_equal(res.status, 400);
    http_res_clear(&res);
    platform_call(p, "POST", "/sim/next-error?error=login_required", &res);
    assert_int_equal(res.status, 200);
    http_res_clear(&res);

    start_launch(p, "", &pd);
    auth_req_t a = auth_defaults(&pd);
    authorize(p, &a, &res);
    assert_error_post(&res, "login_required", "state-5678");
    http_res_clear(&res);
    authorize(p, &a, &res);
    char *token = form_value(res.body.data, "id_token");
    assert_non_null(token);
    free(token);
    http_res_clear(&res);

    assert_int_equal(sim_platform_set_next_error(p, "launch_no_longer_valid"), 0);
    authorize(p, &a, &res);
    assert_error_post(&res, "launch_no_longer_valid", "state-5678");
    http_res_clear(&res);
    pending_clear(&pd);
}

static void rotate_moves_keys_like_canvas(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    char *before = jwks_kids(p);
    char past[32], present[32], future[32];
    assert_int_equal(sscanf(before, "%31[^,],%31[^,],%31s", past, present, future), 3);

    platform_call(p, "POST", "/sim/rotate", &res);
    assert_int_equal(res.status, 200);
    json_t *doc = json_body(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "signing_kid")), future);
    json_decref(doc);
    http_res_clear(&res);

    char *after = jwks_kids(p);
    char expected_prefix[80];
    snprintf(expected_prefix, sizeof(expected_prefix), "%s,%s,", present, future);
    assert_memory_equal(after, expected_prefix, strlen(expected_prefix));
    assert_null(strstr(after, past));

    char *token = issue_token(p, "");
    json_t *header = token_part(token, 0);
    assert_string_equal(json_string_value(json_object_get(header, "kid")), future);
    json_t *jwks = fetch_jwks(p);
    assert_true(verify_with_jwks(jwks, token));
    json_decref(jwks);
    json_decref(header);
    free(token);
    free(before);
    free(after);
}

static void rotate_unpublished_key(void **state)
{
    sim_platform_t *p = *state;
    json_t *old_jwks = fetch_jwks(p);
    char *before = jwks_kids(p);
    char past[32], present[32], future[32];
    assert_int_equal(sscanf(before, "%31[^,],%31[^,],%31s", past, present, future), 3);

    http_res_t res;
    platform_call(p, "POST", "/sim/rotate?publish=0", &res);
    assert_int_equal(res.status, 200);
    json_t *doc = json_body(&res);
    const char *kid = json_string_value(json_object_get(doc, "signing_kid"));
    assert_non_null(kid);
    assert_null(strstr(before, kid));

    char *token = issue_token(p, "");
    json_t *header = token_part(token, 0);
    assert_string_equal(json_string_value(json_object_get(header, "kid")), kid);
    /* Unknown to a tool holding the old set, verifiable after a refetch. */
    assert_false(verify_with_jwks(old_jwks, token));
    json_t *new_jwks = fetch_jwks(p);
    assert_true(verify_with_jwks(new_jwks, token));
    char *after = jwks_kids(p);
    assert_non_null(strstr(after, kid));
    assert_non_null(strstr(after, present));
    assert_non_null(strstr(after, future));

    free(after);
    json_decref(new_jwks);
    json_decref(header);
    free(token);
    json_decref(doc);
    http_res_clear(&res);
    free(before);
    json_decref(old_jwks);
}

static void rotate_kids_stay_unique(void **state)
{
    sim_platform_t *p = *state;
    char kid1[32], kid2[32];
    assert_int_equal(sim_platform_rotate(p, 1, kid1, sizeof(kid1)), 0);
    assert_int_equal(sim_platform_rotate(p, 0, kid2, sizeof(kid2)), 0);
    char *kids = jwks_kids(p);
    char a[32], b[32], c[32];
    assert_int_equal(sscanf(kids, "%31[^,],%31[^,],%31s", a, b, c), 3);
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
    assert_string_not_equal(a, c);
    assert_string_equal(b, kid2);
    free(kids);
}

static void jwks_down_and_up_counts_hits(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    sim_platform_stats_t before, after;
    sim_platform_get_stats(p, &before);

    platform_call(p, "POST", "/sim/jwks?mode=down", &res);
    assert_int_equal(res.status, 200);
    http_res_clear(&res);
    platform_call(p, "GET", SIM_JWKS_PATH, &res);
    assert_int_equal(res.status, 503);
    http_res_clear(&res);
    platform_call(p, "POST", "/sim/jwks?mode=up", &res);
    http_res_clear(&res);
    platform_call(p, "GET", SIM_JWKS_PATH, &res);
    assert_int_equal(res.status, 200);
    http_res_clear(&res);
    platform_call(p, "POST", "/sim/jwks?mode=sideways", &res);
    assert_int_equal(res.status, 400);
    http_res_clear(&res);

    sim_platform_get_stats(p, &after);
    assert_int_equal(after.jwks_hits - before.jwks_hits, 2);
    platform_call(p, "GET", "/sim/stats", &res);
    json_t *doc = json_body(&res);
    assert_int_equal(json_integer_value(json_object_get(doc, "jwks_hits")), after.jwks_hits);
    assert_non_null(json_object_get(doc, "authorize"));
    assert_non_null(json_object_get(doc, "logins"));
    json_decref(doc);
    http_res_clear(&res);
}

typedef struct slow_fetch {
    sim_platform_t *platform;
    http_res_t res;
} slow_fetch_t;

static void *fetch_thread(void *arg)
{
    slow_fetch_t *f = arg;
    platform_call(f->platform, "GET", SIM_JWKS_PATH, &f->res);
    return NULL;
}

static void jwks_slow_does_not_block_loop(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    slow_fetch_t f = {.platform = p};
    pthread_t thread;

    platform_call(p, "POST", "/sim/jwks?mode=slow&delay_ms=600", &res);
    assert_int_equal(res.status, 200);
    http_res_clear(&res);
    pthread_create(&thread, NULL, fetch_thread, &f);
    usleep(100 * 1000);
    platform_call(p, "GET", "/sim/stats", &res);
    assert_int_equal(res.status, 200);
    assert_true(res.seconds < 0.3);
    http_res_clear(&res);
    pthread_join(thread, NULL);
    assert_int_equal(f.res.status, 200);
    assert_true(f.res.seconds >= 0.55);
    assert_non_null(strstr(f.res.body.data, "\"keys\""));
    http_res_clear(&f.res);
    sim_platform_set_jwks_mode(p, SIM_JWKS_UP, 0);
}

static void stop_ends_pending_slow_request(void **state)
{
    (void)state;
    sim_platform_t *p = start_platform(0);
    slow_fetch_t f = {.platform = p};
    pthread_t thread;
    sim_platform_set_jwks_mode(p, SIM_JWKS_SLOW, 30000);
    pthread_create(&thread, NULL, fetch_thread, &f);
    usleep(200 * 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sim_platform_stop(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(thread, NULL);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    assert_int_equal(f.res.status, 503);
    http_res_clear(&f.res);
}

static void deep_linking_response_recorded(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    char *url = url_of(p, "/courses/77/deep_linking_response?data=abc");
    http("POST", url, "JWT=aaa.bbb.ccc", &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body.data, "received"));
    http_res_clear(&res);
    http("POST", url, "other=1", &res);
    assert_int_equal(res.status, 400);
    http_res_clear(&res);
    free(url);
    char *jwt = sim_platform_last_deep_linking_jwt(p);
    assert_string_equal(jwt, "aaa.bbb.ccc");
    free(jwt);
    platform_call(p, "GET", "/sim/deep-linking-response", &res);
    json_t *doc = json_body(&res);
    assert_string_equal(json_string_value(json_object_get(doc, "jwt")), "aaa.bbb.ccc");
    json_decref(doc);
    http_res_clear(&res);
}

static void unknown_paths_and_methods(void **state)
{
    sim_platform_t *p = *state;
    http_res_t res;
    platform_call(p, "GET", "/nowhere", &res);
    assert_int_equal(res.status, 404);
    http_res_clear(&res);
    platform_call(p, "POST", SIM_JWKS_PATH, &res);
    assert_int_equal(res.status, 405);
    http_res_clear(&res);
    platform_call(p, "GET", "/sim/rotate", &res);
    assert_int_equal(res.status, 405);
    http_res_clear(&res);
    platform_call(p, "GET", "/sim/launch?user=%zz", &res);
    assert_int_equal(res.status, 400);
    http_res_clear(&res);
}

static void state_dir_keeps_keys(void **state)
{
    (void)state;
    char dir[] = "/tmp/ltisim-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    sim_platform_opts_t opts;
    char err[256];
    memset(&opts, 0, sizeof(opts));
    opts.state_dir = dir;
    sim_platform_t *p = sim_platform_start(&opts, err, sizeof(err));
    assert_non_null(p);
    char *first = jwks_kids(p);
    sim_platform_stop(p);

    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/keys.json", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);

    p = sim_platform_start(&opts, err, sizeof(err));
    assert_non_null(p);
    char *second = jwks_kids(p);
    assert_string_equal(first, second);
    sim_platform_stop(p);
    unlink(path);
    rmdir(dir);
    free(first);
    free(second);
}

static void start_rejects_non_loopback(void **state)
{
    (void)state;
    sim_platform_opts_t opts;
    char err[256] = "";
    memset(&opts, 0, sizeof(opts));
    opts.listen_host = "0.0.0.0";
    assert_null(sim_platform_start(&opts, err, sizeof(err)));
    assert_non_null(strstr(err, "not loopback"));
}

/* ---- helpers ------------------------------------------------------------- */

static void html_and_form_helpers(void **state)
{
    (void)state;
    const char *escaped = "a&amp;b&lt;&gt;&quot;&#39;&#x2713;&#10003;&bogus;&";
    char *s = sim_html_unescape(escaped, strlen(escaped));
    assert_string_equal(s, "a&b<>\"'\xE2\x9C\x93\xE2\x9C\x93&bogus;&");
    free(s);

    sim_params_t params = {0};
    assert_int_equal(sim_params_parse(&params, "a=1&b=x+y%21&a=2&c", 18), 0);
    assert_string_equal(sim_params_get(&params, "a"), "2");
    assert_string_equal(sim_params_get(&params, "b"), "x y!");
    assert_string_equal(sim_params_get(&params, "c"), "");
    sim_params_clear(&params);
    assert_int_equal(sim_params_parse(&params, "a=%zz", 5), -1);
    sim_params_clear(&params);
    assert_int_equal(sim_params_parse(&params, "a=%4", 4), -1);
    sim_params_clear(&params);
    assert_int_equal(sim_params_parse(&params, "a=%00", 5), -1);
    sim_params_clear(&params);

    sim_buf_t b;
    sim_buf_init(&b, 64);
    sim_buf_put_html(&b, "<a href=\"x\">'&'</a>");
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    sim_buf_free(&b);
    sim_buf_init(&b, 8);
    assert_int_equal(sim_buf_puts(&b, "12345678"), 0);
    assert_int_equal(sim_buf_puts(&b, "9"), -1);
    assert_true(b.overflow);
    sim_buf_free(&b);
}

static void jws_raw_helpers(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char *token = sim_jws_sign_rs256_raw(key, "{\"alg\":\"none\",\"alg\":\"RS256\"}", "{\"a\":1}");
    assert_non_null(token);
    assert_true(rs256_verify(key, token));
    size_t len = 0;
    unsigned char *header = sim_jws_segment(token, 0, &len);
    assert_string_equal((char *)header, "{\"alg\":\"none\",\"alg\":\"RS256\"}");
    free(header);
    free(token);
    char *none = sim_jws_unsecured_raw("{\"alg\":\"none\"}", "{}");
    assert_string_equal(none, "eyJhbGciOiJub25lIn0.e30.");
    free(none);
    EVP_PKEY_free(key);
}

/* ---- fake tool ------------------------------------------------------------ */

/* A minimal tool on a blocking socket, one connection at a time with
 * Connection: close. It follows the ltigate HTTP contract closely enough
 * to drive the browser: state cookie on the launch path, X-LTI-Reason on
 * rejections, 303 to the landing page, session cookie, launch-context. */
typedef struct fake_tool {
    int fd;
    uint16_t port;
    char base[64];
    char platform[96];
    pthread_t thread;
    atomic_int stop;
    char states[32][65];
    char nonces[32][65];
    int used[32];
    size_t n_states;
    json_t *sessions[32];
    char session_ids[32][33];
    size_t n_sessions;
    int landing_saw_state_cookie;
    int landing_saw_path_probe;    /* cookie scoped to the launch path reached the landing page */
    int landing_saw_deleted_probe; /* cookie deleted with Max-Age=0 reached the landing page */
    int landing_requests;
} fake_tool_t;

typedef struct fake_req {
    char method[8];
    char path[8192];
    char query[8192];
    char cookie[4096];
    sim_buf_t body;
} fake_req_t;

static int read_request(int fd, fake_req_t *r)
{
    char buf[65536];
    size_t n = 0;
    char *end = NULL;
    while (end == NULL) {
        if (n >= sizeof(buf) - 1)
            return -1;
        ssize_t got = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    char target[8192];
    if (sscanf(buf, "%7s %8191s", r->method, target) != 2)
        return -1;
    char *q = strchr(target, '?');
    snprintf(r->query, sizeof(r->query), "%s", q != NULL ? q + 1 : "");
    if (q != NULL)
        *q = '\0';
    snprintf(r->path, sizeof(r->path), "%s", target);
    size_t content_length = 0;
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "Cookie:", 7) == 0) {
            size_t len = strcspn(line + 8, "\r\n");
            snprintf(r->cookie, sizeof(r->cookie), "%.*s", (int)len, line + 8);
        }
    }
    sim_buf_init(&r->body, 1 << 20);
    sim_buf_append(&r->body, end + 4, n - (size_t)(end + 4 - buf));
    while (r->body.len < content_length) {
        ssize_t got = recv(fd, buf, sizeof(buf), 0);
        if (got <= 0)
            return -1;
        sim_buf_append(&r->body, buf, (size_t)got);
    }
    return 0;
}

static void send_response(int fd, int status, const char *headers, const char *body)
{
    char head[4096];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", status,
                     strlen(body), headers);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    send(fd, body, strlen(body), MSG_NOSIGNAL);
}

static void reject(int fd, int status, const char *reason)
{
    char headers[256];
    snprintf(headers, sizeof(headers), "X-LTI-Reason: %s\r\nContent-Type: text/html\r\n", reason);
    send_response(fd, status, headers, reason);
}

static int cookie_has(const char *cookies, const char *pair)
{
    const char *p = strstr(cookies, pair);
    size_t n = strlen(pair);
    return p != NULL && (p == cookies || p[-1] == ' ') && (p[n] == '\0' || p[n] == ';');
}

static void tool_login(fake_tool_t *t, int fd, const sim_params_t *params)
{
    const char *hint = sim_params_get(params, "login_hint");
    const char *message_hint = sim_params_get(params, "lti_message_hint");
    if (hint == NULL || t->n_states == 32) {
        reject(fd, 400, "login_hint_missing");
        return;
    }
    size_t i = t->n_states++;
    sim_random_hex(t->states[i], 32);
    sim_random_hex(t->nonces[i], 32);
    sim_buf_t loc;
    sim_buf_init(&loc, 1 << 16);
    sim_buf_printf(&loc,
                   "Location: %s%s?scope=openid&response_type=id_token"
                   "&response_mode=form_post&prompt=none&client_id=%s&redirect_uri=",
                   t->platform, SIM_AUTHORIZE_PATH, SIM_DEFAULT_CLIENT_ID);
    char launch[128];
    snprintf(launch, sizeof(launch), "%s%s", t->base, SIM_LAUNCH_PATH);
    sim_buf_put_urlenc(&loc, launch);
    sim_buf_puts(&loc, "&login_hint=");
    sim_buf_put_urlenc(&loc, hint);
    sim_buf_puts(&loc, "&lti_message_hint=");
    sim_buf_put_urlenc(&loc, message_hint != NULL ? message_hint : "");
    sim_buf_printf(&loc, "&state=%s&nonce=%s\r\n", t->states[i], t->nonces[i]);
    sim_buf_printf(&loc,
                   "Set-Cookie: ltist_%.8s=%s; Path=%s; Max-Age=300; Secure; HttpOnly; "
                   "SameSite=None\r\n",
                   t->states[i], t->states[i], SIM_LAUNCH_PATH);
    sim_buf_printf(&loc, "Set-Cookie: probe_path=1; Path=%s\r\n", SIM_LAUNCH_PATH);
    sim_buf_puts(&loc, "Set-Cookie: probe_deleted=1; Path=/; Max-Age=600\r\n");
    send_response(fd, 302, loc.data, "");
    sim_buf_free(&loc);
}

static const char *landing_for(const char *placement)
{
    if (placement != NULL && strcmp(placement, "global_navigation") == 0)
        return "/hosted/my-media";
    if (placement != NULL && strcmp(placement, "course_navigation") == 0)
        return "/hosted/media-gallery";
    return "/hosted/resource";
}

static void tool_launch(fake_tool_t *t, int fd, const sim_params_t *params, const char *cookies)
{
    const char *state = sim_params_get(params, "state");
    const char *token = sim_params_get(params, "id_token");
    if (sim_params_get(params, "error") != NULL) {
        reject(fd, 400, "platform_error");
        return;
    }
    size_t i = 0;
    while (state != NULL && i < t->n_states && strcmp(t->states[i], state) != 0)
        i++;
    if (state == NULL || i == t->n_states || t->used[i]) {
        reject(fd, 401, "state_unknown");
        return;
    }
    char pair[160];
    snprintf(pair, sizeof(pair), "ltist_%.8s=%s", state, state);
    if (!cookie_has(cookies, pair)) {
        reject(fd, 401, "state_cookie_missing");
        return;
    }
    t->used[i] = 1;

    char jwks_url[160];
    snprintf(jwks_url, sizeof(jwks_url), "%s%s", t->platform, SIM_JWKS_PATH);
    http_res_t res;
    http("GET", jwks_url, NULL, &res);
    json_t *jwks = json_loads(res.body.data, 0, NULL);
    http_res_clear(&res);
    int valid = token != NULL && verify_with_jwks(jwks, token);
    json_decref(jwks);
    if (!valid) {
        reject(fd, 401, "signature_invalid");
        return;
    }
    json_t *claims = token_part(token, 1);
    if (strcmp(json_string_value(json_object_get(claims, "nonce")), t->nonces[i]) != 0) {
        json_decref(claims);
        reject(fd, 401, "nonce_mismatch");
        return;
    }
    size_t s = t->n_sessions++;
    t->sessions[s] = claims;
    sim_random_hex(t->session_ids[s], 16);
    const char *placement = json_string_value(json_object_get(claims, PLACEMENT_CLAIM));
    char headers[1024];
    snprintf(headers, sizeof(headers),
             "Location: %s\r\n"
             "Set-Cookie: ltigate_session=%s; Path=/; Secure; HttpOnly; SameSite=None\r\n"
             "Set-Cookie: ltist_%.8s=; Path=%s; Max-Age=0\r\n"
             "Set-Cookie: probe_deleted=; Path=/; Max-Age=0\r\n",
             landing_for(placement), t->session_ids[s], state, SIM_LAUNCH_PATH);
    send_response(fd, 303, headers, "");
}

static json_t *tool_session(fake_tool_t *t, const char *cookies)
{
    for (size_t i = 0; i < t->n_sessions; i++) {
        char pair[64];
        snprintf(pair, sizeof(pair), "ltigate_session=%s", t->session_ids[i]);
        if (cookie_has(cookies, pair))
            return t->sessions[i];
    }
    return NULL;
}

static void tool_context(fake_tool_t *t, int fd, const char *cookies)
{
    json_t *claims = tool_session(t, cookies);
    if (claims == NULL) {
        reject(fd, 401, "session_missing");
        return;
    }
    const char *placement = json_string_value(json_object_get(claims, PLACEMENT_CLAIM));
    json_t *doc = json_pack(
        "{s:o?,s:s,s:o?,s:o?,s:s,s:o?,s:o?}", "user_id", json_copy(json_object_get(claims, "sub")),
        "app_role", has_role(claims, LIS "membership#Instructor") ? "instructor" : "student",
        "name", json_copy(json_object_get(claims, "name")), "placement",
        json_copy(json_object_get(claims, PLACEMENT_CLAIM)), "page", landing_for(placement),
        "context_title",
        json_copy(json_object_get(json_object_get(claims, CLAIM "context"), "title")),
        "message_type", json_copy(json_object_get(claims, CLAIM "message_type")));
    char *text = json_dumps(doc, JSON_COMPACT);
    send_response(fd, 200, "Content-Type: application/json\r\n", text);
    free(text);
    json_decref(doc);
}

static void tool_handle(fake_tool_t *t, int fd)
{
    fake_req_t r;
    memset(&r, 0, sizeof(r));
    if (read_request(fd, &r) != 0) {
        sim_buf_free(&r.body);
        return;
    }
    sim_params_t params = {0};
    sim_params_parse(&params, r.query, strlen(r.query));
    if (r.body.len > 0)
        sim_params_parse(&params, r.body.data, r.body.len);
    if (strcmp(r.path, SIM_LOGIN_PATH) == 0) {
        tool_login(t, fd, &params);
    } else if (strcmp(r.path, SIM_LAUNCH_PATH) == 0 && strcmp(r.method, "POST") == 0) {
        tool_launch(t, fd, &params, r.cookie);
    } else if (strcmp(r.path, SIM_CONTEXT_PATH) == 0) {
        tool_context(t, fd, r.cookie);
    } else if (strncmp(r.path, "/hosted/", 8) == 0) {
        t->landing_requests++;
        if (strstr(r.cookie, "ltist_") != NULL)
            t->landing_saw_state_cookie = 1;
        if (strstr(r.cookie, "probe_path") != NULL)
            t->landing_saw_path_probe = 1;
        if (strstr(r.cookie, "probe_deleted") != NULL)
            t->landing_saw_deleted_probe = 1;
        if (tool_session(t, r.cookie) == NULL)
            reject(fd, 401, "session_missing");
        else
            send_response(fd, 200, "Content-Type: text/html\r\n", "<html>landing</html>");
    } else {
        reject(fd, 404, "not_found");
    }
    sim_params_clear(&params);
    sim_buf_free(&r.body);
}

static void *tool_main(void *arg)
{
    fake_tool_t *t = arg;
    while (!atomic_load(&t->stop)) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int conn = accept(t->fd, NULL, NULL);
        if (conn < 0)
            continue;
        tool_handle(t, conn);
        close(conn);
    }
    return NULL;
}

static fake_tool_t *tool_start(sim_platform_t *p)
{
    fake_tool_t *t = calloc(1, sizeof(*t));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(t->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(t->fd, 16), 0);
    getsockname(t->fd, (struct sockaddr *)&addr, &len);
    t->port = ntohs(addr.sin_port);
    snprintf(t->base, sizeof(t->base), "http://127.0.0.1:%u", (unsigned)t->port);
    snprintf(t->platform, sizeof(t->platform), "%s", sim_platform_base_url(p));
    char login[128], launch[128];
    snprintf(login, sizeof(login), "%s%s", t->base, SIM_LOGIN_PATH);
    snprintf(launch, sizeof(launch), "%s%s", t->base, SIM_LAUNCH_PATH);
    assert_int_equal(sim_platform_set_tool(p, login, launch), 0);
    atomic_init(&t->stop, 0);
    pthread_create(&t->thread, NULL, tool_main, t);
    return t;
}

static void tool_stop(fake_tool_t *t)
{
    atomic_store(&t->stop, 1);
    pthread_join(t->thread, NULL);
    close(t->fd);
    for (size_t i = 0; i < t->n_sessions; i++)
        json_decref(t->sessions[i]);
    free(t);
}

typedef struct browser_fixture {
    sim_platform_t *platform;
    fake_tool_t *tool;
} browser_fixture_t;

static int setup_browser(void **state)
{
    browser_fixture_t *f = calloc(1, sizeof(*f));
    f->platform = start_platform(0);
    f->tool = tool_start(f->platform);
    *state = f;
    return 0;
}

static int teardown_browser(void **state)
{
    browser_fixture_t *f = *state;
    tool_stop(f->tool);
    sim_platform_stop(f->platform);
    free(f);
    return 0;
}

static sim_launch_opts_t browser_opts(browser_fixture_t *f)
{
    sim_launch_opts_t o;
    memset(&o, 0, sizeof(o));
    o.platform = sim_platform_base_url(f->platform);
    o.timeout_ms = 10000;
    return o;
}

/* ---- browser tests ------------------------------------------------------- */

static void browser_launches_instructor(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.user = "jdoe";
    o.name = "Jane Doe";
    o.role = "instructor";
    o.placement = "course_navigation";

    f->tool->landing_saw_state_cookie = 0;
    f->tool->landing_saw_path_probe = 0;
    f->tool->landing_saw_deleted_probe = 0;
    f->tool->landing_requests = 0;
    sim_launch(&o, &r);
    if (r.outcome != SIM_LAUNCHED)
        fail_msg("launch failed: status %ld reason %s error %s", r.status, r.reason, r.error);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.reason, "");
    assert_string_equal(r.app_role, "instructor");
    assert_string_equal(r.name, "Jane Doe");
    assert_string_equal(r.page, "/hosted/media-gallery");
    assert_string_equal(r.placement, "course_navigation");
    assert_string_equal(r.context_title, "Course 1234");
    assert_string_equal(r.message_type, "LtiResourceLinkRequest");
    assert_int_equal(strlen(r.user_id), 36);
    assert_non_null(r.id_token);
    /* The state cookie is path-scoped to the launch URL and deleted by
     * Max-Age=0, so it never reaches the landing page. */
    assert_int_equal(f->tool->landing_saw_state_cookie, 0);
    assert_int_equal(f->tool->landing_saw_path_probe, 0);
    assert_int_equal(f->tool->landing_saw_deleted_probe, 0);
    assert_int_equal(f->tool->landing_requests, 1);

    char *json = sim_launch_result_json(&r);
    json_t *doc = json_loads(json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "launched");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 200);
    assert_true(json_is_null(json_object_get(doc, "reason")));
    assert_string_equal(json_string_value(json_object_get(doc, "page")), "/hosted/media-gallery");
    json_decref(doc);
    free(json);
    sim_launch_result_clear(&r);
}

static void browser_global_navigation_page(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.role = "student";
    o.placement = "global_navigation";
    assert_int_equal(sim_launch(&o, &r), SIM_LAUNCHED);
    assert_string_equal(r.page, "/hosted/my-media");
    assert_string_equal(r.app_role, "student");
    assert_null(r.context_title);
    sim_launch_result_clear(&r);
}

static void browser_replay_is_rejected(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.replay = 1;
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_int_equal(r.first_outcome, SIM_LAUNCHED);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_unknown");
    sim_launch_result_clear(&r);
}

static void browser_bad_state_is_rejected(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.bad_state = 1;
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_string_equal(r.reason, "state_unknown");
    sim_launch_result_clear(&r);
}

static void browser_without_cookies(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.no_cookies = 1;
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_cookie_missing");
    sim_launch_result_clear(&r);
}

static void browser_platform_error_post(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    assert_int_equal(sim_platform_set_next_error(f->platform, "launch_no_longer_valid"), 0);
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_string_equal(r.reason, "platform_error");
    sim_launch_result_clear(&r);
}

static char *break_signature(void *arg, const char *token)
{
    (void)arg;
    char *copy = strdup(token);
    char *sig = strrchr(copy, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    return copy;
}

static void browser_edit_hook_and_forge(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;
    o.edit_id_token = break_signature;
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_string_equal(r.reason, "signature_invalid");
    sim_launch_result_clear(&r);

    o = browser_opts(f);
    o.extra_params = "forge=wrong_key";
    assert_int_equal(sim_launch(&o, &r), SIM_REJECTED);
    assert_string_equal(r.reason, "signature_invalid");
    sim_launch_result_clear(&r);
}

static void browser_errors_are_bounded(void **state)
{
    browser_fixture_t *f = *state;
    sim_launch_opts_t o = browser_opts(f);
    sim_launch_result_t r;

    o.platform = "http://192.0.2.1:9";
    assert_int_equal(sim_launch(&o, &r), SIM_ERROR);
    assert_non_null(strstr(r.error, "only http(s) URLs"));
    sim_launch_result_clear(&r);

    /* A closed port: connection refused, reported as an error. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    getsockname(fd, (struct sockaddr *)&addr, &len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    close(fd);
    o = browser_opts(f);
    o.platform = url;
    assert_int_equal(sim_launch(&o, &r), SIM_ERROR);
    assert_int_equal(r.status, 0);
    sim_launch_result_clear(&r);

    /* A platform parameter error stops the launch before the tool. */
    o = browser_opts(f);
    o.role = "bogus";
    assert_int_equal(sim_launch(&o, &r), SIM_ERROR);
    assert_int_equal(r.status, 400);
    sim_launch_result_clear(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest platform_tests[] = {
        cmocka_unit_test(jwks_serves_three_public_keys),
        cmocka_unit_test(id_token_verifies_against_jwks),
        cmocka_unit_test(id_token_has_canvas_claims),
        cmocka_unit_test(id_token_sub_stable_per_user),
        cmocka_unit_test(id_token_role_variants),
        cmocka_unit_test(id_token_placement_variants),
        cmocka_unit_test(id_token_deep_linking_settings),
        cmocka_unit_test(id_token_claims_merge_and_offsets),
        cmocka_unit_test(id_token_kid_override),
        cmocka_unit_test(id_token_forged_variants),
        cmocka_unit_test(launch_rejects_bad_parameters),
        cmocka_unit_test(launch_form_escapes_values),
        cmocka_unit_test(authorize_requires_exact_scope),
        cmocka_unit_test(authorize_requires_parameters),
        cmocka_unit_test(authorize_redirect_uri_mismatch_is_400),
        cmocka_unit_test(authorize_rejects_unknown_client),
        cmocka_unit_test(authorize_hint_single_use),
        cmocka_unit_test(authorize_login_hint_mismatch),
        cmocka_unit_test(next_error_applies_once),
        cmocka_unit_test(rotate_moves_keys_like_canvas),
        cmocka_unit_test(rotate_unpublished_key),
        cmocka_unit_test(rotate_kids_stay_unique),
        cmocka_unit_test(jwks_down_and_up_counts_hits),
        cmocka_unit_test(jwks_slow_does_not_block_loop),
        cmocka_unit_test(deep_linking_response_recorded),
        cmocka_unit_test(unknown_paths_and_methods),
    };
    const struct CMUnitTest standalone_tests[] = {
        cmocka_unit_test(authorize_hint_expires), cmocka_unit_test(stop_ends_pending_slow_request),
        cmocka_unit_test(state_dir_keeps_keys),   cmocka_unit_test(start_rejects_non_loopback),
        cmocka_unit_test(html_and_form_helpers),  cmocka_unit_test(jws_raw_helpers),
    };
    const struct CMUnitTest browser_tests[] = {
        cmocka_unit_test(browser_launches_instructor),
        cmocka_unit_test(browser_global_navigation_page),
        cmocka_unit_test(browser_replay_is_rejected),
        cmocka_unit_test(browser_bad_state_is_rejected),
        cmocka_unit_test(browser_without_cookies),
        cmocka_unit_test(browser_platform_error_post),
        cmocka_unit_test(browser_edit_hook_and_forge),
        cmocka_unit_test(browser_errors_are_bounded),
    };
    int failed = cmocka_run_group_tests_name("sim_platform", platform_tests, setup_platform,
                                             teardown_platform);
    failed += cmocka_run_group_tests_name("sim_standalone", standalone_tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("sim_browser", browser_tests, setup_browser, teardown_browser);
    curl_global_cleanup();
    return failed;
}
