/* SPDX-License-Identifier: MIT */
/*
 * Content items and the signed LtiDeepLinkingResponse (LTI Deep Linking 2.0
 * §4.5, and what Canvas checks in its deep-linking endpoint: iss =
 * client_id, aud = its issuer, a nonce, iat at most 5 minutes old).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "lti/deeplink.h"
#include "lti/jwt.h"
#include "lti/oidc.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
#define DL_CLAIM "https://purl.imsglobal.org/spec/lti-dl/claim/"
#define MAX_ITEM_STRING 4096

/* Iframe size of an embedded player; 16:10 fits the player controls. */
#define PLAYER_WIDTH 640
#define PLAYER_HEIGHT 400

json_t *lti_dl_item_for_entry(const lti_config_t *cfg, const lti_dl_context_t *ctx,
                              const lti_media_entry_t *entry)
{
    json_t *item = json_object();
    if (item == NULL)
        return NULL;
    json_object_set_new(item, "type", json_string("ltiResourceLink"));
    json_object_set_new(item, "title", json_string(entry->title));
    if (entry->description[0] != '\0')
        json_object_set_new(item, "text", json_string(entry->description));
    json_object_set_new(item, "url", json_sprintf("%s?entry=%s", cfg->launch_url, entry->id));
    json_object_set_new(item, "thumbnail", json_pack("{s:s}", "url", entry->thumbnail));
    if (ctx->settings.targets & (LTI_DL_TARGET_IFRAME | LTI_DL_TARGET_EMBED))
        json_object_set_new(item, "iframe",
                            json_pack("{s:i,s:i}", "width", PLAYER_WIDTH, "height", PLAYER_HEIGHT));
    else if (ctx->settings.targets & LTI_DL_TARGET_WINDOW)
        json_object_set_new(item, "window", json_pack("{s:s}", "targetName", "_blank"));
    json_object_set_new(item, "custom", json_pack("{s:s}", "entry_id", entry->id));
    /* An assignment gets a gradable line item; a quiz answer key scores it
     * out of 100 points. */
    if (ctx->placement != NULL && strcmp(ctx->placement, "assignment_selection") == 0 &&
        ctx->settings.accept_lineitem)
        json_object_set_new(item, "lineItem",
                            json_pack("{s:s,s:i,s:s}", "label", entry->title, "scoreMaximum", 100,
                                      "resourceId", entry->id));
    return item;
}

static const struct {
    const char *name;
    unsigned bit;
} item_types[] = {
    {"ltiResourceLink", LTI_DL_TYPE_LTI_RESOURCE_LINK},
    {"link", LTI_DL_TYPE_LINK},
    {"file", LTI_DL_TYPE_FILE},
    {"html", LTI_DL_TYPE_HTML},
    {"image", LTI_DL_TYPE_IMAGE},
};

static int is_http_url(json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && json_string_length(v) <= MAX_ITEM_STRING &&
           strlen(s) == json_string_length(v) &&
           (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0) &&
           strpbrk(s, " \t\r\n") == NULL;
}

/* Checks the members that depend on the item type and the settings. */
static lti_reason_t check_item_members(const lti_config_t *cfg, const lti_dl_context_t *ctx,
                                       json_t *item, unsigned bit, size_t i, lti_err_t *err)
{
    json_t *url = json_object_get(item, "url");
    json_t *custom = json_object_get(item, "custom");
    json_t *line_item = json_object_get(item, "lineItem");
    const char *key;
    json_t *v;

    if (bit == LTI_DL_TYPE_LTI_RESOURCE_LINK) {
        /* Canvas only launches links on the tool's own domain. */
        if (url != NULL && (!is_http_url(url) ||
                            !lti_oidc_target_is_ours(cfg, json_string_value(url))))
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu: url is not an address of this tool", i);
    } else if (bit == LTI_DL_TYPE_HTML) {
        json_t *html = json_object_get(item, "html");
        if (!json_is_string(html) || json_string_length(html) == 0 ||
            json_string_length(html) > MAX_ITEM_STRING)
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu: html is missing or longer than %d bytes", i,
                               MAX_ITEM_STRING);
    } else if (!is_http_url(url)) {
        return lti_err_set(err, LTI_R_content_item_invalid,
                           "content item %zu: url is missing or not an http(s) URL", i);
    }
    if (json_object_get(item, "iframe") != NULL &&
        (!json_is_object(json_object_get(item, "iframe")) ||
         !(ctx->settings.targets & (LTI_DL_TARGET_IFRAME | LTI_DL_TARGET_EMBED))))
        return lti_err_set(err, LTI_R_content_item_invalid,
                           "content item %zu: iframe is not an object or not an accepted target",
                           i);
    if (json_object_get(item, "window") != NULL &&
        (!json_is_object(json_object_get(item, "window")) ||
         !(ctx->settings.targets & LTI_DL_TARGET_WINDOW)))
        return lti_err_set(err, LTI_R_content_item_invalid,
                           "content item %zu: window is not an object or not an accepted target",
                           i);
    if (custom != NULL) {
        if (!json_is_object(custom))
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu: custom is not an object", i);
        json_object_foreach(custom, key, v) {
            if (!json_is_string(v) || json_string_length(v) > MAX_ITEM_STRING)
                return lti_err_set(err, LTI_R_content_item_invalid,
                                   "content item %zu: custom values must be strings", i);
        }
    }
    if (line_item != NULL) {
        json_t *max = json_object_get(line_item, "scoreMaximum");
        if (bit != LTI_DL_TYPE_LTI_RESOURCE_LINK || !ctx->settings.accept_lineitem ||
            !json_is_number(max) || json_number_value(max) <= 0)
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu: lineItem needs an ltiResourceLink, a platform "
                               "that accepts line items and a positive scoreMaximum", i);
    }
    return LTI_R_ok;
}

