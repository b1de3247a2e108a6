/*
 * backend_dnnl.c - the oneDNN backend (C API). Per stage: one CPU engine and stream; per
 * batch size: a plan, i.e. a list of steps (primitive + arguments) and the memory they use,
 * created the first time that batch size runs and reused after. A few plans are cached (a
 * server sees a handful of batch sizes); the least recently used one is dropped when full.
 *
 * Layouts: convolutions are created with "any" formats so oneDNN picks its blocked layouts
 * (nChw8c/16c) and direct JIT kernels; pooling and ReLU run in whatever layout their input
 * has; weights are reordered once when the plan is built. Reorders to plain NCHW/NC are added
 * only where needed: before Reshape/Flatten, Add, Gemm, Softmax and for the stage outputs.
 * Threads: oneDNN's OpenMP runtime (OMP_NUM_THREADS).
 */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* Plans kept per stage; each holds activation buffers for its batch size. */
#define PLAN_CACHE 8
/* Arguments of one primitive execution: src(s), weights, bias, dst. */
#define MAX_ARGS 5

struct step {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
};

struct plan {
    size_t batch;
    unsigned long last_use;
    struct step *steps;
    int nsteps, capsteps;
    dnnl_memory_t *mems; /* every memory object the plan owns */
    void **bufs;         /* their buffers when the plan allocated them, else NULL */
    int nmems, capmems;
    dnnl_memory_t *tmem;   /* per tensor: the memory holding it (any layout) */
    dnnl_memory_t *tplain; /* per tensor: a plain-layout copy or tmem, on demand */
};

struct dnnl_ctx {
    const struct sf_nn_stage *st;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    struct plan *plans[PLAN_CACHE];
    unsigned long clock;
};

/* Builder state: where errors go. */
struct bld {
    struct dnnl_ctx *c;
    struct plan *p;
    const struct sf__nn_op *op;
    struct sf_err *err;
};

static int fail_dnnl(struct bld *b, const char *what, dnnl_status_t s)
{
    return sf_err_set(b->err, SF_EUNSUPPORTED, "%s: node '%s': oneDNN %s failed: %s",
                      b->c->st->name, b->op ? b->op->node_name : "-", what, dnnl_status2str(s));
}

#define TRY(call, what)                                                                            \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success)                                                                    \
            return fail_dnnl(b, what, s_);                                                         \
    } while (0)

static void plain_md(dnnl_memory_desc_t *md, const struct sf_nn_shape *s, size_t batch, int any)
{
    dnnl_dims_t d;
    d[0] = (dnnl_dim_t)batch;
    for (int i = 0; i < s->ndim; i++)
        d[i + 1] = s->dims[i];
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
    dnnl_memory_desc_init_by_tag(md, s->ndim + 1, d, dnnl_f32,
                                 any ? dnnl_format_tag_any : tags[s->ndim]);
}

static const dnnl_memory_desc_t *md_of(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_get_memory_desc(m, &md);
    return md;
}

static void plan_free(struct plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nsteps; i++)
        dnnl_primitive_destroy(p->steps[i].prim);
    for (int i = 0; i < p->nmems; i++) {
        dnnl_memory_destroy(p->mems[i]);
        free(p->bufs[i]);
    }
    free(p->steps);
    free(p->mems);
    free(p->bufs);
    free(p->tmem);
    free(p->tplain);
    free(p);
}

/* A memory object over `handle`, or over a new buffer of the descriptor's size. */
static int new_mem(struct bld *b, const dnnl_memory_desc_t *md, void *handle, dnnl_memory_t *out)
{
    struct plan *p = b->p;
    if (p->nmems == p->capmems) {
        int ncap = p->capmems ? p->capmems * 2 : 32;
        dnnl_memory_t *nm = realloc(p->mems, (size_t)ncap * sizeof(*nm));
        if (nm)
            p->mems = nm;
        void **nb = realloc(p->bufs, (size_t)ncap * sizeof(*nb));
        if (nb)
            p->bufs = nb;
        if (!nm || !nb)
            return sf_err_set(b->err, SF_ENOMEM, "%s: out of memory", b->c->st->name);
        p->capmems = ncap;
    }
    void *buf = NULL;
    if (!handle) {
        size_t bytes = dnnl_memory_desc_get_size(md);
        buf = malloc(bytes ? bytes : 1);
        if (!buf)
            return sf_err_set(b->err, SF_ENOMEM, "%s: out of memory for batch %zu", b->c->st->name,
                              p->batch);
        handle = buf;
    }
    dnnl_status_t s = dnnl_memory_create(out, md, b->c->eng, handle);
    if (s != dnnl_success) {
        free(buf);
        return fail_dnnl(b, "memory_create", s);
    }
    p->mems[p->nmems] = *out;
    p->bufs[p->nmems] = buf;
    p->nmems++;
    return SF_OK;
}

