/* s3_xml.c - bounded expat parsers of the ListObjectsV2 page and the S3 error document
 * (s3_xml.h). One pass, no tree: a small state machine on element depth copies the text of
 * the few elements we use into fixed buffers and stops the parser at the first violation.
 * Namespaces are not processed (S3 puts its xmlns on the root only), so names compare
 * plainly. Expat joins entities and splits text arbitrarily: text arrives in pieces and is
 * appended with its length checked every time. */
#include "loader/s3_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define S3_XML_MAX_DEPTH 32
#define S3_XML_MAX_RAW_ETAG 200 /* quotes included, before stripping */

typedef enum field {
    F_NONE,
    F_KEY,
    F_SIZE,
    F_ETAG,
    F_TRUNCATED,
    F_TOKEN,
    F_CODE,
    F_MESSAGE,
} field_t;

typedef struct xml_ctx {
    XML_Parser p;
    mr_error_t *err;
    const char *what; /* "S3 listing", "S3 error document" */
    int rc;
    int depth;
    bool list_doc; /* ListBucketResult (else Error) */

    /* text capture of the current leaf element */
    field_t field;
    const char *field_name;
    char *cap;
    size_t cap_len, cap_max;
    bool cap_truncate; /* error documents: cut, do not fail */

    /* the Contents being read */
    bool in_contents;
    bool have_key, have_size, have_etag;
    char key[MR_S3_XML_MAX_KEY + 1];
    char size[24];
    char etag[S3_XML_MAX_RAW_ETAG + 1];
    char truncated[8];

    const char *prefix;
    size_t prefix_len;
    mr_object_list_t *out;
    mr_s3_list_page_t *page;
    mr_s3_error_doc_t *doc;
} xml_ctx_t;

static void xml_fail(xml_ctx_t *c, const char *fmt, ...) MR_PRINTF(2, 3);

static void xml_fail(xml_ctx_t *c, const char *fmt, ...)
{
    if (c->rc != 0)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->rc = mr_err_set(c->err, MURR_ECORRUPT, "%s: %s (line %lu, byte %lld)", c->what, msg,
                       (unsigned long)XML_GetCurrentLineNumber(c->p), (long long)XML_GetCurrentByteIndex(c->p));
    XML_StopParser(c->p, XML_FALSE);
}

static void capture(xml_ctx_t *c, field_t f, const char *name, char *buf, size_t max, bool truncate)
{
    c->field = f;
    c->field_name = name;
    c->cap = buf;
    c->cap_len = 0;
    c->cap_max = max;
    c->cap_truncate = truncate;
    buf[0] = '\0';
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    xml_ctx_t *c = ud;
    if (c->rc != 0 || c->field == F_NONE || len <= 0)
        return;
    size_t n = (size_t)len;
    if (n > c->cap_max - c->cap_len) {
        if (!c->cap_truncate) {
            xml_fail(c, "%s longer than %zu bytes (at least %zu)", c->field_name, c->cap_max, c->cap_len + n);
            return;
        }
        n = c->cap_max - c->cap_len;
    }
    memcpy(c->cap + c->cap_len, s, n);
    c->cap_len += n;
    c->cap[c->cap_len] = '\0';
}

static void start_list(xml_ctx_t *c, const char *name)
{
    if (c->depth == 2) {
        if (strcmp(name, "Contents") == 0) {
            c->in_contents = true;
            c->have_key = c->have_size = c->have_etag = false;
            c->page->n_contents++;
        } else if (strcmp(name, "IsTruncated") == 0) {
            capture(c, F_TRUNCATED, "IsTruncated", c->truncated, sizeof(c->truncated) - 1, false);
        } else if (strcmp(name, "NextContinuationToken") == 0) {
            capture(c, F_TOKEN, "NextContinuationToken", c->page->next_token, MR_S3_XML_MAX_TOKEN, false);
        }
    } else if (c->depth == 3 && c->in_contents) {
        bool *have = NULL;
        if (strcmp(name, "Key") == 0) {
            capture(c, F_KEY, "Key", c->key, MR_S3_XML_MAX_KEY, false);
            have = &c->have_key;
        } else if (strcmp(name, "Size") == 0) {
            capture(c, F_SIZE, "Size", c->size, sizeof(c->size) - 1, false);
            have = &c->have_size;
        } else if (strcmp(name, "ETag") == 0) {
            capture(c, F_ETAG, "ETag", c->etag, S3_XML_MAX_RAW_ETAG, false);
            have = &c->have_etag;
        }
        if (have) {
            if (*have)
                xml_fail(c, "Contents #%zu has two <%s> elements", c->page->n_contents, name);
            *have = true;
        }
    }
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xml_ctx_t *c = ud;
    if (c->rc != 0)
        return;
    if (c->field != F_NONE) {
        xml_fail(c, "element <%.64s> inside <%s>", name, c->field_name);
        return;
    }
    if (++c->depth > S3_XML_MAX_DEPTH) {
        xml_fail(c, "elements nested deeper than %d", S3_XML_MAX_DEPTH);
        return;
    }
    const char *root = c->list_doc ? "ListBucketResult" : "Error";
    if (c->depth == 1) {
        if (strcmp(name, root) != 0)
            xml_fail(c, "root element is <%.64s>, not <%s>", name, root);
        return;
    }
    if (c->list_doc) {
        start_list(c, name);
    } else if (c->depth == 2) {
        if (strcmp(name, "Code") == 0)
            capture(c, F_CODE, "Code", c->doc->code, sizeof(c->doc->code) - 1, true);
        else if (strcmp(name, "Message") == 0)
            capture(c, F_MESSAGE, "Message", c->doc->message, sizeof(c->doc->message) - 1, true);
    }
}

