/*
 * logstore.c: functions' logs as NDJSON files with rotation (see logstore.h).
 *
 * OVERALL DESIGN
 *
 * Each function's log is DIR/<service>/<function>.log, opened lazily with
 * O_APPEND and kept open in a map (at most MAX_OPEN fds; the least recently
 * used is closed beyond that).  A line is encoded straight into bytes (the
 * output of jansson's json_dumps(JSON_COMPACT) of the same object, byte for
 * byte, without building one) and appended to the file's pending buffer;
 * nb_logstore_flush, which the daemon calls once per loop iteration, writes
 * each file's pending bytes with one write(2).  A pending buffer never holds
 * more than PENDING_MAX bytes: a line that would pass it flushes first (and
 * a line that alone passes it is written at once).  Closing an fd (LRU,
 * rotation, nb_logstore_close) flushes first; removing a function drops its
 * pending bytes.  Before a line that would take the file (written plus
 * pending bytes) past max_bytes, the pending bytes are written and the file
 * is renamed to .log.1 (dropping the previous one) and a new one is opened,
 * so a function holds at most 2 x max_bytes (plus one line when a single
 * line is larger than max_bytes).
 *
 * Locking: `lock` guards the open-file map, the pending buffers and
 * rotation; a query writes the function's pending bytes and opens .log.1 and
 * .log under it (so it sees every line appended before it started, and a
 * rotation cannot slip between the two opens) and then reads without it.
 * Followers live in their own map guarded by the recursive `follow_lock`,
 * which is held while callbacks run: a callback may unfollow (itself or
 * another) or follow; a removed follower is only marked dead during dispatch
 * and freed when the outermost dispatch ends.
 *
 * Lines: messages over 16 KiB are cut at a UTF-8 boundary, end in "..." and
 * carry "truncated":true; invalid UTF-8 and NUL bytes become U+FFFD so every
 * line is valid JSON for any reader.  A time_ms of 0 means now.  Service and
 * function names with '/', "..", control characters, or over 256 bytes are
 * refused (append and remove do nothing, query returns -EINVAL, follow NULL).
 * Query: limit 0 means no limit.
 */
#include "obs/logstore.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/json.h"
#include "base/list.h"
#include "base/map.h"
#include "base/util.h"

#define MAX_MESSAGE (16 * 1024)
#define MAX_OPEN 256
#define MAX_NAME 256
#define PENDING_MAX (64 * 1024) /* cap on a file's pending bytes */
#define PENDING_KEEP 4096       /* a larger pending buffer is freed once written */
#define ENCODE_STACK 4096       /* lines whose bound fits are encoded on the stack */

struct fn_file {
    int fd;
    uint64_t size; /* bytes in the file (pending ones not counted) */
    uint64_t last_use;
    char *pending; /* encoded lines not yet written, at most PENDING_MAX bytes */
    size_t pending_len, pending_cap;
    struct nb_list dirty; /* in ls->dirty while pending_len > 0 */
};

struct follower {
    struct follower *next, *prev;
    char *key;
    nb_log_follow_fn cb;
    void *arg;
    int dead;
};

struct follow_list {
    struct follower *head;
};

struct nb_logstore {
    char *dir;
    uint64_t max_bytes;

    pthread_mutex_t lock; /* files, nopen, tick, dirty, pending buffers, rotation */
    struct nb_map files;  /* "service/function" -> struct fn_file */
    struct nb_list dirty; /* the files with pending bytes (fn_file.dirty) */
    size_t nopen;
    uint64_t tick;

    pthread_mutex_t follow_lock; /* recursive: callbacks may (un)follow */
    struct nb_map follows;       /* "service/function" -> struct follow_list */
    int dispatching;             /* depth of nested dispatches */
    int have_dead;
};

/* A service or function name usable as a path component. */
static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > MAX_NAME)
        return 0;
    if (strstr(s, "..") || strchr(s, '/') || !strcmp(s, "."))
        return 0;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

