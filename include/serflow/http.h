/*
 * http.h - the HTTP client every serving process and test uses (serve/wire/http_client.c, over
 * libcurl): keep-alive connections, a timeout on every request, capped response bodies, and
 * parallel POSTs for the hybrid tail's fan-out.
 */
#ifndef SERFLOW_HTTP_H
#define SERFLOW_HTTP_H

#include <stddef.h>

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

#endif
