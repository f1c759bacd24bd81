/* keydir.c - the key directory (keydir.h) of the native store: allocation of its tables,
 * probing (one probe step for the writer's find and for the readers' batched lookup, which
 * pipelines the DRAM misses of many keys), put (one key, or a commit's keys in a pipeline
 * that likewise overlaps their slot and undo misses), growth and reservation. Probing verifies
 * keys against records (record.h). Tables are
 * anonymous mmaps so a 10M-key directory (16M slots, 128 MiB) comes back to the OS at once
 * when retired.
 *
 * Rules (keydir.h): only the table's writer (wlock) or recovery changes a table; a new key
 * and an update are one release store of the slot word; growth builds a doubled table
 * (re-hashing the keys from their records), swaps the pointer (release) and retires the
 * old one through the epoch. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "engine/epoch.h"

#include <assert.h>
#include <sys/mman.h>

mr_kd_table_t *mr_kd_table_new(uint64_t capacity)
{
    size_t bytes = sizeof(mr_kd_table_t) + capacity * sizeof(mr_kd_slot_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Probes are random over the whole table: huge pages cut TLB misses (a 10M-key table
     * spans 128 MiB = 32,768 4-KiB pages). Best effort: THP may be disabled. */
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

/* The probe step shared by the writer and the batched read: from slot j on, the first slot
 * that is empty (*rec = NULL: the key is absent) or carries the tag of h with a location in
 * a mapped segment (*rec = its record, whose key the caller compares). One acquire load per
 * slot (keydir.h), so readers may use it without a lock. */
static mr_kd_slot_t *kd_next(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, uint64_t j, const uint8_t **rec)
{
    for (;; j = (j + 1) & kd->mask) {
        mr_kd_slot_t *s = &kd->slots[j];
        uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
        if (w == 0) {
            *rec = NULL;
            return s;
        }
        if (mr_kd_word_tag_eq(w, h)) {
            const uint8_t *r = mr_rec_at(t, mr_kd_word_loc(w));
            if (r) {
                *rec = r;
                return s;
            }
        }
    }
}

/* The slot after s, where a probe that rejected s's record goes on. */
static uint64_t kd_after(const mr_kd_table_t *kd, const mr_kd_slot_t *s) { return (uint64_t)(s - kd->slots + 1) & kd->mask; }

/* The slot holding key, continuing from candidate s with record rec (kd_next); NULL when
 * the probe reaches an empty slot, which *empty then gets. A candidate whose key differs
 * (a tag collision, 1 in 2^20 of the keys passed) is skipped here. */
static mr_kd_slot_t *kd_settle(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, mr_kd_slot_t *s, const uint8_t **rec,
                               const char *key, size_t len, mr_kd_slot_t **empty)
{
    while (*rec != NULL && !mr_rec_key_eq(*rec, key, len))
        s = kd_next(t, kd, h, kd_after(kd, s), rec);
    if (*rec != NULL)
        return s;
    *empty = s;
    return NULL;
}

mr_kd_slot_t *mr_kd_find(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, const char *key, size_t len,
                         mr_kd_slot_t **empty)
{
    const uint8_t *rec;
    mr_kd_slot_t *s = kd_next(t, kd, h, h & kd->mask, &rec);
    return kd_settle(t, kd, h, s, &rec, key, len, empty);
}

/* Prefetches the lines of a row record with a key of klen bytes up to the end of its fixed
 * slots (what the key compare and the column copy read; utf8 tails are not covered). */
static void kd_prefetch_row(const mr_table_t *t, const uint8_t *rec, size_t klen)
{
    const uint8_t *end = rec + mr_rec_row_min(klen, t->bitmap_bytes + t->fixed_bytes) - 1;
    for (const uint8_t *p = rec; p <= end; p += 64)
        __builtin_prefetch(p);
    __builtin_prefetch(end); /* the last line, when the record starts late in its first */
}

/* Keys in flight per stage of mr_kd_lookup: stage 2 runs KD_AHEAD keys behind stage 1 and
 * stage 3 KD_AHEAD behind stage 2, so about KD_AHEAD slot lines and 2 x KD_AHEAD record
 * lines are outstanding at once (docs/benchmarks.md, issue 18, measured 8 to 32). */
#ifndef KD_AHEAD
#define KD_AHEAD 16
#endif
#define KD_RING (2 * KD_AHEAD) /* holds the candidates between stage 2 and stage 3 */

