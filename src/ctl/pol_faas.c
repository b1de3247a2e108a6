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

static const struct sf_policy_ops ops = {.state_size = 0, .init = init, .observe = observe};

const struct sf_policy_desc sf__pol_faas = {
    .name = "faas",
    .summary = "every batch on functions, the whole model; no VM ever",
    .path = SF_POLICY_PATH_FAAS,
    .ops = &ops};
