/*
 * sched.c: per-function-version instance pools (see sched.h).
 *
 * Every invocation submitted to a pool is wrapped in a `struct call` that
 * remembers the caller's done callback: the pool interposes its own to
 * account for the instance's load, then hands the result back.  Instances
 * are `struct pinst`; both lists are intrusive.  Nothing here blocks.
 *
 * Timers: one idle timer per instance (scale to zero), and per pool one
 * queue timer due when the oldest waiting call reaches the queue timeout.
 * Calls leave the queue only from its head (dispatch, timeout, init
 * failure), so the oldest call is always the head and one timer covers the
 * whole FIFO: when it fires it expires the heads that are due and re-arms
 * for the next one.
 */
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/list.h"
#include "base/log.h"
#include "base/util.h"
#include "obs/logstore.h"

/* Families with pre-warmed instances, indexed by enum nb_runtime_family: name, runtime. */
#define NFAM 2
static const char *const fam_name[NFAM] = {"nodejs", "python3"};
static const char *const fam_runtime[NFAM] = {"nodejs20", "python3"};
#define REFILL_DELAY_MS 50     /* after a take: lets the specialized instance's INIT run first */
#define REFILL_BACKOFF_MS 1000 /* after a generic instance failed to start or died idle */

struct nb_sched {
    uv_loop_t *loop;
    char *runtimes_dir;
    struct nb_logstore *logs;
    struct nb_list pools;
    uint64_t next_instance;
    uint64_t instances_started, cold_starts, throttled;
    unsigned instances;
    int shutting_down;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
    /* pre-warmed generic instances (see "pre-warm" below) */
    int prewarm;              /* generic instances kept per runtime family; 0: off */
    struct nb_list gen[NFAM]; /* idle generic instances per family (struct gen) */
    unsigned ngen[NFAM];      /* entries in gen[] */
    unsigned gen_alive;       /* generic instances not yet exited nor specialized */
    unsigned gen_failures;    /* consecutive failed generic starts (back-off) */
    uv_timer_t refill;        /* refills the lists in the background */
    int refill_state;         /* 0 none, 1 initialized, 2 closing, 3 closed */
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
    uint64_t enq_ns; /* when it joined the queue (queue timeout) */
    int cold;        /* it waits for an instance that is starting for it */
};

struct nb_pool {
    struct nb_list link;
    struct nb_sched *s;
    struct nb_pool_config cfg;
    struct nb_list instances;
    struct nb_list pending;
    unsigned ninst, nstarting, npending;
    unsigned ndying; /* instances being stopped (in ninst until they exit) */
    unsigned nalloc; /* struct pinst not yet freed (their close callbacks pending) */
    int retired;
    int freeing;
    int nclosing;        /* pool timers whose close callbacks are pending */
    uv_timer_t deferred; /* fails calls whose instance could not even start */
    uv_timer_t qtimer;   /* queue timeout: due when the oldest waiting call is */
    uv_timer_t warm;     /* minInstances top-up after a back-off */
    struct nb_err start_err;
    unsigned start_failures;
    uint64_t warm_after_ns; /* minInstances top-ups wait until then after an init failure */
};

static void pool_pump(struct nb_pool *p);
static void pool_maybe_free(struct nb_pool *p);
static void sched_maybe_done(struct nb_sched *s);
struct gen;
static struct gen *take_generic(struct nb_sched *s, const struct nb_pool *p);
static void gen_taken(struct gen *g);
static struct nb_instance *gen_inst(struct gen *g);
static void on_idle(uv_timer_t *t);
static void queue_arm(struct nb_pool *p);
static void warm_backoff(struct nb_pool *p);

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
    out->throttled = s->throttled;
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
    snprintf(inv->error, sizeof(inv->error), "%.*s", (int)sizeof(inv->error) - 1, error);
    nb_buf_reset(&inv->result);
    if (body && len)
        nb_buf_append(&inv->result, body, len);
    if (inv->end_ns == 0)
        inv->end_ns = nb_now_ns();
    call_finish(c);
}

/* Takes the oldest waiting call off the queue. */
static struct call *queue_pop(struct nb_pool *p)
{
    struct call *c = nb_list_entry(p->pending.next, struct call, link);
    nb_list_del(&c->link);
    p->npending--;
    return c;
}

/* Marks pi as being stopped and kills it (its exit completes the rest). */
static void pinst_stop(struct pinst *pi, const char *reason)
{
    if (!pi->dying) {
        pi->dying = 1;
        pi->pool->ndying++;
    }
    nb_instance_kill(pi->inst, reason);
}

