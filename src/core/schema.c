/* schema.c - schema JSON (jansson) and validation; see schema.h. */
#include "core/schema.h"
#include "core/alloc.h"
#include "core/dtype.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void mr_schema_free(mr_schema_t *s)
{
    if (s == NULL)
        return;
    for (int32_t i = 0; i < s->num_columns; i++)
        mr_free(s->columns[i].name);
    mr_free(s->columns);
    mr_free(s);
}

MURR_API void murr_schema_free(murr_schema *schema) { mr_schema_free(schema); }

int32_t mr_schema_find(const mr_schema_t *s, const char *name, size_t len)
{
    for (int32_t i = 0; i < s->num_columns; i++)
        if (s->columns[i].name_len == len && memcmp(s->columns[i].name, name, len) == 0)
            return i;
    return -1;
}

mr_schema_t *mr_schema_clone(const mr_schema_t *s)
{
    mr_schema_t *c = mr_xcalloc(1, sizeof(*c));
    *c = *s;
    c->columns = mr_xcalloc((size_t)(s->num_columns ? s->num_columns : 1), sizeof(mr_column_schema_t));
    for (int32_t i = 0; i < s->num_columns; i++) {
        c->columns[i] = s->columns[i];
        c->columns[i].name = mr_strndup(s->columns[i].name, s->columns[i].name_len);
        if (c->columns[i].name == NULL)
            abort();
    }
    return c;
}

MURR_API int murr_table_name_check(const char *name, size_t len, murr_error *err)
{
    if (len == 0 || len > MR_TABLE_NAME_MAX)
        return mr_err_set(err, MURR_EINVAL,
                          "Table error: invalid table name (length %zu): names are 1 to %d characters of "
                          "[A-Za-z0-9_.-], not starting with '.'",
                          len, MR_TABLE_NAME_MAX);
    if (name[0] == '.')
        return mr_err_set(err, MURR_EINVAL,
                          "Table error: invalid table name '%.*s': names must not start with '.' (allowed: "
                          "[A-Za-z0-9_.-]{1,%d})",
                          (int)len, name, MR_TABLE_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == '-';
        if (!ok)
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: invalid table name '%.*s': character 0x%02x at position %zu is not "
                              "allowed (allowed: [A-Za-z0-9_.-]{1,%d}, not starting with '.')",
                              (int)(len > 200 ? 200 : len), name, c, i, MR_TABLE_NAME_MAX);
    }
    return 0;
}

static bool is_key_dtype(murr_dtype t) { return t == MURR_UTF8 || mr_dtype_is_int(t); }

