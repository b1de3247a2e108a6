/* test_nn_exit.c - the early-exit driver on the bundled model: exit stage, label and
 * probabilities per request for several thresholds (checked against a stage-by-stage run
 * without exits), the most-confident fallback, compaction, a head/tail split through the
 * hidden-state codec giving the same answers as one run, and oneDNN runners (with exits, and
 * without: depth-first groups) agreeing with the reference. */
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
#include "serflow/nn_codec.h"

#define N 16

struct fixture {
    struct sf_nn_model *m;
    struct sf_nn_runner *r;
    float *x;
    int ns;
    float probs[SF_NN_MAX_STAGES][N][10]; /* every classifier's softmax, no exits */
};

static const char *source_dir(void)
{
    const char *d = getenv("SF_SOURCE_DIR");
    return d && *d ? d : SF_SOURCE_DIR;
}

static int setup(void **state)
{
    struct sf_err err = {{0}};
    struct fixture *f = calloc(1, sizeof(*f));
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/fmnist-ee", source_dir());
    if (sf_nn_model_load(path, &f->m, &err))
        fail_msg("%s", err.msg);
    f->ns = sf_nn_model_num_stages(f->m);
    /* The reference backend computes each request independently of the batch it is in, so
     * compacted batches give bit-identical numbers and the comparison below can be exact. */
    if (sf_nn_runner_new(f->m, SF_NN_BACKEND_REF, &f->r, &err))
        fail_msg("%s", err.msg);
    snprintf(path, sizeof(path), "%s/models/fmnist-ee/golden_input.f32", source_dir());
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    f->x = malloc(N * 784 * sizeof(float));
    assert_int_equal(fread(f->x, sizeof(float), N * 784, fp), N * 784);
    fclose(fp);
    /* Stage by stage with no exits. */
    float *in = malloc(N * 784 * sizeof(float));
    memcpy(in, f->x, N * 784 * sizeof(float));
    for (int k = 1; k <= f->ns; k++) {
        const struct sf_nn_stage *st = sf_nn_model_stage(f->m, k);
        size_t hn = sf_nn_shape_numel(sf_nn_stage_hidden_shape(st));
        float *h = malloc((hn ? hn : 1) * N * sizeof(float)), l[N * 10];
        if (sf_nn_exec_run(sf_nn_runner_exec(f->r, k), in, N, h, l, &err))
            fail_msg("%s", err.msg);
        for (int i = 0; i < N; i++)
            sf_nn_softmax(l + i * 10, 10, f->probs[k - 1][i]);
        free(in);
        in = h;
    }
    free(in);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sf_nn_runner_free(f->r);
    sf_nn_model_free(f->m);
    free(f->x);
    free(f);
    return 0;
}

static int argmax(const float *p)
{
    int a = 0;
    for (int c = 1; c < 10; c++)
        if (p[c] > p[a])
            a = c;
    return a;
}

/* Checks one result against the exit rule applied to the no-exit probabilities. */
static void check_result(const struct fixture *f, const struct sf_nn_result *res, double tau)
{
    int i = (int)(res->id - 100);
    assert_true(i >= 0 && i < N);
    int exit_k = 0;
    for (int k = 1; k <= f->ns && !exit_k; k++)
        if (f->probs[k - 1][i][argmax(f->probs[k - 1][i])] >= tau)
            exit_k = k;
    if (exit_k) {
        assert_int_equal(res->exit_stage, exit_k);
        assert_int_equal(res->answer_stage, exit_k);
        assert_int_equal(res->cleared_tau, 1);
    } else {
        int best = 1;
        for (int k = 2; k <= f->ns; k++)
            if (f->probs[k - 1][i][argmax(f->probs[k - 1][i])] >
                f->probs[best - 1][i][argmax(f->probs[best - 1][i])])
                best = k;
        assert_int_equal(res->exit_stage, f->ns);
        assert_int_equal(res->answer_stage, best);
        assert_int_equal(res->cleared_tau, 0);
        exit_k = best;
    }
    const float *p = f->probs[exit_k - 1][i];
    assert_int_equal(res->label, argmax(p));
    assert_memory_equal(res->probs, p, 10 * sizeof(float));
    assert_true(res->conf == p[res->label]);
}

