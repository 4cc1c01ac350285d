/*
 * version.c: /services/{s}/versions[/{id}] (docs/api.md) and the
 * qualifiers doc the gateway keeps per service (api.h).
 *
 * Publishing snapshots the service's LATEST (FC 2.0): the service's
 * config, and every function's config, code and triggers, as version 1, 2,
 * ... (ids are strings in JSON, as in FC).  A version never changes; it can
 * be deleted unless an alias points at it (409 VersionInUse).  Each change
 * records the service's whole qualifiers doc (every version with its
 * function snapshots, every alias) in resp->qualifiers: the gateway keeps
 * the pools of the versions it already has (they are immutable) and starts
 * or retires the others.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "codestore/codestore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_ID_MAX 9007199254740991LL /* 2^53 - 1: exact in a JSON number */

int64_t nb_api_parse_version(const char *s)
{
    if (!s || !*s || strlen(s) > 16 || strspn(s, "0123456789") != strlen(s) || s[0] == '0')
        return 0;
    long long v = strtoll(s, NULL, 10);
    return v > 0 && v <= VERSION_ID_MAX ? v : 0;
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = text ? json_loads(text, 0, &jerr) : NULL;
    return j ? j : json_null();
}

static json_t *version_json(const struct nb_store_version *v, int detail)
{
    char id[24], t[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    nb_api_format_time(v->created_ms, t);
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:s}", "versionId", id, "description",
                  v->description ? v->description : "", "createdTime", t, "lastModifiedTime", t);
    json_t *fns = json_array();
    for (size_t i = 0; i < v->nfns; i++) {
        if (!detail) {
            json_array_append_new(fns, json_string(v->fns[i].function));
            continue;
        }
        json_t *cfg = load(v->fns[i].config);
        if (!json_is_object(cfg)) {
            json_decref(cfg);
            cfg = json_object();
        }
        json_object_set_new(cfg, "codeChecksum",
                            v->fns[i].code_checksum ? json_string(v->fns[i].code_checksum)
                                                    : json_null());
        json_object_set_new(cfg, "triggers", load(v->fns[i].triggers));
        json_array_append_new(fns, cfg);
    }
    json_object_set_new(out, "functions", fns);
    return out;
}

/* The snapshot (api.h shape) of one function of version v. */
static json_t *version_fn_snapshot(struct nb_api *api, const struct nb_store_version *v,
                                   const struct nb_store_version_fn *f)
{
    struct nb_store_row svc = {.service = v->service,
                               .config = v->service_config,
                               .created_ms = v->created_ms,
                               .modified_ms = v->created_ms};
    struct nb_store_row fn = {.service = v->service,
                              .function = f->function,
                              .config = f->config,
                              .code_checksum = f->code_checksum,
                              .created_ms = f->created_ms,
                              .modified_ms = f->modified_ms};
    json_t *function = nb_api_function_json(&fn);
    char *dir = f->code_checksum ? nb_codestore_tree(api->code, f->code_checksum) : NULL;
    if (!dir && f->code_checksum)
        nb_warn("api", "version %lld of '%s/%s': code '%s' is not in the code store",
                (long long)v->id, v->service, f->function, f->code_checksum);
    json_object_set_new(function, "codeDir", dir ? json_string(dir) : json_null());
    free(dir);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    json_object_set_new(function, "versionId", json_string(id));
    json_t *triggers = load(f->triggers);
    if (!json_is_array(triggers)) {
        json_decref(triggers);
        triggers = json_array();
    }
    return json_pack("{s:o, s:o, s:o}", "service", nb_api_service_json(&svc), "function", function,
                     "triggers", triggers);
}

json_t *nb_api_qualifiers(struct nb_api *api, const char *service, struct nb_err *err)
{
    struct nb_store_version *vs = NULL;
    size_t nv = 0;
    if (nb_store_version_list(api->store, service, 0, 0, 1, &vs, &nv, err) < 0)
        return NULL;
    struct nb_store_alias *as = NULL;
    size_t na = 0;
    if (nb_store_alias_list(api->store, service, &as, &na, err) < 0) {
        nb_store_versions_free(vs, nv);
        return NULL;
    }
    json_t *versions = json_object();
    for (size_t i = 0; i < nv; i++) {
        json_t *fns = json_object();
        for (size_t j = 0; j < vs[i].nfns; j++)
            json_object_set_new(fns, vs[i].fns[j].function,
                                version_fn_snapshot(api, &vs[i], &vs[i].fns[j]));
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)vs[i].id);
        json_object_set_new(versions, id, json_pack("{s:o}", "functions", fns));
    }
    json_t *aliases = json_object();
    for (size_t i = 0; i < na; i++)
        json_object_set_new(aliases, as[i].name, nb_api_alias_json(&as[i]));
    nb_store_versions_free(vs, nv);
    nb_store_aliases_free(as, na);
    return json_pack("{s:o, s:o}", "versions", versions, "aliases", aliases);
}

void nb_api_change_qualifiers(struct nb_api_ctx *c, const char *service)
{
    struct nb_err err = {0};
    json_t *doc = nb_api_qualifiers(c->api, service, &err);
    if (!doc) {
        nb_error("api", "qualifiers of '%s': %s", service, err.msg);
        return;
    }
    if (!c->resp->qualifiers)
        c->resp->qualifiers = json_object();
    json_object_set_new(c->resp->qualifiers, service, doc);
}

