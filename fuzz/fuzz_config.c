/* libFuzzer driver: YAML config files. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_log_set_level(MR_LOG_ERROR);
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t e = {0};
    mr_config_load_yaml(&c, (const char *)data, size, "fuzz.yaml", &e);
    return 0;
}
