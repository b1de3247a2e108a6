/*
 * bind.c - the one binding from a plan to a running policy (bind.h): which path each policy runs
 * (the registry row says which of the plan's choices it takes), the controller parameters of that
 * path, its runtimes and prices, the expected cost of a request on functions, and the deadline
 * batcher's worst-case service tables. The simulator and the server both run what this returns.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/bind.h"

void sf_bind_opts_default(struct sf_bind_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tau = 0.7;
    o->batching = SF_BATCHING_DEADLINE;
    struct sf_policy_env env;
    sf_policy_env_default(&env);
    o->ctl = env.ctl;
    o->base = env.base;
    o->fn_cold_start_s = -1;
    o->payload_factor = SF_PLAN_PAYLOAD_FACTOR;
    o->tcip_rps = -1;
    o->force_pool = -1;
    o->force_cut = -1;
}

/* The plan's index of tau, or -1. */
static long tau_index(const struct sf_plan *plan, double tau)
{
    for (size_t t = 0; t < plan->n_tau; t++)
        if (fabs(plan->alt[t * plan->alt_per_tau].tau - tau) <= 1e-9)
            return (long)t;
    return -1;
}

/* The forced path: pool at tau (and cut for a hybrid), the cheapest feasible VM type (or the
 * named one); a rejected candidate only when no feasible one exists. */
static const struct sf_candidate *forced(const struct sf_plan *plan, const struct sf_pricing *price,
                                         const struct sf_bind_opts *o)
{
    const struct sf_candidate *best = NULL;
    for (size_t i = 0; i < plan->n_alt; i++) {
        const struct sf_candidate *c = &plan->alt[i];
        if (fabs(c->tau - o->tau) > 1e-9 || (int)c->pool != o->force_pool || c->fn_mem_mb <= 0)
            continue;
        if (o->force_pool == SF_POOL_HYBRID && c->cut != o->force_cut)
            continue;
        if (o->force_vm && (c->vm < 0 || strcmp(price->vm[c->vm].name, o->force_vm) != 0))
            continue;
        int feas = c->reject == SF_REJ_NONE, bfeas = best && best->reject == SF_REJ_NONE;
        if (!best || (feas && !bfeas) ||
            (feas == bfeas && c->rank_usd_per_s < best->rank_usd_per_s))
            best = c;
    }
    return best;
}

