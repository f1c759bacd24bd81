/* The bulk write path (write.c, encode.c, mr_kd_put_many): a write larger than the encode
 * chunk, with a row larger than the chunk, nulls, variable-width values and duplicate keys
 * both closer together and further apart than the publish pipeline's window, reads back
 * row for row (the last duplicate wins) before and after a reopen (recovery checks every
 * record's crc32c); and a write published into a table that already has rows (with an undo
 * map) replaces exactly the keys it names. Expected values come from the generating loop. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static char *dir;
static murr_db *db;

#define NROWS 120000
#define NKEYS 100000
#define BIG_ROW 7      /* this row's name is larger than the 512 KiB encode chunk */
#define BIG_LEN (700 * 1024)

static void open_db(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("ingest");
    open_db();
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", "name:utf8?", NULL);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
}

static void teardown(void)
{
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(ingest, .init = setup, .fini = teardown);

/* Row i's key: i % NKEYS (so rows NKEYS.. repeat keys 0.., 100,000 rows apart), except that
 * every row with i % 1000 == 3 repeats the key of row i - 2 (2 rows apart). */
static int key_of(int i) { return i % 1000 == 3 ? (i - 2) % NKEYS : i % NKEYS; }
static bool score_null(int i) { return i % 13 == 0; }
static size_t name_len(int i) { return i == BIG_ROW ? BIG_LEN : (size_t)(i % 50); }
static bool name_null(int i) { return i % 17 == 0; }
static char name_char(int i) { return (char)('a' + i % 26); }

static mr_batch_t *make_rows(int first, int n, float add)
{
    mr_batch_t *b = mr_batch_new(3, n);
    mr_colbuilder_t k, s, nm;
    mr_colbuilder_init(&k, MURR_UTF8);
    mr_colbuilder_init(&s, MURR_FLOAT32);
    mr_colbuilder_init(&nm, MURR_UTF8);
    char *buf = malloc(BIG_LEN);
    for (int i = first; i < first + n; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%06d", key_of(i));
        mr_colbuilder_append_str(&k, key, (size_t)kl);
        if (score_null(i))
            mr_colbuilder_append_null(&s);
        else
            mr_colbuilder_append_float(&s, (float)i + add);
        if (name_null(i)) {
            mr_colbuilder_append_null(&nm);
        } else {
            memset(buf, name_char(i), name_len(i));
            mr_colbuilder_append_str(&nm, buf, name_len(i));
        }
    }
    free(buf);
    mr_batch_set_name(b, 0, "id", 2);
    mr_batch_set_name(b, 1, "score", 5);
    mr_batch_set_name(b, 2, "name", 4);
    mr_colbuilder_finish(&k, b, 0);
    mr_colbuilder_finish(&s, b, 1);
    mr_colbuilder_finish(&nm, b, 2);
    return b;
}

static uint64_t written(const int *last)
{
    uint64_t n = 0;
    for (int k = 0; k < NKEYS; k++)
        n += last[k] >= 0;
    return n;
}

/* Checks every key in [0, NKEYS) against last[key] (the row that wrote it last, -1: none)
 * with the score offset add. */
static void check_all(const int *last, const float *add)
{
    const char *cols[] = {"score", "name"};
    enum { CHUNK = 1000 };
    char store[CHUNK][16];
    const char *keys[CHUNK];
    size_t lens[CHUNK];
    for (int base = 0; base < NKEYS; base += CHUNK) {
        for (int j = 0; j < CHUNK; j++) {
            lens[j] = (size_t)snprintf(store[j], 16, "k%06d", base + j);
            keys[j] = store[j];
        }
        murr_batch *out;
        murr_error e = {0};
        cr_assert_eq(murr_read(db, "t", keys, lens, CHUNK, cols, 2, &out, &e), 0, "%s", e.message);
        for (int j = 0; j < CHUNK; j++) {
            int i = last[base + j];
            const murr_column *sc = &out->columns[0], *nc = &out->columns[1];
            if (i < 0) {
                cr_assert(!murr_column_is_valid(sc, j) && !murr_column_is_valid(nc, j), "key %d was never written",
                          base + j);
                continue;
            }
            cr_assert_eq(murr_column_is_valid(sc, j), !score_null(i), "key %d (row %d): score validity", base + j, i);
            if (!score_null(i))
                cr_assert_eq(((const float *)sc->values)[j], (float)i + add[i], "key %d (row %d): score %g, want %g",
                             base + j, i, (double)((const float *)sc->values)[j], (double)((float)i + add[i]));
            cr_assert_eq(murr_column_is_valid(nc, j), !name_null(i), "key %d (row %d): name validity", base + j, i);
            if (!name_null(i)) {
                size_t l;
                const uint8_t *v = mr_column_str(nc, j, &l);
                cr_assert_eq(l, name_len(i), "key %d (row %d): name of %zu bytes, want %zu", base + j, i, l,
                             name_len(i));
                for (size_t x = 0; x < l; x += 997)
                    cr_assert_eq(v[x], (uint8_t)name_char(i), "key %d (row %d): name byte %zu", base + j, i, x);
                if (l)
                    cr_assert_eq(v[l - 1], (uint8_t)name_char(i));
            }
        }
        murr_batch_free(out);
    }
}

Test(ingest, big_write_reads_back_row_for_row_and_the_last_duplicate_wins)
{
    static int last[NKEYS];
    static float add[NROWS];
    for (int k = 0; k < NKEYS; k++)
        last[k] = -1;
    for (int i = 0; i < NROWS; i++)
        last[key_of(i)] = i; /* in row order: the last duplicate wins */
    mr_batch_t *b = make_rows(0, NROWS, 0.0f);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(written(last), NKEYS - NKEYS / 1000); /* keys i % 1000 == 3 are never written */
    cr_assert_eq(st.rows, written(last), "rows %llu", (unsigned long long)st.rows);
    check_all(last, add);
    murr_close(db);
    open_db();
    check_all(last, add);
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, written(last), "rows %llu after reopen", (unsigned long long)st.rows);
}

Test(ingest, second_write_over_existing_rows_replaces_only_its_keys)
{
    static int last[NKEYS];
    static float add[NROWS];
    for (int k = 0; k < NKEYS; k++)
        last[k] = -1;
    /* first: rows 0..59,999 (keys 0..59,999, with the near duplicates) */
    for (int i = 0; i < 60000; i++)
        last[key_of(i)] = i;
    mr_batch_t *b = make_rows(0, 60000, 0.0f);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    /* then rows 40,000..99,999 with scores + 0.5: keys 40,000.. are replaced or new */
    for (int i = 40000; i < NKEYS; i++) {
        last[key_of(i)] = i;
        add[i] = 0.5f;
    }
    b = make_rows(40000, NKEYS - 40000, 0.5f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    check_all(last, add);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, written(last), "rows %llu", (unsigned long long)st.rows);
}
