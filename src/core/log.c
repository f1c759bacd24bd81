/* log.c - line-oriented logger; see log.h for the format. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = MR_LOG_INFO;
static _Atomic int g_fd = STDERR_FILENO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void mr_log_set_level(mr_log_level_t level) { atomic_store(&g_level, (int)level); }
mr_log_level_t mr_log_get_level(void) { return (mr_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed); }
void mr_log_set_fd(int fd) { atomic_store(&g_fd, fd < 0 ? STDERR_FILENO : fd); }

int mr_log_level_parse(const char *s, mr_log_level_t *out)
{
    for (size_t i = 0; i < MR_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (mr_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = MR_LOG_WARN;
        return 0;
    }
    return MURR_EINVAL;
}

int mr_log_init_from_env(mr_error_t *err)
{
    const char *v = getenv("MURR_LOG");
    if (v == NULL || *v == '\0')
        return 0;
    mr_log_level_t lvl;
    if (mr_log_level_parse(v, &lvl) != 0)
        return mr_err_set(err, MURR_EINVAL,
                          "MURR_LOG='%s' is not a log level (expected error, warn, info, debug or trace)", v);
    mr_log_set_level(lvl);
    return 0;
}

void mr_log_write(mr_log_level_t level, const char *module, const char *fmt, ...)
{
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], module);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(atomic_load(&g_fd), line, len);
    (void)w;
}
