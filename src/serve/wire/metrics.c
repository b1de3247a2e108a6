/*
 * metrics.c - a small Prometheus registry: counter, gauge and histogram families with label
 * sets written by the caller, every series present at 0 from its family's declaration, rendered
 * in the text exposition format (version 0.0.4) that `promtool check metrics` accepts; the
 * build's identity and the process's CPU, memory, descriptors and start time in every registry.
 * Fixed-size tables (no growth from outside input); one mutex.
 */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "serflow/metrics.h"

/* Label strings longer than this are refused (they come from our own code, never a client). */
#define LABELS_MAX 160

struct family {
    char name[96];
    char help[160];
    enum sf_metric_type type;
    double bounds[SF_METRICS_MAX_BUCKETS];
    size_t n_bounds;
};

struct series {
    int family;
    char labels[LABELS_MAX];
    double value; /* counter / gauge; histogram: sum */
    uint64_t
        counts[SF_METRICS_MAX_BUCKETS + 1]; /* histogram: per bucket (not cumulative), +Inf last */
    uint64_t count;
};

/* The families every registry has (sf_metrics_new), refreshed at each render. */
enum { PROC_CPU = 0, PROC_RSS, PROC_VSZ, PROC_FDS, PROC_MAX_FDS, PROC_START, PROC_COUNT };

struct sf_metrics {
    pthread_mutex_t mu;
    struct family fam[SF_METRICS_MAX_FAMILIES];
    int n_fam;
    struct series *ser; /* SF_METRICS_MAX_SERIES */
    size_t n_ser;
    size_t dropped;
    int proc_fam[PROC_COUNT];
    double start_time_s; /* the process's start, seconds since the epoch */
};

/* The process's start time (seconds since the epoch) from /proc: its start in clock ticks after
 * boot (/proc/self/stat, field 22) plus the boot time (/proc/stat btime); now when unreadable. */
static double process_start_s(void)
{
    double now = (double)time(NULL);
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return now;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return now;
    unsigned long long ticks = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ' && ++field == 22)
            ticks = strtoull(p + 1, NULL, 10);
    unsigned long long btime = 0;
    char line[256];
    f = fopen("/proc/stat", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "btime ", 6))
            btime = strtoull(line + 6, NULL, 10);
    if (f)
        fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0 || !ticks)
        return now;
    return (double)btime + (double)ticks / (double)hz;
}

/* A label value for the exposition format: backslash, quote and newline escaped. */
static void label_escape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 3 < size; in++) {
        if (*in == '"' || *in == '\\' || *in == '\n') {
            out[o++] = '\\';
            out[o++] = *in == '\n' ? 'n' : *in;
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

struct sf_metrics *sf_metrics_new(void)
{
    struct sf_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->ser = calloc(SF_METRICS_MAX_SERIES, sizeof(*m->ser));
    if (!m->ser) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    /* which build answers: a constant 1 whose labels say it (the Prometheus convention) */
    char ver[64], commit[64], labels[160];
    label_escape(sf_version(), ver, sizeof(ver));
    label_escape(sf_build_commit()[0] ? sf_build_commit() : "unknown", commit, sizeof(commit));
    snprintf(labels, sizeof(labels), "version=\"%s\",commit=\"%s\"", ver, commit);
    const char *const build[] = {labels, NULL};
    int b = sf_metrics_family(m, "serflow_build_info", SF_METRIC_GAUGE,
                              "The build: its version and git commit (always 1).", NULL, 0, build);
    if (b >= 0)
        sf_metrics_set(m, b, labels, 1);
    static const struct {
        const char *name, *help;
        enum sf_metric_type type;
    } proc[PROC_COUNT] = {
        {"process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
         SF_METRIC_COUNTER},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", SF_METRIC_GAUGE},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", SF_METRIC_GAUGE},
        {"process_open_fds", "Open file descriptors.", SF_METRIC_GAUGE},
        {"process_max_fds", "Most file descriptors the process may open.", SF_METRIC_GAUGE},
        {"process_start_time_seconds",
         "Start time of the process since the Unix epoch, in seconds.", SF_METRIC_GAUGE},
    };
    for (int i = 0; i < PROC_COUNT; i++)
        m->proc_fam[i] =
            sf_metrics_family(m, proc[i].name, proc[i].type, proc[i].help, NULL, 0, NULL);
    m->start_time_s = process_start_s();
    return m;
}

/* The process metrics now (locked by the caller: values written straight into the series). */
static void refresh_process(struct sf_metrics *m);

void sf_metrics_free(struct sf_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->ser);
    free(m);
}

