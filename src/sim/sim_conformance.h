/* SPDX-License-Identifier: MIT */
/*
 * The conformance runner: plays a directory of launch cases (the layout of
 * the 1EdTech certification payloads, plus the extensions described in
 * docs/conformance.md) against a running platform simulator and tool, and
 * reports one line per case.
 */
#ifndef LTI_SIM_CONFORMANCE_H
#define LTI_SIM_CONFORMANCE_H

#include <stdio.h>

/* The result of one case. */
typedef struct sim_case_result {
    char name[512];     /* path of the case folder relative to the suite directory */
    char expected[96];  /* "launched", "rejected" or "rejected reason_code" */
    char got[96];       /* outcome name, or "error" */
    char reason[64];    /* X-LTI-Reason of the deciding response, "" when none */
    long status;        /* HTTP status of the deciding response */
    int passed;
    char detail[512];   /* why the case failed or could not run, "" when it passed */
} sim_case_result_t;

typedef struct sim_conformance_opts {
    const char *dir;      /* suite directory (required) */
    const char *platform; /* base URL of a running simulated platform (required) */
    const char *tool;     /* tool base URL for request.http cases; NULL = those cases fail */
    long timeout_ms;      /* per HTTP request; 0 = 10000 */
    FILE *out;            /* one line per case and the closing line; NULL = silent */
    /* Called after each case. */
    void (*on_case)(void *arg, const sim_case_result_t *result);
    void *arg;
} sim_conformance_opts_t;

/* Runs every case under opts->dir in name order. Returns 0 when all cases
 * passed, 1 when one or more failed, 2 when the directory holds no case or
 * cannot be read. *passed and *failed receive the counts (either may be NULL). */
int sim_conformance_run(const sim_conformance_opts_t *opts, unsigned *passed, unsigned *failed);

/* The `ltisim conformance` command: argv[0] is "conformance". */
int sim_conformance_main(int argc, char **argv);

#endif
