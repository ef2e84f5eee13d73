/* SPDX-License-Identifier: MIT */
/*
 * ltigate: process wiring only. Loads the config, opens the log, creates
 * the store, the platform key cache and the deployment registry, starts the
 * HTTP threads and waits for SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "lti/app.h"
#include "lti/jarena.h"
#include "lti/log.h"
#include "lti/services.h"
#include "lti/tool.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* Returns 1 when the log file can be appended to (or created in its
 * directory) without creating it; standard error always can. Sets errno
 * when it returns 0. */
static int log_file_writable(const char *path)
{
    if (path == NULL || strcmp(path, "stderr") == 0)
        return 1;
    if (access(path, W_OK) == 0)
        return 1;
    if (errno != ENOENT)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK) == 0;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: ltigate --config FILE [--check]\n"
            "       ltigate keygen [--bits 2048|3072|4096] --out FILE\n"
            "       ltigate canvas-json --config FILE [--redirect-uris] [--inline-jwk]\n"
            "\n"
            "  -c, --config FILE  YAML configuration (see conf/ltigate.yaml)\n"
            "      --check        load and check the configuration, then exit\n"
            "  -h, --help         show this help\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int check_only = 0, opt;
    char errbuf[1024];

    /* Before any jansson object exists: launches parse tokens into arenas. */
    lti_jarena_install();
    if (argc > 1 && strcmp(argv[1], "keygen") == 0)
        return lti_keygen_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "canvas-json") == 0)
        return lti_canvas_json_main(argc - 1, argv + 1);
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL) {
        fprintf(stderr, "ltigate: missing --config FILE\n");
        usage(stderr);
        return 2;
    }

    lti_config_t *cfg = lti_config_load(config_path, errbuf, sizeof(errbuf));
    if (cfg == NULL) {
        fprintf(stderr, "ltigate: %s\n", errbuf);
        return 1;
    }
    if (check_only) {
        /* The media catalog and the published documents are built at start
         * too, so a broken catalog file fails the check. */
        lti_tool_t *checked = lti_tool_new(cfg, errbuf, sizeof(errbuf));
        if (checked == NULL) {
            fprintf(stderr, "ltigate: %s\n", errbuf);
            lti_config_free(cfg);
            return 1;
        }
        lti_tool_free(checked);
        if (!log_file_writable(cfg->log_file)) {
            fprintf(stderr,
                    "ltigate: server.logFile %s: %s; create its directory or give the "
                    "service write access\n",
                    cfg->log_file, strerror(errno));
            lti_config_free(cfg);
            return 1;
        }
        printf("ltigate: %s is valid (%zu platform registration%s)\n", config_path,
               cfg->n_platforms, cfg->n_platforms == 1 ? "" : "s");
        lti_config_free(cfg);
        return 0;
    }
    if (lti_log_open(cfg->log_file, (lti_log_level_t)cfg->log_level) != 0) {
        fprintf(stderr,
                "ltigate: server.logFile %s: cannot open for appending: %s; create its "
                "directory or give the service write access\n",
                cfg->log_file, strerror(errno));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    lti_config_dump(cfg);
    if (!cfg->session_secret_from_file)
        lti_log(LTI_LOG_WARN, "main",
                "no sessionSecretFile: sessions use a per-process random secret and end at restart");

    lti_app_t app = {.cfg = cfg};
    if (strcmp(cfg->store_backend, "redis") == 0) {
        app.store = lti_store_redis_new(cfg, errbuf, sizeof(errbuf));
        if (app.store == NULL) {
            lti_log(LTI_LOG_ERROR, "main", "start-up failed: %s", errbuf);
            return 1;
        }
    } else {
        app.store = lti_store_memory_new(cfg->store_max_entries);
    }
    app.jwks = lti_jwks_cache_new(cfg);
    app.deployments = lti_deployments_new(cfg, errbuf, sizeof(errbuf));
    if (app.store == NULL || app.jwks == NULL || app.deployments == NULL) {
        lti_log(LTI_LOG_ERROR, "main", "start-up failed: %s",
                app.deployments == NULL ? errbuf : "out of memory");
        return 1;
    }
    lti_tool_t *tool = lti_tool_new(cfg, errbuf, sizeof(errbuf));
    if (tool == NULL) {
        lti_log(LTI_LOG_ERROR, "main", "start-up failed: %s", errbuf);
        return 1;
    }
    app.tool = tool;
    app.services = lti_services_new(cfg, errbuf, sizeof(errbuf));
    if (app.services == NULL) {
        lti_log(LTI_LOG_ERROR, "main", "start-up failed: %s", errbuf);
        return 1;
    }
    lti_jwks_cache_prefetch(app.jwks);
    lti_server_t *server = lti_server_start(&app, errbuf, sizeof(errbuf));
    if (server == NULL) {
        lti_log(LTI_LOG_ERROR, "main", "start-up failed: %s", errbuf);
        return 1;
    }
    lti_log(LTI_LOG_INFO, "main", "ltigate ready");

    while (!got_signal)
        pause();

    lti_log(LTI_LOG_INFO, "main", "stopping on signal %d", (int)got_signal);
    /* The fetch thread sends waiting launches back to loop receivers, so it
     * stops before the loops and their receivers go away. */
    lti_jwks_cache_stop(app.jwks);
    lti_server_stop(server);
    lti_services_free(app.services);
    lti_deployments_free(app.deployments);
    lti_tool_free(tool);
    lti_jwks_cache_free(app.jwks);
    app.store->ops->destroy(app.store);
    lti_config_free(cfg);
    curl_global_cleanup();
    return 0;
}
