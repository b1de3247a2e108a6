/*
 * worker.c - a VM instance: `serflow worker`. POST /v1/batch takes an input frame (checked
 * against the model's shape before it is copied), runs stages 1..cut with the early-exit driver,
 * answers the requests that exited, and hands the survivors' hidden state (nn/'s LZ4 codec
 * frame) in k chunks to k parallel function invocations (Lambda Invoke API), retrying a failed
 * chunk once; a chunk's answer counts only when it answers exactly that chunk's ids. It merges
 * everything into one result frame. One batch runs at a time (the runner is not reentrant; the
 * ingress sends a worker one batch at a time anyway). Started by the ingress, it accepts only
 * requests signed with its own identity (auth.h).
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/argv_emit.h"
#include "wire/httpd.h"
#include "serflow/cloud.h"
#include "serflow/nn_codec.h"
#include "serflow/wire.h"
#include "serflow/http.h"
#include "serflow/log.h"
#include "serflow/metrics.h"
#include "serflow/worker.h"

/* Connections a worker accepts: the ingress keeps a few, health checks one more. */
#define WORKER_MAX_CONNECTIONS 64
/* Idle connection timeout: longer than any pause between an ingress's batches is not needed. */
#define WORKER_IDLE_TIMEOUT_S 30
/* Largest fan-out: the planner's k is small; this caps the invocations one batch can make. */
#define WORKER_MAX_FANOUT 64
/* A request must arrive whole within this (the ingress sends a batch at once). */
#define WORKER_REQUEST_TIMEOUT_S 30.0
/* Memory for request bodies and their decoding: two of the largest batches (4,096 images of
 * 4 MB would not fit; the frame's count and shape are checked first, then the budget). */
#define WORKER_MAX_BUFFERED_BYTES ((size_t)512 << 20)
/* Longest wait for the batch in progress at SIGTERM (the local provider kills after 2 s). */
#define WORKER_DRAIN_S 1.8
/* Images of one OIP request to the worker itself (the benchmark's nginx path). */
#define WORKER_OIP_MAX_IMAGES 256

/* Function-provider sessions kept for the next batch (each a connection or AWS clients). */
#define WORKER_MAX_IDLE_SESSIONS 8
/* Batches whose buffers are kept for the next: a batch's tensors grow to the largest batch and
 * its survivors' hidden state, buffers of 256 KiB and more that the serving processes map afresh
 * at every allocation (sf_cli_bound_malloc) and fault in page by page. The ingress sends an
 * instance one batch at a time, so one is enough in steady state; two cover a batch beside an
 * OIP request. Bounded by two batches of WORKER_KEPT_BATCH_MAX_BYTES. */
#define WORKER_KEPT_BATCHES 2
/* A batch whose tensor is larger is freed, not kept: a large model's images and hidden state
 * take megabytes each, and its compute, not its page faults, is what such a batch costs. */
#define WORKER_KEPT_BATCH_MAX_BYTES ((size_t)64 << 20)

/* Batch duration histogram bounds (s): a batch of the bundled model takes milliseconds, a tail
 * with a cold start seconds. */
static const double BATCH_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};

/* The worker's /metrics (metrics.h): every series from the start, at 0. */
#define WORKER_METRICS(X)                                                                          \
    X(BATCHES, "serflow_worker_batches_total", COUNTER, "Batches answered.")                       \
    X(REFUSED, "serflow_worker_batches_refused_total", COUNTER,                                    \
      "Batches refused (malformed frame: 400; no memory: 503).")                                   \
    X(IMAGES, "serflow_worker_requests_total", COUNTER, "Requests (images) of the batches.")       \
    X(EXITED, "serflow_worker_requests_exited_total", COUNTER,                                     \
      "Requests answered on this VM (they left the network by the cut).")                          \
    X(TAIL_CALLS, "serflow_worker_tail_invocations_total", COUNTER,                                \
      "Function invocations for the tail (retries included).")                                     \
    X(TAIL_FAILED, "serflow_worker_tail_failures_total", COUNTER,                                  \
      "Requests whose tail failed (answered as failed).")                                          \
    X(DURATION, "serflow_worker_batch_duration_seconds", HISTOGRAM,                                \
      "A batch from its arrival to its answer, tail included.")