static int add_step(struct bld *b, const_dnnl_op_desc_t desc, dnnl_primitive_desc_t pd_in,
                    int nargs, const dnnl_exec_arg_t *args)
{
    struct plan *p = b->p;
    if (p->nsteps == p->capsteps) {
        int ncap = p->capsteps ? p->capsteps * 2 : 16;
        struct step *ns = realloc(p->steps, (size_t)ncap * sizeof(*ns));
        if (!ns)
            return sf_err_set(b->err, SF_ENOMEM, "%s: out of memory", b->c->st->name);
        p->steps = ns;
        p->capsteps = ncap;
    }
    dnnl_primitive_desc_t pd = pd_in;
    dnnl_status_t s = dnnl_success;
    if (!pd)
        s = dnnl_primitive_desc_create(&pd, desc, NULL, b->c->eng, NULL);
    if (s != dnnl_success)
        return fail_dnnl(b, "primitive_desc_create", s);
    struct step *st = &p->steps[p->nsteps];
    s = dnnl_primitive_create(&st->prim, pd);
    if (!pd_in)
        dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success)
        return fail_dnnl(b, "primitive_create", s);
    st->nargs = nargs;
    memcpy(st->args, args, (size_t)nargs * sizeof(*args));
    p->nsteps++;
    return SF_OK;
}

/* A step reordering src into a new memory object with layout md. */
static int add_reorder(struct bld *b, dnnl_memory_t src, const dnnl_memory_desc_t *md,
                       dnnl_memory_t *out)
{
    dnnl_primitive_desc_t pd;
    TRY(dnnl_reorder_primitive_desc_create(&pd, md_of(src), b->c->eng, md, b->c->eng, NULL),
        "reorder");
    int rc = new_mem(b, md, NULL, out);
    if (!rc) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, *out}};
        rc = add_step(b, NULL, pd, 2, args);
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Tensor t in plain layout (reordered once, on first need). */
static int plain_of(struct bld *b, int t, dnnl_memory_t *out)
{
    struct plan *p = b->p;
    if (!p->tplain[t]) {
        dnnl_memory_desc_t md;
        plain_md(&md, &b->c->st->tensors[t].shape, p->batch, 0);
        if (dnnl_memory_desc_equal(&md, md_of(p->tmem[t]))) {
            p->tplain[t] = p->tmem[t];
        } else {
            int rc = add_reorder(b, p->tmem[t], &md, &p->tplain[t]);
            if (rc)
                return rc;
        }
    }
    *out = p->tplain[t];
    return SF_OK;
}

/* Tensor t in layout md (for a convolution's source). */
static int in_layout(struct bld *b, int t, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    struct plan *p = b->p;
    if (dnnl_memory_desc_equal(md, md_of(p->tmem[t]))) {
        *out = p->tmem[t];
        return SF_OK;
    }
    if (p->tplain[t] && dnnl_memory_desc_equal(md, md_of(p->tplain[t]))) {
        *out = p->tplain[t];
        return SF_OK;
    }
    return add_reorder(b, p->tmem[t], md, out);
}

/* Weights given plain (w, layout tag) moved once into the layout the primitive wants. */
static int weights_mem(struct bld *b, const dnnl_memory_desc_t *want, int ndims,
                       const dnnl_dims_t dims, dnnl_format_tag_t tag, float *w, dnnl_memory_t *out)
{
    dnnl_memory_desc_t plain;
    TRY(dnnl_memory_desc_init_by_tag(&plain, ndims, dims, dnnl_f32, tag), "weights desc");
    dnnl_memory_t src;
    int rc = new_mem(b, &plain, w, &src);
    if (rc || dnnl_memory_desc_equal(&plain, want)) {
        *out = src;
        return rc;
    }
    rc = new_mem(b, want, NULL, out);
    if (rc)
        return rc;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    TRY(dnnl_reorder_primitive_desc_create(&pd, &plain, b->c->eng, want, b->c->eng, NULL),
        "weights reorder");
    dnnl_status_t s = dnnl_primitive_create(&prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success)
        return fail_dnnl(b, "weights reorder", s);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, *out}};
    s = dnnl_primitive_execute(prim, b->c->stream, 2, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(b->c->stream);
    dnnl_primitive_destroy(prim);
    if (s != dnnl_success)
        return fail_dnnl(b, "weights reorder", s);
    return SF_OK;
}

