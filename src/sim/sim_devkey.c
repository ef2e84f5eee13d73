/* SPDX-License-Identifier: MIT */
/*
 * `ltisim devkey FILE`: the checks Canvas's developer-key form applies to a
 * pasted LTI 1.3 JSON configuration (sim_dl.h), written from Canvas's
 * lti_dev_key_config.md field list. Every problem is reported, not only the
 * first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "sim_dl.h"
#include "sim_int.h"

static const char *const known_scopes[] = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "https://canvas.instructure.com/lti/public_jwk/scope/update",
    "https://canvas.instructure.com/lti/account_lookup/scope/show",
    "https://canvas.instructure.com/lti-ags/progress/scope/show",
};

/* Placements that may launch with LtiDeepLinkingRequest; every other known
 * placement takes LtiResourceLinkRequest only. */
static const char *const dl_placements[] = {
    "assignment_selection",    "editor_button",           "link_selection",
    "homework_submission",     "migration_selection",     "collaboration",
    "conference_selection",    "course_assignments_menu", "module_index_menu_modal",
    "module_menu_modal",       "submission_type_selection", "resource_selection",
};
static const char *const rl_placements[] = {
    "course_navigation", "account_navigation", "user_navigation",   "global_navigation",
    "wiki_page_menu",    "file_menu",          "discussion_topic_menu", "quiz_menu",
    "student_context_card", "course_home_sub_navigation", "assignment_menu", "module_menu",
};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static void problem(json_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *out, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(out, json_string(text));
}

static int is_url(json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0) &&
           strpbrk(s, " \t\r\n") == NULL;
}

static void check_jwk(json_t *out, json_t *jwk)
{
    static const char *const required[] = {"kty", "alg", "use", "kid", "n", "e"};
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi"};
    if (!json_is_object(jwk)) {
        problem(out, "public_jwk is not an object");
        return;
    }
    for (size_t i = 0; i < 6; i++)
        if (!json_is_string(json_object_get(jwk, required[i])))
            problem(out, "public_jwk.%s is missing", required[i]);
    for (size_t i = 0; i < 6; i++)
        if (json_object_get(jwk, private_members[i]) != NULL)
            problem(out, "public_jwk contains the private member %s", private_members[i]);
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    if (alg != NULL && strcmp(alg, "RS256") != 0)
        problem(out, "public_jwk.alg is %s, not RS256", alg);
    if (use != NULL && strcmp(use, "sig") != 0)
        problem(out, "public_jwk.use is %s, not sig", use);
}

static void check_placement(json_t *out, json_t *p, size_t i)
{
    const char *name = json_string_value(json_object_get(p, "placement"));
    const char *type = json_string_value(json_object_get(p, "message_type"));
    json_t *target = json_object_get(p, "target_link_uri");
    int dl_ok = in_list(name, dl_placements, sizeof(dl_placements) / sizeof(dl_placements[0]));
    int known = dl_ok || in_list(name, rl_placements, sizeof(rl_placements) /
                                                          sizeof(rl_placements[0]));
    if (!known) {
        problem(out, "placements[%zu]: '%s' is not a Canvas placement", i,
                name != NULL ? name : "(missing)");
        return;
    }
    if (type == NULL || (strcmp(type, "LtiResourceLinkRequest") != 0 &&
                         strcmp(type, "LtiDeepLinkingRequest") != 0))
        problem(out, "placements[%zu] (%s): message_type must be LtiResourceLinkRequest or "
                     "LtiDeepLinkingRequest", i, name);
    else if (strcmp(type, "LtiDeepLinkingRequest") == 0 && !dl_ok)
        problem(out, "placements[%zu] (%s) does not support LtiDeepLinkingRequest", i, name);
    if (target != NULL && !is_url(target))
        problem(out, "placements[%zu] (%s): target_link_uri is not an http(s) URL", i, name);
}

