/*
 * backend_dnnl.c - the oneDNN backend (C API). Per stage: one CPU engine and stream; per
 * batch size: a plan holding one primitive per operator and one memory object per tensor,
 * created the first time that batch size runs and reused after. A few plans are cached (a
 * server sees a handful of batch sizes); the least recently used one is dropped when full.
 * Tensors use plain NCHW / NC layouts, so outputs need no reorder. Threads: oneDNN's OpenMP
 * runtime (OMP_NUM_THREADS).
 */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* Plans kept per stage; each holds activation buffers for its batch size. */
#define PLAN_CACHE 8

struct plan {
    size_t batch;
    unsigned long last_use;
    float **buf;                /* per tensor; NULL when aliased */
    dnnl_memory_t *mem;         /* per tensor */
    dnnl_primitive_t *prim;     /* per op; NULL for Reshape (aliased memory) */
    dnnl_memory_t *wmem, *bmem; /* per op: weights/bias (Conv, Gemm) or constant (Add) */
};

struct dnnl_ctx {
    const struct sf_nn_stage *st;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    struct plan *plans[PLAN_CACHE];
    unsigned long clock;
};

#define DNNL_TRY(call, what)                                                                       \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            rc = sf_err_set(err, SF_EUNSUPPORTED, "%s: node '%s': oneDNN %s failed: %s", st->name, \
                            op ? op->node_name : "-", what, dnnl_status2str(s_));                  \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static void md_of(dnnl_memory_desc_t *md, const struct sf_nn_shape *s, size_t batch)
{
    dnnl_dims_t d;
    d[0] = (dnnl_dim_t)batch;
    for (int i = 0; i < s->ndim; i++)
        d[i + 1] = s->dims[i];
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
    dnnl_memory_desc_init_by_tag(md, s->ndim + 1, d, dnnl_f32, tags[s->ndim]);
}

static void plan_free(const struct sf_nn_stage *st, struct plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < st->ntensors; i++) {
        if (p->mem && p->mem[i])
            dnnl_memory_destroy(p->mem[i]);
        if (p->buf)
            free(p->buf[i]);
    }
    for (int i = 0; i < st->nops; i++) {
        if (p->prim && p->prim[i])
            dnnl_primitive_destroy(p->prim[i]);
        if (p->wmem && p->wmem[i])
            dnnl_memory_destroy(p->wmem[i]);
        if (p->bmem && p->bmem[i])
            dnnl_memory_destroy(p->bmem[i]);
    }
    free(p->buf);
    free(p->mem);
    free(p->prim);
    free(p->wmem);
    free(p->bmem);
    free(p);
}

static int make_prim(struct dnnl_ctx *c, const_dnnl_op_desc_t desc, dnnl_primitive_t *prim,
                     const struct sf__nn_op *op, struct sf_err *err)
{
    const struct sf_nn_stage *st = c->st;
    dnnl_primitive_desc_t pd = NULL;
    int rc = SF_OK;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, desc, NULL, c->eng, NULL), "primitive_desc_create");
    DNNL_TRY(dnnl_primitive_create(prim, pd), "primitive_create");
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

