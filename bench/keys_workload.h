/* keys_workload.h - the murr 0.3 key workload of bench_keys (over HTTP) and bench_fetch_path
 * (the same fetches in process, stage by stage): three tables of C float32 columns (value of
 * column c in row i = i + c/10, bench_common.h) that differ only in their key:
 *   k_utf8:     form-2 schema, key "id" utf8 = decimal of i;
 *   k_int64:    form-3 schema, key "id" int64 = i;
 *   k_compound: form-3 schema, key "user" int64 = i / 16, then "item" utf8 = decimal of i % 16.
 * Row i <-> key is a bijection in every table, so a "row" >= N names a key that does not
 * exist. Request bodies for the three fetch forms of murr 0.3 are built here too. */
#ifndef MR_BENCH_KEYS_WORKLOAD_H
#define MR_BENCH_KEYS_WORKLOAD_H

#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"

enum { BENCH_KW_UTF8, BENCH_KW_INT64, BENCH_KW_COMPOUND, BENCH_KW_TABLES };
/* request forms: 0.2 key list (dense answer), 0.3 key object (sparse), Arrow IPC (sparse) */
enum { BENCH_KW_LIST, BENCH_KW_OBJECT, BENCH_KW_ARROW, BENCH_KW_FORMS };

extern const char *const bench_kw_table_name[BENCH_KW_TABLES];  /* "k_utf8", ... */
extern const char *const bench_kw_kind_name[BENCH_KW_TABLES];   /* "utf8", "int64", "int64 + utf8" */
extern const char *const bench_kw_form_name[BENCH_KW_FORMS];    /* "0.2 JSON list", ... */

typedef struct bench_kw {
    uint64_t rows;               /* N */
    int cols;                    /* float32 columns col_0.. */
    int keys;                    /* keys per fetch */
    char colnames_json[2048];    /* ["col_0",...]: the "columns" of every request */
} bench_kw_t;

void bench_kw_init(bench_kw_t *w, uint64_t rows, int cols, int keys);
int bench_kw_key_columns(int table);
/* The table's schema as JSON (NUL-terminated in s->data). */
void bench_kw_schema_json(const bench_kw_t *w, int table, mr_buf_t *s);
/* Rows [first, first+n) of `table`: key columns, then col_0.. */
mr_batch_t *bench_kw_load_batch(const bench_kw_t *w, int table, uint64_t first, int64_t n);
/* A batch of only the key columns of `table` for rows[0, n). */
mr_batch_t *bench_kw_key_batch(int table, const uint64_t *rows, int64_t n);
/* w->keys rows for one fetch: all existing (hits < 0), or exactly `hits` existing at
 * distinct random positions and the others rows >= N. */
void bench_kw_gen_rows(const bench_kw_t *w, uint64_t *seed, int hits, uint64_t *rows);
/* Appends the request body of `form` for w->keys rows (JSON, or an Arrow IPC stream of the
 * key columns with schema metadata "columns"). Exits if the Arrow encoder fails. */
void bench_kw_request_body(const bench_kw_t *w, int table, int form, const uint64_t *rows, mr_buf_t *body);
/* The Arrow IPC form alone (schema metadata "columns"), the first key column named key_name
 * instead of the table's own name (NULL: keep it), for servers with another key column. */
void bench_kw_arrow_request(const bench_kw_t *w, int table, const char *key_name, const uint64_t *rows, mr_buf_t *body);

#endif
