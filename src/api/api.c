/*
 * api.c: the management API's router and reply helpers (api.h).
 *
 * OVERALL DESIGN
 * nb_api_execute strips the prefix (/api/v1 or /2016-08-15; the same
 * handlers serve both), splits the decoded path into segments and matches
 * them against the route table; the table also says which methods each
 * path allows (others: 405 MethodNotAllowed with an Allow header).  An
 * unknown path is 404 PathNotSupported (FC answers 400 there; a 404 tells a
 * client more precisely that the resource does not exist).  Invocations and
 * logs are served by the gateway on the loop and are unknown paths here.
 *
 * Handlers read and write the store, then reply; every successful change
 * also records the snapshots of the functions it affected in resp->changes.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void nb_api_error_body(struct nb_buf *out, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ErrorCode", code, "ErrorMessage", message,
                          "errorCode", code, "errorMessage", message);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        nb_buf_appends(out, s);
    free(s);
    json_decref(o);
}

static void reset_body(struct nb_api_response *resp)
{
    nb_buf_release(&resp->body);
    nb_buf_init(&resp->body, NB_API_BODY_MAX);
}

int nb_api_fail(struct nb_api_ctx *c, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->resp->status = status;
    reset_body(c->resp);
    nb_api_error_body(&c->resp->body, code, msg);
    return -1;
}

int nb_api_fail_store(struct nb_api_ctx *c, int r, const struct nb_err *err,
                      const char *notfound_code, const char *exists_code)
{
    if (r == -ENOENT && notfound_code)
        return nb_api_fail(c, 404, notfound_code, "%s", err->msg);
    if (r == -EEXIST && exists_code)
        return nb_api_fail(c, 409, exists_code, "%s", err->msg);
    if (r == -EBUSY)
        return nb_api_fail(c, 503, "ResourceThrottled", "the store is busy, retry: %s", err->msg);
    nb_error("api", "%s %s: %s", c->req->method, c->req->path, err->msg);
    return nb_api_fail(c, 500, "InternalServerError", "%s", err->msg);
}

int nb_api_reply(struct nb_api_ctx *c, int status, json_t *body)
{
    c->resp->status = status;
    reset_body(c->resp);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s || nb_buf_appends(&c->resp->body, s) < 0) {
        free(s);
        return nb_api_fail(c, 500, "InternalServerError", "response too large");
    }
    free(s);
    return 0;
}

int nb_api_reply_rows(struct nb_api_ctx *c, int r, const struct nb_err *err,
                      struct nb_store_rows *rows, const char *key,
                      json_t *(*render)(const struct nb_store_row *))
{
    if (r < 0)
        return nb_api_fail_store(c, r, err, NULL, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < rows->n; i++)
        json_array_append_new(arr, render(&rows->v[i]));
    json_t *out = json_pack("{s:o}", key, arr);
    if (rows->next)
        json_object_set_new(out, "nextToken", json_string(rows->next));
    nb_store_rows_release(rows);
    return nb_api_reply(c, 200, out);
}

int nb_api_reply_empty(struct nb_api_ctx *c)
{
    c->resp->status = 204;
    reset_body(c->resp);
    return 0;
}

int nb_api_parse_body(struct nb_api_ctx *c, json_t **out)
{
    json_error_t jerr;
    const char *body = c->req->body ? c->req->body : "";
    json_t *j = json_loadb(body, c->req->body_len, 0, &jerr);
    if (!j)
        return nb_api_fail(c, 400, "InvalidArgument", "request body is not valid JSON: %s",
                           jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return nb_api_fail(c, 400, "InvalidArgument", "request body must be a JSON object");
    }
    *out = j;
    return 0;
}

/*
 * Write requests run under write_lock, so changes (and the snapshots read
 * after them) are numbered in the order they happened.
 */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t revision; /* guarded by write_lock */

void nb_api_add_change(struct nb_api_response *resp, const char *service, const char *function,
                       json_t *snapshot)
{
    resp->changes = nb_xrealloc(resp->changes, (resp->nchanges + 1) * sizeof(*resp->changes));
    struct nb_api_change *ch = &resp->changes[resp->nchanges++];
    ch->service = nb_xstrdup(service);
    ch->function = function ? nb_xstrdup(function) : NULL;
    ch->snapshot = snapshot;
    ch->revision = ++revision;
}

