/* test_nn_onnx.c - ONNX stage loading and the two backends: operator coverage against
 * PyTorch-computed outputs, reference vs oneDNN agreement (every option: Winograd or direct,
 * sub-batch sizes, threads, caller layouts), the bundled model against its PyTorch golden
 * logits, activation layout conversions, and loader errors (missing file, unsupported
 * operator, shape mismatch, truncated file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "serflow/nn.h"

#define GOLDEN_N 16

static const char *source_dir(void)
{
    const char *d = getenv("SF_SOURCE_DIR");
    return d && *d ? d : SF_SOURCE_DIR;
}

static void path_of(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", source_dir(), rel);
}

static float *read_f32(const char *rel, size_t count)
{
    char path[1024];
    path_of(path, sizeof(path), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    float *v = malloc(count * sizeof(float));
    assert_non_null(v);
    assert_int_equal(fread(v, sizeof(float), count, f), count);
    fclose(f);
    return v;
}

/* The bundled model (fails the test when it does not load). */
static struct sf_nn_model *load_bundled(void)
{
    struct sf_err err = {{0}};
    char dir[1024];
    path_of(dir, sizeof(dir), "models/fmnist-ee");
    struct sf_nn_model *m = NULL;
    if (sf_nn_model_load(dir, &m, &err))
        fail_msg("%s", err.msg);
    return m;
}

/* ||a - b|| / max(||a||, 1e-12): the ggml-style normalised error between backends. */
static double norm_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return sqrt(d) / fmax(sqrt(s), 1e-12);
}

static double max_abs(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_ops_mix_matches_torch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), "tests/data/nn/ops_mix.onnx");
    struct sf_nn_stage *st;
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(sf_nn_stage_num_classes(st), 5);
    assert_int_equal(sf_nn_stage_hidden_shape(st)->ndim, 3);
    const size_t n = 3, in_n = 2 * 6 * 6, hid_n = 4, cls = 5;
    float *io = read_f32("tests/data/nn/ops_mix_io.f32", n * (in_n + hid_n + cls));
    const float *x = io, *want_h = io + n * in_n, *want_l = want_h + n * hid_n;
    for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
        struct sf_nn_exec *ex;
        if (sf_nn_exec_new(st, (enum sf_nn_backend)b, &ex, &err))
            fail_msg("%s", err.msg);
        float h[3 * 4], l[3 * 5];
        if (sf_nn_exec_run(ex, x, n, h, l, &err))
            fail_msg("%s", err.msg);
        double dh = max_abs(h, want_h, n * hid_n), dl = max_abs(l, want_l, n * cls);
        print_message("ops_mix %s: max abs diff hidden %.3g logits %.3g\n",
                      sf_nn_backend_name((enum sf_nn_backend)b), dh, dl);
        assert_true(dh < 1e-5);
        assert_true(dl < 1e-6);
        /* The input (2 channels) in every layout, padded ones included: same logits. */
        const struct sf_nn_shape *is = sf_nn_stage_input_shape(st);
        for (int lay = 1; lay < SF_NN_NUM_LAYOUTS; lay++) {
            float xl[3 * 16 * 36], l2[3 * 5];
            assert_true(sf_nn_layout_numel((enum sf_nn_layout)lay, is) <= 16 * 36);
            sf_nn_layout_convert(x, SF_NN_LAYOUT_NCHW, xl, (enum sf_nn_layout)lay, is, n);
            if (sf_nn_exec_run_layout(ex, xl, (enum sf_nn_layout)lay, n, NULL, SF_NN_LAYOUT_NCHW,
                                      l2, &err))
                fail_msg("%s", err.msg);
            assert_true(max_abs(l2, want_l, n * cls) < 1e-6);
        }
        sf_nn_exec_free(ex);
    }
    free(io);
    sf_nn_stage_free(st);
}

/* The operator paths of "bring your own model" (tests/data/nn/ops_ext.onnx): depthwise
 * dilated stride-2 Conv with auto_pad SAME_LOWER and a fused Clip, Mul/Add by broadcast
 * constants, Identity, grouped Conv with SAME_UPPER, Mul of two activations, a standalone
 * Clip, AveragePool with ceil_mode, Dropout; the input in every layout. Then Clip's opset-10
 * attribute form. */
