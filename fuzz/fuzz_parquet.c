/* libFuzzer driver: Parquet files (whole file in memory, every row group decoded) under the
 * decode budget of an HTTP write body at the server's default limits (decision 0009): run
 * with -rss_limit_mb / -malloc_limit_mb near that budget (docs/fuzzing.md), so a memory bomb
 * the budget misses is a finding. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/budget.h"
#include "format/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mr_config_t cfg;
    if (cfg.http.max_payload_size == 0)
        mr_config_defaults(&cfg);
    mr_budget_t budget;
    mr_budget_init(&budget, cfg.http.max_payload_size, "server.http.max_payload_size");
    mr_pq_file_t *f;
    mr_error_t e = {0};
    if (mr_pq_open(data, size, &budget, &f, &e) != 0)
        return 0;
    for (int g = 0; g < mr_pq_num_row_groups(f); g++) {
        mr_batch_t *b;
        if (mr_pq_read_row_group(f, g, &b, &e) == 0)
            mr_batch_free(b);
    }
    mr_pq_close(f);
    return 0;
}
