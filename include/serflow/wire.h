/*
 * wire.h - what travels between serflow's serving processes and their clients (serve/wire/): the
 * answer of one request and where it ran, the binary frames between the ingress, the VM workers
 * and the functions, and the Open Inference Protocol v2 JSON request and response
 * (docs/serving.md "Frames", "API").
 *
 * Everything read from a socket or a file is untrusted: every length is checked against a named
 * cap before anything is allocated.
 */
#ifndef SERFLOW_WIRE_H
#define SERFLOW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/nn.h"

/* ---- limits (each a cap on outside input; docs/serving.md lists them) ---- */

/* Images in one frame or one OIP request: 64 full batches of 100 is far beyond any plan. */
#define SF_SERVE_MAX_BATCH 4096u
/* Floats of one request's tensor: 1 << 20 (4 MB) covers any image model we would serve. */
#define SF_SERVE_MAX_NUMEL ((size_t)1 << 20)
/* Body of one HTTP request or frame: 64 MB (a full batch of the bundled model is 314 kB). */
#define SF_SERVE_MAX_BODY_BYTES ((size_t)64 << 20)
/* Bytes of a client's OIP "id" kept and echoed: a UUID is 36; longer ids are refused (400),
 * never cut (a cut can split a UTF-8 sequence). */
#define SF_OIP_MAX_ID_BYTES 256
/* JSON values of an OIP request beyond its n x numel data values (names, shape, parameters,
 * ids): a request has about 20; the cap bounds the parse tree before it is built. */
#define SF_OIP_MAX_EXTRA_VALUES 4096
/* Bytes of jansson's tree per JSON value (a json_t of 24 bytes in a 32-byte malloc chunk, plus
 * its array slot), for the memory a parse may take (docs/security.md "Serving plane"). */
#define SF_OIP_TREE_BYTES_PER_VALUE 48

/* ---- where each part of a request ran ---- */

enum sf_where { SF_WHERE_NONE = 0, SF_WHERE_VM = 1, SF_WHERE_FUNCTION = 2 };
const char *sf_where_name(int where);

/* One answered request as it travels back from a worker or a function. */
/* Outcome of one request (struct sf_serve_result.status); 0..2 travel in result frames. */
enum sf_serve_status {
    SF_RESULT_OK = 0,       /* answered */
    SF_RESULT_FAILED = 1,   /* the path failed (crash, timeout, refused): 502 */
    SF_RESULT_REFUSED = 2,  /* the model's outputs for this image are not finite: 422 */
    SF_RESULT_DEADLINE = 3, /* not answered by its deadline (the ingress's own): 504 */
};

struct sf_serve_result {
    uint64_t id;
    int status;      /* enum sf_serve_status */
    int label;       /* predicted class, -1 when failed */
    int exit_stage;  /* 1-based stage after which it left the network */
    int cut;         /* stages 1..cut ran on head_where, cut+1..exit_stage on a function */
    int head_where;  /* enum sf_where: where stages 1..cut ran (SF_WHERE_NONE when cut = 0) */
    int num_classes; /* entries of probs in use */
    float conf;
    float probs[SF_NN_MAX_CLASSES];
};

/* "vm:1-3,function:4-6" style description of where the request ran, into buf (always
 * NUL-terminated). Returns buf. */
char *sf_serve_where_str(const struct sf_serve_result *r, char *buf, size_t size);

/* ---- binary frames (docs/serving.md "Frames"), little-endian ---- */

/* Input batch frame "SFIB": n requests' ids and float32 input tensors of per-request shape,
 * with tau. Layout: 0 magic, 4 u16 version 1, 6 u16 ndim (1..3), 8 u32 n, 12 f32 tau,
 * 16 u32 dims[3], 28 u32 zero; then n x u64 id; then n x numel x f32. */
#define SF_FRAME_INPUT_HEADER_BYTES 32
/* Allocates an input frame for n requests of shape with its header written (*out, *out_len,
 * caller frees); the caller writes the n ids (u64) at SF_FRAME_INPUT_HEADER_BYTES and the
 * n x numel floats after them, little-endian. SF_EINVAL, SF_ETOOBIG, SF_ENOMEM. */
