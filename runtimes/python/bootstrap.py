"""
bootstrap.py: the nubis Python runtime shim.

Runs inside an instance's sandbox as `/usr/bin/python3 -S -B bootstrap.py`.
It speaks the runtime protocol (docs/internals/runtime-protocol.md) with the
daemon, reading its frames from fd 3 and writing its own to fd 4 (two
pipes): waits for INIT (puts the code on sys.path, loads the
handler, runs the initializer), then answers each INVOKE with RESULT or
ERROR, and sends print() / sys.stderr / logging output as LOG frames tagged
with the invocation id.  It exits when fd 3 reaches its end.

Handler styles (docs/runtimes.md):
- FC (default): an HTTP trigger calls the WSGI app `handler(environ,
  start_response)` (a Flask app works as is); the invoke API calls
  `handler(event, context)` with event as bytes.
- Lambda (handlerType "lambda", or an export named `lambda_handler`):
  `lambda_handler(event, context)`; HTTP triggers deliver an API Gateway
  HTTP API v2 event and map the return per its rules (lambda.py).

Speed: the hot path is one os.read, one struct.unpack, one json.loads of
the meta and one os.writev per frame.  Handlers run inline in the reading
thread; if the daemon sends another INVOKE while one runs for long (it does
so only with instanceConcurrency > 1), a watcher thread takes over reading
and from then on every invocation gets a worker thread (threads.py).
Only what the hot path needs is imported at start (startup is cold-start
time); logging, traceback, asyncio and threads come when first needed.

Stdlib only (-S: no site; Debian's dist-packages are appended to sys.path
so that python3-flask and friends import).
"""
import json
import os
import struct
import sys
import _thread
from io import BytesIO, TextIOBase

T_INIT, T_INIT_OK, T_INIT_ERROR, T_INVOKE, T_RESULT, T_ERROR, T_LOG = 1, 2, 3, 4, 5, 6, 7
F_MORE = 1
F_HEAD = 2  # RESULT meta is "status\0name\0value\0...", not JSON
HDR = struct.Struct("<BBHIII")
MAX_META = 1 << 20
MAX_BODY = 64 << 20
FD = 3  # the daemon's frames come in here (a pipe)
OUT_FD = 4  # ours go out here (a pipe)
STREAM_FLUSH = 1 << 20  # a streamed WSGI response goes out in RESULT frames of about this size

META_EMPTY = b"{}"
META_HANDLED = b'{"handled":true}'
META_UNHANDLED = b'{"handled":false}'
LOG_META = {s: ('{"stream":"%s"}' % s).encode() for s in
            ("stdout", "stderr", "info", "warn", "error", "debug")}

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads

# ------------------------------------------------------------------- I/O

_wlock = _thread.allocate_lock()


def send_frame(ftype, fid, meta, body=b"", flags=0):
    """One frame, written whole (writev; a lock keeps frames of threads apart)."""
    hdr = HDR.pack(ftype, flags, 0, fid, len(meta), len(body))
    parts = [hdr, meta, body] if body else [hdr, meta]
    total = len(hdr) + len(meta) + len(body)
    with _wlock:
        n = os.writev(OUT_FD, parts)
        if n < total:  # partial write (big bodies): finish with plain writes
            rest = memoryview(b"".join(parts))[n:]
            while rest:
                rest = rest[os.write(OUT_FD, rest):]


