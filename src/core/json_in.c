/* json_in.c - checked jansson field access with file:line errors (see json_in.h). */
#include "json_in.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- locating a path in the original text ---- */

struct scan {
    const char *p, *end;
    int line;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
}

/* Skips a string starting at '"'; sets [*b, *e) to its raw contents. */
static void skip_string(struct scan *s, const char **b, const char **e)
{
    s->p++; /* opening quote */
    *b = s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\' && s->p + 1 < s->end)
            s->p++;
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
    *e = s->p;
    if (s->p < s->end)
        s->p++;
}

/* Skips one value of any kind, iteratively (bounded by input length, no recursion). */
static void skip_value(struct scan *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return;
    const char *b, *e;
    if (*s->p == '"') {
        skip_string(s, &b, &e);
        return;
    }
    if (*s->p == '{' || *s->p == '[') {
        int nest = 0;
        while (s->p < s->end) {
            char ch = *s->p;
            if (ch == '"') {
                skip_string(s, &b, &e);
                continue;
            }
            if (ch == '{' || ch == '[')
                nest++;
            else if (ch == '}' || ch == ']')
                nest--;
            else if (ch == '\n')
                s->line++;
            s->p++;
            if (nest == 0)
                return;
        }
        return;
    }
    while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
        s->p++;
}

/* Skips the value at s and the comma after it; -1 when no comma follows (end of the container). */
static int skip_past_value(struct scan *s)
{
    skip_value(s);
    skip_ws(s);
    if (s->p >= s->end || *s->p != ',')
        return -1;
    s->p++;
    return 0;
}

/* Positions s at the value of member `key` of the object at s->p. Returns 0 when found. */
static int find_member(struct scan *s, const char *key)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    size_t klen = strlen(key);
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"')
            return -1;
        const char *b, *e;
        skip_string(s, &b, &e);
        skip_ws(s);
        if (s->p < s->end && *s->p == ':')
            s->p++;
        skip_ws(s);
        if ((size_t)(e - b) == klen && memcmp(b, key, klen) == 0)
            return 0;
        if (skip_past_value(s) != 0)
            return -1;
    }
}

static int find_element(struct scan *s, size_t index)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != '[')
        return -1;
    s->p++;
    for (size_t i = 0;; i++) {
        skip_ws(s);
        if (s->p >= s->end || *s->p == ']')
            return -1;
        if (i == index)
            return 0;
        if (skip_past_value(s) != 0)
            return -1;
    }
}

int sf__json_line_of(const char *text, size_t len, const struct sf__jstep *path, int depth,
                     const char *key)
{
    struct scan s = {text, text + len, 1};
    skip_ws(&s);
    int line = s.line;
    int steps = depth + (key ? 1 : 0);
    for (int i = 0; i < steps; i++) {
        int rc = i < depth ? (path[i].key ? find_member(&s, path[i].key)
                                          : find_element(&s, path[i].index))
                           : find_member(&s, key);
        if (rc != 0)
            break;
        skip_ws(&s);
        line = s.line;
    }
    return line;
}

/* ---- files ---- */

int sf__j_load_file(void *out, const char *path, size_t max_bytes,
                    int (*parse)(void *out, const char *name, const char *text, size_t len,
                                 struct sf_err *err),
                    struct sf_err *err)
{
    char *text;
    size_t len;
    int rc = sf_read_file(path, max_bytes, &text, &len, err);
    if (rc != SF_OK)
        return rc;
    rc = parse(out, path, text, len, err);
    free(text);
    return rc;
}

/* ---- context and errors ---- */

int sf__j_load(struct sf__jctx *c, json_t **root)
{
    json_error_t je;
    size_t bom = sf_bom_len(c->text, c->len); /* RFC 8259 lets a parser ignore it */
    *root = json_loadb(c->text + bom, c->len - bom, JSON_REJECT_DUPLICATES, &je);
    if (!*root)
        return sf_err_set(c->err, SF_EPARSE, "%s:%d: JSON syntax: %s", c->file,
                          je.line > 0 ? je.line : 1, je.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return sf_err_set(c->err, SF_EPARSE, "%s:1: top level: expected a JSON object", c->file);
    }
    return SF_OK;
}

