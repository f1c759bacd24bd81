/* Model-based test, run for every storage backend in tu_store_backends, through the store
 * interface (engine/store.h): thousands of random operations (write batches with
 * duplicate keys and nulls across all 12 dtypes, in one transaction of one or several
 * batches, or streaming transactions of several appends that commit or abort, with reads
 * while they are open; reads with missing and duplicate keys; compact; close and reopen)
 * run against the store and a trivially correct in-memory reference, compared after every
 * read. Seeds are reproducible: MURR_SEED=<n> reruns one; the backend and the seed are in
 * every failure message. Also: concurrent readers never see a torn row while a writer
 * writes and compaction runs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/log.h"
#include "core/schema.h"
#include "test_util.h"
#include "tu_store.h"

#define NKEYS 300
#define NCOLS 13 /* key + 12 value columns (every dtype, utf8 twice) */

static const murr_dtype col_types[NCOLS] = {MURR_UTF8,  MURR_BOOL,   MURR_INT8,   MURR_INT16,  MURR_INT32,
                                            MURR_INT64, MURR_UINT8,  MURR_UINT16, MURR_UINT32, MURR_UINT64,
                                            MURR_FLOAT32, MURR_FLOAT64, MURR_UTF8};
static const char *col_names[NCOLS] = {"k", "b", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "s"};

typedef struct cell {
    bool valid;
    uint64_t bits;   /* fixed-width value, zero-extended */
    char str[24];
} cell_t;

typedef struct model_row {
    bool present;
    cell_t c[NCOLS];
} model_row_t;

static model_row_t model[NKEYS];

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void key_of(int k, char *buf) { snprintf(buf, 16, "key-%d", k); }

static mr_schema_t *model_schema(void)
{
    mr_schema_t *s = mr_schema_make("k", "k:utf8", "b:bool?", "i8:int8?", "i16:int16?", "i32:int32?", "i64:int64?",
                                    "u8:uint8?", "u16:uint16?", "u32:uint32?", "u64:uint64?", "f32:float32?",
                                    "f64:float64?", "s:utf8?", NULL);
    return s;
}

static cell_t random_cell(murr_dtype t)
{
    cell_t c = {0};
    c.valid = rnd() % 5 != 0;
    if (!c.valid)
        return c;
    uint64_t r = rnd();
    switch (t) {
    case MURR_UTF8: {
        int len = (int)(rnd() % 20);
        for (int i = 0; i < len; i++)
            c.str[i] = (char)('a' + rnd() % 26);
        c.str[len] = 0;
        break;
    }
    case MURR_BOOL: c.bits = r & 1; break;
    case MURR_FLOAT32: {
        float f = (float)((double)(int64_t)r / 1e9);
        uint32_t u;
        memcpy(&u, &f, 4);
        c.bits = u;
        break;
    }
    case MURR_FLOAT64: {
        double d = (double)(int64_t)r / 1e7;
        memcpy(&c.bits, &d, 8);
        break;
    }
    default: {
        size_t w = mr_dtype_width(t);
        c.bits = w == 8 ? r : (r & ((1ull << (w * 8)) - 1));
        break;
    }
    }
    return c;
}

