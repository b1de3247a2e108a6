/*
 * nn_codec.h - the hidden-state wire format between a head (stages 1..c) and a tail
 * (stages c+1..N): a small versioned header, a request table, and the survivors' hidden state
 * as one LZ4 frame (liblz4, content size and content checksum on).
 *
 * Layout (little-endian):
 *   0  "SFHS" magic            4  u16 version (1)       6  u16 dtype (1 = float32)
 *   8  u16 stages done         10 u16 num_classes       12 u16 ndim (1..3)   14 u16 zero
 *   16 u32 requests n          20 f32 tau               24 u32 dims[3] (unused ones 0)
 *   36 u32 LZ4 frame bytes     40 u32 CRC-32 of bytes 0..39 and the request table
 *   44 request table: n x { u64 id, i16 best class, u16 best stage, f32 best confidence,
 *                          f32 best probabilities[num_classes] }
 *   then the LZ4 frame holding n x prod(dims) float32 values, and nothing after it.
 */
#ifndef SERFLOW_NN_CODEC_H
#define SERFLOW_NN_CODEC_H

#include <stddef.h>

#include "serflow/core.h"
#include "serflow/nn.h"

#define SF_NN_CODEC_VERSION      1
#define SF_NN_CODEC_HEADER_BYTES 44

/* Encodes the survivors in b (b->n requests, hidden state b->x of shape b->shape in layout
 * b->layout, after b->stages_done stages) and tau into a new heap buffer *out (caller frees) of
 * *out_len bytes. The frame holds the state in NCHW whatever b->layout (a blocked state is
 * converted here, where it leaves the process). raw_bytes (may be NULL) receives the
 * uncompressed hidden-state size. */
int sf_nn_codec_encode(const struct sf_nn_batch *b, double tau, void **out, size_t *out_len,
                       size_t *raw_bytes, struct sf_err *err);

/* Decodes buf into b (reset, then filled; layout NCHW) and *tau. Refuses, with a message saying
 * what is wrong: bad magic or version (SF_EUNSUPPORTED), header or table checksum mismatch, LZ4
 * checksum or size mismatch, trailing bytes (SF_ECORRUPT), truncation (SF_EPARSE), more than
 * max_hidden_bytes of hidden state or more than 2^20 requests (SF_ETOOBIG). Never reads
 * outside buf[0..len). */
int sf_nn_codec_decode(const void *buf, size_t len, size_t max_hidden_bytes, struct sf_nn_batch *b,
                       double *tau, struct sf_err *err);

#endif
