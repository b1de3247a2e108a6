/* cmd_replay.c - `serflow replay`: trace replay of every policy, with costs, SLO attainment,
 * per-epoch series, JSON, CSV and plots. */
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "serflow/plan.h"
#include "serflow/sim.h"

#include "replay_out.h"

enum replay_opt {
    R_TRACE = 1,
    R_TRACE_UNIT,
    R_TRACE_FORMAT,
    R_EPOCHS,
    R_ARRIVALS,
    R_PROFILE,
    R_PRICING,
    R_TAU,
    R_MIN_ACCURACY,
    R_POLICY,
    R_SEED,
    R_FN_INVOCATION,
    R_ALPHA,
    R_BETA,
    R_K,
    R_TCIP,
    R_SCALE_PERIOD,
    R_COLD_START,
    R_TERMINATE_DELAY,
    R_SCALING,
    R_PARTIAL,
    R_BATCHING,
    R_FN_COLD_START,
    R_FN_IDLE,
    R_FN_CONCURRENCY,
    R_NO_BILL_INIT,
    R_JSON,
    R_CSV,
    R_PLOT,
    R_SWEEP,
    R_QUIET,
    R_POOL,
    R_CUT,
    R_VM,
    R_TRAFFIC,
    R_COLD_START_MAX /* --sweep parameter only */
};

static const char *const pool_words[] = {"faas", "iaas", "hybrid", NULL};

static const char *const unit_words[] = {"epoch", "second", NULL};
static const char *const format_words[] = {"counts", "csv", NULL};
static const char *const arrival_words[] = {"uniform", "poisson", NULL};
static const char *const scaling_words[] = {"breakeven", "paper", "expected", "follow", NULL};
static const char *const partial_words[] = {"instance", "function", NULL};

