# SPDX-License-Identifier: MIT
"""ecr-deployctl, the client: its command line and usage errors, the requests it sends, how it
renders the daemon's replies (colour only on a TTY, hostile values escaped), and its exit codes
for every kind of failure. Most tests talk to a fake server in this file (a Unix socket that
answers canned replies of docs/control.md's shapes), so that the client is tested on its own;
the last ones talk to the real daemon."""

import calendar
import json
import os
import pty
import re
import select
import socket
import subprocess
import threading
import time

from harness import ROOT, Skip, check, check_eq, daemon_path, wait_for

EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_SOFTWARE = 64, 65, 69, 70
EX_IOERR, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM, EX_CONFIG = 74, 75, 76, 77, 78

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "abcdef012345" + "6" * 52
NOW = time.time()
ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def ctl_path():
    return os.path.join(os.path.dirname(daemon_path()), "ecr-deployctl")


def ok(result):
    return {"v": 1, "ok": True, "result": result}


def error(code, exit, message, **extra):
    e = {"code": code, "message": message, "exit": exit}
    e.update(extra)
    return {"v": 1, "ok": False, "error": e}


def status_result():
    """A status of two watches and four targets, one per kind of note; times relative to now."""
    now = time.time()
    return {
        "version": "0.1.0", "pid": 4242, "started": now - 7800, "dry_run": False, "frozen": None,
        "poll": {"interval": 60, "cycles": 12, "last_cycle": now - 12, "last_ok": now - 12,
                 "failing": [{"repository": "team/api", "region": "us-east-1",
                              "error": "AccessDeniedException: not allowed"}]},
        "events": {"queues": [{"url": "https://sqs.us-east-1.amazonaws.com/1/q", "state": "ok",
                               "last_message": now - 5, "error": None}]},
        "rollouts_in_flight": 1,
        "watches": [
            {"name": "web", "repository": "team/web", "region": "us-east-1", "rule": "tag", "tag": "prod",
             "digest": D2, "paused": None,
             "targets": [
                 {"name": "web/web", "cluster": "prod", "service": "web", "strategy": "revision",
                  "state": "tracking", "detail": "3/4 tasks", "wanted": D2, "deployed": D1,
                  "task_definition": "arn:aws:ecs:us-east-1:1:task-definition/web:7", "pinned": None,
                  "paused": None, "awaiting_approval": None, "blocked": None,
                  "rollout": {"digest": D2, "step": "tracking", "started": now - 72, "kind": "deploy"},
                  "failed": []},
                 {"name": "web/worker", "cluster": "prod", "service": "worker", "strategy": "revision",
                  "state": "pinned", "detail": None, "wanted": D3, "deployed": D3,
                  "task_definition": "arn:aws:ecs:us-east-1:1:task-definition/worker:12",
                  "pinned": {"digest": D3, "tag": "v1.2", "by": {"uid": 0, "pid": 9}, "at": now - 60},
                  "paused": None, "awaiting_approval": None, "blocked": None, "rollout": None,
                  "failed": [D1]}]},
            {"name": "api", "repository": "team/api", "region": "us-east-1", "rule": "tag", "tag": "prod",
             "digest": D1,
             "paused": {"reason": "incident 42", "until": now + 3600, "by": {"uid": 1000, "pid": 7},
                        "at": now - 10},
             "targets": [
                 {"name": "api/api", "cluster": "prod", "service": "api", "strategy": "revision",
                  "state": "paused", "detail": None, "wanted": D1, "deployed": None,
                  "task_definition": None, "pinned": None, "paused": None, "awaiting_approval": None,
                  "blocked": None, "rollout": None, "failed": []},
                 {"name": "api/batch", "cluster": "prod", "service": "batch", "strategy": "revision",
                  "state": "blocked", "detail": None, "wanted": D1, "deployed": D1,
                  "task_definition": "arn:aws:ecs:us-east-1:1:task-definition/batch:3", "pinned": None,
                  "paused": None, "awaiting_approval": None,
                  "blocked": {"error": "ClientException: no such service", "retry_at": now + 30},
                  "rollout": None, "failed": []}]}]}


class FakeServer:
    """A control socket that records each request and answers it with replies[cmd]: a dict (sent as
    one JSON line), bytes (sent as they are), "close" (closes without a reply) or "hang" (never
    answers)."""

    def __init__(self, ctx, replies, path=None):
        self.path = path or ctx.path("control.sock")
        self.replies = replies
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.stopping = False
        self.held = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        buf = b""
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            buf += chunk
        req = json.loads(buf.split(b"\n")[0])
        self.requests.append(req)
        reply = self.replies.get(req.get("cmd"), error("unknown-command", 64, "no such command"))
        if callable(reply):
            reply = reply(req)
        if reply == "hang":
            self.held.append(conn)
            return
        if reply != "close":
            conn.sendall(reply if isinstance(reply, bytes) else json.dumps(reply).encode() + b"\n")
        conn.close()

    def stop(self):
        # shutdown() wakes an accept() in progress; the thread is gone before the descriptor is
        # closed, so that it can never accept on the next test's socket should that reuse the number.
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        check(not self.thread.is_alive(), "the fake server's thread ended")
        self.sock.close()
        for c in self.held:
            c.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def env_for(sock=None, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "ECR_DEPLOYCTL_SOCKET")}
    env["TZ"] = "UTC"
    env["TERM"] = "xterm"
    if sock:
        env["ECR_DEPLOYCTL_SOCKET"] = sock
    env.update(extra)
    return env


