/*
 * test_manifest.c: the CLI's daemon-free logic: YAML -> JSON typing, manifest
 * validation errors naming the key path, API bodies, .nubisignore matching,
 * and the zip of a real temporary directory read back with libarchive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/alloc.h"
#include "base/util.h"
#include "cli/manifest.h"
#include "cli/pack.h"

static json_t *yaml(const char *text)
{
    struct nb_err err = {0};
    json_t *j = nb_yaml_to_json(text, strlen(text), "t.yaml", &err);
    if (!j)
        fail_msg("yaml: %s", err.msg);
    return j;
}

static void test_yaml_typing(void **state)
{
    (void)state;
    json_t *j = yaml("a: 1\n"
                     "b: '1'\n"
                     "c: \"true\"\n"
                     "d: true\n"
                     "e: False\n"
                     "f: ~\n"
                     "g:\n"
                     "h: null\n"
                     "i: 010\n"
                     "j: 1.10\n"
                     "k: -42\n"
                     "l: yes\n"
                     "m: [x, 2, {n: o}]\n"
                     "p: &anchor {q: 1}\n"
                     "r: *anchor\n"
                     "s: |\n  multi\n  line\n"
                     "t: 99999999999999999999\n");
    assert_true(json_is_integer(json_object_get(j, "a")));
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "b")), "1");
    assert_string_equal(json_string_value(json_object_get(j, "c")), "true");
    assert_true(json_is_true(json_object_get(j, "d")));
    assert_true(json_is_false(json_object_get(j, "e")));
    assert_true(json_is_null(json_object_get(j, "f")));
    assert_true(json_is_null(json_object_get(j, "g")));
    assert_true(json_is_null(json_object_get(j, "h")));
    assert_string_equal(json_string_value(json_object_get(j, "i")), "010");
    assert_string_equal(json_string_value(json_object_get(j, "j")), "1.10");
    assert_int_equal(json_integer_value(json_object_get(j, "k")), -42);
    assert_string_equal(json_string_value(json_object_get(j, "l")), "yes");
    json_t *m = json_object_get(j, "m");
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "x");
    assert_int_equal(json_integer_value(json_array_get(m, 1)), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "n")), "o");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "r"), "q")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "s")), "multi\nline\n");
    assert_string_equal(json_string_value(json_object_get(j, "t")), "99999999999999999999");
    json_decref(j);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    struct nb_err err = {0};
    const char *dup = "a: 1\nb: 2\na: 3\n";
    assert_null(nb_yaml_to_json(dup, strlen(dup), "x.yaml", &err));
    assert_string_equal(err.msg, "x.yaml:3:1: duplicate key 'a'");

    const char *broken = "a: [1, 2\nb: 3\n";
    assert_null(nb_yaml_to_json(broken, strlen(broken), "x.yaml", &err));
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "x.yaml:"));

    assert_null(nb_yaml_to_json("", 0, "x.yaml", &err));
    assert_string_equal(err.msg, "x.yaml: empty document");

    const char *cplx = "? [a]\n: 1\n";
    assert_null(nb_yaml_to_json(cplx, strlen(cplx), "x.yaml", &err));
    assert_non_null(strstr(err.msg, "mapping keys must be scalars"));
}

static const char *good_manifest =
    "service:\n"
    "  name: myserverless\n"
    "  internetAccess: true\n"
    "functions:\n"
    "  test01:\n"
    "    runtime: nodejs20\n"
    "    handler: index.handler\n"
    "    memorySize: 128\n"
    "    timeout: 60\n"
    "    instanceConcurrency: 1\n"
    "    initializer: index.initializer\n"
    "    environmentVariables: {GREETING: hi, DEBUG: true, N: 3}\n"
    "    triggers:\n"
    "      - name: http\n"
    "        type: http\n"
    "        config: {authType: anonymous, methods: [GET, post]}\n"
    "      - name: every5m\n"
    "        type: timer\n"
    "        config: {cronExpression: \"@every 5m\", payload: {a: 1},"
    " enable: true}\n";

static void test_manifest_valid_and_bodies(void **state)
{
    (void)state;
    json_t *m = yaml(good_manifest);
    struct nb_err err = {0};
    assert_int_equal(nb_manifest_validate(m, &err), 0);

    json_t *fn = json_object_get(json_object_get(m, "functions"), "test01");
    assert_string_equal(json_string_value(json_object_get(fn, "codeUri")), "./");
    json_t *env = json_object_get(fn, "environmentVariables");
    assert_string_equal(json_string_value(json_object_get(env, "DEBUG")), "true");
    assert_string_equal(json_string_value(json_object_get(env, "N")), "3");

    json_t *sb = nb_manifest_service_body(m);
    assert_string_equal(json_string_value(json_object_get(sb, "serviceName")), "myserverless");
    assert_true(json_is_true(json_object_get(sb, "internetAccess")));
    json_decref(sb);

    json_t *fb = nb_manifest_function_body("test01", fn, "abc123");
    assert_string_equal(json_string_value(json_object_get(fb, "functionName")), "test01");
    assert_string_equal(json_string_value(json_object_get(fb, "runtime")), "nodejs20");
    assert_int_equal(json_integer_value(json_object_get(fb, "memorySize")), 128);
    assert_string_equal(json_string_value(json_object_get(json_object_get(fb, "code"), "checksum")),
                        "abc123");
    assert_null(json_object_get(fb, "triggers"));
    assert_null(json_object_get(fb, "codeUri"));
    json_decref(fb);

    json_t *trig = json_object_get(fn, "triggers");
    json_t *tb = nb_manifest_trigger_body(json_array_get(trig, 0));
    assert_string_equal(json_string_value(json_object_get(tb, "triggerName")), "http");
    assert_string_equal(json_string_value(json_object_get(tb, "triggerType")), "http");
    json_t *methods = json_object_get(json_object_get(tb, "triggerConfig"), "methods");
    assert_string_equal(json_string_value(json_array_get(methods, 1)), "POST");
    json_decref(tb);
    tb = nb_manifest_trigger_body(json_array_get(trig, 1));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(tb, "triggerConfig"), "payload")),
        "{\"a\":1}");
    json_decref(tb);
    json_decref(m);
}

/* Replaces the first occurrence of from in good_manifest and expects err. */
static void expect_invalid(const char *from, const char *to, const char *msg)
{
    const char *at = strstr(good_manifest, from);
    assert_non_null(at);
    char *text =
        nb_xasprintf("%.*s%s%s", (int)(at - good_manifest), good_manifest, to, at + strlen(from));
    json_t *m = yaml(text);
    struct nb_err err = {0};
    assert_int_equal(nb_manifest_validate(m, &err), -EINVAL);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("for '%s': got '%s', want '%s'", to, err.msg, msg);
    json_decref(m);
    free(text);
}

