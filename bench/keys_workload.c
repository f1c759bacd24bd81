/* keys_workload.c - see keys_workload.h. */
#include "keys_workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "format/arrow_ipc.h"

const char *const bench_kw_table_name[BENCH_KW_TABLES] = {"k_utf8", "k_int64", "k_compound"};
const char *const bench_kw_kind_name[BENCH_KW_TABLES] = {"utf8", "int64", "int64 + utf8"};
const char *const bench_kw_form_name[BENCH_KW_FORMS] = {"0.2 JSON list", "0.3 JSON object", "Arrow IPC request"};

void bench_kw_init(bench_kw_t *w, uint64_t rows, int cols, int keys)
{
    w->rows = rows;
    w->cols = cols;
    w->keys = keys;
    size_t o = 0;
    for (int c = 0; c < cols; c++)
        o += (size_t)snprintf(w->colnames_json + o, sizeof(w->colnames_json) - o, "%s\"col_%d\"", c ? "," : "[", c);
    snprintf(w->colnames_json + o, sizeof(w->colnames_json) - o, "]");
}

static int put_decimal(char *dst, uint64_t v) { return sprintf(dst, "%llu", (unsigned long long)v); }

/* Column `col` of b as utf8: decimal of vals[i] (div, mod applied: v / div % mod). */
static void fill_decimal(mr_batch_t *b, int32_t col, const char *name, const uint64_t *rows, uint64_t mod)
{
    char tmp[24];
    int64_t n = b->num_rows, data = 0;
    for (int64_t i = 0; i < n; i++)
        data += put_decimal(tmp, mod ? rows[i] % mod : rows[i]);
    mr_batch_set_name(b, col, name, strlen(name));
    mr_batch_column_alloc(b, col, MURR_UTF8, false, data);
    int32_t *off = b->columns[col].values;
    char *p = (char *)b->columns[col].data;
    for (int64_t i = 0; i < n; i++) {
        int l = put_decimal(tmp, mod ? rows[i] % mod : rows[i]);
        memcpy(p + off[i], tmp, (size_t)l);
        off[i + 1] = off[i] + l;
    }
}

static void fill_int64(mr_batch_t *b, int32_t col, const char *name, const uint64_t *rows, uint64_t div)
{
    mr_batch_set_name(b, col, name, strlen(name));
    mr_batch_column_alloc(b, col, MURR_INT64, false, 0);
    int64_t *v = b->columns[col].values;
    for (int64_t i = 0; i < b->num_rows; i++)
        v[i] = (int64_t)(rows[i] / div);
}

int bench_kw_key_columns(int table) { return table == BENCH_KW_COMPOUND ? 2 : 1; }

/* The key columns of `table` for the given rows, as columns 0.. of b. */
static void fill_keys(mr_batch_t *b, int table, const uint64_t *rows)
{
    switch (table) {
    case BENCH_KW_UTF8: fill_decimal(b, 0, "id", rows, 0); break;
    case BENCH_KW_INT64: fill_int64(b, 0, "id", rows, 1); break;
    default:
        fill_int64(b, 0, "user", rows, 16);
        fill_decimal(b, 1, "item", rows, 16);
    }
}

mr_batch_t *bench_kw_key_batch(int table, const uint64_t *rows, int64_t n)
{
    mr_batch_t *b = mr_batch_new(bench_kw_key_columns(table), n);
    fill_keys(b, table, rows);
    return b;
}

