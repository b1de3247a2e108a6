/*
 * model.c - a model directory: model.json (manifest, parsed with jansson) plus one ONNX file
 * per stage. Checks that the stage shapes chain and agree with the manifest.
 */
#include "nn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* A JSON array of 1..SF_NN_MAX_DIMS positive integers. */
static int parse_shape(const json_t *j, struct sf_nn_shape *s)
{
    if (!json_is_array(j) || json_array_size(j) < 1 || json_array_size(j) > SF_NN_MAX_DIMS)
        return -1;
    s->ndim = (int)json_array_size(j);
    for (int i = 0; i < s->ndim; i++) {
        const json_t *d = json_array_get(j, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) <= 0 ||
            json_integer_value(d) > SF_NN_MAX_DIM)
            return -1;
        s->dims[i] = json_integer_value(d);
    }
    return 0;
}

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

static int number(const json_t *j, double *out)
{
    if (json_is_array(j) && json_array_size(j) >= 1)
        j = json_array_get(j, 0);
    if (!json_is_number(j))
        return -1;
    *out = json_number_value(j);
    return 0;
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
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root)
        return sf_err_set(err, SF_EPARSE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    struct sf_nn_model *m = calloc(1, sizeof(*m));
    if (!m) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto err_free_json;
    }
    const json_t *name = json_object_get(root, "name");
    m->name = sf_strdup(json_is_string(name) ? json_string_value(name) : "");
    if (!m->name) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto err_free_model;
    }
    const json_t *input = json_object_get(root, "input");
    const json_t *dtype = json_object_get(input, "dtype");
    if (parse_shape(json_object_get(input, "shape"), &m->input)) {
        rc = sf_err_set(err, SF_EPARSE, "%s: input.shape: expected 1..%d positive integers", path,
                        SF_NN_MAX_DIMS);
        goto err_free_model;
    }
    if (!json_is_string(dtype) || strcmp(json_string_value(dtype), "float32")) {
        rc = sf_err_set(err, SF_EUNSUPPORTED, "%s: input.dtype: only \"float32\" is supported",
                        path);
        goto err_free_model;
    }
    const json_t *norm = json_object_get(root, "normalization");
    m->mean = 0.0;
    m->std = 1.0;
    if (norm && (number(json_object_get(norm, "mean"), &m->mean) ||
                 number(json_object_get(norm, "std"), &m->std) || !(m->std > 0))) {
        rc = sf_err_set(err, SF_EPARSE, "%s: normalization: mean and std (> 0) expected", path);
        goto err_free_model;
    }
    const json_t *labels = json_object_get(root, "labels");
    const json_t *ncls = json_object_get(root, "num_classes");
    if (!json_is_array(labels) || json_array_size(labels) < 1 ||
        json_array_size(labels) > SF_NN_MAX_CLASSES) {
        rc = sf_err_set(err, SF_EPARSE, "%s: labels: expected an array of 1..%d strings", path,
                        SF_NN_MAX_CLASSES);
        goto err_free_model;
    }
    if (ncls && (!json_is_integer(ncls) ||
                 json_integer_value(ncls) != (json_int_t)json_array_size(labels))) {
        rc = sf_err_set(err, SF_EINVAL, "%s: num_classes does not match the %zu labels", path,
                        json_array_size(labels));
        goto err_free_model;
    }
    m->labels = calloc(json_array_size(labels), sizeof(*m->labels));
    if (!m->labels) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto err_free_model;
    }
    m->num_classes = (int)json_array_size(labels);
    for (int i = 0; i < m->num_classes; i++) {
        const json_t *s = json_array_get(labels, (size_t)i);
        m->labels[i] = sf_strdup(json_is_string(s) ? json_string_value(s) : "");
        if (!m->labels[i]) {
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
            goto err_free_model;
        }
    }
    const json_t *stages = json_object_get(root, "stages");
    if (!json_is_array(stages) || json_array_size(stages) < 1 ||
        json_array_size(stages) > SF_NN_MAX_STAGES) {
        rc = sf_err_set(err, SF_EPARSE, "%s: stages: expected an array of 1..%d objects", path,
                        SF_NN_MAX_STAGES);
        goto err_free_model;
    }
    struct sf_nn_shape expect = m->input;
    size_t nst = json_array_size(stages);
    for (size_t k = 0; k < nst; k++) {
        const json_t *sj = json_array_get(stages, k);
        const json_t *file = json_object_get(sj, "file");
        if (!json_is_string(file) || strchr(json_string_value(file), '/')) {
            rc = sf_err_set(err, SF_EPARSE, "%s: stages[%zu].file: expected a file name", path, k);
            goto err_free_model;
        }
        char spath[4096];
        if (snprintf(spath, sizeof(spath), "%s/%s", dir, json_string_value(file)) >=
            (int)sizeof(spath)) {
            rc = sf_err_set(err, SF_EINVAL, "%s: stages[%zu]: path too long", path, k);
            goto err_free_model;
        }
        rc = sf_nn_stage_load(spath, &m->stages[k], err);
        if (rc)
            goto err_free_model;
        m->nstages = (int)k + 1;
        const struct sf_nn_stage *st = m->stages[k];
        char a[96], b[96];
        if (!shape_eq(sf_nn_stage_input_shape(st), &expect)) {
            shape_str(sf_nn_stage_input_shape(st), a, sizeof(a));
            shape_str(&expect, b, sizeof(b));
            rc = sf_err_set(err, SF_EINVAL,
                            "%s: shape mismatch: stage %zu input is %s but %s is %s", spath, k + 1,
                            a, k ? "the previous stage's hidden state" : "model input", b);
            goto err_free_model;
        }
        if (sf_nn_stage_num_classes(st) != m->num_classes) {
            rc = sf_err_set(err, SF_EINVAL,
                            "%s: shape mismatch: classifier has %d outputs, model has %d labels",
                            spath, sf_nn_stage_num_classes(st), m->num_classes);
            goto err_free_model;
        }
        const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(st);
        if (k + 1 < nst && hs->ndim == 0) {
            rc = sf_err_set(err, SF_EINVAL, "%s: stage %zu has no hidden output but is not last",
                            spath, k + 1);
            goto err_free_model;
        }
        const json_t *hj = json_object_get(sj, "hidden_shape");
        struct sf_nn_shape hm = {0};
        if (hj && !json_is_null(hj) && parse_shape(hj, &hm)) {
            rc = sf_err_set(err, SF_EPARSE, "%s: stages[%zu].hidden_shape: bad shape", path, k);
            goto err_free_model;
        }
        if (hj && k + 1 < nst && !shape_eq(&hm, hs)) {
            shape_str(hs, a, sizeof(a));
            shape_str(&hm, b, sizeof(b));
            rc = sf_err_set(err, SF_EINVAL,
                            "%s: shape mismatch: stages[%zu].hidden_shape is %s, %s gives %s", path,
                            k, b, json_string_value(file), a);
            goto err_free_model;
        }
        expect = *hs;
    }
    json_decref(root);
    *out = m;
    return SF_OK;

err_free_model:
    sf_nn_model_free(m);
err_free_json:
    json_decref(root);
    return rc;
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
