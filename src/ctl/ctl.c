/* ctl.c - traffic monitor, scaling manager, fleet bookkeeping and load balancer (ctl.h). */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <string.h>

#include "serflow/ctl.h"

void sf_ctl_params_default(struct sf_ctl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->epoch_s = 6.0;
    p->batch_size = 100;
    p->capacity_rps = 100.0 / 6.0;
    p->alpha = 0.2;
    p->beta = 0.2;
    p->k = 1.0;
    p->tcip_rps = INFINITY;
    p->use_instances = 1;
    p->scale_period_epochs = 25;
    p->cold_start_min_epochs = 18;
    p->cold_start_max_epochs = 22;
    p->terminate_delay_epochs = 2;
    p->partial_to_instance = 1;
    p->max_instances = SF_CTL_MAX_INSTANCES;
    /* serflow's default goes past the paper: the follow rule (the simple rules as shadows, the
     * cheapest followed), its hysteresis, memory and same-count charge chosen by
     * leave-one-family-out cross-validation on
     * bench_scaling (docs/controller.md, docs/benchmarks.md); --scaling paper reproduces the
     * paper */
    p->scaling_rule = SF_SCALE_FOLLOW;
    p->launch_horizon_periods = 1;
    p->buy_after_cold_starts = 0.1;
    p->sell_after_cold_starts = 0.1;
    p->follow_hysteresis = 0.25;
    p->follow_memory_epochs = 3600;
    p->follow_same_count = 0.3;
}

int sf_ctl_params_check(const struct sf_ctl_params *p, struct sf_err *err)
{
    if (!(p->epoch_s > 0) || !isfinite(p->epoch_s))
        return sf_err_set(err, SF_EINVAL, "controller: epoch length must be > 0 s");
    if (p->batch_size < 1)
        return sf_err_set(err, SF_EINVAL, "controller: batch size must be >= 1");
    if (!(p->capacity_rps > 0))
        return sf_err_set(err, SF_EINVAL, "controller: capacity must be > 0 req/s");
    if (!(p->alpha >= 0 && p->alpha <= 1) || !(p->beta >= 0 && p->beta <= 1))
        return sf_err_set(err, SF_EINVAL, "controller: alpha and beta must be in [0, 1]");
    if (!(p->k >= 0) || !isfinite(p->k))
        return sf_err_set(err, SF_EINVAL, "controller: k must be >= 0");
    if (isnan(p->tcip_rps) || p->tcip_rps < 0)
        return sf_err_set(err, SF_EINVAL, "controller: T-CIP must be >= 0 req/s");
    if (p->scale_period_epochs < 1)
        return sf_err_set(err, SF_EINVAL, "controller: scaling period must be >= 1 epoch");
    if (p->cold_start_min_epochs < 0 || p->cold_start_max_epochs < p->cold_start_min_epochs)
        return sf_err_set(err, SF_EINVAL, "controller: cold start needs 0 <= min <= max epochs");
    if (p->terminate_delay_epochs < 0)
        return sf_err_set(err, SF_EINVAL, "controller: termination delay must be >= 0 epochs");
    if (!(p->buy_after_cold_starts > 0) || !(p->sell_after_cold_starts > 0) ||
        !isfinite(p->buy_after_cold_starts) || !isfinite(p->sell_after_cold_starts))
        return sf_err_set(err, SF_EINVAL, "controller: break-even thresholds must be > 0");
    if (!(p->follow_memory_epochs >= 0) || !isfinite(p->follow_memory_epochs))
        return sf_err_set(err, SF_EINVAL, "controller: the follow rule's memory must be >= 0");
    if (!(p->follow_hysteresis >= 0) || !isfinite(p->follow_hysteresis))
        return sf_err_set(err, SF_EINVAL, "controller: the follow rule's hysteresis must be >= 0");
    if (!(p->follow_same_count >= 0 && p->follow_same_count <= 1))
        return sf_err_set(err, SF_EINVAL,
                          "controller: the follow rule's same-count switch charge must be in "
                          "[0, 1] relaunches");
    if (p->scaling_rule != SF_SCALE_PAPER && p->scaling_rule != SF_SCALE_EXPECTED &&
        p->scaling_rule != SF_SCALE_BREAKEVEN && p->scaling_rule != SF_SCALE_FOLLOW)
        return sf_err_set(err, SF_EINVAL, "controller: unknown scaling rule %d", p->scaling_rule);
    if (!(p->launch_horizon_periods >= 1) || !isfinite(p->launch_horizon_periods))
        return sf_err_set(err, SF_EINVAL, "controller: the launch horizon must be >= 1 period");
    if (p->max_instances < 0 || p->max_instances > SF_CTL_MAX_INSTANCES)
        return sf_err_set(err, SF_EINVAL, "controller: max instances must be in [0, %d]",
                          SF_CTL_MAX_INSTANCES);
    return SF_OK;
}

