/*
 * domain.c: custom domains (FC's CustomDomain model; docs/api.md):
 *   POST   /custom-domains            {domainName, protocol, routeConfig}
 *   GET    /custom-domains            ?prefix&limit&startKey&nextToken
 *   GET    /custom-domains/NAME
 *   PUT    /custom-domains/NAME       (FC's prefix: update only; ours: upsert)
 *   DELETE /custom-domains/NAME
 * The stored document is {domainName, protocol, routeConfig: {routes:
 * [{path, serviceName, functionName, qualifier?, methods?}]}}, validated
 * here field by field (a 400 names the first bad field); every change goes
 * back to the gateway as a {"kind": "domain"} event (api.h), which routes
 * requests whose Host is the domain (gateway/domain.c).
 *
 * Domain names are lower-cased host names with at least two labels and an
 * alphabetic top-level label, so that no domain can capture the daemon's
 * own address (127.0.0.1, localhost, an IPv6 literal).
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DOMAIN_NAME_MAX 253
#define DOMAIN_ROUTES_MAX 100
#define DOMAIN_PATH_MAX 1024

static const char *const route_methods[] = {"GET",  "POST",  "PUT",    "DELETE",
                                            "HEAD", "PATCH", "OPTIONS"};

/* Lower-cases a candidate domain name into out; 0 if it is a valid one, else -EINVAL with err. */
static int check_domain_name(const char *s, char out[DOMAIN_NAME_MAX + 1], struct nb_err *err)
{
    size_t n = strlen(s);
    if (n == 0 || n > DOMAIN_NAME_MAX)
        return nb_err_set(err, -EINVAL, "domainName must be 1 to %d characters", DOMAIN_NAME_MAX);
    size_t label = 0, labels = 1, last_start = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return nb_err_set(err, -EINVAL,
                                  "domainName '%.*s' is not a valid host name: labels are 1 to "
                                  "63 letters, digits or '-', not starting or ending with '-'",
                                  (int)n, s);
            if (c == '.') {
                labels++;
                last_start = i + 1;
            }
            label = 0;
            out[i] = c;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return nb_err_set(err, -EINVAL,
                              "domainName '%.*s' is not a valid host name: only letters, digits, "
                              "'-' and '.' are allowed",
                              (int)n, s);
        out[i] = (char)tolower((unsigned char)c);
        label++;
    }
    int tld_ok = n - last_start >= 2; /* letters only: no IP address is a domain */
    for (size_t i = last_start; i < n; i++)
        if (!isalpha((unsigned char)s[i]))
            tld_ok = 0;
    if (labels < 2 || !tld_ok)
        return nb_err_set(err, -EINVAL,
                          "domainName '%.*s' must be a domain name such as api.example.com (two "
                          "labels at least, an alphabetic top-level label; not an IP address)",
                          (int)n, s);
    return 0;
}

/* A route's path: "/", then no '?', '#', spaces or controls, and at most one '*', at the end. */
static int check_path(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_string(v))
        return nb_err_set(err, -EINVAL, "%s must be a string", field);
    const char *p = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || p[0] != '/')
        return nb_err_set(err, -EINVAL, "%s must start with '/'", field);
    if (n > DOMAIN_PATH_MAX || strlen(p) != n)
        return nb_err_set(err, -EINVAL, "%s must be at most %d bytes", field, DOMAIN_PATH_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return nb_err_set(err, -EINVAL,
                              "%s '%.200s' must not contain spaces, control characters, '?' or "
                              "'#'",
                              field, p);
        if (c == '*' && i != n - 1)
            return nb_err_set(err, -EINVAL,
                              "%s '%.200s': '*' may only appear once, as the last character", field,
                              p);
    }
    return 0;
}

static int check_route_name(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_string(v))
        return nb_err_set(err, -EINVAL, "%s is required and must be a string", field);
    if (!nb_api_valid_name(json_string_value(v)))
        return nb_err_set(err, -EINVAL,
                          "%s '%.200s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}",
                          field, json_string_value(v));
    return 0;
}