#define WM_ENUM(id, name, type, help) WM_##id,
enum { WORKER_METRICS(WM_ENUM) WM_COUNT };
#undef WM_ENUM

struct worker {
    const struct sf_worker_cfg *cfg;
    struct sf_nn_model *model;
    struct sf_nn_runner *runner;
    pthread_mutex_t mu;
    struct sf_fn fn; /* the tail's functions (cloud.h) */
    int have_fn;
    pthread_mutex_t sess_mu;
    void *idle[WORKER_MAX_IDLE_SESSIONS]; /* sessions not in use */
    int n_idle;
    int n_stages, num_classes;
    struct sf_metrics *reg;
    int fam[WM_COUNT];
    struct sf_nn_batch kept[WORKER_KEPT_BATCHES]; /* under mu */
    int n_kept;
};

/* A batch for one request: a kept one with its buffers, or an empty one (mu held). */
static void batch_take(struct worker *w, struct sf_nn_batch *b)
{
    if (w->n_kept)
        *b = w->kept[--w->n_kept];
    else
        sf_nn_batch_init(b);
}

/* Keeps b's buffers for the next request, or frees them. */
static void batch_give_back(struct worker *w, struct sf_nn_batch *b)
{
    pthread_mutex_lock(&w->mu);
    if (w->n_kept < WORKER_KEPT_BATCHES &&
        b->x_floats * sizeof(float) <= WORKER_KEPT_BATCH_MAX_BYTES)
        w->kept[w->n_kept++] = *b;
    else
        sf_nn_batch_fini(b);
    pthread_mutex_unlock(&w->mu);
}

/* A session of the function provider for one batch's tail: an idle one, or a new one. */
static void *take_session(struct worker *w)
{
    void *sess = NULL;
    if (!w->have_fn)
        return NULL;
    pthread_mutex_lock(&w->sess_mu);
    if (w->n_idle)
        sess = w->idle[--w->n_idle];
    pthread_mutex_unlock(&w->sess_mu);
    struct sf_err err = {{0}};
    if (!sess && w->fn.ops->session_new(w->fn.ctx, &sess, &err) != SF_OK)
        sess = NULL;
    return sess;
}

static void give_session(struct worker *w, void *sess)
{
    pthread_mutex_lock(&w->sess_mu);
    if (w->n_idle < WORKER_MAX_IDLE_SESSIONS) {
        w->idle[w->n_idle++] = sess;
        sess = NULL;
    }
    pthread_mutex_unlock(&w->sess_mu);
    if (sess)
        w->fn.ops->session_free(sess);
}

/* Copies rows [a, b) of src (survivors after some stages) into dst. */
static int sub_batch(const struct sf_nn_batch *src, size_t a, size_t b, struct sf_nn_batch *dst,
                     struct sf_err *err)
{
    int rc = sf_nn_batch_reset(dst, b - a, &src->shape, src->num_classes, err);
    if (rc)
        return rc;
    size_t numel = sf_nn_shape_numel(&src->shape);
    memcpy(dst->x, src->x + a * numel, (b - a) * numel * sizeof(float));
    memcpy(dst->ids, src->ids + a, (b - a) * sizeof(uint64_t));
    memcpy(dst->best, src->best + a, (b - a) * sizeof(struct sf_nn_best));
    dst->stages_done = src->stages_done;
    return SF_OK;
}

/* Marks the ids of a failed chunk as failed results. */
static void fail_chunk(const struct sf_nn_batch *chunk, int num_classes,
                       struct sf_serve_result *out, size_t *n_out)
{
    for (size_t i = 0; i < chunk->n; i++) {
        struct sf_serve_result *r = &out[(*n_out)++];
        memset(r, 0, sizeof(*r));
        r->id = chunk->ids[i];
        r->status = 1;
        r->label = -1;
        r->num_classes = num_classes;
    }
}

