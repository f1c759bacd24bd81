/* libFuzzer driver: Arrow IPC stream reader. The first byte picks a feed split so the
 * incremental paths (need-more vs malformed) are exercised; every decoded batch is also
 * re-encoded by the writer. Limits are the server's defaults for an HTTP write body (decision
 * 0009): run with -rss_limit_mb / -malloc_limit_mb near the decode budget (docs/fuzzing.md),
 * so a memory bomb the budget misses is a finding. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "format/arrow_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t split = (size_t)data[0] + 1;
    data++;
    size--;
    static mr_config_t cfg;
    if (cfg.http.max_payload_size == 0)
        mr_config_defaults(&cfg);
    mr_ipc_reader_t *r = mr_ipc_reader_new(cfg.http.max_payload_size, cfg.http.max_payload_size,
                                           "server.http.max_payload_size");
    mr_error_t e = {0};
    size_t fed = 0;
    for (int guard = 0; guard < 100000; guard++) {
        mr_batch_t *b = NULL;
        int rc = mr_ipc_reader_next(r, &b, &e);
        if (rc == MURR_EAGAIN) {
            if (fed == size) {
                mr_ipc_reader_finish(r, &e);
                break;
            }
            size_t k = size - fed < split ? size - fed : split;
            mr_ipc_reader_feed(r, data + fed, k, &e);
            fed += k;
            continue;
        }
        if (rc != 0 || b == NULL)
            break;
        mr_arena_t a;
        mr_arena_init(&a, 1024);
        struct iovec *iov;
        int n;
        size_t total;
        mr_ipc_write_stream(&a, b, NULL, 0, &iov, &n, &total, &e);
        mr_arena_deinit(&a);
        mr_batch_free(b);
    }
    mr_ipc_reader_free(r);
    return 0;
}