/* One route, copied into a clean object (known fields only) in *out. */
static int check_route(size_t idx, json_t *r, json_t **out, struct nb_err *err)
{
    char f[96];
    if (!json_is_object(r))
        return nb_err_set(err, -EINVAL, "routeConfig.routes[%zu] must be an object", idx);
    snprintf(f, sizeof(f), "routeConfig.routes[%zu].path", idx);
    int rc = check_path(f, json_object_get(r, "path"), err);
    snprintf(f, sizeof(f), "routeConfig.routes[%zu].serviceName", idx);
    if (rc == 0)
        rc = check_route_name(f, json_object_get(r, "serviceName"), err);
    snprintf(f, sizeof(f), "routeConfig.routes[%zu].functionName", idx);
    if (rc == 0)
        rc = check_route_name(f, json_object_get(r, "functionName"), err);
    if (rc < 0)
        return rc;
    json_t *q = json_object_get(r, "qualifier");
    const char *qs = json_is_string(q) ? json_string_value(q) : NULL;
    if (q && !json_is_null(q) &&
        (!qs || (*qs && strcmp(qs, "LATEST") != 0 && strcmp(qs, "$LATEST") != 0 &&
                 nb_api_parse_version(qs) == 0 && !nb_api_valid_name(qs))))
        return nb_err_set(err, -EINVAL,
                          "routeConfig.routes[%zu].qualifier must be LATEST, a version id or an "
                          "alias name",
                          idx);
    json_t *clean = json_pack("{s:O, s:O, s:O, s:s}", "path", json_object_get(r, "path"),
                              "serviceName", json_object_get(r, "serviceName"), "functionName",
                              json_object_get(r, "functionName"), "qualifier",
                              qs && *qs && strcmp(qs, "$LATEST") != 0 ? qs : "LATEST");
    json_t *m = json_object_get(r, "methods");
    if (m && !json_is_null(m)) {
        if (!json_is_array(m)) {
            json_decref(clean);
            return nb_err_set(err, -EINVAL, "routeConfig.routes[%zu].methods must be an array",
                              idx);
        }
        json_t *ms = json_array(), *e;
        size_t j;
        json_array_foreach(m, j, e)
        {
            const char *name = json_string_value(e);
            const char *known = NULL;
            for (size_t k = 0; name && k < NB_ARRAY_SIZE(route_methods) && !known; k++)
                if (strcasecmp(name, route_methods[k]) == 0)
                    known = route_methods[k];
            if (!known) {
                json_decref(ms);
                json_decref(clean);
                return nb_err_set(err, -EINVAL,
                                  "routeConfig.routes[%zu].methods[%zu] must be one of GET, POST, "
                                  "PUT, DELETE, HEAD, PATCH, OPTIONS",
                                  idx, j);
            }
            json_array_append_new(ms, json_string(known));
        }
        json_object_set_new(clean, "methods", ms);
    }
    *out = clean;
    return 0;
}

/* routeConfig -> {"routes": [clean routes]} in *out; paths must be distinct. */
static int check_route_config(json_t *rc, json_t **out, struct nb_err *err)
{
    if (!json_is_object(rc))
        return nb_err_set(err, -EINVAL, "routeConfig must be an object {\"routes\": [...]}");
    json_t *routes = json_object_get(rc, "routes");
    if (routes == NULL || json_is_null(routes))
        routes = NULL;
    else if (!json_is_array(routes))
        return nb_err_set(err, -EINVAL, "routeConfig.routes must be an array");
    if (json_array_size(routes) > DOMAIN_ROUTES_MAX)
        return nb_err_set(err, -EINVAL, "routeConfig.routes may have at most %d routes",
                          DOMAIN_ROUTES_MAX);
    json_t *clean = json_array(), *r;
    size_t i;
    json_array_foreach(routes, i, r)
    {
        json_t *c = NULL;
        if (check_route(i, r, &c, err) < 0) {
            json_decref(clean);
            return -EINVAL;
        }
        const char *path = json_string_value(json_object_get(c, "path"));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_object_get(json_array_get(clean, j), "path")),
                       path) == 0) {
                json_decref(c);
                json_decref(clean);
                return nb_err_set(err, -EINVAL,
                                  "routeConfig.routes[%zu].path '%.200s' is already the path of "
                                  "routes[%zu]",
                                  i, path, j);
            }
        }
        json_array_append_new(clean, c);
    }
    *out = json_pack("{s:o}", "routes", clean);
    return 0;
}

