/* cmd_plan.c - `serflow plan`: runs the offline configurators and explains the choice. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serflow/plan.h"

static const char plan_usage[] =
    "usage: serflow plan [options]\n"
    "\n"
    "Chooses where an early-exit model should run - functions only (faas), VMs with a FaaS spill\n"
    "(iaas), or a VM running stages 1..c that hands the survivors to a function (hybrid) - at the\n"
    "lowest cost per hour that meets the latency SLO and the accuracy floor (SERFLOW Alg. 1-2).\n"
    "\n"
    "Inputs (defaults: the bundled paper-reconstruction profile and AWS us-east-1 catalog):\n"
    "  --profile FILE       model profile (serflow-profile/1, docs/formats.md)\n"
    "  --pricing FILE       pricing catalog (serflow-pricing/1)\n"
    "Constraints and workload:\n"
    "  --slo-s S            latency SLO in seconds = one epoch (default: the profile's, 6)\n"
    "  --rate RPS           long-term mean request rate to plan for (default: the profile's)\n"
    "  --min-accuracy A     top-1 accuracy floor, 0..1 or a percentage (default: none)\n"
    "  --tau T              fix the confidence threshold instead of searching every tau\n"
    "  --batch B            batch size per instance per epoch (default: the profile's)\n"
    "  --any-memory         try every function memory in 1 MB steps, not only 1,769 MB multiples\n"
    "  --arch NAME          function architecture from the catalog (default: the first, x86_64)\n"
    "Output:\n"
    "  --json               one JSON object on stdout (keys: pool, tau, cut, vm_type,\n"
    "                       function_mem_mb, capacity_rps, tcip_rps, cost_usd_per_hour,\n"
    "                       accuracy, alternatives, ...)\n"
    "  --all                list every alternative of every tau, not only the chosen tau's\n"
    "  --plot DIR           write PNGs: cost vs cut per tau (paper Figs. 8-9), T-CIP sweep (Fig. "
    "11)\n"
    "  -h, --help           this text\n"
    "\n"
    "Examples:\n"
    "  serflow plan                         plan the bundled VGG16 profile\n"
    "  serflow plan --tau 0.7 --plot out/   the hybrid regime, with plots\n"
    "  serflow plan --min-accuracy 85 --json | jq .pool\n"
    "\n"
    "Exit status: 0 a plan was found, 1 nothing meets the constraints, 2 bad usage or input.\n";

static double per_hour(double usd_per_s)
{
    return usd_per_s * 3600.0;
}

static const char *vm_name(const struct sf_pricing *pr, const struct sf_candidate *c)
{
    return c->vm >= 0 ? pr->vm[c->vm].name : "-";
}

static void fmt_money(char *buf, size_t n, double usd_per_s)
{
    if (isnan(usd_per_s))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "$%.4f", per_hour(usd_per_s));
}

/* T-CIP as a number; '>' marks one above r (an extra instance never pays), "inf" a path whose
 * instance never beats FaaS at any load. */
static void fmt_tcip(char *buf, size_t n, double tcip, double cap)
{
    if (isnan(tcip))
        snprintf(buf, n, "-");
    else if (isinf(tcip))
        snprintf(buf, n, "inf");
    else
        snprintf(buf, n, "%s%.2f", tcip > cap ? ">" : "", tcip);
}

static void describe_stages(const struct sf_profile *prof, const struct sf_pricing *pr,
                            const struct sf_candidate *c, char *buf, size_t n)
{
    int N = prof->n_stages;
    if (c->pool == SF_POOL_FAAS)
        snprintf(buf, n, "every batch on a %d MB function (stages 1-%d)", c->fn_mem_mb, N);
    else if (c->pool == SF_POOL_IAAS)
        snprintf(buf, n, "%s instances run stages 1-%d; spill to a %d MB function", vm_name(pr, c),
                 N, c->fn_mem_mb);
    else
        snprintf(buf, n,
                 "%s runs stages 1-%d; the survivors go to %d parallel %d MB function call%s for "
                 "stages %d-%d (spill: full model)",
                 vm_name(pr, c), c->cut, c->tail_fanout, c->fn_mem_mb,
                 c->tail_fanout == 1 ? "" : "s", c->cut + 1, N);
}

