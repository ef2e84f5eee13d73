/* SPDX-License-Identifier: MIT */
/*
 * Deep linking end to end: a real ltigate process, the simulated Canvas
 * verifying each response against ltigate's /hosted/index/jwks over HTTP,
 * the picker, the app API, the player page, the developer-key endpoint and
 * a tool key rotation across restarts.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/pem.h>
#include "../../src/sim/sim_dl.h"
#include "../../src/sim/sim_int.h"
#include "harness.h"
#include "lti/deeplink.h"
#include "lti/session.h"

#define DL_SETTINGS "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
#define SECRET "0123456789abcdef0123456789abcdef"
/* A selection id has the shape of lti_oidc_random output: 43 characters. */
#define SELECTION_ID "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx"
#define SECOND_SELECTION_ID "c2Vjb25kc2VsZWN0aW9uaWRmb3J0aGVodG1sZm9ybXg"
#define CHOOSE_SELECTION_ID "Y2hvb3NldHdpY2VzZWxlY3Rpb25pZGZvcnJlcGxheXM"

static harness_t shared;
static char hosted_yaml[1024];

/* LeakSanitizer hook for sanitizer builds: h2o 2.2.5 keeps per-thread free
 * lists of pool chunks that are never released when the simulated
 * platform's loop thread exits. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

static const char *source_dir(void)
{
    const char *dir = getenv("LTIGATE_SOURCE_DIR");
    return dir != NULL ? dir : ".";
}

/* Starts the harness with the sample catalog, a known session secret, and
 * the platform verifying responses against the tool's key set. */
static int start_dl(harness_t *h)
{
    char secret_path[] = "/tmp/ltigate-dl-secret-XXXXXX";
    int fd = mkstemp(secret_path);
    if (fd < 0 || write(fd, SECRET, strlen(SECRET)) != (ssize_t)strlen(SECRET))
        return -1;
    close(fd);
    snprintf(hosted_yaml, sizeof(hosted_yaml),
             "  mediaCatalogFile: %s/conf/catalog.json\n  sessionSecretFile: %s\n", source_dir(),
             secret_path);
    harness_opts_t opts = {.extra_hosted_yaml = hosted_yaml};
    if (harness_start(h, &opts) != 0)
        return -1;
    char jwks[128];
    snprintf(jwks, sizeof(jwks), "%s/hosted/index/jwks", h->tool_base);
    return sim_platform_set_tool_jwks(h->platform, jwks);
}

static int start_shared(void **state)
{
    return start_dl(&shared);
}

static int stop_shared(void **state)
{
    harness_stop(&shared);
    return 0;
}

static void dl_opts(const harness_t *h, sim_launch_opts_t *o, const char *placement)
{
    harness_launch_opts(h, o);
    o->role = "instructor";
    o->placement = placement;
    o->message_type = "LtiDeepLinkingRequest";
}

static void run(const sim_launch_opts_t *o, sim_launch_result_t *r)
{
    memset(r, 0, sizeof(*r));
    sim_launch(o, r);
    if (r->outcome == SIM_ERROR)
        fprintf(stderr, "launch error: %s\n", r->error);
}

static json_t *report_of(const sim_launch_result_t *r)
{
    json_error_t jerr;
    json_t *doc = r->dl_report != NULL ? json_loads(r->dl_report, 0, &jerr) : NULL;
    if (doc == NULL || !json_is_true(json_object_get(doc, "valid")))
        fprintf(stderr, "platform report: %s\n", r->dl_report != NULL ? r->dl_report : "(none)");
    return doc;
}

/* Picks one entry in `placement` and checks the platform's verdict and
 * what it would embed. */
static void round_trip(const char *placement, const char *kind, int line_item)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, placement);
    o.dl_pick = "1_efgh5678";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, LTI_DL_PICKER_PATH);
    assert_string_equal(r.message_type, "LtiDeepLinkingRequest");
    /* An app behind ltigate finds the selection in the launch context. */
    assert_non_null(strstr(r.context_json, "\"dl_id\":"));
    assert_non_null(strstr(r.context_json, "\"csrf_token\":"));
    assert_int_equal(r.dl_status, 200);
    json_t *report = report_of(&r);
    assert_true(json_is_true(json_object_get(report, "valid")));
    assert_string_equal(json_string_value(json_object_get(report, "placement")), placement);
    assert_string_equal(json_string_value(json_object_get(report, "msg")), "1 media item added");
    json_t *embed = json_object_get(report, "embed");
    assert_int_equal(json_array_size(embed), 1);
    json_t *item = json_array_get(embed, 0);
    assert_string_equal(json_string_value(json_object_get(item, "kind")), kind);
    assert_string_equal(json_string_value(json_object_get(item, "title")),
                        "Week 2: Cell structure");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(item, "custom"), "entry_id")),
        "1_efgh5678");
    assert_int_equal(json_object_get(item, "lineItem") != NULL, line_item);
    assert_true(harness_log_contains(&shared, "mod=deeplink"));
    json_decref(report);
    sim_launch_result_clear(&r);
}

static void editor_button_round_trip(void **state)
{
    round_trip("editor_button", "rce_iframe", 0);
}

static void link_selection_round_trip(void **state)
{
    round_trip("link_selection", "module_item", 0);
}

static void assignment_selection_round_trip(void **state)
{
    round_trip("assignment_selection", "assignment_external_tool", 1);
}

