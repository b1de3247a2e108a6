/*
 * http.h - the HTTP client every serving process and test uses (serve/wire/http_client.c, over
 * libcurl): keep-alive connections, a timeout on every request, capped response bodies, and
 * parallel POSTs for the hybrid tail's fan-out.
 */
#ifndef SERFLOW_HTTP_H
#define SERFLOW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/auth.h"
#include "serflow/core.h"

/* ---- small HTTP client helpers (libcurl), shared by the processes and the tests ---- */

/* A reusable client connection (keep-alive between requests to the same host). One per thread. */
struct sf_http;
struct sf_http *sf_http_new(void);
void sf_http_free(struct sf_http *h);

/* POST (or GET when body is NULL) of body to url with extra headers (NULL-terminated
 * "Name: value" strings, may be NULL), waiting at most timeout_s, on connection h (NULL: a
 * one-shot connection). *status gets the HTTP status
 * (0 when the connection failed), *resp a heap copy of the body (caller frees; capped at
 * SF_SERVE_MAX_BODY_BYTES), *fn_error whether X-Amz-Function-Error was present (may be NULL).
 * SF_EIO when no HTTP response arrived. Thread-safe (sf_http_global_init once first). */
int sf_http_request(struct sf_http *h, const char *url, const void *body, size_t len,
                    const char *const *headers, double timeout_s, long *status, char **resp,
                    size_t *resp_len, int *fn_error, struct sf_err *err);
/* What an internal call adds to a request (auth.h): */
/* The bill a callee reports as data with its answer (so that nobody scrapes a peer's /metrics):
 * a function invocation's billed duration (the local function runtime's
 * SF_HTTP_BILLED_HEADER, Lambda's "Billed Duration"), and for a VM worker's answer the function
 * tail it invoked for the batch (SF_HTTP_TAIL_BILLED_HEADER, SF_HTTP_TAIL_CALLS_HEADER). A value
 * is -1 when the answer did not carry it. */
#define SF_HTTP_BILLED_HEADER      "X-Serflow-Billed-Duration-Ms"
#define SF_HTTP_TAIL_BILLED_HEADER "X-Serflow-Tail-Billed-Ms"
#define SF_HTTP_TAIL_CALLS_HEADER  "X-Serflow-Tail-Invocations"
struct sf_http_bill {
    double billed_ms;      /* this invocation's billed duration */
    double tail_billed_ms; /* the worker's tail invocations, summed (each already rounded) */
    double tail_calls;     /* how many tail invocations that is */
};

struct sf_http_opts {
    /* sign the request as this identity and accept the answer only with its response MAC (a
     * missing or wrong one is SF_ECORRUPT, status 0); NULL or unset: neither */
    const struct sf_auth *auth;
    size_t max_resp_bytes; /* the answer's cap (beyond: SF_ETOOBIG); 0: SF_SERVE_MAX_BODY_BYTES */
    /* out, may be NULL: the bill the answer reports (one per request; n for post_many) */
    struct sf_http_bill *bill;
    /* more header lines for every request ("Name: value", NULL-terminated; may be NULL): the
     * request ids and trace context a call passes on */
    const char *const *headers;
};
/* sf_http_request with opts (may be NULL). */
int sf_http_request_opts(struct sf_http *h, const struct sf_http_opts *opts, const char *url,
                         const void *body, size_t len, const char *const *headers, double timeout_s,
                         long *status, char **resp, size_t *resp_len, int *fn_error,
                         struct sf_err *err);
/* n POSTs of bodies[i] (octet-stream) to the same url in parallel (libcurl multi), each bounded by
 * timeout_s and signed and checked per opts (may be NULL); per request the status (0: no
 * response, or an answer without its MAC), the body (heap, caller frees; NULL when none) and the
 * function-error flag. SF_ENOMEM when the transfers could not be set up. */
int sf_http_post_many(const struct sf_http_opts *opts, const char *url, const void *const *bodies,
                      const size_t *lens, size_t n, double timeout_s, long *status, char **resps,
                      size_t *resp_lens, int *fn_errors);
/* curl_global_init; call once per process before threads start. */
int sf_http_global_init(struct sf_err *err);

/* ---- HTTP/1.1 messages (serve/wire/h1.c): the event-driven server and its worker client ----
 * A strict reader of message heads (RFC 9112): untrusted bytes, caps checked before anything is
 * kept, every field a view into the caller's buffer (nothing allocated). */

