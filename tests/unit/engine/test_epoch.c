/* Reader slots of the epoch (engine/epoch.c) over the life of a process: any number of
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