void sf_monitor_init(struct sf_monitor *m)
{
    memset(m, 0, sizeof(*m));
}

void sf_monitor_update(struct sf_monitor *m, double rate_rps, double alpha, double beta)
{
    if (!m->primed) {
        m->mu_rps = rate_rps;
        m->sigma_rps = 0;
        m->primed = 1;
        return;
    }
    double prev = m->mu_rps;
    m->mu_rps = alpha * rate_rps + (1 - alpha) * prev;
    m->sigma_rps = beta * fabs(rate_rps - prev) + (1 - beta) * m->sigma_rps;
}

/* E[(X - a)+] for X ~ Normal(mu, s); s = 0 gives (mu - a)+. */
static double normal_excess(double mu, double s, double a)
{
    if (!(s > 0))
        return mu > a ? mu - a : 0;
    double z = (mu - a) / s;
    double pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
    double cdf = 0.5 * erfc(-z / sqrt(2));
    return (mu - a) * cdf + s * pdf;
}

int sf_scaling_target_expected(const struct sf_ctl_params *p, double mu_rps, double sigma_rps,
                               int active)
{
    if (!p->use_instances || !(mu_rps > 0))
        return 0;
    double s = sqrt(M_PI / 2) * sigma_rps, r = p->capacity_rps;
    double cold = 0.5 * (p->cold_start_min_epochs + p->cold_start_max_epochs);
    double horizon = p->launch_horizon_periods * p->scale_period_epochs;
    double launch_hurdle = p->tcip_rps * (horizon + cold) / horizon;
    int n = 0;
    while (n < p->max_instances) {
        /* load the (n+1)-th instance would take: E[min(r, (L - n r)+)] */
        double take = normal_excess(mu_rps, s, n * r) - normal_excess(mu_rps, s, (n + 1) * r);
        double hurdle = n < active ? p->tcip_rps : launch_hurdle;
        if (!(take > hurdle) || take < 1e-12)
            break;
        n++;
    }
    return n;
}

int sf_scaling_target(const struct sf_ctl_params *p, double mu_rps, double sigma_rps, int active)
{
    if (!p->use_instances)
        return 0;
    if (p->scaling_rule == SF_SCALE_EXPECTED)
        return sf_scaling_target_expected(p, mu_rps, sigma_rps, active);
    double d = mu_rps + p->k * sigma_rps;
    if (!(d > 0))
        return 0;
    /* The 1e-9 keeps D == q r from flooring to q - 1 on rounding noise. */
    double q = floor(d / p->capacity_rps + 1e-9);
    double res = d - q * p->capacity_rps;
    double n = q + (res > p->tcip_rps ? 1 : 0);
    return n > p->max_instances ? p->max_instances : (int)n;
}

void sf_breakeven_init(struct sf_breakeven *b)
{
    memset(b, 0, sizeof(*b));
}

