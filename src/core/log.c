/*
 * log.c - the logging module (log.h): one line per event, logfmt or JSON, one write(2) of at
 * most PIPE_BUF bytes on standard error per line. The only library code that writes to a
 * standard stream (tools/check_code.py names it): everything else reports through its status
 * and struct sf_err, and the serving processes say what happens through here.
 */
#include "serflow/log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const sf_log_level_words[] = {"error", "warn", "info", "debug", NULL};
const char *const sf_log_format_words[] = {"text", "json", NULL};
static const char *const LEVEL_NAMES[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* Bytes kept free at the end of a line for what closes it ("...", a quote, "}", newline). */
#define LOG_CLOSE_RESERVE 8

static atomic_int log_level = SF_LOG_INFO;
static atomic_int log_active = 0;
static int log_format = SF_LOG_TEXT;
static char log_proc[SF_LOG_PROC_BYTES] = "serflow";
static long log_pid;

static int clamp_level(int level)
{
    return level < SF_LOG_ERROR ? SF_LOG_ERROR : level > SF_LOG_DEBUG ? SF_LOG_DEBUG : level;
}

void sf_log_setup(const char *proc, int level, int format)
{
    snprintf(log_proc, sizeof(log_proc), "%s", proc && *proc ? proc : "serflow");
    log_format = format == SF_LOG_JSON ? SF_LOG_JSON : SF_LOG_TEXT;
    log_pid = (long)getpid();
    atomic_store(&log_level, clamp_level(level));
    atomic_store(&log_active, 1);
}

int sf_log_active(void)
{
    return atomic_load(&log_active);
}

int sf_log_get_level(void)
{
    return atomic_load(&log_level);
}

void sf_log_set_level(int level)
{
    atomic_store(&log_level, clamp_level(level));
}

int sf_log_get_format(void)
{
    return log_format;
}

int sf_log_on(int level)
{
    return atomic_load(&log_active) && level <= atomic_load(&log_level);
}

/* A line being built: `full` once something did not fit (the rest of the line is left out). */
struct line {
    char *p;
    size_t len, cap;
    int full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (n > l->cap - LOG_CLOSE_RESERVE - l->len) {
        l->full = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Text values need quotes when empty or holding a space, '=', a quote, a backslash or anything
 * outside printable ASCII. */
static int needs_quotes(const char *s, size_t n)
{
    if (!n)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '=' || c == '"' || c == '\\')
            return 1;
    }
    return 0;
}

/* The escaped body of a string (no quotes): a backslash and a quote escaped, every other
 * character as sf_str_escape shows it (printable ASCII and UTF-8 as is, controls as \n, \t, \r,
 * \xNN, invisible or reordering characters as \uXXXX); in JSON, \xNN is written \\xNN (JSON has
 * no such escape, and the line stays valid UTF-8). A value that does not fit is cut with "...". */
static void put_escaped(struct line *l, const char *s, size_t n, int json)
{
    char piece[8];
    size_t k;
    for (size_t i = 0; i < n && !l->full;) {
        size_t take;
        if (s[i] == '\\' || s[i] == '"') {
            piece[0] = '\\';
            piece[1] = s[i];
            k = 2;
            take = 1;
        } else {
            take = sf_str_escape_one(s, i, n, piece, &k);
            if (json && k == 4 && piece[0] == '\\' && piece[1] == 'x') {
                memmove(piece + 1, piece, 4);
                k = 5;
            }
        }
        if (k > l->cap - LOG_CLOSE_RESERVE - l->len) {
            /* cut: "..." always fits in the reserve */
            memcpy(l->p + l->len, "...", 3);
            l->len += 3;
            l->full = 1;
            return;
        }
        memcpy(l->p + l->len, piece, k);
        l->len += k;
        i += take;
    }
}

static void put_string(struct line *l, const char *s, int json)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    int q = json || needs_quotes(s, n);
    if (q)
        put(l, "\"", 1);
    put_escaped(l, s, n, json);
    if (q && !l->full)
        put(l, "\"", 1);
    else if (q) { /* cut inside the quotes: close them in the reserve */
        l->p[l->len++] = '"';
    }
}

