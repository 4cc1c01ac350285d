/*
 * service.c: /services and /services/{s} (docs/api.md).
 *
 * Changing a service changes every one of its functions' snapshots (they
 * embed the service: internetAccess, ...), so an update records one change
 * per function; a delete records one change with function NULL.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>

static void list_services(struct nb_api_ctx *c)
{
    struct nb_store_page page = {0};
    char *hold[3];
    if (nb_api_page(c, &page, hold) == 0) {
        struct nb_store_rows rows;
        struct nb_err err = {0};
        int r = nb_store_service_list(c->api->store, &page, &rows, &err);
        nb_api_reply_rows(c, r, &err, &rows, "services", nb_api_service_json);
    }
    for (int i = 0; i < 3; i++)
        free(hold[i]);
}

/* Stores doc for name with mode and replies 200 with the service. */
static int store_service(struct nb_api_ctx *c, enum nb_store_mode mode, const char *name,
                         json_t *doc)
{
    struct nb_store_row row = {.service = nb_xstrdup(name),
                               .config = json_dumps(doc, JSON_COMPACT)};
    struct nb_err err = {0};
    int r = nb_store_service_put(c->api->store, mode, &row, &err);
    if (r < 0) {
        nb_store_row_release(&row);
        return nb_api_fail_store(c, r, &err, "ServiceNotFound", "ServiceAlreadyExists");
    }
    nb_api_reply(c, 200, nb_api_service_json(&row));
    nb_store_row_release(&row);
    return 0;
}

/* Creates the service named in body (POST) or by the path (PUT under /api/v1). */
static void create_service(struct nb_api_ctx *c, json_t *body, const char *path_name)
{
    struct nb_err err = {0};
    const char *name = path_name;
    if (!name) {
        json_t *n = json_object_get(body, "serviceName");
        if (!json_is_string(n)) {
            nb_api_fail(c, 400, "InvalidArgument", "serviceName is required");
            return;
        }
        name = json_string_value(n);
    }
    if (!nb_api_valid_name(name)) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "serviceName '%s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}",
                    name);
        return;
    }
    json_t *doc = nb_api_service_new(name);
    if (nb_api_service_apply(doc, body, &err) < 0)
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    else
        store_service(c, NB_STORE_CREATE, name, doc);
    json_decref(doc);
}

/* One change per function of the service (their snapshots embed it). */
static void changes_for_service(struct nb_api_ctx *c, const char *service)
{
    struct nb_store_rows fns;
    struct nb_err err = {0};
    if (nb_store_function_list(c->api->store, service, NULL, &fns, &err) < 0) {
        nb_error("api", "functions of '%s': %s", service, err.msg);
        return;
    }
    for (size_t i = 0; i < fns.n; i++)
        nb_api_change_function(c, service, fns.v[i].function);
    nb_store_rows_release(&fns);
}

static void update_service(struct nb_api_ctx *c, const char *name, json_t *body)
{
    struct nb_err err = {0};
    struct nb_store_row old;
    int r = nb_store_service_get(c->api->store, name, &old, &err);
    if (r == -ENOENT && !c->fc) {
        create_service(c, body, name); /* /api/v1 PUT creates */
        return;
    }
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loads(old.config, 0, &jerr);
    nb_store_row_release(&old);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = nb_api_service_new(name);
    }
    if (nb_api_service_apply(doc, body, &err) < 0)
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    else if (store_service(c, NB_STORE_UPDATE, name, doc) == 0)
        changes_for_service(c, name);
    json_decref(doc);
}

static void delete_service(struct nb_api_ctx *c, const char *name)
{
    struct nb_err err = {0};
    int r = nb_store_service_delete(c->api->store, name, &err);
    if (r == -ENOTEMPTY) {
        nb_api_fail(c, 400, "ServiceNotEmpty",
                    "service '%s' still has functions: delete them first", name);
        return;
    }
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
        return;
    }
    nb_api_add_change(c->resp, name, NULL, NULL);
    nb_api_reply_empty(c);
}

void nb_api_services(struct nb_api_ctx *c, const char *service)
{
    const char *m = c->req->method;
    if (!service) {
        if (strcmp(m, "GET") == 0) {
            list_services(c);
        } else {
            json_t *body;
            if (nb_api_parse_body(c, &body) == 0) {
                create_service(c, body, NULL);
                json_decref(body);
            }
        }
        return;
    }
    if (strcmp(m, "GET") == 0) {
        struct nb_store_row row;
        struct nb_err err = {0};
        int r = nb_store_service_get(c->api->store, service, &row, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "ServiceNotFound", NULL);
            return;
        }
        nb_api_reply(c, 200, nb_api_service_json(&row));
        nb_store_row_release(&row);
    } else if (strcmp(m, "PUT") == 0) {
        json_t *body;
        if (nb_api_parse_body(c, &body) == 0) {
            update_service(c, service, body);
            json_decref(body);
        }
    } else {
        delete_service(c, service);
    }
}
