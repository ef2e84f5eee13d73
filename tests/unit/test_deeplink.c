/* SPDX-License-Identifier: MIT */
/*
 * Tool keys, deep_linking_settings, content items, the signed
 * LtiDeepLinkingResponse, the media catalog and the developer-key JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include "lti/deeplink.h"
#include "lti/jwt.h"
#include "lti/session.h"
#include "lti/tool.h"

#define DL "https://purl.imsglobal.org/spec/lti-dl/claim/"
#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"

static EVP_PKEY *tool_key;
static lti_config_t cfg;
static char tmpdir[64];

static const char *source_dir(void)
{
    const char *dir = getenv("LTIGATE_SOURCE_DIR");
    return dir != NULL ? dir : ".";
}

static int setup(void **state)
{
    tool_key = EVP_RSA_gen(2048);
    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.session_secret, 9, 32);
    cfg.session_secret_len = 32;
    cfg.session_lifetime = 600;
    cfg.base_url = "https://kaf.example.com";
    cfg.launch_url = "https://kaf.example.com/hosted/index/oauth2-launch";
    cfg.private_key = tool_key;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ltigate-dl-XXXXXX");
    return tool_key != NULL && mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    EVP_PKEY_free(tool_key);
    return system(cmd) == 0 ? 0 : -1;
}

/* The Canvas editor_button settings, as Canvas sends them. */
static json_t *editor_settings(void)
{
    return json_pack("{s:s,s:[s,s,s,s,s],s:[s,s,s],s:s,s:b,s:b}", "deep_link_return_url",
                     "https://canvas.example.edu/courses/7/deep_linking_response?modal=true&"
                     "placement=editor_button&data=eyJ0eXAiOiJKV1QifQ.e30.c2ln",
                     "accept_types", "link", "file", "html", "ltiResourceLink", "image",
                     "accept_presentation_document_targets", "embed", "iframe", "window",
                     "accept_media_types", "image/*", "accept_multiple", 1, "auto_create", 0);
}

static void context_for(lti_dl_context_t *ctx, const char *placement, lti_dl_settings_t *s)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->id = "selection-id";
    ctx->issuer = "https://canvas.instructure.com";
    ctx->client_id = "170000000000123";
    ctx->deployment_id = "42:abc";
    ctx->placement = placement;
    ctx->settings = *s;
}

/* ---- tool keys ---- */

/* RFC 7638 §3.1 example key and its thumbprint. */
static void thumbprint_rfc7638_example(void **state)
{
    static const char n_b64[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
        "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
        "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    size_t n_len = 0;
    unsigned char *n = malloc(sizeof(n_b64));
    long got = lti_b64url_decode(n_b64, strlen(n_b64), n);
    assert_true(got > 0);
    n_len = (size_t)got;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_new();
    BN_set_word(bn_e, 65537);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);

    char kid[LTI_JWK_KID_LEN];
    assert_int_equal(lti_jwk_thumbprint(key, kid), 0);
    assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
}

static void public_jwk_members_only(void **state)
{
    json_t *jwk = lti_jwk_public(tool_key);
    char kid[LTI_JWK_KID_LEN];
    assert_non_null(jwk);
    assert_int_equal(json_object_size(jwk), 6);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_int_equal(json_string_length(json_object_get(jwk, "n")), 342); /* 256 bytes */
    assert_int_equal(lti_jwk_thumbprint(tool_key, kid), 0);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), kid);
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi"};
    for (size_t i = 0; i < 6; i++)
        assert_null(json_object_get(jwk, private_members[i]));
    json_decref(jwk);
}

