/*
 * queue.c: the durable async queue (see queue.h for the design).
 *
 * State on the loop:
 *   - lanes: "service/function" (or "#webhook") -> FIFO of due entries,
 *     the number running and the limit; lanes with due entries are on the
 *     `active` list, so dispatching does not scan idle lanes;
 *   - a min-heap of entries not yet due (retry backoff), one uv timer for
 *     the earliest;
 *   - `pending`: ops waiting for the next batch, and at most one batch
 *     committing on a worker thread.
 * An entry exists from the commit of its insert (or from start-up) to the
 * commit of its claim; from then on the job is the caller's until
 * nb_queue_done.
 */
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/list.h"
#include "base/log.h"
#include "base/map.h"
#include "base/util.h"

#define MAX_BATCH 2048 /* ops per transaction */
#define FAILED_BATCH_DELAY_MS 1000
#define PRUNE_EVERY_MS (3600 * 1000)
#define KEEP_FINISHED_MS (7LL * 86400 * 1000)
#define WEBHOOK_LIMIT 4

struct lane {
    char *key;
    struct nb_list ready; /* struct entry, due, FIFO */
    unsigned nready;
    unsigned running;
    unsigned limit;
    int active;
    struct nb_list active_link;
};

struct entry {
    struct nb_list link;
    int64_t seq;
    int64_t next_ms;
    struct lane *lane;
    char id[40];
};

enum pend_type { P_INSERT, P_CLAIM, P_FINISH, P_RETRY };

struct pend {
    struct nb_store_qop op;
    enum pend_type type;
    int joined; /* must commit in the same batch as the op before it */
    /* P_INSERT */
    nb_queue_enqueued_fn cb;
    void *cb_arg;
    char *timer_trigger;
    /* P_CLAIM / P_RETRY */
    struct entry *entry;
    struct lane *lane;
};

struct batch {
    uv_work_t work;
    struct nb_queue *q;
    struct pend **v;
    size_t n;
    int rc;
    struct nb_err err;
};

struct nb_queue {
    uv_loop_t *loop;
    struct nb_store_queue *db;
    nb_queue_run_fn run;
    void *udata;
    struct nb_map lanes;
    struct nb_list active;
    struct entry **heap; /* delayed entries by next_ms */
    size_t nheap, capheap;
    uv_timer_t timer;
    uv_timer_t prune_timer;
    uv_check_t gather; /* commits enqueues after the loop has read every ready request */
    int gathering;
    int timer_armed;
    int64_t timer_due;
    struct pend **pending;
    size_t npending, cappending;
    int committing;
    int retry_wait; /* a failed batch: wait before the next */
    int started, stopped, closed;
    unsigned nrunning;
    unsigned reads; /* get/list/prune in flight */
    uint64_t enqueued, commits, committed_ops;
};

/* ---- lanes and entries ---- */

static const char *lane_key(int kind, const char *service, const char *function, char *buf,
                            size_t len)
{
    if (kind == NB_QUEUE_WEBHOOK)
        return NB_QUEUE_WEBHOOK_LANE;
    snprintf(buf, len, "%s/%s", service, function);
    return buf;
}

static struct lane *get_lane(struct nb_queue *q, const char *key)
{
    struct lane *l = nb_map_get(&q->lanes, key);
    if (l)
        return l;
    l = nb_xcalloc(1, sizeof(*l));
    l->key = nb_xstrdup(key);
    nb_list_init(&l->ready);
    nb_list_init(&l->active_link);
    l->limit = strcmp(key, NB_QUEUE_WEBHOOK_LANE) == 0 ? WEBHOOK_LIMIT : NB_QUEUE_DEFAULT_LIMIT;
    nb_map_put(&q->lanes, key, l);
    return l;
}

static void lane_push(struct nb_queue *q, struct lane *l, struct entry *e)
{
    nb_list_push(&l->ready, &e->link);
    l->nready++;
    if (!l->active) {
        l->active = 1;
        nb_list_push(&q->active, &l->active_link);
    }
}

static void heap_swap(struct nb_queue *q, size_t a, size_t b)
{
    struct entry *t = q->heap[a];
    q->heap[a] = q->heap[b];
    q->heap[b] = t;
}

