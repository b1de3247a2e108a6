/*
 * cloud.h - providers of long-lived instances behind one interface (cloud/), and the process
 * helpers the local provider and the local function runtime share.
 *
 * Two halves, each behind its ops, chosen by configuration (never by code in the ingress):
 * - instances (struct sf_cloud): launch, terminate a chosen one, poll the ready ones with their
 *   addresses, bill from their lifetimes. The server's control loop (serve/ingress/control.c) is
 *   the only caller and applies the policies' targets through it. `local` runs each instance as
 *   a `serflow worker` process (local.c), `static` hands out running workers (static.c), `aws`
 *   sizes an EC2 Auto Scaling group (aws.c: SetDesiredCapacity, DescribeAutoScalingGroups,
 *   TerminateInstanceInAutoScalingGroup with decrement, DescribeInstances for the addresses,
 *   readiness from the worker's health endpoint or a target group's DescribeTargetHealth).
 * - functions (struct sf_fn): invoke a payload synchronously with Lambda's error semantics, or n
 *   payloads in parallel (the hybrid tail), and report each invocation's billed duration as the
 *   provider reported it. `local` calls the local function runtime's Invoke API (the billed
 *   duration header), `aws` calls Lambda's Invoke with SigV4 (fn_aws.c: frames travel as JSON,
 *   the billed duration read from the log tail's REPORT line).
 *
 * Processes are spawned with posix_spawn and an argument vector (never a shell), each in its own
 * process group, reaped with waitpid as soon as they exit, and killed as a group on shutdown.
 * Readiness is a line "ready HOST:PORT" the child writes on the pipe it finds at fd 3.
 */
#ifndef SERFLOW_CLOUD_H
#define SERFLOW_CLOUD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "serflow/auth.h"
#include "serflow/aws.h"
#include "serflow/core.h"
#include "serflow/model.h"
#include "serflow/billing.h"

/* ---- child processes ---- */

/* The fd on which a child finds the write end of its readiness pipe. */
#define SF_PROC_READY_FD 3

struct sf_proc {
    pid_t pid;      /* 0 when not running */
    int ready_fd;   /* read end of the readiness pipe, -1 when closed */
    char line[128]; /* readiness line being read */
    size_t line_len;
    int ready;          /* the line arrived */
    char endpoint[128]; /* HOST:PORT from the line */
    int exited;         /* reaped */
    int status;         /* waitpid status when exited */
    int log_fd;         /* sf_proc_spawn_captured: read end of the child's stderr (non-blocking),
                           -1 otherwise; closed by sf_proc_stop */
};

/* Spawns argv[0] (a path) with argv and the environment plus extra_env ("NAME=value" strings,
 * NULL-terminated, may be NULL), in a new process group, with a readiness pipe at
 * SF_PROC_READY_FD. stdin is /dev/null; stdout and stderr are inherited. auth_line (may be
 * NULL): the child's identity line (auth.h), handed over on a pipe at SF_AUTH_FD with
 * SERFLOW_AUTH_FD set; it is written before the child starts and never appears in argv or in
 * the child's environment. */
int sf_proc_spawn(struct sf_proc *p, char *const argv[], char *const extra_env[],
                  const char *auth_line, struct sf_err *err);
/* sf_proc_spawn with the child's stderr on a pipe whose read end is p->log_fd (non-blocking,
 * close-on-exec): the caller reads what the child writes (the function runtime keeps each
 * invocation's log and forwards every line). */
int sf_proc_spawn_captured(struct sf_proc *p, char *const argv[], char *const extra_env[],
                           const char *auth_line, struct sf_err *err);
/* Non-blocking: reads the readiness pipe; returns 1 once "ready HOST:PORT" was read (endpoint
 * filled), 0 otherwise. */
int sf_proc_poll_ready(struct sf_proc *p);
/* Non-blocking waitpid; returns 1 when the process has exited (and is now reaped). */
int sf_proc_reap(struct sf_proc *p);
/* Signals the whole process group (no-op when reaped). */
void sf_proc_signal(struct sf_proc *p, int sig);
/* SIGTERM to the group, waits up to grace_s for the exit, then SIGKILL and a blocking reap.
 * Closes the readiness pipe and the captured stderr. */
