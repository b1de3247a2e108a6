/*
 * pool.c - the worker threads of an exec or a runner. The caller is worker 0 and works too;
 * helpers sleep on a condition variable between jobs (passive waiting: an idle helper costs no
 * CPU, unlike OpenMP's spinning team, which on a shared 2-core host turns a 25 ms median into a
 * 150-400 ms p99). Chunks are handed out one at a time, so a helper that the scheduler delays
 * delays the job by at most one chunk.
 *
 * Every worker runs with OpenMP's thread count set to 1, so oneDNN primitives (created and run
 * on these threads) never open an OpenMP team of their own.
 */
#include "nn_internal.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct helper {
    struct sf__nn_pool *pool;
    int worker;
    pthread_t th;
};

struct sf__nn_pool {
    int nthreads;           /* including the caller */
    int started;            /* helpers running */
    struct helper *helpers; /* [nthreads]; [0] unused (the caller) */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* helpers: a new job or stop */
    pthread_cond_t done; /* caller: the last helper left the job */
    unsigned long gen;   /* job generation */
    int stop;
    int busy; /* helpers still inside the current job */
    /* the current job */
    sf__nn_chunk_fn fn;
    void *arg;
    size_t nchunks;
    atomic_size_t next;
    int rc; /* first failure, SF_OK otherwise (under mu) */
    struct sf_err err;
};

/* Takes chunks until none is left; the first failure stops the others from taking more. */
static void work(struct sf__nn_pool *p, int worker)
{
    struct sf_err err = {{0}};
    for (;;) {
        size_t c = atomic_fetch_add(&p->next, 1);
        if (c >= p->nchunks)
            return;
        int rc = p->fn(p->arg, c, worker, &err);
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (!p->rc) {
                p->rc = rc;
                p->err = err;
            }
            pthread_mutex_unlock(&p->mu);
            atomic_store(&p->next, p->nchunks);
            return;
        }
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
        pthread_mutex_unlock(&p->mu);
        work(p, h->worker);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
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
    p->fn = fn;
    p->arg = arg;
    p->nchunks = nchunks;
    p->rc = SF_OK;
    atomic_store(&p->next, 0);
    int helpers = p->started < (int)nchunks - 1 ? p->started : (int)nchunks - 1;
    if (helpers > 0) {
        pthread_mutex_lock(&p->mu);
        p->busy = p->started;
        p->gen++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (helpers > 0 && p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    int rc = p->rc;
    if (rc && err)
        *err = p->err;
    pthread_mutex_unlock(&p->mu);
    omp_set_num_threads(omp_saved);
    return rc;
}
