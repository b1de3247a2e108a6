/* policy.c - the policy registry (generated from SF_POLICY_LIST) and the per-epoch call order
 * of policy.h. */
#include <stdio.h>
#include <string.h>

#include "policy_int.h"

/* A build may append rows (a test's policy): SF_POLICY_EXTRA_LIST names a header that defines
 * SF_POLICY_EXTRA(X) in the form of SF_POLICY_LIST. */
#ifdef SF_POLICY_EXTRA_LIST
#include SF_POLICY_EXTRA_LIST
#else
#define SF_POLICY_EXTRA(X)
#endif

#define DECLARE(id, sym) extern const struct sf_policy_desc sf__pol_##sym;
SF_POLICY_LIST(DECLARE)
SF_POLICY_EXTRA(DECLARE)
#undef DECLARE

#define ROW(id, sym) &sf__pol_##sym,
const struct sf_policy_desc *const sf_policy_registry[] = {SF_POLICY_LIST(ROW) SF_POLICY_EXTRA(ROW)
                                                               NULL};
#undef ROW

_Static_assert(SF_ARRAY_LEN(sf_policy_registry) - 1 <= SF_POLICY_MAX,
               "the registry holds more rows than SF_POLICY_MAX");

static const char *const path_names[] = {
#define NAME(id, name, about) name,
    SF_POLICY_PATH_LIST(NAME)
#undef NAME
};

const char *sf_policy_path_name(enum sf_policy_path p)
{
    return p >= 0 && p < SF_POLICY_PATH_COUNT ? path_names[p] : "?";
}

int sf_policy_count(void)
{
    return (int)SF_ARRAY_LEN(sf_policy_registry) - 1;
}

const struct sf_policy_desc *sf_policy_get(int k)
{
    return k >= 0 && k < sf_policy_count() ? sf_policy_registry[k] : NULL;
}

const char *sf_policy_name(int k)
{
    const struct sf_policy_desc *d = sf_policy_get(k);
    return d ? d->name : "?";
}

int sf_policy_parse(const char *name)
{
    for (int k = 0; k < sf_policy_count(); k++)
        if (!strcmp(sf_policy_registry[k]->name, name))
            return k;
    return -1;
}

const struct sf_policy_desc *sf_policy_find(const char *name)
{
    return sf_policy_get(sf_policy_parse(name));
}

char *sf_policy_names(char *buf, size_t size, int online_only)
{
    size_t len = 0;
    if (size)
        buf[0] = 0;
    for (int k = 0; k < sf_policy_count() && size; k++) {
        const struct sf_policy_desc *d = sf_policy_registry[k];
        if (online_only && d->needs_future)
            continue;
        int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", d->name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    return buf;
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

int sf_policy_init(struct sf_policy *p, const struct sf_policy_desc *d,
                   const struct sf_policy_env *env, struct sf_err *err)
{
    memset(p, 0, sizeof(*p));
    if (!d || !d->ops || d->needs_future)
        return sf_err_set(err, SF_EINVAL, "policy %s: %s", d ? d->name : "?",
                          d ? "needs the whole trace: the simulator computes it" : "unknown");
    const struct sf_policy_ops *ops = d->ops;
    if (ops->state_size > sizeof(p->state))
        return sf_err_set(err, SF_EINVAL, "policy %s: state too large", d->name);
    int rc = sf_ctl_params_check(&env->ctl, err);
    if (rc != SF_OK)
        return rc;
    p->desc = d;
    p->period_epochs = 1;
    p->first_period_epoch = 1;
    rc = ops->init(p->state, env, &p->period_epochs, &p->first_period_epoch, err);
    if (rc == SF_OK && (p->period_epochs < 1 || p->first_period_epoch < 1))
        rc = sf_err_set(err, SF_EINVAL, "policy %s: bad scaling period", d->name);
    if (rc != SF_OK)
        p->desc = NULL;
    return rc;
}

int sf_policy_begin_epoch(struct sf_policy *p, const struct sf_policy_obs *obs)
{
    const struct sf_policy_ops *ops = p->desc->ops;
    ops->observe(p->state, obs);
    int64_t e = obs->epoch, f = p->first_period_epoch;
    if (e < f || (e - f) % p->period_epochs != 0 || !ops->period)
        return -1;
    return ops->period(p->state, obs);
}

int sf_policy_instance_cap(struct sf_policy *p, const struct sf_policy_obs *obs)
{
    const struct sf_policy_ops *ops = p->desc->ops;
    return ops->instance_cap ? ops->instance_cap(p->state, obs) : INT32_MAX;
}

void sf_policy_explain(const struct sf_policy *p, char *buf, size_t size)
{
    if (!size)
        return;
    buf[0] = '\0';
    if (p->desc && p->desc->ops->explain)
        p->desc->ops->explain(p->state, buf, size);
}

int sf_policy_retune(struct sf_policy *p, const struct sf_policy_env *env, struct sf_err *err)
{
    if (!p->desc || !p->desc->ops->retune)
        return sf_err_set(err, SF_EUNSUPPORTED,
                          "policy %s: its parameters cannot change while it runs",
                          p->desc ? p->desc->name : "?");
    int rc = sf_ctl_params_check(&env->ctl, err);
    if (rc != SF_OK)
        return rc;
    int64_t period = p->period_epochs;
    rc = p->desc->ops->retune(p->state, env, &period, err);
    if (rc == SF_OK && period >= 1)
        p->period_epochs = period;
    return rc;
}
