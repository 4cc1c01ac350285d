/*
 * cron.c: the cronExpression parser and next-fire computation (cron.h).
 *
 * A field is parsed into a bit set; the next fire time is found the way
 * cron implementations do it: starting one second after the given time,
 * the first field (month, day, hour, minute, second) that does not match
 * advances to the start of its next unit, which resets the smaller ones,
 * until all match.  Every step moves forward, and the search stops after
 * five years, so schedules that never fire (Feb 30) end.
 */
#include "timer/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/util.h"

struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names for lo.. (NULL: numbers only) */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct field_def fields[6] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day-of-week", 0, 7, dow_names},
};

/* A number or a name of f at *p; advances *p. */
static int parse_value(const struct field_def *f, const char **p, int *out, struct nb_err *err)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s - '0');
            if (v > 100000)
                v = 100000; /* keep it bounded; still out of range */
            s++;
        }
        if (v < f->lo || v > f->hi)
            return nb_err_set(err, -EINVAL, "field '%s' value %ld out of range %d-%d", f->name, v,
                              f->lo, f->hi);
        *p = s;
        *out = (int)v;
        return 0;
    }
    if (f->names && isalpha((unsigned char)*s)) {
        int n = f->hi - f->lo + 1 - (f->hi == 7 ? 1 : 0);
        for (int i = 0; i < n; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
                *p = s + 3;
                *out = f->lo + i;
                return 0;
            }
        }
        char name[8];
        size_t k = 0;
        while (k < sizeof(name) - 1 && isalnum((unsigned char)s[k]))
            name[k] = s[k], k++;
        name[k] = '\0';
        return nb_err_set(err, -EINVAL, "field '%s' has unknown name '%s'", f->name, name);
    }
    if (*s == 'L' || *s == 'W' || *s == '#')
        return nb_err_set(err, -EINVAL, "field '%s': '%c' is not supported", f->name, *s);
    if (*s == '\0' || *s == ',' || *s == '-' || *s == '/')
        return nb_err_set(err, -EINVAL, "field '%s' is missing a value", f->name);
    return nb_err_set(err, -EINVAL, "field '%s' has an unexpected character '%c'", f->name,
                      isprint((unsigned char)*s) ? *s : '?');
}

/* One field text (len bytes at s) into bits; *star set when it starts with '*' or '?'. */
static int parse_field(const struct field_def *f, const char *s, size_t len, uint64_t *bits,
                       int *star, struct nb_err *err)
{
    char buf[NB_CRON_MAX_LEN + 1];
    memcpy(buf, s, len);
    buf[len] = '\0';
    *bits = 0;
    *star = buf[0] == '*' || buf[0] == '?';
    const char *p = buf;
    for (;;) {
        int a, b, step = 1;
        int r;
        if (*p == '*' || *p == '?') {
            p++;
            a = f->lo;
            b = f->hi == 7 ? 6 : f->hi;
        } else {
            if ((r = parse_value(f, &p, &a, err)) < 0)
                return r;
            b = a;
            if (*p == '-') {
                p++;
                if ((r = parse_value(f, &p, &b, err)) < 0)
                    return r;
                if (b < a)
                    return nb_err_set(err, -EINVAL, "field '%s' range %d-%d is backwards", f->name,
                                      a, b);
            } else if (*p == '/') {
                b = f->hi == 7 ? 6 : f->hi; /* "N/STEP": N to the maximum */
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                return nb_err_set(err, -EINVAL, "field '%s' step must be a positive number",
                                  f->name);
            long v = 0;
            while (isdigit((unsigned char)*p)) {
                v = v * 10 + (*p - '0');
                if (v > 100000)
                    v = 100000;
                p++;
            }
            int span = f->hi - f->lo + 1;
            if (v < 1 || v > span)
                return nb_err_set(err, -EINVAL, "field '%s' step %ld out of range 1-%d", f->name, v,
                                  span);
            step = (int)v;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << (f->hi == 7 && v == 7 ? 0 : v); /* 7 is Sunday too */
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\0')
            return 0;
        if (*p == 'L' || *p == 'W' || *p == '#')
            return nb_err_set(err, -EINVAL, "field '%s': '%c' is not supported", f->name, *p);
        return nb_err_set(err, -EINVAL, "field '%s' has an unexpected character '%c'", f->name,
                          isprint((unsigned char)*p) ? *p : '?');
    }
}

static int parse_every(const char *s, struct nb_cron *out, struct nb_err *err)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return nb_err_set(err, -EINVAL, "@every needs a duration such as 30s, 5m, 1h or 1h30m");
    int64_t total = 0;
    while (*s) {
        if (*s == ' ' || *s == '\t') {
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s)
                return nb_err_set(err, -EINVAL, "@every takes one duration (e.g. 1h30m)");
            break;
        }
        if (!isdigit((unsigned char)*s))
            return nb_err_set(err, -EINVAL,
                              "@every duration must be numbers with units s, m, h or d "
                              "(e.g. 30s, 5m, 1h30m)");
        int64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            n = n * 10 + (*s - '0');
            if (n > 1000000000)
                return nb_err_set(err, -EINVAL, "@every duration is too long");
            s++;
        }
        int64_t unit;
        if (*s == 's')
            unit = 1000;
        else if (*s == 'm' && s[1] == 's')
            return nb_err_set(err, -EINVAL, "@every duration must be at least 1s");
        else if (*s == 'm')
            unit = 60 * 1000;
        else if (*s == 'h')
            unit = 3600 * 1000;
        else if (*s == 'd')
            unit = 86400 * 1000;
        else
            return nb_err_set(err, -EINVAL,
                              "@every duration needs a unit (s, m, h or d) after %lld",
                              (long long)n);
        s++;
        total += n * unit;
        if (total > 366LL * 86400 * 1000)
            return nb_err_set(err, -EINVAL, "@every duration must be at most 366d");
    }
    if (total < 1000)
        return nb_err_set(err, -EINVAL, "@every duration must be at least 1s");
    out->every_ms = total;
    return 0;
}

