/*
 * dispatch.c - the ingress's batches on their way out. A batch is cut from the head of the
 * admission queue with each image copied once, from its request's body (or parsed tensor) into
 * what travels: the input frame for a worker or a function, or the runner's own batch for an
 * in-process instance. An instance batch is sent by the thread that releases the lock after the
 * batcher chose it (sf__server_unlock): one sendmsg on the worker's keep-alive connection (ev.h's
 * client, on an event loop that reads the answer and delivers it), or the in-process runner run
 * in that very thread. Function batches go to a pool of dispatcher threads that invoke the
 * function through the function provider (cloud.h: the local runtime's Invoke API, or AWS
 * Lambda), since an invocation blocks for its run.
 *
 * Every call is signed with the callee's identity (the worker's own, or the ingress's for the
 * runtime) and its answer is taken only with the callee's response MAC, then only when it answers
 * exactly the batch's ids (auth.h, wire.h); anything else counts in serflow_frames_rejected_total
 * and is a failure of that call. At-least-once: a batch whose worker fails (killed, refused,
 * garbled, past its time) goes to the function path; a function call that fails is retried once,
 * then its requests are answered as failed. No call outlives its batch's deadline (by then
 * admit.c has answered it 504). Results are delivered by id, so a late duplicate is dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "wire/wire_int.h"
#include "serflow/log.h"

/* Worker call timeout beyond the batch's own time: a worker that takes this much longer than any
 * batch can is treated as dead (its batch goes to functions). */
#define WORKER_CALL_SLACK_S 5.0
/* Back-off after a 429 from the function runtime (its concurrency cap): a few milliseconds, the
 * time a short invocation takes to free its instance. */
#define FN_THROTTLE_BACKOFF_NS (5 * 1000 * 1000)
/* A call may end this long after its batch's deadline (the answer is then dropped anyway). */
#define CALL_DEADLINE_SLACK_S 0.2

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

double sf__field_number(const struct sf_http_field *f)
{
    char v[64];
    if (!f->value_len || f->value_len >= sizeof(v))
        return -1;
    memcpy(v, f->value, f->value_len);
    v[f->value_len] = '\0';
    char *end;
    double x = strtod(v, &end);
    return *end == '\0' && x >= 0 && x < 1e15 ? x : -1;
}

/* Image idx of a queued request: its bytes, little-endian floats. */
static const void *image_of(const struct sf__server *s, const struct sf__item *it)
{
    const struct sf_oip_request *o = &it->owner->oip;
    return o->bin ? (const void *)(o->bin + it->idx * s->numel * sizeof(float))
                  : (const void *)(o->x + it->idx * s->numel);
}