/* What the tail of one batch was billed, as the function runtime reported it with its answers:
 * the worker passes it on to the ingress with the batch's answer (the bill as data). */
struct tail_bill {
    double billed_ms;
    uint64_t calls;
};

/* Runs the tail of the survivors in b on k functions; appends their results to out. */
static void run_tail(struct worker *w, const struct sf_nn_batch *b, double tau,
                     struct sf_serve_result *out, size_t *n_out, struct tail_bill *tb,
                     const char *const *headers)
{
    size_t k = (size_t)w->cfg->fanout;
    if (k > b->n)
        k = b->n;
    if (k > WORKER_MAX_FANOUT)
        k = WORKER_MAX_FANOUT;
    struct sf_nn_batch chunk[WORKER_MAX_FANOUT];
    void *body[WORKER_MAX_FANOUT] = {0};
    size_t len[WORKER_MAX_FANOUT] = {0};
    int done[WORKER_MAX_FANOUT] = {0};
    struct sf_err err = {{0}};
    for (size_t j = 0; j < k; j++) {
        sf_nn_batch_init(&chunk[j]);
        size_t a = b->n * j / k, e = b->n * (j + 1) / k;
        if (sub_batch(b, a, e, &chunk[j], &err) != SF_OK ||
            sf_nn_codec_encode(&chunk[j], tau, &body[j], &len[j], NULL, &err) != SF_OK)
            done[j] = -1;
    }
    int failures[WORKER_MAX_FANOUT] = {0};
    double t0 = sf_monotonic_s();
    void *sess = take_session(w);
    for (; sess;) { /* one retry of a failed chunk; a throttled one (429) waits for a slot */
        struct sf_fn_call calls[WORKER_MAX_FANOUT];
        size_t idx[WORKER_MAX_FANOUT], m = 0;
        for (size_t j = 0; j < k; j++)
            if (!done[j] && failures[j] < 2) {
                /* the answer of a chunk: its records and no more */
                calls[m] = (struct sf_fn_call){.payload = body[j],
                                               .len = len[j],
                                               .headers = headers,
                                               .max_resp_bytes =
                                                   SF_FRAME_RESULT_HEADER_BYTES +
                                                   chunk[j].n * (24 + 4 * (size_t)w->num_classes)};
                idx[m++] = j;
            }
        if (!m)
            break;
        if (sf_monotonic_s() - t0 > w->cfg->fn_timeout_s * 2)
            break;
        /* the runtime answers within its queue bound (timeout + cold start + 10 s) plus the run */
        sf_metrics_add(w->reg, w->fam[WM_TAIL_CALLS], "", (double)m);
        w->fn.ops->invoke(sess, calls, m, 2 * w->cfg->fn_timeout_s + 15);
        int throttled = 0;
        for (size_t i = 0; i < m; i++) {
            struct sf_fn_call *c = &calls[i];
            if (c->billed_ms >= 0) { /* billed, whatever the answer */
                tb->billed_ms += c->billed_ms;
                tb->calls++;
            }
            struct sf_serve_result *r = NULL;
            size_t nr = 0;
            size_t j = idx[i];
            if (c->status == SF_OK && !c->function_error &&
                sf_frame_result_decode(c->resp, c->resp_len, w->num_classes, chunk[j].n, &r, &nr,
                                       &err) == SF_OK &&
                sf_frame_results_match(r, nr, chunk[j].ids, chunk[j].n, &err) == SF_OK) {
                memcpy(out + *n_out, r, nr * sizeof(*r));
                *n_out += nr;
                done[j] = 1;
            } else if (c->status == SF_ETHROTTLED) {
                throttled = 1; /* the concurrency cap: not the function's failure */
            } else {
                failures[j]++;
            }
            free(r);
            sf_fn_call_fini(c);
        }
        if (throttled)
            nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    if (sess)
        give_session(w, sess);
    for (size_t j = 0; j < k; j++) {
        if (done[j] != 1) {
            fail_chunk(&chunk[j], w->num_classes, out, n_out);
            sf_metrics_add(w->reg, w->fam[WM_TAIL_FAILED], "", (double)chunk[j].n);
        }
        free(body[j]);
        sf_nn_batch_fini(&chunk[j]);
    }
}

/* 1 when host is a loopback address (127.0.0.0/8, ::1, localhost). */
static int loopback(const char *host)
{
    if (!host)
        return 0;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1)
        return !memcmp(a, in6addr_loopback.s6_addr, 16);
    return !strcmp(host, "localhost");
}

