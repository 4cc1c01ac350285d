/*
 * test_cron.c: the cronExpression parser and next-fire computation
 * (timer/cron.c): every accepted form, ranges, steps, lists, names, the
 * day-of-month / day-of-week OR rule, next fires across month and year
 * boundaries and leap days, and the errors that name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "timer/cron.h"

/* Epoch ms of a UTC date-time. */
static int64_t at(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000;
}

static int64_t next(const char *expr, int64_t after)
{
    struct nb_cron c;
    struct nb_err err = {0};
    int r = nb_cron_parse(expr, &c, &err);
    if (r < 0)
        fail_msg("parse '%s': %s", expr, err.msg);
    return nb_cron_next(&c, after);
}

static void expect_error(const char *expr, const char *needle)
{
    struct nb_cron c;
    struct nb_err err = {0};
    assert_int_equal(nb_cron_parse(expr, &c, &err), -EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s': error '%s' does not contain '%s'", expr, err.msg, needle);
}

static void test_six_fields_with_seconds(void **state)
{
    (void)state;
    int64_t t = at(2024, 3, 10, 12, 0, 0);
    assert_int_equal(next("0 0 4 * * *", t), at(2024, 3, 11, 4, 0, 0));
    assert_int_equal(next("30 15 10 * * *", t), at(2024, 3, 11, 10, 15, 30));
    assert_int_equal(next("* * * * * *", t), t + 1000); /* strictly after */
    assert_int_equal(next("*/15 * * * * *", t + 1), at(2024, 3, 10, 12, 0, 15));
    assert_int_equal(next("5 * * * * *", t + 5000), at(2024, 3, 10, 12, 1, 5));
}

static void test_five_fields(void **state)
{
    (void)state;
    int64_t t = at(2024, 3, 10, 12, 7, 30);
    assert_int_equal(next("*/5 * * * *", t), at(2024, 3, 10, 12, 10, 0));
    assert_int_equal(next("0 0 * * *", t), at(2024, 3, 11, 0, 0, 0));
    assert_int_equal(next("15 14 1 * *", t), at(2024, 4, 1, 14, 15, 0));
}

static void test_ranges_steps_lists(void **state)
{
    (void)state;
    int64_t t = at(2024, 1, 1, 0, 0, 0);
    assert_int_equal(next("0 0 9-17/4 * * *", t), at(2024, 1, 1, 9, 0, 0));
    assert_int_equal(next("0 0 9-17/4 * * *", at(2024, 1, 1, 9, 0, 0)), at(2024, 1, 1, 13, 0, 0));
    assert_int_equal(next("0 0 9-17/4 * * *", at(2024, 1, 1, 17, 0, 0)), at(2024, 1, 2, 9, 0, 0));
    assert_int_equal(next("0 5,10,50 * * * *", at(2024, 1, 1, 0, 11, 0)), at(2024, 1, 1, 0, 50, 0));
    assert_int_equal(next("0 30/10 * * * *", t), at(2024, 1, 1, 0, 30, 0)); /* N/STEP */
    assert_int_equal(next("0 30/10 * * * *", at(2024, 1, 1, 0, 50, 0)), at(2024, 1, 1, 1, 30, 0));
    assert_int_equal(next("0 1-3,7 * * *", t), at(2024, 1, 1, 1, 0, 0));
    assert_int_equal(next("0 1-3,7 * * *", at(2024, 1, 1, 3, 0, 0)), at(2024, 1, 1, 7, 0, 0));
}

static void test_names(void **state)
{
    (void)state;
    /* 2024-01-01 is a Monday */
    int64_t t = at(2024, 1, 1, 12, 0, 0);
    assert_int_equal(next("0 0 9 * * MON-FRI", t), at(2024, 1, 2, 9, 0, 0));
    assert_int_equal(next("0 0 9 * * sat,SUN", t), at(2024, 1, 6, 9, 0, 0));
    assert_int_equal(next("0 0 0 1 JUN *", t), at(2024, 6, 1, 0, 0, 0));
    assert_int_equal(next("0 0 0 1 jan-mar *", at(2024, 1, 1, 0, 0, 0)), at(2024, 2, 1, 0, 0, 0));
    /* 7 and 0 are both Sunday */
    assert_int_equal(next("0 0 * * 7", t), at(2024, 1, 7, 0, 0, 0));
    assert_int_equal(next("0 0 * * 0", t), at(2024, 1, 7, 0, 0, 0));
}

static void test_dom_dow_or(void **state)
{
    (void)state;
    int64_t t = at(2024, 1, 1, 12, 0, 0); /* Monday Jan 1 */
    /* both restricted: the 15th OR any Friday -> Friday Jan 5 comes first */
    assert_int_equal(next("0 0 15 * FRI", t), at(2024, 1, 5, 0, 0, 0));
    assert_int_equal(next("0 0 15 * FRI", at(2024, 1, 12, 0, 0, 0)), at(2024, 1, 15, 0, 0, 0));
    /* day-of-week '*': only the 15th */
    assert_int_equal(next("0 0 15 * *", t), at(2024, 1, 15, 0, 0, 0));
    /* day-of-month '?' (Quartz): only Fridays */
    assert_int_equal(next("0 0 0 ? * FRI", t), at(2024, 1, 5, 0, 0, 0));
    /* a '*' with a step still counts as '*' (as in cron): AND */
    assert_int_equal(next("0 0 */2 * FRI", t), at(2024, 1, 5, 0, 0, 0));
    assert_int_equal(next("0 0 */2 * FRI", at(2024, 1, 5, 0, 0, 0)), at(2024, 1, 19, 0, 0, 0));
}

static void test_boundaries_and_leap_day(void **state)
{
    (void)state;
    assert_int_equal(next("0 0 0 1 1 *", at(2024, 12, 31, 23, 59, 59)), at(2025, 1, 1, 0, 0, 0));
    assert_int_equal(next("59 59 23 31 12 *", at(2024, 1, 1, 0, 0, 0)),
                     at(2024, 12, 31, 23, 59, 59));
    assert_int_equal(next("0 0 0 31 * *", at(2024, 4, 1, 0, 0, 0)), at(2024, 5, 31, 0, 0, 0));
    assert_int_equal(next("0 0 0 29 2 *", at(2024, 3, 1, 0, 0, 0)), at(2028, 2, 29, 0, 0, 0));
    assert_int_equal(next("0 0 0 29 2 *", at(2023, 6, 1, 0, 0, 0)), at(2024, 2, 29, 0, 0, 0));
    /* never: Feb 30 */
    assert_int_equal(next("0 0 0 30 2 *", at(2024, 1, 1, 0, 0, 0)), -1);
    /* end of month rolls over */
    assert_int_equal(next("0 0 12 * * *", at(2024, 2, 29, 13, 0, 0)), at(2024, 3, 1, 12, 0, 0));
}

static void test_macros(void **state)
{
    (void)state;
    int64_t t = at(2024, 5, 15, 10, 30, 0); /* Wednesday */
    assert_int_equal(next("@hourly", t), at(2024, 5, 15, 11, 0, 0));
    assert_int_equal(next("@daily", t), at(2024, 5, 16, 0, 0, 0));
    assert_int_equal(next("@midnight", t), at(2024, 5, 16, 0, 0, 0));
    assert_int_equal(next("@weekly", t), at(2024, 5, 19, 0, 0, 0));
    assert_int_equal(next("@monthly", t), at(2024, 6, 1, 0, 0, 0));
    assert_int_equal(next("@yearly", t), at(2025, 1, 1, 0, 0, 0));
    assert_int_equal(next("@annually", t), at(2025, 1, 1, 0, 0, 0));
}

static void test_every(void **state)
{
    (void)state;
    int64_t t = at(2024, 5, 15, 10, 30, 1);
    assert_int_equal(next("@every 30s", t), at(2024, 5, 15, 10, 30, 30));
    assert_int_equal(next("@every 5m", t), at(2024, 5, 15, 10, 35, 0));
    assert_int_equal(next("@every 1h", t), at(2024, 5, 15, 11, 0, 0));
    assert_int_equal(next("@every 1s", t), t + 1000);
    assert_int_equal(next("@every 1s", t + 500), t + 1000);
    struct nb_cron c;
    assert_int_equal(nb_cron_parse("@every 1h30m", &c, NULL), 0);
    assert_int_equal(c.every_ms, 90 * 60 * 1000);
    assert_int_equal(nb_cron_parse("@every 2d", &c, NULL), 0);
    assert_int_equal(c.every_ms, 2 * 86400 * 1000LL);
    /* aligned to the epoch: the same schedule whatever the start */
    assert_int_equal(next("@every 1h30m", at(2024, 5, 15, 0, 0, 1)) % (90 * 60 * 1000), 0);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("61 * * * *", "field 'minute' value 61 out of range 0-59");
    expect_error("0 61 * * * *", "field 'minute' value 61 out of range 0-59");
    expect_error("60 * * * * *", "field 'second' value 60 out of range 0-59");
    expect_error("0 0 24 * * *", "field 'hour' value 24 out of range 0-23");
    expect_error("0 0 0 0 * *", "field 'day-of-month' value 0 out of range 1-31");
    expect_error("0 0 0 1 13 *", "field 'month' value 13 out of range 1-12");
    expect_error("0 0 0 * * 8", "field 'day-of-week' value 8 out of range 0-7");
    expect_error("0 0 0 * FOO *", "field 'month' has unknown name 'FOO'");
    expect_error("0 0 0 * * MONDAY", "field 'day-of-week' has unknown name 'MONDAY'");
    expect_error("0 0 17-9 * * *", "range 17-9 is backwards");
    expect_error("*/0 * * * *", "step 0 out of range");
    expect_error("*/ * * * *", "step must be a positive number");
    expect_error("0 0 L * *", "not supported");
    expect_error("0 0 * * 5#3", "not supported");
    expect_error("* * * *", "got 4");
    expect_error("* * * * * * *", "got 7");
    expect_error("every blue moon", "got 3");
    expect_error("", "empty");
    expect_error("@every", "needs a duration");
    expect_error("@every 0s", "at least 1s");
    expect_error("@every 500ms", "at least 1s");
    expect_error("@every 5", "needs a unit");
    expect_error("@every 5x", "needs a unit");
    expect_error("@every 400d", "at most 366d");
    expect_error("@fortnightly", "unknown macro");
    expect_error("1,,2 * * * *", "missing a value");
    expect_error("1- * * * *", "missing a value");
    char longexpr[300];
    memset(longexpr, '*', sizeof(longexpr) - 1);
    longexpr[sizeof(longexpr) - 1] = '\0';
    expect_error(longexpr, "longer than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_six_fields_with_seconds),
        cmocka_unit_test(test_five_fields),
        cmocka_unit_test(test_ranges_steps_lists),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_dom_dow_or),
        cmocka_unit_test(test_boundaries_and_leap_day),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_every),
        cmocka_unit_test(test_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
