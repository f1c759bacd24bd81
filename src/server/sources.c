/* sources.c - the followed tables of a running server and their HTTP routes (sources.h). */
#include "server/sources.h"

#include "conf/tables.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "server/http_internal.h"

#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mr_sources {
    murr_db *db;
    mr_loader_t *loader;
    char path[PATH_MAX];       /* <data>/sources.json */
    pthread_mutex_t mu;
    json_t *api;               /* {"tables": {name: body}}: the sources set through the API */
    char **declared;           /* tables of the configuration */
    size_t ndeclared;
};

mr_sources_t *mr_sources_new(murr_db *db, const char *data_path)
{
    mr_sources_t *s = mr_xcalloc(1, sizeof(*s));
    s->db = db;
    s->loader = mr_loader_new(db);
    snprintf(s->path, sizeof(s->path), "%s/sources.json", data_path);
    pthread_mutex_init(&s->mu, NULL);
    s->api = json_pack("{s{}}", "tables");
    return s;
}

static bool declared(const mr_sources_t *s, const char *name)
{
    for (size_t i = 0; i < s->ndeclared; i++)
        if (strcmp(s->declared[i], name) == 0)
            return true;
    return false;
}

static int save_locked(mr_sources_t *s, mr_error_t *err)
{
    char *text = json_dumps(s->api, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot serialise %s", s->path);
    int rc = mr_fs_write_atomic(s->path, text, strlen(text), err);
    free(text);
    return rc;
}

int mr_sources_start(mr_sources_t *s, mr_follow_config_t *tables, size_t n, mr_error_t *err)
{
    s->declared = mr_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        MR_RETURN_NOT_OK(mr_loader_follow(s->loader, &tables[i], err));
        s->declared[s->ndeclared++] = mr_xstrdup(tables[i].table);
    }
    if (!mr_fs_exists(s->path))
        return 0;
    json_error_t je;
    json_t *saved = json_load_file(s->path, 0, &je);
    if (saved == NULL || !json_is_object(json_object_get(saved, "tables"))) {
        json_decref(saved);
        return mr_err_set(err, MURR_ECORRUPT, "'%s' is not a sources file: %s (line %d)", s->path, je.text, je.line);
    }
    mr_follow_config_t *v;
    size_t nv;
    char *text = json_dumps(saved, 0);
    int rc = mr_tables_conf_parse(text, strlen(text), s->path, &v, &nv, err);
    free(text);
    if (rc != 0) {
        json_decref(saved);
        return rc;
    }
    for (size_t i = 0; i < nv && rc == 0; i++) {
        if (declared(s, v[i].table)) {
            MR_WARN("loader", "%s: table '%s' is declared in the configuration, which wins over its API source",
                    s->path, v[i].table);
            json_object_del(json_object_get(saved, "tables"), v[i].table);
            continue;
        }
        rc = mr_loader_follow(s->loader, &v[i], err);
    }
    mr_tables_conf_free(v, nv);
    json_decref(s->api);
    s->api = saved;
    return rc;
}

void mr_sources_metrics(mr_sources_t *s, mr_buf_t *out) { mr_loader_metrics(s->loader, out); }

void mr_sources_free(mr_sources_t *s)
{
    if (s == NULL)
        return;
    mr_loader_free(s->loader);
    for (size_t i = 0; i < s->ndeclared; i++)
        mr_free(s->declared[i]);
    mr_free(s->declared);
    json_decref(s->api);
    pthread_mutex_destroy(&s->mu);
    mr_free(s);
}

/* ------------------------------------------------------------------ HTTP ------------ */

static void json_answer(mr_resp_t *resp, int status, char *text)
{
    resp->status = status;
    resp->content_type = "application/json";
    mr_buf_append_cstr(&resp->body, text);
    free(text);
}

/* Answers the table's source status (as GET .../source) with `code`. */
static void status_answer(mr_loader_t *l, const char *name, int code, mr_resp_t *resp)
{
    mr_error_t e = {0};
    char *status;
    if (mr_loader_status_json(l, name, &status, &e) == 0)
        json_answer(resp, code, status);
    else
        mr_http_error_from(resp, &e);
}

static void put_source(mr_sources_t *s, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    mr_error_t e = {0};
    if (declared(s, name)) {
        mr_http_error(resp, 409, "table '%s' follows the source declared in the configuration file; change it there",
                      name);
        return;
    }
    json_error_t je;
    json_t *body = json_loadb((const char *)req->body.data, req->body.len, 0, &je);
    if (!json_is_object(body)) {
        json_decref(body);
        mr_http_error(resp, 400, "the source body must be a JSON object like a `tables.%s` entry of the configuration "
                      "({\"source\": {\"s3\": {...}} or {\"local\": {\"path\": ...}}, \"key\": [...], \"poll_interval\": "
                      "\"5m\"}): %s at line %d column %d", name, je.text, je.line, je.column);
        return;
    }
    json_t *wrapped = json_pack("{s{sO}}", "tables", name, body);
    char *text = json_dumps(wrapped, 0);
    json_decref(wrapped);
    mr_follow_config_t *v = NULL;
    size_t n = 0;
    int rc = mr_tables_conf_parse(text, strlen(text), "request body", &v, &n, &e);
    free(text);
    if (rc == 0)
        rc = mr_loader_follow(s->loader, &v[0], &e);
    mr_tables_conf_free(v, n);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        json_object_set(json_object_get(s->api, "tables"), name, body);
        rc = save_locked(s, &e);
        pthread_mutex_unlock(&s->mu);
    }
    json_decref(body);
    if (rc != 0) {
        mr_http_error_from(resp, &e);
        return;
    }
    status_answer(s->loader, name, 200, resp);
}

void mr_http_source(const mr_server_shared_t *sh, mr_req_t *req, const char *name, mr_resp_t *resp)
{
    mr_sources_t *s = sh->sources;
    mr_error_t e = {0};
    if (s == NULL) {
        mr_http_error(resp, 404, "table '%s' follows no source (this server runs no loader)", name);
        return;
    }
    if (req->method == HTTP_PUT) {
        put_source(s, req, name, resp);
        return;
    }
    if (req->method == HTTP_DELETE) {
        if (declared(s, name)) {
            mr_http_error(resp, 409, "table '%s' follows the source declared in the configuration file; remove it "
                          "there", name);
            return;
        }
        int rc = mr_loader_unfollow(s->loader, name, &e);
        if (rc == 0) {
            pthread_mutex_lock(&s->mu);
            json_object_del(json_object_get(s->api, "tables"), name);
            rc = save_locked(s, &e);
            pthread_mutex_unlock(&s->mu);
        }
        if (rc != 0)
            mr_http_error_from(resp, &e);
        else
            resp->status = 204;
        return;
    }
    status_answer(s->loader, name, 200, resp);
}

void mr_http_refresh(const mr_server_shared_t *sh, const char *name, mr_resp_t *resp)
{
    mr_error_t e = {0};
    if (sh->sources == NULL || mr_loader_refresh(sh->sources->loader, name, &e) != 0) {
        if (sh->sources == NULL)
            mr_err_set(&e, MURR_ENOTFOUND, "table '%s' follows no source", name);
        mr_http_error_from(resp, &e);
        return;
    }
    status_answer(sh->sources->loader, name, 202, resp);
}
