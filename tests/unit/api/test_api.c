/*
 * test_api.c: the management API driven through nb_api_execute, over a real
 * store file and a real code store in a temporary data dir: services,
 * functions (zip and checksum code), code upload, triggers, validation
 * errors, FC vs /api/v1 PUT semantics, change snapshots, key bootstrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/keys.h"
#include "base/alloc.h"
#include "base/util.h"
#include "codestore/codestore.h"
#include "store/store.h"

#define ZIP_LIMIT (256 * 1024)

struct fixture {
    char dir[64];
    struct nb_store *st;
    struct nb_codestore *cs;
    struct nb_api api;
    struct nb_api_response resp;
    json_t *body; /* the last response body, parsed (NULL if empty) */
};

static int setup(void **state)
{
    struct fixture *f = nb_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/nb-api-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct nb_err err = {0};
    char path[128];
    snprintf(path, sizeof(path), "%s/nubis.db", f->dir);
    assert_int_equal(nb_store_open(path, &f->st, &err), 0);
    snprintf(path, sizeof(path), "%s/code", f->dir);
    struct nb_codestore_limits lim = {
        .max_zip_bytes = ZIP_LIMIT, .max_unpacked_bytes = 4 << 20, .max_entries = 100};
    if (nb_codestore_open(path, &lim, &f->cs, &err) != 0)
        fail_msg("codestore: %s", err.msg);
    f->api = (struct nb_api){.store = f->st, .code = f->cs};
    *state = f;
    return 0;
}

static void drop_response(struct fixture *f)
{
    json_decref(f->body);
    f->body = NULL;
    nb_api_response_release(&f->resp);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    drop_response(f);
    nb_codestore_close(f->cs);
    nb_store_close(f->st);
    nb_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Runs one request; returns the status; f->body holds the parsed answer. */
static int call_raw(struct fixture *f, const char *method, const char *path, const char *query,
                    const void *body, size_t len)
{
    drop_response(f);
    struct nb_api_request req = {.method = method,
                                 .path = path,
                                 .query = query,
                                 .body = body,
                                 .body_len = len,
                                 .request_id = "req-1"};
    nb_api_execute(&f->api, &req, &f->resp);
    assert_true(f->resp.status >= 200);
    if (f->resp.body.len > 0) {
        json_error_t jerr;
        f->body = json_loadb(f->resp.body.data, f->resp.body.len, 0, &jerr);
        if (!f->body)
            fail_msg("response is not JSON: %s", f->resp.body.data);
    }
    return f->resp.status;
}

static int call(struct fixture *f, const char *method, const char *path, const char *body)
{
    return call_raw(f, method, path, NULL, body, body ? strlen(body) : 0);
}

static const char *field(struct fixture *f, const char *key)
{
    return json_string_value(json_object_get(f->body, key));
}

static json_int_t ifield(struct fixture *f, const char *key)
{
    json_t *v = json_object_get(f->body, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* Asserts an FC error answer with status, code and a message containing want. */
static void expect_error(struct fixture *f, int status, const char *code, const char *want)
{
    assert_int_equal(f->resp.status, status);
    assert_non_null(f->body);
    assert_string_equal(field(f, "ErrorCode"), code);
    assert_string_equal(field(f, "errorCode"), code);
    const char *msg = field(f, "ErrorMessage");
    assert_non_null(msg);
    if (want && !strstr(msg, want))
        fail_msg("error message '%s' does not contain '%s'", msg, want);
    assert_string_equal(field(f, "errorMessage"), msg);
}

/* A zip in memory: entries name -> text. */
static unsigned char *make_zip(size_t *len, const char *const *entries, size_t n)
{
    size_t cap = 1 << 20;
    unsigned char *buf = nb_xmalloc(cap);
    size_t used = 0;
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i + 1 < n; i += 2) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, entries[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)strlen(entries[i + 1]));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, entries[i + 1], strlen(entries[i + 1])),
                         (la_ssize_t)strlen(entries[i + 1]));
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = used;
    return buf;
}

static const char *const hello_zip[] = {"index.js",
                                        "exports.handler = (e, c, cb) => cb(null, 'hello');\n"};

/* {"code":{"zipFile":"<base64 of the hello zip>"}, ...extra} as a string (caller frees). */
static char *function_body(const char *name, const char *extra)
{
    size_t len;
    unsigned char *zip = make_zip(&len, hello_zip, 2);
    char *b64 = nb_base64_encode(zip, len);
    char *s = nb_xasprintf("{\"functionName\":\"%s\",\"runtime\":\"nodejs20\","
                           "\"handler\":\"index.handler\",\"code\":{\"zipFile\":\"%s\"}%s%s}",
                           name, b64, extra ? "," : "", extra ? extra : "");
    free(zip);
    free(b64);
    return s;
}

static void create_service(struct fixture *f, const char *name)
{
    char *body = nb_xasprintf("{\"serviceName\":\"%s\"}", name);
    assert_int_equal(call(f, "POST", "/api/v1/services", body), 200);
    free(body);
}

static void create_function(struct fixture *f, const char *service, const char *name)
{
    char *path = nb_xasprintf("/api/v1/services/%s/functions", service);
    char *body = function_body(name, NULL);
    int status = call(f, "POST", path, body);
    if (status != 200)
        fail_msg("create function: %d %s", status, f->resp.body.data);
    free(path);
    free(body);
}

