/*
 * onnx_load.c - turns one ONNX stage graph (protobuf-c, generated from onnx.proto) into the
 * operator list of nn_internal.h: reads initializers, infers per-request shapes node by node,
 * folds BatchNormalization into the Conv before it, and refuses anything it cannot run with
 * the operator and the node named in the message.
 */
#include "nn_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* Initializers and Constant-node values, by name. */
struct ld_const {
    const char *name; /* borrowed from the protobuf message */
    int ndims;
    int64_t dims[8];
    size_t numel;
    float *f;    /* owned; float32 data (NULL for int64 tensors) */
    int64_t *i;  /* owned; int64 data (NULL for float tensors) */
    int used_by; /* consumers seen, for the fold check */
};

struct ld {
    const char *path;
    struct sf_err *err;
    struct sf_nn_stage *st;
    struct ld_const *c;
    int nc, capc;
    int capt, capo;
};

size_t sf_nn_shape_numel(const struct sf_nn_shape *s)
{
    if (!s || s->ndim <= 0)
        return 0;
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= (size_t)s->dims[i];
    return n;
}

int sf__nn_out_dim(int in, int k, int stride, int pad_before, int pad_after)
{
    if (k <= 0 || stride <= 0 || pad_before < 0 || pad_after < 0)
        return -1;
    int span = in + pad_before + pad_after - k;
    if (span < 0)
        return -1;
    return span / stride + 1;
}

static void shape_str(const struct sf_nn_shape *s, char *buf, size_t cap)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, cap - off, "[N");
    for (int i = 0; i < s->ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, ",%lld", (long long)s->dims[i]);
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
}

static void free_consts(struct ld *l)
{
    for (int i = 0; i < l->nc; i++) {
        free(l->c[i].f);
        free(l->c[i].i);
    }
    free(l->c);
}

static struct ld_const *find_const(struct ld *l, const char *name)
{
    if (!name || !*name)
        return NULL;
    for (int i = 0; i < l->nc; i++)
        if (!strcmp(l->c[i].name, name))
            return &l->c[i];
    return NULL;
}

/* Copies a TensorProto's float32 or int64 data into a new table entry. */
static int add_const(struct ld *l, const char *name, const Onnx__TensorProto *t)
{
    if (!t)
        return sf_err_set(l->err, SF_EPARSE, "%s: constant '%s' has no tensor", l->path, name);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          "%s: initializer '%s': external data is not supported", l->path, name);
    if (t->n_dims > 8)
        return sf_err_set(l->err, SF_EUNSUPPORTED, "%s: initializer '%s': rank %zu > 8", l->path,
                          name, t->n_dims);
    size_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        /* Cap each dimension so the product cannot overflow; SF_NN_MAX_ONNX_BYTES bounds
         * real data anyway. */
        if (t->dims[i] < 0 || t->dims[i] > (int64_t)SF_NN_MAX_ONNX_BYTES)
            return sf_err_set(l->err, SF_EPARSE, "%s: initializer '%s': bad dimension %lld",
                              l->path, name, (long long)t->dims[i]);
        numel *= (size_t)t->dims[i];
        if (numel > SF_NN_MAX_ONNX_BYTES)
            return sf_err_set(l->err, SF_EPARSE, "%s: initializer '%s': too many elements", l->path,
                              name);
    }
    if (l->nc == l->capc) {
        int ncap = l->capc ? l->capc * 2 : 16;
        struct ld_const *nc = realloc(l->c, (size_t)ncap * sizeof(*nc));
        if (!nc)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        l->c = nc;
        l->capc = ncap;
    }
    struct ld_const *c = &l->c[l->nc];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->ndims = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++)
        c->dims[i] = t->dims[i];
    c->numel = numel;
    int type = t->has_data_type ? t->data_type : 0;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        c->f = sf__nn_alloc_big(numel ? numel * sizeof(float) : 1);
        if (!c->f)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        if (t->has_raw_data && t->raw_data.len == numel * sizeof(float)) {
            /* raw_data is little-endian; so is every machine serflow targets. A zero-element
             * tensor has no data pointer: memcpy from NULL is undefined even for 0 bytes. */
            if (numel)
                memcpy(c->f, t->raw_data.data, numel * sizeof(float));
        } else if (!t->has_raw_data && t->n_float_data == numel) {
            if (numel)
                memcpy(c->f, t->float_data, numel * sizeof(float));
        } else {
            free(c->f);
            c->f = NULL;
            return sf_err_set(l->err, SF_EPARSE,
                              "%s: initializer '%s': data size does not match its %zu elements",
                              l->path, name, numel);
        }
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        c->i = malloc(numel ? numel * sizeof(int64_t) : 1);
        if (!c->i)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        if (t->has_raw_data && t->raw_data.len == numel * sizeof(int64_t)) {
            if (numel)
                memcpy(c->i, t->raw_data.data, numel * sizeof(int64_t));
        } else if (!t->has_raw_data && t->n_int64_data == numel) {
            if (numel)
                memcpy(c->i, t->int64_data, numel * sizeof(int64_t));
        } else {
            free(c->i);
            c->i = NULL;
            return sf_err_set(l->err, SF_EPARSE,
                              "%s: initializer '%s': data size does not match its %zu elements",
                              l->path, name, numel);
        }
    } else {
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          "%s: initializer '%s': element type %d (only float32 and int64)", l->path,
                          name, type);
    }
    l->nc++;
    return SF_OK;
}

static int find_tensor(const struct sf_nn_stage *st, const char *name)
{
    if (!name || !*name)
        return -1;
    for (int i = 0; i < st->ntensors; i++)
        if (!strcmp(st->tensors[i].name, name))
            return i;
    return -1;
}

static int add_tensor(struct ld *l, const char *name, const struct sf_nn_shape *shape, int *idx)
{
    struct sf_nn_stage *st = l->st;
    if (find_tensor(st, name) >= 0 || find_const(l, name))
        return sf_err_set(l->err, SF_EPARSE, "%s: tensor '%s' is defined twice", l->path, name);
    if (sf_nn_shape_numel(shape) > SF_NN_MAX_TENSOR_NUMEL)
        return sf_err_set(l->err, SF_ETOOBIG,
                          "%s: tensor '%s' has more than %zu values per request", l->path, name,
                          (size_t)SF_NN_MAX_TENSOR_NUMEL);
    if (st->ntensors == l->capt) {
        int ncap = l->capt ? l->capt * 2 : 16;
        struct sf__nn_tensor *nt = realloc(st->tensors, (size_t)ncap * sizeof(*nt));
        if (!nt)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        st->tensors = nt;
        l->capt = ncap;
    }
    struct sf__nn_tensor *t = &st->tensors[st->ntensors];
    t->name = sf_strdup(name);
    if (!t->name)
        return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
    t->shape = *shape;
    *idx = st->ntensors++;
    return SF_OK;
}

