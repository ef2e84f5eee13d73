/* SPDX-License-Identifier: MIT */
/*
 * ltisim: command-line front end of the simulators.
 *   ltisim platform ...  runs the Canvas-like platform until SIGINT/SIGTERM
 *   ltisim launch ...    plays one launch as a browser and reports the outcome
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "lti/log.h"
#include "sim.h"
#include "sim_conformance.h"
#include "sim_dl.h"
#include "sim_int.h"
#include "sim_load.h"
#include "sim_services.h"

/* Exit codes of `ltisim launch`; usage errors also exit 2. */
enum { EXIT_LAUNCHED = 0, EXIT_REJECTED = 1, EXIT_ERRORS = 2 };

/* LeakSanitizer hook (used only in sanitizer builds): h2o 2.2.5 keeps
 * per-thread free lists of pool chunks and socket buffers that are never
 * released when a loop thread exits, so each stopped platform leaves up to
 * a few KiB in h2o_mem_alloc_recycle. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

static const char main_usage[] =
    "Usage: ltisim COMMAND [OPTIONS]\n"
    "\n"
    "Test-side simulators for ltigate. Listens and connects on loopback only.\n"
    "\n"
    "Commands:\n"
    "  platform   run a Canvas-like LTI 1.3 platform (OIDC authorize endpoint, JWKS,\n"
    "             signed id_tokens) until SIGINT or SIGTERM\n"
    "  launch     play one launch as a browser against a running platform and tool,\n"
    "             and report the outcome\n"
    "  devkey     check a Canvas developer-key JSON file the way Canvas's form does\n"
    "  conformance  run a directory of launch cases (certification layout) against a\n"
    "             running platform and tool, one line per case\n"
    "  load       drive many browsers through complete launches against a tool and\n"
    "             report launches per second, latency percentiles and errors\n"
    "  quiz       take a video quiz from an assignment and print the grade the\n"
    "             simulated gradebook received\n"
    "\n"
    "Run 'ltisim COMMAND --help' for the options of a command.\n";

static const char platform_usage[] =
    "Usage: ltisim platform --listen HOST:PORT [OPTIONS]\n"
    "\n"
    "Runs a Canvas-like platform and prints\n"
    "  ltisim platform listening on http://HOST:PORT\n"
    "on standard output once it accepts connections. Logs go to standard error.\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT     loopback address to listen on, e.g. 127.0.0.1:9001 or\n"
    "                         [::1]:9001; port 0 picks a free port (required)\n"
    "  --issuer URL           issuer (iss) in logins and id_tokens; 'self' uses the\n"
    "                         platform's own base URL (default " SIM_DEFAULT_ISSUER ")\n"
    "  --client-id ID         developer key client_id (default " SIM_DEFAULT_CLIENT_ID ")\n"
    "  --deployment-id ID     deployment_id (default " SIM_DEFAULT_DEPLOYMENT_ID ")\n"
    "  --tool-base URL        sets both tool URLs to URL" SIM_LOGIN_PATH " and\n"
    "                         URL" SIM_LAUNCH_PATH " (default " SIM_DEFAULT_TOOL_BASE ")\n"
    "  --tool-login URL       tool OIDC login initiation URL\n"
    "  --tool-launch URL      tool launch URL; also the only redirect_uri accepted\n"
    "  --state-dir DIR        keep the signing keys in DIR/keys.json across restarts and\n"
    "                         write received deep-linking JWTs there\n"
    "  --hint-lifetime S      seconds a launch waits for its authorize request (default 300)\n"
    "  --tool-jwks URL        the tool's public_jwk_url; deep-linking responses are then\n"
    "                         verified against it as Canvas does (default: recorded only)\n"
    "  --log-level LEVEL      error, warn, info or debug (default info)\n"
    "  -h, --help             show this text\n"
    "\n"
    "/sim/launch parameters: user, name, email, role, placement, course, message_type,\n"
    "sis_id (empty = unsubstituted $Person.sourcedId), claims (JSON object merged into\n"
    "the payload), header (JSON object merged into the JOSE header), kid, target,\n"
    "iat_offset and exp_offset (seconds), forge (alg_none, hs256_pubkey, bad_signature,\n"
    "wrong_key), raw_payload and raw_header (exact bytes to sign; $NONCE, $IAT, $EXP,\n"
    "$ISS, $AUD, $DEPLOYMENT and $TARGET in the payload and $KID in the header are\n"
    "replaced), storage=1 (send lti_storage_target with the login and the launch).\n"
    "\n"
    "GET /sim/course?answer=1|0|forge and the /sim/launch user parameters: a course\n"
    "page that frames the launch; answer=1 answers lti.capabilities and hosts the\n"
    "post_message_forwarding frame (lti.put_data, lti.get_data), answer=0 answers\n"
    "nothing, answer=forge also posts a wrong get_data answer from the page itself.\n"
    "Open it on localhost while the tool runs on 127.0.0.1 so the tool is third-party.\n"
    "\n"
    "Endpoints: GET " SIM_JWKS_PATH ", GET|POST " SIM_AUTHORIZE_PATH ",\n"
    "GET|POST /sim/launch, GET /sim/stats, POST /sim/rotate[?publish=0],\n"
    "POST /sim/jwks?mode=up|down|slow[&delay_ms=N], POST /sim/next-error?error=CODE,\n"
    "POST /sim/tool?login=URL&launch=URL[&jwks=URL],\n"
    "POST /courses/ID/deep_linking_response (verified when the tool's JWKS URL is set),\n"
    "GET /sim/deep-linking-response (the last JWT and its verification report).\n"
    "Services (docs/services.md): POST /login/oauth2/token, GET /login/oauth2/auth,\n"
    "AGS under /api/lti/courses/C/line_items, NRPS at /api/lti/courses/C/names_and_roles,\n"
    "GET /api/v1/courses[/ID], GET /api/v1/users/self/profile; controls GET /sim/scores,\n"
    "GET /sim/services/stats, POST /sim/services/fail?target=token|ags|nrps|rest&\n"
    "mode=401|403|404|500|timeout|garbage[&count=N], POST /sim/services/config?\n"
    "token_ttl=S&rest_token_ttl=S&roster_size=N&page_size=N, POST /sim/services/revoke,\n"
    "POST /sim/lineitems?course=C&label=L&scoreMaximum=N.\n";

static const char launch_usage[] =
    "Usage: ltisim launch --platform URL [OPTIONS]\n"
    "\n"
    "Plays a browser through one launch: the platform's /sim/launch page, the tool's\n"
    "login endpoint, the platform's authorize endpoint, the tool's launch endpoint,\n"
    "the landing page, and the tool's launch-context JSON.\n"
    "Exit status: 0 launched, 1 rejected by the tool, 2 error (no connection,\n"
    "timeout, unexpected response, bad options).\n"
    "\n"
    "Options:\n"
    "  --platform URL         platform base URL, e.g. http://127.0.0.1:9001 (required)\n"
    "  --user LOGIN           Canvas login of the user (default jdoe)\n"
    "  --name NAME            display name (default \"Jane Doe\")\n"
    "  --email EMAIL          e-mail address (default jdoe@example.edu)\n"
    "  --role ROLE            instructor, student, ta, admin, siteadmin, observer,\n"
    "                         designer, teststudent or anonymous (default instructor)\n"
    "  --placement NAME       Canvas placement, e.g. course_navigation,\n"
    "                         global_navigation, editor_button, link_selection,\n"
    "                         assignment_selection; 'null' sends a JSON null, 'absent'\n"
    "                         omits the claim (default course_navigation)\n"
    "  --course ID            Canvas course id (default 1234)\n"
    "  --message-type TYPE    LtiResourceLinkRequest or LtiDeepLinkingRequest\n"
    "  --claims FILE          JSON object merged into the id_token payload; a null value\n"
    "                         deletes that claim\n"
    "  --target URL           target_link_uri other than the tool launch URL\n"
    "  --kid KID              kid placed in the id_token header instead of the signing kid\n"
    "  --exp-offset S         seconds from iat to exp (default 3600)\n"
    "  --iat-offset S         seconds added to the current time for iat (default 0)\n"
    "  --param KEY=VALUE      extra /sim/launch parameter, repeatable; VALUE is sent\n"
    "                         percent-encoded (e.g. forge=alg_none, header={...})\n"
    "  --replay               after a launch, post the same id_token and state again and\n"
    "                         report that second outcome\n"
    "  --bad-state            replace the state before the launch POST\n"
    "  --no-cookies           never store or send cookies (like Safari with ITP)\n"
    "  --pick IDS             deep linking: choose these entries (comma-separated) on the\n"
    "                         tool's picker and post the response to the platform's\n"
    "                         return URL; implies --message-type LtiDeepLinkingRequest\n"
    "  --cancel               deep linking: cancel on the tool's picker (same default)\n"
    "  --timeout-ms N         connect and total timeout of each request in milliseconds\n"
    "                         (default 10000)\n"
    "  --json                 print one JSON object instead of text\n"
    "  -h, --help             show this text\n";

/* Splits "127.0.0.1:9001" or "[::1]:9001" into host and port. */
static int parse_listen(const char *text, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    int64_t value = 0;
    if (colon == NULL || sim_parse_i64(colon + 1, &value) != 0 || value < 0 || value > 65535)
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

static int run_platform(int argc, char **argv)
{
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"issuer", required_argument, NULL, 'i'},
        {"client-id", required_argument, NULL, 'c'},
        {"deployment-id", required_argument, NULL, 'd'},
        {"tool-base", required_argument, NULL, 'b'},
        {"tool-login", required_argument, NULL, 'L'},
        {"tool-launch", required_argument, NULL, 'U'},
        {"state-dir", required_argument, NULL, 's'},
        {"hint-lifetime", required_argument, NULL, 't'},
        {"tool-jwks", required_argument, NULL, 'J'},
        {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sim_platform_opts_t opts;
    char host[64] = "", err[512] = "";
    char login[2048] = "", launch[2048] = "";
    const char *listen = NULL;
    int level = LTI_LOG_INFO, c;
    int64_t lifetime = 0;

    memset(&opts, 0, sizeof(opts));
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'i':
            if (strcmp(optarg, "self") == 0)
                opts.issuer_is_base_url = 1;
            else
                opts.issuer = optarg;
            break;
        case 'c': opts.client_id = optarg; break;
        case 'd': opts.deployment_id = optarg; break;
        case 'b':
            snprintf(login, sizeof(login), "%s%s", optarg, SIM_LOGIN_PATH);
            snprintf(launch, sizeof(launch), "%s%s", optarg, SIM_LAUNCH_PATH);
            break;
        case 'L': snprintf(login, sizeof(login), "%s", optarg); break;
        case 'U': snprintf(launch, sizeof(launch), "%s", optarg); break;
        case 's': opts.state_dir = optarg; break;
        case 'J': opts.tool_jwks_url = optarg; break;
        case 't':
            if (sim_parse_i64(optarg, &lifetime) != 0 || lifetime < 1 || lifetime > 86400) {
                fprintf(stderr, "ltisim platform: --hint-lifetime must be 1 to 86400 seconds\n");
                return EXIT_ERRORS;
            }
            opts.hint_lifetime = (unsigned)lifetime;
            break;
        case 'v':
            level = lti_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "ltisim platform: --log-level must be error, warn, info or "
                                "debug\n");
                return EXIT_ERRORS;
            }
            break;
        case 'h': fputs(platform_usage, stdout); return 0;
        default: fputs(platform_usage, stderr); return EXIT_ERRORS;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ltisim platform: unexpected argument '%s'\n", argv[optind]);
        return EXIT_ERRORS;
    }
    if (listen == NULL || parse_listen(listen, host, sizeof(host), &opts.port) != 0) {
        fprintf(stderr, "ltisim platform: --listen HOST:PORT is required, e.g. "
                        "--listen 127.0.0.1:9001\n");
        return EXIT_ERRORS;
    }
    opts.listen_host = host;
    opts.tool_login_url = login[0] != '\0' ? login : NULL;
    opts.tool_launch_url = launch[0] != '\0' ? launch : NULL;
    lti_log_open(NULL, (lti_log_level_t)level);

    /* Block the stop signals before the loop thread starts so that only
     * sigwait below receives them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    sim_platform_t *p = sim_platform_start(&opts, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "ltisim platform: %s\n", err);
        return EXIT_ERRORS;
    }
    printf("ltisim platform listening on %s\n", sim_platform_base_url(p));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    lti_log(LTI_LOG_INFO, "sim", "received signal %d, stopping", sig);
    sim_platform_stop(p);
    return 0;
}

/* Reads a JSON object from `path` and returns its compact text. */
static char *read_claims_file(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        fprintf(stderr, "ltisim launch: --claims %s: %s\n", path,
                doc == NULL ? jerr.text : "the file must contain a JSON object");
        json_decref(doc);
        return NULL;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* Appends KEY=VALUE to `extra`, percent-encoding both parts. */
static int add_param(sim_buf_t *extra, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -1;
    char *key = strndup(arg, (size_t)(eq - arg));
    if (key == NULL)
        return -1;
    if (extra->len > 0)
        sim_buf_puts(extra, "&");
    sim_buf_put_urlenc(extra, key);
    sim_buf_puts(extra, "=");
    sim_buf_put_urlenc(extra, eq + 1);
    free(key);
    return extra->overflow ? -1 : 0;
}

static void print_text(const sim_launch_result_t *r)
{
    const struct {
        const char *label;
        const char *value;
    } rows[] = {
        {"reason", r->reason[0] != '\0' ? r->reason : NULL},
        {"user_id", r->user_id},
        {"app_role", r->app_role},
        {"name", r->name},
        {"placement", r->placement},
        {"page", r->page},
        {"context_title", r->context_title},
        {"message_type", r->message_type},
        {"error", r->error[0] != '\0' ? r->error : NULL},
    };
    printf("outcome: %s\nstatus: %ld\n", sim_outcome_name(r->outcome), r->status);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].value != NULL)
            printf("%s: %s\n", rows[i].label, rows[i].value);
    if (r->dl_status != 0)
        printf("deep_linking_status: %ld\ndeep_linking_report: %s\n", r->dl_status,
               r->dl_report != NULL ? r->dl_report : "");
}

