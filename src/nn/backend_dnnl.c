/*
 * backend_dnnl.c - the oneDNN backend (C API).
 *
 * Sub-batches: a batch is cut into chunks of at most `sub` requests, sized so that one
 * chunk's activations fit in half the host's L2 cache (computed per stage from its layer
 * shapes), and the chunks are spread over the pool's workers. Every layer of a chunk then runs
 * on data still in cache; at batch 100 a layer's activations are 5-10 MB, far over L2.
 *
 * Plans: per worker and per chunk size (sub and the powers of two below it, split_of: every
 * batch size is covered with few plans, and nothing is ever evicted) and per pair of caller
 * layouts, a list of steps (primitive + arguments). Primitives are created single-threaded (the
 * pool sets OpenMP's count to 1) and with a user-managed scratchpad; their memory objects have no
 * buffers of their own: intermediate tensors and the scratchpad live in the worker's arena, and the
 * caller's input, hidden and logits rows are bound with dnnl_memory_set_data_handle for every
 * chunk, so a convolution reads the caller's input and writes the caller's hidden buffer with no
 * copy in between.
 *
 * Algorithms: a convolution's first choice is Winograd (F(4x4,3x3), else F(2x2,3x3): about
 * 4x and 2.25x fewer multiplications) where oneDNN has it for the CPU and shape and the output
 * has enough tiles (conv_choose), else direct. Where Winograd is the first choice for a chunk of
 * one request, its other tile and direct are built too, on the same source and destination,
 * and the step's first runs time them all inside the real pass (exec_step): the fastest is
 * kept, the others destroyed (TUNE_MAX_CHUNK: in larger chunks F(4x4,3x3) won everywhere).
 * Which wins depends on the host and on what the pass keeps in cache (docs/benchmarks.md).
 *
 * Layouts: Winograd works in
 * nChw16c, and the direct fallback is asked for the layout the hidden state is wanted in, so
 * the blocked layout runs end to end: pooling runs in its input's layout, and the hidden state
 * leaves in the layout the next stage prefers (sf_nn_exec_input_layout). The only reorders are
 * a classifier's pooled features to plain before Flatten (a few hundred floats per request; an
 * inner product reading the blocked 4-D tensor directly measured 10x slower: oneDNN falls
 * back to its gemm path) and where a caller's layout differs. Reordered weights are shared by
 * all plans.
 */
#include "nn_internal.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* Arguments of one primitive execution: src(s), weights, bias, dst, scratchpad. */
#define MAX_ARGS 6
/* Largest sub-batch: past a few dozen requests every layer's activations are out of cache. */
#define MAX_SUB 64
/* Share of L2 given to one sub-batch's activations (1/L2_SHARE); the rest holds weights,
 * Winograd's transformed tiles and the next layer's window. */
#define L2_SHARE 2
/* L2 size assumed when the host does not tell (sysconf and sysfs both silent). */
#define L2_FALLBACK_BYTES ((size_t)1 << 20)
/* Winograd only when input and output channels fill a 16-float register: with one input
 * channel (the image) its tile transforms cost 5-7x the direct convolution (measured). */
#define WINO_MIN_CHANNELS 16
/* Winograd only when the output is at least WINO_TILE x WINO_TILE (F(4x4,3x3)'s output tile:
 * a smaller output saves no multiplication), and when an image has WINO_IMAGE_TILES tiles or a
 * chunk of images WINO_CHUNK_TILES. Its transformed weights are 4x the direct ones (6x6
 * products per 3x3 kernel), read once per chunk: with one tile per image and a chunk of one or
 * two images they are read for too little work. On VGG16-SDN's 512-channel layers at 4x4
 * Winograd ran about 2x slower than direct at batch 1, at 2x2 slower at every batch size, and
 * its weights made most of a function instance's start (docs/benchmarks.md). */
#define WINO_TILE        4
#define WINO_IMAGE_TILES 4
#define WINO_CHUNK_TILES 8
/* Bytes after an arena's last region: oneDNN's AVX2 kernels read a vector (32 bytes) past the
 * end of the scratchpad they are given (seen under valgrind); the values read are not used. */
#define ARENA_TAIL 4096
/* Arena regions start on cache lines (and oneDNN's preferred 64-byte alignment). */
#define ALIGN 64
/* Where a plan puts the hidden state ("hid" below): 0..NUM_LAYOUTS-1 the caller's buffer in
 * that layout, NO_HIDDEN nowhere, ARENA_HIDDEN + l the worker's arena in layout l (for a
 * run_chunked caller, which takes the rows it keeps from there while they are in cache). */
#define NO_HIDDEN    SF_NN_NUM_LAYOUTS
#define ARENA_HIDDEN (SF_NN_NUM_LAYOUTS + 1)
#define HID_MODES    (2 * SF_NN_NUM_LAYOUTS + 1)
/* Plan slots per chunk size: caller input layout x hidden mode. */
#define SLOTS (SF_NN_NUM_LAYOUTS * HID_MODES)

/* Stack offsets a convolution is tried at, in 16-byte steps below a 64-byte-aligned frame (all
 * four residues mod 64), and rounds of trials of each before the fastest is kept. oneDNN's
 * F(4x4,3x3) Winograd keeps its tile transforms in stack arrays that it reads and writes with
 * 64-byte vector moves; their alignment follows the caller's stack pointer, and at the wrong
 * residue every move splits a cache line: the same convolution ran 1.1-1.35x slower
 * (docs/benchmarks.md). */
#define STACK_PADS        4
#define STACK_TUNE_ROUNDS 3
/* Implementations of a convolution timed besides the first: Winograd's other tile and direct.
 * Which is fastest depends on the host and on what else the pass keeps in cache: on a 2-core
 * Intel Xeon at batch 1, F(4x4,3x3) ran the bundled model's 7x7 layers 2x slower inside a whole
 * pass than alone (its transformed weights, 4x the direct ones, no longer stay in L2), where
 * direct lost only 10 %; on an AMD EPYC it won everywhere (docs/benchmarks.md). */
#define MAX_ALTS 2
/* Largest chunk whose convolutions time alternatives. Winograd's transformed weights are read
 * once per chunk, so its cost against direct falls with the chunk: in chunks of 2 to 16 the
 * runs kept F(4x4,3x3) on every layer of both bundled models, by 1.1-2.4x (batch 100, one
 * thread), in chunks of one F(2x2,3x3) or direct on some; and trials of slower candidates in
 * larger chunks only cost time (the live demo's calibration measured them: 1.28x instead of
 * 1.03-1.20x the profile). */
#define TUNE_MAX_CHUNK 1

/* Where a Winograd convolution's output starts past a cache line in the arena. oneDNN's
 * F(4x4,3x3) kernel writes a 64-byte-aligned destination with non-temporal stores, which
 * bypass the caches: the pooling or classifier that reads it next then waits for memory. At
 * any other alignment it stores normally and the output stays in L2 (docs/benchmarks.md). */
#define WINO_DST_SKEW 16

/* Where a memory object's buffer is at run time. */
enum bind_kind {
    B_FIXED,   /* given at build time (bias, constants): never rebound */
    B_ARENA,   /* worker arena + offset */
    B_SCRATCH, /* worker arena, the scratchpad region */
    B_IN,      /* caller's input rows of this chunk */
    B_HID,     /* caller's hidden rows */
    B_LOG      /* caller's logits rows */
};

struct bind {
    dnnl_memory_t mem;
    enum bind_kind kind;
    size_t bytes; /* B_ARENA: size */
    size_t off;   /* B_ARENA: offset in the arena, set when the plan is finished */
    int alias;    /* >= 0: same buffer as bind[alias] (a Reshape) */
    size_t skew;  /* B_ARENA: bytes past a cache line the buffer starts at (WINO_DST_SKEW) */
};

/* One implementation of a step: the primitive and its arguments (a convolution's candidates
 * differ in weights layout and scratchpad; source, bias and destination are the same). */
struct impl {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
};

struct step {
    struct impl run; /* what runs: candidate 0 until the step is tuned, then the fastest */
    /* Other implementations of a convolution (Winograd's other tile, direct), timed against
     * run on the host in the real pass: see exec_step. */
    struct impl alt[MAX_ALTS];
    int nalt;
    int op;  /* the stage's op this step runs, or -1 (a reorder) */
    int alg; /* run's algorithm: 0 direct, else the Winograd output tile (2 or 4) */
    int alt_alg[MAX_ALTS];
    /* Candidate and stack offset the primitive runs at (see exec_at), chosen by timing the
     * first (1 + nalt) * STACK_PADS * STACK_TUNE_ROUNDS runs (trials counts them; best_s is
     * each candidate's and pad's fastest). */
    int tuned, trials, pad;
    double best_s[1 + MAX_ALTS][STACK_PADS];
};