static int add_op(struct ld *l, const Onnx__NodeProto *n, enum sf__nn_op_kind kind,
                  struct sf__nn_op **out)
{
    struct sf_nn_stage *st = l->st;
    if (st->nops == l->capo) {
        int ncap = l->capo ? l->capo * 2 : 16;
        struct sf__nn_op *no = realloc(st->ops, (size_t)ncap * sizeof(*no));
        if (!no)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        st->ops = no;
        l->capo = ncap;
    }
    struct sf__nn_op *op = &st->ops[st->nops];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->in0 = op->in1 = op->out = -1;
    op->node_name = sf_strdup(n->name);
    if (!op->node_name)
        return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
    st->nops++;
    *out = op;
    return SF_OK;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

#define NODE_FMT    "%s: node '%s' (%s): "
#define NODE_ARGS() l->path, n->name ? n->name : "", n->op_type ? n->op_type : ""

/* Input i of node n as a tensor index, or an error naming it. */
static int node_tensor(struct ld *l, const Onnx__NodeProto *n, size_t i, int *idx)
{
    if (i >= n->n_input || !n->input[i] || !*n->input[i])
        return sf_err_set(l->err, SF_EPARSE, NODE_FMT "missing input %zu", NODE_ARGS(), i);
    *idx = find_tensor(l->st, n->input[i]);
    if (*idx < 0)
        return sf_err_set(l->err, SF_EPARSE, NODE_FMT "input '%s' is not defined before use",
                          NODE_ARGS(), n->input[i]);
    return SF_OK;
}

static struct ld_const *node_const(struct ld *l, const Onnx__NodeProto *n, size_t i)
{
    if (i >= n->n_input)
        return NULL;
    return find_const(l, n->input[i]);
}

/* Kernel, stride and padding limits: far above any real CNN, low enough that no int
 * arithmetic on them can overflow. */
#define MAX_WINDOW 1024

/* Copies n int64 attribute values into ints, each within [lo, MAX_WINDOW]. */
static int window_ints(struct ld *l, const Onnx__NodeProto *n, const char *name, size_t count,
                       int lo, int *out)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    if (!a)
        return 0;
    if (a->n_ints != count)
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "%s must have %zu values", NODE_ARGS(),
                          name, count);
    for (size_t i = 0; i < count; i++) {
        if (a->ints[i] < lo || a->ints[i] > MAX_WINDOW)
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "%s value %lld out of %d..%d",
                              NODE_ARGS(), name, (long long)a->ints[i], lo, MAX_WINDOW);
        out[i] = (int)a->ints[i];
    }
    return 0;
}

/* auto_pad of a Conv or pooling node. */
enum auto_pad { AP_NOTSET, AP_SAME_UPPER, AP_SAME_LOWER, AP_VALID };

/* What a window op's output shape still depends on (resolved once the input shape is known). */
struct win {
    enum auto_pad ap;
    int ceil_mode;
};

/* Padding must be smaller than the (dilated) kernel: oneDNN's rule, and no exporter needs
 * more. */
static int check_window(struct ld *l, const Onnx__NodeProto *n, const struct sf__nn_op *op)
{
    int ekh = (op->kh - 1) * op->dh + 1, ekw = (op->kw - 1) * op->dw + 1;
    if (op->kh < 1 || op->kw < 1 || op->kh > MAX_WINDOW || op->kw > MAX_WINDOW || op->pt >= ekh ||
        op->pb >= ekh || op->pl >= ekw || op->pr >= ekw)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "kernel %dx%d (dilation %d,%d), pads %d,%d,%d,%d: unsupported "
                                   "geometry (pads must be smaller than the kernel)",
                          NODE_ARGS(), op->kh, op->kw, op->dh, op->dw, op->pt, op->pl, op->pb,
                          op->pr);
    return SF_OK;
}

/* Reads kernel_shape/strides/pads/dilations/auto_pad/ceil_mode of a 2-D window op into op and
 * w. A Conv may omit kernel_shape (need_kernel 0): its kernel then comes from the weights.
 * Dilations other than 1 only for a Conv (is_conv), ceil_mode only for pooling. Pads,
 * auto_pad and ceil_mode are checked and resolved by window_out_shape. */
static int window_attrs(struct ld *l, const Onnx__NodeProto *n, struct sf__nn_op *op,
                        int need_kernel, int is_conv, struct win *w)
{
    w->ap = AP_NOTSET;
    w->ceil_mode = 0;
    const Onnx__AttributeProto *a = find_attr(n, "auto_pad");
    if (a && a->has_s && a->s.len) {
        static const char *const names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (a->s.len == strlen(names[i]) && !memcmp(a->s.data, names[i], a->s.len))
                found = i;
        if (found < 0)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                              NODE_ARGS());
        w->ap = (enum auto_pad)found;
    }
    if (need_kernel && !find_attr(n, "kernel_shape"))
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "needs a 2-D kernel_shape",
                          NODE_ARGS());
    int k[2] = {0, 0}, st[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dil[2] = {1, 1};
    int rc = window_ints(l, n, "kernel_shape", 2, 1, k);
    if (!rc)
        rc = window_ints(l, n, "strides", 2, 1, st);
    if (!rc)
        rc = window_ints(l, n, "pads", 4, 0, pads);
    if (!rc)
        rc = window_ints(l, n, "dilations", 2, 1, dil);
    if (rc)
        return rc;
    if (w->ap != AP_NOTSET && (pads[0] || pads[1] || pads[2] || pads[3]))
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "pads together with auto_pad",
                          NODE_ARGS());
    op->kh = k[0];
    op->kw = k[1];
    op->sh = st[0];
    op->sw = st[1];
    op->pt = pads[0];
    op->pl = pads[1];
    op->pb = pads[2];
    op->pr = pads[3];
    op->dh = dil[0];
    op->dw = dil[1];
    if (!is_conv && (op->dh != 1 || op->dw != 1))
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "dilations other than 1 are only supported on Conv",
                          NODE_ARGS());
    int64_t ceil_mode = attr_int(n, "ceil_mode", 0);
    if (ceil_mode != 0 && (is_conv || ceil_mode != 1))
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "ceil_mode=%lld is not supported",
                          NODE_ARGS(), (long long)ceil_mode);
    w->ceil_mode = (int)ceil_mode;
    return SF_OK;
}

/* Pads of one spatial axis for auto_pad / ceil_mode: *before and *after in, the resolved
 * values out. */