int mr_schema_validate(const mr_schema_t *s, mr_error_t *err)
{
    if (s->num_columns == 0)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has no columns (the key column must be listed in columns)");
    if (s->num_columns > MR_SCHEMA_MAX_COLUMNS)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has %d columns, the limit is %d", s->num_columns,
                          MR_SCHEMA_MAX_COLUMNS);
    if (s->form != MURR_SCHEMA_FORM2 && s->form != MURR_SCHEMA_FORM3)
        return mr_err_set(err, MURR_EINVAL, "Table error: unknown schema form %d (expected 2 or 3)", (int)s->form);
    int32_t nkeys = 0, first_key = -1;
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *c = &s->columns[i];
        if (c->name_len == 0)
            return mr_err_set(err, MURR_EINVAL, "Table error: column %d has an empty name", i);
        if (c->name_len > MR_COLUMN_NAME_MAX)
            return mr_err_set(err, MURR_EINVAL, "Table error: column %d name is %zu bytes, the limit is %d", i,
                              c->name_len, MR_COLUMN_NAME_MAX);
        if ((unsigned)c->dtype >= MURR_DTYPE_COUNT)
            return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' has invalid dtype %d", c->name, (int)c->dtype);
        if (!mr_dtype_is_list(c->dtype) && c->dim != 0)
            return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' has \"dim\": %d but dtype %s; only list dtypes "
                              "(list<float32>, list<float16>, list<int8>) take a dimension", c->name, c->dim,
                              murr_dtype_name(c->dtype));
        if (c->dim < 0 || c->dim > MURR_LIST_DIM_MAX)
            return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' has \"dim\": %d; a fixed dimension is 1 to %d",
                              c->name, c->dim, MURR_LIST_DIM_MAX);
        if (c->name_len == strlen(MURR_IDX_COLUMN) && memcmp(c->name, MURR_IDX_COLUMN, c->name_len) == 0)
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: column name '%s' is reserved (it is the request-position column of "
                              "sparse fetch answers)",
                              MURR_IDX_COLUMN);
        for (int32_t j = 0; j < i; j++)
            if (s->columns[j].name_len == c->name_len && memcmp(s->columns[j].name, c->name, c->name_len) == 0)
                return mr_err_set(err, MURR_EINVAL, "Table error: duplicate column '%s'", c->name);
        if (!c->key)
            continue;
        if (first_key < 0)
            first_key = i;
        nkeys++;
        if (s->form == MURR_SCHEMA_FORM2 && c->dtype != MURR_UTF8)
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: key column '%s' must be utf8, got %s (integer and compound keys need the "
                              "0.3 schema form: per-column \"key\": true, no top-level \"key\")",
                              c->name, murr_dtype_name(c->dtype));
        if (!is_key_dtype(c->dtype))
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: key column '%s' has dtype %s; key columns must be utf8 or an integer "
                              "dtype (int8..int64, uint8..uint64)",
                              c->name, murr_dtype_name(c->dtype));
        if (c->nullable && s->form == MURR_SCHEMA_FORM3)
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: key column '%s' cannot be nullable: declare it with \"nullable\": false",
                              c->name);
    }
    if (nkeys == 0)
        return mr_err_set(err, MURR_EINVAL,
                          "Table error: table must have at least one key column (mark one or more columns with "
                          "\"key\": true)");
    if (s->form == MURR_SCHEMA_FORM2 && nkeys != 1)
        return mr_err_set(err, MURR_EINVAL, "Table error: a schema with a top-level \"key\" has exactly one key column, got %d",
                          nkeys);
    if (s->key_index != first_key || s->num_keys != nkeys)
        return mr_err_set(err, MURR_EINVAL,
                          "Table error: schema key summary (first key %d, %d keys) disagrees with its columns "
                          "(first key %d, %d keys)",
                          s->key_index, s->num_keys, first_key, nkeys);
    return 0;
}

/* Sets key_index and num_keys from the columns' key flags. */
static void schema_index_keys(mr_schema_t *s)
{
    s->key_index = -1;
    s->num_keys = 0;
    for (int32_t i = 0; i < s->num_columns; i++) {
        if (!s->columns[i].key)
            continue;
        if (s->key_index < 0)
            s->key_index = i;
        s->num_keys++;
    }
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int parse_column(const char *name, json_t *cv, mr_column_schema_t *col, mr_error_t *err)
{
    if (!json_is_object(cv))
        return mr_err_set(err, MURR_ESHAPE, "columns.%s: expected an object, got %s", name, json_kind(cv));
    col->nullable = true;
    col->strict = true;
    col->key = false;
    bool have_dtype = false;
    const char *k;
    json_t *v;
    json_object_foreach(cv, k, v) {
        if (strcmp(k, "dtype") == 0) {
            if (!json_is_string(v))
                return mr_err_set(err, MURR_ESHAPE, "columns.%s.dtype: expected a string, got %s", name, json_kind(v));
            if (murr_dtype_parse(json_string_value(v), json_string_length(v), &col->dtype) != 0)
                return mr_err_set(err, MURR_ESHAPE,
                                  "columns.%s.dtype: unknown dtype '%s', expected one of utf8, bool, int8, int16, "
                                  "int32, int64, uint8, uint16, uint32, uint64, float32, float64, list<float32>, "
                                  "list<float16>, list<int8>%s",
                                  name, json_string_value(v),
                                  strncmp(json_string_value(v), "list<list<", 10) == 0
                                      ? " (lists nest one level deep: a list's elements are float32, float16 or int8)"
                                      : "");
            have_dtype = true;
        } else if (strcmp(k, "dim") == 0) {
            if (!json_is_integer(v))
                return mr_err_set(err, MURR_ESHAPE, "columns.%s.dim: expected an integer, got %s", name, json_kind(v));
            json_int_t d = json_integer_value(v);
            if (d < 1 || d > MURR_LIST_DIM_MAX)
                return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' has \"dim\": %lld; a fixed dimension is 1 "
                                  "to %d", name, (long long)d, MURR_LIST_DIM_MAX);
            col->dim = (int32_t)d;
        } else if (strcmp(k, "nullable") == 0 || strcmp(k, "strict") == 0 || strcmp(k, "key") == 0) {
            if (!json_is_boolean(v))
                return mr_err_set(err, MURR_ESHAPE, "columns.%s.%s: expected a boolean, got %s", name, k, json_kind(v));
            bool *dst = k[0] == 'n' ? &col->nullable : k[0] == 's' ? &col->strict : &col->key;
            *dst = json_is_true(v);
        } else {
            return mr_err_set(err, MURR_ESHAPE,
                              "columns.%s: unknown field `%s`, expected `dtype`, `dim`, `nullable`, `key` or `strict`", name, k);
        }
    }
    if (!have_dtype)
        return mr_err_set(err, MURR_ESHAPE, "columns.%s: missing field `dtype`", name);
    return 0;
}

