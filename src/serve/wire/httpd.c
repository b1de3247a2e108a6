/*
 * httpd.c - libmicrohttpd glue for every serving process (the bounds are listed in httpd.h): one
 * thread per connection so a handler may block until its answer is ready; bodies gathered into
 * a buffer counted against the process's budget as it grows; framing refusals before the body;
 * a watchdog thread for the whole-request deadline; a count of the requests between their
 * headers and the end of their answer, for a drain that closes no connection owed an answer.
 */
#include "wire/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serflow/wire.h"
#include "wire/wire_int.h"

/* How often the watchdog looks for requests past their deadline. */
#define WATCHDOG_PERIOD_NS (50 * 1000 * 1000)
/* Backlog of the listening socket. */
#define LISTEN_BACKLOG 1024u
/* At quiesce: connections still in the backlog are answered 503 rather than reset (at most this
 * many, each given this long to read its answer and hang up). */

enum phase { PH_READING = 0, PH_HANDLING = 1 };

/* Per-connection state (MHD's socket context), in the layer's list for the watchdog. */
struct conn {
    int fd;
    enum phase phase;
    double since_s; /* start of the current phase */
    int shut;       /* the watchdog shut it down */
    struct conn *prev, *next;
};

struct sf__httpd {
    struct MHD_Daemon *d;
    struct sf__httpd_cfg cfg;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *conns;
    int n_conns;
    int active;      /* requests between their headers and the end of their answer */
    size_t buffered; /* budget in use */
    int closing;
    int stopping;
    pthread_t watchdog;
    int has_watchdog;
};

/* Per-request state kept by MHD between the calls of one request. */
struct upload {
    struct sf__httpd *h;
    char *p;
    size_t len, cap;
    size_t declared;  /* Content-Length, 0: none (chunked, or no body) */
    size_t reserved;  /* bytes of the budget held by sf__httpd_reserve */
    int refuse;       /* HTTP status of a refusal decided while reading, 0: none */
    char why[160];    /* its message */
    size_t discarded; /* body bytes dropped after the refusal */
    struct conn *c;
};

static double now_s(void)
{
    return sf_monotonic_s();
}

void sf__httpd_header(struct sf__httpd_resp *resp, const char *name, const char *value)
{
    for (int i = 0; i < SF__HTTPD_MAX_HEADERS; i++)
        if (!resp->hdr_name[i]) {
            size_t n = strnlen(value, SF__HTTPD_MAX_HEADER_VALUE_BYTES);
            if (n >= sizeof(resp->hdr_buf[i]) && (resp->hdr_heap[i] = malloc(n + 1))) {
                memcpy(resp->hdr_heap[i], value, n);
                resp->hdr_heap[i][n] = '\0';
                resp->hdr_value[i] = resp->hdr_heap[i];
            } else {
                if (n >= sizeof(resp->hdr_buf[i])) /* out of memory for a long value: cut */
                    n = sizeof(resp->hdr_buf[i]) - 1;
                memcpy(resp->hdr_buf[i], value, n);
                resp->hdr_buf[i][n] = '\0';
                resp->hdr_value[i] = resp->hdr_buf[i];
            }
            resp->hdr_name[i] = name;
            return;
        }
}

/* Frees the heap copies of long header values. */
static void free_headers(struct sf__httpd_resp *r)
{
    for (int i = 0; i < SF__HTTPD_MAX_HEADERS; i++) {
        free(r->hdr_heap[i]);
        r->hdr_heap[i] = NULL;
    }
}

void sf__httpd_json(struct sf__httpd_resp *resp, int status, char *body)
{
    free(resp->body);
    resp->status = status;
    resp->body = body;
    resp->len = body ? strlen(body) : 0;
    resp->content_type = "application/json";
}

