/* Compound and integer keys through the public API (murr.h): form-3 schemas, the encoded
 * key (components delimit themselves), widening-only key types, sparse answers (_idx),
 * and persistence of the schema form across reopen. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static char *dir;
static murr_db *db;

static void open_db(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.segment_max_bytes = 1 << 16;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
}

static void create(const char *name, const char *json)
{
    murr_schema *s;
    murr_error e = {0};
    cr_assert_eq(murr_schema_from_json(json, strlen(json), &s, &e), 0, "%s", e.message);
    cr_assert_eq(murr_create_table(db, name, s, &e), 0, "%s", e.message);
    murr_schema_free(s);
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("engine_keys");
    open_db();
    /* user (utf8) + item (int64) compound key, a float32 value */
    create("ui", "{\"columns\":{\"user\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},"
                 "\"score\":{\"dtype\":\"float32\"},"
                 "\"item\":{\"dtype\":\"int64\",\"nullable\":false,\"key\":true}}}");
    create("i32", "{\"columns\":{\"id\":{\"dtype\":\"int32\",\"nullable\":false,\"key\":true},"
                  "\"v\":{\"dtype\":\"float64\"}}}");
    create("ss", "{\"columns\":{\"a\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},"
                 "\"b\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},\"v\":{\"dtype\":\"int32\"}}}");
}

static void teardown(void)
{
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(keys, .init = setup, .fini = teardown);

/* Column builders for small batches. */
static void put_str(mr_batch_t *b, int32_t c, const char *name, const char *const *v, int n)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_UTF8);
    for (int i = 0; i < n; i++)
        cr_assert_eq(v[i] ? mr_colbuilder_append_str(&cb, v[i], strlen(v[i])) : mr_colbuilder_append_null(&cb), 0);
    cr_assert_eq(mr_colbuilder_finish(&cb, b, c), 0);
    mr_batch_set_name(b, c, name, strlen(name));
}

static void put_int(mr_batch_t *b, int32_t c, const char *name, murr_dtype t, const int64_t *v, int n)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, t);
    for (int i = 0; i < n; i++)
        cr_assert_eq(mr_colbuilder_append_int(&cb, v[i]), 0);
    cr_assert_eq(mr_colbuilder_finish(&cb, b, c), 0);
    mr_batch_set_name(b, c, name, strlen(name));
}

static void put_f32(mr_batch_t *b, int32_t c, const char *name, const float *v, int n)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_FLOAT32);
    for (int i = 0; i < n; i++)
        cr_assert_eq(mr_colbuilder_append_float(&cb, v[i]), 0);
    cr_assert_eq(mr_colbuilder_finish(&cb, b, c), 0);
    mr_batch_set_name(b, c, name, strlen(name));
}

static void write_ui(void)
{
    const char *users[] = {"u1", "u1", "u2", "u3"};
    int64_t items[] = {1, 2, 1, -5};
    float scores[] = {0.5f, 1.5f, 2.5f, 3.5f};
    mr_batch_t *b = mr_batch_new(3, 4);
    put_f32(b, 0, "score", scores, 4);
    put_int(b, 1, "item", MURR_INT32, items, 4); /* int32 data widens into the int64 key */
    put_str(b, 2, "user", users, 4);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "ui", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

static mr_batch_t *ui_keys(const char *const *users, const int64_t *items, int n, murr_dtype item_t)
{
    mr_batch_t *k = mr_batch_new(2, n);
    put_int(k, 0, "item", item_t, items, n);
    put_str(k, 1, "user", users, n);
    return k;
}

static float f32_at(const murr_column *c, int64_t r) { return ((const float *)c->values)[r]; }

Test(keys, compound_dense_and_sparse)
{
    write_ui();
    const char *users[] = {"u1", "u2", "nobody", "u1", "u3", "u1"};
    int64_t items[] = {2, 1, 1, 3, -5, 2};
    mr_batch_t *k = ui_keys(users, items, 6, MURR_INT64);
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, 6);
    cr_assert_eq(out->num_columns, 1);
    float want[] = {1.5f, 2.5f, 0, 0, 3.5f, 1.5f};
    bool valid[] = {true, true, false, false, true, true};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(murr_column_is_valid(&out->columns[0], i), valid[i], "row %d", i);
        if (valid[i])
            cr_assert_float_eq(f32_at(&out->columns[0], i), want[i], 0, "row %d", i);
    }
    murr_batch_free(out);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, MURR_READ_SPARSE, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_columns, 2);
    cr_assert_str_eq(out->columns[0].name, "_idx");
    cr_assert_eq(out->columns[0].dtype, MURR_UINT32);
    cr_assert_eq(out->num_rows, 4);
    uint32_t want_idx[] = {0, 1, 4, 5};
    float want_sc[] = {1.5f, 2.5f, 3.5f, 1.5f};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(((uint32_t *)out->columns[0].values)[i], want_idx[i]);
        cr_assert_float_eq(f32_at(&out->columns[1], i), want_sc[i], 0);
    }
    murr_batch_free(out);
    mr_batch_free(k);
}

