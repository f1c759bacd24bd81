/* reopen.c - the restart time of a loaded murr data directory: murr_open, then
 * murr_close, --opens times, printing each open's wall time in ms and the median. Uses the
 * public API only (murr.h), so bench/restart.sh builds it against the libmurr.so of two
 * revisions and times both on the same directory (the on-disk format is shared).
 * Usage: reopen --dir PATH [--opens N] [--sync 0|1] */
#define _POSIX_C_SOURCE 200809L
#include <murr.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int opens = 5, sync = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--opens")) opens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sync")) sync = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    if (dir == NULL || opens < 1 || opens > 1000) {
        fprintf(stderr, "usage: reopen --dir PATH [--opens 1..1000] [--sync 0|1]\n");
        return 2;
    }
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = sync != 0;
    o.background_compaction = false; /* nothing may change the directory between opens */
    double *ms = calloc((size_t)opens, sizeof(double));
    uint64_t rows = 0;
    for (int i = 0; i < opens; i++) {
        murr_db *db;
        murr_error e = {0};
        double t0 = now_ms();
        if (murr_open(dir, &o, &db, &e) != 0) { fprintf(stderr, "murr_open('%s'): %s\n", dir, e.message); return 1; }
        ms[i] = now_ms() - t0;
        char **names;
        size_t n;
        rows = 0;
        if (murr_list_tables(db, &names, &n, &e) == 0) {
            for (size_t k = 0; k < n; k++) {
                murr_table_stats st;
                if (murr_table_stats_get(db, names[k], &st, &e) == 0)
                    rows += st.rows;
            }
            murr_names_free(names, n);
        }
        murr_close(db);
        printf("open %d: %.1f ms (%llu rows)\n", i + 1, ms[i], (unsigned long long)rows);
    }
    qsort(ms, (size_t)opens, sizeof(double), cmp_d);
    printf("median %.1f ms over %d opens, %llu rows\n", ms[opens / 2], opens, (unsigned long long)rows);
    free(ms);
    return 0;
}