static void test_ops_ext_matches_torch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), "tests/data/nn/ops_ext.onnx");
    struct sf_nn_stage *st;
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(st);
    assert_int_equal(hs->ndim, 3);
    assert_int_equal(hs->dims[0], 6);
    assert_int_equal(hs->dims[1], 2); /* 6 -> 3 (SAME_LOWER, stride 2) -> 3 -> 2 (ceil_mode) */
    /* Clip fused into the first Conv: 12 nodes, 11 operators */
    assert_int_equal(sf_nn_stage_num_ops(st), 11);
    const size_t n = 2, in_n = 4 * 6 * 6, hid_n = 6 * 2 * 2, cls = 5;
    float *io = read_f32("tests/data/nn/ops_ext_io.f32", n * (in_n + hid_n + cls));
    const float *x = io, *want_h = io + n * in_n, *want_l = want_h + n * hid_n;
    for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
        struct sf_nn_exec *ex;
        if (sf_nn_exec_new(st, (enum sf_nn_backend)b, &ex, &err))
            fail_msg("%s", err.msg);
        float h[2 * 24], l[2 * 5];
        if (sf_nn_exec_run(ex, x, n, h, l, &err))
            fail_msg("%s", err.msg);
        double dh = max_abs(h, want_h, n * hid_n), dl = max_abs(l, want_l, n * cls);
        print_message("ops_ext %s: max abs diff hidden %.3g logits %.3g\n",
                      sf_nn_backend_name((enum sf_nn_backend)b), dh, dl);
        assert_true(dh < 1e-5);
        assert_true(dl < 1e-5);
        const struct sf_nn_shape *is = sf_nn_stage_input_shape(st);
        for (int lay = 1; lay < SF_NN_NUM_LAYOUTS; lay++) {
            float xl[2 * 16 * 36], l2[2 * 5];
            assert_true(sf_nn_layout_numel((enum sf_nn_layout)lay, is) <= 16 * 36);
            sf_nn_layout_convert(x, SF_NN_LAYOUT_NCHW, xl, (enum sf_nn_layout)lay, is, n);
            if (sf_nn_exec_run_layout(ex, xl, (enum sf_nn_layout)lay, n, NULL, SF_NN_LAYOUT_NCHW,
                                      l2, &err))
                fail_msg("%s", err.msg);
            assert_true(max_abs(l2, want_l, n * cls) < 1e-5);
        }
        sf_nn_exec_free(ex);
    }
    free(io);
    sf_nn_stage_free(st);
    /* FLOPs count a grouped Conv's multiply-adds per group: 2 x (4x3x3 x 9 (depthwise) + 6 x
     * 2x2x2 x 9 (group 2) + 24 x 5 (Gemm)) */
    path_of(path, sizeof(path), "tests/data/nn/ops_ext.onnx");
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    assert_true(fabs(sf_nn_stage_flops(st) - 2.0 * (4 * 9 * 9 + 6 * 8 * 9 + 24 * 5)) < 1e-9);
    sf_nn_stage_free(st);

    path_of(path, sizeof(path), "tests/data/nn/clip_opset10.onnx");
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    float *io2 = read_f32("tests/data/nn/clip_opset10_io.f32", 2 * 16 + 2 * 3);
    for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
        struct sf_nn_exec *ex;
        float l[2 * 3];
        if (sf_nn_exec_new(st, (enum sf_nn_backend)b, &ex, &err) ||
            sf_nn_exec_run(ex, io2, 2, NULL, l, &err))
            fail_msg("%s", err.msg);
        assert_true(max_abs(l, io2 + 32, 6) < 1e-5);
        sf_nn_exec_free(ex);
    }
    free(io2);
    sf_nn_stage_free(st);
}

/* The bundled model: both backends on the golden images, stage by stage, at batch 16, 3, 1
 * (the oneDNN backend builds a plan per batch size and reuses it on the repeat). */
