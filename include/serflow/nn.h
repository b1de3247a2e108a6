/*
 * nn.h - early-exit inference: ONNX stage loading, execution backends, the exit rule.
 *
 * A model is a directory with model.json (manifest) and one ONNX graph per stage. Stage k
 * (1-based) takes the image (k = 1) or stage k-1's hidden state and produces its own hidden
 * state (absent for the last stage) and its classifier's logits. Tensors are float32, NCHW,
 * batch dimension first and dynamic; shapes in this API are per request (batch excluded).
 *
 * Backends (reference C, oneDNN) sit behind one interface: struct sf_nn_exec runs one stage.
 * The driver (struct sf_nn_runner) runs a stage range on a struct sf_nn_batch, removes the
 * requests whose classifier confidence (softmax maximum) reaches the threshold tau and compacts
 * the survivors between stages. Nothing here prints or exits; errors fill a struct sf_err.
 * Objects are not thread-safe: use one runner per thread (a runner may itself run a stage on
 * several threads of its own pool, struct sf_nn_opts).
 *
 * Activation layouts (enum sf_nn_layout): the public tensors of sf_nn_exec_run are plain NCHW.
 * Inside a runner the hidden state stays in the layout the next stage's backend wants (oneDNN:
 * its blocked nChw16c), so no conversion happens between stages; it is converted back to NCHW
 * only where it leaves sf_nn_runner_run (a head run's survivors). sf_nn_batch records the
 * layout of b->x; sf_nn_codec_encode converts a blocked one too.
 */
#ifndef SERFLOW_NN_H
#define SERFLOW_NN_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/limits.h" /* SF_NN_MAX_DIMS, _CLASSES, _STAGES, _ONNX_BYTES */

/* Per-request tensor shape (the batch dimension is not included). ndim 0 means "none". */
struct sf_nn_shape {
    int ndim;
    int64_t dims[SF_NN_MAX_DIMS];
};

/* Number of elements of one request's tensor (1 for ndim 0 is NOT returned: 0 instead). */
size_t sf_nn_shape_numel(const struct sf_nn_shape *s);

/* Memory layout of a batch of per-request [C,H,W] tensors (rank 1 and 2 tensors are always
 * plain, whatever the layout says). Requests are outermost in every layout, so request i's
 * values are one contiguous run of sf_nn_layout_numel floats. */
enum sf_nn_layout {
    SF_NN_LAYOUT_NCHW = 0,   /* plain [N][C][H][W] */
    SF_NN_LAYOUT_NHWC = 1,   /* channels last [N][H][W][C] */
    SF_NN_LAYOUT_NCHW8C = 2, /* [N][ceil(C/8)][H][W][8], channels padded with zeros */
    SF_NN_LAYOUT_NCHW16C = 3 /* [N][ceil(C/16)][H][W][16] (oneDNN's nChw16c), zero padded */
};
#define SF_NN_NUM_LAYOUTS 4

/* "nchw" / "nhwc" / "nChw8c" / "nChw16c"; never NULL. */
const char *sf_nn_layout_name(enum sf_nn_layout l);
/* Floats one request's tensor of shape s occupies in layout l (>= sf_nn_shape_numel(s): the
 * blocked layouts pad C up to the block). */
size_t sf_nn_layout_numel(enum sf_nn_layout l, const struct sf_nn_shape *s);
/* Converts n requests of shape s from layout `from` (src) to layout `to` (dst, which must not
 * overlap src); padding channels are written as zeros. */
void sf_nn_layout_convert(const float *src, enum sf_nn_layout from, float *dst,
                          enum sf_nn_layout to, const struct sf_nn_shape *s, size_t n);

enum sf_nn_backend {
    SF_NN_BACKEND_REF = 0, /* plain C loops; the reference for tests */
    SF_NN_BACKEND_DNNL = 1 /* oneDNN primitives, created once per batch size and reused */
};

/* Options of an exec or a runner; all zero (the default) means: threads from OpenMP's setting,
 * Winograd convolutions where the CPU has them, sub-batches sized from the layer shapes and the
 * host's L2 cache. */
