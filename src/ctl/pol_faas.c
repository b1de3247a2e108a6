/* pol_faas.c - FaaS-only: every batch to a function, no instance ever. */
#include "policy_int.h"

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    (void)state, (void)env, (void)period_epochs, (void)first_period_epoch, (void)err;
    return SF_OK;
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    (void)state, (void)obs;
}

const struct sf_policy_ops sf__policy_faas = {
    .name = "faas", .state_size = 0, .init = init, .observe = observe};