int sf_frame_input_alloc(size_t n, const struct sf_nn_shape *shape, double tau, void **out,
                         size_t *out_len, struct sf_err *err);
int sf_frame_input_encode(const uint64_t *ids, const float *x, size_t n,
                          const struct sf_nn_shape *shape, double tau, void **out, size_t *out_len,
                          struct sf_err *err);
/* Decodes into caller-freed *ids and *x (NULL when n = 0). Everything is checked from the
 * header before anything is allocated or copied: bad magic/version (SF_EUNSUPPORTED), a
 * per-request shape other than want (the model's input; SF_EINVAL), truncation or trailing bytes
 * (SF_EPARSE), n > max_n or a shape beyond SF_SERVE_MAX_NUMEL (SF_ETOOBIG), non-finite tau
 * (SF_EINVAL); then the ids: 0 or one twice (SF_EINVAL). want NULL: any shape (fuzzing). */
int sf_frame_input_decode(const void *buf, size_t len, const struct sf_nn_shape *want, size_t max_n,
                          uint64_t **ids, float **x, size_t *n, struct sf_nn_shape *shape,
                          double *tau, struct sf_err *err);
/* The same in two steps, for a caller with buffers of its own: the header and length checked as
 * above, nothing read past the header (*n, *shape, *tau); then the n ids into ids[n] (0 or one
 * twice: SF_EINVAL) and the n x numel floats into x, from the frame the first step accepted (a
 * len too short for n x numel: SF_EPARSE). */
int sf_frame_input_head(const void *buf, size_t len, const struct sf_nn_shape *want, size_t max_n,
                        size_t *n, struct sf_nn_shape *shape, double *tau, struct sf_err *err);
int sf_frame_input_read(const void *buf, size_t len, size_t n, size_t numel, uint64_t *ids,
                        float *x, struct sf_err *err);

/* Result frame "SFRS": 0 magic, 4 u16 version 1, 6 u16 num_classes (1..SF_NN_MAX_CLASSES),
 * 8 u32 n, 12 u32 zero; then n records of 24 + 4 x num_classes bytes:
 * u64 id, i16 label, u8 status, u8 exit_stage, u8 cut, u8 head_where, u16 zero, f32 conf,
 * u32 zero, f32 probs[num_classes]. */
#define SF_FRAME_RESULT_HEADER_BYTES 16
int sf_frame_result_encode(const struct sf_serve_result *r, size_t n, int num_classes, void **out,
                           size_t *out_len, struct sf_err *err);
/* Decodes into a caller-freed array *r of *n entries. Same refusals as the input frame, and
 * num_classes other than want_classes (when > 0), a status above SF_RESULT_REFUSED, and an
 * answered record (status 0) whose label is outside the classes, whose exit stage is 0, or whose
 * confidence or probabilities are not finite. */
int sf_frame_result_decode(const void *buf, size_t len, int want_classes, size_t max_n,
                           struct sf_serve_result **r, size_t *n, struct sf_err *err);
/* SF_OK when the n results answer exactly the n_ids ids of a batch, each once (any order);
 * else SF_EINVAL naming the first stray, missing or repeated id. */
int sf_frame_results_match(const struct sf_serve_result *r, size_t n, const uint64_t *ids,
                           size_t n_ids, struct sf_err *err);
/* A frame inside JSON, for AWS Lambda's Invoke API, whose payloads are JSON only: the frame's
 * bytes base64-encoded (RFC 4648, padded) as the one member of {"serflow_frame":"..."}. The
 * aws function provider sends input and hidden-state frames so, and a function answers a
 * wrapped event with its result frame wrapped the same way. */
#define SF_FRAME_JSON_KEY "serflow_frame"
/* The JSON document for frame[0..len) into *out (heap, NUL-terminated, *out_len bytes);
 * SF_ETOOBIG above SF_SERVE_MAX_BODY_BYTES. */
int sf_frame_json_wrap(const void *frame, size_t len, char **out, size_t *out_len,
                       struct sf_err *err);
/* 1 when body[0..len) opens as a wrapped frame ({ "serflow_frame" : "): it is then a frame or
 * refused, never read as another JSON document. */
