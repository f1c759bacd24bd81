/* Tests of the bounded S3 XML parsers (src/loader/s3_xml.c): ListObjectsV2 pages as AWS
 * and moto write them (pagination, entities, empty listings, folder placeholders), error
 * documents, and malformed or hostile inputs, each of which must be MURR_ECORRUPT with a
 * message naming what was wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "loader/s3_xml.h"

static int parse(const char *xml, const char *prefix, mr_object_list_t *l, mr_s3_list_page_t *pg, mr_error_t *e)
{
    return mr_s3_xml_parse_list(xml, strlen(xml), prefix, l, pg, e);
}

/* The shape of a real AWS ListObjectsV2 answer (truncated page with a token). */
static const char *aws_page =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>tables/t/</Prefix>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>tables/t/dt=2026-01-19/part-0.parquet</Key>"
    "<LastModified>2026-01-19T10:00:00.000Z</LastModified>"
    "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>434234</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>tables/t/dt=2026-01-19/_SUCCESS</Key>"
    "<LastModified>2026-01-19T10:00:01.000Z</LastModified>"
    "<ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag><Size>0</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "</ListBucketResult>";

Test(s3_xml, aws_page_with_token)
{
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(aws_page, "tables/t/", &l, &pg, &e), 0, "%s", e.message);
    cr_assert(pg.truncated);
    cr_assert_str_eq(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    cr_assert_eq(pg.n_contents, 2);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.v[0].key, "dt=2026-01-19/part-0.parquet");
    cr_assert_eq(l.v[0].size, 434234);
    cr_assert_str_eq(l.v[0].etag, "9b2cf535f27731c974343645a3985328");
    cr_assert_str_eq(l.v[1].key, "dt=2026-01-19/_SUCCESS");
    cr_assert_eq(l.v[1].size, 0);
    cr_assert_str_eq(l.v[1].etag, "d41d8cd98f00b204e9800998ecf8427e");
    mr_object_list_free(&l);
}

Test(s3_xml, last_page_entities_multipart_etag_and_big_size)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>\n"
        "  <IsTruncated>false</IsTruncated>\n"
        "  <Contents>\n    <Key>a &amp; b/&lt;x&gt; caf\xc3\xa9 &#x41;.parquet</Key>\n"
        "    <ETag>&quot;&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\n"
        "    <Size>18446744073709551615</Size>\n  </Contents>\n"
        "  <Contents><Key>b</Key><Size>1</Size></Contents>\n"
        "</ListBucketResult>\n";
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(xml, "", &l, &pg, &e), 0, "%s", e.message);
    cr_assert(!pg.truncated);
    cr_assert_str_eq(pg.next_token, "");
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.v[0].key, "a & b/<x> caf\xc3\xa9 A.parquet");
    cr_assert_eq(l.v[0].size, UINT64_MAX);
    cr_assert_str_eq(l.v[0].etag, "3858f62230ac3c915f300c664312c11f-9");
    cr_assert_str_eq(l.v[1].etag, ""); /* no ETag element */
    mr_object_list_free(&l);
}

Test(s3_xml, double_escaped_quotes_are_stripped)
{
    const char *xml = "<ListBucketResult><Contents><Key>k</Key><Size>5</Size>"
                      "<ETag>&amp;quot;abc&amp;quot;</ETag></Contents></ListBucketResult>";
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(xml, NULL, &l, &pg, &e), 0, "%s", e.message);
    cr_assert_str_eq(l.v[0].etag, "abc");
    mr_object_list_free(&l);
}

Test(s3_xml, empty_listing)
{
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
                      "<Prefix>nothing/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
                      "<IsTruncated>false</IsTruncated></ListBucketResult>";
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(xml, "nothing/", &l, &pg, &e), 0, "%s", e.message);
    cr_assert_eq(l.n, 0);
    cr_assert_eq(pg.n_contents, 0);
    cr_assert(!pg.truncated);
}

