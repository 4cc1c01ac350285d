/*
 * logstore.c: functions' logs as NDJSON files with rotation (see logstore.h).
 *
 * OVERALL DESIGN
 *
 * Each function's log is DIR/<service>/<function>.log, opened lazily with
 * O_APPEND and kept open in a map (at most MAX_OPEN fds; the least recently
 * used is closed beyond that).  A line is encoded with jansson and written
 * with one write(2).  Before a write that would take the file past max_bytes
 * the file is renamed to .log.1 (dropping the previous one) and a new one is
 * opened, so a function holds at most 2 x max_bytes (plus one line when a
 * single line is larger than max_bytes).
 *
 * Locking: `lock` guards the open-file map and rotation; a query opens
 * .log.1 and .log under it (so a rotation cannot slip between the two opens)
 * and then reads without it.  Followers live in their own map guarded by the
 * recursive `follow_lock`, which is held while callbacks run: a callback may
 * unfollow (itself or another) or follow; a removed follower is only marked
 * dead during dispatch and freed when the outermost dispatch ends.
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
#include "base/map.h"
#include "base/util.h"

#define MAX_MESSAGE (16 * 1024)
#define MAX_OPEN 256
#define MAX_NAME 256

struct fn_file {
    int fd;
    uint64_t size;
    uint64_t last_use;
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

    pthread_mutex_t lock; /* files, nopen, tick, rotation */
    struct nb_map files;  /* "service/function" -> struct fn_file */
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
    *out = ls;
    return 0;
}

void nb_logstore_close(struct nb_logstore *ls)
{
    if (!ls)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&ls->files, &i, &k, &v);) {
        struct fn_file *f = v;
        if (f->fd >= 0)
            close(f->fd);
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

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned cp, min;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * A JSON string of s[0..n): invalid UTF-8 bytes and NULs become U+FFFD (a
 * "\u0000" would make readers using jansson without JSON_ALLOW_NUL drop the
 * line).  Never NULL.
 */
static json_t *json_str(const char *s, size_t n)
{
    json_t *j = memchr(s, 0, n) ? NULL : json_stringn(s, n);
    if (j)
        return j;
    char *clean = nb_xmalloc(n * 3 + 1);
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (l == 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, u + i, l);
            o += l;
            i += l;
        }
    }
    j = json_stringn(clean, o);
    free(clean);
    return j ? j : json_string("");
}

/*
 * Encodes line as one NDJSON line (with its '\n'); caller frees.  *cut is
 * set when the message was longer than MAX_MESSAGE and cut (at a UTF-8
 * boundary), in which case *msg_len is the kept length.
 */
static char *encode(const struct nb_log_line *line, int64_t time_ms, size_t *len, size_t *msg_len,
                    int *cut)
{
    const char *msg = line->message ? line->message : "";
    size_t n = line->message ? line->message_len : 0;
    *cut = 0;
    if (n > MAX_MESSAGE) {
        n = MAX_MESSAGE;
        /* Do not split a UTF-8 sequence: back off over continuation bytes. */
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80; k++)
            n--;
        *cut = 1;
    }
    *msg_len = n;
    json_t *o = json_object();
    json_object_set_new(o, "time", json_integer(time_ms));
    const char *rid = line->request_id ? line->request_id : "";
    const char *stream = line->stream ? line->stream : "stdout";
    json_object_set_new(o, "requestId", json_str(rid, strlen(rid)));
    json_object_set_new(o, "stream", json_str(stream, strlen(stream)));
    if (*cut) {
        char *m = nb_xmalloc(n + 4);
        memcpy(m, msg, n);
        memcpy(m + n, "...", 4);
        json_object_set_new(o, "message", json_str(m, n + 3));
        json_object_set_new(o, "truncated", json_true());
        free(m);
    } else {
        json_object_set_new(o, "message", json_str(msg, n));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t l = strlen(s);
    char *out = nb_xmalloc(l + 2);
    memcpy(out, s, l);
    out[l] = '\n';
    out[l + 1] = '\0';
    free(s);
    *len = l + 1;
    return out;
}

/* ---- files ---- */

static char *log_path(struct nb_logstore *ls, const char *service, const char *function,
                      const char *suffix)
{
    return nb_xasprintf("%s/%s/%s.log%s", ls->dir, service, function, suffix);
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
    if (old) {
        close(old->fd);
        old->fd = -1;
        ls->nopen--;
    }
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

/* Moves .log to .log.1 and closes it (lock held); the next write opens a new .log. */
static void rotate(struct nb_logstore *ls, struct fn_file *f, const char *service,
                   const char *function)
{
    _cleanup_free_ char *cur = log_path(ls, service, function, "");
    _cleanup_free_ char *old = log_path(ls, service, function, ".1");
    rename(cur, old);
    close(f->fd);
    f->fd = -1;
    f->size = 0;
    ls->nopen--;
}

/* Writes data as one line of service/function, rotating first if needed. */
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
        if (f->size > 0 && f->size + len > ls->max_bytes)
            rotate(ls, f, service, function);
        else
            break;
    }
    if (f->fd < 0)
        goto out;
    f->last_use = ++ls->tick;
    ssize_t w;
    do
        w = write(f->fd, data, len);
    while (w < 0 && errno == EINTR);
    if (w > 0)
        f->size += (uint64_t)w;
out:
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
    size_t len, msg_len;
    int cut;
    _cleanup_free_ char *data = encode(line, t, &len, &msg_len, &cut);
    char key[2 * MAX_NAME + 2];
    snprintf(key, sizeof(key), "%s/%s", service, function);
    write_line(ls, key, service, function, data, len);

    struct nb_log_line copy = *line;
    copy.time_ms = t;
    copy.request_id = line->request_id ? line->request_id : "";
    copy.stream = line->stream ? line->stream : "stdout";
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
 * Lines are read from .log.1 then .log (both opened under the lock so that
 * a rotation cannot happen between the opens).  If out cannot hold all the
 * selected lines, the oldest are dropped so that the newest fit; that is
 * not an error.  limit 0 means no limit.  0, -EINVAL (bad name) or -errno.
 */
int nb_logstore_query(struct nb_logstore *ls, const char *service, const char *function,
                      int64_t since_ms, const char *request_id, size_t limit, struct nb_buf *out)
{
    if (!valid_name(service) || !valid_name(function))
        return -EINVAL;
    _cleanup_free_ char *p1 = log_path(ls, service, function, ".1");
    _cleanup_free_ char *p0 = log_path(ls, service, function, "");
    pthread_mutex_lock(&ls->lock);
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
    snprintf(key, sizeof(key), "%s/%s", service, function);
    _cleanup_free_ char *p1 = log_path(ls, service, function, ".1");
    _cleanup_free_ char *p0 = log_path(ls, service, function, "");
    _cleanup_free_ char *d = nb_xasprintf("%s/%s", ls->dir, service);
    pthread_mutex_lock(&ls->lock);
    struct fn_file *f = nb_map_del(&ls->files, key);
    if (f) {
        if (f->fd >= 0) {
            close(f->fd);
            ls->nopen--;
        }
        free(f);
    }
    unlink(p0);
    unlink(p1);
    rmdir(d); /* only succeeds once the service has no logs left */
    pthread_mutex_unlock(&ls->lock);
}
