/* fuzz_codec.c - libFuzzer target for the hidden-state codec: any input must be refused
 * cleanly or decode into a batch that re-encodes and decodes to the same contents. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/nn.h"
#include "serflow/nn_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps a hostile header from making each run allocate a lot. */
#define FUZZ_MAX_HIDDEN_BYTES ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_err err = {{0}};
    struct sf_nn_batch b, c;
    sf_nn_batch_init(&b);
    sf_nn_batch_init(&c);
    double tau = 0, tau2 = 0;
    if (sf_nn_codec_decode(data, size, FUZZ_MAX_HIDDEN_BYTES, &b, &tau, &err) == SF_OK) {
        void *buf = NULL;
        size_t len = 0;
        if (sf_nn_codec_encode(&b, tau, &buf, &len, NULL, &err) != SF_OK)
            abort();
        if (sf_nn_codec_decode(buf, len, FUZZ_MAX_HIDDEN_BYTES, &c, &tau2, &err) != SF_OK)
            abort();
        size_t bytes = b.n * sf_nn_shape_numel(&b.shape) * sizeof(float);
        if (c.n != b.n || tau2 != tau || (bytes && memcmp(b.x, c.x, bytes)) ||
            (b.n && memcmp(b.ids, c.ids, b.n * sizeof(uint64_t))))
            abort();
        free(buf);
    }
    sf_nn_batch_fini(&b);
    sf_nn_batch_fini(&c);
    return 0;
}
