/* SPDX-License-Identifier: MIT */
/*
 * Request parsing and responses shared by the handlers: strict form and
 * query parsing, cookies, security headers, and the one function that turns
 * a reason code into an HTTP status, a page or JSON body and a log line.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "http_int.h"
#include "lti/log.h"

#define MAX_PARAM_NAME 64

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Bytes that decode_component cannot copy as they are. */
static const unsigned char form_special[256] = {[0] = 1, ['+'] = 1, ['%'] = 1};

/* Decodes one component into the pool. Returns NULL on bad escapes or NUL.
 * An id_token is a few KB without escapes, so plain runs are copied whole. */
static char *decode_component(h2o_mem_pool_t *pool, const char *s, size_t len, size_t *out_len)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t n = 0, i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && !form_special[(unsigned char)s[run]])
            run++;
        memcpy(out + n, s + i, run - i);
        n += run - i;
        if ((i = run) == len)
            break;
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int hi = hex_value((unsigned char)s[i + 1]);
            int lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0)
            return NULL;
        out[n++] = (char)c;
        i++;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

lti_reason_t lti_form_parse(h2o_mem_pool_t *pool, const char *buf, size_t len, lti_form_t *form,
                            lti_err_t *err)
{
    size_t pos = 0;

    form->n = 0;
    while (pos < len) {
        const char *start = buf + pos;
        const char *amp = memchr(start, '&', len - pos);
        size_t part_len = amp != NULL ? (size_t)(amp - start) : len - pos;
        pos += part_len + 1;
        if (part_len == 0)
            continue;
        const char *eq = memchr(start, '=', part_len);
        size_t name_len = eq != NULL ? (size_t)(eq - start) : part_len;
        size_t value_len = eq != NULL ? part_len - name_len - 1 : 0;
        if (name_len > MAX_PARAM_NAME * 3 || value_len > LTI_PARAM_MAX_LEN * 3)
            return lti_err_set(err, LTI_R_param_too_long, "parameter longer than allowed");
        if (form->n == LTI_FORM_MAX_PARAMS)
            return lti_err_set(err, LTI_R_param_invalid, "more than %d parameters",
                               LTI_FORM_MAX_PARAMS);
        lti_param_t *p = &form->params[form->n];
        size_t decoded_name_len;
        char *name = decode_component(pool, start, name_len, &decoded_name_len);
        char *value = decode_component(pool, eq != NULL ? eq + 1 : start + part_len, value_len,
                                       &p->len);
        if (name == NULL || value == NULL)
            return lti_err_set(err, LTI_R_param_invalid,
                               "bad percent-encoding or NUL byte in parameter %zu", form->n + 1);
        if (decoded_name_len > MAX_PARAM_NAME || p->len > LTI_PARAM_MAX_LEN)
            return lti_err_set(err, LTI_R_param_too_long, "parameter %zu is too long",
                               form->n + 1);
        p->name = name;
        p->value = value;
        form->n++;
    }
    return LTI_R_ok;
}

const char *lti_form_get(const lti_form_t *form, const char *name, size_t *len, int *dup)
{
    const lti_param_t *found = NULL;
    for (size_t i = 0; i < form->n; i++) {
        if (strcmp(form->params[i].name, name) != 0)
            continue;
        if (found != NULL && dup != NULL)
            *dup = 1;
        if (found == NULL)
            found = &form->params[i];
    }
    if (found == NULL)
        return NULL;
    if (len != NULL)
        *len = found->len;
    return found->value;
}

/* Accepts "application/x-www-form-urlencoded" with an optional
 * "charset=utf-8" parameter; any other type or charset is rejected, since
 * a different charset would change how the bytes decode. */
static int is_form_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char type[] = "application/x-www-form-urlencoded";
    size_t tl = sizeof(type) - 1;
    if (v.len < tl || strncasecmp(v.base, type, tl) != 0)
        return 0;
    const char *rest = v.base + tl, *end = v.base + v.len;
    while (rest < end && (*rest == ' ' || *rest == '\t'))
        rest++;
    if (rest == end)
        return 1;
    if (*rest++ != ';')
        return 0;
    while (rest < end && (*rest == ' ' || *rest == '\t'))
        rest++;
    static const char charset[] = "charset=utf-8";
    size_t cl = sizeof(charset) - 1;
    if ((size_t)(end - rest) >= cl && strncasecmp(rest, charset, cl) == 0) {
        rest += cl;
        while (rest < end && (*rest == ' ' || *rest == '\t'))
            rest++;
        return rest == end;
    }
    if ((size_t)(end - rest) == cl + 2 && strncasecmp(rest, "charset=\"utf-8\"", cl + 2) == 0)
        return 1;
    return 0;
}

