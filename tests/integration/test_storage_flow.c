/* SPDX-License-Identifier: MIT */
/*
 * Launches through LTI Platform Storage against a real ltigate process and
 * the simulated Canvas, at the HTTP level: the test plays the browser and
 * the platform's storage frame itself (it carries the state and nonce from
 * the login page to the completion step), and never sends the state cookie.
 * The pages' script is exercised in real Chromium by tests/browser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include "harness.h"

#define BODY_MAX (1 << 20)
#define MAX_FIELDS 32

static harness_t shared;

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char reason[64];
    char location[4096];
    char csp[512];
    char ctype[128];
    char referrer[64];
    char cookies[8192]; /* every Set-Cookie value, one per line */
} resp_t;

typedef struct field {
    char *name, *value;
} field_t;

typedef struct fields {
    field_t f[MAX_FIELDS];
    size_t n;
    char *action, *method;
} fields_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t add = size * n;
    if (r->len + add > BODY_MAX)
        return 0;
    char *grown = realloc(r->body, r->len + add + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static void copy_header_value(char *out, size_t outlen, const char *v, size_t vlen)
{
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, outlen, "%.*s", (int)vlen, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    resp_t *r = arg;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {
        {"x-lti-reason:", offsetof(resp_t, reason), sizeof(((resp_t *)0)->reason)},
        {"location:", offsetof(resp_t, location), sizeof(((resp_t *)0)->location)},
        {"content-security-policy:", offsetof(resp_t, csp), sizeof(((resp_t *)0)->csp)},
        {"content-type:", offsetof(resp_t, ctype), sizeof(((resp_t *)0)->ctype)},
        {"referrer-policy:", offsetof(resp_t, referrer), sizeof(((resp_t *)0)->referrer)},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t nl = strlen(wanted[i].name);
        if (len > nl && strncasecmp(data, wanted[i].name, nl) == 0) {
            const char *v = data + nl;
            while (*v == ' ')
                v++;
            copy_header_value((char *)r + wanted[i].off, wanted[i].cap, v,
                              len - (size_t)(v - data));
        }
    }
    if (len > 11 && strncasecmp(data, "set-cookie:", 11) == 0) {
        size_t have = strlen(r->cookies);
        char line[4096];
        copy_header_value(line, sizeof(line), data + 12, len - 12);
        snprintf(r->cookies + have, sizeof(r->cookies) - have, "%s\n", line);
    }
    return len;
}

/* Origin header of the next requests, or NULL for none. */
static const char *origin_header;

/* One request without a cookie jar; `cookie` is sent as given. */
static void http(const char *method, const char *url, const char *form, const char *cookie,
                 resp_t *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (form != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    if (cookie != NULL)
        curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    struct curl_slist *headers = NULL;
    char line[128];
    if (origin_header != NULL) {
        snprintf(line, sizeof(line), "Origin: %s", origin_header);
        headers = curl_slist_append(headers, line);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = strdup("");
}

static void resp_clear(resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* Decodes the entities h2o_htmlescape and the simulator produce. */
static char *unescape(const char *s, size_t len)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''},
                {"&#x27;", '\''}};
    char *out = malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        for (; k < sizeof(ents) / sizeof(ents[0]); k++) {
            size_t el = strlen(ents[k].ent);
            if (i + el <= len && memcmp(s + i, ents[k].ent, el) == 0) {
                out[n++] = ents[k].c;
                i += el;
                break;
            }
        }
        if (k == sizeof(ents) / sizeof(ents[0]))
            out[n++] = s[i++];
    }
    out[n] = '\0';
    return out;
}

/* Returns the unescaped value of attribute `name` in the tag at `tag`. */
static char *attr_in(const char *tag, const char *name)
{
    const char *end = strchr(tag, '>');
    char pat[64];
    snprintf(pat, sizeof(pat), " %s=\"", name);
    const char *p = strstr(tag, pat);
    if (p == NULL || (end != NULL && p > end))
        return NULL;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    return q != NULL ? unescape(p, (size_t)(q - p)) : NULL;
}

/* Returns the unescaped value of the first `attr` in the element with `id`. */
static char *attr_of_id(const char *body, const char *id, const char *attr)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "id=\"%s\"", id);
    const char *p = strstr(body, pat);
    if (p == NULL)
        return NULL;
    while (p > body && *p != '<')
        p--;
    return attr_in(p, attr);
}

/* Reads the first form in `body` (or the form with `id`): action, method and
 * hidden inputs. */