static void test_bundled_model_golden_and_agreement(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = load_bundled();
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m);
    assert_true(ns >= 6);
    assert_int_equal(nc, 10);
    float *x0 = read_f32("models/fmnist-ee/golden_input.f32", GOLDEN_N * 784);
    float *golden = read_f32("models/fmnist-ee/golden_logits.f32", (size_t)ns * GOLDEN_N * 10);
    struct sf_nn_exec *ex[2][SF_NN_MAX_STAGES];
    for (int k = 1; k <= ns; k++)
        for (int b = 0; b < 2; b++)
            if (sf_nn_exec_new(sf_nn_model_stage(m, k), (enum sf_nn_backend)b, &ex[b][k - 1], &err))
                fail_msg("%s", err.msg);
    /* under valgrind (memcheck runs oneDNN's JIT 50-100x slower) a batch of 3 and of 1 only:
     * every stage, both backends, the same checks */
    const size_t batches[] = {GOLDEN_N, 3, 1, 3}, batches_vg[] = {3, 1};
    int vg = tu_dnnl_threads() == 1;
    double worst_err = 0, worst_abs = 0;
    for (size_t bi = 0; bi < (vg ? SF_ARRAY_LEN(batches_vg) : SF_ARRAY_LEN(batches)); bi++) {
        size_t n = vg ? batches_vg[bi] : batches[bi];
        float *in[2] = {malloc(n * 784 * sizeof(float)), malloc(n * 784 * sizeof(float))};
        memcpy(in[0], x0, n * 784 * sizeof(float));
        memcpy(in[1], x0, n * 784 * sizeof(float));
        for (int k = 1; k <= ns; k++) {
            const struct sf_nn_stage *st = sf_nn_model_stage(m, k);
            size_t hn = sf_nn_shape_numel(sf_nn_stage_hidden_shape(st));
            float *h[2], l[2][GOLDEN_N * 10];
            for (int b = 0; b < 2; b++) {
                h[b] = malloc((hn ? hn : 1) * n * sizeof(float));
                if (sf_nn_exec_run(ex[b][k - 1], in[b], n, h[b], l[b], &err))
                    fail_msg("%s", err.msg);
                double d = max_abs(l[b], golden + (size_t)(k - 1) * GOLDEN_N * 10, n * 10);
                worst_abs = fmax(worst_abs, d);
                if (d >= 1e-4)
                    fail_msg("stage %d %s batch %zu: max abs diff to PyTorch %.3g", k,
                             sf_nn_backend_name((enum sf_nn_backend)b), n, d);
            }
            double e = norm_err(l[0], l[1], n * 10);
            if (hn)
                e = fmax(e, norm_err(h[0], h[1], n * hn));
            worst_err = fmax(worst_err, e);
            if (e >= 1e-5)
                fail_msg("stage %d batch %zu: ref vs dnnl normalised error %.3g", k, n, e);
            for (int b = 0; b < 2; b++) {
                free(in[b]);
                in[b] = h[b];
            }
        }
        free(in[0]);
        free(in[1]);
    }
    print_message("bundled model: ref vs dnnl normalised error <= %.3g, max abs diff to "
                  "PyTorch golden logits %.3g\n",
                  worst_err, worst_abs);
    for (int k = 0; k < ns; k++)
        for (int b = 0; b < 2; b++)
            sf_nn_exec_free(ex[b][k]);
    free(x0);
    free(golden);
    sf_nn_model_free(m);
}

