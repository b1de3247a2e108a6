/* pol_libra_orig.c - LIBRA as its public simulator implements it (IC2E'21): an EWMA monitor of
 * the rate, a VM share = mean + k x deviation recomputed every period, ceil(share / r) VMs, and
 * a fraction of the share routed to VMs each epoch (the rest to functions); the old split is kept
 * until newly launched VMs are ready. The share is truncated to a whole rate, and the first
 * decision is taken at the first epoch, as LIBRA's manager.py does. */
#include <math.h>

#include "policy_int.h"

struct st {
    double epoch_s, capacity_rps, alpha, beta, sigma_k, vm_share;
    int integer_share;
    struct sf_monitor mon;
    double share_active_rps, share_pending_rps;
    int switch_pending;
};
SF__POLICY_STATE_FITS(struct st);

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    struct st *s = state;
    const struct sf_baseline_params *b = &env->base;
    double p = b->libra_orig_period_s / env->ctl.epoch_s;
    if (!(p >= 1 && p <= 1e9) || fabs(p - llround(p)) > 1e-9)
        return sf_err_set(err, SF_EINVAL,
                          "libra-orig: period %g s must be a whole number (>= 1) of %g s epochs",
                          b->libra_orig_period_s, env->ctl.epoch_s);
    if (!(b->libra_orig_alpha >= 0 && b->libra_orig_alpha <= 1) ||
        !(b->libra_orig_beta >= 0 && b->libra_orig_beta <= 1) || !(b->libra_orig_sigma_k >= 0) ||
        !(b->libra_orig_vm_share >= 0 && b->libra_orig_vm_share <= 1))
        return sf_err_set(err, SF_EINVAL,
                          "libra-orig: weights and VM share must be in [0, 1], sigma factor >= 0");
    s->epoch_s = env->ctl.epoch_s;
    s->capacity_rps = env->ctl.capacity_rps;
    s->alpha = b->libra_orig_alpha;
    s->beta = b->libra_orig_beta;
    s->sigma_k = b->libra_orig_sigma_k;
    s->vm_share = b->libra_orig_vm_share;
    s->integer_share = b->libra_orig_integer_share;
    sf_monitor_init(&s->mon);
    *period_epochs = llround(p);
    *first_period_epoch = 1; /* LIBRA decides at its first second, then every period */
    return SF_OK;
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    sf_monitor_update(&s->mon, obs->arrivals / s->epoch_s, s->alpha, s->beta);
}

static int period(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    double share = s->mon.mu_rps + s->sigma_k * s->mon.sigma_rps;
    if (s->integer_share)
        share = floor(share);
    int target = (int)ceil(share / s->capacity_rps - SF__POL_EPS);
    if (target > obs->active) {
        s->share_pending_rps = share; /* keep the old split until the VMs are ready */
        s->switch_pending = 1;
    } else {
        s->share_active_rps = share;
        s->switch_pending = 0;
    }
    return target;
}

static int instance_cap(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    if (s->switch_pending && obs->ready >= obs->active) {
        s->share_active_rps = s->share_pending_rps;
        s->switch_pending = 0;
    }
    double cap = floor(s->vm_share * s->share_active_rps * s->epoch_s + SF__POL_EPS);
    return cap > INT32_MAX ? INT32_MAX : (int)cap;
}

static const struct sf_policy_ops ops = {.state_size = sizeof(struct st),
                                         .init = init,
                                         .observe = observe,
                                         .period = period,
                                         .instance_cap = instance_cap};

const struct sf_policy_desc sf__pol_libra_orig = {
    .name = "libra-orig",
    .summary = "LIBRA as its own simulator runs it: VMs for 80 % of\n"
               "mean + 1 dev (every 300 s), the rest on functions",
    .path = SF_POLICY_PATH_IAAS,
    .ops = &ops};