Test(s3_xml, folder_placeholders_and_the_prefix_itself_are_skipped)
{
    const char *xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                      "<Contents><Key>p/</Key><Size>0</Size></Contents>"
                      "<Contents><Key>p/sub/</Key><Size>0</Size></Contents>"
                      "<Contents><Key>p/sub/x</Key><Size>3</Size></Contents></ListBucketResult>";
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(xml, "p/", &l, &pg, &e), 0, "%s", e.message);
    cr_assert_eq(pg.n_contents, 3);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.v[0].key, "sub/x");
    mr_object_list_free(&l);
}

Test(s3_xml, key_of_1024_bytes_is_kept_1025_is_corrupt)
{
    char key[1100];
    memset(key, 'k', sizeof(key));
    char *xml = malloc(2000);
    for (int n = 1024; n <= 1025; n++) {
        snprintf(xml, 2000, "<ListBucketResult><Contents><Key>%.*s</Key><Size>1</Size></Contents></ListBucketResult>",
                 n, key);
        mr_object_list_t l = {0};
        mr_s3_list_page_t pg;
        mr_error_t e = {0};
        int rc = parse(xml, "", &l, &pg, &e);
        if (n == 1024) {
            cr_assert_eq(rc, 0, "%s", e.message);
            cr_assert_eq(strlen(l.v[0].key), 1024);
        } else {
            cr_assert_eq(rc, MURR_ECORRUPT);
            cr_assert(strstr(e.message, "Key longer than 1024 bytes"), "%s", e.message);
        }
        mr_object_list_free(&l);
    }
    free(xml);
}

/* A key split by expat into several text pieces (an entity in the middle) is still bounded. */
Test(s3_xml, long_key_in_pieces_is_corrupt)
{
    char *xml = malloc(8000);
    int n = snprintf(xml, 8000, "<ListBucketResult><Contents><Key>");
    for (int i = 0; i < 600; i++)
        n += snprintf(xml + n, 8000 - (size_t)n, "a&amp;");
    snprintf(xml + n, 8000 - (size_t)n, "</Key><Size>1</Size></Contents></ListBucketResult>");
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    cr_assert_eq(parse(xml, "", &l, &pg, &e), MURR_ECORRUPT);
    cr_assert(strstr(e.message, "Key longer than 1024"), "%s", e.message);
    free(xml);
}

static void expect_corrupt(const char *xml, const char *prefix, const char *needle)
{
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    mr_error_t e = {0};
    int rc = parse(xml, prefix, &l, &pg, &e);
    mr_object_list_free(&l);
    cr_assert_eq(rc, MURR_ECORRUPT, "rc %d for %s", rc, xml);
    cr_assert(strstr(e.message, needle), "message '%s' lacks '%s'", e.message, needle);
}

Test(s3_xml, bad_sizes)
{
    const char *bad[] = {"-1", "12a", "", " 1", "1.5", "0x10", "18446744073709551616", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char xml[300];
        snprintf(xml, sizeof(xml), "<ListBucketResult><Contents><Key>k%zu</Key><Size>%s</Size></Contents>"
                 "</ListBucketResult>", i, bad[i]);
        char needle[64];
        snprintf(needle, sizeof(needle), "of key 'k%zu' is not a decimal number", i);
        expect_corrupt(xml, "", needle);
    }
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key><Size>123456789012345678901234</Size></Contents>"
                   "</ListBucketResult>", "", "Size longer than 23 bytes");
}

Test(s3_xml, malformed_documents)
{
    expect_corrupt("", "", "not well-formed XML");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key>", "", "not well-formed XML");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Size></Contents></ListBucketResult>", "",
                   "not well-formed XML");
    expect_corrupt("<ListBucketResult></ListBucketResult><x/>", "", "not well-formed XML");
    expect_corrupt("<ListAllMyBucketsResult/>", "", "root element is <ListAllMyBucketsResult>");
    expect_corrupt("<Error><Code>InternalError</Code></Error>", "", "not <ListBucketResult>");
    expect_corrupt("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "",
                   "Contents #1 has no <Key>");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", "",
                   "(key 'k') has no <Size>");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key><Key>j</Key><Size>1</Size></Contents>"
                   "</ListBucketResult>", "", "two <Key> elements");
    expect_corrupt("<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size></Contents></ListBucketResult>", "",
                   "element <b> inside <Key>");
    expect_corrupt("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>", "",
                   "IsTruncated is 'yes'");
    expect_corrupt("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "",
                   "no NextContinuationToken");
    expect_corrupt("<ListBucketResult><Contents><Key>other/k</Key><Size>1</Size></Contents></ListBucketResult>",
                   "p/", "key 'other/k' is outside the prefix 'p/'");
    char etag[300];
    memset(etag, 'e', 90);
    snprintf(etag + 90, sizeof(etag) - 90, "</ETag></Contents></ListBucketResult>");
    char xml[600];
    snprintf(xml, sizeof(xml), "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><ETag>%s", etag);
    expect_corrupt(xml, "", "ETag of key 'k' is 90 bytes, more than 79");
}

