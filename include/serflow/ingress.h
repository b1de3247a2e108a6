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
#include "serflow/cloud.h"
#include "serflow/model.h"
#include "serflow/nn.h"
#include "serflow/bind.h"

/* The most an event loop polls for its next event before it sleeps, by default (--spin-us): the
 * window adapts to how far apart events come (ev.h), so sparse traffic never polls. */
#define SF_SERVE_SPIN_S 100e-6

/* The ingress (`serflow serve`): OIP v2 over HTTP, admission, the deadline-aware batcher (or
 * the paper's epoch batching), the policy's scaling through the provider, dispatch to workers and
 * functions, /metrics. Starts its own local function runtime (unless lambda_url is given; it is
 * restarted with back-off if it dies) and VM workers through the local provider, each child with
 * its own identity (auth.h). Every admitted request is answered by its deadline (504 at the
 * latest). Returns after *stop: readiness 503 for drain_grace_s while still serving, then it
 * stops accepting, answers every admitted request, waits until every answer is written, and
 * stops every child process. */
/* batching: enum sf_batching of sim.h (deadline-aware, or the paper's per epoch) */

struct sf_serve_cfg {
    const char *model_dir;
    const char *host;
    int port;
    const struct sf_profile *prof;
    const struct sf_pricing *price;
    const char *pricing_path; /* the catalog's file, for the function runtime (NULL: bundled) */
    /* the policy bound to its path (bind.h): path, controller parameters, batcher, tables; the
     * same binding `serflow replay` simulates. Borrowed; must outlive the run. */
    const struct sf_binding *bind;
    double time_scale; /* controller clock: epochs and boot delays / time_scale */
    int queue_cap;     /* admitted, not yet dispatched requests; beyond: 503 */
    int http_threads;  /* event loops (threads) of the data plane */
    double spin_s; /* the most a loop polls before it sleeps, at low load; the window adapts (ev.h;
                      SF_SERVE_SPIN_S by default; 0: never) */
    int inproc;    /* the local instances run in this process (the same-process fast path) */
    int max_connections;
    int max_per_client;       /* connections from one client address */
    double idle_timeout_s;    /* per connection (slow clients) */
    double request_timeout_s; /* a request must arrive whole within this (slow clients) */
    size_t max_body_bytes;
    size_t max_buffered_bytes; /* memory for bodies and their parse, all connections */
    int max_images;            /* per HTTP request (<= queue_cap) */
    double deadline_s;         /* admission to answer; past it: 504 (0: 50 SLOs) */
    double drain_grace_s;      /* at stop: readiness 503 this long while still serving */
    /* providers of both halves (cloud.h), chosen here and nowhere else: "local" (NULL: the
     * local provider's worker processes, or the static provider's worker_urls, and the local
     * function runtime) or "aws" (the Auto Scaling group and the Lambda function of aws; the
     * workers' identity SF_CLOUD_AWS_PRINCIPAL derived from SERFLOW_AUTH's root, required) */
    const char *provider;
    struct sf_cloud_aws_opts aws;
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
    int worker_fault_no_start;   /* test hook: workers exit instead of becoming ready */
    uint64_t accepted, answered; /* out: requests admitted and answered, at exit */
    int ready_fd;                /* "ready HOST:PORT" once serving */
    int bound_port;              /* out */
    /* called once listening (may be NULL), e.g. for the CLI to print the address */
    void (*on_ready)(void *ctx, const char *host, int port);
    void *on_ready_ctx;
    /* SIGHUP: the caller's handler sets *reload (may be NULL); the serving loop clears it and
     * calls on_reload (may be NULL), which re-reads what it can (the CLI: its command line and
     * config file), sets the log level itself, logs what cannot change while serving, and may
     * return the controller's new parameters for the same path: the policy takes them at once
     * (sf_policy_retune), keeping its state. A reload never stops the server. */
    volatile sig_atomic_t *reload;
    const struct sf_policy_env *(*on_reload)(void *ctx);
    void *on_reload_ctx;
};
int sf_serve_run(struct sf_serve_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err);

#endif
