/*
 * control.c - the server's one use of ctl/: the same policy modules (policy.h) and
 * deadline-aware batcher (batcher.h) the simulator runs, driven by the monotonic clock, applied
 * to real processes through the provider (cloud.h). Every interaction of the server with
 * policies, batcher and fleet is in this file.
 *
 * Per epoch (one SLO interval of the wall clock / --time-scale): observe the arrivals of the
 * epoch that ended, let the policy decide a target at its scaling epochs, launch (with a boot
 * delay drawn like the simulator's cold starts) or schedule terminations (taking effect after the
 * terminate delay, as in the simulator), and take the policy's instance cap. Between epochs: poll
 * the provider (readiness, exits), and dispatch what the batcher says when it says it: a full
 * batch at once, else the open batch at the latest moment its oldest request still meets its
 * deadline on the path it would take (a free instance, else a function). With --batching epoch
 * the paper's rule runs instead: at each epoch boundary the previous epoch's requests are cut
 * into batches of B, free instances first (sf_lb_route), the rest to functions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "serflow/log.h"

/* How often the loop polls the provider when nothing else wakes it: readiness and exits are
 * noticed within this. */
#define CONTROL_POLL_S 0.005
/* The shortest wait of the loop: 0.2 ms, far below any SLO, so that it never spins. */
#define CONTROL_MIN_WAIT_S 0.0002

static const struct sf_dq_ops server_dq_ops; /* below: the deadline batcher's view of the queue */

double sf__server_now(const struct sf__server *s)
{
    return sf_monotonic_s() - s->t0;
}

int sf__control_init(struct sf__server *s, struct sf_err *err)
{
    const struct sf_binding *bnd = s->cfg->bind;
    if (bnd->policy->needs_future)
        return sf_err_set(err, SF_EINVAL,
                          "--policy: %s needs the whole trace in advance; it runs in `serflow "
                          "replay` only",
                          bnd->policy->name);
    int rc = sf_policy_init(&s->policy, bnd->policy, &bnd->env, err);
    if (rc != SF_OK)
        return rc;
    s->ctl = bnd->env.ctl;
    s->epoch_wall_s = bnd->env.ctl.epoch_s / s->cfg->time_scale;
    sf_dq_init(&s->dq, &bnd->batcher, &server_dq_ops, s, 1);
    s->epoch = 0;
    s->cap_left = INT32_MAX;
    s->target = 0;
    return SF_OK;
}

void sf__control_fini(struct sf__server *s)
{
    (void)s;
}

/* The name of the path's VM type (for the log). */
static const char *vm_name(const struct sf__server *s)
{
    int vm = s->cfg->bind->path.vm;
    return vm >= 0 && (size_t)vm < s->cfg->price->n_vm ? s->cfg->price->vm[vm].name : "?";
}

static int count_state(const struct sf__server *s, int state, int need_free)
{
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        const struct sf__inst *in = &s->inst[i];
        if (!in->used || in->state != state)
            continue;
        if (need_free && (in->busy || !in->ready_to_serve || in->quit))
            continue;
        n++;
    }
    return n;
}

/* Instances counted toward the target: launched and not scheduled to terminate. */
static int active_count(const struct sf__server *s)
{
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (s->inst[i].used && s->inst[i].state <= SF_CLOUD_READY && !s->inst[i].term_epoch)
            n++;
    return n;
}

static int ready_count(const struct sf__server *s)
{
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (s->inst[i].used && s->inst[i].state == SF_CLOUD_READY && !s->inst[i].term_epoch)
            n++;
    return n;
}

/* A ready instance that can take a batch now (scheduled terminations still serve, as in the
 * simulator), or -1: one whose worker connection is on this thread's event loop first, so that
 * the loop that sent a batch reads its answer (the loop may be polling for it, ev.h). */
static int free_instance(const struct sf__server *s)
{
    int self = sf__ev_self(s->ev), first = -1;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        const struct sf__inst *in = &s->inst[i];
        if (in->used && in->state == SF_CLOUD_READY && in->ready_to_serve && !in->busy &&
            !in->quit) {
            if (in->local || in->loop == self)
                return i;
            if (first < 0)
                first = i;
        }
    }
    return first;
}

