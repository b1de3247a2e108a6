/*
 * fn_aws.c - the aws function provider: AWS Lambda's Invoke (RequestResponse, LogType Tail)
 * through the aws module's client: SigV4 with the credentials chain (an instance role's through
 * IMDSv2 on EC2), the SDKs' standard retries, a timeout on every attempt and the caller's
 * deadline on the whole call. Lambda takes and gives JSON only, so a frame travels wrapped
 * ({"serflow_frame":"<base64>"}, wire.h) and the answer is unwrapped; the billed duration and
 * memory come from the REPORT line of the log tail. n calls run in parallel on n threads, each
 * with its own client (a client is one curl handle, used by one thread at a time).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_int.h"
#include "serflow/wire.h"

struct fn_aws {
    char function[SF_FN_NAME_MAX + 1];
    char region[SF_AWS_NAME_MAX];
    char url[SF_AWS_URL_MAX];
    double timeout_s;
    int max_attempts;
    struct sf_aws_credp *creds, *own_creds;
    struct sf_aws_quota *quota, *own_quota;
};

/* A thread's session: a client per parallel call, made when first needed. */
struct aws_sess {
    struct fn_aws *p;
    struct sf_aws_client *cl[SF_FN_MAX_PARALLEL];
};

static int client_of(struct aws_sess *s, size_t i, struct sf_err *err)
{
    if (s->cl[i])
        return SF_OK;
    struct fn_aws *p = s->p;
    struct sf_aws_client_cfg cc;
    memset(&cc, 0, sizeof(cc));
    cc.region = p->region[0] ? p->region : NULL;
    cc.endpoint[SF_AWS_LAMBDA] = p->url[0] ? p->url : NULL;
    cc.max_attempts = p->max_attempts;
    cc.timeout_s = p->timeout_s;
    cc.creds = p->creds;
    cc.quota = p->quota;
    return sf_aws_client_new(&s->cl[i], &cc, err);
}

static int aws_session_new(void *ctx, void **sess, struct sf_err *err)
{
    struct aws_sess *s = calloc(1, sizeof(*s));
    if (!s)
        return sf_err_set(err, SF_ENOMEM, "aws function provider: out of memory");
    s->p = ctx;
    int rc = client_of(s, 0, err); /* a bad region or URL shows now, not at the first call */
    if (rc != SF_OK) {
        free(s);
        return rc;
    }
    *sess = s;
    return SF_OK;
}

static void aws_session_free(void *sess)
{
    struct aws_sess *s = sess;
    if (!s)
        return;
    for (size_t i = 0; i < SF_FN_MAX_PARALLEL; i++)
        sf_aws_client_free(s->cl[i]);
    free(s);
}

struct one {
    struct aws_sess *s;
    size_t i;
    struct sf_fn_call *c;
    double deadline_s;
};

static void *run_one(void *arg)
{
    struct one *o = arg;
    struct sf_fn_call *c = o->c;
    struct sf_err err = {{0}};
    char *json = NULL;
    size_t jl = 0;
    int rc = client_of(o->s, o->i, &err);
    if (rc == SF_OK)
        rc = sf_frame_json_wrap(c->payload, c->len, &json, &jl, &err);
    if (rc != SF_OK) {
        c->status = rc;
        sf__fn_call_error(c, err.msg);
        return NULL;
    }
    struct sf_aws_client *cl = o->s->cl[o->i];
    sf_aws_client_set_deadline(cl, o->deadline_s);
    struct sf_aws_invoke r;
    rc = sf_aws_lambda_invoke(cl, o->s->p->function, NULL, json, jl, 1, &r, NULL, &err);
    sf_aws_client_set_deadline(cl, 0);
    free(json);
    c->http_status = r.http_status;
    c->billed_ms = r.billed_duration_s >= 0 ? r.billed_duration_s * 1000 : -1;
    c->memory_mb = r.memory_mb;
    if (rc != SF_OK) {
        c->status = rc;
        sf__fn_call_error(c, err.msg);
    } else if (r.function_error[0]) {
        /* the function ran and failed: its error document is the answer */
        c->status = SF_OK;
        c->function_error = 1;
        snprintf(c->error, sizeof(c->error), "function error %.30s: %.150s", r.function_error,
                 r.payload ? r.payload : "");
        c->resp = r.payload;
        c->resp_len = r.payload_len;
        r.payload = NULL;
    } else {
        void *frame = NULL;
        size_t fl = 0;
        size_t cap = c->max_resp_bytes ? c->max_resp_bytes : SF_SERVE_MAX_BODY_BYTES;
        rc =
            sf_frame_json_unwrap(r.payload ? r.payload : "", r.payload_len, cap, &frame, &fl, &err);
        if (rc == SF_OK) {
            c->status = SF_OK;
            c->resp = frame;
            c->resp_len = fl;
        } else { /* an answer that is not a wrapped frame of its size: refused */
            c->status = SF_ECORRUPT;
            sf__fn_call_error(c, err.msg); /* the answer is refused */
        }
    }
    sf_aws_invoke_fini(&r);
    return NULL;
}

