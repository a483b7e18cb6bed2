# SPDX-License-Identifier: MIT
"""hookrecv: a webhook receiver for the notification tests (issue 17).

One per test, in the test's own process (threads), on 127.0.0.1, over HTTP or HTTPS with the
test CA of tests/sim (make-test-ca). It records every request (method, path, headers, raw body,
time, what it answered) and answers per a mode the test sets at run time:

    ok            200 (body "ok", as Slack answers)
    status N      N with a short body (500, 413, 429, 400 "invalid_payload", ...)
    redirect      301 with a Location to the same receiver's /moved
    hang          reads the request and never answers (until the mode changes or the
                  receiver stops; then the connection is closed without an answer)
    slow S        answers 200 after S seconds
    down          the listening socket is closed (connection refused); `up()` opens it again
                  on the same port

It checks the X-Ecr-Deployd-Signature of a request itself (docs/notifications.md: t=<unix
seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>, compared in constant time, t at most
5 minutes old), with its own code, not the daemon's.

    from hookrecv import HookRecv, verify_signature
    r = HookRecv(ctx, tls_dir=ctx.path("tls"))   # or tls_dir=None for plain HTTP
    r.url, r.host, r.set_mode("status", 500), r.requests(), r.wait_requests(n, timeout)
    r.stop()

Run as a program (`hookrecv.py --port-file F [--tls-dir D] [--control-port-file C]`) it serves
the same, with the mode set by `POST /_recv/mode {"mode": ..., "arg": ...}` and the log read by
`GET /_recv/requests` on the control port (plain HTTP).
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_TEST_CA = os.path.join(ROOT, "tests", "sim", "make-test-ca")
SIGNATURE_HEADER = "X-Ecr-Deployd-Signature"
MAX_SKEW = 300  # seconds: a signature older than this is refused
MODES = ("ok", "status", "redirect", "hang", "slow", "down")


def sign(secret, t, body):
    """The documented scheme, for tests that forge a header: 't=<t>,v1=<hex>'."""
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def verify_signature(secret, header, body, now=None):
    """(ok, why): whether `header` (the X-Ecr-Deployd-Signature value, or None) signs `body`
    (raw bytes) with `secret` (bytes), as a receiver should check it."""
    if header is None:
        return False, "no %s header" % SIGNATURE_HEADER
    parts = {}
    for item in header.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep or k in parts:
            return False, "malformed signature header %r" % header
        parts[k] = v
    t, v1 = parts.get("t"), parts.get("v1")
    if t is None or v1 is None or not t.isdigit() or len(v1) != 64:
        return False, "malformed signature header %r" % header
    try:
        int(v1, 16)
    except ValueError:
        return False, "v1 is not hex: %r" % header
    now = time.time() if now is None else now
    if abs(now - int(t)) > MAX_SKEW:
        return False, "t=%s is %.0f s away from now" % (t, now - int(t))
    want = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, v1.lower()):
        return False, "HMAC mismatch"
    return True, "ok"


class Request:
    """One request as received. status: what was answered (None: no answer: hung, or the
    connection closed)."""

    def __init__(self, method, path, headers, body, at, peer):
        self.method, self.path, self.headers, self.body, self.at, self.peer = method, path, headers, body, at, peer
        self.status = None
        self.answered_at = None

    def header(self, name):
        """The value of a header (case-insensitive); None when absent; the last when repeated."""
        got = None
        for k, v in self.headers:
            if k.lower() == name.lower():
                got = v
        return got

    def header_count(self, name):
        return sum(1 for k, _ in self.headers if k.lower() == name.lower())

    def json(self):
        return json.loads(self.body)

    @property
    def key(self):
        return self.header("Idempotency-Key")

    def as_dict(self):
        return {"method": self.method, "path": self.path, "headers": self.headers,
                "body": base64.b64encode(self.body).decode(), "at": self.at, "status": self.status}

    def __repr__(self):
        return "<%s %s key=%s status=%s %d bytes>" % (self.method, self.path, self.key, self.status, len(self.body))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hookrecv"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        recv = self.server.recv
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(self.command, self.path, list(self.headers.items()), body, time.time(),
                      self.client_address)
        recv._record(req)
        mode, arg = recv.mode()
        if mode == "hang":
            recv._hang(req)
            self.close_connection = True
            return
        if mode == "slow":
            if recv._sleep(float(arg)):
                self.close_connection = True
                return
            self._answer(req, 200, b"ok")
        elif mode == "status":
            code = int(arg)
            self._answer(req, code, recv.status_body.get(code, b"error %d" % code))
        elif mode == "redirect":
            self._answer(req, 301, b"moved", [("Location", recv.url_base + "/moved")])
        else:
            self._answer(req, 200, b"ok")

    def _answer(self, req, code, body, headers=()):
        try:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            return
        req.status = code
        req.answered_at = time.time()
        self.server.recv._changed()

    do_POST = do_GET = do_PUT = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, recv, tls_ctx):
        self.recv = recv
        self.tls_ctx = tls_ctx
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_ctx is not None:
            sock.settimeout(10)
            sock = self.tls_ctx.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
        with self.conns_lock:
            self.conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """Ends every connection open now (a keep-alive one would outlive the listener)."""
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # a client that went away, a TLS handshake refused: not the test's business


class HookRecv:
    """A receiver owned by a test. tls_dir: a make-test-ca directory (made when it has no
    server.pem); None: plain HTTP. ctx: the harness Context (stopped at its cleanup), or None."""

    def __init__(self, ctx=None, tls_dir=None, secret=None):
        self.secret = secret
        self._lock = threading.Condition()
        self._reqs = []
        self._mode = ("ok", None)
        self._release = threading.Event()
        self._stopping = threading.Event()
        self.status_body = {400: b"invalid_payload", 404: b"no_service", 413: b"payload too large",
                            429: b"rate_limited", 500: b"internal error"}
        self.tls_ctx = None
        if tls_dir is not None:
            if not os.path.exists(os.path.join(tls_dir, "server.pem")):
                subprocess.run(["bash", MAKE_TEST_CA, tls_dir], check=True)
            self.ca = os.path.join(tls_dir, "ca.pem")
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"))
        else:
            self.ca = None
        self.port = 0
        self._server = None
        self._thread = None
        self.up()
        self.scheme = "https" if self.tls_ctx else "http"
        self.host = "127.0.0.1:%d" % self.port
        self.url_base = "%s://%s" % (self.scheme, self.host)
        if ctx is not None and hasattr(ctx, "finalizers"):
            ctx.finalizers.append(self.stop)

    def url(self, path="/hook"):
        return self.url_base + path

    # -- the listening socket -------------------------------------------------------------------
    def up(self):
        """Listens (again, on the same port after down())."""
        if self._server is not None:
            return
        self._server = _Server(("127.0.0.1", self.port), self, self.tls_ctx)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def down(self):
        """Closes the listening socket: new connections are refused. Requests in flight end
        without an answer."""
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        self._release.set()
        srv.close_connections()
        self._thread.join(5)

    def stop(self):
        self._stopping.set()
        self._release.set()
        self.down()

    # -- modes ----------------------------------------------------------------------------------
    def set_mode(self, mode, arg=None):
        if mode not in MODES and mode != "up":
            raise ValueError("unknown mode %r" % mode)
        if mode == "down":
            self._mode = ("ok", None)
            self.down()
            return
        if mode == "up":
            mode = "ok"
        with self._lock:
            old = self._mode
            self._mode = (mode, arg)
            if old[0] in ("hang", "slow") and mode not in ("hang", "slow"):
                self._release.set()
            elif mode in ("hang", "slow"):
                self._release = threading.Event()
        self.up()

    def mode(self):
        with self._lock:
            return self._mode

    def _hang(self, req):
        ev = self._release
        ev.wait()

    def _sleep(self, seconds):
        """True when the receiver was stopped (or released) first."""
        return self._release.wait(seconds) and self._stopping.is_set()

    # -- the log --------------------------------------------------------------------------------
    def _record(self, req):
        with self._lock:
            self._reqs.append(req)
            self._lock.notify_all()

    def _changed(self):
        with self._lock:
            self._lock.notify_all()

    def requests(self, path=None):
        with self._lock:
            return [r for r in self._reqs if path is None or r.path == path]

    def answered(self, status=200):
        return [r for r in self.requests() if r.status == status]

    def keys(self):
        """The distinct Idempotency-Keys received, in order of first arrival."""
        out = []
        for r in self.requests():
            if r.key not in out:
                out.append(r.key)
        return out

    def wait_requests(self, n, timeout, what=None, cond=None):
        """Waits until at least n requests (for which cond holds, when given) were received."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._reqs if cond is None or cond(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %.1fs waiting for %s (%d of %d requests: %r)"
                                         % (timeout, what or "requests", len(got), n, self._reqs[-5:]))
                self._lock.wait(min(left, 0.1))

    def verify(self, req, secret=None):
        """(ok, why) of the request's signature with secret (bytes; default this receiver's)."""
        return verify_signature(secret if secret is not None else self.secret, req.header(SIGNATURE_HEADER),
                                req.body)


# -- as a program: a control endpoint ----------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--control-port-file", required=True)
    ap.add_argument("--tls-dir")
    args = ap.parse_args()
    recv = HookRecv(None, tls_dir=args.tls_dir)

    class Control(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def _reply(self, obj, code=200):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_recv/requests":
                self._reply({"port": recv.port, "requests": [r.as_dict() for r in recv.requests()]})
            else:
                self._reply({"error": "not found"}, 404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/_recv/mode":
                return self._reply({"error": "not found"}, 404)
            try:
                m = json.loads(body)
                recv.set_mode(m["mode"], m.get("arg"))
            except (ValueError, KeyError, TypeError) as e:
                return self._reply({"error": str(e)}, 400)
            self._reply({"mode": list(recv.mode())})

    ctl = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    for path, port in ((args.port_file, recv.port), (args.control_port_file, ctl.server_address[1])):
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(path + ".tmp", path)
    try:
        ctl.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        recv.stop()


if __name__ == "__main__":
    main()
