/* parquet.c - Parquet footer and FileMetaData (Thrift compact), schema flattening and the
 * mapping of physical + logical types onto murr's 12 dtypes; row groups are decoded by
 * parquet_page.c. Field ids follow parquet-format's parquet.thrift. */
#include "format/parquet_internal.h"
#include "core/alloc.h"
#include "core/budget.h"
#include "core/utf8.h"
#include "format/thrift_compact.h"

#include <stdio.h>
#include <string.h>

/* ConvertedType values */
enum { CT_UTF8 = 0, CT_MAP = 1, CT_MAP_KV = 2, CT_LIST = 3, CT_ENUM = 4, CT_DECIMAL = 5, CT_DATE = 6, CT_TIME_MILLIS = 7,
       CT_TIME_MICROS = 8, CT_TS_MILLIS = 9, CT_TS_MICROS = 10, CT_UINT_8 = 11, CT_UINT_16 = 12, CT_UINT_32 = 13,
       CT_UINT_64 = 14, CT_INT_8 = 15, CT_INT_16 = 16, CT_INT_32 = 17, CT_INT_64 = 18, CT_JSON = 19, CT_BSON = 20,
       CT_INTERVAL = 21 };

typedef struct schema_el {
    int type;            /* -1 for groups */
    int repetition;      /* 0 required, 1 optional, 2 repeated */
    char name[256];
    int num_children;
    int converted;       /* -1 none */
    int logical;         /* LogicalType union field id, 0 none */
    int int_bits;        /* IntType */
    bool int_signed;
    int type_length;     /* FIXED_LEN_BYTE_ARRAY */
} schema_el_t;

static const char *const physical_names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
                                             "FIXED_LEN_BYTE_ARRAY"};

static const char *logical_name(int id)
{
    static const char *const n[] = {"", "STRING", "MAP", "LIST", "ENUM", "DECIMAL", "DATE", "TIME", "TIMESTAMP", "",
                                    "INTEGER", "UNKNOWN", "JSON", "BSON", "UUID", "FLOAT16", "VARIANT", "GEOMETRY",
                                    "GEOGRAPHY"};
    return id > 0 && id < (int)(sizeof(n) / sizeof(n[0])) ? n[id] : "?";
}

static void read_logical(tc_reader_t *r, schema_el_t *el)
{
    if (!tc_enter(r))
        return;
    int16_t last = 0, id;
    uint8_t t;
    while (tc_field(r, &last, &id, &t)) {
        el->logical = id;
        if (id == 10 && t == TC_STRUCT && tc_enter(r)) { /* IntType */
            int16_t l2 = 0, id2;
            uint8_t t2;
            while (tc_field(r, &l2, &id2, &t2)) {
                if (id2 == 1)
                    el->int_bits = (int)tc_int(r, t2);
                else if (id2 == 2)
                    el->int_signed = tc_bool(t2);
                else
                    tc_skip(r, t2);
            }
            tc_leave(r);
        } else {
            tc_skip(r, t);
        }
    }
    tc_leave(r);
}

static void read_schema_el(tc_reader_t *r, schema_el_t *el)
{
    memset(el, 0, sizeof(*el));
    el->type = -1;
    el->converted = -1;
    if (!tc_enter(r))
        return;
    int16_t last = 0, id;
    uint8_t t;
    while (tc_field(r, &last, &id, &t)) {
        switch (id) {
        case 1: el->type = (int)tc_int(r, t); break;
        case 2: el->type_length = (int)tc_int(r, t); break;
        case 3: el->repetition = (int)tc_int(r, t); break;
        case 4: {
            size_t n;
            const uint8_t *s = tc_binary(r, &n);
            snprintf(el->name, sizeof(el->name), "%.*s", (int)(n < 255 ? n : 255), s ? (const char *)s : "");
            break;
        }
        case 5: el->num_children = (int)tc_int(r, t); break;
        case 6: el->converted = (int)tc_int(r, t); break;
        case 10:
            if (t == TC_STRUCT)
                read_logical(r, el);
            else
                tc_skip(r, t);
            break;
        default: tc_skip(r, t); break;
        }
    }
    tc_leave(r);
}

