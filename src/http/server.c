/* SPDX-License-Identifier: MIT */
/*
 * HTTP server: one h2o event loop per thread, each with its own listening
 * sockets bound with SO_REUSEPORT so the kernel spreads connections over
 * the threads. HTTP/1.1 only: the h2c upgrade is turned off, because h2o
 * 2.2.5 as packaged lacks the HTTP/2 rapid-reset fix (CVE-2023-44487).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <h2o.h>
#include "http_int.h"
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/services.h"

typedef struct listener {
    lti_server_t *server;
    h2o_socket_t *sock;
    h2o_accept_ctx_t accept_ctx;
} listener_t;

typedef struct server_thread {
    lti_thread_t thread;
    pthread_t tid;
    h2o_multithread_queue_t *queue;
    listener_t listeners[LTI_CONFIG_MAX_LISTEN];
    int fds[LTI_CONFIG_MAX_LISTEN];
    size_t n_listeners;
} server_thread_t;

struct lti_server {
    lti_app_t *app;
    h2o_globalconf_t globalconf;
    server_thread_t *threads;
    size_t n_threads;
    atomic_int stopping;
    atomic_size_t connections; /* open client connections, all threads */
    atomic_ulong refused;      /* connections closed at accept for being over the cap */
};

static const char stylesheet[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}"
    "header{background:#006fbf;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.3rem}"
    "main{padding:1rem 1.2rem;max-width:48rem}dl.who{display:grid;grid-template-columns:9rem 1fr;"
    "gap:.3rem .8rem}dt{font-weight:600}dd{margin:0}.error h1{color:#a4262c;font-size:1.2rem}"
    "code{background:#eee;padding:0 .3rem}.note{color:#555}\n";

static int on_req(h2o_handler_t *handler, h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;

#define PATH_IS(lit) h2o_memis(path.base, path.len, H2O_STRLIT(lit))
    if (PATH_IS(LTI_OIDC_LOGIN_PATH)) {
        lti_handle_login(req);
    } else if (PATH_IS(LTI_OIDC_LAUNCH_PATH)) {
        lti_handle_launch(req);
    } else if (PATH_IS(LTI_STORAGE_COMPLETE_PATH)) {
        lti_handle_storage_complete(req);
    } else if (PATH_IS(LTI_STORAGE_JS_PATH)) {
        lti_handle_storage_js(req);
    } else if (PATH_IS(LTI_SESSION_CHECK_PATH)) {
        lti_handle_session_check(req);
    } else if (PATH_IS("/hosted/index/launch-context")) {
        lti_handle_launch_context(req);
    } else if (PATH_IS("/hosted/my-media")) {
        lti_handle_page(req, "/hosted/my-media");
    } else if (PATH_IS("/hosted/media-gallery")) {
        lti_handle_page(req, "/hosted/media-gallery");
    } else if (PATH_IS("/hosted/resource")) {
        lti_handle_page(req, "/hosted/resource");
    } else if (PATH_IS("/hosted/static/ltigate.css")) {
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("text/css"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("public, max-age=3600"));
        h2o_send_inline(req, stylesheet, sizeof(stylesheet) - 1);
    } else if (lti_route_tool(req)) {
        /* served: tool keys, developer-key JSON, deep linking, player */
    } else if (PATH_IS("/hosted/quiz")) {
        lti_handle_quiz_page(req);
    } else if (PATH_IS("/hosted/quiz/submit")) {
        lti_handle_quiz_submit(req);
    } else if (PATH_IS("/hosted/api/scores")) {
        lti_handle_score_api(req);
    } else if (PATH_IS("/hosted/api/lineitems")) {
        lti_handle_lineitems(req);
    } else if (PATH_IS("/hosted/api/results")) {
        lti_handle_results(req);
    } else if (PATH_IS("/hosted/api/roster")) {
        lti_handle_roster(req);
    } else if (PATH_IS("/hosted/canvas/authorize")) {
        lti_handle_canvas_authorize(req);
    } else if (PATH_IS("/hosted/canvas/oauth-callback")) {
        lti_handle_canvas_callback(req);
    } else if (path.len > 19 && h2o_memis(path.base, 19, H2O_STRLIT("/hosted/api/canvas/"))) {
        lti_handle_canvas_api(req, h2o_strdup(&req->pool, path.base + 19, path.len - 19).base);
    } else if (PATH_IS("/healthz")) {
        lti_handle_health(req, 0);
    } else if (PATH_IS("/readyz")) {
        lti_handle_health(req, 1);
    } else {
        lti_send_reason(req, "http", LTI_R_not_found, NULL, NULL);
    }
#undef PATH_IS
    return 0;
}

