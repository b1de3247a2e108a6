/* fuzz_frame.c - libFuzzer target for the serving frames: any input must be refused cleanly by
 * the input-frame and result-frame decoders, or decode into contents that re-encode to the same
 * bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps a hostile header from making each run allocate a lot. */
#define FUZZ_MAX_N 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_err err = {{0}};
    uint64_t *ids;
    float *x;
    size_t n;
    struct sf_nn_shape shape;
    double tau;
    if (sf_frame_input_decode(data, size, FUZZ_MAX_N, &ids, &x, &n, &shape, &tau, &err) == SF_OK) {
        void *buf;
        size_t len;
        if (sf_frame_input_encode(ids, x, n, &shape, tau, &buf, &len, &err) != SF_OK)
            abort();
        /* the reserved word and float bit patterns survive: the bytes are identical */
        if (len != size || memcmp(buf, data, len) != 0)
            abort();
        free(buf);
        free(ids);
        free(x);
    }
    struct sf_serve_result *r;
    if (sf_frame_result_decode(data, size, FUZZ_MAX_N, &r, &n, &err) == SF_OK) {
        void *buf;
        size_t len;
        int nc = size >= 8 ? (int)(data[6] | data[7] << 8) : 0;
        if (sf_frame_result_encode(r, n, nc, &buf, &len, &err) != SF_OK)
            abort();
        if (len != size)
            abort();
        char where[96];
        for (size_t i = 0; i < n; i++)
            sf_serve_where_str(&r[i], where, sizeof(where));
        free(buf);
        free(r);
    }
    return 0;
}
