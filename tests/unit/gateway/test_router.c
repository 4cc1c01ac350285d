/*
 * test_router.c: path classification: FC proxy paths with and without
 * qualifiers, the /fn/ short form, the invoke and logs paths, management
 * paths, and hostile input (bad escapes, encoded separators).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/router.h"

static void check(const char *path, enum nb_route_kind kind, const char *svc, const char *q,
                  const char *fn, const char *rest)
{
    struct nb_route r;
    nb_route_parse(path, &r);
    assert_int_equal(r.kind, kind);
    if (svc)
        assert_string_equal(r.service, svc);
    if (q)
        assert_string_equal(r.qualifier, q);
    else if (kind == NB_ROUTE_TRIGGER || kind == NB_ROUTE_INVOKE)
        assert_null(r.qualifier);
    if (fn)
        assert_string_equal(r.function, fn);
    if (rest)
        assert_string_equal(r.rest, rest);
    nb_route_release(&r);
}

static void test_proxy(void **state)
{
    (void)state;
    check("/2016-08-15/proxy/myserverless.LATEST/test01/", NB_ROUTE_TRIGGER, "myserverless",
          "LATEST", "test01", "/");
    check("/2016-08-15/proxy/myserverless/test01/", NB_ROUTE_TRIGGER, "myserverless", NULL,
          "test01", "/");
    check("/2016-08-15/proxy/s/f", NB_ROUTE_TRIGGER, "s", NULL, "f", "/");
    check("/2016-08-15/proxy/s.prod/f/a/b%20c", NB_ROUTE_TRIGGER, "s", "prod", "f", "/a/b c");
    check("/2016-08-15/proxy/s/", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/2016-08-15/proxy/s", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/2016-08-15/proxy//f/", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
}

static void test_short(void **state)
{
    (void)state;
    check("/fn/s/f/x/y", NB_ROUTE_TRIGGER, "s", NULL, "f", "/x/y");
    /* no qualifier in the short form: the dot is part of the name */
    check("/fn/s.v/f/", NB_ROUTE_TRIGGER, "s.v", NULL, "f", "/");
}

static void test_hostile(void **state)
{
    (void)state;
    check("/2016-08-15/proxy/s/f/%zz", NB_ROUTE_BAD, NULL, NULL, NULL, NULL);
    check("/2016-08-15/proxy/s/f/%00", NB_ROUTE_BAD, NULL, NULL, NULL, NULL);
    /* an encoded slash cannot forge a separator inside a name */
    check("/2016-08-15/proxy/a%2Fb/f/", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/fn/s/f%2F../x", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/../../etc/passwd", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
}

static void test_api(void **state)
{
    (void)state;
    check("/api/v1/services/s/functions/f/invocations", NB_ROUTE_INVOKE, "s", NULL, "f", NULL);
    check("/2016-08-15/services/s.LATEST/functions/f/invocations", NB_ROUTE_INVOKE, "s", "LATEST",
          "f", NULL);
    check("/api/v1/services/s/functions/f/logs", NB_ROUTE_LOGS, "s", NULL, "f", NULL);
    check("/api/v1/services/s/functions/f", NB_ROUTE_MGMT, NULL, NULL, NULL, NULL);
    check("/api/v1/services", NB_ROUTE_MGMT, NULL, NULL, NULL, NULL);
    check("/2016-08-15/services/s/functions", NB_ROUTE_MGMT, NULL, NULL, NULL, NULL);
    check("/api/v1/services/s/functions/f/invocations/x", NB_ROUTE_MGMT, NULL, NULL, NULL, NULL);
    check("/healthz", NB_ROUTE_HEALTH, NULL, NULL, NULL, NULL);
    check("/metrics", NB_ROUTE_METRICS, NULL, NULL, NULL, NULL);

    struct nb_route r;
    nb_route_parse("/api/v1/services/a%20b", &r);
    assert_int_equal(r.kind, NB_ROUTE_MGMT);
    assert_string_equal(r.decoded, "/api/v1/services/a b");
    nb_route_release(&r);
}

/* Lambda's invoke path: FunctionName is one decoded segment, whatever it holds. */
static void test_lambda(void **state)
{
    (void)state;
    check("/2015-03-31/functions/hello/invocations", NB_ROUTE_LAMBDA, NULL, NULL, "hello", NULL);
    check("/2015-03-31/functions/svc%2Fhello/invocations", NB_ROUTE_LAMBDA, NULL, NULL, "svc/hello",
          NULL);
    check("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123%3Afunction%3Ahello%3A2/"
          "invocations",
          NB_ROUTE_LAMBDA, NULL, NULL, "arn:aws:lambda:us-east-1:123:function:hello:2", NULL);
    check("/2015-03-31/functions//invocations", NB_ROUTE_BAD, NULL, NULL, NULL, NULL);
    check("/2015-03-31/functions/a%zz/invocations", NB_ROUTE_BAD, NULL, NULL, NULL, NULL);
    check("/2015-03-31/functions/hello", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/2015-03-31/functions/hello/configuration", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
    check("/2015-03-31/functions/a/b/invocations", NB_ROUTE_NOT_FOUND, NULL, NULL, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy), cmocka_unit_test(test_short),  cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_api),   cmocka_unit_test(test_lambda),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
