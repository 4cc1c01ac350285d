# The hello-world WSGI handler both sides of bench/run_python.sh run:
# nubis (FC Python runtime) and bench/python_baseline.py (bare http.server).
import json
from urllib.parse import parse_qs


def handler(environ, start_response):
    name = parse_qs(environ.get("QUERY_STRING", "")).get("name", ["world"])[0]
    body = json.dumps({"message": "Hello, %s!" % name}, separators=(",", ":"))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
