/*
 * serve.h - the serving data plane's building blocks (serve/): the binary frames between the
 * ingress, the VM workers and the functions; the Open Inference Protocol v2 JSON request and
 * response; a Prometheus text-exposition registry; billing meters priced from the pricing
 * catalog; and the entry points of the four server processes (ingress, worker, local function
 * runtime, function instance). docs/serving.md describes the protocols and the lifecycle.
 *
 * Everything read from a socket or a file is untrusted: every length is checked against a named
 * cap before anything is allocated. Library code never prints or exits: the process entry points
 * run until *stop becomes non-zero (the CLI sets it from SIGTERM/SIGINT) and report through
 * struct sf_err.
 */
#ifndef SERFLOW_SERVE_H
#define SERFLOW_SERVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/model.h"
#include "serflow/nn.h"
#include "serflow/plan.h"
#include "serflow/policy.h"
#include "serflow/sim.h"

/* ---- limits (each a cap on outside input; docs/serving.md lists them) ---- */

/* Images in one frame or one OIP request: 64 full batches of 100 is far beyond any plan. */
#define SF_SERVE_MAX_BATCH 4096u
/* Floats of one request's tensor: 1 << 20 (4 MB) covers any image model we would serve. */
#define SF_SERVE_MAX_NUMEL ((size_t)1 << 20)
/* Body of one HTTP request or frame: 64 MB (a full batch of the bundled model is 314 kB). */
#define SF_SERVE_MAX_BODY_BYTES ((size_t)64 << 20)

/* ---- where each part of a request ran ---- */

enum sf_where { SF_WHERE_NONE = 0, SF_WHERE_VM = 1, SF_WHERE_FUNCTION = 2 };
const char *sf_where_name(int where);

/* One answered request as it travels back from a worker or a function. */
struct sf_serve_result {
    uint64_t id;
    int status;      /* 0: answered; non-zero: failed (the request gets an error answer) */
    int label;       /* predicted class, -1 when failed */
    int exit_stage;  /* 1-based stage after which it left the network */
    int cut;         /* stages 1..cut ran on head_where, cut+1..exit_stage on a function */
    int head_where;  /* enum sf_where: where stages 1..cut ran (SF_WHERE_NONE when cut = 0) */
    int num_classes; /* entries of probs in use */
    float conf;
    float probs[SF_NN_MAX_CLASSES];
};

/* "vm:1-3,function:4-6" style description of where the request ran, into buf (always
 * NUL-terminated). Returns buf. */
char *sf_serve_where_str(const struct sf_serve_result *r, char *buf, size_t size);

/* ---- binary frames (docs/serving.md "Frames"), little-endian ---- */

/* Input batch frame "SFIB": n requests' ids and float32 input tensors of per-request shape,
 * with tau. Layout: 0 magic, 4 u16 version 1, 6 u16 ndim (1..3), 8 u32 n, 12 f32 tau,
 * 16 u32 dims[3], 28 u32 zero; then n x u64 id; then n x numel x f32. */
#define SF_FRAME_INPUT_HEADER_BYTES 32
int sf_frame_input_encode(const uint64_t *ids, const float *x, size_t n,
                          const struct sf_nn_shape *shape, double tau, void **out, size_t *out_len,
                          struct sf_err *err);
/* Decodes into caller-freed *ids and *x (NULL when n = 0). Refuses bad magic/version
 * (SF_EUNSUPPORTED), truncation or trailing bytes (SF_EPARSE), n > max_n or a shape beyond
 * SF_SERVE_MAX_NUMEL (SF_ETOOBIG), non-finite tau (SF_EINVAL). */
int sf_frame_input_decode(const void *buf, size_t len, size_t max_n, uint64_t **ids, float **x,
                          size_t *n, struct sf_nn_shape *shape, double *tau, struct sf_err *err);

/* Result frame "SFRS": 0 magic, 4 u16 version 1, 6 u16 num_classes (1..SF_NN_MAX_CLASSES),
 * 8 u32 n, 12 u32 zero; then n records of 24 + 4 x num_classes bytes:
 * u64 id, i16 label, u8 status, u8 exit_stage, u8 cut, u8 head_where, u16 zero, f32 conf,
 * u32 zero, f32 probs[num_classes]. */
