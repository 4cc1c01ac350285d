/*
 * async.c: async invocations in the gateway (docs/internals/queue.md).
 *
 *   - enqueue: X-Fc-Invocation-Type: Async on the invoke API or on an HTTP
 *     trigger: the event (for a trigger, the request to replay: method,
 *     path, headers, query, body) goes to the durable queue, and the 202
 *     with the invocation id in X-Fc-Request-Id is sent once its batch is
 *     committed;
 *   - the executor (the queue's run hook): runs a job through the
 *     function's pool, like a sync call, and reports the outcome: success,
 *     a retry with exponential backoff and jitter, or failure / expiry per
 *     the function's asyncConfig; final outcomes carry their destinations
 *     (another function, queued in the same transaction, or a webhook job)
 *     and the request's X-Callback-Url;
 *   - webhooks: POSTed with libcurl on a worker thread, retried likewise;
 *   - GET /api/v1/invocations/<id> and GET /api/v1/invocations?service&function.
 * Timer triggers (timer/) enqueue through the same queue.
 */
#include "gateway/internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "queue/queue.h"
#include "sched/sched.h"
#include "timer/timer.h"

#define RESULT_MAX (32u << 10) /* stored result / error bytes */
#define BACKOFF_BASE_MS 1000   /* first retry after ~1 s, then 2 s, 4 s, ... */
#define BACKOFF_MAX_MS 300000  /* at most 5 min between attempts */
#define THROTTLE_DELAY_MS 500  /* the pool's queue is full: try again soon */
#define WEBHOOK_RETRIES 3
#define WEBHOOK_TIMEOUT_S 10
#define CALLBACK_URL_MAX 2048

struct nb_gw_async {
    struct nb_gateway *gw;
    struct nb_queue *q;
    struct nb_timers *timers;
    int stopping;
};

/* A function's asyncConfig, with defaults. */
struct async_cfg {
    int max_retries;
    int64_t max_age_ms;
    unsigned concurrency;
    const char *on_success; /* borrowed from the snapshot */
    const char *on_failure;
};

static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "expired"};

static void async_cfg(const struct nb_fn *fn, struct async_cfg *out)
{
    json_t *ac =
        json_object_get(json_object_get(fn ? fn->snapshot : NULL, "function"), "asyncConfig");
    json_t *v;
    out->max_retries = (v = json_object_get(ac, "maxAsyncRetryAttempts")) && json_is_integer(v)
                           ? (int)json_integer_value(v)
                           : NB_ASYNC_DEFAULT_RETRIES;
    out->max_age_ms = ((v = json_object_get(ac, "maxAsyncEventAgeInSeconds")) && json_is_integer(v)
                           ? (int64_t)json_integer_value(v)
                           : NB_ASYNC_DEFAULT_MAX_AGE_S) *
                      1000;
    out->concurrency = (v = json_object_get(ac, "maxAsyncConcurrency")) && json_is_integer(v)
                           ? (unsigned)json_integer_value(v)
                           : NB_QUEUE_DEFAULT_LIMIT;
    json_t *dc = json_object_get(ac, "destinationConfig");
    out->on_success =
        json_string_value(json_object_get(json_object_get(dc, "onSuccess"), "destination"));
    out->on_failure =
        json_string_value(json_object_get(json_object_get(dc, "onFailure"), "destination"));
}

/* Full jitter over an exponential step: uniform in [step/2, step]. */
static int64_t backoff_ms(int attempts)
{
    int64_t step = BACKOFF_BASE_MS;
    for (int i = 1; i < attempts && step < BACKOFF_MAX_MS; i++)
        step *= 2;
    if (step > BACKOFF_MAX_MS)
        step = BACKOFF_MAX_MS;
    uint32_t r;
    nb_random_bytes(&r, sizeof(r));
    return step / 2 + (int64_t)(r % (uint32_t)(step / 2 + 1));
}

/* 1 if s[0..len) is valid UTF-8 that JSON can carry as a string. */
static json_t *bytes_json(const void *data, size_t len)
{
    return json_stringn(data ? data : "", len); /* NULL when not UTF-8 */
}

/* Sets key (UTF-8) or key+"Base64" on obj. */
static void set_bytes(json_t *obj, const char *key, const void *data, size_t len)
{
    json_t *s = bytes_json(data, len);
    if (s) {
        json_object_set_new(obj, key, s);
        return;
    }
    char *b64 = nb_base64_encode(data, len);
    char *k = nb_xasprintf("%sBase64", key);
    json_object_set_new(obj, k, json_string(b64));
    free(k);
    free(b64);
}

