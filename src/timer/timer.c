/*
 * timer.c: timer triggers on the loop (see timer.h).
 *
 * Triggers are kept in a map "service/function/trigger" -> struct tmr.
 * There are few of them (tens, hundreds), so the nearest fire is found by
 * a scan after each change or fire rather than with a heap.
 */
#include "timer/timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/map.h"
#include "base/util.h"
#include "queue/queue.h"
#include "timer/cron.h"

struct tmr {
    char *service, *function, *name, *qualifier;
    char *expr;
    char *payload;
    struct nb_cron cron;
    int64_t next_ms; /* -1: never */
    int seen;        /* still in the snapshot being applied */
};

struct nb_timers {
    uv_loop_t *loop;
    struct nb_queue *q;
    struct nb_map tmrs;
    uv_timer_t timer;
    int stopped;
    uint64_t fired;
};

static void tmr_free(struct tmr *t)
{
    free(t->service);
    free(t->function);
    free(t->name);
    free(t->qualifier);
    free(t->expr);
    free(t->payload);
    free(t);
}

struct nb_timers *nb_timers_new(uv_loop_t *loop, struct nb_queue *q)
{
    struct nb_timers *t = nb_xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->q = q;
    nb_map_init(&t->tmrs);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_unref((uv_handle_t *)&t->timer);
    return t;
}

static void arm(struct nb_timers *t);

static void on_enqueued(int status, const char *id, void *arg)
{
    char *what = arg;
    if (status == -EALREADY)
        nb_info("timer", "%s: this scheduled time was enqueued before; skipped", what);
    else if (status < 0)
        nb_error("timer", "%s: cannot enqueue fire %s: %s", what, id, nb_errno_name(-status));
    free(what);
}

static void fire(struct nb_timers *t, struct tmr *m)
{
    char when[32];
    time_t secs = (time_t)(m->next_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *ev = json_pack("{s:s, s:s, s:s}", "triggerTime", when, "triggerName", m->name,
                           "payload", m->payload);
    char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (body == NULL)
        return;
    char *meta = nb_xasprintf("{\"source\":\"timer\",\"trigger\":\"%s\"}", m->name);
    struct nb_queue_item it = {
        .service = m->service,
        .function = m->function,
        .qualifier = m->qualifier,
        .kind = NB_QUEUE_EVENT,
        .meta = meta,
        .payload = body,
        .payload_len = strlen(body),
        .timer_trigger = m->name,
        .timer_ms = m->next_ms,
    };
    nb_queue_enqueue(t->q, &it, on_enqueued,
                     nb_xasprintf("timer '%s/%s/%s'", m->service, m->function, m->name), NULL);
    t->fired++;
    free(meta);
    free(body);
}

static void on_timer(uv_timer_t *h)
{
    struct nb_timers *t = h->data;
    int64_t now = nb_wall_ms();
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&t->tmrs, &i, &k, &v);) {
        struct tmr *m = v;
        if (m->next_ms < 0 || m->next_ms > now)
            continue;
        fire(t, m);
        /* the next scheduled time after now: a stalled loop skips, never bursts */
        int64_t base = m->next_ms > now ? m->next_ms : now;
        m->next_ms = nb_cron_next(&m->cron, base);
    }
    arm(t);
}

static void arm(struct nb_timers *t)
{
    if (t->stopped)
        return;
    int64_t due = -1;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&t->tmrs, &i, &k, &v);) {
        struct tmr *m = v;
        if (m->next_ms >= 0 && (due < 0 || m->next_ms < due))
            due = m->next_ms;
    }
    if (due < 0) {
        uv_timer_stop(&t->timer);
        return;
    }
    int64_t wait = due - nb_wall_ms();
    uv_timer_start(&t->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
    uv_ref((uv_handle_t *)&t->timer);
}

static void drop_matching(struct nb_timers *t, const char *prefix, int only_unseen)
{
    size_t plen = strlen(prefix);
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&t->tmrs, &i, &k, &v);) {
        struct tmr *m = v;
        if (strncmp(k, prefix, plen) != 0 || (only_unseen && m->seen))
            continue;
        nb_map_del(&t->tmrs, k);
        tmr_free(m);
    }
}

void nb_timers_apply(struct nb_timers *t, const char *service, const char *function,
                     json_t *snapshot)
{
    char *prefix =
        function ? nb_xasprintf("%s/%s/", service, function) : nb_xasprintf("%s/", service);
    if (function == NULL || snapshot == NULL) {
        drop_matching(t, prefix, 0);
        free(prefix);
        arm(t);
        return;
    }
    const char *k;
    void *v;
    size_t plen = strlen(prefix);
    for (size_t i = 0; nb_map_next(&t->tmrs, &i, &k, &v);)
        if (strncmp(k, prefix, plen) == 0)
            ((struct tmr *)v)->seen = 0;
    json_t *triggers = json_object_get(snapshot, "triggers");
    size_t i;
    json_t *tr;
    int64_t now = nb_wall_ms();
    json_array_foreach(triggers, i, tr)
    {
        if (strcmp(json_string_value(json_object_get(tr, "triggerType")) ?: "", "timer") != 0)
            continue;
        json_t *cfg = json_object_get(tr, "triggerConfig");
        const char *name = json_string_value(json_object_get(tr, "triggerName"));
        const char *expr = json_string_value(json_object_get(cfg, "cronExpression"));
        json_t *enable = json_object_get(cfg, "enable");
        if (name == NULL || expr == NULL || json_is_false(enable))
            continue;
        struct nb_cron cron;
        struct nb_err err = {0};
        if (nb_cron_parse(expr, &cron, &err) < 0) {
            nb_warn("timer", "trigger '%s%s': cronExpression '%s': %s", prefix, name, expr,
                    err.msg);
            continue;
        }
        char *key = nb_xasprintf("%s%s", prefix, name);
        struct tmr *m = nb_map_get(&t->tmrs, key);
        const char *payload = json_string_value(json_object_get(cfg, "payload")) ?: "";
        const char *qualifier = json_string_value(json_object_get(tr, "qualifier")) ?: "LATEST";
        if (m && strcmp(m->expr, expr) == 0) {
            free(m->payload);
            m->payload = nb_xstrdup(payload);
            free(m->qualifier);
            m->qualifier = nb_xstrdup(qualifier);
        } else {
            if (m == NULL) {
                m = nb_xcalloc(1, sizeof(*m));
                m->service = nb_xstrdup(service);
                m->function = nb_xstrdup(function);
                m->name = nb_xstrdup(name);
                nb_map_put(&t->tmrs, key, m);
            } else {
                free(m->expr);
                free(m->payload);
                free(m->qualifier);
            }
            m->expr = nb_xstrdup(expr);
            m->payload = nb_xstrdup(payload);
            m->qualifier = nb_xstrdup(qualifier);
            m->cron = cron;
            m->next_ms = nb_cron_next(&cron, now);
        }
        m->seen = 1;
        free(key);
    }
    drop_matching(t, prefix, 1);
    free(prefix);
    arm(t);
}

void nb_timers_stop(struct nb_timers *t)
{
    if (t->stopped)
        return;
    t->stopped = 1;
    uv_close((uv_handle_t *)&t->timer, NULL);
}

void nb_timers_free(struct nb_timers *t)
{
    if (t == NULL)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&t->tmrs, &i, &k, &v);)
        tmr_free(v);
    nb_map_release(&t->tmrs);
    free(t);
}

uint64_t nb_timers_fired(const struct nb_timers *t)
{
    return t->fired;
}