static int free_count(const struct sf__server *s)
{
    return count_state(s, SF_CLOUD_READY, 1);
}

static void apply_target(struct sf__server *s, int target, int64_t epoch)
{
    const struct sf_serve_cfg *c = s->cfg;
    int active = active_count(s);
    s->target = target;
    if (target > active && c->bind->path.has_instances) {
        for (int k = 0; k < target - active; k++) {
            int slot = -1;
            for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && slot < 0; i++)
                if (!s->inst[i].used)
                    slot = i;
            if (slot < 0)
                break;
            /* the boot delay of the k-th launch of this epoch, drawn like the simulator's */
            int cold = sf_cold_start_epochs(&s->ctl, c->seed, epoch, k);
            double boot = cold * s->epoch_wall_s;
            int id;
            struct sf_err err = {{0}};
            if (s->cloud.ops->launch(s->cloud.ctx, c->bind->path.vm, boot, sf__server_now(s), &id,
                                     &err) != SF_OK) {
                sf_log(SF_LOG_WARN, "launch refused", SF_LI("epoch", epoch),
                       SF_LS("vm", vm_name(s)), SF_LS("error", err.msg));
                break;
            }
            sf_log(SF_LOG_INFO, "launch", SF_LI("epoch", epoch), SF_LI("instance", id),
                   SF_LS("vm", vm_name(s)), SF_LN("boot_delay_s", boot),
                   SF_LI("cold_start_epochs", cold));
            struct sf__inst *in = &s->inst[slot];
            memset(in, 0, sizeof(*in));
            in->used = 1;
            in->id = id;
            in->vm = c->bind->path.vm;
            in->state = SF_CLOUD_PENDING;
            in->launch_seq = ++s->launches;
            s->inst[slot].term_epoch = 0;
            sf_metrics_add(s->metrics, s->mid.launches, "", 1);
        }
    } else if (target < active) {
        /* the simulator's rule (sf_fleet_pick_surplus): pending first, then ready, newest first */
        enum sf_inst_state states[SF_CLOUD_MAX_INSTANCES];
        int64_t order[SF_CLOUD_MAX_INSTANCES];
        int picks[SF_CLOUD_MAX_INSTANCES];
        for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
            const struct sf__inst *in = &s->inst[i];
            states[i] = !in->used || in->term_epoch || in->state > SF_CLOUD_READY
                            ? SF_INST_TERMINATING
                        : in->state == SF_CLOUD_PENDING ? SF_INST_PENDING
                                                        : SF_INST_READY;
            order[i] = in->launch_seq;
        }
        int n =
            sf_fleet_pick_surplus(states, order, SF_CLOUD_MAX_INSTANCES, active - target, picks);
        for (int k = 0; k < n; k++) {
            struct sf__inst *in = &s->inst[picks[k]];
            in->term_epoch = epoch + s->ctl.terminate_delay_epochs;
            /* billed until then, but a pending one never serves (sf_fleet_scale's rule) */
            in->no_serve = in->state == SF_CLOUD_PENDING;
            sf_metrics_add(s->metrics, s->mid.terminations, "", 1);
            sf_log(SF_LOG_INFO, "terminate", SF_LI("epoch", epoch), SF_LI("instance", in->id),
                   SF_LS("state", in->state == SF_CLOUD_PENDING ? "pending" : "ready"),
                   SF_LI("effective_epoch", in->term_epoch));
        }
    }
}

/* Syncs the instance table with the provider; instances that went away are closed once they
 * hold no batch (reap_slots). */
