/* libFuzzer driver: YAML config files: the flat keys and the `tables:` section. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "conf/tables.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_log_set_level(MR_LOG_ERROR);
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t e = {0};
    mr_config_load_yaml(&c, (const char *)data, size, "fuzz.yaml", &e);
    mr_follow_config_t *t = NULL;
    size_t n = 0;
    if (mr_tables_conf_parse((const char *)data, size, "fuzz.yaml", &t, &n, &e) == 0)
        mr_tables_conf_free(t, n);
    return 0;
}
