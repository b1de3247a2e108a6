/*
 * backend_ref.c - the reference backend: plain C loops over NCHW float32, one buffer per
 * tensor. Slow and obviously correct; the oneDNN backend is checked against it.
 */
#include "nn_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ref_ctx {
    const struct sf_nn_stage *st;
    size_t batch_cap; /* rows every buffer can hold */
    float **buf;      /* per tensor */
};

static int ref_create(const struct sf_nn_stage *st, const struct sf_nn_opts *opts,
                      struct sf__nn_pool *pool, void **out, struct sf_err *err)
{
    (void)opts; /* one thread, no sub-batches: the reference stays simple */
    (void)pool;
    struct ref_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    c->st = st;
    c->buf = calloc((size_t)st->ntensors, sizeof(*c->buf));
    if (!c->buf) {
        free(c);
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    }
    *out = c;
    return SF_OK;
}

static void ref_destroy(void *ctx)
{
    struct ref_ctx *c = ctx;
    if (!c)
        return;
    for (int i = 0; i < c->st->ntensors; i++)
        free(c->buf[i]);
    free(c->buf);
    free(c);
}

static int ref_reserve(struct ref_ctx *c, size_t batch, struct sf_err *err)
{
    if (batch <= c->batch_cap)
        return SF_OK;
    for (int i = 0; i < c->st->ntensors; i++) {
        size_t n = sf_nn_shape_numel(&c->st->tensors[i].shape) * batch;
        float *nb = realloc(c->buf[i], n * sizeof(float));
        if (!nb)
            return sf_err_set(err, SF_ENOMEM, "%s: out of memory for batch %zu", c->st->name,
                              batch);
        c->buf[i] = nb;
    }
    c->batch_cap = batch;
    return SF_OK;
}

/* Smallest o >= 0 with o * stride >= num (num may be negative). */
static int range_lo(int num, int stride)
{
    return num <= 0 ? 0 : (num + stride - 1) / stride;
}

/* Largest o < n with o * stride <= num; -1 when none. */
static int range_hi(int num, int stride, int n)
{
    if (num < 0)
        return -1;
    int o = num / stride;
    return o < n - 1 ? o : n - 1;
}

static void ref_conv(const struct sf__nn_op *op, const struct sf_nn_shape *is,
                     const struct sf_nn_shape *os, const float *in, float *out, size_t batch)
{
    int ih = (int)is->dims[1], iw = (int)is->dims[2];
    int oh = (int)os->dims[1], ow = (int)os->dims[2];
    int cin_g = op->cin / op->group, cout_g = op->cout / op->group;
    size_t in_plane = (size_t)ih * iw, out_plane = (size_t)oh * ow;
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + n * (size_t)op->cin * in_plane;
        for (int co = 0; co < op->cout; co++) {
            float *y = out + (n * (size_t)op->cout + (size_t)co) * out_plane;
            int ci0 = co / cout_g * cin_g; /* the group's first input channel */
            for (size_t p = 0; p < out_plane; p++)
                y[p] = op->bias[co];
            for (int ci = 0; ci < cin_g; ci++) {
                const float *xp = x + (size_t)(ci0 + ci) * in_plane;
                for (int ky = 0; ky < op->kh; ky++) {
                    /* Output rows/columns whose input tap lies inside the image. */
                    int dy = ky * op->dh;
                    int oy0 = range_lo(op->pt - dy, op->sh);
                    int oy1 = range_hi(ih - 1 + op->pt - dy, op->sh, oh);
                    for (int kx = 0; kx < op->kw; kx++) {
                        int dx = kx * op->dw;
                        int ox0 = range_lo(op->pl - dx, op->sw);
                        int ox1 = range_hi(iw - 1 + op->pl - dx, op->sw, ow);
                        float wv = op->w[(((size_t)co * cin_g + ci) * op->kh + ky) * op->kw + kx];
                        for (int oy = oy0; oy <= oy1; oy++) {
                            const float *xr = xp + (size_t)(oy * op->sh - op->pt + dy) * iw;
                            float *yr = y + (size_t)oy * ow;
                            for (int ox = ox0; ox <= ox1; ox++)
                                yr[ox] += wv * xr[ox * op->sw - op->pl + dx];
                        }
                    }
                }
            }
        }
    }
}

static void ref_pool(const struct sf__nn_op *op, const struct sf_nn_shape *is,
                     const struct sf_nn_shape *os, const float *in, float *out, size_t batch)
{
    int ch = (int)is->dims[0], ih = (int)is->dims[1], iw = (int)is->dims[2];
    int oh = (int)os->dims[1], ow = (int)os->dims[2];
    for (size_t n = 0; n < batch; n++) {
        for (int c = 0; c < ch; c++) {
            const float *x = in + (n * (size_t)ch + (size_t)c) * (size_t)ih * iw;
            float *y = out + (n * (size_t)ch + (size_t)c) * (size_t)oh * ow;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    double sum = 0.0;
                    float mx = -FLT_MAX;
                    int count = 0;
                    for (int ky = 0; ky < op->kh; ky++) {
                        int iy = oy * op->sh - op->pt + ky;
                        for (int kx = 0; kx < op->kw; kx++) {
                            int ix = ox * op->sw - op->pl + kx;
                            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                                if (op->count_include_pad)
                                    count++;
                                continue;
                            }
                            float v = x[(size_t)iy * iw + ix];
                            sum += v;
                            mx = v > mx ? v : mx;
                            count++;
                        }
                    }
                    y[(size_t)oy * ow + ox] =
                        op->kind == SF__OP_MAXPOOL ? mx : (float)(count ? sum / count : 0.0);
                }
            }
        }
    }
}

