/*
 * bench_sim.c - simulator speed on the whole 45,000-line WITS trace read as per-epoch counts
 * (about 6.4 M requests), per-request exit sampling, one thread. Reference runs in the same
 * process: the sampling pass alone (no policy), then one policy (faas, libra), then all eight;
 * with the paper's epoch batching and then with the deadline-aware batcher.
 * Reports simulated requests per second per policy.
 * Usage: bench_sim [repetitions]   (data from SF_SOURCE_DIR)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serflow/sim.h"

static struct sf_profile prof;
static struct sf_pricing price;
static struct sf_trace trace;
static struct sf_plan plan;
static struct sf_sim_opts opts;

static double best_of(int reps, const enum sf_policy_kind *k, size_t n)
{
    double best = 1e30;
    struct sf_policy_result res[SF_POLICY_MAX];
    for (int r = 0; r < reps; r++) {
        struct sf_err err = {{0}};
        double t0 = sf_monotonic_s();
        if (sf_sim_run_plan(&prof, &price, &trace, &opts, &plan, k, n, res, &err) != SF_OK) {
            fprintf(stderr, "bench_sim: %s\n", err.msg);
            exit(1);
        }
        double t = sf_monotonic_s() - t0;
        sf_sim_results_fini(res, n);
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1)
        reps = 1;
    const char *root = getenv("SF_SOURCE_DIR") ? getenv("SF_SOURCE_DIR") : SF_SOURCE_DIR;
    char a[4096], b[4096], c[4096];
    snprintf(a, sizeof(a), "%s/data/profiles/vgg16-sdn-cifar10.json", root);
    snprintf(b, sizeof(b), "%s/data/pricing/aws-us-east-1.json", root);
    snprintf(c, sizeof(c), "%s/data/traces/wits_libra_per_second.txt", root);
    struct sf_err err = {{0}};
    if (sf_profile_load(&prof, a, &err) || sf_pricing_load(&price, b, &err) ||
        sf_trace_load(&trace, c, 0, SF_TRACE_EPOCH, 6.0, 0, &err)) {
        fprintf(stderr, "bench_sim: %s\n", err.msg);
        return 1;
    }
    /* the paper's epoch batching first (the reference the earlier figures used), then the
     * deadline-aware batcher (the default), each with a plan made for its batches */
    for (int mode = 0; mode < 2; mode++) {
        int batching = mode == 0 ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
        sf_sim_opts_default(&opts);
        opts.tau = 0.7;
        opts.batching = batching;
        struct sf_plan_opts po;
        sf_plan_opts_default(&po);
        po.tau = opts.tau;
        po.batching = batching == SF_BATCHING_EPOCH ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
        if (sf_plan_run(&plan, &prof, &price, &po, &err) != SF_OK) {
            sf_plan_fini(&plan);
            fprintf(stderr, "bench_sim: %s\n", err.msg);
            return 1;
        }
        const char *m = mode == 0 ? "epoch" : "deadline";
        double req = (double)trace.n_requests;
        printf("bench_sim [%s batching]: WITS as epochs: %lld epochs, %.0f requests, tau %.2f, "
               "best of %d\n",
               m, (long long)trace.n_epochs, req, opts.tau, reps);
        double t0 = best_of(reps, NULL, 0);
        printf("bench_sim [%s]: reference: sampling pass alone (exit draws + arrival times): "
               "%.1f ms, %.1f M req/s\n",
               m, t0 * 1e3, req / t0 / 1e6);
        const enum sf_policy_kind one[] = {SF_POL_FAAS}, two[] = {SF_POL_LIBRA};
        double t1 = best_of(reps, one, 1), t2 = best_of(reps, two, 1);
        printf("bench_sim [%s]: faas alone: %.1f ms -> %.1f M req/s (%.1f ms over the "
               "reference)\n",
               m, t1 * 1e3, req / t1 / 1e6, (t1 - t0) * 1e3);
        printf("bench_sim [%s]: libra alone: %.1f ms -> %.1f M req/s (%.1f ms over the "
               "reference)\n",
               m, t2 * 1e3, req / t2 / 1e6, (t2 - t0) * 1e3);
        enum sf_policy_kind all[SF_POLICY_MAX];
        int np = sf_policy_count();
        for (int k = 0; k < np; k++)
            all[k] = (enum sf_policy_kind)k;
        double t8 = best_of(reps, all, (size_t)np);
        printf("bench_sim [%s]: all %d policies (oracle and static replayed in a second pass): "
               "%.1f ms -> %.1f M simulated requests/s summed over policies (%.1f ms per "
               "policy)\n",
               m, np, t8 * 1e3, req * np / t8 / 1e6, t8 * 1e3 / np);
        sf_plan_fini(&plan);
    }
    sf_trace_fini(&trace);
    return 0;
}
