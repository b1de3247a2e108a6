/* serve_cli.h - the serving commands of the CLI (serve, worker, lambda, function, load) and the
 * small helpers they share: a stop flag set by SIGTERM/SIGINT, option values. */
#ifndef SERFLOW_SERVE_CLI_H
#define SERFLOW_SERVE_CLI_H

#include <signal.h>

extern volatile sig_atomic_t sf_cli_stop;

/* SIGTERM and SIGINT set sf_cli_stop; SIGPIPE is ignored (a client that hangs up must not kill a
 * server). */
void sf_cli_install_stop(void);

/* If argv[*i] is `name`, stores the next argument in *val and advances *i: returns 1; returns -1
 * (after printing "cmd: name needs a value") when the value is missing; 0 when argv[*i] is not
 * `name`. */
int sf_cli_opt(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);

/* Option value as a number in [lo, hi]; prints "cmd: name: ..." and returns -1 when it is not. */
int sf_cli_opt_double(const char *cmd, const char *name, const char *val, double lo, double hi,
                      double *out);
int sf_cli_opt_int(const char *cmd, const char *name, const char *val, long lo, long hi, int *out);

/* A child of the server (worker, function runtime, function instance) gets SIGTERM when its
 * parent dies, even by SIGKILL, so that no process outlives the server (Linux prctl). */
void sf_cli_die_with_parent(void);

/* Sets the OpenMP thread count of oneDNN (the CLI links OpenMP, the library does not). */
void sf_cli_set_threads(int threads);

int sf_cmd_serve(int argc, char **argv);
int sf_cmd_worker(int argc, char **argv);
int sf_cmd_lambda(int argc, char **argv);
int sf_cmd_function(int argc, char **argv);
int sf_cmd_load(int argc, char **argv);
int sf_cmd_demo(int argc, char **argv);

#endif
