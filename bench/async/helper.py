#!/usr/bin/python3
"""
bench/async/helper.py: the parts of bench/async.sh that need signing or SQLite.

  helper.py deploy URL DATA_DIR hold|noop  deploys bench/noop: slow (builds a backlog) or no-op
  helper.py lua URL DATA_DIR OUT.lua       writes a wrk script: signed async POSTs
  helper.py baseline DIR SECONDS           one SQLite transaction per insert (WAL,
                                           synchronous=FULL), the same row shape
  helper.py drain DB SECONDS               succeeded rows per second while draining
  helper.py count DB                       rows by state
"""
import base64, email.utils, hashlib, hmac, io, json, os, sqlite3, sys, time, urllib.request, zipfile

PAYLOAD = b'{"bench":"' + b"x" * 100 + b'"}'
PATH = "/api/v1/services/bench/functions/noop/invocations"


def creds(data_dir):
    env = {}
    for line in open(os.path.join(data_dir, "credentials")):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v
    return env["NUBIS_ACCESS_KEY_ID"], env["NUBIS_ACCESS_KEY_SECRET"]


def signed(data_dir, method, path, headers):
    kid, secret = creds(data_dir)
    h = dict(headers)
    h["Date"] = email.utils.formatdate(usegmt=True)
    lower = {k.lower(): v for k, v in h.items()}
    fc = "".join("%s:%s\n" % (k, v) for k, v in sorted(lower.items()) if k.startswith("x-fc-"))
    sts = "%s\n%s\n%s\n%s\n%s%s" % (method, lower.get("content-md5", ""),
                                    lower.get("content-type", ""), h["Date"], fc, path)
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()).decode()
    h["Authorization"] = "FC %s:%s" % (kid, sig)
    return h


def call(url, data_dir, method, path, body=None, ctype="application/json"):
    h = signed(data_dir, method, path, {"Content-Type": ctype} if body is not None else {})
    req = urllib.request.Request(url + path, data=body, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def deploy(url, data_dir, phase):
    """phase "hold": a handler that takes 10 s and runs one at a time, so that the
    enqueue phase measures enqueues and builds a backlog; "noop": the no-op that drains it."""
    call(url, data_dir, "PUT", "/api/v1/services/bench", json.dumps({"serviceName": "bench"}).encode())
    z = io.BytesIO()
    code = ("exports.handler = (event, context, callback) => callback(null, '');\n" if phase == "noop"
            else "exports.handler = (event, context, callback) => setTimeout(() => callback(null, ''), 10000);\n")
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("index.js", code)
    _, out = call(url, data_dir, "POST", "/api/v1/code", z.getvalue(), "application/zip")
    checksum = json.loads(out)["checksum"]
    body = {"functionName": "noop", "runtime": "nodejs20", "handler": "index.handler",
            "code": {"checksum": checksum}, "instanceConcurrency": 10, "timeout": 60,
            "asyncConfig": {"maxAsyncConcurrency": 64 if phase == "noop" else 1}}
    call(url, data_dir, "PUT", "/api/v1/services/bench/functions/noop", json.dumps(body).encode())


def lua(url, data_dir, out):
    h = signed(data_dir, "POST", PATH, {"Content-Type": "application/octet-stream",
                                        "X-Fc-Invocation-Type": "Async"})
    with open(out, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.path = "%s"\n' % PATH)
        f.write("wrk.body = %s\n" % json.dumps(PAYLOAD.decode()))
        for k, v in h.items():
            f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
        f.write("bad = 0\n")
        f.write("response = function(status, headers, body) if status ~= 202 then bad = bad + 1 end end\n")


def baseline(d, secs):
    path = os.path.join(d, "baseline.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE invocations (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, service TEXT, "
               "function TEXT, kind INT, state INT, created INT, next_run INT, meta TEXT, payload BLOB)")
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO invocations (id, service, function, kind, state, created, next_run, "
                   "meta, payload) VALUES (?, 'bench', 'noop', 2, 0, 0, 0, '{}', ?)",
                   (os.urandom(16).hex(), PAYLOAD))
        db.execute("COMMIT")
        n += 1
    dt = time.monotonic() - t0
    db.close()
    print("%.0f" % (n / dt))


def count(dbpath):
    db = sqlite3.connect("file:%s?mode=ro" % dbpath, uri=True, timeout=10)
    rows = dict(db.execute("SELECT state, count(*) FROM invocations GROUP BY state").fetchall())
    db.close()
    return rows


def drain(dbpath, secs):
    c0 = count(dbpath).get(2, 0)
    t0 = time.monotonic()
    time.sleep(secs)
    c1 = count(dbpath)
    dt = time.monotonic() - t0
    print("%.0f %d" % ((c1.get(2, 0) - c0) / dt, c1.get(0, 0) + c1.get(1, 0)))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "deploy":
        deploy(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "lua":
        lua(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "baseline":
        baseline(sys.argv[2], float(sys.argv[3]))
    elif cmd == "drain":
        drain(sys.argv[2], float(sys.argv[3]))
    elif cmd == "count":
        print(json.dumps(count(sys.argv[2])))
