/*
 * domain.c: custom domains on the hot path (docs/security-gateway.md,
 * "Custom domains").
 *
 * The gateway holds every domain in gw->domains (lower-cased host name ->
 * struct nb_gw_domain), loaded at start-up (nb_gateway_load) and changed by
 * the "domain" events of management requests, applied on the loop
 * (mgmt.c).  A request whose Host header (port and a trailing dot dropped,
 * lower-cased) names a domain is routed by its route table only; any other
 * Host gets the normal routes, so 127.0.0.1 and localhost keep working.
 *
 * Matching (FC's rules), on the percent-decoded path:
 *   - an exact route ("/login") matches that path only, and beats any
 *     wildcard;
 *   - a wildcard route (its path ends in '*': "/api/" "*") matches every
 *     path starting with its prefix ("/api/"), and the prefix without its
 *     trailing slash ("/api"); "/" "*" matches everything;
 *   - among wildcards the longest prefix wins.
 * The function then runs as an HTTP trigger call (invoke.c, nb_gw_trigger,
 * with a synthesized route): it needs an HTTP trigger, whose methods, auth,
 * IP lists and CORS apply.  Like FC, the function sees the full request path
 * (not the part after the matched prefix): request.path is "/api/users/7"
 * for a request to /api/users/7 on the "/api/" "*" route.
 */
#include "gateway/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

void nb_gw_domain_free(struct nb_gw_domain *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nroutes; i++) {
        free(d->routes[i].path);
        free(d->routes[i].service);
        free(d->routes[i].function);
        free(d->routes[i].qualifier);
    }
    free(d->routes);
    free(d->name);
    free(d);
}

struct nb_gw_domain *nb_gw_domain_new(const char *name, const json_t *doc)
{
    json_t *routes = json_object_get(json_object_get(doc, "routeConfig"), "routes");
    struct nb_gw_domain *d = nb_xcalloc(1, sizeof(*d));
    d->name = nb_xstrdup(name);
    d->routes = nb_xcalloc(json_array_size(routes) + 1, sizeof(*d->routes));
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        const char *svc = json_string_value(json_object_get(r, "serviceName"));
        const char *fn = json_string_value(json_object_get(r, "functionName"));
        const char *q = json_string_value(json_object_get(r, "qualifier"));
        if (path == NULL || path[0] != '/' || svc == NULL || fn == NULL)
            continue; /* the API validated it; a hand-edited database is not trusted further */
        struct nb_gw_droute *dr = &d->routes[d->nroutes++];
        size_t n = strlen(path);
        dr->wildcard = path[n - 1] == '*';
        dr->plen = dr->wildcard ? n - 1 : n;
        dr->path = nb_xstrdup(path);
        dr->service = nb_xstrdup(svc);
        dr->function = nb_xstrdup(fn);
        dr->qualifier = nb_xstrdup(q && *q ? q : "LATEST");
        json_t *m;
        size_t j;
        json_array_foreach(json_object_get(r, "methods"), j, m)
        {
            dr->methods |= nb_gw_method_bit(json_string_value(m) ?: "");
        }
    }
    return d;
}

const struct nb_gw_droute *nb_gw_domain_match(const struct nb_gw_domain *d, const char *path)
{
    const struct nb_gw_droute *best = NULL;
    size_t n = strlen(path);
    for (size_t i = 0; i < d->nroutes; i++) {
        const struct nb_gw_droute *r = &d->routes[i];
        if (!r->wildcard) {
            if (r->plen == n && memcmp(r->path, path, n) == 0)
                return r; /* an exact match beats any prefix */
            continue;
        }
        int hit = n >= r->plen && memcmp(r->path, path, r->plen) == 0;
        /* "/api/" "*" also takes "/api" itself */
        if (!hit && r->plen > 1 && r->path[r->plen - 1] == '/' && n == r->plen - 1 &&
            memcmp(r->path, path, n) == 0)
            hit = 1;
        if (hit && (best == NULL || r->plen > best->plen))
            best = r;
    }
    return best;
}

