/* SPDX-License-Identifier: MIT */
/*
 * deep_linking_settings of an LtiDeepLinkingRequest (LTI Deep Linking 2.0
 * §4.4.1) and the selection context kept between the launch and the
 * response (lti/deeplink.h).
 */
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "lti/deeplink.h"
#include "lti/jwt.h"

#define NAME_MAX_LEN 64

static const char *const type_names[] = {"ltiResourceLink", "link", "file", "html", "image"};
static const char *const target_names[] = {"iframe", "window", "embed"};

/* Reads a non-empty array of short strings into a bit mask of the names
 * known in `names`. Unknown names are skipped, because later versions of
 * the specification may add types. */
static lti_reason_t read_names(json_t *settings, const char *key, const char *const *names,
                               size_t n_names, unsigned *mask, lti_err_t *err)
{
    json_t *list = json_object_get(settings, key);
    size_t i;
    json_t *v;

    *mask = 0;
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > LTI_DL_MAX_LIST)
        return lti_err_set(err, LTI_R_dl_settings_invalid,
                           "deep_linking_settings.%s is not an array of 1 to %d strings", key,
                           LTI_DL_MAX_LIST);
    json_array_foreach(list, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > NAME_MAX_LEN)
            return lti_err_set(err, LTI_R_dl_settings_invalid,
                               "deep_linking_settings.%s[%zu] is not a string of 1 to %d bytes",
                               key, i, NAME_MAX_LEN);
        for (size_t k = 0; k < n_names; k++)
            if (strcmp(json_string_value(v), names[k]) == 0)
                *mask |= 1u << k;
    }
    return LTI_R_ok;
}

static lti_reason_t read_bool(json_t *settings, const char *key, int absent, int *out,
                              lti_err_t *err)
{
    json_t *v = json_object_get(settings, key);
    if (v == NULL) {
        *out = absent;
        return LTI_R_ok;
    }
    if (!json_is_boolean(v))
        return lti_err_set(err, LTI_R_dl_settings_invalid,
                           "deep_linking_settings.%s is not a boolean", key);
    *out = json_is_true(v);
    return LTI_R_ok;
}

static lti_reason_t read_text(json_t *settings, const char *key, size_t max, const char **out,
                              lti_err_t *err)
{
    json_t *v = json_object_get(settings, key);
    *out = NULL;
    if (v == NULL)
        return LTI_R_ok;
    if (!json_is_string(v) || json_string_length(v) > max)
        return lti_err_set(err, LTI_R_dl_settings_invalid,
                           "deep_linking_settings.%s is not a string of at most %zu bytes", key,
                           max);
    *out = json_string_value(v);
    return LTI_R_ok;
}

lti_reason_t lti_dl_settings_parse(json_t *settings, lti_dl_settings_t *out, lti_err_t *err)
{
    lti_reason_t r;
    int auto_create = 0;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(settings))
        return lti_err_set(err, LTI_R_dl_settings_missing,
                           "deep_linking_settings is missing or not an object");
    json_t *url = json_object_get(settings, "deep_link_return_url");
    if (!json_is_string(url) || json_string_length(url) == 0)
        return lti_err_set(err, LTI_R_dl_settings_missing,
                           "deep_linking_settings.deep_link_return_url is missing or empty");
    const char *u = json_string_value(url);
    size_t ulen = json_string_length(url);
    if (ulen > LTI_DL_MAX_RETURN_URL)
        return lti_err_set(err, LTI_R_dl_settings_invalid,
                           "deep_link_return_url is %zu bytes, more than %d", ulen,
                           LTI_DL_MAX_RETURN_URL);
    if (strlen(u) != ulen || (strncasecmp(u, "https://", 8) != 0 &&
                              strncasecmp(u, "http://", 7) != 0))
        return lti_err_set(err, LTI_R_dl_settings_invalid,
                           "deep_link_return_url is not an http(s) URL");
    for (size_t i = 0; i < ulen; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
            return lti_err_set(err, LTI_R_dl_settings_invalid,
                               "deep_link_return_url contains a space or control character");
    out->return_url = u;

    if ((r = read_names(settings, "accept_types", type_names, 5, &out->accept_types, err)) !=
            LTI_R_ok ||
        (r = read_names(settings, "accept_presentation_document_targets", target_names, 3,
                        &out->targets, err)) != LTI_R_ok ||
        (r = read_bool(settings, "accept_multiple", 0, &out->accept_multiple, err)) != LTI_R_ok ||
        (r = read_bool(settings, "accept_lineitem", 1, &out->accept_lineitem, err)) != LTI_R_ok ||
        (r = read_bool(settings, "auto_create", 0, &auto_create, err)) != LTI_R_ok ||
        (r = read_text(settings, "data", LTI_DL_MAX_DATA, &out->data, err)) != LTI_R_ok ||
        (r = read_text(settings, "title", LTI_DL_MAX_TEXT, &out->title, err)) != LTI_R_ok ||
        (r = read_text(settings, "text", LTI_DL_MAX_TEXT, &out->text, err)) != LTI_R_ok)
        return r;
    return LTI_R_ok;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(obj, key, json_string(value));
}

