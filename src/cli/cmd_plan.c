/* cmd_plan.c - `serflow plan`: runs the offline configurators and explains the choice. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "serflow/plan.h"
#include "serflow/trace.h"

enum plan_opt {
    P_PROFILE = 1,
    P_PRICING,
    P_SLO,
    P_RATE,
    P_MIN_ACCURACY,
    P_TAU,
    P_BATCH,
    P_FN_INVOCATION,
    P_BATCHING,
    P_ANY_MEMORY,
    P_ARCH,
    P_JSON,
    P_ALL,
    P_PLOT,
    P_TRAFFIC,
    P_TRAFFIC_UNIT,
    P_TRAFFIC_FORMAT
};

static const char *const traffic_unit_words[] = {"epoch", "second", NULL};
static const char *const traffic_format_words[] = {"counts", "csv", NULL};

static const struct sf_opt plan_opts[] = {
    {.help = "Inputs (defaults: the bundled paper-reconstruction profile and AWS us-east-1 "
             "catalog):"},
    SF_CLI_OPT_PROFILE(P_PROFILE),
    SF_CLI_OPT_PRICING(P_PRICING),
    {.help = "Constraints and workload:"},
    {.id = P_SLO,
     .name = "slo-s",
     .kind = SF_OPT_NUM,
     .metavar = "S",
     .help = "latency SLO in seconds = one epoch (default: the profile's, 6)",
     .want = "seconds",
     .lo = 0,
     .hi = SF_MAX_SLO_S,
     .flags = SF_OPT_LO_OPEN},
    {.id = P_RATE,
     .name = "rate",
     .kind = SF_OPT_NUM,
     .metavar = "RPS",
     .help = "long-term mean request rate to plan for (default: the profile's)",
     .want = "req/s",
     .lo = 0,
     .hi = SF_MAX_RATE_RPS,
     .flags = SF_OPT_LO_OPEN},
    {.id = P_TRAFFIC,
     .name = "traffic",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "plan against this traffic (a trace replay reads) instead of one rate:\nevery path "
             "priced by its expected cost over the trace's epochs, with\ncold starts and the VM "
             "billing minimum (docs/planner.md)"},
    {.id = P_TRAFFIC_UNIT,
     .name = "traffic-unit",
     .kind = SF_OPT_WORD,
     .metavar = "U",
     .help = "epoch | second: what one line of a count trace covers (default epoch)",
     .words = traffic_unit_words},
    {.id = P_TRAFFIC_FORMAT,
     .name = "traffic-format",
     .kind = SF_OPT_WORD,
     .metavar = "F",
     .help = "counts | csv (default: csv for *.csv files, else counts)",
     .words = traffic_format_words},
    SF_CLI_OPT_MIN_ACCURACY(P_MIN_ACCURACY,
                            "top-1 accuracy floor, 0..1 or a percentage (default: none)"),
    SF_CLI_OPT_TAU(P_TAU, "fix the confidence threshold instead of searching every tau"),
    {.id = P_BATCH,
     .name = "batch",
     .kind = SF_OPT_INT,
     .metavar = "B",
     .help = "batch size per instance per epoch (default: the profile's)",
     .want = "a batch size",
     .ilo = 1,
     .ihi = SF_MAX_BATCH},
    SF_CLI_OPT_FN_INVOCATION(P_FN_INVOCATION),
    SF_CLI_OPT_BATCHING(P_BATCHING),
    {.id = P_ANY_MEMORY,
     .name = "any-memory",
     .kind = SF_OPT_FLAG,
     .help = "try every function memory in the catalog's steps, not only\nwhole-vCPU multiples "
             "(mb_per_vcpu)"},
    {.id = P_ARCH,
     .name = "arch",
     .kind = SF_OPT_STR,
     .metavar = "NAME",
     .help = "function architecture from the catalog (default: the first, x86_64)"},
    {.help = "Output:"},
    {.id = P_JSON,
     .name = "json",
     .kind = SF_OPT_FLAG,
     .help = "one JSON object on stdout (keys: pool, tau, cut, vm_type,\nfunction_mem_mb, "
             "instances, capacity_rps, tcip_rps,\ncost_usd_per_hour, accuracy, alternatives "
             "(alike), ...)"},
    {.id = P_ALL,
     .name = "all",
     .kind = SF_OPT_FLAG,
     .help = "list every alternative of every tau, not only the chosen tau's"},
    {.id = P_PLOT,
     .name = "plot",
     .kind = SF_OPT_STR,
     .metavar = "DIR",
     .help = "write PNGs: cost vs cut per tau (paper Figs. 8-9), T-CIP sweep\n(Fig. 11)"},
    {0}};

static const struct sf_opt_cmd plan_spec = {
    .name = "plan",
    .summary = "choose FaaS-only, IaaS-only or hybrid offloading, tau, cut, VM type and function\n"
               "memory for a model profile and a pricing catalog; T-CIP and S-CIP",
    .synopsis = "[options]",
    .about =
        "Chooses where an early-exit model should run - functions only (faas), VMs with a FaaS "
        "spill\n(iaas), or a VM running stages 1..c that hands the survivors to a function "
        "(hybrid) - at the\nlowest cost per hour that meets the latency SLO and the accuracy "
        "floor (SERFLOW Alg. 1-2).",
    .opts = plan_opts,
    .epilog = "Examples:\n"
              "  serflow plan                         plan the bundled VGG16 profile\n"
              "  serflow plan --batching epoch --tau 0.7 --plot out/\n"
              "                                       the paper's hybrid (epoch batches), plots\n"
              "  serflow plan --min-accuracy 85 --json | jq .pool\n"
              "  serflow plan --tau 0.7 --traffic data/traces/wits_libra_per_second.txt\n"
              "\n"
              "Exit status: 0 a plan was found, 1 nothing meets the constraints, 2 bad usage or "
              "input.\n"};

struct plan_args {
    char profile_default[4096], pricing_default[4096];
    const char *profile, *pricing, *plot_dir, *traffic;
    int traffic_unit, traffic_csv; /* traffic_csv: -1 by the file's name */
    struct sf_plan_opts o;
    int json, all;
};