static void heap_push(struct nb_queue *q, struct entry *e)
{
    if (q->nheap == q->capheap) {
        q->capheap = q->capheap ? q->capheap * 2 : 64;
        q->heap = nb_xrealloc(q->heap, q->capheap * sizeof(*q->heap));
    }
    size_t i = q->nheap++;
    q->heap[i] = e;
    while (i > 0 && q->heap[(i - 1) / 2]->next_ms > q->heap[i]->next_ms) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static struct entry *heap_pop(struct nb_queue *q)
{
    struct entry *top = q->heap[0];
    q->heap[0] = q->heap[--q->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->nheap && q->heap[l]->next_ms < q->heap[m]->next_ms)
            m = l;
        if (r < q->nheap && q->heap[r]->next_ms < q->heap[m]->next_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(q, i, m);
        i = m;
    }
    return top;
}

static void pump(struct nb_queue *q);
static void kick(struct nb_queue *q);

static void arm_timer(struct nb_queue *q);

static void on_timer(uv_timer_t *t)
{
    struct nb_queue *q = t->data;
    q->timer_armed = 0;
    if (q->retry_wait) {
        q->retry_wait = 0;
        kick(q);
    }
    int64_t now = nb_wall_ms();
    while (q->nheap > 0 && q->heap[0]->next_ms <= now) {
        struct entry *e = heap_pop(q);
        lane_push(q, e->lane, e);
    }
    arm_timer(q);
    pump(q);
}

static void arm_timer(struct nb_queue *q)
{
    if (q->closed)
        return;
    int64_t due = -1;
    if (q->nheap > 0)
        due = q->heap[0]->next_ms;
    if (q->retry_wait) {
        int64_t w = nb_wall_ms() + FAILED_BATCH_DELAY_MS;
        if (due < 0 || w < due)
            due = w;
    }
    if (due < 0) {
        if (q->timer_armed)
            uv_timer_stop(&q->timer);
        q->timer_armed = 0;
        return;
    }
    if (q->timer_armed && q->timer_due == due)
        return;
    int64_t wait = due - nb_wall_ms();
    uv_timer_start(&q->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
    q->timer_armed = 1;
    q->timer_due = due;
}

/* A durable queued row enters the index: due now (its lane) or later (the heap). */
static void index_entry(struct nb_queue *q, struct entry *e)
{
    if (e->next_ms > nb_wall_ms()) {
        heap_push(q, e);
        arm_timer(q);
    } else {
        lane_push(q, e->lane, e);
    }
}

static void add_entry(struct nb_queue *q, int64_t seq, const char *id, int kind,
                      const char *service, const char *function, int64_t next_ms)
{
    char buf[300];
    struct entry *e = nb_xcalloc(1, sizeof(*e));
    nb_list_init(&e->link);
    e->seq = seq;
    e->next_ms = next_ms;
    snprintf(e->id, sizeof(e->id), "%s", id ? id : "");
    e->lane = get_lane(q, lane_key(kind, service, function, buf, sizeof(buf)));
    index_entry(q, e);
}

/* ---- batches ---- */

static void pend_free(struct pend *p)
{
    struct nb_store_qrow *r = &p->op.row;
    if (p->type == P_INSERT) {
        free(r->id);
        free(r->service);
        free(r->function);
        free(r->qualifier);
        free(r->meta);
        free(r->payload);
        free(p->timer_trigger);
    } else if (p->type == P_CLAIM) {
        nb_store_qrow_release(r);
    } else if (p->type == P_FINISH) {
        free(r->result);
        free(r->error);
    } else {
        free(r->error);
        free(p->entry);
    }
    free(p);
}

static void push_pend(struct nb_queue *q, struct pend *p)
{
    if (q->npending == q->cappending) {
        q->cappending = q->cappending ? q->cappending * 2 : 256;
        q->pending = nb_xrealloc(q->pending, q->cappending * sizeof(*q->pending));
    }
    q->pending[q->npending++] = p;
}

static void commit_work(uv_work_t *w)
{
    struct batch *b = w->data;
    struct nb_store_qop *ops = nb_xcalloc(b->n, sizeof(*ops));
    for (size_t i = 0; i < b->n; i++)
        ops[i] = b->v[i]->op;
    b->rc = nb_store_queue_apply(b->q->db, ops, b->n, &b->err);
    for (size_t i = 0; i < b->n; i++)
        b->v[i]->op = ops[i];
    free(ops);
}

static void run_claimed(struct nb_queue *q, struct pend *p)
{
    struct nb_store_qrow *r = &p->op.row;
    if (q->stopped) { /* claimed as the queue stopped: give it back, uncounted */
        struct pend *g = nb_xcalloc(1, sizeof(*g));
        g->type = P_RETRY;
        g->op.kind = NB_QOP_RETRY;
        g->op.refund = 1;
        g->op.row.seq = r->seq;
        g->op.row.next_ms = nb_wall_ms();
        g->entry = nb_steal_pointer(&p->entry);
        g->lane = p->lane;
        p->lane->running--;
        push_pend(q, g);
        return;
    }
    struct nb_queue_job *job = nb_xcalloc(1, sizeof(*job));
    job->seq = r->seq;
    snprintf(job->id, sizeof(job->id), "%s", p->entry->id);
    job->service = nb_steal_pointer(&r->service);
    job->function = nb_steal_pointer(&r->function);
    job->qualifier = nb_steal_pointer(&r->qualifier);
    job->kind = r->kind;
    job->attempts = r->attempts;
    job->created_ms = r->created_ms;
    job->meta = nb_steal_pointer(&r->meta);
    job->payload = nb_steal_pointer(&r->payload);
    job->payload_len = r->payload_len;
    job->priv = p->lane;
    free(p->entry);
    p->entry = NULL;
    q->nrunning++;
    q->run(job, q->udata);
}

static void after_pend(struct nb_queue *q, struct pend *p, int rc)
{
    struct nb_store_qrow *r = &p->op.row;
    switch (p->type) {
    case P_INSERT:
        if (rc == 0 && p->op.applied) {
            q->enqueued++;
            add_entry(q, r->seq, r->id, r->kind, r->service, r->function, r->next_ms);
        }
        if (p->cb)
            p->cb(rc < 0 ? rc : p->op.applied ? 0 : -EALREADY, r->id, p->cb_arg);
        break;
    case P_CLAIM:
        if (rc == 0 && p->op.applied) {
            run_claimed(q, p);
        } else {
            p->lane->running--;
            if (rc < 0) /* could not claim: try again later */
                lane_push(q, p->lane, p->entry);
            else
                free(p->entry); /* the row is gone or no longer queued */
            p->entry = NULL;
        }
        break;
    case P_RETRY:
        if (rc == 0 && p->op.applied) {
            struct entry *e = nb_steal_pointer(&p->entry);
            nb_list_init(&e->link);
            e->seq = r->seq;
            e->next_ms = r->next_ms;
            e->lane = p->lane;
            index_entry(q, e);
        }
        break;
    case P_FINISH:
        break;
    }
}

static void commit_after(uv_work_t *w, int status)
{
    struct batch *b = w->data;
    struct nb_queue *q = b->q;
    (void)status;
    q->committing = 0;
    if (b->rc < 0) {
        nb_error("queue", "commit of %zu ops failed: %s", b->n, b->err.msg);
        /* writes of results and retries must not be lost: put them back first */
        size_t keep = 0;
        for (size_t i = 0; i < b->n; i++)
            if (b->v[i]->type == P_FINISH || b->v[i]->type == P_RETRY)
                keep++;
        struct pend **old = q->pending;
        size_t nold = q->npending;
        q->pending = nb_xcalloc(keep + nold + 16, sizeof(*q->pending));
        q->cappending = keep + nold + 16;
        q->npending = 0;
        for (size_t i = 0; i < b->n; i++) {
            struct pend *p = b->v[i];
            if (p->type == P_FINISH || p->type == P_RETRY) {
                push_pend(q, p);
            } else {
                after_pend(q, p, b->rc);
                pend_free(p);
            }
        }
        for (size_t i = 0; i < nold; i++)
            push_pend(q, old[i]);
        free(old);
        q->retry_wait = 1;
        arm_timer(q);
    } else {
        q->commits++;
        q->committed_ops += b->n;
        for (size_t i = 0; i < b->n; i++) {
            after_pend(q, b->v[i], 0);
            pend_free(b->v[i]);
        }
    }
    free(b->v);
    free(b);
    kick(q);
    pump(q);
}

static void kick(struct nb_queue *q)
{
    if (q->committing || q->retry_wait || q->npending == 0)
        return;
    size_t n = q->npending;
    if (n > MAX_BATCH) {
        n = MAX_BATCH;
        while (n < q->npending && q->pending[n]->joined)
            n++; /* keep a finish together with its follow-ups */
    }
    struct batch *b = nb_xcalloc(1, sizeof(*b));
    b->q = q;
    b->n = n;
    b->v = nb_xmalloc(n * sizeof(*b->v));
    memcpy(b->v, q->pending, n * sizeof(*b->v));
    memmove(q->pending, q->pending + n, (q->npending - n) * sizeof(*q->pending));
    q->npending -= n;
    b->work.data = b;
    q->committing = 1;
    uv_queue_work(q->loop, &b->work, commit_work, commit_after);
}

/* ---- dispatch ---- */

static void pump(struct nb_queue *q)
{
    if (!q->started || q->stopped)
        return;
    struct nb_list *it, *tmp;
    nb_list_foreach(it, tmp, &q->active)
    {
        struct lane *l = nb_list_entry(it, struct lane, active_link);
        while (l->nready > 0 && l->running < l->limit) {
            struct entry *e = nb_list_entry(l->ready.next, struct entry, link);
            nb_list_del(&e->link);
            l->nready--;
            l->running++;
            struct pend *p = nb_xcalloc(1, sizeof(*p));
            p->type = P_CLAIM;
            p->op.kind = NB_QOP_CLAIM;
            p->op.row.seq = e->seq;
            p->op.row.started_ms = nb_wall_ms();
            p->entry = e;
            p->lane = l;
            push_pend(q, p);
        }
        if (l->nready == 0) {
            l->active = 0;
            nb_list_del(&l->active_link);
        }
    }
    kick(q);
}

static struct pend *insert_pend(const struct nb_queue_item *it, char *id_out)
{
    struct pend *p = nb_xcalloc(1, sizeof(*p));
    p->type = P_INSERT;
    p->op.kind = NB_QOP_INSERT;
    struct nb_store_qrow *r = &p->op.row;
    char id[37];
    if (it->id == NULL)
        nb_uuid(id);
    r->id = nb_xstrdup(it->id ? it->id : id);
    if (id_out)
        memcpy(id_out, r->id, strlen(r->id) + 1 > 37 ? 37 : strlen(r->id) + 1);
    r->service = nb_xstrdup(it->service);
    r->function = nb_xstrdup(it->function);
    r->qualifier = it->qualifier ? nb_xstrdup(it->qualifier) : NULL;
    r->kind = it->kind;
    r->meta = it->meta ? nb_xstrdup(it->meta) : NULL;
    r->payload = nb_xmalloc(it->payload_len + 1);
    if (it->payload_len)
        memcpy(r->payload, it->payload, it->payload_len);
    r->payload_len = it->payload_len;
    r->created_ms = nb_wall_ms();
    r->next_ms = it->not_before_ms > 0 ? it->not_before_ms : r->created_ms;
    if (it->timer_trigger) {
        p->timer_trigger = nb_xstrdup(it->timer_trigger);
        p->op.timer_trigger = p->timer_trigger;
        p->op.timer_ms = it->timer_ms;
    }
    return p;
}

static void on_gather(uv_check_t *h)
{
    struct nb_queue *q = h->data;
    uv_check_stop(h);
    q->gathering = 0;
    kick(q);
}

void nb_queue_enqueue(struct nb_queue *q, const struct nb_queue_item *it, nb_queue_enqueued_fn cb,
                      void *arg, char *id_out)
{
    struct pend *p = insert_pend(it, id_out);
    p->cb = cb;
    p->cb_arg = arg;
    push_pend(q, p);
    /*
     * Not now: the other requests this loop iteration reads would each wait
     * for a whole commit behind this one.  After the poll phase, they all
     * go in one batch.
     */
    if (!q->gathering && !q->closed) {
        q->gathering = 1;
        uv_check_start(&q->gather, on_gather);
    } else if (q->closed) {
        kick(q);
    }
}

void nb_queue_done(struct nb_queue *q, struct nb_queue_job *job, const struct nb_queue_outcome *o)
{
    struct lane *l = job->priv;
    l->running--;
    q->nrunning--;
    struct pend *p = nb_xcalloc(1, sizeof(*p));
    struct nb_store_qrow *r = &p->op.row;
    r->seq = job->seq;
    r->error = o->error ? nb_xstrdup(o->error) : NULL;
    if (o->state == NB_QSTATE_QUEUED) {
        p->type = P_RETRY;
        p->op.kind = NB_QOP_RETRY;
        p->op.refund = o->refund;
        r->next_ms = o->retry_at_ms;
        p->entry = nb_xcalloc(1, sizeof(*p->entry));
        snprintf(p->entry->id, sizeof(p->entry->id), "%s", job->id);
        p->lane = l;
        push_pend(q, p);
    } else {
        p->type = P_FINISH;
        p->op.kind = NB_QOP_FINISH;
        r->state = o->state;
        r->finished_ms = nb_wall_ms();
        if (o->result) {
            r->result = nb_xmalloc(o->result_len + 1);
            memcpy(r->result, o->result, o->result_len);
            r->result_len = o->result_len;
        }
        r->http_status = o->http_status;
        push_pend(q, p);
        for (size_t i = 0; i < o->nfollowups; i++) {
            struct pend *f = insert_pend(&o->followups[i], NULL);
            f->joined = 1;
            push_pend(q, f);
        }
    }
    free(job->service);
    free(job->function);
    free(job->qualifier);
    free(job->meta);
    free(job->payload);
    free(job);
    kick(q);
    pump(q);
}

void nb_queue_set_limit(struct nb_queue *q, const char *lane, unsigned limit)
{
    struct lane *l = get_lane(q, lane);
    l->limit = limit ? limit : 1;
    pump(q);
}

void nb_queue_stats(const struct nb_queue *q, struct nb_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&q->lanes, &i, &k, &v);)
        out->ready += ((struct lane *)v)->nready;
    out->delayed = (unsigned)q->nheap;
    out->running = q->nrunning;
    out->enqueued = q->enqueued;
    out->commits = q->commits;
    out->committed_ops = q->committed_ops;
}

