/* test_cli.c - the CLI's option parser (src/cli/opt.c), every command's table and argument
 * check, and the status -> exit code mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "serflow/bind.h"
#include "test_util.h"

enum { T_NAME = 1, T_NUM, T_INT, T_WORD, T_FLAG, T_QUIET };
static const char *const t_words[] = {"red", "green", NULL};
static const struct sf_opt t_opts[] = {
    {.help = "Section:"},
    {.id = T_NAME, .name = "name", .kind = SF_OPT_STR, .metavar = "S", .help = "a name"},
    {.id = T_NUM,
     .name = "num",
     .kind = SF_OPT_NUM,
     .metavar = "X",
     .help = "a number",
     .want = "seconds",
     .lo = 0,
     .hi = 1,
     .flags = SF_OPT_LO_OPEN},
    {.id = T_INT, .name = "int", .kind = SF_OPT_INT, .metavar = "N", .ilo = 1, .ihi = 10},
    {.id = T_WORD, .name = "word", .kind = SF_OPT_WORD, .metavar = "W", .words = t_words},
    {.id = T_FLAG, .name = "flag", .short_name = 'f', .kind = SF_OPT_FLAG},
    {.id = T_QUIET, .name = "quiet", .short_name = 'q', .kind = SF_OPT_FLAG},
    {0}};
static const struct sf_opt_cmd t_cmd = {
    .name = "test", .summary = "s", .synopsis = "[options]", .opts = t_opts};

/* Parses a NULL-terminated argument list; returns the last sf_opt_next result and the ids seen
 * in ids[0..*n). */
static int run(const struct sf_opt_cmd *cmd, const char **args, int *ids, int *n,
               struct sf_optval *last, struct sf_err *err)
{
    char *argv[32] = {"test"};
    int argc = 1;
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    struct sf_opt_parser p;
    sf_opt_init(&p, cmd, argc, argv);
    int id;
    *n = 0;
    while ((id = sf_opt_next(&p, last, err)) > 0)
        ids[(*n)++] = id;
    return id;
}

static void test_value_forms(void **state)
{
    (void)state;
    int ids[16], n;
    struct sf_optval v;
    struct sf_err err = {{0}};
    const char *a1[] = {"--num=0.5", NULL};
    assert_int_equal(run(&t_cmd, a1, ids, &n, &v, &err), SF_OPT_END);
    assert_int_equal(n, 1);
    const char *a2[] = {"--num", "0.25", "--int", "7", "--word", "green", "-fq", NULL};
    assert_int_equal(run(&t_cmd, a2, ids, &n, &v, &err), SF_OPT_END);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], T_NUM);
    assert_int_equal(ids[3], T_FLAG);
    assert_int_equal(ids[4], T_QUIET);
    /* a value that starts with '-' but is not an option is a value */
    const char *a3[] = {"--name", "-", NULL};
    assert_int_equal(run(&t_cmd, a3, ids, &n, &v, &err), SF_OPT_END);
    assert_int_equal(n, 1);
    const char *a4[] = {"-h", NULL};
    assert_int_equal(run(&t_cmd, a4, ids, &n, &v, &err), SF_OPT_HELP);
    const char *a5[] = {"--help", NULL};
    assert_int_equal(run(&t_cmd, a5, ids, &n, &v, &err), SF_OPT_HELP);
}

static void test_values_are_checked(void **state)
{
    (void)state;
    struct sf_optval v;
    struct sf_err err = {{0}};
    const struct sf_opt *num = sf_opt_find(&t_cmd, "num"), *in = sf_opt_find(&t_cmd, "int");
    assert_int_equal(sf_opt_value(num, "1", &v, &err), SF_OK);
    assert_true(v.num == 1.0);
    const char *bad_num[] = {"0", "1.5", "abc", "", " 0.5", "0.5x", "nan", "inf", "1e400", NULL};
    for (const char *const *b = bad_num; *b; b++) {
        err.msg[0] = '\0';
        assert_int_equal(sf_opt_value(num, *b, &v, &err), SF_EINVAL);
        assert_non_null(strstr(err.msg, "--num: expected seconds, a number in (0, 1]"));
    }
    const char *bad_int[] = {"0", "11", "1.0", "1e3", "", "+", "99999999999999999999", NULL};
    for (const char *const *b = bad_int; *b; b++) {
        err.msg[0] = '\0';
        assert_int_equal(sf_opt_value(in, *b, &v, &err), SF_EINVAL);
        assert_non_null(strstr(err.msg, "--int: expected an integer in [1, 10]"));
    }
    assert_int_equal(sf_opt_value(sf_opt_find(&t_cmd, "word"), "blue", &v, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "one of red, green"));
    /* non-printable bytes in a value are escaped in the message */
    assert_int_equal(sf_opt_value(in, "\x1b[31mx", &v, &err), SF_EINVAL);
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(err.msg, "\\x1B[31mx"));
}