static void print_alt_header(void)
{
    printf("  %-6s %-12s %3s %2s %6s %10s %9s %8s %7s  %s\n", "pool", "vm", "cut", "k", "mem_mb",
           "$/hour", "latency_s", "margin_s", "T-CIP", "status");
}

static void print_alt(const struct sf_plan *plan, const struct sf_pricing *pr,
                      const struct sf_candidate *c, const struct sf_candidate *best)
{
    char money[32], tcip[32], lat[32], margin[32], status[96];
    fmt_money(money, sizeof(money), c->cost_usd_per_s);
    fmt_tcip(tcip, sizeof(tcip), c->tcip_rps, plan->capacity_rps);
    if (isnan(c->latency_s)) {
        snprintf(lat, sizeof(lat), "-");
        snprintf(margin, sizeof(margin), "-");
    } else {
        snprintf(lat, sizeof(lat), "%.2f", c->latency_s);
        snprintf(margin, sizeof(margin), "%+.2f", c->slo_margin_s);
    }
    switch (c->reject) {
    case SF_REJ_NONE:
        snprintf(status, sizeof(status), "%s", "feasible");
        break;
    case SF_REJ_SLO:
        snprintf(status, sizeof(status), "rejected: SLO (%.2f s > %.2f s)", c->latency_s,
                 plan->slo_s);
        break;
    case SF_REJ_SPILL_SLO:
        snprintf(status, sizeof(status), "rejected: FaaS spill misses the SLO");
        break;
    case SF_REJ_PAYLOAD:
        snprintf(status, sizeof(status), "rejected: payload %.1f MB > %.1f MB",
                 c->payload_bytes / 1e6, pr->fn_payload_max_bytes / 1e6);
        break;
    case SF_REJ_ACCURACY:
        snprintf(status, sizeof(status), "rejected: accuracy %.1f%% below floor",
                 100 * c->accuracy);
        break;
    case SF_REJ_UNPROFILED:
        snprintf(status, sizeof(status), "rejected: no runtime for this VM in the profile");
        break;
    }
    int chosen = best && c->pool == best->pool && c->vm == best->vm && c->cut == best->cut &&
                 c->tau == best->tau && c->reject == SF_REJ_NONE;
    char mem[16];
    if (c->fn_mem_mb > 0)
        snprintf(mem, sizeof(mem), "%d", c->fn_mem_mb);
    else
        snprintf(mem, sizeof(mem), "-");
    printf("%c %-6s %-12s %3d %2d %6s %10s %9s %8s %7s  %s\n", chosen ? '*' : ' ',
           sf_pool_name(c->pool), vm_name(pr, c), c->cut, c->tail_fanout, mem, money, lat, margin,
           tcip, status);
}

