/* serve_cli.h - the serving commands of the CLI (serve, load, worker, lambda, function, demo)
 * and what they share: a stop flag set by SIGTERM/SIGINT, compact rows for their option tables
 * (opt.h), and one parse loop over a command's table. */
#ifndef SERFLOW_SERVE_CLI_H
#define SERFLOW_SERVE_CLI_H

#include <signal.h>

#include "cli.h"

extern volatile sig_atomic_t sf_cli_stop, sf_cli_reload;

/* SIGTERM and SIGINT set sf_cli_stop; SIGPIPE is ignored (a client that hangs up must not kill a
 * server), and so is SIGHUP (a stray hang-up never kills a worker or a function); OMP_WAIT_POLICY=
 * PASSIVE for this process's children. */
void sf_cli_install_stop(void);
/* SIGHUP sets sf_cli_reload (serve: reload what can be reloaded). After sf_cli_install_stop. */
void sf_cli_install_reload(void);

/* A child of the server (worker, function runtime, function instance) gets SIGTERM when the
 * thread that started it exits, even by SIGKILL of the server, so that no process outlives the
 * server (Linux prctl). */
void sf_cli_die_with_parent(void);

/* Buffers of 256 KiB and more (request bodies, frames, tensors) are mapped on allocation and
 * unmapped on free (glibc's M_MMAP_THRESHOLD, fixed rather than raised after each large free):
 * a serving process's RSS follows what is live, not the largest bodies each of its connection
 * threads' arenas ever held (docs/security.md "Memory bound"); an arena keeps at most 1 MiB free
 * at its top (M_TRIM_THRESHOLD) rather than give back and fault in each batch's buffers. Not
 * for the function instance: one event at a time on one thread, whose buffers are better kept
 * than faulted in at every call. */
void sf_cli_bound_malloc(void);

/* Path of a bundled data file (sf_cli_data_path) in one of 8 rotating static buffers, so that a
 * few can be used in one expression. Not thread-safe. */
const char *sf_cli_bundled(const char *rel);

/* Sets the OpenMP thread count of oneDNN (the CLI links OpenMP, the library does not). */
void sf_cli_set_threads(int threads);

/* Rows of an option table (opt.h), in one line each. */
#define SF_SO_STR(i, n, m, h)                                                                      \
    {                                                                                              \
        .id = (i), .name = (n), .kind = SF_OPT_STR, .metavar = (m), .help = (h)                    \
    }
#define SF_SO_NUM(i, n, m, h, l, u)                                                                \
    {                                                                                              \
        .id = (i), .name = (n), .kind = SF_OPT_NUM, .metavar = (m), .help = (h),                   \
        .want = "a number", .lo = (l), .hi = (u)                                                   \
    }
#define SF_SO_INT(i, n, m, h, l, u)                                                                \
    {                                                                                              \
        .id = (i), .name = (n), .kind = SF_OPT_INT, .metavar = (m), .help = (h),                   \
        .want = "an integer", .ilo = (l), .ihi = (u)                                               \
    }
#define SF_SO_FLAG(i, n, h)                                                                        \
    {                                                                                              \
        .id = (i), .name = (n), .kind = SF_OPT_FLAG, .help = (h)                                   \
    }
#define SF_SO_WORD(i, n, m, h, w)                                                                  \
    {                                                                                              \
        .id = (i), .name = (n), .kind = SF_OPT_WORD, .metavar = (m), .help = (h), .words = (w)     \
    }
#define SF_SO_SECTION(h)                                                                           \
    {                                                                                              \
        .help = (h)                                                                                \
    }

/* Walks argv with spec's table and calls store(ctx, id, value, err) for each option (store
 * returns SF_OK or a status with err set). Returns SF_OK, 1 when --help was given (nothing
 * printed: the caller prints sf_opt_help), or a negative status with err set. Prints nothing. */
int sf_cli_parse(const struct sf_opt_cmd *spec, int argc, char **argv,
                 int (*store)(void *ctx, int id, const struct sf_optval *v, struct sf_err *err),
                 void *ctx, struct sf_err *err);

/* The run-side wrapper: 0 to go on; otherwise *code is the exit code (help printed, or the
 * error printed as "serflow NAME: ..."). */
int sf_cli_parse_or_exit(const struct sf_opt_cmd *spec, int argc, char **argv,
                         int (*store)(void *ctx, int id, const struct sf_optval *v,
                                      struct sf_err *err),
                         void *ctx, int *code);

/* The backend words of --backend (dnnl, ref, onednn) and their values. */
extern const char *const sf_cli_backend_words[];
enum sf_nn_backend sf_cli_backend_of(int word);

extern const struct sf_cli_command sf_cli_serve_command, sf_cli_load_command, sf_cli_worker_command,
    sf_cli_lambda_command, sf_cli_function_command;

/* Parse `serflow worker` / `serflow lambda` options into their settings (from the defaults), as
 * the commands do; for the test that the command lines the ingress writes parse back. SF_OK, 1
 * for --help, or an error status. */
struct sf_worker_cfg;
struct sf_lambda_cfg;
int sf_cli_worker_parse(int argc, char **argv, struct sf_worker_cfg *c, struct sf_err *err);
int sf_cli_lambda_parse(int argc, char **argv, struct sf_lambda_cfg *c, struct sf_err *err);
struct sf_function_cfg;
int sf_cli_function_parse(int argc, char **argv, struct sf_function_cfg *c, struct sf_err *err);

#endif
