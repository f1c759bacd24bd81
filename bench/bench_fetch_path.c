/* bench_fetch_path - the server's fetch path in process, stage by stage, for each key kind
 * and request form of bench_keys (keys_workload.h): where a 1,000-key fetch spends its time
 * before and after the network. libmurr is opened in a private directory, the three tables
 * are loaded (sync_writes off), then for each case R fetches (after R/10 + 10 warm-up) of
 * K random existing keys x all columns run the same calls as src/server/fetch.c and
 * handlers.c, each stage timed on its own:
 *   parse:    JSON: mr_json_parse_fetch; Arrow: reader borrow + mr_ipc_read_all + the
 *             "columns" metadata (mr_json_parse_string_array);
 *   describe: murr_describe_table + murr_schema_free (mr_fetch_json does it per request);
 *   keys:     JSON with a non-utf8 key: mr_json_fetch_encode (the request's key arrays
 *             into encoded keys);
 *   read:     murr_read_opt (utf8 key: the strings are the keys);
 *   answer:   mr_ipc_write_stream of the answer (the Arrow answer's encoding);
 *   whole:    mr_fetch_json / mr_fetch_arrow + the answer encoding, timed separately.
 * Plus, per table, "read (encoded keys)": murr_read_opt with keys encoded by the client, the
 * engine's floor for that key kind. Cases interleave as in bench_keys. The first answer of
 * each case is checked (row count, one value) so a broken path cannot report a time.
 * Usage: bench_fetch_path [--rows N] [--cols C] [--keys K] [--reads R] [--dir PATH] */
#include <unistd.h>

#include "bench_common.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/budget.h"
#include "format/arrow_ipc.h"
#include "format/json.h"
#include "keys_workload.h"
#include "server/fetch.h"

enum { S_PARSE, S_DESCRIBE, S_KEYS, S_READ, S_ANSWER, S_WHOLE, S_ENCODED, S_COUNT };
static const char *const STAGE_NAME[S_COUNT] = {"parse", "describe", "keys", "read", "answer", "whole",
                                                "read (encoded keys)"};

typedef struct pcase {
    int table, form;
    uint64_t seed;
    uint64_t *lat[S_COUNT];
    double p50[S_COUNT];
} pcase_t;

static bench_kw_t g_w;
static const char **g_cols;

static uint64_t lap(uint64_t *t)
{
    uint64_t now = bench_now_ns(), d = now - *t;
    *t = now;
    return d;
}

static void die(const char *what, const mr_error_t *e)
{
    fprintf(stderr, "bench_fetch_path: %s: %s\n", what, e->message);
    exit(1);
}

static void load(murr_db *db)
{
    for (int t = 0; t < BENCH_KW_TABLES; t++) {
        mr_buf_t s;
        mr_buf_init(&s);
        bench_kw_schema_json(&g_w, t, &s);
        murr_schema *sc;
        mr_error_t e = {0};
        if (murr_schema_from_json((const char *)s.data, strlen((const char *)s.data), &sc, &e) != 0 ||
            murr_create_table(db, bench_kw_table_name[t], sc, &e) != 0)
            die(bench_kw_table_name[t], &e);
        murr_schema_free(sc);
        mr_buf_deinit(&s);
        for (uint64_t first = 0; first < g_w.rows; first += 1000000) {
            int64_t n = (int64_t)(g_w.rows - first < 1000000 ? g_w.rows - first : 1000000);
            mr_batch_t *b = bench_kw_load_batch(&g_w, t, first, n);
            if (murr_write(db, bench_kw_table_name[t], b, &e) != 0)
                die("load", &e);
            mr_batch_free(b);
        }
    }
}

static void check(const pcase_t *pc, const murr_batch *out, const uint64_t *rows, bool sparse)
{
    int32_t col = (int32_t)sparse; /* col_0 follows _idx */
    float want = bench_value(rows[0], 0);
    if (out->num_rows != g_w.keys || out->num_columns != g_w.cols + (int)sparse ||
        ((const float *)out->columns[col].values)[0] != want) {
        fprintf(stderr, "bench_fetch_path: wrong answer (%s, %s key): %lld rows x %d columns, col_0 of key 0 %.9g "
                "(want %.9g)\n", bench_kw_form_name[pc->form], bench_kw_kind_name[pc->table],
                (long long)out->num_rows, out->num_columns, (double)((const float *)out->columns[col].values)[0],
                (double)want);
        exit(1);
    }
}

