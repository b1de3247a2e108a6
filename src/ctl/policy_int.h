/* policy_int.h - helpers shared by the policy files of ctl/ (not a public header). */
#ifndef SERFLOW_POLICY_INT_H
#define SERFLOW_POLICY_INT_H

#include <stdint.h>

#include "serflow/batcher.h"
#include "serflow/policy.h"

/* Slack for comparisons of rates computed in floating point: a rate within 1e-9 of a multiple
 * of r counts as that multiple (the simulator's EPS). */
#define SF__POL_EPS 1e-9

/* Recent per-epoch counts for the window policies (Spock, MArk): windows up to 4,096 epochs
 * (6.8 hours of 6 s epochs). */
#define SF__POL_RING_MAX 4096

struct sf__ring {
    uint32_t v[SF__POL_RING_MAX];
    int64_t n;
};

static inline void sf__ring_push(struct sf__ring *r, uint32_t x)
{
    r->v[r->n % SF__POL_RING_MAX] = x;
    r->n++;
}

/* The k-th most recent value (k = 0: the newest); k < min(n, SF__POL_RING_MAX). */
static inline uint32_t sf__ring_back(const struct sf__ring *r, int64_t k)
{
    return r->v[(r->n - 1 - k) % SF__POL_RING_MAX];
}

/* The monitor-and-target controller shared by serflow (pol_serflow.c) and libra (pol_libra.c). */
struct sf__monitor_policy {
    struct sf_ctl_params ctl;
    struct sf_monitor mon;
    struct sf_breakeven be; /* the break-even rule's accounts */
    double last_rate_rps;   /* the last epoch's arrival rate */
    /* its last decision, for explain: the fleet it saw, the target, and for the break-even rule
     * the account of the level that moved (seconds of instance price) */
    int last_active, last_target;
    double last_account_s;
};
void sf__monitor_policy_explain(const void *state, char *buf, size_t size);
int sf__monitor_policy_retune(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                              struct sf_err *err);
/* rule < 0: the env's scaling rule; else that rule (enum sf_scaling_rule). */
int sf__monitor_policy_init(void *state, const struct sf_policy_env *env, int rule,
                            int64_t *period_epochs, int64_t *first_period_epoch);
void sf__monitor_policy_observe(void *state, const struct sf_policy_obs *obs);
int sf__monitor_policy_period(void *state, const struct sf_policy_obs *obs);

/* ---- the follow rule (follow.c) ---- */

#define SF__FOLLOW_MAX_FIXED 12          /* fixed fleets of 1..12 instances */
#define SF__FOLLOW_MAX_RULES 4           /* break-even (two settings), expected, paper */
#define SF__SHADOW_QCAP      1024        /* a shadow's queue: the batcher never holds more than B */
#define SF__FOLLOW_SEED      0x5eedf011u /* the shadows' draws of instance batch times */

/* An expert's virtual fleet: each instance's launch, ready and end epochs (end INT32_MAX while
 * it is active; ready INT32_MAX for a pending one given up) and when it is next free. */
struct sf__vfleet {
    int n;
    int32_t launch[SF_CTL_MAX_INSTANCES], ready[SF_CTL_MAX_INSTANCES], end[SF_CTL_MAX_INSTANCES];
    double busy[SF_CTL_MAX_INSTANCES];
    double promise[SF_CTL_MAX_INSTANCES]; /* its batch's dispatch + worst-case time (the batcher's
                                             view, as the server's) */
};

struct sf__follow_rule {
    struct sf__monitor_policy pol;
    double own; /* > 0: its own break-even setting (cold starts to buy and sell after) */
    int64_t period, first;
    struct sf__vfleet fleet;
};

enum { SF__EXPERT_FAAS = 0, SF__EXPERT_FIXED = 1, SF__EXPERT_RULE = 2 };

struct sf__expert {
    int kind;
    int fixed;                            /* SF__EXPERT_FIXED: its instances */
    int rule;                             /* SF__EXPERT_RULE: index into rules[] */
    double cost_usd;                      /* its shadow's cumulative cost */
    double epoch_usd;                     /* what it cost in the last epoch */
    double busy[SF__FOLLOW_MAX_FIXED];    /* SF__EXPERT_FIXED: when each instance is next free */
    double promise[SF__FOLLOW_MAX_FIXED]; /* ... and when the batcher is told it will be */
    struct sf_dq q;                       /* its queue (deadline batching) through ctl/'s loop */
    int64_t next_arrival;                 /* the number of its next arrival */
    uint64_t rng;                         /* its draws of instance batch times */
    double arrival_s[SF__SHADOW_QCAP];    /* arrival times of the queued ones, by number */
};

struct sf__follow {
    struct sf_ctl_params ctl;
    struct sf_batcher_cfg batcher;
    double epoch_s, r_rps, fee, faas_usd_per_req, tail_usd_per_req, vm_usd_per_s, vm_min_s;
    double req_sd_s; /* one request's time on an instance: its standard deviation */
    double hysteresis;
    int batch, invoke, tail_calls, partial_to_instance, deadline;
    int n_x, n_rules, n_fixed, cur, switches, target;
    int64_t hold_until; /* > 0: the plan's fleet (prior_instances) is followed until then */
    struct sf__expert x[1 + SF__FOLLOW_MAX_FIXED + SF__FOLLOW_MAX_RULES];
    struct sf__follow_rule rules[SF__FOLLOW_MAX_RULES];
};

/* Sets up the experts from env (SF_EINVAL when its shadow prices or batcher are missing). */
int sf__follow_init(struct sf__follow *f, const struct sf_policy_env *env, struct sf_err *err);
/* One epoch: every expert's shadow serves its arrivals, pays, and decides; returns the target of
 * the expert followed (its active instances). */
int sf__follow_step(struct sf__follow *f, const struct sf_policy_obs *obs);
/* What the last step decided and why: the expert followed, its cost and the cheapest. */
void sf__follow_explain(const struct sf__follow *f, char *buf, size_t size);
/* New controller parameters (k, scale period, delays, cold starts, T-CIP) for every rule
 * expert, their monitors, fleets and accounts kept; the path's prices and batcher stay. */
int sf__follow_retune(struct sf__follow *f, const struct sf_policy_env *env, struct sf_err *err);

#define SF__POLICY_STATE_FITS(type)                                                                \
    _Static_assert(sizeof(type) <= SF_POLICY_STATE_BYTES, #type " exceeds SF_POLICY_STATE_BYTES")

#endif
