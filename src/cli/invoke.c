/*
 * invoke.c: `nubis invoke S/F [-d DATA | -f FILE] [--async] [--qualifier Q]
 * [--tail-log] [-o json]`: POST .../invocations and print the result.
 *
 * The body goes to stdout byte for byte (plus a newline on a terminal when
 * it lacks one); the tail log (X-Fc-Log-Result, base64) goes to stderr.  A
 * function error (X-Fc-Error-Type, sent with 200 as in FC) prints the error
 * body and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "cli/client.h"
#include "cli/cmd.h"

static const char usage[] =
    "Usage: nubis invoke SERVICE/FUNCTION [-d DATA | -f FILE] [--async]\n"
    "                    [--qualifier Q] [--tail-log] [-o json]\n"
    "\n"
    "Invokes a function with DATA (or FILE's bytes; - reads stdin; default: empty)\n"
    "as the event and prints its result on stdout.\n"
    "\n"
    "  -d, --data DATA      the event, as given\n"
    "  -f, --file FILE      read the event from FILE (- for stdin)\n"
    "      --async          queue the invocation and print its request id\n"
    "  -q, --qualifier Q    version or alias to invoke (default LATEST)\n"
    "  -t, --tail-log       print the invocation's last 4 KB of log on stderr\n"
    "  -o, --output json    print {requestId, statusCode, errorType, body, log}\n"
    "\n"
    "Exits 1 if the function failed (\"nubis: function error (<type>)\").\n";

/* Max event read from a file or stdin (the server enforces the real limits). */
#define EVENT_MAX ((size_t)64 << 20)

static int read_event(const char *file, char **out, size_t *len)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f)
        return -errno;
    struct nb_buf b;
    nb_buf_init(&b, EVENT_MAX);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (nb_buf_append(&b, chunk, n) < 0) {
            rc = -EFBIG;
            break;
        }
    if (!rc && ferror(f))
        rc = -EIO;
    if (f != stdin)
        fclose(f);
    if (rc) {
        nb_buf_release(&b);
        return rc;
    }
    *out = nb_buf_steal(&b, len);
    return 0;
}

static char *decode_log(const char *b64, size_t *len)
{
    if (!b64 || !*b64)
        return NULL;
    return (char *)nb_base64_decode(b64, strlen(b64), len);
}

int nb_cmd_invoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"file", required_argument, NULL, 'f'},
        {"async", no_argument, NULL, 'a'},      {"qualifier", required_argument, NULL, 'q'},
        {"tail-log", no_argument, NULL, 't'},   {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {0, 0, 0, 0},
    };
    const char *data = NULL, *file = NULL, *qualifier = NULL;
    int async = 0, tail = 0, json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:f:q:to:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'a':
            async = 1;
            break;
        case 'q':
            qualifier = optarg;
            break;
        case 't':
            tail = 1;
            break;
        case 'o':
            if (nb_cli_parse_output(optarg, &json))
                return nb_cli_usage_error("invoke", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("invoke", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("invoke", "missing SERVICE/FUNCTION");
    if (argc - optind > 1)
        return nb_cli_usage_error("invoke", "unexpected argument '%s'", argv[optind + 1]);
    if (data && file)
        return nb_cli_usage_error("invoke", "-d and -f cannot be used together");
    _cleanup_free_ char *svc = NULL, *fn = NULL;
    if (nb_cli_split_target(argv[optind], &svc, &fn) || !fn)
        return nb_cli_usage_error("invoke", "'%s' is not SERVICE/FUNCTION", argv[optind]);

    _cleanup_free_ char *event = NULL;
    size_t event_len = 0;
    if (file) {
        int r = read_event(file, &event, &event_len);
        if (r)
            return nb_cli_fail("read '%s': %s", file, strerror(-r));
    } else if (data) {
        event = nb_xstrdup(data);
        event_len = strlen(data);
    }

    struct nb_client cl;
    struct nb_err err = {0};
    if (nb_client_init(&cl, &err))
        return nb_cli_fail_err(&err);
    _cleanup_free_ char *s = nb_client_seg(svc);
    _cleanup_free_ char *f = nb_client_seg(fn);
    _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions/%s/invocations", s, f);
    _cleanup_free_ char *qenc = qualifier ? nb_client_seg(qualifier) : NULL;
    _cleanup_free_ char *query = qenc ? nb_xasprintf("qualifier=%s", qenc) : NULL;
    struct nb_kv headers[2];
    size_t nh = 0;
    if (async)
        headers[nh++] = (struct nb_kv){"X-Fc-Invocation-Type", "Async"};
    if (tail)
        headers[nh++] = (struct nb_kv){"X-Fc-Log-Type", "Tail"};
    struct nb_request req = {
        .method = "POST",
        .path = path,
        .query = query,
        .content_type = "application/octet-stream",
        .body = event,
        .body_len = event_len,
        .headers = headers,
        .nheaders = nh,
    };
    struct nb_response resp;
    nb_response_init(&resp);
    int rc = nb_client_do(&cl, &req, &resp, &err);
    if (!rc && (resp.status < 200 || resp.status >= 300))
        rc = nb_client_http_error(&cl, &resp, &err);
    if (rc) {
        nb_response_release(&resp);
        nb_client_release(&cl);
        return nb_cli_fail_err(&err);
    }

    size_t log_len = 0;
    _cleanup_free_ char *log = decode_log(resp.log_result, &log_len);
    const char *body = resp.body.data ? resp.body.data : "";
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "requestId",
                            resp.request_id ? json_string(resp.request_id) : json_null());
        json_object_set_new(o, "statusCode", json_integer(resp.status));
        json_object_set_new(o, "errorType",
                            resp.error_type ? json_string(resp.error_type) : json_null());
        if (nb_utf8_valid(body, resp.body.len)) {
            json_object_set_new(o, "body", json_stringn(body, resp.body.len));
        } else {
            char *b64 = nb_base64_encode(body, resp.body.len);
            json_object_set_new(o, "body", json_null());
            json_object_set_new(o, "bodyBase64", json_string(b64));
            free(b64);
        }
        if (log && nb_utf8_valid(log, log_len))
            json_object_set_new(o, "log", json_stringn(log, log_len));
        else
            json_object_set_new(o, "log", log ? json_string(resp.log_result) : json_null());
        nb_cli_print_json(o);
        json_decref(o);
    } else {
        if (log && log_len) {
            fwrite(log, 1, log_len, stderr);
            if (log[log_len - 1] != '\n')
                fputc('\n', stderr);
        }
        if (async && resp.body.len == 0) {
            printf("%s\n", resp.request_id ? resp.request_id : "");
        } else {
            fwrite(body, 1, resp.body.len, stdout);
            if (resp.body.len && body[resp.body.len - 1] != '\n' && isatty(STDOUT_FILENO))
                fputc('\n', stdout);
        }
    }
    fflush(stdout);
    int code = 0;
    if (resp.error_type)
        code = nb_cli_fail("function error (%s)", resp.error_type);
    nb_response_release(&resp);
    nb_client_release(&cl);
    return code;
}