void mr_kd_lookup(mr_table_t *t, mr_kd_table_t *kd, const char *const *keys, const size_t *key_lens, size_t n,
                  uint64_t *hashes, const uint8_t **recs)
{
    mr_kd_slot_t *cand[KD_RING];
    const uint8_t *crec[KD_RING];
    for (size_t i = 0; i < n + 2 * KD_AHEAD; i++) {
        if (i < n) { /* stage 1: hash, prefetch the first slot */
            hashes[i] = mr_kd_fix_hash(mr_hash64(keys[i], key_lens[i]));
            __builtin_prefetch(&kd->slots[hashes[i] & kd->mask]);
        }
        if (i >= KD_AHEAD && i - KD_AHEAD < n) { /* stage 2: probe the (cached) slots, prefetch the record */
            size_t k = i - KD_AHEAD, r = k % KD_RING;
            cand[r] = kd_next(t, kd, hashes[k], hashes[k] & kd->mask, &crec[r]);
            if (crec[r] != NULL)
                kd_prefetch_row(t, crec[r], key_lens[k]);
        }
        if (i >= 2 * KD_AHEAD && i - 2 * KD_AHEAD < n) { /* stage 3: compare the (cached) key */
            size_t k = i - 2 * KD_AHEAD, r = k % KD_RING;
            mr_kd_slot_t *empty;
            recs[k] = kd_settle(t, kd, hashes[k], cand[r], &crec[r], keys[k], key_lens[k], &empty) ? crec[r] : NULL;
        }
    }
}

mr_kd_slot_t *mr_kd_find_rec(mr_table_t *t, mr_kd_table_t *kd, const uint8_t *rec)
{
    uint16_t klen = mr_rec_key_len(rec);
    uint64_t h = mr_kd_fix_hash(mr_hash64(mr_rec_key(rec), klen));
    mr_kd_slot_t *empty;
    return mr_kd_find(t, kd, h, mr_rec_key(rec), klen, &empty);
}

/* The hash of the key of the record at loc (NULL record: *ok = false). */
static uint64_t kd_rec_hash(mr_table_t *t, uint64_t loc, bool *ok)
{
    const uint8_t *r = mr_rec_at(t, loc);
    *ok = r != NULL;
    return r ? mr_kd_fix_hash(mr_hash64(mr_rec_key(r), mr_rec_key_len(r))) : 0;
}

/* Slots in flight per stage of the growth pipeline (record header lines, new slots). */
#define KD_GROW_AHEAD 16
#define KD_GROW_RING (2 * KD_GROW_AHEAD)

/* Re-inserts every key of old into a table of cap slots, then swaps it in. A slot keeps
 * only the hash's top bits, so each key is hashed again from its record: a pipeline over
 * the old slots prefetches the record's first line GROW_AHEAD slots ahead of the hash,
 * which prefetches the new home slot GROW_AHEAD slots ahead of the insert. Every occupied
 * slot points into a live segment (compaction re-points before it retires one), so a
 * missing record is an internal fault: the old table stays and MURR_EINTERNAL is
 * returned. */