struct plan {
    size_t n;
    struct step *steps;
    int nsteps, capsteps;
    struct bind *binds;
    int nbinds, capbinds;
    size_t scratch_off, scratch_bytes, arena_bytes;
    int hid_bind;            /* ARENA_HIDDEN modes: the bind holding the hidden state */
    unsigned long arena_gen; /* worker arena generation the arena binds point into */
};

struct worker {
    dnnl_stream_t stream;
    unsigned char *arena;
    size_t arena_bytes;
    unsigned long gen;   /* bumped when the arena moves */
    struct plan **plans; /* [(n - 1) * SLOTS + in_l * HID_MODES + hid] */
};

/* Weights moved once into the layout a primitive wants, shared by every plan and worker. */
struct wcache {
    const float *w;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    void *buf;
};

struct dnnl_ctx {
    const struct sf_nn_stage *st;
    dnnl_engine_t eng;
    struct sf__nn_pool *pool;
    int nthreads;
    int direct_only;
    size_t sub;
    enum sf_nn_layout in_pref;
    struct worker *w;
    pthread_mutex_t wmu; /* guards wc and wscratch: workers build plans concurrently */
    struct wcache *wc;
    int nwc, capwc;
    /* the weights reorders' scratchpad while a plan is built, kept from one layer to the next:
     * a reorder into Winograd's layout transforms through a buffer of several times the
     * weights, which oneDNN would otherwise allocate and fault in afresh for every layer */
    void *wscratch;
    size_t wscratch_bytes;
};

/* Builder state for one plan. */
struct bld {
    struct dnnl_ctx *c;
    struct plan *p;
    struct worker *wk;
    enum sf_nn_layout in_l;
    int hid_l; /* layout the hidden state is wanted in, or NO_HIDDEN */
    int hid;   /* the plan's hidden mode */
    const struct sf__nn_op *op;
    dnnl_memory_t *tmem;   /* per tensor: the memory holding it (any layout) */
    dnnl_memory_t *tplain; /* per tensor: a plain-layout copy or tmem, on demand */
    int *reshape_of;       /* per tensor: the Reshape source not yet materialised, or -1 */
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

/* oneDNN format tag of layout l for a tensor of rank ndim + 1 (batch first). */
static dnnl_format_tag_t tag_of(int ndim, int l)
{
    static const dnnl_format_tag_t plain[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
    if (ndim != 3)
        return plain[ndim];
    switch (l) {
    case SF_NN_LAYOUT_NHWC:
        return dnnl_acdb;
    case SF_NN_LAYOUT_NCHW8C:
        return dnnl_aBcd8b;
    case SF_NN_LAYOUT_NCHW16C:
        return dnnl_aBcd16b;
    default:
        return dnnl_abcd;
    }
}

/* md for n requests of shape s in layout l, or "any" (l < 0). */
static void shape_md(dnnl_memory_desc_t *md, const struct sf_nn_shape *s, size_t n, int l)
{
    dnnl_dims_t d;
    d[0] = (dnnl_dim_t)n;
    for (int i = 0; i < s->ndim; i++)
        d[i + 1] = s->dims[i];
    dnnl_memory_desc_init_by_tag(md, s->ndim + 1, d, dnnl_f32,
                                 l < 0 ? dnnl_format_tag_any : tag_of(s->ndim, l));
}

static const dnnl_memory_desc_t *md_of(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_get_memory_desc(m, &md);
    return md;
}

/* Our layout equal to md, or -1. */
static int layout_of(const dnnl_memory_desc_t *md, const struct sf_nn_shape *s, size_t n)
{
    for (int l = 0; l < SF_NN_NUM_LAYOUTS; l++) {
        dnnl_memory_desc_t t;
        shape_md(&t, s, n, l);
        if (dnnl_memory_desc_equal(&t, md))
            return l;
    }
    return -1;
}

static void plan_free(struct plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nsteps; i++) {
        dnnl_primitive_destroy(p->steps[i].run.prim);
        for (int k = 0; k < p->steps[i].nalt; k++)
            dnnl_primitive_destroy(p->steps[i].alt[k].prim);
    }
    for (int i = 0; i < p->nbinds; i++)
        dnnl_memory_destroy(p->binds[i].mem);
    free(p->steps);
    free(p->binds);
    free(p);
}

static int push_bind(struct bld *b, dnnl_memory_t m, enum bind_kind kind, size_t bytes, int alias)
{
    struct plan *p = b->p;
    if (p->nbinds == p->capbinds) {
        int ncap = p->capbinds ? p->capbinds * 2 : 32;
        struct bind *nb = realloc(p->binds, (size_t)ncap * sizeof(*nb));
        if (!nb) {
            dnnl_memory_destroy(m);
            return sf_err_set(b->err, SF_ENOMEM, "%s: out of memory", b->c->st->name);
        }
        p->binds = nb;
        p->capbinds = ncap;
    }
    p->binds[p->nbinds++] =
        (struct bind){.mem = m, .kind = kind, .bytes = bytes, .alias = alias, .skew = 0};
    return SF_OK;
}

/* A memory object of descriptor md whose buffer is bound later (kind) or is `fixed`. */
static int new_mem(struct bld *b, const dnnl_memory_desc_t *md, enum bind_kind kind, void *fixed,
                   dnnl_memory_t *out)
{
    dnnl_status_t s =
        dnnl_memory_create(out, md, b->c->eng, kind == B_FIXED ? fixed : DNNL_MEMORY_NONE);
    if (s != dnnl_success)
        return fail_dnnl(b, "memory_create", s);
    return push_bind(b, *out, kind, dnnl_memory_desc_get_size(md), -1);
}

static int bind_index(const struct plan *p, dnnl_memory_t m)
{
    for (int i = 0; i < p->nbinds; i++)
        if (p->binds[i].mem == m)
            return i;
    return -1;
}

/* A second descriptor over the buffer of src (Reshape/Flatten of a plain tensor). */
static int new_alias(struct bld *b, const dnnl_memory_desc_t *md, dnnl_memory_t src,
                     dnnl_memory_t *out)
{
    int src_i = bind_index(b->p, src);
    if (src_i < 0)
        return sf_err_set(b->err, SF_EINVAL, "%s: alias of an unknown buffer", b->c->st->name);
    while (b->p->binds[src_i].alias >= 0)
        src_i = b->p->binds[src_i].alias;
    dnnl_status_t s = dnnl_memory_create(out, md, b->c->eng, DNNL_MEMORY_NONE);
    if (s != dnnl_success)
        return fail_dnnl(b, "memory_create", s);
    return push_bind(b, *out, b->p->binds[src_i].kind, 0, src_i);
}

/* Every primitive gets a user-managed scratchpad: the worker's arena holds it. */
static int new_attr(struct bld *b, int relu, dnnl_primitive_attr_t *attr)
{
    TRY(dnnl_primitive_attr_create(attr), "attr");
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && relu) {
        dnnl_post_ops_t po = NULL;
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(*attr, po);
        if (po)
            dnnl_post_ops_destroy(po);
    }
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        return fail_dnnl(b, "attr", s);
    }
    return SF_OK;
}

/* Implementation im of pd (borrowed) with args, plus its scratchpad. */
static int make_impl(struct bld *b, dnnl_primitive_desc_t pd, int nargs,
                     const dnnl_exec_arg_t *args, struct impl *im)
{
    struct plan *p = b->p;
    memcpy(im->args, args, (size_t)nargs * sizeof(*args));
    im->nargs = nargs;
    im->prim = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes) {
        dnnl_memory_t sm;
        int rc = new_mem(b, smd, B_SCRATCH, NULL, &sm);
        if (rc)
            return rc;
        im->args[im->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, sm};
        if (sbytes > p->scratch_bytes)
            p->scratch_bytes = sbytes;
    }
    TRY(dnnl_primitive_create(&im->prim, pd), "primitive_create");
    return SF_OK;
}

/* Appends a step running pd (borrowed) with args, plus its scratchpad. */
static int add_step(struct bld *b, dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args)
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
    struct step *st = &p->steps[p->nsteps];
    memset(st, 0, sizeof(*st));
    st->op = -1;
    int rc = make_impl(b, pd, nargs, args, &st->run);
    if (rc)
        return rc;
    dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
    dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind);
    /* Only convolutions are worth timing (the rest run for a few microseconds). */
    st->tuned = kind != dnnl_convolution;
    for (int k = 0; k <= MAX_ALTS; k++)
        for (int i = 0; i < STACK_PADS; i++)
            st->best_s[k][i] = 1e30;
    p->nsteps++;
    return SF_OK;
}

