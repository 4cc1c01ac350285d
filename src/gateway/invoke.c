/*
 * invoke.c: the hot path: HTTP triggers and the invoke API.
 *
 * A call turns the HTTP request into an INVOKE (meta JSON + the raw body,
 * which is passed by reference, never copied), submits it to the function's
 * pool, and turns the result into the HTTP answer: for triggers, the
 * function's own status, headers (filtered per FC) and body; for the invoke
 * API, FC's invoke answer (200 with X-Fc-Error-Type on function errors).
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/protocol.h"
#include "sched/sched.h"

#define LOG_TAIL_BYTES 4096

struct gw_call {
    struct nb_invocation inv;
    struct nb_gateway *gw;
    struct nb_http_request *req;
    int is_trigger;
    int timeout_s;
    int cold;
    char *meta;
    size_t meta_len; /* 0: strlen(meta) */
    struct nb_buf tail;
    struct nb_gw_acct acct;     /* for nb_gw_account (stats.c) */
    struct nb_gw_cors_out cors; /* CORS headers for a trigger's answer (policy.c) */
};

static const char *status_names[] = {"ok",      "handled", "unhandled", "timeout",
                                     "crashed", "init",    "cancelled", "throttled"};

/* ---- building the INVOKE meta ---- */

static void add_multi(json_t *obj, const char *key, const char *value)
{
    json_t *v = json_stringn(value, strlen(value));
    if (v == NULL) /* not UTF-8: keep the bytes visible, replaced */
        v = json_string("\xef\xbf\xbd");
    json_t *cur = json_object_get(obj, key);
    if (cur == NULL) {
        json_object_set_new(obj, key, v);
    } else if (json_is_array(cur)) {
        json_array_append_new(cur, v);
    } else {
        json_t *arr = json_array();
        json_array_append(arr, cur);
        json_array_append_new(arr, v);
        json_object_set_new(obj, key, arr);
    }
}

static json_t *parse_query(const char *q)
{
    json_t *obj = json_object();
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 0) {
            const char *eq = memchr(q, '=', n);
            size_t klen = eq ? (size_t)(eq - q) : n;
            char *k = nb_url_decode(q, klen, 1);
            char *v = eq ? nb_url_decode(eq + 1, n - klen - 1, 1) : nb_xstrdup("");
            if (k == NULL)
                k = nb_xstrndup(q, klen);
            if (v == NULL)
                v = nb_xstrndup(eq + 1, n - klen - 1);
            add_multi(obj, k, v);
            free(k);
            free(v);
        }
        q += amp ? n + 1 : n;
    }
    return obj;
}

static int hidden_request_header(const char *name)
{
    return strncasecmp(name, "x-fc-", 5) == 0 || strcasecmp(name, "connection") == 0 ||
           strcasecmp(name, "keep-alive") == 0;
}

json_t *nb_gw_trigger_http(struct nb_http_request *req, const struct nb_route *route)
{
    json_t *headers = json_object();
    char lower[256];
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *k = req->headers[i].key;
        if (hidden_request_header(k))
            continue;
        size_t n = strlen(k);
        if (n >= sizeof(lower))
            continue;
        for (size_t j = 0; j <= n; j++)
            lower[j] = (char)(k[j] >= 'A' && k[j] <= 'Z' ? k[j] + 32 : k[j]);
        add_multi(headers, lower, req->headers[i].value);
    }
    json_t *http = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "method", req->method, "path",
                             route->rest, "url", req->url, "queries", parse_query(req->query),
                             "headers", headers, "clientIP", req->client_ip);
    if (http == NULL) { /* a path or URL that is not UTF-8 */
        http = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "method", req->method, "path", "/",
                         "url", "/", "queries", json_object(), "headers", json_object(), "clientIP",
                         req->client_ip);
    }
    return http;
}

/*
 * The same INVOKE meta written straight into a buffer, without building
 * jansson objects (the hot path: this is most of what the daemon does per
 * request).  The output is what trigger_meta_json gives: strings escaped as
 * json_dumps escapes them, a value that is not UTF-8 replaced by U+FFFD, a
 * key that is not UTF-8 left out, repeated keys as arrays in order.
 */
static int put_str(struct nb_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!nb_utf8_valid(s, n))
        s = "\xef\xbf\xbd", n = 3;
    return nb_json_append_string(b, s, n);
}

/* {"k":"v","k2":["a","b"]} from n key/value pairs (UTF-8 keys), grouped in order of first
 * appearance. */