static const struct sf_opt replay_opts[] = {
    {.help = "Trace:"},
    {.id = R_TRACE,
     .name = "trace",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "request trace (default: bundled WITS trace, data/traces/)"},
    {.id = R_TRACE_UNIT,
     .name = "trace-unit",
     .kind = SF_OPT_WORD,
     .metavar = "U",
     .help = "epoch | second: what one line of a count trace covers (default epoch)",
     .words = unit_words},
    {.id = R_TRACE_FORMAT,
     .name = "trace-format",
     .kind = SF_OPT_WORD,
     .metavar = "F",
     .help = "counts | csv (per-request timestamps in the first column);\ndefault: csv for *.csv "
             "files, else counts",
     .words = format_words},
    {.id = R_EPOCHS,
     .name = "epochs",
     .kind = SF_OPT_INT,
     .metavar = "N",
     .help = "replay the first N epochs (default 400; 0 = all)",
     .want = "a count of epochs",
     .ilo = 0,
     .ihi = SF_TRACE_MAX_EPOCHS},
    {.id = R_ARRIVALS,
     .name = "arrivals",
     .kind = SF_OPT_WORD,
     .metavar = "A",
     .help = "uniform | poisson: request times inside a trace unit (default uniform)",
     .words = arrival_words},
    {.help = "Model and plan:"},
    SF_CLI_OPT_PROFILE(R_PROFILE),
    SF_CLI_OPT_PRICING(R_PRICING),
    SF_CLI_OPT_TAU(R_TAU, "confidence threshold (default: the planner's choice)"),
    SF_CLI_OPT_MIN_ACCURACY(R_MIN_ACCURACY, "accuracy floor for the planner's choice of tau"),
    SF_CLI_OPT_FN_INVOCATION(R_FN_INVOCATION),
    {.id = R_POLICY,
     .name = "policy",
     .kind = SF_OPT_STR,
     .metavar = "LIST",
     .help = "comma-separated policies (default: all of them):",
     .more_help = sf_cli_help_policies},
    {.id = R_TRAFFIC,
     .name = "traffic",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "plan serflow's path against this traffic (as serflow plan --traffic;\nread like "
             "--trace, with --trace-unit and --trace-format)"},
    {.id = R_POOL,
     .name = "pool",
     .kind = SF_OPT_WORD,
     .metavar = "P",
     .help = "force serflow's path: faas, iaas, or hybrid (with --cut)",
     .words = pool_words},
    {.id = R_CUT,
     .name = "cut",
     .kind = SF_OPT_INT,
     .metavar = "C",
     .help = "the forced hybrid's cut",
     .want = "a cut",
     .ilo = 1,
     .ihi = SF_MAX_STAGES},
    {.id = R_VM,
     .name = "vm",
     .kind = SF_OPT_STR,
     .metavar = "NAME",
     .help = "the forced path's VM type (default: the cheapest)"},
    {.id = R_SEED,
     .name = "seed",
     .kind = SF_OPT_INT,
     .metavar = "S",
     .help = "RNG seed for exits, arrivals and cold starts (default 1)",
     .ilo = 0,
     .ihi = LLONG_MAX},
    {.help = "Controller (SERFLOW.md section 5; defaults in docs/controller.md):"},
    {.id = R_ALPHA,
     .name = "alpha",
     .kind = SF_OPT_NUM,
     .metavar = "A",
     .help = "EWMA weight of the mean in the traffic monitor (0.2)",
     .want = "a weight",
     .lo = 0,
     .hi = 1},
    {.id = R_BETA,
     .name = "beta",
     .kind = SF_OPT_NUM,
     .metavar = "B",
     .help = "EWMA weight of the variance (0.2)",
     .want = "a weight",
     .lo = 0,
     .hi = 1},
    {.id = R_K,
     .name = "k",
     .kind = SF_OPT_NUM,
     .metavar = "K",
     .help = "weight of sigma in the instance target of the paper rule (1)",
     .want = NULL,
     .lo = 0,
     .hi = SF_MAX_CTL_K},
    {.id = R_TCIP,
     .name = "tcip",
     .kind = SF_OPT_NUM,
     .metavar = "RPS",
     .help = "override the planned T-CIP",
     .want = "req/s",
     .lo = 0,
     .hi = SF_MAX_RATE_RPS},
    {.id = R_SCALE_PERIOD,
     .name = "scale-period",
     .kind = SF_OPT_INT,
     .metavar = "P",
     .help = "epochs between scaling decisions (25)",
     .want = "epochs",
     .ilo = 1,
     .ihi = SF_MAX_CTL_EPOCHS},
    {.id = R_COLD_START,
     .name = "cold-start",
     .kind = SF_OPT_STR,
     .metavar = "MIN:MAX",
     .help = "VM cold start in epochs, uniform (18:22); one number: fixed"},
    {.id = R_TERMINATE_DELAY,
     .name = "terminate-delay",
     .kind = SF_OPT_INT,
     .metavar = "D",
     .help = "epochs until a termination takes effect (2)",
     .want = "epochs",
     .ilo = 0,
     .ihi = SF_MAX_CTL_EPOCHS},
    {.id = R_SCALING,
     .name = "scaling",
     .kind = SF_OPT_WORD,
     .metavar = "RULE",
     .help = "serflow's rule (docs/controller.md): follow (the default: the simple\nrules - "
             "functions only, fixed fleets, breakeven, expected, paper - run\nas shadows on the "
             "arrivals; the cheapest so far is followed, with\nhysteresis), or one of them alone: "
             "breakeven (buy an instance once the\nsavings it missed pay a tenth of a launch), "
             "expected (buy while its\nexpected load exceeds T-CIP) or paper (mu + k sigma and "
             "T-CIP)",
     .words = scaling_words},
    {.id = R_PARTIAL,
     .name = "partial-batches",
     .kind = SF_OPT_WORD,
     .metavar = "W",
     .help = "instance | function: where a partial batch goes when an instance\nis free (instance)",
     .words = partial_words},
    SF_CLI_OPT_BATCHING(R_BATCHING),
    {.help = "Functions:"},
    {.id = R_FN_COLD_START,
     .name = "fn-cold-start-s",
     .kind = SF_OPT_NUM,
     .metavar = "S",
     .help = "cold container latency (1.0)",
     .want = "seconds",
     .lo = 0,
     .hi = SF_MAX_FN_COLD_START_S},
    {.id = R_FN_IDLE,
     .name = "fn-idle-timeout-s",
     .kind = SF_OPT_NUM,
     .metavar = "S",
     .help = "a warm container is reclaimed after (600)",
     .want = "seconds",
     .lo = 0,
     .hi = SF_MAX_FN_IDLE_S},
    {.id = R_FN_CONCURRENCY,
     .name = "fn-concurrency",
     .kind = SF_OPT_INT,
     .metavar = "N",
     .help = "container cap (1000)",
     .want = "a container count",
     .ilo = 1,
     .ihi = SF_MAX_FN_CONCURRENCY},
    {.id = R_NO_BILL_INIT,
     .name = "no-bill-init",
     .kind = SF_OPT_FLAG,
     .help = "do not bill cold starts"},
    {.help = "Output:"},
    {.id = R_JSON,
     .name = "json",
     .kind = SF_OPT_FLAG,
     .help = "one JSON object: {\"policies\": [...], ...}"},
    {.id = R_CSV,
     .name = "csv",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "per-epoch series (arrivals, ready instances, batches per policy)"},
    {.id = R_PLOT,
     .name = "plot",
     .kind = SF_OPT_STR,
     .metavar = "DIR",
     .help = "PNGs: per policy, arrivals (req/s) with the ready instances and\nthe batches per "
             "epoch on instances and functions (paper Fig. 13;\nmore than 500 epochs in bins), "
             "cost per policy with its split (Fig. 14)"},
    {.id = R_SWEEP,
     .name = "sweep",
     .kind = SF_OPT_STR,
     .metavar = "P=V1,V2,...",
     .help = "sensitivity: one replay per value of P (k, alpha, beta, tcip,\nscale-period, "
             "cold-start-max, terminate-delay, tau); prints cost and\nbatch SLO of each policy per "
             "value (with --json: one object)"},
    {.id = R_QUIET, .name = "quiet", .kind = SF_OPT_FLAG, .help = "no progress line"},
    {0}};

static const struct sf_opt_cmd replay_spec = {
    .name = "replay",
    .summary = "replay a request trace through serflow and the baselines (FaaS-only, LIBRA,\n"
               "Spock, MArk) and a clairvoyant oracle, with AWS billing",
    .synopsis = "[options]",
    .about = "Replays a request trace through every serving policy with the same requests "
             "(seeded exit\ndraws), AWS billing, VM cold starts and function containers, and "
             "compares cost and SLO\nattainment. The serflow policy uses the plan of `serflow "
             "plan` at the chosen tau.",
    .opts = replay_opts,
    .epilog = "Examples:\n"
              "  serflow replay --tau 0.7\n"
              "  serflow replay --epochs 0 --policy serflow,libra,oracle --plot out/\n"
              "  serflow replay --trace data/traces/berkeley_libra_per_second.txt --trace-unit "
              "second\n"
              "  serflow replay --sweep tcip=5,10,15,20 --policy serflow,oracle\n"
              "  serflow replay --scaling paper --sweep k=0,0.5,1,2   (k: the paper rule's)\n"
              "\n"
              "Exit status: 0 replayed, 1 no plan or no policy to replay, or an output failed, 2 "
              "bad usage\nor input.\n"};

