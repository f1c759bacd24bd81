/* parquet_ahead.c - decodes the row groups of an open Parquet file (parquet.h) on a thread
 * of its own, one row group ahead of the caller, so that decoding row group g+1 overlaps
 * whatever the caller does with row group g (an HTTP write encodes and appends it).
 *
 * Rules: while the decoder runs, it alone uses the file and its budget (budget.h is not
 * thread-safe); the caller only takes batches. The decoder starts row group g+1 only once
 * the caller has taken row group g, so at most two decoded row groups are alive at once
 * (the caller's and the one being decoded): peak memory is the file plus two row groups,
 * and the budget still counts every decoded byte of the file. The decoder stops at the
 * first error (the caller gets it in row group order) or when asked to at the next row
 * group boundary; mr_pq_ahead_stop joins it, after which the file is the caller's again. */
#include "format/parquet.h"

#include "core/alloc.h"

#include <pthread.h>

struct mr_pq_ahead {
    mr_pq_file_t *f;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mr_batch_t *ready; /* decoded, not yet taken */
    int next;          /* the row group the decoder works on next */
    bool taken;        /* the caller took the last batch handed over: the decoder may go on */
    bool done;         /* the decoder has finished: every row group handed over, or rc set */
    bool stop;         /* the caller asks the decoder to finish */
    int rc;            /* the decoder's error (0: none) */
    mr_error_t err;
};

static void *ahead_main(void *p)
{
    mr_pq_ahead_t *a = p;
    int n = mr_pq_num_row_groups(a->f);
    for (int g = 0; g < n; g++) {
        pthread_mutex_lock(&a->mu);
        while (!a->taken && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        mr_batch_t *b = NULL;
        mr_error_t e = {0};
        int rc = mr_pq_read_row_group(a->f, g, &b, &e);
        pthread_mutex_lock(&a->mu);
        a->taken = false;
        a->next = g + 1;
        if (rc != 0) {
            a->rc = rc;
            a->err = e;
            a->done = true;
        } else {
            a->ready = b;
        }
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (rc != 0)
            return NULL;
    }
    pthread_mutex_lock(&a->mu);
    a->done = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int mr_pq_ahead_start(mr_pq_file_t *f, mr_pq_ahead_t **out, mr_error_t *err)
{
    *out = NULL;
    mr_pq_ahead_t *a = mr_calloc(1, sizeof(*a));
    if (a == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for the Parquet decoder thread");
    a->f = f;
    a->taken = true; /* nothing handed over yet: row group 0 may start */
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    int e = pthread_create(&a->thread, NULL, ahead_main, a);
    if (e != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        mr_free(a);
        return mr_err_set(err, MURR_ENOMEM, "cannot start the Parquet decoder thread: error %d", e);
    }
    *out = a;
    return 0;
}

int mr_pq_ahead_next(mr_pq_ahead_t *a, mr_batch_t **out, int *group, mr_error_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    while (a->ready == NULL && !a->done)
        pthread_cond_wait(&a->cv, &a->mu);
    int rc = 0;
    if (a->ready != NULL) {
        *out = a->ready;
        a->ready = NULL;
        a->taken = true;
        pthread_cond_broadcast(&a->cv);
    } else if (a->rc != 0) {
        rc = a->rc;
        *err = a->err;
    }
    *group = a->next - 1;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void mr_pq_ahead_stop(mr_pq_ahead_t *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    mr_batch_free(a->ready);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    mr_free(a);
}
