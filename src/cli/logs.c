/*
 * logs.c: `nubis logs S/F [-f] [--since 10m|1h|RFC3339] [--request-id ID]
 * [--limit N] [-o json]`: GET .../logs, whose answer is NDJSON lines
 * {"time": <ms>, "requestId", "stream", "message"}.  Lines are printed as
 * they arrive (curl write callback, split on '\n'), so -f (follow=1, a
 * chunked stream the server keeps open) prints until interrupted.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/util.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis logs SERVICE/FUNCTION [-f] [--since WHEN] [--request-id ID]\n"
    "                  [--limit N] [-o json]\n"
    "\n"
    "Prints a function's log lines: \"<time> <requestId> [<stream>] <message>\".\n"
    "\n"
    "  -f, --follow         keep printing new lines until interrupted\n"
    "  -s, --since WHEN     only lines since WHEN: a duration back from now\n"
    "                       (30s, 10m, 1h, 2d) or an RFC 3339 time\n"
    "  -r, --request-id ID  only the lines of one invocation\n"
    "  -n, --limit N        at most N lines\n"
    "  -o, --output json    print the server's NDJSON lines as they are\n";

#define LINE_MAX_BYTES ((size_t)1 << 20)

struct printer {
    struct nb_buf line;
    int json;
    size_t lines;
};

static void print_line(struct printer *p, const char *line, size_t len)
{
    if (len == 0)
        return;
    p->lines++;
    if (p->json) {
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        return;
    }
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!json_is_object(j)) {
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        char when[32] = "-";
        json_t *t = json_object_get(j, "time");
        if (json_is_integer(t))
            nb_format_time(json_integer_value(t), when);
        else if (json_is_string(t))
            snprintf(when, sizeof(when), "%s", json_string_value(t));
        const char *rid = json_string_value(json_object_get(j, "requestId"));
        const char *stream = json_string_value(json_object_get(j, "stream"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        size_t mlen = msg ? strlen(msg) : 0;
        while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
            mlen--;
        printf("%s %s [%s] %.*s\n", when, rid && *rid ? rid : "-", stream ? stream : "-", (int)mlen,
               msg ? msg : "");
    }
    json_decref(j);
    fflush(stdout);
}

static int on_data(const char *data, size_t len, void *ud)
{
    struct printer *p = ud;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (nb_buf_append(&p->line, data, n) < 0) {
            /* An overlong line: print what we have and start over. */
            print_line(p, p->line.data, p->line.len);
            nb_buf_reset(&p->line);
            nb_buf_append(&p->line, data, n < LINE_MAX_BYTES ? n : LINE_MAX_BYTES);
        }
        if (!nl)
            break;
        print_line(p, p->line.data ? p->line.data : "", p->line.len);
        nb_buf_reset(&p->line);
        data += n + 1;
        len -= n + 1;
    }
    return 0;
}

int nb_cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"since", required_argument, NULL, 's'},
        {"request-id", required_argument, NULL, 'r'},
        {"limit", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *since = NULL, *rid = NULL;
    long long limit = -1;
    int follow = 0, c;
    struct printer pr = {0};
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":fs:r:n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = 1;
            break;
        case 's':
            since = optarg;
            break;
        case 'r':
            rid = optarg;
            break;
        case 'n': {
            char *end;
            limit = strtoll(optarg, &end, 10);
            if (*end || end == optarg || limit < 1)
                return nb_cli_usage_error("logs", "--limit takes a positive number");
            break;
        }
        case 'o':
            if (nb_cli_parse_output(optarg, &pr.json))
                return nb_cli_usage_error("logs", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("logs", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("logs", "missing SERVICE/FUNCTION");
    if (argc - optind > 1)
        return nb_cli_usage_error("logs", "unexpected argument '%s'", argv[optind + 1]);
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (nb_cli_split_target(argv[optind], &svc, &fn) || !fn)
        return nb_cli_usage_error("logs", "'%s' is not SERVICE/FUNCTION", argv[optind]);
    long long since_ms = -1;
    if (since && nb_cli_parse_since(since, (long long)nb_wall_ms(), &since_ms))
        return nb_cli_usage_error("logs",
                                  "--since takes a duration (10m, 1h) or an RFC 3339 time, "
                                  "not '%s'",
                                  since);

    struct nb_buf q;
    nb_buf_init(&q, 4096);
    if (since_ms >= 0)
        nb_buf_printf(&q, "&since=%lld", since_ms);
    if (rid) {
        _cleanup_free_ char *e = nb_client_seg(rid);
        nb_buf_printf(&q, "&requestId=%s", e);
    }
    if (limit > 0)
        nb_buf_printf(&q, "&limit=%lld", limit);
    if (follow)
        nb_buf_appends(&q, "&follow=1");

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err)) {
        nb_buf_release(&q);
        return nb_cli_fail_err(&err);
    }
    _cleanup_free_ char *s = nb_client_seg(svc);
    _cleanup_free_ char *f = nb_client_seg(fn);
    _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions/%s/logs", s, f);
    nb_buf_init(&pr.line, LINE_MAX_BYTES);
    struct nb_request req = {
        .method = "GET",
        .path = path,
        .query = q.len ? q.data + 1 : NULL,
        .on_data = on_data,
        .ud = &pr,
    };
    struct nb_response resp;
    nb_response_init(&resp);
    int rc = nb_client_do(&cl, &req, &resp, &err);
    if (!rc && (resp.status < 200 || resp.status >= 300))
        rc = nb_client_http_error(&cl, &resp, &err);
    if (!rc && pr.line.len)
        print_line(&pr, pr.line.data, pr.line.len);
    nb_response_release(&resp);
    nb_buf_release(&pr.line);
    nb_buf_release(&q);
    nb_client_release(&cl);
    return rc ? nb_cli_fail_err(&err) : 0;
}
