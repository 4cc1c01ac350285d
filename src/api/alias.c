/*
 * alias.c: /services/{s}/aliases[/{a}] (docs/api.md).
 *
 * An alias {aliasName, versionId, description, additionalVersionWeight}
 * points at a published version and may send a share of the traffic to one
 * other version: additionalVersionWeight {"<version>": weight}, weight in
 * [0, 1] (FC's shape; at most one entry).  POST creates; PUT creates or
 * updates under /api/v1 and only updates under /2016-08-15 (FC); an update
 * merges like the other entities (fields left out are kept).  Names are
 * entity names that are not all digits (those are version ids) and not
 * LATEST.  Every change records the service's qualifiers doc.
 */
#include "api/internal.h"

#include "base/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *nb_api_alias_json(const struct nb_store_alias *a)
{
    char v[24], t1[32], t2[32];
    snprintf(v, sizeof(v), "%lld", (long long)a->version);
    nb_api_format_time(a->created_ms, t1);
    nb_api_format_time(a->modified_ms, t2);
    json_t *w = json_object();
    if (a->version2) {
        char v2[24];
        snprintf(v2, sizeof(v2), "%lld", (long long)a->version2);
        json_object_set_new(w, v2, json_real(a->weight));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "aliasName", a->name, "versionId", v,
                     "description", a->description ? a->description : "", "additionalVersionWeight",
                     w, "createdTime", t1, "lastModifiedTime", t2);
}

/* A version id given as "3" or 3; 0 if it is neither. */
static int64_t version_of(json_t *j)
{
    if (json_is_integer(j))
        return json_integer_value(j) > 0 ? (int64_t)json_integer_value(j) : 0;
    if (json_is_string(j))
        return nb_api_parse_version(json_string_value(j));
    return 0;
}

static int valid_alias_name(const char *s)
{
    return nb_api_valid_name(s) && strspn(s, "0123456789") != strlen(s) && strcmp(s, "LATEST") != 0;
}

/* Applies body's fields onto a; 0 or -1 with a 400 reply. */
static int apply(struct nb_api_ctx *c, struct nb_store_alias *a, json_t *body)
{
    json_t *v = json_object_get(body, "versionId");
    if (v) {
        a->version = version_of(v);
        if (!a->version)
            return nb_api_fail(c, 400, "InvalidArgument",
                               "versionId must be a published version id (\"1\", \"2\", ...)");
    }
    json_t *d = json_object_get(body, "description");
    if (d && !json_is_null(d)) {
        if (!json_is_string(d) || strlen(json_string_value(d)) > NB_API_DESCRIPTION_MAX)
            return nb_api_fail(c, 400, "InvalidArgument",
                               "description must be a string of at most %d bytes",
                               NB_API_DESCRIPTION_MAX);
        free(a->description);
        a->description = nb_xstrdup(json_string_value(d));
    }
    json_t *w = json_object_get(body, "additionalVersionWeight");
    if (w) {
        a->version2 = 0;
        a->weight = 0;
        if (!json_is_null(w) && !json_is_object(w))
            return nb_api_fail(c, 400, "InvalidArgument",
                               "additionalVersionWeight must be an object {\"<versionId>\": "
                               "<weight 0..1>}");
        if (json_object_size(w) > 1)
            return nb_api_fail(c, 400, "InvalidArgument",
                               "additionalVersionWeight takes at most one version");
        const char *k;
        json_t *x;
        json_object_foreach(w, k, x)
        {
            a->version2 = nb_api_parse_version(k);
            if (!a->version2)
                return nb_api_fail(c, 400, "InvalidArgument",
                                   "additionalVersionWeight: '%s' is not a version id", k);
            if (!json_is_number(x) || !isfinite(json_number_value(x)) || json_number_value(x) < 0 ||
                json_number_value(x) > 1)
                return nb_api_fail(c, 400, "InvalidArgument",
                                   "additionalVersionWeight: the weight of version '%s' must be "
                                   "a number between 0 and 1",
                                   k);
            a->weight = json_number_value(x);
        }
    }
    if (!a->version)
        return nb_api_fail(c, 400, "InvalidArgument", "versionId is required");
    if (a->version2 == a->version) {
        a->version2 = 0; /* all the traffic goes there anyway */
        a->weight = 0;
    }
    return 0;
}