int nb_api_query(struct nb_api_ctx *c, const char *key, char **out)
{
    *out = NULL;
    const char *q = c->req->query;
    size_t klen = strlen(key);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            free(*out);
            *out = nb_url_decode(q + klen + 1, len - klen - 1, 1);
            if (!*out)
                return nb_api_fail(c, 400, "InvalidArgument",
                                   "query parameter '%s' is not valid percent-encoding", key);
        } else if (len == klen && strncmp(q, key, klen) == 0) {
            free(*out);
            *out = nb_xstrdup("");
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

int nb_api_page(struct nb_api_ctx *c, struct nb_store_page *page, char *hold[3])
{
    _cleanup_free_ char *limit = NULL;
    char *prefix = NULL, *start = NULL, *token = NULL;
    hold[0] = hold[1] = hold[2] = NULL;
    if (nb_api_query(c, "limit", &limit) < 0 || nb_api_query(c, "prefix", &prefix) < 0 ||
        nb_api_query(c, "startKey", &start) < 0 || nb_api_query(c, "nextToken", &token) < 0) {
        free(prefix);
        free(start);
        free(token);
        return -1;
    }
    hold[0] = prefix;
    hold[1] = start;
    hold[2] = token;
    page->limit = NB_API_LIST_DEFAULT;
    if (limit && limit[0]) {
        char *end;
        long n = strtol(limit, &end, 10);
        if (*end || n < 1 || n > NB_API_LIST_MAX)
            return nb_api_fail(c, 400, "InvalidArgument",
                               "limit must be an integer between 1 and %d", NB_API_LIST_MAX);
        page->limit = (size_t)n;
    }
    page->prefix = prefix;
    /* startKey and nextToken are both inclusive lower bounds: take the later */
    page->start = start;
    if (token && token[0] && (!start || strcmp(token, start) > 0))
        page->start = token;
    return 0;
}

void nb_api_response_release(struct nb_api_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        free((char *)resp->headers[i].value);
    resp->nheaders = 0;
    free(resp->content_type);
    resp->content_type = NULL;
    nb_buf_release(&resp->body);
    for (size_t i = 0; i < resp->nchanges; i++) {
        free(resp->changes[i].service);
        free(resp->changes[i].function);
        json_decref(resp->changes[i].snapshot);
    }
    free(resp->changes);
    resp->changes = NULL;
    resp->nchanges = 0;
    json_decref(resp->events);
    resp->events = NULL;
    json_decref(resp->qualifiers);
    resp->qualifiers = NULL;
}

/* Route table.  "*" matches one segment (a name); methods lists what is allowed. */
enum route_id {
    R_SERVICES,
    R_SERVICE,
    R_FUNCTIONS,
    R_FUNCTION,
    R_FUNCTION_CODE,
    R_TRIGGERS,
    R_TRIGGER,
    R_CODE,
    R_VERSIONS,
    R_VERSION,
    R_ALIASES,
    R_ALIAS,
    R_USAGE,
    R_USAGE_RECORDS,
    R_KEYS,
    R_KEY,
    R_DOMAINS,
    R_DOMAIN,
};

struct route {
    enum route_id id;
    const char *pattern[7];
    const char *methods; /* comma-separated, as in the Allow header */
};

static const struct route routes[] = {
    {R_SERVICES, {"services"}, "GET, POST"},
    {R_SERVICE, {"services", "*"}, "GET, PUT, DELETE"},
    {R_FUNCTIONS, {"services", "*", "functions"}, "GET, POST"},
    {R_FUNCTION, {"services", "*", "functions", "*"}, "GET, PUT, DELETE"},
    {R_FUNCTION_CODE, {"services", "*", "functions", "*", "code"}, "GET"},
    {R_TRIGGERS, {"services", "*", "functions", "*", "triggers"}, "GET, POST"},
    {R_TRIGGER, {"services", "*", "functions", "*", "triggers", "*"}, "GET, PUT, DELETE"},
    {R_CODE, {"code"}, "POST"},
    {R_VERSIONS, {"services", "*", "versions"}, "GET, POST"},
    {R_VERSION, {"services", "*", "versions", "*"}, "GET, DELETE"},
    {R_ALIASES, {"services", "*", "aliases"}, "GET, POST"},
    {R_ALIAS, {"services", "*", "aliases", "*"}, "GET, PUT, DELETE"},
    {R_USAGE, {"usage"}, "GET"},
    {R_USAGE_RECORDS, {"usage", "records"}, "GET"},
    {R_KEYS, {"keys"}, "GET, POST"},
    {R_KEY, {"keys", "*"}, "GET, DELETE"},
    {R_DOMAINS, {"custom-domains"}, "GET, POST"},
    {R_DOMAIN, {"custom-domains", "*"}, "GET, PUT, DELETE"},
};

#define MAX_SEGMENTS 8

/* Splits path (after the prefix) into segments in buf; -1 if empty segments or too many. */
static int split(char *buf, char *seg[MAX_SEGMENTS], size_t *n)
{
    *n = 0;
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == '/')
        buf[--len] = '\0'; /* a trailing slash is tolerated */
    if (buf[0] != '/')
        return -1;
    char *p = buf + 1;
    while (1) {
        if (*n == MAX_SEGMENTS)
            return -1;
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!*p)
            return -1;
        seg[(*n)++] = p;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static bool method_allowed(const char *methods, const char *m)
{
    size_t ml = strlen(m);
    for (const char *p = methods; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == ml && strncmp(p, m, len) == 0)
            return true;
        p = comma ? comma + 2 : NULL;
    }
    return false;
}

