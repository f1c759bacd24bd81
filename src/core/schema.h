/*
 * schema.h - table schema (murr_schema) parse/serialise/validate, JSON as the reference:
 *   {"key": "id", "columns": {"id": {"dtype": "utf8", "nullable": false}, ...}}
 * Column order is kept; nullable defaults to true; strict defaults to true.
 * Validation happens in parse, before anything can persist a schema.
 */
#ifndef MR_CORE_SCHEMA_H
#define MR_CORE_SCHEMA_H

#include "core/error.h"
#include "core/buf.h"

typedef murr_schema mr_schema_t;
typedef murr_column_schema mr_column_schema_t;

#define MR_TABLE_NAME_MAX 128
#define MR_COLUMN_NAME_MAX 1024
#define MR_SCHEMA_MAX_COLUMNS 4096

/* Parses from an already-decoded jansson value (used by the manifest and the HTTP layer).
 * `where` prefixes shape errors (e.g. "tables.features"). */
struct json_t;
int mr_schema_from_jansson(const struct json_t *v, mr_schema_t **out, mr_error_t *err);
/* Builds a jansson object (caller json_decref's). */
struct json_t *mr_schema_to_jansson(const mr_schema_t *s);
/* Validates key presence/type and names; used by parse and by murr_create_table. */
int mr_schema_validate(const mr_schema_t *s, mr_error_t *err);
mr_schema_t *mr_schema_clone(const mr_schema_t *s);
void mr_schema_free(mr_schema_t *s);
/* Index of a column by name, or -1. */
int32_t mr_schema_find(const mr_schema_t *s, const char *name, size_t len);
/* Builds a schema in code (tests, benches): key (one name: form 2; "a,b": a compound key in
 * form 3) then columns "name:dtype[?]" where
 * a trailing '?' means nullable and "[N]" after a list dtype a fixed dimension
 * ("emb:list<float32>[768]?"), e.g. mr_schema_make("id", "id:utf8", "score:float32?", NULL). */
mr_schema_t *mr_schema_make(const char *key, ...);

#endif