int mr_schema_from_jansson(const json_t *root, mr_schema_t **out, mr_error_t *err)
{
    *out = NULL;
    if (!json_is_object(root))
        return mr_err_set(err, MURR_ESHAPE, "expected a schema object, got %s", json_kind(root));
    json_t *key = json_object_get(root, "key");
    if (key == NULL) { /* form 3 is strict about members (0.3.1); form 2 ignores others (0.2.1) */
        const char *member;
        json_t *mv;
        json_object_foreach((json_t *)root, member, mv) {
            if (strcmp(member, "columns") != 0)
                return mr_err_set(err, MURR_ESHAPE, "unknown field `%s`, expected `columns`", member);
        }
    }
    json_t *cols = json_object_get(root, "columns");
    if (key != NULL && !json_is_string(key))
        return mr_err_set(err, MURR_ESHAPE, "key: expected a string, got %s", json_kind(key));
    if (cols == NULL)
        return mr_err_set(err, MURR_ESHAPE, "missing field `columns`");
    if (!json_is_object(cols))
        return mr_err_set(err, MURR_ESHAPE, "columns: expected an object, got %s", json_kind(cols));
    size_t n = json_object_size(cols);
    if (n > MR_SCHEMA_MAX_COLUMNS)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has %zu columns, the limit is %d", n,
                          MR_SCHEMA_MAX_COLUMNS);
    /* sized by the request body: fails the request, never aborts the process */
    mr_schema_t *s = mr_calloc(1, sizeof(*s));
    if (s == NULL || (s->columns = mr_calloc(n ? n : 1, sizeof(mr_column_schema_t))) == NULL) {
        mr_free(s);
        return mr_err_set(err, MURR_ENOMEM, "out of memory for a schema of %zu columns", n);
    }
    s->form = key ? MURR_SCHEMA_FORM2 : MURR_SCHEMA_FORM3;
    bool key_found = false;
    const char *name;
    json_t *cv;
    int rc = 0;
    json_object_foreach((json_t *)cols, name, cv) {
        mr_column_schema_t *col = &s->columns[s->num_columns];
        col->name_len = strlen(name);
        if ((col->name = mr_strndup(name, col->name_len)) == NULL) {
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory for the name of column %d (%zu bytes)", s->num_columns,
                            col->name_len);
            goto fail;
        }
        s->num_columns++;
        if ((rc = parse_column(name, cv, col, err)) != 0)
            goto fail;
        if (key == NULL)
            continue;
        bool is_key = strcmp(name, json_string_value(key)) == 0;
        if (col->key && !is_key) {
            rc = mr_err_set(err, MURR_EINVAL,
                            "Table error: column '%s' is marked \"key\": true but the top-level key is '%s'; use "
                            "one form: a top-level \"key\" (0.2) or per-column \"key\" flags (0.3)",
                            name, json_string_value(key));
            goto fail;
        }
        col->key = is_key;
        key_found |= is_key;
    }
    if (key != NULL && !key_found) {
        rc = mr_err_set(err, MURR_EINVAL, "Table error: key column '%s' not in schema", json_string_value(key));
        goto fail;
    }
    schema_index_keys(s);
    if ((rc = mr_schema_validate(s, err)) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    mr_schema_free(s);
    return rc;
}

