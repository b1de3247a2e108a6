/*
 * h1.c - HTTP/1.1 message heads, body framing, chunked bodies and request paths (RFC 9112), for
 * the ingress's event-driven server and its worker client. Strict: what a lenient parser would
 * guess at (a lone LF, whitespace before a colon, folded lines, two lengths) is refused, so that
 * this server never reads a message differently from a proxy in front of it. Every length is
 * checked against a cap before it is used; nothing is allocated.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "serflow/http.h"

/* Empty lines tolerated before a request line (RFC 9112 2.2: at least one). */
#define H1_MAX_LEADING_CRLF 2
/* Content-Length and chunk sizes at most 2^53: any body a cap lets through is far smaller, and
 * the value stays exact in a double. */
#define H1_MAX_LENGTH ((uint64_t)1 << 53)

enum {
    CK_SIZE = 0,
    CK_EXT,
    CK_SIZE_LF,
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER,
    CK_TRAILER_LF,
    CK_DONE
};

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII or obs-text (a request target, a reason phrase without spaces). */
static int is_vis(unsigned char c)
{
    return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* The end of the line that starts at p (the CR of its CRLF) within [p, end): NULL when no CRLF
 * yet; *bad set when a lone CR or LF appears first. */
static const char *line_end(const char *p, const char *end, int *bad)
{
    for (const char *q = p; q < end; q++) {
        if (*q == '\n') {
            *bad = 1; /* an LF without its CR */
            return NULL;
        }
        if (*q == '\r') {
            if (q + 1 == end)
                return NULL;
            if (q[1] != '\n')
                *bad = 1;
            return *bad ? NULL : q;
        }
    }
    return NULL;
}

static int parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
        return -1;
    *minor = p[7] - '0';
    return 0;
}

static int start_line(const char *p, const char *e, int is_request, struct sf_http_head *h,
                      struct sf_err *err)
{
    if (is_request) {
        const char *m = p;
        while (p < e && is_tchar((unsigned char)*p))
            p++;
        if (p == m || p >= e || *p != ' ')
            return sf_err_set(err, SF_EPARSE, "request line: expected a method and a space");
        h->method = m;
        h->method_len = (size_t)(p - m);
        const char *t = ++p;
        while (p < e && is_vis((unsigned char)*p))
            p++;
        if (p == t || p >= e || *p != ' ')
            return sf_err_set(err, SF_EPARSE, "request line: expected a target and a space");
        if (*t != '/' && !(p - t == 1 && *t == '*'))
            return sf_err_set(err, SF_EPARSE, "request line: the target must start with '/'");
        h->target = t;
        h->target_len = (size_t)(p - t);
        p++;
        if (parse_version(p, (size_t)(e - p), &h->minor) != 0)
            return sf_err_set(err, SF_EPARSE, "request line: expected HTTP/1.0 or HTTP/1.1");
        return SF_OK;
    }
    if ((size_t)(e - p) < 12 || parse_version(p, 8, &h->minor) != 0 || p[8] != ' ')
        return sf_err_set(err, SF_EPARSE, "status line: expected HTTP/1.x and a status");
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return sf_err_set(err, SF_EPARSE, "status line: the status is not 3 digits");
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100)
        return sf_err_set(err, SF_EPARSE, "status line: status %d", st);
    if (e - p > 12 && p[12] != ' ')
        return sf_err_set(err, SF_EPARSE, "status line: expected a space after the status");
    for (const char *q = p + 12; q < e; q++)
        if (*q != ' ' && *q != '\t' && !is_vis((unsigned char)*q))
            return sf_err_set(err, SF_EPARSE, "status line: a control byte in the reason");
    h->status = st;
    return SF_OK;
}

static int field_line(const char *p, const char *e, struct sf_http_head *h, struct sf_err *err)
{
    if (*p == ' ' || *p == '\t')
        return sf_err_set(err, SF_EPARSE, "header: a folded line (obsolete line folding)");
    const char *n = p;
    while (p < e && is_tchar((unsigned char)*p))
        p++;
    if (p == n || p >= e || *p != ':')
        return sf_err_set(err, SF_EPARSE, "header: expected a name followed by ':'");
    if (h->n_fields >= SF_HTTP_MAX_FIELDS)
        return sf_err_set(err, SF_ETOOBIG, "header: more than %d fields", SF_HTTP_MAX_FIELDS);
    struct sf_http_field *f = &h->field[h->n_fields];
    f->name = n;
    f->name_len = (size_t)(p - n);
    p++;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    const char *v = p, *last = p;
    for (; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '\t' && c != ' ' && !is_vis(c))
            return sf_err_set(err, SF_EPARSE, "header %.*s: a control byte in the value",
                              (int)(f->name_len < 64 ? f->name_len : 64), f->name);
        if (c != ' ' && c != '\t')
            last = p + 1;
    }
    f->value = v;
    f->value_len = (size_t)(last - v);
    h->n_fields++;
    return SF_OK;
}

