/*
 * ctl.h - the online controller of SERFLOW.md section 5: traffic monitor (eq. 5-6), scaling
 * manager (target from mu + k sigma and T-CIP, launches that become ready after a cold start,
 * terminations after a delay) and load balancer (batches of B to free ready instances, the rest
 * to functions).
 *
 * Pure functions of (state, observation, epoch): no I/O, no clock reads, no allocation. Time is
 * counted in epochs (one SLO interval each); the simulator passes simulated epochs, the server
 * will pass the wall clock's. The same code drives both.
 */
#ifndef SERFLOW_CTL_H
#define SERFLOW_CTL_H

#include <stdint.h>

#include "serflow/core.h"

/* Upper bound on live instances of one fleet (fixed storage, no allocation per epoch). */
#define SF_CTL_MAX_INSTANCES 256

/* Every parameter the paper leaves blank is here, with the default of sf_ctl_params_default
 * (docs/controller.md explains each). */
struct sf_ctl_params {
    double epoch_s;            /* one SLO interval: 6 s */
    int batch_size;            /* B: 100 */
    double capacity_rps;       /* r = B / epoch_s */
    double alpha, beta;        /* EWMA weights of eq. 5 and 6: 0.2, 0.2 */
    double k;                  /* weight of sigma in the target: 1 */
    double tcip_rps;           /* residual above which one more instance is bought */
    int use_instances;         /* 0 in the {FaaS} pool */
    int scale_period_epochs;   /* P: 25 (150 s) */
    int cold_start_min_epochs; /* launch -> ready, uniform in [min, max]: 18..22 */
    int cold_start_max_epochs;
    int terminate_delay_epochs;    /* termination takes effect after: 2 */
    int partial_to_instance;       /* 1: a partial batch may use a free instance; 0: always FaaS */
    int max_instances;             /* cap on the target, <= SF_CTL_MAX_INSTANCES */
    int scaling_rule;              /* SF_SCALE_FOLLOW (default), _BREAKEVEN, _EXPECTED or _PAPER */
    double launch_horizon_periods; /* expected rule: a new instance's cold start is paid back
                                      over this many scaling periods (the hurdle for a launch is
                                      T-CIP (1 + cold / (h P))) */
    double buy_after_cold_starts;  /* break-even rule: launch once the savings it missed reach
                                      this many times a launch's cost (its price over a cold
                                      start): 1 */
    double sell_after_cold_starts; /* break-even rule: release once the waste reaches this many
                                      times a relaunch's cost (a cold start's price plus the FaaS
                                      premium of a full instance during it): 1 */
    double follow_hysteresis;      /* follow rule: switch to a cheaper candidate once its shadow
                                      is ahead by this many times what the switch costs: 0.25 */
    double follow_memory_epochs;   /* follow rule: the shadows' costs fade with this time constant
                                      (0: never, the whole past counts): 3600 */
    double follow_same_count;      /* follow rule: a switch between candidates with the same
                                      active count is charged this fraction of one relaunch
                                      (they differ in what they do next): 0.3, in [0, 1] */
};

/* How the scaling manager turns (mu, sigma) into a target. */
enum sf_scaling_rule {
    SF_SCALE_PAPER = 0,     /* the paper: D = mu + k sigma, q = floor(D/r), + [res > T-CIP] */
    SF_SCALE_EXPECTED = 1,  /* beyond the paper: buy the (n+1)-th instance while its
                               expected load E[min(r, (L - n r)+)] exceeds T-CIP (a higher
                               hurdle for a new launch), L ~ Normal(mu, s) */
    SF_SCALE_BREAKEVEN = 2, /* beyond the paper: rent-or-buy every epoch; buy the (n+1)-th
                               instance once what it would have saved since it started to pay
                               equals what a launch costs, release one once what it wasted equals
                               what a relaunch would cost (sf_breakeven_step) */
    SF_SCALE_FOLLOW = 3,    /* serflow's default: run the simple rules (functions only, fixed
                               fleets, break-even, expected, paper) as shadows on the observed
                               arrivals, priced with the simulator's billing, and follow the
                               cheapest so far, switching only when it is ahead by more than the
                               switch costs (docs/controller.md states its regret bound) */
};