json_t *lti_dl_context_to_json(const lti_dl_context_t *ctx)
{
    const lti_dl_settings_t *s = &ctx->settings;
    json_t *facts = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:b,s:I}", "kind", "dl", "id",
                              ctx->id, "iss", ctx->issuer, "client_id", ctx->client_id,
                              "deployment_id", ctx->deployment_id, "return_url", s->return_url,
                              "types", (int)s->accept_types, "targets", (int)s->targets,
                              "multiple", s->accept_multiple, "lineitem", s->accept_lineitem,
                              "exp", (json_int_t)ctx->exp);
    if (facts == NULL)
        return NULL;
    set_str(facts, "placement", ctx->placement);
    set_str(facts, "data", s->data);
    set_str(facts, "title", s->title);
    set_str(facts, "text", s->text);
    return facts;
}

static const char *opt_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int lti_dl_context_from_json(json_t *facts, lti_dl_context_t *out)
{
    memset(out, 0, sizeof(*out));
    out->json = facts;
    const char *kind = opt_str(facts, "kind");
    out->id = opt_str(facts, "id");
    out->issuer = opt_str(facts, "iss");
    out->client_id = opt_str(facts, "client_id");
    out->deployment_id = opt_str(facts, "deployment_id");
    out->placement = opt_str(facts, "placement");
    out->settings.return_url = opt_str(facts, "return_url");
    out->settings.data = opt_str(facts, "data");
    out->settings.title = opt_str(facts, "title");
    out->settings.text = opt_str(facts, "text");
    json_t *types = json_object_get(facts, "types"), *targets = json_object_get(facts, "targets");
    json_t *multiple = json_object_get(facts, "multiple");
    json_t *lineitem = json_object_get(facts, "lineitem");
    json_t *exp = json_object_get(facts, "exp");
    if (kind == NULL || strcmp(kind, "dl") != 0 || out->id == NULL || out->issuer == NULL ||
        out->client_id == NULL || out->deployment_id == NULL || out->settings.return_url == NULL ||
        !json_is_integer(types) || !json_is_integer(targets) || !json_is_boolean(multiple) ||
        !json_is_boolean(lineitem) || !json_is_integer(exp))
        return -1;
    out->settings.accept_types = (unsigned)json_integer_value(types);
    out->settings.targets = (unsigned)json_integer_value(targets);
    out->settings.accept_multiple = json_is_true(multiple);
    out->settings.accept_lineitem = json_is_true(lineitem);
    out->exp = json_integer_value(exp);
    return 0;
}

void lti_dl_context_clear(lti_dl_context_t *ctx)
{
    json_decref(ctx->json);
    memset(ctx, 0, sizeof(*ctx));
}

void lti_dl_csrf_token(const lti_config_t *cfg, const char *id, char out[LTI_JWK_KID_LEN])
{
    unsigned char tag[32];
    unsigned int tag_len = sizeof(tag);
    char input[128];
    int n = snprintf(input, sizeof(input), "dl-csrf:%s", id);
    HMAC(EVP_sha256(), cfg->session_secret, (int)cfg->session_secret_len,
         (const unsigned char *)input, (size_t)n, tag, &tag_len);
    lti_b64url_encode(tag, sizeof(tag), out);
}

int lti_dl_csrf_check(const lti_config_t *cfg, const char *id, const char *token)
{
    char want[LTI_JWK_KID_LEN];
    if (id == NULL || token == NULL || strlen(token) != LTI_JWK_KID_LEN - 1)
        return 0;
    lti_dl_csrf_token(cfg, id, want);
    return CRYPTO_memcmp(want, token, LTI_JWK_KID_LEN - 1) == 0;
}