/* A top-level group at els[*i] as a list column: the 3-level LIST that pyarrow and duckdb
 * write (optional or required group annotated LIST > repeated group of one child > leaf
 * FLOAT, FIXED_LEN_BYTE_ARRAY(2) FLOAT16 or INT32 INT(8)); *i is left on its leaf. Anything else nested is refused naming
 * the column. */
static int map_list(const schema_el_t *els, uint32_t nels, uint32_t *i, pq_column_t *col, mr_error_t *err)
{
    const schema_el_t *g = &els[*i];
    bool is_list = g->converted == CT_LIST || g->logical == 3;
    if (!is_list || g->num_children != 1 || g->repetition == 2 || *i + 2 >= nels)
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': nested columns (groups, maps, structs, lists other than "
                          "3-level LIST) are not supported", g->name);
    const schema_el_t *rep = &els[*i + 1], *leaf = &els[*i + 2];
    if (rep->repetition != 2 || rep->num_children != 1 || rep->type >= 0)
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': a LIST whose middle level is not a repeated group of one "
                          "field (a 2-level or legacy list) is not supported", g->name);
    if (leaf->num_children > 0 || leaf->type < 0 || leaf->repetition == 2)
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': list elements that are groups or lists are nested deeper "
                          "than one level", g->name);
    bool int8 = leaf->type == PQ_INT32 && ((leaf->logical == 10 && leaf->int_bits == 8 && leaf->int_signed) ||
                                           (leaf->logical == 0 && leaf->converted == CT_INT_8));
    if (leaf->type == PQ_FLOAT && leaf->logical == 0)
        col->dtype = MURR_LIST_FLOAT32;
    else if (leaf->type == PQ_FIXED_LEN_BYTE_ARRAY && leaf->type_length == 2 && leaf->logical == 15)
        col->dtype = MURR_LIST_FLOAT16; /* FLOAT16: binary16 little-endian, as pyarrow writes HalfFloat */
    else if (int8)
        col->dtype = MURR_LIST_INT8;
    else
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': list elements of Parquet type %s%s are not supported; "
                          "list columns read FLOAT, FIXED_LEN_BYTE_ARRAY(2) FLOAT16 or INT32 (INT_8) elements", g->name,
                          leaf->type >= 0 && leaf->type <= 7 ? physical_names[leaf->type] : "?",
                          leaf->logical ? " with a logical type" : "");
    size_t bad;
    if (!mr_utf8_valid((const uint8_t *)g->name, strlen(g->name), &bad) || g->name[0] == '\0')
        return mr_err_set(err, MURR_ECORRUPT, "schema element %u has an empty or non-UTF-8 name", *i);
    if ((col->name = mr_strndup(g->name, strlen(g->name))) == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for the name of column '%s'", g->name);
    col->physical = leaf->type;
    col->optional = g->repetition == 1;
    col->list = true;
    col->elem_optional = leaf->repetition == 1;
    col->max_def = 1 + col->optional + col->elem_optional;
    *i += 2;
    return 0;
}

