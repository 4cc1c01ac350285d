/*
 * trigger.c: `nubis trigger add|list|rm`: a function's triggers through
 * /api/v1/services/S/functions/F/triggers.  A timer's cronExpression is
 * checked locally with the server's own parser (timer/cron.h) before
 * anything is sent.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"
#include "timer/cron.h"

static const char usage[] =
    "Usage: nubis trigger add SERVICE/FUNCTION NAME --type timer --cron EXPR\n"
    "                         [--payload P] [--disable] [--qualifier Q]\n"
    "       nubis trigger add SERVICE/FUNCTION NAME --type http\n"
    "                         [--methods GET,POST] [--auth anonymous|function]\n"
    "       nubis trigger list SERVICE/FUNCTION [-o json]\n"
    "       nubis trigger rm SERVICE/FUNCTION NAME\n"
    "\n"
    "Adds (or replaces), lists or deletes a function's triggers.\n"
    "\n"
    "  -t, --type TYPE      timer or http\n"
    "  -c, --cron EXPR      timer schedule, UTC: 6 fields with seconds (\"0 0 4 * * *\"),\n"
    "                       5 fields (\"*/5 * * * *\"), @every 30s|5m|1h30m, @hourly,\n"
    "                       @daily, @weekly, @monthly, @yearly\n"
    "  -p, --payload P      timer: the event's \"payload\" string\n"
    "      --disable        timer: create it disabled\n"
    "  -m, --methods LIST   http: comma-separated methods (default: all)\n"
    "  -a, --auth TYPE      http: anonymous or function (signed; the default)\n"
    "  -q, --qualifier Q    version or alias the trigger calls (default LATEST)\n"
    "  -o, --output json    list: print the triggers as JSON\n";

static int target(const char *arg, char **svc, char **fn)
{
    return nb_cli_split_target(arg, svc, fn) || !*fn ? -1 : 0;
}

static char *triggers_path(const char *svc, const char *fn, const char *name)
{
    _cleanup_free_ char *s = nb_client_seg(svc);
    _cleanup_free_ char *f = nb_client_seg(fn);
    if (!name)
        return nb_xasprintf("/api/v1/services/%s/functions/%s/triggers", s, f);
    _cleanup_free_ char *t = nb_client_seg(name);
    return nb_xasprintf("/api/v1/services/%s/functions/%s/triggers/%s", s, f, t);
}

static int do_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"cron", required_argument, NULL, 'c'},
        {"payload", required_argument, NULL, 'p'},
        {"disable", no_argument, NULL, 'D'},
        {"methods", required_argument, NULL, 'm'},
        {"auth", required_argument, NULL, 'a'},
        {"qualifier", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *type = NULL, *cron = NULL, *payload = NULL, *methods = NULL, *auth = NULL,
               *qualifier = NULL;
    int disable = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":t:c:p:m:a:q:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            type = optarg;
            break;
        case 'c':
            cron = optarg;
            break;
        case 'p':
            payload = optarg;
            break;
        case 'D':
            disable = 1;
            break;
        case 'm':
            methods = optarg;
            break;
        case 'a':
            auth = optarg;
            break;
        case 'q':
            qualifier = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("trigger", c, argv);
        }
    }
    if (argc - optind != 2)
        return nb_cli_usage_error("trigger", "add needs SERVICE/FUNCTION and NAME");
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (target(argv[optind], &svc, &fn))
        return nb_cli_usage_error("trigger", "'%s' is not SERVICE/FUNCTION", argv[optind]);
    const char *name = argv[optind + 1];
    if (!type)
        return nb_cli_usage_error("trigger", "--type timer or --type http is required");
    json_t *cfg;
    if (!strcmp(type, "timer")) {
        if (!cron)
            return nb_cli_usage_error("trigger", "a timer needs --cron EXPR");
        if (methods || auth)
            return nb_cli_usage_error("trigger", "--methods and --auth are for http triggers");
        struct nb_cron parsed;
        struct nb_err cerr = {0};
        if (nb_cron_parse(cron, &parsed, &cerr) < 0)
            return nb_cli_fail("cronExpression: %s", cerr.msg);
        cfg = json_pack("{s:s, s:s, s:b}", "cronExpression", cron, "payload",
                        payload ? payload : "", "enable", !disable);
    } else if (!strcmp(type, "http")) {
        if (cron || payload || disable)
            return nb_cli_usage_error("trigger",
                                      "--cron, --payload and --disable are for timer triggers");
        cfg = json_pack("{s:s}", "authType", auth ? auth : "function");
        if (methods) {
            json_t *arr = json_array();
            _cleanup_free_ char *copy = nb_xstrdup(methods);
            char *save = NULL;
            for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (*m)
                    json_array_append_new(arr, json_string(m));
            json_object_set_new(cfg, "methods", arr);
        }
    } else {
        return nb_cli_usage_error("trigger", "--type must be timer or http, not '%s'", type);
    }
    json_t *body = json_pack("{s:s, s:s, s:o}", "triggerName", name, "triggerType", type,
                             "triggerConfig", cfg);
    if (qualifier)
        json_object_set_new(body, "qualifier", json_string(qualifier));
    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err)) {
        json_decref(body);
        return nb_cli_fail_err(&err);
    }
    _cleanup_free_ char *path = triggers_path(svc, fn, name);
    int rc = nb_client_json(&cl, "PUT", path, NULL, body, NULL, &err);
    json_decref(body);
    nb_client_release(&cl);
    if (rc)
        return nb_cli_fail_err(&err);
    printf("trigger %s/%s/%s (%s) saved\n", svc, fn, name, type);
    return 0;
}

