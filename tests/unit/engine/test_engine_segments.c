/* Segment files: compaction gives segment slots back. Segment ids used to be never reused
 * and capped at 4,096, so 6,000 write+compact cycles on a 10-row table ended in a
 * permanent 413 ("reached the limit of 4096 segments") that neither compaction nor a
 * restart cleared. Files now keep their log-order numbers (beyond 4,096) and the
 * in-memory slots are reused once a compacted segment is retired. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static murr_db *open_db(const char *dir)
{
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.background_compaction = false;
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    return db;
}

static float read_score(murr_db *db, const char *key)
{
    const char *k[] = {key};
    size_t l[] = {strlen(key)};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read(db, "t", k, l, 1, cols, 1, &out, &e), 0, "%s", e.message);
    float v = murr_column_is_valid(&out->columns[0], 0) ? ((float *)out->columns[0].values)[0] : -1.0f;
    murr_batch_free(out);
    return v;
}

/* the largest segment file number in the table's directory */
static unsigned long long max_file(const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/t", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    unsigned long long m = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".seg")) {
            unsigned long long v = strtoull(de->d_name, NULL, 10);
            m = v > m ? v : m;
        }
    closedir(d);
    return m;
}

Test(segments, six_thousand_write_compact_cycles_then_restart, .timeout = 300)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("segcycles");
    murr_db *db = open_db(dir);
    murr_error e = {0};
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    for (int i = 0; i < 6000; i++) {
        mr_batch_t *b = tu_batch_id_range("k%d", 0, 10, (float)i);
        cr_assert_eq(murr_write(db, "t", b, &e), 0, "cycle %d: write: %s", i, e.message);
        murr_batch_free(b);
        cr_assert_eq(murr_compact(db, "t", &e), 0, "cycle %d: compact: %s", i, e.message);
    }
    cr_assert_float_eq(read_score(db, "k3"), 5999.0f, 0);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0);
    cr_assert_leq(st.segments, 3, "live segments after compaction: %llu", (unsigned long long)st.segments);
    cr_assert_gt(max_file(dir), 4096, "file numbers go on past 4,096 (last %llu)", max_file(dir));
    murr_close(db);
    /* restart: the files (numbered past 4,096) are recovered in log order */
    db = open_db(dir);
    cr_assert_float_eq(read_score(db, "k3"), 5999.0f, 0);
    mr_batch_t *b = tu_batch_id_range("k%d", 0, 10, 7.0f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "after restart: %s", e.message);
    murr_batch_free(b);
    cr_assert_eq(murr_compact(db, "t", &e), 0, "%s", e.message);
    cr_assert_float_eq(read_score(db, "k9"), 7.0f, 0);
    murr_close(db);
    db = open_db(dir);
    cr_assert_float_eq(read_score(db, "k9"), 7.0f, 0);
    murr_close(db);
    mr_schema_free(s);
    tu_rmtree(dir);
    free(dir);
}

/* A write that spans segment files has its commit marker in the later one. Compaction
 * used to retire that later file (all its own rows overwritten) while the earlier file,
 * with the write's first rows still live, stayed: after a restart recovery found those
 * rows without their marker and dropped them (acknowledged rows lost). The earlier file is
 * now compacted with it. */
Test(segments, compaction_keeps_rows_whose_marker_was_in_a_compacted_file)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("segspan");
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.segment_max_bytes = 1 << 16; /* 64 KiB: one batch of 2,000 rows (48 KB) per file */
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    murr_writer *w;
    cr_assert_eq(murr_write_begin(db, "t", &w, &e), 0, "%s", e.message);
    mr_batch_t *a = tu_batch_id_range("a%06d", 0, 2000, 1.0f), *b = tu_batch_id_range("b%06d", 0, 2000, 2.0f);
    cr_assert_eq(murr_writer_append(w, a, &e), 0, "%s", e.message); /* file 1 */
    cr_assert_eq(murr_writer_append(w, b, &e), 0, "%s", e.message); /* file 2, with the marker */
    cr_assert_eq(murr_writer_commit(w, &e), 0, "%s", e.message);
    mr_batch_t *b2 = tu_batch_id_range("b%06d", 0, 2000, 3.0f);
    cr_assert_eq(murr_write(db, "t", b2, &e), 0, "%s", e.message); /* file 2 now all garbage */
    cr_assert_eq(murr_compact(db, "t", &e), 0, "%s", e.message);
    murr_close(db);
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, 4000, "rows after compaction and restart: %llu (the first file's rows lost their marker)",
                 (unsigned long long)st.rows);
    float v;
    const char *k[] = {"a000123"};
    size_t l[] = {7};
    const char *cols[] = {"score"};
    murr_batch *out;
    cr_assert_eq(murr_read(db, "t", k, l, 1, cols, 1, &out, &e), 0, "%s", e.message);
    cr_assert(murr_column_is_valid(&out->columns[0], 0), "a000123 lost");
    v = ((float *)out->columns[0].values)[0];
    cr_assert_float_eq(v, 1.0f, 0);
    murr_batch_free(out);
    murr_close(db);
    mr_batch_free(a);
    mr_batch_free(b);
    mr_batch_free(b2);
    mr_schema_free(s);
    tu_rmtree(dir);
    free(dir);
}
