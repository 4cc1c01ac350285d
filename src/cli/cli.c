/*
 * cli.c: `nubis <command>`: the dispatch table (crun's src/crun.c style),
 * top-level help and version.  Each command lives in its own file
 * (cli/<command>.c) and parses its own options.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"

#ifndef NB_VERSION
#define NB_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", nb_cmd_serve, "run the platform in the foreground"},
    {"init", nb_cmd_init, "create a new function project in a directory"},
    {"deploy", nb_cmd_deploy, "deploy the service and functions described by DIR/nubis.yaml"},
    {"invoke", nb_cmd_invoke, "invoke a function and print its result"},
    {"list", nb_cmd_list, "list services and functions"},
    {"get", nb_cmd_get, "show a service, or a function and its triggers"},
    {"rm", nb_cmd_rm, "delete a function or a service"},
    {"logs", nb_cmd_logs, "print or follow a function's logs"},
    {"publish", nb_cmd_publish, "publish a service's LATEST as an immutable version"},
    {"alias", nb_cmd_alias, "list, set or delete a service's aliases (with canary weights)"},
    {"usage", nb_cmd_usage, "print invocations, GB-seconds and the bill"},
    {"versions", nb_cmd_versions, "list or delete a service's published versions"},
    {"top", nb_cmd_top, "live view of functions: rate, p50/p99, errors, instances"},
    {"trigger", nb_cmd_trigger, "add, list or delete a function's triggers (http, timer)"},
    {"invocations", nb_cmd_invocations, "list a function's async invocations, or show one"},
    {"keys", nb_cmd_keys, "create, list or revoke access keys (with scopes)"},
    {"domain", nb_cmd_domain, "add, list, show or delete custom domains (Host -> functions)"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: nubis <command> [options]\n\n"
                 "nubis runs functions (FaaS) on your own machine.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-8s %s\n", "help", "show this help, or a command's (nubis help deploy)");
    fprintf(out, "\nEvery command takes --help; commands that print data take -o json.\n"
                 "The server and key come from NUBIS_URL, NUBIS_ACCESS_KEY_ID and\n"
                 "NUBIS_ACCESS_KEY_SECRET, else from the data dir's endpoint and credentials\n"
                 "files (NUBIS_DATA_DIR, else $XDG_DATA_HOME/nubis, else ~/.local/share/nubis).\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int nb_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V") || !strcmp(name, "version")) {
        printf("nubis %s\n", NB_VERSION);
        return 0;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const struct command *c = find(argv[2]);
        if (!c)
            return nb_cli_fail("unknown command '%s' (see 'nubis --help')", argv[2]);
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->run(2, help_argv);
    }
    const struct command *c = find(name);
    if (!c)
        return nb_cli_fail("unknown command '%s' (see 'nubis --help')", name);
    return c->run(argc - 1, argv + 1);
}
