/* Crash and corruption tests of the engine:
 *  - SIGKILL: a child process writes batches (fdatasync on) and reports each acknowledged
 *    one on a pipe; the parent kills it at a random moment, reopens, and checks that every
 *    acknowledged batch is fully present and no batch is partly visible (50 rounds);
 *  - manifest damage: truncated / invalid JSON refuses to open naming the file and
 *    position; an invalid schema entry is skipped while the other tables serve. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"

#define ROWS_PER_BATCH 40

static mr_batch_t *batch_for(int n)
{
    const char *keys[ROWS_PER_BATCH];
    float vals[ROWS_PER_BATCH];
    char store[ROWS_PER_BATCH][32];
    for (int j = 0; j < ROWS_PER_BATCH; j++) {
        /* keys overlap across batches so later batches overwrite earlier ones */
        snprintf(store[j], sizeof(store[j]), "k%d", (n * 7 + j) % 300);
        keys[j] = store[j];
        vals[j] = (float)n;
    }
    return tu_batch_id_score(keys, vals, ROWS_PER_BATCH);
}

static void child_main(const char *dir, int fd, int start)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = true;
    o.compact_garbage_ratio = 0.3;
    o.segment_max_bytes = 1 << 16;
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0)
        _exit(3);
    for (int n = start;; n++) {
        mr_batch_t *b = batch_for(n);
        if (murr_write(db, "t", b, &e) != 0)
            _exit(4);
        mr_batch_free(b);
        if (write(fd, &n, sizeof(n)) != sizeof(n)) /* acknowledged */
            _exit(5);
    }
}

Test(crash, sigkill_keeps_every_acknowledged_batch, .timeout = 300)
{
    mr_log_set_level(MR_LOG_ERROR);
    srand((unsigned)time(NULL));
    char *dir = tu_tempdir("kill");
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0);
    mr_schema_free(s);
    murr_close(db);
    /* expected[key] = last acknowledged batch number that wrote it */
    static int expected[300];
    for (int k = 0; k < 300; k++)
        expected[k] = -1;
    long acked_total = 0, kills_mid_batch = 0;
    for (int round = 0; round < 50; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        int start = round * 100000; /* batch numbers are unique across rounds */
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(dir, p[1], start);
        }
        close(p[1]);
        usleep((useconds_t)(2000 + rand() % 40000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        int last = start - 1, n;
        while (read(p[0], &n, sizeof(n)) == sizeof(n))
            last = n;
        close(p[0]);
        cr_assert(WIFSIGNALED(status), "child exited on its own (status %d) in round %d", status, round);
        acked_total += last - start + 1;
        cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "round %d: %s", round, e.message);
        /* every key's value must come from a whole batch: acknowledged (<= last) or the one
         * in flight (last + 1), and batch last+1 is all-or-nothing */
        int inflight_rows = 0;
        for (int k = 0; k < 300; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%d", k);
            const char *keys[] = {key};
            size_t lens[] = {strlen(key)};
            const char *cols[] = {"score"};
            murr_batch *b;
            cr_assert_eq(murr_read(db, "t", keys, lens, 1, cols, 1, &b, &e), 0);
            int got = murr_column_is_valid(&b->columns[0], 0) ? (int)((float *)b->columns[0].values)[0] : -1;
            /* float32 holds these integers exactly (< 2^24) */
            murr_batch_free(b);
            /* what the acknowledged prefix 0..last of this round implies for key k */
            int want = expected[k];
            for (int m = start; m <= last; m++)
                for (int j = 0; j < ROWS_PER_BATCH; j++)
                    if ((m * 7 + j) % 300 == k)
                        want = m;
            bool in_next = false;
            for (int j = 0; j < ROWS_PER_BATCH; j++)
                if (((last + 1) * 7 + j) % 300 == k)
                    in_next = true;
            if (in_next && got == last + 1) {
                inflight_rows++;
                continue;
            }
            cr_assert_eq(got, want, "round %d key %d: got batch %d, want %d (last ack %d)", round, k, got, want, last);
            expected[k] = got;
        }
        cr_assert(inflight_rows == 0 || inflight_rows == ROWS_PER_BATCH,
                  "round %d: batch %d is partly visible (%d of %d rows)", round, last + 1, inflight_rows, ROWS_PER_BATCH);
        kills_mid_batch += inflight_rows > 0;
        if (inflight_rows)
            for (int j = 0; j < ROWS_PER_BATCH; j++)
                expected[((last + 1) * 7 + j) % 300] = last + 1;
        murr_close(db);
    }
    /* the test means something only if the children got batches acknowledged */
    cr_assert_gt(acked_total, 100, "only %ld batches acknowledged in 50 rounds", acked_total);
    fprintf(stderr, "crash test: %ld acknowledged batches over 50 kills, %ld kills landed after a batch was durable "
            "but before its acknowledgement\n", acked_total, kills_mid_batch);
    tu_rmtree(dir);
    free(dir);
}

