/* json_parse.c - a strict RFC 8259 parser into an arena DOM, and the request decoders
 * built on it: fetch requests / Flight tickets (both key forms; their key arrays scanned
 * without DOM nodes and encoded straight into engine keys, or, for a request that path
 * declines, the typed key batch built against a table schema: decision 0017) and columnar
 * write bodies. Write bodies and the key batch decode their arrays with one implementation
 * (column_arrays, decode_column, append_elem), so a value means the same in both.
 *
 * Invariants: every byte is bounds-checked against the body; strings are unescaped into
 * the arena (\uXXXX with surrogate pairs -> UTF-8; unpaired surrogates, raw control
 * characters and invalid UTF-8 are refused); numbers are kept as text and converted per
 * target dtype (integers exactly, without a detour through double); nesting is limited to
 * MR_JSON_MAX_DEPTH; duplicate object members: the last one wins (as serde_json does for
 * maps). Errors carry the byte offset. */
#include "format/json.h"
#include "core/half.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/key.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MR_JSON_MAX_DEPTH 64

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jnode {
    jtype_t type;
    uint32_t n;            /* string length, array length, or object member count */
    size_t off;            /* byte offset in the body, for messages */
    union {
        const char *s;     /* J_STR (unescaped), J_NUM (text) */
        struct jnode *kids; /* J_ARR: n values; J_OBJ: 2n nodes (key, value) */
    };
} jnode_t;

typedef struct jparser {
    const char *p, *end, *start;
    mr_arena_t *a;
    mr_error_t *err;
    mr_budget_t *budget;   /* the body's decode budget: the tree is charged to it */
    int depth;
    struct mr_json_keys *fk; /* fetch requests: the root's "keys" member is scanned into it */
} jparser_t;

/* n bytes of the document tree in the parse arena, charged to the budget first; NULL with
 * j->err set (MURR_ETOOBIG, MURR_ENOMEM). */
static void *jalloc(jparser_t *j, size_t n, size_t align)
{
    if (j->budget && mr_budget_charge(j->budget, n, "the JSON document tree", NULL, j->err) != 0)
        return NULL;
    void *p = mr_arena_alloc_aligned(j->a, n, align);
    if (p == NULL)
        mr_err_set(j->err, MURR_ENOMEM, "out of memory parsing JSON (%zu bytes at byte %zu)", n,
                   (size_t)(j->p - j->start));
    return p;
}

static int jerr(jparser_t *j, const char *what)
{
    size_t off = (size_t)(j->p - j->start);
    if (j->p >= j->end)
        return mr_err_set(j->err, MURR_ESYNTAX, "%s at byte %zu (end of input)", what, off);
    unsigned char c = (unsigned char)*j->p;
    if (c >= 0x20 && c < 0x7f)
        return mr_err_set(j->err, MURR_ESYNTAX, "%s at byte %zu (found '%c')", what, off, c);
    return mr_err_set(j->err, MURR_ESYNTAX, "%s at byte %zu (found byte 0x%02x)", what, off, c);
}

