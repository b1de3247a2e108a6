/* pol_mark.c - MArk-style predictive scaling: every W epochs the forecast is headroom x the peak
 * rate of the last W epochs; instances are added greedily while one more costs less over the
 * lookahead (its cold start billed when it is a new launch) than functions for the rate it would
 * take; scale-in only after `hysteresis` rounds in a row want fewer; overflow to functions. */
#include "policy_int.h"

struct st {
    double epoch_s, capacity_rps, vm_usd_per_s, faas_usd_per_req, cold_s, headroom;
    int window, lookahead, hysteresis, max_instances;
    int rounds_wanting_fewer;
    struct sf__ring ring;
};
SF__POLICY_STATE_FITS(struct st);

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    struct st *s = state;
    const struct sf_baseline_params *b = &env->base;
    if (b->mark_period_epochs < 1 || b->mark_period_epochs > SF__POL_RING_MAX ||
        b->mark_lookahead_steps < 1 || b->mark_hysteresis_rounds < 1 || !(b->mark_headroom > 0))
        return sf_err_set(err, SF_EINVAL,
                          "mark: period must be in [1, %d] epochs, lookahead and hysteresis >= 1, "
                          "headroom > 0",
                          SF__POL_RING_MAX);
    s->epoch_s = env->ctl.epoch_s;
    s->capacity_rps = env->ctl.capacity_rps;
    s->vm_usd_per_s = env->vm_usd_per_s;
    s->faas_usd_per_req = env->faas_usd_per_req;
    s->cold_s =
        0.5 * (env->ctl.cold_start_min_epochs + env->ctl.cold_start_max_epochs) * env->ctl.epoch_s;
    s->headroom = b->mark_headroom;
    s->window = b->mark_period_epochs;
    s->lookahead = b->mark_lookahead_steps;
    s->hysteresis = b->mark_hysteresis_rounds;
    s->max_instances = env->ctl.max_instances;
    *period_epochs = *first_period_epoch = s->window;
    return SF_OK;
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    sf__ring_push(&((struct st *)state)->ring, obs->arrivals);
}

static int period(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    double T = s->epoch_s, r = s->capacity_rps, peak = 0;
    for (int k = 0; k < s->window && k < s->ring.n; k++) {
        double v = sf__ring_back(&s->ring, k) / T;
        peak = v > peak ? v : peak;
    }
    double forecast = s->headroom * peak;
    double horizon_s = s->lookahead * s->window * T;
    int active = obs->active, k = 0;
    while (k < s->max_instances) {
        double serve = forecast - k * r;
        if (serve <= 0)
            break;
        if (serve > r)
            serve = r;
        double vm = s->vm_usd_per_s * (horizon_s + (k >= active ? s->cold_s : 0));
        double fn = serve * horizon_s * s->faas_usd_per_req;
        if (!(vm < fn))
            break;
        k++;
    }
    if (k >= active) {
        s->rounds_wanting_fewer = 0;
        return k > active ? k : -1;
    }
    if (++s->rounds_wanting_fewer >= s->hysteresis) {
        s->rounds_wanting_fewer = 0;
        return k;
    }
    return -1;
}

static const struct sf_policy_ops ops = {
    .state_size = sizeof(struct st), .init = init, .observe = observe, .period = period};

const struct sf_policy_desc sf__pol_mark = {
    .name = "mark",
    .summary = "MArk-style: 1.2 x the recent peak, cheapest VMs over a\n"
               "lookahead, slow scale-in, the rest on functions",
    .path = SF_POLICY_PATH_IAAS,
    .ops = &ops};
