/*
 * handle.h - a table as the catalog holds it: its name, schema and versions, and the store
 * of the version that serves. Reference counted: the catalog holds one reference while the
 * name exists; every call that uses the table (read, write, compaction, stats) holds one
 * while it does. Drop removes the name and drops the catalog's reference; the last
 * reference frees the handle, and with it (through the epoch, after readers in flight
 * left) the serving store and, for a dropped table, every version's files.
 *
 * The serving store is swapped atomically by replace and rollback (engine/versions.c);
 * readers load it inside an epoch, so the old one is unreferenced through mr_epoch_retire
 * and readers in flight finish on it. Writers take a store reference for the life of
 * their transaction.
 *
 * Versions: ids from 1 (create), increasing, never reused. Version 1 lives in the table's
 * directory itself (the layout of every data directory written before versions existed);
 * version n > 1 in <table>/v<n>/. The manifest records, per table, the serving id, the next
 * id and the kept versions (id, rows, bytes, created, source).
 *
 * Locks: `lock` serialises replace, rollback and reopen of one table (held across a
 * replace's build); `meta` guards the version fields and is a leaf (never held while
 * taking another lock). Catalog order: handle lock, then the manifest lock, then the
 * catalog's table list, then meta.
 */
#ifndef MR_ENGINE_HANDLE_H
#define MR_ENGINE_HANDLE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/schema.h"
#include "engine/store.h"

typedef struct mr_version_rec {
    uint64_t id, rows, bytes;
    int64_t created;
    char source[MURR_SOURCE_MAX];
} mr_version_rec_t;

typedef struct mr_handle {
    _Atomic uint32_t refs;
    char *name;
    char *dir;                      /* <data>/<name> */
    mr_schema_t *schema;
    const mr_store_ops_t *ops;
    const murr_options *opts;
    _Atomic(mr_store_t *) store;    /* the serving version; NULL while unavailable */
    _Atomic bool dropped;
    char *trash;                    /* a dropped table's directory, removed with the handle */

    pthread_mutex_t lock;           /* replace / rollback / reopen */
    pthread_mutex_t meta;           /* leaf: the fields below */
    mr_version_rec_t serving;       /* rows and bytes of the serving version: at its swap */
    uint64_t next_id;
    mr_version_rec_t *kept;         /* kept versions, newest id first */
    size_t nkept;
    char unavailable[MURR_ERROR_MSG_MAX]; /* why the serving version cannot be opened; "" */
    uint64_t reopen_at_ns;
} mr_handle_t;

/* A handle with one reference and no store yet (versions: id 1 serving, from `source`). */
mr_handle_t *mr_handle_new(const char *root, const char *name, const mr_schema_t *schema, const mr_store_ops_t *ops,
                           const murr_options *opts);
void mr_handle_ref(mr_handle_t *h);
void mr_handle_unref(mr_handle_t *h);

/* The directory of version `id`. */
void mr_handle_version_dir(const mr_handle_t *h, uint64_t id, char *out, size_t cap);

/* Installs the first serving store (create, open, reopen of an unavailable table). */
void mr_handle_set_store(mr_handle_t *h, mr_store_t *s);
/* Swaps the serving store (replace, rollback): seals the old one (no new writes) and drops
 * the handle's reference on it through the epoch. */
void mr_handle_swap_store(mr_handle_t *h, mr_store_t *s);
/* Marks the handle dropped: its store is sealed (no new transaction). */
void mr_handle_mark_dropped(mr_handle_t *h);
/* Where the dropped table's files now are: removed when the last reference goes. */
void mr_handle_set_trash(mr_handle_t *h, const char *dir);

/* The serving store for a read, inside the caller's epoch: 0, or MURR_EBUSY naming the
 * table and why it is unavailable or damaged. */
int mr_handle_read_store(mr_handle_t *h, mr_store_t **out, mr_error_t *err);
/* Begins a write transaction on the serving store, holding a store reference in *store
 * (unref after commit/abort). Retries when a replace swapped the store meanwhile;
 * MURR_ENOTFOUND once dropped. */
int mr_handle_txn_begin(mr_handle_t *h, mr_store_t **store, mr_store_txn_t **txn, mr_error_t *err);

/* Version metadata (under meta). */
json_t *mr_handle_versions_to_json(mr_handle_t *h);
/* Reads a manifest entry written by mr_handle_versions_to_json (NULL: a data directory of
 * before versions: version 1 serving). */
int mr_handle_versions_from_json(mr_handle_t *h, const json_t *v, mr_error_t *err);
/* Copies the versions (serving first with `live` stats, then kept) into *out. */
void mr_handle_versions_list(mr_handle_t *h, const murr_table_stats *live, murr_version_info **out, size_t *count);

#endif