static void parse_form(const char *body, const char *id, fields_t *f)
{
    memset(f, 0, sizeof(*f));
    const char *p = body;
    if (id != NULL) {
        char pat[64];
        snprintf(pat, sizeof(pat), "id=\"%s\"", id);
        p = strstr(body, pat);
        assert_non_null(p);
        while (p > body && *p != '<')
            p--;
    } else {
        p = strstr(body, "<form");
        assert_non_null(p);
    }
    f->action = attr_in(p, "action");
    f->method = attr_in(p, "method");
    const char *end = strstr(p, "</form>");
    assert_non_null(end);
    for (const char *q = strstr(p, "<input"); q != NULL && q < end && f->n < MAX_FIELDS;
         q = strstr(q + 1, "<input")) {
        f->f[f->n].name = attr_in(q, "name");
        f->f[f->n].value = attr_in(q, "value");
        if (f->f[f->n].name != NULL && f->f[f->n].value != NULL)
            f->n++;
    }
}

static void fields_clear(fields_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->f[i].name);
        free(f->f[i].value);
    }
    free(f->action);
    free(f->method);
}

static const char *field_get(const fields_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->f[i].name, name) == 0)
            return f->f[i].value;
    return NULL;
}

/* Encodes the fields as a form body, leaving out `skip` (may be NULL). */
static char *encode(const fields_t *f, const char *skip)
{
    CURL *c = curl_easy_init();
    size_t cap = 65536, n = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < f->n; i++) {
        if (skip != NULL && strcmp(f->f[i].name, skip) == 0)
            continue;
        char *v = curl_easy_escape(c, f->f[i].value, 0);
        n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n > 0 ? "&" : "", f->f[i].name, v);
        curl_free(v);
    }
    curl_easy_cleanup(c);
    return out;
}

static int start_shared(void **state)
{
    static char hosted[600];
    const char *src = getenv("LTIGATE_SOURCE_DIR");
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The catalog gives the landing pages their links to the player. */
    snprintf(hosted, sizeof(hosted), "  mediaCatalogFile: %s/conf/catalog.json\n",
             src != NULL ? src : ".");
    harness_opts_t opts = {.extra_hosted_yaml = hosted};
    if (harness_start(&shared, &opts) != 0)
        return -1;
    char jwks[128];
    snprintf(jwks, sizeof(jwks), "%s/hosted/index/jwks", shared.tool_base);
    return sim_platform_set_tool_jwks(shared.platform, jwks);
}

static int stop_shared(void **state)
{
    (void)state;
    harness_stop(&shared);
    curl_global_cleanup();
    return 0;
}

/* What the browser holds after the login page: the values it stored in the
 * platform's frame and the launch form the platform posted back. */
typedef struct flow {
    char *state, *nonce, *state_key, *target, *origin;
    fields_t launch; /* the platform's form to the tool's launch URL */
    char *login_page;
    char login_cookies[8192];
} flow_t;

static void flow_clear(flow_t *fl)
{
    free(fl->state);
    free(fl->nonce);
    free(fl->state_key);
    free(fl->target);
    free(fl->origin);
    free(fl->login_page);
    fields_clear(&fl->launch);
}

#define STUDENT_LAUNCH "user=asmith&role=student&placement=course_navigation"
#define PICKER_LAUNCH                                                                              \
    "user=jdoe&role=instructor&placement=editor_button&message_type=LtiDeepLinkingRequest"

/* Platform launch with storage offered, login, authorize. */
static void start_launch(flow_t *fl, const char *launch, const char *storage)
{
    char url[512];
    resp_t r;
    fields_t login;

    memset(fl, 0, sizeof(*fl));
    snprintf(url, sizeof(url), "%s/sim/launch?%s&storage=%s",
             sim_platform_base_url(shared.platform), launch, storage);
    http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    parse_form(r.body, NULL, &login);
    resp_clear(&r);

    char *body = encode(&login, NULL);
    http("POST", login.action, body, NULL, &r);
    free(body);
    fields_clear(&login);
    assert_int_equal(r.status, 200);
    fl->login_page = strdup(r.body);
    snprintf(fl->login_cookies, sizeof(fl->login_cookies), "%s", r.cookies);
    fl->state = attr_of_id(r.body, "lti-storage", "data-state");
    fl->nonce = attr_of_id(r.body, "lti-storage", "data-nonce");
    fl->state_key = attr_of_id(r.body, "lti-storage", "data-state-key");
    fl->target = attr_of_id(r.body, "lti-storage", "data-target");
    fl->origin = attr_of_id(r.body, "lti-storage", "data-origin");
    assert_non_null(fl->state);
    assert_non_null(fl->nonce);

    fields_t auth;
    parse_form(r.body, "lti-continue", &auth);
    resp_clear(&r);
    body = encode(&auth, NULL);
    if (strcmp(auth.method, "get") == 0) {
        char *full = malloc(strlen(auth.action) + strlen(body) + 2);
        sprintf(full, "%s?%s", auth.action, body);
        http("GET", full, NULL, NULL, &r);
        free(full);
    } else {
        http("POST", auth.action, body, NULL, &r);
    }
    free(body);
    fields_clear(&auth);
    assert_int_equal(r.status, 200);
    parse_form(r.body, NULL, &fl->launch);
    resp_clear(&r);
    assert_non_null(field_get(&fl->launch, "id_token"));
}

