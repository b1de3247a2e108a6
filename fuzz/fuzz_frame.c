/* fuzz_frame.c - libFuzzer target for the serving frames: any input must be refused cleanly by
 * the input-frame and result-frame decoders, or decode into contents that re-encode to the same
 * bytes and satisfy what the decoders promise (the model's shape exactly, distinct non-zero ids,
 * answered records within their classes and finite); the id matcher accepts a frame's results
 * against its own ids and refuses them against any other set. */
#include <math.h>
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
    /* a small model shape, so that valid frames are within reach */
    static const struct sf_nn_shape want = {3, {1, 2, 2}};
    struct sf_err err = {{0}};
    uint64_t *ids;
    float *x;
    size_t n;
    struct sf_nn_shape shape;
    double tau;
    for (int any = 0; any < 2; any++) {
        if (sf_frame_input_decode(data, size, any ? NULL : &want, FUZZ_MAX_N, &ids, &x, &n, &shape,
                                  &tau, &err) != SF_OK)
            continue;
        if (!any &&
            (shape.ndim != 3 || shape.dims[0] != 1 || shape.dims[1] != 2 || shape.dims[2] != 2))
            abort(); /* a shape other than the model's got through */
        if (sf_ids_distinct(ids, n, &err) != SF_OK)
            abort();
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
    if (sf_frame_result_decode(data, size, 0, FUZZ_MAX_N, &r, &n, &err) == SF_OK) {
        void *buf;
        size_t len;
        int nc = size >= 8 ? (int)(data[6] | data[7] << 8) : 0;
        if (sf_frame_result_encode(r, n, nc, &buf, &len, &err) != SF_OK)
            abort();
        if (len != size)
            abort();
        char where[96];
        uint64_t *own = malloc((n ? n : 1) * sizeof(*own));
        if (!own)
            abort();
        for (size_t i = 0; i < n; i++) {
            sf_serve_where_str(&r[i], where, sizeof(where));
            if (r[i].status == SF_RESULT_OK &&
                (r[i].label < 0 || r[i].label >= nc || !isfinite(r[i].conf) || r[i].exit_stage < 1))
                abort();
            for (int c = 0; r[i].status == SF_RESULT_OK && c < nc; c++)
                if (!isfinite(r[i].probs[c]))
                    abort();
            own[i] = r[i].id;
        }
        /* a frame matches its own distinct ids; never a different set */
        int distinct = sf_ids_distinct(own, n, &err) == SF_OK;
        if (distinct && sf_frame_results_match(r, n, own, n, &err) != SF_OK)
            abort();
        if (n) {
            own[0] ^= 1;
            if (distinct && sf_frame_results_match(r, n, own, n, &err) == SF_OK)
                abort();
        }
        /* the answer a client gets is built only from answered, finite records */
        char *json = sf_oip_response_json("m", "id", r, n);
        free(json);
        free(own);
        free(buf);
        free(r);
    }
    return 0;
}
