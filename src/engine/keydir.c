/* keydir.c - allocation of key-directory tables (probing lives in table.c, next to the
 * record format it verifies keys against). Tables are anonymous mmaps so a 10M-key
 * directory (32M slots, 512 MiB) comes back to the OS at once when retired. */
#include "engine/keydir.h"
#include "core/alloc.h"

#include <sys/mman.h>

mr_kd_table_t *mr_kd_table_new(uint64_t capacity)
{
    size_t bytes = sizeof(mr_kd_table_t) + capacity * sizeof(mr_kd_slot_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Probes are random over the whole table: huge pages cut TLB misses (a 10M-key table
     * spans 256 MiB = 65,536 4-KiB pages). Best effort: THP may be disabled. */
    if (bytes >= (2u << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
    mr_kd_table_t *t = p; /* anonymous memory is zeroed: every slot empty */
    t->mask = capacity - 1;
    t->count = 0;
    mr_alloc_account((int64_t)bytes);
    return t;
}

size_t mr_kd_table_bytes(const mr_kd_table_t *t)
{
    return sizeof(mr_kd_table_t) + (t->mask + 1) * sizeof(mr_kd_slot_t);
}

void mr_kd_table_free(void *p)
{
    mr_kd_table_t *t = p;
    if (t == NULL)
        return;
    size_t bytes = mr_kd_table_bytes(t);
    mr_alloc_account(-(int64_t)bytes);
    munmap(t, bytes);
}
