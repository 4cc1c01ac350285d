/*
 * domain.c: `nubis domain add|set|list|get|rm`: custom domains over
 * /api/v1/custom-domains (docs/security-gateway.md).  A route is given as
 * PATH=SERVICE/FUNCTION[.QUALIFIER], e.g. --route '/login=shop/auth.prod'.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis domain add DOMAIN --route PATH=SERVICE/FUNCTION[.QUALIFIER] [--route ...]\n"
    "       nubis domain set DOMAIN --route ... [--route ...]   (create or replace the routes)\n"
    "       nubis domain list [-o json]\n"
    "       nubis domain get DOMAIN [-o json]\n"
    "       nubis domain rm DOMAIN\n"
    "\n"
    "Routes requests whose Host header is DOMAIN to functions by path (FC's custom\n"
    "domains): an exact PATH (/login) matches only itself and wins; a PATH ending in\n"
    "'*' (/api/*) matches everything under it, the longest such prefix winning; '/*'\n"
    "catches the rest.  The function must have an HTTP trigger; it sees the full path.\n"
    "\n"
    "  -r, --route ROUTE    PATH=SERVICE/FUNCTION[.QUALIFIER] (repeatable)\n"
    "  -o, --output json    print JSON\n";

/* "PATH=S/F[.Q]" -> a route object (new reference), or NULL if malformed. */
static json_t *parse_route(const char *spec)
{
    const char *eq = strrchr(spec, '=');
    if (eq == NULL || eq == spec)
        return NULL;
    _cleanup_free_ char *path = nb_xstrndup(spec, (size_t)(eq - spec));
    _cleanup_free_ char *target = nb_xstrdup(eq + 1);
    char *slash = strchr(target, '/');
    if (slash == NULL || slash == target || slash[1] == '\0')
        return NULL;
    *slash = '\0';
    char *fn = slash + 1;
    char *dot = strchr(fn, '.');
    if (dot) {
        *dot = '\0';
        if (dot == fn || dot[1] == '\0')
            return NULL;
    }
    json_t *r =
        json_pack("{s:s, s:s, s:s}", "path", path, "serviceName", target, "functionName", fn);
    if (r && dot)
        json_object_set_new(r, "qualifier", json_string(dot + 1));
    return r;
}

static void print_routes(const json_t *d)
{
    printf("%s\n", json_string_value(json_object_get(d, "domainName")) ?: "");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(json_object_get(d, "routeConfig"), "routes"), i, r)
    {
        const char *q = json_string_value(json_object_get(r, "qualifier"));
        printf("  %-30s -> %s/%s%s%s\n", json_string_value(json_object_get(r, "path")) ?: "",
               json_string_value(json_object_get(r, "serviceName")) ?: "",
               json_string_value(json_object_get(r, "functionName")) ?: "",
               q && strcmp(q, "LATEST") ? "." : "", q && strcmp(q, "LATEST") ? q : "");
    }
}

int nb_cmd_domain(int argc, char **argv)
{
    static const struct option opts[] = {
        {"route", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int json = 0, c;
    json_t *routes = json_array();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:o:h", opts, NULL)) != -1) {
        json_t *r;
        switch (c) {
        case 'r':
            r = parse_route(optarg);
            if (r == NULL) {
                json_decref(routes);
                return nb_cli_usage_error("domain",
                                          "bad --route '%s': expected PATH=SERVICE/FUNCTION"
                                          "[.QUALIFIER]",
                                          optarg);
            }
            json_array_append_new(routes, r);
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json)) {
                json_decref(routes);
                return nb_cli_usage_error("domain", "-o takes json or text");
            }
            break;
        case 'h':
            json_decref(routes);
            fputs(usage, stdout);
            return 0;
        default:
            json_decref(routes);
            return nb_cli_bad_option("domain", c, argv);
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    const char *err_usage = NULL;
    if (sub == NULL)
        err_usage = "missing a subcommand: add, set, list, get or rm";
    else if (strcmp(sub, "add") && strcmp(sub, "set") && strcmp(sub, "list") &&
             strcmp(sub, "get") && strcmp(sub, "rm"))
        err_usage = "unknown subcommand";
    else if (strcmp(sub, "list") == 0 ? nargs != 0 : nargs != 1)
        err_usage = "wrong number of arguments";
    else if ((!strcmp(sub, "add") || !strcmp(sub, "set")) && json_array_size(routes) == 0)
        err_usage = "give at least one --route PATH=SERVICE/FUNCTION[.QUALIFIER]";
    else if (strcmp(sub, "add") && strcmp(sub, "set") && json_array_size(routes) > 0)
        err_usage = "--route goes with add or set";
    if (err_usage) {
        json_decref(routes);
        return nb_cli_usage_error("domain", "%s%s%s", err_usage, sub ? ": " : "", sub ? sub : "");
    }

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err)) {
        json_decref(routes);
        return nb_cli_fail_err(&err);
    }
    const char *name = nargs == 1 ? argv[optind + 1] : NULL;
    _cleanup_free_ char *seg = name ? nb_client_seg(name) : NULL;
    _cleanup_free_ char *path = name ? nb_xasprintf("/api/v1/custom-domains/%s", seg)
                                     : nb_xstrdup("/api/v1/custom-domains");
    json_t *ans = NULL;
    int rc;
    if (!strcmp(sub, "add") || !strcmp(sub, "set")) {
        int add = !strcmp(sub, "add");
        json_t *body = json_pack("{s:s, s:s, s:{s:O}}", "domainName", name, "protocol", "HTTP",
                                 "routeConfig", "routes", routes);
        rc = nb_client_json(&cl, add ? "POST" : "PUT", add ? "/api/v1/custom-domains" : path, NULL,
                            body, &ans, &err);
        json_decref(body);
        if (!rc && json)
            nb_cli_print_json(ans);
        else if (!rc)
            print_routes(ans);
    } else if (!strcmp(sub, "list")) {
        json_t *items = NULL;
        rc = nb_client_list(&cl, path, "customDomains", &items, &err);
        if (!rc && json) {
            json_t *o = json_pack("{s:O}", "customDomains", items);
            nb_cli_print_json(o);
            json_decref(o);
        } else if (!rc) {
            size_t i;
            json_t *d;
            json_array_foreach(items, i, d)
            {
                print_routes(d);
            }
        }
        json_decref(items);
    } else if (!strcmp(sub, "get")) {
        rc = nb_client_json(&cl, "GET", path, NULL, NULL, &ans, &err);
        if (!rc && json)
            nb_cli_print_json(ans);
        else if (!rc)
            print_routes(ans);
    } else {
        rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, &ans, &err);
        if (!rc)
            printf("deleted %s\n", name);
    }
    json_decref(ans);
    json_decref(routes);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
