/*
 * sim.c - the trace-replay simulator (sim.h).
 *
 * All policies advance epoch by epoch in lockstep over the same requests: each epoch's requests
 * draw their exit stage once (seeded per epoch), get arrival times once, and every policy routes
 * the same request ranges with its own controller, fleet and function pool. Work per epoch is
 * O(requests + batches + instances) per policy; nothing is allocated per epoch.
 *
 * The oracle is an exact dynamic program over (scaling decision, instance count) using the same
 * cold-start draws, balancer and billing, with warm-function prices (a lower bound); its
 * schedule is then replayed like any policy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/sim.h"

static const char *const policy_names[SF_POL_COUNT] = {"faas", "libra",   "libra-orig", "spock",
                                                       "mark", "serflow", "oracle",     "static"};

const char *sf_policy_name(enum sf_policy_kind k)
{
    return k >= 0 && k < SF_POL_COUNT ? policy_names[k] : "?";
}

int sf_policy_parse(const char *name)
{
    for (int k = 0; k < SF_POL_COUNT; k++)
        if (!strcmp(name, policy_names[k]))
            return k;
    return -1;
}

void sf_sim_opts_default(struct sf_sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tau = 0.7;
    o->seed = 1;
    o->fn_cold_start_s = 1.0;
    o->fn_idle_timeout_s = 600;
    o->fn_concurrency = 1000;
    o->fn_bill_init = 1;
    sf_ctl_params_default(&o->ctl);
    o->spock_window_epochs = 10;
    o->mark_period_epochs = 10;
    o->mark_lookahead_steps = 6;
    o->mark_hysteresis_rounds = 6;
    o->mark_headroom = 1.2;
    o->libra_orig_period_epochs = 50;
    o->libra_orig_vm_share = 0.8;
}

int sf_sim_paths_from_plan(const struct sf_plan *plan, double tau, struct sf_sim_paths *out,
                           struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t t = 0;
    while (t < plan->n_tau && fabs(plan->alt[t * plan->alt_per_tau].tau - tau) > 1e-9)
        t++;
    if (t == plan->n_tau)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the plan", tau);
    const int *found = plan->per_tau_found[t];
    const struct sf_candidate *c = plan->per_tau[t];
    if (!found[SF_POOL_FAAS])
        return sf_err_set(err, SF_EINFEASIBLE,
                          "replay: no function memory runs the model within the SLO at tau %g",
                          tau);
    out->faas = sf_plan_path(&c[SF_POOL_FAAS]);
    int best = SF_POOL_FAAS;
    for (int p = 1; p < 3; p++)
        if (found[p] && c[p].cost_usd_per_s < c[best].cost_usd_per_s)
            best = p;
    out->serflow = sf_plan_path(&c[best]);
    out->iaas.has_instances = -1; /* marks "none" */
    if (found[SF_POOL_IAAS])
        out->iaas = sf_plan_path(&c[SF_POOL_IAAS]);
    if (out->serflow.has_instances) {
        out->oracle = out->serflow;
    } else {
        int inst = -1;
        for (int p = 1; p < 3; p++)
            if (found[p] && (inst < 0 || c[p].cost_usd_per_s < c[inst].cost_usd_per_s))
                inst = p;
        out->oracle = inst >= 0 ? sf_plan_path(&c[inst]) : out->faas;
    }
    return SF_OK;
}

/* ---- per-path runtimes and prices ---- */

struct pathrt {
    struct sf_path path;
    int n;
    double vm_rq[SF_MAX_STAGES], vm_rb[SF_MAX_STAGES]; /* instance: per request / per batch */
    double fn_rq[SF_MAX_STAGES], fn_rb[SF_MAX_STAGES]; /* function at path memory */
    double vm_usd_per_s;
    double fn_usd_per_s, fn_gb;
    double hand_off_bytes;   /* LZ4 hidden state per survivor at the cut */
    double faas_usd_per_req; /* expected, for MArk's cost comparison */
};

static int pathrt_init(struct pathrt *r, const struct sf_path *p, const struct sf_profile *prof,
                       const struct sf_pricing *price, double tau, struct sf_err *err)
{
    memset(r, 0, sizeof(*r));
    r->path = *p;
    r->n = prof->n_stages;
    const char *arch = price->fn_arch[0].name;
    if (sf_fn_runtime_at(prof, price, arch, p->fn_mem_mb, r->fn_rq, r->fn_rb) != SF_OK)
        return sf_err_set(err, SF_ENOTFOUND, "replay: no function runtime for arch %s", arch);
    r->fn_usd_per_s = sf_pricing_fn_usd_per_s(price, 0, p->fn_mem_mb);
    r->fn_gb = p->fn_mem_mb / 1024.0;
    if (p->has_instances) {
        if (p->vm < 0 || (size_t)p->vm >= price->n_vm)
            return sf_err_set(err, SF_EINVAL, "replay: bad VM index %d", p->vm);
        const struct sf_runtime *v = sf_profile_vm_runtime(prof, price->vm[p->vm].name);
        if (!v)
            return sf_err_set(err, SF_ENOTFOUND, "replay: no runtime for VM %s",
                              price->vm[p->vm].name);
        memcpy(r->vm_rq, v->per_request_s, sizeof(r->vm_rq));
        memcpy(r->vm_rb, v->per_batch_s, sizeof(r->vm_rb));
        r->vm_usd_per_s = price->vm[p->vm].price_usd_per_s;
        if (p->cut > 0 && p->cut < r->n)
            r->hand_off_bytes = prof->stage[p->cut - 1].hidden_bytes_lz4;
    }
    const struct sf_exit_row *row = sf_profile_exits(prof, tau);
    if (!row)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the profile", tau);
    double s[SF_MAX_STAGES], work = 0;
    sf_profile_survival(prof, row, s);
    for (int i = 0; i < r->n; i++)
        work += s[i] * r->fn_rq[i];
    r->faas_usd_per_req = r->fn_usd_per_s * work; /* fees are per batch: negligible here */
    return SF_OK;
}

