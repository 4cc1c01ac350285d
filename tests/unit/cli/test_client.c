/*
 * test_client.c: the CLI client's discovery (environment first, then the
 * data dir's endpoint and credentials files), target and --since parsing,
 * and the NDJSON log printer fed in awkward chunks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/client.c"
#include "cli/logs.c"

static char datadir[64];

static void put(const char *name, const char *text)
{
    char *p = nb_xasprintf("%s/%s", datadir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(datadir, sizeof(datadir), "/tmp/nb-client-XXXXXX");
    assert_non_null(mkdtemp(datadir));
    setenv("NUBIS_DATA_DIR", datadir, 1);
    unsetenv("NUBIS_URL");
    unsetenv("NUBIS_ACCESS_KEY_ID");
    unsetenv("NUBIS_ACCESS_KEY_SECRET");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nb_rm_rf(datadir);
    return 0;
}

static void test_discovery_defaults(void **state)
{
    (void)state;
    struct nb_client c;
    struct nb_err err = {0};
    assert_int_equal(nb_client_init(&c, &err), 0);
    assert_string_equal(c.url, "http://127.0.0.1:9000");
    assert_null(c.secret);
    assert_string_equal(c.data_dir, datadir);
    nb_client_release(&c);
}

static void test_discovery_files(void **state)
{
    (void)state;
    put("endpoint", "http://127.0.0.1:43210/\n");
    put("credentials", "# written by nubis serve\n"
                       "NUBIS_ACCESS_KEY_ID=AKID123\n"
                       "export NUBIS_ACCESS_KEY_SECRET=\"s3cr=t\"\n"
                       "OTHER=x\n");
    struct nb_client c;
    struct nb_err err = {0};
    assert_int_equal(nb_client_init(&c, &err), 0);
    assert_string_equal(c.url, "http://127.0.0.1:43210");
    assert_string_equal(c.key_id, "AKID123");
    assert_string_equal(c.secret, "s3cr=t");
    nb_client_release(&c);

    /* The environment wins over the files; a bare host:port gets http://. */
    setenv("NUBIS_URL", "localhost:9999", 1);
    setenv("NUBIS_ACCESS_KEY_ID", "envid", 1);
    setenv("NUBIS_ACCESS_KEY_SECRET", "envsecret", 1);
    assert_int_equal(nb_client_init(&c, &err), 0);
    assert_string_equal(c.url, "http://localhost:9999");
    assert_string_equal(c.key_id, "envid");
    assert_string_equal(c.secret, "envsecret");
    nb_client_release(&c);

    /* Half a key in the file is no key. */
    unsetenv("NUBIS_URL");
    unsetenv("NUBIS_ACCESS_KEY_ID");
    unsetenv("NUBIS_ACCESS_KEY_SECRET");
    put("credentials", "NUBIS_ACCESS_KEY_ID=only\n");
    assert_int_equal(nb_client_init(&c, &err), 0);
    assert_null(c.key_id);
    assert_null(c.secret);
    nb_client_release(&c);
}

static void test_unreachable_message(void **state)
{
    (void)state;
    setenv("NUBIS_URL", "http://127.0.0.1:1", 1);
    struct nb_client c;
    struct nb_err err = {0};
    assert_int_equal(nb_client_init(&c, &err), 0);
    json_t *out = NULL;
    assert_int_equal(nb_client_json(&c, "GET", "/api/v1/services", NULL, NULL, &out, &err), -EIO);
    assert_string_equal(err.msg, "cannot reach nubis at http://127.0.0.1:1: Connection refused "
                                 "(is `nubis serve` running?)");
    nb_client_release(&c);
    unsetenv("NUBIS_URL");
}

