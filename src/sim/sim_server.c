/* SPDX-License-Identifier: MIT */
/*
 * h2o 2.2.5 evloop plumbing of the platform simulator: the loopback
 * listener, the loop thread, delayed responses and an orderly shutdown that
 * closes every connection before the context is disposed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "lti/log.h"
#include "sim_platform_int.h"
#include "sim_services.h"

/* Period in ms of the check for delayed responses, so a delay overshoots by at most this. */
#define TICK_MS 50
/* How long shutdown waits for connections to close before giving up. */
#define SHUTDOWN_WAIT_MS 2000

typedef struct sim_handler {
    h2o_handler_t super;
    sim_platform_t *platform;
} sim_handler_t;

typedef struct conn_track {
    h2o_socket_t *sock;
    sim_platform_t *platform;
    h2o_linklist_t link;
} conn_track_t;

/* A JWKS request waiting in "slow" mode. Allocated from the request pool,
 * so h2o frees it with the request; the dispose hook unlinks it first. */
typedef struct slow_req {
    h2o_timeout_entry_t entry;
    h2o_linklist_t link;
    h2o_req_t *req;
    sim_platform_t *platform;
    uint64_t deadline; /* loop milliseconds */
} slow_req_t;

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

int sim_server_respond(h2o_req_t *req, int status, const char *content_type, const char *body,
                       size_t len)
{
    h2o_iovec_t ctype = h2o_strdup(&req->pool, content_type, SIZE_MAX);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype.base,
                   ctype.len);
    if (strncmp(content_type, "text/html", 9) == 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
    return 0;
}

int sim_server_respond_json(h2o_req_t *req, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return sim_server_respond(req, 500, "text/plain", "JSON encoding failed\n", 21);
    sim_server_respond(req, status, "application/json", text, strlen(text));
    free(text);
    return 0;
}

int sim_server_send_jwks(sim_platform_t *p, h2o_req_t *req)
{
    pthread_mutex_lock(&p->lock);
    char *jwks = sim_keyring_jwks(&p->keys);
    pthread_mutex_unlock(&p->lock);
    if (jwks == NULL)
        return sim_server_respond(req, 500, "text/plain", "key set encoding failed\n", 24);
    char cache[32];
    int n = snprintf(cache, sizeof(cache), "max-age=%d", SIM_JWKS_MAX_AGE);
    h2o_iovec_t value = h2o_strdup(&req->pool, cache, (size_t)n);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, value.base,
                   value.len);
    sim_server_respond(req, 200, "application/json; charset=utf-8", jwks, strlen(jwks));
    free(jwks);
    return 0;
}

static void slow_unlink(slow_req_t *slow)
{
    if (h2o_timeout_is_linked(&slow->entry))
        h2o_timeout_unlink(&slow->entry);
    if (h2o_linklist_is_linked(&slow->link))
        h2o_linklist_unlink(&slow->link);
}

static void on_slow_dispose(void *ptr)
{
    slow_unlink(ptr);
}

static void on_slow_tick(h2o_timeout_entry_t *entry)
{
    slow_req_t *slow = H2O_STRUCT_FROM_MEMBER(slow_req_t, entry, entry);
    sim_platform_t *p = slow->platform;
    if (h2o_now(p->loop) < slow->deadline) {
        h2o_timeout_link(p->loop, &p->tick, &slow->entry);
        return;
    }
    slow_unlink(slow);
    sim_server_send_jwks(p, slow->req);
}

void sim_server_delay_jwks(sim_platform_t *p, h2o_req_t *req, unsigned delay_ms)
{
    slow_req_t *slow = h2o_mem_alloc_shared(&req->pool, sizeof(*slow), on_slow_dispose);
    memset(slow, 0, sizeof(*slow));
    slow->req = req;
    slow->platform = p;
    slow->deadline = h2o_now(p->loop) + delay_ms;
    slow->entry.cb = on_slow_tick;
    h2o_linklist_insert(&p->slow_reqs, &slow->link);
    h2o_timeout_link(p->loop, &p->tick, &slow->entry);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    return sim_platform_on_req(((sim_handler_t *)self)->platform, req);
}

