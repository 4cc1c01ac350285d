/*
 * gateway.c: request dispatch, common responses, authentication and the
 * in-memory function registry (see gateway.h).
 */
#include "gateway/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "auth/sign.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "sched/sched.h"

struct nb_gateway *nb_gateway_new(uv_loop_t *loop, struct nb_sched *sched, struct nb_logstore *logs,
                                  struct nb_api *api, const struct nb_gateway_config *cfg)
{
    struct nb_gateway *gw = nb_xcalloc(1, sizeof(*gw));
    gw->loop = loop;
    gw->sched = sched;
    gw->logs = logs;
    gw->api = api;
    if (cfg)
        gw->cfg = *cfg;
    if (gw->cfg.max_sync_body == 0)
        gw->cfg.max_sync_body = 32u << 20;
    if (gw->cfg.max_mgmt_body == 0)
        gw->cfg.max_mgmt_body = 72u << 20;
    if (gw->cfg.idle_timeout_ms == 0)
        gw->cfg.idle_timeout_ms = 300 * 1000;
    if (gw->cfg.max_instances == 0)
        gw->cfg.max_instances = 100;
    if (gw->cfg.queue_timeout_ms == 0)
        gw->cfg.queue_timeout_ms = 10 * 1000;
    gw->cfg.account_id = nb_xstrdup(gw->cfg.account_id ? gw->cfg.account_id : "local");
    gw->cfg.endpoint = nb_xstrdup(gw->cfg.endpoint ? gw->cfg.endpoint : "");
    nb_map_init(&gw->fns);
    nb_map_init(&gw->keys);
    nb_map_init(&gw->quals);
    nb_map_init(&gw->stats);
    nb_map_init(&gw->domains);
    nb_list_init(&gw->mgmt_queue);
    return gw;
}

static void fn_free(struct nb_fn *fn)
{
    if (fn == NULL)
        return;
    if (fn->pool)
        nb_pool_retire(fn->pool);
    nb_gw_policy_fn_release(fn);
    for (size_t i = 0; i < fn->nhttp; i++) {
        free(fn->http[i].name);
        free(fn->http[i].qualifier);
    }
    free(fn->http);
    json_decref(fn->snapshot);
    free(fn->key);
    free(fn->service);
    free(fn->name);
    free(fn);
}

void nb_gateway_clear(struct nb_gateway *gw)
{
    nb_gw_quals_clear(gw);
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->fns, &i, &k, &v);)
        fn_free(v);
    nb_map_release(&gw->fns);
}

void nb_gateway_free(struct nb_gateway *gw)
{
    const char *k;
    void *v;
    nb_gateway_clear(gw);
    nb_gw_async_free(gw);
    nb_gw_policy_free(gw);
    for (size_t i = 0; nb_map_next(&gw->keys, &i, &k, &v);)
        nb_gw_key_free(v);
    nb_map_release(&gw->keys);
    nb_map_release(&gw->quals);
    nb_gw_domains_clear(gw);
    nb_gw_stats_release(gw);
    free((char *)gw->cfg.account_id);
    free((char *)gw->cfg.endpoint);
    free(gw);
}

unsigned nb_gateway_busy(const struct nb_gateway *gw)
{
    return gw->mgmt_count;
}

/* ---- registry ---- */

unsigned nb_gw_method_bit(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } map[] = {{"GET", NB_M_GET},        {"POST", NB_M_POST}, {"PUT", NB_M_PUT},
               {"DELETE", NB_M_DELETE},  {"HEAD", NB_M_HEAD}, {"PATCH", NB_M_PATCH},
               {"OPTIONS", NB_M_OPTIONS}};
    for (size_t i = 0; i < NB_ARRAY_SIZE(map); i++)
        if (strcasecmp(m, map[i].name) == 0)
            return map[i].bit;
    return 0;
}

