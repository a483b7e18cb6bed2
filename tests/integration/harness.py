# SPDX-License-Identifier: MIT
"""Helpers for integration tests: start real processes, wait on conditions
with deadlines, and always clean up by PID.

Every process a test starts goes through Context.spawn() or Context.run();
the runner calls Context.cleanup() after each test whatever happened, which
sends SIGTERM to each process group still alive, then SIGKILL after a grace
period, and reaps them.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Skip(Exception):
    """Raised by a test that cannot run here; the reason is reported."""


class Failure(AssertionError):
    pass


def daemon_path():
    return os.environ.get("ECR_DEPLOYD_BIN") or os.path.join(ROOT, "build", "ecr-deployd")


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a true value, which is returned; raises
    Failure naming `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """A process started by a test, in its own process group."""

    def __init__(self, argv, env=None, cwd=None, stdout_path=None, stderr_path=None):
        self.argv = argv
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=err, start_new_session=True)
        finally:
            if stdout_path:
                out.close()
            if stderr_path:
                err.close()
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit within `timeout` seconds; returns the exit status."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) still running after %.1fs" % (self.argv[0], self.pid, timeout))

    def stop(self, grace=5.0):
        """SIGTERM to the group, then SIGKILL after `grace` seconds; reaps."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # The group may hold children even after the leader exited.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=grace)
        return self.popen.returncode

    def read_stderr(self):
        with open(self.stderr_path, "r", errors="replace") as f:
            return f.read()

    def read_stdout(self):
        with open(self.stdout_path, "r", errors="replace") as f:
            return f.read()


class Context:
    """What one test owns: a scratch directory and the processes it started."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="ecr-it-%s-" % name)
        self.procs = []
        # Secrets this test handed out or made: no output file may contain
        # them. Files that hold them on purpose (credential files, seeds,
        # the simulator's secrets file) are listed in secret_holders.
        self.secrets = set()
        self.secret_files = []
        self.secret_holders = set()
        self.outputs = []  # files (besides process output) to scan for leaks
        self.short_dirs = []  # made by control_socket() when the scratch path is too long
        self.finalizers = []  # called at cleanup, before the processes stop (in-process servers)

    def control_socket(self):
        """The path of this test's control socket (config control.socket), so that no test daemon
        uses /run/ecr-deployd: in the scratch directory, or in a short one of its own when that
        path would pass the 107 bytes a Unix socket's path may have."""
        p = self.path("ctl.sock")
        if len(p.encode()) <= 100:
            return p
        if not self.short_dirs:
            self.short_dirs.append(tempfile.mkdtemp(prefix="ecr-ctl-"))
        return os.path.join(self.short_dirs[0], "ctl.sock")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def spawn(self, argv, env=None, name=None):
        name = name or os.path.basename(argv[0])
        n = len(self.procs)
        p = Proc(argv, env=env, stdout_path=self.path("%s.%d.out" % (name, n)),
                 stderr_path=self.path("%s.%d.err" % (name, n)))
        self.procs.append(p)
        return p

    def run(self, argv, timeout=10.0, env=None):
        """Runs argv to completion; returns (status, stdout, stderr)."""
        p = self.spawn(argv, env=env)
        status = p.wait(timeout)
        return status, p.read_stdout(), p.read_stderr()

    def leaks(self):
        """Output (stdout and stderr of every process the test ran, and the
        files in self.outputs) that contains a secret, a signature or a
        session token header."""
        import re
        secrets = set(s for s in self.secrets if s)
        for f in self.secret_files:
            try:
                with open(f) as fh:
                    secrets.update(line.strip() for line in fh if line.strip())
            except FileNotFoundError:
                pass
        pattern = re.compile(rb"Signature=[0-9a-f]{64}|X-Amz-Security-Token:|Authorization: AWS4")
        found = []
        outputs = [p.stdout_path for p in self.procs] + [p.stderr_path for p in self.procs] + self.outputs
        for path in outputs:
            if not path or path in self.secret_holders or not os.path.exists(path):
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            hits = [s[:6] + "…" for s in secrets if s.encode() in data]
            if pattern.search(data):
                hits.append(pattern.search(data).group(0)[:20].decode() + "…")
            if hits:
                found.append("%s: %s" % (os.path.basename(path), ", ".join(hits)))
        return found

    def sanitizer_reports(self):
        """Processes whose stderr has an ASan, LSan or UBSan report."""
        found = []
        for p in self.procs:
            if p.stderr_path and os.path.exists(p.stderr_path):
                with open(p.stderr_path, "rb") as fh:
                    data = fh.read()
                for marker in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
                    if marker in data:
                        found.append("%s: %s" % (os.path.basename(p.stderr_path), marker.decode()))
        return found

    def cleanup(self):
        for fn in self.finalizers:
            try:
                fn()
            except Exception:  # noqa: BLE001 (cleanup goes on whatever one of them does)
                pass
        self.finalizers = []
        for p in self.procs:
            p.stop()
        self.procs = []
        for root, dirs, files in os.walk(self.tmp, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(self.tmp)
        for d in self.short_dirs:
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)
        self.short_dirs = []