static void resolve_pads(const struct win *w, int in, int k, int stride, int dil, int *before,
                         int *after)
{
    int ek = (k - 1) * dil + 1;
    if (w->ap == AP_VALID) {
        *before = *after = 0;
    } else if (w->ap == AP_SAME_UPPER || w->ap == AP_SAME_LOWER) {
        int out = (in + stride - 1) / stride;
        int total = (out - 1) * stride + ek - in;
        if (total < 0)
            total = 0;
        *before = w->ap == AP_SAME_UPPER ? total / 2 : total - total / 2;
        *after = total - *before;
    }
    if (w->ceil_mode) {
        /* Output size rounded up, as if padded at the end; the last window must start inside
         * the input or the leading padding (PyTorch's and onnxruntime's rule). */
        int span = in + *before + *after - ek;
        if (span < 0)
            return;
        int out = (span + stride - 1) / stride + 1;
        if ((out - 1) * stride >= in + *before)
            out--;
        int extra = (out - 1) * stride + ek - (in + *before + *after);
        if (extra > 0)
            *after += extra;
    }
}

/* Resolves auto_pad and ceil_mode against input shape in, checks the window and gives the
 * output shape. */
static int window_out_shape(struct ld *l, const Onnx__NodeProto *n, struct sf__nn_op *op,
                            const struct win *w, const struct sf_nn_shape *in, int64_t channels,
                            struct sf_nn_shape *out)
{
    char buf[96];
    if (in->ndim != 3) {
        shape_str(in, buf, sizeof(buf));
        return sf_err_set(l->err, SF_EINVAL, NODE_FMT "shape mismatch: input %s is not NCHW",
                          NODE_ARGS(), buf);
    }
    if (w) {
        resolve_pads(w, (int)in->dims[1], op->kh, op->sh, op->dh, &op->pt, &op->pb);
        resolve_pads(w, (int)in->dims[2], op->kw, op->sw, op->dw, &op->pl, &op->pr);
    }
    int rc = check_window(l, n, op);
    if (rc)
        return rc;
    int ekh = (op->kh - 1) * op->dh + 1, ekw = (op->kw - 1) * op->dw + 1;
    int oh = sf__nn_out_dim((int)in->dims[1], ekh, op->sh, op->pt, op->pb);
    int ow = sf__nn_out_dim((int)in->dims[2], ekw, op->sw, op->pl, op->pr);
    if (oh <= 0 || ow <= 0) {
        shape_str(in, buf, sizeof(buf));
        return sf_err_set(l->err, SF_EINVAL,
                          NODE_FMT "shape mismatch: kernel %dx%d does not fit input %s",
                          NODE_ARGS(), op->kh, op->kw, buf);
    }
    out->ndim = 3;
    out->dims[0] = channels;
    out->dims[1] = oh;
    out->dims[2] = ow;
    return SF_OK;
}

static int node_output(struct ld *l, const Onnx__NodeProto *n, const struct sf_nn_shape *shape,
                       int *idx)
{
    if (n->n_output < 1 || !n->output[0] || !*n->output[0])
        return sf_err_set(l->err, SF_EPARSE, NODE_FMT "has no output", NODE_ARGS());
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i] && *n->output[i])
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "extra output '%s' is not "
                                       "supported",
                              NODE_ARGS(), n->output[i]);
    return add_tensor(l, n->output[0], shape, idx);
}

/* How many nodes read tensor `name`, and whether it is a graph output. */
static int consumers(const Onnx__GraphProto *g, const char *name)
{
    int count = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_input; j++)
            if (g->node[i]->input[j] && !strcmp(g->node[i]->input[j], name))
                count++;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && !strcmp(g->output[i]->name, name))
            count++;
    return count;
}

/* Makes tensor x (a Conv output only node n reads) carry n's output name instead. */
static int rename_to_output(struct ld *l, const Onnx__NodeProto *n, int x)
{
    if (n->n_output < 1 || !n->output[0] || !*n->output[0])
        return sf_err_set(l->err, SF_EPARSE, NODE_FMT "has no output", NODE_ARGS());
    if (find_tensor(l->st, n->output[0]) >= 0 || find_const(l, n->output[0]))
        return sf_err_set(l->err, SF_EPARSE, "%s: tensor '%s' is defined twice", l->path,
                          n->output[0]);
    char *name = sf_strdup(n->output[0]);
    if (!name)
        return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
    free(l->st->tensors[x].name);
    l->st->tensors[x].name = name;
    return SF_OK;
}

/* The Conv writing tensor x when only one node reads x (and it is no graph output). */
static struct sf__nn_op *sole_conv_producer(struct ld *l, const Onnx__GraphProto *g, int x,
                                            const char *name)
{
    for (int i = 0; i < l->st->nops; i++)
        if (l->st->ops[i].out == x && l->st->ops[i].kind == SF__OP_CONV)
            return consumers(g, name) == 1 ? &l->st->ops[i] : NULL;
    return NULL;
}

/* The zero Pad op writing tensor x when only one node reads x (and it is no graph output):
 * its index in the op list, or -1. */
static int sole_pad_producer(struct ld *l, const Onnx__GraphProto *g, int x, const char *name)
{
    for (int i = 0; i < l->st->nops; i++)
        if (l->st->ops[i].out == x && l->st->ops[i].kind == SF__OP_PAD)
            return consumers(g, name) == 1 ? i : -1;
    return -1;
}

static void op_free(struct sf__nn_op *op)
{
    free(op->node_name);
    free(op->w);
    free(op->bias);
    free(op->cst);
}

/* Removes op i (a folded Pad) from the list; tensor indices do not move. */
static void drop_op(struct ld *l, int i)
{
    op_free(&l->st->ops[i]);
    memmove(&l->st->ops[i], &l->st->ops[i + 1],
            (size_t)(l->st->nops - i - 1) * sizeof(l->st->ops[0]));
    l->st->nops--;
}

