/* Recovery of a many-segment log (src/engine/native/recover.c: segments scanned in
 * parallel, the key directory filled by parts that each own a share of the slots):
 *  - overlapping writes across ~10 segment files reopen to exactly the last value of each
 *    key (a model kept by the test), with the same row count and garbage as before;
 *  - a flipped byte in the second half of a middle segment marks the table damaged,
 *    naming that file and the offset of the record that holds the byte (found by the
 *    test's own walk of the record framing, record.h);
 *  - the newest segment cut inside a record in its second half is truncated to the end of
 *    the last intact commit marker before the cut, and only that write disappears.
 * The record framing is read here from the format description (u32 length at byte 4,
 * u16 kind at byte 10), not through the engine's accessors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

#define NKEYS 24370 /* 11 x 2030 + 2040 */
#define NWRITES 12
#define ROWS_PER_WRITE 2040

static char *dir;
static murr_db *db;
static float model[NKEYS]; /* the score each key must have: the last write of it */

static murr_options opts(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.segment_max_bytes = 1 << 16; /* ~2,700 rows per file: writes span rolls */
    return o;
}

static void open_db(void)
{
    murr_options o = opts();
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
}

static void write_batch(mr_batch_t *b)
{
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

/* Write w sets keys k{w * 2030 + i}, i < ROWS_PER_WRITE, to score w: consecutive writes
 * overlap in 10 keys (later writes win), and the 24,480 rows size the directory at 32,768
 * slots, which the 24,370 keys fill to 74%: long probe runs, some across the boundary
 * between the two fill parts' shares and across the table's end (recover.c defers those). */
static void write_all(void)
{
    for (int w = 0; w < NWRITES; w++) {
        const char *keys[ROWS_PER_WRITE];
        float vals[ROWS_PER_WRITE];
        static char store[ROWS_PER_WRITE][16];
        for (int i = 0; i < ROWS_PER_WRITE; i++) {
            int k = w * 2030 + i;
            snprintf(store[i], sizeof(store[i]), "k%d", k);
            keys[i] = store[i];
            vals[i] = (float)w;
            model[k] = (float)w;
        }
        write_batch(tu_batch_id_score(keys, vals, ROWS_PER_WRITE));
    }
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("recover");
    open_db();
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    write_all();
}

static void teardown(void)
{
    if (db)
        murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(recover, .init = setup, .fini = teardown);

/* Reads keys printf(fmt, first + i), i < n: out[i] = score (NaN: absent or null). */
static int read_range(const char *fmt, int first, int n, float *out, murr_error *e)
{
    char (*kb)[16] = calloc((size_t)n, 16);
    const char **keys = calloc((size_t)n, sizeof(char *));
    size_t *lens = calloc((size_t)n, sizeof(size_t));
    for (int i = 0; i < n; i++) {
        snprintf(kb[i], 16, fmt, first + i);
        keys[i] = kb[i];
        lens[i] = strlen(kb[i]);
    }
    const char *cols[] = {"score"};
    murr_batch *b = NULL;
    int rc = murr_read(db, "t", keys, lens, (size_t)n, cols, 1, &b, e);
    for (int i = 0; rc == 0 && i < n; i++)
        out[i] = murr_column_is_valid(&b->columns[0], i) ? ((float *)b->columns[0].values)[i] : NAN;
    if (b)
        murr_batch_free(b);
    free(kb);
    free(keys);
    free(lens);
    return rc;
}

static void assert_model(void)
{
    static float got[NKEYS];
    murr_error e = {0};
    cr_assert_eq(read_range("k%d", 0, NKEYS, got, &e), 0, "%s", e.message);
    for (int k = 0; k < NKEYS; k++)
        cr_assert_eq(got[k], model[k], "key k%d: score %g, the last write of it was %g", k, got[k], model[k]);
}

static void seg_path(int file, char *out, size_t n) { snprintf(out, n, "%s/t/%08d.seg", dir, file); }

static int count_segments(void)
{
    int n = 0;
    char p[512];
    for (struct stat st;; n++) {
        seg_path(n + 1, p, sizeof(p));
        if (stat(p, &st) != 0)
            return n;
    }
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

Test(recover, many_segments_reopen_to_the_last_write_of_every_key)
{
    int nseg = count_segments();
    cr_assert_geq(nseg, 6, "the log must span several files (%d)", nseg);
    assert_model();
    murr_table_stats before, after;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, "t", &before, &e), 0, "%s", e.message);
    cr_assert_eq(before.rows, NKEYS);
    murr_close(db);
    open_db();
    assert_model();
    cr_assert_eq(murr_table_stats_get(db, "t", &after, &e), 0, "%s", e.message);
    cr_assert_eq(after.rows, NKEYS);
    cr_assert_eq(after.segments, (uint64_t)nseg);
    cr_assert_eq(after.live_bytes, before.live_bytes);
    cr_assert_eq(after.garbage_bytes, before.garbage_bytes, "recovery counts superseded records and markers as the "
                 "writer did: %llu vs %llu", (unsigned long long)after.garbage_bytes,
                 (unsigned long long)before.garbage_bytes);
    /* a second reopen finds the same (no abort marker or truncation was needed) */
    murr_close(db);
    open_db();
    assert_model();
}

Test(recover, flipped_byte_in_second_half_of_a_middle_segment_damages_the_table)
{
    murr_close(db);
    db = NULL;
    int nseg = count_segments();
    int victim = nseg / 2; /* neither the first nor the newest file */
    cr_assert(victim > 1 && victim < nseg);
    char p[512];
    seg_path(victim, p, sizeof(p));
    size_t len;
    uint8_t *b = read_file(p, &len);
    size_t target = len * 3 / 4, off = 0;
    while (off + le32(b + off + 4) <= target) /* the record holding byte `target` */
        off += le32(b + off + 4);
    cr_assert_lt(off, len);
    b[off + 12] ^= 0x5a; /* a key byte: covered by the checksum */
    FILE *f = fopen(p, "wb");
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
    open_db();
    float one;
    murr_error e = {0};
    cr_assert_eq(read_range("k%d", 0, 1, &one, &e), MURR_EBUSY, "%s", e.message);
    char want_file[32], want_off[48];
    snprintf(want_file, sizeof(want_file), "%08d.seg", victim);
    snprintf(want_off, sizeof(want_off), "offset %zu:", off);
    cr_assert(strstr(e.message, want_file) && strstr(e.message, want_off), "want %s %s in: %s", want_file, want_off,
              e.message);
}

Test(recover, newest_segment_cut_in_its_second_half_drops_only_the_torn_write)
{
    /* two small writes of new keys: both land in the newest file */
    write_batch(tu_batch_id_range("x%d", 0, 100, 1.0f));
    write_batch(tu_batch_id_range("y%d", 0, 100, 2.0f));
    murr_close(db);
    db = NULL;
    int nseg = count_segments();
    char p[512];
    seg_path(nseg, p, sizeof(p));
    size_t len;
    uint8_t *b = read_file(p, &len);
    /* the commit markers (kind 1) of the newest file, by the test's own walk */
    size_t ends[4096], nends = 0;
    for (size_t off = 0; off < len; off += le32(b + off + 4))
        if (le16(b + off + 10) == 1 && nends < 4096)
            ends[nends++] = off + le32(b + off + 4);
    cr_assert_geq(nends, 2, "both small writes must be in the newest file");
    cr_assert_eq(ends[nends - 1], len, "the file ends with the last write's commit marker");
    size_t keep = ends[nends - 2]; /* the end of the y write's predecessor, the x write */
    /* cut 5 bytes into a row record of the y write, in the second half of the file */
    size_t cut = keep;
    while (cut < len / 2 || cut + le32(b + cut + 4) >= len)
        cut += le32(b + cut + 4);
    cut += 5;
    cr_assert(cut > len / 2 && cut < len, "cut %zu of %zu", cut, len);
    cr_assert_eq(truncate(p, (off_t)cut), 0);
    free(b);
    open_db();
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq((size_t)st.st_size, keep, "truncated to the end of the last intact marker: %lld, want %zu",
                 (long long)st.st_size, keep);
    float got[100];
    murr_error e = {0};
    cr_assert_eq(read_range("x%d", 0, 100, got, &e), 0, "%s", e.message);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(got[i], 1.0f, "x%d", i);
    cr_assert_eq(read_range("y%d", 0, 100, got, &e), 0, "%s", e.message);
    for (int i = 0; i < 100; i++)
        cr_assert(isnan(got[i]), "y%d belongs to the torn write", i);
    assert_model();
}