static bool is_rfc3339(const char *s)
{
    /* 2026-11-25T18:00:00Z */
    if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return false;
    return true;
}

static void test_services(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        call(f, "POST", "/api/v1/services", "{\"serviceName\":\"s1\",\"description\":\"demo\"}"),
        200);
    assert_string_equal(field(f, "serviceName"), "s1");
    assert_string_equal(field(f, "description"), "demo");
    assert_true(json_is_false(json_object_get(f->body, "internetAccess")));
    assert_int_equal(strlen(field(f, "serviceId")), 36);
    assert_true(is_rfc3339(field(f, "createdTime")));
    assert_true(is_rfc3339(field(f, "lastModifiedTime")));
    assert_null(f->resp.content_type);
    assert_int_equal(f->resp.nchanges, 0);
    char *id = nb_xstrdup(field(f, "serviceId"));

    assert_int_equal(call(f, "POST", "/api/v1/services", "{\"serviceName\":\"s1\"}"), 409);
    expect_error(f, 409, "ServiceAlreadyExists", "s1");

    assert_int_equal(call(f, "GET", "/api/v1/services/s1", NULL), 200);
    assert_string_equal(field(f, "serviceId"), id);
    assert_int_equal(call(f, "GET", "/api/v1/services/nope", NULL), 404);
    expect_error(f, 404, "ServiceNotFound", "nope");

    /* update: /api/v1 PUT merges the given fields */
    assert_int_equal(call(f, "PUT", "/api/v1/services/s1", "{\"internetAccess\":true}"), 200);
    assert_true(json_is_true(json_object_get(f->body, "internetAccess")));
    assert_string_equal(field(f, "description"), "demo");
    assert_string_equal(field(f, "serviceId"), id);
    free(id);
    assert_int_equal(call(f, "PUT", "/api/v1/services/s1", "{\"internetAccess\":\"yes\"}"), 400);
    expect_error(f, 400, "InvalidArgument", "internetAccess");
    assert_int_equal(call(f, "PUT", "/api/v1/services/s1", "{\"serviceName\":\"other\"}"), 400);
    expect_error(f, 400, "InvalidArgument", "serviceName");

    /* FC PUT only updates; /api/v1 PUT creates */
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/s2", "{\"description\":\"x\"}"), 404);
    expect_error(f, 404, "ServiceNotFound", "s2");
    assert_int_equal(call(f, "PUT", "/api/v1/services/s2", "{\"description\":\"x\"}"), 200);
    assert_string_equal(field(f, "serviceName"), "s2");
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/s2", "{\"description\":\"y\"}"), 200);
    assert_string_equal(field(f, "description"), "y");

    /* validation */
    assert_int_equal(call(f, "POST", "/api/v1/services", "{\"serviceName\":\"1bad\"}"), 400);
    expect_error(f, 400, "InvalidArgument", "serviceName '1bad' is invalid");
    assert_int_equal(call(f, "POST", "/api/v1/services", "{\"serviceName\":\"a.b\"}"), 400);
    assert_int_equal(call(f, "POST", "/api/v1/services", "{}"), 400);
    expect_error(f, 400, "InvalidArgument", "serviceName is required");
    char longname[200];
    memset(longname, 'a', 129);
    longname[129] = '\0';
    char *body = nb_xasprintf("{\"serviceName\":\"%s\"}", longname);
    assert_int_equal(call(f, "POST", "/api/v1/services", body), 400);
    free(body);
    assert_int_equal(call(f, "POST", "/api/v1/services", "{\"serviceName\":"), 400);
    expect_error(f, 400, "InvalidArgument", "request body is not valid JSON: ");
    assert_int_equal(call(f, "POST", "/api/v1/services", "[1]"), 400);
    expect_error(f, 400, "InvalidArgument", "JSON object");
    assert_int_equal(call(f, "POST", "/api/v1/services", NULL), 400);
    expect_error(f, 400, "InvalidArgument", "not valid JSON");

    /* list */
    assert_int_equal(call(f, "GET", "/api/v1/services", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "services")), 2);
    assert_null(json_object_get(f->body, "nextToken"));

    /* delete */
    assert_int_equal(call(f, "DELETE", "/api/v1/services/s2", NULL), 204);
    assert_null(f->body);
    assert_int_equal(f->resp.nchanges, 1);
    assert_string_equal(f->resp.changes[0].service, "s2");
    assert_null(f->resp.changes[0].function);
    assert_null(f->resp.changes[0].snapshot);
    assert_int_equal(call(f, "DELETE", "/api/v1/services/s2", NULL), 404);
    expect_error(f, 404, "ServiceNotFound", NULL);
}