static int put_multi(struct nb_buf *b, const struct nb_kv *kv, size_t n)
{
    int r = nb_buf_appendc(b, '{'), first = 1;
    for (size_t i = 0; i < n; i++) {
        size_t m = 0, j;
        for (j = 0; j < i && strcmp(kv[j].key, kv[i].key) != 0; j++)
            ;
        if (j < i)
            continue; /* written with its first occurrence */
        for (j = i; j < n; j++)
            m += strcmp(kv[j].key, kv[i].key) == 0;
        if (!first)
            r |= nb_buf_appendc(b, ',');
        first = 0;
        r |= put_str(b, kv[i].key) | nb_buf_appendc(b, ':');
        if (m == 1) {
            r |= put_str(b, kv[i].value);
            continue;
        }
        r |= nb_buf_appendc(b, '[');
        for (j = i; j < n; j++) {
            if (strcmp(kv[j].key, kv[i].key) != 0)
                continue;
            r |= put_str(b, kv[j].value);
            if (--m)
                r |= nb_buf_appendc(b, ',');
        }
        r |= nb_buf_appendc(b, ']');
    }
    return r | nb_buf_appendc(b, '}');
}

/*
 * The request's query pairs (decoded like parse_query, owned strings) and
 * headers (names lower-cased, hidden ones and names of 256 bytes or more
 * left out, like nb_gw_trigger_http), as both direct renderers take them:
 * a pair whose name is not UTF-8 is left out here (the jansson renderer
 * leaves it out too), once for both.  The first few of each on the stack.
 */
struct meta_pairs {
    struct nb_kv *q, *h;
    size_t nq, nh;
    char *lower;
    struct nb_kv q_stack[8], h_stack[15];
    char lower_stack[15 * 256];
};

static void meta_pairs_collect(struct meta_pairs *mp, const struct nb_http_request *req)
{
    size_t cap = NB_ARRAY_SIZE(mp->q_stack);
    mp->q = mp->q_stack;
    mp->nq = 0;
    for (const char *p = req->query; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t klen = eq ? (size_t)(eq - p) : n;
            if (mp->nq == cap) {
                cap *= 2;
                mp->q = mp->q == mp->q_stack ? memcpy(nb_xmalloc(cap * sizeof(*mp->q)), mp->q_stack,
                                                      sizeof(mp->q_stack))
                                             : nb_xrealloc(mp->q, cap * sizeof(*mp->q));
            }
            char *k = nb_url_decode(p, klen, 1);
            if (k == NULL)
                k = nb_xstrndup(p, klen);
            if (nb_utf8_valid(k, strlen(k))) {
                char *v = eq ? nb_url_decode(eq + 1, n - klen - 1, 1) : nb_xstrdup("");
                mp->q[mp->nq++] = (struct nb_kv){k, v ? v : nb_xstrndup(eq + 1, n - klen - 1)};
            } else {
                free(k);
            }
        }
        p += amp ? n + 1 : n;
    }
    int small = req->nheaders <= NB_ARRAY_SIZE(mp->h_stack);
    mp->h = small ? mp->h_stack : nb_xcalloc(req->nheaders, sizeof(*mp->h));
    mp->lower = small ? mp->lower_stack : nb_xmalloc(req->nheaders * 256);
    mp->nh = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *k = req->headers[i].key;
        size_t n = strlen(k);
        if (hidden_request_header(k) || n >= 256 || !nb_utf8_valid(k, n))
            continue;
        char *l = mp->lower + mp->nh * 256;
        for (size_t j = 0; j <= n; j++)
            l[j] = (char)(k[j] >= 'A' && k[j] <= 'Z' ? k[j] + 32 : k[j]);
        mp->h[mp->nh++] = (struct nb_kv){l, req->headers[i].value};
    }
}

static void meta_pairs_release(struct meta_pairs *mp)
{
    for (size_t i = 0; i < mp->nq; i++) {
        free((char *)mp->q[i].key);
        free((char *)mp->q[i].value);
    }
    if (mp->q != mp->q_stack)
        free(mp->q);
    if (mp->h != mp->h_stack) {
        free(mp->h);
        free(mp->lower);
    }
}

/* 1 if the request line's fields are UTF-8 (else the jansson renderer takes over). */
static int fixed_fields_utf8(const struct nb_http_request *req, const struct nb_route *route)
{
    const char *fixed[] = {req->method, route->rest, req->url, req->client_ip};
    for (size_t i = 0; i < NB_ARRAY_SIZE(fixed); i++)
        if (fixed[i] == NULL || !nb_utf8_valid(fixed[i], strlen(fixed[i])))
            return 0;
    return 1;
}

