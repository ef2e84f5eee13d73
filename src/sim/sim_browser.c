/* SPDX-License-Identifier: MIT */
/*
 * The simulated browser. It follows one LTI 1.3 launch through the
 * platform's "click" page, the tool's login endpoint, the platform's
 * authorize endpoint, the tool's launch endpoint and the landing page. It
 * keeps its own cookie jar, so tests control exactly which cookies travel.
 * Requests go only to loopback hosts.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include "lti/reason.h"
#include "sim_int.h"

#define BODY_MAX (1024 * 1024)
#define HEADERS_MAX (64 * 1024)
#define MAX_COOKIES 64
#define COOKIE_MAX 4096
#define MAX_REDIRECTS 5
#define DEFAULT_TIMEOUT_MS 10000
#define ACCEPT_HTML "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

typedef struct cookie {
    char *name, *value;
    char *host; /* host-only: Domain attributes are ignored */
    char *path;
    int secure;
    time_t expires; /* 0 = session cookie */
} cookie_t;

typedef struct browser {
    CURL *curl;
    cookie_t jar[MAX_COOKIES];
    size_t n_cookies;
    int no_cookies;
    long timeout_ms;
    char error[400]; /* shorter than sim_launch_result_t.error, which quotes it */
} browser_t;

typedef struct response {
    long status;
    sim_buf_t body;
    char *url;      /* the URL requested */
    char *location; /* raw Location header */
    char *reason;   /* X-LTI-Reason header */
    char *set_cookie[MAX_COOKIES];
    size_t n_set_cookie;
    size_t header_bytes;
    int header_overflow;
} response_t;

typedef struct html_form {
    char *action;
    char *method; /* lower case; "post" when absent or unknown */
    sim_params_t fields;
} html_form_t;

/* ---- responses ---------------------------------------------------------- */

static void response_init(response_t *res)
{
    memset(res, 0, sizeof(*res));
    sim_buf_init(&res->body, BODY_MAX);
}

static void response_clear(response_t *res)
{
    sim_buf_free(&res->body);
    free(res->url);
    free(res->location);
    free(res->reason);
    for (size_t i = 0; i < res->n_set_cookie; i++)
        free(res->set_cookie[i]);
    memset(res, 0, sizeof(*res));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    response_t *res = arg;
    /* Returning less than given aborts the transfer; the caller reports
     * the overflow instead of using a cut body. */
    return sim_buf_append(&res->body, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static char *trimmed_dup(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    response_t *res = arg;
    size_t len = size * nmemb;
    res->header_bytes += len;
    if (res->header_bytes > HEADERS_MAX) {
        res->header_overflow = 1;
        return 0;
    }
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response head (after 100 Continue): forget the old one. */
        free(res->location);
        free(res->reason);
        res->location = res->reason = NULL;
        for (size_t i = 0; i < res->n_set_cookie; i++)
            free(res->set_cookie[i]);
        res->n_set_cookie = 0;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (colon == NULL)
        return len;
    size_t name_len = (size_t)(colon - data);
    char *value = trimmed_dup(colon + 1, len - name_len - 1);
    if (value == NULL)
        return 0;
    if (name_len == 8 && strncasecmp(data, "location", 8) == 0) {
        free(res->location);
        res->location = value;
    } else if (name_len == 12 && strncasecmp(data, "x-lti-reason", 12) == 0) {
        free(res->reason);
        res->reason = value;
    } else if (name_len == 10 && strncasecmp(data, "set-cookie", 10) == 0 &&
               res->n_set_cookie < MAX_COOKIES) {
        res->set_cookie[res->n_set_cookie++] = value;
    } else {
        free(value);
    }
    return len;
}

/* ---- URLs ----------------------------------------------------------------- */

/* Resolves `ref` against `base` like a browser. Returns malloc'd or NULL. */
static char *resolve_url(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *full = NULL, *out = NULL;
    if (u == NULL)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        (ref[0] == '\0' || curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK) &&
        curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK)
        out = strdup(full);
    curl_free(full);
    curl_url_cleanup(u);
    return out;
}

/* Splits `url` into scheme, host and path (malloc'd). Returns -1 when the
 * URL is not http(s) on a loopback host. */
static int url_parts(const char *url, char **scheme, char **host, char **path)
{
    CURLU *u = curl_url();
    char *s = NULL, *h = NULL, *p = NULL;
    int rc = -1;
    *scheme = *host = *path = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK &&
        (strcmp(s, "http") == 0 || strcmp(s, "https") == 0) && sim_host_is_loopback(h)) {
        *scheme = strdup(s);
        *host = strdup(h);
        *path = strdup(p);
        rc = *scheme != NULL && *host != NULL && *path != NULL ? 0 : -1;
    }
    curl_free(s);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    if (rc != 0) {
        free(*scheme);
        free(*host);
        free(*path);
        *scheme = *host = *path = NULL;
    }
    return rc;
}

