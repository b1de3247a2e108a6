/*
 * sim.c - the trace-replay simulator's driver (sim.h).
 *
 * All policies advance in lockstep over the same requests: each request draws its exit stage
 * once (seeded per epoch) and gets its arrival time once, in chunks of at most SF__SIM_CHUNK, and
 * every policy takes them with its own ctl/ policy module (policy.h), fleet and function pool.
 * Two batchings: deadline-aware (batcher.h, the default: each request is dispatched in a batch
 * that leaves when full or when its oldest request would otherwise miss the SLO) and the paper's
 * (each epoch's requests cut into batches of B and routed at the epoch's end). Policies decide at
 * the end of every epoch on its arrival count. Work is O(requests + batches x instances) per
 * policy; memory does not grow with the trace or its busiest epoch.
 * Runtimes, containers and billing are in sim_bill.c; the oracle and the static fleet, which
 * need the future, in sim_oracle.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

void sf_sim_opts_default(struct sf_sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tau = 0.7;
    o->seed = 1;
    o->fn_cold_start_s = 1.0;
    o->fn_idle_timeout_s = 600;
    o->fn_concurrency = 1000;
    o->fn_bill_init = 1;
    o->payload_factor = SF_PLAN_PAYLOAD_FACTOR;
    o->batching = SF_BATCHING_DEADLINE;
    struct sf_policy_env env;
    sf_policy_env_default(&env);
    o->ctl = env.ctl;
    o->base = env.base;
    o->tcip_rps = -1;
}

/* ---- sampling: requests in chunks, deterministic per (seed, epoch) ---- */

/* SplitMix64's increment: the j-th draw of a stream that starts at state s0 is
 * sf_splitmix64 of s0 + j * gamma, so any draw can be reached without the ones before it. */
#define SF__GAMMA 0x9E3779B97F4A7C15ull

/* Where the sampler is inside the current epoch. Exit draws come first in the epoch's stream (one
 * per request), then arrival draws (Poisson: c + 1 per trace unit of c requests). */
struct sampler {
    int64_t e, n, j; /* epoch, its requests, the next one to sample */
    uint64_t rng0;   /* the epoch's stream */
    /* count traces: the unit whose requests are being spread */
    int64_t unit, unit_end;
    uint32_t c, k; /* the unit's count and the next of its requests */
    double u0;     /* the unit's start time */
    uint64_t arng; /* Poisson: the unit's arrival stream */
    double acc, total;
};

/* Moves to the next unit holding requests; Poisson units draw their total spacing first (a
 * second pass then emits the points one by one, bit-identical to drawing them all at once). */
static void unit_begin(struct sampler *s, const struct sf__shared *sh)
{
    const struct sf_trace *t = sh->trace;
    int64_t per = (int64_t)llround(sh->o->ctl.epoch_s / t->unit_s);
    if (per < 1)
        per = 1;
    double start = (double)(s->e - 1) * sh->o->ctl.epoch_s;
    for (; s->unit < s->unit_end; s->unit++) {
        s->c = t->unit_count[s->unit];
        s->k = 0;
        s->u0 = start + (double)(s->unit - (s->e - 1) * per) * t->unit_s;
        if (sh->o->arrivals_poisson) {
            uint64_t st = s->arng;
            s->total = 0;
            for (uint32_t k = 0; k <= s->c; k++) {
                double r = (double)((sf_splitmix64(&st) >> 11) + 1) / 9007199254740993.0;
                s->total += -log(r);
            }
            s->acc = 0;
        }
        if (s->c > 0)
            return;
        s->arng += SF__GAMMA; /* an empty unit still draws its one spacing */
    }
}

static void sampler_epoch(struct sampler *s, const struct sf__shared *sh, int64_t e, int64_t n)
{
    const struct sf_trace *t = sh->trace;
    memset(s, 0, sizeof(*s));
    s->e = e;
    s->n = n;
    /* one independent stream per (seed, epoch): odd multipliers spread both over 64 bits */
    s->rng0 = sh->o->seed * 0xD1B54A32D192ED03ull ^ (uint64_t)e * SF__GAMMA;
    if (t->arrival_s)
        return;
    int64_t per = (int64_t)llround(sh->o->ctl.epoch_s / t->unit_s);
    if (per < 1)
        per = 1;
    s->unit = (e - 1) * per;
    s->unit_end = e * per < t->n_units ? e * per : t->n_units;
    s->arng = s->rng0 + (uint64_t)n * SF__GAMMA;
    unit_begin(s, sh);
}

/* Appends the epoch's next m requests (exit stage and arrival time) to the buffer, after keeping
 * the last SF__SIM_KEEP requests sampled before. */
static void sample_chunk(struct sf__shared *sh, struct sampler *s, int64_t m)
{
    int64_t have = sh->end - sh->base, keep = have < SF__SIM_KEEP ? have : SF__SIM_KEEP;
    if (keep > 0 && have > keep) {
        memmove(sh->exits, sh->exits + (have - keep), (size_t)keep);
        memmove(sh->arrival, sh->arrival + (have - keep), sizeof(double) * (size_t)keep);
    }
    sh->base = sh->end - keep;
    uint8_t *ex = sh->exits + keep;
    double *ar = sh->arrival + keep;
    const struct sf_trace *t = sh->trace;
    int N = sh->prof->n_stages;
    for (int64_t i = 0; i < m; i++) {
        uint64_t st = s->rng0 + (uint64_t)(s->j + i) * SF__GAMMA;
        uint64_t u = sf_splitmix64(&st) >> 11;
        int x = 0;
        while (x < N - 1 && u >= sh->cdf[x])
            x++;
        ex[i] = (uint8_t)x;
    }
    if (t->arrival_s) {
        memcpy(ar, t->arrival_s + t->epoch_first[s->e - 1] + s->j, sizeof(double) * (size_t)m);
    } else {
        /* Count traces: each unit's requests spread inside the unit, evenly or as a Poisson
         * process (sorted uniform points by exponential spacings: Poisson arrivals conditioned
         * on the count) */
        for (int64_t i = 0; i < m; i++) {
            if (!sh->o->arrivals_poisson) {
                ar[i] = s->u0 + (s->k + 0.5) / s->c * t->unit_s;
            } else {
                double r = (double)((sf_splitmix64(&s->arng) >> 11) + 1) / 9007199254740993.0;
                s->acc += -log(r);
                ar[i] = s->u0 + s->acc / s->total * t->unit_s;
            }
            if (++s->k == s->c) {
                if (sh->o->arrivals_poisson)
                    s->arng += SF__GAMMA; /* the unit's last spacing, drawn for the total */
                s->unit++;
                unit_begin(s, sh);
            }
        }
    }
    s->j += m;
    sh->end += m;
}