static void start_flow(flow_t *fl, const char *storage)
{
    start_launch(fl, STUDENT_LAUNCH, storage);
}

/* Posts the launch without any cookie; returns the completion id. */
static char *launch_without_cookie(flow_t *fl, resp_t *r)
{
    char *body = encode(&fl->launch, NULL);
    http("POST", fl->launch.action, body, NULL, r);
    free(body);
    assert_int_equal(r->status, 200);
    fields_t done;
    parse_form(r->body, "lti-complete", &done);
    char *id = strdup(field_get(&done, "completion_id"));
    assert_string_equal(done.action, "/hosted/index/storage-complete");
    fields_clear(&done);
    return id;
}

/* Posts the completion form as ltigate's own page does (Origin: the tool). */
static void complete(const char *id, const char *state, const char *nonce, resp_t *r)
{
    char url[256], form[512];
    snprintf(url, sizeof(url), "%s/hosted/index/storage-complete", shared.tool_base);
    snprintf(form, sizeof(form), "completion_id=%s&state=%s&nonce=%s", id, state, nonce);
    origin_header = shared.tool_base;
    http("POST", url, form, NULL, r);
    origin_header = NULL;
}

/* Returns "ltigate_session=VALUE" from the Set-Cookie lines, or NULL. */
static char *session_cookie(const resp_t *r)
{
    const char *p = strstr(r->cookies, "ltigate_session=");
    if (p == NULL)
        return NULL;
    size_t n = strcspn(p, ";\n");
    return strndup(p, n);
}

static void login_page_stores_state_through_platform(void **state)
{
    flow_t fl;
    (void)state;
    start_flow(&fl, "1");
    /* The page names the frame and the platform's authentication origin. */
    assert_string_equal(fl.target, "post_message_forwarding");
    assert_string_equal(fl.origin, sim_platform_base_url(shared.platform));
    char want[128];
    snprintf(want, sizeof(want), "lti_state_%s", fl.state);
    assert_string_equal(fl.state_key, want);
    /* No inline script: the only script element loads the served file. */
    assert_non_null(strstr(fl.login_page, "<script src=\"/hosted/static/lti-storage.js\""));
    assert_null(strstr(fl.login_page, "<script>"));
    assert_null(strstr(fl.login_page, " on"
                                      "load="));
    /* Either path can complete: the state cookie is set as well. */
    assert_non_null(strstr(fl.login_cookies, "ltist_"));
    assert_non_null(strstr(fl.login_cookies, "ltigate_probe=1"));
    /* The new-window link repeats the login without lti_storage_target. */
    char *href = attr_in(strstr(fl.login_page, "<a target=\"_blank\""), "href");
    assert_non_null(href);
    assert_non_null(strstr(href, "/hosted/index/oidc-login?iss="));
    assert_null(strstr(href, "lti_storage_target"));
    free(href);
    /* The platform posts lti_storage_target back with the launch. */
    assert_string_equal(field_get(&fl.launch, "lti_storage_target"), "post_message_forwarding");
    flow_clear(&fl);
}

static void storage_pages_send_strict_csp(void **state)
{
    flow_t fl;
    resp_t r;
    char url[256];
    (void)state;
    snprintf(url, sizeof(url), "%s/sim/launch?storage=1", sim_platform_base_url(shared.platform));
    http("GET", url, NULL, NULL, &r);
    fields_t login;
    parse_form(r.body, NULL, &login);
    resp_clear(&r);
    char *body = encode(&login, NULL);
    http("POST", login.action, body, NULL, &r);
    free(body);
    fields_clear(&login);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.csp, "script-src 'self'"));
    assert_non_null(strstr(r.csp, "default-src 'none'"));
    assert_null(strstr(r.csp, "unsafe-inline"));
    /* Default frame ancestors: the issuer's origin and Canvas cloud. */
    assert_non_null(strstr(r.csp, "; frame-ancestors https://canvas.instructure.com "
                                  "https://*.instructure.com"));
    resp_clear(&r);

    snprintf(url, sizeof(url), "%s/hosted/static/lti-storage.js", shared.tool_base);
    http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/javascript"));
    assert_non_null(strstr(r.body, "lti.put_data"));
    assert_non_null(strstr(r.body, "lti.get_data"));
    resp_clear(&r);

    /* The launch page of a cookieless launch carries the same policy. */
    start_flow(&fl, "1");
    char *id = launch_without_cookie(&fl, &r);
    assert_non_null(strstr(r.csp, "script-src 'self'"));
    assert_null(strstr(r.body, "<script>"));
    free(id);
    resp_clear(&r);
    flow_clear(&fl);
}