/* Every layout round-trips through every other; blocked layouts pad channels with zeros. */
static void test_layout_conversions(void **state)
{
    (void)state;
    const struct sf_nn_shape s = {.ndim = 3, .dims = {20, 3, 5}}; /* 20: not a block multiple */
    const size_t n = 2, numel = 20 * 3 * 5;
    assert_int_equal(sf_nn_layout_numel(SF_NN_LAYOUT_NCHW, &s), numel);
    assert_int_equal(sf_nn_layout_numel(SF_NN_LAYOUT_NHWC, &s), numel);
    assert_int_equal(sf_nn_layout_numel(SF_NN_LAYOUT_NCHW8C, &s), 24 * 15);
    assert_int_equal(sf_nn_layout_numel(SF_NN_LAYOUT_NCHW16C, &s), 32 * 15);
    const struct sf_nn_shape v = {.ndim = 1, .dims = {7}};
    assert_int_equal(sf_nn_layout_numel(SF_NN_LAYOUT_NCHW16C, &v), 7); /* rank 1: plain */
    float x[2 * 300], y[2 * 32 * 15], z[2 * 300];
    for (size_t i = 0; i < n * numel; i++)
        x[i] = (float)i;
    for (int l = 0; l < SF_NN_NUM_LAYOUTS; l++) {
        size_t ln = sf_nn_layout_numel((enum sf_nn_layout)l, &s);
        memset(y, 0xff, sizeof(y)); /* NaN bytes: padding must be overwritten with zeros */
        sf_nn_layout_convert(x, SF_NN_LAYOUT_NCHW, y, (enum sf_nn_layout)l, &s, n);
        size_t zeros = 0;
        for (size_t i = 0; i < n * ln; i++)
            zeros += y[i] == 0.0f;
        assert_int_equal(zeros, n * (ln - numel) + 1); /* the padding, and x[0] == 0 */
        sf_nn_layout_convert(y, (enum sf_nn_layout)l, z, SF_NN_LAYOUT_NCHW, &s, n);
        assert_memory_equal(x, z, n * numel * sizeof(float));
        print_message("layout %s: %zu floats per request\n",
                      sf_nn_layout_name((enum sf_nn_layout)l), ln);
    }
    /* One element checked by hand: request 1, c 17, h 2, w 4 in nChw16c. */
    sf_nn_layout_convert(x, SF_NN_LAYOUT_NCHW, y, SF_NN_LAYOUT_NCHW16C, &s, n);
    assert_true(y[32 * 15 + (1 * 15 + 2 * 5 + 4) * 16 + 1] == x[numel + 17 * 15 + 2 * 5 + 4]);
    /* NHWC: request 0, c 3, h 1, w 0. */
    sf_nn_layout_convert(x, SF_NN_LAYOUT_NCHW, y, SF_NN_LAYOUT_NHWC, &s, n);
    assert_true(y[(1 * 5 + 0) * 20 + 3] == x[3 * 15 + 1 * 5 + 0]);
}

/* The oneDNN backend with every option against the reference on the bundled model, stage by
 * stage: Winograd (default) and direct, sub-batches of 1, 3 and 64 requests, 1 and 2 threads,
 * input and hidden state in blocked and plain layouts, batch sizes that leave remainders
 * (13 = 4 x 3 + 1). */
static void test_dnnl_options_agree_with_reference(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = load_bundled();
    int ns = sf_nn_model_num_stages(m);
    /* 13 requests: sub-batches of 3 leave a remainder; under valgrind 5 (3 + 2) */
    const size_t n = tu_dnnl_threads() == 1 ? 5 : 13;
    float *x0 = read_f32("models/fmnist-ee/golden_input.f32", GOLDEN_N * 784);
    const struct sf_nn_opts variants[] = {{0},
                                          {.conv_direct = 1},
                                          {.sub_batch = 1},
                                          {.sub_batch = 3, .threads = tu_dnnl_threads()},
                                          {.sub_batch = 64, .threads = tu_dnnl_threads()}};
    struct sf_nn_runner *ref;
    if (sf_nn_runner_new(m, SF_NN_BACKEND_REF, &ref, &err))
        fail_msg("%s", err.msg);
    double worst = 0;
    for (size_t v = 0; v < SF_ARRAY_LEN(variants); v++) {
        struct sf_nn_runner *r;
        if (sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &variants[v], &r, &err))
            fail_msg("%s", err.msg);
        float *in = malloc(n * 784 * sizeof(float));
        for (size_t i = 0; i < n; i++)
            memcpy(in + i * 784, x0 + (i % GOLDEN_N) * 784, 784 * sizeof(float));
        enum sf_nn_layout in_l = SF_NN_LAYOUT_NCHW;
        for (int k = 1; k <= ns; k++) {
            const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(sf_nn_model_stage(m, k));
            const struct sf_nn_shape *is = sf_nn_stage_input_shape(sf_nn_model_stage(m, k));
            /* Alternate: the preferred layout on odd stages, plain on even ones. */
            enum sf_nn_layout hl = k < ns && k % 2
                                       ? sf_nn_exec_input_layout(sf_nn_runner_exec(r, k + 1))
                                       : SF_NN_LAYOUT_NCHW;
            size_t hn = sf_nn_layout_numel(hl, hs), pn = sf_nn_shape_numel(hs);
            float *h = calloc(n * (hn ? hn : 1), sizeof(float));
            float *hp = calloc(n * (pn ? pn : 1), sizeof(float));
            float *hr = calloc(n * (pn ? pn : 1), sizeof(float));
            float *inp = malloc(n * sf_nn_shape_numel(is) * sizeof(float));
            float l[13 * 10], lr[13 * 10];
            if (sf_nn_exec_run_layout(sf_nn_runner_exec(r, k), in, in_l, n, hn ? h : NULL, hl, l,
                                      &err))
                fail_msg("%s", err.msg);
            sf_nn_layout_convert(in, in_l, inp, SF_NN_LAYOUT_NCHW, is, n);
            if (sf_nn_exec_run(sf_nn_runner_exec(ref, k), inp, n, hn ? hr : NULL, lr, &err))
                fail_msg("%s", err.msg);
            double e = norm_err(lr, l, n * 10);
            if (hn) {
                sf_nn_layout_convert(h, hl, hp, SF_NN_LAYOUT_NCHW, hs, n);
                e = fmax(e, norm_err(hr, hp, n * pn));
            }
            if (e >= 1e-5)
                fail_msg("variant %zu stage %d: normalised error %.3g", v, k, e);
            worst = fmax(worst, e);
            free(in);
            free(inp);
            free(hp);
            free(hr);
            in = h;
            in_l = hl;
        }
        free(in);
        sf_nn_runner_free(r);
    }
    print_message("oneDNN variants vs reference: normalised error <= %.3g\n", worst);
    /* Thread counts outside 0..SF_NN_MAX_THREADS are refused. */
    struct sf_nn_runner *none = NULL;
    const struct sf_nn_opts too_many = {.threads = SF_NN_MAX_THREADS + 1}, neg = {.threads = -1};
    assert_int_equal(sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &too_many, &none, &err),
                     SF_EINVAL);
    assert_non_null(strstr(err.msg, "threads"));
    assert_int_equal(sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &neg, &none, &err), SF_EINVAL);
    assert_null(none);
    /* Unknown layouts are refused. */
    float l[10];
    assert_int_equal(sf_nn_exec_run_layout(sf_nn_runner_exec(ref, 1), x0, (enum sf_nn_layout)9, 1,
                                           NULL, SF_NN_LAYOUT_NCHW, l, &err),
                     SF_EINVAL);
    sf_nn_runner_free(ref);
    free(x0);
    sf_nn_model_free(m);
}

