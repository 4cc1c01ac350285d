/*
 * top.c: `nubis top [--once] [--interval S] [-o json]`: a live view of the
 * functions: invocations per second, p50/p99 duration, errors, instances.
 *
 * Polls GET /api/v1/stats (signed, served from the gateway's memory) every
 * interval and redraws the screen; q or Ctrl-C quits (the terminal is put
 * in non-canonical mode while it runs and restored on the way out).
 * --once prints one table (or the JSON with -o json) and exits: for
 * scripts and tests.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis top [--once] [--interval SECONDS] [-o json]\n"
    "\n"
    "Shows every function's request rate (over the last 10 s), p50 and p99\n"
    "duration (last 512 invocations), errors and instances, refreshed every\n"
    "second.  q or Ctrl-C quits.\n"
    "\n"
    "  -1, --once             print once and exit\n"
    "  -n, --interval SECONDS refresh period (default 1)\n"
    "  -o, --output json      with --once: print the server's JSON\n";

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
    (void)sig;
    stop = 1;
}

static double num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void print_table(const json_t *st)
{
    const json_t *inst = json_object_get(st, "instances");
    printf("nubis top  instances %.0f (busy %.0f, idle %.0f, starting %.0f)  pending %.0f  "
           "async queue %.0f\n\n",
           num(inst, "total"), num(inst, "busy"), num(inst, "idle"), num(inst, "starting"),
           num(st, "pending"), num(st, "asyncQueueDepth"));
    printf("%-36s %8s %9s %9s %9s %8s %6s %5s\n", "FUNCTION", "REQ/S", "P50 MS", "P99 MS",
           "INVOKED", "ERRORS", "INST", "BUSY");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(st, "functions"), i, f)
    {
        const char *s = json_string_value(json_object_get(f, "serviceName"));
        const char *fn = json_string_value(json_object_get(f, "functionName"));
        char name[80];
        snprintf(name, sizeof(name), "%s/%s", s ? s : "?", fn ? fn : "?");
        printf("%-36.36s %8.1f %9.2f %9.2f %9.0f %8.0f %6.0f %5.0f\n", name, num(f, "rate"),
               num(f, "p50Ms"), num(f, "p99Ms"), num(f, "invocations"), num(f, "errors"),
               num(f, "instances"), num(f, "busy"));
    }
    if (json_array_size(json_object_get(st, "functions")) == 0)
        printf("(no functions deployed)\n");
}

int nb_cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, '1'},
        {"interval", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int once = 0, json = 0, c;
    double interval = 1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":1n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case '1':
            once = 1;
            break;
        case 'n': {
            char *end;
            interval = strtod(optarg, &end);
            if (*end || interval < 0.1 || interval > 3600)
                return nb_cli_usage_error("top", "--interval takes seconds (0.1..3600)");
            break;
        }
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("top", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("top", c, argv);
        }
    }
    if (optind < argc)
        return nb_cli_usage_error("top", "unexpected argument '%s'", argv[optind]);
    if (json && !once)
        return nb_cli_usage_error("top", "-o json needs --once");

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    int tty = isatty(STDIN_FILENO);
    struct termios saved;
    if (!once) {
        signal(SIGINT, on_sigint);
        signal(SIGTERM, on_sigint);
        if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
            struct termios raw = saved;
            raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        } else {
            tty = 0;
        }
    }
    int rc = 0;
    while (!stop) {
        json_t *st = NULL;
        rc = nb_client_json(&cl, "GET", "/api/v1/stats", NULL, NULL, &st, &err);
        if (rc) {
            json_decref(st);
            break;
        }
        if (once && json) {
            nb_cli_print_json(st);
        } else {
            if (!once)
                fputs("\033[H\033[2J", stdout);
            print_table(st);
            if (!once)
                printf("\n(q to quit)\n");
        }
        fflush(stdout);
        json_decref(st);
        if (once)
            break;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&p, tty ? 1 : 0, (int)(interval * 1000));
        if (r > 0 && (p.revents & POLLIN)) {
            char ch;
            ssize_t n = read(STDIN_FILENO, &ch, 1);
            if (n == 1 && (ch == 'q' || ch == 'Q' || ch == 3))
                break;
        } else if (r < 0 && errno != EINTR) {
            break;
        }
    }
    if (!once && tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
