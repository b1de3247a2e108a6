/* trace.c - arrival trace readers: per-unit counts and CSV timestamps (sim.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/trace.h"

void sf_trace_fini(struct sf_trace *t)
{
    free(t->count);
    free(t->unit_count);
    free(t->arrival_s);
    free(t->epoch_first);
    memset(t, 0, sizeof(*t));
}

/* Growable array with a hard cap; left valid on failure. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return SF_OK;
    size_t ncap = *cap ? *cap * 2 : 1024;
    while (ncap < need)
        ncap *= 2;
    void *nb = realloc(*buf, ncap * elem);
    if (!nb)
        return SF_ENOMEM;
    *buf = nb;
    *cap = ncap;
    return SF_OK;
}

/* Next line [*b, *e) starting at *pos; returns 0 at end of text. */
static int next_line(const char *text, size_t len, size_t *pos, const char **b, const char **e)
{
    if (*pos >= len)
        return 0;
    *b = text + *pos;
    const char *nl = memchr(*b, '\n', len - *pos);
    *e = nl ? nl : text + len;
    *pos = (size_t)(*e - text) + (nl ? 1 : 0);
    if (*e > *b && (*e)[-1] == '\r')
        (*e)--;
    return 1;
}

/* A line's text for a message: escaped, cut to fit. */
static const char *trace_echo(const char *b, const char *e, char *out, size_t size)
{
    return sf_str_escape(out, size, b, (size_t)(e - b));
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

int sf_trace_parse_counts(struct sf_trace *t, const char *name, const char *text, size_t len,
                          enum sf_trace_unit unit, double epoch_s, int64_t max_epochs,
                          struct sf_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!(epoch_s > 0))
        return sf_err_set(err, SF_EINVAL, "%s: epoch length must be > 0 s", name);
    int per_epoch = 1;
    if (unit == SF_TRACE_SECOND) {
        double r = round(epoch_s);
        if (fabs(epoch_s - r) > 1e-9 || r < 1)
            return sf_err_set(err, SF_EINVAL,
                              "%s: a per-second trace needs an epoch of whole seconds (got %g s)",
                              name, epoch_s);
        per_epoch = (int)r;
    }
    t->unit_s = unit == SF_TRACE_SECOND ? 1.0 : epoch_s;
    size_t cap = 0, pos = sf_bom_len(text, len);
    int64_t line = 0, max_units = max_epochs > 0 ? max_epochs * per_epoch : SF_TRACE_MAX_LINES;
    uint64_t epoch_sum = 0; /* requests so far in the epoch the next line belongs to */
    const char *b, *e;
    int rc = SF_OK;
    while (rc == SF_OK && t->n_units < max_units && next_line(text, len, &pos, &b, &e)) {
        line++;
        if (line > SF_TRACE_MAX_LINES) {
            rc = sf_err_set(err, SF_ETOOBIG, "%s:%lld: more than %lld lines", name, (long long)line,
                            SF_TRACE_MAX_LINES);
            break;
        }
        trim(&b, &e);
        if (b < e && *b == '#')
            continue;
        if (b == e) {
            if (pos >= len)
                break; /* trailing newline */
            rc = sf_err_set(err, SF_EPARSE, "%s:%lld: empty line (expected a request count)", name,
                            (long long)line);
            break;
        }
        uint64_t v = 0;
        const char *q = b;
        for (; q < e && *q >= '0' && *q <= '9'; q++) {
            v = v * 10 + (uint64_t)(*q - '0');
            if (v > SF_TRACE_MAX_PER_EPOCH)
                break;
        }
        if (v > SF_TRACE_MAX_PER_EPOCH) {
            rc = sf_err_set(err, SF_ERANGE,
                            "%s:%lld: more than %u requests on one line (the limit per epoch)",
                            name, (long long)line, SF_TRACE_MAX_PER_EPOCH);
            break;
        }
        if (q != e) {
            char shown[64];
            rc = sf_err_set(err, SF_EPARSE,
                            "%s:%lld: expected a non-negative integer request count, got '%s'%s",
                            name, (long long)line, trace_echo(b, e, shown, sizeof(shown)),
                            q == b && sf_bom_len(b, (size_t)(e - b)) ? " (a UTF-8 byte order mark)"
                                                                     : "");
            break;
        }
        if (t->n_units % per_epoch == 0) {
            epoch_sum = 0;
            if (t->n_units / per_epoch >= SF_TRACE_MAX_EPOCHS) {
                rc = sf_err_set(err, SF_ETOOBIG, "%s:%lld: more than %lld epochs", name,
                                (long long)line, SF_TRACE_MAX_EPOCHS);
                break;
            }
        }
        epoch_sum += v;
        if (epoch_sum > SF_TRACE_MAX_PER_EPOCH) {
            rc = sf_err_set(err, SF_ETOOBIG,
                            "%s:%lld: more than %u requests in epoch %lld (the limit per epoch)",
                            name, (long long)line, SF_TRACE_MAX_PER_EPOCH,
                            (long long)(t->n_units / per_epoch + 1));
            break;
        }
        if (t->n_requests + v > SF_TRACE_MAX_REQUESTS) {
            rc = sf_err_set(err, SF_ETOOBIG, "%s:%lld: more than %llu requests in the trace", name,
                            (long long)line, SF_TRACE_MAX_REQUESTS);
            break;
        }
        if (grow((void **)&t->unit_count, &cap, (size_t)t->n_units + 1, sizeof(uint32_t))) {
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
            break;
        }
        t->unit_count[t->n_units++] = (uint32_t)v;
        t->n_requests += v;
    }
    if (rc == SF_OK && t->n_units == 0)
        rc = sf_err_set(err, SF_EINVAL, "%s: no request counts in the trace", name);
    if (rc == SF_OK) {
        t->n_epochs = (t->n_units + per_epoch - 1) / per_epoch;
        t->count = calloc((size_t)t->n_epochs, sizeof(uint32_t));
        if (!t->count)
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
    }
    for (int64_t i = 0; rc == SF_OK && i < t->n_units; i++)
        t->count[i / per_epoch] += t->unit_count[i]; /* <= SF_TRACE_MAX_PER_EPOCH, checked above */
    if (rc != SF_OK)
        sf_trace_fini(t);
    return rc;
}

