/*
 * common.c: output and argument helpers shared by the command files.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>

#include "base/alloc.h"
#include "cli/cmd.h"

int nb_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nubis: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int nb_cli_fail_err(const struct nb_err *err)
{
    return nb_cli_fail("%s", err->msg[0] ? err->msg : "unknown error");
}

int nb_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nubis: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'nubis %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int nb_cli_bad_option(const char *cmd, int c, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    char shortopt[3] = {'-', (char)optopt, '\0'};
    if (optopt && (optind <= 0 || strncmp(opt, "--", 2)))
        opt = shortopt;
    if (c == ':')
        return nb_cli_usage_error(cmd, "option '%s' needs a value", opt);
    return nb_cli_usage_error(cmd, "unknown option '%s'", opt);
}

int nb_cli_parse_output(const char *arg, int *json)
{
    if (!strcmp(arg, "json"))
        *json = 1;
    else if (!strcmp(arg, "text"))
        *json = 0;
    else
        return -EINVAL;
    return 0;
}

int nb_cli_output_opts(const char *cmd, const char *usage, int argc, char **argv, int *json)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    *json = 0;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (c == 'o') {
            if (nb_cli_parse_output(optarg, json))
                return nb_cli_usage_error(cmd, "-o takes json or text");
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            return nb_cli_bad_option(cmd, c, argv);
        }
    }
    return -1;
}

void nb_cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

int nb_cli_split_target(const char *arg, char **service, char **function)
{
    *service = *function = NULL;
    const char *slash = strchr(arg, '/');
    if (!slash) {
        if (!*arg)
            return -EINVAL;
        *service = nb_xstrdup(arg);
        return 0;
    }
    if (slash == arg || !slash[1] || strchr(slash + 1, '/'))
        return -EINVAL;
    *service = nb_xstrndup(arg, (size_t)(slash - arg));
    *function = nb_xstrdup(slash + 1);
    return 0;
}

void nb_cli_format_size(double bytes, char out[32])
{
    if (bytes < 1024)
        snprintf(out, 32, "%.0f B", bytes);
    else if (bytes < 1024.0 * 1024)
        snprintf(out, 32, "%.1f KB", bytes / 1024);
    else
        snprintf(out, 32, "%.1f MB", bytes / (1024.0 * 1024));
}

/*
 * Parses "10m"-style durations (back from now) or RFC 3339 times
 * ("2026-11-25T18:00:00Z", fraction and +hh:mm offset allowed) to epoch ms.
 * Returns 0 or -EINVAL.
 */
int nb_cli_parse_since(const char *s, long long now_ms, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end != s && !errno && n >= 0 && end[0] && !end[1]) {
        long long unit = end[0] == 's'   ? 1000LL
                         : end[0] == 'm' ? 60000LL
                         : end[0] == 'h' ? 3600000LL
                         : end[0] == 'd' ? 86400000LL
                                         : 0;
        if (!unit || n > 100LL * 365 * 86400000LL / unit)
            return -EINVAL;
        *out = now_ms - n * unit;
        return 0;
    }
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        used == 0)
        return -EINVAL;
    const char *p = s + used;
    long long ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (!digits)
            return -EINVAL;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    long long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
            return -EINVAL;
        offset = (oh * 3600LL + om * 60LL) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *out = ((long long)timegm(&tm) - offset) * 1000 + ms;
    return 0;
}