static void cookieless_launch_completes_through_storage(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    char *id = launch_without_cookie(&fl, &r);
    /* Nothing about the session reaches the browser before the check. */
    assert_null(strstr(r.cookies, "ltigate_session="));
    char want[128];
    snprintf(want, sizeof(want), "lti_state_%s", fl.state);
    char *key = attr_of_id(r.body, "lti-storage", "data-state-key");
    assert_string_equal(key, want);
    free(key);
    resp_clear(&r);

    complete(id, fl.state, fl.nonce, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.cookies, "Partitioned"));
    assert_non_null(strstr(r.cookies, "SameSite=None"));
    /* The page checks whether the cookie comes back before it opens the
     * landing page, and only then picks the URL without a token. */
    char *mode = attr_of_id(r.body, "lti-storage", "data-mode");
    char *page = attr_of_id(r.body, "lti-storage", "data-page");
    assert_string_equal(mode, "session");
    assert_string_equal(page, "/hosted/media-gallery");
    free(mode);
    free(page);
    assert_non_null(strstr(r.csp, "connect-src 'self'"));
    char *cookie = session_cookie(&r);
    assert_non_null(cookie);
    resp_clear(&r);

    char url[256];
    snprintf(url, sizeof(url), "%s/hosted/index/session-check", shared.tool_base);
    http("GET", url, NULL, cookie, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"cookie\":true}");
    resp_clear(&r);
    http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"cookie\":false}");
    resp_clear(&r);

    snprintf(url, sizeof(url), "%s/hosted/index/launch-context", shared.tool_base);
    http("GET", url, NULL, cookie, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"user_id\":\"asmith\""));
    resp_clear(&r);

    /* The landing page loads the served script and carries the launch's
     * canvas_post_message_token for lti.frameResize. */
    snprintf(url, sizeof(url), "%s/hosted/media-gallery", shared.tool_base);
    http("GET", url, NULL, cookie, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<script src=\"/hosted/static/lti-storage.js\""));
    char *token = attr_of_id(r.body, "lti-frame", "data-token");
    assert_non_null(token);
    assert_int_equal(strlen(token), 36);
    free(token);
    /* A page served by cookie puts no token into its links. */
    assert_non_null(strstr(r.body, "href=\"/hosted/player?entry=1_abcd1234\""));
    assert_null(strstr(r.body, "session_token"));
    resp_clear(&r);
    free(cookie);

    /* The completion step is single use. */
    complete(id, fl.state, fl.nonce, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "completion_unknown");
    resp_clear(&r);
    assert_true(harness_log_contains(&shared, "outcome=launched_via_storage"));
    free(id);
    flow_clear(&fl);
}

static void wrong_storage_value_is_rejected_once(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    char *id = launch_without_cookie(&fl, &r);
    resp_clear(&r);

    /* Another browser's storage holds nothing for this state: a guessed
     * nonce fails, and the right values afterwards find nothing. */
    complete(id, fl.state, "not-the-nonce", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "storage_binding_failed");
    assert_null(strstr(r.cookies, "ltigate_session="));
    resp_clear(&r);
    complete(id, fl.state, fl.nonce, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "completion_unknown");
    resp_clear(&r);
    free(id);
    flow_clear(&fl);
}

static void completion_input_is_checked(void **state)
{
    resp_t r;
    char url[256];
    (void)state;
    snprintf(url, sizeof(url), "%s/hosted/index/storage-complete", shared.tool_base);
    http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    resp_clear(&r);
    origin_header = shared.tool_base;
    http("POST", url, "completion_id=abc&state=x&nonce=y", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "completion_unknown");
    resp_clear(&r);
    http("POST", url, "completion_id=abc&state=x", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "param_missing");
    resp_clear(&r);
    http("POST", url, "completion_id=a&completion_id=b&state=x&nonce=y", NULL, &r);
    assert_string_equal(r.reason, "param_duplicate");
    resp_clear(&r);
    /* A well-formed id that was never issued. */
    http("POST", url,
         "completion_id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&state=x&nonce=y", NULL, &r);
    assert_string_equal(r.reason, "completion_unknown");
    resp_clear(&r);
    origin_header = NULL;
}

/* Whoever made the launch POST knows the id, state and nonce. A page on
 * another site must not be able to post them from a victim's browser. */