unsigned nb_queue_busy(const struct nb_queue *q)
{
    return (unsigned)q->npending + (unsigned)q->committing + q->reads;
}

/* ---- reads ---- */

struct read_job {
    uv_work_t work;
    struct nb_queue *q;
    char *id, *service, *function;
    size_t limit;
    struct nb_store_qrow row;
    struct nb_store_qrow *rows;
    size_t n;
    int rc;
    struct nb_err err;
    nb_queue_get_fn get_cb;
    nb_queue_list_fn list_cb;
    void *arg;
};

static void read_work(uv_work_t *w)
{
    struct read_job *j = w->data;
    if (j->get_cb)
        j->rc = nb_store_queue_get(j->q->db, j->id, &j->row, &j->err);
    else
        j->rc = nb_store_queue_list(j->q->db, j->service, j->function, j->limit, &j->rows, &j->n,
                                    &j->err);
}

static void read_after(uv_work_t *w, int status)
{
    struct read_job *j = w->data;
    (void)status;
    j->q->reads--;
    if (j->get_cb) {
        j->get_cb(j->rc, j->rc == 0 ? &j->row : NULL, &j->err, j->arg);
        nb_store_qrow_release(&j->row);
    } else {
        j->list_cb(j->rc, j->rows, j->n, &j->err, j->arg);
        nb_store_qrows_free(j->rows, j->n);
    }
    free(j->id);
    free(j->service);
    free(j->function);
    free(j);
}