static struct nb_fn *fn_from_snapshot(const char *service, const char *function, json_t *snap)
{
    struct nb_fn *fn = nb_xcalloc(1, sizeof(*fn));
    fn->service = nb_xstrdup(service);
    fn->name = nb_xstrdup(function);
    fn->key = nb_xasprintf("%s/%s", service, function);
    fn->snapshot = json_incref(snap);
    json_t *f = json_object_get(snap, "function");
    fn->timeout_s = (int)json_integer_value(json_object_get(f, "timeout"));
    if (fn->timeout_s <= 0)
        fn->timeout_s = 60;
    fn->memory_mb = (int)json_integer_value(json_object_get(f, "memorySize"));
    if (fn->memory_mb <= 0)
        fn->memory_mb = 128;
    fn->fields_meta =
        nb_runtime_family(json_string_value(json_object_get(f, "runtime")), NULL) == NB_RT_NODEJS;
    json_t *triggers = json_object_get(snap, "triggers");
    size_t i;
    json_t *t;
    fn->http = nb_xcalloc(json_array_size(triggers) + 1, sizeof(*fn->http));
    json_array_foreach(triggers, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "triggerType")) ?: "", "http") != 0)
            continue;
        struct nb_http_trigger *h = &fn->http[fn->nhttp++];
        json_t *cfg = json_object_get(t, "triggerConfig");
        h->name = nb_xstrdup(json_string_value(json_object_get(t, "triggerName")) ?: "");
        h->qualifier = nb_xstrdup(json_string_value(json_object_get(t, "qualifier")) ?: "LATEST");
        const char *auth = json_string_value(json_object_get(cfg, "authType"));
        h->anonymous = auth && strcasecmp(auth, "anonymous") == 0;
        json_t *methods = json_object_get(cfg, "methods"), *m;
        size_t j;
        json_array_foreach(methods, j, m)
        {
            h->methods |= nb_gw_method_bit(json_string_value(m) ?: "");
        }
        nb_gw_policy_trigger_parse(h, cfg);
    }
    nb_gw_policy_fn_parse(fn, f);
    return fn;
}

struct nb_fn *nb_gw_find(struct nb_gateway *gw, const char *service, const char *function)
{
    char key[300];
    if (nb_fn_key(key, sizeof(key), service, function) < 0)
        return NULL;
    return nb_map_get(&gw->fns, key);
}

/* The parts of a snapshot that, when changed, need new instances. */
static int same_runtime(json_t *a, json_t *b)
{
    json_t *fa = json_object_get(a, "function"), *fb = json_object_get(b, "function");
    json_t *sa = json_object_get(a, "service"), *sb = json_object_get(b, "service");
    return json_equal(fa, fb) &&
           json_equal(json_object_get(sa, "internetAccess"), json_object_get(sb, "internetAccess"));
}

void nb_gw_apply(struct nb_gateway *gw, const char *service, const char *function, json_t *snapshot)
{
    nb_gw_async_apply(gw, service, function, snapshot);
    if (function == NULL) { /* the whole service is gone */
        nb_gw_apply_qualifiers(gw, service, NULL);
        size_t plen = strlen(service);
        const char *k;
        void *v;
        for (size_t i = 0; nb_map_next(&gw->fns, &i, &k, &v);) {
            if (strncmp(k, service, plen) == 0 && k[plen] == '/') {
                nb_map_del(&gw->fns, k);
                fn_free(v);
            }
        }
        return;
    }
    char *key = nb_xasprintf("%s/%s", service, function);
    struct nb_fn *old = nb_map_get(&gw->fns, key);
    if (snapshot == NULL) {
        nb_map_del(&gw->fns, key);
        fn_free(old);
        free(key);
        return;
    }
    struct nb_fn *fn = fn_from_snapshot(service, function, snapshot);
    if (old && old->pool && same_runtime(old->snapshot, snapshot)) {
        fn->pool = old->pool; /* only triggers or metadata changed: keep warm instances */
        old->pool = NULL;
    }
    nb_map_put(&gw->fns, key, fn);
    fn_free(old);
    free(key);
    /* minInstances are started at deploy and start-up, not on the first call */
    if (fn->pool == NULL && json_integer_value(json_object_get(
                                json_object_get(snapshot, "function"), "minInstances")) > 0)
        nb_gw_fn_pool(gw, fn);
}

int nb_gateway_load(struct nb_gateway *gw, json_t *snapshots, json_t *keys, struct nb_err *err)
{
    size_t i;
    json_t *s;
    json_array_foreach(snapshots, i, s)
    {
        const char *svc =
            json_string_value(json_object_get(json_object_get(s, "service"), "serviceName"));
        const char *fn =
            json_string_value(json_object_get(json_object_get(s, "function"), "functionName"));
        if (svc == NULL || fn == NULL)
            return nb_err_set(err, -EINVAL, "snapshot %zu has no service or function name", i);
        nb_gw_apply(gw, svc, fn, s);
    }
    json_array_foreach(keys, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "accessKeyId"));
        const char *secret = json_string_value(json_object_get(s, "accessKeySecret"));
        if (id && secret)
            nb_gw_key_put(gw, id, secret, json_string_value(json_object_get(s, "scope")));
    }
    return nb_gw_domains_load(gw, err); /* custom domains (domain.c) */
}

/* ---- responses ---- */

/* Responses by status code, for /metrics (the loop is the only writer). */
static uint64_t http_codes[600];