/* ---- one batch: its run, its bill, its requests' response times ---- */

static void account_batch(struct sf__shared *sh, struct sf__pstate *ps, int a, int b, double now,
                          double latency, int on_instance)
{
    struct sf_policy_result *r = ps->res;
    r->batches++;
    r->requests_served += (uint64_t)(b - a);
    if (on_instance)
        r->batches_on_instances++;
    else
        r->batches_on_functions++;
    if (latency <= sh->slo_s + SF__SIM_EPS)
        r->batches_slo_ok++;
    if (latency > r->max_batch_latency_s)
        r->max_batch_latency_s = latency;
    double done = now + latency;
    if (b > a && done - sh->arrival[a] > r->response_max_s)
        r->response_max_s = done - sh->arrival[a]; /* the earliest arrival waits longest */
    const double per_bin = 1.0 / SF__RESP_BIN_S, top = SF__RESP_BINS - 1;
    const double late = done - sh->slo_s - SF__SIM_EPS; /* arrived before: missed the SLO */
    uint64_t ok = 0;
    for (int j = a; j < b; j++) {
        double bin = (done - sh->arrival[j]) * per_bin; /* >= 0: answers follow arrivals */
        ps->resp_hist[(size_t)(bin < top ? bin : top)]++;
        ok += sh->arrival[j] >= late;
    }
    r->requests_slo_ok += ok;
}

static void scale_to(struct sf__pstate *ps, int target, int64_t e)
{
    int d = sf_fleet_scale(&ps->fleet, &ps->ctl, target, e);
    if (d > 0)
        ps->res->launches += d;
}

/* Requests per FaaS invocation on the policy's path: a batch of B unless the plan says fewer. */
static int fn_invoke_size(const struct sf__pstate *ps, int B)
{
    int nf = ps->rt->path.fn_invoke_size;
    return nf > 0 && nf < B ? nf : B;
}

/* ---- one machine's cores (sf_sim_opts.host_cores) ---- */

/* Threads of one function container: its vCPUs (memory over MB per vCPU, rounded up), as the
 * local function runtime gives it, at least one. */
static int fn_threads(const struct sf__shared *sh, const struct sf__pstate *ps)
{
    int per = sh->price->fn_mb_per_vcpu;
    int t = per > 0 ? (ps->rt->path.fn_mem_mb + per - 1) / per : 1;
    if (sh->o->host_cores > 0 && t > sh->o->host_cores) /* no more threads than the machine has */
        t = (int)sh->o->host_cores;
    return t < 1 ? 1 : t;
}

/* What runs on the host after t, into ps->hjobs (room for every container and instance):
 * containers and instances busy after t, and instances booting (loading the model takes as long
 * as a function container's init, the same work; then they wait for their cold start to end).
 * Returns how many, and their threads in *busy. */
static int host_jobs(const struct sf__shared *sh, struct sf__pstate *ps, double t, double *busy)
{
    struct sf__hjob *j = ps->hjobs;
    int n = 0, ft = fn_threads(sh, ps);
    *busy = 0;
    for (int i = 0; i < ps->fn.n; i++)
        if (ps->fn.busy_until[i] > t) {
            j[n++] = (struct sf__hjob){0, ps->fn.busy_until[i], ft, 0, i};
            *busy += ft;
        }
    if (!ps->rt->path.has_instances)
        return n;
    int vt = sh->price->vm[ps->rt->path.vm].vcpus;
    vt = vt > 0 ? vt : 1;
    for (int i = 0; i < ps->fleet.n; i++) {
        const struct sf_instance *in = &ps->fleet.inst[i];
        double boot_end_s = (double)in->launch_epoch * sh->o->ctl.epoch_s + sh->o->fn_cold_start_s;
        if (in->busy_until_s > t)
            j[n++] = (struct sf__hjob){0, in->busy_until_s, vt, 1, i};
        else if (in->state == SF_INST_PENDING && boot_end_s > t)
            j[n++] = (struct sf__hjob){0, boot_end_s, vt, 2, i};
        else
            continue;
        *busy += vt;
    }
    return n;
}

static int hjob_by_rem(const void *a, const void *b)
{
    double x = ((const struct sf__hjob *)a)->rem_s, y = ((const struct sf__hjob *)b)->rem_s;
    return (x > y) - (x < y);
}

static int hjob_by_end(const void *a, const void *b)
{
    double x = ((const struct sf__hjob *)a)->end_s, y = ((const struct sf__hjob *)b)->end_s;
    return (x > y) - (x < y);
}

/* A thread's progress per second with `running` threads on the host's cores. */
static double host_rate(double cores, double running)
{
    return running > cores ? cores / running : 1;
}

