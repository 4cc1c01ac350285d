/*
 * stats.c: what happens after every invocation (accounting), and what is
 * read from it: /metrics (Prometheus text, docs/metrics.md) and
 * GET /api/v1/stats (JSON for `nubis top`).
 *
 * OVERALL DESIGN
 * nb_gw_account runs on the loop once per finished invocation, sync or
 * async: it updates the function's counters and histograms (gw->stats,
 * keyed "service/function", kept for the life of the process like any
 * Prometheus counter), queues the usage record with the meter (which
 * writes it to SQLite on a worker thread), and appends the REPORT line to
 * the function's log (stream "report") and to the caller's log tail.
 * For `nubis top` each function also keeps the durations of its last
 * RECENT invocations (p50/p99) and a per-second ring of counts (rate).
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "meter/meter.h"
#include "obs/logstore.h"
#include "sched/sched.h"

#define RECENT 512
#define RATE_WINDOW_S 10
#define RING_S 16

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                0.5,   1,      2.5,   5,    10,    30,   60};
#define NBUCKETS (sizeof(bounds) / sizeof(bounds[0]))

static const char *const status_label[] = {"success", "handled_error", "unhandled_error", "timeout",
                                           "crash",   "init_error",    "cancelled"};
#define NSTATUS (sizeof(status_label) / sizeof(status_label[0]))

struct hist {
    uint64_t buckets[NBUCKETS]; /* non-cumulative; +Inf is count */
    uint64_t count;
    double sum;
};

struct fn_stats {
    char service[129];
    char function[129];
    uint64_t by_status[NSTATUS];
    uint64_t throttles, cold_starts;
    struct hist duration, init;
    uint32_t recent_us[RECENT];
    unsigned nrecent, irecent;
    int64_t ring_sec[RING_S]; /* the wall second each slot counts */
    uint32_t ring_count[RING_S], ring_errors[RING_S];
};

const char *nb_gw_status_label(enum nb_inv_status st)
{
    return (size_t)st < NSTATUS ? status_label[st] : "unknown";
}

static void hist_add(struct hist *h, double s)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        if (s <= bounds[i]) {
            h->buckets[i]++;
            break;
        }
    h->count++;
    h->sum += s;
}

static struct fn_stats *stats_of(struct nb_gateway *gw, const char *service, const char *function)
{
    char key[300];
    if (nb_fn_key(key, sizeof(key), service, function) < 0)
        snprintf(key, sizeof(key), "%s/%s", service, function); /* cut, as before */
    struct fn_stats *st = nb_map_get(&gw->stats, key);
    if (st == NULL) {
        st = nb_xcalloc(1, sizeof(*st));
        snprintf(st->service, sizeof(st->service), "%s", service);
        snprintf(st->function, sizeof(st->function), "%s", function);
        nb_map_put(&gw->stats, key, st);
    }
    return st;
}

void nb_gw_stats_release(struct nb_gateway *gw)
{
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->stats, &i, &k, &v);)
        free(v);
    nb_map_release(&gw->stats);
}

void nb_gw_count_throttle(struct nb_gateway *gw, const char *service, const char *function)
{
    stats_of(gw, service, function)->throttles++;
}

static void ring_add(struct fn_stats *st, int error)
{
    int64_t sec = nb_wall_ms() / 1000;
    unsigned i = (unsigned)(sec % RING_S);
    if (st->ring_sec[i] != sec) {
        st->ring_sec[i] = sec;
        st->ring_count[i] = st->ring_errors[i] = 0;
    }
    st->ring_count[i]++;
    st->ring_errors[i] += error ? 1 : 0;
}

/*
 * The REPORT line's writer: printf's setup cost more than the rest of the
 * line.  Cuts what does not fit in REPORT_MAX - 1 bytes.
 */
#define REPORT_MAX 512
struct line_w {
    char *p;
    size_t len;
};