static void editor_button_several_entries(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "editor_button");
    o.dl_pick = "1_abcd1234,1_ijkl9012";
    run(&o, &r);
    assert_int_equal(r.dl_status, 200);
    json_t *report = report_of(&r);
    assert_int_equal(json_array_size(json_object_get(report, "embed")), 2);
    json_decref(report);
    sim_launch_result_clear(&r);

    /* Assignment selection accepts one item only. */
    dl_opts(&shared, &o, "assignment_selection");
    o.dl_pick = "1_abcd1234,1_ijkl9012";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_string_equal(r.reason, "content_item_invalid");
    sim_launch_result_clear(&r);
}

static void cancelled_selection(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "editor_button");
    o.dl_cancel = 1;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_int_equal(r.dl_status, 200);
    json_t *report = report_of(&r);
    assert_true(json_is_true(json_object_get(report, "valid")));
    assert_int_equal(json_integer_value(json_object_get(report, "items")), 0);
    assert_true(json_is_null(json_object_get(report, "errormsg")));
    json_decref(report);
    sim_launch_result_clear(&r);
}

static void unknown_entry_rejected(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "editor_button");
    o.dl_pick = "1_nothere0";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.reason, "content_item_invalid");
    sim_launch_result_clear(&r);
}

/* Returns claims that replace the deep_linking_settings with
 * `settings_json`, in which $BASE stands for the platform's base URL. */
static char *settings_claims(const harness_t *h, const char *settings_json)
{
    char *text = NULL;
    if (asprintf(&text, "{\"" DL_SETTINGS "\": %s}", settings_json) < 0)
        return NULL;
    char *out = NULL;
    const char *base = sim_platform_base_url(h->platform);
    char *mark = strstr(text, "$BASE");
    if (mark == NULL)
        return text;
    *mark = '\0';
    if (asprintf(&out, "%s%s%s", text, base, mark + 5) < 0)
        out = NULL;
    free(text);
    return out;
}

static void accept_types_mismatch(void **state)
{
    char *claims = settings_claims(
        &shared, "{\"deep_link_return_url\": \"$BASE/courses/9/deep_linking_response?data=f1\","
                 "\"accept_types\": [\"file\"], \"accept_presentation_document_targets\": "
                 "[\"iframe\"], \"accept_multiple\": false}");
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "homework_submission");
    o.claims_json = claims;
    o.dl_pick = "1_abcd1234";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_REJECTED);
    assert_string_equal(r.reason, "dl_type_not_accepted");
    sim_launch_result_clear(&r);

    /* The picker shows the mismatch, and cancelling returns an errormsg. */
    dl_opts(&shared, &o, "homework_submission");
    o.claims_json = claims;
    o.dl_cancel = 1;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_int_equal(r.dl_status, 200);
    json_t *report = report_of(&r);
    assert_true(json_is_true(json_object_get(report, "valid")));
    assert_non_null(strstr(json_string_value(json_object_get(report, "errormsg")),
                           "accepts none of the content types"));
    json_decref(report);
    sim_launch_result_clear(&r);
    free(claims);
}

static void data_echoed_to_platform(void **state)
{
    char *claims = settings_claims(
        &shared, "{\"deep_link_return_url\": \"$BASE/courses/9/deep_linking_response?data=d2\","
                 "\"accept_types\": [\"ltiResourceLink\"], "
                 "\"accept_presentation_document_targets\": [\"iframe\", \"window\"], "
                 "\"accept_multiple\": true, \"data\": \"csrftoken=abc&x=\\u00e9\"}");
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "link_selection");
    o.claims_json = claims;
    o.dl_pick = "1_abcd1234";
    run(&o, &r);
    assert_int_equal(r.dl_status, 200);
    json_t *report = report_of(&r);
    assert_true(json_is_true(json_object_get(report, "valid")));
    json_decref(report);
    sim_launch_result_clear(&r);
    free(claims);
}

static void settings_missing_or_malformed(void **state)
{
    static const struct {
        const char *settings;
        const char *reason;
    } cases[] = {
        {"null", "dl_settings_missing"},
        {"{\"accept_types\": [\"ltiResourceLink\"], "
         "\"accept_presentation_document_targets\": [\"iframe\"]}",
         "dl_settings_missing"},
        {"{\"deep_link_return_url\": \"$BASE/r\", \"accept_types\": \"ltiResourceLink\", "
         "\"accept_presentation_document_targets\": [\"iframe\"]}",
         "dl_settings_invalid"},
        {"{\"deep_link_return_url\": \"$BASE/r\", \"accept_types\": [\"ltiResourceLink\"]}",
         "dl_settings_invalid"},
        {"{\"deep_link_return_url\": \"$BASE/r\", \"accept_types\": [\"ltiResourceLink\"], "
         "\"accept_presentation_document_targets\": [\"iframe\"], \"accept_multiple\": \"yes\"}",
         "dl_settings_invalid"},
        {"{\"deep_link_return_url\": \"ftp://x.example/r\", \"accept_types\": "
         "[\"ltiResourceLink\"], \"accept_presentation_document_targets\": [\"iframe\"]}",
         "dl_settings_invalid"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *claims = settings_claims(&shared, cases[i].settings);
        sim_launch_opts_t o;
        sim_launch_result_t r;
        dl_opts(&shared, &o, "editor_button");
        o.claims_json = claims;
        run(&o, &r);
        if (strcmp(r.reason, cases[i].reason) != 0)
            fprintf(stderr, "case %zu: reason %s\n", i, r.reason);
        assert_int_equal(r.outcome, SIM_REJECTED);
        assert_string_equal(r.reason, cases[i].reason);
        sim_launch_result_clear(&r);
        free(claims);
    }
}

/* ---- requests without the browser: CSRF, the app API ---- */

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

typedef struct http_out {
    long status;
    sim_buf_t body;
    char reason[64];
    char cache_control[64];
} http_out_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    http_out_t *out = arg;
    return sim_buf_append(&out->body, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    http_out_t *out = arg;
    size_t n = size * nmemb;
    if (n > 14 && strncasecmp(data, "x-lti-reason: ", 14) == 0)
        snprintf(out->reason, sizeof(out->reason), "%.*s", (int)strcspn(data + 14, "\r\n"),
                 data + 14);
    if (n > 15 && strncasecmp(data, "cache-control: ", 15) == 0)
        snprintf(out->cache_control, sizeof(out->cache_control), "%.*s",
                 (int)strcspn(data + 15, "\r\n"), data + 15);
    return n;
}

/* Sends one request with extra header lines; the body is kept. */
static void http_do(const char *url, const char *method, const char *body,
                    const char *const *headers, const char *cookie, http_out_t *out)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *list = NULL;
    memset(out, 0, sizeof(*out));
    sim_buf_init(&out->body, 1024 * 1024);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (cookie != NULL)
        curl_easy_setopt(curl, CURLOPT_COOKIE, cookie);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
}

