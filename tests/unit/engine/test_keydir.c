/* The key directory's 8-byte slots (keydir.h, decision 0013):
 *  - packing: the largest segment index and offset round-trip next to an all-ones tag, the
 *    smallest next to a zero tag, and locations past the limits do not fit;
 *  - limits refused: storage.segment_max_bytes past the 32 GiB reach at murr_open, and a
 *    segment file past the reach at table open (a sparse file; recovery must not truncate it);
 *  - tag collisions: two keys whose hashes agree on the tag and on the low 20 bits (the same
 *    home slot in any directory up to 2^20 slots, found by a birthday search over
 *    "tag%07d") each get their own row, through reads, overwrites, growth, compaction and a
 *    restart. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/schema.h"
#include "engine/native/native.h"
#include "test_util.h"

/* Options of these tests: no background compaction, no fsync, segments of seg_max bytes. */
static murr_options kd_opts(uint64_t seg_max)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.sync_writes = false;
    o.segment_max_bytes = seg_max;
    return o;
}

/* Opens dir and creates table t (id utf8 -> score float32). */
static murr_db *open_with_table(const char *dir, const murr_options *o)
{
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    return db;
}

Test(keydir, slot_packing_limits)
{
    uint64_t big = MR_LOC_MAKE(MR_KD_MAX_SEGMENT, MR_KD_SEG_REACH - 8);
    cr_assert_eq(MR_KD_MAX_SEGMENT, 4095u);
    cr_assert_eq(MR_KD_SEG_REACH, 32ull << 30);
    cr_assert(mr_kd_loc_fits(big));
    uint64_t w = mr_kd_word(UINT64_MAX, big);
    cr_assert_eq(w, UINT64_MAX, "every bit of the word is used: %016llx", (unsigned long long)w);
    cr_assert_eq(mr_kd_word_loc(w), big);
    cr_assert_eq(MR_LOC_SEG(mr_kd_word_loc(w)), 4095u);
    cr_assert_eq(MR_LOC_OFF(mr_kd_word_loc(w)), (32ull << 30) - 8);
    cr_assert(mr_kd_word_tag_eq(w, 0xFFFFF00000000000ull));
    cr_assert(!mr_kd_word_tag_eq(w, 0xFFFFE00000000000ull | 0xFFFFFFFFFFFull), "tag bit 44 differs");

    uint64_t small = MR_LOC_MAKE(1, 0);
    uint64_t w0 = mr_kd_word(0x00000FFFFFFFFFFFull, small); /* low hash bits never reach the word */
    cr_assert_eq(w0, 1ull << 32);
    cr_assert_neq(w0, 0, "an occupied slot is never empty, whatever its tag");
    cr_assert_eq(mr_kd_word_loc(w0), small);
    cr_assert(mr_kd_word_tag_eq(w0, 0x00000ABCDEF12345ull));

    /* a mid-range location keeps tag, segment and offset apart */
    uint64_t mid = MR_LOC_MAKE(2049, 0x123456788ull);
    uint64_t wm = mr_kd_word(0xABCDE12345678901ull, mid);
    cr_assert_eq(wm >> 44, 0xABCDEu);
    cr_assert_eq(mr_kd_word_loc(wm), mid);

    cr_assert(!mr_kd_loc_fits(MR_LOC_MAKE(0, 0)), "segment index 0 is no segment");
    cr_assert(!mr_kd_loc_fits(MR_LOC_MAKE(MR_KD_MAX_SEGMENT + 1, 0)));
    cr_assert(!mr_kd_loc_fits(MR_LOC_MAKE(1, MR_KD_SEG_REACH)));
    cr_assert(!mr_kd_loc_fits(MR_LOC_MAKE(1, 12)), "records are 8-aligned");
    cr_assert(mr_kd_loc_fits(MR_LOC_MAKE(1, MR_KD_SEG_REACH - 8)));
    cr_assert_leq(MR_TABLE_MAX_SEGMENTS - 1, MR_KD_MAX_SEGMENT);
}

Test(keydir, segment_max_bytes_past_the_reach_refused)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("kd-opts");
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/db", dir);
    murr_options o = kd_opts(MR_KD_SEG_REACH + 8);
    murr_db *db = NULL;
    murr_error e = {0};
    cr_assert_eq(murr_open(sub, &o, &db, &e), MURR_EINVAL);
    cr_assert_null(db);
    cr_assert(strstr(e.message, "storage.segment_max_bytes 34359738376") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "limit of 34359738368 bytes") != NULL, "%s", e.message);
    struct stat st;
    cr_assert_neq(stat(sub, &st), 0, "a refused open creates no directory");

    o.segment_max_bytes = MR_KD_SEG_REACH; /* the limit itself is fine */
    cr_assert_eq(murr_open(sub, &o, &db, &e), 0, "%s", e.message);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