/* The meta as trigger_meta_json writes it; NULL if that one must (a path that is not UTF-8). */
static char *trigger_meta_fast(struct nb_http_request *req, const struct nb_route *route,
                               const char *request_id, int timeout_s)
{
    if (!fixed_fields_utf8(req, route))
        return NULL;
    struct nb_buf b;
    nb_buf_init(&b, 64u << 20);
    int r = nb_buf_reserve(&b, 512); /* a typical meta is 250-400 bytes: one allocation */
    char deadline[24];
    nb_fmt_u64(deadline, (uint64_t)(nb_wall_ms() + timeout_s * 1000LL));
    r |= nb_buf_appends(&b, "{\"requestId\":\"") | nb_buf_appends(&b, request_id) |
         nb_buf_appends(&b, "\",\"kind\":\"http\",\"deadline\":") | nb_buf_appends(&b, deadline) |
         nb_buf_appends(&b, ",\"http\":");
    r |= nb_buf_appends(&b, "{\"method\":") | put_str(&b, req->method);
    r |= nb_buf_appends(&b, ",\"path\":") | put_str(&b, route->rest);
    r |= nb_buf_appends(&b, ",\"url\":") | put_str(&b, req->url);
    struct meta_pairs mp;
    meta_pairs_collect(&mp, req);
    r |= nb_buf_appends(&b, ",\"queries\":") | put_multi(&b, mp.q, mp.nq);
    r |= nb_buf_appends(&b, ",\"headers\":") | put_multi(&b, mp.h, mp.nh);
    meta_pairs_release(&mp);
    r |= nb_buf_appends(&b, ",\"clientIP\":") | put_str(&b, req->client_ip) |
         nb_buf_appends(&b, "}}");
    if (r != 0) {
        nb_buf_release(&b);
        return NULL;
    }
    return nb_buf_steal(&b, NULL);
}

/* s and its NUL; U+FFFD for a value that is not UTF-8 (as put_str). */
static int put_field(struct nb_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!nb_utf8_valid(s, n))
        s = "\xef\xbf\xbd", n = 3;
    return nb_buf_append(b, s, n) | nb_buf_appendc(b, '\0');
}

/* The pairs as key\0value\0. */
static int put_field_pairs(struct nb_buf *b, const struct nb_kv *kv, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r |= put_field(b, kv[i].key) | put_field(b, kv[i].value);
    return r;
}

/*
 * The fields form of the same meta (NB_FRAME_F_FIELDS), for shims that read
 * it (Node.js): what trigger_meta_fast says, as NUL-terminated strings that
 * the shim takes by index, with no JSON document on either side.  NULL where
 * trigger_meta_fast gives NULL; *len is its length.
 */
static char *trigger_meta_fields(struct nb_http_request *req, const struct nb_route *route,
                                 const char *request_id, int timeout_s, size_t *len)
{
    if (!fixed_fields_utf8(req, route))
        return NULL;
    struct nb_buf b;
    nb_buf_init(&b, 64u << 20);
    int r = nb_buf_reserve(&b, 512);
    char num[24];
    nb_fmt_u64(num, (uint64_t)(nb_wall_ms() + timeout_s * 1000LL));
    r |= put_field(&b, request_id) | put_field(&b, num) | put_field(&b, req->method) |
         put_field(&b, route->rest) | put_field(&b, req->url) | put_field(&b, req->client_ip);
    struct meta_pairs mp;
    meta_pairs_collect(&mp, req);
    nb_fmt_u64(num, mp.nq);
    r |= put_field(&b, num) | put_field_pairs(&b, mp.q, mp.nq) | put_field_pairs(&b, mp.h, mp.nh);
    meta_pairs_release(&mp);
    if (r != 0) {
        nb_buf_release(&b);
        return NULL;
    }
    return nb_buf_steal(&b, len);
}

static char *trigger_meta_json(struct nb_http_request *req, const struct nb_route *route,
                               const char *request_id, int timeout_s)
{
    json_t *http = nb_gw_trigger_http(req, route);
    json_t *meta =
        json_pack("{s:s, s:s, s:I, s:o}", "requestId", request_id, "kind", "http", "deadline",
                  (json_int_t)(nb_wall_ms() + timeout_s * 1000LL), "http", http);
    char *s = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    return s;
}

static char *trigger_meta(struct nb_http_request *req, const struct nb_route *route,
                          const char *request_id, int timeout_s)
{
    char *s = trigger_meta_fast(req, route, request_id, timeout_s);
    return s ? s : trigger_meta_json(req, route, request_id, timeout_s);
}

/* client_context: a JSON object (Lambda's X-Amz-Client-Context, decoded), or NULL. */
static char *event_meta(const char *request_id, int timeout_s, const char *client_context)
{
    return nb_xasprintf("{\"requestId\":\"%s\",\"kind\":\"event\",\"deadline\":%lld%s%s}",
                        request_id, (long long)(nb_wall_ms() + timeout_s * 1000LL),
                        client_context ? ",\"clientContext\":" : "",
                        client_context ? client_context : "");
}

