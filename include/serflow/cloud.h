/*
 * cloud.h - providers of long-lived instances behind one interface (cloud/), and the process
 * helpers the local provider and the local function runtime share.
 *
 * A provider launches, terminates and polls instances and bills them; the server's control loop
 * (serve/control.c) is its only caller and applies the policies' targets through it. The local
 * provider runs each instance as a `serflow worker` process; an AWS provider (EC2 Auto Scaling,
 * a later issue) fits the same ops: launch = raise the desired capacity, poll = describe the
 * group, terminate = terminate-instance-in-auto-scaling-group.
 *
 * Processes are spawned with posix_spawn and an argument vector (never a shell), each in its own
 * process group, reaped with waitpid as soon as they exit, and killed as a group on shutdown.
 * Readiness is a line "ready HOST:PORT" the child writes on the pipe it finds at fd 3.
 */
#ifndef SERFLOW_CLOUD_H
#define SERFLOW_CLOUD_H

#include <stddef.h>
#include <sys/types.h>

#include "serflow/auth.h"
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
    int authenticated; /* holds the identity "worker:<id>" derived from the provider's root */
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
    /* Stops every instance (grace, then SIGKILL for the local one) and frees ctx. */
    void (*shutdown)(void *ctx, double now_s);
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

#endif