struct sf_nn_opts {
    int threads;      /* 0: omp_get_max_threads() when created (then capped at the maximum);
                         1..SF_NN_MAX_THREADS, else SF_EINVAL */
    int conv_direct;  /* 1: direct convolutions only (no Winograd) */
    size_t sub_batch; /* 0: chosen per stage from its layer shapes and the L2 cache size;
                         larger values are capped at 64 */
};
/* Worker threads of one exec or runner: as many as the CLI accepts for profiling. */
#define SF_NN_MAX_THREADS 1024

/* "ref" / "dnnl"; never NULL. */
const char *sf_nn_backend_name(enum sf_nn_backend b);
/* Parses "ref" or "dnnl" (also "onednn"). SF_EINVAL otherwise. */
int sf_nn_backend_parse(const char *name, enum sf_nn_backend *out);

/* ---- one stage ------------------------------------------------------------------------- */

struct sf_nn_stage;

/* Loads and validates one ONNX stage graph from path. BatchNormalization that follows a Conv
 * (and a zero Pad before one) is folded into the Conv's weights, bias and pads, and a Relu or
 * Clip that is the only reader of a Conv's output is fused into the Conv. Supported operators
 * (docs/nn.md has their attributes): Conv (groups, dilation, auto_pad), BatchNormalization
 * (after Conv), Pad (folded), Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Flatten,
 * Reshape, Identity, Dropout, Gemm, MatMul, Add, Mul, Softmax, Constant. Errors: SF_EIO (cannot
 * read), SF_ETOOBIG (> SF_NN_MAX_ONNX_BYTES), SF_EPARSE (not a protobuf ModelProto: truncated,
 * corrupt), SF_EUNSUPPORTED (operator or attribute; the message names the operator and the node),
 * SF_EINVAL (shape mismatch, missing initializer). The message starts with the path. */
int sf_nn_stage_load(const char *path, struct sf_nn_stage **out, struct sf_err *err);
/* Same from memory; name is used in messages (the buffer is not kept). */
int sf_nn_stage_load_mem(const void *buf, size_t len, const char *name, struct sf_nn_stage **out,
                         struct sf_err *err);
void sf_nn_stage_free(struct sf_nn_stage *st);

const struct sf_nn_shape *sf_nn_stage_input_shape(const struct sf_nn_stage *st);
/* ndim 0 when the stage has no hidden output (the last stage). */
const struct sf_nn_shape *sf_nn_stage_hidden_shape(const struct sf_nn_stage *st);
int sf_nn_stage_num_classes(const struct sf_nn_stage *st);
/* Operators left after folding and fusion (BatchNormalization and Relu merged into a Conv are
 * not counted). */
size_t sf_nn_stage_num_ops(const struct sf_nn_stage *st);
/* Floating-point operations per request: 2 x the multiply-adds of every Conv (per group) and
 * Gemm (the usual count; pooling, activations, Add and Mul are not counted). */
double sf_nn_stage_flops(const struct sf_nn_stage *st);

/* ---- executing one stage ------------------------------------------------------------- */

struct sf_nn_exec;

/* Binds a backend to a stage (borrowed: the stage must outlive the exec), default options. */
int sf_nn_exec_new(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                   struct sf_nn_exec **out, struct sf_err *err);
/* Same with options (NULL: defaults). The exec owns a pool of opts->threads - 1 threads that
 * sleep (no spinning) between runs. */
int sf_nn_exec_new_opts(const struct sf_nn_stage *st, enum sf_nn_backend backend,
                        const struct sf_nn_opts *opts, struct sf_nn_exec **out, struct sf_err *err);
/* Runs the stage on batch requests. in: batch x input numel floats. hidden: batch x hidden
 * numel floats (may be NULL, ignored when the stage has none). logits: batch x num_classes.
 * All plain NCHW. The oneDNN backend splits the batch into cache-sized sub-batches spread
 * over its threads; it creates primitives the first time a sub-batch size is seen and keeps
 * them (every size up to the sub-batch size, so every batch size is covered). Not reentrant. */
int sf_nn_exec_run(struct sf_nn_exec *ex, const float *in, size_t batch, float *hidden,
                   float *logits, struct sf_err *err);
