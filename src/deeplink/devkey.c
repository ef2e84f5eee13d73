/* SPDX-License-Identifier: MIT */
/*
 * The Canvas developer-key JSON (lti/tool.h): the fields of Canvas's
 * "Paste JSON" form, built from the server and canvas sections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lti/tool.h"

static const char *const scopes[] = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "https://canvas.instructure.com/lti/public_jwk/scope/update",
};

/* The placements of the KAF setup guide, with their message type and the
 * target_link_uri query that selects the KAF module the launch opens. */
typedef struct placement_def {
    const char *name;
    const char *message_type;
    const char *query; /* appended to the launch URL as the target_link_uri */
    int selection;     /* deep-linking placements get a selection size */
} placement_def_t;

static const placement_def_t placement_defs[] = {
    {"course_navigation", "LtiResourceLinkRequest", "placement=course_gallery", 0},
    {"global_navigation", "LtiResourceLinkRequest", "placement=my_media", 0},
    {"editor_button", "LtiDeepLinkingRequest", "placement=editor", 1},
    {"link_selection", "LtiDeepLinkingRequest", "placement=module", 1},
    {"assignment_selection", "LtiDeepLinkingRequest", "placement=assignment", 1},
};
#define N_PLACEMENTS (sizeof(placement_defs) / sizeof(placement_defs[0]))

static const char *placement_text(const lti_config_t *cfg, const char *name)
{
    if (strcmp(name, "course_navigation") == 0)
        return cfg->canvas_course_navigation_text;
    if (strcmp(name, "global_navigation") == 0)
        return cfg->canvas_global_navigation_text;
    if (strcmp(name, "editor_button") == 0)
        return cfg->canvas_editor_button_text;
    if (strcmp(name, "link_selection") == 0)
        return cfg->canvas_link_selection_text;
    return cfg->canvas_assignment_selection_text;
}

static json_t *placement_json(const lti_config_t *cfg, const placement_def_t *def)
{
    json_t *p = json_pack("{s:s,s:s,s:o,s:s}", "placement", def->name, "message_type",
                          def->message_type, "target_link_uri",
                          json_sprintf("%s?%s", cfg->launch_url, def->query), "text",
                          placement_text(cfg, def->name));
    if (p == NULL)
        return NULL;
    if (strcmp(def->name, "course_navigation") == 0) {
        json_object_set_new(p, "visibility", json_string("members"));
        json_object_set_new(p, "default", json_string("enabled"));
    }
    if (cfg->canvas_icon_url != NULL &&
        (strcmp(def->name, "editor_button") == 0 || strcmp(def->name, "global_navigation") == 0))
        json_object_set_new(p, "icon_url", json_string(cfg->canvas_icon_url));
    if (def->selection) {
        json_object_set_new(p, "selection_height", json_integer(cfg->canvas_selection_height));
        json_object_set_new(p, "selection_width", json_integer(cfg->canvas_selection_width));
    }
    return p;
}

static json_t *placements_json(const lti_config_t *cfg)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < N_PLACEMENTS; i++) {
        const placement_def_t *def = &placement_defs[i];
        int listed = cfg->n_canvas_placements == 0;
        for (size_t k = 0; k < cfg->n_canvas_placements; k++)
            if (strcmp(cfg->canvas_placements[k], def->name) == 0)
                listed = 1;
        if (listed)
            json_array_append_new(list, placement_json(cfg, def));
    }
    return list;
}

/* Returns the host of baseUrl without scheme and port. */
static json_t *domain_json(const lti_config_t *cfg)
{
    if (cfg->canvas_domain != NULL)
        return json_string(cfg->canvas_domain);
    const char *host = strstr(cfg->base_url, "://");
    host = host != NULL ? host + 3 : cfg->base_url;
    size_t len = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon != NULL && strchr(colon, ']') == NULL)
        len = (size_t)(colon - host);
    return json_stringn(host, len);
}

json_t *lti_devkey_build(const lti_config_t *cfg, int inline_jwk)
{
    json_t *scope_list = json_array();
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
        json_array_append_new(scope_list, json_string(scopes[i]));

    json_t *settings = json_pack("{s:s,s:i,s:i,s:o}", "text", cfg->canvas_text,
                                 "selection_height", (int)cfg->canvas_selection_height,
                                 "selection_width", (int)cfg->canvas_selection_width, "placements",
                                 placements_json(cfg));
    if (settings != NULL && cfg->canvas_icon_url != NULL)
        json_object_set_new(settings, "icon_url", json_string(cfg->canvas_icon_url));
    json_t *extension = json_pack("{s:s,s:o,s:s,s:s,s:o}", "platform", "canvas.instructure.com",
                                  "domain", domain_json(cfg), "tool_id", cfg->canvas_tool_id,
                                  "privacy_level", cfg->canvas_privacy_level, "settings",
                                  settings);
    json_t *custom = json_pack("{s:s,s:s,s:s,s:s,s:s}", "canvas_user_id", "$Canvas.user.id",
                               "canvas_course_id", "$Canvas.course.id", "canvas_user_login_id",
                               "$Canvas.user.loginId", "canvas_api_domain", "$Canvas.api.domain",
                               "canvas_post_message_token", "$com.instructure.PostMessageToken");
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s}", "title", cfg->canvas_title, "description",
                            cfg->canvas_description, "oidc_initiation_url", cfg->login_url,
                            "target_link_uri", cfg->launch_url);
    if (doc == NULL || extension == NULL || custom == NULL || scope_list == NULL)
        goto fail;
    if (inline_jwk) {
        json_t *jwk = lti_jwk_public(cfg->private_key);
        if (jwk == NULL)
            goto fail;
        json_object_set_new(doc, "public_jwk", jwk);
    } else {
        json_object_set_new(doc, "public_jwk_url",
                            json_sprintf("%s%s", cfg->base_url, LTI_TOOL_JWKS_PATH));
    }
    json_object_set_new(doc, "scopes", scope_list);
    json_object_set_new(doc, "extensions", json_pack("[o]", extension));
    json_object_set_new(doc, "custom_fields", custom);
    return doc;
fail:
    json_decref(doc);
    json_decref(extension);
    json_decref(custom);
    json_decref(scope_list);
    return NULL;
}

json_t *lti_devkey_redirect_uris(const lti_config_t *cfg)
{
    /* The login always sends the launch URL as redirect_uri; the placement
     * targets differ only in their query and are not redirect URIs. */
    return json_pack("[s]", cfg->launch_url);
}