static int kd_grow_to(mr_table_t *t, mr_kd_table_t *old, uint64_t cap)
{
    mr_kd_table_t *n = mr_kd_table_new(cap);
    if (n == NULL)
        return MURR_ENOMEM;
    uint64_t oc = old->mask + 1, hs[KD_GROW_RING];
    for (uint64_t i = 0; i < oc + 2 * KD_GROW_AHEAD; i++) {
        if (i < oc) { /* stage 1: prefetch the record header */
            uint64_t w = atomic_load_explicit(&old->slots[i].word, memory_order_relaxed);
            const uint8_t *r = w ? mr_rec_at(t, mr_kd_word_loc(w)) : NULL;
            if (r)
                __builtin_prefetch(r);
        }
        if (i >= KD_GROW_AHEAD && i - KD_GROW_AHEAD < oc) { /* stage 2: hash, prefetch the new slot */
            uint64_t k = i - KD_GROW_AHEAD, w = atomic_load_explicit(&old->slots[k].word, memory_order_relaxed);
            bool ok = true;
            hs[k % KD_GROW_RING] = w ? kd_rec_hash(t, mr_kd_word_loc(w), &ok) : 0;
            if (!ok) {
                mr_kd_table_free(n);
                return MURR_EINTERNAL;
            }
            if (w)
                __builtin_prefetch(&n->slots[hs[k % KD_GROW_RING] & n->mask], 1);
        }
        if (i >= 2 * KD_GROW_AHEAD) { /* stage 3: insert */
            uint64_t k = i - 2 * KD_GROW_AHEAD, w = atomic_load_explicit(&old->slots[k].word, memory_order_relaxed);
            if (w == 0)
                continue;
            uint64_t j = hs[k % KD_GROW_RING] & n->mask;
            while (atomic_load_explicit(&n->slots[j].word, memory_order_relaxed) != 0)
                j = (j + 1) & n->mask;
            atomic_store_explicit(&n->slots[j].word, w, memory_order_relaxed);
        }
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

/* Publishes key (hash h, len bytes at key) -> loc in kd, which has room (reserved). The key
 * bytes are read only to compare with a candidate of the same tag or an undo entry of the
 * same hash, so a new key costs no access to its record. With an undo map (a commit while
 * readers may hold an older snapshot), the key's previous location is recorded before its
 * slot changes; the superseded record becomes garbage. Returns whether the key is new: the
 * caller adds those to kd->count (a locked add per key would wait for every store before
 * it, the slot's miss included). */
static bool kd_put_hashed(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, const char *key, size_t len, uint64_t loc,
                          mr_undo_t *u)
{
    assert(mr_kd_loc_fits(loc));
    /* mr_kd_find reads the key only on a tag match; calling it (not kd_settle directly)
     * keeps kd_settle inlined into mr_kd_lookup in the release build, as on main */
    mr_kd_slot_t *empty = NULL;
    mr_kd_slot_t *s = mr_kd_find(t, kd, h, key, len, &empty);
    if (s) {
        uint64_t old = mr_kd_word_loc(atomic_load_explicit(&s->word, memory_order_relaxed));
        if (u)
            mr_undo_record(u, h, key, len, loc, old, mr_loc_key_eq, t);
        mr_segment_t *os = mr_seg_get(t, MR_LOC_SEG(old));
        if (os)
            atomic_fetch_add_explicit(&os->garbage, mr_rec_len(os->map + MR_LOC_OFF(old)), memory_order_relaxed);
        atomic_store_explicit(&s->word, mr_kd_word(h, loc), memory_order_release);
        return false;
    }
    if (u)
        mr_undo_record(u, h, key, len, loc, 0, mr_loc_key_eq, t);
    atomic_store_explicit(&empty->word, mr_kd_word(h, loc), memory_order_release);
    return true;
}

/* The writer's count update: a plain store (readers of count only report it). */
static void kd_count_add(mr_kd_table_t *kd, uint64_t added)
{
    atomic_store_explicit(&kd->count, atomic_load_explicit(&kd->count, memory_order_relaxed) + added,
                          memory_order_relaxed);
}

int mr_kd_put(mr_table_t *t, const char *key, size_t len, uint64_t loc, mr_undo_t *u)
{
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    if ((atomic_load_explicit(&kd->count, memory_order_relaxed) + 1) * 4 > (kd->mask + 1) * 3) {
        MR_RETURN_NOT_OK(kd_grow(t, kd));
        kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    }
    kd_count_add(kd, kd_put_hashed(t, kd, mr_kd_fix_hash(mr_hash64(key, len)), key, len, loc, u));
    return 0;
}

/* Keys in flight per stage of mr_kd_put_many (record lines when it hashes, then slot and
 * undo lines). */
#define KD_PUT_AHEAD 16
#define KD_PUT_RING (2 * KD_PUT_AHEAD)

int mr_kd_put_many(mr_table_t *t, const uint64_t *locs, const uint64_t *hashes, const uint16_t *klens, size_t n,
                   mr_undo_t *u)
{
    for (size_t i = 0; i < n; i++)
        if (mr_rec_at(t, locs[i]) == NULL)
            return MURR_EINTERNAL;
    MR_RETURN_NOT_OK(mr_kd_reserve(t, n));
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    uint64_t hs[KD_PUT_RING], added = 0;
    for (size_t i = 0; i < n + 2 * KD_PUT_AHEAD; i++) {
        if (i < n && (hashes == NULL || klens == NULL)) /* stage 1: the record line, if the key must be read */
            __builtin_prefetch(mr_rec_at(t, locs[i]));
        if (i >= KD_PUT_AHEAD && i - KD_PUT_AHEAD < n) { /* stage 2: hash, prefetch the home slot and undo entry */
            size_t k = i - KD_PUT_AHEAD;
            uint64_t h = hashes ? hashes[k] : mr_kd_fix_hash(mr_hash64(mr_rec_key(mr_rec_at(t, locs[k])),
                                                                        mr_rec_key_len(mr_rec_at(t, locs[k]))));
            hs[k % KD_PUT_RING] = h;
            __builtin_prefetch(&kd->slots[h & kd->mask], 1);
            if (u)
                __builtin_prefetch(&u->e[h & u->mask], 1);
        }
        if (i >= 2 * KD_PUT_AHEAD && i - 2 * KD_PUT_AHEAD < n) { /* stage 3: publish, in order */
            size_t k = i - 2 * KD_PUT_AHEAD;
            const uint8_t *rec = mr_rec_at(t, locs[k]);
            added += kd_put_hashed(t, kd, hs[k % KD_PUT_RING], mr_rec_key(rec), klens ? klens[k] : mr_rec_key_len(rec),
                                   locs[k], u);
        }
    }
    kd_count_add(kd, added);
    return 0;
}
