"""
Daemon protection (docs/security-gateway.md, "Daemon protection"): the
connection cap, the header-read timeout against slowloris, the idle
keep-alive timeout, the request-body limit on a chunked upload (cut with
413 while the daemon's memory stays flat), no fd leak after a burst of
connections, and the cap on queued management requests (503).

A dedicated daemon runs with small limits from a --config file so that the
timeouts and caps show within seconds.
"""
import os
import select
import socket
import threading
import time

import pytest

from conftest import Daemon

MAX_CONNS = 64
HEADER_TIMEOUT_S = 2
KEEPALIVE_S = 2
BODY_LIMIT = 1 << 20
BODIES_BUFFERED = 4 << 20  # all connections' request bodies together

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("protect")
    cfg = os.path.join(str(root), "nubis.yaml")
    with open(cfg, "w") as f:
        f.write("limits:\n"
                "  maxSyncBodyBytes: %d\n"
                "  headerTimeout: %d\n"
                "  keepAliveTimeout: %d\n"
                "  maxConnections: %d\n"
                "  maxManagementBodyBytes: %d\n"
                "  maxBufferedBodyBytes: %d\n" % (BODY_LIMIT, HEADER_TIMEOUT_S, KEEPALIVE_S,
                                                  MAX_CONNS, 2 * BODY_LIMIT, BODIES_BUFFERED))
    d = Daemon(root).start(["--config", cfg])
    yield d
    d.check_clean_exit(d.stop())


def connect(d, timeout=5):
    return socket.create_connection(("127.0.0.1", d.port), timeout=timeout)


def read_response(s):
    """One HTTP response with a Content-Length body; b"" if the peer closed first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status(resp):
    assert resp.startswith(b"HTTP/1.1 "), "no HTTP response: %r" % resp[:200]
    return int(resp.split(b" ", 2)[1])


def closed_by_peer(s, within):
    """True if the peer closes s (EOF or reset) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            continue
        try:
            if s.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def test_max_connections(small):
    held = []
    try:
        for i in range(MAX_CONNS):
            s = connect(small)
            s.sendall(HEALTH)
            assert status(read_response(s)) == 200, "connection %d was not served" % i
            held.append(s)
        # the cap is reached: new connections are closed at once, unserved
        for _ in range(5):
            s = connect(small)
            try:
                s.sendall(HEALTH)
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert closed_by_peer(s, 3), "a connection beyond maxConnections was kept"
            s.close()
        # existing ones keep working
        for s in held:
            s.sendall(HEALTH)
            assert status(read_response(s)) == 200
        # room again once some close
        for s in held[:8]:
            s.close()
        del held[:8]

        def served():
            s = connect(small)
            try:
                s.sendall(HEALTH)
                return status(read_response(s)) == 200
            except (ConnectionResetError, BrokenPipeError, AssertionError):
                return False
            finally:
                s.close()
        assert wait_for(served, 3), "no new connection served after others closed"
    finally:
        for s in held:
            s.close()


def test_slowloris_gets_408_while_others_are_served(small):
    s = connect(small, timeout=10)
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    got = b""
    stop = threading.Event()
    served = []

    def others():
        while not stop.is_set():
            t0 = time.monotonic()
            c = connect(small)
            c.sendall(HEALTH)
            served.append((status(read_response(c)), time.monotonic() - t0))
            c.close()
            time.sleep(0.1)

    t = threading.Thread(target=others)
    t.start()
    try:
        i = 0
        while time.monotonic() - start < HEADER_TIMEOUT_S + 3:
            try:
                s.sendall(b"X-Trickle-%d: y\r\n" % i)  # a header line every 200 ms, never the end
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
            r, _, _ = select.select([s], [], [], 0.2)
            if r:
                chunk = s.recv(65536)
                got += chunk
                if not chunk or b"\r\n\r\n" in got:
                    break
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        t.join()
        s.close()
    assert status(got) == 408, got[:200]
    assert HEADER_TIMEOUT_S - 0.5 <= elapsed <= HEADER_TIMEOUT_S + 1.5, elapsed
    assert b"x-fc-request-id:" in got.lower()
    assert len(served) >= 5 and all(st == 200 and dt < 1 for st, dt in served), served


def test_silent_connection_is_closed_after_header_timeout(small):
    s = connect(small, timeout=10)
    start = time.monotonic()
    try:
        assert closed_by_peer(s, HEADER_TIMEOUT_S + 2), "a silent connection was kept open"
        assert time.monotonic() - start >= HEADER_TIMEOUT_S - 0.5
    finally:
        s.close()


