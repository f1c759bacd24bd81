/* The `tables:` section of the configuration: sources, durations, keys, columns, and
 * errors that name file:line and the key. */
#include <criterion/criterion.h>
#include <string.h>

#include "conf/tables.h"
#include "core/log.h"

static int parse(const char *text, mr_follow_config_t **v, size_t *n, mr_error_t *e)
{
    mr_log_set_level(MR_LOG_ERROR);
    return mr_tables_conf_parse(text, strlen(text), "t.yaml", v, n, e);
}

Test(tables, s3_and_local_sources_parse)
{
    const char *y = "server: {http: {port: 1}}\n"
                    "tables:\n"
                    "  user_features:\n"
                    "    source:\n"
                    "      s3: {bucket: b, prefix: p/, region: eu-west-1, endpoint: 'http://127.0.0.1:9000',\n"
                    "           path_style: false, timeout_ms: 1500, max_retries: 0}\n"
                    "    poll_interval: 5m\n"
                    "    key: [user_id]\n"
                    "    columns:\n"
                    "      user_id: {dtype: utf8}\n"
                    "      rate: {dtype: float32}\n"
                    "  other:\n"
                    "    source: {local: {path: /data/o}}\n"
                    "    poll_interval: 250ms\n"
                    "    key: id\n";
    mr_follow_config_t *v;
    size_t n;
    mr_error_t e = {0};
    cr_assert_eq(parse(y, &v, &n, &e), 0, "%s", e.message);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].table, "user_features");
    cr_assert_eq(v[0].kind, MR_SOURCE_S3);
    cr_assert_str_eq(v[0].s3.bucket, "b");
    cr_assert_str_eq(v[0].s3.region, "eu-west-1");
    cr_assert_str_eq(v[0].s3.endpoint, "http://127.0.0.1:9000");
    cr_assert_eq(v[0].s3.timeout_ms, 1500);
    cr_assert_eq(v[0].s3.max_retries, 0);
    cr_assert(!v[0].s3.path_style);
    cr_assert_eq(v[0].poll_interval_ms, 300000);
    cr_assert_not_null(v[0].schema);
    cr_assert_eq(v[0].schema->num_columns, 2);
    cr_assert(v[0].schema->columns[0].key && !v[0].schema->columns[0].nullable, "key column, non-nullable");
    cr_assert(!v[0].schema->columns[1].key && v[0].schema->columns[1].nullable);
    cr_assert_eq(v[1].kind, MR_SOURCE_LOCAL);
    cr_assert_str_eq(v[1].local_path, "/data/o");
    cr_assert_eq(v[1].poll_interval_ms, 250);
    cr_assert_eq(v[1].nkeys, 1);
    cr_assert_str_eq(v[1].key[0], "id");
    cr_assert_null(v[1].schema);
    mr_tables_conf_free(v, n);
}

Test(tables, durations)
{
    uint64_t ms;
    cr_assert_eq(mr_parse_duration_ms("250ms", &ms), 0);
    cr_assert_eq(ms, 250);
    cr_assert_eq(mr_parse_duration_ms("30s", &ms), 0);
    cr_assert_eq(ms, 30000);
    cr_assert_eq(mr_parse_duration_ms("1.5h", &ms), 0);
    cr_assert_eq(ms, 5400000);
    cr_assert_eq(mr_parse_duration_ms("7", &ms), 0);
    cr_assert_eq(ms, 7000);
    cr_assert_eq(mr_parse_duration_ms("5 minutes", &ms), -1);
    cr_assert_eq(mr_parse_duration_ms("-1s", &ms), -1);
    cr_assert_eq(mr_parse_duration_ms("", &ms), -1);
}

static void expect_error(const char *y, const char *a, const char *b)
{
    mr_follow_config_t *v;
    size_t n;
    mr_error_t e = {0};
    cr_assert_neq(parse(y, &v, &n, &e), 0, "accepted: %s", y);
    cr_assert(strstr(e.message, a) != NULL, "'%s' not in: %s", a, e.message);
    cr_assert(b == NULL || strstr(e.message, b) != NULL, "'%s' not in: %s", b, e.message);
}

Test(tables, errors_name_line_and_key)
{
    expect_error("tables:\n  t:\n    source: {local: {path: /x}}\n    key: [id]\n    pollinterval: 5m\n", "t.yaml:5",
                 "tables.t.pollinterval");
    expect_error("tables:\n  t:\n    source: {ftp: {}}\n    key: [id]\n", "t.yaml:3", "ftp");
    expect_error("tables:\n  t:\n    key: [id]\n", "source is required", NULL);
    expect_error("tables:\n  t:\n    source: {s3: {prefix: p}}\n    key: [id]\n", "bucket is required", NULL);
    expect_error("tables:\n  t:\n    source: {s3: {bucket: b, timeout_ms: soon}}\n", "timeout_ms", "soon");
    expect_error("tables:\n  t:\n    source: {local: {path: /x}}\n    poll_interval: often\n", "poll_interval",
                 "often");
    expect_error("tables:\n  t:\n    source: {local: {path: /x}}\n    columns: {a: {dtype: utf8, color: red}}\n",
                 "columns.a.color", NULL);
    expect_error("tables:\n  t:\n    source: {local: {path: /x}}\n    columns: {a: {dtype: float16}}\n", "columns",
                 "float16");
    expect_error("tables:\n  .hidden:\n    source: {local: {path: /x}}\n", "'.hidden'", NULL);
    expect_error("tables:\n  t:\n    source: {local: {path: /x}, s3: {bucket: b}}\n", "one source", NULL);
    expect_error("tables: [a, b]\n", "expected a mapping", NULL);
}

Test(tables, no_section_is_no_tables)
{
    mr_follow_config_t *v;
    size_t n = 9;
    mr_error_t e = {0};
    cr_assert_eq(parse("server: {http: {port: 8080}}\n", &v, &n, &e), 0, "%s", e.message);
    cr_assert_eq(n, 0);
    mr_tables_conf_free(v, n);
}
