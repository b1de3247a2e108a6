/* test_limits.c - the caps of serflow/limits.h hold where the loaders cannot help: the planner
 * refuses a non-finite result (a profile changed after loading) and an enumeration above its
 * candidate cap, quickly and with a message; trace caps name the line that crosses them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "serflow/plan.h"
#include "serflow/sim.h"
#include "test_util.h"

static struct sf_profile prof;
static struct sf_pricing price;

static int setup(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    if (sf_profile_load(&prof, tu_src("data/profiles/vgg16-sdn-cifar10.json"), &err) != SF_OK ||
        sf_pricing_load(&price, tu_src("data/pricing/aws-us-east-1.json"), &err) != SF_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* The scaling_exponent 500 printed "$-nan per hour" as feasible; the loader now refuses
 * it, and the planner refuses any non-finite cost it computes all the same. */
static void test_plan_refuses_non_finite_results(void **state)
{
    (void)state;
    struct sf_profile *p = malloc(sizeof(*p));
    assert_non_null(p);
    *p = prof;
    p->fn_scaling_exponent = 500;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    int rc = sf_plan_run(&plan, p, &price, NULL, &err);
    assert_int_equal(rc, SF_ERANGE);
    assert_non_null(strstr(err.msg, "not finite"));
    free(p);
}

/* Every VM type at 64 stages and 128 taus with --any-memory would price billions of
 * candidates: refused before any is priced. */
static void test_plan_candidate_cap(void **state)
{
    (void)state;
    struct sf_pricing *pr = malloc(sizeof(*pr));
    assert_non_null(pr);
    *pr = price;
    pr->fn_mem_min_mb = 1;
    pr->fn_mem_max_mb = SF_FN_MAX_MEMORY_SIZES;
    pr->fn_mem_step_mb = 1;
    while (pr->n_vm < SF_MAX_VM_TYPES) {
        pr->vm[pr->n_vm] = pr->vm[0];
        snprintf(pr->vm[pr->n_vm].name, SF_NAME_MAX, "vm%zu", pr->n_vm);
        pr->n_vm++;
    }
    struct sf_plan_opts o;
    sf_plan_opts_default(&o);
    o.any_memory = 1;
    struct sf_plan plan;
    struct sf_err err = {{0}};
    assert_int_equal(sf_plan_run(&plan, &prof, pr, &o, &err), SF_ETOOBIG);
    assert_non_null(strstr(err.msg, "candidates"));
    /* a catalog beyond the memory-size cap, built in memory, is refused by the planner too */
    pr->fn_mem_max_mb = 4000000;
    pr->fn_mb_per_vcpu = 1;
    o.any_memory = 0;
    assert_int_equal(sf_plan_run(&plan, &prof, pr, &o, &err), SF_ETOOBIG);
    assert_non_null(strstr(err.msg, "function memory sizes"));
    free(pr);
}

/* A catalog whose range holds no whole-vCPU multiple points at --any-memory. */
static void test_plan_suggests_any_memory(void **state)
{
    (void)state;
    struct sf_pricing *pr = malloc(sizeof(*pr));
    assert_non_null(pr);
    *pr = price;
    pr->fn_mem_min_mb = 128;
    pr->fn_mem_max_mb = 1024; /* below one 1,769 MB vCPU */
    struct sf_plan plan;
    struct sf_err err = {{0}};
    assert_int_equal(sf_plan_run(&plan, &prof, pr, NULL, &err), SF_EINFEASIBLE);
    assert_non_null(strstr(err.msg, "--any-memory"));
    free(pr);
}

static void test_trace_caps(void **state)
{
    (void)state;
    struct sf_trace t;
    struct sf_err err = {{0}};
    const char *huge = "100000000\n100000000\n100000000\n100000000\n100000000\n100000000\n";
    assert_int_equal(
        sf_trace_parse_counts(&t, "t", huge, strlen(huge), SF_TRACE_SECOND, 6, 0, &err), SF_ERANGE);
    assert_non_null(strstr(err.msg, "t:1: more than 10000000 requests on one line"));
    const char *epoch = "2000000\n2000000\n2000000\n2000000\n2000000\n2000000\n";
    assert_int_equal(
        sf_trace_parse_counts(&t, "t", epoch, strlen(epoch), SF_TRACE_SECOND, 6, 0, &err),
        SF_ETOOBIG);
    assert_non_null(strstr(err.msg, "t:6: more than 10000000 requests in epoch 1"));
    /* the cap is per epoch: the same counts over two epochs load */
    const char *two = "1000000\n1000000\n1000000\n1000000\n1000000\n1000000\n9000000\n";
    assert_int_equal(sf_trace_parse_counts(&t, "t", two, strlen(two), SF_TRACE_SECOND, 6, 0, &err),
                     SF_OK);
    assert_int_equal(t.n_epochs, 2);
    assert_int_equal(t.count[0], 6000000);
    sf_trace_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_refuses_non_finite_results),
        cmocka_unit_test(test_plan_candidate_cap),
        cmocka_unit_test(test_plan_suggests_any_memory),
        cmocka_unit_test(test_trace_caps),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
