/*
 * worker.h - the VM worker process (`serflow worker`, serve/worker/): one VM instance of a
 * plan's path. It serves POST /v1/batch (input frame in, result frame out), runs stages 1..cut of
 * each batch, and fans the survivors' LZ4 hidden state out to the function tail.
 */
#ifndef SERFLOW_WORKER_H
#define SERFLOW_WORKER_H

#include <signal.h>

#include "serflow/auth.h"
#include "serflow/core.h"
#include "serflow/nn.h"

/* The VM worker: loads the model, runs stages 1..cut of each batch posted to POST /v1/batch
 * (input frame in, result frame out), and sends the survivors' hidden state in `fanout` chunks to
 * the function `fn_name` at fn_url (Lambda Invoke API) in parallel, merging the answers. Frames
 * are checked against the model before anything is copied; the functions' answers must answer
 * exactly their chunk's ids. With auth set (given by the provider at launch), every request must
 * carry this worker's identity and every function call is signed with it. Writes
 * "ready HOST:PORT\n" to ready_fd (when >= 0) once the model is loaded and boot_delay_s has
 * passed. Returns when *stop is set (after the batch in progress). */
struct sf_worker_cfg {
    const char *model_dir;
    const char *host; /* bind address: 127.0.0.1 */
    int port;         /* 0: any free port */
    int cut;          /* stages 1..cut here; >= the model's stages: all (IaaS) */
    double tau;
    int fanout;          /* k >= 1 */
    const char *fn_url;  /* base URL of the function runtime, e.g. http://127.0.0.1:9001 */
    const char *fn_name; /* function to invoke for the tail */
    double fn_timeout_s; /* per invocation */
    int threads;         /* inference threads (the VM type's vCPUs) */
    double boot_delay_s;
    int ready_fd;
    enum sf_nn_backend backend;
    double
        fault_delay_s;  /* test hook: every batch takes this much longer (a kill lands mid-batch) */
    int fault_no_start; /* test hook: exit with an error instead of becoming ready */
    const struct sf_auth *auth; /* this worker's identity (NULL or unset: none) */
    int no_function_auth;       /* call the function runtime unsigned (someone else's) */
    int log_level;              /* enum sf_log_level (log.h): the CLI sets the log up with it */
    int log_format;             /* enum sf_log_format */
};
int sf_worker_run(const struct sf_worker_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err);

/* The worker's settings as command-line options, one row each: X(ID, "name", KIND, field,
 * metavar, help, lo, hi). `serflow worker` generates its option table and its storing from these
 * rows (src/cli/cmd_worker.c), and the ingress writes a worker's command line from them
 * (sf_worker_argv), so the two cannot disagree on a name. KIND: STR, INT, NUM, FLAG, BACKEND;
 * help and range are the CLI's. */
#define SF_WORKER_OPTIONS(X)                                                                       \
    X(MODEL, "model", STR, model_dir, "DIR", "model directory (model.json + ONNX stages)", 0, 0)   \
    X(CUT, "cut", INT, cut, "C", "stages 1..C here (default: all, IaaS)", 0, SF_NN_MAX_STAGES)     \
    X(FANOUT, "fanout", INT, fanout, "K", "parallel function invocations per batch tail (1)", 1,   \
      64)                                                                                          \
    X(FN_URL, "function-url", STR, fn_url, "U",                                                    \
      "function runtime base URL (http://127.0.0.1:PORT)", 0, 0)                                   \
    X(FN, "function", STR, fn_name, "NAME", "function to invoke for the tail", 0, 0)               \
    X(FN_TIMEOUT, "function-timeout-s", NUM, fn_timeout_s, "S", "per invocation (10)", 0.001, 900) \
    X(TAU, "tau", NUM, tau, "T", "threshold for OIP requests to the worker itself (1)", 0, 2)      \
    X(THREADS, "threads", INT, threads, "N", "inference threads (1)", 1, 256)                      \
    X(BACKEND, "backend", BACKEND, backend, "NAME", "dnnl (default) or ref", 0, 0)                 \
    X(HOST, "host", STR, host, "H", "listen address (127.0.0.1)", 0, 0)                            \
    X(PORT, "port", INT, port, "N", "listen port (0: any free port)", 0, 65535)                    \
    X(BOOT, "boot-delay-s", NUM, boot_delay_s, "S",                                                \
      "ready no sooner than this after the start (0)", 0, 3600)                                    \
    X(READY_FD, "ready-fd", INT, ready_fd, "FD", "write \"ready HOST:PORT\" there when ready", 0,  \
      1024)                                                                                        \
    X(FAULT_DELAY, "fault-delay-s", NUM, fault_delay_s, "S",                                       \
      "test hook: hold every batch this much longer", 0, 60)                                       \
    X(FAULT_NO_START, "fault-no-start", FLAG, fault_no_start, NULL,                                \
      "test hook: exit instead of becoming ready", 0, 0)                                           \
    X(NO_FN_AUTH, "no-function-auth", FLAG, no_function_auth, NULL,                                \
      "call the function runtime without this worker's identity\n(a runtime started by someone "   \
      "else)",                                                                                     \
      0, 0)                                                                                        \
    X(LOG_LEVEL, "log-level", LOGLEVEL, log_level, "L", "error, warn, info (default) or debug", 0, \
      0)                                                                                           \
    X(LOG_FORMAT, "log-format", LOGFORMAT, log_format, "F",                                        \
      "log lines as text (logfmt, default) or json", 0, 0)

/* The defaults of every setting (the CLI's and sf_worker_argv's). */
void sf_worker_defaults(struct sf_worker_cfg *c);
/* Appends to a the options of every setting of c that differs from the defaults, from
 * SF_WORKER_OPTIONS: a command line `serflow worker` parses back into c. SF_ETOOBIG when a is
 * full. */
int sf_worker_argv(const struct sf_worker_cfg *c, struct sf_argv *a, struct sf_err *err);

#endif