static void print_human(const struct sf_plan *plan, const struct sf_profile *prof,
                        const struct sf_pricing *pr, const struct sf_plan_opts *o, int all,
                        int found)
{
    printf("serflow plan: %s on %s %s (prices as of %s)\n", prof->model, pr->provider, pr->region,
           pr->as_of);
    printf("  SLO %.3g s, batch %d, capacity r = %.2f req/s per instance, planning rate %.2f "
           "req/s\n",
           plan->slo_s, plan->batch_size, plan->capacity_rps, plan->rate_rps);
    char floor_txt[32];
    if (o->min_accuracy > 0)
        snprintf(floor_txt, sizeof(floor_txt), "%.1f%%", 100 * o->min_accuracy);
    else
        snprintf(floor_txt, sizeof(floor_txt), "none");
    printf("  accuracy floor %s, function arch %s, memories %s; %zu candidates priced\n\n",
           floor_txt, pr->fn_arch[plan->fn_arch].name,
           o->any_memory ? "every 1 MB step" : "1,769 MB multiples", plan->n_evaluated);
    if (found) {
        const struct sf_candidate *b = &plan->best;
        char what[256], tcip[32];
        describe_stages(prof, pr, b, what, sizeof(what));
        fmt_tcip(tcip, sizeof(tcip), b->tcip_rps, plan->capacity_rps);
        const char *pool = b->pool == SF_POOL_FAAS   ? "{FaaS}"
                           : b->pool == SF_POOL_IAAS ? "{IaaS, FaaS}"
                                                     : "{Hybrid, FaaS}";
        printf("Chosen: pool %s (%s), tau %.2f, accuracy %.1f%%\n", pool, sf_pool_name(b->pool),
               b->tau, 100 * b->accuracy);
        printf("  placement  %s\n", what);
        if (b->pool != SF_POOL_FAAS) {
            printf("  capacity   r = %.2f req/s per instance; T-CIP %s req/s", plan->capacity_rps,
                   tcip);
            if (!(b->tcip_rps <= plan->capacity_rps))
                printf(" (above r: never pays; residuals go to functions)\n");
            else
                printf(" (a residual above it buys one more instance)\n");
            printf("  instances  %.0f at %.2f req/s\n", b->split.instances, plan->rate_rps);
        }
        printf("  cost       $%.4f per hour at %.2f req/s (VM $%.4f, functions $%.4f)\n",
               per_hour(b->cost_usd_per_s), plan->rate_rps, per_hour(b->split.vm_usd_per_s),
               per_hour(b->split.fn_usd_per_s));
        printf("  SLO        worst-case batch %.2f s of %.2f s (margin %.2f s)\n\n", b->latency_s,
               plan->slo_s, b->slo_margin_s);
    } else {
        printf("No configuration meets the constraints; the alternatives below say why.\n\n");
    }

    printf("Cheapest SLO-feasible configuration per tau, $/hour at the planning rate "
           "(x: below the accuracy floor):\n");
    printf("  %-5s %6s  %-22s %-26s %-30s\n", "tau", "acc", "faas", "iaas", "hybrid");
    for (size_t t = 0; t < plan->n_tau; t++) {
        char col[3][64];
        const struct sf_candidate *any = NULL;
        for (int p = 0; p < 3; p++) {
            const struct sf_candidate *c = &plan->per_tau[t][p];
            if (!plan->per_tau_found[t][p]) {
                snprintf(col[p], sizeof(col[p]), "(none fits)");
                continue;
            }
            any = c;
            if (p == SF_POOL_FAAS)
                snprintf(col[p], sizeof(col[p]), "$%.4f %dMB", per_hour(c->cost_usd_per_s),
                         c->fn_mem_mb);
            else if (p == SF_POOL_IAAS)
                snprintf(col[p], sizeof(col[p]), "$%.4f %s", per_hour(c->cost_usd_per_s),
                         vm_name(pr, c));
            else
                snprintf(col[p], sizeof(col[p]), "$%.4f %s c=%d %dMB", per_hour(c->cost_usd_per_s),
                         vm_name(pr, c), c->cut, c->fn_mem_mb);
        }
        if (!any)
            continue;
        int chosen = found && fabs(any->tau - plan->best.tau) < 1e-12;
        int low = any->accuracy < o->min_accuracy - 1e-12;
        printf("%c %-5.2f %5.1f%%%c %-22s %-26s %-30s\n", chosen ? '*' : ' ', any->tau,
               100 * any->accuracy, low ? 'x' : ' ', col[0], col[1], col[2]);
    }
    if (plan->n_scip == 0)
        printf("S-CIP: the cheapest pool is the same at every profiled tau\n");
    for (size_t i = 0; i < plan->n_scip; i++)
        printf("S-CIP: cheapest pool changes %s -> %s between tau %.2f and %.2f (costs equal near "
               "%.3f)\n",
               sf_pool_name(plan->scip[i].from), sf_pool_name(plan->scip[i].to),
               plan->scip[i].tau_lo, plan->scip[i].tau_hi, plan->scip[i].tau_est);

    double show_tau = found ? plan->best.tau : NAN;
    printf("\nAlternatives %s(best function memory each; * = chosen):\n",
           all ? "at every tau " : "at the chosen tau ");
    int counts[SF_REJ_UNPROFILED + 1] = {0};
    double last_tau = NAN;
    for (size_t i = 0; i < plan->n_alt; i++) {
        const struct sf_candidate *c = &plan->alt[i];
        counts[c->reject]++;
        if (!all && !(found && fabs(c->tau - show_tau) < 1e-12) &&
            !(!found && i < plan->n_alt && c->tau == plan->alt[0].tau))
            continue;
        if (c->tau != last_tau) {
            printf(" tau %.2f:\n", c->tau);
            print_alt_header();
            last_tau = c->tau;
        }
        print_alt(plan, pr, c, found ? &plan->best : NULL);
    }
    printf("\nOver all %zu alternatives: %d feasible; rejected by slo %d, spill-slo %d, payload "
           "%d, accuracy %d, unprofiled %d.\n",
           plan->n_alt, counts[SF_REJ_NONE], counts[SF_REJ_SLO], counts[SF_REJ_SPILL_SLO],
           counts[SF_REJ_PAYLOAD], counts[SF_REJ_ACCURACY], counts[SF_REJ_UNPROFILED]);
    printf("k: parallel function calls per batch tail (hybrid); T-CIP: residual req/s above which "
           "one more instance pays, '>' when above r (never pays), inf when never.\n");
    if (!all)
        printf("(--all lists every tau's alternatives, --json gives them to programs, --plot DIR "
               "draws them)\n");
}