/* How long work of `threads` threads starting at t takes on the host when it needs work_s alone,
 * and what it does to the work already running: processor sharing, every running thread
 * progressing at min(1, host_cores / threads running). The work already running is known by when
 * it ends, which is itself such a schedule, so its work left at t is read back from those ends;
 * then every job, the new one too, runs to its end with no more arrivals, and the ends move: a
 * container's call that runs longer is billed the extra seconds, an instance stays busy longer.
 * Each later start does the same from where things stand, so the schedule stays processor
 * sharing and an overlap costs both sides. (A factor frozen at the start and paid by the later
 * work alone put the demo's spill calls at 1.7-2.4x their time alone where they ran 1.3-1.5x
 * live.) A batch already answered keeps the latency it had. Host not modelled, or nothing over
 * the cores: work_s. */
static double host_share(struct sf__shared *sh, struct sf__pstate *ps, double t, int threads,
                         double work_s)
{
    double cores = sh->o->host_cores, busy;
    if (cores <= 0 || !(work_s > 0))
        return work_s;
    int n = host_jobs(sh, ps, t, &busy);
    if (busy + threads <= cores)
        return work_s;
    struct sf__hjob *j = ps->hjobs;
    /* the work left at t: what a thread gets done until each job's end */
    qsort(j, (size_t)n, sizeof(*j), hjob_by_end);
    double now = t, done = 0, running = busy;
    for (int i = 0; i < n; i++) {
        done += (j[i].end_s - now) * host_rate(cores, running);
        now = j[i].end_s;
        j[i].rem_s = done;
        running -= j[i].threads;
    }
    j[n] = (struct sf__hjob){work_s, 0, threads, -1, -1};
    /* every thread progresses alike, so the jobs end in the order of their work left */
    qsort(j, (size_t)n + 1, sizeof(*j), hjob_by_rem);
    double end_new = t + work_s;
    now = t, done = 0, running = busy + threads;
    for (int i = 0; i <= n; i++) {
        now += (j[i].rem_s - done) / host_rate(cores, running);
        done = j[i].rem_s;
        running -= j[i].threads;
        double later = now - j[i].end_s;
        if (j[i].kind < 0) {
            end_new = now;
        } else if (later > 0 && j[i].kind == 0) {
            ps->fn.busy_until[j[i].idx] = now;
            ps->fn.last_end[j[i].idx] = now;
            sf__charge_fn_extra(ps, later);
        } else if (later > 0 && j[i].kind == 1) {
            ps->fleet.inst[j[i].idx].busy_until_s = now;
            ps->res->vm_busy_s += later;
        }
    }
    return end_new - t;
}

/* One function call arriving at start_s that runs alone_s on its own: the container it gets,
 * its init when cold and the run, both as long as the host makes them from when the call starts
 * (after a wait at the concurrency cap, beside what is busy then); bills it, returns its latency.
 */
static double fn_call(struct sf__shared *sh, struct sf__pstate *ps, double start_s, double alone_s)
{
    int cold, thr;
    double wait, bill;
    int pick = sf__fn_pick(&ps->fn, sh->o, start_s, &wait, &cold, &thr);
    double init = cold ? sh->o->fn_cold_start_s : 0;
    double run = host_share(sh, ps, start_s + wait + init, fn_threads(sh, ps), alone_s);
    double lat = sf__fn_start(&ps->fn, sh->o, pick, start_s, wait, init, run, &bill);
    ps->res->fn_cold_starts += (uint64_t)cold;
    ps->res->fn_throttled += (uint64_t)thr;
    sf__charge_fn(sh, ps, bill);
    return lat;
}

/* The survivors' tail of batch a..b-1 on k parallel function calls started at start_s (one call
 * when k = 1); bills each call and returns the latency of the slowest. */
static double run_tail(struct sf__shared *sh, struct sf__pstate *ps, int a, int b, const int *alive,
                       double start_s)
{
    int N = ps->rt->n_stages, cut = ps->rt->path.cut, k = ps->rt->path.tail_fanout;
    int chunk_alive[SF_MAX_FANOUT_CHUNKS][SF_MAX_STAGES];
    const int(*chunks)[SF_MAX_STAGES] = chunk_alive;
    int n_chunks = 1;
    if (k > 1)
        n_chunks = sf__tail_chunks(sh->exits, a, b, N, cut, k, alive[cut], chunk_alive);
    else
        chunks = (const int(*)[SF_MAX_STAGES])alive;
    double worst = 0;
    for (int c = 0; c < n_chunks; c++) {
        double lat = fn_call(sh, ps, start_s,
                             sf__run_s(ps->rt->fn_rq_s, ps->rt->fn_rb_s, chunks[c], cut, N));
        worst = lat > worst ? lat : worst;
    }
    return worst;
}

/* Batch a..b-1 (buffer positions) on instance `in` at now: the head on the VM (busy for it), then
 * for a hybrid the hand-off and the fanned-out tail. */
static void run_on_instance(struct sf__shared *sh, struct sf__pstate *ps, struct sf_instance *in,
                            int a, int b, double now)
{
    int N = ps->rt->n_stages, cut = ps->rt->path.cut, alive[SF_MAX_STAGES];
    sf__stage_counts(sh->exits, a, b, N, alive);
    int vt = sh->price->vm[ps->rt->path.vm].vcpus;
    double head = host_share(sh, ps, now, vt > 0 ? vt : 1,
                             sf__run_s(ps->rt->vm_rq_s, ps->rt->vm_rb_s, alive, 0, cut));
    double latency = head;
    in->busy_until_s = now + head;
    in->promised_s = now + sf_batcher_worst_s(&ps->rt->batcher, b - a, 1);
    ps->res->vm_busy_s += head;
    if (cut < N && alive[cut] > 0) {
        double xfer = sh->prof->xfer_latency_s +
                      alive[cut] * ps->rt->hand_off_bytes / sh->prof->xfer_bandwidth_bytes_per_s;
        latency += xfer + run_tail(sh, ps, a, b, alive, now + head + xfer);
    }
    account_batch(sh, ps, a, b, now, latency, 1);
}

