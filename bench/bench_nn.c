/*
 * bench_nn.c - measures the bundled early-exit model with the library's own runner.
 *
 *   bench_nn [--backend dnnl|ref] [--model DIR] [--reps N] [--threads T]   profile tables
 *   bench_nn --e2e BATCH        whole model, no exits: one line "e2e backend=... threads=...
 *                               batch=B median_s=... p99_s=... req_per_s=..."
 *   bench_nn --exits            early exit: time per batch of 100 test images at tau 0.5, 0.7,
 *                               0.9, 0.99 and without exits, against the FLOPs each does
 *   bench_nn --accuracy         Winograd (the default) against direct convolutions on all
 *                               test images at every tau: accuracy and requests answered
 *                               differently (label or exit stage)
 *   bench_nn --serve            worker for bench/nn_vs_peers.sh (bench/nn_peers.py's protocol:
 *                               "check", "run T B R", "flops T B" (executed FLOPs per image
 *                               of the implementations the runs chose), "quit" on stdin)
 *   bench_nn --fma-peak         the host's fp32 FMA peak, measured by an FMA loop on 1 and 2
 *                               threads (GFLOP/s; the fastest of 2000 short bursts, so a busy
 *                               host still shows its peak)
 *   bench_nn --flops            FLOPs per image of the whole model: the direct-convolution
 *                               count (sf_nn_stage_flops), then what the backend would execute
 *                               at 1 and 2 threads, batch 1 and 100 with its first choices
 *                               (sf_nn_exec_flops before any run: timing may choose others)
 *   bench_nn --spin SECONDS     a busy loop: the competing process of bench/nn_busy.sh
 *
 * Options: --threads T (default: OpenMP's setting, OMP_NUM_THREADS), --sub N (sub-batch size
 * instead of the one chosen from the cache), --direct (no Winograd): struct sf_nn_opts.
 */
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serflow/nn.h"
#include "serflow/nn_profile.h"

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define TEST_LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
/* Golden images shipped with the model (bench/nn_peers.py's "check" uses the same). */
#define GOLDEN_N 16
/* Warm-up runs before timing a (threads, batch) pair, as the peers do. */
#define WARMUP 5
/* Thread counts the --serve worker keeps a runner for. */
#define SERVE_MAX_THREADS 8

static const char *model_dir = SF_SOURCE_DIR "/models/fmnist-ee";
/* Floats per image: the model's input (set once it is loaded; test images are fitted to it). */
static size_t image_numel;

static int fail(const struct sf_err *err)
{
    fprintf(stderr, "bench_nn: %s\n", err->msg);
    return 1;
}

static double quantile(double *t, size_t n, double q)
{
    qsort(t, n, sizeof(double), sf_cmp_double);
    size_t rank = (size_t)(q * 100 * (double)n + 99) / 100; /* ceil(q n) */
    return t[rank ? (rank > n ? n : rank) - 1 : 0];
}

/* CPU time of the whole process (every thread), seconds. */
static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Whole model, no exits, on x (batch images); times[i] for reps runs after WARMUP. */
static int time_model(struct sf_nn_runner *r, const struct sf_nn_model *m, const float *x,
                      size_t batch, int reps, double *times, double *cpu_s, struct sf_err *err)
{
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result *res = malloc(batch * sizeof(*res));
    int rc = res ? SF_OK : sf_err_set(err, SF_ENOMEM, "out of memory");
    double c0 = 0;
    for (int i = -WARMUP; i < reps && !rc; i++) {
        size_t n_out = 0;
        if (i == 0)
            c0 = cpu_now_s();
        double t0 = sf_monotonic_s();
        rc = sf_nn_batch_set_input(&b, m, x, NULL, batch, err);
        if (!rc)
            rc = sf_nn_runner_run(r, &b, sf_nn_model_num_stages(m), 2.0, res, &n_out, err);
        if (i >= 0)
            times[i] = sf_monotonic_s() - t0;
    }
    if (cpu_s)
        *cpu_s = (cpu_now_s() - c0) / reps;
    free(res);
    sf_nn_batch_fini(&b);
    return rc;
}

