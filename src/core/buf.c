/* buf.c - growable byte buffer; see buf.h. */
#include "core/buf.h"
#include "core/alloc.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

void mr_buf_init(mr_buf_t *b) { memset(b, 0, sizeof(*b)); }

void mr_buf_deinit(mr_buf_t *b)
{
    mr_free(b->data);
    memset(b, 0, sizeof(*b));
}

int mr_buf_reserve(mr_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return MURR_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = mr_realloc(b->data, cap);
    if (p == NULL)
        return MURR_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int mr_buf_append(mr_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    MR_RETURN_NOT_OK(mr_buf_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int mr_buf_append_byte(mr_buf_t *b, uint8_t c)
{
    MR_RETURN_NOT_OK(mr_buf_reserve(b, 1));
    b->data[b->len++] = c;
    return 0;
}

int mr_buf_append_cstr(mr_buf_t *b, const char *s) { return mr_buf_append(b, s, strlen(s)); }

int mr_buf_printf(mr_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MURR_EINTERNAL;
    MR_RETURN_NOT_OK(mr_buf_reserve(b, (size_t)n + 1));
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int mr_buf_append_zeros(mr_buf_t *b, size_t n)
{
    MR_RETURN_NOT_OK(mr_buf_reserve(b, n));
    memset(b->data + b->len, 0, n);
    b->len += n;
    return 0;
}

int mr_buf_pad(mr_buf_t *b, size_t align)
{
    size_t rem = b->len % align;
    return rem ? mr_buf_append_zeros(b, align - rem) : 0;
}

uint8_t *mr_buf_detach(mr_buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}