static void test_manifest_errors(void **state)
{
    (void)state;
    expect_invalid("memorySize: 128", "memorySize: '128'",
                   "functions.test01.memorySize: must be a number");
    expect_invalid("memorySize: 128", "memorySize: 100",
                   "functions.test01.memorySize: must be a multiple of 64");
    expect_invalid("memorySize: 128", "memorySize: 65536",
                   "functions.test01.memorySize: must be between 64 and 32768");
    expect_invalid("timeout: 60", "timeout: 0",
                   "functions.test01.timeout: must be between 1 and 86400");
    expect_invalid(
        "runtime: nodejs20", "runtime: java11",
        "functions.test01.runtime: 'java11' is not supported (nodejs*, python3* or custom)");
    expect_invalid("    runtime: nodejs20\n", "", "functions.test01.runtime: is required");
    expect_invalid("handler: index.handler", "handler: index",
                   "functions.test01.handler: must be <file>.<export>, e.g. index.handler");
    expect_invalid(
        "memorySize", "memsize",
        "functions.test01.memsize: unknown key (expected one of: runtime, handler, "
        "codeUri, memorySize, timeout, initializer, initializationTimeout, "
        "instanceConcurrency, environmentVariables, handlerType, description, asyncConfig, "
        "triggers)");
    expect_invalid("name: myserverless", "name: 9lives",
                   "service.name: must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}");
    expect_invalid("internetAccess: true", "internetAccess: 'yes'",
                   "service.internetAccess: must be true or false");
    expect_invalid("type: timer", "type: cron",
                   "functions.test01.triggers[1].type: must be 'http' or 'timer'");
    expect_invalid(
        "authType: anonymous", "authType: none",
        "functions.test01.triggers[0].config.authType: must be 'anonymous' or 'function'");
    expect_invalid("post]", "FETCH]",
                   "functions.test01.triggers[0].config.methods[1]: must be one of GET, POST, PUT, "
                   "DELETE, HEAD, PATCH, OPTIONS");
    expect_invalid("name: every5m", "name: http",
                   "functions.test01.triggers[1].name: duplicate trigger name 'http'");
    expect_invalid("cronExpression: \"@every 5m\", ", "",
                   "functions.test01.triggers[1].config.cronExpression: is required");
    expect_invalid("{GREETING: hi,", "{GREETING: [hi],",
                   "functions.test01.environmentVariables.GREETING: must be a string");
    expect_invalid("  test01:", "  bad.name:",
                   "functions.bad.name: function name must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}");
    expect_invalid("service:\n  name: myserverless\n  internetAccess: true\n", "",
                   "service: is required (service: {name: ...})");

    struct nb_err err = {0};
    json_t *m = yaml("- a\n- b\n");
    assert_int_equal(nb_manifest_validate(m, &err), -EINVAL);
    json_decref(m);
    m = yaml("service: {name: s}\nfunctions: {}\n");
    assert_int_equal(nb_manifest_validate(m, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "functions: must be a mapping of function names to their configuration");
    json_decref(m);
}

static void test_ignore_rules(void **state)
{
    (void)state;
    struct nb_ignore *ig = nb_ignore_parse("# comment\n"
                                           "\n"
                                           "*.log\n"
                                           "/build\n"
                                           "tmp/\n"
                                           "docs/*.md\n"
                                           "!docs/keep.md\n"
                                           "secret/\n"
                                           "!secret/ok.txt\n"
                                           "**/cache/**\n"
                                           "a/**/z\n");
    assert_true(nb_ignore_match(ig, "x.log", 0));
    assert_true(nb_ignore_match(ig, "deep/in/x.log", 0));
    assert_false(nb_ignore_match(ig, "x.logs", 0));
    assert_true(nb_ignore_match(ig, "build", 1));
    assert_true(nb_ignore_match(ig, "build/out.js", 0));
    assert_false(nb_ignore_match(ig, "src/build", 1)); /* anchored to the root */
    assert_true(nb_ignore_match(ig, "src/tmp", 1));
    assert_false(nb_ignore_match(ig, "src/tmp", 0)); /* dirs only */
    assert_true(nb_ignore_match(ig, "docs/a.md", 0));
    assert_false(nb_ignore_match(ig, "docs/keep.md", 0));
    assert_false(nb_ignore_match(ig, "docs/sub/a.md", 0)); /* '*' does not cross '/' */
    assert_true(nb_ignore_match(ig, "secret/ok.txt", 0));  /* parent excluded: like git */
    assert_true(nb_ignore_match(ig, "x/cache/y/z.bin", 0));
    assert_true(nb_ignore_match(ig, "a/z", 0));
    assert_true(nb_ignore_match(ig, "a/b/c/z", 0));
    assert_false(nb_ignore_match(ig, "index.js", 0));
    nb_ignore_free(ig);

    ig = nb_ignore_parse(NULL);
    assert_false(nb_ignore_match(ig, "anything", 0));
    nb_ignore_free(ig);
}

static void write_text(const char *path, const char *text, int mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

struct entry {
    char path[256];
    int type;
    int perm;
    char data[64];
    char link[64];
};

/* Reads a zip back with libarchive; returns the entry count. */
static size_t read_zip(const char *zip, size_t len, struct entry *out, size_t max)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_zip(a);
    assert_int_equal(archive_read_open_memory(a, zip, len), ARCHIVE_OK);
    struct archive_entry *e;
    size_t n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        assert_true(n < max);
        struct entry *x = &out[n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->path, sizeof(x->path), "%s", archive_entry_pathname(e));
        x->type = (int)archive_entry_filetype(e);
        x->perm = (int)archive_entry_perm(e);
        if (archive_entry_symlink(e))
            snprintf(x->link, sizeof(x->link), "%s", archive_entry_symlink(e));
        if (x->type == AE_IFREG) {
            la_ssize_t r = archive_read_data(a, x->data, sizeof(x->data) - 1);
            assert_true(r >= 0);
        }
    }
    archive_read_free(a);
    return n;
}

