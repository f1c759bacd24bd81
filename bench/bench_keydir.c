/* bench_keydir - probe lengths of the key directory's linear probing with 8-byte slots
 * (keydir.h, decision 0013) at a range of load factors: how many slots and 64-byte lines a
 * lookup of a present key (hit) and of an absent key (miss) touches, and how many slots
 * with a matching tag but another key it meets (each costs a record read and a key
 * compare). Deterministic: the keys are the benchmarks' decimal keys ("0", "1", ...; absent
 * ones from 10^12 on), hashed with the engine's hash into a real directory table
 * (mr_kd_table_new) with the engine's slot words and home slot (hash & mask); the location
 * of key i is (segment 1, offset 8 i), so a probe can tell its own slot from a tag match.
 *
 * Usage: bench_keydir [--log2cap N (24: 16M slots, a 10M-row table)] [--lookups L (1000000)]
 *                     [--loads 0.5,0.6,...]
 * Prints one markdown row per load: load, keys, B/key, mean and p99 slots and lines for
 * hits and misses, tag false matches per 10^6 lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "engine/native/keydir.h"

typedef struct probe {
    uint32_t slots, lines, false_tags;
} probe_t;

static uint64_t key_hash(uint64_t k)
{
    char buf[256]; /* wider than a decimal uint64: GCC -O3 -Warray-bounds sees XXH3's long-input paths */
    int l = snprintf(buf, 24, "%llu", (unsigned long long)k);
    return mr_kd_fix_hash(mr_hash64(buf, l > 0 && l < 24 ? (size_t)l : 0));
}

/* Probes for the key with hash h and location loc (0: absent, so the probe ends at an
 * empty slot), as the engine's probe step does. */
static probe_t probe(const mr_kd_table_t *kd, uint64_t h, uint64_t loc)
{
    probe_t p = {0, 0, 0};
    uint64_t last_line = UINT64_MAX;
    for (uint64_t j = h & kd->mask;; j = (j + 1) & kd->mask) {
        uint64_t w = atomic_load_explicit(&kd->slots[j].word, memory_order_relaxed);
        uint64_t line = (uint64_t)(uintptr_t)&kd->slots[j] / 64;
        p.slots++;
        if (line != last_line)
            p.lines++;
        last_line = line;
        if (w == 0)
            return p;
        if (mr_kd_word_tag_eq(w, h)) {
            if (loc != 0 && mr_kd_word_loc(w) == loc)
                return p;
            p.false_tags++;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double mean_slots, mean_lines, false_per_m;
    uint32_t p99_slots, p99_lines;
} stats_t;

static stats_t measure(const mr_kd_table_t *kd, uint64_t nkeys, uint64_t lookups, bool hits, uint32_t *sl,
                       uint32_t *ln)
{
    stats_t s = {0, 0, 0, 0, 0};
    uint64_t fal = 0;
    for (uint64_t i = 0; i < lookups; i++) {
        /* hits: an even spread over the present keys; misses: keys never inserted */
        uint64_t k = hits ? (i * 2654435761ull) % nkeys : 1000000000000ull + i;
        probe_t p = probe(kd, key_hash(k), hits ? MR_LOC_MAKE(1, 8 * k) : 0);
        sl[i] = p.slots;
        ln[i] = p.lines;
        s.mean_slots += p.slots;
        s.mean_lines += p.lines;
        fal += p.false_tags;
    }
    s.mean_slots /= (double)lookups;
    s.mean_lines /= (double)lookups;
    s.false_per_m = (double)fal * 1e6 / (double)lookups;
    qsort(sl, lookups, sizeof(*sl), cmp_u32);
    qsort(ln, lookups, sizeof(*ln), cmp_u32);
    s.p99_slots = sl[lookups * 99 / 100];
    s.p99_lines = ln[lookups * 99 / 100];
    return s;
}

int main(int argc, char **argv)
{
    int log2cap = 24;
    uint64_t lookups = 1000000;
    const char *loads = "0.5,0.6,0.7,0.75,0.8,0.85,0.9";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--log2cap")) log2cap = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lookups")) lookups = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--loads")) loads = argv[i + 1];
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    if (log2cap < 10 || log2cap > 30 || lookups == 0) {
        fprintf(stderr, "--log2cap must be 10..30 and --lookups > 0\n");
        return 2;
    }
    uint64_t cap = 1ull << log2cap;
    uint32_t *sl = malloc(lookups * sizeof(uint32_t)), *ln = malloc(lookups * sizeof(uint32_t));
    if (sl == NULL || ln == NULL)
        return 1;
    printf("key directory probes: %llu slots (8 B), %llu lookups each of present and absent keys\n\n",
           (unsigned long long)cap, (unsigned long long)lookups);
    printf("| load | keys | B/key | hit slots mean / p99 | hit lines mean / p99 | miss slots mean / p99 | miss lines mean / "
           "p99 | tag false matches per 1M hits / misses |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    char *list = strdup(loads);
    for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
        double load = atof(tok);
        if (load <= 0 || load >= 1) {
            fprintf(stderr, "load %s is not in (0, 1)\n", tok);
            return 2;
        }
        uint64_t n = (uint64_t)(load * (double)cap);
        mr_kd_table_t *kd = mr_kd_table_new(cap);
        if (kd == NULL)
            return 1;
        for (uint64_t k = 0; k < n; k++) { /* the writer's insert: the first empty slot from home */
            uint64_t h = key_hash(k), j = h & kd->mask;
            while (atomic_load_explicit(&kd->slots[j].word, memory_order_relaxed) != 0)
                j = (j + 1) & kd->mask;
            atomic_store_explicit(&kd->slots[j].word, mr_kd_word(h, MR_LOC_MAKE(1, 8 * k)), memory_order_relaxed);
        }
        uint64_t m = lookups < n ? lookups : n;
        stats_t hit = measure(kd, n, m, true, sl, ln), miss = measure(kd, n, lookups, false, sl, ln);
        printf("| %.2f | %llu | %.1f | %.2f / %u | %.2f / %u | %.2f / %u | %.2f / %u | %.1f / %.1f |\n", load,
               (unsigned long long)n, (double)mr_kd_table_bytes(kd) / (double)n, hit.mean_slots, hit.p99_slots,
               hit.mean_lines, hit.p99_lines, miss.mean_slots, miss.p99_slots, miss.mean_lines, miss.p99_lines,
               hit.false_per_m, miss.false_per_m);
        fflush(stdout);
        mr_kd_table_free(kd);
    }
    free(list);
    free(sl);
    free(ln);
    return 0;
}
