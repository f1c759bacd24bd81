/* handlers.c - the routes of the HTTP API and the mapping of murr status codes to HTTP
 * statuses (the only place that does it for HTTP). Behaviour: ../shared/spec/CONTRACT.md
 * and the reference, section 2: routes, error bodies {"error": "..."} with the
 * reference's prefixes, content negotiation by substring. The version routes (list,
 * rollback) are in versions.c; the write route's `?mode=replace` is here. */
#include <http_parser.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "core/log.h"
#include "core/schema.h"
#include "format/arrow_ipc.h"
#include "format/json.h"
#include "format/parquet.h"
#include "server/auth.h"
#include "server/fetch.h"
#include "server/http_internal.h"
#include "server/sources.h"
#include "server/versions.h"

#define CT_JSON "application/json"
#define CT_ARROW MR_IPC_CONTENT_TYPE
#define CT_PARQUET "application/vnd.apache.parquet"

const char *mr_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

void mr_http_error(mr_resp_t *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = CT_JSON;
    resp->body.len = 0;
    mr_buf_append_cstr(&resp->body, "{\"error\":");
    mr_json_write_string(&resp->body, msg, strlen(msg));
    mr_buf_append_byte(&resp->body, '}');
}

static int status_of(int code)
{
    switch (code) {
    case MURR_EINVAL: case MURR_EUNSUPPORTED: case MURR_ECORRUPT: case MURR_ESYNTAX: return 400;
    case MURR_ENOTFOUND: return 404;
    case MURR_EEXIST: case MURR_ECONFLICT: return 409;
    case MURR_ETOOBIG: return 413;
    case MURR_EMEDIA: return 415;
    case MURR_ESHAPE: return 422;
    case MURR_EBUSY: return 503;
    case MURR_ENOMEM: case MURR_ENOSPC: return 507;
    default: return 500;
    }
}

void mr_http_error_from(mr_resp_t *resp, const mr_error_t *e)
{
    mr_http_error(resp, status_of(e->code), "%s", e->message);
}

bool mr_http_query(const mr_req_t *req, const char *name, mr_slice_t *value)
{
    const char *q = memchr(req->url, '?', req->url_len);
    if (q == NULL)
        return false;
    const char *end = req->url + req->url_len, *hash = memchr(q, '#', (size_t)(end - q));
    if (hash)
        end = hash;
    size_t nl = strlen(name);
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            *value = eq ? mr_slice(eq + 1, (size_t)(pe - eq - 1)) : mr_slice(pe, 0);
            return true;
        }
        p = pe + 1;
    }
    return false;
}

static bool slice_contains(mr_slice_t s, const char *needle)
{
    size_t n = strlen(needle);
    if (s.len < n)
        return false;
    for (size_t i = 0; i + n <= s.len; i++)
        if (strncasecmp(s.ptr + i, needle, n) == 0)
            return true;
    return false;
}

