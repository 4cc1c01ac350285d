"""
Other vendors' handler styles, unchanged code (docs/runtimes.md): AWS Lambda
(Node async and callback, Python lambda_handler) with API Gateway HTTP API
v2 events over HTTP triggers and JSON over invoke; Google Cloud Functions
(req, res); OpenFaaS's node18 template; and FC's Node send(stream).  Each
over the HTTP trigger and the invoke API, with binary, 10 MB, repeated
headers / query keys, and each style's error shape.
"""
import http.client
import json
import os

import pytest

from conftest import fixture_files, unique

SVC = unique("styles")


@pytest.fixture(scope="module")
def svc(nubis):
    lam = fixture_files("lambdajs")
    m = ("GET", "POST", "PUT")
    nubis.deploy(SVC, "ljs", lam, handlerType="lambda", methods=m, timeout=30)
    nubis.deploy(SVC, "ljscb", lam, handler="index.cb", handlerType="lambda", http_trigger=False)
    nubis.deploy(SVC, "gcf", fixture_files("gcfjs"), handlerType="gcf", methods=m)
    nubis.deploy(SVC, "faas", fixture_files("faasjs"), handler="handler.handler",
                 handlerType="openfaas", methods=m)
    nubis.deploy(SVC, "fcstream", fixture_files("fcstream"))
    # no handlerType: an export named lambda_handler picks the Lambda style
    nubis.deploy(SVC, "lpy", fixture_files("pylambda"), runtime="python3.12",
                 handler="lambda_function.lambda_handler", methods=m, timeout=30)
    return SVC


def url(fn, rest=""):
    return "/2016-08-15/proxy/%s/%s%s" % (SVC, fn, rest)


def raw_request(nubis, method, path, headers, body=None):
    """A request with repeated headers (requests folds them)."""
    c = http.client.HTTPConnection("127.0.0.1", nubis.port, timeout=30)
    c.putrequest(method, path, skip_accept_encoding=True)
    for k, v in headers:
        c.putheader(k, v)
    if body is not None:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    out = (r.status, r.headers, data)
    c.close()
    return out


