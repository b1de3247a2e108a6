/* commands.c - the list of commands, the status -> exit code mapping, error printing, and the
 * two small commands `demo` and `help`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serflow/log.h"
#include "serve_cli.h"

const struct sf_cli_command *const sf_cli_commands[] = {
    &sf_cli_plan_command,     &sf_cli_replay_command, &sf_cli_profile_command,
    &sf_cli_serve_command,    &sf_cli_load_command,   &sf_cli_tracegen_command,
    &sf_cli_demo_command,     &sf_cli_worker_command, &sf_cli_lambda_command,
    &sf_cli_function_command, &sf_cli_help_command,   NULL};

const struct sf_cli_command *sf_cli_command_find(const char *name)
{
    for (const struct sf_cli_command *const *c = sf_cli_commands; *c; c++)
        if (!strcmp((*c)->spec->name, name))
            return *c;
    return NULL;
}

int sf_cli_exit_code(int status)
{
    switch (status) {
    case SF_OK:
        return SF_EXIT_OK;
    case SF_EINVAL:
    case SF_EPARSE:
    case SF_ERANGE:
    case SF_ENOTFOUND:
    case SF_EUNSUPPORTED:
    case SF_ECORRUPT:
    case SF_ETOOBIG:
        return SF_EXIT_USAGE;
    default: /* SF_EINFEASIBLE, SF_EIO, SF_ENOMEM, unknown */
        return SF_EXIT_FAIL;
    }
}

/* One line on stderr: "serflow CMD: " and the message with every non-printable byte escaped;
 * once a serving command has set up its log (log.h), a log line of that level instead, so that
 * its standard error holds one format only. */
static void line(int level, const char *cmd, const char *fmt, va_list ap)
{
    char msg[2 * SF_ERR_MAX], shown[2 * SF_ERR_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (sf_log_active()) {
        sf_logf(level, "%s", msg); /* escaped by the log */
        return;
    }
    sf_str_escape(shown, sizeof(shown), msg, strlen(msg));
    fprintf(stderr, "serflow%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", shown);
}

void sf_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(SF_LOG_ERROR, cmd, fmt, ap);
    va_end(ap);
}

void sf_cli_note(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(SF_LOG_INFO, cmd, fmt, ap);
    va_end(ap);
}

void sf_cli_progress(const char *cmd, int tty, int last, const char *fmt, ...)
{
    char msg[2 * SF_ERR_MAX], shown[2 * SF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sf_str_escape(shown, sizeof(shown), msg, strlen(msg));
    /* a terminal redraws one line; a log gets one line per update */
    fprintf(stderr, "%sserflow %s: %s%s", tty ? "\r" : "", cmd, shown, tty && !last ? "" : "\n");
    fflush(stderr);
}

int sf_cli_fail(const char *cmd, int status, const struct sf_err *err)
{
    sf_cli_error(cmd, "%s", err->msg[0] ? err->msg : sf_strerror(status));
    return sf_cli_exit_code(status);
}

int sf_cli_check_only(const struct sf_opt_cmd *spec, int argc, char **argv, struct sf_err *err)
{
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) > 0 || id == SF_OPT_HELP || id == SF_OPT_VERSION ||
           id == SF_OPT_OPERAND)
        ;
    return id == SF_OPT_END ? SF_OK : SF_EINVAL;
}

/* The demo is in cmd_demo.c (the live demo; --offline runs plan + replay). */

/* ---- help ---- */

static const struct sf_opt help_opts[] = {{0}};

static const struct sf_opt_cmd help_spec = {
    .name = "help",
    .summary = "the options of a command (same as serflow CMD --help)",
    .synopsis = "[COMMAND]",
    .about = "Prints the options of COMMAND, or the list of commands.",
    .opts = help_opts,
    .operands = "COMMAND"};

void sf_cli_usage(FILE *out)
{
    fputs("usage: serflow <command> [options]\n"
          "\n"
          "serflow serves early-exit neural networks at the lowest cloud cost that meets a "
          "latency SLO,\n"
          "by mixing VMs (IaaS) and serverless functions (FaaS).\n"
          "\n"
          "Commands:\n",
          out);
    for (const struct sf_cli_command *const *c = sf_cli_commands; *c; c++) {
        const char *s = (*c)->spec->summary;
        int first = 1;
        while (*s || first) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            fprintf(out, "  %-9s %.*s\n", first ? (*c)->spec->name : "", (int)len, s);
            s += len + (nl ? 1 : 0);
            first = 0;
            if (!nl)
                break;
        }
    }
    fputs("\nEvery command also takes --config FILE (its options from a JSON file, "
          "docs/formats.md)\nand --version. Run `serflow plan --help` to start.\n",
          out);
}

void sf_cli_version(FILE *out)
{
    const char *commit = sf_build_commit();
    fprintf(out, "serflow %s%s%s%s\n", sf_version(), *commit ? " (git " : "", commit,
            *commit ? ")" : "");
}

/* Parses `help [COMMAND]`: the command to describe into *which (NULL: the list). */
static int help_parse(int argc, char **argv, const struct sf_cli_command **which, int *show_self,
                      struct sf_err *err)
{
    struct sf_opt_parser p;
    struct sf_optval v;
    int id, n = 0;
    *which = NULL;
    *show_self = 0;
    sf_opt_init(&p, &help_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) != SF_OPT_END) {
        if (id == SF_OPT_HELP || id == SF_OPT_VERSION) { /* main.c answers --version */
            *show_self = 1;
            continue;
        }
        if (id != SF_OPT_OPERAND)
            return SF_EINVAL;
        if (n++ > 0)
            return sf_err_set(err, SF_EINVAL, "expected one command name, got also '%s'", v.str);
        *which = sf_cli_command_find(v.str);
        if (!*which)
            return sf_err_set(err, SF_EINVAL, "unknown command '%s' (try serflow --help)", v.str);
    }
    return SF_OK;
}

static int help_run(int argc, char **argv)
{
    const struct sf_cli_command *which;
    int self;
    struct sf_err err = {{0}};
    if (help_parse(argc, argv, &which, &self, &err) != SF_OK)
        return sf_cli_fail("help", SF_EINVAL, &err);
    if (self)
        sf_opt_help(&help_spec, stdout);
    else if (which)
        sf_opt_help(which->spec, stdout);
    else
        sf_cli_usage(stdout);
    return SF_EXIT_OK;
}

static int help_check(int argc, char **argv, struct sf_err *err)
{
    const struct sf_cli_command *which;
    int self;
    return help_parse(argc, argv, &which, &self, err);
}

const struct sf_cli_command sf_cli_help_command = {&help_spec, help_check, help_run};
