/* Engine tests through the public API (murr.h): the reference's storage semantics,
 * persistence, errors, compaction, drop, crash recovery. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static char *dir;
static murr_db *db;

static murr_options test_opts(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.segment_max_bytes = 1 << 16;
    return o;
}

static void open_db(void)
{
    murr_options o = test_opts();
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("engine");
    open_db();
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, "features", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
}

static void teardown(void)
{
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void write_scores(const char *const *keys, const float *scores, int n)
{
    mr_batch_t *b = tu_batch_id_score(keys, scores, n);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "features", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

/* Reads `score` for keys; NaN marks null. */
static void read_scores(const char *const *keys, int n, float *out)
{
    size_t lens[64];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(keys[i]);
    const char *cols[] = {"score"};
    murr_batch *b;
    murr_error e = {0};
    cr_assert_eq(murr_read(db, "features", keys, lens, (size_t)n, cols, 1, &b, &e), 0, "%s", e.message);
    cr_assert_eq(b->num_rows, n);
    cr_assert_eq(b->num_columns, 1);
    cr_assert_str_eq(b->columns[0].name, "score");
    for (int i = 0; i < n; i++)
        out[i] = murr_column_is_valid(&b->columns[0], i) ? ((float *)b->columns[0].values)[i] : NAN;
    murr_batch_free(b);
}

TestSuite(engine, .init = setup, .fini = teardown);

Test(engine, round_trip_order_missing_duplicates)
{
    const char *k[] = {"a", "b", "c"};
    float v[] = {1.0f, NAN, 3.0f};
    write_scores(k, v, 3);
    const char *q[] = {"c", "a", "zzz", "b", "a"};
    float out[5];
    read_scores(q, 5, out);
    cr_assert_eq(out[0], 3.0f);
    cr_assert_eq(out[1], 1.0f);
    cr_assert(isnan(out[2]));
    cr_assert(isnan(out[3]));
    cr_assert_eq(out[4], 1.0f);
}

Test(engine, last_duplicate_wins_and_writes_accumulate)
{
    const char *k[] = {"a", "b", "a"};
    float v[] = {1.0f, 2.0f, 9.0f};
    write_scores(k, v, 3);
    const char *k2[] = {"c"};
    float v2[] = {3.0f};
    write_scores(k2, v2, 1);
    const char *q[] = {"a", "b", "c"};
    float out[3];
    read_scores(q, 3, out);
    cr_assert_eq(out[0], 9.0f);
    cr_assert_eq(out[1], 2.0f);
    cr_assert_eq(out[2], 3.0f);
    murr_table_stats st;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, "features", &st, &e), 0);
    cr_assert_eq(st.rows, 3);
    cr_assert_eq(st.writes, 2);
    cr_assert_gt(st.garbage_bytes, 0);
}

Test(engine, read_errors_name_the_column)
{
    const char *q[] = {"a"};
    size_t l[] = {1};
    murr_batch *b = NULL;
    murr_error e = {0};
    const char *key_col[] = {"id"};
    cr_assert_eq(murr_read(db, "features", q, l, 1, key_col, 1, &b, &e), MURR_EINVAL);
    cr_assert_str_eq(e.message, "Segment error: column 'id' not found");
    const char *nope[] = {"nope"};
    cr_assert_eq(murr_read(db, "features", q, l, 1, nope, 1, &b, &e), MURR_EINVAL);
    cr_assert_str_eq(e.message, "Segment error: column 'nope' not found");
    cr_assert_eq(murr_read(db, "features", q, l, 1, nope, 0, &b, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "no columns requested"), "%s", e.message);
    const char *score[] = {"score"};
    cr_assert_eq(murr_read(db, "missing", q, l, 1, score, 1, &b, &e), MURR_ENOTFOUND);
    cr_assert_str_eq(e.message, "table not found: missing");
    cr_assert_eq(murr_read(db, "features", q, l, 0, score, 1, &b, &e), 0);
    cr_assert_eq(b->num_rows, 0);
    murr_batch_free(b);
}

