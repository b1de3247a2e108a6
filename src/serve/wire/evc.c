/*
 * evc.c - a keep-alive, pipelined HTTP/1.1 client connection on an event loop (ev.h): the
 * ingress's calls to a worker. The request is written by the thread that sends it (one sendmsg
 * of its head and its body, the body borrowed, not copied); the answer is read and parsed by the
 * loop that watches the socket (sf_http_parse_head, Content-Length only, capped), and handed to
 * the request's callback on that thread, in the order the requests were sent. A request sent on a
 * connection reused from before that the peer closed before answering a byte of it is sent again
 * once on a new connection (as libcurl does), since the peer never saw it whole; anything else
 * that breaks the connection fails what is outstanding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wire/ev.h"

struct slot {
    sf__evc_cb cb;
    void *arg;
    double deadline_s;
    char *head;
    size_t head_len;
    const char *body;
    size_t body_len;
    size_t sent;
    int retried;
};

struct sf__evc {
    struct sf__ev_watch w; /* w.arg = this */
    struct sf__ev *ev;
    int loop;
    struct sockaddr_in sa;
    size_t max_resp;
    pthread_mutex_t mu;
    int fd;
    int watched;
    int connecting;
    int reused;   /* an answer came on this connection: a close may be its idle timeout */
    int got_byte; /* some of the oldest request's answer has arrived */
    struct slot q[SF__EVC_MAX_INFLIGHT];
    int q_head, q_n;
    char *in;
    size_t in_len, in_cap;
};

/* A failed request, to be called back once the lock is dropped. */
struct failed {
    sf__evc_cb cb;
    void *arg;
    int rc;
};

static struct slot *at(struct sf__evc *c, int k)
{
    return &c->q[(c->q_head + k) % SF__EVC_MAX_INFLIGHT];
}

/* Closes the socket (mu held). */
static void drop_conn(struct sf__evc *c)
{
    if (c->fd >= 0) {
        if (c->watched)
            sf__ev_unwatch(c->ev, c->loop, &c->w);
        close(c->fd);
    }
    c->fd = -1;
    c->watched = 0;
    c->connecting = 0;
    c->reused = 0;
    c->got_byte = 0;
    c->in_len = 0;
}

/* Takes every outstanding request out as failed (mu held): *n entries of out. */
static void fail_all(struct sf__evc *c, int rc_first, struct failed *out, int *n)
{
    *n = 0;
    while (c->q_n) {
        struct slot *s = at(c, 0);
        out[(*n)++] = (struct failed){s->cb, s->arg, *n == 0 ? rc_first : SF_EIO};
        free(s->head);
        memset(s, 0, sizeof(*s));
        c->q_head = (c->q_head + 1) % SF__EVC_MAX_INFLIGHT;
        c->q_n--;
    }
    drop_conn(c);
}

static void call_failed(const struct failed *f, int n)
{
    for (int i = 0; i < n; i++)
        f[i].cb(f[i].arg, f[i].rc, NULL);
}

static void on_event(void *arg, uint32_t events);

/* Opens the connection (mu held): SF_OK when connected or connecting. */
static int open_conn(struct sf__evc *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SF_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa));
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return SF_EIO;
    }
    c->fd = fd;
    c->connecting = rc != 0;
    c->w.fd = fd;
    c->w.cb = on_event;
    c->w.arg = c;
    if (sf__ev_watch(c->ev, c->loop, &c->w) != SF_OK) {
        close(fd);
        c->fd = -1;
        return SF_EIO;
    }
    c->watched = 1;
    return SF_OK;
}

/* Writes what is unsent, oldest first (mu held): 0, or -1 when the connection broke. */
static int pump(struct sf__evc *c)
{
    if (c->fd < 0 || c->connecting)
        return 0;
    for (int k = 0; k < c->q_n; k++) {
        struct slot *s = at(c, k);
        size_t total = s->head_len + s->body_len;
        while (s->sent < total) {
            struct iovec iov[2];
            int n = 0;
            if (s->sent < s->head_len)
                iov[n++] = (struct iovec){s->head + s->sent, s->head_len - s->sent};
            size_t boff = s->sent > s->head_len ? s->sent - s->head_len : 0;
            if (s->body_len > boff)
                iov[n++] = (struct iovec){(char *)s->body + boff, s->body_len - boff};
            struct msghdr m;
            memset(&m, 0, sizeof(m));
            m.msg_iov = iov;
            m.msg_iovlen = (size_t)n;
            ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return 0;
                return -1;
            }
            s->sent += (size_t)w;
        }
    }
    return 0;
}

