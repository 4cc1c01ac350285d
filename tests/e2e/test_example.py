"""examples/hello deploys with the CLI from the repo and answers as documented."""
import os

from conftest import REPO


def test_example_hello(nubis):
    r = nubis.cli("deploy", os.path.join(REPO, "examples", "hello"), timeout=120)
    assert r.returncode == 0, "deploy examples/hello: %s %s" % (r.stdout, r.stderr)
    r = nubis.get("/fn/demo/hello/")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"message": "Hello, world!"}
    r = nubis.get("/2016-08-15/proxy/demo/hello/?name=you")
    assert r.json() == {"message": "Hello, you!"}
    r = nubis.post("/fn/demo/hello/?name=post", data=b"{}")
    assert r.json() == {"message": "Hello, post!"}


def test_deploy_is_idempotent(nubis):
    for _ in range(2):
        r = nubis.cli("deploy", os.path.join(REPO, "examples", "hello"), timeout=120)
        assert r.returncode == 0, r.stderr
    r = nubis.api("GET", "/api/v1/services/demo/functions")
    assert r.status_code == 200
    names = [f["functionName"] for f in r.json()["functions"]]
    assert names.count("hello") == 1
    assert nubis.get("/fn/demo/hello/?name=again").json() == {"message": "Hello, again!"}
