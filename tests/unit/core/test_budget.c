/* Tests of the decode budget arithmetic (core/budget.h): the edges of a charge (exactly at
 * the limit, one byte over), overflow of count x size and of the limit derivation, release,
 * and the messages naming the limit, its source, the size needed and the column. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/budget.h"

Test(budget, exactly_at_the_limit_then_one_over)
{
    mr_budget_t b;
    mr_budget_init(&b, 1000, "server.http.max_payload_size");
    cr_assert_eq(b.limit, 1000ull * MR_BUDGET_FACTOR);
    mr_error_t e = {0};
    cr_assert_eq(mr_budget_charge(&b, b.limit - 1, "x", "c", &e), 0);
    cr_assert_eq(mr_budget_charge(&b, 1, "x", "c", &e), 0); /* exactly at the limit */
    cr_assert_eq(b.used, b.limit);
    cr_assert_eq(mr_budget_room(&b), 0);
    cr_assert_eq(mr_budget_charge(&b, 0, "x", "c", &e), 0); /* nothing more is fine */
    cr_assert_eq(mr_budget_charge(&b, 1, "a ZSTD buffer", "col7", &e), MURR_ETOOBIG);
    cr_assert_eq(b.used, b.limit, "a refused charge takes nothing");
    char want[256];
    snprintf(want, sizeof(want),
             "decode budget exceeded: column 'col7': a ZSTD buffer needs 1 bytes with %llu already decoded, above the "
             "limit of %llu bytes (server.http.max_payload_size)",
             (unsigned long long)b.limit, (unsigned long long)b.limit);
    cr_assert_str_eq(e.message, want);
}

Test(budget, one_charge_above_the_limit_on_an_empty_budget)
{
    mr_budget_t b;
    mr_budget_init(&b, 4096, "k");
    mr_error_t e = {0};
    cr_assert_eq(mr_budget_charge(&b, b.limit + 1, "the rows", NULL, &e), MURR_ETOOBIG);
    cr_assert_eq(b.used, 0);
    cr_assert(strstr(e.message, "the rows needs 4097 bytes with 0 already decoded") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "column") == NULL, "no column given: %s", e.message);
    cr_assert_eq(mr_budget_charge(&b, UINT64_MAX, "the rows", NULL, &e), MURR_ETOOBIG, "no wrap-around of used + n");
    cr_assert_eq(mr_budget_charge(&b, 4000, "a", NULL, &e), 0);
    cr_assert_eq(mr_budget_charge(&b, UINT64_MAX - 10, "a", NULL, &e), MURR_ETOOBIG, "used + n would wrap to 3989");
    cr_assert_eq(b.used, 4000);
}

Test(budget, multiplication_overflow)
{
    uint64_t out = 7;
    cr_assert(mr_budget_mul(1ull << 32, 1ull << 31, &out));
    cr_assert_eq(out, 1ull << 63);
    cr_assert(!mr_budget_mul(1ull << 32, 1ull << 32, &out));
    cr_assert_eq(out, UINT64_MAX);
    cr_assert(!mr_budget_mul(UINT64_MAX, 2, &out));
    cr_assert(mr_budget_mul(UINT64_MAX, 1, &out));
    cr_assert_eq(out, UINT64_MAX);
    cr_assert(mr_budget_mul(0, UINT64_MAX, &out));
    cr_assert_eq(out, 0);
    cr_assert(mr_budget_mul(UINT64_MAX, 0, &out));
    cr_assert_eq(out, 0);

    mr_budget_t b;
    mr_budget_init(&b, UINT64_MAX, "k");
    cr_assert_eq(b.limit, UINT64_MAX, "the limit saturates");
    mr_error_t e = {0};
    /* 2^33 x 2^31 = 2^64: wraps to 0 in 64 bits; must be refused, not charged as 0 */
    cr_assert_eq(mr_budget_charge_n(&b, 1ull << 33, 1ull << 31, "dictionary indices", "c", &e), MURR_ETOOBIG);
    cr_assert_eq(b.used, 0);
    cr_assert(strstr(e.message, "8589934592 x 2147483648 (more than 2^64)") != NULL, "%s", e.message);
    cr_assert_eq(mr_budget_charge_n(&b, 1ull << 32, 1ull << 31, "x", "c", &e), 0);
    cr_assert_eq(b.used, 1ull << 63);
}

Test(budget, charge_n_at_the_edge)
{
    mr_budget_t b;
    mr_budget_init(&b, 1600, "k");
    mr_error_t e = {0};
    cr_assert_eq(mr_budget_charge_n(&b, 100, 16, "spans", "c", &e), 0);
    cr_assert_eq(b.used, 1600);
    mr_budget_release(&b, 16);
    cr_assert_eq(mr_budget_charge_n(&b, 2, 8, "x", "c", &e), 0);
    cr_assert_eq(mr_budget_charge_n(&b, 1, 1, "x", "c", &e), MURR_ETOOBIG);
}

Test(budget, release_and_peak)
{
    mr_budget_t b;
    mr_budget_init(&b, 100, "k");
    mr_error_t e = {0};
    cr_assert_eq(mr_budget_charge(&b, 60, "page", NULL, &e), 0);
    mr_budget_release(&b, 60);
    cr_assert_eq(b.used, 0);
    cr_assert_eq(b.peak, 60);
    cr_assert_eq(mr_budget_charge(&b, 100, "page", NULL, &e), 0, "released bytes can be charged again");
    mr_budget_release(&b, 1000);
    cr_assert_eq(b.used, 0, "releasing more than charged floors at 0");
    cr_assert_eq(b.peak, 100);
}

Test(budget, refuse_names_a_lower_bound)
{
    mr_budget_t b;
    mr_budget_init(&b, 10, "server.http.max_payload_size");
    mr_error_t e = {0};
    cr_assert_eq(mr_budget_refuse(&b, 11, "dictionary expansion", "s", &e), MURR_ETOOBIG);
    cr_assert(strstr(e.message, "column 's': dictionary expansion needs at least 11 bytes") != NULL, "%s", e.message);
}

Test(budget, file_budget_ratio_floor_and_overflow)
{
    mr_budget_t b;
    mr_budget_init_file(&b, 1000);
    cr_assert_eq(b.limit, MR_BUDGET_FILE_FLOOR, "a small file gets the floor");
    mr_budget_init_file(&b, (MR_BUDGET_FILE_FLOOR / MR_BUDGET_FILE_RATIO) + 1);
    cr_assert_eq(b.limit, MR_BUDGET_FILE_FLOOR + MR_BUDGET_FILE_RATIO, "one byte over the floor's size: the ratio");
    mr_budget_init_file(&b, UINT64_MAX / 2);
    cr_assert_eq(b.limit, UINT64_MAX, "saturates");
}