/* Requests alive at each stage among the batch's requests (exit stage >= i). */
static void stage_counts(const uint8_t *exits, int a, int b, int n, int *alive)
{
    int hist[SF_MAX_STAGES] = {0};
    for (int j = a; j < b; j++)
        hist[exits[j]]++;
    int acc = 0;
    for (int i = n - 1; i >= 0; i--) {
        acc += hist[i];
        alive[i] = acc;
    }
}

static double run_s(const double *rq, const double *rb, const int *alive, int from, int to)
{
    double t = 0;
    for (int i = from; i < to; i++)
        if (alive[i] > 0)
            t += alive[i] * rq[i] + rb[i];
    return t;
}

static double billed_s(double run, double granularity_s)
{
    /* Round up to the billing step; the epsilon keeps exact multiples from rounding up. */
    return ceil(run / granularity_s - 1e-9) * granularity_s;
}

/* ---- function containers ---- */

struct fnpool {
    double *busy_until, *last_end;
    int n, cap;
};

/* Starts an invocation at start_s running run_s; returns its latency (wait + init + run) and
 * sets *cold / *throttled; the billed duration goes to *bill_s. */
static double fn_invoke(struct fnpool *fp, const struct sf_sim_opts *o, double start_s, double run,
                        int *cold, int *throttled, double *bill_s)
{
    int pick = -1, pick_cold = 1;
    for (int i = 0; i < fp->n; i++) {
        if (fp->busy_until[i] > start_s)
            continue;
        int warm = start_s - fp->last_end[i] <= o->fn_idle_timeout_s;
        if (warm) {
            pick = i;
            pick_cold = 0;
            break;
        }
        if (pick < 0)
            pick = i;
    }
    double wait = 0;
    *throttled = 0;
    if (pick < 0 && fp->n < fp->cap) {
        pick = fp->n++;
        fp->last_end[pick] = -INFINITY;
    }
    if (pick < 0) {
        /* every container busy and the cap reached: wait for the first to finish */
        pick = 0;
        for (int i = 1; i < fp->n; i++)
            if (fp->busy_until[i] < fp->busy_until[pick])
                pick = i;
        wait = fp->busy_until[pick] - start_s;
        pick_cold = 0;
        *throttled = 1;
    }
    double init = pick_cold ? o->fn_cold_start_s : 0;
    fp->busy_until[pick] = start_s + wait + init + run;
    fp->last_end[pick] = fp->busy_until[pick];
    *cold = pick_cold;
    *bill_s = run + (o->fn_bill_init ? init : 0);
    return wait + init + run;
}

/* ---- policy state ---- */

/* Recent per-epoch counts kept for the window policies (Spock, MArk): windows up to 4,096 epochs
 * (6.8 hours of 6 s epochs) are accepted. */
#define RING_MAX 4096
/* Slack for comparisons of times and rates computed in floating point: a batch that ends within
 * a nanosecond of the SLO meets it, a rate within 1e-9 of a multiple of r counts as that multiple.
 */
#define EPS 1e-9
/* Response-time histogram: 10 ms bins up to 10 minutes; slower answers share the last bin (their
 * exact maximum is kept separately). */
#define RESP_BIN_S 0.01
#define RESP_BINS  60000

struct pstate {
    enum sf_policy_kind kind;
    struct pathrt rt;
    struct sf_ctl_params ctl;
    struct sf_fleet fleet;
    struct sf_monitor mon;
    struct fnpool fn;
    uint64_t *resp_hist; /* request response times in RESP_BIN_S bins, the last one open */
    struct sf_policy_result *res;
    uint32_t ring[RING_MAX];
    int64_t ring_n;
    int mark_hyst;
    double lo_share_active, lo_share_pending;
    int lo_switch_pending;
    const int32_t *schedule; /* oracle/static: target at an epoch, -1 = none (index = epoch) */
};

struct shared {
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    const struct sf_trace *trace;
    const struct sf_sim_opts *o;
    uint8_t *exits;
    double *arrival;
    uint64_t cdf[SF_MAX_STAGES]; /* P(exit stage <= i) scaled to 2^53 */
    double slo_s;
    double accuracy;
};