Test(keys, sparse_nothing_found_keeps_schema)
{
    write_ui();
    const char *users[] = {"zz"};
    int64_t items[] = {1};
    mr_batch_t *k = ui_keys(users, items, 1, MURR_INT64);
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, MURR_READ_SPARSE, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, 0);
    cr_assert_eq(out->num_columns, 2);
    cr_assert_eq(out->columns[0].dtype, MURR_UINT32);
    cr_assert_eq(out->columns[1].dtype, MURR_FLOAT32);
    cr_assert_str_eq(out->columns[1].name, "score");
    murr_batch_free(out);
    mr_batch_free(k);
}

Test(keys, key_types_widen_never_narrow)
{
    write_ui();
    const char *users[] = {"u1"};
    int64_t items[] = {2};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    /* int16 widens into the int64 key */
    mr_batch_t *k = ui_keys(users, items, 1, MURR_INT16);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, MURR_READ_SPARSE, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, 1);
    murr_batch_free(out);
    mr_batch_free(k);
    /* uint64 does not fit an int64 key: refused, naming the column and both types */
    k = ui_keys(users, items, 1, MURR_UINT64);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "key column 'item' is int64, got uint64") != NULL, "%s", e.message);
    mr_batch_free(k);
    /* int64 into the int32 key, on write and on read */
    int64_t ids[] = {7};
    mr_batch_t *w = mr_batch_new(1, 1);
    put_int(w, 0, "id", MURR_INT64, ids, 1);
    cr_assert_eq(murr_read_keys(db, "i32", w, (const char *[]){"v"}, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "key column 'id' is int32, got int64") != NULL, "%s", e.message);
    mr_batch_free(w);
}

Test(keys, fetch_keys_are_exactly_the_key_columns)
{
    write_ui();
    const char *users[] = {"u1"};
    int64_t items[] = {2};
    float sc[] = {1};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    mr_batch_t *k = mr_batch_new(1, 1);
    put_str(k, 0, "user", users, 1);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "missing column 'item'") != NULL, "%s", e.message);
    mr_batch_free(k);
    k = mr_batch_new(3, 1);
    put_str(k, 0, "user", users, 1);
    put_int(k, 1, "item", MURR_INT64, items, 1);
    put_f32(k, 2, "score", sc, 1);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "column 'score' is not a key column") != NULL, "%s", e.message);
    mr_batch_free(k);
    k = mr_batch_new(3, 1);
    put_str(k, 0, "user", users, 1);
    put_int(k, 1, "item", MURR_INT64, items, 1);
    put_str(k, 2, "user", users, 1);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "key column 'user' appears twice (columns 0 and 2)") != NULL, "%s", e.message);
    mr_batch_free(k);
    const char *nulls[] = {NULL};
    k = ui_keys(nulls, items, 1, MURR_INT64);
    cr_assert_eq(murr_read_keys(db, "ui", k, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "null in key column 'user' at row 0") != NULL, "%s", e.message);
    mr_batch_free(k);
    /* key columns and _idx are not value columns */
    k = ui_keys(users, items, 1, MURR_INT64);
    cr_assert_eq(murr_read_keys(db, "ui", k, (const char *[]){"item"}, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert_str_eq(e.message, "Segment error: column 'item' not found");
    cr_assert_eq(murr_read_keys(db, "ui", k, (const char *[]){"_idx"}, 1, MURR_READ_SPARSE, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "column '_idx' not found") != NULL, "%s", e.message);
    mr_batch_free(k);
}

Test(keys, components_delimit_themselves)
{
    /* ("ab","c") and ("a","bc") are different keys */
    const char *a[] = {"ab", "a"}, *b[] = {"c", "bc"};
    int64_t v[] = {1, 2};
    mr_batch_t *w = mr_batch_new(3, 2);
    put_str(w, 0, "a", a, 2);
    put_str(w, 1, "b", b, 2);
    put_int(w, 2, "v", MURR_INT32, v, 2);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "ss", w, &e), 0, "%s", e.message);
    murr_batch *out;
    cr_assert_eq(murr_read_keys(db, "ss", w, (const char *[]){"v"}, 1, 0, &out, &e), MURR_EINVAL); /* v is extra */
    mr_batch_t *k = mr_batch_new(2, 2);
    put_str(k, 0, "a", a, 2);
    put_str(k, 1, "b", b, 2);
    cr_assert_eq(murr_read_keys(db, "ss", k, (const char *[]){"v"}, 1, 0, &out, &e), 0, "%s", e.message);
    cr_assert_eq(((int32_t *)out->columns[0].values)[0], 1);
    cr_assert_eq(((int32_t *)out->columns[0].values)[1], 2);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "ss", &st, &e), 0);
    cr_assert_eq(st.rows, 2);
    murr_batch_free(out);
    mr_batch_free(k);
    mr_batch_free(w);
}

