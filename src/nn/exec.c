/* exec.c - one stage bound to one backend: dispatch through the backend vtable; the worker
 * pool an exec owns (standalone) or borrows (from its runner). */
#include "nn_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct sf_nn_exec {
    const struct sf__nn_backend_ops *ops;
    const struct sf_nn_stage *st;
    void *ctx;
    struct sf__nn_pool *own_pool; /* NULL when borrowed */
};

/* Refuses batches whose buffers could not be addressed; far above any real batch. */
#define MAX_BATCH ((size_t)1 << 20)

const char *sf_nn_backend_name(enum sf_nn_backend b)
{
    switch (b) {
    case SF_NN_BACKEND_REF:
        return "ref";
    case SF_NN_BACKEND_DNNL:
        return "dnnl";
    }
    return "unknown";
}

int sf_nn_backend_parse(const char *name, enum sf_nn_backend *out)
{
    if (name && !strcmp(name, "ref")) {
        *out = SF_NN_BACKEND_REF;
        return SF_OK;
    }
    if (name && (!strcmp(name, "dnnl") || !strcmp(name, "onednn"))) {
        *out = SF_NN_BACKEND_DNNL;
        return SF_OK;
    }
    return SF_EINVAL;
}

int sf__nn_exec_new_in(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                       const struct sf_nn_opts *opts, struct sf__nn_pool *pool,
                       struct sf_nn_exec **out, struct sf_err *err)
{
    *out = NULL;
    const struct sf__nn_backend_ops *ops;
    if (backend == SF_NN_BACKEND_REF)
        ops = &sf__nn_ref_ops;
    else if (backend == SF_NN_BACKEND_DNNL)
        ops = &sf__nn_dnnl_ops;
    else
        return sf_err_set(err, SF_EINVAL, "unknown backend %d", (int)backend);
    struct sf_nn_opts none = {0};
    struct sf_nn_exec *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    ex->ops = ops;
    ex->st = st;
    int rc = ops->create(st, opts ? opts : &none, pool, &ex->ctx, err);
    if (rc) {
        free(ex);
        return rc;
    }
    *out = ex;
    return SF_OK;
}

int sf__nn_threads_of(const struct sf_nn_opts *opts, int *threads, struct sf_err *err)
{
    if (opts && (opts->threads < 0 || opts->threads > SF_NN_MAX_THREADS))
        return sf_err_set(err, SF_EINVAL, "threads %d out of 1..%d", opts->threads,
                          SF_NN_MAX_THREADS);
    int t = opts && opts->threads > 0 ? opts->threads : omp_get_max_threads();
    *threads = t < 1 ? 1 : t > SF_NN_MAX_THREADS ? SF_NN_MAX_THREADS : t;
    return SF_OK;
}

int sf_nn_exec_new_opts(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                        const struct sf_nn_opts *opts, struct sf_nn_exec **out, struct sf_err *err)
{
    *out = NULL;
    struct sf__nn_pool *pool;
    int threads = 1;
    int rc = sf__nn_threads_of(opts, &threads, err);
    if (!rc)
        rc = sf__nn_pool_new(backend == SF_NN_BACKEND_REF ? 1 : threads, &pool, err);
    if (rc)
        return rc;
    rc = sf__nn_exec_new_in(st, backend, opts, pool, out, err);
    if (rc) {
        sf__nn_pool_free(pool);
        return rc;
    }
    (*out)->own_pool = pool;
    return SF_OK;
}

int sf_nn_exec_new(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                   struct sf_nn_exec **out, struct sf_err *err)
{
    return sf_nn_exec_new_opts(st, backend, NULL, out, err);
}

int sf_nn_exec_run_layout(struct sf_nn_exec *ex, const float *in, enum sf_nn_layout in_l,
                          size_t batch, float *hidden, enum sf_nn_layout hidden_l, float *logits,
                          struct sf_err *err)
{
    if (batch == 0)
        return SF_OK;
    if (batch > MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "%s: batch %zu exceeds %zu", ex->st->name, batch,
                          MAX_BATCH);
    if (!in || !logits)
        return sf_err_set(err, SF_EINVAL, "%s: NULL input or logits buffer", ex->st->name);
    if ((unsigned)in_l >= SF_NN_NUM_LAYOUTS || (unsigned)hidden_l >= SF_NN_NUM_LAYOUTS)
        return sf_err_set(err, SF_EINVAL, "%s: unknown layout", ex->st->name);
    return ex->ops->run(ex->ctx, in, in_l, batch, hidden, hidden_l, logits, err);
}

