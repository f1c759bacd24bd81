/* bench_read_split - the in-process read's two halves: the same murr_read of K random
 * existing keys x all C float32 columns timed on keys whose records are cached (one key set
 * read again and again: the CPU's share: hashing, probing, comparing, copying) and on fresh
 * random keys each read (CPU plus DRAM misses), alternating round by round so both see the
 * same machine. The table is one that `bench_engine --keep 1 --dir PATH` loaded (key =
 * decimal row number, columns col_0..; value checked per read as bench_common.h defines it).
 *
 * Usage: bench_read_split --dir PATH [--rows N (10000000)] [--cols C (10)] [--keys K (1000)]
 *                         [--reads R (3000)] [--rounds 3]
 * Prints one markdown row per round: cached p50, fresh p50, and their difference. */
#include <murr.h>

#include "bench_common.h"

static int one_read(murr_db *db, const char **kp, const size_t *kl, int keys, const char *const *cn, int cols,
                    uint64_t *ns)
{
    murr_error e = {0};
    murr_batch *out;
    uint64_t t0 = bench_now_ns();
    if (murr_read(db, "bench", kp, kl, (size_t)keys, cn, (size_t)cols, &out, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    *ns = bench_now_ns() - t0;
    float want = bench_value(strtoull(kp[0], NULL, 10), cols - 1);
    float got = ((float *)out->columns[cols - 1].values)[0];
    murr_batch_free(out);
    if (got != want) {
        fprintf(stderr, "wrong value for key %s: %g != %g\n", kp[0], got, want);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t rows = 10000000;
    int cols = 10, keys = 1000, reads = 3000, rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--rows")) rows = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys")) keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reads")) reads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    if (dir == NULL || rows == 0 || cols < 1 || cols > 1000 || keys < 1 || reads < 1 || rounds < 1) {
        fprintf(stderr, "usage: bench_read_split --dir PATH [--rows N] [--cols C] [--keys K] [--reads R] [--rounds N]\n");
        return 2;
    }
    murr_options o;
    murr_options_default(&o);
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
    char (*names)[16] = malloc((size_t)cols * 16);
    const char **cn = malloc(sizeof(char *) * (size_t)cols);
    for (int c = 0; c < cols; c++) {
        snprintf(names[c], 16, "col_%d", c);
        cn[c] = names[c];
    }
    /* one fixed key set (cached after its first read) and one buffer refilled per fresh read */
    const char **kp[2] = {malloc(sizeof(char *) * (size_t)keys), malloc(sizeof(char *) * (size_t)keys)};
    size_t *kl[2] = {malloc(sizeof(size_t) * (size_t)keys), malloc(sizeof(size_t) * (size_t)keys)};
    char *kbuf[2] = {malloc((size_t)keys * 24), malloc((size_t)keys * 24)};
    uint64_t *lat[2] = {malloc(sizeof(uint64_t) * (size_t)reads), malloc(sizeof(uint64_t) * (size_t)reads)};
    uint64_t seed = 7;
    for (int k = 0; k < keys; k++) {
        kl[0][k] = (size_t)snprintf(kbuf[0] + 24 * k, 24, "%llu", (unsigned long long)(bench_rng(&seed) % rows));
        kp[0][k] = kbuf[0] + 24 * k;
    }
    printf("| round | cached keys p50 us | fresh keys p50 us | fresh - cached us |\n|---:|---:|---:|---:|\n");
    for (int round = 1; round <= rounds; round++) {
        for (int mode = 0; mode < 2; mode++) {
            for (int r = -(reads / 10 + 10); r < reads; r++) {
                if (mode == 1)
                    for (int k = 0; k < keys; k++) {
                        uint64_t row = bench_rng(&seed) % rows;
                        kl[1][k] = (size_t)snprintf(kbuf[1] + 24 * k, 24, "%llu", (unsigned long long)row);
                        kp[1][k] = kbuf[1] + 24 * k;
                    }
                uint64_t ns;
                if (one_read(db, kp[mode], kl[mode], keys, cn, cols, &ns) != 0)
                    return 1;
                if (r >= 0)
                    lat[mode][r] = ns;
            }
        }
        double cached = bench_pct_us(lat[0], (size_t)reads, 0.5), fresh = bench_pct_us(lat[1], (size_t)reads, 0.5);
        printf("| %d | %.1f | %.1f | %.1f |\n", round, cached, fresh, fresh - cached);
    }
    murr_close(db);
    for (int m = 0; m < 2; m++) {
        free(kp[m]);
        free(kl[m]);
        free(kbuf[m]);
        free(lat[m]);
    }
    free(names);
    free(cn);
    return 0;
}
