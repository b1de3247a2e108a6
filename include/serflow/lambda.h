/*
 * lambda.h - the local function runtime (`serflow lambda`, serve/lambda/): the AWS Lambda Invoke
 * API for callers and the Runtime API for its function instances, which it starts on demand as
 * `serflow function` processes, with the catalog's billing rules on every invocation.
 */
#ifndef SERFLOW_LAMBDA_H
#define SERFLOW_LAMBDA_H

#include <signal.h>

#include "serflow/auth.h"
#include "serflow/core.h"
#include "serflow/model.h"
#include "serflow/nn.h"

/* The local function runtime (`serflow lambda`): serves one function `function_name` (the
 * model at model_dir with memory_mb) on the Lambda Invoke API and the Runtime API, starting
 * `serflow function` instances (this executable) on demand, each with its own identity derived
 * from auth (auth.h). Writes "ready HOST:PORT\n" to ready_fd once listening; bound_port receives
 * the port. Returns when *stop is set, after answering or failing every invocation and stopping
 * every instance.
 *
 * With auth set (given by `serflow serve`, or SERFLOW_AUTH), an Invoke call must be signed by
 * "ingress" or a "worker:N"; without it (started by hand) the Invoke API is open to local callers
 * (the AWS CLI and boto3 tests) and a random root is made for the instances. The Runtime API
 * always requires the instance's own identity, and accepts a response only from the instance
 * that holds the invocation. */
struct sf_lambda_cfg {
    const char *model_dir;
    const char *function_name;
    const char *host;
    int port;
    int memory_mb;
    double tau;                 /* for OIP JSON events */
    double timeout_s;           /* per invocation, from its start on an instance */
    double idle_timeout_s;      /* a warm instance idle this long is stopped */
    double cold_start_delay_s;  /* added to the real start-up of each instance */
    int concurrency;            /* instances at most; beyond: 429 */
    const char *fault;          /* test hook for the instances (struct sf_function_cfg) */
    const char *pricing_path;   /* the catalog it bills with (the CLI loads it; NULL: bundled) */
    enum sf_nn_backend backend; /* its instances' inference backend */
    const struct sf_auth *auth; /* the deployment's root identity; NULL or unset: see above */
    int log_level;              /* enum sf_log_level (log.h), also its instances' */
    int log_format;             /* enum sf_log_format, also its instances' */
    int ready_fd;
    int bound_port; /* out */
};
int sf_lambda_run(struct sf_lambda_cfg *cfg, const struct sf_pricing *price,
                  volatile sig_atomic_t *stop, struct sf_err *err);

/* 0 when fn, the function in an Invoke path, names the function `want` at $LATEST: NAME,
 * NAME:$LATEST, ACCOUNT:function:NAME[:$LATEST] or
 * arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:$LATEST]; -1 otherwise (another name, another
 * qualifier, a malformed ARN). */
int sf_lambda_names_function(const char *fn, const char *want);

/* The test hooks --fault takes (NULL-terminated). */
extern const char *const sf_lambda_faults[];

/* The runtime's settings as command-line options, one row each, as SF_WORKER_OPTIONS (worker.h):
 * `serflow lambda` generates its option table from these rows and the ingress writes the
 * runtime's command line from them (sf_lambda_argv). KIND: STR, INT, NUM, FAULT. */
#define SF_LAMBDA_OPTIONS(X)                                                                       \
    X(MODEL, "model", STR, model_dir, "DIR", "the model the function serves", 0, 0)                \
    X(FN, "function", STR, function_name, "NAME", "the function's name in the Invoke API", 0, 0)   \
    X(MEM, "memory-mb", INT, memory_mb, "M",                                                       \
      "function memory (1769): billed GB-s, instance threads", 1, 1 << 20)                         \
    X(PRICING, "pricing", STR, pricing_path, "FILE",                                               \
      "catalog for billing (data/pricing/local.json)", 0, 0)                                       \
    X(TAU, "tau", NUM, tau, "T", "threshold for OIP JSON events (1: no early exit)", 0, 2)         \
    X(TIMEOUT, "timeout-s", NUM, timeout_s, "S", "per invocation (10)", 0.001, 900)                \
    X(IDLE, "idle-timeout-s", NUM, idle_timeout_s, "S",                                            \
      "a warm instance idle this long stops (60)", 0, 86400)                                       \
    X(COLD, "cold-start-delay-s", NUM, cold_start_delay_s, "S",                                    \
      "added to each instance's real start-up (0)", 0, 3600)                                       \
    X(CONC, "concurrency", INT, concurrency, "N", "instances at most (16); beyond: 429", 1, 256)   \
    X(HOST, "host", STR, host, "H", "listen address (127.0.0.1)", 0, 0)                            \
    X(PORT, "port", INT, port, "N", "listen port (0: any free port)", 0, 65535)                    \
    X(READY_FD, "ready-fd", INT, ready_fd, "FD", "write \"ready HOST:PORT\" there when listening", \
      0, 1024)                                                                                     \
    X(BACKEND, "backend", BACKEND, backend, "NAME",                                                \
      "its instances' backend: dnnl (default) or ref", 0, 0)                                       \
    X(FAULT, "fault", FAULT, fault, "F",                                                           \
      "test hook: instances crash, hang, fail to start (start) or\npoll again without answering "  \
      "(repoll)",                                                                                  \
      0, 0)                                                                                        \
    X(LOG_LEVEL, "log-level", LOGLEVEL, log_level, "L",                                            \
      "error, warn, info (default) or debug (its instances too)", 0, 0)                            \
    X(LOG_FORMAT, "log-format", LOGFORMAT, log_format, "F",                                        \
      "log lines as text (logfmt, default) or json (its instances too)", 0, 0)

/* The defaults of every setting (the CLI's and sf_lambda_argv's). */
void sf_lambda_defaults(struct sf_lambda_cfg *c);
/* Appends to a the options of every setting of c that differs from the defaults: a command line
 * `serflow lambda` parses back into c. SF_ETOOBIG when a is full. */
int sf_lambda_argv(const struct sf_lambda_cfg *c, struct sf_argv *a, struct sf_err *err);

#endif
