/* SPDX-License-Identifier: MIT */
/*
 * Latency samples, reason-code counters and the printed report of
 * `ltisim load`.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim_load_int.h"

static const char *const step_names[STEP_COUNT] = {
    [STEP_CLICK] = "click",   [STEP_LOGIN] = "login",   [STEP_AUTHORIZE] = "authorize",
    [STEP_SIGN] = "sign",     [STEP_LAUNCH] = "launch", [STEP_LANDING] = "landing",
    [STEP_REPLAY] = "replay", [STEP_GET] = "get",       [STEP_FLOW] = "flow",
    [STEP_PICKER] = "picker", [STEP_DL_RESPONSE] = "dl_response",
    [STEP_DL_VERIFY] = "dl_verify",
};

static const char *const kind_names[FLOW_KINDS] = {
    [FLOW_NORMAL] = "normal",
    [FLOW_BAD_SIGNATURE] = "bad_signature",
    [FLOW_FOREIGN_NONCE] = "foreign_nonce",
    [FLOW_REPLAY] = "replay",
};

const char *load_step_name(load_step_t step)
{
    return step < STEP_COUNT ? step_names[step] : "?";
}

const char *load_kind_name(flow_kind_t kind)
{
    return kind < FLOW_KINDS ? kind_names[kind] : "?";
}

void load_lat_add(load_lat_t *l, double us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 4096 : l->cap * 2;
        float *grown = realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return; /* the sample is lost; counts are kept elsewhere */
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = (float)us;
}

void load_lat_free(load_lat_t *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double percentile(const float *v, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

static json_t *ms(double us)
{
    return json_real(round(us) / 1000.0);
}

json_t *load_lat_json(load_lat_t *l, uint64_t errors)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)l->n));
    json_object_set_new(o, "errors", json_integer((json_int_t)errors));
    if (l->n == 0)
        return o;
    qsort(l->v, l->n, sizeof(*l->v), cmp_float);
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->v[i];
    json_object_set_new(o, "mean_ms", ms(sum / (double)l->n));
    json_object_set_new(o, "p50_ms", ms(percentile(l->v, l->n, 50)));
    json_object_set_new(o, "p90_ms", ms(percentile(l->v, l->n, 90)));
    json_object_set_new(o, "p99_ms", ms(percentile(l->v, l->n, 99)));
    json_object_set_new(o, "max_ms", ms(l->v[l->n - 1]));
    return o;
}

void load_reasons_add(load_reasons_t *r, const char *name)
{
    r->total++;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->name[i], name) == 0) {
            r->count[i]++;
            return;
        }
    }
    if (r->n == LOAD_MAX_REASONS) {
        r->other++;
        return;
    }
    snprintf(r->name[r->n], LOAD_REASON_LEN, "%s", name);
    r->count[r->n++] = 1;
}

json_t *load_reasons_json(const load_reasons_t *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i < r->n; i++)
        json_object_set_new(o, r->name[i], json_integer((json_int_t)r->count[i]));
    if (r->other > 0)
        json_object_set_new(o, "other", json_integer((json_int_t)r->other));
    return o;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void print_reasons(FILE *out, const char *title, const json_t *reasons)
{
    const char *name;
    json_t *value;
    if (json_object_size(reasons) == 0)
        return;
    fprintf(out, "\n| %s | count |\n|---|---:|\n", title);
    json_object_foreach((json_t *)reasons, name, value)
        fprintf(out, "| %s | %lld |\n", name, (long long)json_integer_value(value));
}

static void print_dl(FILE *out, const json_t *dl)
{
    if (dl == NULL)
        return;
    fprintf(out, "deep-link responses/s: %.0f (%s)   responses: %lld   verified: %lld (first, "
                 "then 1 in %lld)   errors: %lld",
            num(dl, "rate"), json_string_value(json_object_get(dl, "phase")),
            (long long)json_integer_value(json_object_get(dl, "responses")),
            (long long)json_integer_value(json_object_get(dl, "verified")),
            (long long)json_integer_value(json_object_get(dl, "verify_every")),
            (long long)json_integer_value(json_object_get(dl, "errors")));
    if (json_object_get(dl, "generator_cpu_us_per_response") != NULL)
        fprintf(out, "   generator CPU per response: %.1f us",
                num(dl, "generator_cpu_us_per_response"));
    if (json_object_get(dl, "server_cpu_us_per_response") != NULL)
        fprintf(out, "   server CPU per response: %.1f us", num(dl, "server_cpu_us_per_response"));
    fputc('\n', out);
}

