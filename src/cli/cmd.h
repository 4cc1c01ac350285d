/*
 * cmd.h: what the command files (cli/<command>.c) share: their entry points
 * (dispatched from cli.c's table) and small output helpers (common.c).
 *
 * Each command gets argv starting at its own name (argv[0] = "deploy") and
 * returns the process exit code: 0 on success, 1 on failure (after one line
 * "nubis: <what failed>" on stderr), 2 on bad usage.
 */
#ifndef NB_CLI_CMD_H
#define NB_CLI_CMD_H

#include <stdio.h>

#include <jansson.h>

#include "base/err.h"

int nb_cmd_serve(int argc, char **argv);
int nb_cmd_deploy(int argc, char **argv);
int nb_cmd_invoke(int argc, char **argv);
int nb_cmd_list(int argc, char **argv);
int nb_cmd_get(int argc, char **argv);
int nb_cmd_rm(int argc, char **argv);
int nb_cmd_logs(int argc, char **argv);
int nb_cmd_init(int argc, char **argv);
int nb_cmd_publish(int argc, char **argv);
int nb_cmd_alias(int argc, char **argv);
int nb_cmd_usage(int argc, char **argv);
int nb_cmd_versions(int argc, char **argv);
int nb_cmd_top(int argc, char **argv);
int nb_cmd_trigger(int argc, char **argv);
int nb_cmd_invocations(int argc, char **argv);
int nb_cmd_keys(int argc, char **argv);
int nb_cmd_domain(int argc, char **argv);

/* Prints "nubis: <message>" on stderr; returns 1. */
int nb_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "nubis: <err->msg>" on stderr; returns 1. */
int nb_cli_fail_err(const struct nb_err *err);
/* Prints "nubis: <cmd>: <message> (see 'nubis <cmd> --help')" on stderr; returns 2. */
int nb_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Reports getopt's verdict c ('?' unknown option, ':' missing value; the
 * option string must start with ':') as a usage error; returns 2.
 */
int nb_cli_bad_option(const char *cmd, int c, char **argv);
/* Parses the -o/--output argument ("json" or "text") into *json; 0 or -EINVAL. */
int nb_cli_parse_output(const char *arg, int *json);
/*
 * Parses the options of a command that takes only -o/--output and -h/--help
 * (leaving optind at its first operand).  Returns -1 to go on, or the exit
 * code to return now: 0 after printing usage for --help, 2 on a bad option.
 */
int nb_cli_output_opts(const char *cmd, const char *usage, int argc, char **argv, int *json);
/* Prints j as indented JSON and a newline on stdout. */
void nb_cli_print_json(const json_t *j);
/*
 * Splits "S/F" or "S" into newly allocated parts (*function NULL for "S").
 * Returns 0, or -EINVAL if a part is empty or there is more than one '/'.
 */
int nb_cli_split_target(const char *arg, char **service, char **function);
/*
 * Parses a --since value: a duration back from now_ms ("30s", "10m", "1h",
 * "2d") or an RFC 3339 time ("2026-11-25T18:00:00Z", fraction and +hh:mm
 * offset allowed) into epoch ms.  Returns 0 or -EINVAL.
 */
int nb_cli_parse_since(const char *s, long long now_ms, long long *out);
/* Formats a byte count as "512 B", "3.4 KB", "12.0 MB" into out. */
void nb_cli_format_size(double bytes, char out[32]);

#endif