/* Same with in given in layout in_l and hidden wanted in layout hidden_l (sized by
 * sf_nn_layout_numel). Every backend takes every layout; the oneDNN one converts inside its
 * cache-sized sub-batches, and none when the layouts are the ones it prefers. */
int sf_nn_exec_run_layout(struct sf_nn_exec *ex, const float *in, enum sf_nn_layout in_l,
                          size_t batch, float *hidden, enum sf_nn_layout hidden_l, float *logits,
                          struct sf_err *err);
/* The layout the exec prefers its input in (NCHW for the reference backend). */
enum sf_nn_layout sf_nn_exec_input_layout(const struct sf_nn_exec *ex);
/* Requests per sub-batch (1 for the reference backend). */
size_t sf_nn_exec_sub_batch(const struct sf_nn_exec *ex);
/* Floating-point operations per request that the backend executes for a batch of `batch`, as
 * the algorithms it chooses for that batch run them (oneDNN: where a chunk size's first runs
 * have timed a convolution's implementations, the one they kept, else its first choice; call it
 * between runs), where sf_nn_stage_flops counts every convolution as a direct one over its
 * zero padding too: a direct convolution counts only the kernel taps inside its input (both
 * backends skip the padding), a Winograd F(m x m, 3 x 3) one the products in the transformed
 * domain ((m + 2)^2 x cin x cout per m x m output tile, 2 FLOPs each; its tile transforms,
 * mostly additions, are not counted), a Gemm as sf_nn_stage_flops. Builds no plan. 0 for
 * batch 0. */
double sf_nn_exec_flops(const struct sf_nn_exec *ex, size_t batch);
void sf_nn_exec_free(struct sf_nn_exec *ex);
enum sf_nn_backend sf_nn_exec_backend(const struct sf_nn_exec *ex);

/* ---- a model: manifest + stages ------------------------------------------------------ */

struct sf_nn_model;

/* Loads dir/model.json and every stage it lists, and checks that the shapes chain: manifest
 * input shape == stage 1 input, stage k hidden == stage k+1 input, every classifier has
 * num_classes outputs. Errors name the file (model.json:line:col for JSON syntax). */
int sf_nn_model_load(const char *dir, struct sf_nn_model **out, struct sf_err *err);
void sf_nn_model_free(struct sf_nn_model *m);

const char *sf_nn_model_name(const struct sf_nn_model *m);
int sf_nn_model_num_stages(const struct sf_nn_model *m);
int sf_nn_model_num_classes(const struct sf_nn_model *m);
/* Stage k, 1-based; NULL when out of range. */
const struct sf_nn_stage *sf_nn_model_stage(const struct sf_nn_model *m, int k);
const struct sf_nn_shape *sf_nn_model_input_shape(const struct sf_nn_model *m);
/* Class name, or NULL when out of range. */
const char *sf_nn_model_label(const struct sf_nn_model *m, int cls);
/* Input normalisation from the manifest: x = (pixel / 255 - mean) / std. */
double sf_nn_model_norm_mean(const struct sf_nn_model *m);
double sf_nn_model_norm_std(const struct sf_nn_model *m);

/* ---- early-exit driver ---------------------------------------------------------------- */

/* Most confident classifier output seen so far for one request. */
struct sf_nn_best {
    int cls;    /* -1 before any classifier ran */
    int stage;  /* 1-based stage of that classifier, 0 before any */
    float conf; /* its softmax maximum */
    float probs[SF_NN_MAX_CLASSES];
};

/* Requests in flight between stages. Caller-owned storage: sf_nn_batch_init / _fini. */
struct sf_nn_batch {
    size_t n;                 /* live requests */
    size_t cap;               /* allocated rows of ids and best */
    size_t x_floats;          /* allocated floats of x */
    int stages_done;          /* stages already run on x (0: x is the model input) */
    int num_classes;          /* length of each best.probs in use */
    struct sf_nn_shape shape; /* per-request shape of x */
    float *x;                 /* n x numel(shape): input of stage stages_done + 1 */
    uint64_t *ids;            /* caller's request ids, carried through */
    struct sf_nn_best *best;  /* per request */
    enum sf_nn_layout layout; /* layout of x: NCHW after reset and after sf_nn_runner_run;
                                 another one only if the caller puts it there */
};