/* Returns the URL without its query string and fragment (malloc'd). */
static char *url_without_query(const char *url)
{
    size_t len = strcspn(url, "?#");
    return strndup(url, len);
}

/* ---- cookie jar ----------------------------------------------------------- */

static void cookie_free(cookie_t *c)
{
    free(c->name);
    free(c->value);
    free(c->host);
    free(c->path);
    memset(c, 0, sizeof(*c));
}

static void jar_remove(browser_t *b, size_t i)
{
    cookie_free(&b->jar[i]);
    b->jar[i] = b->jar[--b->n_cookies];
    memset(&b->jar[b->n_cookies], 0, sizeof(cookie_t));
}

/* The default path of RFC 6265 §5.1.4: the request path up to, but not
 * including, its last '/', or "/" when that leaves nothing. */
static char *default_cookie_path(const char *request_path)
{
    const char *last = strrchr(request_path, '/');
    if (request_path[0] != '/' || last == NULL || last == request_path)
        return strdup("/");
    return strndup(request_path, (size_t)(last - request_path));
}

static int path_matches(const char *cookie_path, const char *request_path)
{
    size_t n = strlen(cookie_path);
    if (strncmp(cookie_path, request_path, n) != 0)
        return 0;
    return request_path[n] == '\0' || cookie_path[n - 1] == '/' || request_path[n] == '/';
}

/* Applies one attribute ("Path=/x", "Max-Age=0", "Secure", ...) to `c`.
 * Returns 1 when the cookie is to be deleted. */
static int cookie_attribute(cookie_t *c, const char *attr, time_t now)
{
    const char *eq = strchr(attr, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - attr) : strlen(attr);
    const char *value = eq != NULL ? eq + 1 : "";
    if (name_len == 4 && strncasecmp(attr, "path", 4) == 0 && value[0] == '/') {
        free(c->path);
        c->path = strdup(value);
    } else if (name_len == 6 && strncasecmp(attr, "secure", 6) == 0) {
        c->secure = 1;
    } else if (name_len == 7 && strncasecmp(attr, "max-age", 7) == 0) {
        int64_t age = 0;
        if (sim_parse_i64(value, &age) == 0) {
            if (age <= 0)
                return 1;
            c->expires = now + (time_t)age;
        }
    } else if (name_len == 7 && strncasecmp(attr, "expires", 7) == 0 && c->expires == 0) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (end != NULL) {
            time_t t = timegm(&tm);
            if (t <= now)
                return 1;
            c->expires = t;
        }
    }
    return 0;
}

/* Stores one Set-Cookie value received from `host` for `request_path`. */
static void jar_set(browser_t *b, const char *header, const char *host, const char *request_path)
{
    cookie_t c;
    memset(&c, 0, sizeof(c));
    time_t now = time(NULL);
    if (strlen(header) > COOKIE_MAX)
        return;
    char *copy = strdup(header);
    if (copy == NULL)
        return;
    char *save = NULL;
    char *pair = strtok_r(copy, ";", &save);
    char *eq = pair != NULL ? strchr(pair, '=') : NULL;
    if (eq == NULL) {
        free(copy);
        return;
    }
    c.name = trimmed_dup(pair, (size_t)(eq - pair));
    c.value = trimmed_dup(eq + 1, strlen(eq + 1));
    c.host = strdup(host);
    int delete = 0;
    for (char *attr = strtok_r(NULL, ";", &save); attr != NULL; attr = strtok_r(NULL, ";", &save)) {
        char *a = trimmed_dup(attr, strlen(attr));
        if (a != NULL)
            delete |= cookie_attribute(&c, a, now);
        free(a);
    }
    free(copy);
    if (c.path == NULL)
        c.path = default_cookie_path(request_path);
    if (c.name == NULL || c.value == NULL || c.host == NULL || c.path == NULL ||
        c.name[0] == '\0') {
        cookie_free(&c);
        return;
    }
    for (size_t i = 0; i < b->n_cookies; i++) {
        if (strcmp(b->jar[i].name, c.name) == 0 && strcmp(b->jar[i].host, c.host) == 0 &&
            strcmp(b->jar[i].path, c.path) == 0) {
            jar_remove(b, i);
            break;
        }
    }
    if (delete || b->n_cookies >= MAX_COOKIES) {
        cookie_free(&c);
        return;
    }
    b->jar[b->n_cookies++] = c;
}

