/* SPDX-License-Identifier: MIT */
/*
 * ltisim conformance: runs launch cases from a directory against a running
 * platform simulator and tool (sim_conformance.h). A case is a folder; the
 * files it may contain are described in docs/conformance.md.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "lti/log.h"
#include "lti/reason.h"
#include "sim.h"
#include "sim_conformance.h"
#include "sim_int.h"

#define CLAIM "https://purl.imsglobal.org/spec/lti/claim/"
/* Largest case file read; the tool caps tokens at 16 KiB and bodies at 64 KiB. */
#define MAX_CASE_FILE (1024 * 1024)
/* Largest response head read from the tool in a request.http case. */
#define MAX_RESPONSE_HEAD 65536
#define DEFAULT_TIMEOUT_MS 10000

static const char usage[] =
    "Usage: ltisim conformance DIR --platform URL [OPTIONS]\n"
    "\n"
    "Runs every launch case under DIR against a running platform simulator and the\n"
    "tool it launches, prints one line per case and a closing line 'N passed, M failed'.\n"
    "DIR holds case folders directly, or group folders (valid/, invalid/, ...) of case\n"
    "folders. A case in valid/ must launch; a case in invalid/ must be rejected with a\n"
    "4xx and a reason code, and leave no session. docs/conformance.md lists the files\n"
    "a case may contain.\n"
    "Exit status: 0 all passed, 1 a case failed, 2 no cases or bad options.\n"
    "\n"
    "Options:\n"
    "  --platform URL     platform base URL, e.g. http://127.0.0.1:9001 (required)\n"
    "  --tool URL         tool base URL, e.g. http://127.0.0.1:8080, for cases that\n"
    "                     send a raw HTTP request (request.http)\n"
    "  --timeout-ms N     connect and total timeout of each request (default 10000)\n"
    "  -h, --help         show this text\n";

/* ---- files -------------------------------------------------------------- */

/* Writes dir "/" name into `out`; returns 0 when it does not fit. */
static int join_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < len;
}

/* Reads `dir`/`name` into a NUL-terminated buffer. Returns 1 and the data,
 * 0 when the file does not exist, or -1 with a message in `detail`. */
static int read_case_file(const char *dir, const char *name, char **data, size_t *len,
                          char *detail, size_t detail_len)
{
    char path[4096];
    struct stat st;
    *data = NULL;
    if (!join_path(path, sizeof(path), dir, name)) {
        snprintf(detail, detail_len, "path of %s is longer than 4095 bytes", name);
        return -1;
    }
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISREG(st.st_mode) || st.st_size > MAX_CASE_FILE) {
        snprintf(detail, detail_len, "%s is not a regular file of at most 1 MiB", name);
        return -1;
    }
    FILE *fp = fopen(path, "rb");
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    if (fp != NULL && buf != NULL)
        n = fread(buf, 1, (size_t)st.st_size, fp);
    if (fp != NULL)
        fclose(fp);
    if (buf == NULL || n != (size_t)st.st_size) {
        free(buf);
        snprintf(detail, detail_len, "cannot read %s", name);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    if (len != NULL)
        *len = n;
    return 1;
}

/* Loads `dir`/`name` as JSON of the type `want` (JSON_OBJECT, JSON_ARRAY).
 * Returns 1 with *doc, 0 when absent, or -1 with a message in `detail`. */
static int load_json(const char *dir, const char *name, json_type want, json_t **doc,
                     char *detail, size_t detail_len)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    *doc = NULL;
    int rc = read_case_file(dir, name, &text, &len, detail, detail_len);
    if (rc <= 0)
        return rc;
    *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (*doc == NULL || json_typeof(*doc) != want) {
        snprintf(detail, detail_len, "%s: %s", name,
                 *doc == NULL ? jerr.text : "wrong JSON type at the top level");
        json_decref(*doc);
        *doc = NULL;
        return -1;
    }
    return 1;
}

/* Removes trailing newlines that an editor adds to a one-line file. */
static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Appends `text` to `out` with $FILL{N} expanded to N letters 'a' (N at most
 * 1 MiB), so a case can describe an oversized value without storing it. */
