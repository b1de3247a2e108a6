/* test_nn_families.c - "bring your own model": three small early-exit networks of the common
 * families, built in PyTorch with random weights and exported by tools/export_ee.py
 * (tools/make_ee_testdata.py writes tests/data/ee/): ResNet-SDN (residual Add of two
 * activations, downsampling shortcut, SDN mixed-pooling classifiers), MobileNet-SDN (depthwise
 * and grouped convolutions, ReLU6/Clip fused and standalone, inverted residual) and one with
 * dilation and every padding mode (auto_pad SAME_UPPER/SAME_LOWER/VALID, asymmetric pads, a
 * Pad folded into a Conv, ceil_mode pooling). Every stage's logits on both backends (oneDNN
 * with several option sets, the input and hidden state in the layouts a runner uses) must
 * equal PyTorch's within 1e-4; the early-exit runner must answer with them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "serflow/nn.h"

#define GOLDEN_N     8
#define VGG_GOLDEN_N 16
#define CLASSES      10
/* PyTorch vs serflow, any logit of any stage (the bar). */
#define TOL 1e-4

static const char *const families[] = {"resnet-sdn", "mobilenet-sdn", "dilated"};

static float *read_f32(const char *rel, size_t count)
{
    FILE *f = fopen(tu_src(rel), "rb");
    if (!f)
        fail_msg("cannot open %s", tu_src(rel));
    float *v = malloc(count * sizeof(float));
    assert_non_null(v);
    assert_int_equal(fread(v, sizeof(float), count, f), count);
    assert_int_equal(fgetc(f), EOF); /* the file holds exactly that */
    fclose(f);
    return v;
}

/* The model at rel (from the source tree); fails the test when it does not load. */
static struct sf_nn_model *load_model(const char *rel)
{
    struct sf_err err = {{0}};
    struct sf_nn_model *m = NULL;
    if (sf_nn_model_load(tu_src(rel), &m, &err))
        fail_msg("%s", err.msg);
    return m;
}

static struct sf_nn_model *load_family(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "tests/data/ee/%s", name);
    return load_model(rel);
}

