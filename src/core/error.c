/* error.c - formatting of mr_error_t messages; status names. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void mr_err_truncate_mark(mr_error_t *err, int n)
{
    if (n >= (int)sizeof(err->message))
        memcpy(err->message + sizeof(err->message) - 4, "...", 4);
}

int mr_err_set(mr_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    mr_err_truncate_mark(err, n);
    return code;
}

int mr_err_prefix(mr_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return 0;
    char old[sizeof(err->message)];
    memcpy(old, err->message, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(err->message)) {
        int m = snprintf(err->message + n, sizeof(err->message) - (size_t)n, "%s", old);
        mr_err_truncate_mark(err, n + m);
    } else {
        mr_err_truncate_mark(err, n);
    }
    return err->code;
}

void mr_err_clear(mr_error_t *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
    }
}

int mr_err_copy(mr_error_t *dst, const mr_error_t *src)
{
    if (dst && dst != src)
        *dst = *src;
    return src->code;
}

MURR_API const char *murr_status_name(int code)
{
    static const char *const names[] = {
        "OK", "EINVAL", "ENOTFOUND", "EEXIST", "ETOOBIG", "EUNSUPPORTED", "ECORRUPT",
        "EAGAIN", "ENOMEM", "EIO", "EINTERNAL", "ESHAPE", "ESYNTAX", "EMEDIA", "EBUSY", "ENOSPC", "ECONFLICT",
    };
    if (code < 0 || (size_t)code >= MR_ARRAY_LEN(names))
        return "EUNKNOWN";
    return names[code];
}
