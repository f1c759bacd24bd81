/*
 * arena.h - a bump allocator for one request (or one batch): many small allocations,
 * freed at once. Chunks grow geometrically; large allocations get a chunk of their own.
 * Cleanup hooks run (LIFO) when the arena is reset or freed, e.g. to release a buffer
 * the request borrowed. Not thread-safe: one arena belongs to one request.
 */
#ifndef MR_CORE_ARENA_H
#define MR_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct mr_arena_chunk mr_arena_chunk_t;
typedef struct mr_arena_cleanup mr_arena_cleanup_t;

typedef struct mr_arena {
    mr_arena_chunk_t *head;     /* current chunk */
    mr_arena_cleanup_t *cleanups;
    size_t next_chunk;          /* size of the next chunk to allocate */
    size_t total;               /* bytes obtained from the allocator */
} mr_arena_t;

void mr_arena_init(mr_arena_t *a, size_t first_chunk);
/* Runs cleanups and frees all chunks; the arena can be reused after mr_arena_init. */
void mr_arena_deinit(mr_arena_t *a);
/* Runs cleanups and frees all but the first chunk, which is kept for reuse. */
void mr_arena_reset(mr_arena_t *a);

/* 8-byte aligned memory, or NULL on OOM (data-sized requests). */
void *mr_arena_alloc(mr_arena_t *a, size_t n);
/* Aligned to `align` (a power of two up to 4096). */
void *mr_arena_alloc_aligned(mr_arena_t *a, size_t n, size_t align);
void *mr_arena_calloc(mr_arena_t *a, size_t n);
char *mr_arena_strndup(mr_arena_t *a, const char *s, size_t n);
/* Registers fn(arg) to run at reset/deinit. Returns MURR_ENOMEM on failure. */
int mr_arena_add_cleanup(mr_arena_t *a, void (*fn)(void *), void *arg);

#endif
