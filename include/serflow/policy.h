/*
 * policy.h - scaling and routing policies as modules behind one ops struct (ctl/).
 *
 * A policy turns what it observes (arrivals per epoch, the fleet's active and ready counts) into
 * two decisions: how many long-lived instances to keep (at its own scaling periods) and how many
 * of an epoch's requests may go to instances (most policies: no cap). It never touches the fleet
 * itself: the caller applies the target (the simulator to its simulated fleet, the server to its
 * provider's processes). One file per policy in src/ctl/: faas, serflow, libra, libra-orig,
 * spock, mark. The oracle and the static fleet need the future and stay in sim/.
 *
 * Pure: no I/O, no clock reads, no allocation. Each policy's state is private to its file and
 * lives in caller-owned storage inside struct sf_policy (SF_POLICY_STATE_BYTES, checked at
 * compile time by every policy).
 *
 * Call order per epoch (the same in the simulator and the server):
 *     target = sf_policy_begin_epoch(&p, &obs);     observe arrivals; at a scaling epoch decide
 *     if (target >= 0) apply it to the fleet;       launch / terminate
 *     obs.active, obs.ready = the fleet after that;
 *     cap = sf_policy_instance_cap(&p, &obs);       requests of this epoch allowed on instances
 */
#ifndef SERFLOW_POLICY_H
#define SERFLOW_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/ctl.h"

/* Parameters of the baselines (SERFLOW.md section 6); defaults in sf_policy_env_default and
 * docs/controller.md. */
struct sf_baseline_params {
    int spock_window_epochs;    /* Spock: reactive window and period: 10 epochs (60 s) */
    int mark_period_epochs;     /* MArk: decision period: 10 epochs (60 s) */
    int mark_lookahead_steps;   /* MArk: periods priced ahead: 6 */
    int mark_hysteresis_rounds; /* MArk: rounds in a row wanting fewer before scale-in: 6 */
    double mark_headroom;       /* MArk: forecast = headroom x recent peak: 1.2 */
    /* LIBRA as its public simulator does it (IC2E'21) */
    double libra_orig_period_s;   /* VM share recomputed every: 300 s, from the first epoch */
    double libra_orig_alpha;      /* EWMA weight of the mean: 0.2 */
    double libra_orig_beta;       /* EWMA weight of the deviation: 0.2 */
    double libra_orig_sigma_k;    /* share = mean + sigma_k x deviation: 1 */
    double libra_orig_vm_share;   /* fraction of the share routed to VMs: 0.8 */
    int libra_orig_integer_share; /* share truncated to an integer rate, as LIBRA does: 1 */
};

/* Everything a policy is told once, at init. */
struct sf_policy_env {
    struct sf_ctl_params ctl; /* epoch, B, r, T-CIP, EWMA weights, k, P, cold start, rule, caps */
    double vm_usd_per_s;      /* price of one instance of the policy's path */
    double faas_usd_per_req;  /* expected cost of one request fully on functions */
    struct sf_baseline_params base;
};

void sf_policy_env_default(struct sf_policy_env *env);

/* What a policy sees at an epoch. */
struct sf_policy_obs {
    int64_t epoch;     /* 1-based; epoch e covers [(e-1) T, e T) of the trace or the wall clock */
    uint32_t arrivals; /* requests that arrived in the epoch that just ended (epoch - 1's
                          interval for a server; the epoch's own count for the simulator, which
                          routes the epoch's requests at its end) */
    int active;        /* instances launched and not terminating */
    int ready;         /* instances ready to serve */
};

/* Bytes of private state a policy may keep (Spock and MArk keep a window of counts). */
#define SF_POLICY_STATE_BYTES (20u * 1024u)

struct sf_policy_ops {
    const char *name;
    size_t state_size; /* <= SF_POLICY_STATE_BYTES */
    /* Checks env and fills the state; sets *period_epochs (>= 1) and *first_period_epoch (>= 1):
     * the epochs at which period() is called are first, first + period, ... */
    int (*init)(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                int64_t *first_period_epoch, struct sf_err *err);
    /* Every epoch, first: takes the observation (monitor updates, windows). */
    void (*observe)(void *state, const struct sf_policy_obs *obs);
    /* At the policy's scaling epochs, after observe: the target instance count, or -1 to keep. */
    int (*period)(void *state, const struct sf_policy_obs *obs);
    /* Every epoch, after the target was applied (obs has the fleet's counts after it): the most
     * requests of this epoch that may go to instances; INT32_MAX for no cap. NULL: no cap. */
    int (*instance_cap)(void *state, const struct sf_policy_obs *obs);
};

/* Caller-owned policy instance: ops plus private state. */
struct sf_policy {
    const struct sf_policy_ops *ops;
    int64_t period_epochs, first_period_epoch;
    _Alignas(16) unsigned char state[SF_POLICY_STATE_BYTES];
};

/* The policies in ctl/, in a stable order; NULL-terminated. */
extern const struct sf_policy_ops *const sf_policies[];
/* By name ("faas", "serflow", "libra", "libra-orig", "spock", "mark"); NULL when unknown. */
const struct sf_policy_ops *sf_policy_ops_find(const char *name);

/* Initialises p with ops and env; SF_EINVAL with err naming the bad parameter. */
int sf_policy_init(struct sf_policy *p, const struct sf_policy_ops *ops,
                   const struct sf_policy_env *env, struct sf_err *err);
/* observe, then period() when obs->epoch is one of the policy's scaling epochs. Returns the
 * target instance count to apply now, or -1 when there is nothing to apply. */
int sf_policy_begin_epoch(struct sf_policy *p, const struct sf_policy_obs *obs);
/* The instance cap of the epoch (after the target was applied); INT32_MAX when none. */
int sf_policy_instance_cap(struct sf_policy *p, const struct sf_policy_obs *obs);

#endif
