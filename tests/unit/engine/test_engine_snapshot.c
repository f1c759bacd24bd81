/* Snapshot-consistent reads and table versions, through the public API (murr.h):
 *  - snapshot: readers fetching while a large write commits see all of it or none of it,
 *    for overwrites (murr_write, and a streaming writer), first inserts, and replaces
 *    (murr_replace, and a streaming writer in MURR_WRITE_REPLACE mode);
 *  - versions: the version list, keep_versions, rollback, errors, persistence across a
 *    restart, aborted and failed replaces, upserts around a replace, drop and re-create;
 *  - replace_crash: a process that dies during a replace (before commit, and just after
 *    murr_replace returned) leaves, after a restart, the version it had committed serving
 *    and no directory that no version owns. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "engine/epoch.h"
#include "test_util.h"

#define NCOLS 4
#define KEY_FMT "k%07d"

static char *dir;
static murr_db *db;

static murr_options opts_keep(uint32_t keep_versions)
{
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    o.sync_writes = false;
    o.keep_versions = keep_versions;
    return o;
}

static void open_keep(uint32_t keep_versions)
{
    murr_options o = opts_keep(keep_versions);
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
}

static void create_cols_table(const char *name)
{
    mr_schema_t *s = tu_schema_id_cols(NCOLS);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, name, s, &e), 0, "%s", e.message);
    mr_schema_free(s);
}

static void setup_snapshot(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("snapshot");
    open_keep(1);
    create_cols_table("t");
}

static void teardown(void)
{
    murr_close(db);
    db = NULL;
    tu_rmtree(dir);
    free(dir);
}

static void write_range(const char *table, int first, int n, float v)
{
    mr_batch_t *b = tu_batch_id_cols(KEY_FMT, first, n, NCOLS, v);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, table, b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

/* ---- readers: shared by the snapshot tests ----------------------------------------- */

#define READ_KEYS 1000

static _Atomic bool writer_done;
static _Atomic long answers, mixed, torn, went_back, read_errors;
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_problem[512];

/* Keeps the first problem seen by any reader (asserts run on the main thread only). */
static void note_problem(_Atomic long *counter, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_problem(_Atomic long *counter, const char *fmt, ...)
{
    if (atomic_fetch_add(counter, 1) != 0 && first_problem[0])
        return;
    pthread_mutex_lock(&first_lock);
    if (first_problem[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_problem, sizeof(first_problem), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&first_lock);
}

static void reset_counters(void)
{
    atomic_store(&writer_done, false);
    atomic_store(&answers, 0);
    atomic_store(&mixed, 0);
    atomic_store(&torn, 0);
    atomic_store(&went_back, 0);
    atomic_store(&read_errors, 0);
    first_problem[0] = '\0';
}

typedef struct {
    int ids[READ_KEYS];
    char kb[READ_KEYS][16];
    const char *keys[READ_KEYS];
    size_t lens[READ_KEYS];
    float v[READ_KEYS]; /* the row's value (all NCOLS columns agree), NaN = missing */
} req_t;

/* Reads c0..c3 of req->ids from table t into req->v. A row whose columns disagree (or are
 * partly null) counts as torn and reads as -1. Returns false on a read error. */
static bool read_req(req_t *req, int n)
{
    for (int i = 0; i < n; i++) {
        int l = snprintf(req->kb[i], 16, KEY_FMT, req->ids[i]);
        req->keys[i] = req->kb[i];
        req->lens[i] = (size_t)l;
    }
    const char *cols[NCOLS] = {"c0", "c1", "c2", "c3"};
    murr_batch *b;
    murr_error e = {0};
    if (murr_read(db, "t", req->keys, req->lens, (size_t)n, cols, NCOLS, &b, &e) != 0) {
        note_problem(&read_errors, "read failed: %s", e.message);
        return false;
    }
    if (b->num_rows != n || b->num_columns != NCOLS) {
        note_problem(&read_errors, "answer of %lld rows x %d columns, asked %d x %d", (long long)b->num_rows,
                     b->num_columns, n, NCOLS);
        murr_batch_free(b);
        return false;
    }
    for (int i = 0; i < n; i++) {
        bool valid0 = murr_column_is_valid(&b->columns[0], i);
        float v0 = valid0 ? ((float *)b->columns[0].values)[i] : NAN;
        req->v[i] = v0;
        for (int c = 1; c < NCOLS; c++) {
            bool valid = murr_column_is_valid(&b->columns[c], i);
            float vc = valid ? ((float *)b->columns[c].values)[i] : NAN;
            if (valid != valid0 || (valid && vc != v0)) {
                note_problem(&torn, "torn row: key %s has c0 = %g but c%d = %g", req->kb[i], (double)v0, c,
                             (double)vc);
                req->v[i] = -1;
                break;
            }
        }
    }
    murr_batch_free(b);
    return true;
}

/* ---- a. overwrites ------------------------------------------------------------------ */

#define UPSERT_ROWS 200000
#define UPSERT_GENS 6

/* 950 keys that exist, 50 beyond UPSERT_ROWS that never do; every existing key must carry
 * one generation, never older than this reader's previous answer. */
static void *upsert_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u;
    req_t *req = malloc(sizeof(*req));
    float last_gen = 0;
    while (!atomic_load(&writer_done)) {
        for (int i = 0; i < READ_KEYS; i++)
            req->ids[i] = i < READ_KEYS - 50 ? (int)(rand_r(&seed) % UPSERT_ROWS)
                                             : UPSERT_ROWS + (int)(rand_r(&seed) % UPSERT_ROWS);
        if (!read_req(req, READ_KEYS))
            continue;
        int first = -1;
        bool bad = false;
        for (int i = 0; i < READ_KEYS && !bad; i++) {
            if (req->ids[i] >= UPSERT_ROWS) {
                if (!isnan(req->v[i])) {
                    note_problem(&mixed, "key %s was never written but reads %g", req->kb[i], (double)req->v[i]);
                    bad = true;
                }
            } else if (isnan(req->v[i])) {
                note_problem(&mixed, "key %s is missing (every key below %d exists)", req->kb[i], UPSERT_ROWS);
                bad = true;
            } else if (first < 0) {
                first = i;
            } else if (req->v[i] != req->v[first]) {
                note_problem(&mixed, "one answer mixes generations: key %s = %g but key %s = %g", req->kb[first],
                             (double)req->v[first], req->kb[i], (double)req->v[i]);
                bad = true;
            }
        }
        atomic_fetch_add(&answers, 1);
        if (!bad && first >= 0) {
            if (req->v[first] < last_gen)
                note_problem(&went_back, "an answer of generation %g after one of generation %g",
                             (double)req->v[first], (double)last_gen);
            last_gen = req->v[first];
        }
    }
    free(req);
    return NULL;
}

static void stream_write(const char *table, unsigned mode, int first, int n, int parts, float v)
{
    murr_writer *w;
    murr_error e = {0};
    int rc = mode == MURR_WRITE_UPSERT ? murr_write_begin(db, table, &w, &e)
                                       : murr_write_begin_opt(db, table, mode, "stream", &w, &e);
    cr_assert_eq(rc, 0, "%s", e.message);
    for (int p = 0; p < parts; p++) {
        mr_batch_t *b = tu_batch_id_cols(KEY_FMT, first + p * (n / parts), n / parts, NCOLS, v);
        cr_assert_eq(murr_writer_append(w, b, &e), 0, "%s", e.message);
        mr_batch_free(b);
    }
    cr_assert_eq(murr_writer_commit(w, &e), 0, "%s", e.message);
}

/* Keys first..first+n-1 = g: odd g in one murr_write, even g streamed in 4 batches. */
static void upsert_gen(int g, int first, int n)
{
    if (g % 2)
        write_range("t", first, n, (float)g);
    else
        stream_write("t", MURR_WRITE_UPSERT, first, n, 4, (float)g);
}

static void report(const char *what)
{
    printf("%s: %ld answers checked, %ld mixed, %ld torn rows, %ld went back in time, %ld read errors\n", what,
           atomic_load(&answers), atomic_load(&mixed), atomic_load(&torn), atomic_load(&went_back),
           atomic_load(&read_errors));
    fflush(stdout);
}

static void assert_clean(void)
{
    cr_assert_gt(atomic_load(&answers), 0, "no answer was checked");
    cr_assert_eq(atomic_load(&read_errors), 0, "%ld read errors, first: %s", atomic_load(&read_errors),
                 first_problem);
    cr_assert_eq(atomic_load(&torn), 0, "%ld torn rows, first: %s", atomic_load(&torn), first_problem);
    cr_assert_eq(atomic_load(&mixed), 0, "%ld of %ld answers were not one write's, first: %s", atomic_load(&mixed),
                 atomic_load(&answers), first_problem);
    cr_assert_eq(atomic_load(&went_back), 0, "%ld answers older than the reader's previous one, first: %s",
                 atomic_load(&went_back), first_problem);
}

/* Runs `writes` on this thread while 2 threads run `reader` until it returns; checks what
 * the readers counted. */
static void run_with_readers(void *(*reader)(void *), void (*writes)(void), const char *what)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1)), 0);
    writes();
    atomic_store(&writer_done, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    report(what);
    assert_clean();
}