/* --sweep parameters: the option of the same name, or this row for cold-start-max. */
static const char *const sweep_names[] = {
    "k", "alpha", "beta", "tcip", "scale-period", "cold-start-max", "terminate-delay", "tau", NULL};
static const struct sf_opt cold_start_max_opt = {
    R_COLD_START_MAX, "cold-start-max",        0, SF_OPT_INT, "E", NULL, "epochs",
    .ilo = 0,         .ihi = SF_MAX_CTL_EPOCHS};

struct replay_args {
    char profile_default[4096], pricing_default[4096], trace_default[4096];
    const char *profile, *pricing, *trace;
    int unit, csv_format; /* csv_format: -1 auto */
    long long epochs;
    double tau, min_accuracy;
    int fn_invoke_size; /* 0: a batch per FaaS call; 1: one request per call */
    struct sf_sim_opts sim;
    enum sf_policy_kind kinds[SF_POLICY_MAX];
    size_t n_kinds;
    int json, quiet;
    const char *csv_out, *plot_dir;
    double tcip_override;
    const struct sf_opt *sweep; /* the swept parameter, or NULL */
    int force_pool, force_cut;  /* serflow's forced path (-1: as planned) */
    unsigned knobs_set;         /* 1 << R_K etc.: controller options given explicitly */
    const char *force_vm, *traffic;
    double sweep_values[SF_CLI_MAX_SWEEP_VALUES];
    size_t n_sweep;
};

/* Parses a comma-separated policy list (duplicates are dropped). */
static int parse_policies(const char *list, struct replay_args *a, struct sf_err *err)
{
    char item[32], shown[48];
    const char *cur = list;
    int r;
    a->n_kinds = 0;
    while ((r = sf_opt_next_item(&cur, ',', item, sizeof(item))) != 0) {
        int k = r > 0 ? sf_policy_parse(item) : -1;
        if (k < 0) {
            char known[256];
            sf_str_escape(shown, sizeof(shown), r > 0 ? item : list, strlen(r > 0 ? item : list));
            return sf_err_set(err, SF_EINVAL, "--policy: unknown policy '%s' (known: %s)", shown,
                              sf_policy_names(known, sizeof(known), 0));
        }
        int dup = 0;
        for (size_t i = 0; i < a->n_kinds; i++)
            dup |= a->kinds[i] == (enum sf_policy_kind)k;
        if (!dup && a->n_kinds < SF_POLICY_MAX)
            a->kinds[a->n_kinds++] = (enum sf_policy_kind)k;
    }
    return SF_OK;
}

/* MIN:MAX or one number (both ends). */
static int parse_cold_start(const char *text, struct sf_ctl_params *c, struct sf_err *err)
{
    static const struct sf_opt end_opt = {.id = R_COLD_START,
                                          .name = "cold-start",
                                          .kind = SF_OPT_INT,
                                          .metavar = "E",
                                          .help = NULL,
                                          .want = "epochs",
                                          .ilo = 0,
                                          .ihi = SF_MAX_CTL_EPOCHS};
    char item[32];
    const char *cur = text;
    struct sf_optval lo, hi;
    if (sf_opt_next_item(&cur, ':', item, sizeof(item)) <= 0 ||
        sf_opt_value(&end_opt, item, &lo, err) != SF_OK)
        goto bad;
    hi = lo;
    if (cur && (sf_opt_next_item(&cur, ':', item, sizeof(item)) <= 0 || cur ||
                sf_opt_value(&end_opt, item, &hi, err) != SF_OK))
        goto bad;
    if (hi.i < lo.i)
        goto bad;
    c->cold_start_min_epochs = (int)lo.i;
    c->cold_start_max_epochs = (int)hi.i;
    return SF_OK;
bad : {
    char shown[48];
    sf_str_escape(shown, sizeof(shown), text, strlen(text));
    return sf_err_set(err, SF_EINVAL,
                      "--cold-start: expected MIN:MAX epochs (integers in [0, %d], MIN <= MAX) or "
                      "one number, got '%s'",
                      SF_MAX_CTL_EPOCHS, shown);
}
}

/* PARAM=V1,V2,...: each value checked as the option PARAM would check it. */
static int parse_sweep(const char *text, struct replay_args *a, struct sf_err *err)
{
    const char *eq = strchr(text, '=');
    char param[32], shown[48];
    size_t n = eq ? (size_t)(eq - text) : 0;
    if (!eq || n >= sizeof(param)) {
        sf_str_escape(shown, sizeof(shown), text, strlen(text));
        return sf_err_set(err, SF_EINVAL, "--sweep: expected PARAM=V1,V2,..., got '%s'", shown);
    }
    memcpy(param, text, n);
    param[n] = '\0';
    a->sweep = NULL;
    for (const char *const *k = sweep_names; *k && !a->sweep; k++)
        if (!strcmp(*k, param))
            a->sweep = !strcmp(param, "cold-start-max") ? &cold_start_max_opt
                                                        : sf_opt_find(&replay_spec, param);
    if (!a->sweep) {
        sf_str_escape(shown, sizeof(shown), param, n);
        return sf_err_set(err, SF_EINVAL,
                          "--sweep: unknown parameter '%s' (known: k, alpha, beta, tcip, "
                          "scale-period, cold-start-max, terminate-delay, tau)",
                          shown);
    }
    char item[64];
    const char *cur = eq + 1;
    int r;
    a->n_sweep = 0;
    while ((r = sf_opt_next_item(&cur, ',', item, sizeof(item))) != 0) {
        struct sf_optval v;
        struct sf_err sub = {{0}};
        if (a->n_sweep >= SF_CLI_MAX_SWEEP_VALUES)
            return sf_err_set(err, SF_ETOOBIG, "--sweep: more than %d values",
                              SF_CLI_MAX_SWEEP_VALUES);
        if (r < 0 || !item[0])
            return sf_err_set(err, SF_EINVAL, "--sweep %s: %s value in the list", param,
                              r < 0 ? "an overlong" : "an empty");
        if (sf_opt_value(a->sweep, item, &v, &sub) != SF_OK) /* "--NAME: expected ..." */
            return sf_err_set(err, SF_EINVAL, "--sweep %s: %s", param, sub.msg + n + 4);
        a->sweep_values[a->n_sweep++] = a->sweep->kind == SF_OPT_INT ? (double)v.i : v.num;
    }
    return SF_OK;
}