/* Load level j (1-based) takes at rate_rps with capacity r. */
static double level_load(double rate_rps, double r, int j)
{
    double x = rate_rps - (j - 1) * r;
    return x <= 0 ? 0 : x < r ? x : r;
}

int sf_breakeven_step(struct sf_breakeven *b, const struct sf_ctl_params *p, double rate_rps,
                      int active)
{
    if (!p->use_instances || !(p->tcip_rps <= p->capacity_rps))
        return 0; /* an instance never beats FaaS, even full */
    int max = p->max_instances;
    if (active > max)
        active = max;
    double T = p->epoch_s, r = p->capacity_rps, tcip = p->tcip_rps;
    double cold_s = 0.5 * (p->cold_start_min_epochs + p->cold_start_max_epochs) * T;
    if (cold_s < T)
        cold_s = T;
    /* buying costs the cold start's price; selling risks a relaunch, which costs that and the
     * FaaS premium of a full instance's load during the next cold start */
    double buy_s = p->buy_after_cold_starts * cold_s;
    double sell_s = p->sell_after_cold_starts * cold_s * (1 + r / tcip);
    /* running levels: waste net of savings */
    for (int j = 1; j <= active; j++) {
        double d = b->down_s[j] + T * (1 - level_load(rate_rps, r, j) / tcip);
        b->down_s[j] = d > 0 ? d : 0;
        b->up_s[j] = 0;
    }
    /* levels not running: savings net of price, while they would have any load */
    int target = active;
    for (int j = active + 1; j <= max; j++) {
        double load = level_load(rate_rps, r, j);
        if (load <= 0) {
            for (; j <= max && (b->up_s[j] > 0 || b->down_s[j] > 0); j++)
                b->up_s[j] = b->down_s[j] = 0;
            break;
        }
        double u = b->up_s[j] + T * (load / tcip - 1);
        b->up_s[j] = u > 0 ? u : 0;
        b->down_s[j] = 0;
        if (b->up_s[j] >= buy_s && target == j - 1)
            target = j; /* consecutive levels only: the fleet grows from the bottom */
    }
    for (int j = active + 1; j <= target; j++)
        b->up_s[j] = 0;
    if (target == active && active > 0 && b->down_s[active] >= sell_s) {
        b->down_s[active] = 0;
        target = active - 1;
    }
    return target;
}

int sf_scaling_due(const struct sf_ctl_params *p, int64_t epoch)
{
    return epoch > 0 && epoch % p->scale_period_epochs == 0;
}

int sf_cold_start_epochs(const struct sf_ctl_params *p, uint64_t seed, int64_t epoch, int idx)
{
    int span = p->cold_start_max_epochs - p->cold_start_min_epochs + 1;
    uint64_t key = (uint64_t)epoch * 0x100000001B3ull + (uint64_t)idx;
    uint64_t mixed = seed ^ sf_splitmix64(&key);
    uint64_t h = sf_splitmix64(&mixed);
    return p->cold_start_min_epochs + (int)(h % (uint64_t)span);
}

void sf_fleet_init(struct sf_fleet *f, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->seed = seed;
}

int sf_fleet_advance(struct sf_fleet *f, int64_t epoch, struct sf_instance *ended, int ended_cap)
{
    int n_ended = 0, w = 0;
    for (int i = 0; i < f->n; i++) {
        struct sf_instance *in = &f->inst[i];
        if (in->state == SF_INST_PENDING && in->ready_epoch <= epoch)
            in->state = SF_INST_READY;
        if (in->state == SF_INST_TERMINATING && in->end_epoch <= epoch) {
            if (n_ended < ended_cap)
                ended[n_ended] = *in;
            n_ended++;
            continue;
        }
        f->inst[w++] = *in;
    }
    f->n = w;
    return n_ended;
}

int sf_fleet_active(const struct sf_fleet *f)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->inst[i].state != SF_INST_TERMINATING;
    return n;
}

