/* policy_int.h - helpers shared by the policy files of ctl/ (not a public header). */
#ifndef SERFLOW_POLICY_INT_H
#define SERFLOW_POLICY_INT_H

#include <stdint.h>

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

#define SF__POLICY_STATE_FITS(type)                                                                \
    _Static_assert(sizeof(type) <= SF_POLICY_STATE_BYTES, #type " exceeds SF_POLICY_STATE_BYTES")

#endif
