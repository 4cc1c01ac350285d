/*
 * function.c: /services/{s}/functions, /services/{s}/functions/{f} and
 * .../code (docs/api.md).
 *
 * A create needs code; an update without `code` keeps the old package.
 * The stored document holds the settable fields plus codeSize; the digest
 * is the row's code_checksum column.  Every change records the function's
 * new snapshot (or NULL when it is deleted).
 */
#include "api/internal.h"

#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* 404 for a missing function, naming the service when that is what is missing. */
static void fail_missing(struct nb_api_ctx *c, const char *service, int r, const struct nb_err *err)
{
    if (r == -ENOENT) {
        struct nb_store_row svc;
        struct nb_err e2 = {0};
        if (nb_store_service_get(c->api->store, service, &svc, &e2) == -ENOENT) {
            nb_api_fail(c, 404, "ServiceNotFound", "service '%s' not found", service);
            return;
        }
        nb_store_row_release(&svc);
    }
    nb_api_fail_store(c, r, err, "FunctionNotFound", "FunctionAlreadyExists");
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

static void list_functions(struct nb_api_ctx *c, const char *service)
{
    if (require_service(c, service) < 0)
        return;
    struct nb_store_page page = {0};
    char *hold[3];
    if (nb_api_page(c, &page, hold) == 0) {
        struct nb_store_rows rows;
        struct nb_err err = {0};
        int r = nb_store_function_list(c->api->store, service, &page, &rows, &err);
        nb_api_reply_rows(c, r, &err, &rows, "functions", nb_api_function_json);
    }
    for (int i = 0; i < 3; i++)
        free(hold[i]);
}

/*
 * Validates doc (already merged with body), resolves body.code if given,
 * stores the row with mode and replies 200 + records the change.
 * old_checksum: kept when the body has no code (update), NULL on create.
 */
static void store_function(struct nb_api_ctx *c, enum nb_store_mode mode, const char *service,
                           const char *name, json_t *doc, json_t *body, const char *old_checksum)
{
    struct nb_err err = {0};
    if (nb_api_function_apply(doc, body, &err) < 0 || nb_api_function_check(doc, &err) < 0) {
        nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
        return;
    }
    json_t *code = json_object_get(body, "code");
    char digest[65] = {0};
    if (code && !json_is_null(code)) {
        int64_t size;
        if (nb_api_resolve_code(c, code, digest, &size) < 0)
            return;
        json_object_set_new(doc, "codeSize", json_integer(size));
    } else if (!old_checksum) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "code is required: {\"zipFile\": \"<base64 zip>\"} or {\"checksum\": "
                    "\"<sha256 of a zip uploaded to /api/v1/code>\"}");
        return;
    } else {
        snprintf(digest, sizeof(digest), "%s", old_checksum);
    }

    struct nb_store_row row = {.service = nb_xstrdup(service),
                               .function = nb_xstrdup(name),
                               .config = json_dumps(doc, JSON_COMPACT),
                               .code_checksum = nb_xstrdup(digest)};
    int r = nb_store_function_put(c->api->store, mode, &row, &err);
    if (r < 0) {
        nb_store_row_release(&row);
        if (r == -ENOENT && mode == NB_STORE_CREATE)
            nb_api_fail(c, 404, "ServiceNotFound", "service '%s' not found", service);
        else
            fail_missing(c, service, r, &err);
        return;
    }
    nb_api_reply(c, 200, nb_api_function_json(&row));
    json_t *snap = nb_api_snapshot(c->api, NULL, &row, &err);
    if (snap)
        nb_api_add_change(c->resp, service, name, snap);
    else
        nb_api_change_function(c, service, name); /* logs; retries the read */
    nb_store_row_release(&row);
}

static void create_function(struct nb_api_ctx *c, const char *service, json_t *body,
                            const char *path_name)
{
    if (require_service(c, service) < 0)
        return;
    const char *name = path_name;
    if (!name) {
        json_t *n = json_object_get(body, "functionName");
        if (!json_is_string(n)) {
            nb_api_fail(c, 400, "InvalidArgument", "functionName is required");
            return;
        }
        name = json_string_value(n);
    }
    if (!nb_api_valid_name(name)) {
        nb_api_fail(c, 400, "InvalidArgument",
                    "functionName '%s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}",
                    name);
        return;
    }
    json_t *doc = nb_api_function_new(name);
    store_function(c, NB_STORE_CREATE, service, name, doc, body, NULL);
    json_decref(doc);
}

static void update_function(struct nb_api_ctx *c, const char *service, const char *name,
                            json_t *body)
{
    struct nb_err err = {0};
    struct nb_store_row old;
    int r = nb_store_function_get(c->api->store, service, name, &old, &err);
    if (r == -ENOENT && !c->fc) {
        create_function(c, service, body, name); /* /api/v1 PUT creates */
        return;
    }
    if (r < 0) {
        fail_missing(c, service, r, &err);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loads(old.config, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = nb_api_function_new(name);
    }
    store_function(c, NB_STORE_UPDATE, service, name, doc, body,
                   old.code_checksum ? old.code_checksum : "");
    json_decref(doc);
    nb_store_row_release(&old);
}

static void delete_function(struct nb_api_ctx *c, const char *service, const char *name)
{
    struct nb_err err = {0};
    int r = nb_store_function_delete(c->api->store, service, name, &err);
    if (r < 0) {
        fail_missing(c, service, r, &err);
        return;
    }
    nb_api_add_change(c->resp, service, name, NULL);
    nb_api_reply_empty(c);
}

void nb_api_functions(struct nb_api_ctx *c, const char *service, const char *function)
{
    const char *m = c->req->method;
    if (!function) {
        if (strcmp(m, "GET") == 0) {
            list_functions(c, service);
        } else {
            json_t *body;
            if (nb_api_parse_body(c, &body) == 0) {
                create_function(c, service, body, NULL);
                json_decref(body);
            }
        }
        return;
    }
    if (strcmp(m, "GET") == 0) {
        struct nb_store_row row;
        struct nb_err err = {0};
        int r = nb_store_function_get(c->api->store, service, function, &row, &err);
        if (r < 0) {
            fail_missing(c, service, r, &err);
            return;
        }
        nb_api_reply(c, 200, nb_api_function_json(&row));
        nb_store_row_release(&row);
    } else if (strcmp(m, "PUT") == 0) {
        json_t *body;
        if (nb_api_parse_body(c, &body) == 0) {
            update_function(c, service, function, body);
            json_decref(body);
        }
    } else {
        delete_function(c, service, function);
    }
}

void nb_api_function_code(struct nb_api_ctx *c, const char *service, const char *function)
{
    struct nb_store_row row;
    struct nb_err err = {0};
    int r = nb_store_function_get(c->api->store, service, function, &row, &err);
    if (r < 0) {
        fail_missing(c, service, r, &err);
        return;
    }
    json_t *view = nb_api_function_json(&row);
    nb_api_reply(c, 200,
                 json_pack("{s:O?, s:O?}", "checksum", json_object_get(view, "codeChecksum"),
                           "codeSize", json_object_get(view, "codeSize")));
    json_decref(view);
    nb_store_row_release(&row);
}
