/*
 * codec.c - hidden-state frames (see nn_codec.h for the layout). The header and request table
 * are protected by a CRC-32, the tensor by the LZ4 frame's own content checksum; every length
 * is checked against the buffer and the caller's cap before anything is allocated.
 */
#include "serflow/nn_codec.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

static const unsigned char MAGIC[4] = {'S', 'F', 'H', 'S'};
#define DTYPE_F32 1
/* Same cap as sf_nn_batch_reset: a million requests is far beyond any batch. */
#define MAX_REQUESTS ((uint32_t)1 << 20)

/* CRC-32 (IEEE 802.3, reflected), nibble table: small and needs no initialisation. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    static const uint32_t t[16] = {0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
                                   0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
                                   0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
                                   0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void putf(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}

static float getf(const unsigned char *p)
{
    uint32_t v = get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static size_t entry_bytes(int num_classes)
{
    return 16 + 4 * (size_t)num_classes;
}

int sf_nn_codec_encode(const struct sf_nn_batch *b, double tau, void **out, size_t *out_len,
                       size_t *raw_bytes, struct sf_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (b->n > MAX_REQUESTS || b->num_classes < 1 || b->num_classes > SF_NN_MAX_CLASSES ||
        b->shape.ndim < 1 || b->shape.ndim > SF_NN_MAX_DIMS || b->stages_done < 0 ||
        b->stages_done > 0xffff)
        return sf_err_set(err, SF_EINVAL, "codec: batch cannot be encoded (size or shape)");
    for (int i = 0; i < b->shape.ndim; i++)
        if (b->shape.dims[i] <= 0 || b->shape.dims[i] > 0xffffffffLL)
            return sf_err_set(err, SF_EINVAL, "codec: bad dimension");
    size_t raw = b->n * sf_nn_shape_numel(&b->shape) * sizeof(float);
    if (raw_bytes)
        *raw_bytes = raw;
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.contentSize = raw;
    size_t bound = LZ4F_compressFrameBound(raw, &prefs);
    size_t table = b->n * entry_bytes(b->num_classes);
    size_t total = SF_NN_CODEC_HEADER_BYTES + table + bound;
    unsigned char *p = malloc(total);
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "codec: out of memory for %zu bytes", total);
    /* The frame is always NCHW: a runner may hold the state in a backend's blocked layout. */
    const float *x = b->x;
    float *plain = NULL;
    if (b->layout != SF_NN_LAYOUT_NCHW && b->n > 0) {
        plain = malloc(raw);
        if (!plain) {
            free(p);
            return sf_err_set(err, SF_ENOMEM, "codec: out of memory for %zu bytes", raw);
        }
        sf_nn_layout_convert(b->x, b->layout, plain, SF_NN_LAYOUT_NCHW, &b->shape, b->n);
        x = plain;
    }
    size_t z = LZ4F_compressFrame(p + SF_NN_CODEC_HEADER_BYTES + table, bound, x, raw, &prefs);
    free(plain);
    if (LZ4F_isError(z) || z > 0xffffffffu) {
        free(p);
        return sf_err_set(err, SF_EIO, "codec: LZ4 compression failed: %s",
                          LZ4F_isError(z) ? LZ4F_getErrorName(z) : "frame too large");
    }
    memcpy(p, MAGIC, 4);
    put16(p + 4, SF_NN_CODEC_VERSION);
    put16(p + 6, DTYPE_F32);
    put16(p + 8, (uint32_t)b->stages_done);
    put16(p + 10, (uint32_t)b->num_classes);
    put16(p + 12, (uint32_t)b->shape.ndim);
    put16(p + 14, 0);
    put32(p + 16, (uint32_t)b->n);
    putf(p + 20, (float)tau);
    for (int i = 0; i < SF_NN_MAX_DIMS; i++)
        put32(p + 24 + 4 * i, i < b->shape.ndim ? (uint32_t)b->shape.dims[i] : 0);
    put32(p + 36, (uint32_t)z);
    unsigned char *e = p + SF_NN_CODEC_HEADER_BYTES;
    for (size_t i = 0; i < b->n; i++, e += entry_bytes(b->num_classes)) {
        const struct sf_nn_best *best = &b->best[i];
        put64(e, b->ids[i]);
        put16(e + 8, (uint32_t)(uint16_t)(int16_t)best->cls);
        put16(e + 10, (uint32_t)best->stage);
        putf(e + 12, best->conf);
        for (int k = 0; k < b->num_classes; k++)
            putf(e + 16 + 4 * (size_t)k, best->probs[k]);
    }
    uint32_t crc = crc32_update(0, p, 40);
    crc = crc32_update(crc, p + SF_NN_CODEC_HEADER_BYTES, table);
    put32(p + 40, crc);
    *out = p;
    *out_len = SF_NN_CODEC_HEADER_BYTES + table + z;
    return SF_OK;
}

