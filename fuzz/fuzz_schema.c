/* libFuzzer driver: table schema JSON; a parsed schema must serialise and parse back equal. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_schema_t *s;
    mr_error_t e = {0};
    if (murr_schema_from_json((const char *)data, size, &s, &e) != 0)
        return 0;
    char *j = murr_schema_to_json(s);
    mr_schema_t *s2;
    if (murr_schema_from_json(j, strlen(j), &s2, &e) != 0)
        __builtin_trap();
    char *j2 = murr_schema_to_json(s2);
    if (strcmp(j, j2) != 0)
        __builtin_trap();
    murr_free(j);
    murr_free(j2);
    mr_schema_free(s);
    mr_schema_free(s2);
    return 0;
}