static void make_two_tables(const char *dir)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "a", s, &e), 0);
    cr_assert_eq(murr_create_table(db, "b", s, &e), 0);
    mr_schema_free(s);
    const char *k[] = {"x"};
    float v[] = {5.0f};
    mr_batch_t *b = tu_batch_id_score(k, v, 1);
    cr_assert_eq(murr_write(db, "b", b, &e), 0);
    mr_batch_free(b);
    murr_close(db);
}

Test(corruption, manifest_truncated_or_flipped_refuses_naming_file)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("manifest");
    make_two_tables(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    uint8_t *data;
    size_t len;
    murr_error e = {0};
    cr_assert_eq(mr_fs_read_all(path, &data, &len, &e), 0);
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    for (size_t cut = 1; cut < len; cut += 7) {
        mr_fs_write_atomic(path, data, cut, NULL);
        murr_db *db = NULL;
        int rc = murr_open(dir, &o, &db, &e);
        if (rc == 0) { /* a prefix that is still valid JSON with both tables cannot exist; but stay safe */
            murr_close(db);
            continue;
        }
        cr_assert_eq(rc, MURR_ECORRUPT, "cut %zu: %s", cut, e.message);
        cr_assert(strstr(e.message, "manifest.json") != NULL, "%s", e.message);
    }
    for (size_t pos = 0; pos < len; pos += 3) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        copy[pos] ^= 0x20;
        mr_fs_write_atomic(path, copy, len, NULL);
        free(copy);
        murr_db *db = NULL;
        if (murr_open(dir, &o, &db, &e) == 0)
            murr_close(db); /* harmless flips (e.g. inside a name) may still open: never a crash */
        else
            cr_assert(strstr(e.message, "manifest") != NULL, "%s", e.message);
    }
    mr_free(data);
    tu_rmtree(dir);
    free(dir);
}

Test(corruption, bad_schema_entry_is_skipped_others_serve)
{
    mr_log_set_level(MR_LOG_ERROR + 0);
    char *dir = tu_tempdir("skip");
    make_two_tables(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    uint8_t *data;
    size_t len;
    murr_error e = {0};
    cr_assert_eq(mr_fs_read_all(path, &data, &len, &e), 0);
    /* make table a's key column a float: a schema the validator refuses */
    char *txt = (char *)data;
    char *p = strstr(txt, "\"dtype\": \"utf8\"");
    cr_assert_not_null(p);
    memcpy(p, "\"dtype\": \"int8\"", 15);
    mr_fs_write_atomic(path, txt, strlen(txt), NULL);
    mr_free(data);
    murr_options o;
    murr_options_default(&o);
    murr_db *db;
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    char **names;
    size_t n;
    murr_list_tables(db, &names, &n, &e);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(names[0], "b");
    murr_names_free(names, n);
    const char *k[] = {"x"};
    size_t l[] = {1};
    const char *cols[] = {"score"};
    murr_batch *b;
    cr_assert_eq(murr_read(db, "b", k, l, 1, cols, 1, &b, &e), 0);
    cr_assert_eq(((float *)b->columns[0].values)[0], 5.0f);
    murr_batch_free(b);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* ---- streaming writes (murr_write_begin / append / commit / abort) ---- */

static murr_options small_segments(void)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.segment_max_bytes = 1 << 16; /* a few hundred rows per segment: writes span rolls */
    return o;
}

static mr_batch_t *range_batch(int first, int n, float v) { return tu_batch_id_range("s%d", first, n, v); }

static int count_visible(murr_db *db, int first, int n, float v)
{
    int seen = 0;
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "s%d", first + i);
        const char *keys[] = {key};
        size_t lens[] = {strlen(key)};
        const char *cols[] = {"score"};
        murr_batch *b;
        murr_error e = {0};
        cr_assert_eq(murr_read(db, "t", keys, lens, 1, cols, 1, &b, &e), 0);
        seen += murr_column_is_valid(&b->columns[0], 0) && ((float *)b->columns[0].values)[0] == v;
        murr_batch_free(b);
    }
    return seen;
}

