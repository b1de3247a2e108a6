/*
 * policy.h - scaling and routing policies as modules behind one ops struct (ctl/).
 *
 * A policy turns what it observes (arrivals per epoch, the fleet's active and ready counts) into
 * two decisions: how many long-lived instances to keep (at its own scaling periods) and how many
 * of an epoch's requests may go to instances (most policies: no cap). It never touches the fleet
 * itself: the caller applies the target (the simulator to its simulated fleet, the server to its
 * provider's processes). One file per policy in src/ctl/ (pol_*.c), each a row of the registry
 * below: faas, libra, libra-orig, spock, mark, serflow, and the clairvoyant oracle and static
 * fleet, whose rows say they need the future (the simulator computes them).
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

#include "serflow/batcher.h"
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

/* What a policy's shadows price beside the env's two prices (bind.c fills it from the
 * binding; docs/controller.md, "The follow rule"). */
struct sf_policy_shadow {
    double tail_usd_per_req; /* expected function cost of an instance-served request (its tail) */
    double fee_usd;          /* per function call */
    int fn_invoke_size;      /* most requests per function call (the FaaS path and the spill) */
    int tail_calls;          /* function calls per instance batch's tail (0: IaaS, no tail) */
    double vm_min_billed_s;  /* VM billing minimum per launch */
    double inst_req_sd_s;    /* standard deviation of one request's time on an instance (the
                                stage it leaves at varies): a batch of n is busy n / r give or
                                take sqrt(n) times this; 0: always n / r */
    int batching;            /* enum sf_batching (plan.h): deadline-aware or the paper's epochs */
    /* deadline batching: the batcher the shadows run (the binding's; its worst-case tables
     * must outlive the policy) */
    struct sf_batcher_cfg batcher;
};

/* Everything a policy is told once, at init. */
struct sf_policy_env {
    struct sf_ctl_params ctl; /* epoch, B, r, T-CIP, EWMA weights, k, P, cold start, rule, caps */
    double vm_usd_per_s;      /* price of one instance of the policy's path */
    double faas_usd_per_req;  /* expected cost of one request fully on functions */
    int prior_instances;      /* the instances a plan against the traffic expects at its mean
                                 rate: the follow rule starts by following the fixed fleet of that
                                 size (0: no such plan; it starts with break-even) */
    struct sf_baseline_params base;
    struct sf_policy_shadow shadow;
};

void sf_policy_env_default(struct sf_policy_env *env);

/* Equal parts of an epoch whose arrivals an observation may count (what the follow rule's
 * shadows need to see bursts inside an epoch). */
#define SF_POLICY_OBS_SLOTS 12

/* What a policy sees at an epoch. */
struct sf_policy_obs {
    int64_t epoch;     /* 1-based; epoch e covers [(e-1) T, e T) of the trace or the wall clock */
    uint32_t arrivals; /* requests that arrived in the epoch that just ended (epoch - 1's
                          interval for a server; the epoch's own count for the simulator, which
                          routes the epoch's requests at its end) */
    int active;        /* instances launched and not terminating */
    int ready;         /* instances ready to serve */
    /* the same arrivals in SF_POLICY_OBS_SLOTS equal parts of the epoch, oldest first (they sum
     * to arrivals); NULL: spread evenly */
    const uint32_t *slot_arrivals;
};

/* Bytes of private state a policy may keep (Spock and MArk keep a window of counts; serflow's
 * follow rule its candidates' shadows). */
#define SF_POLICY_STATE_BYTES (384u * 1024u)

struct sf_policy_ops {
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
    /* Optional: why its last period() chose its target, one line of numbers into buf (the
     * server's log of each scaling decision). NULL: the driver says only what changed. */
    void (*explain)(const void *state, char *buf, size_t size);
    /* Optional: takes new parameters while running (a server's SIGHUP), keeping what it has
     * learnt (the traffic monitor, the break-even accounts). NULL: it cannot. */
    int (*retune)(void *state, const struct sf_policy_env *env, int64_t *period_epochs,
                  struct sf_err *err);
};

/* Where a policy's work runs, chosen from the plan at tau (bind.h resolves it into a path). */
#define SF_POLICY_PATH_LIST(X)                                                                     \
    X(FAAS, "faas", "functions only, at the plan's FaaS memory")                                   \
    X(PLAN, "plan", "the plan's cheapest path at tau: FaaS, IaaS or hybrid")                       \
    X(IAAS, "iaas", "the cheapest SLO-feasible IaaS at tau (the VM runs the whole model)")         \
    X(INSTANCES, "instances",                                                                      \
      "the plan's path when it has instances, else the cheapest path with instances")

#define SF__POLICY_PATH_ENUM(id, name, about) SF_POLICY_PATH_##id,
enum sf_policy_path { SF_POLICY_PATH_LIST(SF__POLICY_PATH_ENUM) SF_POLICY_PATH_COUNT };
#undef SF__POLICY_PATH_ENUM
const char *sf_policy_path_name(enum sf_policy_path p);