# -- the control socket (docs/control.md) ------------------------------------

class CtlClient:
    """A connection to a control socket: raw bytes or requests out, reply lines in."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, cmd, args=None, id=None, v=1):
        req = {"v": v, "cmd": cmd}
        if args is not None:
            req["args"] = args
        if id is not None:
            req["id"] = id
        self.send_raw((json.dumps(req) + "\n").encode())

    def read_line(self, limit=16 * 1024 * 1024):
        """One line (without its newline), or None at the end of the stream."""
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise Failure("a control reply longer than %d bytes" % limit)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest.decode() if rest else None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def reply(self):
        """The next reply, parsed; None at the end of the stream."""
        line = self.read_line()
        return None if line is None else json.loads(line)

    def closed_by_peer(self, timeout):
        """Whether the server closes the connection within timeout seconds (anything it sends
        before is read and dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def ctl_connect(path, timeout=10):
    """A CtlClient connected to the control socket at path."""
    return CtlClient(path, timeout)


def ctl_request(path, cmd, args=None, id=None, timeout=10):
    """Sends one request to the control socket at path and returns its reply, parsed."""
    with CtlClient(path, timeout) as c:
        c.send(cmd, args, id)
        reply = c.reply()
    if reply is None:
        raise Failure("the control socket closed without a reply to %r" % cmd)
    return reply


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


# -- the AWS simulator -------------------------------------------------------

SIM = os.path.join(ROOT, "tests", "sim", "awssim")
MODELS = os.path.join(ROOT, "tests", "sim", "models")
PYTHON = "/usr/bin/python3"
SIM_KEY = ("AKIDAWSSIMEXAMPLE1", "awssim/static/secret/key/0123456789abcd")


class Sim:
    """A running awssim owned by a test Context. keys: (id, secret[, account])
    triples it accepts; seed: a world spec (dict); tls: also serve HTTPS with a
    CA made for this test (self.ca is its path)."""

    def __init__(self, ctx, keys=(SIM_KEY,), seed=None, tls=False):
        import json
        self.ctx = ctx
        port_file = ctx.path("sim.port")
        secrets_file = ctx.path("sim.secrets")
        argv = [PYTHON, SIM, "--port", "0", "--port-file", port_file, "--check-responses",
                "--secrets-file", secrets_file]
        ctx.secret_files.append(secrets_file)
        for k in keys:
            argv += ["--access-key", ":".join(k)]
            ctx.secrets.add(k[1])
        if seed is not None:
            argv += ["--seed", ctx.write("seed.json", json.dumps(seed))]
            ctx.secret_holders.add(ctx.path("seed.json"))
            ctx.secrets.update(k["secret"] for k in seed.get("keys", []))
        self.ca = None
        if tls:
            d = ctx.path("tls")
            subprocess.run(["bash", os.path.join(ROOT, "tests", "sim", "make-test-ca"), d], check=True)
            self.ca = os.path.join(d, "ca.pem")
            self.other_ca = os.path.join(d, "other-ca.pem")
            tls_file = ctx.path("sim.tlsport")
            argv += ["--tls-cert", os.path.join(d, "server.pem"), "--tls-key", os.path.join(d, "server.key"),
                     "--tls-port-file", tls_file]
        t0 = time.monotonic()
        self.proc = ctx.spawn(argv, name="awssim")
        self.port = int(wait_for(lambda: self._read(port_file), 10, "awssim to write its port file"))
        self.tls_port = int(wait_for(lambda: self._read(tls_file), 10, "awssim TLS port")) if tls else None
        self.start_seconds = time.monotonic() - t0
        self.url = "http://127.0.0.1:%d" % self.port
        self.tls_url = "https://127.0.0.1:%d" % self.tls_port if tls else None
        self.key = keys[0]

    def _read(self, path):
        if not self.proc.alive():
            raise Failure("awssim exited early: %s" % self.proc.read_stderr()[-2000:])
        try:
            with open(path) as f:
                text = f.read().strip()
            return text or None
        except FileNotFoundError:
            return None

    def control(self, method, path, body=None, expect=200):
        import json
        import urllib.error
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_sim" + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        out = json.loads(text)
        if expect is not None and status != expect:
            raise Failure("awssim %s %s: %d %s" % (method, path, status, out))
        return out

    def push(self, repository, tag, seed=None, **kw):
        return self.control("POST", "/push", dict(kw, repository=repository, tag=tag, seed=seed))["digest"]

    def seed(self, spec):
        return self.control("POST", "/seed", spec)

    def bad_digest(self, digest, mode="exit"):
        self.control("POST", "/bad-digest", {"digest": digest, "mode": mode})

    def settings(self, **kw):
        return self.control("POST", "/settings", kw)

    def fault(self, match, kind, **kw):
        return self.control("POST", "/faults", dict(kw, match=match, kind=kind))

    def requests(self, since=0, **match):
        reqs = self.control("GET", "/requests?since=%d" % since)["requests"]
        return [r for r in reqs if all(r.get(k) == v for k, v in match.items())]

    # -- EventBridge -> SQS (issue 14) ------------------------------------------
    def event_rule(self, queue, sources=("aws.ecr", "aws.ecs"), repositories=None, account=None, region=None):
        """An EventBridge rule: events of `sources` (ECR ones only of `repositories`, when given) of
        the account and region go to `queue` (a name or URL of that account and region)."""
        body = {"queue": queue, "sources": list(sources)}
        if repositories is not None:
            body["repositories"] = list(repositories)
        if account is not None:
            body["account"] = account
        if region is not None:
            body["region"] = region
        return self.control("POST", "/event-rules", body)

    def event_faults(self, drop=0, duplicate=0, delay=0.0, reorder=0, source=None):
        """Delivery faults of EventBridge (replacing the previous ones): drop the next `drop` events,
        send the next `duplicate` twice, deliver each `delay` seconds late, hold the next `reorder`
        and deliver them in reverse order; only events of `source` when given."""
        return self.control("POST", "/event-faults", {"drop": drop, "duplicate": duplicate, "delay": delay,
                                                      "reorder": reorder, "source": source})

    def queue_messages(self, queue, account=None, region=None):
        """Every message still in the queue (not deleted), oldest first: dicts {id, body,
        receive_count, visible, in_flight}."""
        import urllib.parse
        q = {"queue": queue}
        if account is not None:
            q["account"] = account
        if region is not None:
            q["region"] = region
        return self.control("GET", "/queue-messages?" + urllib.parse.urlencode(q))["messages"]

    def send_raw(self, queue, body, account=None, region=None):
        """Puts a message of the test's choosing on the queue; returns its MessageId."""
        req = {"queue": queue, "body": body}
        if account is not None:
            req["account"] = account
        if region is not None:
            req["region"] = region
        return self.control("POST", "/sqs-send", req)["MessageId"]

    def delete_image(self, repository, tag, account=None, region=None):
        """BatchDeleteImage of repository:tag through the simulator's own call path (the DELETE event
        is sent); returns the reply ({imageIds, failures})."""
        req = {"repository": repository, "tag": tag}
        if account is not None:
            req["account"] = account
        if region is not None:
            req["region"] = region
        return self.control("POST", "/delete-image", req)

    def client(self, service, key=None, region="us-east-1", token=None, validate=False, tls=False,
               verify=None, retries=1, read_timeout=30):
        """A boto3 client pointed at the simulator (the project's models;
        client-side validation off by default so that the simulator's own
        checks are what a test sees; no retries unless asked)."""
        os.environ["AWS_DATA_PATH"] = MODELS
        import boto3
        from botocore.config import Config
        key = key or self.key
        session = boto3.session.Session(aws_access_key_id=key[0], aws_secret_access_key=key[1],
                                        aws_session_token=token, region_name=region)
        cfg = Config(retries={"total_max_attempts": retries, "mode": "standard"}, parameter_validation=validate,
                     read_timeout=read_timeout, connect_timeout=5)
        c = session.client(service, endpoint_url=self.tls_url if tls else self.url, config=cfg,
                           verify=verify if verify is not None else (self.ca if tls else None))
        if service == "sqs":
            # Current botocore sends this for query-compatible JSON services;
            # Debian's 1.29 predates it.
            def add_query_mode(request, **_):
                request.headers["x-amzn-query-mode"] = "true"
            c.meta.events.register("before-sign.sqs.*", add_query_mode)
        return c


def aws_error(fn, *args, **kwargs):
    """Calls fn expecting a botocore ClientError; returns (code, message, http status, headers)."""
    import botocore.exceptions
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        return err.get("Code"), err.get("Message", ""), meta.get("HTTPStatusCode"), meta.get("HTTPHeaders", {})
    raise Failure("expected an AWS error from %s" % getattr(fn, "__name__", fn))
