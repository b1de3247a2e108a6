/*
 * ev.c - the event-driven HTTP/1.1 server of the ingress (bounds and design in ev.h): a few
 * epoll loops, each the only reader of the connections it accepted; requests parsed in place in
 * a per-connection buffer (the body is not copied: the handler gets a view of it); answers
 * written by whichever thread has them, under the connection's lock, with one sendmsg; deadlines
 * kept by each loop's tick, never by a thread per connection.
 *
 * A connection is in one of these states (conn.state, under conn.mu):
 *   READING   the owner loop reads and parses the next request;
 *   HANDLING  the owner loop is inside the handler for the request (unlocked);
 *   WAITING   the handler returned, the answer has not come yet: the owner only notes events;
 *   WRITING   an answer is partly written: the owner writes the rest as the socket drains;
 *   LINGER    an answer that closes the connection is written: the rest of the client's bytes
 *             are read and dropped until it hangs up (bounded), so it reads no reset;
 *   CLOSED    to be freed by the owner.
 * Only the owner frees a connection; another thread that leaves it with work to do (a pipelined
 * request, a close) puts it on the owner's list and wakes it (an eventfd write: never on the path
 * of an ordinary keep-alive request).
 */
#include "wire/ev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "serflow/wire.h"
#include "wire/wire_int.h"

/* A connection's read buffer: a whole head (SF_HTTP_MAX_HEAD_BYTES) fits, and so does a body
 * of one image in the binary tensor extension (3.2 kB) or in JSON (10 kB) after a short head. */
#define EV_IN_BYTES ((size_t)SF_HTTP_MAX_HEAD_BYTES)
/* Backlog of the listening socket. */
#define EV_LISTEN_BACKLOG 1024
/* Connections accepted per listener event (the others wait for the next round or loop). */
#define EV_ACCEPT_BATCH 64
/* Events taken per epoll_wait. */
#define EV_EVENTS 256
/* At the connection cap, a connection reading one request for this long may be closed to make
 * room for a new client (the slowest first): a second is far more than an honest client takes
 * to send a request on loopback, yet short against the request deadline. */
#define EV_EVICT_MIN_AGE_S 1.0
/* A lingering close waits at most this long for the client to hang up. */
#define EV_LINGER_S 2.0
/* At quiesce: connections still in the backlog are answered 503 rather than reset (at most this
 * many, each given this long to read its answer and hang up). */
/* A chunked body's buffer holds the decoded data and the raw bytes not yet decoded: the cap plus
 * this much framing. */
#define EV_CHUNK_SLACK_BYTES ((size_t)64 << 10)

enum { K_LISTEN = 1, K_CONN, K_WAKE, K_WATCH };
enum cstate { CS_READING = 0, CS_HANDLING, CS_WAITING, CS_WRITING, CS_LINGER, CS_CLOSED };
enum rphase { RP_HEAD = 0, RP_BODY, RP_CHUNKED };
enum rstep { R_MORE = 0, R_REQUEST, R_ANSWERED, R_CLOSE };

struct post {
    void (*fn)(void *arg);
    void *arg;
    struct post *next;
};

struct loop {
    int kind; /* K_WAKE: the eventfd's epoll tag */
    struct sf__ev *ev;
    int idx;
    int ep;
    int wake_fd;
    pthread_t thread;
    int has_thread;
    pthread_mutex_t mu; /* todo and posts */
    struct sf__ev_conn *todo;
    struct post *posts;
    struct sf__ev_conn *conns; /* the loop thread's own list: it alone changes it, under conns_mu,
                                  and reads it without; other loops read it under conns_mu (an
                                  eviction at the connection cap) */
    pthread_mutex_t conns_mu;
    double next_tick_s;
};

struct client {
    uint32_t addr;
    unsigned n;
};

struct sf__ev {
    struct sf__ev_cfg cfg;
    int listen_kind; /* K_LISTEN: the listener's epoll tag */
    int ls;
    int port;
    struct loop loop[SF__EV_MAX_LOOPS];
    int n_loops;
    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;
    int listening;
    int closing;
    int stopping;
    int n_conns;
    int next_loop; /* the loop the next accepted connection goes to (round-robin) */
    int active;    /* requests between their head and the end of their answer */
    size_t buffered;
    double polled_s;        /* every loop's wall time spent polling (sf__ev_poll_seconds) */
    struct client *clients; /* max_connections entries, n > 0 in use */
};

struct sf__ev_conn {
    int kind; /* K_CONN */
    int fd;
    struct loop *loop;
    pthread_mutex_t mu;
    enum cstate state;
    uint32_t addr;
    struct sf__ev_conn *prev, *next, *todo_next;
    int in_todo;
    double since_s;  /* connection start or previous answer: the request deadline's start */
    double active_s; /* last byte read or written */
    /* input */
    char *in;
    size_t in_len, scan;
    int drained; /* the last read emptied the socket */
    int rd_eof;  /* the client shut its side */
    int gone;    /* reset or closed: answers are dropped */
    int pending_in;
    /* the request being read or handled */
    enum rphase rp;
    struct sf_http_head head;
    uint64_t body_want;
    char *body; /* a body that does not fit the read buffer, else NULL */
    size_t body_len, body_cap, raw_len;
    struct sf_http_chunked ck;
    size_t reserved; /* budget held by this request */
    int refuse;      /* status of a refusal decided while reading a chunked body */
    char why[160];
    size_t discarded;
    int keep_alive, is_head, counted;
    struct sf__ev_req req;
    /* output */
    char *out;
    size_t out_len, out_off;
    int close_after;
    size_t linger_bytes;
    int uncounted; /* its places under the caps were given back (evicted) */
};

static double now_s(void)
{
    return sf_monotonic_s();
}

/* ---- budget ---- */

static int budget_take(struct sf__ev *ev, size_t bytes)
{
    pthread_mutex_lock(&ev->mu);
    size_t max = ev->cfg.max_buffered_bytes;
    int rc = 0;
    if (max && (bytes > max || ev->buffered > max - bytes))
        rc = -1;
    else
        ev->buffered += bytes;
    pthread_mutex_unlock(&ev->mu);
    return rc;
}