static int load_conv(struct ld *l, const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    struct ld_const *w = node_const(l, n, 1);
    struct ld_const *b = n->n_input > 2 && *n->input[2] ? node_const(l, n, 2) : NULL;
    if (!w || !w->f || w->ndims != 4)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "weights must be a float32 4-D initializer", NODE_ARGS());
    if (w->dims[0] < 1 || w->dims[1] < 1)
        return sf_err_set(l->err, SF_EINVAL, NODE_FMT "weights have no output or input channels",
                          NODE_ARGS());
    if (n->n_input > 2 && *n->input[2] && (!b || !b->f || b->numel != (size_t)w->dims[0]))
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "bias must be a float32 initializer of %lld values", NODE_ARGS(),
                          (long long)w->dims[0]);
    struct sf__nn_op tmp = {0};
    struct win win;
    rc = window_attrs(l, n, &tmp, 0, 1, &win);
    if (rc)
        return rc;
    if (!tmp.kh) {
        if (w->dims[2] < 1 || w->dims[2] > MAX_WINDOW || w->dims[3] < 1 || w->dims[3] > MAX_WINDOW)
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "kernel size out of 1..%d",
                              NODE_ARGS(), MAX_WINDOW);
        tmp.kh = (int)w->dims[2];
        tmp.kw = (int)w->dims[3];
    }
    if (tmp.kh != w->dims[2] || tmp.kw != w->dims[3])
        return sf_err_set(
            l->err, SF_EINVAL, NODE_FMT "shape mismatch: kernel_shape %dx%d, weights %lldx%lld",
            NODE_ARGS(), tmp.kh, tmp.kw, (long long)w->dims[2], (long long)w->dims[3]);
    /* A zero Pad whose output only this Conv reads: its pads join the Conv's. */
    int pad_i = win.ap == AP_NOTSET ? sole_pad_producer(l, g, x, n->input[0]) : -1;
    if (pad_i >= 0) {
        const struct sf__nn_op *pad = &l->st->ops[pad_i];
        tmp.pt += pad->pt;
        tmp.pl += pad->pl;
        tmp.pb += pad->pb;
        tmp.pr += pad->pr;
        x = pad->in0;
    }
    const struct sf_nn_shape in = l->st->tensors[x].shape;
    int64_t group = attr_int(n, "group", 1);
    if (in.ndim != 3 || group < 1 || group > in.dims[0] || in.dims[0] % group ||
        w->dims[0] % group || in.dims[0] / group != w->dims[1]) {
        char buf[96];
        shape_str(&in, buf, sizeof(buf));
        return sf_err_set(l->err, SF_EINVAL,
                          NODE_FMT "shape mismatch: input %s, group %lld, weights [%lld,%lld,...] "
                                   "(input channels = group x weights' second dimension, output "
                                   "channels a multiple of group)",
                          NODE_ARGS(), buf, (long long)group, (long long)w->dims[0],
                          (long long)w->dims[1]);
    }
    tmp.group = (int)group;
    struct sf_nn_shape out;
    rc = window_out_shape(l, n, &tmp, &win, &in, w->dims[0], &out);
    if (rc)
        return rc;
    if (pad_i >= 0)
        drop_op(l, pad_i);
    struct sf__nn_op *op;
    rc = add_op(l, n, SF__OP_CONV, &op);
    if (rc)
        return rc;
    char *keep = op->node_name;
    *op = tmp;
    op->kind = SF__OP_CONV;
    op->node_name = keep;
    op->in0 = x;
    op->in1 = -1;
    op->cout = (int)w->dims[0];
    op->cin = (int)in.dims[0];
    op->w = sf__nn_alloc_big(w->numel * sizeof(float));
    op->bias = calloc((size_t)op->cout, sizeof(float));
    if (!op->w || !op->bias)
        return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
    memcpy(op->w, w->f, w->numel * sizeof(float));
    if (b)
        memcpy(op->bias, b->f, (size_t)op->cout * sizeof(float));
    return node_output(l, n, &out, &op->out);
}

/* Pad (mode constant, value 0, H and W only): kept as an op until the Conv reading it folds
 * it into its pads; one left over is refused when the graph is loaded. */
static int load_pad(struct ld *l, const Onnx__NodeProto *n)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    const Onnx__AttributeProto *a = find_attr(n, "mode");
    if (a && a->has_s && !(a->s.len == 8 && !memcmp(a->s.data, "constant", 8)))
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "only mode \"constant\" is supported",
                          NODE_ARGS());
    int64_t pads[8];
    size_t np = 0;
    struct ld_const *pc = n->n_input > 1 && *n->input[1] ? node_const(l, n, 1) : NULL;
    if (pc) { /* opset >= 11: pads (and the value) are inputs */
        if (!pc->i || pc->numel > 8)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "pads must be a constant int64 vector of 8 values",
                              NODE_ARGS());
        np = pc->numel;
        memcpy(pads, pc->i, np * sizeof(int64_t));
    } else if (n->n_input > 1 && *n->input[1]) {
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "pads must be a constant", NODE_ARGS());
    } else if ((a = find_attr(n, "pads")) && a->n_ints <= 8) {
        np = a->n_ints;
        memcpy(pads, a->ints, np * sizeof(int64_t));
    }
    if (n->n_input > 3 && *n->input[3])
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "axes are not supported", NODE_ARGS());
    float value = attr_float(n, "value", 0.0f);
    if (n->n_input > 2 && *n->input[2]) {
        struct ld_const *vc = node_const(l, n, 2);
        if (!vc || !vc->f || vc->numel != 1)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "constant_value must be a float32 scalar constant",
                              NODE_ARGS());
        value = vc->f[0];
    }
    const struct sf_nn_shape in = l->st->tensors[x].shape;
    if (in.ndim != 3 || np != 8 || pads[0] || pads[1] || pads[4] || pads[5] || value != 0.0f)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "only zero padding of H and W of an NCHW tensor is supported",
                          NODE_ARGS());
    for (int i = 0; i < 8; i++)
        if (pads[i] < 0 || pads[i] > MAX_WINDOW)
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "pad %lld out of 0..%d",
                              NODE_ARGS(), (long long)pads[i], MAX_WINDOW);
    struct sf__nn_op *op;
    rc = add_op(l, n, SF__OP_PAD, &op);
    if (rc)
        return rc;
    op->in0 = x;
    op->pt = (int)pads[2];
    op->pl = (int)pads[3];
    op->pb = (int)pads[6];
    op->pr = (int)pads[7];
    struct sf_nn_shape out = in;
    out.dims[1] += op->pt + op->pb;
    out.dims[2] += op->pl + op->pr;
    return node_output(l, n, &out, &op->out);
}

/* Folds y = (x - mean) / sqrt(var + eps) * scale + beta into the Conv producing x. */
static int load_batchnorm(struct ld *l, const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    struct sf__nn_op *conv = NULL;
    for (int i = 0; i < l->st->nops; i++)
        if (l->st->ops[i].out == x && l->st->ops[i].kind == SF__OP_CONV)
            conv = &l->st->ops[i];
    if (!conv || conv->act != SF__ACT_NONE || consumers(g, n->input[0]) != 1)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "only supported right after a Conv whose output nothing "
                                   "else reads (it is folded into the Conv)",
                          NODE_ARGS());
    struct ld_const *p[4];
    for (size_t i = 0; i < 4; i++) {
        p[i] = node_const(l, n, i + 1);
        if (!p[i] || !p[i]->f || p[i]->numel != (size_t)conv->cout)
            return sf_err_set(l->err, SF_EINVAL,
                              NODE_FMT "input %zu must be a float32 initializer of %d values "
                                       "(shape mismatch)",
                              NODE_ARGS(), i + 1, conv->cout);
    }
    if (attr_int(n, "training_mode", 0) != 0)
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "training_mode=1", NODE_ARGS());
    if (n->n_output > 1)
        for (size_t i = 1; i < n->n_output; i++)
            if (n->output[i] && *n->output[i])
                return sf_err_set(l->err, SF_EUNSUPPORTED,
                                  NODE_FMT "running mean/var outputs are not supported",
                                  NODE_ARGS());
    double eps = attr_float(n, "epsilon", 1e-5f);
    size_t per_out = (size_t)(conv->cin / conv->group) * (size_t)conv->kh * (size_t)conv->kw;
    for (int co = 0; co < conv->cout; co++) {
        double var = p[3]->f[co];
        if (!(var + eps > 0))
            return sf_err_set(l->err, SF_EINVAL, NODE_FMT "variance %g + epsilon is not positive",
                              NODE_ARGS(), var);
        double s = p[0]->f[co] / sqrt(var + eps);
        for (size_t k = 0; k < per_out; k++)
            conv->w[(size_t)co * per_out + k] = (float)(conv->w[(size_t)co * per_out + k] * s);
        conv->bias[co] = (float)((conv->bias[co] - p[2]->f[co]) * s + p[1]->f[co]);
    }
    /* The Conv now writes the BatchNormalization's output name. */
    return rename_to_output(l, n, x);
}

