/*
 * publish.c: `nubis publish SERVICE [--description D] [-o json]`: snapshots
 * the service's LATEST as an immutable version (FC 2.0 semantics):
 * POST /api/v1/services/S/versions {description} -> {versionId, ...}.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis publish SERVICE [--description TEXT] [-o json]\n"
                            "\n"
                            "Publishes the service's current (LATEST) functions as a new\n"
                            "immutable version and prints its id.  Point an alias at it with\n"
                            "`nubis alias set`.\n"
                            "\n"
                            "  -d, --description TEXT  what this version is\n"
                            "  -o, --output json       print the version as JSON\n";

int nb_cmd_publish(int argc, char **argv)
{
    static const struct option opts[] = {
        {"description", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *desc = NULL;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            desc = optarg;
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("publish", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("publish", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("publish", "missing SERVICE");
    if (argc - optind > 1 || strchr(argv[optind], '/'))
        return nb_cli_usage_error("publish", "takes one SERVICE");

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *s = nb_client_seg(argv[optind]);
    _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/versions", s);
    json_t *body = json_pack("{s:s}", "description", desc ? desc : ""), *ans = NULL;
    int rc = nb_client_json(&cl, "POST", path, NULL, body, &ans, &err);
    json_decref(body);
    if (!rc) {
        if (json) {
            nb_cli_print_json(ans);
        } else {
            json_t *v = json_object_get(ans, "versionId");
            if (json_is_string(v))
                printf("published %s version %s\n", argv[optind], json_string_value(v));
            else if (json_is_integer(v))
                printf("published %s version %lld\n", argv[optind],
                       (long long)json_integer_value(v));
            else
                printf("published %s\n", argv[optind]);
        }
    }
    json_decref(ans);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
