/*
 * alias.c: `nubis alias list|get|set|rm`: named pointers at a service
 * version, optionally splitting traffic with a second version (canary):
 *   GET    /api/v1/services/S/aliases
 *   GET    /api/v1/services/S/aliases/A
 *   PUT    /api/v1/services/S/aliases/A {aliasName, versionId, description,
 *                                        additionalVersionWeight: {"<v2>": w}}
 *   DELETE /api/v1/services/S/aliases/A
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis alias list SERVICE [-o json]\n"
                            "       nubis alias get SERVICE ALIAS [-o json]\n"
                            "       nubis alias set SERVICE ALIAS VERSION [--weight VERSION2=0.1]\n"
                            "                       [--description TEXT] [-o json]\n"
                            "       nubis alias rm SERVICE ALIAS\n"
                            "\n"
                            "Manages a service's aliases: names that point at a published version\n"
                            "(see `nubis publish`), used as qualifiers (S.ALIAS in trigger URLs,\n"
                            "invoke --qualifier ALIAS).  --weight sends that share of the traffic\n"
                            "to a second version (a canary).\n";

static int print_or_json(const json_t *ans, int json)
{
    if (json) {
        nb_cli_print_json(ans);
        return 0;
    }
    const char *name = json_string_value(json_object_get(ans, "aliasName"));
    json_t *v = json_object_get(ans, "versionId");
    char *vs = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *w =
        json_dumps(json_object_get(ans, "additionalVersionWeight"), JSON_ENCODE_ANY | JSON_COMPACT);
    printf("%-20s version %s%s%s\n", name ? name : "?", vs ? vs : "?",
           w && strcmp(w, "null") && strcmp(w, "{}") ? "  weights " : "",
           w && strcmp(w, "null") && strcmp(w, "{}") ? w : "");
    free(vs);
    free(w);
    return 0;
}

int nb_cmd_alias(int argc, char **argv)
{
    static const struct option opts[] = {
        {"weight", required_argument, NULL, 'w'},
        {"description", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *weight = NULL, *desc = NULL;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":w:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            weight = optarg;
            break;
        case 'd':
            desc = optarg;
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("alias", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("alias", c, argv);
        }
    }
    int n = argc - optind;
    char **a = argv + optind;
    if (n < 2)
        return nb_cli_usage_error("alias", "expected list, get, set or rm and a SERVICE");
    const char *verb = a[0];
    int want = !strcmp(verb, "list")                         ? 2
               : !strcmp(verb, "get") || !strcmp(verb, "rm") ? 3
               : !strcmp(verb, "set")                        ? 4
                                                             : -1;
    if (want < 0)
        return nb_cli_usage_error("alias", "unknown action '%s'", verb);
    if (n != want)
        return nb_cli_usage_error("alias", "wrong number of arguments for '%s'", verb);
    double w = 0;
    char *wver = NULL;
    if (weight) {
        const char *eq = strchr(weight, '=');
        char *end;
        if (!eq || eq == weight || (w = strtod(eq + 1, &end), *end) || w < 0 || w > 1)
            return nb_cli_usage_error("alias", "--weight takes VERSION=0..1, not '%s'", weight);
        wver = nb_xstrndup(weight, (size_t)(eq - weight));
    }

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err)) {
        free(wver);
        return nb_cli_fail_err(&err);
    }
    _cleanup_free_ char *s = nb_client_seg(a[1]);
    _cleanup_free_ char *base = nb_xasprintf("/api/v1/services/%s/aliases", s);
    _cleanup_free_ char *an = n >= 3 ? nb_client_seg(a[2]) : NULL;
    _cleanup_free_ char *path = an ? nb_xasprintf("%s/%s", base, an) : NULL;
    json_t *ans = NULL;
    int rc;
    if (!strcmp(verb, "list")) {
        rc = nb_client_list(&cl, base, "aliases", &ans, &err);
        if (!rc && json) {
            json_t *o = json_pack("{s:O}", "aliases", ans);
            nb_cli_print_json(o);
            json_decref(o);
        } else if (!rc) {
            size_t i;
            json_t *x;
            json_array_foreach(ans, i, x) print_or_json(x, 0);
            if (!json_array_size(ans))
                printf("no aliases in service %s\n", a[1]);
        }
    } else if (!strcmp(verb, "get")) {
        rc = nb_client_json(&cl, "GET", path, NULL, NULL, &ans, &err);
        if (!rc)
            print_or_json(ans, json);
    } else if (!strcmp(verb, "rm")) {
        rc = nb_client_json(&cl, "DELETE", path, NULL, NULL, NULL, &err);
        if (!rc)
            printf("deleted alias %s/%s\n", a[1], a[2]);
    } else {
        json_t *body = json_pack("{s:s,s:s}", "aliasName", a[2], "versionId", a[3]);
        if (desc)
            json_object_set_new(body, "description", json_string(desc));
        if (wver)
            json_object_set_new(body, "additionalVersionWeight", json_pack("{s:f}", wver, w));
        rc = nb_client_json(&cl, "PUT", path, NULL, body, &ans, &err);
        json_decref(body);
        if (!rc)
            print_or_json(ans ? ans : json_null(), json);
    }
    json_decref(ans);
    free(wver);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
