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
struct sf_http_opts {
    /* sign the request as this identity and accept the answer only with its response MAC (a
     * missing or wrong one is SF_ECORRUPT, status 0); NULL or unset: neither */
    const struct sf_auth *auth;
    size_t max_resp_bytes; /* the answer's cap (beyond: SF_ETOOBIG); 0: SF_SERVE_MAX_BODY_BYTES */
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