void nb_queue_get(struct nb_queue *q, const char *id, nb_queue_get_fn cb, void *arg)
{
    struct read_job *j = nb_xcalloc(1, sizeof(*j));
    j->q = q;
    j->id = nb_xstrdup(id);
    j->get_cb = cb;
    j->arg = arg;
    j->work.data = j;
    q->reads++;
    uv_queue_work(q->loop, &j->work, read_work, read_after);
}

void nb_queue_list(struct nb_queue *q, const char *service, const char *function, size_t limit,
                   nb_queue_list_fn cb, void *arg)
{
    struct read_job *j = nb_xcalloc(1, sizeof(*j));
    j->q = q;
    j->service = service ? nb_xstrdup(service) : NULL;
    j->function = function ? nb_xstrdup(function) : NULL;
    j->limit = limit;
    j->list_cb = cb;
    j->arg = arg;
    j->work.data = j;
    q->reads++;
    uv_queue_work(q->loop, &j->work, read_work, read_after);
}

/* ---- pruning finished rows ---- */

struct prune_job {
    uv_work_t work;
    struct nb_queue *q;
    int n, rc;
    struct nb_err err;
};

static void prune_work(uv_work_t *w)
{
    struct prune_job *j = w->data;
    j->rc = nb_store_queue_prune(j->q->db, nb_wall_ms() - KEEP_FINISHED_MS, &j->n, &j->err);
}

