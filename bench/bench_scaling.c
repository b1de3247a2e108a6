/*
 * bench_scaling.c - the scaling bench (issues 9 and 15): serflow against FaaS-only, the best
 * static fleet, LIBRA, the clairvoyant schedule and the lower bound, over trace families x mean
 * rates x VM price sets, with serflow's rule chosen by leave-one-family-out cross-validation.
 *
 * Families: the two shared traces (WITS, Berkeley; per-second counts, resampled to each mean
 * rate) and the eight generators of tracegen.c, two of them sparse-bursty (most seconds empty,
 * spikes 16-30x the mean). Rates: 0.5, 1, 2 and 4 times the planning rate. Prices: the bundled
 * AWS catalog with VM prices at 100 %, 60 % and 30 %. Profile: the paper reconstruction at tau
 * 0.7, deadline batching (every request within its SLO). Everything is seeded: the same command
 * prints the same tables.
 *
 * usage: bench_scaling [--seconds N] [--quick] [--family NAME] [--cell RATE,PRICE] [--csv FILE]
 *        (default 21,600 s = 6 h per trace; --quick: 2 h; --cell: one rate multiple and VM
 *        price, e.g. 1,0.6, per family, every variant against the cell's yardsticks, no
 *        cross-validation; --csv: every cell run, for analysis)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/sim.h"

#define N_FAM   (SF_TG_COUNT + 2)
#define N_RATE  4
#define N_PRICE 3
#define N_VAR   7

static const double rate_mult[N_RATE] = {0.5, 1, 2, 4};
static const double price_mult[N_PRICE] = {1.0, 0.6, 0.3};

/* The rule variants cross-validation chooses among (memory in epochs of 6 s: m=6h is 3600). */
struct variant {
    const char *name;
    int rule;
    double hysteresis, memory, same, buy, sell;
};
static const struct variant variants[N_VAR] = {
    {"follow h=0.25 m=6h s=0.3", SF_SCALE_FOLLOW, 0.25, 3600, 0.3, 0.1, 0.1},
    {"follow h=0.25", SF_SCALE_FOLLOW, 0.25, 0, 0, 0.1, 0.1},
    {"follow h=0.25 m=6h", SF_SCALE_FOLLOW, 0.25, 3600, 0, 0.1, 0.1},
    {"follow h=0.25 s=0.3", SF_SCALE_FOLLOW, 0.25, 0, 0.3, 0.1, 0.1},
    {"follow h=0.5 m=6h s=0.3", SF_SCALE_FOLLOW, 0.5, 3600, 0.3, 0.1, 0.1},
    {"breakeven 0.1/0.1", SF_SCALE_BREAKEVEN, 1, 0, 0, 0.1, 0.1},
    {"paper k=1", SF_SCALE_PAPER, 1, 0, 0, 0.1, 0.1},
};

