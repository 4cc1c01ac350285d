/*
 * meter.c: the usage record batcher (see meter.h).
 *
 * Two locks: qlock guards the queue the loop appends to (held for a copy
 * of one record, or to swap the whole queue out); wlock makes writers run
 * one at a time so that records reach SQLite in the order they were queued.
 * If a write fails (disk full, locked past the busy timeout) the batch is
 * put back in front of the queue and retried on the next tick, up to
 * MAX_QUEUED records; beyond that new records are dropped and counted (a
 * loud log line each time the count passes a power of two).
 */
#include "meter/meter.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

#define MAX_QUEUED 1000000
#define DAY_MS (24LL * 3600 * 1000)
#define PRUNE_EVERY_MS (3600LL * 1000)

struct nb_meter {
    uv_loop_t *loop;
    struct nb_store *store;
    struct nb_meter_config cfg;
    pthread_mutex_t qlock;
    struct nb_usage_record *queue; /* guarded by qlock */
    size_t nqueue, capqueue;
    uint64_t dropped;
    pthread_mutex_t wlock;
    int64_t last_prune_ms; /* guarded by wlock */
    uv_timer_t timer;
    uv_work_t work;
    int work_busy; /* loop thread */
    int timer_open;
};

void nb_meter_config_default(struct nb_meter_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->prices.per_10k_invocations = 0.0133;
    cfg->prices.per_gb_s = 0.00003167;
    cfg->prices.free_invocations = 1000000;
    cfg->prices.free_gb_s = 400000;
    snprintf(cfg->prices.currency, sizeof(cfg->prices.currency), "USD");
    cfg->flush_ms = 500;
    cfg->record_retention_days = 30;
}

uint64_t nb_meter_billed_ms(uint64_t duration_us)
{
    uint64_t ms = (duration_us + 999) / 1000;
    return ms ? ms : 1;
}

static void on_work(uv_work_t *w)
{
    struct nb_meter *m = w->data;
    struct nb_err err = {0};
    if (nb_meter_sync(m, &err) < 0)
        nb_error("meter", "writing usage records: %s (retrying)", err.msg);
}

static void after_work(uv_work_t *w, int status)
{
    struct nb_meter *m = w->data;
    (void)status;
    m->work_busy = 0;
}

static void on_tick(uv_timer_t *t)
{
    struct nb_meter *m = t->data;
    if (m->work_busy || nb_meter_pending(m) == 0)
        return;
    m->work_busy = 1;
    m->work.data = m;
    uv_queue_work(m->loop, &m->work, on_work, after_work);
}

struct nb_meter *nb_meter_new(uv_loop_t *loop, struct nb_store *store,
                              const struct nb_meter_config *cfg)
{
    struct nb_meter *m = nb_xcalloc(1, sizeof(*m));
    m->loop = loop;
    m->store = store;
    if (cfg)
        m->cfg = *cfg;
    else
        nb_meter_config_default(&m->cfg);
    if (m->cfg.flush_ms == 0)
        m->cfg.flush_ms = 500;
    if (m->cfg.record_retention_days == 0)
        m->cfg.record_retention_days = 30;
    if (m->cfg.prices.currency[0] == '\0')
        snprintf(m->cfg.prices.currency, sizeof(m->cfg.prices.currency), "USD");
    pthread_mutex_init(&m->qlock, NULL);
    pthread_mutex_init(&m->wlock, NULL);
    if (loop) {
        uv_timer_init(loop, &m->timer);
        m->timer.data = m;
        uv_timer_start(&m->timer, on_tick, m->cfg.flush_ms, m->cfg.flush_ms);
        uv_unref((uv_handle_t *)&m->timer); /* never keeps the loop alive */
        m->timer_open = 1;
    }
    return m;
}

