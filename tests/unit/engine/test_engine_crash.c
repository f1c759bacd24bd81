/* Crash and corruption tests of the engine. The storage tests run for every backend in
 * tu_store_backends, through the store interface (engine/store.h): a forked child writes
 * through the store, the parent reopens the store's directory.
 *  - SIGKILL: a child process writes batches (fdatasync on, background compaction) and
 *    reports each acknowledged one on a pipe; the parent kills it at a random moment,
 *    reopens, and checks that every acknowledged batch is fully present and no batch is
 *    partly visible (50 rounds);
 *  - streaming transactions: an abort spanning segment rolls stays invisible, also after a
 *    later commit and a reopen; a child killed in the middle of a spanning transaction
 *    leaves none of it, also after a later commit;
 *  - manifest damage (catalog tests, on murr_db): truncated / invalid JSON refuses to open
 *    naming the file and position; an invalid schema entry is skipped while the other
 *    tables serve. */
#include <criterion/criterion.h>
#include <math.h>
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
#include "tu_store.h"

#define ROWS_PER_BATCH 40
#define NKEYS 300

static mr_schema_t *id_score_schema(void) { return mr_schema_make("id", "id:utf8", "score:float32?", NULL); }

/* A new store `t` in dir/t (create) or the one there (open); asserts. */
static void open_store(tu_store_t *ts, const mr_store_ops_t *ops, const char *dir, const murr_options *o, bool create)
{
    char sdir[512];
    snprintf(sdir, sizeof(sdir), "%s/t", dir);
    mr_schema_t *s = id_score_schema();
    mr_error_t e = {0};
    int rc = tu_store_open(ts, ops, sdir, "t", s, o, create, &e);
    mr_schema_free(s);
    cr_assert_eq(rc, 0, "%s: %s", ops->name, e.message);
}

/* Scores of keys printf(fmt, first + i), i < n, in one read: out[i] = score, NaN if null
 * or absent. */
static void read_scores(mr_store_t *st, const char *fmt, int first, int n, float *out)
{
    char (*kb)[16] = calloc((size_t)n + 1, 16);
    const char **keys = calloc((size_t)n + 1, sizeof(char *));
    size_t *lens = calloc((size_t)n + 1, sizeof(size_t));
    for (int i = 0; i < n; i++) {
        snprintf(kb[i], 16, fmt, first + i);
        keys[i] = kb[i];
        lens[i] = strlen(kb[i]);
    }
    const char *cols[] = {"score"};
    mr_batch_t *b;
    mr_error_t e = {0};
    cr_assert_eq(tu_store_read(st, keys, lens, (size_t)n, cols, 1, &b, &e), 0, "%s", e.message);
    cr_assert_eq(b->num_rows, n);
    for (int i = 0; i < n; i++)
        out[i] = murr_column_is_valid(&b->columns[0], i) ? ((float *)b->columns[0].values)[i] : NAN;
    mr_batch_free(b);
    free(kb);
    free(keys);
    free(lens);
}

/* ---- SIGKILL during acknowledged writes ---- */

static murr_options kill_options(void)
{
    murr_options o;
    murr_options_default(&o); /* sync_writes */
    o.compact_garbage_ratio = 0.3;
    o.segment_max_bytes = 1 << 16;
    return o;
}

static mr_batch_t *batch_for(int n)
{
    const char *keys[ROWS_PER_BATCH];
    float vals[ROWS_PER_BATCH];
    char store[ROWS_PER_BATCH][32];
    for (int j = 0; j < ROWS_PER_BATCH; j++) {
        /* keys overlap across batches so later batches overwrite earlier ones */
        snprintf(store[j], sizeof(store[j]), "k%d", (n * 7 + j) % NKEYS);
        keys[j] = store[j];
        vals[j] = (float)n;
    }
    return tu_batch_id_score(keys, vals, ROWS_PER_BATCH);
}

/* No Criterion asserts in the child. */
static void child_main(const mr_store_ops_t *ops, const char *dir, int fd, int start)
{
    murr_options o = kill_options();
    char sdir[512];
    snprintf(sdir, sizeof(sdir), "%s/t", dir);
    mr_schema_t *s = id_score_schema();
    tu_store_t ts;
    mr_error_t e = {0};
    if (tu_store_open(&ts, ops, sdir, "t", s, &o, false, &e) != 0)
        _exit(3);
    tu_compactor_start(ts.s, o.compact_garbage_ratio, 2000); /* background compaction */
    for (int n = start;; n++) {
        mr_batch_t *b = batch_for(n);
        if (tu_store_write(ts.s, (const mr_batch_t *const *)&b, 1, &e) != 0)
            _exit(4);
        mr_batch_free(b);
        if (write(fd, &n, sizeof(n)) != sizeof(n)) /* acknowledged */
            _exit(5);
    }
}

