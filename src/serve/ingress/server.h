/* server.h - the ingress's shared state (internal to src/serve): admission queue, the result
 * table keyed by request id, batches, instances, the function dispatch queue, metrics.
 * ingress.c owns HTTP and the lifecycle, admit.c admission, ids, deadlines, delivery and the
 * answers, runtime.c the function runtime's supervision and bill, control.c the policy, batcher
 * and fleet, dispatch.c the calls to workers (and the in-process instances) and the function
 * invocations through the function provider (cloud.h), inproc.c the in-process provider. One mutex
 * (mu) guards everything below it.
 *
 * No hand-off on the hot path (docs/serving.md "Data plane"): the event loop thread that reads a
 * request admits it and runs the batcher; what the batcher sends out while mu is held (a batch
 * for an instance) and what it finishes (requests whose every image is answered) are left in
 * two lists, and whichever thread releases mu next does that work itself (sf__server_unlock):
 * writes the batch to the worker's connection or runs the in-process instance, builds and writes
 * the answers. */
#ifndef SERFLOW_SERVE_SERVER_H
#define SERFLOW_SERVE_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "wire/ev.h"
#include "wire/httpd.h"
#include "serflow/batcher.h"
#include "serflow/cloud.h"
#include "serflow/policy.h"
#include "serflow/wire.h"
#include "serflow/metrics.h"
#include "serflow/billing.h"
#include "serflow/http.h"
#include "serflow/ingress.h"

/* The endpoints an answer is counted under (serflow_http_requests_total{handler}). */
enum sf__handler {
    SF__H_INFER = 0,
    SF__H_METADATA,
    SF__H_HEALTH,
    SF__H_METRICS,
    SF__H_OTHER,
    SF__N_HANDLERS
};

/* What a request's access log line and its answer's headers need, kept from its arrival to its
 * answer (ingress.c). */
struct sf__access {
    struct sf_reqtrace trace; /* its id and trace context: the client's when valid, else new */
    double t0_s;              /* monotonic, when its head and body had arrived */
    int handler;              /* enum sf__handler */
    size_t images;
    /* where its images ran: vm, function, hybrid, the distinct ones joined ("vm,hybrid"), or
     * none */
    const char *route;
    char route_buf[32];
};

