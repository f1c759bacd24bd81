/* harness_pg.c - bench_harness's PostgreSQL backend (libpq), the two layouts of the
 * reference's murr-benchmark: pg_featureblob (bench_blob: key TEXT PRIMARY KEY, value BYTEA
 * of C packed little-endian float32) and pg_feast (bench_cols: key TEXT PRIMARY KEY, one REAL
 * column per feature). Load: one COPY ... (FORMAT binary) per batch of w->batch rows, then
 * ANALYZE + CHECKPOINT (the reference's flush step), all inside the ingest time. Read: one
 * prepared `SELECT key, ... FROM t WHERE key = ANY($1)` per read with binary results, one
 * connection, closed loop; the answer is a set (one row per distinct key, any order), so the
 * check matches rows by their key. Memory = PSS delta (proportional set size, so shared
 * buffers are counted once) summed over the postmaster and its children, across load and
 * reads. */
#include <arpa/inet.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "bench_common.h"
#include "harness.h"

/* PSS in bytes of pid and every process whose parent is pid (postgres forks one backend per
 * connection and a few auxiliary processes, all children of the postmaster). */
static uint64_t pg_pss_tree(int pid)
{
    uint64_t total = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int p = atoi(de->d_name);
        if (p <= 0)
            continue;
        char path[64], line[512];
        if (p != pid) {
            snprintf(path, sizeof(path), "/proc/%d/stat", p);
            FILE *f = fopen(path, "r");
            if (f == NULL)
                continue;
            int ppid = 0;
            /* comm may contain spaces: parse after the last ')' */
            if (fgets(line, sizeof(line), f)) {
                char *rp = strrchr(line, ')');
                if (rp == NULL || sscanf(rp + 1, " %*c %d", &ppid) != 1)
                    ppid = 0;
            }
            fclose(f);
            if (ppid != pid)
                continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", p);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        unsigned long long kb;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "Pss: %llu kB", &kb) == 1) {
                total += kb * 1024;
                break;
            }
        fclose(f);
    }
    closedir(d);
    return total;
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "postgres: `%s` failed: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static void put_be16(mr_buf_t *b, int16_t v)
{
    uint16_t x = htons((uint16_t)v);
    mr_buf_append(b, &x, 2);
}

static void put_be32(mr_buf_t *b, int32_t v)
{
    uint32_t x = htonl((uint32_t)v);
    mr_buf_append(b, &x, 4);
}

static void pg_copy_send(PGconn *c, mr_buf_t *b)
{
    if (b->len && PQputCopyData(c, (const char *)b->data, (int)b->len) != 1) {
        fprintf(stderr, "postgres: COPY data of %zu bytes refused: %s", b->len, PQerrorMessage(c));
        exit(1);
    }
    b->len = 0;
}

/* One COPY (FORMAT binary) of rows [first, first+n) into table; layout 0 = blob, 1 = columns. */
static void pg_copy_batch(PGconn *c, const bench_workload_t *w, int layout, uint64_t first, uint64_t n)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", layout == 0 ? "bench_blob" : "bench_cols");
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "postgres: `%s` failed: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    mr_buf_t b;
    mr_buf_init(&b);
    static const char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
    mr_buf_append(&b, sig, sizeof(sig));
    put_be32(&b, 0); /* flags */
    put_be32(&b, 0); /* header extension length */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t row = first + i;
        char key[24];
        int kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)row);
        put_be16(&b, (int16_t)(layout == 0 ? 2 : 1 + w->cols));
        put_be32(&b, kl);
        mr_buf_append(&b, key, (size_t)kl);
        if (layout == 0) {
            put_be32(&b, 4 * w->cols);
            for (int cc = 0; cc < w->cols; cc++) {
                float v = bench_value(row, cc);
                mr_buf_append(&b, &v, 4); /* little-endian host: the blob is packed LE float32 */
            }
        } else {
            for (int cc = 0; cc < w->cols; cc++) {
                float v = bench_value(row, cc);
                uint32_t bits;
                memcpy(&bits, &v, 4);
                put_be32(&b, 4);
                put_be32(&b, (int32_t)bits); /* float4 binary send format: big-endian IEEE */
            }
        }
        if (b.len >= (1u << 20))
            pg_copy_send(c, &b);
    }
    put_be16(&b, -1);
    pg_copy_send(c, &b);
    mr_buf_deinit(&b);
    if (PQputCopyEnd(c, NULL) != 1) {
        fprintf(stderr, "postgres: end of COPY of rows %llu..%llu refused: %s", (unsigned long long)first,
                (unsigned long long)(first + n - 1), PQerrorMessage(c));
        exit(1);
    }
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "postgres: COPY of rows %llu..%llu into %s failed: %s", (unsigned long long)first,
                    (unsigned long long)(first + n - 1), layout == 0 ? "bench_blob" : "bench_cols",
                    PQerrorMessage(c));
            exit(1);
        }
        PQclear(r);
    }
}