TestSuite(snapshot, .init = setup_snapshot, .fini = teardown, .timeout = 300);

static void overwrites(void)
{
    for (int g = 1; g <= UPSERT_GENS; g++)
        upsert_gen(g, 0, UPSERT_ROWS);
}

Test(snapshot, upsert_is_atomic_for_readers)
{
    reset_counters();
    write_range("t", 0, UPSERT_ROWS, 0.0f);
    run_with_readers(upsert_reader, overwrites, "upsert");
    /* the last generation is everywhere */
    req_t *req = malloc(sizeof(*req));
    for (int i = 0; i < READ_KEYS; i++)
        req->ids[i] = i * (UPSERT_ROWS / READ_KEYS);
    cr_assert(read_req(req, READ_KEYS), "%s", first_problem);
    for (int i = 0; i < READ_KEYS; i++)
        cr_assert_eq(req->v[i], (float)UPSERT_GENS, "key %s: expected %d, got %g", req->kb[i], UPSERT_GENS,
                     (double)req->v[i]);
    free(req);
}

/* ---- b. first inserts ---------------------------------------------------------------- */

#define INSERT_ROWS 100000
#define INSERT_ROUNDS 6

static _Atomic int insert_round; /* the round being written: it inserts [r*N, (r+1)*N) = r */

/* 100 keys of the initial rows (value 0) and 900 of the round being written: those are
 * all present (value r) or all missing. */