/* Fills a from argv: SF_OPT_END to run, SF_OPT_HELP, or SF_OPT_ERROR (err). */
static int parse_args(int argc, char **argv, struct replay_args *a, struct sf_err *err)
{
    memset(a, 0, sizeof(*a));
    a->profile = sf_cli_data_path("profiles/vgg16-sdn-cifar10.json", a->profile_default,
                                  sizeof(a->profile_default));
    a->pricing = sf_cli_data_path("pricing/aws-us-east-1.json", a->pricing_default,
                                  sizeof(a->pricing_default));
    a->trace = sf_cli_data_path("traces/wits_libra_per_second.txt", a->trace_default,
                                sizeof(a->trace_default));
    a->csv_format = -1;
    a->epochs = 400;
    a->tau = -1;
    a->tcip_override = -1;
    a->force_pool = a->force_cut = -1;
    sf_sim_opts_default(&a->sim);
    for (int k = 0; k < sf_policy_count(); k++)
        a->kinds[a->n_kinds++] = (enum sf_policy_kind)k;
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, &replay_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) > 0) {
        int rc = SF_OK;
        switch ((enum replay_opt)id) {
        case R_TRACE:
            a->trace = v.str;
            break;
        case R_TRACE_UNIT:
            a->unit = v.word == 1 ? SF_TRACE_SECOND : SF_TRACE_EPOCH;
            break;
        case R_TRACE_FORMAT:
            a->csv_format = v.word == 1;
            break;
        case R_EPOCHS:
            a->epochs = v.i;
            break;
        case R_ARRIVALS:
            a->sim.arrivals_poisson = v.word == 1;
            break;
        case R_PROFILE:
            a->profile = v.str;
            break;
        case R_PRICING:
            a->pricing = v.str;
            break;
        case R_TAU:
            a->tau = v.num;
            break;
        case R_MIN_ACCURACY:
            a->min_accuracy = sf_cli_accuracy(v.num);
            break;
        case R_POLICY:
            rc = parse_policies(v.str, a, err);
            break;
        case R_SEED:
            a->sim.seed = (uint64_t)v.i;
            break;
        case R_FN_INVOCATION:
            a->fn_invoke_size = v.word == 1 ? 1 : 0;
            break;
        case R_ALPHA:
            a->knobs_set |= 1u << R_ALPHA;
            a->sim.ctl.alpha = v.num;
            break;
        case R_BETA:
            a->knobs_set |= 1u << R_BETA;
            a->sim.ctl.beta = v.num;
            break;
        case R_K:
            a->knobs_set |= 1u << R_K;
            a->sim.ctl.k = v.num;
            break;
        case R_TCIP:
            a->knobs_set |= 1u << R_TCIP;
            a->tcip_override = v.num;
            break;
        case R_SCALE_PERIOD:
            a->knobs_set |= 1u << R_SCALE_PERIOD;
            a->sim.ctl.scale_period_epochs = (int)v.i;
            break;
        case R_COLD_START:
            rc = parse_cold_start(v.str, &a->sim.ctl, err);
            break;
        case R_TERMINATE_DELAY:
            a->sim.ctl.terminate_delay_epochs = (int)v.i;
            break;
        case R_SCALING:
            a->sim.ctl.scaling_rule = v.word == 1   ? SF_SCALE_PAPER
                                      : v.word == 2 ? SF_SCALE_EXPECTED
                                      : v.word == 3 ? SF_SCALE_FOLLOW
                                                    : SF_SCALE_BREAKEVEN;
            break;
        case R_PARTIAL:
            a->sim.ctl.partial_to_instance = v.word == 0;
            break;
        case R_BATCHING:
            a->sim.batching = v.word == 1 ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
            break;
        case R_FN_COLD_START:
            a->sim.fn_cold_start_s = v.num;
            break;
        case R_FN_IDLE:
            a->sim.fn_idle_timeout_s = v.num;
            break;
        case R_FN_CONCURRENCY:
            a->sim.fn_concurrency = (int)v.i;
            break;
        case R_NO_BILL_INIT:
            a->sim.fn_bill_init = 0;
            break;
        case R_JSON:
            a->json = 1;
            break;
        case R_CSV:
            a->csv_out = v.str;
            break;
        case R_PLOT:
            a->plot_dir = v.str;
            break;
        case R_SWEEP:
            rc = parse_sweep(v.str, a, err);
            break;
        case R_QUIET:
            a->quiet = 1;
            break;
        case R_POOL:
            a->force_pool = v.word; /* pool_words is in enum sf_pool order */
            break;
        case R_CUT:
            a->force_cut = (int)v.i;
            break;
        case R_VM:
            a->force_vm = v.str;
            break;
        case R_TRAFFIC:
            a->traffic = v.str;
            break;
        case R_COLD_START_MAX:
            break;
        }
        if (rc != SF_OK)
            return SF_OPT_ERROR;
    }
    if (id == SF_OPT_END && (!a->profile || !a->pricing || !a->trace)) {
        sf_err_set(err, SF_EINVAL, "the bundled data path is too long (set SERFLOW_DATA)");
        return SF_OPT_ERROR;
    }
    if (id == SF_OPT_END && a->force_pool == SF_POOL_HYBRID && a->force_cut < 0) {
        sf_err_set(err, SF_EINVAL, "--pool hybrid needs --cut C");
        return SF_OPT_ERROR;
    }
    if (id == SF_OPT_END && a->force_pool < 0 && (a->force_cut >= 0 || a->force_vm)) {
        sf_err_set(err, SF_EINVAL, "--cut and --vm choose the path --pool forces: give --pool");
        return SF_OPT_ERROR;
    }
    return id;
}

