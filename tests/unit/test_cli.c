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
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve_cli.h"
#include "serflow/function.h"
#include "serflow/lambda.h"
#include "serflow/log.h"
#include "serflow/worker.h"
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

/* ---- --version and --config (opt.c gives them to every command) ---- */

/* Writes text to a new temporary file; its path into path (caller unlinks). */
static void write_temp(const char *text, char *path, size_t size)
{
    snprintf(path, size, "/tmp/test_cli_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_version_and_scan(void **state)
{
    (void)state;
    assert_true(strlen(sf_version()) > 0);
    const char *commit = sf_build_commit();
    assert_true(strspn(commit, "0123456789abcdef") == strlen(commit));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sf_cli_version(f);
    fclose(f);
    assert_true(!strncmp(text, "serflow ", 8) && strstr(text, sf_version()));
    free(text);
    struct {
        const char *args[4];
        int want;
    } cases[] = {
        {{"--version"}, SF_OPT_VERSION},
        {{"--num", "0.5", "--version"}, SF_OPT_VERSION},
        {{"--help", "--version"}, SF_OPT_HELP},
        {{"--num", "2", "--version"}, SF_OPT_ERROR}, /* what comes first on the line wins */
        {{"--version=1"}, SF_OPT_ERROR},
        {{"--config", "/nonexistent", "--flag"}, SF_OPT_END}, /* scan reads no file */
        {{"--", "--version"}, SF_OPT_ERROR},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(cases); i++) {
        char *argv[8] = {"test"};
        int argc = 1;
        for (; argc < 5 && cases[i].args[argc - 1]; argc++)
            argv[argc] = (char *)cases[i].args[argc - 1];
        if (sf_opt_scan(&t_cmd, argc, argv) != cases[i].want)
            fail_msg("case %zu: scan returned %d, want %d", i, sf_opt_scan(&t_cmd, argc, argv),
                     cases[i].want);
    }
    /* every command takes --version (its parse-only check accepts it) and has room in the
     * config parser's row marks; none defines the parser's own options */
    for (const struct sf_cli_command *const *c = sf_cli_commands; *c; c++) {
        int rows = 0;
        for (const struct sf_opt *o = (*c)->spec->opts; o->name || o->help; o++, rows++)
            if (o->name && (!strcmp(o->name, "config") || !strcmp(o->name, "version")))
                fail_msg("%s: --%s is the parser's", (*c)->spec->name, o->name);
        assert_true(rows < SF_OPT_MAX_ROWS);
        char *argv[] = {(char *)(*c)->spec->name, "--version", NULL};
        struct sf_err err = {{0}};
        assert_int_equal((*c)->check(2, argv, &err), SF_OK);
        assert_int_equal(sf_opt_scan((*c)->spec, 2, argv), SF_OPT_VERSION);
    }
}

/* A config file's options come first, in table order, each skipped when the command line gives
 * it; values as on the command line; the strings stay valid after the parse. */
static void test_config_file_and_command_line(void **state)
{
    (void)state;
    char path[64];
    write_temp("{\"format\": \"serflow-config/1\", \"notes\": \"n\",\n"
               " \"other\": {\"anything\": 1},\n"
               " \"test\": {\"word\": \"green\", \"int\": 7, \"quiet\": false,\n"
               "          \"num\": 0.25, \"flag\": true, \"name\": \"from file\",\n"
               "          \"x_mine\": [1]}}\n",
               path, sizeof(path));
    const char *args[] = {"--int", "3", "--config", path, NULL};
    int ids[16], n;
    struct sf_optval v;
    struct sf_err err = {{0}};
    char *argv[8] = {"test"};
    int argc = 1;
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    struct sf_opt_parser p;
    sf_opt_init(&p, &t_cmd, argc, argv);
    const char *name = NULL;
    double num = 0;
    long long in = 0;
    int word = -1, id;
    n = 0;
    while ((id = sf_opt_next(&p, &v, &err)) > 0) {
        ids[n++] = id;
        if (id == T_NAME)
            name = v.str;
        if (id == T_NUM)
            num = v.num;
        if (id == T_INT)
            in = v.i;
        if (id == T_WORD)
            word = v.word;
    }
    if (id != SF_OPT_END)
        fail_msg("parse: %d, '%s'", id, err.msg);
    /* the file's name, num, word, flag (table order; int given on the line, quiet false), then
     * the line's int */
    int want[] = {T_NAME, T_NUM, T_WORD, T_FLAG, T_INT};
    assert_int_equal(n, SF_ARRAY_LEN(want));
    assert_memory_equal(ids, want, sizeof(want));
    assert_string_equal(name, "from file");
    assert_true(num == 0.25);
    assert_int_equal(in, 3);
    assert_int_equal(word, 1);
    /* given twice */
    const char *twice[] = {"--config", path, "--config=x", NULL};
    assert_int_equal(run(&t_cmd, twice, ids, &n, &v, &err), SF_OPT_ERROR);
    assert_non_null(strstr(err.msg, "--config: given twice"));
    /* --help before anything wrong: no file read */
    const char *help[] = {"--help", "--config", "/nonexistent", NULL};
    assert_int_equal(run(&t_cmd, help, ids, &n, &v, &err), SF_OPT_HELP);
    const char *missing[] = {"--config", "/nonexistent/c.json", NULL};
    assert_int_equal(run(&t_cmd, missing, ids, &n, &v, &err), SF_OPT_ERROR);
    assert_non_null(strstr(err.msg, "--config: /nonexistent/c.json: cannot open"));
    unlink(path);
    sf_opt_config_release();
}

static void test_config_errors_name_file_line_field(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"{\"format\": \"serflow-config/1\",\n \"test\": {\n  \"num\": 2}}",
         "f.json:3: test.num: expected seconds, a number in (0, 1], got '2'"},
        {"{\"format\": \"serflow-config/1\",\n \"test\": {\"int\": \"x\"}}",
         "f.json:2: test.int: expected an integer in [1, 10], got 'x'"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"int\": 2.5}}",
         "test.int: expected an integer, got 2.5"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"flag\": 1}}",
         "test.flag: expected true or false"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"name\": 1}}",
         "test.name: expected a string"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"name\": \"\"}}",
         "test.name: expected a non-empty value"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"name\": \"a\\u0000b\"}}",
         "f.json:1: JSON syntax: \\u0000 is not allowed"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"name\": \"a\\nb\"}}",
         "test.name: control character \\x0A"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"word\": \"blue\"}}",
         "test.word: expected one of red, green"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"nam\": \"x\"}}",
         "test.nam: unknown option of serflow test; did you mean name?"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"config\": \"x\"}}",
         "test.config: --config is for the command line only"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"num\": null}}",
         "test.num: expected a number"},
        {"{\"format\": \"serflow-config/1\", \"test\": []}", "f.json:1: test: expected an object"},
        {"{\"format\": \"serflow-config/1\", \"plan\": {}}",
         "f.json:1: test: no section for serflow test (the file has plan)"},
        {"{\"format\": \"serflow-config/2\", \"test\": {}}", "format: unsupported format"},
        {"{\"test\": {}}", "format: missing required field"},
        {"{\"format\": \"serflow-config/1\",\n \"test\": {\"flag\": true,}}",
         "f.json:2: JSON syntax"},
        {"[]", "top level: expected a JSON object"},
        {"{\"format\": \"serflow-config/1\", \"test\": {\"flag\": true, \"flag\": false}}",
         "JSON syntax: duplicate object key"},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(cases); i++) {
        struct sf_opt_config *c = malloc(sizeof(*c));
        assert_non_null(c);
        struct sf_err err = {{0}};
        int rc =
            sf_opt_config_parse(&t_cmd, "f.json", cases[i].text, strlen(cases[i].text), c, &err);
        if (rc == SF_OK || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: rc %d, '%s' lacks '%s'", i, rc, err.msg, cases[i].msg);
        assert_int_equal(c->n, 0);
        free(c);
    }
    /* a value longer than the cap is refused, never cut */
    size_t big = SF_OPT_CONFIG_VALUE_BYTES + 64;
    char *text = malloc(big + 64);
    assert_non_null(text);
    int k = snprintf(text, big + 64, "{\"format\": \"serflow-config/1\", \"test\": {\"name\": \"");
    memset(text + k, 'a', SF_OPT_CONFIG_VALUE_BYTES);
    snprintf(text + k + SF_OPT_CONFIG_VALUE_BYTES, 8, "\"}}");
    struct sf_opt_config *c = malloc(sizeof(*c));
    assert_non_null(c);
    struct sf_err err = {{0}};
    assert_int_equal(sf_opt_config_parse(&t_cmd, "f.json", text, strlen(text), c, &err),
                     SF_ETOOBIG);
    assert_non_null(strstr(err.msg, "test.name: longer than"));
    free(text);
    free(c);
}

/* Every command reads its section of a config file through its own parse (check). */
static void test_every_command_takes_a_config(void **state)
{
    (void)state;
    for (const struct sf_cli_command *const *c = sf_cli_commands; *c; c++) {
        const char *name = (*c)->spec->name;
        char text[256], path[64];
        snprintf(text, sizeof(text),
                 "{\"format\": \"serflow-config/1\",\n \"%s\": {\"no-such-option\": 1}}\n", name);
        write_temp(text, path, sizeof(path));
        char *argv[] = {(char *)name, "--config", path, NULL};
        struct sf_err err = {{0}};
        char want[128];
        snprintf(want, sizeof(want), ":2: %s.no-such-option: unknown option of serflow %s", name,
                 name);
        assert_int_not_equal((*c)->check(3, argv, &err), SF_OK);
        if (!strstr(err.msg, want))
            fail_msg("%s: '%s' lacks '%s'", name, err.msg, want);
        unlink(path);
        /* an empty section is no option at all */
        snprintf(text, sizeof(text), "{\"format\": \"serflow-config/1\", \"%s\": {}}", name);
        write_temp(text, path, sizeof(path));
        err.msg[0] = '\0';
        int rc = (*c)->check(3, argv, &err);
        /* profile and tracegen need an argument the file does not give */
        if (rc != SF_OK && strcmp(name, "profile") && strcmp(name, "tracegen"))
            fail_msg("%s: an empty section: '%s'", name, err.msg);
        unlink(path);
    }
    sf_opt_config_release();
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

/* A value of each option kind that is not the default and within the option's range. */
#define SET_STR(f, d, name, lo, hi)  (f) = "v-" name
#define SET_INT(f, d, name, lo, hi)  (f) = (hi) != (d) ? (int)(hi) : (int)(lo)
#define SET_NUM(f, d, name, lo, hi)  (f) = (lo) + ((hi) - (lo)) / 3.0 /* not a short decimal */
#define SET_FLAG(f, d, name, lo, hi) (f) = 1
#define SET_BACKEND(f, d, name, lo, hi)                                                            \
    (f) = (d) == SF_NN_BACKEND_DNNL ? SF_NN_BACKEND_REF : SF_NN_BACKEND_DNNL
#define SET_FAULT(f, d, name, lo, hi)     (f) = "hang"
#define SET_LOGLEVEL(f, d, name, lo, hi)  (f) = (d) == SF_LOG_DEBUG ? SF_LOG_WARN : SF_LOG_DEBUG
#define SET_LOGFORMAT(f, d, name, lo, hi) (f) = (d) == SF_LOG_JSON ? SF_LOG_TEXT : SF_LOG_JSON
#define SAME_STR(a, b)                    assert_string_equal(a, b)
#define SAME_INT(a, b)                    assert_int_equal(a, b)
#define SAME_NUM(a, b)                    assert_true((a) == (b)) /* %.17g parses back exactly */
#define SAME_FLAG(a, b)                   assert_int_equal(a, b)
#define SAME_BACKEND(a, b)                assert_int_equal(a, b)
#define SAME_FAULT(a, b)                  assert_string_equal(a, b)
#define SAME_LOGLEVEL(a, b)               assert_int_equal(a, b)
#define SAME_LOGFORMAT(a, b)              assert_int_equal(a, b)

/* The command lines the ingress writes for its children (sf_worker_argv, sf_lambda_argv) parse
 * back, through `serflow worker` / `serflow lambda`'s own option tables, into the settings they
 * were written from: every option of the one table, each set away from its default. */
static void test_child_command_lines_parse_back(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_argv *a = malloc(sizeof(*a));
    assert_non_null(a);
    struct sf_worker_cfg w, wd, wb;
    sf_worker_defaults(&w);
    sf_worker_defaults(&wd);
#define W_SET(ID, name, KIND, field, meta, help, lo, hi)                                           \
    SET_##KIND(w.field, wd.field, name, lo, hi);
    SF_WORKER_OPTIONS(W_SET)
#undef W_SET
    sf_argv_init(a);
    assert_int_equal(sf_argv_add(a, "worker"), SF_OK);
    assert_int_equal(sf_worker_argv(&w, a, &err), SF_OK);
    assert_int_equal(sf_cli_worker_parse(a->n, a->v, &wb, &err), SF_OK);
#define W_SAME(ID, name, KIND, field, meta, help, lo, hi) SAME_##KIND(wb.field, w.field);
    SF_WORKER_OPTIONS(W_SAME)
#undef W_SAME
    /* the defaults write nothing */
    sf_argv_init(a);
    assert_int_equal(sf_worker_argv(&wd, a, &err), SF_OK);
    assert_int_equal(a->n, 0);

    struct sf_lambda_cfg l, ld, lb;
    sf_lambda_defaults(&l);
    sf_lambda_defaults(&ld);
#define L_SET(ID, name, KIND, field, meta, help, lo, hi)                                           \
    SET_##KIND(l.field, ld.field, name, lo, hi);
    SF_LAMBDA_OPTIONS(L_SET)
#undef L_SET
    sf_argv_init(a);
    assert_int_equal(sf_argv_add(a, "lambda"), SF_OK);
    assert_int_equal(sf_lambda_argv(&l, a, &err), SF_OK);
    assert_int_equal(sf_cli_lambda_parse(a->n, a->v, &lb, &err), SF_OK);
#define L_SAME(ID, name, KIND, field, meta, help, lo, hi) SAME_##KIND(lb.field, l.field);
    SF_LAMBDA_OPTIONS(L_SAME)
#undef L_SAME

    struct sf_function_cfg f, fd, fb;
    sf_function_defaults(&f);
    sf_function_defaults(&fd);
#define F_SET(ID, name, KIND, field, meta, help, lo, hi)                                           \
    SET_##KIND(f.field, fd.field, name, lo, hi);
    SF_FUNCTION_OPTIONS(F_SET)
#undef F_SET
    sf_argv_init(a);
    assert_int_equal(sf_argv_add(a, "function"), SF_OK);
    assert_int_equal(sf_function_argv(&f, a, &err), SF_OK);
    assert_int_equal(sf_cli_function_parse(a->n, a->v, &fb, &err), SF_OK);
#define F_SAME(ID, name, KIND, field, meta, help, lo, hi) SAME_##KIND(fb.field, f.field);
    SF_FUNCTION_OPTIONS(F_SAME)
#undef F_SAME
    free(a);
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
        cmocka_unit_test(test_version_and_scan),
        cmocka_unit_test(test_config_file_and_command_line),
        cmocka_unit_test(test_config_errors_name_file_line_field),
        cmocka_unit_test(test_every_command_takes_a_config),
        cmocka_unit_test(test_serve_binds_as_replay),
        cmocka_unit_test(test_child_command_lines_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