int sf_bind_resolve(const struct sf_plan *plan, const struct sf_pricing *price,
                    enum sf_policy_path want, const struct sf_bind_opts *o, struct sf_path *out,
                    enum sf_pool *pool, double *planned_usd_per_s, enum sf_reject *reject,
                    double *planned_instances, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    *reject = SF_REJ_NONE;
    long t = tau_index(plan, o->tau);
    if (t < 0)
        return sf_err_set(err, SF_ENOTFOUND, "tau %g is not in the plan", o->tau);
    const int *found = plan->per_tau_found[t];
    const struct sf_candidate *c = plan->per_tau[t], *pick = NULL;
    if (!found[SF_POOL_FAAS])
        return sf_err_set(err, SF_EINFEASIBLE,
                          "no function memory runs the model within the SLO at tau %g", o->tau);
    if (o->force_pool >= 0) {
        if (o->force_pool > SF_POOL_HYBRID)
            return sf_err_set(err, SF_EINVAL, "unknown pool %d", o->force_pool);
        if (o->force_vm) {
            size_t v = 0;
            while (v < price->n_vm && strcmp(price->vm[v].name, o->force_vm) != 0)
                v++;
            if (v == price->n_vm)
                return sf_err_set(err, SF_ENOTFOUND, "VM type '%.64s' is not in the catalog",
                                  o->force_vm);
        }
        pick = forced(plan, price, o);
        if (!pick)
            return sf_err_set(err, SF_EINFEASIBLE, "no %s configuration%s at tau %g in the plan",
                              sf_pool_name((enum sf_pool)o->force_pool),
                              o->force_pool == SF_POOL_HYBRID ? " with that cut" : "", o->tau);
        *reject = pick->reject;
    } else {
        switch (want) {
        case SF_POLICY_PATH_FAAS:
            pick = &c[SF_POOL_FAAS];
            break;
        case SF_POLICY_PATH_PLAN: {
            /* the plan's order (ties within rounding go to the simpler pool), so that serflow
             * runs the path `serflow plan --tau` prints */
            int best = SF_POOL_FAAS;
            for (int p = 1; p < 3; p++)
                if (found[p] && sf_plan_better(&c[p], &c[best]))
                    best = p;
            pick = &c[best];
            break;
        }
        case SF_POLICY_PATH_IAAS:
            if (!found[SF_POOL_IAAS])
                return sf_err_set(err, SF_EINFEASIBLE,
                                  "no SLO-feasible IaaS configuration at tau %g in the plan",
                                  o->tau);
            pick = &c[SF_POOL_IAAS];
            break;
        case SF_POLICY_PATH_INSTANCES: {
            /* the plan's choice when it has instances, else the cheapest path with them */
            int best = SF_POOL_FAAS;
            for (int p = 1; p < 3; p++)
                if (found[p] && sf_plan_better(&c[p], &c[best]))
                    best = p;
            if (best == SF_POOL_FAAS) {
                int inst = -1;
                for (int p = 1; p < 3; p++)
                    if (found[p] && (inst < 0 || sf_plan_better(&c[p], &c[inst])))
                        inst = p;
                if (inst >= 0)
                    best = inst;
            }
            pick = &c[best];
            break;
        }
        default:
            return sf_err_set(err, SF_EINVAL, "unknown policy path %d", (int)want);
        }
    }
    *out = sf_plan_path(pick);
    out->fn_invoke_size = plan->fn_invoke_size; /* every path invokes functions as planned */
    *pool = pick->pool;
    *planned_usd_per_s = pick->cost_usd_per_s;
    if (planned_instances)
        *planned_instances = pick->split.instances;
    return SF_OK;
}

/* The runtimes and prices of a path. */
static int path_runtimes(struct sf_binding *b, const struct sf_profile *prof,
                         const struct sf_pricing *price, const struct sf_bind_opts *o,
                         struct sf_err *err)
{
    const struct sf_path *p = &b->path;
    const char *arch = price->fn_arch[o->fn_arch].name;
    if (sf_fn_runtime_at(prof, price, arch, p->fn_mem_mb, b->fn_rq_s, b->fn_rb_s) != SF_OK)
        return sf_err_set(err, SF_ENOTFOUND, "no function runtime for arch %s", arch);
    b->fn_usd_per_s = sf_pricing_fn_usd_per_s(price, o->fn_arch, p->fn_mem_mb);
    b->fn_gb = p->fn_mem_mb / 1024.0;
    if (p->has_instances) {
        if (p->vm < 0 || (size_t)p->vm >= price->n_vm)
            return sf_err_set(err, SF_EINVAL, "bad VM index %d", p->vm);
        if (p->cut < 1 || p->cut > prof->n_stages)
            return sf_err_set(err, SF_EINVAL, "cut %d is outside 1..%d", p->cut, prof->n_stages);
        const struct sf_runtime *v = sf_profile_vm_runtime(prof, price->vm[p->vm].name);
        if (!v)
            return sf_err_set(err, SF_ENOTFOUND, "no runtime for VM %s in the profile",
                              price->vm[p->vm].name);
        memcpy(b->vm_rq_s, v->per_request_s, sizeof(b->vm_rq_s));
        memcpy(b->vm_rb_s, v->per_batch_s, sizeof(b->vm_rb_s));
        b->vm_usd_per_s = price->vm[p->vm].price_usd_per_s;
        if (p->cut < prof->n_stages) {
            double f = o->payload_factor > 0 ? o->payload_factor : SF_PLAN_PAYLOAD_FACTOR;
            b->hand_off_bytes = prof->stage[p->cut - 1].hidden_bytes_lz4 * f;
        }
    }
    const struct sf_exit_row *row = sf_profile_exits(prof, o->tau);
    if (!row)
        return sf_err_set(err, SF_ENOTFOUND, "tau %g is not in the profile", o->tau);
    double s[SF_MAX_STAGES], work = 0;
    sf_profile_survival(prof, row, s);
    for (int i = 0; i < prof->n_stages; i++)
        work += s[i] * b->fn_rq_s[i];
    /* the expected cost of one request on functions (MArk compares instances with it); fees are
     * per batch and left out */
    b->faas_usd_per_req = b->fn_usd_per_s * work;
    double tail = 0;
    for (int i = p->has_instances ? p->cut : prof->n_stages; i < prof->n_stages; i++)
        tail += s[i] * b->fn_rq_s[i];
    b->env.shadow.tail_usd_per_req = b->fn_usd_per_s * tail;
    if (p->has_instances) { /* one request's time on the instance, by the stage it leaves at */
        double mean_s = 0, sq_s2 = 0, head_s = 0;
        for (int i = 0; i < p->cut; i++) {
            head_s += b->vm_rq_s[i];
            double leave = s[i] - (i + 1 < p->cut ? s[i + 1] : 0); /* after stage i or the cut */
            mean_s += leave * head_s;
            sq_s2 += leave * head_s * head_s;
        }
        double var_s2 = sq_s2 - mean_s * mean_s;
        b->env.shadow.inst_req_sd_s = var_s2 > 0 ? sqrt(var_s2) : 0;
    }
    b->env.shadow.fee_usd = price->fn_request_fee_usd;
    b->env.shadow.vm_min_billed_s = price->vm_billing_minimum_s;
    return SF_OK;
}