static void tool_jwks_current_and_next(void **state)
{
    char err[256];
    lti_config_t c = cfg;
    EVP_PKEY *next = EVP_RSA_gen(2048);
    c.login_url = "https://kaf.example.com/hosted/index/oidc-login";
    c.canvas_title = "T";
    c.canvas_description = "D";
    c.canvas_tool_id = "t";
    c.canvas_privacy_level = "public";
    c.canvas_text = "K";
    c.canvas_course_navigation_text = c.canvas_global_navigation_text = "x";
    c.canvas_editor_button_text = c.canvas_link_selection_text = "x";
    c.canvas_assignment_selection_text = "x";
    c.next_private_key = next;
    lti_tool_t *tool = lti_tool_new(&c, err, sizeof(err));
    assert_non_null(tool);
    json_error_t jerr;
    json_t *doc = json_loads(tool->jwks_json, 0, &jerr);
    json_t *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), 2);
    char kid_next[LTI_JWK_KID_LEN];
    lti_jwk_thumbprint(next, kid_next);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")),
                        tool->kid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 1), "kid")),
                        kid_next);
    assert_string_not_equal(tool->kid, kid_next);
    assert_null(strstr(tool->jwks_json, "\"d\""));
    assert_int_equal(tool->catalog->n, 0);
    json_decref(doc);
    lti_tool_free(tool);
    EVP_PKEY_free(next);
}

/* ---- deep_linking_settings ---- */

static void settings_canvas_editor(void **state)
{
    json_t *s = editor_settings();
    lti_dl_settings_t out;
    lti_err_t err = {0};
    assert_int_equal(lti_dl_settings_parse(s, &out, &err), LTI_R_ok);
    assert_non_null(strstr(out.return_url, "placement=editor_button&data="));
    assert_int_equal(out.accept_types, 0x1f);
    assert_int_equal(out.targets, LTI_DL_TARGET_IFRAME | LTI_DL_TARGET_WINDOW |
                                      LTI_DL_TARGET_EMBED);
    assert_true(out.accept_multiple);
    assert_true(out.accept_lineitem);
    assert_null(out.data);
    json_decref(s);
}

/* Each case replaces one member of the editor settings. */
static void settings_field_rules(void **state)
{
    char long_url[LTI_DL_MAX_RETURN_URL + 20], long_data[LTI_DL_MAX_DATA + 2];
    memcpy(long_url, "https://canvas.example.edu/", 27);
    memset(long_url + 27, 'a', sizeof(long_url) - 28);
    long_url[sizeof(long_url) - 1] = '\0';
    memset(long_data, 'x', sizeof(long_data) - 1);
    long_data[sizeof(long_data) - 1] = '\0';
    const struct {
        const char *key;
        json_t *value; /* NULL removes the member */
        lti_reason_t want;
    } cases[] = {
        {"deep_link_return_url", NULL, LTI_R_dl_settings_missing},
        {"deep_link_return_url", json_string(""), LTI_R_dl_settings_missing},
        {"deep_link_return_url", json_integer(5), LTI_R_dl_settings_missing},
        {"deep_link_return_url", json_string("javascript:alert(1)"), LTI_R_dl_settings_invalid},
        {"deep_link_return_url", json_string("https://a.example/x y"), LTI_R_dl_settings_invalid},
        {"deep_link_return_url", json_string(long_url), LTI_R_dl_settings_invalid},
        {"accept_types", NULL, LTI_R_dl_settings_invalid},
        {"accept_types", json_string("ltiResourceLink"), LTI_R_dl_settings_invalid},
        {"accept_types", json_array(), LTI_R_dl_settings_invalid},
        {"accept_types", json_pack("[i]", 1), LTI_R_dl_settings_invalid},
        {"accept_types", json_pack("[s]", "hologram"), LTI_R_ok},
        {"accept_presentation_document_targets", NULL, LTI_R_dl_settings_invalid},
        {"accept_presentation_document_targets", json_pack("{}"), LTI_R_dl_settings_invalid},
        {"accept_multiple", json_string("true"), LTI_R_dl_settings_invalid},
        {"accept_lineitem", json_integer(1), LTI_R_dl_settings_invalid},
        {"auto_create", json_null(), LTI_R_dl_settings_invalid},
        {"data", json_integer(3), LTI_R_dl_settings_invalid},
        {"data", json_string(long_data), LTI_R_dl_settings_invalid},
        {"data", json_string("opaque-state"), LTI_R_ok},
        {"title", json_pack("[]"), LTI_R_dl_settings_invalid},
        {"text", json_string("Pick a video"), LTI_R_ok},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = editor_settings();
        lti_dl_settings_t out;
        lti_err_t err = {0};
        if (cases[i].value == NULL)
            json_object_del(s, cases[i].key);
        else
            json_object_set_new(s, cases[i].key, cases[i].value);
        lti_reason_t got = lti_dl_settings_parse(s, &out, &err);
        if (got != cases[i].want)
            print_error("case %zu (%s): got %s, want %s (%s)\n", i, cases[i].key,
                        lti_reason_code(got), lti_reason_code(cases[i].want), err.msg);
        assert_int_equal(got, cases[i].want);
        json_decref(s);
    }
    lti_dl_settings_t out;
    lti_err_t err = {0};
    assert_int_equal(lti_dl_settings_parse(NULL, &out, &err), LTI_R_dl_settings_missing);
    json_t *not_object = json_string("x");
    assert_int_equal(lti_dl_settings_parse(not_object, &out, &err), LTI_R_dl_settings_missing);
    json_decref(not_object);
}

