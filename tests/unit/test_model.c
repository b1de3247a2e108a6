/* test_model.c - pricing and profile loaders: the bundled files load with the right values, and
 * every kind of bad input gives "file:line: field: problem". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "serflow/model.h"
#include "test_util.h"

#define PRICING "data/pricing/aws-us-east-1.json"
#define PROFILE "data/profiles/vgg16-sdn-cifar10.json"

static struct sf_pricing pricing;
static struct sf_profile profile;

static void test_bundled_pricing_values(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    assert_int_equal(sf_pricing_load(&pricing, tu_src(PRICING), &err), SF_OK);
    assert_int_equal(pricing.n_vm, 5);
    const struct sf_vm_type *v = sf_pricing_vm(&pricing, "c6i.xlarge");
    assert_non_null(v);
    assert_float_equal(v->price_usd_per_s * 3600, 0.17, 1e-12);
    assert_float_equal(pricing.vm_billing_minimum_s, 60, 0);
    assert_float_equal(pricing.fn_billing_granularity_s, 0.001, 1e-15);
    assert_float_equal(pricing.fn_request_fee_usd, 0.2e-6, 1e-18);
    assert_int_equal(pricing.fn_mb_per_vcpu, 1769);
    assert_int_equal(pricing.fn_mem_max_mb, 10240);
    /* 8,845 MB x86: 8845/1024 GB * $0.0000166667 per GB-s */
    assert_float_equal(sf_pricing_fn_usd_per_s(&pricing, 0, 8845), 8845.0 / 1024 * 0.0000166667,
                       1e-15);
    assert_null(sf_pricing_vm(&pricing, "t3.nano"));
}

static void test_bundled_profile_values(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    assert_int_equal(sf_profile_load(&profile, tu_src(PROFILE), &err), SF_OK);
    assert_int_equal(profile.n_stages, 11);
    assert_int_equal(profile.batch_size, 100);
    assert_float_equal(profile.slo_s, 6.0, 0);
    const char *need[] = {"c6i.large", "c6i.xlarge"};
    const double batch_s[] = {10.3, 5.5};
    for (int k = 0; k < 2; k++) {
        const struct sf_runtime *r = sf_profile_vm_runtime(&profile, need[k]);
        assert_non_null(r);
        double total = 0;
        for (int i = 0; i < profile.n_stages; i++)
            total += 100 * r->per_request_s[i];
        assert_float_equal(total, batch_s[k], 1e-6);
    }
    const double taus[] = {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95};
    for (size_t k = 0; k < SF_ARRAY_LEN(taus); k++) {
        const struct sf_exit_row *row = sf_profile_exits(&profile, taus[k]);
        assert_non_null(row);
        double s[SF_MAX_STAGES];
        sf_profile_survival(&profile, row, s);
        assert_float_equal(s[0], 1.0, 0);
        for (int i = 1; i < profile.n_stages; i++)
            assert_true(s[i] <= s[i - 1]);
    }
    /* Later exits and higher accuracy as tau rises. */
    assert_true(sf_profile_exits(&profile, 0.9)->accuracy >
                sf_profile_exits(&profile, 0.5)->accuracy);
}

struct bad_case {
    const char *file; /* PRICING or PROFILE */
    const char *from, *to;
    int status;
    const char *field;   /* must appear in the message */
    const char *problem; /* must appear in the message */
    const char *anchor;  /* the error's line holds this text; NULL: the pattern's last line */
};

