/* arrow_ipc_write.c - Arrow IPC stream writer (MetadataVersion V5): schema and record
 * batch messages built with the forward flatbuffer builder into the caller's arena; bodies
 * are iovecs pointing at the batch's own buffers (zero copy), padded to 8 bytes with a
 * static zero block. Field numbers follow Arrow's Schema.fbs / Message.fbs. */
#include "format/arrow_ipc.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "format/flatbuf.h"

#include <pthread.h>
#include <string.h>

static const uint8_t zeros[64];

enum { HDR_SCHEMA = 1, HDR_RECORD_BATCH = 3 };
enum { T_INT = 2, T_FLOAT = 3, T_UTF8 = 5, T_BOOL = 6, T_LIST = 12, T_FSL = 16 };

/* Copies the builder's bytes into the arena (8-aligned) as the message metadata. */
static int finish_meta(mr_arena_t *a, mr_buf_t *b, mr_ipc_msg_t *out, mr_error_t *err)
{
    size_t n = (b->len + 7) & ~(size_t)7;
    uint8_t *m = mr_arena_alloc_aligned(a, n ? n : 8, 8);
    if (m == NULL) {
        mr_buf_deinit(b);
        return mr_err_set(err, MURR_ENOMEM, "out of memory encoding IPC metadata");
    }
    memcpy(m, b->data, b->len);
    memset(m + b->len, 0, n - b->len);
    out->meta = m;
    out->meta_len = n;
    mr_buf_deinit(b);
    return 0;
}

/* Writes the Message root: version V5, header type, header (patched by caller), body length. */
static size_t begin_message(mr_buf_t *b, uint8_t hdr_type, int64_t body_len, size_t *header_field)
{
    uint32_t root = 0;
    mr_buf_append(b, &root, 4);
    fb_field_t f[] = {{0, 2, 4, false}, {1, 1, hdr_type, false}, {2, 4, 0, true}, {3, 8, (uint64_t)body_len, false}};
    size_t pos = fbb_table(b, f, 4, header_field);
    fbb_patch(b, 0, pos);
    return pos;
}

/* The Arrow type of a murr dtype; a list dtype's is List or FixedSizeList (its element
 * type: elem_type_of). */
static void type_of(murr_dtype t, int32_t dim, uint8_t *type_type, fb_field_t *tf, int *ntf)
{
    *ntf = 0;
    switch (t) {
    case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8:
        *type_type = dim > 0 ? T_FSL : T_LIST;
        if (dim > 0) {
            tf[0] = (fb_field_t){0, 4, (uint64_t)(uint32_t)dim, false};
            *ntf = 1;
        }
        break;
    case MURR_UTF8: *type_type = T_UTF8; break;
    case MURR_BOOL: *type_type = T_BOOL; break;
    case MURR_FLOAT32: *type_type = T_FLOAT; tf[0] = (fb_field_t){0, 2, 1, false}; *ntf = 1; break;
    case MURR_FLOAT64: *type_type = T_FLOAT; tf[0] = (fb_field_t){0, 2, 2, false}; *ntf = 1; break;
    default:
        *type_type = T_INT;
        tf[0] = (fb_field_t){0, 4, mr_dtype_width(t) * 8, false};
        tf[1] = (fb_field_t){1, 1, mr_dtype_is_signed_int(t) ? 1 : 0, false};
        *ntf = 2;
        break;
    }
}

