/*
 * key.h - the encoded key of a row: the bytes the engine hashes, stores at the head of a
 * record and compares (format in murr.h, "Encoded keys"). One utf8 key column is its
 * string (so data directories of single-utf8-key tables keep their bytes); otherwise the
 * key columns are concatenated in schema order, integers as their dtype's width in
 * little-endian two's complement, utf8 as a LEB128 length then the bytes. Every
 * component delimits itself, so ("ab","c") and ("a","bc") differ.
 *
 * The writer and the reader prepare key columns the same way (mr_key_columns_prepare): found
 * by name, converted to the key dtype by lossless widening only, no nulls, every encoded key
 * at most MURR_KEY_MAX bytes.
 */
#ifndef MR_CORE_KEY_H
#define MR_CORE_KEY_H

#include "core/batch.h"
#include "core/buf.h"
#include "core/schema.h"

typedef struct mr_key_codec {
    int32_t n;              /* key columns */
    int32_t *cols;          /* schema index of each key column, in schema order */
    uint32_t *widths;       /* bytes of each integer component; 0 for utf8 */
    size_t fixed_len;       /* sum of the integer components' widths */
    int32_t nstr;           /* utf8 components: 0 = every key is fixed_len bytes */
    bool raw;               /* one utf8 key column: the encoded key is the string */
} mr_key_codec_t;

void mr_key_codec_init(mr_key_codec_t *kc, const mr_schema_t *s);
void mr_key_codec_deinit(mr_key_codec_t *kc);

/* `cols` is indexed by schema index; the key columns in it have the key dtypes and no nulls. */
size_t mr_key_encoded_len(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t row);
/* Writes row's encoded key into dst (mr_key_encoded_len bytes); returns its length. */
size_t mr_key_encode(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t row, uint8_t *dst);

/* Validates and converts the key columns of b into cols[schema index] (scratch owns any
 * converted buffers): each found by name, of the key dtype or one widening losslessly into
 * it, without nulls, every encoded key at most MURR_KEY_MAX bytes. With exact (fetch
 * requests), b must hold nothing but the key columns, and the length limit is left to
 * mr_key_encode_all (checked in its one pass). `what` names b in messages ("write
 * payload", "fetch keys"). MURR_EINVAL names the column, row and numbers. */
int mr_key_columns_prepare(const mr_key_codec_t *kc, const mr_schema_t *s, const mr_batch_t *b, bool exact,
                           const char *what, mr_batch_t *scratch, mr_column_t *cols, mr_error_t *err);

/* Encodes every row of key columns prepared by mr_key_columns_prepare: keys[i]/lens[i]
 * point into one buffer allocated in the scratch batch or, for a raw key, into the column's
 * own data; a key over MURR_KEY_MAX bytes is MURR_EINVAL naming its row. One pass;
 * integer-only keys are copied column-wise. */
int mr_key_encode_all(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t rows, mr_batch_t *scratch,
                      const char **keys, size_t *lens, mr_error_t *err);

/* One key component's values as a decoder holds them, for mr_key_encode_parts: an integer
 * component takes row r's value from the low widths[k] bytes of ints + r * stride
 * (little-endian two's complement, so a wider value narrows by truncation: the caller has
 * checked the range); a utf8 component takes row r's string from strs[r]. */
typedef struct mr_key_part {
    const uint8_t *ints;
    size_t stride;
    const mr_slice_t *strs;
} mr_key_part_t;

/* Sets lens[r] to the length of row r's encoded key and *total to their sum (integer-only
 * keys: fixed_len each). A key over MURR_KEY_MAX bytes is MURR_EINVAL naming its row, as
 * mr_key_encode_all words it. Not for a raw key (kc->raw). */
int mr_key_parts_lens(const mr_key_codec_t *kc, const mr_key_part_t *parts, int64_t rows, size_t *lens, size_t *total,
                      mr_error_t *err);
/* Encodes `rows` keys from parts[k] (component k, schema order) into buf (*total bytes of
 * mr_key_parts_lens, whose lens it takes): keys[r] points at row r's lens[r] bytes. One
 * tight loop per component. Not for a raw key. */
void mr_key_encode_parts(const mr_key_codec_t *kc, const mr_key_part_t *parts, int64_t rows, uint8_t *buf,
                         const char **keys, const size_t *lens);

#endif
