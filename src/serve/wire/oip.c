/*
 * oip.c - the Open Inference Protocol v2 (KServe / Triton) request and response bodies, with the
 * binary tensor extension both ways (binary inputs; binary outputs on request), the outputs a
 * request names, and request bodies compressed with gzip or deflate. Parsing is strict: one FP32
 * input named as the model's metadata says, of the model's shape; every refusal names the field
 * and what was expected, so the ingress can answer 400 with it.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "serflow/wire.h"
#include "wire/wire_int.h"

/* Nesting of "data" arrays: a [n, C, H, W] tensor nests 4 deep; more is malformed. */
#define OIP_MAX_DEPTH 8
/* Inflating a body: the buffer starts at this and doubles (within the caller's cap). */
#define OIP_INFLATE_FIRST_BYTES 65536

const char *const sf_oip_output_names[] = {"label", "probabilities", "exit_stage", "where", NULL};

void sf_oip_request_fini(struct sf_oip_request *r)
{
    if (!r)
        return;
    free(r->x);
    memset(r, 0, sizeof(*r));
}

size_t sf_json_count_values(const char *text, size_t len, size_t limit)
{
    size_t n = 1;
    int in_str = 0;
    for (size_t i = 0; i < len && n <= limit; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == ',' || c == ':') {
            n++;
        }
    }
    return n;
}

size_t sf_oip_parse_bytes(const char *json, size_t json_len, size_t bin_len, size_t max_n,
                          size_t numel)
{
    size_t values = sf_json_count_values(json, json_len, max_n * numel + SF_OIP_MAX_EXTRA_VALUES);
    /* the tree, every string copied once (at most the text), the float tensor (from the JSON's
     * numbers or the binary part) */
    return values * (SF_OIP_TREE_BYTES_PER_VALUE + sizeof(float)) + json_len + bin_len;
}

/* Appends the numbers of a (possibly nested) array to x, at most cap of them. */
static int flatten(const json_t *a, int depth, float *x, size_t cap, size_t *used,
                   struct sf_err *err)
{
    if (depth > OIP_MAX_DEPTH)
        return sf_err_set(err, SF_EINVAL, "inputs[0].data: nested deeper than %d", OIP_MAX_DEPTH);
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_array(v)) {
            int rc = flatten(v, depth + 1, x, cap, used, err);
            if (rc)
                return rc;
            continue;
        }
        if (!json_is_number(v))
            return sf_err_set(err, SF_EINVAL,
                              "inputs[0].data: element %zu is not a number (datatype FP32)", *used);
        if (*used >= cap)
            return sf_err_set(err, SF_EINVAL,
                              "inputs[0].data: more than the %zu values its shape holds", cap);
        double d = json_number_value(v);
        if (!isfinite(d) || fabs(d) > 3.4e38)
            return sf_err_set(err, SF_EINVAL, "inputs[0].data: element %zu is not a finite FP32",
                              *used);
        x[(*used)++] = (float)d;
    }
    return SF_OK;
}