static void budget_give(struct sf__ev *ev, size_t bytes)
{
    if (!bytes)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->buffered -= bytes;
    pthread_mutex_unlock(&ev->mu);
}

int sf__ev_reserve(struct sf__ev_req *req, size_t bytes)
{
    struct sf__ev_conn *c = req->conn;
    if (budget_take(c->loop->ev, bytes) != 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    c->reserved += bytes;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- the owner's list of work ---- */

static void wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->wake_fd, &one, sizeof(one));
    (void)w; /* a full counter still wakes the loop */
}

/* Puts c on its owner's list (c->mu held). */
static void schedule(struct sf__ev_conn *c)
{
    struct loop *l = c->loop;
    pthread_mutex_lock(&l->mu);
    int first = !l->todo;
    if (!c->in_todo) {
        c->in_todo = 1;
        c->todo_next = l->todo;
        l->todo = c;
    }
    pthread_mutex_unlock(&l->mu);
    if (first)
        wake(l);
}

int sf__ev_post(struct sf__ev *ev, int loop, void (*fn)(void *arg), void *arg)
{
    struct post *p = malloc(sizeof(*p));
    if (!p)
        return SF_ENOMEM;
    struct loop *l = &ev->loop[loop];
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&l->mu);
    p->next = l->posts;
    l->posts = p;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    return SF_OK;
}

/* ---- answers ---- */

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

/* Appends s (len bytes) to buf of size at *n; what does not fit is cut (the head's buffer is
 * sized for every header the answers carry). */
static void app(char *buf, size_t size, size_t *n, const char *s, size_t len)
{
    if (*n >= size)
        return;
    if (len > size - *n)
        len = size - *n;
    memcpy(buf + *n, s, len);
    *n += len;
}

static void app_s(char *buf, size_t size, size_t *n, const char *s)
{
    app(buf, size, n, s, strlen(s));
}

static void app_u(char *buf, size_t size, size_t *n, unsigned long long v)
{
    char d[24];
    int k = 0;
    do
        d[sizeof(d) - 1 - k++] = (char)('0' + v % 10);
    while (v /= 10);
    app(buf, size, n, d + sizeof(d) - k, (size_t)k);
}

/* The answer's head into buf; its length (written with memcpy: printf's formatting was a
 * visible part of an answer's time). */
static size_t answer_head(char *buf, size_t size, const struct sf__httpd_resp *r, int close)
{
    size_t n = 0;
    app_s(buf, size, &n, "HTTP/1.1 ");
    app_u(buf, size, &n, (unsigned)r->status);
    app_s(buf, size, &n, " ");
    app_s(buf, size, &n, reason(r->status));
    app_s(buf, size, &n, "\r\nContent-Length: ");
    app_u(buf, size, &n, r->len);
    app_s(buf, size, &n, "\r\n");
    if (r->content_type) {
        app_s(buf, size, &n, "Content-Type: ");
        app_s(buf, size, &n, r->content_type);
        app_s(buf, size, &n, "\r\n");
    }
    for (int i = 0; i < SF__HTTPD_MAX_HEADERS; i++)
        if (r->hdr_name[i]) {
            app_s(buf, size, &n, r->hdr_name[i]);
            app_s(buf, size, &n, ": ");
            app_s(buf, size, &n, r->hdr_value[i]);
            app_s(buf, size, &n, "\r\n");
        }
    if (r->auth) {
        char mac[80];
        sf_auth_sign_response(r->auth_key, r->auth_nonce, r->status, mac, sizeof(mac));
        app_s(buf, size, &n, SF_AUTH_RESPONSE_HEADER);
        app_s(buf, size, &n, ": ");
        app_s(buf, size, &n, mac);
        app_s(buf, size, &n, "\r\n");
    }
    if (close)
        app_s(buf, size, &n, "Connection: close\r\n");
    app_s(buf, size, &n, "\r\n");
    return n;
}

/* The request is over (its answer written or dropped): its memory and budget back, the next
 * request's bytes moved to the front of the buffer (c->mu held). */
