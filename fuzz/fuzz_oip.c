/* fuzz_oip.c - libFuzzer target for the Open Inference Protocol v2 request parser (JSON, and the
 * binary tensor extension: the input is split at its first NUL into the JSON header and the
 * binary part; a header kept and found again in a cache), the JSON value count that bounds its tree
 * before it is built, a request body's Content-Encoding undone (gzip and deflate, within a cap and
 * a budget), X-Request-Id and traceparent values, and the Prometheus sample scraper the load
 * generator reads /metrics with. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"
#include "serflow/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A budget of 48 KiB for the inflated bodies. */
static int reserve(void *ctx, size_t bytes)
{
    size_t *left = ctx;
    if (bytes > *left)
        return -1;
    *left -= bytes;
    return 0;
}

/* Inflates data as gzip and as deflate: never more than the cap, never past the budget. */
static void decode(const uint8_t *data, size_t size)
{
    static const char *const codings[] = {"gzip", "deflate", "x-gzip", "br"};
    for (size_t k = 0; k < sizeof(codings) / sizeof(codings[0]); k++) {
        struct sf_err err = {{0}};
        size_t budget = 48 * 1024, cap = 32 * 1024;
        char *out = NULL;
        size_t len = 0;
        int rc =
            sf_oip_decode_body(codings[k], data, size, cap, reserve, &budget, &out, &len, &err);
        if (rc == SF_OK && (!out || len > cap || out[len] != '\0'))
            abort();
        if (rc != SF_OK && (out || !err.msg[0]))
            abort();
        free(out);
    }
}

/* An id or a traceparent from a client: kept only when valid, the hop's values well formed. */
static void trace_values(const char *text)
{
    struct sf_reqtrace t;
    char tid[33], pid[17], hdr[64];
    unsigned flags;
    sf_reqtrace_begin(&t, text, text);
    if (t.given_id != sf_request_id_valid(text) || (t.given_id && strcmp(t.request_id, text)))
        abort();
    if (!t.given_id && strlen(t.request_id) != 36)
        abort();
    int ok = sf_traceparent_parse(text, tid, pid, &flags) == SF_OK;
    if (ok && (strcmp(tid, t.trace_id) || strcmp(pid, t.parent_id) || flags > 255))
        abort();
    if (strlen(sf_reqtrace_header(&t, hdr, sizeof(hdr))) != 55 || strlen(t.span_id) != 16)
        abort();
    (void)sf_request_ids_valid(text);
}

/* Counts the values of a parsed tree. */
static size_t tree_values(const json_t *v)
{
    size_t n = 1, i;
    const char *k;
    json_t *e;
    if (json_is_array(v))
        json_array_foreach(v, i, e) n += tree_values(e);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, e) n += tree_values(e);
    return n;
}

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
        if (r.n < 1 || r.n > 8 || !r.x || strlen(r.id) > SF_OIP_MAX_ID_BYTES)
            abort();
        sf_oip_request_fini(&r);
    }
    /* a header kept (binary data only) and found again is the same parse, on the same floats */
    static struct sf_oip_cache cache;
    if (sf_oip_parse_request_ref((const char *)data, json_len, bin, bin_len, &shape, 8, &r, &err) ==
        SF_OK) {
        struct sf_oip_request c;
        sf_oip_cache_put(&cache, (const char *)data, json_len, bin_len, &shape, 8, &r);
        int rc = sf_oip_cache_parse(&cache, (const char *)data, json_len, bin, bin_len, &shape, 8,
                                    &c, &err);
        if (!bin || json_len > SF_OIP_CACHE_HEADER_BYTES) {
            if (rc != SF_ENOTFOUND)
                abort();
        } else if (rc != SF_OK || c.bin != r.bin || c.x || c.n != r.n || strcmp(c.id, r.id) ||
                   c.n_outputs != r.n_outputs || c.binary != r.binary ||
                   memcmp(c.outputs, r.outputs, sizeof(c.outputs))) {
            abort();
        }
        sf_oip_request_fini(&r);
    }
    /* the count never falls short of the values jansson builds (the bound on its tree) */
    json_error_t je;
    json_t *root = json_loadb((const char *)data, json_len, JSON_DECODE_ANY, &je);
    if (root) {
        if (sf_json_count_values((const char *)data, json_len, (size_t)-1) < tree_values(root))
            abort();
        json_decref(root);
    }
    (void)sf_oip_parse_bytes((const char *)data, json_len, bin_len, 8, 16);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    decode(data, size);
    trace_values(text);
    double v;
    sf_metrics_scrape(text, "serflow_requests_total", "outcome=\"ok\"", &v);
    sf_metrics_scrape(text, "up", "", &v);
    free(text);
    return 0;
}
