"""
Custom domains (FC's model): a request whose Host header names a domain is
routed by the domain's routes (exact path first, then the longest wildcard
prefix) to an HTTP-triggered function, which sees the full path; other hosts
get the normal routes.  Management through /api/v1/custom-domains (and FC's
/2016-08-15/custom-domains) and `nubis domain`.
"""
import json

import pytest

from conftest import Daemon, assert_request_id, unique

SVC = unique("dom")
DOMAIN = "api.%s.example.com" % SVC.replace("_", "-")


def code(tag):
    return {"index.js": (
        "exports.handler = (req, resp, ctx) => {\n"
        "  resp.setHeader('Content-Type', 'application/json');\n"
        "  resp.send(JSON.stringify({fn: '%s', path: req.path, url: req.url,\n"
        "                            queries: req.queries, method: req.method}));\n"
        "};\n" % tag)}


def route(path, fn, svc=SVC, **kw):
    r = {"path": path, "serviceName": svc, "functionName": fn}
    r.update(kw)
    return r


def put_domain(nubis, name, routes, prefix="/api/v1"):
    r = nubis.api("PUT", "%s/custom-domains/%s" % (prefix, name),
                  json_body={"domainName": name, "protocol": "HTTP",
                             "routeConfig": {"routes": routes}})
    assert r.status_code in (200, 201), "put domain: %s %s" % (r.status_code, r.text)
    return r.json()


