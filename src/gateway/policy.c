/*
 * policy.c: the gateway's policy chain (docs/security-gateway.md):
 * the client's address (X-Forwarded-For from trusted proxies only), IP
 * allow/deny lists (global, per function, per HTTP trigger), token-bucket
 * rate limits (per function, per client IP), CORS for HTTP triggers and
 * access-key scopes.  The rules are parsed once, when a function's snapshot
 * is applied (struct nb_fn, struct nb_http_trigger) or when the global
 * policy is set; on the hot path they cost a few comparisons.
 *
 * Order for a function call: global IP list (every route but /healthz) ->
 * per-client-IP bucket -> function and trigger IP lists -> CORS preflight
 * (answered here, the function is not invoked) -> signature and key scope
 * -> per-function bucket.  The per-IP buckets live in a map that forgets
 * full buckets when it grows (a full bucket is the same as none), and is
 * capped, so a flood of distinct addresses cannot grow memory without bound.
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/keys.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

#define IP_BUCKETS_SWEEP_AT 4096
#define IP_BUCKETS_MAX 100000

struct nb_gw_policy {
    struct nb_ipacl acl;     /* global */
    struct nb_rate per_ip;   /* global default per client IP; qps 0: none */
    struct nb_cidr *trusted; /* proxies whose X-Forwarded-For counts */
    size_t ntrusted;
    struct nb_map ip_buckets; /* client IP -> struct nb_bucket */
    struct nb_map fn_buckets; /* "service/function" -> struct nb_bucket */
    size_t inserts_since_sweep;
};

static struct nb_gw_policy *policy_of(struct nb_gateway *gw)
{
    if (gw->policy == NULL) {
        gw->policy = nb_xcalloc(1, sizeof(*gw->policy));
        nb_map_init(&gw->policy->ip_buckets);
        nb_map_init(&gw->policy->fn_buckets);
    }
    return gw->policy;
}

static void free_values(struct nb_map *m)
{
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(m, &i, &k, &v);)
        free(v);
    nb_map_release(m);
    nb_map_init(m);
}

void nb_gw_policy_free(struct nb_gateway *gw)
{
    struct nb_gw_policy *p = gw->policy;
    if (p == NULL)
        return;
    nb_ipacl_release(&p->acl);
    free(p->trusted);
    free_values(&p->ip_buckets);
    free_values(&p->fn_buckets);
    nb_map_release(&p->ip_buckets);
    nb_map_release(&p->fn_buckets);
    free(p);
    gw->policy = NULL;
}

