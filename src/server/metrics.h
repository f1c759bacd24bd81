/*
 * metrics.h - request counters and latency histograms per route and status, rendered in
 * the Prometheus text format by GET /metrics together with per-table rows/bytes and memory.
 * Recording is lock-free (relaxed atomics): a handful of adds per request.
 */
#ifndef MR_SERVER_METRICS_H
#define MR_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "murr.h"

typedef enum mr_route {
    MR_ROUTE_NOT_FOUND = 0,
    MR_ROUTE_HEALTH,
    MR_ROUTE_OPENAPI,
    MR_ROUTE_METRICS,
    MR_ROUTE_LIST,
    MR_ROUTE_CREATE,
    MR_ROUTE_SCHEMA,
    MR_ROUTE_DROP,
    MR_ROUTE_COMPACT,
    MR_ROUTE_FETCH,
    MR_ROUTE_WRITE,
    MR_ROUTE_VERSIONS,
    MR_ROUTE_ROLLBACK,
    MR_ROUTE_SOURCE,
    MR_ROUTE_REFRESH,
    MR_ROUTE_COUNT
} mr_route_t;

#define MR_METRICS_BUCKETS 16
#define MR_METRICS_STATUSES 12

typedef struct mr_status_stats {
    _Atomic int status; /* 0 = free slot */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[MR_METRICS_BUCKETS];
} mr_status_stats_t;

typedef struct mr_metrics {
    mr_status_stats_t routes[MR_ROUTE_COUNT][MR_METRICS_STATUSES];
    _Atomic uint64_t connections_total;
    _Atomic int64_t connections_open;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
} mr_metrics_t;

const char *mr_route_name(mr_route_t r);
void mr_metrics_record(mr_metrics_t *m, mr_route_t route, int status, uint64_t micros);
int mr_metrics_render(mr_metrics_t *m, murr_db *db, mr_buf_t *out);

#endif