/* ---- pools ---- */

static char **pool_env(struct nb_fn *fn, json_t *f)
{
    json_t *vars = json_object_get(f, "environmentVariables");
    size_t n = json_object_size(vars), i = 0;
    char **env = nb_xcalloc(n + 8, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        if (json_is_string(v))
            env[i++] = nb_xasprintf("%s=%s", k, json_string_value(v));
    }
    env[i++] = nb_xasprintf("FC_SERVICE_NAME=%s", fn->service);
    env[i++] = nb_xasprintf("FC_FUNCTION_NAME=%s", fn->name);
    env[i++] = nb_xasprintf("FC_FUNCTION_MEMORY_SIZE=%d", fn->memory_mb);
    env[i++] = nb_xasprintf("FC_REGION=local");
    env[i] = NULL;
    return env;
}

static struct nb_pool *fn_pool(struct nb_gateway *gw, struct nb_fn *fn)
{
    if (fn->pool)
        return fn->pool;
    json_t *f = json_object_get(fn->snapshot, "function");
    json_t *svc = json_object_get(fn->snapshot, "service");
    json_t *nul = json_null(); /* a singleton: no reference counting */
    json_t *initializer = json_object_get(f, "initializer") ?: nul;
    json_t *handler_type = json_object_get(f, "handlerType") ?: nul;
    json_t *vars = json_object_get(f, "environmentVariables");
    int init_timeout = (int)json_integer_value(json_object_get(f, "initializationTimeout"));
    if (init_timeout <= 0)
        init_timeout = 3;
    json_t *init = json_pack(
        "{s:{s:s, s:s, s:O, s:i, s:i, s:i, s:s, s:O}, s:{s:s, s:s, s:s}, s:s, s:s, s:s,"
        " s:{s:s, s:s, s:s}, s:o}",
        "function", "name", fn->name, "handler",
        json_string_value(json_object_get(f, "handler")) ?: "index.handler", "initializer",
        initializer, "initializationTimeout", init_timeout, "memorySize", fn->memory_mb, "timeout",
        fn->timeout_s, "runtime", json_string_value(json_object_get(f, "runtime")) ?: "",
        "handlerType", handler_type, "service", "name", fn->service, "qualifier",
        fn->version ? fn->version : "LATEST", "versionId", fn->version ? fn->version : "",
        "codeDir", json_string_value(json_object_get(f, "codeDir")) ?: "", "region", "local",
        "accountId", gw->cfg.account_id, "credentials", "accessKeyId", "", "accessKeySecret", "",
        "securityToken", "", "env", vars ? json_deep_copy(vars) : json_object());
    /* The shims size themselves from these (threads for Python, the custom server's port). */
    json_t *jf = json_object_get(init, "function");
    json_t *conc = json_object_get(f, "instanceConcurrency");
    json_object_set_new(jf, "instanceConcurrency",
                        json_integer(json_is_integer(conc) ? json_integer_value(conc) : 1));
    json_t *ca_port = json_object_get(f, "caPort");
    if (json_is_integer(ca_port))
        json_object_set(jf, "caPort", ca_port);
    struct nb_pool_config cfg = {
        .service = nb_xstrdup(fn->service),
        .function = nb_xstrdup(fn->name),
        .runtime = nb_xstrdup(json_string_value(json_object_get(f, "runtime")) ?: ""),
        .code_dir = nb_xstrdup(json_string_value(json_object_get(f, "codeDir")) ?: ""),
        .init_meta = init ? json_dumps(init, JSON_COMPACT) : nb_xstrdup("{}"),
        .env = pool_env(fn, f),
        .memory_mb = fn->memory_mb,
        .timeout_s = fn->timeout_s,
        .init_timeout_s = init_timeout,
        .concurrency = (int)json_integer_value(json_object_get(f, "instanceConcurrency")),
        .internet = json_is_true(json_object_get(svc, "internetAccess")),
        .max_instances = gw->cfg.max_instances,
        .max_queue = gw->cfg.max_queue,
        .idle_timeout_ms = gw->cfg.idle_timeout_ms,
        .queue_timeout_ms = gw->cfg.queue_timeout_ms,
    };
    /* per-function pool settings (docs/api.md) over the daemon's (pool: in its config) */
    json_t *v;
    if (json_is_integer(v = json_object_get(f, "maxInstances")))
        cfg.max_instances = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(f, "minInstances")))
        cfg.min_instances = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(f, "idleTimeout")))
        cfg.idle_timeout_ms = (unsigned)json_integer_value(v) * 1000u;
    json_decref(init);
    fn->pool = nb_pool_new(gw->sched, &cfg);
    return fn->pool;
}

