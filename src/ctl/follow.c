/*
 * follow.c - serflow's default scaling rule (SF_SCALE_FOLLOW): follow the cheapest of the simple
 * rules, each run as a shadow on the observed arrivals (docs/controller.md, "The follow rule").
 *
 * The candidates ("experts") are: functions only; fixed fleets of 1..SF__FOLLOW_MAX_FIXED
 * instances launched at the first epoch; and the controller's rules (break-even, break-even with
 * steadier thresholds, expected, and the paper's, LIBRA's). Each keeps a virtual fleet (the mean
 * cold start, the termination delay), pays VM time per epoch with the billing minimum per launch,
 * and serves the epoch's arrivals (placed evenly inside the observation's slots) through the
 * same deadline-aware batcher as the real system (batcher.h), instances busy for the expected
 * time of their batch, functions and tails at their expected cost plus the request fee per call;
 * with the paper's epoch batching, through the balancer (a batch of B per free instance). The
 * real fleet follows one expert, and leaves it only for one whose cumulative shadow cost (fading
 * with `follow_memory_epochs`) is lower by more than `follow_hysteresis` times what the switch
 * costs (relaunching the instances it changes: a cold start's price and the FaaS premium of their
 * load meanwhile; `follow_same_count` of one when none changes); of those, for the one cheapest
 * with that relaunch added. Pure and allocation-free like every policy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static double cold_mean_epochs(const struct sf_ctl_params *c)
{
    return 0.5 * (c->cold_start_min_epochs + c->cold_start_max_epochs);
}

static int64_t cold_epochs_max(const struct sf_ctl_params *c)
{
    return c->cold_start_max_epochs > c->cold_start_min_epochs ? c->cold_start_max_epochs
                                                               : c->cold_start_min_epochs;
}

static int64_t cold_epochs(const struct sf_ctl_params *c)
{
    return (int64_t)llround(cold_mean_epochs(c));
}

/* ---- virtual fleets (rule experts) ---- */

static int vf_active(const struct sf__vfleet *f)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->end[i] == INT32_MAX;
    return n;
}

/* Serving during the interval after decision d: ready by d and not gone. */
static int vf_serves(const struct sf__vfleet *f, int i, int64_t d)
{
    return f->ready[i] <= d && f->end[i] > d;
}

static int vf_serving(const struct sf__vfleet *f, int64_t d)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += vf_serves(f, i, d);
    return n;
}

/* Applies a target at decision epoch e: launches ready after the mean cold start; the surplus
 * terminates after the delay, pending ones first, then the newest. */
static void vf_scale(struct sf__vfleet *f, const struct sf_ctl_params *c, int target, int64_t e)
{
    int active = vf_active(f);
    if (target > c->max_instances)
        target = c->max_instances;
    for (; active < target && f->n < SF_CTL_MAX_INSTANCES; active++) {
        f->launch[f->n] = (int32_t)e;
        f->ready[f->n] = (int32_t)(e + cold_epochs(c));
        f->end[f->n] = INT32_MAX;
        f->busy[f->n] = -INFINITY;
        f->promise[f->n] = -INFINITY;
        f->n++;
    }
    for (int pass = 0; pass < 2 && active > target; pass++)
        for (int i = f->n - 1; i >= 0 && active > target; i--) {
            int pending = f->ready[i] > e;
            if (f->end[i] != INT32_MAX || pending != (pass == 0))
                continue;
            f->end[i] = (int32_t)(e + c->terminate_delay_epochs);
            if (pending)
                f->ready[i] = INT32_MAX; /* never serves */
            active--;
        }
}

/* Drops instances gone by epoch e; returns the billing-minimum USD they still owe. */
static double vf_reap(struct sf__vfleet *f, int64_t e, double epoch_s, double usd_per_s,
                      double min_s)
{
    double owe = 0;
    int w = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->end[i] <= e) {
            double life = (double)(f->end[i] - f->launch[i]) * epoch_s;
            if (life < min_s)
                owe += (min_s - life) * usd_per_s;
            continue;
        }
        f->launch[w] = f->launch[i];
        f->ready[w] = f->ready[i];
        f->end[w] = f->end[i];
        f->busy[w] = f->busy[i];
        f->promise[w] = f->promise[i];
        w++;
    }
    f->n = w;
    return owe;
}

/* ---- a shadow's deadline batching: ctl/'s loop (sf_dq) on expected times ---- */

