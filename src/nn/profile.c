/*
 * profile.c - per-stage timings, hidden-state sizes and the tau sweep (nn_profile.h), and an
 * IDX (MNIST-format) reader for the labelled set. Reads the monotonic clock; prints nothing.
 */
#include "serflow/nn_profile.h"
#include "serflow/nn_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

/* Reads an IDX file, plain or gzip-compressed, through the capped reader (regular files and
 * pipes only); a gzip stream is inflated in memory and refused once it passes the same cap (a
 * small file that inflates to gigabytes is refused, not unpacked). */
static int read_idx_file(const char *path, unsigned char **out, size_t *len, struct sf_err *err)
{
    char *raw;
    size_t n;
    *out = NULL;
    *len = 0;
    int rc = sf_read_file(path, SF_IDX_FILE_BYTES, &raw, &n, err);
    if (rc != SF_OK)
        return rc;
    if (n < 2 || (unsigned char)raw[0] != 0x1f || (unsigned char)raw[1] != 0x8b) {
        *out = (unsigned char *)raw;
        *len = n;
        return SF_OK;
    }
    z_stream z = {0};
    size_t cap = n * 4 < SF_IDX_FILE_BYTES ? n * 4 + 1024 : SF_IDX_FILE_BYTES, used = 0;
    unsigned char *buf = malloc(cap);
    if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip wrapper */
        free(buf);
        free(raw);
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    }
    z.next_in = (unsigned char *)raw;
    z.avail_in = (uInt)n; /* n <= SF_IDX_FILE_BYTES < 4 GiB */
    for (;;) {
        if (used == cap) {
            if (cap >= SF_IDX_FILE_BYTES) {
                rc = sf_err_set(err, SF_ETOOBIG, "%s: inflates to more than %zu bytes", path,
                                (size_t)SF_IDX_FILE_BYTES);
                break;
            }
            size_t ncap = cap * 2 < SF_IDX_FILE_BYTES ? cap * 2 : SF_IDX_FILE_BYTES;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        z.next_out = buf + used;
        z.avail_out = (uInt)(cap - used);
        int zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            inflateReset(&z); /* another gzip member follows */
            continue;
        }
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && used == cap)) {
            rc = sf_err_set(err, SF_EPARSE, "%s: corrupt or truncated gzip data", path);
            break;
        }
    }
    inflateEnd(&z);
    free(raw);
    if (rc != SF_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = used;
    return SF_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void sf_nn_dataset_fini(struct sf_nn_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->labels);
    memset(d, 0, sizeof(*d));
}

int sf_nn_dataset_load_idx(const char *images_path, const char *labels_path, double mean,
                           double std, size_t max_n, struct sf_nn_dataset *out, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    unsigned char *im = NULL, *lb = NULL;
    size_t im_len, lb_len;
    int rc = read_idx_file(images_path, &im, &im_len, err);
    if (rc)
        return rc;
    rc = read_idx_file(labels_path, &lb, &lb_len, err);
    if (rc)
        goto out;
    if (im_len < 16 || be32(im) != 0x00000803) {
        rc = sf_err_set(err, SF_EPARSE, "%s: not an IDX3 unsigned-byte image file", images_path);
        goto out;
    }
    if (lb_len < 8 || be32(lb) != 0x00000801) {
        rc = sf_err_set(err, SF_EPARSE, "%s: not an IDX1 unsigned-byte label file", labels_path);
        goto out;
    }
    uint32_t n = be32(im + 4), h = be32(im + 8), w = be32(im + 12), nl = be32(lb + 4);
    if (h == 0 || w == 0 || h > SF_IDX_MAX_SIDE || w > SF_IDX_MAX_SIDE ||
        (uint64_t)n * h * w > im_len - 16) {
        rc = sf_err_set(err, SF_EPARSE, "%s: truncated or bad sizes (%u x %u x %u)", images_path, n,
                        h, w);
        goto out;
    }
    if (nl != n || nl > lb_len - 8) {
        rc = sf_err_set(err, SF_EINVAL, "%s: %u labels for %u images", labels_path, nl, n);
        goto out;
    }
    size_t keep = max_n && max_n < n ? max_n : n;
    out->x = malloc(keep * h * w * sizeof(float) + 1);
    out->labels = malloc(keep * sizeof(int) + 1);
    if (!out->x || !out->labels) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", images_path);
        goto out;
    }
    for (size_t i = 0; i < keep * h * w; i++)
        out->x[i] = (float)((im[16 + i] / 255.0 - mean) / std);
    for (size_t i = 0; i < keep; i++)
        out->labels[i] = lb[8 + i];
    out->n = keep;
    out->h = (int)h;
    out->w = (int)w;
