/*
 * json_internal.h - the JSON parser's document tree and the entry points that json_parse.c
 * (the parser, typed columns, write bodies) and json_fetch.c (fetch requests: key arrays
 * scanned without DOM nodes, their encoding, the typed key batch) share. Internal to
 * src/format; the contracts of the decoders are in json.h.
 */
#ifndef MR_FORMAT_JSON_INTERNAL_H
#define MR_FORMAT_JSON_INTERNAL_H

#include "core/budget.h"
#include "format/json.h"

#include <string.h>

#define MR_JSON_MAX_DEPTH 64

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jnode {
    jtype_t type;
    uint32_t n;            /* string length, array length, or object member count */
    size_t off;            /* byte offset in the body, for messages */
    union {
        const char *s;     /* J_STR (unescaped), J_NUM (text) */
        struct jnode *kids; /* J_ARR: n values; J_OBJ: 2n nodes (key, value) */
    };
} jnode_t;

typedef struct jparser {
    const char *p, *end, *start;
    mr_arena_t *a;
    mr_error_t *err;
    mr_budget_t *budget;   /* the body's decode budget: the tree is charged to it */
    int depth;
    struct mr_json_keys *fk; /* fetch requests: the root's "keys" member is scanned into it */
} jparser_t;

static inline void mr_json_skip_ws(jparser_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

/* The bytes of w (8 bytes of a string, little-endian) where the plain scan of a string
 * stops: '"', '\\', control characters (< 0x20) and non-ASCII (>= 0x80), as the high bit of
 * each such byte. The lowest flagged byte is always a true one: each zero-byte test is exact
 * for its lowest match (a borrow only flags bytes above it). */
static inline uint64_t mr_json_str_stops(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

/* n bytes of the document tree in the parse arena, charged to the budget first; NULL with
 * j->err set (MURR_ETOOBIG, MURR_ENOMEM). */
void *mr_json_alloc(jparser_t *j, size_t n, size_t align);
/* A string at j->p ('"') into n (unescaped into the arena when it has escapes). */
int mr_json_parse_string(jparser_t *j, jnode_t *n);
int mr_json_parse_value(jparser_t *j, jnode_t *n);
/* fk: a fetch request, whose root member "keys" is scanned by mr_json_parse_keys_value; else NULL. */
int mr_json_parse_document(mr_arena_t *a, const char *body, size_t len, mr_budget_t *budget, struct mr_json_keys *fk,
                           jnode_t *root, mr_error_t *err);
/* json_fetch.c: the root's "keys" member, scanned into j->fk or parsed into DOM nodes at n. */
int mr_json_parse_keys_value(jparser_t *j, jnode_t *n);

/* "null", "a boolean", ... for messages. */
const char *mr_json_kind(const jnode_t *n);
/* Last member named `name` (duplicates: last wins), or NULL. */
const jnode_t *mr_json_member(const jnode_t *obj, const char *name);

/* ---- typed columns (json_parse.c) ---- */

/* Key columns carry the flag in both schema forms (core/schema.c sets it for form 2). */
static inline bool mr_json_is_key_column(const mr_schema_t *s, int32_t i) { return s->columns[i].key; }
/* The range of an integer dtype: largest value, largest magnitude of a negative one. */
void mr_json_int_limits(murr_dtype t, uint64_t *max_pos, uint64_t *max_neg);
/* "a, b" (the key columns, for messages; truncated with "..." past cap). */
const char *mr_json_key_list(const mr_schema_t *s, char *buf, size_t cap);
/* Decodes one JSON array into column `col` of b (b->num_rows == arr->n) by the column's
 * schema; a key column and a non-nullable column refuse nulls. */
int mr_json_decode_column(const jnode_t *arr, const mr_column_schema_t *cs, bool key, mr_batch_t *b, int32_t col,
                          mr_error_t *err);
/* Finds in the object `obj` the arrays of the schema's columns (keys_only: of its key
 * columns; arrs[i] stays NULL for the others) and checks they are arrays of one length. */
int mr_json_column_arrays(const jnode_t *obj, const mr_schema_t *s, bool keys_only, const jnode_t **arrs,
                          uint32_t *rows, mr_error_t *err);
/* What column i of a batch will take: its buffers for `rows` rows and its string bytes. */
uint64_t mr_json_column_bytes(const jnode_t *arr, const mr_column_schema_t *cs, uint32_t rows);

#endif
