/* float32_exhaustive - checks mr_fmt_f32 on every float32 bit pattern (or a sample):
 *   1. round trip: strtof(text) has exactly the input's bits (NaN/Inf: text is "null");
 *   2. shortest: the value rounded to one significant digit fewer does not round-trip;
 *   3. layout as Python repr: scientific iff the decimal exponent is < -4 or >= 16;
 *      positional integral values end in ".0".
 * Usage: float32_exhaustive [--sample N] [--threads T]. Prints counts; exit 1 on any failure. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"

static _Atomic uint64_t failures, checked;
static uint64_t sample; /* 0 = all */
static int nthreads = 2;

static bool check_one(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    char buf[MR_FMT_FLOAT_MAX + 1];
    size_t n = mr_fmt_f32(f, buf);
    buf[n] = 0;
    if (!isfinite(f))
        return strcmp(buf, "null") == 0;
    float back = strtof(buf, NULL);
    uint32_t bb;
    memcpy(&bb, &back, 4);
    if (bb != bits)
        return false;
    /* significant digits of the mantissa */
    char digs[40];
    int nd = 0, exp10 = 0;
    const char *e = strchr(buf, 'e');
    const char *end = e ? e : buf + n;
    bool seen_nz = false;
    int int_digits = 0;
    bool after_dot = false;
    for (const char *p = buf; p < end; p++) {
        if (*p == '.') {
            after_dot = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            continue;
        if (!after_dot)
            int_digits++;
        if (*p != '0' || seen_nz) {
            if (!seen_nz && after_dot)
                exp10 = -(int)(p - strchr(buf, '.'));
            seen_nz = true;
            digs[nd++] = *p;
        }
    }
    while (nd > 1 && digs[nd - 1] == '0')
        nd--;
    if (f != 0.0f) {
        /* one digit fewer must not round-trip */
        if (nd > 1) {
            char shorter[64];
            snprintf(shorter, sizeof(shorter), "%.*e", nd - 2, fabs((double)f));
            if (strtof(shorter, NULL) == fabsf(f))
                return false;
        }
        /* decimal exponent of the value */
        int de;
        if (e)
            de = atoi(e + 1);
        else if (fabsf(f) >= 1.0f)
            de = int_digits - 1 - (buf[0] == '-' ? 0 : 0);
        else
            de = exp10;
        if (!e && fabsf(f) >= 1.0f) {
            const char *p = buf[0] == '-' ? buf + 1 : buf;
            de = (int)(strchr(p, '.') - p) - 1;
        }
        bool sci = e != NULL;
        if (sci != (de < -4 || de >= 16))
            return false;
        if (!sci && f == truncf(f) && (n < 2 || strcmp(buf + n - 2, ".0") != 0))
            return false;
    }
    return true;
}

static void *worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t local_fail = 0, local = 0;
    if (sample) {
        uint64_t s = 0x9E3779B97F4A7C15ull * (id + 1);
        for (uint64_t i = id; i < sample; i += (uint64_t)nthreads) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            uint32_t bits = (uint32_t)s;
            if (!check_one(bits) && local_fail++ < 5)
                fprintf(stderr, "FAIL bits 0x%08x\n", bits);
            local++;
        }
    } else {
        for (uint64_t b = id; b <= UINT32_MAX; b += (uint64_t)nthreads) {
            if (!check_one((uint32_t)b) && local_fail++ < 5)
                fprintf(stderr, "FAIL bits 0x%08x\n", (uint32_t)b);
            local++;
        }
    }
    atomic_fetch_add(&failures, local_fail);
    atomic_fetch_add(&checked, local);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sample"))
            sample = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads"))
            nthreads = atoi(argv[i + 1]);
    }
    if (nthreads < 1 || nthreads > 64)
        nthreads = 2;
    pthread_t th[64];
    for (int t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    printf("float32_exhaustive: %llu patterns checked, %llu failures\n", (unsigned long long)atomic_load(&checked),
           (unsigned long long)atomic_load(&failures));
    return atomic_load(&failures) == 0 ? 0 : 1;
}
