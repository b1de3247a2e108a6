/* util.c - small shared helpers: monotonic clock, double comparator, string copy, escaping of
 * untrusted text (core.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "serflow/core.h"

double sf_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int sf_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a))
        return SF_EIO;
    int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) || pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc ? SF_EIO : SF_OK;
}

void sf_cond_wait_s(pthread_cond_t *cv, pthread_mutex_t *mu, double wait_s)
{
    if (!(wait_s > 0))
        return;
    /* about 12 days: no wait here is longer, and tv_sec stays far from overflow */
    if (wait_s > 1e6)
        wait_s = 1e6;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)(wait_s * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(cv, mu, &ts);
}

void sf_thread_name(const char *fmt, int idx)
{
    char name[16];
    snprintf(name, sizeof(name), fmt, idx);
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

int sf_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

char *sf_strdup(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0 when it is not one or
 * encodes a C1 control (U+0080..U+009F, which terminals may act on). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xC2)
        lo = 0xA0; /* U+0080..U+009F are C1 controls */
    else if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

size_t sf_str_escape_one(const char *in, size_t i, size_t n, char *piece, size_t *k)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t u;
    if (p[i] >= 0x20 && p[i] < 0x7F) {
        piece[0] = (char)p[i];
        *k = 1;
    } else if (p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
        piece[0] = '\\';
        piece[1] = p[i] == '\n' ? 'n' : p[i] == '\t' ? 't' : 'r';
        *k = 2;
    } else if ((u = utf8_len(p + i, n - i)) > 0) {
        unsigned cp = u == 2   ? (p[i] & 0x1Fu) << 6 | (p[i + 1] & 0x3Fu)
                      : u == 3 ? (p[i] & 0x0Fu) << 12 | (p[i + 1] & 0x3Fu) << 6 | (p[i + 2] & 0x3Fu)
                               : 0x10000; /* 4-byte sequences are never invisible here */
        /* invisible or reordering characters (zero-width, bidi overrides, byte order mark) would
         * hide or disguise text on a terminal: shown as \uXXXX */
        if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
            (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF) {
            snprintf(piece, 8, "\\u%04X", cp);
            *k = 6;
        } else {
            memcpy(piece, p + i, u);
            *k = u;
        }
        return u;
    } else {
        snprintf(piece, 5, "\\x%02X", p[i]);
        *k = 4;
    }
    return 1;
}

char *sf_str_escape(char *out, size_t out_size, const char *in, size_t in_len)
{
    char piece[8];
    size_t k, need = 0;
    if (out_size < 4) {
        if (out_size)
            out[0] = '\0';
        return out;
    }
    for (size_t i = 0; i < in_len && need < out_size;) {
        i += sf_str_escape_one(in, i, in_len, piece, &k);
        need += k;
    }
    /* all of it when it fits, else as much as leaves room for "..." */
    size_t limit = need <= out_size - 1 ? out_size - 1 : out_size - 4, o = 0;
    for (size_t i = 0; i < in_len;) {
        size_t take = sf_str_escape_one(in, i, in_len, piece, &k);
        if (o + k > limit)
            break;
        memcpy(out + o, piece, k);
        o += k;
        i += take;
    }
    if (need > out_size - 1) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

int sf_str_plain(const char *in, size_t in_len)
{
    const unsigned char *p = (const unsigned char *)in;
    char piece[8];
    size_t k;
    for (size_t i = 0; i < in_len;) {
        size_t take = sf_str_escape_one(in, i, in_len, piece, &k);
        if (k != take || memcmp(piece, p + i, k) != 0)
            return 0;
        i += take;
    }
    return 1;
}

size_t sf_bom_len(const char *text, size_t len)
{
    return len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

void sf_argv_init(struct sf_argv *a)
{
    a->n = 0;
    a->used = 0;
    a->v[0] = NULL;
}

int sf_argv_add(struct sf_argv *a, const char *s)
{
    size_t len = strlen(s) + 1;
    if (a->n >= SF_ARGV_MAX || len > sizeof(a->buf) - a->used)
        return SF_ETOOBIG;
    char *dst = a->buf + a->used;
    memcpy(dst, s, len);
    a->used += len;
    a->v[a->n++] = dst;
    a->v[a->n] = NULL;
    return SF_OK;
}

int sf_argv_addf(struct sf_argv *a, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(tmp))
        return SF_ETOOBIG;
    return sf_argv_add(a, tmp);
}