Test(keys, integer_keys_are_binary_encoded)
{
    int64_t ids[] = {7, -1, 2147483647};
    mr_batch_t *w = mr_batch_new(2, 3);
    put_int(w, 0, "id", MURR_INT32, ids, 3);
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_FLOAT64);
    for (int i = 0; i < 3; i++)
        mr_colbuilder_append_float(&cb, (double)ids[i] / 2);
    mr_colbuilder_finish(&cb, w, 1);
    mr_batch_set_name(w, 1, "v", 1);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "i32", w, &e), 0, "%s", e.message);
    mr_batch_free(w);
    /* the encoded key of an int32 key is its 4 little-endian bytes, not "7" */
    int32_t seven = 7, minus1 = -1;
    const char *k[] = {(const char *)&seven, "7", (const char *)&minus1};
    size_t l[] = {4, 1, 4};
    murr_batch *out;
    cr_assert_eq(murr_read_opt(db, "i32", k, l, 3, (const char *[]){"v"}, 1, MURR_READ_SPARSE, &out, &e), 0, "%s",
                 e.message);
    cr_assert_eq(out->num_rows, 2);
    cr_assert_eq(((uint32_t *)out->columns[0].values)[0], 0);
    cr_assert_eq(((uint32_t *)out->columns[0].values)[1], 2);
    cr_assert_float_eq(((double *)out->columns[1].values)[0], 3.5, 0);
    cr_assert_float_eq(((double *)out->columns[1].values)[1], -0.5, 0);
    murr_batch_free(out);
}

Test(keys, write_refuses_narrowed_or_null_keys_whole)
{
    int64_t ids[] = {1, 2};
    mr_batch_t *w = mr_batch_new(2, 2);
    put_int(w, 0, "id", MURR_INT64, ids, 2);
    put_int(w, 1, "v", MURR_INT64, ids, 2);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "i32", w, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "key column 'id' is int32, got int64") != NULL, "%s", e.message);
    mr_batch_free(w);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "i32", &st, &e), 0);
    cr_assert_eq(st.rows, 0);
}

Test(keys, form3_schema_survives_reopen)
{
    write_ui();
    murr_close(db);
    open_db();
    murr_schema *s;
    murr_error e = {0};
    cr_assert_eq(murr_describe_table(db, "ui", &s, &e), 0, "%s", e.message);
    cr_assert_eq(s->form, MURR_SCHEMA_FORM3);
    cr_assert_eq(s->num_keys, 2);
    char *json = murr_schema_to_json(s);
    cr_assert_str_eq(json, "{\"columns\":{\"user\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true,\"strict\":true},"
                           "\"score\":{\"dtype\":\"float32\",\"nullable\":true,\"key\":false,\"strict\":true},"
                           "\"item\":{\"dtype\":\"int64\",\"nullable\":false,\"key\":true,\"strict\":true}}}");
    murr_free(json);
    murr_schema_free(s);
    const char *users[] = {"u3"};
    int64_t items[] = {-5};
    mr_batch_t *k = ui_keys(users, items, 1, MURR_INT64);
    murr_batch *out;
    cr_assert_eq(murr_read_keys(db, "ui", k, (const char *[]){"score"}, 1, 0, &out, &e), 0, "%s", e.message);
    cr_assert_float_eq(f32_at(&out->columns[0], 0), 3.5f, 0);
    murr_batch_free(out);
    mr_batch_free(k);
}

