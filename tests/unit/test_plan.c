/* test_plan.c - cost model (eq. 1-4) and T-CIP against hand-computed numbers; the planner
 * against brute force on random small instances; cost monotone in rate; cut 0 = FaaS-only and
 * cut N = IaaS-only; the bundled plan's rejections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "serflow/plan.h"
#include "test_util.h"

/* Two stages, hand-checkable numbers: faas per request = 0.5*(0.2+0.3) + 0.1/10 = 0.26 USD,
 * tail per request (stage 2) = 0.5*0.3 + 0.01 = 0.16 USD. */
static struct sf_costcfg hand_cfg(int cut)
{
    struct sf_costcfg c = {.n_stages = 2,
                           .cut = cut,
                           .capacity_rps = 10,
                           .batch_size = 10,
                           .vm_usd_per_s = 0.5,
                           .fn_usd_per_s = 0.5,
                           .fn_fee_usd = 0.1,
                           .fn_work_s = {0.2, 0.3}};
    return c;
}

static void test_eq1_single_stage_faas(void **state)
{
    (void)state;
    /* eq. 1: C = lambda * T_m * p_m; 16.67 req/s, 0.043 s, 8,845 MB x86 Lambda, no fee */
    double p_m = 8845.0 / 1024 * 0.0000166667;
    struct sf_costcfg c = {.n_stages = 1,
                           .cut = 0,
                           .capacity_rps = 16.67,
                           .batch_size = 100,
                           .fn_usd_per_s = p_m,
                           .fn_work_s = {0.043}};
    assert_float_equal(sf_cost_faas_usd_per_s(&c, 16.67), 16.67 * 0.043 * p_m, 1e-15);
    assert_float_equal(sf_cost_usd_per_s(&c, 16.67, NULL), 16.67 * 0.043 * p_m, 1e-15);
}

static void test_eq3_faas_multistage(void **state)
{
    (void)state;
    struct sf_costcfg c = hand_cfg(0);
    assert_float_equal(sf_cost_faas_usd_per_req(&c), 0.26, 1e-12);
    assert_float_equal(sf_cost_usd_per_s(&c, 21, NULL), 21 * 0.26, 1e-12);
    assert_true(isinf(sf_tcip_rps(&c)));
}

static void test_eq2_iaas_tcip_rule(void **state)
{
    (void)state;
    struct sf_costcfg c = hand_cfg(2);
    /* T-CIP = p_v / faas-per-request = 0.5 / 0.26 */
    assert_float_equal(sf_tcip_rps(&c), 0.5 / 0.26, 1e-12);
    struct sf_cost_split s;
    /* 21 req/s: q = 2, res = 1 <= T-CIP -> 2 VMs, 1 req/s on FaaS */
    assert_float_equal(sf_cost_usd_per_s(&c, 21, &s), 2 * 0.5 + 1 * 0.26, 1e-12);
    assert_float_equal(s.instances, 2, 0);
    assert_float_equal(s.rate_on_faas_rps, 1, 1e-12);
    /* 25 req/s: res = 5 > T-CIP -> 3 VMs, nothing on FaaS */
    assert_float_equal(sf_cost_usd_per_s(&c, 25, &s), 3 * 0.5, 1e-12);
    assert_float_equal(s.instances, 3, 0);
    assert_float_equal(s.fn_usd_per_s, 0, 0);
}

static void test_eq4_hybrid(void **state)
{
    (void)state;
    struct sf_costcfg c = hand_cfg(1);
    assert_float_equal(sf_cost_tail_usd_per_req(&c), 0.16, 1e-12);
    /* closed form p_v / (p_m * head work) = 0.5 / (0.5 * 0.2) = 5 (fees cancel) */
    assert_float_equal(sf_tcip_rps(&c), 5, 1e-12);
    struct sf_cost_split s;
    /* 23 req/s: q = 2, res = 3 <= 5: VMs 2*0.5, tail 20*0.16, remainder 3*0.26 */
    assert_float_equal(sf_cost_usd_per_s(&c, 23, &s), 1.0 + 3.2 + 0.78, 1e-12);
    assert_float_equal(s.vm_usd_per_s + s.fn_usd_per_s, 4.98, 1e-12);
    /* 27 req/s: res = 7 > 5: 3 instances, all 27 req/s pay the tail */
    assert_float_equal(sf_cost_usd_per_s(&c, 27, &s), 1.5 + 27 * 0.16, 1e-12);
    /* at T-CIP the two choices cost the same */
    assert_float_equal(sf_cost_instance_residual_usd_per_s(&c, 5), sf_cost_faas_usd_per_s(&c, 5),
                       1e-12);
}

