/* test_serve.c - the serving building blocks: input and result frames (round trips and every
 * refusal), OIP v2 request parsing (JSON and binary extension, copied or left in place) and
 * responses (the outputs filter, binary outputs), request ids and trace context, HTTP/1.1 heads,
 * framing, chunked bodies and paths, the Prometheus registry's exposition text, the billing
 * rules, and the event loops' share of the connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "serflow/wire.h"
#include "serflow/http.h"
#include "serflow/metrics.h"
#include "serflow/billing.h"
#include "wire/ev.h"
#include "test_util.h"

static const struct sf_nn_shape IMG = {3, {1, 28, 28}};

static void test_input_frame_roundtrip(void **state)
{
    (void)state;
    uint64_t ids[3] = {7, 8, 1ull << 40};
    size_t numel = 784;
    float *x = malloc(3 * numel * sizeof(float));
    for (size_t i = 0; i < 3 * numel; i++)
        x[i] = (float)i * 0.5f - 3;
    void *buf;
    size_t len;
    struct sf_err err = {{0}};
    assert_int_equal(sf_frame_input_encode(ids, x, 3, &IMG, 0.7, &buf, &len, &err), SF_OK);
    assert_int_equal(len, SF_FRAME_INPUT_HEADER_BYTES + 3 * 8 + 3 * numel * 4);
    uint64_t *ids2;
    float *x2;
    size_t n;
    struct sf_nn_shape sh;
    double tau;
    assert_int_equal(sf_frame_input_decode(buf, len, &IMG, 100, &ids2, &x2, &n, &sh, &tau, &err),
                     SF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sh.ndim, 3);
    assert_int_equal(sh.dims[2], 28);
    assert_float_equal(tau, 0.7, 1e-6);
    assert_memory_equal(ids, ids2, sizeof(ids));
    assert_memory_equal(x, x2, 3 * numel * sizeof(float));
    free(ids2);
    free(x2);
    /* in two steps, into the caller's buffers (the worker's kept batch): the same values */
    uint64_t ids3[3];
    float *x3 = malloc(3 * numel * sizeof(float));
    n = 0;
    assert_int_equal(sf_frame_input_head(buf, len, &IMG, 100, &n, &sh, &tau, &err), SF_OK);
    assert_int_equal(n, 3);
    assert_float_equal(tau, 0.7, 1e-6);
    assert_int_equal(sf_frame_input_read(buf, len, n, sf_nn_shape_numel(&sh), ids3, x3, &err),
                     SF_OK);
    assert_memory_equal(ids, ids3, sizeof(ids));
    assert_memory_equal(x, x3, 3 * numel * sizeof(float));
    free(x3);
    assert_int_equal(sf_frame_input_head(buf, len - 4, &IMG, 100, &n, &sh, &tau, &err), SF_EPARSE);
    assert_int_equal(n, 0);
    /* an id twice: refused by both */
    void *dup;
    size_t dup_len;
    uint64_t twice[3] = {7, 8, 7};
    assert_int_equal(sf_frame_input_encode(twice, x, 3, &IMG, 0.7, &dup, &dup_len, &err), SF_OK);
    assert_int_equal(sf_frame_input_head(dup, dup_len, &IMG, 100, &n, &sh, &tau, &err), SF_OK);
    x3 = malloc(3 * numel * sizeof(float));
    assert_int_equal(sf_frame_input_read(dup, dup_len, n, numel, ids3, x3, &err), SF_EINVAL);
    /* a length too short for n images, and one under the header: refused before a read */
    assert_int_equal(sf_frame_input_read(dup, dup_len - 1, n, numel, ids3, x3, &err), SF_EPARSE);
    assert_int_equal(sf_frame_input_read(dup, 4, n, numel, ids3, x3, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "input frame"));
    free(x3);
    assert_int_equal(
        sf_frame_input_decode(dup, dup_len, &IMG, 100, &ids2, &x2, &n, &sh, &tau, &err), SF_EINVAL);
    assert_null(ids2);
    assert_null(x2);
    assert_int_equal(n, 0);
    free(dup);
    /* refusals: truncation, trailing byte, cap on n, magic */
    assert_int_equal(
        sf_frame_input_decode(buf, len - 1, &IMG, 100, &ids2, &x2, &n, &sh, &tau, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "expected"));
    assert_int_equal(sf_frame_input_decode(buf, len, &IMG, 2, &ids2, &x2, &n, &sh, &tau, &err),
                     SF_ETOOBIG);
    ((unsigned char *)buf)[0] = 'X';
    assert_int_equal(sf_frame_input_decode(buf, len, &IMG, 100, &ids2, &x2, &n, &sh, &tau, &err),
                     SF_EUNSUPPORTED);
    assert_int_equal(sf_frame_input_decode(buf, 5, &IMG, 100, &ids2, &x2, &n, &sh, &tau, &err),
                     SF_EPARSE);
    free(buf);
    free(x);
}

