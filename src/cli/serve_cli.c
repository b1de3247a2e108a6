/* serve_cli.c - what the serving commands share: the stop flag, the parent-death signal, the
 * OpenMP thread count, and the parse loop over an option table. */
#include "serve_cli.h"

#include <malloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "serflow/nn.h"

volatile sig_atomic_t sf_cli_stop = 0, sf_cli_reload = 0;

static void on_stop(int sig)
{
    (void)sig;
    sf_cli_stop = 1;
}

static void on_reload(int sig)
{
    (void)sig;
    sf_cli_reload = 1;
}

void sf_cli_install_reload(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_reload;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
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
    sigaction(SIGHUP, &sa, NULL);
}

/* The mapping threshold: below it, allocations come from the arenas. */
#define SERVE_MMAP_THRESHOLD_BYTES (256 * 1024)
/* Free memory an arena keeps at its top before it gives it back. glibc's default (128 KiB, and
 * fixed once the mapping threshold is) is less than one batch's frame of the bundled model: each
 * batch freed it with madvise and faulted it in again, a third of a worker's time on a virtual
 * machine where a fault costs microseconds (docs/benchmarks.md). */
#define SERVE_TRIM_THRESHOLD_BYTES (1024 * 1024)

void sf_cli_bound_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, SERVE_MMAP_THRESHOLD_BYTES);
    mallopt(M_TRIM_THRESHOLD, SERVE_TRIM_THRESHOLD_BYTES);
}

void sf_cli_die_with_parent(void)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the parent died before the call */
        raise(SIGTERM);
}

const char *sf_cli_bundled(const char *rel)
{
    static char buf[8][4096];
    static unsigned next;
    char *b = buf[next++ % 8];
    return sf_cli_data_path(rel, b, sizeof(buf[0]));
}

void sf_cli_set_threads(int threads)
{
    omp_set_num_threads(threads > 0 ? threads : 1);
}

const char *const sf_cli_backend_words[] = {"dnnl", "ref", "onednn", NULL};

enum sf_nn_backend sf_cli_backend_of(int word)
{
    return word == 1 ? SF_NN_BACKEND_REF : SF_NN_BACKEND_DNNL;
}

int sf_cli_parse(const struct sf_opt_cmd *spec, int argc, char **argv,
                 int (*store)(void *ctx, int id, const struct sf_optval *v, struct sf_err *err),
                 void *ctx, struct sf_err *err)
{
    struct sf_opt_parser p;
    struct sf_optval v;
    int id, help = 0;
    sf_opt_init(&p, spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) != SF_OPT_END) {
        if (id == SF_OPT_HELP || id == SF_OPT_VERSION) { /* main.c answers --version */
            help = 1;
            continue;
        }
        if (id < 0)
            return SF_EINVAL;
        int rc = store(ctx, id, &v, err);
        if (rc != SF_OK)
            return rc;
    }
    return help ? 1 : SF_OK;
}

int sf_cli_parse_or_exit(const struct sf_opt_cmd *spec, int argc, char **argv,
                         int (*store)(void *ctx, int id, const struct sf_optval *v,
                                      struct sf_err *err),
                         void *ctx, int *code)
{
    struct sf_err err = {{0}};
    int rc = sf_cli_parse(spec, argc, argv, store, ctx, &err);
    if (rc == 1) {
        sf_opt_help(spec, stdout);
        *code = SF_EXIT_OK;
        return 1;
    }
    if (rc != SF_OK) {
        *code = sf_cli_fail(spec->name, rc, &err);
        return 1;
    }
    return 0;
}
