/* pol_libra.c - LIBRA as the SERFLOW paper evaluates it: the {IaaS, FaaS} pool (the VM runs the
 * whole model) under the same monitor, scaling manager and balancer as serflow, with the paper's
 * rule (mu + k sigma, q = floor(D / r), one more when the residual exceeds the IaaS-vs-FaaS
 * T-CIP). The caller gives it the IaaS path and that path's T-CIP in env->ctl. */
#include "policy_int.h"

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    (void)err;
    return sf__monitor_policy_init(state, env, SF_SCALE_PAPER, period_epochs, first_period_epoch);
}

static const struct sf_policy_ops ops = {.state_size = sizeof(struct sf__monitor_policy),
                                         .init = init,
                                         .observe = sf__monitor_policy_observe,
                                         .period = sf__monitor_policy_period,
                                         .explain = sf__monitor_policy_explain,
                                         .retune = sf__monitor_policy_retune};

const struct sf_policy_desc sf__pol_libra = {
    .name = "libra",
    .summary = "LIBRA as the SERFLOW paper runs it: VMs with the whole\n"
               "model (cheapest IaaS), mu + k sigma and T-CIP, FaaS spill",
    .path = SF_POLICY_PATH_IAAS,
    .ops = &ops};