int sf_frame_json_is_wrapped(const char *body, size_t len);
/* The frame inside body[0..len) into *out (heap, NUL-terminated after *out_len bytes). Only the
 * one member, whitespace around tokens, canonical padded base64: anything else SF_EPARSE; a
 * frame above max_bytes SF_ETOOBIG, decided from the text's length before any allocation. */
int sf_frame_json_unwrap(const char *body, size_t len, size_t max_bytes, void **out,
                         size_t *out_len, struct sf_err *err);

/* SF_OK when the n ids are all distinct and non-zero; else SF_EINVAL. O(n log n), allocates a
 * copy (SF_ENOMEM). */
int sf_ids_distinct(const uint64_t *ids, size_t n, struct sf_err *err);

/* Converts a driver result (nn.h) into a serve result answered at cut/head_where; one whose
 * confidence or probabilities are not finite, or whose label is outside the classes, becomes
 * SF_RESULT_REFUSED (outputs are finite or refused, per image). */
void sf_serve_result_from_nn(const struct sf_nn_result *in, int num_classes, int cut,
                             int head_where, struct sf_serve_result *out);

/* ---- Open Inference Protocol v2 ---- */

/* The model's one input tensor, as GET /v2/models/NAME advertises it, and its outputs (in the
 * order a response lists them when the request names none). */
#define SF_OIP_INPUT_NAME "input"
enum sf_oip_output {
    SF_OIP_OUT_LABEL = 0, /* INT64 [n] */
    SF_OIP_OUT_PROBS,     /* FP32 [n, classes] */
    SF_OIP_OUT_EXIT,      /* INT32 [n] */
    SF_OIP_OUT_WHERE,     /* BYTES [n] */
    SF_OIP_N_OUTPUTS
};
extern const char *const sf_oip_output_names[]; /* "label", ..., NULL */
/* The version every model has ("1"): /v2/models/NAME/versions/1/... */
#define SF_OIP_MODEL_VERSION "1"
/* Entries of a request's "outputs" array: each names one of the outputs, at most once. */
#define SF_OIP_MAX_OUTPUTS SF_OIP_N_OUTPUTS

/* A parsed inference request: n images of the model's per-request shape, and the outputs it asks
 * for. */
struct sf_oip_request {
    char id[SF_OIP_MAX_ID_BYTES + 1]; /* the client's "id" (whole), "" when absent */
    size_t n;
    float *x; /* n x numel, heap (sf_oip_request_fini); NULL when bin is set */
    /* sf_oip_parse_request_ref with the binary extension: the n x numel little-endian floats in
     * the caller's buffer (bin of the call), checked but not copied: valid while that buffer is */
    const unsigned char *bin;
    /* the outputs asked for, in the request's order; n_outputs 0: every output */
    int n_outputs;
    int outputs[SF_OIP_MAX_OUTPUTS];
    /* bit k set: output k answered as binary data (the binary tensor extension: its parameter
     * binary_data, else the request's binary_data_output) */
    unsigned binary;
};

/* Parses an OIP v2 inference request. json[0..json_len) is the JSON (the whole body, or the
 * part before the binary data when the binary tensor extension's Inference-Header-Content-Length
 * is used); bin[0..bin_len) the binary part (NULL when none). Exactly one input tensor named
 * SF_OIP_INPUT_NAME, datatype "FP32", shape [n, dims...] (the model's per-request shape) or
 * [n, numel], data a flat or nested number array of n x numel values or, with the extension,
 * "parameters": {"binary_data_size": B} with B = n x numel x 4 bytes. 1 <= n <= max_n.
 * "outputs" (optional): objects naming outputs of sf_oip_output_names, each at most once, with
 * "parameters": {"binary_data": bool} (the extension); "parameters": {"binary_data_output":
 * bool} of the request asks for every output in binary. Before jansson builds its tree, a scan
 * counts the JSON values and refuses more than max_n x numel + SF_OIP_MAX_EXTRA_VALUES
 * (SF_ETOOBIG), so the tree takes at most sf_oip_parse_bytes(json_len, max_n, numel) bytes
 * whatever the body. Errors are SF_EPARSE (JSON syntax, with line and column), SF_EINVAL (a
 * field: the message names it, e.g. "inputs[0].datatype: expected FP32, got INT8",
 * "outputs[1].name: 'logits' is not an output of this model (label, probabilities, exit_stage,
 * where)"; an id over SF_OIP_MAX_ID_BYTES), SF_ETOOBIG (n above max_n, too many values). */