static void skip_ws(jparser_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int hex4(jparser_t *j, uint32_t *out)
{
    if (j->end - j->p < 4)
        return jerr(j, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return jerr(j, "invalid hex digit in \\u escape");
    }
    j->p += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The bytes of w (8 bytes of a string, little-endian) where the plain scan of a string
 * stops: '"', '\\', control characters (< 0x20) and non-ASCII (>= 0x80), as the high bit of
 * each such byte. The lowest flagged byte is always a true one: each zero-byte test is exact
 * for its lowest match (a borrow only flags bytes above it). */
static inline uint64_t str_stops(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

static inline bool str_stop(unsigned char c) { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80; }

static int parse_string(jparser_t *j, jnode_t *n)
{
    n->type = J_STR;
    n->off = (size_t)(j->p - j->start);
    j->p++; /* opening quote */
    const char *s = j->p;
    /* fast path: no escapes -> point into the body. ASCII runs go 8 bytes at a time; a
     * non-ASCII byte is stepped over and the string validated as UTF-8 once at its end. */
    bool ascii = true;
    for (;;) {
        while (j->end - j->p >= 8) {
            uint64_t w;
            memcpy(&w, j->p, 8);
            uint64_t m = str_stops(w);
            if (m != 0) {
                j->p += __builtin_ctzll(m) >> 3;
                break;
            }
            j->p += 8;
        }
        while (j->p < j->end && !str_stop((unsigned char)*j->p))
            j->p++;
        if (j->p < j->end && (unsigned char)*j->p >= 0x80) {
            ascii = false;
            j->p++;
            continue;
        }
        break;
    }
    if (j->p < j->end && *j->p == '"') {
        size_t bad;
        if (!ascii && !mr_utf8_valid((const uint8_t *)s, (size_t)(j->p - s), &bad)) {
            j->p = s + bad;
            return jerr(j, "invalid UTF-8 in string");
        }
        if ((size_t)(j->p - s) > UINT32_MAX)
            return jerr(j, "string too long");
        n->s = s;
        n->n = (uint32_t)(j->p - s);
        j->p++;
        return 0;
    }
    /* slow path: unescape into the arena (output is never longer than the input) */
    const char *q = j->p;
    while (q < j->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    size_t cap = (size_t)(q - s) + 4;
    char *out = jalloc(j, cap, 1);
    if (out == NULL)
        return j->err ? j->err->code : MURR_ENOMEM;
    size_t o = (size_t)(j->p - s);
    memcpy(out, s, o);
    for (;;) {
        if (j->p >= j->end)
            return jerr(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return jerr(j, "raw control character in string");
        if (c != '\\') {
            out[o++] = (char)c;
            j->p++;
            continue;
        }
        j->p++;
        if (j->p >= j->end)
            return jerr(j, "unterminated escape");
        char e = *j->p++;
        switch (e) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            MR_RETURN_NOT_OK(hex4(j, &cp));
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return jerr(j, "unpaired low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return jerr(j, "unpaired high surrogate in \\u escape");
                j->p += 2;
                uint32_t lo;
                MR_RETURN_NOT_OK(hex4(j, &lo));
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return jerr(j, "invalid low surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += put_utf8(out + o, cp);
            break;
        }
        default:
            j->p--;
            return jerr(j, "invalid escape");
        }
    }
    size_t bad;
    if (!mr_utf8_valid((const uint8_t *)out, o, &bad))
        return mr_err_set(j->err, MURR_ESYNTAX, "invalid UTF-8 in string starting at byte %zu", n->off);
    n->s = out;
    n->n = (uint32_t)o;
    return 0;
}

static int parse_number(jparser_t *j, jnode_t *n)
{
    n->type = J_NUM;
    n->off = (size_t)(j->p - j->start);
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return jerr(j, "invalid number");
    if (*j->p == '0') {
        j->p++;
    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jerr(j, "expected a digit after '.'");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jerr(j, "expected a digit in the exponent");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p - s > 1000)
        return jerr(j, "number longer than 1000 characters");
    n->s = s;
    n->n = (uint32_t)(j->p - s);
    return 0;
}

static int parse_value(jparser_t *j, jnode_t *n);
static int parse_keys_value(jparser_t *j, jnode_t *n);

/* Collects children in a growable arena array: copies on growth (amortised O(1)). */
static int parse_container(jparser_t *j, jnode_t *n, bool obj)
{
    n->type = obj ? J_OBJ : J_ARR;
    n->off = (size_t)(j->p - j->start);
    if (++j->depth > MR_JSON_MAX_DEPTH)
        return jerr(j, "nesting deeper than 64 levels");
    j->p++;
    size_t cap = 8, cnt = 0; /* nodes (objects: 2 per member) */
    jnode_t *kids = jalloc(j, cap * sizeof(jnode_t), 8);
    if (kids == NULL)
        return j->err ? j->err->code : MURR_ENOMEM;
    skip_ws(j);
    if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
        j->p++;
        n->kids = kids;
        n->n = 0;
        j->depth--;
        return 0;
    }
    for (;;) {
        if (cnt + 2 > cap) {
            size_t ncap = cap * 2;
            jnode_t *nk = jalloc(j, ncap * sizeof(jnode_t), 8);
            if (nk == NULL)
                return j->err ? j->err->code : MURR_ENOMEM;
            memcpy(nk, kids, cnt * sizeof(jnode_t));
            kids = nk;
            cap = ncap;
        }
        skip_ws(j);
        if (obj) {
            if (j->p >= j->end || *j->p != '"')
                return jerr(j, "expected a string member name");
            MR_RETURN_NOT_OK(parse_string(j, &kids[cnt++]));
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return jerr(j, "expected ':'");
            j->p++;
            skip_ws(j);
            const jnode_t *k = &kids[cnt - 1];
            if (j->fk != NULL && j->depth == 1 && k->n == 4 && memcmp(k->s, "keys", 4) == 0) {
                MR_RETURN_NOT_OK(parse_keys_value(j, &kids[cnt++]));
                goto next;
            }
        }
        MR_RETURN_NOT_OK(parse_value(j, &kids[cnt++]));
    next:
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            break;
        }
        return jerr(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    if (cnt / (obj ? 2 : 1) > UINT32_MAX)
        return jerr(j, "too many elements");
    n->kids = kids;
    n->n = (uint32_t)(obj ? cnt / 2 : cnt);
    j->depth--;
    return 0;
}

static int parse_lit(jparser_t *j, jnode_t *n, const char *lit, jtype_t t)
{
    size_t l = strlen(lit);
    n->off = (size_t)(j->p - j->start);
    if ((size_t)(j->end - j->p) < l || memcmp(j->p, lit, l) != 0)
        return jerr(j, "invalid literal");
    j->p += l;
    n->type = t;
    n->n = 0;
    return 0;
}

static int parse_value(jparser_t *j, jnode_t *n)
{
    skip_ws(j);
    if (j->p >= j->end)
        return jerr(j, "expected a value");
    switch (*j->p) {
    case '{': return parse_container(j, n, true);
    case '[': return parse_container(j, n, false);
    case '"': return parse_string(j, n);
    case 't': return parse_lit(j, n, "true", J_TRUE);
    case 'f': return parse_lit(j, n, "false", J_FALSE);
    case 'n': return parse_lit(j, n, "null", J_NULL);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return parse_number(j, n);
        return jerr(j, "expected a value");
    }
}

/* fk: a fetch request, whose root member "keys" is scanned by parse_keys_value; else NULL. */
static int parse_document(mr_arena_t *a, const char *body, size_t len, mr_budget_t *budget,
                          struct mr_json_keys *fk, jnode_t *root, mr_error_t *err)
{
    if (body == NULL) /* an empty request body has no buffer at all */
        body = "";
    jparser_t j = {.p = body, .end = body + len, .start = body, .a = a, .err = err, .budget = budget, .fk = fk};
    MR_RETURN_NOT_OK(parse_value(&j, root));
    skip_ws(&j);
    if (j.p != j.end)
        return jerr(&j, "trailing characters after the JSON value");
    return 0;
}

/* ---- the key arrays of a fetch request, without DOM nodes ----
 *
 * A fetch request carries thousands of keys and a handful of other values. Its "keys"
 * member is scanned straight into flat arrays when it has the shape every valid request
 * has: an array of strings or of integers (0.2), or an object of such arrays (0.3), the
 * integers without fraction or exponent, of at most 19 digits, and at least -2^63. Anything
 * else (a null, a float, a mixed or nested array, a 20-digit integer, malformed JSON) makes
 * the scan decline: the value is parsed again from its first byte into DOM nodes, and the
 * general decoders below check it and word every message. The scan accepts nothing the
 * DOM parser refuses. */

typedef struct keycol {
    mr_slice_t name;   /* object form: the member's name */
    uint32_t n;
    bool ints;         /* integers in v, else strings in s (an empty array is strings) */
    mr_slice_t *s;
    uint64_t *v;       /* two's complement of each value */
    uint64_t neg_max;  /* largest magnitude of a negative value (0: none) */
    uint64_t pos_max;  /* largest non-negative value */
} keycol_t;

struct mr_json_keys {
    bool ok;                  /* the last "keys" member was scanned (else it is DOM nodes) */
    bool object;              /* the 0.3 form: ncols members; else the 0.2 array in cols[0] */
    uint32_t ncols;
    keycol_t *cols;
    const char *doc;          /* the body, and the "keys" value within it: the DOM of it */
    const char *start, *end;  /* is built from these when a general decoder needs it */
    mr_arena_t *a;
    const jnode_t *dom;       /* that DOM, once built */
};

enum { SCAN_DECLINE = -1 };

/* Grows *arr (cnt used of *cap elements of `size` bytes) by doubling from `first`, charged
 * to the budget. */
static int scan_grow(jparser_t *j, void **arr, size_t *cap, size_t cnt, size_t size, size_t first)
{
    size_t ncap = *cap ? *cap * 2 : first;
    void *n = jalloc(j, ncap * size, 8);
    if (n == NULL)
        return j->err->code;
    if (cnt)
        memcpy(n, *arr, cnt * size);
    *arr = n;
    *cap = ncap;
    return 0;
}

/* The leading decimal digits of the 8 bytes at p (there are 8): how many (0-8), and their
 * value in *v. A byte is a digit when its high nibble is 3 before and after adding 6 (a carry
 * out of a non-digit byte only reaches later bytes, past the first non-digit). The value:
 * the digits moved to the top of the word (zeros before them), then pairs, quads and the
 * two halves combined by multiply-and-shift. */
static inline size_t swar_digits(const unsigned char *p, uint64_t *v)
{
    const uint64_t nib = 0xF0F0F0F0F0F0F0F0ull, three = 0x3030303030303030ull;
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t bad = ((w & nib) ^ three) | (((w + 0x0606060606060606ull) & nib) ^ three);
    size_t n = bad ? (size_t)__builtin_ctzll(bad) >> 3 : 8;
    if (n == 0)
        return 0;
    uint64_t x = (w - three) << (8 * (8 - n)); /* n == 8: no shift */
    x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFull;
    x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFull;
    x = (x * 10000 + (x >> 32)) & 0xFFFFFFFFull;
    *v = x;
    return n;
}

/* A JSON integer at j->p: '-'? digits (no leading zero), at most 19 digits, no fraction or
 * exponent, not below -2^63; SCAN_DECLINE for anything else, j->p unmoved. */
static inline int scan_int(jparser_t *j, uint64_t *out, bool *neg)
{
    const unsigned char *p = (const unsigned char *)j->p, *end = (const unsigned char *)j->end;
    bool ng = p < end && *p == '-';
    p += ng;
    if (p >= end || (unsigned)(*p - '0') > 9)
        return SCAN_DECLINE;
    uint64_t v = 0;
    if (*p == '0') {
        p++;
    } else {
        size_t d = end - p >= 8 ? swar_digits(p, &v) : 0; /* the first up to 8 digits at once */
        p += d;
        const unsigned char *lim = end - p > 19 - (ptrdiff_t)d ? p + 19 - d : end;
        if (d == 8 || d == 0)
            while (p < lim && (unsigned)(*p - '0') <= 9)
                v = v * 10 + (unsigned)(*p++ - '0');
        if (p < end && (unsigned)(*p - '0') <= 9)
            return SCAN_DECLINE; /* 20 digits or more: the general path checks the overflow */
    }
    if ((p < end && (*p == '.' || *p == 'e' || *p == 'E')) || (ng && v > (uint64_t)INT64_MAX + 1))
        return SCAN_DECLINE;
    j->p = (const char *)p;
    *out = ng ? 0 - v : v;
    *neg = ng;
    return 0;
}

/* The array at j->p ('[') into kc: 0, SCAN_DECLINE, or MURR_ENOMEM / MURR_ETOOBIG. */
static int scan_key_array(jparser_t *j, keycol_t *kc)
{
    j->p++;
    skip_ws(j);
    kc->n = 0;
    kc->ints = false;
    kc->s = NULL;
    kc->v = NULL;
    kc->neg_max = kc->pos_max = 0;
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    if (j->p >= j->end)
        return SCAN_DECLINE;
    kc->ints = *j->p != '"';
    size_t cap = 0, cnt = 0;
    for (;;) {
        if (cnt == cap) {
            int rc = kc->ints ? scan_grow(j, (void **)&kc->v, &cap, cnt, sizeof(uint64_t), 16)
                              : scan_grow(j, (void **)&kc->s, &cap, cnt, sizeof(mr_slice_t), 8);
            if (rc != 0)
                return rc;
        }
        if (kc->ints) {
            uint64_t v;
            bool neg;
            if (scan_int(j, &v, &neg) != 0)
                return SCAN_DECLINE;
            kc->v[cnt++] = v;
            if (neg && 0 - v > kc->neg_max)
                kc->neg_max = 0 - v;
            else if (!neg && v > kc->pos_max)
                kc->pos_max = v;
        } else {
            if (j->p >= j->end || *j->p != '"')
                return SCAN_DECLINE;
            uint64_t w, m;
            size_t l;
            /* most ids: the closing quote within the next 8 bytes, no other stop before it */
            if (j->end - j->p > 8 && (memcpy(&w, j->p + 1, 8), m = str_stops(w)) != 0 &&
                j->p[1 + (l = (size_t)__builtin_ctzll(m) >> 3)] == '"') {
                kc->s[cnt++] = mr_slice(j->p + 1, l);
                j->p += l + 2;
            } else {
                jnode_t t;
                int rc = parse_string(j, &t);
                if (rc != 0)
                    return rc == MURR_ESYNTAX ? SCAN_DECLINE : rc;
                kc->s[cnt++] = mr_slice(t.s, t.n);
            }
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            skip_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            break;
        }
        return SCAN_DECLINE;
    }
    if (cnt > UINT32_MAX)
        return SCAN_DECLINE;
    kc->n = (uint32_t)cnt;
    return 0;
}

/* The "keys" value at j->p into fk: 0, SCAN_DECLINE, or MURR_ENOMEM / MURR_ETOOBIG. */
static int scan_keys(jparser_t *j, struct mr_json_keys *fk)
{
    fk->ncols = 0;
    if (j->p < j->end && *j->p == '[') {
        fk->object = false;
        size_t cap = 0;
        MR_RETURN_NOT_OK(scan_grow(j, (void **)&fk->cols, &cap, 0, sizeof(keycol_t), 1));
        fk->ncols = 1;
        return scan_key_array(j, &fk->cols[0]);
    }
    if (j->p >= j->end || *j->p != '{')
        return SCAN_DECLINE;
    fk->object = true;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    size_t cap = 0;
    for (;;) {
        if (fk->ncols == cap)
            MR_RETURN_NOT_OK(scan_grow(j, (void **)&fk->cols, &cap, fk->ncols, sizeof(keycol_t), 2));
        if (j->p >= j->end || *j->p != '"')
            return SCAN_DECLINE;
        jnode_t name;
        int rc = parse_string(j, &name);
        if (rc != 0)
            return rc == MURR_ESYNTAX ? SCAN_DECLINE : rc;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return SCAN_DECLINE;
        j->p++;
        skip_ws(j);
        if (j->p >= j->end || *j->p != '[')
            return SCAN_DECLINE;
        keycol_t *kc = &fk->cols[fk->ncols++];
        if ((rc = scan_key_array(j, kc)) != 0)
            return rc;
        kc->name = mr_slice(name.s, name.n);
        skip_ws(j);
        if (j->p < j->end && *j->p == ',' && fk->ncols < UINT32_MAX) {
            j->p++;
            skip_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        return SCAN_DECLINE;
    }
}

/* The root's "keys" member: scanned into j->fk, or (declined) parsed into DOM nodes at n.
 * A scanned value leaves at n a node of its type and count without children (n->kids is
 * NULL: the fetch code reads j->fk instead). */
static int parse_keys_value(jparser_t *j, jnode_t *n)
{
    struct mr_json_keys *fk = j->fk;
    const char *start = j->p;
    int rc = scan_keys(j, fk);
    if (rc > 0)
        return rc;
    fk->ok = rc == 0;
    if (rc != 0) { /* a string the scan met may have left a syntax error: the DOM parse words its own */
        if (j->err != NULL)
            *j->err = (mr_error_t){0};
        j->p = start;
        return parse_value(j, n);
    }
    fk->doc = j->start;
    fk->start = start;
    fk->end = j->p;
    fk->a = j->a;
    fk->dom = NULL;
    n->type = fk->object ? J_OBJ : J_ARR;
    n->off = (size_t)(start - j->start);
    n->n = fk->object ? fk->ncols : fk->cols[0].n;
    n->kids = NULL;
    return 0;
}

static const char *kind(const jnode_t *n)
{
    static const char *const names[] = {"null", "a boolean", "a boolean", "a number", "a string", "an array", "an object"};
    return names[n->type];
}

/* Last member named `name` (duplicates: last wins). */
static const jnode_t *member(const jnode_t *obj, const char *name)
{
    size_t l = strlen(name);
    const jnode_t *found = NULL;
    for (uint32_t i = 0; i < obj->n; i++) {
        const jnode_t *k = &obj->kids[2 * i];
        if (k->n == l && memcmp(k->s, name, l) == 0)
            found = &obj->kids[2 * i + 1];
    }
    return found;
}

/* ---- typed columns: the element rules shared by write bodies and fetch keys ---- */

/* Parses an integer token exactly; false if it has a fraction/exponent or overflows. */
static bool parse_int_token(const char *s, size_t n, bool *neg, uint64_t *mag, bool *is_float)
{
    size_t i = 0;
    *neg = false;
    *is_float = false;
    if (i < n && s[i] == '-') {
        *neg = true;
        i++;
    }
    uint64_t v = 0;
    bool overflow = false;
    /* A validated JSON number: digits, then maybe a fraction or exponent. Up to 19 digits
     * cannot overflow 64 bits, so the common case runs a plain v * 10 + d chain (1,000 keys
     * a fetch go through here); longer ones check every step. */
    size_t safe = i + 19 < n ? i + 19 : n;
    for (; i < safe; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) {
            *is_float = true;
            return false;
        }
        v = v * 10 + d;
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) {
            *is_float = true;
            return false;
        }
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)d, &v))
            overflow = true; /* keep scanning: a fraction later makes it a float, not an overflow */
    }
    *mag = v;
    return !overflow;
}

static void int_limits(murr_dtype t, uint64_t *max_pos, uint64_t *max_neg)
{
    switch (t) {
    case MURR_INT8: *max_pos = 127; *max_neg = 128; break;
    case MURR_INT16: *max_pos = 32767; *max_neg = 32768; break;
    case MURR_INT32: *max_pos = 2147483647u; *max_neg = 2147483648u; break;
    case MURR_INT64: *max_pos = INT64_MAX; *max_neg = (uint64_t)INT64_MAX + 1; break;
    case MURR_UINT8: *max_pos = 255; *max_neg = 0; break;
    case MURR_UINT16: *max_pos = 65535; *max_neg = 0; break;
    case MURR_UINT32: *max_pos = UINT32_MAX; *max_neg = 0; break;
    default: *max_pos = UINT64_MAX; *max_neg = 0; break;
    }
}

static const char *rust_int_name(murr_dtype t)
{
    static const char *const n[] = {"", "", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"};
    return n[t];
}

static int elem_error(mr_error_t *err, const char *col, uint32_t row, const char *fmt, const char *a1, const char *a2)
{
    char detail[300];
    snprintf(detail, sizeof(detail), fmt, a1, a2);
    return mr_err_set(err, MURR_EINVAL, "Table error: column '%s': Table error: row %u: %s", col, row, detail);
}

/* A list value: an array of numbers (int8: integers in range), exactly dim of them when the
 * column has a fixed dimension. Elements go through a scratch buffer, in the element type. */
static int append_list(mr_colbuilder_t *cb, const mr_column_schema_t *cs, const jnode_t *e, uint32_t row,
                       mr_error_t *err)
{
    char tok[64];
    if (e->type != J_ARR)
        return elem_error(err, cs->name, row, "expected an array of numbers (%s), got %s", murr_dtype_name(cs->dtype),
                          kind(e));
    if (cs->dim > 0 && e->n != (uint32_t)cs->dim)
        return mr_err_set(err, MURR_EINVAL, "Table error: column '%s': row %u: vector has %u elements, the column's "
                          "dimension is %d", cs->name, row, e->n, cs->dim);
    size_t w = mr_list_elem_width(cs->dtype);
    mr_buf_t el;
    mr_buf_init(&el);
    if (mr_buf_reserve(&el, (size_t)e->n * w + 8) != 0)
        return MURR_ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < e->n && rc == 0; i++) {
        const jnode_t *x = &e->kids[i];
        if (x->type == J_ARR) {
            rc = mr_err_set(err, MURR_EINVAL, "Table error: column '%s': row %u: element %u is an array; lists nest one "
                            "level deep (%s holds numbers)", cs->name, row, i, murr_dtype_name(cs->dtype));
            break;
        }
        if (x->type != J_NUM) {
            rc = mr_err_set(err, MURR_EINVAL, "Table error: column '%s': row %u: element %u: expected a number, got %s%s",
                            cs->name, row, i, kind(x), x->type == J_NULL ? " (list elements cannot be null)" : "");
            break;
        }
        snprintf(tok, sizeof(tok), "%.*s", (int)(x->n > 40 ? 40 : x->n), x->s);
        if (cs->dtype == MURR_LIST_INT8) {
            bool neg, is_float;
            uint64_t mag;
            bool ok = parse_int_token(x->s, x->n, &neg, &mag, &is_float);
            if (!ok || is_float || (neg ? mag > 128 : mag > 127)) {
                rc = mr_err_set(err, MURR_EINVAL, "Table error: column '%s': row %u: element %u: `%s` is not an int8 "
                                "(an integer from -128 to 127)", cs->name, row, i, tok);
                break;
            }
            el.data[el.len++] = (uint8_t)(neg ? (int8_t)(0 - (int64_t)mag) : (int8_t)mag);
            continue;
        }
        char buf[1024];
        memcpy(buf, x->s, x->n);
        buf[x->n] = '\0';
        float f = (float)strtod(buf, NULL);
        uint16_t h = mr_float_to_half(f);
        if (isinf(f) || (cs->dtype == MURR_LIST_FLOAT16 && (h & 0x7fffu) == 0x7c00u)) {
            rc = mr_err_set(err, MURR_EINVAL, "Table error: column '%s': row %u: element %u: number `%s` is out of "
                            "range for %s", cs->name, row, i, tok,
                            cs->dtype == MURR_LIST_FLOAT16 ? "float16 (largest 65504)" : "float32 (largest 3.4028235e38)");
            break;
        }
        if (cs->dtype == MURR_LIST_FLOAT16)
            memcpy(el.data + el.len, &h, 2);
        else
            memcpy(el.data + el.len, &f, 4);
        el.len += w;
    }
    if (rc == 0)
        rc = mr_colbuilder_append_list(cb, el.data, e->n);
    mr_buf_deinit(&el);
    return rc;
}

static int append_elem(mr_colbuilder_t *cb, const mr_column_schema_t *cs, const jnode_t *e, uint32_t row,
                       mr_error_t *err)
{
    char tok[64]; /* the number's text (at most 40 bytes), for messages: filled on error paths only */
    if (e->type == J_NULL)
        return mr_colbuilder_append_null(cb);
    switch (cs->dtype) {
    case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8:
        return append_list(cb, cs, e, row, err);
    case MURR_UTF8:
        if (e->type != J_STR)
            return elem_error(err, cs->name, row, "expected string, got %s%s", kind(e), "");
        return mr_colbuilder_append_str(cb, e->s, e->n);
    case MURR_BOOL:
        if (e->type != J_TRUE && e->type != J_FALSE)
            return elem_error(err, cs->name, row, "expected bool, got %s%s", kind(e), "");
        return mr_colbuilder_append_bool(cb, e->type == J_TRUE);
    case MURR_FLOAT32:
    case MURR_FLOAT64: {
        if (e->type != J_NUM)
            return elem_error(err, cs->name, row, "expected number, got %s%s", kind(e), "");
        char buf[1024];
        memcpy(buf, e->s, e->n);
        buf[e->n] = '\0';
        double d = strtod(buf, NULL);
        /* JSON has no infinities: a number too large for the column is refused, not stored
         * as one (float32 rounds to infinity from FLT_MAX + half an ulp; float64 from
         * DBL_MAX + half an ulp, where strtod answers HUGE_VAL) */
        if (isinf(d) || (cs->dtype == MURR_FLOAT32 && isinf((float)d))) {
            snprintf(tok, sizeof(tok), "%.*s", (int)(e->n > 40 ? 40 : e->n), e->s);
            return elem_error(err, cs->name, row, "invalid value: number `%s` is out of range for %s", tok,
                              cs->dtype == MURR_FLOAT32 ? "float32 (largest 3.4028235e38)"
                                                        : "float64 (largest 1.7976931348623157e308)");
        }
        return mr_colbuilder_append_float(cb, d);
    }
    default: {
        if (e->type != J_NUM)
            return elem_error(err, cs->name, row, "expected integer, got %s%s", kind(e), "");
        bool neg, is_float;
        uint64_t mag;
        bool ok = parse_int_token(e->s, e->n, &neg, &mag, &is_float);
        uint64_t max_pos, max_neg;
        int_limits(cs->dtype, &max_pos, &max_neg);
        if (is_float || !ok || (neg && mag > max_neg) || (!neg && mag > max_pos))
            snprintf(tok, sizeof(tok), "%.*s", (int)(e->n > 40 ? 40 : e->n), e->s);
        if (is_float)
            return elem_error(err, cs->name, row, "invalid type: floating point `%s`, expected %s", tok,
                              rust_int_name(cs->dtype));
        if (!ok || (neg && mag > max_neg) || (!neg && mag > max_pos))
            return elem_error(err, cs->name, row, "invalid value: integer `%s`, expected %s", tok,
                              rust_int_name(cs->dtype));
        return mr_colbuilder_append_int(cb, neg ? (int64_t)(0 - mag) : (int64_t)mag);
    }
    }
}

/* Key columns carry the flag in both schema forms (core/schema.c sets it for form 2). */
static bool is_key_column(const mr_schema_t *s, int32_t i) { return s->columns[i].key; }

/* "a, b" (the key columns, for messages; truncated with "..." past cap). */
static const char *key_list(const mr_schema_t *s, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < s->num_columns && o < cap; i++)
        if (is_key_column(s, i))
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", s->columns[i].name);
    if (o >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    return buf;
}

/* Key columns of fetch requests (thousands of values a request): utf8 or integers, never
 * null, sized once and written in place. Returns false, with nothing to report, when an
 * element does not conform: the general path below then produces the exact message. */
static bool decode_key_column(const jnode_t *arr, const mr_column_schema_t *cs, mr_batch_t *b, int32_t col)
{
    uint32_t n = arr->n;
    if (cs->dtype == MURR_UTF8) {
        int64_t total = 0;
        for (uint32_t r = 0; r < n; r++) {
            if (arr->kids[r].type != J_STR)
                return false;
            total += arr->kids[r].n;
        }
        if (total > INT32_MAX || mr_batch_column_alloc(b, col, MURR_UTF8, false, total) != 0)
            return false;
        int32_t *off = b->columns[col].values;
        uint8_t *d = b->columns[col].data;
        for (uint32_t r = 0; r < n; r++) {
            memcpy(d + off[r], arr->kids[r].s, arr->kids[r].n);
            off[r + 1] = off[r] + (int32_t)arr->kids[r].n;
        }
        return true;
    }
    if (!mr_dtype_is_int(cs->dtype) || mr_batch_column_alloc(b, col, cs->dtype, false, 0) != 0)
        return false;
    uint64_t max_pos, max_neg;
    int_limits(cs->dtype, &max_pos, &max_neg);
    size_t w = mr_dtype_width(cs->dtype);
    uint8_t *v = b->columns[col].values;
    for (uint32_t r = 0; r < n; r++) {
        const jnode_t *e = &arr->kids[r];
        bool neg, is_float;
        uint64_t mag;
        if (e->type != J_NUM || !parse_int_token(e->s, e->n, &neg, &mag, &is_float) || is_float ||
            (neg ? mag > max_neg : mag > max_pos))
            return false;
        uint64_t x = neg ? 0 - mag : mag; /* two's complement; the low w bytes are the value */
        memcpy(v + (size_t)r * w, &x, w); /* little-endian host */
    }
    return true;
}

/* Decodes one JSON array into column `col` of b (b->num_rows == arr->n) by the column's
 * schema; a key column and a non-nullable column refuse nulls. */
static int decode_column(const jnode_t *arr, const mr_column_schema_t *cs, bool key, mr_batch_t *b, int32_t col,
                         mr_error_t *err)
{
    if (key && decode_key_column(arr, cs, b, col)) {
        int rc = mr_batch_set_name(b, col, cs->name, cs->name_len);
        return rc ? mr_err_set(err, rc, "out of memory naming column '%s'", cs->name) : 0;
    }
    mr_colbuilder_t cb;
    mr_colbuilder_init_list(&cb, cs->dtype, cs->dim);
    int rc = 0;
    for (uint32_t r = 0; r < arr->n && rc == 0; r++) {
        const jnode_t *e = &arr->kids[r];
        if (e->type == J_NULL && key)
            rc = mr_err_set(err, MURR_EINVAL, "Segment error: null in key column '%s' at row %u", cs->name, r);
        else if (e->type == J_NULL && !cs->nullable)
            rc = mr_err_set(err, MURR_EINVAL, "Table error: column '%s' is declared non-nullable but row %u is null",
                            cs->name, r);
        else if ((rc = append_elem(&cb, cs, e, r, err)) == MURR_ENOMEM)
            mr_err_set(err, rc, "out of memory decoding column '%s'", cs->name);
    }
    if (rc == 0 && ((rc = mr_batch_set_name(b, col, cs->name, cs->name_len)) != 0 ||
                    (rc = mr_colbuilder_finish(&cb, b, col)) != 0))
        mr_err_set(err, rc, "cannot finish column '%s' of %u rows (%s)", cs->name, arr->n, murr_status_name(rc));
    mr_colbuilder_deinit(&cb);
    return rc;
}

/* Finds in the object `obj` the arrays of the schema's columns (keys_only: of its key
 * columns; arrs[i] stays NULL for the others) and checks they are arrays of one length,
 * *rows. Messages name the object as a write payload or as fetch keys. */
static int column_arrays(const jnode_t *obj, const mr_schema_t *s, bool keys_only, const jnode_t **arrs,
                         uint32_t *rows, mr_error_t *err)
{
    const char *noun = keys_only ? "key column" : "column";
    char kl[256];
    int32_t first = -1;
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *cs = &s->columns[i];
        arrs[i] = NULL;
        if (keys_only && !is_key_column(s, i))
            continue;
        const jnode_t *v = member(obj, cs->name);
        if (v == NULL && keys_only)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing key column '%s' in keys (key columns: %s)",
                              cs->name, key_list(s, kl, sizeof(kl)));
        if (v == NULL)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing column '%s' in write payload", cs->name);
        if (v->type != J_ARR)
            return mr_err_set(err, keys_only ? MURR_EINVAL : MURR_ESHAPE,
                              "Table error: invalid JSON: %s.%s: expected an array, got %s",
                              keys_only ? "keys" : "columns", cs->name, kind(v));
        arrs[i] = v;
        if (first < 0)
            first = i;
        else if (v->n != arrs[first]->n)
            return mr_err_set(err, MURR_EINVAL, "Table error: %s '%s' has %u values but %s '%s' has %u: all %ss of a "
                              "%s must have the same length", noun, cs->name, v->n, noun, s->columns[first].name,
                              arrs[first]->n, noun, keys_only ? "fetch" : "write");
    }
    *rows = first < 0 ? 0 : arrs[first]->n;
    return 0;
}

