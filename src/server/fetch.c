/* fetch.c - one fetch for HTTP and Flight, both protocol generations (see fetch.h).
 *
 * The table schema decides how JSON keys are read: a table keyed by one utf8 column takes
 * the string fast path (the strings are the encoded keys); every other table gets its keys
 * encoded straight from the request's key arrays (mr_json_fetch_encode: no DOM nodes, no key
 * batch), and a request that path declines (a shape or value it does not take: always an
 * error but for 20-digit integers and repeated members) the key batch typed by the schema
 * (mr_json_fetch_keys), which words every refusal, and murr_read_keys. Encoded keys are read
 * with murr_read_encoded, which checks that the table still has the key they were encoded
 * for: the schema comes from murr_describe_table (a copy, per request, small next to the
 * read), and the table could be dropped and re-created with another key before the read,
 * when the same bytes would name other rows (MURR_ECONFLICT then). Arrow requests always go
 * through murr_read_keys, which checks names, dtypes (widening) and nulls of the key
 * columns. The expected workload is many small requests (tens to thousands of keys):
 * scratch memory comes from the request arena. */
#include "server/fetch.h"

#include <string.h>

#include "core/budget.h"
#include "format/arrow_ipc.h"

/* NUL-terminated copies of the requested column names (a NUL inside a name is refused:
 * the engine takes C strings). */
static int column_names(mr_arena_t *a, const mr_slice_t *cols, size_t n, const char ***out, mr_error_t *err)
{
    const char **names = mr_arena_alloc(a, (n + 1) * sizeof(char *));
    if (names == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %zu column names", n);
    for (size_t i = 0; i < n; i++) {
        if (memchr(cols[i].ptr, 0, cols[i].len))
            return mr_err_set(err, MURR_EINVAL, "Segment error: column name %zu contains a NUL character", i);
        if ((names[i] = mr_arena_strndup(a, cols[i].ptr, cols[i].len)) == NULL)
            return mr_err_set(err, MURR_ENOMEM, "out of memory for column name %zu", i);
    }
    *out = names;
    return 0;
}

/* The strings of the request are the table's encoded keys: one utf8 key column, and (0.3
 * object form) the one member of keys is named as that column. */
static bool string_keys_fit(const mr_fetch_req_t *fr, const murr_schema *s)
{
    const murr_column_schema *k = &s->columns[s->key_index];
    if (fr->keys == NULL || s->num_keys > 1 || k->dtype != MURR_UTF8)
        return false;
    return !fr->sparse || (fr->key_name.len == k->name_len && memcmp(fr->key_name.ptr, k->name, k->name_len) == 0);
}

static int read_strings(murr_db *db, const char *table, const murr_schema *s, const mr_fetch_req_t *fr,
                        const char *const *cols, unsigned flags, mr_arena_t *a, murr_batch **out, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_budget_charge_n(fr->budget, fr->nkeys + 1, sizeof(char *) + sizeof(size_t),
                                        "the key pointers", NULL, err));
    const char **keys = mr_arena_alloc(a, (fr->nkeys + 1) * sizeof(char *));
    size_t *lens = mr_arena_alloc(a, (fr->nkeys + 1) * sizeof(size_t));
    if (keys == NULL || lens == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for %zu keys", fr->nkeys);
    for (size_t i = 0; i < fr->nkeys; i++) {
        keys[i] = fr->keys[i].ptr;
        lens[i] = fr->keys[i].len;
    }
    return murr_read_encoded(db, table, s, keys, lens, fr->nkeys, cols, fr->ncolumns, flags, out, err);
}

static int keys_check(uint64_t n, uint64_t max_keys, mr_error_t *err)
{
    if (n <= max_keys)
        return 0;
    return mr_err_set(err, MURR_ETOOBIG, "the fetch asks for %llu keys, over server.http.max_fetch_keys (%llu)",
                      (unsigned long long)n, (unsigned long long)max_keys);
}

int mr_fetch_json(murr_db *db, const char *table, const mr_fetch_req_t *fr, uint64_t max_keys, mr_arena_t *a,
                  murr_batch **out, mr_error_t *err)
{
    MR_RETURN_NOT_OK(keys_check(fr->nkeys, max_keys, err));
    const char **cols;
    MR_RETURN_NOT_OK(column_names(a, fr->columns, fr->ncolumns, &cols, err));
    murr_schema *s;
    MR_RETURN_NOT_OK(murr_describe_table(db, table, &s, err));
    unsigned flags = fr->sparse ? MURR_READ_SPARSE : 0;
    int rc;
    /* Between describe and read the table could be dropped and re-created with another key:
     * murr_read_encoded then refuses the encoded keys, murr_read_keys the key batch (names,
     * dtypes). Strings too are only taken as encoded keys once the schema says they are:
     * for an integer or compound key the same bytes would name other rows. */
    const char **keys;
    size_t *lens;
    if (string_keys_fit(fr, s)) {
        rc = read_strings(db, table, s, fr, cols, flags, a, out, err);
    } else if ((rc = mr_json_fetch_encode(fr, s, a, &keys, &lens, err)) == 0) {
        rc = murr_read_encoded(db, table, s, keys, lens, fr->nkeys, cols, fr->ncolumns, flags, out, err);
    } else if (rc == MURR_EAGAIN) {
        mr_batch_t *kb;
        rc = mr_json_fetch_keys(fr, s, &kb, err);
        if (rc == 0) {
            rc = murr_read_keys(db, table, kb, cols, fr->ncolumns, flags, out, err);
            mr_batch_free(kb);
        }
    }
    murr_schema_free(s);
    return rc;
}

/* The "columns" metadata entry of the request stream, as NUL-terminated names. */
static int requested_columns(const mr_ipc_schema_t *sch, mr_arena_t *a, mr_budget_t *budget, const char ***cols,
                             size_t *ncols, mr_error_t *err)
{
    const char *text = NULL;
    for (size_t i = 0; i < sch->nmeta; i++)
        if (strcmp(sch->meta[i].key, "columns") == 0)
            text = sch->meta[i].value;
    if (text == NULL)
        return mr_err_set(err, MURR_EINVAL, "Table error: missing 'columns' entry in Arrow schema metadata (%zu other "
                          "entries): set it to a JSON array of the column names to return", sch->nmeta);
    mr_slice_t *names;
    int rc = mr_json_parse_string_array(a, text, strlen(text), "columns", budget, &names, ncols, err);
    if (rc == MURR_ENOMEM || rc == MURR_ETOOBIG)
        return rc;
    if (rc != 0) {
        mr_err_prefix(err, "Table error: invalid 'columns' entry in Arrow schema metadata (expected a JSON array of "
                      "column names): ");
        err->code = MURR_EINVAL;
        return MURR_EINVAL;
    }
    return column_names(a, names, *ncols, cols, err);
}

/* A stream with a schema and no record batch asks for zero keys: a zero-row key batch of
 * the stream's fields, so the engine still checks them and answers with the full schema. */
static int empty_key_batch(const mr_ipc_schema_t *sch, mr_batch_t **out, mr_error_t *err)
{
    mr_batch_t *b = mr_batch_new((int32_t)sch->nfields, 0);
    int rc = b ? 0 : MURR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < sch->nfields; i++) {
        rc = mr_batch_column_alloc(b, (int32_t)i, sch->fields[i].dtype, false, 0);
        rc = rc ? rc : mr_batch_set_name(b, (int32_t)i, sch->fields[i].name, sch->fields[i].name_len);
    }
    if (rc != 0) {
        mr_batch_free(b);
        return mr_err_set(err, rc, "out of memory for an empty key batch of %zu columns", sch->nfields);
    }
    *out = b;
    return 0;
}