static void completion_from_other_origin_rejected(void **state)
{
    flow_t fl;
    resp_t r;
    char url[256], form[512];
    (void)state;
    start_flow(&fl, "1");
    char *id = launch_without_cookie(&fl, &r);
    resp_clear(&r);
    snprintf(url, sizeof(url), "%s/hosted/index/storage-complete", shared.tool_base);
    snprintf(form, sizeof(form), "completion_id=%s&state=%s&nonce=%s", id, fl.state, fl.nonce);

    origin_header = "https://attacker.example";
    http("POST", url, form, NULL, &r);
    origin_header = NULL;
    assert_int_equal(r.status, 403);
    assert_string_equal(r.reason, "csrf_invalid");
    assert_null(strstr(r.cookies, "ltigate_session="));
    resp_clear(&r);

    http("POST", url, form, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.reason, "csrf_invalid");
    resp_clear(&r);

    /* The rejected posts did not spend the completion. */
    complete(id, fl.state, fl.nonce, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);
    free(id);
    flow_clear(&fl);
}

static void launch_without_cookie_or_storage_is_refused(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    char *body = encode(&fl.launch, "lti_storage_target");
    http("POST", fl.launch.action, body, NULL, &r);
    free(body);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_cookie_missing");
    resp_clear(&r);
    flow_clear(&fl);
}

/* Runs a platform launch from `url` (the /sim/launch address) as a browser
 * without platform storage: login, the state cookie ltigate sets, and the
 * platform's launch form. Returns the "ltist_...=VALUE" cookie (malloc'd). */