void sf_proc_stop(struct sf_proc *p, double grace_s);
/* Writes "ready HOST:PORT\n" to fd (the child side); ignores fd < 0. */
int sf_proc_announce_ready(int fd, const char *host, int port);
/* This executable's path (/proc/self/exe) into buf. */
int sf_proc_self_exe(char *buf, size_t size, struct sf_err *err);

/* ---- providers ---- */

/* The health of a provider's remote API (the aws provider's EC2 and Auto Scaling calls): the
 * ingress shows it on /metrics (serflow_provider_api_*) and keeps serving while it fails. */
struct sf_cloud_api {
    int failing;          /* calls failed in a row (after their retries); 0: the last one worked */
    uint64_t errors;      /* failed calls since the start */
    uint64_t calls;       /* calls since the start */
    char last_error[256]; /* the last failure, "" when none */
};

enum sf_cloud_state {
    SF_CLOUD_PENDING = 0,     /* launched, booting */
    SF_CLOUD_READY = 1,       /* serving at endpoint */
    SF_CLOUD_TERMINATING = 2, /* asked to stop; may finish its batch */
    SF_CLOUD_GONE = 3         /* exited or failed: billed, slot reused */
};

struct sf_cloud_instance {
    int id; /* provider's handle, unique for the provider's life */
    enum sf_cloud_state state;
    int vm; /* pricing->vm index */
    char endpoint[128];
    double launch_s, ready_s, end_s; /* monotonic clock */
    int failed;                      /* exited without being asked to */
    int authenticated; /* holds the identity `principal` derived from the deployment's root */
    char principal[SF_AUTH_PRINCIPAL_MAX + 1]; /* "worker:<id>" (local), "worker:aws" (aws) */
};

/* Most instances a provider tracks at once (running or recently gone). */
#define SF_CLOUD_MAX_INSTANCES 64
/* Back-off of launches after instances that never became ready (an Auto Scaling group backs
 * off failed launches the same way): 0.5 s doubling to 30 s. */
#define SF_CLOUD_BACKOFF_BASE_S 0.5
#define SF_CLOUD_BACKOFF_MAX_S  30.0

struct sf_cloud_ops {
    const char *name;
    /* Requests one instance of VM type vm that becomes ready no sooner than boot_delay_s after
     * launch (the local provider emulates a VM's provisioning time with it; a real cloud has its
     * own); *id identifies it. */
    int (*launch)(void *ctx, int vm, double boot_delay_s, double now_s, int *id,
                  struct sf_err *err);
    /* Asks instance id to stop (it drains); unknown ids are ignored. */
    void (*terminate)(void *ctx, int id, double now_s);
    /* Refreshes states (readiness, exits) and copies up to cap live (not GONE) instances to out;
     * returns how many were copied. Instances that went away since the last call are billed. */
    int (*poll)(void *ctx, double now_s, struct sf_cloud_instance *out, int cap);
    /* Adds the bill so far (ended instances, and running ones as if they ended now) to m. */
    void (*bill)(void *ctx, double now_s, struct sf_meter *m);
    /* Instances that exited without being asked since the provider started. */
    int (*failures)(void *ctx);
    /* Launches in a row that ended before the instance became ready (0 after one that did);
     * while > 0 the provider backs off: launch refuses (SF_EIO, "backing off") until
     * SF_CLOUD_BACKOFF_BASE_S x 2^(n-1) (at most SF_CLOUD_BACKOFF_MAX_S) after the last. */
    int (*failing)(void *ctx);
    /* Stops every instance (grace, then SIGKILL for the local one; the group to 0 for aws) and
     * frees ctx. */
    void (*shutdown)(void *ctx, double now_s);
    /* May be NULL (a provider without a remote API): the health of its API (struct
     * sf_cloud_api). */
    void (*api)(void *ctx, struct sf_cloud_api *out);
};

struct sf_cloud {
    const struct sf_cloud_ops *ops;
    void *ctx;
};