static void settings_absent_flags_default(void **state)
{
    json_t *s = json_pack("{s:s,s:[s],s:[s]}", "deep_link_return_url", "https://c.example/r",
                          "accept_types", "ltiResourceLink",
                          "accept_presentation_document_targets", "window");
    lti_dl_settings_t out;
    lti_err_t err = {0};
    assert_int_equal(lti_dl_settings_parse(s, &out, &err), LTI_R_ok);
    assert_false(out.accept_multiple);
    assert_true(out.accept_lineitem);
    assert_int_equal(out.targets, LTI_DL_TARGET_WINDOW);
    json_decref(s);
}

/* ---- selection context and CSRF ---- */

static void context_cookie_round_trip(void **state)
{
    json_t *s = editor_settings();
    json_object_set_new(s, "data", json_string("canvas-data"));
    lti_dl_settings_t settings;
    lti_err_t err = {0};
    assert_int_equal(lti_dl_settings_parse(s, &settings, &err), LTI_R_ok);
    lti_dl_context_t ctx, back;
    context_for(&ctx, "editor_button", &settings);
    ctx.exp = 2000;
    json_t *facts = lti_dl_context_to_json(&ctx);
    char *cookie = lti_session_encode(&cfg, facts);
    assert_non_null(cookie);
    json_t *decoded = lti_session_decode(&cfg, cookie, strlen(cookie), 1000, &err);
    assert_non_null(decoded);
    assert_int_equal(lti_dl_context_from_json(decoded, &back), 0);
    assert_string_equal(back.settings.return_url, settings.return_url);
    assert_string_equal(back.settings.data, "canvas-data");
    assert_int_equal(back.settings.accept_types, settings.accept_types);
    assert_int_equal(back.settings.targets, settings.targets);
    assert_string_equal(back.placement, "editor_button");
    lti_dl_context_clear(&back);

    /* A session cookie is not a selection. */
    json_t *session = json_pack("{s:s,s:I}", "user_id", "jdoe", "exp", (json_int_t)2000);
    assert_int_equal(lti_dl_context_from_json(session, &back), -1);
    lti_dl_context_clear(&back);
    free(cookie);
    json_decref(facts);
    json_decref(s);
}

static void csrf_token_bound_to_id(void **state)
{
    char token[LTI_JWK_KID_LEN];
    lti_dl_csrf_token(&cfg, "id-one", token);
    assert_int_equal(strlen(token), LTI_JWK_KID_LEN - 1);
    assert_true(lti_dl_csrf_check(&cfg, "id-one", token));
    assert_false(lti_dl_csrf_check(&cfg, "id-two", token));
    assert_false(lti_dl_csrf_check(&cfg, "id-one", NULL));
    assert_false(lti_dl_csrf_check(&cfg, "id-one", ""));
    token[5] ^= 1;
    assert_false(lti_dl_csrf_check(&cfg, "id-one", token));
}

/* ---- content items ---- */

static lti_media_entry_t sample_entry = {
    .id = "1_abcd1234",
    .title = "Week 3 lecture",
    .description = "Photosynthesis",
    .thumbnail = "https://cdn.example/1_abcd1234.jpg",
    .type = "video",
    .duration = 600,
};