/* eq. 4 written out literally, independent of the library's implementation */
static double eq4_literal(const struct sf_costcfg *c, double lambda)
{
    double faas = 0, tail = 0;
    for (int i = 0; i < c->n_stages; i++) {
        faas += c->fn_work_s[i];
        if (i >= c->cut)
            tail += c->fn_work_s[i];
    }
    double fee = c->fn_fee_usd / c->batch_size;
    /* a tail of k parallel calls: k fees per batch, and k - 1 more per-call times */
    int k = c->tail_fanout > 1 ? c->tail_fanout : 1;
    double more = 0;
    for (int i = c->cut; i < c->n_stages; i++)
        more += (k - 1) * c->fn_batch_s[i] / c->batch_size;
    /* FaaS calls of nf requests share each stage's per-call time among nf, not B */
    int nf = c->fn_invoke_size > 0 && c->fn_invoke_size < c->batch_size ? c->fn_invoke_size
                                                                        : c->batch_size;
    double share = 0;
    for (int i = 0; i < c->n_stages; i++)
        share += c->fn_batch_s[i] * (1.0 / nf - 1.0 / c->batch_size);
    double faas_req = c->fn_usd_per_s * (faas + share) + c->fn_fee_usd / nf;
    double tail_req = tail > 0 ? c->fn_usd_per_s * (tail + more) + k * fee : 0;
    if (c->cut == 0)
        return lambda * faas_req;
    double tcip = c->vm_usd_per_s / (faas_req - tail_req);
    double q = floor(lambda / c->capacity_rps + 1e-9), res = lambda - q * c->capacity_rps;
    int extra = res > tcip;
    double lvm = lambda - (extra ? 0 : res);
    return c->vm_usd_per_s * (q + extra) + lvm * tail_req + (extra ? 0 : res * faas_req);
}

static struct sf_pricing pricing;
static struct sf_profile profile;

