/* test_http_conn.c - the HTTP connection code (loop.c) without sockets to a client or
 * threads, through detached mode: pipelining in order, chunked bodies, Expect: 100-continue,
 * 413 from Content-Length, 405/404, HEAD, and input arriving one byte at a time. The same
 * inputs seed the fuzz driver (fuzz/corpus/http). */
#include <criterion/criterion.h>
#include <string.h>

#include "conf/config.h"
#include "core/schema.h"
#include "server/http_internal.h"
#include "test_util.h"

static murr_db *db;
static mr_server_t *srv;
static char *dir;

static void setup(void)
{
    dir = tu_tempdir("http-conn");
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    mr_config_t cfg;
    mr_config_defaults(&cfg);
    cfg.http.max_payload_size = 1000;
    srv = mr_server_new_detached(&cfg, db);
}

static void teardown(void)
{
    mr_server_free_detached(srv);
    murr_close(db);
    tu_rmtree(dir);
}

TestSuite(http_conn, .init = setup, .fini = teardown, .timeout = 60);

static char *feed(const char *in, size_t split)
{
    mr_buf_t out;
    mr_buf_init(&out);
    cr_assert_eq(mr_server_feed_detached(srv, (const uint8_t *)in, strlen(in), split, &out), 0);
    mr_buf_append_byte(&out, 0);
    return (char *)out.data;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static const char PIPELINED[] =
    "PUT /api/v1/table/t/write HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n"
    "{\"columns\":{\"id\":[\"a\"],\"score\":[1.5]}}"
    "POST /api/v1/table/t/fetch HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n"
    "{\"keys\":[\"a\"],\"columns\":[\"score\"]}"
    "HEAD /health HTTP/1.1\r\n\r\n"
    "GET /api/v1/table/t/fetch HTTP/1.1\r\n\r\n"
    "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n";

Test(http_conn, pipelined_in_order_whole_and_byte_by_byte)
{
    for (size_t split = 0; split <= 1; split++) {
        char *o = feed(PIPELINED, split);
        const char *w = strstr(o, "HTTP/1.1 200"), *f = strstr(o, "{\"columns\":{\"score\":[1.5]}}"),
                   *h = strstr(o, "text/plain"), *m = strstr(o, "HTTP/1.1 405"), *n = strstr(o, "HTTP/1.1 404");
        cr_assert(w && f && h && m && n, "split %zu: %s", split, o);
        cr_assert(w < f && f < h && h < m && m < n, "out of order: %s", o);
        cr_assert(strstr(o, "Allow: POST\r\n"), "%s", o);
        cr_assert_eq(count(o, "HTTP/1.1 "), 5, "%s", o);
        cr_assert_null(strstr(o, "\r\n\r\nOK"), "HEAD must not carry a body: %s", o);
        free(o);
    }
}

Test(http_conn, chunked_body_and_expect_continue)
{
    char *o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"columns\":{\"id\"\r\n"
                   "16\r\n:[\"c\"],\"score\":[2.5]}}\r\n0\r\n\r\n", 3);
    cr_assert(strncmp(o, "HTTP/1.1 200 OK", 15) == 0, "%s", o);
    free(o);
    o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
             "Content-Length: 38\r\n\r\n{\"columns\":{\"id\":[\"d\"],\"score\":[3.5]}}", 0);
    cr_assert(strncmp(o, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", 40) == 0, "%s", o);
    free(o);
}

Test(http_conn, limits_answer_before_the_body)
{
    char *o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n", 0);
    cr_assert(strncmp(o, "HTTP/1.1 413 ", 13) == 0, "%s", o);
    cr_assert(strstr(o, "max_payload_size (1000 bytes)"), "%s", o);
    cr_assert_null(strstr(o, "100 Continue"), "no 100 for a body that will be refused: %s", o);
    free(o);
    o = feed("GET /health HTTP/3.0\r\n\r\n", 0);
    cr_assert(strncmp(o, "HTTP/1.1 505 ", 13) == 0, "%s", o);
    free(o);
    o = feed("BREW /x HTCPCP/1.0\r\n\r\n", 0);
    cr_assert(strncmp(o, "HTTP/1.1 400 ", 13) == 0, "%s", o);
    free(o);
}

static const char VERSIONS[] =
    "PUT /api/v1/table/t/write?mode=replace HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n"
    "{\"columns\":{\"id\":[\"r\"],\"score\":[4.5]}}"
    "GET /api/v1/table/t/versions HTTP/1.1\r\n\r\n"
    "POST /api/v1/table/t/rollback?version=1 HTTP/1.1\r\n\r\n"
    "POST /api/v1/table/t/rollback HTTP/1.1\r\n\r\n"
    "PUT /api/v1/table/t/write?x&mode=bogus HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n"
    "{\"columns\":{\"id\":[\"r\"],\"score\":[4.5]}}"
    "POST /api/v1/table/t/rollback?version=2 HTTP/1.1\r\nContent-Length: 14\r\nConnection: close\r\n\r\n"
    "{\"version\": 2}";

Test(http_conn, replace_versions_and_rollback_whole_and_byte_by_byte)
{
    for (size_t split = 0; split <= 1; split++) {
        murr_error e = {0};
        if (split > 0) { /* a fresh table: version 1, nothing kept */
            cr_assert_eq(murr_drop_table(db, "t", &e), 0, "%s", e.message);
            mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
            cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
            mr_schema_free(s);
        }
        char *o = feed(VERSIONS, split);
        cr_assert_eq(count(o, "HTTP/1.1 "), 6, "split %zu: %s", split, o);
        const char *w = strstr(o, "HTTP/1.1 200"), *v = strstr(o, "{\"table\":\"t\",\"serving\":"),
                   *r1 = strstr(o, "{\"table\":\"t\",\"serving\":1}"), *c = strstr(o, "HTTP/1.1 409"),
                   *b = strstr(o, "HTTP/1.1 400"), *r2 = strstr(o, "{\"table\":\"t\",\"serving\":2}");
        cr_assert(w && v && r1 && c && b && r2, "split %zu: %s", split, o);
        cr_assert(w < v && v < r1 && r1 < c && c < b && b < r2, "out of order: %s", o);
        cr_assert(strstr(v, "\"serving\":2,\"versions\":[{\"id\":2,\"rows\":1,"), "%s", o);
        cr_assert(strstr(o, "\"source\":\"http\",\"serving\":true}"), "%s", o);
        cr_assert(strstr(o, "unknown write mode 'bogus'"), "%s", o);
        free(o);
    }
}

static bool query(const char *url, const char *name, char *out, size_t cap)
{
    mr_req_t req = {0};
    req.url = (char *)url;
    req.url_len = strlen(url);
    mr_slice_t v;
    if (!mr_http_query(&req, name, &v))
        return false;
    snprintf(out, cap, "%.*s", (int)v.len, v.ptr);
    return true;
}

Test(http_conn, query_parameters)
{
    char v[64];
    cr_assert(query("/w?mode=replace", "mode", v, sizeof(v)) && strcmp(v, "replace") == 0);
    cr_assert(query("/w?a=1&mode=upsert&mode=replace", "mode", v, sizeof(v)) && strcmp(v, "upsert") == 0,
              "the first of repeated parameters");
    cr_assert(query("/w?mode", "mode", v, sizeof(v)) && strcmp(v, "") == 0);
    cr_assert(query("/w?mode=&x=2", "mode", v, sizeof(v)) && strcmp(v, "") == 0);
    cr_assert(query("/w?x=a=b", "x", v, sizeof(v)) && strcmp(v, "a=b") == 0);
    cr_assert(!query("/w?modes=replace&xmode=1", "mode", v, sizeof(v)));
    cr_assert(!query("/w?a=1#mode=replace", "mode", v, sizeof(v)), "a fragment is not the query");
    cr_assert(query("/w?mode=replace#f", "mode", v, sizeof(v)) && strcmp(v, "replace") == 0);
    cr_assert(!query("/w", "mode", v, sizeof(v)));
    cr_assert(!query("/w?", "mode", v, sizeof(v)));
    cr_assert(!query("/w?&&", "mode", v, sizeof(v)));
}

/* http-parser (non-strict) takes any two bytes after chunk data for the CRLF: ours checks
 * them, also when they arrive in a later read than the data (split 1). */
Test(http_conn, chunk_data_without_crlf_is_400)
{
    for (size_t split = 0; split <= 1; split++) {
        char *o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Type: application/json\r\n\r\n5\r\n{\"col\r\n4\r\numns\r\n3\r\n\":{XX0\r\n\r\n",
                       split);
        cr_assert(strncmp(o, "HTTP/1.1 400 ", 13) == 0, "split %zu: %s", split, o);
        cr_assert(strstr(o, "the 3 bytes of chunk data are followed by 0x58 instead of CRLF"), "%s", o);
        free(o);
        o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Type: application/json\r\n\r\n5\r\n{\"col\r\n4\r\numns\n\n0\r\n\r\n",
                 split);
        cr_assert(strncmp(o, "HTTP/1.1 400 ", 13) == 0, "split %zu: %s", split, o);
        cr_assert(strstr(o, "the 4 bytes of chunk data are followed by 0x0a instead of CRLF"), "%s", o);
        free(o);
        /* well framed: accepted */
        o = feed("PUT /api/v1/table/t/write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Type: application/json\r\n\r\n"
                 "26\r\n{\"columns\":{\"id\":[\"c\"],\"score\":[1.5]}}\r\n0\r\n\r\n",
                 split);
        cr_assert(strncmp(o, "HTTP/1.1 200 ", 13) == 0, "split %zu: %s", split, o);
        free(o);
    }
}