static int load_pool(struct ld *l, const Onnx__GraphProto *g, const Onnx__NodeProto *n,
                     enum sf__nn_op_kind kind, int global)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    struct sf_nn_shape in = l->st->tensors[x].shape;
    struct sf__nn_op tmp = {0};
    struct win win = {AP_NOTSET, 0};
    tmp.dh = tmp.dw = 1;
    if (global) {
        if (in.ndim != 3)
            return sf_err_set(l->err, SF_EINVAL, NODE_FMT "shape mismatch: input is not NCHW",
                              NODE_ARGS());
        tmp.kh = (int)in.dims[1];
        tmp.kw = (int)in.dims[2];
        tmp.sh = tmp.kh;
        tmp.sw = tmp.kw;
    } else {
        rc = window_attrs(l, n, &tmp, 1, 0, &win);
        if (rc)
            return rc;
        if (attr_int(n, "storage_order", 0) != 0)
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "storage_order=1", NODE_ARGS());
        if (n->n_output > 1 && n->output[1] && *n->output[1])
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "Indices output", NODE_ARGS());
        tmp.count_include_pad = (int)attr_int(n, "count_include_pad", 0);
        /* The rounded-up windows are not counted as padding by the frameworks. */
        if (kind == SF__OP_AVGPOOL && tmp.count_include_pad && win.ceil_mode)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "ceil_mode=1 with count_include_pad=1 is not supported",
                              NODE_ARGS());
    }
    /* A Pad whose output only this pool reads: zero pads are nothing; otherwise its zeros are
     * the padding an AveragePool with count_include_pad=1 counts anyway. */
    int pad_i = global || win.ap != AP_NOTSET ? -1 : sole_pad_producer(l, g, x, n->input[0]);
    if (pad_i >= 0) {
        const struct sf__nn_op *pad = &l->st->ops[pad_i];
        int zero = !pad->pt && !pad->pl && !pad->pb && !pad->pr;
        if (zero || (kind == SF__OP_AVGPOOL && tmp.count_include_pad && !win.ceil_mode)) {
            tmp.pt += pad->pt;
            tmp.pl += pad->pl;
            tmp.pb += pad->pb;
            tmp.pr += pad->pr;
            x = pad->in0;
            in = l->st->tensors[x].shape;
        } else {
            pad_i = -1;
        }
    }
    struct sf_nn_shape out;
    rc = window_out_shape(l, n, &tmp, &win, &in, in.ndim == 3 ? in.dims[0] : 0, &out);
    if (rc)
        return rc;
    if (pad_i >= 0)
        drop_op(l, pad_i);
    struct sf__nn_op *op;
    rc = add_op(l, n, kind, &op);
    if (rc)
        return rc;
    char *keep = op->node_name;
    *op = tmp;
    op->kind = kind;
    op->node_name = keep;
    op->in0 = x;
    op->in1 = -1;
    return node_output(l, n, &out, &op->out);
}

/* Clip's bounds: inputs min and max (opset >= 11; each optional, a float32 scalar constant)
 * or attributes min and max (before). */
static int clip_bounds(struct ld *l, const Onnx__NodeProto *n, float *lo, float *hi)
{
    *lo = attr_float(n, "min", -FLT_MAX);
    *hi = attr_float(n, "max", FLT_MAX);
    for (size_t i = 1; i < 3 && i < n->n_input; i++) {
        if (!n->input[i] || !*n->input[i])
            continue;
        struct ld_const *c = node_const(l, n, i);
        if (!c || !c->f || c->numel != 1)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "%s must be a float32 scalar constant", NODE_ARGS(),
                              i == 1 ? "min" : "max");
        *(i == 1 ? lo : hi) = c->f[0];
    }
    if (!(*lo <= *hi))
        return sf_err_set(l->err, SF_EINVAL, NODE_FMT "min %g above max %g", NODE_ARGS(),
                          (double)*lo, (double)*hi);
    return SF_OK;
}

static int load_unary(struct ld *l, const Onnx__GraphProto *g, const Onnx__NodeProto *n,
                      enum sf__nn_op_kind kind)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    float lo = 0.0f, hi = 0.0f;
    if (kind == SF__OP_CLIP && (rc = clip_bounds(l, n, &lo, &hi)))
        return rc;
    if (kind == SF__OP_RELU || kind == SF__OP_CLIP) {
        struct sf__nn_op *conv = sole_conv_producer(l, g, x, n->input[0]);
        if (conv && conv->act == SF__ACT_NONE) {
            /* Conv+Relu, Conv+Clip: one pass instead of two */
            conv->act = kind == SF__OP_RELU ? SF__ACT_RELU : SF__ACT_CLIP;
            conv->act_lo = lo;
            conv->act_hi = hi;
            return rename_to_output(l, n, x);
        }
    }
    struct sf_nn_shape out = l->st->tensors[x].shape;
    if (kind == SF__OP_SOFTMAX) {
        int64_t axis = attr_int(n, "axis", -1);
        if (out.ndim != 1 || (axis != -1 && axis != 1))
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "only over the last axis of a [N,K] tensor", NODE_ARGS());
    }
    if (kind == SF__OP_RESHAPE) { /* Identity, Dropout (inference: the identity) */
        if (attr_int(n, "training_mode", 0) != 0 || (n->n_input > 2 && n->input[2] && *n->input[2]))
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "training mode", NODE_ARGS());
    }
    struct sf__nn_op *op;
    rc = add_op(l, n, kind, &op);
    if (rc)
        return rc;
    op->in0 = x;
    op->act_lo = lo;
    op->act_hi = hi;
    return node_output(l, n, &out, &op->out);
}

