/* SPDX-License-Identifier: MIT */
/*
 * The simulated Canvas's LTI Advantage services and REST API:
 *
 *   POST /login/oauth2/token   client_credentials with an RFC 7523 assertion
 *                              (checked against the tool's key set like Canvas:
 *                              exact aud, signature, expiry, jti reuse), and the
 *                              authorization_code and refresh_token grants of the
 *                              REST developer key
 *   GET  /login/oauth2/auth    the user approves at once; 302 back with a code
 *   GET|POST /api/lti/courses/C/line_items, GET .../line_items/N,
 *   POST .../line_items/N/scores, GET .../line_items/N/results   (AGS)
 *   GET  /api/lti/courses/C/names_and_roles   (NRPS, Link: rel="next" paging)
 *   GET  /api/v1/courses, /api/v1/courses/ID, /api/v1/users/self/profile
 *
 * and the controls for tests: GET /sim/scores (the gradebook),
 * GET /sim/services/stats, POST /sim/services/fail, POST /sim/services/config,
 * POST /sim/services/revoke, POST /sim/lineitems.
 *
 * Nothing here shares code with ltigate's service client: the assertion is
 * parsed and verified with OpenSSL and jansson directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include "lti/log.h"
#include "sim_platform_int.h"
#include "sim_services.h"

#define JSON "application/json"
#define MT_LINEITEM "application/vnd.ims.lis.v2.lineitem+json"
#define MT_LINEITEMS "application/vnd.ims.lis.v2.lineitemcontainer+json"
#define MT_SCORE "application/vnd.ims.lis.v1.score+json"
#define MT_RESULTS "application/vnd.ims.lis.v2.resultcontainer+json"
#define MT_MEMBERS "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
#define SCOPE_PREFIX_AGS "https://purl.imsglobal.org/spec/lti-ags/scope/"
#define SCOPE_NRPS "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
#define MAX_TOKENS 4096
#define MAX_JTIS 8192
#define MAX_ITEMS 1024
#define MAX_SCORES 8192
#define JWKS_MAX (64 * 1024)

enum { TARGET_TOKEN = 0, TARGET_AGS, TARGET_NRPS, TARGET_REST, TARGET_COUNT };
static const char *const target_names[] = {"token", "ags", "nrps", "rest"};

typedef struct fail_rule {
    char mode[16]; /* "401", "403", "500", "timeout", "garbage" */
    unsigned count;
} fail_rule_t;

typedef struct token {
    char value[70];
    int rest;         /* a REST (user) token, not a service token */
    char scopes[1024];
    double expires;   /* monotonic */
} token_t;

struct sim_services {
    json_t *tokens_unused;
    token_t *tokens;
    size_t n_tokens;
    char **jtis;
    size_t n_jtis;
    json_t *items;    /* array of line items (objects with "id" URL and "course") */
    json_t *scores;   /* array of scores received, newest last */
    json_t *codes;    /* code -> {redirect_uri, scope} */
    json_t *refresh;  /* refresh token -> {scope} */
    fail_rule_t fail[TARGET_COUNT];
    unsigned token_ttl, rest_token_ttl, roster_size, page_size;
    char rest_client_id[64], rest_secret[128];
    sim_services_stats_t stats;
};

sim_services_t *sim_services_new(void)
{
    sim_services_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->items = json_array();
    s->scores = json_array();
    s->codes = json_object();
    s->refresh = json_object();
    s->token_ttl = 3600;
    s->rest_token_ttl = 3600;
    s->roster_size = 7;
    s->page_size = 3;
    snprintf(s->rest_client_id, sizeof(s->rest_client_id), "%s", SIM_REST_CLIENT_ID);
    snprintf(s->rest_secret, sizeof(s->rest_secret), "%s", SIM_REST_CLIENT_SECRET);
    return s;
}

void sim_services_free(sim_services_t *s)
{
    if (s == NULL)
        return;
    free(s->tokens);
    for (size_t i = 0; i < s->n_jtis; i++)
        free(s->jtis[i]);
    free(s->jtis);
    json_decref(s->items);
    json_decref(s->scores);
    json_decref(s->codes);
    json_decref(s->refresh);
    free(s);
}

/* ---- helpers -------------------------------------------------------------- */

static int respond_error(h2o_req_t *req, int status, const char *error, const char *description)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    const char *kv[] = {"status", code, "error", error, NULL};
    lti_log_kv(LTI_LOG_WARN, "sim", description, kv);
    return sim_server_respond_json(
        req, status, json_pack("{s:s,s:s}", "error", error, "error_description", description));
}

static const char *header(h2o_req_t *req, const h2o_token_t *token, char *buf, size_t len)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0 || req->headers.entries[i].value.len >= len)
        return NULL;
    memcpy(buf, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    buf[req->headers.entries[i].value.len] = '\0';
    return buf;
}

static int method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* Applies a failure rule for `target`: returns 1 when the request was
 * answered (or left hanging) by the rule. Lock held. */
static int apply_fail(sim_platform_t *p, h2o_req_t *req, int target)
{
    fail_rule_t *r = &p->services->fail[target];
    if (r->count == 0)
        return 0;
    r->count--;
    char mode[16];
    snprintf(mode, sizeof(mode), "%s", r->mode);
    pthread_mutex_unlock(&p->lock);
    lti_log(LTI_LOG_INFO, "sim", "services: %s call fails with %s", target_names[target], mode);
    if (strcmp(mode, "timeout") == 0) {
        /* Never answered: the client gives up, closes, and h2o frees the request. */
    } else if (strcmp(mode, "garbage") == 0) {
        sim_server_respond(req, 200, JSON, "{\"members\": [ {\"user_id\": ", 26);
    } else {
        int status = atoi(mode);
        sim_server_respond_json(req, status, json_pack("{s:s}", "error", "simulated failure"));
    }
    pthread_mutex_lock(&p->lock);
    return 1;
}

/* ---- assertion verification (OpenSSL, no ltigate code) ------------------- */