/* Checks a read's result set: one row per distinct requested key, every value right. */
static void pg_verify(const bench_workload_t *w, int layout, PGresult *r, const uint64_t *krows, uint64_t *scratch)
{
    const char *name = layout == 0 ? "postgres-blob" : "postgres-cols";
    int want = bench_distinct(w, krows, scratch), got = PQntuples(r);
    if (got != want) {
        fprintf(stderr, "%s: wrong answer: %d rows for %d distinct keys\n", name, got, want);
        exit(1);
    }
    float vals[64];
    for (int i = 0; i < got; i++) {
        char key[24];
        int kl = PQgetlength(r, i, 0);
        if (kl <= 0 || kl >= (int)sizeof(key)) {
            fprintf(stderr, "%s: wrong answer: key of %d bytes in row %d\n", name, kl, i);
            exit(1);
        }
        memcpy(key, PQgetvalue(r, i, 0), (size_t)kl);
        key[kl] = 0;
        uint64_t row = strtoull(key, NULL, 10);
        if (!bsearch(&row, scratch, (size_t)w->keys, sizeof(uint64_t), bench_cmp_u64)) {
            fprintf(stderr, "%s: wrong answer: key %s was not requested\n", name, key);
            exit(1);
        }
        if (layout == 0) {
            if (PQgetlength(r, i, 1) != 4 * w->cols) {
                fprintf(stderr, "%s: wrong answer: value of key %s has %d bytes, expected %d\n", name, key,
                        PQgetlength(r, i, 1), 4 * w->cols);
                exit(1);
            }
            memcpy(vals, PQgetvalue(r, i, 1), 4 * (size_t)w->cols);
        } else {
            for (int cc = 0; cc < w->cols; cc++) {
                uint32_t bits;
                memcpy(&bits, PQgetvalue(r, i, 1 + cc), 4);
                bits = ntohl(bits);
                memcpy(&vals[cc], &bits, 4);
            }
        }
        if (!bench_check_row(name, row, vals, w->cols))
            exit(1);
    }
}

