/*
 * plan.h - the offline planner: cost model (SERFLOW.md eq. 1-4), T-CIP and S-CIP, and the
 * SLO-aware (Alg. 1) and sparsity-aware (Alg. 2) configurators.
 *
 * All money is USD, all rates requests per second, all times seconds. Pure computation: no I/O.
 */
#ifndef SERFLOW_PLAN_H
#define SERFLOW_PLAN_H

#include <stddef.h>

#include "serflow/model.h"

/* ---- cost model ---- */

/* One priced configuration: stages 1..cut on a long-lived instance (VM), stages cut+1..N on a
 * function; cut = 0 is FaaS-only, cut = N is IaaS-only. The expected function work per request
 * entering the system is fn_work_s[i] = s_i(tau) * T_{i,m} (+ the per-batch part / B). */
struct sf_costcfg {
    int n_stages;
    int cut;
    double capacity_rps; /* r: requests/s one instance sustains within the SLO */
    int batch_size;      /* B: one function invocation per batch */
    double vm_usd_per_s; /* p_v */
    double fn_usd_per_s; /* p_m */
    double fn_fee_usd;   /* per invocation */
    int tail_fanout;     /* k: invocations per batch tail (hybrid); 1 otherwise */
    int fn_invoke_size;  /* requests per FaaS (full-model) invocation; 0: batch_size */
    double fn_work_s[SF_MAX_STAGES];
    double fn_batch_s[SF_MAX_STAGES]; /* per-invocation part of stage i (0 when none reaches it) */
};

/* USD per request served fully on functions (eq. 3 divided by the rate, plus the fee / B). */
double sf_cost_faas_usd_per_req(const struct sf_costcfg *c);
/* USD per request for the function tail of instance-served requests (stages cut+1..N) run as
 * tail_fanout parallel invocations per batch: the same GB-s, k request fees, and each call's
 * per-invocation time. */
double sf_cost_tail_usd_per_req(const struct sf_costcfg *c);
/* FaaS-only cost per second at rate_rps (eq. 1 and 3, with invocation fees). */
double sf_cost_faas_usd_per_s(const struct sf_costcfg *c, double rate_rps);
/* T-CIP in req/s: residual rate above which one more instance is cheaper than FaaS. Closed form
 * p_v / (p_m * sum_{i<=cut} s_i T_{i,m}) (fees cancel when the tail is invoked). Returns
 * INFINITY when an instance never pays off (cut == 0 or no head work). */
double sf_tcip_rps(const struct sf_costcfg *c);

/* Cost per second at rate_rps with q = floor(rate/r) instances, one more when the residual
 * exceeds T-CIP, and the rest on FaaS (eq. 2 for cut = N, eq. 4 for 0 < cut < N, eq. 3 for
 * cut = 0). The split is returned through the optional out-parameters. */
struct sf_cost_split {
    double vm_usd_per_s;
    double fn_usd_per_s;
    double instances; /* q + [res > T-CIP] */
    double rate_on_instances_rps;
    double rate_on_faas_rps;
};
double sf_cost_usd_per_s(const struct sf_costcfg *c, double rate_rps, struct sf_cost_split *split);

/* Instance cost and FaaS cost of a residual rate res in [0, r] (the T-CIP sweep, paper Fig. 11). */
double sf_cost_instance_residual_usd_per_s(const struct sf_costcfg *c, double res_rps);

/* ---- function runtime model ---- */

/* Effective vCPUs of a function at mem_mb: mem/mb_per_vcpu below one vCPU, whole vCPUs plus the
 * partial one weighted by partial_efficiency above. */
double sf_fn_effective_vcpus(int mem_mb, int mb_per_vcpu, double partial_efficiency);
/* Per-stage function runtimes at mem_mb for arch, scaled from the profiled function entry of that
 * arch with the nearest memory: T(m) = T(m0) * (vcpus(m0) / vcpus(m))^exponent. SF_ENOTFOUND when
 * the profile has no function entry for the arch. */
int sf_fn_runtime_at(const struct sf_profile *prof, const struct sf_pricing *price,
                     const char *arch, int mem_mb, double *per_request_s, double *per_batch_s);

/* ---- configurators ---- */

/* Relative cost difference below which two candidates tie; ties go to the more accurate tau,
 * then the larger SLO margin, then the faster FaaS spill. */
#define SF_PLAN_TIE_REL 1e-6

/* The pools of SERFLOW.md section 4, enum and names from one list. */
#define SF_POOL_LIST(X)                                                                            \
    X(SF_POOL_FAAS, "faas")     /* every stage on functions */                                     \
    X(SF_POOL_IAAS, "iaas")     /* every stage on a VM, the FaaS spill beside it */                \
    X(SF_POOL_HYBRID, "hybrid") /* stages 1..c on a VM, c+1..N on functions */
#define SF__ENUM_ROW(name, text) name,
enum sf_pool { SF_POOL_LIST(SF__ENUM_ROW) };
const char *sf_pool_name(enum sf_pool pool);