static void poll_provider(struct sf__server *s, double now)
{
    struct sf_cloud_instance live[SF_CLOUD_MAX_INSTANCES];
    int n = s->cloud.ops->poll(s->cloud.ctx, now, live, SF_CLOUD_MAX_INSTANCES);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct sf__inst *in = &s->inst[i];
        if (!in->used || in->state == SF_CLOUD_GONE)
            continue;
        const struct sf_cloud_instance *ci = NULL;
        for (int j = 0; j < n && !ci; j++)
            if (live[j].id == in->id)
                ci = &live[j];
        if (!ci) {
            /* asked to go (a termination that took effect), or it exited on its own */
            sf_log(in->state == SF_CLOUD_TERMINATING ? SF_LOG_INFO : SF_LOG_WARN, "instance gone",
                   SF_LI("instance", in->id), SF_LB("asked", in->state == SF_CLOUD_TERMINATING),
                   SF_LS("was", in->state == SF_CLOUD_PENDING ? "pending" : "ready"));
            in->state = SF_CLOUD_GONE;
            in->quit = 1;
            continue;
        }
        if (in->state == SF_CLOUD_PENDING && ci->state == SF_CLOUD_READY) {
            snprintf(in->endpoint, sizeof(in->endpoint), "%s", ci->endpoint);
            snprintf(in->principal, sizeof(in->principal), "%s",
                     ci->authenticated ? ci->principal : "");
            in->state = SF_CLOUD_READY;
            sf_log(SF_LOG_INFO, "instance ready", SF_LI("instance", in->id),
                   SF_LS("endpoint", in->endpoint), SF_LN("after_s", now - ci->launch_s),
                   SF_LB("serves", !in->no_serve));
            if (!in->no_serve && sf__inst_open(s, i) != SF_OK)
                s->cloud.ops->terminate(s->cloud.ctx, in->id, now);
        } else if (ci->state == SF_CLOUD_TERMINATING) {
            in->state = SF_CLOUD_TERMINATING;
        }
    }
}

/* Frees the slots of instances that are gone, once they hold no batch (a batch in flight on a
 * dead worker fails on its connection and goes to functions first). */
static void reap_slots(struct sf__server *s)
{
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct sf__inst *in = &s->inst[i];
        if (!in->used || in->state != SF_CLOUD_GONE || in->busy)
            continue;
        sf__inst_close(s, i);
        in->used = 0;
        s->inst[i].term_epoch = 0;
    }
}

/* One line per scaling decision: at info when it changes the fleet, at debug when it keeps it
 * (the break-even rule decides every epoch). */
static void log_decision(struct sf__server *s, const struct sf_policy_obs *obs, int target,
                         int decided)
{
    int level = target != obs->active ? SF_LOG_INFO : SF_LOG_DEBUG;
    if (!sf_log_on(level))
        return;
    char why[320];
    if (s->cfg->fixed_instances >= 0)
        snprintf(why, sizeof(why), "a fixed fleet of %d (--instances)", s->cfg->fixed_instances);
    else
        sf_policy_explain(&s->policy, why, sizeof(why));
    if (!why[0])
        snprintf(why, sizeof(why), "%s's rule", s->policy.desc->name);
    sf_log(level, "scale", SF_LI("epoch", obs->epoch), SF_LS("policy", s->policy.desc->name),
           SF_LI("arrivals", obs->arrivals),
           SF_LN("rate_rps", obs->arrivals / s->cfg->bind->env.ctl.epoch_s),
           SF_LI("active", obs->active), SF_LI("ready", obs->ready), SF_LI("target", target),
           SF_LS("action", target > obs->active   ? "launch"
                           : target < obs->active ? "terminate"
                                                  : "keep"),
           SF_LB("policy_decided", decided), SF_LS("why", why));
}

void sf__control_retune(struct sf__server *s, const struct sf_policy_env *env)
{
    struct sf_err err = {{0}};
    int rc = sf_policy_retune(&s->policy, env, &err);
    if (rc != SF_OK) {
        sf_log(SF_LOG_WARN, "reload", SF_LS("what", "policy parameters"), SF_LB("applied", 0),
               SF_LS("why", err.msg));
        return;
    }
    s->ctl = env->ctl; /* the terminate delay and cold-start draws from now on */
    sf_log(SF_LOG_INFO, "reload", SF_LS("what", "policy parameters"), SF_LB("applied", 1),
           SF_LS("policy", s->policy.desc->name), SF_LN("k", s->ctl.k),
           SF_LI("scale_period_epochs", s->ctl.scale_period_epochs),
           SF_LI("terminate_delay_epochs", s->ctl.terminate_delay_epochs),
           SF_LI("cold_start_min_epochs", s->ctl.cold_start_min_epochs),
           SF_LI("cold_start_max_epochs", s->ctl.cold_start_max_epochs),
           SF_LN("tcip_rps", s->ctl.tcip_rps));
}

