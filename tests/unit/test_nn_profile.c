/* test_nn_profile.c - IDX reader (normalisation, refusals) and the profiling functions: the
 * tau sweep agrees with the driver run request by request, timings are ordered, hidden-state
 * sizes match the stage shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "serflow/nn.h"
#include "serflow/nn_profile.h"

#define N 16

static const char *source_dir(void)
{
    const char *d = getenv("SF_SOURCE_DIR");
    return d && *d ? d : SF_SOURCE_DIR;
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_idx_reader(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char im[] = "/tmp/sf_test_idx_im_XXXXXX", lb[] = "/tmp/sf_test_idx_lb_XXXXXX";
    close(mkstemp(im));
    close(mkstemp(lb));
    /* 3 images of 2x2, labels 7 1 4. */
    unsigned char images[16 + 12] = {0, 0, 8, 3,   0,  0,   0, 3, 0, 0, 0, 2, 0, 0,
                                     0, 2, 0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char labels[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 4};
    write_file(im, images, sizeof(images));
    write_file(lb, labels, sizeof(labels));
    struct sf_nn_dataset d;
    assert_int_equal(sf_nn_dataset_load_idx(im, lb, 0.5, 0.25, 0, &d, &err), SF_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.h, 2);
    assert_true(fabs(d.x[0] - (0.0 - 0.5) / 0.25) < 1e-6);
    assert_true(fabs(d.x[1] - (1.0 - 0.5) / 0.25) < 1e-6);
    assert_true(fabs(d.x[2] - (0.2 - 0.5) / 0.25) < 1e-6);
    assert_int_equal(d.labels[0], 7);
    assert_int_equal(d.labels[2], 4);
    sf_nn_dataset_fini(&d);
    assert_int_equal(sf_nn_dataset_load_idx(im, lb, 0.5, 0.25, 2, &d, &err), SF_OK);
    assert_int_equal(d.n, 2);
    sf_nn_dataset_fini(&d);
    /* Truncated images, label count mismatch, bad magic: refused, naming the file. */
    write_file(im, images, sizeof(images) - 1);
    assert_int_equal(sf_nn_dataset_load_idx(im, lb, 0, 1, 0, &d, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, im));
    write_file(im, images, sizeof(images));
    labels[7] = 2;
    write_file(lb, labels, sizeof(labels));
    assert_int_equal(sf_nn_dataset_load_idx(im, lb, 0, 1, 0, &d, &err), SF_EINVAL);
    images[3] = 1;
    write_file(im, images, sizeof(images));
    assert_int_equal(sf_nn_dataset_load_idx(im, lb, 0, 1, 0, &d, &err), SF_EPARSE);
    assert_int_equal(sf_nn_dataset_load_idx("/nonexistent/x", lb, 0, 1, 0, &d, &err), SF_ENOTFOUND);
    unlink(im);
    unlink(lb);
}

struct fixture {
    struct sf_nn_model *m;
    struct sf_nn_runner *r;
    struct sf_nn_dataset d;
};

static int setup(void **state)
{
    struct sf_err err = {{0}};
    struct fixture *f = calloc(1, sizeof(*f));
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/fmnist-ee", source_dir());
    if (sf_nn_model_load(path, &f->m, &err))
        fail_msg("%s", err.msg);
    if (sf_nn_runner_new(f->m, SF_NN_BACKEND_REF, &f->r, &err))
        fail_msg("%s", err.msg);
    /* The golden images with their labels from model.json. */
    snprintf(path, sizeof(path), "%s/models/fmnist-ee/model.json", source_dir());
    json_t *root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    json_t *labels = json_object_get(json_object_get(root, "golden"), "labels");
    assert_int_equal(json_array_size(labels), N);
    f->d.n = N;
    f->d.h = f->d.w = 28;
    f->d.x = malloc(N * 784 * sizeof(float));
    f->d.labels = malloc(N * sizeof(int));
    for (int i = 0; i < N; i++)
        f->d.labels[i] = (int)json_integer_value(json_array_get(labels, (size_t)i));
    json_decref(root);
    snprintf(path, sizeof(path), "%s/models/fmnist-ee/golden_input.f32", source_dir());
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(f->d.x, sizeof(float), N * 784, fp), N * 784);
    fclose(fp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sf_nn_dataset_fini(&f->d);
    sf_nn_runner_free(f->r);
    sf_nn_model_free(f->m);
    free(f);
    return 0;
}