static void finish_request(struct sf__ev_conn *c)
{
    struct sf__ev *ev = c->loop->ev;
    size_t used;
    if (c->body)
        used = c->in_len; /* the buffer held the head and the body's start only */
    else
        used = c->head.head_bytes + (size_t)c->body_want;
    if (used > c->in_len)
        used = c->in_len;
    if (c->rp == RP_CHUNKED && c->body && c->raw_len) {
        /* bytes after the chunked body (a pipelined request) go back to the read buffer */
        size_t keep = c->raw_len < EV_IN_BYTES ? c->raw_len : EV_IN_BYTES;
        memcpy(c->in, c->body + c->body_len, keep);
        c->in_len = keep;
        if (keep < c->raw_len)
            c->gone = 1; /* more pipelined than a head holds: not a client to keep */
    } else {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    c->scan = 0;
    free(c->body);
    c->body = NULL;
    budget_give(ev, c->reserved);
    c->reserved = 0;
    c->body_len = c->body_cap = c->raw_len = 0;
    c->body_want = 0;
    memset(&c->ck, 0, sizeof(c->ck));
    c->rp = RP_HEAD;
    c->refuse = 0;
    c->discarded = 0;
    c->is_head = 0;
    c->head.head_bytes = 0;
    c->head.n_fields = 0;
    if (c->counted) {
        c->counted = 0;
        pthread_mutex_lock(&ev->mu);
        ev->active--;
        pthread_cond_broadcast(&ev->cv);
        pthread_mutex_unlock(&ev->mu);
    }
    c->since_s = c->active_s = now_s();
}

/* After an answer is out: on to the next request, or to the lingering close (c->mu held). */
static void answered(struct sf__ev_conn *c)
{
    finish_request(c);
    if (c->gone) {
        c->state = CS_CLOSED;
    } else if (c->close_after || c->rd_eof) {
        shutdown(c->fd, SHUT_WR);
        c->state = CS_LINGER;
        c->linger_bytes = 0;
        c->in_len = 0;
    } else {
        c->state = CS_READING;
    }
}

/* Writes what is left of the answer; 1 done, 0 the socket is full, -1 the client is gone. */
static int flush_out(struct sf__ev_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
        c->active_s = now_s();
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 1;
}

/* Writes an answer (c->mu held); takes r->body. */
static void respond_locked(struct sf__ev_conn *c, struct sf__httpd_resp *r)
{
    struct sf__ev *ev = c->loop->ev;
    if (!r->status)
        r->status = 500;
    pthread_mutex_lock(&ev->mu);
    int closing = ev->closing;
    pthread_mutex_unlock(&ev->mu);
    if (closing || !c->keep_alive || c->rd_eof)
        c->close_after = 1;
    char head[SF__HTTPD_MAX_HEADERS * 160 + 512];
    size_t hl = answer_head(head, sizeof(head), r, c->close_after);
    size_t bl = c->is_head ? 0 : r->len;
    int done = 1;
    if (!c->gone) {
        struct iovec iov[2] = {{head, hl}, {r->body, bl}};
        struct msghdr m;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = bl ? 2 : 1;
        ssize_t w;
        do
            w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        size_t sent = w > 0 ? (size_t)w : 0;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            c->gone = 1;
        } else if (sent < hl + bl) {
            /* the rest is written by the owner as the socket drains */
            size_t left = hl + bl - sent;
            c->out = malloc(left);
            if (!c->out) {
                c->gone = 1;
            } else {
                size_t o = 0;
                if (sent < hl) {
                    memcpy(c->out, head + sent, hl - sent);
                    o = hl - sent;
                    memcpy(c->out + o, r->body, bl);
                } else {
                    memcpy(c->out, r->body + (sent - hl), bl - (sent - hl));
                }
                c->out_len = left;
                c->out_off = 0;
                done = 0;
            }
        }
        c->active_s = now_s();
    }
    free(r->body);
    r->body = NULL;
    for (int i = 0; i < SF__HTTPD_MAX_HEADERS; i++) { /* long header values' heap copies */
        free(r->hdr_heap[i]);
        r->hdr_heap[i] = NULL;
    }
    if (done)
        answered(c);
    else
        c->state = CS_WRITING;
}

void sf__ev_respond(struct sf__ev_req *req, struct sf__httpd_resp *resp)
{
    struct sf__ev_conn *c = req->conn;
    pthread_mutex_lock(&c->mu);
    int in_handler = c->state == CS_HANDLING;
    respond_locked(c, resp);
    /* the owner goes on by itself when it is still in the handler; else it is told only when
     * something is left for it: a pipelined request, bytes not read yet, a close */
    if (!in_handler && c->state != CS_WRITING &&
        (c->state != CS_READING || c->pending_in || !c->drained || c->in_len))
        schedule(c);
    pthread_mutex_unlock(&c->mu);
}

/* A refusal by the layer itself: {"error": msg}, the connection closed after it. */
static void refuse(struct sf__ev_conn *c, int status, const char *msg)
{
    struct sf__httpd_resp r;
    memset(&r, 0, sizeof(r));
    sf__httpd_error(&r, status, "%s", msg);
    if (status == 503)
        sf__httpd_header(&r, "Retry-After", "1");
    c->close_after = 1;
    respond_locked(c, &r);
}

const char *sf__ev_header(const struct sf__ev_req *req, const char *name)
{
    const struct sf_http_field *f = sf_http_field_get(req->head, name);
    return f ? f->value : NULL;
}

int sf__ev_client_gone(const struct sf__ev_req *req)
{
    struct sf__ev_conn *c = req->conn;
    pthread_mutex_lock(&c->mu);
    int g = c->gone;
    pthread_mutex_unlock(&c->mu);
    return g;
}

/* ---- reading a request ---- */

/* Receives into buf (space bytes): > 0 bytes, 0 nothing now, -1 the client hung up, -2 reset. */
static ssize_t rd(struct sf__ev_conn *c, char *buf, size_t space)
{
    if (c->drained)
        return 0;
    for (;;) {
        ssize_t r = recv(c->fd, buf, space, MSG_DONTWAIT);
        if (r > 0) {
            c->drained = (size_t)r < space;
            c->active_s = now_s();
            return r;
        }
        if (r == 0) {
            c->rd_eof = 1;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->drained = 1;
            return 0;
        }
        c->gone = 1;
        return -2;
    }
}

/* The head is in: NUL-terminates its parts in place, sets up the body. R_REQUEST when the
 * request is whole, R_MORE for its body, R_ANSWERED when refused. */