static void item_per_placement(void **state)
{
    json_t *s = editor_settings();
    lti_dl_settings_t settings;
    lti_err_t err = {0};
    lti_dl_context_t ctx;
    lti_dl_settings_parse(s, &settings, &err);

    context_for(&ctx, "editor_button", &settings);
    json_t *item = lti_dl_item_for_entry(&cfg, &ctx, &sample_entry);
    assert_string_equal(json_string_value(json_object_get(item, "type")), "ltiResourceLink");
    assert_string_equal(json_string_value(json_object_get(item, "url")),
                        "https://kaf.example.com/hosted/index/oauth2-launch?entry=1_abcd1234");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(item, "custom"), "entry_id")),
        "1_abcd1234");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(item, "iframe"), "width")),
                     640);
    assert_null(json_object_get(item, "lineItem"));
    json_decref(item);

    settings.targets = LTI_DL_TARGET_WINDOW;
    context_for(&ctx, "link_selection", &settings);
    item = lti_dl_item_for_entry(&cfg, &ctx, &sample_entry);
    assert_null(json_object_get(item, "iframe"));
    assert_non_null(json_object_get(item, "window"));
    json_decref(item);

    settings.targets = LTI_DL_TARGET_IFRAME;
    context_for(&ctx, "assignment_selection", &settings);
    item = lti_dl_item_for_entry(&cfg, &ctx, &sample_entry);
    json_t *line_item = json_object_get(item, "lineItem");
    assert_non_null(line_item);
    assert_int_equal(json_integer_value(json_object_get(line_item, "scoreMaximum")), 100);
    assert_string_equal(json_string_value(json_object_get(line_item, "resourceId")), "1_abcd1234");
    json_decref(item);

    ctx.settings.accept_lineitem = 0;
    item = lti_dl_item_for_entry(&cfg, &ctx, &sample_entry);
    assert_null(json_object_get(item, "lineItem"));
    json_decref(item);
    json_decref(s);
}

static void items_check_rules(void **state)
{
    lti_dl_settings_t settings = {
        .return_url = "https://c.example/r",
        .accept_types = LTI_DL_TYPE_LTI_RESOURCE_LINK | LTI_DL_TYPE_HTML,
        .targets = LTI_DL_TARGET_IFRAME,
        .accept_multiple = 0,
        .accept_lineitem = 1,
    };
    lti_dl_context_t ctx;
    context_for(&ctx, "link_selection", &settings);
    const struct {
        const char *items;
        lti_reason_t want;
    } cases[] = {
        {"[]", LTI_R_ok},
        {"[{\"type\":\"ltiResourceLink\"}]", LTI_R_ok},
        {"[{\"type\":\"ltiResourceLink\",\"url\":\"https://kaf.example.com/hosted/player\","
         "\"iframe\":{\"width\":1},\"custom\":{\"a\":\"b\"},\"lineItem\":{\"scoreMaximum\":5}}]",
         LTI_R_ok},
        {"[{\"type\":\"html\",\"html\":\"<p>x</p>\"}]", LTI_R_ok},
        {"{}", LTI_R_content_item_invalid},
        {"[1]", LTI_R_content_item_invalid},
        {"[{\"title\":\"no type\"}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"hologram\"}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"image\",\"url\":\"https://x.example/a.png\"}]", LTI_R_dl_type_not_accepted},
        {"[{\"type\":\"ltiResourceLink\"},{\"type\":\"ltiResourceLink\"}]",
         LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"url\":\"https://evil.example/launch\"}]",
         LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"url\":\"https://kaf.example.com.evil/x\"}]",
         LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"window\":{}}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"iframe\":5}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"custom\":{\"n\":1}}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"custom\":[]}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"lineItem\":{\"scoreMaximum\":0}}]",
         LTI_R_content_item_invalid},
        {"[{\"type\":\"ltiResourceLink\",\"lineItem\":{}}]", LTI_R_content_item_invalid},
        {"[{\"type\":\"html\"}]", LTI_R_content_item_invalid},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *items = json_loads(cases[i].items, 0, &jerr);
        lti_err_t err = {0};
        assert_non_null(items);
        lti_reason_t got = lti_dl_items_check(&cfg, &ctx, items, &err);
        if (got != cases[i].want)
            print_error("case %zu: got %s, want %s (%s)\n", i, lti_reason_code(got),
                        lti_reason_code(cases[i].want), err.msg);
        assert_int_equal(got, cases[i].want);
        json_decref(items);
    }
    /* Several items pass once the platform accepts several, up to the cap. */
    ctx.settings.accept_multiple = 1;
    json_t *many = json_array();
    for (int i = 0; i < LTI_DL_MAX_ITEMS; i++)
        json_array_append_new(many, json_pack("{s:s}", "type", "ltiResourceLink"));
    lti_err_t err = {0};
    assert_int_equal(lti_dl_items_check(&cfg, &ctx, many, &err), LTI_R_ok);
    json_array_append_new(many, json_pack("{s:s}", "type", "ltiResourceLink"));
    assert_int_equal(lti_dl_items_check(&cfg, &ctx, many, &err), LTI_R_content_item_invalid);
    json_decref(many);
    /* No lineItem when the platform does not accept line items. */
    ctx.settings.accept_lineitem = 0;
    json_error_t jerr;
    json_t *graded =
        json_loads("[{\"type\":\"ltiResourceLink\",\"lineItem\":{\"scoreMaximum\":5}}]", 0, &jerr);
    assert_int_equal(lti_dl_items_check(&cfg, &ctx, graded, &err), LTI_R_content_item_invalid);
    json_decref(graded);
}

