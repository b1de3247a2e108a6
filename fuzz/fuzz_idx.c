/* fuzz_idx.c - libFuzzer target for the IDX image/label reader used by `serflow profile`: the
 * first byte splits the input into an image file and a label file. Any bytes must load or fail
 * with a message, never crash, overflow or leak. */
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

static void cleanup(void)
{
    unlink(img);
    unlink(lbl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!img[0]) {
        snprintf(img, sizeof(img), "/tmp/sf_fuzz_idx_%d.img", (int)getpid());
        snprintf(lbl, sizeof(lbl), "/tmp/sf_fuzz_idx_%d.lbl", (int)getpid());
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    size_t split = data[0];
    if (split > size - 1)
        split = size - 1;
    write_file(img, data + 1, split);
    write_file(lbl, data + 1 + split, size - 1 - split);
    struct sf_nn_dataset d;
    struct sf_err err = {{0}};
    if (sf_nn_dataset_load_idx(img, lbl, 0.5, 0.25, 1000, &d, &err) == SF_OK) {
        if (d.n > 0 && (d.h <= 0 || d.w <= 0))
            abort();
        sf_nn_dataset_fini(&d);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