/* A config holding only what the session functions read: the secret. */
static lti_config_t secret_cfg(void)
{
    lti_config_t c;
    memset(&c, 0, sizeof(c));
    memcpy(c.session_secret, SECRET, strlen(SECRET));
    c.session_secret_len = strlen(SECRET);
    return c;
}

/* Mints the cookies another ltigate instance with the same secret would
 * have set after a link_selection deep-linking launch. */
static void mint_selection(const harness_t *h, const char *id, const char *return_url,
                           char *cookie, size_t cookie_len, char csrf[LTI_JWK_KID_LEN])
{
    lti_config_t c = secret_cfg();
    lti_dl_context_t ctx = {
        .id = id,
        .issuer = sim_platform_issuer(h->platform),
        .client_id = SIM_DEFAULT_CLIENT_ID,
        .deployment_id = SIM_DEFAULT_DEPLOYMENT_ID,
        .placement = "link_selection",
        .settings = {.return_url = return_url,
                     .accept_types = LTI_DL_TYPE_LTI_RESOURCE_LINK,
                     .targets = LTI_DL_TARGET_IFRAME | LTI_DL_TARGET_WINDOW,
                     .accept_multiple = 1,
                     .accept_lineitem = 1},
        .exp = (int64_t)time(NULL) + 600,
    };
    json_t *dl = lti_dl_context_to_json(&ctx);
    char *dl_cookie = lti_session_encode_kind(&c, LTI_SESSION_TOKEN_SELECTION, dl);
    json_t *facts = json_pack("{s:s,s:s,s:I}", "user_id", "jdoe", "dl_id", id, "exp",
                              (json_int_t)ctx.exp);
    char *session = lti_session_encode(&c, facts);
    lti_dl_csrf_token(&c, id, csrf);
    snprintf(cookie, cookie_len, "ltigate_session=%s; ltidl_%.16s=%s", session, id, dl_cookie);
    free(dl_cookie);
    free(session);
    json_decref(dl);
    json_decref(facts);
}

static void picker_form_needs_csrf(void **state)
{
    char url[256], body[256], csrf[LTI_JWK_KID_LEN];
    lti_config_t c = secret_cfg();
    http_out_t out;
    const char *id = SELECTION_ID;
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};

    snprintf(url, sizeof(url), "%s%s", shared.tool_base, LTI_DL_CHOOSE_PATH);
    snprintf(body, sizeof(body), "dl=%s&csrf_token=forged&action=cancel", id);
    http_do(url, "POST", body, form, NULL, &out);
    assert_int_equal(out.status, 403);
    assert_string_equal(out.reason, "csrf_invalid");
    sim_buf_free(&out.body);

    /* A right token without the selection cookie names no selection. */
    lti_dl_csrf_token(&c, id, csrf);
    snprintf(body, sizeof(body), "dl=%s&csrf_token=%s&action=cancel", id, csrf);
    http_do(url, "POST", body, form, NULL, &out);
    assert_int_equal(out.status, 401);
    assert_string_equal(out.reason, "dl_request_unknown");
    sim_buf_free(&out.body);

    snprintf(url, sizeof(url), "%s%s?dl=%s", shared.tool_base, LTI_DL_PICKER_PATH, id);
    http_do(url, "GET", NULL, NULL, NULL, &out);
    assert_int_equal(out.status, 401);
    assert_string_equal(out.reason, "dl_request_unknown");
    sim_buf_free(&out.body);
}