int nb_gateway_set_policy(struct nb_gateway *gw, const json_t *policy, struct nb_err *err)
{
    struct nb_ipacl acl;
    struct nb_rate per_ip = {0};
    struct nb_cidr *trusted = NULL;
    size_t ntrusted = 0;
    if (policy && !json_is_object(policy))
        return nb_err_set(err, -EINVAL, "the gateway policy must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)policy, key, v)
    {
        if (strcmp(key, "ipAcl") && strcmp(key, "rateLimit") && strcmp(key, "trustedProxies"))
            return nb_err_set(err, -EINVAL,
                              "policy: unknown key '%s' (use ipAcl, rateLimit, trustedProxies)",
                              key);
    }
    json_t *rl = json_object_get(policy, "rateLimit");
    if (rl && !json_is_object(rl))
        return nb_err_set(err, -EINVAL, "policy.rateLimit must be an object {\"perIp\": {...}}");
    json_object_foreach(rl, key, v)
    {
        if (strcmp(key, "perIp"))
            return nb_err_set(err, -EINVAL, "policy.rateLimit: unknown key '%s' (use perIp)", key);
    }
    if (nb_rate_parse(json_object_get(rl, "perIp"), "policy.rateLimit.perIp", &per_ip, err) < 0)
        return -EINVAL;
    if (nb_cidr_list_parse(json_object_get(policy, "trustedProxies"), "policy.trustedProxies",
                           &trusted, &ntrusted, err) < 0)
        return -EINVAL;
    if (nb_ipacl_parse(json_object_get(policy, "ipAcl"), "policy.ipAcl", &acl, err) < 0) {
        free(trusted);
        return -EINVAL;
    }
    struct nb_gw_policy *p = policy_of(gw);
    nb_ipacl_release(&p->acl);
    free(p->trusted);
    p->acl = acl;
    p->per_ip = per_ip;
    p->trusted = trusted;
    p->ntrusted = ntrusted;
    free_values(&p->ip_buckets);
    return 0;
}

/* ---- per function and per trigger rules ---- */

void nb_gw_policy_fn_parse(struct nb_fn *fn, const json_t *function_doc)
{
    struct nb_err err = {0};
    /* validated by the API when written: a failure here means an old document; log, ignore */
    if (nb_rate_parse(json_object_get(function_doc, "rateLimit"), "rateLimit", &fn->rate, &err) <
            0 ||
        nb_ipacl_parse(json_object_get(function_doc, "ipAcl"), "ipAcl", &fn->acl, &err) < 0)
        nb_warn("gateway", "function '%s': %s: ignored", fn->key, err.msg);
}

void nb_gw_policy_trigger_parse(struct nb_http_trigger *t, const json_t *trigger_config)
{
    struct nb_err err = {0};
    if (nb_ipacl_parse(json_object_get(trigger_config, "ipAcl"), "ipAcl", &t->acl, &err) < 0 ||
        nb_cors_parse(json_object_get(trigger_config, "cors"), "cors", &t->cors, &err) < 0)
        nb_warn("gateway", "trigger '%s': %s: ignored", t->name, err.msg);
}

void nb_gw_policy_fn_release(struct nb_fn *fn)
{
    nb_ipacl_release(&fn->acl);
    for (size_t i = 0; i < fn->nhttp; i++) {
        nb_ipacl_release(&fn->http[i].acl);
        nb_cors_release(&fn->http[i].cors);
    }
}

/* ---- answers ---- */

static int peer_is_proxy(const struct nb_gw_policy *p, const struct nb_http_request *req)
{
    return p && p->ntrusted && nb_cidr_list_match(p->trusted, p->ntrusted, nb_http_peer_ip(req));
}

static void throttled(struct nb_gw_policy *p, struct nb_http_request *req, const char *rid,
                      double wait_s, const char *what)
{
    char retry[32];
    long secs = (long)wait_s;
    if ((double)secs < wait_s)
        secs++;
    snprintf(retry, sizeof(retry), "%ld", secs < 1 ? 1 : secs);
    char msg[512];
    snprintf(msg, sizeof(msg), "rate limit exceeded for %s; retry after %s s", what, retry);
    struct nb_kv h[] = {{"Retry-After", retry}};
    /* a client that keeps sending while refused waits longer each time before
     * its next request is read, so refusals cannot crowd out other clients;
     * not a trusted proxy, whose connection carries other clients' requests */
    if (!peer_is_proxy(p, req))
        nb_http_hold(req);
    nb_gw_error_h(req, 429, rid, h, 1, "ResourceThrottled", msg);
}

static int take(struct nb_map *m, const char *key, const struct nb_rate *r, double *wait,
                int *inserted)
{
    struct nb_bucket *b = nb_map_get(m, key);
    if (b == NULL) {
        b = nb_xcalloc(1, sizeof(*b));
        nb_map_put(m, key, b);
        *inserted = 1;
    }
    *wait = nb_bucket_take(b, r, nb_now_ns());
    return *wait > 0 ? -1 : 0;
}

static void sweep_ip_buckets(struct nb_gw_policy *p)
{
    uint64_t now = nb_now_ns();
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&p->ip_buckets, &i, &k, &v);) {
        if (nb_bucket_idle(v, &p->per_ip, now)) {
            nb_map_del(&p->ip_buckets, k);
            free(v);
        }
    }
    if (p->ip_buckets.len >= IP_BUCKETS_MAX) {
        nb_warn("gateway", "%zu client addresses are being rate limited: forgetting them all",
                p->ip_buckets.len);
        free_values(&p->ip_buckets);
    }
    p->inserts_since_sweep = 0;
}

/* Rewrites req->client_ip from X-Forwarded-For when the peer is a trusted proxy. */
static void resolve_client_ip(struct nb_gw_policy *p, struct nb_http_request *req)
{
    if (!peer_is_proxy(p, req))
        return;
    const char *xff = nb_http_header(req, "x-forwarded-for");
    if (xff == NULL)
        return;
    /* rightmost address that is not one of our proxies: the ones left of it are the client's say */
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", xff);
    char *pick = NULL;
    for (;;) {
        char *comma = strrchr(buf, ',');
        char *item = comma ? comma + 1 : buf;
        while (*item == ' ' || *item == '\t')
            item++;
        size_t n = strlen(item);
        while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            item[--n] = '\0';
        int family;
        uint8_t addr[16];
        if (nb_ip_parse(item, &family, addr) < 0)
            break; /* garbage: stop at what we could trust */
        pick = item;
        if (!nb_cidr_list_match(p->trusted, p->ntrusted, item) || comma == NULL)
            break;
        *comma = '\0';
    }
    size_t n = pick ? strlen(pick) : 0;
    if (pick && n < sizeof(req->client_ip))
        memcpy(req->client_ip, pick, n + 1);
}

