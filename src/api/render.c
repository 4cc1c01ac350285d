/*
 * render.c: the API view of stored rows, and function snapshots (api.h).
 *
 * A stored document holds the user-settable fields; the view adds the id
 * and the times from the row's columns (and, for functions, the code
 * checksum).  A snapshot is what the gateway keeps in memory for a
 * function: its service, the function view plus codeDir (the host path of
 * the unpacked code, never shown to API clients) and all its triggers.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "codestore/codestore.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void nb_api_format_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Parses a stored document; a corrupt one (never written by us) renders as {}. */
static json_t *load_doc(const struct nb_store_row *row)
{
    json_error_t jerr;
    json_t *doc = row->config ? json_loads(row->config, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        nb_error("api", "stored document of '%s/%s/%s' is not a JSON object",
                 row->service ? row->service : "", row->function ? row->function : "",
                 row->trigger ? row->trigger : "");
        json_decref(doc);
        doc = json_object();
    }
    return doc;
}

static void add_times(json_t *out, const struct nb_store_row *row)
{
    char t[32];
    nb_api_format_time(row->created_ms, t);
    json_object_set_new(out, "createdTime", json_string(t));
    nb_api_format_time(row->modified_ms, t);
    json_object_set_new(out, "lastModifiedTime", json_string(t));
}

json_t *nb_api_service_json(const struct nb_store_row *row)
{
    json_t *out = json_pack("{s:s?}", "serviceId", row->id);
    json_t *doc = load_doc(row);
    json_object_update(out, doc);
    json_decref(doc);
    add_times(out, row);
    return out;
}

json_t *nb_api_function_json(const struct nb_store_row *row)
{
    json_t *out = json_pack("{s:s?}", "functionId", row->id);
    json_t *doc = load_doc(row);
    json_object_update(out, doc);
    json_decref(doc);
    json_object_set_new(out, "codeChecksum",
                        row->code_checksum ? json_string(row->code_checksum) : json_null());
    add_times(out, row);
    return out;
}

json_t *nb_api_trigger_json(const struct nb_store_row *row)
{
    json_t *out = load_doc(row);
    add_times(out, row);
    return out;
}

json_t *nb_api_snapshot(struct nb_api *api, const struct nb_store_row *svc,
                        const struct nb_store_row *fn, struct nb_err *err)
{
    struct nb_store_row own = {0};
    if (!svc) {
        int r = nb_store_service_get(api->store, fn->service, &own, err);
        if (r < 0)
            return NULL;
        svc = &own;
    }
    struct nb_store_rows trig;
    int r = nb_store_trigger_list(api->store, fn->service, fn->function, NULL, &trig, err);
    if (r < 0) {
        nb_store_row_release(&own);
        return NULL;
    }
    json_t *function = nb_api_function_json(fn);
    char *dir = fn->code_checksum ? nb_codestore_tree(api->code, fn->code_checksum) : NULL;
    if (!dir && fn->code_checksum)
        nb_warn("api", "function '%s/%s': code '%s' is not in the code store", fn->service,
                fn->function, fn->code_checksum);
    json_object_set_new(function, "codeDir", dir ? json_string(dir) : json_null());
    free(dir);

    json_t *triggers = json_array();
    for (size_t i = 0; i < trig.n; i++)
        json_array_append_new(triggers, nb_api_trigger_json(&trig.v[i]));
    nb_store_rows_release(&trig);

    json_t *snap = json_pack("{s:o, s:o, s:o}", "service", nb_api_service_json(svc), "function",
                             function, "triggers", triggers);
    nb_store_row_release(&own);
    return snap;
}

int nb_api_change_function(struct nb_api_ctx *c, const char *service, const char *function)
{
    struct nb_err err = {0};
    struct nb_store_row fn;
    int r = nb_store_function_get(c->api->store, service, function, &fn, &err);
    if (r == -ENOENT) {
        /* deleted meanwhile by another request: that is the news */
        nb_api_add_change(c->resp, service, function, NULL);
        return 0;
    }
    if (r < 0) {
        nb_error("api", "snapshot of '%s/%s': %s", service, function, err.msg);
        return r;
    }
    json_t *snap = nb_api_snapshot(c->api, NULL, &fn, &err);
    nb_store_row_release(&fn);
    if (!snap) {
        nb_error("api", "snapshot of '%s/%s': %s", service, function, err.msg);
        return err.code ? err.code : -EIO;
    }
    nb_api_add_change(c->resp, service, function, snap);
    return 0;
}

json_t *nb_api_snapshot_all(struct nb_api *api, struct nb_err *err)
{
    struct nb_store_rows svcs;
    if (nb_store_service_list(api->store, NULL, &svcs, err) < 0)
        return NULL;
    json_t *all = json_array();
    for (size_t i = 0; i < svcs.n; i++) {
        struct nb_store_rows fns;
        if (nb_store_function_list(api->store, svcs.v[i].service, NULL, &fns, err) < 0)
            goto fail;
        for (size_t j = 0; j < fns.n; j++) {
            json_t *snap = nb_api_snapshot(api, &svcs.v[i], &fns.v[j], err);
            if (!snap) {
                nb_store_rows_release(&fns);
                goto fail;
            }
            json_array_append_new(all, snap);
        }
        nb_store_rows_release(&fns);
    }
    nb_store_rows_release(&svcs);
    return all;

fail:
    nb_store_rows_release(&svcs);
    json_decref(all);
    return NULL;
}