/* Fills a from argv: SF_OPT_END when the plan should run, SF_OPT_HELP, or SF_OPT_ERROR (err). */
static int parse_args(int argc, char **argv, struct plan_args *a, struct sf_err *err)
{
    memset(a, 0, sizeof(*a));
    a->profile = sf_cli_data_path("profiles/vgg16-sdn-cifar10.json", a->profile_default,
                                  sizeof(a->profile_default));
    a->pricing = sf_cli_data_path("pricing/aws-us-east-1.json", a->pricing_default,
                                  sizeof(a->pricing_default));
    sf_plan_opts_default(&a->o);
    a->traffic_csv = -1;
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, &plan_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) > 0) {
        switch ((enum plan_opt)id) {
        case P_PROFILE:
            a->profile = v.str;
            break;
        case P_PRICING:
            a->pricing = v.str;
            break;
        case P_SLO:
            a->o.slo_s = v.num;
            break;
        case P_RATE:
            a->o.rate_rps = v.num;
            break;
        case P_MIN_ACCURACY:
            a->o.min_accuracy = sf_cli_accuracy(v.num);
            break;
        case P_TAU:
            a->o.tau = v.num;
            break;
        case P_BATCH:
            a->o.batch_size = (int)v.i;
            break;
        case P_BATCHING:
            a->o.batching = v.word == 1 ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
            break;
        case P_FN_INVOCATION:
            a->o.fn_invoke_size = v.word == 1 ? 1 : 0;
            break;
        case P_ANY_MEMORY:
            a->o.any_memory = 1;
            break;
        case P_ARCH:
            a->o.fn_arch = v.str;
            break;
        case P_JSON:
            a->json = 1;
            break;
        case P_ALL:
            a->all = 1;
            break;
        case P_PLOT:
            a->plot_dir = v.str;
            break;
        case P_TRAFFIC:
            a->traffic = v.str;
            break;
        case P_TRAFFIC_UNIT:
            a->traffic_unit = v.word;
            break;
        case P_TRAFFIC_FORMAT:
            a->traffic_csv = v.word;
            break;
        }
    }
    if (id == SF_OPT_END && (!a->profile || !a->pricing)) {
        sf_err_set(err, SF_EINVAL, "the bundled data path is too long (set SERFLOW_DATA)");
        return SF_OPT_ERROR;
    }
    return id;
}

static int plan_check(int argc, char **argv, struct sf_err *err)
{
    struct plan_args a;
    int id = parse_args(argc, argv, &a, err);
    return id == SF_OPT_ERROR ? SF_EINVAL : SF_OK;
}

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
/* r of a candidate's path: its own under deadline batching, B / SLO under epoch batching. */
static double cap_of(const struct sf_plan *plan, const struct sf_candidate *c)
{
    return c->capacity_rps > 0 ? c->capacity_rps : plan->capacity_rps;
}

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
    else if (c->tail_fanout <= 1)
        snprintf(buf, n,
                 "%s runs stages 1-%d; the survivors go to one %d MB function call for stages "
                 "%d-%d (spill: full model)",
                 vm_name(pr, c), c->cut, c->fn_mem_mb, c->cut + 1, N);
    else
        snprintf(buf, n,
                 "%s runs stages 1-%d; the survivors go to %d parallel %d MB function calls for "
                 "stages %d-%d (spill: full model)",
                 vm_name(pr, c), c->cut, c->tail_fanout, c->fn_mem_mb, c->cut + 1, N);
}

static void print_alt_header(void)
{
    printf("  %-6s %-12s %3s %2s %4s %6s %10s %9s %8s %7s  %s\n", "pool", "vm", "cut", "k", "inst",
           "mem_mb", "$/hour", "latency_s", "margin_s", "T-CIP", "status");
}

