/*
 * bench_scaling.c - the scaling bench (issue 9): serflow's scaling rule against LIBRA, FaaS-only,
 * the best static fleet and the clairvoyant oracle, over trace families x mean rates x price sets,
 * with the rule's parameters chosen by leave-one-family-out cross-validation.
 *
 * Families: the two shared traces (WITS, Berkeley; per-second counts, resampled to each mean
 * rate) and the six generators of tracegen.c. Rates: 0.5, 1, 2 and 4 times the planning rate.
 * Prices: the bundled AWS catalog with VM prices at 100 %, 60 % and 30 %. Profile: the paper
 * reconstruction at tau 0.7, deadline batching. Everything is seeded: the same command prints
 * the same table.
 *
 * usage: bench_scaling [--seconds N] [--quick]      (default 21,600 s = 6 h per trace)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/sim.h"

#define N_FAM   (SF_TG_COUNT + 2)
#define N_RATE  4
#define N_PRICE 3
#define N_VAR   11

static const double rate_mult[N_RATE] = {0.5, 1, 2, 4};
static const double price_mult[N_PRICE] = {1.0, 0.6, 0.3};

/* The rule variants cross-validation chooses among. */
struct variant {
    const char *name;
    int rule;
    double k, horizon, buy, sell;
};
static const struct variant variants[N_VAR] = {
    {"paper k=1", SF_SCALE_PAPER, 1, 1, 1, 2},
    {"paper k=0", SF_SCALE_PAPER, 0, 1, 1, 2},
    {"expected h=1", SF_SCALE_EXPECTED, 1, 1, 1, 2},
    {"expected h=4", SF_SCALE_EXPECTED, 1, 4, 1, 2},
    {"expected h=16", SF_SCALE_EXPECTED, 1, 16, 1, 2},
    {"breakeven 0.02/0.1", SF_SCALE_BREAKEVEN, 1, 1, 0.02, 0.1},
    {"breakeven 0.1/0.1", SF_SCALE_BREAKEVEN, 1, 1, 0.1, 0.1},
    {"breakeven 0.1/0.25", SF_SCALE_BREAKEVEN, 1, 1, 0.1, 0.25},
    {"breakeven 0.05/0.05", SF_SCALE_BREAKEVEN, 1, 1, 0.05, 0.05},
    {"breakeven 0.25/0.5", SF_SCALE_BREAKEVEN, 1, 1, 0.25, 0.5},
    {"breakeven 0.25/0.25", SF_SCALE_BREAKEVEN, 1, 1, 0.25, 0.25},
};

struct cell {
    double oracle, faas, libra, statik, var[N_VAR];
};
static struct cell cells[N_FAM][N_RATE][N_PRICE];

static const char *fam_name(int f)
{
    return f < SF_TG_COUNT ? sf_tracegen_name(f) : f == SF_TG_COUNT ? "wits" : "berkeley";
}

static uint32_t *load_real(const char *path, int64_t *n)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    uint32_t *c = malloc(sizeof(uint32_t) * 50000);
    unsigned v;
    *n = 0;
    while (c && *n < 50000 && fscanf(fp, "%u", &v) == 1)
        c[(*n)++] = v;
    fclose(fp);
    return c;
}

/* counts of a real trace resampled to a mean rate: each second Poisson(count x factor) */
static void resample(const uint32_t *src, int64_t n_src, int64_t n, double mean, uint64_t seed,
                     uint32_t *out)
{
    double sum = 0;
    for (int64_t t = 0; t < n; t++)
        sum += src[t % n_src];
    double f = sum > 0 ? mean * (double)n / sum : 0;
    uint64_t rng = seed;
    for (int64_t t = 0; t < n; t++) {
        double m = src[t % n_src] * f;
        /* Poisson by normal approximation above 30, else by inversion */
        if (m > 30) {
            double u1 = ((double)(sf_splitmix64(&rng) >> 11) + 0.5) / 9007199254740992.0;
            double u2 = ((double)(sf_splitmix64(&rng) >> 11) + 0.5) / 9007199254740992.0;
            double x = floor(m + sqrt(m) * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2) + 0.5);
            out[t] = x < 0 ? 0 : (uint32_t)x;
        } else {
            double l = exp(-m), p = 1;
            uint32_t k = 0;
            do {
                k++;
                p *= ((double)(sf_splitmix64(&rng) >> 11) + 0.5) / 9007199254740992.0;
            } while (p > l);
            out[t] = k - 1;
        }
    }
}

