/* Tests of the JSON fast paths: float text, response writer, fetch parser, write decoder. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "format/json.h"

static mr_budget_t *unlimited(void)
{
    static mr_budget_t b;
    mr_budget_init(&b, UINT64_MAX, "no limit");
    return &b;
}

static const char *f32s(float v)
{
    static char buf[64];
    size_t n = mr_fmt_f32(v, buf);
    buf[n] = 0;
    return buf;
}
static const char *f64s(double v)
{
    static char buf[64];
    size_t n = mr_fmt_f64(v, buf);
    buf[n] = 0;
    return buf;
}

Test(fmt, python_repr_style)
{
    cr_assert_str_eq(f32s(0.95f), "0.95");
    cr_assert_str_eq(f32s(1.5f), "1.5");
    cr_assert_str_eq(f32s(2.0f), "2.0");
    cr_assert_str_eq(f32s(-0.0f), "-0.0");
    cr_assert_str_eq(f32s(0.1f), "0.1");
    cr_assert_str_eq(f32s(FLT_MAX), "3.4028235e+38");
    cr_assert_str_eq(f32s(1e-5f), "1e-05");
    cr_assert_str_eq(f32s(NAN), "null");
    cr_assert_str_eq(f32s(INFINITY), "null");
    cr_assert_str_eq(f64s(3.15), "3.15");
    cr_assert_str_eq(f64s(-1e10), "-10000000000.0");
    cr_assert_str_eq(f64s(1e16), "1e+16");
    cr_assert_str_eq(f64s(1e15), "1000000000000000.0");
    cr_assert_str_eq(f64s(0.0001), "0.0001");
    cr_assert_str_eq(f64s(0.00001), "1e-05");
    cr_assert_str_eq(f64s(123456.789), "123456.789");
    cr_assert_str_eq(f64s(5e-324), "5e-324");
    cr_assert_str_eq(f64s(1.7976931348623157e308), "1.7976931348623157e+308");
    cr_assert_str_eq(f64s(0.30000000000000004), "0.30000000000000004");
    cr_assert_str_eq(f64s(-1.5e-7), "-1.5e-07");
}

/* Random bit patterns: the text reads back to the same bits, and no shorter digit string does. */
Test(fmt, random_round_trip_and_shortest, .timeout = 120)
{
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t b32 = (uint32_t)s;
        float f;
        memcpy(&f, &b32, 4);
        double d;
        memcpy(&d, &s, 8);
        if (isfinite(f)) {
            const char *t = f32s(f);
            float back = strtof(t, NULL);
            cr_assert(memcmp(&back, &f, 4) == 0, "f32 %a -> %s", (double)f, t);
        }
        if (isfinite(d)) {
            const char *t = f64s(d);
            double back = strtod(t, NULL);
            cr_assert(memcmp(&back, &d, 8) == 0, "f64 %a -> %s", d, t);
            /* shortest: count significant digits, try one fewer */
            /* significant digits: mantissa digits without leading and trailing zeros */
            char digs[64];
            int nd = 0;
            for (const char *p = t; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9' && (nd > 0 || *p != '0'))
                    digs[nd++] = *p;
            while (nd > 0 && digs[nd - 1] == '0')
                nd--;
            char shorter[64];
            if (nd > 2) {
                snprintf(shorter, sizeof(shorter), "%.*e", nd - 3, fabs(d));
                cr_assert_neq(strtod(shorter, NULL), fabs(d), "%s is not shortest (%s)", t, shorter);
            }
        }
    }
}

/* An independent oracle for the shortest digits (it shares no code with the formatter):
 * from glibc's 60-digit expansion of the value, for p = 1, 2, ... significant digits take
 * the p-digit decimals just below and just above it; the first p at which strtod/strtof
 * reads one of them back to the same value wins (both: the closer, ties to an even digit).
 * Both neighbours matter: next to a power of two the interval is lopsided and the
 * correctly rounded p-digit decimal can miss it while the other one is inside.
 * Laid out like Python's repr(). */
static bool reads_back(const char *dig, int nd, int e, double a, bool is_f32)
{
    char t[96];
    snprintf(t, sizeof(t), "%c.%.*se%d", dig[0], nd - 1, dig + 1, e);
    return is_f32 ? strtof(t, NULL) == (float)a : strtod(t, NULL) == a;
}

static const char *oracle(double a, bool is_f32)
{
    static char out[96];
    char ex[96], all[72], dig[72];
    bool neg = signbit(a);
    a = fabs(a);
    if (a == 0) {
        snprintf(out, sizeof(out), "%s0.0", neg ? "-" : "");
        return out;
    }
    snprintf(ex, sizeof(ex), "%.60e", a);
    int na = 0;
    const char *q = ex;
    for (; *q != 'e'; q++)
        if (*q != '.')
            all[na++] = *q;
    int e0 = atoi(q + 1), e = e0, nd = 0;
    for (int p = 1; p <= 17; p++) {
        char lo[24], hi[24];
        memcpy(lo, all, (size_t)p);
        memcpy(hi, all, (size_t)p);
        int ehi = e0, i = p - 1;
        while (i >= 0 && hi[i] == '9')
            hi[i--] = '0';
        if (i >= 0)
            hi[i]++;
        else { /* 99..9 + 1 = 100..0 */
            hi[0] = '1';
            ehi++;
        }
        bool ok_lo = reads_back(lo, p, e0, a, is_f32), ok_hi = reads_back(hi, p, ehi, a, is_f32);
        if (!ok_lo && !ok_hi)
            continue;
        bool take_hi = ok_hi && !ok_lo;
        if (ok_lo && ok_hi) {
            int c = all[p] - '5';
            for (int j = p + 1; c == 0 && j < na; j++)
                c = all[j] != '0';
            take_hi = c > 0 || (c == 0 && (lo[p - 1] - '0') % 2 == 1);
        }
        memcpy(dig, take_hi ? hi : lo, (size_t)p);
        e = take_hi ? ehi : e0;
        nd = p;
        break;
    }
    cr_assert_gt(nd, 0, "oracle found no digits for %a", a);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = 0;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -e - 1; i++)
                *o++ = '0';
            o += sprintf(o, "%s", dig);
        } else if (nd <= e + 1) {
            o += sprintf(o, "%s", dig);
            for (int i = nd; i < e + 1; i++)
                *o++ = '0';
            o += sprintf(o, ".0");
        } else {
            o += sprintf(o, "%.*s.%s", e + 1, dig, dig + e + 1);
        }
    } else {
        o += sprintf(o, "%c%s%s", dig[0], nd > 1 ? "." : "", dig + 1);
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    return out;
}