/* The deadline batcher's worst-case tables: the planner's (sf_service_tables) with the driver's
 * function cold start as the allowance wherever a function may cold-start. */
static int batcher_tables(struct sf_binding *b, const struct sf_profile *prof,
                          const struct sf_pricing *price, const struct sf_bind_opts *o,
                          struct sf_err *err)
{
    int B = b->env.ctl.batch_size;
    double *t = calloc(2 * ((size_t)B + 1), sizeof(double));
    if (!t)
        return sf_err_set(err, SF_ENOMEM, "out of memory for the batcher's tables");
    b->inst_worst_s = t;
    b->fn_worst_s = t + B + 1;
    int rc = sf_service_tables(prof, price, o->fn_arch, &b->path, B, b->inst_worst_s, b->fn_worst_s,
                               err);
    if (rc != SF_OK)
        return rc;
    if (o->fn_cold_start_s >= 0) {
        double dcold = o->fn_cold_start_s - prof->fn_cold_start_s;
        for (int n = 1; n <= B; n++) {
            b->fn_worst_s[n] += dcold;
            if (b->path.has_instances && b->path.cut < prof->n_stages)
                b->inst_worst_s[n] += dcold;
        }
    }
    b->env.shadow.batching = o->batching;
    int nf = b->path.fn_invoke_size;
    b->env.shadow.fn_invoke_size = nf > 0 && nf < B ? nf : B;
    b->env.shadow.tail_calls = b->path.has_instances && b->path.cut < prof->n_stages
                                   ? (b->path.tail_fanout > 1 ? b->path.tail_fanout : 1)
                                   : 0;
    b->batcher =
        (struct sf_batcher_cfg){.slo_s = b->env.ctl.epoch_s,
                                .batch_size = B,
                                .inst_worst_s = b->path.has_instances ? b->inst_worst_s : NULL,
                                .fn_worst_s = b->fn_worst_s,
                                .margin_s = o->margin_s};
    b->env.shadow.batcher = b->batcher; /* the follow rule's shadows run the same batcher */
    return sf_batcher_check(&b->batcher, err);
}

