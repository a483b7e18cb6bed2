# SPDX-License-Identifier: MIT
"""The control socket (docs/control.md) against hostile and careless clients: malformed requests
answered with stable codes, an oversized line answered then closed, a half-sent request closed
after its deadline without disturbing others, a client that never reads its replies held to one,
the 33rd client refused, 20 concurrent clients all answered; the peer credentials deciding who may
run what (as nobody, with the write group, with the read group, "*"), the socket file's mode and
group, a stale socket replaced and a live one refusing a second daemon, the file removed at
SIGTERM, and CONTROL_ACTION / CONTROL_REFUSED in the log."""

import grp
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import CtlClient, Failure, Sim, check, check_eq, ctl_request, daemon_path, wait_for
from test_daemon import daemon_env, lines_with, start

CONTROL_ACTION = "795048b770ec41b781bea4643d98ae52"
CONTROL_REFUSED = "2ba220dd46254589951f4f4bde026c5a"
NOBODY = 65534
# Groups of every Debian system that nothing here uses: the write group and the read group of the
# permission tests (configured by name and by number).
WRITE_GROUP = "fax"
READ_GROUP = "voice"


def run_daemon(ctx, **settings):
    """A daemon with no watches (nothing calls AWS) and its control socket; returns (proc, path)."""
    sim = Sim(ctx)
    p, _ = start(ctx, sim, [], **settings)
    path = ((settings.get("control") or {}).get("socket")) or ctx.control_socket()
    # "ready", not any line about the socket: a stale one's removal is said before the new one listens
    wait_for(lambda: re.search(r"control socket '[^\n]*' ready", p.read_stderr()) or not p.alive(), 15,
             "the control socket")
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-500:])
    return p, path


def open_dir(ctx):
    """A directory every user may reach (the test's scratch directory is 0700)."""
    d = tempfile.mkdtemp(prefix="ecr-ctl-")
    os.chmod(d, 0o755)
    ctx.short_dirs.append(d)
    return d


def error_of(reply):
    check(reply is not None, "a reply")
    check(reply.get("ok") is False, "an error reply: %r" % reply)
    return reply["error"]