static void aws_invoke(void *sess, struct sf_fn_call *calls, size_t n, double timeout_s)
{
    struct aws_sess *s = sess;
    if (n > SF_FN_MAX_PARALLEL)
        n = SF_FN_MAX_PARALLEL;
    double deadline = sf_monotonic_s() + (timeout_s > 0 ? timeout_s : 0.001);
    struct one ones[SF_FN_MAX_PARALLEL];
    pthread_t th[SF_FN_MAX_PARALLEL];
    int started[SF_FN_MAX_PARALLEL] = {0};
    for (size_t i = 0; i < n; i++) {
        sf__fn_call_reset(&calls[i]);
        ones[i] = (struct one){s, i, &calls[i], deadline};
    }
    /* the first call on this thread, the others on their own */
    for (size_t i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, run_one, &ones[i]) == 0;
    if (n)
        run_one(&ones[0]);
    for (size_t i = 1; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            run_one(&ones[i]); /* no thread to be had: in turn */
    }
}

static void aws_free(void *ctx)
{
    struct fn_aws *p = ctx;
    if (!p)
        return;
    sf_aws_credp_free(p->own_creds);
    sf_aws_quota_free(p->own_quota);
    free(p);
}

static const struct sf_fn_ops aws_fn_ops = {
    .name = "aws",
    .session_new = aws_session_new,
    .session_free = aws_session_free,
    .invoke = aws_invoke,
    .free = aws_free,
};

int sf__fn_aws_new(struct sf_fn *out, const struct sf_fn_cfg *cfg, struct sf_err *err)
{
    if (strlen(cfg->function) > SF_FN_NAME_MAX)
        return sf_err_set(err, SF_EINVAL, "aws function provider: function name too long");
    if ((cfg->region && strlen(cfg->region) >= SF_AWS_NAME_MAX) ||
        (cfg->url && strlen(cfg->url) >= SF_AWS_URL_MAX))
        return sf_err_set(err, SF_EINVAL, "aws function provider: region or URL too long");
    struct fn_aws *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "aws function provider: out of memory");
    snprintf(p->function, sizeof(p->function), "%s", cfg->function);
    snprintf(p->region, sizeof(p->region), "%s", cfg->region ? cfg->region : "");
    snprintf(p->url, sizeof(p->url), "%s", cfg->url ? cfg->url : "");
    p->timeout_s = cfg->timeout_s;
    p->max_attempts = cfg->max_attempts;
    int rc = SF_OK;
    p->creds = cfg->creds;
    if (!p->creds && (rc = sf_aws_credp_new(&p->own_creds, NULL, err)) == SF_OK)
        p->creds = p->own_creds;
    p->quota = cfg->quota;
    if (rc == SF_OK && !p->quota &&
        !(p->quota = p->own_quota = sf_aws_quota_new(SF_AWS_RETRY_QUOTA)))
        rc = sf_err_set(err, SF_ENOMEM, "aws function provider: out of memory");
    if (rc == SF_OK) { /* the region and the endpoint are checked now, once */
        struct aws_sess probe = {.p = p};
        rc = client_of(&probe, 0, err);
        sf_aws_client_free(probe.cl[0]);
    }
    if (rc != SF_OK) {
        aws_free(p);
        return rc;
    }
    out->ops = &aws_fn_ops;
    out->ctx = p;
    return SF_OK;
}
