/*
 * logstore.h: functions' logs, kept per function with a size cap.
 *
 * Each line is stored as one JSON object per line (NDJSON) in
 * DIR/<service>/<function>.log: {"time": <ms since epoch>, "requestId":
 * "...", "stream": "stdout", "message": "..."}; when a file passes
 * max_bytes it is rotated to .log.1 (the previous .1 is dropped), so a
 * function holds at most 2 x max_bytes.  Appended lines are buffered per
 * file and written (page cache, no fsync) by nb_logstore_flush, which the
 * daemon calls once per loop iteration: one write(2) per file per iteration,
 * so lines reach the file within one loop iteration (a daemon killed with
 * SIGKILL can lose the lines of its last iteration).  Queries read files and
 * may run on any thread; a query first writes its function's pending lines,
 * so it sees every line appended before it started.  Followers (nubis logs
 * -f) are called on the loop for every new line of their function, at
 * append time.
 */
#ifndef NB_OBS_LOGSTORE_H
#define NB_OBS_LOGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct nb_logstore;

struct nb_log_line {
    int64_t time_ms;
    const char *request_id; /* "" for instance-level lines */
    const char *stream;     /* "stdout", "stderr", "info", "system", ... */
    const char *message;    /* without the trailing newline */
    size_t message_len;
};

int nb_logstore_open(const char *dir, uint64_t max_bytes_per_function, struct nb_logstore **out,
                     struct nb_err *err);
/* Writes the pending lines, closes the files and frees ls (NULL is a no-op). */
void nb_logstore_close(struct nb_logstore *ls);

/*
 * Appends a line for service/function (loop thread): followers see it at
 * once, the file at the next nb_logstore_flush (or sooner, when the file's
 * pending bytes reach 64 KiB).  Long messages are cut at 16 KiB.
 */
void nb_logstore_append(struct nb_logstore *ls, const char *service, const char *function,
                        const struct nb_log_line *line);

/* Writes every file's pending lines, one write(2) per file (loop thread). */
void nb_logstore_flush(struct nb_logstore *ls);

/*
 * Appends to out (as NDJSON, oldest first) the lines of service/function
 * with time >= since_ms and, if request_id is non-NULL, that request id;
 * at most limit lines (the newest ones).  Thread-safe.  0 or -errno.
 */
int nb_logstore_query(struct nb_logstore *ls, const char *service, const char *function,
                      int64_t since_ms, const char *request_id, size_t limit, struct nb_buf *out);

/* Removes the logs of a deleted function (its pending lines are dropped). */
void nb_logstore_remove(struct nb_logstore *ls, const char *service, const char *function);

typedef void (*nb_log_follow_fn)(const struct nb_log_line *line, void *arg);
/* Registers a follower of service/function; returns a handle for unfollow. */
void *nb_logstore_follow(struct nb_logstore *ls, const char *service, const char *function,
                         nb_log_follow_fn cb, void *arg);
void nb_logstore_unfollow(struct nb_logstore *ls, void *handle);

#endif
