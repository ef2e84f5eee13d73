/* SPDX-License-Identifier: MIT */
/*
 * Verification of deep-linking responses at the platform's return URL
 * (sim_dl.h). Written against OpenSSL and jansson directly; it shares no
 * code with ltigate's own token checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include "sim_dl.h"
#include "sim_int.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
#define DL_CLAIM "https://purl.imsglobal.org/spec/lti-dl/claim/"

static size_t on_jwks_body(char *data, size_t size, size_t nmemb, void *arg)
{
    sim_buf_t *buf = arg;
    return sim_buf_append(buf, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Returns 1 for an http(s) URL whose host is a loopback address. */
static int url_is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
             sim_host_is_loopback(host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* Fetches the tool's key set. Returns the parsed document or NULL with a
 * message in `err`. */
static json_t *fetch_jwks(const char *url, long timeout_ms, char *err, size_t errlen)
{
    sim_buf_t body;
    long status = 0;
    json_t *doc = NULL;

    if (!url_is_loopback(url)) {
        snprintf(err, errlen, "the tool's public_jwk_url is not a loopback http(s) URL");
        return NULL;
    }
    sim_buf_init(&body, SIM_DL_JWKS_MAX);
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return NULL;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_jwks_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    CURLcode cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (cc != CURLE_OK || status != 200 || body.data == NULL) {
        snprintf(err, errlen, "fetching the tool's key set failed (%s, HTTP %ld)",
                 body.overflow ? "larger than 64 KiB" : curl_easy_strerror(cc), status);
    } else {
        json_error_t jerr;
        doc = json_loads(body.data, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_array(json_object_get(doc, "keys"))) {
            snprintf(err, errlen, "the tool's key set is not {\"keys\": [...]}");
            json_decref(doc);
            doc = NULL;
        }
    }
    sim_buf_free(&body);
    return doc;
}

static BIGNUM *b64_bignum(const char *s)
{
    size_t len = 0;
    unsigned char *bytes = s != NULL ? sim_b64url_decode(s, strlen(s), &len) : NULL;
    BIGNUM *bn = bytes != NULL ? BN_bin2bn(bytes, (int)len, NULL) : NULL;
    free(bytes);
    return bn;
}

/* Builds the RSA public key of a JWK; NULL when it is not an RS256 key. */
static EVP_PKEY *jwk_to_key(json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    BIGNUM *n = b64_bignum(json_string_value(json_object_get(jwk, "n")));
    BIGNUM *e = b64_bignum(json_string_value(json_object_get(jwk, "e")));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (kty == NULL || strcmp(kty, "RSA") != 0 || (alg != NULL && strcmp(alg, "RS256") != 0) ||
        n == NULL || e == NULL || bld == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

static int verify_rs256(EVP_PKEY *key, const char *input, size_t len, const unsigned char *sig,
                        size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

typedef struct verify_state {
    json_t *report;
    const char *stage; /* the check that ran last: token, key, signature or claims */
    char error[300];
} verify_state_t;

static int fail(verify_state_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(verify_state_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof(st->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* Checks the signature: header alg and kid, the kid in the key set `jwks`. */
static int check_signature(verify_state_t *st, const char *jwt, json_t *jwks)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    size_t header_len = 0, sig_len = 0;
    unsigned char *header_text = NULL, *sig = NULL;
    json_t *header = NULL;
    EVP_PKEY *key = NULL;
    int rc = -1;

    st->stage = "token";
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        fail(st, "the JWT is not a compact JWS of three segments");
        goto out;
    }
    header_text = sim_b64url_decode(jwt, (size_t)(dot1 - jwt), &header_len);
    sig = sim_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    json_error_t jerr;
    header = header_text != NULL ? json_loads((char *)header_text, 0, &jerr) : NULL;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    if (alg == NULL || strcmp(alg, "RS256") != 0 || kid == NULL || sig == NULL) {
        fail(st, "the JWT header needs alg RS256 and a kid");
        goto out;
    }
    json_object_set_new(st->report, "kid", json_string(kid));
    size_t i;
    json_t *jwk;
    json_array_foreach(json_object_get(jwks, "keys"), i, jwk) {
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        if (k != NULL && strcmp(k, kid) == 0 && key == NULL)
            key = jwk_to_key(jwk);
    }
    if (key == NULL) {
        st->stage = "key";
        fail(st, "JWT verification failure: no RS256 key with the JWT's kid at public_jwk_url");
        goto out;
    }
    st->stage = "signature";
    if (!verify_rs256(key, jwt, (size_t)(dot2 - jwt), sig, sig_len)) {
        fail(st, "JWT verification failure: the signature does not verify");
        goto out;
    }
    rc = 0;
out:
    free(header_text);
    free(sig);
    json_decref(header);
    EVP_PKEY_free(key);
    return rc;
}

static int aud_contains(json_t *aud, const char *issuer)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), issuer) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), issuer) == 0)
            return 1;
    }
    return 0;
}

