/*
 * sim.c - the trace-replay simulator's driver (sim.h).
 *
 * All policies advance epoch by epoch in lockstep over the same requests: each epoch's requests
 * draw their exit stage once (seeded per epoch), get arrival times once, and every policy routes
 * the same request ranges with its own ctl/ policy module (policy.h), fleet and function pool.
 * Work per epoch is O(requests + batches + instances) per policy; nothing is allocated per epoch.
 * Runtimes, containers and billing are in sim_bill.c; the oracle and the static fleet, which
 * need the future, in sim_oracle.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

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
    o->payload_factor = SF_PLAN_PAYLOAD_FACTOR;
    struct sf_policy_env env;
    sf_policy_env_default(&env);
    o->ctl = env.ctl;
    o->base = env.base;
}

/* Draws exit stages and arrival times of epoch e's n requests (deterministic per epoch). */
static void sample_epoch(struct sf__shared *sh, int64_t e, int n)
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
    /* requests meet the SLO when now + latency - arrival <= slo */
    int first_ok = lower_bound(sh->arrival, a, b, now + latency - sh->slo_s - SF__SIM_EPS);
    r->requests_slo_ok += (uint64_t)(b - first_ok);
    double done = now + latency;
    if (b > a && done - sh->arrival[a] > r->response_max_s)
        r->response_max_s = done - sh->arrival[a]; /* the earliest arrival waits longest */
    const double per_bin = 1.0 / SF__RESP_BIN_S, top = SF__RESP_BINS - 1;
    for (int j = a; j < b; j++) {
        double bin = (done - sh->arrival[j]) * per_bin; /* >= 0: answers follow arrivals */
        ps->resp_hist[(size_t)(bin < top ? bin : top)]++;
    }
}

static void scale_to(struct sf__pstate *ps, int target, int64_t e)
{
    int d = sf_fleet_scale(&ps->fleet, &ps->ctl, target, e);
    if (d > 0)
        ps->res->launches += d;
}

/* The survivors' tail of batch a..b-1 on k parallel function calls started at start_s (one call
 * when k = 1); bills each call and returns the latency of the slowest. */
static double run_tail(struct sf__shared *sh, struct sf__pstate *ps, int a, int b, const int *alive,
                       double start_s)
{
    int N = ps->rt.n, cut = ps->rt.path.cut, k = ps->rt.path.tail_fanout;
    int chunk_alive[SF_MAX_FANOUT_CHUNKS][SF_MAX_STAGES];
    const int(*chunks)[SF_MAX_STAGES] = chunk_alive;
    int n_chunks = 1;
    if (k > 1)
        n_chunks = sf__tail_chunks(sh->exits, a, b, N, cut, k, alive[cut], chunk_alive);
    else
        chunks = (const int(*)[SF_MAX_STAGES])alive;
    double worst = 0;
    for (int c = 0; c < n_chunks; c++) {
        double tail = sf__run_s(ps->rt.fn_rq, ps->rt.fn_rb, chunks[c], cut, N);
        int cold, thr;
        double bill;
        double lat = sf__fn_invoke(&ps->fn, sh->o, start_s, tail, &cold, &thr, &bill);
        ps->res->fn_cold_starts += (uint64_t)cold;
        ps->res->fn_throttled += (uint64_t)thr;
        sf__charge_fn(sh, ps, bill);
        worst = lat > worst ? lat : worst;
    }
    return worst;
}

/* The policy's decisions at epoch e, before routing: a target applied to the fleet, then the
 * cap on requests to instances (policy.h's call order). */
static int decide(struct sf__pstate *ps, int64_t e, int n)
{
    if (!ps->pol) {
        if (ps->schedule && ps->schedule[e] >= 0)
            scale_to(ps, ps->schedule[e], e);
        return INT32_MAX;
    }
    struct sf_policy_obs obs = {.epoch = e,
                                .arrivals = (uint32_t)n,
                                .active = sf_fleet_active(&ps->fleet),
                                .ready = sf_fleet_ready(&ps->fleet)};
    int target = sf_policy_begin_epoch(ps->pol, &obs);
    if (target >= 0)
        scale_to(ps, target, e);
    obs.active = sf_fleet_active(&ps->fleet);
    obs.ready = sf_fleet_ready(&ps->fleet);
    return sf_policy_instance_cap(ps->pol, &obs);
}