/* Maps a leaf to a murr dtype, or explains why not. */
static int map_type(const schema_el_t *el, murr_dtype *out, mr_error_t *err)
{
    const char *pn = el->type >= 0 && el->type <= 7 ? physical_names[el->type] : "?";
    char ann[64] = "";
    if (el->logical)
        snprintf(ann, sizeof(ann), " (%s)", logical_name(el->logical));
    if (el->logical == 10) {
        int b = el->int_bits;
        bool s = el->int_signed;
        if ((el->type == PQ_INT32 && (b == 8 || b == 16 || b == 32)) || (el->type == PQ_INT64 && b == 64)) {
            static const murr_dtype sd[] = {MURR_INT8, MURR_INT16, MURR_INT32, MURR_INT64};
            static const murr_dtype ud[] = {MURR_UINT8, MURR_UINT16, MURR_UINT32, MURR_UINT64};
            int k = b == 8 ? 0 : b == 16 ? 1 : b == 32 ? 2 : 3;
            *out = s ? sd[k] : ud[k];
            return 0;
        }
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': unsupported Parquet type %s (INTEGER(%d, %s))", el->name,
                          pn, b, s ? "signed" : "unsigned");
    }
    bool plain_logical = el->logical == 0 || el->logical == 1 || el->logical == 4 || el->logical == 12 ||
                         el->logical == 11;
    int ct = el->converted;
    switch (el->type) {
    case PQ_BOOLEAN:
        if (plain_logical && ct < 0) {
            *out = MURR_BOOL;
            return 0;
        }
        break;
    case PQ_INT32:
        if (el->logical == 0 && (ct < 0 || ct == CT_INT_32)) {
            *out = MURR_INT32;
            return 0;
        }
        if (el->logical == 0 && (ct == CT_INT_8 || ct == CT_INT_16 || ct == CT_UINT_8 || ct == CT_UINT_16 ||
                                 ct == CT_UINT_32)) {
            *out = ct == CT_INT_8 ? MURR_INT8 : ct == CT_INT_16 ? MURR_INT16 : ct == CT_UINT_8 ? MURR_UINT8
                   : ct == CT_UINT_16 ? MURR_UINT16 : MURR_UINT32;
            return 0;
        }
        break;
    case PQ_INT64:
        if (el->logical == 0 && (ct < 0 || ct == CT_INT_64 || ct == CT_UINT_64)) {
            *out = ct == CT_UINT_64 ? MURR_UINT64 : MURR_INT64;
            return 0;
        }
        break;
    case PQ_FLOAT:
        if (el->logical == 0) {
            *out = MURR_FLOAT32;
            return 0;
        }
        break;
    case PQ_DOUBLE:
        if (el->logical == 0) {
            *out = MURR_FLOAT64;
            return 0;
        }
        break;
    case PQ_BYTE_ARRAY:
        if (plain_logical && (ct < 0 || ct == CT_UTF8 || ct == CT_ENUM || ct == CT_JSON)) {
            *out = MURR_UTF8; /* plain BYTE_ARRAY is accepted when its bytes are valid UTF-8 */
            return 0;
        }
        break;
    default:
        break;
    }
    static const char *const ct_names[] = {"UTF8", "MAP", "MAP_KEY_VALUE", "LIST", "ENUM", "DECIMAL", "DATE",
                                           "TIME_MILLIS", "TIME_MICROS", "TIMESTAMP_MILLIS", "TIMESTAMP_MICROS",
                                           "UINT_8", "UINT_16", "UINT_32", "UINT_64", "INT_8", "INT_16", "INT_32",
                                           "INT_64", "JSON", "BSON", "INTERVAL"};
    if (!el->logical && ct >= 0 && ct <= CT_INTERVAL)
        snprintf(ann, sizeof(ann), " (%s)", ct_names[ct]);
    return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': unsupported Parquet type %s%s", el->name, pn, ann);
}

static void read_chunk_meta(tc_reader_t *r, pq_chunk_t *ch)
{
    if (!tc_enter(r))
        return;
    int16_t last = 0, id;
    uint8_t t;
    while (tc_field(r, &last, &id, &t)) {
        switch (id) {
        case 4: ch->codec = (int)tc_int(r, t); break;
        case 5: ch->num_values = tc_int(r, t); break;
        case 7: ch->total_compressed_size = tc_int(r, t); break;
        case 9: ch->data_page_offset = tc_int(r, t); break;
        case 11: ch->dictionary_page_offset = tc_int(r, t); break;
        default: tc_skip(r, t); break;
        }
    }
    tc_leave(r);
}