static int claim_is(json_t *payload, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(payload, name));
    return v != NULL && want != NULL && strcmp(v, want) == 0;
}

static int check_claims(verify_state_t *st, const sim_dl_expect_t *e, json_t *p)
{
    json_t *iat = json_object_get(p, "iat"), *exp = json_object_get(p, "exp");
    const char *nonce = json_string_value(json_object_get(p, "nonce"));
    int64_t now = (int64_t)time(NULL);

    if (!claim_is(p, "iss", e->client_id))
        return fail(st, "iss is not the developer key's client_id");
    if (!aud_contains(json_object_get(p, "aud"), e->issuer))
        return fail(st, "aud does not contain the platform issuer");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now)
        return fail(st, "exp is missing or in the past");
    if (!json_is_integer(iat) || json_integer_value(iat) < now - SIM_DL_MAX_AGE ||
        json_integer_value(iat) > now + SIM_DL_MAX_FUTURE)
        return fail(st, "iat is missing, older than 5 minutes or in the future");
    if (nonce == NULL || nonce[0] == '\0')
        return fail(st, "the JWT assertions are missing a nonce");
    if (!claim_is(p, CLAIM "message_type", "LtiDeepLinkingResponse"))
        return fail(st, "message_type is not LtiDeepLinkingResponse");
    if (!claim_is(p, CLAIM "version", "1.3.0"))
        return fail(st, "version is not 1.3.0");
    if (!claim_is(p, CLAIM "deployment_id", e->deployment_id))
        return fail(st, "deployment_id is not the deployment of the request");
    if (e->settings == NULL)
        return fail(st, "the return URL names no deep linking request of this platform");
    json_t *sent = json_object_get(e->settings, "data");
    json_t *echoed = json_object_get(p, DL_CLAIM "data");
    if (sent != NULL && !json_equal(sent, echoed))
        return fail(st, "data was not echoed unchanged");
    return 0;
}

static int accepts(json_t *settings, const char *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(settings, list), i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return 1;
    }
    return 0;
}

/* Describes what Canvas creates for one item in this placement. */
static json_t *embed_for(const char *placement, json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    json_t *iframe = json_object_get(item, "iframe");
    json_t *out = json_pack("{s:s,s:O,s:O}", "type", type, "title",
                            json_object_get(item, "title") ? json_object_get(item, "title")
                                                           : json_null(),
                            "url", json_object_get(item, "url") ? json_object_get(item, "url")
                                                                : json_null());
    const char *kind = "link";
    if (strcmp(placement, "editor_button") == 0)
        kind = iframe != NULL ? "rce_iframe" : "rce_link";
    else if (strcmp(placement, "link_selection") == 0)
        kind = json_object_get(item, "lineItem") != NULL ? "assignment" : "module_item";
    else if (strcmp(placement, "assignment_selection") == 0)
        kind = "assignment_external_tool";
    json_object_set_new(out, "kind", json_string(kind));
    if (iframe != NULL)
        json_object_set(out, "iframe", iframe);
    if (json_object_get(item, "custom") != NULL)
        json_object_set(out, "custom", json_object_get(item, "custom"));
    if (json_object_get(item, "lineItem") != NULL)
        json_object_set(out, "lineItem", json_object_get(item, "lineItem"));
    return out;
}

/* Returns 1 when `url` has the scheme, host and port of `tool_url`, the
 * domain match Canvas applies to returned LTI links. */
static int same_origin(const char *url, const char *tool_url)
{
    const char *tool_host = strstr(tool_url, "://");
    if (tool_host == NULL)
        return 0;
    size_t origin_len = (size_t)(tool_host + 3 - tool_url) + strcspn(tool_host + 3, "/?#");
    return strncmp(url, tool_url, origin_len) == 0 &&
           (url[origin_len] == '\0' || url[origin_len] == '/' || url[origin_len] == '?');
}