/* ---- enqueue ---- */

struct enq {
    struct nb_gateway *gw;
    struct nb_http_request *req;
    char rid[40];
};

static void on_enqueued(int status, const char *id, void *arg)
{
    struct enq *e = arg;
    (void)id;
    struct nb_kv h[1] = {{"x-amzn-RequestId", e->rid}}; /* Lambda's Event: the id */
    if (status == 0)
        nb_gw_respond(e->req, 202, e->rid, h, nb_gw_lambda_path(e->req) ? 1 : 0, NULL, "", 0);
    else
        nb_gw_error(e->req, 500, e->rid, "InternalServerError",
                    "the invocation could not be queued: %s", nb_errno_name(-status));
    free(e);
}

static int valid_callback_url(const char *u)
{
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        return 0;
    if (strlen(u) > CALLBACK_URL_MAX)
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

void nb_gw_async_enqueue(struct nb_gateway *gw, struct nb_http_request *req,
                         const struct nb_route *route, struct nb_fn *fn, const char *rid)
{
    struct nb_gw_async *a = gw->async;
    if (a == NULL || a->stopping) {
        nb_gw_error(req, 503, rid, "ServiceUnavailable",
                    "async invocations are not accepted now (the platform is stopping)");
        return;
    }
    if (req->body_len > NB_ASYNC_MAX_PAYLOAD) {
        nb_gw_error(req, 413, rid, "EntityTooLarge",
                    "an async invocation's payload must be at most %u bytes, got %zu",
                    NB_ASYNC_MAX_PAYLOAD, req->body_len);
        return;
    }
    json_t *meta = json_pack("{s:s}", "source", route ? "http" : "invoke");
    const char *cb = nb_http_header(req, "x-callback-url");
    if (cb) {
        if (!valid_callback_url(cb)) {
            json_decref(meta);
            nb_gw_error(req, 400, rid, "InvalidArgument",
                        "X-Callback-Url must be an http:// or https:// URL of at most %d bytes",
                        CALLBACK_URL_MAX);
            return;
        }
        json_object_set_new(meta, "callbackUrl", json_string(cb));
    }
    if (route)
        json_object_set_new(meta, "http", nb_gw_trigger_http(req, route));
    char *meta_s = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    struct enq *e = nb_xcalloc(1, sizeof(*e));
    e->gw = gw;
    e->req = req;
    snprintf(e->rid, sizeof(e->rid), "%s", rid);
    struct nb_queue_item it = {
        .id = rid,
        .service = fn->service,
        .function = fn->name,
        .qualifier = fn->version ? fn->version : "LATEST",
        .kind = route ? NB_QUEUE_HTTP : NB_QUEUE_EVENT,
        .meta = meta_s,
        .payload = req->body,
        .payload_len = req->body_len,
    };
    nb_queue_enqueue(a->q, &it, on_enqueued, e, NULL);
    free(meta_s);
}

/* ---- final outcomes: destinations and callbacks ---- */

/* "S/F", "acs:fc:<region>:<account>:services/S[.Q]/functions/F" -> service, function, qualifier. */
static int parse_fn_destination(const char *d, char *svc, char *fn, char *qual, size_t n)
{
    const char *s = strstr(d, "services/");
    if (strncmp(d, "acs:fc:", 7) == 0 && s) {
        s += strlen("services/");
        const char *slash = strstr(s, "/functions/");
        if (!slash)
            return -1;
        const char *f = slash + strlen("/functions/");
        size_t sl = (size_t)(slash - s);
        const char *dot = memchr(s, '.', sl);
        snprintf(svc, n, "%.*s", (int)(dot ? (size_t)(dot - s) : sl), s);
        snprintf(qual, n, "%.*s", dot ? (int)(slash - dot - 1) : 0, dot ? dot + 1 : "");
        snprintf(fn, n, "%s", f);
    } else {
        const char *slash = strchr(d, '/');
        if (!slash || strchr(slash + 1, '/'))
            return -1;
        snprintf(svc, n, "%.*s", (int)(slash - d), d);
        snprintf(fn, n, "%s", slash + 1);
        qual[0] = '\0';
    }
    return svc[0] && fn[0] && !strchr(fn, '/') ? 0 : -1;
}

struct followups {
    struct nb_queue_item v[3];
    char *owned[8];
    size_t n, nowned;
};

static char *keep(struct followups *f, char *s)
{
    f->owned[f->nowned++] = s;
    return s;
}

static void add_destination(struct followups *f, const struct nb_queue_job *job, const char *dest,
                            const char *body)
{
    struct nb_queue_item *it = &f->v[f->n];
    memset(it, 0, sizeof(*it));
    it->payload = body;
    it->payload_len = strlen(body);
    if (strncasecmp(dest, "http://", 7) == 0 || strncasecmp(dest, "https://", 8) == 0) {
        json_t *m = json_pack("{s:s, s:s, s:{s:s}}", "url", dest, "contentType", "application/json",
                              "headers", "X-Fc-Request-Id", job->id);
        it->meta = keep(f, json_dumps(m, JSON_COMPACT));
        json_decref(m);
        it->kind = NB_QUEUE_WEBHOOK;
        it->service = job->service;
        it->function = job->function;
        f->n++;
        return;
    }
    char svc[160], fn[160], qual[160];
    if (parse_fn_destination(dest, svc, fn, qual, sizeof(svc)) < 0) {
        nb_warn("async", "%s: destination '%s' is neither a function nor an http(s) URL", job->id,
                dest);
        return;
    }
    it->kind = NB_QUEUE_EVENT;
    it->service = keep(f, nb_xstrdup(svc));
    it->function = keep(f, nb_xstrdup(fn));
    it->qualifier = qual[0] ? keep(f, nb_xstrdup(qual)) : "LATEST";
    it->meta = keep(f, nb_xasprintf("{\"source\":\"destination\",\"from\":\"%s\"}", job->id));
    f->n++;
}

/*
 * The final outcome of job: record it, and queue its destination and its
 * callback in the same transaction.
 */
static void finish(struct nb_gw_async *a, struct nb_queue_job *job, int state, const void *result,
                   size_t result_len, const char *error, int http_status)
{
    struct nb_fn *fn = nb_gw_find(a->gw, job->service, job->function);
    struct async_cfg cfg;
    async_cfg(fn, &cfg);
    struct followups f = {0};
    if (result_len > RESULT_MAX)
        result_len = RESULT_MAX;
    const char *dest = job->kind == NB_QUEUE_WEBHOOK  ? NULL
                       : state == NB_QSTATE_SUCCEEDED ? cfg.on_success
                                                      : cfg.on_failure;
    char *dest_body = NULL, *cb_meta = NULL;
    if (dest && *dest) {
        char when[32];
        nb_format_time(nb_wall_ms(), when);
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "requestId", job->id, "service",
                               job->service, "function", job->function, "state", state_names[state],
                               "attempts", job->attempts, "timestamp", when);
        if (state == NB_QSTATE_SUCCEEDED)
            set_bytes(ev, "result", result, result_len);
        else
            json_object_set_new(ev, "error", json_string(error ? error : "unknown error"));
        set_bytes(ev, "event", job->payload, job->payload_len);
        dest_body = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (dest_body)
            add_destination(&f, job, dest, dest_body);
    }
    json_t *meta = job->meta ? json_loads(job->meta, 0, NULL) : NULL;
    const char *cb = json_string_value(json_object_get(meta, "callbackUrl"));
    if (cb && job->kind != NB_QUEUE_WEBHOOK) {
        /* OpenFaaS style: the function's result (or error) is POSTed as it is */
        char status[16];
        snprintf(status, sizeof(status), "%d",
                 state == NB_QSTATE_SUCCEEDED ? (http_status ? http_status : 200) : 500);
        char *fname = nb_xasprintf("%s/%s", job->service, job->function);
        json_t *m = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "url", cb, "contentType",
                              "application/octet-stream", "headers", "X-Call-Id", job->id,
                              "X-Function-Status", status, "X-Function-Name", fname);
        free(fname);
        cb_meta = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        struct nb_queue_item *it = &f.v[f.n++];
        memset(it, 0, sizeof(*it));
        it->kind = NB_QUEUE_WEBHOOK;
        it->service = job->service;
        it->function = job->function;
        it->meta = cb_meta;
        if (state == NB_QSTATE_SUCCEEDED) {
            it->payload = result;
            it->payload_len = result_len;
        } else {
            it->payload = error ? error : "";
            it->payload_len = strlen(it->payload);
        }
    }
    json_decref(meta);
    struct nb_queue_outcome o = {
        .state = state,
        .result = result,
        .result_len = result_len,
        .error = error,
        .http_status = http_status,
        .followups = f.v,
        .nfollowups = f.n,
    };
    nb_queue_done(a->q, job, &o);
    free(dest_body);
    free(cb_meta);
    for (size_t i = 0; i < f.nowned; i++)
        free(f.owned[i]);
}