# A client run as another user: only the standard library, one request per line of argv[2:],
# each reply (or "EOF") printed on its own line.
AS_USER_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rb")
for req in sys.argv[2:]:
    try:
        s.sendall(req.encode() + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        line = f.readline()
    except ConnectionResetError:
        line = b""
    print(line.decode().strip() if line else "EOF", flush=True)
"""


# Connects as another user and prints the errno of a refused connect.
AS_USER_CONNECT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print("errno", e.errno)
"""


def as_user(ctx, path, requests, regid=NOBODY, groups=None):
    argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % regid]
    argv += ["--groups=" + ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
    argv += ["/usr/bin/python3", "-c", AS_USER_CLIENT, path] + [json.dumps(r) for r in requests]
    status, out, err = ctx.run(argv, timeout=30)
    check_eq(status, 0, "the client as uid %d: %s" % (NOBODY, err))
    return [None if l == "EOF" else json.loads(l) for l in out.splitlines()]


def V(cmd, **kw):
    return dict({"v": 1, "cmd": cmd}, **kw)


def test_malformed_requests_get_stable_codes_and_the_connection_stays(ctx):
    p, path = run_daemon(ctx)
    with CtlClient(path) as c:
        rows = [
            (b"this is not json\n", "bad-request", 64),
            (b"[1, 2]\n", "bad-request", 64),
            (b'{"v": 1}\n', "bad-request", 64),
            (b'{"v": 1, "cmd": "version", "args": [1]}\n', "bad-request", 64),
            (b'{"v": 1, "cmd": "version", "extra": true}\n', "bad-request", 64),
            (b'{"v": 1, "cmd": "version", "cmd": "reload"}\n', "bad-request", 64),
            (b'{"v": 2, "id": "x", "cmd": "version"}\n', "unsupported-version", 76),
            (b'{"v": 1, "id": 5, "cmd": "no-such-command"}\n', "unknown-command", 64),
            (b'{"v": 1, "id": 6, "cmd": "reload", "args": {"fast": true}}\n', "bad-argument", 64),
            (b'{"v": 1, "cmd": "version", "args": {"x\\u001b[2J": 1}}\n', "bad-argument", 64),
        ]
        for raw, code, exit_code in rows:
            c.send_raw(raw)
            e = error_of(c.reply())
            check_eq((e["code"], e["exit"]), (code, exit_code), "the error of %r" % raw)
            check(e["message"] and "\n" not in e["message"] and "\x1b" not in e["message"],
                  "one escaped sentence: %r" % e["message"])
        c.send_raw(b'{"v": 2, "id": "x", "cmd": "version"}\n')
        r = c.reply()
        check_eq((r["id"], r["error"]["versions"]), ("x", [1]), "the id echoed, the versions listed")
        c.send(cmd="no-such-command", id={"n": [1, 2]})
        check_eq(c.reply()["id"], {"n": [1, 2]}, "any JSON id echoed")
        c.send("version", id=9)
        r = c.reply()
        check(r["ok"] and r["id"] == 9, "the connection still serves: %r" % r)
        check_eq((r["result"]["protocol"], r["result"]["pid"], r["result"]["version"]), (1, p.pid, "0.1.0"),
                 "version")
    check(p.alive(), "the daemon runs on")


def test_an_oversized_line_is_answered_then_closed(ctx):
    p, path = run_daemon(ctx)
    # Exactly 64 KiB before the newline is a request...
    line = b'{"v": 1, "cmd": "version"}'
    with CtlClient(path) as c:
        c.send_raw(line + b" " * (64 * 1024 - len(line)) + b"\n")
        check(c.reply()["ok"], "a request of exactly 64 KiB is served")
    # ...one byte more is not, nor a megabyte without a newline.
    for size in (64 * 1024 + 1, 1024 * 1024):
        with CtlClient(path) as c:
            data = line + b" " * (size - len(line))
            sender = threading.Thread(target=lambda: _send_quietly(c, data + b"\n"))
            sender.start()
            e = error_of(c.reply())
            check_eq(e["code"], "request-too-large", "the code for %d bytes" % size)
            check(c.closed_by_peer(5), "the connection is closed after the reply")
            sender.join(10)
    check_eq(ctl_request(path, "version")["ok"], True, "the daemon still serves")


def _send_quietly(c, data):
    try:
        c.sock.settimeout(10)
        c.send_raw(data)
    except OSError:
        pass


def test_a_half_sent_request_is_closed_at_its_deadline_without_disturbing_others(ctx):
    p, path = run_daemon(ctx)
    slow = CtlClient(path, timeout=30)
    t0 = time.monotonic()
    slow.send_raw(b'{"v": 1, "cmd": "vers')
    # Others are served at once, many times over, while the slow one holds its half request.
    for i in range(20):
        t = time.monotonic()
        check_eq(ctl_request(path, "version", id=i)["id"], i, "request %d of another client" % i)
        check(time.monotonic() - t < 2, "another client answered promptly")
    check(slow.closed_by_peer(20), "the half-sent request is closed")
    took = time.monotonic() - t0
    check(9 <= took <= 15, "closed after the 10 s request deadline (took %.1f s)" % took)
    check_eq(slow.buf, b"", "no reply to a request that never came whole")
    slow.close()
    # The deadline counts from the previous reply: a client that keeps asking stays.
    with CtlClient(path) as c:
        for i in range(3):
            c.send("version")
            check(c.reply()["ok"], "a reply")
            time.sleep(4)  # idle, shorter than the deadline: the client is not closed
        c.send("version")
        check(c.reply()["ok"], "served after 12 s of requests each within the deadline")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_client_that_never_reads_is_bounded_and_closed(ctx):
    p, path = run_daemon(ctx)
    ctl_request(path, "version")
    before = rss_kib(p.pid)
    greedy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    greedy.connect(path)
    greedy.setblocking(False)
    request = json.dumps(V("version")).encode() + b"\n"
    burst = request * 2000
    sent, t0 = 0, time.monotonic()
    # Pipeline requests without reading a reply, until the server stops taking them.
    stalled_since = None
    while time.monotonic() - t0 < 8:
        try:
            n = greedy.send(burst)
            sent += n
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1:
                break
            time.sleep(0.05)
    check(stalled_since is not None, "the server stopped reading the greedy client (sent %d bytes)" % sent)
    # Others are served meanwhile.
    for i in range(10):
        t = time.monotonic()
        check(ctl_request(path, "version")["ok"], "another client served")
        check(time.monotonic() - t < 2, "promptly")
    grown = rss_kib(p.pid) - before
    check(grown < 8 * 1024, "the daemon's memory grew by %d KiB for %d bytes of requests" % (grown, sent))
    # The reply it does not read is given up after 10 s: the connection is closed.
    wait_for(lambda: lines_with(p, "did not read its reply within 10s; closed"), 20, "the greedy client closed")
    greedy.setblocking(True)
    greedy.settimeout(5)
    closed = False
    try:
        while True:
            chunk = greedy.recv(1 << 20)
            if not chunk:
                closed = True
                break
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    greedy.close()
    check(closed, "the greedy client is closed")
    check(p.alive(), "the daemon runs on")
    check(ctl_request(path, "version")["ok"], "and serves")


def test_the_33rd_client_is_refused_and_a_freed_place_is_taken(ctx):
    p, path = run_daemon(ctx)
    held = [CtlClient(path) for _ in range(32)]
    # Each of the 32 is served (so each is accepted) before the 33rd comes.
    for c in held:
        c.send("version")
        check(c.reply()["ok"], "one of 32 clients served")
    with CtlClient(path) as extra:
        e = error_of(extra.reply())
        check_eq((e["code"], e["exit"]), ("too-many-clients", 75), "the 33rd client")
        check(extra.closed_by_peer(5), "and it is closed")
    held.pop().close()
    wait_for(lambda: ctl_request(path, "version").get("ok"), 5, "the freed place taken by a new client")
    for c in held:
        c.close()
    check(p.alive(), "the daemon runs on")


def test_twenty_concurrent_clients_are_all_answered(ctx):
    p, path = run_daemon(ctx)
    errors, answered = [], []
    # `status` once the target commands are merged; `version` until then.
    cmd = "status" if ctl_request(path, "status").get("ok") else "version"

    def client(n):
        try:
            with CtlClient(path, timeout=20) as c:
                for i in range(10):
                    c.send(cmd, id=[n, i])
                    r = c.reply()
                    if not r or not r.get("ok") or r.get("id") != [n, i]:
                        errors.append((n, i, r))
                        return
                    answered.append((n, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check_eq(errors, [], "errors of the concurrent clients")
    check_eq(len(answered), 200, "answers")


def test_nobody_is_kept_out_by_the_socket_mode(ctx):
    d = open_dir(ctx)
    path = os.path.join(d, "ctl.sock")
    p, _ = run_daemon(ctx, control={"socket": path, "group": WRITE_GROUP})
    argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
            "/usr/bin/python3", "-c", AS_USER_CONNECT, path]
    status, out, err = ctx.run(argv, timeout=30)
    check_eq(out.strip(), "errno 13", "nobody's connect to the 0660 socket (EACCES): %s" % err)


def test_nobody_is_refused_once_with_control_refused(ctx):
    # With a read group the socket is 0666 (a file has one group): the credentials decide.
    d = open_dir(ctx)
    path = os.path.join(d, "ctl.sock")
    p, _ = run_daemon(ctx, control={"socket": path, "group": WRITE_GROUP, "read_group": READ_GROUP})
    replies = as_user(ctx, path, [V("version"), V("version")])
    check_eq(len(replies), 2, "two lines read")
    e = error_of(replies[0])
    check_eq((e["code"], e["exit"]), ("permission-denied", 77), "nobody's reply")
    check_eq(replies[1], None, "the connection is closed after the refusal")
    refused = lines_with(p, "MESSAGE_ID=" + CONTROL_REFUSED)
    check_eq(len(refused), 1, "one CONTROL_REFUSED")
    check("CALLER_UID=%d" % NOBODY in refused[0] and "CALLER_PID=" in refused[0], "its fields: %s" % refused[0])
    # A flood of refusals is logged once per uid per minute, and holds no place.
    for _ in range(34):
        as_user(ctx, path, [V("reload")])
    check_eq(len(lines_with(p, "MESSAGE_ID=" + CONTROL_REFUSED)), 1, "CONTROL_REFUSED still once")
    check_eq(lines_with(p, "MESSAGE_ID=" + CONTROL_ACTION), [], "no action from a refused connection")
    check(ctl_request(path, "version")["ok"], "root is served after 34 refused connections")


def test_the_write_group_may_run_every_command(ctx):
    gid = grp.getgrnam(WRITE_GROUP).gr_gid
    d = open_dir(ctx)
    path = os.path.join(d, "ctl.sock")
    p, _ = run_daemon(ctx, control={"socket": path, "group": WRITE_GROUP})
    st = os.stat(path)
    check_eq((oct(st.st_mode & 0o777), st.st_gid), (oct(0o660), gid), "the socket's mode and group")
    # As its primary group, and as a supplementary one (SO_PEERGROUPS).
    for regid, groups in ((gid, [gid]), (NOBODY, [gid])):
        replies = as_user(ctx, path, [V("version"), V("reload", id="r")], regid=regid, groups=groups)
        check(replies[0]["ok"], "version as nobody in %s: %r" % (WRITE_GROUP, replies[0]))
        check(replies[1]["ok"] and replies[1]["result"]["reloaded"] is True,
              "reload as nobody in %s (gid %d, groups %s): %r" % (WRITE_GROUP, regid, groups, replies[1]))
    actions = lines_with(p, "MESSAGE_ID=" + CONTROL_ACTION)
    check_eq(len(actions), 2, "two CONTROL_ACTION for two reloads")
    for a in actions:
        for field in ("CALLER_UID=%d" % NOBODY, "COMMAND=reload", "ARGS={}", "RESULT=ok"):
            check(field in a, "%s in %s" % (field, a))


def test_the_read_group_may_read_only(ctx):
    rgid = grp.getgrnam(READ_GROUP).gr_gid
    d = open_dir(ctx)
    path = os.path.join(d, "ctl.sock")
    p, _ = run_daemon(ctx, control={"socket": path, "group": WRITE_GROUP, "read_group": str(rgid)})
    check_eq(oct(os.stat(path).st_mode & 0o777), oct(0o666), "the socket's mode with a read group")
    replies = as_user(ctx, path, [V("version"), V("reload"), V("version")], groups=[rgid])
    check(replies[0]["ok"], "version for the read group: %r" % replies[0])
    e = error_of(replies[1])
    check_eq((e["code"], e["exit"]), ("permission-denied", 77), "reload for the read group")
    check(replies[2]["ok"], "the connection stays after a refused command")
    actions = lines_with(p, "MESSAGE_ID=" + CONTROL_ACTION)
    check_eq(len(actions), 1, "the refused reload is logged")
    check("RESULT=permission-denied" in actions[0] and "COMMAND=reload" in actions[0], actions[0])
    check_eq(lines_with(p, "MESSAGE_ID=" + CONTROL_REFUSED), [], "no refused connection")
    # Not in the read group: refused.
    check_eq(error_of(as_user(ctx, path, [V("version")])[0])["code"], "permission-denied", "nobody")


def test_read_group_star_opens_the_read_only_commands_to_everyone(ctx):
    d = open_dir(ctx)
    path = os.path.join(d, "ctl.sock")
    p, _ = run_daemon(ctx, control={"socket": path, "group": WRITE_GROUP, "read_group": "*"})
    check_eq(oct(os.stat(path).st_mode & 0o777), oct(0o666), "the socket's mode with read_group *")
    replies = as_user(ctx, path, [V("version"), V("reload")])
    check(replies[0]["ok"], "version for everyone")
    check_eq(error_of(replies[1])["code"], "permission-denied", "reload is not for everyone")


def test_a_stale_socket_is_replaced_and_a_live_one_refuses_a_second_daemon(ctx):
    path = ctx.control_socket()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening, closed: what a killed daemon leaves
    stale.close()
    check(os.path.exists(path), "a stale socket file")
    p, _ = run_daemon(ctx)
    check(ctl_request(path, "version")["ok"], "the stale socket was replaced")
    check("removing the stale socket" in p.read_stderr(), "the replacement is said")
    # A second daemon on the same socket: refused, the first one untouched.
    sim = Sim(ctx)
    os.makedirs(ctx.path("etc2"), exist_ok=True)
    cfg = {"aws": {"region": "us-east-1"}, "state_directory": ctx.path("state2"), "control": {"socket": path},
           "watches": []}
    conf = ctx.write(os.path.join("etc2", "second.json"), json.dumps(cfg))
    status, out, err = ctx.run([daemon_path(), "-c", conf, "--config-dir", ctx.path("none")],
                               env=daemon_env(ctx, sim), timeout=20)
    check_eq(status, 73, "the second daemon's exit code (EX_CANTCREAT): %s" % err)
    check(path in err and "another process answers" in err, "the error names the path: %s" % err)
    check(ctl_request(path, "version")["result"]["pid"] == p.pid, "the first daemon still serves")
    # A path that is not a socket is never removed.
    p.signal(signal.SIGTERM)
    p.wait(10)
    plain = ctx.write("plain", "keep me")
    cfg["control"]["socket"] = plain
    conf = ctx.write(os.path.join("etc2", "second.json"), json.dumps(cfg))
    status, out, err = ctx.run([daemon_path(), "-c", conf, "--config-dir", ctx.path("none")],
                               env=daemon_env(ctx, sim), timeout=20)
    check_eq(status, 73, "a start on a plain file: %s" % err)
    check("is not a socket" in err, "said: %s" % err)
    check_eq(open(plain).read(), "keep me", "the file is untouched")


def test_the_socket_is_removed_at_sigterm(ctx):
    p, path = run_daemon(ctx)
    check(os.path.exists(path), "the socket exists while the daemon runs")
    p.signal(signal.SIGTERM)
    check_eq(p.wait(10), 0, "exit status")
    check(not os.path.exists(path), "the socket is removed at SIGTERM")


def test_no_socket_when_disabled_or_once(ctx):
    sim = Sim(ctx)
    p, _ = start(ctx, sim, [], control={"socket": ""})
    wait_for(lambda: "started:" in p.read_stderr(), 15, "the start")
    check(not os.path.exists(ctx.control_socket()), "no socket with control.socket \"\"")
    p.signal(signal.SIGTERM)
    p.wait(10)
    from test_daemon import write_config
    main = write_config(ctx, [])
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], env=daemon_env(ctx, sim), timeout=30)
    check_eq(status, 0, "--once: %s" % err)
    check("control socket" not in err and not os.path.exists(ctx.control_socket()), "no socket with --once")


def test_an_unknown_group_is_a_warning_not_a_failure(ctx):
    p, path = run_daemon(ctx, control={"socket": ctx.control_socket(), "group": "no-such-group-ecr"})
    check("no group 'no-such-group-ecr'" in p.read_stderr(), "the warning names the group")
    check_eq(os.stat(path).st_gid, os.getegid(), "the socket keeps the process's group")
    check(ctl_request(path, "reload")["ok"], "root still may")


def test_reload_answers_the_errors_of_a_rejected_configuration(ctx):
    p, path = run_daemon(ctx)
    main = ctx.path("etc", "ecr-deployd.json")
    cfg = json.load(open(main))
    cfg["poll_interval"] = "soon"
    cfg["history_max"] = 0
    ctx.write(os.path.join("etc", "ecr-deployd.json"), json.dumps(cfg))
    r = ctl_request(path, "reload")
    check(r["ok"] and r["result"]["reloaded"] is False, "reload refused: %r" % r)
    errs = r["result"]["errors"]
    check(any("poll_interval" in e for e in errs) and any("history_max" in e for e in errs),
          "every error, located: %r" % errs)
    check(ctl_request(path, "version")["ok"], "the daemon runs on with the old configuration")