void sf_ctl_params_default(struct sf_ctl_params *p);
/* Checks ranges (weights in [0,1], positive epoch and batch, cold start min <= max, ...).
 * Returns SF_OK or SF_EINVAL with err naming the parameter. */
int sf_ctl_params_check(const struct sf_ctl_params *p, struct sf_err *err);

/* ---- traffic monitor, eq. 5-6 ---- */

struct sf_monitor {
    double mu_rps;    /* smoothed mean arrival rate */
    double sigma_rps; /* smoothed absolute deviation */
    int primed;       /* 0 until the first observation, which sets mu = rate, sigma = 0 */
};

void sf_monitor_init(struct sf_monitor *m);
/* mu_t = a l + (1 - a) mu_{t-1};  sigma_t = b |l - mu_{t-1}| + (1 - b) sigma_{t-1}. */
void sf_monitor_update(struct sf_monitor *m, double rate_rps, double alpha, double beta);

/* ---- scaling manager ---- */

/* N_target = q + [res > T-CIP] with D = mu + k sigma, q = floor(D / r), res = D - q r; 0 when
 * the pool has no instances; capped at max_instances. `active` (instances launched and not
 * terminating) is used by the SF_SCALE_EXPECTED rule only. */
int sf_scaling_target(const struct sf_ctl_params *p, double mu_rps, double sigma_rps, int active);

/* The SF_SCALE_EXPECTED rule on its own. The arrival rate over the next period is taken as
 * Normal(mu, s) truncated at 0, with s = sqrt(pi/2) * sigma (sigma of eq. 6 is a mean absolute
 * deviation). An instance costs p_v and saves (FaaS - tail) per request it takes, so it pays off
 * exactly when the load it takes exceeds T-CIP. A new instance is also billed through its cold
 * start before it serves, so beyond the `active` ones the hurdle is T-CIP * (P + cold) / P, with
 * cold the mean cold start: a cost-derived hysteresis. With sigma = 0 and no cold start this is
 * the paper's rule with k = 0. sf_scaling_target dispatches here when p->scaling_rule says so. */
int sf_scaling_target_expected(const struct sf_ctl_params *p, double mu_rps, double sigma_rps,
                               int active);

/* ---- the break-even (rent-or-buy) scaling rule ---- */

/* Per instance level j (the j-th instance counted from the first), seconds of instance price:
 * up_s[j] what level j, not running, would have saved net of its price; down_s[j] what it, running,
 * wasted net of its savings. Both restart at 0 when negative. */
struct sf_breakeven {
    double up_s[SF_CTL_MAX_INSTANCES + 2];
    double down_s[SF_CTL_MAX_INSTANCES + 2];
};

void sf_breakeven_init(struct sf_breakeven *b);
/* One epoch at rate_rps with `active` instances (launched, not terminating): level j takes
 * min(r, (rate - (j - 1) r)+) and earns (load / T-CIP - 1) x epoch of its price. Returns the
 * target: active plus the levels above whose up_s reached buy_after x the mean cold start (what a
 * launch costs), or active - 1 when the top level's down_s reached sell_after x cold x
 * (1 + r / T-CIP) (what a relaunch would cost: the cold start and the FaaS premium meanwhile). A
 * level that cannot pay at full load (T-CIP > r) is never bought. The classic break-even argument
 * bounds each level's cost by a small multiple of a clairvoyant choice, without a forecast. */
int sf_breakeven_step(struct sf_breakeven *b, const struct sf_ctl_params *p, double rate_rps,
                      int active);

/* True when epoch is a scaling epoch (a positive multiple of P). */
int sf_scaling_due(const struct sf_ctl_params *p, int64_t epoch);

/* Cold start of the idx-th launch made at `epoch`, in epochs: a deterministic draw from
 * uniform[min, max] keyed by (seed, epoch, idx), so that two policies launching at the same epoch
 * see the same cold starts (the oracle relies on this). */
