/* libFuzzer driver: fetch-request / Flight-ticket JSON parser. */
#include <stddef.h>
#include <stdint.h>

#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_arena_t a;
    mr_arena_init(&a, 1024);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    mr_json_parse_fetch(&a, (const char *)data, size, size > 0 && (data[0] & 1), &r, &e);
    mr_arena_deinit(&a);
    return 0;
}
