/*
 * sched.c: per-function-version instance pools (see sched.h).
 *
 * Every invocation submitted to a pool is wrapped in a `struct call` that
 * remembers the caller's done callback: the pool interposes its own to
 * account for the instance's load, then hands the result back.  Instances
 * are `struct pinst`; both lists are intrusive.  Nothing here blocks.
 */
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/list.h"
#include "base/log.h"
#include "base/util.h"
#include "obs/logstore.h"

struct nb_sched {
    uv_loop_t *loop;
    char *runtimes_dir;
    struct nb_logstore *logs;
    struct nb_list pools;
    uint64_t next_instance;
    uint64_t instances_started, cold_starts;
    unsigned instances;
    int shutting_down;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
};

struct pinst {
    struct nb_list link;
    struct nb_pool *pool;
    struct nb_instance *inst;
    uv_timer_t idle;
    int ready;
    int dying;
    unsigned inflight;
    char id[48];
    uint64_t start_ns, init_ns; /* sandbox start; init duration once ready */
    unsigned served;            /* invocations dispatched to it */
};

struct call {
    struct nb_list link;
    struct nb_invocation *inv;
    void (*done)(struct nb_invocation *, void *);
    void *arg;
    struct pinst *pi;
};

struct nb_pool {
    struct nb_list link;
    struct nb_sched *s;
    struct nb_pool_config cfg;
    struct nb_list instances;
    struct nb_list pending;
    unsigned ninst, nstarting, npending;
    unsigned nalloc; /* struct pinst not yet freed (their close callbacks pending) */
    int retired;
    int freeing;
    uv_timer_t deferred; /* fails calls whose instance could not even start */
    struct nb_err start_err;
    unsigned start_failures;
};

static void pool_pump(struct nb_pool *p);
static void pool_maybe_free(struct nb_pool *p);
static void on_idle(uv_timer_t *t);

struct nb_sched *nb_sched_new(uv_loop_t *loop, const char *runtimes_dir, struct nb_logstore *logs)
{
    struct nb_sched *s = nb_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->runtimes_dir = nb_xstrdup(runtimes_dir);
    s->logs = logs;
    nb_list_init(&s->pools);
    return s;
}

void nb_pool_stats(const struct nb_pool *p, struct nb_pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->pending = p->npending;
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, (struct nb_list *)&p->instances)
    {
        const struct pinst *pi = nb_list_entry(it, struct pinst, link);
        out->instances++;
        if (!pi->ready && !pi->dying)
            out->starting++;
        else if (pi->inflight > 0)
            out->busy++;
        else
            out->idle++;
    }
}

void nb_sched_stats(const struct nb_sched *s, struct nb_sched_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->instances_started = s->instances_started;
    out->cold_starts = s->cold_starts;
    out->instances = s->instances;
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &s->pools)
    {
        struct nb_pool *p = nb_list_entry(it, struct nb_pool, link);
        out->pending += p->npending;
        struct nb_pool_stats ps;
        nb_pool_stats(p, &ps);
        out->starting += ps.starting;
        out->busy += ps.busy;
        out->idle += ps.idle;
    }
}

static void config_release(struct nb_pool_config *c)
{
    free(c->service);
    free(c->function);
    free(c->runtime);
    free(c->code_dir);
    free(c->init_meta);
    if (c->env) {
        for (char **e = c->env; *e; e++)
            free(*e);
        free(c->env);
    }
    memset(c, 0, sizeof(*c));
}

static void pool_log(struct nb_pool *p, const char *request_id, const char *stream, const char *msg,
                     size_t len)
{
    if (p->s->logs == NULL)
        return;
    struct nb_log_line line = {
        .time_ms = nb_wall_ms(),
        .request_id = request_id ? request_id : "",
        .stream = stream,
        .message = msg,
        .message_len = len,
    };
    nb_logstore_append(p->s->logs, p->cfg.service, p->cfg.function, &line);
}

/* ---- calls ---- */

static void call_finish(struct call *c)
{
    struct nb_invocation *inv = c->inv;
    void (*done)(struct nb_invocation *, void *) = c->done;
    void *arg = c->arg;
    inv->done = done;
    inv->done_arg = arg;
    inv->priv_sched[0] = NULL;
    free(c);
    done(inv, arg);
}