static int run_launch(int argc, char **argv)
{
    static const struct option options[] = {
        {"platform", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},
        {"name", required_argument, NULL, 'n'},
        {"email", required_argument, NULL, 'e'},
        {"role", required_argument, NULL, 'r'},
        {"placement", required_argument, NULL, 'P'},
        {"course", required_argument, NULL, 'c'},
        {"message-type", required_argument, NULL, 'm'},
        {"claims", required_argument, NULL, 'C'},
        {"target", required_argument, NULL, 'T'},
        {"kid", required_argument, NULL, 'k'},
        {"exp-offset", required_argument, NULL, 'x'},
        {"iat-offset", required_argument, NULL, 'a'},
        {"param", required_argument, NULL, 'q'},
        {"replay", no_argument, NULL, 'R'},
        {"bad-state", no_argument, NULL, 'B'},
        {"no-cookies", no_argument, NULL, 'N'},
        {"pick", required_argument, NULL, 'K'},
        {"cancel", no_argument, NULL, 'X'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sim_launch_opts_t opts;
    sim_launch_result_t res;
    sim_buf_t extra;
    char *claims = NULL;
    int json = 0, c, rc = EXIT_ERRORS;
    int64_t number = 0;

    memset(&opts, 0, sizeof(opts));
    sim_buf_init(&extra, 1024 * 1024);
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p': opts.platform = optarg; break;
        case 'u': opts.user = optarg; break;
        case 'n': opts.name = optarg; break;
        case 'e': opts.email = optarg; break;
        case 'r': opts.role = optarg; break;
        case 'P': opts.placement = optarg; break;
        case 'c': opts.course = optarg; break;
        case 'm': opts.message_type = optarg; break;
        case 'C':
            free(claims);
            claims = read_claims_file(optarg);
            if (claims == NULL)
                goto out;
            break;
        case 'T': opts.target = optarg; break;
        case 'k': opts.kid = optarg; break;
        case 'x':
        case 'a':
            if (sim_parse_i64(optarg, &number) != 0) {
                fprintf(stderr, "ltisim launch: --%s must be an integer number of seconds\n",
                        c == 'x' ? "exp-offset" : "iat-offset");
                goto out;
            }
            if (c == 'x')
                opts.exp_offset = optarg;
            else
                opts.iat_offset = optarg;
            break;
        case 'q':
            if (add_param(&extra, optarg) != 0) {
                fprintf(stderr, "ltisim launch: --param expects KEY=VALUE, got '%s'\n", optarg);
                goto out;
            }
            break;
        case 'R': opts.replay = 1; break;
        case 'B': opts.bad_state = 1; break;
        case 'N': opts.no_cookies = 1; break;
        case 'K': opts.dl_pick = optarg; break;
        case 'X': opts.dl_cancel = 1; break;
        case 't':
            if (sim_parse_i64(optarg, &number) != 0 || number < 1 || number > 600000) {
                fprintf(stderr, "ltisim launch: --timeout-ms must be 1 to 600000\n");
                goto out;
            }
            opts.timeout_ms = (long)number;
            break;
        case 'j': json = 1; break;
        case 'h':
            fputs(launch_usage, stdout);
            rc = 0;
            goto out;
        default: fputs(launch_usage, stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ltisim launch: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (opts.platform == NULL) {
        fprintf(stderr, "ltisim launch: --platform URL is required, e.g. "
                        "--platform http://127.0.0.1:9001\n");
        goto out;
    }
    opts.claims_json = claims;
    opts.extra_params = extra.data;
    /* --pick and --cancel play a deep-linking launch unless --message-type is given. */
    if ((opts.dl_pick != NULL || opts.dl_cancel) && opts.message_type == NULL)
        opts.message_type = "LtiDeepLinkingRequest";
    lti_log_open(NULL, LTI_LOG_WARN);

    sim_launch(&opts, &res);
    if (json) {
        char *text = sim_launch_result_json(&res);
        puts(text != NULL ? text : "{\"outcome\":\"error\"}");
        free(text);
    } else {
        print_text(&res);
    }
    rc = res.outcome == SIM_LAUNCHED   ? EXIT_LAUNCHED
         : res.outcome == SIM_REJECTED ? EXIT_REJECTED
                                       : EXIT_ERRORS;
    /* A deep-linking response that the platform refused counts as rejected. */
    if (rc == EXIT_LAUNCHED && (opts.dl_pick != NULL || opts.dl_cancel) && res.dl_status != 200)
        rc = EXIT_REJECTED;
    sim_launch_result_clear(&res);
out:
    free(claims);
    sim_buf_free(&extra);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(main_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_ERRORS : 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(argv[1], "platform") == 0) {
        rc = run_platform(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "load") == 0) {
        rc = sim_load_main(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "launch") == 0) {
        rc = run_launch(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "devkey") == 0) {
        rc = sim_devkey_main(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "conformance") == 0) {
        rc = sim_conformance_main(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "quiz") == 0) {
        rc = sim_quiz_main(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "ltisim: unknown command '%s'; run 'ltisim --help'\n", argv[1]);
        rc = EXIT_ERRORS;
    }
    curl_global_cleanup();
    return rc;
}