int sf_fleet_ready(const struct sf_fleet *f)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->inst[i].state == SF_INST_READY;
    return n;
}

int sf_fleet_serving(const struct sf_fleet *f)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->inst[i].state != SF_INST_PENDING && f->inst[i].ready_epoch != INT64_MAX;
    return n;
}

int sf_fleet_free(const struct sf_fleet *f, double now_s)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->inst[i].state != SF_INST_PENDING && f->inst[i].ready_epoch != INT64_MAX &&
             f->inst[i].busy_until_s <= now_s;
    return n;
}

int sf_fleet_scale(struct sf_fleet *f, const struct sf_ctl_params *p, int target, int64_t epoch)
{
    if (target > p->max_instances)
        target = p->max_instances;
    if (target < 0)
        target = 0;
    int active = sf_fleet_active(f);
    if (target > active) {
        int launched = 0;
        for (int k = 0; k < target - active && f->n < SF_CTL_MAX_INSTANCES; k++) {
            struct sf_instance *in = &f->inst[f->n++];
            memset(in, 0, sizeof(*in));
            in->launch_epoch = epoch;
            in->ready_epoch = epoch + sf_cold_start_epochs(p, f->seed, epoch, k);
            in->state = in->ready_epoch <= epoch ? SF_INST_READY : SF_INST_PENDING;
            in->end_epoch = INT64_MAX;
            launched++;
        }
        return launched;
    }
    enum sf_inst_state states[SF_CTL_MAX_INSTANCES];
    int64_t order[SF_CTL_MAX_INSTANCES];
    int picks[SF_CTL_MAX_INSTANCES];
    for (int i = 0; i < f->n; i++) {
        states[i] = f->inst[i].state;
        order[i] = i; /* launched in index order */
    }
    int marked = sf_fleet_pick_surplus(states, order, f->n, active - target, picks);
    for (int k = 0; k < marked; k++) {
        struct sf_instance *in = &f->inst[picks[k]];
        if (in->state == SF_INST_PENDING)
            in->ready_epoch = INT64_MAX; /* never serves */
        in->state = SF_INST_TERMINATING;
        in->end_epoch = epoch + p->terminate_delay_epochs;
    }
    return -marked;
}

int sf_fleet_pick_surplus(const enum sf_inst_state *states, const int64_t *launch_order, int n,
                          int surplus, int *picks)
{
    if (n > SF_CTL_MAX_INSTANCES)
        n = SF_CTL_MAX_INSTANCES;
    unsigned char taken[SF_CTL_MAX_INSTANCES] = {0};
    int marked = 0;
    for (int pass = 0; pass < 2 && marked < surplus; pass++) {
        enum sf_inst_state want = pass == 0 ? SF_INST_PENDING : SF_INST_READY;
        while (marked < surplus) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (states[i] == want && !taken[i] &&
                    (best < 0 || launch_order[i] >= launch_order[best]))
                    best = i;
            if (best < 0)
                break;
            taken[best] = 1;
            picks[marked++] = best;
        }
    }
    return marked;
}

void sf_lb_route(int n_requests, int batch_size, int free_instances, int partial_to_instance,
                 int instance_cap, struct sf_lb_split *out)
{
    memset(out, 0, sizeof(*out));
    if (n_requests <= 0)
        return;
    int m = n_requests < instance_cap ? n_requests : instance_cap;
    if (m < 0)
        m = 0;
    int full = m / batch_size, rem = m % batch_size;
    int on_full = full < free_instances ? full : free_instances;
    int a = on_full * batch_size;
    out->batches_to_instances = on_full;
    if (on_full == full && rem > 0 && free_instances > full && partial_to_instance) {
        a += rem;
        out->batches_to_instances++;
        out->partial_on_instance = 1;
    }
    out->requests_to_instances = a;
    int rest = n_requests - a;
    out->batches_to_functions = (rest + batch_size - 1) / batch_size;
}
