/*
 * usage.c: `nubis usage [--month YYYY-MM] [--service S] [-o json]`: metered
 * invocations and GB-seconds per function, the free tier used and the bill
 * (docs/operations.md "Metering and billing").
 *
 * Asks GET /api/v1/usage?month=YYYY-MM[&service=S]; the server sums the
 * hourly usage and prices it with its configured prices, currency and free
 * tier, so the CLI only prints.  The default month is the current UTC one.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis usage [--month YYYY-MM] [--service SERVICE] [-o json]\n"
    "\n"
    "Prints a month's invocations and GB-seconds per function, the free tier\n"
    "used and the bill, at the server's prices (default 0.0133 per 10,000\n"
    "invocations and 0.00003167 per GB-s, free per month 1,000,000 invocations\n"
    "and 400,000 GB-s; see `billing:` in docs/operations.md).\n"
    "\n"
    "  -m, --month YYYY-MM      the month (UTC; default this month)\n"
    "  -s, --service SERVICE    only this service's functions\n"
    "  -o, --output json        print the server's JSON\n";

static double num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* 1234567 -> "1,234,567" */
static void thousands(double v, char out[40])
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%.0f", v);
    size_t len = strlen(tmp), o = 0;
    for (size_t i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0 && tmp[i - 1] != '-')
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = '\0';
}

static void print_bill(const json_t *ans)
{
    const json_t *period = json_object_get(ans, "period");
    const char *month = json_string_value(json_object_get(period, "month"));
    const char *svc = json_string_value(json_object_get(ans, "serviceName"));
    const char *cur = json_string_value(json_object_get(ans, "currency"));
    if (month)
        printf("usage for %s%s%s\n\n", month, svc ? ", service " : "", svc ? svc : "");
    else
        printf("usage from %s to %s\n\n", json_string_value(json_object_get(period, "from")),
               json_string_value(json_object_get(period, "to")));
    printf("%-40s  %12s  %7s  %14s\n", "FUNCTION", "INVOCATIONS", "ERRORS", "GB-S");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(ans, "functions"), i, f)
    {
        const char *s = json_string_value(json_object_get(f, "serviceName"));
        const char *fn = json_string_value(json_object_get(f, "functionName"));
        _cleanup_free_ char *name = nb_xasprintf("%s/%s", s ? s : "?", fn ? fn : "?");
        printf("%-40s  %12.0f  %7.0f  %14.6f\n", name, num(f, "invocations"), num(f, "errors"),
               num(f, "gbSeconds"));
    }
    if (json_array_size(json_object_get(ans, "functions")) == 0)
        printf("(no invocations)\n");
    printf("%-40s  %12.0f  %7.0f  %14.6f\n\n", "total", num(ans, "invocations"), num(ans, "errors"),
           num(ans, "gbSeconds"));
    const json_t *p = json_object_get(ans, "prices");
    const json_t *free_used = json_object_get(ans, "freeTierUsed");
    const json_t *cost = json_object_get(ans, "cost");
    char a[40], b[40];
    thousands(num(free_used, "invocations"), a);
    thousands(num(p, "freeInvocations"), b);
    printf("free tier used: %s of %s invocations, ", a, b);
    thousands(num(p, "freeGbSeconds"), b);
    printf("%.3f of %s GB-s\n", num(free_used, "gbSeconds"), b);
    printf("prices: %g %s per 10,000 invocations, %g %s per GB-s\n", num(p, "per10kInvocations"),
           cur ? cur : "", num(p, "perGbSecond"), cur ? cur : "");
    printf("bill: invocations %.4f + compute %.4f = %.4f %s\n", num(cost, "invocations"),
           num(cost, "compute"), num(cost, "total"), cur ? cur : "");
}

int nb_cmd_usage(int argc, char **argv)
{
    static const struct option opts[] = {
        {"month", required_argument, NULL, 'm'},
        {"service", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *month = NULL, *service = NULL;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:s:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': {
            int y, mo;
            char tail;
            if (strlen(optarg) != 7 || sscanf(optarg, "%4d-%2d%c", &y, &mo, &tail) != 2 || mo < 1 ||
                mo > 12)
                return nb_cli_usage_error("usage", "--month takes YYYY-MM, not '%s'", optarg);
            month = optarg;
            break;
        }
        case 's':
            service = optarg;
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

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *svc = service ? nb_client_seg(service) : NULL;
    _cleanup_free_ char *query =
        nb_xasprintf("%s%s%s%s%s", month ? "month=" : "", month ? month : "",
                     month && svc ? "&" : "", svc ? "service=" : "", svc ? svc : "");
    json_t *ans = NULL;
    int rc = nb_client_json(&cl, "GET", "/api/v1/usage", query[0] ? query : NULL, NULL, &ans, &err);
    if (!rc && json)
        nb_cli_print_json(ans);
    else if (!rc)
        print_bill(ans);
    json_decref(ans);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