static int load_bundled(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    if (sf_pricing_load(&pricing, tu_src("data/pricing/aws-us-east-1.json"), &err) ||
        sf_profile_load(&profile, tu_src("data/profiles/vgg16-sdn-cifar10.json"), &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void test_cut0_is_faas_and_cutN_is_iaas(void **state)
{
    (void)state;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    struct sf_plan_opts eo;
    sf_plan_opts_default(&eo);
    eo.batching = SF_BATCHING_EPOCH;
    assert_int_equal(sf_plan_run(&plan, &profile, &pricing, &eo, &err), SF_OK);
    const struct sf_candidate *c = &plan.best;
    struct sf_costcfg cc;
    assert_int_equal(sf_plan_costcfg(&plan, &profile, &pricing, c, &cc), SF_OK);
    cc.vm_usd_per_s = pricing.vm[1].price_usd_per_s;
    for (double lambda = 0.5; lambda < 120; lambda += 0.37) {
        cc.cut = 0;
        assert_float_equal(sf_cost_usd_per_s(&cc, lambda, NULL),
                           sf_cost_faas_usd_per_s(&cc, lambda), 1e-15);
        cc.cut = profile.n_stages;
        /* eq. 2: p_v (q + [res > T-CIP]) + [res <= T-CIP] C_faas(res) */
        double tcip = cc.vm_usd_per_s / sf_cost_faas_usd_per_req(&cc);
        double q = floor(lambda / cc.capacity_rps + 1e-9), res = lambda - q * cc.capacity_rps;
        double eq2 = cc.vm_usd_per_s * (q + (res > tcip)) +
                     (res <= tcip ? sf_cost_faas_usd_per_s(&cc, res) : 0);
        assert_float_equal(sf_cost_usd_per_s(&cc, lambda, NULL), eq2, 1e-12);
        for (int cut = 0; cut <= profile.n_stages; cut++) {
            cc.cut = cut;
            assert_float_equal(sf_cost_usd_per_s(&cc, lambda, NULL), eq4_literal(&cc, lambda),
                               1e-12);
        }
    }
    sf_plan_fini(&plan);
}

static void test_cost_monotone_in_rate(void **state)
{
    (void)state;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    sf_plan_run(&plan, &profile, &pricing, NULL, &err);
    size_t checked = 0;
    for (size_t i = 0; i < plan.n_alt; i++) {
        struct sf_costcfg cc;
        if (sf_plan_costcfg(&plan, &profile, &pricing, &plan.alt[i], &cc) != SF_OK)
            continue;
        double prev = 0;
        for (double lambda = 0; lambda <= 100; lambda += 0.05) {
            double c = sf_cost_usd_per_s(&cc, lambda, NULL);
            assert_true(c >= prev - 1e-12 * (1 + prev));
            prev = c;
        }
        checked++;
    }
    assert_true(checked > 100);
    sf_plan_fini(&plan);
}

static void test_tcip_closed_form_matches_sweep(void **state)
{
    (void)state;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    struct sf_plan_opts o;
    sf_plan_opts_default(&o);
    o.rate_rps = 40;
    sf_plan_run(&plan, &profile, &pricing, &o, &err);
    /* (deadline batching: each path's own r; the closed form must hold on [0, r] for each) */
    size_t crossings = 0;
    for (size_t i = 0; i < plan.n_alt; i++) {
        struct sf_costcfg cc;
        if (sf_plan_costcfg(&plan, &profile, &pricing, &plan.alt[i], &cc) != SF_OK || cc.cut == 0)
            continue;
        double tcip = sf_tcip_rps(&cc);
        /* sweep res over [0, r]: the sign of instance - faas changes exactly once, at T-CIP */
        double lo = 0, hi = cc.capacity_rps;
        double d_hi =
            sf_cost_instance_residual_usd_per_s(&cc, hi) - sf_cost_faas_usd_per_s(&cc, hi);
        if (d_hi > 0) {
            assert_true(tcip > cc.capacity_rps); /* no crossing inside [0, r] */
            continue;
        }
        for (int k = 0; k < 200; k++) {
            double mid = (lo + hi) / 2;
            double d =
                sf_cost_instance_residual_usd_per_s(&cc, mid) - sf_cost_faas_usd_per_s(&cc, mid);
            if (d > 0)
                lo = mid;
            else
                hi = mid;
        }
        assert_float_equal(tcip, (lo + hi) / 2, 1e-9);
        crossings++;
    }
    assert_true(crossings > 10);
    sf_plan_fini(&plan);
}

static void test_bundled_plan_explains_rejections(void **state)
{
    (void)state;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    struct sf_plan_opts o;
    sf_plan_opts_default(&o);
    o.tau = 0.7;
    o.batching = SF_BATCHING_EPOCH; /* the paper's batches: the hand computation below */
    assert_int_equal(sf_plan_run(&plan, &profile, &pricing, &o, &err), SF_OK);
    int saw_slo = 0, saw_payload_split = 0;
    for (size_t i = 0; i < plan.n_alt; i++) {
        const struct sf_candidate *c = &plan.alt[i];
        const char *vm = c->vm >= 0 ? pricing.vm[c->vm].name : "-";
        if (c->pool == SF_POOL_IAAS && !strcmp(vm, "c6i.large")) {
            /* paper: 10.3 s for a full batch on c6i.large violates the 6 s SLO */
            assert_int_equal(c->reject, SF_REJ_SLO);
            assert_float_equal(c->latency_s, 10.3, 1e-6);
            saw_slo = 1;
        }
        if (c->pool == SF_POOL_IAAS && !strcmp(vm, "c6i.xlarge")) {
            assert_int_equal(c->reject, SF_REJ_NONE);
            assert_float_equal(c->latency_s, 5.5, 1e-6);
        }
        if (c->pool == SF_POOL_HYBRID && c->reject == SF_REJ_NONE) {
            /* the payload cap is a reason to split, never exceeded; k is the smallest that fits
             * both the cap and the SLO */
            double wire = profile.stage[c->cut - 1].hidden_bytes_lz4 * SF_PLAN_PAYLOAD_FACTOR;
            int k = c->tail_fanout, chunk = (100 + k - 1) / k;
            assert_true(k >= 1 && k <= SF_PLAN_MAX_FANOUT);
            assert_true(chunk * wire <= pricing.fn_payload_max_bytes);
            assert_float_equal(c->payload_bytes, chunk * wire, 1e-6);
            if (100 * wire > pricing.fn_payload_max_bytes)
                saw_payload_split = 1;
            if (k > 1) {
                /* one call fewer would break the cap or the SLO */
                double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES], tail_per_req = 0;
                assert_int_equal(
                    sf_fn_runtime_at(&profile, &pricing, "x86_64", c->fn_mem_mb, rq, rb), SF_OK);
                for (int st = c->cut; st < profile.n_stages; st++)
                    tail_per_req += rq[st];
                int prev = (100 + k - 2) / (k - 1);
                assert_true(prev * wire > pricing.fn_payload_max_bytes ||
                            c->latency_s + (prev - chunk) * tail_per_req > 6.0);
            }
        }
        if (c->reject == SF_REJ_NONE)
            assert_true(plan.best.cost_usd_per_s <= c->cost_usd_per_s + 1e-15);
    }
    assert_true(saw_slo && saw_payload_split);
    /* the hand computation: hybrid c6i.large, cut 6, k = 3, 8,845 MB */
    const struct sf_candidate *b = &plan.best;
    assert_int_equal(b->pool, SF_POOL_HYBRID);
    assert_string_equal(pricing.vm[b->vm].name, "c6i.large");
    assert_int_equal(b->cut, 6);
    assert_int_equal(b->tail_fanout, 3);
    const struct sf_runtime *vm = sf_profile_vm_runtime(&profile, "c6i.large");
    const struct sf_runtime *fn = NULL;
    for (size_t i = 0; i < profile.n_rt; i++)
        if (profile.rt[i].kind == SF_RT_FUNCTION && profile.rt[i].mem_mb == 8845)
            fn = &profile.rt[i];
    assert_non_null(fn);
    double head = 0, tail = 0;
    for (int i = 0; i < 6; i++)
        head += 100 * vm->per_request_s[i];
    for (int i = 6; i < profile.n_stages; i++)
        tail += 34 * fn->per_request_s[i]; /* a chunk of ceil(100 / 3) survivors */
    double xfer = profile.xfer_latency_s + 100 * profile.stage[5].hidden_bytes_lz4 * 4 / 3 /
                                               profile.xfer_bandwidth_bytes_per_s;
    assert_int_equal(b->fn_mem_mb, 8845);
    assert_float_equal(b->latency_s, head + xfer + tail + profile.fn_cold_start_s, 1e-9);
    /* with 2 calls (chunks of 50) the same path misses the 6 s SLO */
    assert_true(head + xfer + tail / 34 * 50 > 6.0);
    assert_true(b->tcip_rps < plan.capacity_rps);
    assert_float_equal(b->cost_usd_per_s * 3600, 0.1064, 0.00005);
    int t = 0;
    assert_true(plan.per_tau_found[t][SF_POOL_FAAS]);
    assert_float_equal(plan.per_tau[t][SF_POOL_FAAS].cost_usd_per_s * 3600, 0.1208, 0.00005);
    assert_float_equal(plan.capacity_rps, 100.0 / 6, 1e-12);
    /* an accuracy floor above every tau is infeasible, with the floor named */
    o.tau = -1;
    o.min_accuracy = 0.99;
    sf_plan_fini(&plan);
    assert_int_equal(sf_plan_run(&plan, &profile, &pricing, &o, &err), SF_EINFEASIBLE);
    assert_non_null(strstr(err.msg, "accuracy"));
    assert_int_equal(plan.found, 0);
    sf_plan_fini(&plan);
    o.min_accuracy = 0;
    o.tau = 0.42;
    assert_int_equal(sf_plan_run(&plan, &profile, &pricing, &o, &err), SF_ENOTFOUND);
}

/* ---- brute force on random small instances ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void random_instance(struct sf_profile *p, struct sf_pricing *pr)
{
    memset(p, 0, sizeof(*p));
    memset(pr, 0, sizeof(*pr));
    p->n_stages = 2 + (int)(urand() * 4);
    p->batch_size = 10 + (int)(urand() * 90);
    p->slo_s = 2 + urand() * 6;
    p->rate_rps = 1 + urand() * 60;
    p->input_bytes = 1000;
    p->xfer_latency_s = urand() * 0.1;
    p->xfer_bandwidth_bytes_per_s = 1e7 + urand() * 1e8;
    p->fn_scaling_exponent = 0.7 + urand() * 0.3;
    p->fn_partial_vcpu_efficiency = urand();
    p->fn_cold_start_s = urand() * 0.5;
    for (int i = 0; i < p->n_stages; i++) {
        snprintf(p->stage[i].name, sizeof(p->stage[i].name), "s%d", i);
        p->stage[i].hidden_bytes_raw = urand() * 200000;
        p->stage[i].hidden_bytes_lz4 = p->stage[i].hidden_bytes_raw * urand();
    }
    pr->n_vm = 2 + (size_t)(urand() * 2);
    for (size_t v = 0; v < pr->n_vm; v++) {
        snprintf(pr->vm[v].name, sizeof(pr->vm[v].name), "vm%zu", v);
        pr->vm[v].vcpus = 2;
        pr->vm[v].price_usd_per_s = (0.05 + urand() * 0.3) / 3600;
        struct sf_runtime *r = &p->rt[p->n_rt++];
        r->kind = SF_RT_VM;
        snprintf(r->name, sizeof(r->name), "vm%zu", v);
        for (int i = 0; i < p->n_stages; i++) {
            r->per_request_s[i] = urand() * 0.03;
            r->per_batch_s[i] = urand() * 0.05;
        }
    }
    struct sf_runtime *f = &p->rt[p->n_rt++];
    f->kind = SF_RT_FUNCTION;
    snprintf(f->name, sizeof(f->name), "x86_64");
    f->mem_mb = 4000;
    for (int i = 0; i < p->n_stages; i++) {
        f->per_request_s[i] = urand() * 0.02;
        f->per_batch_s[i] = urand() * 0.02;
    }
    p->n_exits = 3;
    for (size_t t = 0; t < 3; t++) {
        p->exits[t].tau = 0.5 + 0.2 * (double)t;
        p->exits[t].accuracy = urand();
        for (int i = 0; i < p->n_stages; i++)
            p->exits[t].exit_fraction[i] = i == p->n_stages - 1 ? 1 : urand() * 0.6;
    }
    snprintf(pr->fn_arch[0].name, sizeof(pr->fn_arch[0].name), "x86_64");
    pr->n_fn_arch = 1;
    pr->fn_arch[0].price_usd_per_gb_s = 0.0000166667 * (0.5 + urand());
    pr->fn_request_fee_usd = 0.2e-6;
    pr->fn_mem_min_mb = 128;
    pr->fn_mem_max_mb = 10240;
    pr->fn_mem_step_mb = 1;
    pr->fn_mb_per_vcpu = 1769;
    pr->fn_payload_max_bytes = 6e6 * urand() + 1e5;
}

/* Exhaustive search written independently of the planner's loops. */
static double brute_force(const struct sf_profile *p, const struct sf_pricing *pr, double floor_acc)
{
    double best = INFINITY;
    int n = p->n_stages, B = p->batch_size;
    double slo = p->slo_s;
    for (size_t t = 0; t < p->n_exits; t++) {
        if (p->exits[t].accuracy < floor_acc)
            continue;
        double s[SF_MAX_STAGES];
        sf_profile_survival(p, &p->exits[t], s);
        for (int mem = pr->fn_mb_per_vcpu; mem <= pr->fn_mem_max_mb; mem += pr->fn_mb_per_vcpu) {
            double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES];
            sf_fn_runtime_at(p, pr, "x86_64", mem, rq, rb);
            double fn_full = p->fn_cold_start_s;
            for (int i = 0; i < n; i++)
                fn_full += B * rq[i] + rb[i];
            int spill_ok =
                fn_full <= slo && B * p->input_bytes * 4.0 / 3.0 <= pr->fn_payload_max_bytes;
            struct sf_costcfg c = {.n_stages = n,
                                   .capacity_rps = B / slo,
                                   .batch_size = B,
                                   .fn_usd_per_s = pr->fn_arch[0].price_usd_per_gb_s * mem / 1024.0,
                                   .fn_fee_usd = pr->fn_request_fee_usd};
            for (int i = 0; i < n; i++) {
                c.fn_work_s[i] = s[i] * rq[i] + (s[i] > 0 ? rb[i] / B : 0);
                c.fn_batch_s[i] = s[i] > 0 ? rb[i] : 0;
            }
            if (spill_ok)
                best = fmin(best, eq4_literal(&c, p->rate_rps));
            for (size_t v = 0; v < pr->n_vm; v++) {
                const struct sf_runtime *r = &p->rt[v];
                for (int cut = 1; cut <= n; cut++) {
                    double head = 0;
                    for (int i = 0; i < cut; i++)
                        head += B * r->per_request_s[i] + r->per_batch_s[i];
                    c.cut = cut;
                    c.vm_usd_per_s = pr->vm[v].price_usd_per_s;
                    if (!spill_ok)
                        continue;
                    if (cut == n) {
                        c.tail_fanout = 1;
                        if (head <= slo)
                            best = fmin(best, eq4_literal(&c, p->rate_rps));
                        continue;
                    }
                    /* every fan-out k: chunks of ceil(B / k) survivors on k parallel calls */
                    double wire = p->stage[cut - 1].hidden_bytes_lz4 * 4.0 / 3.0;
                    for (int k = 1; k <= B && k <= SF_PLAN_MAX_FANOUT; k++) {
                        int chunk = (B + k - 1) / k;
                        if (chunk * wire > pr->fn_payload_max_bytes)
                            continue;
                        double lat = head + p->xfer_latency_s +
                                     B * wire / p->xfer_bandwidth_bytes_per_s + p->fn_cold_start_s;
                        for (int i = cut; i < n; i++)
                            lat += chunk * rq[i] + rb[i];
                        if (lat > slo)
                            continue;
                        c.tail_fanout = k;
                        best = fmin(best, eq4_literal(&c, p->rate_rps));
                    }
                }
            }
        }
    }
    return best;
}

/* Deadline batching, written independently: for every (tau, memory, VM, cut, k) the batch an
 * instance takes (the largest n whose wait for the previous batch plus its own worst case meets
 * the SLO, payload per call under the cap), its capacity n / (expected head time of n requests),
 * FaaS calls of the largest n that fill and finish within the SLO at the planning rate. */
static double brute_force_deadline(const struct sf_profile *p, const struct sf_pricing *pr,
                                   double floor_acc)
{
    double best = INFINITY;
    int n = p->n_stages, B = p->batch_size;
    double slo = p->slo_s, lambda = p->rate_rps, L = pr->fn_payload_max_bytes;
    for (size_t t = 0; t < p->n_exits; t++) {
        if (p->exits[t].accuracy < floor_acc)
            continue;
        double s[SF_MAX_STAGES];
        sf_profile_survival(p, &p->exits[t], s);
        for (int mem = pr->fn_mb_per_vcpu; mem <= pr->fn_mem_max_mb; mem += pr->fn_mb_per_vcpu) {
            double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES];
            sf_fn_runtime_at(p, pr, "x86_64", mem, rq, rb);
            int nf = 0;
            for (int m = B; m >= 1 && !nf; m--) {
                double w = p->fn_cold_start_s;
                for (int i = 0; i < n; i++)
                    w += m * rq[i] + rb[i];
                if ((m - 1) / lambda + w <= slo && m * p->input_bytes * 4.0 / 3.0 <= L)
                    nf = m;
            }
            double w1 = p->fn_cold_start_s;
            for (int i = 0; i < n; i++)
                w1 += rq[i] + rb[i];
            int spill_ok = w1 <= slo && p->input_bytes * 4.0 / 3.0 <= L;
            struct sf_costcfg c = {.n_stages = n,
                                   .fn_usd_per_s = pr->fn_arch[0].price_usd_per_gb_s * mem / 1024.0,
                                   .fn_fee_usd = pr->fn_request_fee_usd,
                                   .fn_invoke_size = nf};
            if (nf >= 1) { /* FaaS-only */
                c.cut = 0;
                c.batch_size = B;
                c.capacity_rps = B / slo;
                for (int i = 0; i < n; i++) {
                    c.fn_work_s[i] = s[i] * rq[i] + (s[i] > 0 ? rb[i] / B : 0);
                    c.fn_batch_s[i] = s[i] > 0 ? rb[i] : 0;
                }
                best = fmin(best, eq4_literal(&c, lambda));
            }
            if (!spill_ok)
                continue;
            for (size_t v = 0; v < pr->n_vm; v++) {
                const struct sf_runtime *r = &p->rt[v];
                for (int cut = 1; cut <= n; cut++) {
                    double wire = cut < n ? p->stage[cut - 1].hidden_bytes_lz4 * 4.0 / 3.0 : 0;
                    int kmax = cut < n ? (B < SF_PLAN_MAX_FANOUT ? B : SF_PLAN_MAX_FANOUT) : 1;
                    for (int k = 1; k <= kmax; k++) {
                        int nb = 0;
                        double busy = 0;
                        for (int m = B; m >= 1 && !nb; m--) {
                            double h = 0, w = 0;
                            for (int i = 0; i < cut; i++)
                                h += m * r->per_request_s[i] + r->per_batch_s[i];
                            w = h;
                            int chunk = (m + k - 1) / k;
                            if (cut < n) {
                                w += p->xfer_latency_s + m * wire / p->xfer_bandwidth_bytes_per_s +
                                     p->fn_cold_start_s;
                                for (int i = cut; i < n; i++)
                                    w += chunk * rq[i] + rb[i];
                            }
                            if (h + w <= slo && chunk * wire <= L) {
                                nb = m;
                                busy = h;
                            }
                        }
                        if (!nb)
                            continue;
                        c.cut = cut;
                        c.tail_fanout = k;
                        c.batch_size = nb;
                        /* r: batches of nb back to back, each busy for its expected head */
                        double eb = 0;
                        for (int i = 0; i < cut; i++)
                            if (s[i] > 0)
                                eb += nb * s[i] * r->per_request_s[i] + r->per_batch_s[i];
                        (void)busy;
                        c.capacity_rps = eb > 0 ? nb / eb : 1e6;
                        c.vm_usd_per_s = pr->vm[v].price_usd_per_s;
                        for (int i = 0; i < n; i++) {
                            c.fn_work_s[i] = s[i] * rq[i] + (s[i] > 0 ? rb[i] / nb : 0);
                            c.fn_batch_s[i] = s[i] > 0 ? rb[i] : 0;
                        }
                        best = fmin(best, eq4_literal(&c, lambda));
                    }
                }
            }
        }
    }
    return best;
}