int nb_logstore_open(const char *dir, uint64_t max_bytes_per_function, struct nb_logstore **out,
                     struct nb_err *err)
{
    int r = nb_mkdir_p(dir, 0755);
    if (r < 0)
        return nb_err_sys(err, r, "create log dir '%s'", dir);
    struct nb_logstore *ls = nb_xcalloc(1, sizeof(*ls));
    ls->dir = nb_xstrdup(dir);
    ls->max_bytes = max_bytes_per_function ? max_bytes_per_function : 10 * 1024 * 1024;
    pthread_mutex_init(&ls->lock, NULL);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&ls->follow_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    nb_map_init(&ls->files);
    nb_map_init(&ls->follows);
    nb_list_init(&ls->dirty);
    *out = ls;
    return 0;
}

static void close_fd(struct nb_logstore *ls, struct fn_file *f);

/* Writes every pending line, then closes the files. */
void nb_logstore_close(struct nb_logstore *ls)
{
    if (!ls)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&ls->files, &i, &k, &v);) {
        struct fn_file *f = v;
        if (f->fd >= 0)
            close_fd(ls, f);
        free(f->pending);
        free(f);
    }
    nb_map_release(&ls->files);
    for (size_t i = 0; nb_map_next(&ls->follows, &i, &k, &v);) {
        struct follow_list *l = v;
        for (struct follower *f = l->head, *n; f; f = n) {
            n = f->next;
            free(f->key);
            free(f);
        }
        free(l);
    }
    nb_map_release(&ls->follows);
    pthread_mutex_destroy(&ls->lock);
    pthread_mutex_destroy(&ls->follow_lock);
    free(ls->dir);
    free(ls);
}

/* ---- encoding ---- */

