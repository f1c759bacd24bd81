/* bench_memlines - the memory floor of murr's batched key lookup, without murr: what 1,000
 * random keys cost when each takes one key-directory slot line and one record, for records
 * that sit on one cache line against records that straddle two (decision 0015).
 *
 * Model: a slot table of 2^24 8-byte words in anonymous memory with MADV_HUGEPAGE (as
 * keydir.c maps it), each word naming a record; N records of 64 bytes in a file mapped
 * MAP_SHARED + MADV_RANDOM (as segment.c maps segments), all pages touched first. One
 * "read" is the lookup's three-stage pipeline over 1,000 random slots: prefetch the slot,
 * AHEAD keys later load it and prefetch the record's first and last byte, AHEAD keys later
 * load 8 bytes of the record. Records start at byte OFFSET of a line (0: one line each;
 * 32: every record straddles two). Prints p50/p99 of R reads.
 *
 * Usage: bench_memlines [--rows N] [--reads R] [--ahead A] [--offset 0|8..56] [--dir PATH] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_common.h"

int main(int argc, char **argv)
{
    uint64_t rows = 10000000;
    int reads = 3000, ahead = 16, offset = 0;
    const char *dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reads")) reads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ahead")) ahead = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--offset")) offset = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
    }
    if (offset < 0 || offset > 56 || (offset & 7) || ahead < 1 || ahead > 256 || reads < 1 || rows < 1) {
        fprintf(stderr, "bench_memlines: --offset 0..56 in steps of 8, --ahead 1..256, --reads and --rows >= 1\n");
        return 2;
    }
    enum { KEYS = 1000, REC = 64 };
    size_t bytes = rows * REC + 4096, slots = (size_t)1 << 24;
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench_memlines.%d", dir, (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); return 1; }
    unlink(path); /* gone when the process exits */
    uint8_t *chunk = malloc(1 << 20);
    for (size_t o = 0; o < bytes; o += 1 << 20) {
        for (size_t i = 0; i < 1 << 20; i++)
            chunk[i] = (uint8_t)(o + i);
        if (pwrite(fd, chunk, 1 << 20, (off_t)o) != 1 << 20) { perror("pwrite"); return 1; }
    }
    free(chunk);
    const uint8_t *recs = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    uint64_t *slot = mmap(NULL, slots * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (recs == MAP_FAILED || slot == MAP_FAILED) { perror("mmap"); return 1; }
    madvise((void *)recs, bytes, MADV_RANDOM);
    madvise(slot, slots * 8, MADV_HUGEPAGE);
    volatile uint8_t sink = 0;
    for (size_t o = 0; o < bytes; o += 4096)
        sink += recs[o];
    for (size_t i = 0; i < slots; i++)
        slot[i] = (i * 2654435761u) % rows * REC + (size_t)offset;
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)reads), seed = 42, h[KEYS], at[KEYS], acc = 0;
    for (int r = -reads / 10; r < reads; r++) {
        for (int k = 0; k < KEYS; k++)
            h[k] = bench_rng(&seed) & (slots - 1);
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < KEYS + 2 * ahead; i++) {
            if (i < KEYS)
                __builtin_prefetch(&slot[h[i]]);
            if (i >= ahead && i - ahead < KEYS) {
                int k = i - ahead;
                at[k] = slot[h[k]];
                __builtin_prefetch(recs + at[k]);
                __builtin_prefetch(recs + at[k] + REC - 1);
            }
            if (i >= 2 * ahead && i - 2 * ahead < KEYS) {
                uint64_t v;
                memcpy(&v, recs + at[i - 2 * ahead] + 8, 8);
                acc += v;
            }
        }
        if (r >= 0)
            lat[r] = bench_now_ns() - t0;
    }
    printf("| rows | offset in line | lines per record | ahead | p50 us | p99 us |\n|---:|---:|---:|---:|---:|---:|\n");
    printf("| %llu | %d | %d | %d | %.1f | %.1f |\n", (unsigned long long)rows, offset, offset ? 2 : 1, ahead,
           bench_pct_us(lat, (size_t)reads, 0.5), bench_pct_us(lat, (size_t)reads, 0.99));
    fprintf(stderr, "checksum %llu\n", (unsigned long long)(acc + sink));
    return 0;
}
