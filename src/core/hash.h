/*
 * hash.h - XXH3 hashing (libxxhash): 64-bit hashes of keys for the key directory and of
 * names; crc32c for record checksums (hardware instruction when the CPU has SSE4.2).
 */
#ifndef MR_CORE_HASH_H
#define MR_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t mr_hash64(const void *p, size_t n) { return XXH3_64bits(p, n); }
static inline uint64_t mr_hash64_seed(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

/* CRC-32C (Castagnoli), as used by ext4/iSCSI; crc is the running value (start with 0). */
uint32_t mr_crc32c(uint32_t crc, const void *p, size_t n);

#endif