struct nb_pool *nb_gw_fn_pool(struct nb_gateway *gw, struct nb_fn *fn)
{
    return fn_pool(gw, fn);
}

/* ---- answering ---- */

static int hidden_response_header(const char *name)
{
    static const char *drop[] = {"connection", "content-length",   "date", "keep-alive", "server",
                                 "upgrade",    "transfer-encoding"};
    if (strncasecmp(name, "x-fc-", 5) == 0)
        return 1;
    for (size_t i = 0; i < NB_ARRAY_SIZE(drop); i++)
        if (strcasecmp(name, drop[i]) == 0)
            return 1;
    return 0;
}

/* The FC error body for failures that produced no body of the function's own. */
static void failure_body(struct nb_invocation *inv, struct nb_buf *out)
{
    if (inv->status != NB_INV_CRASHED && inv->status != NB_INV_TIMEOUT && inv->result.len > 0) {
        nb_buf_append(out, inv->result.data, inv->result.len);
        return;
    }
    json_t *b = json_pack("{s:s}", "errorMessage", inv->error[0] ? inv->error : "unknown error");
    char *s = json_dumps(b, JSON_COMPACT);
    nb_buf_appends(out, s ? s : "{}");
    free(s);
    json_decref(b);
}

static const char *error_type(enum nb_inv_status st)
{
    return st == NB_INV_HANDLED ? "HandledInvocationError" : "UnhandledInvocationError";
}

static void call_free(struct gw_call *c)
{
    free(c->meta);
    json_decref(c->inv.result_meta);
    nb_buf_release(&c->inv.result);
    nb_buf_release(&c->inv.result_head);
    nb_buf_release(&c->tail);
    nb_gw_cors_out_release(&c->cors);
    free(c);
}

/* X-Nubis-Init-Duration: the init duration (ms) of the instance a cold call waited for. */
static const char *init_ms(const struct nb_invocation *inv, char *out, size_t len)
{
    snprintf(out, len, "%.1f", (double)inv->init_ns / 1e6);
    return out;
}

/* X-Fc-Invocation-Duration: whole milliseconds, rounded up. */
static const char *dur_ms(const struct nb_invocation *inv, char out[24])
{
    nb_fmt_u64(out, (inv->end_ns - inv->start_ns + 999999) / 1000000);
    return out;
}

/*
 * Appends to h (at n; returns the new count) the log tail as tail_header
 * (base64 in *log64, caller frees) and the cold-start headers (init holds
 * the duration).
 */
static size_t tail_and_cold(struct gw_call *c, const char *tail_header, struct nb_kv *h, size_t n,
                            char **log64, char init[24])
{
    if (c->tail.max) {
        *log64 = nb_base64_encode(c->tail.data ?: "", c->tail.len);
        h[n++] = (struct nb_kv){tail_header, *log64};
    }
    if (c->cold) {
        h[n++] = (struct nb_kv){"X-Nubis-Cold-Start", "1"};
        h[n++] = (struct nb_kv){"X-Nubis-Init-Duration", init_ms(&c->inv, init, 24)};
    }
    return n;
}

static void answer_trigger(struct gw_call *c)
{
    struct nb_invocation *inv = &c->inv;
    char dur[24];
    dur_ms(inv, dur);
    if (inv->status == NB_INV_OK) {
        size_t n = 0, k = 0, pos = 0;
        for (size_t i = 0; i < inv->result_head.len; i++)
            n += inv->result_head.data[i] == '\0';
        struct nb_kv *h = nb_xcalloc(n / 2 + 8, sizeof(*h));
        k += nb_gw_cors_headers(&c->cors, h);
        const char *name, *value;
        while (nb_invocation_header(inv, &pos, &name, &value))
            if (!hidden_response_header(name) && !strpbrk(name, "\r\n:") && !strpbrk(value, "\r\n"))
                h[k++] = (struct nb_kv){name, value};
        h[k++] = (struct nb_kv){"X-Fc-Invocation-Duration", dur};
        char init[24];
        if (c->cold) {
            h[k++] = (struct nb_kv){"X-Nubis-Cold-Start", "1"};
            h[k++] = (struct nb_kv){"X-Nubis-Init-Duration", init_ms(inv, init, sizeof(init))};
        }
        int status = inv->http_status >= 100 && inv->http_status <= 999 ? inv->http_status : 200;
        nb_gw_respond(c->req, status, inv->request_id, h, k, NULL, inv->result.data ?: "",
                      inv->result.len);
        free(h);
        return;
    }
    int status = inv->status == NB_INV_TIMEOUT ? 504 : inv->status == NB_INV_CANCELLED ? 503 : 502;
    struct nb_buf body;
    nb_buf_init(&body, 1u << 26);
    failure_body(inv, &body);
    struct nb_kv h[6] = {{"X-Fc-Error-Type", error_type(inv->status)},
                         {"X-Fc-Invocation-Duration", dur}};
    size_t nh = 2 + nb_gw_cors_headers(&c->cors, h + 2);
    nb_gw_respond(c->req, status, inv->request_id, h, nh, "application/json", body.data ?: "",
                  body.len);
    nb_buf_release(&body);
}

