/*
 * keys.c: `nubis keys create [--scope S] | list | revoke ID [-o json]`:
 * access keys over /api/v1/keys (docs/security-gateway.md).  The secret is
 * printed once, by create; the server keeps it encrypted.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis keys create [--scope admin|deploy|invoke|service:NAME] [-o json]\n"
    "       nubis keys list [-o json]\n"
    "       nubis keys revoke ID\n"
    "\n"
    "Manages access keys (needs an admin key).  Scopes:\n"
    "  admin         everything, access keys included\n"
    "  deploy        services, functions, triggers, code, custom domains, invoke (default)\n"
    "  invoke        the invoke API and HTTP triggers with authType function\n"
    "  service:NAME  deploy and invoke, only for service NAME\n"
    "The secret is shown once, when the key is created: keep it.\n"
    "\n"
    "  -s, --scope SCOPE    the new key's scope\n"
    "  -o, --output json    print JSON\n";

int nb_cmd_keys(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scope", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *scope = NULL;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            scope = optarg;
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("keys", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("keys", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("keys", "missing a subcommand: create, list or revoke");
    const char *sub = argv[optind];
    int nargs = argc - optind - 1;
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
        return nb_cli_usage_error("keys", "unknown subcommand '%s'", sub);
    if (strcmp(sub, "revoke") == 0 ? nargs != 1 : nargs != 0)
        return nb_cli_usage_error("keys", "wrong number of arguments for '%s'", sub);
    if (scope && strcmp(sub, "create") != 0)
        return nb_cli_usage_error("keys", "--scope goes with create");

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    json_t *ans = NULL;
    int rc;
    if (strcmp(sub, "create") == 0) {
        json_t *body = scope ? json_pack("{s:s}", "scope", scope) : json_object();
        rc = nb_client_json(&cl, "POST", "/api/v1/keys", NULL, body, &ans, &err);
        json_decref(body);
        if (!rc && json) {
            nb_cli_print_json(ans);
        } else if (!rc) {
            printf("NUBIS_ACCESS_KEY_ID=%s\nNUBIS_ACCESS_KEY_SECRET=%s\n",
                   json_string_value(json_object_get(ans, "accessKeyId")) ?: "",
                   json_string_value(json_object_get(ans, "accessKeySecret")) ?: "");
            fprintf(stderr, "created key with scope %s; the secret is not shown again\n",
                    json_string_value(json_object_get(ans, "scope")) ?: "?");
        }
    } else if (strcmp(sub, "list") == 0) {
        rc = nb_client_json(&cl, "GET", "/api/v1/keys", NULL, NULL, &ans, &err);
        if (!rc && json) {
            nb_cli_print_json(ans);
        } else if (!rc) {
            printf("%-22s %-24s %s\n", "ID", "SCOPE", "CREATED");
            size_t i;
            json_t *k;
            json_array_foreach(json_object_get(ans, "keys"), i, k)
            {
                printf("%-22s %-24s %s\n",
                       json_string_value(json_object_get(k, "accessKeyId")) ?: "",
                       json_string_value(json_object_get(k, "scope")) ?: "",
                       json_string_value(json_object_get(k, "createdTime")) ?: "");
            }
        }
    } else {
        _cleanup_free_ char *id = nb_client_seg(argv[optind + 1]);
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/keys/%s", id);
        rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, &ans, &err);
        if (!rc)
            printf("revoked %s\n", argv[optind + 1]);
    }
    json_decref(ans);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