static void w_mem(struct line_w *w, const char *s, size_t n)
{
    if (n > REPORT_MAX - 1 - w->len)
        n = REPORT_MAX - 1 - w->len;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void w_str(struct line_w *w, const char *s)
{
    w_mem(w, s, strlen(s));
}

static void w_int(struct line_w *w, int64_t v)
{
    char d[24];
    if (v < 0)
        w_mem(w, "-", 1);
    w_mem(w, d, nb_fmt_u64(d, v < 0 ? 0 - (uint64_t)v : (uint64_t)v));
}

/* Microseconds as milliseconds with two decimals, rounded. */
static void w_ms2(struct line_w *w, uint64_t us)
{
    uint64_t d10 = (us + 5) / 10;
    char d[24];
    w_mem(w, d, nb_fmt_u64(d, d10 / 100));
    d[0] = '.';
    d[1] = (char)('0' + d10 % 100 / 10);
    d[2] = (char)('0' + d10 % 10);
    w_mem(w, d, 3);
}

void nb_gw_account(struct nb_gateway *gw, const struct nb_gw_acct *a, struct nb_invocation *inv,
                   struct nb_buf *tail)
{
    uint64_t end = inv->end_ns ? inv->end_ns : nb_now_ns();
    uint64_t begin = inv->dispatch_ns ? inv->dispatch_ns : inv->start_ns;
    int ran = inv->dispatch_ns != 0 || inv->status == NB_INV_OK;
    uint64_t dur_us = ran && begin && end > begin ? (end - begin) / 1000 : 0;
    uint64_t init_us = inv->init_ns / 1000;
    const char *status = nb_gw_status_label(inv->status);

    struct fn_stats *st = stats_of(gw, a->service, a->function);
    if ((size_t)inv->status < NSTATUS)
        st->by_status[inv->status]++;
    if (a->cold)
        st->cold_starts++;
    hist_add(&st->duration, (double)dur_us / 1e6);
    if (init_us)
        hist_add(&st->init, (double)init_us / 1e6);
    st->recent_us[st->irecent] = dur_us > UINT32_MAX ? UINT32_MAX : (uint32_t)dur_us;
    st->irecent = (st->irecent + 1) % RECENT;
    if (st->nrecent < RECENT)
        st->nrecent++;
    ring_add(st, inv->status != NB_INV_OK);

    struct nb_usage_record rec = {.duration_us = dur_us,
                                  .memory_mb = (uint32_t)a->memory_mb,
                                  .init_us = init_us,
                                  .cold = a->cold};
    nb_copy_cut(rec.request_id, sizeof(rec.request_id), inv->request_id);
    nb_copy_cut(rec.service, sizeof(rec.service), a->service);
    nb_copy_cut(rec.function, sizeof(rec.function), a->function);
    nb_copy_cut(rec.version, sizeof(rec.version), a->version[0] ? a->version : "LATEST");
    nb_copy_cut(rec.status, sizeof(rec.status), status);
    if (gw->cfg.meter)
        nb_meter_record(gw->cfg.meter, &rec);

    /* Lambda's REPORT line; the billed duration is what the meter bills. */
    uint64_t billed = dur_us ? nb_meter_billed_ms(dur_us) : 0;
    char line[REPORT_MAX];
    struct line_w w = {line, 0};
    w_str(&w, "REPORT RequestId: ");
    w_str(&w, inv->request_id);
    w_str(&w, " Version: ");
    w_str(&w, rec.version);
    w_str(&w, " Duration: ");
    w_ms2(&w, dur_us);
    w_str(&w, " ms Billed Duration: ");
    w_int(&w, (int64_t)billed);
    w_str(&w, " ms Memory Size: ");
    w_int(&w, a->memory_mb);
    w_str(&w, " MB Max Memory Used: ");
    w_int(&w, nb_invocation_memory_mb(inv));
    w_str(&w, " MB");
    if (init_us) {
        w_str(&w, " Init Duration: ");
        w_ms2(&w, init_us);
        w_str(&w, " ms");
    }
    int n = (int)w.len;
    if (gw->logs) {
        struct nb_log_line l = {.time_ms = nb_wall_ms(),
                                .request_id = inv->request_id,
                                .stream = "report",
                                .message = line,
                                .message_len = (size_t)n};
        nb_logstore_append(gw->logs, a->service, a->function, &l);
    }
    if (tail && tail->max > (size_t)n + 1) {
        if (tail->len + (size_t)n + 1 > tail->max)
            nb_buf_consume(tail, tail->len + (size_t)n + 1 - tail->max);
        nb_buf_append(tail, line, (size_t)n);
        nb_buf_appendc(tail, '\n');
    }
}

void nb_gateway_set_queue_depth(struct nb_gateway *gw, uint64_t (*depth)(void *arg), void *arg)
{
    gw->queue_depth = depth;
    gw->queue_depth_arg = arg;
}

/* ---- reading ---- */

/* Prometheus label value escaping: backslash, quote, newline. */
static void label(struct nb_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            nb_buf_appendc(b, '\\');
        if (*s == '\n') {
            nb_buf_appends(b, "\\n");
            continue;
        }
        nb_buf_appendc(b, *s);
    }
}

static void fn_labels(struct nb_buf *b, const struct fn_stats *st)
{
    nb_buf_appends(b, "service=\"");
    label(b, st->service);
    nb_buf_appends(b, "\",function=\"");
    label(b, st->function);
    nb_buf_appendc(b, '"');
}

