/* Tests of mr_json_fetch_encode: the key arrays of a fetch request, scanned without DOM
 * nodes, encoded straight into the engine's encoded keys (murr.h "Encoded keys"). Expected
 * bytes are written out by hand from that format (integers little-endian at the key dtype's
 * width, utf8 as a LEB128 length then the bytes) or taken from strtoull/strtoll; requests
 * the encoder declines must still be refused by mr_json_fetch_keys with the exact message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "format/json.h"

static mr_budget_t *unlimited(void)
{
    static mr_budget_t b;
    mr_budget_init(&b, UINT64_MAX, "no limit");
    return &b;
}

/* The request body in a buffer of exactly its size (a read past it is an ASan report). */
static const char *exact(const char *body)
{
    static char *copy;
    free(copy);
    size_t n = strlen(body);
    copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    return copy;
}

typedef struct encoded {
    int rc;
    size_t n;
    const char **keys;
    size_t *lens;
    mr_fetch_req_t r;
    mr_error_t e;
} encoded_t;

static encoded_t encode(mr_arena_t *a, const char *body, const mr_schema_t *s)
{
    encoded_t x = {0};
    size_t len = strlen(body);
    int rc = mr_json_parse_fetch(a, exact(body), len, false, unlimited(), &x.r, &x.e);
    cr_assert_eq(rc, 0, "%s: %s", body, x.e.message);
    x.rc = mr_json_fetch_encode(&x.r, s, a, &x.keys, &x.lens, &x.e);
    x.n = x.r.nkeys;
    return x;
}

static void expect_key(const encoded_t *x, size_t row, const void *bytes, size_t len)
{
    cr_assert_eq(x->rc, 0, "%s", x->e.message);
    cr_assert(row < x->n, "row %zu of %zu", row, x->n);
    cr_assert_eq(x->lens[row], len, "row %zu: %zu bytes, want %zu", row, x->lens[row], len);
    cr_assert(memcmp(x->keys[row], bytes, len) == 0, "row %zu: bytes differ", row);
}

/* A declined request: mr_json_fetch_encode answers MURR_EAGAIN, and the general path
 * refuses it with `code` and a message containing `needle`. */
static void expect_declined(mr_arena_t *a, const char *body, const mr_schema_t *s, int code, const char *needle)
{
    encoded_t x = encode(a, body, s);
    cr_assert_eq(x.rc, MURR_EAGAIN, "%s: %d %s", body, x.rc, x.e.message);
    mr_batch_t *b = NULL;
    mr_error_t e = {0};
    int rc = mr_json_fetch_keys(&x.r, s, &b, &e);
    cr_assert_eq(rc, code, "%s: %d %s", body, rc, e.message);
    cr_assert(strstr(e.message, needle) != NULL, "%s: '%s' lacks '%s'", body, e.message, needle);
    cr_assert_null(b);
}