static void on_connection_close(void *data)
{
    lti_server_t *server = data;
    atomic_fetch_sub(&server->connections, 1);
}

/* Accepts one connection unless server.maxConnections are open already.
 * A connection over the cap is closed at once, so idle or slow clients
 * cannot pin more memory than the cap allows. */
static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    listener_t *self = listener->data;
    lti_server_t *server = self->server;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    if (atomic_fetch_add(&server->connections, 1) >= server->app->cfg->max_connections) {
        atomic_fetch_sub(&server->connections, 1);
        unsigned long refused = atomic_fetch_add(&server->refused, 1) + 1;
        /* One line for the first refusal and then one per 1000, so a flood
         * cannot flood the log too. */
        if (refused == 1 || refused % 1000 == 0)
            lti_log(LTI_LOG_WARN, "http",
                    "connection refused: server.maxConnections (%zu) reached, %lu refused so far",
                    server->app->cfg->max_connections, refused);
        h2o_socket_close(sock);
        return;
    }
    sock->on_close.cb = on_connection_close;
    sock->on_close.data = server;
    h2o_accept(&self->accept_ctx, sock);
}

/* Opens a listening socket for host:port with SO_REUSEPORT. */
static int open_listener(const lti_listen_cfg_t *l, char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[8];
    int fd = -1, one = 1;

    snprintf(port, sizeof(port), "%u", l->port);
    int gai = getaddrinfo(l->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(errbuf, errlen, "listen address %s:%u: %s", l->host, l->port, gai_strerror(gai));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(errbuf, errlen, "cannot listen on %s:%u: %s", l->host, l->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void start_listeners(server_thread_t *self, lti_server_t *server)
{
    h2o_evloop_t *loop = self->thread.ctx.loop;

    for (size_t i = 0; i < self->n_listeners; i++) {
        listener_t *l = &self->listeners[i];
        l->server = server;
        l->accept_ctx.ctx = &self->thread.ctx;
        l->accept_ctx.hosts = self->thread.ctx.globalconf->hosts;
        l->sock = h2o_evloop_socket_create(loop, self->fds[i], H2O_SOCKET_FLAG_DONT_READ);
        l->sock->data = l;
        h2o_socket_read_start(l->sock, on_accept);
    }
}

typedef struct loop_arg {
    server_thread_t *thread;
    lti_server_t *server;
} loop_arg_t;

/* Maximum wait for open connections at shutdown, in milliseconds. */
#define DRAIN_MS 5000

/* Lets the connections of every loop finish before the loops stop: a
 * request in progress gets its response (without keep-alive), and idle
 * keep-alive connections are closed at once. h2o 2.2.5 closes an HTTP/1
 * connection only when its request timeout fires, so the timeout is set
 * to 0 here, which expires every waiting connection on the next turn. */
static void drain(server_thread_t *self, lti_server_t *server)
{
    h2o_context_t *ctx = &self->thread.ctx;
    h2o_context_request_shutdown(ctx);
    ctx->http1.req_timeout.timeout = 0;
    uint64_t deadline = h2o_now(ctx->loop) + DRAIN_MS;
    while (atomic_load(&server->connections) > 0 && h2o_now(ctx->loop) < deadline)
        h2o_evloop_run(ctx->loop, 50);
}

static void *loop_main(void *arg)
{
    loop_arg_t *a = arg;
    server_thread_t *self = a->thread;
    lti_server_t *server = a->server;
    free(a);

    lti_store_t *store = server->app->store;
    if (store->ops->attach != NULL)
        store->ops->attach(store, self->thread.ctx.loop);
    start_listeners(self, server);
    while (!atomic_load(&server->stopping))
        h2o_evloop_run(self->thread.ctx.loop, 200);
    for (size_t i = 0; i < self->n_listeners; i++) {
        h2o_socket_read_stop(self->listeners[i].sock);
        h2o_socket_close(self->listeners[i].sock);
    }
    drain(self, server);
    if (store->ops->detach != NULL)
        store->ops->detach(store);
    /* Lets the closes above complete before the thread ends. */
    h2o_evloop_run(self->thread.ctx.loop, 0);
    return NULL;
}

static void setup_globalconf(lti_server_t *server)
{
    const lti_config_t *cfg = server->app->cfg;
    h2o_globalconf_t *gc = &server->globalconf;

    h2o_config_init(gc);
    gc->max_request_entity_size = cfg->max_body;
    gc->http1.req_timeout = cfg->request_timeout_ms;
    gc->http1.upgrade_to_http2 = 0;
    gc->server_name = h2o_iovec_init(H2O_STRLIT("ltigate"));
    h2o_hostconf_t *host = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;
}

lti_server_t *lti_server_start(lti_app_t *app, char *errbuf, size_t errlen)
{
    const lti_config_t *cfg = app->cfg;
    lti_server_t *server = calloc(1, sizeof(*server));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (server == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    server->app = app;
    server->n_threads = cfg->threads > 0 ? (size_t)cfg->threads : (size_t)(ncpu > 0 ? ncpu : 1);
    server->threads = calloc(server->n_threads, sizeof(*server->threads));
    if (server->threads == NULL) {
        free(server);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    setup_globalconf(server);

    /* Bind everything first, so a busy port fails start-up cleanly. */
    for (size_t t = 0; t < server->n_threads; t++) {
        server_thread_t *st = &server->threads[t];
        for (size_t i = 0; i < cfg->n_listen; i++) {
            st->fds[i] = open_listener(&cfg->listen[i], errbuf, errlen);
            if (st->fds[i] < 0) {
                st->n_listeners = i;
                server->n_threads = t + 1;
                lti_server_stop(server);
                return NULL;
            }
        }
        st->n_listeners = cfg->n_listen;
    }
    for (size_t t = 0; t < server->n_threads; t++) {
        server_thread_t *st = &server->threads[t];
        h2o_context_init(&st->thread.ctx, h2o_evloop_create(), &server->globalconf);
        st->thread.app = app;
        st->queue = h2o_multithread_create_queue(st->thread.ctx.loop);
        h2o_multithread_register_receiver(st->queue, &st->thread.jwks_receiver,
                                          lti_launch_on_jwks_messages);
        h2o_multithread_register_receiver(st->queue, &st->thread.svc_receiver,
                                          lti_services_on_messages);
        loop_arg_t *a = malloc(sizeof(*a));
        a->thread = st;
        a->server = server;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1 << 20); /* jansson recursion needs headroom */
        if (pthread_create(&st->tid, &attr, loop_main, a) != 0) {
            free(a);
            pthread_attr_destroy(&attr);
            snprintf(errbuf, errlen, "cannot start loop thread %zu", t);
            server->n_threads = t;
            lti_server_stop(server);
            return NULL;
        }
        pthread_attr_destroy(&attr);
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        char port[8];
        snprintf(port, sizeof(port), "%u", cfg->listen[i].port);
        const char *kv[] = {"host", cfg->listen[i].host, "port", port, NULL};
        lti_log_kv(LTI_LOG_INFO, "http", "listening", kv);
    }
    return server;
}

void lti_server_stop(lti_server_t *server)
{
    if (server == NULL)
        return;
    atomic_store(&server->stopping, 1);
    for (size_t t = 0; t < server->n_threads; t++) {
        server_thread_t *st = &server->threads[t];
        if (st->tid != 0) {
            pthread_join(st->tid, NULL);
            h2o_multithread_unregister_receiver(st->queue, &st->thread.jwks_receiver);
            h2o_multithread_unregister_receiver(st->queue, &st->thread.svc_receiver);
        } else {
            for (size_t i = 0; i < st->n_listeners; i++)
                close(st->fds[i]);
        }
    }
    free(server->threads);
    free(server);
}