static void append_expanded(sim_buf_t *out, const char *text, size_t len)
{
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        if ((size_t)(end - p) > 6 && memcmp(p, "$FILL{", 6) == 0) {
            char *close = NULL;
            unsigned long n = strtoul(p + 6, &close, 10);
            if (close != NULL && close < end && *close == '}' && n <= MAX_CASE_FILE) {
                for (unsigned long i = 0; i < n; i++)
                    sim_buf_append(out, "a", 1);
                p = close + 1;
                continue;
            }
        }
        sim_buf_append(out, p, 1);
        p++;
    }
}

/* Returns `text` with each of names[i] replaced by values[i] (malloc'd). */
static char *replace_all(const char *text, const char *const *names, const char *const *values,
                         size_t n)
{
    sim_buf_t b;
    sim_buf_init(&b, 4 * MAX_CASE_FILE);
    for (const char *p = text; *p != '\0';) {
        size_t i = 0;
        while (i < n && strncmp(p, names[i], strlen(names[i])) != 0)
            i++;
        if (i < n) {
            sim_buf_puts(&b, values[i]);
            p += strlen(names[i]);
        } else {
            sim_buf_append(&b, p, 1);
            p++;
        }
    }
    if (b.overflow || b.data == NULL) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* ---- expectations ------------------------------------------------------- */

typedef struct expectation {
    int launched;         /* 1 = must launch, 0 = must be rejected, -1 = not stated */
    char reason[64];      /* exact reason code, "" = any code */
    int reason_absent;    /* "reason": null, for rejections by the HTTP layer */
    long status;          /* exact status, 0 = any 4xx */
    char message_type[64];
    char page[128];
} expectation_t;

static int read_expectation(const char *dir, expectation_t *e, char *detail, size_t detail_len)
{
    json_t *doc = NULL;
    int rc = load_json(dir, "expect.json", JSON_OBJECT, &doc, detail, detail_len);
    if (rc <= 0)
        return rc;
    const char *outcome = json_string_value(json_object_get(doc, "outcome"));
    json_t *reason = json_object_get(doc, "reason");
    const char *message_type = json_string_value(json_object_get(doc, "message_type"));
    const char *page = json_string_value(json_object_get(doc, "page"));
    if (outcome != NULL && strcmp(outcome, "launched") != 0 && strcmp(outcome, "rejected") != 0) {
        snprintf(detail, detail_len, "expect.json: outcome must be launched or rejected");
        rc = -1;
        goto out;
    }
    if (outcome != NULL)
        e->launched = strcmp(outcome, "launched") == 0;
    if (json_is_string(reason)) {
        if (lti_reason_from_code(json_string_value(reason)) == LTI_R__COUNT) {
            snprintf(detail, detail_len, "expect.json: '%s' is not a reason code",
                     json_string_value(reason));
            rc = -1;
            goto out;
        }
        snprintf(e->reason, sizeof(e->reason), "%s", json_string_value(reason));
        e->launched = 0;
    } else if (json_is_null(reason)) {
        e->reason_absent = 1;
    }
    if (json_is_integer(json_object_get(doc, "status")))
        e->status = (long)json_integer_value(json_object_get(doc, "status"));
    if (message_type != NULL)
        snprintf(e->message_type, sizeof(e->message_type), "%s", message_type);
    if (page != NULL)
        snprintf(e->page, sizeof(e->page), "%s", page);
out:
    json_decref(doc);
    return rc;
}

static void describe_expectation(const expectation_t *e, sim_case_result_t *r)
{
    if (e->launched == 1)
        snprintf(r->expected, sizeof(r->expected), "launched");
    else if (e->reason[0] != '\0')
        snprintf(r->expected, sizeof(r->expected), "rejected %s", e->reason);
    else if (e->status != 0)
        snprintf(r->expected, sizeof(r->expected), "rejected %ld", e->status);
    else
        snprintf(r->expected, sizeof(r->expected), "rejected");
}

/* Compares a rejection with the expectation; fills r->detail on a mismatch. */
static int check_rejection(const expectation_t *e, long status, const char *reason,
                           sim_case_result_t *r)
{
    if (e->status != 0 ? status != e->status : (status < 400 || status > 499)) {
        snprintf(r->detail, sizeof(r->detail), "HTTP status %ld, expected %s", status,
                 e->status != 0 ? "the status in expect.json" : "a 4xx");
        return 0;
    }
    if (e->reason_absent && reason[0] != '\0') {
        snprintf(r->detail, sizeof(r->detail), "reason %s, expected none", reason);
        return 0;
    }
    if (!e->reason_absent && reason[0] == '\0') {
        snprintf(r->detail, sizeof(r->detail), "no X-LTI-Reason header on the rejection");
        return 0;
    }
    if (e->reason[0] != '\0' && strcmp(e->reason, reason) != 0) {
        snprintf(r->detail, sizeof(r->detail), "reason %s, expected %s", reason, e->reason);
        return 0;
    }
    return 1;
}

/* ---- launch cases ------------------------------------------------------- */

/* Sets claim `name` of `payload` to now + offset unless keep.json lists it. */
static void set_time_claim(json_t *payload, json_t *keep, json_t *times, const char *name,
                           json_int_t default_offset, time_t now)
{
    size_t i;
    json_t *v;
    json_array_foreach(keep, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return;
    }
    json_t *offset = json_object_get(times, name);
    json_int_t delta = json_is_integer(offset) ? json_integer_value(offset) : default_offset;
    json_object_set_new(payload, name, json_integer((json_int_t)now + delta));
}

static int kept(json_t *keep, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(keep, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return 1;
    }
    return 0;
}

/* Turns payload.json into the raw payload the platform signs: iat and exp
 * relative to now, nonce and target_link_uri as placeholders the platform
 * fills in at authorize time, claims.json merged last. */
static char *build_raw_payload(json_t *payload, json_t *keep, json_t *times, json_t *claims)
{
    time_t now = time(NULL);
    set_time_claim(payload, keep, times, "iat", 0, now);
    set_time_claim(payload, keep, times, "exp", 3600, now);
    if (json_object_get(payload, "nonce") != NULL && !kept(keep, "nonce"))
        json_object_set_new(payload, "nonce", json_string("$NONCE"));
    if (json_object_get(payload, CLAIM "target_link_uri") != NULL &&
        !kept(keep, CLAIM "target_link_uri"))
        json_object_set_new(payload, CLAIM "target_link_uri", json_string("$TARGET"));
    if (claims != NULL)
        sim_json_merge(payload, claims);
    return json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* Appends launch.json members to the /sim/launch query: strings (with
 * $TOOL replaced by the tool base URL) and numbers as parameters, the
 * booleans bad_state, no_cookies and replay as browser options. */
static int apply_launch_json(json_t *doc, const char *tool, sim_launch_opts_t *lo,
                             sim_buf_t *extra, char *detail, size_t detail_len)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        char number[32];
        const char *text = NULL;
        char *filled = NULL;
        if (json_is_boolean(v)) {
            int on = json_is_true(v);
            if (strcmp(key, "bad_state") == 0)
                lo->bad_state = on;
            else if (strcmp(key, "no_cookies") == 0)
                lo->no_cookies = on;
            else if (strcmp(key, "replay") == 0)
                lo->replay = on;
            else {
                snprintf(detail, detail_len, "launch.json: unknown option %s", key);
                return -1;
            }
            continue;
        }
        if (json_is_string(v)) {
            const char *name = "$TOOL", *value = tool != NULL ? tool : "";
            filled = replace_all(json_string_value(v), &name, &value, 1);
            text = filled != NULL ? filled : "";
        } else if (json_is_integer(v)) {
            snprintf(number, sizeof(number), "%lld", (long long)json_integer_value(v));
            text = number;
        } else {
            snprintf(detail, detail_len, "launch.json: %s must be a string, number or boolean",
                     key);
            return -1;
        }
        if (extra->len > 0)
            sim_buf_puts(extra, "&");
        sim_buf_put_urlenc(extra, key);
        sim_buf_puts(extra, "=");
        sim_buf_put_urlenc(extra, text);
        free(filled);
    }
    return 0;
}