static void test_routing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(call(f, "PATCH", "/api/v1/services", "{}"), 405);
    expect_error(f, 405, "MethodNotAllowed", "PATCH");
    assert_int_equal(f->resp.nheaders, 1);
    assert_string_equal(f->resp.headers[0].key, "Allow");
    assert_string_equal(f->resp.headers[0].value, "GET, POST");
    assert_int_equal(call(f, "POST", "/api/v1/services/s1", "{}"), 405);
    assert_int_equal(call(f, "DELETE", "/api/v1/code", NULL), 405);

    assert_int_equal(call(f, "GET", "/api/v1/nothing", NULL), 404);
    expect_error(f, 404, "PathNotSupported", "/api/v1/nothing");
    assert_int_equal(call(f, "GET", "/api/v1", NULL), 404);
    assert_int_equal(call(f, "GET", "/api/v1//services", NULL), 404);
    assert_int_equal(call(f, "GET", "/api/v2/services", NULL), 404);
    assert_int_equal(call(f, "GET", "/api/v1services", NULL), 404);
    assert_int_equal(call(f, "GET", "/healthz", NULL), 404);
    /* the gateway serves these; they are unknown here */
    assert_int_equal(call(f, "POST", "/api/v1/services/s/functions/f/invocations", "{}"), 404);
    expect_error(f, 404, "PathNotSupported", NULL);
    assert_int_equal(call(f, "GET", "/2016-08-15/services/s/functions/f/logs", NULL), 404);
    expect_error(f, 404, "PathNotSupported", NULL);
    /* a trailing slash is fine */
    assert_int_equal(call(f, "GET", "/api/v1/services/", NULL), 200);
}

static void test_list_pagination(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"a1", "a2", "a3", "b1", "b2"};
    for (size_t i = 0; i < 5; i++)
        create_service(f, names[i]);
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "limit=2", NULL, 0), 200);
    json_t *arr = json_object_get(f->body, "services");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "serviceName")),
                        "a2");
    assert_string_equal(field(f, "nextToken"), "a3");
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "limit=2&nextToken=a3", NULL, 0), 200);
    arr = json_object_get(f->body, "services");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "serviceName")),
                        "a3");
    assert_string_equal(field(f, "nextToken"), "b2");
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "limit=2&nextToken=b2", NULL, 0), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "services")), 1);
    assert_null(json_object_get(f->body, "nextToken"));
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "prefix=b&startKey=b2", NULL, 0), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "services")), 1);
    assert_int_equal(call_raw(f, "GET", "/2016-08-15/services", "prefix=%61", NULL, 0), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "services")), 3);
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "limit=0", NULL, 0), 400);
    expect_error(f, 400, "InvalidArgument", "limit must be an integer between 1 and");
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "limit=x", NULL, 0), 400);
    assert_int_equal(call_raw(f, "GET", "/api/v1/services", "prefix=%zz", NULL, 0), 400);
}