static void app_api_returns_signed_form(void **state)
{
    char url[256], return_url[256], cookie[8192], csrf[LTI_JWK_KID_LEN], csrf_line[128];
    http_out_t out;
    snprintf(return_url, sizeof(return_url), "%s/courses/5/deep_linking_response?data=api1",
             sim_platform_base_url(shared.platform));
    mint_selection(&shared, SELECTION_ID, return_url, cookie, sizeof(cookie), csrf);
    snprintf(url, sizeof(url), "%s%s", shared.tool_base, LTI_DL_API_PATH);
    snprintf(csrf_line, sizeof(csrf_line), "X-CSRF-Token: %s", csrf);
    const char *json_headers[] = {"Content-Type: application/json", "Accept: application/json",
                                  csrf_line, NULL};
    const char *no_csrf[] = {"Content-Type: application/json", "Accept: application/json",
                             NULL};
    const char *wrong_type[] = {"Content-Type: text/plain", csrf_line, NULL};
    static const char items[] =
        "{\"content_items\": [{\"type\": \"ltiResourceLink\", \"title\": \"Clip\", "
        "\"custom\": {\"entry_id\": \"1_abcd1234\"}}], \"msg\": \"Added by the app\"}";

    http_do(url, "POST", items, no_csrf, cookie, &out);
    assert_int_equal(out.status, 403);
    assert_string_equal(out.reason, "csrf_invalid");
    sim_buf_free(&out.body);
    http_do(url, "POST", items, wrong_type, cookie, &out);
    assert_int_equal(out.status, 415);
    sim_buf_free(&out.body);
    http_do(url, "POST", items, json_headers, NULL, &out);
    assert_int_equal(out.status, 401);
    assert_string_equal(out.reason, "session_missing");
    sim_buf_free(&out.body);
    http_do(url, "POST", "{\"content_items\": [{\"type\": \"image\", \"url\": \"https://x/a\"}]}",
            json_headers, cookie, &out);
    assert_int_equal(out.status, 400);
    assert_string_equal(out.reason, "dl_type_not_accepted");
    sim_buf_free(&out.body);
    http_do(url, "POST", "{\"content_items\": 3}", json_headers, cookie, &out);
    assert_string_equal(out.reason, "content_item_invalid");
    sim_buf_free(&out.body);
    http_do(url, "POST", "{\"content_items\": [], \"content_items\": []}", json_headers, cookie,
            &out);
    assert_string_equal(out.reason, "content_item_invalid");
    sim_buf_free(&out.body);

    http_do(url, "POST", items, json_headers, cookie, &out);
    assert_int_equal(out.status, 200);
    json_error_t jerr;
    json_t *doc = json_loads(out.body.data, 0, &jerr);
    sim_buf_free(&out.body);
    assert_string_equal(json_string_value(json_object_get(doc, "deep_link_return_url")),
                        return_url);
    const char *jwt = json_string_value(json_object_get(doc, "JWT"));
    assert_non_null(jwt);

    /* The platform has no request behind this return URL (the selection
     * was minted here), so it verifies the signature and claims and then
     * refuses the unknown request, as Canvas refuses a forged data JWT. */
    char *form = NULL;
    assert_true(asprintf(&form, "JWT=%s", jwt) > 0);
    const char *form_headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    http_do(return_url, "POST", form, form_headers, NULL, &out);
    assert_int_equal(out.status, 400);
    assert_non_null(strstr(out.body.data, "names no deep linking request"));
    sim_buf_free(&out.body);
    free(form);
    json_decref(doc);

    /* The selection got its one response: a replay is refused. */
    http_do(url, "POST", items, json_headers, cookie, &out);
    assert_int_equal(out.status, 409);
    assert_string_equal(out.reason, "dl_request_used");
    sim_buf_free(&out.body);

    /* The HTML form posts field JWT to the return URL as received and loads
     * the submit script from ltigate under a CSP without inline script. */
    mint_selection(&shared, SECOND_SELECTION_ID, return_url, cookie, sizeof(cookie), csrf);
    snprintf(csrf_line, sizeof(csrf_line), "X-CSRF-Token: %s", csrf);
    const char *html_headers[] = {"Content-Type: application/json", csrf_line, NULL};
    http_do(url, "POST", items, html_headers, cookie, &out);
    assert_int_equal(out.status, 200);
    char want[400];
    snprintf(want, sizeof(want), "action=\"%s/courses/5/deep_linking_response?data=api1\"",
             sim_platform_base_url(shared.platform));
    assert_non_null(strstr(out.body.data, want));
    assert_non_null(strstr(out.body.data, "name=\"JWT\" value=\"ey"));
    assert_non_null(strstr(out.body.data, "<script src=\"" LTI_DL_SCRIPT_PATH "\"></script>"));
    assert_null(strstr(out.body.data, "<script>"));
    sim_buf_free(&out.body);
}

/* A second choose POST for one selection (a replayed form, a second tab)
 * gets no second signed response. */
static void choose_is_single_use(void **state)
{
    char url[256], return_url[256], cookie[8192], csrf[LTI_JWK_KID_LEN], body[256];
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    http_out_t out;
    (void)state;
    snprintf(return_url, sizeof(return_url), "%s/courses/6/deep_linking_response?data=once",
             sim_platform_base_url(shared.platform));
    mint_selection(&shared, CHOOSE_SELECTION_ID, return_url, cookie, sizeof(cookie), csrf);
    snprintf(url, sizeof(url), "%s%s", shared.tool_base, LTI_DL_CHOOSE_PATH);
    /* One entry twice is a forged form: rejected, and the selection stays
     * open for the real choice. */
    snprintf(body, sizeof(body),
             "dl=%s&csrf_token=%s&action=choose&entry=1_abcd1234&entry=1_efgh5678"
             "&entry=1_abcd1234",
             CHOOSE_SELECTION_ID, csrf);
    http_do(url, "POST", body, form, cookie, &out);
    assert_int_equal(out.status, 400);
    assert_string_equal(out.reason, "param_duplicate");
    sim_buf_free(&out.body);

    snprintf(body, sizeof(body), "dl=%s&csrf_token=%s&action=choose&entry=1_abcd1234",
             CHOOSE_SELECTION_ID, csrf);
    http_do(url, "POST", body, form, cookie, &out);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body.data, "name=\"JWT\" value=\"ey"));
    sim_buf_free(&out.body);

    http_do(url, "POST", body, form, cookie, &out);
    assert_int_equal(out.status, 409);
    assert_string_equal(out.reason, "dl_request_used");
    assert_null(strstr(out.body.data, "name=\"JWT\""));
    sim_buf_free(&out.body);

    /* Cancelling afterwards is a second response too. */
    snprintf(body, sizeof(body), "dl=%s&csrf_token=%s&action=cancel", CHOOSE_SELECTION_ID, csrf);
    http_do(url, "POST", body, form, cookie, &out);
    assert_int_equal(out.status, 409);
    assert_string_equal(out.reason, "dl_request_used");
    sim_buf_free(&out.body);
}

