/* Tests of the JSON fast paths: float text, response writer, fetch parser, write decoder. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "format/json.h"

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
    cr_assert_eq(mr_json_parse_fetch(&a, ok, strlen(ok), false, &r, &e), 0, "%s", e.message);
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
        {"{\"keys\":{},\"columns\":[]}", MURR_ESHAPE, "keys: expected an array"},
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
        int rc = mr_json_parse_fetch(&a, bad[i].body, strlen(bad[i].body), false, &r, &e);
        cr_assert_eq(rc, bad[i].code, "case %zu: %d %s", i, rc, e.message);
        cr_assert(strstr(e.message, bad[i].needle), "case %zu: '%s' lacks '%s'", i, e.message, bad[i].needle);
    }
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = 0;
    cr_assert_eq(mr_json_parse_fetch(&a, deep, 100, false, &r, &e), MURR_ESYNTAX);
    cr_assert(strstr(e.message, "nesting"), "%s", e.message);
    const char *ticket = "{\"table\":\"t\",\"keys\":[],\"columns\":[\"c\"]}";
    cr_assert_eq(mr_json_parse_fetch(&a, ticket, strlen(ticket), true, &r, &e), 0);
    cr_assert(mr_slice_eq_cstr(r.table, "t"));
    /* truncation at every byte: an error, never a crash */
    for (size_t n = 0; n < strlen(ok) - 1; n++)
        cr_assert_neq(mr_json_parse_fetch(&a, ok, n, false, &r, &e), 0, "prefix %zu", n);
    mr_arena_deinit(&a);
}

Test(json_write_body, dtype_rules_and_errors)
{
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "i8:int8?", "u64:uint64?", "f:float32?", "b:bool?", "nn:int32", NULL);
    mr_batch_t *b;
    mr_error_t e = {0};
    const char *ok = "{\"columns\":{\"nn\":[1,2],\"id\":[\"a\",\"b\"],\"i8\":[-128,null],\"u64\":[18446744073709551615,0],"
                     "\"f\":[0.95,3],\"b\":[true,null],\"extra\":[1]}}";
    cr_assert_eq(mr_json_parse_write(ok, strlen(ok), s, &b, &e), 0, "%s", e.message);
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
        int rc = mr_json_parse_write(bad[i].body, strlen(bad[i].body), s, &b, &e);
        cr_assert_eq(rc, bad[i].code, "case %zu: %d %s", i, rc, e.message);
        cr_assert_null(b);
        cr_assert(strstr(e.message, bad[i].needle), "case %zu: '%s' lacks '%s'", i, e.message, bad[i].needle);
    }
    mr_schema_free(s);
}
