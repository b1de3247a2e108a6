/* ev.h - the event-driven HTTP/1.1 data plane of the ingress (internal to src/serve): a few event
 * loops (epoll, one thread each) that accept, read, parse and answer every client connection, and
 * carry the ingress's own calls to its workers (ev client below). No thread per connection and no
 * hand-off on the hot path: the loop thread that completes a request's head and body calls the
 * handler; the handler's answer may come at once or later from any thread (the one that finished
 * the request's batch), which writes it to the socket itself, without waking the loop that owns
 * the connection unless that loop has work left (a partial write, a pipelined request).
 *
 * Every bound of the thread-per-connection layer (httpd.h) holds, event-driven
 * (docs/security.md "Serving plane"):
 *   - connections: a total cap and a cap per client address, checked at accept (beyond: closed
 *     at once); a connection costs its state and a 16 KiB read buffer, never a thread;
 *   - time: each loop checks its connections every SF__EV_TICK_S: a request must arrive whole
 *     within request_timeout_s of the connection's start or of its previous answer (a trickled
 *     head or body is cut whatever its pace), a connection silent (reading or being written to)
 *     for idle_timeout_s is closed;
 *   - memory: the head at most SF_HTTP_MAX_HEAD_BYTES (431); a body over the cap is refused (413)
 *     from its Content-Length before it is read, a chunked one as it is decoded; a body that
 *     does not fit the read buffer takes its bytes from the process's budget before it is read
 *     (503 beyond), as do the handlers' parses (sf__ev_reserve);
 *   - framing: two Content-Length fields, Content-Length with Transfer-Encoding, a
 *     Transfer-Encoding other than chunked, a malformed head: 400 (sf_http_framing);
 *   - drain: sf__ev_quiesce answers the backlog 503 and closes the listener, sf__ev_closing
 *     makes every answer close its connection, sf__ev_drain waits until every request whose head
 *     arrived has had its answer written.
 * Answers to refused or closing requests are followed by a lingering close (the rest of the
 * request read and dropped, bounded), so a client reads its answer rather than a reset. */
#ifndef SERFLOW_SERVE_EV_H
#define SERFLOW_SERVE_EV_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/http.h"
#include "wire/httpd.h"

/* How often each loop checks its connections' deadlines (and runs the tick hook). */
#define SF__EV_TICK_S 0.05
/* Most event loops (threads) of one server. */
#define SF__EV_MAX_LOOPS 16
/* A loop polls (spin_s) only while at most this many requests are in flight: with more, the
 * cores are busy with them and the next event is never far. */
#define SF__EV_SPIN_MAX_ACTIVE 4
/* The adaptive poll window (sf__ev_poll_next): it grows from this when an event came just after
 * it, doubling, and falls to 0 from under the same after halvings when events come late. */
#define SF__EV_POLL_GROW_START_S 10e-6

/* The next poll window of a loop, cpuidle-haltpoll's rule (Linux's guest idle polling): waited_s
 * from the start of the poll to the event that ended the wait (INFINITY: none came before the
 * loop's tick). An event after the window but within cap_s: a longer poll would have caught it,
 * so the window doubles (at least SF__EV_POLL_GROW_START_S, at most cap_s). An event after
 * cap_s: events this far apart do not pay for polling, so it halves (0 under
 * SF__EV_POLL_GROW_START_S). Within the window: unchanged. cap_s 0: always 0. */
double sf__ev_poll_next(double poll_s, double waited_s, double cap_s);

struct sf__ev;
struct sf__ev_conn;

/* One request, valid from the handler's call until its answer (sf__ev_respond). */
struct sf__ev_req {
    const char *method; /* NUL-terminated */
    const char *url;    /* the path, percent-decoded, NUL-terminated (no query) */
    const char *body;   /* len bytes (NULL when none): in the connection's buffer, not copied */
    size_t len;
    const struct sf_http_head *head;
    int loop;                 /* the loop (thread) that owns the connection */
    struct sf__ev_conn *conn; /* the layer's */
};

typedef void (*sf__ev_handler)(void *ctx, struct sf__ev_req *req);

struct sf__ev_cfg {
    const char *host; /* numeric IPv4 */
    int port;         /* 0: any */
    int loops;        /* event loops (threads), 1..SF__EV_MAX_LOOPS */
    unsigned max_connections;
    unsigned max_per_client;  /* connections from one IP address; 0: no cap */
    double idle_timeout_s;    /* a connection silent this long is closed */
    double request_timeout_s; /* a request must arrive whole within this; 0: no deadline */
    size_t max_body_bytes;
    size_t max_buffered_bytes; /* the process's budget for bodies and reservations; 0: none */
    /* After a round with events, while at most SF__EV_SPIN_MAX_ACTIVE requests are in flight, a
     * loop polls for the next event before it sleeps: for a window that adapts to how far apart
     * its events come (sf__ev_poll_next), at most this long (0: never). */
    double spin_s;
    /* Called on the loop's thread for every whole request; must lead to exactly one
     * sf__ev_respond for it (now or later, from any thread). */
    sf__ev_handler handler;
    void *ctx;
    /* Called on each loop's thread every SF__EV_TICK_S (may be NULL). */
    void (*tick)(void *ctx, int loop, double now_s);
    /* Called on each loop's thread once it has handled every event of a round, before it waits
     * again (may be NULL): what the round's requests left to do together (a batch of all of them)
     * is done here. */
    void (*round)(void *ctx, int loop);
};