static void run_sigkill(const mr_store_ops_t *ops)
{
    const char *name = ops->name;
    char *dir = tu_tempdir("kill");
    murr_options o = kill_options();
    tu_store_t ts;
    open_store(&ts, ops, dir, &o, true);
    tu_store_close(&ts);
    /* expected[key] = last acknowledged batch number that wrote it */
    static int expected[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        expected[k] = -1;
    long acked_total = 0, kills_mid_batch = 0;
    for (int round = 0; round < 50; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        int start = round * 100000; /* batch numbers are unique across rounds */
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(ops, dir, p[1], start);
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
        cr_assert(WIFSIGNALED(status), "%s: child exited on its own (status %d) in round %d", name, status, round);
        acked_total += last - start + 1;
        mr_error_t e = {0};
        cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s round %d: %s", name, round, e.message);
        float scores[NKEYS];
        read_scores(ts.s, "k%d", 0, NKEYS, scores);
        /* every key's value must come from a whole batch: acknowledged (<= last) or the one
         * in flight (last + 1), and batch last+1 is all-or-nothing */
        int inflight_rows = 0;
        for (int k = 0; k < NKEYS; k++) {
            /* float32 holds these integers exactly (< 2^24) */
            int got = isnan(scores[k]) ? -1 : (int)scores[k];
            /* what the acknowledged prefix 0..last of this round implies for key k */
            int want = expected[k];
            for (int m = start; m <= last; m++)
                for (int j = 0; j < ROWS_PER_BATCH; j++)
                    if ((m * 7 + j) % NKEYS == k)
                        want = m;
            bool in_next = false;
            for (int j = 0; j < ROWS_PER_BATCH; j++)
                if (((last + 1) * 7 + j) % NKEYS == k)
                    in_next = true;
            if (in_next && got == last + 1) {
                inflight_rows++;
                continue;
            }
            cr_assert_eq(got, want, "%s round %d key %d: got batch %d, want %d (last ack %d)", name, round, k, got,
                         want, last);
            expected[k] = got;
        }
        cr_assert(inflight_rows == 0 || inflight_rows == ROWS_PER_BATCH,
                  "%s round %d: batch %d is partly visible (%d of %d rows)", name, round, last + 1, inflight_rows,
                  ROWS_PER_BATCH);
        kills_mid_batch += inflight_rows > 0;
        if (inflight_rows)
            for (int j = 0; j < ROWS_PER_BATCH; j++)
                expected[((last + 1) * 7 + j) % NKEYS] = last + 1;
        tu_store_close(&ts);
    }
    tu_store_free(&ts);
    /* the test means something only if the children got batches acknowledged */
    cr_assert_gt(acked_total, 100, "%s: only %ld batches acknowledged in 50 rounds", name, acked_total);
    fprintf(stderr, "crash test (%s): %ld acknowledged batches over 50 kills, %ld kills landed after a batch was "
            "durable but before its acknowledgement\n", name, acked_total, kills_mid_batch);
    tu_rmtree(dir);
    free(dir);
}

Test(crash, sigkill_keeps_every_acknowledged_batch, .timeout = 300)
{
    mr_log_set_level(MR_LOG_ERROR);
    srand((unsigned)time(NULL));
    for (size_t i = 0; i < tu_store_nbackends; i++)
        run_sigkill(tu_store_backends[i]);
}

/* ---- manifest damage: catalog tests, on murr_db ---- */

static void make_two_tables(const char *dir)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    murr_db *db;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0);
    mr_schema_t *s = id_score_schema();
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

/* ---- streaming transactions (txn_begin / append / commit / abort) ---- */

static murr_options small_segments(void)
{
    murr_options o;
    murr_options_default(&o);
    o.segment_max_bytes = 1 << 16; /* a few hundred rows per segment: writes span rolls */
    return o;
}

static mr_batch_t *range_batch(int first, int n, float v) { return tu_batch_id_range("s%d", first, n, v); }