static void expect_oracle64(double d)
{
    char want[64];
    snprintf(want, sizeof(want), "%s", oracle(d, false));
    cr_assert_str_eq(f64s(d), want, "f64 %a", d);
}

Test(fmt, oracle_float64_edges, .timeout = 300)
{
    /* the oracle's own layout, checked on known values first */
    cr_assert_str_eq(oracle(0.001, false), "0.001");
    cr_assert_str_eq(oracle(0.5, false), "0.5");
    cr_assert_str_eq(oracle(100.0, false), "100.0");
    cr_assert_str_eq(oracle(123.25, false), "123.25");
    cr_assert_str_eq(oracle(5e-324, false), "5e-324");
    cr_assert_str_eq(oracle(0x1p-1017, false), "7.120236347223045e-307"); /* Python's repr */
    cr_assert_str_eq(oracle(0x1p-1022, false), "2.2250738585072014e-308");
    /* every subnormal with a small significand, both neighbours of every power of two and
     * of every power of ten, and the extremes */
    for (uint64_t f = 1; f < 20000; f++) {
        double d;
        memcpy(&d, &f, 8);
        expect_oracle64(d);
    }
    for (int e = -1074; e <= 1023; e++) {
        double d = ldexp(1.0, e);
        expect_oracle64(d);
        expect_oracle64(nextafter(d, 0));
        expect_oracle64(nextafter(d, INFINITY));
    }
    for (int e = -323; e <= 308; e++) {
        char t[16];
        snprintf(t, sizeof(t), "1e%d", e);
        double d = strtod(t, NULL);
        expect_oracle64(d);
        expect_oracle64(nextafter(d, 0));
        expect_oracle64(nextafter(d, INFINITY));
        expect_oracle64(-d);
    }
    expect_oracle64(DBL_MAX);
    expect_oracle64(DBL_MIN);
    expect_oracle64(DBL_TRUE_MIN);
}

Test(fmt, oracle_random_bits, .timeout = 600)
{
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 300000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double d;
        memcpy(&d, &s, 8);
        if (isfinite(d))
            expect_oracle64(d);
        uint32_t b32 = (uint32_t)(s >> 17);
        float f;
        memcpy(&f, &b32, 4);
        if (isfinite(f)) {
            char want[64];
            snprintf(want, sizeof(want), "%s", oracle(f, true));
            cr_assert_str_eq(f32s(f), want, "f32 %a", (double)f);
        }
        /* values of ordinary magnitude, as features are */
        double v = (double)(int64_t)(s % 2000001) / 1000.0 - 1000.0;
        expect_oracle64(v);
        float fv = (float)v;
        char want[64];
        snprintf(want, sizeof(want), "%s", oracle(fv, true));
        cr_assert_str_eq(f32s(fv), want, "f32 %a", (double)fv);
    }
}

static char *write_json(mr_batch_t *b)
{
    mr_buf_t out;
    mr_buf_init(&out);
    mr_error_t e = {0};
    cr_assert_eq(mr_json_write_batch(&out, b, &e), 0);
    mr_buf_append_byte(&out, 0);
    return (char *)mr_buf_detach(&out, NULL);
}

Test(json_write, all_types_nulls_escapes)
{
    mr_batch_t *b = mr_batch_new(5, 3);
    mr_colbuilder_t s, f, i, u, bo;
    mr_colbuilder_init(&s, MURR_UTF8);
    mr_colbuilder_init(&f, MURR_FLOAT32);
    mr_colbuilder_init(&i, MURR_INT64);
    mr_colbuilder_init(&u, MURR_UINT64);
    mr_colbuilder_init(&bo, MURR_BOOL);
    mr_colbuilder_append_str(&s, "a\"b\\\n\x01\xce\xb4", 8);
    mr_colbuilder_append_null(&s);
    mr_colbuilder_append_str(&s, "", 0);
    mr_colbuilder_append_float(&f, 0.95f);
    mr_colbuilder_append_float(&f, NAN);
    mr_colbuilder_append_null(&f);
    mr_colbuilder_append_int(&i, INT64_MIN);
    mr_colbuilder_append_int(&i, INT64_MAX);
    mr_colbuilder_append_null(&i);
    mr_colbuilder_append_uint(&u, UINT64_MAX);
    mr_colbuilder_append_uint(&u, (1ull << 53) + 1);
    mr_colbuilder_append_uint(&u, 0);
    mr_colbuilder_append_bool(&bo, true);
    mr_colbuilder_append_bool(&bo, false);
    mr_colbuilder_append_null(&bo);
    const char *names[] = {"s", "f", "i", "u", "b"};
    mr_colbuilder_t *cbs[] = {&s, &f, &i, &u, &bo};
    for (int c = 0; c < 5; c++) {
        mr_batch_set_name(b, c, names[c], 1);
        mr_colbuilder_finish(cbs[c], b, c);
    }
    char *j = write_json(b);
    cr_assert_str_eq(j, "{\"columns\":{\"s\":[\"a\\\"b\\\\\\n\\u0001\xce\xb4\",null,\"\"],\"f\":[0.95,null,null],"
                        "\"i\":[-9223372036854775808,9223372036854775807,null],"
                        "\"u\":[18446744073709551615,9007199254740993,0],\"b\":[true,false,null]}}");
    mr_free(j);
    mr_batch_free(b);
}