static void test_result_frame_roundtrip(void **state)
{
    (void)state;
    struct sf_serve_result r[2] = {{0}};
    r[0].id = 11;
    r[0].label = 3;
    r[0].exit_stage = 2;
    r[0].cut = 3;
    r[0].head_where = SF_WHERE_VM;
    r[0].num_classes = 10;
    r[0].conf = 0.9f;
    r[0].probs[3] = 0.9f;
    r[1].id = 12;
    r[1].status = 1;
    r[1].label = -1;
    r[1].num_classes = 10;
    void *buf;
    size_t len;
    struct sf_err err = {{0}};
    assert_int_equal(sf_frame_result_encode(r, 2, 10, &buf, &len, &err), SF_OK);
    struct sf_serve_result *o;
    size_t n;
    assert_int_equal(sf_frame_result_decode(buf, len, 10, 10, &o, &n, &err), SF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(o[0].id, 11);
    assert_int_equal(o[0].label, 3);
    assert_int_equal(o[0].exit_stage, 2);
    assert_int_equal(o[0].cut, 3);
    assert_int_equal(o[0].head_where, SF_WHERE_VM);
    assert_float_equal(o[0].probs[3], 0.9f, 0);
    assert_int_equal(o[1].status, 1);
    assert_int_equal(o[1].label, -1);
    free(o);
    /* a label outside the classes of an answered record is malformed */
    ((unsigned char *)buf)[SF_FRAME_RESULT_HEADER_BYTES + 8] = 10;
    assert_int_equal(sf_frame_result_decode(buf, len, 10, 10, &o, &n, &err), SF_EPARSE);
    assert_int_equal(sf_frame_result_decode(buf, len, 10, 1, &o, &n, &err), SF_ETOOBIG);
    free(buf);
}

static void test_where_strings(void **state)
{
    (void)state;
    char b[64];
    struct sf_serve_result r = {0};
    r.exit_stage = 2;
    r.cut = 3;
    r.head_where = SF_WHERE_VM;
    assert_string_equal(sf_serve_where_str(&r, b, sizeof(b)), "vm:1-2");
    r.exit_stage = 6;
    assert_string_equal(sf_serve_where_str(&r, b, sizeof(b)), "vm:1-3,function:4-6");
    r.cut = 0;
    r.head_where = SF_WHERE_NONE;
    r.exit_stage = 4;
    assert_string_equal(sf_serve_where_str(&r, b, sizeof(b)), "function:1-4");
    r.status = 1;
    assert_string_equal(sf_serve_where_str(&r, b, sizeof(b)), "failed");
}

/* A JSON request of n images whose pixel i of image j is j + i / 1000. */
static char *oip_json(size_t n, const char *shape, const char *dtype)
{
    json_t *data = json_array();
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < 784; i++)
            json_array_append_new(data, json_real((double)j + (double)i / 1000));
    json_error_t je;
    json_t *sh = json_loads(shape, 0, &je);
    json_t *o = json_pack("{s:s,s:[{s:s,s:o,s:s,s:o}]}", "id", "r1", "inputs", "name", "input",
                          "shape", sh, "datatype", dtype, "data", data);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void test_oip_parse(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_oip_request r;
    char *s = oip_json(2, "[2,1,28,28]", "FP32");
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 64, &r, &err), SF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id, "r1");
    assert_float_equal(r.x[784 + 5], 1.005f, 1e-6);
    sf_oip_request_fini(&r);
    free(s);
    s = oip_json(1, "[1,784]", "FP32");
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 64, &r, &err), SF_OK);
    sf_oip_request_fini(&r);
    free(s);
    /* wrong dtype, wrong shape, too many images, malformed JSON */
    s = oip_json(1, "[1,1,28,28]", "INT8");
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 64, &r, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "inputs[0].datatype: expected FP32, got INT8"));
    free(s);
    s = oip_json(1, "[1,1,27,28]", "FP32");
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 64, &r, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "inputs[0].shape"));
    free(s);
    s = oip_json(2, "[2,1,28,28]", "FP32");
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 1, &r, &err), SF_ETOOBIG);
    free(s);
    s = oip_json(1, "[2,1,28,28]", "FP32"); /* data for one image, shape says two */
    assert_int_equal(sf_oip_parse_request(s, strlen(s), NULL, 0, &IMG, 64, &r, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "inputs[0].data"));
    free(s);
    const char *bad = "{\"inputs\": [ {\"name\": ";
    assert_int_equal(sf_oip_parse_request(bad, strlen(bad), NULL, 0, &IMG, 64, &r, &err),
                     SF_EPARSE);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    const char *str = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,784],\"datatype\":\"FP32\","
                      "\"data\":[\"a\"]}]}";
    assert_int_equal(sf_oip_parse_request(str, strlen(str), NULL, 0, &IMG, 64, &r, &err),
                     SF_EINVAL);
    assert_non_null(strstr(err.msg, "not a number"));
}

static void test_oip_binary_extension(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_oip_request r;
    const char *hdr = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":"
                      "\"FP32\",\"parameters\":{\"binary_data_size\":3136}}]}";
    float x[784];
    for (int i = 0; i < 784; i++)
        x[i] = (float)i;
    assert_int_equal(sf_oip_parse_request(hdr, strlen(hdr), x, sizeof(x), &IMG, 64, &r, &err),
                     SF_OK);
    assert_float_equal(r.x[783], 783.0f, 0);
    sf_oip_request_fini(&r);
    assert_int_equal(sf_oip_parse_request(hdr, strlen(hdr), x, 100, &IMG, 64, &r, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "binary data"));
}

