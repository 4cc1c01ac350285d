/*
 * versions.c: `nubis versions SERVICE [-o json]` lists a service's
 * published versions (newest first, GET /api/v1/services/S/versions);
 * `nubis versions rm SERVICE VERSION` deletes one (refused while an alias
 * points at it).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis versions SERVICE [-o json]\n"
                            "       nubis versions rm SERVICE VERSION\n"
                            "\n"
                            "Lists the versions `nubis publish` made of SERVICE (newest first),\n"
                            "or deletes one (not while an alias points at it).\n"
                            "\n"
                            "  -o, --output json  print {\"versions\": [...]}\n";

int nb_cmd_versions(int argc, char **argv)
{
    int json, stop = nb_cli_output_opts("versions", usage, argc, argv, &json);
    if (stop >= 0)
        return stop;
    int n = argc - optind;
    char **a = argv + optind;
    int rm = n >= 1 && strcmp(a[0], "rm") == 0;
    if (rm ? n != 3 : n != 1)
        return nb_cli_usage_error("versions",
                                  rm ? "rm takes SERVICE VERSION" : "takes one SERVICE");
    const char *service = rm ? a[1] : a[0];
    if (strchr(service, '/'))
        return nb_cli_usage_error("versions", "'%s' is not a service name", service);

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *s = nb_client_seg(service);
    _cleanup_free_ char *base = nb_xasprintf("/api/v1/services/%s/versions", s);
    int rc;
    if (rm) {
        _cleanup_free_ char *v = nb_client_seg(a[2]);
        _cleanup_free_ char *path = nb_xasprintf("%s/%s", base, v);
        rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, NULL, &err);
        if (!rc)
            printf("deleted version %s of %s\n", a[2], service);
    } else {
        json_t *items = NULL;
        rc = nb_client_list(&cl, base, "versions", &items, &err);
        if (!rc && json) {
            json_t *o = json_pack("{s:O}", "versions", items);
            nb_cli_print_json(o);
            json_decref(o);
        } else if (!rc) {
            printf("%-8s  %-20s  %-30s  %s\n", "VERSION", "CREATED", "DESCRIPTION", "FUNCTIONS");
            size_t i, j;
            json_t *v, *f;
            json_array_foreach(items, i, v)
            {
                printf("%-8s  %-20s  %-30s  ", json_string_value(json_object_get(v, "versionId")),
                       json_string_value(json_object_get(v, "createdTime")),
                       json_string_value(json_object_get(v, "description")));
                json_array_foreach(json_object_get(v, "functions"), j, f)
                {
                    printf("%s%s", j ? "," : "", json_string_value(f) ? json_string_value(f) : "");
                }
                printf("\n");
            }
            if (json_array_size(items) == 0)
                printf("no versions of %s (publish one with `nubis publish %s`)\n", service,
                       service);
        }
        json_decref(items);
    }
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
