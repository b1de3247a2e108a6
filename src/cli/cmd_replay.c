/* cmd_replay.c - `serflow replay`: trace replay of every policy, with costs, SLO attainment,
 * per-epoch series, JSON, CSV and plots. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serflow/plan.h"
#include "serflow/sim.h"

static const char replay_usage[] =
    "usage: serflow replay [options]\n"
    "\n"
    "Replays a request trace through every serving policy with the same requests (seeded exit\n"
    "draws), AWS billing, VM cold starts and function containers, and compares cost and SLO\n"
    "attainment. The serflow policy uses the plan of `serflow plan` at the chosen tau.\n"
    "\n"
    "Trace:\n"
    "  --trace FILE          request trace (default: bundled WITS trace, data/traces/)\n"
    "  --trace-unit U        epoch | second: what one line of a count trace covers (default "
    "epoch)\n"
    "  --trace-format F      counts | csv (per-request timestamps in the first column);\n"
    "                        default: csv for *.csv files, else counts\n"
    "  --epochs N            replay the first N epochs (default 400; 0 = all)\n"
    "  --arrivals A          uniform | poisson: request times inside a trace unit (default "
    "uniform)\n"
    "Model and plan:\n"
    "  --profile FILE, --pricing FILE   as for serflow plan\n"
    "  --tau T               confidence threshold (default: the planner's choice)\n"
    "  --min-accuracy A      accuracy floor for the planner's choice of tau\n"
    "  --policy LIST         comma-separated: "
    "faas,libra,libra-orig,spock,mark,serflow,oracle,static\n"
    "                        (default: all)\n"
    "  --seed S              RNG seed for exits, arrivals and cold starts (default 1)\n"
    "Controller (SERFLOW.md section 5; defaults in docs/controller.md):\n"
    "  --alpha A --beta B    EWMA weights of the traffic monitor (0.2, 0.2)\n"
    "  --k K                 weight of sigma in the instance target (1)\n"
    "  --tcip RPS            override the planned T-CIP\n"
    "  --scale-period P      epochs between scaling decisions (25)\n"
    "  --cold-start MIN:MAX  VM cold start in epochs, uniform (18:22)\n"
    "  --terminate-delay D   epochs until a termination takes effect (2)\n"
    "  --scaling RULE        serflow's target: paper (mu + k sigma and T-CIP, default) or "
    "expected\n"
    "                        (buy an instance while its expected load exceeds T-CIP; beyond the\n"
    "                        paper, docs/controller.md)\n"
    "  --partial-batches W   instance | function: where a partial batch goes when an instance is\n"
    "                        free (instance)\n"
    "Functions:\n"
    "  --fn-cold-start-s S   cold container latency (1.0)   --fn-idle-timeout-s S (600)\n"
    "  --fn-concurrency N    container cap (1000)           --no-bill-init  do not bill cold "
    "starts\n"
    "Output:\n"
    "  --json                one JSON object: {\"policies\": [...], ...}\n"
    "  --csv FILE            per-epoch series (arrivals, ready instances, batches per policy)\n"
    "  --plot DIR            PNGs: per-epoch batches and instances per policy (paper Fig. 13),\n"
    "                        cost per policy with its split (Fig. 14)\n"
    "  --sweep P=V1,V2,...   sensitivity: one replay per value of P (k, alpha, beta, tcip,\n"
    "                        scale-period, cold-start-max, terminate-delay, tau); prints cost and\n"
    "                        batch SLO of each policy per value (with --json: one object)\n"
    "  --quiet               no progress line\n"
    "  -h, --help            this text\n"
    "\n"
    "Examples:\n"
    "  serflow replay --tau 0.7\n"
    "  serflow replay --epochs 0 --policy serflow,libra,oracle --plot out/\n"
    "  serflow replay --trace data/traces/berkeley_libra_per_second.txt --trace-unit second\n"
    "  serflow replay --sweep k=0,0.5,1,2 --policy serflow,oracle\n";

struct progress_ctx {
    int enabled, tty;
};

static void progress(void *ctx, int64_t done, int64_t total, const char *phase)
{
    struct progress_ctx *p = ctx;
    if (!p->enabled)
        return;
    int pct = (int)(100 * done / total);
    if (!p->tty && pct % 25 != 0 && done < total)
        return; /* a log file gets a line per quarter, a terminal a live counter */
    fprintf(stderr, "%sserflow replay: %s %3d%% (%lld/%lld epochs)%s", p->tty ? "\r" : "", phase,
            (int)(100 * done / total), (long long)done, (long long)total,
            p->tty && done < total ? "" : "\n");
    fflush(stderr);
}