/* batch images cycled from src (n of them). */
static float *cycle_images(const float *src, size_t n, size_t batch)
{
    float *x = malloc(batch * image_numel * sizeof(float));
    for (size_t i = 0; x && i < batch; i++)
        memcpy(x + i * image_numel, src + (i % n) * image_numel, image_numel * sizeof(float));
    return x;
}

static int e2e(struct sf_nn_runner *r, const struct sf_nn_model *m, const struct sf_nn_dataset *d,
               enum sf_nn_backend be, int threads, size_t batch, int reps)
{
    struct sf_err err = {{0}};
    double *t = malloc((size_t)reps * sizeof(double));
    float *x = cycle_images(d->x, d->n, batch);
    double cpu_s = 0;
    if (!t || !x || time_model(r, m, x, batch, reps, t, &cpu_s, &err))
        return fail(&err);
    double p99 = quantile(t, (size_t)reps, 0.99), med = t[reps / 2];
    printf("e2e backend=%s threads=%d batch=%zu median_s=%.6f p99_s=%.6f req_per_s=%.1f "
           "cpu_s=%.6f\n",
           sf_nn_backend_name(be), threads, batch, med, p99, batch / med, cpu_s);
    free(t);
    free(x);
    return 0;
}

static double model_flops(const struct sf_nn_model *m)
{
    double f = 0;
    for (int k = 1; k <= sf_nn_model_num_stages(m); k++)
        f += sf_nn_stage_flops(sf_nn_model_stage(m, k));
    return f;
}

/* ---- early exit against FLOPs ---------------------------------------------------------- */

static int exits(struct sf_nn_runner *r, const struct sf_nn_model *m, const struct sf_nn_dataset *d,
                 int rounds, double only_tau)
{
    double taus[] = {0.5, 0.7, 0.9, 0.99, 2.0};
    enum { NT = sizeof(taus) / sizeof(taus[0]) };
    if (only_tau > 0) /* --tau: profile one threshold (every row runs it) */
        for (int t = 0; t < NT; t++)
            taus[t] = only_tau;
    const size_t batch = 100, nbatch = d->n / batch;
    int ns = sf_nn_model_num_stages(m);
    double cum[SF_NN_MAX_STAGES + 1] = {0}; /* FLOPs of stages 1..k per request */
    for (int k = 1; k <= ns; k++)
        cum[k] = cum[k - 1] + sf_nn_stage_flops(sf_nn_model_stage(m, k));
    struct sf_err err = {{0}};
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result *res = malloc(batch * sizeof(*res));
    double *pass_s = malloc(2 * NT * (size_t)rounds * sizeof(double)),
           *cpu_s = pass_s + NT * rounds;
    double flops[NT] = {0}, stages[NT] = {0};
    int rc = res && pass_s ? SF_OK : sf_err_set(&err, SF_ENOMEM, "out of memory");
    /* Round 0 warms every plan up; rounds interleave the taus so drifts hit all alike. */
    for (int round = 0; round <= rounds && !rc; round++)
        for (int t = 0; t < NT && !rc; t++) {
            double f = 0, st = 0, t0 = sf_monotonic_s(), c0 = cpu_now_s();
            for (size_t i = 0; i < nbatch && !rc; i++) {
                size_t n_out = 0;
                rc =
                    sf_nn_batch_set_input(&b, m, d->x + i * batch * image_numel, NULL, batch, &err);
                if (!rc)
                    rc = sf_nn_runner_run(r, &b, ns, taus[t], res, &n_out, &err);
                for (size_t j = 0; j < n_out; j++) {
                    f += cum[res[j].exit_stage];
                    st += res[j].exit_stage;
                }
            }
            if (round > 0) {
                pass_s[t * rounds + round - 1] = sf_monotonic_s() - t0;
                cpu_s[t * rounds + round - 1] = cpu_now_s() - c0;
            }
            flops[t] = f;
            stages[t] = st;
        }
    if (rc)
        return fail(&err);
    /* Wall time, and CPU time of the process (what a loaded host cannot inflate by
     * descheduling it; with one thread it is the runner's own work). */
    double med[NT], cmed[NT];
    for (int t = 0; t < NT; t++) {
        double *v = pass_s + t * rounds, *c = cpu_s + t * rounds;
        qsort(v, (size_t)rounds, sizeof(double), sf_cmp_double);
        qsort(c, (size_t)rounds, sizeof(double), sf_cmp_double);
        med[t] = v[rounds / 2] / (double)nbatch;
        cmed[t] = c[rounds / 2] / (double)nbatch;
    }
    printf("early exit: %zu batches of %zu test images per pass, median of %d passes per tau\n",
           nbatch, batch, rounds);
    printf("%-8s %10s %10s %10s %10s %10s %10s %10s\n", "tau", "ms/batch", "cpu ms", "stages",
           "FLOP frac", "time frac", "time/FLOP", "cpu/FLOP");
    double worst = 0, cworst = 0;
    for (int t = 0; t < NT; t++) {
        double ff = flops[t] / flops[NT - 1], tf = med[t] / med[NT - 1];
        double cf = cmed[t] / cmed[NT - 1];
        char name[16];
        snprintf(name, sizeof(name), taus[t] > 1 ? "no exit" : "%.2f", taus[t]);
        printf("%-8s %10.3f %10.3f %10.2f %10.4f %10.4f %10.2f %10.2f\n", name, med[t] * 1e3,
               cmed[t] * 1e3, stages[t] / (double)d->n, ff, tf, tf / ff, cf / ff);
        worst = tf / ff > worst ? tf / ff : worst;
        cworst = cf / ff > cworst ? cf / ff : cworst;
    }
    printf("early exit: worst time/FLOP ratio %.2f wall, %.2f cpu (goal <= 1.5)\n", worst, cworst);
    free(res);
    free(pass_s);
    sf_nn_batch_fini(&b);
    return 0;
}