int sf_bind_path(struct sf_binding *b, const struct sf_path *path, const struct sf_profile *prof,
                 const struct sf_pricing *price, const struct sf_policy_desc *policy,
                 const struct sf_bind_opts *o, struct sf_err *err)
{
    memset(b, 0, sizeof(*b));
    if (!policy)
        return sf_err_set(err, SF_EINVAL, "no policy to bind");
    if (o->fn_arch >= price->n_fn_arch)
        return sf_err_set(err, SF_EINVAL, "function arch %zu is not in the catalog", o->fn_arch);
    if (o->batching != SF_BATCHING_DEADLINE && o->batching != SF_BATCHING_EPOCH)
        return sf_err_set(err, SF_EINVAL, "unknown batching %d", (int)o->batching);
    if (!(o->margin_s >= 0) || !isfinite(o->margin_s))
        return sf_err_set(err, SF_EINVAL, "the batcher's margin must be >= 0 s");
    b->policy = policy;
    b->path = *path;
    b->pool = !path->has_instances          ? SF_POOL_FAAS
              : path->cut >= prof->n_stages ? SF_POOL_IAAS
                                            : SF_POOL_HYBRID;
    b->n_stages = prof->n_stages;
    b->fn_arch = o->fn_arch;
    b->tau = o->tau;
    b->batching = o->batching;
    b->env.ctl = o->ctl;
    b->env.base = o->base;
    b->env.ctl.use_instances = path->has_instances;
    b->env.ctl.tcip_rps = path->tcip_rps;
    if (path->capacity_rps > 0 && isfinite(path->capacity_rps))
        b->env.ctl.capacity_rps = path->capacity_rps; /* the plan's r for this path's batches */
    int rc = sf_ctl_params_check(&b->env.ctl, err);
    if (rc == SF_OK)
        rc = path_runtimes(b, prof, price, o, err);
    if (rc == SF_OK) {
        b->env.vm_usd_per_s = b->vm_usd_per_s;
        b->env.faas_usd_per_req = b->faas_usd_per_req;
        rc = batcher_tables(b, prof, price, o, err);
    }
    if (rc != SF_OK)
        sf_binding_fini(b);
    return rc;
}

int sf_bind(struct sf_binding *b, const struct sf_plan *plan, const struct sf_profile *prof,
            const struct sf_pricing *price, const struct sf_policy_desc *policy,
            const struct sf_bind_opts *o, struct sf_err *err)
{
    memset(b, 0, sizeof(*b));
    if (!policy)
        return sf_err_set(err, SF_EINVAL, "no policy to bind");
    struct sf_path path;
    enum sf_pool pool;
    double planned, instances = 0;
    enum sf_reject rej;
    int rc = sf_bind_resolve(plan, price, policy->path, o, &path, &pool, &planned, &rej, &instances,
                             err);
    if (rc != SF_OK) {
        if (rc == SF_EINFEASIBLE && policy->path == SF_POLICY_PATH_IAAS && o->force_pool < 0)
            return sf_err_set(err, rc,
                              "policy %s needs an SLO-feasible IaaS configuration at tau "
                              "%g and the plan has none",
                              policy->name, o->tau);
        return rc;
    }
    if (o->tcip_rps >= 0 && path.has_instances &&
        (o->force_pool >= 0 || policy->path == SF_POLICY_PATH_PLAN ||
         policy->path == SF_POLICY_PATH_INSTANCES))
        path.tcip_rps = o->tcip_rps;
    /* epochs are the plan's SLO intervals and batches the plan's B, as the planner priced them */
    struct sf_bind_opts po = *o;
    po.ctl.epoch_s = plan->slo_s;
    po.ctl.batch_size = plan->batch_size;
    po.ctl.capacity_rps = plan->batch_size / plan->slo_s;
    rc = sf_bind_path(b, &path, prof, price, policy, &po, err);
    if (rc != SF_OK)
        return rc;
    b->pool = pool;
    b->forced = rej;
    b->planned_usd_per_s = planned;
    b->planned_instances = instances;
    /* planned against the traffic: the fleet it expects at the traffic's mean is where the
     * online rule starts (the follow rule follows that fixed fleet until evidence says
     * otherwise) */
    if (plan->traffic && path.has_instances && instances >= 1)
        b->env.prior_instances = (int)lround(instances);
    return SF_OK;
}