static void test_errors_name_the_option(void **state)
{
    (void)state;
    int ids[16], n;
    struct sf_optval v;
    struct sf_err err = {{0}};
    struct {
        const char *args[4];
        const char *msg;
    } cases[] = {
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"--nam", "x"}, "did you mean --name?"},
        {{"-xy"}, "unknown option '-x' in '-xy'"},
        {{"-fx"}, "unknown option '-x' in '-fx'"},
        {{"--num"}, "--num: missing value"},
        {{"--name", "--flag"}, "--name: missing value (the next argument '--flag' is an option"},
        {{"--flag=1"}, "--flag takes no value"},
        {{"--help=1"}, "--help takes no value"},
        {{"extra"}, "unexpected argument 'extra'"},
        {{"--", "--flag"}, "unexpected argument '--flag'"},
        {{"--name="}, "--name: expected a non-empty value, got ''"},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(cases); i++) {
        err.msg[0] = '\0';
        assert_int_equal(run(&t_cmd, cases[i].args, ids, &n, &v, &err), SF_OPT_ERROR);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
    /* abbreviations are not accepted */
    const char *abbrev[] = {"--nu", "0.5", NULL};
    assert_int_equal(run(&t_cmd, abbrev, ids, &n, &v, &err), SF_OPT_ERROR);
}

static void test_list_items_are_never_truncated(void **state)
{
    (void)state;
    char buf[8];
    const char *cur = "a,bb,,toolongitem,c";
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), 1);
    assert_string_equal(buf, "a");
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), 1);
    assert_string_equal(buf, "bb");
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), 1);
    assert_string_equal(buf, "");
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), -1);
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), 1);
    assert_string_equal(buf, "c");
    assert_int_equal(sf_opt_next_item(&cur, ',', buf, sizeof(buf)), 0);
}

/* Every command's table: ids unique and > 0, names unique, ranges and words present, a help
 * line and a metavar for every valued option; and --help works for every command. */
static void test_every_table_is_well_formed(void **state)
{
    (void)state;
    for (const struct sf_cli_command *const *c = sf_cli_commands; *c; c++) {
        const struct sf_opt_cmd *spec = (*c)->spec;
        assert_non_null(spec->name);
        assert_non_null(spec->summary);
        assert_ptr_equal(sf_cli_command_find(spec->name), *c);
        for (const struct sf_opt *o = spec->opts; o->name || o->help; o++) {
            if (!o->name)
                continue;
            assert_true(o->id > 0);
            assert_non_null(o->help);
            assert_true(o->kind == SF_OPT_FLAG || o->metavar);
            if (o->kind == SF_OPT_NUM)
                assert_true(o->lo < o->hi);
            if (o->kind == SF_OPT_INT)
                assert_true(o->ilo <= o->ihi);
            if (o->kind == SF_OPT_WORD)
                assert_true(o->words && o->words[0]);
            assert_string_not_equal(o->name, "help");
            for (const struct sf_opt *q = o + 1; q->name || q->help; q++) {
                if (!q->name)
                    continue;
                if (q->id == o->id || !strcmp(q->name, o->name))
                    fail_msg("%s: options --%s and --%s share an id or name", spec->name, o->name,
                             q->name);
            }
        }
        char *argv[] = {(char *)spec->name, "--help", NULL};
        struct sf_err err = {{0}};
        assert_int_equal((*c)->check(2, argv, &err), SF_OK);
    }
}

