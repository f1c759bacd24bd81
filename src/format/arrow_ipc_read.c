/* arrow_ipc_read.c - incremental Arrow IPC stream reader into mr_batch_t.
 *
 * Input is untrusted: every message length, flatbuffer offset, buffer range, node count and
 * value offset is checked before use; errors name the stream offset and the field. Bodies
 * are copied once into the batch's arena (the input buffer may move as more bytes arrive),
 * then columns are decoded: fixed-width and bool buffers are used in place when the array
 * needs no rebasing; LargeUtf8 offsets are narrowed to int32; Utf8View and dictionary
 * encoded strings are materialised as plain utf8; LZ4_FRAME / ZSTD bodies are decompressed
 * per buffer. Field numbers follow Arrow's Schema.fbs / Message.fbs. */
#include "format/arrow_ipc.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/utf8.h"
#include "format/arrow_ipc_internal.h"
#include "format/flatbuf.h"

#include <lz4frame.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

enum { HDR_SCHEMA = 1, HDR_DICT = 2, HDR_RECORD_BATCH = 3 };
enum {
    T_NULL = 1, T_INT = 2, T_FLOAT = 3, T_BINARY = 4, T_UTF8 = 5, T_BOOL = 6, T_DECIMAL = 7, T_DATE = 8, T_TIME = 9,
    T_TIMESTAMP = 10, T_INTERVAL = 11, T_LIST = 12, T_STRUCT = 13, T_UNION = 14, T_FSB = 15, T_FSL = 16, T_MAP = 17,
    T_DURATION = 18, T_LARGE_BINARY = 19, T_LARGE_UTF8 = 20, T_LARGE_LIST = 21, T_REE = 22, T_BINARY_VIEW = 23,
    T_UTF8_VIEW = 24, T_LIST_VIEW = 25, T_LARGE_LIST_VIEW = 26
};

static const char *type_name(uint8_t t)
{
    static const char *const n[] = {"NONE",       "Null",         "Int",           "FloatingPoint", "Binary",
                                    "Utf8",       "Bool",         "Decimal",       "Date",          "Time",
                                    "Timestamp",  "Interval",     "List",          "Struct",        "Union",
                                    "FixedSizeBinary", "FixedSizeList", "Map",     "Duration",      "LargeBinary",
                                    "LargeUtf8",  "LargeList",    "RunEndEncoded", "BinaryView",    "Utf8View",
                                    "ListView",   "LargeListView"};
    return t < sizeof(n) / sizeof(n[0]) ? n[t] : "unknown";
}

typedef enum { K_FIXED, K_BOOL, K_UTF8, K_LARGE_UTF8, K_UTF8_VIEW, K_LIST } kind_t;

typedef struct field_info {
    kind_t kind;          /* physical layout of the data as sent */
    murr_dtype dtype;     /* what it decodes into */
    bool dict;            /* values are indices into dictionary `dict_id` */
    int64_t dict_id;
    int index_width;      /* dictionary index bytes */
    bool index_signed;
    kind_t dict_kind;     /* layout of the dictionary values */
    mr_ipc_list_kind_t list_kind; /* K_LIST: List, LargeList or FixedSizeList */
    int32_t dim;          /* K_LIST: fixed size, or 0 */
} field_info_t;

/* what a batch costs before its buffers: the first arena chunk (core/batch.c) */
#define BATCH_OVERHEAD 4096u

typedef struct dict {
    int64_t id;
    int64_t n;
    int32_t *offsets;     /* n + 1, owned (mr_malloc) */
    uint8_t *data;
    int64_t data_len;
} dict_t;

struct mr_ipc_reader {
    uint64_t max_message;
    mr_buf_t in;
    size_t pos;           /* consumed bytes of `in` */
    uint64_t consumed;    /* total stream offset of in[0] */
    bool have_schema, eos;
    bool borrowed;        /* `in` points at the caller's buffer: batches point into it */
    mr_arena_t schema_arena;
    mr_ipc_schema_t schema;
    field_info_t *finfo;
    dict_t *dicts;
    size_t ndicts;
    mr_budget_t budget;   /* every byte decoded from this stream */
};

mr_ipc_reader_t *mr_ipc_reader_new(uint64_t max_message, uint64_t payload_limit, const char *limit_source)
{
    mr_ipc_reader_t *r = mr_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->max_message = max_message;
    mr_budget_init(&r->budget, payload_limit, limit_source);
    mr_buf_init(&r->in);
    mr_arena_init(&r->schema_arena, 1024);
    return r;
}

void mr_ipc_reader_free(mr_ipc_reader_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->ndicts; i++) {
        mr_free(r->dicts[i].offsets);
        mr_free(r->dicts[i].data);
    }
    mr_free(r->dicts);
    mr_free(r->finfo);
    mr_arena_deinit(&r->schema_arena);
    if (!r->borrowed)
        mr_buf_deinit(&r->in);
    mr_free(r);
}

int mr_ipc_reader_borrow(mr_ipc_reader_t *r, const uint8_t *data, size_t len, mr_error_t *err)
{
    if (r->in.len != 0 || r->borrowed)
        return mr_err_set(err, MURR_EINTERNAL, "mr_ipc_reader_borrow on a reader that already has input");
    r->in.data = (uint8_t *)data; /* never written through */
    r->in.len = len;
    r->in.cap = len;
    r->borrowed = true;
    return 0;
}

int mr_ipc_reader_feed(mr_ipc_reader_t *r, const uint8_t *data, size_t len, mr_error_t *err)
{
    if (r->borrowed)
        return mr_err_set(err, MURR_EINTERNAL, "mr_ipc_reader_feed after mr_ipc_reader_borrow");
    if (r->pos > 0 && r->pos >= r->in.len / 2) { /* compact consumed bytes */
        memmove(r->in.data, r->in.data + r->pos, r->in.len - r->pos);
        r->in.len -= r->pos;
        r->consumed += r->pos;
        r->pos = 0;
    }
    if (mr_buf_append(&r->in, data, len) != 0)
        return mr_err_set(err, MURR_ENOMEM, "out of memory buffering %zu bytes of Arrow IPC input", len);
    return 0;
}