/* ---- Winograd against direct convolutions on the whole test set ----------------------- */

/* Every test image through r at tau, batches of 100; labels and exit stages per image. */
static int answers(struct sf_nn_runner *r, const struct sf_nn_model *m,
                   const struct sf_nn_dataset *d, double tau, int *label, int *stage)
{
    struct sf_err err = {{0}};
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result res[100];
    int rc = SF_OK;
    for (size_t i0 = 0; i0 < d->n && !rc; i0 += 100) {
        size_t n = d->n - i0 < 100 ? d->n - i0 : 100, n_out = 0;
        uint64_t ids[100];
        for (size_t i = 0; i < n; i++)
            ids[i] = i0 + i;
        rc = sf_nn_batch_set_input(&b, m, d->x + i0 * image_numel, ids, n, &err);
        if (!rc)
            rc = sf_nn_runner_run(r, &b, sf_nn_model_num_stages(m), tau, res, &n_out, &err);
        for (size_t j = 0; !rc && j < n_out; j++) {
            label[res[j].id] = res[j].label;
            stage[res[j].id] = res[j].exit_stage;
        }
    }
    sf_nn_batch_fini(&b);
    return rc ? fail(&err) : 0;
}

static int accuracy(const struct sf_nn_model *m, const struct sf_nn_dataset *d, int threads)
{
    struct sf_err err = {{0}};
    struct sf_nn_runner *r[2];
    const struct sf_nn_opts o[2] = {{.threads = threads}, {.threads = threads, .conv_direct = 1}};
    for (int v = 0; v < 2; v++)
        if (sf_nn_runner_new_opts(m, SF_NN_BACKEND_DNNL, &o[v], &r[v], &err))
            return fail(&err);
    const double taus[] = {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 2.0};
    int *lab = malloc(2 * d->n * sizeof(int)), *stg = malloc(2 * d->n * sizeof(int));
    printf("%zu test images, Winograd vs direct convolutions (oneDNN, %d thread%s)\n", d->n,
           threads, threads > 1 ? "s" : "");
    printf("%-8s %14s %14s %18s %18s\n", "tau", "acc winograd", "acc direct", "labels differ",
           "exit stage differs");
    int worst = 0;
    for (size_t t = 0; t < sizeof(taus) / sizeof(taus[0]); t++) {
        size_t ok[2] = {0, 0}, dl = 0, ds = 0;
        for (int v = 0; v < 2; v++) {
            if (answers(r[v], m, d, taus[t], lab + v * d->n, stg + v * d->n))
                return 1;
            for (size_t i = 0; i < d->n; i++)
                ok[v] += lab[v * d->n + i] == d->labels[i];
        }
        for (size_t i = 0; i < d->n; i++) {
            dl += lab[i] != lab[d->n + i];
            ds += stg[i] != stg[d->n + i];
        }
        char name[16];
        snprintf(name, sizeof(name), taus[t] > 1 ? "no exit" : "%.2f", taus[t]);
        printf("%-8s %14.4f %14.4f %18zu %18zu\n", name, (double)ok[0] / (double)d->n,
               (double)ok[1] / (double)d->n, dl, ds);
        if (ok[0] != ok[1] || dl || ds)
            worst = 1;
    }
    printf("accuracy: %s\n",
           worst ? "Winograd and direct differ (see above)" : "identical answers at every tau");
    free(lab);
    free(stg);
    sf_nn_runner_free(r[0]);
    sf_nn_runner_free(r[1]);
    return 0;
}