static void add_param(sim_buf_t *extra, const char *name, const char *value)
{
    if (extra->len > 0)
        sim_buf_puts(extra, "&");
    sim_buf_puts(extra, name);
    sim_buf_puts(extra, "=");
    sim_buf_put_urlenc(extra, value);
}

/* edit_id_token hook: fills token.txt's $HEADER, $PAYLOAD, $SIGNATURE and
 * $TOKEN from the token the platform signed. */
static char *edit_token(void *arg, const char *id_token)
{
    const char *template = arg;
    const char *dot1 = strchr(id_token, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL)
        return NULL;
    char *header = strndup(id_token, (size_t)(dot1 - id_token));
    char *payload = strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    const char *names[] = {"$HEADER", "$PAYLOAD", "$SIGNATURE", "$TOKEN"};
    const char *values[] = {header, payload, dot2 + 1, id_token};
    char *out = header != NULL && payload != NULL ? replace_all(template, names, values, 4) : NULL;
    free(header);
    free(payload);
    return out;
}

static void run_launch_case(const sim_conformance_opts_t *o, const char *dir,
                            const expectation_t *e, sim_case_result_t *r)
{
    json_t *payload = NULL, *header = NULL, *keep = NULL, *times = NULL, *claims = NULL;
    json_t *launch = NULL;
    char *raw_payload = NULL, *raw_header = NULL, *claims_text = NULL;
    char *token_file = NULL, *token_template = NULL;
    sim_buf_t extra, expanded;
    sim_launch_opts_t lo;
    sim_launch_result_t res;
    char *d = r->detail;
    size_t dl = sizeof(r->detail);

    memset(&res, 0, sizeof(res));
    memset(&lo, 0, sizeof(lo));
    sim_buf_init(&extra, 4 * MAX_CASE_FILE);
    sim_buf_init(&expanded, 2 * MAX_CASE_FILE);
    if (load_json(dir, "payload.json", JSON_OBJECT, &payload, d, dl) < 0 ||
        load_json(dir, "header.json", JSON_OBJECT, &header, d, dl) < 0 ||
        load_json(dir, "keep.json", JSON_ARRAY, &keep, d, dl) < 0 ||
        load_json(dir, "times.json", JSON_OBJECT, &times, d, dl) < 0 ||
        load_json(dir, "claims.json", JSON_OBJECT, &claims, d, dl) < 0 ||
        load_json(dir, "launch.json", JSON_OBJECT, &launch, d, dl) < 0 ||
        read_case_file(dir, "payload.raw", &raw_payload, NULL, d, dl) < 0 ||
        read_case_file(dir, "header.raw", &raw_header, NULL, d, dl) < 0 ||
        read_case_file(dir, "token.txt", &token_file, NULL, d, dl) < 0)
        goto error;

    lo.platform = o->platform;
    lo.timeout_ms = o->timeout_ms;
    if (launch != NULL && apply_launch_json(launch, o->tool, &lo, &extra, d, dl) != 0)
        goto error;
    if (payload != NULL && raw_payload == NULL) {
        raw_payload = build_raw_payload(payload, keep, times, claims);
    } else if (claims != NULL) {
        claims_text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
        lo.claims_json = claims_text;
    }
    if (header != NULL && raw_header == NULL)
        raw_header = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (raw_payload != NULL) {
        chomp(raw_payload);
        add_param(&extra, "raw_payload", raw_payload);
    }
    if (raw_header != NULL) {
        chomp(raw_header);
        add_param(&extra, "raw_header", raw_header);
    }
    if (token_file != NULL) {
        chomp(token_file);
        append_expanded(&expanded, token_file, strlen(token_file));
        token_template = sim_buf_steal(&expanded);
        lo.edit_id_token = edit_token;
        lo.edit_arg = token_template;
    }
    if (extra.overflow) {
        snprintf(d, dl, "launch parameters longer than 4 MiB");
        goto error;
    }
    lo.extra_params = extra.data;

    sim_launch(&lo, &res);
    snprintf(r->got, sizeof(r->got), "%s", sim_outcome_name(res.outcome));
    snprintf(r->reason, sizeof(r->reason), "%s", res.reason);
    r->status = res.status;
    if (res.outcome == SIM_ERROR) {
        snprintf(d, dl, "%s", res.error);
    } else if (e->launched == 1) {
        const char *want_type = e->message_type[0] != '\0'
                                    ? e->message_type
                                    : json_string_value(json_object_get(payload, CLAIM
                                                                        "message_type"));
        if (res.outcome != SIM_LAUNCHED)
            snprintf(d, dl, "rejected with HTTP %ld", res.status);
        else if (want_type != NULL &&
                 (res.message_type == NULL || strcmp(res.message_type, want_type) != 0))
            snprintf(d, dl, "landed with message_type %s, expected %s",
                     res.message_type != NULL ? res.message_type : "(none)", want_type);
        else if (e->page[0] != '\0' && (res.page == NULL || strcmp(res.page, e->page) != 0))
            snprintf(d, dl, "landed on %s, expected %s", res.page != NULL ? res.page : "(none)",
                     e->page);
        else
            r->passed = 1;
    } else if (res.outcome != SIM_REJECTED) {
        snprintf(d, dl, "launched, expected a rejection");
    } else if (check_rejection(e, res.status, res.reason, r)) {
        if (res.session_after_reject)
            snprintf(d, dl, "rejected, but a session exists afterwards");
        else
            r->passed = 1;
    }
    goto out;
error:
    snprintf(r->got, sizeof(r->got), "error");
out:
    sim_launch_result_clear(&res);
    json_decref(payload);
    json_decref(header);
    json_decref(keep);
    json_decref(times);
    json_decref(claims);
    json_decref(launch);
    free(raw_payload);
    free(raw_header);
    free(claims_text);
    free(token_file);
    free(token_template);
    sim_buf_free(&extra);
    sim_buf_free(&expanded);
}

