/* test_engine_stress - concurrency test for the tsan preset (Criterion's runtime does not
 * start under TSan, so this is a plain program registered with CTest): two reader threads,
 * a writer, compaction, and create/write/drop cycles of another table, all at once. Readers
 * check that every row they see is whole (columns a == b and s == "v<a>"); at the end the
 * table holds exactly the last value written for every key. Meanwhile a third table only
 * gains keys (GROW_WRITES x GROW_BATCH), so its key directory grows (1,024 -> 32,768 slots,
 * each growth re-hashing every key from its record) under a reader that checks every
 * committed key is found with its own value. Exit 0 = pass. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/schema.h"

#define KEYS 400
#define ROUNDS 200
#define GROW_BATCH 500
#define GROW_WRITES 40

static murr_db *db;
static _Atomic bool stop;
static _Atomic long torn, reads_ok, grow_reads, lost;
static _Atomic int grown; /* keys of table "g" committed so far */

/* A batch of n rows: key printf(kfmt, key(i)), a = b = v(i), s = "v<a>". */
static mr_batch_t *make_rows(int n, const char *kfmt, int (*key)(int, int), int64_t (*val)(int, int), int arg)
{
    mr_batch_t *b = mr_batch_new(4, n);
    mr_colbuilder_t k, a, bb, s;
    mr_colbuilder_init(&k, MURR_UTF8);
    mr_colbuilder_init(&a, MURR_INT64);
    mr_colbuilder_init(&bb, MURR_INT64);
    mr_colbuilder_init(&s, MURR_UTF8);
    for (int r = 0; r < n; r++) {
        char kb[16], vb[32];
        snprintf(kb, sizeof(kb), kfmt, key(arg, r));
        int64_t v = val(arg, r);
        mr_colbuilder_append_str(&k, kb, strlen(kb));
        mr_colbuilder_append_int(&a, v);
        mr_colbuilder_append_int(&bb, v);
        int vl = snprintf(vb, sizeof(vb), "v%lld", (long long)v);
        mr_colbuilder_append_str(&s, vb, (size_t)vl);
    }
    const char *names[] = {"k", "a", "b", "s"};
    mr_colbuilder_t *cbs[] = {&k, &a, &bb, &s};
    for (int c = 0; c < 4; c++) {
        mr_batch_set_name(b, c, names[c], 1);
        mr_colbuilder_finish(cbs[c], b, c);
    }
    return b;
}

static int round_key(int round, int r) { return (round * 37 + r * 7) % KEYS; }
static int64_t round_val(int round, int r) { return (int64_t)round * 1000 + r; }

static mr_batch_t *make_batch(int round) { return make_rows(100, "r%d", round_key, round_val, round); }

static void *reader(void *arg)
{
    (void)arg;
    char kb[64][16];
    const char *keys[64];
    size_t lens[64];
    const char *cols[] = {"a", "b", "s"};
    unsigned seed = (unsigned)(uintptr_t)&kb;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 64; i++) {
            snprintf(kb[i], 16, "r%d", rand_r(&seed) % KEYS);
            keys[i] = kb[i];
            lens[i] = strlen(kb[i]);
        }
        murr_batch *b;
        murr_error e = {0};
        if (murr_read(db, "t", keys, lens, 64, cols, 3, &b, &e) != 0) {
            fprintf(stderr, "read failed: %s\n", e.message);
            atomic_fetch_add(&torn, 1);
            continue;
        }
        for (int r = 0; r < 64; r++) {
            if (!murr_column_is_valid(&b->columns[0], r))
                continue;
            int64_t a = ((int64_t *)b->columns[0].values)[r], bv = ((int64_t *)b->columns[1].values)[r];
            size_t l;
            const uint8_t *s = mr_column_str(&b->columns[2], r, &l);
            char want[32];
            int wl = snprintf(want, sizeof(want), "v%lld", (long long)a);
            if (a != bv || (size_t)wl != l || memcmp(s, want, l) != 0)
                atomic_fetch_add(&torn, 1);
        }
        murr_batch_free(b);
        atomic_fetch_add(&reads_ok, 1);
    }
    return NULL;
}

static int seq_key(int first, int r) { return first + r; }
static int64_t seq_val(int first, int r) { return first + r; }

/* Adds GROW_BATCH new keys n<i> (a = i) per write to table "g". */
static void *grower(void *arg)
{
    (void)arg;
    for (int w = 0; w < GROW_WRITES; w++) {
        mr_batch_t *b = make_rows(GROW_BATCH, "n%d", seq_key, seq_val, w * GROW_BATCH);
        murr_error e = {0};
        if (murr_write(db, "g", b, &e) != 0) {
            fprintf(stderr, "write to g failed: %s\n", e.message);
            exit(1);
        }
        mr_batch_free(b);
        atomic_store(&grown, (w + 1) * GROW_BATCH);
    }
    return NULL;
}