/* ---- the response ---- */

static void response_claims_fields(void **state)
{
    json_t *s = editor_settings();
    lti_dl_settings_t settings;
    lti_err_t err = {0};
    lti_dl_context_t ctx;
    lti_dl_settings_parse(s, &settings, &err);
    context_for(&ctx, "editor_button", &settings);
    json_t *items = json_pack("[{s:s}]", "type", "ltiResourceLink");

    json_t *claims = lti_dl_response_claims(&ctx, items, "1 media item added", NULL, 1000);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), "170000000000123");
    assert_string_equal(json_string_value(json_object_get(claims, "aud")),
                        "https://canvas.instructure.com");
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), 1000);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
                     1000 + LTI_DL_RESPONSE_LIFETIME);
    assert_string_equal(json_string_value(json_object_get(claims, CLAIM "deployment_id")),
                        "42:abc");
    assert_string_equal(json_string_value(json_object_get(claims, CLAIM "message_type")),
                        "LtiDeepLinkingResponse");
    assert_string_equal(json_string_value(json_object_get(claims, CLAIM "version")), "1.3.0");
    assert_ptr_equal(json_object_get(claims, DL "content_items"), items);
    assert_string_equal(json_string_value(json_object_get(claims, DL "msg")),
                        "1 media item added");
    assert_null(json_object_get(claims, DL "errormsg"));
    /* Canvas sent no data, so none is echoed. */
    assert_null(json_object_get(claims, DL "data"));
    const char *nonce = json_string_value(json_object_get(claims, "nonce"));
    assert_non_null(nonce);
    assert_int_equal(strlen(nonce), 43);

    /* A fresh nonce per response; data echoed byte for byte. */
    ctx.settings.data = "opaque \xc3\xa9 state";
    json_t *again = lti_dl_response_claims(&ctx, items, NULL, "No media", 1000);
    assert_string_not_equal(json_string_value(json_object_get(again, "nonce")), nonce);
    assert_string_equal(json_string_value(json_object_get(again, DL "data")),
                        "opaque \xc3\xa9 state");
    assert_string_equal(json_string_value(json_object_get(again, DL "errormsg")), "No media");
    assert_null(json_object_get(again, DL "msg"));
    json_decref(again);
    json_decref(claims);
    json_decref(items);
    json_decref(s);
}