struct view {
    const struct sf__follow *f;
    struct sf__expert *x;
    double *busy[SF_CTL_MAX_INSTANCES];    /* the serving instances' next-free times */
    double *promise[SF_CTL_MAX_INSTANCES]; /* ... and what the batcher is told of them */
    int n;
};

static int v_free(void *ctx, double t)
{
    const struct view *v = ctx;
    int n = 0;
    for (int i = 0; i < v->n; i++)
        n += *v->busy[i] <= t;
    return n;
}

/* When a busy instance becomes free: as the batcher is told (promised 1: the earliest promise,
 * never before t, as the real one is in sim.c and serve/ingress/control.c), or at its expected
 * end (promised 0: when the loop looks again). */
static double v_end(const struct view *v, double t, int promised)
{
    double best = INFINITY;
    for (int i = 0; i < v->n; i++) {
        double end = promised ? *v->promise[i] : *v->busy[i];
        if (*v->busy[i] > t && end < best)
            best = end;
    }
    return promised && best < t ? t : best;
}

static double v_next_free(void *ctx, double t)
{
    return v_end(ctx, t, 1);
}

static double v_next_change(void *ctx, double t)
{
    return v_end(ctx, t, 0);
}

static double v_arrival_s(void *ctx, int64_t g)
{
    const struct view *v = ctx;
    return v->x->arrival_s[g % SF__SHADOW_QCAP];
}

/* How long an instance of expert x is busy with a batch of n: the expected n / r, plus a normal
 * draw of sqrt(n) times one request's deviation (sf_rand_normal on the expert's own stream).
 * The real batch's time varies with the stages its requests leave at, and the variation is not
 * neutral: a batch that runs long keeps the instance busy when the next one is due, which then
 * goes to functions, while one that runs short only leaves it idle. With n / r alone the shadows
 * sent 30-45 % fewer requests to functions than the replayed rule on instance paths near
 * capacity (docs/controller.md). */
static double head_s(const struct sf__follow *f, struct sf__expert *x, double n)
{
    double head = n / f->r_rps;
    if (f->req_sd_s > 0)
        head += sf_rand_normal(&x->rng) * sqrt(n) * f->req_sd_s;
    return head > 0 ? head : 0;
}

/* Sends the first d->n queued requests where the batcher said, at now, and pays for them. */
static int64_t v_dispatch(void *ctx, const struct sf_batch_decision *d, int64_t g, double now)
{
    (void)g;
    struct view *v = ctx;
    const struct sf__follow *f = v->f;
    struct sf__expert *x = v->x;
    double n = d->n;
    if (d->path == SF_BATCH_INSTANCE) {
        for (int i = 0; i < v->n; i++)
            if (*v->busy[i] <= now) {
                *v->busy[i] = now + head_s(f, x, n);
                *v->promise[i] = now + sf_batcher_worst_s(&f->batcher, d->n, 1);
                break;
            }
        x->cost_usd += n * f->tail_usd_per_req + f->tail_calls * f->fee;
    } else {
        x->cost_usd += n * f->faas_usd_per_req + ceil(n / f->invoke) * f->fee;
    }
    return d->n;
}

static const struct sf_dq_ops shadow_ops = {.free = v_free,
                                            .next_free = v_next_free,
                                            .dispatch = v_dispatch,
                                            .arrival_s = v_arrival_s,
                                            .next_change = v_next_change};

/* Request number x->next_arrival arrives at t. */
static void v_arrive(struct view *v, double t)
{
    struct sf__expert *x = v->x;
    int64_t g = x->next_arrival++;
    x->arrival_s[g % SF__SHADOW_QCAP] = t;
    sf_dq_arrive(&x->q, g);
}

/* The instances of expert x that serve after decision d (deadline batching). */
static void view_of(struct view *v, struct sf__follow *f, struct sf__expert *x, int64_t d)
{
    v->f = f;
    v->x = x;
    v->n = 0;
    if (x->kind == SF__EXPERT_FIXED) {
        if (d >= 1 + cold_epochs(&f->ctl))
            for (int i = 0; i < x->fixed; i++) {
                v->busy[v->n] = &x->busy[i];
                v->promise[v->n++] = &x->promise[i];
            }
    } else if (x->kind == SF__EXPERT_RULE) {
        struct sf__vfleet *fl = &f->rules[x->rule].fleet;
        for (int i = 0; i < fl->n; i++)
            if (vf_serves(fl, i, d)) {
                v->busy[v->n] = &fl->busy[i];
                v->promise[v->n++] = &fl->promise[i];
            }
    }
}

/* ---- the experts ---- */

/* A rule expert; `own` > 0 gives it its own break-even setting (buy and sell after `own` cold
 * starts) instead of the configured one. */
