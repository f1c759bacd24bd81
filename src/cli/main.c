/*
 * main.c - the murr server binary: arguments, configuration (defaults < YAML file < MURR_*
 * environment), logging, signals, and the start/stop sequence of engine and
 * servers. Exit codes: 0 after a graceful shutdown (SIGTERM/SIGINT) or --version/--help;
 * 1 when the engine cannot open or a listener cannot bind; 2 for usage and config errors.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/log.h"
#include "server/auth.h"
#include "server/evcore.h"
#include "server/flight/flight.h"
#include "server/server.h"
#include "server/sources.h"
#include "conf/tables.h"

extern char **environ;

/* A listen address that only this host can reach (127.0.0.0/8, ::1, localhost). */
static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Issue 14: tokens from server.auth.tokens_file, or one loud warning when none are set and
 * a listener is reachable from the network. */
static int start_auth(const mr_config_t *cfg, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_auth_configure(cfg->auth.tokens_file, err));
    mr_auth_t *a = mr_auth_acquire();
    if (a) {
        MR_INFO("murr", "Access control: %zu bearer tokens from %s", mr_auth_count(a), cfg->auth.tokens_file);
        mr_auth_unref(a);
        return 0;
    }
    char what[600] = "";
    if (!is_loopback(cfg->http.host))
        snprintf(what, sizeof(what), "HTTP on %.250s:%u", cfg->http.host, cfg->http.port);
    if (cfg->grpc.enabled && !is_loopback(cfg->grpc.host))
        snprintf(what + strlen(what), sizeof(what) - strlen(what), "%sFlight on %.250s:%u", what[0] ? " and " : "",
                 cfg->grpc.host, cfg->grpc.port);
    if (what[0])
        MR_WARN("murr", "no access control: anyone who can reach %s can read, write, replace and drop every table "
                "(no tokens configured). Set server.auth.tokens_file (or MURR_SERVER_AUTH_TOKENS_FILE) to a file of "
                "'<scopes> <token>' lines (scopes: read, write, admin), or listen on 127.0.0.1 only", what);
    return 0;
}

/* SIGHUP: re-read the tokens file and the TLS files; a file that fails to load keeps what is
 * in force (no open connection is dropped: new TLS handshakes get the new certificate). */
static void reload(const mr_config_t *cfg, mr_server_t *srv, mr_flight_server_t *flight)
{
    mr_error_t err = {0};
    if (mr_auth_reload(&err) != 0)
        MR_ERROR("murr", "SIGHUP: keeping the current tokens: %s", err.message);
    else if (cfg->auth.tokens_file[0])
        MR_INFO("murr", "SIGHUP: reloaded %s", cfg->auth.tokens_file);
    if (cfg->tls.cert_file[0] == '\0')
        return;
    int rc = mr_server_tls_reload(srv, &err);
    if (rc == 0 && flight)
        rc = mr_flight_tls_reload(flight, &err);
    if (rc != 0)
        MR_ERROR("murr", "SIGHUP: keeping the current TLS certificate: %s", err.message);
    else
        MR_INFO("murr", "SIGHUP: reloaded the TLS certificate %s and key %s%s%s", cfg->tls.cert_file,
                cfg->tls.key_file, cfg->tls.client_ca_file[0] ? ", client CAs " : "", cfg->tls.client_ca_file);
}

static void usage(FILE *out)
{
    fprintf(out,
            "murr %s - columnar cache for AI/ML inference\n\n"
            "Usage: murr [-c|--config FILE] [--print-config] [-V|--version] [-h|--help]\n\n"
            "  -c, --config FILE    load a YAML config file\n"
            "      --print-config   print the effective configuration as YAML and exit\n"
            "  -V, --version        print the version and exit\n"
            "  -h, --help           print this help and exit\n\n"
            "Environment: MURR_<KEY> for every config key (e.g. MURR_SERVER_HTTP_PORT=9090,\n"
            "MURR_STORAGE_PATH=/srv/murr); MURR_LOG=error|warn|info|debug|trace.\n",
            MURR_VERSION);
}