/* The shared tail of convolution and inner product: weights in the primitive's layout, bias,
 * destination, the step (src, weights, bias, dst). Takes ownership of pd and destroys it; rc is
 * the caller's status so far (nothing more is built when it is an error). */
static int add_weighted_step(struct bld *b, const struct sf__nn_op *op, dnnl_primitive_desc_t pd,
                             int rc, dnnl_memory_t s_mem, int w_ndims, const dnnl_dims_t wd,
                             dnnl_format_tag_t w_tag, const dnnl_memory_desc_t *bmd,
                             const dnnl_memory_desc_t *dst_md)
{
    struct plan *p = b->p;
    dnnl_memory_t w_mem, b_mem;
    if (!rc)
        rc = weights_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), w_ndims, wd,
                         w_tag, op->w, &w_mem);
    if (!rc)
        rc = new_mem(b, bmd, op->bias, &b_mem);
    if (!rc)
        rc = new_mem(b, dst_md, NULL, &p->tmem[op->out]);
    if (!rc) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, s_mem},
                                   {DNNL_ARG_WEIGHTS, w_mem},
                                   {DNNL_ARG_BIAS, b_mem},
                                   {DNNL_ARG_DST, p->tmem[op->out]}};
        rc = add_step(b, NULL, pd, 4, args);
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

static int build_conv(struct bld *b, const struct sf__nn_op *op)
{
    struct plan *p = b->p;
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_desc_t src, dst, wmd, bmd;
    plain_md(&src, &st->tensors[op->in0].shape, p->batch, 1);
    plain_md(&dst, &st->tensors[op->out].shape, p->batch, 1);
    dnnl_dims_t wd = {op->cout, op->cin, op->kh, op->kw}, bd = {op->cout};
    TRY(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any), "md");
    TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md");
    dnnl_dims_t strides = {op->sh, op->sw}, pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
    dnnl_convolution_desc_t d;
    TRY(dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_direct,
                                           &src, &wmd, &bmd, &dst, strides, pl, pr),
        "convolution desc");
    /* A fused Relu runs as an eltwise post-op of the convolution. */
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t s = dnnl_success;
    if (op->relu) {
        s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success)
            s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, &d, attr, b->c->eng, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return fail_dnnl(b, "convolution", s);
    dnnl_memory_t s_mem;
    int rc = in_layout(b, op->in0, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &s_mem);
    return add_weighted_step(b, op, pd, rc, s_mem, 4, wd, dnnl_oihw, &bmd,
                             dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
}

static int build_gemm(struct bld *b, const struct sf__nn_op *op)
{
    struct plan *p = b->p;
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_t s_mem;
    int rc = plain_of(b, op->in0, &s_mem);
    if (rc)
        return rc;
    dnnl_memory_desc_t dst, wmd, bmd;
    plain_md(&dst, &st->tensors[op->out].shape, p->batch, 0);
    dnnl_dims_t wd = {op->cout, op->cin}, bd = {op->cout};
    TRY(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dnnl_f32, dnnl_format_tag_any), "md");
    TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md");
    dnnl_inner_product_desc_t d;
    TRY(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, md_of(s_mem), &wmd, &bmd,
                                             &dst),
        "inner_product desc");
    dnnl_primitive_desc_t pd;
    TRY(dnnl_primitive_desc_create(&pd, &d, NULL, b->c->eng, NULL), "inner_product");
    return add_weighted_step(b, op, pd, SF_OK, s_mem, 2, wd, dnnl_oi, &bmd, &dst);
}