/* Draws exit stages and arrival times of epoch e's n requests (deterministic per epoch). */
static void sample_epoch(struct shared *sh, int64_t e, int n)
{
    const struct sf_trace *t = sh->trace;
    int N = sh->prof->n_stages;
    /* one independent stream per (seed, epoch): odd multipliers spread both over 64 bits */
    uint64_t rng = sh->o->seed * 0xD1B54A32D192ED03ull ^ (uint64_t)e * 0x9E3779B97F4A7C15ull;
    for (int j = 0; j < n; j++) {
        uint64_t u = sf_splitmix64(&rng) >> 11;
        int x = 0;
        while (x < N - 1 && u >= sh->cdf[x])
            x++;
        sh->exits[j] = (uint8_t)x;
    }
    double epoch_s = sh->o->ctl.epoch_s, start = (double)(e - 1) * epoch_s;
    if (t->arrival_s) {
        memcpy(sh->arrival, t->arrival_s + t->epoch_first[e - 1], sizeof(double) * (size_t)n);
        return;
    }
    /* Count traces: spread each unit's requests inside the unit, evenly or as a Poisson process
     * (sorted uniform points, i.e. Poisson arrivals conditioned on the count). */
    int64_t per = (int64_t)llround(epoch_s / t->unit_s);
    if (per < 1)
        per = 1;
    int j = 0;
    for (int64_t u = (e - 1) * per; u < e * per && u < t->n_units; u++) {
        double u0 = start + (double)(u - (e - 1) * per) * t->unit_s;
        uint32_t c = t->unit_count[u];
        if (!sh->o->arrivals_poisson) {
            for (uint32_t k = 0; k < c && j < n; k++)
                sh->arrival[j++] = u0 + (k + 0.5) / c * t->unit_s;
        } else {
            /* sorted uniforms by the exponential-spacings method: O(c), no sort */
            double acc = 0, *base = sh->arrival + j;
            for (uint32_t k = 0; k <= c; k++) {
                double r = (double)((sf_splitmix64(&rng) >> 11) + 1) / 9007199254740993.0;
                acc += -log(r);
                if (k < c)
                    base[k] = acc;
            }
            for (uint32_t k = 0; k < c && j < n; k++)
                sh->arrival[j++] = u0 + base[k] / acc * t->unit_s;
        }
    }
}

