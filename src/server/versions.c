/* versions.c - GET .../versions and POST .../rollback (see versions.h). The engine keeps the
 * versions (murr_list_versions, murr_rollback); this file only parses the request and
 * prints the answer. Times are printed twice: Unix seconds for programs, RFC 3339 UTC for
 * people reading curl output. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/json.h"
#include "server/versions.h"

#define CT_JSON "application/json"

/* 200 {"table": name, ...: the caller appends the rest and the closing brace. */
static void answer_begin(mr_resp_t *resp, const char *name)
{
    resp->status = 200;
    resp->content_type = CT_JSON;
    mr_buf_append_cstr(&resp->body, "{\"table\":");
    mr_json_write_string(&resp->body, name, strlen(name));
}

static void append_version(mr_buf_t *out, const murr_version_info *v)
{
    char when[32] = "";
    time_t t = (time_t)v->created;
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    mr_buf_printf(out, "{\"id\":%llu,\"rows\":%llu,\"bytes\":%llu,\"created\":%lld,\"created_at\":\"%s\",\"source\":",
                  (unsigned long long)v->id, (unsigned long long)v->rows, (unsigned long long)v->bytes,
                  (long long)v->created, when);
    mr_json_write_string(out, v->source, strnlen(v->source, sizeof(v->source)));
    mr_buf_printf(out, ",\"serving\":%s}", v->serving ? "true" : "false");
}

void mr_http_versions(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp)
{
    murr_version_info *vs = NULL;
    size_t n = 0;
    mr_error_t e = {0};
    if (murr_list_versions(sh->db, name, &vs, &n, &e) != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    uint64_t serving = 0;
    for (size_t i = 0; i < n; i++)
        if (vs[i].serving)
            serving = vs[i].id;
    answer_begin(resp, name);
    mr_buf_printf(&resp->body, ",\"serving\":%llu,\"versions\":[", (unsigned long long)serving);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            mr_buf_append_byte(&resp->body, ',');
        append_version(&resp->body, &vs[i]);
    }
    mr_buf_append_cstr(&resp->body, "]}");
    murr_free(vs);
}

/* ---- rollback ---- */

/* `?version=N`: *version = N (0 when absent). False after setting a 400. */
static bool version_from_query(const mr_req_t *req, uint64_t *version, mr_resp_t *resp)
{
    mr_slice_t v;
    *version = 0;
    if (!mr_http_query(req, "version", &v))
        return true;
    char buf[24];
    bool digits = v.len > 0 && v.len < sizeof(buf);
    for (size_t i = 0; digits && i < v.len; i++)
        digits = v.ptr[i] >= '0' && v.ptr[i] <= '9';
    if (digits) {
        memcpy(buf, v.ptr, v.len);
        buf[v.len] = '\0';
        errno = 0;
        unsigned long long n = strtoull(buf, NULL, 10);
        if (errno == 0 && n > 0) {
            *version = n;
            return true;
        }
    }
    mr_http_error(resp, 400, "query parameter version must be a version id (an integer from 1 to %llu), got '%.*s'",
                  (unsigned long long)UINT64_MAX, (int)(v.len > 100 ? 100 : v.len), v.ptr);
    return false;
}

static bool body_is_blank(const mr_buf_t *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != ' ' && b->data[i] != '\t' && b->data[i] != '\r' && b->data[i] != '\n')
            return false;
    return true;
}

/* The JSON text of v for a message, at most 60 bytes of it. */
static void json_snippet(const json_t *v, char *buf, size_t cap)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, cap, "%.60s%s", t ? t : "?", t && strlen(t) > 60 ? "..." : "");
    free(t);
}

/* JSON body {"version": N} or an empty body (*version = 0). Like writes, an absent
 * Content-Type means JSON (decision 0005). False after setting the error response. */
static bool version_from_body(const mr_req_t *req, uint64_t *version, mr_resp_t *resp)
{
    *version = 0;
    if (body_is_blank(&req->body))
        return true;
    if (req->has_content_type && !mr_http_is_json_ct(req->content_type)) {
        mr_http_error(resp, 415, "rollback bodies are JSON (`Content-Type: " CT_JSON "`) or empty, got `%.*s`",
                      (int)(req->content_type.len > 200 ? 200 : req->content_type.len), req->content_type.ptr);
        return false;
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        mr_http_error(resp, 400, "Failed to parse the request body as JSON: %s at line %d column %d", je.text, je.line,
                      je.column);
        return false;
    }
    bool ok = false;
    char got[80];
    if (!json_is_object(root)) {
        json_snippet(root, got, sizeof(got));
        mr_http_error(resp, 422, "the rollback body must be a JSON object like {\"version\": 3}, got %s", got);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "version") != 0) {
            mr_http_error(resp, 422, "unknown member \"%.100s\" in the rollback body (the only one is \"version\")", key);
            goto done;
        }
        if (!json_is_integer(val) || json_integer_value(val) <= 0) {
            json_snippet(val, got, sizeof(got));
            mr_http_error(resp, 422, "\"version\" must be a version id (an integer from 1), got %s", got);
            goto done;
        }
        *version = (uint64_t)json_integer_value(val);
    }
    ok = true;
done:
    json_decref(root);
    return ok;
}

void mr_http_rollback(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    uint64_t in_query, in_body;
    if (!version_from_query(req, &in_query, resp) || !version_from_body(req, &in_body, resp))
        return;
    if (in_query && in_body && in_query != in_body) {
        mr_http_error(resp, 400, "the query says version %llu and the body version %llu: give one",
                      (unsigned long long)in_query, (unsigned long long)in_body);
        return;
    }
    uint64_t target = in_query ? in_query : in_body, serving = 0;
    mr_error_t e = {0};
    if (murr_rollback(sh->db, name, target, &serving, &e) != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    answer_begin(resp, name);
    mr_buf_printf(&resp->body, ",\"serving\":%llu}", (unsigned long long)serving);
}