bool mr_http_is_json_ct(mr_slice_t ct)
{
    size_t n = ct.len;
    for (size_t i = 0; i < ct.len; i++)
        if (ct.ptr[i] == ';') {
            n = i;
            break;
        }
    while (n > 0 && ct.ptr[n - 1] == ' ')
        n--;
    if (n == 16 && strncasecmp(ct.ptr, CT_JSON, 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct.ptr, "application/", 12) == 0 && strncasecmp(ct.ptr + n - 5, "+json", 5) == 0;
}

static bool require_json(const mr_req_t *req, mr_resp_t *resp)
{
    if (req->has_content_type && mr_http_is_json_ct(req->content_type))
        return true;
    mr_http_error(resp, 415, "Expected request with `Content-Type: application/json`");
    return false;
}

/* ---- path parsing ---- */

typedef struct path_info {
    mr_route_t route;
    int allow_mask;     /* methods allowed on this path */
    char name[MR_TABLE_NAME_MAX * 3 + 1];
    size_t name_len;
    bool name_too_long;
    bool bad_escape;
} path_info_t;

enum { M_GET = 1, M_PUT = 2, M_POST = 4, M_DELETE = 8 };

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void decode_name(const char *s, size_t n, path_info_t *pi)
{
    pi->name_len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h = i + 2 < n ? hexv(s[i + 1]) : -1;
            int l = i + 2 < n ? hexv(s[i + 2]) : -1;
            if (h < 0 || l < 0) {
                pi->bad_escape = true;
                return;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (pi->name_len >= sizeof(pi->name) - 1) {
            pi->name_too_long = true;
            return;
        }
        pi->name[pi->name_len++] = c;
    }
    pi->name[pi->name_len] = '\0';
}

static void parse_path(const char *url, size_t len, path_info_t *pi)
{
    memset(pi, 0, sizeof(*pi));
    size_t n = 0;
    while (n < len && url[n] != '?' && url[n] != '#')
        n++;
    struct fixed {
        const char *p;
        mr_route_t r;
        int allow;
    } fixed[] = {{"/health", MR_ROUTE_HEALTH, M_GET},
                 {"/openapi.json", MR_ROUTE_OPENAPI, M_GET},
                 {"/metrics", MR_ROUTE_METRICS, M_GET},
                 {"/api/v1/table", MR_ROUTE_LIST, M_GET}};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (n == strlen(fixed[i].p) && memcmp(url, fixed[i].p, n) == 0) {
            pi->route = fixed[i].r;
            pi->allow_mask = fixed[i].allow;
            return;
        }
    static const char prefix[] = "/api/v1/table/";
    size_t pl = sizeof(prefix) - 1;
    if (n <= pl || memcmp(url, prefix, pl) != 0)
        return;
    const char *rest = url + pl;
    size_t rl = n - pl;
    const char *slash = memchr(rest, '/', rl);
    size_t name_n = slash ? (size_t)(slash - rest) : rl;
    if (name_n == 0)
        return;
    if (slash == NULL) {
        pi->route = MR_ROUTE_CREATE; /* PUT create, DELETE drop */
        pi->allow_mask = M_PUT | M_DELETE;
    } else {
        const char *sub = slash + 1;
        size_t sl = rl - name_n - 1;
        struct {
            const char *s;
            mr_route_t r;
            int allow;
        } subs[] = {{"schema", MR_ROUTE_SCHEMA, M_GET},
                    {"fetch", MR_ROUTE_FETCH, M_POST},
                    {"write", MR_ROUTE_WRITE, M_PUT},
                    {"compact", MR_ROUTE_COMPACT, M_POST},
                    {"versions", MR_ROUTE_VERSIONS, M_GET},
                    {"rollback", MR_ROUTE_ROLLBACK, M_POST},
                    {"source", MR_ROUTE_SOURCE, M_GET | M_PUT | M_DELETE},
                    {"refresh", MR_ROUTE_REFRESH, M_POST}};
        for (size_t i = 0; i < MR_ARRAY_LEN(subs); i++)
            if (sl == strlen(subs[i].s) && memcmp(sub, subs[i].s, sl) == 0) {
                pi->route = subs[i].r;
                pi->allow_mask = subs[i].allow;
            }
        if (pi->route == MR_ROUTE_NOT_FOUND)
            return;
    }
    decode_name(rest, name_n, pi);
}

static int method_bit(const mr_req_t *req)
{
    switch (req->method) {
    case HTTP_GET: case HTTP_HEAD: return M_GET;
    case HTTP_PUT: return M_PUT;
    case HTTP_POST: return M_POST;
    case HTTP_DELETE: return M_DELETE;
    default: return 0;
    }
}

mr_route_t mr_http_route_of(const mr_req_t *req, bool *offload)
{
    path_info_t pi;
    parse_path(req->url, req->url_len, &pi);
    *offload = false;
    if (pi.route == MR_ROUTE_CREATE && req->method == HTTP_DELETE)
        pi.route = MR_ROUTE_DROP;
    if ((method_bit(req) & pi.allow_mask) && (pi.route == MR_ROUTE_WRITE || pi.route == MR_ROUTE_COMPACT ||
                                               pi.route == MR_ROUTE_CREATE || pi.route == MR_ROUTE_DROP ||
                                               pi.route == MR_ROUTE_ROLLBACK || pi.route == MR_ROUTE_VERSIONS ||
                                               (pi.route == MR_ROUTE_SOURCE && req->method != HTTP_GET)))
        *offload = true; /* fsync-bound, or (versions) waits for a replace in progress: keep them off the loop */
    return pi.route;
}

static const char *allow_header(int mask)
{
    static const char *const tbl[16] = {"",           "GET, HEAD",      "PUT",           "GET, HEAD, PUT",
                                        "POST",       "GET, HEAD, POST", "PUT, POST",     "GET, HEAD, PUT, POST",
                                        "DELETE",     "GET, HEAD, DELETE", "PUT, DELETE", "GET, HEAD, PUT, DELETE",
                                        "POST, DELETE", "GET, HEAD, POST, DELETE", "PUT, POST, DELETE",
                                        "GET, HEAD, PUT, POST, DELETE"};
    return tbl[mask & 15];
}

/* ---- handlers ---- */

static void h_list(const mr_server_shared_t *sh, mr_resp_t *resp)
{
    char **names;
    size_t n;
    mr_error_t e = {0};
    if (murr_list_tables(sh->db, &names, &n, &e) != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    json_t *obj = json_object();
    for (size_t i = 0; i < n; i++) {
        murr_schema *s;
        if (murr_describe_table(sh->db, names[i], &s, &e) == 0) {
            json_object_set_new(obj, names[i], mr_schema_to_jansson(s));
            murr_schema_free(s);
        }
    }
    murr_names_free(names, n);
    char *txt = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    resp->status = 200;
    resp->content_type = CT_JSON;
    mr_buf_append_cstr(&resp->body, txt ? txt : "{}");
    free(txt);
}

static void h_schema(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp)
{
    murr_schema *s;
    mr_error_t e = {0};
    if (murr_describe_table(sh->db, name, &s, &e) != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    char *txt = murr_schema_to_json(s);
    murr_schema_free(s);
    resp->status = 200;
    resp->content_type = CT_JSON;
    mr_buf_append_cstr(&resp->body, txt ? txt : "{}");
    murr_free(txt);
}

static void h_create(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    if (!require_json(req, resp))
        return;
    murr_schema *s;
    mr_error_t e = {0};
    int rc = murr_schema_from_json((const char *)req->body.data, req->body.len, &s, &e);
    if (rc == MURR_ESYNTAX) {
        mr_http_error(resp, 400, "Failed to parse the request body as JSON: %s", e.message);
        return;
    }
    if (rc == MURR_ESHAPE) {
        mr_http_error(resp, 422, "Failed to deserialize the JSON body into the target type: %s", e.message);
        return;
    }
    if (rc != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    rc = murr_create_table(sh->db, name, s, &e);
    murr_schema_free(s);
    if (rc != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    resp->status = 201;
}

static void h_drop(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp)
{
    mr_error_t e = {0};
    if (murr_drop_table(sh->db, name, &e) != 0)
        mr_http_error_from(resp, &e);
    else
        resp->status = 204; /* as murr 0.3.1; 0.2 clients accept any 2xx */
}

static void h_compact(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp)
{
    mr_error_t e = {0};
    if (murr_compact(sh->db, name, &e) != 0)
        mr_http_error_from(resp, &e);
    else
        resp->status = 200;
}

static void release_batch(void *p) { murr_batch_free(p); }

/* The answer of a fetch, by the Accept header: an Arrow IPC stream that points at the
 * batch's buffers (released after the write), or JSON. */
static void fetch_answer(mr_req_t *req, murr_batch *b, mr_resp_t *resp)
{
    mr_error_t e = {0};
    resp->status = 200;
    if (slice_contains(req->accept, CT_ARROW)) {
        struct iovec *iov;
        int iovcnt;
        size_t total;
        if (mr_ipc_write_stream(&req->arena, b, NULL, 0, &iov, &iovcnt, &total, &e) != 0) {
            murr_batch_free(b);
            mr_http_error_from(resp, &e);
            return;
        }
        resp->content_type = CT_ARROW;
        resp->iov = iov;
        resp->iovcnt = iovcnt;
        resp->iov_total = total;
        resp->release = release_batch;
        resp->release_arg = b;
        return;
    }
    resp->content_type = CT_JSON;
    int rc = mr_json_write_batch(&resp->body, b, &e);
    murr_batch_free(b);
    if (rc != 0)
        mr_http_error_from(resp, &e);
}

typedef enum { FETCH_JSON, FETCH_ARROW, FETCH_PARQUET, FETCH_OTHER } fetch_body_t;

/* Fetch bodies: JSON or an Arrow IPC stream, by Content-Type (which must be present). */
static fetch_body_t fetch_body_of(const mr_req_t *req)
{
    if (!req->has_content_type) /* both generations refuse it (0.2.1: 415, 0.3.1: 400); decision 0005 */
        return FETCH_OTHER;
    if (mr_http_is_json_ct(req->content_type))
        return FETCH_JSON;
    if (slice_contains(req->content_type, CT_ARROW))
        return FETCH_ARROW;
    return slice_contains(req->content_type, CT_PARQUET) ? FETCH_PARQUET : FETCH_OTHER;
}

static int fetch_json(const mr_server_shared_t *sh, mr_req_t *req, const char *name, murr_batch **b, mr_error_t *e)
{
    mr_fetch_req_t fr;
    mr_budget_t budget; /* decision 0009: the tree, key slices and key batch of the body */
    mr_budget_init(&budget, sh->cfg->http.max_payload_size, "server.http.max_payload_size");
    int rc = mr_json_parse_fetch(&req->arena, (const char *)req->body.data, req->body.len, false, &budget, &fr, e);
    if (rc == MURR_ESYNTAX)
        mr_err_prefix(e, "Failed to parse the request body as JSON: ");
    if (rc == 0)
        rc = mr_fetch_json(sh->db, name, &fr, sh->cfg->http.max_fetch_keys, &req->arena, b, e);
    if (rc == MURR_ESHAPE) /* parse-time or against the table's key: the 0.2 answer, 422 */
        mr_err_prefix(e, "Failed to deserialize the JSON body into the target type: ");
    return rc;
}

static void h_fetch(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    murr_batch *b = NULL;
    mr_error_t e = {0};
    int rc;
    switch (fetch_body_of(req)) {
    case FETCH_JSON: rc = fetch_json(sh, req, name, &b, &e); break;
    case FETCH_ARROW:
        rc = mr_fetch_arrow(sh->db, name, req->body.data, req->body.len, sh->cfg->http.max_payload_size,
                            sh->cfg->http.max_fetch_keys, &req->arena, &b, &e);
        break;
    case FETCH_PARQUET:
        mr_http_error(resp, 415, "fetch requests are JSON (`Content-Type: application/json`) or Arrow IPC "
                      "(`Content-Type: " CT_ARROW "`), not Parquet");
        return;
    default:
        if (!req->has_content_type)
            mr_http_error(resp, 415, "Expected request with `Content-Type: application/json` or `Content-Type: " CT_ARROW
                          "`, got no Content-Type");
        else
            mr_http_error(resp, 415, "Expected request with `Content-Type: application/json` or `Content-Type: " CT_ARROW
                          "`, got `%.*s`", (int)(req->content_type.len > 200 ? 200 : req->content_type.len),
                          req->content_type.ptr);
        return;
    }
    if (rc != 0)
        mr_http_error_from(resp, &e);
    else
        fetch_answer(req, b, resp);
}

/* ---- write ---- */

/* `?mode=`: upsert (the default) or replace (MURR_WRITE_REPLACE: the body becomes the whole
 * table, as one new version). */
static bool write_mode_of(const mr_req_t *req, unsigned *mode, mr_resp_t *resp)
{
    mr_slice_t v;
    *mode = MURR_WRITE_UPSERT;
    if (!mr_http_query(req, "mode", &v) || mr_slice_eq_cstr(v, "upsert"))
        return true;
    if (mr_slice_eq_cstr(v, "replace")) {
        *mode = MURR_WRITE_REPLACE;
        return true;
    }
    mr_http_error(resp, 400, "unknown write mode '%.*s': expected 'upsert' (the default) or 'replace'",
                  (int)(v.len > 100 ? 100 : v.len), v.ptr);
    return false;
}

static int table_exists(const mr_server_shared_t *sh, const char *name, mr_error_t *e)
{
    murr_schema *s;
    MR_RETURN_NOT_OK(murr_describe_table(sh->db, name, &s, e));
    murr_schema_free(s);
    return 0;
}

static int writer_open(const mr_server_shared_t *sh, const char *name, unsigned mode, murr_writer **w, mr_error_t *e)
{
    return murr_write_begin_opt(sh->db, name, mode, "http", w, e);
}

/* One atomic write of decoded batches. An upsert of no batches writes nothing (it only
 * checks the table exists); a replace of no batches empties the table, as a new version. */
static int write_batches(const mr_server_shared_t *sh, const char *name, unsigned mode, mr_batch_t *const *batches,
                         size_t n, mr_error_t *e)
{
    if (mode == MURR_WRITE_UPSERT)
        return n > 0 ? murr_write_many(sh->db, name, (const murr_batch *const *)batches, n, e)
                     : table_exists(sh, name, e);
    murr_writer *w;
    MR_RETURN_NOT_OK(writer_open(sh, name, mode, &w, e));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = murr_writer_append(w, batches[i], e);
    if (rc != 0) {
        murr_writer_abort(w);
        return rc;
    }
    return murr_writer_commit(w, e);
}

static int write_arrow(const mr_server_shared_t *sh, mr_req_t *req, const char *name, unsigned mode, mr_error_t *e)
{
    mr_ipc_reader_t *r = mr_ipc_reader_new(sh->cfg->http.max_payload_size, sh->cfg->http.max_payload_size,
                                             "server.http.max_payload_size");
    if (r == NULL)
        return mr_err_set(e, MURR_ENOMEM, "out of memory");
    /* the request body outlives the write: decode in place (decision 0016: no copy of the
     * column data between the socket buffer and the records) */
    mr_batch_t **batches = NULL;
    size_t n = 0;
    int rc = mr_ipc_reader_borrow(r, req->body.data, req->body.len, e);
    rc = rc ? rc : mr_ipc_read_all(r, &batches, &n, e);
    if (rc == 0 && mr_ipc_reader_schema(r) == NULL)
        rc = mr_err_set(e, MURR_EINVAL, "Table error: empty Arrow IPC stream (no schema message)");
    if (rc == 0)
        rc = write_batches(sh, name, mode, batches, n, e);
    if (rc != 0 && (e->code == MURR_ECORRUPT || e->code == MURR_EUNSUPPORTED) &&
        strncmp(e->message, "Arrow", 5) != 0)
        mr_err_prefix(e, "Arrow error: ");
    mr_ipc_batches_free(batches, n);
    mr_ipc_reader_free(r);
    return rc;
}

/* Parquet: row groups decoded one ahead on a thread of their own (parquet_ahead.c) while
 * the previous one is encoded and appended to one streaming write, so peak memory is the
 * file plus two decoded row groups; the whole file lands or none of it. A file with zero
 * rows is a successful no-op (an upsert) or empties the table (a replace). */
static int write_parquet(const mr_server_shared_t *sh, mr_req_t *req, const char *name, unsigned mode, mr_error_t *e)
{
    MR_RETURN_NOT_OK(table_exists(sh, name, e));
    mr_pq_file_t *f;
    mr_budget_t budget; /* decision 0009: what the body may decode into */
    mr_budget_init(&budget, sh->cfg->http.max_payload_size, "server.http.max_payload_size");
    int rc = mr_pq_open(req->body.data, req->body.len, &budget, &f, e);
    if (rc != 0) {
        mr_err_prefix(e, rc == MURR_ETOOBIG ? "Table error: Parquet: " : "Table error: invalid Parquet: ");
        return rc == MURR_ENOMEM || rc == MURR_EUNSUPPORTED || rc == MURR_ETOOBIG ? rc : MURR_ECORRUPT;
    }
    murr_writer *w = NULL;
    mr_pq_ahead_t *ahead = NULL;
    rc = writer_open(sh, name, mode, &w, e);
    if (rc == 0 && mr_pq_num_row_groups(f) > 0)
        rc = mr_pq_ahead_start(f, &ahead, e);
    while (rc == 0 && ahead != NULL) {
        mr_batch_t *b;
        int g;
        rc = mr_pq_ahead_next(ahead, &b, &g, e);
        if (rc != 0) { /* over the decode budget the file may be valid: say which */
            mr_err_prefix(e, rc == MURR_ETOOBIG ? "Table error: Parquet: " : "Table error: invalid Parquet: ");
            break;
        }
        if (b == NULL)
            break;
        rc = murr_writer_append(w, b, e);
        mr_batch_free(b);
        if (rc != 0 && mr_pq_num_row_groups(f) > 1)
            mr_err_prefix(e, "row group %d: ", g);
    }
    mr_pq_ahead_stop(ahead);
    if (w != NULL) {
        if (rc == 0)
            rc = murr_writer_commit(w, e);
        else
            murr_writer_abort(w);
    }
    mr_pq_close(f);
    return rc;
}

static int write_json(const mr_server_shared_t *sh, mr_req_t *req, const char *name, unsigned mode, mr_error_t *e)
{
    murr_schema *s;
    MR_RETURN_NOT_OK(murr_describe_table(sh->db, name, &s, e));
    mr_batch_t *b;
    mr_budget_t budget; /* decision 0009 */
    mr_budget_init(&budget, sh->cfg->http.max_payload_size, "server.http.max_payload_size");
    int rc = mr_json_parse_write((const char *)req->body.data, req->body.len, s, &budget, &b, e);
    murr_schema_free(s);
    if (rc == MURR_ESHAPE || rc == MURR_ESYNTAX)
        return e->code = MURR_EINVAL; /* the reference answers 400 for every bad write body */
    if (rc != 0)
        return rc;
    rc = write_batches(sh, name, mode, &b, 1, e);
    mr_batch_free(b);
    return rc;
}

static void h_write(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    mr_error_t e = {0};
    unsigned mode;
    int rc;
    if (!write_mode_of(req, &mode, resp))
        return;
    if (req->has_content_type && slice_contains(req->content_type, CT_ARROW)) {
        rc = write_arrow(sh, req, name, mode, &e);
    } else if (req->has_content_type && slice_contains(req->content_type, CT_PARQUET)) {
        rc = write_parquet(sh, req, name, mode, &e);
    } else if (req->has_content_type && !mr_http_is_json_ct(req->content_type)) {
        /* text/plain, XML, curl's default form encoding...: not parsed as JSON by guess (an
         * absent Content-Type still means JSON, as in 0.2.1); decision 0005 */
        mr_http_error(resp, 415,
                      "write bodies are JSON (`Content-Type: application/json`), Arrow IPC (`" CT_ARROW
                      "`) or Parquet (`" CT_PARQUET "`), got `%.*s`",
                      (int)(req->content_type.len > 200 ? 200 : req->content_type.len), req->content_type.ptr);
        return;
    } else {
        rc = write_json(sh, req, name, mode, &e);
    }
    if (rc != 0)
        mr_http_error_from(resp, &e);
    else
        resp->status = 200;
}

static const char *insufficient_challenge(unsigned need)
{
    switch (need) {
    case MR_AUTH_ADMIN: return "Bearer realm=\"murr\", error=\"insufficient_scope\", scope=\"admin\"";
    case MR_AUTH_WRITE: return "Bearer realm=\"murr\", error=\"insufficient_scope\", scope=\"write\"";
    default: return "Bearer realm=\"murr\", error=\"insufficient_scope\", scope=\"read\"";
    }
}

/* Access control (server/auth.h): false when the request was refused, resp then holds the
 * 401/403 answer with its WWW-Authenticate challenge (RFC 6750 3). */
static bool authorize(const mr_req_t *req, mr_route_t route, mr_resp_t *resp)
{
    mr_slice_t mode = {0};
    bool replace = route == MR_ROUTE_WRITE && mr_http_query(req, "mode", &mode) && mr_slice_eq_cstr(mode, "replace");
    unsigned need = mr_auth_scope_of_route(route, method_bit(req) == M_GET, replace);
    if (need == MR_AUTH_NONE)
        return true;
    mr_auth_t *a = mr_auth_acquire();
    if (a == NULL)
        return true; /* no tokens configured: open, as before issue 14 */
    unsigned have = 0;
    mr_auth_result_t r = req->has_authorization > 1
                             ? MR_AUTH_MALFORMED
                             : mr_auth_check_bearer(a, req->authorization.ptr, req->authorization.len, need, &have);
    mr_auth_unref(a);
    if (r == MR_AUTH_OK)
        return true;
    mr_auth_count_failure(MR_AUTH_HTTP, r);
    char hs[24], ns[24];
    switch (r) {
    case MR_AUTH_MISSING:
        resp->www_authenticate = "Bearer realm=\"murr\"";
        mr_http_error(resp, 401, "authentication required: send 'Authorization: Bearer <token>' (a token of "
                      "server.auth.tokens_file with scope %s)", mr_auth_scopes_str(need, ns, sizeof(ns)));
        break;
    case MR_AUTH_MALFORMED:
        resp->www_authenticate = "Bearer realm=\"murr\", error=\"invalid_request\"";
        mr_http_error(resp, 401, "the Authorization header is not one 'Bearer <token>' (token68, at most %d "
                      "characters)", MR_AUTH_TOKEN_MAX);
        break;
    case MR_AUTH_WRONG_TOKEN:
        resp->www_authenticate = "Bearer realm=\"murr\", error=\"invalid_token\"";
        mr_http_error(resp, 401, "the bearer token is not one of server.auth.tokens_file");
        break;
    default:
        resp->www_authenticate = insufficient_challenge(need);
        mr_http_error(resp, 403, "this %s needs a token with scope %s; the token has %s",
                      route == MR_ROUTE_WRITE && replace ? "write with mode=replace" : mr_route_name(route),
                      mr_auth_scopes_str(need, ns, sizeof(ns)), mr_auth_scopes_str(have, hs, sizeof(hs)));
        break;
    }
    return false;
}

void mr_http_handle(const mr_server_shared_t *sh, mr_req_t *req, mr_resp_t *resp)
{
    path_info_t pi;
    parse_path(req->url, req->url_len, &pi);
    if (pi.route == MR_ROUTE_CREATE && req->method == HTTP_DELETE)
        pi.route = MR_ROUTE_DROP;
    resp->route = pi.route;
    if (!authorize(req, pi.route, resp))
        return;
    if (pi.route == MR_ROUTE_NOT_FOUND) {
        char path[256];
        snprintf(path, sizeof(path), "%.*s", (int)(req->url_len > 200 ? 200 : req->url_len), req->url);
        mr_http_error(resp, 404, "no route for %s %s", http_method_str((enum http_method)req->method), path);
        return;
    }
    if (!(method_bit(req) & pi.allow_mask)) {
        resp->allow = allow_header(pi.allow_mask);
        mr_http_error(resp, 405, "method %s is not allowed here (allowed: %s)",
                      http_method_str((enum http_method)req->method), resp->allow);
        return;
    }
    if (pi.route >= MR_ROUTE_CREATE) {
        mr_error_t e = {0};
        if (pi.bad_escape) {
            mr_http_error(resp, 400, "Table error: invalid percent-encoding in the table name");
            return;
        }
        if (pi.name_too_long || murr_table_name_check(pi.name, pi.name_len, &e) != 0 ||
            strlen(pi.name) != pi.name_len) {
            if (pi.name_too_long || strlen(pi.name) != pi.name_len)
                murr_table_name_check("", 0, &e);
            mr_http_error(resp, 400, "%s", e.message);
            return;
        }
    }
    switch (pi.route) {
    case MR_ROUTE_HEALTH:
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        mr_buf_append(&resp->body, "OK", 2);
        break;
    case MR_ROUTE_OPENAPI:
        resp->status = 200;
        resp->content_type = CT_JSON;
        mr_buf_append(&resp->body, sh->openapi_json, sh->openapi_len);
        break;
    case MR_ROUTE_METRICS:
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        mr_metrics_render(sh->metrics, sh->db, &resp->body);
        mr_auth_metrics_render(&resp->body);
        if (sh->sources)
            mr_sources_metrics(sh->sources, &resp->body);
        break;
    case MR_ROUTE_LIST: h_list(sh, resp); break;
    case MR_ROUTE_CREATE: h_create(sh, req, pi.name, resp); break;
    case MR_ROUTE_DROP: h_drop(sh, pi.name, resp); break;
    case MR_ROUTE_SCHEMA: h_schema(sh, pi.name, resp); break;
    case MR_ROUTE_COMPACT: h_compact(sh, pi.name, resp); break;
    case MR_ROUTE_FETCH: h_fetch(sh, req, pi.name, resp); break;
    case MR_ROUTE_WRITE: h_write(sh, req, pi.name, resp); break;
    case MR_ROUTE_VERSIONS: mr_http_versions(sh, pi.name, resp); break;
    case MR_ROUTE_ROLLBACK: mr_http_rollback(sh, req, pi.name, resp); break;
    case MR_ROUTE_SOURCE: mr_http_source(sh, req, pi.name, resp); break;
    case MR_ROUTE_REFRESH: mr_http_refresh(sh, pi.name, resp); break;
    default: mr_http_error(resp, 500, "unhandled route %d", (int)pi.route); break;
    }
}