class Reader:
    """Frames from fd 3: one os.read for small ones, readv into place for big bodies."""

    def __init__(self):
        self.buf = b""

    def _fill(self, n):
        """Reads until the buffer holds n bytes; False at EOF."""
        buf = self.buf
        if n - len(buf) > (1 << 18):
            whole = bytearray(n)
            whole[:len(buf)] = buf
            view = memoryview(whole)
            off = len(buf)
            while off < n:
                got = os.readv(FD, [view[off:]])
                if got <= 0:
                    return False
                off += got
            self.buf = whole
            return True
        parts = [buf]
        have = len(buf)
        while have < n:
            chunk = os.read(FD, max(n - have, 1 << 16))
            if not chunk:
                return False
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        return True

    def frame(self):
        """(type, id, meta dict, body bytes), or None at EOF."""
        if len(self.buf) < 16 and not self._fill(16):
            return None
        ftype, _, _, fid, mlen, blen = HDR.unpack_from(self.buf)
        if mlen > MAX_META or blen > MAX_BODY:
            fatal("runtime protocol: frame too large")
        total = 16 + mlen + blen
        if len(self.buf) < total and not self._fill(total):
            return None
        buf = self.buf
        meta = _loads(buf[16:16 + mlen]) if mlen else {}
        body = bytes(buf[16 + mlen:total]) if blen else b""
        self.buf = buf[total:]
        return ftype, fid, meta, body


def fatal(msg):
    try:
        send_frame(T_LOG, 0, LOG_META["stderr"], ("nubis runtime: " + msg).encode())
    finally:
        os._exit(70)


# ------------------------------------------------------------------ logging

_tls = _thread._local()  # .inv: the Invocation this thread runs
_inflight = {}  # id -> Invocation


def current():
    """The invocation output belongs to: this thread's, else the only one in flight."""
    inv = getattr(_tls, "inv", None)
    if inv is None and len(_inflight) == 1:
        for inv in _inflight.values():
            pass
    return inv


class LogStream(TextIOBase):
    """sys.stdout / sys.stderr: whole lines become LOG frames of the current invocation."""

    def __init__(self, stream, fd):
        self.stream = stream
        self.meta = LOG_META[stream]
        self.fd = fd
        self.orphan = ""  # partial line of output outside any invocation

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    @property
    def buffer(self):
        return _BinaryLog(self)

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self.fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        inv = current()
        parts = inv.partial if inv is not None else None
        prev = (parts.get(self.stream, "") if parts is not None else self.orphan)
        text = prev + s
        cut = text.rfind("\n")
        if cut < 0:
            rest, out = text, None
        else:
            rest, out = text[cut + 1:], text[:cut]
        if parts is not None:
            parts[self.stream] = rest
        else:
            self.orphan = rest
        if out is not None:
            send_frame(T_LOG, inv.id if inv is not None else 0, self.meta,
                       out.encode("utf-8", "replace"))
        return len(s)

    def flush(self):
        pass

    def flush_inv(self, inv):
        rest = inv.partial.pop(self.stream, "")
        if rest:
            send_frame(T_LOG, inv.id, self.meta, rest.encode("utf-8", "replace"))


class _BinaryLog:
    def __init__(self, text):
        self.text = text

    def write(self, b):
        self.text.write(bytes(b).decode("utf-8", "replace"))
        return len(b)

    def flush(self):
        pass


_stdout = LogStream("stdout", 1)
_stderr = LogStream("stderr", 2)


def _log_time():
    import time
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def _setup_logging(logging):
    """FC's root logger: INFO and up, "<time> <requestId> [LEVEL] msg" as LOG frames."""
    streams = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error",
               "CRITICAL": "error"}

    class FCHandler(logging.Handler):
        def emit(self, record):
            try:
                inv = current()
                rid = inv.request_id if inv is not None else ""
                msg = self.format(record)
                line = "%s %s [%s] %s" % (_log_time(), rid, record.levelname, msg)
                send_frame(T_LOG, inv.id if inv is not None else 0,
                           LOG_META[streams.get(record.levelname, "info")],
                           line.encode("utf-8", "replace"))
            except Exception:
                self.handleError(record)

    root = logging.getLogger()
    h = FCHandler()
    h.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(h)
    root.setLevel(logging.INFO)


class _LoggingHook:
    """
    Configures `logging` the moment anything imports it, so that functions
    that never log do not pay for importing it, and a user's basicConfig()
    at import time stays a no-op as on FC.
    """

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(cls)
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        real = spec.loader

        class Loader:
            def create_module(self, s):
                return real.create_module(s)

            def exec_module(self, module):
                real.exec_module(module)
                _setup_logging(module)

            def __getattr__(self, attr):
                return getattr(real, attr)

        spec.loader = Loader()
        return spec