static void on_conn_close(void *data)
{
    conn_track_t *track = data;
    h2o_linklist_unlink(&track->link);
    track->platform->n_conns--;
    free(track);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    sim_platform_t *p = listener->data;
    h2o_socket_t *sock;
    if (err != NULL || (sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    conn_track_t *track = p->n_conns < SIM_MAX_CONNECTIONS ? calloc(1, sizeof(*track)) : NULL;
    if (track == NULL) {
        lti_log(LTI_LOG_WARN, "sim", "connection closed at accept: %zu connections already open",
                p->n_conns);
        h2o_socket_close(sock);
        return;
    }
    track->sock = sock;
    track->platform = p;
    h2o_linklist_insert(&p->conns, &track->link);
    p->n_conns++;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = track;
    h2o_accept(&p->accept_ctx, sock);
}

/* Closes the listener, responds 503 to delayed requests, and shuts down
 * the socket of every connection so that h2o reads EOF and closes it. Then
 * waits for the connections to close. Returns 0 when all of them closed. */
static int drain_connections(sim_platform_t *p)
{
    if (p->listener != NULL) {
        h2o_socket_close(p->listener);
        p->listener = NULL;
    }
    while (!h2o_linklist_is_empty(&p->slow_reqs)) {
        slow_req_t *slow = H2O_STRUCT_FROM_MEMBER(slow_req_t, link, p->slow_reqs.next);
        slow_unlink(slow);
        sim_server_respond(slow->req, 503, "text/plain", "platform stopping\n", 18);
    }
    /* Let those responses reach the kernel before the sockets shut down. */
    h2o_evloop_run(p->loop, 0);
    h2o_evloop_run(p->loop, 0);
    for (h2o_linklist_t *node = p->conns.next; node != &p->conns; node = node->next) {
        conn_track_t *track = H2O_STRUCT_FROM_MEMBER(conn_track_t, link, node);
        shutdown(h2o_socket_get_fd(track->sock), SHUT_RDWR);
    }
    for (int waited = 0; !h2o_linklist_is_empty(&p->conns) && waited < SHUTDOWN_WAIT_MS;
         waited += 10)
        h2o_evloop_run(p->loop, 10);
    /* One more turn runs the deferred socket disposals. */
    h2o_evloop_run(p->loop, 0);
    return h2o_linklist_is_empty(&p->conns) ? 0 : -1;
}

static void *loop_main(void *arg)
{
    sim_platform_t *p = arg;
    while (!atomic_load(&p->stop))
        h2o_evloop_run(p->loop, TICK_MS);

    if (drain_connections(p) != 0) {
        /* h2o 2.2.5 asserts that no request timer is linked when the
         * context is disposed, so a stuck connection leaks the loop. */
        lti_log(LTI_LOG_WARN, "sim", "platform stopped with %zu connections still open",
                p->n_conns);
        return p; /* sim_platform_stop then keeps `p` instead of freeing it */
    }
    h2o_timeout_dispose(p->loop, &p->tick);
    h2o_context_dispose(&p->ctx);
    h2o_evloop_run(p->loop, 0);
    /* h2o 2.2.5 (evloop build) closes the queue's socket in
     * h2o_multithread_destroy_queue but never frees the queue itself. */
    free(p->ctx.queue);
    p->ctx.queue = NULL;
    h2o_evloop_destroy(p->loop);
    p->loop = NULL;
    h2o_config_dispose(&p->config);
    p->h2o_ready = 0;
    return NULL;
}

/* Opens a listening TCP socket on host:port; host must be loopback. */
static int open_listener(const char *host, uint16_t port, uint16_t *bound, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port_text[8];
    int fd = -1, one = 1;

    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (!sim_host_is_loopback(host)) {
        snprintf(err, errlen, "listen address %s is not loopback; use 127.0.0.1 or ::1", host);
        return -1;
    }
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    if (getaddrinfo(host, port_text, &hints, &ai) != 0) {
        snprintf(err, errlen, "listen address %s is not a numeric IP address", host);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", host, (unsigned)port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static char *dup_or(const char *value, const char *fallback)
{
    return strdup(value != NULL ? value : fallback);
}

/* Copies options into `p`; returns -1 when memory runs out. */
static int copy_options(sim_platform_t *p, const sim_platform_opts_t *opts)
{
    p->issuer =
        opts->issuer_is_base_url ? strdup(p->base_url) : dup_or(opts->issuer, SIM_DEFAULT_ISSUER);
    p->client_id = dup_or(opts->client_id, SIM_DEFAULT_CLIENT_ID);
    p->deployment_id = dup_or(opts->deployment_id, SIM_DEFAULT_DEPLOYMENT_ID);
    p->tool_login = dup_or(opts->tool_login_url, SIM_DEFAULT_TOOL_BASE SIM_LOGIN_PATH);
    p->tool_launch = dup_or(opts->tool_launch_url, SIM_DEFAULT_TOOL_BASE SIM_LAUNCH_PATH);
    p->state_dir = opts->state_dir != NULL ? strdup(opts->state_dir) : NULL;
    p->tool_jwks = opts->tool_jwks_url != NULL ? strdup(opts->tool_jwks_url) : NULL;
    p->dl_requests = json_object();
    p->hint_lifetime = opts->hint_lifetime != 0 ? opts->hint_lifetime : SIM_DEFAULT_HINT_LIFETIME;
    p->slow_ms = SIM_DEFAULT_SLOW_MS;
    /* Canvas's tool_platform.guid is a random string with a ":canvas-lms" suffix. */
    sim_random_hex(p->guid, 20);
    strcat(p->guid, ":canvas-lms");
    return p->issuer == NULL || p->client_id == NULL || p->deployment_id == NULL ||
                   p->tool_login == NULL || p->tool_launch == NULL ||
                   (opts->state_dir != NULL && p->state_dir == NULL)
               ? -1
               : 0;
}

static void setup_h2o(sim_platform_t *p, int fd)
{
    h2o_config_init(&p->config);
    p->config.max_request_entity_size = SIM_MAX_BODY;
    p->config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&p->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    sim_handler_t *handler = (sim_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->platform = p;

    p->loop = h2o_evloop_create();
    h2o_context_init(&p->ctx, p->loop, &p->config);
    p->accept_ctx.ctx = &p->ctx;
    p->accept_ctx.hosts = p->config.hosts;
    h2o_timeout_init(p->loop, &p->tick, TICK_MS);
    h2o_linklist_init_anchor(&p->slow_reqs);
    h2o_linklist_init_anchor(&p->conns);
    p->listener = h2o_evloop_socket_create(p->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    p->listener->data = p;
    h2o_socket_read_start(p->listener, on_accept);
    p->h2o_ready = 1;
}

/* Platforms whose loop could not be disposed because connections were
 * still open at stop. They stay referenced here for the life of the
 * process: the undisposed h2o context lives inside the struct, and keeping
 * it reachable shows LeakSanitizer that this memory is kept on purpose. */
#define MAX_KEPT_PLATFORMS 64
static sim_platform_t *kept_platforms[MAX_KEPT_PLATFORMS];
static size_t n_kept_platforms;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

/* Returns 1 when `p` was added to kept_platforms, 0 when the list is full. */
static int keep_platform(sim_platform_t *p)
{
    int kept = 0;
    pthread_mutex_lock(&kept_lock);
    if (n_kept_platforms < MAX_KEPT_PLATFORMS) {
        kept_platforms[n_kept_platforms++] = p;
        kept = 1;
    }
    pthread_mutex_unlock(&kept_lock);
    return kept;
}

static void free_platform(sim_platform_t *p)
{
    for (size_t i = 0; i < p->n_launches; i++) {
        sim_launch_req_free(p->launches[i]);
        free(p->launches[i]);
    }
    free(p->launches);
    sim_keyring_clear(&p->keys);
    free(p->issuer);
    free(p->client_id);
    free(p->deployment_id);
    free(p->tool_login);
    free(p->tool_launch);
    free(p->state_dir);
    free(p->last_dl_jwt);
    free(p->tool_jwks);
    json_decref(p->dl_requests);
    json_decref(p->last_dl_result);
    sim_services_free(p->services);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

sim_platform_t *sim_platform_start(const sim_platform_opts_t *opts, char *errbuf, size_t errlen)
{
    sim_platform_opts_t defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (opts == NULL)
        opts = &defaults;
    const char *host = opts->listen_host != NULL ? opts->listen_host : "127.0.0.1";
    sim_platform_t *p = calloc(1, sizeof(*p));
    int fd = -1;
    if (p == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->stop, 0);

    /* A peer that closes early must not kill the process with SIGPIPE. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    fd = open_listener(host, opts->port, &p->port, errbuf, errlen);
    if (fd < 0)
        goto fail;
    snprintf(p->base_url, sizeof(p->base_url),
             strchr(host, ':') != NULL ? "http://[%s]:%u" : "http://%s:%u",
             strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, (unsigned)p->port);
    if (copy_options(p, opts) != 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (sim_keyring_init(&p->keys, p->state_dir, errbuf, errlen) != 0)
        goto fail;

    setup_h2o(p, fd);
    fd = -1; /* owned by the listener socket now */
    if (pthread_create(&p->thread, NULL, loop_main, p) != 0) {
        snprintf(errbuf, errlen, "cannot start the platform thread");
        goto fail;
    }
    p->thread_started = 1;
    const char *kv[] = {"url",        p->base_url,     "issuer",         p->issuer, "client_id",
                        p->client_id, "deployment_id", p->deployment_id, NULL};
    lti_log_kv(LTI_LOG_INFO, "sim", "platform started", kv);
    return p;
fail:
    if (fd >= 0)
        close(fd);
    if (p->h2o_ready) {
        /* The loop never ran; close the listener and release h2o directly. */
        atomic_store(&p->stop, 1);
        loop_main(p);
    }
    free_platform(p);
    return NULL;
}

void sim_platform_stop(sim_platform_t *p)
{
    if (p == NULL)
        return;
    void *undisposed = NULL;
    atomic_store(&p->stop, 1);
    if (p->thread_started)
        pthread_join(p->thread, &undisposed);
    const char *kv[] = {"url", p->base_url, NULL};
    lti_log_kv(LTI_LOG_INFO, "sim", "platform stopped", kv);
    if (undisposed != NULL && keep_platform(p))
        return;
    free_platform(p);
}

double sim_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