/* Why a candidate was rejected (SF_REJ_NONE: feasible); enum and names from one list. */
#define SF_REJECT_LIST(X)                                                                          \
    X(SF_REJ_NONE, "feasible")                                                                     \
    X(SF_REJ_SLO, "slo")               /* worst-case batch latency exceeds the SLO */              \
    X(SF_REJ_SPILL_SLO, "spill-slo")   /* the FaaS spill (whole model on a function) misses it */  \
    X(SF_REJ_PAYLOAD, "payload")       /* batch payload above the synchronous invocation limit */  \
    X(SF_REJ_ACCURACY, "accuracy")     /* tau's accuracy below the floor */                        \
    X(SF_REJ_UNPROFILED, "unprofiled") /* no runtime for this VM type in the profile */
enum sf_reject { SF_REJECT_LIST(SF__ENUM_ROW) };
#undef SF__ENUM_ROW
const char *sf_reject_name(enum sf_reject r);

/* How requests become batches, for the planner, the simulator and the server alike: the
 * deadline-aware batcher (batcher.h: a batch leaves when full or when its oldest request would
 * otherwise miss its SLO, so every request is answered within the SLO of its arrival; capacity,
 * SLO check and fees follow the batches it forms) or the paper's epoch batching (every epoch's
 * requests cut into batches of B at the epoch's end; capacity r = B / SLO, a full batch within the
 * SLO). docs/planner.md. */
enum sf_batching { SF_BATCHING_DEADLINE = 0, SF_BATCHING_EPOCH = 1 };

struct sf_plan_opts {
    double slo_s;          /* <= 0: the profile's */
    double rate_rps;       /* <= 0: the profile's */
    double min_accuracy;   /* floor on top-1 accuracy in [0,1]; 0: none */
    double tau;            /* < 0: every tau in the profile; else only this tau */
    int batch_size;        /* <= 0: the profile's */
    int any_memory;        /* function memories in the catalog's 1 MB steps, not vCPU multiples */
    const char *fn_arch;   /* NULL: the catalog's first architecture */
    double payload_factor; /* bytes on the wire per payload byte; <= 0: SF_PLAN_PAYLOAD_FACTOR */
    int fn_invoke_size;    /* requests per FaaS invocation (the spill and FaaS-only): <= 0 a batch
                              of B; 1 one call per request (LIBRA's setup), billed and checked so */
    int batching;          /* enum sf_batching: which batches the capacity, the SLO check
                              and the fees assume (docs/planner.md) */
    /* Planning against the traffic: the arrival rate of each epoch (one SLO interval) of a trace
     * or of the monitor's recent history, at most SF_PLAN_MAX_TRAFFIC_EPOCHS. Candidates are then
     * ranked by their expected cost over it (each path's instances scheduled at best for that
     * traffic, a launch paying its cold start and the billing minimum; docs/planner.md), and the
     * planning rate is its mean. NULL: the paper's single rate. */
    const double *traffic_rps;
    size_t n_traffic;
    double vm_cold_start_epochs; /* the launch cost against the traffic: a cold start of this many
                                    epochs (<= 0: 20, the controller's default 18..22) */
};

/* Longest traffic a plan weighs (epochs): 69 days of 6 s epochs. */
#define SF_PLAN_MAX_TRAFFIC_EPOCHS 1000000

/* Hidden states and inputs travel base64-encoded inside JSON invocation payloads: 4 bytes on the
 * wire for every 3 (what counts against Lambda's 6,291,456-byte synchronous limit). */
#define SF_PLAN_PAYLOAD_FACTOR (4.0 / 3.0)
/* Most parallel tail invocations per batch the planner considers: bounds the worker's fan-in
 * (k concurrent calls per batch) and the request fees; with B = 100 it allows chunks of 2. */
#define SF_PLAN_MAX_FANOUT 64
/* Capacity of an instance whose head does no work (a path that never occupies its VM): a bound
 * so that q = floor(rate / r) stays finite. */
#define SF_PLAN_MAX_CAPACITY_RPS 1e6
void sf_plan_opts_default(struct sf_plan_opts *o);

struct sf_candidate {
    enum sf_pool pool;
    double tau;
    double accuracy;
    int cut;
    int vm;              /* index into pricing->vm, -1 for FaaS */
    int fn_mem_mb;       /* 0 when no memory fits at all */
    int tail_fanout;     /* k: function invocations per batch tail (hybrid), 1 otherwise */
    double capacity_rps; /* r of this path: requests/s one instance sustains within the SLO */
    int inst_batch;      /* requests per instance batch the capacity assumes (B for epochs) */
    int fn_batch;        /* requests per FaaS call at the planning rate (B for epochs) */
    double cost_usd_per_s;
    struct sf_cost_split split;
    double latency_s;      /* worst case: epoch batching, a full batch through every stage of
                              the path; deadline batching, a request's arrival to answer (wait for
                              its batch and the instance, then the batch's service) */
    double slo_margin_s;   /* slo - latency */
    double spill_margin_s; /* slo - full-model latency on the function (the FaaS spill) */
    double tcip_rps;
    double payload_bytes;
    enum sf_reject reject;
    double expected_usd_per_s; /* planning against the traffic: the expected cost over it; NAN
                                  otherwise */
    double rank_usd_per_s;     /* what candidates are ranked by: the expected cost against the
                                  traffic, else cost_usd_per_s */
};

