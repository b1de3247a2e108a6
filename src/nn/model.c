/*
 * model.c - a model directory: model.json (manifest, format serflow-ee-onnx/1, read with the
 * checked JSON helpers of core/json_in.h: unknown fields, duplicate keys and out-of-range values
 * refused with file:line: field: problem) plus one ONNX file per stage. Checks that the stage
 * shapes chain and agree with the manifest.
 */
#include "nn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"

struct sf_nn_model {
    char *name;
    int nstages;
    int num_classes;
    struct sf_nn_shape input;
    double mean, std;
    char **labels;
    struct sf_nn_stage *stages[SF_NN_MAX_STAGES];
};

static void shape_str(const struct sf_nn_shape *s, char *buf, size_t cap)
{
    size_t off = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ",%lld" : "%lld", (long long)s->dims[i]);
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
}

static int shape_eq(const struct sf_nn_shape *a, const struct sf_nn_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

/* model.json's format tag; a manifest without it, or with another, is refused. */
#define MANIFEST_FORMAT "serflow-ee-onnx/1"

void sf_nn_model_free(struct sf_nn_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nstages; i++)
        sf_nn_stage_free(m->stages[i]);
    if (m->labels)
        for (int i = 0; i < m->num_classes; i++)
            free(m->labels[i]);
    free(m->labels);
    free(m->name);
    free(m);
}

/* A shape member: an array of 1..SF_NN_MAX_DIMS integers in [1, SF_NN_MAX_DIM]. *present is 0
 * when it is absent or null (allowed only without SF__J_REQUIRED). */
static int parse_shape(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                       struct sf_nn_shape *s, int *present)
{
    json_t *v = json_object_get(obj, key);
    long long d[SF_NN_MAX_DIMS];
    size_t n = 0;
    memset(s, 0, sizeof(*s));
    *present = 0;
    if (v && json_is_null(v) && !(flags & SF__J_REQUIRED))
        return SF_OK;
    int rc = sf__j_int_array(c, obj, key, flags, 1, SF_NN_MAX_DIMS, 1, SF_NN_MAX_DIM, d, &n);
    if (rc != SF_OK || n == 0)
        return rc;
    s->ndim = (int)n;
    for (size_t i = 0; i < n; i++)
        s->dims[i] = d[i];
    *present = 1;
    return SF_OK;
}

/* mean or std: a number, or an array of exactly one (one channel). */
static int parse_norm_value(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                            double *out)
{
    json_t *v = json_object_get(obj, key);
    int rc;
    if (json_is_array(v)) {
        if (json_array_size(v) != 1)
            return sf__j_fail(c, key, SF_EUNSUPPORTED,
                              "expected one value (per-channel normalization is not supported)");
        rc = sf__j_num_array(c, obj, key, flags, SF_NN_MAX_NORM, 1, out);
    } else {
        rc = sf__j_num(c, obj, key, flags | SF__J_REQUIRED, SF_NN_MAX_NORM, out);
    }
    if (rc == SF_OK && *out < -SF_NN_MAX_NORM)
        rc = sf__j_fail(c, key, SF_ERANGE, "must be at least %g (got %g)", -SF_NN_MAX_NORM, *out);
    return rc;
}