/* Reads random committed keys of "g": each must be there with a = its number. */
static void *grow_reader(void *arg)
{
    (void)arg;
    char kb[64][16];
    const char *keys[64];
    size_t lens[64];
    int want[64];
    const char *cols[] = {"a"};
    unsigned seed = 7;
    while (!atomic_load(&stop)) {
        int n = atomic_load(&grown);
        if (n == 0)
            continue;
        for (int i = 0; i < 64; i++) {
            want[i] = rand_r(&seed) % n;
            snprintf(kb[i], 16, "n%d", want[i]);
            keys[i] = kb[i];
            lens[i] = strlen(kb[i]);
        }
        murr_batch *b;
        murr_error e = {0};
        if (murr_read(db, "g", keys, lens, 64, cols, 1, &b, &e) != 0) {
            fprintf(stderr, "read of g failed: %s\n", e.message);
            atomic_fetch_add(&lost, 1);
            continue;
        }
        for (int r = 0; r < 64; r++)
            if (!murr_column_is_valid(&b->columns[0], r) || ((int64_t *)b->columns[0].values)[r] != want[r])
                atomic_fetch_add(&lost, 1);
        murr_batch_free(b);
        atomic_fetch_add(&grow_reads, 1);
    }
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        mr_batch_t *b = make_batch(round);
        murr_error e = {0};
        if (murr_write(db, "t", b, &e) != 0) {
            fprintf(stderr, "write failed: %s\n", e.message);
            exit(1);
        }
        mr_batch_free(b);
    }
    return NULL;
}

int main(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    char dir[] = "/tmp/murr-stress-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.segment_max_bytes = 1 << 16;
    o.compact_garbage_ratio = 0.2;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0)
        return 1;
    mr_schema_t *s = mr_schema_make("k", "k:utf8", "a:int64", "b:int64", "s:utf8", NULL);
    if (murr_create_table(db, "t", s, &e) != 0)
        return 1;
    if (murr_create_table(db, "g", s, &e) != 0)
        return 1;
    pthread_t rd[2], wr, gw, gr;
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, reader, NULL);
    pthread_create(&wr, NULL, writer, NULL);
    pthread_create(&gr, NULL, grow_reader, NULL);
    pthread_create(&gw, NULL, grower, NULL);
    /* meanwhile: compaction of t, and create/write/drop cycles of another table */
    for (int cycle = 0; cycle < 30; cycle++) {
        if (murr_compact(db, "t", &e) != 0) {
            fprintf(stderr, "compact failed: %s\n", e.message);
            return 1;
        }
        if (murr_create_table(db, "other", s, &e) != 0) {
            fprintf(stderr, "create failed: %s\n", e.message);
            return 1;
        }
        mr_batch_t *b = make_batch(cycle);
        if (murr_write(db, "other", b, &e) != 0)
            return 1;
        mr_batch_free(b);
        if (murr_drop_table(db, "other", &e) != 0)
            return 1;
    }
    pthread_join(wr, NULL);
    pthread_join(gw, NULL);
    while (atomic_load(&grow_reads) < 10) /* at least a few reads of the grown table */
        sched_yield();
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    pthread_join(gr, NULL);
    /* final state: the last write of each key */
    int64_t want[KEYS];
    for (int k = 0; k < KEYS; k++)
        want[k] = -1;
    for (int round = 0; round < ROUNDS; round++)
        for (int r = 0; r < 100; r++)
            want[round_key(round, r)] = round_val(round, r);
    int bad = 0;
    for (int k = 0; k < KEYS; k++) {
        char kb[16];
        snprintf(kb, sizeof(kb), "r%d", k);
        const char *keys[] = {kb};
        size_t lens[] = {strlen(kb)};
        const char *cols[] = {"a"};
        murr_batch *b;
        if (murr_read(db, "t", keys, lens, 1, cols, 1, &b, &e) != 0)
            return 1;
        int64_t got = murr_column_is_valid(&b->columns[0], 0) ? ((int64_t *)b->columns[0].values)[0] : -1;
        if (got != want[k]) {
            fprintf(stderr, "key %s: got %lld want %lld\n", kb, (long long)got, (long long)want[k]);
            bad++;
        }
        murr_batch_free(b);
    }
    for (int k = 0; k < GROW_WRITES * GROW_BATCH; k++) { /* every key of the grown table, once */
        char kb[16];
        snprintf(kb, sizeof(kb), "n%d", k);
        const char *keys[] = {kb};
        size_t lens[] = {strlen(kb)};
        const char *cols[] = {"a"};
        murr_batch *b;
        if (murr_read(db, "g", keys, lens, 1, cols, 1, &b, &e) != 0)
            return 1;
        if (!murr_column_is_valid(&b->columns[0], 0) || ((int64_t *)b->columns[0].values)[0] != k) {
            fprintf(stderr, "table g, key %s: missing or wrong\n", kb);
            bad++;
        }
        murr_batch_free(b);
    }
    murr_table_stats st;
    if (murr_table_stats_get(db, "g", &st, &e) != 0)
        return 1;
    if (st.rows != GROW_WRITES * GROW_BATCH) {
        fprintf(stderr, "table g: %llu rows, want %d\n", (unsigned long long)st.rows, GROW_WRITES * GROW_BATCH);
        bad++;
    }
    mr_schema_free(s);
    murr_close(db);
    mr_fs_remove_tree(dir, NULL);
    printf("stress: %ld reads, %ld torn rows, %d wrong final values; growing table: %ld reads, %ld keys lost, "
           "%llu keydir bytes\n",
           atomic_load(&reads_ok), atomic_load(&torn), bad, atomic_load(&grow_reads), atomic_load(&lost),
           (unsigned long long)st.keydir_bytes);
    return atomic_load(&torn) == 0 && bad == 0 && atomic_load(&lost) == 0 && atomic_load(&reads_ok) > 0 &&
                   st.keydir_bytes >= 32768 * 8
               ? 0
               : 1;
}