const mr_ipc_schema_t *mr_ipc_reader_schema(const mr_ipc_reader_t *r) { return r->have_schema ? &r->schema : NULL; }

mr_budget_t *mr_ipc_reader_budget(mr_ipc_reader_t *r) { return &r->budget; }

/* ---------------------------------------------------------------- schema --------- */

static int parse_int_type(const fb_table_t *tt, int *width, bool *is_signed, const char *fname, mr_error_t *err)
{
    int32_t bw = fb_i32(tt, 0, 0);
    *is_signed = fb_u8(tt, 1, 0) != 0;
    if (bw != 8 && bw != 16 && bw != 32 && bw != 64)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': invalid Int bitWidth %d", fname, bw);
    *width = bw / 8;
    return 0;
}

static murr_dtype int_dtype(int width, bool is_signed)
{
    static const murr_dtype s[] = {MURR_INT8, MURR_INT16, MURR_INT32, MURR_INT64};
    static const murr_dtype u[] = {MURR_UINT8, MURR_UINT16, MURR_UINT32, MURR_UINT64};
    int k = width == 1 ? 0 : width == 2 ? 1 : width == 4 ? 2 : 3;
    return is_signed ? s[k] : u[k];
}

static int parse_field(mr_ipc_reader_t *r, const fb_table_t *ft, size_t i, mr_error_t *err)
{
    mr_ipc_field_t *f = &r->schema.fields[i];
    field_info_t *fi = &r->finfo[i];
    const char *name = "";
    size_t nl = 0;
    fb_string(ft, 0, &name, &nl);
    f->name = mr_arena_strndup(&r->schema_arena, name, nl);
    f->name_len = nl;
    f->nullable = fb_u8(ft, 1, 0) != 0;
    uint8_t tt = fb_u8(ft, 2, 0);
    fb_table_t type;
    bool has_type = fb_table_field(ft, 3, &type);
    const char *fname = f->name;
    char tn[64];
    snprintf(tn, sizeof(tn), "%s", type_name(tt));
    kind_t kind = K_FIXED;
    murr_dtype dt = MURR_UTF8;
    switch (tt) {
    case T_INT: {
        int w = 0;
        bool sg = false;
        if (!has_type)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': Int type without its table", fname);
        MR_RETURN_NOT_OK(parse_int_type(&type, &w, &sg, fname, err));
        dt = int_dtype(w, sg);
        snprintf(tn, sizeof(tn), "%s%d", sg ? "Int" : "UInt", w * 8);
        break;
    }
    case T_FLOAT: {
        int16_t prec = has_type ? fb_i16(&type, 0, 0) : 0;
        if (prec == 1)
            dt = MURR_FLOAT32;
        else if (prec == 2)
            dt = MURR_FLOAT64;
        else
            return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': unsupported Arrow type %s", fname,
                              prec == 0 ? "Float16" : "FloatingPoint(?)");
        snprintf(tn, sizeof(tn), "%s", prec == 1 ? "Float32" : "Float64");
        break;
    }
    case T_BOOL: kind = K_BOOL; dt = MURR_BOOL; break;
    case T_UTF8: kind = K_UTF8; break;
    case T_LARGE_UTF8: kind = K_LARGE_UTF8; break;
    case T_UTF8_VIEW: kind = K_UTF8_VIEW; break;
    case T_LIST: case T_FSL: case T_LARGE_LIST:
        MR_RETURN_NOT_OK(mr_ipc_list_field(ft, tt, &type, has_type, fname, &fi->list_kind, &dt, &fi->dim, tn, sizeof(tn),
                                           err));
        kind = K_LIST;
        break;
    default:
        return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': unsupported Arrow type %s", fname, type_name(tt));
    }
    fb_table_t dict;
    if (fb_table_field(ft, 4, &dict)) {
        if (kind != K_UTF8 && kind != K_LARGE_UTF8 && kind != K_UTF8_VIEW)
            return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': dictionary-encoded %s is not supported (only strings)",
                              fname, tn);
        fi->dict = true;
        fi->dict_id = fb_i64(&dict, 0, 0);
        fi->dict_kind = kind;
        fb_table_t it;
        if (fb_table_field(&dict, 1, &it)) {
            MR_RETURN_NOT_OK(parse_int_type(&it, &fi->index_width, &fi->index_signed, fname, err));
        } else {
            fi->index_width = 4;
            fi->index_signed = true;
        }
        kind = K_FIXED;
        snprintf(tn, sizeof(tn), "Dictionary<Int%d, %s>", fi->index_width * 8, type_name(tt));
    }
    size_t nchildren, cpos;
    if (kind != K_LIST && fb_vector(ft, 5, 4, &nchildren, &cpos) && nchildren > 0)
        return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': nested types are not supported", fname);
    fi->kind = kind;
    fi->dtype = dt;
    f->dtype = dt;
    f->dim = fi->dim;
    r->schema.type_names[i] = mr_arena_strndup(&r->schema_arena, tn, strlen(tn));
    return 0;
}

