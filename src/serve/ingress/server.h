/* server.h - the ingress's shared state (internal to src/serve): admission queue, the result
 * table keyed by request id, batches, instance mailboxes, the function dispatch queue, metrics.
 * ingress.c owns HTTP and the lifecycle, admit.c admission, ids, deadlines and delivery,
 * runtime.c the function runtime's supervision and bill, control.c the policy, batcher and
 * fleet, dispatch.c the calls to workers and functions. One mutex (mu) guards everything below
 * it. */
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
    int failed;        /* an image's path failed: 502 */
    size_t refused;    /* 1 + the first image whose outputs were not finite (422), 0: none */
    int expired;       /* an image passed its deadline: 504 */
    int draining;      /* refused: the server is stopping */
    double deadline_s; /* of its images */
    struct sf_serve_result *res;     /* n */
    const float *x;                  /* n x numel, the parsed request's buffer */
    const struct sf_reqtrace *trace; /* its id and trace context: passed on with its batches */
    pthread_cond_t cv;
};

/* Request ids: the table slot in the low SF__ID_SLOT_BITS bits, 40 random bits above it (from
 * the CSPRNG at each admission), so an id is neither sequential nor guessable, and a result for
 * a slot reused since is told apart. */
#define SF__ID_SLOT_BITS 24
#define SF__ID_SLOT_MASK ((1u << SF__ID_SLOT_BITS) - 1)

/* One admitted image: a request in the controller's sense. */
struct sf__item {
    uint64_t id; /* 0: free slot */
    double arrival_s, deadline_s;
    struct sf__pending *owner;
    size_t idx;                     /* in owner */
    int queued;                     /* in the admission queue (not dispatched yet) */
    struct sf__item *older, *newer; /* unanswered items in admission (= deadline) order */
    uint32_t next_free;
};

/* A batch on its way to an instance or a function; owns copies of its inputs. */
struct sf__batch {
    size_t n;
    uint64_t *ids;
    float *x;
    int attempts; /* function path: tries so far */
    double dispatched_s;
    double deadline_s; /* its oldest request's: past it, every request was answered 504 */
    struct sf__batch *next;
    /* what its calls carry: the request ids of its images (X-Request-Id, comma-separated, whole
     * ids up to SF_REQUEST_IDS_MAX_BYTES) and a traceparent naming its own span in the trace of
     * its oldest request */
    char req_ids[SF_REQUEST_IDS_MAX_BYTES + 1];
    char traceparent[64];
    size_t n_requests; /* requests its images come from */
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
    char principal[SF_AUTH_PRINCIPAL_MAX + 1]; /* its identity (cloud.h); "": none */
    int64_t launch_seq;  /* control.c: launch order (sf_fleet_pick_surplus sheds newest first) */
    int64_t term_epoch;  /* control.c: scheduled termination takes effect, 0: none */
    int no_serve;        /* control.c: shed while pending, so never takes a batch (as simulated) */
    double busy_until_s; /* dispatch.c: expected end of its batch (worst case) */
};

struct sf__metrics_ids {
    int accepted, answered, rejected, exit_stage, where, latency, slo_ok, slo_all, slo_s, batches,
        redispatch, instances, target, launches, terminations, inst_failures, queue, epoch,
        bill_vm_s, bill_vm_usd, bill_fn_gb_s, bill_fn_inv, bill_fn_usd, bill_fees_usd, bill_usd,
        fn_retries, fn_throttled, dropped, frames_rejected, runtime_restarts, launch_failing, ready,
        http, buffered, connections, unanswered, api_failing, api_errors, api_calls;
};

/* The function runtime the ingress started, supervised by runtime.c. */
struct sf__runtime {
    int owned;           /* started here (not --lambda-url) */
    int up;              /* ready and serving */
    int ready;           /* its /health said ready (instances start) */
    int port;            /* kept across restarts: the workers know this URL */
    int restarts;        /* since the start */
    int fails_in_row;    /* restarts in a row that did not become ready */
    double next_start_s; /* back-off */
    double spawned_s;    /* of the incarnation waiting for its readiness line */
    double probed_s;     /* last probe of its readiness */
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
    struct sf__runtime rt;
    char exe[4096];
    char lambda_url[160];
    char invoke_url[512];
    struct sf_cloud cloud;
    int have_cloud;
    int aws;                        /* cfg->provider is "aws" */
    struct sf_fn fn;                /* the function provider (runtime.c), every function call */
    struct sf_aws_credp *aws_creds; /* aws: the credentials both providers sign with */
    volatile sig_atomic_t *stop;    /* &stop_flag: set after the grace period */
    volatile sig_atomic_t stop_flag;
    int stopping; /* SIGTERM seen: readiness 503 */
    double t0;    /* monotonic at start */
    double deadline_s;
    /* identities (auth.h): the deployment's root, the ingress's own for function calls (unset
     * when the function runtime is someone else's without SERFLOW_AUTH) */
    struct sf_auth root, ingress_id;
    pthread_mutex_t bill_mu; /* fn_meter and the bill's last values */
    /* functions, metered from what the answers report (the runtime's billed duration of each
     * invocation, a worker's tail): the bill as data, never scraped (docs/serving.md "Billing") */
    struct sf_meter fn_meter;
    double bill_last[8]; /* counters never go back: the largest value shown so far */