/* The commands' own checks: list parsing, ranges and the regressions. */
static void test_command_checks(void **state)
{
    (void)state;
    char longlist[600] = "";
    for (int i = 0; i < 60; i++)
        strcat(longlist, "faas,");
    strcat(longlist, "nope");
    struct {
        const char *cmd;
        const char *args[4];
        int ok;
        const char *msg;
    } cases[] = {
        {"plan", {"--tau", "0.7", "--json"}, 1, NULL},
        {"plan", {"--plot", ""}, 0, "--plot: expected a non-empty value"},
        {"plan", {"-xy"}, 0, "unknown option '-x' in '-xy'"},
        {"replay", {"--policy", "serflow,oracle,serflow"}, 1, NULL},
        {"replay", {"--policy", longlist}, 0, "unknown policy 'nope'"},
        {"replay", {"--policy", ""}, 0, "--policy: expected a non-empty value"},
        {"replay", {"--policy", "faas,"}, 0, "unknown policy ''"},
        {"replay", {"--cold-start", "5:3"}, 0, "--cold-start"},
        {"replay", {"--cold-start", "5"}, 1, NULL},
        {"replay", {"--cold-start", "1:2:3"}, 0, "--cold-start"},
        {"replay",
         {"--cold-start", "3:1111111111111111111111111111111111111111111111111111111111111111111"},
         0,
         "--cold-start"},
        {"replay", {"--sweep", "k="}, 0, "--sweep k: an empty value"},
        {"replay", {"--sweep", "k=1,,2"}, 0, "--sweep k: an empty value"},
        {"replay", {"--sweep", "scale-period=1e300"}, 0, "--sweep scale-period: expected"},
        {"replay", {"--sweep", "scale-period=2.5"}, 0, "an integer"},
        {"replay", {"--sweep", "cold-start-max=10,20"}, 1, NULL},
        {"replay", {"--sweep", "speed=1"}, 0, "unknown parameter 'speed'"},
        {"replay", {"--seed", "-1"}, 0, "--seed"},
        {"replay", {"--seed", "18446744073709551616"}, 0, "--seed"},
        {"profile", {"--model", "m", "--taus", "0.9,0.5"}, 0, "increasing"},
        {"profile", {"--model", "m", "--taus", "0.01:1:0.001"}, 0, "more than"},
        {"profile", {"--model", "m", "--batch-sizes", "1,,2"}, 0, "--batch-sizes"},
        {"profile", {"--taus", "0.5"}, 0, "--model DIR is required"},
        {"demo", {"--bogus"}, 0, "unknown option '--bogus'"},
        {"demo", {"extra"}, 0, "unexpected argument 'extra'"},
        {"help", {"demo"}, 1, NULL},
        {"help", {"help"}, 1, NULL},
        {"help", {"nope"}, 0, "unknown command 'nope'"},
        {"help", {"plan", "replay"}, 0, "one command"},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(cases); i++) {
        char *argv[8] = {(char *)cases[i].cmd};
        int argc = 1;
        for (; argc < 5 && cases[i].args[argc - 1]; argc++)
            argv[argc] = (char *)cases[i].args[argc - 1];
        struct sf_err err = {{0}};
        const struct sf_cli_command *c = sf_cli_command_find(cases[i].cmd);
        assert_non_null(c);
        int rc = c->check(argc, argv, &err);
        if ((rc == SF_OK) != cases[i].ok)
            fail_msg("case %zu (%s %s): rc %d, message '%s'", i, cases[i].cmd, cases[i].args[0], rc,
                     err.msg);
        if (cases[i].msg && !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(sf_cli_exit_code(SF_OK), 0);
    int usage[] = {SF_EINVAL,       SF_EPARSE,   SF_ERANGE, SF_ENOTFOUND,
                   SF_EUNSUPPORTED, SF_ECORRUPT, SF_ETOOBIG};
    for (size_t i = 0; i < SF_ARRAY_LEN(usage); i++)
        assert_int_equal(sf_cli_exit_code(usage[i]), 2);
    assert_int_equal(sf_cli_exit_code(SF_EINFEASIBLE), 1);
    assert_int_equal(sf_cli_exit_code(SF_EIO), 1);
    assert_int_equal(sf_cli_exit_code(SF_ENOMEM), 1);
    assert_int_equal(sf_cli_exit_code(-1000), 1);
}

static void test_help_is_generated_from_the_table(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sf_opt_help(&t_cmd, f);
    fclose(f);
    assert_non_null(strstr(text, "usage: serflow test [options]"));
    assert_non_null(strstr(text, "Section:\n  --name S"));
    assert_non_null(strstr(text, "  -f, --flag"));
    assert_non_null(strstr(text, "  -h, --help"));
    free(text);
}

/* Two bindings are equal in everything a driver runs: path, parameters, prices, runtimes, the
 * batcher and its tables. */
static void assert_bindings_equal(const struct sf_binding *a, const struct sf_binding *b)
{
    assert_ptr_equal(a->policy, b->policy);
    assert_memory_equal(&a->path, &b->path, sizeof(a->path));
    assert_int_equal(a->pool, b->pool);
    assert_true(a->planned_usd_per_s == b->planned_usd_per_s);
    assert_int_equal(a->n_stages, b->n_stages);
    assert_true(a->tau == b->tau);
    assert_int_equal(a->batching, b->batching);
    /* the env holds the batcher's configuration for the follow rule's shadows: its tables are
     * compared below, by content */
    struct sf_policy_env ea = a->env, eb = b->env;
    ea.shadow.batcher.inst_worst_s = ea.shadow.batcher.fn_worst_s = NULL;
    eb.shadow.batcher.inst_worst_s = eb.shadow.batcher.fn_worst_s = NULL;
    assert_memory_equal(&ea, &eb, sizeof(ea));
    assert_ptr_equal(a->env.shadow.batcher.fn_worst_s, a->fn_worst_s);
    assert_ptr_equal(b->env.shadow.batcher.fn_worst_s, b->fn_worst_s);
    assert_memory_equal(a->vm_rq_s, b->vm_rq_s, sizeof(a->vm_rq_s));
    assert_memory_equal(a->vm_rb_s, b->vm_rb_s, sizeof(a->vm_rb_s));
    assert_memory_equal(a->fn_rq_s, b->fn_rq_s, sizeof(a->fn_rq_s));
    assert_memory_equal(a->fn_rb_s, b->fn_rb_s, sizeof(a->fn_rb_s));
    assert_true(a->vm_usd_per_s == b->vm_usd_per_s && a->fn_usd_per_s == b->fn_usd_per_s);
    assert_true(a->hand_off_bytes == b->hand_off_bytes);
    assert_true(a->faas_usd_per_req == b->faas_usd_per_req);
    assert_true(a->batcher.slo_s == b->batcher.slo_s);
    assert_int_equal(a->batcher.batch_size, b->batcher.batch_size);
    assert_true(a->batcher.margin_s == b->batcher.margin_s);
    assert_int_equal(!a->batcher.inst_worst_s, !b->batcher.inst_worst_s);
    size_t n = (size_t)a->batcher.batch_size + 1;
    assert_memory_equal(a->fn_worst_s, b->fn_worst_s, n * sizeof(double));
    assert_memory_equal(a->inst_worst_s, b->inst_worst_s, n * sizeof(double));
}

/* `serflow serve` and `serflow replay` bind every online policy alike, for both batchings, when
 * told the same: the server's batcher margin and the simulator's function cold start are the
 * only settings whose defaults differ (docs/controller.md), so the test sets them equal. */
static void test_serve_binds_as_replay(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"data/profiles/fmnist-ee-local.json", "data/pricing/local.json"},
        {"data/profiles/vgg16-sdn-cifar10.json", "data/pricing/aws-us-east-1.json"}};
    static struct sf_profile prof_a, prof_b;
    static struct sf_pricing pr_a, pr_b;
    int checked = 0;
    for (size_t p = 0; p < SF_ARRAY_LEN(pairs); p++) {
        char prof_path[4096], price_path[4096], cold[32];
        snprintf(prof_path, sizeof(prof_path), "%s", tu_src(pairs[p][0]));
        snprintf(price_path, sizeof(price_path), "%s", tu_src(pairs[p][1]));
        struct sf_err err = {{0}};
        assert_int_equal(sf_profile_load(&prof_a, prof_path, &err), SF_OK);
        snprintf(cold, sizeof(cold), "%.17g", prof_a.fn_cold_start_s);
        for (int k = 0; k < sf_policy_count(); k++) {
            const struct sf_policy_desc *d = sf_policy_get(k);
            if (d->needs_future)
                continue;
            for (int batching = 0; batching < 2; batching++) {
                const char *bw = batching ? "epoch" : "deadline";
                char *sv[] = {"serve",     "--policy", (char *)d->name, "--batching", (char *)bw,
                              "--profile", prof_path,  "--pricing",     price_path,   "--margin-s",
                              "0",         NULL};
                int sc = (int)SF_ARRAY_LEN(sv) - 1;
                char *rv[] = {
                    "replay",    "--policy", (char *)d->name, "--batching", (char *)bw,
                    "--profile", prof_path,  "--pricing",     price_path,   "--fn-cold-start-s",
                    cold,        NULL};
                struct sf_binding bs, br;
                size_t n = 0;
                int rs = sf_cli_serve_bind(sc, sv, &prof_a, &pr_a, &bs);
                int rr =
                    sf_cli_replay_bind((int)SF_ARRAY_LEN(rv) - 1, rv, &prof_b, &pr_b, &br, 1, &n);
                assert_int_equal(rs, rr); /* both bind, or both refuse (no IaaS path) */
                if (rs != SF_EXIT_OK)
                    continue;
                assert_int_equal(n, 1);
                assert_bindings_equal(&bs, &br);
                sf_binding_fini(&bs);
                sf_binding_fini(&br);
                checked++;
            }
        }
    }
    assert_true(checked >= 20); /* 6 online policies x 2 batchings x 2 inputs, minus refusals */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_values_are_checked),
        cmocka_unit_test(test_errors_name_the_option),
        cmocka_unit_test(test_list_items_are_never_truncated),
        cmocka_unit_test(test_every_table_is_well_formed),
        cmocka_unit_test(test_command_checks),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_help_is_generated_from_the_table),
        cmocka_unit_test(test_serve_binds_as_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