/* What a clairvoyant row computes from the whole trace (the simulator, sim_oracle.c). */
enum sf_future {
    SF_FUTURE_NONE = 0,     /* an online rule (ops) */
    SF_FUTURE_SCHEDULE = 1, /* the best instance schedule the dynamic program finds */
    SF_FUTURE_STATIC = 2,   /* the best fixed instance count, kept from the start */
};

/* One registry row: everything a driver (simulator, server, CLI) needs to know about a policy. */
struct sf_policy_desc {
    const char *name;    /* as on the command line: lower case, [a-z0-9-] */
    const char *summary; /* for --help: what it does, lines of at most 76 columns */
    enum sf_policy_path path;
    enum sf_future needs_future;     /* clairvoyant (non-zero): computed by the simulator from the
                                        whole trace (ops NULL); the server refuses it */
    const struct sf_policy_ops *ops; /* the online rule; NULL when needs_future */
};

/* The registry: one row per policy, each defined in its own file src/ctl/pol_<sym>.c as
 * `const struct sf_policy_desc sf__pol_<sym>`. The enum and the table are generated together from
 * this list, so they cannot drift; adding a policy is one file and one row here (a test adds one
 * through SF_POLICY_EXTRA_LIST, tests/unit/test_registry.c). */
#define SF_POLICY_LIST(X)                                                                          \
    X(FAAS, faas)                                                                                  \
    X(LIBRA, libra)                                                                                \
    X(LIBRA_ORIG, libra_orig)                                                                      \
    X(SPOCK, spock)                                                                                \
    X(MARK, mark)                                                                                  \
    X(SERFLOW, serflow)                                                                            \
    X(ORACLE, oracle)                                                                              \
    X(STATIC, static)

#define SF__POLICY_ENUM(id, sym) SF_POL_##id,
/* A policy's index in the registry. Rows a build adds after the list (SF_POLICY_EXTRA_LIST) take
 * the indices from SF_POL_BUILTIN_COUNT on: size storage with SF_POLICY_MAX, iterate to
 * sf_policy_count(). */
enum sf_policy_kind { SF_POLICY_LIST(SF__POLICY_ENUM) SF_POL_BUILTIN_COUNT };
#undef SF__POLICY_ENUM

/* Most rows a registry may hold (storage for per-policy results). */
#define SF_POLICY_MAX 32

/* The rows in registry order, NULL-terminated. */
extern const struct sf_policy_desc *const sf_policy_registry[];
/* Rows in the registry (<= SF_POLICY_MAX). */
int sf_policy_count(void);
/* The row of kind k; NULL when out of range. */
const struct sf_policy_desc *sf_policy_get(int k);
/* The name of kind k ("?" when out of range). */
const char *sf_policy_name(int k);
/* The kind of a name; -1 when unknown. */
int sf_policy_parse(const char *name);
/* The row of a name; NULL when unknown. */
const struct sf_policy_desc *sf_policy_find(const char *name);
/* "faas, libra, ..." of the rows (online ones only when online_only) into buf (always
 * NUL-terminated); returns buf. For messages and --help. */
char *sf_policy_names(char *buf, size_t size, int online_only);

/* Caller-owned policy instance: its row plus private state. */
struct sf_policy {
    const struct sf_policy_desc *desc;
    int64_t period_epochs, first_period_epoch;
    _Alignas(16) unsigned char state[SF_POLICY_STATE_BYTES];
};

/* Initialises p for the online policy d with env; SF_EINVAL with err naming the bad parameter,
 * or when d needs the future (it has no online rule). */
int sf_policy_init(struct sf_policy *p, const struct sf_policy_desc *d,
                   const struct sf_policy_env *env, struct sf_err *err);
/* observe, then period() when obs->epoch is one of the policy's scaling epochs. Returns the
 * target instance count to apply now, or -1 when there is nothing to apply. */
int sf_policy_begin_epoch(struct sf_policy *p, const struct sf_policy_obs *obs);
/* The instance cap of the epoch (after the target was applied); INT32_MAX when none. */
int sf_policy_instance_cap(struct sf_policy *p, const struct sf_policy_obs *obs);
/* Why its last decision was what it was, into buf (always NUL-terminated; "" when the policy
 * does not say). */
void sf_policy_explain(const struct sf_policy *p, char *buf, size_t size);
/* New controller parameters while running, its state kept: SF_OK, SF_EINVAL (bad parameters,
 * err names one; nothing changed) or SF_EUNSUPPORTED (this policy cannot change its parameters
 * while running; nothing changed). The scaling epochs continue from the first one with the new
 * period. */
int sf_policy_retune(struct sf_policy *p, const struct sf_policy_env *env, struct sf_err *err);

#endif