/* Requests a..b-1 on one function invocation (the whole model) at now. */
static void run_on_function(struct sf__shared *sh, struct sf__pstate *ps, int a, int b, double now)
{
    int alive[SF_MAX_STAGES];
    sf__stage_counts(sh->exits, a, b, ps->rt->n_stages, alive);
    double latency = fn_call(
        sh, ps, now, sf__run_s(ps->rt->fn_rq_s, ps->rt->fn_rb_s, alive, 0, ps->rt->n_stages));
    account_batch(sh, ps, a, b, now, latency, 0);
}

/* ---- decisions ---- */

/* The policy's decisions at epoch e: a target applied to the fleet, then the cap on requests to
 * instances (policy.h's call order). */
static int decide(const struct sf__shared *sh, struct sf__pstate *ps, int64_t e, int n)
{
    if (!ps->pol) {
        if (ps->schedule && ps->schedule[e] >= 0)
            scale_to(ps, ps->schedule[e], e);
        return INT32_MAX;
    }
    /* deadline batching decides after the epoch was sampled: its arrivals per slot are known (the
     * paper's batching decides before routing the epoch, and routes it whole) */
    struct sf_policy_obs obs = {.epoch = e,
                                .arrivals = (uint32_t)n,
                                .active = sf_fleet_active(&ps->fleet),
                                .ready = sf_fleet_ready(&ps->fleet),
                                .slot_arrivals = ps->deadline ? sh->slot_n : NULL};
    int target = sf_policy_begin_epoch(ps->pol, &obs);
    if (target >= 0)
        scale_to(ps, target, e);
    obs.active = sf_fleet_active(&ps->fleet);
    obs.ready = sf_fleet_ready(&ps->fleet);
    return sf_policy_instance_cap(ps->pol, &obs);
}

/* Fleet to epoch e (billing the instances that ended), then the policy's decisions. */
static void decision(struct sf__shared *sh, struct sf__pstate *ps, int64_t e, int n)
{
    struct sf_instance ended[SF_CTL_MAX_INSTANCES];
    int n_end = sf_fleet_advance(&ps->fleet, e, ended, SF_CTL_MAX_INSTANCES);
    for (int i = 0; i < n_end; i++)
        sf__bill_vm(sh, ps, &ended[i], ended[i].end_epoch);
    ps->cap = decide(sh, ps, e, n);
    ps->inst_reqs = 0;
    if (ps->fleet.n > ps->res->peak_instances)
        ps->res->peak_instances = ps->fleet.n;
}

/* Per-epoch series: instances serving and batches dispatched since the last record. */
static void record(const struct sf__shared *sh, struct sf__pstate *ps, int64_t e)
{
    struct sf_policy_result *r = ps->res;
    if (r->series_ready && e >= 1 && e <= sh->trace->n_epochs) {
        r->series_ready[e - 1] = sf_fleet_serving(&ps->fleet);
        r->series_batches_inst[e - 1] = (int32_t)(r->batches_on_instances - ps->rec_bi);
        r->series_batches_fn[e - 1] = (int32_t)(r->batches_on_functions - ps->rec_bf);
    }
    ps->rec_bi = r->batches_on_instances;
    ps->rec_bf = r->batches_on_functions;
}

/* ---- the paper's epoch batching: every epoch's requests routed at its end ---- */

static void epoch_begin(struct sf__shared *sh, struct sf__pstate *ps, int64_t e, int n,
                        int64_t first_g)
{
    const struct sf_sim_opts *o = sh->o;
    double now = (double)e * o->ctl.epoch_s;
    decision(sh, ps, e, n);
    ps->rec_bi = ps->res->batches_on_instances;
    ps->rec_bf = ps->res->batches_on_functions;
    struct sf_lb_split split;
    int free_inst = ps->rt->path.has_instances ? sf_fleet_free(&ps->fleet, now) : 0;
    sf_lb_route(n, o->ctl.batch_size, free_inst, o->ctl.partial_to_instance, ps->cap, &split);
    ps->res->requests += (uint64_t)n;
    ps->next_g = ps->ep_first_g = first_g;
    ps->ep_inst_end_g = first_g + split.requests_to_instances;
    ps->ep_end_g = first_g + n;
    ps->ep_next_inst = 0;
    ps->ep_now_s = now;
}

/* Routes the epoch's batches whose requests are all sampled (up to avail_g): instance batches
 * of B in arrival order to the free instances in fleet order, then the rest to functions. */
static void epoch_route(struct sf__shared *sh, struct sf__pstate *ps, int64_t avail_g)
{
    int B = sh->o->ctl.batch_size, nf = fn_invoke_size(ps, B);
    double now = ps->ep_now_s;
    while (ps->next_g < ps->ep_end_g) {
        int64_t a = ps->next_g, b;
        if (a < ps->ep_inst_end_g) {
            b = a + B < ps->ep_inst_end_g ? a + B : ps->ep_inst_end_g;
            if (b > avail_g)
                return;
            struct sf_instance *in = NULL;
            for (; ps->ep_next_inst < ps->fleet.n && !in; ps->ep_next_inst++) {
                struct sf_instance *x = &ps->fleet.inst[ps->ep_next_inst];
                if (x->state != SF_INST_PENDING && x->ready_epoch != INT64_MAX &&
                    x->busy_until_s <= now)
                    in = x;
            }
            if (!in) { /* no instance left: the rest of the share joins the functions */
                ps->ep_inst_end_g = a;
                continue;
            }
            run_on_instance(sh, ps, in, (int)(a - sh->base), (int)(b - sh->base), now);
        } else {
            b = a + nf < ps->ep_end_g ? a + nf : ps->ep_end_g;
            if (b > avail_g)
                return;
            run_on_function(sh, ps, (int)(a - sh->base), (int)(b - sh->base), now);
        }
        ps->next_g = b;
    }
}

