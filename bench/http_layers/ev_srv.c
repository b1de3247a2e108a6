/* ev_srv.c - issue 17's HTTP-layer benchmark: serflow's own event-driven layer
 * (src/serve/wire/ev.c) answering POST /v2/models/m/infer with a fixed OIP v2 answer, as
 * bench/http_layers.sh times it beside libmicrohttpd, h2o, libevent and nginx.
 *
 * The answer is given as the ingress gives it: asynchronously. The handler only queues the
 * request on its loop's list; the loop's round hook (called once the loop has handled every event
 * of a round, before it waits again: the hook where the ingress sends its batch) answers the list.
 * --sync answers inside the handler instead. The layer's bounds are the ones `serflow serve` runs
 * with by default (cmd_serve.c).
 *
 * Usage: ev_srv [--threads N] [--sync] PORT   (PORT 0: any; prints "ready 127.0.0.1:PORT",
 * serves until SIGTERM or SIGINT) */
#define _DEFAULT_SOURCE /* SO_REUSEPORT in layer.h */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/core.h"
#include "wire/ev.h"
#include "wire/httpd.h"

#include "layer.h"

/* The requests a loop's handler queued in this round, answered by its round hook. Touched only by
 * the loop's own thread. */
struct queue {
    struct sf__ev_req **req;
    size_t n, cap;
};

struct srv {
    int sync;
    struct queue q[SF__EV_MAX_LOOPS];
};

static void answer(struct sf__ev_req *req)
{
    struct sf__httpd_resp resp;
    memset(&resp, 0, sizeof(resp));
    char *body = sf_strdup(ANSWER);
    if (body)
        sf__httpd_json(&resp, 200, body);
    else
        sf__httpd_error(&resp, 500, "out of memory");
    sf__ev_respond(req, &resp);
}

static void handler(void *ctx, struct sf__ev_req *req)
{
    struct srv *s = ctx;
    if (strcmp(req->method, "POST") != 0 || strcmp(req->url, INFER_PATH) != 0) {
        struct sf__httpd_resp resp;
        memset(&resp, 0, sizeof(resp));
        sf__httpd_error(&resp, 404, "%s %.200s: no such endpoint", req->method, req->url);
        sf__ev_respond(req, &resp);
        return;
    }
    if (s->sync) {
        answer(req);
        return;
    }
    struct queue *q = &s->q[req->loop];
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct sf__ev_req **r = realloc(q->req, cap * sizeof(*r));
        if (!r) { /* no room to defer it: answered now rather than lost */
            answer(req);
            return;
        }
        q->req = r;
        q->cap = cap;
    }
    q->req[q->n++] = req;
}

/* The end of a loop's round: what its handler queued is answered, on the loop's own thread. */
static void round_end(void *ctx, int loop)
{
    struct srv *s = ctx;
    struct queue *q = &s->q[loop];
    for (size_t i = 0; i < q->n; i++)
        answer(q->req[i]);
    q->n = 0;
}

/* The round hook runs after rounds that handled events; the tick answers anything a round without
 * events might have left (none expected: the layer's own wake-ups are events). */
static void tick(void *ctx, int loop, double now_s)
{
    (void)now_s;
    round_end(ctx, loop);
}

int main(int argc, char **argv)
{
    struct srv s;
    memset(&s, 0, sizeof(s));
    struct layer_opts o;
    sigset_t stop; /* taken by sigwait below only */
    int rc = layer_start(argc, argv, &o, &stop);
    if (rc)
        return rc;
    int threads = o.threads, port = o.port;
    s.sync = o.sync;

    struct sf__ev_cfg cfg = {.host = "127.0.0.1",
                             .port = port,
                             .loops = threads,
                             .max_connections = 1024,
                             .max_per_client = 512,
                             .idle_timeout_s = 10,
                             .request_timeout_s = 10,
                             .max_body_bytes = (size_t)8 << 20,
                             .max_buffered_bytes = (size_t)256 << 20,
                             .handler = handler,
                             .ctx = &s,
                             .tick = s.sync ? NULL : tick,
                             .round = s.sync ? NULL : round_end};
    struct sf_err err = {{0}};
    struct sf__ev *ev = NULL;
    if (sf__ev_start(&ev, &cfg, &err) != SF_OK) {
        fprintf(stderr, "ev_srv: %s\n", err.msg);
        return 1;
    }
    printf("ready 127.0.0.1:%d\n", sf__ev_port(ev));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    sf__ev_quiesce(ev);
    sf__ev_drain(ev, 2.0);
    sf__ev_stop(ev);
    for (int i = 0; i < SF__EV_MAX_LOOPS; i++)
        free(s.q[i].req);
    return 0;
}