uint64_t nb_gw_http_count(int code)
{
    return code >= 0 && code < 600 ? http_codes[code] : 0;
}

struct nb_fn *nb_gw_fn_new(const char *service, const char *function, json_t *snapshot)
{
    return fn_from_snapshot(service, function, snapshot);
}

void nb_gw_fn_free(struct nb_fn *fn)
{
    if (fn == NULL)
        return;
    free(fn->version);
    fn->version = NULL;
    fn_free(fn);
}

void nb_gw_respond(struct nb_http_request *req, int status, const char *request_id,
                   const struct nb_kv *extra, size_t nextra, const char *content_type,
                   const void *body, size_t len)
{
    if (status >= 100 && status < 600)
        http_codes[status]++;
    struct nb_kv h[24];
    size_t n = 0;
    if (content_type)
        h[n++] = (struct nb_kv){"Content-Type", content_type};
    if (request_id)
        h[n++] = (struct nb_kv){"X-Fc-Request-Id", request_id};
    for (size_t i = 0; i < nextra && n < NB_ARRAY_SIZE(h); i++)
        h[n++] = extra[i];
    nb_http_respond(req, status, h, n, body, len);
}

int nb_gw_lambda_path(const struct nb_http_request *req)
{
    return strncmp(req->path, "/2015-03-31/", 12) == 0;
}

void nb_gw_error_h(struct nb_http_request *req, int status, const char *request_id,
                   const struct nb_kv *extra, size_t nextra, const char *code, const char *msg)
{
    if (nb_gw_lambda_path(req)) { /* Lambda's API: its error shape */
        nb_gw_lambda_answer_error(req, status, request_id, extra, nextra, code, msg);
        return;
    }
    struct nb_buf body;
    nb_buf_init(&body, 1 << 16);
    nb_api_error_body(&body, code, msg);
    nb_gw_respond(req, status, request_id, extra, nextra, "application/json", body.data ?: "",
                  body.len);
    nb_buf_release(&body);
}

void nb_gw_error(struct nb_http_request *req, int status, const char *request_id, const char *code,
                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nb_gw_error_h(req, status, request_id, NULL, 0, code, msg);
}

void nb_gateway_on_error(struct nb_http_request *req, int status, const char *code,
                         const char *message, void *udata)
{
    (void)udata;
    char rid[37];
    nb_uuid(rid);
    nb_gw_error(req, status, rid, code, "%s", message);
}

/* ---- authentication ---- */

int nb_gw_authenticate(struct nb_gateway *gw, struct nb_http_request *req, const char *request_id)
{
    const struct nb_gw_key *key;
    return nb_gw_authenticate_key(gw, req, request_id, &key);
}

int nb_gw_authenticate_key(struct nb_gateway *gw, struct nb_http_request *req,
                           const char *request_id, const struct nb_gw_key **key)
{
    *key = NULL;
    const char *auth = nb_http_header(req, "authorization");
    if (auth == NULL) {
        nb_gw_error(req, 401, request_id, "Unauthorized",
                    "missing Authorization header: sign requests with an access key "
                    "(FC scheme: \"FC <AccessKeyID>:<signature>\")");
        return -1;
    }
    char *buf = NULL;
    const char *id, *sig;
    if (nb_sign_parse_authorization(auth, &buf, &id, &sig) < 0) {
        nb_gw_error(req, 403, request_id, "SignatureNotMatch",
                    "malformed Authorization header: expected \"FC <AccessKeyID>:<signature>\"");
        free(buf);
        return -1;
    }
    const struct nb_gw_key *k = nb_map_get(&gw->keys, id);
    const char *secret = k ? k->secret : NULL;
    if (secret == NULL) {
        nb_gw_error(req, 403, request_id, "InvalidAccessKeyID", "access key '%s' does not exist",
                    id);
        free(buf);
        return -1;
    }
    const char *date = nb_http_header(req, "date");
    long long t = date ? nb_sign_parse_date(date) : -1;
    long long now = (long long)time(NULL);
    if (t < 0 || t < now - NB_GW_MAX_CLOCK_SKEW_S || t > now + NB_GW_MAX_CLOCK_SKEW_S) {
        nb_gw_error(req, 403, request_id, "SignatureNotMatch",
                    date ? "the Date header is more than 15 minutes away from the server's time"
                         : "missing Date header");
        free(buf);
        return -1;
    }
    char *sts = nb_sign_string_to_sign(req->method, nb_http_header(req, "content-md5"),
                                       nb_http_header(req, "content-type"), date, req->headers,
                                       req->nheaders, req->path, req->query);
    char *want = sts ? nb_sign_compute(secret, sts) : NULL;
    int ok = want && strlen(want) == strlen(sig) && nb_secure_equal(want, sig, strlen(sig));
    if (!ok)
        nb_gw_error(req, 403, request_id, "SignatureNotMatch",
                    "the request signature we calculated does not match the signature you "
                    "provided; check your access key secret and signing method");
    free(want);
    free(sts);
    free(buf);
    if (ok)
        *key = k;
    return ok ? 0 : -1;
}