static int encode_schema_uncached(mr_arena_t *a, const mr_ipc_field_t *fields, size_t nfields, const mr_ipc_kv_t *meta,
                         size_t nmeta, mr_ipc_msg_t *out, mr_error_t *err)
{
    mr_buf_t b;
    mr_buf_init(&b);
    mr_buf_reserve(&b, 256 + nfields * 96);
    size_t hdr_field;
    begin_message(&b, HDR_SCHEMA, 0, &hdr_field);
    size_t sp[2];
    fb_field_t sf[] = {{1, 4, 0, true}, {2, 4, 0, true}};
    size_t schema_pos = fbb_table(&b, sf, nmeta ? 2 : 1, sp);
    fbb_patch(&b, hdr_field, schema_pos);
    size_t fvec = fbb_offset_vector(&b, nfields);
    fbb_patch(&b, sp[0], fvec);
    for (size_t i = 0; i < nfields; i++) {
        uint8_t tt;
        fb_field_t tf[2];
        int ntf;
        type_of(fields[i].dtype, fields[i].dim, &tt, tf, &ntf);
        fb_field_t ff[] = {{0, 4, 0, true}, {1, 1, fields[i].nullable, false}, {2, 1, tt, false}, {3, 4, 0, true},
                           {5, 4, 0, true}};
        size_t fp[3];
        size_t fpos = fbb_table(&b, ff, 5, fp);
        fbb_patch(&b, fvec + 4 + 4 * i, fpos);
        fbb_patch(&b, fp[0], fbb_string(&b, fields[i].name, fields[i].name_len));
        fbb_patch(&b, fp[1], fbb_table(&b, tf, ntf, NULL));
        if (!mr_dtype_is_list(fields[i].dtype)) {
            fbb_patch(&b, fp[2], fbb_offset_vector(&b, 0));
            continue;
        }
        /* one child, "item" (nullable, as pyarrow declares it; murr never sends null elements) */
        murr_dtype et = fields[i].dtype == MURR_LIST_FLOAT32 ? MURR_FLOAT32 : MURR_INT8;
        if (fields[i].dtype == MURR_LIST_FLOAT16) {
            tt = T_FLOAT;
            tf[0] = (fb_field_t){0, 2, 0, false}; /* Precision HALF */
            ntf = 1;
        } else {
            type_of(et, 0, &tt, tf, &ntf);
        }
        size_t cvec = fbb_offset_vector(&b, 1);
        fbb_patch(&b, fp[2], cvec);
        fb_field_t cf[] = {{0, 4, 0, true}, {1, 1, 1, false}, {2, 1, tt, false}, {3, 4, 0, true}, {5, 4, 0, true}};
        size_t cp[3];
        fbb_patch(&b, cvec + 4, fbb_table(&b, cf, 5, cp));
        fbb_patch(&b, cp[0], fbb_string(&b, "item", 4));
        fbb_patch(&b, cp[1], fbb_table(&b, tf, ntf, NULL));
        fbb_patch(&b, cp[2], fbb_offset_vector(&b, 0));
    }
    if (nmeta) {
        size_t mvec = fbb_offset_vector(&b, nmeta);
        fbb_patch(&b, sp[1], mvec);
        for (size_t i = 0; i < nmeta; i++) {
            fb_field_t kf[] = {{0, 4, 0, true}, {1, 4, 0, true}};
            size_t kp[2];
            size_t kpos = fbb_table(&b, kf, 2, kp);
            fbb_patch(&b, mvec + 4 + 4 * i, kpos);
            fbb_patch(&b, kp[0], fbb_string(&b, meta[i].key, strlen(meta[i].key)));
            fbb_patch(&b, kp[1], fbb_string(&b, meta[i].value, strlen(meta[i].value)));
        }
    }
    out->body = NULL;
    out->body_iovcnt = 0;
    out->body_len = 0;
    return finish_meta(a, &b, out, err);
}


/* Schema messages of answers repeat (the same columns are fetched over and over), and
 * building one costs ~1.8 us for 10 fields against ~0.2 us for the batch message. A small
 * per-thread cache keyed by the exact field list and metadata makes a repeat a hash, a
 * compare and one copy. Entries are freed when the thread exits. */
#define SCHEMA_CACHE_SLOTS 8

typedef struct schema_entry {
    uint64_t hash;
    uint8_t *key;
    size_t key_len;
    uint8_t *meta;
    size_t meta_len;
} schema_entry_t;

