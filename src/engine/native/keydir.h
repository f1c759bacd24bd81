/*
 * keydir.h - the per-table key directory: an open-addressing hash table (linear probing)
 * from key to record location. A slot is 16 bytes: the key's 64-bit hash (0 = empty;
 * hashes are forced non-zero) and the location (segment << 40 | offset; 0 = not yet
 * published). Readers never lock: they load hash then location with acquire loads and
 * verify the key bytes at the record. The single writer of a table stores the location
 * before the hash when inserting, and replaces the location with one atomic store on
 * update. Growth builds a doubled table and swaps the pointer; the old one is retired
 * through the epoch (see epoch.h). Keys are never deleted individually (a table is
 * dropped whole).
 */
#ifndef MR_ENGINE_NATIVE_KEYDIR_H
#define MR_ENGINE_NATIVE_KEYDIR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mr_kd_slot {
    _Atomic uint64_t hash;
    _Atomic uint64_t loc;
} mr_kd_slot_t;

typedef struct mr_kd_table {
    uint64_t mask;      /* capacity - 1 (capacity a power of two) */
    _Atomic uint64_t count; /* occupied slots (written by the writer; read by stats) */
    mr_kd_slot_t slots[];
} mr_kd_table_t;

#define MR_LOC_MAKE(seg, off) (((uint64_t)(seg) << 40) | (uint64_t)(off))
#define MR_LOC_SEG(loc) ((uint32_t)((loc) >> 40))
#define MR_LOC_OFF(loc) ((loc) & ((1ull << 40) - 1))

static inline uint64_t mr_kd_fix_hash(uint64_t h) { return h ? h : 1; }

mr_kd_table_t *mr_kd_table_new(uint64_t capacity);
void mr_kd_table_free(void *t);
size_t mr_kd_table_bytes(const mr_kd_table_t *t);

#endif