static enum rstep head_done(struct sf__ev_conn *c)
{
    struct sf__ev *ev = c->loop->ev;
    struct sf_http_head *h = &c->head;
    struct sf_err err = {{0}};
    pthread_mutex_lock(&ev->mu);
    ev->active++;
    pthread_mutex_unlock(&ev->mu);
    c->counted = 1;
    c->is_head = h->method_len == 4 && !memcmp(h->method, "HEAD", 4);
    const struct sf_http_field *conn = sf_http_field_get(h, "Connection");
    c->keep_alive = h->minor == 1
                        ? !(conn && sf_http_list_has(conn->value, conn->value_len, "close"))
                        : conn && sf_http_list_has(conn->value, conn->value_len, "keep-alive");
    enum sf_http_body kind;
    if (sf_http_framing(h, 1, &kind, &c->body_want, &err) != SF_OK) {
        refuse(c, 400, err.msg);
        return R_ANSWERED;
    }
    /* the parts as C strings, in place: the method and target end at a space, names at ':',
     * values at their trailing whitespace or CR */
    char *m = (char *)h->method, *t = (char *)h->target;
    m[h->method_len] = '\0';
    const char *query;
    size_t ql;
    if (sf_http_path_decode(t, h->target_len, t, h->target_len + 1, &query, &ql, &err) != SF_OK) {
        refuse(c, 400, err.msg);
        return R_ANSWERED;
    }
    for (size_t i = 0; i < h->n_fields; i++) {
        ((char *)h->field[i].name)[h->field[i].name_len] = '\0';
        ((char *)h->field[i].value)[h->field[i].value_len] = '\0';
    }
    c->req.method = m;
    c->req.url = t;
    c->req.head = h;
    c->req.body = NULL;
    c->req.len = 0;
    size_t have = c->in_len - h->head_bytes;
    if (kind == SF_HTTP_BODY_LENGTH) {
        char msg[128];
        if (c->body_want > ev->cfg.max_body_bytes) {
            snprintf(msg, sizeof(msg), "request body larger than the %zu-byte limit",
                     ev->cfg.max_body_bytes);
            refuse(c, 413, msg);
            return R_ANSWERED;
        }
        if (h->head_bytes + c->body_want > EV_IN_BYTES) {
            /* does not fit the read buffer: its own, from the budget, before it is read */
            size_t want = (size_t)c->body_want;
            if (budget_take(ev, want) != 0) {
                refuse(c, 503, "server busy: the memory for request bodies is in use; retry later");
                return R_ANSWERED;
            }
            c->reserved += want;
            if (!(c->body = malloc(want))) {
                refuse(c, 503, "server busy: out of memory for the request body; retry later");
                return R_ANSWERED;
            }
            c->body_cap = want;
            c->body_len = have < want ? have : want;
            memcpy(c->body, c->in + h->head_bytes, c->body_len);
        }
        c->rp = RP_BODY;
    } else if (kind == SF_HTTP_BODY_CHUNKED) {
        size_t cap = have + 4096;
        if (budget_take(ev, cap) != 0 || !(c->body = malloc(cap))) {
            refuse(c, 503, "server busy: the memory for request bodies is in use; retry later");
            return R_ANSWERED;
        }
        c->reserved += cap;
        c->body_cap = cap;
        memcpy(c->body, c->in + h->head_bytes, have);
        c->raw_len = have;
        c->rp = RP_CHUNKED;
    } else {
        c->rp = RP_BODY;
    }
    const struct sf_http_field *ex = sf_http_field_get(h, "Expect");
    if (ex && h->minor == 1 && sf_http_list_has(ex->value, ex->value_len, "100-continue") &&
        (kind == SF_HTTP_BODY_CHUNKED || c->body_want > have)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        ssize_t w = send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* a client that cannot take 25 bytes sends its body anyway after a wait */
    }
    return R_MORE;
}

/* Decodes the raw chunked bytes: R_REQUEST when the body is whole, R_ANSWERED when refused. */
static enum rstep chunked_step(struct sf__ev_conn *c)
{
    struct sf__ev *ev = c->loop->ev;
    struct sf_err err = {{0}};
    size_t consumed, out;
    int done = 0;
    char *raw = c->body + c->body_len;
    int rc = sf_http_chunked_decode(&c->ck, raw, c->raw_len, &consumed, &out, &done, &err);
    if (rc != SF_OK) {
        refuse(c, rc == SF_ETOOBIG ? 413 : 400, err.msg);
        return R_ANSWERED;
    }
    /* raw = [data out][consumed - out of framing][raw_len - consumed not decoded] */
    memmove(raw + out, raw + consumed, c->raw_len - consumed);
    c->raw_len -= consumed;
    if (c->refuse) {
        c->discarded += out; /* refused already: read and dropped to the end */
        if (c->discarded > ev->cfg.max_body_bytes)
            return R_CLOSE; /* a client that sends another cap's worth is not listening */
        memmove(c->body + c->body_len, raw + out, c->raw_len);
    } else if (c->body_len + out > ev->cfg.max_body_bytes) {
        c->refuse = 413;
        snprintf(c->why, sizeof(c->why), "request body larger than the %zu-byte limit",
                 ev->cfg.max_body_bytes);
        c->discarded = 0;
        memmove(c->body, raw + out, c->raw_len);
        c->body_len = 0;
    } else {
        c->body_len += out;
    }
    if (done) {
        if (c->refuse) {
            refuse(c, c->refuse, c->why);
            return R_ANSWERED;
        }
        c->req.body = c->body;
        c->req.len = c->body_len;
        return R_REQUEST;
    }
    return R_MORE;
}

/* Room for more raw chunked bytes: grows the buffer within the cap and the budget. */
static int chunked_room(struct sf__ev_conn *c)
{
    struct sf__ev *ev = c->loop->ev;
    size_t used = c->body_len + c->raw_len;
    if (c->body_cap - used >= 4096)
        return 0;
    size_t want = c->body_cap * 2;
    size_t most = ev->cfg.max_body_bytes + EV_CHUNK_SLACK_BYTES;
    if (want > most)
        want = most;
    if (want <= c->body_cap) {
        if (c->body_cap > used)
            return 0;
        /* refused and dropping: the data part is discarded as it is decoded */
        return -1;
    }
    if (budget_take(ev, want - c->body_cap) != 0)
        return -2;
    char *q = realloc(c->body, want);
    if (!q) {
        budget_give(ev, want - c->body_cap);
        return -2;
    }
    c->reserved += want - c->body_cap;
    c->body = q;
    c->body_cap = want;
    return 0;
}

/* 1 when buf[0..n) holds the blank line that ends a head. */
static int head_end_in(const char *buf, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        const char *p = memchr(buf + i, '\r', n - 3 - i);
        if (!p)
            return 0;
        i = (size_t)(p - buf);
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            return 1;
    }
    return 0;
}

