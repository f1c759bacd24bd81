/* bench_common.h - shared helpers of the benchmarks: the canonical workload (key = decimal
 * row number, C float32 columns col_0.., value of column c in row i = i + c/10), a seeded
 * RNG, percentiles, RSS. Header-only so each bench_*.c stays one executable. */
#ifndef MR_BENCH_COMMON_H
#define MR_BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline float bench_value(uint64_t row, int col) { return (float)row + (float)col / 10.0f; }

/* Rows [first, first+n) of the workload as a batch: key, col_0..col_{cols-1}. */
static inline mr_batch_t *bench_make_batch(uint64_t first, int64_t n, int cols)
{
    mr_batch_t *b = mr_batch_new(cols + 1, n);
    mr_batch_set_name(b, 0, "key", 3);
    int64_t data = 0;
    char tmp[24];
    for (int64_t i = 0; i < n; i++)
        data += snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)(first + (uint64_t)i));
    mr_batch_column_alloc(b, 0, MURR_UTF8, false, data);
    int32_t *off = b->columns[0].values;
    int32_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        int l = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)(first + (uint64_t)i));
        memcpy(b->columns[0].data + pos, tmp, (size_t)l);
        pos += l;
        off[i + 1] = pos;
    }
    for (int c = 0; c < cols; c++) {
        char name[16];
        int nl = snprintf(name, sizeof(name), "col_%d", c);
        mr_batch_set_name(b, c + 1, name, (size_t)nl);
        mr_batch_column_alloc(b, c + 1, MURR_FLOAT32, false, 0);
        float *v = b->columns[c + 1].values;
        for (int64_t i = 0; i < n; i++)
            v[i] = bench_value(first + (uint64_t)i, c);
    }
    return b;
}

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and returns the q-quantile (0..1) in microseconds. */
static inline double bench_pct_us(uint64_t *ns, size_t n, double q)
{
    qsort(ns, n, sizeof(uint64_t), bench_cmp_u64);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)ns[i] / 1000.0;
}

/* True if the comma-separated list names `name` (a whole item). */
static inline bool bench_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, name, n))
            return true;
        p += l + (e != NULL);
    }
    return false;
}

/* Resident set of a process in bytes (VmRSS), 0 if unknown. */
static inline uint64_t bench_rss(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), pid ? "/proc/%d/status" : "/proc/self/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %llu kB", (unsigned long long *)&kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

#endif