static void test_oip_response(void **state)
{
    (void)state;
    struct sf_serve_result r[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        r[i].num_classes = 10;
        r[i].label = 4 + i;
        r[i].exit_stage = 2 + 4 * i;
        r[i].cut = 3;
        r[i].head_where = SF_WHERE_VM;
        r[i].probs[4 + i] = 1;
    }
    char *s = sf_oip_response_json("fmnist-ee", "abc", r, 2);
    assert_non_null(s);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "abc");
    json_t *outs = json_object_get(o, "outputs");
    assert_int_equal(json_array_size(outs), 4);
    json_t *lab = json_object_get(json_array_get(outs, 0), "data");
    assert_int_equal(json_integer_value(json_array_get(lab, 1)), 5);
    json_t *probs = json_object_get(json_array_get(outs, 1), "data");
    assert_int_equal(json_array_size(probs), 20);
    json_t *where = json_object_get(json_array_get(outs, 3), "data");
    assert_string_equal(json_string_value(json_array_get(where, 1)), "vm:1-3,function:4-6");
    json_decref(o);
    free(s);
    s = sf_oip_error_json("inputs[0].shape: \"bad\"");
    assert_string_equal(s, "{\"error\":\"inputs[0].shape: \\\"bad\\\"\"}");
    free(s);
}

static void test_oip_binary_in_place(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_oip_request r;
    const char *hdr =
        "{\"id\":\"q\",\"inputs\":[{\"name\":\"input\",\"shape\":[2,784],\"datatype\":"
        "\"FP32\",\"parameters\":{\"binary_data_size\":6272}}]}";
    float x[2 * 784];
    for (int i = 0; i < 2 * 784; i++)
        x[i] = (float)i / 7;
    assert_int_equal(sf_oip_parse_request_ref(hdr, strlen(hdr), x, sizeof(x), &IMG, 64, &r, &err),
                     SF_OK);
    assert_null(r.x);
    assert_ptr_equal(r.bin, (const unsigned char *)x); /* not copied */
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id, "q");
    sf_oip_request_fini(&r);
    x[900] = INFINITY; /* refused in place too */
    assert_int_equal(sf_oip_parse_request_ref(hdr, strlen(hdr), x, sizeof(x), &IMG, 64, &r, &err),
                     SF_EINVAL);
    assert_non_null(strstr(err.msg, "element 900 is not finite"));
    x[900] = NAN;
    assert_int_equal(sf_oip_parse_request_ref(hdr, strlen(hdr), x, sizeof(x), &IMG, 64, &r, &err),
                     SF_EINVAL);
}

/* A header parsed once answers the next request with the same bytes: the same parse, its floats
 * still checked; any other header, length, shape or cap is parsed anew. */
static void test_oip_header_cache(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_oip_request r, c;
    static struct sf_oip_cache cache; /* zeroed: empty */
    const char *hdr =
        "{\"id\":\"q\",\"inputs\":[{\"name\":\"input\",\"shape\":[2,784],\"datatype\":"
        "\"FP32\",\"parameters\":{\"binary_data_size\":6272}}],\"outputs\":[{\"name\":"
        "\"exit_stage\",\"parameters\":{\"binary_data\":true}},{\"name\":\"label\"}]}";
    size_t hl = strlen(hdr);
    float x[2 * 784], y[2 * 784];
    for (int i = 0; i < 2 * 784; i++)
        x[i] = y[i] = (float)i / 7;
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, x, sizeof(x), &IMG, 64, &c, &err),
                     SF_ENOTFOUND); /* empty */
    assert_int_equal(sf_oip_parse_request_ref(hdr, hl, x, sizeof(x), &IMG, 64, &r, &err), SF_OK);
    sf_oip_cache_put(&cache, hdr, hl, sizeof(x), &IMG, 64, &r);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, y, sizeof(y), &IMG, 64, &c, &err), SF_OK);
    assert_ptr_equal(c.bin, (const unsigned char *)y); /* this request's floats, in place */
    assert_null(c.x);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.id, "q");
    assert_int_equal(c.n_outputs, 2);
    assert_int_equal(c.outputs[0], r.outputs[0]);
    assert_int_equal(c.outputs[1], r.outputs[1]);
    assert_int_equal(c.binary, r.binary);
    assert_int_equal(c.binary, 1u << SF_OIP_OUT_EXIT);
    y[1000] = -INFINITY; /* a hit checks its own floats */
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, y, sizeof(y), &IMG, 64, &c, &err),
                     SF_EINVAL);
    assert_non_null(strstr(err.msg, "element 1000 is not finite"));
    y[1000] = NAN;
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, y, sizeof(y), &IMG, 64, &c, &err),
                     SF_EINVAL);
    /* anything else is not the kept header */
    char other[1024];
    memcpy(other, hdr, hl + 1);
    other[8] = 'r'; /* "id":"r" */
    assert_int_equal(sf_oip_cache_parse(&cache, other, hl, x, sizeof(x), &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl - 1, x, sizeof(x), &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, x, sizeof(x) - 4, &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, NULL, 0, &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, x, sizeof(x), &IMG, 1, &c, &err),
                     SF_ENOTFOUND); /* a cap of one image would refuse it */
    static const struct sf_nn_shape flat = {1, {784}};
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, x, sizeof(x), &flat, 64, &c, &err),
                     SF_ENOTFOUND);
    /* a header longer than the cache keeps, or a JSON body, empties it */
    char big[SF_OIP_CACHE_HEADER_BYTES + 64];
    memset(big, ' ', sizeof(big) - 1); /* the same header after white space */
    big[sizeof(big) - 1] = '\0';
    memcpy(big + sizeof(big) - 1 - hl, hdr, hl);
    assert_int_equal(sf_oip_parse_request_ref(big, strlen(big), x, sizeof(x), &IMG, 64, &r, &err),
                     SF_OK);
    sf_oip_cache_put(&cache, big, strlen(big), sizeof(x), &IMG, 64, &r);
    assert_int_equal(sf_oip_cache_parse(&cache, big, strlen(big), x, sizeof(x), &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
    assert_int_equal(sf_oip_cache_parse(&cache, hdr, hl, x, sizeof(x), &IMG, 64, &c, &err),
                     SF_ENOTFOUND);
}

/* The answer's numbers read back as the floats they were, to 7 significant digits. */
static void test_oip_response_numbers(void **state)
{
    (void)state;
    static const float v[] = {0,           1,          0.5f,    1e-5f,     3.25e-12f,
                              0.99999994f, 0.1234567f, 2.5e-4f, 9.9999e-5f};
    struct sf_serve_result r = {0};
    r.num_classes = (int)SF_ARRAY_LEN(v);
    r.exit_stage = 1;
    r.cut = 1;
    r.head_where = SF_WHERE_VM;
    memcpy(r.probs, v, sizeof(v));
    char *s = sf_oip_response_json("m\"x", "i\\d\n", &r, 1);
    assert_non_null(s);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "model_name")), "m\"x");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "i\\d\n");
    json_t *p = json_object_get(json_array_get(json_object_get(o, "outputs"), 1), "data");
    for (size_t i = 0; i < SF_ARRAY_LEN(v); i++) {
        double got = json_number_value(json_array_get(p, i));
        assert_true(fabs(got - v[i]) <= fabs(v[i]) * 1e-6);
    }
    json_decref(o);
    free(s);
}