/* The local provider: each instance is a process whose command line the caller writes for each
 * launch (worker_argv: the worker's options for VM type vm, its boot delay and the readiness fd,
 * so the provider knows no option name), ready when it writes "ready HOST:PORT" on that fd
 * (after its model load and boot delay). With a root identity, instance N is given "worker:N"
 * derived from it at its start (auth.h). Billed with the catalog's VM rules from launch to exit,
 * as EC2 bills an instance that reached running: one that never became ready still pays its
 * minimum. price is borrowed and must outlive it. */
struct sf_cloud_local_cfg {
    int (*worker_argv)(void *ctx, int vm, double boot_delay_s, int ready_fd, struct sf_argv *out,
                       struct sf_err *err);
    void *argv_ctx; /* borrowed: outlives the provider */
    const struct sf_pricing *price;
    double stop_grace_s;        /* SIGTERM to SIGKILL */
    const struct sf_auth *root; /* may be NULL: workers without identities */
};
int sf_cloud_local_new(struct sf_cloud *out, const struct sf_cloud_local_cfg *cfg,
                       struct sf_err *err);

/* The static provider: n running workers at endpoints ("HOST:PORT", copied), ready at once,
 * handed out by launch and given back by terminate, billed from launch to termination; never
 * started or stopped by the provider. */
int sf_cloud_static_new(struct sf_cloud *out, const char *const *endpoints, int n,
                        const struct sf_pricing *price, struct sf_err *err);

/* The aws provider: the workers are the instances of an EC2 Auto Scaling group that a launch
 * template starts (deploy/aws); the provider only sizes the group and sheds chosen instances.
 * Every API call goes from the provider's own thread (the ops never block the control loop):
 * SetDesiredCapacity to the instances launched and not terminated (HonorCooldown false; never
 * above the group's MaxSize), TerminateInstanceInAutoScalingGroup with decrement for a chosen
 * ready instance, DescribeAutoScalingGroups every poll_s (new instances are given to the oldest
 * launches still waiting for one; one that leaves without being asked is a failure), EC2
 * DescribeInstances for the private addresses, and readiness from GET /v1/health on
 * ADDRESS:worker_port (or, with a target group, DescribeTargetHealth "healthy"). Instances are
 * billed with the catalog's rules from when the group first showed them until it no longer does
 * (every instance the group ran, the provider's own or not). While the API fails (after the aws
 * module's retries) the provider keeps its last view, retries next period, reports it through
 * the api op and log, and the ingress serves with what is ready (functions take the rest). At
 * shutdown the group goes to 0. */
struct sf_cloud_aws_opts {
    const char *region;       /* NULL: AWS_REGION, ... (sf_aws_region_resolve) */
    const char *endpoint_url; /* every service at one base URL (a test's fake); NULL: below */
    const char *endpoint[SF_AWS_N_SERVICES]; /* per service; NULL: the aws module's defaults */
    const char *group;                       /* the Auto Scaling group's name (required) */
    const char *function;                    /* the Lambda function (name or ARN; required) */
    const char *target_group_arn;            /* readiness from this target group; NULL: health */
    int worker_port;                         /* the workers' port on their private address */
    double poll_s;                           /* describe period (1 s) */
    double timeout_s;                        /* per attempt (the aws module's 10 s) */
    int max_attempts;                        /* per call (the aws module's 3) */
};
/* The principal every worker of an aws deployment holds (one key line for the group, given by
 * the deployment; docs/deploy-aws.md). */
#define SF_CLOUD_AWS_PRINCIPAL "worker:aws"
/* Default describe period: Auto Scaling's describe calls are cheap at one a second. */
#define SF_CLOUD_AWS_POLL_S 1.0
/* The health probe of a worker: its own endpoint answers at once when it serves. */
#define SF_CLOUD_AWS_PROBE_TIMEOUT_S 1.0

struct sf_cloud_aws_cfg {
    const struct sf_cloud_aws_opts *opts;
    struct sf_aws_credp *creds; /* borrowed; shared with the function provider */
    struct sf_aws_quota *quota; /* borrowed; NULL: the provider's own */
    int vm;                     /* the group's VM type (pricing->vm index), for the bill */
    const struct sf_pricing *price;
    int authenticated; /* the workers hold SF_CLOUD_AWS_PRINCIPAL's key */
};
/* The provider logs (log.h) when its API starts failing (WARN "provider API failing") and
 * answers again (INFO "provider API answers again"), each desired capacity it sets and each
 * instance it sheds. */