/* The stages of one JSON fetch, as mr_fetch_json runs them. */
static murr_batch *json_stages(murr_db *db, pcase_t *pc, const mr_buf_t *body, mr_arena_t *a, uint64_t *d)
{
    const char *table = bench_kw_table_name[pc->table];
    mr_error_t e = {0};
    uint64_t t = bench_now_ns();
    mr_fetch_req_t fr;
    mr_budget_t budget;
    mr_budget_init(&budget, UINT64_MAX, "no limit");
    if (mr_json_parse_fetch(a, (const char *)body->data, body->len, false, &budget, &fr, &e) != 0)
        die("mr_json_parse_fetch", &e);
    d[S_PARSE] = lap(&t);
    murr_schema *s;
    if (murr_describe_table(db, table, &s, &e) != 0)
        die("describe", &e);
    d[S_DESCRIBE] = lap(&t);
    unsigned flags = fr.sparse ? MURR_READ_SPARSE : 0;
    murr_batch *out;
    if (pc->table == BENCH_KW_UTF8) {
        const char **keys = mr_arena_alloc(a, fr.nkeys * sizeof(char *));
        size_t *lens = mr_arena_alloc(a, fr.nkeys * sizeof(size_t));
        for (size_t i = 0; i < fr.nkeys; i++) {
            keys[i] = fr.keys[i].ptr;
            lens[i] = fr.keys[i].len;
        }
        d[S_KEYS] = lap(&t);
        if (murr_read_opt(db, table, keys, lens, fr.nkeys, g_cols, (size_t)g_w.cols, flags, &out, &e) != 0)
            die("murr_read_opt", &e);
        d[S_READ] = lap(&t);
    } else {
        const char **keys;
        size_t *lens;
        if (mr_json_fetch_encode(&fr, s, a, &keys, &lens, &e) != 0)
            die("mr_json_fetch_encode", &e);
        d[S_KEYS] = lap(&t);
        if (murr_read_opt(db, table, keys, lens, fr.nkeys, g_cols, (size_t)g_w.cols, flags, &out, &e) != 0)
            die("murr_read_opt", &e);
        d[S_READ] = lap(&t);
    }
    murr_schema_free(s);
    return out;
}

/* The stages of one Arrow request, as mr_fetch_arrow runs them (one batch). */
static murr_batch *arrow_stages(murr_db *db, pcase_t *pc, const mr_buf_t *body, mr_arena_t *a, uint64_t *d)
{
    mr_error_t e = {0};
    uint64_t t = bench_now_ns();
    mr_ipc_reader_t *r = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_batch_t **bs;
    size_t n, ncols;
    if (mr_ipc_reader_borrow(r, body->data, body->len, &e) != 0 || mr_ipc_read_all(r, &bs, &n, &e) != 0 || n != 1)
        die("Arrow request", &e);
    const mr_ipc_schema_t *sch = mr_ipc_reader_schema(r);
    mr_slice_t *names;
    if (mr_json_parse_string_array(a, sch->meta[0].value, strlen(sch->meta[0].value), "columns",
                                   mr_ipc_reader_budget(r), &names, &ncols, &e) != 0)
        die("columns metadata", &e);
    d[S_PARSE] = lap(&t);
    d[S_DESCRIBE] = d[S_KEYS] = 0;
    murr_batch *out;
    if (murr_read_keys(db, bench_kw_table_name[pc->table], bs[0], g_cols, ncols, MURR_READ_SPARSE, &out, &e) != 0)
        die("murr_read_keys", &e);
    d[S_READ] = lap(&t);
    mr_ipc_batches_free(bs, n);
    mr_ipc_reader_free(r);
    return out;
}

/* The engine's floor: keys encoded by the caller (keys_workload's rows as key.h encodes
 * them), murr_read_opt. */
