/* replay_out.c - what `serflow replay` writes: the human report, the JSON of each policy, the
 * per-epoch CSV series and the plots (split from cmd_replay.c, which parses, plans, binds and
 * runs). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "replay_out.h"
#include "serflow/plan.h"
#include "serflow/sim.h"

void sf_cli_replay_progress(void *ctx, int64_t done, int64_t total, const char *phase)
{
    struct progress_ctx *p = ctx;
    if (!p->enabled)
        return;
    int pct = (int)(100 * done / total);
    if (!p->tty && pct % 25 != 0 && done < total)
        return; /* a log file gets a line per quarter, a terminal a live counter */
    sf_cli_progress("replay", p->tty, done == total, "%s %3d%% (%lld/%lld epochs)", phase,
                    (int)(100 * done / total), (long long)done, (long long)total);
}

/* The policies grouped by the path they run: "  serflow: hybrid ...; libra, spock: IaaS ...". */
static void print_paths(const struct sf_binding *bound, size_t n, const struct sf_profile *prof,
                        const struct sf_pricing *pr)
{
    int done[SF_POLICY_MAX] = {0};
    const char *sep = "  ";
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        char what[128], shown[160];
        sf_path_describe(&bound[i].path, pr, prof->n_stages, what, sizeof(what));
        printf("%s%s", sep, bound[i].policy->name);
        for (size_t j = i + 1; j < n; j++)
            if (!done[j] && !memcmp(&bound[j].path, &bound[i].path, sizeof(bound[i].path))) {
                printf(", %s", bound[j].policy->name);
                done[j] = 1;
            }
        printf(": %s", sf_str_escape(shown, sizeof(shown), what, strlen(what)));
        sep = "; ";
    }
    printf("\n\n");
}

double sf_cli_replay_ratio(uint64_t a, uint64_t b)
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

static const char *oracle_schedule_name(int k)
{
    return k == 0 ? "decisions every period" : k == 1 ? "the fixed fleet" : "decisions every epoch";
}

void sf_cli_replay_print_human(const char *trace_path, const struct sf_trace *t,
                               const struct sf_sim_opts *o, const struct sf_binding *bound,
                               const struct sf_profile *prof, const struct sf_pricing *pr,
                               const struct sf_policy_result *r, size_t n,
                               const struct sf_sim_report *rep)
{
    char shown[SF_PATH_BYTES];
    printf("serflow replay: %s, %lld epochs of %.3g s, %llu requests; tau %.2f (accuracy %.1f%%), "
           "seed %llu\n",
           sf_str_escape(shown, sizeof(shown), trace_path, strlen(trace_path)),
           (long long)t->n_epochs, o->ctl.epoch_s, (unsigned long long)t->n_requests, o->tau,
           100 * r[0].accuracy, (unsigned long long)o->seed);
    print_paths(bound, n, prof, pr);
    const struct sf_policy_result *libra = find(r, n, SF_POL_LIBRA);
    const struct sf_policy_result *oracle = find(r, n, SF_POL_ORACLE);
    printf("%-10s %10s %9s %9s %8s %8s %8s %8s %8s %7s %9s %6s %9s %7s %6s\n", "policy", "cost_usd",
           "vm_usd", "fn_usd", "vs_libra", "vs_orcl", "vs_bound", "slo_bat", "slo_req", "p99_s",
           "vm_s", "util", "fn_gb_s", "invoc", "launch");
    for (size_t i = 0; i < n; i++) {
        const struct sf_policy_result *x = &r[i];
        char vl[16] = "-", vo[16] = "-", vb[16] = "-";
        if (libra && libra->cost_usd > 0)
            snprintf(vl, sizeof(vl), "%+.1f%%", 100 * (x->cost_usd / libra->cost_usd - 1));
        if (oracle && oracle->cost_usd > 0)
            snprintf(vo, sizeof(vo), "%+.1f%%", 100 * (x->cost_usd / oracle->cost_usd - 1));
        if (rep->lower_bound_usd > 0)
            snprintf(vb, sizeof(vb), "%+.1f%%", 100 * (x->cost_usd / rep->lower_bound_usd - 1));
        printf("%-10s %10.4f %9.4f %9.4f %8s %8s %8s %7.2f%% %7.2f%% %7.2f %9.0f %5.1f%% %9.0f "
               "%7llu %6d\n",
               sf_policy_name(x->kind), x->cost_usd, x->vm_cost_usd, x->function_cost_usd, vl, vo,
               vb, 100 * sf_cli_replay_ratio(x->batches_slo_ok, x->batches),
               100 * sf_cli_replay_ratio(x->requests_slo_ok, x->requests), x->response_p99_s,
               x->vm_seconds, x->vm_seconds > 0 ? 100 * x->vm_busy_s / x->vm_seconds : 0.0,
               x->function_gb_s, (unsigned long long)x->invocations, x->launches);
    }
    printf("\nlower bound: $%.4f: no policy on these paths (or any other path of the plan at tau "
           "%.2f), online or clairvoyant, pays less for this trace (%s; docs/controller.md)",
           rep->lower_bound_usd, o->tau,
           rep->lower_bound_vm >= 0    ? pr->vm[rep->lower_bound_vm].name
           : rep->lower_bound_vm == -1 ? "functions alone"
                                       : "every VM type as one");
    for (size_t i = 0; i < n; i++) {
        if (r[i].kind == SF_POL_ORACLE)
            printf("\noracle: the cheapest replay of three clairvoyant schedules (decisions every "
                   "%d epochs, every epoch, or the best fixed fleet): %s (its program's "
                   "estimate, warm functions: $%.4f)",
                   o->ctl.scale_period_epochs, oracle_schedule_name(r[i].oracle_schedule),
                   r[i].estimate_usd);
        if (r[i].kind == SF_POL_STATIC)
            printf("\nstatic: the best fixed instance count is %d (estimate $%.4f)",
                   r[i].static_count, r[i].estimate_usd);
    }
    printf("\n\nslo_bat: batches done within %.3g s of dispatch; slo_req: requests answered "
           "within %.3g s of arrival (%s); p99_s: 99th percentile of that response time.\n",
           o->ctl.epoch_s, o->ctl.epoch_s,
           o->batching == SF_BATCHING_EPOCH
               ? "epoch batching: it includes the wait for the epoch boundary"
               : "deadline batching: each batch leaves in time for its oldest request");
}

