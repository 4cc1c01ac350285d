"""
AWS's Lambda client (@aws-sdk/client-lambda 3.999.0, from npm) against
nubis's Lambda invoke API (POST /2015-03-31/functions/<name>/invocations):
its SigV4 signature with a nubis access key, sync, Event and DryRun calls, log
tails, function errors, qualifiers, and the SDK's error names for the
platform's own errors.  Fails if npm cannot install the SDK (CI reaches the
npm registry).
"""
import base64
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import fixture_files, npm_sdk, unique

SDK = "@aws-sdk/client-lambda@3.999.0"
SVC = unique("lam")
OTHER = unique("lam2")
FN = unique("echo")


@pytest.fixture(scope="module")
def sdk_dir():
    return npm_sdk("lambdasdk", SDK, os.path.join("@aws-sdk", "client-lambda"),
                   os.path.join("lambdasdk", "client.js"))


@pytest.fixture(scope="module")
def fns(nubis):
    lam = fixture_files("lambdajs")
    nubis.deploy(SVC, FN, lam, handlerType="lambda", http_trigger=False, timeout=10)
    nubis.deploy(SVC, "twin", lam, handlerType="lambda", http_trigger=False)
    nubis.deploy(OTHER, "twin", lam, handlerType="lambda", http_trigger=False)
    nubis.deploy(SVC, "slow", lam, handlerType="lambda", http_trigger=False,
                 rateLimit={"qps": 1, "burst": 1})
    nubis.deploy(SVC, "py", fixture_files("pylambda"), runtime="python3",
                 handler="lambda_function.lambda_handler", handlerType="lambda", http_trigger=False)
    r = nubis.api("POST", "/api/v1/services/%s/versions" % SVC, json_body={"description": "v"})
    assert r.status_code in (200, 201), r.text
    return r.json()["versionId"]