Test(json_fetch, parses_and_refuses_with_offsets)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    const char *ok = " {\"extra\":[{\"x\":[1,2.5e3,null,true]}],\"keys\":[\"a\",\"\\u00e9\\ud83d\\ude00\",\"\"],"
                     "\"columns\":[\"score\"]} ";
    cr_assert_eq(mr_json_parse_fetch(&a, ok, strlen(ok), false, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert_eq(r.nkeys, 3);
    cr_assert(mr_slice_eq_cstr(r.keys[0], "a"));
    cr_assert(mr_slice_eq_cstr(r.keys[1], "\xc3\xa9\xf0\x9f\x98\x80"));
    cr_assert_eq(r.keys[2].len, 0);
    cr_assert_eq(r.ncolumns, 1);
    struct {
        const char *body;
        int code;
        const char *needle;
    } bad[] = {
        {"{\"keys\":[\"a\"]}", MURR_ESHAPE, "missing field `columns`"},
        {"{\"keys\":[\"a\",3],\"columns\":[]}", MURR_ESHAPE, "keys[1]: expected a string, got a number"},
        {"{\"keys\":\"a\",\"columns\":[]}", MURR_ESHAPE, "keys: expected an array of keys or an object"},
        {"{\"keys\":[true],\"columns\":[]}", MURR_ESHAPE, "keys[0]: expected a string or an integer, got a boolean"},
        {"{\"keys\":[1,\"a\"],\"columns\":[]}", MURR_ESHAPE, "keys[1]: expected a number like keys[0], got a string"},
        {"{\"keys\":{\"id\":\"a\"},\"columns\":[]}", MURR_EINVAL, "keys.id: expected an array, got a string"},
        {"[]", MURR_ESHAPE, "expected an object"},
        {"{\"keys\":[\"a\" \"b\"]}", MURR_ESYNTAX, "expected ',' or ']' at byte 13"},
        {"{\"keys\":[\"\\ud800\"]}", MURR_ESYNTAX, "unpaired high surrogate"},
        {"{\"keys\":[\"a\x01\"]}", MURR_ESYNTAX, "control character"},
        {"{\"keys\":[\"\xff\"]}", MURR_ESYNTAX, "invalid UTF-8"},
        {"{\"keys\":[01]}", MURR_ESYNTAX, "expected ',' or ']'"},
        {"{} x", MURR_ESYNTAX, "trailing characters"},
        {"", MURR_ESYNTAX, "expected a value at byte 0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = mr_json_parse_fetch(&a, bad[i].body, strlen(bad[i].body), false, unlimited(), &r, &e);
        cr_assert_eq(rc, bad[i].code, "case %zu: %d %s", i, rc, e.message);
        cr_assert(strstr(e.message, bad[i].needle), "case %zu: '%s' lacks '%s'", i, e.message, bad[i].needle);
    }
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = 0;
    cr_assert_eq(mr_json_parse_fetch(&a, deep, 100, false, unlimited(), &r, &e), MURR_ESYNTAX);
    cr_assert(strstr(e.message, "nesting"), "%s", e.message);
    const char *ticket = "{\"table\":\"t\",\"keys\":[],\"columns\":[\"c\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, ticket, strlen(ticket), true, unlimited(), &r, &e), 0);
    cr_assert(mr_slice_eq_cstr(r.table, "t"));
    /* truncation at every byte: an error, never a crash */
    for (size_t n = 0; n < strlen(ok) - 1; n++)
        cr_assert_neq(mr_json_parse_fetch(&a, ok, n, false, unlimited(), &r, &e), 0, "prefix %zu", n);
    mr_arena_deinit(&a);
}

Test(json_write_body, dtype_rules_and_errors)
{
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "i8:int8?", "u64:uint64?", "f:float32?", "b:bool?", "nn:int32", NULL);
    mr_batch_t *b;
    mr_error_t e = {0};
    const char *ok = "{\"columns\":{\"nn\":[1,2],\"id\":[\"a\",\"b\"],\"i8\":[-128,null],\"u64\":[18446744073709551615,0],"
                     "\"f\":[0.95,3],\"b\":[true,null],\"extra\":[1]}}";
    cr_assert_eq(mr_json_parse_write(ok, strlen(ok), s, unlimited(), &b, &e), 0, "%s", e.message);
    cr_assert_eq(b->num_rows, 2);
    cr_assert_str_eq(b->columns[0].name, "id");
    cr_assert_eq(((int8_t *)b->columns[1].values)[0], -128);
    cr_assert_eq(b->columns[1].null_count, 1);
    cr_assert_eq(((uint64_t *)b->columns[2].values)[0], UINT64_MAX);
    cr_assert_eq(((float *)b->columns[3].values)[0], 0.95f);
    cr_assert_eq(((float *)b->columns[3].values)[1], 3.0f);
    mr_batch_free(b);
    struct {
        const char *body;
        int code;
        const char *needle;
    } bad[] = {
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[200],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "Table error: column 'i8': Table error: row 0: invalid value: integer `200`, expected i8"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1.0],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "invalid type: floating point `1.0`, expected i8"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[-1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "integer `-1`, expected u64"},
        /* numbers beyond the float column's range are refused, not stored as infinities */
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[1],\"f\":[3.5e38],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "row 0: invalid value: number `3.5e38` is out of range for float32 (largest 3.4028235e38)"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[1],\"f\":[-1e39],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "number `-1e39` is out of range for float32"},
        /* past 19 digits every step is overflow-checked: 2^64 is refused, a long fraction is a float */
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[18446744073709551616],\"f\":[1],\"b\":[true],\"nn\":[1]}}",
         MURR_EINVAL, "integer `18446744073709551616`, expected u64"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[99999999999999999999999],\"f\":[1],\"b\":[true],\"nn\":[1]}}",
         MURR_EINVAL, "integer `99999999999999999999999`, expected u64"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[184467440737095516150.5],\"f\":[1],\"b\":[true],\"nn\":[1]}}",
         MURR_EINVAL, "floating point `184467440737095516150.5`, expected u64"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[1],\"f\":[\"x\"],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "expected number, got a string"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[1],\"f\":[1],\"b\":[1],\"nn\":[1]}}", MURR_EINVAL,
         "expected bool, got a number"},
        {"{\"columns\":{\"id\":[null],\"i8\":[1],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "Segment error: null in key column 'id' at row 0"},
        {"{\"columns\":{\"id\":[\"a\"],\"i8\":[1],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[null]}}", MURR_EINVAL,
         "column 'nn' is declared non-nullable but row 0 is null"},
        {"{\"columns\":{\"id\":[\"a\",\"b\"],\"i8\":[1],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "column 'i8' has 1 values but column 'id' has 2"},
        {"{\"columns\":{\"id\":[\"a\"],\"u64\":[1],\"f\":[1],\"b\":[true],\"nn\":[1]}}", MURR_EINVAL,
         "Table error: missing column 'i8' in write payload"},
        {"{\"columns\":{\"id\":\"a\"}}", MURR_ESHAPE, "columns.id: expected an array"},
        {"{\"rows\":[]}", MURR_ESHAPE, "Table error: invalid JSON"},
        {"{\"columns\":", MURR_ESYNTAX, "Table error: invalid JSON: expected a value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = NULL;
        int rc = mr_json_parse_write(bad[i].body, strlen(bad[i].body), s, unlimited(), &b, &e);
        cr_assert_eq(rc, bad[i].code, "case %zu: %d %s", i, rc, e.message);
        cr_assert_null(b);
        cr_assert(strstr(e.message, bad[i].needle), "case %zu: '%s' lacks '%s'", i, e.message, bad[i].needle);
    }
    mr_schema_free(s);
}

/* ---- fetch keys: both forms, decoded against a table schema ---- */

/* Parses body and builds its key batch for s: the status, *b on success. */
static int keys_of(mr_arena_t *a, const char *body, const mr_schema_t *s, mr_fetch_req_t *r, mr_batch_t **b,
                   mr_error_t *e)
{
    *b = NULL;
    int rc = mr_json_parse_fetch(a, body, strlen(body), false, unlimited(), r, e);
    return rc ? rc : mr_json_fetch_keys(r, s, b, e);
}

/* body is refused for s with `code` and a message containing `needle`; the encoder of
 * scanned keys declines it first (it leaves every refusal to the key batch). */
static void expect_refused(mr_arena_t *a, const char *body, const mr_schema_t *s, int code, const char *needle)
{
    mr_fetch_req_t r;
    mr_batch_t *b;
    mr_error_t e = {0};
    const char **keys;
    size_t *lens;
    if (mr_json_parse_fetch(a, body, strlen(body), false, unlimited(), &r, &e) == 0)
        cr_assert_eq(mr_json_fetch_encode(&r, s, a, &keys, &lens, &e), MURR_EAGAIN, "%s: %s", body, e.message);
    int rc = keys_of(a, body, s, &r, &b, &e);
    cr_assert_eq(rc, code, "%s: %d %s", body, rc, e.message);
    cr_assert(strstr(e.message, needle), "%s: '%s' lacks '%s'", body, e.message, needle);
    cr_assert_null(b);
}

Test(json_fetch_keys, array_form_string_and_integer_keys)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_fetch_req_t r;
    mr_batch_t *b;
    mr_error_t e = {0};
    mr_schema_t *str = mr_schema_make("id", "id:utf8", "v:float32?", NULL);
    mr_schema_t *i32 = mr_schema_make("id", "v:float32?", "id:int32", NULL);
    /* strings: the fast path slices, a dense answer; the batch is there too */
    cr_assert_eq(keys_of(&a, "{\"keys\":[\"x\",\"\"],\"columns\":[\"v\"]}", str, &r, &b, &e), 0, "%s", e.message);
    cr_assert(!r.sparse && r.keys != NULL && r.nkeys == 2 && r.key_name.len == 0);
    cr_assert(b->num_columns == 1 && b->num_rows == 2 && b->columns[0].dtype == MURR_UTF8);
    cr_assert_str_eq(b->columns[0].name, "id");
    mr_batch_free(b);
    /* integers: typed by the key's dtype, range-checked as write bodies are */
    cr_assert_eq(keys_of(&a, "{\"keys\":[-2147483648,7,2147483647],\"columns\":[\"v\"]}", i32, &r, &b, &e), 0, "%s",
                 e.message);
    cr_assert(!r.sparse && r.keys == NULL && r.nkeys == 3);
    cr_assert(b->num_rows == 3 && b->columns[0].dtype == MURR_INT32 && b->columns[0].validity == NULL);
    cr_assert_eq(((int32_t *)b->columns[0].values)[0], INT32_MIN);
    cr_assert_eq(((int32_t *)b->columns[0].values)[2], INT32_MAX);
    cr_assert_str_eq(b->columns[0].name, "id");
    mr_batch_free(b);
    /* an empty array suits every single-column key */
    cr_assert_eq(keys_of(&a, "{\"keys\":[],\"columns\":[\"v\"]}", i32, &r, &b, &e), 0, "%s", e.message);
    cr_assert(b->num_rows == 0 && b->num_columns == 1 && b->columns[0].dtype == MURR_INT32);
    mr_batch_free(b);
    struct {
        const char *body;
        const mr_schema_t *s;
        int code;
        const char *needle;
    } bad[] = {
        {"{\"keys\":[2147483648],\"columns\":[\"v\"]}", i32, MURR_EINVAL,
         "column 'id': Table error: row 0: invalid value: integer `2147483648`, expected i32"},
        {"{\"keys\":[1,2.5],\"columns\":[\"v\"]}", i32, MURR_EINVAL, "row 1: invalid type: floating point `2.5`"},
        {"{\"keys\":[\"1\"],\"columns\":[\"v\"]}", i32, MURR_EINVAL, "row 0: expected integer, got a string"},
        {"{\"keys\":[1],\"columns\":[\"v\"]}", str, MURR_ESHAPE, "keys[0]: expected a string, got a number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused(&a, bad[i].body, bad[i].s, bad[i].code, bad[i].needle);
    mr_schema_free(str);
    mr_schema_free(i32);
    mr_arena_deinit(&a);
}

Test(json_fetch_keys, object_form_compound_key)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_fetch_req_t r;
    mr_batch_t *b;
    mr_error_t e = {0};
    /* key (u, n) in the middle of the schema; the batch follows schema order, not the body's */
    mr_schema_t *s = mr_schema_make("u,n", "v:float32?", "u:utf8", "n:uint16", "w:int8?", NULL);
    const char *ok = "{\"columns\":[\"v\"],\"keys\":{\"n\":[65535,0,7],\"u\":[\"a\",\"\\u00e9\",\"\"]}}";
    cr_assert_eq(keys_of(&a, ok, s, &r, &b, &e), 0, "%s", e.message);
    cr_assert(r.sparse && r.keys == NULL);
    cr_assert(b->num_columns == 2 && b->num_rows == 3);
    cr_assert_str_eq(b->columns[0].name, "u");
    cr_assert_str_eq(b->columns[1].name, "n");
    cr_assert_eq(b->columns[1].dtype, MURR_UINT16);
    cr_assert_eq(((uint16_t *)b->columns[1].values)[0], 65535);
    size_t l;
    const uint8_t *p = mr_column_str(&b->columns[0], 1, &l);
    cr_assert(l == 2 && memcmp(p, "\xc3\xa9", 2) == 0);
    cr_assert_eq(mr_batch_validate(b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    /* zero keys: a zero-row batch of both columns */
    cr_assert_eq(keys_of(&a, "{\"keys\":{\"u\":[],\"n\":[]},\"columns\":[\"v\"]}", s, &r, &b, &e), 0, "%s", e.message);
    cr_assert(b->num_rows == 0 && b->num_columns == 2);
    mr_batch_free(b);
    struct {
        const char *body;
        const char *needle;
    } bad[] = {
        {"{\"keys\":[\"a\"],\"columns\":[\"v\"]}",
         "the key of this table has 2 columns (u, n): send keys as an object with one array per key column"},
        {"{\"keys\":{\"u\":[\"a\",\"b\"],\"n\":[1]},\"columns\":[\"v\"]}",
         "key column 'n' has 1 values but key column 'u' has 2: all key columns of a fetch must have the same length"},
        {"{\"keys\":{\"u\":[\"a\"]},\"columns\":[\"v\"]}", "missing key column 'n' in keys (key columns: u, n)"},
        {"{\"keys\":{\"u\":[\"a\"],\"n\":[1],\"v\":[1]},\"columns\":[\"v\"]}",
         "keys has a member 'v', which is not a key column of the table (key columns: u, n)"},
        {"{\"keys\":{\"u\":[\"a\"],\"n\":[1],\"zz\":[]},\"columns\":[\"v\"]}", "member 'zz', which is not a key"},
        {"{\"keys\":{\"u\":[\"a\",\"b\"],\"n\":[1,\"2\"]},\"columns\":[\"v\"]}",
         "column 'n': Table error: row 1: expected integer, got a string"},
        {"{\"keys\":{\"u\":[\"a\",3],\"n\":[1,2]},\"columns\":[\"v\"]}",
         "column 'u': Table error: row 1: expected string, got a number"},
        {"{\"keys\":{\"u\":[\"a\"],\"n\":[-1]},\"columns\":[\"v\"]}", "row 0: invalid value: integer `-1`, expected u16"},
        {"{\"keys\":{\"u\":[null],\"n\":[1]},\"columns\":[\"v\"]}", "null in key column 'u' at row 0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused(&a, bad[i].body, s, MURR_EINVAL, bad[i].needle);
    mr_schema_free(s);
    mr_arena_deinit(&a);
}

Test(json_fetch_keys, object_form_single_string_key_fast_path)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    const char *one = "{\"keys\":{\"doc\":[\"d1\",\"nope\"]},\"columns\":[\"score\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, one, strlen(one), false, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert(r.sparse && r.keys != NULL && r.nkeys == 2);
    cr_assert(mr_slice_eq_cstr(r.key_name, "doc") && mr_slice_eq_cstr(r.keys[1], "nope"));
    /* integers in the one array, or two arrays: no string fast path */
    const char *ints = "{\"keys\":{\"id\":[1,2,3]},\"columns\":[\"score\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, ints, strlen(ints), false, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert(r.sparse && r.keys == NULL && r.nkeys == 3);
    const char *two = "{\"keys\":{\"a\":[\"x\"],\"b\":[\"y\"]},\"columns\":[\"score\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, two, strlen(two), false, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert(r.sparse && r.keys == NULL);
    /* a ticket with the object form */
    const char *t = "{\"table\":\"features\",\"keys\":{\"id\":[\"a\"]},\"columns\":[\"score\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, t, strlen(t), true, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert(mr_slice_eq_cstr(r.table, "features") && r.sparse && r.nkeys == 1);
    /* truncation at every byte: an error, never a crash */
    for (size_t n = 0; n + 1 < strlen(t); n++)
        cr_assert_neq(mr_json_parse_fetch(&a, t, n, true, unlimited(), &r, &e), 0, "prefix %zu", n);
    mr_arena_deinit(&a);
}

Test(json_fetch_keys, columns_metadata_array)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_error_t e = {0};
    mr_slice_t *names;
    size_t n;
    const char *two = "[\"a\", \"b\\n\"]";
    cr_assert_eq(mr_json_parse_string_array(&a, two, strlen(two), "columns", unlimited(), &names, &n, &e), 0, "%s", e.message);
    cr_assert(n == 2 && mr_slice_eq_cstr(names[0], "a") && mr_slice_eq_cstr(names[1], "b\n"));
    cr_assert_eq(mr_json_parse_string_array(&a, "{\"a\":1}", 7, "columns", unlimited(), &names, &n, &e), MURR_ESHAPE);
    cr_assert_str_eq(e.message, "columns: expected an array of strings, got an object");
    cr_assert_eq(mr_json_parse_string_array(&a, "[\"a\",1]", 7, "columns", unlimited(), &names, &n, &e), MURR_ESHAPE);
    cr_assert_str_eq(e.message, "columns[1]: expected a string, got a number");
    cr_assert_eq(mr_json_parse_string_array(&a, "score", 5, "columns", unlimited(), &names, &n, &e), MURR_ESYNTAX);
    mr_arena_deinit(&a);
}

/* Parses ["<body>"] (body copied into a buffer of exactly its size, so a read past the
 * body is an ASan error) as a string array of one element. A plain string points into the
 * text, so the text lives until the next call (parse_one(NULL, ...) frees it). */
static int parse_one(mr_arena_t *a, const char *body, size_t blen, mr_slice_t *got, mr_error_t *e)
{
    static char *text;
    free(text);
    text = NULL;
    if (a == NULL)
        return 0;
    size_t len = blen + 4;
    text = malloc(len);
    text[0] = '[';
    text[1] = '"';
    memcpy(text + 2, body, blen);
    text[len - 2] = '"';
    text[len - 1] = ']';
    mr_slice_t *names;
    size_t n = 0;
    int rc = mr_json_parse_string_array(a, text, len, "columns", unlimited(), &names, &n, e);
    if (rc == 0) {
        cr_assert_eq(n, 1);
        *got = names[0];
    }
    return rc;
}

/* The plain-string scan goes 8 bytes at a time: each stop byte (quote, backslash, control,
 * non-ASCII) at every position 0..23 of an ASCII run must still be seen where it is. */
Test(json_parse, string_scan_stops_at_every_position)
{
    mr_arena_t a;
    mr_arena_init(&a, 256);
    mr_error_t e = {0};
    mr_slice_t got;
    char body[64], want[64];
    for (size_t len = 0; len <= 24; len++) {
        for (size_t i = 0; i < len; i++)
            body[i] = (char)('a' + i % 26);
        cr_assert_eq(parse_one(&a, body, len, &got, &e), 0, "%s", e.message);
        cr_assert(got.len == len && memcmp(got.ptr, body, len) == 0, "plain string of %zu bytes", len);
    }
    for (size_t pos = 0; pos < 24; pos++) {
        for (size_t i = 0; i < 24; i++)
            body[i] = (char)('a' + i % 26);
        /* an escaped quote at pos: unescaped to '"' */
        memcpy(want, body, 24);
        memmove(body + pos + 1, body + pos, 24 - pos);
        body[pos] = '\\';
        body[pos + 1] = '"';
        want[pos] = '"';
        cr_assert_eq(parse_one(&a, body, 25, &got, &e), 0, "%s", e.message);
        cr_assert(got.len == 24 && memcmp(got.ptr, want, 24) == 0, "escaped quote at %zu", pos);
        /* a raw control character at pos: refused at its offset */
        for (size_t i = 0; i < 24; i++)
            body[i] = (char)('a' + i % 26);
        body[pos] = '\t';
        cr_assert_eq(parse_one(&a, body, 24, &got, &e), MURR_ESYNTAX, "tab at %zu", pos);
        cr_assert(strstr(e.message, "raw control character") != NULL, "%s", e.message);
        char off[32];
        snprintf(off, sizeof(off), "at byte %zu ", pos + 2);
        cr_assert(strstr(e.message, off) != NULL, "tab at %zu: %s", pos, e.message);
        /* a 2-byte UTF-8 sequence (U+00E9) at pos: kept as is */
        for (size_t i = 0; i < 24; i++)
            body[i] = (char)('a' + i % 26);
        memcpy(want, body, 24);
        memmove(body + pos + 2, body + pos, 24 - pos);
        body[pos] = (char)0xC3;
        body[pos + 1] = (char)0xA9;
        cr_assert_eq(parse_one(&a, body, 26, &got, &e), 0, "%s", e.message);
        cr_assert(got.len == 26 && memcmp(got.ptr, body, 26) == 0, "e-acute at %zu", pos);
        /* invalid UTF-8 at pos (a lone continuation byte), after or before ASCII: refused */
        body[pos + 1] = 'x';
        body[pos] = (char)0xA9;
        cr_assert_eq(parse_one(&a, body, 26, &got, &e), MURR_ESYNTAX, "lone continuation at %zu", pos);
        cr_assert(strstr(e.message, "invalid UTF-8") != NULL, "%s", e.message);
        /* a quote ends the string at pos: what follows is not a string any more */
        for (size_t i = 0; i < 24; i++)
            body[i] = (char)('a' + i % 26);
        body[pos] = '"';
        cr_assert_eq(parse_one(&a, body, 24, &got, &e), MURR_ESYNTAX, "quote at %zu ends the string early", pos);
    }
    /* non-ASCII then an escape later in the same string: the slow path validates it all */
    const char mixed[] = "caf\xC3\xA9 au lait \\n and more text";
    cr_assert_eq(parse_one(&a, mixed, strlen(mixed), &got, &e), 0, "%s", e.message);
    cr_assert(got.len == strlen(mixed) - 1 && memcmp(got.ptr, "caf\xC3\xA9 au lait \n and more text", got.len) == 0);
    const char bad_then_escape[] = "abcdefghij\xFF klm \\t";
    cr_assert_eq(parse_one(&a, bad_then_escape, strlen(bad_then_escape), &got, &e), MURR_ESYNTAX);
    cr_assert(strstr(e.message, "invalid UTF-8") != NULL, "%s", e.message);
    parse_one(NULL, NULL, 0, NULL, NULL);
    mr_arena_deinit(&a);
}

Test(json_write, sparse_idx_prints_as_integers)
{
    mr_batch_t *b = mr_batch_new(2, 3);
    cr_assert_eq(mr_batch_column_alloc(b, 0, MURR_UINT32, false, 0), 0);
    cr_assert_eq(mr_batch_column_alloc(b, 1, MURR_FLOAT32, false, 0), 0);
    mr_batch_set_name(b, 0, "_idx", 4);
    mr_batch_set_name(b, 1, "score", 5);
    uint32_t *idx = b->columns[0].values;
    float *sc = b->columns[1].values;
    idx[0] = 0, idx[1] = 2, idx[2] = UINT32_MAX;
    sc[0] = 0.95f, sc[1] = 1.0f, sc[2] = 0.5f;
    mr_buf_t out;
    mr_buf_init(&out);
    mr_error_t e = {0};
    cr_assert_eq(mr_json_write_batch(&out, b, &e), 0);
    mr_buf_append_byte(&out, 0);
    cr_assert_str_eq((char *)out.data, "{\"columns\":{\"_idx\":[0,2,4294967295],\"score\":[0.95,1.0,0.5]}}");
    /* an empty sparse answer keeps its columns */
    mr_batch_t *z = mr_batch_new(2, 0);
    mr_batch_column_alloc(z, 0, MURR_UINT32, false, 0);
    mr_batch_column_alloc(z, 1, MURR_FLOAT32, false, 0);
    mr_batch_set_name(z, 0, "_idx", 4);
    mr_batch_set_name(z, 1, "score", 5);
    out.len = 0;
    cr_assert_eq(mr_json_write_batch(&out, z, &e), 0);
    mr_buf_append_byte(&out, 0);
    cr_assert_str_eq((char *)out.data, "{\"columns\":{\"_idx\":[],\"score\":[]}}");
    mr_buf_deinit(&out);
    mr_batch_free(b);
    mr_batch_free(z);
}

Test(json_fetch, key_object_form_refuses_unknown_members_list_form_ignores_them)
{
    mr_arena_t a;
    mr_arena_init(&a, 1024);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    const char *v3 = "{\"keys\":{\"id\":[1]},\"columns\":[\"v\"],\"limit\":5}";
    cr_assert_eq(mr_json_parse_fetch(&a, v3, strlen(v3), false, unlimited(), &r, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "unknown field `limit`") != NULL, "%s", e.message);
    const char *ticket = "{\"table\":\"t\",\"keys\":{\"id\":[1]},\"columns\":[\"v\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, ticket, strlen(ticket), true, unlimited(), &r, &e), 0, "%s", e.message);
    cr_assert_eq(mr_json_parse_fetch(&a, ticket, strlen(ticket), false, unlimited(), &r, &e), MURR_EINVAL); /* HTTP: no table */
    const char *v2 = "{\"keys\":[\"a\"],\"columns\":[\"v\"],\"limit\":5}";
    cr_assert_eq(mr_json_parse_fetch(&a, v2, strlen(v2), false, unlimited(), &r, &e), 0, "%s", e.message);
    mr_arena_deinit(&a);
}

Test(json_write_body, float_range_edges)
{
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "f:float32?", "d:float64?", NULL);
    mr_batch_t *b;
    mr_error_t e = {0};
    /* FLT_MAX itself, and a value that rounds down to it, are stored; tiny values underflow
     * to the nearest representable (zero), which is not an error */
    const char *ok = "{\"columns\":{\"id\":[\"a\",\"b\"],\"f\":[3.4028235e38,1e-50],"
                     "\"d\":[1.7976931348623157e308,-1e-400]}}";
    cr_assert_eq(mr_json_parse_write(ok, strlen(ok), s, unlimited(), &b, &e), 0, "%s", e.message);
    cr_assert_eq(((float *)b->columns[1].values)[0], FLT_MAX);
    cr_assert_eq(((float *)b->columns[1].values)[1], 0.0f);
    cr_assert_eq(((double *)b->columns[2].values)[0], DBL_MAX);
    mr_batch_free(b);
    const char *big = "{\"columns\":{\"id\":[\"a\"],\"f\":[1],\"d\":[1e400]}}";
    cr_assert_eq(mr_json_parse_write(big, strlen(big), s, unlimited(), &b, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "column 'd'") && strstr(e.message, "number `1e400` is out of range for float64"), "%s",
              e.message);
    mr_schema_free(s);
}

/* Parses body as a fetch and builds its key batch for s within `limit` bytes of budget. */
static int fetch_within(const char *body, const mr_schema_t *s, uint64_t limit, mr_budget_t *b, mr_error_t *e)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    mr_budget_init(b, limit, "server.http.max_payload_size");
    mr_fetch_req_t r;
    mr_batch_t *kb = NULL;
    int rc = mr_json_parse_fetch(&a, body, strlen(body), false, b, &r, e);
    rc = rc ? rc : mr_json_fetch_keys(&r, s, &kb, e);
    if (rc == 0)
        cr_assert_eq(kb->num_rows, 1000);
    mr_batch_free(kb);
    mr_arena_deinit(&a);
    return rc;
}

Test(json, fetch_body_is_charged_to_the_decode_budget)
{
    mr_schema_t *s = mr_schema_make("id", "id:int64", "v:float32?", NULL);
    mr_schema_t *su = mr_schema_make("k", "k:utf8", "v:float32?", NULL);
    mr_buf_t ints, strs;
    mr_buf_init(&ints);
    mr_buf_init(&strs);
    mr_buf_append_cstr(&ints, "{\"keys\":{\"id\":[");
    mr_buf_append_cstr(&strs, "{\"keys\":[");
    for (int i = 0; i < 1000; i++) {
        mr_buf_printf(&ints, "%s%d", i ? "," : "", i);
        mr_buf_printf(&strs, "%s\"%d\"", i ? "," : "", i);
    }
    mr_buf_append_cstr(&ints, "]},\"columns\":[\"v\"]}");
    mr_buf_append_cstr(&strs, "],\"columns\":[\"v\"]}");
    mr_buf_append(&ints, "", 1);
    mr_buf_append(&strs, "", 1);
    struct { const char *body; const mr_schema_t *s; uint64_t at_least; } cases[] = {
        /* 1000 tree nodes (24 bytes) and the int64 key column (8000 bytes) */
        {(const char *)ints.data, s, 1000 * 24 + 8000},
        /* 1000 tree nodes, 1000 key slices (16 bytes) and the utf8 key column's offsets */
        {(const char *)strs.data, su, 1000 * 24 + 1000 * 16 + 1001 * 4},
    };
    for (size_t i = 0; i < 2; i++) {
        mr_budget_t b;
        mr_error_t e = {0};
        cr_assert_eq(fetch_within(cases[i].body, cases[i].s, 1 << 20, &b, &e), 0, "%s", e.message);
        cr_assert_geq(b.used, cases[i].at_least, "case %zu: %llu", i, (unsigned long long)b.used);
        uint64_t needed = b.used;
        cr_assert_eq(fetch_within(cases[i].body, cases[i].s, needed - 1, &b, &e), MURR_ETOOBIG, "case %zu", i);
        cr_assert(strstr(e.message, "decode budget exceeded") && strstr(e.message, "server.http.max_payload_size"),
                  "%s", e.message);
        cr_assert_eq(fetch_within(cases[i].body, cases[i].s, needed, &b, &e), 0, "%s", e.message);
    }
    mr_buf_deinit(&ints);
    mr_buf_deinit(&strs);
    mr_schema_free(s);
    mr_schema_free(su);
}

Test(json, write_body_is_charged_to_the_decode_budget)
{
    mr_schema_t *s = mr_schema_make("k", "k:utf8", "v:int64?", NULL);
    /* 1000 rows: two arrays of 1000 nodes and 1000 x (8 + validity) bytes of int64 */
    mr_buf_t body;
    mr_buf_init(&body);
    mr_buf_append_cstr(&body, "{\"columns\":{\"k\":[");
    for (int i = 0; i < 1000; i++)
        mr_buf_printf(&body, "%s\"%d\"", i ? "," : "", i);
    mr_buf_append_cstr(&body, "],\"v\":[");
    for (int i = 0; i < 1000; i++)
        mr_buf_printf(&body, "%s%d", i ? "," : "", i);
    mr_buf_append_cstr(&body, "]}}");
    mr_budget_t b;
    mr_budget_init(&b, 1 << 20, "server.http.max_payload_size");
    mr_batch_t *out = NULL;
    mr_error_t e = {0};
    cr_assert_eq(mr_json_parse_write((const char *)body.data, body.len, s, &b, &out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, 1000);
    cr_assert_eq(((const int64_t *)out->columns[1].values)[999], 999);
    mr_batch_free(out);
    /* at least the int64 values (8000 bytes) and 2000 tree nodes were charged */
    cr_assert_geq(b.used, 8000 + 2000 * 16, "%llu", (unsigned long long)b.used);
    uint64_t needed = b.used;
    mr_budget_init(&b, needed - 1, "server.http.max_payload_size");
    cr_assert_eq(mr_json_parse_write((const char *)body.data, body.len, s, &b, &out, &e), MURR_ETOOBIG);
    cr_assert(strstr(e.message, "decode budget exceeded") != NULL, "%s", e.message);
    cr_assert_null(out);
    mr_budget_init(&b, needed, "server.http.max_payload_size");
    cr_assert_eq(mr_json_parse_write((const char *)body.data, body.len, s, &b, &out, &e), 0, "%s", e.message);
    mr_batch_free(out);
    mr_buf_deinit(&body);
    mr_schema_free(s);
}