def invoke_json(nubis, fn, payload):
    r = nubis.invoke(SVC, fn, json.dumps(payload).encode(),
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r


# ---------------------------------------------------------------- Lambda

LAMBDAS = ["ljs", "lpy"]


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_http_v2_event(nubis, svc, fn):
    status, headers, data = raw_request(
        nubis, "POST", url(fn, "/event?a=1&a=2&b=x%20y"),
        [("Content-Type", "application/json"), ("X-Multi", "x"), ("X-Multi", "y"),
         ("Cookie", "k1=v1; k2=v2"), ("User-Agent", "ua-test")], b'{"in":true}')
    assert status == 200, data
    ev = json.loads(data)
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/event"
    assert ev["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert ev["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert ev["headers"]["x-multi"] == "x,y"
    assert ev["headers"]["content-type"] == "application/json"
    assert "cookie" not in ev["headers"]
    assert ev["cookies"] == ["k1=v1", "k2=v2"]
    rc = ev["requestContext"]
    assert rc["http"] == {"method": "POST", "path": "/event", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "ua-test"}
    assert rc["requestId"] == headers["X-Fc-Request-Id"]
    assert rc["stage"] == "$default" and isinstance(rc["timeEpoch"], int)
    assert ev["body"] == '{"in":true}' and ev["isBase64Encoded"] is False
    assert ev["pathParameters"] is None


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_http_result_mapping(nubis, svc, fn):
    r = nubis.get(url(fn, "/bare"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["hello"] == "world"
    r = nubis.get(url(fn, "/string"))
    assert r.status_code == 200 and r.text == '"just a string"'
    r = nubis.get(url(fn, "/cookies"))
    assert r.status_code == 202 and r.text == "with cookies"
    assert r.headers["Content-Type"] == "text/plain"
    assert [c.split(";")[0] for c in r.raw.headers.getlist("Set-Cookie")] == ["c1=v1", "c2=v2"]
    r = nubis.get(url(fn, "/nope"))
    assert r.status_code == 404 and r.text == "no route" + ("" if fn == "lpy" else " /nope")


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_http_binary_byte_exact(nubis, svc, fn):
    payload = os.urandom(1 << 20) + b"\0\xff"
    r = nubis.post(url(fn, "/binary"), data=payload,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:300]
    assert r.content == payload


def test_lambda_http_large_body_10mb(nubis, svc):
    payload = os.urandom(10 << 20)
    r = nubis.session.put(nubis.url + url("ljs", "/binary"), data=payload, timeout=60,
                          headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-in-base64"] == "true"
    assert r.content == payload


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_http_error(nubis, svc, fn):
    r = nubis.get(url(fn, "/error"))
    assert r.status_code == 502
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    body = r.json()
    if fn == "ljs":
        assert body["errorType"] == "RangeError"
        assert body["errorMessage"] == "lambda http failure"
        assert body["trace"][0] == "RangeError: lambda http failure"
        assert any("index.js" in t for t in body["trace"])
    else:
        assert body["errorType"] == "LookupError"
        assert body["errorMessage"] == "lambda python http failure"
        assert any("lambda_function.py" in t for t in body["stackTrace"])
        assert body["requestId"] == r.headers["X-Fc-Request-Id"]


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_invoke_json(nubis, svc, fn):
    r = invoke_json(nubis, fn, {"a": [1, 2], "s": "x"})
    assert "X-Fc-Error-Type" not in r.headers, r.text
    out = r.json()
    assert out["event"] == {"a": [1, 2], "s": "x"}
    assert out["requestId"] == r.headers["X-Fc-Request-Id"]
    assert out["functionName"] == fn
    assert out["functionVersion"] == "$LATEST"
    mem = out.get("memoryLimitInMB", out.get("memory"))
    assert str(mem) == "128"
    arn = out.get("invokedFunctionArn", out.get("arn"))
    assert arn.startswith("arn:aws:lambda:") and arn.endswith(":function:" + fn)
    assert out.get("logGroupName", out.get("group")) == "/aws/lambda/" + fn
    assert 0 < out["remaining"] <= 30000
    env = out["env"]
    assert list(env.values()) == [fn, "$LATEST", "128"]
    # a scalar payload and an empty one
    r = nubis.invoke(SVC, fn, b'"str"')
    assert r.json()["event"] == "str"
    r = nubis.invoke(SVC, fn, b"")
    assert r.json()["event"] == {}


@pytest.mark.parametrize("fn", LAMBDAS)
def test_lambda_invoke_error(nubis, svc, fn):
    r = invoke_json(nubis, fn, {"fail": True})
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    body = r.json()
    if fn == "ljs":
        assert body["errorType"] == "TypeError"
        assert body["errorMessage"] == "lambda async failure"
        assert isinstance(body["trace"], list) and body["trace"]
    else:
        assert body["errorType"] == "ZeroDivisionError"
        assert body["errorMessage"] == "lambda python failure"
        assert isinstance(body["stackTrace"], list)


def test_lambda_callback_style(nubis, svc):
    r = invoke_json(nubis, "ljscb", {"x": 1})
    assert r.json() == {"cb": {"x": 1}}
    r = invoke_json(nubis, "ljscb", {"legacy": 1})
    assert r.json() == {"legacy": True}
    r = invoke_json(nubis, "ljscb", {"fail": 1})
    assert r.headers.get("X-Fc-Error-Type") == "HandledInvocationError"
    body = r.json()
    assert body["errorType"] == "Error" and body["errorMessage"] == "callback failure"
    assert "trace" in body


# ------------------------------------------------------------------- GCF

def test_gcf_http_basic_and_query(nubis, svc):
    r = nubis.get(url("gcf", "/?name=Ann"))
    assert r.status_code == 200
    assert r.text == "Hello from GCF Ann"
    assert r.headers["Content-Type"].startswith("text/html")
    status, _, data = raw_request(nubis, "GET", url("gcf", "/echo?t=1&t=2&u=v"),
                                  [("X-Multi", "a"), ("X-Multi", "b")])
    got = json.loads(data)
    assert got["query"] == {"t": ["1", "2"], "u": "v"}
    assert got["method"] == "GET" and got["path"] == "/echo"
    assert got["url"] == "/echo?t=1&t=2&u=v"
    assert got["multi"] == "a, b"


def test_gcf_body_parsing(nubis, svc):
    r = nubis.post(url("gcf", "/echo"), json={"k": [1, "two"]})
    got = r.json()
    assert got["body"] == {"k": [1, "two"]} and got["isJson"] == "json"
    assert got["rawLen"] == len(json.dumps({"k": [1, "two"]}))
    r = nubis.post(url("gcf", "/echo"), data={"a": ["1", "2"], "b": "c d"})
    assert r.json()["body"] == {"a": ["1", "2"], "b": "c d"}
    r = nubis.post(url("gcf", "/echo"), data="some text", headers={"Content-Type": "text/plain"})
    assert r.json()["body"] == "some text"
    r = nubis.post(url("gcf", "/echo"), data=b"\x00\x01", headers={"Content-Type": "image/png"})
    assert r.json()["body"] == {"buffer": 2}
    r = nubis.post(url("gcf", "/echo"), data="{bad", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_gcf_binary_and_10mb(nubis, svc):
    for size in (1 << 16, 10 << 20):
        payload = os.urandom(size)
        r = nubis.session.post(nubis.url + url("gcf", "/raw"), data=payload, timeout=60,
                               headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.content == payload


def test_gcf_response_api(nubis, svc):
    r = nubis.get(url("gcf", "/teapot"))
    assert r.status_code == 418 and r.text == "teapot"
    assert r.headers["X-A"] == "1" and r.headers["X-B"] == "2"
    r = nubis.get(url("gcf", "/status"))
    assert r.status_code == 204
    r = nubis.get(url("gcf", "/stream"))
    assert r.status_code == 200 and r.text == "alpha-beta-gamma"
    assert r.headers["Content-Type"].startswith("text/plain")
    r = nubis.get(url("gcf", "/write"))
    assert r.status_code == 201 and r.text == "part1,part2,end"
    r = nubis.get(url("gcf", "/cookie"))
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert cookies[0].startswith("s=v;") and "HttpOnly" in cookies[0] and cookies[1] == "t=w"
    r = nubis.get(url("gcf", "/redirect"), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/elsewhere"


def test_gcf_errors(nubis, svc):
    r = nubis.get(url("gcf", "/throw"))
    assert r.status_code == 502
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    assert r.json()["errorType"] == "SyntaxError"
    assert r.json()["errorMessage"] == "gcf failure"
    r = nubis.get(url("gcf", "/reject"))
    assert r.status_code == 502 and r.json()["errorMessage"] == "gcf rejected"
    assert nubis.get(url("gcf", "/")).status_code == 200


def test_gcf_invoke(nubis, svc):
    # the invoke API becomes POST / with the payload: JSON parsed
    r = nubis.invoke(SVC, "gcf", b'{"name":"x"}')
    assert r.status_code == 200
    assert "X-Fc-Error-Type" not in r.headers
    assert r.text == "Hello from GCF anon"


# -------------------------------------------------------------- OpenFaaS

def test_openfaas_http(nubis, svc):
    status, _, data = raw_request(nubis, "POST", url("faas", "/any?q=1&q=2"),
                                  [("Content-Type", "application/json"), ("X-Multi", "a"),
                                   ("X-Multi", "b")], b'{"x": 5}')
    assert status == 200
    got = json.loads(data)
    assert got == {"body": {"x": 5}, "method": "POST", "query": {"q": ["1", "2"]},
                   "path": "/any", "multi": ["a", "b"]}
    r = nubis.get(url("faas", "/status"))
    assert r.status_code == 201
    assert r.headers["X-Faas"] == "yes" and r.headers["Content-Type"] == "application/json"
    assert r.json() == {"ok": True, "method": "GET"}
    r = nubis.post(url("faas", "/any"), data="hello", headers={"Content-Type": "text/plain"})
    assert r.json()["body"] == "hello"
    r = nubis.get(url("faas", "/text"))
    assert r.text == "plain text"


def test_openfaas_binary(nubis, svc):
    payload = os.urandom(300000)
    r = nubis.post(url("faas", "/binary"), data=payload,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.content == payload


def test_openfaas_errors(nubis, svc):
    r = nubis.get(url("faas", "/fail"))
    assert r.status_code == 500 and r.text == "Error: faas failure"
    r = nubis.get(url("faas", "/throw"))
    assert r.status_code == 500 and r.text == "Error: faas thrown"
    r = nubis.invoke(SVC, "faas", b"")
    assert r.status_code == 200
    r = invoke_json(nubis, "faas", {"k": 1})
    assert r.json()["body"] == {"k": 1}


# ----------------------------------------------------------- FC streams

def test_fc_node_send_stream(nubis, svc):
    r = nubis.get(url("fcstream", "/?n=40&size=65536"))
    assert r.status_code == 200
    expect = b"".join(bytes([65 + i % 26]) * 65536 for i in range(40))
    assert r.content == expect


def test_bad_handler_type_rejected(nubis, svc):
    r = nubis.api("PUT", "/api/v1/services/%s/functions/ljs" % SVC,
                  json_body={"handlerType": "lambada"})
    assert r.status_code == 400, r.text
    assert "handlerType" in r.text


# -------------------------------------------------------- init templates

TEMPLATES = [("nodejs20", "fc"), ("nodejs20", "lambda"), ("nodejs20", "gcf"),
             ("nodejs20", "openfaas"), ("python3", "fc"), ("python3", "lambda"),
             ("custom", None)]


@pytest.mark.parametrize("runtime,style", TEMPLATES)
def test_init_template_deploys_and_answers(nubis, tmp_path, runtime, style):
    d = tmp_path / unique("t%s%s" % (runtime[:2], style or ""))
    args = ["init", str(d), "--runtime", runtime] + (["--style", style] if style else [])
    r = nubis.cli(*args)
    assert r.returncode == 0, r.stderr
    r = nubis.cli("deploy", str(d), timeout=120)
    assert r.returncode == 0, r.stderr
    svc = d.name
    r = nubis.get("/fn/%s/hello/?name=Tmpl" % svc)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Hello, Tmpl!"}
    if style == "fc":
        return  # FC HTTP handlers take HTTP requests only, as on FC
    # the other styles answer the invoke API too
    r = nubis.invoke(svc, "hello", b"Inv" if runtime == "custom" else b'{"name":"Inv"}')
    assert r.status_code == 200 and "X-Fc-Error-Type" not in r.headers, r.text
    assert b"Hello, Inv!" in r.content, r.content


def test_init_rejects_unknown_style(nubis, tmp_path):
    r = nubis.cli("init", str(tmp_path / "x"), "--runtime", "python3", "--style", "gcf")
    assert r.returncode != 0 and "Node.js" in r.stderr
    r = nubis.cli("init", str(tmp_path / "y"), "--style", "azure")
    assert r.returncode != 0 and "azure" in r.stderr
    assert not (tmp_path / "y").exists()


def test_lambda_esm_handler(nubis, svc):
    """Lambda's Node 18+ default: an ES module exporting an async handler."""
    src = ("export const handler = async (event, context) =>\n"
           "  ({ esm: true, event, fn: context.functionName });\n")
    nubis.deploy(SVC, "lesm", {"index.mjs": src}, handlerType="lambda", http_trigger=False)
    r = invoke_json(nubis, "lesm", [1, "two"])
    assert r.json() == {"esm": True, "event": [1, "two"], "fn": "lesm"}


def test_openfaas_invoke_fail_is_handled_error(nubis, svc):
    src = ("module.exports = async (event, context) => {\n"
           "  if (event.body.bad) return context.fail(new Error('bad input'));\n"
           "  return context.status(200).succeed({ echo: event.body });\n"
           "};\n")
    nubis.deploy(SVC, "faas2", {"handler.js": src}, handler="handler.handler",
                 handlerType="openfaas", http_trigger=False)
    r = invoke_json(nubis, "faas2", {"x": 1})
    assert r.json() == {"echo": {"x": 1}}
    r = invoke_json(nubis, "faas2", {"bad": 1})
    assert r.headers.get("X-Fc-Error-Type") == "HandledInvocationError"
    assert r.json()["errorMessage"] == "bad input"


@pytest.mark.parametrize("runtime,files,handler", [
    ("nodejs20", {"index.js": "exports.handler = (event, context, cb) => "
                              "cb(null, 'got:' + event.toString());\n"}, "index.handler"),
    ("python3", {"index.py": "def handler(event, context):\n    return b'got:' + event\n"},
     "index.handler"),
])
def test_fc_event_handler_over_http_trigger(nubis, svc, runtime, files, handler):
    """handlerType fc-event: an HTTP trigger calls the event handler with the body."""
    fn = "ev" + runtime[:2]
    nubis.deploy(SVC, fn, files, runtime=runtime, handler=handler, handlerType="fc-event")
    r = nubis.post(url(fn, "/"), data=b"body-1")
    assert r.status_code == 200, r.text
    assert r.content == b"got:body-1"
    assert nubis.invoke(SVC, fn, b"evt").content == b"got:evt"
