/* bench_keys - the murr 0.3 key benchmark over HTTP: a 1,000-key fetch against a utf8 key
 * (form-2 schema), an int64 key and a compound key (int64 user + utf8 item, form 3), for
 * each request form of the 0.3 protocol, and a 2% hit-rate fetch answered dense (0.2 key
 * list) and sparse (0.3 key object), with Arrow and with JSON answers.
 *
 * Tables k_utf8, k_int64 and k_compound, their keys and values: keys_workload.h. Each is
 * (re)created and loaded with Arrow IPC PUT /write bodies of --batch rows.
 *
 * Reads: every case below gets R timed fetches (after R/10 + 10 warm-up fetches) of K
 * random keys x all columns on one keep-alive connection. The cases run interleaved (one
 * fetch of each case per round, each case with its own key stream) so that load drifting
 * on a shared machine moves every case alike. Request bodies are built and answers decoded
 * and checked outside the timed region; the time is from the first byte sent to the last
 * byte of the answer. Every value of every answer is checked against the generator (a dense
 * answer: row k is key k, nulls for missing keys; a sparse one: joined on `_idx`, which must
 * list exactly the positions of the existing keys, in request order). A wrong answer exits
 * non-zero naming the case, the key and the column; so does any non-200 status.
 *
 * Request forms: "0.2 JSON list" {"keys":["k",...],"columns":[...]} (utf8 key only; dense
 * answer), "0.3 JSON object" {"keys":{"<keycol>":[...],...},"columns":[...]} (sparse),
 * "Arrow IPC request" (an Arrow stream of the key columns, schema metadata "columns" =
 * JSON array of names; sparse).
 *
 * Usage: bench_keys --murr-port P [--rows N] [--cols C] [--keys K] [--reads R] [--batch B]
 *                   [--hits H] [--cases LIST] [--skip-load]
 *   --hits: existing keys per fetch in the low hit-rate cases (default K/50: 2%);
 *   --cases: run only these (comma-separated; for profiling one path): KIND-FORM with KIND
 *            utf8|int64|compound and FORM list|object|arrow for all keys existing,
 *            low-utf8-FORM (Arrow answers) and low-json-utf8-FORM for the low hit rate;
 *   --skip-load: the tables are there from an earlier run with the same --rows (profiling);
 *            the ingest column then reads 0. */
#include <stdarg.h>
#include <unistd.h>

#include "bench_common.h"
#include "format/arrow_ipc.h"
#include "http_client.h"
#include "keys_workload.h"

#define CT_JSON "application/json"

/* short local names of keys_workload.h's tables and forms */
enum { T_UTF8 = BENCH_KW_UTF8, T_INT64 = BENCH_KW_INT64, T_COMPOUND = BENCH_KW_COMPOUND, T_COUNT = BENCH_KW_TABLES };
enum { F_LIST = BENCH_KW_LIST, F_OBJECT = BENCH_KW_OBJECT, F_ARROW = BENCH_KW_ARROW };
/* short names for --cases */
static const char *const TABLE_SHORT[T_COUNT] = {"utf8", "int64", "compound"};
static const char *const FORM_SHORT[3] = {"list", "object", "arrow"};

typedef struct kcase {
    int table, form;
    bool arrow_answer;
    bool low_hits;      /* the low hit-rate cases: --hits existing keys of K */
    uint64_t seed;
    uint64_t *lat;      /* ns per timed fetch */
    double req_bytes, resp_bytes;  /* summed over timed fetches: request and response bodies */
    double p50, p99;
    bool on;            /* selected by --cases */
} kcase_t;

static uint64_t g_rows = 1000000, g_batch = 1000000;
static int g_cols = 10, g_keys = 1000, g_reads = 5000, g_hits = -1;
static bench_kw_t g_w;

