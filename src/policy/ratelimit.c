/*
 * ratelimit.c: token buckets (policy.h).
 *
 * A bucket holds up to `burst` tokens and gains `qps` a second; a request
 * takes one.  Over a window of T seconds at most burst + qps * T requests
 * pass, which is what bench/ratelimit.sh measures.  Buckets are refilled
 * lazily from the time of their last use, so an idle bucket costs nothing
 * and a full one can be forgotten (nb_bucket_idle).
 */
#include "policy/policy.h"

#include <errno.h>
#include <string.h>

#define QPS_MAX 1e6
#define BURST_MAX 1e6

int nb_rate_parse(const json_t *v, const char *field, struct nb_rate *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (v == NULL || json_is_null(v))
        return 0;
    json_t *qps = json_object_get(v, "qps"), *burst = json_object_get(v, "burst");
    const char *key;
    json_t *val;
    if (!json_is_object(v) || !json_is_number(qps))
        return nb_err_set(err, -EINVAL, "%s must be an object {\"qps\": N, \"burst\": M}", field);
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "qps") != 0 && strcmp(key, "burst") != 0)
            return nb_err_set(err, -EINVAL, "%s: unknown key '%s' (use qps and burst)", field, key);
    }
    double q = json_number_value(qps);
    if (!(q > 0) || q > QPS_MAX)
        return nb_err_set(err, -EINVAL, "%s.qps must be a number above 0 and at most 1000000",
                          field);
    double b = q < 1 ? 1 : q;
    if (burst) {
        if (!json_is_number(burst) || json_number_value(burst) < 1 ||
            json_number_value(burst) > BURST_MAX)
            return nb_err_set(err, -EINVAL, "%s.burst must be a number between 1 and 1000000",
                              field);
        b = (double)(long long)json_number_value(burst);
    }
    out->qps = q;
    out->burst = b;
    return 0;
}

static void refill(struct nb_bucket *b, const struct nb_rate *r, uint64_t now_ns)
{
    if (b->last_ns == 0) {
        b->tokens = r->burst;
    } else if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * r->qps;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
    }
    b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
}

double nb_bucket_take(struct nb_bucket *b, const struct nb_rate *r, uint64_t now_ns)
{
    if (r->qps <= 0)
        return 0;
    refill(b, r, now_ns);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 0;
    }
    return (1 - b->tokens) / r->qps;
}

int nb_bucket_idle(const struct nb_bucket *b, const struct nb_rate *r, uint64_t now_ns)
{
    if (b->last_ns == 0 || r->qps <= 0)
        return 1;
    double t = b->tokens + (double)(now_ns - b->last_ns) / 1e9 * r->qps;
    return now_ns >= b->last_ns && t >= r->burst;
}