static void answer_invoke(struct gw_call *c)
{
    struct nb_invocation *inv = &c->inv;
    char dur[24];
    dur_ms(inv, dur);
    struct nb_kv h[8];
    size_t n = 0;
    h[n++] = (struct nb_kv){"X-Fc-Invocation-Duration", dur};
    h[n++] = (struct nb_kv){"X-Fc-Invocation-Service-Version", c->acct.version};
    char mem[16];
    snprintf(mem, sizeof(mem), "%d", nb_invocation_memory_mb(inv));
    h[n++] = (struct nb_kv){"X-Fc-Max-Memory-Usage", mem};
    char *log64 = NULL, init[24];
    n = tail_and_cold(c, "X-Fc-Log-Result", h, n, &log64, init);
    if (inv->status == NB_INV_OK) {
        nb_gw_respond(c->req, 200, inv->request_id, h, n, "application/octet-stream",
                      inv->result.data ?: "", inv->result.len);
    } else if (inv->status == NB_INV_CANCELLED) {
        free(log64);
        nb_gw_error(c->req, 503, inv->request_id, "ServiceUnavailable", "%s", inv->error);
        return;
    } else {
        struct nb_buf body;
        nb_buf_init(&body, 1u << 26);
        failure_body(inv, &body);
        h[n++] = (struct nb_kv){"X-Fc-Error-Type", error_type(inv->status)};
        nb_gw_respond(c->req, 200, inv->request_id, h, n, "application/json", body.data ?: "",
                      body.len);
        nb_buf_release(&body);
    }
    free(log64);
}

/*
 * A Lambda function error's body: the function's own error object as its
 * runtime shaped it (Lambda's Node runtime: "trace", Python: "stackTrace"),
 * or the platform's {"errorType","errorMessage"}.
 */
static void lambda_error_body(struct nb_invocation *inv, struct nb_buf *out)
{
    struct nb_buf fc;
    nb_buf_init(&fc, 1u << 26);
    failure_body(inv, &fc);
    json_t *e = json_loadb(fc.data ?: "", fc.len, 0, NULL);
    if (!json_is_object(e)) {
        json_decref(e);
        e = json_object();
        json_t *m = json_stringn(fc.data ?: "", fc.len);
        json_object_set_new(e, "errorMessage", m ? m : json_string("(an error that is not UTF-8)"));
    }
    nb_buf_release(&fc);
    if (!json_object_get(e, "errorType"))
        json_object_set_new(e, "errorType",
                            json_string(inv->status == NB_INV_TIMEOUT       ? "Sandbox.Timedout"
                                        : inv->status == NB_INV_CRASHED     ? "Runtime.ExitError"
                                        : inv->status == NB_INV_INIT_FAILED ? "Runtime.InitError"
                                                                            : "Error"));
    char *s = json_dumps(e, JSON_COMPACT);
    nb_buf_appends(out, s ? s : "{}");
    free(s);
    json_decref(e);
}

/* Lambda's answer (reference/compat-apis.md B.1): function errors are 200s too. */
static void answer_lambda(struct gw_call *c)
{
    struct nb_invocation *inv = &c->inv;
    if (inv->status == NB_INV_CANCELLED) {
        nb_gw_error(c->req, 503, inv->request_id, "ServiceUnavailable", "%s", inv->error);
        return;
    }
    struct nb_kv h[8];
    size_t n = 0;
    h[n++] = (struct nb_kv){"X-Amz-Executed-Version",
                            strcmp(c->acct.version, "LATEST") ? c->acct.version : "$LATEST"};
    h[n++] = (struct nb_kv){"x-amzn-RequestId", inv->request_id};
    char *log64 = NULL, init[24];
    n = tail_and_cold(c, "X-Amz-Log-Result", h, n, &log64, init);
    if (inv->status == NB_INV_OK) {
        nb_gw_respond(c->req, 200, inv->request_id, h, n, "application/json",
                      inv->result.data ?: "", inv->result.len);
    } else {
        struct nb_buf body;
        nb_buf_init(&body, 1u << 26);
        lambda_error_body(inv, &body);
        h[n++] = (struct nb_kv){"X-Amz-Function-Error", "Unhandled"};
        nb_gw_respond(c->req, 200, inv->request_id, h, n, "application/json", body.data ?: "",
                      body.len);
        nb_buf_release(&body);
    }
    free(log64);
}