static void add_rule(struct sf__follow *f, const struct sf_policy_env *env, int rule, double own)
{
    double buy = own > 0 ? own : env->ctl.buy_after_cold_starts,
           sell = own > 0 ? own : env->ctl.sell_after_cold_starts;
    struct sf__expert *x = &f->x[f->n_x++];
    x->kind = SF__EXPERT_RULE;
    int r = f->n_rules++;
    x->rule = r;
    struct sf_policy_env e = *env;
    e.ctl.scaling_rule = rule;
    e.ctl.buy_after_cold_starts = buy;
    e.ctl.sell_after_cold_starts = sell;
    sf__monitor_policy_init(&f->rules[r].pol, &e, rule, &f->rules[r].period, &f->rules[r].first);
    f->rules[r].fleet.n = 0;
    f->rules[r].own = own;
}

int sf__follow_init(struct sf__follow *f, const struct sf_policy_env *env, struct sf_err *err)
{
    const struct sf_ctl_params *c = &env->ctl;
    const struct sf_policy_shadow *sh = &env->shadow;
    memset(f, 0, sizeof(*f));
    if (!(sh->tail_usd_per_req >= 0) || !(sh->fee_usd >= 0) || !(sh->vm_min_billed_s >= 0) ||
        !(env->faas_usd_per_req >= 0) || !(env->vm_usd_per_s >= 0))
        return sf_err_set(err, SF_EINVAL, "serflow: the follow rule needs the path's prices");
    f->deadline = sh->batching == 0; /* SF_BATCHING_DEADLINE */
    if (f->deadline && (!sh->batcher.fn_worst_s || c->batch_size >= SF__SHADOW_QCAP))
        return sf_err_set(err, SF_EINVAL,
                          "serflow: the follow rule needs the batcher's tables and a batch size "
                          "below %d (--scaling breakeven has no such limit)",
                          SF__SHADOW_QCAP);
    f->batcher = sh->batcher;
    f->epoch_s = c->epoch_s;
    f->r_rps = c->capacity_rps;
    f->batch = c->batch_size;
    f->partial_to_instance = c->partial_to_instance;
    f->invoke = sh->fn_invoke_size > 0 ? sh->fn_invoke_size : c->batch_size;
    f->tail_calls = sh->tail_calls;
    f->fee = sh->fee_usd;
    f->faas_usd_per_req = env->faas_usd_per_req;
    f->tail_usd_per_req = sh->tail_usd_per_req;
    f->vm_usd_per_s = env->vm_usd_per_s;
    f->vm_min_s = sh->vm_min_billed_s;
    f->req_sd_s = sh->inst_req_sd_s;
    f->hysteresis = c->follow_hysteresis;
    f->ctl = *c;
    f->x[f->n_x++].kind = SF__EXPERT_FAAS;
    if (c->use_instances && c->max_instances > 0 && c->tcip_rps <= c->capacity_rps) {
        add_rule(f, env, SF_SCALE_BREAKEVEN, 0);
        add_rule(f, env, SF_SCALE_BREAKEVEN, 1);
        add_rule(f, env, SF_SCALE_EXPECTED, 0);
        add_rule(f, env, SF_SCALE_PAPER, 0);
        for (int n = 1; n <= SF__FOLLOW_MAX_FIXED && n <= c->max_instances; n++) {
            struct sf__expert *x = &f->x[f->n_x++];
            f->n_fixed++;
            x->kind = SF__EXPERT_FIXED;
            x->fixed = n;
            for (int i = 0; i < n; i++)
                x->busy[i] = x->promise[i] = -INFINITY;
        }
        f->cur = 1; /* with nothing observed yet, the break-even rule */
        /* ... or, when the path was planned against the traffic, the fleet that plan expects */
        for (int i = 0; i < f->n_x && env->prior_instances > 0; i++)
            if (f->x[i].kind == SF__EXPERT_FIXED && f->x[i].fixed == env->prior_instances) {
                f->cur = i;
                /* the plan's fleet is kept until it is warm: every shadow pays its boot from
                 * epoch 0, so a comparison before then only says that booting costs */
                f->hold_until = 1 + cold_epochs_max(c);
            }
    }
    for (int i = 0; i < f->n_x; i++) {
        sf_dq_init(&f->x[i].q, &f->batcher, &shadow_ops, NULL, 0);
        f->x[i].rng = SF__FOLLOW_SEED; /* every expert draws the same luck */
    }
    return SF_OK;
}

