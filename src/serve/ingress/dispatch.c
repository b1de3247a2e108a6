/*
 * dispatch.c - the ingress's calls out: one thread per ready instance posting its batch (input
 * frame) to the worker with a keep-alive connection, and a pool of threads invoking the function
 * through the function provider (cloud.h: the local runtime's Invoke API, or AWS Lambda) for the
 * FaaS path. Every call is signed with the callee's identity
 * (the worker's own, or the ingress's for the runtime) and its answer is taken only with the
 * callee's response MAC, then only when it answers exactly the batch's ids (auth.h, wire.h);
 * anything else counts in serflow_frames_rejected_total and is a failure of that call.
 * At-least-once: a batch whose worker fails (killed, refused, garbled) goes to the function path;
 * a function call that fails is retried once, then its requests are answered as failed. No call
 * outlives its batch's deadline (by then admit.c has answered it 504). Results are delivered by
 * id, so a late duplicate is dropped by the ingress.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "serflow/log.h"

/* Worker call timeout beyond the batch's own time: a worker that takes this much longer than any
 * batch can is treated as dead (its batch goes to functions). */
#define WORKER_CALL_SLACK_S 5.0
/* Back-off after a 429 from the function runtime (its concurrency cap): a few milliseconds, the
 * time a short invocation takes to free its instance. */
#define FN_THROTTLE_BACKOFF_NS (5 * 1000 * 1000)
/* A call may end this long after its batch's deadline (the answer is then dropped anyway). */
#define CALL_DEADLINE_SLACK_S 0.2

struct sf__batch *sf__batch_take(struct sf__server *s, size_t n)
{
    if (n > s->q_len)
        n = s->q_len;
    struct sf__batch *b = calloc(1, sizeof(*b));
    if (b) {
        b->ids = malloc((n ? n : 1) * sizeof(uint64_t));
        b->x = malloc((n ? n : 1) * s->numel * sizeof(float));
        if (!b->ids || !b->x) {
            sf__batch_free(b);
            b = NULL;
        }
    }
    const struct sf__pending *prev = NULL;
    size_t ids_len = 0;
    for (size_t i = 0; i < n; i++) {
        struct sf__item *it = s->queue[(s->q_head + i) % s->q_cap];
        it->queued = 0;
        if (!b)
            continue;
        b->ids[i] = it->id;
        memcpy(b->x + i * s->numel, it->owner->x + it->idx * s->numel, s->numel * sizeof(float));
        if (!i) /* the oldest: the earliest deadline */
            b->deadline_s = it->deadline_s;
        if (it->owner == prev || !it->owner->trace)
            continue; /* a request's images are queued together */
        prev = it->owner;
        const struct sf_reqtrace *t = it->owner->trace;
        size_t l = strlen(t->request_id);
        if (ids_len + l + 1 < sizeof(b->req_ids)) { /* whole ids only */
            snprintf(b->req_ids + ids_len, sizeof(b->req_ids) - ids_len, "%s%s", ids_len ? "," : "",
                     t->request_id);
            ids_len += l + (ids_len ? 1 : 0);
        }
        if (!b->n_requests++) { /* its own span in its oldest request's trace */
            struct sf_reqtrace span = *t;
            char parent[64];
            sf_reqtrace_header(t, parent, sizeof(parent));
            sf_reqtrace_begin(&span, t->request_id, parent);
            sf_reqtrace_header(&span, b->traceparent, sizeof(b->traceparent));
        }
    }
    s->q_head = (s->q_head + n) % s->q_cap;
    s->q_len -= n;
    s->q_head_seq += (int64_t)n;
    if (b) {
        b->n = n;
        b->dispatched_s = sf__server_now(s);
    }
    return b;
}

void sf__batch_free(struct sf__batch *b)
{
    if (!b)
        return;
    free(b->ids);
    free(b->x);
    free(b);
}