out:
    free(im);
    free(lb);
    if (rc)
        sf_nn_dataset_fini(out);
    return rc;
}

int sf_nn_dataset_check(const struct sf_nn_dataset *d, const struct sf_nn_model *m,
                        const char *images_path, struct sf_err *err)
{
    const struct sf_nn_shape *in = sf_nn_model_input_shape(m);
    size_t want = sf_nn_shape_numel(in);
    if (d->n == 0)
        return sf_err_set(err, SF_EINVAL, "%s: no images", images_path);
    if ((size_t)d->h * (size_t)d->w != want)
        return sf_err_set(err, SF_EINVAL,
                          "%s: images are %dx%d (%zu values) but the model takes %zu values per "
                          "request",
                          images_path, d->h, d->w, (size_t)d->h * (size_t)d->w, want);
    for (size_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= sf_nn_model_num_classes(m))
            return sf_err_set(err, SF_EINVAL,
                              "%s: label %d of image %zu is not one of the model's "
                              "%d classes",
                              images_path, d->labels[i], i + 1, sf_nn_model_num_classes(m));
    return SF_OK;
}

/* Bilinear source coordinate of output index o on an axis scaled from `in` to `out` samples,
 * with half-pixel centres (PyTorch's interpolate, align_corners=False): the lower sample, the
 * upper one and the weight of the upper. */
static void bilinear_tap(int o, int in, int out, int *i0, int *i1, float *frac)
{
    float src = ((float)o + 0.5f) * ((float)in / (float)out) - 0.5f;
    if (src < 0.0f)
        src = 0.0f;
    *i0 = (int)src;
    if (*i0 > in - 1)
        *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *frac = src - (float)*i0;
}

int sf_nn_dataset_fit(struct sf_nn_dataset *d, const struct sf_nn_model *m, struct sf_err *err)
{
    const struct sf_nn_shape *in = sf_nn_model_input_shape(m);
    if (in->ndim != 3 || in->dims[0] != 1 || (in->dims[1] == d->h && in->dims[2] == d->w) ||
        d->n == 0)
        return SF_OK; /* nothing to resize, or not a one-channel image: the check decides */
    /* a resize within a factor of 2 a side (28x28 test images for a 32x32 model) is the same
     * data; anything further is the wrong test set, and the check refuses it by name */
    if (2 * (int64_t)d->h < in->dims[1] || 2 * (int64_t)d->w < in->dims[2] ||
        (int64_t)d->h > 2 * in->dims[1] || (int64_t)d->w > 2 * in->dims[2])
        return SF_OK;
    if (in->dims[1] > SF_IDX_MAX_SIDE || in->dims[2] > SF_IDX_MAX_SIDE)
        return sf_err_set(err, SF_EINVAL, "model input %lldx%lld: larger than %d pixels a side",
                          (long long)in->dims[1], (long long)in->dims[2], SF_IDX_MAX_SIDE);
    int oh = (int)in->dims[1], ow = (int)in->dims[2];
    size_t plane = (size_t)oh * (size_t)ow;
    if (d->n > SIZE_MAX / sizeof(float) / plane)
        return sf_err_set(err, SF_ETOOBIG, "%zu images of %dx%d: too large", d->n, oh, ow);
    float *y = malloc(d->n * plane * sizeof(float));
    if (!y)
        return sf_err_set(err, SF_ENOMEM, "out of memory resizing %zu images to %dx%d", d->n, oh,
                          ow);
    for (size_t i = 0; i < d->n; i++) {
        const float *x = d->x + i * (size_t)d->h * (size_t)d->w;
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            float fy;
            bilinear_tap(oy, d->h, oh, &y0, &y1, &fy);
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                float fx;
                bilinear_tap(ox, d->w, ow, &x0, &x1, &fx);
                const float *r0 = x + (size_t)y0 * d->w, *r1 = x + (size_t)y1 * d->w;
                float top = r0[x0] + fx * (r0[x1] - r0[x0]);
                float bot = r1[x0] + fx * (r1[x1] - r1[x0]);
                y[i * plane + (size_t)oy * ow + ox] = top + fy * (bot - top);
            }
        }
    }
    free(d->x);
    d->x = y;
    d->h = oh;
    d->w = ow;
    return SF_OK;
}