static void response_signed_rs256_with_kid(void **state)
{
    lti_dl_settings_t settings = {.return_url = "https://c.example/r",
                                  .accept_types = LTI_DL_TYPE_LTI_RESOURCE_LINK,
                                  .targets = LTI_DL_TARGET_IFRAME};
    lti_dl_context_t ctx;
    context_for(&ctx, "editor_button", &settings);
    lti_tool_t tool = {.signing_key = tool_key};
    assert_int_equal(lti_jwk_thumbprint(tool_key, tool.kid), 0);
    json_t *items = json_array();
    json_t *claims = lti_dl_response_claims(&ctx, items, NULL, NULL, 1000);
    char *token = lti_dl_response_sign(&tool, claims);
    assert_non_null(token);

    lti_jws_t jws;
    lti_err_t err = {0};
    assert_int_equal(lti_jws_parse(token, strlen(token), &jws, &err), LTI_R_ok);
    assert_string_equal(jws.kid, tool.kid);
    assert_string_equal(json_string_value(json_object_get(jws.header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jws.header, "typ")), "JWT");
    assert_true(json_equal(jws.payload, claims));
    assert_int_equal(lti_rs256_verify(tool_key, (const unsigned char *)jws.signing_input,
                                      jws.signing_input_len, jws.sig, jws.sig_len),
                     1);
    /* Another key does not verify it. */
    EVP_PKEY *other = EVP_RSA_gen(2048);
    assert_int_equal(lti_rs256_verify(other, (const unsigned char *)jws.signing_input,
                                      jws.signing_input_len, jws.sig, jws.sig_len),
                     0);
    EVP_PKEY_free(other);
    lti_jws_clear(&jws);
    free(token);
    json_decref(claims);
    json_decref(items);
}

/* ---- media catalog ---- */

static void catalog_sample_file(void **state)
{
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/conf/catalog.json", source_dir());
    lti_catalog_t *catalog = lti_catalog_load(path, err, sizeof(err));
    if (catalog == NULL)
        print_error("%s\n", err);
    assert_non_null(catalog);
    assert_int_equal(catalog->n, 12);
    for (size_t i = 0; i < catalog->n; i++) {
        assert_true(lti_entry_id_valid(catalog->entries[i].id));
        assert_string_equal(catalog->entries[i].type, "video");
        assert_true(catalog->entries[i].duration > 0);
    }
    assert_non_null(lti_catalog_find(catalog, "1_abcd1234"));
    assert_null(lti_catalog_find(catalog, "1_nothere0"));
    lti_catalog_free(catalog);
}

static lti_catalog_t *load_text(const char *text, char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/catalog.json", tmpdir);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    return lti_catalog_load(path, err, errlen);
}

static void catalog_rejects_bad_files(void **state)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"[]", "'entries' array"},
        {"{\"entries\": 5}", "'entries' array"},
        {"{\"entries\": [1]}", "not an object"},
        {"{\"entries\": [{\"id\": \"1_a\", \"title\": \"A\", \"thumbnail\": \"https://x\"}]}",
         "'type' is missing"},
        {"{\"entries\": [{\"id\": \"1 a\", \"title\": \"A\", \"thumbnail\": \"https://x\", "
         "\"type\": \"video\", \"duration\": 1}]}",
         "must be 1 to 64 characters"},
        {"{\"entries\": [{\"id\": \"1_a\", \"title\": \"A\", \"thumbnail\": \"https://x\", "
         "\"type\": \"video\", \"duration\": -1}]}",
         "'duration'"},
        {"{\"entries\": [{\"id\": \"1_a\", \"title\": \"A\", \"thumbnail\": \"https://x\", "
         "\"type\": \"video\", \"duration\": 1}, {\"id\": \"1_a\", \"title\": \"B\", "
         "\"thumbnail\": \"https://x\", \"type\": \"video\", \"duration\": 1}]}",
         "appears twice"},
        {"{\"entries\": [], \"entries\": []}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        lti_catalog_t *catalog = load_text(cases[i].text, err, sizeof(err));
        if (catalog != NULL || strstr(err, cases[i].message) == NULL)
            print_error("case %zu: %s\n", i, err);
        assert_null(catalog);
        assert_non_null(strstr(err, cases[i].message));
    }
    assert_false(lti_entry_id_valid(""));
    assert_false(lti_entry_id_valid("1_abc\"><script>"));
    assert_true(lti_entry_id_valid("1_abcd1234"));
}

/* ---- developer-key JSON ---- */