static void begin_epoch(struct sf__server *s, int64_t epoch)
{
    struct sf_policy_obs obs = {0};
    obs.epoch = epoch;
    obs.arrivals = s->arrivals_epoch;
    uint32_t slots[SF_POLICY_OBS_SLOTS];
    memcpy(slots, s->arrivals_slot, sizeof(slots));
    obs.slot_arrivals = slots; /* where in the epoch they came: the follow rule's shadows */
    s->arrivals_epoch = 0;
    memset(s->arrivals_slot, 0, sizeof(s->arrivals_slot));
    /* scheduled terminations that take effect now */
    double now = sf__server_now(s);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (s->inst[i].used && s->inst[i].term_epoch && s->inst[i].term_epoch <= epoch &&
            s->inst[i].state <= SF_CLOUD_READY) {
            s->inst[i].state = SF_CLOUD_TERMINATING;
            s->inst[i].quit = 1; /* it finishes the batch in hand, then takes no other */
            s->cloud.ops->terminate(s->cloud.ctx, s->inst[i].id, now);
            sf_log(SF_LOG_INFO, "terminating", SF_LI("epoch", epoch),
                   SF_LI("instance", s->inst[i].id));
        }
    obs.active = active_count(s);
    obs.ready = ready_count(s);
    int target = sf_policy_begin_epoch(&s->policy, &obs);
    int decided = target >= 0;
    if (s->cfg->fixed_instances >= 0)
        target = s->cfg->fixed_instances; /* a fixed fleet, kept at its size */
    if (decided || (target >= 0 && target != obs.active))
        log_decision(s, &obs, target, decided);
    if (target >= 0)
        apply_target(s, target, epoch);
    obs.active = active_count(s);
    obs.ready = ready_count(s);
    s->cap_left = sf_policy_instance_cap(&s->policy, &obs);
    sf_metrics_set(s->metrics, s->mid.epoch, "", (double)epoch);
    sf_metrics_set(s->metrics, s->mid.target, "", s->target);
}

/* The paper's epoch batching: route everything queued at the boundary. */
static void route_epoch(struct sf__server *s)
{
    int n = (int)s->q_len, B = s->cfg->bind->env.ctl.batch_size;
    if (!n)
        return;
    struct sf_lb_split split;
    int free_inst = s->cfg->bind->path.has_instances ? free_count(s) : 0;
    sf_lb_route(n, B, free_inst, s->cfg->bind->env.ctl.partial_to_instance, s->cap_left, &split);
    int to_inst = split.requests_to_instances;
    while (to_inst > 0) {
        int i = free_instance(s);
        if (i < 0)
            break;
        int m = to_inst < B ? to_inst : B;
        struct sf__batch *b =
            sf__batch_take(s, (size_t)m, s->inst[i].local ? SF__TO_LOCAL : SF__TO_FRAME, i);
        to_inst -= m;
        if (s->cap_left != INT32_MAX)
            s->cap_left -= m;
        if (b)
            sf__dispatch_instance(s, i, b);
    }
    while (s->q_len && !s->cfg->no_spill) {
        struct sf__batch *b = sf__batch_take(s, (size_t)B, SF__TO_FRAME, -1);
        if (b)
            sf__dispatch_function(s, b);
    }
}

/* Dispatches one batch on the path the decision names. */
static void dispatch(struct sf__server *s, const struct sf_batch_decision *d)
{
    int i = d->path == SF_BATCH_INSTANCE ? free_instance(s) : -1;
    struct sf__batch *b = sf__batch_take(
        s, (size_t)d->n, i >= 0 && s->inst[i].local ? SF__TO_LOCAL : SF__TO_FRAME, i);
    if (!b)
        return;
    if (i >= 0) {
        if (s->cap_left != INT32_MAX)
            s->cap_left -= d->n;
        sf__dispatch_instance(s, i, b);
    } else {
        sf__dispatch_function(s, b);
    }
}

/* When the next busy instance should be free: its batch's dispatch time plus the worst-case
 * service time of that batch on the instance path (INFINITY: none busy, or none allowed). */