/* Creates pd from an op descriptor (scratchpad user, optional fused ReLU) and adds the step. */
static int add_desc_step(struct bld *b, const_dnnl_op_desc_t desc, int nargs,
                         const dnnl_exec_arg_t *args)
{
    dnnl_primitive_attr_t attr;
    int rc = new_attr(b, 0, &attr);
    if (rc)
        return rc;
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, desc, attr, b->c->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return fail_dnnl(b, "primitive_desc_create", s);
    rc = add_step(b, pd, nargs, args);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* A step reordering src into `dst` (when given) or a new arena memory of layout md. */
static int add_reorder(struct bld *b, dnnl_memory_t src, const dnnl_memory_desc_t *md,
                       dnnl_memory_t dst, dnnl_memory_t *out)
{
    dnnl_primitive_attr_t attr;
    int rc = new_attr(b, 0, &attr);
    if (rc)
        return rc;
    dnnl_primitive_desc_t pd;
    dnnl_status_t s =
        dnnl_reorder_primitive_desc_create(&pd, md_of(src), b->c->eng, md, b->c->eng, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return fail_dnnl(b, "reorder", s);
    *out = dst;
    rc = dst ? SF_OK : new_mem(b, md, B_ARENA, NULL, out);
    if (!rc) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, *out}};
        rc = add_step(b, pd, 2, args);
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

static int get_mem(struct bld *b, int t, dnnl_memory_t *out);

/* Tensor t in plain layout (reordered once, on first need). */
static int plain_of(struct bld *b, int t, dnnl_memory_t *out)
{
    if (!b->tplain[t]) {
        dnnl_memory_t m;
        int rc = get_mem(b, t, &m);
        if (rc)
            return rc;
        dnnl_memory_desc_t md;
        shape_md(&md, &b->c->st->tensors[t].shape, b->p->n, SF_NN_LAYOUT_NCHW);
        if (dnnl_memory_desc_equal(&md, md_of(m)))
            b->tplain[t] = m;
        else if ((rc = add_reorder(b, m, &md, NULL, &b->tplain[t])))
            return rc;
    }
    *out = b->tplain[t];
    return SF_OK;
}

/* The memory holding tensor t; a pending Reshape becomes an alias of its plain source. */
static int get_mem(struct bld *b, int t, dnnl_memory_t *out)
{
    if (!b->tmem[t] && b->reshape_of[t] >= 0) {
        dnnl_memory_t src;
        int rc = plain_of(b, b->reshape_of[t], &src);
        if (rc)
            return rc;
        dnnl_memory_desc_t md;
        shape_md(&md, &b->c->st->tensors[t].shape, b->p->n, SF_NN_LAYOUT_NCHW);
        if ((rc = new_alias(b, &md, src, &b->tmem[t])))
            return rc;
    }
    if (!b->tmem[t])
        return sf_err_set(b->err, SF_EINVAL, "%s: tensor '%s' read before it is written",
                          b->c->st->name, b->c->st->tensors[t].name);
    *out = b->tmem[t];
    return SF_OK;
}

/* Tensor t in layout md (a convolution's source). */
static int in_layout(struct bld *b, int t, const dnnl_memory_desc_t *md, dnnl_memory_t *out)
{
    dnnl_memory_t m;
    int rc = get_mem(b, t, &m);
    if (rc)
        return rc;
    if (dnnl_memory_desc_equal(md, md_of(m))) {
        *out = m;
        return SF_OK;
    }
    if (b->tplain[t] && dnnl_memory_desc_equal(md, md_of(b->tplain[t]))) {
        *out = b->tplain[t];
        return SF_OK;
    }
    return add_reorder(b, m, md, NULL, out);
}

/* Weights given plain (w, layout tag) in the layout `want`, from the shared cache. */
static int weights_mem(struct bld *b, const dnnl_memory_desc_t *want, int ndims,
                       const dnnl_dims_t dims, dnnl_format_tag_t tag, const float *w,
                       dnnl_memory_t *out)
{
    struct dnnl_ctx *c = b->c;
    int rc = SF_OK;
    pthread_mutex_lock(&c->wmu);
    for (int i = 0; i < c->nwc; i++)
        if (c->wc[i].w == w && dnnl_memory_desc_equal(&c->wc[i].md, want)) {
            *out = c->wc[i].mem;
            goto out;
        }
    if (c->nwc == c->capwc) {
        int ncap = c->capwc ? c->capwc * 2 : 16;
        struct wcache *nw = realloc(c->wc, (size_t)ncap * sizeof(*nw));
        if (!nw) {
            rc = sf_err_set(b->err, SF_ENOMEM, "%s: out of memory", c->st->name);
            goto out;
        }
        c->wc = nw;
        c->capwc = ncap;
    }
    struct wcache *e = &c->wc[c->nwc];
    memset(e, 0, sizeof(*e));
    e->w = w;
    e->md = *want;
    dnnl_memory_desc_t plain;
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&plain, ndims, dims, dnnl_f32, tag);
    if (s == dnnl_success)
        s = dnnl_memory_create(&src, &plain, c->eng, (void *)w);
    if (s == dnnl_success && dnnl_memory_desc_equal(&plain, want)) {
        e->mem = src; /* the stage's own array, no copy */
        src = NULL;
    } else if (s == dnnl_success) {
        size_t bytes = dnnl_memory_desc_get_size(want);
        e->buf = sf__nn_alloc_big(bytes);
        if (!e->buf) {
            dnnl_memory_destroy(src);
            rc = sf_err_set(b->err, SF_ENOMEM, "%s: out of memory", c->st->name);
            goto out;
        }
        s = dnnl_memory_create(&e->mem, want, c->eng, e->buf);
        dnnl_primitive_attr_t attr = NULL;
        if (s == dnnl_success)
            s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
        if (s == dnnl_success)
            s = dnnl_reorder_primitive_desc_create(&pd, &plain, c->eng, want, c->eng, attr);
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        if (s == dnnl_success)
            s = dnnl_primitive_create(&prim, pd);
        dnnl_memory_t pad = NULL;
        const dnnl_memory_desc_t *pad_md =
            s == dnnl_success ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)
                              : NULL;
        size_t pad_bytes = pad_md ? dnnl_memory_desc_get_size(pad_md) : 0;
        if (pad_bytes > c->wscratch_bytes) {
            free(c->wscratch);
            c->wscratch = sf__nn_alloc_big(pad_bytes);
            c->wscratch_bytes = c->wscratch ? pad_bytes : 0;
            if (!c->wscratch)
                s = dnnl_out_of_memory;
        }
        if (s == dnnl_success && pad_bytes > 0)
            s = dnnl_memory_create(&pad, pad_md, c->eng, c->wscratch);
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, e->mem}, {DNNL_ARG_SCRATCHPAD, pad}};
        if (s == dnnl_success)
            s = dnnl_primitive_execute(prim, b->wk->stream, pad ? 3 : 2, args);
        if (s == dnnl_success)
            s = dnnl_stream_wait(b->wk->stream);
        if (pad)
            dnnl_memory_destroy(pad);
    }
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    if (s != dnnl_success) {
        if (e->mem)
            dnnl_memory_destroy(e->mem);
        free(e->buf);
        rc = fail_dnnl(b, "weights reorder", s);
        goto out;
    }
    c->nwc++;
    *out = e->mem;
out:
    pthread_mutex_unlock(&c->wmu);
    return rc;
}

/* The shared tail of convolution and inner product: weights in the primitive's layout, bias,
 * destination, the step (src, weights, bias, dst). Takes ownership of pd and destroys it; rc is
 * the caller's status so far (nothing more is built when it is an error). */
static int add_weighted_step(struct bld *b, const struct sf__nn_op *op, dnnl_primitive_desc_t pd,
                             int rc, dnnl_memory_t s_mem, int w_ndims, const dnnl_dims_t wd,
                             dnnl_format_tag_t w_tag, const dnnl_memory_desc_t *bmd,
                             const dnnl_memory_desc_t *dst_md)
{
    dnnl_memory_t w_mem = NULL, b_mem = NULL;
    if (!rc)
        rc = weights_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), w_ndims, wd,
                         w_tag, op->w, &w_mem);
    if (!rc)
        rc = new_mem(b, bmd, B_FIXED, op->bias, &b_mem);
    if (!rc)
        rc = new_mem(b, dst_md, B_ARENA, NULL, &b->tmem[op->out]);
    if (!rc) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, s_mem},
                                   {DNNL_ARG_WEIGHTS, w_mem},
                                   {DNNL_ARG_BIAS, b_mem},
                                   {DNNL_ARG_DST, b->tmem[op->out]}};
        rc = add_step(b, pd, 4, args);
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* Weights dims of a convolution: [cout, cin, kh, kw], or [group, cout/g, cin/g, kh, kw] with
 * groups (the same plain memory: goihw). Returns the rank. */