/* ---- deadline-aware batching (batcher.h): requests dispatched as they arrive ---- */

/* Instances that may take a batch at t (0 when the policy's cap is used up). */
static int free_instances(void *ctx, double t)
{
    const struct sf__pstate *ps = ctx;
    if (!ps->rt->path.has_instances || ps->inst_reqs >= ps->cap)
        return 0;
    return sf_fleet_free(&ps->fleet, t);
}

/* When a busy instance becomes free: really (promised 0: its batch's end, when the loop looks
 * again), or as the server's batcher expects it (promised 1: the earliest promise, the batch's
 * dispatch plus its worst-case service time, never before t: an overdue instance "may be free any
 * moment", as serve/ingress/control.c says). INFINITY: none busy, or the cap is used up. */
static double busy_end_s(const struct sf__pstate *ps, double t, int promised)
{
    double best = INFINITY;
    if (!ps->rt->path.has_instances || ps->inst_reqs >= ps->cap)
        return best;
    for (int i = 0; i < ps->fleet.n; i++) {
        const struct sf_instance *in = &ps->fleet.inst[i];
        double end = promised ? in->promised_s : in->busy_until_s;
        if (in->state != SF_INST_PENDING && in->ready_epoch != INT64_MAX && in->busy_until_s > t &&
            end < best)
            best = end;
    }
    return promised && best < t ? t : best;
}

static double next_free_s(void *ctx, double t)
{
    return busy_end_s(ctx, t, 1);
}

static double next_change_s(void *ctx, double t)
{
    return busy_end_s(ctx, t, 0);
}

/* Sends requests a, a + 1, ... where the batcher said, at now; the policy's cap may hold part of
 * an instance batch back for the next decision. */
static int64_t dispatch(void *ctx, const struct sf_batch_decision *d, int64_t a, double now)
{
    struct sf__pstate *ps = ctx;
    struct sf__shared *sh = ps->sh;
    int64_t n = d->n;
    if (d->path == SF_BATCH_INSTANCE) {
        if (n > ps->cap - ps->inst_reqs)
            n = ps->cap - ps->inst_reqs;
        struct sf_instance *in = NULL;
        for (int i = 0; i < ps->fleet.n && !in; i++) {
            struct sf_instance *x = &ps->fleet.inst[i];
            if (x->state != SF_INST_PENDING && x->ready_epoch != INT64_MAX &&
                x->busy_until_s <= now)
                in = x;
        }
        run_on_instance(sh, ps, in, (int)(a - sh->base), (int)(a + n - sh->base), now);
        ps->inst_reqs += n;
    } else {
        int nf = fn_invoke_size(ps, sh->o->ctl.batch_size);
        for (int64_t s = a; s < a + n; s += nf) {
            int64_t t = s + nf < a + n ? s + nf : a + n;
            run_on_function(sh, ps, (int)(s - sh->base), (int)(t - sh->base), now);
        }
    }
    return n;
}

static double arrival_s(void *ctx, int64_t g)
{
    const struct sf__shared *sh = ((const struct sf__pstate *)ctx)->sh;
    return sh->arrival[g - sh->base];
}

static const struct sf_dq_ops fleet_ops = {.free = free_instances,
                                           .next_free = next_free_s,
                                           .dispatch = dispatch,
                                           .arrival_s = arrival_s,
                                           .next_change = next_change_s};

/* The decision at the end of epoch e (time e T), after every dispatch before it. */
static void deadline_decision(struct sf__shared *sh, struct sf__pstate *ps, int64_t e, int n)
{
    sf_dq_advance(&ps->dq, (double)e * sh->o->ctl.epoch_s);
    record(sh, ps, e);
    decision(sh, ps, e, n);
    sf_dq_settle(&ps->dq, ps->dq.cur_s); /* a newly ready instance may take a batch */
}

/* The oracle's lanes for deadline batching (sim_oracle.c). */
static int oracle_lanes_init(struct sf__oracle_table *tb, const struct sf_binding *bnd,
                             struct sf_err *err)
{
    tb->lanes = calloc((size_t)tb->nmax + 2, sizeof(*tb->lanes));
    if (!tb->lanes)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory for the oracle");
    tb->epoch_first_g = -1;
    tb->cfg = &bnd->batcher;
    return SF_OK;
}

/* ---- the lockstep pass ---- */

static void finish_policy(struct sf__shared *sh, struct sf__pstate *ps);

