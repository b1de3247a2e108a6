/*
 * aws_int.h - internals shared by the files of src/aws/: a capped growable buffer, hex and hash
 * helpers, the default hooks, the request/attempt loop the clients share, and the readers of
 * response headers.
 */
#ifndef SERFLOW_AWS_INT_H
#define SERFLOW_AWS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/aws.h"

/* A growable text buffer that never grows past max bytes (+1 for the NUL). Once an append fails,
 * every later one fails too and status says why (SF_ENOMEM or SF_ETOOBIG). */
struct sf__abuf {
    char *p;
    size_t len, cap, max;
    int status;
};
void sf__abuf_init(struct sf__abuf *b, size_t max);
void sf__abuf_add(struct sf__abuf *b, const void *data, size_t n);
void sf__abuf_str(struct sf__abuf *b, const char *s);
void sf__abuf_ch(struct sf__abuf *b, char ch);
void sf__abuf_fmt(struct sf__abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees (after wiping: buffers may hold a token or a payload). */
void sf__abuf_fini(struct sf__abuf *b);
/* Hands the text to the caller (NULL when an append failed; then the buffer is freed). */
char *sf__abuf_take(struct sf__abuf *b);

/* Appends the AWS URI encoding of s[0..len) (see sf_aws_uri_encode). */
void sf__abuf_uri(struct sf__abuf *b, const char *s, size_t len, int keep_slash);

/* SHA-256 of data as 64 lower-case hex digits + NUL. */
void sf__sha256_hex(const void *data, size_t len, char hex[65]);

/* The hooks with every NULL member filled with the defaults. */
struct sf__hooks {
    struct sf_aws_hooks h;
    uint64_t rng; /* the default uniform's state */
};
void sf__hooks_init(struct sf__hooks *out, const struct sf_aws_hooks *in);
double sf__hooks_uniform(struct sf__hooks *h);
/* Formats a debug line, redacts it and hands it to the log hook (no-op without one). */
void sf__log(struct sf__hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Case-insensitive: 1 when line (a raw header line of n bytes) is "Name: ..." for this name; the
 * trimmed value is copied to out (cut to size). */
int sf__header_value(const char *line, size_t n, const char *name, char *out, size_t size);

/* Copies s into a fixed buffer, refusing (SF_EINVAL "what: too long") instead of cutting. */
int sf__copy(char *dst, size_t size, const char *s, const char *what, struct sf_err *err);

/* An HTTP request of the clients: the service's base URL + path + encoded query. */
struct sf__req {
    enum sf_aws_service svc;
    const char *operation; /* for messages and logs */
    const char *method;
    const char *path; /* encoded */
    const struct sf_aws_kv *query;
    size_t n_query;
    const struct sf_aws_kv *headers; /* extra headers to send and sign (Content-Type, ...) */
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t max_body_bytes; /* the answer's cap for a 2xx */
};
/* The answer of the last attempt: status, body (heap), the headers the clients read. */
struct sf__resp {
    long status;
    char *body;
    size_t len;
    char request_id[SF_AWS_ID_MAX];
    char error_type[SF_AWS_ID_MAX];     /* X-Amzn-ErrorType (REST JSON) */
    char function_error[SF_AWS_ID_MAX]; /* X-Amz-Function-Error */
    char executed_version[SF_AWS_ID_MAX];
    char *log_result; /* X-Amz-Log-Result (base64), heap */
    int too_big;
};
void sf__resp_fini(struct sf__resp *r);

/* Runs a request with signing, retries, backoff and the quota: returns SF_OK when the final
 * answer is a 2xx (in *resp), else the status of the final outcome with err saying which call,
 * which code and which message. error_of reads a service error's code and message from a
 * non-2xx body (Query XML or REST JSON). */
int sf__aws_call(struct sf_aws_client *c, const struct sf__req *req, struct sf__resp *resp,
                 struct sf_aws_call_info *info, struct sf_err *err);

/* Signing names and endpoint prefixes of the services. */
const char *sf__svc_signing_name(enum sf_aws_service s);
const char *sf__svc_api_version(enum sf_aws_service s);

/* Builds the form body "Action=...&Version=...&k=v..." of a Query API call (pairs encoded). */
char *sf__query_body(enum sf_aws_service s, const char *action, const struct sf_aws_kv *params,
                     size_t n, size_t *len);

#endif

/* The environment-variable name part of a service (AWS_ENDPOINT_URL_<NAME>). */
const char *sf__svc_env_name(enum sf_aws_service s);

/* One HTTP exchange on a curl easy handle (reset first, connection cache kept): method, url,
 * "Name: value" header lines (NULL-terminated), body. On an answer returns SF_OK with resp
 * filled (a body above max_bytes sets resp->too_big and is dropped); when none came returns the
 * outcome's status with *transport set (SF_AWS_TIMEOUT, SF_AWS_CONNECT_ERROR) and why in err. */
int sf__http_do(void *curl, const char *method, const char *url, const char *const *headers,
                const void *body, size_t len, double timeout_s, double connect_timeout_s,
                size_t max_bytes, struct sf__resp *resp, enum sf_aws_outcome *transport,
                struct sf_err *err);
