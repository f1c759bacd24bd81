/*
 * log.h - one line per event on stderr:
 *   2026-11-24T19:11:02.123Z INFO  engine: opened table 'x' (3 segments, 1000 rows)
 * RFC 3339 UTC time with milliseconds, level, module, message. The level comes from the
 * config (`log.level`) or the MURR_LOG environment variable (error|warn|info|debug|trace);
 * default info. Thread-safe: each line is written with a single write(2).
 */
#ifndef MR_CORE_LOG_H
#define MR_CORE_LOG_H

#include "core/error.h"

typedef enum mr_log_level {
    MR_LOG_ERROR = 0,
    MR_LOG_WARN = 1,
    MR_LOG_INFO = 2,
    MR_LOG_DEBUG = 3,
    MR_LOG_TRACE = 4,
} mr_log_level_t;

/* Reads MURR_LOG (if set and valid) and sets the level. Returns MURR_EINVAL for a bad value. */
int mr_log_init_from_env(mr_error_t *err);
void mr_log_set_level(mr_log_level_t level);
mr_log_level_t mr_log_get_level(void);
/* Parses "error".."trace" (case-insensitive). */
int mr_log_level_parse(const char *s, mr_log_level_t *out);
/* Redirects output (tests); fd -1 restores stderr. */
void mr_log_set_fd(int fd);

void mr_log_write(mr_log_level_t level, const char *module, const char *fmt, ...) MR_PRINTF(3, 4);

#define mr_log(level, module, ...)                          \
    do {                                                    \
        if ((level) <= mr_log_get_level())                  \
            mr_log_write((level), (module), __VA_ARGS__);   \
    } while (0)

#define MR_ERROR(module, ...) mr_log(MR_LOG_ERROR, module, __VA_ARGS__)
#define MR_WARN(module, ...) mr_log(MR_LOG_WARN, module, __VA_ARGS__)
#define MR_INFO(module, ...) mr_log(MR_LOG_INFO, module, __VA_ARGS__)
#define MR_DEBUG(module, ...) mr_log(MR_LOG_DEBUG, module, __VA_ARGS__)

#endif