static void player_page_for_embedded_link(void **state)
{
    sim_launch_opts_t o;
    sim_launch_result_t r;
    char target[256];
    harness_launch_opts(&shared, &o);
    o.placement = "editor_button";
    snprintf(target, sizeof(target), "%s" SIM_LAUNCH_PATH "?entry=1_ijkl9012", shared.tool_base);
    o.target = target;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, LTI_PLAYER_PATH);
    assert_non_null(strstr(r.body, "Week 3: Lecture video"));
    assert_non_null(strstr(r.body, "data-entry-id=\"1_ijkl9012\""));
    sim_launch_result_clear(&r);

    /* custom entry_id, as Canvas sends the item's custom values. */
    harness_launch_opts(&shared, &o);
    o.placement = "link_selection";
    o.claims_json = "{\"https://purl.imsglobal.org/spec/lti/claim/custom\": "
                    "{\"entry_id\": \"1_mnop3456\", \"canvas_user_login_id\": \"jdoe\"}}";
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_non_null(strstr(r.body, "Lab safety walkthrough"));
    sim_launch_result_clear(&r);

    /* A launch naming an entry that is not in the catalog keeps the
     * default landing page. */
    harness_launch_opts(&shared, &o);
    o.placement = "editor_button";
    snprintf(target, sizeof(target), "%s" SIM_LAUNCH_PATH "?entry=1_nothere0", shared.tool_base);
    o.target = target;
    run(&o, &r);
    assert_int_equal(r.outcome, SIM_LAUNCHED);
    assert_string_equal(r.page, "/hosted/resource");
    sim_launch_result_clear(&r);
}

static void player_page_unknown_entry(void **state)
{
    lti_config_t c = secret_cfg();
    char url[256], cookie[4096];
    http_out_t out;
    json_t *facts = json_pack("{s:s,s:I}", "user_id", "jdoe", "exp",
                              (json_int_t)time(NULL) + 600);
    char *session = lti_session_encode(&c, facts);
    snprintf(cookie, sizeof(cookie), "ltigate_session=%s", session);

    snprintf(url, sizeof(url), "%s%s?entry=1_nothere0", shared.tool_base, LTI_PLAYER_PATH);
    http_do(url, "GET", NULL, NULL, cookie, &out);
    assert_int_equal(out.status, 404);
    assert_string_equal(out.reason, "not_found");
    sim_buf_free(&out.body);

    snprintf(url, sizeof(url), "%s%s?entry=1_abcd1234", shared.tool_base, LTI_PLAYER_PATH);
    http_do(url, "GET", NULL, NULL, NULL, &out);
    assert_int_equal(out.status, 401);
    assert_string_equal(out.reason, "session_missing");
    sim_buf_free(&out.body);

    http_do(url, "GET", NULL, NULL, cookie, &out);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body.data, "Week 1: Course introduction"));
    sim_buf_free(&out.body);
    free(session);
    json_decref(facts);
}

static void jwks_and_devkey_endpoints(void **state)
{
    char url[256], path[300];
    http_out_t out;
    snprintf(url, sizeof(url), "%s/hosted/index/jwks", shared.tool_base);
    http_do(url, "GET", NULL, NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_string_equal(out.cache_control, "public, max-age=3600");
    json_error_t jerr;
    json_t *doc = json_loads(out.body.data, 0, &jerr);
    json_t *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "alg")),
                        "RS256");
    assert_null(json_object_get(json_array_get(keys, 0), "d"));
    json_decref(doc);
    sim_buf_free(&out.body);
    http_do(url, "POST", "", NULL, NULL, &out);
    assert_int_equal(out.status, 405);
    sim_buf_free(&out.body);

    snprintf(url, sizeof(url), "%s/canvas/config/create-json-for-instance?format=json",
             shared.tool_base);
    http_do(url, "GET", NULL, NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    snprintf(path, sizeof(path), "%s/devkey.json", shared.dir);
    FILE *fp = fopen(path, "w");
    fputs(out.body.data, fp);
    fclose(fp);
    sim_buf_free(&out.body);
    doc = json_load_file(path, 0, &jerr);
    json_t *problems = sim_devkey_check(doc);
    if (json_array_size(problems) > 0)
        fprintf(stderr, "devkey problems: %s\n", json_dumps(problems, 0));
    assert_int_equal(json_array_size(problems), 0);
    char jwk_url[256];
    snprintf(jwk_url, sizeof(jwk_url), "%s/hosted/index/jwks", shared.tool_base);
    assert_string_equal(json_string_value(json_object_get(doc, "public_jwk_url")), jwk_url);
    json_decref(problems);
    json_decref(doc);

    /* The page shows the redirect URI beside the JSON. */
    snprintf(url, sizeof(url), "%s/canvas/config/create-json-for-instance", shared.tool_base);
    http_do(url, "GET", NULL, NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body.data, "<pre id=\"redirect-uris\">"));
    assert_non_null(strstr(out.body.data, SIM_LAUNCH_PATH "</pre>"));
    sim_buf_free(&out.body);
}

/* ---- the platform's checks of a response ---- */

static long repost(const harness_t *h, const char *return_url, const char *jwt);

