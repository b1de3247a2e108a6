/* pol_spock.c - Spock-style reactive VM autoscaling: every W epochs, N = ceil(mean rate of the
 * last W epochs / r); everything above ready capacity spills to functions (the balancer). */
#include <math.h>

#include "policy_int.h"

struct st {
    double epoch_s, capacity_rps;
    int window;
    struct sf__ring ring;
};
SF__POLICY_STATE_FITS(struct st);

static int init(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err)
{
    struct st *s = state;
    int w = env->base.spock_window_epochs;
    if (w < 1 || w > SF__POL_RING_MAX)
        return sf_err_set(err, SF_EINVAL, "spock: window must be in [1, %d] epochs",
                          SF__POL_RING_MAX);
    s->epoch_s = env->ctl.epoch_s;
    s->capacity_rps = env->ctl.capacity_rps;
    s->window = w;
    *period_epochs = *first_period_epoch = w;
    return SF_OK;
}

static void observe(void *state, const struct sf_policy_obs *obs)
{
    sf__ring_push(&((struct st *)state)->ring, obs->arrivals);
}

static int period(void *state, const struct sf_policy_obs *obs)
{
    (void)obs;
    struct st *s = state;
    double sum = 0;
    for (int k = 0; k < s->window && k < s->ring.n; k++)
        sum += sf__ring_back(&s->ring, k);
    double mean_rps = sum / (s->window * s->epoch_s);
    return (int)ceil(mean_rps / s->capacity_rps - SF__POL_EPS);
}

static const struct sf_policy_ops ops = {
    .state_size = sizeof(struct st), .init = init, .observe = observe, .period = period};

const struct sf_policy_desc sf__pol_spock = {
    .name = "spock",
    .summary = "Spock: VMs for the last window's mean rate (reactive),\n"
               "the rest on functions",
    .path = SF_POLICY_PATH_IAAS,
    .ops = &ops};