    pthread_mutex_t mu;
    pthread_cond_t ctl_cv; /* wakes the control loop */
    pthread_cond_t fn_cv;  /* wakes function dispatchers */
    /* admission queue: item slots in arrival order */
    struct sf__item **queue;
    size_t q_head, q_len, q_cap;
    int64_t q_head_seq; /* admission sequence number of queue[q_head] (the first is 1) */
    /* admitted, unanswered items: table_cap slots found by the low bits of the id; free slots
     * in a list; the unanswered in admission order, oldest first (deadline order) */
    struct sf__item *table;
    size_t table_cap;
    uint32_t free_head; /* UINT32_MAX: none */
    size_t n_free;
    struct sf__item *oldest, *newest;
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
    /* the controller's parameters in use: the binding's, until a reload retunes them (the
     * terminate delay and the cold-start draws come from here) */
    struct sf_ctl_params ctl;
    struct sf_dq dq; /* deadline batching: ctl/'s loop over the queue (control.c) */
    double epoch_wall_s;
    int64_t epoch;
    int64_t launches;        /* control.c: instances launched so far (their launch_seq) */
    uint32_t arrivals_epoch; /* arrivals in the current epoch */
    uint32_t arrivals_slot[SF_POLICY_OBS_SLOTS]; /* the same in equal parts of the epoch */
    int cap_left;                                /* requests instances may still take this epoch */
    int target;
    uint64_t launches_seen;
};

/* ---- admit.c ---- */
int sf__table_init(struct sf__server *s, struct sf_err *err);
/* Admits the n images of p (each gets an id, a slot, a deadline, a queue place) and waits until
 * each is answered (by its deadline at the latest). 0, or the HTTP status of a refusal (503,
 * 413) with *retry_after_s. Takes mu. */
int sf__server_admit(struct sf__server *s, struct sf__pending *p, int *retry_after_s);
/* Delivers results (from a worker or a function) for their ids; a result for an id that is no
 * longer waiting (answered, or past its deadline) is dropped and counted (at-least-once
 * dispatch). Takes mu. */
void sf__server_deliver(struct sf__server *s, const struct sf_serve_result *r, size_t n);
/* Answers every id of a batch as failed. Takes mu. */
void sf__server_fail_batch(struct sf__server *s, const struct sf__batch *b);
/* Answers 504 every request whose deadline is past (mu held): out of the queue if still there. */
void sf__server_expire(struct sf__server *s, double now_s);

/* ---- runtime.c ---- */
/* Makes the function provider: aws (no runtime here), or local: starts the function runtime
 * (or takes lambda_url) and waits for its readiness line. */
int sf__runtime_start(struct sf__server *s, struct sf_err *err);
/* Called every main-loop tick: restarts a dead runtime with back-off, scrapes its bill. */
void sf__runtime_supervise(struct sf__server *s);
/* The function bill so far (gone incarnations + the current one, freshly scraped when
 * possible) into m. */
void sf__runtime_bill(struct sf__server *s, struct sf_meter *m);
/* Meters calls function invocations billed billed_ms in all, as an answer reported them (takes
 * bill_mu). */
void sf__meter_functions(struct sf__server *s, double billed_ms, uint64_t calls);
void sf__runtime_stop(struct sf__server *s);

/* ---- control.c ---- */
int sf__control_init(struct sf__server *s, struct sf_err *err);
void sf__control_fini(struct sf__server *s);
/* Called with mu held after the request of admission sequence seq joined the queue: the
 * deadline batcher takes it at once (the open batch may leave first, a full batch leaves now,
 * from the arriving request's thread). */
void sf__control_enqueued(struct sf__server *s, int64_t seq);
/* Called with mu held after a queued request left the queue other than by a dispatch (past its
 * deadline: admit.c): the head when at_head, else one behind it; the batcher's count follows. */
void sf__control_dropped(struct sf__server *s, int at_head);
/* Called with mu held after a request's arrivals were enqueued: wakes the control loop. */
void sf__control_arrived(struct sf__server *s, double now_s);
/* The control loop (its own thread): epochs, policy, provider, batcher. Returns on stop after the
 * queue has drained. */
void *sf__control_main(void *arg);
/* now in seconds since the server started (monotonic). */
double sf__server_now(const struct sf__server *s);
/* Takes new controller parameters (a reload): the policy retuned, its state kept; mu held.
 * Logs what changed or why nothing did. */
void sf__control_retune(struct sf__server *s, const struct sf_policy_env *env);

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