static void emit_hist(struct nb_buf *b, const char *name, const struct fn_stats *st,
                      const struct hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += h->buckets[i];
        nb_buf_printf(b, "%s_bucket{", name);
        fn_labels(b, st);
        nb_buf_printf(b, ",le=\"%g\"} %llu\n", bounds[i], (unsigned long long)cum);
    }
    nb_buf_printf(b, "%s_bucket{", name);
    fn_labels(b, st);
    nb_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
    nb_buf_printf(b, "%s_sum{", name);
    fn_labels(b, st);
    nb_buf_printf(b, "} %.6f\n%s_count{", h->sum, name);
    fn_labels(b, st);
    nb_buf_printf(b, "} %llu\n", (unsigned long long)h->count);
}

/* One counter family over every function: value(st) per line. */
static void emit_counter(struct nb_buf *b, struct nb_gateway *gw, const char *name,
                         const char *help, uint64_t (*value)(const struct fn_stats *))
{
    nb_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->stats, &i, &k, &v);) {
        nb_buf_printf(b, "%s{", name);
        fn_labels(b, v);
        nb_buf_printf(b, "} %llu\n", (unsigned long long)value(v));
    }
}

static uint64_t v_errors(const struct fn_stats *st)
{
    uint64_t n = 0;
    for (size_t i = 1; i < NSTATUS; i++)
        n += st->by_status[i];
    return n;
}

static uint64_t v_throttles(const struct fn_stats *st)
{
    return st->throttles;
}

static uint64_t v_cold(const struct fn_stats *st)
{
    return st->cold_starts;
}

void nb_gw_metrics(struct nb_gateway *gw, struct nb_http_request *req)
{
    struct nb_buf b;
    nb_buf_init(&b, 64u << 20);
    const char *k;
    void *v;
    nb_buf_appends(&b, "# HELP nubis_invocations_total Invocations by function and outcome.\n"
                       "# TYPE nubis_invocations_total counter\n");
    for (size_t i = 0; nb_map_next(&gw->stats, &i, &k, &v);) {
        struct fn_stats *st = v;
        for (size_t s = 0; s < NSTATUS; s++) {
            nb_buf_appends(&b, "nubis_invocations_total{");
            fn_labels(&b, st);
            nb_buf_printf(&b, ",status=\"%s\"} %llu\n", status_label[s],
                          (unsigned long long)st->by_status[s]);
        }
    }
    emit_counter(&b, gw, "nubis_errors_total",
                 "Invocations that did not succeed (any status but success).", v_errors);
    emit_counter(&b, gw, "nubis_throttles_total",
                 "Invocations refused with 429 because the function's queue was full.",
                 v_throttles);
    emit_counter(&b, gw, "nubis_cold_starts_total",
                 "Invocations that waited for a new instance to start.", v_cold);
    nb_buf_appends(&b, "# HELP nubis_invocation_duration_seconds Execution time of invocations "
                       "(what is billed, before rounding).\n"
                       "# TYPE nubis_invocation_duration_seconds histogram\n");
    for (size_t i = 0; nb_map_next(&gw->stats, &i, &k, &v);)
        emit_hist(&b, "nubis_invocation_duration_seconds", v, &((struct fn_stats *)v)->duration);
    nb_buf_appends(&b, "# HELP nubis_init_duration_seconds Instance initialization time (sandbox "
                       "start to ready) on cold starts.\n"
                       "# TYPE nubis_init_duration_seconds histogram\n");
    for (size_t i = 0; nb_map_next(&gw->stats, &i, &k, &v);)
        emit_hist(&b, "nubis_init_duration_seconds", v, &((struct fn_stats *)v)->init);

    struct nb_sched_stats ss;
    nb_sched_stats(gw->sched, &ss);
    uint64_t qdepth = gw->queue_depth ? gw->queue_depth(gw->queue_depth_arg) : 0;
    nb_buf_printf(&b,
                  "# HELP nubis_instances Instances by state.\n"
                  "# TYPE nubis_instances gauge\n"
                  "nubis_instances{state=\"starting\"} %u\nnubis_instances{state=\"busy\"} %u\n"
                  "nubis_instances{state=\"idle\"} %u\n"
                  "# HELP nubis_instances_started_total Instances started.\n"
                  "# TYPE nubis_instances_started_total counter\n"
                  "nubis_instances_started_total %llu\n"
                  "# HELP nubis_pending_invocations Invocations waiting for an instance.\n"
                  "# TYPE nubis_pending_invocations gauge\nnubis_pending_invocations %u\n"
                  "# HELP nubis_async_queue_depth Async invocations queued and not finished.\n"
                  "# TYPE nubis_async_queue_depth gauge\nnubis_async_queue_depth %llu\n"
                  "# HELP nubis_functions Functions deployed (LATEST).\n"
                  "# TYPE nubis_functions gauge\nnubis_functions %zu\n",
                  ss.starting, ss.busy, ss.idle, (unsigned long long)ss.instances_started,
                  ss.pending, (unsigned long long)qdepth, gw->fns.len);
    if (gw->cfg.meter)
        nb_buf_printf(&b,
                      "# HELP nubis_usage_records_pending Usage records not yet written.\n"
                      "# TYPE nubis_usage_records_pending gauge\n"
                      "nubis_usage_records_pending %zu\n",
                      nb_meter_pending(gw->cfg.meter));
    nb_buf_appends(&b, "# HELP nubis_http_responses_total HTTP responses by status code.\n"
                       "# TYPE nubis_http_responses_total counter\n");
    for (int code = 100; code < 600; code++) {
        uint64_t n = nb_gw_http_count(code);
        if (n)
            nb_buf_printf(&b, "nubis_http_responses_total{code=\"%d\"} %llu\n", code,
                          (unsigned long long)n);
    }
    nb_gw_respond(req, 200, NULL, NULL, 0, "text/plain; version=0.0.4; charset=utf-8", b.data ?: "",
                  b.len);
    nb_buf_release(&b);
}