static char *cookie_login(const char *url, fields_t *launch)
{
    resp_t r;
    fields_t login;

    http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    parse_form(r.body, NULL, &login);
    resp_clear(&r);
    char *body = encode(&login, NULL);
    http("POST", login.action, body, NULL, &r);
    free(body);
    fields_clear(&login);
    assert_int_equal(r.status, 302);
    const char *c = strstr(r.cookies, "ltist_");
    assert_non_null(c);
    char *state_cookie = strndup(c, strcspn(c, ";\n"));
    char location[4096];
    snprintf(location, sizeof(location), "%s", r.location);
    resp_clear(&r);

    http("GET", location, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    parse_form(r.body, NULL, launch);
    resp_clear(&r);
    return state_cookie;
}

/* A login that did not offer platform storage keeps the cookie as its only
 * proof: a client without the state cookie cannot switch such a launch to
 * the storage path by adding lti_storage_target, and its attempt does not
 * spend the state, so the browser that has the cookie still launches. */
static void cookie_login_cannot_switch_to_storage(void **state)
{
    resp_t r;
    fields_t launch;
    char url[512];
    (void)state;
    snprintf(url, sizeof(url), "%s/sim/launch?%s", sim_platform_base_url(shared.platform),
             STUDENT_LAUNCH);
    char *state_cookie = cookie_login(url, &launch);
    assert_int_equal(field_get(&launch, "state")[0], 'c');

    char *body = encode(&launch, NULL);
    size_t n = strlen(body) + 64;
    char *with_target = malloc(n);
    snprintf(with_target, n, "%s&lti_storage_target=post_message_forwarding", body);
    http("POST", launch.action, with_target, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_cookie_missing");
    resp_clear(&r);

    http("POST", launch.action, body, state_cookie, &r);
    assert_int_equal(r.status, 303);
    resp_clear(&r);
    free(with_target);
    free(body);
    free(state_cookie);
    fields_clear(&launch);
}

/* A storage launch completes only through the storage target its login
 * named. */
static void storage_target_must_match_login(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    assert_int_equal(fl.state[0], 's');
    char *body = encode(&fl.launch, "lti_storage_target");
    size_t n = strlen(body) + 64;
    char *other = malloc(n);
    snprintf(other, n, "%s&lti_storage_target=_parent", body);
    http("POST", fl.launch.action, other, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_cookie_missing");
    resp_clear(&r);
    free(other);
    free(body);
    flow_clear(&fl);
}

/* A deep-linking launch rejected after its selection was prepared (here
 * 400 session_too_large, for a context id too long for a session) leaves
 * no selection cookie: the picker must not open for a failed launch. */
static void rejected_picker_launch_sets_no_selection_cookie(void **state)
{
    resp_t r;
    fields_t launch;
    (void)state;
    size_t cap = 8192;
    char *url = malloc(cap);
    int n = snprintf(url, cap,
                     "%s/sim/launch?%s&claims=%%7B%%22https%%3A%%2F%%2Fpurl.imsglobal.org"
                     "%%2Fspec%%2Flti%%2Fclaim%%2Fcontext%%22%%3A%%7B%%22id%%22%%3A%%22",
                     sim_platform_base_url(shared.platform), PICKER_LAUNCH);
    memset(url + n, 'x', 3500);
    snprintf(url + n + 3500, cap - (size_t)n - 3500, "%%22%%7D%%7D");
    char *state_cookie = cookie_login(url, &launch);
    free(url);

    char *body = encode(&launch, NULL);
    http("POST", launch.action, body, state_cookie, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "session_too_large");
    assert_null(strstr(r.cookies, "ltidl_"));
    assert_null(strstr(r.cookies, "ltigate_session="));
    resp_clear(&r);
    free(body);
    free(state_cookie);
    fields_clear(&launch);
}

static void wrong_state_cookie_is_not_overridden_by_storage(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    char cookie[128];
    snprintf(cookie, sizeof(cookie), "ltist_%.16s=not-the-state", fl.state);
    char *body = encode(&fl.launch, NULL);
    http("POST", fl.launch.action, body, cookie, &r);
    free(body);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "state_cookie_missing");
    resp_clear(&r);
    flow_clear(&fl);
}

static void launch_with_cookie_ignores_storage(void **state)
{
    flow_t fl;
    resp_t r;
    (void)state;
    start_flow(&fl, "1");
    char cookie[128];
    snprintf(cookie, sizeof(cookie), "ltist_%.16s=%s", fl.state, fl.state);
    char *body = encode(&fl.launch, NULL);
    http("POST", fl.launch.action, body, cookie, &r);
    free(body);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/hosted/media-gallery");
    assert_non_null(strstr(r.cookies, "ltigate_session="));
    resp_clear(&r);
    flow_clear(&fl);
}

static void bad_storage_target_is_rejected(void **state)
{
    static const char *const bad[] = {"_top", "_blank", "a%20b", "x%3Cy", ""};
    resp_t r;
    fields_t login;
    char url[512];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(url, sizeof(url), "%s/sim/launch", sim_platform_base_url(shared.platform));
        http("GET", url, NULL, NULL, &r);
        parse_form(r.body, NULL, &login);
        resp_clear(&r);
        char *body = encode(&login, NULL);
        char *full = malloc(strlen(body) + 64);
        sprintf(full, "%s&lti_storage_target=%s", body, bad[i]);
        http("POST", login.action, full, NULL, &r);
        free(body);
        free(full);
        fields_clear(&login);
        assert_int_equal(r.status, 400);
        assert_string_equal(r.reason, "param_invalid");
        resp_clear(&r);
    }
}

static void login_without_storage_still_redirects(void **state)
{
    resp_t r;
    fields_t login;
    char url[512];
    (void)state;
    snprintf(url, sizeof(url), "%s/sim/launch", sim_platform_base_url(shared.platform));
    http("GET", url, NULL, NULL, &r);
    parse_form(r.body, NULL, &login);
    resp_clear(&r);
    assert_null(field_get(&login, "lti_storage_target"));
    char *body = encode(&login, NULL);
    http("POST", login.action, body, NULL, &r);
    free(body);
    fields_clear(&login);
    assert_int_equal(r.status, 302);
    assert_null(strstr(r.cookies, "ltigate_probe"));
    resp_clear(&r);
}

/* Runs a launch through platform storage without any cookie and returns
 * the completion page's URL for a browser that returns no cookie
 * (data-fallback, malloc'd). `done` keeps the completion response. */
static char *cookieless_launch(const char *launch, resp_t *done)
{
    flow_t fl;
    resp_t r;
    start_launch(&fl, launch, "1");
    char *id = launch_without_cookie(&fl, &r);
    /* A deep-linking launch's selection cookie waits for the storage check. */
    assert_null(strstr(r.cookies, "ltidl_"));
    resp_clear(&r);
    complete(id, fl.state, fl.nonce, done);
    assert_int_equal(done->status, 200);
    free(id);
    flow_clear(&fl);
    char *fallback = attr_of_id(done->body, "lti-storage", "data-fallback");
    assert_non_null(fallback);
    return fallback;
}

/* GET of a path on ltigate without a cookie. */
static void get_tool(const char *path, const char *cookie, resp_t *r)
{
    char url[8192];
    snprintf(url, sizeof(url), "%s%s", shared.tool_base, path);
    http("GET", url, NULL, cookie, r);
}

static void token_keeps_session_without_cookie(void **state)
{
    resp_t r;
    (void)state;
    char *fallback = cookieless_launch(STUDENT_LAUNCH, &r);
    resp_clear(&r);
    const char *prefix = "/hosted/media-gallery?session_token=";
    assert_int_equal(strncmp(fallback, prefix, strlen(prefix)), 0);
    const char *token = fallback + strlen(prefix);
    assert_true(strlen(token) > 100);

    /* The landing page by token, with no cookie at all. */
    get_tool(fallback, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "id=\"user-id\">asmith<"));
    /* The URL contains the token, so the page sends no Referer anywhere. */
    assert_string_equal(r.referrer, "no-referrer");
    /* Its links carry the same token. */
    char *href = attr_in(strstr(r.body, "<a href=\"/hosted/player?entry=1_abcd1234"), "href");
    resp_clear(&r);
    assert_non_null(href);
    char want[6000];
    snprintf(want, sizeof(want), "/hosted/player?entry=1_abcd1234&session_token=%s", token);
    assert_string_equal(href, want);
    assert_true(harness_log_contains(&shared, "session_source=token cookie_header=absent"));

    /* Following the link keeps the session, and the player links on to the
     * quiz with the token too. */
    get_tool(href, NULL, &r);
    free(href);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "id=\"user-id\">asmith<"));
    char *quiz = attr_of_id(r.body, "quiz", "href");
    resp_clear(&r);
    assert_non_null(quiz);
    assert_non_null(strstr(quiz, "&session_token="));

    /* The quiz form posts the token in its body, with a CSRF token bound to
     * it, and the submission gets past both checks to the grade step (this
     * course navigation launch has no line item). */
    get_tool(quiz, NULL, &r);
    free(quiz);
    assert_int_equal(r.status, 200);
    fields_t form;
    parse_form(r.body, NULL, &form);
    resp_clear(&r);
    assert_string_equal(field_get(&form, "session_token"), token);
    assert_non_null(field_get(&form, "csrf"));
    char url[256];
    snprintf(url, sizeof(url), "%s/hosted/quiz/submit", shared.tool_base);
    char *body = encode(&form, NULL);
    http("POST", url, body, NULL, &r);
    free(body);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "service_not_offered");
    resp_clear(&r);
    body = encode(&form, "csrf");
    http("POST", url, body, NULL, &r);
    free(body);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.reason, "csrf_invalid");
    resp_clear(&r);
    body = encode(&form, "session_token");
    http("POST", url, body, NULL, &r);
    free(body);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_missing");
    resp_clear(&r);
    fields_clear(&form);

    char path[6000];
    snprintf(path, sizeof(path), "/hosted/index/launch-context?session_token=%s", token);
    get_tool(path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"user_id\":\"asmith\""));
    resp_clear(&r);

    /* The token never reaches the log. */
    char head[41];
    snprintf(head, sizeof(head), "%s", token);
    assert_false(harness_log_contains(&shared, head));
    free(fallback);
}

