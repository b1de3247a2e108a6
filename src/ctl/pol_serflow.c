/* pol_serflow.c - serflow's controller (SERFLOW.md section 5): by default the follow rule
 * (follow.c: the simple rules as shadows, the cheapest followed with hysteresis); with
 * --scaling breakeven|expected|paper that rule alone: the traffic monitor every epoch, the
 * scaling manager every P epochs (every epoch for break-even). LIBRA as the paper evaluates it
 * (pol_libra.c) is the same controller on the IaaS path with the paper's rule. */
#include <math.h>
#include <stdio.h>

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
    s->last_active = obs->active;
    if (s->ctl.scaling_rule == SF_SCALE_BREAKEVEN) {
        /* the account that moves the fleet: the next level's savings, or the top one's waste */
        int up = obs->active + 1 <= SF_CTL_MAX_INSTANCES ? obs->active + 1 : obs->active;
        double before_up = s->be.up_s[up], before_down = s->be.down_s[obs->active];
        int t = sf_breakeven_step(&s->be, &s->ctl, s->last_rate_rps, obs->active);
        s->last_target = t;
        /* the account as the step updated it (the step resets a level's account once it acts) */
        double r = s->ctl.capacity_rps, T = s->ctl.epoch_s, tcip = s->ctl.tcip_rps;
        double load_up = fmin(r, fmax(0, s->last_rate_rps - (up - 1) * r)),
               load_top = fmin(r, fmax(0, s->last_rate_rps - (obs->active - 1) * r));
        s->last_account_s = t > obs->active ? before_up + T * (load_up / tcip - 1)
                            : t < obs->active
                                ? before_down + T * (1 - load_top / tcip)
                                : (s->be.up_s[up] > 0 ? s->be.up_s[up] : s->be.down_s[obs->active]);
        return t == obs->active ? -1 : t;
    }
    s->last_target = sf_scaling_target(&s->ctl, s->mon.mu_rps, s->mon.sigma_rps, obs->active);
    return s->last_target;
}

void sf__monitor_policy_explain(const void *state, char *buf, size_t size)
{
    const struct sf__monitor_policy *s = state;
    const struct sf_ctl_params *p = &s->ctl;
    if (p->scaling_rule == SF_SCALE_BREAKEVEN) {
        double cold_s = 0.5 * (p->cold_start_min_epochs + p->cold_start_max_epochs) * p->epoch_s;
        if (cold_s < p->epoch_s)
            cold_s = p->epoch_s;
        double buy_s = p->buy_after_cold_starts * cold_s,
               sell_s = p->sell_after_cold_starts * cold_s * (1 + p->capacity_rps / p->tcip_rps);
        const char *what = s->last_target > s->last_active   ? "a level's savings reached"
                           : s->last_target < s->last_active ? "the top level's waste reached"
                                                             : "no account reached";
        snprintf(buf, size,
                 "break-even rule: rate %.4g req/s, r %.4g, T-CIP %.4g; %s %.3g s of instance "
                 "price (buy at %.3g s, sell at %.3g s)",
                 s->last_rate_rps, p->capacity_rps, p->tcip_rps, what, s->last_account_s, buy_s,
                 sell_s);
        return;
    }
    double d = s->mon.mu_rps + p->k * s->mon.sigma_rps;
    double q = p->capacity_rps > 0 ? floor(d / p->capacity_rps) : 0;
    snprintf(buf, size,
             "%s rule: mu %.4g req/s, sigma %.4g, D = mu + %g sigma = %.4g; r %.4g: q %.0f, "
             "residual %.4g vs T-CIP %.4g",
             p->scaling_rule == SF_SCALE_PAPER ? "paper's" : "expected-load", s->mon.mu_rps,
             s->mon.sigma_rps, p->k, d, p->capacity_rps, q, d - q * p->capacity_rps, p->tcip_rps);
}

int sf__monitor_policy_retune(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                              struct sf_err *err)
{
    (void)err;
    struct sf__monitor_policy *s = state;
    int rule = s->ctl.scaling_rule; /* the rule is the policy's (libra: the paper's) */
    s->ctl = env->ctl;
    s->ctl.scaling_rule = rule;
    *period_epochs = rule == SF_SCALE_BREAKEVEN ? 1 : s->ctl.scale_period_epochs;
    return SF_OK;
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

static void explain(const void *state, char *buf, size_t size)
{
    const struct st *s = state;
    if (s->follow)
        sf__follow_explain(&s->u.f, buf, size);
    else
        sf__monitor_policy_explain(&s->u.one, buf, size);
}

static int retune(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                  struct sf_err *err)
{
    struct st *s = state;
    if (!s->follow)
        return sf__monitor_policy_retune(&s->u.one, env, period_epochs, err);
    *period_epochs = 1;
    return sf__follow_retune(&s->u.f, env, err);
}

static const struct sf_policy_ops ops = {.state_size = sizeof(struct st),
                                         .init = init,
                                         .observe = observe,
                                         .period = period,
                                         .explain = explain,
                                         .retune = retune};

const struct sf_policy_desc sf__pol_serflow = {
    .name = "serflow",
    .summary = "serflow: the plan's path at tau (FaaS, IaaS or hybrid),\n"
               "its scaling rule (--scaling), FaaS spill",
    .path = SF_POLICY_PATH_PLAN,
    .ops = &ops};
