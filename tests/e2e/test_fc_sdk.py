"""
Alibaba's FC Node SDK (@alicloud/fc2 2.6.6, from npm) against nubis: the FC
API, its signature (also for signed HTTP triggers) and invoke, unchanged.
Fails if npm cannot install the SDK (CI reaches the npm registry).
"""
import base64
import json
import os
import subprocess

import pytest

from conftest import make_zip, npm_sdk, unique

SDK = "@alicloud/fc2@2.6.6"


@pytest.fixture(scope="module")
def sdk_dir():
    return npm_sdk("fcsdk", SDK, os.path.join("@alicloud", "fc2"),
                   os.path.join("fcsdk", "sdk_client.js"))


def test_fc_node_sdk(nubis, sdk_dir):
    svc = unique("sdk")
    # one module serving both styles: the invoke gets (event, context, callback)
    code = ("exports.handler = function (a, b, c) {\n"
            "  if (Buffer.isBuffer(a)) return c(null, 'sdk ' + a.toString());\n"
            "  b.send(JSON.stringify({path: a.path, queries: a.queries}));\n};\n")
    zip64 = base64.b64encode(make_zip({"index.js": code})).decode()
    r = subprocess.run(["node", os.path.join(sdk_dir, "sdk_client.js"), nubis.url, nubis.key_id,
                        nubis.secret, svc, zip64], capture_output=True, text=True, timeout=60,
                       cwd=sdk_dir)
    out = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    assert r.returncode == 0, "FC SDK call failed: %s %s" % (out, r.stderr[-500:])
    assert out["createService"] == svc
    assert out["createFunction"] == "f"
    assert out["getFunction"] == "index.handler"
    assert out["listFunctions"] == ["f"]
    assert out["invoke"] == "sdk from-sdk"
    assert out["invokeRequestId"]
    proxy = json.loads(out["proxy"])
    assert proxy["path"] == "/sub/path"
    assert proxy["queries"] == {"a": ["1", "0"], "b": "2"}
    assert out["done"]
