"""
Gateway policies (docs/security-gateway.md): per-function rate limits,
per-client-IP rate limits with trusted proxies, IP allow/deny lists (global,
per function, per trigger; IPv4 and IPv6) and CORS.  Each policy is shown
refusing and allowing.
"""
import http.client
import json
import os
import time

import pytest
import requests

from conftest import Daemon, assert_request_id, fixture_files, unique

SVC = unique("pol")


def put_trigger(nubis, svc, fn, config, name="http"):
    body = {"triggerName": name, "triggerType": "http", "triggerConfig": config}
    return nubis.api("PUT", "/api/v1/services/%s/functions/%s/triggers/%s" % (svc, fn, name),
                     json_body=body)


def put_function(nubis, svc, fn, **fields):
    return nubis.api("PUT", "/api/v1/services/%s/functions/%s" % (svc, fn), json_body=fields)


@pytest.fixture(scope="module")
def fns(nubis):
    files = fixture_files("httpfn")
    nubis.deploy(SVC, "limited", files, rateLimit={"qps": 2, "burst": 2})
    nubis.deploy(SVC, "free", files)
    nubis.deploy(SVC, "acl", files)
    nubis.deploy(SVC, "cors", files)
    return SVC


def url(svc, fn, rest="/"):
    return "/2016-08-15/proxy/%s/%s%s" % (svc, fn, rest)


def test_function_rate_limit(nubis, fns):
    assert nubis.get(url(fns, "limited")).status_code == 200  # warm
    time.sleep(1.1)  # full bucket again
    codes = [nubis.get(url(fns, "limited")).status_code for _ in range(2)]
    assert codes == [200, 200], codes
    r = nubis.get(url(fns, "limited"))
    assert r.status_code == 429, r.text
    assert r.json()["ErrorCode"] == "ResourceThrottled"
    assert "limited" in r.json()["ErrorMessage"]
    assert int(r.headers["Retry-After"]) >= 1
    assert_request_id(r)
    # the invoke API shares the function's bucket
    r = nubis.invoke(fns, "limited", b"{}")
    assert r.status_code == 429, r.text
    # other functions are not affected
    assert nubis.get(url(fns, "free")).status_code == 200
    # tokens come back at qps
    time.sleep(0.6)
    assert nubis.get(url(fns, "limited")).status_code == 200


def test_rate_limit_removed(nubis, fns):
    files = fixture_files("httpfn")
    nubis.deploy(fns, "relimit", files, rateLimit={"qps": 1, "burst": 1})
    nubis.get(url(fns, "relimit"))
    assert nubis.get(url(fns, "relimit")).status_code == 429
    r = put_function(nubis, fns, "relimit", rateLimit=None)
    assert r.status_code == 200, r.text
    assert "rateLimit" not in r.json()
    assert [nubis.get(url(fns, "relimit")).status_code for _ in range(3)] == [200] * 3


def one_connection(d):
    return http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)


def status_on(conn, path, headers=None):
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    r.read()
    return r.status


def test_refused_client_waits_longer_each_time(nubis, fns):
    """A client that keeps sending on a connection after a 429 has its next
    request read after 1 ms, then 2, 4, ... (docs/security-gateway.md), while
    other clients are answered at once."""
    nubis.deploy(fns, "hold", fixture_files("httpfn"), rateLimit={"qps": 1, "burst": 1})
    path = url(fns, "hold")
    flood, other = one_connection(nubis), one_connection(nubis)
    try:
        assert status_on(other, url(fns, "free")) == 200  # warm
        time.sleep(1.1)  # full bucket
        assert status_on(flood, path) == 200
        t0 = time.monotonic()
        codes = [status_on(flood, path) for _ in range(9)]
        held = time.monotonic() - t0
        assert codes == [429] * 9, codes
        assert held >= 0.255, held  # 1 + 2 + ... + 128 ms between the nine refusals
        # the flooding connection now waits 256 ms; another client does not
        t0 = time.monotonic()
        assert status_on(other, url(fns, "free")) == 200
        assert status_on(other, path) == 429
        assert status_on(other, url(fns, "free")) == 200  # its own first hold: 1 ms
        assert time.monotonic() - t0 < 0.2
        # a request that passes starts the count again
        time.sleep(1.1)
        assert status_on(flood, path) == 200
        t0 = time.monotonic()
        assert status_on(flood, path) == 429
        assert status_on(flood, url(fns, "free")) == 200
        assert time.monotonic() - t0 < 0.2
    finally:
        flood.close()
        other.close()