/* Instances neither stopping nor failed: what minInstances counts. */
static unsigned pool_live(const struct nb_pool *p)
{
    return p->ninst - p->ndying;
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
        if (p->retired && p->npending == 0)
            pinst_stop(pi, "function updated");
        else
            uv_timer_start(&pi->idle, on_idle, p->cfg.idle_timeout_ms, 0);
    }
}

/* ---- the queue timeout ---- */

/*
 * Expires the calls that have waited queue_timeout_ms at the head of the
 * queue (429 ResourceExhausted for the caller).  A call waiting for an
 * instance that is starting while the pool is below max_instances is not
 * throttled: it waits for that start, which initializationTimeout bounds.
 */
static void on_queue_timer(uv_timer_t *t)
{
    struct nb_pool *p = t->data;
    uint64_t now = nb_now_ns(), limit = (uint64_t)p->cfg.queue_timeout_ms * 1000000u;
    int starting_below_cap = p->nstarting > 0 && p->ninst < (unsigned)p->cfg.max_instances;
    unsigned expired = 0;
    while (!nb_list_empty(&p->pending) && !starting_below_cap) {
        struct call *c = nb_list_entry(p->pending.next, struct call, link);
        if (now - c->enq_ns < limit)
            break;
        queue_pop(p);
        expired++;
        p->s->throttled++;
        char msg[160];
        snprintf(msg, sizeof(msg), "waited %u ms for a free instance (maxInstances %d)",
                 p->cfg.queue_timeout_ms, p->cfg.max_instances);
        call_fail(c, NB_INV_THROTTLED, msg, NULL, 0);
    }
    if (expired)
        nb_debug("sched", "%s/%s: %u calls timed out in the queue", p->cfg.service, p->cfg.function,
                 expired);
    if (starting_below_cap && !nb_list_empty(&p->pending)) {
        /* look again soon: the start either serves the head or fails it */
        unsigned again = p->cfg.queue_timeout_ms / 10;
        uv_timer_start(&p->qtimer, on_queue_timer,
                       again < 10     ? 10
                       : again > 1000 ? 1000
                                      : again,
                       0);
        return;
    }
    queue_arm(p);
    pool_maybe_free(p);
}

/* Arms the queue timer for the head of the queue unless it is already armed. */
static void queue_arm(struct nb_pool *p)
{
    if (nb_list_empty(&p->pending) || uv_is_active((uv_handle_t *)&p->qtimer))
        return;
    struct call *c = nb_list_entry(p->pending.next, struct call, link);
    uint64_t waited_ms = (nb_now_ns() - c->enq_ns) / 1000000u;
    uint64_t due = waited_ms >= p->cfg.queue_timeout_ms ? 0 : p->cfg.queue_timeout_ms - waited_ms;
    uv_timer_start(&p->qtimer, on_queue_timer, due, 0);
}

/* ---- minInstances ---- */

#define WARM_BACKOFF_MS 5000

static void on_warm(uv_timer_t *t)
{
    pool_pump(t->data); /* pool_scale tops up to min_instances */
}