static int build_op(struct bld *b, const struct sf__nn_op *op)
{
    struct plan *p = b->p;
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_t in, in1;
    dnnl_memory_desc_t dst;
    int rc;
    switch (op->kind) {
    case SF__OP_CONV:
        return build_conv(b, op);
    case SF__OP_GEMM:
        return build_gemm(b, op);
    case SF__OP_MAXPOOL:
    case SF__OP_AVGPOOL: {
        /* Pools in its input's layout; the output layout is oneDNN's choice. */
        in = p->tmem[op->in0];
        plain_md(&dst, &st->tensors[op->out].shape, p->batch, 1);
        dnnl_dims_t strides = {op->sh, op->sw}, kernel = {op->kh, op->kw}, dil = {0, 0};
        dnnl_dims_t pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
        dnnl_alg_kind_t alg = op->kind == SF__OP_MAXPOOL ? dnnl_pooling_max
                              : op->count_include_pad    ? dnnl_pooling_avg_include_padding
                                                         : dnnl_pooling_avg_exclude_padding;
        dnnl_pooling_v2_desc_t d;
        TRY(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, md_of(in), &dst,
                                              strides, kernel, dil, pl, pr),
            "pooling desc");
        dnnl_primitive_desc_t pd;
        TRY(dnnl_primitive_desc_create(&pd, &d, NULL, b->c->eng, NULL), "pooling");
        rc = new_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL,
                     &p->tmem[op->out]);
        if (!rc) {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, p->tmem[op->out]}};
            rc = add_step(b, NULL, pd, 2, args);
        }
        dnnl_primitive_desc_destroy(pd);
        return rc;
    }
    case SF__OP_RELU: {
        in = p->tmem[op->in0];
        dnnl_eltwise_desc_t d;
        TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, dnnl_eltwise_relu, md_of(in),
                                           0.0f, 0.0f),
            "eltwise desc");
        rc = new_mem(b, md_of(in), NULL, &p->tmem[op->out]);
        if (rc)
            return rc;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, p->tmem[op->out]}};
        return add_step(b, &d, NULL, 2, args);
    }
    case SF__OP_SOFTMAX: {
        rc = plain_of(b, op->in0, &in);
        if (rc)
            return rc;
        dnnl_softmax_desc_t d;
        TRY(dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, md_of(in), 1),
            "softmax desc");
        rc = new_mem(b, md_of(in), NULL, &p->tmem[op->out]);
        if (rc)
            return rc;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, p->tmem[op->out]}};
        return add_step(b, &d, NULL, 2, args);
    }
    case SF__OP_RESHAPE: {
        /* Same bytes in plain layout, another descriptor: no step. */
        rc = plain_of(b, op->in0, &in);
        if (rc)
            return rc;
        void *h = NULL;
        TRY(dnnl_memory_get_data_handle(in, &h), "get_data_handle");
        plain_md(&dst, &st->tensors[op->out].shape, p->batch, 0);
        return new_mem(b, &dst, h, &p->tmem[op->out]);
    }
    case SF__OP_ADD: {
        rc = plain_of(b, op->in0, &in);
        if (rc)
            return rc;
        if (op->in1 >= 0) {
            rc = plain_of(b, op->in1, &in1);
        } else {
            /* Constant broadcast over the batch: dims {1, per-request dims}. */
            struct sf_nn_shape cs = st->tensors[op->in0].shape;
            if (op->cst_len == 1)
                for (int k = 0; k < cs.ndim; k++)
                    cs.dims[k] = 1;
            dnnl_memory_desc_t cmd;
            plain_md(&cmd, &cs, 1, 0);
            rc = new_mem(b, &cmd, op->cst, &in1);
        }
        if (rc)
            return rc;
        dnnl_binary_desc_t d;
        TRY(dnnl_binary_desc_init(&d, dnnl_binary_add, md_of(in), md_of(in1), md_of(in)),
            "binary desc");
        rc = new_mem(b, md_of(in), NULL, &p->tmem[op->out]);
        if (rc)
            return rc;
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC_0, in}, {DNNL_ARG_SRC_1, in1}, {DNNL_ARG_DST, p->tmem[op->out]}};
        return add_step(b, &d, NULL, 3, args);
    }
    }
    return sf_err_set(b->err, SF_EUNSUPPORTED, "%s: unknown operator kind", st->name);
}

