/*
 * invocations.c: `nubis invocations S/F [--limit N] [-o json]` lists a
 * function's recent async invocations (GET /api/v1/invocations?service&
 * function&limit), and `nubis invocations ID` shows one
 * (GET /api/v1/invocations/ID).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis invocations SERVICE/FUNCTION [--limit N] [-o json]\n"
    "       nubis invocations INVOCATION_ID [-o json]\n"
    "\n"
    "Lists a function's recent async invocations, newest first (state: queued,\n"
    "running, succeeded, failed or expired), or shows one with its result or error.\n"
    "\n"
    "  -n, --limit N        at most N invocations (default 20, at most 1000)\n"
    "  -o, --output json    print the API's JSON\n";

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)) ?: "-";
}

static void print_one(json_t *o)
{
    printf("invocation  %s\nfunction    %s/%s\nstate       %s\nattempts    %lld\n"
           "created     %s\nstarted     %s\nfinished    %s\n",
           str(o, "invocationId"), str(o, "service"), str(o, "function"), str(o, "state"),
           (long long)json_integer_value(json_object_get(o, "attempts")), str(o, "createdTime"),
           str(o, "startedTime"), str(o, "finishedTime"));
    json_t *r = json_object_get(o, "result");
    if (json_is_string(r))
        printf("result      %s\n", json_string_value(r));
    else if (json_object_get(o, "resultBase64"))
        printf("result      (binary, base64) %s\n", str(o, "resultBase64"));
    json_t *e = json_object_get(o, "error");
    if (e) {
        char *s = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("error       %s\n", s ? s : "");
        free(s);
    }
}

int nb_cmd_invocations(int argc, char **argv)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int json = 0, c;
    long limit = 20;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 1 || limit > 1000)
                return nb_cli_usage_error("invocations", "--limit takes a number from 1 to 1000");
            break;
        }
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("invocations", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("invocations", c, argv);
        }
    }
    if (argc - optind != 1)
        return nb_cli_usage_error("invocations", "expected SERVICE/FUNCTION or an invocation id");
    const char *arg = argv[optind];
    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    json_t *out = NULL;
    int rc;
    int single = strchr(arg, '/') == NULL;
    if (single) {
        _cleanup_free_ char *id = nb_client_seg(arg);
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/invocations/%s", id);
        rc = nb_client_json(&cl, "GET", path, NULL, NULL, &out, &err);
    } else {
        _cleanup_free_ char *svc = NULL, *fn = NULL;
        if (nb_cli_split_target(arg, &svc, &fn) || !fn) {
            nb_client_release(&cl);
            return nb_cli_usage_error("invocations", "'%s' is not SERVICE/FUNCTION", arg);
        }
        _cleanup_free_ char *s = nb_client_seg(svc);
        _cleanup_free_ char *f = nb_client_seg(fn);
        _cleanup_free_ char *query = nb_xasprintf("service=%s&function=%s&limit=%ld", s, f, limit);
        rc = nb_client_json(&cl, "GET", "/api/v1/invocations", query, NULL, &out, &err);
    }
    nb_client_release(&cl);
    if (rc)
        return nb_cli_fail_err(&err);
    if (json) {
        nb_cli_print_json(single ? out : json_object_get(out, "invocations"));
    } else if (single) {
        print_one(out);
    } else {
        size_t i;
        json_t *o;
        json_t *arr = json_object_get(out, "invocations");
        if (json_array_size(arr) > 0)
            printf("%-36s  %-9s  %-8s  %s\n", "INVOCATION", "STATE", "ATTEMPTS", "CREATED");
        json_array_foreach(arr, i, o)
        {
            printf("%-36s  %-9s  %-8lld  %s\n", str(o, "invocationId"), str(o, "state"),
                   (long long)json_integer_value(json_object_get(o, "attempts")),
                   str(o, "createdTime"));
        }
    }
    json_decref(out);
    return 0;
}