void sf__httpd_error(struct sf__httpd_resp *resp, int status, const char *fmt, ...)
{
    char msg[SF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sf__httpd_json(resp, status, sf_oip_error_json(msg));
}

const char *sf__httpd_req_header(const struct sf__httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sf__httpd_req_arg(const struct sf__httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Takes bytes from the budget (locked by the caller); 0 or -1. */
static int budget_take(struct sf__httpd *h, size_t bytes)
{
    if (h->cfg.max_buffered_bytes &&
        (bytes > h->cfg.max_buffered_bytes || h->buffered > h->cfg.max_buffered_bytes - bytes))
        return -1;
    h->buffered += bytes;
    return 0;
}

int sf__httpd_reserve(const struct sf__httpd_req *req, size_t bytes)
{
    struct upload *u = req->priv;
    if (!u)
        return 0;
    pthread_mutex_lock(&u->h->mu);
    int rc = budget_take(u->h, bytes);
    if (!rc)
        u->reserved += bytes;
    pthread_mutex_unlock(&u->h->mu);
    return rc;
}

int sf__httpd_authenticate(const struct sf__httpd_req *req, struct sf__httpd_resp *resp,
                           const struct sf_auth *self)
{
    if (!self || !self->set)
        return SF_OK;
    struct sf_auth_token t;
    struct sf_err err = {{0}};
    int rc = sf_auth_parse_request(sf__httpd_req_header(req, SF_AUTH_REQUEST_HEADER), &t, &err);
    if (rc == SF_OK && strcmp(t.principal, self->principal) != 0)
        rc = sf_err_set(&err, SF_EINVAL, "%s: principal '%s' is not this process's",
                        SF_AUTH_REQUEST_HEADER, t.principal);
    if (rc == SF_OK)
        rc = sf_auth_check_request(self->key, &t, req->method, req->url, &err);
    if (rc != SF_OK) {
        sf__httpd_error(resp, 401, "unauthenticated: %s", err.msg);
        return SF_EINVAL;
    }
    memcpy(resp->auth_key, self->key, sizeof(resp->auth_key));
    memcpy(resp->auth_nonce, t.nonce, sizeof(resp->auth_nonce));
    resp->auth = 1;
    return SF_OK;
}

int sf__httpd_client_gone(const struct sf__httpd_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char c;
    /* this thread is the connection's only reader while its handler runs */
    ssize_t r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0;
}

static enum MHD_Result send_resp(struct sf__httpd *h, struct MHD_Connection *conn,
                                 struct sf__httpd_resp *r)
{
    if (!r->body && r->status == 0)
        sf__httpd_error(r, 500, "internal error: no response");
    if (!r->status)
        r->status = 500;
    struct MHD_Response *m =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!m) {
        free(r->body);
        r->body = NULL;
        free_headers(r);
        return MHD_NO;
    }
    r->body = NULL; /* owned by the response now */
    if (r->content_type)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < SF__HTTPD_MAX_HEADERS; i++)
        if (r->hdr_name[i])
            MHD_add_response_header(m, r->hdr_name[i], r->hdr_value[i]);
    if (r->auth) {
        char mac[80];
        sf_auth_sign_response(r->auth_key, r->auth_nonce, r->status, mac, sizeof(mac));
        MHD_add_response_header(m, SF_AUTH_RESPONSE_HEADER, mac);
    }
    pthread_mutex_lock(&h->mu);
    int closing = h->closing;
    pthread_mutex_unlock(&h->mu);
    if (closing)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, m);
    MHD_destroy_response(m);
    free_headers(r); /* MHD copied them */
    return ret;
}

static enum MHD_Result send_refusal(struct sf__httpd *h, struct MHD_Connection *conn, int status,
                                    const char *msg)
{
    struct sf__httpd_resp r;
    memset(&r, 0, sizeof(r));
    if (h->cfg.refusal)
        h->cfg.refusal(h->cfg.ctx, &r, status, msg);
    else
        sf__httpd_error(&r, status, "%s", msg);
    if (status == 503)
        sf__httpd_header(&r, "Retry-After", "1");
    return send_resp(h, conn, &r);
}

/* Framing checks on the headers (request smuggling): counts Content-Length and
 * Transfer-Encoding headers. */
struct framing {
    int n_cl, n_te;
    int te_chunked;
    const char *cl;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        f->n_cl++;
        f->cl = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->n_te++;
        f->te_chunked = value && !strcasecmp(value, "chunked");
    }
    return MHD_YES;
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_phase(struct sf__httpd *h, struct conn *c, enum phase ph)
{
    if (!c)
        return;
    pthread_mutex_lock(&h->mu);
    c->phase = ph;
    c->since_s = now_s();
    pthread_mutex_unlock(&h->mu);
}