/* Every reported cost, time and rate of a result must be finite: a NaN would print as "-nan"
 * and vanish from JSON. The loaders bound their inputs, so this is a backstop that names them. */
static int check_finite(const struct sf_policy_result *r, size_t n, const struct replay_args *a,
                        struct sf_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct sf_policy_result *x = &r[i];
        double v[] = {x->cost_usd,       x->vm_cost_usd,    x->function_cost_usd,
                      x->fee_usd,        x->accuracy,       x->vm_seconds,
                      x->vm_busy_s,      x->function_gb_s,  x->response_p50_s,
                      x->response_p99_s, x->response_max_s, x->max_batch_latency_s};
        for (size_t k = 0; k < SF_ARRAY_LEN(v); k++)
            if (!isfinite(v[k]))
                return sf_err_set(err, SF_ERANGE,
                                  "policy %s: a cost or time is not finite (%g); the profile %s "
                                  "or the catalog %s holds values out of range",
                                  sf_policy_name(x->kind), v[k], a->profile, a->pricing);
    }
    return SF_OK;
}

static int replay_check(int argc, char **argv, struct sf_err *err)
{
    struct replay_args *a = malloc(sizeof(*a));
    if (!a)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    int id = parse_args(argc, argv, a, err);
    free(a);
    return id == SF_OPT_ERROR ? SF_EINVAL : SF_OK;
}

/* Applies one sweep value (already checked against the parameter's range) to copies of the
 * options and paths. */
static void sweep_apply(const struct sf_opt *param, double v, struct sf_sim_opts *o)
{
    struct sf_ctl_params *c = &o->ctl;
    switch ((enum replay_opt)param->id) {
    case R_K:
        c->k = v;
        break;
    case R_ALPHA:
        c->alpha = v;
        break;
    case R_BETA:
        c->beta = v;
        break;
    case R_TCIP:
        o->tcip_rps = v;
        break;
    case R_SCALE_PERIOD:
        c->scale_period_epochs = (int)v;
        break;
    case R_COLD_START_MAX:
        c->cold_start_max_epochs = (int)v;
        if (c->cold_start_min_epochs > c->cold_start_max_epochs)
            c->cold_start_min_epochs = c->cold_start_max_epochs;
        break;
    case R_TERMINATE_DELAY:
        c->terminate_delay_epochs = (int)v;
        break;
    case R_TAU:
        o->tau = v;
        break;
    default: /* parse_sweep admits only the parameters above */
        break;
    }
}

/* Every feasible path of the plan at tau, bound for the lower bound (sim.h). */
static int bind_plan_paths(const struct sf_sim_opts *o, const struct sf_plan *plan,
                           const struct sf_profile *prof, const struct sf_pricing *pr,
                           struct sf_binding *out, size_t *n, struct sf_err *err)
{
    struct sf_bind_opts bo;
    sf_sim_bind_opts(o, &bo);
    return sf_bind_plan_paths(plan, prof, pr, sf_policy_get(SF_POL_SERFLOW), &bo, out,
                              SF_POLICY_MAX, n, err);
}

/* The replay with its lower bound. */
static int replay_with_bound(const struct sf_profile *prof, const struct sf_pricing *pr,
                             const struct sf_trace *t, const struct sf_sim_opts *o,
                             const struct sf_plan *plan, const struct sf_binding *bound, size_t n,
                             struct sf_policy_result *res, struct sf_sim_report *rep,
                             struct sf_err *err)
{
    struct sf_binding *extra = malloc(sizeof(*extra) * SF_POLICY_MAX);
    size_t n_extra = 0;
    if (!extra)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    int rc = bind_plan_paths(o, plan, prof, pr, extra, &n_extra, err);
    if (rc == SF_OK)
        rc = sf_sim_replay(prof, pr, t, o, bound, n, extra, n_extra, res, rep, err);
    sf_sim_bindings_fini(extra, n_extra);
    free(extra);
    return rc;
}