/* The answer's numbers are printf's %.7g (".0" added to an integral one), byte for byte: floats
 * across the whole range (every 9,973rd bit pattern) and around every power of ten, where the
 * rounding carries into the next digit. */
static size_t check_as_printf(const float *v, size_t n)
{
    struct sf_serve_result r = {0};
    r.num_classes = (int)n;
    r.exit_stage = 1;
    r.cut = 1;
    r.head_where = SF_WHERE_VM;
    memcpy(r.probs, v, n * sizeof(float));
    char *s = sf_oip_response_json("m", "", &r, 1);
    assert_non_null(s);
    const char *p = strstr(strstr(s, "\"probabilities\""), "\"data\":[");
    assert_non_null(p);
    p += strlen("\"data\":[");
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%.7g", (double)v[i]);
        if (!strpbrk(want, ".e"))
            strcat(want, ".0");
        size_t l = strcspn(p, ",]");
        same += strlen(want) == l && !memcmp(want, p, l);
        p += l + 1;
    }
    free(s);
    return same;
}

static void test_oip_response_numbers_as_printf(void **state)
{
    (void)state;
    float v[10];
    size_t n = 0, same = 0, all = 0;
    for (uint32_t u = 1; u < 0x7f800000u; u += 9973) {
        memcpy(&v[n++], &u, sizeof(float));
        if (n == 10) {
            same += check_as_printf(v, n);
            all += n;
            n = 0;
        }
    }
    for (int k = -45; k <= 38; k++) {
        float up = (float)pow(10, k), down = up, carry = (float)(9.9999995 * pow(10, k - 1));
        for (int i = 0; i < 5; i++) {
            float w[10] = {up, down, carry, nextafterf(carry, 0)};
            same += check_as_printf(w, 4);
            all += 4;
            up = nextafterf(up, INFINITY);
            down = nextafterf(down, 0);
            carry = nextafterf(carry, INFINITY);
        }
    }
    assert_true(all > 200000);
    assert_int_equal(same, all);
}

/* Request ids and trace context: a client's kept when valid, made when not (UUID v4, distinct
 * across the random pool's refills), a traceparent continued with a span of this hop's, its flags
 * read, every malformed one refused. */
static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void test_reqtrace(void **state)
{
    (void)state;
    struct sf_reqtrace t;
    char hdr[64];
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sf_reqtrace_begin(&t, "client-id-1", tp);
    assert_string_equal(t.request_id, "client-id-1");
    assert_true(t.given_id);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.parent_id, "00f067aa0ba902b7");
    assert_int_equal(t.flags, 1);
    assert_int_equal(strlen(t.span_id), 16);
    assert_string_not_equal(t.span_id, t.parent_id);
    sf_reqtrace_header(&t, hdr, sizeof(hdr));
    assert_int_equal(strlen(hdr), 55);
    assert_int_equal(memcmp(hdr, tp, 36), 0);
    assert_int_equal(memcmp(hdr + 36, t.span_id, 16), 0);
    assert_string_equal(hdr + 52, "-01");
    char tid[33], pid[17];
    unsigned fl = 0;
    assert_int_equal(sf_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe",
                                          tid, pid, &fl),
                     SF_OK);
    assert_int_equal(fl, 0xfe);
    static const char *const bad[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* forbidden version */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 is exactly 55 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",   /* not hex */
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++)
        assert_int_equal(sf_traceparent_parse(bad[i], tid, pid, &fl), SF_EINVAL);
    /* made ids: UUID v4, all distinct over more than a pool's worth of draws */
    enum { N = 64 };
    static char ids[N][SF_REQUEST_ID_MAX_BYTES + 1], spans[N][17];
    for (int i = 0; i < N; i++) {
        sf_reqtrace_begin(&t, i % 2 ? "bad id, with a comma" : NULL, i % 3 ? NULL : "00-zz");
        assert_false(t.given_id);
        assert_int_equal(strlen(t.request_id), 36);
        for (int k = 0; k < 36; k++)
            assert_true(k == 8 || k == 13 || k == 18 || k == 23 ? t.request_id[k] == '-'
                                                                : is_hex(t.request_id + k, 1));
        assert_int_equal(t.request_id[14], '4');
        assert_non_null(strchr("89ab", t.request_id[19]));
        assert_true(is_hex(t.trace_id, 32) && is_hex(t.span_id, 16));
        assert_string_equal(t.parent_id, "");
        assert_int_equal(t.flags, 0);
        memcpy(ids[i], t.request_id, sizeof(ids[i]));
        memcpy(spans[i], t.span_id, sizeof(spans[i]));
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(ids[i], ids[j]);
            assert_string_not_equal(spans[i], spans[j]);
        }
    }
}

