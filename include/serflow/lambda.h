/*
 * lambda.h - the local function runtime (`serflow lambda`, serve/lambda/): the AWS Lambda Invoke
 * API for callers and the Runtime API for its function instances, which it starts on demand as
 * `serflow function` processes, with the catalog's billing rules on every invocation.
 */
#ifndef SERFLOW_LAMBDA_H
#define SERFLOW_LAMBDA_H

#include <signal.h>

#include "serflow/core.h"
#include "serflow/model.h"

/* The local function runtime (`serflow lambda`): serves one function `function_name` (the
 * model at model_dir with memory_mb) on the Lambda Invoke API and the Runtime API, starting
 * `serflow function` instances (this executable) on demand. Writes "ready HOST:PORT\n" to
 * ready_fd once listening; bound_port receives the port. Returns when *stop is set, after
 * stopping every instance. */
struct sf_lambda_cfg {
    const char *model_dir;
    const char *function_name;
    const char *host;
    int port;
    int memory_mb;
    double tau;                /* for OIP JSON events */
    double timeout_s;          /* per invocation, from its start on an instance */
    double idle_timeout_s;     /* a warm instance idle this long is stopped */
    double cold_start_delay_s; /* added to the real start-up of each instance */
    int concurrency;           /* instances at most; beyond: 429 */
    const char *fault;         /* test hook for the instances (struct sf_function_cfg) */
    int ready_fd;
    int bound_port; /* out */
};
int sf_lambda_run(struct sf_lambda_cfg *cfg, const struct sf_pricing *price,
                  volatile sig_atomic_t *stop, struct sf_err *err);

#endif