/* ---- the peers' worker protocol ---------------------------------------------------------- */

static float *read_f32(const char *name, size_t count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", model_dir, name);
    FILE *f = fopen(path, "rb");
    float *v = malloc(count * sizeof(float));
    size_t got = f && v ? fread(v, sizeof(float), count, f) : 0;
    if (f)
        fclose(f);
    if (got != count) {
        free(v);
        return NULL;
    }
    return v;
}

/* Every classifier's logits on the golden images, stage by stage ([stages,16,10]). */
static int check_logits(struct sf_nn_runner *r, const struct sf_nn_model *m, const float *gx)
{
    struct sf_err err = {{0}};
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m);
    float *x = malloc(GOLDEN_N * image_numel * sizeof(float)), *logits = malloc(GOLDEN_N * 64 * 4);
    memcpy(x, gx, GOLDEN_N * image_numel * sizeof(float));
    printf("logits");
    for (int k = 1; k <= ns; k++) {
        const struct sf_nn_stage *st = sf_nn_model_stage(m, k);
        size_t hn = sf_nn_shape_numel(sf_nn_stage_hidden_shape(st));
        float *h = malloc(GOLDEN_N * (hn ? hn : 1) * sizeof(float));
        if (sf_nn_exec_run(sf_nn_runner_exec(r, k), x, GOLDEN_N, h, logits, &err))
            return fail(&err);
        for (int i = 0; i < GOLDEN_N * nc; i++)
            printf(" %.7g", logits[i]);
        free(x);
        x = h;
    }
    printf("\n");
    fflush(stdout);
    free(x);
    free(logits);
    return 0;
}