/* ---- raw HTTP cases ----------------------------------------------------- */

/* Splits "http://HOST:PORT" (IPv4 loopback only) into an address. */
static int tool_address(const char *tool, struct sockaddr_in *sin, char *hostport, size_t len)
{
    char host[64];
    unsigned port = 0;
    if (tool == NULL || sscanf(tool, "http://%63[0-9.]:%u", host, &port) != 2 || port == 0 ||
        port > 65535 || !sim_host_is_loopback(host))
        return -1;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    snprintf(hostport, len, "%s:%u", host, port);
    return 0;
}

/* Builds the bytes of request.http. The head ends at the first empty line
 * (or the end of the file, which then gets the empty line added); its lines
 * get CRLF endings, $HOST becomes the tool's host:port and $LENGTH the body
 * length. $FILL{N} expands in head and body; the body is otherwise sent
 * byte for byte. */
static char *build_raw_request(const char *text, const char *hostport, size_t *out_len)
{
    const char *split = strstr(text, "\n\n");
    const char *body_start = split != NULL ? split + 2 : text + strlen(text);
    size_t head_len = split != NULL ? (size_t)(split - text) + 1 : strlen(text);
    sim_buf_t body, head, all;
    char length[32];

    sim_buf_init(&body, 2 * MAX_CASE_FILE);
    append_expanded(&body, body_start, strlen(body_start));
    snprintf(length, sizeof(length), "%zu", body.len);
    sim_buf_t raw_head;
    sim_buf_init(&raw_head, 2 * MAX_CASE_FILE);
    append_expanded(&raw_head, text, head_len);
    sim_buf_init(&head, 4 * MAX_CASE_FILE);
    for (size_t i = 0; i < raw_head.len; i++) {
        const char *c = raw_head.data + i;
        if (*c == '\n' && (i == 0 || c[-1] != '\r'))
            sim_buf_append(&head, "\r\n", 2);
        else
            sim_buf_append(&head, c, 1);
    }
    sim_buf_free(&raw_head);
    const char *names[] = {"$HOST", "$LENGTH"};
    const char *values[] = {hostport, length};
    char *filled = head.data != NULL ? replace_all(head.data, names, values, 2) : NULL;
    sim_buf_init(&all, 4 * MAX_CASE_FILE);
    if (filled != NULL) {
        sim_buf_puts(&all, filled);
        if (head.len < 2 || memcmp(head.data + head.len - 2, "\r\n", 2) != 0)
            sim_buf_append(&all, "\r\n", 2);
        sim_buf_append(&all, "\r\n", 2);
        if (body.len > 0)
            sim_buf_append(&all, body.data, body.len);
    }
    free(filled);
    sim_buf_free(&head);
    sim_buf_free(&body);
    *out_len = all.len;
    if (all.overflow || all.data == NULL) {
        sim_buf_free(&all);
        return NULL;
    }
    return sim_buf_steal(&all);
}

