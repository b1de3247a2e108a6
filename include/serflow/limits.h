/*
 * limits.h - every cap serflow puts on outside input, in one place, each with its reason.
 *
 * Files, arguments and (soon) network requests are untrusted: anything that sizes an
 * allocation or a loop is checked against a cap here before it is used, and input beyond a cap
 * is refused with an error that names the cap's value, never truncated. docs/security.md lists
 * these limits for users.
 */
#ifndef SERFLOW_LIMITS_H
#define SERFLOW_LIMITS_H

/* ---- names and files ---------------------------------------------------------------------- */

/* Names in catalogs and profiles (VM types, architectures, stages, model): identifiers, not
 * prose; 63 bytes hold every AWS, GCP and Azure instance type name. */
#define SF_NAME_MAX 64

/* Profile and pricing JSON: the bundled ones are < 20 kB; 8 MiB leaves room for profiles with
 * many measurements yet bounds what jansson builds from one file. */
#define SF_MODEL_FILE_BYTES (8u << 20)

/* A model manifest (model.json) is a few kB. */
#define SF_MANIFEST_FILE_BYTES ((size_t)1 << 20)

/* One ONNX stage file: the bundled stages are < 1 MB each; a stage of a ResNet-152 is ~230 MB. */
#define SF_NN_MAX_ONNX_BYTES ((size_t)256 << 20)

/* IDX image/label files after gunzip: Fashion-MNIST's test images are 7.8 MB, its training
 * images 47 MB. Each pixel becomes a 4-byte float, so this also bounds the test set in memory
 * (256 MB) that a small gzip file could otherwise inflate into. */
#define SF_IDX_FILE_BYTES ((size_t)64 << 20)
/* Height and width of one IDX image: 4096 x 4096 is far above any classifier's input. */
#define SF_IDX_MAX_SIDE 4096

/* ---- model profile and pricing catalog ----------------------------------------------------- */

#define SF_MAX_STAGES   64  /* profile stages: early-exit networks have < 20 exits */
#define SF_MAX_VM_TYPES 64  /* catalog VM types: the planner prices every type x cut x memory */
#define SF_MAX_RUNTIMES 64  /* profile runtime entries (one per VM type or function memory) */
#define SF_MAX_TAUS     128 /* profile thresholds: a 0.01 grid over (0, 1] has 100 */
#define SF_MAX_FN_ARCHS 8   /* catalog function architectures (Lambda has 2) */

/* Two thresholds closer than this are the same tau (profiles write tau with 2-6 decimals). */
#define SF_TAU_EPS 1e-9

/* Requests per batch per instance per epoch (profile batch_size, --batch): a million requests
 * in one SLO interval is far beyond one instance. */
#define SF_MAX_BATCH 1000000

/* VM vCPUs in a catalog: the largest EC2 instances have 448. */
#define SF_MAX_VM_VCPUS 4096

/* Function memory in a catalog or profile, in MB (Lambda: 128..10,240). */
#define SF_FN_MEM_MAX_MB (1 << 24)

/* Function memory sizes the planner may enumerate for one catalog (every step with
 * --any-memory, or every whole-vCPU multiple): Lambda's 128..10,240 MB in 1 MB steps is 10,113.
 * The planner keeps ~1.6 kB per size and prices every size for every tau, VM type and cut, so
 * a catalog implying more is refused when it is loaded. */
#define SF_FN_MAX_MEMORY_SIZES 16384

/* The oracle's table holds one cost per (epoch, instance count): at most this many cells (400 MB
 * of doubles); its dynamic program visits about (counts)^2 x (epochs + periods) of them, at
 * most SF_ORACLE_MAX_WORK (seconds of work). The whole WITS trace needs 0.6 M cells and 8 M
 * steps. A replay beyond them is refused with what to change (--epochs, --policy). */
#define SF_ORACLE_MAX_CELLS 50000000.0
#define SF_ORACLE_MAX_WORK  3000000000.0

/* The lower bound (sim_bound.c) keeps, per VM type and epoch that has requests, the VM work of
 * each of its time slots: at most this many doubles (160 MB); beyond it the slots are made
 * coarser, which keeps it a bound, only a looser one. */
#define SF_BOUND_MAX_CELLS 20000000.0

/* Candidates the planner prices in one run (configurations x function memories): the bundled
 * catalog with --any-memory prices 5.7 million in 0.4 s; this bounds a run to seconds. */
#define SF_PLAN_MAX_CANDIDATES 50000000.0

/* Latency SLO (= epoch length) in seconds: an epoch longer than a day is not a latency SLO. */
#define SF_MAX_SLO_S 86400.0

/* Request rate in req/s (a profile's planning rate, --rate, --tcip): a billion per second. */
#define SF_MAX_RATE_RPS 1e9

/* Ranges of the quantities in profiles and catalogs: far beyond any real value, yet small
 * enough that every cost and latency the planner and simulator compute from them (products of a
 * few of them, sums over stages and batches) stays finite. */