/* ---- GET /api/v1/stats ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct pool_sum {
    const char *service, *function;
    struct nb_pool_stats sum;
};

static void add_pool(struct nb_fn *fn, void *arg)
{
    struct pool_sum *ps = arg;
    if (fn->pool == NULL || strcmp(fn->service, ps->service) || strcmp(fn->name, ps->function))
        return;
    struct nb_pool_stats p;
    nb_pool_stats(fn->pool, &p);
    ps->sum.instances += p.instances;
    ps->sum.starting += p.starting;
    ps->sum.busy += p.busy;
    ps->sum.idle += p.idle;
    ps->sum.pending += p.pending;
}

static json_t *fn_stats_json(struct nb_gateway *gw, struct nb_fn *fn, struct fn_stats *st,
                             int64_t now_s)
{
    struct pool_sum ps = {.service = fn->service, .function = fn->name};
    add_pool(fn, &ps);
    nb_gw_version_pools(gw, add_pool, &ps);
    uint64_t total = 0, errors = 0, window = 0, werr = 0;
    double p50 = 0, p99 = 0;
    if (st) {
        for (size_t i = 0; i < NSTATUS; i++)
            total += st->by_status[i];
        errors = v_errors(st);
        /* the last RATE_WINDOW_S complete seconds */
        for (unsigned i = 0; i < RING_S; i++) {
            int64_t age = now_s - st->ring_sec[i];
            if (age >= 1 && age <= RATE_WINDOW_S) {
                window += st->ring_count[i];
                werr += st->ring_errors[i];
            }
        }
        if (st->nrecent) {
            uint32_t sorted[RECENT];
            memcpy(sorted, st->recent_us, st->nrecent * sizeof(uint32_t));
            qsort(sorted, st->nrecent, sizeof(uint32_t), cmp_u32);
            p50 = sorted[(st->nrecent - 1) / 2] / 1000.0;
            p99 = sorted[(st->nrecent * 99 + 99) / 100 - 1] / 1000.0;
        }
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:i}",
                     "serviceName", fn->service, "functionName", fn->name, "invocations",
                     (json_int_t)total, "errors", (json_int_t)errors, "throttles",
                     (json_int_t)(st ? st->throttles : 0), "coldStarts",
                     (json_int_t)(st ? st->cold_starts : 0), "rate", (double)window / RATE_WINDOW_S,
                     "errorRate", (double)werr / RATE_WINDOW_S, "p50Ms", p50, "p99Ms", p99,
                     "instances", (int)ps.sum.instances, "starting", (int)ps.sum.starting, "busy",
                     (int)ps.sum.busy, "idle", (int)ps.sum.idle, "pending", (int)ps.sum.pending);
}

void nb_gw_stats(struct nb_gateway *gw, struct nb_http_request *req, const char *request_id)
{
    int64_t now_ms = nb_wall_ms();
    json_t *fns = json_array();
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->fns, &i, &k, &v);) {
        struct nb_fn *fn = v;
        json_array_append_new(fns, fn_stats_json(gw, fn, nb_map_get(&gw->stats, k), now_ms / 1000));
    }
    struct nb_sched_stats ss;
    nb_sched_stats(gw->sched, &ss);
    json_t *out = json_pack(
        "{s:I, s:i, s:{s:i, s:i, s:i, s:i}, s:i, s:I, s:o}", "time", (json_int_t)now_ms,
        "windowSeconds", RATE_WINDOW_S, "instances", "total", (int)ss.instances, "starting",
        (int)ss.starting, "busy", (int)ss.busy, "idle", (int)ss.idle, "pending", (int)ss.pending,
        "asyncQueueDepth", (json_int_t)(gw->queue_depth ? gw->queue_depth(gw->queue_depth_arg) : 0),
        "functions", fns);
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    nb_gw_respond(req, 200, request_id, NULL, 0, "application/json", s ? s : "{}",
                  s ? strlen(s) : 2);
    free(s);
}