# ------------------------------------------------------------------ errors

def _frames(tb):
    """traceback.format_tb of tb without the shim's own frames."""
    import traceback
    me = __file__
    out = []
    for fs in traceback.extract_tb(tb):
        if fs.filename == me or fs.filename.startswith(_SHIM_DIR):
            continue
        out.append(traceback.format_list([fs])[0])
    return out


def error_body(exc):
    """FC's error JSON: errorMessage, errorType (the exception's class), stackTrace."""
    return _dumps({"errorMessage": str(exc), "errorType": getattr(exc, "error_type", None)
                   or type(exc).__name__, "stackTrace": _frames(exc.__traceback__)}).encode()


class RuntimeError_(Exception):
    """A loading problem with an FC/Lambda error type (Runtime.ImportModuleError...)."""

    def __init__(self, error_type, msg):
        super().__init__(msg)
        self.error_type = error_type


_SHIM_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# ------------------------------------------------------------------- context


class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % kv for kv in self.__dict__.items()))


class Credentials(_Obj):
    pass


class FunctionMeta(_Obj):
    pass


class ServiceMeta(_Obj):
    pass


class FCContext:
    """FC's Python context (reference A.4)."""

    def __init__(self, request_id, shared):
        self.request_id = request_id
        self.credentials = shared.credentials
        self.function = shared.function
        self.service = shared.service
        self.region = shared.region
        self.account_id = shared.account_id
        self.retry_count = 0
        self.tracing = _Obj(span_context=None, jaeger_endpoint=None, span_baggages={},
                            parent_span_id=None)

    def get_logger(self):
        import logging
        return logging.getLogger()


class Shared:
    """What every invocation's context shares, from the INIT meta."""

    def __init__(self, m):
        fn = m.get("function") or {}
        svc = m.get("service") or {}
        cred = m.get("credentials") or {}
        self.credentials = Credentials(access_key_id=cred.get("accessKeyId", ""),
                                       access_key_secret=cred.get("accessKeySecret", ""),
                                       security_token=cred.get("securityToken", ""))
        self.function = FunctionMeta(name=fn.get("name", ""), handler=fn.get("handler", ""),
                                     memory=fn.get("memorySize", 0), timeout=fn.get("timeout", 0),
                                     initializer=fn.get("initializer") or "",
                                     initialization_timeout=fn.get("initializationTimeout", 0))
        self.service = ServiceMeta(name=svc.get("name", ""), log_project="", log_store="",
                                   qualifier=svc.get("qualifier") or "LATEST",
                                   version_id=svc.get("versionId") or "")
        self.region = m.get("region") or "local"
        self.account_id = m.get("accountId") or ""


# ------------------------------------------------------------------ loading


def load_export(code_dir, spec, what):
    """"index.handler" -> index.handler; "src/app.main" -> src.app:main."""
    dot = spec.rfind(".") if isinstance(spec, str) else -1
    if dot <= 0 or dot == len(spec) - 1:
        raise RuntimeError_("Runtime.MalformedHandlerName",
                            "bad %s '%s': expected '<module>.<function>', e.g. 'index.handler'"
                            % (what, spec))
    modname = spec[:dot].replace("/", ".").strip(".")
    name = spec[dot + 1:]
    try:
        __import__(modname)
    except ModuleNotFoundError as e:
        if e.name and (modname == e.name or modname.startswith(e.name + ".")):
            raise RuntimeError_("Runtime.ImportModuleError",
                                "Unable to import module '%s': no %s.py in '%s'"
                                % (modname, modname.replace(".", "/"), code_dir)) from None
        raise
    fn = getattr(sys.modules[modname], name, None)
    if not callable(fn):
        raise RuntimeError_("Runtime.HandlerNotFound",
                            "%s '%s' is undefined or not callable: module '%s' has no function '%s'"
                            % (what, spec, modname, name))
    return fn


# --------------------------------------------------------------- invocations