/* --sweep: one replay per value, a table (or one JSON object) of every policy's cost. */
static int run_sweep(const struct replay_args *a, const struct sf_profile *prof,
                     const struct sf_pricing *pr, const struct sf_trace *t,
                     const struct sf_plan *plan)
{
    const char *param = a->sweep->name;
    json_t *jpoints = json_array();
    if (!a->json) {
        printf("serflow replay --sweep %s: %lld epochs, cost in USD (batch SLO attainment)\n",
               param, (long long)t->n_epochs);
        printf("%-10s", param);
        for (size_t i = 0; i < a->n_kinds; i++)
            printf(" %22s", sf_policy_name(a->kinds[i]));
        printf(" %13s\n", "lower_bound");
    }
    int code = SF_EXIT_OK;
    for (size_t v = 0; v < a->n_sweep; v++) {
        double val = a->sweep_values[v];
        struct sf_sim_opts o = a->sim;
        struct sf_err err = {{0}};
        struct sf_policy_result res[SF_POLICY_MAX];
        struct sf_binding bound[SF_POLICY_MAX];
        struct sf_sim_report rep;
        sweep_apply(a->sweep, val, &o);
        int rc = sf_sim_bind(plan, prof, pr, &o, a->kinds, a->n_kinds, bound, &err);
        if (rc == SF_OK) {
            rc = replay_with_bound(prof, pr, t, &o, plan, bound, a->n_kinds, res, &rep, &err);
            sf_sim_bindings_fini(bound, a->n_kinds);
        }
        if (rc == SF_OK && (rc = check_finite(res, a->n_kinds, a, &err)) != SF_OK)
            sf_sim_results_fini(res, a->n_kinds);
        if (rc != SF_OK) {
            sf_cli_error("replay", "--sweep %s=%g: %s", param, val, err.msg);
            code = sf_cli_exit_code(rc);
            break;
        }
        json_t *jp = json_object(), *jpol = json_array();
        json_object_set_new(jp, "value", sf_cli_json_num(val));
        if (!a->json)
            printf("%-10g", val);
        for (size_t i = 0; i < a->n_kinds; i++) {
            if (!a->json)
                printf(" %13.4f (%5.1f%%)", res[i].cost_usd,
                       100 * sf_cli_replay_ratio(res[i].batches_slo_ok, res[i].batches));
            json_array_append_new(jpol, sf_cli_replay_result_json(&res[i], pr, prof->n_stages));
        }
        if (!a->json)
            printf(" %13.4f\n", rep.lower_bound_usd);
        json_object_set_new(jp, "lower_bound_usd", sf_cli_json_num(rep.lower_bound_usd));
        json_object_set_new(jp, "policies", jpol);
        json_array_append_new(jpoints, jp);
        sf_sim_results_fini(res, a->n_kinds);
    }
    if (a->json && code == SF_EXIT_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "sweep", json_string(param));
        json_object_set_new(o, "epochs", json_integer(t->n_epochs));
        json_object_set_new(o, "points", json_incref(jpoints));
        code = sf_cli_print_json("replay", o);
        json_decref(o);
    }
    json_decref(jpoints);
    return code;
}

static const char *rule_name(int rule)
{
    return rule == SF_SCALE_PAPER      ? "paper"
           : rule == SF_SCALE_EXPECTED ? "expected"
           : rule == SF_SCALE_FOLLOW   ? "follow"
                                       : "breakeven";
}

/* Whether a controller knob (an option id) changes policy b's decisions (docs/controller.md,
 * "Knobs"): k weights sigma in the paper rule (LIBRA's, and serflow's paper and follow rules,
 * the latter through its paper candidate); alpha and beta the monitor of the paper and expected
 * rules; the scaling period those rules' and the periodic clairvoyant program's decisions; T-CIP
 * serflow's instance path. */
static int knob_used(int knob, const struct sf_binding *b)
{
    int k = sf_policy_parse(b->policy->name), rule = b->env.ctl.scaling_rule;
    int monitor = rule == SF_SCALE_PAPER || rule == SF_SCALE_EXPECTED || rule == SF_SCALE_FOLLOW;
    switch (knob) {
    case R_K:
        return k == SF_POL_LIBRA ||
               (k == SF_POL_SERFLOW && (rule == SF_SCALE_PAPER || rule == SF_SCALE_FOLLOW));
    case R_ALPHA:
    case R_BETA:
        return k == SF_POL_LIBRA || (k == SF_POL_SERFLOW && monitor);
    case R_SCALE_PERIOD:
        return k == SF_POL_LIBRA || k == SF_POL_ORACLE || (k == SF_POL_SERFLOW && monitor);
    case R_TCIP:
        return k == SF_POL_SERFLOW && b->path.has_instances;
    default:
        return 1;
    }
}

/* Knobs no replayed policy uses are refused for --sweep (every point would be the same) and
 * warned about when given; one that serflow ignores while others use it is noted. Returns
 * SF_EXIT_OK or SF_EXIT_USAGE. */
static int check_knobs(const struct replay_args *a, const struct sf_binding *bound, size_t n)
{
    static const int knobs[] = {R_K, R_ALPHA, R_BETA, R_SCALE_PERIOD, R_TCIP};
    int rule = a->sim.ctl.scaling_rule;
    for (size_t i = 0; i < SF_ARRAY_LEN(knobs); i++) {
        int knob = knobs[i], swept = a->sweep && a->sweep->id == knob;
        if (!swept && !(a->knobs_set & (1u << knob)))
            continue;
        const struct sf_opt *o = sf_opt_find(&replay_spec, knob == R_K              ? "k"
                                                           : knob == R_ALPHA        ? "alpha"
                                                           : knob == R_BETA         ? "beta"
                                                           : knob == R_SCALE_PERIOD ? "scale-period"
                                                                                    : "tcip");
        int users = 0, serflow = -1;
        for (size_t j = 0; j < n; j++) {
            users += knob_used(knob, &bound[j]);
            if (sf_policy_parse(bound[j].policy->name) == SF_POL_SERFLOW)
                serflow = knob_used(knob, &bound[j]);
        }
        if (users == 0) {
            sf_cli_error("replay",
                         "%s%s: no policy replayed here uses it (serflow's rule %s ignores it: "
                         "docs/controller.md, \"Knobs\")%s",
                         swept ? "--sweep " : "warning: --", o ? o->name : "?", rule_name(rule),
                         swept ? "; every point would be the same" : ", so it changes nothing");
            if (swept)
                return SF_EXIT_USAGE;
        } else if (serflow == 0) {
            sf_cli_note("replay", "note: serflow's rule %s ignores --%s; it changes the others",
                        rule_name(rule), o ? o->name : "?");
        } else if (serflow == 1 && rule == SF_SCALE_FOLLOW && knob != R_TCIP) {
            sf_cli_note("replay",
                        "note: --%s changes serflow's follow rule only through its candidate "
                        "rules (paper%s)",
                        o ? o->name : "?", knob == R_K ? "" : ", expected");
        }
    }
    return SF_EXIT_OK;
}