static double next_free_s(const struct sf__server *s, double now)
{
    if (!s->cfg->bind->path.has_instances || s->cap_left <= 0)
        return INFINITY;
    double t = INFINITY;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        const struct sf__inst *in = &s->inst[i];
        if (in->used && in->state == SF_CLOUD_READY && in->ready_to_serve && in->busy &&
            !in->quit && in->busy_until_s < t)
            t = in->busy_until_s;
    }
    return t < now ? now : t; /* overdue: it may be free any moment */
}

static int instances_for_batcher(const struct sf__server *s)
{
    if (!s->cfg->bind->path.has_instances || s->cap_left <= 0)
        return 0;
    return free_count(s);
}

/* ---- the deadline batcher through ctl/'s loop (sf_dq): the server's queue as its requests ---- */

static int dq_free(void *ctx, double t)
{
    (void)t;
    return instances_for_batcher(ctx);
}

static double dq_next_free(void *ctx, double t)
{
    return next_free_s(ctx, t);
}

/* The queued item of admission sequence g. */
static const struct sf__item *item_of(const struct sf__server *s, int64_t g)
{
    size_t pos = (s->q_head + (size_t)(g - s->q_head_seq)) % s->q_cap;
    return s->queue[pos];
}

static double dq_arrival_s(void *ctx, int64_t g)
{
    return item_of(ctx, g)->arrival_s;
}

/* Sends the head of the queue where the batcher says; the policy's cap may hold part of an
 * instance batch back, as in the simulator (sim.c dispatch). */
static int64_t dq_dispatch(void *ctx, const struct sf_batch_decision *d, int64_t g, double now)
{
    (void)g, (void)now; /* g is the queue's head: the batch is taken from there */
    struct sf__server *s = ctx;
    struct sf_batch_decision dd = *d;
    if (dd.path == SF_BATCH_INSTANCE && s->cap_left != INT32_MAX && dd.n > s->cap_left)
        dd.n = s->cap_left;
    size_t before = s->q_len;
    dispatch(s, &dd);
    return (int64_t)(before - s->q_len);
}

static const struct sf_dq_ops server_dq_ops = {
    .free = dq_free, .next_free = dq_next_free, .dispatch = dq_dispatch, .arrival_s = dq_arrival_s};

void sf__control_enqueued(struct sf__server *s, int64_t seq)
{
    s->arrivals_epoch++;
    /* where in the epoch it came, for the follow rule's shadows (docs/controller.md) */
    double part = (item_of(s, seq)->arrival_s / s->epoch_wall_s - (double)(s->epoch - 1)) *
                  SF_POLICY_OBS_SLOTS;
    s->arrivals_slot[part <= 0                         ? 0
                     : part >= SF_POLICY_OBS_SLOTS - 1 ? SF_POLICY_OBS_SLOTS - 1
                                                       : (int)part]++;
    if (s->cfg->bind->batching == SF_BATCHING_DEADLINE && !s->draining && !s->cfg->no_spill)
        sf_dq_arrive(&s->dq, seq); /* the open batch may leave first; a full one leaves now */
}

void sf__control_dropped(struct sf__server *s, int at_head)
{
    if (s->dq.q_n <= 0) /* not in the batcher's queue (epoch batching, no spill, drain) */
        return;
    s->dq.q_n--;
    if (at_head)
        s->dq.next_g++;
}

/* Everything queued leaves now (drain), or, without the FaaS spill, waits for an instance. */
static void run_plain(struct sf__server *s)
{
    int B = s->cfg->bind->batcher.batch_size;
    while (s->q_len) {
        int free_inst = instances_for_batcher(s);
        struct sf_batch_decision d = {.n = (int)s->q_len < B ? (int)s->q_len : B};
        d.path = free_inst || s->cfg->no_spill ? SF_BATCH_INSTANCE : SF_BATCH_FUNCTION;
        if (s->cfg->no_spill && free_instance(s) < 0)
            break; /* no FaaS spill: wait until an instance is free (it signals) */
        dispatch(s, &d);
    }
}