static void print_alt(const struct sf_plan *plan, const struct sf_pricing *pr,
                      const struct sf_candidate *c, const struct sf_candidate *best)
{
    char money[32], tcip[32], lat[32], margin[32], status[96];
    fmt_money(money, sizeof(money), plan->traffic ? c->rank_usd_per_s : c->cost_usd_per_s);
    fmt_tcip(tcip, sizeof(tcip), c->tcip_rps, cap_of(plan, c));
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
    char mem[16], inst[16];
    if (c->fn_mem_mb > 0)
        snprintf(mem, sizeof(mem), "%d", c->fn_mem_mb);
    else
        snprintf(mem, sizeof(mem), "-");
    if (c->pool == SF_POOL_FAAS || isnan(c->cost_usd_per_s))
        snprintf(inst, sizeof(inst), "-");
    else
        snprintf(inst, sizeof(inst), "%.0f", c->split.instances);
    printf("%c %-6s %-12s %3d %2d %4s %6s %10s %9s %8s %7s  %s\n", chosen ? '*' : ' ',
           sf_pool_name(c->pool), vm_name(pr, c), c->cut, c->tail_fanout, inst, mem, money, lat,
           margin, tcip, status);
}

static void print_human(const struct sf_plan *plan, const struct sf_profile *prof,
                        const struct sf_pricing *pr, const struct sf_plan_opts *o, int all,
                        int found)
{
    printf("serflow plan: %s on %s %s (prices as of %s)\n", prof->model, pr->provider, pr->region,
           pr->as_of);
    if (o->batching == SF_BATCHING_EPOCH)
        printf("  SLO %.3g s, epoch batching (the paper's): batches of %d, capacity r = %.2f req/s "
               "per instance;\n  planning rate %.2f req/s\n",
               plan->slo_s, plan->batch_size, plan->capacity_rps, plan->rate_rps);
    else
        printf("  SLO %.3g s per request, deadline batching: batches of up to %d as the batcher "
               "forms them;\n  planning rate %.2f req/s\n",
               plan->slo_s, plan->batch_size, plan->rate_rps);
    char floor_txt[32];
    if (o->min_accuracy > 0)
        snprintf(floor_txt, sizeof(floor_txt), "%.1f%%", 100 * o->min_accuracy);
    else
        snprintf(floor_txt, sizeof(floor_txt), "none");
    char mem_txt[96];
    if (o->any_memory)
        snprintf(mem_txt, sizeof(mem_txt), "every %d MB step in [%d, %d] MB", pr->fn_mem_step_mb,
                 pr->fn_mem_min_mb, pr->fn_mem_max_mb);
    else
        snprintf(mem_txt, sizeof(mem_txt), "multiples of %d MB (one vCPU)", pr->fn_mb_per_vcpu);
    printf("  accuracy floor %s, function arch %s, memories %s; %zu candidates priced\n", floor_txt,
           pr->fn_arch[plan->fn_arch].name, mem_txt, plan->n_evaluated);
    if (plan->traffic)
        printf("  planned against the traffic: %zu epochs of %.3g s, mean %.2f req/s, peak %.2f "
               "req/s; every path priced by\n  its expected cost over it (instances scheduled at "
               "best for it, cold starts and the VM minimum paid)\n",
               plan->traffic_epochs, plan->slo_s, plan->traffic_mean_rps, plan->traffic_peak_rps);
    printf("\n");
    if (found) {
        const struct sf_candidate *b = &plan->best;
        char what[256], tcip[32];
        describe_stages(prof, pr, b, what, sizeof(what));
        fmt_tcip(tcip, sizeof(tcip), b->tcip_rps, cap_of(plan, b));
        const char *pool = b->pool == SF_POOL_FAAS   ? "{FaaS}"
                           : b->pool == SF_POOL_IAAS ? "{IaaS, FaaS}"
                                                     : "{Hybrid, FaaS}";
        printf("Chosen: pool %s (%s), tau %.2f, accuracy %.1f%%\n", pool, sf_pool_name(b->pool),
               b->tau, 100 * b->accuracy);
        printf("  placement  %s\n", what);
        if (b->pool != SF_POOL_FAAS) {
            printf("  capacity   r = %.2f req/s per instance; T-CIP %s req/s", cap_of(plan, b),
                   tcip);
            if (!(b->tcip_rps <= cap_of(plan, b)))
                printf(" (above r: never pays; residuals go to functions)\n");
            else
                printf(" (a residual above it buys one more instance)\n");
            printf("  instances  %.0f at %.2f req/s\n", b->split.instances, plan->rate_rps);
            if (o->batching != SF_BATCHING_EPOCH)
                printf("  batches    up to %d requests per instance batch (saturated), %d per "
                       "function call at the planning rate\n",
                       b->inst_batch, b->fn_batch);
        } else if (o->batching != SF_BATCHING_EPOCH) {
            printf("  batches    %d requests per function call at the planning rate\n",
                   b->fn_batch);
        }
        if (plan->traffic)
            printf("  expected   $%.4f per hour over the traffic\n",
                   per_hour(b->expected_usd_per_s));
        printf("  cost       $%.4f per hour at %.2f req/s (VM $%.4f, functions $%.4f)\n",
               per_hour(b->cost_usd_per_s), plan->rate_rps, per_hour(b->split.vm_usd_per_s),
               per_hour(b->split.fn_usd_per_s));
        if (o->batching == SF_BATCHING_EPOCH)
            printf("  SLO        worst-case batch %.2f s of %.2f s (margin %.2f s)\n\n",
                   b->latency_s, plan->slo_s, b->slo_margin_s);
        else
            printf("  SLO        worst-case request %.2f s of %.2f s, arrival to answer (margin "
                   "%.2f s)\n\n",
                   b->latency_s, plan->slo_s, b->slo_margin_s);
    } else {
        printf("No configuration meets the constraints; the alternatives below say why.\n\n");
    }

    printf("Cheapest SLO-feasible configuration per tau, $/hour %s (x: below the accuracy "
           "floor):\n",
           plan->traffic ? "expected over the traffic" : "at the planning rate");
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
                snprintf(col[p], sizeof(col[p]), "$%.4f %dMB", per_hour(c->rank_usd_per_s),
                         c->fn_mem_mb);
            else if (p == SF_POOL_IAAS)
                snprintf(col[p], sizeof(col[p]), "$%.4f %s", per_hour(c->rank_usd_per_s),
                         vm_name(pr, c));
            else
                snprintf(col[p], sizeof(col[p]), "$%.4f %s c=%d %dMB", per_hour(c->rank_usd_per_s),
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
    printf("k: parallel function calls per batch tail (hybrid); inst: instances at the planning "
           "rate (0: none pays,\nso all go to functions, at about FaaS-only's cost); T-CIP: "
           "residual req/s above which one more\ninstance pays, '>' when above r (never pays), inf "
           "when never.\n");
    if (!all)
        printf("(--all lists every tau's alternatives, --json gives them to programs, --plot DIR "
               "draws them)\n");
}

static json_t *cand_json(const struct sf_plan *plan, const struct sf_pricing *pr,
                         const struct sf_candidate *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "pool", json_string(sf_pool_name(c->pool)));
    json_object_set_new(o, "tau", sf_cli_json_num(c->tau));
    json_object_set_new(o, "cut", json_integer(c->cut));
    json_object_set_new(o, "vm_type", c->vm >= 0 ? json_string(pr->vm[c->vm].name) : json_null());
    json_object_set_new(o, "function_mem_mb",
                        c->fn_mem_mb > 0 ? json_integer(c->fn_mem_mb) : json_null());
    json_object_set_new(o, "cost_usd_per_hour", sf_cli_json_num(per_hour(c->cost_usd_per_s)));
    if (plan->traffic)
        json_object_set_new(o, "expected_usd_per_hour",
                            isfinite(c->expected_usd_per_s)
                                ? sf_cli_json_num(per_hour(c->expected_usd_per_s))
                                : json_null());
    json_object_set_new(o, "vm_cost_usd_per_hour",
                        sf_cli_json_num(per_hour(c->split.vm_usd_per_s)));
    json_object_set_new(o, "function_cost_usd_per_hour",
                        sf_cli_json_num(per_hour(c->split.fn_usd_per_s)));
    json_object_set_new(o, "instances",
                        isfinite(c->split.instances) ? json_integer((json_int_t)c->split.instances)
                                                     : json_null());
    json_object_set_new(o, "latency_s", sf_cli_json_num(c->latency_s));
    json_object_set_new(o, "slo_margin_s", sf_cli_json_num(c->slo_margin_s));
    json_object_set_new(o, "tail_fanout", json_integer(c->tail_fanout));
    json_object_set_new(o, "tcip_rps",
                        isfinite(c->tcip_rps) ? sf_cli_json_num(c->tcip_rps) : json_null());
    json_object_set_new(o, "tcip_above_capacity", json_boolean(!(c->tcip_rps <= cap_of(plan, c))));
    json_object_set_new(o, "capacity_rps", sf_cli_json_num(cap_of(plan, c)));
    json_object_set_new(o, "instance_batch", json_integer(c->inst_batch));
    json_object_set_new(o, "function_batch", json_integer(c->fn_batch));
    json_object_set_new(o, "accuracy", sf_cli_json_num(c->accuracy));
    json_object_set_new(o, "payload_bytes", sf_cli_json_num(c->payload_bytes));
    json_object_set_new(o, "feasible", json_boolean(c->reject == SF_REJ_NONE));
    json_object_set_new(o, "rejected_by",
                        c->reject == SF_REJ_NONE ? json_null()
                                                 : json_string(sf_reject_name(c->reject)));
    return o;
}