json_t *sf_cli_replay_result_json(const struct sf_policy_result *x, const struct sf_pricing *pr,
                                  int n_stages)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(sf_policy_name(x->kind)));
    json_object_set_new(o, "cost_usd", sf_cli_json_num(x->cost_usd));
    json_object_set_new(o, "vm_cost_usd", sf_cli_json_num(x->vm_cost_usd));
    json_object_set_new(o, "function_cost_usd", sf_cli_json_num(x->function_cost_usd));
    json_object_set_new(o, "fee_usd", sf_cli_json_num(x->fee_usd));
    json_object_set_new(o, "requests", json_integer((json_int_t)x->requests));
    json_object_set_new(o, "requests_served", json_integer((json_int_t)x->requests_served));
    json_object_set_new(o, "slo_attainment_batch",
                        sf_cli_json_num(sf_cli_replay_ratio(x->batches_slo_ok, x->batches)));
    json_object_set_new(o, "slo_attainment_request",
                        sf_cli_json_num(sf_cli_replay_ratio(x->requests_slo_ok, x->requests)));
    json_object_set_new(o, "accuracy", sf_cli_json_num(x->accuracy));
    json_object_set_new(o, "vm_seconds", sf_cli_json_num(x->vm_seconds));
    json_object_set_new(o, "vm_utilization",
                        sf_cli_json_num(x->vm_seconds > 0 ? x->vm_busy_s / x->vm_seconds : 0));
    json_object_set_new(o, "function_gb_s", sf_cli_json_num(x->function_gb_s));
    json_object_set_new(o, "invocations", json_integer((json_int_t)x->invocations));
    json_object_set_new(o, "function_cold_starts", json_integer((json_int_t)x->fn_cold_starts));
    json_object_set_new(o, "function_throttled", json_integer((json_int_t)x->fn_throttled));
    json_object_set_new(o, "batches", json_integer((json_int_t)x->batches));
    json_object_set_new(o, "batches_on_instances",
                        json_integer((json_int_t)x->batches_on_instances));
    json_object_set_new(o, "batches_on_functions",
                        json_integer((json_int_t)x->batches_on_functions));
    json_object_set_new(o, "max_batch_latency_s", sf_cli_json_num(x->max_batch_latency_s));
    json_object_set_new(o, "response_p50_s", sf_cli_json_num(x->response_p50_s));
    json_object_set_new(o, "response_p99_s", sf_cli_json_num(x->response_p99_s));
    json_object_set_new(o, "response_max_s", sf_cli_json_num(x->response_max_s));
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
        json_object_set_new(o, "estimate_usd", sf_cli_json_num(x->estimate_usd));
    if (x->kind == SF_POL_STATIC)
        json_object_set_new(o, "static_instances", json_integer(x->static_count));
    if (x->kind == SF_POL_ORACLE)
        json_object_set_new(o, "schedule",
                            json_string(x->oracle_schedule == 0   ? "periodic"
                                        : x->oracle_schedule == 1 ? "static"
                                                                  : "epochwise"));
    return o;
}