static int read_row_group(tc_reader_t *r, pq_row_group_t *g, int ncols, mr_error_t *err)
{
    if (!tc_enter(r))
        return MURR_ECORRUPT;
    int16_t last = 0, id;
    uint8_t t;
    int got = 0;
    while (tc_field(r, &last, &id, &t)) {
        if (id == 1 && t == TC_LIST) {
            uint8_t et;
            uint32_t n = tc_list(r, &et);
            if (n != (uint32_t)ncols) {
                tc_leave(r);
                return mr_err_set(err, MURR_ECORRUPT, "row group has %u column chunks, schema has %d columns", n, ncols);
            }
            for (uint32_t c = 0; c < n && !r->bad; c++) {
                pq_chunk_t *ch = &g->chunks[c];
                ch->dictionary_page_offset = -1;
                if (!tc_enter(r))
                    break;
                int16_t l2 = 0, id2;
                uint8_t t2;
                while (tc_field(r, &l2, &id2, &t2)) {
                    if (id2 == 1 && t2 == TC_BINARY) {
                        size_t pl;
                        tc_binary(r, &pl);
                        if (pl > 0) {
                            tc_leave(r);
                            tc_leave(r);
                            return mr_err_set(err, MURR_EUNSUPPORTED, "column chunks in external files are not supported");
                        }
                    } else if (id2 == 3 && t2 == TC_STRUCT) {
                        read_chunk_meta(r, ch);
                        got++;
                    } else {
                        tc_skip(r, t2);
                    }
                }
                tc_leave(r);
            }
        } else if (id == 3) {
            g->num_rows = tc_int(r, t);
        } else {
            tc_skip(r, t);
        }
    }
    tc_leave(r);
    if (!r->bad && got != ncols)
        return mr_err_set(err, MURR_ECORRUPT, "row group: %d of %d column chunks have metadata", got, ncols);
    return 0;
}

static int corrupt(mr_error_t *err, const tc_reader_t *r, size_t base)
{
    return mr_err_set(err, MURR_ECORRUPT, "corrupt FileMetaData: %s at byte %zu", r->why ? r->why : "invalid structure",
                      base + tc_offset(r));
}