static int plan_new(struct dnnl_ctx *c, size_t batch, struct plan **out, struct sf_err *err)
{
    const struct sf_nn_stage *st = c->st;
    const struct sf__nn_op *op = NULL;
    int rc = SF_OK;
    struct plan *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    p->batch = batch;
    size_t nt = (size_t)st->ntensors, no = (size_t)st->nops;
    p->buf = calloc(nt, sizeof(*p->buf));
    p->mem = calloc(nt, sizeof(*p->mem));
    p->prim = calloc(no, sizeof(*p->prim));
    p->wmem = calloc(no, sizeof(*p->wmem));
    p->bmem = calloc(no, sizeof(*p->bmem));
    if (!p->buf || !p->mem || !p->prim || !p->wmem || !p->bmem) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
        goto fail;
    }
    /* Buffers: Reshape outputs alias their input (same bytes, another descriptor). */
    float **data = calloc(nt, sizeof(*data));
    if (!data) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
        goto fail;
    }
    for (int t = 0; t < st->ntensors; t++) {
        int alias = -1;
        for (int i = 0; i < st->nops; i++)
            if (st->ops[i].kind == SF__OP_RESHAPE && st->ops[i].out == t)
                alias = st->ops[i].in0;
        if (alias >= 0) {
            data[t] = data[alias]; /* SSA order: the input's buffer exists already */
            continue;
        }
        size_t bytes = sf_nn_shape_numel(&st->tensors[t].shape) * batch * sizeof(float);
        p->buf[t] = malloc(bytes ? bytes : 1);
        if (!p->buf[t]) {
            free(data);
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory for batch %zu", st->name, batch);
            goto fail;
        }
        data[t] = p->buf[t];
    }
    for (int t = 0; t < st->ntensors; t++) {
        dnnl_memory_desc_t md;
        md_of(&md, &st->tensors[t].shape, batch);
        dnnl_status_t s = dnnl_memory_create(&p->mem[t], &md, c->eng, data[t]);
        if (s != dnnl_success) {
            free(data);
            rc = sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN memory_create failed: %s", st->name,
                            dnnl_status2str(s));
            goto fail;
        }
    }
    free(data);
    for (int i = 0; i < st->nops; i++) {
        op = &st->ops[i];
        dnnl_memory_desc_t src, dst;
        md_of(&src, &st->tensors[op->in0].shape, batch);
        md_of(&dst, &st->tensors[op->out].shape, batch);
        switch (op->kind) {
        case SF__OP_CONV: {
            dnnl_memory_desc_t wmd, bmd;
            dnnl_dims_t wd = {op->cout, op->cin, op->kh, op->kw}, bd = {op->cout};
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_oihw), "md");
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md");
            dnnl_dims_t strides = {op->sh, op->sw}, pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
            dnnl_convolution_desc_t d;
            DNNL_TRY(dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference,
                                                        dnnl_convolution_direct, &src, &wmd, &bmd,
                                                        &dst, strides, pl, pr),
                     "convolution desc");
            DNNL_TRY(dnnl_memory_create(&p->wmem[i], &wmd, c->eng, op->w), "memory_create");
            DNNL_TRY(dnnl_memory_create(&p->bmem[i], &bmd, c->eng, op->bias), "memory_create");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_GEMM: {
            dnnl_memory_desc_t wmd, bmd;
            dnnl_dims_t wd = {op->cout, op->cin}, bd = {op->cout};
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dnnl_f32, dnnl_oi), "md");
            DNNL_TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md");
            dnnl_inner_product_desc_t d;
            DNNL_TRY(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, &src, &wmd,
                                                          &bmd, &dst),
                     "inner_product desc");
            DNNL_TRY(dnnl_memory_create(&p->wmem[i], &wmd, c->eng, op->w), "memory_create");
            DNNL_TRY(dnnl_memory_create(&p->bmem[i], &bmd, c->eng, op->bias), "memory_create");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_MAXPOOL:
        case SF__OP_AVGPOOL: {
            dnnl_dims_t strides = {op->sh, op->sw}, kernel = {op->kh, op->kw}, dil = {0, 0};
            dnnl_dims_t pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
            dnnl_alg_kind_t alg = op->kind == SF__OP_MAXPOOL ? dnnl_pooling_max
                                  : op->count_include_pad    ? dnnl_pooling_avg_include_padding
                                                             : dnnl_pooling_avg_exclude_padding;
            dnnl_pooling_v2_desc_t d;
            DNNL_TRY(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &src, &dst,
                                                       strides, kernel, dil, pl, pr),
                     "pooling desc");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_RELU: {
            dnnl_eltwise_desc_t d;
            DNNL_TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, dnnl_eltwise_relu,
                                                    &src, 0.0f, 0.0f),
                     "eltwise desc");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_SOFTMAX: {
            dnnl_softmax_desc_t d;
            DNNL_TRY(dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, &src, 1),
                     "softmax desc");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_ADD: {
            dnnl_memory_desc_t src1;
            if (op->in1 >= 0) {
                md_of(&src1, &st->tensors[op->in1].shape, batch);
            } else {
                /* Constant broadcast over the batch: dims {1, per-request dims}. */
                struct sf_nn_shape cs = st->tensors[op->in0].shape;
                if (op->cst_len == 1)
                    for (int k = 0; k < cs.ndim; k++)
                        cs.dims[k] = 1;
                md_of(&src1, &cs, 1);
                DNNL_TRY(dnnl_memory_create(&p->wmem[i], &src1, c->eng, op->cst), "memory_create");
            }
            dnnl_binary_desc_t d;
            DNNL_TRY(dnnl_binary_desc_init(&d, dnnl_binary_add, &src, &src1, &dst), "binary desc");
            rc = make_prim(c, &d, &p->prim[i], op, err);
            break;
        }
        case SF__OP_RESHAPE:
            break;
        }
        if (rc)
            goto fail;
    }
    *out = p;
    return SF_OK;