void sf__j_push_key(struct sf__jctx *c, const char *key)
{
    if (c->depth < SF__JPATH_MAX)
        c->path[c->depth] = (struct sf__jstep){key, 0};
    c->depth++;
}

void sf__j_push_index(struct sf__jctx *c, size_t index)
{
    if (c->depth < SF__JPATH_MAX)
        c->path[c->depth] = (struct sf__jstep){NULL, index};
    c->depth++;
}

void sf__j_pop(struct sf__jctx *c)
{
    if (c->depth > 0)
        c->depth--;
}

static void format_path(const struct sf__jctx *c, const char *key, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    int depth = c->depth < SF__JPATH_MAX ? c->depth : SF__JPATH_MAX;
    for (int i = 0; i < depth && n < size; i++) {
        int w = c->path[i].key ? snprintf(out + n, size - n, "%s%s", n ? "." : "", c->path[i].key)
                               : snprintf(out + n, size - n, "[%zu]", c->path[i].index);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (key && n < size)
        snprintf(out + n, size - n, "%s%s", n ? "." : "", key);
    if (!out[0])
        snprintf(out, size, "(top level)");
}

int sf__j_fail(struct sf__jctx *c, const char *key, int status, const char *fmt, ...)
{
    if (!c->err)
        return status;
    char path[160], what[256];
    format_path(c, key, path, sizeof(path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int depth = c->depth < SF__JPATH_MAX ? c->depth : SF__JPATH_MAX;
    int line = sf__json_line_of(c->text, c->len, c->path, depth, key);
    return sf_err_set(c->err, status, "%s:%d: %s: %s", c->file, line, path, what);
}

/* ---- getters ---- */

static json_t *member(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, int *rc)
{
    *rc = SF_OK;
    json_t *v = json_object_get(obj, key);
    if (!v && (flags & SF__J_REQUIRED))
        *rc = sf__j_fail(c, key, SF_EINVAL, "missing required field");
    return v;
}

static int check_num(struct sf__jctx *c, const char *key, unsigned flags, double max, double x)
{
    if (!isfinite(x))
        return sf__j_fail(c, key, SF_ERANGE, "must be a finite number");
    if ((flags & SF__J_NONNEG) && x < 0)
        return sf__j_fail(c, key, SF_ERANGE, "must not be negative (got %g)", x);
    if ((flags & SF__J_POSITIVE) && !(x > 0))
        return sf__j_fail(c, key, SF_ERANGE, "must be positive (got %g)", x);
    if ((flags & SF__J_FRACTION) && (x < 0 || x > 1))
        return sf__j_fail(c, key, SF_ERANGE, "must be in [0, 1] (got %g)", x);
    if (x > max)
        return sf__j_fail(c, key, SF_ERANGE, "must be at most %g (got %g)", max, x);
    return SF_OK;
}

int sf__j_num(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, double max,
              double *out)
{
    int rc;
    json_t *v = member(c, obj, key, flags, &rc);
    if (!v)
        return rc;
    if (!json_is_number(v))
        return sf__j_fail(c, key, SF_EINVAL, "expected a number");
    double x = json_number_value(v);
    rc = check_num(c, key, flags, max, x);
    if (rc == SF_OK)
        *out = x;
    return rc;
}

int sf__j_int(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, long lo, long hi,
              int *out)
{
    int rc;
    json_t *v = member(c, obj, key, flags, &rc);
    if (!v)
        return rc;
    if (!json_is_integer(v))
        return sf__j_fail(c, key, SF_EINVAL, "expected an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return sf__j_fail(c, key, SF_ERANGE, "must be in [%ld, %ld] (got %lld)", lo, hi,
                          (long long)x);
    *out = (int)x;
    return SF_OK;
}

int sf__j_str_value(struct sf__jctx *c, const char *key, json_t *v, unsigned flags, char *out,
                    size_t out_size)
{
    if (!json_is_string(v))
        return sf__j_fail(c, key, SF_EINVAL, "expected a string");
    size_t n = json_string_length(v);
    if (n == 0 && (flags & SF__J_REQUIRED))
        return sf__j_fail(c, key, SF_EINVAL, "must not be empty");
    if (n >= out_size)
        return sf__j_fail(c, key, SF_ETOOBIG, "longer than %zu characters", out_size - 1);
    /* Strings here are names and one-line labels; they reach terminals and plot scripts. A
     * control character (and a NUL, which jansson allows as \u0000) is refused. */
    const unsigned char *b = (const unsigned char *)json_string_value(v);
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 || b[i] == 0x7f)
            return sf__j_fail(c, key, SF_EINVAL, "control character \\x%02X at offset %zu", b[i],
                              i);
    /* nor anything a terminal would hide or reorder (a bidi override makes "c6i.large" of
     * "c6i.\u202Eegral"): such a name cannot be told from another when printed */
    if (!sf_str_plain(json_string_value(v), n)) {
        char esc[256];
        sf_str_escape(esc, sizeof(esc), json_string_value(v), n);
        return sf__j_fail(c, key, SF_EINVAL,
                          "invisible, reordering or C1 control character in \"%s\"", esc);
    }
    memcpy(out, json_string_value(v), n + 1);
    return SF_OK;
}

int sf__j_str(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, char *out,
              size_t out_size)
{
    int rc;
    json_t *v = member(c, obj, key, flags, &rc);
    if (!v)
        return rc;
    return sf__j_str_value(c, key, v, flags, out, out_size);
}

int sf__j_int_array(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                    size_t min_len, size_t max_len, long long lo, long long hi, long long *out,
                    size_t *n)
{
    json_t *a;
    *n = 0;
    int rc = sf__j_arr(c, obj, key, flags, max_len, &a);
    if (rc != SF_OK || !a)
        return rc;
    if (json_array_size(a) < min_len)
        return sf__j_fail(c, key, SF_EINVAL, "needs at least %zu entries", min_len);
    sf__j_push_key(c, key);
    for (size_t i = 0; rc == SF_OK && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        sf__j_push_index(c, i);
        if (!json_is_integer(v))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an integer");
        else if (json_integer_value(v) < lo || json_integer_value(v) > hi)
            rc = sf__j_fail(c, NULL, SF_ERANGE, "must be in [%lld, %lld] (got %lld)", lo, hi,
                            (long long)json_integer_value(v));
        else
            out[(*n)++] = json_integer_value(v);
        sf__j_pop(c);
    }
    sf__j_pop(c);
    return rc;
}

int sf__j_obj(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, json_t **out)
{
    int rc;
    *out = NULL;
    json_t *v = member(c, obj, key, flags, &rc);
    if (!v)
        return rc;
    if (!json_is_object(v))
        return sf__j_fail(c, key, SF_EINVAL, "expected an object");
    *out = v;
    return SF_OK;
}

int sf__j_arr(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, size_t max_len,
              json_t **out)
{
    int rc;
    *out = NULL;
    json_t *v = member(c, obj, key, flags, &rc);
    if (!v)
        return rc;
    if (!json_is_array(v))
        return sf__j_fail(c, key, SF_EINVAL, "expected an array");
    if (json_array_size(v) > max_len)
        return sf__j_fail(c, key, SF_ETOOBIG, "more than %zu entries", max_len);
    *out = v;
    return SF_OK;
}

int sf__j_num_array(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, double max,
                    size_t n, double *out)
{
    json_t *a;
    int rc = sf__j_arr(c, obj, key, flags, (size_t)-1, &a);
    if (rc != SF_OK || !a)
        return rc;
    if (json_array_size(a) != n)
        return sf__j_fail(c, key, SF_EINVAL, "expected %zu entries (one per stage), got %zu", n,
                          json_array_size(a));
    sf__j_push_key(c, key);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        sf__j_push_index(c, i);
        if (!json_is_number(v))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected a number");
        else
            rc = check_num(c, NULL, flags, max, json_number_value(v));
        sf__j_pop(c);
        if (rc != SF_OK)
            break;
        out[i] = json_number_value(v);
    }
    sf__j_pop(c);
    return rc;
}

int sf__j_known(struct sf__jctx *c, json_t *obj, const char *const *keys)
{
    static const char *const info[] = {"source",      "sources",    "notes",
                                       "description", "provenance", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        int ok = !strncmp(key, "x_", 2);
        for (const char *const *k = keys; !ok && *k; k++)
            ok = !strcmp(*k, key);
        for (const char *const *k = info; !ok && *k; k++)
            ok = !strcmp(*k, key);
        if (ok)
            continue;
        char list[256] = "";
        size_t n = 0;
        for (const char *const *k = keys; *k && n < sizeof(list); k++) {
            int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *k);
            if (w > 0)
                n += (size_t)w;
        }
        return sf__j_fail(c, key, SF_EINVAL, "unknown field (known here: %s; or x_* for your own)",
                          list);
    }
    return SF_OK;
}