int nb_gw_policy_request(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, const char *rid)
{
    struct nb_gw_policy *p = gw->policy;
    if (p == NULL || route->kind == NB_ROUTE_HEALTH)
        return 0;
    resolve_client_ip(p, req);
    if (!nb_ipacl_allows(&p->acl, req->client_ip)) {
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "client address %s is not allowed by the gateway's IP list", req->client_ip);
        return -1;
    }
    if (p->per_ip.qps > 0 && (route->kind == NB_ROUTE_TRIGGER || route->kind == NB_ROUTE_INVOKE ||
                              route->kind == NB_ROUTE_LAMBDA)) {
        double wait;
        int inserted = 0;
        int r = take(&p->ip_buckets, req->client_ip, &p->per_ip, &wait, &inserted);
        if (inserted && ++p->inserts_since_sweep >= 1024 &&
            p->ip_buckets.len >= IP_BUCKETS_SWEEP_AT)
            sweep_ip_buckets(p);
        if (r < 0) {
            char what[128];
            snprintf(what, sizeof(what), "client %s", req->client_ip);
            throttled(p, req, rid, wait, what);
            return -1;
        }
    }
    return 0;
}

int nb_gw_policy_function(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                          const struct nb_http_trigger *t, const char *rid)
{
    (void)gw;
    if (!nb_ipacl_allows(&fn->acl, req->client_ip)) {
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "client address %s is not allowed to call function '%s' (its ipAcl)",
                    req->client_ip, fn->key);
        return -1;
    }
    if (t && !nb_ipacl_allows(&t->acl, req->client_ip)) {
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "client address %s is not allowed by HTTP trigger '%s' of '%s' (its ipAcl)",
                    req->client_ip, t->name, fn->key);
        return -1;
    }
    return 0;
}

int nb_gw_policy_rate(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                      const char *rid)
{
    if (fn->rate.qps <= 0)
        return 0;
    double wait;
    int inserted = 0;
    if (take(&policy_of(gw)->fn_buckets, fn->key, &fn->rate, &wait, &inserted) < 0) {
        char what[300];
        snprintf(what, sizeof(what), "function '%s'", fn->key);
        throttled(policy_of(gw), req, rid, wait, what);
        return -1;
    }
    return 0;
}

/* ---- CORS ---- */

static void method_list(unsigned methods, char *out, size_t outlen)
{
    static const char *names[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NB_ARRAY_SIZE(names); i++)
        if (methods & (1u << i))
            n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", n ? ", " : "",
                                  names[i]);
}

int nb_gw_cors_preflight(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_http_trigger *t, const char *rid)
{
    (void)gw;
    const char *origin = nb_http_header(req, "origin");
    const char *want = nb_http_header(req, "access-control-request-method");
    if (!t->cors.enabled || strcmp(req->method, "OPTIONS") != 0 || origin == NULL || want == NULL)
        return 0;
    const char *allow = nb_cors_allow_origin(&t->cors, origin);
    if (allow == NULL) {
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "origin '%.200s' is not allowed by the CORS rules of HTTP trigger '%s'", origin,
                    t->name);
        return 1;
    }
    char methods[128], age[16];
    method_list(t->methods, methods, sizeof(methods));
    struct nb_kv h[8];
    size_t n = 0;
    h[n++] = (struct nb_kv){"Access-Control-Allow-Origin", allow};
    h[n++] = (struct nb_kv){"Access-Control-Allow-Methods", t->cors.methods ?: methods};
    const char *req_headers = nb_http_header(req, "access-control-request-headers");
    const char *hdrs = t->cors.headers ? t->cors.headers : req_headers;
    if (hdrs && !strpbrk(hdrs, "\r\n"))
        h[n++] = (struct nb_kv){"Access-Control-Allow-Headers", hdrs};
    if (t->cors.credentials)
        h[n++] = (struct nb_kv){"Access-Control-Allow-Credentials", "true"};
    if (t->cors.max_age >= 0) {
        snprintf(age, sizeof(age), "%d", t->cors.max_age);
        h[n++] = (struct nb_kv){"Access-Control-Max-Age", age};
    }
    h[n++] = (struct nb_kv){"Vary", "Origin, Access-Control-Request-Method, "
                                    "Access-Control-Request-Headers"};
    nb_gw_respond(req, 204, rid, h, n, NULL, "", 0);
    return 1;
}