#define SF_MAX_REQUEST_BYTES         1e12 /* a request's input or hidden state: 1 TB */
#define SF_MIN_BANDWIDTH_BYTES_PER_S 1.0
#define SF_MAX_BANDWIDTH_BYTES_PER_S 1e15
#define SF_MAX_STAGE_S               SF_MAX_SLO_S /* a slower stage can never meet any SLO */
#define SF_MAX_SCALING_EXPONENT      4.0          /* runtime ~ vCPUs^-e; 1 is linear speed-up */
#define SF_MAX_USD_PER_S             1000.0       /* a VM at 3.6 million USD per hour */
#define SF_MAX_USD_PER_GB_S          1000.0
#define SF_MAX_USD_PER_REQUEST       1000.0
#define SF_MAX_BILLING_S             (31 * 86400.0) /* billing granularity or minimum: a month */
#define SF_MAX_VM_MEM_GIB            1048576.0

/* ---- traces -------------------------------------------------------------------------------- */

/* Lines of a count trace, and timestamps of a CSV trace (each is kept, 8 bytes): 3 years of
 * per-second counts, or 800 MB of timestamps. */
#define SF_TRACE_MAX_LINES 100000000ll

/* Requests in one epoch (and so on one line). The simulator draws every request of an epoch
 * and keeps a few bytes for each while it runs the epoch: 10 million requests in one 6 s epoch
 * (1.7 million req/s) is ~100 MB; the bundled traces peak at 1,168 per second. */
#define SF_TRACE_MAX_PER_EPOCH 10000000u

/* Requests in a whole trace: the simulator's time grows with each (all policies draw every
 * request); 10^9 is ~100 times the whole bundled WITS trace. */
#define SF_TRACE_MAX_REQUESTS 1000000000ull

/* Epochs a trace may span: 69 days of 6 s epochs (the bundled traces have 45,000 lines). The
 * simulator keeps a few words per epoch and policy, and --csv/--plot one row per epoch: a
 * 3-line CSV trace spanning 10^7 epochs took 1 GB for --csv. */
#define SF_TRACE_MAX_EPOCHS 1000000ll

/* A trace file is read whole: 100 million lines of up to 20 bytes. */
#define SF_TRACE_FILE_BYTES ((size_t)2 << 30)

/* ---- inference (nn/) ----------------------------------------------------------------------- */

#define SF_NN_MAX_DIMS    3  /* per-request tensor rank: [C,H,W] or [K] */
#define SF_NN_MAX_CLASSES 64 /* caps the per-request probability vectors */
#define SF_NN_MAX_STAGES  32 /* caps the manifest; the bundled model has 6 */
/* One dimension of a tensor shape in a manifest: with rank 3 the product stays < 2^60. */
#define SF_NN_MAX_DIM (1 << 20)
/* Values per request of any tensor of a stage (input, activations): 64 MB of float32, 250x
 * VGG16's largest activation on 32x32 inputs; keeps a hostile graph's buffers bounded. */
#define SF_NN_MAX_TENSOR_NUMEL ((size_t)1 << 24)
/* A manifest's normalization: |mean| <= 1e6 and std >= 1e-6 keep (pixel/255 - mean)/std well
 * inside float range. */
#define SF_NN_MAX_NORM     1e6
#define SF_NN_MIN_NORM_STD 1e-6

/* ---- controller and simulator parameters given on the command line ------------------------ */

/* Durations in epochs (scale period, cold start, termination delay): 1,000,000 six-second
 * epochs is 69 days; the fleet model keeps no per-epoch state, so this only keeps ints small. */
#define SF_MAX_CTL_EPOCHS 1000000
/* Function cold-start latency in seconds (Lambda's init phase is capped at 10 s). */
#define SF_MAX_FN_COLD_START_S 3600.0
/* Idle time before a warm function container is reclaimed, in seconds: a year. */
#define SF_MAX_FN_IDLE_S 31536000.0
/* Weight k of sigma in the instance target: beyond this every target is the instance cap. */
#define SF_MAX_CTL_K 1e6
/* Function concurrency (containers per function). */
#define SF_MAX_FN_CONCURRENCY 1000000

/* Epochs one --plot may take: it publishes a series.csv row per epoch (the PNGs draw at most 500
 * bins: 45,000 epochs x 8 policies add under a second). */
#define SF_PLOT_MAX_EPOCHS 100000

/* ---- command line -------------------------------------------------------------------------- */

#define SF_CLI_MAX_LIST         32 /* --batch-sizes and --threads values */
#define SF_CLI_MAX_SWEEP_VALUES 64 /* --sweep values: each is one whole replay */
#define SF_CLI_MAX_THREADS      1024
#define SF_NN_MAX_PROFILE_BATCH 65536     /* --batch-sizes: requests per timed run */
#define SF_NN_MAX_REPS          100000    /* --reps: timed runs per stage and batch size */
#define SF_NN_MAX_IMAGES        100000000 /* --images */

#endif
