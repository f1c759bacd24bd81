/*
 * versions.h - atomic replace and rollback, built from the store interface: a new version
 * is a new store in its own directory; committing it records it in the manifest (the
 * durable point) and swaps it in (handle.h). Kept versions beyond keep_versions are pruned
 * (newest ids stay). A replace holds the handle's lock from begin to commit or abort.
 */
#ifndef MR_ENGINE_VERSIONS_H
#define MR_ENGINE_VERSIONS_H

#include "engine/catalog.h"

/* Takes h->lock and creates the new version's empty store (*store, one reference). */
int mr_versions_begin(murr_db *db, mr_handle_t *h, mr_store_t **store, uint64_t *id, mr_error_t *err);
/* The store's transaction is committed: records it and swaps it in (takes over the
 * reference); on failure removes it. Releases h->lock either way. */
int mr_versions_commit(murr_db *db, mr_handle_t *h, mr_store_t *store, uint64_t id, const char *source,
                       mr_error_t *err);
/* Removes the unfinished version and releases h->lock. */
void mr_versions_abort(mr_handle_t *h, mr_store_t *store);

#endif