static void test_functions(void **state)
{
    struct fixture *f = *state;
    create_service(f, "svc");
    char *body =
        function_body("hello", "\"memorySize\":256,\"environmentVariables\":{\"A\":\"1\"}");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", body), 200);
    free(body);
    assert_string_equal(field(f, "functionName"), "hello");
    assert_string_equal(field(f, "runtime"), "nodejs20");
    assert_string_equal(field(f, "handler"), "index.handler");
    assert_int_equal(ifield(f, "memorySize"), 256);
    assert_int_equal(ifield(f, "timeout"), 60);
    assert_int_equal(ifield(f, "instanceConcurrency"), 1);
    assert_int_equal(ifield(f, "initializationTimeout"), 3);
    assert_int_equal(strlen(field(f, "functionId")), 36);
    assert_int_equal(strlen(field(f, "codeChecksum")), 64);
    assert_true(ifield(f, "codeSize") > 0);
    assert_true(is_rfc3339(field(f, "createdTime")));
    assert_null(json_object_get(f->body, "codeDir")); /* the host path stays internal */
    assert_null(json_object_get(f->body, "code"));
    char *checksum = nb_xstrdup(field(f, "codeChecksum"));
    char *fid = nb_xstrdup(field(f, "functionId"));

    /* the snapshot: service, function with codeDir, triggers */
    assert_int_equal(f->resp.nchanges, 1);
    struct nb_api_change *ch = &f->resp.changes[0];
    assert_string_equal(ch->service, "svc");
    assert_string_equal(ch->function, "hello");
    assert_non_null(ch->snapshot);
    json_t *sfn = json_object_get(ch->snapshot, "function");
    assert_string_equal(json_string_value(json_object_get(sfn, "codeChecksum")), checksum);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sfn, "environmentVariables"), "A")), "1");
    const char *dir = json_string_value(json_object_get(sfn, "codeDir"));
    assert_non_null(dir);
    char *index = nb_xasprintf("%s/index.js", dir);
    size_t len;
    char *src = nb_read_file(index, &len);
    assert_non_null(src);
    assert_non_null(strstr(src, "exports.handler"));
    free(src);
    free(index);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ch->snapshot, "service"), "serviceName")),
        "svc");
    assert_int_equal(json_array_size(json_object_get(ch->snapshot, "triggers")), 0);

    /* duplicate, missing service */
    body = function_body("hello", NULL);
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", body), 409);
    expect_error(f, 409, "FunctionAlreadyExists", "hello");
    assert_int_equal(call(f, "POST", "/api/v1/services/nosvc/functions", body), 404);
    expect_error(f, 404, "ServiceNotFound", "nosvc");
    free(body);

    /* get / list */
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/hello", NULL), 200);
    assert_string_equal(field(f, "functionId"), fid);
    assert_null(json_object_get(f->body, "codeDir"));
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/nope", NULL), 404);
    expect_error(f, 404, "FunctionNotFound", "nope");
    assert_int_equal(call(f, "GET", "/api/v1/services/nosvc/functions/hello", NULL), 404);
    expect_error(f, 404, "ServiceNotFound", NULL);
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions", NULL), 200);
    json_t *fns = json_object_get(f->body, "functions");
    assert_int_equal(json_array_size(fns), 1);
    assert_null(json_object_get(json_array_get(fns, 0), "codeDir"));
    assert_int_equal(call(f, "GET", "/api/v1/services/nosvc/functions", NULL), 404);
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/hello/code", NULL), 200);
    assert_string_equal(field(f, "checksum"), checksum);
    assert_true(ifield(f, "codeSize") > 0);

    /* update without code keeps the code, merges fields */
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/hello",
                          "{\"timeout\":30,\"environmentVariables\":{\"B\":\"2\"}}"),
                     200);
    assert_int_equal(ifield(f, "timeout"), 30);
    assert_int_equal(ifield(f, "memorySize"), 256);
    assert_string_equal(field(f, "codeChecksum"), checksum);
    assert_string_equal(field(f, "functionId"), fid);
    assert_null(json_object_get(json_object_get(f->body, "environmentVariables"), "A"));
    assert_int_equal(f->resp.nchanges, 1);
    sfn = json_object_get(f->resp.changes[0].snapshot, "function");
    assert_int_equal(json_integer_value(json_object_get(sfn, "timeout")), 30);
    assert_non_null(json_object_get(sfn, "codeDir"));

    /* update with new code */
    const char *const other[] = {"main.py", "def handler(e, c):\n    return 'hi'\n"};
    unsigned char *zip = make_zip(&len, other, 2);
    char *b64 = nb_base64_encode(zip, len);
    free(zip);
    body = nb_xasprintf("{\"runtime\":\"python3.10\",\"handler\":\"main.handler\","
                        "\"code\":{\"zipFile\":\"%s\"}}",
                        b64);
    free(b64);
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/svc/functions/hello", body), 200);
    free(body);
    assert_string_not_equal(field(f, "codeChecksum"), checksum);
    assert_string_equal(field(f, "runtime"), "python3.10");
    dir = json_string_value(
        json_object_get(json_object_get(f->resp.changes[0].snapshot, "function"), "codeDir"));
    index = nb_xasprintf("%s/main.py", dir);
    assert_int_equal(access(index, R_OK), 0);
    free(index);

    /* FC PUT does not create; /api/v1 PUT does (and needs code) */
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/svc/functions/new1", "{}"), 404);
    expect_error(f, 404, "FunctionNotFound", "new1");
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/new1",
                          "{\"runtime\":\"nodejs20\",\"handler\":\"index.handler\"}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "code is required");
    body = function_body("new1", NULL);
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/new1", body), 200);
    assert_string_equal(field(f, "functionName"), "new1");
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/other", body), 400);
    expect_error(f, 400, "InvalidArgument", "functionName 'new1' does not match");
    free(body);

    /* a service update changes every function's snapshot */
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc", "{\"internetAccess\":true}"), 200);
    assert_int_equal(f->resp.nchanges, 2);
    assert_true(f->resp.changes[1].revision > f->resp.changes[0].revision);
    for (size_t i = 0; i < 2; i++) {
        json_t *snap = f->resp.changes[i].snapshot;
        assert_non_null(snap);
        assert_true(
            json_is_true(json_object_get(json_object_get(snap, "service"), "internetAccess")));
    }

    /* a service with functions is not deleted */
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc", NULL), 400);
    expect_error(f, 400, "ServiceNotEmpty", "svc");

    /* delete */
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/hello", NULL), 204);
    assert_int_equal(f->resp.nchanges, 1);
    assert_string_equal(f->resp.changes[0].function, "hello");
    assert_null(f->resp.changes[0].snapshot);
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/hello", NULL), 404);
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/hello", NULL), 404);
    expect_error(f, 404, "FunctionNotFound", NULL);
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/new1", NULL), 204);
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc", NULL), 204);
    free(checksum);
    free(fid);
}

struct bad_case {
    const char *extra;
    const char *want;
};