int mr_pq_open(const uint8_t *data, size_t len, mr_budget_t *budget, mr_pq_file_t **out, mr_error_t *err)
{
    *out = NULL;
    if (len < 12 || memcmp(data, "PAR1", 4) != 0)
        return mr_err_set(err, MURR_ECORRUPT, "not a Parquet file: %s", len < 12 ? "shorter than 12 bytes"
                                                                                  : "no PAR1 magic at byte 0");
    if (memcmp(data + len - 4, "PAR1", 4) != 0)
        return mr_err_set(err, MURR_ECORRUPT, "not a Parquet file (or truncated): no PAR1 magic at byte %zu", len - 4);
    uint32_t flen;
    memcpy(&flen, data + len - 8, 4);
    if ((size_t)flen > len - 12)
        return mr_err_set(err, MURR_ECORRUPT, "footer length %u at byte %zu exceeds the file (%zu bytes)", flen, len - 8,
                          len);
    size_t base = len - 8 - flen;
    tc_reader_t r;
    tc_init(&r, data + base, flen);
    mr_pq_file_t *f = mr_calloc(1, sizeof(*f));
    if (f == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for a Parquet file handle");
    f->data = data;
    f->len = len;
    f->budget = budget;
    schema_el_t *els = NULL;
    uint32_t nels = 0;
    int rc = 0;
    int16_t last = 0, id;
    uint8_t t;
    bool have_groups = false;
    const uint8_t *groups_at = NULL; /* row groups are read after the schema is known */
    size_t groups_len = 0;
    while (tc_field(&r, &last, &id, &t)) {
        if (id == 2 && t == TC_LIST) {
            uint8_t et;
            if (els != NULL) {
                rc = mr_err_set(err, MURR_ECORRUPT, "FileMetaData has two schema fields (byte %zu)", base + tc_offset(&r));
                goto fail;
            }
            nels = tc_list(&r, &et);
            if (nels > 100000) {
                rc = mr_err_set(err, MURR_ECORRUPT, "schema has %u elements (limit 100000)", nels);
                goto fail;
            }
            if ((rc = mr_budget_charge_n(budget, nels ? nels : 1, sizeof(schema_el_t), "the schema", NULL, err)) != 0)
                goto fail;
            els = mr_calloc(nels ? nels : 1, sizeof(schema_el_t));
            if (els == NULL) {
                rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u schema elements", nels);
                goto fail;
            }
            for (uint32_t i = 0; i < nels && !r.bad; i++)
                read_schema_el(&r, &els[i]);
        } else if (id == 3) {
            f->num_rows = tc_int(&r, t);
        } else if (id == 4 && t == TC_LIST) {
            groups_at = r.p;
            tc_skip(&r, t);
            groups_len = (size_t)(r.p - groups_at);
            have_groups = true;
        } else {
            tc_skip(&r, t);
        }
    }
    if (r.bad) {
        rc = corrupt(err, &r, base);
        goto fail;
    }
    if (nels == 0) {
        rc = mr_err_set(err, MURR_ECORRUPT, "FileMetaData has no schema");
        goto fail;
    }
    /* root group, then leaves and 3-level LIST groups (group > repeated group > leaf) */
    if (els[0].num_children < 0 || (uint32_t)els[0].num_children > nels - 1) {
        rc = mr_err_set(err, MURR_ECORRUPT, "schema root declares %d children but %u elements follow",
                        els[0].num_children, nels - 1);
        goto fail;
    }
    f->ncols = els[0].num_children;
    f->cols = mr_calloc((size_t)(f->ncols ? f->ncols : 1), sizeof(pq_column_t));
    if (f->cols == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %d columns", f->ncols);
        f->ncols = 0;
        goto fail;
    }
    uint32_t ei = 1;
    for (int c = 0; c < f->ncols; c++, ei++) {
        if (ei >= nels) {
            rc = mr_err_set(err, MURR_ECORRUPT, "schema root declares %d children but %u elements follow",
                            els[0].num_children, nels - 1);
            goto fail;
        }
        schema_el_t *el = &els[ei];
        if (el->num_children > 0 || el->type < 0) {
            if ((rc = map_list(els, nels, &ei, &f->cols[c], err)) != 0)
                goto fail;
            continue;
        }
        if (el->num_children > 0 || el->type < 0) {
            rc = mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': nested columns (groups, lists, maps, structs) are not "
                            "supported", el->name);
            goto fail;
        }
        size_t bad;
        if (!mr_utf8_valid((const uint8_t *)el->name, strlen(el->name), &bad) || el->name[0] == '\0') {
            rc = mr_err_set(err, MURR_ECORRUPT, "schema element %d has an empty or non-UTF-8 name", c + 1);
            goto fail;
        }
        if (el->repetition == 2) {
            rc = mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': repeated columns are not supported", el->name);
            goto fail;
        }
        if ((f->cols[c].name = mr_strndup(el->name, strlen(el->name))) == NULL) {
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory for the name of column %d", c);
            goto fail;
        }
        f->cols[c].physical = el->type;
        f->cols[c].optional = el->repetition == 1;
        if ((rc = map_type(el, &f->cols[c].dtype, err)) != 0)
            goto fail;
    }
    if (ei != nels) {
        rc = mr_err_set(err, MURR_ECORRUPT, "schema has %u elements after its %d columns", nels - ei, f->ncols);
        goto fail;
    }
    if (have_groups) {
        tc_reader_t g;
        tc_init(&g, groups_at, groups_len);
        uint8_t et;
        uint32_t n = tc_list(&g, &et);
        if ((uint64_t)n * (uint64_t)(f->ncols ? f->ncols : 1) > groups_len) { /* each chunk takes bytes */
            rc = mr_err_set(err, MURR_ECORRUPT, "%u row groups of %d columns cannot fit in %zu bytes of metadata", n,
                            f->ncols, groups_len);
            goto fail;
        }
        uint64_t nchunks = (uint64_t)(n ? n : 1) * (uint64_t)(f->ncols ? f->ncols : 1);
        if ((rc = mr_budget_charge_n(budget, nchunks, sizeof(pq_chunk_t), "the row group metadata", NULL, err)) != 0)
            goto fail;
        f->groups = mr_calloc(n ? n : 1, sizeof(pq_row_group_t));
        if (f->groups == NULL) {
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %u row groups", n);
            goto fail;
        }
        for (uint32_t i = 0; i < n && !g.bad; i++) {
            f->groups[i].chunks = mr_calloc((size_t)(f->ncols ? f->ncols : 1), sizeof(pq_chunk_t));
            if (f->groups[i].chunks == NULL) {
                rc = mr_err_set(err, MURR_ENOMEM, "out of memory for row group %u", i);
                goto fail;
            }
            f->ngroups = (int)i + 1;
            if ((rc = read_row_group(&g, &f->groups[i], f->ncols, err)) != 0) {
                mr_err_prefix(err, "row group %u: ", i);
                goto fail;
            }
            if (f->groups[i].num_rows < 0) {
                rc = mr_err_set(err, MURR_ECORRUPT, "row group %u: negative row count", i);
                goto fail;
            }
        }
        if (g.bad) {
            rc = corrupt(err, &g, base + (size_t)(groups_at - (data + base)));
            goto fail;
        }
    }
    mr_free(els);
    *out = f;
    return 0;
fail:
    mr_free(els);
    mr_pq_close(f);
    return rc;
}