@pytest.mark.parametrize("field,value", [
    ("rateLimit", {"qps": 0}),
    ("rateLimit", {"qps": "10"}),
    ("rateLimit", {"qps": 5, "burst": 0}),
    ("rateLimit", {"qps": 5, "brust": 10}),
    ("ipAcl", {"allow": ["10.0.0.0/33"]}),
    ("ipAcl", {"deny": ["not-an-ip"]}),
    ("ipAcl", ["10.0.0.0/8"]),
])
def test_bad_function_policy_is_400(nubis, fns, field, value):
    r = put_function(nubis, fns, "free", **{field: value})
    assert r.status_code == 400, r.text
    assert field in r.json()["ErrorMessage"]
    # nothing changed
    assert nubis.get(url(fns, "free")).status_code == 200


@pytest.mark.parametrize("config", [
    {"cors": {"allowOrigins": []}},
    {"cors": {"allowOrigins": ["ftp://x"]}},
    {"cors": {"allowOrigins": ["*"], "maxAge": -1}},
    {"cors": {"allowOrigins": ["*"], "allowHeaders": ["a b"]}},
    {"ipAcl": {"allow": ["::1/129"]}},
])
def test_bad_trigger_policy_is_400(nubis, fns, config):
    config = dict(config, authType="anonymous", methods=["GET"])
    r = put_trigger(nubis, fns, "free", config)
    assert r.status_code == 400, r.text
    assert nubis.get(url(fns, "free")).status_code == 200


def test_function_ip_acl(nubis, fns):
    r = put_function(nubis, fns, "acl", ipAcl={"deny": ["127.0.0.0/8"]})
    assert r.status_code == 200, r.text
    r = nubis.get(url(fns, "acl"))
    assert r.status_code == 403, r.text
    assert r.json()["ErrorCode"] == "AccessDenied"
    assert "127.0.0.1" in r.json()["ErrorMessage"]
    assert nubis.invoke(fns, "acl", b"{}").status_code == 403
    # allow list: loopback in, the rest out
    assert put_function(nubis, fns, "acl", ipAcl={"allow": ["127.0.0.1/32"]}).status_code == 200
    assert nubis.get(url(fns, "acl")).status_code == 200
    assert put_function(nubis, fns, "acl", ipAcl={"allow": ["10.0.0.0/8", "2001:db8::/32"]}).status_code == 200
    assert nubis.get(url(fns, "acl")).status_code == 403
    assert put_function(nubis, fns, "acl", ipAcl=None).status_code == 200
    assert nubis.get(url(fns, "acl")).status_code == 200


def test_trigger_ip_acl(nubis, fns):
    r = put_trigger(nubis, fns, "acl", {"authType": "anonymous", "methods": ["GET"],
                                        "ipAcl": {"allow": ["192.0.2.0/24"]}})
    assert r.status_code == 200, r.text
    assert r.json()["triggerConfig"]["ipAcl"] == {"allow": ["192.0.2.0/24"]}
    r = nubis.get(url(fns, "acl"))
    assert r.status_code == 403, r.text
    assert "trigger" in r.json()["ErrorMessage"]
    # the invoke API does not go through the trigger
    assert nubis.invoke(fns, "acl", b"{}").status_code == 200
    r = put_trigger(nubis, fns, "acl", {"authType": "anonymous", "methods": ["GET"],
                                        "ipAcl": {"allow": ["127.0.0.1"], "deny": ["10.0.0.1"]}})
    assert r.status_code == 200, r.text
    assert nubis.get(url(fns, "acl")).status_code == 200


