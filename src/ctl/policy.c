/* policy.c - the policy registry and the per-epoch call order of policy.h. */
#include <string.h>

#include "policy_int.h"

extern const struct sf_policy_ops sf__policy_faas, sf__policy_serflow, sf__policy_libra,
    sf__policy_libra_orig, sf__policy_spock, sf__policy_mark;

const struct sf_policy_ops *const sf_policies[] = {&sf__policy_faas,
                                                   &sf__policy_libra,
                                                   &sf__policy_libra_orig,
                                                   &sf__policy_spock,
                                                   &sf__policy_mark,
                                                   &sf__policy_serflow,
                                                   NULL};

const struct sf_policy_ops *sf_policy_ops_find(const char *name)
{
    for (size_t i = 0; sf_policies[i]; i++)
        if (!strcmp(sf_policies[i]->name, name))
            return sf_policies[i];
    return NULL;
}

void sf_policy_env_default(struct sf_policy_env *env)
{
    memset(env, 0, sizeof(*env));
    sf_ctl_params_default(&env->ctl);
    struct sf_baseline_params *b = &env->base;
    b->spock_window_epochs = 10;
    b->mark_period_epochs = 10;
    b->mark_lookahead_steps = 6;
    b->mark_hysteresis_rounds = 6;
    b->mark_headroom = 1.2;
    b->libra_orig_period_s = 300;
    b->libra_orig_alpha = 0.2;
    b->libra_orig_beta = 0.2;
    b->libra_orig_sigma_k = 1;
    b->libra_orig_vm_share = 0.8;
    b->libra_orig_integer_share = 1;
}

int sf_policy_init(struct sf_policy *p, const struct sf_policy_ops *ops,
                   const struct sf_policy_env *env, struct sf_err *err)
{
    memset(p, 0, sizeof(*p));
    if (!ops || ops->state_size > sizeof(p->state))
        return sf_err_set(err, SF_EINVAL, "policy: unknown policy or state too large");
    int rc = sf_ctl_params_check(&env->ctl, err);
    if (rc != SF_OK)
        return rc;
    p->ops = ops;
    p->period_epochs = 1;
    p->first_period_epoch = 1;
    rc = ops->init(p->state, env, &p->period_epochs, &p->first_period_epoch, err);
    if (rc == SF_OK && (p->period_epochs < 1 || p->first_period_epoch < 1))
        rc = sf_err_set(err, SF_EINVAL, "policy %s: bad scaling period", ops->name);
    if (rc != SF_OK)
        p->ops = NULL;
    return rc;
}

int sf_policy_begin_epoch(struct sf_policy *p, const struct sf_policy_obs *obs)
{
    p->ops->observe(p->state, obs);
    int64_t e = obs->epoch, f = p->first_period_epoch;
    if (e < f || (e - f) % p->period_epochs != 0 || !p->ops->period)
        return -1;
    return p->ops->period(p->state, obs);
}

int sf_policy_instance_cap(struct sf_policy *p, const struct sf_policy_obs *obs)
{
    return p->ops->instance_cap ? p->ops->instance_cap(p->state, obs) : INT32_MAX;
}