static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *cand_json(const struct sf_plan *plan, const struct sf_pricing *pr,
                         const struct sf_candidate *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "pool", json_string(sf_pool_name(c->pool)));
    json_object_set_new(o, "tau", json_real(c->tau));
    json_object_set_new(o, "cut", json_integer(c->cut));
    json_object_set_new(o, "vm_type", c->vm >= 0 ? json_string(pr->vm[c->vm].name) : json_null());
    json_object_set_new(o, "function_mem_mb",
                        c->fn_mem_mb > 0 ? json_integer(c->fn_mem_mb) : json_null());
    json_object_set_new(o, "cost_usd_per_hour", jnum(per_hour(c->cost_usd_per_s)));
    json_object_set_new(o, "vm_cost_usd_per_hour", jnum(per_hour(c->split.vm_usd_per_s)));
    json_object_set_new(o, "function_cost_usd_per_hour", jnum(per_hour(c->split.fn_usd_per_s)));
    json_object_set_new(o, "instances", json_real(c->split.instances));
    json_object_set_new(o, "latency_s", jnum(c->latency_s));
    json_object_set_new(o, "slo_margin_s", jnum(c->slo_margin_s));
    json_object_set_new(o, "tail_fanout", json_integer(c->tail_fanout));
    json_object_set_new(o, "tcip_rps", isfinite(c->tcip_rps) ? jnum(c->tcip_rps) : json_null());
    json_object_set_new(o, "tcip_above_capacity",
                        json_boolean(!(c->tcip_rps <= plan->capacity_rps)));
    json_object_set_new(o, "accuracy", json_real(c->accuracy));
    json_object_set_new(o, "payload_bytes", json_real(c->payload_bytes));
    json_object_set_new(o, "feasible", json_boolean(c->reject == SF_REJ_NONE));
    json_object_set_new(o, "rejected_by",
                        c->reject == SF_REJ_NONE ? json_null()
                                                 : json_string(sf_reject_name(c->reject)));
    return o;
}

static void print_json(const struct sf_plan *plan, const struct sf_profile *prof,
                       const struct sf_pricing *pr, int found)
{
    json_t *o = found ? cand_json(plan, pr, &plan->best) : json_object();
    json_object_set_new(o, "found", json_boolean(found));
    if (!found)
        json_object_set_new(o, "pool", json_null());
    json_object_set_new(o, "model", json_string(prof->model));
    json_object_set_new(o, "slo_s", json_real(plan->slo_s));
    json_object_set_new(o, "rate_rps", json_real(plan->rate_rps));
    json_object_set_new(o, "batch_size", json_integer(plan->batch_size));
    json_object_set_new(o, "capacity_rps", json_real(plan->capacity_rps));
    json_object_set_new(o, "function_arch", json_string(pr->fn_arch[plan->fn_arch].name));
    json_t *alts = json_array();
    for (size_t i = 0; i < plan->n_alt; i++)
        json_array_append_new(alts, cand_json(plan, pr, &plan->alt[i]));
    json_object_set_new(o, "alternatives", alts);
    json_t *scip = json_array();
    for (size_t i = 0; i < plan->n_scip; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "from", json_string(sf_pool_name(plan->scip[i].from)));
        json_object_set_new(s, "to", json_string(sf_pool_name(plan->scip[i].to)));
        json_object_set_new(s, "tau_lo", json_real(plan->scip[i].tau_lo));
        json_object_set_new(s, "tau_hi", json_real(plan->scip[i].tau_hi));
        json_object_set_new(s, "tau_est", json_real(plan->scip[i].tau_est));
        json_array_append_new(scip, s);
    }
    json_object_set_new(o, "scip", scip);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (text) {
        puts(text);
        free(text);
    }
    json_decref(o);
}