lti_reason_t lti_dl_items_check(const lti_config_t *cfg, const lti_dl_context_t *ctx,
                                json_t *items, lti_err_t *err)
{
    size_t i;
    json_t *item;

    if (!json_is_array(items) || json_array_size(items) > LTI_DL_MAX_ITEMS)
        return lti_err_set(err, LTI_R_content_item_invalid,
                           "content_items is not an array of at most %d items", LTI_DL_MAX_ITEMS);
    if (json_array_size(items) > 1 && !ctx->settings.accept_multiple)
        return lti_err_set(err, LTI_R_content_item_invalid,
                           "%zu content items, but the platform accepts one",
                           json_array_size(items));
    json_array_foreach(items, i, item) {
        const char *type = json_string_value(json_object_get(item, "type"));
        unsigned bit = 0;
        if (!json_is_object(item) || type == NULL)
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu is not an object with a type", i);
        for (size_t k = 0; k < sizeof(item_types) / sizeof(item_types[0]); k++)
            if (strcmp(type, item_types[k].name) == 0)
                bit = item_types[k].bit;
        if (bit == 0)
            return lti_err_set(err, LTI_R_content_item_invalid,
                               "content item %zu has an unknown type", i);
        if (!(ctx->settings.accept_types & bit))
            return lti_err_set(err, LTI_R_dl_type_not_accepted,
                               "content item %zu: type %s is not in accept_types", i, type);
        lti_reason_t r = check_item_members(cfg, ctx, item, bit, i, err);
        if (r != LTI_R_ok)
            return r;
    }
    return LTI_R_ok;
}

json_t *lti_dl_response_claims(const lti_dl_context_t *ctx, json_t *items, const char *msg,
                               const char *errormsg, int64_t now)
{
    char nonce[LTI_OIDC_RANDOM_LEN];
    if (lti_oidc_random(nonce) != 0)
        return NULL;
    json_t *claims = json_pack(
        "{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:O}", "iss", ctx->client_id, "aud", ctx->issuer,
        "iat", (json_int_t)now, "exp", (json_int_t)(now + LTI_DL_RESPONSE_LIFETIME), "nonce",
        nonce, "azp", ctx->client_id, CLAIM "deployment_id", ctx->deployment_id,
        CLAIM "message_type", "LtiDeepLinkingResponse", CLAIM "version", "1.3.0",
        DL_CLAIM "content_items", items);
    if (claims == NULL)
        return NULL;
    if (ctx->settings.data != NULL)
        json_object_set_new(claims, DL_CLAIM "data", json_string(ctx->settings.data));
    if (msg != NULL)
        json_object_set_new(claims, DL_CLAIM "msg", json_string(msg));
    if (errormsg != NULL)
        json_object_set_new(claims, DL_CLAIM "errormsg", json_string(errormsg));
    return claims;
}

/* Returns base64url of `text`, malloc'd. */
static char *b64_text(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out != NULL)
        lti_b64url_encode((const unsigned char *)text, len, out);
    return out;
}

char *lti_dl_response_sign(const lti_tool_t *tool, json_t *claims)
{
    json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "kid", tool->kid);
    char *header_text = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *payload_text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *h = header_text != NULL ? b64_text(header_text) : NULL;
    char *p = payload_text != NULL ? b64_text(payload_text) : NULL;
    char *input = NULL, *sig = NULL, *token = NULL;

    json_decref(header);
    if (h == NULL || p == NULL || asprintf(&input, "%s.%s", h, p) < 0) {
        input = NULL;
        goto out;
    }
    sig = lti_rs256_sign_b64(tool->signing_key, (const unsigned char *)input, strlen(input));
    if (sig != NULL && asprintf(&token, "%s.%s", input, sig) < 0)
        token = NULL;
out:
    free(header_text);
    free(payload_text);
    free(h);
    free(p);
    free(input);
    free(sig);
    return token;
}
