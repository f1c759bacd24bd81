/* arena.c - request arena; see arena.h. */
#include "core/arena.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

struct mr_arena_chunk {
    mr_arena_chunk_t *prev;
    size_t size;  /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct mr_arena_cleanup {
    mr_arena_cleanup_t *next;
    void (*fn)(void *);
    void *arg;
};

#define MR_ARENA_MAX_CHUNK ((size_t)1 << 24)

void mr_arena_init(mr_arena_t *a, size_t first_chunk)
{
    memset(a, 0, sizeof(*a));
    a->next_chunk = first_chunk ? first_chunk : 4096;
}

static void run_cleanups(mr_arena_t *a)
{
    while (a->cleanups) {
        mr_arena_cleanup_t *c = a->cleanups;
        a->cleanups = c->next;  /* unlink first: fn may not touch the arena, but be safe */
        c->fn(c->arg);
    }
}

void mr_arena_deinit(mr_arena_t *a)
{
    run_cleanups(a);
    mr_arena_chunk_t *c = a->head;
    while (c) {
        mr_arena_chunk_t *p = c->prev;
        mr_free(c);
        c = p;
    }
    a->head = NULL;
    a->total = 0;
}

void mr_arena_reset(mr_arena_t *a)
{
    run_cleanups(a);
    /* Keep the newest chunk (the largest regular one) for reuse; free the rest. */
    mr_arena_chunk_t *keep = a->head;
    if (keep && keep->size > MR_ARENA_MAX_CHUNK)
        keep = NULL;
    mr_arena_chunk_t *c = a->head;
    while (c) {
        mr_arena_chunk_t *p = c->prev;
        if (c != keep)
            mr_free(c);
        c = p;
    }
    a->head = keep;
    a->total = 0;
    if (keep) {
        keep->prev = NULL;
        keep->used = 0;
        a->total = keep->size;
    }
}

static mr_arena_chunk_t *new_chunk(mr_arena_t *a, size_t need)
{
    size_t size = a->next_chunk;
    if (size < need)
        size = need;
    mr_arena_chunk_t *c = mr_malloc(sizeof(*c) + size);
    if (c == NULL)
        return NULL;
    c->size = size;
    c->used = 0;
    a->total += size;
    if (a->next_chunk < MR_ARENA_MAX_CHUNK)
        a->next_chunk *= 2;
    /* A chunk bigger than the regular size goes behind the head so the head keeps serving. */
    if (a->head && size > a->next_chunk && a->head->size - a->head->used > 256) {
        c->prev = a->head->prev;
        a->head->prev = c;
    } else {
        c->prev = a->head;
        a->head = c;
    }
    return c;
}

void *mr_arena_alloc_aligned(mr_arena_t *a, size_t n, size_t align)
{
    if (n == 0)
        n = 1;
    mr_arena_chunk_t *c = a->head;
    if (c) {
        uintptr_t base = (uintptr_t)c->data;
        uintptr_t p = (base + c->used + (align - 1)) & ~(uintptr_t)(align - 1);
        if (p + n <= base + c->size) {
            c->used = (size_t)(p + n - base);
            return (void *)p;
        }
    }
    if (n > SIZE_MAX - align - sizeof(*c))
        return NULL;
    c = new_chunk(a, n + align);
    if (c == NULL)
        return NULL;
    uintptr_t base = (uintptr_t)c->data;
    uintptr_t p = (base + (align - 1)) & ~(uintptr_t)(align - 1);
    c->used = (size_t)(p + n - base);
    return (void *)p;
}

void *mr_arena_alloc(mr_arena_t *a, size_t n) { return mr_arena_alloc_aligned(a, n, 8); }

void *mr_arena_calloc(mr_arena_t *a, size_t n)
{
    void *p = mr_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *mr_arena_strndup(mr_arena_t *a, const char *s, size_t n)
{
    char *d = mr_arena_alloc_aligned(a, n + 1, 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int mr_arena_add_cleanup(mr_arena_t *a, void (*fn)(void *), void *arg)
{
    mr_arena_cleanup_t *c = mr_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return MURR_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}