Test(s3_xml, hostile_documents)
{
    /* billion laughs: refused at the DOCTYPE, before any expansion */
    expect_corrupt("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                   "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
                   "<ListBucketResult><Contents><Key>&lol2;</Key><Size>1</Size></Contents></ListBucketResult>",
                   "", "DOCTYPE");
    /* external entity */
    expect_corrupt("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><ListBucketResult>&e;"
                   "</ListBucketResult>", "", "DOCTYPE");
    /* undeclared entity, NUL character reference */
    expect_corrupt("<ListBucketResult><Contents><Key>&nope;</Key></Contents></ListBucketResult>", "",
                   "not well-formed XML");
    expect_corrupt("<ListBucketResult><Contents><Key>&#0;</Key></Contents></ListBucketResult>", "",
                   "not well-formed XML");
    /* deep nesting */
    char *deep = malloc(100000);
    size_t n = (size_t)snprintf(deep, 100000, "<ListBucketResult>");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(deep + n, 100000 - n, "<a>");
    expect_corrupt(deep, "", "nested deeper than 32");
    free(deep);
    /* a continuation token over the bound */
    char *tok = malloc(10000);
    n = (size_t)snprintf(tok, 10000, "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>");
    memset(tok + n, 't', 5000);
    snprintf(tok + n + 5000, 10000 - n - 5000, "</NextContinuationToken></ListBucketResult>");
    expect_corrupt(tok, "", "NextContinuationToken longer than 4096 bytes");
    free(tok);
}

Test(s3_xml, error_documents)
{
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
                      "<Key>tables/t/x.parquet</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    mr_s3_error_doc_t d;
    mr_error_t e = {0};
    cr_assert_eq(mr_s3_xml_parse_error(xml, strlen(xml), &d, &e), 0, "%s", e.message);
    cr_assert_str_eq(d.code, "NoSuchKey");
    cr_assert_str_eq(d.message, "The specified key does not exist.");

    const char *slow = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate &amp; retry."
                       "</Message></Error>";
    cr_assert_eq(mr_s3_xml_parse_error(slow, strlen(slow), &d, &e), 0);
    cr_assert_str_eq(d.code, "SlowDown");
    cr_assert_str_eq(d.message, "Please reduce your request rate & retry.");

    /* a long message is cut, not refused */
    char *big = malloc(5000);
    int n = snprintf(big, 5000, "<Error><Code>AccessDenied</Code><Message>");
    memset(big + n, 'm', 3000);
    snprintf(big + n + 3000, 5000 - (size_t)n - 3000, "</Message></Error>");
    cr_assert_eq(mr_s3_xml_parse_error(big, strlen(big), &d, &e), 0, "%s", e.message);
    cr_assert_str_eq(d.code, "AccessDenied");
    cr_assert_eq(strlen(d.message), sizeof(d.message) - 1);
    free(big);

    /* not an error document */
    cr_assert_eq(mr_s3_xml_parse_error("<html>502</html>", 16, &d, &e), MURR_ECORRUPT);
    cr_assert(strstr(e.message, "root element is <html>, not <Error>"), "%s", e.message);
    cr_assert_eq(mr_s3_xml_parse_error("Bad Gateway", 11, &d, &e), MURR_ECORRUPT);
    cr_assert_str_eq(d.code, "");
}
