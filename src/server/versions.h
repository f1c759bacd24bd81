/*
 * versions.h - the HTTP routes of table versions (issue: atomic replace with versions):
 *   GET  /api/v1/table/{name}/versions   the table's versions, newest first
 *   POST /api/v1/table/{name}/rollback   make an older kept version serve again
 * A replace itself is the write route with `?mode=replace` (handlers.c). Both handlers
 * follow mr_http_handle's contract: they never fail, errors become {"error": ...} responses
 * with the status mr_http_error_from maps the murr code to. The name is already checked.
 */
#ifndef MR_SERVER_VERSIONS_H
#define MR_SERVER_VERSIONS_H

#include "server/http_internal.h"

/* 200 {"table", "serving", "versions": [{"id", "rows", "bytes", "created", "created_at",
 * "source", "serving"}, ...]}; 404 unknown table. Read-only, but the engine answers it under
 * the table's replace lock, so it waits for a replace in progress: runs on a worker, never
 * on the event loop. */
void mr_http_versions(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp);
/* Target version from `?version=N` or a JSON body {"version": N} (neither: the newest kept
 * version older than the serving one). 200 {"table", "serving"}; 400/415/422 for a bad
 * request, 404 unknown table or version, 409 nothing older to roll back to, 503, 507.
 * Writes the table's manifest (fsync): runs on a worker. */
void mr_http_rollback(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp);

#endif
