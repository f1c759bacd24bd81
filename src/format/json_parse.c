/* json_parse.c - a strict RFC 8259 parser into an arena DOM, and the request decoders
 * built on it: the typed columns (the element rules) and columnar write bodies. Fetch
 * requests are json_fetch.c's (their key arrays scanned without DOM nodes through the
 * parser's hook for the root member "keys": decision 0018). Write bodies and the typed key
 * batch of a fetch decode their arrays with one implementation (mr_json_column_arrays,
 * mr_json_decode_column, append_elem), so a value means the same in both.
 *
 * Invariants: every byte is bounds-checked against the body; strings are unescaped into
 * the arena (\uXXXX with surrogate pairs -> UTF-8; unpaired surrogates, raw control
 * characters and invalid UTF-8 are refused); numbers are kept as text and converted per
 * target dtype (integers exactly, without a detour through double); nesting is limited to
 * MR_JSON_MAX_DEPTH; duplicate object members: the last one wins (as serde_json does for
 * maps). Errors carry the byte offset. */
#include "format/json_internal.h"
#include "core/half.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n bytes of the document tree in the parse arena, charged to the budget first; NULL with
 * j->err set (MURR_ETOOBIG, MURR_ENOMEM). */
void *mr_json_alloc(jparser_t *j, size_t n, size_t align)
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

static inline bool str_stop(unsigned char c) { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80; }

int mr_json_parse_string(jparser_t *j, jnode_t *n)
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
            uint64_t m = mr_json_str_stops(w);
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
    char *out = mr_json_alloc(j, cap, 1);
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


/* Collects children in a growable arena array: copies on growth (amortised O(1)). */
static int parse_container(jparser_t *j, jnode_t *n, bool obj)
{
    n->type = obj ? J_OBJ : J_ARR;
    n->off = (size_t)(j->p - j->start);
    if (++j->depth > MR_JSON_MAX_DEPTH)
        return jerr(j, "nesting deeper than 64 levels");
    j->p++;
    size_t cap = 8, cnt = 0; /* nodes (objects: 2 per member) */
    jnode_t *kids = mr_json_alloc(j, cap * sizeof(jnode_t), 8);
    if (kids == NULL)
        return j->err ? j->err->code : MURR_ENOMEM;
    mr_json_skip_ws(j);
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
            jnode_t *nk = mr_json_alloc(j, ncap * sizeof(jnode_t), 8);
            if (nk == NULL)
                return j->err ? j->err->code : MURR_ENOMEM;
            memcpy(nk, kids, cnt * sizeof(jnode_t));
            kids = nk;
            cap = ncap;
        }
        mr_json_skip_ws(j);
        if (obj) {
            if (j->p >= j->end || *j->p != '"')
                return jerr(j, "expected a string member name");
            MR_RETURN_NOT_OK(mr_json_parse_string(j, &kids[cnt++]));
            mr_json_skip_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return jerr(j, "expected ':'");
            j->p++;
            mr_json_skip_ws(j);
            const jnode_t *k = &kids[cnt - 1];
            if (j->fk != NULL && j->depth == 1 && k->n == 4 && memcmp(k->s, "keys", 4) == 0) {
                MR_RETURN_NOT_OK(mr_json_parse_keys_value(j, &kids[cnt++]));
                goto next;
            }
        }
        MR_RETURN_NOT_OK(mr_json_parse_value(j, &kids[cnt++]));
    next:
        mr_json_skip_ws(j);
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

int mr_json_parse_value(jparser_t *j, jnode_t *n)
{
    mr_json_skip_ws(j);
    if (j->p >= j->end)
        return jerr(j, "expected a value");
    switch (*j->p) {
    case '{': return parse_container(j, n, true);
    case '[': return parse_container(j, n, false);
    case '"': return mr_json_parse_string(j, n);
    case 't': return parse_lit(j, n, "true", J_TRUE);
    case 'f': return parse_lit(j, n, "false", J_FALSE);
    case 'n': return parse_lit(j, n, "null", J_NULL);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return parse_number(j, n);
        return jerr(j, "expected a value");
    }
}

int mr_json_parse_document(mr_arena_t *a, const char *body, size_t len, mr_budget_t *budget,
                          struct mr_json_keys *fk, jnode_t *root, mr_error_t *err)
{
    if (body == NULL) /* an empty request body has no buffer at all */
        body = "";
    jparser_t j = {.p = body, .end = body + len, .start = body, .a = a, .err = err, .budget = budget, .fk = fk};
    MR_RETURN_NOT_OK(mr_json_parse_value(&j, root));
    mr_json_skip_ws(&j);
    if (j.p != j.end)
        return jerr(&j, "trailing characters after the JSON value");
    return 0;
}

const char *mr_json_kind(const jnode_t *n)
{
    static const char *const names[] = {"null", "a boolean", "a boolean", "a number", "a string", "an array", "an object"};
    return names[n->type];
}