int mr_pq_num_row_groups(const mr_pq_file_t *f) { return f->ngroups; }
int64_t mr_pq_num_rows(const mr_pq_file_t *f) { return f->num_rows; }
int mr_pq_num_columns(const mr_pq_file_t *f) { return f->ncols; }
const char *mr_pq_column_name(const mr_pq_file_t *f, int col) { return f->cols[col].name; }
murr_dtype mr_pq_column_dtype(const mr_pq_file_t *f, int col) { return f->cols[col].dtype; }

int mr_pq_read_row_group(mr_pq_file_t *f, int rg, mr_batch_t **out, mr_error_t *err)
{
    *out = NULL;
    if (rg < 0 || rg >= f->ngroups)
        return mr_err_set(err, MURR_EINVAL, "row group %d does not exist (the file has %d)", rg, f->ngroups);
    int64_t rows = f->groups[rg].num_rows;
    if (rows > (int64_t)f->len * 8 + 64) /* each row takes at least one bit somewhere */
        return mr_err_set(err, MURR_ECORRUPT, "row group %d claims %lld rows, more than a %zu-byte file can hold", rg,
                          (long long)rows, f->len);
    MR_RETURN_NOT_OK(mr_budget_charge_n(f->budget, (uint64_t)(f->ncols ? f->ncols : 1), sizeof(mr_column_t),
                                        "a row group batch", NULL, err));
    mr_batch_t *b = mr_batch_new(f->ncols, rows);
    if (b == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for row group %d", rg);
    for (int c = 0; c < f->ncols; c++) {
        mr_batch_set_name(b, c, f->cols[c].name, strlen(f->cols[c].name));
        int rc = mr_pq_decode_chunk(f, rg, c, b, err);
        if (rc != 0) {
            mr_batch_free(b);
            return rc;
        }
    }
    int rc = mr_batch_validate(b, err);
    if (rc != 0) {
        mr_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void mr_pq_close(mr_pq_file_t *f)
{
    if (f == NULL)
        return;
    for (int c = 0; c < f->ncols; c++)
        mr_free(f->cols[c].name);
    mr_free(f->cols);
    for (int g = 0; g < f->ngroups; g++)
        mr_free(f->groups[g].chunks);
    mr_free(f->groups);
    mr_free(f);
}
