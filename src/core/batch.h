/*
 * batch.h - the columnar batch (mr_batch_t = murr_batch): the one data structure that
 * format/ (Arrow IPC, Parquet, JSON) and engine/ speak. Arrow memory layout: see murr.h.
 *
 * Ownership: a batch owns an arena; every buffer allocated through mr_batch_alloc /
 * mr_batch_column_alloc / a column builder lives until mr_batch_free. A batch may also
 * point at memory it does not own (e.g. the body of an Arrow IPC message): the producer
 * registers a keepalive hook (mr_batch_keepalive) that releases that memory on free.
 *
 * Buffers allocated here are 64-byte aligned and zero-padded to a multiple of 8 bytes.
 */
#ifndef MR_CORE_BATCH_H
#define MR_CORE_BATCH_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/dtype.h"
#include "core/error.h"

typedef murr_batch mr_batch_t;
typedef murr_column mr_column_t;

/* A batch with num_columns zeroed columns (names unset) of num_rows rows; NULL on OOM. */
mr_batch_t *mr_batch_new(int32_t num_columns, int64_t num_rows);
void mr_batch_free(mr_batch_t *b);
mr_arena_t *mr_batch_arena(mr_batch_t *b);
/* 64-byte aligned, zero-padded to a multiple of 8; the first n bytes are NOT zeroed. */
void *mr_batch_alloc(mr_batch_t *b, size_t n);
void *mr_batch_calloc(mr_batch_t *b, size_t n);
int mr_batch_set_name(mr_batch_t *b, int32_t col, const char *name, size_t len);
/* Allocates the buffers of column `col` for dtype t: values zeroed (utf8: num_rows+1 zero
 * offsets), validity (all valid) if with_validity, data_len bytes of utf8 data. */
int mr_batch_column_alloc(mr_batch_t *b, int32_t col, murr_dtype t, bool with_validity, int64_t data_len);
/* As mr_batch_column_alloc for a fixed-width scalar dtype (MURR_EINVAL for utf8, bool and
 * lists), with the values left unset: for a caller that writes every row, nulls included
 * (the engine's read). */
int mr_batch_column_alloc_unset(mr_batch_t *b, int32_t col, murr_dtype t, bool with_validity);
/* The bytes mr_batch_column_alloc takes for a column of `rows` rows (for decode budgets). */
uint64_t mr_batch_column_bytes(murr_dtype t, int64_t rows, bool with_validity, int64_t data_len);
/* Takes ownership of a buffer from mr_malloc: it is mr_free'd with the batch. */
int mr_batch_adopt(mr_batch_t *b, void *p);
/* Runs fn(arg) when the batch is freed (after nothing in it is used any more). */
int mr_batch_keepalive(mr_batch_t *b, void (*fn)(void *), void *arg);
/* Index of the column named name[0..len), or -1. */
int32_t mr_batch_find_column(const mr_batch_t *b, const char *name, size_t len);
/* Checks the invariants of every column: offsets monotonic and within data, valid UTF-8,
 * null_count equal to the validity bitmap, names set. MURR_ECORRUPT names column and row. */
int mr_batch_validate(const mr_batch_t *b, mr_error_t *err);

/* Concatenates the rows of n >= 1 batches of one shape (same column count, names and
 * dtypes, as the batches of one Arrow IPC stream) into a new batch that owns copies of
 * every buffer. Nulls are kept. Each column's buffers are charged to `budget` (may be NULL:
 * not charged; core/budget.h) before they are allocated. Errors: MURR_EINVAL naming the
 * first column or batch that differs, MURR_ETOOBIG past INT32_MAX bytes of utf8 data in a
 * column or over the budget, MURR_ENOMEM. */
struct mr_budget;
int mr_batch_concat(const mr_batch_t *const *batches, size_t n, struct mr_budget *budget, mr_batch_t **out,
                    mr_error_t *err);