static uint64_t encoded_read(murr_db *db, int table, const uint64_t *rows)
{
    static uint8_t buf[1 << 20];
    const char **kp = malloc(sizeof(char *) * (size_t)g_w.keys);
    size_t *kl = malloc(sizeof(size_t) * (size_t)g_w.keys), o = 0;
    for (int k = 0; k < g_w.keys; k++) {
        kp[k] = (const char *)buf + o;
        if (table == BENCH_KW_UTF8) {
            o += (size_t)sprintf((char *)buf + o, "%llu", (unsigned long long)rows[k]);
        } else {
            int64_t v = (int64_t)(table == BENCH_KW_INT64 ? rows[k] : rows[k] / 16);
            memcpy(buf + o, &v, 8);
            o += 8;
            if (table == BENCH_KW_COMPOUND) {
                int l = sprintf((char *)buf + o + 1, "%llu", (unsigned long long)(rows[k] % 16));
                buf[o] = (uint8_t)l; /* varint length: < 128 */
                o += 1 + (size_t)l;
            }
        }
        kl[k] = (size_t)((const uint8_t *)buf + o - (const uint8_t *)kp[k]);
    }
    mr_error_t e = {0};
    murr_batch *out;
    uint64_t t = bench_now_ns();
    if (murr_read_opt(db, bench_kw_table_name[table], kp, kl, (size_t)g_w.keys, g_cols, (size_t)g_w.cols,
                      MURR_READ_SPARSE, &out, &e) != 0)
        die("murr_read_opt (encoded keys)", &e);
    uint64_t d = bench_now_ns() - t;
    if (out->num_rows != g_w.keys) {
        fprintf(stderr, "bench_fetch_path: encoded keys of %s found %lld of %d rows\n", bench_kw_table_name[table],
                (long long)out->num_rows, g_w.keys);
        exit(1);
    }
    murr_batch_free(out);
    free(kp);
    free(kl);
    return d;
}

static uint64_t answer_stage(murr_batch *out, mr_arena_t *a)
{
    uint64_t t = bench_now_ns();
    struct iovec *iov;
    int cnt;
    size_t total;
    mr_error_t e = {0};
    if (mr_ipc_write_stream(a, out, NULL, 0, &iov, &cnt, &total, &e) != 0)
        die("answer", &e);
    return bench_now_ns() - t;
}

static uint64_t whole(murr_db *db, const pcase_t *pc, const mr_buf_t *body, mr_arena_t *a)
{
    mr_error_t e = {0};
    murr_batch *out;
    uint64_t t = bench_now_ns();
    int rc;
    if (pc->form == BENCH_KW_ARROW) {
        rc = mr_fetch_arrow(db, bench_kw_table_name[pc->table], body->data, body->len, UINT64_MAX, UINT64_MAX, a, &out, &e);
    } else {
        mr_fetch_req_t fr;
        mr_budget_t budget; /* as the server: its default limit */
        mr_budget_init(&budget, 1ull << 30, "server.http.max_payload_size");
        rc = mr_json_parse_fetch(a, (const char *)body->data, body->len, false, &budget, &fr, &e);
        rc = rc ? rc : mr_fetch_json(db, bench_kw_table_name[pc->table], &fr, UINT64_MAX, a, &out, &e);
    }
    if (rc != 0)
        die("whole fetch", &e);
    answer_stage(out, a);
    uint64_t d = bench_now_ns() - t;
    murr_batch_free(out);
    return d;
}

/* Each measurement gets keys of its own (fresh rows from the case's stream), so that none
 * reads records a previous one just brought into the cache. */
static void run_one(murr_db *db, pcase_t *pc, int r, uint64_t *rows, mr_buf_t *body)
{
    uint64_t d[S_COUNT] = {0};
    mr_arena_t a;
    bench_kw_gen_rows(&g_w, &pc->seed, -1, rows);
    body->len = 0;
    bench_kw_request_body(&g_w, pc->table, pc->form, rows, body);
    mr_arena_init(&a, 16384);
    murr_batch *out = pc->form == BENCH_KW_ARROW ? arrow_stages(db, pc, body, &a, d) : json_stages(db, pc, body, &a, d);
    if (r == 0)
        check(pc, out, rows, pc->form != BENCH_KW_LIST);
    d[S_ANSWER] = answer_stage(out, &a);
    murr_batch_free(out);
    mr_arena_deinit(&a);

    bench_kw_gen_rows(&g_w, &pc->seed, -1, rows);
    body->len = 0;
    bench_kw_request_body(&g_w, pc->table, pc->form, rows, body);
    mr_arena_init(&a, 16384);
    d[S_WHOLE] = whole(db, pc, body, &a);
    mr_arena_deinit(&a);

    bench_kw_gen_rows(&g_w, &pc->seed, -1, rows);
    d[S_ENCODED] = encoded_read(db, pc->table, rows);
    for (int s = 0; s < S_COUNT && r >= 0; s++)
        pc->lat[s][r] = d[s];
}