/* Runs the batcher until it says wait. */
static void run_batcher(struct sf__server *s, double now)
{
    if (s->draining || s->cfg->no_spill) {
        run_plain(s);
        return;
    }
    sf_dq_advance(&s->dq, now); /* what was due before now (late wake-ups) */
    sf_dq_settle(&s->dq, now);  /* an instance may have become free or ready */
}

/* When the batcher wants to look again (INFINITY: at the next arrival or free instance). */
static double batcher_wake(const struct sf__server *s, double now)
{
    if (s->cfg->bind->batching != SF_BATCHING_DEADLINE || s->draining || s->cfg->no_spill ||
        !s->dq.q_n)
        return INFINITY;
    return s->dq.event_known ? s->dq.next_event_s : now;
}

/* Wakes the control loop when the batcher's next moment is earlier than the loop's own. */
static void tell_loop(struct sf__server *s)
{
    if (s->dq.q_n > 0 && s->dq.event_known && s->dq.next_event_s < s->ctl_wake_s)
        pthread_cond_signal(&s->ctl_cv);
}

void sf__control_arrived(struct sf__server *s, double now_s)
{
    (void)now_s;
    if (!s->draining && !s->cfg->no_spill && s->cfg->bind->batching == SF_BATCHING_DEADLINE)
        tell_loop(s);
}

void sf__control_round(struct sf__server *s)
{
    if (s->draining || s->cfg->no_spill)
        run_plain(s); /* the round's arrivals together, to a free instance, from this thread */
}

void sf__control_freed(struct sf__server *s, int i)
{
    (void)i;
    double now = sf__server_now(s);
    if (s->draining || s->cfg->no_spill) {
        run_plain(s);
    } else if (s->cfg->bind->batching == SF_BATCHING_DEADLINE) {
        sf_dq_settle(&s->dq, now); /* the batcher, in the thread that freed the instance */
        tell_loop(s);
    }
}

void *sf__control_main(void *arg)
{
    struct sf__server *s = arg;
    sf_thread_name("sf-control", 0);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        double now = sf__server_now(s);
        int64_t e = (int64_t)floor(now / s->epoch_wall_s) + 1;
        while (s->epoch < e) {
            begin_epoch(s, ++s->epoch);
            if (s->cfg->bind->batching == SF_BATCHING_EPOCH)
                route_epoch(s);
        }
        poll_provider(s, now);
        reap_slots(s);
        now = sf__server_now(s);
        sf__server_expire(s, now); /* admit.c: 504 for requests past their deadline */
        if (s->cfg->bind->batching == SF_BATCHING_DEADLINE || s->draining)
            run_batcher(s, now);
        if (*s->stop)
            s->draining = 1;
        sf_metrics_set(s->metrics, s->mid.queue, "", (double)s->q_len);
        sf_metrics_set(s->metrics, s->mid.instances, "state=\"pending\"",
                       count_state(s, SF_CLOUD_PENDING, 0));
        sf_metrics_set(s->metrics, s->mid.instances, "state=\"ready\"",
                       count_state(s, SF_CLOUD_READY, 0));
        sf_metrics_set(s->metrics, s->mid.instances, "state=\"busy\"",
                       count_state(s, SF_CLOUD_READY, 0) - free_count(s));
        /* what this thread dispatched or answered goes out now, by this thread */
        sf__server_unlock(s);
        pthread_mutex_lock(&s->mu);
        if (s->draining && !s->q_len && !s->unanswered)
            break;
        now = sf__server_now(s);
        double wake = batcher_wake(s, now);
        double next_epoch = (double)s->epoch * s->epoch_wall_s;
        if (wake > next_epoch)
            wake = next_epoch;
        if (wake > now + CONTROL_POLL_S)
            wake = now + CONTROL_POLL_S;
        double dt = wake - sf__server_now(s);
        /* a wake time already past (waiting for an overdue busy instance) must not spin with the
         * lock held: the thread that frees the instance runs the batcher itself */
        if (dt < CONTROL_MIN_WAIT_S)
            dt = CONTROL_MIN_WAIT_S;
        s->ctl_wake_s = sf__server_now(s) + dt; /* an earlier batcher moment signals */
        sf_cond_wait_s(&s->ctl_cv, &s->mu, dt);
        s->ctl_wake_s = -INFINITY; /* awake: it recomputes before it sleeps again */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