static void test_planner_matches_brute_force(void **state)
{
    (void)state;
    struct sf_profile *p = malloc(sizeof(*p));
    struct sf_pricing *pr = malloc(sizeof(*pr));
    int feasible = 0, fanned = 0;
    for (int k = 0; k < 1000; k++) {
        random_instance(p, pr);
        double floor_acc = urand() * 0.5;
        struct sf_plan_opts o;
        sf_plan_opts_default(&o);
        o.min_accuracy = floor_acc;
        o.batching = k % 2 ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
        struct sf_plan plan;
        struct sf_err err = {{0}};
        int rc = sf_plan_run(&plan, p, pr, &o, &err);
        double want = o.batching == SF_BATCHING_EPOCH ? brute_force(p, pr, floor_acc)
                                                      : brute_force_deadline(p, pr, floor_acc);
        if (isinf(want)) {
            assert_int_equal(rc, SF_EINFEASIBLE);
        } else {
            assert_int_equal(rc, SF_OK);
            /* equal up to the planner's tie tolerance (ties go to accuracy and margins) */
            assert_float_equal(plan.best.cost_usd_per_s, want, SF_PLAN_TIE_REL * want + 1e-18);
            feasible++;
            fanned += plan.best.tail_fanout > 1;
        }
        sf_plan_fini(&plan);
    }
    assert_true(feasible > 100);
    assert_true(fanned > 10); /* the comparison covers fanned-out tails, not only k = 1 */
    free(p);
    free(pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq1_single_stage_faas),
        cmocka_unit_test(test_eq3_faas_multistage),
        cmocka_unit_test(test_eq2_iaas_tcip_rule),
        cmocka_unit_test(test_eq4_hybrid),
        cmocka_unit_test(test_cut0_is_faas_and_cutN_is_iaas),
        cmocka_unit_test(test_cost_monotone_in_rate),
        cmocka_unit_test(test_tcip_closed_form_matches_sweep),
        cmocka_unit_test(test_bundled_plan_explains_rejections),
        cmocka_unit_test(test_planner_matches_brute_force),
    };
    return cmocka_run_group_tests(tests, load_bundled, NULL);
}
