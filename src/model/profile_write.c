/* profile_write.c - the model profile writer (format serflow-profile/1), the inverse of
 * profile.c's loader: what it writes, sf_profile_load reads back unchanged. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/model.h"

/* 17 significant digits: every double reads back as itself. */
#define DUMP_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))

static json_t *num_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

/* Sets key to a string when s is not NULL. */
static void set_str(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

static json_t *runtime_json(const struct sf_profile *p, const struct sf_profile_notes *x, size_t i)
{
    const struct sf_runtime *r = &p->rt[i];
    size_t n = (size_t)p->n_stages;
    json_t *e = json_object();
    json_object_set_new(e, "kind", json_string(r->kind == SF_RT_FUNCTION ? "function" : "vm"));
    if (r->kind == SF_RT_FUNCTION) {
        json_object_set_new(e, "arch", json_string(r->name));
        json_object_set_new(e, "mem_mb", json_integer(r->mem_mb));
    } else {
        json_object_set_new(e, "name", json_string(r->name));
    }
    json_object_set_new(e, "time_unit", json_string("s"));
    json_object_set_new(e, "per_request", num_array(r->per_request_s, n));
    json_object_set_new(e, "per_batch", num_array(r->per_batch_s, n));
    if (x) {
        set_str(e, "source", x->runtime_source[i]);
        if (x->measurements[i] && x->n_measurements[i]) {
            json_t *meas = json_array();
            for (size_t k = 0; k < x->n_measurements[i]; k++) {
                const struct sf_profile_measurement *m = &x->measurements[i][k];
                json_t *o = json_object();
                json_object_set_new(o, "stage", json_integer(m->stage));
                json_object_set_new(o, "batch", json_integer(m->batch));
                json_object_set_new(o, "median_s", json_real(m->median_s));
                json_object_set_new(o, "p99_s", json_real(m->p99_s));
                json_array_append_new(meas, o);
            }
            json_object_set_new(e, "measurements", meas);
        }
    }
    return e;
}

/* The whole document; NULL when out of memory (jansson returns NULL for a non-finite real,
 * which the check in sf_profile_write then reports as the missing member). */
static json_t *profile_json(const struct sf_profile *p, const struct sf_profile_notes *x)
{
    size_t n = (size_t)p->n_stages;
    json_t *doc = json_object();
    json_object_set_new(doc, "format", json_string("serflow-profile/1"));
    json_object_set_new(doc, "model", json_string(p->model));
    if (x && (x->generator || x->measured_on || x->measured_at || x->backend || x->note)) {
        json_t *prov = json_object();
        set_str(prov, "generator", x->generator);
        set_str(prov, "measured_on", x->measured_on);
        set_str(prov, "measured_at", x->measured_at);
        set_str(prov, "backend", x->backend);
        set_str(prov, "note", x->note);
        json_object_set_new(doc, "provenance", prov);
    }
    if (x && x->num_classes > 0)
        json_object_set_new(doc, "num_classes", json_integer(x->num_classes));
    json_object_set_new(doc, "batch_size", json_integer(p->batch_size));
    json_object_set_new(doc, "slo_s", json_real(p->slo_s));
    json_object_set_new(doc, "rate_rps", json_real(p->rate_rps));
    if (x && x->classifier_accuracy)
        json_object_set_new(doc, "classifier_accuracy", num_array(x->classifier_accuracy, n));
    json_object_set_new(doc, "input_bytes", json_real(p->input_bytes));
    json_t *stages = json_array();
    for (size_t k = 0; k < n; k++) {
        json_t *s = json_object();
        json_object_set_new(s, "name", json_string(p->stage[k].name));
        json_object_set_new(s, "hidden_bytes_raw", json_real(p->stage[k].hidden_bytes_raw));
        json_object_set_new(s, "hidden_bytes_lz4", json_real(p->stage[k].hidden_bytes_lz4));
        json_array_append_new(stages, s);
    }
    json_object_set_new(doc, "stages", stages);
    json_t *xfer = json_object();
    json_object_set_new(xfer, "latency_s", json_real(p->xfer_latency_s));
    json_object_set_new(xfer, "bandwidth_bytes_per_s", json_real(p->xfer_bandwidth_bytes_per_s));
    if (x)
        set_str(xfer, "source", x->transfer_source);
    json_object_set_new(doc, "transfer", xfer);
    json_t *fn = json_object();
    json_object_set_new(fn, "cold_start_s", json_real(p->fn_cold_start_s));
    json_object_set_new(fn, "scaling_exponent", json_real(p->fn_scaling_exponent));
    json_object_set_new(fn, "partial_vcpu_efficiency", json_real(p->fn_partial_vcpu_efficiency));
    if (x)
        set_str(fn, "source", x->function_source);
    json_object_set_new(doc, "function", fn);
    json_t *rts = json_array();
    for (size_t i = 0; i < p->n_rt; i++)
        json_array_append_new(rts, runtime_json(p, x, i));
    json_object_set_new(doc, "runtimes", rts);
    json_t *exits = json_array();
    for (size_t t = 0; t < p->n_exits; t++) {
        const struct sf_exit_row *e = &p->exits[t];
        json_t *row = json_object();
        json_object_set_new(row, "tau", json_real(e->tau));
        json_object_set_new(row, "exit_fraction", num_array(e->exit_fraction, n));
        json_object_set_new(row, "accuracy", json_real(e->accuracy));
        if (x && x->mean_stages)
            json_object_set_new(row, "mean_stages", json_real(x->mean_stages[t]));
        json_array_append_new(exits, row);
    }
    json_object_set_new(doc, "exits", exits);
    return doc;
}

int sf_profile_write(const struct sf_profile *p, const struct sf_profile_notes *notes, FILE *f,
                     struct sf_err *err)
{
    json_t *doc = profile_json(p, notes);
    char *text = doc ? json_dumps(doc, DUMP_FLAGS) : NULL;
    json_decref(doc);
    if (!text)
        return sf_err_set(err, SF_ENOMEM, "profile: out of memory");
    struct sf_profile *check = malloc(sizeof(*check));
    int rc = check ? sf_profile_parse(check, "(profile to write)", text, strlen(text), err)
                   : sf_err_set(err, SF_ENOMEM, "profile: out of memory");
    free(check);
    if (rc == SF_OK && (fputs(text, f) == EOF || fputc('\n', f) == EOF || ferror(f)))
        rc = sf_err_set(err, SF_EIO, "profile: write error: %s", strerror(errno));
    else if (rc != SF_OK && rc != SF_ENOMEM)
        rc = SF_EINVAL; /* the loader's message says which field */
    free(text);
    return rc;
}