int sf__nn_exec_run_rows(struct sf_nn_exec *ex, const float *in, enum sf_nn_layout in_l,
                         size_t batch, enum sf_nn_layout hid_l, float *logits, sf__nn_rows_fn done,
                         void *arg, struct sf_err *err)
{
    if (batch == 0)
        return SF_OK;
    if (ex->ops->run_rows) {
        if (batch > MAX_BATCH)
            return sf_err_set(err, SF_ETOOBIG, "%s: batch %zu exceeds %zu", ex->st->name, batch,
                              MAX_BATCH);
        return ex->ops->run_rows(ex->ctx, in, in_l, batch, hid_l, logits, done, arg, err);
    }
    /* The whole batch at once, the hidden state in a buffer of our own. */
    const struct sf_nn_shape *hs = &ex->st->tensors[ex->st->hidden >= 0 ? ex->st->hidden : 0].shape;
    size_t hn = ex->st->hidden >= 0 ? sf_nn_layout_numel(hid_l, hs) : 0;
    float *h = hn ? malloc(batch * hn * sizeof(float)) : NULL;
    if (hn && !h)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory for batch %zu", ex->st->name, batch);
    int rc = sf_nn_exec_run_layout(ex, in, in_l, batch, h, hid_l, logits, err);
    if (!rc)
        rc = done(arg, 0, batch, h, err);
    free(h);
    return rc;
}

int sf__nn_exec_run_local(struct sf_nn_exec *ex, int worker, const float *in,
                          enum sf_nn_layout in_l, size_t batch, float *hidden,
                          enum sf_nn_layout hid_l, float *logits, struct sf_err *err)
{
    if (batch == 0)
        return SF_OK;
    if (!ex->ops->run_local)
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: backend %s cannot run on one worker",
                          ex->st->name, sf_nn_backend_name(ex->ops->kind));
    if (batch > MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "%s: batch %zu exceeds %zu", ex->st->name, batch,
                          MAX_BATCH);
    return ex->ops->run_local(ex->ctx, worker, in, in_l, batch, hidden, hid_l, logits, err);
}

int sf__nn_exec_has_local(const struct sf_nn_exec *ex)
{
    return ex->ops->run_local != NULL;
}

int sf_nn_exec_run(struct sf_nn_exec *ex, const float *in, size_t batch, float *hidden,
                   float *logits, struct sf_err *err)
{
    return sf_nn_exec_run_layout(ex, in, SF_NN_LAYOUT_NCHW, batch, hidden, SF_NN_LAYOUT_NCHW,
                                 logits, err);
}

enum sf_nn_layout sf_nn_exec_input_layout(const struct sf_nn_exec *ex)
{
    return ex->ops->input_layout(ex->ctx);
}

size_t sf_nn_exec_sub_batch(const struct sf_nn_exec *ex)
{
    return ex->ops->sub_batch(ex->ctx);
}

double sf_nn_exec_flops(const struct sf_nn_exec *ex, size_t batch)
{
    if (batch == 0)
        return 0;
    if (ex->ops->flops)
        return ex->ops->flops(ex->ctx, batch);
    double f = 0;
    for (int i = 0; i < ex->st->nops; i++)
        f += sf__nn_op_flops_direct(ex->st, &ex->st->ops[i]);
    return f;
}

double sf__nn_exec_weight_floats(const struct sf_nn_exec *ex)
{
    if (ex->ops->weight_floats)
        return ex->ops->weight_floats(ex->ctx);
    double w = 0;
    for (int i = 0; i < ex->st->nops; i++)
        w += sf__nn_op_weight_floats(&ex->st->ops[i]);
    return w;
}

void sf_nn_exec_free(struct sf_nn_exec *ex)
{
    if (!ex)
        return;
    ex->ops->destroy(ex->ctx);
    sf__nn_pool_free(ex->own_pool);
    free(ex);
}

enum sf_nn_backend sf_nn_exec_backend(const struct sf_nn_exec *ex)
{
    return ex->ops->kind;
}

int sf_nn_softmax(const float *logits, int n, float *probs)
{
    int arg = 0;
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) {
            mx = logits[i];
            arg = i;
        }
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double e = exp((double)logits[i] - mx);
        probs[i] = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++)
        probs[i] = (float)(probs[i] / sum);
    return arg;
}
