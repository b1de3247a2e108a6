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
/* SF_OK when the n ids are all distinct and non-zero; else SF_EINVAL. O(n log n), allocates a
 * copy (SF_ENOMEM). */
int sf_ids_distinct(const uint64_t *ids, size_t n, struct sf_err *err);

/* Converts a driver result (nn.h) into a serve result answered at cut/head_where; one whose
 * confidence or probabilities are not finite, or whose label is outside the classes, becomes
 * SF_RESULT_REFUSED (outputs are finite or refused, per image). */
void sf_serve_result_from_nn(const struct sf_nn_result *in, int num_classes, int cut,
                             int head_where, struct sf_serve_result *out);

/* ---- Open Inference Protocol v2 ---- */

/* A parsed inference request: n images of the model's per-request shape. */
struct sf_oip_request {
    char id[SF_OIP_MAX_ID_BYTES + 1]; /* the client's "id" (whole), "" when absent */
    size_t n;
    float *x; /* n x numel, heap (sf_oip_request_fini); NULL when bin is set */
    /* sf_oip_parse_request_ref with the binary extension: the n x numel little-endian floats in
     * the caller's buffer (bin of the call), checked but not copied: valid while that buffer is */
    const unsigned char *bin;
};

/* Parses an OIP v2 inference request. json[0..json_len) is the JSON (the whole body, or the
 * part before the binary data when the binary tensor extension's Inference-Header-Content-Length
 * is used); bin[0..bin_len) the binary part (NULL when none). Exactly one input tensor, datatype
 * "FP32", shape [n, dims...] (the model's per-request shape) or [n, numel], data a flat or nested
 * number array of n x numel values or, with the extension, "parameters": {"binary_data_size": B}
 * with B = n x numel x 4 bytes. 1 <= n <= max_n. Before jansson builds its tree, a scan counts
 * the JSON values and refuses more than max_n x numel + SF_OIP_MAX_EXTRA_VALUES (SF_ETOOBIG), so
 * the tree takes at most sf_oip_parse_bytes(json_len, max_n, numel) bytes whatever the body.
 * Errors are SF_EPARSE (JSON syntax, with line and column), SF_EINVAL (a field: the message names
 * it, e.g. "inputs[0].datatype: expected FP32, got INT8"; an id over SF_OIP_MAX_ID_BYTES),
 * SF_ETOOBIG (n above max_n, too many values). */
int sf_oip_parse_request(const char *json, size_t json_len, const void *bin, size_t bin_len,
                         const struct sf_nn_shape *shape, size_t max_n, struct sf_oip_request *out,
                         struct sf_err *err);
/* The same, but the binary extension's floats are left where they are (out->bin, x NULL):
 * the ingress copies each image once, from the request's body into its batch. */
int sf_oip_parse_request_ref(const char *json, size_t json_len, const void *bin, size_t bin_len,
                             const struct sf_nn_shape *shape, size_t max_n,
                             struct sf_oip_request *out, struct sf_err *err);
void sf_oip_request_fini(struct sf_oip_request *r);
/* Upper bound of the memory one sf_oip_parse_request of this request takes (tree, strings and
 * the float tensor), from a count of its values (at most max_n x numel +
 * SF_OIP_MAX_EXTRA_VALUES are counted: more are refused by the parse), for a caller's budget. */
size_t sf_oip_parse_bytes(const char *json, size_t json_len, size_t bin_len, size_t max_n,
                          size_t numel);
/* The number of JSON values in text[0..len) (an upper bound for malformed text: every value but
 * the first follows a '[', ',' or ':' outside strings). Stops counting past limit. */
size_t sf_json_count_values(const char *text, size_t len, size_t limit);

/* The JSON response body for n results (heap string, caller frees): outputs "label" (INT64 [n]),
 * "probabilities" (FP32 [n, C]), "exit_stage" (INT32 [n]), "where" (BYTES [n]). NULL when out
 * of memory, or when a result is not answered (status != 0) or not finite: the caller answers an
 * error instead (an answer's declared shapes always match its data). */
char *sf_oip_response_json(const char *model_name, const char *id, const struct sf_serve_result *r,
                           size_t n);
/* {"error": "msg"} (heap string, caller frees); bytes of msg that are not valid UTF-8 (a
 * client's path or id echoed back) are escaped as \xNN, so there is always a body. NULL when
 * out of memory. */
char *sf_oip_error_json(const char *msg);

#endif