int sf_cold_start_epochs(const struct sf_ctl_params *p, uint64_t seed, int64_t epoch, int idx);

enum sf_inst_state { SF_INST_PENDING = 0, SF_INST_READY = 1, SF_INST_TERMINATING = 2 };

struct sf_instance {
    enum sf_inst_state state;
    int64_t launch_epoch; /* billed from the start of this epoch's boundary */
    int64_t ready_epoch;  /* may take batches from this epoch on */
    int64_t end_epoch;    /* terminating: gone (and billing stops) at this epoch */
    double busy_until_s;  /* when its current batch ends (set by the balancer's caller) */
    /* when the server's batcher expects it free: the batch's dispatch plus the worst-case
     * service time of its size (the ingress cannot know the real end; the simulator's deadline
     * batcher plans with this too, and wakes at busy_until_s) */
    double promised_s;
};

/* The long-lived instances of one pool. Caller-owned storage; no allocation. */
struct sf_fleet {
    struct sf_instance inst[SF_CTL_MAX_INSTANCES];
    int n;
    uint64_t seed;
};

void sf_fleet_init(struct sf_fleet *f, uint64_t seed);
/* Moves the fleet to `epoch`: pending instances whose cold start is over become ready;
 * terminating instances whose delay is over are removed and copied to ended[] (up to
 * ended_cap) for billing. Returns how many ended. */
int sf_fleet_advance(struct sf_fleet *f, int64_t epoch, struct sf_instance *ended, int ended_cap);
/* Applies a target at `epoch`: launches the missing instances (cold starts from
 * sf_cold_start_epochs), or marks the surplus terminating (pending ones first, then the most
 * recently launched ready ones). Instances already terminating do not count. Returns the number
 * launched (positive) or marked (negative). */
int sf_fleet_scale(struct sf_fleet *f, const struct sf_ctl_params *p, int target, int64_t epoch);
/* Which instances a fleet sheds to come down by `surplus`, the rule sf_fleet_scale applies and
 * the server's control loop shares: pending ones first (they serve nothing yet), then ready
 * ones, the newest launch first within each (highest launch_order[i]; on a tie the higher
 * index). states[i] is the instance's sf_inst_state; terminating ones are never picked. Writes
 * at most `surplus` indices to picks[] in that order and returns how many; n is at most
 * SF_CTL_MAX_INSTANCES (more are ignored). */
int sf_fleet_pick_surplus(const enum sf_inst_state *states, const int64_t *launch_order, int n,
                          int surplus, int *picks);
/* Instances counted toward the target (pending + ready, not terminating). */
int sf_fleet_active(const struct sf_fleet *f);
/* Instances that may take a batch at `epoch` whose time is now_s (ready or terminating-but-not-
 * gone, and not busy). */
int sf_fleet_free(const struct sf_fleet *f, double now_s);
int sf_fleet_ready(const struct sf_fleet *f);
/* Instances that can take batches (ready, or terminating but not yet gone). */
int sf_fleet_serving(const struct sf_fleet *f);

/* ---- load balancer ---- */

/* How one epoch's n requests are cut and routed. Requests keep arrival order; the first
 * `requests_to_instances` go to instances in batches of B (full ones first), the rest to
 * functions in batches of B, the last possibly partial. */
struct sf_lb_split {
    int requests_to_instances;
    int batches_to_instances;
    int batches_to_functions;
    int partial_on_instance; /* the instance share ends in a partial batch */
};

/* free_instances: instances that can take a batch now; instance_cap: most requests the policy
 * wants on instances this epoch (INT32_MAX: no cap). Worked check (SERFLOW.md section 5): n = 336,
 * B = 100, 2 free -> 200 requests in 2 batches to instances, 1 full + 1 of 36 to functions. */
void sf_lb_route(int n_requests, int batch_size, int free_instances, int partial_to_instance,
                 int instance_cap, struct sf_lb_split *out);

#endif