static void requeue(struct nb_gw_async *a, struct nb_queue_job *job, int64_t at_ms, int refund,
                    const char *error)
{
    struct nb_queue_outcome o = {
        .state = NB_QSTATE_QUEUED, .retry_at_ms = at_ms, .refund = refund, .error = error};
    nb_queue_done(a->q, job, &o);
}

/* A failed attempt: retry after a backoff while attempts and age allow, else fail. */
static void failed_attempt(struct nb_gw_async *a, struct nb_queue_job *job, int max_retries,
                           int64_t max_age_ms, const char *error, int http_status)
{
    int64_t at = nb_wall_ms() + backoff_ms(job->attempts);
    if (job->attempts <= max_retries && at - job->created_ms < max_age_ms) {
        nb_info("async", "%s: attempt %d failed (%s); retrying in %lld ms", job->id, job->attempts,
                error, (long long)(at - nb_wall_ms()));
        requeue(a, job, at, 0, error);
        return;
    }
    finish(a, job, NB_QSTATE_FAILED, NULL, 0, error, http_status);
}

/* ---- running a function ---- */

struct run {
    struct nb_invocation inv;
    struct nb_gw_async *a;
    struct nb_queue_job *job;
    char *meta;
    struct nb_gw_acct acct; /* for nb_gw_account: usage, metrics, REPORT line */
};

