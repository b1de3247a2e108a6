/*
 * tracegen.c - synthetic request traces for the scaling bench (sim.h): per-second Poisson counts
 * around a rate that follows one of six shapes a serving system meets, deterministic per seed.
 * docs/controller.md describes each family and its parameters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/trace.h"

static const char *const family_names[SF_TG_COUNT] = {"diurnal", "onoff", "flash",  "ramp",
                                                      "steps",   "quiet", "sparse", "spiky"};

const char *sf_tracegen_name(int family)
{
    return family >= 0 && family < SF_TG_COUNT ? family_names[family] : "?";
}

int sf_tracegen_parse(const char *name)
{
    for (int f = 0; f < SF_TG_COUNT; f++)
        if (!strcmp(name, family_names[f]))
            return f;
    return -1;
}

static double expo(uint64_t *rng, double mean)
{
    return -mean * log(sf_rand_unit(rng));
}

/* A Poisson draw: inversion by multiplication for small means, the normal approximation (with
 * continuity correction) above 30, where it is within a fraction of a percent. */
static uint32_t poisson(uint64_t *rng, double mean)
{
    if (!(mean > 0))
        return 0;
    if (mean > 30) {
        double x = floor(mean + sqrt(mean) * sf_rand_normal(rng) + 0.5);
        return x < 0 ? 0 : x > 4e9 ? 4000000000u : (uint32_t)x;
    }
    double l = exp(-mean), p = 1;
    uint32_t k = 0;
    do {
        k++;
        p *= sf_rand_unit(rng);
    } while (p > l);
    return k - 1;
}

/* The shape of the rate over time, relative to 1 (scaled to the mean afterwards). */
static void shape(int family, int64_t n, uint64_t *rng, double *rate)
{
    switch (family) {
    case SF_TG_DIURNAL: {
        /* two 4-hour "days" of a smooth cycle (trough a fifth of the peak), slow multiplicative
         * noise (a 10-minute random walk) on top */
        double period = 4 * 3600.0, walk = 0;
        for (int64_t t = 0; t < n; t++) {
            if (t % 600 == 0)
                walk = 0.7 * walk + 0.15 * sf_rand_normal(rng);
            rate[t] = (0.6 - 0.4 * cos(2 * 3.14159265358979323846 * t / period)) * exp(walk);
        }
        break;
    }
    case SF_TG_ONOFF: {
        /* a two-state Markov-modulated Poisson process: on (rate 1) for exp(10 min), off (rate
         * 0.1) for exp(20 min) */
        int on = 0;
        double left = expo(rng, 1200);
        for (int64_t t = 0; t < n; t++) {
            if ((left -= 1) <= 0) {
                on = !on;
                left = expo(rng, on ? 600 : 1200);
            }
            rate[t] = on ? 1.0 : 0.1;
        }
        break;
    }
    case SF_TG_FLASH: {
        /* a flat base with flash crowds: every exp(1 h) a jump to 6x that decays with a 5-minute
         * time constant */
        double next = expo(rng, 3600), boost = 0;
        for (int64_t t = 0; t < n; t++) {
            if (t >= next) {
                boost += 5;
                next = t + expo(rng, 3600);
            }
            rate[t] = 1 + boost;
            boost *= exp(-1.0 / 300);
        }
        break;
    }
    case SF_TG_RAMP: {
        /* a slow linear ramp from a tenth to twice the base, with 5 % noise per minute */
        double wobble = 0;
        for (int64_t t = 0; t < n; t++) {
            if (t % 60 == 0)
                wobble = 0.05 * sf_rand_normal(rng);
            rate[t] = (0.1 + 1.9 * (double)t / (double)(n > 1 ? n - 1 : 1)) * (1 + wobble);
        }
        break;
    }
    case SF_TG_STEPS: {
        /* piecewise-constant levels, each held exp(40 min), drawn uniformly in [0.1, 2] */
        double level = 0.1 + 1.9 * sf_rand_unit(rng), left = expo(rng, 2400);
        for (int64_t t = 0; t < n; t++) {
            if ((left -= 1) <= 0) {
                level = 0.1 + 1.9 * sf_rand_unit(rng);
                left = expo(rng, 2400);
            }
            rate[t] = level;
        }
        break;
    }
    case SF_TG_SPARSE:
    case SF_TG_SPIKY: {
        /* sparse-bursty: bursts start as a Poisson process whose rate follows a 4-hour cycle
         * (half to one and a half times its average), each lasts a geometric number of seconds
         * and has a lognormal height; between bursts the rate is exactly zero, so most seconds
         * are empty. sparse: bursts of 30 s every 2 minutes (heights sigma 0.6); spiky: spikes of
         * 2 s every 7 s (sigma 0.7). Heights are relative here and scaled to the mean later;
         * the caller truncates the peaks at SF_TRACEGEN_MAX_PEAK times the mean. */
        int spiky = family == SF_TG_SPIKY;
        double gap = spiky ? 7.0 : 120.0, len = spiky ? 2.0 : 30.0, sigma = spiky ? 0.7 : 0.6;
        double left = 0, height = 0;
        for (int64_t t = 0; t < n; t++) {
            double start_p = (1 - 0.5 * cos(2 * 3.14159265358979323846 * t / (4 * 3600.0))) / gap;
            if (left <= 0 && sf_rand_unit(rng) < start_p) {
                left = 1 + floor(-log(sf_rand_unit(rng)) * (len - 0.5)); /* geometric, mean len */
                height = exp(sigma * sf_rand_normal(rng) - 0.5 * sigma * sigma);
            }
            rate[t] = left > 0 ? height : 0;
            left -= 1;
        }
        break;
    }
    default: { /* SF_TG_QUIET */
        /* long quiet stretches (2 % of the busy rate) for exp(1.5 h), busy ones for exp(20 min) */
        int busy = 0;
        double left = expo(rng, 5400);
        for (int64_t t = 0; t < n; t++) {
            if ((left -= 1) <= 0) {
                busy = !busy;
                left = expo(rng, busy ? 1200 : 5400);
            }
            rate[t] = busy ? 1.0 : 0.02;
        }
        break;
    }
    }
}