/* The answer with the request's outputs filter and binary outputs: its order, JSON for the
 * others, the binary tail after Inference-Header-Content-Length bytes. */
static void test_oip_response_outputs(void **state)
{
    (void)state;
    struct sf_serve_result r[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        r[i].num_classes = 10;
        r[i].label = 7 - i;
        r[i].exit_stage = 1 + i;
        r[i].cut = 3;
        r[i].head_where = SF_WHERE_VM;
        r[i].probs[7 - i] = 0.75f;
        r[i].probs[0] = 0.25f;
    }
    struct sf_oip_request q;
    memset(&q, 0, sizeof(q));
    q.n_outputs = 2;
    q.outputs[0] = SF_OIP_OUT_EXIT;
    q.outputs[1] = SF_OIP_OUT_LABEL;
    q.binary = 1u << SF_OIP_OUT_LABEL;
    char *out = NULL;
    size_t len = 0, jl = 0;
    assert_int_equal(sf_oip_response("m", "1", "x", &q, r, 2, &out, &len, &jl), SF_OK);
    assert_int_equal(len, jl + 16);
    json_error_t je;
    json_t *o = json_loadb(out, jl, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "model_version")), "1");
    json_t *outs = json_object_get(o, "outputs");
    assert_int_equal(json_array_size(outs), 2);
    json_t *e = json_array_get(outs, 0);
    assert_string_equal(json_string_value(json_object_get(e, "name")), "exit_stage");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(e, "data"), 1)), 2);
    json_t *l = json_array_get(outs, 1);
    assert_string_equal(json_string_value(json_object_get(l, "name")), "label");
    assert_null(json_object_get(l, "data"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(l, "parameters"), "binary_data_size")),
        16);
    int64_t lab[2];
    memcpy(lab, out + jl, 16);
    assert_int_equal(lab[0], 7);
    assert_int_equal(lab[1], 6);
    json_decref(o);
    free(out);
}

static void test_http_head(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    struct sf_http_head h;
    const char *req = "\r\nPOST /v2/models/m/infer?x=1 HTTP/1.1\r\nHost: a\r\n"
                      "Content-Length:  12 \r\nConnection: keep-alive, close\r\n\r\nbody";
    assert_int_equal(sf_http_parse_head(req, strlen(req), 1, &h, &err), SF_OK);
    assert_int_equal(h.head_bytes, strlen(req) - 4);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.method_len, 4);
    assert_int_equal(h.n_fields, 3);
    const struct sf_http_field *f = sf_http_field_get(&h, "content-length");
    assert_non_null(f);
    assert_int_equal(f->value_len, 2); /* whitespace around the value is not part of it */
    assert_true(sf_http_list_has(h.field[2].value, h.field[2].value_len, "Close"));
    enum sf_http_body kind;
    uint64_t len;
    assert_int_equal(sf_http_framing(&h, 1, &kind, &len, &err), SF_OK);
    assert_int_equal(kind, SF_HTTP_BODY_LENGTH);
    assert_int_equal(len, 12);
    /* every prefix is incomplete, never an error */
    for (size_t n = 0; n + 4 < strlen(req); n++) {
        assert_int_equal(sf_http_parse_head(req, n, 1, &h, &err), SF_OK);
        assert_int_equal(h.head_bytes, 0);
    }
    static const char *const bad[] = {
        "GET / HTTP/1.1\nHost: a\r\n\r\n",      /* a lone LF */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",   /* space before the colon */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* a folded line */
        "GET / HTTP/2.0\r\n\r\n",               /* another version */
        "GET x HTTP/1.1\r\n\r\n",               /* a target that is not a path */
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",   /* a control byte in a value */
        "GET  / HTTP/1.1\r\n\r\n",              /* two spaces */
        "G\rET / HTTP/1.1\r\n\r\n",             /* a lone CR */
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++)
        assert_int_equal(sf_http_parse_head(bad[i], strlen(bad[i]), 1, &h, &err), SF_EPARSE);
    static const char *const ambiguous[] = {
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999\r\n\r\n",
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(ambiguous); i++) {
        assert_int_equal(sf_http_parse_head(ambiguous[i], strlen(ambiguous[i]), 1, &h, &err),
                         SF_OK);
        assert_int_equal(sf_http_framing(&h, 1, &kind, &len, &err), SF_EINVAL);
    }
    /* caps: a head that does not end within the cap, too many fields */
    char *big = malloc(SF_HTTP_MAX_HEAD_BYTES + 64);
    assert_non_null(big);
    memset(big, 'a', SF_HTTP_MAX_HEAD_BYTES + 64);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    assert_int_equal(sf_http_parse_head(big, SF_HTTP_MAX_HEAD_BYTES + 64, 1, &h, &err), SF_ETOOBIG);
    size_t o = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= SF_HTTP_MAX_FIELDS; i++)
        o += (size_t)sprintf(big + o, "A%d: b\r\n", i);
    o += (size_t)sprintf(big + o, "\r\n");
    assert_int_equal(sf_http_parse_head(big, o, 1, &h, &err), SF_ETOOBIG);
    free(big);
    /* a response */
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(sf_http_parse_head(resp, strlen(resp), 0, &h, &err), SF_OK);
    assert_int_equal(h.status, 200);
    assert_int_equal(sf_http_framing(&h, 0, &kind, &len, &err), SF_OK);
    assert_int_equal(len, 3);
    const char *nolen = "HTTP/1.1 200 OK\r\n\r\n";
    assert_int_equal(sf_http_parse_head(nolen, strlen(nolen), 0, &h, &err), SF_OK);
    assert_int_equal(sf_http_framing(&h, 0, &kind, &len, &err), SF_EINVAL);
}

