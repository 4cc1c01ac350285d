"""
The FC management API under /2016-08-15/, as the FC SDKs call it: POST
creates, PUT only updates (404 if missing), invocations, deletes.
"""
import base64

from conftest import assert_request_id, make_zip, unique

SVC = unique("fcapi")
ZIP = make_zip({"index.js": "exports.handler = (e, c, cb) => cb(null, 'fc ' + e);\n"})


def test_fc_api_lifecycle(nubis):
    p = "/2016-08-15/services"
    r = nubis.api("POST", p, json_body={"serviceName": SVC, "description": "d"})
    assert r.status_code == 200, r.text
    assert r.json()["serviceName"] == SVC
    r = nubis.api("POST", p, json_body={"serviceName": SVC})
    assert r.status_code == 409 and r.json()["ErrorCode"] == "ServiceAlreadyExists", r.text

    fp = "%s/%s/functions" % (p, SVC)
    r = nubis.api("PUT", fp + "/f", json_body={"functionName": "f", "runtime": "nodejs20",
                                              "handler": "index.handler"})
    assert r.status_code == 404, "FC PUT must not create: %s %s" % (r.status_code, r.text)
    r = nubis.api("POST", fp, json_body={
        "functionName": "f", "runtime": "nodejs20", "handler": "index.handler",
        "memorySize": 128, "timeout": 5, "code": {"zipFile": base64.b64encode(ZIP).decode()}})
    assert r.status_code == 200, r.text
    fn = r.json()
    assert fn["functionName"] == "f" and fn["codeSize"] == len(ZIP)
    r = nubis.api("POST", fp + "/f/invocations", data=b"sdk",
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.content == b"fc sdk"
    assert_request_id(r)
    r = nubis.api("PUT", fp + "/f", json_body={"timeout": 9})
    assert r.status_code == 200, r.text
    assert r.json()["timeout"] == 9
    r = nubis.api("GET", fp)
    assert [f["functionName"] for f in r.json()["functions"]] == ["f"]
    r = nubis.api("DELETE", "%s/%s" % (p, SVC))
    assert r.status_code == 400 and r.json()["ErrorCode"] == "ServiceNotEmpty", r.text
    r = nubis.api("DELETE", fp + "/f")
    assert r.status_code == 204, r.text
    r = nubis.api("DELETE", "%s/%s" % (p, SVC))
    assert r.status_code == 204, r.text
    r = nubis.api("GET", "%s/%s" % (p, SVC))
    assert r.status_code == 404 and r.json()["ErrorCode"] == "ServiceNotFound"


def test_bad_function_config(nubis):
    nubis.api("PUT", "/api/v1/services/%s" % SVC, json_body={"serviceName": SVC})
    for field, value in (("memorySize", 100), ("timeout", 0), ("timeout", 86401),
                         ("instanceConcurrency", 101), ("runtime", "cobol")):
        body = {"functionName": "bad", "runtime": "nodejs20", "handler": "index.handler",
                "code": {"zipFile": base64.b64encode(ZIP).decode()}, field: value}
        r = nubis.api("PUT", "/api/v1/services/%s/functions/bad" % SVC, json_body=body)
        assert r.status_code == 400, "%s=%r accepted: %s" % (field, value, r.text)
        assert r.json()["ErrorCode"] == "InvalidArgument"
        assert field in r.json()["ErrorMessage"], r.text
    assert nubis.api("GET", "/api/v1/services/%s/functions/bad" % SVC).status_code == 404