typedef struct fetch {
    char *data;
    size_t len;
    int too_large;
} fetch_t;

static size_t on_fetch(char *ptr, size_t size, size_t nmemb, void *arg)
{
    fetch_t *f = arg;
    size_t n = size * nmemb;
    if (f->len + n > JWKS_MAX) {
        f->too_large = 1;
        return 0;
    }
    char *grown = realloc(f->data, f->len + n + 1);
    if (grown == NULL)
        return 0;
    f->data = grown;
    memcpy(f->data + f->len, ptr, n);
    f->len += n;
    f->data[f->len] = '\0';
    return n;
}

/* Fetches the tool's key set (loopback only). Returns a new object or NULL. */
static json_t *fetch_tool_jwks(const char *url)
{
    fetch_t f = {0};
    json_t *doc = NULL;
    long status = 0;
    CURL *c = curl_easy_init();
    if (c == NULL || (strncmp(url, "http://127.", 11) != 0 && strncmp(url, "http://[::1]", 12) != 0 &&
                      strncmp(url, "http://localhost", 16) != 0)) {
        curl_easy_cleanup(c);
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_fetch);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    if (curl_easy_perform(c) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
        f.data != NULL) {
        json_error_t jerr;
        doc = json_loadb(f.data, f.len, JSON_REJECT_DUPLICATES, &jerr);
    }
    curl_easy_cleanup(c);
    free(f.data);
    return doc;
}

static BIGNUM *b64_bn(const char *s)
{
    size_t len = 0;
    unsigned char *raw = s != NULL ? sim_b64url_decode(s, strlen(s), &len) : NULL;
    BIGNUM *bn = raw != NULL ? BN_bin2bn(raw, (int)len, NULL) : NULL;
    free(raw);
    return bn;
}

static EVP_PKEY *rsa_from_jwk(json_t *jwk)
{
    BIGNUM *n = b64_bn(json_string_value(json_object_get(jwk, "n")));
    BIGNUM *e = b64_bn(json_string_value(json_object_get(jwk, "e")));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    if (n != NULL && e != NULL && bld != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
        EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

/* Verifies the assertion's signature with the key of `kid` in the tool's
 * key set. Returns NULL or the reason it fails. */
static const char *check_signature(const char *jwks_url, const char *kid, const char *assertion)
{
    const char *last_dot = strrchr(assertion, '.');
    size_t sig_len = 0;
    unsigned char *sig = sim_b64url_decode(last_dot + 1, strlen(last_dot + 1), &sig_len);
    json_t *jwks = fetch_tool_jwks(jwks_url);
    const char *why = NULL;
    EVP_PKEY *key = NULL;
    size_t i;
    json_t *jwk;

    if (jwks == NULL) {
        why = "the tool's key set could not be fetched";
        goto out;
    }
    json_array_foreach(json_object_get(jwks, "keys"), i, jwk) {
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        if (k != NULL && strcmp(k, kid) == 0)
            key = rsa_from_jwk(jwk);
    }
    if (key == NULL) {
        why = "no key in the tool's key set has the assertion's kid";
        goto out;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = sig != NULL && md != NULL &&
             EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)assertion,
                              (size_t)(last_dot - assertion)) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        why = "JWS signature invalid.";
out:
    EVP_PKEY_free(key);
    json_decref(jwks);
    free(sig);
    return why;
}

static json_t *segment_json(const char *token, int index)
{
    size_t len = 0;
    unsigned char *raw = sim_jws_segment(token, index, &len);
    json_error_t jerr;
    json_t *doc = raw != NULL ? json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr)
                              : NULL;
    free(raw);
    return doc;
}

static int aud_has(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return 1;
    }
    return 0;
}

static int scope_known(const char *s)
{
    static const char *const known[] = {"lineitem", "lineitem.readonly", "result.readonly",
                                        "score"};
    if (strcmp(s, SCOPE_NRPS) == 0)
        return 1;
    if (strncmp(s, SCOPE_PREFIX_AGS, sizeof(SCOPE_PREFIX_AGS) - 1) != 0)
        return 0;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s + sizeof(SCOPE_PREFIX_AGS) - 1, known[i]) == 0)
            return 1;
    return 0;
}

static token_t *issue_token(sim_services_t *s, int rest, const char *scopes, unsigned ttl)
{
    /* Expired tokens are dropped first; a full table forgets the oldest. */
    double now = sim_monotonic();
    for (size_t i = s->n_tokens; i > 0; i--)
        if (s->tokens[i - 1].expires <= now)
            s->tokens[i - 1] = s->tokens[--s->n_tokens];
    if (s->n_tokens == MAX_TOKENS)
        memmove(s->tokens, s->tokens + 1, --s->n_tokens * sizeof(token_t));
    if (s->tokens == NULL && (s->tokens = calloc(MAX_TOKENS, sizeof(token_t))) == NULL)
        return NULL;
    token_t *t = &s->tokens[s->n_tokens++];
    char hex[49];
    sim_random_hex(hex, 24);
    snprintf(t->value, sizeof(t->value), "%s%s", rest ? "rest_" : "svc_", hex);
    snprintf(t->scopes, sizeof(t->scopes), "%s", scopes != NULL ? scopes : "");
    t->rest = rest;
    t->expires = now + ttl;
    return t;
}

static int jti_seen(sim_services_t *s, const char *jti)
{
    for (size_t i = 0; i < s->n_jtis; i++)
        if (strcmp(s->jtis[i], jti) == 0)
            return 1;
    if (s->n_jtis == MAX_JTIS) {
        free(s->jtis[0]);
        memmove(s->jtis, s->jtis + 1, (MAX_JTIS - 1) * sizeof(char *));
        s->n_jtis--;
    }
    if (s->jtis == NULL && (s->jtis = calloc(MAX_JTIS, sizeof(char *))) == NULL)
        return 0;
    s->jtis[s->n_jtis++] = strdup(jti);
    return 0;
}

/* client_credentials, with the checks of Canvas's client credentials
 * provider and JWT validator. Lock held on entry and exit. */