int sf_oip_parse_request(const char *json, size_t json_len, const void *bin, size_t bin_len,
                         const struct sf_nn_shape *shape, size_t max_n, struct sf_oip_request *out,
                         struct sf_err *err);
/* The same, but the binary extension's floats are left where they are (out->bin, x NULL):
 * the ingress copies each image once, from the request's body into its batch. */
int sf_oip_parse_request_ref(const char *json, size_t json_len, const void *bin, size_t bin_len,
                             const struct sf_nn_shape *shape, size_t max_n,
                             struct sf_oip_request *out, struct sf_err *err);
void sf_oip_request_fini(struct sf_oip_request *r);

/* The binary extension's JSON header a thread parsed last, with its parse: a client sends the
 * same header with every image, and jansson's tree of it cost more than a tenth of the ingress's
 * own time per request. Headers of at most SF_OIP_CACHE_HEADER_BYTES are kept. Zeroed: empty.
 * Not shared between threads (the ingress keeps one per event loop). */
#define SF_OIP_CACHE_HEADER_BYTES 1024
struct sf_oip_cache {
    int valid;
    const struct sf_nn_shape *shape;
    size_t max_n, json_len, bin_len;
    struct sf_oip_request req; /* bin NULL */
    char json[SF_OIP_CACHE_HEADER_BYTES];
};
/* sf_oip_parse_request_ref from the cache: SF_ENOTFOUND when json[0..json_len) is not the kept
 * header (or bin_len, shape or max_n differ; json bodies without binary data never match), else
 * the kept parse in *out with out->bin = bin, its floats checked finite as the parse checks them
 * (SF_OK, or SF_EINVAL naming the element). */
int sf_oip_cache_parse(const struct sf_oip_cache *c, const char *json, size_t json_len,
                       const void *bin, size_t bin_len, const struct sf_nn_shape *shape,
                       size_t max_n, struct sf_oip_request *out, struct sf_err *err);
/* Keeps json[0..json_len) and r, a successful sf_oip_parse_request_ref of it with binary data
 * of bin_len bytes, for shape and max_n (a longer header, or one without binary data, empties
 * the cache). */
void sf_oip_cache_put(struct sf_oip_cache *c, const char *json, size_t json_len, size_t bin_len,
                      const struct sf_nn_shape *shape, size_t max_n,
                      const struct sf_oip_request *r);
/* Upper bound of the memory one sf_oip_parse_request of this request takes (tree, strings and
 * the float tensor), from a count of its values (at most max_n x numel +
 * SF_OIP_MAX_EXTRA_VALUES are counted: more are refused by the parse), for a caller's budget. */
size_t sf_oip_parse_bytes(const char *json, size_t json_len, size_t bin_len, size_t max_n,
                          size_t numel);
/* The number of JSON values in text[0..len) (an upper bound for malformed text: every value but
 * the first follows a '[', ',' or ':' outside strings). Stops counting past limit. */
size_t sf_json_count_values(const char *text, size_t len, size_t limit);

/* The answer to req (its outputs, in its order, each as JSON data or binary) for n results:
 * *out (heap, caller frees) is the body, *out_len its bytes, *json_len the bytes of its JSON part
 * (= *out_len when no output is binary; else the value of the answer's
 * Inference-Header-Content-Length, the binary data of each binary output following in the order
 * of "outputs": INT64 and INT32 and FP32 little-endian, BYTES as a 4-byte little-endian length
 * before each element). model_version may be NULL (not named). req NULL: every output, as JSON.
 * SF_ENOMEM; SF_EINVAL when a result is not answered (status != 0) or not finite: the caller
 * answers an error instead (an answer's declared shapes always match its data). */
