"""
End-to-end fixtures: start the real `nubis serve` on a free loopback port with
a temporary data dir, sign management requests with the FC scheme
(reference/compat-apis.md A.6), build code zips (also hostile ones) and deploy
functions through the API or through the CLI.

Run:  NUBIS_BIN=build/nubis /usr/bin/python3 -m pytest -q tests/e2e
"""

import base64
import email.utils
import hashlib
import hmac
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.parse
import uuid
import zipfile

import pytest
import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NUBIS_BIN = os.path.abspath(os.environ.get("NUBIS_BIN", os.path.join(REPO, "build", "nubis")))
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
HTTP_TIMEOUT_S = 30

_daemons = []  # every daemon started in this session, for failure reports


# ---------------------------------------------------------------- signing

def string_to_sign(method, path, headers, query=""):
    """FC StringToSign (A.6).  path may be percent-encoded; it is decoded here."""
    lower = {k.lower().strip(): str(v) for k, v in headers.items()}
    fc = sorted((k, v) for k, v in lower.items() if k.startswith("x-fc-"))
    resource = urllib.parse.unquote(path)
    if "/proxy/" in path:
        params = sorted("%s=%s" % (k, v) for k, v in
                        urllib.parse.parse_qsl(query, keep_blank_values=True))
        resource += "\n" + "\n".join(params)
    return "%s\n%s\n%s\n%s\n%s%s" % (
        method.upper(),
        lower.get("content-md5", ""),
        lower.get("content-type", ""),
        lower.get("date", ""),
        "".join("%s:%s\n" % (k, v) for k, v in fc),
        resource,
    )


def sign(secret, sts):
    mac = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def http_date(ts=None):
    return email.utils.formatdate(ts, usegmt=True)


# ---------------------------------------------------------------- zips

def make_zip(files, compression=zipfile.ZIP_DEFLATED):
    """files: {name: str|bytes}.  Returns the zip as bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in files.items():
            if isinstance(data, str):
                data = data.encode()
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644 << 16)
            info.compress_type = compression
            zf.writestr(info, data)
    return out.getvalue()


def make_zip_raw(entries):
    """entries: list of (name, data, mode) with mode the full st_mode (e.g. 0o120777 for a symlink)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (mode << 16)
            info.create_system = 3  # unix, so the mode bits are honoured
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return out.getvalue()


def make_symlink_zip(name, target, extra=()):
    return make_zip_raw([(name, target, 0o120777)] + list(extra))


def make_bomb_zip(unpacked_mb=600):
    """A zip whose one entry inflates to unpacked_mb MB of zeros (~1 KB per MB zipped)."""
    out = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as f:
            for _ in range(unpacked_mb):
                f.write(chunk)
    return out.getvalue()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_env_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"').strip("'")
    return out


# ---------------------------------------------------------------- daemon