void sf_nn_batch_init(struct sf_nn_batch *b);
void sf_nn_batch_fini(struct sf_nn_batch *b);
/* Makes b hold n requests with per-request shape `shape` and num_classes classes, contents of
 * x/ids/best undefined except best reset to "none"; stages_done set to 0, layout NCHW.
 * Requests are capped at 1 << 20 (SF_ETOOBIG). */
int sf_nn_batch_reset(struct sf_nn_batch *b, size_t n, const struct sf_nn_shape *shape,
                      int num_classes, struct sf_err *err);
/* Convenience: reset for model input and copy n images (n x numel floats) and ids (NULL:
 * ids 0..n-1). */
int sf_nn_batch_set_input(struct sf_nn_batch *b, const struct sf_nn_model *m, const float *x,
                          const uint64_t *ids, size_t n, struct sf_err *err);

/* What the driver returns for one finished request. */
struct sf_nn_result {
    uint64_t id;
    int label;        /* predicted class */
    int exit_stage;   /* 1-based stage after which the request left the network */
    int answer_stage; /* classifier the answer came from (== exit_stage when it cleared tau) */
    int cleared_tau;  /* 1 when some classifier reached tau, 0 when the best one was used */
    float conf;       /* probs[label] */
    float probs[SF_NN_MAX_CLASSES];
};

struct sf_nn_runner;

/* One exec per stage of m (borrowed: m must outlive the runner), default options. */
int sf_nn_runner_new(const struct sf_nn_model *m, enum sf_nn_backend backend,
                     struct sf_nn_runner **out, struct sf_err *err);
/* Same with options (NULL: defaults); the stages share one pool of opts->threads - 1
 * sleeping threads. */
int sf_nn_runner_new_opts(const struct sf_nn_model *m, enum sf_nn_backend backend,
                          const struct sf_nn_opts *opts, struct sf_nn_runner **out,
                          struct sf_err *err);
void sf_nn_runner_free(struct sf_nn_runner *r);
/* The exec for stage k (1-based), e.g. to time it; NULL when out of range. */
struct sf_nn_exec *sf_nn_runner_exec(struct sf_nn_runner *r, int k);

/* Runs stages b->stages_done + 1 .. last_stage (1-based, inclusive) on b. After each stage a
 * request whose classifier confidence (softmax maximum) is >= tau leaves with that answer.
 * At the model's last stage every remaining request leaves; one that never reached tau is
 * answered by its most confident classifier over all stages. Finished requests are appended
 * to out (room for b->n entries needed), *n_out is their count. Survivors stay in b, compacted,
 * with x = hidden state of last_stage in NCHW (b->x may be swapped with the runner's own
 * buffer, so do not keep the pointer), ready for the next call or for sf_nn_codec_encode.
 * Between the stages of one call the state stays in the backends' layout; b->x may be in any
 * layout on entry (b->layout says which).
 * tau > 1 disables early exits. Errors: SF_EINVAL (stage range, shapes), backend errors. */
int sf_nn_runner_run(struct sf_nn_runner *r, struct sf_nn_batch *b, int last_stage, double tau,
                     struct sf_nn_result *out, size_t *n_out, struct sf_err *err);

/* The largest sub-batch sf_nn_runner_warm prepares (its zero batch is this many requests per
 * worker): a bound on the warm-up's memory and time, above any cache-sized sub-batch. */
#define SF_NN_WARM_MAX_SUB 64

/* Prepares the runner for the batch sizes a server meets: runs a zero batch of each chunk size a
 * stage can cut a batch into (its sub-batch and the powers of two below it) through every stage,
 * so that the backend's per-size plans (oneDNN: primitive creation and JIT, 10-100 ms a stage
 * for VGG16) are made at start, in the cold start, not inside the first requests of each size.
 * Best effort for the rows a zero image sends out early. SF_ENOMEM, backend errors. */
int sf_nn_runner_warm(struct sf_nn_runner *r, struct sf_err *err);

/* Numerically stable softmax of n logits into probs; returns the arg max. */
int sf_nn_softmax(const float *logits, int n, float *probs);

#endif