static int print_json(const struct sf_plan *plan, const struct sf_profile *prof,
                      const struct sf_pricing *pr, int found)
{
    json_t *o = found ? cand_json(plan, pr, &plan->best) : json_object();
    json_object_set_new(o, "found", json_boolean(found));
    if (!found)
        json_object_set_new(o, "pool", json_null());
    json_object_set_new(o, "model", json_string(prof->model));
    json_object_set_new(o, "slo_s", sf_cli_json_num(plan->slo_s));
    json_object_set_new(o, "rate_rps", sf_cli_json_num(plan->rate_rps));
    json_object_set_new(o, "batch_size", json_integer(plan->batch_size));
    json_object_set_new(o, "batching",
                        json_string(plan->batching == SF_BATCHING_EPOCH ? "epoch" : "deadline"));
    json_object_set_new(o, "function_arch", json_string(pr->fn_arch[plan->fn_arch].name));
    if (plan->traffic) {
        json_t *t = json_object();
        json_object_set_new(t, "epochs", json_integer((json_int_t)plan->traffic_epochs));
        json_object_set_new(t, "mean_rps", sf_cli_json_num(plan->traffic_mean_rps));
        json_object_set_new(t, "peak_rps", sf_cli_json_num(plan->traffic_peak_rps));
        json_object_set_new(o, "traffic", t);
    }
    json_t *alts = json_array();
    for (size_t i = 0; i < plan->n_alt; i++)
        json_array_append_new(alts, cand_json(plan, pr, &plan->alt[i]));
    json_object_set_new(o, "alternatives", alts);
    json_t *scip = json_array();
    for (size_t i = 0; i < plan->n_scip; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "from", json_string(sf_pool_name(plan->scip[i].from)));
        json_object_set_new(s, "to", json_string(sf_pool_name(plan->scip[i].to)));
        json_object_set_new(s, "tau_lo", sf_cli_json_num(plan->scip[i].tau_lo));
        json_object_set_new(s, "tau_hi", sf_cli_json_num(plan->scip[i].tau_hi));
        json_object_set_new(s, "tau_est", sf_cli_json_num(plan->scip[i].tau_est));
        json_array_append_new(scip, s);
    }
    json_object_set_new(o, "scip", scip);
    int code = sf_cli_print_json("plan", o);
    json_decref(o);
    return code;
}

