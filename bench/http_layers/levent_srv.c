/* levent_srv.c - issue 17's HTTP-layer benchmark: libevent's evhttp answering
 * POST /v2/models/m/infer with a fixed OIP v2 answer, as bench/http_layers.sh times it beside
 * serflow's layer, libmicrohttpd, h2o and nginx.
 *
 * One event_base and one evhttp per thread, each with its own listening socket on the same port
 * (SO_REUSEPORT: the kernel spreads connections over the loops); no libevent locking (a base is
 * only ever touched by its own thread). evhttp reads the whole body before it calls the handler.
 * Asynchronous by default: the handler queues the request on its loop's list and makes the loop's
 * one deferred event active (event_active: it runs in the same loop iteration, after the events
 * already active), which answers the list. --sync answers in the handler.
 *
 * Usage: levent_srv [--threads N] [--sync] PORT   (PORT 0: any; prints "ready 127.0.0.1:PORT",
 * serves until SIGTERM or SIGINT) */
#define _DEFAULT_SOURCE /* SO_REUSEPORT (layer.h) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "layer.h"

/* How often a loop looks at the stop flag. */
#define POLL_MS 100
/* The largest request body read (as serflow serve's default cap). */
#define MAX_BODY_BYTES ((size_t)8 << 20)

struct loop {
    pthread_t thread;
    int fd; /* the listening socket */
    struct event_base *base;
    struct evhttp *http;
    struct event *deferred; /* answers the queue, made active by the handler */
    struct event *poll;     /* looks at the stop flag */
    struct evbuffer *out;   /* the answer's body, by reference (emptied by each reply) */
    struct evhttp_request **q;
    size_t n, cap;
};

static int sync_mode;
static atomic_int stopping;

static void send_json(struct loop *l, struct evhttp_request *req, int status, const char *body,
                      size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add_reference(l->out, body, len, NULL, NULL);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Not Found", l->out);
}

static void run_deferred(evutil_socket_t fd, short what, void *arg)
{
    struct loop *l = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < l->n; i++)
        send_json(l, l->q[i], 200, ANSWER, sizeof(ANSWER) - 1);
    l->n = 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct loop *l = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST ||
        strcmp(evhttp_request_get_uri(req), INFER_PATH) != 0) {
        send_json(l, req, 404, NOT_FOUND, sizeof(NOT_FOUND) - 1);
        return;
    }
    if (sync_mode) {
        send_json(l, req, 200, ANSWER, sizeof(ANSWER) - 1);
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct evhttp_request **r = realloc(l->q, cap * sizeof(*r));
        if (!r) { /* no room to defer it: answered now rather than lost */
            send_json(l, req, 200, ANSWER, sizeof(ANSWER) - 1);
            return;
        }
        l->q = r;
        l->cap = cap;
    }
    l->q[l->n++] = req;
    if (l->n == 1)
        event_active(l->deferred, EV_TIMEOUT, 1);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct loop *l = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&stopping))
        event_base_loopbreak(l->base);
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

/* The loop's base, its evhttp on its own socket and its two events; 0, or -1. */
static int loop_init(struct loop *l)
{
    struct timeval poll_tv = {0, POLL_MS * 1000};
    l->base = event_base_new();
    if (!l->base)
        return -1;
    l->http = evhttp_new(l->base);
    l->out = evbuffer_new();
    l->deferred = event_new(l->base, -1, 0, run_deferred, l);
    l->poll = event_new(l->base, -1, EV_PERSIST, on_poll, l);
    if (!l->http || !l->out || !l->deferred || !l->poll || event_add(l->poll, &poll_tv) != 0)
        return -1;
    evhttp_set_max_body_size(l->http, MAX_BODY_BYTES);
    evhttp_set_gencb(l->http, on_request, l);
    return evhttp_accept_socket(l->http, l->fd);
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

    struct loop loops[MAX_THREADS];
    memset(loops, 0, sizeof(loops));
    for (int i = 0; i < threads; i++) {
        loops[i].fd = layer_listen_shared(port);
        if (loops[i].fd < 0) {
            fprintf(stderr, "levent_srv: cannot listen on 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            return 1;
        }
        if (i == 0) { /* the port the kernel chose, for the other loops' sockets */
            struct sockaddr_in sa;
            socklen_t sl = sizeof(sa);
            if (getsockname(loops[0].fd, (struct sockaddr *)&sa, &sl) != 0)
                return 1;
            port = ntohs(sa.sin_port);
        }
        if (loop_init(&loops[i]) != 0) {
            fprintf(stderr, "levent_srv: cannot set up loop %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i < threads; i++)
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0) {
            fprintf(stderr, "levent_srv: cannot start loop %d\n", i);
            return 1;
        }
    printf("ready 127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    atomic_store(&stopping, 1);
    for (int i = 0; i < threads; i++) {
        pthread_join(loops[i].thread, NULL);
        evhttp_free(loops[i].http);
        event_free(loops[i].deferred);
        event_free(loops[i].poll);
        evbuffer_free(loops[i].out);
        event_base_free(loops[i].base);
        free(loops[i].q);
    }
    return 0;
}