/* One debug line per batch sent: where, its span, and the requests it carries. */
static void log_batch(const struct sf__batch *b, const char *path, int instance)
{
    sf_log(SF_LOG_DEBUG, "batch", SF_LS("path", path), SF_LI("instance", instance),
           SF_LI("images", b->n), SF_LI("requests", b->n_requests),
           SF_LS("traceparent", b->traceparent), SF_LS("ids", b->req_ids),
           SF_LI("attempt", b->attempts));
}

void sf__dispatch_function(struct sf__server *s, struct sf__batch *b)
{
    b->next = NULL;
    if (s->fn_tail)
        s->fn_tail->next = b;
    else
        s->fn_head = b;
    s->fn_tail = b;
    sf_metrics_add(s->metrics, s->mid.batches, "path=\"function\"", 1);
    log_batch(b, "function", -1);
    pthread_cond_signal(&s->fn_cv);
}

void sf__dispatch_instance(struct sf__server *s, int i, struct sf__batch *b)
{
    struct sf__inst *in = &s->inst[i];
    in->busy = 1;
    in->mail = b;
    const struct sf_batcher_cfg *bc = &s->cfg->bind->batcher;
    size_t n = b->n < (size_t)bc->batch_size ? b->n : (size_t)bc->batch_size;
    in->busy_until_s = sf__server_now(s) + bc->inst_worst_s[n];
    sf_metrics_add(s->metrics, s->mid.batches, "path=\"instance\"", 1);
    log_batch(b, "instance", in->id);
    pthread_cond_signal(&in->cv);
}

/* The header lines of a batch's calls: its request ids and its traceparent. */
struct trace_headers {
    char ids[SF_REQUEST_IDS_MAX_BYTES + 32];
    char parent[96];
};

static void trace_headers(const struct sf__batch *b, struct trace_headers *th)
{
    snprintf(th->ids, sizeof(th->ids), "X-Request-Id: %s", b->req_ids);
    snprintf(th->parent, sizeof(th->parent), "traceparent: %s", b->traceparent);
}

/* Encodes a batch as an input frame; NULL on failure. */
static void *frame_of(struct sf__server *s, const struct sf__batch *b, size_t *len)
{
    void *frame = NULL;
    struct sf_err err = {{0}};
    if (sf_frame_input_encode(b->ids, b->x, b->n, sf_nn_model_input_shape(s->model),
                              s->cfg->bind->tau, &frame, len, &err) != SF_OK)
        return NULL;
    return frame;
}

/* Decodes a result frame answering batch b and delivers it; 1 when it answered exactly b's
 * ids (in any order), else it is refused and counted under path. */
static int deliver_frame(struct sf__server *s, const struct sf__batch *b, const char *resp,
                         size_t rlen, const char *path)
{
    struct sf_err err = {{0}};
    struct sf_serve_result *r = NULL;
    size_t nr = 0;
    int ok = sf_frame_result_decode(resp, rlen, s->num_classes, b->n, &r, &nr, &err) == SF_OK &&
             sf_frame_results_match(r, nr, b->ids, b->n, &err) == SF_OK;
    if (ok)
        sf__server_deliver(s, r, nr);
    else
        sf_metrics_add(s->metrics, s->mid.frames_rejected, path, 1);
    free(r);
    return ok;
}

/* The largest answer a batch of n can have. */
static size_t result_cap(const struct sf__server *s, size_t n)
{
    return SF_FRAME_RESULT_HEADER_BYTES + n * (24 + 4 * (size_t)s->num_classes);
}

/* Seconds left before the batch's deadline (plus the slack); <= 0: nobody waits for it. */
static double time_left(const struct sf__server *s, const struct sf__batch *b)
{
    return b->deadline_s + CALL_DEADLINE_SLACK_S - sf__server_now(s);
}

