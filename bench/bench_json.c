/* SPDX-License-Identifier: MIT */
/*
 * bench_json FILE [SECONDS]: the cost of ltigate's strict JSON parse of an
 * id_token payload on one thread, the way a launch does it (jansson through
 * lti_json_parse_strict into a per-request arena), and the same parse on
 * plain malloc. Prints one JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "lti/jarena.h"
#include "lti/jwt.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses `text` until `seconds` pass; returns microseconds per parse. */
static double time_parse(const char *text, size_t len, double seconds, int arena)
{
    unsigned long n = 0;
    double t0 = now_s(), elapsed;
    do {
        for (int i = 0; i < 200; i++, n++) {
            lti_jarena_t a = {0};
            lti_jarena_t *previous = arena ? lti_jarena_enter(&a) : NULL;
            json_t *claims = lti_json_parse_strict(text, len, LTI_JSON_MAX_DEPTH, NULL, 0);
            if (claims == NULL) {
                fprintf(stderr, "bench_json: the file is not a JSON object\n");
                exit(2);
            }
            json_decref(claims);
            if (arena) {
                lti_jarena_leave(previous);
                lti_jarena_release(&a);
            }
        }
    } while ((elapsed = now_s() - t0) < seconds);
    return elapsed * 1e6 / (double)n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_json FILE [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    lti_jarena_install();

    /* The compact form is what a token carries. */
    json_t *doc = json_load_file(argv[1], 0, NULL);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "bench_json: cannot read %s as JSON; pass a file with one JSON object\n",
                argv[1]);
        return 2;
    }
    size_t len = strlen(text);
    double arena_us = time_parse(text, len, seconds, 1);
    double heap_us = time_parse(text, len, seconds, 0);
    printf("{\"payload_bytes\":%zu,\"parse_arena_us\":%.2f,\"parse_malloc_us\":%.2f}\n", len,
           arena_us, heap_us);
    free(text);
    return 0;
}
