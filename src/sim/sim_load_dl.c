/* SPDX-License-Identifier: MIT */
/*
 * Deep-linking round trips of `ltisim load`: which flows make them, the
 * picker and response pages a browser reads, and the verification of a
 * sample of the signed LtiDeepLinkingResponse tokens against the tool's key
 * set, with the checks Canvas applies (sim_dl.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim_dl.h"
#include "sim_load_int.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
#define DL_SETTINGS_CLAIM "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

/* Returns floor(index * pct / 100), the number of deep-linking flows among
 * the first `index` flows. It cannot overflow below LOAD_MAX_COUNT flows. */
static uint64_t dl_before(const sim_load_opts_t *o, uint64_t index)
{
    return index * o->deep_linking_pct / 100;
}

int load_flow_is_dl(const sim_load_opts_t *o, uint64_t index)
{
    return o->deep_linking_pct > 0 && dl_before(o, index + 1) > dl_before(o, index);
}

int load_flow_dl_sampled(const sim_load_opts_t *o, uint64_t index)
{
    unsigned every = o->dl_verify_every > 0 ? o->dl_verify_every : LOAD_DL_DEFAULT_VERIFY_EVERY;
    /* dl_before(o, index + 1) counts the deep-linking flows up to this one,
     * so the first deep-linking flow has count 1. */
    return load_flow_is_dl(o, index) && dl_before(o, index + 1) % every == 1 % every;
}

json_t *load_dl_expect_from_claims(json_t *claims)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    json_t *aud = json_object_get(claims, "aud");
    const char *deployment = json_string_value(json_object_get(claims, CLAIM "deployment_id"));
    json_t *settings = json_object_get(claims, DL_SETTINGS_CLAIM);
    if (json_is_array(aud))
        aud = json_array_get(aud, 0);
    if (iss == NULL || !json_is_string(aud) || deployment == NULL || !json_is_object(settings))
        return NULL;
    return json_pack("{s:s,s:O,s:s,s:O}", "iss", iss, "client_id", aud, "deployment_id",
                     deployment, "settings", settings);
}

json_t *load_dl_expect_from_token(const char *token)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    size_t len = 0;
    if (dot2 == NULL)
        return NULL;
    unsigned char *text = sim_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
    json_error_t jerr;
    json_t *claims = text != NULL ? json_loadb((const char *)text, len, 0, &jerr) : NULL;
    free(text);
    json_t *expect = load_dl_expect_from_claims(claims);
    json_decref(claims);
    return expect;
}