typedef struct schema_cache {
    schema_entry_t e[SCHEMA_CACHE_SLOTS];
    unsigned next;
} schema_cache_t;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
    schema_cache_t *c = p;
    for (int i = 0; i < SCHEMA_CACHE_SLOTS; i++) {
        mr_free(c->e[i].key);
        mr_free(c->e[i].meta);
    }
    mr_free(c);
}

static void cache_init(void) { pthread_key_create(&cache_key, cache_free); }

static schema_cache_t *cache_get(void)
{
    pthread_once(&cache_once, cache_init);
    schema_cache_t *c = pthread_getspecific(cache_key);
    if (c == NULL) {
        c = mr_calloc(1, sizeof(*c));
        if (c && pthread_setspecific(cache_key, c) != 0) {
            mr_free(c);
            c = NULL;
        }
    }
    return c;
}

/* Serialises what determines the message: (name, dtype, nullable) per field + metadata. */
static int schema_cache_key(mr_buf_t *k, const mr_ipc_field_t *fields, size_t nfields, const mr_ipc_kv_t *meta,
                            size_t nmeta)
{
    int rc = 0;
    for (size_t i = 0; i < nfields && rc == 0; i++) {
        uint32_t hdr[4] = {(uint32_t)fields[i].name_len, (uint32_t)fields[i].dtype, fields[i].nullable,
                           (uint32_t)fields[i].dim};
        rc = mr_buf_append(k, hdr, sizeof(hdr));
        rc = rc ? rc : mr_buf_append(k, fields[i].name, fields[i].name_len);
    }
    for (size_t i = 0; i < nmeta && rc == 0; i++) {
        rc = mr_buf_append(k, meta[i].key, strlen(meta[i].key) + 1);
        rc = rc ? rc : mr_buf_append(k, meta[i].value, strlen(meta[i].value) + 1);
    }
    return rc;
}

int mr_ipc_encode_schema(mr_arena_t *a, const mr_ipc_field_t *fields, size_t nfields, const mr_ipc_kv_t *meta,
                         size_t nmeta, mr_ipc_msg_t *out, mr_error_t *err)
{
    schema_cache_t *c = cache_get();
    uint8_t stack[2048];
    mr_buf_t k = {.data = stack, .len = 0, .cap = 0};
    /* build the key in a stack buffer when it fits, else skip the cache */
    size_t need = 0;
    for (size_t i = 0; i < nfields; i++)
        need += 16 + fields[i].name_len;
    for (size_t i = 0; i < nmeta; i++)
        need += strlen(meta[i].key) + strlen(meta[i].value) + 2;
    if (c == NULL || need > sizeof(stack))
        return encode_schema_uncached(a, fields, nfields, meta, nmeta, out, err);
    k.cap = sizeof(stack);
    schema_cache_key(&k, fields, nfields, meta, nmeta);
    uint64_t h = mr_hash64(k.data, k.len);
    for (int i = 0; i < SCHEMA_CACHE_SLOTS; i++) {
        schema_entry_t *e = &c->e[i];
        if (e->meta && e->hash == h && e->key_len == k.len && memcmp(e->key, k.data, k.len) == 0) {
            uint8_t *m = mr_arena_alloc_aligned(a, e->meta_len, 8);
            if (m == NULL)
                return mr_err_set(err, MURR_ENOMEM, "out of memory encoding IPC metadata");
            memcpy(m, e->meta, e->meta_len);
            *out = (mr_ipc_msg_t){.meta = m, .meta_len = e->meta_len};
            return 0;
        }
    }
    MR_RETURN_NOT_OK(encode_schema_uncached(a, fields, nfields, meta, nmeta, out, err));
    schema_entry_t *e = &c->e[c->next++ % SCHEMA_CACHE_SLOTS];
    uint8_t *kk = mr_malloc(k.len ? k.len : 1), *mm = mr_malloc(out->meta_len);
    if (kk == NULL || mm == NULL) { /* caching is optional */
        mr_free(kk);
        mr_free(mm);
        return 0;
    }
    mr_free(e->key);
    mr_free(e->meta);
    memcpy(kk, k.data, k.len);
    memcpy(mm, out->meta, out->meta_len);
    *e = (schema_entry_t){.hash = h, .key = kk, .key_len = k.len, .meta = mm, .meta_len = out->meta_len};
    return 0;
}