/* Decoder errors are the client's bytes: a malformed stream, whatever the reader's code. */
static int stream_error(int rc, mr_error_t *err)
{
    mr_err_prefix(err, "Table error: invalid Arrow IPC stream in the fetch request: ");
    if (rc == MURR_EAGAIN || rc == MURR_EINTERNAL) /* ETOOBIG (the decode budget) stays: 413 */
        rc = MURR_ECORRUPT;
    err->code = rc;
    return rc;
}

int mr_fetch_arrow(murr_db *db, const char *table, const uint8_t *body, size_t len, uint64_t max_message,
                   uint64_t max_keys, mr_arena_t *a, murr_batch **out, mr_error_t *err)
{
    static const uint8_t none[1];
    mr_ipc_reader_t *r = mr_ipc_reader_new(max_message, max_message, "server.http.max_payload_size");
    if (r == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for an Arrow reader");
    mr_batch_t **bs = NULL, *keys = NULL;
    size_t n = 0, ncols = 0;
    const char **cols = NULL;
    int rc = mr_ipc_reader_borrow(r, body ? body : none, body ? len : 0, err);
    if (rc == 0 && (rc = mr_ipc_read_all(r, &bs, &n, err)) != 0)
        rc = stream_error(rc, err);
    const mr_ipc_schema_t *sch = rc == 0 ? mr_ipc_reader_schema(r) : NULL;
    if (rc == 0 && sch == NULL)
        rc = stream_error(mr_err_set(err, MURR_ECORRUPT, "no schema message"), err);
    if (rc == 0)
        rc = requested_columns(sch, a, mr_ipc_reader_budget(r), &cols, &ncols, err);
    if (rc == 0) {
        uint64_t rows = 0;
        for (size_t i = 0; i < n; i++)
            rows += (uint64_t)bs[i]->num_rows;
        rc = keys_check(rows, max_keys, err);
    }
    /* one batch (the usual request) is read in place; several are joined so that `_idx`
     * counts positions across the whole stream (the copy is charged to the stream's budget) */
    if (rc == 0 && n == 0)
        rc = empty_key_batch(sch, &keys, err);
    else if (rc == 0 && n > 1)
        rc = mr_batch_concat((const mr_batch_t *const *)bs, n, mr_ipc_reader_budget(r), &keys, err);
    if (rc == 0)
        rc = murr_read_keys(db, table, n == 1 ? bs[0] : keys, cols, ncols, MURR_READ_SPARSE, out, err);
    mr_batch_free(keys);
    mr_ipc_batches_free(bs, n);
    mr_ipc_reader_free(r);
    return rc;
}