/* Reads and parses until a request is whole, the socket is empty, or the connection ends. */
static enum rstep read_request(struct sf__ev_conn *c)
{
    for (;;) {
        if (c->rp == RP_HEAD) {
            if (c->in_len && c->in_len > c->scan) {
                size_t from = c->scan > 3 ? c->scan - 3 : 0;
                int whole = head_end_in(c->in + from, c->in_len - from);
                c->scan = c->in_len;
                struct sf_err err = {{0}};
                int rc = SF_OK;
                if (whole || c->in_len >= EV_IN_BYTES)
                    rc = sf_http_parse_head(c->in, c->in_len, 1, &c->head, &err);
                else
                    c->head.head_bytes = 0;
                if (rc != SF_OK || (!c->head.head_bytes && c->in_len >= EV_IN_BYTES)) {
                    if (!c->counted) {
                        struct sf__ev *ev = c->loop->ev;
                        pthread_mutex_lock(&ev->mu);
                        ev->active++;
                        pthread_mutex_unlock(&ev->mu);
                        c->counted = 1;
                    }
                    c->keep_alive = 0;
                    refuse(c, rc == SF_ETOOBIG || rc == SF_OK ? 431 : 400,
                           rc == SF_OK ? "head: more than 16384 bytes" : err.msg);
                    return R_ANSWERED;
                }
                if (c->head.head_bytes) {
                    enum rstep s = head_done(c);
                    if (s != R_MORE)
                        return s;
                    continue;
                }
            }
            ssize_t r = rd(c, c->in + c->in_len, EV_IN_BYTES - c->in_len);
            if (r <= 0)
                return r == 0 ? R_MORE : R_CLOSE;
            c->in_len += (size_t)r;
            continue;
        }
        if (c->rp == RP_BODY) {
            if (!c->body) {
                size_t end = c->head.head_bytes + (size_t)c->body_want;
                if (c->in_len >= end) {
                    c->req.body = c->body_want ? c->in + c->head.head_bytes : NULL;
                    c->req.len = (size_t)c->body_want;
                    return R_REQUEST;
                }
                ssize_t r = rd(c, c->in + c->in_len, EV_IN_BYTES - c->in_len);
                if (r <= 0)
                    return r == 0 ? R_MORE : R_CLOSE;
                c->in_len += (size_t)r;
            } else {
                if (c->body_len >= c->body_want) {
                    c->req.body = c->body;
                    c->req.len = c->body_len;
                    return R_REQUEST;
                }
                ssize_t r = rd(c, c->body + c->body_len, (size_t)c->body_want - c->body_len);
                if (r <= 0)
                    return r == 0 ? R_MORE : R_CLOSE;
                c->body_len += (size_t)r;
            }
            continue;
        }
        /* RP_CHUNKED */
        if (c->raw_len) {
            enum rstep s = chunked_step(c);
            if (s != R_MORE)
                return s;
        }
        int room = chunked_room(c);
        if (room == -2) {
            refuse(c, 503, "server busy: the memory for request bodies is in use; retry later");
            return R_ANSWERED;
        }
        if (room == -1)
            return R_CLOSE;
        char *at = c->body + c->body_len + c->raw_len;
        ssize_t r = rd(c, at, c->body_cap - c->body_len - c->raw_len);
        if (r <= 0)
            return r == 0 ? R_MORE : R_CLOSE;
        c->raw_len += (size_t)r;
    }
}

/* ---- connections ---- */

/* Gives c's places under the connection caps back (once). */
static void uncount(struct sf__ev *ev, struct sf__ev_conn *c)
{
    pthread_mutex_lock(&ev->mu);
    if (!c->uncounted) {
        c->uncounted = 1;
        ev->n_conns--;
        for (unsigned i = 0; i < ev->cfg.max_connections; i++)
            if (ev->clients[i].n && ev->clients[i].addr == c->addr) {
                ev->clients[i].n--;
                break;
            }
    }
    pthread_mutex_unlock(&ev->mu);
}

static void conn_free(struct sf__ev_conn *c)
{
    struct loop *l = c->loop;
    struct sf__ev *ev = l->ev;
    pthread_mutex_lock(&l->conns_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&l->conns_mu);
    pthread_mutex_lock(&l->mu);
    if (c->in_todo) {
        struct sf__ev_conn **pp = &l->todo;
        while (*pp && *pp != c)
            pp = &(*pp)->todo_next;
        if (*pp)
            *pp = c->todo_next;
    }
    pthread_mutex_unlock(&l->mu);
    close(c->fd);
    budget_give(ev, c->reserved);
    uncount(ev, c);
    pthread_mutex_lock(&ev->mu);
    if (c->counted) {
        ev->active--;
        pthread_cond_broadcast(&ev->cv);
    }
    pthread_mutex_unlock(&ev->mu);
    pthread_mutex_destroy(&c->mu);
    free(c->in);
    free(c->body);
    free(c->out);
    free(c);
}

/* Runs the connection as far as it goes (the owner's thread, c->mu not held). */
static void conn_run(struct sf__ev_conn *c, uint32_t events)
{
    struct sf__ev *ev = c->loop->ev;
    pthread_mutex_lock(&c->mu);
    if (events & (EPOLLERR | EPOLLHUP))
        c->gone = 1;
    if (events & EPOLLIN)
        c->drained = 0;
    for (;;) {
        if (c->gone && c->state != CS_HANDLING && c->state != CS_WAITING)
            c->state = CS_CLOSED;
        switch (c->state) {
        case CS_HANDLING:
        case CS_WAITING:
            if (events & EPOLLIN)
                c->pending_in = 1;
            pthread_mutex_unlock(&c->mu);
            return;
        case CS_CLOSED:
            pthread_mutex_unlock(&c->mu);
            conn_free(c);
            return;
        case CS_WRITING: {
            int f = flush_out(c);
            if (f == 0) {
                pthread_mutex_unlock(&c->mu);
                return;
            }
            if (f < 0)
                c->gone = 1;
            answered(c);
            continue;
        }
        case CS_LINGER: {
            char buf[4096];
            for (;;) {
                ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (r > 0 && (c->linger_bytes += (size_t)r) <= ev->cfg.max_body_bytes)
                    continue;
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    pthread_mutex_unlock(&c->mu);
                    return;
                }
                if (r < 0 && errno == EINTR)
                    continue;
                break; /* the client hung up, or sent more than a body's worth */
            }
            c->state = CS_CLOSED;
            continue;
        }
        case CS_READING: {
            if (c->pending_in) {
                c->pending_in = 0;
                c->drained = 0;
            }
            if (!c->in && !(c->in = malloc(EV_IN_BYTES))) {
                c->state = CS_CLOSED;
                continue;
            }
            enum rstep s = read_request(c);
            if (s == R_MORE) {
                if (c->rd_eof && !c->in_len && c->rp == RP_HEAD)
                    c->state = CS_CLOSED; /* hung up between requests */
                else {
                    pthread_mutex_unlock(&c->mu);
                    return;
                }
                continue;
            }
            if (s == R_CLOSE) {
                c->state = CS_CLOSED;
                continue;
            }
            if (s == R_ANSWERED)
                continue;
            /* a whole request: the handler runs without the lock (its answer takes it) */
            c->state = CS_HANDLING;
            c->req.conn = c;
            c->req.loop = c->loop->idx;
            pthread_mutex_unlock(&c->mu);
            ev->cfg.handler(ev->cfg.ctx, &c->req);
            pthread_mutex_lock(&c->mu);
            if (c->state == CS_HANDLING) {
                c->state = CS_WAITING; /* answered later, maybe by another thread */
                pthread_mutex_unlock(&c->mu);
                return;
            }
            events = 0;
            continue;
        }
        }
    }
}