static lti_config_t *load_devkey_config(const char *canvas_yaml)
{
    char path[128], key_path[128], err[1024];
    snprintf(key_path, sizeof(key_path), "%s/tool-key.pem", tmpdir);
    FILE *fp = fopen(key_path, "w");
    PEM_write_PrivateKey(fp, tool_key, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    chmod(key_path, 0600);
    snprintf(path, sizeof(path), "%s/devkey.yaml", tmpdir);
    fp = fopen(path, "w");
    fprintf(fp,
            "server:\n  baseUrl: https://kaf.example.com\n"
            "hosted:\n  authMethod: lti1.3\n  lti13ServicePrivateKey: tool-key.pem\n"
            "platforms:\n  - issuer: https://canvas.instructure.com\n"
            "    lti13ClientID: \"170000000000123\"\n    deploymentIds: [\"42:abc\"]\n%s",
            canvas_yaml);
    fclose(fp);
    lti_config_t *c = lti_config_load(path, err, sizeof(err));
    if (c == NULL)
        print_error("%s\n", err);
    return c;
}

static void devkey_matches_golden_file(void **state)
{
    lti_config_t *c = load_devkey_config(
        "canvas:\n  title: Kaltura Media (KAF)\n  toolId: kaltura-kaf-12345\n"
        "  iconUrl: https://kaf.example.com/img/kaltura-16.png\n");
    assert_non_null(c);
    json_t *doc = lti_devkey_build(c, 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/data/deeplink/devkey_golden.json", source_dir());
    json_error_t jerr;
    json_t *golden = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(golden);
    if (!json_equal(doc, golden)) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        print_error("built JSON differs from %s:\n%s\n", path, text);
        free(text);
    }
    assert_true(json_equal(doc, golden));
    json_t *uris = lti_devkey_redirect_uris(c);
    assert_int_equal(json_array_size(uris), 1);
    assert_string_equal(json_string_value(json_array_get(uris, 0)),
                        "https://kaf.example.com/hosted/index/oauth2-launch");
    json_decref(uris);
    json_decref(golden);
    json_decref(doc);
    lti_config_free(c);
}

static void devkey_inline_jwk_and_sub_account(void **state)
{
    lti_config_t *c = load_devkey_config("canvas:\n  subAccountMode: true\n"
                                         "  placements: [assignment_selection]\n"
                                         "  privacyLevel: name_only\n"
                                         "  assignmentSelectionText: Video Quiz\n");
    assert_non_null(c);
    json_t *doc = lti_devkey_build(c, 1);
    assert_null(json_object_get(doc, "public_jwk_url"));
    json_t *jwk = json_object_get(doc, "public_jwk");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_null(json_object_get(jwk, "d"));
    json_t *ext = json_array_get(json_object_get(doc, "extensions"), 0);
    assert_string_equal(json_string_value(json_object_get(ext, "privacy_level")), "name_only");
    assert_string_equal(json_string_value(json_object_get(ext, "domain")), "kaf.example.com");
    json_t *placements = json_object_get(json_object_get(ext, "settings"), "placements");
    assert_int_equal(json_array_size(placements), 1);
    json_t *p = json_array_get(placements, 0);
    assert_string_equal(json_string_value(json_object_get(p, "placement")),
                        "assignment_selection");
    assert_string_equal(json_string_value(json_object_get(p, "message_type")),
                        "LtiDeepLinkingRequest");
    assert_string_equal(json_string_value(json_object_get(p, "text")), "Video Quiz");
    json_decref(doc);
    lti_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thumbprint_rfc7638_example),
        cmocka_unit_test(public_jwk_members_only),
        cmocka_unit_test(tool_jwks_current_and_next),
        cmocka_unit_test(settings_canvas_editor),
        cmocka_unit_test(settings_field_rules),
        cmocka_unit_test(settings_absent_flags_default),
        cmocka_unit_test(context_cookie_round_trip),
        cmocka_unit_test(csrf_token_bound_to_id),
        cmocka_unit_test(item_per_placement),
        cmocka_unit_test(items_check_rules),
        cmocka_unit_test(response_claims_fields),
        cmocka_unit_test(response_signed_rs256_with_kid),
        cmocka_unit_test(catalog_sample_file),
        cmocka_unit_test(catalog_rejects_bad_files),
        cmocka_unit_test(devkey_matches_golden_file),
        cmocka_unit_test(devkey_inline_jwk_and_sub_account),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
