/*
 * function.h - one function instance (`serflow function`, serve/function/): the Lambda
 * custom-runtime `bootstrap` loop against the Runtime API, running the whole model or a hybrid's
 * tail on each event. The same binary runs under the local function runtime and on AWS Lambda.
 */
#ifndef SERFLOW_FUNCTION_H
#define SERFLOW_FUNCTION_H

#include <signal.h>

#include "serflow/auth.h"
#include "serflow/core.h"
#include "serflow/nn.h"

/* A function instance: the Lambda custom-runtime loop against AWS_LAMBDA_RUNTIME_API
 * (host:port). Each event is an input frame (full model from stage 1), a hidden-state frame
 * (nn_codec.h: the tail from its stage on), or an OIP v2 JSON request (full model; the answer
 * is the OIP JSON response), each checked against the model (shape, stage, classes, distinct
 * ids) before anything is copied. Posts a result frame (or JSON) to /response, or an error to
 * /error. With auth set (the local runtime's instances), every call is signed and an event is
 * taken only with the runtime's response MAC. Returns when *stop is set or the runtime API goes
 * away. */
struct sf_function_cfg {
    const char *model_dir;
    const char *runtime_api; /* host:port */
    double tau;              /* for OIP JSON events (frames carry their own tau) */
    double init_delay_s;     /* extra cold-start time after the model load, before the first poll */
    /* fault injection for tests: "crash" returns SF_EIO on the first event without answering
     * (the CLI then exits, killing the instance mid-invocation), "hang" never answers it,
     * "start" exits before the first poll (a start that fails), "repoll" asks for the next event
     * without answering */
    const char *fault;
    int threads;
    enum sf_nn_backend backend;
    const struct sf_auth *auth; /* this instance's identity (NULL or unset: none, as on AWS) */
    int log_level;              /* enum sf_log_level (log.h) */
    int log_format;             /* enum sf_log_format */
};
int sf_function_run(const struct sf_function_cfg *cfg, volatile sig_atomic_t *stop,
                    struct sf_err *err);

/* Decodes and runs one event (body[0..len), a Lambda event: an input frame, a hidden-state frame
 * or an OIP v2 JSON request) on model m with runner r: *out (heap, caller frees) is the answer
 * (a result frame, or OIP JSON when *is_json), SF_OK; or err says why (the instance posts it to
 * /error). Every decode is checked against m before anything is copied. */
/* The function instance's settings as command-line options, one row each, as SF_WORKER_OPTIONS
 * (worker.h): `serflow function` generates its option table from these rows and the function
 * runtime writes an instance's command line from them (sf_function_argv). */
#define SF_FUNCTION_OPTIONS(X)                                                                     \
    X(MODEL, "model", STR, model_dir, "DIR", "model directory (or SERFLOW_MODEL_DIR)", 0, 0)       \
    X(TAU, "tau", NUM, tau, "T", "threshold for OIP JSON events (1)", 0, 2)                        \
    X(THREADS, "threads", INT, threads, "N", "inference threads (1)", 1, 256)                      \
    X(BACKEND, "backend", BACKEND, backend, "NAME", "dnnl (default) or ref", 0, 0)                 \
    X(INIT, "init-delay-s", NUM, init_delay_s, "S",                                                \
      "extra cold-start time before the first poll (0)", 0, 3600)                                  \
    X(LOG_LEVEL, "log-level", LOGLEVEL, log_level, "L", "error, warn, info (default) or debug", 0, \
      0)                                                                                           \
    X(LOG_FORMAT, "log-format", LOGFORMAT, log_format, "F",                                        \
      "log lines as text (logfmt, default) or json", 0, 0)

/* The defaults of every setting (the CLI's and sf_function_argv's). */
void sf_function_defaults(struct sf_function_cfg *c);
/* Appends to a the options of every setting of c that differs from the defaults: a command line
 * `serflow function` parses back into c. SF_ETOOBIG when a is full. */
int sf_function_argv(const struct sf_function_cfg *c, struct sf_argv *a, struct sf_err *err);

int sf_function_event(struct sf_nn_runner *r, const struct sf_nn_model *m, const char *body,
                      size_t len, double default_tau, void **out, size_t *out_len, int *is_json,
                      struct sf_err *err);

#endif