static int parse_shape(const json_t *in, const struct sf_nn_shape *shape, size_t max_n, size_t *n,
                       struct sf_err *err)
{
    const json_t *sh = json_object_get(in, "shape");
    if (!json_is_array(sh) || json_array_size(sh) < 2)
        return sf_err_set(err, SF_EINVAL, "inputs[0].shape: expected an array [n, ...]");
    size_t nd = json_array_size(sh);
    int64_t dims[OIP_MAX_DEPTH] = {0};
    if (nd > OIP_MAX_DEPTH)
        return sf_err_set(err, SF_EINVAL, "inputs[0].shape: %zu dimensions, at most %d", nd,
                          OIP_MAX_DEPTH);
    for (size_t i = 0; i < nd; i++) {
        const json_t *d = json_array_get(sh, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1)
            return sf_err_set(err, SF_EINVAL, "inputs[0].shape[%zu]: expected a positive integer",
                              i);
        dims[i] = json_integer_value(d);
    }
    if ((uint64_t)dims[0] > max_n)
        return sf_err_set(err, SF_ETOOBIG, "inputs[0].shape[0]: %lld images, at most %zu",
                          (long long)dims[0], max_n);
    size_t numel = sf_nn_shape_numel(shape);
    int ok = 0;
    if (nd == 2 && (uint64_t)dims[1] == numel)
        ok = 1; /* [n, numel] */
    if ((int)nd == shape->ndim + 1) {
        ok = 1;
        for (int d = 0; d < shape->ndim; d++)
            ok &= dims[d + 1] == shape->dims[d];
    }
    if (!ok) {
        char want[96] = "";
        size_t used = 0;
        for (int d = 0; d < shape->ndim && used < sizeof(want); d++) {
            int w = snprintf(want + used, sizeof(want) - used, ",%lld", (long long)shape->dims[d]);
            used += w > 0 ? (size_t)w : 0;
        }
        return sf_err_set(err, SF_EINVAL,
                          "inputs[0].shape: expected [n%s] or [n,%zu] for this model", want, numel);
    }
    *n = (size_t)dims[0];
    return SF_OK;
}

/* A binary_data parameter: 1, 0, or -1 when absent; SF_EINVAL when not a boolean. */
static int binary_param(const json_t *params, const char *key, const char *field, int *v,
                        struct sf_err *err)
{
    *v = -1;
    if (!params)
        return SF_OK;
    if (!json_is_object(params))
        return sf_err_set(err, SF_EINVAL, "%s: expected an object", field);
    const json_t *b = json_object_get(params, key);
    if (!b)
        return SF_OK;
    if (!json_is_boolean(b))
        return sf_err_set(err, SF_EINVAL, "%s.%s: expected true or false", field, key);
    *v = json_is_true(b);
    return SF_OK;
}

/* The request's "outputs" (names, each once, and binary_data) and "parameters"
 * (binary_data_output) into out. */
static int parse_outputs(const json_t *root, struct sf_oip_request *out, struct sf_err *err)
{
    int all_binary = 0, rc = binary_param(json_object_get(root, "parameters"), "binary_data_output",
                                          "parameters", &all_binary, err);
    if (rc)
        return rc;
    all_binary = all_binary == 1;
    const json_t *outs = json_object_get(root, "outputs");
    out->n_outputs = 0;
    out->binary = 0;
    if (!outs) {
        out->binary = all_binary ? (1u << SF_OIP_N_OUTPUTS) - 1 : 0;
        return SF_OK;
    }
    if (!json_is_array(outs) || json_array_size(outs) > SF_OIP_MAX_OUTPUTS)
        return sf_err_set(err, SF_EINVAL, "outputs: expected an array of at most %d outputs",
                          SF_OIP_MAX_OUTPUTS);
    size_t i;
    const json_t *o;
    json_array_foreach(outs, i, o)
    {
        const json_t *nm = json_is_object(o) ? json_object_get(o, "name") : NULL;
        if (!json_is_string(nm))
            return sf_err_set(err, SF_EINVAL, "outputs[%zu].name: expected a string", i);
        int k = 0;
        while (sf_oip_output_names[k] && strcmp(sf_oip_output_names[k], json_string_value(nm)))
            k++;
        if (!sf_oip_output_names[k]) {
            char shown[SF_ERR_MAX / 4];
            sf_str_escape(shown, sizeof(shown), json_string_value(nm), json_string_length(nm));
            return sf_err_set(err, SF_EINVAL,
                              "outputs[%zu].name: '%s' is not an output of this model (label, "
                              "probabilities, exit_stage, where)",
                              i, shown);
        }
        for (int j = 0; j < out->n_outputs; j++)
            if (out->outputs[j] == k)
                return sf_err_set(err, SF_EINVAL, "outputs[%zu].name: '%s' asked for twice", i,
                                  sf_oip_output_names[k]);
        char field[48];
        snprintf(field, sizeof(field), "outputs[%zu].parameters", i);
        const json_t *params = json_object_get(o, "parameters");
        int b;
        if ((rc = binary_param(params, "binary_data", field, &b, err)) != SF_OK)
            return rc;
        if (params && json_object_get(params, "classification"))
            return sf_err_set(err, SF_EINVAL,
                              "%s.classification: the classification extension is not served "
                              "(label and probabilities are outputs of their own)",
                              field);
        if (b == 1 || (b < 0 && all_binary))
            out->binary |= 1u << k;
        out->outputs[out->n_outputs++] = k;
    }
    return SF_OK;
}