static int serve(const struct sf_nn_model *m, enum sf_nn_backend be, struct sf_nn_opts base)
{
    struct sf_err err = {{0}};
    float *gx = read_f32("golden_input.f32", GOLDEN_N * image_numel);
    if (!gx) {
        fprintf(stderr, "bench_nn: cannot read %s/golden_input.f32\n", model_dir);
        return 1;
    }
    struct sf_nn_runner *runners[SERVE_MAX_THREADS + 1] = {NULL};
    char line[256];
    int status = 0;
    while (!status && fgets(line, sizeof(line), stdin)) {
        int t, reps;
        size_t batch;
        if (!strncmp(line, "quit", 4))
            break;
        if (!strncmp(line, "check", 5)) {
            struct sf_nn_runner *r;
            struct sf_nn_opts o = base;
            o.threads = 1;
            if (sf_nn_runner_new_opts(m, be, &o, &r, &err))
                return fail(&err);
            status = check_logits(r, m, gx);
            sf_nn_runner_free(r);
        } else if (sscanf(line, "run %d %zu %d", &t, &batch, &reps) == 3 && t >= 1 &&
                   t <= SERVE_MAX_THREADS && batch >= 1 && batch <= 100000 && reps >= 1 &&
                   reps <= 100000) {
            if (!runners[t]) {
                struct sf_nn_opts o = base;
                o.threads = t;
                if (sf_nn_runner_new_opts(m, be, &o, &runners[t], &err))
                    return fail(&err);
            }
            double *times = malloc((size_t)reps * sizeof(double));
            float *x = cycle_images(gx, GOLDEN_N, batch);
            if (!times || !x || time_model(runners[t], m, x, batch, reps, times, NULL, &err))
                return fail(&err);
            printf("times");
            for (int i = 0; i < reps; i++)
                printf(" %.7f", times[i]);
            printf("\n");
            fflush(stdout);
            free(times);
            free(x);
        } else if (sscanf(line, "flops %d %zu", &t, &batch) == 2 && t >= 1 &&
                   t <= SERVE_MAX_THREADS && runners[t] && batch >= 1 && batch <= 100000) {
            /* What the runs so far executed per image: the implementations their plans chose. */
            double f = 0;
            for (int k = 1; k <= sf_nn_model_num_stages(m); k++)
                f += sf_nn_exec_flops(sf_nn_runner_exec(runners[t], k), batch);
            printf("flops %.0f\n", f);
            fflush(stdout);
        } else if (!strncmp(line, "flops", 5)) {
            printf("error flops T B: T from 1 to %d, after a run with T threads\n",
                   SERVE_MAX_THREADS);
            fflush(stdout);
        } else {
            printf("error unknown command %s", line);
            fflush(stdout);
        }
    }
    for (int t = 0; t <= SERVE_MAX_THREADS; t++)
        sf_nn_runner_free(runners[t]);
    free(gx);
    return status;
}

/* ---- measured FMA peak ------------------------------------------------------------------- */

/* FMA chains per loop iteration: enough independent accumulators to cover the FMA latency of
 * two pipes (4-5 cycles x 2) on current x86 cores. */
#define FMA_CHAINS 12
/* One burst: FMA_BURST_ITERS x FMA_CHAINS vector FMAs per thread, 30-70 us on current cores:
 * short enough that many bursts run without being descheduled on a busy host. */
#define FMA_BURST_ITERS 20000L
/* Bursts per measurement; the fastest one gives the peak. */
#define FMA_BURSTS 2000
/* Threads the peak is measured for (1..FMA_MAX_THREADS). */
#define FMA_MAX_THREADS 2

__attribute__((target("avx512f"))) static float fma_loop_512(long iters)
{
    __m512 a[FMA_CHAINS];
    __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < FMA_CHAINS; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16 /* keeps every chain in a register */
        for (int i = 0; i < FMA_CHAINS; i++)
            a[i] = _mm512_fmadd_ps(a[i], mul, add);
    }
    __m512 s = a[0];
    for (int i = 1; i < FMA_CHAINS; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long iters)
{
    __m256 a[FMA_CHAINS];
    __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < FMA_CHAINS; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < FMA_CHAINS; i++)
            a[i] = _mm256_fmadd_ps(a[i], mul, add);
    }
    __m256 s = a[0];
    for (int i = 1; i < FMA_CHAINS; i++)
        s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[7];
}

/* Threads start every burst together: a spinning barrier (a sleeping one would wake them tens
 * of microseconds apart). */
struct fma_run {
    int wide, threads;
    _Atomic unsigned arrived, phase;
    double start[FMA_MAX_THREADS][FMA_BURSTS], end[FMA_MAX_THREADS][FMA_BURSTS];
};

struct fma_arg {
    struct fma_run *run;
    int id;
    float sink;
};

