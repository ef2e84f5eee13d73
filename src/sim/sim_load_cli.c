/* SPDX-License-Identifier: MIT */
/* Command line of `ltisim load`. */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lti/log.h"
#include "sim_load_int.h"

enum { LOAD_EXIT_OK = 0, LOAD_EXIT_ERRORS = 1, LOAD_EXIT_USAGE = 2 };

static const char load_usage[] =
    "Usage: ltisim load --tool URL [OPTIONS]\n"
    "       ltisim load --mode get --url URL [OPTIONS]\n"
    "\n"
    "Plays many browsers through complete LTI 1.3 launches over keep-alive\n"
    "connections: login initiation at the tool, authorization at the platform,\n"
    "the id_token form POST, and the landing page; optionally a share of\n"
    "deep-linking round trips. Prints launches per second, latency percentiles\n"
    "per step, errors by reason code (the X-LTI-Reason header, else\n"
    "http_STATUS) and the generator's own CPU time per launch.\n"
    "Sends traffic to http URLs on 127.0.0.1, ::1 or localhost only.\n"
    "\n"
    "Modes:\n"
    "  full   every launch signs its id_token as soon as the login redirect\n"
    "         reveals the nonce, as a platform does; RSA-2048 signing in the\n"
    "         generator then bounds the rate\n"
    "  split  first all logins (timed), then signing of every id_token (not\n"
    "         timed, on --sign-threads threads), then all launch POSTs (timed).\n"
    "         The tool must keep login states through the signing phase: its\n"
    "         state lifetime (ltigate: hosted.stateLifetime, default 300 s) must\n"
    "         exceed the login phase plus the signing time, and its store must hold\n"
    "         COUNT states (ltigate: store.maxEntries). Signing takes about COUNT /\n"
    "         (2000 x CPUs) seconds: RSA-2048 signs 2,000 to 3,500 tokens per second\n"
    "         per core on current x86 CPUs (build/bench_rsa measures this machine).\n"
    "         With --deep-linking, two more phases follow: the picker pages of the\n"
    "         deep-linking flows (not timed), then their selection POSTs (timed:\n"
    "         the deep-link response phase, the tool signing one response per\n"
    "         request). The selection must outlive the picker phase (ltigate:\n"
    "         hosted.sessionLifetime)\n"
    "  get    GETs of --url: the HTTP ceiling of the target on this machine\n"
    "\n"
    "Target:\n"
    "  --tool URL             tool base URL; login and launch URLs are URL plus\n"
    "                         " SIM_LOGIN_PATH " and " SIM_LAUNCH_PATH "\n"
    "  --login-url URL        login initiation URL (overrides --tool)\n"
    "  --launch-url URL       launch (redirect_uri) URL (overrides --tool)\n"
    "  --login-method M       POST (default, as Canvas) or GET\n"
    "  --token-param NAME     launch form field of the token (default id_token)\n"
    "  --state-param NAME     launch form field of the state (default state)\n"
    "  --launch-status LIST   launch POST statuses that mean accepted, comma-separated\n"
    "                         (default 302,303)\n"
    "  --no-landing           full mode: stop after the launch POST instead of\n"
    "                         requesting the page it redirects to (deep-linking\n"
    "                         flows still request their picker page)\n"
    "  --landing-contains T   the landing page must contain text T\n"
    "  --url URL              get mode: the URL to request\n"
    "  --baseline-url URL     full mode against a do-nothing tool: every request\n"
    "                         goes to URL (expecting 200) and every token is signed\n"
    "                         as in a real run, so the rate is the generator's limit\n"
    "\n"
    "Platform (default: an in-process simulated Canvas):\n"
    "  --platform URL         use a running `ltisim platform` instead; the browsers\n"
    "                         then fetch /sim/launch and the authorize endpoint there\n"
    "                         and the platform signs\n"
    "  --platform-listen A    address of the in-process platform (default\n"
    "                         127.0.0.1:0); the tool fetches its key set from\n"
    "                         http://A" SIM_JWKS_PATH "\n"
    "  --state-dir DIR        keep the in-process platform's keys in DIR/keys.json,\n"
    "                         so that runs share keys and the tool's key cache. With\n"
    "                         --platform: DIR is that platform's --state-dir and the\n"
    "                         generator signs with its present key in-process (no\n"
    "                         /sim/launch or authorize requests); the platform still\n"
    "                         serves the key set and its /sim/stats counts fetches\n"
    "  --issuer ISS, --client-id ID, --deployment-id ID\n"
    "                         registration placed in logins and tokens (defaults:\n"
    "                         " SIM_DEFAULT_ISSUER ", " SIM_DEFAULT_CLIENT_ID ",\n"
    "                         " SIM_DEFAULT_DEPLOYMENT_ID ")\n"
    "\n"
    "Load:\n"
    "  --mode MODE            full (default), split or get\n"
    "  -c, --concurrency N    simultaneous browsers (default 8, at most 4096)\n"
    "  -n, --count N          flows to run (split mode: required, at most 200000,\n"
    "                         because every signed token stays in memory)\n"
    "  -d, --duration S       seconds each timed phase may run (default 10 without\n"
    "                         --count, else 600; at most 3600); no new flow starts\n"
    "                         after it and requests in flight finish\n"
    "  --users N              distinct users, loaduser0.. (default 100)\n"
    "  --courses N            distinct courses (default 10)\n"
    "  --roles LIST           roles in turn (default instructor,student,ta)\n"
    "  --placements LIST      placements in turn (default\n"
    "                         course_navigation,global_navigation,link_selection)\n"
    "  --deep-linking PCT     percentage of flows (0 to 100, spread evenly) that are\n"
    "                         deep-linking round trips: an instructor's\n"
    "                         LtiDeepLinkingRequest launch, a GET of the page the\n"
    "                         launch redirects to, the POST of that page's first form\n"
    "                         (its hidden inputs such as the CSRF token, its first\n"
    "                         checkbox or radio input and its first submit button),\n"
    "                         and a response page whose first form holds the JWT\n"
    "                         field and posts to the deep_link_return_url. This\n"
    "                         follows ltigate's picker; other tools need a picker\n"
    "                         page of that shape. Cannot be combined with --negative\n"
    "                         or --baseline-url\n"
    "  --dl-placement NAME    placement of deep-linking requests (default\n"
    "                         editor_button, the Canvas rich content editor)\n"
    "  --dl-target URL        their target_link_uri (default: launch URL plus\n"
    "                         ?placement=editor, as ltigate's developer key registers\n"
    "                         editor_button)\n"
    "  --tool-jwks SRC        the tool's key set, to verify the signed responses: a\n"
    "                         loopback http URL or a file, read once before the\n"
    "                         first flow (default: " LOAD_DEFAULT_TOOL_JWKS_PATH " on the\n"
    "                         launch URL's host, where ltigate publishes it)\n"
    "  --dl-verify-every N    verify the first response and every Nth after it as\n"
    "                         Canvas does (signature, iss, aud, nonce, iat, exp,\n"
    "                         data, content items for the placement, return URL);\n"
    "                         default 100, 1 verifies all. Every response must be\n"
    "                         a form with a JWT field; a failed check is an error\n"
    "  --negative             send tampered tokens in turn (bad signature, a nonce\n"
    "                         the tool never issued, replay of an accepted token);\n"
    "                         every tampered token accepted is an error\n"
    "  --timeout-ms N         per request (default 10000)\n"
    "  --sign-threads N       split mode signing threads (default: one per CPU)\n"
    "  --server-pid PID       report the CPU time of process PID (the tool, on this\n"
    "                         machine) in each phase, read from /proc/PID/stat\n"
    "\n"
    "Output:\n"
    "  --json                 print the report as one JSON object\n"
    "  --quiet                no progress line (it is shown only on a terminal)\n"
    "  -h, --help             show this text\n"
    "\n"
    "Exit status: 0 no errors, 1 errors or accepted tampered tokens, 2 bad options\n"
    "or a setup step failed before the first flow (keys, state directory). A tool\n"
    "that refuses connections counts as errors of each flow (status 1).\n";