static double max_abs(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Runs every stage of m with runner r's execs on the first n golden requests, the hidden state
 * handed over in the layout the next stage prefers (or plain NCHW when `plain`), and returns
 * the largest logit difference from PyTorch's. */
static double stages_vs_torch(struct sf_nn_runner *r, const struct sf_nn_model *m, const float *x0,
                              const float *golden, size_t golden_n, size_t n, int plain)
{
    struct sf_err err = {{0}};
    int ns = sf_nn_model_num_stages(m);
    size_t in_n = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    float *in = malloc(n * in_n * sizeof(float));
    assert_non_null(in);
    memcpy(in, x0, n * in_n * sizeof(float));
    enum sf_nn_layout in_l = SF_NN_LAYOUT_NCHW;
    double worst = 0;
    for (int k = 1; k <= ns; k++) {
        const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(sf_nn_model_stage(m, k));
        enum sf_nn_layout hl = k < ns && !plain
                                   ? sf_nn_exec_input_layout(sf_nn_runner_exec(r, k + 1))
                                   : SF_NN_LAYOUT_NCHW;
        size_t hn = sf_nn_layout_numel(hl, hs);
        float *h = calloc(n * (hn ? hn : 1), sizeof(float));
        float l[VGG_GOLDEN_N * CLASSES];
        assert_non_null(h);
        assert_true(n <= VGG_GOLDEN_N && n <= golden_n);
        if (sf_nn_exec_run_layout(sf_nn_runner_exec(r, k), in, in_l, n, hn ? h : NULL, hl, l, &err))
            fail_msg("stage %d: %s", k, err.msg);
        /* golden is [stage][request][class] over golden_n requests */
        double d = max_abs(l, golden + (size_t)(k - 1) * golden_n * CLASSES, n * CLASSES);
        if (d >= TOL)
            fail_msg("%s stage %d, batch %zu: logits differ from PyTorch's by %.3g",
                     sf_nn_model_name(m), k, n, d);
        worst = fmax(worst, d);
        free(in);
        in = h;
        in_l = hl;
    }
    free(in);
    return worst;
}

/* The runner without exits (tau 2: nobody leaves early) on the first n golden images: each
 * answered by its most confident classifier, as PyTorch's logits say (the softmax maxima of
 * two classifiers closer than TOL may fall either way). */
static void no_exit_vs_torch(struct sf_nn_runner *r, const struct sf_nn_model *m, const float *x0,
                             const float *golden, size_t n)
{
    struct sf_err err = {{0}};
    int ns = sf_nn_model_num_stages(m);
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result res[VGG_GOLDEN_N];
    size_t n_out = 0;
    assert_true(n <= VGG_GOLDEN_N);
    if (sf_nn_batch_set_input(&b, m, x0, NULL, n, &err) ||
        sf_nn_runner_run(r, &b, ns, 2.0, res, &n_out, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(n_out, n);
    for (size_t j = 0; j < n_out; j++) {
        size_t i = (size_t)res[j].id;
        float best = -1, conf[SF_NN_MAX_STAGES + 1], probs[CLASSES];
        int best_k = 0, best_c = -1;
        for (int k = 1; k <= ns; k++) {
            int c = sf_nn_softmax(golden + ((size_t)(k - 1) * VGG_GOLDEN_N + i) * CLASSES, CLASSES,
                                  probs);
            conf[k] = probs[c];
            if (probs[c] > best) {
                best = probs[c];
                best_k = k;
                best_c = c;
            }
        }
        assert_int_equal(res[j].exit_stage, ns);
        assert_false(res[j].cleared_tau);
        assert_true(res[j].answer_stage >= 1 && res[j].answer_stage <= ns);
        assert_true(fabs(res[j].conf - best) < TOL);
        /* the same classifier and label, unless the classifier it chose is as confident as the
         * most confident one within TOL (a near tie) */
        assert_true((res[j].answer_stage == best_k && res[j].label == best_c) ||
                    fabs(conf[res[j].answer_stage] - best) < TOL);
    }
    sf_nn_batch_fini(&b);
}

static void test_families_match_torch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    const struct sf_nn_opts variants[] = {
        {0}, {.conv_direct = 1}, {.sub_batch = 1}, {.sub_batch = 3, .threads = tu_dnnl_threads()}};
    for (size_t f = 0; f < SF_ARRAY_LEN(families); f++) {
        struct sf_nn_model *m = load_family(families[f]);
        int ns = sf_nn_model_num_stages(m);
        assert_int_equal(ns, 3);
        assert_int_equal(sf_nn_model_num_classes(m), CLASSES);
        char rel[256];
        snprintf(rel, sizeof(rel), "tests/data/ee/%s/golden_input.f32", families[f]);
        float *x0 = read_f32(rel, GOLDEN_N * 28 * 28);
        snprintf(rel, sizeof(rel), "tests/data/ee/%s/golden_logits.f32", families[f]);
        float *golden = read_f32(rel, (size_t)ns * GOLDEN_N * CLASSES);
        double worst[2] = {0, 0};
        for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
            size_t nv = b == SF_NN_BACKEND_REF ? 1 : SF_ARRAY_LEN(variants);
            for (size_t v = 0; v < nv; v++) {
                struct sf_nn_runner *r;
                if (sf_nn_runner_new_opts(m, (enum sf_nn_backend)b, &variants[v], &r, &err))
                    fail_msg("%s: %s", families[f], err.msg);
                /* batch 8, then 3 and 1 (oneDNN plans per sub-batch size), both hand-overs;
                 * under valgrind (memcheck runs the JIT 50-100x slower) 3 and 1 only */
                const size_t batches[] = {GOLDEN_N, 3, 1};
                for (size_t i = tu_dnnl_threads() == 1; i < SF_ARRAY_LEN(batches); i++)
                    for (int plain = 0; plain < 2; plain++)
                        worst[b] = fmax(worst[b], stages_vs_torch(r, m, x0, golden, GOLDEN_N,
                                                                  batches[i], plain));
                sf_nn_runner_free(r);
            }
        }
        print_message("%s: max |logit - PyTorch| ref %.3g, dnnl %.3g\n", families[f], worst[0],
                      worst[1]);
        free(x0);
        free(golden);
        sf_nn_model_free(m);
    }
}

/* The early-exit driver on each family: with exits off every request is answered by its most
 * confident classifier, whose label is PyTorch's argmax there; with tau 0 all leave at once. */
static void test_families_exit_driver(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    for (size_t f = 0; f < SF_ARRAY_LEN(families); f++) {
        struct sf_nn_model *m = load_family(families[f]);
        int ns = sf_nn_model_num_stages(m);
        char rel[256];
        snprintf(rel, sizeof(rel), "tests/data/ee/%s/golden_input.f32", families[f]);
        float *x0 = read_f32(rel, GOLDEN_N * 28 * 28);
        snprintf(rel, sizeof(rel), "tests/data/ee/%s/golden_logits.f32", families[f]);
        float *golden = read_f32(rel, (size_t)ns * GOLDEN_N * CLASSES);
        for (int b = SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
            struct sf_nn_runner *r;
            if (sf_nn_runner_new(m, (enum sf_nn_backend)b, &r, &err))
                fail_msg("%s", err.msg);
            const double taus[] = {2.0, 0.0};
            for (size_t t = 0; t < SF_ARRAY_LEN(taus); t++) {
                struct sf_nn_batch bt;
                struct sf_nn_result res[GOLDEN_N];
                size_t done = 0;
                sf_nn_batch_init(&bt);
                if (sf_nn_batch_set_input(&bt, m, x0, NULL, GOLDEN_N, &err) ||
                    sf_nn_runner_run(r, &bt, ns, taus[t], res, &done, &err))
                    fail_msg("%s: %s", families[f], err.msg);
                assert_int_equal(done, GOLDEN_N);
                for (size_t i = 0; i < done; i++) {
                    size_t id = (size_t)res[i].id;
                    assert_true(id < GOLDEN_N);
                    if (taus[t] == 0.0)
                        assert_int_equal(res[i].exit_stage, 1);
                    const float *lg =
                        golden + ((size_t)(res[i].answer_stage - 1) * GOLDEN_N + id) * CLASSES;
                    int best = 0;
                    for (int c = 1; c < CLASSES; c++)
                        best = lg[c] > lg[best] ? c : best;
                    assert_int_equal(res[i].label, best);
                }
                sf_nn_batch_fini(&bt);
            }
            sf_nn_runner_free(r);
        }
        free(x0);
        free(golden);
        sf_nn_model_free(m);
    }
}

/* The bundled VGG16-SDN (models/vgg16-sdn, the paper's architecture trained by
 * tools/train_vgg16_sdn.py): all 11 stages on its 16 golden test images against PyTorch's
 * logits, oneDNN at batch 16 and 3 (both hand-overs); the reference backend on one image (it
 * is plain loops: 0.3 GMAC per image). */
static void test_vgg16_sdn_golden(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = load_model("models/vgg16-sdn");
    int ns = sf_nn_model_num_stages(m);
    assert_int_equal(ns, 11);
    const struct sf_nn_shape *is = sf_nn_model_input_shape(m);
    assert_int_equal(is->dims[1], 32);
    float *x0 = read_f32("models/vgg16-sdn/golden_input.f32", VGG_GOLDEN_N * 32 * 32);
    float *golden =
        read_f32("models/vgg16-sdn/golden_logits.f32", (size_t)ns * VGG_GOLDEN_N * CLASSES);
    /* Under valgrind (make valgrind sets SF_TEST_VALGRIND) memcheck runs 50-100x slower: one
     * image on oneDNN, stage by stage with the plain hand-over (20 s there); the loader and
     * every plan are still checked, and the runner's own path is on the families above. */
    int vg = tu_dnnl_threads() == 1;
    double worst[2] = {0, 0};
    for (int b = vg ? SF_NN_BACKEND_DNNL : SF_NN_BACKEND_REF; b <= SF_NN_BACKEND_DNNL; b++) {
        struct sf_nn_runner *r;
        if (sf_nn_runner_new(m, (enum sf_nn_backend)b, &r, &err))
            fail_msg("%s", err.msg);
        if (b == SF_NN_BACKEND_DNNL && !vg)
            no_exit_vs_torch(r, m, x0, golden, VGG_GOLDEN_N);
        const size_t batches[] = {VGG_GOLDEN_N, 3};
        for (size_t i = 0; i < SF_ARRAY_LEN(batches); i++)
            for (int plain = 0; plain < 2; plain++) {
                size_t n = b == SF_NN_BACKEND_REF || vg ? 1 : batches[i];
                if ((b == SF_NN_BACKEND_REF || vg) && (i > 0 || !plain))
                    continue; /* the slow cases: one image, once */
                worst[b] =
                    fmax(worst[b], stages_vs_torch(r, m, x0, golden, VGG_GOLDEN_N, n, plain));
            }
        sf_nn_runner_free(r);
    }
    print_message("vgg16-sdn: max |logit - PyTorch| ref %.3g, dnnl %.3g\n", worst[0], worst[1]);
    free(x0);
    free(golden);
    sf_nn_model_free(m);
}

/* The implementations a convolution is timed with in chunks of one (backend_dnnl.c exec_step:
 * Winograd's two tiles and direct, each at every stack offset, in turns over its first runs)
 * all give PyTorch's logits on the bundled model, and so does the one kept, at batch 1 and 8;
 * afterwards sf_nn_exec_flops counts what was kept: no more than every convolution direct, no
 * less than every Winograd-eligible one in F(4x4,3x3). */
#define TUNE_RUNS 40 /* more than any step's trials: 3 candidates x 4 offsets x 3 rounds */
static void test_timed_implementations_match_torch(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = load_model("models/fmnist-ee");
    int ns = sf_nn_model_num_stages(m);
    float *x0 = read_f32("models/fmnist-ee/golden_input.f32", VGG_GOLDEN_N * 28 * 28);
    float *golden =
        read_f32("models/fmnist-ee/golden_logits.f32", (size_t)ns * VGG_GOLDEN_N * CLASSES);
    const struct sf_nn_opts one = {.threads = 1}, direct = {.threads = 1, .conv_direct = 1};
    struct sf_nn_runner *r, *rd;
    if (sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &one, &r, &err) ||
        sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &direct, &rd, &err))
        fail_msg("%s", err.msg);
    double first[2] = {0, 0}, direct_f[2] = {0, 0};
    const size_t batches[] = {1, 8};
    for (int k = 1; k <= ns; k++)
        for (int i = 0; i < 2; i++) {
            first[i] += sf_nn_exec_flops(sf_nn_runner_exec(r, k), batches[i]);
            direct_f[i] += sf_nn_exec_flops(sf_nn_runner_exec(rd, k), batches[i]);
        }
    double worst = 0;
    /* valgrind: 3 runs (9 s each there), one of each candidate at the first offset; the trials'
     * rotation itself is the same code on every run */
    int runs = tu_under_valgrind() ? 3 : TUNE_RUNS;
    for (int t = 0; t < runs; t++)
        for (int i = 0; i < 2; i++)
            worst = fmax(worst, stages_vs_torch(r, m, x0, golden, VGG_GOLDEN_N, batches[i], 0));
    for (int i = 0; i < 2; i++) {
        double kept = 0;
        for (int k = 1; k <= ns; k++)
            kept += sf_nn_exec_flops(sf_nn_runner_exec(r, k), batches[i]);
        print_message("fmnist-ee batch %zu: %.1f MFLOP executed (first choice %.1f, direct %.1f)\n",
                      batches[i], kept / 1e6, first[i] / 1e6, direct_f[i] / 1e6);
        assert_true(kept <= direct_f[i] + 0.5);
        assert_true(kept >= first[i] - 0.5);
    }
    print_message("fmnist-ee: max |logit - PyTorch| over %d timed runs %.3g\n", runs, worst);
    sf_nn_runner_free(r);
    sf_nn_runner_free(rd);
    free(x0);
    free(golden);
    sf_nn_model_free(m);
}