def hits(nubis, svc, fn):
    return nubis.get(url(svc, fn, "/pid")).json()["hits"]


def test_cors(nubis, fns):
    cors = {"allowOrigins": ["https://app.example"], "allowHeaders": ["X-Token", "Content-Type"],
            "exposeHeaders": ["X-Fc-Request-Id"], "allowCredentials": True, "maxAge": 600}
    r = put_trigger(nubis, fns, "cors", {"authType": "anonymous", "methods": ["GET", "POST"],
                                         "cors": cors})
    assert r.status_code == 200, r.text
    before = hits(nubis, fns, "cors")
    # preflight: answered by the gateway, the function is not invoked
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "x-token"}
    r = nubis.session.options(nubis.url + url(fns, "cors", "/x"), headers=pre, timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert r.headers["Access-Control-Allow-Headers"] == "X-Token, Content-Type"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Max-Age"] == "600"
    # a foreign origin's preflight is refused
    r = nubis.session.options(nubis.url + url(fns, "cors", "/x"),
                              headers=dict(pre, Origin="https://evil.example"), timeout=30)
    assert r.status_code == 403, r.text
    assert "evil.example" in r.json()["ErrorMessage"]
    assert "Access-Control-Allow-Origin" not in r.headers
    assert hits(nubis, fns, "cors") == before + 1  # only the /pid call itself
    # actual requests carry the headers for allowed origins only
    r = nubis.get(url(fns, "cors"), headers={"Origin": "https://app.example"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Expose-Headers"] == "X-Fc-Request-Id"
    assert "Origin" in r.headers["Vary"]
    r = nubis.get(url(fns, "cors"), headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_wildcard_and_off(nubis, fns):
    r = put_trigger(nubis, fns, "cors", {"authType": "anonymous", "methods": ["GET"],
                                         "cors": {"allowOrigins": ["*"]}})
    assert r.status_code == 200, r.text
    r = nubis.get(url(fns, "cors"), headers={"Origin": "https://any.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    pre = {"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
    r = nubis.session.options(nubis.url + url(fns, "cors"), headers=pre, timeout=30)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Methods"] == "GET"
    assert "Access-Control-Max-Age" not in r.headers
    # without CORS an OPTIONS is an ordinary request (here: a method the trigger refuses)
    r = put_trigger(nubis, fns, "cors", {"authType": "anonymous", "methods": ["GET"]})
    assert r.status_code == 200
    r = nubis.session.options(nubis.url + url(fns, "cors"), headers=pre, timeout=30)
    assert r.status_code == 405
    r = nubis.get(url(fns, "cors"), headers={"Origin": "https://any.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


# ---------------------------------------------------------------- global policy

def start_with_policy(tmp_path, policy, listen=None):
    d = Daemon(tmp_path)
    with open(os.path.join(d.data_dir, "policy.json"), "w") as f:
        json.dump(policy, f)
    return d.start() if listen is None else start_on(d, listen)


def start_on(d, host):
    """Starts d listening on host (an IPv6 address), like Daemon.start does for 127.0.0.1."""
    import subprocess
    from conftest import NUBIS_BIN, free_port, read_env_file
    d.port = free_port()
    d.url = "http://[%s]:%d" % (host, d.port)
    d._err = open(d.stderr_path, "ab")
    env = dict(os.environ, NUBIS_DATA_DIR=d.data_dir)
    d.proc = subprocess.Popen([NUBIS_BIN, "serve", "--listen", "[%s]:%d" % (host, d.port),
                               "--data-dir", d.data_dir], stdin=subprocess.DEVNULL,
                              stdout=d._err, stderr=d._err, env=env, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert d.proc.poll() is None, d.stderr_tail()
        try:
            if requests.get(d.url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.05)
    creds = read_env_file(os.path.join(d.data_dir, "credentials"))
    d.key_id, d.secret = creds["NUBIS_ACCESS_KEY_ID"], creds["NUBIS_ACCESS_KEY_SECRET"]
    return d


def test_global_policy_trusted_proxy(tmp_path):
    policy = {"trustedProxies": ["127.0.0.1/32"],
              "rateLimit": {"perIp": {"qps": 1, "burst": 2}},
              "ipAcl": {"deny": ["192.0.2.0/24"]}}
    d = start_with_policy(tmp_path, policy)
    try:
        d.deploy("g", "f", fixture_files("httpfn"))
        u = url("g", "f")
        # a denied client behind our proxy
        r = d.get(u, headers={"X-Forwarded-For": "192.0.2.7"})
        assert r.status_code == 403, r.text
        assert "192.0.2.7" in r.json()["ErrorMessage"]
        # management is behind the global list too
        r = d.api("GET", "/api/v1/services", headers={"X-Forwarded-For": "192.0.2.7"})
        assert r.status_code == 403
        # per client: 2 (burst), then refused; another client has its own bucket
        a = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
        codes = [d.get(u, headers=a).status_code for _ in range(3)]
        assert codes == [200, 200, 429], codes
        r = d.get(u, headers=a)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert "198.51.100.1" in r.json()["ErrorMessage"]
        b = d.get(u, headers={"X-Forwarded-For": "198.51.100.2"})
        assert b.status_code == 200
        assert b.json()["clientIP"] == "198.51.100.2"  # the function sees the real client
        # a proxy's connection carries other clients: refusals on it are not held
        conn = one_connection(d)
        try:
            t0 = time.monotonic()
            codes = [status_on(conn, u, a) for _ in range(9)]
            assert codes == [429] * 9, codes
            assert time.monotonic() - t0 < 0.2  # held, it would take 255 ms
        finally:
            conn.close()
        # healthz is never limited
        assert all(d.get("/healthz").status_code == 200 for _ in range(5))
    finally:
        rc = d.stop()
    d.check_clean_exit(rc)


def test_untrusted_peer_cannot_forge_forwarded_for(tmp_path):
    policy = {"trustedProxies": ["10.0.0.1"], "ipAcl": {"deny": ["127.0.0.1"]}}
    d = start_with_policy(tmp_path, policy)
    try:
        r = d.get("/2016-08-15/proxy/x/y/", headers={"X-Forwarded-For": "198.51.100.1"})
        assert r.status_code == 403, r.text  # the peer (127.0.0.1) counts, not the header
        assert d.get("/healthz").status_code == 200
    finally:
        rc = d.stop()
    d.check_clean_exit(rc)


def test_bad_policy_file_fails_start(tmp_path):
    d = Daemon(tmp_path)
    with open(os.path.join(d.data_dir, "policy.json"), "w") as f:
        json.dump({"ipAcl": {"allow": ["300.1.1.1"]}}, f)
    import subprocess
    from conftest import NUBIS_BIN
    r = subprocess.run([NUBIS_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", d.data_dir],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "policy.json" in r.stderr and "300.1.1.1" in r.stderr


def test_ipv6_acl(tmp_path):
    policy = {"ipAcl": {"allow": ["::1/128"]}}
    d = start_with_policy(tmp_path, policy, listen="::1")
    try:
        d.deploy("v6", "f", fixture_files("httpfn"))
        r = d.get(url("v6", "f"))
        assert r.status_code == 200, r.text
        assert r.json()["clientIP"] == "::1"
        r = put_function(d, "v6", "f", ipAcl={"deny": ["::1"]})
        assert r.status_code == 200, r.text
        r = d.get(url("v6", "f"))
        assert r.status_code == 403, r.text
        assert "::1" in r.json()["ErrorMessage"]
        assert put_function(d, "v6", "f", ipAcl={"allow": ["::/0"], "deny": ["fe80::/10"]}).status_code == 200
        assert d.get(url("v6", "f")).status_code == 200
    finally:
        rc = d.stop()
    d.check_clean_exit(rc)