int nb_cron_parse(const char *expr, struct nb_cron *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (expr == NULL)
        return nb_err_set(err, -EINVAL, "missing expression");
    size_t n = strlen(expr);
    if (n > NB_CRON_MAX_LEN)
        return nb_err_set(err, -EINVAL, "longer than %d bytes", NB_CRON_MAX_LEN);
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '\0')
        return nb_err_set(err, -EINVAL, "empty expression");
    if (*expr == '@') {
        static const struct {
            const char *name, *expr;
        } macros[] = {{"@yearly", "0 0 0 1 1 *"},  {"@annually", "0 0 0 1 1 *"},
                      {"@monthly", "0 0 0 1 * *"}, {"@weekly", "0 0 0 * * 0"},
                      {"@daily", "0 0 0 * * *"},   {"@midnight", "0 0 0 * * *"},
                      {"@hourly", "0 0 * * * *"}};
        if (strncmp(expr, "@every", 6) == 0 && (expr[6] == ' ' || expr[6] == '\t' || !expr[6]))
            return parse_every(expr + 6, out, err);
        size_t wl = strcspn(expr, " \t");
        if (expr[wl + strspn(expr + wl, " \t")] == '\0') {
            for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
                if (strlen(macros[i].name) == wl && strncasecmp(expr, macros[i].name, wl) == 0)
                    return nb_cron_parse(macros[i].expr, out, err);
        }
        return nb_err_set(err, -EINVAL,
                          "unknown macro '%.*s': use @every <duration>, @yearly, @monthly, "
                          "@weekly, @daily or @hourly",
                          (int)(wl > 32 ? 32 : wl), expr);
    }
    const char *start[7];
    size_t len[7];
    int nf = 0;
    for (const char *p = expr; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (nf < 7) {
            start[nf] = p;
            len[nf] = (size_t)(e - p);
        }
        nf++;
        p = e;
    }
    if (nf != 5 && nf != 6)
        return nb_err_set(err, -EINVAL,
                          "expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
                          "(with seconds first), got %d",
                          nf);
    int first = nf == 5 ? 1 : 0;
    uint64_t bits[6];
    int star[6] = {0};
    bits[0] = 1; /* 5 fields: second 0 */
    for (int i = first; i < 6; i++) {
        int r = parse_field(&fields[i], start[i - first], len[i - first], &bits[i], &star[i], err);
        if (r < 0)
            return r;
    }
    out->sec = bits[0];
    out->min = bits[1];
    out->hour = (uint32_t)bits[2];
    out->dom = (uint32_t)bits[3];
    out->mon = (uint16_t)bits[4];
    out->dow = (uint8_t)bits[5];
    out->dom_star = (uint8_t)star[3];
    out->dow_star = (uint8_t)star[5];
    return 0;
}

static int day_matches(const struct nb_cron *c, const struct tm *tm)
{
    int dom = (c->dom >> tm->tm_mday) & 1;
    int dow = (c->dow >> tm->tm_wday) & 1;
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

int64_t nb_cron_next(const struct nb_cron *c, int64_t after_ms)
{
    if (c->every_ms > 0) {
        int64_t k = after_ms >= 0 ? after_ms / c->every_ms : -((-after_ms) / c->every_ms) - 1;
        return (k + 1) * c->every_ms;
    }
    int64_t secs = (after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000) + 1;
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    int limit_year = tm.tm_year + 5;
    for (;;) {
        if (tm.tm_year > limit_year)
            return -1;
        if (!((c->mon >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->hour >> tm.tm_hour) & 1)) {
            tm.tm_hour++;
            tm.tm_min = tm.tm_sec = 0;
        } else if (!((c->min >> tm.tm_min) & 1)) {
            tm.tm_min++;
            tm.tm_sec = 0;
        } else if (!((c->sec >> tm.tm_sec) & 1)) {
            tm.tm_sec++;
        } else {
            return (int64_t)timegm(&tm) * 1000;
        }
        /* normalise (carries into the larger units, recomputes tm_wday) */
        tm.tm_isdst = 0;
        t = timegm(&tm);
        if (gmtime_r(&t, &tm) == NULL)
            return -1;
    }
}