static void run_free(struct run *r)
{
    free(r->meta);
    json_decref(r->inv.result_meta);
    nb_buf_release(&r->inv.result);
    nb_buf_release(&r->inv.result_head);
    free(r);
}

static char *error_text(struct nb_invocation *inv)
{
    if ((inv->status == NB_INV_HANDLED || inv->status == NB_INV_UNHANDLED) && inv->result.len > 0)
        return nb_xstrndup(inv->result.data,
                           inv->result.len > RESULT_MAX ? RESULT_MAX : inv->result.len);
    json_t *b = json_pack("{s:s}", "errorMessage", inv->error[0] ? inv->error : "unknown error");
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s ? s : nb_xstrdup("{}");
}

static void run_done(struct nb_invocation *inv, void *arg)
{
    struct run *r = arg;
    struct nb_gw_async *a = r->a;
    struct nb_gateway *gw = a->gw;
    struct nb_queue_job *job = r->job;
    if (inv->end_ns == 0)
        inv->end_ns = nb_now_ns();
    if (inv->status == NB_INV_THROTTLED) { /* the pool's queue timeout: not the function's fault */
        nb_gw_count_throttle(gw, job->service, job->function);
        requeue(a, job, nb_wall_ms() + THROTTLE_DELAY_MS, 1, "throttled");
        run_free(r);
        return;
    }
    nb_gw_account(gw, &r->acct, inv, NULL);
    /* read again now: the function may have changed while it ran */
    struct nb_gw_miss miss;
    struct async_cfg cfg;
    async_cfg(nb_gw_resolve(gw, job->service, job->function, job->qualifier, &miss), &cfg);
    if (inv->status == NB_INV_OK) {
        finish(a, job, NB_QSTATE_SUCCEEDED, inv->result.data ?: "", inv->result.len, NULL,
               inv->http_status);
    } else if (inv->status == NB_INV_CANCELLED ||
               (a->stopping && (inv->status == NB_INV_CRASHED || inv->status == NB_INV_TIMEOUT ||
                                inv->status == NB_INV_INIT_FAILED))) {
        /* stopped by the platform, not by the function: run it again later, uncounted */
        requeue(a, job, nb_wall_ms(), 1, inv->error);
    } else {
        char *err = error_text(inv);
        failed_attempt(a, job, cfg.max_retries, cfg.max_age_ms, err, inv->http_status);
        free(err);
    }
    run_free(r);
}