int sf_http_parse_head(const char *buf, size_t len, int is_request, struct sf_http_head *head,
                       struct sf_err *err)
{
    memset(head, 0, offsetof(struct sf_http_head, field));
    head->head_bytes = 0;
    const char *p = buf, *end = buf + (len < SF_HTTP_MAX_HEAD_BYTES ? len : SF_HTTP_MAX_HEAD_BYTES);
    for (int i = 0;
         is_request && i < H1_MAX_LEADING_CRLF && end - p >= 2 && p[0] == '\r' && p[1] == '\n'; i++)
        p += 2;
    int first = 1;
    for (;;) {
        int bad = 0;
        const char *e = line_end(p, end, &bad);
        if (bad)
            return sf_err_set(err, SF_EPARSE, "%s: a line not ended by CRLF",
                              first ? "start line" : "header");
        if (!e) {
            if (len >= SF_HTTP_MAX_HEAD_BYTES)
                return sf_err_set(err, SF_ETOOBIG, "head: more than %d bytes",
                                  SF_HTTP_MAX_HEAD_BYTES);
            return SF_OK; /* incomplete */
        }
        if (first) {
            if (e == p)
                return sf_err_set(err, SF_EPARSE, "start line: empty");
            int rc = start_line(p, e, is_request, head, err);
            if (rc)
                return rc;
            first = 0;
        } else if (e == p) {
            head->head_bytes = (size_t)(e + 2 - buf);
            return SF_OK;
        } else {
            int rc = field_line(p, e, head, err);
            if (rc)
                return rc;
        }
        p = e + 2;
    }
}

static int name_is(const struct sf_http_field *f, const char *name)
{
    return strlen(name) == f->name_len && !strncasecmp(f->name, name, f->name_len);
}

const struct sf_http_field *sf_http_field_get(const struct sf_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (name_is(&h->field[i], name))
            return &h->field[i];
    return NULL;
}

size_t sf_http_field_count(const struct sf_http_head *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_fields; i++)
        n += name_is(&h->field[i], name);
    return n;
}

int sf_http_list_has(const char *value, size_t len, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
            e--;
        if (e - s == tl && !strncasecmp(value + s, token, tl))
            return 1;
    }
    return 0;
}

static int parse_length(const char *v, size_t n, uint64_t *out)
{
    if (!n || n > 16)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > H1_MAX_LENGTH)
        return -1;
    *out = x;
    return 0;
}