/* Sends `req` and reads the response head. Returns the status, or -1 with
 * a message in `detail`; a connection closed without a response is -1. */
static long send_raw(const struct sockaddr_in *sin, const char *req, size_t len, long timeout_ms,
                     char *reason, size_t reason_len, char *detail, size_t detail_len)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    char head[MAX_RESPONSE_HEAD + 1];
    size_t got = 0;
    long status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    reason[0] = '\0';
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0) {
        snprintf(detail, detail_len, "cannot connect to the tool: %s", strerror(errno));
        goto out;
    }
    /* The server may answer (413) and close before the whole body is sent. */
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    while (got < MAX_RESPONSE_HEAD) {
        ssize_t n = recv(fd, head + got, MAX_RESPONSE_HEAD - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        head[got] = '\0';
        if (strstr(head, "\r\n\r\n") != NULL)
            break;
    }
    head[got] = '\0';
    if (sscanf(head, "HTTP/1.%*d %ld", &status) != 1) {
        snprintf(detail, detail_len, "no HTTP response from the tool (%zu bytes read)", got);
        status = -1;
        goto out;
    }
    for (char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "x-lti-reason:", 13) == 0) {
            const char *v = line + 15;
            while (*v == ' ')
                v++;
            snprintf(reason, reason_len, "%.*s", (int)strcspn(v, "\r\n"), v);
            break;
        }
    }
