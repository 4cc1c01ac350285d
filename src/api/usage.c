/*
 * usage.c: GET /api/v1/usage and /api/v1/usage/records (docs/api.md,
 * docs/operations.md).
 *
 * The period is a UTC calendar month (month=YYYY-MM, default the current
 * one) or since/until in epoch ms (rounded out to whole hours: the sums
 * are hourly).  The meter's queue is written first (nb_meter_sync), so an
 * invocation that has answered is counted.  The bill applies one month's
 * free tier to the period's totals (of the service, with service=S).
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/util.h"
#include "meter/meter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parses "YYYY-MM" into [since, until) epoch ms; -1 if malformed. */
static int month_range(const char *s, int64_t *since, int64_t *until)
{
    int y, m;
    char tail;
    if (strlen(s) != 7 || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 1970 || y > 9999 ||
        m < 1 || m > 12)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1};
    *since = (int64_t)timegm(&tm) * 1000;
    tm = (struct tm){.tm_year = m == 12 ? y + 1 - 1900 : y - 1900, .tm_mon = m % 12, .tm_mday = 1};
    *until = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Reads month / since / until / service; -1 with a 400 reply. */
static int period(struct nb_api_ctx *c, int64_t *since, int64_t *until, char **month,
                  char **service)
{
    _cleanup_free_ char *s = NULL, *u = NULL;
    *month = *service = NULL;
    if (nb_api_query(c, "month", month) < 0 || nb_api_query(c, "since", &s) < 0 ||
        nb_api_query(c, "until", &u) < 0 || nb_api_query(c, "service", service) < 0)
        return -1;
    if (*service && !(*service)[0]) {
        free(*service);
        *service = NULL;
    }
    if (*month && (s || u))
        return nb_api_fail(c, 400, "InvalidArgument", "give month or since/until, not both");
    if (*month) {
        if (month_range(*month, since, until) < 0)
            return nb_api_fail(c, 400, "InvalidArgument", "month '%s' is not YYYY-MM", *month);
        return 0;
    }
    int64_t now = nb_wall_ms();
    if (!s && !u) {
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char buf[32];
        strftime(buf, sizeof(buf), "%Y-%m", &tm);
        *month = nb_xstrdup(buf);
        month_range(buf, since, until);
        return 0;
    }
    *since = 0;
    *until = now + 1;
    if ((s && parse_ms(s, since) < 0) || (u && parse_ms(u, until) < 0))
        return nb_api_fail(c, 400, "InvalidArgument", "since and until are epoch milliseconds");
    if (*until <= *since)
        return nb_api_fail(c, 400, "InvalidArgument", "until must be after since");
    return 0;
}

static int sync_meter(struct nb_api_ctx *c)
{
    struct nb_err err = {0};
    if (c->api->meter && nb_meter_sync(c->api->meter, &err) < 0)
        return nb_api_fail_store(c, err.code ? err.code : -EIO, &err, NULL, NULL);
    return 0;
}

static double gb_s(uint64_t mb_ms)
{
    return (double)mb_ms / 1024000.0;
}