#define SF_FRAME_RESULT_HEADER_BYTES 16
int sf_frame_result_encode(const struct sf_serve_result *r, size_t n, int num_classes, void **out,
                           size_t *out_len, struct sf_err *err);
/* Decodes into a caller-freed array *r of *n entries. Same refusals as the input frame. */
int sf_frame_result_decode(const void *buf, size_t len, size_t max_n, struct sf_serve_result **r,
                           size_t *n, struct sf_err *err);

/* Converts a driver result (nn.h) into a serve result answered at cut/head_where. */
void sf_serve_result_from_nn(const struct sf_nn_result *in, int num_classes, int cut,
                             int head_where, struct sf_serve_result *out);

/* ---- Open Inference Protocol v2 ---- */

/* A parsed inference request: n images of the model's per-request shape. */
struct sf_oip_request {
    char id[128]; /* the client's "id", "" when absent */
    size_t n;
    float *x; /* n x numel, heap (sf_oip_request_fini) */
};

/* Parses an OIP v2 inference request. json[0..json_len) is the JSON (the whole body, or the
 * part before the binary data when the binary tensor extension's Inference-Header-Content-Length
 * is used); bin[0..bin_len) the binary part (NULL when none). Exactly one input tensor, datatype
 * "FP32", shape [n, dims...] (the model's per-request shape) or [n, numel], data a flat or nested
 * number array of n x numel values or, with the extension, "parameters": {"binary_data_size": B}
 * with B = n x numel x 4 bytes. 1 <= n <= max_n. Errors are SF_EPARSE (JSON syntax, with line and
 * column), SF_EINVAL (a field: the message names it, e.g. "inputs[0].datatype: expected FP32,
 * got INT8"), SF_ETOOBIG (n above max_n). */
int sf_oip_parse_request(const char *json, size_t json_len, const void *bin, size_t bin_len,
                         const struct sf_nn_shape *shape, size_t max_n, struct sf_oip_request *out,
                         struct sf_err *err);
void sf_oip_request_fini(struct sf_oip_request *r);

/* The JSON response body for n results (heap string, caller frees): outputs "label" (INT64 [n]),
 * "probabilities" (FP32 [n, C]), "exit_stage" (INT32 [n]), "where" (BYTES [n]). NULL when out
 * of memory. */
char *sf_oip_response_json(const char *model_name, const char *id, const struct sf_serve_result *r,
                           size_t n);
/* {"error": "msg"} (heap string, caller frees); NULL when out of memory. */
char *sf_oip_error_json(const char *msg);

/* ---- Prometheus text exposition ---- */

enum sf_metric_type { SF_METRIC_COUNTER = 0, SF_METRIC_GAUGE = 1, SF_METRIC_HISTOGRAM = 2 };

/* Caps: families, series (label sets) and histogram buckets; a registry is sized at creation. */
#define SF_METRICS_MAX_FAMILIES 64
#define SF_METRICS_MAX_SERIES   1024
#define SF_METRICS_MAX_BUCKETS  24

struct sf_metrics;

/* A thread-safe registry (one mutex). */
struct sf_metrics *sf_metrics_new(void);
void sf_metrics_free(struct sf_metrics *m);
/* Declares a family; returns its index (>= 0) or a negative status (bad name, too many).
 * Histograms take their upper bounds (ascending, finite; +Inf is implicit). */
int sf_metrics_family(struct sf_metrics *m, const char *name, enum sf_metric_type type,
                      const char *help, const double *buckets, size_t n_buckets);
/* Adds v to a counter or sets a gauge (by family index) for a label set written as in the
 * exposition format without braces (e.g. `outcome="ok",stage="3"`; "" for none). The label
 * string is copied the first time. Unknown families and a full series table are ignored
 * (counted in sf_metrics_dropped). */
