/* serve_cli.c - helpers of the serving commands: the stop flag and option values. */
#include "serve_cli.h"

#include <omp.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

volatile sig_atomic_t sf_cli_stop = 0;

static void on_stop(int sig)
{
    (void)sig;
    sf_cli_stop = 1;
}

void sf_cli_install_stop(void)
{
    /* Several inference processes share few cores: OpenMP threads that spin after a parallel
     * region would steal them from the others. Inherited by every child. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int sf_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "serflow %s: %s needs a value\n", cmd, name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int sf_cli_opt_double(const char *cmd, const char *name, const char *val, double lo, double hi,
                      double *out)
{
    double v;
    if (sf_cli_parse_double(val, &v) != 0 || v < lo || v > hi) {
        fprintf(stderr, "serflow %s: %s: '%s' is not a number in [%g, %g]\n", cmd, name, val, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

int sf_cli_opt_int(const char *cmd, const char *name, const char *val, long lo, long hi, int *out)
{
    long v;
    if (sf_cli_parse_int(val, lo, hi, &v) != 0) {
        fprintf(stderr, "serflow %s: %s: '%s' is not an integer in [%ld, %ld]\n", cmd, name, val,
                lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

void sf_cli_die_with_parent(void)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before the call */
        raise(SIGTERM);
}

void sf_cli_set_threads(int threads)
{
    omp_set_num_threads(threads > 0 ? threads : 1);
}
