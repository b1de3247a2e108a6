/*
 * trace.h - request-arrival traces (model/trace.c): counts per epoch or per second, or CSV
 * timestamps, parsed with file:line errors and capped (limits.h); and synthetic traces of
 * several families (model/tracegen.c) for the scaling bench and for users without a trace.
 */
#ifndef SERFLOW_TRACE_H
#define SERFLOW_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/limits.h"

/* ---- traces ---- */

enum sf_trace_unit { SF_TRACE_EPOCH = 0, SF_TRACE_SECOND = 1 };

/* Requests per epoch, plus what is needed to place each request in time. */
struct sf_trace {
    int64_t n_epochs;
    uint32_t *count; /* per epoch (index 0 = epoch 1) */
    uint64_t n_requests;
    /* Count traces: per-line counts of unit_s each (a line is an epoch or a second). */
    uint32_t *unit_count;
    int64_t n_units;
    double unit_s;
    /* CSV traces: sorted arrival times (s from trace start) and each epoch's first index. */
    double *arrival_s;
    uint64_t *epoch_first; /* n_epochs + 1 entries */
};

/* Caps on outside input (a trace beyond them is refused, not truncated): SF_TRACE_* in
 * serflow/limits.h. */

/* One non-negative integer per line ('#' comments allowed), each line `unit` long. Epochs are
 * epoch_s long (an integer multiple of one second for SF_TRACE_SECOND). max_epochs <= 0: all.
 * Errors: "file:line: problem". */
int sf_trace_parse_counts(struct sf_trace *t, const char *name, const char *text, size_t len,
                          enum sf_trace_unit unit, double epoch_s, int64_t max_epochs,
                          struct sf_err *err);
/* CSV: first column = arrival timestamp in seconds (non-decreasing, >= 0); an optional header
 * line whose first field is not a number; more columns are ignored. */
int sf_trace_parse_csv(struct sf_trace *t, const char *name, const char *text, size_t len,
                       double epoch_s, int64_t max_epochs, struct sf_err *err);
/* Reads a file and dispatches on csv (1) or counts (0). */
int sf_trace_load(struct sf_trace *t, const char *path, int csv, enum sf_trace_unit unit,
                  double epoch_s, int64_t max_epochs, struct sf_err *err);
void sf_trace_fini(struct sf_trace *t);

/* ---- synthetic traces (tracegen.c; the scaling bench, docs/controller.md) ---- */

enum sf_tracegen_family {
    SF_TG_DIURNAL = 0, /* a smooth 4-hour cycle with slow multiplicative noise */
    SF_TG_ONOFF,       /* bursty on/off (a two-state MMPP: 10 min on, 20 min at a tenth) */
    SF_TG_FLASH,       /* flash crowds: 6x jumps about hourly, decaying over 5 minutes */
    SF_TG_RAMP,        /* a slow ramp from a tenth to twice the base */
    SF_TG_STEPS,       /* step changes: levels held about 40 minutes */
    SF_TG_QUIET,       /* long quiet periods (1.5 h at 2 %) between 20-minute busy ones */
    SF_TG_SPARSE,      /* sparse-bursty: bursts of about 30 s every 2 minutes, silence between
                          (about 80 % of seconds empty), burst heights to about 20x the mean */
    SF_TG_SPIKY,       /* sparse-bursty: spikes of about 2 s every 7 s on average, silence
                          between (about 75 % of seconds empty), heights to about 30x the mean */
    SF_TG_COUNT
};

/* Longest generated trace: 31 days of seconds. Highest mean rate: no family's rate exceeds
 * SF_TRACEGEN_MAX_PEAK times its mean (the sparse-bursty ones are truncated there), and 40 x 2e4
 * req/s x 6 s, with Poisson noise, stays under SF_TRACE_MAX_PER_EPOCH, so whatever tracegen writes,
 * replay reads with the bundled profiles' 6 s epochs. */
#define SF_TRACEGEN_MAX_SECONDS  (31ll * 86400)
#define SF_TRACEGEN_MAX_MEAN_RPS 2e4
#define SF_TRACEGEN_MAX_PEAK     40.0

const char *sf_tracegen_name(int family);
/* -1 when unknown. */
int sf_tracegen_parse(const char *name);
/* Fills counts[0..seconds) with per-second Poisson counts whose rate follows the family's shape,
 * scaled to mean_rps on average; the same seed gives the same trace. */
int sf_tracegen(int family, double mean_rps, int64_t seconds, uint64_t seed, uint32_t *counts,
                struct sf_err *err);
/* A trace from n counts of `unit` each (through sf_trace_parse_counts, with its checks). */
int sf_trace_from_counts(struct sf_trace *t, const char *name, const uint32_t *counts, int64_t n,
                         enum sf_trace_unit unit, double epoch_s, struct sf_err *err);

#endif