struct cell {
    double bound, oracle, faas, libra, statik, var[N_VAR], slo[N_VAR];
    int done;
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

static double ratio_slo(const struct sf_policy_result *r)
{
    return r->requests ? (double)r->requests_slo_ok / (double)r->requests : 1;
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
    struct sf_bind_opts bo;
    sf_sim_bind_opts(&o, &bo);
    struct sf_binding b[4], extra[SF_POLICY_MAX];
    size_t nb = 0, n_extra = 0;
    enum sf_policy_kind want[] = {SF_POL_FAAS, SF_POL_LIBRA, SF_POL_STATIC, SF_POL_ORACLE};
    for (size_t i = 0; i < 4; i++) {
        int rc = sf_bind(&b[nb], &plan, prof, pr, sf_policy_get(want[i]), &bo, &err);
        if (rc == SF_EINFEASIBLE && want[i] == SF_POL_LIBRA)
            continue; /* no SLO-feasible IaaS path: no LIBRA here */
        if (rc != SF_OK)
            goto fail;
        nb++;
    }
    if (sf_bind_plan_paths(&plan, prof, pr, sf_policy_get(SF_POL_SERFLOW), &bo, extra,
                           SF_POLICY_MAX, &n_extra, &err) != SF_OK)
        goto fail;
    struct sf_policy_result r[4];
    struct sf_sim_report rep;
    int rc = sf_sim_replay(prof, pr, tr, &o, b, nb, extra, n_extra, r, &rep, &err);
    sf_sim_bindings_fini(b, nb);
    sf_sim_bindings_fini(extra, n_extra);
    if (rc != SF_OK)
        goto fail;
    c->libra = NAN;
    for (size_t i = 0; i < nb; i++) {
        if (r[i].kind == SF_POL_FAAS)
            c->faas = r[i].cost_usd;
        else if (r[i].kind == SF_POL_LIBRA)
            c->libra = r[i].cost_usd;
        else if (r[i].kind == SF_POL_STATIC)
            c->statik = r[i].cost_usd;
        else
            c->oracle = r[i].cost_usd;
    }
    c->bound = rep.lower_bound_usd;
    sf_sim_results_fini(r, nb);
    for (int v = 0; v < N_VAR; v++) {
        struct sf_sim_opts ov = o;
        ov.ctl.scaling_rule = variants[v].rule;
        ov.ctl.follow_hysteresis = variants[v].hysteresis;
        ov.ctl.follow_memory_epochs = variants[v].memory;
        ov.ctl.follow_same_count = variants[v].same;
        ov.ctl.buy_after_cold_starts = variants[v].buy;
        ov.ctl.sell_after_cold_starts = variants[v].sell;
        enum sf_policy_kind k = SF_POL_SERFLOW;
        if (sf_sim_run_plan(prof, pr, tr, &ov, &plan, &k, 1, r, &err) != SF_OK)
            goto fail;
        c->var[v] = r[0].cost_usd;
        c->slo[v] = ratio_slo(&r[0]);
        sf_sim_results_fini(r, 1);
    }
    c->done = 1;
    sf_plan_fini(&plan);
    return 0;
fail:
    sf_plan_fini(&plan);
    fprintf(stderr, "bench_scaling: %s\n", err.msg);
    return -1;
}

static int fam_on[N_FAM];

/* the cheapest of the simple alternatives the gate compares with */
static double simple_min(const struct cell *c)
{
    double m = fmin(c->faas, c->statik);
    return isfinite(c->libra) ? fmin(m, c->libra) : m;
}

/* mean over the cells of one family (all rates and prices) of log(cost / lower bound) */
static double fam_score(int f, int v)
{
    double s = 0;
    for (int r = 0; r < N_RATE; r++)
        for (int p = 0; p < N_PRICE; p++)
            s += log(cells[f][r][p].var[v] / cells[f][r][p].bound);
    return s / (N_RATE * N_PRICE);
}

/* cells of one family where variant v costs more than 1.03 x the cheapest simple alternative */
static int fam_misses(int f, int v)
{
    int n = 0;
    for (int r = 0; r < N_RATE; r++)
        for (int p = 0; p < N_PRICE; p++)
            n += cells[f][r][p].var[v] > 1.03 * simple_min(&cells[f][r][p]);
    return n;
}

int main(int argc, char **argv)
{
    int64_t seconds = 21600;
    const char *only = NULL, *csv = NULL;
    int cell_r = -1, cell_p = -1; /* --cell: the one rate and price run */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            seconds = 7200;
        else if (!strcmp(argv[i], "--family") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csv = argv[++i];
        else if (!strcmp(argv[i], "--cell") && i + 1 < argc) {
            double rm = NAN, pm = NAN;
            char tail;
            if (sscanf(argv[++i], "%lf,%lf%c", &rm, &pm, &tail) != 2)
                rm = NAN;
            for (int r = 0; r < N_RATE; r++)
                if (fabs(rate_mult[r] - rm) < 1e-9)
                    cell_r = r;
            for (int p = 0; p < N_PRICE; p++)
                if (fabs(price_mult[p] - pm) < 1e-9)
                    cell_p = p;
            if (cell_r < 0 || cell_p < 0) {
                fprintf(stderr,
                        "bench_scaling: --cell %s: want RATE,PRICE with RATE one of 0.5, "
                        "1, 2, 4 (x the planning rate) and PRICE one of 1, 0.6, 0.3\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_scaling [--seconds N] [--quick] [--family NAME] "
                            "[--cell RATE,PRICE] [--csv FILE]\n");
            return 2;
        }
    }
    int n_on = 0;
    for (int f = 0; f < N_FAM; f++)
        n_on += fam_on[f] = !only || !strcmp(only, fam_name(f));
    if (!n_on || seconds < 600 || seconds > SF_TRACEGEN_MAX_SECONDS) {
        fprintf(stderr, "bench_scaling: unknown family or bad length\n");
        return 2;
    }
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
            n_on, cell_r >= 0 ? 1 : N_RATE, cell_p >= 0 ? 1 : N_PRICE, (long long)seconds, N_VAR);
    for (int f = 0; f < N_FAM; f++) {
        if (!fam_on[f])
            continue;
        for (int r = 0; r < N_RATE; r++) {
            if (cell_r >= 0 && r != cell_r)
                continue;
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
                if (cell_p >= 0 && p != cell_p)
                    continue;
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

    if (csv) {
        FILE *fp = fopen(csv, "w");
        if (!fp) {
            fprintf(stderr, "bench_scaling: cannot write %s\n", csv);
            return 1;
        }
        fprintf(fp, "family,rate_rps,vm_price,bound,oracle,faas,libra,static");
        for (int v = 0; v < N_VAR; v++)
            fprintf(fp, ",%s,%s slo", variants[v].name, variants[v].name);
        fprintf(fp, "\n");
        for (int f = 0; f < N_FAM; f++)
            for (int r = 0; r < N_RATE && fam_on[f]; r++)
                for (int p = 0; p < N_PRICE; p++) {
                    const struct cell *c = &cells[f][r][p];
                    if (!c->done)
                        continue;
                    fprintf(fp, "%s,%.3f,%.1f,%.9g,%.9g,%.9g,%.9g,%.9g", fam_name(f),
                            r0 * rate_mult[r], price_mult[p], c->bound, c->oracle, c->faas,
                            c->libra, c->statik);
                    for (int v = 0; v < N_VAR; v++)
                        fprintf(fp, ",%.9g,%.6f", c->var[v], c->slo[v]);
                    fprintf(fp, "\n");
                }
        fclose(fp);
    }

    if (cell_r >= 0) { /* one cell per family: each variant against its yardsticks */
        printf("| family | rate req/s | VM price | variant | cost USD | / min(FaaS, static, "
               "LIBRA) | vs bound | request SLO |\n|---|---|---|---|---|---|---|---|\n");
        for (int f = 0; f < N_FAM; f++) {
            const struct cell *c = &cells[f][cell_r][cell_p];
            for (int v = 0; v < N_VAR && fam_on[f]; v++)
                printf("| %s | %.1f | %.0f %% | %s | %.6f | %.4f | %+.1f %% | %.6f |\n",
                       fam_name(f), r0 * rate_mult[cell_r], 100 * price_mult[cell_p],
                       variants[v].name, c->var[v], c->var[v] / simple_min(c),
                       100 * (c->var[v] / c->bound - 1), c->slo[v]);
        }
        printf("\n(FaaS, best static fleet, LIBRA, clairvoyant and bound: --csv)\n");
        return 0;
    }
    /* leave-one-family-out: the variant with the fewest cells above the gate on the other
     * families, then the best mean log-ratio to the lower bound there */
    int chosen[N_FAM] = {0};
    for (int f = 0; f < N_FAM; f++) {
        if (!fam_on[f])
            continue;
        int best = 0, bm = INT32_MAX;
        double bs = INFINITY;
        for (int v = 0; v < N_VAR; v++) {
            double s = 0;
            int m = 0;
            for (int g = 0; g < N_FAM; g++)
                if ((g != f || n_on == 1) && fam_on[g]) { /* one family: nothing to hold out */
                    s += fam_score(g, v);
                    m += fam_misses(g, v);
                }
            if (m < bm || (m == bm && s < bs)) {
                bm = m;
                bs = s;
                best = v;
            }
        }
        chosen[f] = best;
    }
    printf("Mean over all cells, cost above the lower bound, per rule variant:\n\n| rule |");
    for (int v = 0; v < N_VAR; v++)
        printf(" %s |", variants[v].name);
    printf("\n|---|");
    for (int v = 0; v < N_VAR; v++)
        printf("---|");
    printf("\n| above the bound |");
    for (int v = 0; v < N_VAR; v++) {
        double s = 0;
        for (int g = 0; g < N_FAM; g++)
            if (fam_on[g])
                s += fam_score(g, v);
        printf(" %+.1f %% |", 100 * (exp(s / n_on) - 1));
    }
    printf("\n| cells above the gate (1.03) |");
    for (int v = 0; v < N_VAR; v++) {
        int m = 0;
        for (int g = 0; g < N_FAM; g++)
            if (fam_on[g])
                m += fam_misses(g, v);
        printf(" %d |", m);
    }
    printf(
        "\n\nPer family and VM price (geometric mean over the %d rates of cost / lower bound - 1; "
        "serflow is the variant cross-validation picks with the family held out):\n\n",
        N_RATE);
    printf("| family | VM price | serflow vs bound | FaaS | best static | LIBRA | clairvoyant | "
           "serflow / min(FaaS, static, LIBRA): geo. mean, worst rate | CV pick |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    double worst_gate = -INFINITY, sum_bound = 0, min_slo = 1;
    int n_cells = 0, over_gate = 0, over_goal = 0;
    const char *worst_at = "";
    static char worst_buf[128];
    for (int f = 0; f < N_FAM; f++) {
        if (!fam_on[f])
            continue;
        for (int p = 0; p < N_PRICE; p++) {
            double s = 0, l = 0, fa = 0, st = 0, o = 0, gate = -INFINITY, gsum = 0;
            int nl = 0;
            for (int r = 0; r < N_RATE; r++) {
                const struct cell *c = &cells[f][r][p];
                double sv = c->var[chosen[f]];
                s += log(sv / c->bound);
                if (isfinite(c->libra)) {
                    l += log(c->libra / c->bound);
                    nl++;
                }
                fa += log(c->faas / c->bound);
                st += log(c->statik / c->bound);
                o += log(c->oracle / c->bound);
                double g = sv / simple_min(c);
                gsum += log(g);
                if (g > gate)
                    gate = g;
                if (g > worst_gate) {
                    worst_gate = g;
                    snprintf(worst_buf, sizeof(worst_buf), "%s, %.1f req/s, VM %.0f %%",
                             fam_name(f), r0 * rate_mult[r], 100 * price_mult[p]);
                    worst_at = worst_buf;
                }
                over_gate += g > 1.03;
                over_goal += g > 1.01;
                sum_bound += sv / c->bound;
                min_slo = fmin(min_slo, c->slo[chosen[f]]);
                n_cells++;
            }
            printf(
                "| %s | %.0f %% | %+.1f %% | %+.1f %% | %+.1f %% | %s%+.1f %% | %+.1f %% | %.3f, "
                "%s%.3f%s | %s |\n",
                fam_name(f), 100 * price_mult[p], 100 * (exp(s / N_RATE) - 1),
                100 * (exp(fa / N_RATE) - 1), 100 * (exp(st / N_RATE) - 1), nl ? "" : "(none) ",
                nl ? 100 * (exp(l / nl) - 1) : 0.0, 100 * (exp(o / N_RATE) - 1), exp(gsum / N_RATE),
                gate > 1.03 ? "**" : "", gate, gate > 1.03 ? "**" : "", variants[chosen[f]].name);
        }
    }
    printf("\n(every column but the gate: above the lower bound)\n");
    printf("gate: worst cell serflow / min(FaaS, best static, LIBRA) = %.3f (%s); cells above "
           "1.03: %d, above 1.01: %d, of %d; lowest request SLO attainment %.4f\n",
           worst_gate, worst_at, over_gate, over_goal, n_cells, min_slo);
    printf("goal: serflow's mean over the bench, cost / lower bound = %.3f (%+.1f %%)\n",
           sum_bound / n_cells, 100 * (sum_bound / n_cells - 1));
    free(counts);
    free(wits);
    free(berk);
    free(prof);
    free(base);
    free(pr);
    return 0;
}