def via(nubis, host, path, method="GET", **kw):
    headers = dict(kw.pop("headers", {}))
    headers["Host"] = host
    return nubis.session.request(method, nubis.url + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def fns(nubis):
    for fn in ("api", "v2", "web", "login"):
        nubis.deploy(SVC, fn, code(fn), methods=("GET", "POST", "PUT"))
    r = nubis.api("POST", "/api/v1/custom-domains", json_body={
        "domainName": DOMAIN, "protocol": "HTTP", "routeConfig": {"routes": [
            route("/api/*", "api"),
            route("/api/v2/*", "v2"),
            route("/login", "login"),
            route("/*", "web"),
        ]}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["domainName"] == DOMAIN
    assert body["createdTime"] and body["lastModifiedTime"]
    assert [x["path"] for x in body["routeConfig"]["routes"]] == ["/api/*", "/api/v2/*", "/login", "/*"]
    yield
    nubis.api("DELETE", "/api/v1/custom-domains/%s" % DOMAIN)


def test_longest_prefix_routes_and_full_path(nubis, fns):
    cases = [
        ("/api/users/7", "api", "/api/users/7"),
        ("/api", "api", "/api"),
        ("/api/", "api", "/api/"),
        ("/api/v2/orders", "v2", "/api/v2/orders"),
        ("/api/v2", "v2", "/api/v2"),
        ("/api/v23", "api", "/api/v23"),  # "/api/v2/*" is a prefix of segments, not of bytes
        ("/apix", "web", "/apix"),
        ("/login", "login", "/login"),
        ("/login/", "web", "/login/"),   # exact routes match only themselves
        ("/", "web", "/"),
        ("/some/deep/page.html", "web", "/some/deep/page.html"),
        ("/api/a%20b", "api", "/api/a b"),
    ]
    for path, fn, seen in cases:
        r = via(nubis, DOMAIN, path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert_request_id(r)
        got = r.json()
        assert (got["fn"], got["path"]) == (fn, seen), (path, got)


def test_host_is_case_insensitive_and_port_is_ignored(nubis, fns):
    r = via(nubis, DOMAIN.upper() + ":%d" % nubis.port, "/api/x?a=1&b=two")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fn"] == "api" and got["path"] == "/api/x"
    assert got["queries"] == {"a": "1", "b": "two"}
    assert got["url"].startswith("/api/x?a=1")
    r = via(nubis, DOMAIN + ".", "/login")  # the absolute form of the name
    assert r.json()["fn"] == "login"


def test_methods_and_body_go_through(nubis, fns):
    r = via(nubis, DOMAIN, "/api/items", method="POST", data=b"payload")
    assert r.status_code == 200 and r.json()["method"] == "POST"
    # the trigger allows GET, POST, PUT only
    r = via(nubis, DOMAIN, "/api/items", method="DELETE")
    assert r.status_code == 405, r.text


def test_unmatched_path_on_known_domain_is_404(nubis, fns):
    name = "only-api." + DOMAIN
    put_domain(nubis, name, [route("/api/*", "api")])
    r = via(nubis, name, "/nope")
    assert r.status_code == 404, r.text
    assert_request_id(r)
    body = r.json()
    assert body["ErrorCode"] == "RouteNotFound"
    assert name in body["ErrorMessage"] and "/nope" in body["ErrorMessage"]
    # the platform's own paths are the domain's paths too: not routed
    assert via(nubis, name, "/2016-08-15/proxy/%s/api/" % SVC).status_code == 404
    assert via(nubis, name, "/api/ok").json()["fn"] == "api"
    nubis.api("DELETE", "/api/v1/custom-domains/%s" % name)


def test_unknown_host_falls_through_to_normal_routes(nubis, fns):
    for host in ("other.example.com", "127.0.0.1:%d" % nubis.port, "localhost", None):
        headers = {} if host is None else {"Host": host}
        r = nubis.get("/2016-08-15/proxy/%s/api/x/y" % SVC, headers=headers)
        assert r.status_code == 200, (host, r.text)
        assert r.json() == {"fn": "api", "path": "/x/y", "url": "/2016-08-15/proxy/%s/api/x/y" % SVC,
                            "queries": {}, "method": "GET"}
        assert nubis.get("/healthz", headers=headers).status_code == 200
    r = nubis.get("/api/users", headers={"Host": "other.example.com"})
    assert r.status_code == 404 and r.json()["ErrorCode"] == "PathNotSupported"


def test_update_and_delete_take_effect_at_once(nubis, fns):
    name = "moving." + DOMAIN
    put_domain(nubis, name, [route("/*", "web")])
    assert via(nubis, name, "/a").json()["fn"] == "web"
    put_domain(nubis, name, [route("/*", "login"), route("/a/*", "api")])
    assert via(nubis, name, "/a/b").json()["fn"] == "api"
    assert via(nubis, name, "/b").json()["fn"] == "login"
    # FC's update path (PUT only updates there)
    r = nubis.api("PUT", "/2016-08-15/custom-domains/%s" % name,
                  json_body={"routeConfig": {"routes": [route("/b", "v2")]}})
    assert r.status_code == 200, r.text
    assert via(nubis, name, "/b").json()["fn"] == "v2"
    assert via(nubis, name, "/a/b").status_code == 404
    r = nubis.api("DELETE", "/api/v1/custom-domains/%s" % name)
    assert r.status_code == 204, r.text
    r = via(nubis, name, "/b")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "PathNotSupported"  # normal routes
    assert nubis.api("GET", "/api/v1/custom-domains/%s" % name).status_code == 404
    assert nubis.api("DELETE", "/api/v1/custom-domains/%s" % name).status_code == 404


def test_qualifier_route_runs_the_published_version(nubis):
    svc = unique("domq")
    nubis.deploy(svc, "f", code("one"))
    r = nubis.api("POST", "/api/v1/services/%s/versions" % svc, json_body={"description": "v1"})
    assert r.status_code == 200, r.text
    v1 = str(r.json()["versionId"])
    nubis.deploy(svc, "f", code("two"))
    name = "versions." + DOMAIN
    put_domain(nubis, name, [route("/stable/*", "f", svc=svc, qualifier=v1),
                             route("/*", "f", svc=svc)])
    assert via(nubis, name, "/stable/x").json()["fn"] == "one"
    assert via(nubis, name, "/x").json()["fn"] == "two"
    put_domain(nubis, name, [route("/*", "f", svc=svc, qualifier="nosuchalias")])
    r = via(nubis, name, "/x")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "AliasNotFound", r.text
    nubis.api("DELETE", "/api/v1/custom-domains/%s" % name)


def test_route_methods_and_trigger_policies_apply(nubis, fns):
    svc = unique("domp")
    nubis.deploy(svc, "signed", code("signed"), auth="function")
    nubis.deploy(svc, "open", code("open"))
    name = "policy." + DOMAIN
    put_domain(nubis, name, [route("/s/*", "signed", svc=svc),
                             route("/ro/*", "open", svc=svc, methods=["GET"]),
                             route("/missing/*", "nosuchfn", svc=svc)])
    r = via(nubis, name, "/s/x")
    assert r.status_code == 401, r.text  # authType function: unsigned is refused
    h = nubis.signed_headers("GET", "/s/x")
    r = via(nubis, name, "/s/x", headers=h)
    assert r.status_code == 200 and r.json()["fn"] == "signed", r.text
    assert via(nubis, name, "/ro/x").status_code == 200
    r = via(nubis, name, "/ro/x", method="POST")
    assert r.status_code == 405 and "route" in r.json()["ErrorMessage"], r.text
    r = via(nubis, name, "/missing/x")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "FunctionNotFound", r.text
    nubis.api("DELETE", "/api/v1/custom-domains/%s" % name)


BAD = [
    ({"domainName": "127.0.0.1"}, "domainName"),
    ({"domainName": "localhost"}, "domainName"),
    ({"domainName": "bad_host.example.com"}, "domainName"),
    ({"domainName": "-a.example.com"}, "domainName"),
    ({"domainName": 7}, "domainName"),
    ({}, "domainName"),
    ({"protocol": "HTTPS"}, "protocol"),
    ({"routeConfig": {"routes": [route("api/*", "api")]}}, "routes[0].path"),
    ({"routeConfig": {"routes": [route("/a*b", "api")]}}, "routes[0].path"),
    ({"routeConfig": {"routes": [route("/x", "api"), route("/a**", "api")]}}, "routes[1].path"),
    ({"routeConfig": {"routes": [route("/a?b=1", "api")]}}, "routes[0].path"),
    ({"routeConfig": {"routes": [route("/a", "api", svc="1bad")]}}, "routes[0].serviceName"),
    ({"routeConfig": {"routes": [{"path": "/a", "serviceName": SVC}]}}, "routes[0].functionName"),
    ({"routeConfig": {"routes": [route("/a", "api", qualifier="bad qualifier")]}}, "routes[0].qualifier"),
    ({"routeConfig": {"routes": [route("/a", "api", methods=["FETCH"])]}}, "routes[0].methods[0]"),
    ({"routeConfig": {"routes": [route("/a", "api"), route("/a", "web")]}}, "routes[1].path"),
    ({"routeConfig": {"routes": "nope"}}, "routeConfig.routes"),
    ({"routeConfig": []}, "routeConfig"),
]


@pytest.mark.parametrize("override,field", BAD, ids=[f for _, f in BAD])
def test_bad_input_is_400_naming_the_field(nubis, override, field):
    name = "bad." + DOMAIN
    body = {"domainName": name, "protocol": "HTTP",
            "routeConfig": {"routes": [route("/*", "web")]}}
    body.update(override)
    if override == {}:
        body.pop("domainName")
    r = nubis.api("POST", "/api/v1/custom-domains", json_body=body)
    assert r.status_code == 400, r.text
    assert r.json()["ErrorCode"] == "InvalidArgument"
    assert field in r.json()["ErrorMessage"], r.text
    # nothing was created
    assert nubis.api("GET", "/api/v1/custom-domains/%s" % name).status_code == 404


def test_list_get_conflict_and_fc_paths(nubis, fns):
    r = nubis.api("GET", "/api/v1/custom-domains/%s" % DOMAIN.upper())
    assert r.status_code == 200 and r.json()["domainName"] == DOMAIN, r.text
    r = nubis.api("GET", "/2016-08-15/custom-domains")
    assert r.status_code == 200, r.text
    names = [d["domainName"] for d in r.json()["customDomains"]]
    assert DOMAIN in names
    r = nubis.api("POST", "/2016-08-15/custom-domains", json_body={
        "domainName": DOMAIN, "routeConfig": {"routes": [route("/*", "web")]}})
    assert r.status_code == 409 and r.json()["ErrorCode"] == "DomainNameAlreadyExists", r.text
    r = nubis.api("PUT", "/2016-08-15/custom-domains/nosuch.%s" % DOMAIN,
                  json_body={"routeConfig": {"routes": []}})
    assert r.status_code == 404 and r.json()["ErrorCode"] == "DomainNameNotFound", r.text
    r = nubis.api("GET", "/api/v1/custom-domains", query="limit=1")
    assert r.status_code == 200 and len(r.json()["customDomains"]) == 1


def test_scopes(nubis, fns):
    r = nubis.api("POST", "/api/v1/keys", json_body={"scope": "service:%s" % SVC})
    assert r.status_code == 201, r.text
    k = r.json()
    r = nubis.api("POST", "/api/v1/custom-domains", key_id=k["accessKeyId"],
                  secret=k["accessKeySecret"],
                  json_body={"domainName": "scoped." + DOMAIN,
                             "routeConfig": {"routes": [route("/*", "web")]}})
    assert r.status_code == 403 and r.json()["ErrorCode"] == "AccessDenied", r.text
    assert nubis.get("/api/v1/custom-domains").status_code == 401  # unsigned


def test_cli_domain(nubis, fns):
    name = "cli." + DOMAIN
    r = nubis.cli("domain", "add", name, "--route", "/api/*=%s/api" % SVC,
                  "--route", "/*=%s/web.LATEST" % SVC)
    assert r.returncode == 0, r.stderr
    assert name in r.stdout and "/api/*" in r.stdout
    assert via(nubis, name, "/api/q").json()["fn"] == "api"
    assert via(nubis, name, "/q").json()["fn"] == "web"
    r = nubis.cli("domain", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert name in [d["domainName"] for d in json.loads(r.stdout)["customDomains"]]
    r = nubis.cli("domain", "get", name)
    assert r.returncode == 0 and "%s/web" % SVC in r.stdout, r.stdout
    r = nubis.cli("domain", "set", name, "--route", "/*=%s/login" % SVC)
    assert r.returncode == 0, r.stderr
    assert via(nubis, name, "/api/q").json()["fn"] == "login"
    r = nubis.cli("domain", "add", name, "--route", "/*=%s/login" % SVC)
    assert r.returncode == 1 and "DomainNameAlreadyExists" in r.stderr, r.stderr
    r = nubis.cli("domain", "add", name, "--route", "nonsense")
    assert r.returncode == 2 and "--route" in r.stderr, r.stderr
    r = nubis.cli("domain", "rm", name)
    assert r.returncode == 0, r.stderr
    assert via(nubis, name, "/q").status_code == 404
    r = nubis.cli("domain", "rm", name)
    assert r.returncode == 1 and "DomainNameNotFound" in r.stderr
    assert nubis.cli("domain", "--help").returncode == 0


def test_domains_survive_restart(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        svc = unique("domr")
        d.deploy(svc, "f", code("kept"))
        put_domain(d, "restart.example.org", [route("/*", "f", svc=svc)])
        assert via(d, "restart.example.org", "/x").json()["fn"] == "kept"
        rc = d.stop()
        d.check_clean_exit(rc)
        d.start()
        r = via(d, "restart.example.org", "/x")
        assert r.status_code == 200 and r.json()["fn"] == "kept", r.text
    finally:
        d.check_clean_exit(d.stop())
