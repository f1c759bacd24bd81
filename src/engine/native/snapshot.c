/* snapshot.c - snapshots and undo maps of the native store (snapshot.h). Undo maps are
 * anonymous mmaps: a commit of 1M keys into a populated table takes 2M entries (48 MiB),
 * given back to the OS at once when no reader needs it. */
#include "engine/native/snapshot.h"

#include "core/alloc.h"

#include <sys/mman.h>

mr_snap_t *mr_snap_new(bool empty)
{
    mr_snap_t *s = mr_xcalloc(1, sizeof(*s));
    s->empty = empty;
    return s;
}

static void undo_free(mr_undo_t *u)
{
    if (u == NULL)
        return;
    mr_alloc_account(-(int64_t)u->bytes);
    munmap(u, u->bytes);
}

void mr_snap_retire_undo(mr_undo_t *u) { undo_free(u); }

void mr_snap_retire_cb(void *p)
{
    mr_snap_t *s = p;
    undo_free(atomic_load(&s->undo));
    mr_free(s);
}

mr_undo_t *mr_undo_new(uint64_t nkeys)
{
    uint64_t cap = 16;
    while (cap * 3 < nkeys * 4) /* load <= 75% */
        cap *= 2;
    size_t bytes = sizeof(mr_undo_t) + cap * sizeof(mr_undo_ent_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* The commit writes one random entry per key: 4-KiB pages would cost one zero-fill
     * fault per 170 entries (a 1M-key commit: 12,288 faults in 48 MiB). Best effort. */
    if (bytes >= (2u << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
    mr_undo_t *u = p; /* zeroed: every entry empty */
    u->mask = cap - 1;
    u->bytes = bytes;
    mr_alloc_account((int64_t)bytes);
    return u;
}

void mr_undo_record(mr_undo_t *u, uint64_t h, const char *key, size_t len, uint64_t new_loc, uint64_t old_loc,
                    mr_snap_key_eq_fn eq, void *ctx)
{
    for (uint64_t i = h & u->mask;; i = (i + 1) & u->mask) {
        mr_undo_ent_t *e = &u->e[i];
        uint64_t eh = atomic_load_explicit(&e->hash, memory_order_relaxed);
        if (eh == 0) {
            e->new_loc = new_loc;
            e->old_loc = old_loc;
            atomic_store_explicit(&e->hash, h, memory_order_release);
            return;
        }
        if (eh == h && eq(ctx, e->new_loc, key, len))
            return; /* a duplicate within the commit: the first entry holds the old location */
    }
}
