/*
 * nn_internal.h - the stage graph after loading (shared by the loader and the backends).
 *
 * A stage is a list of operators in execution order over SSA tensors: every tensor is written
 * by exactly one operator (or is the stage input) and never modified after. Weights live in
 * the operators (BatchNormalization and a zero Pad before it already folded into Conv, a Relu
 * or Clip right after a Conv fused into it; Gemm alpha/beta and MatMul's transposition folded into
 * a [out, in] weight matrix). Shapes are per request.
 */
#ifndef SERFLOW_NN_INTERNAL_H
#define SERFLOW_NN_INTERNAL_H

#include "serflow/nn.h"

enum sf__nn_op_kind {
    SF__OP_CONV,
    SF__OP_RELU,
    SF__OP_CLIP, /* min(max(x, act_lo), act_hi): Clip, ReLU6 */
    SF__OP_MAXPOOL,
    SF__OP_AVGPOOL, /* also GlobalAveragePool: kernel = whole plane */
    SF__OP_RESHAPE, /* Flatten/Reshape/Identity/Dropout: a copy, memory layout unchanged */
    SF__OP_GEMM,    /* y = x W^T + b with W [out, in] */
    SF__OP_ADD,     /* a + b (b a tensor of the same shape) or a + broadcast constant */
    SF__OP_MUL,     /* a * b, the same forms as Add */
    SF__OP_SOFTMAX, /* over the last (only) per-request axis */
    SF__OP_PAD      /* zero Pad of H and W: only while loading, folded into the Conv after it */
};

/* Activation applied to a Conv's output (a following Relu or Clip fused into it). */
enum sf__nn_act { SF__ACT_NONE, SF__ACT_RELU, SF__ACT_CLIP };

struct sf__nn_tensor {
    char *name;
    struct sf_nn_shape shape;
};