/* Checks the options, makes the clients and starts the provider's thread (no call is made
 * before it runs). Errors: SF_EINVAL (a missing group, a bad URL or port), SF_ENOTFOUND (no
 * region), SF_ENOMEM, SF_EIO. */
int sf_cloud_aws_new(struct sf_cloud *out, const struct sf_cloud_aws_cfg *cfg, struct sf_err *err);

/* ---- function providers ---- */

/* One invocation: the payload in, the answer out. */
struct sf_fn_call {
    const void *payload; /* in: a frame (the provider carries it as its API needs) */
    size_t len;
    size_t max_resp_bytes; /* in: the answer's cap (beyond: SF_ECORRUPT) */
    /* in, may be NULL: header lines the call passes on ("Name: value", NULL-terminated: the
     * requests' ids and trace context); local: sent with the request (invoke takes the first
     * call's for all); aws: not carried (Lambda's Invoke takes no caller headers) */
    const char *const *headers;
    /* out. status: SF_OK the function ran and answered (function_error: it ran and failed, its
     * error document in resp, not retried by the provider); SF_ETHROTTLED (429: the concurrency
     * cap, after the provider's retries: the caller waits and tries again), SF_ETOOBIG (413: the
     * payload), SF_EREMOTE (5xx), SF_ETIMEDOUT, SF_EIO (no answer), SF_EDENIED (401/403),
     * SF_ENOTFOUND (no such function), SF_ECORRUPT (an answer refused: not the callee's, over its
     * cap, not a frame), SF_EINVAL (another refusal) */
    int status;
    int function_error;
    long http_status;
    char *resp; /* heap (sf_fn_call_fini); the result frame, unwrapped */
    size_t resp_len;
    double billed_ms; /* as the provider reported it; -1 when it did not */
    int memory_mb;    /* ditto (0: not reported) */
    char error[200];  /* why, when status != SF_OK or function_error */
};
void sf_fn_call_fini(struct sf_fn_call *c);

/* Calls in parallel per invoke: the largest tail fan-out. */
#define SF_FN_MAX_PARALLEL 64

struct sf_fn_ops {
    const char *name;
    /* A session per thread (a keep-alive connection, an AWS client per parallel call). */
    int (*session_new)(void *ctx, void **sess, struct sf_err *err);
    void (*session_free)(void *sess);
    /* Runs calls[0..n) (n <= SF_FN_MAX_PARALLEL) in parallel, each bounded by timeout_s, and
     * fills their outcomes. */
    void (*invoke)(void *sess, struct sf_fn_call *calls, size_t n, double timeout_s);
    void (*free)(void *ctx);
};

struct sf_fn {
    const struct sf_fn_ops *ops;
    void *ctx;
};

/* Which provider and where: the ingress's FaaS path and the workers' tails are configured with
 * this, and sf_fn_new picks the provider. */
struct sf_fn_cfg {
    const char *provider; /* "local" (NULL) or "aws" */
    const char *function; /* the function's name (aws: a name or ARN) */
    /* local: the function runtime's base URL (http://HOST:PORT); aws: Lambda's endpoint
     * (NULL: the region's, or AWS_ENDPOINT_URL_LAMBDA) */
    const char *url;
    const char *region;         /* aws; NULL: resolved as the aws module does */
    const struct sf_auth *auth; /* local: sign calls as this identity (NULL or unset: unsigned) */
    struct sf_aws_credp *creds; /* aws: borrowed; NULL: the SDKs' chain, made here */
    struct sf_aws_quota *quota; /* aws: borrowed; NULL: the provider's own */
    double timeout_s;           /* aws: per attempt (0: the aws module's) */
    int max_attempts;           /* aws: per call (0: the aws module's) */
};
/* Errors: SF_EINVAL (an unknown provider, a missing name or URL), and the aws module's. */
int sf_fn_new(struct sf_fn *out, const struct sf_fn_cfg *cfg, struct sf_err *err);
void sf_fn_free(struct sf_fn *f);

#endif