/* Applies body's fields onto doc (a stored document or a new one). */
static int domain_apply(json_t *doc, json_t *body, struct nb_err *err)
{
    json_t *v = json_object_get(body, "protocol");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || strcasecmp(json_string_value(v), "HTTP") != 0)
            return nb_err_set(err, -EINVAL,
                              "protocol must be \"HTTP\": nubis serves plain HTTP (terminate TLS "
                              "in a proxy in front of it)");
        json_object_set_new(doc, "protocol", json_string("HTTP"));
    }
    v = json_object_get(body, "routeConfig");
    if (v && !json_is_null(v)) {
        json_t *rc = NULL;
        if (check_route_config(v, &rc, err) < 0)
            return -EINVAL;
        json_object_set_new(doc, "routeConfig", rc);
    }
    return 0;
}

/* The API view: the stored document plus FC's read-only fields. */
static json_t *domain_view(const struct nb_store_domain *d)
{
    json_t *doc = json_loads(d->config, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_pack("{s:s}", "domainName", d->name);
    }
    char t[32];
    json_object_set_new(doc, "accountId", json_string("local"));
    json_object_set_new(doc, "apiVersion", json_string("2016-08-15"));
    nb_api_format_time(d->created_ms, t);
    json_object_set_new(doc, "createdTime", json_string(t));
    nb_api_format_time(d->modified_ms, t);
    json_object_set_new(doc, "lastModifiedTime", json_string(t));
    return doc;
}

static void add_event(struct nb_api_ctx *c, const char *name, json_t *doc)
{
    if (c->resp->events == NULL)
        c->resp->events = json_array();
    json_array_append_new(c->resp->events,
                          json_pack("{s:s, s:s, s:o}", "kind", "domain", "domainName", name,
                                    "domain", doc ? doc : json_null()));
}

/* Writes doc as name per mode and replies status with the view. */
static void domain_store(struct nb_api_ctx *c, enum nb_store_mode mode, const char *name,
                         json_t *doc, int status)
{
    struct nb_err err = {0};
    _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    struct nb_store_domain d = {.name = (char *)name, .config = text};
    int r = nb_store_domain_put(c->api->store, mode, &d, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "DomainNameNotFound", "DomainNameAlreadyExists");
        return;
    }
    add_event(c, name, json_incref(doc));
    nb_info("api", "custom domain '%s' %s (%zu routes)", name,
            status == 201 ? "created" : "updated",
            json_array_size(json_object_get(json_object_get(doc, "routeConfig"), "routes")));
    nb_api_reply(c, status, domain_view(&d));
}

static void domain_create(struct nb_api_ctx *c)
{
    json_t *body;
    if (nb_api_parse_body(c, &body) < 0)
        return;
    struct nb_err err = {0};
    json_t *name = json_object_get(body, "domainName");
    char lower[DOMAIN_NAME_MAX + 1];
    if (!json_is_string(name)) {
        nb_api_fail(c, 400, "InvalidArgument", "domainName is required and must be a string");
    } else if (check_domain_name(json_string_value(name), lower, &err) < 0) {
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    } else {
        json_t *doc = json_pack("{s:s, s:s, s:{s:[]}}", "domainName", lower, "protocol", "HTTP",
                                "routeConfig", "routes");
        if (domain_apply(doc, body, &err) < 0)
            nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
        else
            domain_store(c, NB_STORE_CREATE, lower, doc, 201);
        json_decref(doc);
    }
    json_decref(body);
}

