/*
 * util.c - small helpers of the aws module: the capped text buffer, SHA-256 in hex, the default
 * hooks (clocks, sleep, a SplitMix64 uniform), the redacting debug log, header-line reading.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aws_int.h"

void sf__abuf_init(struct sf__abuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void sf__abuf_add(struct sf__abuf *b, const void *data, size_t n)
{
    if (b->status)
        return;
    if (n > b->max || b->len > b->max - n) {
        b->status = SF_ETOOBIG;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1)
            c *= 2;
        if (c > b->max + 1)
            c = b->max + 1;
        char *q = malloc(c);
        if (!q) {
            b->status = SF_ENOMEM;
            return;
        }
        if (b->p) {
            memcpy(q, b->p, b->len);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = q;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sf__abuf_str(struct sf__abuf *b, const char *s)
{
    sf__abuf_add(b, s, strlen(s));
}

void sf__abuf_ch(struct sf__abuf *b, char ch)
{
    sf__abuf_add(b, &ch, 1);
}

void sf__abuf_fmt(struct sf__abuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        if (!b->status)
            b->status = SF_ETOOBIG;
        return;
    }
    sf__abuf_add(b, tmp, (size_t)n);
}

void sf__abuf_fini(struct sf__abuf *b)
{
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
}

char *sf__abuf_take(struct sf__abuf *b)
{
    if (b->status) {
        sf__abuf_fini(b);
        return NULL;
    }
    if (!b->p)
        sf__abuf_add(b, "", 0);
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sf__sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) {
        memset(hex, '0', 64); /* unreachable with a working libcrypto: signs nothing valid */
        hex[64] = '\0';
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double def_wall(void *ctx)
{
    (void)ctx;
    return clock_s(CLOCK_REALTIME);
}

static double def_mono(void *ctx)
{
    (void)ctx;
    return clock_s(CLOCK_MONOTONIC);
}

static void def_sleep(void *ctx, double s)
{
    (void)ctx;
    if (!(s > 0))
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void sf__hooks_init(struct sf__hooks *out, const struct sf_aws_hooks *in)
{
    memset(out, 0, sizeof(*out));
    if (in)
        out->h = *in;
    if (!out->h.wall_s)
        out->h.wall_s = def_wall;
    if (!out->h.mono_s)
        out->h.mono_s = def_mono;
    if (!out->h.sleep_s)
        out->h.sleep_s = def_sleep;
    /* jitter only: not a secret, so the clock and the pid are seed enough */
    out->rng = (uint64_t)(clock_s(CLOCK_REALTIME) * 1e9) ^ ((uint64_t)getpid() << 32) ^
               (uint64_t)(uintptr_t)out;
}

double sf__hooks_uniform(struct sf__hooks *h)
{
    if (h->h.uniform) {
        double u = h->h.uniform(h->h.ctx);
        return u >= 0 && u < 1 ? u : 0;
    }
    return (double)(sf_splitmix64(&h->rng) >> 11) * 0x1.0p-53;
}

void sf__log(struct sf__hooks *h, const char *fmt, ...)
{
    if (!h->h.log)
        return;
    char raw[2048], shown[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;
    sf_aws_redact(shown, sizeof(shown), raw, len);
    OPENSSL_cleanse(raw, sizeof(raw));
    h->h.log(h->h.ctx, shown);
}

int sf__header_value(const char *line, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *v = line + nl + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (size) {
        size_t k = vl < size - 1 ? vl : size - 1;
        memcpy(out, v, k);
        out[k] = '\0';
    }
    return 1;
}

int sf__copy(char *dst, size_t size, const char *s, const char *what, struct sf_err *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= size)
        return sf_err_set(err, SF_EINVAL, "%s: too long (%zu bytes, at most %zu)", what, n,
                          size - 1);
    memcpy(dst, s ? s : "", n + 1);
    return SF_OK;
}

void sf_aws_creds_wipe(struct sf_aws_creds *c)
{
    if (c)
        OPENSSL_cleanse(c, sizeof(*c));
}