def invoke(nubis, sdk_dir, *calls, key_id=None, secret=None):
    r = subprocess.run(["node", os.path.join(sdk_dir, "client.js"), nubis.url, key_id or nubis.key_id,
                        secret or nubis.secret, json.dumps(calls)],
                       capture_output=True, text=True, timeout=120, cwd=sdk_dir)
    assert r.returncode == 0, r.stderr[-800:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(out) == len(calls)
    return out


def test_sync_invoke_by_service_and_name(nubis, sdk_dir, fns):
    a, b = invoke(nubis, sdk_dir,
                  {"FunctionName": "%s/%s" % (SVC, FN), "Payload": json.dumps({"a": [1, "x"]})},
                  {"FunctionName": FN, "Payload": "{}"})
    for r in (a, b):
        assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST", r
        assert "FunctionError" not in r
    body = json.loads(a["Payload"])
    assert body["event"] == {"a": [1, "x"]}
    assert body["functionName"] == FN
    assert len(body["requestId"]) == 36
    assert json.loads(b["Payload"])["event"] == {}


def test_client_context_reaches_the_function(nubis, sdk_dir, fns):
    cc = {"client": {"installation_id": "inst-1", "app_title": "t"}, "custom": {"k": [1, "v"]},
          "env": {"locale": "en"}}
    cc64 = base64.b64encode(json.dumps(cc).encode()).decode()
    node, py, none, bad = invoke(
        nubis, sdk_dir,
        {"FunctionName": "%s/%s" % (SVC, FN), "ClientContext": cc64, "Payload": "{}"},
        {"FunctionName": "%s/py" % SVC, "ClientContext": cc64, "Payload": "{}"},
        {"FunctionName": "%s/py" % SVC, "Payload": "{}"},
        {"FunctionName": "%s/%s" % (SVC, FN), "ClientContext": "bm90IGpzb24=", "Payload": "{}"})
    assert json.loads(node["Payload"])["clientContext"] == cc, node
    assert json.loads(py["Payload"])["clientContext"] == {"installation_id": "inst-1",
                                                         "custom": {"k": [1, "v"]},
                                                         "env": {"locale": "en"}}, py
    assert json.loads(none["Payload"])["clientContext"] is None
    assert (bad.get("error"), bad.get("status")) == ("InvalidParameterValueException", 400), bad


def test_log_tail_and_function_error(nubis, sdk_dir, fns):
    ok, err, pyerr = invoke(
        nubis, sdk_dir,
        {"FunctionName": "%s/%s" % (SVC, FN), "LogType": "Tail", "Payload": "{}"},
        {"FunctionName": "%s/%s" % (SVC, FN), "Payload": json.dumps({"fail": True})},
        {"FunctionName": "%s/py" % SVC, "Payload": json.dumps({"fail": True})})
    assert "REPORT RequestId: " in ok["LogResult"]
    assert err["StatusCode"] == 200 and err["FunctionError"] == "Unhandled", err
    e = json.loads(err["Payload"])
    assert e["errorType"] == "TypeError"
    assert e["errorMessage"] == "lambda async failure"
    assert isinstance(e["trace"], list) and "stackTrace" not in e
    # Each runtime's own shape: Lambda's Python runtime says "stackTrace".
    assert pyerr["FunctionError"] == "Unhandled", pyerr
    e = json.loads(pyerr["Payload"])
    assert e["errorType"] == "ZeroDivisionError" and isinstance(e["stackTrace"], list), e


def test_event_and_dry_run(nubis, sdk_dir, fns):
    ev, dry, big = invoke(nubis, sdk_dir,
                          {"FunctionName": "%s/%s" % (SVC, FN), "InvocationType": "Event",
                           "Payload": "{}"},
                          {"FunctionName": "%s/%s" % (SVC, FN), "InvocationType": "DryRun"},
                          {"FunctionName": "%s/%s" % (SVC, FN), "InvocationType": "Event",
                           "PayloadBytes": 200 * 1024})
    assert ev["StatusCode"] == 202, ev
    assert dry["StatusCode"] == 204, dry
    assert (big.get("error"), big.get("status")) == ("RequestTooLargeException", 413), big
    # The queued call runs: its id (x-amzn-RequestId) is an async invocation that succeeds.
    deadline = time.monotonic() + 15
    st = None
    while time.monotonic() < deadline:
        st = nubis.api("GET", "/api/v1/invocations/%s" % ev["RequestId"]).json()
        if st.get("state") in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert st["state"] == "succeeded" and (st["service"], st["function"]) == (SVC, FN), st


def test_qualifiers_and_arns(nubis, sdk_dir, fns):
    version = fns
    arn = "arn:aws:lambda:us-east-1:123456789012:function:%s" % FN
    out = invoke(nubis, sdk_dir,
                 {"FunctionName": "%s/%s:%s" % (SVC, FN, version), "Payload": "{}"},
                 {"FunctionName": "%s/%s" % (SVC, FN), "Qualifier": version, "Payload": "{}"},
                 {"FunctionName": arn + ":$LATEST", "Payload": "{}"},
                 {"FunctionName": "123456789012:function:%s" % FN, "Payload": "{}"},
                 {"FunctionName": "%s/%s:%s" % (SVC, FN, version), "Qualifier": "$LATEST"},
                 {"FunctionName": "%s/%s" % (SVC, FN), "Qualifier": "99"})
    assert [o.get("ExecutedVersion") for o in out[:4]] == [version, version, "$LATEST", "$LATEST"]
    assert out[4]["error"] == "InvalidParameterValueException" and out[4]["status"] == 400
    assert out[5]["error"] == "ResourceNotFoundException" and out[5]["status"] == 404


def test_platform_errors_have_the_sdks_names(nubis, sdk_dir, fns):
    out = invoke(nubis, sdk_dir,
                 {"FunctionName": "%s/nope" % SVC},
                 {"FunctionName": unique("nope")},
                 {"FunctionName": "twin"},
                 {"FunctionName": "%s/%s" % (SVC, FN), "secret": "wrong"},
                 {"FunctionName": "%s/%s" % (SVC, FN), "keyId": "NOSUCHKEY"},
                 {"FunctionName": "%s/%s" % (SVC, FN), "InvocationType": "Bogus"})
    want = [("ResourceNotFoundException", 404), ("ResourceNotFoundException", 404),
            ("InvalidParameterValueException", 400), ("InvalidSignatureException", 403),
            ("UnrecognizedClientException", 403), ("InvalidParameterValueException", 400)]
    assert [(o.get("error"), o.get("status")) for o in out] == want, out
    assert "service/function" in out[2]["message"]


def test_gateway_refusals_have_lambdas_shape(nubis, sdk_dir, fns):
    """The gateway's own refusals (here its rate limit) reach the SDK by Lambda's names."""
    out = invoke(nubis, sdk_dir, *[{"FunctionName": "%s/slow" % SVC, "Payload": "{}"}] * 3)
    assert out[0]["StatusCode"] == 200, out
    refused = [o for o in out if "error" in o]
    assert refused, out
    assert all((o["error"], o["status"]) == ("TooManyRequestsException", 429) for o in refused), out
    assert all("rate limit" in o["message"] for o in refused), out


def test_key_scope_applies(nubis, sdk_dir, fns):
    r = nubis.api("POST", "/api/v1/keys", json_body={"scope": "service:%s" % OTHER})
    assert r.status_code in (200, 201), r.text
    k = r.json()
    mine, bare, theirs, hidden = invoke(
        nubis, sdk_dir,
        {"FunctionName": "%s/twin" % OTHER, "Payload": "{}"},
        {"FunctionName": "twin", "Payload": "{}"},  # two services have it; the key sees one
        {"FunctionName": "%s/%s" % (SVC, FN), "Payload": "{}"},
        {"FunctionName": FN, "Payload": "{}"},
        key_id=k["accessKeyId"], secret=k["accessKeySecret"])
    assert mine["StatusCode"] == 200 and bare["StatusCode"] == 200, (mine, bare)
    assert theirs["error"] == "AccessDeniedException" and theirs["status"] == 403, theirs
    assert (hidden["error"], hidden["status"]) == ("ResourceNotFoundException", 404), hidden
    assert SVC not in hidden["message"]


def test_unsigned_and_tampered_requests(nubis, fns):
    url = "%s/2015-03-31/functions/%s%%2F%s/invocations" % (nubis.url, SVC, FN)
    r = requests.post(url, data=b"{}", timeout=10)
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert "message" in r.json()
    r = requests.post(url, data=b"{}", timeout=10, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=%s/20261126/us-east-1/lambda/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=%s" % (nubis.key_id, "0" * 64),
        "X-Amz-Date": "20261126T000000Z"})
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    r = requests.post(url, data=b"{}", timeout=10, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/lambda/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=%s"
                         % (nubis.key_id, now[:8], "0" * 64),
        "X-Amz-Date": now, "X-Amz-Content-Sha256": "0" * 64})  # not the body's hash
    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Sha256" in r.json()["message"]
    r = requests.get(url, timeout=10)
    assert r.status_code == 405
