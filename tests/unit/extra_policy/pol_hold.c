/* pol_hold.c - a policy that exists only in a test build (test_registry): it holds one instance
 * on the IaaS path from the first epoch on. It shows what adding a policy takes: this one file
 * and one row (extra_policy/policy_extra.h, as a new built-in would add a row to SF_POLICY_LIST
 * in policy.h). */
#include "policy_int.h"

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    (void)state, (void)env, (void)err;
    *period_epochs = 1;
    *first_period_epoch = 1;
    return SF_OK;
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    (void)state, (void)obs;
}

static int period(void *state, const struct sf_policy_obs *obs)
{
    (void)state;
    return obs->active == 1 ? -1 : 1;
}

static const struct sf_policy_ops ops = {
    .state_size = 0, .init = init, .observe = observe, .period = period};

const struct sf_policy_desc sf__pol_hold = {.name = "hold",
                                            .summary = "test only: one VM from the first epoch",
                                            .path = SF_POLICY_PATH_IAAS,
                                            .ops = &ops};