static char *job_meta(struct nb_queue_job *job, int timeout_s)
{
    int64_t deadline = nb_wall_ms() + timeout_s * 1000LL;
    if (job->kind != NB_QUEUE_HTTP)
        return nb_xasprintf("{\"requestId\":\"%s\",\"kind\":\"event\",\"deadline\":%lld}", job->id,
                            (long long)deadline);
    json_t *stored = job->meta ? json_loads(job->meta, 0, NULL) : NULL;
    json_t *http = json_object_get(stored, "http");
    json_t *m = json_pack("{s:s, s:s, s:I, s:O}", "requestId", job->id, "kind", "http", "deadline",
                          (json_int_t)deadline, "http", http ? http : json_object());
    json_decref(stored);
    char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return s;
}

static void run_webhook(struct nb_gw_async *a, struct nb_queue_job *job);

static void run_job(struct nb_queue_job *job, void *udata)
{
    struct nb_gw_async *a = udata;
    if (job->kind == NB_QUEUE_WEBHOOK) {
        run_webhook(a, job);
        return;
    }
    struct nb_gw_miss miss;
    struct nb_fn *fn = nb_gw_resolve(a->gw, job->service, job->function, job->qualifier, &miss);
    if (fn == NULL) {
        json_t *m = json_pack("{s:s}", "errorMessage", miss.message);
        char *e = json_dumps(m, JSON_COMPACT);
        finish(a, job, NB_QSTATE_FAILED, NULL, 0, e, 0);
        free(e);
        json_decref(m);
        return;
    }
    struct async_cfg cfg;
    async_cfg(fn, &cfg);
    if (nb_wall_ms() - job->created_ms > cfg.max_age_ms) {
        char *e = nb_xasprintf("{\"errorMessage\":\"the event expired: it is older than "
                               "maxAsyncEventAgeInSeconds (%lld s)\"}",
                               (long long)(cfg.max_age_ms / 1000));
        finish(a, job, NB_QSTATE_EXPIRED, NULL, 0, e, 0);
        free(e);
        return;
    }
    struct run *r = nb_xcalloc(1, sizeof(*r));
    r->a = a;
    r->job = job;
    snprintf(r->acct.service, sizeof(r->acct.service), "%s", fn->service);
    snprintf(r->acct.function, sizeof(r->acct.function), "%s", fn->name);
    snprintf(r->acct.version, sizeof(r->acct.version), "%s", fn->version ? fn->version : "LATEST");
    r->acct.memory_mb = fn->memory_mb;
    r->meta = job_meta(job, fn->timeout_s);
    if (r->meta == NULL)
        r->meta = nb_xstrdup("{}");
    r->inv.kind = job->kind == NB_QUEUE_HTTP ? NB_INV_HTTP : NB_INV_EVENT;
    snprintf(r->inv.request_id, sizeof(r->inv.request_id), "%s", job->id);
    r->inv.timeout_ms = fn->timeout_s * 1000;
    r->inv.body = job->payload ? job->payload : "";
    r->inv.body_len = job->payload_len;
    r->inv.meta = r->meta;
    r->inv.meta_len = strlen(r->meta);
    r->inv.start_ns = nb_now_ns();
    nb_buf_init(&r->inv.result, 1u << 26);
    r->inv.done = run_done;
    r->inv.done_arg = r;
    int rc = nb_pool_submit(nb_gw_fn_pool(a->gw, fn), &r->inv, &r->acct.cold);
    if (rc < 0) {
        /* the pool is full or being replaced: not the function's fault */
        nb_gw_count_throttle(a->gw, fn->service, fn->name);
        requeue(a, job, nb_wall_ms() + THROTTLE_DELAY_MS, 1, "throttled");
        run_free(r);
    }
}

/* ---- webhooks ---- */

