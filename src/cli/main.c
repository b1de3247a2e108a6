/* main.c - serflow command dispatcher: the only code that prints for people or exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serve_cli.h"

static const char usage[] =
    "usage: serflow <command> [options]\n"
    "\n"
    "serflow serves early-exit neural networks at the lowest cloud cost that meets a latency SLO,\n"
    "by mixing VMs (IaaS) and serverless functions (FaaS).\n"
    "\n"
    "Commands:\n"
    "  plan      choose FaaS-only, IaaS-only or hybrid offloading, tau, cut, VM type and function\n"
    "            memory for a model profile and a pricing catalog; T-CIP and S-CIP\n"
    "  replay    replay a request trace through serflow and the baselines (FaaS-only, LIBRA,\n"
    "            Spock, MArk) and a clairvoyant oracle, with AWS billing\n"
    "  profile   measure an early-exit model (ONNX stages) on this machine: stage runtimes,\n"
    "            hidden-state sizes, exits and accuracy per tau -> a profile for plan\n"
    "  serve     the online system: an OIP v2 ingress, VM workers and a local function\n"
    "            runtime, run by a policy (serflow, libra, faas, ...); /metrics with the bill\n"
    "  load      replay a trace against an ingress with Fashion-MNIST images; latency, SLO,\n"
    "            accuracy and cost\n"
    "  worker, lambda, function   the processes serve starts (a VM instance, the local\n"
    "            function runtime, a function instance)\n"
    "  demo      the live demo (what `make demo` runs): serve a WITS replay for faas, libra\n"
    "            and serflow beside the simulator's prediction (--offline: plan + replay)\n"
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
    if (!strcmp(cmd, "replay"))
        return sf_cmd_replay(argc, argv);
    if (!strcmp(cmd, "profile"))
        return sf_cmd_profile(argc, argv);
    if (!strcmp(cmd, "serve"))
        return sf_cmd_serve(argc, argv);
    if (!strcmp(cmd, "load"))
        return sf_cmd_load(argc, argv);
    if (!strcmp(cmd, "worker"))
        return sf_cmd_worker(argc, argv);
    if (!strcmp(cmd, "lambda"))
        return sf_cmd_lambda(argc, argv);
    if (!strcmp(cmd, "function"))
        return sf_cmd_function(argc, argv);
    if (!strcmp(cmd, "demo"))
        return sf_cmd_demo(argc, argv);
    fprintf(stderr, "serflow: unknown command '%s' (try serflow --help)\n", cmd);
    return SF_EXIT_USAGE;
}