/* The `_idx` column of a sparse answer is never null (as murr 0.3.1 declares it). No table
 * column carries that name, so the name alone tells. */
static bool is_idx(const mr_column_t *c)
{
    return c->dtype == MURR_UINT32 && c->null_count == 0 && c->name_len == strlen(MURR_IDX_COLUMN) &&
           memcmp(c->name, MURR_IDX_COLUMN, c->name_len) == 0;
}

mr_ipc_field_t *mr_ipc_fields_of_batch(mr_arena_t *a, const mr_batch_t *b)
{
    mr_ipc_field_t *f = mr_arena_alloc(a, sizeof(*f) * (size_t)(b->num_columns ? b->num_columns : 1));
    if (f == NULL)
        return NULL;
    for (int32_t i = 0; i < b->num_columns; i++)
        f[i] = (mr_ipc_field_t){b->columns[i].name, b->columns[i].name_len, b->columns[i].dtype, !is_idx(&b->columns[i]),
                                b->columns[i].dim};
    return f;
}

typedef struct body_builder {
    struct iovec *iov;
    int n, cap;
    int64_t len;
    uint8_t *bufs;  /* Buffer structs: {offset, length} */
    size_t nbufs;
} body_builder_t;

static void add_buffer(body_builder_t *bb, const void *p, int64_t len)
{
    int64_t off = bb->len;
    memcpy(bb->bufs + 16 * bb->nbufs, &off, 8);
    memcpy(bb->bufs + 16 * bb->nbufs + 8, &len, 8);
    bb->nbufs++;
    if (len > 0) {
        bb->iov[bb->n++] = (struct iovec){(void *)p, (size_t)len};
        int64_t pad = (8 - (len & 7)) & 7;
        if (pad)
            bb->iov[bb->n++] = (struct iovec){(void *)zeros, (size_t)pad};
        bb->len += len + pad;
    }
}

/* The buffers of a list column's rows [row_off, +rows) after its validity: List offsets
 * (rebased when sliced), then the child's (empty) validity and values, pointing into c. */
static int encode_list(mr_arena_t *a, body_builder_t *bb, const mr_column_t *c, int64_t row_off, int64_t rows, bool whole,
                       int64_t *elems)
{
    size_t w = mr_list_elem_width(c->dtype);
    if (c->dim > 0) {
        *elems = rows * c->dim;
        add_buffer(bb, NULL, 0);
        add_buffer(bb, (const uint8_t *)c->values + (size_t)row_off * (size_t)c->dim * w, *elems * (int64_t)w);
        return 0;
    }
    const int32_t *off = c->values;
    const int32_t *no = off + row_off;
    if (!whole || off[0] != 0) {
        int32_t *rebased = mr_arena_alloc(a, (size_t)(rows + 1) * 4);
        if (rebased == NULL)
            return MURR_ENOMEM;
        for (int64_t r = 0; r <= rows; r++)
            rebased[r] = off[row_off + r] - off[row_off];
        no = rebased;
    }
    *elems = no[rows];
    add_buffer(bb, no, (rows + 1) * 4);
    add_buffer(bb, NULL, 0);
    add_buffer(bb, c->data + (size_t)off[row_off] * w, *elems * (int64_t)w);
    return 0;
}

