/*
 * layout.c - activation layouts of a batch of [C,H,W] tensors: sizes and plain C conversions
 * (used by the reference backend, the codec where the hidden state leaves the process, and
 * tests). The oneDNN backend converts with its own reorder primitives inside a sub-batch.
 */
#include "nn_internal.h"

#include <string.h>

const char *sf_nn_layout_name(enum sf_nn_layout l)
{
    switch (l) {
    case SF_NN_LAYOUT_NCHW:
        return "nchw";
    case SF_NN_LAYOUT_NHWC:
        return "nhwc";
    case SF_NN_LAYOUT_NCHW8C:
        return "nChw8c";
    case SF_NN_LAYOUT_NCHW16C:
        return "nChw16c";
    }
    return "unknown";
}

/* Channel block of a blocked layout, 0 for the others. */
static size_t block_of(enum sf_nn_layout l)
{
    return l == SF_NN_LAYOUT_NCHW8C ? 8 : l == SF_NN_LAYOUT_NCHW16C ? 16 : 0;
}

size_t sf_nn_layout_numel(enum sf_nn_layout l, const struct sf_nn_shape *s)
{
    size_t blk = block_of(l);
    if (s->ndim != 3 || !blk)
        return sf_nn_shape_numel(s);
    size_t c = (size_t)s->dims[0], hw = (size_t)s->dims[1] * (size_t)s->dims[2];
    return (c + blk - 1) / blk * blk * hw;
}

/* Offset of element (c, p) of one request, p = h * W + w, in layout l. */
static size_t at(enum sf_nn_layout l, size_t c, size_t p, size_t nc, size_t hw)
{
    size_t blk = block_of(l);
    if (l == SF_NN_LAYOUT_NHWC)
        return p * nc + c;
    if (blk)
        return (c / blk * hw + p) * blk + c % blk;
    return c * hw + p;
}

/* One request: blocked (block blk) to or from plain NCHW, channels past nc being padding. */
static void blocked_nchw(const float *a, float *b, size_t nc, size_t hw, size_t blk, int to_plain)
{
    for (size_t c0 = 0; c0 < nc; c0 += blk) {
        size_t cn = nc - c0 < blk ? nc - c0 : blk;
        const float *ab = a + c0 * hw; /* the block: [hw][blk] in blocked, [cn][hw] in plain */
        float *bb = b + c0 * hw;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < cn; c++) {
                if (to_plain)
                    bb[c * hw + p] = ab[p * blk + c];
                else
                    bb[p * blk + c] = ab[c * hw + p];
            }
    }
}

void sf_nn_layout_convert(const float *src, enum sf_nn_layout from, float *dst,
                          enum sf_nn_layout to, const struct sf_nn_shape *s, size_t n)
{
    size_t in_n = sf_nn_layout_numel(from, s), out_n = sf_nn_layout_numel(to, s);
    if (s->ndim != 3 || from == to) {
        memcpy(dst, src, n * in_n * sizeof(float));
        return;
    }
    size_t nc = (size_t)s->dims[0], hw = (size_t)s->dims[1] * (size_t)s->dims[2];
    for (size_t i = 0; i < n; i++) {
        const float *a = src + i * in_n;
        float *b = dst + i * out_n;
        if (out_n > nc * hw) /* padding channels */
            memset(b, 0, out_n * sizeof(float));
        /* The runner's and the codec's cases (blocked <-> plain) without index arithmetic. */
        if (block_of(from) && to == SF_NN_LAYOUT_NCHW)
            blocked_nchw(a, b, nc, hw, block_of(from), 1);
        else if (from == SF_NN_LAYOUT_NCHW && block_of(to))
            blocked_nchw(a, b, nc, hw, block_of(to), 0);
        else
            for (size_t c = 0; c < nc; c++)
                for (size_t p = 0; p < hw; p++)
                    b[at(to, c, p, nc, hw)] = a[at(from, c, p, nc, hw)];
    }
}
