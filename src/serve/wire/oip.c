/*
 * oip.c - the Open Inference Protocol v2 (KServe / Triton) request and response bodies, with the
 * binary tensor extension. Parsing is strict: one FP32 input of the model's shape; every refusal
 * names the field and what was expected, so the ingress can answer 400 with it.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"

/* Nesting of "data" arrays: a [n, C, H, W] tensor nests 4 deep; more is malformed. */
#define OIP_MAX_DEPTH 8

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
        /* finite: an exponent of all ones is an infinity or a NaN (little-endian words) */
        const unsigned char *b = bin;
        for (size_t i = 0; i < n * numel; i++)
            if ((b[4 * i + 3] & 0x7f) == 0x7f && (b[4 * i + 2] & 0x80)) {
                rc = sf_err_set(err, SF_EINVAL, "binary data: element %zu is not finite", i);
                goto done;
            }
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
    int e = (int)floor(log10(v));
    long long m = 0;
    for (int k = 0; k < 3; k++) { /* log10 may be off by one at a power of ten */
        double sc = pow(10.0, 6 - e);
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
        n += (size_t)snprintf(b + n, sizeof(b) - n, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
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

char *sf_oip_response_json(const char *model_name, const char *id, const struct sf_serve_result *r,
                           size_t n)
{
    int nc = n ? r[0].num_classes : 0;
    if (nc < 0 || nc > SF_NN_MAX_CLASSES)
        return NULL;
    for (size_t i = 0; i < n; i++) { /* every row answered, finite and of the same width */
        if (r[i].status != SF_RESULT_OK || r[i].num_classes != nc || r[i].label < 0 ||
            r[i].label >= nc)
            return NULL;
        for (int c = 0; c < nc; c++)
            if (!isfinite(r[i].probs[c]))
                return NULL;
    }
    struct out o = {NULL, 0, 0, 0};
    size_t guess =
        400 + strlen(model_name) + (id ? 6 * strlen(id) : 0) + n * (48 + (size_t)nc * 14);
    if (!(o.p = malloc(guess)))
        return NULL;
    o.cap = guess;
    puts_(&o, "{\"model_name\":");
    put_str(&o, model_name);
    if (id && *id) {
        puts_(&o, ",\"id\":");
        put_str(&o, id);
    }
    puts_(&o, ",\"outputs\":[{\"name\":\"label\",\"datatype\":\"INT64\",\"shape\":[");
    put_int(&o, (long long)n);
    puts_(&o, "],\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(&o, ",", 1);
        put_int(&o, r[i].label);
    }
    puts_(&o, "]},{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[");
    put_int(&o, (long long)n);
    put(&o, ",", 1);
    put_int(&o, nc);
    puts_(&o, "],\"data\":[");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < nc; c++) {
            if (i || c)
                put(&o, ",", 1);
            put_real7(&o, r[i].probs[c]);
        }
    puts_(&o, "]},{\"name\":\"exit_stage\",\"datatype\":\"INT32\",\"shape\":[");
    put_int(&o, (long long)n);
    puts_(&o, "],\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(&o, ",", 1);
        put_int(&o, r[i].exit_stage);
    }
    puts_(&o, "]},{\"name\":\"where\",\"datatype\":\"BYTES\",\"shape\":[");
    put_int(&o, (long long)n);
    puts_(&o, "],\"data\":[");
    char buf[96];
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(&o, ",", 1);
        put_str(&o, sf_serve_where_str(&r[i], buf, sizeof(buf)));
    }
    puts_(&o, "]}]}");
    if (o.oom) { /* never an answer whose data is shorter than its shape */
        free(o.p);
        return NULL;
    }
    return o.p;
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