static void test_tau_sweep_matches_driver(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    int ns = sf_nn_model_num_stages(f->m);
    const double taus[] = {0.5, 0.8, 0.9, 1.5};
    struct sf_nn_tau_stats ts[4];
    double acc[SF_NN_MAX_STAGES];
    /* Batch 5 does not divide 16: the last chunk is short. */
    if (sf_nn_profile_taus(f->r, f->m, &f->d, 5, taus, 4, ts, acc, &err))
        fail_msg("%s", err.msg);
    for (size_t t = 0; t < 4; t++) {
        struct sf_nn_batch b;
        sf_nn_batch_init(&b);
        struct sf_nn_result res[N];
        size_t n_out;
        assert_int_equal(sf_nn_batch_set_input(&b, f->m, f->d.x, NULL, N, &err), SF_OK);
        assert_int_equal(sf_nn_runner_run(f->r, &b, ns, taus[t], res, &n_out, &err), SF_OK);
        double frac[SF_NN_MAX_STAGES] = {0}, sum = 0;
        size_t ok = 0;
        for (size_t i = 0; i < n_out; i++) {
            frac[res[i].exit_stage - 1] += 1.0 / N;
            ok += res[i].label == f->d.labels[res[i].id];
        }
        for (int k = 0; k < ns; k++) {
            assert_true(fabs(frac[k] - ts[t].exit_frac[k]) < 1e-9);
            sum += ts[t].exit_frac[k];
        }
        assert_true(fabs(sum - 1.0) < 1e-9);
        assert_true(fabs(ts[t].accuracy - (double)ok / N) < 1e-9);
        assert_true(ts[t].mean_stages >= 1.0 && ts[t].mean_stages <= ns);
        sf_nn_batch_fini(&b);
    }
    /* tau > 1: everyone runs every stage. */
    assert_true(fabs(ts[3].mean_stages - ns) < 1e-9);
    for (int k = 0; k < ns; k++)
        assert_true(acc[k] >= 0.0 && acc[k] <= 1.0);
}

static void test_stage_times_and_hidden_sizes(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    int ns = sf_nn_model_num_stages(f->m);
    const size_t batches[] = {1, 4};
    struct sf_nn_stage_timing tm[2 * SF_NN_MAX_STAGES];
    if (sf_nn_profile_stage_times(f->r, f->m, f->d.x, N, batches, 2, 1, 3, tm, &err))
        fail_msg("%s", err.msg);
    for (int k = 0; k < ns; k++)
        for (int b = 0; b < 2; b++) {
            const struct sf_nn_stage_timing *t = &tm[k * 2 + b];
            assert_int_equal(t->stage, k + 1);
            assert_int_equal(t->batch, batches[b]);
            assert_true(t->median_s > 0 && t->p99_s >= t->median_s);
        }
    struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
    if (sf_nn_profile_hidden_sizes(f->r, f->m, f->d.x, N, hs, &err))
        fail_msg("%s", err.msg);
    for (int k = 1; k < ns; k++) {
        size_t numel = sf_nn_shape_numel(sf_nn_stage_hidden_shape(sf_nn_model_stage(f->m, k)));
        assert_int_equal(hs[k - 1].raw_bytes_per_req, numel * sizeof(float));
        assert_true(hs[k - 1].lz4_bytes_per_req > 0);
    }
    assert_int_equal(sf_nn_profile_stage_times(f->r, f->m, f->d.x, N, batches, 2, 1, 0, tm, &err),
                     SF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_reader),
        cmocka_unit_test_setup_teardown(test_tau_sweep_matches_driver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_times_and_hidden_sizes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