mr_batch_t *bench_kw_load_batch(const bench_kw_t *w, int table, uint64_t first, int64_t n)
{
    int nk = bench_kw_key_columns(table);
    mr_batch_t *b = mr_batch_new(nk + w->cols, n);
    uint64_t *rows = malloc(sizeof(uint64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        rows[i] = first + (uint64_t)i;
    fill_keys(b, table, rows);
    free(rows);
    for (int c = 0; c < w->cols; c++) {
        char name[16];
        int nl = snprintf(name, sizeof(name), "col_%d", c);
        mr_batch_set_name(b, nk + c, name, (size_t)nl);
        mr_batch_column_alloc(b, nk + c, MURR_FLOAT32, false, 0);
        float *v = b->columns[nk + c].values;
        for (int64_t i = 0; i < n; i++)
            v[i] = bench_value(first + (uint64_t)i, c);
    }
    return b;
}

void bench_kw_schema_json(const bench_kw_t *w, int table, mr_buf_t *s)
{
    static const char *const nn = "\"nullable\":false";
    s->len = 0;
    if (table == BENCH_KW_UTF8)
        mr_buf_printf(s, "{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\",%s}", nn);
    else if (table == BENCH_KW_INT64)
        mr_buf_printf(s, "{\"columns\":{\"id\":{\"dtype\":\"int64\",%s,\"key\":true}", nn);
    else
        mr_buf_printf(s, "{\"columns\":{\"user\":{\"dtype\":\"int64\",%s,\"key\":true},"
                         "\"item\":{\"dtype\":\"utf8\",%s,\"key\":true}", nn, nn);
    for (int c = 0; c < w->cols; c++)
        mr_buf_printf(s, ",\"col_%d\":{\"dtype\":\"float32\",%s}", c, nn);
    mr_buf_append(s, "}}", 3); /* with the NUL: bench_http_simple takes a C string */
}

/* Appends the JSON array of the key column `col` (0 or 1) of `table` for rows. */
static void json_key_array(const bench_kw_t *w, mr_buf_t *out, int table, int col, const uint64_t *rows)
{
    mr_buf_append_byte(out, '[');
    for (int k = 0; k < w->keys; k++) {
        const char *sep = k ? "," : "";
        if (table == BENCH_KW_UTF8)
            mr_buf_printf(out, "%s\"%llu\"", sep, (unsigned long long)rows[k]);
        else if (table == BENCH_KW_INT64)
            mr_buf_printf(out, "%s%llu", sep, (unsigned long long)rows[k]);
        else if (col == 0)
            mr_buf_printf(out, "%s%llu", sep, (unsigned long long)(rows[k] / 16));
        else
            mr_buf_printf(out, "%s\"%llu\"", sep, (unsigned long long)(rows[k] % 16));
    }
    mr_buf_append_byte(out, ']');
}

static void json_body(const bench_kw_t *w, mr_buf_t *body, int table, int form, const uint64_t *rows)
{
    if (form == BENCH_KW_LIST) {
        mr_buf_append_cstr(body, "{\"keys\":");
        json_key_array(w, body, table, 0, rows);
    } else if (table == BENCH_KW_COMPOUND) {
        mr_buf_append_cstr(body, "{\"keys\":{\"user\":");
        json_key_array(w, body, table, 0, rows);
        mr_buf_append_cstr(body, ",\"item\":");
        json_key_array(w, body, table, 1, rows);
        mr_buf_append_byte(body, '}');
    } else {
        mr_buf_append_cstr(body, "{\"keys\":{\"id\":");
        json_key_array(w, body, table, 0, rows);
        mr_buf_append_byte(body, '}');
    }
    mr_buf_printf(body, ",\"columns\":%s}", w->colnames_json);
}

void bench_kw_arrow_request(const bench_kw_t *w, int table, const char *key_name, const uint64_t *rows, mr_buf_t *body)
{
    mr_batch_t *b = bench_kw_key_batch(table, rows, w->keys);
    if (key_name != NULL)
        mr_batch_set_name(b, 0, key_name, strlen(key_name));
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    struct iovec *iov;
    int cnt;
    size_t total;
    mr_error_t e = {0};
    mr_ipc_kv_t meta = {"columns", w->colnames_json};
    if (mr_ipc_write_stream(&a, b, &meta, 1, &iov, &cnt, &total, &e) != 0) {
        fprintf(stderr, "encoding an Arrow fetch request: %s\n", e.message);
        exit(1);
    }
    for (int i = 0; i < cnt; i++)
        mr_buf_append(body, iov[i].iov_base, iov[i].iov_len);
    mr_arena_deinit(&a);
    mr_batch_free(b);
}


void bench_kw_gen_rows(const bench_kw_t *w, uint64_t *seed, int hits, uint64_t *rows)
{
    if (hits < 0) {
        for (int k = 0; k < w->keys; k++)
            rows[k] = bench_rng(seed) % w->rows;
        return;
    }
    for (int k = 0; k < w->keys; k++)
        rows[k] = w->rows + bench_rng(seed) % w->rows;
    for (int h = 0; h < hits;) {
        int k = (int)(bench_rng(seed) % (uint64_t)w->keys);
        if (rows[k] < w->rows)
            continue; /* distinct positions: exactly `hits` existing keys */
        rows[k] = bench_rng(seed) % w->rows;
        h++;
    }
}

void bench_kw_request_body(const bench_kw_t *w, int table, int form, const uint64_t *rows, mr_buf_t *body)
{
    if (form == BENCH_KW_ARROW)
        bench_kw_arrow_request(w, table, NULL, rows, body);
    else
        json_body(w, body, table, form, rows);
}