/* Creates `table` (dropping an old one) and loads it; returns ingest rows/s. */
static double load_table(int fd, int table)
{
    mr_buf_t resp, s;
    mr_buf_init(&resp);
    mr_buf_init(&s);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/table/%s", bench_kw_table_name[table]);
    bench_http_simple(fd, "DELETE", path, CT_JSON, NULL, &resp);
    bench_kw_schema_json(&g_w, table, &s);
    int st = bench_http_simple(fd, "PUT", path, CT_JSON, (const char *)s.data, &resp);
    if (st != 201) {
        fprintf(stderr, "bench_keys: creating %s returned %d: %.*s\nschema: %s\n", bench_kw_table_name[table], st,
                (int)resp.len, resp.data, s.data);
        exit(1);
    }
    uint64_t ns = 0;
    for (uint64_t first = 0; first < g_rows; first += g_batch) {
        int64_t n = (int64_t)(g_rows - first < g_batch ? g_rows - first : g_batch);
        mr_batch_t *b = bench_kw_load_batch(&g_w, table, first, n);
        char wpath[160];
        snprintf(wpath, sizeof(wpath), "%s/write", path);
        size_t o, l;
        uint64_t dt;
        st = bench_http_send_arrow(fd, "PUT", wpath, b, &resp, &o, &l, &dt);
        ns += dt;
        if (st != 200) {
            fprintf(stderr, "bench_keys: write to %s at row %llu returned %d: %.*s\n", bench_kw_table_name[table],
                    (unsigned long long)first, st, (int)l, resp.data + o);
            exit(1);
        }
        mr_batch_free(b);
    }
    mr_buf_deinit(&resp);
    mr_buf_deinit(&s);
    return (double)g_rows / ((double)ns / 1e9);
}

/* ---- requests ---- */

/* The whole HTTP request (headers + body) into req; returns the body's length. */
static size_t build_request(const kcase_t *kc, const uint64_t *rows, mr_buf_t *req)
{
    mr_buf_t body;
    mr_buf_init(&body);
    bench_kw_request_body(&g_w, kc->table, kc->form, rows, &body);
    req->len = 0;
    mr_buf_printf(req, "POST /api/v1/table/%s/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAccept: %s\r\n"
                       "Content-Length: %zu\r\n\r\n",
                  bench_kw_table_name[kc->table], kc->form == F_ARROW ? MR_IPC_CONTENT_TYPE : CT_JSON,
                  kc->arrow_answer ? MR_IPC_CONTENT_TYPE : CT_JSON, body.len);
    mr_buf_append(req, body.data, body.len);
    size_t n = body.len;
    mr_buf_deinit(&body);
    return n;
}

/* ---- answer checks ---- */

static void case_label(const kcase_t *kc, char *out, size_t n)
{
    snprintf(out, n, "%s, %s key, %s answer%s", bench_kw_form_name[kc->form], bench_kw_kind_name[kc->table],
             kc->arrow_answer ? "Arrow" : "JSON", kc->low_hits ? ", low hit rate" : "");
}

static void case_name(const kcase_t *kc, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s-%s", kc->low_hits ? "low-" : "", kc->arrow_answer ? "" : "json-", TABLE_SHORT[kc->table],
             FORM_SHORT[kc->form]);
}

static void key_text(int table, uint64_t row, char *out, size_t n)
{
    if (table == T_COMPOUND)
        snprintf(out, n, "(user %llu, item \"%llu\")", (unsigned long long)(row / 16),
                 (unsigned long long)(row % 16));
    else
        snprintf(out, n, table == T_UTF8 ? "\"%llu\"" : "%llu", (unsigned long long)row);
}

