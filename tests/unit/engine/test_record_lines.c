/* Cache-line placement of records (record.h, decision 0015), checked on the segment files:
 *  - a row record of at most 64 bytes lies within one 64-byte line: 57-64 byte records in
 *    a row need no padding, a 56-byte one before another small record takes 8 bytes
 *    (MR_REC_LINE_PAD_MAX), and no record carries more padding than that;
 *  - every commit marker ends on a line, so every write starts on one; records longer than
 *    a line (72 bytes here) are written as before;
 *  - the grown lengths read back, survive recovery (reopen) and compaction (which places
 *    the copies by the same rule), and an old-style segment (32-byte markers, records
 *    straddling lines) still opens and serves.
 * Key lengths pick the sizes: a row of table t is 12 (header) + key + 2 (validity bitmap) +
 * 40 (10 float32) bytes, padded to 8: keys of 1-2 bytes give 56, 3-10 give 64, 11-15 give 72. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/native/record.h"
#include "murr.h"
#include "test_util.h"

enum { NCOLS = 10 };

typedef struct scan {
    int rows, markers, small_rows, straddling, padded_rows;
} scan_t;

/* The size a row with a key of klen bytes has before any placement padding. */
static uint32_t natural_len(uint32_t klen) { return (uint32_t)((12 + klen + 2 + 4 * NCOLS + 7) & ~7u); }

