/*
 * internal.h: what the gateway's files share (not for other modules).
 */
#ifndef NB_GATEWAY_INTERNAL_H
#define NB_GATEWAY_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "auth/keys.h"
#include "base/list.h"
#include "base/map.h"
#include "gateway/gateway.h"
#include "gateway/router.h"
#include "policy/policy.h"
#include "runtime/instance.h"

#define NB_M_GET 0x01
#define NB_M_POST 0x02
#define NB_M_PUT 0x04
#define NB_M_DELETE 0x08
#define NB_M_HEAD 0x10
#define NB_M_PATCH 0x20
#define NB_M_OPTIONS 0x40

struct nb_http_trigger {
    char *name;
    char *qualifier;
    unsigned methods;
    int anonymous;
    struct nb_ipacl acl; /* triggerConfig.ipAcl (policy.c) */
    struct nb_cors cors; /* triggerConfig.cors */
};

/* One function as the hot path sees it, parsed from its snapshot. */
struct nb_fn {
    char *key; /* "service/function" */
    char *service;
    char *name;
    json_t *snapshot; /* owned */
    int timeout_s;
    int memory_mb;
    struct nb_http_trigger *http;
    size_t nhttp;
    struct nb_pool *pool; /* created on first use */
    struct nb_rate rate;  /* rateLimit of the function (policy.c); qps 0: none */
    struct nb_ipacl acl;  /* ipAcl of the function */
    char *version;        /* NULL: LATEST; else the published version id (version.c) */
    int fields_meta;      /* its shim reads HTTP INVOKE metas in the fields form (Node.js) */
};

/* Async invocations (async.c; docs/internals/queue.md). */
#define NB_ASYNC_MAX_PAYLOAD (128u << 10)
#define NB_ASYNC_DEFAULT_RETRIES 3
#define NB_ASYNC_DEFAULT_MAX_AGE_S 86400
struct nb_gw_async;

struct nb_gateway {
    uv_loop_t *loop;
    struct nb_sched *sched;
    struct nb_logstore *logs;
    struct nb_api *api;
    struct nb_gateway_config cfg;
    struct nb_map fns;                  /* "service/function" -> struct nb_fn */
    struct nb_map keys;                 /* access key id -> secret (char *) */
    struct nb_map quals;                /* service -> its versions and aliases (version.c) */
    struct nb_map stats;                /* "service/function" -> counters (stats.c) */
    struct nb_map domains;              /* custom domain name -> struct nb_gw_domain (domain.c) */
    uint64_t (*queue_depth)(void *arg); /* async queue depth (nb_gateway_set_queue_depth) */
    void *queue_depth_arg;
    struct nb_gw_async *async;   /* NULL until nb_gateway_async_open */
    struct nb_gw_policy *policy; /* global policy and rate-limit buckets (policy.c); may be NULL */
    /* management requests run one at a time, in arrival order */
    struct nb_list mgmt_queue;
    int mgmt_running;
    unsigned mgmt_count;
    unsigned logs_reading;   /* log queries on the thread pool (mgmt.c caps them) */
    unsigned logs_following; /* open `logs -f` streams (mgmt.c caps them) */
};

/* ---- versions, aliases and accounting (version.c, stats.c) ---- */

/* An alias: version, or version2 with probability weight. */
struct nb_gw_alias {
    char version[24];
    char version2[24]; /* "" for none */
    double weight;
};

/* Why a qualifier did not resolve: status 404 and an FC error code. */
struct nb_gw_miss {
    int status;
    const char *code;
    char message[400];
};

/* What nb_gw_account needs to know about a finished invocation's function. */
struct nb_gw_acct {
    char service[129];
    char function[129];
    char version[24]; /* "LATEST" or the version id that ran */
    int memory_mb;
    int cold; /* the invocation waited for a cold start */
};

/* The qualifiers doc of a service (api.h); NULL drops the service's versions. */
void nb_gw_apply_qualifiers(struct nb_gateway *gw, const char *service, json_t *doc);
/* Forgets every version, retiring their pools (shutdown, like nb_gateway_clear). */
void nb_gw_quals_clear(struct nb_gateway *gw);
/*
 * The function that qualifier (NULL/""/LATEST/$LATEST, a version id or an
 * alias, drawing between an alias's two versions) designates; NULL with
 * miss filled if none.  The result lives until the next change applied.
 */
struct nb_fn *nb_gw_resolve(struct nb_gateway *gw, const char *service, const char *function,
                            const char *qualifier, struct nb_gw_miss *miss);