static void le(uint8_t *out, uint64_t v, size_t w)
{
    for (size_t i = 0; i < w; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

Test(json_fetch_encode, every_integer_dtype_at_its_limits_both_forms)
{
    static const struct {
        const char *dtype, *rust, *min, *max, *below, *above;
        int64_t lo;
        uint64_t hi;
        size_t w;
    } t[] = {
        {"int8", "i8", "-128", "127", "-129", "128", INT8_MIN, INT8_MAX, 1},
        {"int16", "i16", "-32768", "32767", "-32769", "32768", INT16_MIN, INT16_MAX, 2},
        {"int32", "i32", "-2147483648", "2147483647", "-2147483649", "2147483648", INT32_MIN, INT32_MAX, 4},
        {"int64", "i64", "-9223372036854775808", "9223372036854775807", "-9223372036854775809",
         "9223372036854775808", INT64_MIN, INT64_MAX, 8},
        {"uint8", "u8", "0", "255", "-1", "256", 0, UINT8_MAX, 1},
        {"uint16", "u16", "0", "65535", "-1", "65536", 0, UINT16_MAX, 2},
        {"uint32", "u32", "0", "4294967295", "-1", "4294967296", 0, UINT32_MAX, 4},
        {"uint64", "u64", "0", "9999999999999999999", "-1", "18446744073709551616", 0, 9999999999999999999ull, 8},
    };
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char col[32], body[256], msg[128];
        snprintf(col, sizeof(col), "id:%s", t[i].dtype);
        mr_schema_t *s = mr_schema_make("id", "v:float32?", col, NULL);
        uint8_t lo[8], hi[8], one[8];
        le(lo, (uint64_t)t[i].lo, t[i].w);
        le(hi, t[i].hi, t[i].w);
        le(one, 1, t[i].w);
        const char *forms[] = {"{\"keys\":{\"id\":[%s, %s ,1]},\"columns\":[\"v\"]}",
                               "{\"keys\":[%s,%s,1],\"columns\":[\"v\"]}"};
        for (int f = 0; f < 2; f++) {
            snprintf(body, sizeof(body), forms[f], t[i].min, t[i].max);
            encoded_t x = encode(&a, body, s);
            cr_assert_eq(x.n, 3, "%s", body);
            cr_assert_eq(x.r.sparse, f == 0);
            expect_key(&x, 0, lo, t[i].w);
            expect_key(&x, 1, hi, t[i].w);
            expect_key(&x, 2, one, t[i].w);
            /* one past either end: declined, and worded by the general path */
            const char *out[] = {t[i].below, t[i].above};
            for (int o = 0; o < 2; o++) {
                snprintf(body, sizeof(body), forms[f], "1", out[o]);
                snprintf(msg, sizeof(msg), "column 'id': Table error: row 1: invalid value: integer `%s`, expected %s",
                         out[o], t[i].rust);
                expect_declined(&a, body, s, MURR_EINVAL, msg);
            }
        }
        mr_schema_free(s);
    }
    mr_arena_deinit(&a);
}

/* 20 digits are left to the general path (the scan takes at most 19), which still reads
 * the largest uint64; so is a key column the scan cannot hold (a null). */
Test(json_fetch_encode, twenty_digits_and_nulls_go_the_general_way)
{
    mr_arena_t a;
    mr_arena_init(&a, 1024);
    mr_schema_t *s = mr_schema_make("id", "v:float32?", "id:uint64", NULL);
    const char *body = "{\"keys\":{\"id\":[18446744073709551615,1]},\"columns\":[\"v\"]}";
    encoded_t x = encode(&a, body, s);
    cr_assert_null(x.r.scanned);
    cr_assert_eq(x.rc, MURR_EAGAIN);
    mr_batch_t *b;
    cr_assert_eq(mr_json_fetch_keys(&x.r, s, &b, &x.e), 0, "%s", x.e.message);
    cr_assert_eq(((uint64_t *)b->columns[0].values)[0], UINT64_MAX);
    mr_batch_free(b);
    expect_declined(&a, "{\"keys\":{\"id\":[1,null]},\"columns\":[\"v\"]}", s, MURR_EINVAL,
                    "null in key column 'id' at row 1");
    expect_declined(&a, "{\"keys\":{\"id\":[1,2.0]},\"columns\":[\"v\"]}", s, MURR_EINVAL,
                    "row 1: invalid type: floating point `2.0`, expected u64");
    expect_declined(&a, "{\"keys\":{\"id\":[1,2e3]},\"columns\":[\"v\"]}", s, MURR_EINVAL,
                    "row 1: invalid type: floating point `2e3`, expected u64");
    mr_schema_free(s);
    mr_arena_deinit(&a);
}

/* Every digit count the scan reads (1-19; 8 at a time, then one by one), positive and
 * negative, against strtoull / strtoll. */
Test(json_fetch_encode, integers_of_every_digit_count)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    mr_schema_t *s = mr_schema_make("id", "v:float32?", "id:int64", NULL);
    uint64_t seed = 88172645463325252ull;
    for (int digits = 1; digits <= 19; digits++) {
        for (int rep = 0; rep < 20; rep++) {
            char num[24], body[128];
            for (int d = 0; d < digits; d++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                num[d] = (char)('0' + (d == 0 ? 1 + seed % 9 : seed % 10));
            }
            num[digits] = '\0';
            if (digits == 19 && strcmp(num, "9223372036854775807") > 0)
                num[0] = '1';
            snprintf(body, sizeof(body), "{\"keys\":{\"id\":[%s,-%s,0]},\"columns\":[\"v\"]}", num, num);
            encoded_t x = encode(&a, body, s);
            errno = 0;
            int64_t want = strtoll(num, NULL, 10);
            cr_assert_eq(errno, 0);
            int64_t neg = -want, zero = 0;
            expect_key(&x, 0, &want, 8);
            expect_key(&x, 1, &neg, 8);
            expect_key(&x, 2, &zero, 8);
        }
    }
    /* a number followed by what the 8-byte read sees past it: whitespace, ']' and ',' */
    encoded_t x = encode(&a, "{\"keys\":{\"id\":[ 7 , 12345678 ,\n123456789\t]},\"columns\":[\"v\"]}", s);
    int64_t v7 = 7, v8 = 12345678, v9 = 123456789;
    expect_key(&x, 0, &v7, 8);
    expect_key(&x, 1, &v8, 8);
    expect_key(&x, 2, &v9, 8);
    /* what JSON refuses the scan does not accept: leading zeros, a bare minus */
    const char *bad[] = {"{\"keys\":{\"id\":[01]},\"columns\":[\"v\"]}", "{\"keys\":{\"id\":[-]},\"columns\":[\"v\"]}",
                         "{\"keys\":{\"id\":[1,]},\"columns\":[\"v\"]}", "{\"keys\":{\"id\":[1 2]},\"columns\":[\"v\"]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mr_fetch_req_t r;
        mr_error_t e = {0};
        cr_assert_eq(mr_json_parse_fetch(&a, exact(bad[i]), strlen(bad[i]), false, unlimited(), &r, &e), MURR_ESYNTAX,
                     "%s", bad[i]);
        cr_assert(strstr(e.message, "at byte 16") != NULL || strstr(e.message, "at byte 17") != NULL, "%s: %s",
                  bad[i], e.message);
    }
    mr_schema_free(s);
    mr_arena_deinit(&a);
}