static void *insert_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 104729u;
    req_t *req = malloc(sizeof(*req));
    int seen_all_round = -1;
    while (!atomic_load(&writer_done)) {
        int r = atomic_load(&insert_round);
        for (int i = 0; i < READ_KEYS; i++)
            req->ids[i] = i % 10 == 0 ? (int)(rand_r(&seed) % INSERT_ROWS)
                                      : r * INSERT_ROWS + (int)(rand_r(&seed) % INSERT_ROWS);
        if (!read_req(req, READ_KEYS))
            continue;
        int present = 0, absent = 0, first_present = -1, first_absent = -1;
        bool bad = false;
        for (int i = 0; i < READ_KEYS && !bad; i++) {
            if (i % 10 == 0) {
                if (req->v[i] != 0.0f) {
                    note_problem(&mixed, "initial key %s: expected 0, got %g", req->kb[i], (double)req->v[i]);
                    bad = true;
                }
            } else if (isnan(req->v[i])) {
                absent++;
                if (first_absent < 0)
                    first_absent = i;
            } else if (req->v[i] != (float)r) {
                note_problem(&mixed, "key %s of round %d reads %g", req->kb[i], r, (double)req->v[i]);
                bad = true;
            } else {
                present++;
                if (first_present < 0)
                    first_present = i;
            }
        }
        if (!bad && present && absent)
            note_problem(&mixed, "round %d: %d of the round's keys present (e.g. %s), %d missing (e.g. %s)", r,
                         present, req->kb[first_present], absent, req->kb[first_absent]);
        if (!bad && absent == 0)
            seen_all_round = r;
        else if (!bad && present == 0 && seen_all_round == r)
            note_problem(&went_back, "round %d: its keys were all present, then all missing", r);
        atomic_fetch_add(&answers, 1);
    }
    free(req);
    return NULL;
}

static void inserts(void)
{
    for (int r = 1; r <= INSERT_ROUNDS; r++) {
        atomic_store(&insert_round, r);
        upsert_gen(r, r * INSERT_ROWS, INSERT_ROWS);
    }
}

Test(snapshot, inserts_are_atomic_for_readers)
{
    reset_counters();
    write_range("t", 0, INSERT_ROWS, 0.0f);
    run_with_readers(insert_reader, inserts, "insert");
    murr_table_stats st;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, (uint64_t)(INSERT_ROUNDS + 1) * INSERT_ROWS, "rows: %llu", (unsigned long long)st.rows);
}

/* ---- c. replaces --------------------------------------------------------------------- */

/* A: keys 0..49999 = 1; B: keys 25000..74999 = 2; reads cover 0..99999. */
#define SET_ROWS 50000
#define B_FIRST 25000
#define REPLACE_KEYS 100000
#define REPLACES 20

static _Atomic long seen_a, seen_b;

static float expect_in(int set, int id)
{
    if (set == 1)
        return id < SET_ROWS ? 1.0f : NAN;
    return id >= B_FIRST && id < B_FIRST + SET_ROWS ? 2.0f : NAN;
}

static bool same(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

static void *replace_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 15485863u;
    req_t *req = malloc(sizeof(*req));
    while (!atomic_load(&writer_done)) {
        for (int i = 0; i < READ_KEYS; i++)
            req->ids[i] = (int)(rand_r(&seed) % REPLACE_KEYS);
        if (!read_req(req, READ_KEYS))
            continue;
        /* the first key outside the overlap and the never-written tail tells the set */
        int set = 0, which = -1;
        for (int i = 0; i < READ_KEYS && set == 0; i++) {
            int id = req->ids[i];
            if (id < B_FIRST || (id >= SET_ROWS && id < B_FIRST + SET_ROWS) || !isnan(req->v[i])) {
                float v = req->v[i];
                if (same(v, expect_in(1, id)))
                    set = 1;
                else if (same(v, expect_in(2, id)))
                    set = 2;
                else
                    set = -1;
                which = i;
            }
        }
        if (set < 0) {
            note_problem(&mixed, "key %s reads %g: neither dataset A nor B", req->kb[which], (double)req->v[which]);
        } else if (set > 0) {
            for (int i = 0; i < READ_KEYS; i++) {
                float want = expect_in(set, req->ids[i]);
                if (!same(req->v[i], want)) {
                    note_problem(&mixed, "an answer of dataset %c (key %s = %g) has key %s = %g, expected %g",
                                 set == 1 ? 'A' : 'B', req->kb[which], (double)req->v[which], req->kb[i],
                                 (double)req->v[i], (double)want);
                    break;
                }
            }
            atomic_fetch_add(set == 1 ? &seen_a : &seen_b, 1);
        }
        atomic_fetch_add(&answers, 1);
    }
    free(req);
    return NULL;
}

static void replace_range(const char *table, int first, int n, float v, const char *source)
{
    mr_batch_t *b = tu_batch_id_cols(KEY_FMT, first, n, NCOLS, v);
    const murr_batch *bs[] = {b};
    murr_error e = {0};
    cr_assert_eq(murr_replace(db, table, bs, 1, source, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

/* B, A, B, ...: two by murr_replace, two streamed, and so on */
static void replaces(void)
{
    for (int i = 1; i <= REPLACES; i++) {
        bool b = i % 2;
        int first = b ? B_FIRST : 0;
        float v = b ? 2.0f : 1.0f;
        if ((i / 2) % 2)
            stream_write("t", MURR_WRITE_REPLACE, first, SET_ROWS, 2, v);
        else
            replace_range("t", first, SET_ROWS, v, b ? "B" : "A");
    }
}

Test(snapshot, replace_is_atomic_for_readers)
{
    reset_counters();
    replace_range("t", 0, SET_ROWS, 1.0f, "A");
    run_with_readers(replace_reader, replaces, "replace");
    printf("replace: %ld answers of A, %ld of B\n", atomic_load(&seen_a), atomic_load(&seen_b));
    cr_assert_eq(atomic_load(&seen_a) + atomic_load(&seen_b), atomic_load(&answers),
                 "every answer is A or B (A %ld, B %ld, answers %ld)", atomic_load(&seen_a), atomic_load(&seen_b),
                 atomic_load(&answers));
    cr_assert(atomic_load(&seen_a) > 0 && atomic_load(&seen_b) > 0, "readers saw only one dataset (A %ld, B %ld)",
              atomic_load(&seen_a), atomic_load(&seen_b));
    murr_table_stats st;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.version, 2 + REPLACES, "serving version %llu", (unsigned long long)st.version);
    cr_assert_eq(st.rows, SET_ROWS, "rows %llu", (unsigned long long)st.rows);
}

/* ---- d. versions --------------------------------------------------------------------- */

static void setup_versions(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("versions");
    open_keep(1);
    create_cols_table("t");
}

TestSuite(versions, .init = setup_versions, .fini = teardown, .timeout = 120);

typedef struct {
    murr_version_info *v;
    size_t n;
} vlist_t;

static vlist_t list_versions(const char *table)
{
    vlist_t l;
    murr_error e = {0};
    cr_assert_eq(murr_list_versions(db, table, &l.v, &l.n, &e), 0, "%s", e.message);
    return l;
}

static uint64_t serving_id(const char *table)
{
    vlist_t l = list_versions(table);
    uint64_t id = 0;
    int serving = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].serving) {
            id = l.v[i].id;
            serving++;
        }
    murr_free(l.v);
    cr_assert_eq(serving, 1, "%d versions marked serving", serving);
    murr_table_stats st;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, table, &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.version, id, "stats.version %llu, the list says %llu serves", (unsigned long long)st.version,
                 (unsigned long long)id);
    return id;
}

