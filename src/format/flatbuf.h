/*
 * flatbuf.h - just enough FlatBuffers to read and write Arrow IPC metadata by hand.
 *
 * Reading: every access is bounds-checked against the message; a table is {buf, len, pos}
 * plus its vtable; a missing field reads as the default. Any out-of-range offset sets
 * `bad` on the reader context so callers check once per message.
 *
 * Writing: a forward builder. Tables are laid out parent first; offsets to children are
 * patched when the child is written (children always land at higher addresses, as
 * uoffset_t requires). Tables start 8-aligned so 8-byte fields are naturally aligned.
 */
#ifndef MR_FORMAT_FLATBUF_H
#define MR_FORMAT_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct fb_ctx {
    const uint8_t *buf;
    size_t len;
    bool bad;
} fb_ctx_t;

typedef struct fb_table {
    fb_ctx_t *ctx;
    size_t pos;      /* table start */
    size_t vt;       /* vtable start */
    uint16_t vt_len; /* vtable bytes */
} fb_table_t;

/* Root table of a buffer; false (and ctx->bad) on any inconsistency. */
bool fb_root(fb_ctx_t *ctx, fb_table_t *out);
/* Field presence and scalar reads (defaults when absent). */
bool fb_has(const fb_table_t *t, int id);
int64_t fb_i64(const fb_table_t *t, int id, int64_t def);
int32_t fb_i32(const fb_table_t *t, int id, int32_t def);
int16_t fb_i16(const fb_table_t *t, int id, int16_t def);
uint8_t fb_u8(const fb_table_t *t, int id, uint8_t def);
/* Sub-table; false if absent or invalid. */
bool fb_table_field(const fb_table_t *t, int id, fb_table_t *out);
/* String: pointer + length; false if absent/invalid. */
bool fb_string(const fb_table_t *t, int id, const char **s, size_t *len);
/* Vector: element count and position of the first element; elem_size for bounds checks. */
bool fb_vector(const fb_table_t *t, int id, size_t elem_size, size_t *count, size_t *data_pos);
/* Element i of a vector of tables. */
bool fb_vector_table(fb_ctx_t *ctx, size_t data_pos, size_t i, fb_table_t *out);

/* ---- builder ---- */
typedef struct fb_field {
    int id;
    int size;        /* 1, 2, 4, 8; 4 with is_offset for a child */
    uint64_t value;
    bool is_offset;
} fb_field_t;

/* Writes a table; fills patch[k] with the absolute position of the k-th offset field (in
 * the order they appear in f). Returns the table position. */
size_t fbb_table(mr_buf_t *b, const fb_field_t *f, int n, size_t *patch);
/* Points the offset field at `field_pos` to `target`. */
void fbb_patch(mr_buf_t *b, size_t field_pos, size_t target);
size_t fbb_string(mr_buf_t *b, const char *s, size_t len);
/* Vector of n offsets (zeroed, to patch): returns the position of the length; element i is
 * at ret + 4 + 4i. */
size_t fbb_offset_vector(mr_buf_t *b, size_t n);
/* Vector of n structs of `size` bytes with the given alignment; returns the length position;
 * *data receives where to copy the structs (valid until the next append). */
size_t fbb_struct_vector(mr_buf_t *b, size_t n, size_t size, size_t align, uint8_t **data);

#endif