/* Builds the Cookie header value for a request, or NULL when no cookie
 * applies. Secure cookies go over https, and over http to loopback hosts,
 * which browsers treat as secure contexts. */
static char *jar_header(browser_t *b, const char *scheme, const char *host, const char *path)
{
    sim_buf_t out;
    sim_buf_init(&out, MAX_COOKIES * (COOKIE_MAX + 2));
    time_t now = time(NULL);
    for (size_t i = b->n_cookies; i > 0; i--) {
        if (b->jar[i - 1].expires != 0 && b->jar[i - 1].expires <= now)
            jar_remove(b, i - 1);
    }
    for (size_t i = 0; i < b->n_cookies; i++) {
        cookie_t *c = &b->jar[i];
        int secure_ok = strcmp(scheme, "https") == 0 || sim_host_is_loopback(host);
        if (strcmp(c->host, host) != 0 || !path_matches(c->path, path) || (c->secure && !secure_ok))
            continue;
        sim_buf_printf(&out, "%s%s=%s", out.len > 0 ? "; " : "", c->name, c->value);
    }
    if (out.len == 0) {
        sim_buf_free(&out);
        return NULL;
    }
    return sim_buf_steal(&out);
}

/* ---- requests ------------------------------------------------------------- */

/* Sends one request without following redirects. `form` non-NULL makes it
 * a POST of that urlencoded body. Returns 0, or -1 with b->error set. */