static int load_reshape(struct ld *l, const Onnx__NodeProto *n, int flatten)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    const struct sf_nn_shape in = l->st->tensors[x].shape;
    size_t numel = sf_nn_shape_numel(&in);
    struct sf_nn_shape out = {0};
    if (flatten) {
        if (attr_int(n, "axis", 1) != 1)
            return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "only axis=1 is supported",
                              NODE_ARGS());
        out.ndim = 1;
        out.dims[0] = (int64_t)numel;
    } else {
        struct ld_const *s = node_const(l, n, 1);
        if (!s || !s->i || s->ndims != 1 || s->numel < 2 || s->numel > SF_NN_MAX_DIMS + 1)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "shape must be a constant int64 vector of 2..%d values",
                              NODE_ARGS(), SF_NN_MAX_DIMS + 1);
        /* The batch dimension must be kept: shape[0] is 0 (copy) or -1 with the rest known. */
        if (s->i[0] != 0 && s->i[0] != -1)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "shape[0] must be 0 or -1 (the batch dimension)",
                              NODE_ARGS());
        int infer = -1;
        size_t known = 1;
        out.ndim = (int)s->numel - 1;
        for (int i = 0; i < out.ndim; i++) {
            int64_t d = s->i[i + 1];
            if (d == 0 && i < in.ndim)
                d = in.dims[i];
            if (d == -1 && infer < 0 && s->i[0] == 0) {
                infer = i;
                d = 1;
            } else if (d <= 0 || d > ((int64_t)1 << 24)) {
                return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "bad shape value %lld",
                                  NODE_ARGS(), (long long)s->i[i + 1]);
            }
            out.dims[i] = d;
            known *= (size_t)d;
        }
        if (infer >= 0) {
            if (known == 0 || numel % known)
                return sf_err_set(l->err, SF_EINVAL, NODE_FMT "shape mismatch", NODE_ARGS());
            out.dims[infer] = (int64_t)(numel / known);
        } else if (known != numel) {
            return sf_err_set(l->err, SF_EINVAL,
                              NODE_FMT "shape mismatch: %zu elements per request into %zu",
                              NODE_ARGS(), numel, known);
        }
    }
    struct sf__nn_op *op;
    rc = add_op(l, n, SF__OP_RESHAPE, &op);
    if (rc)
        return rc;
    op->in0 = x;
    return node_output(l, n, &out, &op->out);
}

static int load_gemm(struct ld *l, const Onnx__NodeProto *n, int matmul)
{
    int x;
    int rc = node_tensor(l, n, 0, &x);
    if (rc)
        return rc;
    const struct sf_nn_shape in = l->st->tensors[x].shape;
    struct ld_const *w = node_const(l, n, 1);
    struct ld_const *c = !matmul && n->n_input > 2 && *n->input[2] ? node_const(l, n, 2) : NULL;
    if (!w || !w->f || w->ndims != 2)
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "B must be a float32 2-D initializer",
                          NODE_ARGS());
    int64_t trans_b = matmul ? 0 : attr_int(n, "transB", 0);
    if (!matmul && attr_int(n, "transA", 0) != 0)
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "transA=1 is not supported",
                          NODE_ARGS());
    int64_t nin = trans_b ? w->dims[1] : w->dims[0];
    int64_t nout = trans_b ? w->dims[0] : w->dims[1];
    if (in.ndim != 1 || in.dims[0] != nin) {
        char buf[96];
        shape_str(&in, buf, sizeof(buf));
        return sf_err_set(l->err, SF_EINVAL,
                          NODE_FMT "shape mismatch: input %s, weights expect [N,%lld]", NODE_ARGS(),
                          buf, (long long)nin);
    }
    if (!matmul && n->n_input > 2 && *n->input[2] &&
        (!c || !c->f || (c->numel != (size_t)nout && c->numel != 1)))
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          NODE_FMT "C must be a float32 initializer of 1 or %lld values",
                          NODE_ARGS(), (long long)nout);
    float alpha = matmul ? 1.0f : attr_float(n, "alpha", 1.0f);
    float beta = matmul ? 1.0f : attr_float(n, "beta", 1.0f);
    struct sf__nn_op *op;
    rc = add_op(l, n, SF__OP_GEMM, &op);
    if (rc)
        return rc;
    op->in0 = x;
    op->cin = (int)nin;
    op->cout = (int)nout;
    op->w = sf__nn_alloc_big((size_t)(nin * nout) * sizeof(float));
    op->bias = calloc((size_t)nout, sizeof(float));
    if (!op->w || !op->bias)
        return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
    for (int64_t o = 0; o < nout; o++)
        for (int64_t k = 0; k < nin; k++)
            op->w[o * nin + k] = alpha * (trans_b ? w->f[o * nin + k] : w->f[k * nout + o]);
    if (c)
        for (int64_t o = 0; o < nout; o++)
            op->bias[o] = beta * c->f[c->numel == 1 ? 0 : o];
    struct sf_nn_shape out = {.ndim = 1, .dims = {nout}};
    return node_output(l, n, &out, &op->out);
}

/* The per-request shape constant c broadcasts to over tensor shape t (ONNX's multidirectional
 * rule, one way: c's dimensions right-aligned with [N, t...], each 1 or equal, the one facing
 * the batch 1). 0 when it does not. */
static int broadcast_shape(const struct ld_const *c, const struct sf_nn_shape *t,
                           struct sf_nn_shape *out)
{
    if (c->ndims > t->ndim + 1)
        return 0;
    *out = *t;
    for (int i = 0; i < t->ndim; i++) {
        int ci = c->ndims - t->ndim + i; /* c's axis facing t's axis i */
        int64_t d = ci >= 0 ? c->dims[ci] : 1;
        if (d != 1 && d != t->dims[i])
            return 0;
        out->dims[i] = d;
    }
    return c->ndims <= t->ndim || c->dims[0] == 1;
}

/* Add or Mul: two tensors of the same shape, or a tensor and a constant that broadcasts to
 * it (either order). */
static int load_binary(struct ld *l, const Onnx__NodeProto *n, enum sf__nn_op_kind kind)
{
    if (n->n_input != 2)
        return sf_err_set(l->err, SF_EPARSE, NODE_FMT "needs 2 inputs", NODE_ARGS());
    int a = find_tensor(l->st, n->input[0]);
    int b = find_tensor(l->st, n->input[1]);
    struct ld_const *ca = find_const(l, n->input[0]);
    struct ld_const *cb = find_const(l, n->input[1]);
    if (a < 0 && b < 0)
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "needs at least one tensor input",
                          NODE_ARGS());
    struct sf__nn_op *op;
    int rc;
    if (a >= 0 && b >= 0) {
        const struct sf_nn_shape *sa = &l->st->tensors[a].shape, *sb = &l->st->tensors[b].shape;
        if (sa->ndim != sb->ndim || memcmp(sa->dims, sb->dims, sizeof(sa->dims[0]) * sa->ndim))
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "shape mismatch: broadcasting between two activations is "
                                       "not supported",
                              NODE_ARGS());
        rc = add_op(l, n, kind, &op);
        if (rc)
            return rc;
        op->in0 = a;
        op->in1 = b;
    } else {
        int t = a >= 0 ? a : b;
        struct ld_const *c = a >= 0 ? cb : ca;
        if (!c || !c->f)
            return sf_err_set(l->err, SF_EPARSE, NODE_FMT "input '%s' is not defined", NODE_ARGS(),
                              a >= 0 ? n->input[1] : n->input[0]);
        struct sf_nn_shape cs;
        if (!broadcast_shape(c, &l->st->tensors[t].shape, &cs))
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "constant of %zu values does not broadcast to one request's "
                                       "shape",
                              NODE_ARGS(), c->numel);
        rc = add_op(l, n, kind, &op);
        if (rc)
            return rc;
        op->in0 = t;
        op->cst_len = c->numel;
        op->cst_shape = cs;
        op->cst = malloc(c->numel * sizeof(float) + 1);
        if (!op->cst)
            return sf_err_set(l->err, SF_ENOMEM, "%s: out of memory", l->path);
        if (c->numel)
            memcpy(op->cst, c->f, c->numel * sizeof(float));
    }
    struct sf_nn_shape out = l->st->tensors[op->in0].shape;
    return node_output(l, n, &out, &op->out);
}