Test(json_fetch_encode, compound_key_in_schema_order_with_escapes)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    /* key (u utf8, n uint16, i int64) spread over the schema; the body lists them in another order */
    mr_schema_t *s = mr_schema_make("u,n,i", "u:utf8", "v:float32?", "n:uint16", "i:int64", NULL);
    char long_s[201];
    memset(long_s, 'x', 200);
    long_s[200] = '\0';
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"columns\":[\"v\"],\"keys\":{\"i\":[-1,5,0],\"n\":[65535,0,7],"
             "\"u\":[\"a\\\"b\",\"\\u00e9\\n\",\"%s\"]}}", long_s);
    encoded_t x = encode(&a, body, s);
    cr_assert(x.r.sparse && x.r.keys == NULL && x.n == 3);
    /* row 0: len 3 "a\"b", 0xffff, -1 */
    const uint8_t k0[] = {3, 'a', '"', 'b', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_key(&x, 0, k0, sizeof(k0));
    /* row 1: len 3 U+00E9 "\n", 0, 5 */
    const uint8_t k1[] = {3, 0xc3, 0xa9, '\n', 0, 0, 5, 0, 0, 0, 0, 0, 0, 0};
    expect_key(&x, 1, k1, sizeof(k1));
    /* row 2: a 200-byte string takes a two-byte length (0xc8 0x01) */
    uint8_t k2[2 + 200 + 2 + 8] = {0xc8, 0x01};
    memset(k2 + 2, 'x', 200);
    k2[202] = 7;
    expect_key(&x, 2, k2, sizeof(k2));
    /* zero keys */
    x = encode(&a, "{\"keys\":{\"u\":[],\"n\":[],\"i\":[]},\"columns\":[\"v\"]}", s);
    cr_assert_eq(x.rc, 0, "%s", x.e.message);
    cr_assert_eq(x.n, 0);
    mr_schema_free(s);
    mr_arena_deinit(&a);
}

