/*
 * list.c: `nubis list [SERVICE] [-o json]`: services and their functions
 * as a table (NAME RUNTIME MEMORY TIMEOUT MODIFIED), or one service's
 * functions.  -o json prints the server's objects: {"services": [... each
 * with its "functions"]} or {"functions": [...]}.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis list [SERVICE] [-o json]\n"
                            "\n"
                            "Lists every service and its functions, or SERVICE's functions.\n"
                            "\n"
                            "  -o, --output json  print the server's JSON\n";

struct row {
    char *name;
    const char *runtime, *modified;
    long long memory, timeout;
};

static void add_rows(struct row **rows, size_t *n, const char *svc, const json_t *fns,
                     const json_t *service)
{
    size_t i;
    json_t *f;
    if (json_array_size(fns) == 0 && service) {
        *rows = nb_xrealloc(*rows, (*n + 1) * sizeof(**rows));
        (*rows)[(*n)++] = (struct row){
            .name = nb_xasprintf("%s/", svc),
            .modified = json_string_value(json_object_get(service, "lastModifiedTime")),
            .memory = -1,
            .timeout = -1,
        };
        return;
    }
    json_array_foreach(fns, i, f)
    {
        json_t *mem = json_object_get(f, "memorySize"), *to = json_object_get(f, "timeout");
        *rows = nb_xrealloc(*rows, (*n + 1) * sizeof(**rows));
        (*rows)[(*n)++] = (struct row){
            .name = nb_xasprintf("%s/%s", svc,
                                 json_string_value(json_object_get(f, "functionName"))
                                     ? json_string_value(json_object_get(f, "functionName"))
                                     : "?"),
            .runtime = json_string_value(json_object_get(f, "runtime")),
            .modified = json_string_value(json_object_get(f, "lastModifiedTime")),
            .memory = json_is_integer(mem) ? json_integer_value(mem) : -1,
            .timeout = json_is_integer(to) ? json_integer_value(to) : -1,
        };
    }
}

static void print_table(struct row *rows, size_t n)
{
    int w = 4;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(rows[i].name) > w)
            w = (int)strlen(rows[i].name);
    printf("%-*s  %-10s  %-6s  %-7s  %s\n", w, "NAME", "RUNTIME", "MEMORY", "TIMEOUT", "MODIFIED");
    for (size_t i = 0; i < n; i++) {
        char mem[24] = "-", to[24] = "-";
        if (rows[i].memory >= 0)
            snprintf(mem, sizeof(mem), "%lldMB", rows[i].memory);
        if (rows[i].timeout >= 0)
            snprintf(to, sizeof(to), "%llds", rows[i].timeout);
        printf("%-*s  %-10s  %-6s  %-7s  %s\n", w, rows[i].name,
               rows[i].runtime ? rows[i].runtime : "-", mem, to,
               rows[i].modified ? rows[i].modified : "-");
    }
}

int nb_cmd_list(int argc, char **argv)
{
    int json, stop = nb_cli_output_opts("list", usage, argc, argv, &json);
    if (stop >= 0)
        return stop;
    if (argc - optind > 1)
        return nb_cli_usage_error("list", "unexpected argument '%s'", argv[optind + 1]);
    const char *only = optind < argc ? argv[optind] : NULL;
    if (only && strchr(only, '/'))
        return nb_cli_usage_error("list", "takes a SERVICE, not '%s'", only);

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);

    json_t *services = NULL, *out = json_object();
    struct row *rows = NULL;
    size_t nrows = 0;
    int rc = 0;
    if (only) {
        _cleanup_free_ char *s = nb_client_seg(only);
        _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions", s);
        json_t *fns;
        rc = nb_client_list(&cl, path, "functions", &fns, &err);
        if (!rc) {
            json_object_set_new(out, "functions", fns);
            add_rows(&rows, &nrows, only, fns, NULL);
        }
    } else {
        rc = nb_client_list(&cl, "/api/v1/services", "services", &services, &err);
        if (!rc)
            json_object_set(out, "services", services);
        size_t i;
        json_t *svc;
        json_array_foreach(rc ? NULL : services, i, svc)
        {
            const char *name = json_string_value(json_object_get(svc, "serviceName"));
            if (!name)
                continue;
            _cleanup_free_ char *s = nb_client_seg(name);
            _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions", s);
            json_t *fns;
            if ((rc = nb_client_list(&cl, path, "functions", &fns, &err)))
                break;
            json_object_set_new(svc, "functions", fns);
            add_rows(&rows, &nrows, name, fns, svc);
        }
    }
    if (!rc) {
        if (json)
            nb_cli_print_json(out);
        else if (nrows == 0)
            printf(only ? "no functions in service %s\n" : "no services yet (see `nubis deploy`)\n",
                   only);
        else
            print_table(rows, nrows);
    }
    for (size_t i = 0; i < nrows; i++)
        free(rows[i].name);
    free(rows);
    json_decref(services);
    json_decref(out);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