static int parse_policies(const char *list, enum sf_policy_kind *kinds, size_t *n)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int k = sf_policy_parse(tok);
        if (k < 0) {
            fprintf(stderr,
                    "serflow replay: --policy: unknown policy '%s' (known: faas, libra, "
                    "libra-orig, spock, mark, serflow, oracle, static)\n",
                    tok);
            return -1;
        }
        for (size_t i = 0; i < *n; i++)
            if (kinds[i] == (enum sf_policy_kind)k)
                k = -1;
        if (k >= 0 && *n < SF_POL_COUNT)
            kinds[(*n)++] = (enum sf_policy_kind)k;
    }
    if (*n == 0) {
        fprintf(stderr, "serflow replay: --policy: empty list\n");
        return -1;
    }
    return 0;
}

static void describe_path(char *buf, size_t n, const struct sf_path *p, const struct sf_pricing *pr,
                          int n_stages)
{
    if (p->has_instances < 0)
        snprintf(buf, n, "(none feasible)");
    else if (!p->has_instances)
        snprintf(buf, n, "functions only, %d MB", p->fn_mem_mb);
    else if (p->cut >= n_stages)
        snprintf(buf, n, "IaaS %s + %d MB spill", pr->vm[p->vm].name, p->fn_mem_mb);
    else
        snprintf(buf, n, "hybrid %s stages 1-%d + %d MB", pr->vm[p->vm].name, p->cut, p->fn_mem_mb);
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 1.0;
}

static const struct sf_policy_result *find(const struct sf_policy_result *r, size_t n,
                                           enum sf_policy_kind k)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].kind == k)
            return &r[i];
    return NULL;
}

static void print_human(const char *trace_path, const struct sf_trace *t,
                        const struct sf_sim_opts *o, const struct sf_sim_paths *paths,
                        const struct sf_profile *prof, const struct sf_pricing *pr,
                        const struct sf_policy_result *r, size_t n)
{
    printf("serflow replay: %s, %lld epochs of %.3g s, %llu requests; tau %.2f (accuracy %.1f%%), "
           "seed %llu\n",
           trace_path, (long long)t->n_epochs, o->ctl.epoch_s, (unsigned long long)t->n_requests,
           o->tau, 100 * r[0].accuracy, (unsigned long long)o->seed);
    char a[128], b[128], c[128];
    describe_path(a, sizeof(a), &paths->serflow, pr, prof->n_stages);
    describe_path(b, sizeof(b), &paths->iaas, pr, prof->n_stages);
    describe_path(c, sizeof(c), &paths->oracle, pr, prof->n_stages);
    printf("  serflow: %s; libra/spock/mark: %s; oracle/static: %s\n\n", a, b, c);
    const struct sf_policy_result *libra = find(r, n, SF_POL_LIBRA);
    const struct sf_policy_result *oracle = find(r, n, SF_POL_ORACLE);
    printf("%-10s %10s %9s %9s %8s %8s %8s %8s %7s %9s %6s %9s %7s %6s\n", "policy", "cost_usd",
           "vm_usd", "fn_usd", "vs_libra", "vs_orcl", "slo_bat", "slo_req", "p99_s", "vm_s", "util",
           "fn_gb_s", "invoc", "launch");
    for (size_t i = 0; i < n; i++) {
        const struct sf_policy_result *x = &r[i];
        char vl[16] = "-", vo[16] = "-";
        if (libra && libra->cost_usd > 0)
            snprintf(vl, sizeof(vl), "%+.1f%%", 100 * (x->cost_usd / libra->cost_usd - 1));
        if (oracle && oracle->cost_usd > 0)
            snprintf(vo, sizeof(vo), "%+.1f%%", 100 * (x->cost_usd / oracle->cost_usd - 1));
        printf("%-10s %10.4f %9.4f %9.4f %8s %8s %7.2f%% %7.2f%% %7.2f %9.0f %5.1f%% %9.0f %7llu "
               "%6d\n",
               sf_policy_name(x->kind), x->cost_usd, x->vm_cost_usd, x->function_cost_usd, vl, vo,
               100 * ratio(x->batches_slo_ok, x->batches),
               100 * ratio(x->requests_slo_ok, x->requests), x->response_p99_s, x->vm_seconds,
               x->vm_seconds > 0 ? 100 * x->vm_busy_s / x->vm_seconds : 0.0, x->function_gb_s,
               (unsigned long long)x->invocations, x->launches);
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].kind == SF_POL_ORACLE)
            printf("\noracle: clairvoyant schedule per %d-epoch period by dynamic programming; "
                   "its lower bound (warm functions) is $%.4f",
                   o->ctl.scale_period_epochs, r[i].bound_usd);
        if (r[i].kind == SF_POL_STATIC)
            printf("\nstatic: the best fixed instance count is %d (estimate $%.4f)",
                   r[i].static_count, r[i].bound_usd);
    }
    printf("\n\nslo_bat: batches done within %.3g s of dispatch; slo_req: requests answered "
           "within %.3g s of arrival (includes the wait for the epoch boundary); p99_s: 99th "
           "percentile of that response time.\n",
           o->ctl.epoch_s, o->ctl.epoch_s);
}

