/*
 * get.c: `nubis get S/F` (a function's config and its triggers) and
 * `nubis get S` (a service).  -o json prints {"function", "triggers"} or the
 * service object as the server sent them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis get SERVICE[/FUNCTION] [-o json]\n"
                            "\n"
                            "Shows a function's configuration and triggers, or a service.\n"
                            "\n"
                            "  -o, --output json  print the server's JSON ({function, triggers}\n"
                            "                     for a function)\n";

/* Prints an object's fields as "  key: value", nested values as compact JSON. */
static void print_fields(const json_t *o, const char *indent)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (json_is_string(v)) {
            printf("%s%-22s %s\n", indent, k, json_string_value(v));
        } else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%s%-22s %s\n", indent, k, s ? s : "?");
            free(s);
        }
    }
}

int nb_cmd_get(int argc, char **argv)
{
    int json, stop = nb_cli_output_opts("get", usage, argc, argv, &json);
    if (stop >= 0)
        return stop;
    if (optind >= argc)
        return nb_cli_usage_error("get", "missing SERVICE or SERVICE/FUNCTION");
    if (argc - optind > 1)
        return nb_cli_usage_error("get", "unexpected argument '%s'", argv[optind + 1]);
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (nb_cli_split_target(argv[optind], &svc, &fn))
        return nb_cli_usage_error("get", "'%s' is not SERVICE or SERVICE/FUNCTION", argv[optind]);

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *s = nb_client_seg(svc);
    int rc;
    if (!fn) {
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s", s);
        json_t *ans = NULL;
        rc = nb_client_json(&cl, "GET", path, NULL, NULL, &ans, &err);
        if (!rc) {
            if (json) {
                nb_cli_print_json(ans);
            } else {
                printf("service %s\n", svc);
                print_fields(ans, "  ");
            }
        }
        json_decref(ans);
    } else {
        _cleanup_free_ char *f = nb_client_seg(fn);
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions/%s", s, f);
        _cleanup_free_ char *tpath = nb_xasprintf("%s/triggers", path);
        json_t *ans = NULL, *triggers = NULL;
        rc = nb_client_json(&cl, "GET", path, NULL, NULL, &ans, &err);
        if (!rc)
            rc = nb_client_list(&cl, tpath, "triggers", &triggers, &err);
        if (!rc && json) {
            json_t *o =
                json_pack("{s:O,s:O}", "function", ans ? ans : json_null(), "triggers", triggers);
            nb_cli_print_json(o);
            json_decref(o);
        } else if (!rc) {
            printf("function %s/%s\n", svc, fn);
            print_fields(ans, "  ");
            printf("triggers:%s\n", json_array_size(triggers) ? "" : " none");
            size_t i;
            json_t *t;
            json_array_foreach(triggers, i, t)
            {
                const char *type = json_string_value(json_object_get(t, "triggerType"));
                const char *q = json_string_value(json_object_get(t, "qualifier"));
                printf("  %s (%s)", json_string_value(json_object_get(t, "triggerName")),
                       type ? type : "?");
                if (type && !strcmp(type, "http")) {
                    if (q && strcmp(q, "LATEST"))
                        printf(": %s/2016-08-15/proxy/%s.%s/%s/", cl.url, s, q, fn);
                    else
                        printf(": %s/2016-08-15/proxy/%s/%s/", cl.url, s, fn);
                }
                char *cfg =
                    json_dumps(json_object_get(t, "triggerConfig"), JSON_COMPACT | JSON_ENCODE_ANY);
                printf("\n    config: %s\n", cfg ? cfg : "{}");
                free(cfg);
            }
        }
        json_decref(ans);
        json_decref(triggers);
    }
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