/* The binary data's count little-endian floats finite: an exponent of all ones is an infinity
 * or a NaN. */
static int check_finite(const void *bin, size_t count, struct sf_err *err)
{
    const unsigned char *b = bin;
    /* first the whole run as words, which the compiler vectorizes; then the bytes, to name one */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t any = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t w;
        memcpy(&w, b + 4 * i, 4);
        any |= (w & 0x7f800000u) == 0x7f800000u;
    }
    if (!any)
        return SF_OK;
#endif
    for (size_t i = 0; i < count; i++)
        if ((b[4 * i + 3] & 0x7f) == 0x7f && (b[4 * i + 2] & 0x80))
            return sf_err_set(err, SF_EINVAL, "binary data: element %zu is not finite", i);
    return SF_OK;
}

static int parse_request(const char *json, size_t json_len, const void *bin, size_t bin_len,
                         const struct sf_nn_shape *shape, size_t max_n, int ref,
                         struct sf_oip_request *out, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t numel = sf_nn_shape_numel(shape);
    /* count before jansson builds a tree: an 8 MB body of zeros is 4 million values (200 MB of
     * tree); the shape can hold at most max_n x numel of them */
    size_t cap = max_n * numel + SF_OIP_MAX_EXTRA_VALUES;
    if (sf_json_count_values(json, json_len, cap) > cap)
        return sf_err_set(err, SF_ETOOBIG,
                          "request body: more than %zu JSON values (%zu images of %zu values at "
                          "most)",
                          cap, max_n, numel);
    json_error_t jerr;
    json_t *root = json_loadb(json, json_len, 0, &jerr);
    if (!root)
        return sf_err_set(err, SF_EPARSE, "request body:%d:%d: invalid JSON: %s", jerr.line,
                          jerr.column, jerr.text);
    int rc = SF_OK;
    if (!json_is_object(root)) {
        rc = sf_err_set(err, SF_EINVAL, "request body: expected a JSON object");
        goto done;
    }
    const json_t *id = json_object_get(root, "id");
    if (id && !json_is_string(id)) {
        rc = sf_err_set(err, SF_EINVAL, "id: expected a string");
        goto done;
    }
    if (id) {
        size_t il = json_string_length(id);
        if (il > SF_OIP_MAX_ID_BYTES || memchr(json_string_value(id), 0, il)) {
            rc = sf_err_set(err, SF_EINVAL, "id: %zu bytes, at most %d without NUL characters", il,
                            SF_OIP_MAX_ID_BYTES);
            goto done;
        }
        memcpy(out->id, json_string_value(id), il);
        out->id[il] = '\0';
    }
    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        rc = sf_err_set(err, SF_EINVAL, "inputs: expected an array of exactly one tensor");
        goto done;
    }
    const json_t *in = json_array_get(inputs, 0);
    if (!json_is_object(in)) {
        rc = sf_err_set(err, SF_EINVAL, "inputs[0]: expected an object");
        goto done;
    }
    const json_t *iname = json_object_get(in, "name");
    if (!json_is_string(iname)) {
        rc = sf_err_set(err, SF_EINVAL, "inputs[0].name: missing (this model's input is '%s')",
                        SF_OIP_INPUT_NAME);
        goto done;
    }
    if (strcmp(json_string_value(iname), SF_OIP_INPUT_NAME) != 0) {
        char shown[SF_ERR_MAX / 4];
        const char *nm = json_string_value(iname);
        sf_str_escape(shown, sizeof(shown), nm, json_string_length(iname));
        rc = sf_err_set(err, SF_EINVAL,
                        "inputs[0].name: '%s' is not an input of this model (its input is '%s')",
                        shown, SF_OIP_INPUT_NAME);
        goto done;
    }
    rc = parse_outputs(root, out, err);
    if (rc)
        goto done;
    const json_t *dt = json_object_get(in, "datatype");
    if (!json_is_string(dt)) {
        rc = sf_err_set(err, SF_EINVAL, "inputs[0].datatype: missing (expected FP32)");
        goto done;
    }
    if (strcmp(json_string_value(dt), "FP32") != 0) {
        rc = sf_err_set(err, SF_EINVAL, "inputs[0].datatype: expected FP32, got %.32s",
                        json_string_value(dt));
        goto done;
    }
    size_t n = 0;
    rc = parse_shape(in, shape, max_n, &n, err);
    if (rc)
        goto done;
    const json_t *params = json_object_get(in, "parameters");
    const json_t *bsize =
        json_is_object(params) ? json_object_get(params, "binary_data_size") : NULL;
    const json_t *data = json_object_get(in, "data");
    if (bsize) {
        if (!json_is_integer(bsize) || (uint64_t)json_integer_value(bsize) != n * numel * 4) {
            rc = sf_err_set(err, SF_EINVAL,
                            "inputs[0].parameters.binary_data_size: expected %zu bytes (n x %zu "
                            "x 4)",
                            n * numel * 4, numel);
            goto done;
        }
        if (!bin || bin_len != n * numel * 4) {
            rc = sf_err_set(err, SF_EINVAL,
                            "binary data: %zu bytes after the JSON header, expected %zu", bin_len,
                            n * numel * 4);
            goto done;
        }
        if ((rc = check_finite(bin, n * numel, err)) != SF_OK)
            goto done;
        if (ref) {
            out->bin = bin;
        } else {
            out->x = malloc(n * numel * sizeof(float));
            if (!out->x) {
                rc = sf_err_set(err, SF_ENOMEM, "out of memory for %zu images", n);
                goto done;
            }
            memcpy(out->x, bin, bin_len);
        }
    } else {
        if (bin && bin_len) {
            rc = sf_err_set(err, SF_EINVAL,
                            "binary data present but inputs[0] has no "
                            "parameters.binary_data_size");
            goto done;
        }
        if (!json_is_array(data)) {
            rc = sf_err_set(err, SF_EINVAL, "inputs[0].data: expected an array of numbers");
            goto done;
        }
        out->x = malloc(n * numel * sizeof(float));
        if (!out->x) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory for %zu images", n);
            goto done;
        }
        size_t used = 0;
        rc = flatten(data, 1, out->x, n * numel, &used, err);
        if (rc)
            goto done;
        if (used != n * numel) {
            rc = sf_err_set(err, SF_EINVAL, "inputs[0].data: %zu values, shape needs %zu", used,
                            n * numel);
            goto done;
        }
    }
    out->n = n;