/* "123" -> 123; digits only, no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Strips surrounding quotes, literal or left escaped as &quot; by a double-escaping server. */
static void strip_quotes(const char *in, const char **start, size_t *len)
{
    const char *b = in, *e = in + strlen(in);
    for (;;) {
        if (e > b && *b == '"')
            b++;
        else if ((size_t)(e - b) >= 6 && memcmp(b, "&quot;", 6) == 0)
            b += 6;
        else
            break;
    }
    for (;;) {
        if (e > b && e[-1] == '"')
            e--;
        else if ((size_t)(e - b) >= 6 && memcmp(e - 6, "&quot;", 6) == 0)
            e -= 6;
        else
            break;
    }
    *start = b;
    *len = (size_t)(e - b);
}

static void end_contents(xml_ctx_t *c)
{
    size_t i = c->page->n_contents;
    if (!c->have_key) {
        xml_fail(c, "Contents #%zu has no <Key>", i);
        return;
    }
    if (!c->have_size) {
        xml_fail(c, "Contents #%zu (key '%.200s') has no <Size>", i, c->key);
        return;
    }
    uint64_t size;
    if (!parse_u64(c->size, &size)) {
        xml_fail(c, "Size '%s' of key '%.200s' is not a decimal number", c->size, c->key);
        return;
    }
    const char *tag = "";
    size_t tag_len = 0;
    if (c->have_etag)
        strip_quotes(c->etag, &tag, &tag_len);
    char etag[sizeof(((mr_object_t *)0)->etag)];
    if (tag_len >= sizeof(etag)) {
        xml_fail(c, "ETag of key '%.200s' is %zu bytes, more than %zu", c->key, tag_len, sizeof(etag) - 1);
        return;
    }
    memcpy(etag, tag, tag_len);
    etag[tag_len] = '\0';
    size_t key_len = strlen(c->key);
    if (key_len < c->prefix_len || memcmp(c->key, c->prefix, c->prefix_len) != 0) {
        xml_fail(c, "key '%.200s' is outside the prefix '%.200s'", c->key, c->prefix);
        return;
    }
    const char *rel = c->key + c->prefix_len;
    size_t rel_len = key_len - c->prefix_len;
    if (rel_len == 0 || rel[rel_len - 1] == '/')
        return; /* the prefix itself or a folder placeholder: not a partition file */
    if (mr_object_list_push(c->out, rel, rel_len, size, etag) != 0) {
        c->rc = mr_err_set(c->err, MURR_ENOMEM, "%s: out of memory listing object %zu ('%.200s')", c->what, c->out->n,
                           rel);
        XML_StopParser(c->p, XML_FALSE);
    }
}

static void on_end(void *ud, const XML_Char *name)
{
    xml_ctx_t *c = ud;
    if (c->rc != 0)
        return;
    field_t f = c->field;
    c->field = F_NONE;
    if (c->list_doc) {
        if (f == F_TRUNCATED) {
            if (strcmp(c->truncated, "true") == 0)
                c->page->truncated = true;
            else if (strcmp(c->truncated, "false") == 0)
                c->page->truncated = false;
            else
                xml_fail(c, "IsTruncated is '%s', not true or false", c->truncated);
        } else if (c->depth == 2 && c->in_contents) {
            c->in_contents = false;
            end_contents(c);
        }
    }
    c->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    xml_fail(ud, "a DOCTYPE (<!DOCTYPE %.64s>) is not allowed", name);
}

static int run(xml_ctx_t *c, const char *xml, size_t len)
{
    if (len > INT_MAX)
        return mr_err_set(c->err, MURR_ECORRUPT, "%s: %zu bytes, more than the %d expat takes", c->what, len, INT_MAX);
    c->p = XML_ParserCreate("UTF-8");
    if (c->p == NULL)
        return mr_err_set(c->err, MURR_ENOMEM, "%s: cannot create an XML parser", c->what);
    XML_SetUserData(c->p, c);
    XML_SetElementHandler(c->p, on_start, on_end);
    XML_SetCharacterDataHandler(c->p, on_text);
    XML_SetStartDoctypeDeclHandler(c->p, on_doctype);
    XML_SetParamEntityParsing(c->p, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(c->p, xml, (int)len, 1);
    if (st != XML_STATUS_OK && c->rc == 0)
        c->rc = mr_err_set(c->err, MURR_ECORRUPT, "%s: not well-formed XML: %s (line %lu, byte %lld of %zu)",
                           c->what, XML_ErrorString(XML_GetErrorCode(c->p)),
                           (unsigned long)XML_GetCurrentLineNumber(c->p), (long long)XML_GetCurrentByteIndex(c->p),
                           len);
    XML_ParserFree(c->p);
    return c->rc;
}

int mr_s3_xml_parse_list(const char *xml, size_t len, const char *prefix, mr_object_list_t *out,
                         mr_s3_list_page_t *page, mr_error_t *err)
{
    memset(page, 0, sizeof(*page));
    xml_ctx_t c = {.err = err, .what = "S3 listing", .list_doc = true, .prefix = prefix ? prefix : "",
                   .out = out, .page = page};
    c.prefix_len = strlen(c.prefix);
    MR_RETURN_NOT_OK(run(&c, xml, len));
    if (page->truncated && page->next_token[0] == '\0')
        return mr_err_set(err, MURR_ECORRUPT, "S3 listing: IsTruncated is true but there is no NextContinuationToken "
                          "(%zu bytes, %zu Contents)", len, page->n_contents);
    return 0;
}

int mr_s3_xml_parse_error(const char *xml, size_t len, mr_s3_error_doc_t *doc, mr_error_t *err)
{
    memset(doc, 0, sizeof(*doc));
    xml_ctx_t c = {.err = err, .what = "S3 error document", .list_doc = false, .doc = doc};
    return run(&c, xml, len);
}