static void handle_batch(struct worker *w, const struct sf__httpd_req *req,
                         struct sf__httpd_resp *resp)
{
    double t0 = sf_monotonic_s();
    /* the batch's request ids and trace (the ingress's span its parent): passed on to the tail,
     * returned, logged */
    const char *ids = sf__httpd_req_header(req, "X-Request-Id");
    if (!sf_request_ids_valid(ids))
        ids = NULL;
    struct sf_reqtrace tr;
    sf_reqtrace_begin(&tr, NULL, sf__httpd_req_header(req, "traceparent"));
    char tp[64], ids_line[SF_REQUEST_IDS_MAX_BYTES + 32], tp_line[96];
    sf_reqtrace_header(&tr, tp, sizeof(tp));
    snprintf(ids_line, sizeof(ids_line), "X-Request-Id: %s", ids ? ids : tr.request_id);
    snprintf(tp_line, sizeof(tp_line), "traceparent: %s", tp);
    const char *const tail_headers[] = {ids_line, tp_line, NULL};
    sf__httpd_header(resp, "X-Request-Id", ids ? ids : tr.request_id);
    sf__httpd_header(resp, "traceparent", tp);
    struct sf_err err = {{0}};
    size_t n = 0;
    struct sf_nn_shape shape;
    double tau;
    /* the batch, its survivors' hidden state and the results take about 3 x the frame */
    if (sf__httpd_reserve(req, 3 * req->len) != 0) {
        sf__httpd_header(resp, "Retry-After", "1");
        sf__httpd_error(resp, 503, "worker busy: no memory for a %zu-byte batch", req->len);
        sf_metrics_add(w->reg, w->fam[WM_REFUSED], "", 1);
        return;
    }
    if (sf_frame_input_head(req->body, req->len, sf_nn_model_input_shape(w->model),
                            SF_SERVE_MAX_BATCH, &n, &shape, &tau, &err) != SF_OK) {
        sf__httpd_error(resp, 400, "%s", err.msg);
        sf_metrics_add(w->reg, w->fam[WM_REFUSED], "", 1);
        sf_log(SF_LOG_WARN, "batch refused", SF_LS("ids", ids), SF_LS("trace_id", tr.trace_id),
               SF_LS("error", err.msg));
        return;
    }
    struct sf_serve_result *out = calloc(n ? n : 1, sizeof(*out));
    struct sf_nn_result *nr = calloc(n ? n : 1, sizeof(*nr));
    struct sf_nn_batch b;
    size_t n_out = 0;
    int cut = w->cfg->cut < w->n_stages ? w->cfg->cut : w->n_stages;
    pthread_mutex_lock(&w->mu);
    batch_take(w, &b);
    /* the frame's ids and images straight into the batch (ids twice: SF_EINVAL, a 400) */
    int rc = !out || !nr ? sf_err_set(&err, SF_ENOMEM, "out of memory")
                         : sf_nn_batch_reset(&b, n, &shape, w->num_classes, &err);
    if (rc == SF_OK)
        rc = sf_frame_input_read(req->body, req->len, n, sf_nn_shape_numel(&shape), b.ids, b.x,
                                 &err);
    if (rc == SF_OK && n) {
        size_t done = 0;
        rc = sf_nn_runner_run(w->runner, &b, cut, tau, nr, &done, &err);
        for (size_t i = 0; rc == SF_OK && i < done; i++)
            sf_serve_result_from_nn(&nr[i], w->num_classes, cut, SF_WHERE_VM, &out[n_out++]);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->cfg->fault_delay_s > 0)
        nanosleep(&(struct timespec){(time_t)w->cfg->fault_delay_s,
                                     (long)(fmod(w->cfg->fault_delay_s, 1) * 1e9)},
                  NULL);
    struct tail_bill tb = {0, 0};
    size_t exited = n_out, tail = rc == SF_OK ? b.n : 0;
    if (rc == SF_OK && b.n > 0)
        run_tail(w, &b, tau, out, &n_out, &tb, tail_headers);
    if (rc == SF_OK) {
        void *frame;
        size_t flen;
        rc = sf_frame_result_encode(out, n_out, w->num_classes, &frame, &flen, &err);
        if (rc == SF_OK) {
            if (tb.calls) {
                char v[32];
                snprintf(v, sizeof(v), "%.0f", tb.billed_ms);
                sf__httpd_header(resp, SF_HTTP_TAIL_BILLED_HEADER, v);
                snprintf(v, sizeof(v), "%llu", (unsigned long long)tb.calls);
                sf__httpd_header(resp, SF_HTTP_TAIL_CALLS_HEADER, v);
            }
            resp->status = 200;
            resp->body = frame;
            resp->len = flen;
            resp->content_type = "application/octet-stream";
        }
    }
    if (rc != SF_OK)
        sf__httpd_error(resp, rc == SF_EINVAL ? 400 : 500, "%s", err.msg);
    double dt = sf_monotonic_s() - t0;
    if (rc == SF_OK) {
        sf_metrics_add(w->reg, w->fam[WM_BATCHES], "", 1);
        sf_metrics_add(w->reg, w->fam[WM_IMAGES], "", (double)n);
        sf_metrics_add(w->reg, w->fam[WM_EXITED], "", (double)exited);
        sf_metrics_observe(w->reg, w->fam[WM_DURATION], "", dt);
    } else {
        sf_metrics_add(w->reg, w->fam[WM_REFUSED], "", 1);
    }
    sf_log(rc == SF_OK ? SF_LOG_INFO : SF_LOG_WARN, "batch", SF_LS("ids", ids),
           SF_LS("trace_id", tr.trace_id), SF_LS("span_id", tr.span_id),
           SF_LS("parent_id", tr.parent_id), SF_LI("status", resp->status), SF_LI("images", n),
           SF_LI("exited", exited), SF_LI("tail", tail), SF_LI("tail_invocations", tb.calls),
           SF_LN("latency_s", dt), SF_LS("error", rc == SF_OK ? "" : err.msg));
    batch_give_back(w, &b);
    free(out);
    free(nr);
}

