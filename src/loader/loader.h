/*
 * loader.h - pull-based loading: tables that follow a directory or an S3 prefix of Parquet
 * partitions. Layout: <prefix>/<partition>/<files>.parquet plus <prefix>/<partition>/_SUCCESS;
 * partition names sort as strings ("2026-01-19", "dt=2026-01-19"); the newest partition
 * that has _SUCCESS is the one served, and partitions without it are ignored until it
 * appears.
 *
 * One thread per followed table polls every poll_interval (or at once on refresh): it
 * lists the source, picks the newest complete partition, and when it differs from the one
 * served loads it into a new version (murr_write_begin_opt with MURR_WRITE_REPLACE, one
 * row group at a time) that is swapped in atomically on commit; until then, and whenever
 * a load fails, the served version keeps serving. The version's source string is
 * "<source uri><partition>", which is how a restart knows what it serves without
 * downloading again (and how nodes on one prefix converge: each picks the same newest
 * complete partition). Failures are logged once per change of state, counted in the
 * status and metrics, and retried at the next poll.
 */
#ifndef MR_LOADER_LOADER_H
#define MR_LOADER_LOADER_H

#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "loader/source.h"

typedef struct mr_loader mr_loader_t;

typedef enum mr_source_kind { MR_SOURCE_LOCAL = 1, MR_SOURCE_S3 = 2 } mr_source_kind_t;

typedef struct mr_follow_config {
    char table[256];
    mr_source_kind_t kind;
    char local_path[800];
    mr_s3_config_t s3;
    uint64_t poll_interval_ms;   /* default 300000 (5 min) */
    /* The table's schema; NULL: inferred from the first partition's Parquet schema, with
     * the key columns named in key[] (created at the first load). */
    murr_schema *schema;
    char key[8][128];
    int nkeys;
} mr_follow_config_t;

void mr_follow_config_init(mr_follow_config_t *c);
void mr_follow_config_deinit(mr_follow_config_t *c);

/* The loader of db; no table followed yet. */
mr_loader_t *mr_loader_new(murr_db *db);
/* Follows a table: creates it if the schema is known and it is missing; a schema that
 * disagrees with the stored table is MURR_EINVAL naming the column. Replaces a previous
 * source of that table. The first poll happens at once. */
int mr_loader_follow(mr_loader_t *l, const mr_follow_config_t *cfg, mr_error_t *err);
/* Stops following (the table and its versions stay). MURR_ENOTFOUND if not followed. */
int mr_loader_unfollow(mr_loader_t *l, const char *table, mr_error_t *err);
/* Polls now (returns at once; the poll runs on the table's thread). */
int mr_loader_refresh(mr_loader_t *l, const char *table, mr_error_t *err);
/* GET .../source: JSON text of the table's source status (caller frees with mr_free). */
int mr_loader_status_json(mr_loader_t *l, const char *table, char **out, mr_error_t *err);
/* Prometheus text of every followed table. */
void mr_loader_metrics(mr_loader_t *l, mr_buf_t *out);
/* Stops every thread (a running load is abandoned: its version is never swapped in). */
void mr_loader_free(mr_loader_t *l);

#endif
