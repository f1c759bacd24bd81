/* libFuzzer driver: Parquet files (whole file in memory, every row group decoded). */
#include <stddef.h>
#include <stdint.h>

#include "format/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_pq_file_t *f;
    mr_error_t e = {0};
    if (mr_pq_open(data, size, &f, &e) != 0)
        return 0;
    for (int g = 0; g < mr_pq_num_row_groups(f); g++) {
        mr_batch_t *b;
        if (mr_pq_read_row_group(f, g, &b, &e) == 0)
            mr_batch_free(b);
    }
    mr_pq_close(f);
    return 0;
}
