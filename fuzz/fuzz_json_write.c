/* libFuzzer driver: columnar JSON write bodies decoded against a schema with every scalar
 * dtype and one with list columns, under the decode budget of the server's default limits
 * (decision 0009); successful batches are validated and written back as JSON. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/budget.h"
#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const mr_schema_t *s, const uint8_t *data, size_t size)
{
    static mr_config_t cfg;
    if (cfg.http.max_payload_size == 0)
        mr_config_defaults(&cfg);
    mr_budget_t budget;
    mr_budget_init(&budget, cfg.http.max_payload_size, "server.http.max_payload_size");
    mr_batch_t *b = NULL;
    mr_error_t e = {0};
    if (mr_json_parse_write((const char *)data, size, s, &budget, &b, &e) == 0) {
        if (mr_batch_validate(b, &e) != 0)
            __builtin_trap();
        mr_buf_t out;
        mr_buf_init(&out);
        mr_json_write_batch(&out, b, &e);
        mr_buf_deinit(&out);
        mr_batch_free(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mr_schema_t *s, *lists;
    if (s == NULL) {
        s = mr_schema_make("k", "k:utf8", "b:bool?", "i8:int8?", "i64:int64?", "u64:uint64?", "f:float32?",
                           "d:float64", "s:utf8?", NULL);
        /* list columns (issue 16): fixed float32, variable float16 and int8 */
        lists = mr_schema_make("k", "k:utf8", "v:list<float32>[3]?", "h:list<float16>?", "q:list<int8>", NULL);
    }
    decode(s, data, size);
    decode(lists, data, size);
    return 0;
}
