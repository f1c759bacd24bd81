/*
 * error.h - the one error convention of murr.
 *
 * Functions return an errno-style int (0 = MURR_OK, else enum murr_status) and take an
 * optional `mr_error_t *err` that receives a specific message. mr_err_set() formats the
 * message and returns the code, so error paths read `return mr_err_set(err, MURR_EINVAL, ...)`.
 * Decoders of untrusted bytes never assert: they return MURR_ECORRUPT with the offset.
 */
#ifndef MR_CORE_ERROR_H
#define MR_CORE_ERROR_H

#include "murr.h"

typedef murr_error mr_error_t;

#if defined(__GNUC__)
#define MR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MR_PRINTF(a, b)
#endif

/* Records code + formatted message in err (if non-NULL) and returns code. */
int mr_err_set(mr_error_t *err, int code, const char *fmt, ...) MR_PRINTF(3, 4);
/* Prepends "prefix" to an existing message (e.g. the column or file it concerns). */
int mr_err_prefix(mr_error_t *err, const char *fmt, ...) MR_PRINTF(2, 3);
void mr_err_clear(mr_error_t *err);
/* Copies src (code and message) into dst (may be NULL); returns src->code. */
int mr_err_copy(mr_error_t *dst, const mr_error_t *src);

#define MR_RETURN_NOT_OK(expr)      \
    do {                            \
        int mr_rc_ = (expr);        \
        if (mr_rc_ != 0)            \
            return mr_rc_;          \
    } while (0)

#define MR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MR_LIKELY(x) __builtin_expect(!!(x), 1)
#define MR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
