/* The engine on a full disk: a small tmpfs mounted by the test (needs root; skipped with
 * the reason otherwise). A write that fails on ENOSPC is MURR_ENOSPC naming the file and
 * the bytes; reads keep serving; and a streaming write whose rows landed but whose abort
 * marker could not be written (the disk was still full) stays invisible after space is
 * freed, a later write commits, and the table is reopened (it used to be adopted by that
 * later commit: half of a rejected write became visible). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static char *mnt;
static bool mounted;

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    mnt = tu_tempdir("diskfull");
    mounted = geteuid() == 0 && mount("tmpfs", mnt, "tmpfs", 0, "size=256k") == 0;
}

static void teardown(void)
{
    if (mounted)
        umount2(mnt, MNT_DETACH);
    tu_rmtree(mnt);
    free(mnt);
}

TestSuite(diskfull, .init = setup, .fini = teardown);

/* n rows "<prefix><6 digits>" -> value: each row record is exactly 32 bytes (12 header +
 * 8 key + 1 bitmap + 4 float, padded to 8), so 128 rows fill one 4 KiB page. */
static mr_batch_t *rows(char prefix, int first, int n, float v)
{
    char fmt[8] = {prefix, '%', '0', '7', 'd', '\0'};
    return tu_batch_id_range(fmt, first, n, v);
}

/* Fills the file system with `path`, then gives back `keep` bytes (whole pages). */
static void fill_leaving(const char *path, size_t keep)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    static char page[4096];
    size_t total = 0;
    while (write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
        total += sizeof(page);
    cr_assert_eq(errno, ENOSPC);
    cr_assert_eq(ftruncate(fd, (off_t)(total - keep)), 0);
    close(fd);
}

static void read_one(murr_db *db, const char *key, bool *found, float *v)
{
    const char *k[] = {key};
    size_t l[] = {strlen(key)};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    cr_assert_eq(murr_read(db, "t", k, l, 1, cols, 1, &out, &e), 0, "%s", e.message);
    *found = murr_column_is_valid(&out->columns[0], 0);
    *v = *found ? ((float *)out->columns[0].values)[0] : 0;
    murr_batch_free(out);
}

/* Opens data with compaction off and segments of seg_max bytes, and creates table t
 * (id utf8 key, score float32?). */