static void fma_barrier(struct fma_run *r)
{
    unsigned phase = atomic_load(&r->phase);
    if (atomic_fetch_add(&r->arrived, 1) == (unsigned)r->threads - 1) {
        atomic_store(&r->arrived, 0);
        atomic_store(&r->phase, phase + 1);
    } else {
        while (atomic_load(&r->phase) == phase)
            ;
    }
}

static void *fma_thread(void *a)
{
    struct fma_arg *f = a;
    struct fma_run *r = f->run;
    for (int k = 0; k < FMA_BURSTS; k++) {
        fma_barrier(r);
        r->start[f->id][k] = sf_monotonic_s();
        f->sink += r->wide == 16 ? fma_loop_512(FMA_BURST_ITERS) : fma_loop_256(FMA_BURST_ITERS);
        r->end[f->id][k] = sf_monotonic_s();
    }
    return NULL;
}

/* The host's fp32 FMA peak on `threads` threads (GFLOP/s): the threads run FMA_BURSTS bursts
 * together, and the fastest burst (from the first start to the last end) gives the rate. A
 * measurement, not a formula: it sees the clock the cores hold under a full FMA load, and
 * whether two threads share a core's FMA units. */
static double fma_peak(int threads)
{
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("fma") ? 8 : 0;
    struct fma_run *r = calloc(1, sizeof(*r));
    if (!wide || !r || threads < 1 || threads > FMA_MAX_THREADS) {
        free(r);
        return 0;
    }
    r->wide = wide;
    r->threads = threads;
    atomic_init(&r->arrived, 0);
    atomic_init(&r->phase, 0);
    struct fma_arg args[FMA_MAX_THREADS];
    pthread_t th[FMA_MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        args[i] = (struct fma_arg){.run = r, .id = i};
        if (i > 0)
            pthread_create(&th[i], NULL, fma_thread, &args[i]);
    }
    fma_thread(&args[0]);
    for (int i = 1; i < threads; i++)
        pthread_join(th[i], NULL);
    double best = 1e30;
    for (int k = 0; k < FMA_BURSTS; k++) {
        double t0 = r->start[0][k], t1 = r->end[0][k];
        for (int i = 1; i < threads; i++) {
            t0 = r->start[i][k] < t0 ? r->start[i][k] : t0;
            t1 = r->end[i][k] > t1 ? r->end[i][k] : t1;
        }
        best = t1 - t0 < best ? t1 - t0 : best;
    }
    free(r);
    return (double)threads * FMA_BURST_ITERS * FMA_CHAINS * wide * 2 / best / 1e9;
}