/* Writes v in decimal at p (at most 20 bytes); returns the end. */
static char *put_int(char *p, int64_t v)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static char *put_lit(char *p, const char *lit, size_t n)
{
    memcpy(p, lit, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_lit(p, lit, sizeof(lit) - 1)

/*
 * The length of msg[0..n) kept in the file: over MAX_MESSAGE it is cut (at a
 * UTF-8 boundary) and *cut is set (the line then ends the message in "...").
 */
static size_t cut_message(const char *msg, size_t n, int *cut)
{
    *cut = 0;
    if (n > MAX_MESSAGE) {
        n = MAX_MESSAGE;
        /* Do not split a UTF-8 sequence: back off over continuation bytes. */
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80; k++)
            n--;
        *cut = 1;
    }
    return n;
}

/* The most bytes encode() can write for these lengths. */
static size_t encode_bound(size_t rid_len, size_t stream_len, size_t msg_len)
{
    return NB_JSON_ESCAPE_MAX(rid_len + stream_len + msg_len) + 128;
}

/*
 * Writes at out (encode_bound() bytes) the NDJSON line, with its '\n':
 * {"time":T,"requestId":"...","stream":"...","message":"..."} plus "..." at
 * the end of the message and ,"truncated":true when cut.  msg is already cut
 * (cut_message).  Returns the length.
 */
static size_t encode(char *out, int64_t time_ms, const char *rid, size_t rid_len,
                     const char *stream, size_t stream_len, const char *msg, size_t msg_len,
                     int cut)
{
    char *p = PUT_LIT(out, "{\"time\":");
    p = put_int(p, time_ms);
    p = PUT_LIT(p, ",\"requestId\":\"");
    p = nb_json_escape(p, rid, rid_len);
    p = PUT_LIT(p, "\",\"stream\":\"");
    p = nb_json_escape(p, stream, stream_len);
    p = PUT_LIT(p, "\",\"message\":\"");
    p = nb_json_escape(p, msg, msg_len);
    if (cut)
        p = PUT_LIT(p, "...\",\"truncated\":true}\n");
    else
        p = PUT_LIT(p, "\"}\n");
    return (size_t)(p - out);
}

/* ---- files ---- */

static char *log_path(struct nb_logstore *ls, const char *service, const char *function,
                      const char *suffix)
{
    return nb_xasprintf("%s/%s/%s.log%s", ls->dir, service, function, suffix);
}

/* Forgets f's pending bytes (lock held); a large buffer is freed. */
static void drop_pending(struct fn_file *f)
{
    if (f->pending_len > 0)
        nb_list_del(&f->dirty);
    f->pending_len = 0;
    if (f->pending_cap > PENDING_KEEP || f->fd < 0) {
        free(f->pending);
        f->pending = NULL;
        f->pending_cap = 0;
    }
}

/*
 * Writes data[0..len) to f's fd (lock held), retrying short writes; on an
 * error the rest is dropped (as a failed write(2) of a line always was).
 */
static void write_all(struct fn_file *f, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(f->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        f->size += (uint64_t)w;
        data += w;
        len -= (size_t)w;
    }
}

/* Writes f's pending bytes with one write(2) (lock held). */
static void flush_file(struct fn_file *f)
{
    if (f->pending_len == 0)
        return;
    if (f->fd >= 0)
        write_all(f, f->pending, f->pending_len);
    drop_pending(f);
}

/* Writes f's pending bytes and closes its fd (lock held). */
static void close_fd(struct nb_logstore *ls, struct fn_file *f)
{
    flush_file(f);
    close(f->fd);
    f->fd = -1;
    ls->nopen--;
    drop_pending(f); /* frees the buffer of a closed file */
}

/* Closes the least recently used open file (lock held). */
static void close_lru(struct nb_logstore *ls)
{
    const char *k;
    void *v;
    struct fn_file *old = NULL;
    for (size_t i = 0; nb_map_next(&ls->files, &i, &k, &v);) {
        struct fn_file *f = v;
        if (f->fd >= 0 && (!old || f->last_use < old->last_use))
            old = f;
    }
    if (old)
        close_fd(ls, old);
}

/* Opens (creating) the function's .log (lock held); 0 or -errno. */
static int open_file(struct nb_logstore *ls, struct fn_file *f, const char *service,
                     const char *function)
{
    _cleanup_free_ char *path = log_path(ls, service, function, "");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 && errno == ENOENT) {
        _cleanup_free_ char *d = nb_xasprintf("%s/%s", ls->dir, service);
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            return -errno;
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    f->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (ls->nopen >= MAX_OPEN)
        close_lru(ls);
    f->fd = fd;
    ls->nopen++;
    return 0;
}

/*
 * Writes the pending bytes, moves .log to .log.1 and closes it (lock held);
 * the next line opens a new .log.
 */
static void rotate(struct nb_logstore *ls, struct fn_file *f, const char *service,
                   const char *function)
{
    _cleanup_free_ char *cur = log_path(ls, service, function, "");
    _cleanup_free_ char *old = log_path(ls, service, function, ".1");
    flush_file(f);
    rename(cur, old);
    close_fd(ls, f);
    f->size = 0;
}

/*
 * Adds data (one encoded line) to the pending bytes of service/function,
 * rotating first if needed; keeps the pending bytes under PENDING_MAX.
 */
static void write_line(struct nb_logstore *ls, const char *key, const char *service,
                       const char *function, const char *data, size_t len)
{
    pthread_mutex_lock(&ls->lock);
    struct fn_file *f = nb_map_get(&ls->files, key);
    if (!f) {
        f = nb_xcalloc(1, sizeof(*f));
        f->fd = -1;
        nb_map_put(&ls->files, key, f);
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (f->fd < 0 && open_file(ls, f, service, function) < 0)
            goto out;
        uint64_t size = f->size + f->pending_len;
        if (size > 0 && size + len > ls->max_bytes)
            rotate(ls, f, service, function);
        else
            break;
    }
    if (f->fd < 0)
        goto out;
    f->last_use = ++ls->tick;
    if (f->pending_len + len > PENDING_MAX)
        flush_file(f);
    if (len > PENDING_MAX) {
        write_all(f, data, len); /* alone, with the buffer empty: order kept */
        goto out;
    }
    if (f->pending_cap < f->pending_len + len) {
        size_t cap = f->pending_cap ? f->pending_cap : 1024;
        while (cap < f->pending_len + len)
            cap *= 2;
        if (cap > PENDING_MAX)
            cap = PENDING_MAX;
        f->pending = nb_xrealloc(f->pending, cap);
        f->pending_cap = cap;
    }
    if (f->pending_len == 0)
        nb_list_push(&ls->dirty, &f->dirty);
    memcpy(f->pending + f->pending_len, data, len);
    f->pending_len += len;
out:
    pthread_mutex_unlock(&ls->lock);
}

/*
 * Writes every file's pending bytes, one write(2) per file.  Called by the
 * daemon once per loop iteration, before the loop waits for I/O.
 */
void nb_logstore_flush(struct nb_logstore *ls)
{
    if (!ls)
        return;
    pthread_mutex_lock(&ls->lock);
    while (!nb_list_empty(&ls->dirty))
        flush_file(nb_list_entry(ls->dirty.next, struct fn_file, dirty));
    pthread_mutex_unlock(&ls->lock);
}

/* ---- followers ---- */

static void sweep_dead(struct nb_logstore *ls)
{
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&ls->follows, &i, &k, &v);) {
        struct follow_list *l = v;
        for (struct follower *f = l->head, *n; f; f = n) {
            n = f->next;
            if (!f->dead)
                continue;
            if (f->prev)
                f->prev->next = f->next;
            else
                l->head = f->next;
            if (f->next)
                f->next->prev = f->prev;
            free(f->key);
            free(f);
        }
        if (!l->head) {
            nb_map_del(&ls->follows, k); /* deleting the current key is allowed */
            free(l);
        }
    }
    ls->have_dead = 0;
}

