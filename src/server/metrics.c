/* metrics.c - see metrics.h. Bucket bounds are in seconds (Prometheus convention). */
#include "server/metrics.h"

#include <stdio.h>
#include <stdlib.h>

static const double bucket_le[MR_METRICS_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

const char *mr_route_name(mr_route_t r)
{
    static const char *const names[MR_ROUTE_COUNT] = {"not_found", "health", "openapi", "metrics", "list_tables",
                                                      "create_table", "get_schema", "drop_table", "compact", "fetch",
                                                      "write", "list_versions", "rollback", "source", "refresh"};
    return (unsigned)r < MR_ROUTE_COUNT ? names[r] : "unknown";
}

void mr_metrics_record(mr_metrics_t *m, mr_route_t route, int status, uint64_t micros)
{
    mr_status_stats_t *slots = m->routes[route];
    mr_status_stats_t *s = NULL;
    for (int i = 0; i < MR_METRICS_STATUSES && s == NULL; i++) {
        int cur = atomic_load_explicit(&slots[i].status, memory_order_acquire);
        if (cur == status) {
            s = &slots[i];
        } else if (cur == 0) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&slots[i].status, &expect, status) || expect == status)
                s = &slots[i];
        }
    }
    if (s == NULL)
        s = &slots[MR_METRICS_STATUSES - 1]; /* more distinct statuses than slots: lump */
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, micros, memory_order_relaxed);
    double sec = (double)micros / 1e6;
    for (int b = 0; b < MR_METRICS_BUCKETS; b++)
        if (sec <= bucket_le[b]) {
            atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
            break;
        }
}

int mr_metrics_render(mr_metrics_t *m, murr_db *db, mr_buf_t *out)
{
    int rc = 0;
    rc |= mr_buf_append_cstr(out, "# HELP murr_http_requests_total HTTP requests by route and status.\n"
                                  "# TYPE murr_http_requests_total counter\n");
    for (int r = 0; r < MR_ROUTE_COUNT; r++)
        for (int i = 0; i < MR_METRICS_STATUSES; i++) {
            mr_status_stats_t *s = &m->routes[r][i];
            int st = atomic_load(&s->status);
            if (st)
                rc |= mr_buf_printf(out, "murr_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                                    mr_route_name((mr_route_t)r), st, (unsigned long long)atomic_load(&s->count));
        }
    rc |= mr_buf_append_cstr(out, "# HELP murr_http_request_duration_seconds Time from request start to response queued.\n"
                                  "# TYPE murr_http_request_duration_seconds histogram\n");
    for (int r = 0; r < MR_ROUTE_COUNT; r++)
        for (int i = 0; i < MR_METRICS_STATUSES; i++) {
            mr_status_stats_t *s = &m->routes[r][i];
            int st = atomic_load(&s->status);
            if (!st)
                continue;
            const char *rn = mr_route_name((mr_route_t)r);
            uint64_t cum = 0;
            for (int b = 0; b < MR_METRICS_BUCKETS; b++) {
                cum += atomic_load(&s->buckets[b]);
                rc |= mr_buf_printf(out, "murr_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"%g\"} %llu\n",
                                    rn, st, bucket_le[b], (unsigned long long)cum);
            }
            uint64_t count = atomic_load(&s->count);
            rc |= mr_buf_printf(out, "murr_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"+Inf\"} %llu\n",
                                rn, st, (unsigned long long)count);
            rc |= mr_buf_printf(out, "murr_http_request_duration_seconds_sum{route=\"%s\",status=\"%d\"} %.6f\n", rn, st,
                                (double)atomic_load(&s->sum_us) / 1e6);
            rc |= mr_buf_printf(out, "murr_http_request_duration_seconds_count{route=\"%s\",status=\"%d\"} %llu\n", rn, st,
                                (unsigned long long)count);
        }
    rc |= mr_buf_printf(out,
                        "# HELP murr_http_connections_open Open HTTP connections.\n# TYPE murr_http_connections_open gauge\n"
                        "murr_http_connections_open %lld\n"
                        "# HELP murr_http_connections_total Accepted HTTP connections.\n"
                        "# TYPE murr_http_connections_total counter\nmurr_http_connections_total %llu\n"
                        "# HELP murr_memory_bytes Bytes allocated by murr (heap and key directories).\n"
                        "# TYPE murr_memory_bytes gauge\nmurr_memory_bytes %llu\n",
                        (long long)atomic_load(&m->connections_open), (unsigned long long)atomic_load(&m->connections_total),
                        (unsigned long long)murr_memory_in_use());
    char **names;
    size_t n;
    murr_error e = {0};
    if (murr_list_tables(db, &names, &n, &e) != 0)
        return rc;
    static const char *const gauges[][3] = {
        {"murr_table_rows", "Live keys per table.", "gauge"},
        {"murr_table_live_bytes", "Bytes of live records per table.", "gauge"},
        {"murr_table_garbage_bytes", "Bytes of superseded records not yet compacted.", "gauge"},
        {"murr_table_segments", "Segment files per table.", "gauge"},
        {"murr_table_keydir_bytes", "Memory of the key directory per table.", "gauge"},
        {"murr_table_mapped_bytes", "Bytes of segment files mapped per table.", "gauge"},
        {"murr_table_writes_total", "Write requests applied per table.", "counter"},
        {"murr_table_compactions_total", "Compactions completed per table.", "counter"},
        {"murr_table_version", "Id of the version each table serves (a replace or rollback changes it).", "gauge"},
    };
    murr_table_stats *st = n ? calloc(n, sizeof(*st)) : NULL;
    for (size_t t = 0; t < n; t++)
        murr_table_stats_get(db, names[t], &st[t], &e);
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        rc |= mr_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", gauges[g][0], gauges[g][1], gauges[g][0],
                            gauges[g][2]);
        for (size_t t = 0; t < n; t++) {
            const uint64_t vals[] = {st[t].rows,         st[t].live_bytes,   st[t].garbage_bytes,
                                     st[t].segments,     st[t].keydir_bytes, st[t].mapped_bytes,
                                     st[t].writes,       st[t].compactions,  st[t].version};
            rc |= mr_buf_printf(out, "%s{table=\"%s\"} %llu\n", gauges[g][0], names[t], (unsigned long long)vals[g]);
        }
    }
    free(st);
    murr_names_free(names, n);
    return rc;
}