Test(keydir, segment_past_the_reach_refused_at_open)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("kd-reach");
    murr_options o = kd_opts(256ull << 20);
    murr_db *db = open_with_table(dir, &o);
    murr_error e = {0};
    mr_batch_t *b = tu_batch_id_range("k%d", 0, 10, 1.5f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    murr_close(db);

    /* a segment of another build, longer than a slot can address (sparse: no disk used) */
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/t/00000001.seg", dir);
    int fd = open(seg, O_RDWR);
    cr_assert_geq(fd, 0);
    off_t len = (off_t)MR_KD_SEG_REACH + 8;
    cr_assert_eq(ftruncate(fd, len), 0);
    close(fd);

    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    const char *k[] = {"k1"};
    size_t kl[] = {2};
    const char *cols[] = {"score"};
    murr_batch *out = NULL;
    cr_assert_eq(murr_read(db, "t", k, kl, 1, cols, 1, &out, &e), MURR_EBUSY, "the table must not serve");
    cr_assert(strstr(e.message, "has 34359738376 bytes, more than the 34359738368 a key directory slot addresses") !=
                  NULL, "%s", e.message);
    murr_close(db);
    struct stat st;
    cr_assert_eq(stat(seg, &st), 0);
    cr_assert_eq(st.st_size, len, "the refused segment is left as it was (no truncation)");
    tu_rmtree(dir);
    free(dir);
}

/* ---- tag collisions ---- */

#define KEY_A "tag1016814"
#define KEY_B "tag2136273"

static murr_db *g_db;

static float read_one(const char *key, bool *found)
{
    const char *k[] = {key};
    size_t kl[] = {strlen(key)};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read(g_db, "t", k, kl, 1, cols, 1, &out, &e), 0, "%s", e.message);
    *found = murr_column_is_valid(&out->columns[0], 0);
    float v = *found ? ((float *)out->columns[0].values)[0] : 0;
    murr_batch_free(out);
    return v;
}

static void expect(const char *key, bool present, float v)
{
    bool found;
    float got = read_one(key, &found);
    cr_assert_eq(found, present, "key %s: expected %s", key, present ? "present" : "missing");
    if (present)
        cr_assert_eq(got, v, "key %s: expected %g, got %g", key, (double)v, (double)got);
}

static void put(const char *key, float v)
{
    const char *k[] = {key};
    float sc[] = {v};
    mr_batch_t *b = tu_batch_id_score(k, sc, 1);
    murr_error e = {0};
    cr_assert_eq(murr_write(g_db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

Test(keydir, tag_collision_keeps_rows_apart)
{
    uint64_t ha = mr_kd_fix_hash(mr_hash64(KEY_A, strlen(KEY_A)));
    uint64_t hb = mr_kd_fix_hash(mr_hash64(KEY_B, strlen(KEY_B)));
    /* the premise: same tag, same home slot up to 2^20 slots, different keys */
    cr_assert(mr_kd_word_tag_eq(mr_kd_word(ha, MR_LOC_MAKE(1, 0)), hb), "%016llx %016llx", (unsigned long long)ha,
              (unsigned long long)hb);
    cr_assert_eq(ha & 0xFFFFF, hb & 0xFFFFF);
    cr_assert_neq(ha, hb);

    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("kd-tag");
    murr_options o = kd_opts(1 << 16);
    g_db = open_with_table(dir, &o);
    murr_error e = {0};

    put(KEY_A, 1.0f);
    expect(KEY_A, true, 1.0f);
    expect(KEY_B, false, 0); /* the probe meets A's slot with B's tag: the key compare rejects it */
    put(KEY_B, 2.0f);        /* the writer's find must not take A's slot for B's */
    expect(KEY_A, true, 1.0f);
    expect(KEY_B, true, 2.0f);
    put(KEY_A, 3.0f);
    expect(KEY_A, true, 3.0f);
    expect(KEY_B, true, 2.0f);
    put(KEY_B, 4.0f);
    expect(KEY_A, true, 3.0f);
    expect(KEY_B, true, 4.0f);

    /* growth (1,024 slots -> 4,096) re-hashes both from their records */
    mr_batch_t *b = tu_batch_id_range("g%d", 0, 3000, 7.0f);
    cr_assert_eq(murr_write(g_db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    expect(KEY_A, true, 3.0f);
    expect(KEY_B, true, 4.0f);
    expect("g2999", true, 7.0f);

    /* compaction re-points both (compare-and-swap of the whole word) */
    put(KEY_A, 5.0f);
    cr_assert_eq(murr_compact(g_db, "t", &e), 0, "%s", e.message);
    expect(KEY_A, true, 5.0f);
    expect(KEY_B, true, 4.0f);
    expect("g0", true, 7.0f);

    /* recovery rebuilds the directory from the log */
    murr_close(g_db);
    cr_assert_eq(murr_open(dir, &o, &g_db, &e), 0, "%s", e.message);
    expect(KEY_A, true, 5.0f);
    expect(KEY_B, true, 4.0f);
    expect("g1234", true, 7.0f);
    murr_close(g_db);
    tu_rmtree(dir);
    free(dir);
}