static void dispatch(struct nb_logstore *ls, const char *key, const struct nb_log_line *line)
{
    pthread_mutex_lock(&ls->follow_lock);
    struct follow_list *l = nb_map_get(&ls->follows, key);
    if (l) {
        ls->dispatching++;
        /* New followers are added at the head, so they start with the next line. */
        for (struct follower *f = l->head; f; f = f->next)
            if (!f->dead)
                f->cb(line, f->arg);
        ls->dispatching--;
        if (ls->dispatching == 0 && ls->have_dead)
            sweep_dead(ls);
    }
    pthread_mutex_unlock(&ls->follow_lock);
}

void *nb_logstore_follow(struct nb_logstore *ls, const char *service, const char *function,
                         nb_log_follow_fn cb, void *arg)
{
    if (!valid_name(service) || !valid_name(function) || !cb)
        return NULL;
    struct follower *f = nb_xcalloc(1, sizeof(*f));
    f->key = nb_xasprintf("%s/%s", service, function);
    f->cb = cb;
    f->arg = arg;
    pthread_mutex_lock(&ls->follow_lock);
    struct follow_list *l = nb_map_get(&ls->follows, f->key);
    if (!l) {
        l = nb_xcalloc(1, sizeof(*l));
        nb_map_put(&ls->follows, f->key, l);
    }
    f->next = l->head;
    if (l->head)
        l->head->prev = f;
    l->head = f;
    pthread_mutex_unlock(&ls->follow_lock);
    return f;
}

/*
 * Unregisters a follower; after it returns, its callback is not called again.
 * Safe from inside any follower's callback.  handle may be NULL.
 */