struct sf__batch *sf__batch_take(struct sf__server *s, size_t n, enum sf__batch_to to, int inst)
{
    if (n > s->q_len)
        n = s->q_len;
    struct sf_err err = {{0}};
    struct sf__batch *b = calloc(1, sizeof(*b));
    unsigned char *ids_at = NULL, *x_at = NULL;
    if (b) {
        b->srv = s;
        b->inst = -1;
        b->ids = malloc((n ? n : 1) * sizeof(uint64_t));
        int ok = b->ids != NULL;
        if (ok && to == SF__TO_LOCAL) {
            struct sf_nn_batch *nb = sf__inproc_batch(s->inst[inst].local);
            ok = sf_nn_batch_reset(nb, n, sf_nn_model_input_shape(s->model), s->num_classes,
                                   &err) == SF_OK;
            if (ok)
                x_at = (unsigned char *)nb->x;
        } else if (ok) {
            ok = sf_frame_input_alloc(n, sf_nn_model_input_shape(s->model), s->cfg->bind->tau,
                                      &b->frame, &b->frame_len, &err) == SF_OK;
            if (ok) {
                ids_at = (unsigned char *)b->frame + SF_FRAME_INPUT_HEADER_BYTES;
                x_at = ids_at + 8 * n;
            }
        }
        if (!ok) {
            sf__batch_free(b);
            b = NULL;
        }
    }
    size_t bytes = s->numel * sizeof(float);
    const struct sf__pending *prev = NULL;
    size_t ids_len = 0;
    for (size_t i = 0; i < n; i++) {
        struct sf__item *it = s->queue[(s->q_head + i) % s->q_cap];
        it->queued = 0;
        if (!b)
            continue;
        b->ids[i] = it->id;
        if (ids_at)
            sf__put64(ids_at + 8 * i, it->id);
        /* the one copy of the image: from the request's body into what travels */
        memcpy(x_at + i * bytes, image_of(s, it), bytes);
        if (!i) /* the oldest: the earliest deadline */
            b->deadline_s = it->deadline_s;
        if (it->owner == prev)
            continue; /* a request's images are queued together */
        prev = it->owner;
        const struct sf_reqtrace *t = &it->owner->acc.trace;
        size_t l = strlen(t->request_id);
        if (ids_len + l + 1 < sizeof(b->req_ids)) { /* whole ids only */
            if (ids_len)
                b->req_ids[ids_len++] = ',';
            memcpy(b->req_ids + ids_len, t->request_id, l + 1);
            ids_len += l;
        }
        if (!b->n_requests++) { /* its own span in its oldest request's trace */
            struct sf_reqtrace span = *t;
            char parent[64];
            sf_reqtrace_header(t, parent, sizeof(parent));
            sf_reqtrace_begin(&span, t->request_id, parent);
            sf_reqtrace_header(&span, b->traceparent, sizeof(b->traceparent));
        }
    }
    if (b && to == SF__TO_LOCAL)
        memcpy(sf__inproc_batch(s->inst[inst].local)->ids, b->ids, n * sizeof(uint64_t));
    s->q_head = (s->q_head + n) % s->q_cap;
    s->q_len -= n;
    s->q_head_seq += (int64_t)n;
    if (b) {
        b->n = n;
        b->dispatched_s = sf__server_now(s);
    } else if (n) {
        /* out of memory: its requests fail now rather than wait for their deadline */
        for (size_t i = 0; i < n; i++) {
            struct sf__item *it = s->queue[(s->q_head + s->q_cap - n + i) % s->q_cap];
            struct sf_serve_result r;
            memset(&r, 0, sizeof(r));
            r.id = it->id;
            r.status = SF_RESULT_FAILED;
            r.label = -1;
            r.num_classes = s->num_classes;
            sf__server_deliver(s, &r, 1);
        }
    }
    return b;
}