struct sf__nn_op {
    enum sf__nn_op_kind kind;
    char *node_name; /* ONNX node name, for messages */
    int in0, in1;    /* tensor indices; in1 -1 when unused */
    int out;
    /* Conv and pooling geometry: kernel, stride, pads (top, left, bottom, right); Pad: its
     * pads. Conv also dilation (1 = none) and groups (cin and cout are multiples of it). */
    int kh, kw, sh, sw, pt, pl, pb, pr;
    int dh, dw, group;
    int count_include_pad; /* AveragePool */
    enum sf__nn_act act;   /* Conv: a following Relu or Clip was fused (applied to the output) */
    float act_lo, act_hi;  /* Clip bounds (a Conv's fused Clip, or SF__OP_CLIP) */
    /* Conv: w [cout, cin / group, kh, kw], bias [cout]. Gemm: w [nout, nin], bias [nout]. */
    float *w;
    float *bias;
    int cout, cin;
    /* Add/Mul with a constant: cst has cst_len floats, broadcast over the batch and over the
     * per-request dimensions where cst_shape has 1 (cst_shape has the tensor's rank). */
    float *cst;
    size_t cst_len;
    struct sf_nn_shape cst_shape;
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

/* ---- worker threads (pool.c) ---- */

/* One chunk of a job: called once per chunk index, on worker 0 (the caller) .. threads - 1. */
typedef int (*sf__nn_chunk_fn)(void *arg, size_t chunk, int worker, struct sf_err *err);

struct sf__nn_pool;

/* Starts nthreads - 1 helper threads (1..SF_NN_MAX_THREADS). */
int sf__nn_pool_new(int nthreads, struct sf__nn_pool **out, struct sf_err *err);
void sf__nn_pool_free(struct sf__nn_pool *p);
int sf__nn_pool_threads(const struct sf__nn_pool *p);
/* Runs fn on chunks 0..nchunks-1 spread over the caller and the helpers and returns when all
 * are done; the first failure stops the hand-out of chunks and is returned (its message in
 * err). Not reentrant: one job at a time per pool. */
int sf__nn_pool_run(struct sf__nn_pool *p, size_t nchunks, sf__nn_chunk_fn fn, void *arg,
                    struct sf_err *err);

/* A buffer of `bytes` (at least 64-byte aligned, freed with free()) for the runtime's large
 * arrays: weights, their reordered copies, arenas. From SF__NN_HUGE_BYTES up it is aligned to
 * and rounded up to 2 MiB and advised as transparent huge pages (madvise(MADV_HUGEPAGE), where
 * the host allows THP on request): each first touch then maps 2 MiB instead of 4 KiB. A
 * function container's start (model load, weights reorders, warm-up) took 343 k page faults
 * without it, 5.1 s on a host where a fault costs about 8 us (docs/nn.md). NULL when out of
 * memory or bytes is 0. */
#define SF__NN_HUGE_BYTES ((size_t)2 << 20)
void *sf__nn_alloc_big(size_t bytes);

/* Worker threads for opts: opts->threads (SF_EINVAL outside 0..SF_NN_MAX_THREADS), else
 * omp_get_max_threads() capped at SF_NN_MAX_THREADS. */
int sf__nn_threads_of(const struct sf_nn_opts *opts, int *threads, struct sf_err *err);

/* An exec on a borrowed pool (the runner shares one pool between its stages). */
int sf__nn_exec_new_in(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                       const struct sf_nn_opts *opts, struct sf__nn_pool *pool,
                       struct sf_nn_exec **out, struct sf_err *err);

/* Rows r0 .. r0+n-1 of a stage are done: their logits are in the caller's buffer, their hidden
 * state (n rows in the layout asked for; NULL for a stage without one) at `hidden`, valid only
 * during the call. Called on the worker that ran them, so calls for different rows run
 * concurrently. */
typedef int (*sf__nn_rows_fn)(void *arg, size_t r0, size_t n, const float *hidden,
                              struct sf_err *err);

/* Runs a stage handing each sub-batch's hidden state to done while it is still in cache
 * (the runner copies only the requests that stay); see sf__nn_rows_fn. */
int sf__nn_exec_run_rows(struct sf_nn_exec *ex, const float *in, enum sf_nn_layout in_l,
                         size_t batch, enum sf_nn_layout hid_l, float *logits, sf__nn_rows_fn done,
                         void *arg, struct sf_err *err);

/* Runs a stage like sf_nn_exec_run_layout on the calling thread only, as worker `worker` of
 * the exec's pool (0..threads - 1): from inside a job of that pool, where a nested job would
 * deadlock. SF_EUNSUPPORTED when the backend has no run_local. */
int sf__nn_exec_run_local(struct sf_nn_exec *ex, int worker, const float *in,
                          enum sf_nn_layout in_l, size_t batch, float *hidden,
                          enum sf_nn_layout hid_l, float *logits, struct sf_err *err);
/* Whether the exec's backend has run_local. */
int sf__nn_exec_has_local(const struct sf_nn_exec *ex);
/* Floats of weights a chunk of the exec reads (sf__nn_backend_ops.weight_floats). */
double sf__nn_exec_weight_floats(const struct sf_nn_exec *ex);

/* Backend vtable: a backend is these functions plus its context. run takes the input in
 * layout in_l and writes the hidden state (when hidden is not NULL) in layout hid_l; run_rows
 * (NULL: exec.c runs the whole batch and calls done once) hands it to done per sub-batch. */
struct sf__nn_backend_ops {
    enum sf_nn_backend kind;
    int (*create)(const struct sf_nn_stage *st, const struct sf_nn_opts *opts,
                  struct sf__nn_pool *pool, void **ctx, struct sf_err *err);
    int (*run)(void *ctx, const float *in, enum sf_nn_layout in_l, size_t batch, float *hidden,
               enum sf_nn_layout hid_l, float *logits, struct sf_err *err);
    int (*run_rows)(void *ctx, const float *in, enum sf_nn_layout in_l, size_t batch,
                    enum sf_nn_layout hid_l, float *logits, sf__nn_rows_fn done, void *arg,
                    struct sf_err *err);
    /* run on the calling thread alone, as pool worker `worker` (a job of the runner's pool
     * runs several stages in one chunk); NULL when the backend has no workers. */
    int (*run_local)(void *ctx, int worker, const float *in, enum sf_nn_layout in_l, size_t batch,
                     float *hidden, enum sf_nn_layout hid_l, float *logits, struct sf_err *err);
    enum sf_nn_layout (*input_layout)(const void *ctx);
    size_t (*sub_batch)(const void *ctx);
    /* sf_nn_exec_flops (NULL: every convolution direct). */
    double (*flops)(void *ctx, size_t batch);
    /* Floats of weights one chunk of sub_batch requests reads, in the layouts the first-choice
     * implementations keep them (Winograd's transformed ones are (m + 2)^2 / 9 of the direct);
     * NULL: as the model holds them. */
    double (*weight_floats)(void *ctx);
    void (*destroy)(void *ctx);
};

extern const struct sf__nn_backend_ops sf__nn_ref_ops;
extern const struct sf__nn_backend_ops sf__nn_dnnl_ops;

/* FLOPs per request of op as a direct convolution that skips the taps falling in its zero
 * padding (2 x multiply-adds; a Gemm: 2 x its multiply-adds; other operators 0). */
double sf__nn_op_flops_direct(const struct sf_nn_stage *st, const struct sf__nn_op *op);
/* Floats of op's weights as the model holds them (a Conv's or a Gemm's; other operators 0). */
double sf__nn_op_weight_floats(const struct sf__nn_op *op);
/* FLOPs per request of Conv op as Winograd F(m x m, 3 x 3): 2 x (m + 2)^2 x cin x cout per
 * m x m output tile (tiles cover the output, the last ones partly). */
double sf__nn_op_flops_wino(const struct sf_nn_stage *st, const struct sf__nn_op *op, int m);

/* Output spatial size of a window op; -1 when the geometry is impossible. */
int sf__nn_out_dim(int in, int k, int stride, int pad_before, int pad_after);

#endif