static const struct entry *find(const struct entry *es, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(es[i].path, path))
            return &es[i];
    return NULL;
}

static void test_pack_dir(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nb-pack-XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    char p[512];
#define P(rel) (snprintf(p, sizeof(p), "%s/%s", root, rel), p)
    write_text(P("index.js"), "exports.handler = 1;\n", 0644);
    write_text(P("run.sh"), "#!/bin/sh\n", 0755);
    write_text(P("nubis.yaml"), "service: {name: s}\n", 0644);
    write_text(P(".nubisignore"), "*.log\n/build/\n", 0644);
    write_text(P("debug.log"), "noise", 0644);
    mkdir(P("lib"), 0755);
    write_text(P("lib/util.js"), "util", 0644);
    write_text(P("lib/trace.log"), "noise", 0644);
    mkdir(P("build"), 0755);
    write_text(P("build/out.js"), "out", 0644);
    mkdir(P(".git"), 0755);
    write_text(P(".git/HEAD"), "ref", 0644);
    mkdir(P("empty"), 0755);
    assert_int_equal(symlink("lib/util.js", P("link.js")), 0);

    struct nb_err err = {0};
    struct nb_ignore *ig = nb_ignore_load(root, &err);
    assert_non_null(ig);
    struct nb_pack_result r;
    assert_int_equal(nb_pack_dir(root, ig, "", &r, &err), 0);
    nb_ignore_free(ig);
    assert_true(r.len > 22);
    assert_memory_equal(r.zip, "PK\x03\x04", 4);

    struct entry es[32];
    size_t n = read_zip(r.zip, r.len, es, 32);
    const struct entry *e;
    assert_non_null(e = find(es, n, "index.js"));
    assert_int_equal(e->type, AE_IFREG);
    assert_string_equal(e->data, "exports.handler = 1;\n");
    assert_int_equal(e->perm, 0644);
    assert_non_null(e = find(es, n, "run.sh"));
    assert_int_equal(e->perm, 0755);
    assert_non_null(find(es, n, "nubis.yaml"));
    assert_non_null(find(es, n, ".nubisignore"));
    assert_non_null(e = find(es, n, "lib/util.js"));
    assert_string_equal(e->data, "util");
    assert_non_null(e = find(es, n, "link.js"));
    assert_int_equal(e->type, AE_IFLNK);
    assert_string_equal(e->link, "lib/util.js");
    assert_non_null(e = find(es, n, "empty/"));
    assert_int_equal(e->type, AE_IFDIR);
    assert_null(find(es, n, "debug.log"));
    assert_null(find(es, n, "lib/trace.log"));
    assert_null(find(es, n, "build/"));
    assert_null(find(es, n, "build/out.js"));
    assert_null(find(es, n, ".git/"));
    assert_null(find(es, n, ".git/HEAD"));
    assert_int_equal(r.files, 6); /* index.js run.sh nubis.yaml .nubisignore lib/util.js link.js */
    free(r.zip);

    /* The same rules seen from a parent directory: codeUri "lib" under the ignore file's dir. */
    ig = nb_ignore_parse("lib/*.log\n");
    assert_int_equal(nb_pack_dir(P("lib"), ig, "lib", &r, &err), 0);
    n = read_zip(r.zip, r.len, es, 32);
    assert_int_equal(n, 1);
    assert_string_equal(es[0].path, "util.js");
    free(r.zip);
    nb_ignore_free(ig);

    assert_int_equal(nb_pack_dir(P("missing"), NULL, NULL, &r, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "missing"));
    assert_int_equal(nb_rm_rf(root), 0);
#undef P
}

static void test_load_from_dir(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/nb-man-XXXXXX";
    char *root = mkdtemp(tmpl);
    char *path = nb_xasprintf("%s/nubis.yaml", root);
    struct nb_err err = {0};
    json_t *m;
    assert_int_equal(nb_manifest_load(root, &m, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "nubis.yaml"));
    write_text(path,
               "service: {name: s}\nfunctions:\n  f:\n    runtime: nodejs20\n"
               "    handler: index.handler\n    timeout: soon\n",
               0644);
    assert_int_equal(nb_manifest_load(root, &m, &err), -EINVAL);
    char *want = nb_xasprintf("%s: functions.f.timeout: must be a number", path);
    assert_string_equal(err.msg, want);
    free(want);
    write_text(path, "service: {name: s}\nfunctions:\n  f: {runtime: custom}\n", 0644);
    assert_int_equal(nb_manifest_load(root, &m, &err), 0);
    json_decref(m);
    free(path);
    nb_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_typing),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_manifest_valid_and_bodies),
        cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_ignore_rules),
        cmocka_unit_test(test_pack_dir),
        cmocka_unit_test(test_load_from_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