class Invocation:
    __slots__ = ("id", "request_id", "meta", "partial")

    def __init__(self, fid, request_id, meta):
        self.id = fid
        self.request_id = request_id
        self.meta = meta
        self.partial = {}


class Runtime:
    """Loaded function: style, handler, shared context parts."""

    def __init__(self):
        self.handler = None
        self.style = "fc"
        self.shared = None
        self.lam = None  # the lambda module, for the Lambda style
        self.threaded = False

    def init(self, m):
        code_dir = m.get("codeDir") or os.getcwd()
        os.chdir(code_dir)
        env = m.get("env")
        if isinstance(env, dict):
            for k, v in env.items():
                os.environ[str(k)] = str(v)
        for p in (os.path.join(code_dir, "python"), code_dir):
            if p not in sys.path:
                sys.path.insert(0, p)
        self.shared = Shared(m)
        fn = m.get("function") or {}
        ht = (fn.get("handlerType") or "").lower()
        handler_spec = fn.get("handler") or "index.handler"
        if ht == "lambda" or (not ht and handler_spec.endswith(".lambda_handler")):
            self.style = "lambda"
        elif ht in ("gcf", "openfaas"):
            raise RuntimeError_("Runtime.UnsupportedHandlerType",
                                "handlerType '%s' is for Node.js functions; Python serves "
                                "fc-http, fc-event and lambda" % ht)
        else:
            self.style = "fc-event" if ht in ("fc-event", "event") else "fc"
        if self.style == "lambda":
            sys.modules.setdefault("bootstrap_shared", sys.modules[__name__])
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            try:
                import lambda_style
            finally:
                sys.path.pop(0)
            self.lam = lambda_style
            lambda_style.setup(m, code_dir)
        self.handler = load_export(code_dir, handler_spec, "handler")
        if fn.get("initializer"):
            init = load_export(code_dir, fn["initializer"], "initializer")
            inv = Invocation(0, "init", {})
            _tls.inv = inv
            try:
                ctx = (self.lam.LambdaContext(inv, self.shared, 0) if self.lam
                       else FCContext("init", self.shared))
                _await(init(ctx))
            finally:
                _flush_inv(inv)
                _tls.inv = None
        conc = fn.get("instanceConcurrency")
        if isinstance(conc, int) and conc > 1:
            self.threaded = True

    def invoke(self, fid, meta, body):
        inv = Invocation(fid, meta.get("requestId", ""), meta)
        _inflight[fid] = inv
        _tls.inv = inv
        try:
            if self.lam is not None:
                self.lam.run(self, inv, meta, body)
            elif meta.get("kind") == "http" and self.style == "fc":
                run_wsgi(self, inv, meta.get("http") or {}, body)
            else:
                result = _await(self.handler(body, FCContext(inv.request_id, self.shared)))
                if meta.get("kind") == "http":
                    finish(inv, T_RESULT, head_meta(200, ()), result_bytes(result), F_HEAD)
                else:
                    finish(inv, T_RESULT, META_EMPTY, result_bytes(result))
        except BaseException as e:  # SystemExit too: a handler's sys.exit() is its error
            if isinstance(e, KeyboardInterrupt):
                raise
            try:
                body = (self.lam.error_body(e, inv) if self.lam is not None else error_body(e))
            except Exception:
                body = _dumps({"errorMessage": str(e), "errorType": type(e).__name__,
                               "stackTrace": []}).encode()
            finish(inv, T_ERROR, META_UNHANDLED, body)
        finally:
            _tls.inv = None


def _await(v):
    """An async def handler's coroutine runs to completion (asyncio, imported on first use)."""
    if hasattr(v, "__await__") and hasattr(v, "send"):
        import asyncio
        return asyncio.run(v)
    return v


def _flush_inv(inv):
    if inv.partial:
        _stdout.flush_inv(inv)
        _stderr.flush_inv(inv)


def finish(inv, ftype, meta, body, flags=0):
    """The last frame of an invocation (flushes its partial output lines first)."""
    _flush_inv(inv)
    if not flags & F_MORE:
        _inflight.pop(inv.id, None)
    send_frame(ftype, inv.id, meta, body, flags)


