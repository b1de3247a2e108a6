/*
 * bind.h - one binding from a plan to a running policy (bind/): (plan, profile, pricing, tau,
 * policy) -> the path the policy's work takes, the policy's environment (the controller's
 * parameters with the path's capacity r and T-CIP, its prices, the expected cost of a request on
 * functions), the deadline-aware batcher's configuration with its worst-case service tables, and
 * the per-stage runtimes every batch is charged with.
 *
 * The simulator (sim/) and the server (serve/ingress/) both call sf_bind and run what it returns;
 * the CLI only prints it. So a policy replayed and the same policy served take the same path with
 * the same parameters, by construction (tests/unit/test_bind.c checks it for every policy and
 * batching).
 *
 * Pure computation: no I/O; sf_bind allocates the batcher's tables (sf_binding_fini frees them).
 */
#ifndef SERFLOW_BIND_H
#define SERFLOW_BIND_H

#include <stddef.h>

#include "serflow/batcher.h"
#include "serflow/core.h"
#include "serflow/ctl.h"
#include "serflow/model.h"
#include "serflow/plan.h"
#include "serflow/policy.h"

/* What a driver chooses; sf_bind_opts_default gives the defaults of docs/controller.md. */
struct sf_bind_opts {
    double tau;                     /* one of the plan's taus */
    enum sf_batching batching;      /* deadline-aware (default) or the paper's epoch batches */
    struct sf_ctl_params ctl;       /* mechanics every policy shares (EWMA, k, P, cold starts,
                                       rule, caps); sf_bind takes the epoch (= SLO) and B from the
                                       plan, and r, T-CIP and use_instances from the path */
    struct sf_baseline_params base; /* the baselines' own parameters */
    size_t fn_arch;                 /* pricing->fn_arch index of the functions: 0 */
    double fn_cold_start_s;         /* the function cold start the batcher allows for; < 0: the
                                       profile's (the simulator passes its container model's) */
    double margin_s;                /* kept in hand by the batcher for what its tables do not model
                                       (the server's dispatch jitter); 0 in the simulator */
    double payload_factor;          /* wire bytes per hidden-state byte; <= 0:
                                       SF_PLAN_PAYLOAD_FACTOR */
    double tcip_rps;                /* >= 0: replaces the planned T-CIP of the paths that come
                                       from the plan's choice (SF_POLICY_PATH_PLAN, _INSTANCES) or
                                       are forced; < 0: as planned */
    int force_pool;                 /* -1: the policy's path; else enum sf_pool (serve --pool) */
    int force_cut;                  /* the forced hybrid's cut */
    const char *force_vm;           /* the forced path's VM type; NULL: the cheapest */
};

void sf_bind_opts_default(struct sf_bind_opts *o);

/* A policy bound to its path. Self-contained except for `policy` (a registry row) and the tables
 * it owns; copy it only with sf_binding_copy. */
struct sf_binding {
    const struct sf_policy_desc *policy;
    struct sf_path path;
    enum sf_pool pool;        /* what the path is: FaaS only, IaaS (+ spill) or hybrid */
    enum sf_reject forced;    /* a forced path the planner rejects: why (SF_REJ_NONE: fine) */
    double planned_usd_per_s; /* the planner's cost of the path at the planning rate */
    double planned_instances; /* the planner's instance count at the planning rate */
    int n_stages;
    double tau;
    enum sf_batching batching;
    struct sf_policy_env env; /* ctl with the path's r, T-CIP, use_instances; prices */
    /* per-stage runtimes of the path (s): instance per request / per batch, and the function at
     * the path's memory */
    double vm_rq_s[SF_MAX_STAGES], vm_rb_s[SF_MAX_STAGES];
    double fn_rq_s[SF_MAX_STAGES], fn_rb_s[SF_MAX_STAGES];
    size_t fn_arch;          /* pricing->fn_arch index of the functions */
    double vm_usd_per_s;     /* one instance of the path (0 without instances) */
    double fn_usd_per_s;     /* one function at the path's memory */
    double fn_gb;            /* its memory in GB */
    double hand_off_bytes;   /* LZ4 hidden state per survivor at the cut, on the wire */
    double faas_usd_per_req; /* expected: one request through the whole model on a function */
    /* deadline batching: the batcher and its worst-case service tables for n = 0..B, on an
     * instance (NULL in batcher when the path has none) and on a function (the whole model) */
    struct sf_batcher_cfg batcher;
    double *inst_worst_s, *fn_worst_s; /* owned: one allocation of 2 (B + 1) */
};

/* Resolves the path of `policy` (or the forced one) in plan at o->tau and binds it: fills b.
 * Errors (err names them): SF_ENOTFOUND (tau not in the plan or the profile, an unknown VM type,
 * no runtime for the path's VM or function), SF_EINFEASIBLE (no function memory runs the model
 * within the SLO at tau; the policy needs an IaaS path and none is feasible; no such forced
 * path), SF_EINVAL (bad parameters). On failure b owns nothing. */
int sf_bind(struct sf_binding *b, const struct sf_plan *plan, const struct sf_profile *prof,
            const struct sf_pricing *price, const struct sf_policy_desc *policy,
            const struct sf_bind_opts *o, struct sf_err *err);

/* Binds policy to a given path (no plan): what sf_bind does after resolving the path. pool and
 * planned_usd_per_s are left for the caller. */
int sf_bind_path(struct sf_binding *b, const struct sf_path *path, const struct sf_profile *prof,
                 const struct sf_pricing *price, const struct sf_policy_desc *policy,
                 const struct sf_bind_opts *o, struct sf_err *err);

/* The path a policy takes in plan at tau (what sf_bind resolves), its pool, and the candidate's
 * planned cost and rejection (forced paths). */
int sf_bind_resolve(const struct sf_plan *plan, const struct sf_pricing *price,
                    enum sf_policy_path want, const struct sf_bind_opts *o, struct sf_path *out,
                    enum sf_pool *pool, double *planned_usd_per_s, enum sf_reject *reject,
                    double *planned_instances, struct sf_err *err);

/* Binds policy to paths that together stand for every feasible path of the plan at o->tau (for
 * the lower bound, sim.h): the FaaS path, the feasible path with the deepest cut of each VM type,
 * and one path for every further function memory of a feasible path. At most cap bindings into
 * out[] (*n of them); release each with sf_binding_fini. SF_ENOTFOUND when tau is not planned. */
int sf_bind_plan_paths(const struct sf_plan *plan, const struct sf_profile *prof,
                       const struct sf_pricing *price, const struct sf_policy_desc *policy,
                       const struct sf_bind_opts *o, struct sf_binding *out, size_t cap, size_t *n,
                       struct sf_err *err);

/* A deep copy (its own tables). */
int sf_binding_copy(struct sf_binding *dst, const struct sf_binding *src, struct sf_err *err);
void sf_binding_fini(struct sf_binding *b);

#endif
