/* json_fetch.c - fetch requests and Flight tickets (json.h): both key forms, their key arrays
 * scanned without DOM nodes and encoded straight into the engine's encoded keys, or, for a
 * request that path declines, the typed key batch built against a table schema with the
 * element rules of write bodies (json_parse.c); the "columns" array of an Arrow fetch
 * request's metadata. Decision 0018. Workload: thousands of keys and a handful of other
 * values per request. */
#include "format/json_internal.h"
#include "core/alloc.h"
#include "core/key.h"

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
    void *n = mr_json_alloc(j, ncap * size, 8);
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
    mr_json_skip_ws(j);
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
            if (j->end - j->p > 8 && (memcpy(&w, j->p + 1, 8), m = mr_json_str_stops(w)) != 0 &&
                j->p[1 + (l = (size_t)__builtin_ctzll(m) >> 3)] == '"') {
                kc->s[cnt++] = mr_slice(j->p + 1, l);
                j->p += l + 2;
            } else {
                jnode_t t;
                int rc = mr_json_parse_string(j, &t);
                if (rc != 0)
                    return rc == MURR_ESYNTAX ? SCAN_DECLINE : rc;
                kc->s[cnt++] = mr_slice(t.s, t.n);
            }
        }
        mr_json_skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            mr_json_skip_ws(j);
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
    mr_json_skip_ws(j);
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
        int rc = mr_json_parse_string(j, &name);
        if (rc != 0)
            return rc == MURR_ESYNTAX ? SCAN_DECLINE : rc;
        mr_json_skip_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return SCAN_DECLINE;
        j->p++;
        mr_json_skip_ws(j);
        if (j->p >= j->end || *j->p != '[')
            return SCAN_DECLINE;
        keycol_t *kc = &fk->cols[fk->ncols++];
        if ((rc = scan_key_array(j, kc)) != 0)
            return rc;
        kc->name = mr_slice(name.s, name.n);
        mr_json_skip_ws(j);
        if (j->p < j->end && *j->p == ',' && fk->ncols < UINT32_MAX) {
            j->p++;
            mr_json_skip_ws(j);
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
int mr_json_parse_keys_value(jparser_t *j, jnode_t *n)
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
        return mr_json_parse_value(j, n);
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
            return mr_err_set(err, MURR_ESHAPE, "%s[%u]: expected a string, got %s", name, i, mr_json_kind(e));
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
        return mr_err_set(err, MURR_ESHAPE, "%s: expected an array of strings, got %s", name, mr_json_kind(v));
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
        return mr_err_set(err, MURR_ESHAPE, "keys[0]: expected a string or an integer, got %s", mr_json_kind(&v->kids[0]));
    for (uint32_t i = 1; i < v->n; i++)
        if (v->kids[i].type != J_NUM)
            return mr_err_set(err, MURR_ESHAPE, "keys[%u]: expected a number like keys[0], got %s", i,
                              mr_json_kind(&v->kids[i]));
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
                              (int)(k->n > 200 ? 200 : k->n), k->s, mr_json_kind(arr));
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
    MR_RETURN_NOT_OK(mr_json_parse_document(a, body, len, budget, fk, &root, err));
    if (root.type != J_OBJ)
        return mr_err_set(err, MURR_ESHAPE, "expected an object with `keys` and `columns`, got %s", mr_json_kind(&root));
    if (want_table) {
        const jnode_t *t = mr_json_member(&root, "table");
        if (t == NULL)
            return mr_err_set(err, MURR_ESHAPE, "missing field `table`");
        if (t->type != J_STR)
            return mr_err_set(err, MURR_ESHAPE, "table: expected a string, got %s", mr_json_kind(t));
        out->table = mr_slice(t->s, t->n);
    }
    const jnode_t *keys = mr_json_member(&root, "keys");
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
                          mr_json_kind(keys));
    out->keys_json = keys;
    out->scanned = fk->ok ? fk : NULL;
    return string_list(mr_json_member(&root, "columns"), "columns", a, budget, &out->columns, &out->ncolumns, err);
}

/* The one key column of the table, from the 0.2 array of keys. */
/* Charges key column cs of `rows` rows (decoded from arr) before it is allocated. */
static int charge_key_column(mr_budget_t *budget, const jnode_t *arr, const mr_column_schema_t *cs, uint32_t rows,
                             mr_error_t *err)
{
    return mr_budget_charge(budget, mr_json_column_bytes(arr, cs, rows), "the key column", cs->name, err);
}

static int fetch_keys_array(const jnode_t *keys, const mr_schema_t *s, mr_budget_t *budget, mr_batch_t **out,
                            mr_error_t *err)
{
    char kl[256];
    int32_t nk = s->num_keys;
    if (nk != 1)
        return mr_err_set(err, MURR_EINVAL, "Table error: the key of this table has %d columns (%s): send keys as an "
                          "object with one array per key column, {\"keys\": {\"<column>\": [...], ...}}",
                          nk, mr_json_key_list(s, kl, sizeof(kl)));
    const mr_column_schema_t *cs = &s->columns[s->key_index];
    for (uint32_t i = 0; cs->dtype == MURR_UTF8 && i < keys->n; i++)
        if (keys->kids[i].type != J_STR)
            return mr_err_set(err, MURR_ESHAPE, "keys[%u]: expected a string, got %s", i, mr_json_kind(&keys->kids[i]));
    MR_RETURN_NOT_OK(charge_key_column(budget, keys, cs, keys->n, err));
    mr_batch_t *b = mr_batch_new(1, keys->n);
    if (b == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %u keys", keys->n);
    int rc = mr_json_decode_column(keys, cs, true, b, 0, err);
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
        if (c < 0 || !mr_json_is_key_column(s, c))
            return mr_err_set(err, MURR_EINVAL, "Table error: keys has a member '%.*s', which is not a key column of "
                              "the table (key columns: %s)", (int)(k->n > 200 ? 200 : k->n), k->s,
                              mr_json_key_list(s, kl, sizeof(kl)));
    }
    const jnode_t **arrs = mr_calloc((size_t)s->num_columns, sizeof(*arrs));
    if (arrs == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    uint32_t rows = 0;
    mr_batch_t *b = NULL;
    int rc = mr_json_column_arrays(keys, s, true, arrs, &rows, err);
    if (rc == 0 && (b = mr_batch_new(s->num_keys, rows)) == NULL)
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u keys", rows);
    for (int32_t i = 0, col = 0; rc == 0 && i < s->num_columns; i++)
        if (arrs[i] != NULL && (rc = charge_key_column(budget, arrs[i], &s->columns[i], rows, err)) == 0)
            rc = mr_json_decode_column(arrs[i], &s->columns[i], true, b, col++, err);
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
    jnode_t *n = mr_json_alloc(&j, sizeof(jnode_t), 8);
    if (n == NULL || mr_json_parse_value(&j, n) != 0)
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
        mr_json_int_limits(cs->dtype, &max_pos, &max_neg);
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
    MR_RETURN_NOT_OK(mr_json_parse_document(a, text, len, budget, NULL, &root, err));
    return string_list(&root, what, a, budget, out, n, err);
}