/* A request line and its header fields: real heads are under 1 KiB (curl's is 150 bytes); 16 KiB
 * is what nginx's large header buffers allow one request line to use. Beyond: 431. */
#define SF_HTTP_MAX_HEAD_BYTES 16384
/* Header fields of one message: a browser sends about 15. Beyond: 431. */
#define SF_HTTP_MAX_FIELDS 64
/* A chunk-size line with its extensions, and the trailer section of a chunked body. */
#define SF_HTTP_MAX_CHUNK_LINE_BYTES 1024
#define SF_HTTP_MAX_TRAILER_BYTES    4096

struct sf_http_field {
    const char *name, *value;   /* views into the parsed buffer, not NUL-terminated */
    size_t name_len, value_len; /* the value without its leading and trailing whitespace */
};

struct sf_http_head {
    const char *method, *target; /* request: views, not NUL-terminated */
    size_t method_len, target_len;
    int status; /* response: 100..999 */
    int minor;  /* HTTP/1.minor: 0 or 1 */
    size_t n_fields;
    struct sf_http_field field[SF_HTTP_MAX_FIELDS];
    size_t head_bytes; /* the head with its final empty line; 0 while incomplete */
};

/* Parses the head of a request (is_request) or a response at buf[0..len): up to two empty lines
 * before a request line are skipped; lines end in CRLF (a lone CR or LF is refused); a method is a
 * token, a target visible bytes from '/' (or "*"), the version HTTP/1.0 or HTTP/1.1; a field name
 * is a token followed at once by ':', a value holds no control byte but HTAB, a folded line is
 * refused. SF_OK with head_bytes 0 when the head is not complete yet (and fits the cap so far),
 * SF_EPARSE when malformed, SF_ETOOBIG beyond SF_HTTP_MAX_HEAD_BYTES or SF_HTTP_MAX_FIELDS. */
int sf_http_parse_head(const char *buf, size_t len, int is_request, struct sf_http_head *head,
                       struct sf_err *err);
/* The first field called name (any case), or NULL; how many there are. */
const struct sf_http_field *sf_http_field_get(const struct sf_http_head *h, const char *name);
size_t sf_http_field_count(const struct sf_http_head *h, const char *name);
/* 1 when the comma-separated list value[0..len) holds token (any case), e.g. Connection: close. */
int sf_http_list_has(const char *value, size_t len, const char *token);

/* How a message's body is framed (RFC 9112 6.3), ambiguity refused (request smuggling): more than
 * one Content-Length (even equal), Content-Length with Transfer-Encoding, a Transfer-Encoding other
 * than exactly chunked, a length that is not digits or above 2^53: SF_EINVAL. No framing field:
 * no body (a request; a response is read to its end by nobody here: SF_EINVAL for a response
 * without either, unless its status has no body). */
enum sf_http_body { SF_HTTP_BODY_NONE = 0, SF_HTTP_BODY_LENGTH = 1, SF_HTTP_BODY_CHUNKED = 2 };
int sf_http_framing(const struct sf_http_head *h, int is_request, enum sf_http_body *kind,
                    uint64_t *length, struct sf_err *err);

/* An incremental chunked-body decoder, in place: caller-owned, zeroed to start. */
struct sf_http_chunked {
    int state;
    uint64_t left;        /* data bytes left in the current chunk (its size while reading it) */
    int digits;           /* of the size being read */
    size_t line_bytes;    /* of the size line, or of the trailer line, being read */
    size_t trailer_bytes; /* of the trailer section so far */
};
/* Decodes buf[0..len) (the bytes after what earlier calls consumed): writes the data bytes to the
 * front of buf (data never overtakes the input), sets *consumed (input bytes used), *out_len (data
 * bytes written) and *done once the last chunk and its trailers are read (bytes after it are not
 * consumed). SF_EPARSE on a malformed size line or a missing CRLF, SF_ETOOBIG on a chunk size
 * above 2^53 or a size line or trailer section beyond its cap. */
int sf_http_chunked_decode(struct sf_http_chunked *c, char *buf, size_t len, size_t *consumed,
                           size_t *out_len, int *done, struct sf_err *err);

/* Percent-decodes the path of a request target (up to '?') into out (size >= target_len + 1,
 * NUL-terminated); *query gets the part after '?' (NULL when none). A malformed %-escape is kept as
 * it is (as libmicrohttpd does); a %00 is refused (SF_EINVAL: a path is a C string here). */
int sf_http_path_decode(const char *target, size_t target_len, char *out, size_t size,
                        const char **query, size_t *query_len, struct sf_err *err);

#endif