void nb_api_usage(struct nb_api_ctx *c)
{
    int64_t since, until;
    _cleanup_free_ char *month = NULL, *service = NULL;
    if (period(c, &since, &until, &month, &service) < 0 || sync_meter(c) < 0)
        return;
    struct nb_usage_sum *sums = NULL;
    size_t n = 0;
    struct nb_err err = {0};
    int r = nb_store_usage_sums(c->api->store, since, until, service, &sums, &n, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, NULL, NULL);
        return;
    }
    uint64_t inv = 0, mb_ms = 0, errors = 0, cold = 0;
    json_t *fns = json_array();
    for (size_t i = 0; i < n; i++) {
        struct nb_usage_sum *s = &sums[i];
        inv += s->invocations;
        mb_ms += s->mb_ms;
        errors += s->errors;
        cold += s->cold_starts;
        json_array_append_new(
            fns, json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:I, s:I, s:f}", "serviceName",
                           s->service, "functionName", s->function, "invocations",
                           (json_int_t)s->invocations, "errors", (json_int_t)s->errors,
                           "coldStarts", (json_int_t)s->cold_starts, "durationMs",
                           (double)s->duration_us / 1000.0, "billedMs", (json_int_t)s->billed_ms,
                           "mbMs", (json_int_t)s->mb_ms, "gbSeconds", gb_s(s->mb_ms)));
    }
    nb_store_usage_sums_free(sums, n);
    struct nb_meter_prices defaults = {0};
    const struct nb_meter_prices *p = c->api->meter ? nb_meter_prices(c->api->meter) : &defaults;
    if (!c->api->meter) {
        struct nb_meter_config cfg;
        nb_meter_config_default(&cfg);
        defaults = cfg.prices;
    }
    struct nb_meter_bill bill;
    nb_meter_bill(p, inv, mb_ms, &bill);
    char from[32], to[32];
    nb_api_format_time(since, from);
    nb_api_format_time(until, to);
    json_t *out = json_pack(
        "{s:{s:I, s:I, s:s, s:s}, s:s, s:{s:f, s:f, s:I, s:f}, s:I, s:I, s:I, s:I, s:f,"
        " s:{s:I, s:f}, s:{s:f, s:f, s:f}, s:o}",
        "period", "since", (json_int_t)since, "until", (json_int_t)until, "from", from, "to", to,
        "currency", p->currency, "prices", "per10kInvocations", p->per_10k_invocations,
        "perGbSecond", p->per_gb_s, "freeInvocations", (json_int_t)p->free_invocations,
        "freeGbSeconds", p->free_gb_s, "invocations", (json_int_t)inv, "errors", (json_int_t)errors,
        "coldStarts", (json_int_t)cold, "mbMs", (json_int_t)mb_ms, "gbSeconds", bill.gb_s,
        "freeTierUsed", "invocations", (json_int_t)bill.free_invocations, "gbSeconds",
        bill.free_gb_s, "cost", "invocations", bill.invocations_cost, "compute", bill.compute_cost,
        "total", bill.total, "functions", fns);
    if (month)
        json_object_set_new(json_object_get(out, "period"), "month", json_string(month));
    if (service)
        json_object_set_new(out, "serviceName", json_string(service));
    nb_api_reply(c, 200, out);
}

void nb_api_usage_records(struct nb_api_ctx *c)
{
    int64_t since, until;
    _cleanup_free_ char *month = NULL, *service = NULL, *function = NULL, *limit_s = NULL;
    if (period(c, &since, &until, &month, &service) < 0 ||
        nb_api_query(c, "function", &function) < 0 || nb_api_query(c, "limit", &limit_s) < 0)
        return;
    size_t limit = 1000;
    if (limit_s && limit_s[0]) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (*end || v < 1 || v > 100000) {
            nb_api_fail(c, 400, "InvalidArgument", "limit must be an integer between 1 and 100000");
            return;
        }
        limit = (size_t)v;
    }
    if (sync_meter(c) < 0)
        return;
    struct nb_usage_record *recs = NULL;
    size_t n = 0;
    struct nb_err err = {0};
    int r =
        nb_store_usage_records(c->api->store, since, until, service,
                               function && function[0] ? function : NULL, limit, &recs, &n, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, NULL, NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        struct nb_usage_record *u = &recs[i];
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:f, s:I, s:i, s:I, s:f, s:f, s:b, s:s}",
                           "time", (json_int_t)u->time_ms, "requestId", u->request_id,
                           "serviceName", u->service, "functionName", u->function, "version",
                           u->version, "durationMs", (double)u->duration_us / 1000.0, "billedMs",
                           (json_int_t)u->billed_ms, "memoryMB", (int)u->memory_mb, "mbMs",
                           (json_int_t)u->mb_ms, "gbSeconds", gb_s(u->mb_ms), "initDurationMs",
                           (double)u->init_us / 1000.0, "coldStart", u->cold, "status", u->status));
    }
    free(recs);
    nb_api_reply(c, 200, json_pack("{s:o}", "records", arr));
}