/* ---- columnar write bodies ---- */

/* What column i of the batch will take: its buffers for `rows` rows and its string bytes. */
static uint64_t column_bytes(const jnode_t *arr, const mr_column_schema_t *cs, uint32_t rows)
{
    int64_t strings = 0;
    if (cs->dtype == MURR_UTF8)
        for (uint32_t r = 0; r < arr->n; r++)
            strings += arr->kids[r].type == J_STR ? (int64_t)arr->kids[r].n : 0;
    return mr_batch_column_bytes(cs->dtype, rows, true, strings);
}

int mr_json_parse_write(const char *body, size_t len, const mr_schema_t *schema, mr_budget_t *budget, mr_batch_t **out,
                        mr_error_t *err)
{
    *out = NULL;
    mr_arena_t a;
    mr_arena_init(&a, 1 << 16);
    jnode_t root;
    int rc = parse_document(&a, body, len, budget, NULL, &root, err);
    if (rc != 0) {
        mr_err_prefix(err, "Table error: invalid JSON: ");
        goto out;
    }
    const jnode_t *cols = root.type == J_OBJ ? member(&root, "columns") : NULL;
    if (root.type != J_OBJ || cols == NULL || cols->type != J_OBJ) {
        rc = mr_err_set(err, MURR_ESHAPE, "Table error: invalid JSON: expected {\"columns\": {\"<column>\": [values...]}}, "
                        "got %s", root.type != J_OBJ ? kind(&root) : cols == NULL ? "no `columns` member" : kind(cols));
        goto out;
    }
    const jnode_t **arrs = mr_arena_alloc(&a, (size_t)schema->num_columns * sizeof(jnode_t *));
    uint32_t rows = 0;
    if (arrs == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = column_arrays(cols, schema, false, arrs, &rows, err)) != 0)
        goto out;
    for (int32_t i = 0; i < schema->num_columns; i++)
        if ((rc = mr_budget_charge(budget, column_bytes(arrs[i], &schema->columns[i], rows), "the rows of the column",
                                   schema->columns[i].name, err)) != 0)
            goto out;
    mr_batch_t *b = mr_batch_new(schema->num_columns, rows);
    if (b == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u rows", rows);
        goto out;
    }
    for (int32_t i = 0; i < schema->num_columns && rc == 0; i++)
        rc = decode_column(arrs[i], &schema->columns[i], is_key_column(schema, i), b, i, err);
    if (rc != 0)
        mr_batch_free(b);
    else
        *out = b;
