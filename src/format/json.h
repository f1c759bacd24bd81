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
/* float16 given as its binary16 bits: the shortest digits that round-trip as float16. */
size_t mr_fmt_f16(uint16_t bits, char *buf);

/* {"columns":{"<c>":[...],...}}: one member per distinct column name, in batch order;
 * exact integers, shortest floats, NaN/Inf as null, strings escaped per RFC 8259, lists as
 * arrays of numbers (float16 elements as their shortest float16 digits). */
int mr_json_write_batch(mr_buf_t *out, const mr_batch_t *b, mr_error_t *err);
/* Appends a JSON string literal (quoted, escaped). */
int mr_json_write_string(mr_buf_t *out, const char *s, size_t len);

struct jnode; /* a value of the parsed document (json_internal.h); lives in the parse arena */
struct mr_json_keys; /* the key arrays of a fetch request, scanned without DOM nodes (json_fetch.c) */

/* A parsed fetch request. Two generations of the protocol share it:
 *  - murr 0.2, `"keys": [k, ...]`: one key column; strings for a utf8 key, JSON integers
 *    for an integer key. The answer is dense (sparse = false).
 *  - murr 0.3, `"keys": {"<key col>": [v, ...], ...}`: one array per key column of the
 *    table. The answer is sparse (sparse = true: `_idx` first, found keys only).
 * `keys`/`nkeys` is the string fast path: set when the keys are all strings and there is
 * one key array (the 0.2 array, or a 0.3 object with one member, named by key_name);
 * otherwise NULL. Every other table gets its encoded keys from mr_json_fetch_encode, or
 * (a request it declines) a typed key batch from mr_json_fetch_keys. */
typedef struct mr_fetch_req {
    mr_slice_t table;     /* Flight tickets only */
    bool sparse;          /* object form (0.3): answer found keys only, led by _idx */
    mr_slice_t *keys;     /* string fast path, see above; NULL otherwise */
    size_t nkeys;         /* keys of the array (0.2), or length of the first key array (0.3) */
    mr_slice_t key_name;  /* object form with one member: its name; else empty */
    const struct jnode *keys_json; /* the "keys" value (its children: see `scanned`) */
    struct mr_json_keys *scanned;  /* the key arrays, scanned without DOM nodes (json_fetch.c); NULL
                                      when the keys value is DOM nodes (a shape the scan declines) */
    mr_slice_t *columns;
    size_t ncolumns;
    struct mr_budget *budget; /* the request's decode budget: parse, key slices, key batch */
} mr_fetch_req_t;

/* Parses {"keys": <array or object>, "columns": [str...]} (want_table: also "table": str,
 * for Flight tickets). Unknown top-level members are ignored. Strings without escapes point
 * into `body`; others are unescaped into the arena (no malloc per key): body and arena must
 * outlive *out. The root member "keys" is scanned into flat arrays, without DOM nodes, when
 * it has the shape of a valid request (decision 0018; anything else is parsed into DOM
 * nodes). The document tree, the scanned arrays and the key slices are charged to `budget`
 * (core/budget.h, required; decision 0009) before they are allocated, and *out keeps it for
 * mr_json_fetch_keys and the fetch: MURR_ETOOBIG over it, naming the limit. Shape checks that need no schema happen here: an array of keys holds only
 * strings or only numbers; an object of keys holds arrays. Errors: MURR_ESYNTAX (malformed
 * JSON, with byte offset), MURR_ESHAPE (missing member, wrong type, a keys array mixing
 * kinds: names the member and index), MURR_EINVAL (a member of a keys object that is not
 * an array: names it). */
struct mr_budget;
int mr_json_parse_fetch(mr_arena_t *a, const char *body, size_t len, bool want_table, struct mr_budget *budget,
                        mr_fetch_req_t *out, mr_error_t *err);

/* Builds the key batch of a parsed fetch request for a table with `schema`: one column per
 * key column of the table, in schema order, typed by the schema, decoded with the element
 * rules of the JSON write body (integers in range, no fraction; strings for utf8), no nulls.
 * Each key column is charged to fr->budget before it is allocated (MURR_ETOOBIG over it).
 * The caller frees *out (mr_batch_free). Errors (names column, row, lengths):
 *  - array form: MURR_EINVAL for a compound key (send an object), MURR_ESHAPE for a
 *    non-string key of a utf8 key (the 0.2 answer), MURR_EINVAL for a bad integer;
 *  - object form: MURR_EINVAL for a missing key column, a member that is not a key column,
 *    ragged arrays, a wrong or null element. */
int mr_json_fetch_keys(const mr_fetch_req_t *fr, const mr_schema_t *schema, mr_batch_t **out, mr_error_t *err);

/* The keys of a parsed fetch request encoded straight into the table's encoded keys
 * (core/key.h, murr.h "Encoded keys") for murr_read_opt, from the key arrays as the parse
 * scanned them: no DOM nodes, no key batch. *keys / *lens (fr->nkeys of them) and the key
 * bytes are allocated in `a` and charged to fr->budget. A request this path does not take
 * answers MURR_EAGAIN with err untouched, and the caller takes mr_json_fetch_keys, which
 * refuses it with the exact message (or, for a valid request, builds its key batch): keys
 * not scanned, a single utf8 key (the string fast path), a member that is not a key column
 * or appears twice, a missing key column, ragged arrays, strings for an integer key or the
 * reverse, an integer outside the key dtype's range. Errors: MURR_EINVAL for an encoded key
 * over MURR_KEY_MAX bytes (naming its row, as murr_read_keys does), MURR_ETOOBIG,
 * MURR_ENOMEM. */
int mr_json_fetch_encode(const mr_fetch_req_t *fr, const mr_schema_t *schema, mr_arena_t *a, const char ***keys,
                         size_t **lens, mr_error_t *err);

/* Parses `text` as a JSON array of strings (e.g. the "columns" metadata of an Arrow fetch
 * request) into arena slices, charged to `budget` (required); `what` names it in errors
 * ("columns: expected an array of strings, got an object"). Errors: MURR_ESYNTAX,
 * MURR_ESHAPE, MURR_ETOOBIG. */
int mr_json_parse_string_array(mr_arena_t *a, const char *text, size_t len, const char *what,
                               struct mr_budget *budget, mr_slice_t **out, size_t *n, mr_error_t *err);

/* Decodes a columnar write body {"columns":{"<c>":[v...],...}} against the table schema into
 * a batch with one column per schema column (schema order, key included). Per-dtype rules of
 * the reference (section 2.5): utf8 strings, bool true/false, integers in range and without
 * fraction/exponent, floats any number; null anywhere. Errors: MURR_ESYNTAX / MURR_ESHAPE
 * for bad JSON ("Table error: invalid JSON: ..."), MURR_EINVAL for a missing schema column,
 * a bad element (column, row, expected vs got), ragged arrays (column, lengths), a null in
 * a non-nullable column or the key. Extra members are ignored. The document tree and the
 * batch's columns are charged to `budget` (core/budget.h, required) before they are
 * allocated: MURR_ETOOBIG over it, naming the limit and the size needed. */
int mr_json_parse_write(const char *body, size_t len, const mr_schema_t *schema, struct mr_budget *budget,
                        mr_batch_t **out, mr_error_t *err);

#endif
