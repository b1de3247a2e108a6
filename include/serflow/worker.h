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
};
int sf_worker_run(const struct sf_worker_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err);

#endif
