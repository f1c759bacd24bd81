/*
 * alloc.h - every allocation of murr goes through these wrappers, which count bytes in use
 * (reported by /metrics and murr_memory_in_use). The count uses malloc_usable_size, so no
 * header is added and alignment is malloc's.
 *
 * mr_malloc/mr_calloc/mr_realloc return NULL on failure: use them for data-sized buffers
 * and turn NULL into MURR_ENOMEM for the request. mr_x* abort on OOM: only for small
 * control structures whose failure leaves nothing sensible to do.
 */
#ifndef MR_CORE_ALLOC_H
#define MR_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *mr_malloc(size_t n);
void *mr_calloc(size_t count, size_t size);
void *mr_realloc(void *p, size_t n);
/* 64-byte aligned (cache line), n rounded up; freed with mr_free. */
void *mr_aligned_alloc(size_t align, size_t n);
void mr_free(void *p);
char *mr_strndup(const char *s, size_t n);

void *mr_xmalloc(size_t n);
void *mr_xcalloc(size_t count, size_t size);
void *mr_xrealloc(void *p, size_t n);
char *mr_xstrdup(const char *s);

uint64_t mr_alloc_bytes_in_use(void);
/* Account for memory not obtained from malloc (e.g. anonymous mmap of a key directory). */
void mr_alloc_account(int64_t delta);

#endif