/* The versions listed are exactly ids[0..n) (newest first), `serving` among them, with
 * these row counts and sources (NULL: not checked). */
static void expect_versions(const char *table, uint64_t serving, size_t n, const uint64_t *ids,
                            const uint64_t *rows, const char *const *sources)
{
    vlist_t l = list_versions(table);
    char got[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < l.n && len + 32 < sizeof(got); i++)
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%llu%s", i ? ", " : "",
                                (unsigned long long)l.v[i].id, l.v[i].serving ? " (serving)" : "");
    cr_assert_eq(l.n, n, "expected %zu versions, got %zu: %s", n, l.n, got);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(l.v[i].id, ids[i], "version %zu: expected id %llu, got %llu (%s)", i,
                     (unsigned long long)ids[i], (unsigned long long)l.v[i].id, got);
        cr_assert_eq(l.v[i].serving, ids[i] == serving, "version %llu: serving %d, expected %llu to serve (%s)",
                     (unsigned long long)ids[i], l.v[i].serving, (unsigned long long)serving, got);
        if (rows)
            cr_assert_eq(l.v[i].rows, rows[i], "version %llu: expected %llu rows, got %llu",
                         (unsigned long long)ids[i], (unsigned long long)rows[i], (unsigned long long)l.v[i].rows);
        if (sources)
            cr_assert_str_eq(l.v[i].source, sources[i], "version %llu: source '%s', expected '%s'",
                             (unsigned long long)ids[i], l.v[i].source, sources[i]);
    }
    murr_free(l.v);
    cr_assert_eq(serving_id(table), serving);
}

/* Reads c0 of printf(fmt, first + i) for n keys: every one must be `want` (NaN: missing). */
static void expect_values(const char *table, const char *fmt, int first, int n, float want)
{
    for (int i = 0; i < n; i++) {
        char kb[16];
        snprintf(kb, sizeof(kb), fmt, first + i);
        const char *keys[] = {kb};
        size_t lens[] = {strlen(kb)};
        const char *cols[] = {"c0", "c3"};
        murr_batch *b;
        murr_error e = {0};
        cr_assert_eq(murr_read(db, table, keys, lens, 1, cols, 2, &b, &e), 0, "%s", e.message);
        for (int c = 0; c < 2; c++) {
            float got = murr_column_is_valid(&b->columns[c], 0) ? ((float *)b->columns[c].values)[0] : NAN;
            cr_assert(same(got, want), "key %s column %s: expected %g, got %g", kb, cols[c], (double)want,
                      (double)got);
        }
        murr_batch_free(b);
    }
}