def ctl(ctx, args, sock=None, timeout=20.0, **env):
    """Runs ecr-deployctl (stdout a pipe); returns (status, stdout, stderr)."""
    return ctx.run([ctl_path()] + list(args), timeout=timeout, env=env_for(sock, **env))


def ctl_tty(args, sock, **env):
    """Runs ecr-deployctl with stdout on a pseudo-terminal; returns (status, raw stdout bytes)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([ctl_path()] + list(args), stdout=slave, stderr=subprocess.PIPE,
                         env=env_for(sock, **env))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    status = p.wait(10)
    os.close(master)
    return status, out


# --- the command line ------------------------------------------------------------------------


def test_help_and_version(ctx):
    status, out, err = ctl(ctx, ["--help"])
    check_eq(status, 0, "--help exit status")
    check(out.startswith("Usage: ecr-deployctl"), "usage on stdout: %r" % out[:80])
    for word in ("status", "history", "pause", "resume", "pin", "unpin", "deploy", "rollback", "retry",
                 "approve", "reject", "reload", "metrics", "version", "--socket", "--timeout", "--json"):
        check(word in out, "the help names %s" % word)
    check("__complete" not in out, "the completion helper stays hidden")
    status, out, err = ctl(ctx, ["--version"])
    check_eq(status, 0, "--version exit status")
    check(re.match(r"^ecr-deployctl \d+\.\d+\.\d+", out), "--version: %r" % out)


def test_usage_errors_exit_64_and_send_nothing(ctx):
    with FakeServer(ctx, {}) as srv:
        cases = [
            ([], "a command is needed"),
            (["stauts"], "unknown command 'stauts'"),
            (["--no-such"], "unknown option '--no-such'"),
            (["--timeout", "0", "status"], "--timeout '0'"),
            (["--timeout", "soon", "status"], "--timeout 'soon'"),
            (["status", "--force"], "status does not take --force"),
            (["status", "extra"], "unexpected argument 'extra'"),
            (["history", "-n", "0"], "-n '0'"),
            (["history", "-n", "1001"], "-n '1001'"),
            (["history", "-n"], "needs a value"),
            (["pause"], "one of them"),
            (["pause", "web", "--all"], "one of them"),
            (["pause", "web", "--until", "yesterday"], "--until 'yesterday'"),
            (["pause", "web", "--until", "2020-01-01T00:00:00Z"], "has passed"),
            (["pause", "web", "--until", "25:00"], "--until '25:00'"),
            (["pause", "web", "--reason", "x" * 257], "--reason is 257 bytes"),
            (["resume"], "one of them"),
            (["pin", "web/web"], "missing argument"),
            (["pin", "web/web", "sha256:abc"], "'sha256:abc' is not a digest"),
            (["pin", "web/web", "bad tag!"], "neither a digest"),
            (["unpin"], "missing argument"),
            (["deploy"], "missing argument"),
            (["deploy", "web", "--digest", "sha256:ABC"], "--digest 'sha256:ABC' is not a digest"),
            (["retry", "web/web", "latest"], "'latest' is not a digest"),
            (["rollback", "a", "b"], "unexpected argument 'b'"),
            (["approve"], "missing argument"),
            (["metrics", "--json"], "metrics does not take --json"),
        ]
        for args, want in cases:
            status, out, err = ctl(ctx, args, sock=srv.path)
            check_eq(status, EX_USAGE, "exit status of %r (stderr %r)" % (args, err))
            check(err.startswith("ecr-deployctl: ") and want in err, "%r: stderr %r lacks %r" % (args, err, want))
            check_eq(out, "", "stdout of %r" % (args,))
        status, _, err = ctl(ctx, ["stauts"], sock=srv.path)
        check("did you mean:\n  status\n" in err, "a close command is suggested: %r" % err)
        check_eq(srv.requests, [], "no usage error reached the socket")


def test_missing_or_refusing_socket_is_unavailable(ctx):
    missing = ctx.path("nope.sock")
    status, out, err = ctl(ctx, ["status"], sock=missing)
    check_eq(status, EX_UNAVAILABLE, "exit status (stderr %r)" % err)
    check("is ecr-deployd running? socket '%s': No such file or directory" % missing in err, "stderr %r" % err)
    # A socket file nobody listens on (a dead daemon's): refused.
    dead = ctx.path("dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(dead)
    s.close()
    status, out, err = ctl(ctx, ["-s", dead, "status"])
    check_eq(status, EX_UNAVAILABLE, "exit status for a dead socket (stderr %r)" % err)
    check("is ecr-deployd running?" in err and "Connection refused" in err, "stderr %r" % err)
    # The default path, then the environment, then --socket.
    status, out, err = ctl(ctx, ["status"])
    check("socket '/run/ecr-deployd/control.sock'" in err or status == 0, "the default socket: %r" % err)
    with FakeServer(ctx, {"version": ok({"version": "0.1.0", "revision": "", "protocol": 1, "pid": 1})}) as srv:
        status, out, err = ctl(ctx, ["--socket", srv.path, "version"], sock=missing)
        check_eq(status, 0, "--socket wins over the environment (stderr %r)" % err)


def test_permission_denied_names_the_group(ctx):
    if os.getuid() != 0:
        raise Skip("needs root to run the client as nobody")
    os.chmod(ctx.tmp, 0o755)
    with FakeServer(ctx, {}) as srv:
        os.chmod(srv.path, 0o660)
        os.chown(srv.path, 0, 0)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ctl_path(),
                            "-s", srv.path, "status"], capture_output=True, text=True, timeout=20,
                           env=env_for())
        check_eq(r.returncode, EX_NOPERM, "exit status (stderr %r)" % r.stderr)
        check("Permission denied" in r.stderr and "group 'root'" in r.stderr and "usermod -aG root" in r.stderr,
              "the message says which group gives access: %r" % r.stderr)
        check_eq(srv.requests, [], "nothing was sent")


# --- rendering -------------------------------------------------------------------------------


def test_status_on_a_pipe_is_an_aligned_table_without_colour(ctx):
    with FakeServer(ctx, {"status": ok(status_result())}) as srv:
        status, out, err = ctl(ctx, ["status"], sock=srv.path)
        check_eq(status, 0, "exit status (stderr %r)" % err)
        check_eq(srv.requests, [{"v": 1, "cmd": "status"}], "the request")
        check("\x1b" not in out, "no escape codes in a pipe: %r" % out)
        lines = out.splitlines()
        check(lines[0].startswith("ecr-deployd 0.1.0, pid 4242, up 2h10m"), "header: %r" % lines[0])
        # Times are shown relative to the client's clock: a loaded machine may take a second or two.
        check(re.search(r"poll: every 1m0s, last 1[2-5]s ago", out), "the last poll: %r" % out)
        check("failing: team/api (us-east-1): AccessDeniedException: not allowed" in out, "failing repository")
        check(re.search(r"events: https://sqs.us-east-1.amazonaws.com/1/q ok, last message [5-8]s ago", out),
              "queue health: %r" % out)
        check("rollouts in flight: 1" in out, "rollouts in flight")
        head = [l for l in lines if l.startswith("TARGET")]
        check(len(head) == 1, "one table header: %r" % out)
        cols = [head[0].index(c) for c in ("STATE", "WANTED", "DEPLOYED", "TASK DEF", "NOTE")]
        rows = {l.split()[0]: l for l in lines[lines.index(head[0]) + 1:]}
        check_eq(sorted(rows), ["api/api", "api/batch", "web/web", "web/worker"], "one row per target")
        for name, row in rows.items():
            for c in cols[1:]:
                check(row[c - 2:c] == "  " and row[c] != " ", "%s: column at %d aligned: %r" % (name, c, row))
        web = rows["web/web"]
        check(web[cols[0]:].startswith("tracking (3/4 tasks)"), "state and detail: %r" % web)
        check(web[cols[1]:].startswith("sha256:222222222222 "), "short wanted digest: %r" % web)
        check(web[cols[2]:].startswith("sha256:111111111111 "), "short deployed digest: %r" % web)
        check(web[cols[3]:].startswith("web:7 "), "task definition family:revision: %r" % web)
        check(re.search(r"deploy of sha256:222222222222 started 1m1[2-5]s ago", web), "the rollout: %r" % web)
        check(D1 not in out and D2 not in out, "no full digest in the table")
        worker = rows["web/worker"]
        check("pinned to sha256:abcdef012345 (tag 'v1.2') by uid 0" in worker, "pin note: %r" % worker)
        check("1 failed digest" in worker, "failed digests counted: %r" % worker)
        api = rows["api/api"]
        check(re.search(r"watch paused 'incident 42' until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in (59m\d+s|1h0m)\) by uid 1000",
                        api), "the watch's pause: %r" % api)
        check(api[cols[1] + 0:].startswith("sha256:111111111111") and api[cols[2]:].startswith("- "),
              "a missing deployed digest is '-': %r" % api)
        batch = rows["api/batch"]
        check("blocked: ClientException: no such service, retry in" in batch, "blocked note: %r" % batch)
    # A frozen daemon in dry-run mode says so in the header, and every target's note says frozen.
    res = status_result()
    res["dry_run"] = True
    res["frozen"] = {"reason": "release freeze", "until": None, "by": {"uid": 0, "pid": 1}, "at": NOW - 5}
    res["watches"][1]["paused"] = None
    with FakeServer(ctx, {"status": ok(res)}) as srv:
        status, out, err = ctl(ctx, ["status"], sock=srv.path)
        check_eq(status, 0, "exit status (stderr %r)" % err)
        check("\nDRY RUN: nothing is changed in AWS\n" in out, "dry run in the header: %r" % out)
        check("\nFROZEN: no new rollout anywhere: 'release freeze' by uid 0\n" in out, "the freeze: %r" % out)
        check(re.search(r"\napi/api .*  frozen\n", out), "a target's note says frozen: %r" % out)


def test_status_colour_only_on_a_tty(ctx):
    with FakeServer(ctx, {"status": ok(status_result())}) as srv:
        status, out = ctl_tty(["status"], srv.path)
        check_eq(status, 0, "exit status on a TTY")
        check(b"\x1b[33mtracking (3/4 tasks)\x1b[0m" in out, "tracking in yellow: %r" % out)
        check(b"\x1b[36mpinned\x1b[0m" in out and b"\x1b[36mpaused\x1b[0m" in out, "pinned and paused in cyan")
        check(b"\x1b[31mblocked\x1b[0m" in out, "blocked in red")
        # Colour does not move the columns: without it the lines are those of the pipe.
        plain = ANSI.sub(b"", out).replace(b"\r\n", b"\n").decode()
        _, piped, _ = ctl(ctx, ["status"], sock=srv.path)
        table = lambda text: [l[:l.index("NOTE")] if l.startswith("TARGET") else l.split()[0]
                              for l in text[text.index("\nTARGET"):].splitlines()[1:]]
        check_eq(table(plain), table(piped), "the TTY's table without colour is the pipe's")
        status, out = ctl_tty(["status"], srv.path, NO_COLOR="1")
        check(b"\x1b" not in out, "NO_COLOR: no escape codes: %r" % out[:200])
        status, out = ctl_tty(["status"], srv.path, TERM="dumb")
        check(b"\x1b" not in out, "TERM=dumb: no escape codes")


def test_json_prints_every_number_exactly(ctx):
    """cJSON prints a double with 15 digits whenever they read back within an epsilon of it: this
    Unix time (seen in a CI run) came out as 1796108235.65297. --json prints it exactly."""
    exact = {"started": 1796108235.6529698, "list": [1796116023.6529698, 0.1, 5, -2.5e-7],
             "deep": {"at": 1796108235.6529698}}
    with FakeServer(ctx, {"status": ok(exact)}) as srv:
        status, out, err = ctl(ctx, ["status", "--json"], sock=srv.path)
        check_eq(status, 0, "exit status")
        check_eq(json.loads(out), exact, "the numbers as received")


def test_json_passes_the_result_through(ctx):
    result = status_result()
    with FakeServer(ctx, {"status": ok(result), "history": ok({"entries": []})}) as srv:
        for args in (["status", "--json"], ["--json", "status"]):
            status, out, err = ctl(ctx, args, sock=srv.path)
            check_eq(status, 0, "exit status of %r" % args)
            check_eq(json.loads(out), json.loads(json.dumps(result)), "%r prints the result as received" % args)
            check(out.count("\n") > 10, "pretty-printed")
        status, out = ctl_tty(["status", "--json"], srv.path)
        check(b"\x1b" not in out, "no colour in JSON even on a TTY")
        status, out, err = ctl(ctx, ["history", "--json"], sock=srv.path)
        check_eq(json.loads(out), {"entries": []}, "history --json")


def test_hostile_values_are_escaped(ctx):
    evil = "web\x1b[2J\x1b]0;owned\x07\r\nFAKE LINE\u202e"
    res = status_result()
    t = res["watches"][0]["targets"][0]
    t["name"] = evil
    t["detail"] = "3/4\ntasks\x1b[31m"
    t["task_definition"] = "arn:aws:ecs:x:1:task-definition/" + evil
    res["watches"][1]["paused"]["reason"] = "because\x1b[5m'\\"
    res["poll"]["failing"][0]["error"] = "Denied\x9b2J"
    hist = {"entries": [{"at": NOW - 30, "started": NOW - 90, "watch": "web", "target": evil,
                         "digest": "sha256:\x1b[2J", "tag": "v\x07", "from_task_definition": None,
                         "to_task_definition": None, "result": "failed", "duration": 60,
                         "reason": "x\ny\x1b[1m", "by": "auto", "caller": None}]}
    replies = {"status": ok(res), "history": ok(hist),
               "pin": error("unknown-target", 64, "no target 'w\x1b[2Jb'",
                            candidates=["web/web\x1b[1m", "web\nwe"]),
               "metrics": ok({"text": "# HELP x\x1b[2J y\nx 1\n"})}
    with FakeServer(ctx, replies) as srv:
        for args in (["status"], ["history"], ["pin", "web", "v1"], ["metrics"]):
            status, out, err = ctl(ctx, args, sock=srv.path)
            for name, text in (("stdout", out), ("stderr", err)):
                check("\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text
                      and "\x9b" not in text, "%r %s: no control character reaches the terminal: %r"
                      % (args, name, text))
            if args == ["status"]:
                check("web\\x1b[2J\\x1b]0;owned\\x07\\r\\nFAKE LINE\\u202e" in out, "the name escaped: %r" % out)
                check(not any(l.startswith("FAKE LINE") for l in out.splitlines()), "no forged line")
                check("because\\x1b[5m\\'\\\\" in out, "the reason escaped, quotes and backslashes too")
            if args == ["pin", "web", "v1"]:
                check_eq(status, EX_USAGE, "the error's exit code")
                check("no target 'w\\x1b[2Jb'" in err and "  web/web\\x1b[1m\n" in err and "  web\\nwe\n" in err,
                      "message and candidates escaped: %r" % err)
            if args == ["metrics"]:
                check_eq(out, "# HELP x\\x1b[2J y\nx 1\n", "metrics: only the control characters escaped")


def test_history_table(ctx):
    now = time.time()
    hist = {"entries": [
        {"at": now - 30, "started": now - 102, "watch": "web", "target": "web/web", "digest": D2, "tag": "prod",
         "from_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/web:6",
         "to_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/web:7", "result": "completed",
         "duration": 72, "reason": None, "by": "auto", "caller": None},
        {"at": calendar.timegm((2026, 11, 1, 8, 0, 0)), "started": 0, "watch": "web", "target": "web/web",
         "digest": D1, "tag": None, "from_task_definition": None,
         "to_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/web:5", "result": "rolled-back",
         "duration": 3725, "reason": "rolled back by an operator", "by": "operator",
         "caller": {"uid": 1000, "pid": 5}}]}
    with FakeServer(ctx, {"history": ok(hist)}) as srv:
        status, out, err = ctl(ctx, ["history", "web/web", "-n", "5"], sock=srv.path)
        check_eq(status, 0, "exit status (stderr %r)" % err)
        check_eq(srv.requests[-1], {"v": 1, "cmd": "history", "args": {"name": "web/web", "n": 5}}, "the request")
        lines = out.splitlines()
        check(lines[0].split() == ["WHEN", "TARGET", "DIGEST", "TAG", "FROM", "→", "TO", "RESULT", "DURATION", "BY",
                                   "REASON"], "header: %r" % lines[0])
        check(re.match(r"^3\ds ago +web/web +sha256:222222222222 +prod +web:6 → web:7 +completed +1m12s +auto +-$",
                       lines[1]), "a recent entry, relative: %r" % lines[1])
        check(re.match(r"^2026-11-01 08:00:00 +web/web +sha256:111111111111 +- +- → web:5 +rolled-back +1h2m "
                       r"+uid 1000 +rolled back by an operator$", lines[2]), "an old entry, local time: %r" % lines[2])
        status, out, err = ctl(ctx, ["history"], sock=srv.path)
        check_eq(srv.requests[-1], {"v": 1, "cmd": "history", "args": {}}, "history without a name")


# --- requests and replies of each command ----------------------------------------------------


def test_each_command_sends_its_arguments(ctx):
    replies = {
        "pause": lambda r: ok({"paused": r["args"].get("name", "*"), "until": r["args"].get("until")}),
        "resume": lambda r: ok({"resumed": r["args"].get("name", "*")}),
        "pin": lambda r: ok({"target": "web/web", "digest": r["args"].get("digest", D2), "tag": r["args"].get("tag")}),
        "unpin": ok({"unpinned": "web/web"}),
        "deploy": ok({"started": [{"target": "web/web", "digest": D2}],
                      "skipped": [{"target": "web/worker", "reason": "a rollout holds it"}]}),
        "rollback": ok({"target": "web/web", "from": D2, "to": D1}),
        "retry": ok({"target": "web/web", "digest": D1}),
        "approve": ok({"target": "web/web", "hook": "h-1", "action": "CONTINUE"}),
        "reject": ok({"target": "web/web", "hook": "h-1", "action": "ROLLBACK"}),
        "version": ok({"version": "0.1.0", "revision": "abc", "protocol": 1, "pid": 77}),
    }
    cases = [
        (["pause", "web", "--reason", "incident 42"], {"name": "web", "reason": "incident 42"}, "paused web\n"),
        (["pause", "--all"], {"all": True}, "paused everything: no new rollout starts anywhere\n"),
        (["resume", "web/web"], {"name": "web/web"}, "resumed web/web\n"),
        (["resume", "--all"], {"all": True}, "resumed everything\n"),
        (["pin", "web/web", D1], {"target": "web/web", "digest": D1}, "pinned web/web to %s; " % D1),
        (["pin", "web/web", "v1.2", "--force"], {"target": "web/web", "tag": "v1.2", "force": True},
         "pinned web/web to %s (tag v1.2)" % D2),
        (["unpin", "web/web"], {"target": "web/web"}, "unpinned web/web; it follows its watch again\n"),
        (["deploy", "web"], {"watch": "web"}, "started web/web: %s\nskipped web/worker: a rollout holds it\n" % D2),
        (["deploy", "web", "--digest", D1, "--target", "web/web", "--force"],
         {"watch": "web", "digest": D1, "target": "web/web", "force": True}, "started web/web"),
        (["rollback", "web/web"], {"target": "web/web"}, "rolling web/web back from %s to %s\n" % (D2, D1)),
        (["retry", "web/web", D1], {"target": "web/web", "digest": D1}, "forgot the failure of %s on web/web" % D1),
        (["approve", "web/web"], {"target": "web/web"}, "approved web/web: hook h-1, CONTINUE\n"),
        (["reject", "web/web"], {"target": "web/web"}, "rejected web/web: hook h-1, ROLLBACK\n"),
        (["version"], None, "ecr-deployd 0.1.0 (abc), protocol 1, pid 77\necr-deployctl "),
    ]
    with FakeServer(ctx, replies) as srv:
        for args, want_args, want_out in cases:
            status, out, err = ctl(ctx, args, sock=srv.path)
            check_eq(status, 0, "%r exit status (stderr %r)" % (args, err))
            want = {"v": 1, "cmd": args[0]}
            if want_args is not None:
                want["args"] = want_args
            check_eq(srv.requests[-1], want, "%r: the request" % args)
            check(out.startswith(want_out), "%r: output %r, wanted it to start with %r" % (args, out, want_out))


def test_until_forms_are_sent_as_absolute_times(ctx):
    with FakeServer(ctx, {"pause": lambda r: ok({"paused": "web", "until": r["args"].get("until")})}) as srv:
        def sent(until, **env):
            status, out, err = ctl(ctx, ["pause", "web", "--until", until], sock=srv.path, **env)
            check_eq(status, 0, "--until %s exit status (stderr %r)" % (until, err))
            return srv.requests[-1]["args"]["until"], out
        for form, secs in (("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)):
            t0 = time.time()
            got, out = sent(form)
            check(t0 + secs - 1 <= got <= time.time() + secs + 1, "--until %s: %r, now %r" % (form, got, t0))
        got, out = sent("2099-12-01T08:00:00Z")
        check_eq(got, calendar.timegm((2099, 12, 1, 8, 0, 0)), "RFC 3339 in UTC")
        check("until 2099-12-01 08:00:00 (in " in out, "the output says the local time: %r" % out)
        got, _ = sent("2099-12-01T08:00:00+02:00")
        check_eq(got, calendar.timegm((2099, 12, 1, 6, 0, 0)), "RFC 3339 with an offset")
        got, _ = sent("2099-12-01T08:00:00.5-01:30")
        check_eq(got, calendar.timegm((2099, 12, 1, 9, 30, 0)) + 0.5, "fractional seconds and a negative offset")
        # HH:MM: local time, today or tomorrow; checked in two zones.
        for tz, offset in (("UTC", 0), ("Etc/GMT-3", 3 * 3600)):
            now = time.time()
            local = time.gmtime(now + offset + 120)  # two minutes ahead, in that zone
            hhmm = "%02d:%02d" % (local.tm_hour, local.tm_min)
            got, _ = sent(hhmm, TZ=tz)
            want = calendar.timegm(local[:5] + (0,)) - offset
            check_eq(got, want, "--until %s in %s (today)" % (hhmm, tz))
            earlier = time.gmtime(now + offset - 3600)
            hhmm = "%02d:%02d" % (earlier.tm_hour, earlier.tm_min)
            got, _ = sent(hhmm, TZ=tz)
            want = calendar.timegm(earlier[:5] + (0,)) - offset + 86400
            check_eq(got, want, "--until %s in %s (passed: tomorrow)" % (hhmm, tz))


def test_error_replies_exit_with_their_code(ctx):
    codes = [("unknown-target", 64), ("unknown-digest", 65), ("nothing-to-do", 69), ("internal", 70),
             ("state-error", 74), ("busy", 75), ("unsupported-version", 76), ("permission-denied", 77)]
    for code, exit in codes:
        extra = {"candidates": ["web/web", "web/worker"]} if code == "unknown-target" else {}
        if code == "unsupported-version":
            extra = {"versions": [2]}
        with FakeServer(ctx, {"rollback": error(code, exit, "target 'wbe/web': %s" % code, **extra)}) as srv:
            status, out, err = ctl(ctx, ["rollback", "wbe/web"], sock=srv.path)
            check_eq(status, exit, "%s exit status (stderr %r)" % (code, err))
            check(err.startswith("ecr-deployctl: target 'wbe/web': %s\n" % code), "%s stderr %r" % (code, err))
            check_eq(out, "", "%s stdout" % code)
            if code == "unknown-target":
                check(err.endswith("did you mean:\n  web/web\n  web/worker\n"), "candidates one per line: %r" % err)
            if code == "unsupported-version":
                check("protocol versions [2]" in err, "the daemon's versions: %r" % err)
    with FakeServer(ctx, {"rollback": {"v": 1, "ok": False,
                                       "error": {"code": "x", "message": "m", "exit": 300}}}) as srv:
        status, _, err = ctl(ctx, ["rollback", "a"], sock=srv.path)
        check_eq(status, EX_PROTOCOL, "an exit code out of range is not a reply of the protocol (stderr %r)" % err)


def test_reload_rejected_exits_78_with_the_errors(ctx):
    replies = {"reload": ok({"reloaded": False, "errors": ["/etc/x.json:3:7: watches[0].tag: expected a string",
                                                          "/etc/x.json:9:1: unknown key 'tga'"]})}
    with FakeServer(ctx, replies) as srv:
        status, out, err = ctl(ctx, ["reload"], sock=srv.path)
        check_eq(status, EX_CONFIG, "exit status (stderr %r)" % err)
        check("the configuration was rejected" in err and "/etc/x.json:3:7: watches[0].tag: expected a string\n" in err
              and "/etc/x.json:9:1: unknown key 'tga'\n" in err, "the errors on stderr: %r" % err)
        status, out, err = ctl(ctx, ["reload", "--json"], sock=srv.path)
        check_eq(status, EX_CONFIG, "--json: still 78")
        check_eq(json.loads(out)["reloaded"], False, "--json prints the result")
    with FakeServer(ctx, {"reload": ok({"reloaded": True, "warnings": ["watch 'a' has no targets"]})}) as srv:
        status, out, err = ctl(ctx, ["reload"], sock=srv.path)
        check_eq(status, 0, "an accepted reload")
        check_eq(out, "reloaded\n", "stdout")
        check_eq(err, "warning: watch 'a' has no targets\n", "the warnings on stderr")


def test_metrics_prints_the_text_as_is(ctx):
    text = ('# HELP ecr_deployd_info Build information.\n# TYPE ecr_deployd_info gauge\n'
            'ecr_deployd_info{version="0.1.0"} 1\nx{a="b\\\\c\\"d\\n"} 2.5e+06\n')
    with FakeServer(ctx, {"metrics": ok({"text": text})}) as srv:
        status, out, err = ctl(ctx, ["metrics"], sock=srv.path)
        check_eq(status, 0, "exit status (stderr %r)" % err)
        check_eq(out, text, "the exposition byte for byte")


def test_bad_replies(ctx):
    cases = [(b"this is not json\n", EX_PROTOCOL, "not one of protocol version 1"),
             (b'{"v": 2, "ok": true, "result": {}}\n', EX_PROTOCOL, "not one of protocol version 1"),
             (b'{"v": 1, "ok": true, "res', EX_PROTOCOL, "in the middle of its reply"),
             ("close", EX_PROTOCOL, "closed the connection before replying")]
    for reply, want, msg in cases:
        with FakeServer(ctx, {"status": reply}) as srv:
            status, out, err = ctl(ctx, ["status"], sock=srv.path)
            check_eq(status, want, "%r: exit status (stderr %r)" % (reply, err))
            check(msg in err, "%r: stderr %r" % (reply, err))
    with FakeServer(ctx, {"status": "hang"}) as srv:
        t0 = time.monotonic()
        status, out, err = ctl(ctx, ["--timeout", "1", "status"], sock=srv.path)
        took = time.monotonic() - t0
        check_eq(status, EX_TEMPFAIL, "a daemon that never answers (stderr %r)" % err)
        check("no reply from the daemon within the timeout" in err, "stderr %r" % err)
        check(0.9 <= took < 5, "gave up after about the timeout: %.1fs" % took)


# --- completion, man page --------------------------------------------------------------------


COMPLETION = os.path.join(ROOT, "daemon", "ctl", "ecr-deployctl.bash")


def complete(ctx, words, sock):
    """COMPREPLY of the completion function for the command line words (the last one being
    completed)."""
    script = ('source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_ecr_deployctl\nprintf "%%s\\n" "${COMPREPLY[@]}"\n'
              % (COMPLETION, " ".join("'%s'" % w for w in words), len(words) - 1))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20,
                       env=env_for(sock, PATH=os.path.dirname(ctl_path()) + ":" + os.environ["PATH"]))
    check_eq(r.returncode, 0, "completion of %r (stderr %r)" % (words, r.stderr))
    return [l for l in r.stdout.splitlines() if l]


def test_completion(ctx):
    r = subprocess.run(["bash", "-n", COMPLETION], capture_output=True, text=True)
    check_eq(r.returncode, 0, "bash -n: %s" % r.stderr)
    with FakeServer(ctx, {"status": ok(status_result())}) as srv:
        status, out, err = ctl(ctx, ["__complete", "targets"], sock=srv.path)
        check_eq((status, out), (0, "web/web\nweb/worker\napi/api\napi/batch\n"), "__complete targets")
        status, out, err = ctl(ctx, ["__complete", "watches"], sock=srv.path)
        check_eq((status, out), (0, "web\napi\n"), "__complete watches")
        check_eq(complete(ctx, ["ecr-deployctl", "re"], srv.path), ["resume", "retry", "reject", "reload"],
                 "commands")
        check_eq(complete(ctx, ["ecr-deployctl", "rollback", "web/w"], srv.path), ["web/web", "web/worker"],
                 "targets")
        check_eq(sorted(complete(ctx, ["ecr-deployctl", "pause", ""], srv.path)),
                 sorted(["--all", "--reason", "--until", "--json", "web", "api", "web/web", "web/worker",
                         "api/api", "api/batch"]), "pause: options, watches and targets")
        check_eq(complete(ctx, ["ecr-deployctl", "deploy", "a"], srv.path), ["api"], "deploy: watches")
        check_eq(complete(ctx, ["ecr-deployctl", "--so"], srv.path), ["--socket"], "global options")
    status, out, err = ctl(ctx, ["__complete", "targets"], sock=ctx.path("none.sock"))
    check(status != 0 and out == "" and err == "", "__complete without a daemon is quiet: %r" % err)


def test_man_page_is_clean(ctx):
    page = os.path.join(ROOT, "daemon", "ctl", "ecr-deployctl.8")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=dict({k: v for k, v in os.environ.items() if k != "MAN_KEEP_FORMATTING"}, MANWIDTH="80",
                                    PAGER="cat"))
    check_eq(r.returncode, 0, "man exit status: %s" % r.stderr)
    check_eq(r.stderr, "", "man --warnings")
    text = r.stdout
    for word in ("status", "history", "pause", "resume", "pin", "unpin", "deploy", "rollback", "retry", "approve",
                 "reject", "reload", "metrics", "version", "EXIT STATUS", "EXAMPLES", "FILES", "ecr-deployd(8)",
                 "ecr-deployd.conf(5)", "ECR_DEPLOYCTL_SOCKET", "NO_COLOR", "usermod"):
        check(word in text, "the man page covers %s" % word)
    for code in ("64", "65", "69", "70", "74", "75", "76", "77", "78"):
        check(re.search(r"\b%s\b" % code, text), "the man page lists exit status %s" % code)


# --- the real daemon -------------------------------------------------------------------------


def test_version_and_reload_against_the_daemon(ctx):
    """The client against ecr-deployd's own socket: version names the daemon's pid, reload answers
    after the reload (78 with the errors when the new configuration is refused), and a stopped daemon
    is 'not running'."""
    from harness import Sim
    from test_daemon import daemon_env, write_config
    sim = Sim(ctx)
    sock = ctx.control_socket() if hasattr(ctx, "control_socket") else ctx.path("ctl.sock")
    main = write_config(ctx, [], control={"socket": sock})
    p = ctx.spawn([daemon_path(), "-c", main], env=daemon_env(ctx, sim), name="ecr-deployd")
    wait_for(lambda: os.path.exists(sock), 15, "the control socket")

    status, out, err = ctl(ctx, ["-s", sock, "version"])
    check_eq(status, 0, "version exit status (stderr %r)" % err)
    check(re.match(r"^ecr-deployd 0\.1\.0( \([0-9a-f-]+(-dirty)?\))?, protocol 1, pid %d\necr-deployctl 0\.1\.0"
                   % p.pid, out), "version names the daemon and its pid: %r" % out)
    status, out, err = ctl(ctx, ["-s", sock, "--json", "version"])
    check_eq((status, json.loads(out)["pid"], json.loads(out)["protocol"]), (0, p.pid, 1), "version --json")

    status, out, err = ctl(ctx, ["-s", sock, "reload"])
    check_eq((status, out), (0, "reloaded\n"), "reload of the same configuration (stderr %r)" % err)
    with open(main) as f:
        good = f.read()
    bad = json.loads(good)
    bad["poll_interval"] = "soon"
    with open(main, "w") as f:
        json.dump(bad, f)
    status, out, err = ctl(ctx, ["-s", sock, "reload"])
    check_eq(status, EX_CONFIG, "a refused configuration (stderr %r)" % err)
    check("the configuration was rejected" in err and main in err and "poll_interval" in err,
          "the errors name the file and the key: %r" % err)
    check(p.alive(), "the daemon runs on")
    with open(main, "w") as f:
        f.write(good)
    status, out, err = ctl(ctx, ["-s", sock, "reload"])
    check_eq(status, 0, "reload after the fix (stderr %r)" % err)

    p.signal(15)
    check_eq(p.wait(15), 0, "the daemon's exit status")
    status, out, err = ctl(ctx, ["-s", sock, "version"])
    check_eq(status, EX_UNAVAILABLE, "a stopped daemon (stderr %r)" % err)
    check("is ecr-deployd running?" in err, "stderr %r" % err)
