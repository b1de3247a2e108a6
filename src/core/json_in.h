/*
 * json_in.h - internal (core/, used by model/ and nn/): checked field access on jansson values
 * with "file:line: field: problem" errors, for every JSON file serflow reads (profiles, pricing
 * catalogs, model manifests). jansson keeps no positions for values, so on error the line is
 * recovered by walking the original text along the field's path (json_line_of); the walk runs
 * only on error paths. Every number read has a range: a lower bound from the flags and an upper
 * bound `max` (a cap from serflow/limits.h), so no value from a file reaches arithmetic unchecked.
 */
#ifndef SERFLOW_JSON_IN_H
#define SERFLOW_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

#include "serflow/core.h"

#define SF__JPATH_MAX 16

struct sf__jstep {
    const char *key; /* object member, or NULL for an array index */
    size_t index;
};

struct sf__jctx {
    const char *file;
    const char *text;
    size_t len;
    struct sf_err *err;
    struct sf__jstep path[SF__JPATH_MAX];
    int depth;
};

/* Flags for numeric checks. */
enum {
    SF__J_REQUIRED = 1 << 0,
    SF__J_NONNEG = 1 << 1,   /* >= 0 */
    SF__J_POSITIVE = 1 << 2, /* > 0 */
    SF__J_FRACTION = 1 << 3, /* in [0, 1] */
};

/* Parses text with jansson (duplicates rejected) into *root. */
int sf__j_load(struct sf__jctx *c, json_t **root);

/* Path bookkeeping: push before descending into a member or element, pop after. */
void sf__j_push_key(struct sf__jctx *c, const char *key);
void sf__j_push_index(struct sf__jctx *c, size_t index);
void sf__j_pop(struct sf__jctx *c);

/* Sets c->err to "file:line: path[.key]: <fmt>" and returns status. key may be NULL. */
int sf__j_fail(struct sf__jctx *c, const char *key, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Member getters. When the member is absent: SF__J_REQUIRED -> error; otherwise *out keeps its
 * value and SF_OK is returned. Numbers must be finite and <= max; flags add lower bounds. */
int sf__j_num(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, double max,
              double *out);
int sf__j_int(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, long lo, long hi,
              int *out);
int sf__j_str(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, char *out,
              size_t out_size);
/* A string value v found at key (NULL: the current path names it, e.g. an array element): the
 * checks of sf__j_str. */
int sf__j_str_value(struct sf__jctx *c, const char *key, json_t *v, unsigned flags, char *out,
                    size_t out_size);
/* Fills out[0..*n) from an array of min_len..max_len integers, each in [lo, hi]. *n is 0 when
 * the member is absent and not required. */
int sf__j_int_array(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                    size_t min_len, size_t max_len, long long lo, long long hi, long long *out,
                    size_t *n);
/* Object or array member (type checked). *out is NULL when absent and not required. */
int sf__j_obj(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, json_t **out);
int sf__j_arr(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, size_t max_len,
              json_t **out);
/* Fills out[0..n-1] from an array of exactly n finite numbers (flags and max as in sf__j_num). */
int sf__j_num_array(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags, double max,
                    size_t n, double *out);

/* Refuses members of obj (the object at the current path) that are neither in keys (NULL-
 * terminated) nor informational: "source", "sources", "notes", "description", "provenance", or
 * any name starting with "x_". Catches misspelt optional fields, which would otherwise silently
 * take their defaults. */
int sf__j_known(struct sf__jctx *c, json_t *obj, const char *const *keys);

/* Checks the "format" member equals `expect` (e.g. "serflow-profile/1"). */
int sf__j_format(struct sf__jctx *c, json_t *root, const char *expect);

/* Reads path (at most max_bytes, sf_read_file) and hands its text to parse(out, path, ...). */
int sf__j_load_file(void *out, const char *path, size_t max_bytes,
                    int (*parse)(void *out, const char *name, const char *text, size_t len,
                                 struct sf_err *err),
                    struct sf_err *err);

/* 1-based line of the value at path[0..depth) (plus `key` if non-NULL) in text; the line of the
 * deepest part found when the path does not fully resolve. Assumes syntactically valid JSON. */
int sf__json_line_of(const char *text, size_t len, const struct sf__jstep *path, int depth,
                     const char *key);

/* Quantities with units: {"value": x, "unit": "..."}; converted to the base unit of the kind:
 * seconds, USD per second, USD per GB-second, USD per request, bytes. An unknown unit is
 * refused with the list of accepted ones. */
enum sf__qkind {
    SF__Q_TIME_S,
    SF__Q_USD_PER_S,
    SF__Q_USD_PER_GB_S,
    SF__Q_USD_PER_REQ,
    SF__Q_BYTES
};
/* max applies to the value converted to the base unit. */
int sf__j_quantity(struct sf__jctx *c, json_t *obj, const char *key, unsigned flags,
                   enum sf__qkind kind, double max, double *out);
#endif
