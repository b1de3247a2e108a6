/* server.h - the ingress's shared state (internal to src/serve): admission queue, the result
 * table keyed by request id, batches, instance mailboxes, the function dispatch queue, metrics.
 * ingress.c owns HTTP and delivery, control.c the policy, batcher and fleet, dispatch.c the
 * calls to workers and functions. One mutex (mu) guards everything below it. */
#ifndef SERFLOW_SERVE_SERVER_H
#define SERFLOW_SERVE_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "wire/httpd.h"
#include "serflow/batcher.h"
#include "serflow/cloud.h"
#include "serflow/policy.h"
#include "serflow/wire.h"
#include "serflow/metrics.h"
#include "serflow/billing.h"
#include "serflow/http.h"
#include "serflow/ingress.h"

/* One HTTP inference request (n images), waiting in its connection thread for every answer. */
struct sf__pending {
    size_t n, answered;
    int failed;
    struct sf_serve_result *res; /* n */
    const float *x;              /* n x numel, the parsed request's buffer */
    pthread_cond_t cv;
};

/* One admitted image: a request in the controller's sense. */
struct sf__item {
    uint64_t id; /* 0: free slot */
    double arrival_s;
    struct sf__pending *owner;
    size_t idx; /* in owner */
};

/* A batch on its way to an instance or a function; owns copies of its inputs. */
struct sf__batch {
    size_t n;
    uint64_t *ids;
    float *x;
    int attempts; /* function path: tries so far */
    double dispatched_s;
    struct sf__batch *next;
};

/* A ready instance and its thread; one batch at a time. */
struct sf__inst {
    int used;
    int id; /* provider id */
    char endpoint[128];
    int vm;
    int state; /* enum sf_cloud_state */
    int busy;
    int quit;
    struct sf__batch *mail;
    pthread_t thread;
    int has_thread;
    pthread_cond_t cv;
    struct sf__server *srv;
    int64_t launch_seq;  /* control.c: launch order (sf_fleet_pick_surplus sheds newest first) */
    int64_t term_epoch;  /* control.c: scheduled termination takes effect, 0: none */
    int no_serve;        /* control.c: shed while pending, so never takes a batch (as simulated) */
    double busy_until_s; /* dispatch.c: expected end of its batch (worst case) */
};

struct sf__metrics_ids {
    int accepted, answered, rejected, exit_stage, where, latency, slo_ok, batches, redispatch,
        instances, target, launches, inst_failures, queue, epoch, bill_vm_s, bill_vm_usd,
        bill_fn_gb_s, bill_fn_inv, bill_fn_usd, bill_fees_usd, bill_usd, fn_retries, fn_throttled;
};

struct sf__server {
    const struct sf_serve_cfg *cfg;
    struct sf_nn_model *model; /* metadata only: shape, name, classes */
    size_t numel;
    int n_stages, num_classes;
    struct sf_metrics *metrics;
    struct sf__metrics_ids mid;
    struct sf__httpd *httpd;
    struct sf_proc lambda;
    char lambda_url[160];
    char invoke_url[320];
    struct sf_cloud cloud;
    int have_cloud;
    volatile sig_atomic_t *stop;
    double t0; /* monotonic at start */

    pthread_mutex_t mu;
    pthread_cond_t ctl_cv; /* wakes the control loop */
    pthread_cond_t fn_cv;  /* wakes function dispatchers */
    /* admission queue: item slots in arrival order */
    struct sf__item **queue;
    size_t q_head, q_len, q_cap;
    /* in-flight items by id: ring of table_cap slots, slot = id % table_cap */
    struct sf__item *table;
    size_t table_cap;
    uint64_t next_id;
    uint64_t unanswered;
    int draining;
    /* function dispatch queue */
    struct sf__batch *fn_head, *fn_tail;
    pthread_t *fn_threads;
    int n_fn_threads;
    int fn_quit;
    /* instances */
    struct sf__inst inst[SF_CLOUD_MAX_INSTANCES];
    /* controller state (control.c) */
    struct sf_policy policy;
    double epoch_wall_s;
    int64_t epoch;
    int64_t launches;        /* control.c: instances launched so far (their launch_seq) */
    uint32_t arrivals_epoch; /* arrivals in the current epoch */
    uint32_t arrivals_slot[SF_POLICY_OBS_SLOTS]; /* the same in equal parts of the epoch */
    int cap_left;                                /* requests instances may still take this epoch */
    int target;
    uint64_t launches_seen;
};

/* ---- ingress.c ---- */
/* Delivers results (from a worker or a function) for their ids; a result for an id that was
 * already answered or is unknown is dropped (at-least-once dispatch). Takes mu. */
void sf__server_deliver(struct sf__server *s, const struct sf_serve_result *r, size_t n);
/* Answers every id of a batch as failed. Takes mu. */
void sf__server_fail_batch(struct sf__server *s, const struct sf__batch *b);

/* ---- control.c ---- */
int sf__control_init(struct sf__server *s, struct sf_err *err);
void sf__control_fini(struct sf__server *s);
/* Called with mu held before an arrival is enqueued: dispatches the open batch when the newcomer
 * would push its oldest request past its deadline. */
void sf__control_admit(struct sf__server *s, double now_s);
/* Called with mu held after arrivals were enqueued: runs the batcher at once (a full batch, or
 * one due now, leaves without waiting for the control thread) and wakes the loop. */
void sf__control_arrived(struct sf__server *s, double now_s);
/* The control loop (its own thread): epochs, policy, provider, batcher. Returns on stop after the
 * queue has drained. */
void *sf__control_main(void *arg);
/* now in seconds since the server started (monotonic). */
double sf__server_now(const struct sf__server *s);

/* ---- dispatch.c ---- */
/* Takes n items from the head of the queue into a new batch (mu held). NULL when out of memory
 * (the items are then answered as failed). */
struct sf__batch *sf__batch_take(struct sf__server *s, size_t n);
void sf__batch_free(struct sf__batch *b);
/* Hands a batch to instance slot i (mu held). */
void sf__dispatch_instance(struct sf__server *s, int i, struct sf__batch *b);
/* Queues a batch for the function path (mu held). */
void sf__dispatch_function(struct sf__server *s, struct sf__batch *b);
/* Starts / stops an instance's thread (mu held for start; stop joins without mu). */
int sf__inst_start(struct sf__server *s, int i);
void sf__inst_join(struct sf__server *s, int i);
int sf__fn_dispatchers_start(struct sf__server *s, int n, struct sf_err *err);
void sf__fn_dispatchers_stop(struct sf__server *s);

#endif
