/*
 * httpd.c - libmicrohttpd glue for every serving process: one thread per connection so a
 * handler may block until its answer is ready; bodies gathered into a capped buffer (413 when
 * over, decided from Content-Length before reading when it is sent); every response carries the
 * handler's status, content type and extra headers. Limits against slow or stalled clients: a
 * connection cap and an idle timeout.
 */
#include "wire/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serflow/wire.h"
#include "wire/wire_int.h"

struct sf__httpd {
    struct MHD_Daemon *d;
    struct sf__httpd_cfg cfg;
    int port;
};

/* Per-request state kept by MHD between the calls of one request. */
struct upload {
    char *p;
    size_t len, cap;
    int too_big;
};

void sf__httpd_header(struct sf__httpd_resp *resp, const char *name, const char *value)
{
    for (int i = 0; i < 4; i++)
        if (!resp->hdr_name[i]) {
            resp->hdr_name[i] = name;
            snprintf(resp->hdr_buf[i], sizeof(resp->hdr_buf[i]), "%s", value);
            resp->hdr_value[i] = resp->hdr_buf[i];
            return;
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

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct sf__httpd_resp *r)
{
    if (!r->body && r->status == 0)
        sf__httpd_error(r, 500, "internal error: no response");
    struct MHD_Response *m =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!m) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL; /* owned by the response now */
    if (r->content_type)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < 4; i++)
        if (r->hdr_name[i])
            MHD_add_response_header(m, r->hdr_name[i], r->hdr_value[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)(r->status ? r->status : 500), m);
    MHD_destroy_response(m);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct sf__httpd *h = cls;
    struct upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *con_cls = u;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->cfg.max_body_bytes)
            u->too_big = 1;
        if (!u->too_big)
            return MHD_YES;
    }
    if (u->too_big) {
        struct sf__httpd_resp r = {0};
        sf__httpd_error(&r, 413, "request body larger than the %zu-byte limit",
                        h->cfg.max_body_bytes);
        *upload_data_size = 0;
        return send_resp(conn, &r);
    }
    if (*upload_data_size) {
        int rc = sf__buf_append(&u->p, &u->len, &u->cap, upload_data, *upload_data_size,
                                h->cfg.max_body_bytes);
        *upload_data_size = 0;
        if (rc == -2)
            return MHD_NO;
        u->too_big |= rc == -1; /* answered 413 on the next call */
        return MHD_YES;
    }
    struct sf__httpd_req req = {method, url, u->p, u->len, conn};
    struct sf__httpd_resp r = {0};
    h->cfg.handler(h->cfg.ctx, &req, &r);
    return send_resp(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->p);
        free(u);
        *con_cls = NULL;
    }
}

int sf__httpd_start(struct sf__httpd **out, const struct sf__httpd_cfg *cfg, struct sf_err *err)
{
    struct sf__httpd *h = calloc(1, sizeof(*h));
    if (!h)
        return sf_err_set(err, SF_ENOMEM, "httpd: out of memory");
    h->cfg = *cfg;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        free(h);
        return sf_err_set(err, SF_EINVAL, "--host: '%s' is not a numeric IPv4 address", cfg->host);
    }
    h->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL,
        NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return sf_err_set(err, SF_EIO, "cannot listen on %s:%d (in use, or not permitted)",
                          cfg->host, cfg->port);
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
            close(s);
    }
}

void sf__httpd_stop(struct sf__httpd *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d);
    free(h);
}
