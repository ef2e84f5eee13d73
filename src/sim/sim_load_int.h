/* SPDX-License-Identifier: MIT */
/*
 * State shared by the load generator's sources: the engine (sim_load.c),
 * token signing (sim_load_sign.c) and the report (sim_load_report.c).
 */
#ifndef LTI_SIM_LOAD_INT_H
#define LTI_SIM_LOAD_INT_H

#include <curl/curl.h>
#include "sim_int.h"
#include "sim_load.h"
#include "sim_token.h"

#define LOAD_MAX_BODY (1024 * 1024) /* response bodies above this are an error */
#define LOAD_MAX_COOKIES 8192       /* Cookie header kept per flow */
#define LOAD_MAX_REASONS 64         /* distinct reason codes counted; more go to "other" */
#define LOAD_REASON_LEN 48

/* What a flow sends: an honest launch, or one tampered token. */
typedef enum flow_kind {
    FLOW_NORMAL = 0,
    FLOW_BAD_SIGNATURE, /* one signature character changed */
    FLOW_FOREIGN_NONCE, /* validly signed, with a nonce the tool never issued */
    FLOW_REPLAY,        /* accepted once, then posted again */
    FLOW_KINDS
} flow_kind_t;

typedef struct flow {
    uint64_t index;
    flow_kind_t kind;
    char *cookies;  /* Cookie header for the tool, "a=b; c=d", or NULL */
    char *next_url; /* authorize URL after the login, landing URL after the launch */
    char *nonce;    /* from the login redirect (in-process signing) */
    char *state;
    char *form; /* body of the next POST */
    double started;
    int failed; /* a step failed; the flow is over */
    int dl;     /* a deep-linking round trip (load_flow_is_dl) */
    int dl_stage;      /* DL_STAGE_*: the deep-linking request the flow sends next */
    char *dl_url;      /* the picker URL after the launch, the selection URL after the picker */
    json_t *dl_expect; /* sampled flows: what the response must match (load_dl_expect_*) */
} flow_t;

enum { DL_STAGE_NONE = 0, DL_STAGE_PICKER, DL_STAGE_SELECT };

/* Samples of one step, in microseconds. */
typedef struct load_lat {
    float *v;
    size_t n, cap;
} load_lat_t;

typedef struct load_reasons {
    char name[LOAD_MAX_REASONS][LOAD_REASON_LEN];
    uint64_t count[LOAD_MAX_REASONS];
    size_t n;
    uint64_t other;
    uint64_t total;
} load_reasons_t;

typedef struct load_phase_stats {
    const char *name;
    double start;      /* CLOCK_MONOTONIC seconds, the clock of `perf record -k monotonic` */
    double seconds;
    uint64_t done;     /* flows or requests finished in the phase */
    uint64_t ok;       /* of which succeeded */
    double cpu_s;      /* generator CPU in the phase */
    double server_cpu_s; /* CPU of --server-pid in the phase; -1 = not measured */
    int timed;         /* counts toward the reported rate */
    int dl;            /* the deep-link response phase, reported apart from launches */
} load_phase_stats_t;

#define LOAD_MAX_PHASES 6

typedef struct load load_t;

/* sim_load_sign.c */
typedef struct load_signer {
    sim_keyring_t ring; /* keys read from a platform's state directory */
    int have_ring;
    EVP_PKEY *key;
    char kid[64];
    sim_token_ctx_t ctx;
    char base_url[80];
} load_signer_t;

int load_signer_init(load_signer_t *s, const sim_load_opts_t *o, char *err, size_t errlen);
void load_signer_clear(load_signer_t *s);
/* Fills the per-flow launch parameters (user, role, placement, course). */
void load_flow_params(const sim_load_opts_t *o, uint64_t index, sim_params_t *out);
/* Builds and signs the id_token for `f` from its nonce, tampers with it as
 * f->kind requests, and stores the launch form body in f->form. Returns 0, or
 * -1 with a reason code in `reason`. */
int load_sign_flow(const load_signer_t *s, const sim_load_opts_t *o, flow_t *f, char *reason,
                   size_t reason_len);
/* Signs every flow in `flows` that has a nonce, on `threads` threads.
 * Returns the number that failed. */
uint64_t load_sign_all(const load_signer_t *s, const sim_load_opts_t *o, flow_t *flows,
                       uint64_t n, unsigned threads);
/* Appends "token_param=...&state_param=..." for the launch POST. */
char *load_launch_form(const sim_load_opts_t *o, const char *token, const char *state);

/* sim_load_dl.c: deep-linking round trips */
#define LOAD_DL_DEFAULT_VERIFY_EVERY 100

/* Returns 1 when flow `index` is a deep-linking round trip; the
 * --deep-linking share is spread evenly over the flow indexes. */
int load_flow_is_dl(const sim_load_opts_t *o, uint64_t index);
/* Returns 1 when the response of deep-linking flow `index` is verified:
 * the first one and every dl_verify_every-th after it. */
int load_flow_dl_sampled(const sim_load_opts_t *o, uint64_t index);
/* Returns what a response must match, from the claims of the
 * LtiDeepLinkingRequest: {"iss", "client_id", "deployment_id", "settings"}.
 * Returns NULL when the claims lack them. */
json_t *load_dl_expect_from_claims(json_t *claims);
/* As load_dl_expect_from_claims, from a compact JWS (not verified). */
json_t *load_dl_expect_from_token(const char *token);
/* Reads the tool's key set from `source`, a loopback http URL or a file.
 * Returns the document, or NULL with a message in `err`. */
json_t *load_dl_keys_read(const char *source, long timeout_ms, char *err, size_t errlen);
/* Builds the selection a browser submits from the picker page `html`: the
 * form's hidden inputs, its first checkbox or radio input and its first
 * named submit button. Returns 0 with the form action in `*action` and the
 * body in `*body`, or -1 with a reason code. */
int load_dl_picker_form(const char *html, char **action, char **body, char *reason,
                        size_t reason_len);
/* Finds the auto-submitting form of a deep-linking response page: its
 * action and the JWT input. Returns 0, or -1 with a reason code. */
int load_dl_response_form(const char *html, char **action, char **jwt, char *reason,
                          size_t reason_len);
/* Verifies a sampled response as the platform would (sim_dl_verify_keys)
 * and that the form posts it to the request's deep_link_return_url.
 * Returns 0, or -1 with a reason code. */
int load_dl_verify(const sim_load_opts_t *o, json_t *keys, json_t *expect, const char *action,
                   const char *jwt, char *reason, size_t reason_len);
/* Returns the unescaped value of attribute `attr`="..." in the tag that
 * starts at `tag` and ends before `end`, or NULL. */
char *load_tag_attr(const char *tag, const char *end, const char *attr);

/* sim_load_report.c */
void load_lat_add(load_lat_t *l, double us);
void load_lat_free(load_lat_t *l);
void load_reasons_add(load_reasons_t *r, const char *name);
json_t *load_lat_json(load_lat_t *l, uint64_t errors);
json_t *load_reasons_json(const load_reasons_t *r);
const char *load_step_name(load_step_t step);
const char *load_kind_name(flow_kind_t kind);

#endif
