/*
 * frame.c - the binary frames between the ingress, the workers and the functions (layouts in
 * wire.h and docs/serving.md): a batch of inputs in, per-request results out. The hidden state
 * across the cut is nn/'s codec frame. Every count and length is checked against the buffer and
 * a named cap before anything is allocated or read.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"
#include "wire/wire_int.h"

static const unsigned char MAGIC_IN[4] = {'S', 'F', 'I', 'B'};
static const unsigned char MAGIC_RES[4] = {'S', 'F', 'R', 'S'};
#define FRAME_VERSION 1
/* Bytes of one result record before its probabilities. */
#define RESULT_FIXED_BYTES 24

const char *sf_where_name(int where)
{
    switch (where) {
    case SF_WHERE_VM:
        return "vm";
    case SF_WHERE_FUNCTION:
        return "function";
    default:
        return "none";
    }
}

char *sf_serve_where_str(const struct sf_serve_result *r, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = '\0';
    if (r->status != 0) {
        snprintf(buf, size, "failed");
        return buf;
    }
    int head_end = r->exit_stage < r->cut ? r->exit_stage : r->cut;
    size_t used = 0;
    if (r->cut > 0 && head_end >= 1) {
        int w = snprintf(buf, size, "%s:1-%d", sf_where_name(r->head_where), head_end);
        used = w < 0 ? 0 : (size_t)w;
    }
    if (r->exit_stage > r->cut && used < size)
        snprintf(buf + used, size - used, "%sfunction:%d-%d", used ? "," : "", r->cut + 1,
                 r->exit_stage);
    return buf;
}