/* Splits a comma-separated list in place into `out`. */
static int split_list(char *text, const char **out, size_t max, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == max)
            return -1;
        out[(*n)++] = tok;
    }
    return *n > 0 ? 0 : -1;
}

static int parse_count(const char *text, int64_t min, int64_t max, int64_t *out)
{
    return sim_parse_i64(text, out) == 0 && *out >= min && *out <= max ? 0 : -1;
}

static int parse_listen(const char *text, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    int64_t value = 0;
    if (colon == NULL || parse_count(colon + 1, 0, 65535, &value) != 0)
        return -1;
    const char *start = text;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len == 0 || len >= hostlen)
        return -1;
    memcpy(host, start, len);
    host[len] = '\0';
    *port = (uint16_t)value;
    return 0;
}

typedef struct cli {
    sim_load_opts_t o;
    char login[2048], launch[2048];
    char roles_text[512], placements_text[512], statuses_text[128];
    char dl_target[2100];
    const char *platform_listen, *state_dir;
    int json, quiet, have_duration;
} cli_t;

static int parse_statuses(cli_t *c)
{
    const char *items[LOAD_MAX_STATUSES];
    size_t n = 0;
    if (split_list(c->statuses_text, items, LOAD_MAX_STATUSES, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (parse_count(items[i], 100, 599, &v) != 0)
            return -1;
        c->o.launch_statuses[i] = (long)v;
    }
    c->o.n_launch_statuses = n;
    return 0;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("ltisim load: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("; run 'ltisim load --help'\n", stderr);
    return LOAD_EXIT_USAGE;
}

/* Parses the options into `c`. Returns -1 to continue, else an exit status. */
static int parse_args(cli_t *c, int argc, char **argv)
{
    static const struct option options[] = {
        {"mode", required_argument, NULL, 'm'},
        {"tool", required_argument, NULL, 'T'},
        {"login-url", required_argument, NULL, 'L'},
        {"launch-url", required_argument, NULL, 'U'},
        {"login-method", required_argument, NULL, 'M'},
        {"token-param", required_argument, NULL, 'k'},
        {"state-param", required_argument, NULL, 's'},
        {"launch-status", required_argument, NULL, 'S'},
        {"no-landing", no_argument, NULL, 'N'},
        {"landing-contains", required_argument, NULL, 'C'},
        {"url", required_argument, NULL, 'u'},
        {"baseline-url", required_argument, NULL, 'B'},
        {"platform", required_argument, NULL, 'p'},
        {"platform-listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 'D'},
        {"issuer", required_argument, NULL, 'i'},
        {"client-id", required_argument, NULL, 'I'},
        {"deployment-id", required_argument, NULL, 'e'},
        {"concurrency", required_argument, NULL, 'c'},
        {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"users", required_argument, NULL, 'r'},
        {"courses", required_argument, NULL, 'o'},
        {"roles", required_argument, NULL, 'R'},
        {"placements", required_argument, NULL, 'P'},
        {"deep-linking", required_argument, NULL, 'K'},
        {"dl-placement", required_argument, NULL, 'A'},
        {"dl-target", required_argument, NULL, 'G'},
        {"tool-jwks", required_argument, NULL, 'J'},
        {"dl-verify-every", required_argument, NULL, 'V'},
        {"server-pid", required_argument, NULL, 'Q'},
        {"negative", no_argument, NULL, 'g'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"sign-threads", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    int64_t v;
    sim_load_opts_t *o = &c->o;

    while ((ch = getopt_long(argc, argv, "c:n:d:h", options, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if (strcmp(optarg, "full") == 0)
                o->mode = LOAD_FULL;
            else if (strcmp(optarg, "split") == 0)
                o->mode = LOAD_SPLIT;
            else if (strcmp(optarg, "get") == 0)
                o->mode = LOAD_GET;
            else
                return usage_error("--mode must be full, split or get, not '%s'", optarg);
            break;
        case 'T':
            snprintf(c->login, sizeof(c->login), "%s%s", optarg, SIM_LOGIN_PATH);
            snprintf(c->launch, sizeof(c->launch), "%s%s", optarg, SIM_LAUNCH_PATH);
            break;
        case 'L': snprintf(c->login, sizeof(c->login), "%s", optarg); break;
        case 'U': snprintf(c->launch, sizeof(c->launch), "%s", optarg); break;
        case 'M':
            if (strcmp(optarg, "GET") != 0 && strcmp(optarg, "POST") != 0)
                return usage_error("--login-method must be GET or POST, not '%s'", optarg);
            o->login_get = strcmp(optarg, "GET") == 0;
            break;
        case 'k': o->token_param = optarg; break;
        case 's': o->state_param = optarg; break;
        case 'S':
            snprintf(c->statuses_text, sizeof(c->statuses_text), "%s", optarg);
            if (parse_statuses(c) != 0)
                return usage_error("--launch-status must list 1 to 8 HTTP statuses, not '%s'",
                                   optarg);
            break;
        case 'N': o->landing = 0; break;
        case 'C': o->landing_contains = optarg; break;
        case 'u': o->get_url = optarg; break;
        case 'B': o->baseline_url = optarg; break;
        case 'p': o->platform_url = optarg; break;
        case 'l': c->platform_listen = optarg; break;
        case 'D': c->state_dir = optarg; break;
        case 'i': o->issuer = optarg; break;
        case 'I': o->client_id = optarg; break;
        case 'e': o->deployment_id = optarg; break;
        case 'c':
            if (parse_count(optarg, 1, LOAD_MAX_CONCURRENCY, &v) != 0)
                return usage_error("--concurrency must be 1 to 4096, not '%s'", optarg);
            o->concurrency = (unsigned)v;
            break;
        case 'n':
            if (parse_count(optarg, 1, LOAD_MAX_COUNT, &v) != 0)
                return usage_error("--count must be 1 to 5000000, not '%s'", optarg);
            o->count = (uint64_t)v;
            break;
        case 'd': {
            char *end = NULL;
            double d = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(d > 0) || d > LOAD_MAX_DURATION)
                return usage_error("--duration must be more than 0 and at most 3600 seconds, "
                                   "not '%s'", optarg);
            o->duration = d;
            c->have_duration = 1;
            break;
        }
        case 'r':
        case 'o':
            if (parse_count(optarg, 1, 1000000, &v) != 0)
                return usage_error("--users and --courses must be 1 to 1000000, not '%s'",
                                   optarg);
            if (ch == 'r')
                o->users = (unsigned)v;
            else
                o->courses = (unsigned)v;
            break;
        case 'R':
            snprintf(c->roles_text, sizeof(c->roles_text), "%s", optarg);
            if (split_list(c->roles_text, o->roles, LOAD_MAX_MIX, &o->n_roles) != 0)
                return usage_error("--roles must list 1 to 16 roles, not '%s'", optarg);
            break;
        case 'P':
            snprintf(c->placements_text, sizeof(c->placements_text), "%s", optarg);
            if (split_list(c->placements_text, o->placements, LOAD_MAX_MIX, &o->n_placements) !=
                0)
                return usage_error("--placements must list 1 to 16 placements, not '%s'", optarg);
            break;
        case 'K':
            if (parse_count(optarg, 0, 100, &v) != 0)
                return usage_error("--deep-linking must be a percentage 0 to 100, not '%s'",
                                   optarg);
            o->deep_linking_pct = (unsigned)v;
            break;
        case 'A': o->dl_placement = optarg; break;
        case 'G': o->dl_target = optarg; break;
        case 'J': o->dl_jwks = optarg; break;
        case 'V':
            if (parse_count(optarg, 1, 1000000, &v) != 0)
                return usage_error("--dl-verify-every must be 1 to 1000000, not '%s'", optarg);
            o->dl_verify_every = (unsigned)v;
            break;
        case 'Q':
            if (parse_count(optarg, 1, 4194304, &v) != 0)
                return usage_error("--server-pid must be a process id, not '%s'", optarg);
            o->server_pid = (long)v;
            break;
        case 'g': o->negative = 1; break;
        case 't':
            if (parse_count(optarg, 1, 600000, &v) != 0)
                return usage_error("--timeout-ms must be 1 to 600000, not '%s'", optarg);
            o->timeout_ms = (long)v;
            break;
        case 'H':
            if (parse_count(optarg, 1, 64, &v) != 0)
                return usage_error("--sign-threads must be 1 to 64, not '%s'", optarg);
            o->sign_threads = (unsigned)v;
            break;
        case 'j': c->json = 1; break;
        case 'q': c->quiet = 1; break;
        case 'h': fputs(load_usage, stdout); return LOAD_EXIT_OK;
        default: fputs(load_usage, stderr); return LOAD_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    return -1;
}

static void set_defaults(cli_t *c)
{
    sim_load_opts_t *o = &c->o;
    memset(c, 0, sizeof(*c));
    o->mode = LOAD_FULL;
    o->concurrency = 8;
    o->users = 100;
    o->courses = 10;
    o->token_param = "id_token";
    o->state_param = "state";
    o->landing = 1;
    o->timeout_ms = 10000;
    o->dl_placement = "editor_button";
    o->dl_verify_every = LOAD_DL_DEFAULT_VERIFY_EVERY;
    o->issuer = SIM_DEFAULT_ISSUER;
    o->client_id = SIM_DEFAULT_CLIENT_ID;
    o->deployment_id = SIM_DEFAULT_DEPLOYMENT_ID;
    snprintf(c->roles_text, sizeof(c->roles_text), "instructor,student,ta");
    snprintf(c->placements_text, sizeof(c->placements_text),
             "course_navigation,global_navigation,link_selection");
    snprintf(c->statuses_text, sizeof(c->statuses_text), "302,303");
    split_list(c->roles_text, o->roles, LOAD_MAX_MIX, &o->n_roles);
    split_list(c->placements_text, o->placements, LOAD_MAX_MIX, &o->n_placements);
    parse_statuses(c);
}

/* Starts the in-process platform configured for the tool under test. */
static sim_platform_t *start_platform(cli_t *c)
{
    sim_platform_opts_t po;
    char host[64] = "127.0.0.1", err[512] = "";
    memset(&po, 0, sizeof(po));
    if (c->platform_listen != NULL &&
        parse_listen(c->platform_listen, host, sizeof(host), &po.port) != 0) {
        fprintf(stderr, "ltisim load: --platform-listen expects HOST:PORT, e.g. "
                        "127.0.0.1:9001, not '%s'\n", c->platform_listen);
        return NULL;
    }
    po.listen_host = host;
    po.issuer = c->o.issuer;
    po.client_id = c->o.client_id;
    po.deployment_id = c->o.deployment_id;
    po.tool_login_url = c->o.login_url;
    po.tool_launch_url = c->o.launch_url;
    po.state_dir = c->state_dir;
    sim_platform_t *p = sim_platform_start(&po, err, sizeof(err));
    if (p == NULL)
        fprintf(stderr, "ltisim load: in-process platform: %s\n", err);
    return p;
}

int sim_load_main(int argc, char **argv)
{
    cli_t c;
    char err[512] = "";
    sim_platform_t *platform = NULL;
    json_t *report = NULL;
    int rc;

    set_defaults(&c);
    rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    sim_load_opts_t *o = &c.o;
    if (c.login[0] != '\0')
        o->login_url = c.login;
    if (c.launch[0] != '\0')
        o->launch_url = c.launch;
    if (o->dl_target == NULL && o->launch_url != NULL) {
        snprintf(c.dl_target, sizeof(c.dl_target), "%s%cplacement=editor", o->launch_url,
                 strchr(o->launch_url, '?') != NULL ? '&' : '?');
        o->dl_target = c.dl_target;
    }
    if (o->platform_url != NULL)
        o->key_dir = c.state_dir;
    if (!c.have_duration)
        o->duration = o->count > 0 ? 600 : 10;
    o->progress = !c.quiet && isatty(STDERR_FILENO);
    lti_log_open(NULL, LTI_LOG_WARN);

    if (o->mode != LOAD_GET && o->platform_url == NULL && o->login_url != NULL &&
        o->launch_url != NULL) {
        platform = start_platform(&c);
        if (platform == NULL)
            return LOAD_EXIT_USAGE;
        o->platform = platform;
        o->issuer = sim_platform_issuer(platform);
        if (o->progress)
            fprintf(stderr, "in-process platform at %s\n", sim_platform_base_url(platform));
    }
    report = sim_load_run(o, err, sizeof(err));
    if (report == NULL) {
        fprintf(stderr, "ltisim load: %s\n", err);
        rc = LOAD_EXIT_USAGE;
        goto out;
    }
    if (c.json) {
        char *text = json_dumps(report, JSON_COMPACT);
        puts(text != NULL ? text : "{}");
        free(text);
    } else {
        sim_load_print_table(report, stdout);
    }
    json_t *summary = json_object_get(report, "summary");
    json_t *neg = json_object_get(report, "negative");
    rc = json_integer_value(json_object_get(summary, "errors")) > 0 ||
                 json_integer_value(json_object_get(neg, "accepted")) > 0
             ? LOAD_EXIT_ERRORS
             : LOAD_EXIT_OK;
out:
    json_decref(report);
    if (platform != NULL)
        sim_platform_stop(platform);
    return rc;
}