/* One pass over the trace for the policies in ps[0..np), all on the same samples, in chunks. */
static void pass(struct sf__shared *sh, struct sf__pstate *ps, size_t np,
                 struct sf__oracle_table *tb, const struct sf_binding *tb_rt, struct sf__bound *bd,
                 const char *phase)
{
    const struct sf_trace *t = sh->trace;
    int64_t E = t->n_epochs, step_every = E / 100 > 0 ? E / 100 : 1;
    struct sampler smp;
    sh->base = sh->end = 0;
    for (int64_t e = 1; e <= E; e++) {
        int n = (int)t->count[e - 1];
        int64_t first_g = sh->end;
        for (size_t i = 0; i < np; i++) {
            if (!ps[i].deadline) {
                epoch_begin(sh, &ps[i], e, n, first_g);
                continue;
            }
            if (e > 1)
                deadline_decision(sh, &ps[i], e - 1, (int)t->count[e - 2]);
            ps[i].res->requests += (uint64_t)n;
        }
        sampler_epoch(&smp, sh, e, n);
        memset(sh->slot_n, 0, sizeof(sh->slot_n));
        int64_t left = n;
        do {
            int64_t m = left < SF__SIM_CHUNK ? left : SF__SIM_CHUNK;
            sample_chunk(sh, &smp, m);
            left -= m;
            /* the epoch's arrivals per slot, for the policies' observation of it */
            double t0 = (double)(e - 1) * sh->o->ctl.epoch_s;
            double per = SF_POLICY_OBS_SLOTS / sh->o->ctl.epoch_s;
            for (int64_t g = sh->end - m; g < sh->end; g++) {
                double x = (sh->arrival[g - sh->base] - t0) * per;
                int k = x <= 0                         ? 0
                        : x >= SF_POLICY_OBS_SLOTS - 1 ? SF_POLICY_OBS_SLOTS - 1
                                                       : (int)x;
                sh->slot_n[k]++;
            }
            for (size_t i = 0; i < np; i++) {
                if (!ps[i].deadline)
                    epoch_route(sh, &ps[i], sh->end);
                else
                    for (int64_t g = sh->end - m; g < sh->end; g++)
                        sf_dq_arrive(&ps[i].dq, g);
            }
            if (tb)
                sf__oracle_fill(sh, tb_rt, tb, e, first_g, first_g + n, sh->end);
            if (bd)
                sf__bound_take(bd, sh, e, first_g, sh->end - m, sh->end);
        } while (left > 0);
        if (bd)
            sf__bound_epoch_end(bd, e);
        for (size_t i = 0; i < np; i++)
            if (!ps[i].deadline)
                record(sh, &ps[i], e);
        if (sh->o->progress && (e % step_every == 0 || e == E))
            sh->o->progress(sh->o->progress_ctx, e, E, phase);
    }
    for (size_t i = 0; i < np; i++) {
        if (ps[i].deadline) {
            /* the queue drains at its deadlines; the last epoch's record includes that */
            sf_dq_advance(&ps[i].dq, INFINITY);
            record(sh, &ps[i], E);
        }
        finish_policy(sh, &ps[i]);
    }
}

