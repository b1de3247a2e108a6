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
    unsigned f = 0;
    sscanf(v + 53, "%2x", &f);
    *flags = f;
    return SF_OK;
}

/* n random bytes as 2n lowercase hex digits, never all zero. */
static void random_hex(char *out, size_t n)
{
    unsigned char b[16];
    do
        sf_auth_random(b, n);
    while (!memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n));
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void sf_reqtrace_begin(struct sf_reqtrace *t, const char *request_id, const char *traceparent)
{
    memset(t, 0, sizeof(*t));
    if (sf_request_id_valid(request_id)) {
        snprintf(t->request_id, sizeof(t->request_id), "%s", request_id);
        t->given_id = 1;
    } else { /* a UUID v4 */
        unsigned char r[16];
        sf_auth_random(r, sizeof(r));
        r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
        r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
        snprintf(t->request_id, sizeof(t->request_id),
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
                 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
                 r[15]);
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
    snprintf(buf, size, "00-%s-%s-%02x", t->trace_id, t->span_id, t->flags & 0xffu);
    return buf;
}