/*
 * "svc.LATEST" on reads: FC's qualified service; only LATEST exists until
 * versions and aliases land.  Returns 0 (seg rewritten to the bare name)
 * or -1 with a 404 reply.
 */
static int strip_qualifier(struct nb_api_ctx *c, char *seg)
{
    char *dot = strchr(seg, '.');
    if (!dot)
        return 0;
    if (strcmp(c->req->method, "GET") != 0 || strcmp(dot + 1, "LATEST") != 0) {
        bool version = dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1);
        return nb_api_fail(c, 404, version ? "VersionNotFound" : "AliasNotFound",
                           "qualifier '%s' of service '%.*s' not found (only LATEST exists)",
                           dot + 1, (int)(dot - seg), seg);
    }
    *dot = '\0';
    return 0;
}

static void dispatch(struct nb_api_ctx *c, char *path)
{
    char *seg[MAX_SEGMENTS];
    size_t n;
    if (split(path, seg, &n) < 0)
        goto unknown;
    for (size_t i = 0; i < NB_ARRAY_SIZE(routes); i++) {
        const struct route *rt = &routes[i];
        size_t plen = 0;
        while (plen < NB_ARRAY_SIZE(rt->pattern) && rt->pattern[plen])
            plen++;
        if (plen != n)
            continue;
        bool match = true;
        for (size_t j = 0; j < n && match; j++)
            match = strcmp(rt->pattern[j], "*") == 0 || strcmp(rt->pattern[j], seg[j]) == 0;
        if (!match)
            continue;
        if (!method_allowed(rt->methods, c->req->method)) {
            nb_api_fail(c, 405, "MethodNotAllowed", "method '%s' is not allowed on '%s'",
                        c->req->method, c->req->path);
            c->resp->headers[0] = (struct nb_kv){"Allow", nb_xstrdup(rt->methods)};
            c->resp->nheaders = 1;
            return;
        }
        if (n >= 2 && strcmp(seg[0], "services") == 0 && strip_qualifier(c, seg[1]) < 0)
            return;
        switch (rt->id) {
        case R_SERVICES:
            nb_api_services(c, NULL);
            return;
        case R_SERVICE:
            nb_api_services(c, seg[1]);
            return;
        case R_FUNCTIONS:
            nb_api_functions(c, seg[1], NULL);
            return;
        case R_FUNCTION:
            nb_api_functions(c, seg[1], seg[3]);
            return;
        case R_FUNCTION_CODE:
            nb_api_function_code(c, seg[1], seg[3]);
            return;
        case R_TRIGGERS:
            nb_api_triggers(c, seg[1], seg[3], NULL);
            return;
        case R_TRIGGER:
            nb_api_triggers(c, seg[1], seg[3], seg[5]);
            return;
        case R_CODE:
            nb_api_code_upload(c);
            return;
        case R_VERSIONS:
            nb_api_versions(c, seg[1], NULL);
            return;
        case R_VERSION:
            nb_api_versions(c, seg[1], seg[3]);
            return;
        case R_ALIASES:
            nb_api_aliases(c, seg[1], NULL);
            return;
        case R_ALIAS:
            nb_api_aliases(c, seg[1], seg[3]);
            return;
        case R_USAGE:
            nb_api_usage(c);
            return;
        case R_USAGE_RECORDS:
            nb_api_usage_records(c);
            return;
        case R_KEYS:
            nb_api_keys(c, NULL);
            return;
        case R_KEY:
            nb_api_keys(c, seg[1]);
            return;
        case R_DOMAINS:
            nb_api_domains(c, NULL);
            return;
        case R_DOMAIN:
            nb_api_domains(c, seg[1]);
            return;
        }
    }
unknown:
    nb_api_fail(c, 404, "PathNotSupported", "path '%s' is not supported", c->req->path);
}

void nb_api_execute(struct nb_api *api, const struct nb_api_request *req,
                    struct nb_api_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    nb_buf_init(&resp->body, NB_API_BODY_MAX);
    struct nb_api_ctx c = {.api = api, .req = req, .resp = resp};
    const char *path = req->path ? req->path : "";
    const char *rest = NULL;
    static const char *const prefixes[] = {"/api/v1", "/2016-08-15"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(prefixes); i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], pl) == 0 && (path[pl] == '/' || path[pl] == '\0')) {
            c.prefix = prefixes[i];
            c.fc = i == 1;
            rest = path + pl;
            break;
        }
    }
    if (!rest || !req->method) {
        nb_api_fail(&c, 404, "PathNotSupported", "path '%s' is not supported", path);
        return;
    }
    _cleanup_free_ char *buf = nb_xstrdup(rest);
    /* reads need no order; a raw code upload changes no function */
    bool write = strcmp(req->method, "GET") != 0 && strcmp(rest, "/code") != 0;
    if (write)
        pthread_mutex_lock(&write_lock);
    dispatch(&c, buf);
    if (write)
        pthread_mutex_unlock(&write_lock);
    if (resp->status < 200)
        nb_api_fail(&c, 500, "InternalServerError", "no response");
}