static int valid_name(const char *s)
{
    if (!s || !*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

static struct series *find(struct sf_metrics *m, int family, const char *labels);

int sf_metrics_family(struct sf_metrics *m, const char *name, enum sf_metric_type type,
                      const char *help, const double *buckets, size_t n_buckets,
                      const char *const *label_sets)
{
    size_t nl = name ? strlen(name) : 0;
    if (!valid_name(name) || nl >= sizeof(m->fam[0].name) || n_buckets > SF_METRICS_MAX_BUCKETS)
        return SF_EINVAL;
    /* the naming convention: a counter's samples are totals */
    if (type == SF_METRIC_COUNTER && (nl < 6 || strcmp(name + nl - 6, "_total") != 0))
        return SF_EINVAL;
    for (size_t i = 0; i < n_buckets; i++)
        if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
            return SF_EINVAL;
    pthread_mutex_lock(&m->mu);
    int idx = SF_ETOOBIG;
    if (m->n_fam < SF_METRICS_MAX_FAMILIES) {
        idx = m->n_fam++;
        struct family *f = &m->fam[idx];
        snprintf(f->name, sizeof(f->name), "%s", name);
        snprintf(f->help, sizeof(f->help), "%s", help ? help : "");
        f->type = type;
        f->n_bounds = type == SF_METRIC_HISTOGRAM ? n_buckets : 0;
        if (f->n_bounds)
            memcpy(f->bounds, buckets, n_buckets * sizeof(double));
        /* every series from the start, at 0 */
        if (!label_sets)
            find(m, idx, "");
        for (size_t i = 0; label_sets && label_sets[i]; i++)
            find(m, idx, label_sets[i]);
    }
    pthread_mutex_unlock(&m->mu);
    return idx;
}

void sf_metrics_declare(struct sf_metrics *m, int family, const char *labels)
{
    pthread_mutex_lock(&m->mu);
    find(m, family, labels ? labels : "");
    pthread_mutex_unlock(&m->mu);
}

/* The series of (family, labels), created on first use; NULL when the table is full. Locked. */
static struct series *find(struct sf_metrics *m, int family, const char *labels)
{
    if (family < 0 || family >= m->n_fam || strlen(labels) >= LABELS_MAX) {
        m->dropped++;
        return NULL;
    }
    for (size_t i = 0; i < m->n_ser; i++)
        if (m->ser[i].family == family && !strcmp(m->ser[i].labels, labels))
            return &m->ser[i];
    if (m->n_ser >= SF_METRICS_MAX_SERIES) {
        m->dropped++;
        return NULL;
    }
    struct series *s = &m->ser[m->n_ser++];
    memset(s, 0, sizeof(*s));
    s->family = family;
    snprintf(s->labels, sizeof(s->labels), "%s", labels);
    return s;
}

void sf_metrics_add(struct sf_metrics *m, int family, const char *labels, double v)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, family, labels ? labels : "");
    if (s)
        s->value += v;
    pthread_mutex_unlock(&m->mu);
}

void sf_metrics_set(struct sf_metrics *m, int family, const char *labels, double v)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, family, labels ? labels : "");
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->mu);
}

/* One observation of a histogram series (m->mu held): its bucket, count and sum; nothing for a
 * series of another type. */
static void observe_locked(struct sf_metrics *m, struct series *s, double v)
{
    const struct family *f = &m->fam[s->family];
    if (f->type != SF_METRIC_HISTOGRAM)
        return;
    size_t b = 0;
    while (b < f->n_bounds && v > f->bounds[b])
        b++;
    s->counts[b]++;
    s->count++;
    s->value += v;
}

void sf_metrics_observe(struct sf_metrics *m, int family, const char *labels, double v)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, family, labels ? labels : "");
    if (s)
        observe_locked(m, s, v);
    pthread_mutex_unlock(&m->mu);
}

int sf_metrics_series(struct sf_metrics *m, int family, const char *labels)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, family, labels ? labels : "");
    int h = s ? (int)(s - m->ser) : SF_ETOOBIG;
    pthread_mutex_unlock(&m->mu);
    return h;
}

void sf_metrics_add_at(struct sf_metrics *m, int series, double v)
{
    if (series < 0)
        return;
    pthread_mutex_lock(&m->mu);
    if ((size_t)series < m->n_ser)
        m->ser[series].value += v;
    pthread_mutex_unlock(&m->mu);
}

void sf_metrics_observe_at(struct sf_metrics *m, int series, double v)
{
    if (series < 0)
        return;
    pthread_mutex_lock(&m->mu);
    if ((size_t)series < m->n_ser)
        observe_locked(m, &m->ser[series], v);
    pthread_mutex_unlock(&m->mu);
}