int sf_tracegen(int family, double mean_rps, int64_t seconds, uint64_t seed, uint32_t *counts,
                struct sf_err *err)
{
    if (family < 0 || family >= SF_TG_COUNT)
        return sf_err_set(err, SF_EINVAL, "tracegen: unknown family %d", family);
    if (!(mean_rps > 0) || !(mean_rps <= SF_TRACEGEN_MAX_MEAN_RPS) || seconds < 1 ||
        seconds > SF_TRACEGEN_MAX_SECONDS)
        return sf_err_set(err, SF_ERANGE, "tracegen: need 0 < mean <= %g req/s and 1..%lld seconds",
                          SF_TRACEGEN_MAX_MEAN_RPS, (long long)SF_TRACEGEN_MAX_SECONDS);
    double *rate = malloc(sizeof(double) * (size_t)seconds);
    if (!rate)
        return sf_err_set(err, SF_ENOMEM, "tracegen: out of memory");
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)family;
    shape(family, seconds, &rng, rate);
    double sum = 0;
    for (int64_t t = 0; t < seconds; t++)
        sum += rate[t];
    double scale = sum > 0 ? mean_rps * (double)seconds / sum : 0;
    /* the sparse-bursty families' rare tallest bursts are cut at the peak cap; the scale is then
     * raised once so that the mean stays close to the one asked for (the other families never
     * reach the cap and are left exactly as they were) */
    double cap = SF_TRACEGEN_MAX_PEAK * mean_rps, kept = 0;
    int capped = 0;
    for (int64_t t = 0; t < seconds; t++) {
        capped |= rate[t] * scale > cap;
        kept += fmin(rate[t] * scale, cap);
    }
    if (capped && kept > 0)
        scale *= mean_rps * (double)seconds / kept;
    for (int64_t t = 0; t < seconds; t++)
        counts[t] = poisson(&rng, fmin(rate[t] * scale, cap));
    free(rate);
    return SF_OK;
}

int sf_trace_from_counts(struct sf_trace *t, const char *name, const uint32_t *counts, int64_t n,
                         enum sf_trace_unit unit, double epoch_s, struct sf_err *err)
{
    if (n < 1 || n > SF_TRACEGEN_MAX_SECONDS)
        return sf_err_set(err, SF_ERANGE, "%s: 1..%lld counts", name,
                          (long long)SF_TRACEGEN_MAX_SECONDS);
    /* through the checked text parser, so that a generated trace obeys every rule a file does */
    size_t cap = (size_t)n * 12 + 1, len = 0;
    char *text = malloc(cap);
    if (!text)
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
    for (int64_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "%u\n", counts[i]);
    int rc = sf_trace_parse_counts(t, name, text, len, unit, epoch_s, 0, err);
    free(text);
    return rc;
}