static int conv_wdims(const struct sf__nn_op *op, dnnl_dims_t wd, dnnl_format_tag_t *tag)
{
    if (op->group == 1) {
        wd[0] = op->cout;
        wd[1] = op->cin;
        wd[2] = op->kh;
        wd[3] = op->kw;
        *tag = dnnl_oihw;
        return 4;
    }
    wd[0] = op->group;
    wd[1] = op->cout / op->group;
    wd[2] = op->cin / op->group;
    wd[3] = op->kh;
    wd[4] = op->kw;
    *tag = dnnl_goihw;
    return 5;
}

/* The implementation of d whose name contains `want` (F(4x4,3x3) is "wino_4x3", F(2x2,3x3)
 * "wino_2x3"), or with any_else the first one oneDNN lists when none does; NULL when there is
 * none. oneDNN lists F(2x2,3x3) first at batch 1, where F(4x4,3x3) measured 1.1-1.6x faster on
 * every layer of the bundled model alone (docs/benchmarks.md): the first choice asks for it. */
static dnnl_primitive_desc_t named_pd(const struct dnnl_ctx *c, const dnnl_convolution_desc_t *d,
                                      const_dnnl_primitive_attr_t attr, const char *want,
                                      int any_else)
{
    dnnl_primitive_desc_iterator_t it = NULL;
    if (dnnl_primitive_desc_iterator_create(&it, d, attr, c->eng, NULL) != dnnl_success)
        return NULL;
    dnnl_primitive_desc_t first = NULL, pd = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        if (!cand)
            break;
        const char *name = NULL;
        if (dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &name) == dnnl_success &&
            name && strstr(name, want)) {
            pd = cand;
            break;
        }
        if (!first && any_else)
            first = cand;
        else
            dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (pd) {
        if (first)
            dnnl_primitive_desc_destroy(first);
        return pd;
    }
    return first;
}

/* Winograd tile of pd's implementation (2 or 4), or 0 when it is not Winograd. */
static int wino_tile(const_dnnl_primitive_desc_t pd)
{
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success ||
        !name || !strstr(name, "wino"))
        return 0;
    return strstr(name, "2x3") ? 2 : 4; /* unknown tiles: the larger, fewer FLOPs */
}

/* A convolution primitive descriptor for op at batch n with algorithm alg and destination
 * layout dst_l (-1: oneDNN's choice), or source and destination as `like`'s (when given);
 * Winograd's the F(4x4,3x3) one, else the first, or with `like` the tile `tile` only. NULL when
 * oneDNN has no implementation. */
static dnnl_primitive_desc_t conv_pd(const struct dnnl_ctx *c, const struct sf__nn_op *op, size_t n,
                                     dnnl_alg_kind_t alg, int dst_l,
                                     const_dnnl_primitive_desc_t like, int tile)
{
    const struct sf_nn_stage *st = c->st;
    dnnl_memory_desc_t src, dst, wmd, bmd;
    shape_md(&src, &st->tensors[op->in0].shape, n, -1);
    shape_md(&dst, &st->tensors[op->out].shape, n, dst_l);
    if (like) {
        src = *dnnl_primitive_desc_query_md(like, dnnl_query_src_md, 0);
        dst = *dnnl_primitive_desc_query_md(like, dnnl_query_dst_md, 0);
    }
    dnnl_dims_t wd, bd = {op->cout};
    dnnl_format_tag_t wtag;
    int wn = conv_wdims(op, wd, &wtag);
    dnnl_memory_desc_init_by_tag(&wmd, wn, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    dnnl_dims_t strides = {op->sh, op->sw}, pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
    dnnl_dims_t dil = {op->dh - 1, op->dw - 1}; /* oneDNN counts dilation from 0 */
    dnnl_convolution_desc_t d;
    if (dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference, alg, &src, &wmd,
                                                   &bmd, &dst, strides, dil, pl,
                                                   pr) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return NULL;
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_post_ops_t po = NULL;
    if (s == dnnl_success && op->act != SF__ACT_NONE) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success && op->act == SF__ACT_RELU)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        else if (s == dnnl_success)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, op->act_lo, op->act_hi);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success && alg == dnnl_convolution_winograd)
        pd = named_pd(c, &d, attr, tile == 2 ? "wino_2x3" : "wino_4x3", !like);
    else if (s == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &d, attr, c->eng, NULL) != dnnl_success)
        pd = NULL;
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

/* F(4x4,3x3) output tiles of one request of op's output (0 when it is not an image). */
static int64_t wino_tiles(const struct sf_nn_stage *st, const struct sf__nn_op *op)
{
    const struct sf_nn_shape *os = &st->tensors[op->out].shape;
    int64_t oh = os->ndim == 3 ? os->dims[1] : 0, ow = os->ndim == 3 ? os->dims[2] : 0;
    if (oh < WINO_TILE || ow < WINO_TILE)
        return 0;
    return ((oh + WINO_TILE - 1) / WINO_TILE) * ((ow + WINO_TILE - 1) / WINO_TILE);
}

/* Whether Winograd is tried first for op in chunks of n (WINO_TILE above): a plain 3x3-style
 * convolution (one group, no dilation) with enough channels and output tiles per image or per
 * chunk. */
static int wino_rule(int direct_only, const struct sf_nn_stage *st, const struct sf__nn_op *op,
                     size_t n)
{
    int64_t tiles = wino_tiles(st, op);
    return !direct_only && op->cin >= WINO_MIN_CHANNELS && op->cout >= WINO_MIN_CHANNELS &&
           op->group == 1 && op->dh == 1 && op->dw == 1 && tiles > 0 &&
           (tiles >= WINO_IMAGE_TILES || (double)tiles * (double)n >= WINO_CHUNK_TILES);
}

/* The convolution implementation for op in chunks of n: Winograd first (unless direct_only,
 * and where wino_rule allows), then direct; each with the wanted destination layout first
 * (want_l >= 0), then oneDNN's choice. */
static dnnl_primitive_desc_t conv_choose(const struct dnnl_ctx *c, const struct sf__nn_op *op,
                                         size_t n, int want_l)
{
    const dnnl_alg_kind_t algs[] = {dnnl_convolution_winograd, dnnl_convolution_direct};
    int wino = wino_rule(c->direct_only, c->st, op, n);
    for (size_t a = wino ? 0 : 1; a < 2; a++)
        for (int k = want_l >= 0 ? 0 : 1; k < 2; k++) {
            dnnl_primitive_desc_t pd = conv_pd(c, op, n, algs[a], k == 0 ? want_l : -1, NULL, 0);
            if (pd)
                return pd;
        }
    return NULL;
}

