/*
 * internal.h: what the files of api/ share: the per-request context, reply
 * helpers, validation of entity documents and rendering.  Not for other
 * modules (they use api.h).
 */
#ifndef NB_API_INTERNAL_H
#define NB_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "store/store.h"

/* Bounds (docs/api.md). */
#define NB_API_NAME_MAX 128
#define NB_API_DESCRIPTION_MAX 256
#define NB_API_ENV_MAX_BYTES 4096
#define NB_API_LIST_DEFAULT 100
#define NB_API_LIST_MAX 1000
#define NB_API_BODY_MAX (64u << 20) /* response bodies */

/* One request being served. */
struct nb_api_ctx {
    struct nb_api *api;
    const struct nb_api_request *req;
    struct nb_api_response *resp;
    bool fc;            /* under /2016-08-15: PUT only updates */
    const char *prefix; /* "/api/v1" or "/2016-08-15" */
};

/* --- replies (api.c) --- */
/* Sets an error reply; returns -1 so handlers can `return nb_api_fail(...)`. */
int nb_api_fail(struct nb_api_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a store/codestore error: -ENOENT -> 404 notfound_code, -EEXIST -> 409 exists_code, else 500.
 */
int nb_api_fail_store(struct nb_api_ctx *c, int r, const struct nb_err *err,
                      const char *notfound_code, const char *exists_code);
/* Sets a JSON reply with status; takes the reference to body. Returns 0. */
int nb_api_reply(struct nb_api_ctx *c, int status, json_t *body);
/*
 * Replies {key: [render(row)...], "nextToken"?} for a list whose store call
 * returned r (a failure when < 0: then rows is untouched); releases rows.
 */
int nb_api_reply_rows(struct nb_api_ctx *c, int r, const struct nb_err *err,
                      struct nb_store_rows *rows, const char *key,
                      json_t *(*render)(const struct nb_store_row *));
/* 204, empty body. */
int nb_api_reply_empty(struct nb_api_ctx *c);
/* Parses the request body as a JSON object into *out (caller decrefs), or replies 400 and returns
 * -1. */
int nb_api_parse_body(struct nb_api_ctx *c, json_t **out);
/* Appends a change (copies the names, takes the reference to snapshot). */
void nb_api_add_change(struct nb_api_response *resp, const char *service, const char *function,
                       json_t *snapshot);
/* Decoded value of query parameter key (caller frees), NULL if absent; -1 reply on a bad escape. */
int nb_api_query(struct nb_api_ctx *c, const char *key, char **out);
/* Reads limit/prefix/startKey/nextToken into page (strings owned by *hold); -1 on a 400 reply. */
int nb_api_page(struct nb_api_ctx *c, struct nb_store_page *page, char *hold[3]);

/* --- validation (validate.c); all return 0 or -EINVAL with err naming the field --- */
bool nb_api_valid_name(const char *s);
/* A new service document with its defaults. */
json_t *nb_api_service_new(const char *name);
/* Applies the fields of body onto the service doc, validating each. */
int nb_api_service_apply(json_t *doc, json_t *body, struct nb_err *err);
json_t *nb_api_function_new(const char *name);
int nb_api_function_apply(json_t *doc, json_t *body, struct nb_err *err);
/* Checks what depends on several fields (a handler unless runtime is custom). */
int nb_api_function_check(json_t *doc, struct nb_err *err);
/* A new trigger document: body must give triggerType and triggerConfig. */
int nb_api_trigger_create(const char *name, json_t *body, json_t **out, struct nb_err *err);
int nb_api_trigger_apply(json_t *doc, json_t *body, struct nb_err *err);

/* --- rendering (render.c) --- */
/* "2026-11-25T18:00:00Z" into out[32]. */
void nb_api_format_time(int64_t ms, char out[32]);
/* The API view of a stored row (new reference). */
json_t *nb_api_service_json(const struct nb_store_row *row);
json_t *nb_api_function_json(const struct nb_store_row *row);
json_t *nb_api_trigger_json(const struct nb_store_row *row);
/*
 * The snapshot of one function (api.h).  svc may be NULL (then it is read).
 * Returns a new reference or NULL with err.
 */
json_t *nb_api_snapshot(struct nb_api *api, const struct nb_store_row *svc,
                        const struct nb_store_row *fn, struct nb_err *err);
/* Adds a change with the snapshot of service/function (read from the store). */
int nb_api_change_function(struct nb_api_ctx *c, const char *service, const char *function);

/* --- code (code.c) --- */
/*
 * Resolves a function's `code` object: stores code.zipFile in the code store
 * or checks that code.checksum was uploaded.  0 with digest and size, or -1
 * with the reply set (400, 413, 500).
 */
int nb_api_resolve_code(struct nb_api_ctx *c, json_t *code, char digest[65], int64_t *size);

/* --- handlers --- */
void nb_api_services(struct nb_api_ctx *c, const char *service);
void nb_api_functions(struct nb_api_ctx *c, const char *service, const char *function);
void nb_api_function_code(struct nb_api_ctx *c, const char *service, const char *function);
void nb_api_triggers(struct nb_api_ctx *c, const char *service, const char *function,
                     const char *trigger);
void nb_api_code_upload(struct nb_api_ctx *c);
/* GET/POST /keys, GET/DELETE /keys/ID (keys.c; admin scope, checked by the gateway). */
void nb_api_keys(struct nb_api_ctx *c, const char *id);
/* /custom-domains[/NAME] (domain.c; deploy scope, checked by the gateway). */
void nb_api_domains(struct nb_api_ctx *c, const char *name);

/* --- versions, aliases (version.c, alias.c) and usage (usage.c) --- */
void nb_api_versions(struct nb_api_ctx *c, const char *service, const char *version);
void nb_api_aliases(struct nb_api_ctx *c, const char *service, const char *alias);
void nb_api_usage(struct nb_api_ctx *c);
void nb_api_usage_records(struct nb_api_ctx *c);
/* The qualifiers doc of one service (api.h), or NULL with err. */
json_t *nb_api_qualifiers(struct nb_api *api, const char *service, struct nb_err *err);
/* Records the service's new qualifiers doc in resp->qualifiers (logs a failure). */
void nb_api_change_qualifiers(struct nb_api_ctx *c, const char *service);
/* The API view of an alias (new reference). */
json_t *nb_api_alias_json(const struct nb_store_alias *a);
/* "1".."9007199254740991" -> 1.., else 0. */
int64_t nb_api_parse_version(const char *s);

#endif
