/*
 * plan.c - the configurators of SERFLOW.md section 4.
 *
 * Alg. 1 (SLO-aware) keeps a configuration when a full batch whose requests all run every stage
 * finishes within the SLO. Alg. 2 (sparsity-aware) prices every SLO-feasible configuration with
 * the cost model at the planning rate, for every tau that meets the accuracy floor, and keeps the
 * cheapest. Work: O(taus * vm_types * cuts * memories); per-memory prefix sums make each cut O(1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/plan.h"

#define NAME(name, text) text,
static const char *const pool_names[] = {SF_POOL_LIST(NAME)};
static const char *const reject_names[] = {SF_REJECT_LIST(NAME)};
#undef NAME

const char *sf_pool_name(enum sf_pool pool)
{
    return (size_t)pool < SF_ARRAY_LEN(pool_names) ? pool_names[pool] : "?";
}

const char *sf_reject_name(enum sf_reject r)
{
    return (size_t)r < SF_ARRAY_LEN(reject_names) ? reject_names[r] : "?";
}

void sf_plan_opts_default(struct sf_plan_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tau = -1;
}

double sf_fn_effective_vcpus(int mem_mb, int mb_per_vcpu, double partial_efficiency)
{
    if (mem_mb <= mb_per_vcpu)
        return (double)mem_mb / mb_per_vcpu;
    int whole = mem_mb / mb_per_vcpu;
    double part = (double)(mem_mb - whole * mb_per_vcpu) / mb_per_vcpu;
    return whole + part * partial_efficiency;
}

int sf_fn_runtime_at(const struct sf_profile *prof, const struct sf_pricing *price,
                     const char *arch, int mem_mb, double *per_request_s, double *per_batch_s)
{
    const struct sf_runtime *near = NULL;
    for (size_t i = 0; i < prof->n_rt; i++) {
        const struct sf_runtime *r = &prof->rt[i];
        if (r->kind != SF_RT_FUNCTION || strcmp(r->name, arch) != 0)
            continue;
        if (!near || abs(r->mem_mb - mem_mb) < abs(near->mem_mb - mem_mb))
            near = r;
    }
    if (!near)
        return SF_ENOTFOUND;
    double factor = 1.0;
    if (near->mem_mb != mem_mb) {
        double v0 = sf_fn_effective_vcpus(near->mem_mb, price->fn_mb_per_vcpu,
                                          prof->fn_partial_vcpu_efficiency);
        double v1 =
            sf_fn_effective_vcpus(mem_mb, price->fn_mb_per_vcpu, prof->fn_partial_vcpu_efficiency);
        factor = pow(v0 / v1, prof->fn_scaling_exponent);
    }
    for (int i = 0; i < prof->n_stages; i++) {
        per_request_s[i] = near->per_request_s[i] * factor;
        per_batch_s[i] = near->per_batch_s[i] * factor;
    }
    return SF_OK;
}

/* Everything about one function memory size that does not depend on tau. */
struct mem_info {
    int mem_mb;
    double usd_per_s;
    double per_req_s[SF_MAX_STAGES];
    double per_batch_s[SF_MAX_STAGES];
    double batch_prefix_s[SF_MAX_STAGES + 1]; /* worst-case batch time of stages 1..i */
    double req_prefix_s[SF_MAX_STAGES + 1];   /* per-request time of stages 1..i */
    double fix_prefix_s[SF_MAX_STAGES + 1];   /* per-batch (per-invocation) time of stages 1..i */
    double full_latency_s;                    /* full model + cold start */
};

/* One VM type's prefix sums: worst-case time of stages 1..i for a batch of B (epoch batching),
 * per request and per batch (deadline batching sizes batches itself). */
struct vm_info {
    const struct sf_runtime *rt;
    double batch_prefix_s[SF_MAX_STAGES + 1];
    double req_prefix_s[SF_MAX_STAGES + 1];
    double fix_prefix_s[SF_MAX_STAGES + 1];
};

struct ctx {
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    struct sf_plan *plan;
    struct mem_info *mem;
    size_t n_mem;
    int n;
    int fn_payload_ok;     /* a full batch of inputs fits in one invocation */
    double payload_factor; /* bytes on the wire per byte of payload (4/3: base64 in JSON) */
    int max_fanout;        /* largest k considered: min(B, SF_PLAN_MAX_FANOUT) */
    int deadline;          /* deadline batching (SF_BATCHING_DEADLINE) */
    double vm_cold_epochs; /* planning against the traffic: a launch's cold start */
    const double *traffic; /* per-epoch rates, or NULL */
    size_t n_traffic;
    double *scratch; /* 2 (SF_CTL_MAX_INSTANCES + 1) doubles for traffic_cost */
};

/* Worst-case batch time of stages 1..i on a runtime (all B requests reach every stage). */
static void batch_prefix(const double *per_req, const double *per_batch, int n, int batch,
                         double *prefix)
{
    prefix[0] = 0;
    for (int i = 0; i < n; i++)
        prefix[i + 1] = prefix[i] + batch * per_req[i] + per_batch[i];
}

int sf_plan_better(const struct sf_candidate *a, const struct sf_candidate *b)
{
    /* Costs within a millionth are a tie: rounding in the inputs (a rate of 16.666667 against
     * r = 100/6) must not decide the plan; accuracy and margins do. */
    double tol = SF_PLAN_TIE_REL * fabs(b->rank_usd_per_s);
    if (a->rank_usd_per_s < b->rank_usd_per_s - tol)
        return 1;
    if (a->rank_usd_per_s > b->rank_usd_per_s + tol)
        return 0;
    /* equal cost: the more accurate tau; then the simpler system (fewer instances at the
     * planning rate, then FaaS before IaaS before hybrid: a pool that buys no instance here is
     * FaaS in all but name); then the larger SLO margin, then the faster spill */
    if (a->accuracy != b->accuracy)
        return a->accuracy > b->accuracy;
    if (a->split.instances != b->split.instances)
        return a->split.instances < b->split.instances;
    if (a->pool != b->pool)
        return a->pool < b->pool;
    if (a->slo_margin_s != b->slo_margin_s)
        return a->slo_margin_s > b->slo_margin_s;
    return a->spill_margin_s > b->spill_margin_s;
}