int sf_http_framing(const struct sf_http_head *h, int is_request, enum sf_http_body *kind,
                    uint64_t *length, struct sf_err *err)
{
    size_t n_cl = sf_http_field_count(h, "Content-Length");
    size_t n_te = sf_http_field_count(h, "Transfer-Encoding");
    *kind = SF_HTTP_BODY_NONE;
    *length = 0;
    if (n_cl > 1 || n_te > 1 || (n_cl && n_te))
        return sf_err_set(err, SF_EINVAL,
                          "ambiguous framing: more than one Content-Length, or Content-Length "
                          "with Transfer-Encoding, or a Transfer-Encoding other than chunked");
    if (n_te) {
        const struct sf_http_field *te = sf_http_field_get(h, "Transfer-Encoding");
        if (te->value_len != 7 || strncasecmp(te->value, "chunked", 7) != 0)
            return sf_err_set(err, SF_EINVAL,
                              "ambiguous framing: more than one Content-Length, or Content-Length "
                              "with Transfer-Encoding, or a Transfer-Encoding other than chunked");
        *kind = SF_HTTP_BODY_CHUNKED;
        return SF_OK;
    }
    if (n_cl) {
        const struct sf_http_field *cl = sf_http_field_get(h, "Content-Length");
        if (parse_length(cl->value, cl->value_len, length) != 0)
            return sf_err_set(err, SF_EINVAL, "Content-Length: '%.*s' is not a length",
                              (int)(cl->value_len < 32 ? cl->value_len : 32), cl->value);
        *kind = SF_HTTP_BODY_LENGTH;
        return SF_OK;
    }
    if (!is_request && h->status >= 200 && h->status != 204 && h->status != 304)
        return sf_err_set(err, SF_EINVAL, "response %d without Content-Length", h->status);
    return SF_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sf_http_chunked_decode(struct sf_http_chunked *c, char *buf, size_t len, size_t *consumed,
                           size_t *out_len, int *done, struct sf_err *err)
{
    size_t i = 0, o = 0;
    int rc = SF_OK;
    while (i < len && c->state != CK_DONE && rc == SF_OK) {
        char ch = buf[i];
        int v;
        switch (c->state) {
        case CK_SIZE:
            if ((v = hexval(ch)) >= 0) {
                if (c->left > (H1_MAX_LENGTH >> 4)) {
                    rc = sf_err_set(err, SF_ETOOBIG, "chunked body: a chunk size above 2^53");
                    break;
                }
                c->left = c->left * 16 + (uint64_t)v;
                c->digits++;
            } else if (!c->digits) {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: expected a chunk size");
                break;
            } else if (ch == '\r') {
                c->state = CK_SIZE_LF;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CK_EXT;
            } else {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a bad byte in a chunk size");
                break;
            }
            i++;
            break;
        case CK_EXT:
            if (ch == '\r') {
                c->state = CK_SIZE_LF;
            } else if (ch == '\n' || ((unsigned char)ch < 0x20 && ch != '\t') || ch == 0x7f) {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a control byte in an extension");
                break;
            }
            i++;
            break;
        case CK_SIZE_LF:
            if (ch != '\n') {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a size line not ended by CRLF");
                break;
            }
            i++;
            c->line_bytes = 0;
            c->digits = 0;
            c->state = c->left ? CK_DATA : CK_TRAILER;
            break;
        case CK_DATA: {
            size_t take = len - i;
            if ((uint64_t)take > c->left)
                take = (size_t)c->left;
            memmove(buf + o, buf + i, take);
            o += take;
            i += take;
            c->left -= take;
            if (!c->left)
                c->state = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
        case CK_DATA_LF:
            if (ch != (c->state == CK_DATA_CR ? '\r' : '\n')) {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a chunk's data not ended by CRLF");
                break;
            }
            i++;
            c->state = c->state == CK_DATA_CR ? CK_DATA_LF : CK_SIZE;
            break;
        case CK_TRAILER: /* trailer fields (ignored), each ended by CRLF, then an empty line */
            if (ch == '\r')
                c->state = CK_TRAILER_LF;
            else if (ch == '\n')
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a trailer not ended by CRLF");
            else
                c->line_bytes++;
            i++;
            break;
        case CK_TRAILER_LF:
            if (ch != '\n') {
                rc = sf_err_set(err, SF_EPARSE, "chunked body: a trailer not ended by CRLF");
                break;
            }
            i++;
            c->state = c->line_bytes ? CK_TRAILER : CK_DONE;
            c->line_bytes = 0;
            break;
        }
        if (rc == SF_OK && (c->state == CK_SIZE || c->state == CK_EXT || c->state == CK_SIZE_LF) &&
            ++c->line_bytes > SF_HTTP_MAX_CHUNK_LINE_BYTES)
            rc = sf_err_set(err, SF_ETOOBIG, "chunked body: a size line beyond %d bytes",
                            SF_HTTP_MAX_CHUNK_LINE_BYTES);
        if (rc == SF_OK && (c->state == CK_TRAILER || c->state == CK_TRAILER_LF) &&
            ++c->trailer_bytes > SF_HTTP_MAX_TRAILER_BYTES)
            rc = sf_err_set(err, SF_ETOOBIG, "chunked body: trailers beyond %d bytes",
                            SF_HTTP_MAX_TRAILER_BYTES);
    }
    *consumed = i;
    *out_len = o;
    *done = c->state == CK_DONE;
    return rc;
}

int sf_http_path_decode(const char *target, size_t target_len, char *out, size_t size,
                        const char **query, size_t *query_len, struct sf_err *err)
{
    *query = NULL;
    *query_len = 0;
    if (size < target_len + 1)
        return sf_err_set(err, SF_ETOOBIG, "path: longer than its buffer");
    size_t o = 0, i = 0;
    for (; i < target_len && target[i] != '?'; i++) {
        int a, b;
        if (target[i] == '%' && i + 2 < target_len && (a = hexval(target[i + 1])) >= 0 &&
            (b = hexval(target[i + 2])) >= 0) {
            char ch = (char)(a * 16 + b);
            if (!ch)
                return sf_err_set(err, SF_EINVAL, "path: %%00 (a NUL byte)");
            out[o++] = ch;
            i += 2;
        } else {
            out[o++] = target[i];
        }
    }
    out[o] = '\0';
    if (i < target_len) {
        *query = target + i + 1;
        *query_len = target_len - i - 1;
    }
    return SF_OK;
}