static int parse_schema(mr_ipc_reader_t *r, const fb_table_t *st, uint64_t off, mr_error_t *err)
{
    if (r->have_schema)
        return mr_err_set(err, MURR_ECORRUPT, "second schema message at offset %llu", (unsigned long long)off);
    size_t n = 0, pos = 0;
    fb_vector(st, 1, 4, &n, &pos);
    if (n > 100000)
        return mr_err_set(err, MURR_ETOOBIG, "schema has %zu fields (limit 100000)", n);
    r->schema.nfields = n;
    r->schema.fields = mr_arena_calloc(&r->schema_arena, sizeof(mr_ipc_field_t) * (n ? n : 1));
    r->schema.type_names = mr_arena_calloc(&r->schema_arena, sizeof(char *) * (n ? n : 1));
    mr_free(r->finfo); /* a schema message that failed earlier may have left one */
    r->finfo = mr_calloc(n ? n : 1, sizeof(field_info_t));
    if (!r->schema.fields || !r->schema.type_names || !r->finfo)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %zu fields", n);
    for (size_t i = 0; i < n; i++) {
        fb_table_t ft;
        if (!fb_vector_table(st->ctx, pos, i, &ft))
            return mr_err_set(err, MURR_ECORRUPT, "schema field %zu is malformed (message at offset %llu)", i,
                              (unsigned long long)off);
        MR_RETURN_NOT_OK(parse_field(r, &ft, i, err));
    }
    size_t nm = 0, mpos = 0;
    if (fb_vector(st, 2, 4, &nm, &mpos)) {
        r->schema.meta = mr_arena_calloc(&r->schema_arena, sizeof(mr_ipc_kv_t) * (nm ? nm : 1));
        for (size_t i = 0; i < nm && r->schema.meta; i++) {
            fb_table_t kv;
            const char *k = "", *v = "";
            size_t kl = 0, vl = 0;
            if (!fb_vector_table(st->ctx, mpos, i, &kv))
                return mr_err_set(err, MURR_ECORRUPT, "schema metadata entry %zu is malformed", i);
            fb_string(&kv, 0, &k, &kl);
            fb_string(&kv, 1, &v, &vl);
            r->schema.meta[i].key = mr_arena_strndup(&r->schema_arena, k, kl);
            r->schema.meta[i].value = mr_arena_strndup(&r->schema_arena, v, vl);
        }
        r->schema.nmeta = nm;
    }
    if (st->ctx->bad)
        return mr_err_set(err, MURR_ECORRUPT, "malformed schema message at offset %llu", (unsigned long long)off);
    r->have_schema = true;
    return 0;
}

/* ------------------------------------------------------------ record batch ------- */


void *mr_ipc_rb_alloc(rb_ctx_t *c, uint64_t n, const char *what, const char *fname, mr_error_t *err)
{
    if (mr_budget_charge(c->budget, n, what, fname, err) != 0)
        return NULL;
    void *p = mr_batch_alloc(c->out, (size_t)n);
    if (p == NULL)
        mr_err_set(err, MURR_ENOMEM, "field '%s': cannot allocate %llu bytes for %s", fname ? fname : "?",
                   (unsigned long long)n, what);
    return p;
}

static int64_t rd64(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Next buffer of the body: range-checked and decompressed if needed. */
static int next_buffer(rb_ctx_t *c, const char *fname, const uint8_t **data, int64_t *len, mr_error_t *err)
{
    if (c->buf_i >= c->nbufs)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': record batch at offset %llu has too few buffers (%zu)", fname,
                          (unsigned long long)c->msg_off, c->nbufs);
    int64_t off = rd64(c->bufs + 16 * c->buf_i), l = rd64(c->bufs + 16 * c->buf_i + 8);
    c->buf_i++;
    if (off < 0 || l < 0 || off > c->body_len || l > c->body_len - off)
        return mr_err_set(err, MURR_ECORRUPT,
                          "field '%s': buffer [%lld, +%lld) is outside the body of %lld bytes (message at offset %llu)",
                          fname, (long long)off, (long long)l, (long long)c->body_len, (unsigned long long)c->msg_off);
    const uint8_t *p = c->body + off;
    if (c->codec < 0 || l == 0) {
        *data = p;
        *len = l;
        return 0;
    }
    if (l < 8)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': compressed buffer of %lld bytes lacks its length prefix", fname,
                          (long long)l);
    int64_t ulen = rd64(p);
    if (ulen == -1) {
        *data = p + 8;
        *len = l - 8;
        return 0;
    }
    if (ulen < 0)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': invalid uncompressed length %lld", fname, (long long)ulen);
    uint8_t *dst = mr_ipc_rb_alloc(c, (uint64_t)ulen, c->codec == 1 ? "a ZSTD buffer" : "an LZ4 buffer", fname, err);
    if (dst == NULL)
        return err ? err->code : MURR_ENOMEM;
    if (c->codec == 1) {
        size_t got = ZSTD_decompress(dst, (size_t)ulen, p + 8, (size_t)(l - 8));
        if (ZSTD_isError(got) || got != (size_t)ulen)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': ZSTD buffer does not decompress to %lld bytes: %s", fname,
                              (long long)ulen, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "length mismatch");
    } else {
        LZ4F_dctx *d;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
            return mr_err_set(err, MURR_ENOMEM, "cannot create an LZ4 context");
        size_t out_sz = (size_t)ulen, in_sz = (size_t)(l - 8);
        size_t rc = LZ4F_decompress(d, dst, &out_sz, p + 8, &in_sz, NULL);
        LZ4F_freeDecompressionContext(d);
        if (LZ4F_isError(rc) || out_sz != (size_t)ulen)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': LZ4 frame does not decompress to %lld bytes: %s", fname,
                              (long long)ulen, LZ4F_isError(rc) ? LZ4F_getErrorName(rc) : "length mismatch");
    }
    *data = dst;
    *len = ulen;
    return 0;
}

int mr_ipc_rb_buffer(rb_ctx_t *c, const char *fname, const uint8_t **data, int64_t *len, mr_error_t *err)
{
    return next_buffer(c, fname, data, len, err);
}

int mr_ipc_rb_node(rb_ctx_t *c, const char *fname, int64_t *length, int64_t *null_count, mr_error_t *err)
{
    if (c->node_i >= c->nnodes)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': record batch at offset %llu has too few field nodes (%zu)",
                          fname, (unsigned long long)c->msg_off, c->nnodes);
    *length = rd64(c->nodes + 16 * c->node_i);
    *null_count = rd64(c->nodes + 16 * c->node_i + 8);
    c->node_i++;
    return 0;
}

/* Makes a pointer usable for `align`-aligned access: copy into the batch if needed. */
static const uint8_t *aligned(rb_ctx_t *c, const uint8_t *p, int64_t len, size_t align, const char *fname,
                              mr_error_t *err)
{
    if (((uintptr_t)p & (align - 1)) == 0)
        return p;
    uint8_t *d = mr_ipc_rb_alloc(c, (uint64_t)len, "an aligned copy of values", fname, err);
    if (d)
        memcpy(d, p, (size_t)len);
    return d;
}