/* Layout stage k's hidden state is written in by a runner: the one stage k+1 reads. */
static enum sf_nn_layout hidden_layout(struct sf_nn_runner *r, int k)
{
    struct sf_nn_exec *next = sf_nn_runner_exec(r, k + 1);
    return next ? sf_nn_exec_input_layout(next) : SF_NN_LAYOUT_NCHW;
}

/* One batch size's buffers for a stage: its input (the stage before's hidden state, or the
 * images for stage 1) in the layout a runner hands it over in, its hidden state and logits, and
 * its timed runs. */
struct pass_bufs {
    const float *x;
    float *h, *l;
    enum sf_nn_layout xl, hl;
    double *t;
};

static void pass_bufs_free(struct pass_bufs *p, int ns, float *images)
{
    for (int k = 0; k < ns; k++) {
        free(p[k].h);
        free(p[k].l);
        free(p[k].t);
    }
    free(images);
}

/* The buffers of every stage for one batch of `batch` images (n_images, reused cyclically, into
 * *x1, caller frees): one pass through the stages fills each stage's input with the hidden state
 * the stage before hands over, as a runner does. */
static int pass_bufs_make(struct sf_nn_runner *r, const struct sf_nn_model *m, const float *images,
                          size_t n_images, size_t batch, int reps, struct pass_bufs *p, float **x1,
                          struct sf_err *err)
{
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m), rc = SF_OK;
    size_t in_n = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    float *x = *x1 = malloc(batch * in_n * sizeof(float));
    if (!x)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    for (size_t i = 0; i < batch; i++)
        memcpy(x + i * in_n, images + (i % n_images) * in_n, in_n * sizeof(float));
    enum sf_nn_layout xl = SF_NN_LAYOUT_NCHW;
    for (int k = 1; k <= ns && !rc; k++) {
        struct pass_bufs *b = &p[k - 1];
        b->x = x;
        b->xl = xl;
        b->hl = hidden_layout(r, k);
        size_t hn = sf_nn_layout_numel(b->hl, sf_nn_stage_hidden_shape(sf_nn_model_stage(m, k)));
        b->h = malloc(batch * (hn ? hn : 1) * sizeof(float));
        b->l = malloc(batch * (size_t)nc * sizeof(float));
        b->t = malloc((size_t)reps * sizeof(double));
        rc = b->h && b->l && b->t ? sf_nn_exec_run_layout(sf_nn_runner_exec(r, k), b->x, b->xl,
                                                          batch, b->h, b->hl, b->l, err)
                                  : sf_err_set(err, SF_ENOMEM, "out of memory");
        x = b->h;
        xl = b->hl;
    }
    return rc;
}

/* Stage k's runs at one batch size, sorted: median (the lower one: with few runs on a shared
 * host, one run delayed by the scheduler must not move it) and p99 (nearest rank). */