/* FLOPs per request of the bundled model's stages: 2 x (conv + classifier) multiply-adds. */
static void test_stage_flops(void **state)
{
    (void)state;
    struct sf_nn_model *m = load_bundled();
    /* Stage 1: conv 1->16 3x3 on 28x28, classifier 16x4x4 -> 10. */
    assert_true(sf_nn_stage_flops(sf_nn_model_stage(m, 1)) == 2.0 * (28 * 28 * 16 * 9 + 256 * 10));
    double total = 0;
    for (int k = 1; k <= sf_nn_model_num_stages(m); k++)
        total += sf_nn_stage_flops(sf_nn_model_stage(m, k));
    assert_true(fabs(total - 40008064.0) < 0.5); /* bench/nn_torch.py --flops */
    /* Executed: a direct convolution without its padding taps (82 of 84 rows and columns of
     * taps fall inside 28x28 with pad 1), Winograd F(4x4,3x3) as 7x7 tiles of 6x6 products
     * where oneDNN has it (AVX-512), F(2x2,3x3) as 14x14 tiles of 4x4. */
    const double direct1 = 2.0 * (16 * 82 * 82 + 256 * 10);
    const double direct2 = 2.0 * (32 * 16 * 82 * 82 + 128 * 10);
    const double wino4 = 2.0 * (7 * 7 * 36 * 16 * 32 + 128 * 10);
    const double wino2 = 2.0 * (14 * 14 * 16 * 16 * 32 + 128 * 10);
    struct sf_err err = {{0}};
    for (int be = SF_NN_BACKEND_REF; be <= SF_NN_BACKEND_DNNL; be++) {
        struct sf_nn_exec *ex1, *ex2;
        if (sf_nn_exec_new(sf_nn_model_stage(m, 1), (enum sf_nn_backend)be, &ex1, &err) ||
            sf_nn_exec_new(sf_nn_model_stage(m, 2), (enum sf_nn_backend)be, &ex2, &err))
            fail_msg("%s", err.msg);
        assert_true(sf_nn_exec_flops(ex1, 0) == 0);
        for (size_t batch = 1; batch <= 100; batch += 99) {
            /* The first convolution (one input channel) is direct on both backends. */
            assert_true(fabs(sf_nn_exec_flops(ex1, batch) - direct1) < 0.5);
            double f2 = sf_nn_exec_flops(ex2, batch);
            if (be == SF_NN_BACKEND_REF)
                assert_true(fabs(f2 - direct2) < 0.5);
            else
                assert_true(fabs(f2 - wino4) < 0.5 || fabs(f2 - wino2) < 0.5 ||
                            fabs(f2 - direct2) < 0.5);
        }
        sf_nn_exec_free(ex1);
        sf_nn_exec_free(ex2);
    }
    /* oneDNN without Winograd: the direct count. */
    struct sf_nn_exec *ex;
    const struct sf_nn_opts direct = {.threads = 1, .conv_direct = 1};
    if (sf_nn_exec_new_opts(sf_nn_model_stage(m, 2), SF_NN_BACKEND_DNNL, &direct, &ex, &err))
        fail_msg("%s", err.msg);
    assert_true(fabs(sf_nn_exec_flops(ex, 3) - direct2) < 0.5);
    sf_nn_exec_free(ex);
    sf_nn_model_free(m);
}