static int decode_validity(rb_ctx_t *c, const char *fname, int64_t rows, int64_t null_count, mr_column_t *col,
                           mr_error_t *err)
{
    const uint8_t *p;
    int64_t l;
    MR_RETURN_NOT_OK(next_buffer(c, fname, &p, &l, err));
    if (null_count == 0) {
        col->validity = NULL;
        col->null_count = 0;
        return 0;
    }
    if (null_count < 0 || null_count > rows)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': null_count %lld for %lld rows", fname, (long long)null_count,
                          (long long)rows);
    if (l < (int64_t)mr_bitmap_bytes(rows))
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': validity buffer has %lld bytes, %zu needed for %lld rows", fname,
                          (long long)l, mr_bitmap_bytes(rows), (long long)rows);
    /* copy so trailing bits are clean and the count can be checked */
    uint8_t *v = mr_ipc_rb_alloc(c, mr_bitmap_bytes(rows), "a validity bitmap", fname, err);
    if (v == NULL)
        return err->code;
    mr_bitmap_copy(v, p, 0, rows);
    col->validity = v;
    col->null_count = rows - mr_bitmap_count(v, 0, rows);
    if (col->null_count != null_count)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': null_count %lld but the validity bitmap has %lld nulls", fname,
                          (long long)null_count, (long long)col->null_count);
    return 0;
}

/* Decodes a string array (Utf8 / LargeUtf8 / Utf8View buffers after validity) into
 * int32 offsets + data. */
static int decode_strings(rb_ctx_t *c, const char *fname, kind_t kind, int64_t rows, const mr_column_t *validity_src,
                          int32_t **offs_out, uint8_t **data_out, int64_t *data_len, mr_error_t *err)
{
    const uint8_t *ob, *db;
    int64_t ol, dl;
    if (kind == K_UTF8 || kind == K_LARGE_UTF8) {
        MR_RETURN_NOT_OK(next_buffer(c, fname, &ob, &ol, err));
        MR_RETURN_NOT_OK(next_buffer(c, fname, &db, &dl, err));
        size_t w = kind == K_UTF8 ? 4 : 8;
        if (rows > 0 && ol < (rows + 1) * (int64_t)w)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': offsets buffer has %lld bytes, %lld needed", fname,
                              (long long)ol, (long long)((rows + 1) * (int64_t)w));
        int32_t *o = mr_ipc_rb_alloc(c, (uint64_t)(rows + 1) * 4, "string offsets", fname, err);
        if (o == NULL)
            return err->code;
        int64_t base = 0, prev = 0;
        for (int64_t i = 0; i <= rows; i++) {
            int64_t v;
            if (rows == 0 && ol == 0) {
                v = 0;
            } else if (w == 4) {
                int32_t v32;
                memcpy(&v32, ob + 4 * i, 4);
                v = v32;
            } else {
                memcpy(&v, ob + 8 * i, 8);
            }
            if (i == 0)
                base = prev = v;
            if (v < prev || v < 0 || v > dl)
                return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: offset %lld is %s", fname, (long long)i,
                                  (long long)v, v < prev ? "less than the previous one" : "outside the data buffer");
            if (v - base > INT32_MAX)
                return mr_err_set(err, MURR_ETOOBIG, "field '%s': more than 2 GiB of strings in one batch", fname);
            o[i] = (int32_t)(v - base);
            prev = v;
        }
        *offs_out = o;
        *data_out = (uint8_t *)db + base;
        *data_len = prev - base;
        return 0;
    }
    /* Utf8View: views buffer then variadic data buffers */
    const uint8_t *vb;
    int64_t vl;
    MR_RETURN_NOT_OK(next_buffer(c, fname, &vb, &vl, err));
    if (vl < rows * 16)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': views buffer has %lld bytes, %lld needed", fname, (long long)vl,
                          (long long)(rows * 16));
    int64_t nvar = 0;
    if (c->variadic_i < c->nvariadic)
        nvar = rd64(c->variadic + 8 * c->variadic_i++);
    if (nvar < 0 || (size_t)nvar > c->nbufs)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': invalid variadic buffer count %lld", fname, (long long)nvar);
    const uint8_t **vp = mr_ipc_rb_alloc(c, sizeof(uint8_t *) * (uint64_t)(nvar ? nvar : 1), "view buffers", fname, err);
    int64_t *vlen = vp ? mr_ipc_rb_alloc(c, sizeof(int64_t) * (uint64_t)(nvar ? nvar : 1), "view buffers", fname, err) : NULL;
    if (!vp || !vlen)
        return err->code;
    for (int64_t k = 0; k < nvar; k++)
        MR_RETURN_NOT_OK(next_buffer(c, fname, &vp[k], &vlen[k], err));
    int64_t total = 0;
    for (int64_t i = 0; i < rows; i++) {
        int32_t len;
        memcpy(&len, vb + 16 * i, 4);
        if (len < 0)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: negative view length", fname, (long long)i);
        if (validity_src && !murr_column_is_valid(validity_src, i))
            continue;
        if (len > 12) {
            int32_t bi, bo;
            memcpy(&bi, vb + 16 * i + 8, 4);
            memcpy(&bo, vb + 16 * i + 12, 4);
            if (bi < 0 || bi >= nvar || bo < 0 || (int64_t)bo + len > vlen[bi])
                return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: view points outside data buffer %d", fname,
                                  (long long)i, bi);
        }
        total += len;
        /* views may share bytes: materialising them can amplify, so bound the result (early:
         * the loop stops as soon as the budget cannot hold it) */
        if (total > INT32_MAX)
            return mr_err_set(err, MURR_ETOOBIG, "field '%s': more than 2 GiB of strings in one batch", fname);
        if ((uint64_t)total > mr_budget_room(c->budget))
            return mr_budget_refuse(c->budget, (uint64_t)total, "materialising Utf8View strings", fname, err);
    }
    int32_t *o = mr_ipc_rb_alloc(c, (uint64_t)(rows + 1) * 4, "string offsets", fname, err);
    uint8_t *d = o ? mr_ipc_rb_alloc(c, (uint64_t)total, "materialising Utf8View strings", fname, err) : NULL;
    if (!o || !d)
        return err->code;
    int64_t pos = 0;
    o[0] = 0;
    for (int64_t i = 0; i < rows; i++) {
        int32_t len;
        memcpy(&len, vb + 16 * i, 4);
        if (!(validity_src && !murr_column_is_valid(validity_src, i))) {
            if (len <= 12) {
                memcpy(d + pos, vb + 16 * i + 4, (size_t)len);
            } else {
                int32_t bi, bo;
                memcpy(&bi, vb + 16 * i + 8, 4);
                memcpy(&bo, vb + 16 * i + 12, 4);
                if (bi < 0 || bi >= nvar || bo < 0 || (int64_t)bo + len > vlen[bi])
                    return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: view points outside data buffer %d", fname,
                                      (long long)i, bi);
                memcpy(d + pos, vp[bi] + bo, (size_t)len);
            }
            pos += len;
        }
        o[i + 1] = (int32_t)pos;
    }
    *offs_out = o;
    *data_out = d;
    *data_len = pos;
    return 0;
}