int sf__evc_new(struct sf__ev *ev, int loop, const char *endpoint, size_t max_resp_bytes,
                struct sf__evc **out, struct sf_err *err)
{
    char host[64];
    const char *colon = strrchr(endpoint, ':');
    size_t hl = colon ? (size_t)(colon - endpoint) : 0;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || hl == 0 || hl >= sizeof(host) || !end || *end || port < 1 || port > 65535)
        return sf_err_set(err, SF_EINVAL, "%s: expected HOST:PORT", endpoint);
    memcpy(host, endpoint, hl);
    host[hl] = '\0';
    struct sf__evc *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    c->sa.sin_family = AF_INET;
    c->sa.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &c->sa.sin_addr) != 1) {
        free(c);
        return sf_err_set(err, SF_EINVAL, "%s: the host is not a numeric IPv4 address", endpoint);
    }
    c->ev = ev;
    c->loop = loop;
    c->max_resp = max_resp_bytes;
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return SF_OK;
}

int sf__evc_send(struct sf__evc *c, const char *head, size_t head_len, const void *body,
                 size_t body_len, double deadline_s, sf__evc_cb cb, void *arg)
{
    char *h = malloc(head_len ? head_len : 1);
    if (!h)
        return SF_ENOMEM;
    memcpy(h, head, head_len);
    pthread_mutex_lock(&c->mu);
    if (c->q_n >= SF__EVC_MAX_INFLIGHT) {
        pthread_mutex_unlock(&c->mu);
        free(h);
        return SF_ETOOBIG;
    }
    struct slot *s = at(c, c->q_n++);
    *s = (struct slot){cb, arg, deadline_s, h, head_len, body, body_len, 0, 0};
    int broke = c->fd < 0 && open_conn(c) != SF_OK;
    if (!broke)
        broke = pump(c) != 0;
    struct failed f[SF__EVC_MAX_INFLIGHT];
    int nf = 0;
    if (broke)
        fail_all(c, SF_EIO, f, &nf);
    pthread_mutex_unlock(&c->mu);
    call_failed(f, nf);
    return SF_OK;
}

/* The connection broke with requests outstanding (mu held): those never answered on a reused
 * connection are sent again once on a new one; else they fail. */
static void broken(struct sf__evc *c, struct failed *f, int *nf)
{
    int again = c->reused && !c->got_byte && c->q_n && !at(c, 0)->retried;
    drop_conn(c);
    if (again) {
        for (int k = 0; k < c->q_n; k++) {
            at(c, k)->sent = 0;
            at(c, k)->retried = 1;
        }
        if (open_conn(c) == SF_OK && pump(c) == 0) {
            *nf = 0;
            return;
        }
    }
    fail_all(c, SF_EIO, f, nf);
}

/* Parses the answers in the buffer; calls back each whole one (mu held, dropped around the
 * callback). 0, or -1 when the connection must go (its answer malformed or too big: f filled). */