static void fill_costcfg(const struct ctx *x, const double *survival, const struct mem_info *m,
                         const struct sf_candidate *cand, double vm_usd_per_s, struct sf_costcfg *c)
{
    c->n_stages = x->n;
    c->cut = cand->cut;
    c->tail_fanout = cand->tail_fanout > 1 ? cand->tail_fanout : 1;
    c->fn_invoke_size = cand->fn_batch > 0 ? cand->fn_batch : x->plan->fn_invoke_size;
    c->capacity_rps = cand->capacity_rps > 0 ? cand->capacity_rps : x->plan->capacity_rps;
    c->batch_size = cand->inst_batch > 0 ? cand->inst_batch : x->plan->batch_size;
    c->vm_usd_per_s = vm_usd_per_s;
    c->fn_usd_per_s = m->usd_per_s;
    c->fn_fee_usd = x->price->fn_request_fee_usd;
    for (int i = 0; i < x->n; i++) {
        c->fn_work_s[i] = survival[i] * m->per_req_s[i] +
                          (survival[i] > 0 ? m->per_batch_s[i] / c->batch_size : 0.0);
        c->fn_batch_s[i] = survival[i] > 0 ? m->per_batch_s[i] : 0.0;
    }
}

static void price(const struct ctx *x, const double *survival, const struct mem_info *m,
                  double vm_usd_per_s, struct sf_candidate *cand)
{
    struct sf_costcfg c;
    fill_costcfg(x, survival, m, cand, vm_usd_per_s, &c);
    cand->fn_mem_mb = m->mem_mb;
    cand->cost_usd_per_s = sf_cost_usd_per_s(&c, x->plan->rate_rps, &cand->split);
    cand->rank_usd_per_s = cand->cost_usd_per_s;
    cand->expected_usd_per_s = NAN;
    cand->tcip_rps = sf_tcip_rps(&c);
}

/* The hybrid's tail fan-out for one memory: the smallest k (1..max_fanout) whose chunk of
 * ceil(B / k) survivors fits the payload cap on the wire and whose worst case (head on the VM,
 * the hand-off of all B hidden states, the tail of one chunk, a cold start) meets the SLO. The
 * smallest feasible k is also the cheapest: every extra call adds a request fee and the tail's
 * per-invocation time. When none fits, k = max_fanout with *reject the binding constraint. */
static int choose_fanout(const struct ctx *x, const struct mem_info *m, const double *head_prefix,
                         int c, double *latency_s, double *payload_bytes, enum sf_reject *reject)
{
    const struct sf_profile *p = x->prof;
    int B = x->plan->batch_size, n = x->n, kmax = x->max_fanout;
    double wire = p->stage[c - 1].hidden_bytes_lz4 * x->payload_factor; /* per survivor */
    double fixed = head_prefix[c] + p->xfer_latency_s + B * wire / p->xfer_bandwidth_bytes_per_s +
                   (m->fix_prefix_s[n] - m->fix_prefix_s[c]) + p->fn_cold_start_s;
    double per_req = m->req_prefix_s[n] - m->req_prefix_s[c];
    /* largest chunk the payload cap and the SLO allow */
    double chunk_pay = wire > 0 ? floor(x->price->fn_payload_max_bytes / wire) : B;
    double slack = x->plan->slo_s - fixed;
    double chunk_slo = per_req > 0 ? floor(slack / per_req + 1e-9) : (slack >= 0 ? B : 0);
    double chunk = chunk_pay < chunk_slo ? chunk_pay : chunk_slo;
    if (chunk > B)
        chunk = B;
    int k = chunk >= 1 ? (int)ceil(B / chunk - 1e-9) : kmax + 1;
    *reject = SF_REJ_NONE;
    if (k > kmax) {
        k = kmax;
        *reject = ceil((double)B / k) * wire > x->price->fn_payload_max_bytes ? SF_REJ_PAYLOAD
                                                                              : SF_REJ_SLO;
    }
    int ch = (B + k - 1) / k;
    *latency_s = fixed + ch * per_req;
    *payload_bytes = ch * wire;
    return k;
}

/* Picks the memory for one (pool, vm, cut): the cheapest feasible, else the one that comes
 * closest (lowest latency) with the reason it fails. head_prefix is the VM's batch prefix. */
/* ---- deadline batching (docs/planner.md): batches as the batcher forms them ---- */

/* Worst-case service of a batch of n on the FaaS path at memory m (with the cold start). */
static double fn_service_s(const struct ctx *x, const struct mem_info *m, int n)
{
    return n * m->req_prefix_s[x->n] + m->fix_prefix_s[x->n] + x->prof->fn_cold_start_s;
}

/* The batch the batcher forms on functions at the planning rate: the largest n (at most the
 * invocation size) whose first request, waiting for the n - 1 after it, is still answered within
 * the SLO, and whose payload fits one call. 0: not even one request fits. */
