/*
 * sim_int.h - what the simulator's files share (not a public header): a path's runtimes and
 * prices, the function container pool and billing (sim_bill.c), the per-policy state and the
 * shared per-epoch request samples (sim.c), and the clairvoyant oracle (sim_oracle.c).
 */
#ifndef SERFLOW_SIM_INT_H
#define SERFLOW_SIM_INT_H

#include <math.h>
#include <stdint.h>

#include "serflow/policy.h"
#include "serflow/sim.h"

/* Slack for comparisons of times and rates computed in floating point: a batch that ends within
 * a nanosecond of the SLO meets it, a rate within 1e-9 of a multiple of r counts as that multiple.
 */
#define SF__SIM_EPS 1e-9
/* Response-time histogram: 10 ms bins up to 10 minutes; slower answers share the last bin (their
 * exact maximum is kept separately). */
#define SF__RESP_BIN_S 0.01
#define SF__RESP_BINS  60000
/* Tail chunks of one batch: the planner's fan-out cap. */
#define SF_MAX_FANOUT_CHUNKS SF_PLAN_MAX_FANOUT

/* ---- a path's runtimes and prices (sim_bill.c) ---- */

struct sf__pathrt {
    struct sf_path path;
    int n;
    double vm_rq[SF_MAX_STAGES], vm_rb[SF_MAX_STAGES]; /* instance: per request / per batch */
    double fn_rq[SF_MAX_STAGES], fn_rb[SF_MAX_STAGES]; /* function at path memory */
    double vm_usd_per_s;
    double fn_usd_per_s, fn_gb;
    double hand_off_bytes;   /* LZ4 hidden state per survivor at the cut, on the wire */
    double faas_usd_per_req; /* expected, for MArk's cost comparison */
};

/* payload_factor: bytes on the wire per hidden-state byte (plan.h SF_PLAN_PAYLOAD_FACTOR). */
int sf__pathrt_init(struct sf__pathrt *r, const struct sf_path *p, const struct sf_profile *prof,
                    const struct sf_pricing *price, double tau, double payload_factor,
                    struct sf_err *err);

/* Requests alive at each stage among requests a..b-1 of a batch (exit stage >= i). */
static inline void sf__stage_counts(const uint8_t *exits, int a, int b, int n, int *alive)
{
    int hist[SF_MAX_STAGES] = {0};
    for (int j = a; j < b; j++)
        hist[exits[j]]++;
    int acc = 0;
    for (int i = n - 1; i >= 0; i--) {
        acc += hist[i];
        alive[i] = acc;
    }
}

/* Runtime of stages [from, to) for the alive counts: per-request time plus the per-batch part of
 * every stage some request reaches. */
static inline double sf__run_s(const double *rq, const double *rb, const int *alive, int from,
                               int to)
{
    double t = 0;
    for (int i = from; i < to; i++)
        if (alive[i] > 0)
            t += alive[i] * rq[i] + rb[i];
    return t;
}

/* Splits the survivors at the cut among requests a..b-1 (exit stage >= cut), in order, into
 * min(k, survivors) chunks of sizes differing by at most one, and fills each chunk's alive counts
 * (stages cut..n-1; the head stages are left 0). Returns the number of chunks (0: no survivor).
 * O(b - a + chunks x n). */
int sf__tail_chunks(const uint8_t *exits, int a, int b, int n, int cut, int k, int survivors,
                    int (*alive)[SF_MAX_STAGES]);

/* Rounds up to the billing step; the epsilon keeps exact multiples from rounding up. */
static inline double sf__billed_s(double run, double granularity_s)
{
    return ceil(run / granularity_s - 1e-9) * granularity_s;
}

/* ---- function containers (sim_bill.c) ---- */

struct sf__fnpool {
    double *busy_until, *last_end;
    int n, cap;
};

/* Starts an invocation at start_s running run_s; returns its latency (wait + init + run) and
 * sets *cold / *throttled; the billed duration goes to *bill_s. */
double sf__fn_invoke(struct sf__fnpool *fp, const struct sf_sim_opts *o, double start_s, double run,
                     int *cold, int *throttled, double *bill_s);

/* ---- per-policy state and the shared samples (sim.c) ---- */

struct sf__pstate {
    enum sf_policy_kind kind;
    struct sf__pathrt rt;
    struct sf_ctl_params ctl; /* the fleet's mechanics (cold starts, termination delay, caps) */
    struct sf_fleet fleet;
    struct sf__fnpool fn;
    uint64_t *resp_hist; /* request response times in SF__RESP_BIN_S bins, the last one open */
    struct sf_policy_result *res;
    struct sf_policy *pol;   /* ctl/ policy module; NULL for the oracle and the static fleet */
    const int32_t *schedule; /* oracle/static: target at an epoch, -1 = none (index = epoch) */
};

struct sf__shared {
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    const struct sf_trace *trace;
    const struct sf_sim_opts *o;
    uint8_t *exits;
    double *arrival;
    uint64_t cdf[SF_MAX_STAGES]; /* P(exit stage <= i) scaled to 2^53 */
    double slo_s;
    double accuracy;
};

/* Billing of one function invocation and of one instance's life (sim_bill.c). */
void sf__charge_fn(struct sf__shared *sh, struct sf__pstate *ps, double bill);
void sf__bill_vm(struct sf__shared *sh, struct sf__pstate *ps, const struct sf_instance *in,
                 int64_t end_epoch);

/* ---- oracle (sim_oracle.c) ---- */

struct sf__oracle_table {
    int nmax;
    double *cost; /* [epoch][n] function cost of the epoch with n free instances */
};

/* Records epoch e's function cost for every count of free instances (same pass as the
 * policies, on the same samples). */
void sf__oracle_fill(struct sf__shared *sh, const struct sf__pathrt *rt,
                     struct sf__oracle_table *tb, int64_t e, int n);
/* The dynamic program over (decision, count), and the best static count. */
int sf__run_oracle(struct sf__shared *sh, const struct sf__pathrt *rt,
                   const struct sf__oracle_table *tb, int32_t *sched_oracle, int32_t *sched_static,
                   double *bound_oracle, double *bound_static, int *static_n, struct sf_err *err);

#endif