done:
    json_decref(root);
    if (rc)
        sf_oip_request_fini(out);
    return rc;
}

int sf_oip_parse_request(const char *json, size_t json_len, const void *bin, size_t bin_len,
                         const struct sf_nn_shape *shape, size_t max_n, struct sf_oip_request *out,
                         struct sf_err *err)
{
    return parse_request(json, json_len, bin, bin_len, shape, max_n, 0, out, err);
}

int sf_oip_parse_request_ref(const char *json, size_t json_len, const void *bin, size_t bin_len,
                             const struct sf_nn_shape *shape, size_t max_n,
                             struct sf_oip_request *out, struct sf_err *err)
{
    return parse_request(json, json_len, bin, bin_len, shape, max_n, 1, out, err);
}

int sf_oip_cache_parse(const struct sf_oip_cache *c, const char *json, size_t json_len,
                       const void *bin, size_t bin_len, const struct sf_nn_shape *shape,
                       size_t max_n, struct sf_oip_request *out, struct sf_err *err)
{
    if (!c->valid || !bin || c->shape != shape || c->max_n != max_n || c->json_len != json_len ||
        c->bin_len != bin_len || memcmp(c->json, json, json_len) != 0)
        return SF_ENOTFOUND;
    *out = c->req;
    out->bin = bin;
    int rc = check_finite(bin, bin_len / 4, err);
    if (rc != SF_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

void sf_oip_cache_put(struct sf_oip_cache *c, const char *json, size_t json_len, size_t bin_len,
                      const struct sf_nn_shape *shape, size_t max_n, const struct sf_oip_request *r)
{
    c->valid = 0;
    if (!r->bin || r->x || json_len > sizeof(c->json))
        return;
    memcpy(c->json, json, json_len);
    c->json_len = json_len;
    c->bin_len = bin_len;
    c->shape = shape;
    c->max_n = max_n;
    c->req = *r;
    c->req.bin = NULL;
    c->valid = 1;
}

/* The answer is written straight into one buffer (jansson's tree of a few hundred values per
 * image took more time than the inference of an early exit). */
struct out {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t c = (o->len + n + 1) * 2;
        char *q = realloc(o->p, c);
        if (!q) {
            o->oom = 1;
            return;
        }
        o->p = q;
        o->cap = c;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped; UTF-8 passes through (the
 * strings here are the model's name, a client's id jansson read as UTF-8, and our own). */
static void put_str(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(o, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(o, run, (size_t)(s - run));
        char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            e[1] = (char)c;
            put(o, e, 2);
        } else {
            put(o, e, 6);
        }
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
    put(o, "\"", 1);
}

static void put_int(struct out *o, long long v)
{
    char b[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        b[sizeof(b) - 1 - n++] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        b[sizeof(b) - 1 - n++] = '-';
    put(o, b + sizeof(b) - n, (size_t)n);
}

/* 10^0 .. 10^22: every one exact in a double, so the same value pow(10, k) returns. */
static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A finite number with 7 significant digits, as printf's %.7g writes it (trailing zeros
 * dropped, exponent form below 1e-4 and from 1e7), with ".0" added to an integral value, as
 * jansson did with JSON_REAL_PRECISION(7). */
static void put_real7(struct out *o, double v)
{
    char b[32];
    size_t n = 0;
    if (v == 0) {
        put(o, "0.0", 3);
        return;
    }
    if (v < 0) {
        b[n++] = '-';
        v = -v;
    }
    /* the decimal exponent from the binary one, never above the true one and at most one below
     * (for 0 < |be - 1| <= 1100, (be - 1) log10(2) is at least 4.5e-4 from an integer, far more
     * than the product's rounding; at 0 it is exact): the loop corrects it */
    int be;
    frexp(v, &be);
    int e = (int)floor((be - 1) * 0.30102999566398120);
    long long m = 0;
    for (int k = 0; k < 3; k++) { /* at most: one up, one more where the rounding carries */
        double sc =
            6 - e >= 0 && 6 - e < (int)SF_ARRAY_LEN(POW10) ? POW10[6 - e] : pow(10.0, 6 - e);
        m = (long long)nearbyint(v * sc); /* half to even, as printf */
        if (m >= 10000000)
            e++;
        else if (m < 1000000)
            e--;
        else
            break;
    }
    if (m >= 10000000) { /* rounded up to the next power of ten */
        m /= 10;
        e++;
    }
    char d[8];
    for (int i = 6; i >= 0; i--, m /= 10)
        d[i] = (char)('0' + m % 10);
    int nd = 7;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    if (e < -4 || e >= 7) {
        b[n++] = d[0];
        if (nd > 1) {
            b[n++] = '.';
            for (int i = 1; i < nd; i++)
                b[n++] = d[i];
        }
        int x = e < 0 ? -e : e; /* as printf's "e%+03d" */
        b[n++] = 'e';
        b[n++] = e < 0 ? '-' : '+';
        if (x >= 100)
            b[n++] = (char)('0' + x / 100);
        b[n++] = (char)('0' + x / 10 % 10);
        b[n++] = (char)('0' + x % 10);
    } else if (e >= 0) {
        for (int i = 0; i <= e; i++)
            b[n++] = i < nd ? d[i] : '0';
        b[n++] = '.';
        if (nd > e + 1)
            for (int i = e + 1; i < nd; i++)
                b[n++] = d[i];
        else
            b[n++] = '0';
    } else {
        b[n++] = '0';
        b[n++] = '.';
        for (int i = 0; i < -e - 1; i++)
            b[n++] = '0';
        for (int i = 0; i < nd; i++)
            b[n++] = d[i];
    }
    put(o, b, n);
}

/* The binary bytes of output k for n results (appended to *buf). */
static int put_binary(int k, const struct sf_serve_result *r, size_t n, int nc, char **buf,
                      size_t *len, size_t *cap)
{
    unsigned char b[8];
    char where[96];
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        switch (k) {
        case SF_OIP_OUT_LABEL:
            sf__put64(b, (uint64_t)(int64_t)r[i].label);
            rc = sf__buf_append(buf, len, cap, b, 8, SF_SERVE_MAX_BODY_BYTES);
            break;
        case SF_OIP_OUT_PROBS:
            for (int c = 0; c < nc && !rc; c++) {
                sf__putf(b, r[i].probs[c]);
                rc = sf__buf_append(buf, len, cap, b, 4, SF_SERVE_MAX_BODY_BYTES);
            }
            break;
        case SF_OIP_OUT_EXIT:
            sf__put32(b, (uint32_t)r[i].exit_stage);
            rc = sf__buf_append(buf, len, cap, b, 4, SF_SERVE_MAX_BODY_BYTES);
            break;
        default: { /* BYTES: a 4-byte length before each element */
            sf_serve_where_str(&r[i], where, sizeof(where));
            sf__put32(b, (uint32_t)strlen(where));
            rc = sf__buf_append(buf, len, cap, b, 4, SF_SERVE_MAX_BODY_BYTES);
            if (!rc)
                rc = sf__buf_append(buf, len, cap, where, strlen(where), SF_SERVE_MAX_BODY_BYTES);
        }
        }
        if (rc)
            return SF_ENOMEM;
    }
    return SF_OK;
}

/* Bytes of output k's binary data for n results. */
static size_t binary_size(int k, const struct sf_serve_result *r, size_t n, int nc)
{
    if (k == SF_OIP_OUT_LABEL)
        return 8 * n;
    if (k == SF_OIP_OUT_PROBS)
        return 4 * n * (size_t)nc;
    if (k == SF_OIP_OUT_EXIT)
        return 4 * n;
    size_t total = 0;
    char where[96];
    for (size_t i = 0; i < n; i++)
        total += 4 + strlen(sf_serve_where_str(&r[i], where, sizeof(where)));
    return total;
}

int sf_oip_response(const char *model_name, const char *model_version, const char *id,
                    const struct sf_oip_request *req, const struct sf_serve_result *r, size_t n,
                    char **out, size_t *out_len, size_t *json_len)
{
    static const char *const types[] = {"INT64", "FP32", "INT32", "BYTES"};
    *out = NULL;
    *out_len = *json_len = 0;
    int nc = n ? r[0].num_classes : 0;
    if (nc < 0 || nc > SF_NN_MAX_CLASSES)
        return SF_EINVAL;
    for (size_t i = 0; i < n; i++) { /* every row answered, finite and of the same width */
        if (r[i].status != SF_RESULT_OK || r[i].num_classes != nc || r[i].label < 0 ||
            r[i].label >= nc)
            return SF_EINVAL;
        for (int c = 0; c < nc; c++)
            if (!isfinite(r[i].probs[c]))
                return SF_EINVAL;
    }
    int order[SF_OIP_N_OUTPUTS], n_out = 0;
    unsigned binary = req ? req->binary : 0;
    if (req && req->n_outputs > 0)
        for (int j = 0; j < req->n_outputs && j < SF_OIP_N_OUTPUTS; j++)
            order[n_out++] = req->outputs[j];
    else
        for (int k = 0; k < SF_OIP_N_OUTPUTS; k++)
            order[n_out++] = k;
    struct out o = {NULL, 0, 0, 0};
    size_t guess =
        400 + strlen(model_name) + (id ? 6 * strlen(id) : 0) + n * (48 + (size_t)nc * 14);
    if (!(o.p = malloc(guess)))
        return SF_ENOMEM;
    o.cap = guess;
    puts_(&o, "{\"model_name\":");
    put_str(&o, model_name);
    if (model_version) {
        puts_(&o, ",\"model_version\":");
        put_str(&o, model_version);
    }
    if (id && *id) {
        puts_(&o, ",\"id\":");
        put_str(&o, id);
    }
    puts_(&o, ",\"outputs\":[");
    char where[96];
    for (int j = 0; j < n_out; j++) {
        int k = order[j];
        puts_(&o, j ? ",{\"name\":" : "{\"name\":");
        put_str(&o, sf_oip_output_names[k]);
        puts_(&o, ",\"datatype\":");
        put_str(&o, types[k]);
        puts_(&o, ",\"shape\":[");
        put_int(&o, (long long)n);
        if (k == SF_OIP_OUT_PROBS) {
            put(&o, ",", 1);
            put_int(&o, nc);
        }
        if (binary & (1u << k)) {
            puts_(&o, "],\"parameters\":{\"binary_data_size\":");
            put_int(&o, (long long)binary_size(k, r, n, nc));
            puts_(&o, "}}");
            continue;
        }
        puts_(&o, "],\"data\":[");
        for (size_t i = 0; i < n; i++) {
            if (k == SF_OIP_OUT_PROBS) {
                for (int c = 0; c < nc; c++) {
                    if (i || c)
                        put(&o, ",", 1);
                    put_real7(&o, r[i].probs[c]);
                }
                continue;
            }
            if (i)
                put(&o, ",", 1);
            if (k == SF_OIP_OUT_LABEL)
                put_int(&o, r[i].label);
            else if (k == SF_OIP_OUT_EXIT)
                put_int(&o, r[i].exit_stage);
            else
                put_str(&o, sf_serve_where_str(&r[i], where, sizeof(where)));
        }
        puts_(&o, "]}");
    }
    puts_(&o, "]}");
    if (o.oom) { /* never an answer whose data is shorter than its shape */
        free(o.p);
        return SF_ENOMEM;
    }
    char *text = o.p;
    size_t len = o.len, cap = o.cap;
    *json_len = len;
    for (int j = 0; j < n_out; j++)
        if (binary & (1u << order[j]) && put_binary(order[j], r, n, nc, &text, &len, &cap)) {
            free(text);
            *json_len = 0;
            return SF_ENOMEM;
        }
    *out = text;
    *out_len = len;
    return SF_OK;
}

char *sf_oip_response_json(const char *model_name, const char *id, const struct sf_serve_result *r,
                           size_t n)
{
    char *out;
    size_t len, jl;
    return sf_oip_response(model_name, NULL, id, NULL, r, n, &out, &len, &jl) == SF_OK ? out : NULL;
}

int sf_oip_decode_body(const char *encoding, const void *in, size_t len, size_t max_out,
                       int (*reserve)(void *ctx, size_t bytes), void *ctx, char **out,
                       size_t *out_len, struct sf_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (!encoding || !*encoding || !strcasecmp(encoding, "identity"))
        return SF_OK;
    int window;
    if (!strcasecmp(encoding, "gzip") || !strcasecmp(encoding, "x-gzip"))
        window = 16 + MAX_WBITS; /* the gzip wrapper */
    else if (!strcasecmp(encoding, "deflate"))
        window = MAX_WBITS; /* the zlib wrapper (RFC 9110's deflate) */
    else {
        char shown[64];
        sf_str_escape(shown, sizeof(shown), encoding, strlen(encoding));
        return sf_err_set(err, SF_EUNSUPPORTED,
                          "Content-Encoding: '%s' is not supported (accepted: %s)", shown,
                          SF_OIP_ACCEPT_ENCODING);
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, window) != Z_OK)
        return sf_err_set(err, SF_ENOMEM, "Content-Encoding: out of memory");
    char *buf = NULL;
    size_t cap = 0, used = 0;
    int rc = SF_OK, zr = Z_OK;
    z.next_in = (unsigned char *)(uintptr_t)in;
    z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    if (len > UINT32_MAX)
        rc = sf_err_set(err, SF_ETOOBIG, "Content-Encoding: a %zu-byte body", len);
    while (rc == SF_OK && zr != Z_STREAM_END) {
        if (used == cap) { /* grow: the budget first, the cap always */
            if (cap >= max_out + 1) {
                rc = sf_err_set(err, SF_ETOOBIG,
                                "request body larger than the %zu-byte limit once decoded (%s)",
                                max_out, encoding);
                break;
            }
            size_t want = cap ? cap * 2 : OIP_INFLATE_FIRST_BYTES;
            if (want > max_out + 1)
                want = max_out + 1;
            if (reserve && reserve(ctx, want - cap) != 0) {
                rc =
                    sf_err_set(err, SF_ENOMEM,
                               "server busy: no memory to decode a %s body; retry later", encoding);
                break;
            }
            char *nb = realloc(buf, want);
            if (!nb) {
                rc = sf_err_set(err, SF_ENOMEM, "Content-Encoding: out of memory");
                break;
            }
            buf = nb;
            cap = want;
        }
        z.next_out = (unsigned char *)buf + used;
        z.avail_out = (uInt)(cap - used);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0))
            rc = sf_err_set(err, SF_EPARSE, "request body: corrupt or truncated %s data%s%s",
                            encoding, z.msg ? ": " : "", z.msg ? z.msg : "");
    }
    if (rc == SF_OK && used > max_out)
        rc = sf_err_set(err, SF_ETOOBIG,
                        "request body larger than the %zu-byte limit once decoded (%s)", max_out,
                        encoding);
    if (rc == SF_OK && z.avail_in != 0)
        rc = sf_err_set(err, SF_EPARSE, "request body: %u bytes after the end of the %s data",
                        z.avail_in, encoding);
    inflateEnd(&z);
    if (rc != SF_OK) {
        free(buf);
        return rc;
    }
    if (used == cap) { /* room for a NUL: the JSON part is read as text */
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            return sf_err_set(err, SF_ENOMEM, "Content-Encoding: out of memory");
        }
        buf = nb;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    return SF_OK;
}

char *sf_oip_error_json(const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg ? msg : "");
    if (!o && msg) { /* not UTF-8 (a client's bytes echoed): escaped, still an answer */
        char esc[SF_ERR_MAX * 4];
        sf_str_escape(esc, sizeof(esc), msg, strlen(msg));
        o = json_pack("{s:s}", "error", esc);
    }
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