static int check_items(verify_state_t *st, const sim_dl_expect_t *e, json_t *p)
{
    json_t *items = json_object_get(p, DL_CLAIM "content_items");
    json_t *embed = json_array();
    size_t i;
    json_t *item;

    json_object_set_new(st->report, "embed", embed);
    json_object_set_new(st->report, "items", json_integer(0));
    if (items == NULL)
        return 0; /* Canvas treats a missing list like an empty one: nothing to embed */
    if (!json_is_array(items))
        return fail(st, "content_items is not an array");
    json_object_set_new(st->report, "items", json_integer((json_int_t)json_array_size(items)));
    if (json_array_size(items) > 1 && !json_is_true(json_object_get(e->settings,
                                                                     "accept_multiple")))
        return fail(st, "%zu content items, but the request accepts one", json_array_size(items));
    json_array_foreach(items, i, item) {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!json_is_object(item) || type == NULL)
            return fail(st, "content item %zu has no type", i);
        if (!accepts(e->settings, "accept_types", type))
            return fail(st, "content item %zu has type %s, not in accept_types", i, type);
        if (json_object_get(item, "iframe") != NULL &&
            !accepts(e->settings, "accept_presentation_document_targets", "iframe") &&
            !accepts(e->settings, "accept_presentation_document_targets", "embed"))
            return fail(st, "content item %zu asks for an iframe the request does not accept", i);
        json_t *url = json_object_get(item, "url");
        if (strcmp(type, "ltiResourceLink") == 0 && url != NULL &&
            (!json_is_string(url) ||
             (e->tool_url != NULL && !same_origin(json_string_value(url), e->tool_url))))
            return fail(st, "content item %zu has a url outside the tool's domain", i);
        json_array_append_new(embed, embed_for(e->placement != NULL ? e->placement : "", item));
    }
    return 0;
}

json_t *sim_dl_verify(const sim_dl_expect_t *expect, const char *jwks_url, const char *jwt,
                      long timeout_ms)
{
    char err[300] = "";
    json_t *jwks = NULL;

    if (jwks_url == NULL)
        snprintf(err, sizeof(err), "no public_jwk_url is configured for the tool");
    else
        jwks = fetch_jwks(jwks_url, timeout_ms, err, sizeof(err));
    if (jwks == NULL)
        return json_pack("{s:o,s:b,s:s,s:s}", "placement",
                         expect->placement != NULL ? json_string(expect->placement) : json_null(),
                         "valid", 0, "error", err, "stage", "key");
    json_t *report = sim_dl_verify_keys(expect, jwks, jwt);
    json_decref(jwks);
    return report;
}

json_t *sim_dl_verify_keys(const sim_dl_expect_t *expect, json_t *jwks, const char *jwt)
{
    verify_state_t st = {.report = json_object()};
    json_t *payload = NULL;

    json_object_set_new(st.report, "placement",
                        expect->placement != NULL ? json_string(expect->placement) : json_null());
    if (check_signature(&st, jwt, jwks) == 0) {
        st.stage = "claims";
        const char *dot1 = strchr(jwt, '.');
        const char *dot2 = strchr(dot1 + 1, '.');
        size_t len = 0;
        unsigned char *text = sim_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
        json_error_t jerr;
        payload = text != NULL ? json_loads((char *)text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        free(text);
        if (!json_is_object(payload))
            fail(&st, "the JWT payload is not a JSON object");
        else if (check_claims(&st, expect, payload) == 0 &&
                 check_items(&st, expect, payload) == 0) {
            json_t *msg = json_object_get(payload, DL_CLAIM "msg");
            json_t *errormsg = json_object_get(payload, DL_CLAIM "errormsg");
            json_object_set(st.report, "msg", msg != NULL ? msg : json_null());
            json_object_set(st.report, "errormsg", errormsg != NULL ? errormsg : json_null());
        }
    }
    json_object_set_new(st.report, "valid", json_boolean(st.error[0] == '\0'));
    json_object_set_new(st.report, "error",
                        st.error[0] != '\0' ? json_string(st.error) : json_null());
    json_object_set_new(st.report, "stage", st.error[0] != '\0' && st.stage != NULL
                                                ? json_string(st.stage)
                                                : json_null());
    json_decref(payload);
    return st.report;
}
