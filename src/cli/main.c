/* main.c - serflow command dispatcher: the only code that prints for people or exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: serflow <command> [options]\n"
    "\n"
    "serflow serves early-exit neural networks at the lowest cloud cost that meets a latency SLO,\n"
    "by mixing VMs (IaaS) and serverless functions (FaaS).\n"
    "\n"
    "Commands:\n"
    "  plan      choose FaaS-only, IaaS-only or hybrid offloading, tau, cut, VM type and function\n"
    "            memory for a model profile and a pricing catalog; T-CIP and S-CIP\n"
    "  demo      the main job on the bundled defaults (what `make demo` runs)\n"
    "  help CMD  the options of a command (same as serflow CMD --help)\n"
    "\n"
    "Run `serflow plan --help` to start.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return SF_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || (!strcmp(cmd, "help") && argc == 2)) {
        fputs(usage, stdout);
        return SF_EXIT_OK;
    }
    char *help_argv[] = {argv[argc > 2 ? 2 : 1], "--help", NULL};
    if (!strcmp(cmd, "help")) {
        cmd = argv[2];
        argv = help_argv;
        argc = 2;
    } else {
        argv++;
        argc--;
    }
    if (!strcmp(cmd, "plan"))
        return sf_cmd_plan(argc, argv);
    if (!strcmp(cmd, "demo")) {
        char *demo_argv[] = {"plan", NULL};
        printf("== serflow demo: offline plan on the bundled paper profile and AWS catalog\n\n");
        return sf_cmd_plan(1, demo_argv);
    }
    fprintf(stderr, "serflow: unknown command '%s' (try serflow --help)\n", cmd);
    return SF_EXIT_USAGE;
}
