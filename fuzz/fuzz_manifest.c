/* fuzz_manifest.c - libFuzzer target for the model manifest (model.json) reader: the input is
 * written as model.json into a directory that also holds the bundled stage files, so valid
 * manifests load real stages and broken ones must fail with a message, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serflow/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
    char p[160];
    for (int k = 1; k <= 6; k++) {
        snprintf(p, sizeof(p), "%s/stage%d.onnx", dir, k);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/model.json", dir);
    unlink(p);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sf_fuzz_manifest_XXXXXX");
    if (!mkdtemp(dir))
        abort();
    const char *root = getenv("SF_SOURCE_DIR") ? getenv("SF_SOURCE_DIR") : SF_SOURCE_DIR;
    for (int k = 1; k <= 6; k++) {
        char src[4096], dst[128];
        snprintf(src, sizeof(src), "%s/models/fmnist-ee/stage%d.onnx", root, k);
        snprintf(dst, sizeof(dst), "%s/stage%d.onnx", dir, k);
        if (symlink(src, dst) != 0)
            abort();
    }
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        setup();
    char path[128];
    snprintf(path, sizeof(path), "%s/model.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    struct sf_nn_model *m = NULL;
    struct sf_err err = {{0}};
    if (sf_nn_model_load(dir, &m, &err) == SF_OK)
        sf_nn_model_free(m);
    else if (err.msg[0] == '\0')
        abort(); /* every failure explains itself */
    return 0;
}