static void replace_fmt(const char *table, const char *fmt, int n, float v, const char *source)
{
    mr_batch_t *b = tu_batch_id_cols(fmt, 0, n, NCOLS, v);
    const murr_batch *bs[] = {b};
    murr_error e = {0};
    cr_assert_eq(murr_replace(db, table, bs, 1, source, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

static void write_fmt(const char *table, const char *fmt, int n, float v)
{
    mr_batch_t *b = tu_batch_id_cols(fmt, 0, n, NCOLS, v);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, table, b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The table's directory holds what its versions need and nothing else: a subdirectory
 * v<id> for every listed version id > 1 and no other subdirectory; segment files at the
 * top (version 1's) only while version 1 is listed. */
/* "2 entries: 00000001.seg, ..." for a message. */
static void describe_dir(const char *path, char *out, size_t cap)
{
    DIR *d = opendir(path);
    size_t len = 0, n = 0;
    char names[400] = "";
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (len + strlen(de->d_name) + 8 < sizeof(names))
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", n ? ", " : "", de->d_name);
        n++;
    }
    if (d)
        closedir(d);
    snprintf(out, cap, "%zu entries%s%s", n, n ? ": " : "", names);
}

static void expect_tree_matches_versions(const char *table)
{
    mr_epoch_drain(); /* stores of pruned versions go when no reader can use them */
    vlist_t l = list_versions(table);
    bool v1 = false;
    for (size_t i = 0; i < l.n; i++)
        v1 |= l.v[i].id == 1;
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, table);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    size_t subdirs = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[1200];
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        struct stat st;
        cr_assert_eq(stat(p, &st), 0, "stat %s", p);
        if (S_ISDIR(st.st_mode)) {
            char *end;
            unsigned long long id = de->d_name[0] == 'v' ? strtoull(de->d_name + 1, &end, 10) : 0;
            bool listed = false;
            for (size_t i = 0; i < l.n; i++)
                listed |= id > 1 && l.v[i].id == id && *end == '\0';
            char what[512];
            describe_dir(p, what, sizeof(what));
            cr_assert(listed, "%s/%s: a directory that no listed version owns (%s)", table, de->d_name, what);
            subdirs++;
        } else if (ends_with(de->d_name, ".seg")) {
            cr_assert(v1, "%s/%s: a segment file of version 1, which is not listed", table, de->d_name);
        }
    }
    closedir(d);
    cr_assert_eq(subdirs, l.n - (v1 ? 1 : 0), "%zu version directories for %zu versions (version 1 listed: %d)",
                 subdirs, l.n, v1);
    murr_free(l.v);
}

Test(versions, create_is_version_1)
{
    uint64_t ids[] = {1}, rows[] = {0};
    const char *src[] = {"create"};
    expect_versions("t", ids[0], 1, ids, rows, src);
    vlist_t l = list_versions("t");
    time_t now = time(NULL);
    cr_assert(l.v[0].created > now - 60 && l.v[0].created <= now, "created %lld, now %lld",
              (long long)l.v[0].created, (long long)now);
    murr_free(l.v);
    murr_version_info *v;
    size_t n;
    murr_error e = {0};
    cr_assert_eq(murr_list_versions(db, "nope", &v, &n, &e), MURR_ENOTFOUND);
    cr_assert_eq(murr_rollback(db, "nope", 0, NULL, &e), MURR_ENOTFOUND);
    cr_assert_eq(murr_replace(db, "nope", NULL, 0, NULL, &e), MURR_ENOTFOUND);
    murr_writer *w;
    cr_assert_eq(murr_write_begin_opt(db, "nope", MURR_WRITE_REPLACE, NULL, &w, &e), MURR_ENOTFOUND);
    expect_tree_matches_versions("t");
}

Test(versions, replace_serves_a_new_version_and_keeps_the_old_one)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    time_t t0 = time(NULL);
    replace_fmt("t", "b%04d", 5, 2.0f, "test");
    uint64_t ids[] = {2, 1}, rows[] = {5, 10};
    const char *src[] = {"test", "create"};
    expect_versions("t", ids[0], 2, ids, rows, src);
    vlist_t l = list_versions("t");
    cr_assert(l.v[0].created >= t0 && l.v[0].created <= time(NULL), "created %lld", (long long)l.v[0].created);
    cr_assert_gt(l.v[0].bytes, 0, "the serving version's bytes");
    cr_assert_gt(l.v[1].bytes, 0, "the kept version's bytes");
    murr_free(l.v);
    expect_values("t", "a%04d", 0, 10, NAN);
    expect_values("t", "b%04d", 0, 5, 2.0f);
    murr_table_stats st;
    murr_error e = {0};
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, 5);
    cr_assert_eq(st.version, 2);
    expect_tree_matches_versions("t");
    /* NULL source: "api"; an empty replace empties the table */
    cr_assert_eq(murr_replace(db, "t", NULL, 0, NULL, &e), 0, "%s", e.message);
    uint64_t ids3[] = {3, 2}, rows3[] = {0, 5};
    const char *src3[] = {"api", "test"};
    expect_versions("t", ids3[0], 2, ids3, rows3, src3);
    expect_values("t", "b%04d", 0, 5, NAN);
}

Test(versions, keep_versions_1_prunes_older_versions)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    replace_fmt("t", "c%04d", 30, 3.0f, "three");
    uint64_t ids[] = {3, 2}, rows[] = {30, 20};
    const char *src[] = {"three", "two"};
    expect_versions("t", ids[0], 2, ids, rows, src);
    expect_values("t", "c%04d", 0, 30, 3.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    expect_values("t", "a%04d", 0, 10, NAN);
    expect_tree_matches_versions("t");
    murr_error e = {0};
    cr_assert_eq(murr_rollback(db, "t", 1, NULL, &e), MURR_ENOTFOUND, "version 1 was pruned");
    replace_fmt("t", "d%04d", 40, 4.0f, "four");
    uint64_t ids4[] = {4, 3}, rows4[] = {40, 30};
    expect_versions("t", ids4[0], 2, ids4, rows4, NULL);
    expect_tree_matches_versions("t");
}