/* Binds every asked policy; a policy that needs an IaaS path when none is SLO-feasible at tau is
 * dropped with a message (the others still replay). */
static int bind_kinds(struct replay_args *a, const struct sf_plan *plan,
                      const struct sf_profile *prof, const struct sf_pricing *pr,
                      struct sf_binding *bound)
{
    struct sf_bind_opts bo;
    sf_sim_bind_opts(&a->sim, &bo);
    size_t w = 0;
    for (size_t i = 0; i < a->n_kinds; i++) {
        const struct sf_policy_desc *d = sf_policy_get(a->kinds[i]);
        struct sf_err err = {{0}};
        struct sf_bind_opts po = bo;
        if (a->kinds[i] == SF_POL_SERFLOW && a->force_pool >= 0) {
            po.force_pool = a->force_pool;
            po.force_cut = a->force_cut;
            po.force_vm = a->force_vm;
        }
        int rc = sf_bind(&bound[w], plan, prof, pr, d, &po, &err);
        if (rc == SF_EINFEASIBLE && d->path == SF_POLICY_PATH_IAAS) {
            sf_cli_error("replay", "skipping %s: no SLO-feasible IaaS configuration at tau %.2f",
                         d->name, a->sim.tau);
            continue;
        }
        if (rc != SF_OK) {
            sf_sim_bindings_fini(bound, w);
            return sf_cli_fail("replay", rc, &err);
        }
        a->kinds[w++] = a->kinds[i];
    }
    a->n_kinds = w;
    if (w == 0) {
        sf_cli_error("replay", "no policy left to replay (every one asked for needs an "
                               "SLO-feasible IaaS configuration)");
        return SF_EXIT_FAIL;
    }
    return SF_EXIT_OK;
}

/* Plans (with replay's planner options and batching), takes tau and binds every asked policy. */
static int plan_and_bind(struct replay_args *a, const struct sf_profile *prof,
                         const struct sf_pricing *pr, struct sf_plan *plan,
                         struct sf_binding *bound, int *have_plan)
{
    struct sf_err err = {{0}};
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    po.min_accuracy = a->min_accuracy;
    po.fn_invoke_size = a->fn_invoke_size;
    po.batching = a->sim.batching == SF_BATCHING_EPOCH ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
    double *rates = NULL;
    size_t n_rates = 0;
    int rc = SF_OK;
    *have_plan = 0;
    if (a->traffic) /* read like the trace: its unit and format options */
        rc = sf_cli_traffic_rates(a->traffic, a->sim.ctl.epoch_s, a->unit, a->csv_format, &rates,
                                  &n_rates, &err);
    if (rc == SF_OK) {
        po.traffic_rps = rates;
        po.n_traffic = n_rates;
        rc = sf_plan_run(plan, prof, pr, &po, &err);
        *have_plan = 1; /* sf_plan_fini after every sf_plan_run */
    }
    free(rates);
    if (rc != SF_OK)
        return sf_cli_fail("replay", rc, &err);
    a->sim.tau = a->tau > 0 ? a->tau : plan->best.tau;
    a->sim.tcip_rps = a->tcip_override;
    return bind_kinds(a, plan, prof, pr, bound);
}

/* Loads the profile and the catalog; epochs are SLO intervals and batches the profile's, as the
 * planner's. */
static int load_inputs(struct replay_args *a, struct sf_profile *prof, struct sf_pricing *pr)
{
    struct sf_err err = {{0}};
    int rc;
    if ((rc = sf_profile_load(prof, a->profile, &err)) != SF_OK ||
        (rc = sf_pricing_load(pr, a->pricing, &err)) != SF_OK)
        return sf_cli_fail("replay", rc, &err);
    a->sim.ctl.epoch_s = prof->slo_s;
    a->sim.ctl.batch_size = prof->batch_size;
    a->sim.ctl.capacity_rps = prof->batch_size / prof->slo_s;
    return SF_EXIT_OK;
}

int sf_cli_replay_bind(int argc, char **argv, struct sf_profile *prof, struct sf_pricing *pr,
                       struct sf_binding *out, size_t cap, size_t *n)
{
    struct replay_args *a = malloc(sizeof(*a));
    struct sf_binding *bound = malloc(sizeof(*bound) * SF_POLICY_MAX);
    struct sf_plan plan;
    struct sf_err err = {{0}};
    int have_plan = 0, code;
    *n = 0;
    if (!a || !bound)
        code = sf_cli_fail("replay", SF_ENOMEM, &err);
    else if (parse_args(argc, argv, a, &err) != SF_OPT_END)
        code = sf_cli_fail("replay", SF_EINVAL, &err);
    else if ((code = load_inputs(a, prof, pr)) == SF_EXIT_OK &&
             (code = plan_and_bind(a, prof, pr, &plan, bound, &have_plan)) == SF_EXIT_OK) {
        for (size_t i = 0; i < a->n_kinds; i++) {
            if (i < cap)
                out[(*n)++] = bound[i]; /* moved: the tables go with it */
            else
                sf_binding_fini(&bound[i]);
        }
    }
    if (have_plan)
        sf_plan_fini(&plan);
    free(a);
    free(bound);
    return code;
}