/* ---- bitmaps (LSB first) ---- */
static inline bool mr_bit_get(const uint8_t *bm, int64_t i) { return (bm[i >> 3] >> (i & 7)) & 1; }
static inline void mr_bit_set(uint8_t *bm, int64_t i) { bm[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static inline void mr_bit_clear(uint8_t *bm, int64_t i) { bm[i >> 3] &= (uint8_t)~(1u << (i & 7)); }
static inline void mr_bit_put(uint8_t *bm, int64_t i, bool v) { v ? mr_bit_set(bm, i) : mr_bit_clear(bm, i); }
static inline size_t mr_bitmap_bytes(int64_t n) { return (size_t)((n + 7) / 8); }
/* Number of set bits among bits [offset, offset+n). */
int64_t mr_bitmap_count(const uint8_t *bm, int64_t offset, int64_t n);
/* Copies n bits from src starting at bit src_off into dst starting at bit 0. */
void mr_bitmap_copy(uint8_t *dst, const uint8_t *src, int64_t src_off, int64_t n);

/* Recomputes null_count from validity; sets validity to NULL when there are no nulls. */
void mr_column_normalize_nulls(mr_column_t *c, int64_t rows);

/* ---- value access (no bounds checks; row < num_rows) ---- */
static inline const uint8_t *mr_column_str(const mr_column_t *c, int64_t row, size_t *len)
{
    const int32_t *off = (const int32_t *)c->values;
    *len = (size_t)(off[row + 1] - off[row]);
    return c->data + off[row];
}

/* ---- list columns (batch_list.c; layout in murr.h) ---- */
/* Allocates column `col` as list dtype t: dim > 0: rows * dim elements, NOT zeroed (the
 * caller writes every row, zeros for null ones); dim == 0: rows+1 zero offsets and nelems
 * elements of data (not zeroed). */
int mr_batch_list_alloc(mr_batch_t *b, int32_t col, murr_dtype t, int32_t dim, bool with_validity, int64_t nelems);
/* Elements of row `row` (valid rows; a fixed list's null rows are zeros) and their count. */
int64_t mr_list_len(const mr_column_t *c, int64_t row);
const uint8_t *mr_list_elems(const mr_column_t *c, int64_t row);
/* Checks a list column's invariants (dimension, offsets within its values). */
int mr_list_column_validate(const mr_column_t *c, int64_t rows, mr_error_t *err);
/* Null elements of an input list column are refused except under a null list (pyarrow
 * writes null slots there for a FixedSizeList): cv is the child's validity bitmap of clen
 * elements, element e belongs to row r by offsets off (+ base; NULL: fixed size dim) over
 * rows [0, rows) of col (its validity set). MURR_EINVAL naming field, row and element. */
int mr_list_check_null_elems(const char *fname, const mr_column_t *col, const int32_t *off, int64_t base, int32_t dim,
                             int64_t rows, const uint8_t *cv, int64_t clen, mr_error_t *err);
/* Converts n elements between element types (rounding to nearest for float16; int8 targets
 * take integers in -128..127 only: else MURR_EINVAL with *bad the first element's index). */
int mr_list_convert_elems(murr_dtype from, const uint8_t *src, murr_dtype to, uint8_t *dst, int64_t n, int64_t *bad);
double mr_list_elem_value(murr_dtype t, const uint8_t *elems, int64_t i);
/* Converts a list column to the table column's dtype and dim (0: variable length): element
 * widening int8 -> float16 -> float32 always; narrowing only if !strict; every valid row of
 * a fixed-size target must have exactly to_dim elements. Equal dtype and dim share buffers.
 * Errors: MURR_EINVAL naming column, row, element and sizes. */
int mr_list_column_convert(mr_batch_t *owner, const mr_column_t *src, int64_t rows, murr_dtype to, int32_t to_dim,
                           bool strict, mr_column_t *out, mr_error_t *err);

/* ---- column builder: append values one at a time (JSON, tests, slow paths) ---- */
typedef struct mr_colbuilder {
    murr_dtype dtype;
    int32_t dim;        /* list dtypes: fixed size, or 0 for variable length */
    int64_t rows;
    int64_t null_count;
    mr_buf_t values;
    mr_buf_t validity;
    mr_buf_t data;
} mr_colbuilder_t;

void mr_colbuilder_init(mr_colbuilder_t *cb, murr_dtype t);
void mr_colbuilder_init_list(mr_colbuilder_t *cb, murr_dtype t, int32_t dim);
void mr_colbuilder_deinit(mr_colbuilder_t *cb);
int mr_colbuilder_append_null(mr_colbuilder_t *cb);
/* Integer dtypes: the value is truncated to the width; callers range-check first. */
int mr_colbuilder_append_int(mr_colbuilder_t *cb, int64_t v);
int mr_colbuilder_append_uint(mr_colbuilder_t *cb, uint64_t v);
/* float32 narrows (round to nearest), float64 stores as is. */
int mr_colbuilder_append_float(mr_colbuilder_t *cb, double v);
int mr_colbuilder_append_bool(mr_colbuilder_t *cb, bool v);
int mr_colbuilder_append_str(mr_colbuilder_t *cb, const char *s, size_t len);
/* A list of n elements already in the column's element type (n == dim when fixed). */
int mr_colbuilder_append_list(mr_colbuilder_t *cb, const void *elems, size_t n);
/* Moves the built buffers into column `col` of b (whose num_rows must equal cb->rows). */
int mr_colbuilder_finish(mr_colbuilder_t *cb, mr_batch_t *b, int32_t col);

/* ---- conversions (CONTRACT.md): ----
 * Converts src (rows values) to dtype `to` into *out, allocating in owner's arena.
 * Equal dtypes: *out = *src (shared buffers). Lossless widening (mr_dtype_widens_losslessly)
 * always succeeds. Otherwise, if strict: MURR_EINVAL "column 'c': expected <to>, got <from>
 * (...)" naming the cast the client needs. Non-strict numeric narrowing: floats round;
 * integer targets refuse values out of range or with a fraction, naming row and value.
 * bool/utf8 never convert to or from other types; list dtypes convert only to list dtypes,
 * keeping the source's dim (mr_list_column_convert takes the target's dim). */
int mr_column_convert(mr_batch_t *owner, const mr_column_t *src, int64_t rows, murr_dtype to, bool strict,
                      mr_column_t *out, mr_error_t *err);

#endif
