/* SPDX-License-Identifier: MIT */
/*
 * id_token signing for `ltisim load` with an in-process platform: the
 * generator uses the platform's present key and signs each token as soon
 * as the tool's login redirect reveals the nonce, the way Canvas does at
 * its authorize endpoint, without an HTTP round trip to the platform.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sim_keys.h"
#include "sim_load_int.h"

int load_signer_init(load_signer_t *s, const sim_load_opts_t *o, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (o->platform != NULL) {
        s->key = sim_platform_signing_key(o->platform, s->kid, sizeof(s->kid));
        snprintf(s->base_url, sizeof(s->base_url), "%s", sim_platform_base_url(o->platform));
    } else {
        char kerr[256] = "";
        if (sim_keyring_init(&s->ring, o->key_dir, kerr, sizeof(kerr)) != 0) {
            snprintf(err, errlen, "cannot read the platform keys in %s: %s", o->key_dir, kerr);
            return -1;
        }
        s->have_ring = 1;
        s->key = s->ring.slot[SIM_KEY_PRESENT].pkey;
        EVP_PKEY_up_ref(s->key);
        snprintf(s->kid, sizeof(s->kid), "%s", s->ring.slot[SIM_KEY_PRESENT].kid);
        snprintf(s->base_url, sizeof(s->base_url), "%s", o->platform_url);
    }
    if (s->key == NULL) {
        snprintf(err, errlen, "the platform has no signing key");
        return -1;
    }
    s->ctx.issuer = o->issuer;
    s->ctx.client_id = o->client_id;
    s->ctx.deployment_id = o->deployment_id;
    s->ctx.base_url = s->base_url;
    s->ctx.platform_guid = "ltisim-load-platform";
    return 0;
}

void load_signer_clear(load_signer_t *s)
{
    EVP_PKEY_free(s->key);
    s->key = NULL;
    if (s->have_ring)
        sim_keyring_clear(&s->ring);
}

void load_flow_params(const sim_load_opts_t *o, uint64_t index, sim_params_t *out)
{
    char user[32], name[48], email[64], course[24];
    unsigned u = (unsigned)(index % o->users);
    snprintf(user, sizeof(user), "loaduser%u", u);
    snprintf(name, sizeof(name), "Load User %u", u);
    snprintf(email, sizeof(email), "loaduser%u@example.edu", u);
    snprintf(course, sizeof(course), "%u", 1000 + (unsigned)(index % o->courses));
    sim_params_add(out, "user", user);
    sim_params_add(out, "name", name);
    sim_params_add(out, "email", email);
    if (load_flow_is_dl(o, index)) {
        /* Deep linking is an instructor's task in Canvas. */
        sim_params_add(out, "role", "instructor");
        sim_params_add(out, "placement",
                       o->dl_placement != NULL ? o->dl_placement : "editor_button");
        sim_params_add(out, "message_type", "LtiDeepLinkingRequest");
        sim_params_add(out, "target", o->dl_target != NULL ? o->dl_target : o->launch_url);
    } else {
        sim_params_add(out, "role", o->roles[index % o->n_roles]);
        sim_params_add(out, "placement", o->placements[(index / o->n_roles) % o->n_placements]);
    }
    sim_params_add(out, "course", course);
}