/* Writes the plots (paper Figs. 8-9 and 11) into dir. Returns 0 on success. */
static int write_plots(const char *dir, const struct sf_plan *plan, const struct sf_profile *prof,
                       const struct sf_pricing *pr, int found)
{
    char path[4096];
    FILE *gp = sf_cli_open_script(dir, "plan.gp", path, sizeof(path));
    if (!gp)
        return -1;
    fprintf(gp, "set terminal pngcairo size 900,560 noenhanced font 'sans,10'\n"
                "set grid\nset key outside right top\n");
    int N = prof->n_stages;
    /* Cost vs cut, one PNG per tau: hybrid per VM type (filled = SLO-feasible), FaaS and IaaS
     * flat lines. Data blocks are inline so the directory holds just the script and PNGs. */
    for (size_t t = 0; t < plan->n_tau; t++) {
        /* tau t's alternatives: FaaS first, then each VM type's cuts N..1 (per_tau may be
         * unset when nothing fits, the alternatives never are) */
        size_t first = t * plan->alt_per_tau;
        double tau = plan->alt[first].tau;
        fprintf(gp, "$faas%zu << EOD\n", t);
        const struct sf_candidate *f = &plan->alt[first];
        fprintf(gp, "0 %.8g\n%d %.8g\nEOD\n", per_hour(f->cost_usd_per_s), N,
                per_hour(f->cost_usd_per_s));
        for (size_t v = 0; v < pr->n_vm; v++) {
            fprintf(gp, "$vm%zu_%zu << EOD\n", t, v);
            for (int k = N; k >= 1; k--) {
                const struct sf_candidate *c =
                    &plan->alt[first + 1 + v * (size_t)N + (size_t)(N - k)];
                if (!isnan(c->cost_usd_per_s))
                    fprintf(gp, "%d %.8g %d\n", c->cut, per_hour(c->cost_usd_per_s),
                            c->reject == SF_REJ_NONE || c->reject == SF_REJ_ACCURACY);
            }
            fprintf(gp, "EOD\n");
        }
        fprintf(gp,
                "set output '%s/cost_vs_cut_tau%.2f.png'\n"
                "set title 'Cost vs cut at tau = %.2f (accuracy %.1f%%), %.2f req/s, SLO %.3g s "
                "(filled: meets the SLO)'\n"
                "set xlabel 'cut c (stages 1..c on the VM; 0 = FaaS-only, %d = IaaS-only)'\n"
                "set ylabel 'USD per hour'\nset xrange [-0.5:%d.5]\nset xtics 1\n",
                dir, tau, tau, 100 * f->accuracy, plan->rate_rps, plan->slo_s, N, N);
        fprintf(gp, "plot $faas%zu using 1:2 with lines lw 2 dt 2 title 'FaaS-only (%d MB)'", t,
                f->fn_mem_mb);
        for (size_t v = 0; v < pr->n_vm; v++) {
            if (!sf_profile_vm_runtime(prof, pr->vm[v].name))
                continue;
            fprintf(gp,
                    ", $vm%zu_%zu using 1:2 with lines lc %zu notitle, "
                    "$vm%zu_%zu using 1:($3 > 0.5 ? $2 : 1/0) with points pt 7 lc %zu title '%s', "
                    "$vm%zu_%zu using 1:($3 > 0.5 ? 1/0 : $2) with points pt 6 lc %zu notitle",
                    t, v, v + 2, t, v, v + 2, pr->vm[v].name, t, v, v + 2);
        }
        fprintf(gp, "\n");
    }
    /* T-CIP sweep (paper Fig. 11) at the chosen tau: one more instance of the best IaaS and the
     * best hybrid configuration against FaaS, for residual rates in [0, r]. */
    size_t t = 0;
    while (found && t < plan->n_tau && !(plan->alt[t * plan->alt_per_tau].tau == plan->best.tau))
        t++;
    if (found && t < plan->n_tau) {
        struct sf_costcfg cc[2];
        const struct sf_candidate *cand[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            int pool = k == 0 ? SF_POOL_IAAS : SF_POOL_HYBRID;
            if (plan->per_tau_found[t][pool] &&
                sf_plan_costcfg(plan, prof, pr, &plan->per_tau[t][pool], &cc[k]) == 0)
                cand[k] = &plan->per_tau[t][pool];
        }
        const struct sf_costcfg *faas = cand[0] ? &cc[0] : cand[1] ? &cc[1] : NULL;
        if (faas) {
            fprintf(gp, "$sweep << EOD\n");
            for (int k = 0; k <= 100; k++) {
                double res = plan->capacity_rps * k / 100.0;
                fprintf(gp, "%.6g %.8g %.8g %.8g\n", res,
                        cand[0] ? per_hour(sf_cost_instance_residual_usd_per_s(&cc[0], res)) : NAN,
                        cand[1] ? per_hour(sf_cost_instance_residual_usd_per_s(&cc[1], res)) : NAN,
                        per_hour(sf_cost_faas_usd_per_s(faas, res)));
            }
            fprintf(gp, "EOD\n");
            fprintf(gp,
                    "set output '%s/tcip_sweep.png'\n"
                    "set title 'T-CIP sweep at tau %.2f: one more instance vs FaaS for a residual "
                    "rate (crossing = T-CIP)'\n"
                    "set xlabel 'residual rate res (req/s)'\nset ylabel 'USD per hour'\n"
                    "set xrange [0:%.6g]\nset xtics auto\n",
                    dir, plan->best.tau, plan->capacity_rps);
            fprintf(gp, "plot $sweep using 1:4 with lines lw 2 title 'FaaS (%d MB)'",
                    cand[0] ? cand[0]->fn_mem_mb : cand[1]->fn_mem_mb);
            for (int k = 0; k < 2; k++) {
                char tcip[32];
                if (!cand[k])
                    continue;
                fmt_tcip(tcip, sizeof(tcip), cand[k]->tcip_rps, plan->capacity_rps);
                fprintf(gp, ", $sweep using 1:%d with lines lw 2 title '%s %s c=%d (T-CIP %s)'",
                        k + 2, k == 0 ? "IaaS" : "hybrid", vm_name(pr, cand[k]), cand[k]->cut,
                        tcip);
            }
            fprintf(gp, "\n");
        }
    }
    fclose(gp);
    if (sf_cli_gnuplot(path) != 0)
        return -1;
    fprintf(stderr, "serflow: plots written to %s/ (cost_vs_cut_tau*.png%s)\n", dir,
            found ? ", tcip_sweep.png" : "");
    return 0;
}

