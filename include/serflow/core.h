/*
 * core.h - status codes, error buffers and small helpers shared by every serflow module.
 *
 * Every fallible function returns an int: SF_OK (0) or a negative enum sf_status value.
 * Functions that can say more fill a caller-owned struct sf_err with one line of the form
 * "file:line: field: problem". Library code never prints to stdout and never exits.
 */
#ifndef SERFLOW_CORE_H
#define SERFLOW_CORE_H

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Every status with its value, its name (sf_strerror) and its meaning: the enum and the names are
 * generated together from this list (as libuv's UV_ERRNO_MAP), so they cannot drift. */
#define SF_STATUS_LIST(X)                                                                          \
    X(SF_OK, 0, "ok")                                                                              \
    X(SF_ENOMEM, -1, "out of memory")      /* allocation failed */                                 \
    X(SF_EINVAL, -2, "invalid value")      /* invalid argument or value */                         \
    X(SF_EIO, -3, "I/O error")             /* file or socket I/O failed */                         \
    X(SF_EPARSE, -4, "parse error")        /* malformed input (syntax) */                          \
    X(SF_ERANGE, -5, "value out of range") /* value out of its allowed range */                    \
    X(SF_ENOTFOUND, -6, "not found")       /* named thing does not exist */                        \
    X(SF_EUNSUPPORTED, -7, "unsupported")  /* valid but not supported (op, unit, version) */       \
    X(SF_ECORRUPT, -8, "corrupt data")     /* checksum or structure mismatch */                    \
    X(SF_ETOOBIG, -9, "too big")           /* input exceeds a hard cap */                          \
    X(SF_EINFEASIBLE, -10, "infeasible")   /* no configuration satisfies the constraints */        \
    X(SF_ETHROTTLED, -11, "throttled")     /* a remote service refused for now */                  \
    X(SF_ETIMEDOUT, -12, "timed out")      /* a remote call did not answer in its time */          \
    X(SF_EREMOTE, -13, "remote failure")   /* a remote service or function failed */               \
    X(SF_EDENIED, -14, "access denied")    /* credentials missing, refused or not allowed */

#define SF__STATUS_ENUM(name, value, text) name = value,
enum sf_status { SF_STATUS_LIST(SF__STATUS_ENUM) };
#undef SF__STATUS_ENUM

/* Static English name of a status code; never NULL. */
const char *sf_strerror(int status);

/* This build's version ("0.1.0", PROJECT_VERSION in CMakeLists.txt) and the git commit it was
 * configured from (12 hex digits; "" when not built from a checkout). Static strings. */
const char *sf_version(void);
const char *sf_build_commit(void);

/* One-line error message buffer, caller-owned. Zero-initialise or call sf_err_clear(). */
#define SF_ERR_MAX 512
struct sf_err {
    char msg[SF_ERR_MAX];
};

void sf_err_clear(struct sf_err *err);
/* printf-style; err may be NULL (then nothing is recorded). Returns status, for
 * `return sf_err_set(err, SF_EINVAL, "...")`. */
int sf_err_set(struct sf_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts prefix before the message already in err (truncated to fit); err may be NULL. */
void sf_err_prefix(struct sf_err *err, const char *prefix);

/* Reads a whole file into a NUL-terminated heap buffer (caller frees). A regular file larger
 * than max_bytes is refused from its size (fstat) before anything is read; a pipe or FIFO is read
 * up to max_bytes + 1 bytes and refused beyond (a FIFO with no writer reads as empty instead of
 * blocking); directories ("is a directory"), devices and sockets are refused (SF_EINVAL). The
 * buffer never grows past max_bytes + 2 bytes. Errors: SF_ENOTFOUND (no such file), SF_EINVAL,
 * SF_ETOOBIG, SF_EIO, SF_ENOMEM; the message starts with the path. */
int sf_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                 struct sf_err *err);

/* ---- output files ---- */

/* Longest output path accepted (PATH_MAX on Linux); longer ones are refused, never cut. */
#define SF_PATH_BYTES 4096

enum sf_outfile_mode { SF_OUT_REPLACE = 1, SF_OUT_THROUGH, SF_OUT_STDOUT };

/* An output file being written. Write to f between sf_outfile_open and sf_outfile_commit (or
 * sf_outfile_abort). Caller-owned; no heap memory. */
struct sf_outfile {
    FILE *f;
    enum sf_outfile_mode mode;
    char path[SF_PATH_BYTES];
    char tmp[SF_PATH_BYTES + 32];
};

/* Opens path for writing:
 * - "-" and "/dev/stdout": standard output (commit flushes and checks it; never closes it);
 * - a new path, a regular file or a symlink to one: a temporary made by mkstemp in the target's
 *   directory (O_EXCL, no symlink followed), given the existing file's permissions or
 *   0666 & ~umask, then fsync'ed and renamed over the target by commit; a symlink at path is
 *   replaced, never written through;
 * - a FIFO or a character device (or a symlink to one, e.g. /dev/fd/N, /dev/null): written
 *   straight through; a FIFO with no reader is an error, not a wait;
 * - a directory or anything else: refused (SF_EINVAL, "is a directory").
 * Errors: SF_EINVAL, SF_ENOTFOUND (no such directory), SF_EIO, with the path in err. Reads the
 * umask by setting it: not for use while other threads create files. */
int sf_outfile_open(struct sf_outfile *o, const char *path, struct sf_err *err);
/* Finishes the file: flush, check for any write error, fsync, close, rename into place. On
 * failure the target is untouched and the temporary removed (SF_EIO, "path: write error: ..."). */
int sf_outfile_commit(struct sf_outfile *o, struct sf_err *err);
/* Abandons the file: closes it and removes the temporary; the target is untouched. Safe after
 * a failed open or a commit. */
void sf_outfile_abort(struct sf_outfile *o);
/* open + write len bytes + commit. */
int sf_write_file_atomic(const char *path, const void *data, size_t len, struct sf_err *err);

/* SplitMix64 step: advances *state and returns the next 64-bit output. Fast, seedable, and
 * good enough for simulation draws (not for anything secret). */
static inline uint64_t sf_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1) from a SplitMix64 stream (53 bits). */
static inline double sf_rand_unit(uint64_t *state)
{
    return ((double)(sf_splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
}

/* A standard normal draw (Box-Muller: two uniforms, the first for the radius). */
static inline double sf_rand_normal(uint64_t *state)
{
    double u1 = sf_rand_unit(state), u2 = sf_rand_unit(state);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Monotonic clock in seconds (CLOCK_MONOTONIC), for measurements; the controller never reads it. */
double sf_monotonic_s(void);

/* A condition variable whose timed waits (sf_cond_wait_s) run on the monotonic clock: a step of
 * the wall clock (an NTP correction, a clock set by hand) neither stretches nor cuts them (with
 * the default attribute, a step back of an hour would hold a 5 ms wait for an hour). SF_OK or
 * SF_EIO. */
int sf_cond_init_monotonic(pthread_cond_t *cv);

/* Waits on cv (from sf_cond_init_monotonic; mu held) until signalled or for at most wait_s
 * seconds (<= 0: returns at once); a spurious wake-up returns early, as pthread_cond_wait's. */
void sf_cond_wait_s(pthread_cond_t *cv, pthread_mutex_t *mu, double wait_s);

/* Names the calling thread (at most 15 bytes kept) as top -H, ps -L and perf show it, e.g.
 * "sf-loop0", "sf-control"; "%d" in fmt takes idx. */
void sf_thread_name(const char *fmt, int idx);

/* qsort comparator for doubles, ascending. */
int sf_cmp_double(const void *a, const void *b);

/* Heap copy of s (NULL is copied as ""); NULL when out of memory. Caller frees. */
char *sf_strdup(const char *s);

/* Copies in[0..in_len) into out as text that is safe to show on a terminal: printable ASCII and
 * well-formed UTF-8 as is, except C1 controls (\xC2\x80..) and invisible or bidi characters
 * (zero-width spaces, direction overrides, the byte order mark: \uXXXX); newline, tab and CR as
 * \n \t \r; every other byte as \xNN. Cut with "..." when out is too small; always NUL-terminated
 * (out_size
 * >= 4). Returns out. For echoing untrusted bytes (file contents, names, arguments). */
char *sf_str_escape(char *out, size_t out_size, const char *in, size_t in_len);

/* The escaped form (as sf_str_escape writes it) of the character at in[i] of in[0..n): written
 * to piece (>= 8 bytes, not NUL-terminated), its length in *k; returns how many input bytes it
 * covers (>= 1). For writers that escape as they go (core/log.c). */
size_t sf_str_escape_one(const char *in, size_t i, size_t n, char *piece, size_t *k);

/* 1 when sf_str_escape would show in[0..in_len) unchanged: printable ASCII and well-formed UTF-8
 * without C1 controls or invisible and reordering characters (bidi overrides, zero-width ones,
 * the byte order mark). Names read from files must be plain (json_in.c). */
int sf_str_plain(const char *in, size_t in_len);

/* 3 when text starts with a UTF-8 byte order mark (EF BB BF), else 0: text readers skip it. */
size_t sf_bom_len(const char *text, size_t len);

/* True when x is finite (not NaN or infinite). */
int sf_isfinite(double x);

#define SF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- argument vectors for child processes (fork/exec, never a shell) ---- */

/* Most arguments and bytes one child's command line takes (serve's children use about 40 and
 * 1 kB). */
#define SF_ARGV_MAX   96
#define SF_ARGV_BYTES 16384

/* A NULL-terminated argument vector that owns copies of its strings; caller-owned storage. */
struct sf_argv {
    char *v[SF_ARGV_MAX + 1];
    int n;
    size_t used;
    char buf[SF_ARGV_BYTES];
};

void sf_argv_init(struct sf_argv *a);
/* Appends a copy of s; SF_ETOOBIG when the vector or its storage is full (nothing appended). */
int sf_argv_add(struct sf_argv *a, const char *s);
/* Appends a formatted argument; the same refusals. */
int sf_argv_addf(struct sf_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