int sf_nn_codec_decode(const void *buf, size_t len, size_t max_hidden_bytes, struct sf_nn_batch *b,
                       double *tau, struct sf_err *err)
{
    const unsigned char *p = buf;
    if (len < SF_NN_CODEC_HEADER_BYTES)
        return sf_err_set(err, SF_EPARSE, "codec: truncated: %zu bytes, header needs %d", len,
                          SF_NN_CODEC_HEADER_BYTES);
    if (memcmp(p, MAGIC, 4))
        return sf_err_set(err, SF_EUNSUPPORTED,
                          "codec: bad magic (not a serflow hidden-state "
                          "frame)");
    uint32_t version = get16(p + 4);
    if (version != SF_NN_CODEC_VERSION)
        return sf_err_set(err, SF_EUNSUPPORTED, "codec: version %u (supported: %d)", version,
                          SF_NN_CODEC_VERSION);
    uint32_t dtype = get16(p + 6), stage = get16(p + 8), ncls = get16(p + 10);
    uint32_t ndim = get16(p + 12), n = get32(p + 16), zlen = get32(p + 36);
    float t = getf(p + 20);
    if (dtype != DTYPE_F32)
        return sf_err_set(err, SF_EUNSUPPORTED, "codec: dtype %u (supported: 1 = float32)", dtype);
    if (ncls < 1 || ncls > SF_NN_MAX_CLASSES || ndim < 1 || ndim > SF_NN_MAX_DIMS ||
        get16(p + 14) != 0 || !isfinite(t))
        return sf_err_set(err, SF_ECORRUPT, "codec: bad header (classes %u, rank %u)", ncls, ndim);
    if (n > MAX_REQUESTS)
        return sf_err_set(err, SF_ETOOBIG, "codec: %u requests exceeds %u", n, MAX_REQUESTS);
    struct sf_nn_shape shape = {.ndim = (int)ndim};
    uint64_t numel = 1;
    for (uint32_t i = 0; i < SF_NN_MAX_DIMS; i++) {
        uint32_t d = get32(p + 24 + 4 * i);
        if (i < ndim) {
            if (d == 0)
                return sf_err_set(err, SF_ECORRUPT, "codec: dimension %u is zero", i);
            numel *= d; /* <= 2^96 cannot happen: checked per step below */
            if (numel > ((uint64_t)1 << 24))
                return sf_err_set(err, SF_ETOOBIG, "codec: per-request tensor too large");
            shape.dims[i] = d;
        } else if (d != 0) {
            return sf_err_set(err, SF_ECORRUPT, "codec: unused dimension %u is not zero", i);
        }
    }
    uint64_t raw = (uint64_t)n * numel * sizeof(float);
    if (raw > max_hidden_bytes)
        return sf_err_set(err, SF_ETOOBIG,
                          "codec: hidden state of %llu bytes exceeds the %zu-byte limit",
                          (unsigned long long)raw, max_hidden_bytes);
    size_t table = (size_t)n * entry_bytes((int)ncls);
    if (len - SF_NN_CODEC_HEADER_BYTES < table ||
        len - SF_NN_CODEC_HEADER_BYTES - table < (size_t)zlen)
        return sf_err_set(err, SF_EPARSE,
                          "codec: truncated: %zu bytes, header announces %zu + %zu + %u", len,
                          (size_t)SF_NN_CODEC_HEADER_BYTES, table, zlen);
    if (len - SF_NN_CODEC_HEADER_BYTES - table != (size_t)zlen)
        return sf_err_set(err, SF_ECORRUPT, "codec: %zu trailing bytes after the LZ4 frame",
                          len - SF_NN_CODEC_HEADER_BYTES - table - zlen);
    uint32_t crc = crc32_update(0, p, 40);
    crc = crc32_update(crc, p + SF_NN_CODEC_HEADER_BYTES, table);
    if (crc != get32(p + 40))
        return sf_err_set(err, SF_ECORRUPT, "codec: header checksum mismatch");
    int rc = sf_nn_batch_reset(b, n, &shape, (int)ncls, err);
    if (rc)
        return rc;
    const unsigned char *e = p + SF_NN_CODEC_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++, e += entry_bytes((int)ncls)) {
        struct sf_nn_best *best = &b->best[i];
        b->ids[i] = get64(e);
        best->cls = (int16_t)get16(e + 8);
        best->stage = (int)get16(e + 10);
        best->conf = getf(e + 12);
        if (best->cls < -1 || best->cls >= (int)ncls || best->stage > (int)stage)
            return sf_err_set(err, SF_ECORRUPT, "codec: request %u: bad best class or stage", i);
        for (uint32_t k = 0; k < ncls; k++)
            best->probs[k] = getf(e + 16 + 4 * (size_t)k);
    }
    /* The LZ4 frame: its declared content size must be exactly the tensor size. */
    LZ4F_dctx *dctx = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return sf_err_set(err, SF_ENOMEM, "codec: cannot create an LZ4 context");
    const unsigned char *z = p + SF_NN_CODEC_HEADER_BYTES + table;
    size_t zin = zlen;
    LZ4F_frameInfo_t info;
    size_t r = LZ4F_getFrameInfo(dctx, &info, z, &zin);
    if (LZ4F_isError(r)) {
        rc = sf_err_set(err, SF_ECORRUPT, "codec: LZ4 frame header: %s", LZ4F_getErrorName(r));
        goto out;
    }
    if (info.contentSize != raw || info.contentChecksumFlag != LZ4F_contentChecksumEnabled) {
        rc = sf_err_set(
            err, SF_ECORRUPT, "codec: LZ4 frame declares %llu bytes%s, header needs %llu",
            (unsigned long long)info.contentSize,
            info.contentChecksumFlag ? "" : " without checksum", (unsigned long long)raw);
        goto out;
    }
    size_t in_off = zin, out_off = 0;
    unsigned char *dst = (unsigned char *)b->x;
    for (;;) {
        size_t src_n = zlen - in_off, dst_n = (size_t)raw - out_off;
        r = LZ4F_decompress(dctx, dst + out_off, &dst_n, z + in_off, &src_n, NULL);
        if (LZ4F_isError(r)) {
            rc = sf_err_set(err, SF_ECORRUPT, "codec: LZ4: %s", LZ4F_getErrorName(r));
            goto out;
        }
        in_off += src_n;
        out_off += dst_n;
        if (r == 0)
            break;
        if (src_n == 0 && dst_n == 0) {
            rc = sf_err_set(err, SF_EPARSE, "codec: LZ4 frame is truncated");
            goto out;
        }
    }
    if (in_off != zlen || out_off != raw) {
        rc = sf_err_set(err, SF_ECORRUPT, "codec: LZ4 frame size mismatch");
        goto out;
    }
    b->stages_done = (int)stage;
    *tau = t;
out:
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}
