/*
 * daemon.c: `nubis serve` wiring (see daemon.h).
 *
 * Start-up order matters: the sandbox layer initializes before any thread
 * exists (it may fork a spawner), then the store, code store and logs open,
 * the admin key is ensured, every function's snapshot is loaded into the
 * gateway, and only then does the HTTP server listen and the endpoint file
 * appear (so a client that sees the file can use it).  Shutdown is the
 * reverse: stop accepting, let requests in flight finish, stop instances.
 *
 * Log lines are buffered by the logstore; a prepare handle writes them once
 * per loop iteration, just before the loop waits for I/O (one write(2) per
 * function's file instead of one per line).  It closes with the signal
 * handles once the instances are down, and nb_logstore_close writes what
 * the last iterations appended.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"
#include "codestore/codestore.h"
#include "daemon/config.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "meter/meter.h"
#include "obs/logstore.h"
#include "sandbox/sandbox.h"
#include "sched/sched.h"
#include "store/store.h"

#define SHUTDOWN_GRACE_MS 30000

char *nb_default_data_dir(void)
{
    const char *d = getenv("NUBIS_DATA_DIR");
    if (d && *d)
        return nb_xstrdup(d);
    d = getenv("XDG_DATA_HOME");
    if (d && *d)
        return nb_xasprintf("%s/nubis", d);
    d = getenv("HOME");
    if (d == NULL || *d == '\0') {
        struct passwd *pw = getpwuid(getuid());
        d = pw ? pw->pw_dir : "/";
    }
    return nb_xasprintf("%s/.local/share/nubis", d);
}

/* runtimes/ next to the binary (build/nubis -> ../runtimes), or NUBIS_RUNTIMES_DIR. */
static char *find_runtimes_dir(void)
{
    const char *env = getenv("NUBIS_RUNTIMES_DIR");
    if (env && *env)
        return nb_xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *cands[] = {"%s/../runtimes", "%s/runtimes", "%s/../lib/nubis/runtimes"};
        for (size_t i = 0; i < NB_ARRAY_SIZE(cands); i++) {
            char *p = nb_xasprintf(cands[i], exe);
            char *probe = nb_xasprintf("%s/nodejs/bootstrap.js", p);
            int ok = access(probe, R_OK) == 0;
            free(probe);
            if (ok) {
                char *real = realpath(p, NULL);
                free(p);
                return real ? real : nb_xstrdup(exe);
            }
            free(p);
        }
    }
    return nb_xstrdup("/usr/local/lib/nubis/runtimes");
}

static int parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return -EINVAL;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p < 0 || p > 65535)
        return -EINVAL;
    *port = (int)p;
    return 0;
}

struct daemon {
    uv_loop_t *loop;
    struct nb_http_server *http;
    struct nb_gateway *gw;
    struct nb_sched *sched;
    struct nb_meter *meter;
    struct nb_logstore *logs;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain;
    uv_prepare_t flush_logs;
    int stopping;
};

static void on_sched_down(void *arg)
{
    struct daemon *d = arg;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->drain, NULL);
    nb_logstore_flush(d->logs);
    uv_close((uv_handle_t *)&d->flush_logs, NULL);
    nb_meter_stop(d->meter);
}

/* Once per loop iteration, before polling: the lines appended in it reach their files. */
static void on_prepare(uv_prepare_t *p)
{
    struct daemon *d = p->data;
    nb_logstore_flush(d->logs);
}

/* Management work still running on the thread pool finishes before instances stop. */
static void on_drain(uv_timer_t *t)
{
    struct daemon *d = t->data;
    if (nb_gateway_busy(d->gw) > 0)
        return;
    uv_timer_stop(t);
    nb_gateway_clear(d->gw);
    nb_sched_shutdown(d->sched, on_sched_down, d);
}