/* Signs variants of a valid response with the tool's own key and checks
 * that the simulated Canvas rejects each broken one for its reason. */
static void platform_rejects_bad_responses(void **state)
{
    char return_url[256], key_path[320];
    snprintf(return_url, sizeof(return_url), "%s/courses/4/deep_linking_response?data=bad",
             sim_platform_base_url(shared.platform));
    char *claims_json = settings_claims(
        &shared, "{\"deep_link_return_url\": \"$BASE/courses/4/deep_linking_response?data=bad\","
                 "\"accept_types\": [\"ltiResourceLink\"], "
                 "\"accept_presentation_document_targets\": [\"iframe\"], "
                 "\"accept_multiple\": false, \"data\": \"d-4\"}");
    sim_launch_opts_t o;
    sim_launch_result_t r;
    dl_opts(&shared, &o, "assignment_selection");
    o.claims_json = claims_json;
    o.dl_cancel = 1;
    run(&o, &r);
    assert_int_equal(r.dl_status, 200);
    sim_launch_result_clear(&r);
    free(claims_json);

    snprintf(key_path, sizeof(key_path), "%s/tool-key.pem", shared.dir);
    FILE *fp = fopen(key_path, "r");
    assert_non_null(fp);
    lti_tool_t tool = {.signing_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL)};
    fclose(fp);
    assert_int_equal(lti_jwk_thumbprint(tool.signing_key, tool.kid), 0);
    lti_dl_context_t ctx = {
        .id = SELECTION_ID,
        .issuer = sim_platform_issuer(shared.platform),
        .client_id = SIM_DEFAULT_CLIENT_ID,
        .deployment_id = SIM_DEFAULT_DEPLOYMENT_ID,
        .placement = "assignment_selection",
        .settings = {.return_url = return_url, .data = "d-4"},
    };
    char tool_url[200], foreign[] = "http://127.0.0.2:1/hosted/player";
    snprintf(tool_url, sizeof(tool_url), "%s/hosted/player?entry=1_abcd1234", shared.tool_base);
    const struct {
        const char *claim;
        json_t *value; /* NULL deletes the claim */
        const char *error;
    } cases[] = {
        {NULL, NULL, NULL},
        {"aud", json_string("https://school.instructure.com"), "aud"},
        {"iss", json_string("999"), "iss"},
        {"iat", json_integer((json_int_t)time(NULL) - 400), "iat"},
        {"exp", json_integer((json_int_t)time(NULL) - 10), "exp"},
        {"nonce", NULL, "nonce"},
        {"https://purl.imsglobal.org/spec/lti/claim/message_type",
         json_string("LtiResourceLinkRequest"), "message_type"},
        {"https://purl.imsglobal.org/spec/lti/claim/deployment_id", json_string("1:x"),
         "deployment_id"},
        {"https://purl.imsglobal.org/spec/lti-dl/claim/data", json_string("d-5"), "data"},
        {"https://purl.imsglobal.org/spec/lti-dl/claim/content_items",
         json_pack("[{s:s},{s:s}]", "type", "ltiResourceLink", "type", "ltiResourceLink"),
         "accepts one"},
        {"https://purl.imsglobal.org/spec/lti-dl/claim/content_items",
         json_pack("[{s:s,s:s}]", "type", "image", "url", tool_url), "accept_types"},
        {"https://purl.imsglobal.org/spec/lti-dl/claim/content_items",
         json_pack("[{s:s,s:s}]", "type", "ltiResourceLink", "url", foreign),
         "outside the tool's domain"},
        {"https://purl.imsglobal.org/spec/lti-dl/claim/content_items",
         json_pack("[{s:s,s:s}]", "type", "ltiResourceLink", "url", tool_url), NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *items = json_array();
        json_t *claims = lti_dl_response_claims(&ctx, items, NULL, NULL, (int64_t)time(NULL));
        if (cases[i].claim != NULL && cases[i].value == NULL)
            json_object_del(claims, cases[i].claim);
        else if (cases[i].claim != NULL)
            json_object_set_new(claims, cases[i].claim, cases[i].value);
        char *jwt = lti_dl_response_sign(&tool, claims);
        long status = repost(&shared, return_url, jwt);
        json_t *report = sim_platform_last_deep_linking_result(shared.platform);
        const char *error = json_string_value(json_object_get(report, "error"));
        if (cases[i].error == NULL) {
            assert_int_equal(status, 200);
        } else {
            if (error == NULL || strstr(error, cases[i].error) == NULL)
                fprintf(stderr, "case %zu: %s\n", i, error != NULL ? error : "(valid)");
            assert_int_equal(status, 400);
            assert_non_null(error);
            assert_non_null(strstr(error, cases[i].error));
        }
        json_decref(report);
        free(jwt);
        json_decref(claims);
        json_decref(items);
    }
    EVP_PKEY_free(tool.signing_key);
}

/* ---- command line: keygen, canvas-json, devkey ---- */

/* Runs a shell command; returns its exit status and its standard output
 * (malloc'd) in *out. */
