/*
 * fn.c - the function providers' common part and the local one. sf_fn_new picks the provider a
 * configuration names; the local provider calls the local function runtime's Lambda Invoke API
 * (`serflow lambda`, or any server of that API) with the frame as the body, signed with the
 * caller's identity when it has one, and reads the billed duration the runtime reports with
 * each answer (X-Serflow-Billed-Duration-Ms). n calls go out in parallel on one curl multi
 * handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_int.h"
#include "serflow/http.h"

void sf_fn_call_fini(struct sf_fn_call *c)
{
    if (!c)
        return;
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
}

void sf__fn_call_reset(struct sf_fn_call *c)
{
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    c->status = SF_EIO;
    c->function_error = 0;
    c->http_status = 0;
    c->billed_ms = -1;
    c->memory_mb = 0;
    c->error[0] = '\0';
}

void sf__fn_call_error(struct sf_fn_call *c, const char *msg)
{
    size_t n = strlen(msg);
    if (n >= sizeof(c->error))
        n = sizeof(c->error) - 1;
    memcpy(c->error, msg, n);
    c->error[n] = '\0';
}

int sf__fn_status_of_http(long status)
{
    if (status >= 200 && status < 300)
        return SF_OK;
    switch (status) {
    case 0:
        return SF_EIO;
    case 429:
        return SF_ETHROTTLED;
    case 413:
        return SF_ETOOBIG;
    case 404:
        return SF_ENOTFOUND;
    case 401:
    case 403:
        return SF_EDENIED;
    default:
        return status >= 500 ? SF_EREMOTE : SF_EINVAL;
    }
}

/* ---- local: the local function runtime's Invoke API ---- */

struct fn_local {
    char url[SF_FN_URL_MAX]; /* .../2015-03-31/functions/NAME/invocations */
    struct sf_auth auth;
};

/* A thread's session: a keep-alive connection, and the provider it calls. */
struct local_sess {
    struct sf_http *h;
    struct fn_local *p;
};

static int local_session_new(void *ctx, void **sess, struct sf_err *err)
{
    struct local_sess *s = calloc(1, sizeof(*s));
    if (!s || !(s->h = sf_http_new())) {
        free(s);
        return sf_err_set(err, SF_ENOMEM, "function provider: no HTTP client");
    }
    s->p = ctx;
    *sess = s;
    return SF_OK;
}

static void local_session_free(void *sess)
{
    struct local_sess *s = sess;
    if (!s)
        return;
    sf_http_free(s->h);
    free(s);
}

/* Fills a call's outcome from an HTTP answer. */
static void local_outcome(struct sf_fn_call *c, int rc, long status, char *resp, size_t rlen,
                          int fnerr, const struct sf_http_bill *bill, const char *why)
{
    c->http_status = status;
    c->billed_ms = bill->billed_ms;
    c->resp = resp;
    c->resp_len = rlen;
    if (rc == SF_ETOOBIG) { /* an answer over its cap: refused */
        c->status = SF_ECORRUPT;
        snprintf(c->error, sizeof(c->error), "%s", why ? why : "the answer is over its cap");
        return;
    }
    c->status = rc != SF_OK ? rc : sf__fn_status_of_http(status);
    c->function_error = c->status == SF_OK && fnerr;
    if (c->status != SF_OK || c->function_error) {
        if (why && *why)
            snprintf(c->error, sizeof(c->error), "%s", why);
        else
            snprintf(c->error, sizeof(c->error), "HTTP %ld%s", status,
                     c->function_error ? " with X-Amz-Function-Error" : "");
    }
}