/* Completes a call that never reached an instance. */
static void call_fail(struct call *c, enum nb_inv_status st, const char *error, const char *body,
                      size_t len)
{
    struct nb_invocation *inv = c->inv;
    inv->status = st;
    snprintf(inv->error, sizeof(inv->error), "%s", error);
    nb_buf_reset(&inv->result);
    if (body && len)
        nb_buf_append(&inv->result, body, len);
    if (inv->end_ns == 0)
        inv->end_ns = nb_now_ns();
    call_finish(c);
}

static void call_done(struct nb_invocation *inv, void *arg)
{
    struct call *c = arg;
    struct pinst *pi = c->pi;
    struct nb_pool *p = pi->pool;
    (void)inv;
    pi->inflight--;
    call_finish(c);
    pool_pump(p);
    if (pi->inflight == 0 && !pi->dying && pi->ready) {
        if (p->retired && p->npending == 0) {
            pi->dying = 1;
            nb_instance_kill(pi->inst, "function updated");
        } else {
            uv_timer_start(&pi->idle, on_idle, p->cfg.idle_timeout_ms, 0);
        }
    }
}

/* ---- instances ---- */

static void pinst_closed(uv_handle_t *h)
{
    struct pinst *pi = h->data;
    struct nb_pool *p = pi->pool;
    free(pi);
    p->nalloc--;
    pool_maybe_free(p);
}

static void on_idle(uv_timer_t *t)
{
    struct pinst *pi = t->data;
    if (pi->inflight == 0 && !pi->dying) {
        pi->dying = 1;
        nb_instance_kill(pi->inst, "idle");
    }
}

static void on_ready(struct nb_instance *inst, int ok, const char *error_body, size_t len,
                     const char *error, void *udata)
{
    (void)inst;
    struct pinst *pi = udata;
    struct nb_pool *p = pi->pool;
    p->nstarting--;
    if (ok) {
        pi->ready = 1;
        pi->init_ns = nb_now_ns() - pi->start_ns;
        pool_pump(p);
        if (pi->inflight == 0)
            uv_timer_start(&pi->idle, on_idle, p->cfg.idle_timeout_ms, 0);
        return;
    }
    pi->dying = 1;
    nb_warn("sched", "%s/%s: instance %s failed to initialize: %s", p->cfg.service, p->cfg.function,
            pi->id, error ? error : "?");
    pool_log(p, NULL, "system", error ? error : "initialization failed",
             error ? strlen(error) : 21);
    /* The calls that were waiting for this instance get its error. */
    for (int i = 0; i < p->cfg.concurrency && !nb_list_empty(&p->pending); i++) {
        struct call *c = nb_list_entry(p->pending.next, struct call, link);
        nb_list_del(&c->link);
        p->npending--;
        call_fail(c, NB_INV_INIT_FAILED, error ? error : "initialization failed", error_body, len);
    }
}

static void on_log(struct nb_instance *inst, struct nb_invocation *inv, const char *stream,
                   const char *msg, size_t len, void *udata)
{
    (void)inst;
    struct pinst *pi = udata;
    pool_log(pi->pool, inv ? inv->request_id : NULL, stream, msg, len);
    if (inv && inv->log_tail) {
        struct nb_buf *t = inv->log_tail;
        if (len + 1 > t->max) {
            msg += len + 1 - t->max;
            len = t->max - 1;
        }
        if (t->len + len + 1 > t->max)
            nb_buf_consume(t, t->len + len + 1 - t->max);
        nb_buf_append(t, msg, len);
        nb_buf_appendc(t, '\n');
    }
}

static void on_instance_exit(struct nb_instance *inst, const char *reason, void *udata)
{
    (void)inst;
    struct pinst *pi = udata;
    struct nb_pool *p = pi->pool;
    int expected = pi->dying;
    if (!pi->ready && !pi->dying)
        p->nstarting--; /* died before reporting readiness */
    nb_list_del(&pi->link);
    p->ninst--;
    p->s->instances--;
    if (!expected) {
        char line[300];
        int n = snprintf(line, sizeof(line), "instance %s %s", pi->id, reason);
        pool_log(p, NULL, "system", line, (size_t)n);
        nb_warn("sched", "%s/%s: instance %s %s", p->cfg.service, p->cfg.function, pi->id, reason);
    } else {
        nb_debug("sched", "%s/%s: instance %s stopped: %s", p->cfg.service, p->cfg.function, pi->id,
                 reason);
    }
    pi->inst = NULL;
    uv_close((uv_handle_t *)&pi->idle, pinst_closed);
    pool_pump(p);
}

static const struct nb_instance_callbacks instance_cbs = {
    .on_ready = on_ready,
    .on_log = on_log,
    .on_exit = on_instance_exit,
};