/* Decodes a chunked body fed in pieces of `step` bytes; the data, or NULL when refused. */
static char *dechunk(const char *in, size_t step, size_t *n, int *done)
{
    struct sf_http_chunked c;
    memset(&c, 0, sizeof(c));
    size_t len = strlen(in), have = 0, out = 0;
    char *buf = malloc(len + 1);
    *done = 0;
    for (size_t fed = 0; fed < len && !*done;) {
        size_t k = fed + step < len ? step : len - fed;
        memcpy(buf + out + have, in + fed, k); /* raw bytes after the data so far */
        fed += k;
        have += k;
        size_t used, got;
        struct sf_err err = {{0}};
        if (sf_http_chunked_decode(&c, buf + out, have, &used, &got, done, &err) != SF_OK) {
            free(buf);
            return NULL;
        }
        memmove(buf + out + got, buf + out + used, have - used);
        have -= used;
        out += got;
    }
    *n = out;
    return buf;
}

static void test_http_chunked(void **state)
{
    (void)state;
    const char *body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                       "Trailer: x\r\n\r\n";
    for (size_t step = 1; step <= strlen(body); step++) {
        size_t n;
        int done;
        char *d = dechunk(body, step, &n, &done);
        assert_non_null(d);
        assert_true(done);
        assert_int_equal(n, 23);
        assert_memory_equal(d, "Wikipedia in\r\n\r\nchunks.", 23);
        free(d);
    }
    static const char *const bad[] = {"x\r\n", "4\r\nWikiX\r\n", "4\nWiki\r\n", "0\r\nT: x\n\r\n",
                                      "fffffffffffffffff\r\n"};
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++) {
        size_t n;
        int done;
        char *d = dechunk(bad[i], 3, &n, &done);
        assert_null(d);
    }
}

static void test_http_path(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    char out[64];
    const char *q;
    size_t ql;
    const char *t = "/v2/models/a%20b%zz%4/infer?x=%41";
    assert_int_equal(sf_http_path_decode(t, strlen(t), out, sizeof(out), &q, &ql, &err), SF_OK);
    assert_string_equal(out, "/v2/models/a b%zz%4/infer");
    assert_int_equal(ql, 5);
    assert_memory_equal(q, "x=%41", 5);
    t = "/a%00b";
    assert_int_equal(sf_http_path_decode(t, strlen(t), out, sizeof(out), &q, &ql, &err), SF_EINVAL);
}

static void test_metrics_render(void **state)
{
    (void)state;
    struct sf_metrics *m = sf_metrics_new();
    assert_non_null(m);
    double b[] = {0.01, 0.1, 1};
    const char *const outcomes[] = {"outcome=\"ok\"", "outcome=\"failed\"", NULL};
    int req = sf_metrics_family(m, "serflow_requests_total", SF_METRIC_COUNTER, "Requests.", NULL,
                                0, outcomes);
    int up =
        sf_metrics_family(m, "serflow_instances", SF_METRIC_GAUGE, "Instances.", NULL, 0, NULL);
    int lat = sf_metrics_family(m, "serflow_latency_seconds", SF_METRIC_HISTOGRAM, "Latency.", b, 3,
                                NULL);
    int idle = sf_metrics_family(m, "serflow_idle_total", SF_METRIC_COUNTER, "Never fired.", NULL,
                                 0, NULL);
    assert_true(req >= 0 && up >= 0 && lat >= 0 && idle >= 0);
    assert_true(sf_metrics_family(m, "bad name", SF_METRIC_GAUGE, "", NULL, 0, NULL) < 0);
    /* a counter is a total: its name says so */
    assert_true(sf_metrics_family(m, "serflow_requests", SF_METRIC_COUNTER, "", NULL, 0, NULL) < 0);
    /* every series is there before anything happened, at 0 */
    size_t len0;
    char *t0 = sf_metrics_render(m, &len0);
    assert_non_null(t0);
    assert_non_null(strstr(t0, "serflow_requests_total{outcome=\"failed\"} 0\n"));
    assert_non_null(strstr(t0, "serflow_idle_total 0\n"));
    assert_non_null(strstr(t0, "serflow_latency_seconds_count 0\n"));
    assert_null(strstr(t0, "serflow_requests_total 0")); /* a labelled family has no bare series */
    /* and every registry says which build and which process it is */
    assert_non_null(strstr(t0, "# TYPE serflow_build_info gauge\nserflow_build_info{version=\""));
    assert_non_null(strstr(t0, "\nprocess_cpu_seconds_total "));
    assert_non_null(strstr(t0, "\nprocess_open_fds "));
    double rss = 0, start = 0;
    assert_int_equal(sf_metrics_scrape(t0, "process_resident_memory_bytes", "", &rss), SF_OK);
    assert_true(rss > 1e6); /* this test's own resident memory */
    assert_int_equal(sf_metrics_scrape(t0, "process_start_time_seconds", "", &start), SF_OK);
    assert_true(start > 1.5e9 && start <= (double)time(NULL) + 1);
    free(t0);
    sf_metrics_add(m, req, "outcome=\"ok\"", 2);
    sf_metrics_add(m, req, "outcome=\"ok\"", 1);
    sf_metrics_set(m, up, "", 4);
    sf_metrics_observe(m, lat, "", 0.05);
    sf_metrics_observe(m, lat, "", 5);
    assert_float_equal(sf_metrics_get(m, req, "outcome=\"ok\""), 3, 0);
    size_t len;
    char *t = sf_metrics_render(m, &len);
    assert_non_null(t);
    assert_non_null(strstr(t, "# TYPE serflow_requests_total counter\n"));
    assert_non_null(strstr(t, "serflow_requests_total{outcome=\"ok\"} 3\n"));
    assert_non_null(strstr(t, "serflow_instances 4\n"));
    assert_non_null(strstr(t, "serflow_latency_seconds_bucket{le=\"0.01\"} 0\n"));
    assert_non_null(strstr(t, "serflow_latency_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(t, "serflow_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "serflow_latency_seconds_count 2\n"));
    double v;
    assert_int_equal(sf_metrics_scrape(t, "serflow_requests_total", "outcome=\"ok\"", &v), SF_OK);
    assert_float_equal(v, 3, 0);
    assert_int_equal(sf_metrics_scrape(t, "serflow_instances", "", &v), SF_OK);
    assert_float_equal(v, 4, 0);
    assert_int_equal(sf_metrics_scrape(t, "serflow_requests_total", "outcome=\"x\"", &v),
                     SF_ENOTFOUND);
    free(t);
    sf_metrics_free(m);
}

