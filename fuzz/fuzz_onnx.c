/* fuzz_onnx.c - libFuzzer target for the ONNX stage loader: any bytes must be refused cleanly
 * or load into a stage that the reference backend can run on a small batch. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "serflow/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Running is skipped for stages whose per-request input is larger (keeps runs fast). */
#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_err err = {{0}};
    struct sf_nn_stage *st = NULL;
    if (sf_nn_stage_load_mem(data, size, "fuzz.onnx", &st, &err) != SF_OK)
        return 0;
    size_t in_n = sf_nn_shape_numel(sf_nn_stage_input_shape(st));
    size_t hid_n = sf_nn_shape_numel(sf_nn_stage_hidden_shape(st));
    if (in_n <= FUZZ_MAX_INPUT && hid_n <= ((size_t)1 << 20)) {
        struct sf_nn_exec *ex = NULL;
        float *x = calloc(2 * in_n, sizeof(float));
        float *h = calloc(2 * (hid_n ? hid_n : 1), sizeof(float));
        float *l = calloc(2 * (size_t)sf_nn_stage_num_classes(st), sizeof(float));
        if (x && h && l && sf_nn_exec_new(st, SF_NN_BACKEND_REF, &ex, &err) == SF_OK) {
            for (size_t i = 0; i < 2 * in_n; i++)
                x[i] = (float)(i % 7) - 3.0f;
            (void)sf_nn_exec_run(ex, x, 2, h, l, &err);
        }
        sf_nn_exec_free(ex);
        free(x);
        free(h);
        free(l);
    }
    sf_nn_stage_free(st);
    return 0;
}