/* The loop's periodic check of its connections' deadlines. */
static void tick(struct loop *l, double now)
{
    struct sf__ev *ev = l->ev;
    struct sf__ev_conn *next;
    for (struct sf__ev_conn *c = l->conns; c; c = next) {
        next = c->next;
        pthread_mutex_lock(&c->mu);
        int cut = 0;
        if (c->state == CS_READING)
            cut = (ev->cfg.request_timeout_s > 0 && now - c->since_s > ev->cfg.request_timeout_s) ||
                  now - c->active_s > ev->cfg.idle_timeout_s;
        else if (c->state == CS_WRITING)
            cut = now - c->active_s > ev->cfg.idle_timeout_s;
        else if (c->state == CS_LINGER)
            cut = now - c->since_s > EV_LINGER_S;
        if (cut) {
            c->state = CS_CLOSED;
            c->gone = 1;
        }
        pthread_mutex_unlock(&c->mu);
        if (cut)
            conn_run(c, 0);
    }
    if (ev->cfg.tick)
        ev->cfg.tick(ev->cfg.ctx, l->idx, now);
}

/* Counts a connection from addr against the caps (ev->mu held): its client's entry, or NULL when
 * over one (*full: the total cap; else the client's). */
static struct client *count_client(struct sf__ev *ev, uint32_t addr, int *full)
{
    struct client *slot = NULL, *free_slot = NULL;
    for (unsigned i = 0; i < ev->cfg.max_connections && !slot; i++) {
        if (ev->clients[i].n && ev->clients[i].addr == addr)
            slot = &ev->clients[i];
        else if (!ev->clients[i].n && !free_slot)
            free_slot = &ev->clients[i];
    }
    *full = (unsigned)ev->n_conns >= ev->cfg.max_connections || (!slot && !free_slot);
    if (*full || (ev->cfg.max_per_client && slot && slot->n >= ev->cfg.max_per_client))
        return NULL;
    if (!slot) {
        slot = free_slot;
        slot->addr = addr;
    }
    slot->n++;
    ev->n_conns++;
    return slot;
}

/* At the connection cap, a new client takes the place of the slowest reader of any loop (the
 * slow ones may all sit on another loop than the one that accepted): the connection that has been
 * reading (a request that does not end, or nothing) the longest, for at least EV_EVICT_MIN_AGE_S.
 * So connections that never finish a request cannot lock out the others for their deadline. Every
 * loop's list is held (in loop order) until the victim is marked and uncounted, so that its loop
 * cannot free it meanwhile. 1 when one was closed. */
static int evict_slowest(struct sf__ev *ev)
{
    double now = now_s();
    struct sf__ev_conn *victim = NULL;
    for (int i = 0; i < ev->n_loops; i++)
        pthread_mutex_lock(&ev->loop[i].conns_mu);
    for (int i = 0; i < ev->n_loops; i++)
        for (struct sf__ev_conn *c = ev->loop[i].conns; c; c = c->next) {
            pthread_mutex_lock(&c->mu);
            if (c->state == CS_READING && now - c->since_s >= EV_EVICT_MIN_AGE_S &&
                (!victim || c->since_s < victim->since_s))
                victim = c;
            pthread_mutex_unlock(&c->mu);
        }
    if (victim) {
        /* freed by its loop after that loop's events (one of them may name it); its slot given
         * back now */
        pthread_mutex_lock(&victim->mu);
        victim->state = CS_CLOSED;
        victim->gone = 1;
        shutdown(victim->fd, SHUT_RDWR);
        schedule(victim);
        pthread_mutex_unlock(&victim->mu);
        uncount(ev, victim);
    }
    for (int i = ev->n_loops - 1; i >= 0; i--)
        pthread_mutex_unlock(&ev->loop[i].conns_mu);
    return victim != NULL;
}

/* A connection accepted by one loop and run by another: accepts are spread round-robin over the
 * loops, as the shared listener's wake-ups can send a whole burst of connects to one loop (at 32
 * connections every one of wrk's landed on one loop, the other idle: docs/benchmarks.md). */
struct handoff {
    struct loop *l;
    int fd;
    uint32_t addr;
    struct client *slot;
};

/* Runs fd as a connection of loop l, on l's thread (it alone changes its list); while the server
 * stops, closes it instead. Either way the connection's places under the caps are its own. */
static void adopt(struct loop *l, int fd, uint32_t addr, struct client *slot)
{
    struct sf__ev *ev = l->ev;
    pthread_mutex_lock(&ev->mu);
    int stopping = ev->stopping;
    pthread_mutex_unlock(&ev->mu);
    struct sf__ev_conn *c = stopping ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        pthread_mutex_lock(&ev->mu);
        ev->n_conns--;
        slot->n--;
        pthread_mutex_unlock(&ev->mu);
        return;
    }
    c->kind = K_CONN;
    c->fd = fd;
    c->loop = l;
    c->addr = addr;
    c->since_s = c->active_s = now_s();
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_lock(&l->conns_mu);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    pthread_mutex_unlock(&l->conns_mu);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        c->state = CS_CLOSED;
        conn_run(c, 0);
    }
}