static void test_billing_rules(void **state)
{
    (void)state;
    struct sf_pricing p;
    struct sf_err err = {{0}};
    assert_int_equal(sf_pricing_load(&p, tu_src("data/pricing/local.json"), &err), SF_OK);
    /* VMs: per second, 60 s minimum */
    assert_float_equal(sf_bill_vm_s(&p, 0.5), 60, 0);
    assert_float_equal(sf_bill_vm_s(&p, 60.2), 61, 1e-9);
    assert_float_equal(sf_bill_vm_s(&p, 120), 120, 1e-9);
    /* functions: 1 ms up */
    assert_float_equal(sf_bill_fn_s(&p, 0.0101), 0.011, 1e-12);
    assert_float_equal(sf_bill_fn_s(&p, 0.010), 0.010, 1e-12);
    assert_float_equal(sf_bill_fn_s(&p, 0), 0.001, 1e-12);
    struct sf_meter m;
    memset(&m, 0, sizeof(m));
    sf_meter_fn(&m, &p, 0, 2048, 0.0101); /* 0.011 s x 2 GB */
    assert_float_equal(m.fn_gb_s, 0.022, 1e-12);
    assert_float_equal(m.fee_usd, 0.2e-6, 1e-15);
    assert_int_equal(m.invocations, 1);
    sf_meter_vm(&m, &p, 0, 10);
    assert_float_equal(m.vm_s[0], 60, 0);
    assert_float_equal(m.vm_usd, 60 * p.vm[0].price_usd_per_s, 1e-15);
    assert_float_equal(sf_meter_total_usd(&m), m.vm_usd + m.fn_usd + m.fee_usd, 0);
}

/* Answers every request with the index of the loop that owns its connection, and the loop the
 * handler's thread says it runs (sf__ev_self; ctx points at the server). */
static void loop_handler(void *ctx, struct sf__ev_req *req)
{
    struct sf__ev *const *ev = ctx;
    char body[48];
    snprintf(body, sizeof(body), "{\"self\":%d,\"loop\":%d}", sf__ev_self(*ev), req->loop);
    struct sf__httpd_resp resp;
    memset(&resp, 0, sizeof(resp));
    sf__httpd_json(&resp, 200, strdup(body));
    sf__ev_respond(req, &resp);
}

/* A post records the loop its thread runs. */
struct self_post {
    struct sf__ev *ev;
    pthread_mutex_t mu;
    int self, done;
};

static void record_self(void *arg)
{
    struct self_post *p = arg;
    pthread_mutex_lock(&p->mu);
    p->self = sf__ev_self(p->ev);
    p->done = 1;
    pthread_mutex_unlock(&p->mu);
}

/* Connections are dealt to the loops in turn, whichever loop the connects wake: 8 keep-alive
 * connections on 2 loops are 4 and 4 (before, a burst of connects could all land on one). Each
 * loop's thread knows its index (a handler's, a post's), any other thread none; and all of it
 * holds with the loops polling before they sleep (spin_s) as without. */
