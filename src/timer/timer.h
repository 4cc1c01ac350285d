/*
 * timer.h: timer triggers on the event loop (docs/internals/timer.md).
 *
 * OVERALL DESIGN
 * The set of timer triggers comes from the function snapshots (api.h): the
 * gateway passes every snapshot it applies to nb_timers_apply.  Each
 * enabled trigger has a parsed schedule (cron.h) and its next fire time;
 * one uv timer waits for the nearest.  A fire enqueues the event
 * {"triggerTime","triggerName","payload"} through the async queue, which
 * records the scheduled time as the trigger's last fire in the same
 * transaction and skips a time already recorded: a scheduled time runs at
 * most once, also across restarts.  Fires missed while the daemon was down
 * (or the loop was stalled past them) are not replayed: the next fire is
 * always the first scheduled time after now.
 */
#ifndef NB_TIMER_TIMER_H
#define NB_TIMER_TIMER_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

struct nb_queue;
struct nb_timers;

/* The timers enqueue through q (borrowed; must outlive them until nb_timers_stop). */
struct nb_timers *nb_timers_new(uv_loop_t *loop, struct nb_queue *q);
/*
 * Replaces the timer triggers of service/function with those of snapshot
 * (NULL: the function is gone; function NULL: the whole service is gone).
 * A trigger whose schedule did not change keeps its next fire time.
 */
void nb_timers_apply(struct nb_timers *t, const char *service, const char *function,
                     json_t *snapshot);
/* Stops firing and closes the uv handle (shutdown). */
void nb_timers_stop(struct nb_timers *t);
/* After the loop has ended. */
void nb_timers_free(struct nb_timers *t);
/* Fires enqueued so far (metrics, tests). */
uint64_t nb_timers_fired(const struct nb_timers *t);

#endif