/* Maximum request target length and maximum sum of header name and value lengths
 * accepted by the form endpoints. h2o 2.2.5's own limit is about 400 KiB
 * per request head (H2O_MAX_REQLEN); LTI requests need a few KiB. */
#define MAX_URL 16384
#define MAX_HEADER_BYTES 32768

/* Rejects an over-long URL, over-large headers and a folded header line
 * (obs-fold, RFC 9112 section 5.2), a request smuggling shape that h2o
 * 2.2.5 passes on as a header without a name.
 * NOTE: h2o consumes Content-Length and Transfer-Encoding itself (chunked
 * wins over Content-Length, the first of two Content-Lengths is used), so
 * those conflicts cannot be seen here; the fronting proxy must normalise them. */
static lti_reason_t check_header_lines(h2o_req_t *req, lti_err_t *err)
{
    size_t total = 0;
    if (req->path.len > MAX_URL)
        return lti_err_set(err, LTI_R_url_too_long, "URL of %zu bytes", req->path.len);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name == NULL || h->name->len == 0)
            return lti_err_set(err, LTI_R_header_line_invalid, "header line %zu has no name", i);
        total += h->name->len + h->value.len;
    }
    if (total > MAX_HEADER_BYTES)
        return lti_err_set(err, LTI_R_headers_too_large, "headers of %zu bytes", total);
    return LTI_R_ok;
}

lti_reason_t lti_request_params(h2o_req_t *req, lti_form_t *form, lti_err_t *err)
{
    lti_reason_t lines = check_header_lines(req, err);
    if (lines != LTI_R_ok)
        return lines;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        if (req->query_at == SIZE_MAX) {
            form->n = 0;
            return LTI_R_ok;
        }
        return lti_form_parse(&req->pool, req->path.base + req->query_at + 1,
                              req->path.len - req->query_at - 1, form, err);
    }
    if (!is_form_type(req))
        return lti_err_set(err, LTI_R_unsupported_media_type,
                           "Content-Type is not application/x-www-form-urlencoded");
    if (req->entity.len > lti_thread_of(req)->app->cfg->max_body)
        return lti_err_set(err, LTI_R_body_too_large, "body of %zu bytes", req->entity.len);
    return lti_form_parse(&req->pool, req->entity.base, req->entity.len, form, err);
}

const char *lti_cookie_get(h2o_req_t *req, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    ssize_t i = -1;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        const char *p = v.base, *end = v.base + v.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *item = p;
            while (p < end && *p != ';')
                p++;
            size_t item_len = (size_t)(p - item);
            if (item_len > name_len && memcmp(item, name, name_len) == 0 && item[name_len] == '=') {
                h2o_iovec_t value = h2o_strdup(&req->pool, item + name_len + 1,
                                               item_len - name_len - 1);
                *len = value.len;
                return value.base;
            }
        }
    }
    return NULL;
}

void lti_set_cookie(h2o_req_t *req, const char *name, const char *value, const char *path,
                    long max_age)
{
    char attrs[160];
    int n = snprintf(attrs, sizeof(attrs), "; Path=%s; Max-Age=%ld; Secure; HttpOnly; SameSite=None",
                     path, max_age);
    h2o_iovec_t header = h2o_concat(&req->pool, h2o_iovec_init(name, strlen(name)),
                                    h2o_iovec_init(H2O_STRLIT("=")),
                                    h2o_iovec_init(value, strlen(value)),
                                    h2o_iovec_init(attrs, (size_t)n));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, header.base,
                   header.len);
}

void lti_add_page_headers(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    /* frame-ancestors: the registrations' sites (lti_config_t.frame_ancestors). */
    const char *ancestors = lti_thread_of(req)->app->cfg->frame_ancestors;
    if (ancestors == NULL)
        ancestors = "'none'";
    h2o_iovec_t csp = h2o_concat(
        &req->pool,
        /* connect-src: the completion page checks with fetch whether the
         * session cookie comes back (h_storage.c). */
        h2o_iovec_init(H2O_STRLIT("default-src 'none'; script-src 'self'; style-src 'self'; "
                                  "img-src 'self'; connect-src 'self'; "
                                  "form-action 'self' https: http:; "
                                  "base-uri 'none'; frame-ancestors ")),
        h2o_iovec_init(ancestors, strlen(ancestors)));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL, csp.base, csp.len);
}