/* ---- dispatch ---- */

size_t nb_gateway_body_limit(const struct nb_http_request *req, void *udata)
{
    struct nb_gateway *gw = udata;
    const char *p = req->path;
    int mgmt = (strncmp(p, "/api/v1/", 8) == 0 || strncmp(p, "/2016-08-15/", 12) == 0) &&
               strncmp(p, "/2016-08-15/proxy/", 18) != 0 && strstr(p, "/invocations") == NULL;
    const char *inv_type = nb_http_header(req, "x-fc-invocation-type");
    if (!mgmt && inv_type && strcasecmp(inv_type, "Async") == 0)
        return NB_ASYNC_MAX_PAYLOAD; /* answered 413 EntityTooLarge beyond */
    return mgmt ? gw->cfg.max_mgmt_body : gw->cfg.max_sync_body;
}

/*
 * A request id (a version 4 UUID, like nb_uuid) for the loop thread's hot
 * path: the random bytes come from a 4 KiB buffer refilled by one
 * getrandom(2) every 256 requests, and the hex is written without printf.
 */
static void request_id(char out[37])
{
    static unsigned char pool[4096];
    static size_t used = sizeof(pool);
    static const char hex[] = "0123456789abcdef";
    if (used + 16 > sizeof(pool)) {
        nb_random_bytes(pool, sizeof(pool));
        used = 0;
    }
    unsigned char *b = pool + used;
    used += 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}

void nb_gateway_handle(struct nb_http_request *req, void *udata)
{
    struct nb_gateway *gw = udata;
    char rid[37];
    request_id(rid);
    if (nb_gw_domain_handle(gw, req, rid)) /* Host is a custom domain (domain.c) */
        return;
    struct nb_route route;
    nb_route_parse(req->path, &route);
    if (nb_gw_policy_request(gw, req, &route, rid) < 0) {
        nb_route_release(&route);
        return;
    }
    switch (route.kind) {
    case NB_ROUTE_HEALTH:
        nb_gw_respond(req, 200, rid, NULL, 0, "application/json", "{\"status\":\"ok\"}", 15);
        break;
    case NB_ROUTE_METRICS:
        nb_gw_metrics(gw, req);
        break;
    case NB_ROUTE_TRIGGER:
        nb_gw_trigger(gw, req, &route, rid);
        break;
    case NB_ROUTE_INVOKE:
        if (strcmp(req->method, "POST") != 0)
            nb_gw_error(req, 405, rid, "MethodNotAllowed", "use POST to invoke a function");
        else if (nb_gw_authorize(gw, req, rid, NB_ACT_INVOKE, route.service) == 0)
            nb_gw_invoke(gw, req, &route, rid);
        break;
    case NB_ROUTE_LOGS:
        if (strcmp(req->method, "GET") != 0)
            nb_gw_error(req, 405, rid, "MethodNotAllowed", "use GET to read logs");
        else if (nb_gw_authorize(gw, req, rid, NB_ACT_DEPLOY, route.service) == 0)
            nb_gw_logs(gw, req, &route, rid);
        break;
    case NB_ROUTE_INVOCATIONS:
        if (strcmp(req->method, "GET") != 0)
            nb_gw_error(req, 405, rid, "MethodNotAllowed", "use GET to read invocations");
        else if (nb_gw_authorize(gw, req, rid, NB_ACT_INVOKE, NULL) == 0)
            nb_gw_invocations(gw, req, &route, rid);
        break;
    case NB_ROUTE_MGMT:
        if (nb_gw_authorize_mgmt(gw, req, &route, rid) == 0)
            nb_gw_mgmt(gw, req, &route, rid);
        break;
    case NB_ROUTE_LAMBDA:
        nb_gw_lambda(gw, req, &route, rid);
        break;
    case NB_ROUTE_BAD:
        nb_gw_error(req, 400, rid, "InvalidArgument", "malformed path '%.200s'", req->path);
        break;
    case NB_ROUTE_NOT_FOUND:
    default:
        nb_gw_error(req, 404, rid, "PathNotSupported", "no such path: '%.200s'", req->path);
        break;
    }
    nb_route_release(&route);
}