/* After a failed start: no minInstances top-up for WARM_BACKOFF_MS, then one. */
static void warm_backoff(struct nb_pool *p)
{
    p->warm_after_ns = nb_now_ns() + WARM_BACKOFF_MS * 1000000ull;
    if (p->cfg.min_instances > 0 && !p->retired)
        uv_timer_start(&p->warm, on_warm, WARM_BACKOFF_MS + 1, 0);
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
    struct nb_pool *p = pi->pool;
    if (pi->inflight != 0 || pi->dying)
        return;
    /* minInstances stay; the timer is armed again when this one next goes idle */
    if (!p->retired && pool_live(p) <= (unsigned)p->cfg.min_instances)
        return;
    pinst_stop(pi, "idle");
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
        nb_info("sched", "%s/%s: cold start: instance %s ready, init duration %.1f ms",
                p->cfg.service, p->cfg.function, pi->id, (double)pi->init_ns / 1e6);
        pool_pump(p);
        if (pi->inflight == 0 && !pi->dying)
            uv_timer_start(&pi->idle, on_idle, p->cfg.idle_timeout_ms, 0);
        return;
    }
    pi->dying = 1;
    p->ndying++;
    warm_backoff(p);
    nb_warn("sched", "%s/%s: instance %s failed to initialize: %s", p->cfg.service, p->cfg.function,
            pi->id, error ? error : "?");
    pool_log(p, NULL, "system", error ? error : "initialization failed",
             error ? strlen(error) : 21);
    /* The calls that were waiting for this instance get its error. */
    for (int i = 0; i < p->cfg.concurrency && !nb_list_empty(&p->pending); i++)
        call_fail(queue_pop(p), NB_INV_INIT_FAILED, error ? error : "initialization failed",
                  error_body, len);
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
    if (pi->dying)
        p->ndying--;
    nb_list_del(&pi->link);
    p->ninst--;
    p->s->instances--;
    if (!expected && pi->served == 0)
        warm_backoff(p); /* it died before serving anything: do not restart it in a loop */
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
        struct call *c = queue_pop(p);
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
    int r = -1;
    struct gen *g = take_generic(s, p);
    if (g) {
        struct nb_instance *gi = gen_inst(g);
        r = nb_instance_specialize(gi, &spec, &instance_cbs, pi, &err);
        if (r == 0) {
            gen_taken(g);
            pi->inst = gi;
            nb_debug("sched", "%s/%s: instance %s from a pre-warmed one", p->cfg.service,
                     p->cfg.function, pi->id);
        } else {
            nb_warn("sched", "%s/%s: cannot specialize a pre-warmed instance: %s", p->cfg.service,
                    p->cfg.function, err.msg);
            nb_instance_kill(gi, "specialization failed");
            memset(&err, 0, sizeof(err));
        }
    }
    if (r != 0)
        r = nb_instance_start(s->loop, &spec, &instance_cbs, pi, &pi->inst, &err);
    if (r < 0) {
        nb_error("sched", "%s/%s: cannot start an instance: %s", p->cfg.service, p->cfg.function,
                 err.msg);
        pool_log(p, NULL, "system", err.msg, strlen(err.msg));
        free(pi);
        p->start_err = err;
        p->start_failures++;
        warm_backoff(p);
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

/* ---- pre-warm ----
 *
 * Per runtime family (nodejs*, python3*) the scheduler keeps `prewarm`
 * generic instances started: sandbox, interpreter and shim, no code
 * (nb_instance_start_generic).  A cold start of a function without
 * internetAccess takes one and specializes it (its code mounted at /code,
 * its limit set, INIT sent) instead of spawning; a timer refills the list
 * shortly after, in the background.  A generic instance runs under a uid
 * drawn for it and keeps it after specialization (docs/security.md).
 */
struct gen {
    struct nb_list link;
    struct nb_sched *s;
    struct nb_instance *inst;
    int fam;
    int listed; /* in s->gen[fam] */
};

static int runtime_family(const char *rt)
{
    enum nb_runtime_family f = nb_runtime_family(rt, NULL);
    return f == NB_RT_NODEJS || f == NB_RT_PYTHON3 ? (int)f : -1;
}

static void on_refill(uv_timer_t *t);

/*
 * Refills in ms; after failures a back-off instead, doubling from
 * REFILL_BACKOFF_MS up to a minute (a runtime that cannot start is not
 * retried in a loop).  An earlier due refill stays.
 */
static void refill_arm(struct nb_sched *s, unsigned ms)
{
    if (s->refill_state != 1 || s->shutting_down)
        return;
    if (s->gen_failures > 0) {
        unsigned shift = s->gen_failures - 1 < 6 ? s->gen_failures - 1 : 6;
        unsigned b = REFILL_BACKOFF_MS << shift;
        if (ms < b)
            ms = b > 60000 ? 60000 : b;
    }
    if (uv_is_active((uv_handle_t *)&s->refill) && uv_timer_get_due_in(&s->refill) <= ms)
        return;
    uv_timer_start(&s->refill, on_refill, ms, 0);
}

static void gen_on_exit(struct nb_instance *inst, const char *reason, void *udata)
{
    (void)inst;
    struct gen *g = udata;
    struct nb_sched *s = g->s;
    if (g->listed) {
        nb_list_del(&g->link);
        s->ngen[g->fam]--;
        if (!s->shutting_down) {
            nb_warn("sched", "pre-warmed %s instance %s", fam_name[g->fam], reason);
            s->gen_failures++;
            refill_arm(s, REFILL_BACKOFF_MS);
        }
    }
    s->gen_alive--;
    free(g);
    sched_maybe_done(s);
}

static void gen_on_log(struct nb_instance *inst, struct nb_invocation *inv, const char *stream,
                       const char *msg, size_t len, void *udata)
{
    (void)inv;
    (void)udata;
    nb_debug("sched", "pre-warmed instance %s %s: %.*s", nb_instance_id(inst), stream, (int)len,
             msg);
}

static const struct nb_instance_callbacks gen_cbs = {.on_log = gen_on_log, .on_exit = gen_on_exit};

static void on_refill(uv_timer_t *t)
{
    struct nb_sched *s = t->data;
    for (int f = 0; f < NFAM && !s->shutting_down; f++) {
        while (s->ngen[f] < (unsigned)s->prewarm) {
            struct gen *g = nb_xcalloc(1, sizeof(*g));
            g->s = s;
            g->fam = f;
            char id[48];
            snprintf(id, sizeof(id), "g%llu-%d", (unsigned long long)++s->next_instance,
                     (int)getpid());
            struct nb_err err = {0};
            if (nb_instance_start_generic(s->loop, id, fam_runtime[f], s->runtimes_dir, &gen_cbs, g,
                                          &g->inst, &err) < 0) {
                nb_warn("sched", "cannot start a pre-warmed %s instance: %s", fam_name[f], err.msg);
                free(g);
                s->gen_failures++;
                refill_arm(s, REFILL_BACKOFF_MS);
                return;
            }
            g->listed = 1;
            nb_list_push(&s->gen[f], &g->link);
            s->ngen[f]++;
            s->gen_alive++;
        }
    }
}

/* A pre-warmed instance for p's function (taken out of the list), or NULL. */
static struct gen *take_generic(struct nb_sched *s, const struct nb_pool *p)
{
    int f = runtime_family(p->cfg.runtime);
    if (s->prewarm <= 0 || f < 0 || p->cfg.internet || nb_list_empty(&s->gen[f]))
        return NULL;
    struct gen *g = nb_list_entry(s->gen[f].next, struct gen, link);
    nb_list_del(&g->link);
    s->ngen[f]--;
    /*
     * If specialization works the instance is the pool's (its callbacks are
     * replaced) and gen_taken frees g; if it fails, the caller kills it and
     * its exit still reaches gen_on_exit, which frees g.
     */
    g->listed = 0;
    s->gen_failures = 0;
    refill_arm(s, REFILL_DELAY_MS);
    return g;
}

static struct nb_instance *gen_inst(struct gen *g)
{
    return g->inst;
}

static void gen_taken(struct gen *g)
{
    g->s->gen_alive--;
    free(g);
}

void nb_sched_set_prewarm(struct nb_sched *s, int per_runtime)
{
    s->prewarm = per_runtime < 0 ? 0 : per_runtime;
    if (s->refill_state == 0) {
        for (int f = 0; f < NFAM; f++)
            nb_list_init(&s->gen[f]);
        uv_timer_init(s->loop, &s->refill);
        s->refill.data = s;
        s->refill_state = 1;
    }
    if (s->prewarm > 0)
        refill_arm(s, 0);
}

/* ---- pools ---- */

static void pool_scale(struct nb_pool *p);

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
    if (p->cfg.min_instances < 0)
        p->cfg.min_instances = 0;
    if (p->cfg.min_instances > p->cfg.max_instances)
        p->cfg.min_instances = p->cfg.max_instances;
    if (p->cfg.max_queue < 1)
        p->cfg.max_queue = 1000;
    if (p->cfg.idle_timeout_ms == 0)
        p->cfg.idle_timeout_ms = 300 * 1000;
    if (p->cfg.queue_timeout_ms == 0)
        p->cfg.queue_timeout_ms = 10 * 1000;
    if (p->cfg.init_timeout_s < 1)
        p->cfg.init_timeout_s = 3;
    nb_list_init(&p->instances);
    nb_list_init(&p->pending);
    uv_timer_init(s->loop, &p->deferred);
    p->deferred.data = p;
    uv_timer_init(s->loop, &p->qtimer);
    p->qtimer.data = p;
    uv_timer_init(s->loop, &p->warm);
    p->warm.data = p;
    nb_list_push(&s->pools, &p->link);
    pool_scale(p); /* minInstances */
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
    /* a cold call paid for its instance's start: it reports that init duration */
    c->inv->init_ns = c->cold ? pi->init_ns : 0;
    pi->served++;
    int r = nb_instance_invoke(pi->inst, c->inv);
    if (r < 0) {
        pi->inflight--;
        if (!pi->dying) {
            pi->dying = 1;
            pi->pool->ndying++;
        }
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
            return;
        p->s->cold_starts++;
    }
    /* minInstances: kept started, except while a recent start failed */
    if (p->retired || nb_now_ns() < p->warm_after_ns)
        return;
    while (pool_live(p) < (unsigned)p->cfg.min_instances &&
           p->ninst < (unsigned)p->cfg.max_instances) {
        if (start_instance(p) < 0)
            return;
    }
}

