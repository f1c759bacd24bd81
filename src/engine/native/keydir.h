/*
 * keydir.h - the per-table key directory: an open-addressing hash table (linear probing)
 * from key to record location, in 8-byte slots (decision 0013). A slot is one 64-bit word:
 *
 *   bits 63..44  tag: the top 20 bits of the key's 64-bit hash
 *   bits 43..32  segment index (1..4095; never 0, so an occupied slot is never 0)
 *   bits 31..0   record offset in the segment / 8 (records are 8-aligned)
 *
 * 0 = empty. The home slot is the hash's low bits (hash & mask), which the tag does not
 * overlap for tables up to 2^44 slots, so a tag match filters 1 in 2^20 of the other keys
 * a probe passes. A tag match is only a candidate: the key is always compared at the
 * record. Records must start below MR_KD_SEG_REACH (32 GiB) in a segment: the options
 * check (mr_table_check_options), the append size limit (write.c) and recovery keep every
 * location within mr_kd_loc_fits.
 *
 * Readers never lock: they load a slot with one acquire load (tag and location arrive
 * together) and verify the key bytes at the record. The single writer of a table publishes
 * a new key, or re-points a key, with one release store of the whole word (compaction: one
 * compare-and-swap). Growth builds a doubled table (re-hashing each key from its record:
 * the slot keeps only 20 bits of the hash) and swaps the pointer; the old one is retired
 * through the epoch (see epoch.h). Keys are never deleted individually (a table is
 * dropped whole).
 *
 * Locations elsewhere in the backend (transactions, undo maps, recovery) stay
 * MR_LOC_MAKE(seg, off), 64-bit; only the slot packs them.
 */
#ifndef MR_ENGINE_NATIVE_KEYDIR_H
#define MR_ENGINE_NATIVE_KEYDIR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mr_kd_slot {
    _Atomic uint64_t word; /* tag | segment | offset / 8; 0 = empty */
} mr_kd_slot_t;

typedef struct mr_kd_table {
    uint64_t mask;      /* capacity - 1 (capacity a power of two) */
    _Atomic uint64_t count; /* occupied slots (written by the writer; read by stats) */
    mr_kd_slot_t slots[];
} mr_kd_table_t;

#define MR_LOC_MAKE(seg, off) (((uint64_t)(seg) << 40) | (uint64_t)(off))
#define MR_LOC_SEG(loc) ((uint32_t)((loc) >> 40))
#define MR_LOC_OFF(loc) ((loc) & ((1ull << 40) - 1))

#define MR_KD_TAG_BITS 20
#define MR_KD_SEG_BITS 12
#define MR_KD_OFF_BITS 32 /* in 8-byte units */
#define MR_KD_MAX_SEGMENT ((1u << MR_KD_SEG_BITS) - 1)        /* largest segment index: 4095 */
#define MR_KD_SEG_REACH (1ull << (MR_KD_OFF_BITS + 3))        /* records start below: 32 GiB */
#define MR_KD_TAG_SHIFT (MR_KD_SEG_BITS + MR_KD_OFF_BITS)     /* 44 */
_Static_assert(MR_KD_TAG_BITS + MR_KD_SEG_BITS + MR_KD_OFF_BITS == 64, "a slot is one 64-bit word");

static inline uint64_t mr_kd_fix_hash(uint64_t h) { return h ? h : 1; }

/* Can a slot hold loc? (segment 1..MR_KD_MAX_SEGMENT, offset 8-aligned below the reach) */
static inline bool mr_kd_loc_fits(uint64_t loc)
{
    uint32_t seg = MR_LOC_SEG(loc);
    uint64_t off = MR_LOC_OFF(loc);
    return seg >= 1 && seg <= MR_KD_MAX_SEGMENT && off < MR_KD_SEG_REACH && (off & 7) == 0;
}

/* The slot word of a key with hash h at loc (which must fit: mr_kd_loc_fits). */
static inline uint64_t mr_kd_word(uint64_t h, uint64_t loc)
{
    return (h >> MR_KD_TAG_SHIFT) << MR_KD_TAG_SHIFT | (uint64_t)MR_LOC_SEG(loc) << MR_KD_OFF_BITS |
           MR_LOC_OFF(loc) >> 3;
}

/* The location a non-empty slot word holds. */
static inline uint64_t mr_kd_word_loc(uint64_t w)
{
    return MR_LOC_MAKE((w >> MR_KD_OFF_BITS) & MR_KD_MAX_SEGMENT, (w & ((1ull << MR_KD_OFF_BITS) - 1)) << 3);
}

/* Does slot word w carry the tag of hash h? */
static inline bool mr_kd_word_tag_eq(uint64_t w, uint64_t h) { return (w ^ h) >> MR_KD_TAG_SHIFT == 0; }

/* The slot's location with an acquire load (0: empty). */
static inline uint64_t mr_kd_slot_loc(mr_kd_slot_t *s)
{
    uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
    return w ? mr_kd_word_loc(w) : 0;
}

mr_kd_table_t *mr_kd_table_new(uint64_t capacity);
void mr_kd_table_free(void *t);
size_t mr_kd_table_bytes(const mr_kd_table_t *t);

#endif