char *load_launch_form(const sim_load_opts_t *o, const char *token, const char *state)
{
    sim_buf_t b;
    sim_buf_init(&b, 64 * 1024);
    sim_buf_put_urlenc(&b, o->token_param);
    sim_buf_puts(&b, "=");
    sim_buf_put_urlenc(&b, token);
    sim_buf_puts(&b, "&");
    sim_buf_put_urlenc(&b, o->state_param);
    sim_buf_puts(&b, "=");
    sim_buf_put_urlenc(&b, state);
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* Changes one character in the middle of the signature segment to another
 * base64url character, so the token keeps its shape but fails to verify. */
static void break_signature(char *token)
{
    char *dot = strrchr(token, '.');
    if (dot == NULL || dot[1] == '\0')
        return;
    char *c = dot + 1 + strlen(dot + 1) / 2;
    *c = *c == 'A' ? 'B' : 'A';
}

int load_sign_flow(const load_signer_t *s, const sim_load_opts_t *o, flow_t *f, char *reason,
                   size_t reason_len)
{
    sim_params_t params = {0};
    sim_launch_req_t req;
    char err[256], foreign[65];
    char *payload = NULL, *token = NULL;
    json_t *claims = NULL;
    int rc = -1;

    memset(&req, 0, sizeof(req));
    load_flow_params(o, f->index, &params);
    if (sim_launch_req_parse(&req, &params, o->launch_url, err, sizeof(err)) != 0) {
        snprintf(reason, reason_len, "sign_params_invalid");
        goto out;
    }
    const char *nonce = f->nonce;
    if (f->kind == FLOW_FOREIGN_NONCE) {
        sim_random_hex(foreign, 32);
        nonce = foreign;
    }
    claims = sim_claims_build(&s->ctx, &req, nonce, (int64_t)time(NULL));
    if (claims != NULL && f->dl && load_flow_dl_sampled(o, f->index)) {
        json_decref(f->dl_expect);
        f->dl_expect = load_dl_expect_from_claims(claims);
    }
    payload = claims != NULL ? json_dumps(claims, JSON_COMPACT) : NULL;
    if (payload == NULL) {
        snprintf(reason, reason_len, "sign_failed");
        goto out;
    }
    char header[128];
    snprintf(header, sizeof(header), "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", s->kid);
    token = sim_jws_sign_rs256_raw(s->key, header, payload);
    if (token == NULL) {
        snprintf(reason, reason_len, "sign_failed");
        goto out;
    }
    if (f->kind == FLOW_BAD_SIGNATURE)
        break_signature(token);
    free(f->form);
    f->form = load_launch_form(o, token, f->state);
    if (f->form == NULL) {
        snprintf(reason, reason_len, "sign_failed");
        goto out;
    }
    rc = 0;
out:
    free(token);
    free(payload);
    json_decref(claims);
    sim_launch_req_free(&req);
    sim_params_clear(&params);
    return rc;
}

typedef struct sign_job {
    const load_signer_t *signer;
    const sim_load_opts_t *opts;
    flow_t *flows;
    uint64_t n;
    unsigned stride, offset;
    uint64_t failed;
} sign_job_t;

static void *sign_thread(void *arg)
{
    sign_job_t *job = arg;
    char reason[LOAD_REASON_LEN];
    for (uint64_t i = job->offset; i < job->n; i += job->stride) {
        flow_t *f = &job->flows[i];
        if (f->failed || f->nonce == NULL)
            continue;
        if (load_sign_flow(job->signer, job->opts, f, reason, sizeof(reason)) != 0) {
            f->failed = 1;
            job->failed++;
        }
    }
    return NULL;
}

uint64_t load_sign_all(const load_signer_t *s, const sim_load_opts_t *o, flow_t *flows,
                       uint64_t n, unsigned threads)
{
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (threads > 64)
        threads = 64;
    sign_job_t jobs[64];
    pthread_t tids[64];
    unsigned started = 0;
    uint64_t failed = 0;
    for (unsigned t = 0; t < threads; t++) {
        jobs[t] = (sign_job_t){.signer = s, .opts = o, .flows = flows, .n = n,
                               .stride = threads, .offset = t};
    }
    /* Stripe 0 is signed on the calling thread, the others on their own threads. */
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, sign_thread, &jobs[t]) != 0)
            break;
        started = t;
    }
    if (started + 1 < threads) {
        /* Threads that failed to start leave their stripes to this thread. */
        for (unsigned t = started + 1; t < threads; t++)
            sign_thread(&jobs[t]);
    }
    sign_thread(&jobs[0]);
    for (unsigned t = 1; t <= started; t++)
        pthread_join(tids[t], NULL);
    for (unsigned t = 0; t < threads; t++)
        failed += jobs[t].failed;
    return failed;
}