/* Builds a batch from rows (keys[i], cells[i][*]); columns in a shuffled order. */
static mr_batch_t *build_batch(const int *keys, cell_t (*cells)[NCOLS], int n)
{
    int order[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        order[i] = i;
    for (int i = NCOLS - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    mr_batch_t *b = mr_batch_new(NCOLS, n);
    for (int oc = 0; oc < NCOLS; oc++) {
        int c = order[oc];
        mr_colbuilder_t cb;
        mr_colbuilder_init(&cb, col_types[c]);
        for (int r = 0; r < n; r++) {
            if (c == 0) {
                char kb[16];
                key_of(keys[r], kb);
                mr_colbuilder_append_str(&cb, kb, strlen(kb));
                continue;
            }
            cell_t *x = &cells[r][c];
            if (!x->valid) {
                mr_colbuilder_append_null(&cb);
            } else if (col_types[c] == MURR_UTF8) {
                mr_colbuilder_append_str(&cb, x->str, strlen(x->str));
            } else if (col_types[c] == MURR_BOOL) {
                mr_colbuilder_append_bool(&cb, x->bits);
            } else if (col_types[c] == MURR_FLOAT32) {
                float f;
                uint32_t u = (uint32_t)x->bits;
                memcpy(&f, &u, 4);
                mr_colbuilder_append_float(&cb, f);
            } else if (col_types[c] == MURR_FLOAT64) {
                double d;
                memcpy(&d, &x->bits, 8);
                mr_colbuilder_append_float(&cb, d);
            } else {
                mr_colbuilder_append_uint(&cb, x->bits);
            }
        }
        mr_batch_set_name(b, oc, col_names[c], strlen(col_names[c]));
        mr_colbuilder_finish(&cb, b, oc);
    }
    return b;
}

static const char *backend; /* the backend under test, for failure messages */

static void check_read(mr_store_t *st, uint64_t seed, int step)
{
    int n = (int)(rnd() % 40);
    int qk[40];
    char kb[40][16];
    const char *keys[40];
    size_t lens[40];
    for (int i = 0; i < n; i++) {
        qk[i] = (int)(rnd() % (NKEYS + 50)); /* some never written */
        key_of(qk[i], kb[i]);
        keys[i] = kb[i];
        lens[i] = strlen(kb[i]);
    }
    int ncols = 1 + (int)(rnd() % (NCOLS - 1));
    int cidx[NCOLS];
    const char *cols[NCOLS];
    for (int i = 0; i < ncols; i++) {
        cidx[i] = 1 + (int)(rnd() % (NCOLS - 1)); /* duplicates allowed */
        cols[i] = col_names[cidx[i]];
    }
    mr_batch_t *b;
    mr_error_t e = {0};
    cr_assert_eq(tu_store_read(st, keys, lens, (size_t)n, cols, (size_t)ncols, &b, &e), 0,
                 "%s seed %llu step %d: %s", backend, (unsigned long long)seed, step, e.message);
    cr_assert_eq(b->num_rows, n);
    cr_assert_eq(b->num_columns, ncols);
    for (int ci = 0; ci < ncols; ci++) {
        const murr_column *col = &b->columns[ci];
        int c = cidx[ci];
        cr_assert_eq(col->dtype, col_types[c]);
        for (int r = 0; r < n; r++) {
            model_row_t *m = qk[r] < NKEYS ? &model[qk[r]] : NULL;
            bool want_valid = m && m->present && m->c[c].valid;
            cr_assert_eq(murr_column_is_valid(col, r), want_valid, "%s seed %llu step %d col %s row %d key %d",
                         backend, (unsigned long long)seed, step, col_names[c], r, qk[r]);
            if (!want_valid)
                continue;
            const cell_t *x = &m->c[c];
            if (col_types[c] == MURR_UTF8) {
                size_t l;
                const uint8_t *s = mr_column_str(col, r, &l);
                cr_assert(l == strlen(x->str) && memcmp(s, x->str, l) == 0, "%s seed %llu step %d string", backend,
                          (unsigned long long)seed, step);
            } else if (col_types[c] == MURR_BOOL) {
                cr_assert_eq(mr_bit_get(col->values, r), (bool)x->bits);
            } else {
                size_t w = mr_dtype_width(col_types[c]);
                uint64_t got = 0;
                memcpy(&got, (const uint8_t *)col->values + (size_t)r * w, w);
                cr_assert_eq(got, x->bits, "%s seed %llu step %d col %s", backend, (unsigned long long)seed, step,
                             col_names[c]);
            }
        }
    }
    mr_batch_free(b);
}

#define MAX_PARTS 5

/* Splits rows 0..n into 1..MAX_PARTS consecutive batches (some may be empty); returns how
 * many. */
static size_t split_batches(const int *keys, cell_t (*cells)[NCOLS], int n, size_t parts, mr_batch_t **out)
{
    int at = 0;
    for (size_t p = 0; p < parts; p++) {
        int len = p + 1 == parts ? n - at : (int)(rnd() % (uint64_t)(n - at + 1));
        out[p] = build_batch(keys + at, cells + at, len);
        at += len;
    }
    return parts;
}

static void free_batches(mr_batch_t **b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mr_batch_free(b[i]);
}

/* One write operation: a transaction of one batch, of several batches in one append, or
 * a streaming transaction of several appends (reads while it is open see none of it) that
 * commits or aborts. Returns whether the rows were committed. */
static bool random_write(mr_store_t *st, const int *keys, cell_t (*cells)[NCOLS], int n, uint64_t seed, int step)
{
    mr_batch_t *parts[MAX_PARTS];
    mr_error_t e = {0};
    uint64_t how = rnd() % 10;
    if (how < 7) { /* one transaction: one batch, or several at once */
        size_t np = split_batches(keys, cells, n, how < 5 ? 1 : 2 + (size_t)(rnd() % (MAX_PARTS - 1)), parts);
        cr_assert_eq(tu_store_write(st, (const mr_batch_t *const *)parts, np, &e), 0, "%s seed %llu step %d: %s",
                     backend, (unsigned long long)seed, step, e.message);
        free_batches(parts, np);
        return true;
    }
    /* a streaming transaction of 2..MAX_PARTS appends, committed or aborted */
    size_t np = split_batches(keys, cells, n, 2 + (size_t)(rnd() % (MAX_PARTS - 1)), parts);
    mr_store_txn_t *x;
    cr_assert_eq(mr_store_txn_begin(st, &x, &e), 0, "%s seed %llu step %d: %s", backend, (unsigned long long)seed,
                 step, e.message);
    for (size_t p = 0; p < np; p++) {
        cr_assert_eq(mr_store_txn_append(x, (const mr_batch_t *const *)&parts[p], 1, &e), 0,
                     "%s seed %llu step %d append %zu: %s", backend, (unsigned long long)seed, step, p, e.message);
        if (rnd() % 4 == 0)
            check_read(st, seed, step); /* the model does not have these rows yet */
    }
    free_batches(parts, np);
    bool commit = how < 9;
    if (commit)
        cr_assert_eq(mr_store_txn_commit(x, &e), 0, "%s seed %llu step %d commit: %s", backend,
                     (unsigned long long)seed, step, e.message);
    else
        mr_store_txn_abort(x);
    return commit;
}

static void run_model(const mr_store_ops_t *ops, uint64_t seed, int steps)
{
    backend = ops->name;
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    memset(model, 0, sizeof(model));
    char *dir = tu_tempdir("model");
    char sdir[512];
    snprintf(sdir, sizeof(sdir), "%s/m", dir);
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.segment_max_bytes = 1 << 16; /* many segments: compaction has work */
    mr_schema_t *s = model_schema();
    tu_store_t ts;
    mr_error_t e = {0};
    cr_assert_eq(tu_store_open(&ts, ops, sdir, "m", s, &o, true, &e), 0, "%s: %s", backend, e.message);
    mr_schema_free(s);
    for (int step = 0; step < steps; step++) {
        uint64_t op = rnd() % 100;
        if (op < 45) {
            int n = (int)(rnd() % 60);
            int keys[60];
            cell_t cells[60][NCOLS];
            for (int r = 0; r < n; r++) {
                keys[r] = (int)(rnd() % NKEYS);
                for (int c = 1; c < NCOLS; c++)
                    cells[r][c] = random_cell(col_types[c]);
            }
            bool committed = random_write(ts.s, keys, cells, n, seed, step);
            for (int r = 0; committed && r < n; r++) { /* in order: the last duplicate wins */
                model[keys[r]].present = true;
                memcpy(model[keys[r]].c, cells[r], sizeof(cells[r]));
            }
        } else if (op < 90) {
            check_read(ts.s, seed, step);
        } else if (op < 95) {
            cr_assert_eq(mr_store_compact(ts.s, 0.0, true, &e), 0, "%s seed %llu step %d compact: %s", backend,
                         (unsigned long long)seed, step, e.message);
        } else {
            cr_assert_eq(tu_store_reopen(&ts, &e), 0, "%s seed %llu step %d reopen: %s", backend,
                         (unsigned long long)seed, step, e.message);
        }
    }
    tu_store_free(&ts);
    tu_rmtree(dir);
    free(dir);
}

Test(model, random_operations_match_reference, .timeout = 300)
{
    mr_log_set_level(MR_LOG_ERROR);
    const char *env = getenv("MURR_SEED");
    for (size_t i = 0; i < tu_store_nbackends; i++) {
        if (env) {
            run_model(tu_store_backends[i], strtoull(env, NULL, 10), 3000);
            continue;
        }
        for (uint64_t seed = 1; seed <= 6; seed++)
            run_model(tu_store_backends[i], seed, 1500);
    }
}

/* ---- concurrency: readers see whole rows (all columns equal) while writes + compaction run */

static mr_store_t *cst;
static _Atomic bool cstop;
static _Atomic long torn, reads_done;

static void *reader_main(void *arg)
{
    (void)arg;
    char kb[64][16];
    const char *keys[64];
    size_t lens[64];
    const char *cols[] = {"a", "b", "c"};
    uint64_t st = (uint64_t)(uintptr_t)&kb;
    while (!atomic_load(&cstop)) {
        for (int i = 0; i < 64; i++) {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            snprintf(kb[i], 16, "r%llu", (unsigned long long)(st % 500));
            keys[i] = kb[i];
            lens[i] = strlen(kb[i]);
        }
        mr_batch_t *b;
        mr_error_t e = {0};
        if (tu_store_read(cst, keys, lens, 64, cols, 3, &b, &e) != 0)
            continue;
        for (int r = 0; r < 64; r++) {
            if (!murr_column_is_valid(&b->columns[0], r))
                continue;
            int64_t a = ((int64_t *)b->columns[0].values)[r];
            int64_t bb = ((int64_t *)b->columns[1].values)[r];
            size_t l;
            const uint8_t *s = mr_column_str(&b->columns[2], r, &l);
            char want[32];
            int wl = snprintf(want, sizeof(want), "v%lld", (long long)a);
            if (a != bb || (size_t)wl != l || memcmp(s, want, l) != 0)
                atomic_fetch_add(&torn, 1);
        }
        mr_batch_free(b);
        atomic_fetch_add(&reads_done, 1);
    }
    return NULL;
}

static void run_torn_rows(const mr_store_ops_t *ops)
{
    const char *name = ops->name;
    char *dir = tu_tempdir("conc");
    char sdir[512];
    snprintf(sdir, sizeof(sdir), "%s/c", dir);
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.segment_max_bytes = 1 << 16;
    mr_error_t e = {0};
    mr_schema_t *s = mr_schema_make("k", "k:utf8", "a:int64", "b:int64", "c:utf8", NULL);
    tu_store_t ts;
    cr_assert_eq(tu_store_open(&ts, ops, sdir, "c", s, &o, true, &e), 0, "%s: %s", name, e.message);
    mr_schema_free(s);
    cst = ts.s;
    atomic_store(&cstop, false);
    atomic_store(&torn, 0);
    atomic_store(&reads_done, 0);
    tu_compactor_t *bg = tu_compactor_start(ts.s, 0.3, 2000); /* background compaction */
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader_main, NULL);
    for (int round = 0; round < 300; round++) {
        mr_batch_t *b = mr_batch_new(4, 100);
        mr_colbuilder_t k, a, bb, c;
        mr_colbuilder_init(&k, MURR_UTF8);
        mr_colbuilder_init(&a, MURR_INT64);
        mr_colbuilder_init(&bb, MURR_INT64);
        mr_colbuilder_init(&c, MURR_UTF8);
        for (int r = 0; r < 100; r++) {
            char kb[16], vb[32];
            snprintf(kb, sizeof(kb), "r%d", (round * 37 + r * 5) % 500);
            int64_t v = round * 1000 + r;
            mr_colbuilder_append_str(&k, kb, strlen(kb));
            mr_colbuilder_append_int(&a, v);
            mr_colbuilder_append_int(&bb, v);
            int vl = snprintf(vb, sizeof(vb), "v%lld", (long long)v);
            mr_colbuilder_append_str(&c, vb, (size_t)vl);
        }
        mr_batch_set_name(b, 0, "k", 1);
        mr_batch_set_name(b, 1, "a", 1);
        mr_batch_set_name(b, 2, "b", 1);
        mr_batch_set_name(b, 3, "c", 1);
        mr_colbuilder_finish(&k, b, 0);
        mr_colbuilder_finish(&a, b, 1);
        mr_colbuilder_finish(&bb, b, 2);
        mr_colbuilder_finish(&c, b, 3);
        cr_assert_eq(tu_store_write(ts.s, (const mr_batch_t *const *)&b, 1, &e), 0, "%s: %s", name, e.message);
        mr_batch_free(b);
        if (round % 50 == 49)
            cr_assert_eq(mr_store_compact(ts.s, 0.0, true, &e), 0, "%s: %s", name, e.message);
    }
    atomic_store(&cstop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(tu_compactor_stop(bg), 0, "%s: background compaction failed", name);
    cr_assert_eq(atomic_load(&torn), 0, "%s: %ld torn rows", name, atomic_load(&torn));
    cr_assert_gt(atomic_load(&reads_done), 0, "%s", name);
    murr_table_stats st;
    tu_store_stats(ts.s, &st);
    cr_assert_eq(st.rows, 500, "%s: %llu rows", name, (unsigned long long)st.rows);
    tu_store_free(&ts);
    tu_rmtree(dir);
    free(dir);
}

Test(concurrency, readers_never_see_torn_rows, .timeout = 300)
{
    mr_log_set_level(MR_LOG_ERROR);
    for (size_t i = 0; i < tu_store_nbackends; i++)
        run_torn_rows(tu_store_backends[i]);
}