int sf_oip_response(const char *model_name, const char *model_version, const char *id,
                    const struct sf_oip_request *req, const struct sf_serve_result *r, size_t n,
                    char **out, size_t *out_len, size_t *json_len);
/* The JSON response body with every output (heap string, caller frees); NULL when
 * sf_oip_response fails. */
char *sf_oip_response_json(const char *model_name, const char *id, const struct sf_serve_result *r,
                           size_t n);
/* {"error": "msg"} (heap string, caller frees); bytes of msg that are not valid UTF-8 (a
 * client's path or id echoed back) are escaped as \xNN, so there is always a body. NULL when
 * out of memory. */
char *sf_oip_error_json(const char *msg);

/* A request body's Content-Encoding undone: NULL, "" or "identity" leave it as it is (*out NULL);
 * "gzip" (or "x-gzip") and "deflate" (zlib) are inflated into *out (heap, caller frees) of at most
 * max_out bytes, reserve(ctx, bytes) asked first for every growth of the buffer (a budget; it
 * returns 0 or -1 to refuse). SF_EUNSUPPORTED for any other coding (answer 415 with
 * Accept-Encoding: SF_OIP_ACCEPT_ENCODING), SF_ETOOBIG beyond max_out (a compressed bomb is
 * stopped there), SF_EPARSE for corrupt or truncated data or bytes after its end, SF_ENOMEM when
 * reserve refused or memory ran out. */
#define SF_OIP_ACCEPT_ENCODING "gzip, deflate, identity"
int sf_oip_decode_body(const char *encoding, const void *in, size_t len, size_t max_out,
                       int (*reserve)(void *ctx, size_t bytes), void *ctx, char **out,
                       size_t *out_len, struct sf_err *err);

/* ---- request ids and W3C trace context (serve/wire/reqtrace.c) ---- */

/* An X-Request-Id kept from a client: 1..128 visible ASCII bytes without a comma (internal calls
 * carry a batch's ids as a comma-separated list). Longer or other ids are replaced. */
#define SF_REQUEST_ID_MAX_BYTES 128
/* The list of request ids an internal call carries (a batch's), cut at a whole id. */
#define SF_REQUEST_IDS_MAX_BYTES 4096
/* A traceparent value: version 00 is 55 bytes; a later version may append fields. */
#define SF_TRACEPARENT_MAX_BYTES 256

/* One hop of a request's trace: the request id, the W3C trace id, this hop's span and the
 * caller's. */
struct sf_reqtrace {
    char request_id[SF_REQUEST_ID_MAX_BYTES + 1];
    char trace_id[33];  /* 32 lowercase hex digits, not all zero */
    char span_id[17];   /* this hop's: 16 lowercase hex digits, not all zero */
    char parent_id[17]; /* the caller's span, "" when this hop started the trace */
    unsigned flags;     /* trace-flags (bit 0: sampled) */
    int given_id;       /* request_id came from the caller */
};

/* 1 when v is an id to keep (see SF_REQUEST_ID_MAX_BYTES). */
int sf_request_id_valid(const char *v);
/* 1 when v is a comma-separated list of such ids (what internal calls carry), at most
 * SF_REQUEST_IDS_MAX_BYTES. */
int sf_request_ids_valid(const char *v);
/* Parses a W3C traceparent ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; a version
 * above 00 may carry more after the flags, "ff" is invalid; ids not all zero; lowercase hex):
 * SF_OK with the fields, or SF_EINVAL (the value is then ignored: the trace restarts). */
int sf_traceparent_parse(const char *v, char trace_id[33], char parent_id[17], unsigned *flags);
/* Starts this hop from a caller's X-Request-Id and traceparent (either may be NULL): the id kept
 * when valid (given_id) else a new UUID; the trace continued when the traceparent is valid (its
 * parent id becomes parent_id) else a new trace id; a new span id. Random from the CSPRNG. */
void sf_reqtrace_begin(struct sf_reqtrace *t, const char *request_id, const char *traceparent);
/* The traceparent naming this hop as the parent ("00-trace-span-flags"), into buf (>= 56). */
char *sf_reqtrace_header(const struct sf_reqtrace *t, char *buf, size_t size);

#endif