int main(int argc, char **argv)
{
    uint64_t rows = 1000000;
    int cols = 10, keys = 1000, reads = 2000;
    const char *dir = "/tmp/murr-bench-fetch-path";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys")) keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reads")) reads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else { fprintf(stderr, "bench_fetch_path: unknown flag %s\n", argv[i]); return 2; }
    }
    if (rows < 16 || cols < 1 || cols > 60 || keys < 1 || keys > 100000 || reads < 1) {
        fprintf(stderr, "bench_fetch_path: need --rows >= 16, --cols 1..60, --keys 1..100000, --reads >= 1\n");
        return 2;
    }
    bench_kw_init(&g_w, rows, cols, keys);
    g_cols = malloc(sizeof(char *) * (size_t)cols);
    for (int c = 0; c < cols; c++) {
        char *n = malloc(16);
        snprintf(n, 16, "col_%d", c);
        g_cols[c] = n;
    }
    mr_log_set_level(MR_LOG_WARN);
    mr_fs_remove_tree(dir, NULL);
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0)
        die("open", &e);
    load(db);
    pcase_t cs[] = {{.table = BENCH_KW_UTF8, .form = BENCH_KW_LIST}, {.table = BENCH_KW_UTF8, .form = BENCH_KW_OBJECT},
                    {.table = BENCH_KW_UTF8, .form = BENCH_KW_ARROW},     {.table = BENCH_KW_INT64, .form = BENCH_KW_OBJECT},
                    {.table = BENCH_KW_INT64, .form = BENCH_KW_ARROW},    {.table = BENCH_KW_COMPOUND, .form = BENCH_KW_OBJECT},
                    {.table = BENCH_KW_COMPOUND, .form = BENCH_KW_ARROW}};
    int n = (int)(sizeof(cs) / sizeof(cs[0]));
    for (int i = 0; i < n; i++) {
        cs[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        for (int s = 0; s < S_COUNT; s++)
            cs[i].lat[s] = calloc((size_t)reads, sizeof(uint64_t));
    }
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)keys);
    mr_buf_t body;
    mr_buf_init(&body);
    for (int r = -(reads / 10 + 10); r < reads; r++)
        for (int i = 0; i < n; i++)
            run_one(db, &cs[i], r, krows, &body);
    printf("\nIn process, %llu rows x %d float32 columns, %d keys per fetch, %d fetches per case: p50 us per stage\n\n",
           (unsigned long long)rows, cols, keys, reads);
    printf("| form | key kind |");
    for (int s = 0; s < S_COUNT; s++)
        printf(" %s |", STAGE_NAME[s]);
    printf(" whole vs utf8 same form |\n|---|---|");
    for (int s = 0; s <= S_COUNT; s++)
        printf("---:|");
    printf("\n");
    for (int i = 0; i < n; i++)
        for (int s = 0; s < S_COUNT; s++)
            cs[i].p50[s] = bench_pct_us(cs[i].lat[s], (size_t)reads, 0.5);
    for (int i = 0; i < n; i++) {
        const pcase_t *same = &cs[0];
        for (int j = 0; j < n; j++)
            if (cs[j].table == BENCH_KW_UTF8 && cs[j].form == cs[i].form)
                same = &cs[j];
        printf("| %s | %s |", bench_kw_form_name[cs[i].form], bench_kw_kind_name[cs[i].table]);
        for (int s = 0; s < S_COUNT; s++)
            printf(" %.1f |", cs[i].p50[s]);
        printf(" %.2fx |\n", cs[i].p50[S_WHOLE] / same->p50[S_WHOLE]);
    }
    murr_close(db);
    mr_fs_remove_tree(dir, NULL);
    return 0;
}