MURR_API int murr_schema_from_json(const char *json, size_t len, murr_schema **out, murr_error *err)
{
    json_error_t jerr;
    *out = NULL;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return mr_err_set(err, MURR_ESHAPE, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return mr_err_set(err, MURR_ESYNTAX, "%s at line %d column %d (byte %d)", jerr.text, jerr.line, jerr.column,
                          jerr.position);
    }
    int rc = mr_schema_from_jansson(root, out, err);
    json_decref(root);
    return rc;
}

json_t *mr_schema_to_jansson(const mr_schema_t *s)
{
    json_t *root = json_object();
    json_t *cols = json_object();
    bool form2 = s->form == MURR_SCHEMA_FORM2;
    if (form2)
        json_object_set_new(root, "key", json_stringn(s->columns[s->key_index].name, s->columns[s->key_index].name_len));
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *c = &s->columns[i];
        json_t *cv = json_object();
        json_object_set_new(cv, "dtype", json_string(murr_dtype_name(c->dtype)));
        if (c->dim > 0)
            json_object_set_new(cv, "dim", json_integer(c->dim));
        json_object_set_new(cv, "nullable", json_boolean(c->nullable));
        if (!form2)
            json_object_set_new(cv, "key", json_boolean(c->key));
        if (!form2 || !c->strict)
            json_object_set_new(cv, "strict", json_boolean(c->strict));
        json_object_set_new(cols, c->name, cv);
    }
    json_object_set_new(root, "columns", cols);
    return root;
}

MURR_API char *murr_schema_to_json(const murr_schema *schema)
{
    json_t *v = mr_schema_to_jansson(schema);
    char *txt = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (txt == NULL)
        return NULL;
    char *out = mr_strndup(txt, strlen(txt));
    free(txt);
    return out;
}

mr_schema_t *mr_schema_make(const char *key, ...)
{
    va_list ap;
    int n = 0;
    va_start(ap, key);
    while (va_arg(ap, const char *) != NULL)
        n++;
    va_end(ap);
    mr_schema_t *s = mr_xcalloc(1, sizeof(*s));
    s->columns = mr_xcalloc((size_t)(n ? n : 1), sizeof(mr_column_schema_t));
    s->form = strchr(key, ',') ? MURR_SCHEMA_FORM3 : MURR_SCHEMA_FORM2;
    va_start(ap, key);
    for (int i = 0; i < n; i++) {
        const char *spec = va_arg(ap, const char *);
        const char *colon = strchr(spec, ':');
        mr_column_schema_t *c = &s->columns[i];
        size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
        c->name = mr_strndup(spec, nl);
        c->name_len = nl;
        const char *dt = colon ? colon + 1 : "utf8";
        size_t dl = strlen(dt);
        c->nullable = dl > 0 && dt[dl - 1] == '?';
        c->strict = true;
        if (c->nullable)
            dl--;
        const char *bracket = memchr(dt, '[', dl); /* "list<float32>[768]": fixed size */
        if (bracket != NULL) {
            c->dim = atoi(bracket + 1);
            dl = (size_t)(bracket - dt);
        }
        if (murr_dtype_parse(dt, dl, &c->dtype) != 0)
            abort();
        for (const char *k = key; *k;) { /* key: one name, or a comma-separated list */
            const char *comma = strchr(k, ',');
            size_t kl = comma ? (size_t)(comma - k) : strlen(k);
            if (kl == nl && memcmp(k, c->name, nl) == 0)
                c->key = true;
            k += kl + (comma != NULL);
        }
    }
    va_end(ap);
    s->num_columns = n;
    schema_index_keys(s);
    return s;
}
