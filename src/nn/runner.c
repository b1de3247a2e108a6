/*
 * runner.c - the early-exit driver. Runs a stage range on a batch of requests; after each
 * stage a request leaves when its classifier's softmax maximum reaches tau, survivors are
 * compacted so the next stage only sees them. At the model's last stage every request leaves,
 * answered by its most confident classifier when none reached tau.
 *
 * The hidden state never leaves the backends' preferred layout: stage k writes it in the
 * layout stage k+1 reads, into the runner's buffer, which is then swapped with the batch's x
 * (no copy). The stages share one worker pool.
 */
#include "nn_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A batch beyond a million requests is a caller bug, not a workload. */
#define MAX_REQUESTS ((size_t)1 << 20)

struct sf_nn_runner {
    const struct sf_nn_model *m;
    int nstages;
    struct sf_nn_exec *ex[SF_NN_MAX_STAGES];
    struct sf__nn_pool *pool;
    float *next;        /* the running stage's hidden output; swapped into the batch after */
    size_t next_floats; /* allocated floats of next */
    float *logits;      /* scratch: rows x num_classes */
    size_t *src;        /* per row: where run_rows left a survivor's hidden state in next */
    float *probs;       /* per row: softmax of its logits (run_rows computes it once) */
    int *cls;           /* per row: arg max of probs */
    size_t rows;        /* rows of logits, src, probs and cls */
    int threads;        /* workers of the pool */
    int local;          /* every stage's backend can run on one worker (depth-first groups) */
    /* per stage, floats of weights a chunk reads, as the backend keeps them (groups_pay) */
    double weight_floats[SF_NN_MAX_STAGES];
    float *ws[SF_NN_MAX_THREADS]; /* per worker: two group-sized hidden-state buffers */
    size_t ws_floats;             /* floats of each ws[i] (both halves) */
};