void sim_load_print_table(const json_t *report, FILE *out)
{
    const json_t *summary = json_object_get(report, "summary");
    const json_t *steps = json_object_get(report, "steps");
    const json_t *phases = json_object_get(report, "phases");
    const json_t *neg = json_object_get(report, "negative");
    const char *name;
    json_t *value;
    size_t i;

    fprintf(out, "mode %s, concurrency %lld, platform %s\n",
            json_string_value(json_object_get(report, "mode")),
            (long long)json_integer_value(json_object_get(report, "concurrency")),
            json_string_value(json_object_get(report, "platform")));
    int server = json_object_get(json_array_get(phases, 0), "server_cpu_s") != NULL;
    fprintf(out, "\n| phase | seconds | done | ok | per second | generator CPU s |%s\n"
                 "|---|---:|---:|---:|---:|---:|%s\n",
            server ? " server CPU s |" : "", server ? "---:|" : "");
    json_array_foreach((json_t *)phases, i, value) {
        fprintf(out, "| %s%s | %.3f | %lld | %lld | %.0f | %.3f |",
                json_string_value(json_object_get(value, "name")),
                json_is_true(json_object_get(value, "timed")) ? "" : " (not timed)",
                num(value, "seconds"), (long long)json_integer_value(json_object_get(value, "done")),
                (long long)json_integer_value(json_object_get(value, "ok")),
                num(value, "per_second"), num(value, "cpu_s"));
        if (server)
            fprintf(out, " %.3f |", num(value, "server_cpu_s"));
        fputc('\n', out);
    }
    fprintf(out, "\n| step | count | errors | mean ms | p50 ms | p90 ms | p99 ms | max ms |\n"
                 "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    json_object_foreach((json_t *)steps, name, value) {
        fprintf(out, "| %s | %lld | %lld | %.3f | %.3f | %.3f | %.3f | %.3f |\n", name,
                (long long)json_integer_value(json_object_get(value, "count")),
                (long long)json_integer_value(json_object_get(value, "errors")),
                num(value, "mean_ms"), num(value, "p50_ms"), num(value, "p90_ms"),
                num(value, "p99_ms"), num(value, "max_ms"));
    }
    fprintf(out, "\n%s/s: %.0f   ok: %lld   errors: %lld   generator CPU per %s: %.1f us\n",
            json_string_value(json_object_get(summary, "unit")), num(summary, "rate"),
            (long long)json_integer_value(json_object_get(summary, "ok")),
            (long long)json_integer_value(json_object_get(summary, "errors")),
            json_string_value(json_object_get(summary, "unit")),
            num(summary, "generator_cpu_us_per_unit"));
    fprintf(out, "TCP connections opened: %lld\n",
            (long long)json_integer_value(json_object_get(summary, "connections_opened")));
    print_dl(out, json_object_get(report, "deep_linking"));
    print_reasons(out, "error reason", json_object_get(report, "errors_by_reason"));
    if (neg != NULL) {
        fprintf(out, "\ntampered tokens: sent %lld, rejected %lld, accepted %lld\n",
                (long long)json_integer_value(json_object_get(neg, "sent")),
                (long long)json_integer_value(json_object_get(neg, "rejected")),
                (long long)json_integer_value(json_object_get(neg, "accepted")));
        print_reasons(out, "rejection reason", json_object_get(neg, "rejections_by_reason"));
    }
    const json_t *jwks = json_object_get(report, "platform_jwks_fetches");
    if (jwks != NULL)
        fprintf(out, "\nplatform JWKS fetches during the run: %lld\n",
                (long long)json_integer_value(jwks));
}
