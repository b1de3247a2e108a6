/* test_registry.c - adding a policy is one file and one row: this binary is built with a test-only
 * policy (extra_policy/pol_hold.c, one row in extra_policy/policy_extra.h) compiled into the
 * registry (src/ctl/policy.c with SF_POLICY_EXTRA_LIST), and everything that lists, parses, binds,
 * replays or documents policies takes it with no other change: the registry, the CLI's option
 * parsing and --help, the binding and the simulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serflow/sim.h"
#include "test_util.h"

static void test_the_row_is_in_the_registry(void **state)
{
    (void)state;
    assert_int_equal(sf_policy_count(), SF_POL_BUILTIN_COUNT + 1);
    int k = sf_policy_parse("hold");
    assert_int_equal(k, SF_POL_BUILTIN_COUNT); /* rows a build adds come after the list */
    const struct sf_policy_desc *d = sf_policy_get(k);
    assert_non_null(d);
    assert_int_equal(d->path, SF_POLICY_PATH_IAAS);
    char names[256];
    assert_non_null(strstr(sf_policy_names(names, sizeof(names), 1), ", hold"));
}

static void test_the_cli_takes_it(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char *rv[] = {"replay", "--policy", "libra,hold", NULL};
    assert_int_equal(sf_cli_replay_command.check(3, rv, &err), SF_OK);
    char *bad[] = {"replay", "--policy", "holdx", NULL};
    assert_int_not_equal(sf_cli_replay_command.check(3, bad, &err), SF_OK);
    assert_non_null(strstr(err.msg, "hold")); /* the list of known policies names it */
    const struct sf_cli_command *serve = sf_cli_command_find("serve");
    assert_non_null(serve);
    char *sv[] = {"serve", "--policy", "hold", NULL};
    assert_int_equal(serve->check(3, sv, &err), SF_OK);
    /* --help lists it with its summary, generated from the registry */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sf_opt_help(sf_cli_replay_command.spec, f);
    fclose(f);
    assert_non_null(strstr(text, "hold        test only: one VM from the first epoch"));
    free(text);
}

static void test_it_binds_and_replays(void **state)
{
    (void)state;
    static struct sf_profile prof;
    static struct sf_pricing price;
    struct sf_err err = {{0}};
    assert_int_equal(sf_profile_load(&prof, tu_src("data/profiles/vgg16-sdn-cifar10.json"), &err),
                     SF_OK);
    assert_int_equal(sf_pricing_load(&price, tu_src("data/pricing/aws-us-east-1.json"), &err),
                     SF_OK);
    struct sf_trace trace;
    uint32_t counts[60];
    for (int i = 0; i < 60; i++)
        counts[i] = 150;
    assert_int_equal(
        sf_trace_from_counts(&trace, "steady", counts, 60, SF_TRACE_EPOCH, prof.slo_s, &err),
        SF_OK);
    struct sf_plan plan;
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    assert_int_equal(sf_plan_run(&plan, &prof, &price, &po, &err), SF_OK);
    struct sf_sim_opts o;
    sf_sim_opts_default(&o);
    o.tau = 0.7;
    o.ctl.cold_start_min_epochs = o.ctl.cold_start_max_epochs = 5;
    const enum sf_policy_kind kinds[] = {SF_POL_LIBRA,
                                         (enum sf_policy_kind)sf_policy_parse("hold")};
    struct sf_policy_result r[2];
    int rc = sf_sim_run_plan(&prof, &price, &trace, &o, &plan, kinds, 2, r, &err);
    if (rc != SF_OK)
        fail_msg("%s", err.msg);
    sf_plan_fini(&plan);
    /* the same IaaS path as libra; one instance launched at epoch 1, kept to the end */
    assert_ptr_equal(r[1].policy, sf_policy_get(kinds[1]));
    assert_memory_equal(&r[1].path, &r[0].path, sizeof(r[0].path));
    assert_int_equal(r[1].launches, 1);
    assert_int_equal(r[1].peak_instances, 1);
    assert_int_equal(r[1].requests_served, trace.n_requests);
    assert_true(r[1].batches_on_instances > 0);
    double life_s = 60 * prof.slo_s;
    assert_true(r[1].vm_seconds >= life_s - 1e-9 && r[1].vm_seconds <= life_s + 1);
    sf_sim_results_fini(r, 2);
    sf_trace_fini(&trace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_row_is_in_the_registry),
        cmocka_unit_test(test_the_cli_takes_it),
        cmocka_unit_test(test_it_binds_and_replays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