static void test_function_validation(void **state)
{
    struct fixture *f = *state;
    create_service(f, "svc");
    char big[5000];
    memset(big, 'x', 4200);
    big[4200] = '\0';
    char *bigenv = nb_xasprintf("\"environmentVariables\":{\"K\":\"%s\"}", big);
    const struct bad_case cases[] = {
        {"\"memorySize\":100", "memorySize must be a multiple of 64 between 64 and 32768"},
        {"\"memorySize\":32832", "memorySize must be a multiple of 64 between 64 and 32768"},
        {"\"memorySize\":\"128\"", "memorySize"},
        {"\"timeout\":0", "timeout must be an integer between 1 and 86400"},
        {"\"timeout\":86401", "timeout"},
        {"\"timeout\":1.5", "timeout"},
        {"\"instanceConcurrency\":101", "instanceConcurrency must be an integer between 1 and 100"},
        {"\"initializationTimeout\":0", "initializationTimeout"},
        {"\"runtime\":\"java8\"", "runtime 'java8' is not supported"},
        {"\"runtime\":\"nodejsX\"", "runtime"},
        {"\"runtime\":\"python2.7\"", "runtime"},
        {"\"runtime\":\"custom2\"", "runtime"},
        {"\"handler\":\"index\"", "handler must look like 'file.export'"},
        {"\"handler\":\"index.\"", "handler"},
        {"\"handler\":\"../x.handler\"", "handler"},
        {"\"handler\":\"/abs.handler\"", "handler"},
        {"\"initializer\":\"nodot\"", "initializer must look like 'file.export'"},
        {"\"environmentVariables\":{\"A\":1}", "environmentVariables.A must be a string"},
        {"\"environmentVariables\":[]", "environmentVariables must be an object"},
        {"\"environmentVariables\":{\"1A\":\"x\"}", "environmentVariables key '1A'"},
        {bigenv, "environmentVariables must total at most 4096 bytes"},
        {"\"description\":5", "description must be a string"},
        {"\"code\":{}", "code must give zipFile"},
        {"\"code\":\"abc\"", "code must be an object"},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(cases); i++) {
        /* "extra" comes after the defaults, so it overrides them (json_loads keeps the last) */
        char *body = function_body("fn", cases[i].extra);
        int st = call(f, "POST", "/api/v1/services/svc/functions", body);
        if (st != 400)
            fail_msg("case %zu (%s): status %d", i, cases[i].extra, st);
        expect_error(f, 400, "InvalidArgument", cases[i].want);
        assert_int_equal(f->resp.nchanges, 0);
        free(body);
    }
    free(bigenv);

    /* names */
    char *body = function_body("9lives", NULL);
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", body), 400);
    expect_error(f, 400, "InvalidArgument", "functionName '9lives' is invalid");
    free(body);
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions",
                          "{\"runtime\":\"nodejs20\",\"handler\":\"index.handler\"}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "functionName is required");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions",
                          "{\"functionName\":\"f\",\"runtime\":\"nodejs20\"}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "handler is required");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions",
                          "{\"functionName\":\"f\",\"handler\":\"index.handler\"}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "runtime is required");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", "{not json"), 400);
    expect_error(f, 400, "InvalidArgument", "request body is not valid JSON: ");

    /* bad code */
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions",
                          "{\"functionName\":\"f\",\"runtime\":\"nodejs20\",\"handler\":\"i.h\","
                          "\"code\":{\"zipFile\":\"@@@not base64@@@\"}}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "code.zipFile is not valid base64");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions",
                          "{\"functionName\":\"f\",\"runtime\":\"nodejs20\",\"handler\":\"i.h\","
                          "\"code\":{\"zipFile\":\"aGVsbG8gd29ybGQ=\"}}"),
                     400);
    expect_error(f, 400, "InvalidArgument", NULL);

    /* nothing was created by any of these */
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "functions")), 0);

    /* custom runtime needs no handler; good bounds pass */
    body = function_body("edge", "\"memorySize\":32768,\"timeout\":86400,"
                                 "\"instanceConcurrency\":100,\"initializer\":\"index.init\","
                                 "\"handlerType\":\"fc-http\"");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", body), 200);
    free(body);
    assert_string_equal(field(f, "initializer"), "index.init");
    assert_string_equal(field(f, "handlerType"), "fc-http");
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/edge",
                          "{\"initializer\":\"\",\"handlerType\":null,\"runtime\":\"custom\"}"),
                     200);
    assert_true(json_is_null(json_object_get(f->body, "initializer")));
    assert_null(json_object_get(f->body, "handlerType"));
    assert_string_equal(field(f, "runtime"), "custom");
    /* a failed update changes nothing */
    assert_int_equal(
        call(f, "PUT", "/api/v1/services/svc/functions/edge", "{\"timeout\":5,\"memorySize\":1}"),
        400);
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/edge", NULL), 200);
    assert_int_equal(ifield(f, "timeout"), 86400);
}

static void test_code_upload(void **state)
{
    struct fixture *f = *state;
    create_service(f, "svc");
    size_t len;
    unsigned char *zip = make_zip(&len, hello_zip, 2);
    assert_int_equal(call_raw(f, "POST", "/api/v1/code", NULL, zip, len), 200);
    char want[65];
    nb_sha256_hex(zip, len, want);
    free(zip);
    assert_string_equal(field(f, "checksum"), want);
    assert_int_equal(ifield(f, "codeSize"), (json_int_t)len);
    assert_int_equal(f->resp.nchanges, 0);

    char *body = nb_xasprintf("{\"functionName\":\"f\",\"runtime\":\"nodejs20\","
                              "\"handler\":\"index.handler\",\"code\":{\"checksum\":\"%s\"}}",
                              want);
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions", body), 200);
    free(body);
    assert_string_equal(field(f, "codeChecksum"), want);
    assert_int_equal(ifield(f, "codeSize"), (json_int_t)len);
    assert_non_null(
        json_object_get(json_object_get(f->resp.changes[0].snapshot, "function"), "codeDir"));

    char missing[65];
    memset(missing, 'a', 64);
    missing[64] = '\0';
    body = nb_xasprintf("{\"code\":{\"checksum\":\"%s\"}}", missing);
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/f", body), 400);
    expect_error(f, 400, "InvalidArgument", "was not uploaded");
    free(body);
    assert_int_equal(
        call(f, "PUT", "/api/v1/services/svc/functions/f", "{\"code\":{\"checksum\":\"abc\"}}"),
        400);
    expect_error(f, 400, "InvalidArgument", "code.checksum must be a sha256");

    /* bad uploads */
    assert_int_equal(call_raw(f, "POST", "/api/v1/code", NULL, "not a zip", 9), 400);
    expect_error(f, 400, "InvalidArgument", NULL);
    assert_int_equal(call_raw(f, "POST", "/api/v1/code", NULL, NULL, 0), 400);
    expect_error(f, 400, "InvalidArgument", "empty");
    const char *const evil[] = {"../evil.js", "x"};
    zip = make_zip(&len, evil, 2);
    assert_int_equal(call_raw(f, "POST", "/api/v1/code", NULL, zip, len), 400);
    expect_error(f, 400, "InvalidArgument", "evil");
    free(zip);
    size_t bigl = ZIP_LIMIT + 1024;
    unsigned char *big = nb_xmalloc(bigl);
    nb_random_bytes(big, bigl);
    assert_int_equal(call_raw(f, "POST", "/api/v1/code", NULL, big, bigl), 413);
    expect_error(f, 413, "EntityTooLarge", NULL);
    free(big);
}