/* Sends `len` bytes as the whole response body with a Content-Length.
 * h2o_send_inline leaves the length unset, and h2o 2.2.5's chunked filter
 * then encodes only 200 responses and closes the connection after any other
 * status, so every redirect and rejection would cost the client a new TCP
 * connection. */
static void send_body(h2o_req_t *req, const char *body, size_t len)
{
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void lti_send_redirect(h2o_req_t *req, int status, const char *url)
{
    req->res.status = status;
    req->res.reason = status == 303 ? "See Other" : "Found";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, url, strlen(url));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    send_body(req, H2O_STRLIT("Redirecting.\n"));
}

int lti_wants_json(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strstr(v.base, v.len, H2O_STRLIT("application/json")) != SIZE_MAX;
}

const char *lti_html(h2o_req_t *req, const char *s)
{
    if (s == NULL)
        return "";
    return h2o_htmlescape(&req->pool, s, strlen(s)).base;
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<link rel=\"stylesheet\" href=\"/hosted/static/ltigate.css\"><title>";

void lti_send_page(h2o_req_t *req, int status, const char *title, const char *body_html)
{
    const char *t = lti_html(req, title);
    h2o_iovec_t page = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(page_head)),
                                  h2o_iovec_init(t, strlen(t)),
                                  h2o_iovec_init(H2O_STRLIT("</title></head><body>\n")),
                                  h2o_iovec_init(body_html, strlen(body_html)),
                                  h2o_iovec_init(H2O_STRLIT("\n</body></html>\n")));
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Error";
    lti_add_page_headers(req);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/html; charset=utf-8"));
    send_body(req, page.base, page.len);
}

void lti_send_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    h2o_iovec_t copy = h2o_strdup(&req->pool, text != NULL ? text : "{}", SIZE_MAX);
    free(text);
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Error";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    send_body(req, copy.base, copy.len);
}

void lti_send_method_not_allowed(h2o_req_t *req, const char *mod, const char *allow)
{
    char detail[64];
    snprintf(detail, sizeof(detail), "accepts %s only", allow);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    lti_send_reason(req, mod, LTI_R_method_not_allowed, detail, NULL);
}

void lti_send_reason(h2o_req_t *req, const char *mod, lti_reason_t reason, const char *detail,
                     const char *const *kv)
{
    const char *code = lti_reason_code(reason);
    int status = lti_reason_status(reason);
    const char *fields[32];
    size_t n = 0;

    fields[n++] = "reason";
    fields[n++] = code;
    fields[n++] = "status";
    char status_text[8];
    snprintf(status_text, sizeof(status_text), "%d", status);
    fields[n++] = status_text;
    for (size_t i = 0; kv != NULL && kv[i] != NULL && n + 3 < 32; i += 2) {
        fields[n++] = kv[i];
        fields[n++] = kv[i + 1];
    }
    fields[n] = NULL;
    lti_log_kv(status >= 500 ? LTI_LOG_ERROR : LTI_LOG_WARN, mod,
               detail != NULL && detail[0] != '\0' ? detail : lti_reason_text(reason), fields);

    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-lti-reason"), 0, NULL,
                          code, strlen(code));
    if (status == 503 || status == 429)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       H2O_STRLIT("5"));
    if (lti_wants_json(req)) {
        json_t *body = json_pack("{s:s, s:s, s:i}", "error", code, "message",
                                 lti_reason_text(reason), "status", status);
        lti_send_json(req, status, body);
        return;
    }
    char html[1024];
    snprintf(html, sizeof(html),
             "<main class=\"error\"><h1>The launch could not be completed</h1>\n"
             "<p>%s</p>\n<p class=\"code\">Reason code: <code>%s</code> (HTTP %d)</p>\n"
             "<p>If this keeps happening, give the reason code and the time to your "
             "administrator; the ltigate log has the details.</p></main>",
             lti_html(req, lti_reason_text(reason)), code, status);
    lti_send_page(req, status, "ltigate: launch error", html);
}