/* The per-epoch series as CSV: epoch, arrivals, then per policy ready instances and batches on
 * instances and on functions. */
void sf_cli_replay_write_series(FILE *f, const struct sf_trace *t, const struct sf_policy_result *r,
                                size_t n)
{
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
}

/* The per-epoch plots draw at most this many bins across the width (~760 px): a longer trace is
 * aggregated into bins of a round number of epochs (means, and the busiest epoch's arrivals). */
#define PLOT_MAX_BINS 500

/* Epochs per bin: the smallest of 1, 2, 5, 10, 20, 50, ... that gives at most PLOT_MAX_BINS. */
static int64_t plot_bin_epochs(int64_t n_epochs)
{
    static const int steps[] = {1, 2, 5};
    for (int64_t scale = 1;; scale *= 10)
        for (int k = 0; k < 3; k++)
            if ((n_epochs + steps[k] * scale - 1) / (steps[k] * scale) <= PLOT_MAX_BINS)
                return steps[k] * scale;
}

/* "100 epochs = 10 min" */
static void describe_span(int64_t epochs, double epoch_s, char *buf, size_t size)
{
    double sec = (double)epochs * epoch_s;
    if (sec >= 3600)
        snprintf(buf, size, "%lld epochs = %.3g h", (long long)epochs, sec / 3600);
    else if (sec >= 60)
        snprintf(buf, size, "%lld epochs = %.3g min", (long long)epochs, sec / 60);
    else
        snprintf(buf, size, "%lld epochs = %.3g s", (long long)epochs, sec);
}

/* What the per-epoch series hold over the whole trace, per policy. */
struct series_totals {
    int64_t ready, inst, fn;
    int ready_max;
};

/* The binned series as CSV: first and last epoch of the bin, its middle, arrivals in req/s
 * (mean, and the busiest epoch's), then per policy: ready instances (mean), batches per epoch on
 * instances and on functions (means). */
static void write_bins(FILE *f, const struct sf_trace *t, double epoch_s, int64_t bin,
                       const struct sf_policy_result *r, size_t n, struct series_totals *tot)
{
    fprintf(f, "first_epoch,last_epoch,mid_epoch,arrivals_mean_rps,arrivals_max_rps");
    for (size_t i = 0; i < n; i++) {
        const char *nm = sf_policy_name(r[i].kind);
        fprintf(f, ",%s_ready_mean,%s_batches_instances_mean,%s_batches_functions_mean", nm, nm,
                nm);
        tot[i] = (struct series_totals){0};
    }
    fprintf(f, "\n");
    for (int64_t b0 = 0; b0 < t->n_epochs; b0 += bin) {
        int64_t b1 = b0 + bin < t->n_epochs ? b0 + bin : t->n_epochs, m = b1 - b0;
        uint64_t sum = 0, mx = 0;
        for (int64_t e = b0; e < b1; e++) {
            sum += t->count[e];
            mx = t->count[e] > mx ? t->count[e] : mx;
        }
        fprintf(f, "%lld,%lld,%.1f,%.6g,%.6g", (long long)(b0 + 1), (long long)b1,
                (double)(b0 + 1 + b1) / 2, (double)sum / ((double)m * epoch_s),
                (double)mx / epoch_s);
        for (size_t i = 0; i < n; i++) {
            int64_t ready = 0, inst = 0, fn = 0;
            for (int64_t e = b0; e < b1; e++) {
                ready += r[i].series_ready[e];
                inst += r[i].series_batches_inst[e];
                fn += r[i].series_batches_fn[e];
                if (r[i].series_ready[e] > tot[i].ready_max)
                    tot[i].ready_max = r[i].series_ready[e];
            }
            tot[i].ready += ready;
            tot[i].inst += inst;
            tot[i].fn += fn;
            fprintf(f, ",%.6g,%.6g,%.6g", (double)ready / (double)m, (double)inst / (double)m,
                    (double)fn / (double)m);
        }
        fprintf(f, "\n");
    }
}

