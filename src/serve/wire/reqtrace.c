/*
 * reqtrace.c - request ids (X-Request-Id) and W3C trace context (traceparent, Trace Context Level
 * 1) for every hop of a request: the ingress continues a client's trace or starts one, and every
 * internal call (to a worker, to the function runtime, from the runtime to an instance) carries
 * the request ids and a traceparent naming the caller's span. Values from outside are checked
 * byte by byte; anything else is replaced, never echoed.
 */
#include <stdio.h>
#include <string.h>

#include "serflow/auth.h"
#include "serflow/wire.h"

static int id_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ',';
}

int sf_request_id_valid(const char *v)
{
    if (!v)
        return 0;
    size_t n = 0;
    for (; v[n]; n++)
        if (n >= SF_REQUEST_ID_MAX_BYTES || !id_byte((unsigned char)v[n]))
            return 0;
    return n > 0;
}

int sf_request_ids_valid(const char *v)
{
    if (!v || !*v)
        return 0;
    size_t n = 0, run = 0;
    for (; v[n]; n++) {
        if (n >= SF_REQUEST_IDS_MAX_BYTES)
            return 0;
        if (v[n] == ',') {
            if (!run)
                return 0; /* an empty id */
            run = 0;
        } else if (!id_byte((unsigned char)v[n]) || ++run > SF_REQUEST_ID_MAX_BYTES) {
            return 0;
        }
    }
    return run > 0;
}

/* n lowercase hex digits at p, not all zero when nonzero is set. */
static int hex_field(const char *p, size_t n, int nonzero)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        any |= c != '0';
    }
    return !nonzero || any;
}

int sf_traceparent_parse(const char *v, char trace_id[33], char parent_id[17], unsigned *flags)
{
    /* version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
    if (!v)
        return SF_EINVAL;
    size_t n = strnlen(v, SF_TRACEPARENT_MAX_BYTES + 1);
    if (n < 55 || n > SF_TRACEPARENT_MAX_BYTES || !hex_field(v, 2, 0) || v[2] != '-' ||
        v[35] != '-' || v[52] != '-')
        return SF_EINVAL;
    if (!memcmp(v, "ff", 2))
        return SF_EINVAL; /* forbidden version */
    /* version 00 is exactly 55 bytes; a later one may go on after "-" */
    if (!memcmp(v, "00", 2) ? n != 55 : (n > 55 && v[55] != '-'))
        return SF_EINVAL;
    if (!hex_field(v + 3, 32, 1) || !hex_field(v + 36, 16, 1) || !hex_field(v + 53, 2, 0))
        return SF_EINVAL;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = '\0';
    memcpy(parent_id, v + 36, 16);
    parent_id[16] = '\0';
    /* two lowercase hex digits, checked above */
    unsigned hi = (unsigned)(v[53] <= '9' ? v[53] - '0' : v[53] - 'a' + 10);
    unsigned lo = (unsigned)(v[54] <= '9' ? v[54] - '0' : v[54] - 'a' + 10);
    *flags = hi << 4 | lo;
    return SF_OK;
}

/* Random bytes for ids come from a per-thread pool filled from the CSPRNG (getrandom) a few
 * hundred bytes at a time: every request takes 40 of them, and one system call per request each
 * was a visible part of serving one (docs/benchmarks.md "Serving"). A byte is handed out once and
 * wiped. The serving processes start their children with posix_spawn (a new image), so no forked
 * copy of a pool ever hands out the same bytes. */
#define REQTRACE_POOL_BYTES 512
static _Thread_local unsigned char pool[REQTRACE_POOL_BYTES];
static _Thread_local size_t pool_left;

static void random_bytes(unsigned char *out, size_t n)
{
    if (n > REQTRACE_POOL_BYTES) {
        sf_auth_random(out, n);
        return;
    }
    if (pool_left < n) {
        if (sf_auth_random(pool, sizeof(pool)) != SF_OK)
            memset(pool, 0, sizeof(pool)); /* getrandom does not fail once seeded */
        pool_left = sizeof(pool);
    }
    pool_left -= n;
    memcpy(out, pool + pool_left, n);
    memset(pool + pool_left, 0, n);
}

static const char HEX[] = "0123456789abcdef";

static char *put_hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *out++ = HEX[b[i] >> 4];
        *out++ = HEX[b[i] & 15];
    }
    *out = '\0';
    return out;
}

/* n random bytes as 2n lowercase hex digits, never all zero. */
static void random_hex(char *out, size_t n)
{
    unsigned char b[16];
    do
        random_bytes(b, n);
    while (!memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n));
    put_hex(out, b, n);
}

void sf_reqtrace_begin(struct sf_reqtrace *t, const char *request_id, const char *traceparent)
{
    memset(t, 0, sizeof(*t));
    if (sf_request_id_valid(request_id)) {
        snprintf(t->request_id, sizeof(t->request_id), "%s", request_id);
        t->given_id = 1;
    } else { /* a UUID v4: 8-4-4-4-12 hex digits */
        unsigned char r[16];
        random_bytes(r, sizeof(r));
        r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
        r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
        static const unsigned char cut[5] = {4, 6, 8, 10, 16};
        char *o = t->request_id;
        for (size_t k = 0, i = 0; k < 5; k++) {
            if (k)
                *o++ = '-';
            o = put_hex(o, r + i, cut[k] - i);
            i = cut[k];
        }
    }
    if (sf_traceparent_parse(traceparent, t->trace_id, t->parent_id, &t->flags) != SF_OK) {
        random_hex(t->trace_id, 16);
        t->parent_id[0] = '\0';
        t->flags = 0; /* nothing records spans here: not sampled */
    }
    random_hex(t->span_id, 8);
}

char *sf_reqtrace_header(const struct sf_reqtrace *t, char *buf, size_t size)
{
    if (size < 56 || strlen(t->trace_id) != 32 || strlen(t->span_id) != 16) {
        snprintf(buf, size, "00-%s-%s-%02x", t->trace_id, t->span_id, t->flags & 0xffu);
        return buf;
    }
    memcpy(buf, "00-", 3);
    memcpy(buf + 3, t->trace_id, 32);
    buf[35] = '-';
    memcpy(buf + 36, t->span_id, 16);
    buf[52] = '-';
    buf[53] = HEX[(t->flags >> 4) & 15];
    buf[54] = HEX[t->flags & 15];
    buf[55] = '\0';
    return buf;
}