static int run_one(const struct sf_profile *prof, const struct sf_pricing *pr,
                   const struct sf_trace *tr, struct cell *c)
{
    struct sf_err err = {{0}};
    struct sf_plan plan;
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    po.tau = 0.7;
    if (sf_plan_run(&plan, prof, pr, &po, &err) != SF_OK) {
        sf_plan_fini(&plan);
        fprintf(stderr, "bench_scaling: %s\n", err.msg);
        return -1;
    }
    struct sf_sim_opts o;
    sf_sim_opts_default(&o);
    o.tau = 0.7;
    enum sf_policy_kind base[] = {SF_POL_FAAS, SF_POL_LIBRA, SF_POL_STATIC, SF_POL_ORACLE};
    struct sf_policy_result r[4];
    struct sf_bind_opts bo;
    sf_sim_bind_opts(&o, &bo);
    struct sf_path iaas;
    enum sf_pool pool;
    double planned;
    enum sf_reject rej;
    size_t nb = sf_bind_resolve(&plan, pr, SF_POLICY_PATH_IAAS, &bo, &iaas, &pool, &planned, &rej,
                                &err) == SF_OK
                    ? 4
                    : 0;
    enum sf_policy_kind nolibra[] = {SF_POL_FAAS, SF_POL_STATIC, SF_POL_ORACLE};
    if (nb == 0) {
        if (sf_sim_run_plan(prof, pr, tr, &o, &plan, nolibra, 3, r, &err) != SF_OK)
            goto fail;
        c->faas = r[0].cost_usd;
        c->libra = NAN;
        c->statik = r[1].cost_usd;
        c->oracle = r[2].cost_usd;
        sf_sim_results_fini(r, 3);
    } else {
        if (sf_sim_run_plan(prof, pr, tr, &o, &plan, base, 4, r, &err) != SF_OK)
            goto fail;
        c->faas = r[0].cost_usd;
        c->libra = r[1].cost_usd;
        c->statik = r[2].cost_usd;
        c->oracle = r[3].cost_usd;
        sf_sim_results_fini(r, 4);
    }
    for (int v = 0; v < N_VAR; v++) {
        struct sf_sim_opts ov = o;
        ov.ctl.scaling_rule = variants[v].rule;
        ov.ctl.k = variants[v].k;
        ov.ctl.launch_horizon_periods = variants[v].horizon;
        ov.ctl.buy_after_cold_starts = variants[v].buy;
        ov.ctl.sell_after_cold_starts = variants[v].sell;
        enum sf_policy_kind k = SF_POL_SERFLOW;
        if (sf_sim_run_plan(prof, pr, tr, &ov, &plan, &k, 1, r, &err) != SF_OK)
            goto fail;
        c->var[v] = r[0].cost_usd;
        sf_sim_results_fini(r, 1);
    }
    sf_plan_fini(&plan);
    return 0;
fail:
    sf_plan_fini(&plan);
    fprintf(stderr, "bench_scaling: %s\n", err.msg);
    return -1;
}

/* mean over the cells of one family (all rates and prices) of log(cost / oracle) */
static double fam_score(int f, int v)
{
    double s = 0;
    for (int r = 0; r < N_RATE; r++)
        for (int p = 0; p < N_PRICE; p++)
            s += log(cells[f][r][p].var[v] / cells[f][r][p].oracle);
    return s / (N_RATE * N_PRICE);
}

static double pct(double a, double b)
{
    return 100 * (a / b - 1);
}