static int decode_column(rb_ctx_t *c, const mr_ipc_field_t *f, const field_info_t *fi, dict_t *dicts, size_t ndicts,
                         int64_t rows, mr_column_t *col, mr_error_t *err)
{
    const char *fname = f->name;
    if (c->node_i >= c->nnodes)
        return mr_err_set(err, MURR_ECORRUPT, "record batch at offset %llu has %zu field nodes, fewer than the schema's fields",
                          (unsigned long long)c->msg_off, c->nnodes);
    int64_t nlen = rd64(c->nodes + 16 * c->node_i), nnull = rd64(c->nodes + 16 * c->node_i + 8);
    c->node_i++;
    if (nlen != rows)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': node length %lld differs from the batch length %lld", fname,
                          (long long)nlen, (long long)rows);
    MR_RETURN_NOT_OK(decode_validity(c, fname, rows, nnull, col, err));
    col->dtype = fi->dtype;
    if (fi->kind == K_LIST)
        return mr_ipc_list_decode(c, fname, fi->list_kind, fi->dtype, fi->dim, rows, col, err);
    if (fi->dict) {
        const uint8_t *ib;
        int64_t il;
        MR_RETURN_NOT_OK(next_buffer(c, fname, &ib, &il, err));
        if (il < rows * fi->index_width)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': index buffer has %lld bytes, %lld needed", fname,
                              (long long)il, (long long)(rows * fi->index_width));
        dict_t *d = NULL;
        for (size_t k = 0; k < ndicts; k++)
            if (dicts[k].id == fi->dict_id)
                d = &dicts[k];
        if (d == NULL)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': dictionary id %lld was never sent", fname,
                              (long long)fi->dict_id);
        int64_t total = 0;
        for (int pass = 0; pass < 2; pass++) {
            int32_t *o = NULL;
            uint8_t *data = NULL;
            if (pass == 1) {
                o = mr_ipc_rb_alloc(c, (uint64_t)(rows + 1) * 4, "string offsets", fname, err);
                data = o ? mr_ipc_rb_alloc(c, (uint64_t)total, "dictionary expansion", fname, err) : NULL;
                if (!o || !data)
                    return err->code;
                o[0] = 0;
            }
            int64_t pos = 0;
            for (int64_t i = 0; i < rows; i++) {
                if (murr_column_is_valid(col, i)) {
                    int64_t idx = 0;
                    const uint8_t *p = ib + (size_t)i * (size_t)fi->index_width;
                    switch (fi->index_width) {
                    case 1: idx = fi->index_signed ? (int8_t)*p : *p; break;
                    case 2: { int16_t v; memcpy(&v, p, 2); idx = fi->index_signed ? (int64_t)v : (int64_t)(uint16_t)v; break; }
                    case 4: { int32_t v; memcpy(&v, p, 4); idx = fi->index_signed ? (int64_t)v : (int64_t)(uint32_t)v; break; }
                    default: memcpy(&idx, p, 8); break;
                    }
                    if (idx < 0 || idx >= d->n)
                        return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: dictionary index %lld out of range "
                                          "[0, %lld)", fname, (long long)i, (long long)idx, (long long)d->n);
                    int64_t l = d->offsets[idx + 1] - d->offsets[idx];
                    if (pass == 1)
                        memcpy(data + pos, d->data + d->offsets[idx], (size_t)l);
                    pos += l;
                    if (pos > INT32_MAX)
                        return mr_err_set(err, MURR_ETOOBIG, "field '%s': more than 2 GiB of dictionary strings in one "
                                          "batch", fname);
                    if (pass == 0 && (uint64_t)pos > mr_budget_room(c->budget)) /* stop at once */
                        return mr_budget_refuse(c->budget, (uint64_t)pos, "dictionary expansion", fname, err);
                }
                if (pass == 1)
                    o[i + 1] = (int32_t)pos;
            }
            total = pos;
            if (pass == 1) {
                col->values = o;
                col->data = data;
                col->data_len = pos;
            }
        }
        return 0;
    }
    switch (fi->kind) {
    case K_FIXED: {
        const uint8_t *p;
        int64_t l;
        MR_RETURN_NOT_OK(next_buffer(c, fname, &p, &l, err));
        size_t w = mr_dtype_width(fi->dtype);
        if (l < rows * (int64_t)w)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': values buffer has %lld bytes, %lld needed for %lld rows",
                              fname, (long long)l, (long long)(rows * (int64_t)w), (long long)rows);
        col->values = (void *)aligned(c, p, rows * (int64_t)w, w, fname, err);
        if (col->values == NULL && rows > 0)
            return err->code;
        return 0;
    }
    case K_BOOL: {
        const uint8_t *p;
        int64_t l;
        MR_RETURN_NOT_OK(next_buffer(c, fname, &p, &l, err));
        if (l < (int64_t)mr_bitmap_bytes(rows))
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': boolean buffer has %lld bytes, %zu needed", fname,
                              (long long)l, mr_bitmap_bytes(rows));
        uint8_t *v = mr_ipc_rb_alloc(c, mr_bitmap_bytes(rows), "boolean values", fname, err);
        if (v == NULL)
            return err->code;
        mr_bitmap_copy(v, p, 0, rows);
        col->values = v;
        return 0;
    }
    default: {
        int32_t *o = NULL;
        uint8_t *d = NULL;
        int64_t dl = 0;
        MR_RETURN_NOT_OK(decode_strings(c, fname, fi->kind, rows, col, &o, &d, &dl, err));
        col->values = o;
        col->data = d;
        col->data_len = dl;
        return 0;
    }
    }
}