Test(versions, rollback)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    /* upserts go to the serving version: version 2 now holds b0..b19 = 2 and x0..x2 = 9 */
    write_fmt("t", "x%04d", 3, 9.0f);
    replace_fmt("t", "c%04d", 30, 3.0f, "three");
    uint64_t serving = 0;
    murr_error e = {0};
    cr_assert_eq(murr_rollback(db, "t", 0, &serving, &e), 0, "%s", e.message);
    cr_assert_eq(serving, 2);
    uint64_t ids[] = {3, 2}, rows[] = {30, 23};
    const char *src[] = {"three", "two"};
    expect_versions("t", 2, 2, ids, rows, src);
    expect_values("t", "b%04d", 0, 20, 2.0f);
    expect_values("t", "x%04d", 0, 3, 9.0f);
    expect_values("t", "b%04d", 20, 5, NAN);
    expect_values("t", "c%04d", 0, 30, NAN);
    expect_values("t", "a%04d", 0, 10, NAN);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, 23);
    expect_tree_matches_versions("t");
    /* nothing older than 2 is kept (3 is newer) */
    serving = 77;
    int rc = murr_rollback(db, "t", 0, &serving, &e);
    cr_assert_eq(rc, MURR_ECONFLICT, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    cr_assert_eq(serving, 77, "*serving is set only on success");
    cr_assert_eq(serving_id("t"), 2);
    /* unknown ids */
    rc = murr_rollback(db, "t", 99, NULL, &e);
    cr_assert_eq(rc, MURR_ENOTFOUND, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    rc = murr_rollback(db, "t", 1, NULL, &e);
    cr_assert_eq(rc, MURR_ENOTFOUND, "version 1 was pruned: rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    cr_assert_eq(serving_id("t"), 2);
    expect_values("t", "b%04d", 0, 20, 2.0f);
    /* a specific id, forward: version 3 serves again, 2 is kept */
    cr_assert_eq(murr_rollback(db, "t", 3, &serving, &e), 0, "%s", e.message);
    cr_assert_eq(serving, 3);
    uint64_t ids3[] = {3, 2}, rows3[] = {30, 23};
    expect_versions("t", ids3[0], 2, ids3, rows3, NULL);
    expect_values("t", "c%04d", 0, 30, 3.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    expect_values("t", "x%04d", 0, 3, NAN);
    expect_tree_matches_versions("t");
    /* and back with 0 */
    cr_assert_eq(murr_rollback(db, "t", 0, &serving, &e), 0, "%s", e.message);
    cr_assert_eq(serving, 2);
    expect_values("t", "x%04d", 0, 3, 9.0f);
}

Test(versions, rollback_of_a_new_table_conflicts)
{
    murr_error e = {0};
    uint64_t serving = 0;
    int rc = murr_rollback(db, "t", 0, &serving, &e);
    cr_assert_eq(rc, MURR_ECONFLICT, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    cr_assert_eq(serving, 0, "*serving is set only on success");
    uint64_t ids[] = {1};
    expect_versions("t", ids[0], 1, ids, NULL, NULL);
}

Test(versions, keep_versions_0_keeps_only_the_serving_version)
{
    murr_close(db);
    open_keep(0);
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    uint64_t ids[] = {2}, rows[] = {20};
    expect_versions("t", ids[0], 1, ids, rows, NULL);
    expect_tree_matches_versions("t");
    murr_error e = {0};
    int rc = murr_rollback(db, "t", 0, NULL, &e);
    cr_assert_eq(rc, MURR_ECONFLICT, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    rc = murr_rollback(db, "t", 1, NULL, &e);
    cr_assert_eq(rc, MURR_ENOTFOUND, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    replace_fmt("t", "c%04d", 30, 3.0f, "three");
    uint64_t ids3[] = {3}, rows3[] = {30};
    expect_versions("t", ids3[0], 1, ids3, rows3, NULL);
    expect_tree_matches_versions("t");
    expect_values("t", "c%04d", 0, 30, 3.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
}

Test(versions, versions_survive_a_restart)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    replace_fmt("t", "c%04d", 30, 3.0f, "three");
    murr_error e = {0};
    cr_assert_eq(murr_rollback(db, "t", 0, NULL, &e), 0, "%s", e.message);
    murr_close(db);
    open_keep(1);
    uint64_t ids[] = {3, 2}, rows[] = {30, 20};
    const char *src[] = {"three", "two"};
    expect_versions("t", 2, 2, ids, rows, src);
    expect_values("t", "b%04d", 0, 20, 2.0f);
    expect_values("t", "c%04d", 0, 30, NAN);
    expect_tree_matches_versions("t");
    uint64_t serving = 0;
    cr_assert_eq(murr_rollback(db, "t", 3, &serving, &e), 0, "%s", e.message);
    cr_assert_eq(serving, 3);
    expect_values("t", "c%04d", 0, 30, 3.0f);
    /* ids go on after a restart */
    replace_fmt("t", "d%04d", 4, 4.0f, "four");
    murr_close(db);
    open_keep(1);
    uint64_t ids4[] = {4, 3}, rows4[] = {4, 30};
    const char *src4[] = {"four", "three"};
    expect_versions("t", ids4[0], 2, ids4, rows4, src4);
    expect_values("t", "d%04d", 0, 4, 4.0f);
    expect_values("t", "c%04d", 0, 30, NAN);
    expect_tree_matches_versions("t");
}

/* A streaming replace of n keys printf(fmt, i) = v, appended, not committed. */
static murr_writer *open_replace(const char *fmt, int n, float v, const char *source)
{
    murr_writer *w;
    murr_error e = {0};
    cr_assert_eq(murr_write_begin_opt(db, "t", MURR_WRITE_REPLACE, source, &w, &e), 0, "%s", e.message);
    mr_batch_t *b = tu_batch_id_cols(fmt, 0, n, NCOLS, v);
    cr_assert_eq(murr_writer_append(w, b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    return w;
}

/* Version 1 alone serves a0000..a0009 = 1; nothing of b0000..b0019 is there or on disk. */
static void expect_only_version_1(void)
{
    uint64_t ids[] = {1}, rows[] = {10};
    const char *src[] = {"create"};
    expect_versions("t", 1, 1, ids, rows, src);
    expect_values("t", "a%04d", 0, 10, 1.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    expect_tree_matches_versions("t");
}

/* A replace that is aborted or fails leaves the list and the data as they were; the next
 * replace works (its id is new: ids are not reused, not even a failed one's). */
Test(versions, aborted_and_failed_replaces_leave_no_trace)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    murr_error e = {0};
    murr_writer_abort(open_replace("b%04d", 20, 2.0f, "aborted"));
    expect_only_version_1();
    /* failed: a batch with a null key (and without c0..c3) after a good one */
    const char *keys[] = {"ok", NULL};
    float scores[] = {5.0f, 6.0f};
    mr_batch_t *bad = tu_batch_id_score(keys, scores, 2);
    mr_batch_t *good = tu_batch_id_cols("b%04d", 0, 20, NCOLS, 2.0f);
    const murr_batch *bads[] = {good, bad};
    int rc = murr_replace(db, "t", bads, 2, "failed", &e);
    cr_assert_eq(rc, MURR_EINVAL, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    expect_only_version_1();
    /* failed: a streaming append refused, then abort */
    murr_writer *w = open_replace("b%04d", 20, 2.0f, "failed");
    rc = murr_writer_append(w, bad, &e);
    cr_assert_eq(rc, MURR_EINVAL, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    murr_writer_abort(w);
    expect_only_version_1();
    murr_close(db);
    open_keep(1);
    expect_only_version_1();
    /* a replace now succeeds */
    replace_fmt("t", "c%04d", 3, 3.0f, "ok");
    vlist_t l = list_versions("t");
    cr_assert_eq(l.n, 2);
    cr_assert(l.v[0].serving && l.v[0].id > 1 && strcmp(l.v[0].source, "ok") == 0, "serving %llu '%s'",
              (unsigned long long)l.v[0].id, l.v[0].source);
    cr_assert(!l.v[1].serving && l.v[1].id == 1 && l.v[1].rows == 10, "kept %llu rows %llu",
              (unsigned long long)l.v[1].id, (unsigned long long)l.v[1].rows);
    murr_free(l.v);
    expect_values("t", "c%04d", 0, 3, 3.0f);
    expect_tree_matches_versions("t");
    mr_batch_free(good);
    mr_batch_free(bad);
}

/* Upserts before a replace's commit go to the serving version (and are kept with it, not
 * in the new one); upserts after it go to the new version. */
Test(versions, upserts_around_a_replace)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    murr_error e = {0};
    murr_writer *w = open_replace("b%04d", 20, 2.0f, "stream");
    write_fmt("t", "x%04d", 3, 9.0f); /* while the replace is open */
    expect_values("t", "x%04d", 0, 3, 9.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    cr_assert_eq(murr_writer_commit(w, &e), 0, "%s", e.message);
    expect_values("t", "b%04d", 0, 20, 2.0f);
    expect_values("t", "x%04d", 0, 3, NAN);
    expect_values("t", "a%04d", 0, 10, NAN);
    write_fmt("t", "y%04d", 4, 8.0f); /* after: into version 2 */
    uint64_t ids[] = {2, 1}, rows[] = {24, 13};
    expect_versions("t", ids[0], 2, ids, rows, NULL);
    expect_values("t", "y%04d", 0, 4, 8.0f);
    cr_assert_eq(murr_rollback(db, "t", 0, NULL, &e), 0, "%s", e.message);
    expect_values("t", "x%04d", 0, 3, 9.0f);
    expect_values("t", "a%04d", 0, 10, 1.0f);
    expect_values("t", "y%04d", 0, 4, NAN);
    write_fmt("t", "z%04d", 2, 7.0f); /* into version 1, serving again */
    cr_assert_eq(murr_rollback(db, "t", 2, NULL, &e), 0, "%s", e.message);
    expect_values("t", "y%04d", 0, 4, 8.0f);
    expect_values("t", "z%04d", 0, 2, NAN);
    uint64_t ids2[] = {2, 1}, rows2[] = {24, 15};
    expect_versions("t", ids2[0], 2, ids2, rows2, NULL);
    /* compaction works on the serving version after all this */
    write_fmt("t", "y%04d", 4, 6.0f);
    cr_assert_eq(murr_compact(db, "t", &e), 0, "%s", e.message);
    expect_values("t", "y%04d", 0, 4, 6.0f);
    expect_values("t", "b%04d", 0, 20, 2.0f);
}

/* An upsert writer that began on version 1 commits after a replace made version 2 serve
 * and a rollback made version 1 serve again (reopened from its files): its rows land in
 * version 1 ("an upsert that committed to the old version after the swap began lands in
 * the kept version"), so they are read now, and after a restart, with the table intact. */
static void *replace_then_rollback(void *arg)
{
    int *rc = arg;
    mr_batch_t *b = tu_batch_id_cols("b%04d", 0, 20, NCOLS, 2.0f);
    const murr_batch *bs[] = {b};
    murr_error e = {0};
    rc[0] = murr_replace(db, "t", bs, 1, "two", &e);
    mr_batch_free(b);
    uint64_t serving = 0;
    rc[1] = rc[0] ? -1 : murr_rollback(db, "t", 0, &serving, &e);
    rc[2] = (int)serving;
    return NULL;
}

Test(versions, upsert_open_across_a_replace_and_a_rollback)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    murr_error e = {0};
    murr_writer *w;
    cr_assert_eq(murr_write_begin(db, "t", &w, &e), 0, "%s", e.message);
    mr_batch_t *b = tu_batch_id_cols("x%04d", 0, 3, NCOLS, 9.0f);
    cr_assert_eq(murr_writer_append(w, b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    int rc[3] = {-2, -2, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, replace_then_rollback, rc), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    bool waited = pthread_timedjoin_np(th, NULL, &until) != 0; /* the engine may make them wait for w */
    int crc = murr_writer_commit(w, &e);
    if (waited)
        pthread_join(th, NULL);
    printf("upsert across replace+rollback: replace/rollback %s for the open writer, commit rc %d\n",
           waited ? "waited" : "did not wait", crc);
    cr_assert_eq(rc[0], 0, "replace: rc %d", rc[0]);
    cr_assert_eq(rc[1], 0, "rollback: rc %d", rc[1]);
    cr_assert_eq(rc[2], 1, "serving after the rollback: %d", rc[2]);
    cr_assert_eq(crc, 0, "the writer's commit: rc %d (%s): %s", crc, murr_status_name(crc), e.message);
    expect_values("t", "a%04d", 0, 10, 1.0f);
    expect_values("t", "x%04d", 0, 3, 9.0f);
    write_fmt("t", "y%04d", 4, 8.0f);
    expect_values("t", "y%04d", 0, 4, 8.0f);
    murr_close(db);
    open_keep(1);
    uint64_t ids[] = {2, 1};
    expect_versions("t", 1, 2, ids, NULL, NULL);
    expect_values("t", "a%04d", 0, 10, 1.0f);
    expect_values("t", "x%04d", 0, 3, 9.0f);
    expect_values("t", "y%04d", 0, 4, 8.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    murr_table_stats st;
    cr_assert_eq(murr_table_stats_get(db, "t", &st, &e), 0, "%s", e.message);
    cr_assert_eq(st.rows, 17, "rows %llu", (unsigned long long)st.rows);
}

Test(versions, drop_and_create_start_again_at_version_1)
{
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    replace_fmt("t", "c%04d", 30, 3.0f, "three");
    murr_error e = {0};
    cr_assert_eq(murr_drop_table(db, "t", &e), 0, "%s", e.message);
    murr_version_info *v;
    size_t n;
    cr_assert_eq(murr_list_versions(db, "t", &v, &n, &e), MURR_ENOTFOUND);
    create_cols_table("t");
    uint64_t ids[] = {1}, rows[] = {0};
    const char *src[] = {"create"};
    expect_versions("t", ids[0], 1, ids, rows, src);
    expect_values("t", "c%04d", 0, 30, NAN);
    expect_values("t", "b%04d", 0, 20, NAN);
    expect_values("t", "a%04d", 0, 10, NAN);
    int rc = murr_rollback(db, "t", 0, NULL, &e);
    cr_assert_eq(rc, MURR_ECONFLICT, "rc %d (%s): %s", rc, murr_status_name(rc), e.message);
    rc = murr_rollback(db, "t", 2, NULL, &e);
    cr_assert_eq(rc, MURR_ENOTFOUND, "the dropped table's version 2: rc %d (%s): %s", rc, murr_status_name(rc),
                 e.message);
    expect_tree_matches_versions("t");
    replace_fmt("t", "d%04d", 5, 4.0f, "again");
    uint64_t ids2[] = {2, 1}, rows2[] = {5, 0};
    expect_versions("t", ids2[0], 2, ids2, rows2, NULL);
    murr_close(db);
    open_keep(1);
    expect_versions("t", ids2[0], 2, ids2, rows2, NULL);
    expect_values("t", "d%04d", 0, 5, 4.0f);
    expect_values("t", "c%04d", 0, 30, NAN);
    expect_tree_matches_versions("t");
}

/* ---- e. a crash during a replace ------------------------------------------------------ */

static void setup_crash(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("replcrash");
    open_keep(1);
    create_cols_table("t");
    write_fmt("t", "a%04d", 10, 1.0f);
    replace_fmt("t", "b%04d", 20, 2.0f, "two");
    murr_close(db); /* the child opens the directory */
    db = NULL;
}

static void teardown_crash(void)
{
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(replace_crash, .init = setup_crash, .fini = teardown_crash, .timeout = 120);

/* In the child: opens with small segments (the new version spans several files). */
static murr_db *child_open(void)
{
    murr_options o = opts_keep(1);
    o.sync_writes = true;
    o.segment_max_bytes = 1 << 16;
    murr_db *cdb;
    murr_error e = {0};
    if (murr_open(dir, &o, &cdb, &e) != 0)
        _exit(3);
    return cdb;
}

static int run_child(void (*fn)(void))
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        fn();
        _exit(9);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void child_replace_without_commit(void)
{
    murr_db *cdb = child_open();
    murr_writer *w;
    murr_error e = {0};
    if (murr_write_begin_opt(cdb, "t", MURR_WRITE_REPLACE, "crash", &w, &e) != 0)
        _exit(4);
    for (int p = 0; p < 4; p++) {
        mr_batch_t *b = tu_batch_id_cols("c%05d", p * 5000, 5000, NCOLS, 3.0f);
        if (murr_writer_append(w, b, &e) != 0)
            _exit(5);
        mr_batch_free(b);
    }
    _exit(0); /* no commit, no abort, no close */
}

static void child_killed_after_replace(void)
{
    murr_db *cdb = child_open();
    mr_batch_t *b = tu_batch_id_cols("c%05d", 0, 20000, NCOLS, 3.0f);
    const murr_batch *bs[] = {b};
    murr_error e = {0};
    if (murr_replace(cdb, "t", bs, 1, "crash", &e) != 0)
        _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5);
}

Test(replace_crash, exit_before_commit_keeps_the_serving_version)
{
    int status = run_child(child_replace_without_commit);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    open_keep(1);
    uint64_t ids[] = {2, 1}, rows[] = {20, 10};
    const char *src[] = {"two", "create"};
    expect_versions("t", ids[0], 2, ids, rows, src);
    expect_values("t", "b%04d", 0, 20, 2.0f);
    expect_values("t", "c%05d", 0, 20, NAN);
    expect_values("t", "c%05d", 19990, 10, NAN);
    expect_tree_matches_versions("t");
    /* and a replace works afterwards */
    replace_fmt("t", "d%04d", 5, 4.0f, "after");
    vlist_t l = list_versions("t");
    cr_assert_eq(l.n, 2);
    cr_assert(l.v[0].serving && l.v[0].id > 2 && l.v[1].id == 2, "serving %llu, kept %llu",
              (unsigned long long)l.v[0].id, (unsigned long long)l.v[1].id);
    murr_free(l.v);
    expect_values("t", "d%04d", 0, 5, 4.0f);
    expect_tree_matches_versions("t");
}

Test(replace_crash, kill_after_replace_returned_serves_the_new_version)
{
    int status = run_child(child_killed_after_replace);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    open_keep(1);
    uint64_t ids[] = {3, 2}, rows[] = {20000, 20};
    const char *src[] = {"crash", "two"};
    expect_versions("t", ids[0], 2, ids, rows, src);
    expect_values("t", "c%05d", 0, 20, 3.0f);
    expect_values("t", "c%05d", 19980, 20, 3.0f);
    expect_values("t", "b%04d", 0, 20, NAN);
    expect_values("t", "a%04d", 0, 10, NAN);
    expect_tree_matches_versions("t");
    murr_error e = {0};
    uint64_t serving = 0;
    cr_assert_eq(murr_rollback(db, "t", 0, &serving, &e), 0, "%s", e.message);
    cr_assert_eq(serving, 2);
    expect_values("t", "b%04d", 0, 20, 2.0f);
}
