/* pol_serflow.c - serflow's controller (SERFLOW.md section 5): by default the follow rule
 * (follow.c: the simple rules as shadows, the cheapest followed with hysteresis); with
 * --scaling breakeven|expected|paper that rule alone: the traffic monitor every epoch, the
 * scaling manager every P epochs (every epoch for break-even). LIBRA as the paper evaluates it
 * (pol_libra.c) is the same controller on the IaaS path with the paper's rule. */
#include "policy_int.h"

SF__POLICY_STATE_FITS(struct sf__monitor_policy);

/* serflow's state: the follow rule, or (--scaling breakeven|expected|paper) one rule alone. */
struct st {
    int follow;
    union {
        struct sf__monitor_policy one;
        struct sf__follow f;
    } u;
};
SF__POLICY_STATE_FITS(struct st);

int sf__monitor_policy_init(void *state, const struct sf_policy_env *env, int rule,
                            int64_t *period_epochs, int64_t *first_period_epoch)
{
    struct sf__monitor_policy *s = state;
    s->ctl = env->ctl;
    if (rule >= 0)
        s->ctl.scaling_rule = rule;
    sf_monitor_init(&s->mon);
    sf_breakeven_init(&s->be);
    *period_epochs = s->ctl.scale_period_epochs;
    *first_period_epoch = s->ctl.scale_period_epochs;
    if (s->ctl.scaling_rule == SF_SCALE_BREAKEVEN)
        *period_epochs = *first_period_epoch = 1; /* it accounts, and may act, every epoch */
    return SF_OK;
}

void sf__monitor_policy_observe(void *state, const struct sf_policy_obs *obs)
{
    struct sf__monitor_policy *s = state;
    s->last_rate_rps = obs->arrivals / s->ctl.epoch_s;
    sf_monitor_update(&s->mon, s->last_rate_rps, s->ctl.alpha, s->ctl.beta);
}

int sf__monitor_policy_period(void *state, const struct sf_policy_obs *obs)
{
    struct sf__monitor_policy *s = state;
    if (s->ctl.scaling_rule == SF_SCALE_BREAKEVEN) {
        int t = sf_breakeven_step(&s->be, &s->ctl, s->last_rate_rps, obs->active);
        return t == obs->active ? -1 : t;
    }
    return sf_scaling_target(&s->ctl, s->mon.mu_rps, s->mon.sigma_rps, obs->active);
}

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    struct st *s = state;
    s->follow = env->ctl.scaling_rule == SF_SCALE_FOLLOW;
    if (!s->follow)
        return sf__monitor_policy_init(&s->u.one, env, -1, period_epochs, first_period_epoch);
    *period_epochs = *first_period_epoch = 1;
    return sf__follow_init(&s->u.f, env, err);
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    if (s->follow)
        s->u.f.target = sf__follow_step(&s->u.f, obs);
    else
        sf__monitor_policy_observe(&s->u.one, obs);
}

static int period(void *state, const struct sf_policy_obs *obs)
{
    struct st *s = state;
    if (!s->follow)
        return sf__monitor_policy_period(&s->u.one, obs);
    return s->u.f.target == obs->active ? -1 : s->u.f.target;
}

static const struct sf_policy_ops ops = {
    .state_size = sizeof(struct st), .init = init, .observe = observe, .period = period};

const struct sf_policy_desc sf__pol_serflow = {
    .name = "serflow",
    .summary = "serflow: the plan's path at tau (FaaS, IaaS or hybrid),\n"
               "its scaling rule (--scaling), FaaS spill",
    .path = SF_POLICY_PATH_PLAN,
    .ops = &ops};