static int parse_top(struct sf__jctx *c, json_t *root, struct sf_nn_model *m)
{
    static const char *const keys[] = {"format", "name",        "input",  "normalization",
                                       "labels", "num_classes", "stages", "training",
                                       "golden", NULL};
    static const char *const input_keys[] = {"name", "shape", "dtype", "layout", NULL};
    static const char *const norm_keys[] = {"mean", "std", "note", NULL};
    char name[SF_NAME_MAX], text[SF_NAME_MAX];
    json_t *o, *labels;
    int present, rc = sf__j_format(c, root, MANIFEST_FORMAT);
    if (rc == SF_OK)
        rc = sf__j_known(c, root, keys);
    if (rc == SF_OK)
        rc = sf__j_str(c, root, "name", SF__J_REQUIRED, name, sizeof(name));
    if (rc == SF_OK && !(m->name = sf_strdup(name)))
        rc = sf_err_set(c->err, SF_ENOMEM, "%s: out of memory", c->file);
    if (rc == SF_OK)
        rc = sf__j_obj(c, root, "input", SF__J_REQUIRED, &o);
    if (rc == SF_OK) {
        sf__j_push_key(c, "input");
        rc = sf__j_known(c, o, input_keys);
        if (rc == SF_OK)
            rc = parse_shape(c, o, "shape", SF__J_REQUIRED, &m->input, &present);
        if (rc == SF_OK)
            rc = sf__j_str(c, o, "dtype", SF__J_REQUIRED, text, sizeof(text));
        if (rc == SF_OK && strcmp(text, "float32") != 0)
            rc = sf__j_fail(c, "dtype", SF_EUNSUPPORTED, "only \"float32\" is supported");
        snprintf(text, sizeof(text), "NCHW");
        if (rc == SF_OK)
            rc = sf__j_str(c, o, "layout", 0, text, sizeof(text));
        if (rc == SF_OK && strcmp(text, "NCHW") != 0)
            rc = sf__j_fail(c, "layout", SF_EUNSUPPORTED, "only \"NCHW\" is supported");
        sf__j_pop(c);
    }
    /* required: a silent mean 0, std 1 would feed the network unnormalised pixels */
    if (rc == SF_OK)
        rc = sf__j_obj(c, root, "normalization", SF__J_REQUIRED, &o);
    if (rc == SF_OK) {
        sf__j_push_key(c, "normalization");
        rc = sf__j_known(c, o, norm_keys);
        if (rc == SF_OK)
            rc = parse_norm_value(c, o, "mean", SF__J_REQUIRED, &m->mean);
        if (rc == SF_OK)
            rc = parse_norm_value(c, o, "std", SF__J_REQUIRED | SF__J_POSITIVE, &m->std);
        if (rc == SF_OK && m->std < SF_NN_MIN_NORM_STD)
            rc = sf__j_fail(c, "std", SF_ERANGE, "must be at least %g (got %g)", SF_NN_MIN_NORM_STD,
                            m->std);
        sf__j_pop(c);
    }
    if (rc == SF_OK)
        rc = sf__j_arr(c, root, "labels", SF__J_REQUIRED, SF_NN_MAX_CLASSES, &labels);
    if (rc == SF_OK && json_array_size(labels) == 0)
        rc = sf__j_fail(c, "labels", SF_EINVAL, "needs at least one label");
    if (rc == SF_OK && !(m->labels = calloc(json_array_size(labels), sizeof(*m->labels))))
        rc = sf_err_set(c->err, SF_ENOMEM, "%s: out of memory", c->file);
    if (rc == SF_OK) {
        m->num_classes = (int)json_array_size(labels);
        sf__j_push_key(c, "labels");
        for (int i = 0; rc == SF_OK && i < m->num_classes; i++) {
            sf__j_push_index(c, (size_t)i);
            rc = sf__j_str_value(c, NULL, json_array_get(labels, (size_t)i), SF__J_REQUIRED, text,
                                 sizeof(text));
            if (rc == SF_OK && !(m->labels[i] = sf_strdup(text)))
                rc = sf_err_set(c->err, SF_ENOMEM, "%s: out of memory", c->file);
            sf__j_pop(c);
        }
        sf__j_pop(c);
    }
    int ncls = m->num_classes;
    if (rc == SF_OK)
        rc = sf__j_int(c, root, "num_classes", 0, 1, SF_NN_MAX_CLASSES, &ncls);
    if (rc == SF_OK && ncls != m->num_classes)
        rc = sf__j_fail(c, "num_classes", SF_EINVAL, "%d, but there are %d labels", ncls,
                        m->num_classes);
    for (int k = 0; rc == SF_OK && k < 2; k++) /* informational, but objects */
        rc = sf__j_obj(c, root, k ? "golden" : "training", 0, &o);
    return rc;
}

/* Loads each stage of the manifest's stages[] from dir and checks that shapes chain: manifest
 * input -> stage 1 input, stage k hidden -> stage k+1 input, every classifier one output per
 * label, and each stage's input_shape / hidden_shape when the manifest gives them. */
