/* store.c - reference counting shared by every store backend (store.h). */
#include "engine/store.h"

void mr_store_init(mr_store_t *s, const mr_store_ops_t *ops)
{
    s->ops = ops;
    atomic_init(&s->refs, 1);
    atomic_init(&s->remove_on_free, false);
    pthread_mutex_init(&s->txn_mu, NULL);
    pthread_cond_init(&s->txn_cv, NULL);
    s->txns = 0;
}

static void txn_started(mr_store_t *s)
{
    pthread_mutex_lock(&s->txn_mu);
    s->txns++;
    pthread_mutex_unlock(&s->txn_mu);
}

static void txn_ended(mr_store_t *s);

/* Counted before the backend's begin checks the seal: a quiesce that sealed the store
 * either waits for this transaction or the begin finds the store sealed. */
int mr_store_txn_begin(mr_store_t *s, mr_store_txn_t **out, mr_error_t *err)
{
    txn_started(s);
    int rc = s->ops->txn_begin(s, out, err);
    if (rc == 0)
        (*out)->store = s;
    else
        txn_ended(s);
    return rc;
}

static void txn_ended(mr_store_t *s)
{
    pthread_mutex_lock(&s->txn_mu);
    if (--s->txns == 0)
        pthread_cond_broadcast(&s->txn_cv);
    pthread_mutex_unlock(&s->txn_mu);
}

int mr_store_txn_commit(mr_store_txn_t *x, mr_error_t *err)
{
    mr_store_t *s = x->store;
    int rc = x->ops->txn_commit(x, err);
    txn_ended(s);
    return rc;
}

void mr_store_txn_abort(mr_store_txn_t *x)
{
    mr_store_t *s = x->store;
    x->ops->txn_abort(x);
    txn_ended(s);
}

int mr_store_compact(mr_store_t *s, double min_ratio, bool force, mr_error_t *err)
{
    txn_started(s);
    int rc = s->ops->compact(s, min_ratio, force, err);
    txn_ended(s);
    return rc;
}

void mr_store_quiesce(mr_store_t *s)
{
    s->ops->seal(s);
    pthread_mutex_lock(&s->txn_mu);
    while (s->txns > 0)
        pthread_cond_wait(&s->txn_cv, &s->txn_mu);
    pthread_mutex_unlock(&s->txn_mu);
}

void mr_store_ref(mr_store_t *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void mr_store_unref(mr_store_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&s->txn_mu);
        pthread_cond_destroy(&s->txn_cv);
        s->ops->destroy(s, atomic_load(&s->remove_on_free));
    }
}

void mr_store_unref_cb(void *s) { mr_store_unref(s); }

void mr_store_remove_on_free(mr_store_t *s) { atomic_store(&s->remove_on_free, true); }