static float clip(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Add or Mul of x and b (a tensor of x's shape) or of x and the op's broadcast constant. */
static void ref_binary(const struct sf__nn_op *op, const struct sf_nn_shape *is, const float *x,
                       const float *b, float *y, size_t batch)
{
    size_t per = sf_nn_shape_numel(is);
    /* Constant index of element (i0, i1, i2) of one request: sum of i_k * cstride[k], the
     * stride 0 along a broadcast axis. */
    size_t dims[SF_NN_MAX_DIMS] = {1, 1, 1}, cstride[SF_NN_MAX_DIMS] = {0, 0, 0};
    size_t st = 1;
    for (int k = is->ndim - 1; k >= 0; k--) {
        int off = SF_NN_MAX_DIMS - is->ndim + k;
        dims[off] = (size_t)is->dims[k];
        if (!b) {
            cstride[off] = op->cst_shape.dims[k] == 1 ? 0 : st;
            st *= (size_t)op->cst_shape.dims[k];
        }
    }
    for (size_t n = 0; n < batch; n++) {
        const float *xr = x + n * per;
        float *yr = y + n * per;
        size_t k = 0;
        for (size_t i0 = 0; i0 < dims[0]; i0++)
            for (size_t i1 = 0; i1 < dims[1]; i1++)
                for (size_t i2 = 0; i2 < dims[2]; i2++, k++) {
                    float v = b ? b[n * per + k]
                                : op->cst[i0 * cstride[0] + i1 * cstride[1] + i2 * cstride[2]];
                    yr[k] = op->kind == SF__OP_MUL ? xr[k] * v : xr[k] + v;
                }
    }
}

static void ref_gemm(const struct sf__nn_op *op, const float *in, float *out, size_t batch)
{
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + n * (size_t)op->cin;
        for (int o = 0; o < op->cout; o++) {
            const float *w = op->w + (size_t)o * op->cin;
            double acc = op->bias[o];
            for (int k = 0; k < op->cin; k++)
                acc += (double)w[k] * x[k];
            out[n * (size_t)op->cout + (size_t)o] = (float)acc;
        }
    }
}

static int ref_run(void *ctx, const float *in, enum sf_nn_layout in_l, size_t batch, float *hidden,
                   enum sf_nn_layout hid_l, float *logits, struct sf_err *err)
{
    struct ref_ctx *c = ctx;
    const struct sf_nn_stage *st = c->st;
    int rc = ref_reserve(c, batch, err);
    if (rc)
        return rc;
    sf_nn_layout_convert(in, in_l, c->buf[st->input], SF_NN_LAYOUT_NCHW,
                         &st->tensors[st->input].shape, batch);
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        const struct sf_nn_shape *is = &st->tensors[op->in0].shape;
        const struct sf_nn_shape *os = &st->tensors[op->out].shape;
        const float *x = c->buf[op->in0];
        float *y = c->buf[op->out];
        size_t in_n = sf_nn_shape_numel(is) * batch;
        size_t out_n = sf_nn_shape_numel(os) * batch;
        switch (op->kind) {
        case SF__OP_CONV:
            ref_conv(op, is, os, x, y, batch);
            if (op->act == SF__ACT_RELU)
                for (size_t k = 0; k < out_n; k++)
                    y[k] = y[k] > 0.0f ? y[k] : 0.0f;
            else if (op->act == SF__ACT_CLIP)
                for (size_t k = 0; k < out_n; k++)
                    y[k] = clip(y[k], op->act_lo, op->act_hi);
            break;
        case SF__OP_RELU:
            for (size_t k = 0; k < out_n; k++)
                y[k] = x[k] > 0.0f ? x[k] : 0.0f;
            break;
        case SF__OP_CLIP:
            for (size_t k = 0; k < out_n; k++)
                y[k] = clip(x[k], op->act_lo, op->act_hi);
            break;
        case SF__OP_MAXPOOL:
        case SF__OP_AVGPOOL:
            ref_pool(op, is, os, x, y, batch);
            break;
        case SF__OP_RESHAPE:
            memcpy(y, x, in_n * sizeof(float));
            break;
        case SF__OP_GEMM:
            ref_gemm(op, x, y, batch);
            break;
        case SF__OP_ADD:
        case SF__OP_MUL:
            ref_binary(op, is, x, op->in1 >= 0 ? c->buf[op->in1] : NULL, y, batch);
            break;
        case SF__OP_PAD: /* folded into the Conv after it by the loader */
            break;
        case SF__OP_SOFTMAX: {
            int k = (int)is->dims[0];
            for (size_t n = 0; n < batch; n++)
                sf_nn_softmax(x + n * (size_t)k, k, y + n * (size_t)k);
            break;
        }
        }
    }
    if (hidden && st->hidden >= 0)
        sf_nn_layout_convert(c->buf[st->hidden], SF_NN_LAYOUT_NCHW, hidden, hid_l,
                             &st->tensors[st->hidden].shape, batch);
    memcpy(logits, c->buf[st->logits],
           batch * sf_nn_shape_numel(&st->tensors[st->logits].shape) * sizeof(float));
    return SF_OK;
}

static enum sf_nn_layout ref_input_layout(const void *ctx)
{
    (void)ctx;
    return SF_NN_LAYOUT_NCHW;
}

static size_t ref_sub_batch(const void *ctx)
{
    (void)ctx;
    return 1;
}

const struct sf__nn_backend_ops sf__nn_ref_ops = {
    .kind = SF_NN_BACKEND_REF,
    .create = ref_create,
    .run = ref_run,
    .input_layout = ref_input_layout,
    .sub_batch = ref_sub_batch,
    .destroy = ref_destroy,
};