static void *inst_main(void *arg)
{
    struct sf__inst *in = arg;
    struct sf__server *s = in->srv;
    struct sf_http *h = sf_http_new();
    char url[256];
    snprintf(url, sizeof(url), "http://%s/v1/batch", in->endpoint);
    /* the worker's own identity (the provider names it): it accepts nothing else, and only it
     * can answer */
    struct sf_auth who;
    memset(&who, 0, sizeof(who));
    char principal[SF_AUTH_PRINCIPAL_MAX + 1];
    pthread_mutex_lock(&s->mu);
    snprintf(principal, sizeof(principal), "%s", in->principal);
    pthread_mutex_unlock(&s->mu);
    if (principal[0]) {
        struct sf_err aerr = {{0}};
        sf_auth_derive(&s->root, principal, &who, &aerr);
    }
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!in->mail && !in->quit)
            pthread_cond_wait(&in->cv, &s->mu);
        if (!in->mail)
            break;
        struct sf__batch *b = in->mail;
        pthread_mutex_unlock(&s->mu);
        size_t len = 0;
        void *frame = frame_of(s, b, &len);
        long status = 0;
        char *resp = NULL;
        size_t rlen = 0;
        struct sf_err err = {{0}};
        int ok = 0;
        double timeout =
            s->cfg->bind->env.ctl.epoch_s + 2 * s->cfg->fn_timeout_s + WORKER_CALL_SLACK_S;
        double left = time_left(s, b);
        if (left < timeout)
            timeout = left;
        struct sf_http_bill bill;
        struct sf_http_opts o = {&who, result_cap(s, b->n), &bill, NULL};
        struct trace_headers th;
        trace_headers(b, &th);
        const char *hdr[] = {"Content-Type: application/octet-stream", th.ids, th.parent, NULL};
        if (frame && h && timeout > 0) {
            int rc = sf_http_request_opts(h, &o, url, frame, len, hdr, timeout, &status, &resp,
                                          &rlen, NULL, &err);
            if (bill.tail_calls > 0) /* the hybrid tail the worker invoked for this batch */
                sf__meter_functions(s, bill.tail_billed_ms, (uint64_t)bill.tail_calls);
            if (rc == SF_OK && status == 200)
                ok = deliver_frame(s, b, resp, rlen, "path=\"instance\"");
            else if (rc == SF_ECORRUPT || rc == SF_ETOOBIG) /* not the worker's, or too big */
                sf_metrics_add(s->metrics, s->mid.frames_rejected, "path=\"instance\"", 1);
        }
        free(resp);
        free(frame);
        pthread_mutex_lock(&s->mu);
        in->mail = NULL;
        in->busy = 0;
        if (ok || time_left(s, b) <= 0) {
            sf__batch_free(b); /* answered, or past its deadline (answered 504) */
        } else {
            /* the worker failed mid-batch: its requests go to functions (at-least-once) */
            sf_metrics_add(s->metrics, s->mid.redispatch, "", 1);
            b->attempts = 0;
            sf__dispatch_function(s, b);
        }
        pthread_cond_signal(&s->ctl_cv); /* an instance became free */
    }
    pthread_mutex_unlock(&s->mu);
    sf_http_free(h);
    return NULL;
}

int sf__inst_start(struct sf__server *s, int i)
{
    struct sf__inst *in = &s->inst[i];
    in->srv = s;
    pthread_cond_init(&in->cv, NULL);
    if (pthread_create(&in->thread, NULL, inst_main, in) != 0) {
        pthread_cond_destroy(&in->cv);
        return SF_EIO;
    }
    in->has_thread = 1;
    return SF_OK;
}