static int build_conv(struct bld *b, const struct sf__nn_op *op)
{
    /* The hidden state straight in a wanted blocked layout (oneDNN's direct JIT kernels work
     * in them); a plain one is not asked for: oneDNN would fall back to im2col + gemm, far
     * slower than its blocked kernel and a reorder. */
    int want = op->out == b->c->st->hidden &&
                       (b->hid_l == SF_NN_LAYOUT_NCHW8C || b->hid_l == SF_NN_LAYOUT_NCHW16C)
                   ? b->hid_l
                   : -1;
    dnnl_primitive_desc_t pd = conv_choose(b->c, op, b->p->n, want);
    if (!pd)
        return fail_dnnl(b, "convolution", dnnl_unimplemented);
    /* Where Winograd is the first choice, its other tile and direct are timed against it
     * (exec_step), on the same source and destination. */
    int tile = wino_tile(pd), nalt = 0, alt_alg[MAX_ALTS];
    dnnl_primitive_desc_t alt[MAX_ALTS];
    if (tile && b->p->n <= TUNE_MAX_CHUNK) {
        alt[nalt] = conv_pd(b->c, op, b->p->n, dnnl_convolution_winograd, -1, pd, 6 - tile);
        if (alt[nalt])
            alt_alg[nalt++] = 6 - tile;
        alt[nalt] = conv_pd(b->c, op, b->p->n, dnnl_convolution_direct, -1, pd, 0);
        if (alt[nalt])
            alt_alg[nalt++] = 0;
    }
    dnnl_memory_desc_t bmd;
    dnnl_dims_t wd, bd = {op->cout};
    dnnl_format_tag_t wtag;
    int wn = conv_wdims(op, wd, &wtag);
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    dnnl_memory_t s_mem;
    int rc = in_layout(b, op->in0, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &s_mem);
    rc = add_weighted_step(b, op, pd, rc, s_mem, wn, wd, wtag, &bmd,
                           dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    struct step *st = rc ? NULL : &b->p->steps[b->p->nsteps - 1];
    if (st) {
        st->op = (int)(op - b->c->st->ops);
        st->alg = tile;
    }
    for (int k = 0; k < nalt; k++) {
        dnnl_memory_t w_mem = NULL;
        if (st)
            rc = weights_mem(b, dnnl_primitive_desc_query_md(alt[k], dnnl_query_weights_md, 0), wn,
                             wd, wtag, op->w, &w_mem);
        if (st && !rc) {
            dnnl_exec_arg_t args[4] = {st->run.args[0], st->run.args[1], st->run.args[2],
                                       st->run.args[3]};
            args[1].memory = w_mem;
            rc = make_impl(b, alt[k], 4, args, &st->alt[st->nalt]);
            if (!rc)
                st->alt_alg[st->nalt++] = alt_alg[k];
            else
                st = NULL;
        }
        dnnl_primitive_desc_destroy(alt[k]);
    }
    int d = rc ? -1 : bind_index(b->p, b->tmem[op->out]);
    if (tile && d >= 0)
        b->p->binds[d].skew = WINO_DST_SKEW;
    return rc;
}

static int build_gemm(struct bld *b, const struct sf__nn_op *op)
{
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_t s_mem;
    int rc = plain_of(b, op->in0, &s_mem);
    if (rc)
        return rc;
    dnnl_memory_desc_t dst, wmd, bmd;
    shape_md(&dst, &st->tensors[op->out].shape, b->p->n, SF_NN_LAYOUT_NCHW);
    dnnl_dims_t wd = {op->cout, op->cin}, bd = {op->cout};
    TRY(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dnnl_f32, dnnl_format_tag_any), "md");
    TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md");
    dnnl_inner_product_desc_t d;
    TRY(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, md_of(s_mem), &wmd, &bmd,
                                             &dst),
        "inner_product desc");
    dnnl_primitive_attr_t attr;
    if ((rc = new_attr(b, 0, &attr)))
        return rc;
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &d, attr, b->c->eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return fail_dnnl(b, "inner_product", s);
    return add_weighted_step(b, op, pd, SF_OK, s_mem, 2, wd, dnnl_oi, &bmd, &dst);
}

static int build_pool(struct bld *b, const struct sf__nn_op *op)
{
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_t in;
    int rc = get_mem(b, op->in0, &in);
    if (rc)
        return rc;
    /* In its input's layout; the hidden state directly in the wanted layout when that is the
     * same (another one would make oneDNN fall back to its reference pooling). */
    int want = op->out == st->hidden && b->hid_l != NO_HIDDEN &&
                       layout_of(md_of(in), &st->tensors[op->in0].shape, b->p->n) == b->hid_l
                   ? b->hid_l
                   : -1;
    dnnl_dims_t strides = {op->sh, op->sw}, kernel = {op->kh, op->kw}, dil = {0, 0};
    dnnl_dims_t pl = {op->pt, op->pl}, pr = {op->pb, op->pr};
    dnnl_alg_kind_t alg = op->kind == SF__OP_MAXPOOL ? dnnl_pooling_max
                          : op->count_include_pad    ? dnnl_pooling_avg_include_padding
                                                     : dnnl_pooling_avg_exclude_padding;
    dnnl_primitive_attr_t attr;
    if ((rc = new_attr(b, 0, &attr)))
        return rc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_unimplemented;
    for (int k = want >= 0 ? 0 : 1; k < 2 && s != dnnl_success; k++) {
        dnnl_memory_desc_t dst;
        shape_md(&dst, &st->tensors[op->out].shape, b->p->n, k == 0 ? want : -1);
        dnnl_pooling_v2_desc_t d;
        s = dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, md_of(in), &dst,
                                              strides, kernel, dil, pl, pr);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&pd, &d, attr, b->c->eng, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return fail_dnnl(b, "pooling", s);
    rc = new_mem(b, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), B_ARENA, NULL,
                 &b->tmem[op->out]);
    if (!rc) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, b->tmem[op->out]}};
        rc = add_step(b, pd, 2, args);
    }
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

static int build_op(struct bld *b, const struct sf__nn_op *op)
{
    const struct sf_nn_stage *st = b->c->st;
    dnnl_memory_t in, in1;
    int rc;
    switch (op->kind) {
    case SF__OP_CONV:
        return build_conv(b, op);
    case SF__OP_GEMM:
        return build_gemm(b, op);
    case SF__OP_MAXPOOL:
    case SF__OP_AVGPOOL:
        return build_pool(b, op);
    case SF__OP_RELU:
    case SF__OP_CLIP: {
        if ((rc = get_mem(b, op->in0, &in)))
            return rc;
        dnnl_eltwise_desc_t d;
        int relu = op->kind == SF__OP_RELU;
        TRY(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference,
                                           relu ? dnnl_eltwise_relu : dnnl_eltwise_clip, md_of(in),
                                           relu ? 0.0f : op->act_lo, relu ? 0.0f : op->act_hi),
            "eltwise desc");
        if ((rc = new_mem(b, md_of(in), B_ARENA, NULL, &b->tmem[op->out])))
            return rc;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, b->tmem[op->out]}};
        return add_desc_step(b, &d, 2, args);
    }
    case SF__OP_SOFTMAX: {
        if ((rc = plain_of(b, op->in0, &in)))
            return rc;
        dnnl_softmax_desc_t d;
        TRY(dnnl_softmax_forward_desc_init(&d, dnnl_forward_inference, md_of(in), 1),
            "softmax desc");
        if ((rc = new_mem(b, md_of(in), B_ARENA, NULL, &b->tmem[op->out])))
            return rc;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, b->tmem[op->out]}};
        return add_desc_step(b, &d, 2, args);
    }
    case SF__OP_RESHAPE:
        /* Materialised (plain, an alias) when a reader needs it. */
        b->reshape_of[op->out] = op->in0;
        return SF_OK;
    case SF__OP_ADD:
    case SF__OP_MUL: {
        if (op->in1 >= 0) {
            /* Two activations (a residual connection): in the first one's layout, so a
             * blocked chain stays blocked. */
            if ((rc = get_mem(b, op->in0, &in)) || (rc = in_layout(b, op->in1, md_of(in), &in1)))
                return rc;
        } else {
            /* A constant broadcast over the batch (and where cst_shape has 1): dims
             * {1, cst_shape}, against the plain tensor. */
            if ((rc = plain_of(b, op->in0, &in)))
                return rc;
            dnnl_memory_desc_t cmd;
            shape_md(&cmd, &op->cst_shape, 1, SF_NN_LAYOUT_NCHW);
            rc = new_mem(b, &cmd, B_FIXED, op->cst, &in1);
        }
        if (rc)
            return rc;
        dnnl_binary_desc_t d;
        TRY(dnnl_binary_desc_init(&d, op->kind == SF__OP_MUL ? dnnl_binary_mul : dnnl_binary_add,
                                  md_of(in), md_of(in1), md_of(in)),
            "binary desc");
        if ((rc = new_mem(b, md_of(in), B_ARENA, NULL, &b->tmem[op->out])))
            return rc;
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC_0, in}, {DNNL_ARG_SRC_1, in1}, {DNNL_ARG_DST, b->tmem[op->out]}};
        return add_desc_step(b, &d, 3, args);
    }
    case SF__OP_PAD:
        break; /* folded into a Conv by the loader; never left in a stage */
    }
    return sf_err_set(b->err, SF_EUNSUPPORTED, "%s: unknown operator kind", st->name);
}

/* Stage output t goes to buffer `kind` (the caller's, or B_ARENA: stays in the arena) in
 * layout l: the arena memory holding it is rebound there when its layout already matches,
 * else a reorder writes it there. For the hidden state, sets the plan's hid_bind. */