int sf__j_format(struct sf__jctx *c, json_t *root, const char *expect)
{
    char fmt[64] = "";
    int rc = sf__j_str(c, root, "format", SF__J_REQUIRED, fmt, sizeof(fmt));
    if (rc != SF_OK)
        return rc;
    if (strcmp(fmt, expect) != 0)
        return sf__j_fail(c, "format", SF_EUNSUPPORTED,
                          "unsupported format \"%s\" (expected \"%s\")", fmt, expect);
    return SF_OK;
}

/* ---- quantities with units ---- */

struct unit {
    const char *name;
    double to_base;
};

static const struct unit time_units[] = {{"s", 1},    {"ms", 1e-3},   {"us", 1e-6},
                                         {"min", 60}, {"hour", 3600}, {NULL, 0}};
static const struct unit usd_per_time_units[] = {
    {"USD/s", 1}, {"USD/min", 1.0 / 60}, {"USD/hour", 1.0 / 3600}, {NULL, 0}};
static const struct unit usd_per_gb_s_units[] = {{"USD/GB-s", 1}, {NULL, 0}};
static const struct unit usd_per_req_units[] = {
    {"USD/request", 1}, {"USD/1M-requests", 1e-6}, {NULL, 0}};
static const struct unit byte_units[] = {{"B", 1},      {"KB", 1e3},        {"MB", 1e6},
                                         {"KiB", 1024}, {"MiB", 1048576.0}, {NULL, 0}};

