/* fuzz_http.c - libFuzzer target for the ingress's HTTP/1.1 reader: any bytes must be parsed as a
 * request head and as a response head without reading outside them, each field a view inside
 * the head; framing decided or refused; the chunked decoder fed the same bytes in pieces (sizes
 * from the first byte) never writes more data than it consumed and never past the input; the
 * path decoder's output NUL-terminated and no longer than its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const char *buf, size_t size, int is_request)
{
    struct sf_http_head h;
    struct sf_err err = {{0}};
    if (sf_http_parse_head(buf, size, is_request, &h, &err) != SF_OK || !h.head_bytes)
        return;
    if (h.head_bytes > size || h.n_fields > SF_HTTP_MAX_FIELDS)
        abort();
    for (size_t i = 0; i < h.n_fields; i++) {
        const struct sf_http_field *f = &h.field[i];
        if (f->name < buf || f->name + f->name_len > buf + h.head_bytes || !f->name_len ||
            f->value < buf || f->value + f->value_len > buf + h.head_bytes)
            abort();
    }
    if (is_request) {
        if (h.target < buf || h.target + h.target_len > buf + h.head_bytes || !h.target_len)
            abort();
        char *path = malloc(h.target_len + 1);
        const char *q;
        size_t ql;
        if (path &&
            sf_http_path_decode(h.target, h.target_len, path, h.target_len + 1, &q, &ql, &err) ==
                SF_OK &&
            strlen(path) > h.target_len)
            abort();
        free(path);
    }
    enum sf_http_body kind;
    uint64_t len;
    if (sf_http_framing(&h, is_request, &kind, &len, &err) == SF_OK &&
        kind == SF_HTTP_BODY_LENGTH && len > ((uint64_t)1 << 53))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    check_head(buf, size, 1);
    check_head(buf, size, 0);
    /* the chunked decoder, in pieces: raw bytes appended after the data decoded so far */
    size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
    struct sf_http_chunked c;
    memset(&c, 0, sizeof(c));
    size_t out = 0, have = 0;
    int done = 0;
    for (size_t fed = 0; fed < size && !done;) {
        size_t k = fed + step < size ? step : size - fed;
        memcpy(buf + out + have, data + fed, k);
        fed += k;
        have += k;
        size_t used, got;
        struct sf_err err = {{0}};
        if (sf_http_chunked_decode(&c, buf + out, have, &used, &got, &done, &err) != SF_OK)
            break;
        if (used > have || got > used)
            abort();
        memmove(buf + out + got, buf + out + used, have - used);
        have -= used;
        out += got;
        if (out + have > fed)
            abort();
    }
    free(buf);
    return 0;
}