void sf_metrics_add(struct sf_metrics *m, int family, const char *labels, double v);
void sf_metrics_set(struct sf_metrics *m, int family, const char *labels, double v);
/* One observation of a histogram. */
void sf_metrics_observe(struct sf_metrics *m, int family, const char *labels, double v);
/* The current value of a counter or gauge series (0 when absent). */
double sf_metrics_get(struct sf_metrics *m, int family, const char *labels);
size_t sf_metrics_dropped(struct sf_metrics *m);
/* Renders the exposition text (heap, caller frees); NULL when out of memory. */
char *sf_metrics_render(struct sf_metrics *m, size_t *len);

/* Reads one sample's value from exposition text: the first line whose name and label set match
 * exactly (labels as written, "" for none). SF_ENOTFOUND when absent. For clients and tests. */
int sf_metrics_scrape(const char *text, const char *name, const char *labels, double *value);

/* ---- billing (the catalog's rules) ---- */

/* VM seconds billed for an instance alive alive_s: rounded up to the granularity, at least the
 * minimum (EC2: 1 s, 60 s). */
double sf_bill_vm_s(const struct sf_pricing *p, double alive_s);
/* Function seconds billed for one invocation of duration_s: rounded up to the granularity
 * (Lambda: 1 ms). A duration within 1 ns of a multiple is not rounded up again. */
double sf_bill_fn_s(const struct sf_pricing *p, double duration_s);

/* Running totals of one process's bill. Not thread-safe: callers lock. */
struct sf_meter {
    double vm_s[SF_MAX_VM_TYPES]; /* billed VM seconds by type (pricing->vm index) */
    double vm_usd;                /* their price */
    double fn_gb_s;               /* billed function GB-seconds */
    double fn_usd;                /* their price (without fees) */
    double fee_usd;               /* invocation fees */
    uint64_t invocations;         /* function invocations billed */
};

/* Bills one ended (or, for an estimate, still running) instance of type vm alive alive_s. */
void sf_meter_vm(struct sf_meter *m, const struct sf_pricing *p, int vm, double alive_s);
/* Bills one invocation of duration_s at mem_mb on arch (index into fn_arch): GB-s and the fee. */
void sf_meter_fn(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                 double duration_s);
/* Adds every total of add to m. */
void sf_meter_merge(struct sf_meter *m, const struct sf_meter *add);
double sf_meter_total_usd(const struct sf_meter *m);

/* ---- small HTTP client helpers (libcurl), shared by the processes and the tests ---- */

/* A reusable client connection (keep-alive between requests to the same host). One per thread. */
struct sf_http;
struct sf_http *sf_http_new(void);
void sf_http_free(struct sf_http *h);

/* POST (or GET when body is NULL) of body to url with extra headers (NULL-terminated
 * "Name: value" strings, may be NULL), waiting at most timeout_s, on connection h (NULL: a
 * one-shot connection). *status gets the HTTP status
 * (0 when the connection failed), *resp a heap copy of the body (caller frees; capped at
 * SF_SERVE_MAX_BODY_BYTES), *fn_error whether X-Amz-Function-Error was present (may be NULL).
 * SF_EIO when no HTTP response arrived. Thread-safe (sf_http_global_init once first). */
int sf_http_request(struct sf_http *h, const char *url, const void *body, size_t len,
                    const char *const *headers, double timeout_s, long *status, char **resp,
                    size_t *resp_len, int *fn_error, struct sf_err *err);
/* n POSTs of bodies[i] (octet-stream) to the same url in parallel (libcurl multi), each bounded by
 * timeout_s; per request the status (0: no response), the body (heap, caller frees; NULL when
 * none) and the function-error flag. SF_ENOMEM when the transfers could not be set up. */
int sf_http_post_many(const char *url, const void *const *bodies, const size_t *lens, size_t n,
                      double timeout_s, long *status, char **resps, size_t *resp_lens,
                      int *fn_errors);
/* curl_global_init; call once per process before threads start. */
int sf_http_global_init(struct sf_err *err);

/* ---- processes ---- */

/* The VM worker: loads the model, runs stages 1..cut of each batch posted to POST /v1/batch
 * (input frame in, result frame out), and sends the survivors' hidden state in `fanout` chunks to
 * the function `fn_name` at fn_url (Lambda Invoke API) in parallel, merging the answers. Writes
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
        fault_delay_s; /* test hook: every batch takes this much longer (a kill lands mid-batch) */
};
int sf_worker_run(const struct sf_worker_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err);