/* The result with this id among n = N results (fails the test when there is none). */
static const struct sf_nn_result *by_id(const struct sf_nn_result *res, uint64_t id)
{
    for (size_t j = 0; j < N; j++)
        if (res[j].id == id)
            return &res[j];
    fail_msg("no result for request %llu", (unsigned long long)id);
    return NULL;
}

static void run_all(struct fixture *f, double tau, struct sf_nn_result *out, size_t *n_out)
{
    struct sf_err err = {{0}};
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    uint64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = 100 + (uint64_t)i;
    assert_int_equal(sf_nn_batch_set_input(&b, f->m, f->x, ids, N, &err), SF_OK);
    if (sf_nn_runner_run(f->r, &b, f->ns, tau, out, n_out, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(*n_out, N);
    assert_int_equal(b.n, 0);
    sf_nn_batch_fini(&b);
}

static void test_exit_rule_per_tau(void **state)
{
    struct fixture *f = *state;
    const double taus[] = {0.0, 0.85, 1.5, 0.5, 0.7, 0.9, 0.99};
    /* under valgrind (the reference backend's loops, 5 s a pass there) all, none and some leave
     * early: the first three */
    size_t n_taus = tu_under_valgrind() ? 3 : SF_ARRAY_LEN(taus);
    for (size_t t = 0; t < n_taus; t++) {
        struct sf_nn_result out[N];
        size_t n_out;
        run_all(f, taus[t], out, &n_out);
        int hist[SF_NN_MAX_STAGES + 1] = {0};
        uint32_t seen = 0;
        for (size_t i = 0; i < n_out; i++) {
            check_result(f, &out[i], taus[t]);
            seen |= 1u << (out[i].id - 100);
            hist[out[i].exit_stage]++;
            /* Results come out in stage order. */
            if (i)
                assert_true(out[i].exit_stage >= out[i - 1].exit_stage);
        }
        assert_int_equal(seen, (1u << N) - 1);
        print_message("tau %.4g: exits per stage", taus[t]);
        for (int k = 1; k <= f->ns; k++)
            print_message(" %d", hist[k]);
        print_message("\n");
        if (taus[t] == 0.0)
            assert_int_equal(hist[1], N);
        if (taus[t] > 1.0) {
            assert_int_equal(hist[f->ns], N);
            for (size_t i = 0; i < n_out; i++)
                assert_int_equal(out[i].cleared_tau, 0);
        }
    }
}

/* Head (stages 1..3) on one side, the codec in between, tail (4..N) on the other. */
static void test_split_through_codec_matches_single_run(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    const double tau = 0.9;
    struct sf_nn_result whole[N], parts[N];
    size_t n_whole, n_head, n_tail;
    run_all(f, tau, whole, &n_whole);

    struct sf_nn_batch head, tail;
    sf_nn_batch_init(&head);
    sf_nn_batch_init(&tail);
    uint64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = 100 + (uint64_t)i;
    assert_int_equal(sf_nn_batch_set_input(&head, f->m, f->x, ids, N, &err), SF_OK);
    if (sf_nn_runner_run(f->r, &head, 3, tau, parts, &n_head, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(head.stages_done, 3);
    assert_int_equal(head.n + n_head, N);
    /* The split is only a test if both sides have work (true for the bundled model). */
    assert_true(n_head > 0 && head.n > 0);
    for (size_t i = 1; i < head.n; i++)
        assert_true(head.ids[i] > head.ids[i - 1]); /* compaction keeps request order */
    const struct sf_nn_shape *hs = sf_nn_stage_hidden_shape(sf_nn_model_stage(f->m, 3));
    assert_int_equal(head.shape.ndim, hs->ndim); /* dims past ndim are unspecified */
    assert_memory_equal(head.shape.dims, hs->dims, sizeof(hs->dims[0]) * (size_t)hs->ndim);

    void *buf;
    size_t len, raw;
    assert_int_equal(sf_nn_codec_encode(&head, tau, &buf, &len, &raw, &err), SF_OK);
    double tau2;
    assert_int_equal(sf_nn_codec_decode(buf, len, raw + 1, &tail, &tau2, &err), SF_OK);
    free(buf);
    assert_true(fabs(tau2 - tau) < 1e-7);
    if (sf_nn_runner_run(f->r, &tail, f->ns, tau2, parts + n_head, &n_tail, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(n_head + n_tail, N);
    for (size_t i = 0; i < N; i++) {
        const struct sf_nn_result *w = by_id(whole, parts[i].id);
        assert_int_equal(w->label, parts[i].label);
        assert_int_equal(w->exit_stage, parts[i].exit_stage);
        assert_int_equal(w->answer_stage, parts[i].answer_stage);
        assert_memory_equal(w->probs, parts[i].probs, sizeof(w->probs));
    }
    /* A finished range cannot be run again from an earlier stage. */
    assert_int_equal(sf_nn_runner_run(f->r, &tail, 2, tau, parts, &n_tail, &err), SF_EINVAL);
    /* A state that does not fit the next stage's input (images claimed to be after stage 2). */
    assert_int_equal(sf_nn_batch_set_input(&head, f->m, f->x, ids, N, &err), SF_OK);
    head.stages_done = 2;
    assert_int_equal(sf_nn_runner_run(f->r, &head, f->ns, tau, parts, &n_tail, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "stage 3"));
    sf_nn_batch_fini(&head);
    sf_nn_batch_fini(&tail);
}

/* The oneDNN runner, with each option set, gives the same labels and exit stages as the
 * reference on these images. Exact agreement is a fair demand only when no confidence lies
 * within the backends' numeric difference of tau: checked first. */
static void test_dnnl_runner_agrees(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    const double tau = 0.85;
    for (int k = 0; k < f->ns; k++)
        for (int i = 0; i < N; i++)
            assert_true(fabs(f->probs[k][i][argmax(f->probs[k][i])] - tau) > 1e-5);
    struct sf_nn_result a[N], b[N];
    size_t na, nb;
    run_all(f, tau, a, &na);
    const struct sf_nn_opts variants[] = {
        {0}, {.threads = tu_dnnl_threads(), .sub_batch = 2}, {.conv_direct = 1, .sub_batch = 5}};
    /* under valgrind: the default and the direct-convolution runner (the second variant is a
     * 2-thread one, on one thread there) */
    for (size_t v = 0; v < SF_ARRAY_LEN(variants); v += tu_under_valgrind() && v == 0 ? 2 : 1) {
        struct sf_nn_runner *d;
        if (sf_nn_runner_new_opts(f->m, SF_NN_BACKEND_DNNL, &variants[v], &d, &err))
            fail_msg("%s", err.msg);
        /* warmed first (every chunk size's plan made on zero images) or not: the same answers */
        if (v > 0 && sf_nn_runner_warm(d, &err))
            fail_msg("%s", err.msg);
        struct sf_nn_batch bt;
        sf_nn_batch_init(&bt);
        uint64_t ids[N];
        for (int i = 0; i < N; i++)
            ids[i] = 100 + (uint64_t)i;
        /* Twice: the second run reuses every plan the first one built. */
        for (int rep = 0; rep < 2; rep++) {
            assert_int_equal(sf_nn_batch_set_input(&bt, f->m, f->x, ids, N, &err), SF_OK);
            if (sf_nn_runner_run(d, &bt, f->ns, tau, b, &nb, &err))
                fail_msg("%s", err.msg);
            assert_int_equal(na, nb);
            for (size_t i = 0; i < na; i++) {
                assert_true(a[i].id == b[i].id);
                assert_int_equal(a[i].label, b[i].label);
                assert_int_equal(a[i].exit_stage, b[i].exit_stage);
                assert_true(fabs(a[i].conf - b[i].conf) < 1e-5);
            }
        }
        sf_nn_batch_fini(&bt);
        sf_nn_runner_free(d);
    }
}

/* Without exits (tau > 1) the oneDNN runner takes the batch through every stage in groups of
 * a few requests, each group on one worker: the same answers as the reference, in batch order,
 * and a head run hands back every request with the hidden state the reference computes, from
 * which a oneDNN tail gives the whole run's answers. */
static void test_dnnl_groups_without_exits(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    const double tau = 2.0;
    /* The most confident classifier is the same on both backends only where the runner-up
     * stage is further than their numeric difference from it (several stages of a confident
     * request round to 1.0): clear[i]. */
    int clear[N], n_clear = 0;
    for (int i = 0; i < N; i++) {
        double top = -1, second = -1;
        for (int k = 0; k < f->ns; k++) {
            double c = f->probs[k][i][argmax(f->probs[k][i])];
            second = c > top ? top : fmax(second, c);
            top = fmax(top, c);
        }
        clear[i] = top - second > 1e-5;
        n_clear += clear[i];
    }
    assert_true(n_clear >= N / 2);
    struct sf_nn_result a[N], b[N];
    size_t na, nb;
    run_all(f, tau, a, &na);
    uint64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = 100 + (uint64_t)i;
    /* The reference's head: stages 1-3, every request stays. */
    struct sf_nn_batch rh;
    sf_nn_batch_init(&rh);
    assert_int_equal(sf_nn_batch_set_input(&rh, f->m, f->x, ids, N, &err), SF_OK);
    if (sf_nn_runner_run(f->r, &rh, 3, tau, b, &nb, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(nb, 0);
    assert_int_equal(rh.n, N);
    size_t hn = sf_nn_shape_numel(&rh.shape);
    const struct sf_nn_opts variants[] = {
        {.threads = 1}, {.threads = tu_dnnl_threads(), .sub_batch = 2}, {.conv_direct = 1}};
    /* under valgrind: the one-thread and the direct-convolution runner, batches of 1 and 5 */
    int vg = tu_under_valgrind();
    for (size_t v = 0; v < SF_ARRAY_LEN(variants); v += vg && v == 0 ? 2 : 1) {
        struct sf_nn_runner *d;
        if (sf_nn_runner_new_opts(f->m, SF_NN_BACKEND_DNNL, &variants[v], &d, &err))
            fail_msg("%s", err.msg);
        /* Batches of 1, 5 and 16 (one group, groups of uneven size, several per worker). */
        for (size_t n = 1; n <= (vg ? 5 : N); n += n < 5 ? 4 : 11) {
            struct sf_nn_batch bt;
            sf_nn_batch_init(&bt);
            assert_int_equal(sf_nn_batch_set_input(&bt, f->m, f->x, ids, n, &err), SF_OK);
            if (sf_nn_runner_run(d, &bt, f->ns, tau, b, &nb, &err))
                fail_msg("%s", err.msg);
            assert_int_equal(nb, n);
            assert_int_equal(bt.n, 0);
            assert_int_equal(bt.stages_done, f->ns);
            for (size_t i = 0; i < n; i++) {
                assert_true(b[i].id == a[i].id); /* batch order */
                assert_int_equal(b[i].exit_stage, f->ns);
                assert_int_equal(b[i].cleared_tau, 0);
                if (clear[i]) {
                    assert_int_equal(b[i].answer_stage, a[i].answer_stage);
                    assert_int_equal(b[i].label, a[i].label);
                }
                assert_true(fabs(b[i].conf - a[i].conf) < 1e-5);
            }
            /* Head: stages 1-3, then the tail on the same runner. */
            assert_int_equal(sf_nn_batch_set_input(&bt, f->m, f->x, ids, n, &err), SF_OK);
            if (sf_nn_runner_run(d, &bt, 3, tau, b, &nb, &err))
                fail_msg("%s", err.msg);
            assert_int_equal(nb, 0);
            assert_int_equal(bt.n, n);
            assert_int_equal(bt.stages_done, 3);
            assert_int_equal(bt.layout, SF_NN_LAYOUT_NCHW);
            assert_int_equal(sf_nn_shape_numel(&bt.shape), hn);
            double err_max = 0, ref_max = 0;
            for (size_t i = 0; i < n * hn; i++) {
                err_max = fmax(err_max, fabs(bt.x[i] - rh.x[i]));
                ref_max = fmax(ref_max, fabs(rh.x[i]));
            }
            assert_true(err_max <= 1e-5 * ref_max);
            for (size_t i = 0; i < n; i++)
                assert_true(bt.ids[i] == ids[i] && bt.best[i].stage >= 1 && bt.best[i].stage <= 3);
            if (sf_nn_runner_run(d, &bt, f->ns, tau, b, &nb, &err))
                fail_msg("%s", err.msg);
            assert_int_equal(nb, n);
            for (size_t i = 0; i < n; i++) {
                assert_true(b[i].id == a[i].id);
                if (clear[i]) {
                    assert_int_equal(b[i].answer_stage, a[i].answer_stage);
                    assert_int_equal(b[i].label, a[i].label);
                }
                assert_true(fabs(b[i].conf - a[i].conf) < 1e-5);
            }
            sf_nn_batch_fini(&bt);
        }
        sf_nn_runner_free(d);
    }
    sf_nn_batch_fini(&rh);
}

/* A oneDNN head (2 threads) runs its stages in the blocked layout and hands the survivors
 * back in NCHW, as the API promises (callers slice b->x by rows of sf_nn_shape_numel). A
 * batch a caller holds in a blocked layout is converted to NCHW by the codec on encode. Either
 * way a reference tail decodes it and answers as the all-reference run does. */
static void test_blocked_head_through_codec(void **state)
{
    struct fixture *f = *state;
    struct sf_err err = {{0}};
    const double tau = 0.85;
    struct sf_nn_result whole[N], parts[N];
    size_t n_whole, n_head, n_tail;
    run_all(f, tau, whole, &n_whole);
    struct sf_nn_runner *d;
    const struct sf_nn_opts o = {.threads = tu_dnnl_threads()};
    if (sf_nn_runner_new_opts(f->m, SF_NN_BACKEND_DNNL, &o, &d, &err))
        fail_msg("%s", err.msg);
    struct sf_nn_batch head, tail;
    sf_nn_batch_init(&head);
    sf_nn_batch_init(&tail);
    uint64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = 100 + (uint64_t)i;
    assert_int_equal(sf_nn_batch_set_input(&head, f->m, f->x, ids, N, &err), SF_OK);
    if (sf_nn_runner_run(d, &head, 2, tau, parts, &n_head, &err))
        fail_msg("%s", err.msg);
    assert_true(head.n > 0);
    assert_int_equal(head.layout, SF_NN_LAYOUT_NCHW);
    /* The caller puts the state in the layout stage 3 prefers (blocked on oneDNN). */
    enum sf_nn_layout bl = sf_nn_exec_input_layout(sf_nn_runner_exec(d, 3));
    print_message("stage 3 prefers %s\n", sf_nn_layout_name(bl));
    float *blocked = malloc(head.n * sf_nn_layout_numel(bl, &head.shape) * sizeof(float));
    assert_non_null(blocked);
    sf_nn_layout_convert(head.x, SF_NN_LAYOUT_NCHW, blocked, bl, &head.shape, head.n);
    free(head.x);
    head.x = blocked;
    head.x_floats = head.n * sf_nn_layout_numel(bl, &head.shape);
    head.layout = bl;
    void *buf;
    size_t len, raw;
    assert_int_equal(sf_nn_codec_encode(&head, tau, &buf, &len, &raw, &err), SF_OK);
    double tau2;
    assert_int_equal(sf_nn_codec_decode(buf, len, raw, &tail, &tau2, &err), SF_OK);
    free(buf);
    assert_int_equal(tail.layout, SF_NN_LAYOUT_NCHW);
    if (sf_nn_runner_run(f->r, &tail, f->ns, tau2, parts + n_head, &n_tail, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(n_head + n_tail, N);
    for (size_t i = 0; i < N; i++) {
        const struct sf_nn_result *w = by_id(whole, parts[i].id);
        assert_int_equal(w->label, parts[i].label);
        assert_int_equal(w->exit_stage, parts[i].exit_stage);
        assert_true(fabs(w->conf - parts[i].conf) < 1e-5);
    }
    sf_nn_batch_fini(&head);
    sf_nn_batch_fini(&tail);
    sf_nn_runner_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_rule_per_tau),
        cmocka_unit_test(test_split_through_codec_matches_single_run),
        cmocka_unit_test(test_dnnl_runner_agrees),
        cmocka_unit_test(test_dnnl_groups_without_exits),
        cmocka_unit_test(test_blocked_head_through_codec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
