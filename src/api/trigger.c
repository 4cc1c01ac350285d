/*
 * trigger.c: /services/{s}/functions/{f}/triggers[/{t}] (docs/api.md).
 *
 * The stored document is the whole trigger {triggerName, triggerType,
 * qualifier, description, triggerConfig} with its config normalised
 * (defaults filled in, methods upper-case).  Each change records the
 * snapshot of the trigger's function, which embeds all its triggers.
 */
#include "api/internal.h"

#include "base/alloc.h"

#include <errno.h>
#include <string.h>

/* 404 naming what is missing: the service, the function or the trigger. */
static void fail_missing(struct nb_api_ctx *c, const char *service, const char *function, int r,
                         const struct nb_err *err)
{
    if (r == -ENOENT) {
        struct nb_store_row row;
        struct nb_err e2 = {0};
        if (nb_store_service_get(c->api->store, service, &row, &e2) == -ENOENT) {
            nb_api_fail(c, 404, "ServiceNotFound", "service '%s' not found", service);
            return;
        }
        nb_store_row_release(&row);
        if (nb_store_function_get(c->api->store, service, function, &row, &e2) == -ENOENT) {
            nb_api_fail(c, 404, "FunctionNotFound", "function '%s/%s' not found", service,
                        function);
            return;
        }
        nb_store_row_release(&row);
    }
    nb_api_fail_store(c, r, err, "TriggerNotFound", "TriggerAlreadyExists");
}

static void list_triggers(struct nb_api_ctx *c, const char *service, const char *function)
{
    struct nb_store_row fn;
    struct nb_err err = {0};
    int r = nb_store_function_get(c->api->store, service, function, &fn, &err);
    if (r < 0) {
        fail_missing(c, service, function, r, &err);
        return;
    }
    nb_store_row_release(&fn);
    struct nb_store_page page = {0};
    char *hold[3];
    if (nb_api_page(c, &page, hold) == 0) {
        struct nb_store_rows rows;
        r = nb_store_trigger_list(c->api->store, service, function, &page, &rows, &err);
        nb_api_reply_rows(c, r, &err, &rows, "triggers", nb_api_trigger_json);
    }
    for (int i = 0; i < 3; i++)
        free(hold[i]);
}

static void store_trigger(struct nb_api_ctx *c, enum nb_store_mode mode, const char *service,
                          const char *function, const char *name, json_t *doc)
{
    struct nb_err err = {0};
    struct nb_store_row row = {.service = nb_xstrdup(service),
                               .function = nb_xstrdup(function),
                               .trigger = nb_xstrdup(name),
                               .config = json_dumps(doc, JSON_COMPACT)};
    int r = nb_store_trigger_put(c->api->store, mode, &row, &err);
    if (r < 0) {
        nb_store_row_release(&row);
        fail_missing(c, service, function, r, &err);
        return;
    }
    nb_api_reply(c, 200, nb_api_trigger_json(&row));
    nb_store_row_release(&row);
    nb_api_change_function(c, service, function);
}

static void create_trigger(struct nb_api_ctx *c, const char *service, const char *function,
                           json_t *body, const char *path_name)
{
    struct nb_store_row fn;
    struct nb_err err = {0};
    int r = nb_store_function_get(c->api->store, service, function, &fn, &err);
    if (r < 0) {
        fail_missing(c, service, function, r, &err);
        return;
    }
    nb_store_row_release(&fn);
    const char *name = path_name;
    if (!name) {
        json_t *n = json_object_get(body, "triggerName");
        if (!json_is_string(n)) {
            nb_api_fail(c, 400, "InvalidArgument", "triggerName is required");
            return;
        }
        name = json_string_value(n);
    }
    if (!nb_api_valid_name(name)) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "triggerName '%s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}",
                    name);
        return;
    }
    json_t *doc;
    if (nb_api_trigger_create(name, body, &doc, &err) < 0) {
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
        return;
    }
    store_trigger(c, NB_STORE_CREATE, service, function, name, doc);
    json_decref(doc);
}

static void update_trigger(struct nb_api_ctx *c, const char *service, const char *function,
                           const char *name, json_t *body)
{
    struct nb_err err = {0};
    struct nb_store_row old;
    int r = nb_store_trigger_get(c->api->store, service, function, name, &old, &err);
    if (r == -ENOENT && !c->fc) {
        create_trigger(c, service, function, body, name); /* /api/v1 PUT creates */
        return;
    }
    if (r < 0) {
        fail_missing(c, service, function, r, &err);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loads(old.config, 0, &jerr);
    nb_store_row_release(&old);
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "triggerType"))) {
        json_decref(doc);
        nb_api_fail(c, 500, "InternalServerError", "trigger '%s/%s/%s' is corrupt in the store",
                    service, function, name);
        return;
    }
    if (nb_api_trigger_apply(doc, body, &err) < 0)
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    else
        store_trigger(c, NB_STORE_UPDATE, service, function, name, doc);
    json_decref(doc);
}

void nb_api_triggers(struct nb_api_ctx *c, const char *service, const char *function,
                     const char *trigger)
{
    const char *m = c->req->method;
    if (!trigger) {
        if (strcmp(m, "GET") == 0) {
            list_triggers(c, service, function);
        } else {
            json_t *body;
            if (nb_api_parse_body(c, &body) == 0) {
                create_trigger(c, service, function, body, NULL);
                json_decref(body);
            }
        }
        return;
    }
    struct nb_err err = {0};
    if (strcmp(m, "GET") == 0) {
        struct nb_store_row row;
        int r = nb_store_trigger_get(c->api->store, service, function, trigger, &row, &err);
        if (r < 0) {
            fail_missing(c, service, function, r, &err);
            return;
        }
        nb_api_reply(c, 200, nb_api_trigger_json(&row));
        nb_store_row_release(&row);
    } else if (strcmp(m, "PUT") == 0) {
        json_t *body;
        if (nb_api_parse_body(c, &body) == 0) {
            update_trigger(c, service, function, trigger, body);
            json_decref(body);
        }
    } else {
        int r = nb_store_trigger_delete(c->api->store, service, function, trigger, &err);
        if (r < 0) {
            fail_missing(c, service, function, r, &err);
            return;
        }
        nb_api_reply_empty(c);
        nb_api_change_function(c, service, function);
    }
}
