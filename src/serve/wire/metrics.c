/*
 * metrics.c - a small Prometheus registry: counter, gauge and histogram families with label
 * sets written by the caller, rendered in the text exposition format (version 0.0.4) that
 * `promtool check metrics` accepts. Fixed-size tables (no growth from outside input); one mutex.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct sf_metrics {
    pthread_mutex_t mu;
    struct family fam[SF_METRICS_MAX_FAMILIES];
    int n_fam;
    struct series *ser; /* SF_METRICS_MAX_SERIES */
    size_t n_ser;
    size_t dropped;
};

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
    return m;
}

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

int sf_metrics_family(struct sf_metrics *m, const char *name, enum sf_metric_type type,
                      const char *help, const double *buckets, size_t n_buckets)
{
    if (!valid_name(name) || strlen(name) >= sizeof(m->fam[0].name) ||
        n_buckets > SF_METRICS_MAX_BUCKETS)
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
    }
    pthread_mutex_unlock(&m->mu);
    return idx;
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

void sf_metrics_observe(struct sf_metrics *m, int family, const char *labels, double v)
{
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, family, labels ? labels : "");
    if (s && m->fam[family].type == SF_METRIC_HISTOGRAM) {
        const struct family *f = &m->fam[family];
        size_t b = 0;
        while (b < f->n_bounds && v > f->bounds[b])
            b++;
        s->counts[b]++;
        s->count++;
        s->value += v;
    }
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
    if ((size_t)series < m->n_ser && m->fam[m->ser[series].family].type == SF_METRIC_HISTOGRAM) {
        const struct family *f = &m->fam[m->ser[series].family];
        struct series *s = &m->ser[series];
        size_t b = 0;
        while (b < f->n_bounds && v > f->bounds[b])
            b++;
        s->counts[b]++;
        s->count++;
        s->value += v;
    }
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
    else
        put(t, "%.9g", v);
}

char *sf_metrics_render(struct sf_metrics *m, size_t *len)
{
    static const char *type_name[] = {"counter", "gauge", "histogram"};
    struct text t = {malloc(4096), 0, 4096, 0};
    if (!t.p)
        return NULL;
    t.p[0] = '\0';
    pthread_mutex_lock(&m->mu);
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