/* Reads a whole file (NULL if absent). */
static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    uint8_t *p = malloc((size_t)st.st_size + 1);
    cr_assert_eq(read(fd, p, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

/* Walks segment file `seg` checking the placement rule on every record. */
static scan_t scan_segment(const char *seg)
{
    size_t size;
    uint8_t *p = slurp(seg, &size);
    cr_assert_not_null(p, "no segment %s", seg);
    scan_t s = {0};
    for (size_t off = 0; off < size;) {
        cr_assert_null(mr_rec_check(p + off, size - off), "%s: record at %zu: %s", seg, off, mr_rec_check(p + off, size - off));
        uint32_t len = mr_rec_len(p + off);
        if (mr_rec_is_marker(mr_rec_kind(p + off))) {
            cr_assert_eq((off + len) % 64, 0, "%s: the marker at %zu (%u bytes) ends off a line", seg, off, len);
            cr_assert_geq(len, 32);
            s.markers++;
        } else {
            uint32_t nat = natural_len(mr_rec_key_len(p + off));
            cr_assert_geq(len, nat);
            cr_assert_leq(len - nat, 8, "%s: row at %zu carries %u bytes of padding", seg, off, len - nat);
            if (len <= 64) {
                /* it may straddle only where the rule refused: more than 8 bytes to the next line */
                if (off % 64 + len > 64) {
                    cr_assert_gt(64 - off % 64, 8, "%s: a %u-byte row at %zu straddles two lines", seg, len, off);
                    s.straddling++;
                }
                s.small_rows++;
            }
            s.padded_rows += len > nat;
            s.rows++;
        }
        off += len;
    }
    free(p);
    return s;
}

static murr_options opts(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.sync_writes = false;
    return o;
}

static void write_keys(murr_db *db, const char *fmt, int first, int n, float v)
{
    murr_error e = {0};
    mr_batch_t *b = tu_batch_id_cols(fmt, first, n, NCOLS, v);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

/* Every key printf(fmt, first + i) reads back with all NCOLS values v. */
static void check_keys(murr_db *db, const char *fmt, int first, int n, float v)
{
    char *kb = malloc((size_t)n * 16);
    const char **kp = malloc(sizeof(char *) * (size_t)n);
    size_t *kl = malloc(sizeof(size_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        kl[i] = (size_t)snprintf(kb + 16 * i, 16, fmt, first + i);
        kp[i] = kb + 16 * i;
    }
    const char *cols[NCOLS] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"};
    murr_batch *out = NULL;
    murr_error e = {0};
    cr_assert_eq(murr_read(db, "t", kp, kl, (size_t)n, cols, NCOLS, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, n);
    for (int c = 0; c < NCOLS; c++) {
        cr_assert_eq(out->columns[c].null_count, 0, "column c%d of '%s' keys has nulls", c, fmt);
        for (int i = 0; i < n; i++)
            cr_assert_eq(((const float *)out->columns[c].values)[i], v, "key %s column c%d", kp[i], c);
    }
    murr_batch_free(out);
    free(kl);
    free(kp);
    free(kb);
}

static murr_db *open_table(const char *dir, bool create)
{
    murr_options o = opts();
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    if (create) {
        mr_schema_t *s = tu_schema_id_cols(NCOLS);
        cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
        mr_schema_free(s);
    }
    return db;
}

static void check_all(murr_db *db, float b_value)
{
    check_keys(db, "%d", 0, 200, 1.0f);          /* 56 and 64 bytes */
    check_keys(db, "key%05d", 0, 300, b_value); /* 64 */
    check_keys(db, "longkey%07d", 0, 100, 3.0f); /* 72 */
    check_keys(db, "k%04d", 0, 100, 4.0f);       /* 64 */
}

Test(record_lines, small_records_stay_on_one_line_through_recovery_and_compaction)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("rec-lines");
    murr_db *db = open_table(dir, true);
    write_keys(db, "%d", 0, 200, 1.0f);
    write_keys(db, "key%05d", 0, 300, 2.0f);
    write_keys(db, "longkey%07d", 0, 100, 3.0f);
    write_keys(db, "k%04d", 0, 100, 4.0f);
    write_keys(db, "%d", 0, 1, 1.0f); /* one small row after 64-byte ones */
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/t/00000001.seg", dir);
    scan_t s = scan_segment(seg);
    cr_assert_eq(s.rows, 701);
    cr_assert_eq(s.markers, 5);
    cr_assert_eq(s.small_rows, 601, "every row but the 100 of 72 bytes is at most a line");
    cr_assert_eq(s.straddling, 0, "writes start on a line, so every small row is on one");
    /* keys "0".."99" are 56 bytes: each before another small row takes 8 bytes of padding
     * (all of them: the one after "99" is "100", 64 bytes) */
    cr_assert_geq(s.padded_rows, 99);
    cr_assert_leq(s.padded_rows, 100);
    check_all(db, 2.0f);
    murr_close(db);

    db = open_table(dir, false); /* recovery reads the grown lengths and markers */
    check_all(db, 2.0f);
    write_keys(db, "key%05d", 0, 300, 5.0f); /* the old copies become garbage */
    murr_error e = {0};
    cr_assert_eq(murr_compact(db, "t", &e), 0, "%s", e.message);
    check_all(db, 5.0f);
    murr_close(db);

    db = open_table(dir, false);
    check_all(db, 5.0f);
    murr_close(db);
    /* every segment left follows the rule; the compacted copies too (copied back to back
     * without markers, the 64-byte rows after the 72-byte ones stay off the line: moving
     * them would take 32 bytes, over the limit) */
    int segs = 0, rows = 0;
    for (int id = 1; id < 16; id++) {
        snprintf(seg, sizeof(seg), "%s/t/%08d.seg", dir, id);
        if (access(seg, F_OK) != 0)
            continue;
        scan_t c = scan_segment(seg);
        segs++;
        rows += c.rows;
    }
    cr_assert_geq(segs, 1);
    cr_assert_geq(rows, 700, "the live rows are in the segments left");
    tu_rmtree(dir);
    free(dir);
}

/* A segment written before placement existed: 32-byte markers and records on any 8-byte
 * offset. Built here record by record with record.h's writers (the layout of murr <= 0.3
 * for this schema), it opens, serves, and takes new writes after it. */
Test(record_lines, old_layout_segment_still_opens)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("rec-lines-old");
    murr_db *db = open_table(dir, true);
    write_keys(db, "k%04d", 0, 3, 4.0f);
    murr_close(db);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/t/00000001.seg", dir);
    /* replace the segment: a 32-byte marker first (an empty commit), then 3 rows on
     * offsets 32, 96, 160 (each straddles a line), their 32-byte commit marker, and one
     * more empty commit, so the next write starts at 288, off a line */
    uint8_t file[32 + 3 * 64 + 32 + 32];
    memset(file, 0, sizeof(file));
    mr_rec_encode_marker(file, MR_REC_MARKER_SIZE, MR_REC_COMMIT, 1, 0);
    for (int i = 0; i < 3; i++) {
        uint8_t *r = file + 32 + 64 * i;
        char key[8];
        snprintf(key, sizeof(key), "k%04d", i);
        mr_rec_put_header(r, 64, 5, MR_REC_ROW);
        memcpy(mr_rec_key_out(r), key, 5);
        uint8_t *body = mr_rec_body_out(r, 5);
        body[0] = 0xFF;
        body[1] = 0x03; /* 10 values present */
        for (int c = 0; c < NCOLS; c++) {
            float v = 7.0f;
            memcpy(body + 2 + 4 * c, &v, 4);
        }
        mr_rec_seal(r, 64);
    }
    mr_rec_encode_marker(file + 32 + 3 * 64, MR_REC_MARKER_SIZE, MR_REC_COMMIT, 2, 3);
    mr_rec_encode_marker(file + 32 + 3 * 64 + 32, MR_REC_MARKER_SIZE, MR_REC_COMMIT, 3, 0);
    int fd = open(seg, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, file, sizeof(file)), (ssize_t)sizeof(file));
    close(fd);

    db = open_table(dir, false);
    check_keys(db, "k%04d", 0, 3, 7.0f);
    write_keys(db, "k%04d", 3, 5, 8.0f); /* appended at 288, after the old 32-byte markers */
    check_keys(db, "k%04d", 0, 3, 7.0f);
    check_keys(db, "k%04d", 3, 5, 8.0f);
    write_keys(db, "k%04d", 8, 2, 9.0f); /* its marker ended on a line: this write starts on one */
    murr_close(db);
    size_t size;
    uint8_t *p = slurp(seg, &size);
    cr_assert_not_null(p);
    uint32_t m2 = mr_rec_len(p + 288 + 5 * 64);
    cr_assert(mr_rec_is_marker(mr_rec_kind(p + 288 + 5 * 64)), "the 5 rows at 288 are 64 bytes each, then their marker");
    cr_assert_eq((288 + 5 * 64 + m2) % 64, 0, "the marker after the old tail ends on a line (%u bytes)", m2);
    uint64_t next = 288 + 5 * 64 + m2;
    cr_assert_eq(mr_rec_key_len(p + next), 5);
    cr_assert_eq(mr_rec_len(p + next), 64);
    free(p);
    db = open_table(dir, false);
    check_keys(db, "k%04d", 3, 5, 8.0f);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}
