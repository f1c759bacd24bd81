/* bench_replace - libmurr in process: an atomic replace of a whole table while readers run
 * (issue 12, target: reader p99 during the swap <= 2x idle).
 *
 * Table "bench" of the canonical workload (bench_common.h: utf8 key = decimal row number,
 * C float32 columns, value of column c in row i = i + c/10), N rows loaded with murr_write in
 * 1M-row batches. Then R reader threads each loop on murr_read of K random existing keys x
 * all C columns, timing every read (keys generated outside the timed region) and checking
 * every value of the answer: all old (i + c/10), all new (-(i + c/10)) or a failure (mixed,
 * wrong, or an error). Phases:
 *   idle     the readers alone, --idle-seconds (5) or --idle-reads per reader;
 *   build    murr_write_begin_opt(MURR_WRITE_REPLACE) then murr_writer_append of N new rows
 *            (same keys, negated values) in --batch (100,000) row batches, all built before
 *            the readers start so batch generation is never timed as engine time;
 *   commit   reads overlapping [commit start - W, commit end + W], W = --window-ms (50);
 *            the commit is murr_writer_commit (durable and swapped in when it returns);
 *            its subset overlapping [swap - W, swap + W], the swap instant taken as the
 *            earliest start of a read that answered new, is reported on its own row;
 *   after    the same length as idle, after the window.
 * Reads that end before the commit starts must be all old, reads that start after it
 * returns all new, none mixed; then the main thread reads every key once more and checks
 * the new values. Any failure exits 1.
 * Prints p50/p99/p999/max per phase, the replace's rows/s and commit duration, and the peak
 * RSS (VmHWM, reset before the replace via /proc/self/clear_refs) against the table's size.
 *
 * Usage: bench_replace [--rows N] [--readers R] [--cols C] [--keys K] [--batch B]
 *                      [--idle-seconds S] [--idle-reads N] [--window-ms W] [--sync 0|1]
 *                      [--keep-versions V] [--dir PATH] [--keep-data] */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_common.h"
#include "core/fs.h"
#include "core/log.h"

enum { ANS_OLD = 0, ANS_NEW = 1, ANS_MIXED = 2, ANS_ERROR = 3 };

typedef struct sample {
    uint64_t start, end; /* bench_now_ns() around murr_read */
    int kind;            /* ANS_* */
} sample_t;

typedef struct reader {
    pthread_t th;
    murr_db *db;
    uint64_t rows, seed;
    int cols, keys;
    const char **cn;
    sample_t *s;
    size_t n, cap;
    _Atomic size_t done; /* reads since the idle phase started (for --idle-reads) */
    char first_error[MURR_ERROR_MSG_MAX + 64];
} reader_t;

static _Atomic bool g_stop;
static _Atomic uint64_t g_idle_start;