static void test_http_error_message(void **state)
{
    (void)state;
    struct nb_client c = {.secret = "x", .data_dir = "/d"};
    struct nb_response r;
    struct nb_err err = {0};
    nb_response_init(&r);
    r.status = 404;
    nb_buf_appends(&r.body, "{\"ErrorCode\":\"FunctionNotFound\",\"ErrorMessage\":\"no 'f'\"}");
    assert_int_equal(nb_client_http_error(&c, &r, &err), -EPROTO);
    assert_string_equal(err.msg, "FunctionNotFound: no 'f'");
    nb_buf_reset(&r.body);
    r.status = 502;
    nb_buf_appends(&r.body, "Bad Gateway");
    nb_client_http_error(&c, &r, &err);
    assert_string_equal(err.msg, "HTTP 502: Bad Gateway");
    nb_response_release(&r);
}

static void test_split_target(void **state)
{
    (void)state;
    char *s, *f;
    assert_int_equal(nb_cli_split_target("svc/fn", &s, &f), 0);
    assert_string_equal(s, "svc");
    assert_string_equal(f, "fn");
    free(s), free(f);
    assert_int_equal(nb_cli_split_target("svc", &s, &f), 0);
    assert_string_equal(s, "svc");
    assert_null(f);
    free(s);
    assert_int_equal(nb_cli_split_target("/fn", &s, &f), -EINVAL);
    assert_int_equal(nb_cli_split_target("svc/", &s, &f), -EINVAL);
    assert_int_equal(nb_cli_split_target("a/b/c", &s, &f), -EINVAL);
    assert_int_equal(nb_cli_split_target("", &s, &f), -EINVAL);
}

static void test_since(void **state)
{
    (void)state;
    long long now = 1795629600000LL, t;
    assert_int_equal(nb_cli_parse_since("10m", now, &t), 0);
    assert_int_equal(t, now - 600000);
    assert_int_equal(nb_cli_parse_since("1h", now, &t), 0);
    assert_int_equal(t, now - 3600000);
    assert_int_equal(nb_cli_parse_since("30s", now, &t), 0);
    assert_int_equal(t, now - 30000);
    assert_int_equal(nb_cli_parse_since("2d", now, &t), 0);
    assert_int_equal(t, now - 2 * 86400000LL);
    assert_int_equal(nb_cli_parse_since("2026-11-25T18:00:00Z", now, &t), 0);
    assert_int_equal(t, 1795629600000LL);
    assert_int_equal(nb_cli_parse_since("2026-11-25T18:00:00.5Z", now, &t), 0);
    assert_int_equal(t, 1795629600500LL);
    assert_int_equal(nb_cli_parse_since("2026-11-25T19:30:00+01:30", now, &t), 0);
    assert_int_equal(t, 1795629600000LL);
    assert_int_equal(nb_cli_parse_since("5x", now, &t), -EINVAL);
    assert_int_equal(nb_cli_parse_since("m", now, &t), -EINVAL);
    assert_int_equal(nb_cli_parse_since("2026-11-25", now, &t), -EINVAL);
    assert_int_equal(nb_cli_parse_since("2026-11-25T18:00:00", now, &t), -EINVAL);
}

static void test_log_lines(void **state)
{
    (void)state;
    /* Feed two NDJSON lines split at awkward points into the printer, capturing stdout. */
    char path[] = "/tmp/nb-logs-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    const char *in = "{\"time\":1795629600123,\"requestId\":\"r1\",\"stream\":\"stdout\","
                     "\"message\":\"hello\\n\"}\n"
                     "{\"time\":1795629601000,\"requestId\":null,\"stream\":\"stderr\","
                     "\"message\":\"bye\"}\n"
                     "not json\n";
    struct printer pr = {0};
    nb_buf_init(&pr.line, LINE_MAX_BYTES);
    size_t len = strlen(in);
    for (size_t off = 0; off < len; off += 7)
        on_data(in + off, len - off < 7 ? len - off : 7, &pr);
    nb_buf_release(&pr.line);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fd);

    char *out = nb_read_file(path, NULL);
    unlink(path);
    assert_non_null(out);
    assert_string_equal(out, "2026-11-25T18:00:00.123Z r1 [stdout] hello\n"
                             "2026-11-25T18:00:01.000Z - [stderr] bye\n"
                             "not json\n");
    assert_int_equal(pr.lines, 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discovery_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discovery_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_message, setup, teardown),
        cmocka_unit_test(test_http_error_message),
        cmocka_unit_test(test_split_target),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