/* Per policy (paper Fig. 13), two panels on one time axis: above, the arrivals in req/s and the
 * ready instances, on a right axis scaled so that one instance sits at the req/s it serves
 * (its capacity r), so the two read against each other; below, the batches per epoch on
 * instances and on functions (stacked, in batches: their sizes differ by path). A trace longer
 * than PLOT_MAX_BINS epochs is drawn in bins (means; the arrivals also as the busiest epoch of
 * each bin), said in the axis label. A series that is zero throughout is not drawn; a note says
 * so. Then the cost per policy split into VMs and functions (Fig. 14). Returns an exit code. */
int sf_cli_replay_write_plots(const char *dir, const struct sf_trace *t,
                              const struct sf_sim_opts *o, const struct sf_policy_result *r,
                              const struct sf_binding *bound, size_t n, const struct sf_pricing *pr,
                              int n_stages)
{
    int code;
    struct sf_plot *pl =
        sf_plot_begin("replay", dir, "replay.gp",
                      "set terminal pngcairo size 1100,700 noenhanced font 'sans,10'\n"
                      "set datafile separator ','\nset grid ytics\n"
                      "set key outside right top\nset style fill solid 1.0 noborder\n",
                      &code);
    if (!pl)
        return code;
    struct sf_outfile of;
    FILE *d = sf_plot_data(pl, "series.csv", &of);
    if (d) {
        sf_cli_replay_write_series(d, t, r, n);
        sf_plot_data_done(pl, &of);
    }
    int64_t bin = plot_bin_epochs(t->n_epochs);
    struct series_totals tot[SF_POLICY_MAX];
    d = pl->failed ? NULL : sf_plot_data(pl, "bins.csv", &of);
    if (d) {
        write_bins(d, t, o->ctl.epoch_s, bin, r, n, tot);
        sf_plot_data_done(pl, &of);
    }
    char span[64], xlabel[256];
    describe_span(bin, o->ctl.epoch_s, span, sizeof(span));
    if (bin > 1)
        snprintf(xlabel, sizeof(xlabel),
                 "epoch (%.3g s each); %lld epochs drawn as %lld bins of %s: means per bin",
                 o->ctl.epoch_s, (long long)t->n_epochs, (long long)((t->n_epochs + bin - 1) / bin),
                 span);
    else
        snprintf(xlabel, sizeof(xlabel), "epoch (%.3g s each)", o->ctl.epoch_s);
    FILE *gp = pl->gp;
    for (size_t i = 0; i < n && !pl->failed; i++) {
        const char *nm = sf_policy_name(r[i].kind);
        int ready = 6 + 3 * (int)i, inst = ready + 1, fn = ready + 2;
        double cap = bound[i].env.ctl.capacity_rps;
        int has_inst = r[i].path.has_instances && cap > 0 && isfinite(cap);
        char png[SF_PLOT_NAME_MAX], path[128];
        sf_path_describe(&r[i].path, pr, n_stages, path, sizeof(path));
        snprintf(png, sizeof(png), "epochs_%s.png", nm);
        sf_plot_new(pl, png);
        /* both panels share the x axis and its margins */
        fprintf(gp, "set multiplot title ");
        sf_plot_textf(pl, "%s (%s), tau %.2f: %lld epochs of %.3g s", nm, path, o->tau,
                      (long long)t->n_epochs, o->ctl.epoch_s);
        fprintf(gp,
                "\nset lmargin at screen 0.08\nset rmargin at screen 0.66\n"
                "set xrange [0.5:%lld.5]\nset yrange [0:*]\nset offsets 0, 0, graph 0.08, 0\n"
                "set boxwidth %lld absolute\n",
                (long long)t->n_epochs, (long long)bin);

        /* top: arrivals and the ready instances, in req/s */
        fprintf(gp, "set tmargin at screen 0.92\nset bmargin at screen 0.55\nset format x ''\n"
                    "set ylabel 'requests per second'\n"
                    "set key at screen 0.75, screen 0.92 left top Left reverse\n");
        if (has_inst && tot[i].ready > 0) {
            int step = tot[i].ready_max > 8 ? (tot[i].ready_max + 7) / 8 : 1;
            fprintf(gp,
                    "set link y2 via y/%.8g inverse y*%.8g\nset y2tics %d\nset ytics nomirror\n"
                    "set y2label ",
                    cap, cap, step);
            sf_plot_textf(pl, "ready instances (one serves r = %.3g req/s)", cap);
            fputc('\n', gp);
        } else {
            fprintf(gp, "set label 1 ");
            sf_plot_str(pl, has_inst ? "ready instances: 0 throughout (none launched)"
                                     : "no instances on this path: functions only");
            fprintf(gp, " at graph 0.02, graph 0.92 front\n");
        }
        /* drawn under the mean: the busiest epoch of each bin, then the instances */
        const char *sep = "plot ";
        if (bin > 1) {
            fprintf(gp, "%s'bins.csv' skip 1 using 3:5 with lines lw 1 lc rgb '#98df8a' title ",
                    sep);
            sf_plot_str(pl, "arrivals, busiest epoch");
            sep = ", ";
        }
        if (has_inst && tot[i].ready > 0) {
            fprintf(
                gp,
                "%s'bins.csv' skip 1 using 3:($%d*%.8g) with histeps lw 2 lc rgb 'black' title ",
                sep, ready, cap);
            sf_plot_str(pl,
                        bin > 1 ? "ready instances, mean (right)" : "ready instances (right axis)");
            sep = ", ";
        }
        fprintf(gp, "%s'bins.csv' skip 1 using 3:4 with lines lw 1.5 lc rgb '#2ca02c' title ", sep);
        sf_plot_str(pl, bin > 1 ? "arrivals, mean" : "arrivals");
        fprintf(gp,
                "\nunset label 1\nunset link y2\nunset y2tics\nunset y2label\nset ytics mirror\n");

        /* bottom: where the batches ran, in batches per epoch */
        fprintf(gp, "set tmargin at screen 0.50\nset bmargin at screen 0.10\nset format x '%%g'\n"
                    "set ylabel 'batches per epoch'\nset key at screen 0.75, screen 0.50 left top "
                    "Left reverse\n"
                    "set xlabel ");
        sf_plot_str(pl, xlabel);
        fputc('\n', gp);
        if (tot[i].inst == 0 || tot[i].fn == 0) {
            fprintf(gp, "set label 2 ");
            sf_plot_str(pl, tot[i].inst == 0 && tot[i].fn == 0 ? "no batches"
                            : tot[i].inst == 0                 ? "no batch ran on an instance"
                                                               : "no batch ran on a function");
            fprintf(gp, " at graph 0.02, graph 0.92 front\n");
        }
        sep = "plot ";
        if (tot[i].fn > 0) {
            fprintf(gp,
                    "%s'bins.csv' skip 1 using 3:($%d+$%d) with boxes fs solid 1.0 border lc rgb "
                    "'#d62728' lc rgb '#d62728' title ",
                    sep, inst, fn);
            sf_plot_str(pl, "batches on functions");
            sep = ", ";
        }
        if (tot[i].inst > 0) {
            fprintf(gp,
                    "%s'bins.csv' skip 1 using 3:%d with boxes fs solid 1.0 border lc rgb "
                    "'#1f77b4' lc rgb '#1f77b4' title ",
                    sep, inst);
            sf_plot_str(pl, "batches on instances");
            sep = ", ";
        }
        if (tot[i].inst == 0 && tot[i].fn == 0)
            fprintf(gp, "plot NaN notitle");
        fprintf(gp, "\nunset multiplot\n");
    }
    d = pl->failed ? NULL : sf_plot_data(pl, "cost.dat", &of);
    if (d) {
        fprintf(d, "# policy index, VM USD, function USD (duration + fees)\n");
        for (size_t i = 0; i < n; i++)
            fprintf(d, "%zu,%.8g,%.8g\n", i, r[i].vm_cost_usd, r[i].function_cost_usd);
        if (sf_plot_data_done(pl, &of) == SF_OK) {
            sf_plot_new(pl, "cost.png");
            fprintf(gp, "set title ");
            sf_plot_textf(pl, "Total cost per policy (%lld epochs of %.3g s, tau %.2f)",
                          (long long)t->n_epochs, o->ctl.epoch_s, o->tau);
            fprintf(gp,
                    "\nset ylabel 'USD'\nset xrange [-0.6:%zu.6]\nset yrange [0:*]\n"
                    "set boxwidth 0.6 absolute\nset xtics (",
                    n - 1);
            for (size_t i = 0; i < n; i++) {
                fprintf(gp, "%s", i ? ", " : "");
                sf_plot_str(pl, sf_policy_name(r[i].kind));
                fprintf(gp, " %zu", i);
            }
            fprintf(gp, ")\nplot 'cost.dat' using 1:($2+$3) with boxes lc rgb '#d62728' "
                        "title 'functions (duration + fees)', "
                        "'' using 1:2 with boxes lc rgb '#1f77b4' title 'VMs', "
                        "'' using 1:($2+$3):(sprintf('%%.4f', $2+$3)) with labels offset 0,0.8 "
                        "notitle\n");
        }
    }
    code = sf_plot_finish(pl);
    if (code == 0)
        sf_cli_note("replay", "plots written to %s/ (epochs_<policy>.png, cost.png)", dir);
    return code;
}