static void domain_update(struct nb_api_ctx *c, const char *name)
{
    json_t *body;
    if (nb_api_parse_body(c, &body) < 0)
        return;
    struct nb_err err = {0};
    json_t *bn = json_object_get(body, "domainName");
    char lower[DOMAIN_NAME_MAX + 1], blower[DOMAIN_NAME_MAX + 1];
    if (bn && (!json_is_string(bn) || check_domain_name(json_string_value(bn), blower, &err) < 0 ||
               strcmp(blower, name) != 0)) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "domainName in the body must be the domain of the path ('%s')", name);
        json_decref(body);
        return;
    }
    snprintf(lower, sizeof(lower), "%s", name);
    struct nb_store_domain old;
    int r = nb_store_domain_get(c->api->store, lower, &old, &err);
    if (r < 0 && (r != -ENOENT || c->fc)) {
        nb_api_fail_store(c, r, &err, "DomainNameNotFound", NULL);
        json_decref(body);
        return;
    }
    json_t *doc = r == 0 ? json_loads(old.config, 0, NULL) : NULL;
    int existed = r == 0;
    nb_store_domain_release(&old);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_pack("{s:s, s:s, s:{s:[]}}", "domainName", lower, "protocol", "HTTP",
                        "routeConfig", "routes");
    }
    if (domain_apply(doc, body, &err) < 0)
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    else
        domain_store(c, existed ? NB_STORE_UPDATE : NB_STORE_CREATE, lower, doc,
                     existed ? 200 : 201);
    json_decref(doc);
    json_decref(body);
}

void nb_api_domains(struct nb_api_ctx *c, const char *name)
{
    const char *m = c->req->method;
    struct nb_err err = {0};
    if (name == NULL && strcmp(m, "POST") == 0) {
        domain_create(c);
        return;
    }
    if (name == NULL) {
        struct nb_store_page page = {0};
        char *hold[3];
        if (nb_api_page(c, &page, hold) < 0) {
            free(hold[0]);
            free(hold[1]);
            free(hold[2]);
            return;
        }
        struct nb_store_domain *v;
        size_t n;
        char *next;
        int r = nb_store_domain_list(c->api->store, &page, &v, &n, &next, &err);
        free(hold[0]);
        free(hold[1]);
        free(hold[2]);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, NULL, NULL);
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, domain_view(&v[i]));
        nb_store_domains_free(v, n);
        json_t *out = json_pack("{s:o}", "customDomains", arr);
        if (next)
            json_object_set_new(out, "nextToken", json_string(next));
        free(next);
        nb_api_reply(c, 200, out);
        return;
    }
    /* the name in a path is matched case-insensitively, like the Host header */
    char lower[DOMAIN_NAME_MAX + 1];
    if (check_domain_name(name, lower, &err) < 0) {
        nb_api_fail(c, 404, "DomainNameNotFound", "custom domain '%.200s' not found", name);
        return;
    }
    if (strcmp(m, "PUT") == 0) {
        domain_update(c, lower);
    } else if (strcmp(m, "DELETE") == 0) {
        int r = nb_store_domain_delete(c->api->store, lower, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "DomainNameNotFound", NULL);
            return;
        }
        add_event(c, lower, NULL);
        nb_info("api", "custom domain '%s' deleted", lower);
        nb_api_reply_empty(c);
    } else {
        struct nb_store_domain d;
        int r = nb_store_domain_get(c->api->store, lower, &d, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "DomainNameNotFound", NULL);
            return;
        }
        nb_api_reply(c, 200, domain_view(&d));
        nb_store_domain_release(&d);
    }
}

json_t *nb_api_domains_all(struct nb_api *api, struct nb_err *err)
{
    struct nb_store_domain *v;
    size_t n;
    char *next;
    if (nb_store_domain_list(api->store, NULL, &v, &n, &next, err) < 0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *doc = json_loads(v[i].config, 0, NULL);
        if (json_is_object(doc))
            json_array_append_new(arr, doc);
        else
            json_decref(doc);
    }
    nb_store_domains_free(v, n);
    free(next);
    return arr;
}