static int load_node(struct ld *l, const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    const char *t = n->op_type ? n->op_type : "";
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
        return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "unsupported operator domain '%s'",
                          NODE_ARGS(), n->domain);
    if (!strcmp(t, "Constant")) {
        const Onnx__AttributeProto *a = find_attr(n, "value");
        if (!a || !a->t || n->n_output != 1)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              NODE_FMT "only the tensor 'value' form is supported", NODE_ARGS());
        if (find_tensor(l->st, n->output[0]) >= 0 || find_const(l, n->output[0]))
            return sf_err_set(l->err, SF_EPARSE, "%s: tensor '%s' is defined twice", l->path,
                              n->output[0]);
        return add_const(l, n->output[0], a->t);
    }
    if (!strcmp(t, "Conv"))
        return load_conv(l, g, n);
    if (!strcmp(t, "Pad"))
        return load_pad(l, n);
    if (!strcmp(t, "BatchNormalization"))
        return load_batchnorm(l, g, n);
    if (!strcmp(t, "Relu"))
        return load_unary(l, g, n, SF__OP_RELU);
    if (!strcmp(t, "Clip"))
        return load_unary(l, g, n, SF__OP_CLIP);
    if (!strcmp(t, "Identity") || !strcmp(t, "Dropout"))
        return load_unary(l, g, n, SF__OP_RESHAPE);
    if (!strcmp(t, "Softmax"))
        return load_unary(l, g, n, SF__OP_SOFTMAX);
    if (!strcmp(t, "MaxPool"))
        return load_pool(l, g, n, SF__OP_MAXPOOL, 0);
    if (!strcmp(t, "AveragePool"))
        return load_pool(l, g, n, SF__OP_AVGPOOL, 0);
    if (!strcmp(t, "GlobalAveragePool"))
        return load_pool(l, g, n, SF__OP_AVGPOOL, 1);
    if (!strcmp(t, "Flatten"))
        return load_reshape(l, n, 1);
    if (!strcmp(t, "Reshape"))
        return load_reshape(l, n, 0);
    if (!strcmp(t, "Gemm"))
        return load_gemm(l, n, 0);
    if (!strcmp(t, "MatMul"))
        return load_gemm(l, n, 1);
    if (!strcmp(t, "Add"))
        return load_binary(l, n, SF__OP_ADD);
    if (!strcmp(t, "Mul"))
        return load_binary(l, n, SF__OP_MUL);
    return sf_err_set(l->err, SF_EUNSUPPORTED, NODE_FMT "unsupported operator '%s'", NODE_ARGS(),
                      t);
}

/* The graph input: [N, ...] float32 with a dynamic (or any) first dimension. */
static int load_input(struct ld *l, const Onnx__GraphProto *g)
{
    const Onnx__ValueInfoProto *vi = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (find_const(l, g->input[i]->name))
            continue; /* old exporters list initializers as inputs too */
        if (vi)
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              "%s: more than one graph input ('%s', "
                              "'%s')",
                              l->path, vi->name, g->input[i]->name);
        vi = g->input[i];
    }
    if (!vi || !vi->name)
        return sf_err_set(l->err, SF_EPARSE, "%s: graph has no input", l->path);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        !tp->tensor_type->shape)
        return sf_err_set(l->err, SF_EPARSE, "%s: input '%s' has no tensor shape", l->path,
                          vi->name);
    if (tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return sf_err_set(l->err, SF_EUNSUPPORTED, "%s: input '%s' is not float32", l->path,
                          vi->name);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    if (sh->n_dim < 2 || sh->n_dim > SF_NN_MAX_DIMS + 1)
        return sf_err_set(l->err, SF_EUNSUPPORTED, "%s: input '%s' has rank %zu (2..%d)", l->path,
                          vi->name, sh->n_dim, SF_NN_MAX_DIMS + 1);
    struct sf_nn_shape s = {.ndim = (int)sh->n_dim - 1};
    for (size_t i = 1; i < sh->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
        if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            d->dim_value <= 0 || d->dim_value > (1 << 20))
            return sf_err_set(l->err, SF_EUNSUPPORTED,
                              "%s: input '%s': dimension %zu must be a fixed positive number",
                              l->path, vi->name, i);
        s.dims[i - 1] = d->dim_value;
    }
    if (sf_nn_shape_numel(&s) > SF_NN_MAX_TENSOR_NUMEL)
        return sf_err_set(l->err, SF_ETOOBIG, "%s: input '%s' is too large per request", l->path,
                          vi->name);
    return add_tensor(l, vi->name, &s, &l->st->input);
}

static int load_outputs(struct ld *l, const Onnx__GraphProto *g)
{
    struct sf_nn_stage *st = l->st;
    st->hidden = st->logits = -1;
    if (g->n_output < 1 || g->n_output > 2)
        return sf_err_set(l->err, SF_EUNSUPPORTED,
                          "%s: graph has %zu outputs (1: logits, or 2: hidden and logits)", l->path,
                          g->n_output);
    /* An output named "logits" is the classifier; otherwise the last output is. */
    int li = (int)g->n_output - 1;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && !strcmp(g->output[i]->name, "logits"))
            li = (int)i;
    for (size_t i = 0; i < g->n_output; i++) {
        int t = find_tensor(st, g->output[i]->name);
        if (t < 0)
            return sf_err_set(l->err, SF_EPARSE, "%s: output '%s' is not produced by any node",
                              l->path, g->output[i]->name ? g->output[i]->name : "");
        if ((int)i == li)
            st->logits = t;
        else
            st->hidden = t;
    }
    const struct sf_nn_shape *ls = &st->tensors[st->logits].shape;
    if (ls->ndim != 1 || ls->dims[0] < 1 || ls->dims[0] > SF_NN_MAX_CLASSES)
        return sf_err_set(l->err, SF_EINVAL,
                          "%s: shape mismatch: logits must be [N,K] with 1 <= K <= %d", l->path,
                          SF_NN_MAX_CLASSES);
    return SF_OK;
}

