/* replay_out.h - what `serflow replay` writes (replay_out.c): the human report, each policy's
 * JSON, the per-epoch CSV series and the plots. CLI-internal. */
#ifndef SERFLOW_CLI_REPLAY_OUT_H
#define SERFLOW_CLI_REPLAY_OUT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "serflow/bind.h"
#include "serflow/sim.h"

/* The replay's progress line: every epoch on a terminal, a line per quarter in a log. */
struct progress_ctx {
    int enabled, tty;
};
/* sf_sim_opts.progress: ctx is a struct progress_ctx. */
void sf_cli_replay_progress(void *ctx, int64_t done, int64_t total, const char *phase);

/* a / b, 1 when b is 0 (nothing to attain). */
double sf_cli_replay_ratio(uint64_t a, uint64_t b);

/* The report on stdout: the paths, one row per policy, the bound and the clairvoyant notes. */
void sf_cli_replay_print_human(const char *trace_path, const struct sf_trace *t,
                               const struct sf_sim_opts *o, const struct sf_binding *bound,
                               const struct sf_profile *prof, const struct sf_pricing *pr,
                               const struct sf_policy_result *r, size_t n,
                               const struct sf_sim_report *rep);

/* One policy's result as a JSON object (a new reference). */
json_t *sf_cli_replay_result_json(const struct sf_policy_result *x, const struct sf_pricing *pr,
                                  int n_stages);

/* The per-epoch series as CSV: arrivals, then ready instances and batches per policy. */
void sf_cli_replay_write_series(FILE *f, const struct sf_trace *t, const struct sf_policy_result *r,
                                size_t n);

/* The PNGs of --plot DIR (per policy, and the cost split); an exit code. */
int sf_cli_replay_write_plots(const char *dir, const struct sf_trace *t,
                              const struct sf_sim_opts *o, const struct sf_policy_result *r,
                              const struct sf_binding *bound, size_t n, const struct sf_pricing *pr,
                              int n_stages);

#endif
