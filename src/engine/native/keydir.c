/* keydir.c - the key directory (keydir.h) of the native store: allocation of its tables,
 * and the writer's side: probing, put, growth and reservation. Probing verifies keys
 * against records (record.h); the read path's own probe loop is in read.c. Tables are
 * anonymous mmaps so a 10M-key directory (32M slots, 512 MiB) comes back to the OS at once
 * when retired.
 *
 * Rules (keydir.h): only the table's writer (wlock) or recovery changes a table; a new key
 * stores its location before its hash (release), an update replaces the location with one
 * atomic store; growth builds a doubled table, swaps the pointer (release) and retires the
 * old one through the epoch. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "engine/epoch.h"

#include <sys/mman.h>

mr_kd_table_t *mr_kd_table_new(uint64_t capacity)
{
    size_t bytes = sizeof(mr_kd_table_t) + capacity * sizeof(mr_kd_slot_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Probes are random over the whole table: huge pages cut TLB misses (a 10M-key table
     * spans 256 MiB = 65,536 4-KiB pages). Best effort: THP may be disabled. */
    if (bytes >= (2u << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
    mr_kd_table_t *t = p; /* anonymous memory is zeroed: every slot empty */
    t->mask = capacity - 1;
    t->count = 0;
    mr_alloc_account((int64_t)bytes);
    return t;
}

size_t mr_kd_table_bytes(const mr_kd_table_t *t)
{
    return sizeof(mr_kd_table_t) + (t->mask + 1) * sizeof(mr_kd_slot_t);
}

void mr_kd_table_free(void *p)
{
    mr_kd_table_t *t = p;
    if (t == NULL)
        return;
    size_t bytes = mr_kd_table_bytes(t);
    mr_alloc_account(-(int64_t)bytes);
    munmap(t, bytes);
}

mr_kd_slot_t *mr_kd_find(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, const char *key, size_t len,
                         mr_kd_slot_t **empty)
{
    uint64_t i = h & kd->mask;
    for (;;) {
        mr_kd_slot_t *s = &kd->slots[i];
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_relaxed);
        if (sh == 0) {
            *empty = s;
            return NULL;
        }
        if (sh == h) {
            const uint8_t *rec = mr_rec_at(t, atomic_load_explicit(&s->loc, memory_order_relaxed));
            if (rec && mr_rec_key_eq(rec, key, len))
                return s;
        }
        i = (i + 1) & kd->mask;
    }
}

mr_kd_slot_t *mr_kd_find_rec(mr_table_t *t, mr_kd_table_t *kd, const uint8_t *rec)
{
    uint16_t klen = mr_rec_key_len(rec);
    uint64_t h = mr_kd_fix_hash(mr_hash64(mr_rec_key(rec), klen));
    mr_kd_slot_t *empty;
    return mr_kd_find(t, kd, h, mr_rec_key(rec), klen, &empty);
}

static int kd_grow_to(mr_table_t *t, mr_kd_table_t *old, uint64_t cap)
{
    mr_kd_table_t *n = mr_kd_table_new(cap);
    if (n == NULL)
        return MURR_ENOMEM;
    for (uint64_t i = 0; i <= old->mask; i++) {
        uint64_t h = atomic_load_explicit(&old->slots[i].hash, memory_order_relaxed);
        if (h == 0)
            continue;
        uint64_t j = h & n->mask;
        while (atomic_load_explicit(&n->slots[j].hash, memory_order_relaxed) != 0)
            j = (j + 1) & n->mask;
        atomic_store_explicit(&n->slots[j].loc, atomic_load(&old->slots[i].loc), memory_order_relaxed);
        atomic_store_explicit(&n->slots[j].hash, h, memory_order_relaxed);
    }
    atomic_store_explicit(&n->count, atomic_load_explicit(&old->count, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(&t->kd, n, memory_order_release);
    mr_epoch_retire(mr_kd_table_free, old);
    return 0;
}

static int kd_grow(mr_table_t *t, mr_kd_table_t *old) { return kd_grow_to(t, old, (old->mask + 1) * 2); }

int mr_kd_reserve(mr_table_t *t, uint64_t n)
{
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    uint64_t want = atomic_load_explicit(&kd->count, memory_order_relaxed) + n + 1, cap = kd->mask + 1;
    while (want * 4 > cap * 3)
        cap *= 2;
    return cap == kd->mask + 1 ? 0 : kd_grow_to(t, kd, cap);
}

/* With an undo map (a commit while readers may hold an older snapshot), the key's previous
 * location is recorded before its slot changes. */
int mr_kd_put(mr_table_t *t, const char *key, size_t len, uint64_t loc, mr_undo_t *u)
{
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    if ((atomic_load_explicit(&kd->count, memory_order_relaxed) + 1) * 4 > (kd->mask + 1) * 3) {
        MR_RETURN_NOT_OK(kd_grow(t, kd));
        kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    }
    uint64_t h = mr_kd_fix_hash(mr_hash64(key, len));
    mr_kd_slot_t *empty = NULL;
    mr_kd_slot_t *s = mr_kd_find(t, kd, h, key, len, &empty);
    if (s) {
        uint64_t old = atomic_load_explicit(&s->loc, memory_order_relaxed);
        if (u)
            mr_undo_record(u, h, key, len, loc, old, mr_loc_key_eq, t);
        mr_segment_t *os = mr_seg_get(t, MR_LOC_SEG(old));
        if (os)
            atomic_fetch_add_explicit(&os->garbage, mr_rec_len(os->map + MR_LOC_OFF(old)), memory_order_relaxed);
        atomic_store_explicit(&s->loc, loc, memory_order_release);
    } else {
        if (u)
            mr_undo_record(u, h, key, len, loc, 0, mr_loc_key_eq, t);
        atomic_store_explicit(&empty->loc, loc, memory_order_release);
        atomic_store_explicit(&empty->hash, h, memory_order_release);
        atomic_fetch_add_explicit(&kd->count, 1, memory_order_relaxed);
    }
    return 0;
}