int sf__ev_start(struct sf__ev **out, const struct sf__ev_cfg *cfg, struct sf_err *err);
int sf__ev_port(const struct sf__ev *ev);
int sf__ev_loops(const struct sf__ev *ev);
/* Answers req with resp (the body and headers as httpd.h's helpers fill them; resp->body is
 * taken over). From any thread, once per request: written at once when the socket takes it,
 * else by the owning loop as the socket drains. */
void sf__ev_respond(struct sf__ev_req *req, struct sf__httpd_resp *resp);
/* A request field's value (NUL-terminated) or NULL. */
const char *sf__ev_header(const struct sf__ev_req *req, const char *name);
/* Reserves bytes of the process's budget for this request until it is answered. 0, or -1 when
 * the budget has no room (answer 503). */
int sf__ev_reserve(struct sf__ev_req *req, size_t bytes);
/* 1 when the request's client has gone (its connection reset or closed). */
int sf__ev_client_gone(const struct sf__ev_req *req);

/* Watches fd on loop (edge-triggered in, out and hang-up): cb(arg, epoll events) runs on that
 * loop's thread. The caller keeps fd open until sf__ev_unwatch has returned. */
struct sf__ev_watch {
    int kind; /* the layer's */
    int fd;
    void (*cb)(void *arg, uint32_t events);
    void *arg;
};
int sf__ev_watch(struct sf__ev *ev, int loop, struct sf__ev_watch *w);
void sf__ev_unwatch(struct sf__ev *ev, int loop, struct sf__ev_watch *w);
/* Runs fn(arg) on loop's thread soon, after the events of its current round (an eventfd wake:
 * for work per batch at most, never per request). */
int sf__ev_post(struct sf__ev *ev, int loop, void (*fn)(void *arg), void *arg);
/* The index of ev's loop whose thread calls this; -1 from any other thread (or ev NULL). */
int sf__ev_self(const struct sf__ev *ev);

void sf__ev_quiesce(struct sf__ev *ev);
void sf__ev_closing(struct sf__ev *ev);
int sf__ev_drain(struct sf__ev *ev, double timeout_s);
size_t sf__ev_buffered(struct sf__ev *ev);
int sf__ev_connections(struct sf__ev *ev);
/* Seconds the loops have spent polling so far: wall time in the poll, an upper bound on the CPU
 * it took (a poll yields its core to any thread waiting for it). */
double sf__ev_poll_seconds(struct sf__ev *ev);
/* Closes every connection and joins the loops. */
void sf__ev_stop(struct sf__ev *ev);

/* ---- a client connection (evc.c): the ingress's keep-alive, pipelined calls to a worker ---- */

/* Requests outstanding on one connection (sent, not answered). */
#define SF__EVC_MAX_INFLIGHT 4

struct sf__evc;
struct sf__evc_resp {
    int status;
    const struct sf_http_head *head; /* fields as views */
    const char *body;
    size_t len;
};
/* rc SF_OK with the response; SF_EIO (connection refused, reset, closed), SF_ETIMEDOUT, SF_EPARSE
 * (a malformed answer), SF_ETOOBIG (over the cap) with resp NULL. Runs on the connection's loop
 * (or on the sender's thread when the request could not be sent at all), no lock held. */
typedef void (*sf__evc_cb)(void *arg, int rc, const struct sf__evc_resp *resp);
/* A connection to endpoint "HOST:PORT" (numeric IPv4) watched by loop; opened at the first send,
 * and again after a failure. Answers above max_resp_bytes (body) are refused. */
int sf__evc_new(struct sf__ev *ev, int loop, const char *endpoint, size_t max_resp_bytes,
                struct sf__evc **out, struct sf_err *err);
/* Sends head (copied) and body (borrowed until cb) as one request; cb gets its answer, in order
 * with the others outstanding. deadline_s on the monotonic clock (0: none). Any thread. SF_OK, or
 * SF_ETOOBIG when SF__EVC_MAX_INFLIGHT are outstanding (cb not called). */
int sf__evc_send(struct sf__evc *c, const char *head, size_t head_len, const void *body,
                 size_t body_len, double deadline_s, sf__evc_cb cb, void *arg);
/* Fails what is outstanding (cb with SF_EIO) and frees c. Not from its own callback. */
void sf__evc_free(struct sf__evc *c);
/* Called by the owner's tick: fails requests past their deadline. */
void sf__evc_tick(struct sf__evc *c, double now_s);

#endif