static json_t *trigger_names(json_t *snapshot)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(snapshot, "triggers"), i, t)
        json_array_append(out, json_object_get(t, "triggerName"));
    return out;
}

static void test_triggers(void **state)
{
    struct fixture *f = *state;
    create_service(f, "svc");
    create_function(f, "svc", "fn");
    const char *base = "/api/v1/services/svc/functions/fn/triggers";

    assert_int_equal(call(f, "POST", base, "{\"triggerName\":\"http\",\"triggerType\":\"http\"}"),
                     200);
    assert_string_equal(field(f, "triggerName"), "http");
    assert_string_equal(field(f, "qualifier"), "LATEST");
    json_t *cfg = json_object_get(f->body, "triggerConfig");
    assert_string_equal(json_string_value(json_object_get(cfg, "authType")), "function");
    assert_int_equal(json_array_size(json_object_get(cfg, "methods")), 7);
    assert_true(is_rfc3339(field(f, "createdTime")));
    assert_int_equal(f->resp.nchanges, 1);
    json_t *names = trigger_names(f->resp.changes[0].snapshot);
    assert_int_equal(json_array_size(names), 1);
    json_decref(names);
    assert_non_null(
        json_object_get(json_object_get(f->resp.changes[0].snapshot, "function"), "codeDir"));

    assert_int_equal(call(f, "POST", base,
                          "{\"triggerName\":\"web\",\"triggerType\":\"http\",\"triggerConfig\":"
                          "{\"authType\":\"ANONYMOUS\",\"methods\":[\"get\",\"POST\",\"GET\"]}}"),
                     200);
    cfg = json_object_get(f->body, "triggerConfig");
    assert_string_equal(json_string_value(json_object_get(cfg, "authType")), "anonymous");
    json_t *methods = json_object_get(cfg, "methods");
    assert_int_equal(json_array_size(methods), 2);
    assert_string_equal(json_string_value(json_array_get(methods, 0)), "GET");
    assert_string_equal(json_string_value(json_array_get(methods, 1)), "POST");

    assert_int_equal(call(f, "POST", base,
                          "{\"triggerName\":\"tick\",\"triggerType\":\"timer\",\"triggerConfig\":"
                          "{\"cronExpression\":\"@every 5m\"}}"),
                     200);
    cfg = json_object_get(f->body, "triggerConfig");
    assert_string_equal(json_string_value(json_object_get(cfg, "cronExpression")), "@every 5m");
    assert_string_equal(json_string_value(json_object_get(cfg, "payload")), "");
    assert_true(json_is_true(json_object_get(cfg, "enable")));
    names = trigger_names(f->resp.changes[0].snapshot);
    assert_int_equal(json_array_size(names), 3);
    json_decref(names);

    /* validation */
    const struct bad_case bad[] = {
        {"{\"triggerName\":\"x\",\"triggerType\":\"http\",\"triggerConfig\":{\"authType\":"
         "\"none\"}}",
         "triggerConfig.authType must be 'anonymous' or 'function'"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"http\",\"triggerConfig\":{\"methods\":"
         "[\"FETCH\"]}}",
         "triggerConfig.methods must be a non-empty array"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"http\",\"triggerConfig\":{\"methods\":[]}}",
         "triggerConfig.methods"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"http\",\"triggerConfig\":{\"methods\":"
         "\"GET\"}}",
         "triggerConfig.methods"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"oss\"}",
         "triggerType must be 'http' or 'timer'"},
        {"{\"triggerName\":\"x\"}", "triggerType"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"timer\"}", "triggerConfig must be an object"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"timer\",\"triggerConfig\":{"
         "\"cronExpression\":\"every day\"}}",
         "triggerConfig.cronExpression"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"timer\",\"triggerConfig\":{"
         "\"cronExpression\":\"@every 0s\"}}",
         "triggerConfig.cronExpression"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"timer\",\"triggerConfig\":{"
         "\"cronExpression\":\"0 0 4 * * *\",\"enable\":\"yes\"}}",
         "triggerConfig.enable"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"timer\",\"triggerConfig\":{"
         "\"cronExpression\":\"0 0 4 * * *\",\"payload\":{}}}",
         "triggerConfig.payload must be a string"},
        {"{\"triggerName\":\"x y\",\"triggerType\":\"http\"}", "triggerName 'x y' is invalid"},
        {"{\"triggerName\":\"x\",\"triggerType\":\"http\",\"qualifier\":\"a/b\"}", "qualifier"},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(bad); i++) {
        int st = call(f, "POST", base, bad[i].extra);
        if (st != 400)
            fail_msg("case %zu: status %d", i, st);
        expect_error(f, 400, "InvalidArgument", bad[i].want);
    }
    assert_int_equal(call(f, "POST", base, "{\"triggerName\":\"http\",\"triggerType\":\"http\"}"),
                     409);
    expect_error(f, 409, "TriggerAlreadyExists", "http");
    assert_int_equal(call(f, "POST", "/api/v1/services/svc/functions/nofn/triggers",
                          "{\"triggerName\":\"t\",\"triggerType\":\"http\"}"),
                     404);
    expect_error(f, 404, "FunctionNotFound", "nofn");

    /* list / get */
    assert_int_equal(call(f, "GET", base, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "triggers")), 3);
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/fn/triggers/tick", NULL), 200);
    assert_string_equal(field(f, "triggerType"), "timer");
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/fn/triggers/nope", NULL), 404);
    expect_error(f, 404, "TriggerNotFound", "nope");
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/nofn/triggers", NULL), 404);
    expect_error(f, 404, "FunctionNotFound", NULL);

    /* update */
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/fn/triggers/tick",
                          "{\"triggerConfig\":{\"cronExpression\":\"0 */5 * * * *\","
                          "\"payload\":\"hi\",\"enable\":false}}"),
                     200);
    cfg = json_object_get(f->body, "triggerConfig");
    assert_string_equal(json_string_value(json_object_get(cfg, "payload")), "hi");
    assert_true(json_is_false(json_object_get(cfg, "enable")));
    assert_int_equal(f->resp.nchanges, 1);
    assert_string_equal(f->resp.changes[0].function, "fn");
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/fn/triggers/tick",
                          "{\"triggerType\":\"http\"}"),
                     400);
    expect_error(f, 400, "InvalidArgument", "triggerType cannot be changed");

    /* FC PUT on a missing trigger: 404; /api/v1 PUT creates */
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/svc/functions/fn/triggers/new",
                          "{\"triggerType\":\"http\"}"),
                     404);
    expect_error(f, 404, "TriggerNotFound", "new");
    assert_int_equal(call(f, "PUT", "/api/v1/services/svc/functions/fn/triggers/new",
                          "{\"triggerType\":\"http\"}"),
                     200);
    assert_string_equal(field(f, "triggerName"), "new");

    /* delete: the change carries the function's snapshot without it */
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/fn/triggers/new", NULL),
                     204);
    assert_int_equal(f->resp.nchanges, 1);
    names = trigger_names(f->resp.changes[0].snapshot);
    assert_int_equal(json_array_size(names), 3);
    json_decref(names);
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/fn/triggers/new", NULL),
                     404);
    expect_error(f, 404, "TriggerNotFound", NULL);

    /* deleting the function deletes its triggers */
    assert_int_equal(call(f, "DELETE", "/api/v1/services/svc/functions/fn", NULL), 204);
    create_function(f, "svc", "fn");
    assert_int_equal(call(f, "GET", base, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "triggers")), 0);
}