/* Horizontal offset of the k-th of n VM types drawn at one cut, so that no series hides another
 * (two types that cost the same at a cut stand side by side). */
static double vm_dx(int k, int n)
{
    return n > 1 ? 0.3 * ((double)k / (n - 1) - 0.5) : 0.0;
}

/* Drawn filled: no constraint but accuracy rejected it (the accuracy floor is per tau, not per
 * configuration, and shows in the title). */
static int meets_slo(const struct sf_candidate *c)
{
    return c->reject == SF_REJ_NONE || c->reject == SF_REJ_ACCURACY;
}

/* Cost vs cut at tau row t (paper Figs. 8-9): the FaaS-only cost as a flat line, and for each
 * profiled VM type its cost at every cut (N = IaaS-only, 1..N-1 hybrid). A cut where at least
 * one instance pays at the planning rate is a circle on the VM type's line; a cut where none
 * does is a triangle, not joined to the line: all its requests go to functions, so it costs
 * FaaS-only's price and is not a point of the trade-off. Filled: meets the SLO; open: rejected
 * (the key says which occur). Each panel marks the cheapest configuration at its tau; the plan's
 * choice is a star, with "(the plan's choice)" in its title. */
static void plot_cost_vs_cut(struct sf_plot *pl, const struct sf_plan *plan,
                             const struct sf_profile *prof, const struct sf_pricing *pr, size_t t)
{
    int N = prof->n_stages;
    size_t first = t * plan->alt_per_tau; /* FaaS first, then each VM type's cuts N..1 */
    const struct sf_candidate *f = &plan->alt[first];
    char name[SF_PLOT_NAME_MAX];
    struct sf_outfile o;
    int n_prof = 0, rank[SF_MAX_VM_TYPES], pays_any[SF_MAX_VM_TYPES] = {0};
    int n_marks[4] = {0}, n_payload = 0; /* pays and meets, pays and not, none pays ... */
    for (size_t v = 0; v < pr->n_vm; v++)
        rank[v] = sf_profile_vm_runtime(prof, pr->vm[v].name) ? n_prof++ : -1;
    snprintf(name, sizeof(name), "cost_vs_cut_tau%.2f.dat", f->tau);
    FILE *d = sf_plot_data(pl, name, &o);
    if (!d)
        return;
    fprintf(d, "# cut, FaaS-only USD/hour, then per VM type: x (the cut, offset per type), "
               "USD/hour where an instance pays, USD/hour where none pays (all on functions), "
               "meets the SLO (1/0), instances at the planning rate\n");
    for (int k = 0; k <= N; k++) {
        fprintf(d, "%d %.8g", k, per_hour(f->cost_usd_per_s));
        for (size_t v = 0; v < pr->n_vm; v++) {
            const struct sf_candidate *c = &plan->alt[first + 1 + v * (size_t)N + (size_t)(N - k)];
            if (k == 0 || rank[v] < 0 || isnan(c->cost_usd_per_s)) {
                fprintf(d, " NaN NaN NaN 0 0");
                continue;
            }
            int pays = c->split.instances >= 1, ok = meets_slo(c);
            double usd = per_hour(c->cost_usd_per_s);
            fprintf(d, " %.4f %.8g %.8g %d %.0f", k + vm_dx(rank[v], n_prof), pays ? usd : NAN,
                    pays ? NAN : usd, ok, c->split.instances);
            pays_any[v] |= pays;
            n_marks[2 * !pays + !ok]++;
            n_payload += c->reject == SF_REJ_PAYLOAD;
        }
        fputc('\n', d);
    }
    if (sf_plot_data_done(pl, &o) != SF_OK)
        return;

    /* the cheapest configuration at this tau, and whether it is the plan's choice */
    const struct sf_candidate *cheap = NULL;
    for (int p = 0; p < 3; p++)
        if (plan->per_tau_found[t][p] &&
            (!cheap || plan->per_tau[t][p].cost_usd_per_s < cheap->cost_usd_per_s))
            cheap = &plan->per_tau[t][p];
    int chosen_here = plan->found && fabs(plan->best.tau - f->tau) < SF_TAU_EPS;
    if (chosen_here)
        cheap = &plan->best;

    char png[SF_PLOT_NAME_MAX];
    snprintf(png, sizeof(png), "cost_vs_cut_tau%.2f.png", f->tau);
    sf_plot_new(pl, png);
    FILE *gp = pl->gp;
    char chosen_txt[64];
    if (chosen_here)
        snprintf(chosen_txt, sizeof(chosen_txt), " - the plan's choice");
    else if (plan->found)
        snprintf(chosen_txt, sizeof(chosen_txt), " (the plan chose tau %.2f)", plan->best.tau);
    else
        snprintf(chosen_txt, sizeof(chosen_txt), " (no configuration is feasible)");
    fprintf(gp, "set title ");
    sf_plot_textf(pl, "Cost vs cut at tau %.2f (accuracy %.1f%%), %.2f req/s, SLO %.3g s%s", f->tau,
                  100 * f->accuracy, plan->rate_rps, plan->slo_s, chosen_txt);
    fprintf(gp, "\nset xlabel ");
    sf_plot_textf(pl,
                  "cut c: stages 1..c on the VM (0 = FaaS-only, %d = IaaS-only); VM types side "
                  "by side at each cut",
                  N);
    if (cheap) {
        double x = cheap->pool == SF_POOL_FAAS || cheap->vm < 0
                       ? 0
                       : cheap->cut + vm_dx(rank[cheap->vm], n_prof);
        int right = x > 0.6 * N; /* the text goes where the plot has room */
        fprintf(gp, "\nset label 1 ");
        if (chosen_here)
            sf_plot_str(pl, "chosen");
        else
            sf_plot_str(pl, "cheapest at this tau");
        fprintf(gp,
                " at %.4f,%.8g %s point pt %d ps 3 lw 2 lc rgb 'black' offset %s,-1.6 front boxed",
                x, per_hour(cheap->cost_usd_per_s), right ? "right" : "left", chosen_here ? 3 : 4,
                right ? "-1.5" : "1.5");
    }
    fprintf(gp,
            "\nset ylabel 'USD per hour'\nset xrange [-0.5:%d.5]\nset xtics 1\n"
            "set yrange [0:*]\nset key outside right top vertical Left reverse\n"
            "set style textbox opaque noborder\nplot ",
            N);
    sf_plot_str(pl, name);
    fprintf(gp, " using 1:2 with lines lw 2 dt 2 lc rgb 'black' title ");
    sf_plot_textf(pl, "FaaS-only (%d MB)", f->fn_mem_mb);
    for (size_t v = 0; v < pr->n_vm; v++) {
        if (rank[v] < 0)
            continue;
        int x = 3 + 5 * (int)v, pays = x + 1, nopay = x + 2, ok = x + 3;
        fprintf(gp, ", '' using %d:%d with lines lw 2 lc %zu title ", x, pays, v + 1);
        if (pays_any[v])
            sf_plot_str(pl, pr->vm[v].name);
        else
            sf_plot_textf(pl, "%s (no cut pays)", pr->vm[v].name);
        fprintf(gp,
                ", '' using %d:($%d > 0.5 ? $%d : 1/0) with points pt 7 ps 1.3 lc %zu notitle"
                ", '' using %d:($%d > 0.5 ? 1/0 : $%d) with points pt 6 ps 1.3 lw 2 lc %zu notitle"
                ", '' using %d:($%d > 0.5 ? $%d : 1/0) with points pt 9 ps 1.3 lc %zu notitle"
                ", '' using %d:($%d > 0.5 ? 1/0 : $%d) with points pt 8 ps 1.3 lw 2 lc %zu notitle",
                x, ok, pays, v + 1, x, ok, pays, v + 1, x, ok, nopay, v + 1, x, ok, nopay, v + 1);
    }
    /* the key of the markers: one entry per marker, drawn nowhere, saying when none occurs */
    static const struct {
        int pt;
        const char *what;
    } marks[4] = {{7, "instances pay; meets the SLO"},
                  {6, "instances pay; %s"},
                  {9, "no instance pays: all on functions"},
                  {8, "no instance pays; %s"}};
    for (int m = 0; m < 4; m++) {
        if (!n_marks[m] && m >= 2)
            continue; /* the triangles are explained where they occur */
        char what[96];
        snprintf(what, sizeof(what), marks[m].what, n_payload ? "rejected" : "misses the SLO");
        fprintf(gp, ", NaN with points pt %d ps 1.3 lw 2 lc rgb 'gray30' title ", marks[m].pt);
        sf_plot_textf(pl, "%s%s", what, n_marks[m] ? "" : " (none here)");
    }
    fputc('\n', gp);
}