/* Last member named `name` (duplicates: last wins). */
const jnode_t *mr_json_member(const jnode_t *obj, const char *name)
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

void mr_json_int_limits(murr_dtype t, uint64_t *max_pos, uint64_t *max_neg)
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
                          mr_json_kind(e));
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
                            cs->name, row, i, mr_json_kind(x), x->type == J_NULL ? " (list elements cannot be null)" : "");
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
            return elem_error(err, cs->name, row, "expected string, got %s%s", mr_json_kind(e), "");
        return mr_colbuilder_append_str(cb, e->s, e->n);
    case MURR_BOOL:
        if (e->type != J_TRUE && e->type != J_FALSE)
            return elem_error(err, cs->name, row, "expected bool, got %s%s", mr_json_kind(e), "");
        return mr_colbuilder_append_bool(cb, e->type == J_TRUE);
    case MURR_FLOAT32:
    case MURR_FLOAT64: {
        if (e->type != J_NUM)
            return elem_error(err, cs->name, row, "expected number, got %s%s", mr_json_kind(e), "");
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
            return elem_error(err, cs->name, row, "expected integer, got %s%s", mr_json_kind(e), "");
        bool neg, is_float;
        uint64_t mag;
        bool ok = parse_int_token(e->s, e->n, &neg, &mag, &is_float);
        uint64_t max_pos, max_neg;
        mr_json_int_limits(cs->dtype, &max_pos, &max_neg);
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


/* "a, b" (the key columns, for messages; truncated with "..." past cap). */
const char *mr_json_key_list(const mr_schema_t *s, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < s->num_columns && o < cap; i++)
        if (mr_json_is_key_column(s, i))
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
    mr_json_int_limits(cs->dtype, &max_pos, &max_neg);
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
int mr_json_decode_column(const jnode_t *arr, const mr_column_schema_t *cs, bool key, mr_batch_t *b, int32_t col,
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
int mr_json_column_arrays(const jnode_t *obj, const mr_schema_t *s, bool keys_only, const jnode_t **arrs,
                         uint32_t *rows, mr_error_t *err)
{
    const char *noun = keys_only ? "key column" : "column";
    char kl[256];
    int32_t first = -1;
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *cs = &s->columns[i];
        arrs[i] = NULL;
        if (keys_only && !mr_json_is_key_column(s, i))
            continue;
        const jnode_t *v = mr_json_member(obj, cs->name);
        if (v == NULL && keys_only)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing key column '%s' in keys (key columns: %s)",
                              cs->name, mr_json_key_list(s, kl, sizeof(kl)));
        if (v == NULL)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing column '%s' in write payload", cs->name);
        if (v->type != J_ARR)
            return mr_err_set(err, keys_only ? MURR_EINVAL : MURR_ESHAPE,
                              "Table error: invalid JSON: %s.%s: expected an array, got %s",
                              keys_only ? "keys" : "columns", cs->name, mr_json_kind(v));
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
uint64_t mr_json_column_bytes(const jnode_t *arr, const mr_column_schema_t *cs, uint32_t rows)
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
    int rc = mr_json_parse_document(&a, body, len, budget, NULL, &root, err);
    if (rc != 0) {
        mr_err_prefix(err, "Table error: invalid JSON: ");
        goto out;
    }
    const jnode_t *cols = root.type == J_OBJ ? mr_json_member(&root, "columns") : NULL;
    if (root.type != J_OBJ || cols == NULL || cols->type != J_OBJ) {
        rc = mr_err_set(err, MURR_ESHAPE, "Table error: invalid JSON: expected {\"columns\": {\"<column>\": [values...]}}, "
                        "got %s", root.type != J_OBJ ? mr_json_kind(&root) : cols == NULL ? "no `columns` member" : mr_json_kind(cols));
        goto out;
    }
    const jnode_t **arrs = mr_arena_alloc(&a, (size_t)schema->num_columns * sizeof(jnode_t *));
    uint32_t rows = 0;
    if (arrs == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = mr_json_column_arrays(cols, schema, false, arrs, &rows, err)) != 0)
        goto out;
    for (int32_t i = 0; i < schema->num_columns; i++)
        if ((rc = mr_budget_charge(budget, mr_json_column_bytes(arrs[i], &schema->columns[i], rows), "the rows of the column",
                                   schema->columns[i].name, err)) != 0)
            goto out;
    mr_batch_t *b = mr_batch_new(schema->num_columns, rows);
    if (b == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u rows", rows);
        goto out;
    }
    for (int32_t i = 0; i < schema->num_columns && rc == 0; i++)
        rc = mr_json_decode_column(arrs[i], &schema->columns[i], mr_json_is_key_column(schema, i), b, i, err);
    if (rc != 0)
        mr_batch_free(b);
    else
        *out = b;
out:
    mr_arena_deinit(&a);
    return rc;
}

