/*
 * serve.c: `nubis serve [--config FILE] [--listen ADDR] [--data-dir DIR]`:
 * runs the daemon (daemon/daemon.h) in the foreground.  Flags override the
 * config file's keys (docs/operations.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "cli/cmd.h"
#include "daemon/daemon.h"

static const char usage[] =
    "Usage: nubis serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR]\n"
    "\n"
    "Runs the platform in the foreground until SIGINT/SIGTERM.\n"
    "\n"
    "  -c, --config FILE       YAML config: listen, dataDir, limits, pool, logs,\n"
    "                          billing, usage (see docs/operations.md); flags win\n"
    "  -l, --listen HOST:PORT  address to listen on (default 127.0.0.1:9000)\n"
    "  -d, --data-dir DIR      state directory (default $NUBIS_DATA_DIR, else\n"
    "                          $XDG_DATA_HOME/nubis, else ~/.local/share/nubis)\n"
    "      --runtimes-dir DIR  runtime shims (default: next to the binary)\n"
    "\n"
    "On first start it writes DIR/credentials (the admin access key) and\n"
    "DIR/endpoint (the URL it listens on), which the other commands read.\n";

int nb_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'}, {"runtimes-dir", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0},
    };
    struct nb_daemon_options o = {0};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        case 'r':
            o.runtimes_dir = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("serve", c, argv);
        }
    }
    if (optind < argc)
        return nb_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    return nb_daemon_run(&o); /* it resolves the data dir: flag, config, default */
}
