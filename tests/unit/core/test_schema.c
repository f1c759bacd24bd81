/* Tests of schema JSON parse/serialise/validation and the table-name rule. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include "core/alloc.h"
#include "core/schema.h"

static int parse(const char *s, mr_schema_t **out, mr_error_t *e) { return murr_schema_from_json(s, strlen(s), out, e); }

Test(schema, parse_keeps_order_and_defaults)
{
    mr_schema_t *s;
    mr_error_t e = {0};
    cr_assert_eq(parse("{\"key\":\"id\",\"extra\":1,\"columns\":{\"z\":{\"dtype\":\"float32\"},\"id\":{\"dtype\":\"utf8\","
                       "\"nullable\":false},\"a\":{\"dtype\":\"uint64\",\"strict\":false}}}", &s, &e), 0, "%s", e.message);
    cr_assert_eq(s->num_columns, 3);
    cr_assert_str_eq(s->columns[0].name, "z");
    cr_assert_str_eq(s->columns[1].name, "id");
    cr_assert_str_eq(s->columns[2].name, "a");
    cr_assert_eq(s->key_index, 1);
    cr_assert(s->columns[0].nullable);
    cr_assert(!s->columns[1].nullable);
    cr_assert(s->columns[0].strict);
    cr_assert(!s->columns[2].strict);
    cr_assert_eq(s->columns[2].dtype, MURR_UINT64);
    char *json = murr_schema_to_json(s);
    cr_assert_str_eq(json, "{\"key\":\"id\",\"columns\":{\"z\":{\"dtype\":\"float32\",\"nullable\":true},\"id\":{\"dtype\":"
                           "\"utf8\",\"nullable\":false},\"a\":{\"dtype\":\"uint64\",\"nullable\":true,\"strict\":false}}}");
    /* round trip */
    mr_schema_t *s2;
    cr_assert_eq(parse(json, &s2, &e), 0);
    char *json2 = murr_schema_to_json(s2);
    cr_assert_str_eq(json, json2);
    murr_free(json);
    murr_free(json2);
    mr_schema_free(s);
    mr_schema_free(s2);
}

Test(schema, every_dtype_name)
{
    const char *names[] = {"utf8", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                           "float32", "float64"};
    for (int i = 0; i < 12; i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "{\"key\":\"k\",\"columns\":{\"k\":{\"dtype\":\"utf8\"},\"c\":{\"dtype\":\"%s\"}}}", names[i]);
        mr_schema_t *s;
        mr_error_t e = {0};
        cr_assert_eq(parse(buf, &s, &e), 0, "%s: %s", names[i], e.message);
        cr_assert_eq((int)s->columns[1].dtype, i);
        mr_schema_free(s);
    }
}

struct bad_case {
    const char *json;
    int code;
    const char *needle;
};