static void put_key(struct line *l, const char *key, int json, int first)
{
    if (json) {
        if (!first)
            put(l, ",", 1);
        put(l, "\"", 1);
        put_escaped(l, key, strlen(key), 1);
        put(l, "\":", 2);
    } else {
        if (!first)
            put(l, " ", 1);
        put_escaped(l, key, strlen(key), 0);
        put(l, "=", 1);
    }
}

static void put_field(struct line *l, const struct sf_log_kv *f, int json)
{
    char num[64];
    switch (f->kind) {
    case SF_LOG_K_STR:
        put_string(l, f->s, json);
        return;
    case SF_LOG_K_INT:
        snprintf(num, sizeof(num), "%lld", f->i);
        break;
    case SF_LOG_K_BOOL:
        snprintf(num, sizeof(num), "%s", f->i ? "true" : "false");
        break;
    case SF_LOG_K_NUM:
        if (isfinite(f->d))
            snprintf(num, sizeof(num), "%.6g", f->d);
        else if (json)
            snprintf(num, sizeof(num), "null");
        else
            snprintf(num, sizeof(num), "%s", isnan(f->d) ? "NaN" : f->d > 0 ? "+Inf" : "-Inf");
        break;
    default:
        snprintf(num, sizeof(num), "null");
    }
    puts_(l, num);
}

size_t sf_log_format_line(char *buf, size_t size, int format, double time_s, int level,
                          const char *proc, long pid, const char *msg, const struct sf_log_kv *kv,
                          size_t n)
{
    if (size < 64)
        return 0;
    struct line l = {buf, 0, size - 1, 0}; /* room for the NUL */
    int json = format == SF_LOG_JSON;
    char ts[96];
    time_t secs = (time_t)floor(time_s);
    unsigned ms = (unsigned)((time_s - floor(time_s)) * 1000) % 1000;
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof(tm));
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    const struct sf_log_kv head[] = {SF_LS("time", ts),
                                     SF_LS("level", LEVEL_NAMES[clamp_level(level)]),
                                     SF_LS("proc", proc), SF_LI("pid", pid), SF_LS("msg", msg)};
    if (json)
        put(&l, "{", 1);
    for (size_t i = 0; i < SF_ARRAY_LEN(head) && !l.full; i++) {
        put_key(&l, head[i].key, json, i == 0);
        put_field(&l, &head[i], json);
    }
    for (size_t i = 0; i < n && !l.full; i++) {
        put_key(&l, kv[i].key, json, 0);
        put_field(&l, &kv[i], json);
    }
    /* the reserve holds the end of the line whatever was left out */
    if (json)
        l.p[l.len++] = '}';
    l.p[l.len++] = '\n';
    l.p[l.len] = '\0';
    return l.len;
}

static void write_line(const char *buf, size_t len)
{
    /* one write: at most PIPE_BUF bytes reach a pipe whole, never interleaved with another's */
    while (len) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* logs are best effort: a closed stderr never stops a server */
        buf += w;
        len -= (size_t)w;
    }
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sf_log_kv(int level, const char *msg, const struct sf_log_kv *kv, size_t n)
{
    if (!sf_log_on(level))
        return;
    char buf[SF_LOG_LINE_BYTES];
    size_t len = sf_log_format_line(buf, sizeof(buf), log_format, wall_s(), level, log_proc,
                                    log_pid, msg, kv, n);
    write_line(buf, len);
}

void sf_log_forward(const char *line, size_t len)
{
    char buf[SF_LOG_LINE_BYTES];
    if (len > sizeof(buf) - 1)
        len = sizeof(buf) - 1;
    memcpy(buf, line, len);
    if (!len || buf[len - 1] != '\n')
        buf[len++] = '\n';
    write_line(buf, len);
}

void sf_logf(int level, const char *fmt, ...)
{
    if (!sf_log_on(level))
        return;
    char msg[SF_LOG_LINE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sf_log_kv(level, msg, NULL, 0);
}
