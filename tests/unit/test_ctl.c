/* test_ctl.c - traffic monitor (eq. 5-6), scaling target, fleet lifecycle and the load
 * balancer, including the paper's worked check on epoch 50 of WITS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/ctl.h"
#include "test_util.h"

static void test_monitor_eq5_eq6(void **state)
{
    (void)state;
    struct sf_monitor m;
    sf_monitor_init(&m);
    sf_monitor_update(&m, 10, 0.2, 0.2); /* first observation primes */
    assert_float_equal(m.mu_rps, 10, 0);
    assert_float_equal(m.sigma_rps, 0, 0);
    sf_monitor_update(&m, 20, 0.2, 0.2);
    /* mu = 0.2*20 + 0.8*10 = 12; sigma = 0.2*|20-10| + 0.8*0 = 2 */
    assert_float_equal(m.mu_rps, 12, 1e-12);
    assert_float_equal(m.sigma_rps, 2, 1e-12);
    sf_monitor_update(&m, 2, 0.2, 0.2);
    /* mu = 0.4 + 9.6 = 10; sigma = 0.2*|2-12| + 0.8*2 = 3.6 */
    assert_float_equal(m.mu_rps, 10, 1e-12);
    assert_float_equal(m.sigma_rps, 3.6, 1e-12);
}

static void test_scaling_target(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    sf_ctl_params_default(&p);
    p.capacity_rps = 10;
    p.tcip_rps = 4;
    p.k = 1;
    p.scaling_rule = SF_SCALE_PAPER;
    assert_int_equal(sf_scaling_target(&p, 20, 3, 0), 2); /* D = 23: q 2, res 3 <= 4 */
    assert_int_equal(sf_scaling_target(&p, 20, 5, 0), 3); /* D = 25: res 5 > 4 */
    assert_int_equal(sf_scaling_target(&p, 30, 0, 0), 3); /* exact multiple */
    p.k = 0;
    assert_int_equal(sf_scaling_target(&p, 20, 5, 0), 2);
    p.tcip_rps = INFINITY;
    assert_int_equal(sf_scaling_target(&p, 29.9, 0, 0), 2);
    p.use_instances = 0;
    assert_int_equal(sf_scaling_target(&p, 1000, 0, 0), 0);
    p.use_instances = 1;
    p.max_instances = 5;
    assert_int_equal(sf_scaling_target(&p, 1000, 0, 0), 5);
    assert_true(sf_scaling_due(&p, 25) && sf_scaling_due(&p, 50));
    assert_false(sf_scaling_due(&p, 0) || sf_scaling_due(&p, 24));
}

static void test_scaling_expected_rule(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    sf_ctl_params_default(&p);
    p.capacity_rps = 10;
    p.tcip_rps = 4;
    p.k = 0;
    p.cold_start_min_epochs = p.cold_start_max_epochs = 0;
    p.scaling_rule = SF_SCALE_EXPECTED;
    /* no spread and no cold start: the paper's rule with k = 0 */
    for (double mu = 0; mu < 80; mu += 0.7) {
        struct sf_ctl_params q = p;
        q.scaling_rule = SF_SCALE_PAPER;
        assert_int_equal(sf_scaling_target(&p, mu, 0, 0), sf_scaling_target(&q, mu, 0, 0));
    }
    /* mu = 25: the 3rd instance takes 5 req/s > 4 */
    assert_int_equal(sf_scaling_target(&p, 25, 0, 0), 3);
    /* a cold start as long as the period doubles the hurdle for a new instance (8 > 5) ... */
    p.cold_start_min_epochs = p.cold_start_max_epochs = 25;
    assert_int_equal(sf_scaling_target(&p, 25, 0, 0), 2);
    /* ... but a running instance is kept at the plain T-CIP */
    assert_int_equal(sf_scaling_target(&p, 25, 0, 3), 3);
    /* spread: the expected load of the 3rd instance at mu = 20 is positive, and it grows with
     * sigma; targets never fall as mu rises */
    p.cold_start_min_epochs = p.cold_start_max_epochs = 0;
    assert_int_equal(sf_scaling_target(&p, 20, 0, 0), 2);
    assert_int_equal(sf_scaling_target(&p, 20, 8, 0), 2);  /* 3rd takes 3.2 < 4 */
    assert_int_equal(sf_scaling_target(&p, 20, 20, 0), 3); /* 3rd takes 4.2 > 4 */
    int prev = 0;
    for (double mu = 0; mu < 200; mu += 1.3) {
        int n = sf_scaling_target(&p, mu, 3, 0);
        assert_true(n >= prev);
        prev = n;
    }
    /* an instance that does not beat FaaS even when full is never bought */
    p.tcip_rps = INFINITY;
    assert_int_equal(sf_scaling_target(&p, 1000, 10, 0), 0);
}