static void *reader_main(void *p)
{
    reader_t *r = p;
    const char **kp = malloc(sizeof(char *) * (size_t)r->keys);
    size_t *kl = malloc(sizeof(size_t) * (size_t)r->keys);
    uint64_t *row = malloc(sizeof(uint64_t) * (size_t)r->keys);
    char *kbuf = malloc((size_t)r->keys * 24);
    while (!atomic_load(&g_stop)) {
        for (int k = 0; k < r->keys; k++) {
            row[k] = bench_rng(&r->seed) % r->rows;
            kl[k] = (size_t)snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)row[k]);
            kp[k] = kbuf + 24 * k;
        }
        murr_batch *out = NULL;
        murr_error e = {0};
        uint64_t t0 = bench_now_ns();
        int rc = murr_read(r->db, "bench", kp, kl, (size_t)r->keys, r->cn, (size_t)r->cols, &out, &e);
        uint64_t t1 = bench_now_ns();
        int kind;
        if (rc != 0) {
            kind = ANS_ERROR;
            if (!r->first_error[0])
                snprintf(r->first_error, sizeof(r->first_error), "murr_read: %s: %s", murr_status_name(rc),
                         e.message);
        } else {
            size_t old = 0, neu = 0;
            for (int c = 0; c < r->cols; c++) {
                const murr_column *col = &out->columns[c];
                const float *v = col->values;
                for (int k = 0; k < r->keys; k++) {
                    float want = bench_value(row[k], c);
                    if (!murr_column_is_valid(col, k))
                        continue;
                    old += v[k] == want;
                    neu += v[k] == -want;
                }
            }
            size_t all = (size_t)r->keys * (size_t)r->cols;
            /* row 0 column 0 is 0.0 == -0.0: it counts for both */
            kind = old == all ? ANS_OLD : neu == all ? ANS_NEW : ANS_MIXED;
            if (kind == ANS_MIXED && !r->first_error[0])
                snprintf(r->first_error, sizeof(r->first_error),
                         "a read answered %zu old and %zu new values of %zu (mixed or wrong)", old, neu, all);
            murr_batch_free(out);
        }
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 65536;
            r->s = realloc(r->s, r->cap * sizeof(sample_t));
            if (!r->s) { fprintf(stderr, "out of memory for samples\n"); exit(1); }
        }
        r->s[r->n++] = (sample_t){t0, t1, kind};
        uint64_t is = atomic_load(&g_idle_start);
        if (is && t0 >= is)
            atomic_fetch_add(&r->done, 1);
    }
    free(kp);
    free(kl);
    free(row);
    free(kbuf);
    return NULL;
}

/* kB value of a /proc/self/status line ("VmHWM", "VmRSS"), in bytes. */
static uint64_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    size_t fl = strlen(field);
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            kb = strtoull(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0). False if refused. */
static bool reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

typedef struct phase {
    const char *name;
    uint64_t *lat;
    size_t n;
} phase_t;

static void phase_add(phase_t *p, uint64_t ns) { p->lat[p->n++] = ns; }

/* p50/p99/p999/max in us into out[4]; zeros when empty. */
static void phase_stats(phase_t *p, double out[4])
{
    if (p->n == 0) {
        out[0] = out[1] = out[2] = out[3] = 0;
        return;
    }
    out[0] = bench_pct_us(p->lat, p->n, 0.5);
    out[1] = bench_pct_us(p->lat, p->n, 0.99);
    out[2] = bench_pct_us(p->lat, p->n, 0.999);
    out[3] = (double)p->lat[p->n - 1] / 1000.0; /* sorted by bench_pct_us */
}