Test(keys, sparse_read_of_no_columns_lists_the_found_keys)
{
    write_ui();
    const char *users[] = {"u2", "zz", "u1"};
    int64_t items[] = {1, 1, 1};
    mr_batch_t *k = ui_keys(users, items, 3, MURR_INT64);
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read_keys(db, "ui", k, NULL, 0, MURR_READ_SPARSE, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_columns, 1);
    cr_assert_eq(out->num_rows, 2);
    cr_assert_eq(((uint32_t *)out->columns[0].values)[0], 0);
    cr_assert_eq(((uint32_t *)out->columns[0].values)[1], 2);
    murr_batch_free(out);
    cr_assert_eq(murr_read_keys(db, "ui", k, NULL, 0, 0, &out, &e), MURR_EINVAL); /* dense: a column is needed */
    cr_assert(strstr(e.message, "no columns requested") != NULL, "%s", e.message);
    mr_batch_free(k);
}

/* murr_read_encoded: keys encoded by hand for the described schema (utf8 user: LEB128
 * length then bytes; int64 item: 8 bytes little-endian) read the rows; after the table is
 * re-created with another key, the same bytes are refused instead of read as other rows. */
Test(keys, read_encoded_checks_the_key_it_was_encoded_for)
{
    write_ui();
    murr_schema *s;
    murr_error e = {0};
    cr_assert_eq(murr_describe_table(db, "ui", &s, &e), 0, "%s", e.message);
    const char k0[] = {2, 'u', '1', 2, 0, 0, 0, 0, 0, 0, 0};                   /* ("u1", 2) */
    const char k1[] = {2, 'u', '3', (char)0xfb, -1, -1, -1, -1, -1, -1, -1}; /* ("u3", -5) */
    const char *keys[] = {k0, k1};
    size_t lens[] = {sizeof(k0), sizeof(k1)};
    const char *cols[] = {"score"};
    murr_batch *out;
    cr_assert_eq(murr_read_encoded(db, "ui", s, keys, lens, 2, cols, 1, MURR_READ_SPARSE, &out, &e), 0, "%s",
                 e.message);
    cr_assert_eq(out->num_rows, 2);
    cr_assert_float_eq(f32_at(&out->columns[1], 0), 1.5f, 0);
    cr_assert_float_eq(f32_at(&out->columns[1], 1), 3.5f, 0);
    murr_batch_free(out);
    /* re-created with the item key as int32: other widths, other rows for the same bytes */
    cr_assert_eq(murr_drop_table(db, "ui", &e), 0, "%s", e.message);
    create("ui", "{\"columns\":{\"user\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},"
                 "\"score\":{\"dtype\":\"float32\"},"
                 "\"item\":{\"dtype\":\"int32\",\"nullable\":false,\"key\":true}}}");
    cr_assert_eq(murr_read_encoded(db, "ui", s, keys, lens, 2, cols, 1, MURR_READ_SPARSE, &out, &e), MURR_ECONFLICT);
    cr_assert_str_eq(e.message, "Table error: table 'ui' was re-created with another key while the fetch was being "
                                "decoded: retry it");
    /* the same key columns again: read (nothing there yet) */
    cr_assert_eq(murr_drop_table(db, "ui", &e), 0, "%s", e.message);
    create("ui", "{\"columns\":{\"v\":{\"dtype\":\"int8\"},\"user\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},"
                 "\"item\":{\"dtype\":\"int64\",\"nullable\":false,\"key\":true}}}");
    cr_assert_eq(murr_read_encoded(db, "ui", s, keys, lens, 2, (const char *[]){"v"}, 1, MURR_READ_SPARSE, &out, &e), 0,
                 "%s", e.message);
    cr_assert_eq(out->num_rows, 0);
    murr_batch_free(out);
    /* a missing table is still MURR_ENOTFOUND */
    cr_assert_eq(murr_read_encoded(db, "nope", s, keys, lens, 2, cols, 1, 0, &out, &e), MURR_ENOTFOUND);
    /* no schema to compare against is the caller's mistake, named */
    cr_assert_eq(murr_read_encoded(db, "ui", NULL, keys, lens, 2, cols, 1, 0, &out, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "keyed_by") != NULL, "%s", e.message);
    murr_schema_free(s);
}
