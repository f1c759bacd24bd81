/*
 * json.h - the fast JSON paths of murr: shortest round-trip float formatting, the fetch
 * response writer, the fetch-request / Flight-ticket parser, and the JSON write-body decoder.
 * (Schemas and config-like bodies use jansson: see core/schema.h.)
 *
 * Float text follows Python's repr(): shortest digits that round-trip; decimal notation
 * when the decimal exponent is in [-4, 16), else scientific ("1e-05", "1.5e+16");
 * integral values keep ".0" ("2.0"). float32 uses the shortest digits that round-trip
 * *as float32* (0.95f prints "0.95"). NaN and infinities are written as null by the writer.
 */
#ifndef MR_FORMAT_JSON_H
#define MR_FORMAT_JSON_H

#include "core/arena.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/schema.h"

#define MR_FMT_FLOAT_MAX 32

/* Writes the shortest round-trip text of a finite value into buf (>= MR_FMT_FLOAT_MAX bytes,
 * not NUL-terminated); returns the length. Non-finite input writes "null". */
size_t mr_fmt_f32(float v, char *buf);
size_t mr_fmt_f64(double v, char *buf);

/* {"columns":{"<c>":[...],...}}: one member per distinct column name, in batch order;
 * exact integers, shortest floats, NaN/Inf as null, strings escaped per RFC 8259. */
int mr_json_write_batch(mr_buf_t *out, const mr_batch_t *b, mr_error_t *err);
/* Appends a JSON string literal (quoted, escaped). */
int mr_json_write_string(mr_buf_t *out, const char *s, size_t len);

typedef struct mr_fetch_req {
    mr_slice_t table;     /* Flight tickets only */
    mr_slice_t *keys;
    size_t nkeys;
    mr_slice_t *columns;
    size_t ncolumns;
} mr_fetch_req_t;

/* Parses {"keys":[str...],"columns":[str...]} (want_table: also "table": str, for Flight
 * tickets). Unknown members are ignored. Strings without escapes point into `body`; others
 * are unescaped into the arena (no malloc per key): body and arena must outlive *out. Errors: MURR_ESYNTAX (malformed JSON, with byte offset), MURR_ESHAPE (missing
 * member, wrong type, non-string element: names the member and index). */
int mr_json_parse_fetch(mr_arena_t *a, const char *body, size_t len, bool want_table, mr_fetch_req_t *out,
                        mr_error_t *err);

/* Decodes a columnar write body {"columns":{"<c>":[v...],...}} against the table schema into
 * a batch with one column per schema column (schema order, key included). Per-dtype rules of
 * the reference (section 2.5): utf8 strings, bool true/false, integers in range and without
 * fraction/exponent, floats any number; null anywhere. Errors: MURR_ESYNTAX / MURR_ESHAPE
 * for bad JSON ("Table error: invalid JSON: ..."), MURR_EINVAL for a missing schema column,
 * a bad element (column, row, expected vs got), ragged arrays (column, lengths), a null in
 * a non-nullable column or the key. Extra members are ignored. */
int mr_json_parse_write(const char *body, size_t len, const mr_schema_t *schema, mr_batch_t **out, mr_error_t *err);

#endif
