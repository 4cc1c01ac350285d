"""
Baseline for bench/run_python.sh: a bare Python http.server
(ThreadingHTTPServer, HTTP/1.1 keep-alive, TCP_NODELAY) calling the same
WSGI hello handler as the nubis function (bench/python_fn/index.py), with
the smallest environ that handler needs.  PORT from the environment.
"""
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_fn"))
from index import handler  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        n = int(self.headers.get("Content-Length") or 0)
        environ = {"REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                   "wsgi.input": BytesIO(self.rfile.read(n) if n else b""),
                   "CONTENT_LENGTH": str(n)}
        state = []
        chunks = handler(environ, lambda status, headers, exc=None: state.extend((status, headers)))
        body = b"".join(chunks)
        self.send_response(int(state[0][:3]))
        for k, v in state[1]:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