/* The answer in the shape of the API that was called: trigger, Lambda's, FC's invoke. */
static void answer(struct gw_call *c)
{
    if (c->is_trigger)
        answer_trigger(c);
    else if (nb_gw_lambda_path(c->req))
        answer_lambda(c);
    else
        answer_invoke(c);
}

static void call_done(struct nb_invocation *inv, void *arg)
{
    struct gw_call *c = arg;
    struct nb_gateway *gw = c->gw;
    if (inv->end_ns == 0)
        inv->end_ns = nb_now_ns();
    if (inv->status == NB_INV_THROTTLED) { /* waited too long in the queue: like a full queue */
        nb_gw_count_throttle(gw, c->acct.service, c->acct.function);
        nb_gw_error(c->req, 429, inv->request_id, "ResourceExhausted",
                    "function '%s/%s' has too many requests waiting; try again later (%s)",
                    c->acct.service, c->acct.function, inv->error);
        call_free(c);
        return;
    }
    if (inv->status != NB_INV_OK && inv->status != NB_INV_HANDLED)
        nb_info("gateway", "%s: %s (%s)", inv->request_id, status_names[inv->status], inv->error);
    if (c->tail.max) { /* the REPORT line goes into the log tail header: account first */
        nb_gw_account(gw, &c->acct, inv, &c->tail);
        answer(c);
    } else { /* answer first: the accounting's log write is off the caller's path */
        answer(c);
        nb_gw_account(gw, &c->acct, inv, NULL);
    }
    call_free(c);
}

/* The function qualifier q designates (version.c); answers 404 and returns NULL if none. */
static struct nb_fn *resolve(struct nb_gateway *gw, struct nb_http_request *req,
                             const struct nb_route *route, const char *q, const char *rid)
{
    struct nb_gw_miss miss;
    struct nb_fn *fn = nb_gw_resolve(gw, route->service, route->function, q, &miss);
    if (fn == NULL)
        nb_gw_error(req, miss.status, rid, miss.code, "%s", miss.message);
    return fn;
}

static void submit(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                   struct gw_call *c, const char *rid)
{
    c->gw = gw;
    c->req = req;
    c->timeout_s = fn->timeout_s;
    nb_copy_cut(c->inv.request_id, sizeof(c->inv.request_id), rid);
    c->inv.timeout_ms = fn->timeout_s * 1000;
    c->inv.body = req->body;
    c->inv.body_len = req->body_len;
    c->inv.meta_len = c->meta_len ? c->meta_len : strlen(c->meta);
    c->inv.meta = c->meta;
    c->inv.start_ns = nb_now_ns();
    nb_buf_init(&c->inv.result, 1u << 26);
    c->inv.done = call_done;
    c->inv.done_arg = c;
    nb_copy_cut(c->acct.service, sizeof(c->acct.service), fn->service);
    nb_copy_cut(c->acct.function, sizeof(c->acct.function), fn->name);
    nb_copy_cut(c->acct.version, sizeof(c->acct.version), fn->version ? fn->version : "LATEST");
    c->acct.memory_mb = fn->memory_mb;
    int r = nb_pool_submit(fn_pool(gw, fn), &c->inv, &c->cold);
    c->acct.cold = c->cold;
    if (r < 0) {
        nb_gw_count_throttle(gw, fn->service, fn->name);
        nb_gw_error(req, 429, rid, "ResourceExhausted",
                    "function '%s' has too many requests waiting; try again later", fn->key);
        call_free(c);
    }
}

/* 1 if the request asks for an async invocation; answers 400 (and returns -1) for unknown types. */
static int is_async(struct nb_http_request *req, const char *rid)
{
    const char *t = nb_http_header(req, "x-fc-invocation-type");
    if (t == NULL || strcasecmp(t, "Sync") == 0)
        return 0;
    if (strcasecmp(t, "Async") == 0)
        return 1;
    nb_gw_error(req, 400, rid, "InvalidArgument",
                "X-Fc-Invocation-Type '%s' is not supported: use Sync or Async", t);
    return -1;
}

