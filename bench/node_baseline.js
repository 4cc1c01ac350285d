'use strict';
// Baseline for bench/run.sh: a bare Node http.createServer running the same
// hello-world handler as the tutorial function (GET /?name=X ->
// {"message":"Hello, X!"}), so that nubis's added cost can be read off.
const http = require('node:http');

function sayHello(name) { return `Hello, ${name}!`; }

function handler(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const body = JSON.stringify({ message: sayHello(url.searchParams.get('name')) });
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const port = Number(process.env.PORT || 8080);
http.createServer(handler).listen(port, '127.0.0.1');
