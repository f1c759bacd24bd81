/* tu_store.h - the storage backends the engine's model and crash tests run against, and
 * helpers that drive one store through the interface of engine/store.h. A new backend
 * passes the same suite by being added to tu_store_backends (tu_store.c).
 *
 * The helpers assert nothing (the crash tests call them in forked children, where
 * Criterion asserts must not run): they return 0 or an error code with `err` filled. */
#ifndef MR_TU_STORE_H
#define MR_TU_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/schema.h"
#include "engine/store.h"

extern const mr_store_ops_t *const tu_store_backends[];
extern const size_t tu_store_nbackends;

/* One store in one directory, with what reopening it needs. The store keeps a pointer to
 * its options, so they live here, as long as the store. */
typedef struct tu_store {
    const mr_store_ops_t *ops;
    char dir[512];
    char table[64];
    mr_schema_t *schema;
    murr_options opts;
    mr_store_t *s; /* NULL while closed */
} tu_store_t;

/* Creates a new, empty store (create) or opens the existing one (open) in dir; a store
 * that opens but refuses reads and writes (status) is closed again and its status
 * returned. `schema` is copied. On failure t->s is NULL (tu_store_free still applies). */
int tu_store_open(tu_store_t *t, const mr_store_ops_t *ops, const char *dir, const char *table,
                  const mr_schema_t *schema, const murr_options *opts, bool create, mr_error_t *err);
/* Drops the store's reference (destroying it) and drains the epoch, as a process exit or
 * a catalog close would; then opens the directory again. */
int tu_store_reopen(tu_store_t *t, mr_error_t *err);
void tu_store_close(tu_store_t *t);
/* tu_store_close, and frees the schema copy. */
void tu_store_free(tu_store_t *t);

/* n batches in one transaction: begin, one append of all, commit; abort on error. */
int tu_store_write(mr_store_t *s, const mr_batch_t *const *batches, size_t n, mr_error_t *err);
/* mr_store_read (flags 0) inside an epoch guard. */
int tu_store_read(mr_store_t *s, const char *const *keys, const size_t *key_lens, size_t nkeys,
                  const char *const *columns, size_t ncolumns, mr_batch_t **out, mr_error_t *err);
/* mr_store_stats inside an epoch guard. */
void tu_store_stats(mr_store_t *s, murr_table_stats *out);

/* A thread compacting s (min_ratio, not forced) every interval_us, as the catalog's
 * background compaction does; it holds a reference to s until stopped. */
typedef struct tu_compactor tu_compactor_t;
tu_compactor_t *tu_compactor_start(mr_store_t *s, double min_ratio, unsigned interval_us);
/* Stops and joins the thread; returns how many compactions failed (other than EAGAIN). */
long tu_compactor_stop(tu_compactor_t *c);

#endif