void sf__inst_join(struct sf__server *s, int i)
{
    struct sf__inst *in = &s->inst[i];
    if (!in->has_thread)
        return;
    pthread_mutex_lock(&s->mu);
    in->quit = 1;
    pthread_cond_signal(&in->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(in->thread, NULL);
    pthread_cond_destroy(&in->cv);
    in->has_thread = 0;
}

static void *fn_main(void *arg)
{
    struct sf__server *s = arg;
    /* the function provider's session for this thread (a connection, or an AWS client) */
    void *sess = NULL;
    struct sf_err serr = {{0}};
    if (s->fn.ops->session_new(s->fn.ctx, &sess, &serr) != SF_OK)
        sess = NULL; /* every call of this thread fails, and its requests are answered 502 */
    /* the runtime answers within its queue bound (timeout + cold start + 10 s) and the run */
    double call_s = 2 * s->cfg->fn_timeout_s + s->cfg->fn_cold_start_delay_s + 15;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->fn_head && !s->fn_quit)
            pthread_cond_wait(&s->fn_cv, &s->mu);
        if (!s->fn_head)
            break;
        struct sf__batch *b = s->fn_head;
        s->fn_head = b->next;
        if (!s->fn_head)
            s->fn_tail = NULL;
        pthread_mutex_unlock(&s->mu);
        size_t len = 0;
        void *frame = frame_of(s, b, &len);
        int ok = 0;
        double t_first = sf_monotonic_s();
        struct trace_headers th;
        trace_headers(b, &th);
        const char *hdr[] = {th.ids, th.parent, NULL}; /* passed on to the function */
        for (int attempt = 0; attempt < 2 && frame && !ok && time_left(s, b) > 0;
             attempt++) { /* one retry */
            if (attempt)
                sf_metrics_add(s->metrics, s->mid.fn_retries, "", 1);
            double timeout = time_left(s, b) < call_s ? time_left(s, b) : call_s;
            /* one invocation through the function provider (cloud.h): Lambda's semantics */
            struct sf_fn_call call = {.payload = frame,
                                      .len = len,
                                      .max_resp_bytes = result_cap(s, b->n),
                                      .headers = hdr,
                                      .status = SF_EIO,
                                      .billed_ms = -1};
            if (sess)
                s->fn.ops->invoke(sess, &call, 1, timeout);
            if (call.billed_ms >= 0) /* billed, whatever the answer: the provider says so */
                sf__meter_functions(s, call.billed_ms, 1);
            if (call.status == SF_ECORRUPT)
                sf_metrics_add(s->metrics, s->mid.frames_rejected, "path=\"function\"", 1);
            if (call.status == SF_ETHROTTLED && sf_monotonic_s() - t_first < s->cfg->fn_timeout_s) {
                /* throttled at the concurrency cap: not a failure of the function; wait for a
                 * slot (bounded by the invocation timeout) without using up the retry */
                sf_metrics_add(s->metrics, s->mid.fn_throttled, "", 1);
                sf_fn_call_fini(&call);
                nanosleep(&(struct timespec){0, FN_THROTTLE_BACKOFF_NS}, NULL);
                attempt--;
                continue;
            }
            if (call.status == SF_OK && !call.function_error)
                ok = deliver_frame(s, b, call.resp, call.resp_len, "path=\"function\"");
            sf_fn_call_fini(&call);
        }
        free(frame);
        if (!ok)
            sf__server_fail_batch(s, b);
        sf__batch_free(b);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (sess)
        s->fn.ops->session_free(sess);
    return NULL;
}

int sf__fn_dispatchers_start(struct sf__server *s, int n, struct sf_err *err)
{
    s->fn_threads = calloc((size_t)n, sizeof(pthread_t));
    if (!s->fn_threads)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (pthread_create(&s->fn_threads[i], NULL, fn_main, s) != 0)
            return sf_err_set(err, SF_EIO, "cannot start function dispatcher threads");
        s->n_fn_threads++;
    }
    return SF_OK;
}

void sf__fn_dispatchers_stop(struct sf__server *s)
{
    pthread_mutex_lock(&s->mu);
    s->fn_quit = 1;
    pthread_cond_broadcast(&s->fn_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_fn_threads; i++)
        pthread_join(s->fn_threads[i], NULL);
    free(s->fn_threads);
    s->fn_threads = NULL;
    s->n_fn_threads = 0;
}
