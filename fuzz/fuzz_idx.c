/* fuzz_idx.c - libFuzzer target for the IDX image/label reader used by `serflow profile`: the
 * first byte is the length of the label file that follows it; the rest is the image file. Any bytes
 * must load or fail with a message, never crash, overflow or leak. What loads then goes where
 * `serflow profile` sends it: sf_nn_dataset_check against the bundled model and, when it passes,
 * the hidden-state measurement on the first images (the path of the heap over-read: 1x1
 * images copied 784 floats at a time). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serflow/nn_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(p, 1, n, f);
    fclose(f);
}

static char img[64], lbl[64];
static struct sf_nn_model *model;
static struct sf_nn_runner *runner;

static char model_dir[64];

static void cleanup(void)
{
    char p[128];
    unlink(img);
    unlink(lbl);
    sf_nn_runner_free(runner);
    sf_nn_model_free(model);
    snprintf(p, sizeof(p), "%s/stage1.onnx", model_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/model.json", model_dir);
    unlink(p);
    rmdir(model_dir);
}

/* A one-stage model around tests/data/nn/gemm_mix.onnx (input [3,5,5], 4 classes): small
 * enough to run on every input that passes the check. */
static void setup(void)
{
    struct sf_err err = {{0}};
    const char *root = getenv("SF_SOURCE_DIR") ? getenv("SF_SOURCE_DIR") : SF_SOURCE_DIR;
    char src[4096], dst[128];
    snprintf(model_dir, sizeof(model_dir), "/tmp/sf_fuzz_idx_model_XXXXXX");
    if (!mkdtemp(model_dir))
        abort();
    snprintf(src, sizeof(src), "%s/tests/data/nn/gemm_mix.onnx", root);
    snprintf(dst, sizeof(dst), "%s/stage1.onnx", model_dir);
    if (symlink(src, dst) != 0)
        abort();
    snprintf(dst, sizeof(dst), "%s/model.json", model_dir);
    FILE *f = fopen(dst, "w");
    if (!f)
        abort();
    fputs("{\"format\": \"serflow-ee-onnx/1\", \"name\": \"fuzz\",\n"
          " \"input\": {\"shape\": [3, 5, 5], \"dtype\": \"float32\"},\n"
          " \"normalization\": {\"mean\": 0.5, \"std\": 0.25},\n"
          " \"labels\": [\"a\", \"b\", \"c\", \"d\"],\n"
          " \"stages\": [{\"file\": \"stage1.onnx\"}]}\n",
          f);
    fclose(f);
    if (sf_nn_model_load(model_dir, &model, &err) != SF_OK ||
        sf_nn_runner_new(model, SF_NN_BACKEND_REF, &runner, &err) != SF_OK) {
        fprintf(stderr, "fuzz_idx: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!img[0]) {
        snprintf(img, sizeof(img), "/tmp/sf_fuzz_idx_%d.img", (int)getpid());
        snprintf(lbl, sizeof(lbl), "/tmp/sf_fuzz_idx_%d.lbl", (int)getpid());
        setup();
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    size_t split = data[0]; /* labels first: short, so a whole 28x28 image stays reachable */
    if (split > size - 1)
        split = size - 1;
    write_file(lbl, data + 1, split);
    write_file(img, data + 1 + split, size - 1 - split);
    struct sf_nn_dataset d;
    struct sf_err err = {{0}};
    if (sf_nn_dataset_load_idx(img, lbl, 0.5, 0.25, 1000, &d, &err) == SF_OK) {
        if (d.n > 0 && (d.h <= 0 || d.w <= 0))
            abort();
        if (sf_nn_dataset_check(&d, model, img, &err) == SF_OK) {
            struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
            if (sf_nn_profile_hidden_sizes(runner, model, d.x, d.n < 2 ? d.n : 2, hs, &err) !=
                SF_OK)
                abort(); /* checked images always run */
        } else if (err.msg[0] == '\0') {
            abort();
        }
        sf_nn_dataset_fini(&d);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