static void test_fc_paths(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(call(f, "POST", "/2016-08-15/services",
                          "{\"serviceName\":\"fc\",\"role\":\"acs:ram::1:role/x\","
                          "\"logConfig\":{\"project\":\"p\"}}"),
                     200);
    assert_string_equal(field(f, "role"), "acs:ram::1:role/x");
    char *body = function_body("f", NULL);
    assert_int_equal(call(f, "POST", "/2016-08-15/services/fc/functions", body), 200);
    free(body);
    assert_int_equal(call(f, "GET", "/2016-08-15/services/fc.LATEST/functions", NULL), 200);
    assert_int_equal(json_array_size(json_object_get(f->body, "functions")), 1);
    assert_int_equal(call(f, "GET", "/2016-08-15/services/fc.LATEST/functions/f", NULL), 200);
    assert_int_equal(call(f, "GET", "/2016-08-15/services/fc.3", NULL), 404);
    expect_error(f, 404, "VersionNotFound", NULL);
    assert_int_equal(call(f, "GET", "/2016-08-15/services/fc.prod", NULL), 404);
    expect_error(f, 404, "AliasNotFound", NULL);
    assert_int_equal(call(f, "PUT", "/2016-08-15/services/fc/functions/f", "{\"timeout\":9}"), 200);
    assert_int_equal(ifield(f, "timeout"), 9);
    assert_int_equal(call(f, "GET", "/api/v1/services/fc/functions/f", NULL), 200);
    assert_int_equal(ifield(f, "timeout"), 9);
}

struct updater {
    struct nb_api *api;
    int first;
    uint64_t best_rev;     /* highest revision seen by this thread */
    json_int_t best_value; /* the timeout in that change's snapshot */
};

