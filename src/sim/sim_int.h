/*
 * sim_int.h - what the simulator's files share (not a public header): a path's runtimes and
 * prices, the function container pool and billing (sim_bill.c), the per-policy state and the
 * shared per-epoch request samples (sim.c), and the clairvoyant oracle (sim_oracle.c).
 */
#ifndef SERFLOW_SIM_INT_H
#define SERFLOW_SIM_INT_H

#include <math.h>
#include <stdint.h>

#include "serflow/batcher.h"
#include "serflow/billing.h"
#include "serflow/bind.h"
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

/* ---- function containers (sim_bill.c) ---- */

struct sf__fnpool {
    double *busy_until, *last_end;
    int n, cap;
};

/* An invocation arriving at start_s: the container it runs in (a warm one, else a cold one, else,
 * at the cap, the first to finish, after *wait_s), whether that one is cold and whether the call
 * was throttled. Then sf__fn_start with its init (0 when warm) and run times, as long as they take
 * on the host from start_s + *wait_s: marks the container busy, sets the billed duration and
 * returns the latency (wait + init + run). */
int sf__fn_pick(struct sf__fnpool *fp, const struct sf_sim_opts *o, double start_s, double *wait_s,
                int *cold, int *throttled);
double sf__fn_start(struct sf__fnpool *fp, const struct sf_sim_opts *o, int pick, double start_s,
                    double wait_s, double init_s, double run_s, double *bill_s);

/* Work on a shared host (sf_sim_opts.host_cores): a function container or an instance busy with
 * rem_s seconds of its own work left (at full speed), on `threads` threads, ending at end_s. */
struct sf__hjob {
    double rem_s, end_s;
    int threads, kind,
        idx; /* kind: 0 a container fn.busy_until[idx], 1 an instance fleet.inst[idx],
                2 an instance booting (not moved: its boot has a fixed length) */
};

/* ---- per-policy state and the shared samples (sim.c) ---- */

struct sf__pstate {
    enum sf_policy_kind kind;
    int deadline; /* deadline-aware batching (batcher.h); 0: the paper's epoch batching */
    const struct sf_binding *rt; /* the policy bound to its path (bind.h) */
    struct sf_ctl_params ctl;    /* the fleet's mechanics (cold starts, termination delay, caps) */
    struct sf_fleet fleet;
    struct sf__fnpool fn;
    struct sf__hjob *hjobs; /* host_cores > 0: scratch for the host's sharing (host_share, sim.c) */
    uint64_t *resp_hist;    /* request response times in SF__RESP_BIN_S bins, the last one open */
    struct sf_policy_result *res;
    struct sf_policy *pol;   /* ctl/ policy module; NULL for the oracle and the static fleet */
    const int32_t *schedule; /* oracle/static: target at an epoch, -1 = none (index = epoch) */
    int cap;                 /* the policy's instance cap of the current epoch, in requests */
    int64_t inst_reqs;       /* requests sent to instances since the last decision */
    uint64_t rec_bi, rec_bf; /* batch counters at the last series record */
    /* epoch batching: the current epoch's split, in global request indices */
    int64_t next_g; /* next request to route (deadline: the queue's head) */
    int64_t ep_first_g, ep_inst_end_g, ep_end_g;
    int ep_next_inst; /* fleet index to try next for an instance batch */
    double ep_now_s;  /* the epoch's routing time */
    /* deadline batching */
    struct sf_dq dq;
    struct sf__shared *sh;
};

/* The sampled requests live in one buffer, streamed: request g (a global index over the trace)
 * sits at position g - base. Each chunk of at most SF__SIM_CHUNK new requests is appended after
 * the last SF__SIM_KEEP requests of the previous one, which is all any policy still holds (a
 * queue or a pending batch is shorter than B <= SF__SIM_KEEP), so memory does not grow with the
 * busiest epoch. */
#define SF__SIM_CHUNK 65536
#define SF__SIM_KEEP  SF_SIM_MAX_BATCH

struct sf__shared {
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    const struct sf_trace *trace;
    const struct sf_sim_opts *o;
    uint8_t *exits;
    double *arrival;
    int64_t base;                /* global index of position 0 */
    int64_t end;                 /* one past the last sampled request */
    uint64_t cdf[SF_MAX_STAGES]; /* P(exit stage <= i) scaled to 2^53 */
    double slo_s;
    double accuracy;
    uint32_t slot_n[SF_POLICY_OBS_SLOTS]; /* the last sampled epoch's arrivals per slot */
};

/* Billing of one function invocation and of one instance's life (sim_bill.c). */
void sf__charge_fn(struct sf__shared *sh, struct sf__pstate *ps, double bill);
/* extra_s more seconds of a call already charged (it ran longer on a shared host): no fee */
void sf__charge_fn_extra(struct sf__pstate *ps, double extra_s);
void sf__bill_vm(struct sf__shared *sh, struct sf__pstate *ps, const struct sf_instance *in,
                 int64_t end_epoch);

/* ---- the lower bound (sim_bound.c) ---- */

