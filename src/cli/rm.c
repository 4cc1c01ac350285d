/*
 * rm.c: `nubis rm S/F` deletes a function (and its triggers, server side);
 * `nubis rm S` deletes a service, which must be empty unless -r/--recursive
 * is given, in which case its functions are deleted first.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis rm SERVICE/FUNCTION\n"
    "       nubis rm [-r] SERVICE\n"
    "\n"
    "Deletes a function and its triggers, or a service.\n"
    "\n"
    "  -r, --recursive  delete the service's functions first (else the service\n"
    "                   must be empty)\n";

static int delete_function(struct nb_client *cl, const char *svc, const char *fn,
                           struct nb_err *err)
{
    _cleanup_free_ char *s = nb_client_seg(svc);
    _cleanup_free_ char *f = nb_client_seg(fn);
    _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions/%s", s, f);
    int rc = nb_client_json(cl, "DELETE", path, NULL, NULL, NULL, err);
    if (!rc)
        printf("deleted function %s/%s\n", svc, fn);
    return rc;
}

int nb_cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"recursive", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int recursive = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":rh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            recursive = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("rm", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("rm", "missing SERVICE or SERVICE/FUNCTION");
    if (argc - optind > 1)
        return nb_cli_usage_error("rm", "unexpected argument '%s'", argv[optind + 1]);
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (nb_cli_split_target(argv[optind], &svc, &fn))
        return nb_cli_usage_error("rm", "'%s' is not SERVICE or SERVICE/FUNCTION", argv[optind]);

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    int rc = 0;
    if (fn) {
        rc = delete_function(&cl, svc, fn, &err);
    } else {
        _cleanup_free_ char *s = nb_client_seg(svc);
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s", s);
        if (recursive) {
            _cleanup_free_ char *fpath = nb_xasprintf("%s/functions", path);
            json_t *fns = NULL;
            rc = nb_client_list(&cl, fpath, "functions", &fns, &err);
            size_t i;
            json_t *f;
            json_array_foreach(rc ? NULL : fns, i, f)
            {
                const char *name = json_string_value(json_object_get(f, "functionName"));
                if (name && (rc = delete_function(&cl, svc, name, &err)))
                    break;
            }
            json_decref(fns);
        }
        if (!rc)
            rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, NULL, &err);
        if (!rc)
            printf("deleted service %s\n", svc);
        else if (!recursive && strstr(err.msg, "ServiceNotEmpty"))
            strncat(err.msg, " (use -r to delete its functions too)",
                    sizeof(err.msg) - strlen(err.msg) - 1);
    }
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