static json_t *result_json(const struct sf_policy_result *x, const struct sf_pricing *pr,
                           int n_stages)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(sf_policy_name(x->kind)));
    json_object_set_new(o, "cost_usd", json_real(x->cost_usd));
    json_object_set_new(o, "vm_cost_usd", json_real(x->vm_cost_usd));
    json_object_set_new(o, "function_cost_usd", json_real(x->function_cost_usd));
    json_object_set_new(o, "fee_usd", json_real(x->fee_usd));
    json_object_set_new(o, "requests", json_integer((json_int_t)x->requests));
    json_object_set_new(o, "requests_served", json_integer((json_int_t)x->requests_served));
    json_object_set_new(o, "slo_attainment_batch", json_real(ratio(x->batches_slo_ok, x->batches)));
    json_object_set_new(o, "slo_attainment_request",
                        json_real(ratio(x->requests_slo_ok, x->requests)));
    json_object_set_new(o, "accuracy", json_real(x->accuracy));
    json_object_set_new(o, "vm_seconds", json_real(x->vm_seconds));
    json_object_set_new(o, "vm_utilization",
                        json_real(x->vm_seconds > 0 ? x->vm_busy_s / x->vm_seconds : 0));
    json_object_set_new(o, "function_gb_s", json_real(x->function_gb_s));
    json_object_set_new(o, "invocations", json_integer((json_int_t)x->invocations));
    json_object_set_new(o, "function_cold_starts", json_integer((json_int_t)x->fn_cold_starts));
    json_object_set_new(o, "function_throttled", json_integer((json_int_t)x->fn_throttled));
    json_object_set_new(o, "batches", json_integer((json_int_t)x->batches));
    json_object_set_new(o, "batches_on_instances",
                        json_integer((json_int_t)x->batches_on_instances));
    json_object_set_new(o, "batches_on_functions",
                        json_integer((json_int_t)x->batches_on_functions));
    json_object_set_new(o, "max_batch_latency_s", json_real(x->max_batch_latency_s));
    json_object_set_new(o, "response_p50_s", json_real(x->response_p50_s));
    json_object_set_new(o, "response_p99_s", json_real(x->response_p99_s));
    json_object_set_new(o, "response_max_s", json_real(x->response_max_s));
    json_object_set_new(o, "launches", json_integer(x->launches));
    json_object_set_new(o, "peak_instances", json_integer(x->peak_instances));
    const struct sf_path *p = &x->path;
    json_object_set_new(o, "pool",
                        json_string(!p->has_instances    ? "faas"
                                    : p->cut >= n_stages ? "iaas"
                                                         : "hybrid"));
    json_object_set_new(o, "vm_type",
                        p->has_instances ? json_string(pr->vm[p->vm].name) : json_null());
    json_object_set_new(o, "cut", json_integer(p->has_instances ? p->cut : 0));
    json_object_set_new(o, "function_mem_mb", json_integer(p->fn_mem_mb));
    if (x->kind == SF_POL_ORACLE || x->kind == SF_POL_STATIC)
        json_object_set_new(o, "bound_usd", json_real(x->bound_usd));
    if (x->kind == SF_POL_STATIC)
        json_object_set_new(o, "static_instances", json_integer(x->static_count));
    return o;
}