static int plan_new(struct dnnl_ctx *c, size_t batch, struct plan **out, struct sf_err *err)
{
    const struct sf_nn_stage *st = c->st;
    struct plan *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    p->batch = batch;
    struct bld b = {.c = c, .p = p, .err = err};
    int rc = SF_OK;
    p->tmem = calloc((size_t)st->ntensors, sizeof(*p->tmem));
    p->tplain = calloc((size_t)st->ntensors, sizeof(*p->tplain));
    if (!p->tmem || !p->tplain) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
        goto fail;
    }
    dnnl_memory_desc_t md;
    plain_md(&md, &st->tensors[st->input].shape, batch, 0);
    rc = new_mem(&b, &md, NULL, &p->tmem[st->input]);
    for (int i = 0; i < st->nops && !rc; i++) {
        b.op = &st->ops[i];
        rc = build_op(&b, b.op);
    }
    b.op = NULL;
    dnnl_memory_t unused;
    if (!rc && st->hidden >= 0)
        rc = plain_of(&b, st->hidden, &unused);
    if (!rc)
        rc = plain_of(&b, st->logits, &unused);
    if (rc)
        goto fail;
    *out = p;
    return SF_OK;
fail:
    plan_free(p);
    return rc;
}

static int dnnl_create(const struct sf_nn_stage *st, void **out, struct sf_err *err)
{
    struct dnnl_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    c->st = st;
    dnnl_status_t s = dnnl_engine_create(&c->eng, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        if (c->eng)
            dnnl_engine_destroy(c->eng);
        free(c);
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN CPU engine: %s", st->name,
                          dnnl_status2str(s));
    }
    *out = c;
    return SF_OK;
}

static void dnnl_destroy(void *ctx)
{
    struct dnnl_ctx *c = ctx;
    if (!c)
        return;
    for (int i = 0; i < PLAN_CACHE; i++)
        plan_free(c->plans[i]);
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
        if (!p) {
            victim = i;
            break;
        }
        if (p->last_use < c->plans[victim]->last_use)
            victim = i;
    }
    struct plan *p;
    int rc = plan_new(c, batch, &p, err);
    if (rc)
        return rc;
    plan_free(c->plans[victim]);
    p->last_use = ++c->clock;
    c->plans[victim] = p;
    *out = p;
    return SF_OK;
}

static int copy_out(const struct sf_nn_stage *st, dnnl_memory_t m, int t, size_t batch, float *dst,
                    struct sf_err *err)
{
    void *h = NULL;
    dnnl_status_t s = dnnl_memory_get_data_handle(m, &h);
    if (s != dnnl_success)
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN get_data_handle: %s", st->name,
                          dnnl_status2str(s));
    memcpy(dst, h, batch * sf_nn_shape_numel(&st->tensors[t].shape) * sizeof(float));
    return SF_OK;
}

static int dnnl_run(void *ctx, const float *in, size_t batch, float *hidden, float *logits,
                    struct sf_err *err)
{
    struct dnnl_ctx *c = ctx;
    const struct sf_nn_stage *st = c->st;
    struct plan *p;
    int rc = get_plan(c, batch, &p, err);
    if (rc)
        return rc;
    void *h = NULL;
    dnnl_memory_get_data_handle(p->tmem[st->input], &h);
    memcpy(h, in, batch * sf_nn_shape_numel(&st->tensors[st->input].shape) * sizeof(float));
    for (int i = 0; i < p->nsteps; i++) {
        dnnl_status_t s = dnnl_primitive_execute(p->steps[i].prim, c->stream, p->steps[i].nargs,
                                                 p->steps[i].args);
        if (s != dnnl_success)
            return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN execute (step %d): %s", st->name, i,
                              dnnl_status2str(s));
    }
    dnnl_status_t s = dnnl_stream_wait(c->stream);
    if (s != dnnl_success)
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN stream_wait: %s", st->name,
                          dnnl_status2str(s));
    if (hidden && st->hidden >= 0) {
        rc = copy_out(st, p->tplain[st->hidden], st->hidden, batch, hidden, err);
        if (rc)
            return rc;
    }
    return copy_out(st, p->tplain[st->logits], st->logits, batch, logits, err);
}

const struct sf__nn_backend_ops sf__nn_dnnl_ops = {
    .kind = SF_NN_BACKEND_DNNL,
    .create = dnnl_create,
    .run = dnnl_run,
    .destroy = dnnl_destroy,
};
