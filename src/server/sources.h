/*
 * sources.h - tables that follow a source, as the server runs them: the loader (loader.h),
 * the tables declared in the configuration (`tables:`), the ones set through the API
 * (persisted in <data>/sources.json, in the same shape as the configuration), and their
 * HTTP routes:
 *   GET    /api/v1/table/{name}/source   status (source, state, served partition, last
 *                                        check, last error, next poll, progress)
 *   PUT    /api/v1/table/{name}/source   follow a source: body as a `tables.<name>` entry
 *                                        of the configuration, in JSON
 *   DELETE /api/v1/table/{name}/source   stop following (the table and versions stay)
 *   POST   /api/v1/table/{name}/refresh  poll now (202)
 * A table declared in the configuration cannot be changed through the API (409): the file
 * would bring it back at the next start.
 */
#ifndef MR_SERVER_SOURCES_H
#define MR_SERVER_SOURCES_H

#include "core/buf.h"
#include "loader/loader.h"

typedef struct mr_sources mr_sources_t;

mr_sources_t *mr_sources_new(murr_db *db, const char *data_path);
/* Follows the configuration's tables (taking ownership of their schemas), then the ones
 * set through the API before (sources.json). Errors name the table and the reason. */
int mr_sources_start(mr_sources_t *s, mr_follow_config_t *tables, size_t n, mr_error_t *err);
void mr_sources_metrics(mr_sources_t *s, mr_buf_t *out);
void mr_sources_free(mr_sources_t *s);

struct mr_server_shared;
struct mr_req;
struct mr_resp;
void mr_http_source(const struct mr_server_shared *sh, struct mr_req *req, const char *name, struct mr_resp *resp);
void mr_http_refresh(const struct mr_server_shared *sh, const char *name, struct mr_resp *resp);

#endif
