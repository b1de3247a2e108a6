/*
 * load.h - the load generator (`serflow load`, serve/load/): replays a trace's arrival times
 * against an ingress with labelled images over OIP v2, and counts what came back.
 */
#ifndef SERFLOW_LOAD_H
#define SERFLOW_LOAD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/trace.h"

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
    uint64_t ok; /* HTTP 200 with a valid answer (label in its classes, finite probabilities) */
    uint64_t invalid; /* HTTP 200 whose body is not a valid answer */
    uint64_t correct; /* ... whose label is the image's */
    uint64_t slo_ok;  /* ok and answered within slo_s of its arrival */
    uint64_t status_503, status_4xx, status_5xx;
    uint64_t refused;     /* no connection (nothing listening: a server that stopped) */
    uint64_t conn_errors; /* connected, but no whole answer (closed, reset, timed out) */
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