/* Active instances of expert x after its decision at epoch e. */
static int expert_active(const struct sf__follow *f, const struct sf__expert *x, int64_t e)
{
    switch (x->kind) {
    case SF__EXPERT_FIXED:
        return e >= 1 ? x->fixed : 0;
    case SF__EXPERT_RULE:
        return vf_active(&f->rules[x->rule].fleet);
    default:
        return 0;
    }
}

/* Epoch batching: the epoch's n requests routed at its end, B per free instance. */
static void route_epoch(struct sf__follow *f, struct sf__expert *x, double n, int serving)
{
    double cap = (double)serving * f->batch, taken = n < cap ? n : cap;
    if (!f->partial_to_instance && taken < n)
        taken = floor(taken / f->batch) * f->batch;
    double spilled = n - taken;
    x->cost_usd += spilled * f->faas_usd_per_req + ceil(spilled / f->invoke) * f->fee +
                   taken * f->tail_usd_per_req + ceil(taken / f->batch) * f->tail_calls * f->fee;
}

int sf__follow_step(struct sf__follow *f, const struct sf_policy_obs *obs)
{
    int64_t e = obs->epoch;
    double T = f->epoch_s, p = f->vm_usd_per_s;
    if (f->ctl.follow_memory_epochs > 0) {
        double keep = exp(-1 / f->ctl.follow_memory_epochs);
        for (int i = 0; i < f->n_x; i++)
            f->x[i].cost_usd *= keep;
    }
    /* deadline batching: the epoch that just ended was served by the fleets decided at e - 1 (a
     * decision at the end of epoch t acts from epoch t + 1); its arrivals go through each
     * shadow's batcher, evenly inside each observed slot */
    if (f->deadline) {
        int K = SF_POLICY_OBS_SLOTS;
        double t0 = (double)(e - 1) * T, slot_s = T / K;
        for (int i = 0; i < f->n_x; i++) {
            struct sf__expert *x = &f->x[i];
            struct view v;
            view_of(&v, f, x, e - 1);
            x->q.ctx = &v; /* the view lives for this epoch's arrivals */
            x->q.cfg = &f->batcher;
            if (x->q.cur_s < t0)
                x->q.cur_s = t0;
            for (int k = 0; k < K; k++) {
                uint32_t c = obs->slot_arrivals ? obs->slot_arrivals[k]
                                                : obs->arrivals / (uint32_t)K +
                                                      ((uint32_t)k < obs->arrivals % (uint32_t)K);
                for (uint32_t j = 0; j < c; j++)
                    v_arrive(&v, t0 + (k + (j + 0.5) / c) * slot_s);
            }
            sf_dq_advance(&x->q, t0 + T);
            x->q.ctx = NULL;
        }
    }
    /* the paper's epoch batching: functions only and the fixed fleets route now (no decision
     * of theirs changes), the rules after deciding */
    if (!f->deadline)
        for (int i = 0; i < f->n_x; i++)
            if (f->x[i].kind != SF__EXPERT_RULE)
                route_epoch(f, &f->x[i], obs->arrivals,
                            f->x[i].kind == SF__EXPERT_FIXED && e >= 1 + cold_epochs(&f->ctl)
                                ? f->x[i].fixed
                                : 0);
    /* decisions at epoch e, and the VM time of the epoch after it */
    for (int i = 0; i < f->n_x; i++) {
        struct sf__expert *x = &f->x[i];
        int serving = 0;
        if (x->kind == SF__EXPERT_RULE) {
            struct sf__follow_rule *r = &f->rules[x->rule];
            x->cost_usd += vf_reap(&r->fleet, e, T, p, f->vm_min_s);
            struct sf_policy_obs o = *obs;
            o.active = vf_active(&r->fleet);
            o.ready = vf_serving(&r->fleet, e);
            sf__monitor_policy_observe(&r->pol, &o);
            if (e >= r->first && (e - r->first) % r->period == 0) {
                int t = sf__monitor_policy_period(&r->pol, &o);
                if (t >= 0)
                    vf_scale(&r->fleet, &f->ctl, t, e);
            }
            x->cost_usd += r->fleet.n * p * T;
            serving = vf_serving(&r->fleet, e);
            if (!f->deadline) /* the paper's batching: decided first, then the epoch routed */
                route_epoch(f, x, obs->arrivals, serving);
        } else if (x->kind == SF__EXPERT_FIXED) {
            x->cost_usd += x->fixed * p * T;
        }
    }
    /* the plan's fleet held until warm; from then on the accounts count from the same start */
    if (f->hold_until > 0) {
        if (e < f->hold_until)
            return expert_active(f, &f->x[f->cur], e);
        for (int i = 0; i < f->n_x; i++)
            f->x[i].cost_usd = 0;
        f->hold_until = 0;
    }
    /* leave the expert followed for one that is ahead of it by more than the switch costs
     * (relaunching the instances it changes, at least follow_same_count of one: two experts
     * with the same count now differ in what they do next; times the hysteresis, plus one
     * instance-epoch so that two level experts do not trade places every epoch); of those, the
     * one whose cost plus its relaunch is least: the leader when it is among them, else a
     * nearer one */
    const struct sf__expert *cur = &f->x[f->cur];
    double tcip = f->ctl.tcip_rps > 0 ? f->ctl.tcip_rps : INFINITY;
    double relaunch = p * T * cold_mean_epochs(&f->ctl) * (1 + f->r_rps / tcip);
    int n_cur = expert_active(f, cur, e), to = -1;
    double to_usd = INFINITY;
    for (int i = 0; i < f->n_x; i++) {
        int dn = abs(expert_active(f, &f->x[i], e) - n_cur);
        double switch_usd = relaunch * dn; /* 0: no instance changes */
        double charged_usd = relaunch * fmax(dn, f->ctl.follow_same_count); /* s <= 1 */
        if (i == f->cur || cur->cost_usd - f->x[i].cost_usd <= f->hysteresis * charged_usd + p * T)
            continue;
        if (f->x[i].cost_usd + switch_usd < to_usd) {
            to_usd = f->x[i].cost_usd + switch_usd;
            to = i;
        }
    }
    if (to >= 0) {
        f->cur = to;
        f->switches++;
    }
    return expert_active(f, &f->x[f->cur], e);
}