static void run_dealt_to_loops(double spin_s)
{
    enum { LOOPS = 2, CONNS = 8 };
    static struct sf__ev *ev;
    struct sf__ev_cfg cfg = {.host = "127.0.0.1",
                             .loops = LOOPS,
                             .max_connections = 64,
                             .idle_timeout_s = 10,
                             .request_timeout_s = 10,
                             .max_body_bytes = 1 << 16,
                             .spin_s = spin_s,
                             .handler = loop_handler,
                             .ctx = &ev};
    struct sf_err err = {{0}};
    assert_int_equal(sf__ev_start(&ev, &cfg, &err), SF_OK);
    assert_int_equal(sf__ev_self(ev), -1); /* not a loop's thread */
    assert_int_equal(sf__ev_self(NULL), -1);
    struct self_post post = {.ev = ev, .mu = PTHREAD_MUTEX_INITIALIZER, .self = -1};
    assert_int_equal(sf__ev_post(ev, 1, record_self, &post), SF_OK);
    for (int i = 0; i < 500; i++) { /* at most 5 s */
        pthread_mutex_lock(&post.mu);
        int done = post.done;
        pthread_mutex_unlock(&post.mu);
        if (done)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_int_equal(post.done, 1);
    assert_int_equal(post.self, 1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sf__ev_port(ev))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd[CONNS], on_loop[LOOPS] = {0};
    for (int i = 0; i < CONNS; i++) { /* all connected first: one burst of connects */
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd[i] >= 0);
        struct timeval tv = {5, 0}; /* a bounded wait for each answer */
        setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(connect(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    for (int i = 0; i < CONNS; i++) {
        static const char req[] = "GET /which HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_int_equal(send(fd[i], req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
        char buf[1024];
        size_t n = 0;
        const char *at = NULL;
        while (!(at && strchr(at, '}')) && n + 1 < sizeof(buf)) { /* until the body's end */
            ssize_t r = recv(fd[i], buf + n, sizeof(buf) - 1 - n, 0);
            assert_true(r > 0);
            n += (size_t)r;
            buf[n] = '\0';
            at = strstr(buf, ",\"loop\":");
        }
        assert_non_null(at);
        int loop = atoi(at + strlen(",\"loop\":"));
        assert_true(loop >= 0 && loop < LOOPS);
        const char *self = strstr(buf, "{\"self\":");
        assert_non_null(self);
        assert_int_equal(atoi(self + strlen("{\"self\":")), loop);
        on_loop[loop]++;
    }
    for (int k = 0; k < LOOPS; k++)
        assert_int_equal(on_loop[k], CONNS / LOOPS);
    double polled = sf__ev_poll_seconds(ev);
    if (spin_s > 0)
        assert_true(polled >= 0 && polled < 10); /* at most the test's own bounded time */
    else
        assert_float_equal(polled, 0, 0); /* never polls */
    for (int i = 0; i < CONNS; i++)
        close(fd[i]);
    sf__ev_stop(ev);
    ev = NULL;
}

static void test_ev_connections_dealt_to_loops(void **state)
{
    (void)state;
    run_dealt_to_loops(0);
    run_dealt_to_loops(50e-6);
}

/* The adaptive poll window (haltpoll's rule): it grows, doubling from its start, while events
 * come after it but within the cap; stays while they come within it; halves to 0 when they come
 * later than the cap, so sparse traffic never polls; a cap of 0 never polls. */
static void test_ev_poll_window(void **state)
{
    (void)state;
    const double cap = 100e-6, g = SF__EV_POLL_GROW_START_S;
    assert_float_equal(sf__ev_poll_next(0, 30e-6, 0), 0, 0);
    assert_float_equal(sf__ev_poll_next(50e-6, 30e-6, 0), 0, 0);
    double w = sf__ev_poll_next(0, 30e-6, cap);
    assert_float_equal(w, g, 0);
    w = sf__ev_poll_next(w, 30e-6, cap);
    assert_float_equal(w, 2 * g, 1e-12);
    w = sf__ev_poll_next(w, 30e-6, cap);
    assert_float_equal(w, 4 * g, 1e-12);
    assert_float_equal(sf__ev_poll_next(w, 30e-6, cap), w, 0);       /* caught within the window */
    assert_float_equal(sf__ev_poll_next(80e-6, 90e-6, cap), cap, 0); /* never past the cap */
    assert_float_equal(sf__ev_poll_next(cap, cap, cap), cap, 0);
    /* events later than the cap, or none before the tick: it halves, then stops polling */
    w = cap;
    int halvings = 0;
    while (w > 0 && halvings < 10) {
        double next = sf__ev_poll_next(w, INFINITY, cap);
        assert_true(next == 0 || next == w / 2);
        w = next;
        halvings++;
    }
    assert_float_equal(w, 0, 0);
    assert_int_equal(halvings, 4); /* 100 -> 50 -> 25 -> 12.5 -> 0 (under 10 us) */
    assert_float_equal(sf__ev_poll_next(cap, 1e-3, cap), cap / 2, 1e-12);
    /* sparse traffic: events a millisecond apart never open the window */
    w = 0;
    for (int i = 0; i < 100; i++)
        w = sf__ev_poll_next(w, 1e-3, cap);
    assert_float_equal(w, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_frame_roundtrip),
        cmocka_unit_test(test_result_frame_roundtrip),
        cmocka_unit_test(test_where_strings),
        cmocka_unit_test(test_oip_parse),
        cmocka_unit_test(test_oip_header_cache),
        cmocka_unit_test(test_oip_binary_extension),
        cmocka_unit_test(test_oip_response),
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_billing_rules),
        cmocka_unit_test(test_oip_binary_in_place),
        cmocka_unit_test(test_oip_response_numbers),
        cmocka_unit_test(test_http_head),
        cmocka_unit_test(test_http_chunked),
        cmocka_unit_test(test_http_path),
        cmocka_unit_test(test_reqtrace),
        cmocka_unit_test(test_oip_response_outputs),
        cmocka_unit_test(test_oip_response_numbers_as_printf),
        cmocka_unit_test(test_ev_connections_dealt_to_loops),
        cmocka_unit_test(test_ev_poll_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
