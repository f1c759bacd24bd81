/*
 * catalog.h - the murr_db handle (internal): table names -> handles, manifest.json, the
 * background thread. The catalog holds names, the manifest and handle references only;
 * tables' contents are behind the store interface (store.h), versions in versions.c.
 *
 * Locks, in this order: a handle's lock (replace/rollback), then manifest_lock (every
 * manifest rewrite and every change of the table list), then `lock` (rwlock over the
 * list; lookups hold it for reading only while they take a reference), then a handle's
 * meta lock (a leaf).
 */
#ifndef MR_ENGINE_CATALOG_H
#define MR_ENGINE_CATALOG_H

#include <pthread.h>

#include "engine/handle.h"

struct murr_db {
    char *path;
    murr_options opts;
    pthread_mutex_t manifest_lock;
    pthread_rwlock_t lock;
    mr_handle_t **tables;
    size_t ntables, cap;
    pthread_mutex_t bg_lock;
    pthread_cond_t bg_cond;
    pthread_t bg_thread;
    bool bg_running, stopping;
};

/* The handle of `name` with a reference (mr_handle_unref), or NULL. */
mr_handle_t *mr_catalog_lookup(murr_db *db, const char *name);
/* Rewrites manifest.json from every handle (atomically). Caller holds manifest_lock. */
int mr_catalog_write_manifest(murr_db *db, mr_error_t *err);
int mr_catalog_not_found(mr_error_t *err, const char *name);

#endif
