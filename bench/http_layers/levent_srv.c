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
#define _DEFAULT_SOURCE /* SO_REUSEPORT */
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

/* The one inference answer of the benchmark (the same bytes in every server and nginx's). */
static const char ANSWER[] =
    "{\"model_name\":\"m\",\"model_version\":\"1\",\"id\":\"5f1c2a9e8b7d4c3a\",\"outputs\":[{"
    "\"name\":\"class\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[3]}],\"parameters\":{"
    "\"exit_stage\":2}}";
static const char NOT_FOUND[] = "{\"error\":\"no such endpoint\"}";
static const char INFER_PATH[] = "/v2/models/m/infer";
/* Most event loops (threads). */
#define MAX_THREADS 16
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

/* A listening socket on 127.0.0.1:port that shares its port (SO_REUSEPORT); -1 on failure. */
static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
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

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--threads N] [--sync] PORT\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    int threads = 2, port = -1;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--sync") == 0) {
            sync_mode = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MAX_THREADS)
                return usage(argv[0]);
            threads = (int)v;
        } else {
            long v = strtol(argv[i], &end, 10);
            if (*end || end == argv[i] || v < 0 || v > 65535 || port >= 0)
                return usage(argv[0]);
            port = (int)v;
        }
    }
    if (port < 0)
        return usage(argv[0]);
    /* SIGTERM and SIGINT are taken by sigwait below only (the loops inherit the mask) */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct loop loops[MAX_THREADS];
    memset(loops, 0, sizeof(loops));
    for (int i = 0; i < threads; i++) {
        loops[i].fd = listen_on(port);
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