static int init_policy(struct sf__shared *sh, struct sf__pstate *ps, const struct sf_binding *bnd,
                       struct sf_policy_result *res, struct sf_err *err)
{
    memset(ps, 0, sizeof(*ps));
    ps->kind = res->kind;
    ps->res = res;
    res->policy = bnd->policy;
    res->path = bnd->path;
    ps->rt = bnd;
    ps->ctl = bnd->env.ctl;
    sf_fleet_init(&ps->fleet, sh->o->seed);
    if (!bnd->policy->needs_future) {
        ps->pol = malloc(sizeof(*ps->pol));
        if (!ps->pol)
            return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
        int rc = sf_policy_init(ps->pol, bnd->policy, &bnd->env, err);
        if (rc != SF_OK)
            return rc;
    }
    ps->cap = INT32_MAX;
    ps->deadline = sh->o->batching == SF_BATCHING_DEADLINE;
    if (ps->deadline) {
        ps->sh = sh;
        ps->dq = (struct sf_dq){.cfg = &bnd->batcher, .ops = &fleet_ops, .ctx = ps};
    }
    ps->resp_hist = calloc(SF__RESP_BINS, sizeof(uint64_t));
    if (!ps->resp_hist)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    ps->fn.cap = sh->o->fn_concurrency;
    ps->fn.busy_until = calloc((size_t)ps->fn.cap, sizeof(double));
    ps->fn.last_end = calloc((size_t)ps->fn.cap, sizeof(double));
    if (!ps->fn.busy_until || !ps->fn.last_end)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    if (sh->o->host_cores > 0) { /* every container, every instance and one more piece of work */
        ps->hjobs = calloc((size_t)ps->fn.cap + SF_CTL_MAX_INSTANCES + 1, sizeof(*ps->hjobs));
        if (!ps->hjobs)
            return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    }
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

static void finish_policy(struct sf__shared *sh, struct sf__pstate *ps)
{
    int64_t end = sh->trace->n_epochs + 1;
    for (int i = 0; i < ps->fleet.n; i++) {
        const struct sf_instance *in = &ps->fleet.inst[i];
        sf__bill_vm(sh, ps, in, in->end_epoch < end ? in->end_epoch : end);
    }
    struct sf_policy_result *r = ps->res;
    r->cost_usd = r->vm_cost_usd + r->function_cost_usd;
    r->accuracy = sh->accuracy;
    /* quantiles from the histogram: the upper edge of the bin holding the rank */
    uint64_t seen = 0, want50 = (r->requests_served + 1) / 2,
             want99 = r->requests_served - r->requests_served / 100;
    for (size_t k = 0; k < SF__RESP_BINS && r->requests_served; k++) {
        seen += ps->resp_hist[k];
        double edge = (double)(k + 1) * SF__RESP_BIN_S;
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
    free(ps->pol);
    ps->pol = NULL;
    free(ps->fn.busy_until);
    free(ps->fn.last_end);
    free(ps->hjobs);
    ps->fn.busy_until = ps->fn.last_end = NULL;
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

void sf_sim_bind_opts(const struct sf_sim_opts *o, struct sf_bind_opts *out)
{
    sf_bind_opts_default(out);
    out->tau = o->tau;
    out->batching = (enum sf_batching)o->batching;
    out->ctl = o->ctl;
    out->base = o->base;
    out->fn_cold_start_s = o->fn_cold_start_s; /* the container model's, not the planner's */
    out->payload_factor = o->payload_factor;
    out->tcip_rps = o->tcip_rps;
}

int sf_sim_bind(const struct sf_plan *plan, const struct sf_profile *prof,
                const struct sf_pricing *price, const struct sf_sim_opts *o,
                const enum sf_policy_kind *kinds, size_t n, struct sf_binding *out,
                struct sf_err *err)
{
    struct sf_bind_opts bo;
    sf_sim_bind_opts(o, &bo);
    for (size_t i = 0; i < n; i++) {
        const struct sf_policy_desc *d = sf_policy_get(kinds[i]);
        int rc = d ? sf_bind(&out[i], plan, prof, price, d, &bo, err)
                   : sf_err_set(err, SF_EINVAL, "replay: unknown policy %d", (int)kinds[i]);
        if (rc != SF_OK) {
            sf_err_prefix(err, "replay: ");
            sf_sim_bindings_fini(out, i);
            return rc;
        }
    }
    return SF_OK;
}

void sf_sim_bindings_fini(struct sf_binding *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sf_binding_fini(&b[i]);
}

int sf_sim_run_plan(const struct sf_profile *prof, const struct sf_pricing *price,
                    const struct sf_trace *trace, const struct sf_sim_opts *opts,
                    const struct sf_plan *plan, const enum sf_policy_kind *kinds, size_t n,
                    struct sf_policy_result *results, struct sf_err *err)
{
    if (n > SF_POLICY_MAX)
        return sf_err_set(err, SF_ETOOBIG, "replay: at most %d policies at once", SF_POLICY_MAX);
    struct sf_binding *b = calloc(n ? n : 1, sizeof(*b));
    if (!b)
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
    int rc = sf_sim_bind(plan, prof, price, opts, kinds, n, b, err);
    if (rc == SF_OK) {
        rc = sf_sim_run(prof, price, trace, opts, b, n, results, err);
        sf_sim_bindings_fini(b, n);
    }
    free(b);
    return rc;
}

int sf_sim_run(const struct sf_profile *prof, const struct sf_pricing *price,
               const struct sf_trace *trace, const struct sf_sim_opts *opts,
               const struct sf_binding *bound, size_t n_kinds, struct sf_policy_result *results,
               struct sf_err *err)
{
    return sf_sim_replay(prof, price, trace, opts, bound, n_kinds, NULL, 0, results, NULL, err);
}

int sf_sim_replay(const struct sf_profile *prof, const struct sf_pricing *price,
                  const struct sf_trace *trace, const struct sf_sim_opts *opts,
                  const struct sf_binding *bound, size_t n_kinds, const struct sf_binding *extra,
                  size_t n_extra, struct sf_policy_result *results, struct sf_sim_report *report,
                  struct sf_err *err)
{
    memset(results, 0, sizeof(*results) * n_kinds);
    if (report) {
        report->lower_bound_usd = NAN;
        report->lower_bound_vm = -1;
    }
    int rc = sf_ctl_params_check(&opts->ctl, err);
    if (rc != SF_OK)
        return rc;
    const struct sf_exit_row *row = sf_profile_exits(prof, opts->tau);
    if (!row)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the profile", opts->tau);
    if (opts->fn_concurrency < 1)
        return sf_err_set(err, SF_EINVAL, "replay: function concurrency must be >= 1");
    if (!(opts->host_cores >= 0) || !isfinite(opts->host_cores))
        return sf_err_set(err, SF_EINVAL, "replay: host cores must be 0 or more");
    if (opts->ctl.batch_size > SF_SIM_MAX_BATCH)
        return sf_err_set(err, SF_ERANGE, "replay: batch size %d is above the simulator's %d",
                          opts->ctl.batch_size, SF_SIM_MAX_BATCH);
    if (opts->batching != SF_BATCHING_DEADLINE && opts->batching != SF_BATCHING_EPOCH)
        return sf_err_set(err, SF_EINVAL, "replay: unknown batching %d", opts->batching);
    if (!(opts->payload_factor >= 1) || !isfinite(opts->payload_factor))
        return sf_err_set(err, SF_EINVAL, "replay: the payload factor must be >= 1");
    const struct sf_binding *future = NULL;
    for (size_t i = 0; i < n_kinds; i++) {
        const struct sf_binding *b = &bound[i];
        if (!b->policy || b->tau != opts->tau || (int)b->batching != opts->batching ||
            b->env.ctl.epoch_s != opts->ctl.epoch_s ||
            b->env.ctl.batch_size != opts->ctl.batch_size || b->n_stages != prof->n_stages)
            return sf_err_set(err, SF_EINVAL,
                              "replay: policy %d was bound with other settings (tau, batching, "
                              "epoch, batch size or model) than the replay's",
                              (int)i);
        results[i].kind = (enum sf_policy_kind)sf_policy_parse(b->policy->name);
        if (!b->policy->needs_future)
            continue;
        if (future && memcmp(&future->path, &b->path, sizeof(b->path)) != 0)
            return sf_err_set(err, SF_EINVAL,
                              "replay: the clairvoyant policies must share one path");
        future = b;
    }
    struct sf__shared sh = {.prof = prof,
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
    sh.exits = malloc(SF__SIM_CHUNK + SF__SIM_KEEP);
    sh.arrival = malloc(sizeof(double) * (SF__SIM_CHUNK + SF__SIM_KEEP));
    struct sf__pstate *ps = calloc(n_kinds + 3, sizeof(*ps)); /* + the oracle's candidates */
    struct sf__oracle_table tb = {0};
    struct sf__bound bd = {0};
    int have_bd = 0;
    int32_t *sched[3] = {NULL, NULL, NULL};
    struct sf_policy_result cand[3];
    memset(cand, 0, sizeof(cand));
    if (!sh.exits || !sh.arrival || !ps) {
        rc = sf_err_set(err, SF_ENOMEM, "replay: out of memory");
        goto out;
    }
    size_t np = 0, late[SF_POLICY_MAX], n_late = 0;
    int want_oracle = future != NULL;
    if (n_kinds > SF_POLICY_MAX) {
        rc = sf_err_set(err, SF_ETOOBIG, "replay: at most %d policies at once", SF_POLICY_MAX);
        goto out;
    }
    for (size_t i = 0; i < n_kinds; i++) {
        if (bound[i].policy->needs_future) {
            late[n_late++] = i;
            continue;
        }
        rc = init_policy(&sh, &ps[np], &bound[i], &results[i], err);
        if (rc != SF_OK)
            goto out;
        np++;
    }
    if (want_oracle) {
        int nb =
            (int)((maxc + (uint32_t)opts->ctl.batch_size - 1) / (uint32_t)opts->ctl.batch_size);
        tb.nmax = future->path.has_instances
                      ? (nb < opts->ctl.max_instances ? nb : opts->ctl.max_instances)
                      : 0;
        double E = (double)trace->n_epochs, M = tb.nmax + 1.0;
        double periods = E / opts->ctl.scale_period_epochs + 1;
        if (E * M > SF_ORACLE_MAX_CELLS || M * M * (E + periods) > SF_ORACLE_MAX_WORK) {
            rc = sf_err_set(err, SF_ETOOBIG,
                            "replay: the oracle would tabulate %.0f epochs x %.0f instance counts "
                            "(up to %d batches in an epoch), beyond its caps of %.0f cells and "
                            "%.0f steps (limits.h); replay fewer epochs (--epochs) or leave out "
                            "oracle and static (--policy)",
                            E, M, nb, SF_ORACLE_MAX_CELLS, SF_ORACLE_MAX_WORK);
            goto out;
        }
        tb.cost = malloc(sizeof(double) * (size_t)trace->n_epochs * (size_t)(tb.nmax + 1));
        for (int c = 0; c < 3; c++)
            sched[c] = malloc(sizeof(int32_t) * (size_t)(trace->n_epochs + 1));
        if (!tb.cost || !sched[0] || !sched[1] || !sched[2]) {
            rc = sf_err_set(err, SF_ENOMEM, "replay: out of memory for the oracle");
            goto out;
        }
        if (opts->batching == SF_BATCHING_DEADLINE) {
            rc = oracle_lanes_init(&tb, future, err);
            if (rc != SF_OK)
                goto out;
        }
    }
    if (report) {
        const struct sf_binding *paths[2 * SF_POLICY_MAX];
        size_t n_paths = 0;
        if (n_extra > SF_POLICY_MAX) {
            rc = sf_err_set(err, SF_ETOOBIG, "replay: at most %d extra paths for the lower bound",
                            SF_POLICY_MAX);
            goto out;
        }
        for (size_t i = 0; i < n_kinds; i++)
            paths[n_paths++] = &bound[i];
        for (size_t i = 0; i < n_extra; i++)
            paths[n_paths++] = &extra[i];
        rc = sf__bound_init(&bd, &sh, paths, n_paths, err);
        if (rc != SF_OK)
            goto out;
        have_bd = 1;
    }
    pass(&sh, ps, np, want_oracle ? &tb : NULL, future, have_bd ? &bd : NULL, "replay");
    if (have_bd) {
        rc = sf__bound_solve(&bd, &report->lower_bound_usd, &report->lower_bound_vm, err);
        if (rc != SF_OK)
            goto out;
    }
    for (size_t i = 0; i < np; i++)
        memset(&ps[i], 0, sizeof(ps[i]));
    if (want_oracle) {
        /* the clairvoyant schedule is the cheapest replay of three candidates: the program every
         * P epochs (when its model applies), the program every epoch, and the static fleet */
        double est[3] = {NAN, NAN, NAN};
        int static_n = 0;
        rc = sf__run_oracle(&sh, future, &tb, sched[0], sched[1], &est[0], &est[1], &static_n, err);
        if (rc == SF_OK)
            rc = sf__run_oracle_epochwise(&sh, future, &tb, sched[2], &est[2], err);
        if (rc != SF_OK)
            goto out;
        size_t nps = 0, oracle_k = SIZE_MAX;
        for (size_t i = 0; i < n_late; i++) {
            size_t k = late[i];
            if (bound[k].policy->needs_future != SF_FUTURE_STATIC) {
                oracle_k = k;
                continue;
            }
            rc = init_policy(&sh, &ps[nps], &bound[k], &results[k], err);
            if (rc != SF_OK)
                goto out;
            ps[nps++].schedule = sched[1];
            results[k].estimate_usd = est[1];
            results[k].static_count = static_n;
        }
        int n_cand = 0, cand_sched[3];
        if (oracle_k != SIZE_MAX) {
            for (int c = 0; c < 3; c++) {
                if (c == 0 && isnan(est[0]))
                    continue; /* the periodic program did not apply */
                cand[n_cand].kind = results[oracle_k].kind;
                rc = init_policy(&sh, &ps[nps], &bound[oracle_k], &cand[n_cand], err);
                if (rc != SF_OK)
                    goto out;
                ps[nps++].schedule = sched[c];
                cand_sched[n_cand++] = c;
            }
        }
        pass(&sh, ps, nps, NULL, NULL, NULL, "oracle");
        if (oracle_k != SIZE_MAX) {
            int best = 0;
            for (int c = 1; c < n_cand; c++)
                if (cand[c].cost_usd < cand[best].cost_usd)
                    best = c;
            results[oracle_k] = cand[best];
            results[oracle_k].estimate_usd = est[cand_sched[best]];
            results[oracle_k].static_count = cand_sched[best] == 1 ? static_n : 0;
            results[oracle_k].oracle_schedule = cand_sched[best];
            for (int c = 0; c < n_cand; c++)
                if (c != best)
                    sf_sim_results_fini(&cand[c], 1);
            n_cand = 0;
        }
    }
out:
    if (rc != SF_OK) {
        for (size_t i = 0; i < n_kinds + 3; i++) {
            free(ps ? ps[i].fn.busy_until : NULL);
            free(ps ? ps[i].fn.last_end : NULL);
            free(ps ? ps[i].resp_hist : NULL);
            free(ps ? ps[i].pol : NULL);
        }
        sf_sim_results_fini(results, n_kinds);
        sf_sim_results_fini(cand, 3);
    }
    if (have_bd)
        sf__bound_fini(&bd);
    free(tb.cost);
    free(tb.lanes);
    for (int c = 0; c < 3; c++)
        free(sched[c]);
    free(sh.exits);
    free(sh.arrival);
    free(ps);
    return rc;
}
