/* httpd.h - a thin layer over libmicrohttpd shared by the ingress, the worker and the function
 * runtime (internal to src/serve): thread per connection (handlers may block), connection cap,
 * idle timeout, body cap (413 before the body is read when Content-Length says so). */
#ifndef SERFLOW_SERVE_HTTPD_H
#define SERFLOW_SERVE_HTTPD_H

#include <stddef.h>

#include "serflow/core.h"

struct MHD_Connection;

struct sf__httpd_req {
    const char *method;
    const char *url;
    const char *body; /* NUL-terminated copy, len bytes (NULL when none) */
    size_t len;
    struct MHD_Connection *conn;
};

struct sf__httpd_resp {
    int status;
    char *body; /* heap; freed by the layer */
    size_t len;
    const char *content_type;
    const char *hdr_name[4]; /* extra headers, static strings or ones in hdr_buf */
    const char *hdr_value[4];
    char hdr_buf[4][128];
};

/* Adds a header to resp (value copied). */
void sf__httpd_header(struct sf__httpd_resp *resp, const char *name, const char *value);
/* JSON body helpers: resp takes ownership of body. */
void sf__httpd_json(struct sf__httpd_resp *resp, int status, char *body);
/* {"error": msg} with status. */
void sf__httpd_error(struct sf__httpd_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A request header's value or NULL. */
const char *sf__httpd_req_header(const struct sf__httpd_req *req, const char *name);

typedef void (*sf__httpd_handler)(void *ctx, const struct sf__httpd_req *req,
                                  struct sf__httpd_resp *resp);

struct sf__httpd_cfg {
    const char *host; /* numeric IPv4 */
    int port;         /* 0: any */
    unsigned max_connections;
    unsigned idle_timeout_s; /* a connection silent this long is closed (slowloris) */
    size_t max_body_bytes;
    sf__httpd_handler handler;
    void *ctx;
};

struct sf__httpd;
int sf__httpd_start(struct sf__httpd **out, const struct sf__httpd_cfg *cfg, struct sf_err *err);
int sf__httpd_port(const struct sf__httpd *h);
/* Stops accepting new connections; established ones go on. */
void sf__httpd_quiesce(struct sf__httpd *h);
/* Closes everything and joins the threads. */
void sf__httpd_stop(struct sf__httpd *h);

#endif