static void on_http_down(void *arg)
{
    struct daemon *d = arg;
    nb_info("daemon", "requests drained; stopping instances");
    uv_timer_start(&d->drain, on_drain, 0, 20);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (d->stopping) {
        nb_warn("daemon", "second signal: exiting now");
        _exit(1);
    }
    d->stopping = 1;
    nb_info("daemon", "%s: shutting down (requests in flight finish first)",
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
    nb_gateway_async_stop(d->gw); /* timers stop; queued async work waits for the next start */
    nb_http_server_shutdown(d->http, SHUTDOWN_GRACE_MS, on_http_down, d);
}

/* DIR/policy.json, if present: the gateway's global policy (docs/security-gateway.md). */
static int load_policy(struct nb_gateway *gw, const char *data_dir)
{
    _cleanup_free_ char *path = nb_xasprintf("%s/policy.json", data_dir);
    json_error_t jerr;
    json_t *policy = json_load_file(path, 0, &jerr);
    if (policy == NULL && access(path, F_OK) < 0)
        return 0;
    struct nb_err err = {0};
    if (policy == NULL || nb_gateway_set_policy(gw, policy, &err) < 0) {
        fprintf(stderr, "nubis: '%s': %s\n", path, policy ? err.msg : jerr.text);
        json_decref(policy);
        return -1;
    }
    nb_info("daemon", "gateway policy loaded from '%s'", path);
    json_decref(policy);
    return 0;
}

int nb_daemon_run(const struct nb_daemon_options *opts)
{
    struct nb_err err = {0};
    char host[256];
    int port;
    /* defaults, then the config file, then the command line (daemon/config.h) */
    __attribute__((cleanup(nb_daemon_config_release))) struct nb_daemon_config cfg;
    nb_daemon_config_default(&cfg);
    if (opts->config_path && nb_daemon_config_load(opts->config_path, &cfg, &err) < 0) {
        fprintf(stderr, "nubis: %s\n", err.msg);
        return 2;
    }
    const char *listen = opts->listen ? opts->listen : cfg.listen;
    if (parse_listen(listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "nubis: bad --listen '%s': expected HOST:PORT\n", listen);
        return 2;
    }
    _cleanup_free_ char *data_dir = opts->data_dir ? nb_xstrdup(opts->data_dir)
                                    : cfg.data_dir ? nb_xstrdup(cfg.data_dir)
                                                   : nb_default_data_dir();
    _cleanup_free_ char *runtimes_dir = opts->runtimes_dir ? nb_xstrdup(opts->runtimes_dir)
                                        : cfg.runtimes_dir ? nb_xstrdup(cfg.runtimes_dir)
                                                           : find_runtimes_dir();
    int r = nb_mkdir_p(data_dir, 0700);
    if (r < 0) {
        fprintf(stderr, "nubis: cannot create data dir '%s': %s\n", data_dir, strerror(-r));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (nb_sandbox_global_init(&err) < 0) {
        fprintf(stderr, "nubis: sandbox: %s\n", err.msg);
        return 1;
    }

    _cleanup_free_ char *db_path = nb_xasprintf("%s/nubis.db", data_dir);
    _cleanup_free_ char *code_dir = nb_xasprintf("%s/code", data_dir);
    _cleanup_free_ char *logs_dir = nb_xasprintf("%s/logs", data_dir);
    struct nb_store *store = NULL;
    struct nb_codestore *code = NULL;
    struct nb_logstore *logs = NULL;
    if (nb_store_open(db_path, &store, &err) < 0 ||
        nb_codestore_open(code_dir, NULL, &code, &err) < 0 ||
        nb_logstore_open(logs_dir, cfg.log_max_bytes, &logs, &err) < 0) {
        fprintf(stderr, "nubis: %s\n", err.msg);
        return 1;
    }
    struct nb_api api = {.store = store, .code = code};
    json_t *keys = nb_api_keys_bootstrap(&api, data_dir, &err);
    json_t *snaps = keys ? nb_api_snapshot_all(&api, &err) : NULL;
    if (keys == NULL || snaps == NULL) {
        fprintf(stderr, "nubis: %s\n", err.msg);
        return 1;
    }

    struct daemon d = {.loop = uv_default_loop(), .logs = logs};
    d.sched = nb_sched_new(d.loop, runtimes_dir, logs);
    nb_sched_set_prewarm(d.sched, cfg.prewarm);
    d.meter = nb_meter_new(d.loop, store, &cfg.meter);
    api.meter = d.meter;
    _cleanup_free_ char *endpoint = NULL;
    struct nb_gateway_config gcfg = {.account_id = "local",
                                     .max_sync_body = cfg.max_sync_body,
                                     .max_mgmt_body = cfg.max_mgmt_body,
                                     .idle_timeout_ms = cfg.idle_timeout_s * 1000,
                                     .max_instances = cfg.max_instances,
                                     .max_queue = cfg.max_queue,
                                     .queue_timeout_ms = cfg.queue_timeout_s * 1000,
                                     .meter = d.meter};
    d.gw = nb_gateway_new(d.loop, d.sched, logs, &api, &gcfg);
    if (nb_gateway_load(d.gw, snaps, keys, &err) < 0) {
        fprintf(stderr, "nubis: loading functions: %s\n", err.msg);
        return 1;
    }
    if (load_policy(d.gw, data_dir) < 0)
        return 1;
    json_t *quals = nb_api_qualifiers_all(&api, &err);
    if (quals == NULL) {
        fprintf(stderr, "nubis: loading versions: %s\n", err.msg);
        return 1;
    }
    nb_gateway_load_qualifiers(d.gw, quals);
    json_decref(quals);
    if (nb_gateway_async_open(d.gw, store, &err) < 0) {
        fprintf(stderr, "nubis: async queue: %s\n", err.msg);
        return 1;
    }
    size_t nfns = json_array_size(snaps);
    json_decref(snaps);
    json_decref(keys);

    struct nb_http_limits limits;
    nb_http_limits_default(&limits);
    /* the larger of the two: the gateway holds each request to its own (nb_gateway_body_limit) */
    limits.max_body_bytes =
        cfg.max_mgmt_body > cfg.max_sync_body ? cfg.max_mgmt_body : cfg.max_sync_body;
    limits.max_header_bytes = cfg.max_header_bytes;
    limits.max_url_bytes = cfg.max_url_bytes;
    limits.header_timeout_ms = cfg.header_timeout_s * 1000;
    limits.body_timeout_ms = cfg.body_timeout_s * 1000;
    limits.idle_timeout_ms = cfg.keepalive_timeout_s * 1000;
    limits.max_connections = cfg.max_connections;
    limits.max_body_buffered = cfg.max_body_buffered;
    if (nb_http_server_new(d.loop, &limits, nb_gateway_handle, nb_gateway_on_error, d.gw, &d.http) <
        0) {
        fprintf(stderr, "nubis: cannot create the HTTP server\n");
        return 1;
    }
    nb_http_server_set_body_limit(d.http, nb_gateway_body_limit);
    if (nb_http_server_listen(d.http, host, port, &err) < 0) {
        fprintf(stderr, "nubis: %s\n", err.msg);
        return 1;
    }
    int bound = nb_http_server_port(d.http);
    endpoint = strchr(host, ':') ? nb_xasprintf("http://[%s]:%d", host, bound)
                                 : nb_xasprintf("http://%s:%d", host, bound);
    _cleanup_free_ char *endpoint_path = nb_xasprintf("%s/endpoint", data_dir);
    _cleanup_free_ char *endpoint_line = nb_xasprintf("%s\n", endpoint);
    r = nb_write_file_atomic(endpoint_path, endpoint_line, strlen(endpoint_line), 0644);
    if (r < 0)
        nb_warn("daemon", "cannot write '%s': %s", endpoint_path, strerror(-r));

    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_timer_init(d.loop, &d.drain);
    uv_prepare_init(d.loop, &d.flush_logs);
    d.sigterm.data = d.sigint.data = d.drain.data = d.flush_logs.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_prepare_start(&d.flush_logs, on_prepare);
    nb_info("daemon", "nubis listening on %s (data dir %s, %zu functions, runtimes %s)", endpoint,
            data_dir, nfns, runtimes_dir);

    uv_run(d.loop, UV_RUN_DEFAULT);

    nb_http_server_free(d.http);
    nb_gateway_free(d.gw);
    nb_sched_free(d.sched);
    nb_meter_free(d.meter);  /* writes the last usage records */
    nb_logstore_close(logs); /* writes the lines appended since the last flush */
    nb_codestore_close(code);
    nb_store_close(store);
    uv_loop_close(d.loop);
    nb_sandbox_global_shutdown(); /* the spawner, and any cgroup an instance left */
    nb_info("daemon", "stopped");
    return 0;
}
