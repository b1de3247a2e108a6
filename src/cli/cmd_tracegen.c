/* cmd_tracegen.c - `serflow tracegen`: writes a synthetic per-second request trace (the families
 * of the scaling bench, docs/controller.md) that `serflow replay --trace-unit second` reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serflow/sim.h"

enum tracegen_opt { G_MEAN = 1, G_SECONDS, G_SEED, G_OUT };

static const struct sf_opt tracegen_opts[] = {
    {.id = G_MEAN,
     .name = "mean-rps",
     .kind = SF_OPT_NUM,
     .metavar = "R",
     .help = "mean request rate over the trace (default 16.67, the paper's planning rate)",
     .want = "req/s",
     .lo = 0,
     .hi = SF_TRACEGEN_MAX_MEAN_RPS,
     .flags = SF_OPT_LO_OPEN},
    {.id = G_SECONDS,
     .name = "seconds",
     .kind = SF_OPT_INT,
     .metavar = "N",
     .help = "length in seconds, one line each (default 21600: 6 hours)",
     .want = "a number of seconds",
     .ilo = 1,
     .ihi = SF_TRACEGEN_MAX_SECONDS},
    {.id = G_SEED,
     .name = "seed",
     .kind = SF_OPT_INT,
     .metavar = "S",
     .help = "random seed (default 1): the same seed gives the same trace",
     .want = "a seed",
     .ilo = 0,
     .ihi = 9007199254740991ll},
    {.id = G_OUT,
     .name = "out",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "where to write (default: standard output; - too)"},
    {0}};

static const struct sf_opt_cmd tracegen_spec = {
    .name = "tracegen",
    .summary = "write a synthetic request trace: diurnal, onoff, flash, ramp, steps, quiet,\n"
               "sparse or spiky",
    .synopsis = "FAMILY [options]",
    .about = "Writes per-second request counts (one per line, Poisson around a rate that follows\n"
             "the family's shape, scaled to the mean) for `serflow replay --trace-unit second`.\n"
             "Families: diurnal (a 4-hour cycle with slow noise), onoff (10 min on, 20 min at a\n"
             "tenth), flash (6x jumps about hourly, decaying over 5 minutes), ramp (a tenth to\n"
             "twice the base), steps (levels held about 40 minutes), quiet (1.5 h at 2 % between\n"
             "20-minute busy periods), and two sparse-bursty ones where most seconds are empty:\n"
             "sparse (bursts of about 30 s every 2 minutes, up to about 20x the mean) and spiky\n"
             "(spikes of about 2 s every 7 s, up to about 30x the mean). docs/controller.md has\n"
             "the details.",
    .opts = tracegen_opts,
    .epilog = "Example:\n  serflow tracegen onoff --mean-rps 30 --seed 7 --out onoff.txt\n"
              "  serflow replay --trace onoff.txt --trace-unit second --epochs 0\n",
    .operands = "FAMILY"};

struct tracegen_args {
    int family;
    double mean_rps;
    long long seconds, seed;
    const char *out;
};

/* SF_OK (with *help set when -h was given) or a status with err. */
static int parse(int argc, char **argv, struct tracegen_args *a, int *help, struct sf_err *err)
{
    *a = (struct tracegen_args){.family = -1, .mean_rps = 100.0 / 6, .seconds = 21600, .seed = 1};
    *help = 0;
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, &tracegen_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) > 0 || id == SF_OPT_OPERAND) {
        switch (id) {
        case SF_OPT_OPERAND:
            if (a->family >= 0)
                return sf_err_set(err, SF_EINVAL, "one family only, got also '%s'", v.str);
            a->family = sf_tracegen_parse(v.str);
            if (a->family < 0)
                return sf_err_set(err, SF_EINVAL,
                                  "unknown family '%s' (diurnal, onoff, flash, ramp, steps, "
                                  "quiet, sparse, spiky)",
                                  v.str);
            break;
        case G_MEAN:
            a->mean_rps = v.num;
            break;
        case G_SECONDS:
            a->seconds = v.i;
            break;
        case G_SEED:
            a->seed = v.i;
            break;
        case G_OUT:
            a->out = v.str;
            break;
        }
    }
    if (id == SF_OPT_HELP || id == SF_OPT_VERSION) { /* main.c answers --version */
        *help = 1;
        return SF_OK;
    }
    if (id != SF_OPT_END)
        return SF_EINVAL;
    if (a->family < 0)
        return sf_err_set(err, SF_EINVAL,
                          "which family? (diurnal, onoff, flash, ramp, steps, quiet, sparse, "
                          "spiky)");
    return SF_OK;
}

static int tracegen_check(int argc, char **argv, struct sf_err *err)
{
    struct tracegen_args a;
    int help;
    return parse(argc, argv, &a, &help, err);
}

static int tracegen_run(int argc, char **argv)
{
    struct tracegen_args a;
    struct sf_err err = {{0}};
    int help, rc = parse(argc, argv, &a, &help, &err);
    if (rc != SF_OK)
        return sf_cli_fail("tracegen", rc, &err);
    if (help) {
        sf_opt_help(&tracegen_spec, stdout);
        return SF_EXIT_OK;
    }
    uint32_t *counts = malloc(sizeof(uint32_t) * (size_t)a.seconds);
    if (!counts)
        return sf_cli_fail("tracegen", SF_ENOMEM, &err);
    rc = sf_tracegen(a.family, a.mean_rps, a.seconds, (uint64_t)a.seed, counts, &err);
    struct sf_outfile o;
    if (rc == SF_OK)
        rc = sf_outfile_open(&o, a.out ? a.out : "-", &err);
    if (rc == SF_OK) {
        fprintf(o.f,
                "# serflow tracegen %s --mean-rps %g --seconds %lld --seed %lld: requests "
                "per second\n",
                sf_tracegen_name(a.family), a.mean_rps, a.seconds, a.seed);
        for (long long t = 0; t < a.seconds; t++)
            fprintf(o.f, "%u\n", counts[t]);
        rc = sf_outfile_commit(&o, &err);
    }
    free(counts);
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("tracegen", rc, &err);
}

const struct sf_cli_command sf_cli_tracegen_command = {&tracegen_spec, tracegen_check,
                                                       tracegen_run};