static void test_cold_start_draws(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    sf_ctl_params_default(&p);
    int seen[23] = {0};
    for (int e = 0; e < 2000; e++) {
        int c = sf_cold_start_epochs(&p, 7, e, e % 3);
        assert_in_range(c, 18, 22);
        seen[c]++;
        assert_int_equal(c, sf_cold_start_epochs(&p, 7, e, e % 3)); /* deterministic */
    }
    for (int c = 18; c <= 22; c++)
        assert_true(seen[c] > 300); /* roughly uniform: 400 expected each */
}

static void test_fleet_lifecycle(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    sf_ctl_params_default(&p);
    p.cold_start_min_epochs = p.cold_start_max_epochs = 19;
    struct sf_fleet f;
    sf_fleet_init(&f, 1);
    struct sf_instance ended[8];
    /* paper narrative: 2 instances at epoch 25, ready by 44 */
    assert_int_equal(sf_fleet_scale(&f, &p, 2, 25), 2);
    assert_int_equal(sf_fleet_active(&f), 2);
    assert_int_equal(sf_fleet_advance(&f, 43, ended, 8), 0);
    assert_int_equal(sf_fleet_ready(&f), 0);
    assert_int_equal(sf_fleet_free(&f, 43 * 6.0), 0);
    sf_fleet_advance(&f, 44, ended, 8);
    assert_int_equal(sf_fleet_ready(&f), 2);
    assert_int_equal(sf_fleet_free(&f, 44 * 6.0), 2);
    /* down to 1 at epoch 250: the newest goes, after the 2-epoch delay, serving meanwhile */
    assert_int_equal(sf_fleet_scale(&f, &p, 1, 250), -1);
    assert_int_equal(sf_fleet_active(&f), 1);
    assert_int_equal(sf_fleet_serving(&f), 2);
    assert_int_equal(sf_fleet_advance(&f, 251, ended, 8), 0);
    assert_int_equal(sf_fleet_advance(&f, 252, ended, 8), 1);
    assert_int_equal(ended[0].launch_epoch, 25);
    assert_int_equal(ended[0].end_epoch, 252);
    assert_int_equal(sf_fleet_serving(&f), 1);
    /* a pending launch is terminated before a ready instance, and never serves */
    assert_int_equal(sf_fleet_scale(&f, &p, 2, 275), 1);
    assert_int_equal(sf_fleet_scale(&f, &p, 1, 280), -1);
    sf_fleet_advance(&f, 300, ended, 8);
    assert_int_equal(sf_fleet_ready(&f), 1);
    assert_int_equal(f.inst[0].launch_epoch, 25);
    /* busy instances are not free */
    f.inst[0].busy_until_s = 400 * 6.0;
    assert_int_equal(sf_fleet_free(&f, 300 * 6.0), 0);
}

/* The shedding rule shared by the simulator's fleet and the server: pending first, then ready,
 * newest launch first within each, terminating ones never, at most `surplus`. */
static void test_fleet_pick_surplus(void **state)
{
    (void)state;
    const enum sf_inst_state st[] = {SF_INST_READY,       SF_INST_PENDING, SF_INST_READY,
                                     SF_INST_TERMINATING, SF_INST_PENDING, SF_INST_READY};
    /* launch order is not the slot order (a server reuses slots) */
    const int64_t order[] = {5, 2, 9, 10, 7, 1};
    int picks[6];
    assert_int_equal(sf_fleet_pick_surplus(st, order, 6, 4, picks), 4);
    assert_int_equal(picks[0], 4); /* pending, launched 7th */
    assert_int_equal(picks[1], 1); /* pending, 2nd */
    assert_int_equal(picks[2], 2); /* ready, 9th */
    assert_int_equal(picks[3], 0); /* ready, 5th */
    /* more than there is: every pending and ready one, never the terminating one */
    assert_int_equal(sf_fleet_pick_surplus(st, order, 6, 10, picks), 5);
    for (int k = 0; k < 5; k++)
        assert_int_not_equal(picks[k], 3);
    assert_int_equal(sf_fleet_pick_surplus(st, order, 6, 0, picks), 0);
    /* ties in launch order: the higher index is newer (the simulator's index order) */
    const enum sf_inst_state ready2[] = {SF_INST_READY, SF_INST_READY};
    const int64_t same[] = {3, 3};
    assert_int_equal(sf_fleet_pick_surplus(ready2, same, 2, 1, picks), 1);
    assert_int_equal(picks[0], 1);
}