/* First index in [a, b) whose arrival is >= x (arrivals sorted). */
static int lower_bound(const double *arr, int a, int b, double x)
{
    while (a < b) {
        int m = a + (b - a) / 2;
        if (arr[m] < x)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static void account_batch(struct shared *sh, struct pstate *ps, int a, int b, double now,
                          double latency, int on_instance)
{
    struct sf_policy_result *r = ps->res;
    r->batches++;
    r->requests_served += (uint64_t)(b - a);
    if (on_instance)
        r->batches_on_instances++;
    else
        r->batches_on_functions++;
    if (latency <= sh->slo_s + EPS)
        r->batches_slo_ok++;
    if (latency > r->max_batch_latency_s)
        r->max_batch_latency_s = latency;
    /* requests meet the SLO when now + latency - arrival <= slo */
    int first_ok = lower_bound(sh->arrival, a, b, now + latency - sh->slo_s - EPS);
    r->requests_slo_ok += (uint64_t)(b - first_ok);
    double done = now + latency;
    if (b > a && done - sh->arrival[a] > r->response_max_s)
        r->response_max_s = done - sh->arrival[a]; /* the earliest arrival waits longest */
    const double per_bin = 1.0 / RESP_BIN_S, top = RESP_BINS - 1;
    for (int j = a; j < b; j++) {
        double bin = (done - sh->arrival[j]) * per_bin; /* >= 0: answers follow arrivals */
        ps->resp_hist[(size_t)(bin < top ? bin : top)]++;
    }
}

static void charge_fn(struct shared *sh, struct pstate *ps, double bill)
{
    struct sf_policy_result *r = ps->res;
    double d = billed_s(bill, sh->price->fn_billing_granularity_s);
    r->function_gb_s += d * ps->rt.fn_gb;
    r->function_cost_usd += d * ps->rt.fn_usd_per_s + sh->price->fn_request_fee_usd;
    r->fee_usd += sh->price->fn_request_fee_usd;
    r->invocations++;
}

static void bill_vm(struct shared *sh, struct pstate *ps, const struct sf_instance *in,
                    int64_t end_epoch)
{
    double secs = (double)(end_epoch - in->launch_epoch) * sh->o->ctl.epoch_s;
    secs = billed_s(secs, sh->price->vm_billing_granularity_s);
    if (secs < sh->price->vm_billing_minimum_s)
        secs = sh->price->vm_billing_minimum_s;
    ps->res->vm_seconds += secs;
    ps->res->vm_cost_usd += secs * ps->rt.vm_usd_per_s;
}

static void scale_to(struct pstate *ps, int target, int64_t e)
{
    int d = sf_fleet_scale(&ps->fleet, &ps->ctl, target, e);
    if (d > 0)
        ps->res->launches += d;
}

/* The policy's decision at epoch e (before routing); returns the instance request cap. */
static int decide(struct pstate *ps, int64_t e, int n)
{
    double rate = n / ps->ctl.epoch_s;
    ps->ring[ps->ring_n % RING_MAX] = (uint32_t)n;
    ps->ring_n++;
    switch (ps->kind) {
    case SF_POL_FAAS:
        break;
    case SF_POL_SERFLOW:
    case SF_POL_LIBRA:
        sf_monitor_update(&ps->mon, rate, ps->ctl.alpha, ps->ctl.beta);
        if (sf_scaling_due(&ps->ctl, e))
            scale_to(ps,
                     sf_scaling_target(&ps->ctl, ps->mon.mu_rps, ps->mon.sigma_rps,
                                       sf_fleet_active(&ps->fleet)),
                     e);
        break;
    case SF_POL_ORACLE:
    case SF_POL_STATIC:
        if (ps->schedule && ps->schedule[e] >= 0)
            scale_to(ps, ps->schedule[e], e);
        break;
    default:
        break; /* spock, mark, libra-orig: handled by decide_baseline */
    }
    return INT32_MAX;
}

static int decide_baseline(struct pstate *ps, const struct sf_sim_opts *o, int64_t e, int n)
{
    double T = ps->ctl.epoch_s, r = ps->ctl.capacity_rps;
    if (ps->kind == SF_POL_SPOCK) {
        int W = o->spock_window_epochs;
        if (e % W == 0) {
            double sum = 0;
            for (int k = 0; k < W && k < ps->ring_n; k++)
                sum += ps->ring[(ps->ring_n - 1 - k) % RING_MAX];
            double mean = sum / (W * T);
            scale_to(ps, (int)ceil(mean / r - EPS), e);
        }
        return INT32_MAX;
    }
    if (ps->kind == SF_POL_MARK) {
        int W = o->mark_period_epochs;
        if (e % W == 0) {
            double peak = 0;
            for (int k = 0; k < W && k < ps->ring_n; k++) {
                double v = ps->ring[(ps->ring_n - 1 - k) % RING_MAX] / T;
                peak = v > peak ? v : peak;
            }
            double forecast = o->mark_headroom * peak;
            double horizon_s = o->mark_lookahead_steps * W * T;
            double cold_s =
                0.5 * (ps->ctl.cold_start_min_epochs + ps->ctl.cold_start_max_epochs) * T;
            int active = sf_fleet_active(&ps->fleet), k = 0;
            while (k < ps->ctl.max_instances) {
                double serve = forecast - k * r;
                if (serve <= 0)
                    break;
                if (serve > r)
                    serve = r;
                double vm = ps->rt.vm_usd_per_s * (horizon_s + (k >= active ? cold_s : 0));
                double fn = serve * horizon_s * ps->rt.faas_usd_per_req;
                if (!(vm < fn))
                    break;
                k++;
            }
            if (k >= active) {
                ps->mark_hyst = 0;
                if (k > active)
                    scale_to(ps, k, e);
            } else if (++ps->mark_hyst >= o->mark_hysteresis_rounds) {
                ps->mark_hyst = 0;
                scale_to(ps, k, e);
            }
        }
        return INT32_MAX;
    }
    if (ps->kind == SF_POL_LIBRA_ORIG) {
        sf_monitor_update(&ps->mon, n / T, 0.2, 0.2);
        int P = o->libra_orig_period_epochs;
        if (e % P == 0) {
            double share = ps->mon.mu_rps + ps->mon.sigma_rps;
            int target = (int)ceil(share / r - EPS);
            int active = sf_fleet_active(&ps->fleet);
            scale_to(ps, target, e);
            if (target > active) {
                ps->lo_share_pending = share; /* keep the old split until the VMs are ready */
                ps->lo_switch_pending = 1;
            } else {
                ps->lo_share_active = share;
                ps->lo_switch_pending = 0;
            }
        }
        if (ps->lo_switch_pending && sf_fleet_ready(&ps->fleet) >= sf_fleet_active(&ps->fleet)) {
            ps->lo_share_active = ps->lo_share_pending;
            ps->lo_switch_pending = 0;
        }
        double cap = floor(o->libra_orig_vm_share * ps->lo_share_active * T + EPS);
        return cap > INT32_MAX ? INT32_MAX : (int)cap;
    }
    return INT32_MAX;
}

static void step(struct shared *sh, struct pstate *ps, int64_t e, int n)
{
    const struct sf_sim_opts *o = sh->o;
    struct sf_policy_result *r = ps->res;
    double now = (double)e * o->ctl.epoch_s;
    struct sf_instance ended[SF_CTL_MAX_INSTANCES];
    int n_end = sf_fleet_advance(&ps->fleet, e, ended, SF_CTL_MAX_INSTANCES);
    for (int i = 0; i < n_end; i++)
        bill_vm(sh, ps, &ended[i], ended[i].end_epoch);
    int cap = decide(ps, e, n);
    if (ps->kind == SF_POL_SPOCK || ps->kind == SF_POL_MARK || ps->kind == SF_POL_LIBRA_ORIG)
        cap = decide_baseline(ps, o, e, n);
    if (ps->fleet.n > r->peak_instances)
        r->peak_instances = ps->fleet.n;

    int B = o->ctl.batch_size, N = ps->rt.n;
    struct sf_lb_split split;
    int free_inst = ps->rt.path.has_instances ? sf_fleet_free(&ps->fleet, now) : 0;
    sf_lb_route(n, B, free_inst, o->ctl.partial_to_instance, cap, &split);
    r->requests += (uint64_t)n;
    int alive[SF_MAX_STAGES];
    int a = 0, cut = ps->rt.path.cut;
    for (int i = 0; i < ps->fleet.n && a < split.requests_to_instances; i++) {
        struct sf_instance *in = &ps->fleet.inst[i];
        if (in->state == SF_INST_PENDING || in->ready_epoch == INT64_MAX || in->busy_until_s > now)
            continue;
        int b = a + B < split.requests_to_instances ? a + B : split.requests_to_instances;
        stage_counts(sh->exits, a, b, N, alive);
        double head = run_s(ps->rt.vm_rq, ps->rt.vm_rb, alive, 0, cut);
        double latency = head;
        in->busy_until_s = now + head;
        r->vm_busy_s += head;
        if (cut < N && alive[cut] > 0) {
            double xfer = sh->prof->xfer_latency_s +
                          alive[cut] * ps->rt.hand_off_bytes / sh->prof->xfer_bandwidth_bytes_per_s;
            double tail = run_s(ps->rt.fn_rq, ps->rt.fn_rb, alive, cut, N);
            int cold, thr;
            double bill;
            latency += xfer + fn_invoke(&ps->fn, o, now + head + xfer, tail, &cold, &thr, &bill);
            r->fn_cold_starts += (uint64_t)cold;
            r->fn_throttled += (uint64_t)thr;
            charge_fn(sh, ps, bill);
        }
        account_batch(sh, ps, a, b, now, latency, 1);
        a = b;
    }
    /* anything the instances could not take (busy ones) joins the function share */
    for (; a < n; a += B) {
        int b = a + B < n ? a + B : n;
        stage_counts(sh->exits, a, b, N, alive);
        double run = run_s(ps->rt.fn_rq, ps->rt.fn_rb, alive, 0, N);
        int cold, thr;
        double bill;
        double latency = fn_invoke(&ps->fn, o, now, run, &cold, &thr, &bill);
        r->fn_cold_starts += (uint64_t)cold;
        r->fn_throttled += (uint64_t)thr;
        charge_fn(sh, ps, bill);
        account_batch(sh, ps, a, b, now, latency, 0);
    }
}

/* ---- oracle: exact DP over (decision, count) on warm-function epoch costs ---- */

struct oracle_table {
    int nmax;
    double *cost; /* [epoch][n] function cost of the epoch with n free instances */
};

static double warm_fn_cost(struct shared *sh, const struct pathrt *rt, double run)
{
    return billed_s(run, sh->price->fn_billing_granularity_s) * rt->fn_usd_per_s +
           sh->price->fn_request_fee_usd;
}

static void oracle_fill(struct shared *sh, const struct pathrt *rt, struct oracle_table *tb,
                        int64_t e, int n)
{
    int B = sh->o->ctl.batch_size, N = rt->n, cut = rt->path.cut;
    int nb = (n + B - 1) / B, full = n / B;
    double *row = tb->cost + (size_t)(e - 1) * (size_t)(tb->nmax + 1);
    double fsum = 0, f[SF_CTL_MAX_INSTANCES + 1], tl[SF_CTL_MAX_INSTANCES + 1];
    int alive[SF_MAX_STAGES];
    int kmax = nb < tb->nmax ? nb : tb->nmax;
    for (int k = 0; k < nb; k++) {
        int a = k * B, b = a + B < n ? a + B : n;
        stage_counts(sh->exits, a, b, N, alive);
        double fk = warm_fn_cost(sh, rt, run_s(rt->fn_rq, rt->fn_rb, alive, 0, N));
        fsum += fk;
        if (k <= kmax) {
            f[k] = fk;
            tl[k] = (cut < N && alive[cut] > 0)
                        ? warm_fn_cost(sh, rt, run_s(rt->fn_rq, rt->fn_rb, alive, cut, N))
                        : 0;
        }
    }
    double c = fsum;
    row[0] = c;
    for (int m = 1; m <= tb->nmax; m++) {
        int k = m - 1; /* the m-th instance takes batch k */
        if (k < nb && (k < full || sh->o->ctl.partial_to_instance))
            c += tl[k] - f[k];
        row[m] = c;
    }
}

/* Ready instances at epoch e of a period that began at d with n_prev and moved to n. */
static int ready_at(const struct sf_ctl_params *p, uint64_t seed, int64_t d, int n_prev, int n,
                    int64_t e)
{
    if (n >= n_prev) {
        int r = n_prev;
        for (int k = 0; k < n - n_prev; k++)
            r += d + sf_cold_start_epochs(p, seed, d, k) <= e;
        return r;
    }
    return e < d + p->terminate_delay_epochs ? n_prev : n;
}

static int run_oracle(struct shared *sh, const struct pathrt *rt, const struct oracle_table *tb,
                      int32_t *sched_oracle, int32_t *sched_static, double *bound_oracle,
                      double *bound_static, int *static_n, struct sf_err *err)
{
    const struct sf_ctl_params *p = &sh->o->ctl;
    int64_t E = sh->trace->n_epochs;
    int P = p->scale_period_epochs, M = tb->nmax;
    if (p->cold_start_max_epochs >= P || p->terminate_delay_epochs >= P)
        return sf_err_set(err, SF_EINVAL,
                          "oracle: needs cold start (max %d) and termination delay (%d) shorter "
                          "than the scaling period (%d epochs)",
                          p->cold_start_max_epochs, p->terminate_delay_epochs, P);
    double T = p->epoch_s, price = rt->vm_usd_per_s, min_s = sh->price->vm_billing_minimum_s;
    /* decision epochs: 1, P, 2P, ... */
    int64_t J = 1 + E / P;
    if (P == 1)
        J = E;
    int64_t *d = malloc(sizeof(int64_t) * (size_t)(J + 1));
    double *V = malloc(sizeof(double) * (size_t)(M + 1)),
           *V2 = malloc(sizeof(double) * (size_t)(M + 1));
    int32_t *arg = malloc(sizeof(int32_t) * (size_t)J * (size_t)(M + 1));
    if (!d || !V || !V2 || !arg) {
        free(d), free(V), free(V2), free(arg);
        return sf_err_set(err, SF_ENOMEM, "oracle: out of memory");
    }
    int64_t nd = 0;
    d[nd++] = 1;
    for (int64_t k = P; k <= E; k += P)
        if (k > 1)
            d[nd++] = k;
    J = nd;
    d[J] = E + 1;
    for (int n = 0; n <= M; n++)
        V[n] = n == 0 ? 0 : INFINITY;
    for (int64_t j = 0; j < J; j++) {
        int64_t len = d[j + 1] - d[j];
        for (int n = 0; n <= M; n++) {
            V2[n] = INFINITY;
            arg[j * (M + 1) + n] = 0;
            for (int np = 0; np <= M; np++) {
                if (!isfinite(V[np]))
                    continue;
                double kept = n < np ? n : np;
                double launched = n > np ? n - np : 0, term = np > n ? np - n : 0;
                double launch_s = len * T;
                if (j == J - 1 && launch_s < min_s)
                    launch_s = min_s;
                double term_len = len < p->terminate_delay_epochs ? len : p->terminate_delay_epochs;
                double c = price * (kept * len * T + launched * launch_s + term * term_len * T);
                for (int64_t e = d[j]; e < d[j + 1] && c < V2[n] - V[np]; e++) {
                    int rd = ready_at(p, sh->o->seed, d[j], np, n, e);
                    c += tb->cost[(size_t)(e - 1) * (size_t)(M + 1) + (size_t)(rd < M ? rd : M)];
                }
                if (V[np] + c < V2[n]) {
                    V2[n] = V[np] + c;
                    arg[j * (M + 1) + n] = np;
                }
            }
        }
        memcpy(V, V2, sizeof(double) * (size_t)(M + 1));
    }
    int best = 0;
    for (int n = 1; n <= M; n++)
        if (V[n] < V[best])
            best = n;
    *bound_oracle = V[best];
    for (int64_t e = 0; e <= E; e++)
        sched_oracle[e] = -1;
    for (int64_t j = J - 1; j >= 0; j--) {
        sched_oracle[d[j]] = best;
        best = arg[j * (M + 1) + best];
    }
    /* static: n instances launched at epoch 1 and kept */
    *bound_static = INFINITY;
    for (int n = 0; n <= M; n++) {
        double c = price * n * (double)E * T;
        if (n > 0 && E * T < min_s)
            c = price * n * min_s;
        for (int64_t e = 1; e <= E; e++) {
            int rd = ready_at(p, sh->o->seed, 1, 0, n, e);
            c += tb->cost[(size_t)(e - 1) * (size_t)(M + 1) + (size_t)rd];
        }
        if (c < *bound_static) {
            *bound_static = c;
            *static_n = n;
        }
    }
    for (int64_t e = 0; e <= E; e++)
        sched_static[e] = -1;
    sched_static[1] = *static_n;
    free(d), free(V), free(V2), free(arg);
    return SF_OK;
}

/* ---- driver ---- */

static int init_policy(struct shared *sh, struct pstate *ps, enum sf_policy_kind k,
                       const struct sf_path *path, struct sf_policy_result *res, struct sf_err *err)
{
    memset(ps, 0, sizeof(*ps));
    ps->kind = k;
    ps->res = res;
    res->kind = k;
    res->path = *path;
    ps->ctl = sh->o->ctl;
    if (k != SF_POL_SERFLOW)
        ps->ctl.scaling_rule = SF_SCALE_PAPER; /* baselines keep their own rules */
    ps->ctl.use_instances = path->has_instances;
    ps->ctl.tcip_rps = path->tcip_rps;
    int rc = pathrt_init(&ps->rt, path, sh->prof, sh->price, sh->o->tau, err);
    if (rc != SF_OK)
        return rc;
    sf_fleet_init(&ps->fleet, sh->o->seed);
    sf_monitor_init(&ps->mon);
    ps->resp_hist = calloc(RESP_BINS, sizeof(uint64_t));
    if (!ps->resp_hist)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    ps->fn.cap = sh->o->fn_concurrency;
    ps->fn.busy_until = calloc((size_t)ps->fn.cap, sizeof(double));
    ps->fn.last_end = calloc((size_t)ps->fn.cap, sizeof(double));
    if (!ps->fn.busy_until || !ps->fn.last_end)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    if (sh->o->record_series) {
        size_t E = (size_t)sh->trace->n_epochs;
        res->series_ready = calloc(E, sizeof(int32_t));
        res->series_batches_inst = calloc(E, sizeof(int32_t));
        res->series_batches_fn = calloc(E, sizeof(int32_t));
        if (!res->series_ready || !res->series_batches_inst || !res->series_batches_fn)
            return sf_err_set(err, SF_ENOMEM, "replay: out of memory for series");
    }
    return SF_OK;
}

static void finish_policy(struct shared *sh, struct pstate *ps)
{
    int64_t end = sh->trace->n_epochs + 1;
    for (int i = 0; i < ps->fleet.n; i++) {
        const struct sf_instance *in = &ps->fleet.inst[i];
        bill_vm(sh, ps, in, in->end_epoch < end ? in->end_epoch : end);
    }
    struct sf_policy_result *r = ps->res;
    r->cost_usd = r->vm_cost_usd + r->function_cost_usd;
    r->accuracy = sh->accuracy;
    /* quantiles from the histogram: the upper edge of the bin holding the rank */
    uint64_t seen = 0, want50 = (r->requests_served + 1) / 2,
             want99 = r->requests_served - r->requests_served / 100;
    for (size_t k = 0; k < RESP_BINS && r->requests_served; k++) {
        seen += ps->resp_hist[k];
        double edge = (double)(k + 1) * RESP_BIN_S;
        if (edge > r->response_max_s)
            edge = r->response_max_s;
        if (r->response_p50_s == 0 && seen >= want50)
            r->response_p50_s = edge;
        if (seen >= want99) {
            r->response_p99_s = edge;
            break;
        }
    }
    free(ps->resp_hist);
    ps->resp_hist = NULL;
    free(ps->fn.busy_until);
    free(ps->fn.last_end);
    ps->fn.busy_until = ps->fn.last_end = NULL;
}

static void record(struct pstate *ps, int64_t e, uint64_t binst0, uint64_t bfn0)
{
    struct sf_policy_result *r = ps->res;
    if (!r->series_ready)
        return;
    r->series_ready[e - 1] = sf_fleet_serving(&ps->fleet);
    r->series_batches_inst[e - 1] = (int32_t)(r->batches_on_instances - binst0);
    r->series_batches_fn[e - 1] = (int32_t)(r->batches_on_functions - bfn0);
}

/* One lockstep pass over the trace for the policies in ps[0..np). */
static void pass(struct shared *sh, struct pstate *ps, size_t np, struct oracle_table *tb,
                 const struct pathrt *tb_rt, const char *phase)
{
    const struct sf_trace *t = sh->trace;
    int64_t E = t->n_epochs, step_every = E / 100 > 0 ? E / 100 : 1;
    for (int64_t e = 1; e <= E; e++) {
        int n = (int)t->count[e - 1];
        sample_epoch(sh, e, n);
        for (size_t i = 0; i < np; i++) {
            uint64_t bi = ps[i].res->batches_on_instances, bf = ps[i].res->batches_on_functions;
            step(sh, &ps[i], e, n);
            record(&ps[i], e, bi, bf);
        }
        if (tb)
            oracle_fill(sh, tb_rt, tb, e, n);
        if (sh->o->progress && (e % step_every == 0 || e == E))
            sh->o->progress(sh->o->progress_ctx, e, E, phase);
    }
    for (size_t i = 0; i < np; i++)
        finish_policy(sh, &ps[i]);
}

static const struct sf_path *path_for(const struct sf_sim_paths *paths, enum sf_policy_kind k)
{
    switch (k) {
    case SF_POL_FAAS:
        return &paths->faas;
    case SF_POL_SERFLOW:
        return &paths->serflow;
    case SF_POL_ORACLE:
    case SF_POL_STATIC:
        return &paths->oracle;
    default:
        return &paths->iaas;
    }
}

void sf_sim_results_fini(struct sf_policy_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(results[i].series_ready);
        free(results[i].series_batches_inst);
        free(results[i].series_batches_fn);
        results[i].series_ready = results[i].series_batches_inst = results[i].series_batches_fn =
            NULL;
    }
}

int sf_sim_run(const struct sf_profile *prof, const struct sf_pricing *price,
               const struct sf_trace *trace, const struct sf_sim_opts *opts,
               const struct sf_sim_paths *paths, const enum sf_policy_kind *kinds, size_t n_kinds,
               struct sf_policy_result *results, struct sf_err *err)
{
    memset(results, 0, sizeof(*results) * n_kinds);
    int rc = sf_ctl_params_check(&opts->ctl, err);
    if (rc != SF_OK)
        return rc;
    const struct sf_exit_row *row = sf_profile_exits(prof, opts->tau);
    if (!row)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the profile", opts->tau);
    if (opts->fn_concurrency < 1 || opts->spock_window_epochs < 1 || opts->mark_period_epochs < 1 ||
        opts->libra_orig_period_epochs < 1 || opts->spock_window_epochs > RING_MAX ||
        opts->mark_period_epochs > RING_MAX)
        return sf_err_set(err, SF_EINVAL, "replay: bad baseline or function parameters");
    struct shared sh = {.prof = prof,
                        .price = price,
                        .trace = trace,
                        .o = opts,
                        .slo_s = opts->ctl.epoch_s,
                        .accuracy = row->accuracy};
    double s[SF_MAX_STAGES];
    sf_profile_survival(prof, row, s);
    for (int i = 0; i < prof->n_stages; i++) {
        double p_le = 1 - (i + 1 < prof->n_stages ? s[i + 1] : 0); /* P(exit stage <= i) */
        sh.cdf[i] = (uint64_t)(p_le * 9007199254740992.0);         /* 2^53: draws are 53-bit */
    }
    uint32_t maxc = 0;
    for (int64_t e = 0; e < trace->n_epochs; e++)
        maxc = trace->count[e] > maxc ? trace->count[e] : maxc;
    sh.exits = malloc((size_t)maxc + 1);
    sh.arrival = malloc(sizeof(double) * ((size_t)maxc + 1));
    struct pstate *ps = calloc(n_kinds ? n_kinds : 1, sizeof(*ps));
    struct oracle_table tb = {0};
    struct pathrt tb_rt;
    int32_t *sched[2] = {NULL, NULL};
    if (!sh.exits || !sh.arrival || !ps) {
        rc = sf_err_set(err, SF_ENOMEM, "replay: out of memory");
        goto out;
    }
    size_t np = 0, late[SF_POL_COUNT], n_late = 0;
    int want_oracle = 0;
    for (size_t i = 0; i < n_kinds; i++) {
        if (kinds[i] == SF_POL_ORACLE || kinds[i] == SF_POL_STATIC) {
            want_oracle = 1;
            if (n_late < SF_POL_COUNT)
                late[n_late++] = i;
            continue;
        }
        const struct sf_path *p = path_for(paths, kinds[i]);
        if (p->has_instances < 0) {
            rc = sf_err_set(err, SF_EINFEASIBLE,
                            "replay: policy %s needs an SLO-feasible IaaS configuration at tau "
                            "%g and the plan has none",
                            sf_policy_name(kinds[i]), opts->tau);
            goto out;
        }
        rc = init_policy(&sh, &ps[np], kinds[i], p, &results[i], err);
        if (rc != SF_OK)
            goto out;
        np++;
    }
    if (want_oracle) {
        rc = pathrt_init(&tb_rt, &paths->oracle, prof, price, opts->tau, err);
        if (rc != SF_OK)
            goto out;
        int nb =
            (int)((maxc + (uint32_t)opts->ctl.batch_size - 1) / (uint32_t)opts->ctl.batch_size);
        tb.nmax = paths->oracle.has_instances
                      ? (nb < opts->ctl.max_instances ? nb : opts->ctl.max_instances)
                      : 0;
        tb.cost = malloc(sizeof(double) * (size_t)trace->n_epochs * (size_t)(tb.nmax + 1));
        sched[0] = malloc(sizeof(int32_t) * (size_t)(trace->n_epochs + 1));
        sched[1] = malloc(sizeof(int32_t) * (size_t)(trace->n_epochs + 1));
        if (!tb.cost || !sched[0] || !sched[1]) {
            rc = sf_err_set(err, SF_ENOMEM, "replay: out of memory for the oracle");
            goto out;
        }
    }
    pass(&sh, ps, np, want_oracle ? &tb : NULL, &tb_rt, "replay");
    for (size_t i = 0; i < np; i++)
        memset(&ps[i], 0, sizeof(ps[i]));
    if (want_oracle) {
        double bound[2] = {0, 0};
        int static_n = 0;
        rc = run_oracle(&sh, &tb_rt, &tb, sched[0], sched[1], &bound[0], &bound[1], &static_n, err);
        if (rc != SF_OK)
            goto out;
        for (size_t i = 0; i < n_late; i++) {
            size_t k = late[i];
            rc = init_policy(&sh, &ps[i], kinds[k], &paths->oracle, &results[k], err);
            if (rc != SF_OK)
                goto out;
            int is_static = kinds[k] == SF_POL_STATIC;
            ps[i].schedule = sched[is_static];
            results[k].bound_usd = bound[is_static];
            results[k].static_count = is_static ? static_n : 0;
        }
        pass(&sh, ps, n_late, NULL, NULL, "oracle");
    }
out:
    if (rc != SF_OK) {
        for (size_t i = 0; i < n_kinds; i++) {
            free(ps ? ps[i].fn.busy_until : NULL);
            free(ps ? ps[i].fn.last_end : NULL);
            free(ps ? ps[i].resp_hist : NULL);
        }
        sf_sim_results_fini(results, n_kinds);
    }
    free(tb.cost);
    free(sched[0]);
    free(sched[1]);
    free(sh.exits);
    free(sh.arrival);
    free(ps);
    return rc;
}