static const struct bad_case bad_cases[] = {
    /* malformed JSON */
    {PRICING, "\"region\": \"us-east-1\",", "\"region\": \"us-east-1\" ,,", SF_EPARSE,
     "JSON syntax", "", NULL},
    /* wrong types */
    {PRICING, "\"vcpus\": 4,", "\"vcpus\": \"four\",", SF_EINVAL, "vm.types[1].vcpus",
     "expected an integer", NULL},
    {PROFILE, "\"batch_size\": 100", "\"batch_size\": 100.5", SF_EINVAL, "batch_size",
     "expected an integer", NULL},
    {PROFILE, "\"slo_s\": 6.0", "\"slo_s\": \"6\"", SF_EINVAL, "slo_s", "expected a number", NULL},
    /* missing fields */
    {PRICING, "\"mb_per_vcpu\": 1769,", "", SF_EINVAL, "function.mb_per_vcpu", "missing",
     "\"function\": {"},
    {PROFILE, "\"rate_rps\"", "\"x_rate_rps\"", SF_EINVAL, "rate_rps", "missing", "{"},
    /* negative and non-finite prices and runtimes */
    {PRICING, "{\"value\": 0.085,", "{\"value\": -0.085,", SF_ERANGE, "vm.types[0].price.value",
     "must be positive", NULL},
    {PRICING, "{\"value\": 0.0000166667,", "{\"value\": 1e999,", SF_EPARSE, "JSON syntax", "",
     NULL},
    {PROFILE, "\"per_request\": [\n        0.000", "\"per_request\": [\n        -0.000", SF_ERANGE,
     "runtimes[0].per_request[0]", "must not be negative", NULL},
    /* exit fractions outside [0,1] */
    {PROFILE, "\"exit_fraction\": [\n        0.", "\"exit_fraction\": [\n        1.", SF_ERANGE,
     "exits[0].exit_fraction[0]", "must be in [0, 1]", NULL},
    {PROFILE, "\"accuracy\": 0.785", "\"accuracy\": 78.5", SF_ERANGE, "exits[0].accuracy",
     "must be in [0, 1]", NULL},
    /* unknown units */
    {PRICING, "\"unit\": \"USD/hour\"", "\"unit\": \"EUR/hour\"", SF_EUNSUPPORTED,
     "vm.types[0].price.unit", "unknown unit \"EUR/hour\"", NULL},
    {PROFILE, "\"time_unit\": \"s\"", "\"time_unit\": \"fortnights\"", SF_EUNSUPPORTED,
     "runtimes[0].time_unit", "unknown unit", NULL},
    /* a misspelt optional field is refused, not silently defaulted */
    {PROFILE, "\"hidden_bytes_lz4\"", "\"hiden_bytes_lz4\"", SF_EINVAL, "stages[0].hiden_bytes_lz4",
     "unknown field", NULL},
    {PRICING, "\"value\": 0.17,", "\"valeu\": 0.17,", SF_EINVAL, "vm.types[1].price.valeu",
     "unknown field", NULL},
    /* ranges (limits.h): values that would make costs or latencies non-finite, or the planner
     * enumerate millions of memory sizes, are refused where they are read (issue 7) */
    {PROFILE, "\"scaling_exponent\": 1.0", "\"scaling_exponent\": 500", SF_ERANGE,
     "function.scaling_exponent", "must be at most 4", NULL},
    {PROFILE, "\"bandwidth_bytes_per_s\": 50000000.0", "\"bandwidth_bytes_per_s\": 1e-300",
     SF_ERANGE, "transfer.bandwidth_bytes_per_s", "must be at least 1", NULL},
    {PROFILE, "\"slo_s\": 6.0", "\"slo_s\": 1e300", SF_ERANGE, "slo_s", "must be at most", NULL},
    {PROFILE, "\"per_request\": [\n        0.000581123", "\"per_request\": [\n        1e200",
     SF_ERANGE, "runtimes[0].per_request[0]", "must be at most", NULL},
    /* the catalog: 4,000,000 MB in whole vCPUs of 1 MB took 6 GB and hung the planner */
    {PRICING, "\"max\": 10240, \"step\": 1},\n    \"mb_per_vcpu\": 1769,",
     "\"max\": 4000000, \"step\": 1000},\n    \"mb_per_vcpu\": 1,", SF_ERANGE,
     "function.mb_per_vcpu", "more than 16384 memory sizes", NULL},
    {PRICING, "\"max\": 10240, \"step\": 1}", "\"max\": 4000000, \"step\": 1}", SF_ERANGE,
     "function.memory_mb.step", "more than 16384 memory sizes", NULL},
    {PRICING, "{\"value\": 0.085,", "{\"value\": 1e30,", SF_ERANGE, "vm.types[0].price.value",
     "must be at most", NULL},
    {PRICING, "\"name\": \"c6i.large\"", "\"name\": \"c6i\\u001b[2Jlarge\"", SF_EINVAL,
     "vm.types[0].name", "control character \\x1B", NULL},
    /* structure */
    {PRICING, "\"serflow-pricing/1\"", "\"serflow-pricing/9\"", SF_EUNSUPPORTED, "format",
     "unsupported format", NULL},
    {PRICING, "\"name\": \"c6i.xlarge\"", "\"name\": \"c6i.large\"", SF_EINVAL, "vm.types[1].name",
     "duplicate", NULL},
    {PROFILE, "\"tau\": 0.55", "\"tau\": 0.45", SF_EINVAL, "exits[1].tau", "strictly increasing",
     NULL},
};