struct sf_scip {
    double tau_lo, tau_hi; /* adjacent profiled taus whose cheapest pool differs */
    double tau_est;        /* linear interpolation of where the two costs are equal */
    enum sf_pool from, to;
};

struct sf_plan {
    double slo_s, rate_rps, capacity_rps;
    int batch_size;
    int fn_invoke_size; /* requests per FaaS invocation, 1..batch_size */
    int batching;       /* enum sf_batching, as planned */
    size_t fn_arch;
    int found;                /* best is valid */
    struct sf_candidate best; /* cheapest feasible over all taus */
    struct sf_candidate *alt; /* per (tau, pool, vm, cut): best memory, or why none fits */
    size_t n_alt;
    size_t alt_per_tau; /* alternatives of one tau: 1 (FaaS) + vm types x cuts, in that order */
    /* per profiled tau (same order as the profile's exits), the best feasible of each pool;
     * pool_found[t][pool] says whether one exists */
    struct sf_candidate (*per_tau)[3];
    int (*per_tau_found)[3];
    size_t n_tau;
    struct sf_scip scip[SF_MAX_TAUS];
    size_t n_scip;
    size_t n_evaluated; /* candidates priced, memory sizes included */
    /* planned against the traffic (opts.traffic_rps): its epochs, mean and peak rates */
    int traffic;
    size_t traffic_epochs;
    double traffic_mean_rps, traffic_peak_rps;
};

/* Runs Alg. 1 and Alg. 2 over the profile and catalog. One ownership rule, whatever it returns:
 * the caller calls sf_plan_fini afterwards (it is safe on every outcome). SF_EINFEASIBLE (the
 * plan still filled with every alternative and why it was rejected, found = 0) when nothing meets
 * the SLO and accuracy floor; SF_ENOTFOUND when opts name a tau or arch the inputs lack. */
int sf_plan_run(struct sf_plan *plan, const struct sf_profile *prof, const struct sf_pricing *price,
                const struct sf_plan_opts *opts, struct sf_err *err);
void sf_plan_fini(struct sf_plan *plan);
/* 1 when candidate a ranks before b: cheaper by more than SF_PLAN_TIE_REL, else (a tie) the more
 * accurate, then fewer instances at the planning rate, then FaaS before IaaS before hybrid, then
 * the larger SLO and spill margins. The plan's own order; a binding picks its pool with it too. */
int sf_plan_better(const struct sf_candidate *a, const struct sf_candidate *b);

/* ---- paths: where a policy's work runs ---- */

/* The outcome of planning one pool at one tau, as the simulator and the server run it. */
struct sf_path {
    int has_instances;   /* 0: functions only */
    int vm;              /* pricing->vm index (instances only) */
    int cut;             /* stages 1..cut on the instance; n_stages = IaaS-only */
    int tail_fanout;     /* k: parallel function invocations per batch tail (hybrid); 1 otherwise */
    int fn_invoke_size;  /* requests per FaaS invocation (spill, FaaS-only); 0: a batch of B */
    int fn_mem_mb;       /* function memory for the tail and the FaaS spill */
    double tcip_rps;     /* INFINITY: never a partial instance */
    double capacity_rps; /* r of the path; 0: B / SLO */
};

/* The path of a planned candidate. */
struct sf_path sf_plan_path(const struct sf_candidate *c);

/* "functions only, 8845 MB", "IaaS c6i.large + 8845 MB spill", "hybrid c6i.large stages 1-6 +
 * 3 x 8845 MB" into buf (always NUL-terminated; VM names escaped for terminals by the caller's
 * printing, not here); returns buf. */
char *sf_path_describe(const struct sf_path *p, const struct sf_pricing *price, int n_stages,
                       char *buf, size_t size);

/* Worst-case service times for the deadline-aware batcher (batcher.h), for a batch of n = 0..B
 * requests that all run every stage of the path: inst_s[n] on an instance of path (the head on
 * the VM; for a hybrid also the hand-off of n hidden states and the tail of ceil(n / k) requests
 * on each of k functions, with the function cold start), fn_s[n] the whole model on a function of
 * path->fn_mem_mb (with the cold start). Both arrays hold B + 1 entries; inst_s is zero when the
 * path has no instances. fn_arch indexes price->fn_arch. */
int sf_service_tables(const struct sf_profile *prof, const struct sf_pricing *price, size_t fn_arch,
                      const struct sf_path *path, int batch_size, double *inst_s, double *fn_s,
                      struct sf_err *err);

/* Rebuilds the cost configuration of a candidate (for sweeps and tests). */
int sf_plan_costcfg(const struct sf_plan *plan, const struct sf_profile *prof,
                    const struct sf_pricing *price, const struct sf_candidate *cand,
                    struct sf_costcfg *out);

#endif