/* Gemm alpha/beta with transB=0, Conv kernel from the weights, asymmetric MaxPool pads, a
 * scalar Add with the constant first, initializers repeated as graph inputs. */
static void test_gemm_mix_matches_torch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), "tests/data/nn/gemm_mix.onnx");
    struct sf_nn_stage *st;
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(sf_nn_stage_hidden_shape(st)->ndim, 0);
    assert_int_equal(sf_nn_stage_num_classes(st), 4);
    const size_t n = 2, in_n = 3 * 5 * 5, cls = 4;
    float *io = read_f32("tests/data/nn/gemm_mix_io.f32", n * (in_n + cls));
    for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
        struct sf_nn_exec *ex;
        if (sf_nn_exec_new(st, (enum sf_nn_backend)b, &ex, &err))
            fail_msg("%s", err.msg);
        float l[2 * 4];
        if (sf_nn_exec_run(ex, io, n, NULL, l, &err))
            fail_msg("%s", err.msg);
        double d = max_abs(l, io + n * in_n, n * cls);
        print_message("gemm_mix %s: max abs diff logits %.3g\n",
                      sf_nn_backend_name((enum sf_nn_backend)b), d);
        assert_true(d < 1e-5);
        sf_nn_exec_free(ex);
    }
    free(io);
    sf_nn_stage_free(st);
}

static void test_bundled_model_folds_batchnorm(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), "models/fmnist-ee/stage1.onnx");
    struct sf_nn_stage *st;
    if (sf_nn_stage_load(path, &st, &err))
        fail_msg("%s", err.msg);
    /* Conv (BatchNormalization folded, Relu fused), AveragePool, Flatten, Gemm. */
    assert_int_equal(sf_nn_stage_num_ops(st), 4);
    assert_int_equal(sf_nn_stage_input_shape(st)->dims[1], 28);
    sf_nn_stage_free(st);
}

static void expect_load_error(const char *rel, int status, const char *n1, const char *n2)
{
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), rel);
    struct sf_nn_stage *st = (void *)1;
    int rc = sf_nn_stage_load(path, &st, &err);
    assert_int_equal(rc, status);
    assert_null(st);
    print_message("%s\n", err.msg);
    assert_true(strstr(err.msg, path) == err.msg);
    if (n1 && !strstr(err.msg, n1))
        fail_msg("'%s' lacks '%s'", err.msg, n1);
    if (n2 && !strstr(err.msg, n2))
        fail_msg("'%s' lacks '%s'", err.msg, n2);
}

