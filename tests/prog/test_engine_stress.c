/* test_engine_stress - concurrency test for the tsan preset (Criterion's runtime does not
 * start under TSan, so this is a plain program registered with CTest): two reader threads,
 * a writer, compaction, and create/write/drop cycles of another table, all at once. Readers
 * check that every row they see is whole (columns a == b and s == "v<a>"); at the end the
 * table holds exactly the last value written for every key. Exit 0 = pass. */
#include <pthread.h>
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

static murr_db *db;
static _Atomic bool stop;
static _Atomic long torn, reads_ok;

static mr_batch_t *make_batch(int round)
{
    mr_batch_t *b = mr_batch_new(4, 100);
    mr_colbuilder_t k, a, bb, s;
    mr_colbuilder_init(&k, MURR_UTF8);
    mr_colbuilder_init(&a, MURR_INT64);
    mr_colbuilder_init(&bb, MURR_INT64);
    mr_colbuilder_init(&s, MURR_UTF8);
    for (int r = 0; r < 100; r++) {
        char kb[16], vb[32];
        snprintf(kb, sizeof(kb), "r%d", (round * 37 + r * 7) % KEYS);
        int64_t v = (int64_t)round * 1000 + r;
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
    pthread_t rd[2], wr;
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, reader, NULL);
    pthread_create(&wr, NULL, writer, NULL);
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
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    /* final state: the last write of each key */
    int64_t want[KEYS];
    for (int k = 0; k < KEYS; k++)
        want[k] = -1;
    for (int round = 0; round < ROUNDS; round++)
        for (int r = 0; r < 100; r++)
            want[(round * 37 + r * 7) % KEYS] = (int64_t)round * 1000 + r;
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
    mr_schema_free(s);
    murr_close(db);
    mr_fs_remove_tree(dir, NULL);
    printf("stress: %ld reads, %ld torn rows, %d wrong final values\n", atomic_load(&reads_ok), atomic_load(&torn), bad);
    return atomic_load(&torn) == 0 && bad == 0 && atomic_load(&reads_ok) > 0 ? 0 : 1;
}
