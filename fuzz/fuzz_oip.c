/* fuzz_oip.c - libFuzzer target for the Open Inference Protocol v2 request parser (JSON, and the
 * binary tensor extension: the input is split at its first NUL into the JSON header and the
 * binary part) and for the Prometheus sample scraper the load generator reads /metrics with. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"
#include "serflow/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sf_nn_shape shape = {3, {1, 4, 4}};
    struct sf_err err = {{0}};
    struct sf_oip_request r;
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const void *bin = nul ? nul + 1 : NULL;
    size_t bin_len = nul ? size - json_len - 1 : 0;
    if (sf_oip_parse_request((const char *)data, json_len, bin, bin_len, &shape, 8, &r, &err) ==
        SF_OK) {
        if (r.n < 1 || r.n > 8 || !r.x)
            abort();
        sf_oip_request_fini(&r);
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    double v;
    sf_metrics_scrape(text, "serflow_requests_total", "outcome=\"ok\"", &v);
    sf_metrics_scrape(text, "up", "", &v);
    free(text);
    return 0;
}
