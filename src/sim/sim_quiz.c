/* SPDX-License-Identifier: MIT */
/*
 * `ltisim quiz`: a student takes a video quiz from a Canvas assignment.
 * Creates a line item on the simulated Canvas, launches the assignment
 * with the AGS claim carrying that line item, opens the tool's quiz,
 * submits the answers, and prints the grade the simulated gradebook holds.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "sim_services.h"

#define BODY_MAX (1024 * 1024)

typedef struct body {
    sim_buf_t buf;
} body_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    return sim_buf_append(&b->buf, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

/* One request to a loopback URL. Returns the status (or -1) and the body
 * parsed as JSON in *doc when it is JSON. */
static long request(const char *method, const char *url, const char *cookie, const char *form,
                    json_t **doc)
{
    body_t b;
    long status = -1;
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    CURL *c = curl_easy_init();
    sim_buf_init(&b.buf, BODY_MAX);
    *doc = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (cookie != NULL)
        curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    if (form != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (b.buf.data != NULL && !b.buf.overflow) {
        json_error_t jerr;
        *doc = json_loadb(b.buf.data, b.buf.len, 0, &jerr);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    sim_buf_free(&b.buf);
    return status;
}

static const char usage[] =
    "Usage: ltisim quiz --platform URL --tool URL --entry ID --answers q1=b,q2=a,...\n"
    "                   [--user NAME] [--name TEXT] [--course ID] [--points N]\n"
    "\n"
    "A student takes the video quiz of media entry ID from a Canvas assignment:\n"
    "creates the assignment's line item on the simulated Canvas (POST /sim/lineitems),\n"
    "launches it with the AGS claim, opens the tool's /hosted/quiz, submits the\n"
    "answers and prints the grade from the simulated gradebook (GET /sim/scores).\n"
    "Defaults: --user asmith --name 'Ann Smith' --course 1234 --points 30.\n"
    "Exit status: 0 when the gradebook holds the score, 1 otherwise, 2 for bad options.\n";

static int only_loopback(const char *url)
{
    return strncmp(url, "http://127.", 11) == 0 || strncmp(url, "http://[::1]", 12) == 0 ||
           strncmp(url, "http://localhost", 16) == 0;
}

int sim_quiz_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"platform", required_argument, NULL, 'p'}, {"tool", required_argument, NULL, 't'},
        {"entry", required_argument, NULL, 'e'},    {"answers", required_argument, NULL, 'a'},
        {"user", required_argument, NULL, 'u'},     {"name", required_argument, NULL, 'n'},
        {"course", required_argument, NULL, 'c'},   {"points", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *platform = NULL, *tool = NULL, *entry = NULL, *answers = NULL;
    const char *user = "asmith", *name = "Ann Smith", *course = "1234", *points = "30";
    int opt, rc = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'p': platform = optarg; break;
        case 't': tool = optarg; break;
        case 'e': entry = optarg; break;
        case 'a': answers = optarg; break;
        case 'u': user = optarg; break;
        case 'n': name = optarg; break;
        case 'c': course = optarg; break;
        case 'P': points = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (platform == NULL || tool == NULL || entry == NULL || answers == NULL ||
        !only_loopback(platform) || !only_loopback(tool) ||
        strspn(course, "0123456789") != strlen(course) ||
        strspn(points, "0123456789") != strlen(points) ||
        strspn(entry, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            strlen(entry)) {
        fprintf(stderr, "ltisim quiz: --platform and --tool (loopback URLs), --entry, "
                        "--answers are required; --course and --points are numbers\n");
        fputs(usage, stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char url[1024], target[1024], claims[4096], form[2048];
    json_t *doc = NULL, *grade = NULL;
    sim_launch_result_t r;
    memset(&r, 0, sizeof(r));

    /* 1. The assignment's line item, as Canvas creates it. */
    snprintf(url, sizeof(url), "%s/sim/lineitems?course=%s&label=Video+quiz+%s&scoreMaximum=%s",
             platform, course, entry, points);
    if (request("POST", url, NULL, "", &doc) != 200 || doc == NULL) {
        fprintf(stderr, "ltisim quiz: the platform did not create the line item\n");
        goto out;
    }
    char *lineitem = strdup(json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    printf("line item:   %s (%s points)\n", lineitem, points);

    /* 2. The student opens the assignment. */
    snprintf(claims, sizeof(claims),
             "{\"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint\": {\"scope\": ["
             "\"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem\","
             "\"https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly\","
             "\"https://purl.imsglobal.org/spec/lti-ags/scope/score\"],"
             "\"lineitems\": \"%s/api/lti/courses/%s/line_items\", \"lineitem\": \"%s\"}}",
             platform, course, lineitem);
    snprintf(target, sizeof(target), "%s/hosted/index/oauth2-launch?entry=%s", tool, entry);
    sim_launch_opts_t o = {.platform = platform, .user = user, .name = name, .role = "student",
                           .placement = "null", .course = course, .claims_json = claims,
                           .target = target, .timeout_ms = 15000};
    if (sim_launch(&o, &r) != SIM_LAUNCHED || r.session_cookie == NULL) {
        fprintf(stderr, "ltisim quiz: launch %s: %s %s\n", sim_outcome_name(r.outcome), r.reason,
                r.error);
        free(lineitem);
        goto out;
    }
    printf("launch:      %s lands on %s%s\n", user, r.page != NULL ? r.page : "?",
           r.body != NULL && strstr(r.body, "/hosted/quiz?entry=") != NULL
               ? " (with a link to the quiz)"
               : "");

    /* 3. The quiz and its CSRF token; 4. the answers. */
    snprintf(url, sizeof(url), "%s/hosted/quiz?entry=%s", tool, entry);
    long status = request("GET", url, r.session_cookie, NULL, &doc);
    const char *csrf = json_string_value(json_object_get(doc, "csrf"));
    if (status != 200 || csrf == NULL) {
        fprintf(stderr, "ltisim quiz: the tool's quiz page returned HTTP %ld\n", status);
        json_decref(doc);
        free(lineitem);
        goto out;
    }
    printf("quiz:        %zu questions\n", json_array_size(json_object_get(doc, "questions")));
    sim_buf_t f;
    sim_buf_init(&f, sizeof(form));
    sim_buf_printf(&f, "csrf=%s&entry=%s", csrf, entry);
    json_decref(doc);
    char *copy = strdup(answers), *save = NULL;
    for (char *a = strtok_r(copy, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        sim_buf_puts(&f, "&q_");
        sim_buf_puts(&f, a);
    }
    free(copy);
    snprintf(url, sizeof(url), "%s/hosted/quiz/submit", tool);
    status = request("POST", url, r.session_cookie, f.data, &doc);
    sim_buf_free(&f);
    printf("submitted:   HTTP %ld, graded by the tool %g of %g\n", status,
           json_number_value(json_object_get(doc, "scoreGiven")),
           json_number_value(json_object_get(doc, "scoreMaximum")));
    json_decref(doc);

    /* 5. The simulated gradebook. */
    snprintf(url, sizeof(url), "%s/sim/scores", platform);
    request("GET", url, NULL, NULL, &doc);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "scores"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "lineitem")), lineitem) == 0)
            grade = json_incref(s);
    }
    json_decref(doc);
    free(lineitem);
    if (grade == NULL) {
        printf("gradebook:   no score for the line item\n");
        goto out;
    }
    printf("gradebook:   %g / %g for user %s (%s, %s)\n",
           json_number_value(json_object_get(grade, "scoreGiven")),
           json_number_value(json_object_get(grade, "scoreMaximum")),
           json_string_value(json_object_get(grade, "userId")),
           json_string_value(json_object_get(grade, "activityProgress")),
           json_string_value(json_object_get(grade, "gradingProgress")));
    json_decref(grade);
    rc = 0;
out:
    sim_launch_result_clear(&r);
    curl_global_cleanup();
    return rc;
}