static int output_to(struct bld *b, int t, int l, enum bind_kind kind)
{
    dnnl_memory_t m;
    int rc = get_mem(b, t, &m);
    if (rc)
        return rc;
    dnnl_memory_desc_t md;
    shape_md(&md, &b->c->st->tensors[t].shape, b->p->n, l);
    int i = bind_index(b->p, m);
    if (i >= 0 && b->p->binds[i].kind == B_ARENA && b->p->binds[i].alias < 0 &&
        dnnl_memory_desc_equal(&md, md_of(m))) {
        b->p->binds[i].kind = kind;
        if (t == b->c->st->hidden)
            b->p->hid_bind = i;
        return SF_OK;
    }
    dnnl_memory_t dst;
    if ((rc = new_mem(b, &md, kind, NULL, &dst)))
        return rc;
    if (t == b->c->st->hidden)
        b->p->hid_bind = b->p->nbinds - 1;
    return add_reorder(b, m, &md, dst, &dst);
}

/* Arena offsets: tensors first, then one scratchpad region shared by every step. */
static void plan_layout_arena(struct plan *p)
{
    size_t off = 0;
    for (int i = 0; i < p->nbinds; i++) {
        struct bind *bd = &p->binds[i];
        if (bd->kind == B_ARENA && bd->alias < 0) {
            bd->off = off + bd->skew;
            off += (bd->skew + bd->bytes + ALIGN - 1) / ALIGN * ALIGN;
        }
    }
    p->scratch_off = off;
    p->arena_bytes = off + (p->scratch_bytes + ALIGN - 1) / ALIGN * ALIGN;
}

static int plan_new(struct dnnl_ctx *c, struct worker *wk, size_t n, enum sf_nn_layout in_l,
                    int hid, struct plan **out, struct sf_err *err)
{
    const struct sf_nn_stage *st = c->st;
    struct plan *p = calloc(1, sizeof(*p));
    int hid_l = hid >= ARENA_HIDDEN ? hid - ARENA_HIDDEN : hid;
    struct bld b = {.c = c, .p = p, .wk = wk, .in_l = in_l, .hid_l = hid_l, .hid = hid, .err = err};
    b.tmem = calloc((size_t)st->ntensors, sizeof(*b.tmem));
    b.tplain = calloc((size_t)st->ntensors, sizeof(*b.tplain));
    b.reshape_of = malloc((size_t)st->ntensors * sizeof(*b.reshape_of));
    int rc = SF_OK;
    if (!p || !b.tmem || !b.tplain || !b.reshape_of) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
        goto done;
    }
    p->n = n;
    for (int i = 0; i < st->ntensors; i++)
        b.reshape_of[i] = -1;
    dnnl_memory_desc_t md;
    shape_md(&md, &st->tensors[st->input].shape, n, in_l);
    rc = new_mem(&b, &md, B_IN, NULL, &b.tmem[st->input]);
    for (int i = 0; i < st->nops && !rc; i++) {
        b.op = &st->ops[i];
        rc = build_op(&b, b.op);
    }
    b.op = NULL;
    if (!rc && st->hidden >= 0 && hid_l != NO_HIDDEN)
        rc = output_to(&b, st->hidden, hid_l, hid >= ARENA_HIDDEN ? B_ARENA : B_HID);
    if (!rc)
        rc = output_to(&b, st->logits, SF_NN_LAYOUT_NCHW, B_LOG);
    if (!rc)
        plan_layout_arena(p);
done:
    /* the reorders of this plan are done, and later plans find their weights in the cache */
    pthread_mutex_lock(&c->wmu);
    free(c->wscratch);
    c->wscratch = NULL;
    c->wscratch_bytes = 0;
    pthread_mutex_unlock(&c->wmu);
    free(b.tmem);
    free(b.tplain);
    free(b.reshape_of);
    if (rc) {
        plan_free(p);
        return rc;
    }
    *out = p;
    return SF_OK;
}

/* ---- sub-batch size ------------------------------------------------------------------- */

static size_t l2_bytes(void)
{
    const char *env = getenv("SF_NN_L2_BYTES");
    if (env && *env) {
        char *end;
        unsigned long long b = strtoull(env, &end, 10);
        if (*end == 0 && b >= 1024 && b <= ((unsigned long long)1 << 30))
            return (size_t)b;
    }
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (v > 0)
        return (size_t)v;
    char buf[64];
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index2/size", "r");
    if (f) {
        size_t got = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[got] = 0;
        char *end;
        unsigned long k = strtoul(buf, &end, 10);
        if (k > 0 && (*end == 'K' || *end == 'k'))
            return (size_t)k << 10;
        if (k > 0 && (*end == 'M' || *end == 'm'))
            return (size_t)k << 20;
    }
    return L2_FALLBACK_BYTES;
}

/* Requests per sub-batch: the most any layer allows, where a layer allows the requests whose
 * working set fits in L2 / L2_SHARE. The working set is a request's input and output
 * activations, and where Winograd may run (wino_rule at MAX_SUB) its transformed tiles too:
 * F(4x4,3x3) keeps a 6x6 tile per 4x4 output tile of every input and output channel in its
 * scratchpad, 2.2-2.9x the activations of the bundled model's layers. A smaller chunk reads
 * the layer's weights (36/9 of the direct ones) more often, so the tiles shrink the chunk only
 * where one request's tiles fit, and not below the chunk whose weights re-read per request
 * weigh as much as the tiles kept in cache. On a 2-core Intel Xeon this took the bundled
 * model's batch 100 from 19.6-20.4 to 17.6-18.5 ms on one thread and 10.4 to 9.4 ms on two,
 * and left VGG16-SDN's large layers at the chunks their activations allow
 * (docs/benchmarks.md). */
static size_t sub_batch_for(const struct sf_nn_stage *st, int direct_only)
{
    double budget = (double)l2_bytes() / L2_SHARE, sub = MAX_SUB;
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        double act = (double)(sf_nn_shape_numel(&st->tensors[op->in0].shape) +
                              sf_nn_shape_numel(&st->tensors[op->out].shape)) *
                     sizeof(float);
        double n = act > 0 ? budget / act : MAX_SUB;
        if (op->kind == SF__OP_CONV && wino_rule(direct_only, st, op, MAX_SUB)) {
            double sq = (WINO_TILE + 2) * (WINO_TILE + 2);
            double tiles = (double)wino_tiles(st, op) * sq * (op->cin + op->cout) * sizeof(float);
            double weights = (double)op->cin * op->cout * sq * sizeof(float);
            double fit = floor(budget / (act + tiles)), even = weights / tiles;
            if (fit >= 1)
                n = fmax(fit, fmin(n, even));
        }
        sub = fmin(sub, floor(n));
    }
    return sub < 1 ? 1 : (size_t)sub;
}

/* ---- context ------------------------------------------------------------------------- */

static void dnnl_destroy(void *ctx)
{
    struct dnnl_ctx *c = ctx;
    if (!c)
        return;
    for (int t = 0; c->w && t < c->nthreads; t++) {
        struct worker *wk = &c->w[t];
        for (size_t i = 0; wk->plans && i < c->sub * SLOTS; i++)
            plan_free(wk->plans[i]);
        free(wk->plans);
        free(wk->arena);
        if (wk->stream)
            dnnl_stream_destroy(wk->stream);
    }
    for (int i = 0; i < c->nwc; i++) {
        dnnl_memory_destroy(c->wc[i].mem);
        free(c->wc[i].buf);
    }
    free(c->wc);
    free(c->wscratch);
    free(c->w);
    pthread_mutex_destroy(&c->wmu);
    if (c->eng)
        dnnl_engine_destroy(c->eng);
    free(c);
}

/* The layout the first convolution reading the stage input wants it in (NCHW otherwise). */
static enum sf_nn_layout preferred_input(const struct dnnl_ctx *c)
{
    const struct sf_nn_stage *st = c->st;
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        if (op->in0 != st->input && op->in1 != st->input)
            continue;
        if (op->kind != SF__OP_CONV || op->in0 != st->input)
            return SF_NN_LAYOUT_NCHW;
        int omp_saved = omp_get_max_threads();
        omp_set_num_threads(1);
        dnnl_primitive_desc_t pd = conv_choose(c, op, c->sub, -1);
        omp_set_num_threads(omp_saved);
        if (!pd)
            return SF_NN_LAYOUT_NCHW;
        int l = layout_of(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                          &st->tensors[st->input].shape, c->sub);
        dnnl_primitive_desc_destroy(pd);
        return l < 0 ? SF_NN_LAYOUT_NCHW : (enum sf_nn_layout)l;
    }
    return SF_NN_LAYOUT_NCHW;
}