static void check_extension(json_t *out, json_t *extensions)
{
    static const char *const levels[] = {"anonymous", "name_only", "email_only", "public"};
    json_t *canvas = NULL, *ext;
    size_t i;
    json_array_foreach(extensions, i, ext) {
        if (json_is_string(json_object_get(ext, "platform")) &&
            strcmp(json_string_value(json_object_get(ext, "platform")), "canvas.instructure.com") ==
                0)
            canvas = ext;
    }
    if (canvas == NULL) {
        problem(out, "extensions has no entry with platform canvas.instructure.com");
        return;
    }
    if (!in_list(json_string_value(json_object_get(canvas, "privacy_level")), levels, 4))
        problem(out, "extensions privacy_level must be anonymous, name_only, email_only or "
                     "public");
    json_t *placements = json_object_get(json_object_get(canvas, "settings"), "placements");
    if (!json_is_array(placements) || json_array_size(placements) == 0) {
        problem(out, "extensions settings.placements is missing or empty");
        return;
    }
    json_t *p;
    json_array_foreach(placements, i, p) {
        check_placement(out, p, i);
    }
}

json_t *sim_devkey_check(json_t *doc)
{
    static const char *const required[] = {"title", "description", "oidc_initiation_url",
                                           "target_link_uri"};
    json_t *out = json_array();
    if (!json_is_object(doc)) {
        problem(out, "the document is not a JSON object");
        return out;
    }
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(doc, required[i]);
        if (!json_is_string(v) || json_string_length(v) == 0)
            problem(out, "%s is missing or empty", required[i]);
    }
    if (json_object_get(doc, "oidc_initiation_url") && !is_url(json_object_get(doc,
                                                                "oidc_initiation_url")))
        problem(out, "oidc_initiation_url is not an http(s) URL");
    if (json_object_get(doc, "target_link_uri") && !is_url(json_object_get(doc,
                                                                           "target_link_uri")))
        problem(out, "target_link_uri is not an http(s) URL");
    json_t *jwk_url = json_object_get(doc, "public_jwk_url");
    json_t *jwk = json_object_get(doc, "public_jwk");
    if (jwk_url == NULL && jwk == NULL)
        problem(out, "public_jwk_url or public_jwk is required");
    if (jwk_url != NULL && !is_url(jwk_url))
        problem(out, "public_jwk_url is not an http(s) URL");
    if (jwk != NULL)
        check_jwk(out, jwk);
    json_t *scopes = json_object_get(doc, "scopes");
    size_t i;
    json_t *s;
    if (scopes != NULL && !json_is_array(scopes))
        problem(out, "scopes is not an array");
    json_array_foreach(scopes, i, s) {
        if (!in_list(json_string_value(s), known_scopes,
                     sizeof(known_scopes) / sizeof(known_scopes[0])))
            problem(out, "scopes[%zu] is not a scope Canvas grants", i);
    }
    json_t *extensions = json_object_get(doc, "extensions");
    if (!json_is_array(extensions))
        problem(out, "extensions is missing or not an array");
    else
        check_extension(out, extensions);
    json_t *custom = json_object_get(doc, "custom_fields");
    const char *key;
    json_t *v;
    if (custom != NULL && !json_is_object(custom))
        problem(out, "custom_fields is not an object");
    json_object_foreach(custom, key, v) {
        if (!json_is_string(v))
            problem(out, "custom_fields.%s is not a string", key);
    }
    return out;
}

int sim_devkey_main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs("Usage: ltisim devkey FILE\n\nChecks a Canvas developer-key JSON file (as printed "
              "by 'ltigate canvas-json')\nthe way Canvas's Paste JSON form does. Exit status 0 "
              "when Canvas would accept\nit, 1 when it would not.\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "ltisim devkey: %s:%d: %s\n", argv[1], jerr.line, jerr.text);
        return 1;
    }
    json_t *problems = sim_devkey_check(doc);
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) {
        printf("problem: %s\n", json_string_value(p));
    }
    size_t n = json_array_size(problems);
    if (n == 0)
        printf("ok: %s is a valid developer-key configuration\n", argv[1]);
    json_decref(problems);
    json_decref(doc);
    return n == 0 ? 0 : 1;
}