out:
    close(fd);
    return status;
}

static void run_raw_case(const sim_conformance_opts_t *o, const char *dir,
                         const expectation_t *e, sim_case_result_t *r)
{
    struct sockaddr_in sin;
    char hostport[80], *text = NULL, *req = NULL;
    size_t len = 0;

    snprintf(r->got, sizeof(r->got), "error");
    if (tool_address(o->tool, &sin, hostport, sizeof(hostport)) != 0) {
        snprintf(r->detail, sizeof(r->detail),
                 "request.http needs --tool http://127.0.0.1:PORT (loopback IPv4)");
        return;
    }
    if (read_case_file(dir, "request.http", &text, NULL, r->detail, sizeof(r->detail)) <= 0)
        return;
    req = build_raw_request(text, hostport, &len);
    free(text);
    if (req == NULL) {
        snprintf(r->detail, sizeof(r->detail), "request.http expands beyond 4 MiB");
        return;
    }
    r->status = send_raw(&sin, req, len, o->timeout_ms, r->reason, sizeof(r->reason), r->detail,
                         sizeof(r->detail));
    free(req);
    if (r->status < 0)
        return;
    if (r->status >= 200 && r->status < 400) {
        snprintf(r->got, sizeof(r->got), "accepted");
        snprintf(r->detail, sizeof(r->detail), "HTTP %ld, expected a rejection", r->status);
        return;
    }
    snprintf(r->got, sizeof(r->got), "rejected");
    r->passed = check_rejection(e, r->status, r->reason, r);
}

/* ---- the suite ---------------------------------------------------------- */

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    return join_path(path, sizeof(path), dir, name) && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

static int is_case_dir(const char *dir)
{
    static const char *const markers[] = {"payload.json", "expect.json", "launch.json",
                                          "request.http", "token.txt", "payload.raw"};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        if (file_exists(dir, markers[i]))
            return 1;
    return 0;
}

static int only_dirs(const struct dirent *d)
{
    return d->d_name[0] != '.' && (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN);
}

static void report(const sim_conformance_opts_t *o, const sim_case_result_t *r)
{
    if (o->out != NULL) {
        fprintf(o->out, "%s %s: expected %s, got %s", r->passed ? "PASS" : "FAIL", r->name,
                r->expected, r->got);
        if (r->status > 0)
            fprintf(o->out, " (HTTP %ld, reason %s)", r->status,
                    r->reason[0] != '\0' ? r->reason : "-");
        if (!r->passed && r->detail[0] != '\0')
            fprintf(o->out, ": %s", r->detail);
        fputc('\n', o->out);
        fflush(o->out);
    }
    if (o->on_case != NULL)
        o->on_case(o->arg, r);
}