static int answers(struct sf__evc *c, struct failed *f, int *nf)
{
    while (c->in_len && c->q_n) {
        struct sf_http_head h;
        struct sf_err err = {{0}};
        int rc = sf_http_parse_head(c->in, c->in_len, 0, &h, &err);
        if (rc == SF_OK && !h.head_bytes)
            return 0; /* more to come */
        enum sf_http_body kind = SF_HTTP_BODY_NONE;
        uint64_t len = 0;
        if (rc == SF_OK && h.status >= 100 && h.status < 200) {
            memmove(c->in, c->in + h.head_bytes, c->in_len - h.head_bytes);
            c->in_len -= h.head_bytes;
            continue; /* 100 Continue */
        }
        if (rc == SF_OK)
            rc = sf_http_framing(&h, 0, &kind, &len, &err);
        if (rc == SF_OK && kind == SF_HTTP_BODY_CHUNKED)
            rc = SF_EPARSE; /* workers answer with a length */
        if (rc == SF_OK && len > c->max_resp)
            rc = SF_ETOOBIG;
        if (rc != SF_OK) {
            fail_all(c, rc == SF_ETOOBIG ? SF_ETOOBIG : SF_EPARSE, f, nf);
            return -1;
        }
        size_t whole = h.head_bytes + (size_t)len;
        if (c->in_len < whole) {
            if (whole > c->in_cap) {
                char *q = realloc(c->in, whole);
                if (!q) {
                    fail_all(c, SF_EIO, f, nf);
                    return -1;
                }
                c->in = q;
                c->in_cap = whole;
                /* the head's views point into the old buffer: parsed again next time */
            }
            return 0;
        }
        struct slot s = *at(c, 0);
        memset(at(c, 0), 0, sizeof(struct slot));
        c->q_head = (c->q_head + 1) % SF__EVC_MAX_INFLIGHT;
        c->q_n--;
        c->reused = 1;
        c->got_byte = 0;
        int keep = !sf_http_field_get(&h, "Connection") ||
                   !sf_http_list_has(sf_http_field_get(&h, "Connection")->value,
                                     sf_http_field_get(&h, "Connection")->value_len, "close");
        struct sf__evc_resp r = {h.status, &h, c->in + h.head_bytes, (size_t)len};
        /* the buffer stays as it is while the callback reads it: only this thread reads it */
        pthread_mutex_unlock(&c->mu);
        s.cb(s.arg, SF_OK, &r);
        pthread_mutex_lock(&c->mu);
        free(s.head);
        if (c->fd < 0)
            return 0; /* freed meanwhile? no: only the loop frees; dropped by a send failure */
        memmove(c->in, c->in + whole, c->in_len - whole);
        c->in_len -= whole;
        if (!keep) {
            broken(c, f, nf);
            return *nf ? -1 : 0;
        }
    }
    return 0;
}

static void on_event(void *arg, uint32_t events)
{
    struct sf__evc *c = arg;
    struct failed f[SF__EVC_MAX_INFLIGHT];
    int nf = 0;
    pthread_mutex_lock(&c->mu);
    if (c->fd < 0) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
        c->connecting = 0;
        if (e) {
            fail_all(c, SF_EIO, f, &nf);
            goto out;
        }
    }
    if ((events & EPOLLOUT) && pump(c) != 0) {
        broken(c, f, &nf);
        goto out;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            if (c->in_cap - c->in_len < 4096) {
                size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
                if (cap > SF_HTTP_MAX_HEAD_BYTES + c->max_resp + 4096)
                    cap = SF_HTTP_MAX_HEAD_BYTES + c->max_resp + 4096;
                if (cap <= c->in_len) {
                    fail_all(c, SF_ETOOBIG, f, &nf);
                    goto out;
                }
                char *q = realloc(c->in, cap);
                if (!q) {
                    fail_all(c, SF_EIO, f, &nf);
                    goto out;
                }
                c->in = q;
                c->in_cap = cap;
            }
            ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
            if (r > 0) {
                c->in_len += (size_t)r;
                c->got_byte = c->q_n > 0;
                if (answers(c, f, &nf) != 0 || c->fd < 0)
                    goto out;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            /* closed or reset: outstanding requests are retried or fail; idle: just closed */
            if (c->q_n)
                broken(c, f, &nf);
            else
                drop_conn(c);
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&c->mu);
    call_failed(f, nf);
}

void sf__evc_tick(struct sf__evc *c, double now_s)
{
    struct failed f[SF__EVC_MAX_INFLIGHT];
    int nf = 0;
    pthread_mutex_lock(&c->mu);
    if (c->q_n && at(c, 0)->deadline_s > 0 && now_s > at(c, 0)->deadline_s)
        fail_all(c, SF_ETIMEDOUT, f, &nf);
    pthread_mutex_unlock(&c->mu);
    call_failed(f, nf);
}

static void free_on_loop(void *arg)
{
    struct sf__evc *c = arg;
    struct failed f[SF__EVC_MAX_INFLIGHT];
    int nf = 0;
    pthread_mutex_lock(&c->mu);
    fail_all(c, SF_EIO, f, &nf);
    pthread_mutex_unlock(&c->mu);
    call_failed(f, nf);
    pthread_mutex_destroy(&c->mu);
    free(c->in);
    free(c);
}

void sf__evc_free(struct sf__evc *c)
{
    if (!c)
        return;
    /* on the loop's thread, after the events it already took: none of them can name c then */
    if (sf__ev_post(c->ev, c->loop, free_on_loop, c) != SF_OK)
        free_on_loop(c);
}
