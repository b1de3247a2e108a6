/*
 * bench_plan.c - how long `serflow plan` takes to search the whole bundled space (every tau,
 * VM type, cut and 1,769 MB-multiple memory), against the 10 ms budget of issue 2, and the same
 * search over every 1 MB memory step as a named reference run in the same process.
 * Usage: bench_plan [repetitions]   (data from SF_SOURCE_DIR)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serflow/plan.h"

static double median_run_s(const struct sf_profile *prof, const struct sf_pricing *pr,
                           const struct sf_plan_opts *o, int reps, size_t *evaluated)
{
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < reps; i++) {
        struct sf_plan plan;
        struct sf_err err = {{0}};
        double t0 = sf_monotonic_s();
        sf_plan_run(&plan, prof, pr, o, &err);
        t[i] = sf_monotonic_s() - t0;
        *evaluated = plan.n_evaluated;
        sf_plan_fini(&plan);
    }
    qsort(t, (size_t)reps, sizeof(double), sf_cmp_double);
    double m = t[reps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1)
        reps = 1;
    static struct sf_profile prof;
    static struct sf_pricing pr;
    struct sf_err err = {{0}};
    const char *root = getenv("SF_SOURCE_DIR") ? getenv("SF_SOURCE_DIR") : SF_SOURCE_DIR;
    char a[4096], b[4096];
    snprintf(a, sizeof(a), "%s/data/profiles/vgg16-sdn-cifar10.json", root);
    snprintf(b, sizeof(b), "%s/data/pricing/aws-us-east-1.json", root);
    if (sf_profile_load(&prof, a, &err) || sf_pricing_load(&pr, b, &err)) {
        fprintf(stderr, "bench_plan: %s\n", err.msg);
        return 1;
    }
    struct sf_plan_opts o;
    sf_plan_opts_default(&o);
    size_t n1 = 0, n2 = 0;
    double t1 = median_run_s(&prof, &pr, &o, reps, &n1);
    o.any_memory = 1;
    int reps2 = reps / 50 > 3 ? reps / 50 : 3;
    double t2 = median_run_s(&prof, &pr, &o, reps2, &n2);
    printf("bench_plan: bundled space (%zu candidates, %zu taus): median %.3f ms over %d runs\n",
           n1, prof.n_exits, t1 * 1e3, reps);
    printf("bench_plan:   ratio to the 10 ms budget: %.4f (%.0fx under)\n", t1 / 10e-3, 10e-3 / t1);
    printf("bench_plan: reference, every 1 MB memory step (%zu candidates): median %.1f ms over %d "
           "runs\n",
           n2, t2 * 1e3, reps2);
    printf("bench_plan:   per-candidate cost %.1f ns (bundled) vs %.1f ns (reference)\n",
           t1 / n1 * 1e9, t2 / n2 * 1e9);
    return 0;
}
