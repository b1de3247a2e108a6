/* main.c - serflow entry point: dispatches to a command (commands.c) and checks that standard
 * output was really written before reporting success. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* As coreutils' close_stdout: a full disk or a closed pipe on stdout is a failure, not a
 * silent success. */
static int close_stdout(int code)
{
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        sf_cli_error(NULL, "write error on standard output: %s", strerror(e));
        return code == SF_EXIT_OK ? SF_EXIT_FAIL : code;
    }
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        sf_cli_usage(stderr);
        return SF_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        sf_cli_usage(stdout);
        return close_stdout(SF_EXIT_OK);
    }
    if (!strcmp(name, "--version")) {
        sf_cli_version(stdout);
        return close_stdout(SF_EXIT_OK);
    }
    const struct sf_cli_command *c = sf_cli_command_find(name);
    if (!c) {
        sf_cli_error(NULL, "unknown command '%s' (try serflow --help)", name);
        return SF_EXIT_USAGE;
    }
    /* every command's --version, answered here once (the parser gives it to every command) */
    if (sf_opt_scan(c->spec, argc - 1, argv + 1) == SF_OPT_VERSION) {
        sf_cli_version(stdout);
        return close_stdout(SF_EXIT_OK);
    }
    return close_stdout(c->run(argc - 1, argv + 1));
}