static void timing_of(double *t, int reps, int k, size_t batch, struct sf_nn_stage_timing *o)
{
    qsort(t, (size_t)reps, sizeof(double), sf_cmp_double);
    o->stage = k;
    o->batch = batch;
    o->median_s = t[(reps - 1) / 2];
    size_t rank = (size_t)((99 * (size_t)reps + 99) / 100); /* ceil(0.99 reps) */
    o->p99_s = t[rank ? rank - 1 : 0];
    o->per_req_s = o->median_s / (double)batch;
}

/* Each run is a pass over every stage in order, as a runner makes it: a stage meets the caches
 * the one before it left (its own weights evicted when the model's exceed the cache), not the
 * ones its own previous run left. Timing a stage alone, run after run, keeps its weights in
 * cache: VGG16-SDN's stages (60 MB of weights) took 1.4-1.9x longer in a whole pass. */
int sf_nn_profile_stage_times(struct sf_nn_runner *r, const struct sf_nn_model *m,
                              const float *images, size_t n_images, const size_t *batches,
                              size_t nb, int warmup, int reps, struct sf_nn_stage_timing *out,
                              struct sf_err *err)
{
    if (n_images == 0 || reps < 1 || reps > 100000 || warmup < 0)
        return sf_err_set(err, SF_EINVAL, "profile: need images, 1..100000 reps");
    int ns = sf_nn_model_num_stages(m), rc = SF_OK;
    struct pass_bufs p[SF_NN_MAX_STAGES];
    for (size_t bi = 0; bi < nb && !rc; bi++) {
        size_t batch = batches[bi];
        if (batch == 0 || batch > 65536)
            return sf_err_set(err, SF_EINVAL, "profile: batch %zu out of 1..65536", batch);
        float *x1 = NULL;
        memset(p, 0, sizeof(p));
        rc = pass_bufs_make(r, m, images, n_images, batch, reps, p, &x1, err);
        for (int i = -warmup; i < reps && !rc; i++)
            for (int k = 1; k <= ns && !rc; k++) {
                struct pass_bufs *b = &p[k - 1];
                double t0 = sf_monotonic_s();
                rc = sf_nn_exec_run_layout(sf_nn_runner_exec(r, k), b->x, b->xl, batch, b->h, b->hl,
                                           b->l, err);
                if (i >= 0)
                    b->t[i] = sf_monotonic_s() - t0;
            }
        for (int k = 1; k <= ns && !rc; k++)
            timing_of(p[k - 1].t, reps, k, batch, &out[(size_t)(k - 1) * nb + bi]);
        pass_bufs_free(p, ns, x1);
    }
    return rc;
}

int sf_nn_profile_hidden_sizes(struct sf_nn_runner *r, const struct sf_nn_model *m,
                               const float *images, size_t n, struct sf_nn_hidden_size *out,
                               struct sf_err *err)
{
    if (n == 0)
        return sf_err_set(err, SF_EINVAL, "profile: no images");
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_nn_result *res = malloc(n * sizeof(*res));
    int rc = res ? sf_nn_batch_set_input(&b, m, images, NULL, n, err)
                 : sf_err_set(err, SF_ENOMEM, "out of memory");
    int ns = sf_nn_model_num_stages(m);
    for (int k = 1; k < ns && !rc; k++) {
        size_t n_out;
        /* tau above 1: nobody exits, every request's state is measured. */
        rc = sf_nn_runner_run(r, &b, k, 2.0, res, &n_out, err);
        if (rc)
            break;
        void *buf;
        size_t len, raw;
        rc = sf_nn_codec_encode(&b, 2.0, &buf, &len, &raw, err);
        if (rc)
            break;
        free(buf);
        out[k - 1].stage = k;
        out[k - 1].raw_bytes_per_req = raw / n;
        out[k - 1].lz4_bytes_per_req = (double)len / (double)n;
    }
    free(res);
    sf_nn_batch_fini(&b);
    return rc;
}