Test(schema, refusals_name_the_offending_part)
{
    struct bad_case cases[] = {
        {"{\"key\":\"id\",\"columns\":{\"x\":{\"dtype\":\"float32\"}}}", MURR_EINVAL, "key column 'id' not in schema"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"int64\"}}}", MURR_EINVAL, "must be utf8, got int64"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"float16\"}}}", MURR_ESHAPE, "unknown dtype 'float16'"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\",\"size\":3}}}", MURR_ESHAPE, "unknown field `size`"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"nullable\":true}}}", MURR_ESHAPE, "missing field `dtype`"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\",\"nullable\":\"no\"}}}", MURR_ESHAPE, "columns.id.nullable"},
        {"{\"columns\":{}}", MURR_EINVAL, "schema has no columns"},
        {"{\"key\":\"id\"}", MURR_ESHAPE, "missing field `columns`"},
        {"{\"key\":5,\"columns\":{}}", MURR_ESHAPE, "key: expected a string"},
        {"[1,2]", MURR_ESHAPE, "expected a schema object"},
        {"{\"key\":\"id\",\"columns\":{}}", MURR_EINVAL, "not in schema"},
        {"{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\"},\"id\":{\"dtype\":\"utf8\"}}}", MURR_ESHAPE, "duplicate"},
        {"{\"key\":\"id\",\"columns\":{\"\":{\"dtype\":\"utf8\"},\"id\":{\"dtype\":\"utf8\"}}}", MURR_EINVAL, "empty name"},
        {"{\"key\":\"id\",", MURR_ESYNTAX, "line 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mr_schema_t *s = (mr_schema_t *)1;
        mr_error_t e = {0};
        int rc = parse(cases[i].json, &s, &e);
        cr_assert_eq(rc, cases[i].code, "case %zu (%s): rc %d msg %s", i, cases[i].json, rc, e.message);
        cr_assert_null(s);
        cr_assert(strstr(e.message, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, e.message, cases[i].needle);
    }
}

Test(schema, table_name_rule)
{
    const char *good[] = {"features", "a", "A-b_c.d", "0", "x.parquet"};
    const char *bad[] = {"", ".hidden", "..", "a/b", "a b", "caf\xc3\xa9", "a%2Fb", "x\\y"};
    mr_error_t e = {0};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(murr_table_name_check(good[i], strlen(good[i]), &e), 0, "%s", good[i]);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(murr_table_name_check(bad[i], strlen(bad[i]), &e), MURR_EINVAL, "%s", bad[i]);
        cr_assert(strstr(e.message, "[A-Za-z0-9_.-]") != NULL, "%s", e.message);
    }
    char longname[200];
    memset(longname, 'a', 129);
    cr_assert_eq(murr_table_name_check(longname, 129, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "129") != NULL, "%s", e.message);
    cr_assert_eq(murr_table_name_check(longname, 128, &e), 0);
}

Test(schema, make_helper)
{
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(s->num_columns, 2);
    cr_assert_eq(s->key_index, 0);
    cr_assert(!s->columns[0].nullable);
    cr_assert(s->columns[1].nullable);
    mr_error_t e = {0};
    cr_assert_eq(mr_schema_validate(s, &e), 0);
    mr_schema_t *c = mr_schema_clone(s);
    cr_assert_str_eq(c->columns[1].name, "score");
    mr_schema_free(s);
    mr_schema_free(c);
}

Test(schema, form3_parses_compound_keys_and_prints_back)
{
    const char *json = "{\"columns\":{\"u\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true},"
                       "\"x\":{\"dtype\":\"float32\",\"strict\":false},"
                       "\"i\":{\"dtype\":\"uint64\",\"key\":true,\"nullable\":false}}}";
    mr_schema_t *s;
    mr_error_t e = {0};
    cr_assert_eq(parse(json, &s, &e), 0, "%s", e.message);
    cr_assert_eq(s->form, MURR_SCHEMA_FORM3);
    cr_assert_eq(s->num_keys, 2);
    cr_assert_eq(s->key_index, 0);
    cr_assert(s->columns[0].key && !s->columns[1].key && s->columns[2].key);
    char *out = murr_schema_to_json(s);
    cr_assert_str_eq(out, "{\"columns\":{\"u\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true,\"strict\":true},"
                          "\"x\":{\"dtype\":\"float32\",\"nullable\":true,\"key\":false,\"strict\":false},"
                          "\"i\":{\"dtype\":\"uint64\",\"nullable\":false,\"key\":true,\"strict\":true}}}");
    murr_free(out);
    mr_schema_free(s);
    /* form 2 prints as form 2 (no per-column key, strict only when false) */
    cr_assert_eq(parse("{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\"},\"s\":{\"dtype\":\"int8\"}}}", &s, &e), 0);
    cr_assert_eq(s->form, MURR_SCHEMA_FORM2);
    out = murr_schema_to_json(s);
    cr_assert_str_eq(out, "{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\",\"nullable\":true},"
                          "\"s\":{\"dtype\":\"int8\",\"nullable\":true}}}");
    murr_free(out);
    mr_schema_free(s);
}

Test(schema, form3_refusals_name_the_column_and_rule)
{
    struct bad_case cases[] = {
        {"{\"columns\":{\"a\":{\"dtype\":\"utf8\"}}}", MURR_EINVAL, "at least one key column"},
        {"{\"columns\":{\"a\":{\"dtype\":\"utf8\",\"key\":true}}}", MURR_EINVAL, "key column 'a' cannot be nullable"},
        {"{\"columns\":{\"f\":{\"dtype\":\"float64\",\"key\":true,\"nullable\":false}}}", MURR_EINVAL,
         "key column 'f' has dtype float64"},
        {"{\"columns\":{\"b\":{\"dtype\":\"bool\",\"key\":true,\"nullable\":false}}}", MURR_EINVAL,
         "key column 'b' has dtype bool"},
        {"{\"columns\":{\"k\":{\"dtype\":\"int8\",\"key\":true,\"nullable\":false},\"_idx\":{\"dtype\":\"int8\"}}}",
         MURR_EINVAL, "column name '_idx' is reserved"},
        {"{\"columns\":{\"k\":{\"dtype\":\"int8\",\"key\":\"yes\"}}}", MURR_ESHAPE, "columns.k.key: expected a boolean"},
        {"{\"columns\":{\"k\":{\"dtype\":\"int8\",\"key\":true,\"nullable\":false}},\"extra\":1}", MURR_ESHAPE,
         "unknown field `extra`"},
        {"{\"key\":\"a\",\"columns\":{\"a\":{\"dtype\":\"utf8\"},\"b\":{\"dtype\":\"utf8\",\"key\":true}}}", MURR_EINVAL,
         "column 'b' is marked \"key\": true but the top-level key is 'a'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mr_schema_t *s = (mr_schema_t *)1;
        mr_error_t e = {0};
        int rc = parse(cases[i].json, &s, &e);
        cr_assert_eq(rc, cases[i].code, "case %zu (%s): rc %d msg %s", i, cases[i].json, rc, e.message);
        cr_assert_null(s);
        cr_assert(strstr(e.message, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, e.message, cases[i].needle);
    }
}
