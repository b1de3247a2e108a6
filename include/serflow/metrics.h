/*
 * metrics.h - a Prometheus text-exposition registry (serve/wire/metrics.c): families of counters,
 * gauges and histograms with label sets, rendered for /metrics; and a scrape helper for clients
 * and tests. Every serving process exposes its metrics through one of these.
 *
 * Every series a family will have exists from its declaration, at 0: a counter that never fired
 * still has its sample line, so rate() over it is 0 from the first scrapes, never empty. Every
 * registry also has, from its creation, serflow_build_info{version,commit} 1 and the process
 * metrics of the Prometheus client libraries (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds), read from the kernel at each render.
 */
#ifndef SERFLOW_METRICS_H
#define SERFLOW_METRICS_H

#include <stddef.h>

#include "serflow/core.h"

/* ---- Prometheus text exposition ---- */

enum sf_metric_type { SF_METRIC_COUNTER = 0, SF_METRIC_GAUGE = 1, SF_METRIC_HISTOGRAM = 2 };

/* Caps: families, series (label sets) and histogram buckets; a registry is sized at creation. */
#define SF_METRICS_MAX_FAMILIES 80
#define SF_METRICS_MAX_SERIES   1024
#define SF_METRICS_MAX_BUCKETS  24

struct sf_metrics;

/* A thread-safe registry (one mutex), with the build and process families already declared. */
struct sf_metrics *sf_metrics_new(void);
void sf_metrics_free(struct sf_metrics *m);
/* Declares a family; returns its index (>= 0) or a negative status (bad name, a counter whose
 * name does not end in _total, too many). Histograms take their upper bounds (ascending, finite;
 * +Inf is implicit). label_sets: the label sets the family has, NULL-terminated, each a series
 * at 0 from now on (e.g. {"outcome=\"ok\"", "outcome=\"failed\"", NULL}); NULL: the family has
 * one series without labels, at 0 from now on. */
int sf_metrics_family(struct sf_metrics *m, const char *name, enum sf_metric_type type,
                      const char *help, const double *buckets, size_t n_buckets,
                      const char *const *label_sets);
/* Creates the series of a label set at 0 if it does not exist yet (labels known only after the
 * declaration, such as a model's stages). */
void sf_metrics_declare(struct sf_metrics *m, int family, const char *labels);
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
/* The series of (family, labels), created now if new: a handle for the _at calls, which skip
 * the lookup (the serving hot path counts every image). Negative when the table is full (the
 * _at calls then do nothing). */
int sf_metrics_series(struct sf_metrics *m, int family, const char *labels);
void sf_metrics_add_at(struct sf_metrics *m, int series, double v);
void sf_metrics_observe_at(struct sf_metrics *m, int series, double v);
size_t sf_metrics_dropped(struct sf_metrics *m);
/* Renders the exposition text (heap, caller frees); NULL when out of memory. */
char *sf_metrics_render(struct sf_metrics *m, size_t *len);

/* Reads one sample's value from exposition text: the first line whose name and label set match
 * exactly (labels as written, "" for none). SF_ENOTFOUND when absent. For clients and tests. */
int sf_metrics_scrape(const char *text, const char *name, const char *labels, double *value);

#endif
