/* test_manifest.c - the model manifest (model.json) reader: the bundled manifest loads; an
 * unknown format, duplicate keys, a missing normalization, unknown fields and out-of-range
 * values are refused with "model.json:line: field: problem" (issue 7, class 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "serflow/nn.h"
#include "test_util.h"

static char dir[] = "/tmp/sf_test_manifest_XXXXXX";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    for (int k = 1; k <= 6; k++) {
        char src[4096], dst[128], rel[64];
        snprintf(rel, sizeof(rel), "models/fmnist-ee/stage%d.onnx", k);
        snprintf(src, sizeof(src), "%s", tu_src(rel));
        snprintf(dst, sizeof(dst), "%s/stage%d.onnx", dir, k);
        if (symlink(src, dst) != 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[128];
    for (int k = 1; k <= 6; k++) {
        snprintf(p, sizeof(p), "%s/stage%d.onnx", dir, k);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/model.json", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}

/* Writes the bundled manifest with `from` replaced by `to` into dir and loads it. */
static int load_with(const char *from, const char *to, struct sf_err *err)
{
    size_t len;
    char *text = tu_read("models/fmnist-ee/model.json", &len);
    char *bad = from ? tu_replace(text, from, to, NULL) : text;
    char path[128];
    snprintf(path, sizeof(path), "%s/model.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(bad, f);
    fclose(f);
    if (bad != text)
        free(bad);
    free(text);
    struct sf_nn_model *m = NULL;
    int rc = sf_nn_model_load(dir, &m, err);
    sf_nn_model_free(m);
    return rc;
}

static void test_bundled_manifest_loads(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    assert_int_equal(load_with(NULL, NULL, &err), SF_OK);
}

static void test_bad_manifests(void **state)
{
    (void)state;
    struct {
        const char *from, *to;
        int status;
        const char *msg;
    } cases[] = {
        {"\"serflow-ee-onnx/1\"", "\"serflow-ee-onnx/9\"", SF_EUNSUPPORTED,
         "model.json:3: format: unsupported format"},
        {"\"format\": \"serflow-ee-onnx/1\",", "", SF_EINVAL, "format: missing required field"},
        {"\"num_classes\": 10,", "\"num_classes\": 10, \"name\": \"again\",", SF_EPARSE,
         "duplicate"},
        {"\"normalization\"", "\"x_normalization\"", SF_EINVAL,
         "normalization: missing required field"},
        {"\"labels\"", "\"lables\"", SF_EINVAL, "lables: unknown field"},
        {"\"num_classes\": 10", "\"num_classes\": 11", SF_EINVAL, "num_classes: 11, but"},
        {"\"file\": \"stage1.onnx\"", "\"file\": \"../stage1.onnx\"", SF_EINVAL,
         "stages[0].file: expected a file name"},
        {"\"file\": \"stage2.onnx\"", "\"file\": \"..\"", SF_EINVAL, "stages[1].file"},
        {"0.353024", "0", SF_ERANGE, "normalization.std[0]: must be positive"},
        {"0.353024", "1e-300", SF_ERANGE, "normalization.std: must be at least"},
        {"\"mean\": [\n      0.28604\n    ]", "\"mean\": [0.1, 0.2, 0.3]", SF_EUNSUPPORTED,
         "per-channel"},
        {"\"dtype\": \"float32\"", "\"dtype\": \"float16\"", SF_EUNSUPPORTED, "input.dtype"},
        {"\"T-shirt/top\"", "\"T-shirt\\u001b[2J\"", SF_EINVAL, "labels[0]: control character"},
        {"\"shape\": [\n      1,", "\"shape\": [\n      0,", SF_ERANGE,
         "input.shape[0]: must be in"},
        {"\"hidden_shape\": [\n        16,", "\"hidden_shape\": [\n        17,", SF_EINVAL,
         "stages[0].hidden_shape: shape mismatch"},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(cases); i++) {
        struct sf_err err = {{0}};
        int rc = load_with(cases[i].from, cases[i].to, &err);
        if (rc != cases[i].status || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu (%s): rc %d (want %d), message '%s' (want '%s')", i, cases[i].to, rc,
                     cases[i].status, err.msg, cases[i].msg);
        if (!strstr(err.msg, "model.json:"))
            fail_msg("case %zu: no file:line in '%s'", i, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundled_manifest_loads),
        cmocka_unit_test(test_bad_manifests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
