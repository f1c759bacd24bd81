/* alloc.c - counting allocator wrappers; see alloc.h. */
#include "core/alloc.h"
#include "core/log.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int64_t g_in_use;

static void *counted(void *p)
{
    if (p)
        atomic_fetch_add_explicit(&g_in_use, (int64_t)malloc_usable_size(p), memory_order_relaxed);
    return p;
}

void *mr_malloc(size_t n) { return counted(malloc(n ? n : 1)); }
void *mr_calloc(size_t count, size_t size) { return counted(calloc(count ? count : 1, size ? size : 1)); }

void *mr_realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        return NULL;
    atomic_fetch_add_explicit(&g_in_use, (int64_t)malloc_usable_size(q) - (int64_t)old, memory_order_relaxed);
    return q;
}

void *mr_aligned_alloc(size_t align, size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : 1) != 0)
        return NULL;
    return counted(p);
}

void mr_free(void *p)
{
    if (p == NULL)
        return;
    atomic_fetch_sub_explicit(&g_in_use, (int64_t)malloc_usable_size(p), memory_order_relaxed);
    free(p);
}

char *mr_strndup(const char *s, size_t n)
{
    char *d = mr_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void *oom(size_t n)
{
    MR_ERROR("alloc", "out of memory allocating %zu bytes", n);
    abort();
}

void *mr_xmalloc(size_t n)
{
    void *p = mr_malloc(n);
    return p ? p : oom(n);
}

void *mr_xcalloc(size_t count, size_t size)
{
    void *p = mr_calloc(count, size);
    return p ? p : oom(count * size);
}

void *mr_xrealloc(void *p, size_t n)
{
    void *q = mr_realloc(p, n);
    return q ? q : oom(n);
}

char *mr_xstrdup(const char *s)
{
    char *d = mr_strndup(s, strlen(s));
    return d ? d : oom(strlen(s));
}

uint64_t mr_alloc_bytes_in_use(void)
{
    int64_t v = atomic_load_explicit(&g_in_use, memory_order_relaxed);
    return v < 0 ? 0 : (uint64_t)v;
}

void mr_alloc_account(int64_t delta) { atomic_fetch_add_explicit(&g_in_use, delta, memory_order_relaxed); }

MURR_API uint64_t murr_memory_in_use(void) { return mr_alloc_bytes_in_use(); }
MURR_API void murr_free(void *p) { mr_free(p); }