int mr_ipc_encode_batch(mr_arena_t *a, const mr_batch_t *b, int64_t row_off, int64_t rows, mr_ipc_msg_t *out,
                        mr_error_t *err)
{
    if (row_off < 0 || rows < 0 || row_off + rows > b->num_rows)
        return mr_err_set(err, MURR_EINVAL, "slice [%lld, %lld) is outside the batch of %lld rows", (long long)row_off,
                          (long long)(row_off + rows), (long long)b->num_rows);
    size_t nbuf = 0, nnodes = 0; /* a list column is two nodes: the list, its child */
    for (int32_t i = 0; i < b->num_columns; i++) {
        const mr_column_t *c = &b->columns[i];
        bool list = mr_dtype_is_list(c->dtype);
        nbuf += c->dtype == MURR_UTF8 ? 3 : list ? (c->dim > 0 ? 3 : 4) : 2;
        nnodes += list ? 2 : 1;
    }
    body_builder_t bb = {0};
    bb.cap = (int)nbuf * 2 + 1;
    bb.iov = mr_arena_alloc(a, sizeof(struct iovec) * (size_t)bb.cap);
    mr_buf_t m;
    mr_buf_init(&m);
    mr_buf_reserve(&m, 256 + nbuf * 16 + (size_t)b->num_columns * 16);
    if (bb.iov == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory encoding a record batch");
    size_t hdr_field;
    size_t msg_pos = begin_message(&m, HDR_RECORD_BATCH, 0, &hdr_field);
    fb_field_t rf[] = {{0, 8, (uint64_t)rows, false}, {1, 4, 0, true}, {2, 4, 0, true}};
    size_t rp[2];
    size_t rb_pos = fbb_table(&m, rf, 3, rp);
    fbb_patch(&m, hdr_field, rb_pos);
    uint8_t *nodes;
    size_t nodes_pos = fbb_struct_vector(&m, nnodes, 16, 8, &nodes);
    fbb_patch(&m, rp[0], nodes_pos);
    /* node structs: {length, null_count}; computed after the slice is known */
    int64_t *node_vals = mr_arena_alloc(a, 16 * (nnodes ? nnodes : 1));
    size_t ni = 0;
    size_t bufs_pos = fbb_struct_vector(&m, nbuf, 16, 8, &bb.bufs);
    fbb_patch(&m, rp[1], bufs_pos);
    bb.bufs = m.data + bufs_pos + 4;
    bool whole = row_off == 0 && rows == b->num_rows;
    for (int32_t i = 0; i < b->num_columns; i++) {
        const mr_column_t *c = &b->columns[i];
        int64_t nulls = c->validity ? rows - mr_bitmap_count(c->validity, row_off, rows) : 0;
        node_vals[2 * ni] = rows;
        node_vals[2 * ni + 1] = nulls;
        ni++;
        /* validity */
        if (nulls == 0) {
            add_buffer(&bb, NULL, 0);
        } else if ((row_off & 7) == 0) {
            add_buffer(&bb, c->validity + row_off / 8, (int64_t)mr_bitmap_bytes(rows));
        } else {
            uint8_t *v = mr_arena_calloc(a, mr_bitmap_bytes(rows) + 8);
            if (v == NULL)
                return mr_err_set(err, MURR_ENOMEM, "out of memory");
            mr_bitmap_copy(v, c->validity, row_off, rows);
            add_buffer(&bb, v, (int64_t)mr_bitmap_bytes(rows));
        }
        if (mr_dtype_is_list(c->dtype)) {
            int64_t elems;
            if (encode_list(a, &bb, c, row_off, rows, whole, &elems) != 0)
                return mr_err_set(err, MURR_ENOMEM, "out of memory");
            node_vals[2 * ni] = elems; /* the child: elements, never null */
            node_vals[2 * ni + 1] = 0;
            ni++;
        } else if (c->dtype == MURR_BOOL) {
            if ((row_off & 7) == 0) {
                add_buffer(&bb, (const uint8_t *)c->values + row_off / 8, (int64_t)mr_bitmap_bytes(rows));
            } else {
                uint8_t *v = mr_arena_calloc(a, mr_bitmap_bytes(rows) + 8);
                if (v == NULL)
                    return mr_err_set(err, MURR_ENOMEM, "out of memory");
                mr_bitmap_copy(v, c->values, row_off, rows);
                add_buffer(&bb, v, (int64_t)mr_bitmap_bytes(rows));
            }
        } else if (c->dtype == MURR_UTF8) {
            const int32_t *off = c->values;
            if (whole && off[0] == 0) {
                add_buffer(&bb, off, (rows + 1) * 4);
                add_buffer(&bb, c->data, off[rows]);
            } else {
                int32_t *no = mr_arena_alloc(a, (size_t)(rows + 1) * 4);
                if (no == NULL)
                    return mr_err_set(err, MURR_ENOMEM, "out of memory");
                for (int64_t r = 0; r <= rows; r++)
                    no[r] = off[row_off + r] - off[row_off];
                add_buffer(&bb, no, (rows + 1) * 4);
                add_buffer(&bb, c->data + off[row_off], no[rows]);
            }
        } else {
            size_t w = mr_dtype_width(c->dtype);
            add_buffer(&bb, (const uint8_t *)c->values + (size_t)row_off * w, rows * (int64_t)w);
        }
    }
    memcpy(m.data + nodes_pos + 4, node_vals, 16 * nnodes);
    /* body length into the Message (field 3, 8 bytes): rewrite through the vtable */
    {
        int32_t so;
        memcpy(&so, m.data + msg_pos, 4);
        size_t vt = msg_pos - (size_t)so;
        uint16_t off3;
        memcpy(&off3, m.data + vt + 4 + 2 * 3, 2);
        memcpy(m.data + msg_pos + off3, &bb.len, 8);
    }
    out->body = bb.iov;
    out->body_iovcnt = bb.n;
    out->body_len = bb.len;
    return finish_meta(a, &m, out, err);
}

int mr_ipc_frame_stream(mr_arena_t *a, const mr_ipc_msg_t *msgs, size_t nmsgs, bool eos, struct iovec **iov,
                        int *iovcnt, size_t *total, mr_error_t *err)
{
    size_t cap = 2 * nmsgs + 1;
    for (size_t i = 0; i < nmsgs; i++)
        cap += (size_t)msgs[i].body_iovcnt;
    struct iovec *v = mr_arena_alloc(a, cap * sizeof(struct iovec));
    uint8_t *prefixes = mr_arena_alloc(a, 8 * (nmsgs + 1));
    if (v == NULL || prefixes == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory framing an IPC stream");
    int n = 0;
    size_t t = 0;
    for (size_t i = 0; i < nmsgs; i++) {
        uint32_t cont = 0xFFFFFFFFu;
        int32_t len = (int32_t)msgs[i].meta_len; /* already a multiple of 8 */
        memcpy(prefixes + 8 * i, &cont, 4);
        memcpy(prefixes + 8 * i + 4, &len, 4);
        v[n++] = (struct iovec){prefixes + 8 * i, 8};
        v[n++] = (struct iovec){(void *)msgs[i].meta, msgs[i].meta_len};
        t += 8 + msgs[i].meta_len;
        for (int k = 0; k < msgs[i].body_iovcnt; k++)
            v[n++] = msgs[i].body[k];
        t += (size_t)msgs[i].body_len;
    }
    if (eos) {
        uint32_t e[2] = {0xFFFFFFFFu, 0};
        memcpy(prefixes + 8 * nmsgs, e, 8);
        v[n++] = (struct iovec){prefixes + 8 * nmsgs, 8};
        t += 8;
    }
    *iov = v;
    *iovcnt = n;
    *total = t;
    return 0;
}

int mr_ipc_write_stream(mr_arena_t *a, const mr_batch_t *b, const mr_ipc_kv_t *meta, size_t nmeta, struct iovec **iov,
                        int *iovcnt, size_t *total, mr_error_t *err)
{
    mr_ipc_msg_t msgs[2];
    mr_ipc_field_t *f = mr_ipc_fields_of_batch(a, b);
    if (f == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    MR_RETURN_NOT_OK(mr_ipc_encode_schema(a, f, (size_t)b->num_columns, meta, nmeta, &msgs[0], err));
    MR_RETURN_NOT_OK(mr_ipc_encode_batch(a, b, 0, b->num_rows, &msgs[1], err));
    return mr_ipc_frame_stream(a, msgs, 2, true, iov, iovcnt, total, err);
}