out:
    mr_arena_deinit(&a);
    return rc;
}

/* ---- fetch requests and tickets ---- */

/* The elements of array v as string slices, charged to budget; `name` names it in messages. */
static int string_slices(const jnode_t *v, const char *name, mr_arena_t *a, mr_budget_t *budget, mr_slice_t **out,
                         size_t *n, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_budget_charge_n(budget, v->n ? v->n : 1, sizeof(mr_slice_t), "the string slices", NULL,
                                        err));
    mr_slice_t *s = mr_arena_alloc(a, (v->n ? v->n : 1) * sizeof(mr_slice_t));
    if (s == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %u %s", v->n, name);
    for (uint32_t i = 0; i < v->n; i++) {
        const jnode_t *e = &v->kids[i];
        if (e->type != J_STR)
            return mr_err_set(err, MURR_ESHAPE, "%s[%u]: expected a string, got %s", name, i, kind(e));
        s[i] = mr_slice(e->s, e->n);
    }
    *out = s;
    *n = v->n;
    return 0;
}

static int string_list(const jnode_t *v, const char *name, mr_arena_t *a, mr_budget_t *budget, mr_slice_t **out,
                       size_t *n, mr_error_t *err)
{
    if (v == NULL)
        return mr_err_set(err, MURR_ESHAPE, "missing field `%s`", name);
    if (v->type != J_ARR)
        return mr_err_set(err, MURR_ESHAPE, "%s: expected an array of strings, got %s", name, kind(v));
    return string_slices(v, name, a, budget, out, n, err);
}