static int write_csv(const char *path, const struct sf_trace *t, const struct sf_policy_result *r,
                     size_t n)
{
    /* Written to a temporary name and renamed, so a crash never leaves half a file behind. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "serflow replay: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "epoch,arrivals");
    for (size_t i = 0; i < n; i++) {
        const char *nm = sf_policy_name(r[i].kind);
        fprintf(f, ",%s_ready,%s_batches_instances,%s_batches_functions", nm, nm, nm);
    }
    fprintf(f, "\n");
    for (int64_t e = 0; e < t->n_epochs; e++) {
        fprintf(f, "%lld,%u", (long long)(e + 1), t->count[e]);
        for (size_t i = 0; i < n; i++)
            fprintf(f, ",%d,%d,%d", r[i].series_ready[e], r[i].series_batches_inst[e],
                    r[i].series_batches_fn[e]);
        fprintf(f, "\n");
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        fprintf(stderr, "serflow replay: write error on %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int write_plots(const char *dir, const struct sf_trace *t, const struct sf_sim_opts *o,
                       const struct sf_policy_result *r, size_t n)
{
    char path[4096];
    FILE *gp = sf_cli_open_script(dir, "replay.gp", path, sizeof(path));
    if (!gp)
        return -1;
    char csv_path[4096];
    snprintf(csv_path, sizeof(csv_path), "%s/series.csv", dir);
    if (write_csv(csv_path, t, r, n) != 0) {
        fclose(gp);
        return -1;
    }
    fprintf(gp, "set terminal pngcairo size 1100,520 noenhanced font 'sans,10'\n"
                "set datafile separator ','\nset grid ytics\nset key outside right top\n"
                "set style fill solid 0.8 noborder\nset style data histograms\n"
                "set style histogram rowstacked\nset boxwidth 1.0 relative\n");
    for (size_t i = 0; i < n; i++) {
        const char *nm = sf_policy_name(r[i].kind);
        int col = 3 + 3 * (int)i;
        fprintf(gp,
                "set output '%s/epochs_%s.png'\n"
                "set title '%s: batches per %.3g s epoch on instances and functions, ready "
                "instances (tau %.2f)'\n"
                "set xlabel 'epoch (from 0)'\nset ylabel 'batches / instances'\nset xtics auto\n"
                "set xrange [-1:%lld]\n"
                "plot '%s/series.csv' using %d skip 1 title 'batches on instances' lc "
                "rgb '#1f77b4', '' using %d skip 1 title 'batches on functions' lc rgb '#d62728', "
                "'' using 0:($2/%d.0) skip 1 with lines lw 2 lc rgb '#2ca02c' title 'arrivals "
                "(batches)', '' using 0:%d skip 1 with steps lw 2 lc rgb 'black' title 'ready "
                "instances'\n",
                dir, nm, nm, o->ctl.epoch_s, o->tau, (long long)t->n_epochs, dir, col + 1, col + 2,
                o->ctl.batch_size, col);
    }
    fprintf(gp, "$cost << EOD\n");
    for (size_t i = 0; i < n; i++)
        fprintf(gp, "%s,%.6f,%.6f\n", sf_policy_name(r[i].kind), r[i].vm_cost_usd,
                r[i].function_cost_usd);
    fprintf(gp, "EOD\n");
    fprintf(gp,
            "set output '%s/cost.png'\nset title 'Total cost per policy (%lld epochs, tau "
            "%.2f)'\nset xlabel ''\nset ylabel 'USD'\nset boxwidth 0.6\n"
            "plot $cost using 2:xtic(1) title 'VMs' lc rgb '#1f77b4', '' using 3 title "
            "'functions (duration + fees)' lc rgb '#d62728'\n",
            dir, (long long)t->n_epochs, o->tau);
    fclose(gp);
    if (sf_cli_gnuplot(path) != 0)
        return -1;
    fprintf(stderr, "serflow replay: plots written to %s/ (epochs_<policy>.png, cost.png)\n", dir);
    return 0;
}

struct replay_args {
    char profile[4096], pricing[4096], trace[4096];
    int unit, csv_format; /* csv_format: -1 auto */
    long epochs;
    double tau, min_accuracy;
    struct sf_sim_opts sim;
    enum sf_policy_kind kinds[SF_POL_COUNT];
    size_t n_kinds;
    int json, quiet;
    const char *csv_out, *plot_dir;
    double tcip_override;
    const char *sweep; /* PARAM=v1,v2,... */
};

static int bad_opt(const char *opt, const char *want, const char *got)
{
    fprintf(stderr, "serflow replay: %s: expected %s, got '%s'\n", opt, want, got);
    return -1;
}