static void adopt_posted(void *arg)
{
    struct handoff *h = arg;
    adopt(h->l, h->fd, h->addr, h->slot);
    free(h);
}

static void accept_some(struct loop *l)
{
    struct sf__ev *ev = l->ev;
    for (int k = 0; k < EV_ACCEPT_BATCH; k++) {
        pthread_mutex_lock(&ev->mu);
        if (!ev->listening) {
            pthread_mutex_unlock(&ev->mu);
            return;
        }
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int fd = accept(ev->ls, (struct sockaddr *)&sa, &sl);
        if (fd < 0) {
            pthread_mutex_unlock(&ev->mu);
            return;
        }
        uint32_t addr = sl >= sizeof(sa) ? sa.sin_addr.s_addr : 0;
        int full;
        struct client *slot = count_client(ev, addr, &full);
        struct loop *to = &ev->loop[ev->next_loop];
        ev->next_loop = (ev->next_loop + 1) % ev->n_loops;
        pthread_mutex_unlock(&ev->mu);
        if (!slot && full && evict_slowest(ev)) {
            pthread_mutex_lock(&ev->mu);
            slot = count_client(ev, addr, &full);
            pthread_mutex_unlock(&ev->mu);
        }
        if (!slot) { /* over a cap: closed at once, as the thread-per-connection layer did */
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct handoff *h = to != l ? malloc(sizeof(*h)) : NULL;
        if (h) {
            *h = (struct handoff){to, fd, addr, slot};
            if (sf__ev_post(ev, to->idx, adopt_posted, h) == SF_OK)
                continue;
            free(h);
        }
        adopt(l, fd, addr, slot); /* this loop's turn, or the hand-off failed */
    }
}

static void run_todo(struct loop *l)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        struct sf__ev_conn *c = l->todo;
        if (c) {
            l->todo = c->todo_next;
            c->in_todo = 0;
        }
        struct post *p = c ? NULL : l->posts;
        if (p)
            l->posts = p->next;
        pthread_mutex_unlock(&l->mu);
        if (c) {
            conn_run(c, 0);
        } else if (p) {
            p->fn(p->arg);
            free(p);
        } else {
            return;
        }
    }
}

/* The loop this thread runs, if it is one (sf__ev_self). */
static _Thread_local const struct sf__ev *self_ev;
static _Thread_local int self_loop = -1;

int sf__ev_self(const struct sf__ev *ev)
{
    return ev && self_ev == ev ? self_loop : -1;
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct sf__ev *ev = l->ev;
    self_ev = ev;
    self_loop = l->idx;
    sf_thread_name("sf-loop%d", l->idx);
    struct epoll_event evs[EV_EVENTS];
    l->next_tick_s = now_s() + SF__EV_TICK_S;
    int spin = 0;
    double poll_s = 0; /* this loop's poll window (sf__ev_poll_next) */
    for (;;) {
        double now = now_s();
        int wait_ms = (int)((l->next_tick_s - now) * 1000) + 1;
        if (wait_ms < 0)
            wait_ms = 0;
        int n = 0;
        /* a few requests in flight: the next event (a worker's answer, the client's next
         * request) may be tens of microseconds away, and waking a sleeping thread costs as much
         * again on a virtual machine; so poll for it a while first, as long as the events of
         * late have shown it pays */
        double t0 = now, polled = 0;
        if (spin && poll_s > 0) {
            do {
                n = epoll_wait(l->ep, evs, EV_EVENTS, 0);
                if (!n) /* a thread waiting for this core (the worker, the client) runs first */
                    sched_yield();
            } while (!n && now_s() - t0 < poll_s);
            polled = now_s() - t0;
        }
        if (!n)
            n = epoll_wait(l->ep, evs, EV_EVENTS, wait_ms);
        if (spin)
            poll_s = sf__ev_poll_next(poll_s, n > 0 ? now_s() - t0 : INFINITY, ev->cfg.spin_s);
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_CONN) {
                conn_run(evs[i].data.ptr, evs[i].events);
            } else if (kind == K_LISTEN) {
                accept_some(l);
            } else if (kind == K_WAKE) {
                uint64_t v;
                ssize_t r = read(l->wake_fd, &v, sizeof(v));
                (void)r;
            } else {
                struct sf__ev_watch *w = evs[i].data.ptr;
                w->cb(w->arg, evs[i].events);
            }
        }
        run_todo(l);
        if (ev->cfg.round && n > 0)
            ev->cfg.round(ev->cfg.ctx, l->idx);
        pthread_mutex_lock(&ev->mu);
        int stopping = ev->stopping;
        spin = n > 0 && ev->cfg.spin_s > 0 && ev->active <= SF__EV_SPIN_MAX_ACTIVE;
        ev->polled_s += polled;
        pthread_mutex_unlock(&ev->mu);
        if (stopping)
            break;
        now = now_s();
        if (now >= l->next_tick_s) {
            tick(l, now);
            l->next_tick_s = now + SF__EV_TICK_S;
        }
    }
    /* stop: every connection closes (the drain has written every answer it could) */
    while (l->conns) {
        struct sf__ev_conn *c = l->conns;
        pthread_mutex_lock(&c->mu);
        c->state = CS_CLOSED;
        c->gone = 1;
        pthread_mutex_unlock(&c->mu);
        conn_free(c);
    }
    run_todo(l);
    return NULL;
}

/* ---- the server ---- */