static int load_stages(struct sf__jctx *c, json_t *root, const char *dir, struct sf_nn_model *m)
{
    static const char *const stage_keys[] = {
        "file", "input_shape", "hidden_shape", "outputs", "classifier_test_accuracy", NULL};
    json_t *stages;
    int rc = sf__j_arr(c, root, "stages", SF__J_REQUIRED, SF_NN_MAX_STAGES, &stages);
    if (rc == SF_OK && json_array_size(stages) == 0)
        rc = sf__j_fail(c, "stages", SF_EINVAL, "needs at least one stage");
    if (rc != SF_OK)
        return rc;
    struct sf_nn_shape expect = m->input;
    size_t nst = json_array_size(stages);
    sf__j_push_key(c, "stages");
    for (size_t k = 0; rc == SF_OK && k < nst; k++) {
        json_t *sj = json_array_get(stages, k);
        char file[256], spath[4096 + 256], a[96], b[96];
        struct sf_nn_shape in_m, hid_m;
        int have_in, have_hid;
        double acc = 0;
        json_t *outputs;
        sf__j_push_index(c, k);
        if (!json_is_object(sj))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
        if (rc == SF_OK)
            rc = sf__j_known(c, sj, stage_keys);
        if (rc == SF_OK)
            rc = sf__j_str(c, sj, "file", SF__J_REQUIRED, file, sizeof(file));
        /* a file name in the model's directory, never a path out of it */
        if (rc == SF_OK && (strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..")))
            rc = sf__j_fail(c, "file", SF_EINVAL, "expected a file name in the model directory");
        if (rc == SF_OK)
            rc = parse_shape(c, sj, "input_shape", 0, &in_m, &have_in);
        if (rc == SF_OK)
            rc = parse_shape(c, sj, "hidden_shape", 0, &hid_m, &have_hid);
        if (rc == SF_OK)
            rc = sf__j_arr(c, sj, "outputs", 0, 2, &outputs);
        if (rc == SF_OK)
            rc = sf__j_num(c, sj, "classifier_test_accuracy", SF__J_FRACTION, 1, &acc);
        if (rc == SF_OK && snprintf(spath, sizeof(spath), "%s/%s", dir, file) >= (int)sizeof(spath))
            rc = sf__j_fail(c, "file", SF_EINVAL, "path too long");
        if (rc == SF_OK && (rc = sf_nn_stage_load(spath, &m->stages[k], c->err)) == SF_OK)
            m->nstages = (int)k + 1;
        const struct sf_nn_stage *st = rc == SF_OK ? m->stages[k] : NULL;
        if (st && !shape_eq(sf_nn_stage_input_shape(st), &expect)) {
            shape_str(sf_nn_stage_input_shape(st), a, sizeof(a));
            shape_str(&expect, b, sizeof(b));
            rc = sf__j_fail(c, "file", SF_EINVAL, "shape mismatch: %s takes %s but %s is %s", file,
                            a, k ? "the previous stage's hidden state" : "the model input", b);
        }
        if (rc == SF_OK && have_in && !shape_eq(&in_m, &expect)) {
            shape_str(&in_m, a, sizeof(a));
            shape_str(&expect, b, sizeof(b));
            rc = sf__j_fail(c, "input_shape", SF_EINVAL, "is %s, but %s gives %s", a,
                            k ? "the previous stage" : "input.shape", b);
        }
        if (rc == SF_OK && sf_nn_stage_num_classes(st) != m->num_classes)
            rc = sf__j_fail(c, "file", SF_EINVAL,
                            "shape mismatch: %s's classifier has %d outputs, the model %d labels",
                            file, sf_nn_stage_num_classes(st), m->num_classes);
        const struct sf_nn_shape *hs = st ? sf_nn_stage_hidden_shape(st) : NULL;
        if (rc == SF_OK && k + 1 < nst && hs->ndim == 0)
            rc = sf__j_fail(c, "file", SF_EINVAL,
                            "%s has no hidden output but is not the last stage", file);
        if (rc == SF_OK && have_hid && k + 1 < nst && !shape_eq(&hid_m, hs)) {
            shape_str(hs, a, sizeof(a));
            shape_str(&hid_m, b, sizeof(b));
            rc = sf__j_fail(c, "hidden_shape", SF_EINVAL, "shape mismatch: is %s, %s gives %s", b,
                            file, a);
        }
        if (rc == SF_OK)
            expect = *hs;
        sf__j_pop(c);
    }
    sf__j_pop(c);
    return rc;
}

int sf_nn_model_load(const char *dir, struct sf_nn_model **out, struct sf_err *err)
{
    *out = NULL;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/model.json", dir) >= (int)sizeof(path))
        return sf_err_set(err, SF_EINVAL, "%s: path too long", dir);
    char *text = NULL;
    size_t len;
    int rc = sf_read_file(path, SF_MANIFEST_FILE_BYTES, &text, &len, err);
    if (rc)
        return rc;
    struct sf__jctx c = {.file = path, .text = text, .len = len, .err = err};
    json_t *root = NULL;
    struct sf_nn_model *m = calloc(1, sizeof(*m));
    if (!m)
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    if (rc == SF_OK)
        rc = sf__j_load(&c, &root);
    if (rc == SF_OK)
        rc = parse_top(&c, root, m);
    if (rc == SF_OK)
        rc = load_stages(&c, root, dir, m);
    json_decref(root);
    free(text);
    if (rc != SF_OK) {
        sf_nn_model_free(m);
        return rc;
    }
    *out = m;
    return SF_OK;
}

const char *sf_nn_model_name(const struct sf_nn_model *m)
{
    return m->name;
}

int sf_nn_model_num_stages(const struct sf_nn_model *m)
{
    return m->nstages;
}

int sf_nn_model_num_classes(const struct sf_nn_model *m)
{
    return m->num_classes;
}

const struct sf_nn_stage *sf_nn_model_stage(const struct sf_nn_model *m, int k)
{
    return k >= 1 && k <= m->nstages ? m->stages[k - 1] : NULL;
}

const struct sf_nn_shape *sf_nn_model_input_shape(const struct sf_nn_model *m)
{
    return &m->input;
}

const char *sf_nn_model_label(const struct sf_nn_model *m, int cls)
{
    return cls >= 0 && cls < m->num_classes ? m->labels[cls] : NULL;
}

double sf_nn_model_norm_mean(const struct sf_nn_model *m)
{
    return m->mean;
}

double sf_nn_model_norm_std(const struct sf_nn_model *m)
{
    return m->std;
}