typedef struct cli_args {
    const char *config;
    bool print_config;
} cli_args_t;

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, cli_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("murr %s\n", MURR_VERSION);
            return 0;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "--print-config") == 0) {
            a->print_config = true;
        } else if (strncmp(arg, "--config=", 9) == 0) {
            a->config = arg + 9;
        } else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "murr: option '%s' needs a value\n\n", arg);
                usage(stderr);
                return 2;
            }
            a->config = argv[++i];
        } else {
            fprintf(stderr, "murr: unexpected argument '%s'\n\n", arg);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

static int load_config(const cli_args_t *a, mr_config_t *cfg)
{
    mr_error_t err = {0};
    mr_config_defaults(cfg);
    if (a->config && mr_config_load_file(cfg, a->config, &err) != 0)
        goto fail;
    if (mr_config_apply_env(cfg, environ, &err) != 0)
        goto fail;
    if (mr_config_validate(cfg, &err) != 0)
        goto fail;
    return 0;
fail:
    MR_ERROR("murr", "invalid configuration: %s", err.message);
    return 2;
}

int main(int argc, char **argv)
{
    cli_args_t args = {0};
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;

    mr_error_t err = {0};
    if (mr_log_init_from_env(&err) != 0) {
        fprintf(stderr, "murr: %s\n", err.message);
        return 2;
    }
    mr_config_t cfg;
    if (load_config(&args, &cfg) != 0)
        return 2;
    if (getenv("MURR_LOG") == NULL || *getenv("MURR_LOG") == '\0') {
        mr_log_level_t lvl;
        if (mr_log_level_parse(cfg.log_level, &lvl) == 0)
            mr_log_set_level(lvl);
    }
    if (args.print_config) {
        if (mr_config_resolve_storage(&cfg, &err) != 0) {
            MR_ERROR("murr", "%s", err.message);
            return 2;
        }
        return mr_config_print_yaml(&cfg, stdout) == 0 ? 0 : 1;
    }
#ifdef NDEBUG
    const char *build = "release";
#else
    const char *build = "debug";
#endif
    MR_INFO("murr", "Starting murr v%s (%s build)%s%s", MURR_VERSION, build, cfg.source_file[0] ? " with config " : "",
            cfg.source_file);
    if (mr_config_resolve_storage(&cfg, &err) != 0) {
        MR_ERROR("murr", "%s", err.message);
        return 2;
    }
    MR_INFO("murr", "HTTP listen: %s:%u, max_payload: %llu MiB", cfg.http.host, cfg.http.port,
            (unsigned long long)(cfg.http.max_payload_size >> 20));
    MR_INFO("murr", "Storage path: %s (native engine, sync_writes=%s)", cfg.storage.path,
            cfg.storage.sync_writes ? "true" : "false");

    if (start_auth(&cfg, &err) != 0) {
        MR_ERROR("murr", "%s", err.message);
        return 2;
    }

    /* Signals: block them in every thread (threads inherit the mask), take them in main. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    murr_options opts;
    murr_options_default(&opts);
    opts.sync_writes = cfg.storage.sync_writes;
    opts.segment_max_bytes = cfg.storage.segment_max_bytes;
    opts.compact_garbage_ratio = cfg.storage.compact_garbage_ratio;
    opts.background_compaction = cfg.storage.background_compaction;
    opts.reopen_interval_ms = cfg.storage.reopen_interval_ms;
    opts.keep_versions = cfg.storage.keep_versions;
    murr_db *db = NULL;
    if (murr_open(cfg.storage.path, &opts, &db, &err) != 0) {
        MR_ERROR("murr", "cannot open storage at %s: %s", cfg.storage.path, err.message);
        return 1;
    }
    /* tables that follow a source: the config file's `tables:`, then those set through the API */
    mr_follow_config_t *tables = NULL;
    size_t ntables = 0;
    if (cfg.source_file[0] && mr_tables_conf_load_file(cfg.source_file, &tables, &ntables, &err) != 0) {
        MR_ERROR("murr", "%s", err.message);
        murr_close(db);
        return 2;
    }
    mr_sources_t *sources = mr_sources_new(db, cfg.storage.path);
    int src_rc = mr_sources_start(sources, tables, ntables, &err);
    mr_tables_conf_free(tables, ntables);
    if (src_rc != 0) {
        MR_ERROR("murr", "%s", err.message);
        mr_sources_free(sources);
        murr_close(db);
        return 2;
    }
    /* one event core under both listeners (docs/decisions/0008-event-core.md) */
    mr_ev_core_t *core = mr_ev_core_new((int)cfg.http.threads, 0);
    mr_ev_core_set_output_budget(core, cfg.output.budget_bytes, cfg.output.stall_ms);
    mr_server_t *srv = NULL;
    mr_flight_server_t *flight = NULL;
    rc = mr_server_listen(core, &cfg, db, sources, &srv, &err);
    if (rc == 0 && cfg.grpc.enabled)
        rc = mr_flight_listen(core, &cfg, db, &flight, &err);
    if (rc == 0)
        rc = mr_ev_core_start(core, &err);
    if (rc != 0) {
        MR_ERROR("murr", "Server error: %s", err.message);
        mr_ev_core_stop(core, 0);
        mr_flight_free(flight);
        mr_server_free(srv);
        mr_sources_free(sources);
        murr_close(db);
        return 1;
    }
    MR_INFO("murr", "Listening for HTTP requests on %s:%u", cfg.http.host, mr_server_http_port(srv));
    if (flight)
        MR_INFO("murr", "Listening for Flight requests on %s:%u", cfg.grpc.host, mr_flight_port(flight));

    int sig = 0;
    for (;;) {
        sigwait(&sigs, &sig);
        if (sig != SIGHUP)
            break;
        reload(&cfg, srv, flight);
    }
    MR_INFO("murr", "received %s, shutting down: finishing in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
    unsigned left = mr_ev_core_stop(core, MR_SERVER_DRAIN_MS);
    MR_INFO("murr", "servers stopped (%u connections still open at the drain deadline)", left);
    mr_flight_free(flight);
    mr_server_free(srv);
    mr_sources_free(sources); /* a load in progress is abandoned: never swapped in */
    murr_close(db);
    mr_auth_install(NULL);
    MR_INFO("murr", "murr stopped cleanly");
    return 0;
}