static size_t on_keys_body(char *data, size_t size, size_t nmemb, void *arg)
{
    return sim_buf_append(arg, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* Fetches `url` into `body` and returns the HTTP status, or -1. */
static long fetch_url(const char *url, long timeout_ms, sim_buf_t *body)
{
    CURL *e = curl_easy_init();
    long status = -1;
    if (e == NULL)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_keys_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static int read_file(const char *path, sim_buf_t *body)
{
    FILE *fp = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    if (fp == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (sim_buf_append(body, chunk, n) != 0)
            break;
    }
    int rc = ferror(fp) || body->overflow ? -1 : 0;
    fclose(fp);
    return rc;
}

json_t *load_dl_keys_read(const char *source, long timeout_ms, char *err, size_t errlen)
{
    sim_buf_t body;
    json_t *doc = NULL;
    int is_url = strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0;

    sim_buf_init(&body, SIM_DL_JWKS_MAX);
    if (is_url) {
        /* Callers checked that the URL is http on a loopback host. */
        long status = fetch_url(source, timeout_ms, &body);
        if (status != 200 || body.data == NULL) {
            snprintf(err, errlen, "GET %s for the tool's key set failed (HTTP %ld%s)", source,
                     status, body.overflow ? ", larger than 64 KiB" : "");
            goto out;
        }
    } else if (read_file(source, &body) != 0 || body.data == NULL) {
        snprintf(err, errlen, "cannot read the tool's key set from %s (missing, unreadable or "
                              "larger than 64 KiB)", source);
        goto out;
    }
    json_error_t jerr;
    doc = json_loads(body.data, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(json_object_get(doc, "keys"))) {
        snprintf(err, errlen, "the key set from %s is not a JSON object {\"keys\": [...]}",
                 source);
        json_decref(doc);
        doc = NULL;
    }
out:
    sim_buf_free(&body);
    return doc;
}

/* Returns the first `<form` of `html` and sets `*end` to its `</form>`. */
static const char *find_form(const char *html, const char **end)
{
    const char *form = html != NULL ? strstr(html, "<form") : NULL;
    *end = form != NULL ? strstr(form, "</form>") : NULL;
    return *end != NULL ? form : NULL;
}

static void add_field(sim_buf_t *b, const char *name, const char *value)
{
    if (b->len > 0)
        sim_buf_puts(b, "&");
    sim_buf_put_urlenc(b, name);
    sim_buf_puts(b, "=");
    sim_buf_put_urlenc(b, value);
}

static int attr_is(const char *tag, const char *end, const char *attr, const char *want)
{
    char *v = load_tag_attr(tag, end, attr);
    int same = v != NULL && strcmp(v, want) == 0;
    free(v);
    return same;
}

/* Appends the field of one <input> or <button> tag: hidden inputs always,
 * the first checkbox or radio input and the first named submit button
 * once each. */
static void take_control(sim_buf_t *b, const char *tag, const char *end, int *have_choice,
                         int *have_submit)
{
    int button = strncmp(tag, "<button", 7) == 0;
    char *name = load_tag_attr(tag, end, "name");
    char *value = load_tag_attr(tag, end, "value");
    if (name == NULL || value == NULL)
        goto out;
    if (button) {
        /* A <button> without a type submits the form. */
        char *type = load_tag_attr(tag, end, "type");
        if (!*have_submit && (type == NULL || strcmp(type, "submit") == 0)) {
            add_field(b, name, value);
            *have_submit = 1;
        }
        free(type);
    } else if (attr_is(tag, end, "type", "hidden")) {
        add_field(b, name, value);
    } else if (!*have_choice &&
               (attr_is(tag, end, "type", "checkbox") || attr_is(tag, end, "type", "radio"))) {
        add_field(b, name, value);
        *have_choice = 1;
    }
out:
    free(name);
    free(value);
}

int load_dl_picker_form(const char *html, char **action, char **body, char *reason,
                        size_t reason_len)
{
    const char *form_end;
    const char *form = find_form(html, &form_end);
    int have_choice = 0, have_submit = 0;
    sim_buf_t b;

    *action = NULL;
    *body = NULL;
    if (form == NULL) {
        snprintf(reason, reason_len, "dl_picker_no_form");
        return -1;
    }
    const char *tag_end = strchr(form, '>');
    *action = tag_end != NULL && tag_end < form_end ? load_tag_attr(form, tag_end, "action")
                                                    : NULL;
    if (*action == NULL) {
        snprintf(reason, reason_len, "dl_picker_no_form");
        return -1;
    }
    sim_buf_init(&b, 64 * 1024);
    for (const char *p = form; p < form_end; p++) {
        if (*p != '<' || (strncmp(p, "<input ", 7) != 0 && strncmp(p, "<button ", 8) != 0))
            continue;
        const char *end = strchr(p, '>');
        if (end == NULL || end > form_end)
            break;
        take_control(&b, p, end, &have_choice, &have_submit);
        p = end;
    }
    if (!have_choice || b.overflow) {
        /* ltigate shows no entries when the request accepts no resource links. */
        snprintf(reason, reason_len, b.overflow ? "dl_picker_too_large" : "dl_picker_no_entry");
        sim_buf_free(&b);
        free(*action);
        *action = NULL;
        return -1;
    }
    *body = sim_buf_steal(&b);
    return 0;
}

int load_dl_response_form(const char *html, char **action, char **jwt, char *reason,
                          size_t reason_len)
{
    const char *form_end;
    const char *form = find_form(html, &form_end);
    *action = NULL;
    *jwt = NULL;
    if (form == NULL) {
        snprintf(reason, reason_len, "dl_response_no_form");
        return -1;
    }
    const char *tag_end = strchr(form, '>');
    if (tag_end != NULL && tag_end < form_end)
        *action = load_tag_attr(form, tag_end, "action");
    for (const char *p = strstr(form, "<input "); p != NULL && p < form_end && *jwt == NULL;
         p = strstr(p + 1, "<input ")) {
        const char *end = strchr(p, '>');
        if (end == NULL || end > form_end)
            break;
        if (attr_is(p, end, "name", "JWT"))
            *jwt = load_tag_attr(p, end, "value");
    }
    if (*action == NULL || *jwt == NULL || (*jwt)[0] == '\0') {
        snprintf(reason, reason_len, "dl_response_no_jwt");
        free(*action);
        free(*jwt);
        *action = *jwt = NULL;
        return -1;
    }
    return 0;
}

int load_dl_verify(const sim_load_opts_t *o, json_t *keys, json_t *expect, const char *action,
                   const char *jwt, char *reason, size_t reason_len)
{
    json_t *settings = json_object_get(expect, "settings");
    const char *return_url =
        json_string_value(json_object_get(settings, "deep_link_return_url"));
    sim_dl_expect_t e = {
        .issuer = json_string_value(json_object_get(expect, "iss")),
        .client_id = json_string_value(json_object_get(expect, "client_id")),
        .deployment_id = json_string_value(json_object_get(expect, "deployment_id")),
        .placement = o->dl_placement,
        .settings = settings,
        .tool_url = o->launch_url,
    };
    if (return_url == NULL || strcmp(action, return_url) != 0) {
        snprintf(reason, reason_len, "dl_return_url_mismatch");
        return -1;
    }
    json_t *report = sim_dl_verify_keys(&e, keys, jwt);
    int valid = json_is_true(json_object_get(report, "valid"));
    if (!valid) {
        const char *stage = json_string_value(json_object_get(report, "stage"));
        const char *code = "dl_response_claims_invalid";
        if (stage != NULL && strcmp(stage, "token") == 0)
            code = "dl_response_malformed";
        else if (stage != NULL && strcmp(stage, "key") == 0)
            code = "dl_response_kid_unknown";
        else if (stage != NULL && strcmp(stage, "signature") == 0)
            code = "dl_response_signature_invalid";
        snprintf(reason, reason_len, "%s", code);
    }
    json_decref(report);
    return valid ? 0 : -1;
}