/* Appends n bytes of body to u, within the request's cap and the process's budget; sets a
 * refusal (413, 503) instead when either would be exceeded. */
static void append_body(struct sf__httpd *h, struct upload *u, const char *data, size_t n)
{
    if (n > h->cfg.max_body_bytes || u->len > h->cfg.max_body_bytes - n) {
        u->refuse = 413;
        snprintf(u->why, sizeof(u->why), "request body larger than the %zu-byte limit",
                 h->cfg.max_body_bytes);
        return;
    }
    if (u->len + n + 1 > u->cap) {
        /* doubling, never past the declared length (so the last step is not a copy into twice
         * the body); growth still follows the bytes received, so a client that declares much
         * and sends little holds no more of the budget than it sent */
        size_t c = (u->len + n + 1) * 2;
        if (u->declared >= u->len + n && c > u->declared + 1)
            c = u->declared + 1;
        if (c > h->cfg.max_body_bytes + 1)
            c = h->cfg.max_body_bytes + 1;
        pthread_mutex_lock(&h->mu);
        int rc = budget_take(h, c - u->cap);
        pthread_mutex_unlock(&h->mu);
        char *q = rc ? NULL : realloc(u->p, c);
        if (!q) {
            if (!rc) {
                pthread_mutex_lock(&h->mu);
                h->buffered -= c - u->cap;
                pthread_mutex_unlock(&h->mu);
            }
            u->refuse = 503;
            snprintf(u->why, sizeof(u->why),
                     "server busy: the %zu bytes for request bodies are in use; retry later",
                     h->cfg.max_buffered_bytes);
            return;
        }
        u->p = q;
        u->cap = c;
    }
    memcpy(u->p + u->len, data, n);
    u->len += n;
    u->p[u->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct sf__httpd *h = cls;
    struct upload *u = *con_cls;
    if (!u) { /* the headers are in */
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        u->h = h;
        u->c = conn_of(conn);
        *con_cls = u;
        pthread_mutex_lock(&h->mu);
        h->active++;
        size_t in_use = h->buffered;
        pthread_mutex_unlock(&h->mu);
        struct framing f = {0};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
        if (f.n_cl > 1 || (f.n_cl && f.n_te) || f.n_te > 1 || (f.n_te && !f.te_chunked))
            return send_refusal(h, conn, 400,
                                "ambiguous framing: more than one Content-Length, or "
                                "Content-Length with Transfer-Encoding, or a Transfer-Encoding "
                                "other than chunked");
        if (f.cl) {
            char *end;
            unsigned long long v = strtoull(f.cl, &end, 10);
            if (v > h->cfg.max_body_bytes) {
                char msg[128];
                snprintf(msg, sizeof(msg), "request body larger than the %zu-byte limit",
                         h->cfg.max_body_bytes);
                return send_refusal(h, conn, 413, msg);
            }
            if (h->cfg.max_buffered_bytes && v > h->cfg.max_buffered_bytes - in_use)
                return send_refusal(h, conn, 503,
                                    "server busy: the memory for request bodies is in use; retry "
                                    "later");
            u->declared = (size_t)v;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!u->refuse)
            append_body(h, u, upload_data, n);
        if (u->refuse) {
            /* read and drop the rest, so the client reads the refusal rather than a reset; a
             * client that sends more than another cap's worth is not listening */
            u->discarded += n;
            if (u->discarded > h->cfg.max_body_bytes)
                return MHD_NO;
        }
        return MHD_YES;
    }
    set_phase(h, u->c, PH_HANDLING);
    if (u->refuse)
        return send_refusal(h, conn, u->refuse, u->why);
    struct sf__httpd_req req = {method, url, u->p, u->len, conn, u};
    struct sf__httpd_resp r;
    memset(&r, 0, sizeof(r));
    h->cfg.handler(h->cfg.ctx, &req, &r);
    return send_resp(h, conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct sf__httpd *h = cls;
    struct upload *u = *con_cls;
    if (!u)
        return;
    pthread_mutex_lock(&h->mu);
    h->buffered -= u->cap + u->reserved;
    h->active--;
    if (u->c) { /* the next request on this connection has its own deadline */
        u->c->phase = PH_READING;
        u->c->since_s = now_s();
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    (void)conn;
    free(u->p);
    free(u);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct sf__httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = calloc(1, sizeof(*c));
        if (!c)
            return; /* not watched: its idle timeout still bounds it */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        c->phase = PH_READING;
        c->since_s = now_s();
        pthread_mutex_lock(&h->mu);
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        h->n_conns++;
        pthread_mutex_unlock(&h->mu);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn *c = *socket_context;
        if (!c)
            return;
        /* MHD closes the descriptor after this call: the watchdog, under the same lock, never
         * shuts down a descriptor number that was reused */
        pthread_mutex_lock(&h->mu);
        if (c->prev)
            c->prev->next = c->next;
        else
            h->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        h->n_conns--;
        pthread_mutex_unlock(&h->mu);
        free(c);
        *socket_context = NULL;
    }
}

static void *watchdog_main(void *arg)
{
    struct sf__httpd *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        double now = now_s();
        for (struct conn *c = h->conns; c; c = c->next)
            if (c->phase == PH_READING && !c->shut && c->fd >= 0 &&
                now - c->since_s > h->cfg.request_timeout_s) {
                /* MHD's thread sees the end of the stream and closes the connection */
                shutdown(c->fd, SHUT_RDWR);
                c->shut = 1;
            }
        sf_cond_wait_s(&h->cv, &h->mu, (double)WATCHDOG_PERIOD_NS * 1e-9);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int sf__httpd_start(struct sf__httpd **out, const struct sf__httpd_cfg *cfg, struct sf_err *err)
{
    struct sf__httpd *h = calloc(1, sizeof(*h));
    if (!h)
        return sf_err_set(err, SF_ENOMEM, "httpd: out of memory");
    h->cfg = *cfg;
    pthread_mutex_init(&h->mu, NULL);
    if (sf_cond_init_monotonic(&h->cv) != SF_OK) {
        pthread_mutex_destroy(&h->mu);
        free(h);
        return sf_err_set(err, SF_EIO, "httpd: cannot make a condition variable");
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        sf__httpd_stop(h);
        return sf_err_set(err, SF_EINVAL, "--host: '%s' is not a numeric IPv4 address", cfg->host);
    }
    /* the connection threads never take SIGTERM or SIGINT: a handler interrupted in a send would
     * close its connection without an answer (they inherit this mask from MHD's thread) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    h->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL,
        NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_client,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG, MHD_OPTION_END);
    if (h->d && cfg->request_timeout_s > 0 &&
        pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0)
        h->has_watchdog = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->d) {
        sf__httpd_stop(h);
        return sf_err_set(err, SF_EIO, "cannot listen on %s:%d (in use, or not permitted)",
                          cfg->host, cfg->port);
    }
    if (cfg->request_timeout_s > 0 && !h->has_watchdog) {
        sf__httpd_stop(h);
        return sf_err_set(err, SF_EIO, "httpd: cannot start the watchdog thread");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    *out = h;
    return SF_OK;
}

int sf__httpd_port(const struct sf__httpd *h)
{
    return h->port;
}

void sf__httpd_quiesce(struct sf__httpd *h)
{
    if (h && h->d) {
        MHD_socket s = MHD_quiesce_daemon(h->d);
        if (s != MHD_INVALID_SOCKET)
            sf__wire_refuse_backlog(s);
    }
}

void sf__httpd_closing(struct sf__httpd *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->closing = 1;
    pthread_mutex_unlock(&h->mu);
}

int sf__httpd_drain(struct sf__httpd *h, double timeout_s)
{
    if (!h)
        return 0;
    return sf__wire_wait_idle(&h->mu, &h->cv, &h->active, timeout_s);
}

size_t sf__httpd_buffered(struct sf__httpd *h)
{
    pthread_mutex_lock(&h->mu);
    size_t b = h->buffered;
    pthread_mutex_unlock(&h->mu);
    return b;
}

int sf__httpd_connections(struct sf__httpd *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->n_conns;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void sf__httpd_stop(struct sf__httpd *h)
{
    if (!h)
        return;
    if (h->has_watchdog) {
        pthread_mutex_lock(&h->mu);
        h->stopping = 1;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->watchdog, NULL);
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