static void pool_pump(struct nb_pool *p)
{
    while (!nb_list_empty(&p->pending)) {
        struct pinst *pi = pick_ready(p);
        if (pi == NULL)
            break;
        struct call *c = queue_pop(p);
        if (dispatch(pi, c) < 0) {
            nb_list_push(p->pending.next, &c->link); /* back at the head: it is the oldest */
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
        p->s->throttled++;
        return -EAGAIN;
    }
    c->enq_ns = nb_now_ns();
    nb_list_push(&p->pending, &c->link);
    p->npending++;
    pool_scale(p);
    /*
     * Cold: an instance is starting for this call (the queue up to it fits
     * in what the starting instances will take).  Calls queued behind busy
     * instances at max_instances are throttled, not cold.
     */
    c->cold = p->npending <= p->nstarting * (unsigned)p->cfg.concurrency;
    if (cold)
        *cold = c->cold;
    queue_arm(p);
    return 0;
}

static void pool_closed(uv_handle_t *h)
{
    struct nb_pool *p = h->data;
    struct nb_sched *s = p->s;
    if (--p->nclosing > 0)
        return;
    config_release(&p->cfg);
    free(p);
    sched_maybe_done(s);
}

static void refill_closed(uv_handle_t *h)
{
    struct nb_sched *s = h->data;
    s->refill_state = 3;
    sched_maybe_done(s);
}

/* At shutdown: done once every pool and every generic instance is gone. */
static void sched_maybe_done(struct nb_sched *s)
{
    if (!s->shutting_down || !s->shutdown_done || !nb_list_empty(&s->pools) || s->gen_alive > 0 ||
        s->refill_state == 1 || s->refill_state == 2)
        return;
    void (*done)(void *) = s->shutdown_done;
    s->shutdown_done = NULL;
    done(s->shutdown_arg);
}

static void pool_maybe_free(struct nb_pool *p)
{
    if (!p->retired || p->freeing || p->ninst > 0 || p->npending > 0 || p->nalloc > 0 ||
        !nb_list_empty(&p->instances))
        return;
    p->freeing = 1;
    nb_list_del(&p->link);
    p->nclosing = 3;
    uv_close((uv_handle_t *)&p->deferred, pool_closed);
    uv_close((uv_handle_t *)&p->qtimer, pool_closed);
    uv_close((uv_handle_t *)&p->warm, pool_closed);
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
        if (pi->inflight == 0 && !pi->dying && (pi->ready || p->npending == 0))
            pinst_stop(pi, "function updated");
    }
    pool_maybe_free(p);
}