class Daemon:
    """One `nubis serve` process with its own data dir and port."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.data_dir = os.path.join(self.workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = None
        self.url = None
        self.proc = None
        self.key_id = None
        self.secret = None
        self.endpoint = None
        self.stderr_path = os.path.join(self.workdir, "nubis-stderr.log")
        self.session = requests.Session()

    # -- lifecycle
    def start(self, extra_args=()):
        if not os.access(NUBIS_BIN, os.X_OK):
            pytest.fail("nubis binary not found at %s (set NUBIS_BIN)" % NUBIS_BIN)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ)
        env["NUBIS_DATA_DIR"] = self.data_dir
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [NUBIS_BIN, "serve", "--listen", "127.0.0.1:%d" % self.port,
             "--data-dir", self.data_dir, *extra_args],
            stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err, env=env,
            start_new_session=True)
        _daemons.append(self)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail("nubis serve exited with %s before it was ready:\n%s"
                            % (self.proc.returncode, self.stderr_tail()))
            try:
                r = requests.get(self.url + "/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("nubis serve not ready within %d s:\n%s"
                            % (READY_TIMEOUT_S, self.stderr_tail()))
            time.sleep(0.05)
        cred = os.path.join(self.data_dir, "credentials")
        deadline = time.monotonic() + 5
        while not os.path.exists(cred) and time.monotonic() < deadline:
            time.sleep(0.05)
        env_file = read_env_file(cred)
        self.key_id = env_file["NUBIS_ACCESS_KEY_ID"]
        self.secret = env_file["NUBIS_ACCESS_KEY_SECRET"]
        with open(os.path.join(self.data_dir, "endpoint")) as f:
            self.endpoint = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Stops the daemon by its PID; returns its exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(sig)
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                rc = None
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
                self.proc.wait(timeout=5)
        self._err.close()
        return rc

    def check_clean_exit(self, rc):
        """Fails if the daemon did not exit 0 on SIGTERM or a sanitizer reported anything."""
        with open(self.stderr_path, "rb") as f:
            err = f.read().decode(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in err:
                i = err.index(marker)
                pytest.fail("sanitizer report in nubis serve's stderr:\n%s" % err[max(0, i - 200):i + 3000])
        if rc != 0:
            pytest.fail("nubis serve exited %s after SIGTERM (expected 0):\n%s" % (rc, self.stderr_tail()))

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace")
        except OSError:
            return "(no stderr)"

    # -- HTTP
    def signed_headers(self, method, path, query="", headers=None, body=None, secret=None,
                       key_id=None, date=None):
        h = dict(headers or {})
        if not any(k.lower() == "date" for k in h):
            h["Date"] = date or http_date()
        if body is not None and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json"
        sts = string_to_sign(method, path, h, query)
        h["Authorization"] = "FC %s:%s" % (key_id or self.key_id, sign(secret or self.secret, sts))
        return h

    def api(self, method, path, json_body=None, data=None, headers=None, query="", sign_it=True,
            timeout=HTTP_TIMEOUT_S, **kw):
        """A management request, signed unless sign_it is False.  path is the URL path."""
        body = data
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        if sign_it:
            headers = self.signed_headers(method, path, query, headers, body, **kw)
        url = self.url + path + ("?" + query if query else "")
        return self.session.request(method, url, data=body, headers=headers, timeout=timeout)

    def get(self, path, **kw):
        """An unsigned request (HTTP triggers, /healthz)."""
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return self.session.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        return self.session.post(self.url + path, **kw)

    def invoke(self, service, function, payload=b"", headers=None, timeout=HTTP_TIMEOUT_S):
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/octet-stream")
        return self.api("POST", "/api/v1/services/%s/functions/%s/invocations" % (service, function),
                        data=payload, headers=headers, timeout=timeout)

    # -- deploy through the API
    def upload_code(self, zip_bytes):
        r = self.api("POST", "/api/v1/code", data=zip_bytes,
                     headers={"Content-Type": "application/zip"})
        assert r.status_code == 200, "upload code: %s %s" % (r.status_code, r.text)
        return r.json()["checksum"]

    def deploy(self, service, function, files, runtime="nodejs20", handler="index.handler",
               methods=("GET", "POST"), auth="anonymous", http_trigger=True, **config):
        r = self.api("PUT", "/api/v1/services/%s" % service, json_body={"serviceName": service})
        assert r.status_code in (200, 201), "put service: %s %s" % (r.status_code, r.text)
        checksum = self.upload_code(make_zip(files))
        body = {"functionName": function, "runtime": runtime, "handler": handler,
                "code": {"checksum": checksum}}
        body.update(config)
        r = self.api("PUT", "/api/v1/services/%s/functions/%s" % (service, function), json_body=body)
        assert r.status_code in (200, 201), "put function: %s %s" % (r.status_code, r.text)
        if http_trigger:
            trig = {"triggerName": "http", "triggerType": "http",
                    "triggerConfig": {"authType": auth, "methods": list(methods)}}
            r = self.api("PUT", "/api/v1/services/%s/functions/%s/triggers/http" % (service, function),
                         json_body=trig)
            assert r.status_code in (200, 201), "put trigger: %s %s" % (r.status_code, r.text)
        return checksum

    # -- CLI
    def cli_env(self):
        env = dict(os.environ)
        env.update(NUBIS_URL=self.url, NUBIS_ACCESS_KEY_ID=self.key_id,
                   NUBIS_ACCESS_KEY_SECRET=self.secret, NUBIS_DATA_DIR=self.data_dir)
        return env

    def cli(self, *args, timeout=60, env=None, cwd=None, input=None):
        return subprocess.run([NUBIS_BIN, *args], capture_output=True, text=True, timeout=timeout,
                              env=env or self.cli_env(), cwd=cwd, input=input)


def write_tree(root, files):
    for name, data in files.items():
        p = os.path.join(str(root), name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


def npm_sdk(name, spec, module, script):
    """A vendor SDK from npm (spec) in the e2e cache's name/ directory, installed once; module is
    its node_modules path, script a fixtures/ file copied beside it.  Fails without npm."""
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", "/tmp"), "nubis-e2e-cache", name)
    if not os.path.isdir(os.path.join(cache, "node_modules", module)):
        if not shutil.which("npm"):
            pytest.fail("npm not installed: the %s test needs it" % spec)
        os.makedirs(cache, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix",
                            cache, spec], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail("npm install %s failed: %s" % (spec, r.stderr[-300:]))
    shutil.copy(os.path.join(FIXTURES, script), cache)
    return cache


def unique(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def assert_request_id(r):
    rid = r.headers.get("X-Fc-Request-Id")
    assert rid, "no X-Fc-Request-Id on %s %s (status %s)" % (r.request.method, r.url, r.status_code)
    return rid


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def nubis(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("nubis")).start()
    yield d
    rc = d.stop()
    d.check_clean_exit(rc)


@pytest.fixture(scope="session")
def bomb_zip():
    return make_bomb_zip(600)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, d in enumerate(_daemons):
            rep.sections.append(("nubis serve #%d stderr (tail)" % i, d.stderr_tail()))


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def fixture_files(name):
    """The files of tests/e2e/fixtures/<name> as {relative path: bytes}."""
    root = os.path.join(FIXTURES, name)
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out