void nb_gw_trigger(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                   const char *rid)
{
    struct nb_fn *fn = resolve(gw, req, route, route->qualifier, rid);
    if (fn == NULL)
        return;
    /*
     * The URL's qualifier picks the version; the HTTP trigger (methods,
     * auth) is LATEST's trigger with that qualifier, else its LATEST one,
     * else any (a function deleted from LATEST: the version's own).
     */
    struct nb_fn *tf = nb_gw_find(gw, route->service, route->function) ?: fn;
    const char *want = route->qualifier && *route->qualifier && strcmp(route->qualifier, "$LATEST")
                           ? route->qualifier
                           : "LATEST";
    struct nb_http_trigger *t = NULL;
    for (size_t i = 0; i < tf->nhttp && t == NULL; i++)
        if (strcmp(tf->http[i].qualifier, want) == 0)
            t = &tf->http[i];
    for (size_t i = 0; i < tf->nhttp && t == NULL; i++)
        if (strcmp(tf->http[i].qualifier, "LATEST") == 0)
            t = &tf->http[i];
    if (t == NULL && tf->nhttp > 0)
        t = &tf->http[0];
    if (t == NULL) {
        nb_gw_error(req, 404, rid, "TriggerNotFound", "function '%s' has no HTTP trigger", fn->key);
        return;
    }
    if (nb_gw_policy_function(gw, req, tf, t, rid) < 0 || nb_gw_cors_preflight(gw, req, t, rid))
        return;
    unsigned bit = nb_gw_method_bit(req->method);
    if ((t->methods & bit) == 0) {
        nb_gw_error(req, 405, rid, "MethodNotAllowed",
                    "method %s is not allowed by HTTP trigger '%s'", req->method, t->name);
        return;
    }
    if (!t->anonymous && nb_gw_authorize(gw, req, rid, NB_ACT_INVOKE, fn->service) < 0)
        return;
    if (nb_gw_policy_rate(gw, req, tf, rid) < 0)
        return;
    int async = is_async(req, rid);
    if (async < 0)
        return;
    if (async) {
        nb_gw_async_enqueue(gw, req, route, fn, rid);
        return;
    }
    struct gw_call *c = nb_xcalloc(1, sizeof(*c));
    nb_gw_cors_prepare(req, t, &c->cors);
    c->is_trigger = 1;
    c->inv.kind = NB_INV_HTTP;
    if (fn->fields_meta &&
        (c->meta = trigger_meta_fields(req, route, rid, fn->timeout_s, &c->meta_len)) != NULL)
        c->inv.meta_flags = NB_FRAME_F_FIELDS;
    else
        c->meta = trigger_meta(req, route, rid, fn->timeout_s);
    submit(gw, req, fn, c, rid);
}

const char *nb_gw_query_param(const char *q, const char *name, char *out, size_t len)
{
    size_t pos = 0;
    char *k, *v;
    const char *found = NULL;
    int r;
    while (!found && (r = nb_query_next(q, &pos, 1, &k, &v)) != 0) {
        if (r < 0)
            continue; /* a malformed pair hides only itself */
        if (strcmp(k, name) == 0) {
            snprintf(out, len, "%s", v); /* cut: a name too long to exist, answered 404 */
            found = out;
        }
        free(k);
        free(v);
    }
    return found;
}

void nb_gw_invoke(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                  const char *rid)
{
    char qbuf[130];
    const char *q = route->qualifier
                        ? route->qualifier
                        : nb_gw_query_param(req->query, "qualifier", qbuf, sizeof(qbuf));
    struct nb_fn *fn = resolve(gw, req, route, q, rid);
    if (fn == NULL)
        return;
    if (nb_gw_policy_function(gw, req, fn, NULL, rid) < 0 ||
        nb_gw_policy_rate(gw, req, fn, rid) < 0)
        return;
    int async = is_async(req, rid);
    if (async < 0)
        return;
    if (async) {
        nb_gw_async_enqueue(gw, req, NULL, fn, rid);
        return;
    }
    const char *lt = nb_http_header(req, "x-fc-log-type");
    nb_gw_invoke_event(gw, req, fn, rid, lt && strcasecmp(lt, "Tail") == 0, NULL);
}

void nb_gw_invoke_event(struct nb_gateway *gw, struct nb_http_request *req, struct nb_fn *fn,
                        const char *rid, int tail, const char *client_context)
{
    struct gw_call *c = nb_xcalloc(1, sizeof(*c));
    c->inv.kind = NB_INV_EVENT;
    c->meta = event_meta(rid, fn->timeout_s, client_context);
    if (tail) {
        nb_buf_init(&c->tail, LOG_TAIL_BYTES);
        c->inv.log_tail = &c->tail;
    }
    submit(gw, req, fn, c, rid);
}