static void prune_after(uv_work_t *w, int status)
{
    struct prune_job *j = w->data;
    (void)status;
    j->q->reads--;
    if (j->rc < 0)
        nb_warn("queue", "pruning finished invocations: %s", j->err.msg);
    else if (j->n > 0)
        nb_info("queue", "pruned %d invocations finished more than 7 days ago", j->n);
    free(j);
}

static void on_prune_timer(uv_timer_t *t)
{
    struct nb_queue *q = t->data;
    struct prune_job *j = nb_xcalloc(1, sizeof(*j));
    j->q = q;
    j->work.data = j;
    q->reads++;
    uv_queue_work(q->loop, &j->work, prune_work, prune_after);
}

/* ---- lifecycle ---- */

static void on_scanned(const struct nb_store_qrow *row, void *arg)
{
    struct nb_queue *q = arg;
    add_entry(q, row->seq, row->id, row->kind, row->service, row->function, row->next_ms);
}

int nb_queue_open(uv_loop_t *loop, struct nb_store *store, nb_queue_run_fn run, void *udata,
                  struct nb_queue **out, struct nb_err *err)
{
    struct nb_queue *q = nb_xcalloc(1, sizeof(*q));
    q->loop = loop;
    q->run = run;
    q->udata = udata;
    nb_map_init(&q->lanes);
    nb_list_init(&q->active);
    uv_timer_init(loop, &q->timer);
    uv_timer_init(loop, &q->prune_timer);
    uv_check_init(loop, &q->gather);
    q->timer.data = q->prune_timer.data = q->gather.data = q;
    int r = nb_store_queue_open(store, &q->db, err);
    int requeued = 0;
    if (r == 0)
        r = nb_store_queue_recover(q->db, &requeued, err);
    if (r == 0)
        r = nb_store_queue_scan(q->db, on_scanned, q, err);
    if (r < 0) {
        nb_queue_stop(q);
        uv_run(loop, UV_RUN_NOWAIT); /* let the handles close */
        nb_queue_free(q);
        return r;
    }
    struct nb_queue_stats st;
    nb_queue_stats(q, &st);
    nb_info("queue", "async queue open: %u queued (%d were running at the last stop), %u delayed",
            st.ready, requeued, st.delayed);
    *out = q;
    return 0;
}