void nb_gw_cors_prepare(const struct nb_http_request *req, const struct nb_http_trigger *t,
                        struct nb_gw_cors_out *out)
{
    memset(out, 0, sizeof(*out));
    const char *allow = nb_cors_allow_origin(&t->cors, nb_http_header(req, "origin"));
    if (allow == NULL)
        return;
    out->origin = nb_xstrdup(allow);
    out->expose = t->cors.expose ? nb_xstrdup(t->cors.expose) : NULL;
    out->credentials = t->cors.credentials;
}

size_t nb_gw_cors_headers(const struct nb_gw_cors_out *c, struct nb_kv *out)
{
    size_t n = 0;
    if (c->origin == NULL)
        return 0;
    out[n++] = (struct nb_kv){"Access-Control-Allow-Origin", c->origin};
    out[n++] = (struct nb_kv){"Vary", "Origin"};
    if (c->credentials)
        out[n++] = (struct nb_kv){"Access-Control-Allow-Credentials", "true"};
    if (c->expose)
        out[n++] = (struct nb_kv){"Access-Control-Expose-Headers", c->expose};
    return n;
}

void nb_gw_cors_out_release(struct nb_gw_cors_out *c)
{
    free(c->origin);
    free(c->expose);
    memset(c, 0, sizeof(*c));
}

/* ---- access keys and scopes ---- */

void nb_gw_key_free(struct nb_gw_key *k)
{
    if (k == NULL)
        return;
    if (k->secret)
        explicit_bzero(k->secret, strlen(k->secret));
    free(k->secret);
    free(k->scope);
    free(k);
}

void nb_gw_key_put(struct nb_gateway *gw, const char *id, const char *secret, const char *scope)
{
    struct nb_gw_key *k = nb_xcalloc(1, sizeof(*k));
    k->secret = nb_xstrdup(secret);
    k->scope = nb_xstrdup(scope ? scope : "admin");
    nb_gw_key_free(nb_map_put(&gw->keys, id, k));
}

void nb_gw_key_del(struct nb_gateway *gw, const char *id)
{
    nb_gw_key_free(nb_map_del(&gw->keys, id));
}

static const char *action_name(int act)
{
    return act == NB_ACT_ADMIN ? "manage access keys" : act == NB_ACT_DEPLOY ? "manage" : "invoke";
}

int nb_gw_authorize(struct nb_gateway *gw, struct nb_http_request *req, const char *rid, int act,
                    const char *service)
{
    const struct nb_gw_key *key;
    if (nb_gw_authenticate_key(gw, req, rid, &key) < 0)
        return -1;
    if (nb_scope_allows(key->scope, (enum nb_scope_action)act, service))
        return 0;
    if (service && strcmp(service, "*") != 0)
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "access key scope '%s' does not allow to %s service '%s'", key->scope,
                    action_name(act), service);
    else
        nb_gw_error(req, 403, rid, "AccessDenied",
                    "access key scope '%s' does not allow to %s resources of every service "
                    "('%.200s')",
                    key->scope, action_name(act), req->path);
    return -1;
}

int nb_gw_authorize_mgmt(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, const char *rid)
{
    const char *p = route->decoded ? route->decoded : "";
    if (strncmp(p, "/api/v1/", 8) == 0)
        p += 7;
    else if (strncmp(p, "/2016-08-15/", 12) == 0)
        p += 11;
    if (strcmp(p, "/keys") == 0 || strncmp(p, "/keys/", 6) == 0)
        return nb_gw_authorize(gw, req, rid, NB_ACT_ADMIN, NULL);
    if (strcmp(p, "/code") == 0)
        return nb_gw_authorize(gw, req, rid, NB_ACT_DEPLOY, "*");
    if (strncmp(p, "/services/", 10) == 0 && p[10]) {
        char svc[160];
        size_t n = strcspn(p + 10, "/.");
        if (n == 0 || n >= sizeof(svc))
            return nb_gw_authorize(gw, req, rid, NB_ACT_DEPLOY, NULL);
        memcpy(svc, p + 10, n);
        svc[n] = '\0';
        return nb_gw_authorize(gw, req, rid, NB_ACT_DEPLOY, svc);
    }
    return nb_gw_authorize(gw, req, rid, NB_ACT_DEPLOY, NULL);
}

void nb_gw_apply_events(struct nb_gateway *gw, json_t *events)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        if (kind && strcmp(kind, "key") == 0) {
            const char *id = json_string_value(json_object_get(ev, "accessKeyId"));
            if (id == NULL)
                continue;
            if (json_is_true(json_object_get(ev, "deleted")))
                nb_gw_key_del(gw, id);
            else
                nb_gw_key_put(gw, id, json_string_value(json_object_get(ev, "accessKeySecret")),
                              json_string_value(json_object_get(ev, "scope")));
        }
    }
}
