/* fuzz_trace.c - libFuzzer target for the trace readers: the first byte picks counts per epoch,
 * counts per second or CSV; the rest is the file. Any bytes must give SF_OK or a clean error
 * with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "serflow/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sf_trace t;
    struct sf_err err = {{0}};
    const char *text = (const char *)data + 1;
    int mode = data[0] % 3, rc;
    if (mode == 2)
        rc = sf_trace_parse_csv(&t, "fuzz", text, size - 1, 6.0, 1000, &err);
    else
        rc = sf_trace_parse_counts(&t, "fuzz", text, size - 1,
                                   mode ? SF_TRACE_SECOND : SF_TRACE_EPOCH, 6.0, 1000, &err);
    if (rc == SF_OK) {
        uint64_t sum = 0;
        for (int64_t e = 0; e < t.n_epochs; e++)
            sum += t.count[e];
        if (sum != t.n_requests)
            abort(); /* per-epoch counts must add up to the total */
        sf_trace_fini(&t);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