static murr_db *open_with_t(const char *data, size_t seg_max, murr_options *o)
{
    murr_options_default(o);
    o->background_compaction = false;
    o->segment_max_bytes = seg_max;
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(data, o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    return db;
}

Test(diskfull, rejected_write_stays_invisible_without_its_abort_marker)
{
    if (!mounted)
        cr_skip_test("needs root to mount a 256 KiB tmpfs (euid %d)", (int)geteuid());
    char data[512], filler[512];
    snprintf(data, sizeof(data), "%s/data", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    murr_options o;
    murr_db *db = open_with_t(data, 1 << 20, &o); /* one segment: its map may be larger than the disk */
    murr_error e = {0};
    /* room for exactly one page: batch A (128 rows = 4096 bytes) lands, then nothing fits */
    fill_leaving(filler, 4096);
    murr_writer *w;
    cr_assert_eq(murr_write_begin(db, "t", &w, &e), 0, "%s", e.message);
    mr_batch_t *a = rows('a', 0, 128, 1.0f), *b = rows('b', 0, 64, 2.0f);
    cr_assert_eq(murr_writer_append(w, a, &e), 0, "%s", e.message);
    int rc = murr_writer_append(w, b, &e);
    cr_assert_eq(rc, MURR_ENOSPC, "rc %d: %s", rc, e.message);
    cr_assert(strstr(e.message, "no space left on the storage device: cannot write 2048 bytes to '") != NULL, "%s",
              e.message);
    cr_assert(strstr(e.message, "00000001.seg' at offset 4096") != NULL, "%s", e.message);
    murr_writer_abort(w); /* its abort marker cannot be written either (logged) */
    /* a plain write on the full disk: ENOSPC, reads keep serving */
    mr_batch_t *c = rows('c', 0, 1, 3.0f);
    cr_assert_eq(murr_write(db, "t", c, &e), MURR_ENOSPC, "%s", e.message);
    bool found;
    float v;
    read_one(db, "a0000000", &found, &v);
    cr_assert(!found);
    /* space comes back; a later write commits; restart */
    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(murr_write(db, "t", c, &e), 0, "%s", e.message);
    murr_close(db);
    cr_assert_eq(murr_open(data, &o, &db, &e), 0, "%s", e.message);
    read_one(db, "c0000000", &found, &v);
    cr_assert(found && v == 3.0f, "the acknowledged write is there");
    for (int i = 0; i < 128; i += 37) {
        char k[16];
        snprintf(k, sizeof(k), "a%07d", i);
        read_one(db, k, &found, &v);
        cr_assert(!found, "row %s of the rejected write became visible after restart", k);
    }
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0);
    cr_assert_eq(st.rows, 1);
    murr_close(db);
    mr_batch_free(a);
    mr_batch_free(b);
    mr_batch_free(c);
}

static size_t count_versions(murr_db *db, uint64_t *serving)
{
    murr_version_info *v;
    size_t n;
    murr_error e = {0};
    cr_assert_eq(murr_list_versions(db, "t", &v, &n, &e), 0, "%s", e.message);
    for (size_t i = 0; i < n; i++)
        if (v[i].serving)
            *serving = v[i].id;
    murr_free(v);
    return n;
}

/* Replace and rollback on a full disk: the new version's rows or the manifest cannot be
 * written; the serving version keeps serving, nothing new is listed, and after space comes
 * back and a restart no staging files remain and both work. */
Test(diskfull, replace_and_rollback_keep_the_serving_version)
{
    if (!mounted)
        cr_skip_test("needs root to mount a 256 KiB tmpfs (euid %d)", (int)geteuid());
    char data[512], filler[512], stray[600];
    snprintf(data, sizeof(data), "%s/data", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    murr_options o;
    murr_db *db = open_with_t(data, 1 << 20, &o);
    murr_error e = {0};
    mr_batch_t *a = rows('a', 0, 64, 1.0f), *b = rows('b', 0, 512, 2.0f);
    cr_assert_eq(murr_write(db, "t", a, &e), 0, "%s", e.message);
    fill_leaving(filler, 4096); /* 16 KiB of rows do not fit in one page */
    const murr_batch *bb[] = {b};
    int rc = murr_replace(db, "t", bb, 1, "test", &e);
    cr_assert_eq(rc, MURR_ENOSPC, "rc %d: %s", rc, e.message);
    cr_assert(strstr(e.message, "no space left on the storage device") != NULL, "%s", e.message);
    uint64_t serving = 0;
    cr_assert_eq(count_versions(db, &serving), 1);
    cr_assert_eq(serving, 1);
    bool found;
    float v;
    read_one(db, "a0000005", &found, &v);
    cr_assert(found && v == 1.0f, "the serving version serves");
    read_one(db, "b0000005", &found, &v);
    cr_assert(!found, "nothing of the rejected replace is visible");
    cr_assert_eq(unlink(filler), 0);
    /* a small replace fits: version 3 serves (ids are never reused: 2 was the failed
     * one), version 1 is kept */
    mr_batch_t *c = rows('c', 0, 8, 3.0f);
    const murr_batch *cc[] = {c};
    cr_assert_eq(murr_replace(db, "t", cc, 1, "test", &e), 0, "%s", e.message);
    /* now fill the disk completely: a rollback cannot rewrite the manifest */
    fill_leaving(filler, 0);
    uint64_t now = 0;
    rc = murr_rollback(db, "t", 0, &now, &e);
    cr_assert_eq(rc, MURR_ENOSPC, "rc %d: %s", rc, e.message);
    cr_assert(strstr(e.message, "manifest.json") != NULL, "%s", e.message);
    cr_assert_eq(count_versions(db, &serving), 2);
    cr_assert_eq(serving, 3, "a failed rollback changes nothing (serving %llu, rc %d: %s)", (unsigned long long)serving, rc, e.message);
    read_one(db, "c0000001", &found, &v);
    cr_assert(found && v == 3.0f);
    cr_assert_eq(unlink(filler), 0);
    murr_close(db);
    cr_assert_eq(murr_open(data, &o, &db, &e), 0, "%s", e.message);
    snprintf(stray, sizeof(stray), "%s/t/v2", data);
    cr_assert(access(stray, F_OK) != 0, "the staging directory of the failed replace is gone");
    cr_assert_eq(count_versions(db, &serving), 2);
    cr_assert_eq(serving, 3);
    cr_assert_eq(murr_rollback(db, "t", 0, &now, &e), 0, "%s", e.message);
    cr_assert_eq(now, 1);
    read_one(db, "a0000063", &found, &v);
    cr_assert(found && v == 1.0f, "version 1 is back");
    read_one(db, "c0000001", &found, &v);
    cr_assert(!found);
    murr_close(db);
    mr_batch_free(a);
    mr_batch_free(b);
    mr_batch_free(c);
}

static void setup_big(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    mnt = tu_tempdir("diskfull-big");
    mounted = geteuid() == 0 && mount("tmpfs", mnt, "tmpfs", 0, "size=4m") == 0;
}

TestSuite(diskfull_big, .init = setup_big, .fini = teardown);

/* A write is encoded and appended in 512 KiB pieces (write.c): when a later piece finds
 * the disk full, the pieces already written are cut off again (the segment file is back
 * to its size before the write, plus the abort marker), the write is MURR_ENOSPC, and nothing of it is visible,
 * then or after a restart. */
Test(diskfull_big, a_piece_that_does_not_fit_drops_the_whole_append)
{
    if (!mounted)
        cr_skip_test("needs root to mount a 4 MiB tmpfs (euid %d)", (int)geteuid());
    char data[512], filler[512], seg[600];
    snprintf(data, sizeof(data), "%s/data", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    murr_options o;
    murr_db *db = open_with_t(data, 8 << 20, &o);
    murr_error e = {0};
    mr_batch_t *a = rows('a', 0, 128, 1.0f);
    cr_assert_eq(murr_write(db, "t", a, &e), 0, "%s", e.message);
    snprintf(seg, sizeof(seg), "%s/t/00000001.seg", data);
    struct stat st0, st1;
    cr_assert_eq(stat(seg, &st0), 0, "%s", seg);
    /* 48,000 rows x 32 bytes = 1.5 MB: two 512 KiB pieces fit in the 1 MiB left, the third not */
    fill_leaving(filler, 1 << 20);
    mr_batch_t *b = rows('b', 0, 48000, 2.0f);
    int rc = murr_write(db, "t", b, &e);
    cr_assert_eq(rc, MURR_ENOSPC, "rc %d: %s", rc, e.message);
    cr_assert(strstr(e.message, "no space left on the storage device: cannot write ") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "00000001.seg' at offset ") != NULL, "%s", e.message);
    cr_assert_eq(stat(seg, &st1), 0);
    /* what may follow is the write's abort marker (32 bytes), not the 1 MiB of its pieces */
    cr_assert(st1.st_size >= st0.st_size && st1.st_size <= st0.st_size + 64,
              "segment %lld bytes after the failed write, %lld before", (long long)st1.st_size, (long long)st0.st_size);
    bool found;
    float v;
    read_one(db, "b0000000", &found, &v);
    cr_assert(!found);
    read_one(db, "a0000005", &found, &v);
    cr_assert(found && v == 1.0f);
    cr_assert_eq(unlink(filler), 0);
    murr_close(db);
    cr_assert_eq(murr_open(data, &o, &db, &e), 0, "%s", e.message);
    read_one(db, "b0000000", &found, &v);
    cr_assert(!found, "a row of the failed write became visible after restart");
    read_one(db, "b0047999", &found, &v);
    cr_assert(!found, "a row of the failed write became visible after restart");
    murr_table_stats ts;
    cr_assert_eq(murr_table_stats_get(db, "t", &ts, &e), 0);
    cr_assert_eq(ts.rows, 128);
    murr_close(db);
    mr_batch_free(a);
    mr_batch_free(b);
}