void sf_nn_stage_free(struct sf_nn_stage *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->ntensors; i++)
        free(st->tensors[i].name);
    for (int i = 0; i < st->nops; i++)
        op_free(&st->ops[i]);
    free(st->tensors);
    free(st->ops);
    free(st->name);
    free(st);
}

int sf_nn_stage_load_mem(const void *buf, size_t len, const char *name, struct sf_nn_stage **out,
                         struct sf_err *err)
{
    *out = NULL;
    if (!name)
        name = "<memory>";
    if (len > SF_NN_MAX_ONNX_BYTES)
        return sf_err_set(err, SF_ETOOBIG, "%s: larger than %zu bytes", name, SF_NN_MAX_ONNX_BYTES);
    if (len == 0)
        return sf_err_set(err, SF_EPARSE, "%s: empty file", name);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return sf_err_set(err, SF_EPARSE,
                          "%s: not a valid ONNX ModelProto (truncated or corrupt protobuf)", name);
    struct ld l = {.path = name, .err = err};
    int rc = SF_OK;
    l.st = calloc(1, sizeof(*l.st));
    if (!l.st) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
        goto err_free_proto;
    }
    l.st->input = l.st->hidden = l.st->logits = -1;
    l.st->name = sf_strdup(name);
    if (!l.st->name) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
        goto err_free_stage;
    }
    const Onnx__GraphProto *g = mp->graph;
    if (!g || g->n_node == 0) {
        rc = sf_err_set(err, SF_EPARSE, "%s: ONNX model has no graph (truncated?)", name);
        goto err_free_stage;
    }
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version &&
            (o->version < 7 || o->version > 17)) {
            rc = sf_err_set(err, SF_EUNSUPPORTED, "%s: opset %lld (supported: 7..17)", name,
                            (long long)o->version);
            goto err_free_stage;
        }
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        const char *iname = g->initializer[i]->name;
        if (!iname || !*iname || find_const(&l, iname)) {
            rc = sf_err_set(err, SF_EPARSE, "%s: initializer %zu has no or a duplicate name", name,
                            i);
            goto err_free_stage;
        }
        rc = add_const(&l, iname, g->initializer[i]);
        if (rc)
            goto err_free_stage;
    }
    rc = load_input(&l, g);
    if (rc)
        goto err_free_stage;
    for (size_t i = 0; i < g->n_node; i++) {
        rc = load_node(&l, g, g->node[i]);
        if (rc)
            goto err_free_stage;
    }
    for (int i = 0; i < l.st->nops; i++) {
        struct sf__nn_op *op = &l.st->ops[i];
        if (op->kind != SF__OP_PAD)
            continue;
        if (!op->pt && !op->pl && !op->pb && !op->pr) {
            op->kind = SF__OP_RESHAPE; /* zero padding: a copy */
            continue;
        }
        rc = sf_err_set(err, SF_EUNSUPPORTED,
                        "%s: node '%s' (Pad): only supported as the only input of a Conv or of "
                        "an AveragePool with count_include_pad=1 (folded into its pads)",
                        name, op->node_name);
        goto err_free_stage;
    }
    rc = load_outputs(&l, g);
    if (rc)
        goto err_free_stage;
    free_consts(&l);
    onnx__model_proto__free_unpacked(mp, NULL);
    *out = l.st;
    return SF_OK;

err_free_stage:
    sf_nn_stage_free(l.st);
err_free_proto:
    free_consts(&l);
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}

int sf_nn_stage_load(const char *path, struct sf_nn_stage **out, struct sf_err *err)
{
    char *buf;
    size_t len;
    *out = NULL;
    int rc = sf_read_file(path, SF_NN_MAX_ONNX_BYTES, &buf, &len, err);
    if (rc)
        return rc;
    rc = sf_nn_stage_load_mem(buf, len, path, out, err);
    free(buf);
    return rc;
}

const struct sf_nn_shape *sf_nn_stage_input_shape(const struct sf_nn_stage *st)
{
    return &st->tensors[st->input].shape;
}

const struct sf_nn_shape *sf_nn_stage_hidden_shape(const struct sf_nn_stage *st)
{
    return st->hidden >= 0 ? &st->tensors[st->hidden].shape : &st->none_shape;
}

int sf_nn_stage_num_classes(const struct sf_nn_stage *st)
{
    return (int)st->tensors[st->logits].shape.dims[0];
}

size_t sf_nn_stage_num_ops(const struct sf_nn_stage *st)
{
    return (size_t)st->nops;
}

double sf_nn_stage_flops(const struct sf_nn_stage *st)
{
    double macs = 0;
    for (int i = 0; i < st->nops; i++) {
        const struct sf__nn_op *op = &st->ops[i];
        if (op->kind == SF__OP_CONV)
            macs += (double)sf_nn_shape_numel(&st->tensors[op->out].shape) * (op->cin / op->group) *
                    op->kh * op->kw;
        else if (op->kind == SF__OP_GEMM)
            macs += (double)op->cout * op->cin;
    }
    return 2.0 * macs;
}

/* Taps of a kernel of k taps (dilation dil) that read inside an input of `in` values, summed
 * over the `out` output positions (stride, leading padding pad). */
static double taps_inside(int in, int out, int k, int stride, int pad, int dil)
{
    double n = 0;
    for (int t = 0; t < k; t++)
        for (int o = 0; o < out; o++) {
            long i = (long)o * stride - pad + (long)t * dil;
            n += i >= 0 && i < in;
        }
    return n;
}

double sf__nn_op_weight_floats(const struct sf__nn_op *op)
{
    if (op->kind == SF__OP_CONV && op->group > 0)
        return (double)op->cout * (op->cin / op->group) * op->kh * op->kw;
    if (op->kind == SF__OP_GEMM)
        return (double)op->cout * op->cin;
    return 0;
}

double sf__nn_op_flops_direct(const struct sf_nn_stage *st, const struct sf__nn_op *op)
{
    if (op->kind == SF__OP_GEMM)
        return 2.0 * op->cout * op->cin;
    if (op->kind != SF__OP_CONV)
        return 0;
    const struct sf_nn_shape *is = &st->tensors[op->in0].shape, *os = &st->tensors[op->out].shape;
    double taps = taps_inside((int)is->dims[1], (int)os->dims[1], op->kh, op->sh, op->pt, op->dh) *
                  taps_inside((int)is->dims[2], (int)os->dims[2], op->kw, op->sw, op->pl, op->dw);
    return 2.0 * taps * op->cout * (op->cin / op->group);
}

double sf__nn_op_flops_wino(const struct sf_nn_stage *st, const struct sf__nn_op *op, int m)
{
    const struct sf_nn_shape *os = &st->tensors[op->out].shape;
    double tiles = (double)((os->dims[1] + m - 1) / m) * (double)((os->dims[2] + m - 1) / m);
    return 2.0 * tiles * (m + 2) * (m + 2) * op->cin * op->cout;
}