/* Where Winograd pays on VGG16-SDN (backend_dnnl.c conv_choose): not at 2x2 outputs (stage 11's
 * three convolutions: one F(4x4,3x3) tile would save no multiplication), not at 4x4 outputs
 * (one tile) for a single image, but at 4x4 for a chunk of 8 images and at 32x32 for one, where
 * the CPU has it. sf_nn_exec_flops tells the algorithms apart: it counts Winograd's products,
 * not the direct taps. */
static void test_vgg16_sdn_winograd_where_it_pays(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = load_model("models/vgg16-sdn");
    const struct sf_nn_opts deflt = {.threads = 1}, direct = {.threads = 1, .conv_direct = 1};
    double f[12][2][2]; /* stage, direct?, batch 1 / 100 */
    const int stages[] = {2, 9, 11};
    for (size_t i = 0; i < SF_ARRAY_LEN(stages); i++)
        for (int d = 0; d < 2; d++) {
            struct sf_nn_exec *ex;
            if (sf_nn_exec_new_opts(sf_nn_model_stage(m, stages[i]), SF_NN_BACKEND_DNNL,
                                    d ? &direct : &deflt, &ex, &err))
                fail_msg("%s", err.msg);
            f[stages[i]][d][0] = sf_nn_exec_flops(ex, 1);
            f[stages[i]][d][1] = sf_nn_exec_flops(ex, 100);
            sf_nn_exec_free(ex);
        }
    /* this CPU has Winograd when stage 2 (64 channels, 32x32) uses it for one image */
    int wino = f[2][0][0] < f[2][1][0] - 0.5;
    print_message("vgg16-sdn: Winograd %s on this CPU\n", wino ? "available" : "not available");
    for (int b = 0; b < 2; b++)
        assert_true(fabs(f[11][0][b] - f[11][1][b]) < 0.5); /* 2x2: direct at every size */
    assert_true(fabs(f[9][0][0] - f[9][1][0]) < 0.5);       /* 4x4, one image: direct */
    if (wino)
        assert_true(f[9][0][1] < f[9][1][1] - 0.5); /* 4x4, chunks of 8: Winograd */
    else
        assert_true(fabs(f[9][0][1] - f[9][1][1]) < 0.5);
    sf_nn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_match_torch),
        cmocka_unit_test(test_families_exit_driver),
        cmocka_unit_test(test_vgg16_sdn_golden),
        cmocka_unit_test(test_vgg16_sdn_winograd_where_it_pays),
        cmocka_unit_test(test_timed_implementations_match_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