json_t *nb_api_qualifiers_all(struct nb_api *api, struct nb_err *err)
{
    struct nb_store_rows svcs;
    if (nb_store_service_list(api->store, NULL, &svcs, err) < 0)
        return NULL;
    json_t *all = json_object();
    for (size_t i = 0; i < svcs.n; i++) {
        json_t *doc = nb_api_qualifiers(api, svcs.v[i].service, err);
        if (!doc) {
            nb_store_rows_release(&svcs);
            json_decref(all);
            return NULL;
        }
        if (json_object_size(json_object_get(doc, "versions")) == 0)
            json_decref(doc);
        else
            json_object_set_new(all, svcs.v[i].service, doc);
    }
    nb_store_rows_release(&svcs);
    return all;
}

static int require_service(struct nb_api_ctx *c, const char *service)
{
    struct nb_store_row svc;
    struct nb_err err = {0};
    int r = nb_store_service_get(c->api->store, service, &svc, &err);
    if (r < 0)
        return nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
    nb_store_row_release(&svc);
    return 0;
}

static void publish(struct nb_api_ctx *c, const char *service)
{
    json_t *body = NULL;
    if (c->req->body_len == 0)
        body = json_object();
    else if (nb_api_parse_body(c, &body) < 0)
        return;
    json_t *d = json_object_get(body, "description");
    if (d && !json_is_null(d) &&
        (!json_is_string(d) || strlen(json_string_value(d)) > NB_API_DESCRIPTION_MAX)) {
        json_decref(body);
        nb_api_fail(c, 400, "InvalidArgument", "description must be a string of at most %d bytes",
                    NB_API_DESCRIPTION_MAX);
        return;
    }
    struct nb_store_version v;
    struct nb_err err = {0};
    int r = nb_store_version_publish(c->api->store, service,
                                     json_is_string(d) ? json_string_value(d) : "", &v, &err);
    json_decref(body);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
        return;
    }
    nb_api_reply(c, 200, version_json(&v, 0));
    nb_store_version_release(&v);
    nb_api_change_qualifiers(c, service);
}

static void list_versions(struct nb_api_ctx *c, const char *service)
{
    if (require_service(c, service) < 0)
        return;
    _cleanup_free_ char *limit_s = NULL, *token = NULL, *start = NULL;
    if (nb_api_query(c, "limit", &limit_s) < 0 || nb_api_query(c, "nextToken", &token) < 0 ||
        nb_api_query(c, "startKey", &start) < 0)
        return;
    size_t limit = NB_API_LIST_DEFAULT;
    if (limit_s && limit_s[0]) {
        char *end;
        long n = strtol(limit_s, &end, 10);
        if (*end || n < 1 || n > NB_API_LIST_MAX) {
            nb_api_fail(c, 400, "InvalidArgument", "limit must be an integer between 1 and %d",
                        NB_API_LIST_MAX);
            return;
        }
        limit = (size_t)n;
    }
    /* Newest first; nextToken / startKey: the first (highest) id of the page, inclusive. */
    int64_t before = 0;
    const char *from = token && token[0] ? token : start && start[0] ? start : NULL;
    if (from) {
        int64_t v = nb_api_parse_version(from);
        if (!v) {
            nb_api_fail(c, 400, "InvalidArgument", "nextToken '%s' is not a version id", from);
            return;
        }
        before = v + 1;
    }
    struct nb_store_version *vs = NULL;
    size_t n = 0;
    struct nb_err err = {0};
    if (nb_store_version_list(c->api->store, service, before, limit + 1, 0, &vs, &n, &err) < 0) {
        nb_api_fail_store(c, -EIO, &err, NULL, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, version_json(&vs[i], 0));
    json_t *out = json_pack("{s:o}", "versions", arr);
    if (n > limit) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)vs[limit].id);
        json_object_set_new(out, "nextToken", json_string(id));
    }
    nb_store_versions_free(vs, n);
    nb_api_reply(c, 200, out);
}

void nb_api_versions(struct nb_api_ctx *c, const char *service, const char *version)
{
    const char *m = c->req->method;
    if (!version) {
        if (strcmp(m, "GET") == 0)
            list_versions(c, service);
        else
            publish(c, service);
        return;
    }
    int64_t id = nb_api_parse_version(version);
    if (!id) {
        if (require_service(c, service) == 0)
            nb_api_fail(c, 404, "VersionNotFound", "version '%s' of service '%s' not found",
                        version, service);
        return;
    }
    struct nb_err err = {0};
    if (strcmp(m, "GET") == 0) {
        struct nb_store_version v;
        int r = nb_store_version_get(c->api->store, service, id, &v, &err);
        if (r == -ENOENT && require_service(c, service) < 0)
            return;
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "VersionNotFound", NULL);
            return;
        }
        nb_api_reply(c, 200, version_json(&v, 1));
        nb_store_version_release(&v);
        return;
    }
    int r = nb_store_version_delete(c->api->store, service, id, &err);
    if (r == -EMLINK) {
        nb_api_fail(c, 409, "VersionInUse", "%s: point the alias elsewhere or delete it first",
                    err.msg);
        return;
    }
    if (r == -ENOENT && require_service(c, service) < 0)
        return;
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "VersionNotFound", NULL);
        return;
    }
    nb_api_reply_empty(c);
    nb_api_change_qualifiers(c, service);
}
