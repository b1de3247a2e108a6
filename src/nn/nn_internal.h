/*
 * nn_internal.h - the stage graph after loading (shared by the loader and the backends).
 *
 * A stage is a list of operators in execution order over SSA tensors: every tensor is written
 * by exactly one operator (or is the stage input) and never modified after. Weights live in
 * the operators (BatchNormalization already folded into Conv, a Relu right after a Conv fused
 * into it; Gemm alpha/beta and MatMul's transposition folded into a [out, in] weight matrix).
 * Shapes are per request.
 */
#ifndef SERFLOW_NN_INTERNAL_H
#define SERFLOW_NN_INTERNAL_H

#include "serflow/nn.h"

enum sf__nn_op_kind {
    SF__OP_CONV,
    SF__OP_RELU,
    SF__OP_MAXPOOL,
    SF__OP_AVGPOOL, /* also GlobalAveragePool: kernel = whole plane */
    SF__OP_RESHAPE, /* Flatten/Reshape: a copy, memory layout unchanged */
    SF__OP_GEMM,    /* y = x W^T + b with W [out, in] */
    SF__OP_ADD,     /* a + b (b a tensor of the same shape) or a + constant */
    SF__OP_SOFTMAX  /* over the last (only) per-request axis */
};

struct sf__nn_tensor {
    char *name;
    struct sf_nn_shape shape;
};

struct sf__nn_op {
    enum sf__nn_op_kind kind;
    char *node_name; /* ONNX node name, for messages */
    int in0, in1;    /* tensor indices; in1 -1 when unused */
    int out;
    /* Conv and pooling geometry: kernel, stride, pads (top, left, bottom, right). */
    int kh, kw, sh, sw, pt, pl, pb, pr;
    int count_include_pad; /* AveragePool */
    int relu;              /* Conv: a following Relu was fused (applied to the output) */
    /* Conv: w [cout, cin, kh, kw], bias [cout]. Gemm: w [nout, nin], bias [nout]. */
    float *w;
    float *bias;
    int cout, cin;
    /* Add with a constant: cst has cst_len floats (1 or the per-request numel). */
    float *cst;
    size_t cst_len;
};

struct sf_nn_stage {
    char *name;
    struct sf__nn_tensor *tensors;
    int ntensors;
    struct sf__nn_op *ops;
    int nops;
    int input;  /* tensor index of the graph input */
    int hidden; /* tensor index of the hidden output, -1 for none */
    int logits; /* tensor index of the logits output */
    struct sf_nn_shape none_shape;
};

/* Backend vtable: a backend is these functions plus its context. */
struct sf__nn_backend_ops {
    enum sf_nn_backend kind;
    int (*create)(const struct sf_nn_stage *st, void **ctx, struct sf_err *err);
    int (*run)(void *ctx, const float *in, size_t batch, float *hidden, float *logits,
               struct sf_err *err);
    void (*destroy)(void *ctx);
};

extern const struct sf__nn_backend_ops sf__nn_ref_ops;
extern const struct sf__nn_backend_ops sf__nn_dnnl_ops;

/* Output spatial size of a window op; -1 when the geometry is impossible. */
int sf__nn_out_dim(int in, int k, int stride, int pad_before, int pad_after);

#endif