void nb_meter_record(struct nb_meter *m, const struct nb_usage_record *rec)
{
    if (m == NULL)
        return;
    struct nb_usage_record r = *rec;
    if (r.billed_ms == 0)
        r.billed_ms = nb_meter_billed_ms(r.duration_us);
    if (r.mb_ms == 0)
        r.mb_ms = (uint64_t)r.memory_mb * r.billed_ms;
    if (r.time_ms == 0)
        r.time_ms = nb_wall_ms();
    if (r.version[0] == '\0')
        snprintf(r.version, sizeof(r.version), "LATEST");
    if (r.status[0] == '\0')
        snprintf(r.status, sizeof(r.status), "success");
    pthread_mutex_lock(&m->qlock);
    if (m->nqueue >= MAX_QUEUED) {
        uint64_t d = ++m->dropped;
        pthread_mutex_unlock(&m->qlock);
        if ((d & (d - 1)) == 0)
            nb_error("meter", "usage queue full (the store is failing): %llu records dropped",
                     (unsigned long long)d);
        return;
    }
    if (m->nqueue == m->capqueue) {
        m->capqueue = m->capqueue ? m->capqueue * 2 : 256;
        m->queue = nb_xrealloc(m->queue, m->capqueue * sizeof(*m->queue));
    }
    m->queue[m->nqueue++] = r;
    pthread_mutex_unlock(&m->qlock);
}

size_t nb_meter_pending(struct nb_meter *m)
{
    pthread_mutex_lock(&m->qlock);
    size_t n = m->nqueue;
    pthread_mutex_unlock(&m->qlock);
    return n;
}

/* Puts a batch that could not be written back in front of the queue. */
static void requeue(struct nb_meter *m, struct nb_usage_record *batch, size_t n)
{
    pthread_mutex_lock(&m->qlock);
    size_t total = n + m->nqueue;
    if (total > MAX_QUEUED) {
        m->dropped += total - MAX_QUEUED;
        n -= total - MAX_QUEUED > n ? n : total - MAX_QUEUED;
        total = n + m->nqueue;
    }
    if (total > m->capqueue) {
        m->capqueue = total;
        m->queue = nb_xrealloc(m->queue, m->capqueue * sizeof(*m->queue));
    }
    memmove(m->queue + n, m->queue, m->nqueue * sizeof(*m->queue));
    memcpy(m->queue, batch, n * sizeof(*batch));
    m->nqueue = total;
    pthread_mutex_unlock(&m->qlock);
}

int nb_meter_sync(struct nb_meter *m, struct nb_err *err)
{
    pthread_mutex_lock(&m->wlock);
    pthread_mutex_lock(&m->qlock);
    struct nb_usage_record *batch = m->queue;
    size_t n = m->nqueue;
    m->queue = NULL;
    m->nqueue = m->capqueue = 0;
    pthread_mutex_unlock(&m->qlock);
    int r = nb_store_usage_insert(m->store, batch, n, err);
    if (r < 0)
        requeue(m, batch, n);
    free(batch);
    int64_t now = nb_wall_ms();
    if (r == 0 && now - m->last_prune_ms > PRUNE_EVERY_MS) {
        m->last_prune_ms = now;
        struct nb_err e2 = {0};
        if (nb_store_usage_prune(m->store, now - (int64_t)m->cfg.record_retention_days * DAY_MS,
                                 &e2) < 0)
            nb_warn("meter", "pruning usage records: %s", e2.msg);
    }
    pthread_mutex_unlock(&m->wlock);
    return r;
}

const struct nb_meter_prices *nb_meter_prices(const struct nb_meter *m)
{
    return &m->cfg.prices;
}

void nb_meter_stop(struct nb_meter *m)
{
    if (m && m->timer_open) {
        m->timer_open = 0;
        uv_close((uv_handle_t *)&m->timer, NULL);
    }
}

void nb_meter_free(struct nb_meter *m)
{
    if (m == NULL)
        return;
    struct nb_err err = {0};
    if (nb_meter_pending(m) > 0 && nb_meter_sync(m, &err) < 0)
        nb_error("meter", "usage records lost at shutdown: %s", err.msg);
    if (m->dropped)
        nb_error("meter", "%llu usage records were dropped", (unsigned long long)m->dropped);
    free(m->queue);
    pthread_mutex_destroy(&m->qlock);
    pthread_mutex_destroy(&m->wlock);
    free(m);
}
