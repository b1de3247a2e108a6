/*
 * bench_nn.c - profiles the bundled early-exit model with the library's profiling functions
 * and prints the figures: per-stage runtime per batch size, hidden-state bytes (raw, LZ4),
 * per-classifier accuracy, and exit fractions / accuracy per tau on the Fashion-MNIST test set.
 *
 *   bench_nn [--backend dnnl|ref] [--model DIR] [--reps N] [--e2e BATCH]
 *
 * --e2e BATCH: only time the whole model (all stages, no exits) at that batch size and print
 * one line "e2e backend=... batch=B median_s=... p99_s=... req_per_s=..." (bench/nn_vs_torch.sh).
 * Threads: OMP_NUM_THREADS (oneDNN's OpenMP runtime).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serflow/nn.h"
#include "serflow/nn_profile.h"

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define TEST_LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

static int e2e(struct sf_nn_runner *r, const struct sf_nn_model *m, const struct sf_nn_dataset *d,
               enum sf_nn_backend be, size_t batch, int reps)
{
    struct sf_err err = {{0}};
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result *res = malloc(batch * sizeof(*res));
    double *t = malloc((size_t)reps * sizeof(double));
    float *x = malloc(batch * 784 * sizeof(float));
    for (size_t i = 0; i < batch; i++)
        memcpy(x + i * 784, d->x + (i % d->n) * 784, 784 * sizeof(float));
    for (int i = -5; i < reps; i++) {
        size_t n_out;
        double t0 = sf_monotonic_s();
        if (sf_nn_batch_set_input(&b, m, x, NULL, batch, &err) ||
            sf_nn_runner_run(r, &b, sf_nn_model_num_stages(m), 2.0, res, &n_out, &err)) {
            fprintf(stderr, "bench_nn: %s\n", err.msg);
            return 1;
        }
        if (i >= 0)
            t[i] = sf_monotonic_s() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), sf_cmp_double);
    double med = t[reps / 2], p99 = t[(99 * reps + 99) / 100 - 1];
    const char *thr = getenv("OMP_NUM_THREADS");
    printf("e2e backend=%s threads=%s batch=%zu median_s=%.6f p99_s=%.6f req_per_s=%.1f\n",
           sf_nn_backend_name(be), thr ? thr : "default", batch, med, p99, batch / med);
    free(res);
    free(t);
    free(x);
    sf_nn_batch_fini(&b);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_dir = SF_SOURCE_DIR "/models/fmnist-ee";
    enum sf_nn_backend be = SF_NN_BACKEND_DNNL;
    int reps = 50;
    size_t e2e_batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            if (sf_nn_backend_parse(argv[++i], &be)) {
                fprintf(stderr, "bench_nn: unknown backend %s\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model_dir = argv[++i];
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--e2e") && i + 1 < argc) {
            e2e_batch = (size_t)atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_nn [--backend dnnl|ref] [--model DIR] [--reps N] "
                            "[--e2e BATCH]\n");
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    struct sf_err err = {{0}};
    struct sf_nn_model *m = NULL;
    struct sf_nn_runner *r = NULL;
    struct sf_nn_dataset d;
    if (sf_nn_model_load(model_dir, &m, &err) || sf_nn_runner_new(m, be, &r, &err) ||
        sf_nn_dataset_load_idx(TEST_IMAGES, TEST_LABELS, sf_nn_model_norm_mean(m),
                               sf_nn_model_norm_std(m), 0, &d, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    if (e2e_batch)
        return e2e(r, m, &d, be, e2e_batch, reps);
    int ns = sf_nn_model_num_stages(m);
    printf("model %s, %d stages, backend %s, %zu test images\n", sf_nn_model_name(m), ns,
           sf_nn_backend_name(be), d.n);

    const size_t batches[] = {1, 8, 32, 100};
    const size_t nb = sizeof(batches) / sizeof(batches[0]);
    struct sf_nn_stage_timing *tm = calloc((size_t)ns * nb, sizeof(*tm));
    if (sf_nn_profile_stage_times(r, m, d.x, 256, batches, nb, 5, reps, tm, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    printf("\nper-stage runtime (%d runs after 5 warm-up): median / p99 per batch, ms\n", reps);
    printf("stage");
    for (size_t b = 0; b < nb; b++)
        printf("   batch %-3zu          ", batches[b]);
    printf("\n");
    for (int k = 0; k < ns; k++) {
        printf("%5d", k + 1);
        for (size_t b = 0; b < nb; b++)
            printf("   %8.3f / %8.3f", tm[(size_t)k * nb + b].median_s * 1e3,
                   tm[(size_t)k * nb + b].p99_s * 1e3);
        printf("\n");
    }

    struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
    if (sf_nn_profile_hidden_sizes(r, m, d.x, 1000, hs, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    printf("\nhidden state per request after stage k (1000 test images, codec frame)\n");
    for (int k = 0; k < ns - 1; k++)
        printf("stage %d: raw %zu bytes, LZ4 frame %.0f bytes (%.2fx)\n", k + 1,
               hs[k].raw_bytes_per_req, hs[k].lz4_bytes_per_req,
               hs[k].raw_bytes_per_req / hs[k].lz4_bytes_per_req);

    const double taus[] = {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.01};
    const size_t nt = sizeof(taus) / sizeof(taus[0]);
    struct sf_nn_tau_stats ts[sizeof(taus) / sizeof(taus[0])];
    double acc[SF_NN_MAX_STAGES];
    double t0 = sf_monotonic_s();
    if (sf_nn_profile_taus(r, m, &d, 500, taus, nt, ts, acc, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    double sweep_s = sf_monotonic_s() - t0;
    printf("\nper-classifier top-1 on %zu test images:", d.n);
    for (int k = 0; k < ns; k++)
        printf(" %.4f", acc[k]);
    printf("\n\nexit fractions per stage and accuracy per tau (%.1f s for the sweep)\n", sweep_s);
    for (size_t t = 0; t < nt; t++) {
        printf("tau %.2f:", taus[t]);
        for (int k = 0; k < ns; k++)
            printf(" %.3f", ts[t].exit_frac[k]);
        printf("  acc %.4f  mean stages %.2f\n", ts[t].accuracy, ts[t].mean_stages);
    }
    free(tm);
    sf_nn_dataset_fini(&d);
    sf_nn_runner_free(r);
    sf_nn_model_free(m);
    return 0;
}