double sf_metrics_get(struct sf_metrics *m, int family, const char *labels)
{
    double v = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_ser; i++)
        if (m->ser[i].family == family && !strcmp(m->ser[i].labels, labels ? labels : ""))
            v = m->ser[i].value;
    pthread_mutex_unlock(&m->mu);
    return v;
}

size_t sf_metrics_dropped(struct sf_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    size_t d = m->dropped;
    pthread_mutex_unlock(&m->mu);
    return d;
}

/* A growing text buffer for rendering; `failed` sticks after an allocation failure. */
struct text {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)w + 1;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

/* Prometheus float formatting: integers without a fraction, +Inf for infinity. */
static void put_value(struct text *t, double v)
{
    if (isinf(v))
        put(t, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        put(t, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15)
        put(t, "%.0f", v);
    else { /* the shortest of 15 or 17 digits that reads back as v (a start time in seconds
            * needs more than 9) */
        char b[40];
        snprintf(b, sizeof(b), "%.15g", v);
        if (strtod(b, NULL) != v)
            snprintf(b, sizeof(b), "%.17g", v);
        put(t, "%s", b);
    }
}

char *sf_metrics_render(struct sf_metrics *m, size_t *len)
{
    static const char *type_name[] = {"counter", "gauge", "histogram"};
    struct text t = {malloc(4096), 0, 4096, 0};
    if (!t.p)
        return NULL;
    t.p[0] = '\0';
    pthread_mutex_lock(&m->mu);
    refresh_process(m);
    for (int fi = 0; fi < m->n_fam; fi++) {
        const struct family *f = &m->fam[fi];
        put(&t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_name[f->type]);
        for (size_t i = 0; i < m->n_ser; i++) {
            const struct series *s = &m->ser[i];
            if (s->family != fi)
                continue;
            const char *sep = s->labels[0] ? "," : "";
            if (f->type != SF_METRIC_HISTOGRAM) {
                put(&t, s->labels[0] ? "%s{%s} " : "%s ", f->name, s->labels);
                put_value(&t, s->value);
                put(&t, "\n");
                continue;
            }
            uint64_t cum = 0;
            for (size_t b = 0; b <= f->n_bounds; b++) {
                cum += s->counts[b];
                put(&t, "%s_bucket{%s%sle=\"", f->name, s->labels, sep);
                put_value(&t, b < f->n_bounds ? f->bounds[b] : INFINITY);
                put(&t, "\"} %llu\n", (unsigned long long)cum);
            }
            put(&t, s->labels[0] ? "%s_sum{%s} " : "%s_sum ", f->name, s->labels);
            put_value(&t, s->value);
            if (s->labels[0])
                put(&t, "\n%s_count{%s} %llu\n", f->name, s->labels, (unsigned long long)s->count);
            else
                put(&t, "\n%s_count %llu\n", f->name, (unsigned long long)s->count);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    if (len)
        *len = t.len;
    return t.p;
}

/* Sets a process family's one series (locked). */
static void proc_set(struct sf_metrics *m, int which, double v)
{
    struct series *s = m->proc_fam[which] >= 0 ? find(m, m->proc_fam[which], "") : NULL;
    if (s)
        s->value = v;
}

static void refresh_process(struct sf_metrics *m)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        proc_set(m, PROC_CPU,
                 (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long vsz_pages = 0, rss_pages = 0;
    if (f && fscanf(f, "%llu %llu", &vsz_pages, &rss_pages) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        proc_set(m, PROC_VSZ, (double)vsz_pages * (double)page);
        proc_set(m, PROC_RSS, (double)rss_pages * (double)page);
    }
    if (f)
        fclose(f);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long n = 0;
        while (readdir(d))
            n++;
        closedir(d);
        proc_set(m, PROC_FDS, (double)(n > 3 ? n - 3 : 0)); /* not ".", ".." nor the listing's */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        proc_set(m, PROC_MAX_FDS, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    proc_set(m, PROC_START, m->start_time_s);
}

int sf_metrics_scrape(const char *text, const char *name, const char *labels, double *value)
{
    size_t nl = strlen(name), ll = strlen(labels);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] != '#' && len > nl && !strncmp(line, name, nl)) {
            const char *p = line + nl;
            int match = 0;
            if (ll == 0 && *p == ' ') {
                match = 1;
                p++;
            } else if (ll && *p == '{' && !strncmp(p + 1, labels, ll) && p[1 + ll] == '}' &&
                       p[2 + ll] == ' ') {
                match = 1;
                p += ll + 3;
            }
            if (match) {
                char *e;
                double v = strtod(p, &e);
                if (e == p)
                    return SF_EPARSE;
                *value = v;
                return SF_OK;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return SF_ENOTFOUND;
}