/* The version an alias sends a call to, for a uniform draw u in [0, 1). */
const char *nb_gw_alias_pick(const struct nb_gw_alias *a, double u);
/* Calls cb for every function of every published version held. */
void nb_gw_version_pools(struct nb_gateway *gw, void (*cb)(struct nb_fn *fn, void *arg), void *arg);
/* gateway.c: a function parsed from a snapshot, and its release (retires its pool). */
struct nb_fn *nb_gw_fn_new(const char *service, const char *function, json_t *snapshot);
void nb_gw_fn_free(struct nb_fn *fn);
/* gateway.c: responses sent, by status code (for /metrics). */
uint64_t nb_gw_http_count(int code);

/*
 * After every invocation (sync or async, loop thread): counters and
 * histograms, the usage record (meter), the REPORT log line (also appended
 * to tail if non-NULL: X-Fc-Log-Result).  inv->end_ns should be set.
 */
void nb_gw_account(struct nb_gateway *gw, const struct nb_gw_acct *a, struct nb_invocation *inv,
                   struct nb_buf *tail);
void nb_gw_count_throttle(struct nb_gateway *gw, const char *service, const char *function);
/* "success", "handled_error", ... (the status label of metrics and usage records). */
const char *nb_gw_status_label(enum nb_inv_status st);
void nb_gw_stats_release(struct nb_gateway *gw);
/* GET /api/v1/stats (signed; the caller authenticated it). */
void nb_gw_stats(struct nb_gateway *gw, struct nb_http_request *req, const char *request_id);

/* gateway.c */
void nb_gw_respond(struct nb_http_request *req, int status, const char *request_id,
                   const struct nb_kv *extra, size_t nextra, const char *content_type,
                   const void *body, size_t len);