void sf_serve_result_from_nn(const struct sf_nn_result *in, int num_classes, int cut,
                             int head_where, struct sf_serve_result *out)
{
    memset(out, 0, sizeof(*out));
    out->id = in->id;
    out->label = in->label;
    out->exit_stage = in->exit_stage;
    out->cut = cut;
    out->head_where = cut > 0 ? head_where : SF_WHERE_NONE;
    out->num_classes = num_classes;
    out->conf = in->conf;
    memcpy(out->probs, in->probs, sizeof(float) * (size_t)num_classes);
    /* an image of huge values can overflow the logits: refuse it rather than answer NaN */
    int finite = isfinite(in->conf) && in->label >= 0 && in->label < num_classes;
    for (int c = 0; c < num_classes && finite; c++)
        finite = isfinite(in->probs[c]);
    if (!finite) {
        out->status = SF_RESULT_REFUSED;
        out->label = -1;
        out->conf = 0;
        memset(out->probs, 0, sizeof(out->probs));
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int sf_ids_distinct(const uint64_t *ids, size_t n, struct sf_err *err)
{
    if (n < 2)
        return n == 1 && ids[0] == 0 ? sf_err_set(err, SF_EINVAL, "request id 0") : SF_OK;
    uint64_t *c = malloc(n * sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    memcpy(c, ids, n * sizeof(*c));
    qsort(c, n, sizeof(*c), cmp_u64);
    int rc = SF_OK;
    if (c[0] == 0)
        rc = sf_err_set(err, SF_EINVAL, "request id 0");
    for (size_t i = 1; i < n && rc == SF_OK; i++)
        if (c[i] == c[i - 1])
            rc = sf_err_set(err, SF_EINVAL, "request id %016llx appears twice",
                            (unsigned long long)c[i]);
    free(c);
    return rc;
}

int sf_frame_results_match(const struct sf_serve_result *r, size_t n, const uint64_t *ids,
                           size_t n_ids, struct sf_err *err)
{
    if (n != n_ids)
        return sf_err_set(err, SF_EINVAL, "%zu results for a batch of %zu", n, n_ids);
    if (!n)
        return SF_OK;
    uint64_t *want = malloc(2 * n * sizeof(*want));
    if (!want)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    uint64_t *got = want + n;
    memcpy(want, ids, n * sizeof(*want));
    for (size_t i = 0; i < n; i++)
        got[i] = r[i].id;
    qsort(want, n, sizeof(*want), cmp_u64);
    qsort(got, n, sizeof(*got), cmp_u64);
    int rc = SF_OK;
    for (size_t i = 0; i < n && rc == SF_OK; i++)
        if (got[i] != want[i] || (i && got[i] == got[i - 1]))
            rc =
                sf_err_set(err, SF_EINVAL, "result id %016llx is not one of the batch's (or twice)",
                           (unsigned long long)got[i]);
    free(want);
    return rc;
}

int sf_frame_input_alloc(size_t n, const struct sf_nn_shape *shape, double tau, void **out,
                         size_t *out_len, struct sf_err *err)
{
    size_t numel = sf_nn_shape_numel(shape);
    if (shape->ndim < 1 || shape->ndim > SF_NN_MAX_DIMS || numel == 0 || numel > SF_SERVE_MAX_NUMEL)
        return sf_err_set(err, SF_EINVAL, "input frame: bad per-request shape");
    if (n > SF_SERVE_MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "input frame: %zu requests exceed %u", n,
                          SF_SERVE_MAX_BATCH);
    size_t len = SF_FRAME_INPUT_HEADER_BYTES + n * 8 + n * numel * 4;
    unsigned char *p = malloc(len);
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "input frame: out of memory for %zu bytes", len);
    memcpy(p, MAGIC_IN, 4);
    sf__put16(p + 4, FRAME_VERSION);
    sf__put16(p + 6, (uint32_t)shape->ndim);
    sf__put32(p + 8, (uint32_t)n);
    sf__putf(p + 12, (float)tau);
    for (int d = 0; d < 3; d++)
        sf__put32(p + 16 + 4 * d, d < shape->ndim ? (uint32_t)shape->dims[d] : 0);
    sf__put32(p + 28, 0);
    *out = p;
    *out_len = len;
    return SF_OK;
}

int sf_frame_input_encode(const uint64_t *ids, const float *x, size_t n,
                          const struct sf_nn_shape *shape, double tau, void **out, size_t *out_len,
                          struct sf_err *err)
{
    int rc = sf_frame_input_alloc(n, shape, tau, out, out_len, err);
    if (rc != SF_OK)
        return rc;
    size_t numel = sf_nn_shape_numel(shape);
    unsigned char *q = (unsigned char *)*out + SF_FRAME_INPUT_HEADER_BYTES;
    for (size_t i = 0; i < n; i++, q += 8)
        sf__put64(q, ids[i]);
    for (size_t i = 0; i < n * numel; i++, q += 4)
        sf__putf(q, x[i]);
    return SF_OK;
}

int sf_frame_input_head(const void *buf, size_t len, const struct sf_nn_shape *want, size_t max_n,
                        size_t *n, struct sf_nn_shape *shape, double *tau, struct sf_err *err)
{
    const unsigned char *p = buf;
    *n = 0;
    if (len < SF_FRAME_INPUT_HEADER_BYTES)
        return sf_err_set(err, SF_EPARSE, "input frame: %zu bytes, shorter than its header", len);
    if (memcmp(p, MAGIC_IN, 4) != 0)
        return sf_err_set(err, SF_EUNSUPPORTED, "input frame: bad magic");
    if (sf__get16(p + 4) != FRAME_VERSION)
        return sf_err_set(err, SF_EUNSUPPORTED, "input frame: version %u, expected %d",
                          sf__get16(p + 4), FRAME_VERSION);
    struct sf_nn_shape s = {0};
    s.ndim = (int)sf__get16(p + 6);
    if (s.ndim < 1 || s.ndim > SF_NN_MAX_DIMS)
        return sf_err_set(err, SF_EPARSE, "input frame: ndim %d out of 1..%d", s.ndim,
                          SF_NN_MAX_DIMS);
    size_t numel = 1;
    for (int d = 0; d < 3; d++) {
        uint32_t v = sf__get32(p + 16 + 4 * d);
        if (d < s.ndim) {
            if (v == 0 || v > SF_SERVE_MAX_NUMEL || numel * v > SF_SERVE_MAX_NUMEL)
                return sf_err_set(err, SF_ETOOBIG, "input frame: dims[%d] = %u out of range", d, v);
            s.dims[d] = v;
            numel *= v;
        } else if (v != 0) {
            return sf_err_set(err, SF_EPARSE, "input frame: unused dims[%d] not zero", d);
        }
    }
    if (sf__get32(p + 28) != 0)
        return sf_err_set(err, SF_EPARSE, "input frame: reserved field not zero");
    if (want) { /* the model's shape exactly: a smaller one would be read past its end */
        int same = want->ndim == s.ndim;
        for (int d = 0; d < s.ndim && same; d++)
            same = want->dims[d] == s.dims[d];
        if (!same)
            return sf_err_set(err, SF_EINVAL,
                              "input frame: per-request shape [%lld,%lld,%lld] (%d dims) is not "
                              "the model's",
                              (long long)s.dims[0], (long long)s.dims[1], (long long)s.dims[2],
                              s.ndim);
    }
    uint32_t count = sf__get32(p + 8);
    if (count > max_n || count > SF_SERVE_MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "input frame: %u requests exceed %zu", count,
                          max_n < SF_SERVE_MAX_BATCH ? max_n : (size_t)SF_SERVE_MAX_BATCH);
    double t = sf__getf(p + 12);
    if (!isfinite(t) || t < 0)
        return sf_err_set(err, SF_EINVAL, "input frame: tau is not a finite non-negative number");
    size_t need = SF_FRAME_INPUT_HEADER_BYTES + (size_t)count * 8 + (size_t)count * numel * 4;
    if (len != need)
        return sf_err_set(err, SF_EPARSE, "input frame: %zu bytes, expected %zu for %u requests",
                          len, need, count);
    *n = count;
    *shape = s;
    *tau = t;
    return SF_OK;
}

int sf_frame_input_read(const void *buf, size_t len, size_t n, size_t numel, uint64_t *ids,
                        float *x, struct sf_err *err)
{
    /* what the header step checked, again: the buffer holds what is read (no overflow) */
    if (len < SF_FRAME_INPUT_HEADER_BYTES ||
        n > (len - SF_FRAME_INPUT_HEADER_BYTES) / (8 + 4 * numel))
        return sf_err_set(err, SF_EPARSE, "input frame: %zu bytes, too short for %zu requests", len,
                          n);
    const unsigned char *q = (const unsigned char *)buf + SF_FRAME_INPUT_HEADER_BYTES;
    for (size_t i = 0; i < n; i++, q += 8)
        ids[i] = sf__get64(q);
    int rc = sf_ids_distinct(ids, n, err);
    if (rc != SF_OK) {
        char m[SF_ERR_MAX];
        snprintf(m, sizeof(m), "%s", err ? err->msg : "");
        return sf_err_set(err, rc, "input frame: %s", m);
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(x, q, n * numel * sizeof(float)); /* the wire's order is the host's */
#else
    for (size_t i = 0; i < n * numel; i++, q += 4)
        x[i] = sf__getf(q);
#endif
    return SF_OK;
}

int sf_frame_input_decode(const void *buf, size_t len, const struct sf_nn_shape *want, size_t max_n,
                          uint64_t **ids, float **x, size_t *n, struct sf_nn_shape *shape,
                          double *tau, struct sf_err *err)
{
    *ids = NULL;
    *x = NULL;
    int rc = sf_frame_input_head(buf, len, want, max_n, n, shape, tau, err);
    size_t count = *n;
    if (rc != SF_OK || !count)
        return rc;
    size_t numel = sf_nn_shape_numel(shape);
    *ids = malloc(count * sizeof(uint64_t));
    *x = malloc(count * numel * sizeof(float));
    rc = *ids && *x ? sf_frame_input_read(buf, len, count, numel, *ids, *x, err)
                    : sf_err_set(err, SF_ENOMEM, "input frame: out of memory");
    if (rc != SF_OK) {
        free(*ids);
        free(*x);
        *ids = NULL;
        *x = NULL;
        *n = 0;
    }
    return rc;
}

int sf_frame_result_encode(const struct sf_serve_result *r, size_t n, int num_classes, void **out,
                           size_t *out_len, struct sf_err *err)
{
    if (num_classes < 1 || num_classes > SF_NN_MAX_CLASSES)
        return sf_err_set(err, SF_EINVAL, "result frame: num_classes %d out of 1..%d", num_classes,
                          SF_NN_MAX_CLASSES);
    if (n > SF_SERVE_MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "result frame: %zu results exceed %u", n,
                          SF_SERVE_MAX_BATCH);
    size_t rec = RESULT_FIXED_BYTES + 4 * (size_t)num_classes;
    size_t len = SF_FRAME_RESULT_HEADER_BYTES + n * rec;
    unsigned char *p = calloc(1, len);
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "result frame: out of memory");
    memcpy(p, MAGIC_RES, 4);
    sf__put16(p + 4, FRAME_VERSION);
    sf__put16(p + 6, (uint32_t)num_classes);
    sf__put32(p + 8, (uint32_t)n);
    unsigned char *q = p + SF_FRAME_RESULT_HEADER_BYTES;
    for (size_t i = 0; i < n; i++, q += rec) {
        sf__put64(q, r[i].id);
        sf__put16(q + 8, (uint16_t)(int16_t)r[i].label);
        q[10] = (unsigned char)(r[i].status == SF_RESULT_OK        ? SF_RESULT_OK
                                : r[i].status == SF_RESULT_REFUSED ? SF_RESULT_REFUSED
                                                                   : SF_RESULT_FAILED);
        q[11] = (unsigned char)r[i].exit_stage;
        q[12] = (unsigned char)r[i].cut;
        q[13] = (unsigned char)r[i].head_where;
        sf__putf(q + 16, r[i].conf);
        for (int c = 0; c < num_classes; c++)
            sf__putf(q + RESULT_FIXED_BYTES + 4 * (size_t)c, r[i].probs[c]);
    }
    *out = p;
    *out_len = len;
    return SF_OK;
}

int sf_frame_result_decode(const void *buf, size_t len, int want_classes, size_t max_n,
                           struct sf_serve_result **r, size_t *n, struct sf_err *err)
{
    const unsigned char *p = buf;
    *r = NULL;
    *n = 0;
    if (len < SF_FRAME_RESULT_HEADER_BYTES)
        return sf_err_set(err, SF_EPARSE, "result frame: %zu bytes, shorter than its header", len);
    if (memcmp(p, MAGIC_RES, 4) != 0)
        return sf_err_set(err, SF_EUNSUPPORTED, "result frame: bad magic");
    if (sf__get16(p + 4) != FRAME_VERSION)
        return sf_err_set(err, SF_EUNSUPPORTED, "result frame: version %u, expected %d",
                          sf__get16(p + 4), FRAME_VERSION);
    int nc = (int)sf__get16(p + 6);
    if (nc < 1 || nc > SF_NN_MAX_CLASSES)
        return sf_err_set(err, SF_EPARSE, "result frame: num_classes %d out of 1..%d", nc,
                          SF_NN_MAX_CLASSES);
    if (want_classes > 0 && nc != want_classes)
        return sf_err_set(err, SF_EINVAL, "result frame: %d classes, the model has %d", nc,
                          want_classes);
    if (sf__get32(p + 12) != 0)
        return sf_err_set(err, SF_EPARSE, "result frame: reserved field not zero");
    uint32_t count = sf__get32(p + 8);
    if (count > max_n || count > SF_SERVE_MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "result frame: %u results exceed %zu", count,
                          max_n < SF_SERVE_MAX_BATCH ? max_n : (size_t)SF_SERVE_MAX_BATCH);
    size_t rec = RESULT_FIXED_BYTES + 4 * (size_t)nc;
    size_t want = SF_FRAME_RESULT_HEADER_BYTES + (size_t)count * rec;
    if (len != want)
        return sf_err_set(err, SF_EPARSE, "result frame: %zu bytes, expected %zu for %u results",
                          len, want, count);
    if (!count)
        return SF_OK;
    struct sf_serve_result *out = calloc(count, sizeof(*out));
    if (!out)
        return sf_err_set(err, SF_ENOMEM, "result frame: out of memory");
    const unsigned char *q = p + SF_FRAME_RESULT_HEADER_BYTES;
    for (size_t i = 0; i < count; i++, q += rec) {
        struct sf_serve_result *o = &out[i];
        o->id = sf__get64(q);
        o->label = (int16_t)sf__get16(q + 8);
        o->status = q[10];
        o->exit_stage = q[11];
        o->cut = q[12];
        o->head_where = q[13];
        o->num_classes = nc;
        o->conf = sf__getf(q + 16);
        int bad = q[10] > SF_RESULT_REFUSED || q[13] > SF_WHERE_FUNCTION ||
                  sf__get16(q + 14) != 0 || sf__get32(q + 20) != 0 ||
                  (o->status == 0 &&
                   (o->label < 0 || o->label >= nc || o->exit_stage < 1 || !isfinite(o->conf)));
        for (int c = 0; c < nc; c++) {
            o->probs[c] = sf__getf(q + RESULT_FIXED_BYTES + 4 * (size_t)c);
            bad |= o->status == 0 && !isfinite(o->probs[c]);
        }
        if (bad) {
            free(out);
            return sf_err_set(err, SF_EPARSE, "result frame: record %zu malformed", i);
        }
    }
    *r = out;
    *n = count;
    return SF_OK;
}