static void check_bad_case(const struct bad_case *bc)
{
    size_t len;
    char *good = tu_read(bc->file, &len);
    int line;
    char *bad = tu_replace(good, bc->from, bc->to, &line);
    for (const char *q = bc->from; *q; q++)
        line += *q == '\n'; /* the changed value is on the pattern's last line */
    if (bc->anchor) {
        char *again = tu_replace(bad, bc->anchor, bc->anchor, &line);
        free(again);
    }
    struct sf_err err = {{0}};
    int rc = !strcmp(bc->file, PRICING)
                 ? sf_pricing_parse(&pricing, "t.json", bad, strlen(bad), &err)
                 : sf_profile_parse(&profile, "t.json", bad, strlen(bad), &err);
    char want_prefix[64];
    snprintf(want_prefix, sizeof(want_prefix), "t.json:%d: ", line);
    if (rc != bc->status || strncmp(err.msg, want_prefix, strlen(want_prefix)) != 0 ||
        !strstr(err.msg, bc->field) || !strstr(err.msg, bc->problem))
        fail_msg("case '%s' -> '%s': rc %d (want %d), message \"%s\" (want prefix \"%s\", field "
                 "\"%s\", problem \"%s\")",
                 bc->from, bc->to, rc, bc->status, err.msg, want_prefix, bc->field, bc->problem);
    free(bad);
    free(good);
}

static void test_bad_inputs_name_file_line_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < SF_ARRAY_LEN(bad_cases); i++)
        check_bad_case(&bad_cases[i]);
}

static void test_missing_field_points_at_parent_object(void **state)
{
    (void)state;
    size_t len;
    char *good = tu_read(PRICING, &len);
    int line;
    /* drop "vcpus" from the second VM type: the error names the object's line */
    char *bad = tu_replace(good, "\"vcpus\": 4, ", "", &line);
    struct sf_err err = {{0}};
    assert_int_equal(sf_pricing_parse(&pricing, "p.json", bad, strlen(bad), &err), SF_EINVAL);
    char want[64];
    snprintf(want, sizeof(want), "p.json:%d: vm.types[1].vcpus: missing", line);
    assert_string_equal(err.msg, strcat(want, " required field"));
    free(bad);
    free(good);
}

static void test_not_an_object_and_empty(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    assert_int_equal(sf_profile_parse(&profile, "e.json", "", 0, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "e.json:1:"));
    assert_int_equal(sf_profile_parse(&profile, "a.json", "[1,2]", 5, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "expected a JSON object"));
    assert_int_equal(sf_pricing_load(&pricing, "/nonexistent.json", &err), SF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent.json"));
}

/* The writer is the reader's inverse: a bundled profile written and read back is the same
 * struct, bit for bit, with or without the informational notes. */
static void test_profile_write_round_trip(void **state)
{
    (void)state;
    const char *files[] = {PROFILE, "data/profiles/fmnist-ee-local.json"};
    struct sf_profile *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    assert_non_null(a);
    assert_non_null(b);
    for (size_t i = 0; i < SF_ARRAY_LEN(files); i++) {
        struct sf_err err = {{0}};
        assert_int_equal(sf_profile_load(a, tu_src(files[i]), &err), SF_OK);
        struct sf_profile_measurement meas[2] = {{1, 8, 0.25, 0.5}, {2, 8, 0.125, 0.75}};
        double mean_stages[SF_MAX_TAUS] = {0}, cls[SF_MAX_STAGES] = {0};
        struct sf_profile_notes notes = {.generator = "test",
                                         .note = "round trip",
                                         .num_classes = 10,
                                         .classifier_accuracy = cls,
                                         .mean_stages = mean_stages,
                                         .transfer_source = "assumed"};
        notes.measurements[0] = meas;
        notes.n_measurements[0] = 2;
        for (int with_notes = 0; with_notes < 2; with_notes++) {
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            assert_non_null(f);
            assert_int_equal(sf_profile_write(a, with_notes ? &notes : NULL, f, &err), SF_OK);
            fclose(f);
            if (sf_profile_parse(b, "written", text, len, &err) != SF_OK)
                fail_msg("%s: written profile does not load: %s", files[i], err.msg);
            if (memcmp(a, b, sizeof(*a)) != 0)
                fail_msg("%s: written profile reads back different", files[i]);
            free(text);
        }
    }
    /* a profile the loader would refuse is refused by the writer, which writes nothing */
    a->exits[0].exit_fraction[0] = 1.5;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct sf_err err = {{0}};
    assert_int_equal(sf_profile_write(a, NULL, f, &err), SF_EINVAL);
    fclose(f);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "exits[0].exit_fraction[0]"));
    free(text);
    a->exits[0].exit_fraction[0] = 0.5;
    a->slo_s = NAN;
    f = open_memstream(&text, &len);
    assert_int_equal(sf_profile_write(a, NULL, f, &err), SF_EINVAL);
    fclose(f);
    free(text);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_write_round_trip),
        cmocka_unit_test(test_bundled_pricing_values),
        cmocka_unit_test(test_bundled_profile_values),
        cmocka_unit_test(test_bad_inputs_name_file_line_field),
        cmocka_unit_test(test_missing_field_points_at_parent_object),
        cmocka_unit_test(test_not_an_object_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