Test(engine, write_validation_refuses_whole_batch)
{
    murr_error e = {0};
    const char *k[] = {"a", NULL};
    float v[] = {1.0f, 2.0f};
    mr_batch_t *b = tu_batch_id_score(k, v, 2);
    cr_assert_eq(murr_write(db, "features", b, &e), MURR_EINVAL);
    cr_assert_str_eq(e.message, "Segment error: null in key column 'id' at row 1");
    mr_batch_free(b);
    /* nothing was written */
    const char *q[] = {"a"};
    float out[1];
    read_scores(q, 1, out);
    cr_assert(isnan(out[0]));
    /* missing column */
    mr_batch_t *only_id = mr_batch_new(1, 1);
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_UTF8);
    mr_colbuilder_append_str(&cb, "x", 1);
    mr_batch_set_name(only_id, 0, "id", 2);
    mr_colbuilder_finish(&cb, only_id, 0);
    cr_assert_eq(murr_write(db, "features", only_id, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "missing column 'score'"), "%s", e.message);
    mr_batch_free(only_id);
    /* float64 into float32 (strict): refused naming the cast */
    mr_batch_t *f64 = mr_batch_new(2, 1);
    mr_colbuilder_t kb, fb;
    mr_colbuilder_init(&kb, MURR_UTF8);
    mr_colbuilder_init(&fb, MURR_FLOAT64);
    mr_colbuilder_append_str(&kb, "x", 1);
    mr_colbuilder_append_float(&fb, 0.5);
    mr_batch_set_name(f64, 0, "id", 2);
    mr_batch_set_name(f64, 1, "score", 5);
    mr_colbuilder_finish(&kb, f64, 0);
    mr_colbuilder_finish(&fb, f64, 1);
    cr_assert_eq(murr_write(db, "features", f64, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "column 'score': expected float32, got float64"), "%s", e.message);
    mr_batch_free(f64);
    cr_assert_eq(murr_write(db, "nope", only_id ? NULL : NULL, &e), MURR_ENOTFOUND);
}

Test(engine, create_duplicate_and_bad_names)
{
    murr_error e = {0};
    mr_schema_t *s = mr_schema_make("id", "id:utf8", NULL);
    cr_assert_eq(murr_create_table(db, "features", s, &e), MURR_EEXIST);
    cr_assert_str_eq(e.message, "table already exists: features");
    cr_assert_eq(murr_create_table(db, "../etc", s, &e), MURR_EINVAL);
    cr_assert_eq(murr_create_table(db, ".hidden", s, &e), MURR_EINVAL);
    mr_schema_free(s);
    mr_schema_t *bad = mr_schema_make("id", "id:int64", NULL);
    cr_assert_eq(murr_create_table(db, "t2", bad, &e), MURR_EINVAL);
    mr_schema_free(bad);
    char **names;
    size_t n;
    cr_assert_eq(murr_list_tables(db, &names, &n, &e), 0);
    cr_assert_eq(n, 1, "a refused schema must not poison or register the name");
    murr_names_free(names, n);
}

Test(engine, reopen_persists_schema_and_data)
{
    const char *k[] = {"a", "b", "c"};
    float v[] = {1.0f, 2.0f, 3.0f};
    write_scores(k, v, 3);
    mr_schema_t *s2 = mr_schema_make("sku", "price:float64", "sku:utf8", NULL);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, "empty", s2, &e), 0);
    mr_schema_free(s2);
    murr_close(db);
    open_db();
    const char *q[] = {"c", "a"};
    float out[2];
    read_scores(q, 2, out);
    cr_assert_eq(out[0], 3.0f);
    cr_assert_eq(out[1], 1.0f);
    murr_schema *s;
    cr_assert_eq(murr_describe_table(db, "empty", &s, &e), 0);
    cr_assert_eq(s->key_index, 1);
    cr_assert_str_eq(s->columns[0].name, "price");
    murr_schema_free(s);
    const char *cols[] = {"price"};
    size_t l = 1;
    const char *kk[] = {"x"};
    murr_batch *b;
    cr_assert_eq(murr_read(db, "empty", kk, &l, 1, cols, 1, &b, &e), 0);
    cr_assert_eq(b->columns[0].null_count, 1);
    murr_batch_free(b);
}

