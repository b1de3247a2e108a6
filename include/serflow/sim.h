/*
 * sim.h - trace replay: a simulator that drives the ctl/ controller (and the
 * baseline policies of SERFLOW.md section 6) over a trace with per-request exit sampling, batch
 * runtimes from the profile, hybrid hand-off time, function cold starts / warm pool /
 * concurrency cap, and AWS billing (EC2 per second with a 60 s minimum per launch, Lambda per
 * 1 ms x GB plus the request fee). Deterministic for a given seed.
 */
#ifndef SERFLOW_SIM_H
#define SERFLOW_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/bind.h"
#include "serflow/ctl.h"
#include "serflow/limits.h"
#include "serflow/model.h"
#include "serflow/plan.h"
#include "serflow/policy.h"
#include "serflow/trace.h"

/* Largest batch the simulator accepts (its sample buffer keeps this many requests between
 * chunks). */
#define SF_SIM_MAX_BATCH 4096

/* ---- simulator ---- */

struct sf_sim_opts {
    double tau;
    uint64_t seed;
    int arrivals_poisson;     /* 0: requests evenly spaced inside their trace unit */
    double fn_cold_start_s;   /* latency of a cold function container: 1 s */
    double fn_idle_timeout_s; /* a warm container is reclaimed after: 600 s */
    int fn_concurrency;       /* concurrent containers per function: 1000 */
    int fn_bill_init;         /* bill the cold-start (init) time, as Lambda does since 2025: 1 */
    /* > 0: instances and function containers share this many cores, as the local provider's do
     * on one machine: processor sharing, every running thread progressing at min(1, host_cores /
     * threads running), so work that overlaps other work takes longer and so does the other
     * (a function call that runs longer is billed the extra time); an instance booting counts
     * as busy for one function cold start after its launch (loading the model); a function's
     * cold start is taken as measured on the host, not stretched again;
     * 0 (default): each has its own vCPUs, as in a cloud */
    double host_cores;
    double payload_factor;    /* wire bytes per hidden-state byte: SF_PLAN_PAYLOAD_FACTOR (4/3) */
    int batching;             /* SF_BATCHING_DEADLINE (default) or SF_BATCHING_EPOCH */
    struct sf_ctl_params ctl; /* shared mechanics; tcip/use_instances are set per policy */
    struct sf_baseline_params base; /* baselines (SERFLOW.md section 6, policy.h) */
    double tcip_rps;                /* >= 0: replaces the planned T-CIP of serflow's path (and the
                                       oracle's, which shares it) */
    int record_series;              /* fill the per-epoch series of each result */
    /* progress: called about every 1/100 of the work; may be NULL */
    void (*progress)(void *ctx, int64_t done, int64_t total, const char *phase);
    void *progress_ctx;
};

void sf_sim_opts_default(struct sf_sim_opts *o);

struct sf_policy_result {
    enum sf_policy_kind kind; /* registry index */
    const struct sf_policy_desc *policy;
    struct sf_path path;
    double cost_usd, vm_cost_usd, function_cost_usd, fee_usd; /* function_cost includes fees */
    uint64_t requests, requests_served, requests_slo_ok;
    uint64_t batches, batches_slo_ok, batches_on_instances, batches_on_functions;
    double accuracy;
    double vm_seconds, vm_busy_s;
    double function_gb_s;
    uint64_t invocations, fn_cold_starts, fn_throttled;
    int launches, peak_instances;
    double max_batch_latency_s;
    /* response time (arrival to answer) quantiles over all requests, 10 ms resolution */
    double response_p50_s, response_p99_s, response_max_s;
    double estimate_usd; /* oracle, static: the estimate of the program that chose the schedule
                         (warm functions, not a bound: sf_sim_report has the lower bound) */
    int static_count; /* static (and an oracle whose best schedule is the static one): its count */
    int oracle_schedule; /* oracle: which schedule was cheapest when replayed: 0 the program every
                            P epochs, 1 the static fleet, 2 the program every epoch */
    /* per-epoch series (record_series): ready instances, batches on instances / functions */
    int32_t *series_ready, *series_batches_inst, *series_batches_fn;
};

/* The bind options (bind.h) of the simulator's settings: tau, batching, mechanics, baselines,
 * its function cold start as the batcher's allowance, payload factor, T-CIP override; no margin. */
void sf_sim_bind_opts(const struct sf_sim_opts *o, struct sf_bind_opts *out);
/* Binds kinds[i] (registry indices, policy.h) from plan with the simulator's options into
 * out[i]; on failure nothing is left bound. Release with sf_sim_bindings_fini. */
int sf_sim_bind(const struct sf_plan *plan, const struct sf_profile *prof,
                const struct sf_pricing *price, const struct sf_sim_opts *o,
                const enum sf_policy_kind *kinds, size_t n, struct sf_binding *out,
                struct sf_err *err);
void sf_sim_bindings_fini(struct sf_binding *b, size_t n);

/* Replays the trace for each bound policy (made with sf_sim_bind, or sf_bind with the
 * simulator's options). results[i] corresponds to bound[i]; release with sf_sim_results_fini.
 * All policies see the same requests (the same per-request exit draws and arrival times), epoch
 * by epoch. Clairvoyant policies (needs_future) are computed from the whole trace and replayed in
 * a second pass; they must share one path. */
int sf_sim_run(const struct sf_profile *prof, const struct sf_pricing *price,
               const struct sf_trace *trace, const struct sf_sim_opts *opts,
               const struct sf_binding *bound, size_t n, struct sf_policy_result *results,
               struct sf_err *err);
void sf_sim_results_fini(struct sf_policy_result *results, size_t n);

/* What a replay reports beside each policy's result. */
struct sf_sim_report {
    /* A true lower bound: no policy on any of the paths the bound covers (those of the replayed
     * bindings and the extra ones), online or clairvoyant, pays less for the trace with the
     * simulator's mechanics (docs/controller.md states its relaxations). */
    double lower_bound_usd;
    int lower_bound_vm; /* the VM type (pricing index) whose program gives it; -1: functions
                           alone; -2: every VM type as one (a trace too large for one each) */
};

/* sf_sim_run, and with report non-NULL the lower bound over the paths of bound[] and extra[]
 * (bindings made like bound[]: the CLI passes every feasible path of the plan at tau, so that the
 * bound holds for any policy on any of them). At most SF_POLICY_MAX extra paths. */
int sf_sim_replay(const struct sf_profile *prof, const struct sf_pricing *price,
                  const struct sf_trace *trace, const struct sf_sim_opts *opts,
                  const struct sf_binding *bound, size_t n, const struct sf_binding *extra,
                  size_t n_extra, struct sf_policy_result *results, struct sf_sim_report *report,
                  struct sf_err *err);

/* sf_sim_bind, sf_sim_run, then the bindings released: a replay of kinds[] from a plan. */
int sf_sim_run_plan(const struct sf_profile *prof, const struct sf_pricing *price,
                    const struct sf_trace *trace, const struct sf_sim_opts *opts,
                    const struct sf_plan *plan, const enum sf_policy_kind *kinds, size_t n,
                    struct sf_policy_result *results, struct sf_err *err);

#endif