int sf_nn_profile_taus(struct sf_nn_runner *r, const struct sf_nn_model *m,
                       const struct sf_nn_dataset *d, size_t batch, const double *taus, size_t nt,
                       struct sf_nn_tau_stats *out, double *per_classifier_acc, struct sf_err *err)
{
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m);
    size_t in_n = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    if (d->n == 0 || batch == 0 || (size_t)d->h * (size_t)d->w != in_n)
        return sf_err_set(err, SF_EINVAL, "profile: dataset images do not fit the model input");
    /* conf/label of every classifier for every request. */
    float *conf = malloc(d->n * (size_t)ns * sizeof(float));
    int *label = malloc(d->n * (size_t)ns * sizeof(int));
    float *l = malloc(batch * (size_t)nc * sizeof(float));
    int rc = conf && label && l ? SF_OK : sf_err_set(err, SF_ENOMEM, "out of memory");
    for (size_t i0 = 0; i0 < d->n && !rc; i0 += batch) {
        size_t n = d->n - i0 < batch ? d->n - i0 : batch;
        float *x = malloc(n * in_n * sizeof(float));
        if (!x) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
            break;
        }
        memcpy(x, d->x + i0 * in_n, n * in_n * sizeof(float));
        enum sf_nn_layout xl = SF_NN_LAYOUT_NCHW;
        for (int k = 1; k <= ns && !rc; k++) {
            enum sf_nn_layout hl = hidden_layout(r, k);
            size_t hn = sf_nn_layout_numel(hl, sf_nn_stage_hidden_shape(sf_nn_model_stage(m, k)));
            float *h = malloc(n * (hn ? hn : 1) * sizeof(float));
            rc = h ? sf_nn_exec_run_layout(sf_nn_runner_exec(r, k), x, xl, n, h, hl, l, err)
                   : sf_err_set(err, SF_ENOMEM, "out of memory");
            xl = hl;
            for (size_t i = 0; i < n && !rc; i++) {
                float p[SF_NN_MAX_CLASSES];
                int c = sf_nn_softmax(l + i * (size_t)nc, nc, p);
                conf[(i0 + i) * (size_t)ns + (size_t)(k - 1)] = p[c];
                label[(i0 + i) * (size_t)ns + (size_t)(k - 1)] = c;
            }
            free(x);
            x = h;
        }
        free(x);
    }
    if (!rc && per_classifier_acc)
        for (int k = 0; k < ns; k++) {
            size_t ok = 0;
            for (size_t i = 0; i < d->n; i++)
                ok += label[i * (size_t)ns + (size_t)k] == d->labels[i];
            per_classifier_acc[k] = (double)ok / (double)d->n;
        }
    for (size_t t = 0; t < nt && !rc; t++) {
        struct sf_nn_tau_stats *o = &out[t];
        memset(o, 0, sizeof(*o));
        o->tau = taus[t];
        size_t ok = 0, stages = 0;
        for (size_t i = 0; i < d->n; i++) {
            const float *c = conf + i * (size_t)ns;
            int exit_k = ns, ans = -1;
            for (int k = 0; k < ns; k++)
                if ((double)c[k] >= taus[t]) {
                    exit_k = k + 1;
                    ans = k;
                    break;
                }
            if (ans < 0) { /* the most confident classifier, earliest on ties */
                ans = 0;
                for (int k = 1; k < ns; k++)
                    if (c[k] > c[ans])
                        ans = k;
            }
            o->exit_frac[exit_k - 1] += 1.0;
            stages += (size_t)exit_k;
            ok += label[i * (size_t)ns + (size_t)ans] == d->labels[i];
        }
        for (int k = 0; k < ns; k++)
            o->exit_frac[k] /= (double)d->n;
        o->accuracy = (double)ok / (double)d->n;
        o->mean_stages = (double)stages / (double)d->n;
    }
    free(conf);
    free(label);
    free(l);
    return rc;
}
