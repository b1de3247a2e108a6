/*
 * log.h - the one logging module of every serflow process (core/log.c): levels, lines in text
 * (logfmt, as Go's slog TextHandler writes them) or JSON (one object a line), written on
 * standard error with one write(2) each, so that the lines of threads, and of children sharing
 * the stream, never interleave. Every value is escaped as it is written: ids, paths and names
 * come from clients. This is the only library code that writes to a standard stream
 * (tools/check_code.py allows exactly it).
 *
 *   text: time=2025-01-02T03:04:05.678Z level=INFO proc=serve pid=12 msg=access id=r1 status=200
 *   json: {"time":"2025-01-02T03:04:05.678Z","level":"INFO","proc":"serve","pid":12,
 *          "msg":"access","id":"r1","status":200}
 *
 * Until sf_log_setup is called nothing is written (library code used by a command that did not
 * ask for logs stays silent). The level may change at any time from any thread (SIGHUP).
 */
#ifndef SERFLOW_LOG_H
#define SERFLOW_LOG_H

#include <stddef.h>

#include "serflow/core.h"

enum sf_log_level { SF_LOG_ERROR = 0, SF_LOG_WARN = 1, SF_LOG_INFO = 2, SF_LOG_DEBUG = 3 };
enum sf_log_format { SF_LOG_TEXT = 0, SF_LOG_JSON = 1 };

/* The words of --log-level and --log-format, in enum order, NULL-terminated. */
extern const char *const sf_log_level_words[];
extern const char *const sf_log_format_words[];

/* A line at most: PIPE_BUF, the size the kernel writes into a pipe at once (so that lines of
 * processes sharing a pipe never interleave); a longer line is cut ("..." ends the value cut and
 * the fields after it are left out). */
#define SF_LOG_LINE_BYTES 4096
/* A process name (serve, worker, lambda, function) as shown in proc=. */
#define SF_LOG_PROC_BYTES 32

/* One field of a line: a string (NULL shown as empty), an integer, a number or a boolean. */
enum sf_log_kind { SF_LOG_K_STR = 0, SF_LOG_K_INT, SF_LOG_K_NUM, SF_LOG_K_BOOL };
struct sf_log_kv {
    const char *key; /* [a-z0-9_]: ours, never a client's */
    enum sf_log_kind kind;
    const char *s;
    long long i;
    double d;
};
#define SF_LS(k, v) ((struct sf_log_kv){(k), SF_LOG_K_STR, (v), 0, 0})
#define SF_LI(k, v) ((struct sf_log_kv){(k), SF_LOG_K_INT, NULL, (long long)(v), 0})
#define SF_LN(k, v) ((struct sf_log_kv){(k), SF_LOG_K_NUM, NULL, 0, (double)(v)})
#define SF_LB(k, v) ((struct sf_log_kv){(k), SF_LOG_K_BOOL, NULL, (v) ? 1 : 0, 0})

/* Turns logging on for this process: its name (cut at SF_LOG_PROC_BYTES - 1), the level (lines
 * above it are dropped) and the format. Call once, before threads start. */
void sf_log_setup(const char *proc, int level, int format);
/* 1 once sf_log_setup was called. */
int sf_log_active(void);
/* The level now; sets it (any thread, any time: SIGHUP's reload). Out-of-range values clamp. */
int sf_log_get_level(void);
void sf_log_set_level(int level);
int sf_log_get_format(void);
/* 1 when a line of this level would be written (logging on and the level at or below the
 * process's): lets a caller skip building fields nobody reads. */
int sf_log_on(int level);

/* One line: msg (an event name such as "access", or a sentence) and n fields. */
void sf_log_kv(int level, const char *msg, const struct sf_log_kv *kv, size_t n);
/* One line whose msg is formatted (printf). */
void sf_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line of fields: sf_log(SF_LOG_INFO, "access", SF_LS("id", id), SF_LI("status", 200)).
 * At least one field (sf_logf for a message alone). */
#define sf_log(level, msg, ...)                                                                    \
    do {                                                                                           \
        if (sf_log_on(level)) {                                                                    \
            const struct sf_log_kv sf__log_kv[] = {__VA_ARGS__};                                   \
            sf_log_kv((level), (msg), sf__log_kv, SF_ARRAY_LEN(sf__log_kv));                       \
        }                                                                                          \
    } while (0)

/* Writes a line a child process wrote on its captured stderr (its own log's line, or anything
 * else it printed, e.g. a sanitizer's report) on this process's standard error, whole: cut at
 * SF_LOG_LINE_BYTES - 1 bytes, a newline added when missing. Written whatever the level (the
 * child filtered its own lines). */
void sf_log_forward(const char *line, size_t len);

/* Formats one line into buf (size >= 64) as sf_log_kv would write it (with its newline), at the
 * given time (seconds since the epoch, UTC); returns its length. For tests and the fuzz target. */
size_t sf_log_format_line(char *buf, size_t size, int format, double time_s, int level,
                          const char *proc, long pid, const char *msg, const struct sf_log_kv *kv,
                          size_t n);

#endif
