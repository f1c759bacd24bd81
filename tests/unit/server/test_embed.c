/* Tests of the servers started on a caller's db (murr_server.h, src/server/embed.c). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "murr_server.h"
#include "test_util.h"

/* GET path on 127.0.0.1:port; the first bytes of the answer into buf. */
static void http_get(int port, const char *path, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
}

static murr_db *open_db(char **dir)
{
    *dir = tu_tempdir("embed");
    murr_db *db = NULL;
    murr_error e = {0};
    cr_assert_eq(murr_open(*dir, NULL, &db, &e), 0, "%s", e.message);
    return db;
}

Test(embed, http_and_flight_serve_the_callers_db)
{
    char *dir;
    murr_db *db = open_db(&dir);
    murr_error e = {0};
    murr_schema *s = NULL;
    const char *js = "{\"columns\":{\"id\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true}}}";
    cr_assert_eq(murr_schema_from_json(js, strlen(js), &s, &e), 0, "%s", e.message);
    cr_assert_eq(murr_create_table(db, "made_in_process", s, &e), 0, "%s", e.message);
    murr_schema_free(s);
    murr_server_options o;
    murr_server_options_default(&o);
    o.grpc_port = 0;
    murr_server *srv = NULL;
    cr_assert_eq(murr_server_start(db, &o, &srv, &e), 0, "%s", e.message);
    int port = murr_server_http_port(srv);
    cr_assert(port > 0);
    cr_assert(murr_server_grpc_port(srv) > 0 && murr_server_grpc_port(srv) != port);
    char buf[4096];
    http_get(port, "/api/v1/table", buf, sizeof(buf));
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert(strstr(buf, "\"made_in_process\""), "the server lists the caller's table: %s", buf);
    murr_server_stop(srv);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}

Test(embed, bad_ports_and_a_taken_port_are_errors)
{
    char *dir;
    murr_db *db = open_db(&dir);
    murr_error e = {0};
    murr_server_options o;
    murr_server_options_default(&o);
    o.http_port = 70000;
    murr_server *srv = NULL;
    cr_assert_eq(murr_server_start(db, &o, &srv, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "70000"), "%s", e.message);
    o.http_port = 0;
    cr_assert_eq(murr_server_start(db, &o, &srv, &e), 0, "%s", e.message);
    murr_server *again = NULL;
    o.http_port = murr_server_http_port(srv);
    cr_assert_neq(murr_server_start(db, &o, &again, &e), 0);
    cr_assert(strstr(e.message, "127.0.0.1:"), "names the address: %s", e.message);
    murr_server_stop(srv);
    murr_close(db);
    tu_rmtree(dir);
    free(dir);
}