Test(json_fetch_encode, declined_requests_keep_their_messages)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    mr_schema_t *s = mr_schema_make("u,n", "v:float32?", "u:utf8", "n:uint16", NULL);
    struct {
        const char *body, *needle;
    } bad[] = {
        /* (test_json.c's object_form_compound_key has ragged, missing and extra members) */
        {"{\"keys\":{\"u\":[\"a\"],\"zz\":[1]},\"columns\":[\"v\"]}", "member 'zz', which is not a key"},
        {"{\"keys\":{\"u\":[\"a\",\"b\"],\"n\":[\"1\",\"2\"]},\"columns\":[\"v\"]}",
         "column 'n': Table error: row 0: expected integer, got a string"},
        {"{\"keys\":{\"u\":[1,2],\"n\":[1,2]},\"columns\":[\"v\"]}",
         "column 'u': Table error: row 0: expected string, got a number"},
        {"{\"keys\":{\"u\":[\"a\"],\"n\":[65536]},\"columns\":[\"v\"]}",
         "row 0: invalid value: integer `65536`, expected u16"},
        {"{\"keys\":{\"u\":[\"a\"],\"n\":[[1]]},\"columns\":[\"v\"]}", "row 0: expected integer, got an array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_declined(&a, bad[i].body, s, MURR_EINVAL, bad[i].needle);
    /* a member named twice: the last one counts, as for any JSON object */
    encoded_t x = encode(&a, "{\"keys\":{\"u\":[\"a\"],\"n\":[1],\"u\":[\"b\"]},\"columns\":[\"v\"]}", s);
    cr_assert_eq(x.rc, MURR_EAGAIN);
    mr_batch_t *b;
    cr_assert_eq(mr_json_fetch_keys(&x.r, s, &b, &x.e), 0, "%s", x.e.message);
    size_t l;
    const uint8_t *p = mr_column_str(&b->columns[0], 0, &l);
    cr_assert(l == 1 && *p == 'b');
    mr_batch_free(b);
    /* an encoded key over MURR_KEY_MAX: refused by the encoder, naming the row, as murr_read_keys words it */
    mr_buf_t big;
    mr_buf_init(&big);
    mr_buf_append_cstr(&big, "{\"keys\":{\"n\":[1,2],\"u\":[\"a\",\"");
    for (int i = 0; i < MURR_KEY_MAX; i++)
        mr_buf_append(&big, "y", 1);
    mr_buf_append_cstr(&big, "\"]},\"columns\":[\"v\"]}");
    mr_buf_append(&big, "", 1);
    x = encode(&a, (const char *)big.data, s);
    cr_assert_eq(x.rc, MURR_EINVAL);
    cr_assert_str_eq(x.e.message, "Segment error: key at row 1 is 65540 bytes, the limit is 65535");
    mr_buf_deinit(&big);
    /* a single utf8 key is the string fast path's, not the encoder's */
    mr_schema_t *one = mr_schema_make("id", "id:utf8", "v:float32?", NULL);
    x = encode(&a, "{\"keys\":{\"id\":[\"a\"]},\"columns\":[\"v\"]}", one);
    cr_assert_eq(x.rc, MURR_EAGAIN);
    cr_assert(x.r.keys != NULL && x.r.nkeys == 1);
    mr_schema_free(one);
    mr_schema_free(s);
    mr_arena_deinit(&a);
}

/* The scanned arrays and the encoded keys are charged to the request's budget: 1,000 int64
 * keys need their 8-byte values (arrays grown by doubling) and 8 bytes of key each plus a
 * pointer and a length; one byte less than what was used is refused. */
Test(json_fetch_encode, charged_to_the_decode_budget)
{
    mr_schema_t *s = mr_schema_make("a,b", "a:int64", "b:utf8", "v:float32?", NULL);
    mr_buf_t body;
    mr_buf_init(&body);
    mr_buf_append_cstr(&body, "{\"keys\":{\"a\":[");
    for (int i = 0; i < 1000; i++)
        mr_buf_printf(&body, "%s%d", i ? "," : "", i);
    mr_buf_append_cstr(&body, "],\"b\":[");
    for (int i = 0; i < 1000; i++)
        mr_buf_printf(&body, "%s\"%d\"", i ? "," : "", i % 16);
    mr_buf_append_cstr(&body, "]},\"columns\":[\"v\"]}");
    uint64_t used = 0;
    for (int pass = 0; pass < 2; pass++) {
        mr_arena_t a;
        mr_arena_init(&a, 4096);
        mr_budget_t b;
        mr_budget_init(&b, pass == 0 ? UINT64_MAX : used - 1, "server.http.max_payload_size");
        mr_fetch_req_t r;
        mr_error_t e = {0};
        const char **keys;
        size_t *lens;
        int rc = mr_json_parse_fetch(&a, (const char *)body.data, body.len, false, &b, &r, &e);
        rc = rc ? rc : mr_json_fetch_encode(&r, s, &a, &keys, &lens, &e);
        if (pass == 0) {
            cr_assert_eq(rc, 0, "%s", e.message);
            /* values 8 x 1000, slices 16 x 1000, keys 1000 x (8 + 2 or 3) + pointers and lengths 16 x 1001 */
            cr_assert_geq(b.used, 8000 + 16000 + 10000 + 16016, "%llu", (unsigned long long)b.used);
            used = b.used;
        } else {
            cr_assert_eq(rc, MURR_ETOOBIG, "%d %s", rc, e.message);
            cr_assert(strstr(e.message, "server.http.max_payload_size") != NULL, "%s", e.message);
        }
        mr_arena_deinit(&a);
    }
    mr_buf_deinit(&body);
    mr_schema_free(s);
}