static int http_request(browser_t *b, const char *url, const char *form, const char *accept,
                        response_t *res)
{
    char *scheme = NULL, *host = NULL, *path = NULL, *cookies = NULL;
    struct curl_slist *headers = NULL;
    char line[256];
    int rc = -1;

    response_init(res);
    res->url = strdup(url);
    if (url_parts(url, &scheme, &host, &path) != 0) {
        snprintf(b->error, sizeof(b->error),
                 "rejected request to %s: only http(s) URLs on "
                 "127.0.0.1, ::1 or localhost are allowed",
                 url);
        goto out;
    }
    if (!b->no_cookies)
        cookies = jar_header(b, scheme, host, path);

    curl_easy_reset(b->curl);
    curl_easy_setopt(b->curl, CURLOPT_URL, url);
    curl_easy_setopt(b->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(b->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(b->curl, CURLOPT_CONNECTTIMEOUT_MS, b->timeout_ms);
    curl_easy_setopt(b->curl, CURLOPT_TIMEOUT_MS, b->timeout_ms);
    curl_easy_setopt(b->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(b->curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(b->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(b->curl, CURLOPT_HEADERDATA, res);
    snprintf(line, sizeof(line), "Accept: %s", accept);
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "User-Agent: Mozilla/5.0 (X11; Linux x86_64) ltisim");
    if (cookies != NULL) {
        size_t len = strlen(cookies) + sizeof("Cookie: ");
        char *cookie_line = malloc(len);
        if (cookie_line != NULL) {
            snprintf(cookie_line, len, "Cookie: %s", cookies);
            headers = curl_slist_append(headers, cookie_line);
        }
        free(cookie_line);
    }
    if (form != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
        curl_easy_setopt(b->curl, CURLOPT_POSTFIELDS, form);
    }
    curl_easy_setopt(b->curl, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = curl_easy_perform(b->curl);
    if (cc != CURLE_OK) {
        const char *why = res->body.overflow     ? "response body larger than 1 MiB"
                          : res->header_overflow ? "response headers larger than 64 KiB"
                                                 : curl_easy_strerror(cc);
        snprintf(b->error, sizeof(b->error), "%s %s failed: %s", form != NULL ? "POST" : "GET", url,
                 why);
        goto out;
    }
    curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (!b->no_cookies)
        for (size_t i = 0; i < res->n_set_cookie; i++)
            jar_set(b, res->set_cookie[i], host, path);
    rc = 0;
out:
    curl_slist_free_all(headers);
    free(cookies);
    free(scheme);
    free(host);
    free(path);
    return rc;
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* ---- HTML forms ----------------------------------------------------------- */

/* Reads the attributes of a tag starting after its name, up to '>'.
 * Calls `on_attr` for each; returns a pointer after the tag, or NULL. */
static const char *
parse_attributes(const char *p,
                 void (*on_attr)(void *arg, const char *name, size_t nlen, char *value), void *arg)
{
    for (;;) {
        while (*p != '\0' && (isspace((unsigned char)*p) || *p == '/'))
            p++;
        if (*p == '\0')
            return NULL;
        if (*p == '>')
            return p + 1;
        const char *name = p;
        while (*p != '\0' && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/')
            p++;
        size_t nlen = (size_t)(p - name);
        while (isspace((unsigned char)*p))
            p++;
        char *value = NULL;
        if (*p == '=') {
            p++;
            while (isspace((unsigned char)*p))
                p++;
            const char *start = p;
            size_t vlen;
            if (*p == '"' || *p == '\'') {
                const char *close = strchr(p + 1, *p);
                if (close == NULL)
                    return NULL;
                start = p + 1;
                vlen = (size_t)(close - start);
                p = close + 1;
            } else {
                while (*p != '\0' && !isspace((unsigned char)*p) && *p != '>')
                    p++;
                vlen = (size_t)(p - start);
            }
            value = sim_html_unescape(start, vlen);
        } else {
            value = strdup("");
        }
        if (nlen > 0 && value != NULL)
            on_attr(arg, name, nlen, value);
        else
            free(value);
    }
}

static void on_form_attr(void *arg, const char *name, size_t nlen, char *value)
{
    html_form_t *form = arg;
    char **slot = NULL;
    if (nlen == 6 && strncasecmp(name, "action", 6) == 0)
        slot = &form->action;
    else if (nlen == 6 && strncasecmp(name, "method", 6) == 0)
        slot = &form->method;
    if (slot != NULL && *slot == NULL) {
        *slot = value;
        return;
    }
    free(value);
}

typedef struct input_attrs {
    char *name, *value;
} input_attrs_t;

static void on_input_attr(void *arg, const char *name, size_t nlen, char *value)
{
    input_attrs_t *in = arg;
    char **slot = NULL;
    if (nlen == 4 && strncasecmp(name, "name", 4) == 0)
        slot = &in->name;
    else if (nlen == 5 && strncasecmp(name, "value", 5) == 0)
        slot = &in->value;
    if (slot != NULL && *slot == NULL) {
        *slot = value;
        return;
    }
    free(value);
}

static const char *find_tag(const char *html, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = strchr(html, '<'); p != NULL; p = strchr(p + 1, '<'))
        if (strncasecmp(p + 1, tag, n) == 0 &&
            (isspace((unsigned char)p[1 + n]) || p[1 + n] == '>' || p[1 + n] == '/'))
            return p;
    return NULL;
}

static void form_clear(html_form_t *form)
{
    free(form->action);
    free(form->method);
    sim_params_clear(&form->fields);
    memset(form, 0, sizeof(*form));
}

/* Parses the first <form> of `html` and its named <input>s. */
static int parse_form(const char *html, html_form_t *form)
{
    memset(form, 0, sizeof(*form));
    const char *p = html != NULL ? find_tag(html, "form") : NULL;
    if (p == NULL || (p = parse_attributes(p + 5, on_form_attr, form)) == NULL)
        goto fail;
    const char *end = find_tag(p, "/form");
    for (const char *in = find_tag(p, "input"); in != NULL && (end == NULL || in < end);
         in = find_tag(in + 1, "input")) {
        input_attrs_t attrs = {NULL, NULL};
        const char *next = parse_attributes(in + 6, on_input_attr, &attrs);
        if (attrs.name != NULL)
            sim_params_add(&form->fields, attrs.name, attrs.value != NULL ? attrs.value : "");
        free(attrs.name);
        free(attrs.value);
        if (next == NULL)
            break;
    }
    if (form->action == NULL)
        form->action = strdup("");
    for (char *m = form->method; m != NULL && *m != '\0'; m++)
        *m = (char)tolower((unsigned char)*m);
    if (form->method == NULL || strcmp(form->method, "get") != 0) {
        free(form->method);
        form->method = strdup("post");
    }
    return 0;
fail:
    form_clear(form);
    return -1;
}

static char *encode_params(const sim_params_t *params)
{
    sim_buf_t b;
    sim_buf_init(&b, 4 * 1024 * 1024);
    for (size_t i = 0; i < params->n; i++) {
        if (i > 0)
            sim_buf_puts(&b, "&");
        sim_buf_put_urlenc(&b, params->items[i].name);
        sim_buf_puts(&b, "=");
        sim_buf_put_urlenc(&b, params->items[i].value);
    }
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* Submits `form` (found on the page at `page_url`) as a browser would. */
static int submit_form(browser_t *b, const char *page_url, const html_form_t *form, response_t *res)
{
    char *action = resolve_url(page_url, form->action);
    char *body = encode_params(&form->fields);
    int rc = -1;
    if (action == NULL || body == NULL) {
        snprintf(b->error, sizeof(b->error), "cannot build the form submission to '%s'",
                 form->action);
        response_init(res);
    } else if (strcmp(form->method, "get") == 0) {
        char *base = url_without_query(action);
        size_t len = strlen(base) + strlen(body) + 2;
        char *url = base != NULL ? malloc(len) : NULL;
        if (url != NULL) {
            snprintf(url, len, "%s?%s", base, body);
            rc = http_request(b, url, NULL, ACCEPT_HTML, res);
        } else {
            response_init(res);
        }
        free(url);
        free(base);
    } else {
        rc = http_request(b, action, body, ACCEPT_HTML, res);
    }
    free(action);
    free(body);
    return rc;
}

/* ---- the launch ----------------------------------------------------------- */

static void set_error(sim_launch_result_t *r, long status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(sim_launch_result_t *r, long status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->outcome = SIM_ERROR;
    r->status = status;
}

/* Copies the first line of a body into `out`, for error messages. */
static const char *first_line(const response_t *res, char *out, size_t outlen)
{
    const char *body = res->body.data != NULL ? res->body.data : "";
    size_t len = strcspn(body, "\r\n");
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, body, len);
    out[len] = '\0';
    return out;
}

static void set_rejected(sim_launch_result_t *r, const response_t *res)
{
    r->outcome = SIM_REJECTED;
    r->status = res->status;
    snprintf(r->reason, sizeof(r->reason), "%s", res->reason != NULL ? res->reason : "");
    free(r->body);
    r->body = res->body.data != NULL ? strdup(res->body.data) : NULL;
}

static char *build_click_url(const sim_launch_opts_t *o)
{
    static const char *const names[] = {"user",      "name",   "email",        "role",
                                        "placement", "course", "message_type", "claims",
                                        "target",    "kid",    "exp_offset",   "iat_offset"};
    const char *values[] = {o->user,      o->name,   o->email,        o->role,
                            o->placement, o->course, o->message_type, o->claims_json,
                            o->target,    o->kid,    o->exp_offset,   o->iat_offset};
    sim_buf_t b;
    sim_buf_init(&b, 1024 * 1024);
    sim_buf_puts(&b, o->platform);
    while (b.len > 0 && b.data[b.len - 1] == '/')
        b.data[--b.len] = '\0';
    sim_buf_puts(&b, "/sim/launch?");
    int first = 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (values[i] == NULL)
            continue;
        sim_buf_printf(&b, "%s%s=", first ? "" : "&", names[i]);
        sim_buf_put_urlenc(&b, values[i]);
        first = 0;
    }
    if (o->extra_params != NULL && o->extra_params[0] != '\0')
        sim_buf_printf(&b, "%s%s", first ? "" : "&", o->extra_params);
    if (b.overflow) {
        sim_buf_free(&b);
        return NULL;
    }
    return sim_buf_steal(&b);
}

/* Returns 1 when `url` is the platform's authorize endpoint. */
static int is_authorize_url(const char *platform, const char *url)
{
    char *base = url_without_query(url);
    size_t plen = strlen(platform);
    while (plen > 0 && platform[plen - 1] == '/')
        plen--;
    int ok = base != NULL && strncmp(base, platform, plen) == 0 &&
             (strcmp(base + plen, "/api/lti/authorize_redirect") == 0 ||
              strcmp(base + plen, "/api/lti/authorize") == 0);
    free(base);
    return ok;
}

/* Runs the login step: posts the platform's click form to the tool, and
 * follows the tool's redirect to the authorize endpoint. On success `auth`
 * contains the authorize response. */
static int login_step(browser_t *b, const sim_launch_opts_t *o, sim_launch_result_t *r,
                      const response_t *click, response_t *auth)
{
    html_form_t form;
    response_t login;
    char line[200];
    int rc = -1;

    response_init(auth);
    if (parse_form(click->body.data, &form) != 0) {
        set_error(r, click->status, "platform /sim/launch returned HTTP %ld without a form: %s",
                  click->status, first_line(click, line, sizeof(line)));
        return -1;
    }
    if (submit_form(b, click->url, &form, &login) != 0) {
        set_error(r, 0, "%s", b->error);
        goto out;
    }
    if (is_redirect(login.status) && login.location != NULL) {
        char *next = resolve_url(login.url, login.location);
        if (next == NULL || !is_authorize_url(o->platform, next)) {
            set_error(r, login.status,
                      "tool login redirected to %s, expected the platform "
                      "authorize endpoint %s/api/lti/authorize_redirect",
                      next != NULL ? next : login.location, o->platform);
            free(next);
            goto out;
        }
        response_clear(auth);
        rc = http_request(b, next, NULL, ACCEPT_HTML, auth);
        free(next);
        if (rc != 0)
            set_error(r, 0, "%s", b->error);
    } else if (login.status == 200) {
        /* A cookieless login page: an auto-submitting form to the platform. */
        html_form_t auth_form;
        char *action = NULL;
        if (parse_form(login.body.data, &auth_form) == 0 &&
            (action = resolve_url(login.url, auth_form.action)) != NULL &&
            is_authorize_url(o->platform, action)) {
            response_clear(auth);
            rc = submit_form(b, login.url, &auth_form, auth);
            if (rc != 0)
                set_error(r, 0, "%s", b->error);
        } else {
            set_error(r, 200,
                      "tool login returned HTTP 200 without a form to the platform authorize "
                      "endpoint");
        }
        free(action);
        form_clear(&auth_form);
    } else if (login.status >= 400) {
        set_rejected(r, &login);
    } else {
        set_error(r, login.status, "tool login returned HTTP %ld without a usable Location",
                  login.status);
    }
out:
    response_clear(&login);
    form_clear(&form);
    return rc;
}

/* Posts the launch form, follows redirects, and classifies the final
 * response. Leaves the landing URL in r->landing_url. */
static void launch_step(browser_t *b, const char *auth_url, const html_form_t *form,
                        sim_launch_result_t *r)
{
    response_t res;
    if (submit_form(b, auth_url, form, &res) != 0) {
        set_error(r, 0, "%s", b->error);
        response_clear(&res);
        return;
    }
    for (int hops = 0; is_redirect(res.status) && res.location != NULL; hops++) {
        if (hops == MAX_REDIRECTS) {
            set_error(r, res.status, "more than %d redirects in a row after the launch",
                      MAX_REDIRECTS);
            response_clear(&res);
            return;
        }
        char *next = resolve_url(res.url, res.location);
        response_clear(&res);
        if (next == NULL || http_request(b, next, NULL, ACCEPT_HTML, &res) != 0) {
            set_error(r, 0, "%s", next == NULL ? "invalid Location header" : b->error);
            free(next);
            response_clear(&res);
            return;
        }
        free(next);
    }
    free(r->landing_url);
    r->landing_url = strdup(res.url);
    if (res.status == 200) {
        r->outcome = SIM_LAUNCHED;
        r->status = 200;
        r->reason[0] = '\0';
        free(r->body);
        r->body = res.body.data != NULL ? strdup(res.body.data) : NULL;
    } else if (res.status >= 400) {
        set_rejected(r, &res);
    } else {
        set_error(r, res.status, "launch ended with HTTP %ld at %s", res.status, res.url);
    }
    response_clear(&res);
}

static char *json_str_dup(json_t *doc, const char *key)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return v != NULL ? strdup(v) : NULL;
}

/* Reads <tool base>/hosted/index/launch-context into the result. */
static void read_context(browser_t *b, const char *launch_url, sim_launch_result_t *r)
{
    char *url = resolve_url(launch_url, "/hosted/index/launch-context");
    response_t res;
    if (url == NULL || http_request(b, url, NULL, "application/json", &res) != 0) {
        snprintf(r->error, sizeof(r->error), "launch-context not read: %s",
                 url == NULL ? "bad URL" : b->error);
        free(url);
        response_clear(&res);
        return;
    }
    free(url);
    json_error_t jerr;
    json_t *doc = res.status == 200 && res.body.data != NULL
                      ? json_loads(res.body.data, JSON_REJECT_DUPLICATES, &jerr)
                      : NULL;
    if (doc == NULL || !json_is_object(doc)) {
        snprintf(r->error, sizeof(r->error),
                 "launch-context returned HTTP %ld without a JSON object", res.status);
    } else {
        r->context_json = strdup(res.body.data);
        r->user_id = json_str_dup(doc, "user_id");
        r->app_role = json_str_dup(doc, "app_role");
        r->placement = json_str_dup(doc, "placement");
        r->page = json_str_dup(doc, "page");
        r->name = json_str_dup(doc, "name");
        r->context_title = json_str_dup(doc, "context_title");
        r->message_type = json_str_dup(doc, "message_type");
    }
    json_decref(doc);
    response_clear(&res);
}

/* Returns 1 when the tool's launch-context returns 200 with the cookies in
 * the jar, which means a session exists. */
static int probe_session(browser_t *b, const char *launch_url)
{
    char *url = resolve_url(launch_url, "/hosted/index/launch-context");
    response_t res;
    int found = 0;
    response_init(&res);
    if (url != NULL && http_request(b, url, NULL, "application/json", &res) == 0)
        found = res.status == 200;
    free(url);
    response_clear(&res);
    return found;
}

/* Fills `page` from the landing URL path when the context did not. */
static void page_from_landing(sim_launch_result_t *r)
{
    char *scheme = NULL, *host = NULL, *path = NULL;
    if (r->page == NULL && r->landing_url != NULL &&
        url_parts(r->landing_url, &scheme, &host, &path) == 0) {
        r->page = path;
        path = NULL;
    }
    free(scheme);
    free(host);
    free(path);
}

/* Applies --bad-state and the edit hook, and records the id_token. */
static void prepare_launch_form(const sim_launch_opts_t *o, html_form_t *form,
                                sim_launch_result_t *r)
{
    for (size_t i = 0; i < form->fields.n; i++) {
        sim_param_t *f = &form->fields.items[i];
        if (strcmp(f->name, "state") == 0 && o->bad_state) {
            char fake[65];
            sim_random_hex(fake, 32);
            free(f->value);
            f->value = strdup(fake);
        } else if (strcmp(f->name, "id_token") == 0) {
            if (o->edit_id_token != NULL) {
                char *edited = o->edit_id_token(o->edit_arg, f->value);
                if (edited != NULL) {
                    free(f->value);
                    f->value = edited;
                }
            }
            free(r->id_token);
            r->id_token = strdup(f->value);
        }
    }
}

/* Adds one entry=ID field per comma-separated id in `pick`. */
static void add_picks(sim_params_t *fields, const char *pick)
{
    char *copy = strdup(pick), *save = NULL;
    for (char *id = copy != NULL ? strtok_r(copy, ",", &save) : NULL; id != NULL;
         id = strtok_r(NULL, ",", &save))
        sim_params_add(fields, "entry", id);
    free(copy);
}

/* Plays the instructor on the tool's deep-linking picker: posts the picker
 * form with the chosen entries (or cancel), then submits the returned
 * auto-submit form to the platform's return URL, as the page's script
 * would. */
static void deep_link_step(browser_t *b, const sim_launch_opts_t *o, sim_launch_result_t *r)
{
    html_form_t picker, back;
    response_t chosen, returned;
    sim_params_t fields = {0};

    memset(&back, 0, sizeof(back));
    response_init(&chosen);
    response_init(&returned);
    if (parse_form(r->body, &picker) != 0) {
        set_error(r, r->status, "the landing page %s has no picker form", r->landing_url);
        return;
    }
    sim_params_add(&fields, "dl", sim_params_get(&picker.fields, "dl"));
    sim_params_add(&fields, "csrf_token", sim_params_get(&picker.fields, "csrf_token"));
    sim_params_add(&fields, "action", o->dl_cancel ? "cancel" : "choose");
    if (!o->dl_cancel)
        add_picks(&fields, o->dl_pick);
    sim_params_clear(&picker.fields);
    picker.fields = fields;
    if (submit_form(b, r->landing_url, &picker, &chosen) != 0) {
        set_error(r, 0, "%s", b->error);
    } else if (chosen.status >= 400) {
        set_rejected(r, &chosen);
    } else if (chosen.status != 200 || parse_form(chosen.body.data, &back) != 0 ||
               sim_params_get(&back.fields, "JWT") == NULL) {
        set_error(r, chosen.status, "the picker did not return a form with a JWT field");
    } else if (submit_form(b, chosen.url, &back, &returned) != 0) {
        set_error(r, 0, "%s", b->error);
    } else {
        r->dl_status = returned.status;
        free(r->dl_report);
        r->dl_report = returned.body.data != NULL ? strdup(returned.body.data) : NULL;
    }
    form_clear(&picker);
    form_clear(&back);
    response_clear(&chosen);
    response_clear(&returned);
}

static void run_launch(browser_t *b, const sim_launch_opts_t *o, sim_launch_result_t *r)
{
    response_t click, auth;
    html_form_t form;
    char line[200];
    char *click_url = build_click_url(o);

    memset(&form, 0, sizeof(form));
    response_init(&auth);
    response_init(&click);
    if (click_url == NULL || http_request(b, click_url, NULL, ACCEPT_HTML, &click) != 0) {
        set_error(r, 0, "%s", click_url == NULL ? "launch parameters too long" : b->error);
        free(click_url);
        response_clear(&click);
        return;
    }
    free(click_url);
    if (click.status != 200) {
        set_error(r, click.status, "platform /sim/launch returned HTTP %ld: %s", click.status,
                  first_line(&click, line, sizeof(line)));
        goto out;
    }
    if (login_step(b, o, r, &click, &auth) != 0)
        goto out;
    if (auth.status != 200 || parse_form(auth.body.data, &form) != 0) {
        set_error(r, auth.status, "platform authorize returned HTTP %ld without a form: %s",
                  auth.status, first_line(&auth, line, sizeof(line)));
        goto out;
    }
    prepare_launch_form(o, &form, r);
    launch_step(b, auth.url, &form, r);
    if (r->outcome == SIM_LAUNCHED) {
        read_context(b, r->landing_url, r);
        page_from_landing(r);
        if (o->dl_pick != NULL || o->dl_cancel)
            deep_link_step(b, o, r);
    } else if (r->outcome == SIM_REJECTED && r->landing_url != NULL) {
        r->session_after_reject = probe_session(b, r->landing_url);
    }
    r->first_outcome = r->outcome;
    if (o->replay && r->outcome == SIM_LAUNCHED)
        launch_step(b, auth.url, &form, r);
out:
    form_clear(&form);
    response_clear(&click);
    response_clear(&auth);
}

sim_outcome_t sim_launch(const sim_launch_opts_t *opts, sim_launch_result_t *res)
{
    browser_t b;
    memset(res, 0, sizeof(*res));
    memset(&b, 0, sizeof(b));
    if (opts == NULL || opts->platform == NULL) {
        set_error(res, 0, "no platform URL given");
        return res->outcome;
    }
    b.no_cookies = opts->no_cookies;
    b.timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    b.curl = curl_easy_init();
    if (b.curl == NULL) {
        set_error(res, 0, "curl_easy_init failed");
        return res->outcome;
    }
    run_launch(&b, opts, res);
    curl_easy_cleanup(b.curl);
    for (size_t i = 0; i < b.n_cookies; i++) {
        if (strcmp(b.jar[i].name, "ltigate_session") == 0 && res->session_cookie == NULL &&
            asprintf(&res->session_cookie, "ltigate_session=%s", b.jar[i].value) < 0)
            res->session_cookie = NULL;
        cookie_free(&b.jar[i]);
    }
    return res->outcome;
}

void sim_launch_result_clear(sim_launch_result_t *res)
{
    free(res->user_id);
    free(res->app_role);
    free(res->placement);
    free(res->page);
    free(res->name);
    free(res->context_title);
    free(res->message_type);
    free(res->context_json);
    free(res->body);
    free(res->id_token);
    free(res->landing_url);
    free(res->session_cookie);
    free(res->dl_report);
    memset(res, 0, sizeof(*res));
}

const char *sim_outcome_name(sim_outcome_t outcome)
{
    switch (outcome) {
    case SIM_LAUNCHED: return "launched";
    case SIM_REJECTED: return "rejected";
    default: return "error";
    }
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

char *sim_launch_result_json(const sim_launch_result_t *r)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "outcome", json_string(sim_outcome_name(r->outcome)));
    json_object_set_new(doc, "status", json_integer(r->status));
    json_object_set_new(doc, "reason", string_or_null(r->reason[0] != '\0' ? r->reason : NULL));
    json_object_set_new(doc, "user_id", string_or_null(r->user_id));
    json_object_set_new(doc, "app_role", string_or_null(r->app_role));
    json_object_set_new(doc, "placement", string_or_null(r->placement));
    json_object_set_new(doc, "page", string_or_null(r->page));
    json_object_set_new(doc, "name", string_or_null(r->name));
    json_object_set_new(doc, "context_title", string_or_null(r->context_title));
    json_object_set_new(doc, "message_type", string_or_null(r->message_type));
    json_object_set_new(doc, "error", string_or_null(r->error[0] != '\0' ? r->error : NULL));
    if (r->dl_report != NULL || r->dl_status != 0) {
        json_error_t jerr;
        json_t *report = r->dl_report != NULL ? json_loads(r->dl_report, 0, &jerr) : NULL;
        json_object_set_new(doc, "deep_linking",
                            json_pack("{s:I,s:o}", "status", (json_int_t)r->dl_status, "report",
                                      report != NULL ? report : string_or_null(r->dl_report)));
    }
    /* Reason codes come from lti/reason.h; flag anything else. */
    if (r->reason[0] != '\0' && lti_reason_from_code(r->reason) == LTI_R__COUNT)
        json_object_set_new(doc, "reason_known", json_false());
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return text;
}
