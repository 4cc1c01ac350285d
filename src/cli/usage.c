/*
 * usage.c: `nubis usage [--since WHEN] [--until WHEN] [-o json]`: metered
 * invocations and GB-seconds per function, and the bill at DESIGN.md's
 * default prices after the monthly free tier.
 *
 * Asks GET /api/v1/usage?since=<epoch ms>&until=<epoch ms>, expecting
 * {"invocations", "gbSeconds", "functions": [{"serviceName", "functionName",
 * "invocations", "gbSeconds", ...}]}; a "cost" the server sends wins over
 * the one computed here.  The default period is the current UTC month.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/util.h"
#include "cli/client.h"
#include "cli/cmd.h"

#define PRICE_PER_10K_INVOCATIONS 0.0133
#define PRICE_PER_GB_S 0.00003167
#define FREE_INVOCATIONS 1000000.0
#define FREE_GB_S 400000.0

static const char usage[] =
    "Usage: nubis usage [--since WHEN] [--until WHEN] [-o json]\n"
    "\n"
    "Prints invocations and GB-seconds per function and the bill at the\n"
    "default prices (0.0133 per 10,000 invocations, 0.00003167 per GB-s; free\n"
    "per month: 1,000,000 invocations and 400,000 GB-s).  Default period: this\n"
    "month (UTC).\n"
    "\n"
    "  -s, --since WHEN   start: a duration back from now (1h, 7d) or RFC 3339\n"
    "  -u, --until WHEN   end (default now)\n"
    "  -o, --output json  print the server's JSON\n";

static double num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *str2(const json_t *o, const char *a, const char *b)
{
    const char *s = json_string_value(json_object_get(o, a));
    return s ? s : json_string_value(json_object_get(o, b));
}

int nb_cmd_usage(int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    long long now = (long long)nb_wall_ms(), since = -1, until = -1;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:u:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'u':
            if (nb_cli_parse_since(optarg, now, c == 's' ? &since : &until))
                return nb_cli_usage_error("usage", "'%s' is not a duration or an RFC 3339 time",
                                          optarg);
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("usage", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("usage", c, argv);
        }
    }
    if (optind < argc)
        return nb_cli_usage_error("usage", "unexpected argument '%s'", argv[optind]);
    if (since < 0) {
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        since = (long long)timegm(&tm) * 1000;
    }
    if (until < 0)
        until = now;

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *query = nb_xasprintf("since=%lld&until=%lld", since, until);
    json_t *ans = NULL;
    int rc = nb_client_json(&cl, "GET", "/api/v1/usage", query, NULL, &ans, &err);
    if (!rc && json) {
        nb_cli_print_json(ans);
    } else if (!rc) {
        char from[32], to[32];
        nb_format_time(since, from);
        nb_format_time(until, to);
        printf("usage from %s to %s\n\n", from, to);
        printf("%-40s  %12s  %14s\n", "FUNCTION", "INVOCATIONS", "GB-S");
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(ans, "functions"), i, f)
        {
            const char *s = str2(f, "serviceName", "service");
            const char *fn = str2(f, "functionName", "function");
            _cleanup_free_ char *name = nb_xasprintf("%s/%s", s ? s : "?", fn ? fn : "?");
            printf("%-40s  %12.0f  %14.3f\n", name, num(f, "invocations"), num(f, "gbSeconds"));
        }
        double inv = num(ans, "invocations"), gbs = num(ans, "gbSeconds");
        printf("%-40s  %12.0f  %14.3f\n\n", "total", inv, gbs);
        double inv_cost = (inv > FREE_INVOCATIONS ? inv - FREE_INVOCATIONS : 0) / 10000.0 *
                          PRICE_PER_10K_INVOCATIONS;
        double gbs_cost = (gbs > FREE_GB_S ? gbs - FREE_GB_S : 0) * PRICE_PER_GB_S;
        json_t *cost = json_object_get(ans, "cost");
        printf("free per month: 1,000,000 invocations, 400,000 GB-s\n");
        if (json_is_number(cost))
            printf("bill: %.4f\n", json_number_value(cost));
        else
            printf("bill: invocations %.4f + compute %.4f = %.4f\n", inv_cost, gbs_cost,
                   inv_cost + gbs_cost);
    }
    json_decref(ans);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
