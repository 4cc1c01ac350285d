/*
 * test_domain.c: the custom-domain route matcher (gateway/domain.c): exact
 * routes beat wildcards, the longest wildcard prefix wins, "/api/" "*"
 * takes "/api" too, "/" "*" catches the rest; route methods and qualifiers
 * are parsed; Host headers are normalised (port, case, trailing dot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/internal.h"

static struct nb_gw_domain *domain(const char *routes_json)
{
    json_error_t e;
    json_t *routes = json_loads(routes_json, 0, &e);
    assert_non_null(routes);
    json_t *doc = json_pack("{s:s, s:{s:o}}", "domainName", "api.example.com", "routeConfig",
                            "routes", routes);
    struct nb_gw_domain *d = nb_gw_domain_new("api.example.com", doc);
    json_decref(doc);
    return d;
}

/* The function of the route path matches ("" when none does). */
static const char *fn_of(const struct nb_gw_domain *d, const char *path)
{
    const struct nb_gw_droute *r = nb_gw_domain_match(d, path);
    return r ? r->function : "";
}

static void test_longest_prefix(void **state)
{
    (void)state;
    struct nb_gw_domain *d =
        domain("["
               "{\"path\":\"/api/*\",\"serviceName\":\"s\",\"functionName\":\"api\"},"
               "{\"path\":\"/*\",\"serviceName\":\"s\",\"functionName\":\"all\"},"
               "{\"path\":\"/api/v2/*\",\"serviceName\":\"s\",\"functionName\":\"v2\"},"
               "{\"path\":\"/login\",\"serviceName\":\"s\",\"functionName\":\"login\"},"
               "{\"path\":\"/api/v2/health\",\"serviceName\":\"s\",\"functionName\":\"h\"},"
               "{\"path\":\"/img*\",\"serviceName\":\"s\",\"functionName\":\"img\"}"
               "]");
    assert_int_equal(d->nroutes, 6);
    assert_string_equal(fn_of(d, "/api/users"), "api");
    assert_string_equal(fn_of(d, "/api/"), "api");
    assert_string_equal(fn_of(d, "/api"), "api");
    assert_string_equal(fn_of(d, "/apix"), "all");
    assert_string_equal(fn_of(d, "/api/v2"), "v2");
    assert_string_equal(fn_of(d, "/api/v2/x/y"), "v2");
    assert_string_equal(fn_of(d, "/api/v23"), "api");
    assert_string_equal(fn_of(d, "/api/v2/health"), "h"); /* exact beats a longer-looking prefix */
    assert_string_equal(fn_of(d, "/api/v2/health/x"), "v2"); /* exact is exact */
    assert_string_equal(fn_of(d, "/login"), "login");
    assert_string_equal(fn_of(d, "/login/"), "all");
    assert_string_equal(fn_of(d, "/"), "all");
    assert_string_equal(fn_of(d, "/imgs/a.png"), "img"); /* a star after no slash: byte prefix */
    assert_string_equal(fn_of(d, "/img"), "img");
    nb_gw_domain_free(d);
}

static void test_no_catch_all(void **state)
{
    (void)state;
    struct nb_gw_domain *d =
        domain("["
               "{\"path\":\"/a/*\",\"serviceName\":\"s\",\"functionName\":\"a\"},"
               "{\"path\":\"/b\",\"serviceName\":\"s\",\"functionName\":\"b\"}"
               "]");
    assert_null(nb_gw_domain_match(d, "/"));
    assert_null(nb_gw_domain_match(d, "/b/"));
    assert_null(nb_gw_domain_match(d, "/ab"));
    assert_null(nb_gw_domain_match(d, ""));
    assert_string_equal(fn_of(d, "/a"), "a");
    assert_string_equal(fn_of(d, "/b"), "b");
    nb_gw_domain_free(d);
    d = domain("[]");
    assert_null(nb_gw_domain_match(d, "/"));
    nb_gw_domain_free(d);
}

static void test_route_fields(void **state)
{
    (void)state;
    struct nb_gw_domain *d =
        domain("[{\"path\":\"/x\",\"serviceName\":\"s\",\"functionName\":\"f\","
               "\"qualifier\":\"prod\",\"methods\":[\"GET\",\"HEAD\"]},"
               "{\"path\":\"/y\",\"serviceName\":\"s\",\"functionName\":\"g\"},"
               "{\"path\":\"no-slash\",\"serviceName\":\"s\",\"functionName\":\"bad\"},"
               "{\"path\":\"/z\",\"functionName\":\"no-service\"}]");
    assert_int_equal(d->nroutes, 2); /* malformed stored routes are skipped */
    const struct nb_gw_droute *r = nb_gw_domain_match(d, "/x");
    assert_non_null(r);
    assert_string_equal(r->service, "s");
    assert_string_equal(r->qualifier, "prod");
    assert_int_equal(r->methods, NB_M_GET | NB_M_HEAD);
    r = nb_gw_domain_match(d, "/y");
    assert_string_equal(r->qualifier, "LATEST");
    assert_int_equal(r->methods, 0);
    nb_gw_domain_free(d);
}

static void test_host(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(nb_gw_domain_host("API.Example.com:9000", out, sizeof(out)), 0);
    assert_string_equal(out, "api.example.com");
    assert_int_equal(nb_gw_domain_host("api.example.com.", out, sizeof(out)), 0);
    assert_string_equal(out, "api.example.com");
    assert_int_equal(nb_gw_domain_host("api.example.com.:80", out, sizeof(out)), 0);
    assert_string_equal(out, "api.example.com");
    assert_int_equal(nb_gw_domain_host("[::1]:9000", out, sizeof(out)), -1);
    assert_int_equal(nb_gw_domain_host("", out, sizeof(out)), -1);
    assert_int_equal(nb_gw_domain_host(":80", out, sizeof(out)), -1);
    assert_int_equal(nb_gw_domain_host(NULL, out, sizeof(out)), -1);
    char small[4];
    assert_int_equal(nb_gw_domain_host("abcd", small, sizeof(small)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_no_catch_all),
        cmocka_unit_test(test_route_fields),
        cmocka_unit_test(test_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