int sf_trace_parse_csv(struct sf_trace *t, const char *name, const char *text, size_t len,
                       double epoch_s, int64_t max_epochs, struct sf_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!(epoch_s > 0))
        return sf_err_set(err, SF_EINVAL, "%s: epoch length must be > 0 s", name);
    size_t cap = 0, pos = sf_bom_len(text, len);
    int64_t line = 0, cur_epoch = -1;
    uint64_t epoch_count = 0;
    const char *b, *e;
    int rc = SF_OK;
    double last = 0, limit = max_epochs > 0 ? (double)max_epochs * epoch_s : INFINITY;
    while (rc == SF_OK && next_line(text, len, &pos, &b, &e)) {
        line++;
        trim(&b, &e);
        if (b == e || *b == '#')
            continue;
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *fe = comma ? comma : e;
        char buf[64], shown[64];
        size_t n = (size_t)(fe - b);
        trace_echo(b, fe, shown, sizeof(shown));
        /* A header names its columns: its first field starts with a letter or a quote. */
        if (line == 1 && n > 0 && (isalpha((unsigned char)*b) || *b == '"'))
            continue;
        if (n >= sizeof(buf)) {
            rc = sf_err_set(err, SF_EPARSE, "%s:%lld: timestamp: longer than %zu characters: '%s'",
                            name, (long long)line, sizeof(buf) - 1, shown);
            break;
        }
        memcpy(buf, b, n);
        buf[n] = '\0';
        char *end;
        errno = 0;
        double ts = strtod(buf, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == buf || *end != '\0') {
            rc = sf_err_set(err, SF_EPARSE, "%s:%lld: timestamp: expected seconds, got '%s'%s",
                            name, (long long)line, shown,
                            sf_bom_len(b, n) ? " (a UTF-8 byte order mark)"
                            : line == 1      ? " (a header's first field starts with a letter)"
                                             : "");
            break;
        }
        if ((errno == ERANGE && fabs(ts) > 1) || !isfinite(ts) || ts < 0) {
            rc = sf_err_set(err, SF_ERANGE, "%s:%lld: timestamp: must be finite and >= 0 (got %s)",
                            name, (long long)line, shown);
            break;
        }
        if (ts < last) {
            rc = sf_err_set(err, SF_EINVAL,
                            "%s:%lld: timestamp: %s is before the previous %.9g (sort the file)",
                            name, (long long)line, shown, last);
            break;
        }
        if (ts / epoch_s >= (double)SF_TRACE_MAX_EPOCHS) {
            rc =
                sf_err_set(err, SF_ERANGE, "%s:%lld: timestamp: %s s is beyond %lld epochs of %g s",
                           name, (long long)line, shown, SF_TRACE_MAX_EPOCHS, epoch_s);
            break;
        }
        last = ts;
        if (ts >= limit)
            break;
        if (t->n_requests >= (uint64_t)SF_TRACE_MAX_LINES) {
            rc = sf_err_set(err, SF_ETOOBIG, "%s:%lld: more than %lld timestamps", name,
                            (long long)line, SF_TRACE_MAX_LINES);
            break;
        }
        int64_t ep = (int64_t)floor(ts / epoch_s);
        epoch_count = ep == cur_epoch ? epoch_count + 1 : 1;
        cur_epoch = ep;
        if (epoch_count > SF_TRACE_MAX_PER_EPOCH) {
            rc = sf_err_set(err, SF_ETOOBIG,
                            "%s:%lld: more than %u requests in epoch %lld (the limit per epoch)",
                            name, (long long)line, SF_TRACE_MAX_PER_EPOCH, (long long)(ep + 1));
            break;
        }
        if (grow((void **)&t->arrival_s, &cap, (size_t)t->n_requests + 1, sizeof(double))) {
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
            break;
        }
        t->arrival_s[t->n_requests++] = ts;
    }
    if (rc == SF_OK && t->n_requests == 0)
        rc = sf_err_set(err, SF_EINVAL, "%s: no timestamps in the trace", name);
    if (rc == SF_OK) {
        t->n_epochs = (int64_t)floor(last / epoch_s) + 1;
        if (max_epochs > 0 && t->n_epochs > max_epochs)
            t->n_epochs = max_epochs;
        t->count = calloc((size_t)t->n_epochs, sizeof(uint32_t));
        t->epoch_first = calloc((size_t)t->n_epochs + 1, sizeof(uint64_t));
        if (!t->count || !t->epoch_first)
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
    }
    if (rc == SF_OK) {
        for (uint64_t i = 0; i < t->n_requests; i++) {
            int64_t ep = (int64_t)floor(t->arrival_s[i] / epoch_s);
            if (ep >= t->n_epochs)
                ep = t->n_epochs - 1;
            t->count[ep]++;
        }
        for (int64_t k = 0; k < t->n_epochs; k++)
            t->epoch_first[k + 1] = t->epoch_first[k] + t->count[k];
        t->unit_s = epoch_s;
    }
    if (rc != SF_OK)
        sf_trace_fini(t);
    return rc;
}

int sf_trace_load(struct sf_trace *t, const char *path, int csv, enum sf_trace_unit unit,
                  double epoch_s, int64_t max_epochs, struct sf_err *err)
{
    char *text;
    size_t len;
    memset(t, 0, sizeof(*t));
    int rc = sf_read_file(path, SF_TRACE_FILE_BYTES, &text, &len, err);
    if (rc != SF_OK)
        return rc;
    rc = csv ? sf_trace_parse_csv(t, path, text, len, epoch_s, max_epochs, err)
             : sf_trace_parse_counts(t, path, text, len, unit, epoch_s, max_epochs, err);
    free(text);
    return rc;
}
