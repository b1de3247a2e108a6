/*
 * ingress.h - the ingress (`serflow serve`, serve/ingress/): the online system's front door. OIP v2
 * over HTTP, admission, the deadline-aware batcher (or the paper's epoch batching) and the
 * policy's scaling (ctl/), dispatch to VM workers and functions, and the bill on /metrics.
 */
#ifndef SERFLOW_INGRESS_H
#define SERFLOW_INGRESS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/model.h"
#include "serflow/nn.h"
#include "serflow/bind.h"

/* The ingress (`serflow serve`): OIP v2 over HTTP, admission, the deadline-aware batcher (or
 * the paper's epoch batching), the policy's scaling through the provider, dispatch to workers and
 * functions, /metrics. Starts its own local function runtime (unless lambda_url is given) and
 * VM workers through the local provider. Returns after *stop: it stops accepting, answers every
 * admitted request, and stops every child process. */
/* batching: enum sf_batching of sim.h (deadline-aware, or the paper's per epoch) */

struct sf_serve_cfg {
    const char *model_dir;
    const char *host;
    int port;
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    /* the policy bound to its path (bind.h): path, controller parameters, batcher, tables; the
     * same binding `serflow replay` simulates. Borrowed; must outlive the run. */
    const struct sf_binding *bind;
    double time_scale; /* controller clock: epochs and boot delays / time_scale */
    int queue_cap;     /* admitted, not yet dispatched requests; beyond: 503 */
    int max_connections;
    int idle_timeout_s; /* per connection (slow clients) */
    size_t max_body_bytes;
    int max_images; /* per HTTP request */
    /* functions */
    const char *lambda_url; /* NULL: start `serflow lambda` */
    double fn_timeout_s;
    double fn_idle_timeout_s;
    double fn_cold_start_delay_s;
    int fn_concurrency;
    int fn_dispatchers; /* concurrent function invocations from the ingress */
    enum sf_nn_backend backend;
    uint64_t seed;               /* VM boot delays drawn like the simulator's cold starts */
    const char *worker_urls[16]; /* running workers (HOST:PORT) for the static provider */
    int n_worker_urls;           /* 0: the local provider starts workers */
    int no_spill;                /* IaaS without the FaaS spill: batches wait for an instance */
    int fixed_instances;         /* >= 0: keep this many instances, ignoring the policy's target
                                    (tests, benchmarks); -1: the policy decides */
    const char *fn_fault;        /* test hook passed to function instances: NULL, "crash", "hang" */
    double worker_fault_delay_s; /* test hook: workers hold every batch this much longer */
    uint64_t accepted, answered; /* out: requests admitted and answered, at exit */
    int ready_fd;                /* "ready HOST:PORT" once serving */
    int bound_port;              /* out */
    /* called once listening (may be NULL), e.g. for the CLI to print the address */
    void (*on_ready)(void *ctx, const char *host, int port);
    void *on_ready_ctx;
};
int sf_serve_run(struct sf_serve_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err);

#endif