static bool all_strings(const jnode_t *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->kids[i].type != J_STR)
            return false;
    return true;
}

/* 0.2 form: strings (utf8 key) or numbers (integer key), not mixed; which of them the
 * table wants is decided against its schema (mr_json_fetch_keys). */
static int keys_array(mr_arena_t *a, const jnode_t *v, mr_fetch_req_t *out, mr_error_t *err)
{
    out->nkeys = v->n;
    if (v->n == 0 || v->kids[0].type == J_STR)
        return string_slices(v, "keys", a, out->budget, &out->keys, &out->nkeys, err);
    if (v->kids[0].type != J_NUM)
        return mr_err_set(err, MURR_ESHAPE, "keys[0]: expected a string or an integer, got %s", kind(&v->kids[0]));
    for (uint32_t i = 1; i < v->n; i++)
        if (v->kids[i].type != J_NUM)
            return mr_err_set(err, MURR_ESHAPE, "keys[%u]: expected a number like keys[0], got %s", i,
                              kind(&v->kids[i]));
    return 0;
}

/* 0.3 form: one array per key column; names and lengths are checked against the schema. */
static int keys_object(mr_arena_t *a, const jnode_t *v, mr_fetch_req_t *out, mr_error_t *err)
{
    out->sparse = true;
    for (uint32_t i = 0; i < v->n; i++) {
        const jnode_t *k = &v->kids[2 * i], *arr = &v->kids[2 * i + 1];
        if (arr->type != J_ARR)
            return mr_err_set(err, MURR_EINVAL, "Table error: invalid JSON: keys.%.*s: expected an array, got %s",
                              (int)(k->n > 200 ? 200 : k->n), k->s, kind(arr));
    }
    out->nkeys = v->n ? v->kids[1].n : 0;
    if (v->n == 1 && all_strings(&v->kids[1])) {
        out->key_name = mr_slice(v->kids[0].s, v->kids[0].n);
        return string_slices(&v->kids[1], "keys", a, out->budget, &out->keys, &out->nkeys, err);
    }
    return 0;
}