static int spin(double seconds)
{
    volatile unsigned long x = 0;
    double t0 = sf_monotonic_s();
    while (sf_monotonic_s() - t0 < seconds)
        for (int i = 0; i < 100000; i++)
            x = x + (unsigned long)i;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_nn [--backend dnnl|ref] [--model DIR] [--reps N] [--threads T] "
                    "[--sub N] [--direct] [--tau T] [--e2e BATCH | --exits | --accuracy | --serve "
                    "| --fma-peak | --flops | --spin S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    enum sf_nn_backend be = SF_NN_BACKEND_DNNL;
    int reps = 50, threads = 0, direct = 0;
    size_t sub = 0;
    size_t e2e_batch = 0;
    const char *mode = "profile";
    double spin_s = 0, only_tau = 0;
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
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--sub") && i + 1 < argc) {
            sub = (size_t)atol(argv[++i]);
        } else if (!strcmp(argv[i], "--tau") && i + 1 < argc) {
            only_tau = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--direct")) {
            direct = 1;
        } else if (!strcmp(argv[i], "--e2e") && i + 1 < argc) {
            e2e_batch = (size_t)atol(argv[++i]);
            mode = "e2e";
        } else if (!strcmp(argv[i], "--spin") && i + 1 < argc) {
            spin_s = atof(argv[++i]);
            mode = "spin";
        } else if (!strcmp(argv[i], "--exits") || !strcmp(argv[i], "--serve") ||
                   !strcmp(argv[i], "--accuracy") || !strcmp(argv[i], "--fma-peak") ||
                   !strcmp(argv[i], "--flops")) {
            mode = argv[i] + 2;
        } else {
            return usage();
        }
    }
    if (reps < 1)
        reps = 1;
    if (!strcmp(mode, "spin"))
        return spin(spin_s);
    if (!strcmp(mode, "fma-peak")) {
        printf("fma_peak_gflops threads=1 %.1f threads=2 %.1f\n", fma_peak(1), fma_peak(2));
        return 0;
    }
    struct sf_err err = {{0}};
    struct sf_nn_model *m = NULL;
    if (sf_nn_model_load(model_dir, &m, &err))
        return fail(&err);
    image_numel = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    if (!strcmp(mode, "flops")) {
        /* The direct-convolution count, then what the backend executes per image with 1 and 2
         * threads at batch 1 and 100 (sf_nn_exec_flops: the algorithms chosen per chunk). */
        printf("flops_per_image=%.0f", model_flops(m));
        for (int t = 1; t <= 2; t++) {
            struct sf_nn_runner *r = NULL;
            struct sf_nn_opts o = {.threads = t, .conv_direct = direct, .sub_batch = sub};
            if (sf_nn_runner_new_opts(m, be, &o, &r, &err))
                return fail(&err);
            for (size_t batch = 1; batch <= 100; batch += 99) {
                double f = 0;
                for (int k = 1; k <= sf_nn_model_num_stages(m); k++)
                    f += sf_nn_exec_flops(sf_nn_runner_exec(r, k), batch);
                printf(" exec_t%d_b%zu=%.0f", t, batch, f);
            }
            sf_nn_runner_free(r);
        }
        printf("\n");
        sf_nn_model_free(m);
        return 0;
    }
    struct sf_nn_opts opts = {.threads = threads, .conv_direct = direct, .sub_batch = sub};
    if (!strcmp(mode, "serve")) {
        int rc = serve(m, be, opts);
        sf_nn_model_free(m);
        return rc;
    }
    struct sf_nn_runner *r = NULL;
    struct sf_nn_dataset d;
    if (sf_nn_runner_new_opts(m, be, &opts, &r, &err) ||
        sf_nn_dataset_load_idx(TEST_IMAGES, TEST_LABELS, sf_nn_model_norm_mean(m),
                               sf_nn_model_norm_std(m), 0, &d, &err) ||
        sf_nn_dataset_fit(&d, m, &err) || sf_nn_dataset_check(&d, m, TEST_IMAGES, &err))
        return fail(&err);
    int nthr = threads > 0 ? threads : omp_get_max_threads();
    if (!strcmp(mode, "e2e"))
        return e2e(r, m, &d, be, nthr, e2e_batch, reps);
    if (!strcmp(mode, "accuracy"))
        return accuracy(m, &d, nthr);
    if (!strcmp(mode, "exits"))
        return exits(r, m, &d, reps < 3 ? 3 : reps > 50 ? 50 : reps, only_tau);
    int ns = sf_nn_model_num_stages(m);
    printf("model %s, %d stages, backend %s, %zu test images, %.1f MFLOP per image\n",
           sf_nn_model_name(m), ns, sf_nn_backend_name(be), d.n, model_flops(m) / 1e6);
    printf("sub-batch per stage:");
    for (int k = 1; k <= ns; k++)
        printf(" %zu", sf_nn_exec_sub_batch(sf_nn_runner_exec(r, k)));
    printf("\n");

    const size_t batches[] = {1, 8, 32, 100};
    const size_t nb = sizeof(batches) / sizeof(batches[0]);
    struct sf_nn_stage_timing *tm = calloc((size_t)ns * nb, sizeof(*tm));
    if (sf_nn_profile_stage_times(r, m, d.x, 256, batches, nb, 5, reps, tm, &err))
        return fail(&err);
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
    if (sf_nn_profile_hidden_sizes(r, m, d.x, 1000, hs, &err))
        return fail(&err);
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
    if (sf_nn_profile_taus(r, m, &d, 500, taus, nt, ts, acc, &err))
        return fail(&err);
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