int sf_bind_plan_paths(const struct sf_plan *plan, const struct sf_profile *prof,
                       const struct sf_pricing *price, const struct sf_policy_desc *policy,
                       const struct sf_bind_opts *o, struct sf_binding *out, size_t cap, size_t *n,
                       struct sf_err *err)
{
    *n = 0;
    long t = tau_index(plan, o->tau);
    if (t < 0)
        return sf_err_set(err, SF_ENOTFOUND, "tau %g is not in the plan", o->tau);
    const struct sf_candidate *c = plan->alt + (size_t)t * plan->alt_per_tau, *pick[SF_POLICY_MAX];
    size_t np = 0;
    /* the deepest feasible cut of each VM type (and the FaaS path), then one path for each
     * function memory not seen yet */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < plan->alt_per_tau; i++) {
            const struct sf_candidate *x = &c[i];
            if ((x->reject != SF_REJ_NONE && x->reject != SF_REJ_ACCURACY) || x->fn_mem_mb <= 0)
                continue;
            size_t j = 0;
            for (; j < np; j++) {
                const struct sf_candidate *y = pick[j];
                if (pass == 1 ? y->fn_mem_mb == x->fn_mem_mb
                              : (y->pool == SF_POOL_FAAS) == (x->pool == SF_POOL_FAAS) &&
                                    (x->pool == SF_POOL_FAAS || y->vm == x->vm))
                    break;
            }
            if (j < np) {
                if (pass == 0 && x->cut > pick[j]->cut)
                    pick[j] = x;
                continue;
            }
            if (np < SF_POLICY_MAX && np < cap)
                pick[np++] = x;
        }
    }
    struct sf_bind_opts po = *o;
    po.force_pool = -1;
    po.ctl.epoch_s = plan->slo_s;
    po.ctl.batch_size = plan->batch_size;
    po.ctl.capacity_rps = plan->batch_size / plan->slo_s;
    for (size_t i = 0; i < np; i++) {
        struct sf_path path = sf_plan_path(pick[i]);
        path.fn_invoke_size = plan->fn_invoke_size;
        int rc = sf_bind_path(&out[*n], &path, prof, price, policy, &po, err);
        if (rc != SF_OK) {
            for (size_t j = 0; j < *n; j++)
                sf_binding_fini(&out[j]);
            *n = 0;
            return rc;
        }
        out[*n].pool = pick[i]->pool;
        out[*n].planned_usd_per_s = pick[i]->cost_usd_per_s;
        (*n)++;
    }
    return SF_OK;
}

int sf_binding_copy(struct sf_binding *dst, const struct sf_binding *src, struct sf_err *err)
{
    *dst = *src;
    dst->inst_worst_s = dst->fn_worst_s = NULL;
    dst->batcher.inst_worst_s = dst->batcher.fn_worst_s = NULL;
    dst->env.shadow.batcher = dst->batcher;
    if (!src->inst_worst_s)
        return SF_OK;
    size_t n = (size_t)src->env.ctl.batch_size + 1;
    double *t = malloc(2 * n * sizeof(double));
    if (!t)
        return sf_err_set(err, SF_ENOMEM, "out of memory for the batcher's tables");
    memcpy(t, src->inst_worst_s, 2 * n * sizeof(double));
    dst->inst_worst_s = t;
    dst->fn_worst_s = t + n;
    dst->batcher.inst_worst_s = src->batcher.inst_worst_s ? dst->inst_worst_s : NULL;
    dst->batcher.fn_worst_s = dst->fn_worst_s;
    dst->env.shadow.batcher = dst->batcher;
    return SF_OK;
}

void sf_binding_fini(struct sf_binding *b)
{
    free(b->inst_worst_s);
    b->inst_worst_s = b->fn_worst_s = NULL;
    b->batcher.inst_worst_s = b->batcher.fn_worst_s = NULL;
    b->env.shadow.batcher.inst_worst_s = b->env.shadow.batcher.fn_worst_s = NULL;
}