static void handle_metrics(struct worker *w, struct sf__httpd_resp *resp)
{
    size_t len = 0;
    char *t = sf_metrics_render(w->reg, &len);
    if (!t) {
        sf__httpd_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = t;
    resp->len = len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static int metrics_init(struct worker *w, struct sf_err *err)
{
    static const struct {
        const char *name, *help;
        enum sf_metric_type type;
    } fams[] = {
#define WM_ROW(id, name, type, help) {name, help, SF_METRIC_##type},
        WORKER_METRICS(WM_ROW)
#undef WM_ROW
    };
    w->reg = sf_metrics_new();
    if (!w->reg)
        return sf_err_set(err, SF_ENOMEM, "worker: out of memory");
    for (int i = 0; i < WM_COUNT; i++) {
        int hist = fams[i].type == SF_METRIC_HISTOGRAM;
        w->fam[i] = sf_metrics_family(w->reg, fams[i].name, fams[i].type, fams[i].help,
                                      hist ? BATCH_BUCKETS : NULL,
                                      hist ? SF_ARRAY_LEN(BATCH_BUCKETS) : 0, NULL);
        if (w->fam[i] < 0)
            return sf_err_set(err, SF_EINVAL, "worker: metric %s refused", fams[i].name);
    }
    return SF_OK;
}

/* POST /v2/models/{name}/infer on the worker itself: the whole model here, one OIP v2 request at
 * a time (binary tensor extension accepted). Lets another proxy (nginx in bench/bench_serve.sh)
 * front the same worker as the ingress does. */
static void handle_oip(struct worker *w, const struct sf__httpd_req *req,
                       struct sf__httpd_resp *resp)
{
    struct sf_err err = {{0}};
    const char *hl = sf__httpd_req_header(req, "Inference-Header-Content-Length");
    size_t jl = req->len;
    if (hl) {
        char *end;
        unsigned long long v = strtoull(hl, &end, 10);
        if (*end || v > req->len) {
            sf__httpd_error(resp, 400, "Inference-Header-Content-Length: bad length");
            return;
        }
        jl = (size_t)v;
    }
    struct sf_oip_request oip;
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(w->model);
    if (sf__httpd_reserve(req, sf_oip_parse_bytes(req->body ? req->body : "", jl,
                                                  hl ? req->len - jl : 0, WORKER_OIP_MAX_IMAGES,
                                                  sf_nn_shape_numel(shape))) != 0) {
        sf__httpd_header(resp, "Retry-After", "1");
        sf__httpd_error(resp, 503, "worker busy: no memory to parse a %zu-byte request", req->len);
        return;
    }
    int prc =
        sf_oip_parse_request(req->body ? req->body : "", jl, hl ? req->body + jl : NULL,
                             hl ? req->len - jl : 0, shape, WORKER_OIP_MAX_IMAGES, &oip, &err);
    if (prc != SF_OK) {
        sf__httpd_error(resp, prc == SF_ETOOBIG ? 413 : 400, "%s", err.msg);
        return;
    }
    struct sf_nn_result *nr = calloc(oip.n, sizeof(*nr));
    struct sf_serve_result *out = calloc(oip.n, sizeof(*out));
    struct sf_nn_batch b;
    size_t done = 0;
    int rc = !nr || !out ? sf_err_set(&err, SF_ENOMEM, "out of memory") : SF_OK;
    pthread_mutex_lock(&w->mu);
    batch_take(w, &b);
    if (rc == SF_OK)
        rc = sf_nn_batch_set_input(&b, w->model, oip.x, NULL, oip.n, &err);
    if (rc == SF_OK)
        rc = sf_nn_runner_run(w->runner, &b, w->n_stages, w->cfg->tau, nr, &done, &err);
    pthread_mutex_unlock(&w->mu);
    size_t refused = done;
    for (size_t i = 0; rc == SF_OK && i < done; i++) {
        sf_serve_result_from_nn(&nr[i], w->num_classes, w->n_stages, SF_WHERE_VM, &out[i]);
        if (out[i].status != SF_RESULT_OK && refused == done)
            refused = i;
    }
    char *body = NULL;
    size_t blen = 0, hlen = 0;
    if (rc == SF_OK && refused == done &&
        sf_oip_response(sf_nn_model_name(w->model), SF_OIP_MODEL_VERSION, oip.id, &oip, out, done,
                        &body, &blen, &hlen) != SF_OK)
        body = NULL;
    if (body && hlen == blen) {
        sf__httpd_json(resp, 200, body);
    } else if (body) { /* binary outputs asked for */
        char v[32];
        snprintf(v, sizeof(v), "%zu", hlen);
        sf__httpd_header(resp, "Inference-Header-Content-Length", v);
        resp->status = 200;
        resp->body = body;
        resp->len = blen;
        resp->content_type = "application/octet-stream";
    } else if (rc == SF_OK && refused < done)
        sf__httpd_error(resp, 422,
                        "image %zu: the model's outputs are not finite (its values are outside "
                        "what the model handles)",
                        refused);
    else
        sf__httpd_error(resp, 500, "%s", rc == SF_OK ? "out of memory" : err.msg);
    batch_give_back(w, &b);
    free(nr);
    free(out);
    sf_oip_request_fini(&oip);
}

static void worker_handler(void *ctx, const struct sf__httpd_req *req, struct sf__httpd_resp *resp)
{
    struct worker *w = ctx;
    size_t ul = strlen(req->url);
    int batch = !strcmp(req->url, "/v1/batch") && !strcmp(req->method, "POST");
    int oip = !strncmp(req->url, "/v2/models/", 11) && ul > 6 &&
              !strcmp(req->url + ul - 6, "/infer") && !strcmp(req->method, "POST");
    if ((batch || oip) && sf__httpd_authenticate(req, resp, w->cfg->auth) != SF_OK)
        return; /* 401: not the ingress that started this worker */
    if (batch)
        handle_batch(w, req, resp);
    else if (oip)
        handle_oip(w, req, resp);
    else if (!strcmp(req->url, "/v1/health"))
        sf__httpd_json(resp, 200, sf_strdup("{\"status\":\"ready\"}"));
    else if (!strcmp(req->url, "/metrics") && !strcmp(req->method, "GET"))
        handle_metrics(w, resp);
    else
        sf__httpd_error(resp, 404, "%s %s: no such endpoint on a worker", req->method, req->url);
}

int sf_worker_run(const struct sf_worker_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err)
{
    double t_start = sf_monotonic_s();
    struct worker w = {0};
    w.cfg = cfg;
    pthread_mutex_init(&w.mu, NULL);
    pthread_mutex_init(&w.sess_mu, NULL);
    int rc = metrics_init(&w, err);
    if (rc == SF_OK)
        rc = sf_nn_model_load(cfg->model_dir, &w.model, err);
    if (rc == SF_OK)
        rc = sf_nn_runner_new(w.model, cfg->backend, &w.runner, err);
    if (rc == SF_OK) /* in the boot, before readiness: not in the first batches of each size */
        rc = sf_nn_runner_warm(w.runner, err);
    struct sf__httpd *h = NULL;
    if (rc == SF_OK) {
        w.n_stages = sf_nn_model_num_stages(w.model);
        w.num_classes = sf_nn_model_num_classes(w.model);
        int aws = cfg->provider && !strcmp(cfg->provider, "aws");
        if (cfg->cut < w.n_stages && (!cfg->fn_name || (!aws && !cfg->fn_url)))
            rc = sf_err_set(err, SF_EINVAL,
                            "worker: a cut below the last stage needs --function (and "
                            "--function-url for the local provider)");
        else if (cfg->fn_name && (aws || cfg->fn_url)) {
            struct sf_fn_cfg fc = {.provider = cfg->provider,
                                   .function = cfg->fn_name,
                                   .url = cfg->fn_url,
                                   .region = cfg->region,
                                   .auth = cfg->no_function_auth ? NULL : cfg->auth,
                                   /* an attempt outlives the function's own timeout */
                                   .timeout_s = cfg->fn_timeout_s + 1};
            rc = sf_fn_new(&w.fn, &fc, err);
            w.have_fn = rc == SF_OK;
        }
    }
    if (rc == SF_OK && !(cfg->auth && cfg->auth->set) && !loopback(cfg->host))
        rc = sf_err_set(err, SF_EINVAL,
                        "worker: --host %.64s is beyond loopback: a worker without an identity "
                        "(SERFLOW_AUTH) listens on loopback only",
                        cfg->host ? cfg->host : "");
    if (rc == SF_OK && cfg->fault_no_start)
        rc = sf_err_set(err, SF_EIO, "fault injected: this worker does not start");
    if (rc == SF_OK) {
        /* the largest frame: a full batch of the model's input */
        size_t numel = sf_nn_shape_numel(sf_nn_model_input_shape(w.model));
        size_t frame_cap = SF_FRAME_INPUT_HEADER_BYTES + SF_SERVE_MAX_BATCH * (8 + 4 * numel);
        struct sf__httpd_cfg hc = {.host = cfg->host,
                                   .port = cfg->port,
                                   .max_connections = WORKER_MAX_CONNECTIONS,
                                   .max_per_client = 0, /* its callers are on loopback */
                                   .idle_timeout_s = WORKER_IDLE_TIMEOUT_S,
                                   .request_timeout_s = WORKER_REQUEST_TIMEOUT_S,
                                   .max_body_bytes = frame_cap < SF_SERVE_MAX_BODY_BYTES
                                                         ? frame_cap
                                                         : SF_SERVE_MAX_BODY_BYTES,
                                   .max_buffered_bytes = WORKER_MAX_BUFFERED_BYTES,
                                   .handler = worker_handler,
                                   .ctx = &w};
        rc = sf__httpd_start(&h, &hc, err);
    }
    if (rc == SF_OK) {
        /* the boot delay models a VM's provisioning time: ready no sooner than boot_delay_s after
         * the process started, the real start-up (process, model load) included */
        while (!*stop && sf_monotonic_s() - t_start < cfg->boot_delay_s) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (sf_proc_announce_ready(cfg->ready_fd, cfg->host, sf__httpd_port(h)) != SF_OK)
            rc = sf_err_set(err, SF_EIO, "worker: cannot write the readiness line");
        char addr[160];
        snprintf(addr, sizeof(addr), "http://%s:%d", cfg->host, sf__httpd_port(h));
        sf_log(SF_LOG_INFO, "ready", SF_LS("address", addr),
               SF_LI("cut", cfg->cut < w.n_stages ? cfg->cut : w.n_stages),
               SF_LI("stages", w.n_stages), SF_LI("threads", cfg->threads),
               SF_LN("start_s", sf_monotonic_s() - t_start));
        while (rc == SF_OK && !*stop) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* the batch in progress is answered (the provider's grace, 2 s, bounds the wait) */
        sf__httpd_quiesce(h);
        sf__httpd_closing(h);
        sf__httpd_drain(h, WORKER_DRAIN_S);
    }
    sf__httpd_stop(h);
    for (int i = 0; i < w.n_idle; i++)
        w.fn.ops->session_free(w.idle[i]);
    if (w.have_fn)
        sf_fn_free(&w.fn);
    sf_nn_runner_free(w.runner);
    sf_nn_model_free(w.model);
    for (int i = 0; i < w.n_kept; i++)
        sf_nn_batch_fini(&w.kept[i]);
    pthread_mutex_destroy(&w.sess_mu);
    sf_metrics_free(w.reg);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

void sf_worker_defaults(struct sf_worker_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->host = "127.0.0.1";
    c->cut = 1 << 20;
    c->tau = 1;
    c->fanout = 1;
    c->fn_timeout_s = 10;
    c->threads = 1;
    c->ready_fd = -1;
    c->backend = SF_NN_BACKEND_DNNL;
    c->log_level = SF_LOG_INFO;
    c->log_format = SF_LOG_TEXT;
}

int sf_worker_argv(const struct sf_worker_cfg *c, struct sf_argv *a, struct sf_err *err)
{
    struct sf_worker_cfg d;
    sf_worker_defaults(&d);
    int rc = SF_OK;
#define EMIT(ID, name, KIND, field, meta, help, lo, hi)                                            \
    if (rc == SF_OK)                                                                               \
        rc = sf__emit_##KIND(a, name, &c->field, &d.field);
    SF_WORKER_OPTIONS(EMIT)
#undef EMIT
    return rc == SF_OK ? SF_OK : sf_err_set(err, rc, "worker: the command line is too long");
}