int sf__j_quantity(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                   enum sf__qkind kind, double max, double *out)
{
    static const struct unit *tables[] = {time_units, usd_per_time_units, usd_per_gb_s_units,
                                          usd_per_req_units, byte_units};
    json_t *q;
    int rc = sf__j_obj(c, obj, key, flags, &q);
    if (rc != SF_OK || !q)
        return rc;
    double value = 0;
    char unit[64] = "";
    sf__j_push_key(c, key);
    static const char *const qkeys[] = {"value", "unit", NULL};
    rc = sf__j_known(c, q, qkeys);
    if (rc == SF_OK)
        rc = sf__j_num(c, q, "value", flags | SF__J_REQUIRED, INFINITY, &value);
    if (rc == SF_OK)
        rc = sf__j_str(c, q, "unit", SF__J_REQUIRED, unit, sizeof(unit));
    if (rc == SF_OK) {
        const struct unit *u = tables[kind];
        for (; u->name; u++)
            if (!strcmp(u->name, unit))
                break;
        if (u->name && value * u->to_base > max) {
            rc = sf__j_fail(c, "value", SF_ERANGE, "must be at most %g %s (got %g)",
                            max / u->to_base, unit, value);
        } else if (u->name) {
            *out = value * u->to_base;
        } else {
            char list[160] = "";
            size_t n = 0;
            for (const struct unit *v = tables[kind]; v->name && n < sizeof(list); v++) {
                int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", v->name);
                if (w > 0)
                    n += (size_t)w;
            }
            rc = sf__j_fail(c, "unit", SF_EUNSUPPORTED, "unknown unit \"%s\" (accepted: %s)", unit,
                            list);
        }
    }
    sf__j_pop(c);
    return rc;
}