Test(engine, compact_keeps_live_rows_and_frees_garbage)
{
    char key[32];
    for (int round = 0; round < 5; round++) {
        const char *keys[50];
        float vals[50];
        char store[50][32];
        for (int i = 0; i < 50; i++) {
            snprintf(store[i], 32, "k%d", i);
            keys[i] = store[i];
            vals[i] = (float)(round * 100 + i);
        }
        for (int rep = 0; rep < 30; rep++)
            write_scores(keys, vals, 50);
    }
    murr_table_stats before, after;
    murr_error e = {0};
    murr_table_stats_get(db, "features", &before, &e);
    cr_assert_gt(before.segments, 1);
    cr_assert_eq(murr_compact(db, "features", &e), 0, "%s", e.message);
    murr_table_stats_get(db, "features", &after, &e);
    cr_assert_lt(after.garbage_bytes + after.live_bytes, before.garbage_bytes + before.live_bytes);
    cr_assert_eq(after.rows, 50);
    cr_assert_eq(after.compactions, 1);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        const char *q[] = {key};
        float out[1];
        read_scores(q, 1, out);
        cr_assert_eq(out[0], (float)(400 + i));
    }
    murr_close(db);
    open_db();
    const char *q[] = {"k7"};
    float out[1];
    read_scores(q, 1, out);
    cr_assert_eq(out[0], 407.0f);
    cr_assert_eq(murr_compact(db, "nope", &e), MURR_ENOTFOUND);
}

Test(engine, drop_removes_files_and_name_is_reusable)
{
    const char *k[] = {"a"};
    float v[] = {1.0f};
    write_scores(k, v, 1);
    murr_error e = {0};
    cr_assert_eq(murr_drop_table(db, "features", &e), 0);
    cr_assert_eq(murr_drop_table(db, "features", &e), MURR_ENOTFOUND);
    char path[512];
    snprintf(path, sizeof(path), "%s/features", dir);
    murr_close(db); /* drains retired tables */
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "table directory must be gone");
    open_db();
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "features", s, &e), 0);
    mr_schema_free(s);
    const char *q[] = {"a"};
    float out[1];
    read_scores(q, 1, out);
    cr_assert(isnan(out[0]), "old rows must not resurface");
}

/* Truncating the newest segment at every byte offset leaves exactly the committed batches. */
Test(engine, crash_truncation_keeps_only_committed_batches)
{
    const char *k1[] = {"a", "b"};
    float v1[] = {1.0f, 2.0f};
    write_scores(k1, v1, 2);
    char seg[512];
    snprintf(seg, sizeof(seg), "%s/features/00000001.seg", dir);
    struct stat st;
    cr_assert_eq(stat(seg, &st), 0);
    off_t first_end = st.st_size;
    const char *k2[] = {"b", "c"};
    float v2[] = {20.0f, 30.0f};
    write_scores(k2, v2, 2);
    cr_assert_eq(stat(seg, &st), 0);
    off_t full = st.st_size;
    murr_close(db);
    /* keep a copy of the full file */
    FILE *f = fopen(seg, "rb");
    unsigned char *copy = malloc((size_t)full);
    cr_assert_eq(fread(copy, 1, (size_t)full, f), (size_t)full);
    fclose(f);
    for (off_t cut = 0; cut <= full; cut++) {
        f = fopen(seg, "wb");
        fwrite(copy, 1, (size_t)cut, f);
        fclose(f);
        open_db();
        const char *q[] = {"a", "b", "c"};
        float out[3];
        read_scores(q, 3, out);
        if (cut < first_end) {
            cr_assert(isnan(out[0]) && isnan(out[1]) && isnan(out[2]), "cut %lld", (long long)cut);
        } else if (cut < full) {
            cr_assert(out[0] == 1.0f && out[1] == 2.0f && isnan(out[2]), "cut %lld", (long long)cut);
        } else {
            cr_assert(out[0] == 1.0f && out[1] == 20.0f && out[2] == 30.0f, "cut %lld", (long long)cut);
        }
        murr_close(db);
    }
    /* a flipped byte inside a sealed, older segment: the table refuses, nothing crashes */
    f = fopen(seg, "wb");
    fwrite(copy, 1, (size_t)full, f);
    fclose(f);
    char seg2[512];
    snprintf(seg2, sizeof(seg2), "%s/features/00000002.seg", dir);
    f = fopen(seg2, "wb");
    fclose(f);
    f = fopen(seg, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(copy[20] ^ 0x5a, f);
    fclose(f);
    open_db();
    const char *q[] = {"a"};
    size_t l = 1;
    const char *cols[] = {"score"};
    murr_batch *b;
    murr_error e = {0};
    cr_assert_eq(murr_read(db, "features", q, &l, 1, cols, 1, &b, &e), MURR_EBUSY);
    cr_assert(strstr(e.message, "00000001.seg") && strstr(e.message, "offset 0"), "%s", e.message);
    free(copy);
}
