/*
 * cron.h: timer trigger schedules (docs/internals/timer.md): parsing a
 * cronExpression and computing its next fire time, in UTC.
 *
 * Accepted forms:
 *   - FC's 6 fields with seconds: "sec min hour day-of-month month day-of-week"
 *   - classic 5 fields (seconds = 0): "min hour day-of-month month day-of-week"
 *   - "@every <duration>": units s, m, h, d, combinable ("1h30m"), at least 1 s;
 *     fires at the multiples of the duration since the epoch (so a restart
 *     never shifts the schedule)
 *   - "@yearly" ("@annually"), "@monthly", "@weekly", "@daily" ("@midnight"), "@hourly"
 * A field is a comma list of "*", "N", "A-B", each optionally "/STEP"
 * ("N/STEP" means N to the field's maximum).  Months take JAN..DEC, days of
 * week SUN..SAT (0 and 7 are Sunday); "?" is "*" (Quartz style).  As in
 * cron, when both day-of-month and day-of-week are restricted (neither
 * starts with '*' or '?') a day matches if either does.
 *
 * Pure functions, no state: the fuzzer and the unit tests drive them.
 */
#ifndef NB_TIMER_CRON_H
#define NB_TIMER_CRON_H

#include <stdint.h>

#include "base/err.h"

#define NB_CRON_MAX_LEN 256

struct nb_cron {
    int64_t every_ms; /* > 0 for "@every"; the fields below are then unused */
    uint64_t sec;     /* bit i: second i (0..59) */
    uint64_t min;     /* bit i: minute i */
    uint32_t hour;    /* bit i: hour i (0..23) */
    uint32_t dom;     /* bit i: day i of the month (1..31) */
    uint16_t mon;     /* bit i: month i (1..12) */
    uint8_t dow;      /* bit i: day i of the week (0 = Sunday .. 6) */
    uint8_t dom_star; /* day-of-month was '*' / '?' (or starts with it) */
    uint8_t dow_star;
};

/*
 * Parses expr into *out.  Returns 0, or -EINVAL with err saying what is
 * wrong and where, without the field name of the caller: "field 'minute'
 * value 61 out of range 0-59", "expected 5 or 6 fields, got 3".
 */
int nb_cron_parse(const char *expr, struct nb_cron *out, struct nb_err *err);

/*
 * The first fire time strictly after after_ms (epoch ms, UTC), in epoch ms
 * (a whole second), or -1 if the schedule has none in the next 5 years
 * ("0 0 0 30 2 *").
 */
int64_t nb_cron_next(const struct nb_cron *c, int64_t after_ms);

#endif