def result_bytes(v):
    """An event handler's result: str utf-8, bytes as is, None empty, others JSON."""
    if v is None:
        return b""
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return _dumps(v).encode("utf-8")


# ------------------------------------------------------------------- WSGI

def _latin1(s):
    return s if s.isascii() else s.encode("utf-8").decode("latin-1")


def make_environ(rt, inv, h, body):
    """PEP 3333 environ of an HTTP trigger request, plus fc.context and fc.request_uri."""
    url = h.get("url") or h.get("path") or "/"
    q = url.find("?")
    headers = h.get("headers") or {}
    host = headers.get("host") or "localhost"
    if isinstance(host, list):
        host = host[0]
    name, _, port = host.rpartition(":") if host.rfind(":") > host.rfind("]") else (host, "", "")
    if not name:
        name, port = host, ""
    env = {
        "REQUEST_METHOD": h.get("method") or "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(h.get("path") or "/"),
        "QUERY_STRING": url[q + 1:] if q >= 0 else "",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": name,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": h.get("clientIP") or "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": _stderr,
        "wsgi.multithread": rt.threaded,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "fc.context": FCContext(inv.request_id, rt.shared),
        "fc.request_uri": "http://" + host + url,
    }
    for k, v in headers.items():
        if isinstance(v, list):
            v = ("; " if k == "cookie" else ",").join(v)
        if k == "content-type":
            env["CONTENT_TYPE"] = _latin1(v)
        elif k == "content-length":
            continue
        else:
            env["HTTP_" + k.upper().replace("-", "_")] = _latin1(v)
    proto = env.get("HTTP_X_FORWARDED_PROTO")
    if proto in ("http", "https"):
        env["wsgi.url_scheme"] = proto
    return env


def run_wsgi(rt, inv, h, body):
    environ = make_environ(rt, inv, h, body)
    state = []  # [status, headers]
    out = [[], 0, False]  # chunks not sent yet, their size, whether a MORE frame went out

    def write(chunk):
        out[0].append(chunk)
        out[1] += len(chunk)

    def start_response(status, headers, exc_info=None):
        if exc_info:
            try:
                if out[2]:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state:
            raise AssertionError("start_response called twice without exc_info")
        state[:] = [status, headers]
        return write

    result = rt.handler(environ, start_response)
    try:
        for chunk in result:
            if not chunk:
                continue
            if not state:
                raise AssertionError("WSGI app returned data before calling start_response")
            write(chunk)
            if out[1] >= STREAM_FLUSH:  # a long stream goes out as it comes
                meta, flags = _answer_meta(state, out[2])
                send_frame(T_RESULT, inv.id, meta, b"".join(out[0]), flags | F_MORE)
                out[:] = [[], 0, True]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not state:
        raise AssertionError("WSGI app did not call start_response")
    chunks = out[0]
    meta, flags = _answer_meta(state, out[2])
    finish(inv, T_RESULT, meta, bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks), flags)


def head_meta(code, pairs):
    """The HEAD meta (F_HEAD) of an HTTP answer: a status outside 100..999 becomes 200 (as
    the gateway would); a header that is not text or holds a NUL is left out."""
    parts = [str(code if 100 <= code <= 999 else 200)]
    for k, v in pairs:
        if isinstance(k, str) and isinstance(v, str) and "\0" not in k and "\0" not in v:
            parts += (k, v)
    parts.append("")
    return "\0".join(parts).encode("utf-8", "surrogateescape")


def _answer_meta(state, sent):
    """A WSGI answer frame's (meta, flags): the HEAD meta on its first frame, nothing after."""
    if sent:
        return META_EMPTY, 0
    status, headers = state
    try:
        code = int(status[:3])
    except ValueError:
        raise ValueError("bad WSGI status %r" % status) from None
    return head_meta(code, headers), F_HEAD


# --------------------------------------------------------------- main loop

RT = Runtime()


