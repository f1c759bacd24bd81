/* libFuzzer driver: fetch-request / Flight-ticket JSON parser, then the typed key batch it
 * builds against three table keys (one utf8 column, one int32 column, a compound
 * utf8 + uint16 key); a key batch that is built must be valid. Decoded under the server's
 * default decode budget. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mr_schema_t *schema(const char *json)
{
    mr_schema_t *s;
    if (murr_schema_from_json(json, strlen(json), &s, NULL) != 0)
        abort(); /* a broken fixture, not a finding */
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mr_schema_t *schemas[3];
    if (schemas[0] == NULL) {
        schemas[0] = schema("{\"key\":\"k\",\"columns\":{\"k\":{\"dtype\":\"utf8\"},\"v\":{\"dtype\":\"float32\"}}}");
        schemas[1] = schema("{\"columns\":{\"v\":{\"dtype\":\"float64\"},"
                            "\"id\":{\"dtype\":\"int32\",\"key\":true,\"nullable\":false}}}");
        schemas[2] = schema("{\"columns\":{\"u\":{\"dtype\":\"utf8\",\"key\":true,\"nullable\":false},"
                            "\"n\":{\"dtype\":\"uint16\",\"key\":true,\"nullable\":false},\"v\":{\"dtype\":\"bool\"}}}");
    }
    mr_arena_t a;
    mr_arena_init(&a, 1024);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    mr_budget_t budget; /* the server's default limit (1 GiB): a memory bomb is a finding */
    mr_budget_init(&budget, 1ull << 30, "server.http.max_payload_size");
    if (mr_json_parse_fetch(&a, (const char *)data, size, size > 0 && (data[0] & 1), &budget, &r, &e) == 0) {
        for (int i = 0; i < 3; i++) {
            mr_batch_t *b = NULL;
            if (mr_json_fetch_keys(&r, schemas[i], &b, &e) == 0) {
                if (mr_batch_validate(b, &e) != 0 || (!r.sparse && b->num_rows != (int64_t)r.nkeys))
                    abort();
                mr_batch_free(b);
            }
        }
    }
    mr_arena_deinit(&a);
    return 0;
}