static _Noreturn void wrong(const kcase_t *kc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void wrong(const kcase_t *kc, const char *fmt, ...)
{
    char label[160];
    case_label(kc, label, sizeof(label));
    fprintf(stderr, "bench_keys: wrong answer (%s): ", label);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* One answer row against the generator: `pos` is its key's position in the request;
 * valid[c] / vals[c] its columns. A missing key must be all null (dense answers only). */
static void check_row(const kcase_t *kc, const uint64_t *rows, int pos, const bool *valid, const float *vals)
{
    uint64_t row = rows[pos];
    char key[64];
    for (int c = 0; c < g_cols; c++) {
        if (row >= g_rows) {
            if (valid[c]) {
                key_text(kc->table, row, key, sizeof(key));
                wrong(kc, "key %s (position %d) does not exist, but col_%d is %.9g, not null", key, pos, c,
                      (double)vals[c]);
            }
            continue;
        }
        float want = bench_value(row, c);
        if (!valid[c] || vals[c] != want) {
            key_text(kc->table, row, key, sizeof(key));
            if (!valid[c])
                wrong(kc, "key %s (position %d) col_%d: expected %.9g, got null", key, pos, c, (double)want);
            wrong(kc, "key %s (position %d) col_%d: expected %.9g, got %.9g", key, pos, c, (double)want,
                  (double)vals[c]);
        }
    }
}

/* Sparse answers: `idx` (n entries) must be exactly the positions of existing keys, in order. */
static void check_idx(const kcase_t *kc, const uint64_t *rows, const uint32_t *idx, int64_t n)
{
    int64_t j = 0;
    for (int k = 0; k < g_keys; k++) {
        if (rows[k] >= g_rows)
            continue;
        if (j >= n || idx[j] != (uint32_t)k) {
            char key[64];
            key_text(kc->table, rows[k], key, sizeof(key));
            wrong(kc, "key %s at position %d exists, but _idx row %lld is %lld (%lld rows answered)", key, k,
                  (long long)j, j < n ? (long long)idx[j] : -1LL, (long long)n);
        }
        j++;
    }
    if (j != n)
        wrong(kc, "%lld existing keys asked for, %lld rows answered", (long long)j, (long long)n);
}

/* Arrow answer: every batch of the stream, columns found by name. */
static void check_arrow(const kcase_t *kc, const uint64_t *rows, const uint8_t *data, size_t len)
{
    mr_ipc_reader_t *rd = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_error_t e = {0};
    mr_batch_t *b = NULL;
    bool sparse = kc->form != F_LIST;
    uint32_t *idx = malloc(sizeof(uint32_t) * (size_t)g_keys + 4);
    int64_t seen = 0;
    if (mr_ipc_reader_borrow(rd, data, len, &e) != 0)
        wrong(kc, "Arrow stream of %zu bytes refused: %s", len, e.message);
    for (;;) {
        if (mr_ipc_reader_next(rd, &b, &e) != 0)
            wrong(kc, "Arrow stream of %zu bytes: %s", len, e.message);
        if (b == NULL)
            break;
        if (b->num_columns != g_cols + (sparse ? 1 : 0) || seen + b->num_rows > g_keys)
            wrong(kc, "batch of %d columns x %lld rows after %lld rows (want %d columns, at most %d rows)",
                  b->num_columns, (long long)b->num_rows, (long long)seen, g_cols + (sparse ? 1 : 0), g_keys);
        const mr_column_t *ic = NULL, *cc[64];
        if (sparse) {
            int32_t i = mr_batch_find_column(b, MURR_IDX_COLUMN, 4);
            if (i != 0 || b->columns[0].dtype != MURR_UINT32 || b->columns[0].null_count != 0)
                wrong(kc, "sparse answer without a leading non-null uint32 _idx column (found at %d)", i);
            ic = &b->columns[0];
        }
        for (int c = 0; c < g_cols; c++) {
            char name[16];
            int nl = snprintf(name, sizeof(name), "col_%d", c);
            int32_t i = mr_batch_find_column(b, name, (size_t)nl);
            if (i < 0 || b->columns[i].dtype != MURR_FLOAT32)
                wrong(kc, "no float32 column %s in the answer", name);
            cc[c] = &b->columns[i];
        }
        for (int64_t r = 0; r < b->num_rows; r++) {
            bool valid[64];
            float vals[64];
            for (int c = 0; c < g_cols; c++) {
                valid[c] = murr_column_is_valid(cc[c], r);
                vals[c] = ((const float *)cc[c]->values)[r];
            }
            int64_t pos = sparse ? ((const uint32_t *)ic->values)[r] : seen + r;
            if (sparse)
                idx[seen + r] = (uint32_t)pos;
            if (pos >= g_keys)
                wrong(kc, "_idx %lld is beyond the %d keys asked for", (long long)pos, g_keys);
            check_row(kc, rows, (int)pos, valid, vals);
        }
        seen += b->num_rows;
        mr_batch_free(b);
    }
    if (sparse)
        check_idx(kc, rows, idx, seen);
    else if (seen != g_keys)
        wrong(kc, "dense answer of %lld rows for %d keys", (long long)seen, g_keys);
    free(idx);
    mr_ipc_reader_free(rd);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* JSON answer {"columns":{"<name>":[v,...],...}}: the array of member `name` as element
 * start pointers into elems (at most max); returns the count, -1 if the member is absent.
 * A scanner for the flat numeric arrays murr writes, not a general JSON parser. */
static int json_member(const char *body, size_t len, const char *name, const char **elems, int max)
{
    char pat[64];
    int pl = snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *end = body + len, *p = memmem(body, len, pat, (size_t)pl);
    if (p == NULL)
        return -1;
    p = skip_ws(p + pl, end);
    if (p >= end || *p != '[')
        return -1;
    p = skip_ws(p + 1, end);
    int n = 0;
    while (p < end && *p != ']') {
        if (n >= max)
            return max + 1;
        elems[n++] = p;
        while (p < end && *p != ',' && *p != ']')
            p++;
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return n;
}

static void check_json(const kcase_t *kc, const uint64_t *rows, const uint8_t *data, size_t len)
{
    const char *body = (const char *)data;
    bool sparse = kc->form != F_LIST;
    const char **el = malloc(sizeof(char *) * (size_t)g_keys * (size_t)(g_cols + 1) + sizeof(char *));
    int n = -1;
    uint32_t *idx = malloc(sizeof(uint32_t) * (size_t)g_keys + 4);
    const char **ie = el + (size_t)g_keys * (size_t)g_cols;
    if (sparse) {
        n = json_member(body, len, MURR_IDX_COLUMN, ie, g_keys);
        if (n < 0 || n > g_keys)
            wrong(kc, "sparse JSON answer without an _idx array of at most %d entries: %.200s", g_keys, body);
        for (int r = 0; r < n; r++) {
            char *e;
            unsigned long v = strtoul(ie[r], &e, 10);
            if (e == ie[r] || v >= (unsigned long)g_keys)
                wrong(kc, "_idx[%d] is not a position below %d: %.20s", r, g_keys, ie[r]);
            idx[r] = (uint32_t)v;
        }
        check_idx(kc, rows, idx, n);
    }
    for (int c = 0; c < g_cols; c++) {
        char name[16];
        snprintf(name, sizeof(name), "col_%d", c);
        int m = json_member(body, len, name, el + (size_t)c * (size_t)g_keys, g_keys);
        int want = sparse ? n : g_keys;
        if (m != want)
            wrong(kc, "JSON member %s has %d values, expected %d", name, m, want);
    }
    int nrows = sparse ? n : g_keys;
    for (int r = 0; r < nrows; r++) {
        bool valid[64];
        float vals[64];
        for (int c = 0; c < g_cols; c++) {
            const char *s = el[(size_t)c * (size_t)g_keys + (size_t)r];
            valid[c] = strncmp(s, "null", 4) != 0;
            vals[c] = valid[c] ? strtof(s, NULL) : 0;
        }
        check_row(kc, rows, sparse ? (int)idx[r] : r, valid, vals);
    }
    free(idx);
    free(el);
}

/* ---- the timed loop ---- */

static void run_cases(int fd, kcase_t *cases, int ncases)
{
    uint64_t *rows = malloc(sizeof(uint64_t) * (size_t)g_keys);
    mr_buf_t req, resp;
    mr_buf_init(&req);
    mr_buf_init(&resp);
    int warm = g_reads / 10 + 10;
    for (int r = -warm; r < g_reads; r++) {
        for (int i = 0; i < ncases; i++) {
            kcase_t *kc = &cases[i];
            if (!kc->on)
                continue;
            bench_kw_gen_rows(&g_w, &kc->seed, kc->low_hits ? g_hits : -1, rows);
            size_t req_body = build_request(kc, rows, &req);
            struct iovec iov = {req.data, req.len};
            uint64_t t0 = bench_now_ns();
            bench_http_send_all(fd, &iov, 1);
            size_t o, l;
            int st = bench_http_read_response(fd, &resp, &o, &l);
            uint64_t dt = bench_now_ns() - t0;
            if (st != 200) {
                char label[160];
                case_label(kc, label, sizeof(label));
                fprintf(stderr, "bench_keys: %s: fetch from %s returned %d: %.*s\n", label, bench_kw_table_name[kc->table],
                        st, (int)(l < 600 ? l : 600), resp.data + o);
                exit(1);
            }
            if (kc->arrow_answer)
                check_arrow(kc, rows, resp.data + o, l);
            else
                check_json(kc, rows, resp.data + o, l);
            if (r >= 0) {
                kc->lat[r] = dt;
                kc->req_bytes += (double)req_body;
                kc->resp_bytes += (double)l;
            }
        }
    }
    for (int i = 0; i < ncases; i++) {
        if (!cases[i].on)
            continue;
        cases[i].p50 = bench_pct_us(cases[i].lat, (size_t)g_reads, 0.5);
        cases[i].p99 = bench_pct_us(cases[i].lat, (size_t)g_reads, 0.99);
    }
    free(rows);
    mr_buf_deinit(&req);
    mr_buf_deinit(&resp);
}

/* "1.23x" of a / b, "-" when b did not run */
static const char *ratio(double a, const kcase_t *b, char *buf)
{
    if (b == NULL || !b->on)
        return "-";
    sprintf(buf, "%.2fx", a / b->p50);
    return buf;
}

static void print_tables(const kcase_t *cs, int nfull, int nlow, const double *ingest)
{
    char r1[32], r2[32];
    printf("\n%llu rows x %d float32 columns per table, %d keys per fetch, %d reads per case "
           "(cases interleaved, 1 connection, Accept as listed)\n\n",
           (unsigned long long)g_rows, g_cols, g_keys, g_reads);
    printf("| table | key | ingest rows/s (Arrow PUT, %llu-row batches) |\n|---|---|---:|\n",
           (unsigned long long)g_batch);
    for (int t = 0; t < T_COUNT; t++)
        printf("| %s | %s | %.0f |\n", bench_kw_table_name[t], bench_kw_kind_name[t], ingest[t]);
    printf("\nAll %d keys exist:\n\n", g_keys);
    printf("| form | key kind | answer | p50 us | p99 us | request bytes | response bytes | p50 vs utf8 0.2 list "
           "| p50 vs utf8 same form |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nfull; i++) {
        const kcase_t *kc = &cs[i], *same = NULL;
        if (!kc->on)
            continue;
        for (int j = 0; j < nfull; j++)
            if (cs[j].table == T_UTF8 && cs[j].form == kc->form)
                same = &cs[j];
        printf("| %s | %s | %s, Arrow | %.1f | %.1f | %.0f | %.0f | %s | %s |\n", bench_kw_form_name[kc->form],
               bench_kw_kind_name[kc->table], kc->form == F_LIST ? "dense" : "sparse", kc->p50, kc->p99,
               kc->req_bytes / g_reads, kc->resp_bytes / g_reads, ratio(kc->p50, &cs[0], r1),
               ratio(kc->p50, same, r2));
    }
    printf("\n%d of %d keys exist (%.0f%% hit rate), utf8 key (k_utf8):\n\n", g_hits, g_keys,
           100.0 * g_hits / g_keys);
    printf("| hit rate | form | answer | p50 us | p99 us | request bytes | response bytes | p50 vs dense "
           "same answer type |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    const kcase_t *low = cs + nfull;
    for (int i = 0; i < nlow; i++) {
        const kcase_t *kc = &low[i], *dense = NULL;
        if (!kc->on)
            continue;
        for (int j = 0; j < nlow; j++)
            if (low[j].form == F_LIST && low[j].arrow_answer == kc->arrow_answer)
                dense = &low[j];
        printf("| %.0f%% | %s | %s, %s | %.1f | %.1f | %.0f | %.0f | %s |\n", 100.0 * g_hits / g_keys,
               bench_kw_form_name[kc->form], kc->form == F_LIST ? "dense" : "sparse", kc->arrow_answer ? "Arrow" : "JSON",
               kc->p50, kc->p99, kc->req_bytes / g_reads, kc->resp_bytes / g_reads, ratio(kc->p50, dense, r1));
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *only = NULL;
    bool skip_load = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--skip-load")) {
            skip_load = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_keys: flag %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i], *f = argv[i - 1];
        if (!strcmp(f, "--murr-port")) port = atoi(v);
        else if (!strcmp(f, "--rows")) g_rows = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--cols")) g_cols = atoi(v);
        else if (!strcmp(f, "--keys")) g_keys = atoi(v);
        else if (!strcmp(f, "--reads")) g_reads = atoi(v);
        else if (!strcmp(f, "--batch")) g_batch = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--hits")) g_hits = atoi(v);
        else if (!strcmp(f, "--cases")) only = v;
        else { fprintf(stderr, "bench_keys: unknown flag %s\n", f); return 2; }
    }
    if (g_hits < 0)
        g_hits = g_keys / 50 > 0 ? g_keys / 50 : 1;
    if (port <= 0 || g_cols < 1 || g_cols > 60 || g_keys < 1 || g_reads < 1 || g_rows < 16 || g_batch < 1 ||
        g_hits > g_keys) {
        fprintf(stderr, "bench_keys: need --murr-port P, --cols 1..60 (got %d), --keys >= 1 (got %d), --reads >= 1 "
                "(got %d), --rows >= 16, --batch >= 1, --hits <= --keys (got %d)\n", g_cols, g_keys, g_reads, g_hits);
        return 2;
    }
    bench_kw_init(&g_w, g_rows, g_cols, g_keys);

#define CASE(t, f, arrow, low) {.table = (t), .form = (f), .arrow_answer = (arrow), .low_hits = (low)}
    kcase_t cs[] = {
        CASE(T_UTF8, F_LIST, true, false),   /* the reference: cs[0] */
        CASE(T_UTF8, F_OBJECT, true, false),
        CASE(T_UTF8, F_ARROW, true, false),
        CASE(T_INT64, F_OBJECT, true, false),
        CASE(T_INT64, F_ARROW, true, false),
        CASE(T_COMPOUND, F_OBJECT, true, false),
        CASE(T_COMPOUND, F_ARROW, true, false),
        /* low hit rate, utf8 key: dense vs sparse, Arrow and JSON answers */
        CASE(T_UTF8, F_LIST, true, true),
        CASE(T_UTF8, F_OBJECT, true, true),
        CASE(T_UTF8, F_ARROW, true, true),
        CASE(T_UTF8, F_LIST, false, true),
        CASE(T_UTF8, F_OBJECT, false, true),
    };
#undef CASE
    int ncases = (int)(sizeof(cs) / sizeof(cs[0])), nfull = 7, nsel = 0;
    for (int i = 0; i < ncases; i++) {
        cs[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        cs[i].lat = malloc(sizeof(uint64_t) * (size_t)g_reads);
        char name[64];
        case_name(&cs[i], name, sizeof(name));
        cs[i].on = only == NULL || bench_list_has(only, name);
        nsel += cs[i].on;
    }
    if (nsel == 0) {
        fprintf(stderr, "bench_keys: --cases %s selects nothing; names:", only);
        for (int i = 0; i < ncases; i++) {
            char name[64];
            case_name(&cs[i], name, sizeof(name));
            fprintf(stderr, " %s", name);
        }
        fputc('\n', stderr);
        return 2;
    }
    int fd = bench_http_connect(port);
    double ingest[T_COUNT] = {0};
    for (int t = 0; t < T_COUNT && !skip_load; t++)
        ingest[t] = load_table(fd, t);
    run_cases(fd, cs, ncases);
    close(fd);
    print_tables(cs, nfull, ncases - nfull, ingest);
    for (int i = 0; i < ncases; i++)
        free(cs[i].lat);
    return 0;
}