void nb_logstore_unfollow(struct nb_logstore *ls, void *handle)
{
    struct follower *f = handle;
    if (!f)
        return;
    pthread_mutex_lock(&ls->follow_lock);
    f->dead = 1;
    ls->have_dead = 1;
    if (ls->dispatching == 0)
        sweep_dead(ls);
    pthread_mutex_unlock(&ls->follow_lock);
}

/* ---- append / query / remove ---- */

void nb_logstore_append(struct nb_logstore *ls, const char *service, const char *function,
                        const struct nb_log_line *line)
{
    if (!ls || !line || !valid_name(service) || !valid_name(function))
        return;
    int64_t t = line->time_ms ? line->time_ms : nb_wall_ms();
    const char *rid = line->request_id ? line->request_id : "";
    const char *stream = line->stream ? line->stream : "stdout";
    size_t rid_len = strlen(rid), stream_len = strlen(stream);
    int cut = 0;
    size_t msg_len = line->message ? cut_message(line->message, line->message_len, &cut) : 0;
    size_t bound = encode_bound(rid_len, stream_len, msg_len);
    char stack[ENCODE_STACK];
    _cleanup_free_ char *heap = bound > sizeof(stack) ? nb_xmalloc(bound) : NULL;
    char *data = heap ? heap : stack;
    size_t len = encode(data, t, rid, rid_len, stream, stream_len,
                        line->message ? line->message : "", msg_len, cut);
    char key[2 * MAX_NAME + 2]; /* valid_name bounds both */
    if (nb_fn_key(key, sizeof(key), service, function) < 0)
        return;
    write_line(ls, key, service, function, data, len);

    struct nb_log_line copy = *line;
    copy.time_ms = t;
    copy.request_id = rid;
    copy.stream = stream;
    _cleanup_free_ char *msg = NULL;
    if (cut) {
        msg = nb_xstrndup(line->message, msg_len);
        copy.message = msg;
        copy.message_len = msg_len;
    } else if (!line->message) {
        copy.message = "";
        copy.message_len = 0;
    }
    dispatch(ls, key, &copy);
}

/* Reads all of fd; NULL on error (or empty). */
static char *read_fd(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *data = nb_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            data = nb_xrealloc(data, cap);
        }
        ssize_t r = read(fd, data + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(data);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return data;
}

struct span {
    const char *p;
    size_t len; /* with the '\n' */
};

static int line_matches(const char *p, size_t len, int64_t since_ms, const char *request_id)
{
    json_t *o = json_loadb(p, len, JSON_ALLOW_NUL, NULL);
    if (!o)
        return 0;
    int ok = json_is_object(o);
    if (ok) {
        json_t *t = json_object_get(o, "time");
        ok = json_is_integer(t) && json_integer_value(t) >= since_ms;
    }
    if (ok && request_id) {
        json_t *rid = json_object_get(o, "requestId");
        ok = json_is_string(rid) && strcmp(json_string_value(rid), request_id) == 0;
    }
    json_decref(o);
    return ok;
}

/*
 * Collects the matching complete lines of data into a ring of the newest
 * `limit` (limit 0: all).  A last line without '\n' is being written: skipped.
 */
static void scan(const char *data, size_t len, int64_t since_ms, const char *request_id,
                 size_t limit, struct span **ring, size_t *cap, size_t *count)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        size_t l = (size_t)(nl - p) + 1;
        if (l > 1 && line_matches(p, l - 1, since_ms, request_id)) {
            if (limit == 0) {
                if (*count == *cap) {
                    *cap = *cap ? *cap * 2 : 64;
                    *ring = nb_xrealloc(*ring, *cap * sizeof(**ring));
                }
                (*ring)[(*count)++] = (struct span){p, l};
            } else {
                (*ring)[*count % limit] = (struct span){p, l};
                (*count)++;
            }
        }
        p = nl + 1;
    }
}