static void token_rules(void **state)
{
    resp_t r;
    char path[6000], cookie[6000];
    (void)state;
    char *fallback = cookieless_launch(STUDENT_LAUNCH, &r);
    resp_clear(&r);
    const char *token = strchr(fallback, '=') + 1;

    /* A cookie that comes back wins: the token is used only without one. */
    get_tool(fallback, "ltigate_session=not-a-session", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_invalid");
    resp_clear(&r);

    /* A token is not a session cookie. */
    snprintf(cookie, sizeof(cookie), "ltigate_session=%s", token);
    get_tool("/hosted/media-gallery", cookie, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_invalid");
    resp_clear(&r);

    /* One changed character breaks the seal. */
    snprintf(path, sizeof(path), "%s", fallback);
    char *mid = path + strlen(path) / 2;
    *mid = *mid == 'A' ? 'B' : 'A';
    get_tool(path, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_invalid");
    resp_clear(&r);

    snprintf(path, sizeof(path), "%s&session_token=%s", fallback, token);
    get_tool(path, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "param_duplicate");
    resp_clear(&r);

    /* A session token does not open a deep-linking selection. */
    snprintf(path, sizeof(path),
             "/hosted/deep-link/picker?dl=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
             "&selection_token=%s",
             token);
    get_tool(path, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "dl_request_unknown");
    resp_clear(&r);
    free(fallback);
}

/* A deep-linking launch through platform storage in a browser that keeps
 * no cookie: the picker, the choice and the signed response to the
 * platform all run on the selection token. */
static void picker_runs_on_selection_token(void **state)
{
    resp_t r;
    (void)state;
    char *fallback = cookieless_launch(PICKER_LAUNCH, &r);
    /* With cookies, the selection cookie arrives partitioned after the check. */
    const char *dl_cookie = strstr(r.cookies, "ltidl_");
    assert_non_null(dl_cookie);
    assert_true(strstr(dl_cookie, "Partitioned") < strchr(dl_cookie, '\n'));
    resp_clear(&r);
    assert_non_null(strstr(fallback, "/hosted/deep-link/picker?dl="));
    assert_non_null(strstr(fallback, "&selection_token="));

    get_tool(fallback, NULL, &r);
    assert_int_equal(r.status, 200);
    fields_t picker;
    parse_form(r.body, "picker", &picker);
    resp_clear(&r);
    const char *token = field_get(&picker, "selection_token");
    const char *dl = field_get(&picker, "dl"), *csrf = field_get(&picker, "csrf_token");
    assert_non_null(token);
    assert_non_null(dl);
    assert_non_null(csrf);
    if (token == NULL || dl == NULL || csrf == NULL)
        return;
    assert_string_equal(token, strstr(fallback, "selection_token=") + 16);

    char url[256], body[8192];
    snprintf(url, sizeof(url), "%s/hosted/deep-link/choose", shared.tool_base);
    snprintf(body, sizeof(body), "dl=%s&csrf_token=%s&selection_token=%s&action=choose"
                                 "&entry=1_abcd1234",
             dl, csrf, token);
    http("POST", url, body, NULL, &r);
    assert_int_equal(r.status, 200);
    fields_t ret;
    parse_form(r.body, "dl-return", &ret);
    resp_clear(&r);
    char *jwt_form = encode(&ret, NULL);
    http("POST", ret.action, jwt_form, NULL, &r);
    free(jwt_form);
    fields_clear(&ret);
    assert_int_equal(r.status, 200);
    resp_clear(&r);
    json_t *report = sim_platform_last_deep_linking_result(shared.platform);
    assert_true(json_is_true(json_object_get(report, "valid")));
    assert_string_equal(json_string_value(json_object_get(report, "placement")),
                        "editor_button");
    json_decref(report);

    /* The selection is spent, token or not. */
    http("POST", url, body, NULL, &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(r.reason, "dl_request_used");
    resp_clear(&r);
    snprintf(body, sizeof(body), "dl=%s&csrf_token=%s&action=cancel", dl, csrf);
    http("POST", url, body, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "dl_request_unknown");
    resp_clear(&r);
    fields_clear(&picker);
    free(fallback);
}

/* Starts a second ltigate with its own token lifetime. */
static void start_with_token_lifetime(harness_t *h, const char *seconds)
{
    char hosted[128];
    snprintf(hosted, sizeof(hosted), "  sessionTokenLifetime: %s\n", seconds);
    harness_opts_t opts = {.extra_hosted_yaml = hosted};
    assert_int_equal(harness_start(h, &opts), 0);
}

static void token_expires_and_can_be_off(void **state)
{
    harness_t saved = shared;
    resp_t r;
    (void)state;

    start_with_token_lifetime(&shared, "1");
    char *fallback = cookieless_launch(STUDENT_LAUNCH, &r);
    resp_clear(&r);
    assert_non_null(strstr(fallback, "session_token="));
    sleep(2);
    get_tool(fallback, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_expired");
    resp_clear(&r);
    free(fallback);
    harness_stop(&shared);

    /* sessionTokenLifetime 0: no token enters a URL, and the page without
     * a cookie reports the missing session. */
    start_with_token_lifetime(&shared, "0");
    fallback = cookieless_launch(STUDENT_LAUNCH, &r);
    resp_clear(&r);
    assert_string_equal(fallback, "/hosted/media-gallery");
    get_tool(fallback, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.reason, "session_missing");
    resp_clear(&r);
    free(fallback);
    harness_stop(&shared);
    shared = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_page_stores_state_through_platform),
        cmocka_unit_test(storage_pages_send_strict_csp),
        cmocka_unit_test(cookieless_launch_completes_through_storage),
        cmocka_unit_test(wrong_storage_value_is_rejected_once),
        cmocka_unit_test(completion_input_is_checked),
        cmocka_unit_test(completion_from_other_origin_rejected),
        cmocka_unit_test(launch_without_cookie_or_storage_is_refused),
        cmocka_unit_test(cookie_login_cannot_switch_to_storage),
        cmocka_unit_test(storage_target_must_match_login),
        cmocka_unit_test(rejected_picker_launch_sets_no_selection_cookie),
        cmocka_unit_test(wrong_state_cookie_is_not_overridden_by_storage),
        cmocka_unit_test(launch_with_cookie_ignores_storage),
        cmocka_unit_test(bad_storage_target_is_rejected),
        cmocka_unit_test(login_without_storage_still_redirects),
        cmocka_unit_test(token_keeps_session_without_cookie),
        cmocka_unit_test(token_rules),
        cmocka_unit_test(picker_runs_on_selection_token),
        cmocka_unit_test(token_expires_and_can_be_off),
    };
    return cmocka_run_group_tests(tests, start_shared, stop_shared);
}