static int dnnl_create(const struct sf_nn_stage *st, const struct sf_nn_opts *opts,
                       struct sf__nn_pool *pool, void **out, struct sf_err *err)
{
    struct dnnl_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    c->st = st;
    c->pool = pool;
    c->nthreads = sf__nn_pool_threads(pool);
    c->direct_only = opts->conv_direct;
    c->sub = opts->sub_batch ? opts->sub_batch : sub_batch_for(st, c->direct_only);
    if (c->sub > MAX_SUB)
        c->sub = MAX_SUB;
    pthread_mutex_init(&c->wmu, NULL);
    c->w = calloc((size_t)c->nthreads, sizeof(*c->w));
    if (!c->w) {
        dnnl_destroy(c);
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
    }
    dnnl_status_t s = dnnl_engine_create(&c->eng, dnnl_cpu, 0);
    for (int t = 0; t < c->nthreads && s == dnnl_success; t++) {
        c->w[t].plans = calloc(c->sub * SLOTS, sizeof(*c->w[t].plans));
        if (!c->w[t].plans) {
            dnnl_destroy(c);
            return sf_err_set(err, SF_ENOMEM, "%s: out of memory", st->name);
        }
        s = dnnl_stream_create(&c->w[t].stream, c->eng, dnnl_stream_default_flags);
    }
    if (s != dnnl_success) {
        dnnl_destroy(c);
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN CPU engine: %s", st->name,
                          dnnl_status2str(s));
    }
    c->in_pref = preferred_input(c);
    *out = c;
    return SF_OK;
}

static enum sf_nn_layout dnnl_input_layout(const void *ctx)
{
    return ((const struct dnnl_ctx *)ctx)->in_pref;
}

static size_t dnnl_sub_batch(const void *ctx)
{
    return ((const struct dnnl_ctx *)ctx)->sub;
}

/* How a batch is cut into chunks. A chunk has `sub` requests or a power of two below it, so a
 * stage has at most 2 + log2(sub) plans whatever batch sizes come (each new chunk size costs a
 * plan: oneDNN creates and JIT-compiles every primitive, 10-100 ms a stage for VGG16, which a
 * server with batches of every size from 1 to 100 would otherwise pay again and again). The
 * batch is `full` chunks of `unit`, then the bits of `rem` from the highest. */
struct split {
    size_t unit, full, rem, nchunks;
};

static size_t pow2_floor(size_t n)
{
    size_t p = 1;
    while (p <= n / 2)
        p *= 2;
    return p;
}

/* spread: at least one chunk per worker (the pool runs them), else chunks as large as allowed. */
static struct split split_of(const struct dnnl_ctx *c, size_t batch, int spread)
{
    struct split sp = {0, 0, 0, 0};
    if (batch == 0)
        return sp;
    /* full sub-batches while there are enough for every worker; a small batch is shared out */
    size_t by_threads = batch < (size_t)c->nthreads ? batch : (size_t)c->nthreads;
    size_t target =
        !spread || batch >= c->sub * by_threads ? c->sub : (batch + by_threads - 1) / by_threads;
    sp.unit = target >= c->sub ? c->sub : pow2_floor(target);
    sp.full = batch / sp.unit;
    sp.rem = batch % sp.unit;
    sp.nchunks = sp.full;
    for (size_t r = sp.rem; r; r &= r - 1)
        sp.nchunks++;
    return sp;
}

/* Rows [*r0, *r0 + *n) of chunk i. */
static void split_chunk(const struct split *sp, size_t i, size_t *r0, size_t *n)
{
    if (i < sp->full) {
        *r0 = i * sp->unit;
        *n = sp->unit;
        return;
    }
    size_t row = sp->full * sp->unit, k = i - sp->full;
    for (size_t b = pow2_floor(sp->rem);; b /= 2)
        if (sp->rem & b) {
            if (k-- == 0) {
                *r0 = row;
                *n = b;
                return;
            }
            row += b;
        }
}

/* A plan for chunks of n whose convolutions have all chosen their implementation (exec_step),
 * from any worker and slot, or NULL. */
static const struct plan *tuned_plan(const struct dnnl_ctx *c, size_t n)
{
    for (int t = 0; t < c->nthreads; t++)
        for (size_t k = 0; k < SLOTS; k++) {
            const struct plan *p = c->w[t].plans[(n - 1) * SLOTS + k];
            int tuned = p != NULL;
            for (int i = 0; tuned && i < p->nsteps; i++)
                tuned = p->steps[i].tuned;
            if (tuned)
                return p;
        }
    return NULL;
}

/* FLOPs per request of a chunk of n: each convolution as the implementation chosen for n runs
 * it: the one its plan's first runs timed fastest (tuned_plan), else conv_choose's first
 * choice (the Winograd tile from its name: "wino_4x3" F(4x4,3x3), "wino_2x3" F(2x2,3x3)). */
static double chunk_flops(const struct dnnl_ctx *c, size_t n)
{
    const struct sf_nn_stage *st = c->st;
    const struct plan *tp = tuned_plan(c, n);
    double f = 0;
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        int m = -1;
        for (int k = 0; tp && k < tp->nsteps; k++)
            if (tp->steps[k].op == i)
                m = tp->steps[k].alg;
        if (m < 0 && op->kind == SF__OP_CONV) {
            dnnl_primitive_desc_t pd = conv_choose(c, op, n, -1);
            m = pd ? wino_tile(pd) : 0;
            if (pd)
                dnnl_primitive_desc_destroy(pd);
        }
        f += m > 0 ? sf__nn_op_flops_wino(st, op, m) : sf__nn_op_flops_direct(st, op);
    }
    return f;
}

static double dnnl_flops(void *ctx, size_t batch)
{
    struct dnnl_ctx *c = ctx;
    struct split sp = split_of(c, batch, 1);
    int omp_saved = omp_get_max_threads();
    omp_set_num_threads(1); /* primitives are created single-threaded, as the plans' are */
    double f = (double)(sp.full * sp.unit) * chunk_flops(c, sp.unit);
    for (size_t b = 1; b <= sp.rem; b *= 2)
        if (sp.rem & b)
            f += (double)b * chunk_flops(c, b);
    omp_set_num_threads(omp_saved);
    return f / (double)batch;
}

/* Floats of weights a chunk of sub requests reads: a convolution's direct count, times
 * (m + 2)^2 / 9 where the first choice at that size is Winograd F(m x m, 3 x 3) (36 / 9 for
 * F(4x4,3x3): its 6 x 6 transformed kernels); a Gemm's as the model holds them. */
static double dnnl_weight_floats(void *ctx)
{
    struct dnnl_ctx *c = ctx;
    const struct sf_nn_stage *st = c->st;
    int omp_saved = omp_get_max_threads();
    omp_set_num_threads(1); /* primitives are created single-threaded, as the plans' are */
    double w = 0;
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        dnnl_primitive_desc_t pd = op->kind == SF__OP_CONV ? conv_choose(c, op, c->sub, -1) : NULL;
        int m = pd ? wino_tile(pd) : 0;
        if (pd)
            dnnl_primitive_desc_destroy(pd);
        w += sf__nn_op_weight_floats(op) * (m ? (m + 2) * (m + 2) / 9.0 : 1.0);
    }
    omp_set_num_threads(omp_saved);
    return w;
}

/* ---- running ------------------------------------------------------------------------- */

struct job {
    struct dnnl_ctx *c;
    const float *in;
    float *hidden, *logits;
    enum sf_nn_layout in_l;
    int hid; /* hidden mode */
    sf__nn_rows_fn done;
    void *done_arg;
    size_t batch;
    struct split sp;
    size_t in_stride, hid_stride, log_stride; /* floats per request */
};

static int get_plan(struct dnnl_ctx *c, struct worker *wk, size_t n, enum sf_nn_layout in_l,
                    int hid, struct plan **out, struct sf_err *err)
{
    struct plan **slot = &wk->plans[(n - 1) * SLOTS + (size_t)in_l * HID_MODES + (size_t)hid];
    if (!*slot) {
        int rc = plan_new(c, wk, n, in_l, hid, slot, err);
        if (rc)
            return rc;
    }
    if ((*slot)->arena_bytes > wk->arena_bytes) {
        size_t bytes = (*slot)->arena_bytes;
        void *a = sf__nn_alloc_big(bytes + ARENA_TAIL);
        if (!a)
            return sf_err_set(err, SF_ENOMEM, "%s: out of memory for a %zu-byte arena", c->st->name,
                              bytes);
        /* Zeroed once: kernels read vector tails past what they wrote (results masked). */
        memset(a, 0, bytes + ARENA_TAIL);
        free(wk->arena);
        wk->arena = a;
        wk->arena_bytes = bytes;
        wk->gen++;
    }
    *out = *slot;
    return SF_OK;
}

