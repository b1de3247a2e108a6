/* h2o_srv.c - issue 17's HTTP-layer benchmark: libh2o-evloop (HTTP/1.1, Debian's h2o 2.2) answering
 * POST /v2/models/m/infer with a fixed OIP v2 answer, as bench/http_layers.sh times it beside
 * serflow's layer, libmicrohttpd, libevent and nginx.
 *
 * One evloop and one h2o context per thread, each with its own listening socket on the same port
 * (SO_REUSEPORT: the kernel spreads connections over the loops). h2o 2.2 reads the whole body
 * before it calls the handler (req->entity). Asynchronous by default, h2o's way: the handler links
 * a deferred callback into its context's zero_timeout (the list of callbacks the loop runs after
 * the round's I/O, before it polls again) and returns; the callback answers. --sync answers in
 * the handler.
 *
 * Usage: h2o_srv [--threads N] [--sync] PORT   (PORT 0: any; prints "ready 127.0.0.1:PORT",
 * serves until SIGTERM or SIGINT) */
#define _DEFAULT_SOURCE /* SO_REUSEPORT (layer.h) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "layer.h"

/* Longest wait of a loop for events: how soon it sees the stop flag. */
#define POLL_MS 100
/* Connections accepted per listener event, as h2o's own server bounds it, so that one round
 * does not take a burst of connections away from the other loops. */
#define ACCEPT_PER_EVENT 16

struct loop {
    pthread_t thread;
    int fd; /* the listening socket */
    h2o_evloop_t *evloop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
};

static h2o_globalconf_t config;
static int sync_mode;
static atomic_int stopping;

/* A request handed off by the handler: answered by the zero_timeout callback. Allocated in the
 * request's pool; unlinked when the request goes before its answer (its client closed). */
struct deferred {
    h2o_timeout_entry_t entry;
    h2o_req_t *req;
};

static void send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Not Found";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len); /* static bytes: nothing copied */
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

static void deferred_run(h2o_timeout_entry_t *entry)
{
    struct deferred *d = (struct deferred *)((char *)entry - offsetof(struct deferred, entry));
    send_json(d->req, 200, ANSWER, sizeof(ANSWER) - 1);
}

static void deferred_dispose(void *p)
{
    struct deferred *d = p;
    if (h2o_timeout_is_linked(&d->entry))
        h2o_timeout_unlink(&d->entry);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
        !h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT(INFER_PATH))) {
        send_json(req, 404, NOT_FOUND, sizeof(NOT_FOUND) - 1);
        return 0;
    }
    if (sync_mode) {
        send_json(req, 200, ANSWER, sizeof(ANSWER) - 1);
        return 0;
    }
    struct deferred *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), deferred_dispose);
    memset(d, 0, sizeof(*d));
    d->entry.cb = deferred_run;
    d->req = req;
    h2o_timeout_link(req->conn->ctx->loop, &req->conn->ctx->zero_timeout, &d->entry);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop *l = listener->data;
    if (err)
        return;
    for (int i = 0; i < ACCEPT_PER_EVENT; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock)
            return;
        int one = 1;
        setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        h2o_accept(&l->accept, sock);
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    l->evloop = h2o_evloop_create();
    h2o_context_init(&l->ctx, l->evloop, &config);
    l->accept.ctx = &l->ctx;
    l->accept.hosts = config.hosts;
    h2o_socket_t *sock = h2o_evloop_socket_create(l->evloop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = l;
    h2o_socket_read_start(sock, on_accept);
    while (!atomic_load(&stopping))
        h2o_evloop_run(l->evloop, POLL_MS);
    return NULL;
}

int main(int argc, char **argv)
{
    struct layer_opts o;
    sigset_t stop; /* taken by sigwait below only */
    int rc = layer_start(argc, argv, &o, &stop);
    if (rc)
        return rc;
    int threads = o.threads, port = o.port;
    sync_mode = o.sync;

    h2o_config_init(&config);
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    struct loop loops[MAX_THREADS];
    memset(loops, 0, sizeof(loops));
    for (int i = 0; i < threads; i++) {
        loops[i].fd = layer_listen_shared(port);
        if (loops[i].fd < 0) {
            fprintf(stderr, "h2o_srv: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
            return 1;
        }
        if (i == 0) { /* the port the kernel chose, for the other loops' sockets */
            struct sockaddr_in sa;
            socklen_t sl = sizeof(sa);
            if (getsockname(loops[0].fd, (struct sockaddr *)&sa, &sl) != 0)
                return 1;
            port = ntohs(sa.sin_port);
        }
    }
    for (int i = 0; i < threads; i++)
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0) {
            fprintf(stderr, "h2o_srv: cannot start loop %d\n", i);
            return 1;
        }
    printf("ready 127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    atomic_store(&stopping, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(loops[i].thread, NULL);
    return 0;
}
