/*
 * mgmt.c: management requests (run one at a time on the uv thread pool,
 * their changes applied to the registry on the loop), function logs (read on
 * the thread pool, followed on the loop) and /metrics.
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"
#include "obs/logstore.h"
#include "sched/sched.h"

/*
 * Caps on what a flood of (authenticated) requests can pile up: management
 * requests waiting for the one worker slot, log queries on the thread pool
 * (each may buffer up to 16 MiB) and followed log streams.  Beyond them: 503
 * ServiceUnavailable with Retry-After (docs/security-gateway.md).
 */
#define MGMT_QUEUE_MAX 256
#define LOGS_READING_MAX 16
#define LOGS_FOLLOWING_MAX 256

static void busy(struct nb_http_request *req, const char *rid, const char *what, unsigned max)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "too many %s in progress (at most %u); retry shortly", what, max);
    struct nb_buf body;
    nb_buf_init(&body, 1 << 12);
    nb_api_error_body(&body, "ServiceUnavailable", msg);
    struct nb_kv h[] = {{"Retry-After", "1"}};
    nb_gw_respond(req, 503, rid, h, 1, "application/json", body.data ?: "", body.len);
    nb_buf_release(&body);
}

struct mgmt_job {
    struct nb_list link;
    uv_work_t work;
    struct nb_gateway *gw;
    struct nb_http_request *req;
    struct nb_api_request areq;
    struct nb_api_response aresp;
    char *path;
    char rid[37];
};

static void mgmt_next(struct nb_gateway *gw);

static void mgmt_work(uv_work_t *w)
{
    struct mgmt_job *j = w->data;
    nb_api_execute(j->gw->api, &j->areq, &j->aresp);
}

static void mgmt_after(uv_work_t *w, int status)
{
    struct mgmt_job *j = w->data;
    struct nb_gateway *gw = j->gw;
    (void)status;
    for (size_t i = 0; i < j->aresp.nchanges; i++) {
        struct nb_api_change *ch = &j->aresp.changes[i];
        nb_gw_apply(gw, ch->service, ch->function, ch->snapshot);
        if (ch->snapshot == NULL && gw->logs) {
            if (ch->function)
                nb_logstore_remove(gw->logs, ch->service, ch->function);
        }
    }
    nb_gw_apply_events(gw, j->aresp.events);         /* access keys (policy.c) */
    nb_gw_domains_apply_events(gw, j->aresp.events); /* custom domains (domain.c) */
    const char *qs;
    json_t *qdoc;
    json_object_foreach(j->aresp.qualifiers, qs, qdoc)
    {
        nb_gw_apply_qualifiers(gw, qs, qdoc); /* versions and aliases (version.c) */
    }
    const char *ct = j->aresp.content_type ? j->aresp.content_type : "application/json";
    int st = j->aresp.status;
    nb_gw_respond(j->req, st, j->rid, j->aresp.headers, j->aresp.nheaders, st == 204 ? NULL : ct,
                  j->aresp.body.data ?: "", st == 204 ? 0 : j->aresp.body.len);
    nb_api_response_release(&j->aresp);
    free(j->path);
    free(j);
    gw->mgmt_running = 0;
    gw->mgmt_count--;
    mgmt_next(gw);
}

static void mgmt_next(struct nb_gateway *gw)
{
    if (gw->mgmt_running || nb_list_empty(&gw->mgmt_queue))
        return;
    struct mgmt_job *j = nb_list_entry(gw->mgmt_queue.next, struct mgmt_job, link);
    nb_list_del(&j->link);
    gw->mgmt_running = 1;
    j->work.data = j;
    uv_queue_work(gw->loop, &j->work, mgmt_work, mgmt_after);
}

void nb_gw_mgmt(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id)
{
    if (strcmp(route->decoded, "/api/v1/stats") == 0) { /* in-memory: served on the loop */
        if (strcmp(req->method, "GET") != 0)
            nb_gw_error(req, 405, request_id, "MethodNotAllowed", "use GET to read stats");
        else
            nb_gw_stats(gw, req, request_id);
        return;
    }
    if (gw->mgmt_count >= MGMT_QUEUE_MAX) {
        busy(req, request_id, "management requests", MGMT_QUEUE_MAX);
        return;
    }
    struct mgmt_job *j = nb_xcalloc(1, sizeof(*j));
    j->gw = gw;
    j->req = req;
    j->path = nb_xstrdup(route->decoded);
    snprintf(j->rid, sizeof(j->rid), "%s", request_id);
    j->areq = (struct nb_api_request){
        .method = req->method,
        .path = j->path,
        .query = req->query,
        .headers = req->headers,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
        .request_id = j->rid,
    };
    nb_list_push(&gw->mgmt_queue, &j->link);
    gw->mgmt_count++;
    mgmt_next(gw);
}

/* ---- logs ---- */

struct logs_job {
    uv_work_t work;
    struct nb_gateway *gw;
    struct nb_http_request *req;
    char *service, *function, *request_id_filter;
    int64_t since;
    size_t limit;
    int follow;
    int following; /* counted in gw->logs_following */
    void *follow_handle;
    struct nb_buf out;
    int rc;
    char rid[37];
};