/* The strings of a scanned key array as the string fast path's slices (an empty array has
 * none allocated: one slice, as string_slices gives it). */
static int scanned_slices(mr_arena_t *a, const keycol_t *kc, mr_fetch_req_t *out, mr_error_t *err)
{
    out->nkeys = kc->n;
    out->keys = kc->s;
    if (kc->s != NULL)
        return 0;
    MR_RETURN_NOT_OK(mr_budget_charge_n(out->budget, 1, sizeof(mr_slice_t), "the string slices", NULL, err));
    if ((out->keys = mr_arena_alloc(a, sizeof(mr_slice_t))) == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for the keys");
    return 0;
}

/* keys_array / keys_object for scanned keys, which have their shape (homogeneous arrays). */
static int scanned_keys(mr_arena_t *a, const struct mr_json_keys *fk, mr_fetch_req_t *out, mr_error_t *err)
{
    out->sparse = fk->object;
    out->nkeys = fk->ncols ? fk->cols[0].n : 0;
    if (fk->ncols == 1 && !fk->cols[0].ints) {
        if (fk->object)
            out->key_name = fk->cols[0].name;
        return scanned_slices(a, &fk->cols[0], out, err);
    }
    return 0;
}

int mr_json_parse_fetch(mr_arena_t *a, const char *body, size_t len, bool want_table, mr_budget_t *budget,
                        mr_fetch_req_t *out, mr_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->budget = budget;
    struct mr_json_keys *fk = mr_arena_calloc(a, sizeof(*fk));
    if (fk == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory parsing a fetch request");
    jnode_t root;
    MR_RETURN_NOT_OK(parse_document(a, body, len, budget, fk, &root, err));
    if (root.type != J_OBJ)
        return mr_err_set(err, MURR_ESHAPE, "expected an object with `keys` and `columns`, got %s", kind(&root));
    if (want_table) {
        const jnode_t *t = member(&root, "table");
        if (t == NULL)
            return mr_err_set(err, MURR_ESHAPE, "missing field `table`");
        if (t->type != J_STR)
            return mr_err_set(err, MURR_ESHAPE, "table: expected a string, got %s", kind(t));
        out->table = mr_slice(t->s, t->n);
    }
    const jnode_t *keys = member(&root, "keys");
    if (keys == NULL)
        return mr_err_set(err, MURR_ESHAPE, "missing field `keys`");
    if (keys->type == J_ARR && fk->ok)
        MR_RETURN_NOT_OK(scanned_keys(a, fk, out, err));
    else if (keys->type == J_ARR)
        MR_RETURN_NOT_OK(keys_array(a, keys, out, err));
    else if (keys->type == J_OBJ) {
        /* the 0.3 request is strict about its members (murr 0.3.1 refuses others); the 0.2
         * request keeps ignoring them, as 0.2.1 did */
        for (uint32_t i = 0; i < root.n; i++) {
            const jnode_t *k = &root.kids[2 * i];
            bool known = (k->n == 4 && memcmp(k->s, "keys", 4) == 0) || (k->n == 7 && memcmp(k->s, "columns", 7) == 0) ||
                         (want_table && k->n == 5 && memcmp(k->s, "table", 5) == 0);
            if (!known)
                return mr_err_set(err, MURR_EINVAL,
                                  "Table error: invalid JSON: unknown field `%.*s` in a fetch request with key columns, "
                                  "expected `keys` or `columns`%s",
                                  (int)(k->n > 100 ? 100 : k->n), k->s, want_table ? " (and `table`)" : "");
        }
        MR_RETURN_NOT_OK(fk->ok ? scanned_keys(a, fk, out, err) : keys_object(a, keys, out, err));
    } else
        return mr_err_set(err, MURR_ESHAPE, "keys: expected an array of keys or an object of key columns, got %s",
                          kind(keys));
    out->keys_json = keys;
    out->scanned = fk->ok ? fk : NULL;
    return string_list(member(&root, "columns"), "columns", a, budget, &out->columns, &out->ncolumns, err);
}

/* The one key column of the table, from the 0.2 array of keys. */
/* Charges key column cs of `rows` rows (decoded from arr) before it is allocated. */
static int charge_key_column(mr_budget_t *budget, const jnode_t *arr, const mr_column_schema_t *cs, uint32_t rows,
                             mr_error_t *err)
{
    return mr_budget_charge(budget, column_bytes(arr, cs, rows), "the key column", cs->name, err);
}

static int fetch_keys_array(const jnode_t *keys, const mr_schema_t *s, mr_budget_t *budget, mr_batch_t **out,
                            mr_error_t *err)
{
    char kl[256];
    int32_t nk = s->num_keys;
    if (nk != 1)
        return mr_err_set(err, MURR_EINVAL, "Table error: the key of this table has %d columns (%s): send keys as an "
                          "object with one array per key column, {\"keys\": {\"<column>\": [...], ...}}",
                          nk, key_list(s, kl, sizeof(kl)));
    const mr_column_schema_t *cs = &s->columns[s->key_index];
    for (uint32_t i = 0; cs->dtype == MURR_UTF8 && i < keys->n; i++)
        if (keys->kids[i].type != J_STR)
            return mr_err_set(err, MURR_ESHAPE, "keys[%u]: expected a string, got %s", i, kind(&keys->kids[i]));
    MR_RETURN_NOT_OK(charge_key_column(budget, keys, cs, keys->n, err));
    mr_batch_t *b = mr_batch_new(1, keys->n);
    if (b == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %u keys", keys->n);
    int rc = decode_column(keys, cs, true, b, 0, err);
    if (rc != 0)
        mr_batch_free(b);
    else
        *out = b;
    return rc;
}

/* The key columns of the table, from the 0.3 object of key arrays. */
static int fetch_keys_object(const jnode_t *keys, const mr_schema_t *s, mr_budget_t *budget, mr_batch_t **out,
                             mr_error_t *err)
{
    char kl[256];
    for (uint32_t i = 0; i < keys->n; i++) {
        const jnode_t *k = &keys->kids[2 * i];
        int32_t c = mr_schema_find(s, k->s, k->n);
        if (c < 0 || !is_key_column(s, c))
            return mr_err_set(err, MURR_EINVAL, "Table error: keys has a member '%.*s', which is not a key column of "
                              "the table (key columns: %s)", (int)(k->n > 200 ? 200 : k->n), k->s,
                              key_list(s, kl, sizeof(kl)));
    }
    const jnode_t **arrs = mr_calloc((size_t)s->num_columns, sizeof(*arrs));
    if (arrs == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    uint32_t rows = 0;
    mr_batch_t *b = NULL;
    int rc = column_arrays(keys, s, true, arrs, &rows, err);
    if (rc == 0 && (b = mr_batch_new(s->num_keys, rows)) == NULL)
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u keys", rows);
    for (int32_t i = 0, col = 0; rc == 0 && i < s->num_columns; i++)
        if (arrs[i] != NULL && (rc = charge_key_column(budget, arrs[i], &s->columns[i], rows, err)) == 0)
            rc = decode_column(arrs[i], &s->columns[i], true, b, col++, err);
    mr_free(arrs);
    if (rc != 0)
        mr_batch_free(b);
    else
        *out = b;
    return rc;
}

/* The DOM of scanned keys, built on first use from the bytes they were scanned from. */
static const jnode_t *scanned_dom(struct mr_json_keys *fk, mr_budget_t *budget, mr_error_t *err)
{
    if (fk->dom != NULL)
        return fk->dom;
    jparser_t j = {.p = fk->start, .end = fk->end, .start = fk->doc, .a = fk->a, .err = err, .budget = budget,
                   .depth = 1};
    jnode_t *n = jalloc(&j, sizeof(jnode_t), 8);
    if (n == NULL || parse_value(&j, n) != 0)
        return NULL;
    return fk->dom = n;
}

int mr_json_fetch_keys(const mr_fetch_req_t *fr, const mr_schema_t *schema, mr_batch_t **out, mr_error_t *err)
{
    *out = NULL;
    const jnode_t *keys = fr->keys_json;
    if (fr->scanned != NULL && (keys = scanned_dom(fr->scanned, fr->budget, err)) == NULL)
        return err->code;
    if (keys != NULL && keys->type == J_ARR)
        return fetch_keys_array(keys, schema, fr->budget, out, err);
    if (keys != NULL && keys->type == J_OBJ)
        return fetch_keys_object(keys, schema, fr->budget, out, err);
    return mr_err_set(err, MURR_EINTERNAL, "mr_json_fetch_keys: the request was not parsed");
}

/* The scanned key array of key column cs: the one member of that name (object form), the
 * array (0.2 form); NULL when there is none or the name appears twice. */
static const keycol_t *scanned_column(const struct mr_json_keys *fk, const mr_column_schema_t *cs)
{
    if (!fk->object)
        return &fk->cols[0];
    const keycol_t *found = NULL;
    for (uint32_t i = 0; i < fk->ncols; i++) {
        const keycol_t *c = &fk->cols[i];
        if (c->name.len == cs->name_len && memcmp(c->name.ptr, cs->name, cs->name_len) == 0) {
            if (found != NULL)
                return NULL;
            found = c;
        }
    }
    return found;
}

/* The key components of scanned keys for the table's key columns (kc order) into parts;
 * false when they do not conform (see mr_json_fetch_encode). */
static bool scanned_parts(const struct mr_json_keys *fk, const mr_schema_t *s, const mr_key_codec_t *kc,
                          mr_key_part_t *parts, uint32_t *rows)
{
    if (fk->object ? fk->ncols != (uint32_t)kc->n : kc->n != 1)
        return false;
    for (int32_t k = 0; k < kc->n; k++) {
        const mr_column_schema_t *cs = &s->columns[kc->cols[k]];
        const keycol_t *c = scanned_column(fk, cs);
        if (c == NULL || (k > 0 && c->n != *rows))
            return false;
        *rows = c->n;
        if (c->n == 0) {
            parts[k] = (mr_key_part_t){0};
            continue;
        }
        if (cs->dtype == MURR_UTF8) {
            if (c->ints)
                return false;
            parts[k] = (mr_key_part_t){.strs = c->s};
            continue;
        }
        uint64_t max_pos, max_neg;
        int_limits(cs->dtype, &max_pos, &max_neg);
        if (!c->ints || !mr_dtype_is_int(cs->dtype) || c->neg_max > max_neg || c->pos_max > max_pos)
            return false;
        parts[k] = (mr_key_part_t){.ints = (const uint8_t *)c->v, .stride = sizeof(uint64_t)};
    }
    return true;
}

int mr_json_fetch_encode(const mr_fetch_req_t *fr, const mr_schema_t *s, mr_arena_t *a, const char ***keys,
                         size_t **lens, mr_error_t *err)
{
    const struct mr_json_keys *fk = fr->scanned;
    if (fk == NULL)
        return MURR_EAGAIN;
    mr_key_codec_t kc;
    mr_key_codec_init(&kc, s);
    uint32_t rows = 0;
    mr_key_part_t *parts = mr_arena_alloc(a, (size_t)(kc.n ? kc.n : 1) * sizeof(*parts));
    int rc = parts == NULL ? mr_err_set(err, MURR_ENOMEM, "out of memory for %d key columns", kc.n) : 0;
    if (rc == 0 && (kc.raw || !scanned_parts(fk, s, &kc, parts, &rows)))
        rc = MURR_EAGAIN;
    if (rc == 0)
        rc = mr_budget_charge_n(fr->budget, rows + 1, sizeof(char *) + sizeof(size_t), "the encoded key pointers",
                                NULL, err);
    if (rc == 0) {
        *keys = mr_arena_alloc(a, (rows + 1) * sizeof(char *));
        *lens = mr_arena_alloc(a, (rows + 1) * sizeof(size_t));
        if (*keys == NULL || *lens == NULL)
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u encoded keys", rows);
    }
    size_t bytes = 0;
    uint8_t *buf = NULL;
    if (rc == 0 && (rc = mr_key_parts_lens(&kc, parts, rows, *lens, &bytes, err)) == 0 &&
        (rc = mr_budget_charge(fr->budget, bytes, "the encoded keys", NULL, err)) == 0 &&
        (buf = mr_arena_alloc(a, bytes + 1)) == NULL)
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u encoded keys of %zu bytes", rows, bytes);
    if (rc == 0)
        mr_key_encode_parts(&kc, parts, rows, buf, *keys, *lens);
    mr_key_codec_deinit(&kc);
    return rc;
}

int mr_json_parse_string_array(mr_arena_t *a, const char *text, size_t len, const char *what, mr_budget_t *budget,
                               mr_slice_t **out, size_t *n, mr_error_t *err)
{
    jnode_t root;
    MR_RETURN_NOT_OK(parse_document(a, text, len, budget, NULL, &root, err));
    return string_list(&root, what, a, budget, out, n, err);
}
