/* schema.c - schema JSON (jansson) and validation; see schema.h. */
#include "core/schema.h"
#include "core/alloc.h"

#include <jansson.h>
#include <stdarg.h>
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

int mr_schema_validate(const mr_schema_t *s, mr_error_t *err)
{
    if (s->num_columns == 0)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has no columns (the key column must be listed in columns)");
    if (s->num_columns > MR_SCHEMA_MAX_COLUMNS)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has %d columns, the limit is %d", s->num_columns,
                          MR_SCHEMA_MAX_COLUMNS);
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *c = &s->columns[i];
        if (c->name_len == 0)
            return mr_err_set(err, MURR_EINVAL, "Table error: column %d has an empty name", i);
        if (c->name_len > MR_COLUMN_NAME_MAX)
            return mr_err_set(err, MURR_EINVAL, "Table error: column %d name is %zu bytes, the limit is %d", i,
                              c->name_len, MR_COLUMN_NAME_MAX);
        if ((unsigned)c->dtype >= MURR_DTYPE_COUNT)
            return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' has invalid dtype %d", c->name, (int)c->dtype);
        for (int32_t j = 0; j < i; j++)
            if (s->columns[j].name_len == c->name_len && memcmp(s->columns[j].name, c->name, c->name_len) == 0)
                return mr_err_set(err, MURR_EINVAL, "Table error: duplicate column '%s'", c->name);
    }
    if (s->key_index < 0 || s->key_index >= s->num_columns)
        return mr_err_set(err, MURR_EINVAL, "Table error: key column not in schema");
    const mr_column_schema_t *k = &s->columns[s->key_index];
    if (k->dtype != MURR_UTF8)
        return mr_err_set(err, MURR_EINVAL, "Table error: key column '%s' must be utf8, got %s", k->name,
                          murr_dtype_name(k->dtype));
    return 0;
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
                                  "int32, int64, uint8, uint16, uint32, uint64, float32, float64",
                                  name, json_string_value(v));
            have_dtype = true;
        } else if (strcmp(k, "nullable") == 0 || strcmp(k, "strict") == 0) {
            if (!json_is_boolean(v))
                return mr_err_set(err, MURR_ESHAPE, "columns.%s.%s: expected a boolean, got %s", name, k, json_kind(v));
            if (k[0] == 'n')
                col->nullable = json_is_true(v);
            else
                col->strict = json_is_true(v);
        } else {
            return mr_err_set(err, MURR_ESHAPE, "columns.%s: unknown field `%s`, expected `dtype`, `nullable` or `strict`",
                              name, k);
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
    json_t *cols = json_object_get(root, "columns");
    if (key == NULL)
        return mr_err_set(err, MURR_ESHAPE, "missing field `key`");
    if (!json_is_string(key))
        return mr_err_set(err, MURR_ESHAPE, "key: expected a string, got %s", json_kind(key));
    if (cols == NULL)
        return mr_err_set(err, MURR_ESHAPE, "missing field `columns`");
    if (!json_is_object(cols))
        return mr_err_set(err, MURR_ESHAPE, "columns: expected an object, got %s", json_kind(cols));
    size_t n = json_object_size(cols);
    if (n > MR_SCHEMA_MAX_COLUMNS)
        return mr_err_set(err, MURR_EINVAL, "Table error: schema has %zu columns, the limit is %d", n,
                          MR_SCHEMA_MAX_COLUMNS);
    mr_schema_t *s = mr_xcalloc(1, sizeof(*s));
    s->columns = mr_xcalloc(n ? n : 1, sizeof(mr_column_schema_t));
    s->key_index = -1;
    const char *name;
    json_t *cv;
    int rc = 0;
    json_object_foreach((json_t *)cols, name, cv) {
        mr_column_schema_t *col = &s->columns[s->num_columns];
        col->name_len = strlen(name);
        col->name = mr_xcalloc(1, col->name_len + 1);
        memcpy(col->name, name, col->name_len);
        s->num_columns++;
        if ((rc = parse_column(name, cv, col, err)) != 0)
            goto fail;
        if (strcmp(name, json_string_value(key)) == 0)
            s->key_index = s->num_columns - 1;
    }
    if (s->key_index < 0) {
        rc = mr_err_set(err, MURR_EINVAL, "Table error: key column '%s' not in schema", json_string_value(key));
        goto fail;
    }
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
    json_object_set_new(root, "key", json_stringn(s->columns[s->key_index].name, s->columns[s->key_index].name_len));
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *c = &s->columns[i];
        json_t *cv = json_object();
        json_object_set_new(cv, "dtype", json_string(murr_dtype_name(c->dtype)));
        json_object_set_new(cv, "nullable", json_boolean(c->nullable));
        if (!c->strict)
            json_object_set_new(cv, "strict", json_false());
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
    s->key_index = -1;
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
        if (murr_dtype_parse(dt, dl, &c->dtype) != 0)
            abort();
        if (strcmp(c->name, key) == 0)
            s->key_index = i;
    }
    va_end(ap);
    s->num_columns = n;
    return s;
}