fail:
    plan_free(st, p);
    return rc;
}

static int dnnl_create(const struct sf_nn_stage *st, void **out, struct sf_err *err)
{
    const struct sf__nn_op *op = NULL;
    int rc = SF_OK;
    struct dnnl_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    c->st = st;
    DNNL_TRY(dnnl_engine_create(&c->eng, dnnl_cpu, 0), "engine_create");
    DNNL_TRY(dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags), "stream_create");
    *out = c;
    return SF_OK;
fail:
    if (c->eng)
        dnnl_engine_destroy(c->eng);
    free(c);
    return rc;
}

static void dnnl_destroy(void *ctx)
{
    struct dnnl_ctx *c = ctx;
    if (!c)
        return;
    for (int i = 0; i < PLAN_CACHE; i++)
        plan_free(c->st, c->plans[i]);
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->eng);
    free(c);
}

static int get_plan(struct dnnl_ctx *c, size_t batch, struct plan **out, struct sf_err *err)
{
    int victim = 0;
    for (int i = 0; i < PLAN_CACHE; i++) {
        struct plan *p = c->plans[i];
        if (p && p->batch == batch) {
            p->last_use = ++c->clock;
            *out = p;
            return SF_OK;
        }
        if (!p || (c->plans[victim] && p->last_use < c->plans[victim]->last_use))
            victim = i;
        if (!p)
            break;
    }
    struct plan *p;
    int rc = plan_new(c, batch, &p, err);
    if (rc)
        return rc;
    plan_free(c->st, c->plans[victim]);
    p->last_use = ++c->clock;
    c->plans[victim] = p;
    *out = p;
    return SF_OK;
}

static int dnnl_run(void *ctx, const float *in, size_t batch, float *hidden, float *logits,
                    struct sf_err *err)
{
    struct dnnl_ctx *c = ctx;
    const struct sf_nn_stage *st = c->st;
    const struct sf__nn_op *op = NULL;
    struct plan *p;
    int rc = get_plan(c, batch, &p, err);
    if (rc)
        return rc;
    memcpy(p->buf[st->input], in,
           batch * sf_nn_shape_numel(&st->tensors[st->input].shape) * sizeof(float));
    for (int i = 0; i < st->nops; i++) {
        op = &st->ops[i];
        if (!p->prim[i])
            continue;
        dnnl_exec_arg_t args[4];
        int nargs = 0;
        switch (op->kind) {
        case SF__OP_CONV:
        case SF__OP_GEMM:
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->mem[op->in0]};
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->wmem[i]};
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->bmem[i]};
            break;
        case SF__OP_ADD:
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, p->mem[op->in0]};
            args[nargs++] =
                (dnnl_exec_arg_t){DNNL_ARG_SRC_1, op->in1 >= 0 ? p->mem[op->in1] : p->wmem[i]};
            break;
        default:
            args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->mem[op->in0]};
            break;
        }
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->mem[op->out]};
        DNNL_TRY(dnnl_primitive_execute(p->prim[i], c->stream, nargs, args), "execute");
    }
    op = NULL;
    DNNL_TRY(dnnl_stream_wait(c->stream), "stream_wait");
    {
        /* Outputs may be aliases (a Reshape output): read through the memory object. */
        void *h = NULL;
        if (hidden && st->hidden >= 0) {
            DNNL_TRY(dnnl_memory_get_data_handle(p->mem[st->hidden], &h), "get_data_handle");
            memcpy(hidden, h,
                   batch * sf_nn_shape_numel(&st->tensors[st->hidden].shape) * sizeof(float));
        }
        DNNL_TRY(dnnl_memory_get_data_handle(p->mem[st->logits], &h), "get_data_handle");
        memcpy(logits, h,
               batch * sf_nn_shape_numel(&st->tensors[st->logits].shape) * sizeof(float));
    }
    return SF_OK;
fail:
    return rc;
}

const struct sf__nn_backend_ops sf__nn_dnnl_ops = {
    .kind = SF_NN_BACKEND_DNNL,
    .create = dnnl_create,
    .run = dnnl_run,
    .destroy = dnnl_destroy,
};