static int run_command(const char *cmd, char **out)
{
    sim_buf_t buf;
    char chunk[4096];
    size_t n;
    sim_buf_init(&buf, 1024 * 1024);
    FILE *fp = popen(cmd, "r");
    if (fp == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        sim_buf_append(&buf, chunk, n);
    int status = pclose(fp);
    *out = buf.data != NULL ? sim_buf_steal(&buf) : strdup("");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void keygen_command(void **state)
{
    char cmd[1024], key[320];
    char *out = NULL;
    const char *bin = getenv("LTIGATE_BIN");
    snprintf(key, sizeof(key), "%s/generated.pem", shared.dir);

    snprintf(cmd, sizeof(cmd), "'%s' keygen --bits 3072 --out '%s' 2>/dev/null", bin, key);
    assert_int_equal(run_command(cmd, &out), 0);
    json_error_t jerr;
    json_t *jwk = json_loads(out, 0, &jerr);
    free(out);
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_null(json_object_get(jwk, "d"));

    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *fp = fopen(key, "r");
    EVP_PKEY *pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(pkey);
    assert_int_equal(EVP_PKEY_get_bits(pkey), 3072);
    char kid[LTI_JWK_KID_LEN];
    assert_int_equal(lti_jwk_thumbprint(pkey, kid), 0);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), kid);
    EVP_PKEY_free(pkey);
    json_decref(jwk);
    char pub[340];
    snprintf(pub, sizeof(pub), "%s.pub", key);
    assert_int_equal(stat(pub, &st), 0);

    /* An existing key is never overwritten, and odd sizes are refused. */
    snprintf(cmd, sizeof(cmd), "'%s' keygen --out '%s' 2>/dev/null", bin, key);
    assert_int_equal(run_command(cmd, &out), 1);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' keygen --bits 1024 --out '%s/small.pem' 2>/dev/null", bin,
             shared.dir);
    assert_int_equal(run_command(cmd, &out), 2);
    free(out);
}