void nb_queue_start(struct nb_queue *q)
{
    q->started = 1;
    uv_timer_start(&q->prune_timer, on_prune_timer, 1000, PRUNE_EVERY_MS);
    pump(q);
}

void nb_queue_stop(struct nb_queue *q)
{
    if (q->closed)
        return;
    q->stopped = 1;
    q->closed = 1;
    uv_close((uv_handle_t *)&q->timer, NULL);
    uv_close((uv_handle_t *)&q->prune_timer, NULL);
    uv_close((uv_handle_t *)&q->gather, NULL);
    q->gathering = 0;
    kick(q);
}

void nb_queue_free(struct nb_queue *q)
{
    if (q == NULL)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&q->lanes, &i, &k, &v);) {
        struct lane *l = v;
        while (!nb_list_empty(&l->ready)) {
            struct entry *e = nb_list_entry(l->ready.next, struct entry, link);
            nb_list_del(&e->link);
            free(e);
        }
        free(l->key);
        free(l);
    }
    nb_map_release(&q->lanes);
    for (size_t i = 0; i < q->nheap; i++)
        free(q->heap[i]);
    free(q->heap);
    for (size_t i = 0; i < q->npending; i++)
        pend_free(q->pending[i]);
    free(q->pending);
    nb_store_queue_close(q->db);
    free(q);
}