/* The T-CIP sweep at the chosen tau (paper Fig. 11): the cost of one more instance of the best
 * IaaS and hybrid configuration against FaaS, for residual rates in [0, r]. Returns 1 when drawn.
 */
static int plot_tcip(struct sf_plot *pl, const struct sf_plan *plan, const struct sf_profile *prof,
                     const struct sf_pricing *pr)
{
    size_t t = 0;
    while (t < plan->n_tau && plan->alt[t * plan->alt_per_tau].tau != plan->best.tau)
        t++;
    if (t == plan->n_tau)
        return 0;
    struct sf_costcfg cc[2];
    const struct sf_candidate *cand[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        int pool = k == 0 ? SF_POOL_IAAS : SF_POOL_HYBRID;
        if (plan->per_tau_found[t][pool] &&
            sf_plan_costcfg(plan, prof, pr, &plan->per_tau[t][pool], &cc[k]) == 0)
            cand[k] = &plan->per_tau[t][pool];
    }
    const struct sf_costcfg *faas = cand[0] ? &cc[0] : cand[1] ? &cc[1] : NULL;
    if (!faas)
        return 0;
    struct sf_outfile o;
    FILE *d = sf_plot_data(pl, "tcip_sweep.dat", &o);
    if (!d)
        return 0;
    fprintf(d, "# residual req/s, USD/hour: one more IaaS instance, one more hybrid instance, "
               "FaaS\n");
    for (int k = 0; k <= 100; k++) {
        double res = cap_of(plan, &plan->best) * k / 100.0;
        fprintf(d, "%.6g", res);
        for (int j = 0; j < 2; j++)
            if (cand[j])
                fprintf(d, " %.8g", per_hour(sf_cost_instance_residual_usd_per_s(&cc[j], res)));
            else
                fprintf(d, " -");
        fprintf(d, " %.8g\n", per_hour(sf_cost_faas_usd_per_s(faas, res)));
    }
    if (sf_plot_data_done(pl, &o) != SF_OK)
        return 0;
    sf_plot_new(pl, "tcip_sweep.png");
    FILE *gp = pl->gp;
    fprintf(gp, "set title ");
    sf_plot_textf(pl,
                  "T-CIP at tau %.2f: one more instance vs FaaS for the residual rate; an instance "
                  "pays off where its line is below FaaS, right of its T-CIP",
                  plan->best.tau);
    fprintf(gp, "\nset xlabel ");
    sf_plot_textf(pl, "residual rate res (req/s), up to one instance's capacity r = %.2f",
                  cap_of(plan, &plan->best));
    /* the crossings: T-CIP of each line, or why it has none in [0, r] */
    double r = cap_of(plan, &plan->best);
    for (int k = 0, n_off = 0; k < 2; k++) {
        if (!cand[k])
            continue;
        double tc = cand[k]->tcip_rps;
        const char *what = k == 0 ? "IaaS" : "hybrid";
        if (isfinite(tc) && tc >= 0 && tc <= r) {
            double y = per_hour(sf_cost_instance_residual_usd_per_s(&cc[k], tc));
            fprintf(
                gp,
                "\nset arrow %d from %.6g, graph 0 to %.6g, first %.8g nohead dt 2 lw 1.5 lc %d",
                k + 1, tc, tc, y, k + 1);
            fprintf(gp, "\nset label %d ", k + 1);
            sf_plot_textf(pl, "%s T-CIP %.2f req/s", what, tc);
            int right = tc > 0.6 * r; /* the text goes where the plot has room */
            fprintf(gp, " at %.6g,%.8g %s point pt 7 ps 1.8 lc %d offset %s,%s front boxed", tc, y,
                    right ? "right" : "left", k + 1, right ? "-1" : "1", k == 0 ? "-1.2" : "1.2");
        } else {
            char tt[32];
            fmt_tcip(tt, sizeof(tt), tc, r);
            fprintf(gp, "\nset label %d ", k + 1);
            sf_plot_textf(pl,
                          "%s: T-CIP %s, beyond r = %.2f: the lines do not cross, one more "
                          "instance never pays",
                          what, tt, r);
            fprintf(gp, " at graph 0.98, graph %.2f right front boxed", 0.05 + 0.06 * n_off++);
        }
    }
    fprintf(gp,
            "\nset style textbox opaque noborder\n"
            "set ylabel 'USD per hour'\nset xrange [0:%.6g]\nset yrange [0:*]\n"
            "set key below\n"
            "plot 'tcip_sweep.dat' using 1:4 with lines lw 2 lc rgb 'black' title ",
            r);
    sf_plot_textf(pl, "FaaS (%d MB)", cand[0] ? cand[0]->fn_mem_mb : cand[1]->fn_mem_mb);
    for (int k = 0; k < 2; k++) {
        char tcip[32];
        if (!cand[k])
            continue;
        fmt_tcip(tcip, sizeof(tcip), cand[k]->tcip_rps, cap_of(plan, cand[k]));
        fprintf(gp, ", '' using 1:%d with lines lw 2 lc %d title ", k + 2, k + 1);
        sf_plot_textf(pl, "%s %s, cut %d (T-CIP %s)", k == 0 ? "IaaS" : "hybrid",
                      vm_name(pr, cand[k]), cand[k]->cut, tcip);
    }
    fputc('\n', gp);
    return 1;
}

