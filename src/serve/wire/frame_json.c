/*
 * frame_json.c - a binary frame inside a JSON document, for AWS Lambda's Invoke API, which takes
 * and gives JSON only: {"serflow_frame":"<base64>"} (RFC 4648 alphabet, padded). The reader
 * accepts that one member with whitespace around its tokens and nothing else; the decoded size
 * is known from the text's length before anything is allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/wire.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char PREFIX[] = "{\"" SF_FRAME_JSON_KEY "\":\"";
static const char SUFFIX[] = "\"}";

int sf_frame_json_wrap(const void *frame, size_t len, char **out, size_t *out_len,
                       struct sf_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (len > SF_SERVE_MAX_BODY_BYTES)
        return sf_err_set(err, SF_ETOOBIG, "frame of %zu bytes: above the %zu-byte cap", len,
                          (size_t)SF_SERVE_MAX_BODY_BYTES);
    size_t enc = (len + 2) / 3 * 4;
    size_t total = sizeof(PREFIX) - 1 + enc + sizeof(SUFFIX) - 1;
    char *s = malloc(total + 1);
    if (!s)
        return sf_err_set(err, SF_ENOMEM, "out of memory for a %zu-byte JSON frame", total);
    char *o = s;
    memcpy(o, PREFIX, sizeof(PREFIX) - 1);
    o += sizeof(PREFIX) - 1;
    const unsigned char *p = frame;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = B64[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    memcpy(o, SUFFIX, sizeof(SUFFIX));
    *out = s;
    *out_len = total;
    return SF_OK;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Where the base64 text starts (after `{ "serflow_frame" : "`), or 0 when body does not open
 * with the wrapped shape. */
static size_t value_start(const char *body, size_t len)
{
    static const char key[] = "\"" SF_FRAME_JSON_KEY "\"";
    size_t i = skip_ws(body, len, 0);
    if (i >= len || body[i] != '{')
        return 0;
    i = skip_ws(body, len, i + 1);
    if (len - i < sizeof(key) - 1 || memcmp(body + i, key, sizeof(key) - 1) != 0)
        return 0;
    i = skip_ws(body, len, i + sizeof(key) - 1);
    if (i >= len || body[i] != ':')
        return 0;
    i = skip_ws(body, len, i + 1);
    if (i >= len || body[i] != '"')
        return 0;
    return i + 1;
}

int sf_frame_json_is_wrapped(const char *body, size_t len)
{
    return body && value_start(body, len) > 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sf_frame_json_unwrap(const char *body, size_t len, size_t max_bytes, void **out,
                         size_t *out_len, struct sf_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t a = value_start(body, len);
    if (!a)
        return sf_err_set(err, SF_EPARSE, "JSON frame: expected {\"%s\": \"<base64>\"}",
                          SF_FRAME_JSON_KEY);
    const char *q = memchr(body + a, '"', len - a);
    if (!q)
        return sf_err_set(err, SF_EPARSE, "JSON frame: the %s string does not end",
                          SF_FRAME_JSON_KEY);
    size_t b = (size_t)(q - body), n = b - a;
    size_t i = skip_ws(body, len, b + 1);
    if (i >= len || body[i] != '}' || skip_ws(body, len, i + 1) != len)
        return sf_err_set(err, SF_EPARSE,
                          "JSON frame: one member %s and nothing else is expected (byte %zu)",
                          SF_FRAME_JSON_KEY, i);
    if (n % 4)
        return sf_err_set(err, SF_EPARSE, "JSON frame: %zu base64 characters, not a multiple of 4",
                          n);
    size_t pad = n >= 1 && body[b - 1] == '=' ? (n >= 2 && body[b - 2] == '=' ? 2 : 1) : 0;
    size_t dec = n / 4 * 3 - pad;
    if (dec > max_bytes)
        return sf_err_set(err, SF_ETOOBIG, "JSON frame: %zu bytes, above the %zu-byte cap", dec,
                          max_bytes);
    unsigned char *o = malloc(dec + 1);
    if (!o)
        return sf_err_set(err, SF_ENOMEM, "out of memory for a %zu-byte frame", dec);
    size_t k = 0;
    for (size_t j = 0; j < n; j += 4) {
        int v[4];
        int last = j + 4 == n;
        for (int t = 0; t < 4; t++) {
            unsigned char c = (unsigned char)body[a + j + (size_t)t];
            v[t] = c == '=' && last && t >= 4 - (int)pad ? 0 : b64_value(c);
            if (v[t] < 0) {
                free(o);
                return sf_err_set(err, SF_EPARSE, "JSON frame: byte %zu is not base64",
                                  a + j + (size_t)t);
            }
        }
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        size_t m = last ? 3 - pad : 3;
        /* canonical: the bits a padded group drops must be zero (one encoding per frame) */
        if (last && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))) {
            free(o);
            return sf_err_set(err, SF_EPARSE, "JSON frame: non-canonical base64 padding");
        }
        unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8),
                                  (unsigned char)w};
        memcpy(o + k, bytes, m);
        k += m;
    }
    o[k] = '\0';
    *out = o;
    *out_len = k;
    return SF_OK;
}
