"""
lambda_style.py: AWS Lambda's handler style for the Python shim (bootstrap.py).

`lambda_handler(event, context)` with Lambda's context object and
environment.  The invoke API delivers the JSON payload parsed and answers
json.dumps(result); an HTTP trigger delivers an API Gateway HTTP API
payload 2.0 event and maps the return per its rules (reference B.3):
a dict with statusCode gives status/headers/cookies/body (isBase64Encoded
decodes it), any other value is a 200 application/json of its JSON.
Errors are Lambda's {"errorMessage", "errorType", "requestId", "stackTrace"}.

Imported by bootstrap.py only for Lambda-style functions.
"""
import json
import os
import time

import bootstrap_shared as B  # the running bootstrap module (set up by bootstrap.py)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_HTTP_OK_JSON = [["Content-Type", "application/json"]]

_info = {}


def setup(m, code_dir):
    """Lambda's environment variables, from the INIT meta."""
    fn = m.get("function") or {}
    svc = m.get("service") or {}
    q = svc.get("qualifier") or "LATEST"
    version = "$LATEST" if q == "LATEST" else (svc.get("versionId") or q)
    region = m.get("region") or "local"
    name = fn.get("name") or ""
    stream = time.strftime("%Y/%m/%d", time.gmtime()) + "/[%s]%s" % (version, os.urandom(16).hex())
    arn = "arn:aws:lambda:%s:%s:function:%s" % (region, m.get("accountId") or "000000000000", name)
    if q != "LATEST":
        arn += ":" + q
    _info.update(name=name, version=version, memory=str(fn.get("memorySize") or 128), arn=arn,
                 group="/aws/lambda/" + name, stream=stream, account=m.get("accountId") or "")
    os.environ.update({
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": _info["memory"],
        "AWS_LAMBDA_LOG_GROUP_NAME": _info["group"],
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": code_dir,
        "_HANDLER": fn.get("handler") or "",
    })


class _Client:
    """context.client_context.client: the mobile client's fields, snake_case as Lambda names them."""

    def __init__(self, c):
        c = c if isinstance(c, dict) else {}
        self.installation_id = c.get("installation_id")
        self.app_title = c.get("app_title")
        self.app_version_name = c.get("app_version_name")
        self.app_version_code = c.get("app_version_code")
        self.app_package_name = c.get("app_package_name")


class ClientContext:
    """context.client_context: X-Amz-Client-Context of a Lambda invoke, decoded."""

    def __init__(self, cc):
        self.client = _Client(cc.get("client"))
        self.custom = cc.get("custom")
        self.env = cc.get("env")


class LambdaContext:
    """Lambda's Python context object."""

    def __init__(self, inv, shared, deadline_ms, client_context=None):
        self.aws_request_id = inv.request_id
        self.function_name = _info["name"]
        self.function_version = _info["version"]
        self.invoked_function_arn = _info["arn"]
        self.memory_limit_in_mb = _info["memory"]
        self.log_group_name = _info["group"]
        self.log_stream_name = _info["stream"]
        self.identity = None
        self.client_context = ClientContext(client_context) if client_context else None
        self._deadline = deadline_ms

    def get_remaining_time_in_millis(self):
        if not self._deadline:
            return 0
        return max(0, int(self._deadline - time.time() * 1000))


def error_body(exc, inv):
    d = {"errorMessage": str(exc), "errorType": getattr(exc, "error_type", None)
         or type(exc).__name__, "requestId": inv.request_id if inv is not None else "",
         "stackTrace": B._frames(exc.__traceback__)}
    return _dumps(d).encode()


def run(rt, inv, meta, body):
    ctx = LambdaContext(inv, rt.shared, meta.get("deadline") or 0, meta.get("clientContext"))
    if meta.get("kind") == "http":
        event = http_event(inv, meta, meta.get("http") or {}, body)
        result = B._await(rt.handler(event, ctx))
        status, headers, out = http_result(result)
        B.finish(inv, B.T_RESULT, B.head_meta(status, headers), out, B.F_HEAD)
        return
    if body:
        try:
            event = json.loads(body)
        except ValueError:
            event = body.decode("utf-8", "replace")
    else:
        event = {}
    result = B._await(rt.handler(event, ctx))
    B.finish(inv, B.T_RESULT, B.META_EMPTY, _dumps(result).encode())


# ---------------------------------------------------------- HTTP API v2

_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "graphql", "yaml")


def _is_text(ct):
    ct = ct.lower()
    return ct.startswith("text/") or any(t in ct for t in _TEXT_TYPES)


def _joined(v):
    return ",".join(v) if isinstance(v, list) else v


def http_event(inv, meta, h, body):
    """API Gateway HTTP API payload format 2.0 (reference B.3)."""
    url = h.get("url") or "/"
    q = url.find("?")
    raw_query = url[q + 1:] if q >= 0 else ""
    headers = {}
    cookies = None
    for k, v in (h.get("headers") or {}).items():
        if k == "cookie":
            cookies = []
            for c in (v if isinstance(v, list) else [v]):
                cookies.extend(p.strip() for p in c.split(";") if p.strip())
            continue
        headers[k] = _joined(v)
    now = time.time()
    ev = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": h.get("path") or "/",
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": _info.get("account", ""),
            "apiId": _info.get("name", ""),
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": headers.get("host", "localhost").split(".")[0],
            "http": {
                "method": h.get("method") or "GET",
                "path": h.get("path") or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": h.get("clientIP") or "",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": inv.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
        "pathParameters": None,
        "stageVariables": None,
    }
    if cookies is not None:
        ev["cookies"] = cookies
    qs = h.get("queries")
    if qs:
        ev["queryStringParameters"] = {k: _joined(v) for k, v in qs.items()}
    if body:
        if _is_text(headers.get("content-type", "")):
            try:
                ev["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if "body" not in ev:
            import base64
            ev["body"] = base64.b64encode(body).decode("ascii")
            ev["isBase64Encoded"] = True
    return ev


def http_result(r):
    """(status, [[name, value]...], body bytes) per the payload 2.0 response rules."""
    if not (isinstance(r, dict) and "statusCode" in r):
        return 200, _HTTP_OK_JSON, _dumps(r).encode()
    status = int(r["statusCode"])
    pairs = []
    for k, v in (r.get("headers") or {}).items():
        pairs.append([str(k), v if isinstance(v, str) else _dumps(v) if isinstance(v, bool)
                      else str(v)])
    for k, vs in (r.get("multiValueHeaders") or {}).items():
        for v in vs if isinstance(vs, list) else [vs]:
            pairs.append([str(k), str(v)])
    for c in r.get("cookies") or ():
        pairs.append(["Set-Cookie", str(c)])
    if not any(p[0].lower() == "content-type" for p in pairs):
        pairs.append(["Content-Type", "application/json"])
    b = r.get("body")
    if b is None:
        out = b""
    elif r.get("isBase64Encoded") and isinstance(b, str):
        import base64
        out = base64.b64decode(b)
    elif isinstance(b, str):
        out = b.encode("utf-8")
    elif isinstance(b, (bytes, bytearray)):
        out = bytes(b)
    else:
        out = _dumps(b).encode()
    return status, pairs, out