struct hook {
    uv_work_t work;
    struct nb_gw_async *a;
    struct nb_queue_job *job;
    json_t *meta;
    long status;
    int rc;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void hook_work(uv_work_t *w)
{
    struct hook *h = w->data;
    const char *url = json_string_value(json_object_get(h->meta, "url"));
    CURL *c = curl_easy_init();
    if (c == NULL || url == NULL) {
        h->rc = -1;
        snprintf(h->errbuf, sizeof(h->errbuf), "%s", url ? "curl_easy_init failed" : "no url");
        if (c)
            curl_easy_cleanup(c);
        return;
    }
    struct curl_slist *hl = NULL;
    char *ct =
        nb_xasprintf("Content-Type: %s", json_string_value(json_object_get(h->meta, "contentType"))
                                             ?: "application/json");
    hl = curl_slist_append(hl, ct);
    free(ct);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(h->meta, "headers"), k, v)
    {
        char *line = nb_xasprintf("%s: %s", k, json_string_value(v) ?: "");
        hl = curl_slist_append(hl, line);
        free(line);
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->job->payload ? h->job->payload : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->job->payload_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nubis-webhook/1");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    } else {
        h->rc = -1;
        if (!h->errbuf[0])
            snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(cc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static void hook_after(uv_work_t *w, int status)
{
    struct hook *h = w->data;
    (void)status;
    char res[64];
    if (h->rc == 0 && h->status >= 200 && h->status < 300) {
        snprintf(res, sizeof(res), "HTTP %ld", h->status);
        finish(h->a, h->job, NB_QSTATE_SUCCEEDED, res, strlen(res), NULL, (int)h->status);
    } else {
        json_t *e = json_pack("{s:s}", "errorMessage",
                              h->rc == 0 ? "the webhook answered with an error status" : h->errbuf);
        if (h->rc == 0)
            json_object_set_new(e, "statusCode", json_integer(h->status));
        char *es = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        failed_attempt(h->a, h->job, WEBHOOK_RETRIES, NB_ASYNC_DEFAULT_MAX_AGE_S * 1000LL,
                       es ? es : "webhook failed", (int)h->status);
        free(es);
    }
    json_decref(h->meta);
    free(h);
}

static void run_webhook(struct nb_gw_async *a, struct nb_queue_job *job)
{
    if (a->stopping) {
        requeue(a, job, nb_wall_ms(), 1, "the platform is stopping");
        return;
    }
    struct hook *h = nb_xcalloc(1, sizeof(*h));
    h->a = a;
    h->job = job;
    h->meta = job->meta ? json_loads(job->meta, 0, NULL) : NULL;
    h->work.data = h;
    uv_queue_work(a->gw->loop, &h->work, hook_work, hook_after);
}

/* ---- GET /api/v1/invocations[/<id>] ---- */

static json_t *row_json(const struct nb_store_qrow *r)
{
    static const char *const kinds[] = {"", "http", "event", "webhook"};
    char t[32];
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:i}", "invocationId", r->id, "requestId",
                  r->id, "service", r->service, "function", r->function, "qualifier", r->qualifier,
                  "kind", r->kind >= 1 && r->kind <= 3 ? kinds[r->kind] : "unknown", "state",
                  r->state >= 0 && r->state <= 4 ? state_names[r->state] : "unknown", "attempts",
                  r->attempts);
    nb_format_time(r->created_ms, t);
    json_object_set_new(o, "createdTime", json_string(t));
    if (r->started_ms) {
        nb_format_time(r->started_ms, t);
        json_object_set_new(o, "startedTime", json_string(t));
    } else {
        json_object_set_new(o, "startedTime", json_null());
    }
    if (r->finished_ms && r->state >= NB_QSTATE_SUCCEEDED) {
        nb_format_time(r->finished_ms, t);
        json_object_set_new(o, "finishedTime", json_string(t));
    } else {
        json_object_set_new(o, "finishedTime", json_null());
    }
    if (r->state == NB_QSTATE_QUEUED && r->next_ms > nb_wall_ms()) {
        nb_format_time(r->next_ms, t);
        json_object_set_new(o, "nextAttemptTime", json_string(t));
    }
    if (r->http_status && r->kind != NB_QUEUE_EVENT)
        json_object_set_new(o, "httpStatus", json_integer(r->http_status));
    if (r->state == NB_QSTATE_SUCCEEDED && r->result)
        set_bytes(o, "result", r->result, r->result_len);
    if (r->error && r->state != NB_QSTATE_SUCCEEDED) {
        json_t *e = json_loads(r->error, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, "error", e ? e : json_string(r->error));
    }
    return o;
}

struct status_req {
    struct nb_http_request *req;
    char rid[40];
};

static void reply_json(struct nb_http_request *req, const char *rid, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    nb_gw_respond(req, 200, rid, NULL, 0, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
    json_decref(o);
}

static void on_got(int status, const struct nb_store_qrow *row, const struct nb_err *err, void *arg)
{
    struct status_req *s = arg;
    if (status == -ENOENT)
        nb_gw_error(s->req, 404, s->rid, "InvocationNotFound", "%s", err->msg);
    else if (status < 0)
        nb_gw_error(s->req, 500, s->rid, "InternalServerError", "%s", err->msg);
    else
        reply_json(s->req, s->rid, row_json(row));
    free(s);
}

static void on_listed(int status, const struct nb_store_qrow *rows, size_t n,
                      const struct nb_err *err, void *arg)
{
    struct status_req *s = arg;
    if (status < 0) {
        nb_gw_error(s->req, 500, s->rid, "InternalServerError", "%s", err->msg);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, row_json(&rows[i]));
        reply_json(s->req, s->rid, json_pack("{s:o}", "invocations", arr));
    }
    free(s);
}

/* Decoded query parameter name (caller frees), or NULL. */
static char *qparam(const char *q, const char *name)
{
    size_t nlen = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=')
            return nb_url_decode(q + nlen + 1, n - nlen - 1, 1);
        q += amp ? n + 1 : n;
    }
    return NULL;
}

