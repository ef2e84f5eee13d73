/* SPDX-License-Identifier: MIT */
/*
 * Canvas-shaped id_token payloads. Claim names, role URIs and the deep
 * linking settings per placement follow Canvas's LTI 1.3 message builder
 * (instructure/canvas-lms lib/lti/messages/jwt_message.rb and
 * deep_linking_request.rb, lib/lti/substitutions_helper.rb for roles).
 * User ids, hints and context ids are derived from the user name or course
 * id with SHA-256, so the same user gets the same sub in every launch.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rsa.h>
#include "sim_token.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
#define LIS "http://purl.imsglobal.org/vocab/lis/v2/"

const char *const sim_token_forge_modes = "alg_none, hs256_pubkey, bad_signature, wrong_key";

static const char *const forge_modes[] = {"alg_none", "hs256_pubkey", "bad_signature", "wrong_key"};

static int forge_known(const char *mode)
{
    for (size_t i = 0; i < sizeof(forge_modes) / sizeof(forge_modes[0]); i++)
        if (strcmp(forge_modes[i], mode) == 0)
            return 1;
    return 0;
}

/* Role URIs per simulated Canvas user type; Canvas sorts them. */
static const struct {
    const char *role;
    const char *uris[4];
} role_table[] = {
    {"instructor",
     {LIS "institution/person#Instructor", LIS "membership#Instructor", LIS "system/person#User"}},
    {"student",
     {LIS "institution/person#Student", LIS "membership#Learner", LIS "system/person#User"}},
    {"ta",
     {LIS "membership#Instructor", LIS "membership/Instructor#TeachingAssistant",
      LIS "system/person#User"}},
    {"admin", {LIS "institution/person#Administrator", LIS "system/person#User"}},
    {"siteadmin", {LIS "system/person#SysAdmin", LIS "system/person#User"}},
    {"observer", {LIS "membership#Mentor", LIS "system/person#User"}},
    {"designer", {LIS "membership#ContentDeveloper", LIS "system/person#User"}},
    {"teststudent",
     {LIS "membership#Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"}},
    {"anonymous", {LIS "system/person#None"}},
};

/* Deep linking settings per placement (Canvas deep_linking_request.rb). */
static const struct {
    const char *placement;
    const char *accept_types[5];
    const char *targets[3];
    int multiple;
    int auto_create;
} dl_table[] = {
    {"editor_button",
     {"link", "file", "html", "ltiResourceLink", "image"},
     {"embed", "iframe", "window"},
     1,
     0},
    {"link_selection", {"ltiResourceLink"}, {"iframe", "window"}, 1, 0},
    {"assignment_selection", {"ltiResourceLink"}, {"iframe", "window"}, 0, 0},
    {"homework_submission", {"file", "ltiResourceLink"}, {"iframe"}, 0, 0},
    {"migration_selection", {"file"}, {"iframe"}, 0, 0},
    {"course_assignments_menu", {"ltiResourceLink"}, {"iframe", "window"}, 1, 0},
    {"module_index_menu_modal", {"ltiResourceLink"}, {"iframe", "window"}, 1, 1},
    {"module_menu_modal", {"ltiResourceLink"}, {"iframe", "window"}, 1, 1},
    {"collaboration", {"ltiResourceLink"}, {"iframe"}, 0, 1},
    {"conference_selection", {"link", "html"}, {"iframe", "window"}, 0, 1},
    {"submission_type_selection", {"ltiResourceLink"}, {"iframe", "window"}, 0, 0},
};

static int role_index(const char *role)
{
    for (size_t i = 0; i < sizeof(role_table) / sizeof(role_table[0]); i++)
        if (strcmp(role_table[i].role, role) == 0)
            return (int)i;
    return -1;
}

/* Returns 1 when `s` is 1..max characters from `extra` or alphanumerics. */
static int is_token(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr(extra, *p) == NULL)
            return 0;
    return 1;
}

/* Returns 1 when `s` is valid UTF-8, the only text JSON strings carry. */
static int is_utf8(const char *s)
{
    json_t *probe = json_string(s);
    json_decref(probe);
    return probe != NULL;
}