int64_t harness_pg_run(const bench_workload_t *w, const char *conninfo, int postmaster_pid, const char *data_dir,
                       bench_result_t *blob, bench_result_t *cols)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "postgres: cannot connect with `%s`: %s", conninfo, PQerrorMessage(c));
        exit(1);
    }
    char *kbuf = malloc((size_t)w->keys * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)w->keys);
    uint64_t *scratch = malloc(sizeof(uint64_t) * (size_t)w->keys);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)w->reads);
    mr_buf_t arr, sql;
    mr_buf_init(&arr);
    mr_buf_init(&sql);
    pg_exec(c, "SET client_min_messages = warning");
    pg_exec(c, "DROP TABLE IF EXISTS bench_blob");
    pg_exec(c, "DROP TABLE IF EXISTS bench_cols");
    for (int layout = 0; layout < 2; layout++) {
        bench_result_t *res = layout == 0 ? blob : cols;
        const char *table = layout == 0 ? "bench_blob" : "bench_cols";
        sql.len = 0;
        mr_buf_printf(&sql, "CREATE TABLE %s (key TEXT PRIMARY KEY", table);
        if (layout == 0)
            mr_buf_append_cstr(&sql, ", value BYTEA NOT NULL");
        for (int cc = 0; layout == 1 && cc < w->cols; cc++)
            mr_buf_printf(&sql, ", col_%d REAL NOT NULL", cc);
        mr_buf_append(&sql, ")", 2);
        pg_exec(c, (const char *)sql.data);
        uint64_t pss0 = pg_pss_tree(postmaster_pid), t0 = bench_now_ns();
        for (uint64_t first = 0; first < w->rows; first += w->batch)
            pg_copy_batch(c, w, layout, first, w->rows - first < w->batch ? w->rows - first : w->batch);
        sql.len = 0;
        mr_buf_printf(&sql, "ANALYZE %s", table);
        pg_exec(c, (const char *)sql.data);
        pg_exec(c, "CHECKPOINT");
        res->ingest_rows_s = (double)w->rows / ((double)(bench_now_ns() - t0) / 1e9);
        sql.len = 0;
        mr_buf_append_cstr(&sql, layout == 0 ? "SELECT key, value" : "SELECT key");
        for (int cc = 0; layout == 1 && cc < w->cols; cc++)
            mr_buf_printf(&sql, ", col_%d", cc);
        mr_buf_printf(&sql, " FROM %s WHERE key = ANY($1::text[])", table);
        PGresult *pr = PQprepare(c, table, (const char *)sql.data, 1, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            fprintf(stderr, "postgres: prepare `%s` failed: %s", (const char *)sql.data, PQerrorMessage(c));
            exit(1);
        }
        PQclear(pr);
        uint64_t seed = 21 + (uint64_t)layout;
        int warm = w->reads / 10 + 10;
        for (int rd = -warm; rd < w->reads; rd++) {
            bench_gen_keys(w, &seed, kbuf, krows);
            arr.len = 0;
            mr_buf_append(&arr, "{", 1);
            for (int k = 0; k < w->keys; k++) {
                if (k)
                    mr_buf_append(&arr, ",", 1);
                mr_buf_append_cstr(&arr, kbuf + 24 * k);
            }
            mr_buf_append(&arr, "}", 2);
            const char *param = (const char *)arr.data;
            uint64_t t1 = bench_now_ns();
            PGresult *r = PQexecPrepared(c, table, 1, &param, NULL, NULL, 1);
            uint64_t dt = bench_now_ns() - t1;
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                fprintf(stderr, "postgres: read of %d keys from %s failed: %s", w->keys, table, PQerrorMessage(c));
                exit(1);
            }
            pg_verify(w, layout, r, krows, scratch);
            PQclear(r);
            if (rd >= 0)
                lat[rd] = dt;
        }
        bench_result_latency(res, lat, (size_t)w->reads);
        uint64_t pss1 = pg_pss_tree(postmaster_pid);
        res->mem_bytes = pss1 > pss0 ? pss1 - pss0 : 0;
        res->mem_what = "PSS";
        /* pg_total_relation_size: heap + TOAST + primary-key index of this table */
        sql.len = 0;
        mr_buf_printf(&sql, "SELECT pg_total_relation_size('%s')", table);
        PGresult *sr = PQexec(c, (const char *)sql.data);
        res->disk_bytes = PQresultStatus(sr) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(sr, 0, 0), NULL, 10) : -1;
        PQclear(sr);
        res->ran = true;
    }
    mr_buf_deinit(&arr);
    mr_buf_deinit(&sql);
    free(kbuf);
    free(krows);
    free(scratch);
    free(lat);
    PQfinish(c);
    return data_dir ? bench_du(data_dir) : -1;
}