static void print_trigger(json_t *t)
{
    const char *name = json_string_value(json_object_get(t, "triggerName")) ?: "?";
    const char *type = json_string_value(json_object_get(t, "triggerType")) ?: "?";
    json_t *cfg = json_object_get(t, "triggerConfig");
    if (!strcmp(type, "timer")) {
        printf("%-20s timer  %-24s %s%s%s\n", name,
               json_string_value(json_object_get(cfg, "cronExpression")) ?: "",
               json_is_false(json_object_get(cfg, "enable")) ? "disabled" : "enabled",
               json_string_length(json_object_get(cfg, "payload")) ? "  payload: " : "",
               json_string_value(json_object_get(cfg, "payload")) ?: "");
    } else {
        char methods[128] = "";
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(cfg, "methods"), i, m)
        {
            if (i)
                strncat(methods, ",", sizeof(methods) - strlen(methods) - 1);
            strncat(methods, json_string_value(m) ?: "", sizeof(methods) - strlen(methods) - 1);
        }
        printf("%-20s http   %-24s %s\n", name, methods,
               json_string_value(json_object_get(cfg, "authType")) ?: "");
    }
}

static int do_list(int argc, char **argv)
{
    int json, stop = nb_cli_output_opts("trigger", usage, argc, argv, &json);
    if (stop >= 0)
        return stop;
    if (argc - optind != 1)
        return nb_cli_usage_error("trigger", "list needs SERVICE/FUNCTION");
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (target(argv[optind], &svc, &fn))
        return nb_cli_usage_error("trigger", "'%s' is not SERVICE/FUNCTION", argv[optind]);
    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *path = triggers_path(svc, fn, NULL);
    json_t *items = NULL;
    int rc = nb_client_list(&cl, path, "triggers", &items, &err);
    nb_client_release(&cl);
    if (rc)
        return nb_cli_fail_err(&err);
    if (json) {
        nb_cli_print_json(items);
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(items, i, t) print_trigger(t);
    }
    json_decref(items);
    return 0;
}

static int do_rm(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 3)
        return nb_cli_usage_error("trigger", "rm needs SERVICE/FUNCTION and NAME");
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (target(argv[1], &svc, &fn))
        return nb_cli_usage_error("trigger", "'%s' is not SERVICE/FUNCTION", argv[1]);
    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *path = triggers_path(svc, fn, argv[2]);
    int rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, NULL, &err);
    nb_client_release(&cl);
    if (rc)
        return nb_cli_fail_err(&err);
    printf("deleted trigger %s/%s/%s\n", svc, fn, argv[2]);
    return 0;
}

int nb_cmd_trigger(int argc, char **argv)
{
    if (argc < 2)
        return nb_cli_usage_error("trigger", "missing add, list or rm");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "add"))
        return do_add(argc - 1, argv + 1);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return do_list(argc - 1, argv + 1);
    if (!strcmp(sub, "rm") || !strcmp(sub, "delete"))
        return do_rm(argc - 1, argv + 1);
    return nb_cli_usage_error("trigger", "unknown subcommand '%s': use add, list or rm", sub);
}