static int fn_batch_at_rate(const struct ctx *x, const struct mem_info *m)
{
    const struct sf_plan *plan = x->plan;
    double lambda = plan->rate_rps, wire = x->prof->input_bytes * x->payload_factor;
    int lo = 0, hi = plan->fn_invoke_size;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if ((mid - 1) / lambda + fn_service_s(x, m, mid) <= plan->slo_s &&
            mid * wire <= x->price->fn_payload_max_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Time the VM is busy with a batch of n (stages 1..c) and the batch's worst-case service on the
 * instance path (head, then for a hybrid the hand-off, the tail on k calls and a cold start). */
static double inst_busy_s(const struct vm_info *vi, int c, int n)
{
    return n * vi->req_prefix_s[c] + vi->fix_prefix_s[c];
}

static double inst_service_s(const struct ctx *x, const struct mem_info *m,
                             const struct vm_info *vi, int c, int k, int n)
{
    const struct sf_profile *p = x->prof;
    double t = inst_busy_s(vi, c, n);
    if (c < x->n) {
        int chunk = (n + k - 1) / k;
        t += p->xfer_latency_s +
             n * p->stage[c - 1].hidden_bytes_lz4 * x->payload_factor /
                 p->xfer_bandwidth_bytes_per_s +
             chunk * (m->req_prefix_s[x->n] - m->req_prefix_s[c]) +
             (m->fix_prefix_s[x->n] - m->fix_prefix_s[c]) + p->fn_cold_start_s;
    }
    return t;
}

/* The batch an instance takes when saturated: the largest n <= B such that a request arriving
 * just after the previous batch left waits for it (busy) and is then served (service) within the
 * SLO, with every tail call's payload under the cap. 0: none fits. Both sides grow with n, so a
 * binary search; at_least is a batch known to fit (the one of k - 1 calls: more calls only
 * shorten the tail and the payloads). */
static int inst_batch(const struct ctx *x, const struct mem_info *m, const struct vm_info *vi,
                      int c, int k, int at_least)
{
    double wire = c < x->n ? x->prof->stage[c - 1].hidden_bytes_lz4 * x->payload_factor : 0;
    int lo = at_least, hi = x->plan->batch_size;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        int chunk = (mid + k - 1) / k;
        if (inst_busy_s(vi, c, mid) + inst_service_s(x, m, vi, c, k, mid) <= x->plan->slo_s &&
            chunk * wire <= x->price->fn_payload_max_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Fills one deadline-batching candidate at memory m: FaaS-only (c = 0) or an instance path (k
 * chosen for the lowest cost), its capacity, batches, latency, payload and reason. */
static void deadline_candidate(const struct ctx *x, const double *survival,
                               const struct mem_info *m, const struct vm_info *vi,
                               double vm_usd_per_s, struct sf_candidate *t)
{
    const struct sf_plan *plan = x->plan;
    int c = t->cut, n_f = fn_batch_at_rate(x, m);
    double spill_s = fn_service_s(x, m, 1);
    t->tail_fanout = 1;
    t->fn_batch = n_f > 0 ? n_f : 1;
    t->spill_margin_s = plan->slo_s - spill_s;
    if (c == 0) {
        t->inst_batch = plan->batch_size;
        t->capacity_rps = plan->capacity_rps;
        t->payload_bytes = t->fn_batch * x->prof->input_bytes * x->payload_factor;
        t->latency_s = (t->fn_batch - 1) / plan->rate_rps + fn_service_s(x, m, t->fn_batch);
        if (t->payload_bytes > x->price->fn_payload_max_bytes)
            t->reject = SF_REJ_PAYLOAD;
        else if (n_f < 1)
            t->reject = SF_REJ_SLO;
        price(x, survival, m, 0, t);
        return;
    }
    /* every k: the batch the instance takes, its capacity and cost; keep the cheapest */
    int kmax = c < x->n ? x->max_fanout : 1, have = 0;
    struct sf_candidate best = *t;
    int prev = 0;
    for (int k = 1; k <= kmax; k++) {
        int nb = inst_batch(x, m, vi, c, k, prev);
        if (nb < 1 || nb == prev)
            continue; /* the same batch on more calls only adds fees and per-call time */
        prev = nb;
        struct sf_candidate u = *t;
        u.tail_fanout = k;
        u.inst_batch = nb;
        /* r: what a saturated instance absorbs, batches of nb back to back, each keeping the
         * VM busy for its expected head (the requests that reach each stage) */
        double busy = inst_busy_s(vi, c, nb), expected = 0;
        for (int i = 0; i < c; i++)
            if (survival[i] > 0)
                expected += nb * survival[i] * vi->rt->per_request_s[i] + vi->rt->per_batch_s[i];
        u.capacity_rps = expected > 0 ? nb / expected : SF_PLAN_MAX_CAPACITY_RPS;
        if (u.capacity_rps > SF_PLAN_MAX_CAPACITY_RPS)
            u.capacity_rps = SF_PLAN_MAX_CAPACITY_RPS;
        u.latency_s = busy + inst_service_s(x, m, vi, c, k, nb);
        u.payload_bytes = c < x->n ? ((nb + k - 1) / k) * x->prof->stage[c - 1].hidden_bytes_lz4 *
                                         x->payload_factor
                                   : 0;
        price(x, survival, m, vm_usd_per_s, &u);
        if (!have || u.cost_usd_per_s < best.cost_usd_per_s * (1 - SF_PLAN_TIE_REL))
            best = u;
        have = 1;
        if (nb == x->plan->batch_size)
            break; /* the largest batch already: more calls cannot grow it */
    }
    if (!have) {
        /* not even one request fits: report the single request's latency with k = kmax */
        t->tail_fanout = kmax;
        t->inst_batch = 1;
        t->capacity_rps = 0;
        t->latency_s = inst_busy_s(vi, c, 1) + inst_service_s(x, m, vi, c, kmax, 1);
        double wire = c < x->n ? x->prof->stage[c - 1].hidden_bytes_lz4 * x->payload_factor : 0;
        t->payload_bytes = wire;
        t->reject = wire > x->price->fn_payload_max_bytes ? SF_REJ_PAYLOAD : SF_REJ_SLO;
        price(x, survival, m, vm_usd_per_s, t);
        return;
    }
    *t = best;
    if (spill_s > plan->slo_s ||
        x->prof->input_bytes * x->payload_factor > x->price->fn_payload_max_bytes)
        t->reject = SF_REJ_SPILL_SLO; /* even one request cannot spill to a function in time */
}

/* ---- planning against the traffic (docs/planner.md) ---- */

/* Most instances the traffic's program schedules in an epoch (the controller's cap). */
#define SF_PLAN_TRAFFIC_MAX_INSTANCES 256

/* Requests per function call at rate lambda: deadline batching, the largest n (up to the
 * invocation size) whose first request still makes the SLO after waiting for the rest; epoch
 * batching, an epoch's requests in calls of the invocation size. */
static double fn_batch_at(const struct ctx *x, const struct mem_info *m, double lambda)
{
    const struct sf_plan *plan = x->plan;
    if (!(lambda > 0))
        return 1;
    if (!x->deadline) {
        double n = lambda * plan->slo_s;
        return n < plan->fn_invoke_size ? (n > 1 ? n : 1) : plan->fn_invoke_size;
    }
    int lo = 1, hi = plan->fn_invoke_size;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if ((mid - 1) / lambda + fn_service_s(x, m, mid) <= plan->slo_s)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* The expected cost per second of a feasible candidate over the traffic: a dynamic program over
 * the instance count of each epoch (fluid: m instances take min(rate, m r), the rest goes to
 * functions in the calls the rate allows, the instances' requests pay the tail), a launch paying
 * the mean cold start or the billing minimum, whichever is longer. It is the best any schedule
 * could do for that path in this model, so paths compare on what their traffic lets them earn,
 * not on one rate. */
static double traffic_cost(const struct ctx *x, const double *survival,
                           const struct sf_candidate *c, double vm_usd_per_s)
{
    const double *rates = x->traffic;
    size_t n_rates = x->n_traffic;
    double *scratch = x->scratch;
    int scratch_m = SF_PLAN_TRAFFIC_MAX_INSTANCES;
    const struct sf_plan *plan = x->plan;
    const struct mem_info *m = NULL;
    for (size_t k = 0; k < x->n_mem && !m; k++)
        if (x->mem[k].mem_mb == c->fn_mem_mb)
            m = &x->mem[k];
    if (!m)
        return NAN;
    int N = x->n, cut = c->pool == SF_POOL_FAAS ? 0 : c->cut;
    double fee = x->price->fn_request_fee_usd, T = plan->slo_s;
    double work = 0, fixed = 0, tail_work = 0, tail_fixed = 0;
    for (int i = 0; i < N; i++) {
        work += survival[i] * m->per_req_s[i];
        fixed += survival[i] > 0 ? m->per_batch_s[i] : 0;
        if (i >= cut) {
            tail_work += survival[i] * m->per_req_s[i];
            tail_fixed += survival[i] > 0 ? m->per_batch_s[i] : 0;
        }
    }
    int k = c->tail_fanout > 1 ? c->tail_fanout : 1, nb = c->inst_batch > 0 ? c->inst_batch : 1;
    double tail_usd =
        cut >= N || !(tail_work > 0)
            ? 0
            : m->usd_per_s * (tail_work + k * tail_fixed / nb) + k * fee / nb; /* per request */
    double r = c->capacity_rps > 0 ? c->capacity_rps : plan->capacity_rps;
    double peak = 0;
    for (size_t e = 0; e < n_rates; e++)
        peak = rates[e] > peak ? rates[e] : peak;
    int M = 0;
    if (cut > 0 && r > 0) {
        double mm = ceil(peak / r);
        M = mm < scratch_m ? (int)mm : scratch_m;
    }
    double *V = scratch, *W = scratch + scratch_m + 1;
    double cold_s = x->vm_cold_epochs * T;
    double launch = vm_usd_per_s * fmax(cold_s, x->price->vm_billing_minimum_s);
    for (int j = 0; j <= M; j++)
        V[j] = j ? INFINITY : 0;
    for (size_t e = 0; e < n_rates; e++) {
        double lambda = rates[e] > 0 ? rates[e] : 0;
        /* W[j] = min over j' of V[j'] + launch (j - j')+ */
        double best = INFINITY;
        for (int j = 0; j <= M; j++) {
            double via = V[j] - launch * j;
            best = via < best ? via : best;
            W[j] = best + launch * j;
        }
        double suffix = INFINITY;
        for (int j = M; j >= 0; j--) {
            suffix = V[j] < suffix ? V[j] : suffix;
            W[j] = W[j] < suffix ? W[j] : suffix;
        }
        for (int j = 0; j <= M; j++) {
            double on = lambda < j * r ? lambda : j * r, off = lambda - on;
            double nf = fn_batch_at(x, m, off);
            double fn = off > 0 ? off * (m->usd_per_s * (work + fixed / nf) + fee / nf) : 0;
            V[j] = W[j] + T * (j * vm_usd_per_s + fn + on * tail_usd);
        }
    }
    double best = INFINITY;
    for (int j = 0; j <= M; j++)
        best = V[j] < best ? V[j] : best;
    return best / (T * (double)(n_rates ? n_rates : 1));
}

/* Picks the memory for one (pool, vm, cut): the cheapest feasible, else the one that comes
 * closest (lowest latency) with the reason it fails. vi: the VM's prefix sums (NULL for FaaS). */
static void choose_memory(const struct ctx *x, const double *survival, struct sf_candidate *cand,
                          const struct vm_info *vi, double vm_usd_per_s)
{
    const struct sf_plan *plan = x->plan;
    int c = cand->cut, n = x->n;
    const double *head_prefix = vi ? vi->batch_prefix_s : NULL;
    struct sf_candidate best = *cand, closest = *cand;
    int have_best = 0, have_closest = 0;
    for (size_t k = 0; k < x->n_mem; k++) {
        const struct mem_info *m = &x->mem[k];
        struct sf_candidate t = *cand;
        enum sf_reject why = SF_REJ_NONE;
        t.tail_fanout = 1;
        t.payload_bytes = 0;
        t.reject = SF_REJ_NONE;
        if (x->deadline) {
            deadline_candidate(x, survival, m, vi, vm_usd_per_s, &t);
            t.slo_margin_s = plan->slo_s - t.latency_s;
            x->plan->n_evaluated++;
            goto keep;
        }
        t.capacity_rps = plan->capacity_rps;
        t.inst_batch = plan->batch_size;
        t.fn_batch = plan->fn_invoke_size;
        if (c == 0) {
            t.latency_s = m->full_latency_s;
            t.payload_bytes = plan->fn_invoke_size * x->prof->input_bytes * x->payload_factor;
            if (t.payload_bytes > x->price->fn_payload_max_bytes)
                why = SF_REJ_PAYLOAD;
        } else if (c == n) {
            t.latency_s = head_prefix[n];
        } else {
            t.tail_fanout =
                choose_fanout(x, m, head_prefix, c, &t.latency_s, &t.payload_bytes, &why);
        }
        t.slo_margin_s = plan->slo_s - t.latency_s;
        t.spill_margin_s = plan->slo_s - m->full_latency_s;
        if (why == SF_REJ_NONE && t.latency_s > plan->slo_s)
            why = SF_REJ_SLO;
        if (why == SF_REJ_NONE && (m->full_latency_s > plan->slo_s || !x->fn_payload_ok))
            why = SF_REJ_SPILL_SLO; /* the FaaS spill path must fit too */
        t.reject = why;
        price(x, survival, m, vm_usd_per_s, &t);
        x->plan->n_evaluated++;
    keep:
        if (t.reject == SF_REJ_NONE) {
            if (!have_best || sf_plan_better(&t, &best))
                best = t;
            have_best = 1;
        } else if (!have_closest || t.latency_s < closest.latency_s ||
                   (t.latency_s == closest.latency_s && sf_plan_better(&t, &closest))) {
            closest = t;
            have_closest = 1;
        }
    }
    *cand = have_best ? best : closest;
}

static int push_alt(struct sf_plan *plan, const struct sf_candidate *c, size_t cap)
{
    if (plan->n_alt >= cap)
        return SF_ERANGE;
    plan->alt[plan->n_alt++] = *c;
    return SF_OK;
}

/* Planning against the traffic: a feasible candidate's expected cost, by which it is ranked. */
static void weigh(const struct ctx *x, const double *survival, struct sf_candidate *c,
                  double vm_usd_per_s)
{
    if (!x->traffic || (c->reject != SF_REJ_NONE && c->reject != SF_REJ_ACCURACY))
        return;
    c->expected_usd_per_s = traffic_cost(x, survival, c, vm_usd_per_s);
    c->rank_usd_per_s = c->expected_usd_per_s;
}

static void consider(struct sf_plan *plan, size_t t, const struct sf_candidate *c, int acc_ok)
{
    if (c->reject != SF_REJ_NONE && c->reject != SF_REJ_ACCURACY)
        return;
    if (!plan->per_tau_found[t][c->pool] || sf_plan_better(c, &plan->per_tau[t][c->pool])) {
        plan->per_tau[t][c->pool] = *c;
        plan->per_tau_found[t][c->pool] = 1;
    }
    if (acc_ok && (!plan->found || sf_plan_better(c, &plan->best))) {
        plan->best = *c;
        plan->found = 1;
    }
}

static int build_memories(struct ctx *x, const struct sf_plan_opts *o, const char *arch,
                          struct sf_err *err)
{
    const struct sf_pricing *pr = x->price;
    size_t cap;
    if (o->any_memory)
        cap = (size_t)((pr->fn_mem_max_mb - pr->fn_mem_min_mb) / pr->fn_mem_step_mb + 1);
    else
        cap = (size_t)(pr->fn_mem_max_mb / pr->fn_mb_per_vcpu);
    if (cap > SF_FN_MAX_MEMORY_SIZES) /* the loader refuses such catalogs; a backstop */
        return sf_err_set(err, SF_ETOOBIG, "plan: %zu function memory sizes, more than %d", cap,
                          SF_FN_MAX_MEMORY_SIZES);
    x->mem = calloc(cap ? cap : 1, sizeof(*x->mem));
    if (!x->mem)
        return sf_err_set(err, SF_ENOMEM, "plan: out of memory for %zu function sizes", cap);
    for (size_t k = 0; k < cap; k++) {
        int mb = o->any_memory ? pr->fn_mem_min_mb + (int)k * pr->fn_mem_step_mb
                               : (int)(k + 1) * pr->fn_mb_per_vcpu;
        if (mb < pr->fn_mem_min_mb || mb > pr->fn_mem_max_mb)
            continue;
        struct mem_info *m = &x->mem[x->n_mem];
        m->mem_mb = mb;
        m->usd_per_s = sf_pricing_fn_usd_per_s(pr, x->plan->fn_arch, mb);
        if (sf_fn_runtime_at(x->prof, pr, arch, mb, m->per_req_s, m->per_batch_s) != SF_OK)
            return sf_err_set(err, SF_ENOTFOUND,
                              "plan: the profile has no function runtime for arch \"%s\"", arch);
        batch_prefix(m->per_req_s, m->per_batch_s, x->n, x->plan->batch_size, m->batch_prefix_s);
        m->req_prefix_s[0] = m->fix_prefix_s[0] = 0;
        for (int i = 0; i < x->n; i++) {
            m->req_prefix_s[i + 1] = m->req_prefix_s[i] + m->per_req_s[i];
            m->fix_prefix_s[i + 1] = m->fix_prefix_s[i] + m->per_batch_s[i];
        }
        /* the FaaS path (spill, FaaS-only): one invocation of fn_invoke_size requests */
        double full = 0;
        for (int i = 0; i < x->n; i++)
            full += x->plan->fn_invoke_size * m->per_req_s[i] + m->per_batch_s[i];
        m->full_latency_s = full + x->prof->fn_cold_start_s;
        x->n_mem++;
    }
    if (x->n_mem == 0 && !o->any_memory)
        return sf_err_set(err, SF_EINFEASIBLE,
                          "plan: no multiple of %d MB (one vCPU) in the catalog's function memory "
                          "range [%d, %d] MB; --any-memory tries every %d MB step",
                          pr->fn_mb_per_vcpu, pr->fn_mem_min_mb, pr->fn_mem_max_mb,
                          pr->fn_mem_step_mb);
    if (x->n_mem == 0)
        return sf_err_set(err, SF_EINFEASIBLE, "plan: no function memory size in [%d, %d] MB",
                          pr->fn_mem_min_mb, pr->fn_mem_max_mb);
    return SF_OK;
}

static void find_scip(struct sf_plan *plan)
{
    int prev = -1;
    size_t prev_t = 0;
    for (size_t t = 0; t < plan->n_tau; t++) {
        int arg = -1;
        for (int pool = 0; pool < 3; pool++)
            if (plan->per_tau_found[t][pool] &&
                (arg < 0 || sf_plan_better(&plan->per_tau[t][pool], &plan->per_tau[t][arg])))
                arg = pool;
        if (arg < 0)
            continue;
        if (prev >= 0 && arg != prev && plan->n_scip < SF_MAX_TAUS) {
            struct sf_scip *s = &plan->scip[plan->n_scip++];
            s->from = (enum sf_pool)prev;
            s->to = (enum sf_pool)arg;
            s->tau_lo = plan->per_tau[prev_t][prev].tau;
            s->tau_hi = plan->per_tau[t][arg].tau;
            s->tau_est = (s->tau_lo + s->tau_hi) / 2;
            if (plan->per_tau_found[prev_t][arg] && plan->per_tau_found[t][prev]) {
                double d_lo = plan->per_tau[prev_t][prev].cost_usd_per_s -
                              plan->per_tau[prev_t][arg].cost_usd_per_s;
                double d_hi =
                    plan->per_tau[t][prev].cost_usd_per_s - plan->per_tau[t][arg].cost_usd_per_s;
                if (d_hi - d_lo > 0)
                    s->tau_est = s->tau_lo + (s->tau_hi - s->tau_lo) * (-d_lo) / (d_hi - d_lo);
            }
        }
        prev = arg;
        prev_t = t;
    }
}

int sf_plan_run(struct sf_plan *plan, const struct sf_profile *prof, const struct sf_pricing *price,
                const struct sf_plan_opts *opts, struct sf_err *err)
{
    struct sf_plan_opts defaults;
    if (!opts) {
        sf_plan_opts_default(&defaults);
        opts = &defaults;
    }
    memset(plan, 0, sizeof(*plan));
    plan->slo_s = opts->slo_s > 0 ? opts->slo_s : prof->slo_s;
    plan->rate_rps = opts->rate_rps > 0 ? opts->rate_rps : prof->rate_rps;
    if (opts->traffic_rps) {
        if (opts->n_traffic < 1 || opts->n_traffic > SF_PLAN_MAX_TRAFFIC_EPOCHS)
            return sf_err_set(err, SF_ERANGE, "plan: the traffic needs 1..%d epochs",
                              SF_PLAN_MAX_TRAFFIC_EPOCHS);
        double sum = 0;
        for (size_t e = 0; e < opts->n_traffic; e++) {
            double v = opts->traffic_rps[e];
            if (!(v >= 0) || !(v <= SF_MAX_RATE_RPS))
                return sf_err_set(err, SF_ERANGE, "plan: the traffic's epoch %zu has rate %g",
                                  e + 1, v);
            sum += v;
            plan->traffic_peak_rps = v > plan->traffic_peak_rps ? v : plan->traffic_peak_rps;
        }
        plan->traffic = 1;
        plan->traffic_epochs = opts->n_traffic;
        plan->traffic_mean_rps = sum / (double)opts->n_traffic;
        if (!(opts->rate_rps > 0) && plan->traffic_mean_rps > 0)
            plan->rate_rps = plan->traffic_mean_rps; /* the candidates' batches at its mean */
    }
    plan->batch_size = opts->batch_size > 0 ? opts->batch_size : prof->batch_size;
    plan->capacity_rps = plan->batch_size / plan->slo_s;
    plan->fn_invoke_size = opts->fn_invoke_size > 0 && opts->fn_invoke_size < plan->batch_size
                               ? opts->fn_invoke_size
                               : plan->batch_size;
    if (!(opts->min_accuracy >= 0 && opts->min_accuracy <= 1))
        return sf_err_set(err, SF_ERANGE, "plan: --min-accuracy must be in [0, 1]");

    const char *arch = opts->fn_arch ? opts->fn_arch : price->fn_arch[0].name;
    size_t a = 0;
    while (a < price->n_fn_arch && strcmp(price->fn_arch[a].name, arch) != 0)
        a++;
    if (a == price->n_fn_arch)
        return sf_err_set(err, SF_ENOTFOUND, "plan: the catalog has no function arch \"%s\"", arch);
    plan->fn_arch = a;

    size_t first = 0, n_tau = prof->n_exits;
    if (opts->tau >= 0) {
        const struct sf_exit_row *row = sf_profile_exits(prof, opts->tau);
        if (!row)
            return sf_err_set(err, SF_ENOTFOUND, "plan: tau %g is not in the profile", opts->tau);
        first = (size_t)(row - prof->exits);
        n_tau = 1;
    }

    struct ctx x = {.prof = prof, .price = price, .plan = plan, .n = prof->n_stages};
    x.payload_factor = opts->payload_factor > 0 ? opts->payload_factor : SF_PLAN_PAYLOAD_FACTOR;
    x.max_fanout = plan->batch_size < SF_PLAN_MAX_FANOUT ? plan->batch_size : SF_PLAN_MAX_FANOUT;
    x.deadline = opts->batching != SF_BATCHING_EPOCH;
    x.vm_cold_epochs = opts->vm_cold_start_epochs > 0 ? opts->vm_cold_start_epochs : 20;
    x.traffic = plan->traffic ? opts->traffic_rps : NULL;
    x.n_traffic = opts->n_traffic;
    double scratch[2 * (SF_PLAN_TRAFFIC_MAX_INSTANCES + 1)];
    x.scratch = scratch;
    plan->batching = x.deadline ? SF_BATCHING_DEADLINE : SF_BATCHING_EPOCH;
    x.fn_payload_ok =
        plan->fn_invoke_size * prof->input_bytes * x.payload_factor <= price->fn_payload_max_bytes;
    int rc = build_memories(&x, opts, arch, err);
    size_t cap = n_tau * (1 + price->n_vm * (size_t)x.n);
    if (rc == SF_OK && (double)cap * (double)x.n_mem > SF_PLAN_MAX_CANDIDATES)
        rc = sf_err_set(err, SF_ETOOBIG,
                        "plan: %zu configurations x %zu function memories is more than %.0f "
                        "candidates to price (fix --tau, or drop --any-memory)",
                        cap, x.n_mem, (double)SF_PLAN_MAX_CANDIDATES);
    if (rc == SF_OK) {
        plan->alt = calloc(cap, sizeof(*plan->alt));
        plan->per_tau = calloc(n_tau, sizeof(*plan->per_tau));
        plan->per_tau_found = calloc(n_tau, sizeof(*plan->per_tau_found));
        if (!plan->alt || !plan->per_tau || !plan->per_tau_found)
            rc = sf_err_set(err, SF_ENOMEM, "plan: out of memory");
    }
    plan->n_tau = n_tau;
    plan->alt_per_tau = 1 + price->n_vm * (size_t)x.n;

    /* VM prefix sums do not depend on tau. */
    struct vm_info *vms = calloc(price->n_vm ? price->n_vm : 1, sizeof(*vms));
    if (!vms && rc == SF_OK)
        rc = sf_err_set(err, SF_ENOMEM, "plan: out of memory");
    for (size_t v = 0; rc == SF_OK && v < price->n_vm; v++) {
        const struct sf_runtime *r = sf_profile_vm_runtime(prof, price->vm[v].name);
        if (!r)
            continue;
        vms[v].rt = r;
        batch_prefix(r->per_request_s, r->per_batch_s, x.n, plan->batch_size,
                     vms[v].batch_prefix_s);
        for (int i = 0; i < x.n; i++) {
            vms[v].req_prefix_s[i + 1] = vms[v].req_prefix_s[i] + r->per_request_s[i];
            vms[v].fix_prefix_s[i + 1] = vms[v].fix_prefix_s[i] + r->per_batch_s[i];
        }
    }

    for (size_t t = 0; rc == SF_OK && t < n_tau; t++) {
        const struct sf_exit_row *row = &prof->exits[first + t];
        double surv[SF_MAX_STAGES];
        sf_profile_survival(prof, row, surv);
        int acc_ok = row->accuracy >= opts->min_accuracy - 1e-12;
        struct sf_candidate base = {.tau = row->tau, .accuracy = row->accuracy, .vm = -1};

        struct sf_candidate c = base;
        c.pool = SF_POOL_FAAS;
        c.cut = 0;
        choose_memory(&x, surv, &c, NULL, 0);
        if (c.reject == SF_REJ_NONE && !acc_ok)
            c.reject = SF_REJ_ACCURACY;
        weigh(&x, surv, &c, 0);
        consider(plan, t, &c, acc_ok);
        rc = push_alt(plan, &c, cap);

        for (size_t v = 0; rc == SF_OK && v < price->n_vm; v++) {
            int profiled = sf_profile_vm_runtime(prof, price->vm[v].name) != NULL;
            for (int cut = x.n; rc == SF_OK && cut >= 1; cut--) {
                c = base;
                c.pool = cut == x.n ? SF_POOL_IAAS : SF_POOL_HYBRID;
                c.cut = cut;
                c.vm = (int)v;
                if (!profiled) {
                    c.reject = SF_REJ_UNPROFILED;
                    c.cost_usd_per_s = NAN;
                    c.latency_s = NAN;
                    c.slo_margin_s = NAN;
                    c.tcip_rps = NAN;
                } else {
                    choose_memory(&x, surv, &c, &vms[v], price->vm[v].price_usd_per_s);
                    if (c.reject == SF_REJ_NONE && !acc_ok)
                        c.reject = SF_REJ_ACCURACY;
                    weigh(&x, surv, &c, price->vm[v].price_usd_per_s);
                    consider(plan, t, &c, acc_ok);
                }
                rc = push_alt(plan, &c, cap);
            }
        }
    }
    free(x.mem);
    free(vms);
    if (rc != SF_OK) {
        sf_plan_fini(plan);
        return rc;
    }
    /* Every priced configuration that passes the checks must have a finite cost and latency;
     * a NaN would compare as feasible. Loaders bound their inputs, so this is a backstop. */
    for (size_t i = 0; i < plan->n_alt; i++) {
        const struct sf_candidate *c = &plan->alt[i];
        if (c->reject != SF_REJ_NONE && c->reject != SF_REJ_ACCURACY)
            continue;
        if (!isfinite(c->cost_usd_per_s) || !isfinite(c->latency_s) ||
            !isfinite(c->split.vm_usd_per_s) || !isfinite(c->split.fn_usd_per_s)) {
            int at = sf_err_set(err, SF_ERANGE,
                                "plan: tau %.2f, %s, cut %d, %d MB: cost %g USD/s, latency %g s "
                                "are not finite; the profile's runtimes or function scaling, or "
                                "the catalog's prices, are out of range",
                                c->tau, sf_pool_name(c->pool), c->cut, c->fn_mem_mb,
                                c->cost_usd_per_s, c->latency_s);
            sf_plan_fini(plan);
            return at;
        }
    }
    find_scip(plan);
    if (!plan->found)
        return sf_err_set(err, SF_EINFEASIBLE, "plan: no configuration meets the %.3g s SLO%s",
                          plan->slo_s, opts->min_accuracy > 0 ? " and the accuracy floor" : "");
    return SF_OK;
}

void sf_plan_fini(struct sf_plan *plan)
{
    free(plan->alt);
    free(plan->per_tau);
    free(plan->per_tau_found);
    plan->alt = NULL;
    plan->per_tau = NULL;
    plan->per_tau_found = NULL;
    plan->n_alt = plan->n_tau = 0;
}

int sf_plan_costcfg(const struct sf_plan *plan, const struct sf_profile *prof,
                    const struct sf_pricing *price, const struct sf_candidate *cand,
                    struct sf_costcfg *out)
{
    const struct sf_exit_row *row = sf_profile_exits(prof, cand->tau);
    if (!row || cand->fn_mem_mb <= 0)
        return SF_ENOTFOUND;
    struct mem_info m = {.mem_mb = cand->fn_mem_mb};
    m.usd_per_s = sf_pricing_fn_usd_per_s(price, plan->fn_arch, cand->fn_mem_mb);
    int rc = sf_fn_runtime_at(prof, price, price->fn_arch[plan->fn_arch].name, cand->fn_mem_mb,
                              m.per_req_s, m.per_batch_s);
    if (rc != SF_OK)
        return rc;
    double surv[SF_MAX_STAGES];
    sf_profile_survival(prof, row, surv);
    struct sf_plan tmp = *plan;
    struct ctx x = {.prof = prof, .price = price, .plan = &tmp, .n = prof->n_stages};
    fill_costcfg(&x, surv, &m, cand, cand->vm >= 0 ? price->vm[cand->vm].price_usd_per_s : 0, out);
    return SF_OK;
}

struct sf_path sf_plan_path(const struct sf_candidate *c)
{
    struct sf_path p = {.has_instances = c->pool != SF_POOL_FAAS,
                        .vm = c->vm,
                        .cut = c->cut,
                        .tail_fanout = c->tail_fanout > 1 ? c->tail_fanout : 1,
                        .fn_mem_mb = c->fn_mem_mb,
                        .tcip_rps = c->tcip_rps,
                        .capacity_rps = c->capacity_rps};
    if (!p.has_instances)
        p.tcip_rps = INFINITY;
    return p;
}

char *sf_path_describe(const struct sf_path *p, const struct sf_pricing *price, int n_stages,
                       char *buf, size_t size)
{
    const char *vm = p->has_instances > 0 && p->vm >= 0 && (size_t)p->vm < price->n_vm
                         ? price->vm[p->vm].name
                         : "?";
    if (p->has_instances < 0)
        snprintf(buf, size, "(none feasible)");
    else if (!p->has_instances)
        snprintf(buf, size, "functions only, %d MB", p->fn_mem_mb);
    else if (p->cut >= n_stages)
        snprintf(buf, size, "IaaS %s + %d MB spill", vm, p->fn_mem_mb);
    else if (p->tail_fanout > 1)
        snprintf(buf, size, "hybrid %s stages 1-%d + %d x %d MB", vm, p->cut, p->tail_fanout,
                 p->fn_mem_mb);
    else
        snprintf(buf, size, "hybrid %s stages 1-%d + %d MB", vm, p->cut, p->fn_mem_mb);
    return buf;
}

/* Worst-case time of stages [from, to) for a batch of n requests that all reach every stage. */
static double all_stages_s(const double *per_req, const double *per_batch, int from, int to, int n)
{
    double t = 0;
    for (int i = from; i < to && n > 0; i++)
        t += n * per_req[i] + per_batch[i];
    return t;
}

int sf_service_tables(const struct sf_profile *prof, const struct sf_pricing *price, size_t fn_arch,
                      const struct sf_path *path, int batch_size, double *inst_s, double *fn_s,
                      struct sf_err *err)
{
    int N = prof->n_stages;
    if (batch_size < 1 || fn_arch >= price->n_fn_arch)
        return sf_err_set(err, SF_EINVAL, "service tables: bad batch size or function arch");
    double fq[SF_MAX_STAGES], fb[SF_MAX_STAGES];
    if (sf_fn_runtime_at(prof, price, price->fn_arch[fn_arch].name, path->fn_mem_mb, fq, fb) !=
        SF_OK)
        return sf_err_set(err, SF_ENOTFOUND, "service tables: no function runtime for arch %s",
                          price->fn_arch[fn_arch].name);
    const struct sf_runtime *vm = NULL;
    if (path->has_instances) {
        if (path->vm < 0 || (size_t)path->vm >= price->n_vm || path->cut < 1 || path->cut > N)
            return sf_err_set(err, SF_EINVAL, "service tables: bad VM index or cut");
        vm = sf_profile_vm_runtime(prof, price->vm[path->vm].name);
        if (!vm)
            return sf_err_set(err, SF_ENOTFOUND, "service tables: no runtime for VM %s",
                              price->vm[path->vm].name);
    }
    int k = path->tail_fanout > 1 ? path->tail_fanout : 1;
    int nf = path->fn_invoke_size > 0 && path->fn_invoke_size < batch_size ? path->fn_invoke_size
                                                                           : batch_size;
    for (int n = 0; n <= batch_size; n++) {
        /* n requests on functions: calls of up to nf requests, all in parallel */
        int per_call = n < nf ? n : nf;
        fn_s[n] = n > 0 ? all_stages_s(fq, fb, 0, N, per_call) + prof->fn_cold_start_s : 0;
        inst_s[n] = 0;
        if (!vm || n == 0)
            continue;
        int c = path->cut;
        double t = all_stages_s(vm->per_request_s, vm->per_batch_s, 0, c, n);
        if (c < N) {
            int chunk = (n + k - 1) / k;
            t += prof->xfer_latency_s +
                 n * prof->stage[c - 1].hidden_bytes_lz4 * SF_PLAN_PAYLOAD_FACTOR /
                     prof->xfer_bandwidth_bytes_per_s +
                 all_stages_s(fq, fb, c, N, chunk) + prof->fn_cold_start_s;
        }
        inst_s[n] = t;
    }
    return SF_OK;
}
