/* httpd.h - a thin layer over libmicrohttpd shared by the ingress, the worker and the function
 * runtime (internal to src/serve). Thread per connection (handlers may block), and every bound
 * against slow or hostile clients in one place (docs/security.md "Serving plane"):
 *   - connections: a total cap and a cap per client address (MHD), each connection a thread;
 *   - time: an idle timeout (MHD) and a whole-request deadline (a watchdog thread shuts down a
 *     connection whose request has not fully arrived within request_timeout_s of the
 *     connection's start or of its previous answer), so a trickled header or body holds its
 *     thread for a bounded time;
 *   - memory: a body cap per request (413 from Content-Length before the body is read; a
 *     chunked body over it is read and discarded up to the cap again, then answered 413) and a
 *     budget for the whole process (bodies as buffered, plus what handlers reserve for their
 *     parse): beyond it, 503 with Retry-After;
 *   - framing: two Content-Length headers, Content-Length with Transfer-Encoding, or a
 *     Transfer-Encoding other than chunked are refused with 400 (request smuggling);
 *   - drain: while draining every answer says Connection: close, and sf__httpd_drain waits until
 *     every request whose headers arrived has been answered.
 * Answers to authenticated requests carry the response MAC (auth.h). */
#ifndef SERFLOW_SERVE_HTTPD_H
#define SERFLOW_SERVE_HTTPD_H

#include <stddef.h>

#include "serflow/auth.h"
#include "serflow/core.h"

struct MHD_Connection;

struct sf__httpd_req {
    const char *method;
    const char *url;
    const char *body; /* NUL-terminated copy, len bytes (NULL when none) */
    size_t len;
    struct MHD_Connection *conn;
    void *priv; /* the layer's per-request state */
};

#define SF__HTTPD_MAX_HEADERS 12
struct sf__httpd_resp {
    int status;
    char *body; /* heap; freed by the layer */
    size_t len;
    const char *content_type;
    const char *hdr_name[SF__HTTPD_MAX_HEADERS]; /* extra headers, static names */
    const char *hdr_value[SF__HTTPD_MAX_HEADERS];
    char hdr_buf[SF__HTTPD_MAX_HEADERS][128];
    char *hdr_heap[SF__HTTPD_MAX_HEADERS]; /* a longer value's copy, freed by the layer */
    /* set by sf__httpd_authenticate (or a handler): the answer gets the response MAC */
    unsigned char auth_key[SF_AUTH_KEY_BYTES];
    char auth_nonce[33];
    int auth;
};

/* The longest header value a response carries (a Lambda LogResult: 4 KB in base64). */
#define SF__HTTPD_MAX_HEADER_VALUE_BYTES 8192
/* Adds a header to resp (value copied; a value over 127 bytes goes to the heap, one over
 * SF__HTTPD_MAX_HEADER_VALUE_BYTES is cut there). */
void sf__httpd_header(struct sf__httpd_resp *resp, const char *name, const char *value);
/* JSON body helpers: resp takes ownership of body. */
void sf__httpd_json(struct sf__httpd_resp *resp, int status, char *body);
/* {"error": msg} with status. */
void sf__httpd_error(struct sf__httpd_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A request header's value or NULL. */
const char *sf__httpd_req_header(const struct sf__httpd_req *req, const char *name);
/* A query argument's value (decoded) or NULL. */
const char *sf__httpd_req_arg(const struct sf__httpd_req *req, const char *name);
/* Reserves bytes of the process's memory budget for this request until it is answered (a
 * parse's tree, a decoded tensor). 0, or -1 when the budget has no room (answer 503). */
int sf__httpd_reserve(const struct sf__httpd_req *req, size_t bytes);
/* Checks the request's X-Serflow-Auth against self (principal and key): SF_OK and the answer
 * will carry the response MAC; or resp filled with 401 and SF_EINVAL. self->set == 0 (a process
 * started by hand without an identity): SF_OK, nothing checked. */
int sf__httpd_authenticate(const struct sf__httpd_req *req, struct sf__httpd_resp *resp,
                           const struct sf_auth *self);

/* 1 when the client has closed its side of the connection (while the handler waits). */
int sf__httpd_client_gone(const struct sf__httpd_req *req);

typedef void (*sf__httpd_handler)(void *ctx, const struct sf__httpd_req *req,
                                  struct sf__httpd_resp *resp);

struct sf__httpd_cfg {
    const char *host; /* numeric IPv4 */
    int port;         /* 0: any */
    unsigned max_connections;
    unsigned max_per_client;  /* connections from one IP address; 0: no cap */
    unsigned idle_timeout_s;  /* a connection silent this long is closed */
    double request_timeout_s; /* a request must arrive whole within this; 0: no deadline */
    size_t max_body_bytes;
    size_t max_buffered_bytes; /* the process's budget for bodies and reservations; 0: none */
    sf__httpd_handler handler;
    void *ctx;
    /* Shapes the layer's own refusals (413, 400, 503 of the budget); NULL: {"error": msg}.
     * The function runtime answers them in the Lambda error shape. */
    void (*refusal)(void *ctx, struct sf__httpd_resp *resp, int status, const char *msg);
};

struct sf__httpd;
int sf__httpd_start(struct sf__httpd **out, const struct sf__httpd_cfg *cfg, struct sf_err *err);
int sf__httpd_port(const struct sf__httpd *h);
/* Stops accepting new connections (the ones already in the backlog get a 503 and a clean close,
 * never a reset); established ones go on. */
void sf__httpd_quiesce(struct sf__httpd *h);
/* From now on every answer closes its connection (Connection: close). */
void sf__httpd_closing(struct sf__httpd *h);
/* Waits at most timeout_s until no request is between its headers and the end of its answer;
 * returns how many still are. */
int sf__httpd_drain(struct sf__httpd *h, double timeout_s);
/* Bytes of the budget in use, and connections open (for /metrics). */
size_t sf__httpd_buffered(struct sf__httpd *h);
int sf__httpd_connections(struct sf__httpd *h);
/* Closes everything and joins the threads. */
void sf__httpd_stop(struct sf__httpd *h);

#endif