static void on_deferred(uv_timer_t *t)
{
    struct nb_pool *p = t->data;
    for (int i = 0; i < p->cfg.concurrency && !nb_list_empty(&p->pending); i++) {
        struct call *c = nb_list_entry(p->pending.next, struct call, link);
        nb_list_del(&c->link);
        p->npending--;
        char msg[600];
        snprintf(msg, sizeof(msg), "instance could not start: %s", p->start_err.msg);
        call_fail(c, NB_INV_INIT_FAILED, msg, NULL, 0);
    }
    p->start_failures = 0;
    pool_pump(p);
    pool_maybe_free(p);
}

static int start_instance(struct nb_pool *p)
{
    struct nb_sched *s = p->s;
    struct pinst *pi = nb_xcalloc(1, sizeof(*pi));
    pi->pool = p;
    pi->start_ns = nb_now_ns();
    snprintf(pi->id, sizeof(pi->id), "i%llu-%d", (unsigned long long)++s->next_instance,
             (int)getpid());
    struct nb_instance_spec spec = {
        .id = pi->id,
        .runtime = p->cfg.runtime,
        .runtimes_dir = s->runtimes_dir,
        .code_dir = p->cfg.code_dir,
        .env = (const char *const *)p->cfg.env,
        .init_meta = p->cfg.init_meta,
        .memory_mb = p->cfg.memory_mb,
        .init_timeout_ms = p->cfg.init_timeout_s * 1000,
        .internet = p->cfg.internet,
    };
    struct nb_err err = {0};
    int r = nb_instance_start(s->loop, &spec, &instance_cbs, pi, &pi->inst, &err);
    if (r < 0) {
        nb_error("sched", "%s/%s: cannot start an instance: %s", p->cfg.service, p->cfg.function,
                 err.msg);
        pool_log(p, NULL, "system", err.msg, strlen(err.msg));
        free(pi);
        p->start_err = err;
        p->start_failures++;
        uv_timer_start(&p->deferred, on_deferred, 0, 0);
        return r;
    }
    uv_timer_init(s->loop, &pi->idle);
    pi->idle.data = pi;
    nb_list_push(&p->instances, &pi->link);
    p->nalloc++;
    p->ninst++;
    p->nstarting++;
    s->instances++;
    s->instances_started++;
    return 0;
}

/* ---- pools ---- */

struct nb_pool *nb_pool_new(struct nb_sched *s, struct nb_pool_config *cfg)
{
    struct nb_pool *p = nb_xcalloc(1, sizeof(*p));
    p->s = s;
    p->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    if (p->cfg.concurrency < 1)
        p->cfg.concurrency = 1;
    if (p->cfg.max_instances < 1)
        p->cfg.max_instances = 100;
    if (p->cfg.max_queue < 1)
        p->cfg.max_queue = 1000;
    if (p->cfg.idle_timeout_ms == 0)
        p->cfg.idle_timeout_ms = 300 * 1000;
    if (p->cfg.init_timeout_s < 1)
        p->cfg.init_timeout_s = 3;
    nb_list_init(&p->instances);
    nb_list_init(&p->pending);
    uv_timer_init(s->loop, &p->deferred);
    p->deferred.data = p;
    nb_list_push(&s->pools, &p->link);
    return p;
}

static struct pinst *pick_ready(struct nb_pool *p)
{
    struct pinst *best = NULL;
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &p->instances)
    {
        struct pinst *pi = nb_list_entry(it, struct pinst, link);
        if (!pi->ready || pi->dying || pi->inflight >= (unsigned)p->cfg.concurrency)
            continue;
        if (best == NULL || pi->inflight < best->inflight)
            best = pi;
        if (best->inflight == 0)
            break;
    }
    return best;
}

/* Sends c to pi; returns 0, or -EPIPE if the instance is dying (c untouched). */
static int dispatch(struct pinst *pi, struct call *c)
{
    c->pi = pi;
    pi->inflight++;
    uv_timer_stop(&pi->idle);
    c->inv->dispatch_ns = nb_now_ns();
    c->inv->init_ns = pi->served++ == 0 ? pi->init_ns : 0;
    int r = nb_instance_invoke(pi->inst, c->inv);
    if (r < 0) {
        pi->inflight--;
        pi->dying = 1;
        c->pi = NULL;
    }
    return r;
}