/* Copies the body into a fresh batch arena and sets up the batch context. */
static int rb_setup(mr_ipc_reader_t *r, const fb_table_t *rb, const uint8_t *body, int64_t body_len, uint64_t off,
                    mr_batch_t *out, rb_ctx_t *c, int64_t *rows, mr_error_t *err)
{
    memset(c, 0, sizeof(*c));
    c->out = out;
    c->msg_off = off;
    c->codec = -1;
    c->budget = &r->budget;
    *rows = fb_i64(rb, 0, 0);
    if (*rows < 0 || *rows > ((int64_t)1 << 40))
        return mr_err_set(err, MURR_ECORRUPT, "record batch at offset %llu: invalid length %lld", (unsigned long long)off,
                          (long long)*rows);
    size_t pos;
    if (!fb_vector(rb, 1, 16, &c->nnodes, &pos))
        c->nnodes = 0;
    else
        c->nodes = rb->ctx->buf + pos;
    if (!fb_vector(rb, 2, 16, &c->nbufs, &pos))
        c->nbufs = 0;
    else
        c->bufs = rb->ctx->buf + pos;
    fb_table_t comp;
    if (fb_table_field(rb, 3, &comp)) {
        int8_t codec = (int8_t)fb_u8(&comp, 0, 0);
        if (codec != 0 && codec != 1)
            return mr_err_set(err, MURR_EUNSUPPORTED, "record batch at offset %llu: unknown compression codec %d",
                              (unsigned long long)off, codec);
        c->codec = codec;
    }
    if (fb_vector(rb, 4, 8, &c->nvariadic, &pos))
        c->variadic = rb->ctx->buf + pos;
    if (rb->ctx->bad)
        return mr_err_set(err, MURR_ECORRUPT, "malformed record batch metadata at offset %llu", (unsigned long long)off);
    if (r->borrowed) { /* the caller's buffer outlives the batch: point into it */
        c->body = body;
        c->body_len = body_len;
        return 0;
    }
    /* own the body: the input buffer may move */
    uint8_t *copy = mr_ipc_rb_alloc(c, (uint64_t)body_len, "a record batch body", NULL, err);
    if (copy == NULL)
        return err->code;
    if (body_len)
        memcpy(copy, body, (size_t)body_len);
    c->body = copy;
    c->body_len = body_len;
    /* the metadata (nodes, buffers) also lives in the input: copy those vectors too */
    if (c->nnodes) {
        uint8_t *n = mr_ipc_rb_alloc(c, 16 * (uint64_t)c->nnodes, "field nodes", NULL, err);
        if (n == NULL)
            return err->code;
        memcpy(n, c->nodes, 16 * c->nnodes);
        c->nodes = n;
    }
    return 0;
}