void sf__batch_free(struct sf__batch *b)
{
    if (!b)
        return;
    free(b->ids);
    free(b->frame);
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
    b->inst = -1;
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
    b->inst = i;
    const struct sf_batcher_cfg *bc = &s->cfg->bind->batcher;
    int n = b->n < (size_t)bc->batch_size ? (int)b->n : bc->batch_size;
    in->busy_until_s = sf__server_now(s) + sf_batcher_worst_s(bc, n, 1);
    sf_metrics_add(s->metrics, s->mid.batches, "path=\"instance\"", 1);
    log_batch(b, "instance", in->id);
    if (!in->in_outbox) {
        in->in_outbox = 1;
        s->outbox[s->n_outbox++] = i;
    }
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

/* Decodes a result frame answering batch b: its results (heap) when it answered exactly b's ids
 * (in any order), else NULL and it is counted as refused under path. */
static struct sf_serve_result *decode_answer(struct sf__server *s, const struct sf__batch *b,
                                             const char *resp, size_t rlen, size_t *nr)
{
    struct sf_err err = {{0}};
    struct sf_serve_result *r = NULL;
    *nr = 0;
    if (sf_frame_result_decode(resp, rlen, s->num_classes, b->n, &r, nr, &err) == SF_OK &&
        sf_frame_results_match(r, *nr, b->ids, b->n, &err) == SF_OK)
        return r;
    free(r);
    return NULL;
}

/* Instance i is done with its batch (mu held): delivered, or on to the function path. */
static void inst_done(struct sf__server *s, int i, struct sf__batch *b, int ok)
{
    struct sf__inst *in = &s->inst[i];
    in->mail = NULL;
    in->busy = 0;
    if (ok || time_left(s, b) <= 0 || s->fn_quit) {
        sf__batch_free(b); /* answered, past its deadline (answered 504), or the server stops */
    } else {
        /* the worker failed mid-batch: its requests go to functions (at-least-once) */
        sf_metrics_add(s->metrics, s->mid.redispatch, "", 1);
        b->attempts = 0;
        sf__dispatch_function(s, b);
    }
    sf__control_freed(s, i); /* the batcher runs here, in this thread */
}

/* A worker's answer to batch b (on the event loop that reads its connection). */
static void worker_answered(void *arg, int rc, const struct sf__evc_resp *resp)
{
    struct sf__batch *b = arg;
    struct sf__server *s = b->srv;
    struct sf__inst *in = &s->inst[b->inst];
    struct sf_serve_result *r = NULL;
    size_t nr = 0;
    int refused = rc == SF_ETOOBIG || rc == SF_EPARSE;
    if (rc == SF_OK) {
        const struct sf_http_field *f;
        if (in->authed) {
            char mac[96] = "";
            if ((f = sf_http_field_get(resp->head, SF_AUTH_RESPONSE_HEADER)) &&
                f->value_len < sizeof(mac)) {
                memcpy(mac, f->value, f->value_len);
                mac[f->value_len] = '\0';
            }
            if (sf_auth_check_response(in->who.key, b->nonce, resp->status, mac) != SF_OK)
                refused = 1; /* not this worker's answer */
        }
        /* the hybrid tail the worker invoked for this batch, billed whatever the answer */
        double tail_ms = -1, tail_calls = -1;
        if ((f = sf_http_field_get(resp->head, SF_HTTP_TAIL_BILLED_HEADER)))
            tail_ms = sf__field_number(f);
        if ((f = sf_http_field_get(resp->head, SF_HTTP_TAIL_CALLS_HEADER)))
            tail_calls = sf__field_number(f);
        if (!refused && tail_calls > 0 && tail_ms >= 0)
            sf__meter_functions(s, tail_ms, (uint64_t)tail_calls);
        if (!refused && resp->status == 200) {
            r = decode_answer(s, b, resp->body, resp->len, &nr);
            refused = !r;
        }
    }
    if (refused)
        sf_metrics_add(s->metrics, s->mid.frames_rejected, "path=\"instance\"", 1);
    pthread_mutex_lock(&s->mu);
    if (r)
        sf__server_deliver(s, r, nr);
    inst_done(s, b->inst, b, r != NULL);
    sf__server_unlock(s);
    free(r);
}

/* Runs instance i's batch in this thread (mu not held); returns with mu held. */
static void run_local(struct sf__server *s, int i)
{
    struct sf__inst *in = &s->inst[i];
    struct sf__batch *b = in->mail;
    struct sf_err err = {{0}};
    struct sf_serve_result *out = calloc(b->n ? b->n : 1, sizeof(*out));
    int rc = out ? sf__inproc_run(s, in->local, b, out, &err) : SF_ENOMEM;
    pthread_mutex_lock(&s->mu);
    if (rc == SF_OK)
        sf__server_deliver(s, out, b->n);
    else
        sf__server_fail_batch(s, b); /* the runner failed: nothing to send elsewhere */
    inst_done(s, i, b, 1);
    free(out);
}

int sf__inst_send(struct sf__server *s, int i)
{
    /* the instance is busy: nothing closes it or changes how it is reached until inst_done */
    struct sf__inst *in = &s->inst[i];
    struct sf__batch *b = in->mail;
    if (in->local) {
        run_local(s, i);
        return 1;
    }
    char head[512 + SF_AUTH_HEADER_BYTES + SF_REQUEST_IDS_MAX_BYTES + 128];
    /* the requests' ids and the batch's span pass on to the worker (and its tail) */
    int hl = snprintf(head, sizeof(head),
                      "POST /v1/batch HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                      "application/octet-stream\r\nContent-Length: %zu\r\nX-Request-Id: "
                      "%s\r\ntraceparent: %s\r\n",
                      in->endpoint, b->frame_len, b->req_ids, b->traceparent);
    if (in->authed) {
        char v[SF_AUTH_HEADER_BYTES];
        if (sf_auth_sign_request(&in->who, "POST", "/v1/batch", v, sizeof(v), b->nonce) == SF_OK)
            hl += snprintf(head + hl, sizeof(head) - (size_t)hl, "%s: %s\r\n",
                           SF_AUTH_REQUEST_HEADER, v);
    }
    hl += snprintf(head + hl, sizeof(head) - (size_t)hl, "\r\n");
    double timeout = s->cfg->bind->env.ctl.epoch_s + 2 * s->cfg->fn_timeout_s + WORKER_CALL_SLACK_S;
    double left = time_left(s, b);
    if (left < timeout)
        timeout = left;
    if (timeout <= 0 || hl >= (int)sizeof(head) ||
        sf__evc_send(in->evc, head, (size_t)hl, b->frame, b->frame_len, sf_monotonic_s() + timeout,
                     worker_answered, b) != SF_OK)
        worker_answered(b, SF_EIO, NULL);
    return 0;
}

int sf__inst_open(struct sf__server *s, int i)
{
    struct sf__inst *in = &s->inst[i];
    if (s->inproc) {
        in->local = sf__inproc_runner(s, in->id);
        in->ready_to_serve = in->local != NULL;
        return in->local ? SF_OK : SF_EIO;
    }
    struct sf_err err = {{0}};
    memset(&in->who, 0, sizeof(in->who));
    /* the worker's own identity, as its provider names it: it accepts nothing else, and only it
     * can answer */
    in->authed = in->principal[0] != '\0';
    if (in->authed && sf_auth_derive(&s->root, in->principal, &in->who, &err) != SF_OK)
        return SF_EIO;
    in->loop = s->next_loop++ % sf__ev_loops(s->ev);
    if (sf__evc_new(s->ev, in->loop, in->endpoint, result_cap(s, SF_SERVE_MAX_BATCH), &in->evc,
                    &err) != SF_OK)
        return SF_EIO;
    in->ready_to_serve = 1;
    return SF_OK;
}

void sf__inst_close(struct sf__server *s, int i)
{
    struct sf__inst *in = &s->inst[i];
    if (in->in_outbox) { /* a batch left for a loop that stopped first (sf__server_unlock) */
        int k = 0;
        while (k < s->n_outbox && s->outbox[k] != i)
            k++;
        memmove(s->outbox + k, s->outbox + k + 1, (size_t)(s->n_outbox - k - 1) * sizeof(int));
        s->n_outbox--;
        in->in_outbox = 0;
        sf__server_fail_batch(s, in->mail);
        sf__batch_free(in->mail);
        in->mail = NULL;
        in->busy = 0;
    }
    sf__evc_free(in->evc); /* on its loop: fails nothing (the instance holds no batch) */
    in->evc = NULL;
    if (in->local)
        sf__inproc_release(s, in->id);
    in->local = NULL;
    in->ready_to_serve = 0;
    memset(&in->who, 0, sizeof(in->who));
}

void sf__dispatch_tick(struct sf__server *s, int loop, double now_s)
{
    struct sf__evc *on[SF_CLOUD_MAX_INSTANCES];
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (s->inst[i].used && s->inst[i].evc && s->inst[i].loop == loop)
            on[n++] = s->inst[i].evc;
    pthread_mutex_unlock(&s->mu);
    /* a connection closed since is freed on this very loop, after this tick */
    for (int k = 0; k < n; k++)
        sf__evc_tick(on[k], now_s);
}

/* ---- the function path ---- */

static void *fn_main(void *arg)
{
    struct sf__server *s = arg;
    sf_thread_name("sf-function", 0);
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
        struct sf_serve_result *r = NULL;
        size_t nr = 0;
        double t_first = sf_monotonic_s();
        struct trace_headers th;
        trace_headers(b, &th);
        const char *hdr[] = {th.ids, th.parent, NULL}; /* passed on to the function */
        for (int attempt = 0; attempt < 2 && b->frame && !r && time_left(s, b) > 0;
             attempt++) { /* one retry */
            if (attempt)
                sf_metrics_add(s->metrics, s->mid.fn_retries, "", 1);
            double timeout = time_left(s, b) < call_s ? time_left(s, b) : call_s;
            /* one invocation through the function provider (cloud.h): Lambda's semantics */
            struct sf_fn_call call = {.payload = b->frame,
                                      .len = b->frame_len,
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
            if (call.status == SF_OK && !call.function_error) {
                r = decode_answer(s, b, call.resp, call.resp_len, &nr);
                if (!r)
                    sf_metrics_add(s->metrics, s->mid.frames_rejected, "path=\"function\"", 1);
            }
            sf_fn_call_fini(&call);
        }
        pthread_mutex_lock(&s->mu);
        if (r)
            sf__server_deliver(s, r, nr);
        else
            sf__server_fail_batch(s, b);
        free(r);
        sf__batch_free(b);
        sf__server_unlock(s); /* this thread writes the answers it finished */
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
