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
    const struct sf_auth *auth; /* the deployment's root identity; NULL or unset: see above */
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

#endif