def serve(reader):
    """The reading loop: INIT once, then INVOKEs inline (or handed to workers)."""
    while True:
        fr = reader.frame()
        if fr is None:
            os._exit(0)
        ftype, fid, meta, body = fr
        if ftype == T_INVOKE:
            if RT.handler is None:
                send_frame(T_ERROR, fid, META_UNHANDLED, _dumps(
                    {"errorMessage": "function not initialized", "errorType":
                     "Runtime.InitError", "stackTrace": []}).encode())
                continue
            if threads.active:
                threads.submit(fid, meta, body)
                continue
            threads.busy = fid
            threads.reader_lock.release()
            RT.invoke(fid, meta, body)
            threads.busy = 0
            if not threads.reader_lock.acquire(False):
                return threads.worker_loop()  # the watcher reads now; this thread serves
        elif ftype == T_INIT:
            do_init(meta)
        else:
            fatal("runtime protocol: unexpected frame type %d" % ftype)


def do_init(meta):
    if RT.shared is not None:
        fatal("runtime protocol: second INIT")
    try:
        RT.init(meta)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        send_frame(T_INIT_ERROR, 0, META_UNHANDLED,
                   RT.lam.error_body(e, None) if RT.lam is not None else error_body(e))
        RT.handler = None
        return
    send_frame(T_INIT_OK, 0, META_EMPTY)
    threads.start(RT, RT.threaded)


class _Threads:
    """
    Inline by default; switches for good to a reader thread + worker threads
    when the daemon is seen sending an INVOKE while one runs (instanceConcurrency > 1).
    """

    def __init__(self):
        self.active = False
        self.busy = 0
        self.reader_lock = _thread.allocate_lock()
        self.reader_lock.acquire()  # held by whoever reads fd 3
        self.queue = None
        self.idle = 0
        self.lock = _thread.allocate_lock()
        self.reader = None
        self.rt = None

    def start(self, rt, threaded):
        self.rt = rt
        if threaded:
            self._activate()
        else:
            _thread.start_new_thread(self._watch, ())

    def _activate(self):
        import _queue
        self.queue = _queue.SimpleQueue()
        self.active = True

    def _watch(self):
        """Every 50 ms: has the same inline invocation been running while another waits?"""
        import select
        import time
        seen = 0
        while True:
            time.sleep(0.05 if self.busy else 0.2)
            busy = self.busy
            if not busy or busy != seen:
                seen = busy
                continue
            r, _, _ = select.select([FD], [], [], 0)
            if not r or not self.reader_lock.acquire(False):
                continue
            self._activate()
            serve(self.reader)  # this thread reads from now on; never returns
            return

    def submit(self, fid, meta, body):
        with self.lock:
            spawn = self.idle == 0
            if not spawn:
                self.idle -= 1
        if spawn:
            _thread.start_new_thread(self._run_one_then_work, (fid, meta, body))
        else:
            self.queue.put((fid, meta, body))

    def _run_one_then_work(self, fid, meta, body):
        self.rt.invoke(fid, meta, body)
        self.worker_loop()

    def worker_loop(self):
        q = self.queue
        while True:
            with self.lock:
                self.idle += 1
            fid, meta, body = q.get()
            self.rt.invoke(fid, meta, body)


threads = _Threads()


def main():
    sys.path.append("/usr/lib/python3/dist-packages")
    vi = sys.version_info
    local = "/usr/local/lib/python%d.%d/dist-packages" % (vi[0], vi[1])
    if os.path.isdir(local):
        sys.path.append(local)
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # the shim's own directory is not the user's
    os.set_blocking(FD, True)
    os.set_blocking(OUT_FD, True)
    # The protocol pipes are the shim's: os.system or subprocess with
    # close_fds=False would hand them to the function's children.
    os.set_inheritable(FD, False)
    os.set_inheritable(OUT_FD, False)
    sys.stdout = _stdout
    sys.stderr = _stderr
    sys.meta_path.insert(0, _LoggingHook)
    reader = Reader()
    threads.reader = reader
    serve(reader)


if __name__ == "__main__":
    main()