static int run_case(const sim_conformance_opts_t *o, const char *path, const char *name,
                    int default_launched)
{
    sim_case_result_t r;
    expectation_t e;
    memset(&r, 0, sizeof(r));
    memset(&e, 0, sizeof(e));
    e.launched = default_launched;
    snprintf(r.name, sizeof(r.name), "%s", name);
    if (read_expectation(path, &e, r.detail, sizeof(r.detail)) < 0) {
        snprintf(r.expected, sizeof(r.expected), "?");
        snprintf(r.got, sizeof(r.got), "error");
    } else if (e.launched < 0) {
        snprintf(r.expected, sizeof(r.expected), "?");
        snprintf(r.got, sizeof(r.got), "error");
        snprintf(r.detail, sizeof(r.detail),
                 "outside valid/ and invalid/ a case needs expect.json with an outcome or reason");
    } else {
        describe_expectation(&e, &r);
        if (file_exists(path, "request.http"))
            run_raw_case(o, path, &e, &r);
        else
            run_launch_case(o, path, &e, &r);
    }
    report(o, &r);
    return r.passed;
}

int sim_conformance_run(const sim_conformance_opts_t *opts, unsigned *passed, unsigned *failed)
{
    sim_conformance_opts_t o = *opts;
    struct dirent **groups = NULL;
    unsigned n_pass = 0, n_fail = 0;

    if (o.timeout_ms <= 0)
        o.timeout_ms = DEFAULT_TIMEOUT_MS;
    int n = scandir(o.dir, &groups, only_dirs, alphasort);
    if (n < 0) {
        if (o.out != NULL)
            fprintf(o.out, "cannot read %s: %s\n", o.dir, strerror(errno));
        return 2;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (!join_path(path, sizeof(path), o.dir, groups[i]->d_name))
            continue;
        if (is_case_dir(path)) {
            if (run_case(&o, path, groups[i]->d_name, -1))
                n_pass++;
            else
                n_fail++;
            continue;
        }
        int launched = strcmp(groups[i]->d_name, "valid") == 0     ? 1
                       : strcmp(groups[i]->d_name, "invalid") == 0 ? 0
                                                                   : -1;
        struct dirent **cases = NULL;
        int m = scandir(path, &cases, only_dirs, alphasort);
        for (int j = 0; j < m; j++) {
            char case_path[4096], name[600];
            if (join_path(case_path, sizeof(case_path), path, cases[j]->d_name) &&
                join_path(name, sizeof(name), groups[i]->d_name, cases[j]->d_name) &&
                is_case_dir(case_path)) {
                if (run_case(&o, case_path, name, launched))
                    n_pass++;
                else
                    n_fail++;
            }
            free(cases[j]);
        }
        free(cases);
    }
    for (int i = 0; i < n; i++)
        free(groups[i]);
    free(groups);
    if (o.out != NULL)
        fprintf(o.out, "%u passed, %u failed\n", n_pass, n_fail);
    if (passed != NULL)
        *passed = n_pass;
    if (failed != NULL)
        *failed = n_fail;
    if (n_pass + n_fail == 0)
        return 2;
    return n_fail > 0 ? 1 : 0;
}

int sim_conformance_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"platform", required_argument, NULL, 'p'},
        {"tool", required_argument, NULL, 'T'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sim_conformance_opts_t o;
    int64_t number = 0;
    int c;

    memset(&o, 0, sizeof(o));
    o.out = stdout;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p': o.platform = optarg; break;
        case 'T': o.tool = optarg; break;
        case 't':
            if (sim_parse_i64(optarg, &number) != 0 || number < 1 || number > 600000) {
                fprintf(stderr, "ltisim conformance: --timeout-ms must be 1 to 600000\n");
                return 2;
            }
            o.timeout_ms = (long)number;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "ltisim conformance: expected one suite directory; run "
                        "'ltisim conformance --help'\n");
        return 2;
    }
    if (o.platform == NULL) {
        fprintf(stderr, "ltisim conformance: --platform URL is required, e.g. "
                        "--platform http://127.0.0.1:9001\n");
        return 2;
    }
    o.dir = argv[optind];
    lti_log_open(NULL, LTI_LOG_WARN);
    return sim_conformance_run(&o, NULL, NULL);
}