static void *updater_main(void *arg)
{
    struct updater *u = arg;
    for (int i = 0; i < 40; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"timeout\":%d}", u->first + i);
        struct nb_api_request req = {.method = "PUT",
                                     .path = "/api/v1/services/svc/functions/fn",
                                     .body = body,
                                     .body_len = strlen(body)};
        struct nb_api_response resp;
        nb_api_execute(u->api, &req, &resp);
        if (resp.status == 200 && resp.nchanges == 1 && resp.changes[0].revision > u->best_rev) {
            u->best_rev = resp.changes[0].revision;
            u->best_value = json_integer_value(
                json_object_get(json_object_get(resp.changes[0].snapshot, "function"), "timeout"));
        }
        nb_api_response_release(&resp);
    }
    return NULL;
}

/* Concurrent updates: the change with the highest revision is the final state. */
static void test_concurrent_updates(void **state)
{
    struct fixture *f = *state;
    create_service(f, "svc");
    create_function(f, "svc", "fn");
    struct updater u[2] = {{&f->api, 100, 0, 0}, {&f->api, 1000, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, updater_main, &u[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(u[0].best_rev > 0 && u[1].best_rev > 0);
    json_int_t latest = u[0].best_rev > u[1].best_rev ? u[0].best_value : u[1].best_value;
    assert_int_equal(call(f, "GET", "/api/v1/services/svc/functions/fn", NULL), 200);
    assert_int_equal(ifield(f, "timeout"), latest);
}

static void test_snapshot_all(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    json_t *all = nb_api_snapshot_all(&f->api, &err);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);

    create_service(f, "a");
    create_service(f, "b");
    create_service(f, "empty");
    create_function(f, "a", "f1");
    create_function(f, "a", "f2");
    create_function(f, "b", "f1");
    assert_int_equal(call(f, "POST", "/api/v1/services/b/functions/f1/triggers",
                          "{\"triggerName\":\"h\",\"triggerType\":\"http\"}"),
                     200);
    all = nb_api_snapshot_all(&f->api, &err);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 3);
    size_t i;
    json_t *snap;
    json_array_foreach(all, i, snap)
    {
        json_t *fn = json_object_get(snap, "function");
        const char *dir = json_string_value(json_object_get(fn, "codeDir"));
        assert_non_null(dir);
        char *index = nb_xasprintf("%s/index.js", dir);
        assert_int_equal(access(index, R_OK), 0);
        free(index);
        assert_non_null(json_object_get(json_object_get(snap, "service"), "serviceName"));
    }
    json_t *last = json_array_get(all, 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "service"), "serviceName")), "b");
    assert_int_equal(json_array_size(json_object_get(last, "triggers")), 1);
    json_decref(all);
}

static void test_keys_bootstrap(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    json_t *keys = nb_api_keys_bootstrap(&f->api, f->dir, &err);
    assert_non_null(keys);
    assert_int_equal(json_array_size(keys), 1);
    json_t *k = json_array_get(keys, 0);
    const char *id = json_string_value(json_object_get(k, "accessKeyId"));
    const char *secret = json_string_value(json_object_get(k, "accessKeySecret"));
    assert_string_equal(json_string_value(json_object_get(k, "scope")), "admin");
    assert_int_equal(strlen(id), 20);
    assert_memory_equal(id, "NB", 2);
    for (const char *p = id; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
    assert_true(strlen(secret) >= 30);
    for (const char *p = secret; *p; p++)
        assert_true(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p) != NULL);

    char path[128];
    snprintf(path, sizeof(path), "%s/credentials", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    size_t len;
    char *text = nb_read_file(path, &len);
    char *want = nb_xasprintf("NUBIS_ACCESS_KEY_ID=%s\nNUBIS_ACCESS_KEY_SECRET=%s\n", id, secret);
    assert_string_equal(text, want);
    free(text);

    /* idempotent: same key, file untouched */
    json_t *again = nb_api_keys_bootstrap(&f->api, f->dir, &err);
    assert_non_null(again);
    assert_true(json_equal(keys, again));
    json_decref(again);
    struct stat sb2;
    assert_int_equal(stat(path, &sb2), 0);
    assert_int_equal(sb.st_ino, sb2.st_ino);

    /* the store agrees, the secret encrypted at rest (auth/keys.h) */
    struct nb_store_key got;
    assert_int_equal(nb_store_key_get(f->st, id, &got, &err), 0);
    assert_string_not_equal(got.secret, secret);
    assert_memory_equal(got.secret, "v1:", 3);
    char *clear = nb_keys_open(f->api.master_key, id, got.secret);
    assert_non_null(clear);
    assert_string_equal(clear, secret);
    free(clear);
    nb_store_key_release(&got);

    /* a lost credentials file is written again from the stored key */
    assert_int_equal(unlink(path), 0);
    again = nb_api_keys_bootstrap(&f->api, f->dir, &err);
    json_decref(again);
    text = nb_read_file(path, &len);
    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    free(text);
    free(want);
    json_decref(keys);
}

static void test_error_body(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 4096);
    nb_api_error_body(&b, "InvalidArgument", "say \"hi\"");
    assert_string_equal(b.data, "{\"ErrorCode\":\"InvalidArgument\",\"ErrorMessage\":\"say "
                                "\\\"hi\\\"\",\"errorCode\":\"InvalidArgument\","
                                "\"errorMessage\":\"say \\\"hi\\\"\"}");
    nb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_code_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fc_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_body, NULL, NULL),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
