/*
 * invoke.c - the function path's provider interface (struct sf__invoker in server.h) and its
 * Lambda Invoke API implementation: the local function runtime (`serflow lambda`) or any endpoint
 * that speaks the Invoke API, over a keep-alive libcurl handle per dispatcher thread, signed as
 * the ingress and taken only with the runtime's response MAC; the billed duration comes with the
 * answer (SF_HTTP_BILLED_HEADER). An AWS Lambda provider implements the same open / invoke /
 * close with SigV4 (src/aws) and Lambda's own "Billed Duration".
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static void *lambda_open(struct sf__invoker *iv)
{
    (void)iv;
    return sf_http_new();
}

static void lambda_close(struct sf__invoker *iv, void *conn)
{
    (void)iv;
    sf_http_free(conn);
}

static void lambda_invoke(struct sf__invoker *iv, void *conn, struct sf__fn_call *call)
{
    struct sf__server *s = iv->ctx;
    const char *hdr[] = {"Content-Type: application/octet-stream", NULL};
    struct sf_http_bill bill;
    struct sf_http_opts o = {&s->ingress_id, call->max_resp_bytes, &bill, call->headers};
    struct sf_err err = {{0}};
    call->resp = NULL;
    call->resp_len = 0;
    call->status = 0;
    call->fn_error = 0;
    call->rc = sf_http_request_opts(conn, &o, s->invoke_url, call->payload, call->len, hdr,
                                    call->timeout_s, &call->status, &call->resp, &call->resp_len,
                                    &call->fn_error, &err);
    call->billed_ms = bill.billed_ms;
}

void sf__invoker_lambda(struct sf__server *s, struct sf__invoker *out)
{
    out->open = lambda_open;
    out->close = lambda_close;
    out->invoke = lambda_invoke;
    out->ctx = s;
}