/* Writes the plots (paper Figs. 8-9 and 11) into dir. Returns an exit code. */
static int write_plots(const char *dir, const struct sf_plan *plan, const struct sf_profile *prof,
                       const struct sf_pricing *pr, int found)
{
    int code;
    struct sf_plot *pl =
        sf_plot_begin("plan", dir, "plan.gp",
                      "set terminal pngcairo size 1100,600 noenhanced font 'sans,10'\n"
                      "set datafile missing '-'\nset grid\nset key outside right top\n",
                      &code);
    if (!pl)
        return code;
    for (size_t t = 0; t < plan->n_tau; t++)
        plot_cost_vs_cut(pl, plan, prof, pr, t);
    int tcip = found && plot_tcip(pl, plan, prof, pr);
    code = sf_plot_finish(pl);
    if (code == 0)
        sf_cli_note("plan", "plots written to %s/ (cost_vs_cut_tau*.png%s)", dir,
                    tcip ? ", tcip_sweep.png" : "");
    return code;
}

static int plan_run(int argc, char **argv)
{
    struct plan_args args;
    struct sf_err err = {{0}};
    int id = parse_args(argc, argv, &args, &err);
    if (id == SF_OPT_HELP) {
        sf_opt_help(&plan_spec, stdout);
        return SF_EXIT_OK;
    }
    if (id != SF_OPT_END)
        return sf_cli_fail("plan", SF_EINVAL, &err);
    struct plan_args *a = &args;
    struct sf_profile *prof = malloc(sizeof(*prof));
    struct sf_pricing *pr = malloc(sizeof(*pr));
    struct sf_plan plan;
    int rc, code = SF_EXIT_OK;
    if (!prof || !pr) {
        free(prof);
        free(pr);
        return sf_cli_fail("plan", SF_ENOMEM, &err);
    }
    if ((rc = sf_profile_load(prof, a->profile, &err)) != SF_OK ||
        (rc = sf_pricing_load(pr, a->pricing, &err)) != SF_OK) {
        code = sf_cli_fail("plan", rc, &err);
        goto out_free;
    }
    struct sf_trace traffic = {0};
    double *rates = NULL;
    if (a->traffic) {
        /* the traffic's epochs are the plan's SLO intervals, as replay's */
        double slo = a->o.slo_s > 0 ? a->o.slo_s : prof->slo_s;
        size_t len = strlen(a->traffic);
        int csv =
            a->traffic_csv >= 0 ? a->traffic_csv : len > 4 && !strcmp(a->traffic + len - 4, ".csv");
        rc = sf_trace_load(&traffic, a->traffic, csv,
                           a->traffic_unit ? SF_TRACE_SECOND : SF_TRACE_EPOCH, slo, 0, &err);
        if (rc == SF_OK && traffic.n_epochs > SF_PLAN_MAX_TRAFFIC_EPOCHS)
            rc = sf_err_set(&err, SF_ETOOBIG, "%s: %lld epochs, more than the %d a plan weighs",
                            a->traffic, (long long)traffic.n_epochs, SF_PLAN_MAX_TRAFFIC_EPOCHS);
        if (rc == SF_OK && !(rates = malloc(sizeof(double) * (size_t)traffic.n_epochs)))
            rc = sf_err_set(&err, SF_ENOMEM, "out of memory for the traffic");
        if (rc != SF_OK) {
            sf_trace_fini(&traffic);
            code = sf_cli_fail("plan", rc, &err);
            goto out_free;
        }
        for (int64_t e = 0; e < traffic.n_epochs; e++)
            rates[e] = traffic.count[e] / slo;
        a->o.traffic_rps = rates;
        a->o.n_traffic = (size_t)traffic.n_epochs;
    }
    rc = sf_plan_run(&plan, prof, pr, &a->o, &err);
    sf_trace_fini(&traffic);
    free(rates);
    if (rc != SF_OK && rc != SF_EINFEASIBLE) {
        sf_plan_fini(&plan);
        code = sf_cli_fail("plan", rc, &err);
        goto out_free;
    }
    int found = rc == SF_OK;
    if (a->json)
        code = print_json(&plan, prof, pr, found);
    else
        print_human(&plan, prof, pr, &a->o, a->all, found);
    if (!found)
        code = sf_cli_fail("plan", rc, &err);
    if (a->plot_dir) {
        int pc = write_plots(a->plot_dir, &plan, prof, pr, found);
        if (pc != SF_EXIT_OK)
            code = pc;
    }
    sf_plan_fini(&plan);
out_free:
    free(prof);
    free(pr);
    return code;
}

const struct sf_cli_command sf_cli_plan_command = {&plan_spec, plan_check, plan_run};