/* Runs st with the stack pointer at a known offset: the 64-byte-aligned local makes the compiler
 * realign this frame, and the array below it moves the callee's frames down by 16 (pad + 1)
 * bytes, so the callee sees the same residue mod 64 in every thread and process whatever the
 * caller's stack. noinline keeps the realignment in a frame of its own. */
__attribute__((noinline)) static dnnl_status_t exec_at(const struct impl *im, dnnl_stream_t strm,
                                                       int pad)
{
    _Alignas(64) volatile unsigned char anchor = 0;
    unsigned char gap[16 * (size_t)pad + 1];
    __asm__ volatile("" : : "r"(gap), "r"(&anchor) : "memory");
    return dnnl_primitive_execute(im->prim, strm, im->nargs, im->args);
}

/* Runs st, timing it while its implementation and stack offset are being chosen: trial t runs
 * candidate t % (1 + nalt) at pad t / (1 + nalt) % STACK_PADS, so the candidates take turns in
 * consecutive passes and each is timed with what the pass around it keeps in cache; then the
 * fastest (candidate, pad) of STACK_TUNE_ROUNDS rounds is kept and the other candidates are
 * destroyed. */
static dnnl_status_t exec_step(struct step *st, dnnl_stream_t strm)
{
    if (st->tuned)
        return exec_at(&st->run, strm, st->pad);
    int ncand = 1 + st->nalt, k = st->trials % ncand, pad = st->trials / ncand % STACK_PADS;
    const struct impl *im = k ? &st->alt[k - 1] : &st->run;
    double t0 = sf_monotonic_s();
    dnnl_status_t s = exec_at(im, strm, pad);
    double t = sf_monotonic_s() - t0;
    if (t < st->best_s[k][pad])
        st->best_s[k][pad] = t;
    if (++st->trials < ncand * STACK_PADS * STACK_TUNE_ROUNDS)
        return s;
    int best_k = 0, best_pad = 0;
    for (int c = 0; c < ncand; c++)
        for (int i = 0; i < STACK_PADS; i++)
            if (st->best_s[c][i] < st->best_s[best_k][best_pad]) {
                best_k = c;
                best_pad = i;
            }
    if (best_k) {
        struct impl keep = st->alt[best_k - 1];
        st->alt[best_k - 1] = st->run;
        st->run = keep;
        int alg = st->alt_alg[best_k - 1];
        st->alt_alg[best_k - 1] = st->alg;
        st->alg = alg;
    }
    for (int c = 0; c < st->nalt; c++)
        dnnl_primitive_destroy(st->alt[c].prim);
    st->nalt = 0;
    st->pad = best_pad;
    st->tuned = 1;
    return s;
}

static void set_handle(dnnl_memory_t m, void *h)
{
    dnnl_memory_set_data_handle(m, h);
}

static int run_chunk(void *arg, size_t chunk, int worker, struct sf_err *err)
{
    struct job *j = arg;
    struct dnnl_ctx *c = j->c;
    struct worker *wk = &c->w[worker];
    size_t r0, n;
    split_chunk(&j->sp, chunk, &r0, &n);
    struct plan *p = NULL;
    int rc = get_plan(c, wk, n, j->in_l, j->hid, &p, err);
    if (rc)
        return rc;
    int arena_moved = p->arena_gen != wk->gen;
    void *base[B_LOG + 1] = {NULL};
    base[B_IN] = (void *)(j->in + r0 * j->in_stride);
    base[B_HID] = j->hidden ? j->hidden + r0 * j->hid_stride : NULL;
    base[B_LOG] = j->logits + r0 * j->log_stride;
    for (int i = 0; i < p->nbinds; i++) {
        struct bind *bd = &p->binds[i];
        int root = bd->alias >= 0 ? bd->alias : i;
        enum bind_kind k = p->binds[root].kind;
        if (k == B_FIXED || ((k == B_ARENA || k == B_SCRATCH) && !arena_moved))
            continue;
        void *h = k == B_ARENA     ? wk->arena + p->binds[root].off
                  : k == B_SCRATCH ? wk->arena + p->scratch_off
                                   : base[k];
        set_handle(bd->mem, h);
    }
    p->arena_gen = wk->gen;
    for (int i = 0; i < p->nsteps; i++) {
        dnnl_status_t s = exec_step(&p->steps[i], wk->stream);
        if (s != dnnl_success)
            return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN execute (step %d): %s", c->st->name,
                              i, dnnl_status2str(s));
    }
    dnnl_status_t s = dnnl_stream_wait(wk->stream);
    if (s != dnnl_success)
        return sf_err_set(err, SF_EUNSUPPORTED, "%s: oneDNN stream_wait: %s", c->st->name,
                          dnnl_status2str(s));
    if (!j->done)
        return SF_OK;
    const float *h = NULL;
    if (j->hid >= ARENA_HIDDEN)
        h = (const float *)(wk->arena + p->binds[p->hid_bind].off);
    return j->done(j->done_arg, r0, n, h, err);
}

/* Runs j's chunks on the pool, or (worker >= 0) all of them on the calling thread as that
 * worker. */
static int start_job(struct dnnl_ctx *c, struct job *j, enum sf_nn_layout hid_l, int worker,
                     struct sf_err *err)
{
    const struct sf_nn_stage *st = c->st;
    j->c = c;
    j->in_stride = sf_nn_layout_numel(j->in_l, &st->tensors[st->input].shape);
    if (st->hidden >= 0)
        j->hid_stride = sf_nn_layout_numel(hid_l, &st->tensors[st->hidden].shape);
    j->log_stride = sf_nn_shape_numel(&st->tensors[st->logits].shape);
    j->sp = split_of(c, j->batch, worker < 0);
    if (worker < 0)
        return sf__nn_pool_run(c->pool, j->sp.nchunks, run_chunk, j, err);
    int rc = SF_OK;
    for (size_t i = 0; i < j->sp.nchunks && !rc; i++)
        rc = run_chunk(j, i, worker, err);
    return rc;
}

static int dnnl_run(void *ctx, const float *in, enum sf_nn_layout in_l, size_t batch, float *hidden,
                    enum sf_nn_layout hid_l, float *logits, struct sf_err *err)
{
    struct dnnl_ctx *c = ctx;
    struct job j = {.in = in,
                    .hidden = hidden,
                    .logits = logits,
                    .in_l = in_l,
                    .hid = hidden && c->st->hidden >= 0 ? (int)hid_l : NO_HIDDEN,
                    .batch = batch};
    return start_job(c, &j, hid_l, -1, err);
}

static int dnnl_run_local(void *ctx, int worker, const float *in, enum sf_nn_layout in_l,
                          size_t batch, float *hidden, enum sf_nn_layout hid_l, float *logits,
                          struct sf_err *err)
{
    struct dnnl_ctx *c = ctx;
    if (worker < 0 || worker >= c->nthreads)
        return sf_err_set(err, SF_EINVAL, "%s: worker %d of %d", c->st->name, worker, c->nthreads);
    struct job j = {.in = in,
                    .hidden = hidden,
                    .logits = logits,
                    .in_l = in_l,
                    .hid = hidden && c->st->hidden >= 0 ? (int)hid_l : NO_HIDDEN,
                    .batch = batch};
    return start_job(c, &j, hid_l, worker, err);
}

static int dnnl_run_rows(void *ctx, const float *in, enum sf_nn_layout in_l, size_t batch,
                         enum sf_nn_layout hid_l, float *logits, sf__nn_rows_fn done, void *arg,
                         struct sf_err *err)
{
    struct dnnl_ctx *c = ctx;
    struct job j = {.in = in,
                    .logits = logits,
                    .in_l = in_l,
                    .batch = batch,
                    .done = done,
                    .done_arg = arg,
                    .hid = c->st->hidden >= 0 ? ARENA_HIDDEN + (int)hid_l : NO_HIDDEN};
    return start_job(c, &j, hid_l, -1, err);
}

const struct sf__nn_backend_ops sf__nn_dnnl_ops = {
    .kind = SF_NN_BACKEND_DNNL,
    .create = dnnl_create,
    .run = dnnl_run,
    .run_rows = dnnl_run_rows,
    .run_local = dnnl_run_local,
    .input_layout = dnnl_input_layout,
    .sub_batch = dnnl_sub_batch,
    .flops = dnnl_flops,
    .weight_floats = dnnl_weight_floats,
    .destroy = dnnl_destroy,
};
