/*
 * pool.c - the worker threads of an exec or a runner. The caller is worker 0 and works too;
 * helpers sleep on a condition variable between jobs (passive waiting: an idle helper costs no
 * CPU, unlike OpenMP's spinning team, which on a shared 2-core host turns a 25 ms median into a
 * 150-400 ms p99). Chunks are claimed one at a time under the pool's mutex, and the caller
 * waits only for chunks that were claimed: a helper the scheduler wakes late finds nothing
 * left and delays nobody, and a helper descheduled while it runs a chunk delays the job by
 * that one chunk.
 *
 * Every worker runs with OpenMP's thread count set to 1, so oneDNN primitives (created and run
 * on these threads) never open an OpenMP team of their own.
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "nn_internal.h"

#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct helper {
    struct sf__nn_pool *pool;
    int worker;
    pthread_t th;
};

struct sf__nn_pool {
    int nthreads;           /* including the caller */
    int started;            /* helpers running */
    struct helper *helpers; /* [nthreads]; [0] unused (the caller) */
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t wake;    /* helpers: a new job or stop */
    pthread_cond_t done;    /* caller: a chunk finished */
    unsigned long gen;      /* job generation */
    int stop;
    /* the current job */
    sf__nn_chunk_fn fn;
    void *arg;
    size_t nchunks, next, claimed, completed;
    int rc; /* first failure, SF_OK otherwise */
    struct sf_err err;
};

/* Claims and runs chunks until none is left. Called and returns with p->mu held. */
static void work(struct sf__nn_pool *p, int worker)
{
    struct sf_err err = {{0}};
    while (p->next < p->nchunks) {
        size_t c = p->next++;
        p->claimed++;
        sf__nn_chunk_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        int rc = fn(arg, c, worker, &err);
        pthread_mutex_lock(&p->mu);
        p->completed++;
        if (rc && !p->rc) {
            p->rc = rc;
            p->err = err;
            p->next = p->nchunks; /* the first failure stops the hand-out */
        }
        pthread_cond_signal(&p->done);
    }
}

static void *helper_main(void *a)
{
    struct helper *h = a;
    struct sf__nn_pool *p = h->pool;
    omp_set_num_threads(1);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        work(p, h->worker);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int sf__nn_pool_new(int nthreads, struct sf__nn_pool **out, struct sf_err *err)
{
    *out = NULL;
    if (nthreads < 1 || nthreads > SF_NN_MAX_THREADS)
        return sf_err_set(err, SF_EINVAL, "threads %d out of 1..%d", nthreads, SF_NN_MAX_THREADS);
    struct sf__nn_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    p->nthreads = nthreads;
    p->helpers = calloc((size_t)nthreads, sizeof(*p->helpers));
    if (!p->helpers) {
        free(p);
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < nthreads; i++) {
        struct helper *h = &p->helpers[i];
        h->pool = p;
        h->worker = i;
        if (pthread_create(&h->th, NULL, helper_main, h)) {
            sf__nn_pool_free(p);
            return sf_err_set(err, SF_ENOMEM, "cannot start worker thread %d of %d", i, nthreads);
        }
        p->started = i;
    }
    *out = p;
    return SF_OK;
}

void sf__nn_pool_free(struct sf__nn_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->helpers[i].th, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->helpers);
    free(p);
}

int sf__nn_pool_threads(const struct sf__nn_pool *p)
{
    return p->nthreads;
}

int sf__nn_pool_run(struct sf__nn_pool *p, size_t nchunks, sf__nn_chunk_fn fn, void *arg,
                    struct sf_err *err)
{
    /* The caller's OpenMP setting is restored on return. */
    int omp_saved = omp_get_max_threads();
    omp_set_num_threads(1);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->nchunks = nchunks;
    p->next = p->claimed = p->completed = 0;
    p->rc = SF_OK;
    p->gen++;
    if (p->started > 0 && nchunks > 1)
        pthread_cond_broadcast(&p->wake);
    work(p, 0);
    while (p->completed < p->claimed)
        pthread_cond_wait(&p->done, &p->mu);
    int rc = p->rc;
    if (rc && err)
        *err = p->err;
    pthread_mutex_unlock(&p->mu);
    omp_set_num_threads(omp_saved);
    return rc;
}

void *sf__nn_alloc_big(size_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX - SF__NN_HUGE_BYTES)
        return NULL;
    if (bytes < SF__NN_HUGE_BYTES)
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    size_t rounded = (bytes + SF__NN_HUGE_BYTES - 1) / SF__NN_HUGE_BYTES * SF__NN_HUGE_BYTES;
    void *p = aligned_alloc(SF__NN_HUGE_BYTES, rounded);
    if (p) /* advice only: a host without THP keeps 4 KiB pages */
        (void)madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}
