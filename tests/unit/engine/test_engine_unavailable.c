/* A table whose files cannot be opened at startup is never forgotten: it stays listed and
 * in the manifest, its name cannot be re-created (which used to delete its files), reads
 * and writes answer MURR_EBUSY naming it and the reason, and it serves again once its files
 * can be opened (the background retry). The fault: a segment file replaced by a directory
 * (open(2) fails with EISDIR; permission bits would not stop root). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

static murr_options opts(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.reopen_interval_ms = 50;
    return o;
}

static int read_b(murr_db *db, float *v, murr_error *e)
{
    const char *k[] = {"b"};
    size_t l[] = {1};
    const char *cols[] = {"score"};
    murr_batch *out;
    int rc = murr_read(db, "t", k, l, 1, cols, 1, &out, e);
    if (rc == 0) {
        *v = ((float *)out->columns[0].values)[0];
        murr_batch_free(out);
    }
    return rc;
}

Test(unavailable, kept_listed_refused_then_back)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("unavail");
    murr_options o = opts();
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    const char *keys[] = {"a", "b"};
    float scores[] = {1.5f, 2.5f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 2);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    murr_close(db);
    char seg[600], aside[600];
    snprintf(seg, sizeof(seg), "%s/t/00000001.seg", dir);
    snprintf(aside, sizeof(aside), "%s/seg.aside", dir);
    cr_assert_eq(rename(seg, aside), 0);
    cr_assert_eq(mkdir(seg, 0755), 0);

    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    char **names;
    size_t n;
    cr_assert_eq(murr_list_tables(db, &names, &n, &e), 0);
    cr_assert_eq(n, 1, "the table stays listed");
    cr_assert_str_eq(names[0], "t");
    murr_names_free(names, n);
    float v = 0;
    cr_assert_eq(read_b(db, &v, &e), MURR_EBUSY);
    cr_assert(strstr(e.message, "table 't' is unavailable: its files could not be opened") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "00000001.seg") != NULL, "%s", e.message);
    cr_assert_eq(murr_write(db, "t", b, &e), MURR_EBUSY, "%s", e.message);
    cr_assert_eq(murr_create_table(db, "t", s, &e), MURR_EEXIST, "re-creating the name must not delete its files");
    /* another create rewrites the manifest: it must still hold "t" */
    cr_assert_eq(murr_create_table(db, "other", s, &e), 0, "%s", e.message);
    char mpath[600];
    snprintf(mpath, sizeof(mpath), "%s/manifest.json", dir);
    uint8_t *m;
    size_t mlen;
    cr_assert_eq(mr_fs_read_all(mpath, &m, &mlen, &e), 0);
    cr_assert(memmem(m, mlen, "\"t\"", 3) != NULL, "manifest lost the unavailable table");
    murr_free(m);
    /* the storage comes back: the table serves again without a restart */
    cr_assert_eq(rmdir(seg), 0);
    cr_assert_eq(rename(aside, seg), 0);
    int rc = MURR_EBUSY;
    for (int i = 0; i < 200 && rc != 0; i++) {
        rc = read_b(db, &v, &e);
        if (rc != 0)
            usleep(20000);
    }
    cr_assert_eq(rc, 0, "still unavailable after 4 s: %s", e.message);
    cr_assert_eq(v, 2.5f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    murr_close(db);
    mr_batch_free(b);
    mr_schema_free(s);
    tu_rmtree(dir);
    free(dir);
}
