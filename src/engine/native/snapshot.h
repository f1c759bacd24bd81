/*
 * snapshot.h - snapshot-consistent reads for the native store. A write transaction
 * publishes its rows into the key directory one key at a time; a reader must still see
 * it entirely or not at all, without waiting for it.
 *
 * Every store has a current snapshot (mr_snap_t). A reader loads it before probing. A
 * commit first attaches an undo map to the current snapshot (the location every key it
 * touches had before it, 0 for keys it inserts), fills it as it publishes (an entry is
 * complete before the key's slot changes), then links a new snapshot after it and makes
 * that one current. After probing, a reader whose snapshot has no undo map attached saw
 * no slot changed after its snapshot (the slot loads are acquire; the map was attached
 * before any slot changed); otherwise it resolves each key through the undo maps of the
 * commits after its snapshot, oldest first: the first map that has the key holds the
 * location the key had at the reader's snapshot. Compaction re-points slots to copies of
 * the same rows, which needs no undo: a key no later commit touched has the value of the
 * snapshot, wherever it lives.
 *
 * A snapshot taken while the store was empty answers every key missing without probing,
 * so loading an empty store (a new table, a replace's new version) records no undo.
 *
 * Snapshots and their maps are retired through the epoch when superseded: a reader holds
 * its snapshot, and everything reachable from it, for as long as it is inside its epoch.
 */
#ifndef MR_ENGINE_NATIVE_SNAPSHOT_H
#define MR_ENGINE_NATIVE_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mr_undo_ent {
    _Atomic uint64_t hash;     /* 0 = empty; stored last (release) */
    uint64_t new_loc;          /* a record of this commit with the key (verifies it) */
    uint64_t old_loc;          /* the key's location before the commit; 0: it did not exist */
} mr_undo_ent_t;

typedef struct mr_undo {
    uint64_t mask;
    size_t bytes;
    mr_undo_ent_t e[];
} mr_undo_t;

typedef struct mr_snap {
    _Atomic(mr_undo_t *) undo;        /* the commit after this snapshot, while or once it publishes */
    _Atomic(struct mr_snap *) next;   /* the snapshot that commit made */
    bool empty;                       /* the store had no rows */
} mr_snap_t;

/* Does the record at loc hold this key? (the store's record format) */
typedef bool (*mr_snap_key_eq_fn)(void *ctx, uint64_t loc, const char *key, size_t len);

mr_snap_t *mr_snap_new(bool empty);
/* An epoch destructor: frees a superseded snapshot and its undo map. */
void mr_snap_retire_cb(void *snap);

/* Frees a map that was never attached (its commit failed before publishing). */
void mr_snap_retire_undo(mr_undo_t *u);
/* A map for a commit touching at most nkeys keys (NULL on out of memory). */
mr_undo_t *mr_undo_new(uint64_t nkeys);
/* Writer: records key (hash h) with its location before the commit, unless this commit
 * already recorded it. Call before the key's slot changes. */
void mr_undo_record(mr_undo_t *u, uint64_t h, const char *key, size_t len, uint64_t new_loc, uint64_t old_loc,
                    mr_snap_key_eq_fn eq, void *ctx);

/* Reader: the location key (hash h) had at snapshot s, given `loc` read from its slot
 * after loading s. */
static inline uint64_t mr_snap_resolve(const mr_snap_t *s, uint64_t h, const char *key, size_t len, uint64_t loc,
                                       mr_snap_key_eq_fn eq, void *ctx)
{
    for (; s != NULL; s = atomic_load_explicit(&s->next, memory_order_acquire)) {
        mr_undo_t *u = atomic_load_explicit(&s->undo, memory_order_acquire);
        if (u == NULL)
            break;
        for (uint64_t i = h & u->mask;; i = (i + 1) & u->mask) {
            uint64_t eh = atomic_load_explicit(&u->e[i].hash, memory_order_acquire);
            if (eh == 0)
                break;
            if (eh == h && eq(ctx, u->e[i].new_loc, key, len))
                return u->e[i].old_loc;
        }
    }
    return loc;
}

#endif