static murr_db *open_with_table(const char *dir, bool create)
{
    murr_options o = small_segments();
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    if (create) {
        mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
        cr_assert_eq(murr_create_table(db, "t", s, &e), 0);
        mr_schema_free(s);
    }
    return db;
}

Test(txn, abort_spanning_segments_stays_invisible)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("txn");
    murr_db *db = open_with_table(dir, true);
    murr_error e = {0};
    murr_writer *w;
    cr_assert_eq(murr_write_begin(db, "t", &w, &e), 0);
    for (int k = 0; k < 4; k++) {
        mr_batch_t *b = range_batch(k * 1000, 1000, 7.0f);
        cr_assert_eq(murr_writer_append(w, b, &e), 0, "%s", e.message);
        mr_batch_free(b);
    }
    murr_table_stats st;
    murr_table_stats_get(db, "t", &st, &e);
    murr_writer_abort(w);
    murr_table_stats_get(db, "t", &st, &e);
    cr_assert_geq(st.segments, 2, "the write must have spanned a segment roll");
    cr_assert_eq(count_visible(db, 0, 4000, 7.0f), 0);
    mr_batch_t *b = range_batch(5000, 10, 8.0f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0);
    mr_batch_free(b);
    murr_close(db);
    db = open_with_table(dir, false);
    cr_assert_eq(count_visible(db, 0, 4000, 7.0f), 0, "a later commit must not adopt aborted rows");
    cr_assert_eq(count_visible(db, 5000, 10, 8.0f), 10);
    /* a committed streaming write spanning rolls is all visible, also after reopen */
    cr_assert_eq(murr_write_begin(db, "t", &w, &e), 0);
    for (int k = 0; k < 3; k++) {
        mr_batch_t *bb = range_batch(10000 + k * 1000, 1000, 9.0f);
        cr_assert_eq(murr_writer_append(w, bb, &e), 0);
        mr_batch_free(bb);
    }
    cr_assert_eq(count_visible(db, 10000, 3000, 9.0f), 0, "nothing is visible before commit");
    cr_assert_eq(murr_writer_commit(w, &e), 0, "%s", e.message);
    cr_assert_eq(count_visible(db, 10000, 3000, 9.0f), 3000);
    murr_close(db);
    db = open_with_table(dir, false);
    cr_assert_eq(count_visible(db, 10000, 3000, 9.0f), 3000);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

Test(txn, kill_mid_spanning_write_then_later_commit)
{
    mr_log_set_level(MR_LOG_ERROR);
    char *dir = tu_tempdir("txnkill");
    murr_db *db = open_with_table(dir, true);
    murr_close(db);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        murr_options o = small_segments();
        murr_db *cdb;
        murr_writer *w;
        murr_error e = {0};
        if (murr_open(dir, &o, &cdb, &e) != 0) /* no Criterion asserts in the child */
            _exit(2);
        if (murr_write_begin(cdb, "t", &w, &e) != 0)
            _exit(3);
        for (int k = 0; k < 4; k++) {
            mr_batch_t *b = range_batch(k * 1000, 1000, 7.0f);
            if (murr_writer_append(w, b, &e) != 0)
                _exit(4);
            mr_batch_free(b);
        }
        fdatasync(0);
        char c = 1;
        if (write(p[1], &c, 1) != 1)
            _exit(5);
        pause(); /* never commits */
        _exit(0);
    }
    close(p[1]);
    char c;
    ssize_t got = read(p[0], &c, 1); /* 0 if the child died before appending everything */
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(p[0]);
    cr_assert_eq(got, 1, "child failed before the kill (status %d)", status);
    db = open_with_table(dir, false);
    cr_assert_eq(count_visible(db, 0, 4000, 7.0f), 0);
    murr_error e = {0};
    mr_batch_t *b = range_batch(9000, 5, 1.0f);
    cr_assert_eq(murr_write(db, "t", b, &e), 0);
    mr_batch_free(b);
    murr_close(db);
    db = open_with_table(dir, false);
    cr_assert_eq(count_visible(db, 0, 4000, 7.0f), 0, "uncommitted rows of a killed writer must never resurface");
    cr_assert_eq(count_visible(db, 9000, 5, 1.0f), 5);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}
