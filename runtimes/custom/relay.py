"""
relay.py: the nubis `custom` runtime (FC's custom runtime contract).

The function's code has an executable `bootstrap` at its root that serves
HTTP on port 9000 (FC_SERVER_PORT) inside the instance.  The instance has a
network namespace of its own, so the daemon cannot reach that port: this
relay is the instance's process instead.  It speaks the runtime protocol on
fds 3 and 4 (it reuses the Python shim's framing, logging and threading:
runtimes/python/bootstrap.py) and:

1. on INIT starts <codeDir>/bootstrap (cwd codeDir, FC's environment:
   FC_SERVER_PORT, FC_FUNCTION_NAME, ...; its stdout/stderr are the
   instance's, read by the daemon), waits until 127.0.0.1:<port> accepts
   (bounded by the daemon's initialization timeout), then calls
   POST /initialize if the function has an initializer;
2. per INVOKE: an HTTP trigger request is proxied as is (method, the full
   request URI, headers plus FC's x-fc-* headers, body) and the answer comes
   back whole (status, repeated headers, body); an event becomes
   POST /invoke with the payload.  One keep-alive connection per thread.

Without a private network namespace (no sandbox, or internetAccess) port
9000 may be taken, so the relay picks a free port and tells the bootstrap
through FC_SERVER_PORT (and PORT): bootstraps that honour it work in both.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "python"))
import bootstrap as B  # noqa: E402  (the Python shim, used as a library)

sys.path.pop(0)

HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
                 "proxy-connection", "te", "trailer", "expect"))


_socket = None  # the socket module, imported at INIT


class RelayError(Exception):
    def __init__(self, error_type, msg):
        super().__init__(msg)
        self.error_type = error_type


def _private_netns():
    """True when lo is the only interface (the sandbox's own network namespace)."""
    try:
        with open("/proc/net/dev") as f:
            names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
        return names == ["lo"]
    except OSError:
        pass
    try:  # no /proc: ask the kernel (the sandbox's seccomp may refuse netlink)
        import socket
        return [n for _, n in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _base_path(url):
    """x-fc-base-path: the part of the URL that names the function."""
    path = url.split("?", 1)[0]
    segs = path.split("/")
    if path.startswith("/2016-08-15/proxy/") and len(segs) >= 5:
        return "/".join(segs[:5]) + "/"
    if path.startswith("/fn/") and len(segs) >= 4:
        return "/".join(segs[:4]) + "/"
    return "/"


class Relay:
    """Plays bootstrap.py's Runtime for the shim's serve loop."""

    def __init__(self):
        self.handler = None
        self.shared = None
        self.lam = None
        self.threaded = False
        self.port = 9000
        self.pid = 0
        self.fc_headers = []
        self.init_timeout = 3.0
        self.http_client = None

    # ---- start-up

    def init(self, m):
        global _socket
        import http.client
        import socket as _socket
        self.http_client = http.client
        code_dir = m.get("codeDir") or os.getcwd()
        os.chdir(code_dir)
        fn = m.get("function") or {}
        svc = m.get("service") or {}
        cred = m.get("credentials") or {}
        self.shared = B.Shared(m)
        self.init_timeout = float(fn.get("initializationTimeout") or 3)
        conc = fn.get("instanceConcurrency")
        self.threaded = isinstance(conc, int) and conc > 1
        if isinstance(fn.get("caPort"), int) and 0 < fn["caPort"] < 65536:
            self.port = fn["caPort"]
        if not _private_netns():
            self.port = _free_port()
        env = dict(os.environ)
        for k, v in (m.get("env") or {}).items():
            env[str(k)] = str(v)
        fc_env = {
            "FC_SERVER_PORT": str(self.port),
            "PORT": str(self.port),
            "FC_SERVER_PATH": code_dir,
            "FC_FUNC_CODE_PATH": code_dir,
            "FC_FUNCTION_NAME": fn.get("name") or "",
            "FC_FUNCTION_HANDLER": fn.get("handler") or "",
            "FC_FUNCTION_MEMORY_SIZE": str(fn.get("memorySize") or 128),
            "FC_FUNCTION_TIMEOUT": str(fn.get("timeout") or 60),
            "FC_SERVICE_NAME": svc.get("name") or "",
            "FC_QUALIFIER": svc.get("qualifier") or "LATEST",
            "FC_VERSION_ID": svc.get("versionId") or "",
            "FC_REGION": m.get("region") or "local",
            "FC_ACCOUNT_ID": m.get("accountId") or "",
            "FC_RUNTIME": "custom",
        }
        env.update(fc_env)
        env["PATH"] = "%s:%s/bin:%s" % (code_dir, code_dir, env.get("PATH") or "/usr/bin:/bin")
        env["LD_LIBRARY_PATH"] = "%s:%s/lib%s" % (
            code_dir, code_dir, ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        self.fc_headers = [
            ("x-fc-access-key-id", cred.get("accessKeyId") or ""),
            ("x-fc-access-key-secret", cred.get("accessKeySecret") or ""),
            ("x-fc-security-token", cred.get("securityToken") or ""),
            ("x-fc-function-name", fc_env["FC_FUNCTION_NAME"]),
            ("x-fc-function-handler", fc_env["FC_FUNCTION_HANDLER"]),
            ("x-fc-function-memory", fc_env["FC_FUNCTION_MEMORY_SIZE"]),
            ("x-fc-function-timeout", fc_env["FC_FUNCTION_TIMEOUT"]),
            ("x-fc-function-initializer", fn.get("initializer") or ""),
            ("x-fc-initialization-timeout", str(fn.get("initializationTimeout") or 3)),
            ("x-fc-region", fc_env["FC_REGION"]),
            ("x-fc-account-id", fc_env["FC_ACCOUNT_ID"]),
            ("x-fc-qualifier", fc_env["FC_QUALIFIER"]),
            ("x-fc-version-id", fc_env["FC_VERSION_ID"]),
            ("x-fc-service-name", fc_env["FC_SERVICE_NAME"]),
            ("x-fc-service-logproject", ""),
            ("x-fc-service-logstore", ""),
        ]
        self.pid = self._spawn(os.path.join(code_dir, "bootstrap"), code_dir, env)
        self._wait_ready(time.monotonic() + self.init_timeout)
        if fn.get("initializer"):
            rid = "init-%x" % int(time.time() * 1000)
            status, _, data = self._request("POST", "/initialize", self._headers(
                rid, "/initialize", [("host", "127.0.0.1:%d" % self.port),
                                     ("content-length", "0")]), b"")
            if status != 200:
                raise RelayError("InitializerError", "POST /initialize answered %d: %s"
                                 % (status, data[:2000].decode("utf-8", "replace")))
        self.handler = True

    def _spawn(self, path, cwd, env):
        """fork + exec of the bootstrap; exec failures come back over a CLOEXEC pipe."""
        if not os.path.exists(path):
            raise RelayError("Runtime.BootstrapNotFound",
                             "custom runtime: no 'bootstrap' in the code root (%s)" % cwd)
        if not os.access(path, os.X_OK):
            raise RelayError("Runtime.BootstrapNotExecutable",
                             "custom runtime: 'bootstrap' is not executable (chmod +x bootstrap)")
        rfd, wfd = os.pipe2(os.O_CLOEXEC)  # the protocol pipes are not inherited: B.main
        pid = os.fork()
        if pid == 0:
            try:
                os.close(rfd)
                import signal
                for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                os.chdir(cwd)
                os.execve(path, [path], env)
            except OSError as e:
                os.write(wfd, ("%d %s" % (e.errno or 0, e.strerror or "")).encode())
            finally:
                os._exit(127)
        os.close(wfd)
        msg = os.read(rfd, 512)
        os.close(rfd)
        if msg:
            os.waitpid(pid, 0)
            err = msg.decode("utf-8", "replace").split(" ", 1)
            raise RelayError("Runtime.BootstrapExecError",
                             "custom runtime: cannot run 'bootstrap': %s (a script needs a "
                             "#! line)" % (err[1] if len(err) > 1 else err[0]))
        return pid

    def _wait_ready(self, deadline):
        """Probes 127.0.0.1:port until it accepts; fails if the bootstrap exits first."""
        import socket
        delay = 0.002
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.pid = 0
                raise RelayError("Runtime.BootstrapExited",
                                 "custom runtime: bootstrap exited (%s) before listening on port "
                                 "%d" % (_status_text(status), self.port))
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                s.close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RelayError("Runtime.BootstrapNotReady",
                                 "custom runtime: nothing listens on port %d after %g s "
                                 "(initializationTimeout)" % (self.port, self.init_timeout))
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # ---- per request

    def _conn(self):
        c = getattr(B._tls, "conn", None)
        if c is None:
            c = self.http_client.HTTPConnection("127.0.0.1", self.port)
            B._tls.conn = c
        if c.sock is None:
            c.connect()
            c.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return c

    def _headers(self, rid, control, extra):
        return extra + self.fc_headers + [("x-fc-request-id", rid), ("x-fc-control-path", control)]

    def _request(self, method, path, headers, body):
        """One exchange on this thread's keep-alive connection: (status, [(k, v)], body)."""
        for attempt in (0, 1):
            c = self._conn()
            sent = False
            try:
                c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    c.putheader(k, v)
                c.endheaders(body if body else None)
                sent = True
                # Servers that write headers and body apart (Nagle) would wait
                # for our delayed ACK (40 ms): ACK at once instead.
                c.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_QUICKACK, 1)
                r = c.getresponse()
                data = r.read()
                return r.status, r.getheaders(), data
            except (ConnectionError, self.http_client.RemoteDisconnected,
                    self.http_client.BadStatusLine) as e:
                c.close()
                B._tls.conn = None
                # an idle keep-alive connection the server closed: once more on a new one
                if attempt == 0 and (not sent or isinstance(e, self.http_client.RemoteDisconnected)):
                    if self._alive():
                        continue
                raise RelayError("Runtime.BootstrapUnreachable",
                                 "custom runtime: bootstrap on port %d: %s%s"
                                 % (self.port, type(e).__name__,
                                    "" if self._alive() else " (bootstrap exited)")) from None
            except Exception:
                c.close()
                B._tls.conn = None
                raise

    def _alive(self):
        if not self.pid:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if done:
            self.pid = 0
        return not done

    def invoke(self, fid, meta, body):
        inv = B.Invocation(fid, meta.get("requestId", ""), meta)
        B._inflight[fid] = inv
        B._tls.inv = inv
        try:
            if meta.get("kind") == "http":
                h = meta.get("http") or {}
                url = h.get("url") or h.get("path") or "/"
                extra = []
                for k, v in (h.get("headers") or {}).items():
                    if k in HOP:
                        continue
                    for x in (v if isinstance(v, list) else (v,)):
                        extra.append((k, x))
                extra.append(("content-length", str(len(body))))
                extra.append(("x-fc-base-path", _base_path(url)))
                extra.append(("x-fc-client-ip", h.get("clientIP") or ""))
                status, headers, data = self._request(
                    h.get("method") or "GET", url,
                    self._headers(inv.request_id, "/http-invoke", extra), body)
                pairs = [(k, v) for k, v in headers if k.lower() not in HOP]
                B.finish(inv, B.T_RESULT, B.head_meta(status, pairs), data, B.F_HEAD)
                return
            status, headers, data = self._request("POST", "/invoke", self._headers(
                inv.request_id, "/invoke", [("host", "127.0.0.1:%d" % self.port),
                                            ("content-type", "application/octet-stream"),
                                            ("content-length", str(len(body)))]), body)
            fc_status = next((v for k, v in headers if k.lower() == "x-fc-status"), None)
            ok = fc_status == "200" if fc_status is not None else 200 <= status < 300
            if ok:
                B.finish(inv, B.T_RESULT, B.META_EMPTY, data)
            else:
                B.finish(inv, B.T_ERROR, B.META_UNHANDLED, _error_json(status, fc_status, data))
        except Exception as e:
            B.finish(inv, B.T_ERROR, B.META_UNHANDLED, B._dumps({
                "errorMessage": str(e), "errorType": getattr(e, "error_type", type(e).__name__),
                "stackTrace": []}).encode())
            if not self._alive():
                os._exit(1)  # the bootstrap is gone: let the daemon replace the instance
        finally:
            B._tls.inv = None
            if os.getpid() == 1:  # the pid namespace's init reaps orphans
                _reap()


def _error_json(status, fc_status, data):
    """An /invoke failure: the body if it is FC's error JSON, else one made of it."""
    try:
        d = B._loads(data)
        if isinstance(d, dict) and "errorMessage" in d:
            return data
    except ValueError:
        pass
    return B._dumps({"errorMessage": data.decode("utf-8", "replace") or "status %d" % status,
                     "errorType": "HTTPError", "statusCode": status,
                     "stackTrace": []}).encode()


def _status_text(status):
    if os.WIFEXITED(status):
        return "code %d" % os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return "signal %d" % os.WTERMSIG(status)
    return "status %d" % status


def _reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


if __name__ == "__main__":
    B.RT = Relay()
    B.main()