static int grant_client_credentials(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *type = sim_params_get(params, "client_assertion_type");
    const char *assertion = sim_params_get(params, "client_assertion");
    const char *scope = sim_params_get(params, "scope");
    char aud[160], why[200] = "";
    json_t *hdr = NULL, *claims = NULL;
    int rc;

    snprintf(aud, sizeof(aud), "%s/login/oauth2/token", p->base_url);
    if (type == NULL || strcmp(type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0 ||
        assertion == NULL || scope == NULL) {
        snprintf(why, sizeof(why), "client_assertion_type, client_assertion and scope are required");
        goto bad;
    }
    hdr = segment_json(assertion, 0);
    claims = segment_json(assertion, 1);
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    json_t *iat = json_object_get(claims, "iat"), *exp = json_object_get(claims, "exp");
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    int64_t now = (int64_t)time(NULL);
    if (hdr == NULL || claims == NULL || kid == NULL || alg == NULL || strcmp(alg, "RS256") != 0) {
        snprintf(why, sizeof(why), "the assertion is not an RS256 JWS with a kid");
        goto bad;
    }
    if (sub == NULL || strcmp(sub, p->client_id) != 0 || iss == NULL ||
        strcmp(iss, p->client_id) != 0) {
        snprintf(why, sizeof(why), "the 'sub' or 'iss' is not the client_id");
        goto bad;
    }
    if (!aud_has(json_object_get(claims, "aud"), aud)) {
        snprintf(why, sizeof(why), "the 'aud' is invalid");
        goto bad;
    }
    if (!json_is_integer(exp) || json_integer_value(exp) <= now) {
        snprintf(why, sizeof(why), "the 'exp' is invalid or in the past");
        goto bad;
    }
    if (!json_is_integer(iat) || json_integer_value(iat) > now + 30 ||
        json_integer_value(iat) < now - 300 || json_integer_value(exp) - now > 3600) {
        snprintf(why, sizeof(why), "the 'iat' is invalid");
        goto bad;
    }
    if (jti == NULL || jti[0] == '\0') {
        snprintf(why, sizeof(why), "the 'jti' is missing");
        goto bad;
    }
    /* The key set is fetched without the lock: the tool answers on its own
     * thread, and the platform's other endpoints keep working meanwhile. */
    char jwks_url[512];
    if (p->tool_jwks != NULL) {
        snprintf(jwks_url, sizeof(jwks_url), "%s", p->tool_jwks);
    } else {
        const char *path = strstr(p->tool_launch, "/hosted/");
        snprintf(jwks_url, sizeof(jwks_url), "%.*s/hosted/index/jwks",
                 (int)(path != NULL ? path - p->tool_launch : 0), p->tool_launch);
    }
    char *kid_copy = strdup(kid), *assertion_copy = strdup(assertion);
    pthread_mutex_unlock(&p->lock);
    const char *sig_why = kid_copy != NULL && assertion_copy != NULL
                              ? check_signature(jwks_url, kid_copy, assertion_copy)
                              : "out of memory";
    free(kid_copy);
    free(assertion_copy);
    pthread_mutex_lock(&p->lock);
    if (sig_why != NULL) {
        snprintf(why, sizeof(why), "%s", sig_why);
        goto bad;
    }
    if (jti_seen(p->services, jti)) {
        snprintf(why, sizeof(why), "JTI has already been used");
        goto bad;
    }
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", scope);
    for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
        if (!scope_known(t)) {
            snprintf(why, sizeof(why), "unknown scope requested");
            goto bad;
        }
    token_t *t = issue_token(p->services, 0, scope, p->services->token_ttl);
    if (t == NULL) {
        snprintf(why, sizeof(why), "out of memory");
        goto bad;
    }
    p->services->stats.tokens_issued++;
    json_t *doc = json_pack("{s:s,s:s,s:i,s:s}", "access_token", t->value, "token_type",
                            "Bearer", "expires_in", (int)p->services->token_ttl, "scope", scope);
    json_decref(hdr);
    json_decref(claims);
    pthread_mutex_unlock(&p->lock);
    lti_log(LTI_LOG_INFO, "sim", "services: access token issued");
    rc = sim_server_respond_json(req, 200, doc);
    pthread_mutex_lock(&p->lock);
    return rc;
bad:
    json_decref(hdr);
    json_decref(claims);
    pthread_mutex_unlock(&p->lock);
    rc = respond_error(req, 400, "invalid_request", why);
    pthread_mutex_lock(&p->lock);
    return rc;
}

/* The REST developer key's grants. Lock held. */
static int grant_rest(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params,
                      const char *grant)
{
    sim_services_t *s = p->services;
    const char *client_id = sim_params_get(params, "client_id");
    const char *secret = sim_params_get(params, "client_secret");
    const char *scope = NULL;
    char refresh_hex[49] = "";
    int rc;

    if (client_id == NULL || secret == NULL || strcmp(client_id, s->rest_client_id) != 0 ||
        strcmp(secret, s->rest_secret) != 0) {
        pthread_mutex_unlock(&p->lock);
        rc = respond_error(req, 401, "invalid_client", "unknown client_id or wrong secret");
        pthread_mutex_lock(&p->lock);
        return rc;
    }
    if (strcmp(grant, "authorization_code") == 0) {
        const char *code = sim_params_get(params, "code");
        json_t *rec = code != NULL ? json_incref(json_object_get(s->codes, code)) : NULL;
        const char *redirect = sim_params_get(params, "redirect_uri");
        if (rec != NULL)
            json_object_del(s->codes, code); /* single use */
        if (rec == NULL || redirect == NULL ||
            strcmp(redirect, json_string_value(json_object_get(rec, "redirect_uri"))) != 0) {
            json_decref(rec);
            pthread_mutex_unlock(&p->lock);
            rc = respond_error(req, 400, "invalid_grant", "code unknown, used or redirect_uri "
                                                          "differs");
            pthread_mutex_lock(&p->lock);
            return rc;
        }
        sim_random_hex(refresh_hex, 24);
        json_object_set_new(s->refresh, refresh_hex,
                            json_pack("{s:O}", "scope", json_object_get(rec, "scope")));
        json_decref(rec);
        scope = json_string_value(json_object_get(json_object_get(s->refresh, refresh_hex),
                                                  "scope"));
    } else {
        const char *refresh = sim_params_get(params, "refresh_token");
        json_t *rec = refresh != NULL ? json_object_get(s->refresh, refresh) : NULL;
        if (rec == NULL) {
            pthread_mutex_unlock(&p->lock);
            rc = respond_error(req, 400, "invalid_grant", "refresh_token unknown");
            pthread_mutex_lock(&p->lock);
            return rc;
        }
        scope = json_string_value(json_object_get(rec, "scope"));
        s->stats.rest_refreshes++;
    }
    token_t *t = issue_token(s, 1, scope, s->rest_token_ttl);
    s->stats.rest_tokens_issued++;
    json_t *doc = json_pack("{s:s,s:s,s:i,s:{s:i,s:s}}", "access_token", t != NULL ? t->value : "",
                            "token_type", "Bearer", "expires_in", (int)s->rest_token_ttl, "user",
                            "id", 101, "name", "Simulated User");
    if (refresh_hex[0] != '\0')
        json_object_set_new(doc, "refresh_token", json_string(refresh_hex));
    pthread_mutex_unlock(&p->lock);
    rc = sim_server_respond_json(req, 200, doc);
    pthread_mutex_lock(&p->lock);
    return rc;
}

static int handle_token(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *grant = sim_params_get(params, "grant_type");
    if (!method_is(req, "POST"))
        return sim_server_respond(req, 405, "text/plain", "use POST\n", 9);
    pthread_mutex_lock(&p->lock);
    int rc;
    int rest = grant != NULL && (strcmp(grant, "authorization_code") == 0 ||
                                 strcmp(grant, "refresh_token") == 0);
    if (rest)
        p->services->stats.rest_token_requests++;
    else
        p->services->stats.token_requests++;
    if (apply_fail(p, req, rest ? TARGET_REST : TARGET_TOKEN))
        rc = 0;
    else if (grant != NULL && strcmp(grant, "client_credentials") == 0)
        rc = grant_client_credentials(p, req, params);
    else if (rest)
        rc = grant_rest(p, req, params, grant);
    else {
        pthread_mutex_unlock(&p->lock);
        rc = respond_error(req, 400, "unsupported_grant_type", "grant_type is not supported");
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* GET /login/oauth2/auth: the simulated user approves at once. */
static int handle_auth(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *client_id = sim_params_get(params, "client_id");
    const char *redirect = sim_params_get(params, "redirect_uri");
    const char *state = sim_params_get(params, "state");
    const char *type = sim_params_get(params, "response_type");
    const char *scope = sim_params_get(params, "scope");
    char code[49];

    pthread_mutex_lock(&p->lock);
    int ok = client_id != NULL && strcmp(client_id, p->services->rest_client_id) == 0 &&
             redirect != NULL && strncmp(redirect, "http", 4) == 0 && type != NULL && strcmp(type, "code") == 0;
    if (ok) {
        sim_random_hex(code, 24);
        json_object_set_new(p->services->codes, code,
                            json_pack("{s:s,s:s}", "redirect_uri", redirect, "scope",
                                      scope != NULL ? scope : ""));
    }
    pthread_mutex_unlock(&p->lock);
    if (!ok)
        return respond_error(req, 400, "invalid_request",
                             "client_id unknown, redirect_uri missing or response_type not code");
    sim_buf_t b;
    sim_buf_init(&b, 8192);
    sim_buf_printf(&b, "%s%scode=%s", redirect, strchr(redirect, '?') != NULL ? "&" : "?", code);
    if (state != NULL) {
        sim_buf_puts(&b, "&state=");
        sim_buf_put_urlenc(&b, state);
    }
    if (b.overflow) {
        sim_buf_free(&b);
        return respond_error(req, 400, "invalid_request", "redirect_uri too long");
    }
    req->res.status = 302;
    req->res.reason = "Found";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, b.data, b.len).base, b.len);
    sim_buf_free(&b);
    h2o_send_inline(req, H2O_STRLIT("Redirecting\n"));
    return 0;
}

/* ---- bearer checks ---------------------------------------------------------- */

/* Finds the bearer token of the request. Returns the token (lock held) or
 * NULL after answering 401/403. `scope` is a required service scope, or
 * NULL for a REST token; `alt` is another scope that also suffices. */
static token_t *require_token(sim_platform_t *p, h2o_req_t *req, const char *scope,
                              const char *alt)
{
    char auth[256];
    const char *h = header(req, H2O_TOKEN_AUTHORIZATION, auth, sizeof(auth));
    double now = sim_monotonic();
    token_t *found = NULL;
    if (h != NULL && strncmp(h, "Bearer ", 7) == 0)
        for (size_t i = 0; i < p->services->n_tokens; i++)
            if (strcmp(p->services->tokens[i].value, h + 7) == 0 &&
                p->services->tokens[i].expires > now)
                found = &p->services->tokens[i];
    if (found == NULL || found->rest != (scope == NULL)) {
        pthread_mutex_unlock(&p->lock);
        respond_error(req, 401, "unauthorized", "Invalid access token");
        pthread_mutex_lock(&p->lock);
        return NULL;
    }
    if (scope != NULL) {
        char pad[1100];
        snprintf(pad, sizeof(pad), " %s ", found->scopes);
        char want[300], want2[300];
        snprintf(want, sizeof(want), " %s ", scope);
        snprintf(want2, sizeof(want2), " %s ", alt != NULL ? alt : scope);
        if (strstr(pad, want) == NULL && strstr(pad, want2) == NULL) {
            pthread_mutex_unlock(&p->lock);
            respond_error(req, 401, "unauthorized", "Insufficient scopes on access token");
            pthread_mutex_lock(&p->lock);
            return NULL;
        }
    }
    return found;
}

static int content_type_is(h2o_req_t *req, const char *want)
{
    char ct[128];
    const char *h = header(req, H2O_TOKEN_CONTENT_TYPE, ct, sizeof(ct));
    return h != NULL && strncasecmp(h, want, strlen(want)) == 0;
}

/* ---- AGS ---------------------------------------------------------------------- */

static json_t *find_item(sim_services_t *s, const char *id)
{
    size_t i;
    json_t *item;
    json_array_foreach(s->items, i, item) {
        if (strcmp(json_string_value(json_object_get(item, "id")), id) == 0)
            return item;
    }
    return NULL;
}

static json_t *item_public(json_t *item)
{
    json_t *copy = json_deep_copy(item);
    json_object_del(copy, "course");
    return copy;
}

json_t *sim_services_add_lineitem(sim_platform_t *p, const char *course, const char *label,
                                  double maximum, const char *resource_id)
{
    sim_services_t *s = p->services;
    if (json_array_size(s->items) >= MAX_ITEMS)
        return NULL;
    json_t *item = json_pack("{s:o,s:s,s:s,s:f}", "id",
                             json_sprintf("%s/api/lti/courses/%s/line_items/%zu", p->base_url,
                                          course, json_array_size(s->items) + 1),
                             "course", course, "label", label, "scoreMaximum", maximum);
    if (resource_id != NULL)
        json_object_set_new(item, "resourceId", json_string(resource_id));
    json_array_append(s->items, item);
    return item;
}

static int handle_lineitems(sim_platform_t *p, h2o_req_t *req, const char *course)
{
    sim_services_t *s = p->services;
    int post = method_is(req, "POST");
    json_t *doc = NULL;
    int status = 200;
    if (require_token(p, req, post ? SCOPE_PREFIX_AGS "lineitem" : SCOPE_PREFIX_AGS "lineitem",
                      post ? NULL : SCOPE_PREFIX_AGS "lineitem.readonly") == NULL)
        return 0;
    if (post) {
        json_error_t jerr;
        json_t *body = content_type_is(req, MT_LINEITEM) && req->entity.base != NULL
                           ? json_loadb(req->entity.base, req->entity.len, 0, &jerr)
                           : NULL;
        const char *label = json_string_value(json_object_get(body, "label"));
        json_t *max = json_object_get(body, "scoreMaximum");
        if (label == NULL || !json_is_number(max) || json_number_value(max) <= 0) {
            json_decref(body);
            pthread_mutex_unlock(&p->lock);
            respond_error(req, 400, "bad_request",
                          "a line item needs the lineitem media type, a label and scoreMaximum");
            pthread_mutex_lock(&p->lock);
            return 0;
        }
        json_t *item = sim_services_add_lineitem(
            p, course, label, json_number_value(max),
            json_string_value(json_object_get(body, "resourceId")));
        if (item != NULL) {
            const char *keys[] = {"tag", "resourceLinkId"};
            for (size_t i = 0; i < 2; i++)
                if (json_is_string(json_object_get(body, keys[i])))
                    json_object_set(item, keys[i], json_object_get(body, keys[i]));
            doc = item_public(item);
            json_decref(item);
        }
        json_decref(body);
        s->stats.lineitems_created++;
    } else {
        doc = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(s->items, i, item) {
            if (strcmp(json_string_value(json_object_get(item, "course")), course) == 0)
                json_array_append_new(doc, item_public(item));
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (doc == NULL)
        respond_error(req, 500, "server_error", "too many line items");
    else {
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        sim_server_respond(req, status, post ? MT_LINEITEM : MT_LINEITEMS, text, strlen(text));
        free(text);
    }
    pthread_mutex_lock(&p->lock);
    return 0;
}

static int valid_in(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int handle_scores(sim_platform_t *p, h2o_req_t *req, const char *item_id)
{
    static const char *const activities[] = {"Initialized", "Started", "InProgress", "Submitted",
                                             "Completed"};
    static const char *const gradings[] = {"FullyGraded", "Pending", "PendingManual", "Failed",
                                           "NotReady"};
    json_error_t jerr;
    if (require_token(p, req, SCOPE_PREFIX_AGS "score", NULL) == NULL)
        return 0;
    json_t *item = find_item(p->services, item_id);
    json_t *body = content_type_is(req, MT_SCORE) && req->entity.base != NULL
                       ? json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES,
                                    &jerr)
                       : NULL;
    const char *user = json_string_value(json_object_get(body, "userId"));
    json_t *given = json_object_get(body, "scoreGiven");
    json_t *max = json_object_get(body, "scoreMaximum");
    const char *why = NULL;
    if (item == NULL)
        why = "line item not found";
    else if (body == NULL)
        why = "the body must be a score in application/vnd.ims.lis.v1.score+json";
    else if (user == NULL || !json_is_string(json_object_get(body, "timestamp")) ||
             !valid_in(json_string_value(json_object_get(body, "activityProgress")), activities,
                       5) ||
             !valid_in(json_string_value(json_object_get(body, "gradingProgress")), gradings, 5))
        why = "userId, timestamp, activityProgress and gradingProgress are required";
    else if (given != NULL && (!json_is_number(given) || !json_is_number(max) ||
                               json_number_value(given) < 0 || json_number_value(max) <= 0))
        why = "scoreGiven needs a positive scoreMaximum";
    if (why != NULL) {
        json_decref(body);
        pthread_mutex_unlock(&p->lock);
        respond_error(req, item == NULL ? 404 : 422, "bad_request", why);
        pthread_mutex_lock(&p->lock);
        return 0;
    }
    /* One result per user and line item: a newer score replaces it. */
    size_t i;
    json_t *old;
    json_array_foreach(p->services->scores, i, old) {
        if (strcmp(json_string_value(json_object_get(old, "lineitem")), item_id) == 0 &&
            strcmp(json_string_value(json_object_get(old, "userId")), user) == 0) {
            json_array_remove(p->services->scores, i);
            break;
        }
    }
    if (json_array_size(p->services->scores) >= MAX_SCORES)
        json_array_remove(p->services->scores, 0);
    json_object_set_new(body, "lineitem", json_string(item_id));
    json_array_append_new(p->services->scores, body);
    p->services->stats.scores_received++;
    json_t *doc = json_pack("{s:o}", "resultUrl",
                            json_sprintf("%s/results/%s", item_id, user));
    pthread_mutex_unlock(&p->lock);
    sim_server_respond_json(req, 200, doc);
    pthread_mutex_lock(&p->lock);
    return 0;
}

static int handle_results(sim_platform_t *p, h2o_req_t *req, const char *item_id)
{
    if (require_token(p, req, SCOPE_PREFIX_AGS "result.readonly", NULL) == NULL)
        return 0;
    json_t *doc = json_array();
    size_t i;
    json_t *sc;
    json_array_foreach(p->services->scores, i, sc) {
        if (strcmp(json_string_value(json_object_get(sc, "lineitem")), item_id) != 0)
            continue;
        json_t *r = json_pack("{s:o,s:O,s:s}", "id",
                              json_sprintf("%s/results/%s", item_id,
                                           json_string_value(json_object_get(sc, "userId"))),
                              "userId", json_object_get(sc, "userId"), "scoreOf", item_id);
        if (json_object_get(sc, "scoreGiven") != NULL) {
            json_object_set(r, "resultScore", json_object_get(sc, "scoreGiven"));
            json_object_set(r, "resultMaximum", json_object_get(sc, "scoreMaximum"));
        }
        json_array_append_new(doc, r);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    pthread_mutex_unlock(&p->lock);
    sim_server_respond(req, 200, MT_RESULTS, text, strlen(text));
    free(text);
    pthread_mutex_lock(&p->lock);
    return 0;
}

/* ---- NRPS ---------------------------------------------------------------------- */

static json_t *member(unsigned i)
{
    static const char *const names[] = {"jdoe", "asmith"};
    char user[32], sub[37], name[64];
    if (i < 2)
        snprintf(user, sizeof(user), "%s", names[i]);
    else
        snprintf(user, sizeof(user), "student%u", i + 1);
    sim_derived_uuid("sub", user, sub);
    if (i == 0)
        snprintf(name, sizeof(name), "Jane Doe");
    else if (i == 1)
        snprintf(name, sizeof(name), "Ann Smith");
    else
        snprintf(name, sizeof(name), "Student %u", i + 1);
    const char *role = i == 0 ? "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
                              : "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
    return json_pack("{s:s,s:s,s:s,s:s,s:[s]}", "status", "Active", "name", name, "user_id", sub,
                     "email", "", "roles", role);
}

static int handle_memberships(sim_platform_t *p, h2o_req_t *req, const char *course,
                              const sim_params_t *params)
{
    sim_services_t *s = p->services;
    if (require_token(p, req, SCOPE_NRPS, NULL) == NULL)
        return 0;
    const char *page_text = sim_params_get(params, "page");
    int64_t page = 1;
    if (page_text != NULL && (sim_parse_i64(page_text, &page) != 0 || page < 1))
        page = 1;
    unsigned size = s->page_size, total = s->roster_size;
    unsigned first = (unsigned)(page - 1) * size;
    json_t *members = json_array();
    for (unsigned i = first; i < total && i < first + size; i++)
        json_array_append_new(members, member(i));
    json_t *doc = json_pack("{s:o,s:{s:o,s:o,s:s},s:o}", "id",
                            json_sprintf("%s/api/lti/courses/%s/names_and_roles", p->base_url,
                                         course),
                            "context", "id", json_sprintf("ctx-%s", course), "label",
                            json_sprintf("C%s", course), "title", "Course", "members", members);
    int more = first + size < total;
    char link[400];
    snprintf(link, sizeof(link), "<%s/api/lti/courses/%s/names_and_roles?page=%lld&limit=%u>; "
             "rel=\"next\"", p->base_url, course, (long long)page + 1, size);
    s->stats.nrps_pages++;
    pthread_mutex_unlock(&p->lock);
    if (more)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("link"), 0, NULL,
                              h2o_strdup(&req->pool, link, SIZE_MAX).base, strlen(link));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    sim_server_respond(req, 200, MT_MEMBERS, text, strlen(text));
    free(text);
    pthread_mutex_lock(&p->lock);
    return 0;
}

/* ---- Canvas REST ----------------------------------------------------------------- */

static int handle_rest(sim_platform_t *p, h2o_req_t *req, const char *path)
{
    token_t *t = require_token(p, req, NULL, NULL);
    if (t == NULL)
        return 0;
    json_t *doc = NULL;
    int status = 200;
    p->services->stats.rest_calls++;
    if (strcmp(path, "/api/v1/courses") == 0) {
        doc = json_pack("[{s:i,s:s,s:s},{s:i,s:s,s:s}]", "id", 1234, "name", "Course 1234",
                        "course_code", "C1234", "id", 5678, "name", "Course 5678", "course_code",
                        "C5678");
    } else if (strncmp(path, "/api/v1/courses/", 16) == 0) {
        int64_t id = 0;
        if (sim_parse_i64(path + 16, &id) == 0 && (id == 1234 || id == 5678))
            doc = json_pack("{s:I,s:o,s:o}", "id", (json_int_t)id, "name",
                            json_sprintf("Course %lld", (long long)id), "course_code",
                            json_sprintf("C%lld", (long long)id));
        else
            status = 404;
    } else if (strcmp(path, "/api/v1/users/self/profile") == 0) {
        if (strstr(t->scopes, "url:GET|/api/v1/users/:user_id/profile") == NULL)
            status = 401; /* Canvas: insufficient scopes on the access token */
        else
            doc = json_pack("{s:i,s:s,s:s}", "id", 101, "name", "Simulated User", "short_name",
                            "Simulated");
    } else {
        status = 404;
    }
    pthread_mutex_unlock(&p->lock);
    if (doc == NULL)
        respond_error(req, status, status == 401 ? "unauthorized" : "not_found",
                      status == 401 ? "Insufficient scopes on access token" : "not found");
    else
        sim_server_respond_json(req, 200, doc);
    pthread_mutex_lock(&p->lock);
    return 0;
}

/* ---- controls ---------------------------------------------------------------------- */

static int handle_fail(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    const char *target = sim_params_get(params, "target");
    const char *mode = sim_params_get(params, "mode");
    const char *count_text = sim_params_get(params, "count");
    int64_t count = 1;
    int t = -1;
    for (int i = 0; target != NULL && i < TARGET_COUNT; i++)
        if (strcmp(target, target_names[i]) == 0)
            t = i;
    static const char *const modes[] = {"401", "403", "404", "500", "timeout", "garbage"};
    if (t < 0 || !valid_in(mode, modes, 6) ||
        (count_text != NULL && (sim_parse_i64(count_text, &count) != 0 || count < 0 ||
                                count > 1000)))
        return sim_server_respond(req, 400, "text/plain",
                                  "target token|ags|nrps|rest, mode 401|403|404|500|timeout|"
                                  "garbage, count 0-1000\n", 78);
    pthread_mutex_lock(&p->lock);
    snprintf(p->services->fail[t].mode, sizeof(p->services->fail[t].mode), "%s", mode);
    p->services->fail[t].count = (unsigned)count;
    pthread_mutex_unlock(&p->lock);
    return sim_server_respond_json(req, 200, json_pack("{s:s,s:s,s:I}", "target", target, "mode",
                                                       mode, "count", (json_int_t)count));
}

static int handle_config(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    static const char *const names[] = {"token_ttl", "rest_token_ttl", "roster_size",
                                        "page_size"};
    pthread_mutex_lock(&p->lock);
    unsigned *fields[] = {&p->services->token_ttl, &p->services->rest_token_ttl,
                          &p->services->roster_size, &p->services->page_size};
    for (size_t i = 0; i < 4; i++) {
        const char *v = sim_params_get(params, names[i]);
        int64_t n;
        if (v == NULL)
            continue;
        if (sim_parse_i64(v, &n) != 0 || n < 1 || n > 100000) {
            pthread_mutex_unlock(&p->lock);
            return sim_server_respond(req, 400, "text/plain", "values are 1 to 100000\n", 23);
        }
        *fields[i] = (unsigned)n;
    }
    json_t *doc = json_pack("{s:i,s:i,s:i,s:i}", names[0], (int)*fields[0], names[1],
                            (int)*fields[1], names[2], (int)*fields[2], names[3],
                            (int)*fields[3]);
    pthread_mutex_unlock(&p->lock);
    return sim_server_respond_json(req, 200, doc);
}

json_t *sim_services_stats_json(sim_platform_t *p)
{
    sim_services_stats_t s;
    sim_services_get_stats(p, &s);
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "token_requests",
                     (json_int_t)s.token_requests, "tokens_issued", (json_int_t)s.tokens_issued,
                     "scores_received", (json_int_t)s.scores_received, "lineitems_created",
                     (json_int_t)s.lineitems_created, "nrps_pages", (json_int_t)s.nrps_pages,
                     "rest_token_requests", (json_int_t)s.rest_token_requests,
                     "rest_refreshes", (json_int_t)s.rest_refreshes, "rest_calls",
                     (json_int_t)s.rest_calls);
}

/* ---- routing ------------------------------------------------------------------------- */

/* Splits /api/lti/courses/C/REST into C and REST. */
static int course_path(const char *path, char *course, size_t clen, const char **rest)
{
    static const char prefix[] = "/api/lti/courses/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *c = path + sizeof(prefix) - 1;
    size_t n = strspn(c, "0123456789");
    if (n == 0 || n >= clen || c[n] != '/')
        return -1;
    memcpy(course, c, n);
    course[n] = '\0';
    *rest = c + n;
    return 0;
}

static int route_lti(sim_platform_t *p, h2o_req_t *req, const char *path,
                     const sim_params_t *params)
{
    char course[24];
    const char *rest;
    if (course_path(path, course, sizeof(course), &rest) != 0)
        return SIM_SVC_UNHANDLED;
    int get = method_is(req, "GET"), post = method_is(req, "POST");
    if (strcmp(rest, "/names_and_roles") == 0 && get) {
        if (!apply_fail(p, req, TARGET_NRPS))
            handle_memberships(p, req, course, params);
        return 0;
    }
    if (strcmp(rest, "/line_items") == 0 && (get || post)) {
        if (!apply_fail(p, req, TARGET_AGS))
            handle_lineitems(p, req, course);
        return 0;
    }
    if (strncmp(rest, "/line_items/", 12) != 0)
        return SIM_SVC_UNHANDLED;
    size_t n = strspn(rest + 12, "0123456789");
    const char *tail = rest + 12 + n;
    char id[256];
    snprintf(id, sizeof(id), "%s%.*s", p->base_url, (int)(tail - path), path);
    if (n == 0)
        return SIM_SVC_UNHANDLED;
    if (apply_fail(p, req, TARGET_AGS))
        return 0;
    if (strcmp(tail, "/scores") == 0 && post)
        return handle_scores(p, req, id);
    if (strcmp(tail, "/results") == 0 && get)
        return handle_results(p, req, id);
    if (tail[0] == '\0' && get) {
        if (require_token(p, req, SCOPE_PREFIX_AGS "lineitem",
                          SCOPE_PREFIX_AGS "lineitem.readonly") == NULL)
            return 0;
        json_t *item = find_item(p->services, id);
        json_t *doc = item != NULL ? item_public(item) : NULL;
        pthread_mutex_unlock(&p->lock);
        if (doc == NULL)
            respond_error(req, 404, "not_found", "line item not found");
        else
            sim_server_respond_json(req, 200, doc);
        pthread_mutex_lock(&p->lock);
        return 0;
    }
    return SIM_SVC_UNHANDLED;
}

int sim_services_on_req(sim_platform_t *p, h2o_req_t *req, const sim_params_t *params)
{
    char path[512];
    int rc;
    if (req->path_normalized.len >= sizeof(path))
        return SIM_SVC_UNHANDLED;
    memcpy(path, req->path_normalized.base, req->path_normalized.len);
    path[req->path_normalized.len] = '\0';

    pthread_mutex_lock(&p->lock);
    if (p->services == NULL && (p->services = sim_services_new()) == NULL) {
        pthread_mutex_unlock(&p->lock);
        return SIM_SVC_UNHANDLED;
    }
    pthread_mutex_unlock(&p->lock);

    if (strcmp(path, "/login/oauth2/token") == 0)
        return handle_token(p, req, params);
    if (strcmp(path, "/login/oauth2/auth") == 0)
        return handle_auth(p, req, params);
    if (strcmp(path, "/sim/scores") == 0) {
        pthread_mutex_lock(&p->lock);
        json_t *doc = json_pack("{s:O}", "scores", p->services->scores);
        pthread_mutex_unlock(&p->lock);
        return sim_server_respond_json(req, 200, doc);
    }
    if (strcmp(path, "/sim/services/stats") == 0)
        return sim_server_respond_json(req, 200, sim_services_stats_json(p));
    if (strcmp(path, "/sim/services/fail") == 0 && method_is(req, "POST"))
        return handle_fail(p, req, params);
    if (strcmp(path, "/sim/services/config") == 0 && method_is(req, "POST"))
        return handle_config(p, req, params);
    if (strcmp(path, "/sim/services/revoke") == 0 && method_is(req, "POST")) {
        sim_services_revoke(p);
        return sim_server_respond_json(req, 200, json_pack("{s:b}", "revoked", 1));
    }
    if (strcmp(path, "/sim/lineitems") == 0 && method_is(req, "POST")) {
        const char *course = sim_params_get(params, "course");
        const char *label = sim_params_get(params, "label");
        const char *max = sim_params_get(params, "scoreMaximum");
        int64_t m = 0;
        if (course == NULL || strspn(course, "0123456789") != strlen(course) || label == NULL ||
            max == NULL || sim_parse_i64(max, &m) != 0 || m <= 0)
            return sim_server_respond(req, 400, "text/plain",
                                      "course (digits), label and scoreMaximum are required\n",
                                      53);
        pthread_mutex_lock(&p->lock);
        json_t *item = sim_services_add_lineitem(p, course, label, (double)m,
                                                 sim_params_get(params, "resourceId"));
        json_t *doc = item != NULL ? item_public(item) : NULL;
        json_decref(item);
        pthread_mutex_unlock(&p->lock);
        return doc != NULL ? sim_server_respond_json(req, 200, doc)
                           : sim_server_respond(req, 500, "text/plain", "too many\n", 9);
    }
    if (strncmp(path, "/api/v1/", 8) == 0) {
        pthread_mutex_lock(&p->lock);
        if (!apply_fail(p, req, TARGET_REST))
            rc = handle_rest(p, req, path);
        else
            rc = 0;
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    if (strncmp(path, "/api/lti/courses/", 17) == 0) {
        pthread_mutex_lock(&p->lock);
        rc = route_lti(p, req, path, params);
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    return SIM_SVC_UNHANDLED;
}

/* ---- in-process control ------------------------------------------------------------- */

static int ensure(sim_platform_t *p)
{
    if (p->services == NULL)
        p->services = sim_services_new();
    return p->services != NULL ? 0 : -1;
}

void sim_services_get_stats(sim_platform_t *p, sim_services_stats_t *out)
{
    pthread_mutex_lock(&p->lock);
    if (ensure(p) == 0)
        *out = p->services->stats;
    else
        memset(out, 0, sizeof(*out));
    pthread_mutex_unlock(&p->lock);
}

void sim_services_revoke(sim_platform_t *p)
{
    pthread_mutex_lock(&p->lock);
    if (ensure(p) == 0)
        for (size_t i = p->services->n_tokens; i > 0; i--)
            if (!p->services->tokens[i - 1].rest)
                p->services->tokens[i - 1] = p->services->tokens[--p->services->n_tokens];
    pthread_mutex_unlock(&p->lock);
}

int sim_services_set_fail(sim_platform_t *p, const char *target, const char *mode,
                          unsigned count)
{
    int rc = -1;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; ensure(p) == 0 && i < TARGET_COUNT; i++)
        if (strcmp(target, target_names[i]) == 0) {
            snprintf(p->services->fail[i].mode, sizeof(p->services->fail[i].mode), "%s", mode);
            p->services->fail[i].count = count;
            rc = 0;
        }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void sim_services_configure(sim_platform_t *p, unsigned token_ttl, unsigned rest_token_ttl,
                            unsigned roster_size, unsigned page_size)
{
    pthread_mutex_lock(&p->lock);
    if (ensure(p) == 0) {
        if (token_ttl != 0)
            p->services->token_ttl = token_ttl;
        if (rest_token_ttl != 0)
            p->services->rest_token_ttl = rest_token_ttl;
        if (roster_size != 0)
            p->services->roster_size = roster_size;
        if (page_size != 0)
            p->services->page_size = page_size;
    }
    pthread_mutex_unlock(&p->lock);
}

char *sim_services_lineitem(sim_platform_t *p, const char *course, const char *label,
                            double maximum)
{
    pthread_mutex_lock(&p->lock);
    json_t *item = ensure(p) == 0 ? sim_services_add_lineitem(p, course, label, maximum, NULL)
                                  : NULL;
    char *id = item != NULL ? strdup(json_string_value(json_object_get(item, "id"))) : NULL;
    json_decref(item);
    pthread_mutex_unlock(&p->lock);
    return id;
}

json_t *sim_services_scores(sim_platform_t *p)
{
    pthread_mutex_lock(&p->lock);
    json_t *copy = ensure(p) == 0 ? json_deep_copy(p->services->scores) : json_array();
    pthread_mutex_unlock(&p->lock);
    return copy;
}