static void pool_scale(struct nb_pool *p)
{
    if (p->s->shutting_down || p->start_failures > 0)
        return;
    while (p->npending > p->nstarting * (unsigned)p->cfg.concurrency &&
           p->ninst < (unsigned)p->cfg.max_instances) {
        if (start_instance(p) < 0)
            break;
        p->s->cold_starts++;
    }
}

static void pool_pump(struct nb_pool *p)
{
    while (!nb_list_empty(&p->pending)) {
        struct pinst *pi = pick_ready(p);
        if (pi == NULL)
            break;
        struct call *c = nb_list_entry(p->pending.next, struct call, link);
        nb_list_del(&c->link);
        p->npending--;
        if (dispatch(pi, c) < 0) {
            nb_list_push(&p->pending, &c->link); /* order: rare, keep it simple */
            p->npending++;
        }
    }
    pool_scale(p);
    pool_maybe_free(p);
}

int nb_pool_submit(struct nb_pool *p, struct nb_invocation *inv, int *cold)
{
    if (cold)
        *cold = 0;
    if (p->retired)
        return -ESHUTDOWN;
    struct call *c = nb_xcalloc(1, sizeof(*c));
    c->inv = inv;
    c->done = inv->done;
    c->arg = inv->done_arg;
    inv->done = call_done;
    inv->done_arg = c;
    inv->priv_sched[0] = c;
    if (inv->start_ns == 0)
        inv->start_ns = nb_now_ns();

    struct pinst *pi = nb_list_empty(&p->pending) ? pick_ready(p) : NULL;
    if (pi && dispatch(pi, c) == 0)
        return 0;
    if (p->npending >= (unsigned)p->cfg.max_queue) {
        inv->done = c->done;
        inv->done_arg = c->arg;
        inv->priv_sched[0] = NULL;
        free(c);
        return -EAGAIN;
    }
    nb_list_push(&p->pending, &c->link);
    p->npending++;
    unsigned before = p->nstarting;
    pool_scale(p);
    if (cold)
        *cold = p->nstarting > before || p->nstarting > 0;
    return 0;
}

static void pool_closed(uv_handle_t *h)
{
    struct nb_pool *p = h->data;
    struct nb_sched *s = p->s;
    config_release(&p->cfg);
    free(p);
    if (s->shutting_down && nb_list_empty(&s->pools) && s->shutdown_done) {
        void (*done)(void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s->shutdown_arg);
    }
}

static void pool_maybe_free(struct nb_pool *p)
{
    if (!p->retired || p->freeing || p->ninst > 0 || p->npending > 0 || p->nalloc > 0 ||
        !nb_list_empty(&p->instances))
        return;
    p->freeing = 1;
    nb_list_del(&p->link);
    uv_close((uv_handle_t *)&p->deferred, pool_closed);
}

void nb_pool_retire(struct nb_pool *p)
{
    if (p->retired)
        return;
    p->retired = 1;
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &p->instances)
    {
        struct pinst *pi = nb_list_entry(it, struct pinst, link);
        if (pi->inflight == 0 && !pi->dying && (pi->ready || p->npending == 0)) {
            pi->dying = 1;
            nb_instance_kill(pi->inst, "function updated");
        }
    }
    pool_maybe_free(p);
}

void nb_sched_shutdown(struct nb_sched *s, void (*done)(void *), void *arg)
{
    s->shutting_down = 1;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    if (nb_list_empty(&s->pools)) {
        s->shutdown_done = NULL;
        done(arg);
        return;
    }
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &s->pools)
    {
        struct nb_pool *p = nb_list_entry(it, struct nb_pool, link);
        p->retired = 1;
        while (!nb_list_empty(&p->pending)) {
            struct call *c = nb_list_entry(p->pending.next, struct call, link);
            nb_list_del(&c->link);
            p->npending--;
            call_fail(c, NB_INV_CANCELLED, "the platform is shutting down", NULL, 0);
        }
        struct nb_list *jt, *jtmp;
        nb_list_foreach(jt, jtmp, &p->instances)
        {
            struct pinst *pi = nb_list_entry(jt, struct pinst, link);
            if (!pi->dying) {
                pi->dying = 1;
                nb_instance_kill(pi->inst, "shutdown");
            }
        }
    }
    /* Pools already empty free themselves now; the others as their instances exit. */
    nb_list_foreach(it, tmp, &s->pools)
    {
        pool_maybe_free(nb_list_entry(it, struct nb_pool, link));
    }
}

void nb_sched_free(struct nb_sched *s)
{
    free(s->runtimes_dir);
    free(s);
}