def test_idle_keepalive_timeout(small):
    s = connect(small, timeout=10)
    try:
        s.sendall(HEALTH)
        assert status(read_response(s)) == 200
        t0 = time.monotonic()
        assert closed_by_peer(s, KEEPALIVE_S + 2), "idle keep-alive connection not closed"
        assert time.monotonic() - t0 >= KEEPALIVE_S - 0.5
    finally:
        s.close()
    # activity keeps a connection open past the timeout
    s = connect(small, timeout=10)
    try:
        for _ in range(4):
            s.sendall(HEALTH)
            assert status(read_response(s)) == 200
            time.sleep(KEEPALIVE_S / 2)
    finally:
        s.close()


def test_chunked_upload_past_the_limit_is_cut_and_memory_stays_flat(small):
    pid = small.proc.pid
    # settle: warm the allocator with one small request first
    s = connect(small)
    s.sendall(HEALTH)
    read_response(s)
    s.close()
    base = rss_kb(pid)
    peak = base
    total = 100 << 20
    chunk = os.urandom(64 << 10)
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    s = connect(small, timeout=30)
    s.sendall(b"POST /fn/nosuch/fn/upload HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n")
    sent = 0
    seen_at = None
    got = b""
    try:
        while sent < total:
            try:
                s.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if sent % (4 << 20) == 0:
                peak = max(peak, rss_kb(pid))
            if seen_at is None:
                r, _, _ = select.select([s], [], [], 0)
                if r:
                    data = s.recv(65536)
                    got += data
                    if b"\r\n\r\n" in got or not data:
                        seen_at = sent
        peak = max(peak, rss_kb(pid))
        if seen_at is None:
            s.settimeout(10)
            got += read_response(s)
    finally:
        s.close()
    assert status(got) == 413, got[:300]
    assert b"EntityTooLarge" in got
    # the answer came long before the upload ended: nothing waited for 100 MB
    assert seen_at is not None and seen_at <= 32 << 20, (seen_at, sent)
    growth_mb = (peak - base) / 1024
    print("RSS before %d MB, peak %.1f MB (+%.1f MB) while sending %d MB; 413 after %.1f MB"
          % (base // 1024, peak / 1024, growth_mb, sent >> 20, (seen_at or 0) / 1048576))
    assert growth_mb < 24, "daemon RSS grew by %.1f MB during a 100 MB upload" % growth_mb
    c = connect(small)
    c.sendall(HEALTH)
    assert status(read_response(c)) == 200
    c.close()


def test_bodies_in_memory_have_a_server_wide_budget(small):
    """Each body is under its limit, but together they may not pass
    limits.maxBufferedBodyBytes: the connection that would is refused with 503
    at once; the others complete, and their memory is given back."""
    head = (b"POST /fn/nosuch/fn/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % BODY_LIMIT)
    half = b"x" * (BODY_LIMIT // 2)
    slow = []
    try:
        for _ in range(3):  # 3 MiB of the 4 MiB budget, bodies half sent
            s = connect(small)
            s.sendall(head + half)
            slow.append(s)
        time.sleep(0.3)
        extra = connect(small)
        extra.sendall(head)
        got = read_response(extra)
        extra.close()
        assert status(got) == 503, got[:300]
        assert b"ServiceUnavailable" in got and b"request bodies" in got
        # the three uploads finish (the route does not exist: 404, after the whole body)
        for s in slow:
            s.sendall(half)
        for s in slow:
            assert status(read_response(s)) == 404
        # their buffers were released: a new upload of the same size is taken
        again = connect(small)
        again.sendall(head + half + half)
        assert status(read_response(again)) == 404
        again.close()
    finally:
        for s in slow:
            s.close()


def test_pipelining_without_reading_is_held_back(small):
    """A client that pipelines requests and never reads the answers: the daemon stops
    reading from it once ~1 MiB of answers wait, instead of queueing them without end,
    and drops it after the keep-alive timeout."""
    pid = small.proc.pid
    base = rss_kb(pid)
    s = connect(small, timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    batch = HEALTH * 2000
    sent = 0
    t0 = last_progress = time.monotonic()
    while time.monotonic() - last_progress < 0.5 and time.monotonic() - t0 < 5:
        try:
            sent += s.send(batch)
            last_progress = time.monotonic()
        except BlockingIOError:
            select.select([], [s], [], 0.05)
    stalled = time.monotonic() - last_progress >= 0.5
    growth_mb = (rss_kb(pid) - base) / 1024
    print("pipelined %.1f MB of requests without reading, then the daemon stopped reading; "
          "daemon RSS +%.1f MB" % (sent / 1048576, growth_mb))
    assert stalled, "the daemon kept reading: %d MB of requests in 5 s" % (sent >> 20)
    assert sent < (64 << 20), sent
    assert growth_mb < 64, growth_mb
    # the stalled client is dropped after the keep-alive timeout; its answers so far arrive
    s.setblocking(True)
    s.settimeout(KEEPALIVE_S + 10)
    answers = b""
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            if not answers:
                answers = chunk[:64]
    except ConnectionResetError:
        pass
    s.close()
    assert answers.startswith(b"HTTP/1.1 200 OK"), answers[:100]
    c = connect(small)
    c.sendall(HEALTH)
    assert status(read_response(c)) == 200
    c.close()


def test_chunked_trailers_are_counted_not_kept(small):
    """Trailer fields after a chunked body (found by fuzz_http: they used to be appended to
    the buffer the request's headers point into).  The fixture's clean-exit check fails on
    any sanitizer report."""
    trailers = b"".join(b"X-Trailer-%d: %s\r\n" % (i, b"v" * 60) for i in range(40))
    s = connect(small)
    s.sendall(b"POST /fn/nosuch/f/ HTTP/1.1\r\nHost: x\r\nX-Before: 1\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" + trailers + b"\r\n")
    resp = read_response(s)
    assert status(resp) == 404, resp[:300]  # routed with its real headers: no such function
    s.sendall(HEALTH)
    assert status(read_response(s)) == 200
    s.close()
    s = connect(small)  # trailers past the header limit: 431
    s.sendall(b"POST /fn/nosuch/f/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"0\r\n" + trailers * 4 + b"\r\n")
    assert status(read_response(s)) == 431
    s.close()


def test_connection_burst_leaks_no_fds(small):
    pid = small.proc.pid
    assert wait_for(lambda: fd_count(pid) == fd_count(pid), 1)
    base = fd_count(pid)
    batch = MAX_CONNS - 16
    opened = 0
    while opened < 2000:
        socks = []
        for i in range(batch):
            s = connect(small)
            kind = (opened + i) % 4
            if kind == 1:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            elif kind == 2:
                s.sendall(HEALTH)  # a whole request, the answer never read
            elif kind == 3:
                s.sendall(b"POST /fn/a/b/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            socks.append(s)
        for i, s in enumerate(socks):
            if i % 2:  # half of them reset instead of closed
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()
        opened += batch
    ok = wait_for(lambda: fd_count(pid) <= base, 10)
    assert ok, "daemon holds %d fds after the burst, %d before" % (fd_count(pid), base)
    c = connect(small)
    c.sendall(HEALTH)
    assert status(read_response(c)) == 200
    c.close()


def test_management_queue_is_capped_with_503(nubis):
    """More queued management requests than the cap (256): the excess get 503 with Retry-After."""
    n = 600
    path = "/api/v1/services"
    socks = []
    try:
        for _ in range(n):
            h = nubis.signed_headers("GET", path)
            req = "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (
                path, "".join("%s: %s\r\n" % kv for kv in h.items()))
            s = connect(nubis, timeout=60)
            socks.append((s, req.encode()))
        for s, req in socks:  # all at once: they pile up behind the one management worker
            s.sendall(req)
        codes = {}
        retry_after = set()
        for s, _ in socks:
            resp = read_response(s)
            st = status(resp)
            codes[st] = codes.get(st, 0) + 1
            if st == 503:
                assert b"ServiceUnavailable" in resp, resp[:300]
                for line in resp.split(b"\r\n"):
                    if line.lower().startswith(b"retry-after:"):
                        retry_after.add(line.split(b":")[1].strip())
    finally:
        for s, _ in socks:
            s.close()
    assert set(codes) <= {200, 503}, codes
    assert codes.get(200, 0) >= 256, codes
    assert codes.get(503, 0) > 0, codes
    assert retry_after == {b"1"}, retry_after
    print("management flood of %d: %s" % (n, codes))
    assert nubis.api("GET", path).status_code == 200