static int count_visible(mr_store_t *st, int first, int n, float v)
{
    float *scores = calloc((size_t)n + 1, sizeof(float));
    read_scores(st, "s%d", first, n, scores);
    int seen = 0;
    for (int i = 0; i < n; i++)
        seen += scores[i] == v;
    free(scores);
    return seen;
}

/* Appends 1000-row batches first, first + 1000, ... (count of them) with score v. */
static int append_ranges(mr_store_txn_t *x, int first, int count, float v, mr_error_t *err)
{
    for (int k = 0; k < count; k++) {
        mr_batch_t *b = range_batch(first + k * 1000, 1000, v);
        int rc = mr_store_txn_append(x, (const mr_batch_t *const *)&b, 1, err);
        mr_batch_free(b);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void write_range(mr_store_t *st, int first, int n, float v)
{
    mr_error_t e = {0};
    mr_batch_t *b = range_batch(first, n, v);
    cr_assert_eq(tu_store_write(st, (const mr_batch_t *const *)&b, 1, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

static void run_abort_spanning(const mr_store_ops_t *ops)
{
    const char *name = ops->name;
    char *dir = tu_tempdir("txn");
    murr_options o = small_segments();
    tu_store_t ts;
    open_store(&ts, ops, dir, &o, true);
    mr_error_t e = {0};
    mr_store_txn_t *x;
    cr_assert_eq(mr_store_txn_begin(ts.s, &x, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(append_ranges(x, 0, 4, 7.0f, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 0, 4000, 7.0f), 0, "%s: nothing is visible before commit", name);
    mr_store_txn_abort(x);
    murr_table_stats st;
    tu_store_stats(ts.s, &st);
    cr_assert_geq(st.segments, 2, "%s: the write must have spanned a segment roll", name);
    cr_assert_eq(count_visible(ts.s, 0, 4000, 7.0f), 0, "%s", name);
    write_range(ts.s, 5000, 10, 8.0f);
    cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 0, 4000, 7.0f), 0, "%s: a later commit must not adopt aborted rows", name);
    cr_assert_eq(count_visible(ts.s, 5000, 10, 8.0f), 10, "%s", name);
    /* a committed streaming write spanning rolls is all visible, also after reopen */
    cr_assert_eq(mr_store_txn_begin(ts.s, &x, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(append_ranges(x, 10000, 3, 9.0f, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 10000, 3000, 9.0f), 0, "%s: nothing is visible before commit", name);
    cr_assert_eq(mr_store_txn_commit(x, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 10000, 3000, 9.0f), 3000, "%s", name);
    cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 10000, 3000, 9.0f), 3000, "%s", name);
    tu_store_free(&ts);
    tu_rmtree(dir);
    free(dir);
}

Test(txn, abort_spanning_segments_stays_invisible)
{
    mr_log_set_level(MR_LOG_ERROR);
    for (size_t i = 0; i < tu_store_nbackends; i++)
        run_abort_spanning(tu_store_backends[i]);
}

static void run_kill_mid_spanning(const mr_store_ops_t *ops)
{
    const char *name = ops->name;
    char *dir = tu_tempdir("txnkill");
    murr_options o = small_segments();
    tu_store_t ts;
    open_store(&ts, ops, dir, &o, true);
    tu_store_close(&ts);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) { /* no Criterion asserts in the child */
        close(p[0]);
        mr_store_txn_t *x;
        mr_error_t e = {0};
        if (tu_store_reopen(&ts, &e) != 0)
            _exit(2);
        if (mr_store_txn_begin(ts.s, &x, &e) != 0)
            _exit(3);
        if (append_ranges(x, 0, 4, 7.0f, &e) != 0)
            _exit(4);
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
    cr_assert_eq(got, 1, "%s: child failed before the kill (status %d)", name, status);
    mr_error_t e = {0};
    cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 0, 4000, 7.0f), 0, "%s", name);
    write_range(ts.s, 9000, 5, 1.0f);
    cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s: %s", name, e.message);
    cr_assert_eq(count_visible(ts.s, 0, 4000, 7.0f), 0, "%s: uncommitted rows of a killed writer must never resurface",
                 name);
    cr_assert_eq(count_visible(ts.s, 9000, 5, 1.0f), 5, "%s", name);
    tu_store_free(&ts);
    tu_rmtree(dir);
    free(dir);
}

Test(txn, kill_mid_spanning_write_then_later_commit)
{
    mr_log_set_level(MR_LOG_ERROR);
    for (size_t i = 0; i < tu_store_nbackends; i++)
        run_kill_mid_spanning(tu_store_backends[i]);
}