static void canvas_json_command(void **state)
{
    char cmd[1024], path[320];
    char *out = NULL;
    const char *bin = getenv("LTIGATE_BIN");
    const char *sim = getenv("LTISIM_BIN");

    snprintf(path, sizeof(path), "%s/devkey-cli.json", shared.dir);
    snprintf(cmd, sizeof(cmd), "'%s' canvas-json --config '%s' > '%s' 2>/dev/null", bin,
             shared.config_path, path);
    assert_int_equal(run_command(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' devkey '%s'", sim, path);
    assert_int_equal(run_command(cmd, &out), 0);
    assert_non_null(strstr(out, "ok: "));
    free(out);

    /* The command prints what the endpoint serves. */
    char url[256];
    http_out_t res;
    snprintf(url, sizeof(url), "%s/canvas/config/create-json-for-instance?format=json",
             shared.tool_base);
    http_do(url, "GET", NULL, NULL, NULL, &res);
    json_error_t jerr;
    json_t *served = json_loads(res.body.data, 0, &jerr);
    json_t *printed = json_load_file(path, 0, &jerr);
    assert_true(json_equal(served, printed));
    json_decref(served);
    json_decref(printed);
    sim_buf_free(&res.body);

    snprintf(cmd, sizeof(cmd), "'%s' canvas-json --config '%s' --redirect-uris 2>/dev/null", bin,
             shared.config_path);
    assert_int_equal(run_command(cmd, &out), 0);
    char want[200];
    snprintf(want, sizeof(want), "%s" SIM_LAUNCH_PATH "\n", shared.tool_base);
    assert_string_equal(out, want);
    free(out);

    snprintf(cmd, sizeof(cmd), "'%s' canvas-json --config '%s' --inline-jwk > '%s' 2>/dev/null",
             bin, shared.config_path, path);
    assert_int_equal(run_command(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' devkey '%s'", sim, path);
    assert_int_equal(run_command(cmd, &out), 0);
    free(out);

    /* --check loads the media catalog too. */
    char broken[320], config[340];
    snprintf(broken, sizeof(broken), "%s/broken-catalog.json", shared.dir);
    write_text(broken, "{\"entries\": [{\"id\": \"bad id\"}]}");
    snprintf(config, sizeof(config), "%s/broken.yaml", shared.dir);
    snprintf(cmd, sizeof(cmd), "sed 's|mediaCatalogFile: .*|mediaCatalogFile: %s|' '%s' > '%s'",
             broken, shared.config_path, config);
    assert_int_equal(run_command(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --check 2>&1", bin, config);
    assert_int_equal(run_command(cmd, &out), 1);
    assert_non_null(strstr(out, "media catalog"));
    free(out);

    /* A key without alg and use is what Canvas's form refuses. */
    write_text(path, "{\"title\": \"T\", \"description\": \"D\", "
                        "\"oidc_initiation_url\": \"https://t.example/login\", "
                        "\"target_link_uri\": \"https://t.example/launch\", "
                        "\"public_jwk\": {\"kty\": \"RSA\", \"kid\": \"k\", \"n\": \"x\", "
                        "\"e\": \"AQAB\"}, \"extensions\": [{\"platform\": "
                        "\"canvas.instructure.com\", \"privacy_level\": \"public\", "
                        "\"settings\": {\"placements\": [{\"placement\": "
                        "\"course_navigation\", \"message_type\": "
                        "\"LtiDeepLinkingRequest\"}]}}]}");
    snprintf(cmd, sizeof(cmd), "'%s' devkey '%s'", sim, path);
    assert_int_equal(run_command(cmd, &out), 1);
    assert_non_null(strstr(out, "public_jwk.alg is missing"));
    assert_non_null(strstr(out, "public_jwk.use is missing"));
    assert_non_null(strstr(out, "does not support LtiDeepLinkingRequest"));
    free(out);
}

/* ---- key rotation across restarts ---- */

static int write_key_file(const char *path)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    FILE *fp = fopen(path, "w");
    int ok = key != NULL && fp != NULL &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fp != NULL)
        fclose(fp);
    chmod(path, 0600);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/* Stops ltigate, points the key settings of its config at `current` and
 * `next` (NULL = none), starts it again and waits for /healthz. */
static int restart_with_keys(harness_t *h, const char *current, const char *next)
{
    char *text = NULL, line[512], reason[64];
    size_t len = 0;
    FILE *in = fopen(h->config_path, "r");
    FILE *out = open_memstream(&text, &len);
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        if (strstr(line, "lti13ServiceNextPrivateKey:") != NULL)
            continue;
        if (strstr(line, "lti13ServicePrivateKey:") != NULL) {
            fprintf(out, "  lti13ServicePrivateKey: %s\n", current);
            if (next != NULL)
                fprintf(out, "  lti13ServiceNextPrivateKey: %s\n", next);
            continue;
        }
        fputs(line, out);
    }
    if (in != NULL)
        fclose(in);
    fclose(out);
    FILE *fp = fopen(h->config_path, "w");
    fputs(text, fp);
    fclose(fp);
    free(text);

    kill(h->tool_pid, SIGTERM);
    int status;
    waitpid(h->tool_pid, &status, 0);
    h->tool_pid = fork();
    if (h->tool_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(getenv("LTIGATE_BIN"), "ltigate", "--config", h->config_path, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (harness_http(h, "GET", "/healthz", NULL, NULL, 0, NULL, reason, sizeof(reason)) ==
            200)
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Posts a stored JWT again to the platform's return URL; returns the status. */
static long repost(const harness_t *h, const char *return_url, const char *jwt)
{
    char *form = NULL;
    http_out_t out;
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    if (asprintf(&form, "JWT=%s", jwt) < 0)
        return -1;
    http_do(return_url, "POST", form, headers, NULL, &out);
    if (out.status != 200)
        fprintf(stderr, "platform: %s\n", out.body.data != NULL ? out.body.data : "");
    sim_buf_free(&out.body);
    free(form);
    return out.status;
}

static void key_rotation_keeps_responses_valid(void **state)
{
    harness_t h;
    char key_b[320], return_url[256];
    assert_int_equal(start_dl(&h), 0);
    snprintf(key_b, sizeof(key_b), "%s/key-b.pem", h.dir);
    assert_int_equal(write_key_file(key_b), 0);
    snprintf(return_url, sizeof(return_url), "%s/courses/3/deep_linking_response?data=rot",
             sim_platform_base_url(h.platform));
    char *claims = settings_claims(
        &h, "{\"deep_link_return_url\": \"$BASE/courses/3/deep_linking_response?data=rot\","
            "\"accept_types\": [\"ltiResourceLink\"], "
            "\"accept_presentation_document_targets\": [\"iframe\"], \"accept_multiple\": true}");
    sim_launch_opts_t o;
    sim_launch_result_t r;

    /* 1. Key A signs. */
    dl_opts(&h, &o, "editor_button");
    o.claims_json = claims;
    o.dl_pick = "1_abcd1234";
    run(&o, &r);
    assert_int_equal(r.dl_status, 200);
    sim_launch_result_clear(&r);
    char *jwt_a = sim_platform_last_deep_linking_jwt(h.platform);
    assert_non_null(jwt_a);

    /* 2. Publish B as the next key: A still signs and verifies. */
    assert_int_equal(restart_with_keys(&h, "tool-key.pem", key_b), 0);
    assert_int_equal(repost(&h, return_url, jwt_a), 200);

    /* 3. B becomes current, A stays published: a response A signed just
     * before the switch still verifies, and B's responses verify. */
    assert_int_equal(restart_with_keys(&h, key_b, "tool-key.pem"), 0);
    assert_int_equal(repost(&h, return_url, jwt_a), 200);
    run(&o, &r);
    assert_int_equal(r.dl_status, 200);
    sim_launch_result_clear(&r);
    char *jwt_b = sim_platform_last_deep_linking_jwt(h.platform);
    assert_string_not_equal(jwt_a, jwt_b);

    /* 4. A is retired: its responses are rejected, B's still pass. */
    assert_int_equal(restart_with_keys(&h, key_b, NULL), 0);
    assert_int_equal(repost(&h, return_url, jwt_a), 400);
    json_t *report = sim_platform_last_deep_linking_result(h.platform);
    assert_non_null(strstr(json_string_value(json_object_get(report, "error")),
                           "no RS256 key with the JWT's kid"));
    json_decref(report);
    assert_int_equal(repost(&h, return_url, jwt_b), 200);

    free(jwt_a);
    free(jwt_b);
    free(claims);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(editor_button_round_trip),
        cmocka_unit_test(link_selection_round_trip),
        cmocka_unit_test(assignment_selection_round_trip),
        cmocka_unit_test(editor_button_several_entries),
        cmocka_unit_test(cancelled_selection),
        cmocka_unit_test(unknown_entry_rejected),
        cmocka_unit_test(accept_types_mismatch),
        cmocka_unit_test(data_echoed_to_platform),
        cmocka_unit_test(settings_missing_or_malformed),
        cmocka_unit_test(picker_form_needs_csrf),
        cmocka_unit_test(app_api_returns_signed_form),
        cmocka_unit_test(choose_is_single_use),
        cmocka_unit_test(player_page_for_embedded_link),
        cmocka_unit_test(player_page_unknown_entry),
        cmocka_unit_test(jwks_and_devkey_endpoints),
        cmocka_unit_test(platform_rejects_bad_responses),
        cmocka_unit_test(keygen_command),
        cmocka_unit_test(canvas_json_command),
    };
    const struct CMUnitTest rotation[] = {
        cmocka_unit_test(key_rotation_keeps_responses_valid),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests_name("deep linking", tests, start_shared, stop_shared);
    failed += cmocka_run_group_tests_name("tool key rotation", rotation, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