void nb_sched_shutdown(struct nb_sched *s, void (*done)(void *), void *arg)
{
    s->shutting_down = 1;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    if (s->refill_state == 1) {
        /* Generic instances die with the refill timer; each exit is counted down. */
        for (int f = 0; f < NFAM; f++) {
            struct nb_list *gt, *gtmp;
            nb_list_foreach(gt, gtmp, &s->gen[f])
            {
                struct gen *g = nb_list_entry(gt, struct gen, link);
                nb_list_del(&g->link);
                g->listed = 0;
                s->ngen[f]--;
                nb_instance_kill(g->inst, "shutdown");
            }
        }
        s->refill_state = 2;
        uv_close((uv_handle_t *)&s->refill, refill_closed);
    }
    if (nb_list_empty(&s->pools)) {
        sched_maybe_done(s);
        return;
    }
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &s->pools)
    {
        struct nb_pool *p = nb_list_entry(it, struct nb_pool, link);
        p->retired = 1;
        while (!nb_list_empty(&p->pending))
            call_fail(queue_pop(p), NB_INV_CANCELLED, "the platform is shutting down", NULL, 0);
        struct nb_list *jt, *jtmp;
        nb_list_foreach(jt, jtmp, &p->instances)
        {
            struct pinst *pi = nb_list_entry(jt, struct pinst, link);
            if (!pi->dying)
                pinst_stop(pi, "shutdown");
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