static int parse_args(int argc, char **argv, struct replay_args *a)
{
    static const struct option longopts[] = {{"trace", required_argument, NULL, 'T'},
                                             {"trace-unit", required_argument, NULL, 'U'},
                                             {"trace-format", required_argument, NULL, 'F'},
                                             {"epochs", required_argument, NULL, 'e'},
                                             {"arrivals", required_argument, NULL, 'v'},
                                             {"profile", required_argument, NULL, 'p'},
                                             {"pricing", required_argument, NULL, 'c'},
                                             {"tau", required_argument, NULL, 't'},
                                             {"min-accuracy", required_argument, NULL, 'a'},
                                             {"policy", required_argument, NULL, 'P'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"alpha", required_argument, NULL, 1},
                                             {"beta", required_argument, NULL, 2},
                                             {"k", required_argument, NULL, 3},
                                             {"tcip", required_argument, NULL, 4},
                                             {"scale-period", required_argument, NULL, 5},
                                             {"cold-start", required_argument, NULL, 6},
                                             {"terminate-delay", required_argument, NULL, 7},
                                             {"partial-batches", required_argument, NULL, 8},
                                             {"fn-cold-start-s", required_argument, NULL, 9},
                                             {"fn-idle-timeout-s", required_argument, NULL, 10},
                                             {"fn-concurrency", required_argument, NULL, 11},
                                             {"no-bill-init", no_argument, NULL, 12},
                                             {"json", no_argument, NULL, 'j'},
                                             {"csv", required_argument, NULL, 'C'},
                                             {"plot", required_argument, NULL, 'L'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"sweep", required_argument, NULL, 13},
                                             {"scaling", required_argument, NULL, 14},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double d;
        long l;
        switch (ch) {
        case 'T':
            snprintf(a->trace, sizeof(a->trace), "%s", optarg);
            break;
        case 'U':
            if (!strcmp(optarg, "epoch"))
                a->unit = SF_TRACE_EPOCH;
            else if (!strcmp(optarg, "second"))
                a->unit = SF_TRACE_SECOND;
            else
                return bad_opt("--trace-unit", "epoch or second", optarg);
            break;
        case 'F':
            if (!strcmp(optarg, "counts"))
                a->csv_format = 0;
            else if (!strcmp(optarg, "csv"))
                a->csv_format = 1;
            else
                return bad_opt("--trace-format", "counts or csv", optarg);
            break;
        case 'e':
            if (sf_cli_parse_int(optarg, 0, SF_TRACE_MAX_LINES, &l))
                return bad_opt("--epochs", "an integer >= 0", optarg);
            a->epochs = l;
            break;
        case 'v':
            if (!strcmp(optarg, "uniform"))
                a->sim.arrivals_poisson = 0;
            else if (!strcmp(optarg, "poisson"))
                a->sim.arrivals_poisson = 1;
            else
                return bad_opt("--arrivals", "uniform or poisson", optarg);
            break;
        case 'p':
            snprintf(a->profile, sizeof(a->profile), "%s", optarg);
            break;
        case 'c':
            snprintf(a->pricing, sizeof(a->pricing), "%s", optarg);
            break;
        case 't':
            if (sf_cli_parse_double(optarg, &d) || d <= 0 || d > 1)
                return bad_opt("--tau", "a threshold in (0, 1]", optarg);
            a->tau = d;
            break;
        case 'a':
            if (sf_cli_parse_double(optarg, &d) || d < 0 || d > 100)
                return bad_opt("--min-accuracy", "0..1 or a percentage", optarg);
            a->min_accuracy = d > 1 ? d / 100 : d;
            break;
        case 'P':
            if (parse_policies(optarg, a->kinds, &a->n_kinds))
                return -1;
            break;
        case 's':
            if (sf_cli_parse_int(optarg, 0, 0x7fffffffffffffffL, &l))
                return bad_opt("--seed", "a non-negative integer", optarg);
            a->sim.seed = (uint64_t)l;
            break;
        case 1:
        case 2:
            if (sf_cli_parse_double(optarg, &d) || d < 0 || d > 1)
                return bad_opt(ch == 1 ? "--alpha" : "--beta", "a weight in [0, 1]", optarg);
            *(ch == 1 ? &a->sim.ctl.alpha : &a->sim.ctl.beta) = d;
            break;
        case 3:
            if (sf_cli_parse_double(optarg, &d) || d < 0)
                return bad_opt("--k", "a number >= 0", optarg);
            a->sim.ctl.k = d;
            break;
        case 4:
            if (sf_cli_parse_double(optarg, &d) || d < 0)
                return bad_opt("--tcip", "req/s >= 0", optarg);
            a->tcip_override = d;
            break;
        case 5:
            if (sf_cli_parse_int(optarg, 1, 1000000, &l))
                return bad_opt("--scale-period", "epochs >= 1", optarg);
            a->sim.ctl.scale_period_epochs = (int)l;
            break;
        case 6: {
            long lo, hi;
            char buf[64], *colon;
            snprintf(buf, sizeof(buf), "%s", optarg);
            colon = strchr(buf, ':');
            if (colon)
                *colon = '\0';
            if (sf_cli_parse_int(buf, 0, 1000000, &lo) ||
                sf_cli_parse_int(colon ? colon + 1 : buf, 0, 1000000, &hi) || hi < lo)
                return bad_opt("--cold-start", "MIN:MAX epochs with MIN <= MAX", optarg);
            a->sim.ctl.cold_start_min_epochs = (int)lo;
            a->sim.ctl.cold_start_max_epochs = (int)hi;
            break;
        }
        case 7:
            if (sf_cli_parse_int(optarg, 0, 1000000, &l))
                return bad_opt("--terminate-delay", "epochs >= 0", optarg);
            a->sim.ctl.terminate_delay_epochs = (int)l;
            break;
        case 8:
            if (!strcmp(optarg, "instance"))
                a->sim.ctl.partial_to_instance = 1;
            else if (!strcmp(optarg, "function"))
                a->sim.ctl.partial_to_instance = 0;
            else
                return bad_opt("--partial-batches", "instance or function", optarg);
            break;
        case 9:
            if (sf_cli_parse_double(optarg, &d) || d < 0)
                return bad_opt("--fn-cold-start-s", "seconds >= 0", optarg);
            a->sim.fn_cold_start_s = d;
            break;
        case 10:
            if (sf_cli_parse_double(optarg, &d) || d < 0)
                return bad_opt("--fn-idle-timeout-s", "seconds >= 0", optarg);
            a->sim.fn_idle_timeout_s = d;
            break;
        case 11:
            if (sf_cli_parse_int(optarg, 1, 1000000, &l))
                return bad_opt("--fn-concurrency", "an integer >= 1", optarg);
            a->sim.fn_concurrency = (int)l;
            break;
        case 12:
            a->sim.fn_bill_init = 0;
            break;
        case 13:
            a->sweep = optarg;
            break;
        case 14:
            if (!strcmp(optarg, "paper"))
                a->sim.ctl.scaling_rule = SF_SCALE_PAPER;
            else if (!strcmp(optarg, "expected"))
                a->sim.ctl.scaling_rule = SF_SCALE_EXPECTED;
            else
                return bad_opt("--scaling", "paper or expected", optarg);
            break;
        case 'j':
            a->json = 1;
            break;
        case 'C':
            a->csv_out = optarg;
            break;
        case 'L':
            a->plot_dir = optarg;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            fputs(replay_usage, stdout);
            return 1;
        default:
            fprintf(stderr,
                    "serflow replay: unknown or incomplete option '%s' (see serflow replay "
                    "--help)\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "serflow replay: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static const char *const sweep_params[] = {
    "k", "alpha", "beta", "tcip", "scale-period", "cold-start-max", "terminate-delay", "tau", NULL};

/* Applies one sweep value to a copy of the options; returns -1 when out of range. */
static int sweep_apply(const char *param, double v, struct sf_sim_opts *o, struct sf_sim_paths *p)
{
    struct sf_ctl_params *c = &o->ctl;
    if (!strcmp(param, "k"))
        c->k = v;
    else if (!strcmp(param, "alpha"))
        c->alpha = v;
    else if (!strcmp(param, "beta"))
        c->beta = v;
    else if (!strcmp(param, "tcip"))
        p->serflow.tcip_rps = p->oracle.tcip_rps = v;
    else if (!strcmp(param, "scale-period"))
        c->scale_period_epochs = (int)v;
    else if (!strcmp(param, "cold-start-max")) {
        c->cold_start_max_epochs = (int)v;
        if (c->cold_start_min_epochs > c->cold_start_max_epochs)
            c->cold_start_min_epochs = c->cold_start_max_epochs;
    } else if (!strcmp(param, "terminate-delay"))
        c->terminate_delay_epochs = (int)v;
    else if (!strcmp(param, "tau"))
        o->tau = v;
    else
        return -1;
    return 0;
}

/* --sweep: one replay per value, a table (or one JSON object) of every policy's cost. */
static int run_sweep(const struct replay_args *a, const struct sf_profile *prof,
                     const struct sf_pricing *pr, const struct sf_trace *t,
                     const struct sf_plan *plan, const struct sf_sim_paths *base_paths)
{
    char param[64], list[512];
    const char *eq = strchr(a->sweep, '=');
    if (!eq || (size_t)(eq - a->sweep) >= sizeof(param)) {
        fprintf(stderr, "serflow replay: --sweep: expected PARAM=V1,V2,... got '%s'\n", a->sweep);
        return SF_EXIT_USAGE;
    }
    snprintf(param, sizeof(param), "%.*s", (int)(eq - a->sweep), a->sweep);
    snprintf(list, sizeof(list), "%s", eq + 1);
    int known = 0;
    for (const char *const *k = sweep_params; *k; k++)
        known |= !strcmp(*k, param);
    if (!known) {
        fprintf(stderr,
                "serflow replay: --sweep: unknown parameter '%s' (known: k, alpha, beta, tcip, "
                "scale-period, cold-start-max, terminate-delay, tau)\n",
                param);
        return SF_EXIT_USAGE;
    }
    double vals[64];
    size_t nv = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (nv >= SF_ARRAY_LEN(vals) || sf_cli_parse_double(tok, &vals[nv])) {
            fprintf(stderr, "serflow replay: --sweep: bad value '%s'\n", tok);
            return SF_EXIT_USAGE;
        }
        nv++;
    }
    json_t *jpoints = json_array();
    if (!a->json) {
        printf("serflow replay --sweep %s: %lld epochs, cost in USD (batch SLO attainment)\n",
               param, (long long)t->n_epochs);
        printf("%-10s", param);
        for (size_t i = 0; i < a->n_kinds; i++)
            printf(" %22s", sf_policy_name(a->kinds[i]));
        printf("\n");
    }
    int code = SF_EXIT_OK;
    for (size_t v = 0; v < nv; v++) {
        struct sf_sim_opts o = a->sim;
        struct sf_sim_paths paths = *base_paths;
        struct sf_err err = {{0}};
        struct sf_policy_result res[SF_POL_COUNT];
        int rc = sweep_apply(param, vals[v], &o, &paths);
        if (rc == 0 && !strcmp(param, "tau"))
            rc = sf_sim_paths_from_plan(plan, vals[v], &paths, &err) == SF_OK ? 0 : -1;
        if (rc == 0 &&
            sf_sim_run(prof, pr, t, &o, &paths, a->kinds, a->n_kinds, res, &err) != SF_OK)
            rc = -1;
        if (rc != 0) {
            fprintf(stderr, "serflow replay: --sweep %s=%g: %s\n", param, vals[v],
                    err.msg[0] ? err.msg : "value out of range");
            code = SF_EXIT_USAGE;
            break;
        }
        json_t *jp = json_object(), *jpol = json_array();
        json_object_set_new(jp, "value", json_real(vals[v]));
        if (!a->json)
            printf("%-10g", vals[v]);
        for (size_t i = 0; i < a->n_kinds; i++) {
            if (!a->json)
                printf(" %13.4f (%5.1f%%)", res[i].cost_usd,
                       100 * ratio(res[i].batches_slo_ok, res[i].batches));
            json_array_append_new(jpol, result_json(&res[i], pr, prof->n_stages));
        }
        if (!a->json)
            printf("\n");
        json_object_set_new(jp, "policies", jpol);
        json_array_append_new(jpoints, jp);
        sf_sim_results_fini(res, a->n_kinds);
    }
    if (a->json && code == SF_EXIT_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "sweep", json_string(param));
        json_object_set_new(o, "epochs", json_integer(t->n_epochs));
        json_object_set_new(o, "points", json_incref(jpoints));
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (text)
            puts(text);
        free(text);
        json_decref(o);
    }
    json_decref(jpoints);
    return code;
}

int sf_cmd_replay(int argc, char **argv)
{
    struct replay_args *a = calloc(1, sizeof(*a));
    struct sf_profile *prof = malloc(sizeof(*prof));
    struct sf_pricing *pr = malloc(sizeof(*pr));
    struct sf_trace trace = {0};
    struct sf_plan plan = {0};
    struct sf_policy_result results[SF_POL_COUNT];
    int code = SF_EXIT_USAGE, have_plan = 0, have_results = 0;
    if (!a || !prof || !pr) {
        fprintf(stderr, "serflow replay: out of memory\n");
        code = SF_EXIT_FAIL;
        goto out;
    }
    snprintf(a->profile, sizeof(a->profile), "%s",
             sf_cli_data_path("profiles/vgg16-sdn-cifar10.json"));
    snprintf(a->pricing, sizeof(a->pricing), "%s", sf_cli_data_path("pricing/aws-us-east-1.json"));
    snprintf(a->trace, sizeof(a->trace), "%s",
             sf_cli_data_path("traces/wits_libra_per_second.txt"));
    a->csv_format = -1;
    a->epochs = 400;
    a->tau = -1;
    a->tcip_override = -1;
    sf_sim_opts_default(&a->sim);
    for (int k = 0; k < SF_POL_COUNT; k++)
        a->kinds[a->n_kinds++] = (enum sf_policy_kind)k;
    int prc = parse_args(argc, argv, a);
    if (prc != 0) {
        code = prc > 0 ? SF_EXIT_OK : SF_EXIT_USAGE;
        goto out;
    }
    struct sf_err err = {{0}};
    if (sf_profile_load(prof, a->profile, &err) || sf_pricing_load(pr, a->pricing, &err)) {
        fprintf(stderr, "serflow replay: %s\n", err.msg);
        goto out;
    }
    /* Epochs are SLO intervals and batches are the profile's, like the planner's. */
    a->sim.ctl.epoch_s = prof->slo_s;
    a->sim.ctl.batch_size = prof->batch_size;
    a->sim.ctl.capacity_rps = prof->batch_size / prof->slo_s;
    int csv = a->csv_format >= 0
                  ? a->csv_format
                  : (strlen(a->trace) > 4 && !strcmp(a->trace + strlen(a->trace) - 4, ".csv"));
    if (sf_trace_load(&trace, a->trace, csv, (enum sf_trace_unit)a->unit, a->sim.ctl.epoch_s,
                      a->epochs, &err) != SF_OK) {
        fprintf(stderr, "serflow replay: %s\n", err.msg);
        goto out;
    }
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    po.min_accuracy = a->min_accuracy;
    int rc = sf_plan_run(&plan, prof, pr, &po, &err);
    have_plan = rc == SF_OK || rc == SF_EINFEASIBLE;
    if (rc != SF_OK) {
        fprintf(stderr, "serflow replay: %s\n", err.msg);
        code = SF_EXIT_FAIL;
        goto out;
    }
    a->sim.tau = a->tau > 0 ? a->tau : plan.best.tau;
    struct sf_sim_paths paths;
    if (sf_sim_paths_from_plan(&plan, a->sim.tau, &paths, &err) != SF_OK) {
        fprintf(stderr, "serflow replay: %s\n", err.msg);
        goto out;
    }
    if (a->tcip_override >= 0) {
        paths.serflow.tcip_rps = a->tcip_override;
        paths.oracle.tcip_rps = a->tcip_override;
    }
    /* Drop instance baselines when no IaaS configuration meets the SLO, and say so. */
    if (paths.iaas.has_instances < 0) {
        size_t w = 0;
        for (size_t i = 0; i < a->n_kinds; i++) {
            enum sf_policy_kind k = a->kinds[i];
            if (k == SF_POL_LIBRA || k == SF_POL_LIBRA_ORIG || k == SF_POL_SPOCK ||
                k == SF_POL_MARK) {
                fprintf(stderr,
                        "serflow replay: skipping %s: no SLO-feasible IaaS configuration "
                        "at tau %.2f\n",
                        sf_policy_name(k), a->sim.tau);
                continue;
            }
            a->kinds[w++] = k;
        }
        a->n_kinds = w;
    }
    if (a->sweep) {
        code = run_sweep(a, prof, pr, &trace, &plan, &paths);
        goto out;
    }
    struct progress_ctx pc = {.enabled = !a->quiet && trace.n_epochs >= 2000,
                              .tty = isatty(STDERR_FILENO)};
    a->sim.progress = progress;
    a->sim.progress_ctx = &pc;
    a->sim.record_series = a->csv_out || a->plot_dir;
    rc = sf_sim_run(prof, pr, &trace, &a->sim, &paths, a->kinds, a->n_kinds, results, &err);
    if (rc != SF_OK) {
        fprintf(stderr, "serflow replay: %s\n", err.msg);
        code = rc == SF_ENOMEM ? SF_EXIT_FAIL : SF_EXIT_USAGE;
        goto out;
    }
    have_results = 1;
    code = SF_EXIT_OK;
    if (a->json) {
        json_t *o = json_object();
        json_object_set_new(o, "trace", json_string(a->trace));
        json_object_set_new(o, "epochs", json_integer(trace.n_epochs));
        json_object_set_new(o, "epoch_s", json_real(a->sim.ctl.epoch_s));
        json_object_set_new(o, "requests", json_integer((json_int_t)trace.n_requests));
        json_object_set_new(o, "tau", json_real(a->sim.tau));
        json_object_set_new(o, "seed", json_integer((json_int_t)a->sim.seed));
        json_t *arr = json_array();
        for (size_t i = 0; i < a->n_kinds; i++)
            json_array_append_new(arr, result_json(&results[i], pr, prof->n_stages));
        json_object_set_new(o, "policies", arr);
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (text)
            puts(text);
        free(text);
        json_decref(o);
    } else {
        print_human(a->trace, &trace, &a->sim, &paths, prof, pr, results, a->n_kinds);
    }
    if (a->csv_out && write_csv(a->csv_out, &trace, results, a->n_kinds) != 0)
        code = SF_EXIT_FAIL;
    if (a->plot_dir && write_plots(a->plot_dir, &trace, &a->sim, results, a->n_kinds) != 0)
        code = SF_EXIT_FAIL;
out:
    if (have_results)
        sf_sim_results_fini(results, a->n_kinds);
    if (have_plan)
        sf_plan_fini(&plan);
    sf_trace_fini(&trace);
    free(a);
    free(prof);
    free(pr);
    return code;
}