int sf_cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {{"profile", required_argument, NULL, 'p'},
                                             {"pricing", required_argument, NULL, 'c'},
                                             {"slo-s", required_argument, NULL, 's'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"min-accuracy", required_argument, NULL, 'a'},
                                             {"tau", required_argument, NULL, 't'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {"any-memory", no_argument, NULL, 'm'},
                                             {"arch", required_argument, NULL, 'A'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"all", no_argument, NULL, 'L'},
                                             {"plot", required_argument, NULL, 'P'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    char profile_path[4096], pricing_path[4096];
    snprintf(profile_path, sizeof(profile_path), "%s",
             sf_cli_data_path("profiles/vgg16-sdn-cifar10.json"));
    snprintf(pricing_path, sizeof(pricing_path), "%s",
             sf_cli_data_path("pricing/aws-us-east-1.json"));
    struct sf_plan_opts o;
    sf_plan_opts_default(&o);
    int json = 0, all = 0;
    const char *plot_dir = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double d;
        long l;
        switch (ch) {
        case 'p':
            snprintf(profile_path, sizeof(profile_path), "%s", optarg);
            break;
        case 'c':
            snprintf(pricing_path, sizeof(pricing_path), "%s", optarg);
            break;
        case 's':
            if (sf_cli_parse_double(optarg, &d) || d <= 0) {
                fprintf(stderr, "serflow plan: --slo-s: expected seconds > 0, got '%s'\n", optarg);
                return SF_EXIT_USAGE;
            }
            o.slo_s = d;
            break;
        case 'r':
            if (sf_cli_parse_double(optarg, &d) || d <= 0) {
                fprintf(stderr, "serflow plan: --rate: expected req/s > 0, got '%s'\n", optarg);
                return SF_EXIT_USAGE;
            }
            o.rate_rps = d;
            break;
        case 'a':
            if (sf_cli_parse_double(optarg, &d) || d < 0 || d > 100) {
                fprintf(stderr,
                        "serflow plan: --min-accuracy: expected 0..1 or a percentage, got '%s'\n",
                        optarg);
                return SF_EXIT_USAGE;
            }
            o.min_accuracy = d > 1 ? d / 100.0 : d;
            break;
        case 't':
            if (sf_cli_parse_double(optarg, &d) || d <= 0 || d > 1) {
                fprintf(stderr, "serflow plan: --tau: expected a threshold in (0, 1], got '%s'\n",
                        optarg);
                return SF_EXIT_USAGE;
            }
            o.tau = d;
            break;
        case 'b':
            if (sf_cli_parse_int(optarg, 1, 1000000, &l)) {
                fprintf(stderr, "serflow plan: --batch: expected an integer >= 1, got '%s'\n",
                        optarg);
                return SF_EXIT_USAGE;
            }
            o.batch_size = (int)l;
            break;
        case 'm':
            o.any_memory = 1;
            break;
        case 'A':
            o.fn_arch = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'L':
            all = 1;
            break;
        case 'P':
            plot_dir = optarg;
            break;
        case 'h':
            fputs(plan_usage, stdout);
            return SF_EXIT_OK;
        default:
            fprintf(stderr,
                    "serflow plan: unknown or incomplete option '%s' (see serflow plan "
                    "--help)\n",
                    argv[optind - 1]);
            return SF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "serflow plan: unexpected argument '%s' (see serflow plan --help)\n",
                argv[optind]);
        return SF_EXIT_USAGE;
    }

    struct sf_err err = {{0}};
    struct sf_profile *prof = malloc(sizeof(*prof));
    struct sf_pricing *pr = malloc(sizeof(*pr));
    struct sf_plan plan;
    int rc, code = SF_EXIT_OK;
    if (!prof || !pr) {
        fprintf(stderr, "serflow plan: out of memory\n");
        free(prof);
        free(pr);
        return SF_EXIT_FAIL;
    }
    if ((rc = sf_profile_load(prof, profile_path, &err)) != SF_OK ||
        (rc = sf_pricing_load(pr, pricing_path, &err)) != SF_OK) {
        fprintf(stderr, "serflow plan: %s\n", err.msg);
        code = SF_EXIT_USAGE;
        goto out_free;
    }
    rc = sf_plan_run(&plan, prof, pr, &o, &err);
    if (rc != SF_OK && rc != SF_EINFEASIBLE) {
        fprintf(stderr, "serflow plan: %s\n", err.msg);
        code = rc == SF_ENOMEM ? SF_EXIT_FAIL : SF_EXIT_USAGE;
        goto out_free;
    }
    int found = rc == SF_OK;
    if (json)
        print_json(&plan, prof, pr, found);
    else
        print_human(&plan, prof, pr, &o, all, found);
    if (!found) {
        fprintf(stderr, "serflow plan: %s\n", err.msg);
        code = SF_EXIT_FAIL;
    }
    if (plot_dir && write_plots(plot_dir, &plan, prof, pr, found) != 0)
        code = SF_EXIT_FAIL;
    sf_plan_fini(&plan);
out_free:
    free(prof);
    free(pr);
    return code;
}