/* One HTTP inference request (n images), from admission to its answer. */
struct sf__pending {
    size_t n, answered;
    int failed;        /* an image's path failed: 502 */
    size_t refused;    /* 1 + the first image whose outputs were not finite (422), 0: none */
    int expired;       /* an image passed its deadline: 504 */
    double deadline_s; /* of its images */
    struct sf_serve_result *res; /* n */
    struct sf_oip_request oip;   /* the parsed request: its id and its tensor (x, or bin: the
                                    binary extension's floats in the request's body, or in
                                    decoded) and the outputs it asks for */
    char *decoded;               /* its body inflated (Content-Encoding), or NULL */
    struct sf__access acc;       /* its id, trace context and access log fields */
    struct sf__ev_req *req;      /* answered with sf__ingress_respond */
    struct sf__pending *next;    /* the list of answers to write */
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

/* What a batch carries to its instance or function: an input frame (workers, functions) or the
 * runner's batch (in-process instances), filled once from the requests' tensors. */
enum sf__batch_to { SF__TO_FRAME = 0, SF__TO_LOCAL = 1 };

/* A batch on its way to an instance or a function; owns its copy of the inputs. */
struct sf__batch {
    size_t n;
    uint64_t *ids;
    void *frame; /* SF__TO_FRAME: the encoded input frame, frame_len bytes */
    size_t frame_len;
    float *x;     /* SF__TO_LOCAL: n x numel */
    int attempts; /* function path: tries so far */
    double dispatched_s;
    double deadline_s; /* its oldest request's: past it, every request was answered 504 */
    int inst;          /* instance slot while on an instance */
    char nonce[33];    /* of the signed call to a worker: its answer's MAC binds it */
    struct sf__server *srv;
    struct sf__batch *next;
    /* what its calls carry: the request ids of its images (X-Request-Id, comma-separated, whole
     * ids up to SF_REQUEST_IDS_MAX_BYTES) and a traceparent naming its own span in the trace of
     * its oldest request */
    char req_ids[SF_REQUEST_IDS_MAX_BYTES + 1];
    char traceparent[64];
    size_t n_requests; /* requests its images come from */
};

struct sf__local; /* inproc.c: an in-process instance's runner */

/* An instance of the fleet; one batch at a time. */
struct sf__inst {
    int used;
    int id; /* provider id */
    char endpoint[128];
    int vm;
    int state; /* enum sf_cloud_state */
    int busy;  /* holds a batch (mail) */
    int quit;
    int ready_to_serve;     /* its connection (or runner) is set up */
    struct sf__batch *mail; /* the batch it holds */
    int in_outbox;          /* mail waits to be sent by the thread that releases mu */
    struct sf__evc *evc;    /* worker: the keep-alive connection, on one event loop */
    int loop;               /* that loop */
    char
        principal[SF_AUTH_PRINCIPAL_MAX + 1]; /* its identity as its provider names it ("": none) */
    int authed;                               /* calls signed with who, answers checked */
    struct sf_auth who;                       /* worker: its identity */
    struct sf__local *local;                  /* in-process: its runner (inproc.c) */
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
        http, buffered, connections, unanswered, api_failing, api_errors, api_calls, polled;
};

/* Handles of the series counted for every image (admit.c), looked up once. */
#define SF__NO_SERIES (-1000)
struct sf__series {
    int accepted, latency, slo_ok, slo_all;
    int answered[4];
    int stage[SF_MAX_STAGES + 1];
    int where[3];
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
    struct sf_nn_model *model; /* shape, name, classes; the in-process instances' network */
    size_t numel;
    int n_stages, num_classes;
    struct sf_metrics *metrics;
    struct sf__metrics_ids mid;
    struct sf__series series;           /* under mu */
    int http_series[SF__N_HANDLERS][3]; /* serflow_http_requests_total's: 2xx, 4xx, 5xx */
    struct sf__ev *ev;
    struct sf_proc lambda;
    struct sf__runtime rt;
    char exe[4096];
    char lambda_url[160];
    struct sf_cloud cloud;
    int have_cloud;
    int aws;                        /* cfg->provider is "aws" */
    struct sf_fn fn;                /* the function provider (runtime.c), every function call */
    struct sf_aws_credp *aws_creds; /* aws: the credentials both providers sign with */
    int inproc;                     /* the instances run in this process (inproc.c) */
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
    double ctl_wake_s;     /* when the control loop wakes next (it is told of anything earlier) */
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
    uint64_t rnd[64]; /* random bits for ids, drawn in advance (admit.c) */
    size_t rnd_left;
    /* work left for whoever releases mu (sf__server_unlock) */
    struct sf__pending *done;           /* requests whose answer is to be written */
    int outbox[SF_CLOUD_MAX_INSTANCES]; /* instances whose mail is to be sent */
    int n_outbox;
    int outbox_posted; /* a loop was asked to send the outbox after its round */
    /* function dispatch queue */
    struct sf__batch *fn_head, *fn_tail;
    pthread_t *fn_threads;
    int n_fn_threads;
    int fn_quit;
    /* instances */
    struct sf__inst inst[SF_CLOUD_MAX_INSTANCES];
    int next_loop; /* the event loop the next worker connection goes to */
    /* a loop admitted requests in its current round (each entry touched by its loop only) */
    int loop_admitted[SF__EV_MAX_LOOPS];
    struct sf_oip_cache oip_cache[SF__EV_MAX_LOOPS]; /* each loop's last request header */
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

/* ---- ingress.c ---- */
/* Answers req with resp (mu not held, any thread): its X-Request-Id and traceparent added, the
 * answer counted by handler and status class, its access log line written. */
void sf__ingress_respond(struct sf__server *s, struct sf__ev_req *req, struct sf__httpd_resp *resp,
                         const struct sf__access *acc);

/* ---- admit.c ---- */
int sf__table_init(struct sf__server *s, struct sf_err *err);
/* Admits the n images of p (each gets an id, a slot, a deadline, a queue place; the batcher may
 * dispatch at once) with mu held. 0: admitted, its answer comes through the done list; else the
 * HTTP status of a refusal (503, 413) with *retry_after_s, and p is not kept. */
int sf__server_admit(struct sf__server *s, struct sf__pending *p, int *retry_after_s);
/* Delivers results (from a worker, a function or an in-process instance) for their ids, mu
 * held; a result for an id that is no longer waiting (answered, or past its deadline) is dropped
 * and counted (at-least-once dispatch). */
void sf__server_deliver(struct sf__server *s, const struct sf_serve_result *r, size_t n);
/* Answers every id of a batch as failed (mu held). */
void sf__server_fail_batch(struct sf__server *s, const struct sf__batch *b);
/* Answers 504 every request whose deadline is past (mu held): out of the queue if still there. */
void sf__server_expire(struct sf__server *s, double now_s);
/* Releases mu after doing what was left for whoever releases it: batches to send (or to run
 * in-process) and answers to write. Called instead of pthread_mutex_unlock(&s->mu) wherever
 * something may have been dispatched or answered. */
void sf__server_unlock(struct sf__server *s);
/* Writes the answer of a finished request and frees it (mu not held). */
void sf__pending_answer(struct sf__server *s, struct sf__pending *p);
void sf__pending_free(struct sf__pending *p);

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
/* Called with mu held after a request's arrivals were enqueued: the control loop is woken only
 * when the batcher's next moment is earlier than its own. */
void sf__control_arrived(struct sf__server *s, double now_s);
/* Called with mu held by an event loop at the end of a round in which it admitted requests:
 * without the FaaS spill (or draining) the queue goes to a free instance now, as one batch of
 * what the round read (the deadline batcher needs no such call: it decides at each arrival). */
void sf__control_round(struct sf__server *s);
/* Called with mu held when instance i has become free (its batch answered or failed): the
 * batcher runs in this thread (sf_dq_settle, or the queue to the instance without spill). */
void sf__control_freed(struct sf__server *s, int i);
/* The control loop (its own thread): epochs, policy, provider, expiry, the batcher's timed
 * dispatches. Returns on stop after the queue has drained. */
void *sf__control_main(void *arg);
/* now in seconds since the server started (monotonic). */
double sf__server_now(const struct sf__server *s);
/* Takes new controller parameters (a reload): the policy retuned, its state kept; mu held.
 * Logs what changed or why nothing did. */
void sf__control_retune(struct sf__server *s, const struct sf_policy_env *env);

/* ---- dispatch.c ---- */
/* Takes n items from the head of the queue into a new batch for `to` (the frame, or instance
 * inst's runner batch), each image copied once (mu held). NULL when out of memory (the items are
 * then answered as failed). */
struct sf__batch *sf__batch_take(struct sf__server *s, size_t n, enum sf__batch_to to, int inst);
void sf__batch_free(struct sf__batch *b);
/* Gives a batch to instance slot i (mu held): sent by whoever releases mu. */
void sf__dispatch_instance(struct sf__server *s, int i, struct sf__batch *b);
/* Queues a batch for the function path (mu held). */
void sf__dispatch_function(struct sf__server *s, struct sf__batch *b);
/* Sends instance i's mail (mu not held): on its worker connection, or runs it in-process and
 * delivers (takes mu; returns with mu held when it returns 1). */
int sf__inst_send(struct sf__server *s, int i);
/* Sets up / tears down what instance i is reached by (its worker connection or its runner);
 * mu held. */
int sf__inst_open(struct sf__server *s, int i);
void sf__inst_close(struct sf__server *s, int i);
/* The event loops' tick: worker calls past their deadline fail. */
void sf__dispatch_tick(struct sf__server *s, int loop, double now_s);
/* A response field's value as a finite number >= 0 (a bill a callee reports), or -1. */
double sf__field_number(const struct sf_http_field *f);
int sf__fn_dispatchers_start(struct sf__server *s, int n, struct sf_err *err);
void sf__fn_dispatchers_stop(struct sf__server *s);

/* ---- inproc.c: the same-process fast path ---- */
/* The in-process provider: instances are runners of s->model in this process, each with its VM
 * type's vCPUs as threads, billed by the catalog's VM rules from launch to termination as the
 * local provider bills its worker processes. */
int sf__inproc_new(struct sf__server *s, struct sf_err *err);
/* Instance provider_id's runner (built when the provider made it ready), held by the ingress
 * until sf__inproc_release; NULL when none. */
struct sf__local *sf__inproc_runner(struct sf__server *s, int provider_id);
void sf__inproc_release(struct sf__server *s, int provider_id);
/* The runner's batch, which sf__batch_take fills. */
struct sf_nn_batch *sf__inproc_batch(struct sf__local *l);
/* Runs batch b through stages 1..all on l (mu not held): n results into out. */
int sf__inproc_run(struct sf__server *s, struct sf__local *l, struct sf__batch *b,
                   struct sf_serve_result *out, struct sf_err *err);

#endif
