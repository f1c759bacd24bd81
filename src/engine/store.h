/*
 * store.h - the interface between the catalog and a storage backend. A store holds one
 * version of one table in one directory: its rows, its key directory, its write
 * transactions, reads, compaction and stats. Versions, names, the manifest and replace
 * are built above it (engine/handle.c, engine/catalog.c) from these operations, so every
 * backend gets them. The native backend (engine/native/) is the only one today; the
 * engine's model and crash tests run through this interface.
 *
 * Lifetime: a store is reference counted (mr_store_ref/unref); the last unref frees it,
 * removing its files if mr_store_remove_on_free was called. Readers do not take
 * references: they read inside an epoch (engine/epoch.h), and whoever drops a reference
 * that readers may still be using drops it through mr_epoch_retire. A write transaction
 * needs a reference for its whole life (it spans epochs).
 *
 * Concurrency a backend must provide: any number of concurrent readers that never wait
 * for writers, compaction or growth; one write transaction at a time (txn_begin waits for
 * the previous one to end); every read sees each committed transaction entirely or not at
 * all, across all its keys; a transaction is durable when commit returns 0 (if the
 * options ask for it) and invisible after any crash or error before that.
 */
#ifndef MR_ENGINE_STORE_H
#define MR_ENGINE_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/schema.h"

typedef struct mr_store mr_store_t;
typedef struct mr_store_txn mr_store_txn_t;

typedef struct mr_store_ops {
    const char *name;
    /* 0, or MURR_EINVAL naming the option and its limit when this backend cannot honour
     * opts (murr_open refuses to open with them; create and open check them too). */
    int (*check_options)(const murr_options *opts, mr_error_t *err);
    /* A new, empty store in `dir` (created; anything already there is removed first). */
    int (*create)(const char *dir, const char *table, const mr_schema_t *schema, const murr_options *opts,
                  mr_store_t **out, mr_error_t *err);
    /* Opens the store in `dir` and recovers it. A store whose files are corrupt is still
     * returned, refusing reads and writes (status says why). */
    int (*open)(const char *dir, const char *table, const mr_schema_t *schema, const murr_options *opts,
                mr_store_t **out, mr_error_t *err);
    /* Removes the files of a store that is not open (a kept version being pruned, a
     * staging leftover); other files in `dir` stay, and dir goes when it is empty. */
    int (*remove)(const char *dir, mr_error_t *err);
    void (*destroy)(mr_store_t *s, bool remove_files);
    /* 0, or MURR_EBUSY with the reason the store refuses reads and writes. */
    int (*status)(mr_store_t *s, mr_error_t *err);

    /* Write transactions: begin waits for the previous transaction of the store to end.
     * After mr_store_seal, begin answers MURR_EAGAIN (the store no longer takes writes:
     * its version was superseded, or its table dropped). */
    int (*txn_begin)(mr_store_t *s, mr_store_txn_t **out, mr_error_t *err);
    int (*txn_append)(mr_store_txn_t *x, const mr_batch_t *const *batches, size_t n, mr_error_t *err);
    int (*txn_commit)(mr_store_txn_t *x, mr_error_t *err);
    void (*txn_abort)(mr_store_txn_t *x);
    void (*seal)(mr_store_t *s);

    /* Reads encoded keys (murr_read_opt), or key columns (murr_read_keys). */
    int (*read)(mr_store_t *s, const char *const *keys, const size_t *key_lens, size_t nkeys,
                const char *const *columns, size_t ncolumns, unsigned flags, mr_batch_t **out, mr_error_t *err);
    int (*read_keys)(mr_store_t *s, const mr_batch_t *keys, const char *const *columns, size_t ncolumns,
                     unsigned flags, mr_batch_t **out, mr_error_t *err);
    /* Rewrites storage whose garbage ratio is at least min_ratio (0: any garbage). */
    int (*compact)(mr_store_t *s, double min_ratio, bool force, mr_error_t *err);
    /* Lock-free (a long transaction must not block /metrics); caller inside an epoch. */
    void (*stats)(mr_store_t *s, murr_table_stats *out);
} mr_store_ops_t;

/* The head of every backend's store. */
struct mr_store {
    const mr_store_ops_t *ops;
    _Atomic uint32_t refs;
    _Atomic bool remove_on_free;
    pthread_mutex_t txn_mu;        /* counts the transactions in flight (mr_store_quiesce) */
    pthread_cond_t txn_cv;
    uint32_t txns;                 /* transactions and compactions in flight */
};

/* Set by a backend's create/open: one reference, owned by the caller. */
void mr_store_init(mr_store_t *s, const mr_store_ops_t *ops);
void mr_store_ref(mr_store_t *s);
void mr_store_unref(mr_store_t *s);
/* Seals the store and waits until no transaction or compaction of it is in flight: after it returns,
 * nothing writes its files (a version being rolled back to is reopened from them, a
 * pruned one removed). */
void mr_store_quiesce(mr_store_t *s);
/* mr_store_unref as an epoch destructor (for references readers may be using). */
void mr_store_unref_cb(void *s);
/* The last unref will remove the store's files (a pruned version, a dropped table). */
void mr_store_remove_on_free(mr_store_t *s);

static inline int mr_store_status(mr_store_t *s, mr_error_t *err) { return s->ops->status(s, err); }
static inline void mr_store_seal(mr_store_t *s) { s->ops->seal(s); }
int mr_store_txn_begin(mr_store_t *s, mr_store_txn_t **out, mr_error_t *err);
static inline int mr_store_read(mr_store_t *s, const char *const *keys, const size_t *key_lens, size_t nkeys,
                                const char *const *columns, size_t ncolumns, unsigned flags, mr_batch_t **out,
                                mr_error_t *err)
{
    return s->ops->read(s, keys, key_lens, nkeys, columns, ncolumns, flags, out, err);
}
static inline int mr_store_read_keys(mr_store_t *s, const mr_batch_t *keys, const char *const *columns,
                                     size_t ncolumns, unsigned flags, mr_batch_t **out, mr_error_t *err)
{
    return s->ops->read_keys(s, keys, columns, ncolumns, flags, out, err);
}
/* Counted like a transaction: mr_store_quiesce waits for a compaction in progress too. */
int mr_store_compact(mr_store_t *s, double min_ratio, bool force, mr_error_t *err);
static inline void mr_store_stats(mr_store_t *s, murr_table_stats *out) { s->ops->stats(s, out); }

/* A transaction keeps the ops of its store: every backend's txn starts with this (the
 * store is set by mr_store_txn_begin). */
struct mr_store_txn {
    const mr_store_ops_t *ops;
    mr_store_t *store;
};
static inline int mr_store_txn_append(mr_store_txn_t *x, const mr_batch_t *const *batches, size_t n,
                                      mr_error_t *err)
{
    return x->ops->txn_append(x, batches, n, err);
}
int mr_store_txn_commit(mr_store_txn_t *x, mr_error_t *err);
void mr_store_txn_abort(mr_store_txn_t *x);

/* The native engine (engine/native/). */
extern const mr_store_ops_t mr_native_store_ops;

#endif