static const char *qparam(const char *q, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n >= nlen && strncmp(q, name, nlen) == 0 && (n == nlen || q[nlen] == '=')) {
            char *v = n > nlen ? nb_url_decode(q + nlen + 1, n - nlen - 1, 1) : nb_xstrdup("");
            if (v == NULL)
                return NULL;
            snprintf(out, outlen, "%s", v);
            free(v);
            return out;
        }
        q += amp ? n + 1 : n;
    }
    return NULL;
}

static void logs_free(struct logs_job *j)
{
    if (j->following)
        j->gw->logs_following--;
    free(j->service);
    free(j->function);
    free(j->request_id_filter);
    nb_buf_release(&j->out);
    free(j);
}

static void logs_work(uv_work_t *w)
{
    struct logs_job *j = w->data;
    j->rc = nb_logstore_query(j->gw->logs, j->service, j->function, j->since, j->request_id_filter,
                              j->limit, &j->out);
}

static void on_follow_line(const struct nb_log_line *line, void *arg)
{
    struct logs_job *j = arg;
    if (nb_http_pending_bytes(j->req) > (4u << 20))
        return; /* a reader this slow loses lines rather than our memory */
    if (j->request_id_filter && strcmp(j->request_id_filter, line->request_id) != 0)
        return;
    json_t *msg = json_stringn(line->message, line->message_len);
    json_t *o = json_pack("{s:I, s:s, s:s, s:o}", "time", (json_int_t)line->time_ms, "requestId",
                          line->request_id, "stream", line->stream, "message",
                          msg ? msg : json_string("(invalid UTF-8)"));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s) {
        size_t n = strlen(s);
        s[n] = '\n';
        nb_http_write(j->req, s, n + 1);
    }
    free(s);
    json_decref(o);
}

static void on_follow_abort(struct nb_http_request *req, void *arg)
{
    struct logs_job *j = arg;
    nb_logstore_unfollow(j->gw->logs, j->follow_handle);
    nb_http_end(req);
    logs_free(j);
}

static void logs_after(uv_work_t *w, int status)
{
    struct logs_job *j = w->data;
    (void)status;
    j->gw->logs_reading--;
    if (j->rc < 0) {
        nb_gw_error(j->req, 500, j->rid, "InternalServerError", "cannot read logs: %s",
                    nb_errno_name(-j->rc));
        logs_free(j);
        return;
    }
    if (!j->follow) {
        nb_gw_respond(j->req, 200, j->rid, NULL, 0, "application/x-ndjson", j->out.data ?: "",
                      j->out.len);
        logs_free(j);
        return;
    }
    struct nb_kv h[] = {{"Content-Type", "application/x-ndjson"},
                        {"X-Fc-Request-Id", j->rid},
                        {"Cache-Control", "no-cache"}};
    j->following = 1;
    j->gw->logs_following++;
    nb_http_start(j->req, 200, h, NB_ARRAY_SIZE(h));
    if (j->out.len)
        nb_http_write(j->req, j->out.data, j->out.len);
    nb_buf_release(&j->out);
    j->follow_handle = nb_logstore_follow(j->gw->logs, j->service, j->function, on_follow_line, j);
    nb_http_on_abort(j->req, on_follow_abort, j);
}

void nb_gw_logs(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id)
{
    if (nb_gw_find(gw, route->service, route->function) == NULL) {
        nb_gw_error(req, 404, request_id, "FunctionNotFound", "function '%s/%s' does not exist",
                    route->service, route->function);
        return;
    }
    char v[256];
    struct logs_job *j = nb_xcalloc(1, sizeof(*j));
    j->gw = gw;
    j->req = req;
    j->service = nb_xstrdup(route->service);
    j->function = nb_xstrdup(route->function);
    snprintf(j->rid, sizeof(j->rid), "%s", request_id);
    if (qparam(req->query, "since", v, sizeof(v)))
        j->since = strtoll(v, NULL, 10);
    j->limit = 1000;
    if (qparam(req->query, "limit", v, sizeof(v)) && atol(v) > 0)
        j->limit = (size_t)atol(v);
    if (j->limit > 100000)
        j->limit = 100000;
    if (qparam(req->query, "requestId", v, sizeof(v)) && v[0])
        j->request_id_filter = nb_xstrdup(v);
    if (qparam(req->query, "follow", v, sizeof(v)))
        j->follow = strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
    if (gw->logs_reading >= LOGS_READING_MAX ||
        (j->follow && gw->logs_following >= LOGS_FOLLOWING_MAX)) {
        int reading = gw->logs_reading >= LOGS_READING_MAX;
        busy(req, request_id, reading ? "log queries" : "followed log streams",
             reading ? LOGS_READING_MAX : LOGS_FOLLOWING_MAX);
        logs_free(j);
        return;
    }
    gw->logs_reading++;
    nb_buf_init(&j->out, 16u << 20);
    j->work.data = j;
    uv_queue_work(gw->loop, &j->work, logs_work, logs_after);
}

/* ---- metrics: see stats.c ---- */