/*
 * Lines are read from .log.1 then .log (both opened under the lock, after
 * writing the function's pending bytes, so that a rotation cannot happen
 * between the opens).  If out cannot hold all the selected lines, the oldest
 * are dropped so that the newest fit; that is not an error.  limit 0 means no limit.  0, -EINVAL
 * (bad name) or -errno.
 */
int nb_logstore_query(struct nb_logstore *ls, const char *service, const char *function,
                      int64_t since_ms, const char *request_id, size_t limit, struct nb_buf *out)
{
    if (!valid_name(service) || !valid_name(function))
        return -EINVAL;
    char key[2 * MAX_NAME + 2];
    if (nb_fn_key(key, sizeof(key), service, function) < 0)
        return -EINVAL;
    _cleanup_free_ char *p1 = log_path(ls, service, function, ".1");
    _cleanup_free_ char *p0 = log_path(ls, service, function, "");
    pthread_mutex_lock(&ls->lock);
    struct fn_file *f = nb_map_get(&ls->files, key);
    if (f)
        flush_file(f); /* lines appended before the query are in the file */
    _cleanup_close_ int fd1 = open(p1, O_RDONLY | O_CLOEXEC);
    int e1 = errno;
    _cleanup_close_ int fd0 = open(p0, O_RDONLY | O_CLOEXEC);
    int e0 = errno;
    pthread_mutex_unlock(&ls->lock);
    if (fd1 < 0 && e1 != ENOENT)
        return -e1;
    if (fd0 < 0 && e0 != ENOENT)
        return -e0;

    size_t len1 = 0, len0 = 0;
    _cleanup_free_ char *d1 = fd1 >= 0 ? read_fd(fd1, &len1) : NULL;
    _cleanup_free_ char *d0 = fd0 >= 0 ? read_fd(fd0, &len0) : NULL;

    size_t cap = limit, count = 0;
    _cleanup_free_ struct span *ring = limit ? nb_xmalloc(limit * sizeof(*ring)) : NULL;
    if (d1)
        scan(d1, len1, since_ms, request_id, limit, &ring, &cap, &count);
    if (d0)
        scan(d0, len0, since_ms, request_id, limit, &ring, &cap, &count);

    /* ring[(first + i) % mod] for i in [0, n) are the kept lines, oldest first. */
    size_t n = limit && count > limit ? limit : count;
    size_t first = limit && count > limit ? count % limit : 0;
    size_t mod = limit ? limit : (count ? count : 1);
    /* Keep the newest lines that fit in out. */
    size_t room = out->max - out->len, used = 0, keep = 0;
    while (keep < n) {
        struct span *s = &ring[(first + n - 1 - keep) % mod];
        if (s->len > room - used)
            break;
        used += s->len;
        keep++;
    }
    for (size_t i = n - keep; i < n; i++) {
        struct span *s = &ring[(first + i) % mod];
        if (nb_buf_append(out, s->p, s->len) < 0)
            break;
    }
    return 0;
}

void nb_logstore_remove(struct nb_logstore *ls, const char *service, const char *function)
{
    if (!valid_name(service) || !valid_name(function))
        return;
    char key[2 * MAX_NAME + 2];
    if (nb_fn_key(key, sizeof(key), service, function) < 0)
        return;
    _cleanup_free_ char *p1 = log_path(ls, service, function, ".1");
    _cleanup_free_ char *p0 = log_path(ls, service, function, "");
    _cleanup_free_ char *d = nb_xasprintf("%s/%s", ls->dir, service);
    pthread_mutex_lock(&ls->lock);
    struct fn_file *f = nb_map_del(&ls->files, key);
    if (f) {
        drop_pending(f); /* the lines of a deleted function are not written */
        if (f->fd >= 0) {
            close(f->fd);
            ls->nopen--;
        }
        free(f->pending);
        free(f);
    }
    unlink(p0);
    unlink(p1);
    rmdir(d); /* only succeeds once the service has no logs left */
    pthread_mutex_unlock(&ls->lock);
}
