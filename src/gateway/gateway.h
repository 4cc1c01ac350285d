/*
 * gateway.h: everything between an HTTP request and the core: routing,
 * authentication, HTTP triggers, the invoke API, the management API (run on
 * worker threads), logs, health and metrics.
 *
 * OVERALL DESIGN
 * The gateway keeps the in-memory view of every function (its "snapshot"
 * from the API, parsed once into struct nb_fn) in a hash map keyed by
 * "service/function", so the hot path never reads the store.  Management
 * requests run one at a time on the uv thread pool; the snapshots they
 * return are applied on the loop when they complete.  A function whose code
 * or config changed gets a new pool; the old one is retired (drained).
 */
#ifndef NB_GATEWAY_GATEWAY_H
#define NB_GATEWAY_GATEWAY_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "base/err.h"
#include "http/http.h"

struct nb_sched;
struct nb_logstore;
struct nb_api;
struct nb_meter;

struct nb_gateway_config {
    size_t max_sync_body;      /* invocation bodies; default 32 MiB */
    size_t max_mgmt_body;      /* management bodies (code uploads); default 72 MiB */
    unsigned idle_timeout_ms;  /* instance idle timeout; default 300 s */
    int max_instances;         /* per function; default 100 */
    int max_queue;             /* pending invocations per pool; default 1000 */
    unsigned queue_timeout_ms; /* longest wait in a pool's queue (then 429); default 10 s */
    const char *account_id;    /* shown to functions as context.accountId */
    const char *endpoint;      /* our URL, for messages */
    struct nb_meter *meter;    /* usage records (meter/meter.h); may be NULL; borrowed */
};

struct nb_gateway;

/* The gateway borrows sched, logs and api; they must outlive it. */
struct nb_gateway *nb_gateway_new(uv_loop_t *loop, struct nb_sched *sched, struct nb_logstore *logs,
                                  struct nb_api *api, const struct nb_gateway_config *cfg);
void nb_gateway_free(struct nb_gateway *gw);
/*
 * Forgets every function and retires its pool (shutdown: before the
 * scheduler stops, which frees the pools).
 */
void nb_gateway_clear(struct nb_gateway *gw);

/* Loads the start-up state: every function snapshot and every access key. */
int nb_gateway_load(struct nb_gateway *gw, json_t *snapshots, json_t *keys, struct nb_err *err);

/* The HTTP server's handler and error hook (udata = the gateway). */
void nb_gateway_handle(struct nb_http_request *req, void *udata);
void nb_gateway_on_error(struct nb_http_request *req, int status, const char *code,
                         const char *message, void *udata);
/* Body limit for a request whose headers have arrived (udata = the gateway). */
size_t nb_gateway_body_limit(const struct nb_http_request *req, void *udata);

/*
 * Opens the async queue over the store's database and starts its executor
 * and the timer triggers of the functions loaded so far (call after
 * nb_gateway_load).  Blocks on disk (start-up).  0 or -errno with err.
 */
struct nb_store;
int nb_gateway_async_open(struct nb_gateway *gw, struct nb_store *store, struct nb_err *err);
/*
 * Shutdown: timers stop, async invocations are no longer started (nor
 * accepted); those running finish or, if the platform kills them, go back
 * to the queue uncounted.
 */
void nb_gateway_async_stop(struct nb_gateway *gw);

/*
 * Loads the start-up versions and aliases (nb_api_qualifiers_all), after
 * nb_gateway_load.  Returns 0.
 */
int nb_gateway_load_qualifiers(struct nb_gateway *gw, json_t *all);
/*
 * Registers the async queue's depth gauge for /metrics and /api/v1/stats
 * (depth is called on the loop; until set the depth reads 0).
 */
void nb_gateway_set_queue_depth(struct nb_gateway *gw, uint64_t (*depth)(void *arg), void *arg);

/*
 * Sets the global policy (docs/security-gateway.md): {"ipAcl": {allow, deny},
 * "rateLimit": {"perIp": {qps, burst}}, "trustedProxies": [CIDR...]};
 * NULL clears it.  0, or -EINVAL with err (nothing changed).
 */
int nb_gateway_set_policy(struct nb_gateway *gw, const json_t *policy, struct nb_err *err);

/* Management requests queued or running (shutdown waits for them). */
unsigned nb_gateway_busy(const struct nb_gateway *gw);

#endif
