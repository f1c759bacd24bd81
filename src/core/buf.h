/*
 * buf.h - {ptr, len} slices for hot paths and a growable byte buffer.
 * mr_buf_t grows geometrically through the counting allocator; append functions return
 * MURR_ENOMEM on failure and leave the buffer unchanged.
 */
#ifndef MR_CORE_BUF_H
#define MR_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct mr_slice {
    const char *ptr;
    size_t len;
} mr_slice_t;

#define MR_SLICE_LIT(s) ((mr_slice_t){(s), sizeof(s) - 1})

static inline mr_slice_t mr_slice(const char *p, size_t n) { return (mr_slice_t){p, n}; }
static inline mr_slice_t mr_slice_cstr(const char *s) { return (mr_slice_t){s, strlen(s)}; }
static inline bool mr_slice_eq(mr_slice_t a, mr_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool mr_slice_eq_cstr(mr_slice_t a, const char *s) { return mr_slice_eq(a, mr_slice_cstr(s)); }

typedef struct mr_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} mr_buf_t;

void mr_buf_init(mr_buf_t *b);
void mr_buf_deinit(mr_buf_t *b);
/* Ensures room for `extra` more bytes. */
int mr_buf_reserve(mr_buf_t *b, size_t extra);
int mr_buf_append(mr_buf_t *b, const void *p, size_t n);
int mr_buf_append_byte(mr_buf_t *b, uint8_t c);
int mr_buf_append_cstr(mr_buf_t *b, const char *s);
int mr_buf_printf(mr_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends n zero bytes. */
int mr_buf_append_zeros(mr_buf_t *b, size_t n);
/* Appends zero bytes until len is a multiple of `align`. */
int mr_buf_pad(mr_buf_t *b, size_t align);
/* Hands the storage to the caller (mr_free), leaving the buffer empty. */
uint8_t *mr_buf_detach(mr_buf_t *b, size_t *len);

#endif