static int replay_run(int argc, char **argv)
{
    struct replay_args *a = malloc(sizeof(*a));
    struct sf_profile *prof = malloc(sizeof(*prof));
    struct sf_pricing *pr = malloc(sizeof(*pr));
    struct sf_trace trace = {0};
    struct sf_plan plan = {0};
    struct sf_policy_result results[SF_POLICY_MAX];
    struct sf_binding bound[SF_POLICY_MAX];
    struct sf_err err = {{0}};
    struct sf_outfile csv_file = {0};
    int code = SF_EXIT_USAGE, have_plan = 0, have_results = 0, have_bound = 0, rc;
    if (!a || !prof || !pr) {
        code = sf_cli_fail("replay", SF_ENOMEM, &err);
        goto out;
    }
    int id = parse_args(argc, argv, a, &err);
    if (id == SF_OPT_HELP) {
        sf_opt_help(&replay_spec, stdout);
        code = SF_EXIT_OK;
        goto out;
    }
    if (id != SF_OPT_END) {
        code = sf_cli_fail("replay", SF_EINVAL, &err);
        goto out;
    }
    /* an unwritable --csv fails now, not after the replay */
    if (a->csv_out && (code = sf_cli_out_open("replay", &csv_file, a->csv_out)) != SF_EXIT_OK)
        goto out;
    if ((code = load_inputs(a, prof, pr)) != SF_EXIT_OK)
        goto out;
    code = SF_EXIT_USAGE;
    int csv = a->csv_format >= 0
                  ? a->csv_format
                  : (strlen(a->trace) > 4 && !strcmp(a->trace + strlen(a->trace) - 4, ".csv"));
    rc = sf_trace_load(&trace, a->trace, csv, (enum sf_trace_unit)a->unit, a->sim.ctl.epoch_s,
                       a->epochs, &err);
    if (rc != SF_OK) {
        code = sf_cli_fail("replay", rc, &err);
        goto out;
    }
    if (a->plot_dir && trace.n_epochs > SF_PLOT_MAX_EPOCHS) {
        sf_cli_error("replay",
                     "--plot: %lld epochs is more than the %d one plot draws (use --epochs)",
                     (long long)trace.n_epochs, SF_PLOT_MAX_EPOCHS);
        code = SF_EXIT_USAGE;
        goto out;
    }
    rc = plan_and_bind(a, prof, pr, &plan, bound, &have_plan);
    if (rc != SF_EXIT_OK) {
        code = rc;
        goto out;
    }
    have_bound = 1;
    if ((code = check_knobs(a, bound, a->n_kinds)) != SF_EXIT_OK)
        goto out;
    if (a->sweep) {
        code = run_sweep(a, prof, pr, &trace, &plan);
        goto out;
    }
    struct progress_ctx pc = {.enabled = !a->quiet && trace.n_epochs >= 2000,
                              .tty = isatty(STDERR_FILENO)};
    a->sim.progress = sf_cli_replay_progress;
    a->sim.progress_ctx = &pc;
    a->sim.record_series = a->csv_out || a->plot_dir;
    struct sf_sim_report rep;
    rc =
        replay_with_bound(prof, pr, &trace, &a->sim, &plan, bound, a->n_kinds, results, &rep, &err);
    if (rc != SF_OK) {
        code = sf_cli_fail("replay", rc, &err);
        goto out;
    }
    have_results = 1;
    if ((rc = check_finite(results, a->n_kinds, a, &err)) != SF_OK) {
        code = sf_cli_fail("replay", rc, &err);
        goto out;
    }
    code = SF_EXIT_OK;
    if (a->json) {
        json_t *o = json_object();
        json_object_set_new(o, "trace", sf_cli_json_text(a->trace));
        json_object_set_new(o, "epochs", json_integer(trace.n_epochs));
        json_object_set_new(o, "epoch_s", sf_cli_json_num(a->sim.ctl.epoch_s));
        json_object_set_new(o, "requests", json_integer((json_int_t)trace.n_requests));
        json_object_set_new(o, "tau", sf_cli_json_num(a->sim.tau));
        json_object_set_new(o, "seed", json_integer((json_int_t)a->sim.seed));
        json_object_set_new(
            o, "batching",
            json_string(a->sim.batching == SF_BATCHING_EPOCH ? "epoch" : "deadline"));
        json_object_set_new(o, "lower_bound_usd", sf_cli_json_num(rep.lower_bound_usd));
        json_t *arr = json_array();
        for (size_t i = 0; i < a->n_kinds; i++)
            json_array_append_new(arr, sf_cli_replay_result_json(&results[i], pr, prof->n_stages));
        json_object_set_new(o, "policies", arr);
        code = sf_cli_print_json("replay", o);
        json_decref(o);
    } else {
        sf_cli_replay_print_human(a->trace, &trace, &a->sim, bound, prof, pr, results, a->n_kinds,
                                  &rep);
    }
    if (a->csv_out) {
        sf_cli_replay_write_series(csv_file.f, &trace, results, a->n_kinds);
        int cc = sf_cli_out_commit("replay", &csv_file);
        if (cc != SF_EXIT_OK)
            code = cc;
    }
    if (a->plot_dir) {
        int plc = sf_cli_replay_write_plots(a->plot_dir, &trace, &a->sim, results, bound,
                                            a->n_kinds, pr, prof->n_stages);
        if (plc != SF_EXIT_OK)
            code = plc;
    }
out:
    sf_outfile_abort(&csv_file);
    if (have_results)
        sf_sim_results_fini(results, a->n_kinds);
    if (have_bound)
        sf_sim_bindings_fini(bound, a->n_kinds);
    if (have_plan)
        sf_plan_fini(&plan);
    sf_trace_fini(&trace);
    free(a);
    free(prof);
    free(pr);
    return code;
}

const struct sf_cli_command sf_cli_replay_command = {&replay_spec, replay_check, replay_run};