int nb_gw_domain_host(const char *host, char *out, size_t outlen)
{
    if (host == NULL || host[0] == '\0' || host[0] == '[')
        return -1; /* none, or an IPv6 literal: never a custom domain */
    size_t n = strcspn(host, ":");
    if (n > 0 && host[n - 1] == '.')
        n--; /* "api.example.com." is the same name */
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[n] = '\0';
    return 0;
}

static void domain_put(struct nb_gateway *gw, const char *name, const json_t *doc)
{
    struct nb_gw_domain *old = nb_map_get(&gw->domains, name);
    if (doc == NULL || json_is_null(doc)) {
        nb_map_del(&gw->domains, name);
    } else {
        nb_map_put(&gw->domains, name, nb_gw_domain_new(name, doc));
    }
    nb_gw_domain_free(old);
}

void nb_gw_domains_apply_events(struct nb_gateway *gw, json_t *events)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        const char *name = json_string_value(json_object_get(ev, "domainName"));
        if (kind && strcmp(kind, "domain") == 0 && name)
            domain_put(gw, name, json_object_get(ev, "domain"));
    }
}

int nb_gw_domains_load(struct nb_gateway *gw, struct nb_err *err)
{
    if (gw->api == NULL || gw->api->store == NULL)
        return 0;
    json_t *all = nb_api_domains_all(gw->api, err);
    if (all == NULL)
        return -EIO;
    size_t i;
    json_t *doc;
    json_array_foreach(all, i, doc)
    {
        const char *name = json_string_value(json_object_get(doc, "domainName"));
        if (name)
            domain_put(gw, name, doc);
    }
    json_decref(all);
    return 0;
}

void nb_gw_domains_clear(struct nb_gateway *gw)
{
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->domains, &i, &k, &v);)
        nb_gw_domain_free(v);
    nb_map_release(&gw->domains);
}

int nb_gw_domain_handle(struct nb_gateway *gw, struct nb_http_request *req, const char *rid)
{
    char host[256];
    if (gw->domains.len == 0 ||
        nb_gw_domain_host(nb_http_header(req, "host"), host, sizeof(host)) < 0)
        return 0;
    struct nb_gw_domain *d = nb_map_get(&gw->domains, host);
    if (d == NULL)
        return 0;
    struct nb_route route = {.kind = NB_ROUTE_TRIGGER};
    route.decoded = nb_url_decode(req->path, strlen(req->path), 0);
    if (route.decoded == NULL)
        route.kind = NB_ROUTE_BAD;
    if (nb_gw_policy_request(gw, req, &route, rid) < 0)
        goto out;
    if (route.kind == NB_ROUTE_BAD) {
        nb_gw_error(req, 400, rid, "InvalidArgument", "malformed path '%.200s'", req->path);
        goto out;
    }
    const struct nb_gw_droute *r = nb_gw_domain_match(d, route.decoded);
    if (r == NULL) {
        nb_gw_error(req, 404, rid, "RouteNotFound",
                    "custom domain '%s' has no route for path '%.200s'", d->name, route.decoded);
        goto out;
    }
    if (r->methods && (r->methods & nb_gw_method_bit(req->method)) == 0) {
        nb_gw_error(req, 405, rid, "MethodNotAllowed",
                    "method %s is not allowed by route '%s' of custom domain '%s'", req->method,
                    r->path, d->name);
        goto out;
    }
    route.service = nb_xstrdup(r->service);
    route.function = nb_xstrdup(r->function);
    route.qualifier = nb_xstrdup(r->qualifier);
    route.rest = nb_xstrdup(route.decoded); /* FC: the function sees the full path */
    nb_gw_trigger(gw, req, &route, rid);
out:
    nb_route_release(&route);
    return 1;
}