static void local_invoke(void *sess, struct sf_fn_call *calls, size_t n, double timeout_s)
{
    struct local_sess *s = sess;
    struct fn_local *p = s->p;
    const char *hdr[] = {"Content-Type: application/octet-stream", NULL};
    for (size_t i = 0; i < n; i++)
        sf__fn_call_reset(&calls[i]);
    if (n == 1) {
        struct sf_http_bill bill;
        struct sf_http_opts o = {&p->auth, calls[0].max_resp_bytes, &bill, calls[0].headers};
        long status = 0;
        char *resp = NULL;
        size_t rlen = 0;
        int fnerr = 0;
        struct sf_err err = {{0}};
        int rc = sf_http_request_opts(s->h, &o, p->url, calls[0].payload, calls[0].len, hdr,
                                      timeout_s, &status, &resp, &rlen, &fnerr, &err);
        local_outcome(&calls[0], rc, status, resp, rlen, fnerr, &bill, rc ? err.msg : NULL);
        return;
    }
    const void *bodies[SF_FN_MAX_PARALLEL] = {0};
    size_t lens[SF_FN_MAX_PARALLEL] = {0}, most = 0;
    long status[SF_FN_MAX_PARALLEL];
    char *resps[SF_FN_MAX_PARALLEL];
    size_t rlens[SF_FN_MAX_PARALLEL];
    int fnerrs[SF_FN_MAX_PARALLEL];
    struct sf_http_bill bill[SF_FN_MAX_PARALLEL];
    for (size_t i = 0; i < n; i++) {
        bodies[i] = calls[i].payload;
        lens[i] = calls[i].len;
        most = calls[i].max_resp_bytes > most ? calls[i].max_resp_bytes : most;
    }
    struct sf_http_opts o = {&p->auth, most, bill, calls[0].headers};
    if (sf_http_post_many(&o, p->url, bodies, lens, n, timeout_s, status, resps, rlens, fnerrs) !=
        SF_OK) {
        for (size_t i = 0; i < n; i++) {
            calls[i].status = SF_ENOMEM;
            snprintf(calls[i].error, sizeof(calls[i].error), "the calls could not be set up");
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = SF_OK;
        if (resps[i] && calls[i].max_resp_bytes && rlens[i] > calls[i].max_resp_bytes)
            rc = SF_ETOOBIG; /* a cap per call: the shared one was the largest */
        local_outcome(
            &calls[i], rc, status[i], rc ? NULL : resps[i], rc ? 0 : rlens[i], fnerrs[i], &bill[i],
            status[i] == 0 ? "no answer (refused, timed out, or not the callee's)" : NULL);
        if (rc)
            free(resps[i]);
    }
}

static void local_free(void *ctx)
{
    struct fn_local *p = ctx;
    if (p)
        memset(&p->auth, 0, sizeof(p->auth));
    free(p);
}

static const struct sf_fn_ops local_fn_ops = {
    .name = "local",
    .session_new = local_session_new,
    .session_free = local_session_free,
    .invoke = local_invoke,
    .free = local_free,
};

/* Percent-encodes a function name for a URL path (RFC 3986 unreserved kept). */
static void url_encode(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static int local_new(struct sf_fn *out, const struct sf_fn_cfg *cfg, struct sf_err *err)
{
    if (!cfg->url || !*cfg->url)
        return sf_err_set(err, SF_EINVAL, "local function provider: no runtime URL");
    if (strlen(cfg->url) > 512 || strlen(cfg->function) > SF_FN_NAME_MAX)
        return sf_err_set(err, SF_EINVAL, "local function provider: URL or name too long");
    struct fn_local *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "local function provider: out of memory");
    char name[3 * SF_FN_NAME_MAX + 1];
    url_encode(cfg->function, name, sizeof(name));
    snprintf(p->url, sizeof(p->url), "%s/2015-03-31/functions/%s/invocations", cfg->url, name);
    if (cfg->auth && cfg->auth->set)
        p->auth = *cfg->auth;
    out->ops = &local_fn_ops;
    out->ctx = p;
    return SF_OK;
}

int sf_fn_new(struct sf_fn *out, const struct sf_fn_cfg *cfg, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!cfg->function || !*cfg->function)
        return sf_err_set(err, SF_EINVAL, "function provider: no function name");
    if (!cfg->provider || !strcmp(cfg->provider, "local"))
        return local_new(out, cfg, err);
    if (!strcmp(cfg->provider, "aws"))
        return sf__fn_aws_new(out, cfg, err);
    return sf_err_set(err, SF_EINVAL, "function provider '%.32s': expected local or aws",
                      cfg->provider);
}

void sf_fn_free(struct sf_fn *f)
{
    if (f && f->ops)
        f->ops->free(f->ctx);
    if (f)
        memset(f, 0, sizeof(*f));
}