int sf__ev_start(struct sf__ev **out, const struct sf__ev_cfg *cfg, struct sf_err *err)
{
    if (cfg->loops < 1 || cfg->loops > SF__EV_MAX_LOOPS)
        return sf_err_set(err, SF_EINVAL, "event loops: %d, expected 1..%d", cfg->loops,
                          SF__EV_MAX_LOOPS);
    struct sf__ev *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    ev->cfg = *cfg;
    ev->listen_kind = K_LISTEN;
    ev->ls = -1;
    pthread_mutex_init(&ev->mu, NULL);
    if (sf_cond_init_monotonic(&ev->cv) != SF_OK) {
        pthread_mutex_destroy(&ev->mu);
        free(ev);
        return sf_err_set(err, SF_EIO, "event loops: cannot make a condition variable");
    }
    ev->clients = calloc(cfg->max_connections ? cfg->max_connections : 1, sizeof(*ev->clients));
    if (!ev->clients) {
        sf__ev_stop(ev);
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        sf__ev_stop(ev);
        return sf_err_set(err, SF_EINVAL, "--host: '%s' is not a numeric IPv4 address", cfg->host);
    }
    int one = 1;
    ev->ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t sl = sizeof(sa);
    if (ev->ls < 0 || setsockopt(ev->ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(ev->ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(ev->ls, EV_LISTEN_BACKLOG) != 0 ||
        getsockname(ev->ls, (struct sockaddr *)&sa, &sl) != 0) {
        sf__ev_stop(ev);
        return sf_err_set(err, SF_EIO, "cannot listen on %s:%d (in use, or not permitted)",
                          cfg->host, cfg->port);
    }
    ev->port = ntohs(sa.sin_port);
    ev->listening = 1;
    /* the loops never take SIGTERM or SIGINT: a send interrupted would lose an answer */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = SF_OK;
    for (int i = 0; i < cfg->loops && rc == SF_OK; i++) {
        struct loop *l = &ev->loop[i];
        l->kind = K_WAKE;
        l->ev = ev;
        l->idx = i;
        pthread_mutex_init(&l->mu, NULL);
        pthread_mutex_init(&l->conns_mu, NULL);
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ev->n_loops++;
        struct epoll_event we = {.events = EPOLLIN, .data.ptr = l};
        struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &ev->listen_kind};
        if (l->ep < 0 || l->wake_fd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake_fd, &we) != 0 ||
            epoll_ctl(l->ep, EPOLL_CTL_ADD, ev->ls, &le) != 0)
            rc = sf_err_set(err, SF_EIO, "cannot set up event loop %d", i);
    }
    for (int i = 0; i < ev->n_loops && rc == SF_OK; i++) {
        if (pthread_create(&ev->loop[i].thread, NULL, loop_main, &ev->loop[i]) != 0)
            rc = sf_err_set(err, SF_EIO, "cannot start event loop thread %d", i);
        else
            ev->loop[i].has_thread = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != SF_OK) {
        sf__ev_stop(ev);
        return rc;
    }
    *out = ev;
    return SF_OK;
}

int sf__ev_port(const struct sf__ev *ev)
{
    return ev->port;
}

int sf__ev_loops(const struct sf__ev *ev)
{
    return ev->n_loops;
}

int sf__ev_watch(struct sf__ev *ev, int loop, struct sf__ev_watch *w)
{
    w->kind = K_WATCH;
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = w};
    return epoll_ctl(ev->loop[loop].ep, EPOLL_CTL_ADD, w->fd, &e) == 0 ? SF_OK : SF_EIO;
}

void sf__ev_unwatch(struct sf__ev *ev, int loop, struct sf__ev_watch *w)
{
    epoll_ctl(ev->loop[loop].ep, EPOLL_CTL_DEL, w->fd, NULL);
}

void sf__ev_quiesce(struct sf__ev *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    int was = ev->listening;
    ev->listening = 0;
    pthread_mutex_unlock(&ev->mu);
    if (!was)
        return;
    for (int i = 0; i < ev->n_loops; i++)
        epoll_ctl(ev->loop[i].ep, EPOLL_CTL_DEL, ev->ls, NULL);
    sf__wire_refuse_backlog(ev->ls);
    ev->ls = -1;
}

void sf__ev_closing(struct sf__ev *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->closing = 1;
    pthread_mutex_unlock(&ev->mu);
}

int sf__ev_drain(struct sf__ev *ev, double timeout_s)
{
    if (!ev)
        return 0;
    return sf__wire_wait_idle(&ev->mu, &ev->cv, &ev->active, timeout_s);
}

size_t sf__ev_buffered(struct sf__ev *ev)
{
    pthread_mutex_lock(&ev->mu);
    size_t b = ev->buffered;
    pthread_mutex_unlock(&ev->mu);
    return b;
}

int sf__ev_connections(struct sf__ev *ev)
{
    pthread_mutex_lock(&ev->mu);
    int n = ev->n_conns;
    pthread_mutex_unlock(&ev->mu);
    return n;
}

double sf__ev_poll_seconds(struct sf__ev *ev)
{
    pthread_mutex_lock(&ev->mu);
    double t = ev->polled_s;
    pthread_mutex_unlock(&ev->mu);
    return t;
}

double sf__ev_poll_next(double poll_s, double waited_s, double cap_s)
{
    if (!(cap_s > 0))
        return 0;
    if (waited_s > poll_s && waited_s <= cap_s) {
        double w = poll_s * 2;
        if (w < SF__EV_POLL_GROW_START_S)
            w = SF__EV_POLL_GROW_START_S;
        return w < cap_s ? w : cap_s;
    }
    if (waited_s > cap_s) {
        double w = poll_s / 2;
        return w < SF__EV_POLL_GROW_START_S ? 0 : w;
    }
    return poll_s;
}

void sf__ev_stop(struct sf__ev *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stopping = 1;
    pthread_mutex_unlock(&ev->mu);
    for (int i = 0; i < ev->n_loops; i++)
        if (ev->loop[i].has_thread) {
            wake(&ev->loop[i]);
            pthread_join(ev->loop[i].thread, NULL);
        }
    for (int i = 0; i < ev->n_loops; i++) {
        struct loop *l = &ev->loop[i];
        while (l->posts) {
            struct post *p = l->posts;
            l->posts = p->next;
            p->fn(p->arg);
            free(p);
        }
        if (l->ep >= 0)
            close(l->ep);
        if (l->wake_fd >= 0)
            close(l->wake_fd);
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->conns_mu);
    }
    if (ev->ls >= 0)
        close(ev->ls);
    free(ev->clients);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}