static void test_loader_errors(void **state)
{
    (void)state;
    expect_load_error("tests/data/nn/does_not_exist.onnx", SF_ENOTFOUND, "cannot open", NULL);
    expect_load_error("tests/data/nn/unsupported_op.onnx", SF_EUNSUPPORTED, "Sigmoid",
                      "act/Sigmoid");
    expect_load_error("tests/data/nn/shape_mismatch.onnx", SF_EINVAL, "shape mismatch", "fc/Gemm");
    expect_load_error("tests/data/nn/ops_mix_io.f32", SF_EPARSE, "ONNX", NULL);
    /* Refusals name the file, the node and its operator. */
    expect_load_error("tests/data/nn/pad_maxpool.onnx", SF_EUNSUPPORTED,
                      "pad_maxpool.onnx: node 'pad/before_max' (Pad)", "folded");
    expect_load_error("tests/data/nn/bcast_tensors.onnx", SF_EUNSUPPORTED,
                      "node 'add/broadcast' (Add)", "broadcasting between two activations");
    expect_load_error("tests/data/nn/group_mismatch.onnx", SF_EINVAL, "node 'conv/group3' (Conv)",
                      "group 3");
    /* A tensor above SF_NN_MAX_TENSOR_NUMEL values per request is refused before any buffer. */
    expect_load_error("tests/data/nn/huge_pad.onnx", SF_ETOOBIG, "tensor 'p'",
                      "values per request");
}

static void test_truncated_onnx(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char path[1024];
    path_of(path, sizeof(path), "models/fmnist-ee/stage2.onnx");
    char *buf;
    size_t len;
    assert_int_equal(sf_read_file(path, SF_NN_MAX_ONNX_BYTES, &buf, &len, &err), SF_OK);
    /* Cuts at many points: every one must be refused, never crash. */
    size_t refused = 0, tried = 0;
    for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
        struct sf_nn_stage *st;
        tried++;
        int rc = sf_nn_stage_load_mem(buf, cut, "stage2.onnx", &st, &err);
        if (rc < 0) {
            refused++;
            assert_true(strncmp(err.msg, "stage2.onnx: ", 13) == 0);
        } else {
            sf_nn_stage_free(st);
        }
    }
    assert_int_equal(refused, tried);
    assert_int_equal(
        sf_nn_stage_load_mem(buf, len / 2, "half.onnx", &(struct sf_nn_stage *){0}, &err),
        SF_EPARSE);
    assert_non_null(strstr(err.msg, "truncated"));
    free(buf);
}

/* A model whose stages do not chain (stage 1 then stage 3) is refused at load. */
static void test_model_shape_chain_mismatch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char dir[] = "/tmp/sf_test_nn_XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *files[] = {"stage1.onnx", "stage3.onnx"};
    char src[1024], dst[1100];
    for (size_t i = 0; i < 2; i++) {
        snprintf(src, sizeof(src), "%s/models/fmnist-ee/%s", source_dir(), files[i]);
        snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
        assert_int_equal(symlink(src, dst), 0);
    }
    snprintf(dst, sizeof(dst), "%s/model.json", dir);
    FILE *f = fopen(dst, "w");
    assert_non_null(f);
    fputs("{\"format\":\"serflow-ee-onnx/1\",\"normalization\":{\"mean\":0,\"std\":1},"
          "\"name\":\"bad\",\"input\":{\"shape\":[1,28,28],\"dtype\":\"float32\"},\"labels\":"
          "[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"],\"stages\":["
          "{\"file\":\"stage1.onnx\"},{\"file\":\"stage3.onnx\"}]}",
          f);
    fclose(f);
    struct sf_nn_model *m;
    assert_int_equal(sf_nn_model_load(dir, &m, &err), SF_EINVAL);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "shape mismatch"));
    assert_non_null(strstr(err.msg, "stage3.onnx"));
    /* JSON syntax errors carry line:column. */
    f = fopen(dst, "w");
    assert_non_null(f);
    fputs("{\n\"name\": \"bad\",\n}\n", f);
    fclose(f);
    assert_int_equal(sf_nn_model_load(dir, &m, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "model.json:3:"));
    for (size_t i = 0; i < 2; i++) {
        snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
        unlink(dst);
    }
    snprintf(dst, sizeof(dst), "%s/model.json", dir);
    unlink(dst);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_mix_matches_torch),
        cmocka_unit_test(test_gemm_mix_matches_torch),
        cmocka_unit_test(test_ops_ext_matches_torch),
        cmocka_unit_test(test_bundled_model_folds_batchnorm),
        cmocka_unit_test(test_bundled_model_golden_and_agreement),
        cmocka_unit_test(test_layout_conversions),
        cmocka_unit_test(test_dnnl_options_agree_with_reference),
        cmocka_unit_test(test_stage_flops),
        cmocka_unit_test(test_loader_errors),
        cmocka_unit_test(test_truncated_onnx),
        cmocka_unit_test(test_model_shape_chain_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
