/*
 * nn_profile.h - measurements a planner needs from an early-exit model: per-stage runtime
 * per batch size (median and p99 after warm-up), hidden-state bytes per request (raw and in
 * the LZ4 codec), and exit fractions and accuracy per threshold tau on a labelled set.
 * Library only: callers (a `serflow profile` command, benches) print the numbers.
 */
#ifndef SERFLOW_NN_PROFILE_H
#define SERFLOW_NN_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"
#include "serflow/nn.h"

/* A labelled image set in memory: n images of h x w float32 (normalised with the model's
 * mean/std), and n labels. */
struct sf_nn_dataset {
    size_t n;
    int h, w;
    float *x;
    int *labels;
};

/* Reads an IDX image file and its IDX label file (gzip-compressed or plain, e.g. the
 * Fashion-MNIST t10k files), normalises pixels as (p / 255 - mean) / std, and keeps at most
 * max_n images (0: all). Errors name the file: SF_EIO, SF_EPARSE (bad magic, sizes,
 * truncation), SF_EINVAL (image and label counts differ). */
int sf_nn_dataset_load_idx(const char *images_path, const char *labels_path, double mean,
                           double std, size_t max_n, struct sf_nn_dataset *out, struct sf_err *err);
void sf_nn_dataset_fini(struct sf_nn_dataset *d);
/* Resizes every image to the model's input height and width when the model takes one channel
 * of another size (e.g. 28x28 Fashion-MNIST for a 32x32 VGG16): bilinear with half-pixel
 * centres, as PyTorch's interpolate(mode="bilinear", align_corners=False) does, which is how
 * such a model is trained (tools/train_vgg16_sdn.py), within a factor of 2 a side. A no-op
 * otherwise (sf_nn_dataset_check then refuses a wrong size). SF_ENOMEM. */
int sf_nn_dataset_fit(struct sf_nn_dataset *d, const struct sf_nn_model *m, struct sf_err *err);
/* Checks a dataset against a model before any image is used: at least one image, h x w equal
 * to the model's per-request input size, every label one of its classes. SF_EINVAL with a
 * message naming images_path otherwise. The measurement functions below trust their images. */
int sf_nn_dataset_check(const struct sf_nn_dataset *d, const struct sf_nn_model *m,
                        const char *images_path, struct sf_err *err);

struct sf_nn_stage_timing {
    int stage;        /* 1-based */
    size_t batch;     /* requests per run */
    double median_s;  /* per run of the whole batch (the lower median for an even count) */
    double p99_s;     /* 99th percentile (nearest rank) */
    double per_req_s; /* median_s / batch */
};

/* Times every stage of r at every batch size in batches[0..nb): `warmup` untimed passes, then
 * `reps` timed passes (1..100000), each running stages 1..ns in order as a runner does (a stage
 * meets the caches its predecessor left), on inputs taken from the model's own hidden states
 * for `images` (at least one image, reused cyclically). out needs ns * nb entries,
 * stage-major. Blocks for the duration of the runs. */
int sf_nn_profile_stage_times(struct sf_nn_runner *r, const struct sf_nn_model *m,
                              const float *images, size_t n_images, const size_t *batches,
                              size_t nb, int warmup, int reps, struct sf_nn_stage_timing *out,
                              struct sf_err *err);

struct sf_nn_hidden_size {
    int stage;                /* 1-based; the hidden state leaving this stage */
    size_t raw_bytes_per_req; /* float32 tensor bytes */
    double lz4_bytes_per_req; /* codec frame bytes (header + table + LZ4) / requests */
};

/* Hidden-state sizes after every stage but the last, encoding all n images' states with the
 * codec. out needs ns - 1 entries. */
int sf_nn_profile_hidden_sizes(struct sf_nn_runner *r, const struct sf_nn_model *m,
                               const float *images, size_t n, struct sf_nn_hidden_size *out,
                               struct sf_err *err);

struct sf_nn_tau_stats {
    double tau;
    double exit_frac[SF_NN_MAX_STAGES]; /* fraction of requests leaving after stage k+1 */
    double accuracy;                    /* top-1 of the early-exit answers */
    double mean_stages;                 /* stages run per request on average */
};

/* Runs every classifier on the dataset once (in batches of `batch`) and applies the exit
 * rule of sf_nn_runner_run for each tau offline. per_classifier_acc (may be NULL) receives
 * each classifier's own top-1 accuracy (ns entries). */
int sf_nn_profile_taus(struct sf_nn_runner *r, const struct sf_nn_model *m,
                       const struct sf_nn_dataset *d, size_t batch, const double *taus, size_t nt,
                       struct sf_nn_tau_stats *out, double *per_classifier_acc, struct sf_err *err);

#endif