static void step(struct sf__shared *sh, struct sf__pstate *ps, int64_t e, int n)
{
    const struct sf_sim_opts *o = sh->o;
    struct sf_policy_result *r = ps->res;
    double now = (double)e * o->ctl.epoch_s;
    struct sf_instance ended[SF_CTL_MAX_INSTANCES];
    int n_end = sf_fleet_advance(&ps->fleet, e, ended, SF_CTL_MAX_INSTANCES);
    for (int i = 0; i < n_end; i++)
        sf__bill_vm(sh, ps, &ended[i], ended[i].end_epoch);
    int cap = decide(ps, e, n);
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
        sf__stage_counts(sh->exits, a, b, N, alive);
        double head = sf__run_s(ps->rt.vm_rq, ps->rt.vm_rb, alive, 0, cut);
        double latency = head;
        in->busy_until_s = now + head;
        r->vm_busy_s += head;
        if (cut < N && alive[cut] > 0) {
            double xfer = sh->prof->xfer_latency_s +
                          alive[cut] * ps->rt.hand_off_bytes / sh->prof->xfer_bandwidth_bytes_per_s;
            latency += xfer + run_tail(sh, ps, a, b, alive, now + head + xfer);
        }
        account_batch(sh, ps, a, b, now, latency, 1);
        a = b;
    }
    /* anything the instances could not take (busy ones) joins the function share */
    for (; a < n; a += B) {
        int b = a + B < n ? a + B : n;
        sf__stage_counts(sh->exits, a, b, N, alive);
        double run = sf__run_s(ps->rt.fn_rq, ps->rt.fn_rb, alive, 0, N);
        int cold, thr;
        double bill;
        double latency = sf__fn_invoke(&ps->fn, o, now, run, &cold, &thr, &bill);
        r->fn_cold_starts += (uint64_t)cold;
        r->fn_throttled += (uint64_t)thr;
        sf__charge_fn(sh, ps, bill);
        account_batch(sh, ps, a, b, now, latency, 0);
    }
}

/* ---- driver ---- */

static int init_policy(struct sf__shared *sh, struct sf__pstate *ps, enum sf_policy_kind k,
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
    int rc =
        sf__pathrt_init(&ps->rt, path, sh->prof, sh->price, sh->o->tau, sh->o->payload_factor, err);
    if (rc != SF_OK)
        return rc;
    sf_fleet_init(&ps->fleet, sh->o->seed);
    if (k != SF_POL_ORACLE && k != SF_POL_STATIC) {
        struct sf_policy_env env = {.ctl = ps->ctl,
                                    .vm_usd_per_s = ps->rt.vm_usd_per_s,
                                    .faas_usd_per_req = ps->rt.faas_usd_per_req,
                                    .base = sh->o->base};
        ps->pol = malloc(sizeof(*ps->pol));
        if (!ps->pol)
            return sf_err_set(err, SF_ENOMEM, "replay: out of memory");
        rc = sf_policy_init(ps->pol, sf_policy_ops_find(sf_policy_name(k)), &env, err);
        if (rc != SF_OK)
            return rc;
    }
    ps->resp_hist = calloc(SF__RESP_BINS, sizeof(uint64_t));
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
    ps->fn.busy_until = ps->fn.last_end = NULL;
}

static void record(struct sf__pstate *ps, int64_t e, uint64_t binst0, uint64_t bfn0)
{
    struct sf_policy_result *r = ps->res;
    if (!r->series_ready)
        return;
    r->series_ready[e - 1] = sf_fleet_serving(&ps->fleet);
    r->series_batches_inst[e - 1] = (int32_t)(r->batches_on_instances - binst0);
    r->series_batches_fn[e - 1] = (int32_t)(r->batches_on_functions - bfn0);
}

/* One lockstep pass over the trace for the policies in ps[0..np). */
static void pass(struct sf__shared *sh, struct sf__pstate *ps, size_t np,
                 struct sf__oracle_table *tb, const struct sf__pathrt *tb_rt, const char *phase)
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
            sf__oracle_fill(sh, tb_rt, tb, e, n);
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
    if (opts->fn_concurrency < 1)
        return sf_err_set(err, SF_EINVAL, "replay: function concurrency must be >= 1");
    if (!(opts->payload_factor >= 1) || !isfinite(opts->payload_factor))
        return sf_err_set(err, SF_EINVAL, "replay: the payload factor must be >= 1");
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
    sh.exits = malloc((size_t)maxc + 1);
    sh.arrival = malloc(sizeof(double) * ((size_t)maxc + 1));
    struct sf__pstate *ps = calloc(n_kinds ? n_kinds : 1, sizeof(*ps));
    struct sf__oracle_table tb = {0};
    struct sf__pathrt tb_rt;
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
        rc = sf__pathrt_init(&tb_rt, &paths->oracle, prof, price, opts->tau, opts->payload_factor,
                             err);
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
        rc = sf__run_oracle(&sh, &tb_rt, &tb, sched[0], sched[1], &bound[0], &bound[1], &static_n,
                            err);
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
            free(ps ? ps[i].pol : NULL);
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