void nb_gw_error(struct nb_http_request *req, int status, const char *request_id, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Clock skew a signed request's date may have, either way (FC's Date, SigV4's X-Amz-Date). */
#define NB_GW_MAX_CLOCK_SKEW_S (15 * 60)
/* 1 for Lambda's API (/2015-03-31/), whose answers and errors have their own shape. */
int nb_gw_lambda_path(const struct nb_http_request *req);
/* nb_gw_error with extra headers and a formatted message. */
void nb_gw_error_h(struct nb_http_request *req, int status, const char *request_id,
                   const struct nb_kv *extra, size_t nextra, const char *code, const char *msg);
/* 0 if req is signed by a known key; else answers the request (401/403) and returns -1. */
int nb_gw_authenticate(struct nb_gateway *gw, struct nb_http_request *req, const char *request_id);
/* An access key as the gateway holds it (policy.c keeps the map's values). */
struct nb_gw_key {
    char *secret;
    char *scope; /* auth/keys.h */
};
/* nb_gw_authenticate that also gives the key that signed (borrowed). */
int nb_gw_authenticate_key(struct nb_gateway *gw, struct nb_http_request *req,
                           const char *request_id, const struct nb_gw_key **key);
/* NB_M_* bit of a method name, 0 if unknown. */
unsigned nb_gw_method_bit(const char *m);
struct nb_fn *nb_gw_find(struct nb_gateway *gw, const char *service, const char *function);
void nb_gw_apply(struct nb_gateway *gw, const char *service, const char *function,
                 json_t *snapshot);

/* invoke.c */
void nb_gw_trigger(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                   const char *request_id);
void nb_gw_invoke(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                  const char *request_id);

/* invoke.c: the "http" object of an INVOKE meta for req (new reference); the function's pool. */
json_t *nb_gw_trigger_http(struct nb_http_request *req, const struct nb_route *route);
struct nb_pool *nb_gw_fn_pool(struct nb_gateway *gw, struct nb_fn *fn);

/*
 * invoke.c: a synchronous event call of fn (the invoke APIs), with a log
 * tail or not, answered in the shape of the API req called (FC's or
 * Lambda's, nb_gw_lambda_path); client_context (JSON object text or NULL)
 * goes into the INVOKE meta.
 */
void nb_gw_invoke_event(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                        const char *rid, int tail, const char *client_context);
/* The decoded value (cut to fit out) of query parameter name, or NULL. */
const char *nb_gw_query_param(const char *q, const char *name, char *out, size_t len);
/* lambda.c: POST /2015-03-31/functions/<FunctionName>/invocations (route->function). */
void nb_gw_lambda(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                  const char *rid);
/*
 * Lambda's error answer: x-amzn-ErrorType: code (the platform's FC codes
 * translated: AccessDenied -> AccessDeniedException, ...), {"Type","message"},
 * plus extra headers.  nb_gw_error answers this way on /2015-03-31/ paths.
 */
void nb_gw_lambda_answer_error(struct nb_http_request *req, int status, const char *rid,
                               const struct nb_kv *extra, size_t nextra, const char *code,
                               const char *msg);
/* async.c */
/*
 * Queues req for fn (route: the HTTP trigger's, NULL for the invoke APIs);
 * answers 202 when durable.
 */
void nb_gw_async_enqueue(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, struct nb_fn *fn, const char *rid);
/* Follows a function change (timers, async limits); called by nb_gw_apply. */
void nb_gw_async_apply(struct nb_gateway *gw, const char *service, const char *function,
                       json_t *snapshot);
/* GET /api/v1/invocations/<id> (route->rest = id) and GET /api/v1/invocations?service&function. */
void nb_gw_invocations(struct nb_gateway *gw, struct nb_http_request *req,
                       const struct nb_route *route, const char *rid);
void nb_gw_async_free(struct nb_gateway *gw);

/* policy.c (docs/security-gateway.md).  Each check returns 0 to go on, or
 * answers the request (403, 429) and returns -1. */
struct nb_gw_cors_out {
    char *origin; /* Access-Control-Allow-Origin; NULL: no CORS headers */
    char *expose;
    int credentials;
};
void nb_gw_policy_free(struct nb_gateway *gw);
void nb_gw_policy_fn_parse(struct nb_fn *fn, const json_t *function_doc);
void nb_gw_policy_trigger_parse(struct nb_http_trigger *t, const json_t *trigger_config);
void nb_gw_policy_fn_release(struct nb_fn *fn);
/* Every route: client address (X-Forwarded-For), global IP list, per-IP rate limit. */
int nb_gw_policy_request(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, const char *rid);
/* The function's and the trigger's (t may be NULL) IP lists. */
int nb_gw_policy_function(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                          const struct nb_http_trigger *t, const char *rid);
/* The function's token bucket. */
int nb_gw_policy_rate(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                      const char *rid);
/* Answers a CORS preflight for t and returns 1; 0 if req is not one (or t has no CORS). */
int nb_gw_cors_preflight(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_http_trigger *t, const char *rid);
/* The CORS headers an actual response will carry (copied out of t). */
void nb_gw_cors_prepare(const struct nb_http_request *req, const struct nb_http_trigger *t,
                        struct nb_gw_cors_out *out);
/* Fills out (room for 4) with c's headers; returns how many. */
size_t nb_gw_cors_headers(const struct nb_gw_cors_out *c, struct nb_kv *out);
void nb_gw_cors_out_release(struct nb_gw_cors_out *c);
/* Access keys: add or replace, forget, free one (the map's values). */
void nb_gw_key_put(struct nb_gateway *gw, const char *id, const char *secret, const char *scope);
void nb_gw_key_del(struct nb_gateway *gw, const char *id);
void nb_gw_key_free(struct nb_gw_key *k);
/*
 * Authenticates req and checks the key's scope for act on service
 * (auth/keys.h: NULL for global resources, "*" for any service): 403
 * AccessDenied if the scope does not cover it.
 */
int nb_gw_authorize(struct nb_gateway *gw, struct nb_http_request *req, const char *rid, int act,
                    const char *service);
/* The same for a management path: the action and service come from the path. */
int nb_gw_authorize_mgmt(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, const char *rid);
/* Applies resp->events of a management request (api.h): key and domain changes. */
void nb_gw_apply_events(struct nb_gateway *gw, json_t *events);

/* domain.c: custom domains (docs/security-gateway.md) */
struct nb_gw_droute {
    char *path;  /* as configured, a wildcard ending in "*" */
    size_t plen; /* bytes of path that must match (without the '*') */
    int wildcard;
    char *service, *function, *qualifier; /* qualifier: "LATEST" when none was given */
    unsigned methods;                     /* NB_M_* the route allows; 0: any */
};
struct nb_gw_domain {
    char *name;
    struct nb_gw_droute *routes;
    size_t nroutes;
};
/* A domain from its document {"routeConfig": {"routes": [...]}}; freed with nb_gw_domain_free. */
struct nb_gw_domain *nb_gw_domain_new(const char *name, const json_t *doc);
void nb_gw_domain_free(struct nb_gw_domain *d);
/* The route of d for a decoded path (exact first, then the longest prefix), or NULL. */
const struct nb_gw_droute *nb_gw_domain_match(const struct nb_gw_domain *d, const char *path);
/* A Host header's name without port or trailing dot, lower-cased, into out; -1 if none. */
int nb_gw_domain_host(const char *host, char *out, size_t outlen);
/* Start-up: every stored domain (through gw->api); 0 or -errno with err. */
int nb_gw_domains_load(struct nb_gateway *gw, struct nb_err *err);
/* Applies the "domain" events of a management answer (api.h). */
void nb_gw_domains_apply_events(struct nb_gateway *gw, json_t *events);
void nb_gw_domains_clear(struct nb_gateway *gw);
/* Answers req and returns 1 if its Host is a custom domain; 0: route it normally. */
int nb_gw_domain_handle(struct nb_gateway *gw, struct nb_http_request *req, const char *rid);

/* mgmt.c */
void nb_gw_mgmt(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id);
void nb_gw_logs(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id);
void nb_gw_metrics(struct nb_gateway *gw, struct nb_http_request *req);

#endif
