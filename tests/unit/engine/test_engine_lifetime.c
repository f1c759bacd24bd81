/* Lifetimes in the engine: reader slots of the epoch (engine/epoch.c) over the life of a
 * process, and a table dropped under its writers. Reader slots: any number of
 * short-lived reader threads (the 1,025th thread that ever read used to abort the
 * process), slots returned at thread exit and reused, more concurrent readers than one
 * block of slots. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/log.h"
#include "core/schema.h"
#include "engine/epoch.h"
#include "engine/testhook.h"
#include "test_util.h"

static char *dir;
static murr_db *db;
static _Atomic int failures;

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    dir = tu_tempdir("epoch");
    murr_options o;
    murr_options_default(&o);
    o.background_compaction = false;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    const char *keys[] = {"a", "b"};
    float scores[] = {1.5f, 2.5f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 2);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
}

static void teardown(void)
{
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(epoch, .init = setup, .fini = teardown);

/* One read, value checked. */
static void *reader(void *arg)
{
    (void)arg;
    const char *k[] = {"b"};
    size_t l[] = {1};
    const char *cols[] = {"score"};
    murr_batch *out;
    murr_error e = {0};
    if (murr_read(db, "t", k, l, 1, cols, 1, &out, &e) != 0) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    if (((float *)out->columns[0].values)[0] != 2.5f)
        atomic_fetch_add(&failures, 1);
    murr_batch_free(out);
    return NULL;
}

static void run_wave(int n)
{
    pthread_t th[64];
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

Test(epoch, five_thousand_short_lived_reader_threads)
{
    uint64_t held0, alloc0;
    reader(NULL); /* this thread holds a slot from here on */
    mr_epoch_slot_counts(&held0, &alloc0);
    for (int w = 0; w < 5000 / 16; w++)
        run_wave(16);
    run_wave(5000 % 16);
    cr_assert_eq(atomic_load(&failures), 0);
    uint64_t held, alloc;
    mr_epoch_slot_counts(&held, &alloc);
    cr_assert_eq(held, held0, "slots held after every reader exited: %llu, before: %llu", (unsigned long long)held,
                 (unsigned long long)held0);
    cr_assert_eq(alloc, alloc0, "exited threads' slots are reused: %llu allocated, %llu before",
                 (unsigned long long)alloc, (unsigned long long)alloc0);
}

/* Readers that stay alive: more than one block of slots held at once. */
static pthread_barrier_t hold_barrier, release_barrier;

static void *holding_reader(void *arg)
{
    reader(arg);
    pthread_barrier_wait(&hold_barrier);    /* every thread has a slot now... */
    pthread_barrier_wait(&release_barrier); /* ...and keeps it until the counts are read */
    return NULL;
}

Test(epoch, more_live_readers_than_a_block)
{
    enum { N = MR_EPOCH_BLOCK + 100 };
    pthread_t *th = calloc(N, sizeof(pthread_t));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&hold_barrier, NULL, N + 1);
    pthread_barrier_init(&release_barrier, NULL, N + 1);
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&th[i], &attr, holding_reader, NULL), 0, "thread %d", i);
    uint64_t held, alloc;
    /* every thread has read once it reaches the barrier */
    pthread_barrier_wait(&hold_barrier);
    mr_epoch_slot_counts(&held, &alloc);
    pthread_barrier_wait(&release_barrier);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    cr_assert_geq(held, (uint64_t)N, "held %llu alloc %llu", (unsigned long long)held, (unsigned long long)alloc);
    cr_assert_geq(alloc, (uint64_t)N);
    cr_assert_eq(atomic_load(&failures), 0);
    /* writes still retire and reclaim with the larger slot set */
    const char *keys[] = {"b"};
    float scores[] = {3.5f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 1);
    murr_error e = {0};
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    cr_assert_eq(murr_compact(db, "t", &e), 0, "%s", e.message);
    mr_batch_free(b);
    pthread_barrier_destroy(&hold_barrier);
    pthread_barrier_destroy(&release_barrier);
    pthread_attr_destroy(&attr);
    free(th);
}

/* Drop against streaming writers of the same table (a writer that had looked the table up
 * but not yet taken its writer lock could be left holding a freed table): writers see the
 * table or "not found", never freed memory (ASan runs this suite), and every write that
 * committed is readable until the next drop. */
static _Atomic bool stop_writers;

static void *stream_writer(void *arg)
{
    (void)arg;
    const char *keys[] = {"w"};
    float scores[] = {7.5f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 1);
    while (!atomic_load(&stop_writers)) {
        murr_writer *w;
        murr_error e = {0};
        int rc = murr_write_begin(db, "d", &w, &e);
        if (rc == MURR_ENOTFOUND)
            continue;
        if (rc != 0 || murr_writer_append(w, b, &e) != 0) {
            if (rc == 0)
                murr_writer_abort(w);
            atomic_fetch_add(&failures, 1);
            continue;
        }
        if (murr_writer_commit(w, &e) != 0)
            atomic_fetch_add(&failures, 1);
    }
    mr_batch_free(b);
    return NULL;
}

Test(epoch, drop_races_streaming_writers)
{
    pthread_t th[3];
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    murr_error e = {0};
    cr_assert_eq(murr_create_table(db, "d", s, &e), 0, "%s", e.message);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, stream_writer, NULL);
    for (int cycle = 0; cycle < 300; cycle++) {
        cr_assert_eq(murr_drop_table(db, "d", &e), 0, "cycle %d: %s", cycle, e.message);
        cr_assert_eq(murr_create_table(db, "d", s, &e), 0, "cycle %d: %s", cycle, e.message);
    }
    atomic_store(&stop_writers, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&failures), 0);
    mr_schema_free(s);
}

/* The same race made deterministic: the drop runs between the writer's lookup and its
 * writer lock. Before the fix the writer got the lock of a retired table, and the table was
 * freed under it at the next collection. */
static void drop_now(const char *name)
{
    murr_error e = {0};
    mr_testhook_write_begin_looked_up = NULL;
    cr_assert_eq(murr_drop_table(db, name, &e), 0, "%s", e.message);
}

Test(epoch, drop_between_lookup_and_writer_lock)
{
    mr_testhook_write_begin_looked_up = drop_now;
    murr_writer *w = NULL;
    murr_error e = {0};
    int rc = murr_write_begin(db, "t", &w, &e);
    mr_epoch_collect(); /* the dropped table is reclaimed here: nobody may hold it */
    if (rc == 0) {      /* the old behaviour: a writer on freed memory */
        const char *keys[] = {"x"};
        float scores[] = {1};
        mr_batch_t *b = tu_batch_id_score(keys, scores, 1);
        murr_writer_append(w, b, &e);
        murr_writer_abort(w);
        mr_batch_free(b);
    }
    cr_assert_eq(rc, MURR_ENOTFOUND, "write_begin on a table dropped under it: rc %d (%s)", rc, e.message);
    cr_assert_str_eq(e.message, "table not found: t");
    char **names;
    size_t n;
    cr_assert_eq(murr_list_tables(db, &names, &n, &e), 0);
    cr_assert_eq(n, 0);
    murr_names_free(names, n);
}