static void test_lb_worked_check_epoch_50_of_wits(void **state)
{
    (void)state;
    /* line 50 of the WITS file is epoch 50's count (the trace loader is model/'s, tested there) */
    size_t len;
    char *text = tu_read("data/traces/wits_libra_per_second.txt", &len);
    const char *p = text;
    for (int line = 1; line < 50 && p; line++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    assert_non_null(p);
    int count = atoi(p);
    free(text);
    assert_int_equal(count, 336); /* epoch 50 */
    struct sf_lb_split s;
    for (int partial = 0; partial <= 1; partial++) {
        sf_lb_route(count, 100, 2, partial, INT32_MAX, &s);
        assert_int_equal(s.batches_to_instances, 2);
        assert_int_equal(s.requests_to_instances, 200);
        assert_int_equal(s.batches_to_functions, 2); /* one full, one of 36 */
        assert_int_equal(336 - s.requests_to_instances - 100, 36);
    }
}

static void test_lb_partial_rule_and_cap(void **state)
{
    (void)state;
    struct sf_lb_split s;
    /* 336 requests, 4 free: the partial batch of 36 uses the 4th instance ... */
    sf_lb_route(336, 100, 4, 1, INT32_MAX, &s);
    assert_int_equal(s.requests_to_instances, 336);
    assert_int_equal(s.batches_to_instances, 4);
    assert_int_equal(s.partial_on_instance, 1);
    assert_int_equal(s.batches_to_functions, 0);
    /* ... or goes to a function under the other reading of the paper */
    sf_lb_route(336, 100, 4, 0, INT32_MAX, &s);
    assert_int_equal(s.requests_to_instances, 300);
    assert_int_equal(s.batches_to_functions, 1);
    /* no instances: everything to functions */
    sf_lb_route(250, 100, 0, 1, INT32_MAX, &s);
    assert_int_equal(s.batches_to_functions, 3);
    /* a cap (libra-orig's VM share) limits the instance share */
    sf_lb_route(336, 100, 4, 1, 150, &s);
    assert_int_equal(s.requests_to_instances, 150);
    assert_int_equal(s.batches_to_instances, 2);
    assert_int_equal(s.batches_to_functions, 2); /* 186 left: 100 + 86 */
    sf_lb_route(0, 100, 4, 1, INT32_MAX, &s);
    assert_int_equal(s.batches_to_instances + s.batches_to_functions, 0);
}

static void test_params_check(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    struct sf_err err = {{0}};
    sf_ctl_params_default(&p);
    assert_int_equal(sf_ctl_params_check(&p, &err), SF_OK);
    p.alpha = 1.5;
    assert_int_equal(sf_ctl_params_check(&p, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "alpha"));
    sf_ctl_params_default(&p);
    p.cold_start_min_epochs = 30;
    assert_int_equal(sf_ctl_params_check(&p, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "cold start"));
    sf_ctl_params_default(&p);
    p.follow_same_count = 1.5; /* more than one relaunch for a switch that changes nothing */
    assert_int_equal(sf_ctl_params_check(&p, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "same-count"));
    p.follow_same_count = NAN;
    assert_int_equal(sf_ctl_params_check(&p, &err), SF_EINVAL);
}

/* The break-even rule against a hand count: r = 10, T-CIP = 4, cold start 20 epochs of 6 s,
 * thresholds a tenth: a launch costs 12 s of price, a relaunch 0.1 x 120 x (1 + 10 / 4) = 42 s. */
static void test_breakeven_rule(void **state)
{
    (void)state;
    struct sf_ctl_params p;
    sf_ctl_params_default(&p);
    p.capacity_rps = 10;
    p.tcip_rps = 4;
    p.cold_start_min_epochs = p.cold_start_max_epochs = 20;
    p.buy_after_cold_starts = p.sell_after_cold_starts = 0.1;
    struct sf_breakeven b;
    sf_breakeven_init(&b);
    /* 15 req/s with one instance: level 2 takes 5, saves 6 x (5/4 - 1) = 1.5 s per epoch */
    for (int e = 1; e <= 7; e++)
        assert_int_equal(sf_breakeven_step(&b, &p, 15, 1), 1);
    assert_int_equal(sf_breakeven_step(&b, &p, 15, 1), 2); /* 8 x 1.5 = 12 s */
    /* 12 req/s with two: level 2 takes 2, wastes 6 x (1 - 2/4) = 3 s per epoch: 14 epochs */
    for (int e = 1; e <= 13; e++)
        assert_int_equal(sf_breakeven_step(&b, &p, 12, 2), 2);
    assert_int_equal(sf_breakeven_step(&b, &p, 12, 2), 1);
    /* a level that cannot pay even when full is never bought */
    p.tcip_rps = 11;
    sf_breakeven_init(&b);
    for (int e = 1; e <= 100; e++)
        assert_int_equal(sf_breakeven_step(&b, &p, 1000, 0), 0);
    /* no traffic: every level's account drains, nothing is bought */
    p.tcip_rps = 4;
    for (int e = 1; e <= 100; e++)
        assert_int_equal(sf_breakeven_step(&b, &p, 0, 0), 0);
    p.use_instances = 0;
    assert_int_equal(sf_breakeven_step(&b, &p, 1000, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_eq5_eq6),
        cmocka_unit_test(test_scaling_target),
        cmocka_unit_test(test_scaling_expected_rule),
        cmocka_unit_test(test_cold_start_draws),
        cmocka_unit_test(test_fleet_lifecycle),
        cmocka_unit_test(test_fleet_pick_surplus),
        cmocka_unit_test(test_lb_worked_check_epoch_50_of_wits),
        cmocka_unit_test(test_lb_partial_rule_and_cap),
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_breakeven_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
