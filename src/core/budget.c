/* budget.c - the decode budget arithmetic; see budget.h. */
#include "core/budget.h"

#include <stdio.h>

void mr_budget_init(mr_budget_t *b, uint64_t payload_limit, const char *source)
{
    mr_budget_mul(payload_limit, MR_BUDGET_FACTOR, &b->limit);
    b->used = 0;
    b->peak = 0;
    b->source = source ? source : "the decode limit";
}

void mr_budget_init_file(mr_budget_t *b, uint64_t file_size)
{
    uint64_t l;
    mr_budget_mul(file_size, MR_BUDGET_FILE_RATIO, &l);
    b->limit = l > MR_BUDGET_FILE_FLOOR ? l : MR_BUDGET_FILE_FLOOR;
    b->used = 0;
    b->peak = 0;
    b->source = "the file's budget: max(64 x its size, 1 GiB)";
}

bool mr_budget_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b != 0 && a > UINT64_MAX / b) {
        *out = UINT64_MAX;
        return false;
    }
    *out = a * b;
    return true;
}

static int over(const mr_budget_t *b, const char *what, const char *column, const char *needed, mr_error_t *err)
{
    return mr_err_set(err, MURR_ETOOBIG,
                      "decode budget exceeded%s%s%s: %s needs %s bytes with %llu already decoded, above the limit of "
                      "%llu bytes (%s)",
                      column ? ": column '" : "", column ? column : "", column ? "'" : "", what, needed,
                      (unsigned long long)b->used, (unsigned long long)b->limit, b->source);
}

int mr_budget_charge(mr_budget_t *b, uint64_t bytes, const char *what, const char *column, mr_error_t *err)
{
    if (bytes > b->limit || b->used > b->limit - bytes) {
        char n[24];
        snprintf(n, sizeof(n), "%llu", (unsigned long long)bytes);
        return over(b, what, column, n, err);
    }
    b->used += bytes;
    if (b->used > b->peak)
        b->peak = b->used;
    return 0;
}

int mr_budget_charge_n(mr_budget_t *b, uint64_t count, uint64_t size, const char *what, const char *column,
                       mr_error_t *err)
{
    uint64_t bytes;
    if (!mr_budget_mul(count, size, &bytes)) {
        char n[64];
        snprintf(n, sizeof(n), "%llu x %llu (more than 2^64)", (unsigned long long)count, (unsigned long long)size);
        return over(b, what, column, n, err);
    }
    return mr_budget_charge(b, bytes, what, column, err);
}

int mr_budget_refuse(const mr_budget_t *b, uint64_t at_least, const char *what, const char *column, mr_error_t *err)
{
    char n[40];
    snprintf(n, sizeof(n), "at least %llu", (unsigned long long)at_least);
    return over(b, what, column, n, err);
}

void mr_budget_release(mr_budget_t *b, uint64_t bytes) { b->used = bytes > b->used ? 0 : b->used - bytes; }
