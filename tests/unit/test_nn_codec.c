/* test_nn_codec.c - hidden-state frames: round trip, and refusal of corrupt, truncated,
 * oversized and trailing-garbage inputs with a clear message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "serflow/nn.h"
#include "serflow/nn_codec.h"

/* A batch of n requests with shape [3,4,5] after 2 stages, deterministic contents. */
static void make_batch(struct sf_nn_batch *b, size_t n)
{
    struct sf_err err = {{0}};
    struct sf_nn_shape s = {.ndim = 3, .dims = {3, 4, 5}};
    sf_nn_batch_init(b);
    assert_int_equal(sf_nn_batch_reset(b, n, &s, 10, &err), SF_OK);
    b->stages_done = 2;
    for (size_t i = 0; i < n * 60; i++)
        b->x[i] = (float)((i * 7919) % 101) / 13.0f - 3.0f;
    for (size_t i = 0; i < n; i++) {
        b->ids[i] = 1000 + 17 * i;
        b->best[i].cls = (int)(i % 10);
        b->best[i].stage = 1 + (int)(i % 2);
        b->best[i].conf = 0.25f + 0.01f * (float)i;
        for (int k = 0; k < 10; k++)
            b->best[i].probs[k] = (float)k / 45.0f;
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    for (size_t n = 0; n <= 7; n += 7) {
        struct sf_nn_batch a, b;
        make_batch(&a, n);
        sf_nn_batch_init(&b);
        void *buf;
        size_t len, raw;
        assert_int_equal(sf_nn_codec_encode(&a, 0.85, &buf, &len, &raw, &err), SF_OK);
        assert_int_equal(raw, n * 60 * sizeof(float));
        double tau = 0;
        assert_int_equal(sf_nn_codec_decode(buf, len, 1 << 20, &b, &tau, &err), SF_OK);
        assert_true(tau > 0.8499 && tau < 0.8501);
        assert_int_equal(b.n, n);
        assert_int_equal(b.stages_done, 2);
        assert_int_equal(b.num_classes, 10);
        assert_int_equal(b.shape.ndim, 3);
        assert_int_equal(b.shape.dims[2], 5);
        if (n) {
            assert_memory_equal(a.x, b.x, n * 60 * sizeof(float));
            assert_memory_equal(a.ids, b.ids, n * sizeof(uint64_t));
        }
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(a.best[i].cls, b.best[i].cls);
            assert_int_equal(a.best[i].stage, b.best[i].stage);
            assert_true(a.best[i].conf == b.best[i].conf);
            assert_memory_equal(a.best[i].probs, b.best[i].probs, 10 * sizeof(float));
        }
        free(buf);
        sf_nn_batch_fini(&a);
        sf_nn_batch_fini(&b);
    }
}

static void expect_refused(const unsigned char *buf, size_t len, size_t cap, int status,
                           const char *needle)
{
    struct sf_err err = {{0}};
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    double tau;
    int rc = sf_nn_codec_decode(buf, len, cap, &b, &tau, &err);
    if (status)
        assert_int_equal(rc, status);
    else
        assert_true(rc < 0);
    assert_true(strncmp(err.msg, "codec: ", 7) == 0);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    sf_nn_batch_fini(&b);
}

static void test_refuses_bad_input(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_batch a;
    make_batch(&a, 5);
    void *vbuf;
    size_t len;
    assert_int_equal(sf_nn_codec_encode(&a, 0.7, &vbuf, &len, NULL, &err), SF_OK);
    unsigned char *buf = vbuf;
    unsigned char *copy = malloc(len + 8);
    assert_non_null(copy);

    /* Every truncation is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(copy, buf, cut);
        expect_refused(copy, cut, 1 << 20, 0, NULL);
    }
    expect_refused(buf, 10, 1 << 20, SF_EPARSE, "truncated");
    /* Trailing garbage. */
    memcpy(copy, buf, len);
    memset(copy + len, 0, 8);
    expect_refused(copy, len + 8, 1 << 20, SF_ECORRUPT, "trailing");
    /* Magic, version. */
    memcpy(copy, buf, len);
    copy[0] = 'X';
    expect_refused(copy, len, 1 << 20, SF_EUNSUPPORTED, "magic");
    memcpy(copy, buf, len);
    copy[4] = 9;
    expect_refused(copy, len, 1 << 20, SF_EUNSUPPORTED, "version");
    /* A flipped bit in the header, the request table, the LZ4 payload. */
    size_t table_end = SF_NN_CODEC_HEADER_BYTES + 5 * (16 + 40);
    size_t where[] = {20, SF_NN_CODEC_HEADER_BYTES + 3, table_end - 1, len - 6, len - 1};
    for (size_t i = 0; i < SF_ARRAY_LEN(where); i++) {
        memcpy(copy, buf, len);
        copy[where[i]] ^= 0x10;
        expect_refused(copy, len, 1 << 20, 0, NULL);
    }
    /* Oversized: more hidden state than the caller allows. */
    expect_refused(buf, len, 5 * 60 * sizeof(float) - 1, SF_ETOOBIG, "limit");
    /* A request count beyond the hard cap. */
    memcpy(copy, buf, len);
    copy[19] = 0x7f;
    expect_refused(copy, len, (size_t)-1, SF_ETOOBIG, "requests");
    free(copy);
    free(buf);
    sf_nn_batch_fini(&a);
}

static void test_compresses_sparse_state(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_batch a;
    make_batch(&a, 64);
    /* ReLU hidden states are mostly zeros; LZ4 must shrink them. */
    for (size_t i = 0; i < 64 * 60; i++)
        if (i % 4)
            a.x[i] = 0.0f;
    void *buf;
    size_t len, raw;
    assert_int_equal(sf_nn_codec_encode(&a, 0.5, &buf, &len, &raw, &err), SF_OK);
    assert_true(len - SF_NN_CODEC_HEADER_BYTES - 64 * 56 < raw / 2);
    free(buf);
    sf_nn_batch_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refuses_bad_input),
        cmocka_unit_test(test_compresses_sparse_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