void nb_gw_invocations(struct nb_gateway *gw, struct nb_http_request *req,
                       const struct nb_route *route, const char *rid)
{
    if (gw->async == NULL) {
        nb_gw_error(req, 503, rid, "ServiceUnavailable", "the async queue is not open");
        return;
    }
    struct status_req *s = nb_xcalloc(1, sizeof(*s));
    s->req = req;
    snprintf(s->rid, sizeof(s->rid), "%s", rid);
    if (route->rest && route->rest[0]) {
        nb_queue_get(gw->async->q, route->rest, on_got, s);
        return;
    }
    char *svc = qparam(req->query, "service");
    char *fn = qparam(req->query, "function");
    char *lim = qparam(req->query, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 20;
    if (limit <= 0 || limit > 1000)
        limit = limit <= 0 ? 20 : 1000;
    nb_queue_list(gw->async->q, svc && *svc ? svc : NULL, fn && *fn ? fn : NULL, (size_t)limit,
                  on_listed, s);
    free(svc);
    free(fn);
    free(lim);
}

/* ---- lifecycle ---- */

void nb_gw_async_apply(struct nb_gateway *gw, const char *service, const char *function,
                       json_t *snapshot)
{
    struct nb_gw_async *a = gw->async;
    if (a == NULL)
        return;
    nb_timers_apply(a->timers, service, function, snapshot);
    if (function && snapshot) {
        struct nb_fn tmp = {.snapshot = snapshot};
        struct async_cfg cfg;
        async_cfg(&tmp, &cfg);
        char *lane = nb_xasprintf("%s/%s", service, function);
        nb_queue_set_limit(a->q, lane, cfg.concurrency);
        free(lane);
    }
}

/* Invocations queued or waiting for a retry (the /metrics gauge). */
static uint64_t queue_depth(void *arg)
{
    struct nb_gw_async *a = arg;
    struct nb_queue_stats st;
    nb_queue_stats(a->q, &st);
    return (uint64_t)st.ready + st.delayed;
}

int nb_gateway_async_open(struct nb_gateway *gw, struct nb_store *store, struct nb_err *err)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct nb_gw_async *a = nb_xcalloc(1, sizeof(*a));
    a->gw = gw;
    int r = nb_queue_open(gw->loop, store, run_job, a, &a->q, err);
    if (r < 0) {
        free(a);
        return r;
    }
    a->timers = nb_timers_new(gw->loop, a->q);
    gw->async = a;
    nb_gateway_set_queue_depth(gw, queue_depth, a);
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->fns, &i, &k, &v);) {
        struct nb_fn *fn = v;
        nb_gw_async_apply(gw, fn->service, fn->name, fn->snapshot);
    }
    nb_queue_start(a->q);
    return 0;
}

void nb_gateway_async_stop(struct nb_gateway *gw)
{
    struct nb_gw_async *a = gw->async;
    if (a == NULL || a->stopping)
        return;
    a->stopping = 1;
    nb_timers_stop(a->timers);
    nb_queue_stop(a->q);
}

void nb_gw_async_free(struct nb_gateway *gw)
{
    struct nb_gw_async *a = gw->async;
    if (a == NULL)
        return;
    nb_timers_free(a->timers);
    nb_queue_free(a->q);
    free(a);
    gw->async = NULL;
    curl_global_cleanup();
}