static char *dup_param(const sim_params_t *params, const char *name, const char *fallback)
{
    const char *v = sim_params_get(params, name);
    return strdup(v != NULL && v[0] != '\0' ? v : fallback);
}

/* Parses the JSON object in parameter `name` into *out (NULL when absent). */
static int json_param(const sim_params_t *params, const char *name, json_t **out, char *err,
                      size_t errlen)
{
    const char *text = sim_params_get(params, name);
    json_error_t jerr;
    if (text == NULL || text[0] == '\0')
        return 0;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL || !json_is_object(*out)) {
        snprintf(err, errlen, "parameter %s is not a JSON object: %s", name,
                 *out == NULL ? jerr.text : "other JSON type");
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int offset_param(const sim_params_t *params, const char *name, int64_t *out, char *err,
                        size_t errlen)
{
    const char *text = sim_params_get(params, name);
    if (text == NULL || text[0] == '\0')
        return 0;
    if (sim_parse_i64(text, out) != 0) {
        snprintf(err, errlen, "parameter %s is not an integer number of seconds", name);
        return -1;
    }
    return 0;
}

void sim_login_hint_for(const char *user, char out[41])
{
    sim_derived_hex("login_hint", user, out, 20);
}

int sim_launch_req_parse(sim_launch_req_t *req, const sim_params_t *params,
                         const char *default_target, char *err, size_t errlen)
{
    memset(req, 0, sizeof(*req));
    req->exp_offset = 3600; /* Canvas: exp = iat + 1 hour */
    req->user = dup_param(params, "user", "jdoe");
    req->name = dup_param(params, "name", "Jane Doe");
    req->email = dup_param(params, "email", "jdoe@example.edu");
    req->role = dup_param(params, "role", "instructor");
    req->placement = dup_param(params, "placement", "course_navigation");
    req->course = dup_param(params, "course", "1234");
    req->message_type = dup_param(params, "message_type", "LtiResourceLinkRequest");
    req->target_link_uri = dup_param(params, "target", default_target);
    const char *sis = sim_params_get(params, "sis_id");
    const char *kid = sim_params_get(params, "kid");
    const char *forge = sim_params_get(params, "forge");
    req->sis_id = sis != NULL ? strdup(sis) : NULL;
    req->kid = kid != NULL ? strdup(kid) : NULL;
    req->forge = forge != NULL && forge[0] != '\0' ? strdup(forge) : NULL;
    const char *raw_payload = sim_params_get(params, "raw_payload");
    const char *raw_header = sim_params_get(params, "raw_header");
    req->raw_payload = raw_payload != NULL && raw_payload[0] != '\0' ? strdup(raw_payload) : NULL;
    req->raw_header = raw_header != NULL && raw_header[0] != '\0' ? strdup(raw_header) : NULL;

    if (!is_utf8(req->name) || !is_utf8(req->email) || !is_utf8(req->target_link_uri) ||
        (req->kid != NULL && !is_utf8(req->kid)) ||
        (req->sis_id != NULL && !is_utf8(req->sis_id))) {
        snprintf(err, errlen, "parameters name, email, target, kid and sis_id must be UTF-8");
        return -1;
    }
    if (!is_token(req->user, 64, "._-@")) {
        snprintf(err, errlen, "parameter user must be 1-64 characters of [A-Za-z0-9._-@]");
        return -1;
    }
    if (role_index(req->role) < 0) {
        snprintf(err, errlen,
                 "parameter role must be instructor, student, ta, admin, siteadmin, observer, "
                 "designer, teststudent or anonymous");
        return -1;
    }
    if (!is_token(req->placement, 64, "_")) {
        snprintf(err, errlen, "parameter placement must be a placement name, null or absent");
        return -1;
    }
    if (!is_token(req->course, 32, "_-")) {
        snprintf(err, errlen, "parameter course must be 1-32 characters of [A-Za-z0-9_-]");
        return -1;
    }
    if (!is_token(req->message_type, 64, "")) {
        snprintf(err, errlen, "parameter message_type must be a message type name");
        return -1;
    }
    if (req->forge != NULL && !forge_known(req->forge)) {
        snprintf(err, errlen, "parameter forge must be one of: %s", sim_token_forge_modes);
        return -1;
    }
    if (json_param(params, "claims", &req->claims, err, errlen) != 0 ||
        json_param(params, "header", &req->header, err, errlen) != 0 ||
        offset_param(params, "iat_offset", &req->iat_offset, err, errlen) != 0 ||
        offset_param(params, "exp_offset", &req->exp_offset, err, errlen) != 0)
        return -1;

    sim_login_hint_for(strcmp(req->role, "anonymous") == 0 ? "$anonymous" : req->user,
                       req->login_hint);
    sim_random_hex(req->message_hint, 32);
    return 0;
}

void sim_launch_req_free(sim_launch_req_t *req)
{
    if (req == NULL)
        return;
    free(req->user);
    free(req->name);
    free(req->email);
    free(req->role);
    free(req->placement);
    free(req->course);
    free(req->message_type);
    free(req->sis_id);
    free(req->target_link_uri);
    free(req->kid);
    free(req->forge);
    free(req->raw_payload);
    free(req->raw_header);
    json_decref(req->claims);
    json_decref(req->header);
    memset(req, 0, sizeof(*req));
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *roles_claim(const char *role)
{
    const char *uris[4];
    size_t n = 0;
    int idx = role_index(role);
    while (n < 4 && role_table[idx].uris[n] != NULL) {
        uris[n] = role_table[idx].uris[n];
        n++;
    }
    qsort(uris, n, sizeof(uris[0]), compare_strings);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(uris[i]));
    return arr;
}

/* Canvas sends the display name plus given and family names split at the
 * first space. */
static void add_person(json_t *p, const sim_launch_req_t *req, const sim_token_ctx_t *ctx)
{
    char sub[37], legacy[41], pic[17];
    sim_derived_uuid("sub", req->user, sub);
    sim_derived_hex("lti11_user", req->user, legacy, 20);
    sim_derived_hex("picture", req->user, pic, 8);

    const char *space = strchr(req->name, ' ');
    char *given =
        space != NULL ? strndup(req->name, (size_t)(space - req->name)) : strdup(req->name);
    json_object_set_new(p, "sub", json_string(sub));
    json_object_set_new(p, "name", json_string(req->name));
    json_object_set_new(p, "given_name", json_string(given));
    json_object_set_new(p, "family_name", json_string(space != NULL ? space + 1 : ""));
    json_object_set_new(p, "email", json_string(req->email));
    json_object_set_new(p, "picture", json_sprintf("%s/images/thumbnails/%s", ctx->base_url, pic));
    json_object_set_new(p, CLAIM "lti11_legacy_user_id", json_string(legacy));
    free(given);

    /* An admin without an SIS id gets the variable unsubstituted, as Canvas
     * sends it. Everyone else gets an SIS id unless the sis_id parameter sets one. */
    const char *sourced = req->sis_id;
    char sis_buf[80];
    if (sourced == NULL && strcmp(req->role, "admin") == 0)
        sourced = "$Person.sourcedId";
    else if (sourced == NULL) {
        snprintf(sis_buf, sizeof(sis_buf), "SIS-%s", req->user);
        sourced = sis_buf;
    } else if (sourced[0] == '\0')
        sourced = "$Person.sourcedId";
    json_object_set_new(p, CLAIM "lis", json_pack("{s:s}", "person_sourcedid", sourced));

    if (strcmp(req->role, "observer") == 0) {
        char observee[37];
        sim_derived_uuid("sub", "student", observee);
        json_object_set_new(p, CLAIM "role_scope_mentor", json_pack("[s]", observee));
    }
}

static json_t *custom_claim(const sim_launch_req_t *req, int anonymous, int has_context)
{
    char user_hex[9], token[37];
    sim_derived_hex("canvas_user_id", req->user, user_hex, 4);
    sim_random_uuid(token);
    unsigned long user_id = 100000 + strtoul(user_hex, NULL, 16) % 900000;
    char user_id_text[24];
    snprintf(user_id_text, sizeof(user_id_text), "%lu", user_id);

    /* Canvas leaves a variable it cannot resolve as its literal name. */
    return json_pack(
        "{s:s,s:s,s:s,s:s}", "canvas_user_login_id", anonymous ? "$Canvas.user.loginId" : req->user,
        "canvas_user_id", anonymous ? "$Canvas.user.id" : user_id_text, "canvas_course_id",
        has_context ? req->course : "$Canvas.course.id", "canvas_post_message_token", token);
}

static const char *resource_title(const char *placement)
{
    if (strcmp(placement, "course_navigation") == 0)
        return "Media Gallery";
    if (strcmp(placement, "global_navigation") == 0)
        return "My Media";
    return "Kaltura Media";
}

static json_t *dl_settings(const sim_token_ctx_t *ctx, const sim_launch_req_t *req)
{
    size_t idx = 0;
    int found = 0;
    for (size_t i = 0; i < sizeof(dl_table) / sizeof(dl_table[0]); i++)
        if (strcmp(dl_table[i].placement, req->placement) == 0) {
            idx = i;
            found = 1;
        }
    if (!found)
        idx = 1; /* other placements: one or more resource links, like link_selection */

    json_t *types = json_array(), *targets = json_array();
    for (size_t i = 0; i < 5 && dl_table[idx].accept_types[i] != NULL; i++)
        json_array_append_new(types, json_string(dl_table[idx].accept_types[i]));
    for (size_t i = 0; i < 3 && dl_table[idx].targets[i] != NULL; i++)
        json_array_append_new(targets, json_string(dl_table[idx].targets[i]));

    /* Canvas carries its own state in the return URL's query string. */
    char data[33];
    sim_random_hex(data, 16);
    json_t *settings = json_pack(
        "{s:o,s:o,s:o,s:s,s:b,s:b}", "deep_link_return_url",
        json_sprintf("%s/courses/%s/deep_linking_response?data=%s", ctx->base_url, req->course,
                     data),
        "accept_types", types, "accept_presentation_document_targets", targets,
        "accept_media_types", "image/*,text/html,application/vnd.ims.lti.v1.ltilink,*/*",
        "accept_multiple", dl_table[idx].multiple, "auto_create", dl_table[idx].auto_create);
    return settings;
}

static void add_context(json_t *p, const sim_token_ctx_t *ctx, const sim_launch_req_t *req)
{
    char context_id[41];
    sim_derived_hex("context", req->course, context_id, 20);
    json_object_set_new(p, CLAIM "context",
                        json_pack("{s:s,s:o,s:o,s:[s]}", "id", context_id, "label",
                                  json_sprintf("C%s", req->course), "title",
                                  json_sprintf("Course %s", req->course), "type",
                                  "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"));
    json_object_set_new(
        p, "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint",
        json_pack("{s:[s,s,s,s],s:o}", "scope",
                  "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                  "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
                  "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                  "https://purl.imsglobal.org/spec/lti-ags/scope/score", "lineitems",
                  json_sprintf("%s/api/lti/courses/%s/line_items", ctx->base_url, req->course)));
    json_object_set_new(
        p, "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice",
        json_pack("{s:o,s:[s]}", "context_memberships_url",
                  json_sprintf("%s/api/lti/courses/%s/names_and_roles", ctx->base_url, req->course),
                  "service_versions", "2.0"));
}

json_t *sim_claims_build(const sim_token_ctx_t *ctx, const sim_launch_req_t *req, const char *nonce,
                         int64_t now)
{
    int anonymous = strcmp(req->role, "anonymous") == 0;
    int has_context = strcmp(req->placement, "global_navigation") != 0;
    int deep_linking = strcmp(req->message_type, "LtiDeepLinkingRequest") == 0;
    int64_t iat = now + req->iat_offset;
    json_t *p = json_object();

    json_object_set_new(p, "iss", json_string(ctx->issuer));
    json_object_set_new(p, "aud", json_string(ctx->client_id));
    json_object_set_new(p, "azp", json_string(ctx->client_id));
    json_object_set_new(p, "iat", json_integer((json_int_t)iat));
    json_object_set_new(p, "exp", json_integer((json_int_t)(iat + req->exp_offset)));
    json_object_set_new(p, "nonce", json_string(nonce));
    json_object_set_new(p, CLAIM "message_type", json_string(req->message_type));
    json_object_set_new(p, CLAIM "version", json_string("1.3.0"));
    json_object_set_new(p, CLAIM "deployment_id", json_string(ctx->deployment_id));
    json_object_set_new(p, CLAIM "target_link_uri", json_string(req->target_link_uri));
    json_object_set_new(p, CLAIM "roles", roles_claim(req->role));

    if (deep_linking) {
        json_object_set_new(p, "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings",
                            dl_settings(ctx, req));
    } else {
        char link_id[37];
        char link_key[160];
        snprintf(link_key, sizeof(link_key), "%s/%s", req->course, req->placement);
        sim_derived_uuid("resource_link", link_key, link_id);
        json_object_set_new(
            p, CLAIM "resource_link",
            json_pack("{s:s,s:s}", "id", link_id, "title", resource_title(req->placement)));
    }
    if (has_context)
        add_context(p, ctx, req);

    json_object_set_new(p, CLAIM "tool_platform",
                        json_pack("{s:s,s:s,s:s,s:s}", "guid", ctx->platform_guid, "name",
                                  "Example University", "version", "cloud", "product_family_code",
                                  "canvas"));
    json_object_set_new(p, CLAIM "launch_presentation",
                        json_pack("{s:s,s:o,s:s}", "document_target", "iframe", "return_url",
                                  has_context
                                      ? json_sprintf("%s/courses/%s/external_content/success/"
                                                     "external_tool_redirect",
                                                     ctx->base_url, req->course)
                                      : json_sprintf("%s/accounts/1/external_content/success/"
                                                     "external_tool_redirect",
                                                     ctx->base_url),
                                  "locale", "en"));
    json_object_set_new(p, "locale", json_string("en"));

    if (anonymous)
        json_object_set_new(p, CLAIM "lti11_legacy_user_id", json_string(""));
    else
        add_person(p, req, ctx);
    json_object_set_new(p, CLAIM "custom", custom_claim(req, anonymous, has_context));

    /* Canvas always sends the placement claim, null for launches that have
     * no placement (assignments, module items); "absent" drops it for tests. */
    if (strcmp(req->placement, "null") == 0)
        json_object_set_new(p, "https://www.instructure.com/placement", json_null());
    else if (strcmp(req->placement, "absent") != 0)
        json_object_set_new(p, "https://www.instructure.com/placement",
                            json_string(req->placement));

    if (req->claims != NULL)
        sim_json_merge(p, req->claims);
    return p;
}

/* Returns `text` with each placeholder names[i] replaced by values[i]
 * (malloc'd), or NULL when the result exceeds 1 MiB. */
static char *substitute(const char *text, const char *const *names, const char *const *values,
                        size_t n)
{
    sim_buf_t b;
    sim_buf_init(&b, 1024 * 1024);
    for (const char *p = text; *p != '\0';) {
        size_t i = 0;
        while (i < n && strncmp(p, names[i], strlen(names[i])) != 0)
            i++;
        if (i < n) {
            sim_buf_puts(&b, values[i]);
            p += strlen(names[i]);
        } else {
            sim_buf_append(&b, p, 1);
            p++;
        }
    }
    if (b.overflow || b.data == NULL) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* Writes claim `name` of `payload` as text: strings bare, numbers as digits. */
static void claim_text(json_t *payload, const char *name, char *out, size_t outlen)
{
    json_t *v = json_object_get(payload, name);
    if (json_is_string(v))
        snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
    else
        out[0] = '\0';
}

/* Returns the raw payload of `req` with its placeholders filled from `payload`. */
static char *raw_payload_text(const sim_launch_req_t *req, json_t *payload)
{
    static const char *const names[] = {"$NONCE", "$IAT", "$EXP", "$ISS", "$AUD", "$DEPLOYMENT",
                                        "$TARGET"};
    static const char *const claims[] = {"nonce", "iat", "exp", "iss", "aud", CLAIM "deployment_id",
                                         CLAIM "target_link_uri"};
    char values[7][512];
    const char *ptrs[7];
    for (size_t i = 0; i < 7; i++) {
        claim_text(payload, claims[i], values[i], sizeof(values[i]));
        ptrs[i] = values[i];
    }
    return substitute(req->raw_payload, names, ptrs, 7);
}

/* Signs with OpenSSL: the merged header, then one of the forged forms. */
static char *sign_special(const sim_keyring_t *ring, const sim_launch_req_t *req,
                          const char *payload, char *err, size_t errlen)
{
    const sim_key_t *key = &ring->slot[SIM_KEY_PRESENT];
    const char *forge = req->forge != NULL ? req->forge : "";
    const char *alg = "RS256";
    if (strcmp(forge, "alg_none") == 0)
        alg = "none";
    else if (strcmp(forge, "hs256_pubkey") == 0)
        alg = "HS256";

    json_t *header = json_pack("{s:s,s:s,s:s}", "typ", "JWT", "alg", alg, "kid",
                               req->kid != NULL ? req->kid : key->kid);
    if (req->header != NULL)
        sim_json_merge(header, req->header);
    char *header_text = NULL;
    if (req->raw_header != NULL) {
        const char *name = "$KID", *value = key->kid;
        header_text = substitute(req->raw_header, &name, &value, 1);
    } else {
        header_text = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(header);
    char *token = NULL;
    EVP_PKEY *other = NULL;

    if (header_text == NULL)
        goto out;
    if (strcmp(forge, "alg_none") == 0) {
        token = sim_jws_unsecured_raw(header_text, payload);
    } else if (strcmp(forge, "hs256_pubkey") == 0) {
        /* The classic confusion attack: HMAC keyed with the public key PEM. */
        char *pem = sim_public_pem(key->pkey);
        if (pem != NULL)
            token = sim_jws_sign_hs256_raw((const unsigned char *)pem, strlen(pem), header_text,
                                           payload);
        free(pem);
    } else if (strcmp(forge, "wrong_key") == 0) {
        other = EVP_RSA_gen(2048);
        if (other != NULL)
            token = sim_jws_sign_rs256_raw(other, header_text, payload);
    } else {
        token = sim_jws_sign_rs256_raw(key->pkey, header_text, payload);
        if (token != NULL && strcmp(forge, "bad_signature") == 0) {
            /* Change one signature character so the bits differ but the
             * segment stays canonical base64url of the same length. */
            char *sig = strrchr(token, '.') + 1;
            sig[10] = sig[10] == 'A' ? 'B' : 'A';
        }
    }
out:
    if (token == NULL)
        snprintf(err, errlen, "signing with OpenSSL failed");
    EVP_PKEY_free(other);
    free(header_text);
    return token;
}

char *sim_token_sign(const sim_keyring_t *ring, const sim_launch_req_t *req, json_t *payload,
                     char *err, size_t errlen)
{
    char *payload_text = req->raw_payload != NULL
                             ? raw_payload_text(req, payload)
                             : json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *token = NULL;
    if (payload_text == NULL) {
        snprintf(err, errlen, "payload does not serialize");
        return NULL;
    }
    if (req->header != NULL || req->forge != NULL || req->raw_payload != NULL ||
        req->raw_header != NULL) {
        token = sign_special(ring, req, payload_text, err, errlen);
    } else {
        token = sim_keyring_sign(ring, payload_text, req->kid);
        if (token == NULL)
            snprintf(err, errlen, "libjwt could not sign the id_token");
    }
    free(payload_text);
    return token;
}