static void store_alias(struct nb_api_ctx *c, enum nb_store_mode mode, struct nb_store_alias *a)
{
    struct nb_err err = {0};
    int r = nb_store_alias_put(c->api->store, mode, a, &err);
    if (r == -ENOENT && strncmp(err.msg, "version", 7) == 0) {
        nb_api_fail(c, 404, "VersionNotFound", "%s", err.msg);
        return;
    }
    if (r == -ENOENT && strncmp(err.msg, "service", 7) == 0) {
        nb_api_fail(c, 404, "ServiceNotFound", "%s", err.msg);
        return;
    }
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "AliasNotFound", "AliasAlreadyExists");
        return;
    }
    nb_api_reply(c, 200, nb_api_alias_json(a));
    nb_api_change_qualifiers(c, a->service);
}

static void create_alias(struct nb_api_ctx *c, const char *service, json_t *body,
                         const char *path_name)
{
    const char *name = path_name;
    if (!name) {
        json_t *n = json_object_get(body, "aliasName");
        if (!json_is_string(n)) {
            nb_api_fail(c, 400, "InvalidArgument", "aliasName is required");
            return;
        }
        name = json_string_value(n);
    }
    if (!valid_alias_name(name)) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "aliasName '%s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}, not "
                    "be LATEST and not be all digits",
                    name);
        return;
    }
    struct nb_store_alias a = {.service = nb_xstrdup(service), .name = nb_xstrdup(name)};
    if (apply(c, &a, body) == 0)
        store_alias(c, path_name && !c->fc ? NB_STORE_UPSERT : NB_STORE_CREATE, &a);
    nb_store_alias_release(&a);
}

static void update_alias(struct nb_api_ctx *c, const char *service, const char *name, json_t *body)
{
    struct nb_store_alias a;
    struct nb_err err = {0};
    int r = nb_store_alias_get(c->api->store, service, name, &a, &err);
    if (r == -ENOENT && !c->fc) {
        create_alias(c, service, body, name);
        return;
    }
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "AliasNotFound", NULL);
        return;
    }
    if (apply(c, &a, body) == 0)
        store_alias(c, NB_STORE_UPDATE, &a);
    nb_store_alias_release(&a);
}

void nb_api_aliases(struct nb_api_ctx *c, const char *service, const char *alias)
{
    const char *m = c->req->method;
    struct nb_err err = {0};
    struct nb_store_row svc;
    int r = nb_store_service_get(c->api->store, service, &svc, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
        return;
    }
    nb_store_row_release(&svc);
    if (!alias && strcmp(m, "GET") == 0) {
        struct nb_store_alias *as = NULL;
        size_t n = 0;
        if (nb_store_alias_list(c->api->store, service, &as, &n, &err) < 0) {
            nb_api_fail_store(c, -EIO, &err, NULL, NULL);
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, nb_api_alias_json(&as[i]));
        nb_store_aliases_free(as, n);
        nb_api_reply(c, 200, json_pack("{s:o}", "aliases", arr));
        return;
    }
    if (alias && strcmp(m, "GET") == 0) {
        struct nb_store_alias a;
        r = nb_store_alias_get(c->api->store, service, alias, &a, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "AliasNotFound", NULL);
            return;
        }
        nb_api_reply(c, 200, nb_api_alias_json(&a));
        nb_store_alias_release(&a);
        return;
    }
    if (alias && strcmp(m, "DELETE") == 0) {
        r = nb_store_alias_delete(c->api->store, service, alias, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "AliasNotFound", NULL);
            return;
        }
        nb_api_reply_empty(c);
        nb_api_change_qualifiers(c, service);
        return;
    }
    json_t *body;
    if (nb_api_parse_body(c, &body) < 0)
        return;
    json_t *n = json_object_get(body, "aliasName");
    if (alias && n && (!json_is_string(n) || strcmp(json_string_value(n), alias) != 0))
        nb_api_fail(c, 400, "InvalidArgument", "aliasName in the body must be '%s'", alias);
    else if (alias)
        update_alias(c, service, alias, body);
    else
        create_alias(c, service, body, NULL);
    json_decref(body);
}