int main(int argc, char **argv)
{
    uint64_t rows = 10000000, batch = 100000, load_batch = 1000000;
    int cols = 10, keys = 1000, readers = 1, sync = 1, keep_data = 0, keep_versions = 1;
    double idle_seconds = 5;
    long idle_reads = 0;
    unsigned window_ms = 50;
    const char *dir = "/tmp/murr-bench-replace";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep-data")) { keep_data = 1; continue; }
        if (!v) { fprintf(stderr, "flag %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--rows")) rows = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--readers")) readers = atoi(v);
        else if (!strcmp(a, "--cols")) cols = atoi(v);
        else if (!strcmp(a, "--keys")) keys = atoi(v);
        else if (!strcmp(a, "--batch")) batch = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--idle-seconds")) idle_seconds = atof(v);
        else if (!strcmp(a, "--idle-reads")) idle_reads = atol(v);
        else if (!strcmp(a, "--window-ms")) window_ms = (unsigned)atoi(v);
        else if (!strcmp(a, "--sync")) sync = atoi(v);
        else if (!strcmp(a, "--keep-versions")) keep_versions = atoi(v);
        else if (!strcmp(a, "--dir")) dir = v;
        else { fprintf(stderr, "unknown flag %s\n", a); return 2; }
        i++;
    }
    if (rows == 0 || batch == 0 || cols < 1 || keys < 1 || readers < 1 || keep_versions < 0) {
        fprintf(stderr, "--rows, --batch, --cols, --keys and --readers must be >= 1\n");
        return 2;
    }
    mr_log_set_level(MR_LOG_WARN);
    mr_fs_remove_tree(dir, NULL);
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = sync != 0;
    o.keep_versions = (uint32_t)keep_versions;
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0) { fprintf(stderr, "murr_open: %s\n", e.message); return 1; }
    murr_schema s = {.num_columns = cols + 1, .key_index = 0, .num_keys = 1, .form = MURR_SCHEMA_FORM2};
    s.columns = calloc((size_t)cols + 1, sizeof(murr_column_schema));
    s.columns[0] = (murr_column_schema){"key", 3, MURR_UTF8, false, true, true, 0};
    const char **cn = malloc(sizeof(char *) * (size_t)cols);
    for (int c = 0; c < cols; c++) {
        char *n = malloc(16);
        snprintf(n, 16, "col_%d", c);
        s.columns[c + 1] = (murr_column_schema){n, strlen(n), MURR_FLOAT32, false, true, false, 0};
        cn[c] = n;
    }
    if (murr_create_table(db, "bench", &s, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }

    /* 1. load version 1 */
    uint64_t load_ns = 0;
    for (uint64_t first = 0; first < rows; first += load_batch) {
        int64_t n = (int64_t)(rows - first < load_batch ? rows - first : load_batch);
        mr_batch_t *b = bench_make_batch(first, n, cols);
        uint64_t t0 = bench_now_ns();
        if (murr_write(db, "bench", b, &e) != 0) { fprintf(stderr, "load: %s\n", e.message); return 1; }
        load_ns += bench_now_ns() - t0;
        mr_batch_free(b);
    }
    murr_table_stats st1;
    if (murr_table_stats_get(db, "bench", &st1, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
    uint64_t table_bytes = st1.mapped_bytes + st1.keydir_bytes;
    uint64_t rss_loaded = status_bytes("VmRSS");

    /* 2. the new version's batches, built now (never timed): same keys, negated values */
    size_t nb = (size_t)((rows + batch - 1) / batch);
    mr_batch_t **nbat = malloc(sizeof(*nbat) * nb);
    uint64_t batch_bytes = 0;
    for (size_t i = 0; i < nb; i++) {
        uint64_t first = (uint64_t)i * batch;
        int64_t n = (int64_t)(rows - first < batch ? rows - first : batch);
        nbat[i] = bench_make_batch(first, n, cols);
        batch_bytes += (uint64_t)nbat[i]->columns[0].data_len + (uint64_t)(n + 1) * 4;
        for (int c = 0; c < cols; c++) {
            float *v = nbat[i]->columns[c + 1].values;
            for (int64_t r = 0; r < n; r++)
                v[r] = -v[r];
            batch_bytes += (uint64_t)n * 4;
        }
    }
    uint64_t rss_batches = status_bytes("VmRSS");

    /* 3. readers; 0.5 s of warm-up, then idle */
    reader_t *rd = calloc((size_t)readers, sizeof(reader_t));
    for (int i = 0; i < readers; i++) {
        rd[i] = (reader_t){.db = db, .rows = rows, .seed = 42 + 7919 * (uint64_t)i, .cols = cols, .keys = keys,
                           .cn = cn};
        pthread_create(&rd[i].th, NULL, reader_main, &rd[i]);
    }
    sleep_ms(500);
    uint64_t hwm_before = status_bytes("VmHWM");
    bool hwm_reset = reset_hwm();
    uint64_t t_idle = bench_now_ns();
    atomic_store(&g_idle_start, t_idle);
    if (idle_reads > 0) {
        for (int i = 0; i < readers; i++)
            while (atomic_load(&rd[i].done) < (size_t)idle_reads)
                sleep_ms(5);
    } else {
        sleep_ms((unsigned)(idle_seconds * 1000));
    }
    uint64_t idle_ns = bench_now_ns() - t_idle;

    /* 4. the replace: begin, appends, commit */
    uint64_t t_begin = bench_now_ns(), append_ns = 0;
    murr_writer *w;
    if (murr_write_begin_opt(db, "bench", MURR_WRITE_REPLACE, "bench_replace", &w, &e) != 0) {
        fprintf(stderr, "murr_write_begin_opt(MURR_WRITE_REPLACE): %s\n", e.message);
        return 1;
    }
    uint64_t begin_ns = bench_now_ns() - t_begin;
    for (size_t i = 0; i < nb; i++) {
        uint64_t t0 = bench_now_ns();
        if (murr_writer_append(w, nbat[i], &e) != 0) {
            fprintf(stderr, "murr_writer_append: %s\n", e.message);
            murr_writer_abort(w);
            return 1;
        }
        append_ns += bench_now_ns() - t0;
        mr_batch_free(nbat[i]); /* as a streaming loader would; not timed */
        nbat[i] = NULL;
    }
    uint64_t t_commit0 = bench_now_ns();
    if (murr_writer_commit(w, &e) != 0) { fprintf(stderr, "murr_writer_commit: %s\n", e.message); return 1; }
    uint64_t t_commit1 = bench_now_ns();
    uint64_t hwm_replace = status_bytes("VmHWM");

    /* 5. after: as long as idle took */
    uint64_t t_after = bench_now_ns();
    if (idle_reads > 0) {
        size_t base[256];
        for (int i = 0; i < readers && i < 256; i++)
            base[i] = atomic_load(&rd[i].done);
        for (int i = 0; i < readers && i < 256; i++)
            while (atomic_load(&rd[i].done) < base[i] + (size_t)idle_reads)
                sleep_ms(5);
    } else {
        sleep_ms((unsigned)(idle_seconds * 1000));
    }
    atomic_store(&g_stop, true);
    for (int i = 0; i < readers; i++)
        pthread_join(rd[i].th, NULL);
    uint64_t after_ns = bench_now_ns() - t_after;
    uint64_t hwm_end = status_bytes("VmHWM");

    /* 6. classify and check the readers' answers */
    uint64_t win = (uint64_t)window_ms * 1000000u;
    uint64_t w0 = t_commit0 - win, w1 = t_commit1 + win;
    size_t total = 0;
    for (int i = 0; i < readers; i++)
        total += rd[i].n;
    /* the swap instant as the readers saw it: the earliest start of a read answering new
     * (a read takes its snapshot as it starts, so the swap lies between the last start of
     * an old answer and this) */
    uint64_t t_swap = t_commit1, last_old = 0;
    for (int i = 0; i < readers; i++)
        for (size_t j = 0; j < rd[i].n; j++) {
            if (rd[i].s[j].kind == ANS_NEW && rd[i].s[j].start >= t_commit0 && rd[i].s[j].start < t_swap)
                t_swap = rd[i].s[j].start;
            if (rd[i].s[j].kind == ANS_OLD && rd[i].s[j].start > last_old)
                last_old = rd[i].s[j].start;
        }
    uint64_t s0 = t_swap - win, s1 = t_swap + win;
    phase_t ph[5] = {{"idle", NULL, 0}, {"build", NULL, 0}, {"swap", NULL, 0}, {"after", NULL, 0}, {"instant", NULL, 0}};
    for (int p = 0; p < 5; p++)
        ph[p].lat = malloc(sizeof(uint64_t) * (total + 1));
    size_t fail_old = 0, fail_new = 0, mixed = 0, errors = 0, swap_old = 0, swap_new = 0;
    const char *first_error = NULL;
    for (int i = 0; i < readers; i++) {
        if (rd[i].first_error[0] && !first_error)
            first_error = rd[i].first_error;
        for (size_t j = 0; j < rd[i].n; j++) {
            sample_t *x = &rd[i].s[j];
            mixed += x->kind == ANS_MIXED;
            errors += x->kind == ANS_ERROR;
            if (x->end < t_commit0 && x->kind != ANS_OLD)
                fail_old++;
            if (x->start > t_commit1 && x->kind != ANS_NEW)
                fail_new++;
            if (x->start < t_idle)
                continue; /* warm-up */
            uint64_t d = x->end - x->start;
            if (x->end >= s0 && x->start <= s1)
                phase_add(&ph[4], d);
            if (x->end <= t_begin)
                phase_add(&ph[0], d);
            else if (x->end >= w0 && x->start <= w1) {
                phase_add(&ph[2], d);
                swap_old += x->kind == ANS_OLD;
                swap_new += x->kind == ANS_NEW;
            } else if (x->start < w0)
                phase_add(&ph[1], d);
            else
                phase_add(&ph[3], d);
        }
    }

    /* 7. every key once more, from here: all new */
    size_t final_bad = 0;
    {
        const size_t chunk = 10000;
        const char **kp = malloc(sizeof(char *) * chunk);
        size_t *kl = malloc(sizeof(size_t) * chunk);
        char *kbuf = malloc(chunk * 24);
        for (uint64_t first = 0; first < rows; first += chunk) {
            size_t n = (size_t)(rows - first < chunk ? rows - first : chunk);
            for (size_t k = 0; k < n; k++) {
                kl[k] = (size_t)snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)(first + k));
                kp[k] = kbuf + 24 * k;
            }
            murr_batch *out;
            if (murr_read(db, "bench", kp, kl, n, cn, (size_t)cols, &out, &e) != 0) {
                fprintf(stderr, "final read: %s\n", e.message);
                return 1;
            }
            for (int c = 0; c < cols; c++) {
                const float *v = out->columns[c].values;
                for (size_t k = 0; k < n; k++)
                    if (!murr_column_is_valid(&out->columns[c], (int64_t)k) || v[k] != -bench_value(first + k, c)) {
                        if (final_bad++ == 0)
                            fprintf(stderr, "after the swap key %llu col_%d = %g, want %g\n",
                                    (unsigned long long)(first + k), c, v[k], -bench_value(first + k, c));
                    }
            }
            murr_batch_free(out);
        }
        free(kp);
        free(kl);
        free(kbuf);
    }
    murr_table_stats st2;
    murr_table_stats_get(db, "bench", &st2, &e);
    murr_version_info *vi = NULL;
    size_t nv = 0;
    murr_list_versions(db, "bench", &vi, &nv, &e);

    /* 8. report */
    double commit_ms = (double)(t_commit1 - t_commit0) / 1e6;
    double replace_s = (double)(t_commit1 - t_begin) / 1e9;
    printf("## bench_replace: %llu rows x %d float32 columns, %d reader(s) of %d keys x %d columns, "
           "replace in %llu-row batches, sync_writes %d, keep_versions %d\n\n",
           (unsigned long long)rows, cols, readers, keys, cols, (unsigned long long)batch, sync, keep_versions);
    printf("| phase | reads | p50 us | p99 us | p999 us | max us | p99 / idle p99 |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|\n");
    double idle_st[4];
    phase_stats(&ph[0], idle_st);
    const char *label[5] = {"idle", "during the replace build (appends)",
                            "commit window (murr_writer_commit +- W ms)", "after",
                            "  of which: swap instant +- W ms"};
    double swap_p99 = 0, inst_p99 = 0;
    static const int order[5] = {0, 1, 2, 4, 3};
    for (int o_ = 0; o_ < 5; o_++) {
        int p = order[o_];
        double x[4];
        phase_stats(&ph[p], x);
        if (p == 2)
            swap_p99 = x[1];
        if (p == 4)
            inst_p99 = x[1];
        printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %.2fx |\n", label[p], ph[p].n, x[0], x[1], x[2], x[3],
               idle_st[1] > 0 ? x[1] / idle_st[1] : 0);
    }
    printf("\n");
    printf("| what | value |\n|---|---:|\n");
    printf("| initial load (murr_write, 1M-row batches) | %.0f rows/s |\n",
           (double)rows / ((double)load_ns / 1e9));
    printf("| replace begin (murr_write_begin_opt) | %.2f ms |\n", (double)begin_ns / 1e6);
    printf("| replace appends (murr_writer_append, %zu batches) | %.0f rows/s (%.2f s) |\n", nb,
           (double)rows / ((double)append_ns / 1e9), (double)append_ns / 1e9);
    printf("| replace commit = swap (murr_writer_commit) | **%.1f ms** |\n", commit_ms);
    printf("| replace, begin to commit returned | %.0f rows/s (%.2f s) |\n", (double)rows / replace_s, replace_s);
    printf("| commit window | %.1f ms (commit + 2 x %u ms); reads in it answered old %zu, new %zu |\n",
           commit_ms + 2.0 * window_ms, window_ms, swap_old, swap_new);
    printf("| swap instant seen by readers | commit start + %.1f ms (last old answer started at + %.1f ms) |\n",
           (double)(t_swap - t_commit0) / 1e6, last_old > t_commit0 ? (double)(last_old - t_commit0) / 1e6 : 0.0);
    printf("| idle / after phase length | %.2f s / %.2f s |\n", (double)idle_ns / 1e9, (double)after_ns / 1e9);
    printf("| table, one version (mapped segments + key directory) | %.2f GiB (%.1f B/row) |\n", gib(table_bytes),
           (double)table_bytes / (double)rows);
    printf("| pre-built replace batches (freed as appended) | %.2f GiB |\n", gib(batch_bytes));
    printf("| VmRSS after load / with the batches built | %.2f / %.2f GiB |\n", gib(rss_loaded), gib(rss_batches));
    if (hwm_reset)
        printf("| VmHWM during idle + replace + after (reset before idle) | %.2f GiB = %.2fx the table; "
               "%.2fx without the batches |\n",
               gib(hwm_end), (double)hwm_end / (double)table_bytes,
               (double)(hwm_end > batch_bytes ? hwm_end - batch_bytes : 0) / (double)table_bytes);
    else
        printf("| VmHWM since start (clear_refs refused) | %.2f GiB = %.2fx the table |\n", gib(hwm_end),
               (double)hwm_end / (double)table_bytes);
    printf("| VmHWM at commit / before the reset | %.2f / %.2f GiB |\n", gib(hwm_replace), gib(hwm_before));
    printf("| serving version after / rows / segments | %llu / %llu / %llu |\n", (unsigned long long)st2.version,
           (unsigned long long)st2.rows, (unsigned long long)st2.segments);
    printf("| versions listed | %zu |\n", nv);
    printf("\nreader p99 in the commit window %.1f us vs idle %.1f us = %.2fx (target <= 2x: %s)\n", swap_p99,
           idle_st[1], idle_st[1] > 0 ? swap_p99 / idle_st[1] : 0,
           idle_st[1] > 0 && swap_p99 <= 2 * idle_st[1] ? "met" : "missed");
    printf("reader p99 around the swap instant %.1f us vs idle %.1f us = %.2fx (target <= 2x: %s)\n", inst_p99,
           idle_st[1], idle_st[1] > 0 ? inst_p99 / idle_st[1] : 0,
           idle_st[1] > 0 && inst_p99 <= 2 * idle_st[1] ? "met" : "missed");
    murr_free(vi);

    int bad = 0;
    if (mixed || errors || fail_old || fail_new || final_bad || st2.rows != rows) {
        fprintf(stderr,
                "FAILED: %zu mixed/wrong answers, %zu read errors, %zu reads before the commit not all old, "
                "%zu reads after it not all new, %zu wrong values in the final check, %llu rows (want %llu)%s%s\n",
                mixed, errors, fail_old, fail_new, final_bad, (unsigned long long)st2.rows,
                (unsigned long long)rows, first_error ? "; first: " : "", first_error ? first_error : "");
        bad = 1;
    }
    if (ph[2].n == 0) {
        fprintf(stderr, "FAILED: no read in the swap window\n");
        bad = 1;
    }
    murr_close(db);
    if (!keep_data)
        mr_fs_remove_tree(dir, NULL);
    else
        fprintf(stderr, "data kept in %s\n", dir);
    for (int p = 0; p < 5; p++)
        free(ph[p].lat);
    for (int i = 0; i < readers; i++)
        free(rd[i].s);
    free(rd);
    free(nbat);
    return bad;
}