/* A function instance: the Lambda custom-runtime loop against AWS_LAMBDA_RUNTIME_API
 * (host:port). Each event is an input frame (full model from stage 1), a hidden-state frame
 * (nn_codec.h: the tail from its stage on), or an OIP v2 JSON request (full model; the answer
 * is the OIP JSON response). Posts a result frame (or JSON) to /response, or an error to /error.
 * Returns when *stop is set or the runtime API goes away. */
struct sf_function_cfg {
    const char *model_dir;
    const char *runtime_api; /* host:port */
    double tau;              /* for OIP JSON events (frames carry their own tau) */
    double init_delay_s;     /* extra cold-start time after the model load, before the first poll */
    /* fault injection for tests: "crash" returns SF_EIO on the first event without answering
     * (the CLI then exits, killing the instance mid-invocation), "hang" never answers it */
    const char *fault;
    int threads;
    enum sf_nn_backend backend;
};
int sf_function_run(const struct sf_function_cfg *cfg, volatile sig_atomic_t *stop,
                    struct sf_err *err);

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
    size_t fn_arch;
    struct sf_path path;      /* where the policy's work runs (plan.h) */
    const char *policy;       /* ctl/ policy name (policy.h) */
    struct sf_policy_env env; /* its parameters: epoch = SLO, B, r, T-CIP, ... */
    double tau;
    double time_scale; /* controller clock: epochs and boot delays / time_scale */
    enum sf_batching batching;
    double margin_s; /* batcher: kept in hand for dispatch and network jitter */
    int queue_cap;   /* admitted, not yet dispatched requests; beyond: 503 */
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

/* ---- load generator (`serflow load`) ---- */

struct sf_load_stats;

/* Replays arrival times against an ingress: each request is one labelled image, sent as an OIP v2
 * request (binary tensor extension, or JSON) over keep-alive connections (libcurl multi). */
struct sf_load_cfg {
    const char *url;         /* ingress base URL, e.g. http://127.0.0.1:8080 */
    const char *model_name;  /* path /v2/models/NAME/infer */
    const double *arrival_s; /* n_requests sorted arrival times (trace seconds) */
    size_t n_requests;
    double time_scale;   /* wall time = trace time / time_scale */
    const float *images; /* n_images x numel, normalised */
    const int *labels;
    size_t n_images, numel;
    int64_t dims[3]; /* per-image shape [C, H, W] */
    int json;        /* 1: JSON data, 0: binary tensor extension */
    int max_connections;
    double slo_s;     /* a request meets the SLO when answered within this of its arrival */
    double timeout_s; /* per request */
    /* called about every progress_every_s with the running counts (may be NULL) */
    void (*progress)(void *ctx, const struct sf_load_stats *st);
    void *progress_ctx;
    double progress_every_s;
    volatile sig_atomic_t *stop;
};

struct sf_load_stats {
    uint64_t planned, sent, done;
    uint64_t ok;      /* HTTP 200 with a parsable answer */
    uint64_t correct; /* ... whose label is the image's */
    uint64_t slo_ok;  /* ok and answered within slo_s of its arrival */
    uint64_t status_503, status_4xx, status_5xx, conn_errors;
    uint64_t where_vm, where_function, where_hybrid;
    double elapsed_s;
    double p50_s, p95_s, p99_s, max_s; /* latency of the ok answers */
};

/* Arrival times (s) of a count trace scaled by rate_scale: each unit's requests spread evenly
 * inside it, as the simulator's uniform arrivals. Heap array (caller frees) of *n entries; NULL
 * when out of memory. */
double *sf_load_arrivals(const struct sf_trace *t, double rate_scale, size_t *n);

/* Runs the whole replay (blocks; returns early when *stop is set). SF_EIO only when the load
 * could not run at all; per-request failures are counted in st. */
int sf_load_run(const struct sf_load_cfg *cfg, struct sf_load_stats *st, struct sf_err *err);

#endif