static int decode_record_batch(mr_ipc_reader_t *r, const fb_table_t *rb, const uint8_t *body, int64_t body_len,
                               uint64_t off, mr_batch_t **out, mr_error_t *err)
{
    if (!r->have_schema)
        return mr_err_set(err, MURR_ECORRUPT, "record batch at offset %llu before the schema", (unsigned long long)off);
    /* the batch itself: its first arena chunk and the column array */
    MR_RETURN_NOT_OK(mr_budget_charge(&r->budget, BATCH_OVERHEAD + sizeof(mr_column_t) * (uint64_t)r->schema.nfields,
                                      "a record batch", NULL, err));
    mr_batch_t *b = mr_batch_new((int32_t)r->schema.nfields, 0);
    if (b == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    rb_ctx_t c;
    int64_t rows;
    int rc = rb_setup(r, rb, body, body_len, off, b, &c, &rows, err);
    b->num_rows = rows;
    for (size_t i = 0; i < r->schema.nfields && rc == 0; i++) {
        mr_batch_set_name(b, (int32_t)i, r->schema.fields[i].name, r->schema.fields[i].name_len);
        rc = decode_column(&c, &r->schema.fields[i], &r->finfo[i], r->dicts, r->ndicts, rows, &b->columns[i], err);
    }
    if (rc == 0)
        rc = mr_batch_validate(b, err);
    if (rc != 0) {
        mr_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static uint64_t dict_bytes(const dict_t *d) { return (uint64_t)(d->n + 1) * 4 + (uint64_t)d->data_len + 1; }

/* Stores decoded dictionary values (rows strings in col) as dictionary `id`, replacing it or,
 * for a delta, appending to it; the growth is charged to the stream's budget first. */
static int dict_store(mr_ipc_reader_t *r, int64_t id, bool delta, const mr_column_t *col, int64_t rows,
                      const char *fname, mr_error_t *err)
{
    dict_t *d = NULL;
    for (size_t k = 0; k < r->ndicts; k++)
        if (r->dicts[k].id == id)
            d = &r->dicts[k];
    if (d == NULL) {
        dict_t *nd = mr_realloc(r->dicts, (r->ndicts + 1) * sizeof(dict_t));
        if (nd == NULL)
            return mr_err_set(err, MURR_ENOMEM, "out of memory for dictionary %lld", (long long)id);
        r->dicts = nd;
        d = &r->dicts[r->ndicts++];
        memset(d, 0, sizeof(*d));
        d->id = id;
    } else if (!delta) {
        mr_budget_release(&r->budget, dict_bytes(d));
        mr_free(d->offsets);
        mr_free(d->data);
        memset(d, 0, sizeof(*d));
        d->id = id;
    }
    const int32_t *o = col->values;
    int64_t add = rows > 0 ? o[rows] : 0;
    if (d->data_len + add > INT32_MAX)
        return mr_err_set(err, MURR_ETOOBIG, "field '%s': dictionary %lld would hold %lld bytes, more than 2 GiB", fname,
                          (long long)id, (long long)(d->data_len + add));
    uint64_t before = d->offsets ? dict_bytes(d) : 0;
    MR_RETURN_NOT_OK(mr_budget_charge(&r->budget, (uint64_t)(d->n + rows + 1) * 4 + (uint64_t)(d->data_len + add) + 1 -
                                                      before, "a dictionary", fname, err));
    int32_t *no = mr_realloc(d->offsets, (size_t)(d->n + rows + 1) * sizeof(int32_t));
    if (no != NULL) {
        if (d->offsets == NULL)
            no[0] = 0;
        d->offsets = no;
    }
    uint8_t *nd = no ? mr_realloc(d->data, (size_t)(d->data_len + add + 1)) : NULL;
    if (nd == NULL) { /* what is kept is still consistent (n, data_len unchanged) */
        mr_budget_release(&r->budget, (uint64_t)(d->n + rows + 1) * 4 + (uint64_t)(d->data_len + add) + 1 - before);
        return mr_err_set(err, MURR_ENOMEM, "field '%s': out of memory for dictionary %lld (%lld bytes)", fname,
                          (long long)id, (long long)(d->data_len + add));
    }
    d->data = nd;
    memcpy(d->data + d->data_len, col->data, (size_t)add);
    for (int64_t i = 1; i <= rows; i++)
        d->offsets[d->n + i] = (int32_t)(d->data_len + o[i]);
    d->n += rows;
    d->data_len += add;
    return 0;
}

static int decode_dictionary(mr_ipc_reader_t *r, const fb_table_t *db, const uint8_t *body, int64_t body_len,
                             uint64_t off, mr_error_t *err)
{
    if (!r->have_schema)
        return mr_err_set(err, MURR_ECORRUPT, "dictionary batch at offset %llu before the schema", (unsigned long long)off);
    int64_t id = fb_i64(db, 0, 0);
    bool delta = fb_u8(db, 2, 0) != 0;
    const field_info_t *fi = NULL;
    const mr_ipc_field_t *f = NULL;
    for (size_t i = 0; i < r->schema.nfields; i++)
        if (r->finfo[i].dict && r->finfo[i].dict_id == id) {
            fi = &r->finfo[i];
            f = &r->schema.fields[i];
        }
    if (fi == NULL)
        return mr_err_set(err, MURR_ECORRUPT, "dictionary batch at offset %llu has id %lld that no field uses",
                          (unsigned long long)off, (long long)id);
    fb_table_t rb;
    if (!fb_table_field(db, 1, &rb))
        return mr_err_set(err, MURR_ECORRUPT, "dictionary batch at offset %llu has no data", (unsigned long long)off);
    /* the values are decoded into a scratch batch, then copied into the dictionary: the
     * scratch is charged while it lives */
    uint64_t used_before = r->budget.used;
    MR_RETURN_NOT_OK(mr_budget_charge(&r->budget, BATCH_OVERHEAD, "a dictionary batch", f->name, err));
    mr_batch_t *tmp = mr_batch_new(1, 0);
    if (tmp == NULL) {
        mr_budget_release(&r->budget, BATCH_OVERHEAD);
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    }
    rb_ctx_t c;
    int64_t rows;
    int rc = rb_setup(r, &rb, body, body_len, off, tmp, &c, &rows, err);
    tmp->num_rows = rows;
    mr_column_t col = {0};
    field_info_t vfi = {.kind = fi->dict_kind, .dtype = MURR_UTF8};
    mr_ipc_field_t vf = *f;
    if (rc == 0)
        rc = decode_column(&c, &vf, &vfi, NULL, 0, rows, &col, err);
    if (rc == 0) {
        size_t bad;
        const int32_t *o = col.values;
        if (rows > 0 && !mr_utf8_valid(col.data, (size_t)o[rows], &bad))
            rc = mr_err_set(err, MURR_EINVAL, "field '%s': dictionary %lld has invalid UTF-8 at byte %zu", f->name,
                            (long long)id, bad);
    }
    uint64_t scratch = r->budget.used - used_before;
    if (rc == 0)
        rc = dict_store(r, id, delta, &col, rows, f->name, err);
    mr_batch_free(tmp);
    mr_budget_release(&r->budget, scratch);
    return rc;
}

/* ------------------------------------------------------------------ framing ------- */

static int handle_message(mr_ipc_reader_t *r, const uint8_t *meta, size_t meta_len, const uint8_t *body,
                          int64_t body_len, uint64_t off, mr_batch_t **out, mr_error_t *err)
{
    fb_ctx_t ctx = {meta, meta_len, false};
    fb_table_t msg;
    if (!fb_root(&ctx, &msg))
        return mr_err_set(err, MURR_ECORRUPT, "message at offset %llu: invalid flatbuffer root", (unsigned long long)off);
    int16_t version = fb_i16(&msg, 0, 0);
    if (version < 3)
        return mr_err_set(err, MURR_EUNSUPPORTED, "message at offset %llu: metadata version V%d is too old (V4/V5 needed)",
                          (unsigned long long)off, version + 1);
    uint8_t ht = fb_u8(&msg, 1, 0);
    fb_table_t hdr;
    if (!fb_table_field(&msg, 2, &hdr))
        return mr_err_set(err, MURR_ECORRUPT, "message at offset %llu: missing header", (unsigned long long)off);
    switch (ht) {
    case HDR_SCHEMA: return parse_schema(r, &hdr, off, err);
    case HDR_DICT: return decode_dictionary(r, &hdr, body, body_len, off, err);
    case HDR_RECORD_BATCH: return decode_record_batch(r, &hdr, body, body_len, off, out, err);
    default:
        return mr_err_set(err, MURR_EUNSUPPORTED, "message at offset %llu: unsupported message type %u",
                          (unsigned long long)off, ht);
    }
}

int mr_ipc_reader_message(mr_ipc_reader_t *r, const uint8_t *meta, size_t meta_len, const uint8_t *body,
                          size_t body_len, mr_batch_t **out, mr_error_t *err)
{
    mr_error_t local;
    if (err == NULL) /* the decoders read err->code after a failed charge */
        err = &local;
    *out = NULL;
    return handle_message(r, meta, meta_len, body, (int64_t)body_len, 0, out, err);
}

int mr_ipc_reader_next(mr_ipc_reader_t *r, mr_batch_t **out, mr_error_t *err)
{
    mr_error_t local;
    if (err == NULL) /* the decoders read err->code after a failed charge */
        err = &local;
    *out = NULL;
    for (;;) {
        if (r->eos)
            return 0;
        if (r->in.data == NULL)
            return MURR_EAGAIN;
        const uint8_t *p = r->in.data + r->pos;
        size_t avail = r->in.len - r->pos;
        uint64_t off = r->consumed + r->pos;
        if (avail < 4)
            return MURR_EAGAIN;
        uint32_t first;
        memcpy(&first, p, 4);
        size_t hdr = 4;
        int32_t mlen;
        if (first == 0xFFFFFFFFu) {
            if (avail < 8)
                return MURR_EAGAIN;
            memcpy(&mlen, p + 4, 4);
            hdr = 8;
        } else {
            mlen = (int32_t)first; /* legacy: 4-byte length without continuation */
        }
        if (mlen == 0) {
            r->pos += hdr;
            r->eos = true;
            return 0;
        }
        if (mlen < 0)
            return mr_err_set(err, MURR_ECORRUPT, "negative metadata length %d at offset %llu", mlen,
                              (unsigned long long)off);
        if (r->borrowed && avail - hdr < (size_t)mlen) /* complete input: cannot be "need more" */
            return mr_err_set(err, MURR_ECORRUPT,
                              "message at offset %llu declares %d bytes of metadata but only %zu bytes follow",
                              (unsigned long long)off, mlen, avail - hdr);
        /* a message larger than the body limit cannot be a valid message of this body */
        if (r->max_message && (uint64_t)mlen > r->max_message)
            return mr_err_set(err, MURR_ECORRUPT, "metadata of %d bytes at offset %llu exceeds the limit of %llu", mlen,
                              (unsigned long long)off, (unsigned long long)r->max_message);
        if (avail - hdr < (size_t)mlen)
            return MURR_EAGAIN;
        const uint8_t *meta = p + hdr;
        /* the body length is in the metadata: peek at it */
        fb_ctx_t ctx = {meta, (size_t)mlen, false};
        fb_table_t msg;
        if (!fb_root(&ctx, &msg))
            return mr_err_set(err, MURR_ECORRUPT, "message at offset %llu: invalid flatbuffer root", (unsigned long long)off);
        int64_t body_len = fb_i64(&msg, 3, 0);
        if (body_len < 0 || (r->max_message && (uint64_t)body_len > r->max_message))
            return mr_err_set(err, MURR_ECORRUPT, "message at offset %llu declares a body of %lld bytes (limit %llu)",
                              (unsigned long long)off, (long long)body_len, (unsigned long long)r->max_message);
        if ((uint64_t)(avail - hdr - (size_t)mlen) < (uint64_t)body_len) {
            if (r->borrowed)
                return mr_err_set(err, MURR_ECORRUPT,
                                  "message at offset %llu declares a body of %lld bytes but only %zu bytes follow",
                                  (unsigned long long)off, (long long)body_len, avail - hdr - (size_t)mlen);
            return MURR_EAGAIN;
        }
        mr_batch_t *b = NULL;
        int rc = handle_message(r, meta, (size_t)mlen, meta + mlen, body_len, off, &b, err);
        if (rc != 0)
            return rc;
        r->pos += hdr + (size_t)mlen + (size_t)body_len;
        if (b) {
            *out = b;
            return 0;
        }
    }
}

int mr_ipc_reader_finish(mr_ipc_reader_t *r, mr_error_t *err)
{
    uint64_t off = r->consumed + r->pos;
    if (!r->have_schema && r->in.len == 0)
        return mr_err_set(err, MURR_ECORRUPT, "empty Arrow IPC stream (0 bytes)");
    if (r->pos != r->in.len)
        return mr_err_set(err, MURR_ECORRUPT, "Arrow IPC stream truncated at offset %llu (%zu bytes of an incomplete "
                          "message)", (unsigned long long)off, r->in.len - r->pos);
    if (!r->have_schema)
        return mr_err_set(err, MURR_ECORRUPT, "Arrow IPC stream ended at offset %llu before its schema",
                          (unsigned long long)off);
    return 0;
}

int mr_ipc_read_all(mr_ipc_reader_t *r, mr_batch_t ***out, size_t *n, mr_error_t *err)
{
    mr_batch_t **bs = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    for (;;) {
        mr_batch_t *b = NULL;
        rc = mr_ipc_reader_next(r, &b, err);
        if (rc == MURR_EAGAIN) { /* all input consumed: it must end at a message boundary */
            rc = mr_ipc_reader_finish(r, err);
            break;
        }
        if (rc != 0 || b == NULL)
            break;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            mr_batch_t **nb = mr_realloc(bs, ncap * sizeof(*nb));
            if (nb == NULL) {
                mr_batch_free(b);
                rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %zu record batches", ncap);
                break;
            }
            bs = nb;
            cap = ncap;
        }
        bs[cnt++] = b;
    }
    if (rc != 0) {
        mr_ipc_batches_free(bs, cnt);
        return rc;
    }
    *out = bs;
    *n = cnt;
    return 0;
}

void mr_ipc_batches_free(mr_batch_t **batches, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mr_batch_free(batches[i]);
    mr_free(batches);
}