/* One VM type's side of the bound. */
struct sf__bound_vm {
    int vm;                         /* pricing->vm index */
    int maxcut;                     /* deepest cut of any path on it */
    double usd_per_s;               /* its price */
    double rq_s[SF_MAX_STAGES];     /* per-request time of each stage on it */
    double kappa;                   /* most function USD saved per VM second, over its stages */
    double work_s[SF_MAX_STAGES];   /* VM seconds of a request leaving at stage x (to maxcut) */
    double save_usd[SF_MAX_STAGES]; /* function USD it saves there (stages that take time) */
    double free_usd[SF_MAX_STAGES]; /* function USD of its stages that take no VM time */
    double free_total_usd;          /* the latter over every request */
};

struct sf__bound {
    int deadline, K, N, B, nf, n_vm;
    int64_t E, cmin, rows, row;
    double T, fee;
    const uint32_t *count;              /* the trace's requests per epoch */
    double fn_stage_usd[SF_MAX_STAGES]; /* cheapest function cost of each stage per request */
    double fn_total_usd;                /* every request's cost on the cheapest functions */
    struct sf__bound_vm vm[SF_MAX_VM_TYPES];
    double *work;        /* [vm][row][slot] VM seconds arriving (deadline batching; a row per
                            epoch with requests) */
    int M;               /* epoch batching: the most instances an epoch can use */
    int64_t empty;       /* epoch batching: empty epochs not yet run through the programs */
    double *block_usd;   /* [vm][m < M]: what the epoch's m-th block of B saves (epoch batching) */
    double *dp;          /* [vm][M + 1] the programs' values, then two scratch rows */
    uint32_t *slot_hist; /* [slot][exit stage] of the epoch being sampled */
};

/* Sets up the bound over the paths of the given bindings (their VM types, deepest cuts, function
 * memories); SF_ENOMEM. */
int sf__bound_init(struct sf__bound *b, const struct sf__shared *sh,
                   const struct sf_binding *const *paths, size_t n, struct sf_err *err);
/* Requests from_g..to_g - 1 (sampled) of epoch e, whose first request is first_g. */
void sf__bound_take(struct sf__bound *b, const struct sf__shared *sh, int64_t e, int64_t first_g,
                    int64_t from_g, int64_t to_g);
/* Epoch e is complete. */
void sf__bound_epoch_end(struct sf__bound *b, int64_t e);
/* The bound in USD, and the VM type of the program that gives it (-1: functions alone). */
int sf__bound_solve(struct sf__bound *b, double *usd, int *vm_type, struct sf_err *err);
void sf__bound_fini(struct sf__bound *b);

/* ---- oracle (sim_oracle.c) ---- */

/* Deadline batching: one lane per instance count m, a queue served by m instances ready from the
 * epoch's start and warm functions (sim_oracle.c). */
struct sf__lane {
    struct sf_dq dq;
    struct sf__shared *sh;
    const struct sf_binding *rt;
    int m;
    double cost;      /* warm function cost of the epoch so far */
    int64_t resume_g; /* the first arrival this lane has not taken yet */
    double busy[SF_CTL_MAX_INSTANCES];
};

struct sf__oracle_table {
    int nmax;
    /* deadline batching: lanes[0..top] alive in the current epoch, and their batcher */
    struct sf__lane *lanes; /* nmax + 2: the last is a snapshot */
    int top;
    int64_t epoch_first_g;
    const struct sf_batcher_cfg *cfg; /* the oracle's binding's */
    double *cost; /* [epoch][n] function cost of the epoch with n free instances */
    /* the current epoch, filled batch by batch as its requests are sampled */
    int64_t next_g;                                                   /* next request to take */
    int nb;                                                           /* batches so far */
    double fsum;                                                      /* their cost on functions */
    double f[SF_CTL_MAX_INSTANCES + 1], tl[SF_CTL_MAX_INSTANCES + 1]; /* batch k: FaaS, tail */
};

/* Takes the complete batches of the epoch [first_g, end_g) sampled up to avail_g (all of them
 * when avail_g == end_g); at the epoch's end records its function cost for every count of free
 * instances (same pass as the policies, on the same samples). */
void sf__oracle_fill(struct sf__shared *sh, const struct sf_binding *rt,
                     struct sf__oracle_table *tb, int64_t e, int64_t first_g, int64_t end_g,
                     int64_t avail_g);
/* The dynamic program over (decision, count) every P epochs (its schedule all -1 and estimate NAN
 * when launches need longer than a period), and the best static count. */
int sf__run_oracle(struct sf__shared *sh, const struct sf_binding *rt,
                   const struct sf__oracle_table *tb, int32_t *sched_oracle, int32_t *sched_static,
                   double *bound_oracle, double *bound_static, int *static_n, struct sf_err *err);
/* A schedule deciding every epoch: serving counts by dynamic programming over the table (a
 * launch pays the longest cold start, a termination its delay), then at each decision the most
 * any epoch a launch made now could reach needs. sched has E + 1 entries. */
int sf__run_oracle_epochwise(struct sf__shared *sh, const struct sf_binding *rt,
                             const struct sf__oracle_table *tb, int32_t *sched, double *estimate,
                             struct sf_err *err);

#endif