int main(int argc, char **argv)
{
    int64_t seconds = 21600;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_scaling [--seconds N] [--quick]\n");
            return 2;
        }
    }
    if (quick)
        seconds = 7200;
    struct sf_profile *prof = malloc(sizeof(*prof));
    struct sf_pricing *base = malloc(sizeof(*base)), *pr = malloc(sizeof(*pr));
    struct sf_err err = {{0}};
    if (!prof || !base || !pr ||
        sf_profile_load(prof, SF_SOURCE_DIR "/data/profiles/vgg16-sdn-cifar10.json", &err) ||
        sf_pricing_load(base, SF_SOURCE_DIR "/data/pricing/aws-us-east-1.json", &err)) {
        fprintf(stderr, "bench_scaling: %s\n", err.msg);
        return 1;
    }
    int64_t nw = 0, nbk = 0;
    uint32_t *wits = load_real(SF_SOURCE_DIR "/data/traces/wits_libra_per_second.txt", &nw);
    uint32_t *berk = load_real(SF_SOURCE_DIR "/data/traces/berkeley_libra_per_second.txt", &nbk);
    uint32_t *counts = malloc(sizeof(uint32_t) * (size_t)seconds);
    if (!wits || !berk || !counts || nw < 1 || nbk < 1) {
        fprintf(stderr, "bench_scaling: cannot read the bundled traces\n");
        return 1;
    }
    double r0 = prof->rate_rps;
    fprintf(stderr,
            "bench_scaling: %d families x %d rates x %d price sets, %lld s each, %d rule "
            "variants\n",
            N_FAM, N_RATE, N_PRICE, (long long)seconds, N_VAR);
    for (int f = 0; f < N_FAM; f++) {
        for (int r = 0; r < N_RATE; r++) {
            double mean = r0 * rate_mult[r];
            uint64_t seed = 1000 + 17 * (uint64_t)f + (uint64_t)r;
            if (f < SF_TG_COUNT) {
                if (sf_tracegen(f, mean, seconds, seed, counts, &err) != SF_OK) {
                    fprintf(stderr, "bench_scaling: %s\n", err.msg);
                    return 1;
                }
            } else {
                resample(f == SF_TG_COUNT ? wits : berk, f == SF_TG_COUNT ? nw : nbk, seconds, mean,
                         seed, counts);
            }
            struct sf_trace tr;
            if (sf_trace_from_counts(&tr, fam_name(f), counts, seconds, SF_TRACE_SECOND, 6.0,
                                     &err) != SF_OK) {
                fprintf(stderr, "bench_scaling: %s\n", err.msg);
                return 1;
            }
            for (int p = 0; p < N_PRICE; p++) {
                *pr = *base;
                for (size_t v = 0; v < pr->n_vm; v++)
                    pr->vm[v].price_usd_per_s *= price_mult[p];
                if (run_one(prof, pr, &tr, &cells[f][r][p]) != 0)
                    return 1;
            }
            sf_trace_fini(&tr);
            fprintf(stderr, "\r  %s %.1f req/s done   ", fam_name(f), mean);
        }
    }
    fprintf(stderr, "\n");

    /* leave-one-family-out: the variant with the best mean log-ratio on the other families */
    int chosen[N_FAM];
    for (int f = 0; f < N_FAM; f++) {
        int best = 0;
        double bs = INFINITY;
        for (int v = 0; v < N_VAR; v++) {
            double s = 0;
            for (int g = 0; g < N_FAM; g++)
                if (g != f)
                    s += fam_score(g, v);
            if (s < bs) {
                bs = s;
                best = v;
            }
        }
        chosen[f] = best;
    }
    int overall = 0;
    double os = INFINITY;
    for (int v = 0; v < N_VAR; v++) {
        double s = 0;
        for (int g = 0; g < N_FAM; g++)
            s += fam_score(g, v);
        printf("variant %-14s mean over all cells: %+.1f %% above the oracle\n", variants[v].name,
               100 * (exp(s / N_FAM) - 1));
        if (s < os) {
            os = s;
            overall = v;
        }
    }
    printf("\nchosen on all families: %s\n\n", variants[overall].name);
    printf("| family | price | serflow (CV) vs oracle | serflow vs min(faas, static), worst rate "
           "| libra | faas | best static | CV pick |\n|---|---|---|---|---|---|---|---|\n");
    double worst_guard = -INFINITY, worst_oracle = -INFINITY;
    for (int f = 0; f < N_FAM; f++) {
        for (int p = 0; p < N_PRICE; p++) {
            double s = 0, l = 0, fa = 0, st = 0, guard = -INFINITY;
            int nl = 0;
            for (int r = 0; r < N_RATE; r++) {
                const struct cell *c = &cells[f][r][p];
                double sv = c->var[chosen[f]];
                s += log(sv / c->oracle);
                if (isfinite(c->libra)) {
                    l += log(c->libra / c->oracle);
                    nl++;
                }
                fa += log(c->faas / c->oracle);
                st += log(c->statik / c->oracle);
                double ref = c->faas < c->statik ? c->faas : c->statik;
                guard = fmax(guard, pct(sv, ref));
            }
            s = 100 * (exp(s / N_RATE) - 1);
            worst_oracle = fmax(worst_oracle, s);
            worst_guard = fmax(worst_guard, guard);
            printf(
                "| %s | VM %.0f %% | %+.1f %% | %+.1f %% | %s%+.1f %% | %+.1f %% | %+.1f %% | %s "
                "|\n",
                fam_name(f), 100 * price_mult[p], s, guard, nl ? "" : "(none) ",
                nl ? 100 * (exp(l / nl) - 1) : 0.0, 100 * (exp(fa / N_RATE) - 1),
                100 * (exp(st / N_RATE) - 1), variants[chosen[f]].name);
        }
    }
    printf("\n(per cell: geometric mean over the %d rates of cost / oracle - 1; the guard column "
           "is the worst rate)\n",
           N_RATE);
    printf("worst family x price, serflow (CV) vs oracle: %+.1f %%\n", worst_oracle);
    printf("worst scenario, serflow (CV) vs the cheaper of FaaS-only and the best static fleet: "
           "%+.1f %%\n",
           worst_guard);
    free(counts);
    free(wits);
    free(berk);
    free(prof);
    free(base);
    free(pr);
    return 0;
}
