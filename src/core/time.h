/* time.h - monotonic and wall clocks. */
#ifndef MR_CORE_TIME_H
#define MR_CORE_TIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mr_wall_seconds(void) { return (uint64_t)time(NULL); }

#endif