void sf_nn_batch_init(struct sf_nn_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void sf_nn_batch_fini(struct sf_nn_batch *b)
{
    if (!b)
        return;
    free(b->x);
    free(b->ids);
    free(b->best);
    memset(b, 0, sizeof(*b));
}

int sf_nn_batch_reset(struct sf_nn_batch *b, size_t n, const struct sf_nn_shape *shape,
                      int num_classes, struct sf_err *err)
{
    if (n > MAX_REQUESTS)
        return sf_err_set(err, SF_ETOOBIG, "batch of %zu requests exceeds %zu", n, MAX_REQUESTS);
    if (num_classes < 1 || num_classes > SF_NN_MAX_CLASSES)
        return sf_err_set(err, SF_EINVAL, "num_classes %d out of 1..%d", num_classes,
                          SF_NN_MAX_CLASSES);
    size_t numel = sf_nn_shape_numel(shape);
    if (numel == 0 || numel > ((size_t)1 << 24))
        return sf_err_set(err, SF_EINVAL, "bad per-request shape");
    size_t rows = n ? n : 1;
    if (rows * numel > b->x_floats) {
        float *x = realloc(b->x, rows * numel * sizeof(float));
        if (!x)
            return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", n);
        b->x = x;
        b->x_floats = rows * numel;
    }
    uint64_t *ids = realloc(b->ids, rows * sizeof(*ids));
    if (!ids)
        return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", n);
    b->ids = ids;
    struct sf_nn_best *best = realloc(b->best, rows * sizeof(*best));
    if (!best)
        return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", n);
    b->best = best;
    b->cap = rows;
    b->n = n;
    b->shape = *shape;
    b->num_classes = num_classes;
    b->stages_done = 0;
    b->layout = SF_NN_LAYOUT_NCHW;
    for (size_t i = 0; i < n; i++) {
        b->best[i].cls = -1;
        b->best[i].stage = 0;
        b->best[i].conf = -1.0f;
        memset(b->best[i].probs, 0, sizeof(b->best[i].probs));
    }
    return SF_OK;
}

int sf_nn_batch_set_input(struct sf_nn_batch *b, const struct sf_nn_model *m, const float *x,
                          const uint64_t *ids, size_t n, struct sf_err *err)
{
    int rc = sf_nn_batch_reset(b, n, sf_nn_model_input_shape(m), sf_nn_model_num_classes(m), err);
    if (rc)
        return rc;
    memcpy(b->x, x, n * sf_nn_shape_numel(&b->shape) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        b->ids[i] = ids ? ids[i] : (uint64_t)i;
    return SF_OK;
}

void sf_nn_runner_free(struct sf_nn_runner *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nstages; i++)
        sf_nn_exec_free(r->ex[i]);
    sf__nn_pool_free(r->pool);
    free(r->next);
    free(r->logits);
    free(r->src);
    free(r->probs);
    free(r->cls);
    for (int i = 0; i < SF_NN_MAX_THREADS; i++)
        free(r->ws[i]);

    free(r);
}

int sf_nn_runner_new_opts(const struct sf_nn_model *m, enum sf_nn_backend backend,
                          const struct sf_nn_opts *opts, struct sf_nn_runner **out,
                          struct sf_err *err)
{
    *out = NULL;
    struct sf_nn_runner *r = calloc(1, sizeof(*r));
    if (!r)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    r->m = m;
    int threads = 1;
    int rc = sf__nn_threads_of(opts, &threads, err);
    if (!rc)
        rc = sf__nn_pool_new(backend == SF_NN_BACKEND_REF ? 1 : threads, &r->pool, err);
    int n = sf_nn_model_num_stages(m);
    for (int k = 1; k <= n && !rc; k++) {
        rc =
            sf__nn_exec_new_in(sf_nn_model_stage(m, k), backend, opts, r->pool, &r->ex[k - 1], err);
        if (!rc)
            r->nstages = k;
    }
    if (rc) {
        sf_nn_runner_free(r);
        return rc;
    }
    r->threads = sf__nn_pool_threads(r->pool);
    r->local = 1;
    for (int k = 0; k < n; k++) {
        r->local = r->local && sf__nn_exec_has_local(r->ex[k]);
        r->weight_floats[k] = sf__nn_exec_weight_floats(r->ex[k]);
    }
    *out = r;
    return SF_OK;
}

int sf_nn_runner_new(const struct sf_nn_model *m, enum sf_nn_backend backend,
                     struct sf_nn_runner **out, struct sf_err *err)
{
    return sf_nn_runner_new_opts(m, backend, NULL, out, err);
}

struct sf_nn_exec *sf_nn_runner_exec(struct sf_nn_runner *r, int k)
{
    return k >= 1 && k <= r->nstages ? r->ex[k - 1] : NULL;
}

/* Room for rows x hn floats of hidden state and rows x classes logits. */
static int reserve(struct sf_nn_runner *r, size_t rows, size_t hn, struct sf_err *err)
{
    size_t need = (rows ? rows : 1) * (hn ? hn : 1);
    if (need > r->next_floats) {
        float *h = realloc(r->next, need * sizeof(float));
        if (!h)
            return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", rows);
        r->next = h;
        r->next_floats = need;
    }
    if (rows > r->rows) {
        int c = sf_nn_model_num_classes(r->m);
        float *l = realloc(r->logits, rows * (size_t)c * sizeof(float));
        if (!l)
            return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", rows);
        r->logits = l;
        size_t *src = realloc(r->src, rows * sizeof(*src));
        if (src)
            r->src = src;
        float *pr = realloc(r->probs, rows * (size_t)c * sizeof(float));
        if (pr)
            r->probs = pr;
        int *cl = realloc(r->cls, rows * sizeof(*cl));
        if (cl)
            r->cls = cl;
        if (!src || !pr || !cl)
            return sf_err_set(err, SF_ENOMEM, "out of memory for %zu requests", rows);
        r->rows = rows;
    }
    return SF_OK;
}

static void emit(struct sf_nn_result *res, uint64_t id, const struct sf_nn_best *best, int c,
                 int exit_stage, int cleared)
{
    res->id = id;
    res->label = best->cls;
    res->conf = best->conf;
    res->exit_stage = exit_stage;
    res->answer_stage = best->stage;
    res->cleared_tau = cleared;
    memset(res->probs, 0, sizeof(res->probs));
    memcpy(res->probs, best->probs, (size_t)c * sizeof(float));
}

/* The runner's buffer (just written) becomes the batch's x, and x's buffer the runner's. */
static void swap_next(struct sf_nn_runner *r, struct sf_nn_batch *b)
{
    float *x = b->x;
    size_t xf = b->x_floats;
    b->x = r->next;
    b->x_floats = r->next_floats;
    r->next = x;
    r->next_floats = xf;
}

/* A stage with exits, sub-batch by sub-batch (run_rows): the requests that stay copy their
 * hidden state out of the cache-resident sub-batch into next. A sub-batch that finishes when
 * every row before it is done (always so with one thread) puts them at their final rows; the
 * others from row r0 of the sub-batch on, and the caller's pass moves them down. So a batch
 * where most requests leave never writes their hidden state to memory. */
struct keep_job {
    struct sf_nn_runner *r;
    double tau;
    int classes;
    size_t hn;                 /* floats per request of hidden state in next */
    _Atomic uint64_t in_order; /* rows done in order << 32 | survivors among them */
};

static int keep_rows(void *arg, size_t r0, size_t n, const float *hidden, struct sf_err *err)
{
    (void)err;
    struct keep_job *j = arg;
    struct sf_nn_runner *r = j->r;
    /* Only the sub-batch starting where the in-order rows end can match; no other one writes
     * in_order until it has stored its update. */
    uint64_t done = atomic_load(&j->in_order);
    int in_order = (size_t)(done >> 32) == r0;
    size_t kept = in_order ? (size_t)(done & 0xffffffffu) : r0;
    for (size_t i = 0; i < n; i++) {
        float *probs = r->probs + (r0 + i) * (size_t)j->classes;
        int cls = sf_nn_softmax(r->logits + (r0 + i) * (size_t)j->classes, j->classes, probs);
        r->cls[r0 + i] = cls;
        if ((double)probs[cls] >= j->tau)
            continue; /* leaves: the caller's pass emits it */
        memcpy(r->next + kept * j->hn, hidden + i * j->hn, j->hn * sizeof(float));
        r->src[r0 + i] = kept++;
    }
    if (in_order)
        atomic_store(&j->in_order, (uint64_t)(r0 + n) << 32 | (uint64_t)kept);
    return SF_OK;
}

/* ---- without exits: depth-first groups ----------------------------------------------------
 *
 * With tau > 1 no request leaves before the last stage, so nothing needs the whole batch
 * between stages: the batch is cut into groups of a few requests, and each group runs every
 * stage of the call on one worker before the worker takes its next group. Its hidden state
 * goes from one stage to the next through a small per-worker buffer that stays in cache
 * (stage by stage, a batch of 100 writes and reads 3-5 MB of hidden state per stage), and the
 * call is one pool job instead of one per stage, where the weights re-read per group cost less
 * than the hidden state kept in cache (groups_pay). With exits the stages run stage by stage:
 * groups measured no faster there (docs/benchmarks.md), and survivors batch better. */

/* Floats a group buffer starts past a cache line: oneDNN's F(4x4,3x3) Winograd kernel writes
 * a 64-byte-aligned destination with non-temporal stores, which would send the hidden state
 * to memory on its way to the next stage (the oneDNN backend skews its own buffers alike). */
#define GROUP_SKEW 4

struct group_job {
    struct sf_nn_runner *r;
    struct sf_nn_batch *b;
    int first, last;          /* stages of the call */
    size_t n, groups, half;   /* rows, groups, floats of one half of a worker's buffer */
    size_t in_numel, hn_last; /* floats per row of b->x, of the last stage's hidden (head) */
    enum sf_nn_layout hl_last;
};

static int run_group(void *arg, size_t g, int worker, struct sf_err *err)
{
    struct group_job *j = arg;
    struct sf_nn_runner *r = j->r;
    struct sf_nn_batch *b = j->b;
    int c = sf_nn_model_num_classes(r->m);
    size_t q = j->n / j->groups, rem = j->n % j->groups;
    size_t m = q + (g < rem), g0 = g * q + (g < rem ? g : rem);
    const float *in = b->x + g0 * j->in_numel;
    enum sf_nn_layout in_l = b->layout;
    float *buf[2] = {r->ws[worker] + GROUP_SKEW, r->ws[worker] + GROUP_SKEW + j->half};
    float *logits = r->logits + g0 * (size_t)c;
    for (int k = j->first, cur = 0; k <= j->last; k++, cur ^= 1) {
        int model_last = k == r->nstages;
        enum sf_nn_layout hl = model_last ? SF_NN_LAYOUT_NCHW : sf_nn_exec_input_layout(r->ex[k]);
        /* The call's last stage of a head run writes the batch's buffer, at the group's rows. */
        float *hid = model_last ? NULL : k == j->last ? r->next + g0 * j->hn_last : buf[cur];
        int rc = sf__nn_exec_run_local(r->ex[k - 1], worker, in, in_l, m, hid, hl, logits, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < m; i++) {
            float probs[SF_NN_MAX_CLASSES];
            int cls = sf_nn_softmax(logits + i * (size_t)c, c, probs);
            struct sf_nn_best *best = &b->best[g0 + i];
            /* Strictly greater: on a tie the earlier classifier keeps the answer. */
            if (best->cls < 0 || probs[cls] > best->conf) {
                best->cls = cls;
                best->stage = k;
                best->conf = probs[cls];
                memcpy(best->probs, probs, (size_t)c * sizeof(float));
            }
        }
        in = hid;
        in_l = hl;
    }
    return SF_OK;
}

/* Requests per group for stages first..last: the smallest sub-batch among them (the requests
 * whose largest layer fits half of L2; 3 for the bundled model on a 1 MB L2, where groups of 3-5
 * measured 2-3 % faster than 8, 5-8 % faster than 20). */
static size_t group_size(const struct sf_nn_runner *r, int first, int last)
{
    size_t gr = SIZE_MAX;
    for (int k = first; k <= last; k++) {
        size_t sub = sf_nn_exec_sub_batch(r->ex[k - 1]);
        gr = sub < gr ? sub : gr;
    }
    return gr ? gr : 1;
}

/* Chunks a stage of sub-batch sub cuts n rows into: full sub-batches, then the powers of two
 * of the rest (backend_dnnl.c split_of); each reads the stage's weights once. */
static size_t chunks_of(size_t n, size_t sub)
{
    sub = sub ? sub : 1;
    size_t c = n / sub;
    for (size_t rest = n % sub; rest; rest &= rest - 1)
        c++;
    return c;
}

/* Whether groups pay for n rows over stages first..last: a group of gr requests reads every
 * stage's weights once per chunk it is cut into there, where stage by stage reads them once
 * per chunk of the whole batch; groups save each request's hidden state between stages
 * (written, then read). VGG16-SDN's 60 MB of weights in groups of one image cost far more than
 * the 1.4 MB of hidden state per image they keep in cache; so do the bundled model's 3.4 MB of
 * Winograd weights at batch 100, read by a group of 6 in chunks of 4 and 2 (stage by stage
 * measured 5 % faster on a 2-core Intel Xeon); at batch 1 both read them once
 * (docs/benchmarks.md). */
static int groups_pay(const struct sf_nn_runner *r, size_t n, int first, int last, size_t gr)
{
    double added = 0, saved = 0;
    for (int k = first; k <= last; k++) {
        const struct sf_nn_stage *st = sf_nn_model_stage(r->m, k);
        size_t sub = sf_nn_exec_sub_batch(r->ex[k - 1]);
        added += r->weight_floats[k - 1] *
                 ((double)chunks_of(gr, sub) / (double)gr - (double)chunks_of(n, sub) / (double)n);
        if (k < last)
            saved += 2.0 * (double)sf_nn_shape_numel(sf_nn_stage_hidden_shape(st));
    }
    return added <= saved;
}

/* Stages b->stages_done + 1 .. last of a batch without exits, in groups (see above). */
static int run_groups(struct sf_nn_runner *r, struct sf_nn_batch *b, int last, size_t gr,
                      struct sf_nn_result *out, size_t *n_out, struct sf_err *err)
{
    struct group_job j = {.r = r, .b = b, .first = b->stages_done + 1, .last = last, .n = b->n};
    size_t by_size = (b->n + gr - 1) / gr;
    size_t by_threads = b->n < (size_t)r->threads ? b->n : (size_t)r->threads;
    j.groups = by_size > by_threads ? by_size : by_threads;
    size_t rows = (b->n + j.groups - 1) / j.groups;
    /* Each half of a worker's buffer holds a group's hidden state after any stage. */
    for (int k = j.first; k < last && k < r->nstages; k++) {
        const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(sf_nn_model_stage(r->m, k));
        size_t hn = sf_nn_layout_numel(sf_nn_exec_input_layout(r->ex[k]), hs);
        j.half = hn > j.half ? hn : j.half;
    }
    j.half = (rows * j.half + 15) / 16 * 16; /* both halves skewed alike */
    j.in_numel = sf_nn_layout_numel(b->layout, &b->shape);
    if (last < r->nstages) {
        j.hl_last = sf_nn_exec_input_layout(r->ex[last]);
        j.hn_last =
            sf_nn_layout_numel(j.hl_last, sf_nn_stage_hidden_shape(sf_nn_model_stage(r->m, last)));
    }
    int rc = reserve(r, b->n, j.hn_last, err);
    if (!rc && 2 * j.half + 16 > r->ws_floats) {
        for (int i = 0; i < r->threads && !rc; i++) {
            free(r->ws[i]);
            r->ws[i] = aligned_alloc(64, (2 * j.half + 16) * sizeof(float));
            if (!r->ws[i])
                rc = sf_err_set(err, SF_ENOMEM, "out of memory for groups of %zu requests", rows);
        }
        r->ws_floats = rc ? 0 : 2 * j.half + 16;
    }
    if (!rc)
        rc = sf__nn_pool_run(r->pool, j.groups, run_group, &j, err);
    if (rc)
        return rc;
    b->stages_done = last;
    if (last == r->nstages) {
        /* Nobody reached tau: each answered by its most confident classifier. */
        int c = sf_nn_model_num_classes(r->m);
        for (size_t i = 0; i < b->n; i++)
            emit(&out[(*n_out)++], b->ids[i], &b->best[i], c, last, 0);
        b->n = 0;
    } else {
        swap_next(r, b);
        b->shape = *sf_nn_stage_hidden_shape(sf_nn_model_stage(r->m, last));
        b->layout = j.hl_last;
    }
    return SF_OK;
}

int sf_nn_runner_run(struct sf_nn_runner *r, struct sf_nn_batch *b, int last_stage, double tau,
                     struct sf_nn_result *out, size_t *n_out, struct sf_err *err)
{
    *n_out = 0;
    int c = sf_nn_model_num_classes(r->m);
    if (last_stage < b->stages_done || last_stage > r->nstages)
        return sf_err_set(err, SF_EINVAL, "stage range %d..%d outside 1..%d", b->stages_done + 1,
                          last_stage, r->nstages);
    if (b->num_classes != c)
        return sf_err_set(err, SF_EINVAL, "batch has %d classes, model %d", b->num_classes, c);
    /* Without exits (tau > 1, or NaN, which no confidence reaches either): groups. */
    size_t gr = group_size(r, b->stages_done + 1, last_stage);
    if (b->n > 0 && last_stage > b->stages_done && !(tau <= 1.0) && r->local &&
        groups_pay(r, b->n, b->stages_done + 1, last_stage, gr)) {
        const struct sf_nn_shape *is =
            sf_nn_stage_input_shape(sf_nn_model_stage(r->m, b->stages_done + 1));
        if (sf_nn_shape_numel(is) != sf_nn_shape_numel(&b->shape) || is->ndim != b->shape.ndim ||
            memcmp(is->dims, b->shape.dims, sizeof(is->dims[0]) * (size_t)is->ndim))
            return sf_err_set(err, SF_EINVAL, "stage %d: batch shape does not match its input",
                              b->stages_done + 1);
        int rc = run_groups(r, b, last_stage, gr, out, n_out, err);
        if (rc)
            return rc;
    }
    for (int k = b->stages_done + 1; k <= last_stage && b->n > 0; k++) {
        const struct sf_nn_stage *st = sf_nn_model_stage(r->m, k);
        const struct sf_nn_shape *is = sf_nn_stage_input_shape(st);
        const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(st);
        if (sf_nn_shape_numel(is) != sf_nn_shape_numel(&b->shape) || is->ndim != b->shape.ndim ||
            memcmp(is->dims, b->shape.dims, sizeof(is->dims[0]) * (size_t)is->ndim))
            return sf_err_set(err, SF_EINVAL, "stage %d: batch shape does not match its input", k);
        int last = k == r->nstages;
        /* The hidden state goes out in the layout the next stage reads. */
        enum sf_nn_layout hl = last ? SF_NN_LAYOUT_NCHW : sf_nn_exec_input_layout(r->ex[k]);
        size_t hn = last ? 0 : sf_nn_layout_numel(hl, hs);
        int rc = reserve(r, b->n, hn, err);
        /* With exits possible, survivors are taken per sub-batch; without (tau > 1), the stage
         * writes every row's hidden state straight into next. */
        int by_rows = !last && tau <= 1.0;
        struct keep_job kj = {.r = r, .tau = tau, .classes = c, .hn = hn};
        atomic_init(&kj.in_order, 0);
        if (!rc && by_rows)
            rc = sf__nn_exec_run_rows(r->ex[k - 1], b->x, b->layout, b->n, hl, r->logits, keep_rows,
                                      &kj, err);
        else if (!rc)
            rc = sf_nn_exec_run_layout(r->ex[k - 1], b->x, b->layout, b->n, last ? NULL : r->next,
                                       hl, r->logits, err);
        if (rc)
            return rc;
        size_t keep = 0;
        for (size_t i = 0; i < b->n; i++) {
            float own[SF_NN_MAX_CLASSES];
            const float *probs = by_rows ? r->probs + i * (size_t)c : own;
            int cls = by_rows ? r->cls[i] : sf_nn_softmax(r->logits + i * (size_t)c, c, own);
            float conf = probs[cls];
            struct sf_nn_best *best = &b->best[i];
            /* Strictly greater: on a tie the earlier classifier keeps the answer. */
            if (best->cls < 0 || conf > best->conf) {
                best->cls = cls;
                best->stage = k;
                best->conf = conf;
                memcpy(best->probs, probs, (size_t)c * sizeof(float));
            }
            if ((double)conf >= tau) {
                struct sf_nn_best now = {.cls = cls, .stage = k, .conf = conf};
                memcpy(now.probs, probs, (size_t)c * sizeof(float));
                emit(&out[(*n_out)++], b->ids[i], &now, c, k, 1);
            } else if (last) {
                emit(&out[(*n_out)++], b->ids[i], best, c, k, 0);
            } else {
                /* Survivor: its hidden state becomes row `keep` of the next input. */
                b->ids[keep] = b->ids[i];
                b->best[keep] = *best;
                size_t from = by_rows ? r->src[i] : i;
                if (keep != from)
                    memmove(r->next + keep * hn, r->next + from * hn, hn * sizeof(float));
                keep++;
            }
        }
        b->n = keep;
        b->stages_done = k;
        if (!last) {
            swap_next(r, b);
            b->shape = *hs;
            b->layout = hl;
        }
    }
    if (last_stage > b->stages_done && b->n == 0)
        b->stages_done = last_stage;
    /* Survivors handed back (a head run) leave in NCHW, as the API always gave them: callers
     * slice b->x by sf_nn_shape_numel rows. Between stages of one call it stays blocked. */
    if (b->n > 0 && b->layout != SF_NN_LAYOUT_NCHW) {
        size_t pn = sf_nn_shape_numel(&b->shape);
        int rc = reserve(r, b->n, pn, err);
        if (rc)
            return rc;
        sf_nn_layout_convert(b->x, b->layout, r->next, SF_NN_LAYOUT_NCHW, &b->shape, b->n);
        swap_next(r, b);
        b->layout = SF_NN_LAYOUT_NCHW;
    }
    return SF_OK;
}

int sf_nn_runner_warm(struct sf_nn_runner *r, struct sf_err *err)
{
    /* chunk sizes a stage can meet (backend_dnnl.c split_of): its sub-batch and the powers of
     * two below it; each is run once as a batch of that many requests per worker */
    size_t sizes[64], ns = 0, max_sub = 1;
    for (int k = 0; k < r->nstages; k++) {
        size_t sub = sf_nn_exec_sub_batch(r->ex[k]);
        max_sub = sub > max_sub ? sub : max_sub;
        int seen = 0;
        for (size_t i = 0; i < ns; i++)
            seen |= sizes[i] == sub;
        if (!seen && ns < 32)
            sizes[ns++] = sub;
    }
    if (max_sub > SF_NN_WARM_MAX_SUB)
        max_sub = SF_NN_WARM_MAX_SUB;
    for (size_t p = 1; p < max_sub && ns < 64; p *= 2) {
        int seen = 0;
        for (size_t i = 0; i < ns; i++)
            seen |= sizes[i] == p;
        if (!seen)
            sizes[ns++] = p;
    }
    /* largest first: each worker's arena is sized (and zeroed) once, not grown step by step */
    for (size_t i = 1; i < ns; i++)
        for (size_t j = i; j > 0 && sizes[j] > sizes[j - 1]; j--) {
            size_t t = sizes[j];
            sizes[j] = sizes[j - 1];
            sizes[j - 1] = t;
        }
    const struct sf_nn_shape *in = sf_nn_model_input_shape(r->m);
    size_t numel = sf_nn_shape_numel(in);
    size_t most = max_sub * (size_t)r->threads;
    float *x = calloc(most * numel, sizeof(float));
    struct sf_nn_result *out = calloc(most, sizeof(*out));
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    int rc = x && out ? SF_OK : sf_err_set(err, SF_ENOMEM, "out of memory warming the runner");
    for (size_t i = 0; i < ns && rc == SF_OK; i++) {
        size_t n = (sizes[i] < max_sub ? sizes[i] : max_sub) * (size_t)r->threads, n_out = 0;
        rc = sf_nn_batch_set_input(&b, r->m, x, NULL, n, err);
        /* tau 1: the exit path as a server runs it (a row that is certain leaves early) */
        if (rc == SF_OK)
            rc = sf_nn_runner_run(r, &b, r->nstages, 1.0, out, &n_out, err);
    }
    sf_nn_batch_fini(&b);
    free(out);
    free(x);
    return rc;
}