/* An expert's name in a log line: "functions", "fixed N", or its rule. */
static void expert_name(const struct sf__follow *f, const struct sf__expert *x, char *buf,
                        size_t size)
{
    static const char *const rule[] = {[SF_SCALE_BREAKEVEN] = "break-even",
                                       [SF_SCALE_EXPECTED] = "expected-load",
                                       [SF_SCALE_PAPER] = "paper's"};
    if (x->kind == SF__EXPERT_FAAS) {
        snprintf(buf, size, "functions only");
    } else if (x->kind == SF__EXPERT_FIXED) {
        snprintf(buf, size, "fixed fleet of %d", x->fixed);
    } else {
        int r = f->rules[x->rule].pol.ctl.scaling_rule;
        snprintf(buf, size, "%s rule #%d",
                 r >= 0 && r < (int)(sizeof(rule) / sizeof(rule[0])) && rule[r] ? rule[r] : "a",
                 x->rule + 1);
    }
}

void sf__follow_explain(const struct sf__follow *f, char *buf, size_t size)
{
    int best = 0;
    for (int i = 1; i < f->n_x; i++)
        if (f->x[i].cost_usd < f->x[best].cost_usd)
            best = i;
    char cur[48], low[48];
    expert_name(f, &f->x[f->cur], cur, sizeof(cur));
    expert_name(f, &f->x[best], low, sizeof(low));
    snprintf(buf, size,
             "follow rule: following %s (shadow cost %.6g USD), cheapest %s (%.6g USD), "
             "%d switches, hysteresis %g",
             cur, f->x[f->cur].cost_usd, low, f->x[best].cost_usd, f->switches, f->hysteresis);
}

int sf__follow_retune(struct sf__follow *f, const struct sf_policy_env *env, struct sf_err *err)
{
    (void)err;
    const struct sf_ctl_params *c = &env->ctl;
    for (int r = 0; r < f->n_rules; r++) {
        struct sf__follow_rule *fr = &f->rules[r];
        struct sf_policy_env e = *env;
        /* each rule keeps what makes it itself: its rule, and its own break-even setting */
        e.ctl.scaling_rule = fr->pol.ctl.scaling_rule;
        if (fr->own > 0)
            e.ctl.buy_after_cold_starts = e.ctl.sell_after_cold_starts = fr->own;
        int64_t period = fr->period;
        sf__monitor_policy_retune(&fr->pol, &e, &period, NULL);
        if (period != fr->period) { /* a new period counts from the next epoch on */
            fr->period = period;
            fr->first = 1;
        }
    }
    f->hysteresis = c->follow_hysteresis;
    /* the shadows' mechanics (delays, cold starts, memory) follow the new parameters */
    int rule = f->ctl.scaling_rule;
    f->ctl = *c;
    f->ctl.scaling_rule = rule;
    return SF_OK;
}
