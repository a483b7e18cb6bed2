# SPDX-License-Identifier: MIT
"""Review of issue 17 (notifications): each test here fails against the code as reviewed and says
in its docstring what should happen instead. Quick: the backoff is shortened (NOTIFY_ENV)."""

import json
import os
import secrets
import signal
import time

from harness import Sim, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import poll_now, world
from test_notifications import OK, Hooks, deploy, event_id, run, settle, sink_status


def test_review_watch_failing_reaches_a_sink_filtered_by_its_watch(ctx):
    """A sink with `watches: ["web"]` (nf-spec's own example filters by watch) must hear that the
    repository of watch "web" has failed every poll for failing_after. Now it never does:
    daemon/outbox.c outbox_polled() builds the watch-failing notice without a watch (nor
    cluster/service), so notice_matches() (daemon/notice.c:275) refuses it for every sink with a
    `watches` (or `services`) filter. The unfiltered sink gets it, the filtered one nothing.
    Issue 19: the daemon finds the watches of a failing repository in an index made from the
    configuration; a reload in the middle of the streak makes it again from the new one (one
    kept would name watches of a freed configuration: the sanitizer build sees that)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", failing_after="10s"),
                          h.webhook("webonly", failing_after="10s", watches=["web"])])
    settle(p)
    sim.fault("ecr.*", "error", code="AccessDeniedException", status=400, format="json", message="denied",
              rate=1.0)
    n = len(sim.requests(service="ecr"))
    poll_now(p)  # (a reload, then a poll)
    wait_for(lambda: len(sim.requests(service="ecr")) > n, 15, "a failing poll (the index made)")
    time.sleep(0.2)
    reloads = len(lines_with(p, "configuration reloaded"))
    poll_now(p)  # the index of the configuration before is dropped, the next failure makes it anew
    wait_for(lambda: len(lines_with(p, "configuration reloaded")) > reloads, 10, "the second reload")
    wait_for(lambda: [r for r in h.of("all") if r.status == 200], 40, "watch-failing to the unfiltered sink")
    # both sinks have the same failing_after: give the filtered one a moment more
    try:
        wait_for(lambda: [r for r in h.of("webonly") if r.status == 200], 3, "watch-failing to webonly")
    except Exception:
        pass
    got = [r.json().get("kind") for r in h.of("webonly")]
    check_eq(got, ["watch-failing"], "the sink filtered to watch 'web' hears its repository failing")


def test_review_slack_200_that_is_not_ok_is_not_counted_sent(ctx):
    """Slack answers a delivered message with 200 "ok" (nf-spec); a 200 whose body is an error
    word ("invalid_token", or a proxy's/captive portal's page) is not a delivery. Now
    daemon/outbox.c on_http_done() takes any 2xx as sent for a Slack sink: the entry is removed,
    `sent` counted, nothing said. It should be a failed attempt (NOTIFY_SINK_FAILING quoting the
    word, retried or given up with NOTIFY_FAILED), never `sent`."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    h.recv.status_body[200] = b"invalid_token"
    h.recv.set_mode("status", 200)
    p = run(ctx, sim, h, [h.slack("slack", events=["deploy-completed"])])
    settle(p)
    deploy(sim, p, "v2")
    h.recv.wait_requests(1, 20, "the slack attempt", cond=OK)
    failing, failed = event_id("NOTIFY_SINK_FAILING"), event_id("NOTIFY_FAILED")
    try:
        wait_for(lambda: lines_with(p, failing) or lines_with(p, failed), 2, "the failure said")
    except Exception:
        pass
    st = sink_status(ctx, "slack")
    check_eq(st["sent"], 0, "a 200 'invalid_token' from Slack is not a delivery: %r" % st)
    check(lines_with(p, failing) or lines_with(p, failed),
          "the failure is said (NOTIFY_SINK_FAILING or NOTIFY_FAILED)")


def test_review_webhook_reply_body_never_quoted(ctx):
    """A webhook receiver's reply body is not Slack's: it may echo the request (its path token)
    and must never reach a log line, the status or an event. Now daemon/outbox.c on_http_done()
    runs slack_word() on every 408/429/5xx reply whatever the sink's type (outbox.c:530-532) and
    quotes a body of [a-z_] up to 64 bytes in NOTIFY_SINK_FAILING, the debug lines and the status's
    last_error. Only a Slack sink's word may be quoted (as the 4xx branch already does)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    echoed = "tok_" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(24))
    ctx.secrets.add(echoed)
    h.recv.status_body[500] = echoed.encode()
    h.recv.set_mode("status", 500)
    p = run(ctx, sim, h, [h.webhook("ci", events=["deploy-completed"])])
    settle(p)
    deploy(sim, p, "v2")
    failing = event_id("NOTIFY_SINK_FAILING")
    wait_for(lambda: lines_with(p, failing), 20, "NOTIFY_SINK_FAILING")
    st = sink_status(ctx, "ci")
    h.recv.set_mode("up")
    check(echoed not in p.read_stderr(), "the receiver's reply body is not in the journal: %s"
          % lines_with(p, failing))
    check(echoed not in st.get("last_error", ""), "nor in the status: %r" % st.get("last_error"))


def test_review_outbox_entry_symlink_not_followed(ctx):
    """An entry in <state>/outbox that is a symlink must not be followed (the brief: a symlink to
    /etc/shadow): it is not the daemon's file. Now daemon/outbox.c load_one() reads it through
    state_file_read() -> regfile_open() (common/regfile.c:26, stat() follows links) and sends
    whatever valid entry the link points to, wherever it is. It should be left alone (or set aside
    as .bad with a warning) and its target never read."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    # a valid entry made by the daemon: the receiver is down, the entry stays after a stop
    h.recv.set_mode("down")
    sinks = [h.webhook("ci", events=["deploy-completed"])]
    p = run(ctx, sim, h, sinks)
    settle(p)
    deploy(sim, p, "v2")
    outbox = ctx.path("state", "outbox")
    wait_for(lambda: [f for f in os.listdir(outbox) if f.endswith(".json")], 20, "an entry written")
    p.signal(signal.SIGKILL)
    p.wait(10)
    name = [f for f in os.listdir(outbox) if f.endswith(".json")][0]
    key = name.split(".")[1]
    # the file outside the outbox: a valid entry with a key of its own (so that the resumed
    # rollout's own deploy-completed, same key as before, is not mistaken for it)
    outside = ctx.path("elsewhere.json")
    with open(os.path.join(outbox, name)) as f:
        entry = json.load(f)
    os.unlink(os.path.join(outbox, name))
    fake = secrets.token_hex(16)
    entry["notice"]["id"] = fake
    check(key != fake, "a key of its own")
    with open(outside, "w") as f:
        json.dump(entry, f)
    os.symlink(outside, os.path.join(outbox, "ci.%s.json" % fake))
    h.recv.set_mode("up")
    p = run(ctx, sim, h, sinks)
    try:
        wait_for(lambda: fake in [r.key for r in h.of("ci")], 3, "the symlinked entry attempted")
    except Exception:
        pass
    check(fake not in [r.key for r in h.of("ci")], "the symlinked entry's target is not read and sent: %r"
          % [r.key for r in h.of("ci")])
    check(os.path.exists(outside), "the target is left alone")


def test_review_a_broken_outbox_does_not_stop_deploys(ctx):
    """<state>/outbox is not a directory (a stray file, a botched restore): notifications cannot
    be kept, but deploys must go on (issue 17: notifications never delay a deploy; and this
    configuration has no sink at all). Now daemon/daemon.c setup_outbox() (daemon.c:236-240)
    exits EX_CANTCREAT "cannot start" whenever outbox_new() fails, and outbox_new()
    (outbox.c mkdir/load_dir) fails on it even with zero sinks. It should start (an error
    naming the outbox, the sinks' entries attempted unkept or the sinks disabled) and deploy."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    os.makedirs(ctx.path("state"), exist_ok=True)
    os.chmod(ctx.path("state"), 0o700)
    with open(ctx.path("state", "outbox"), "w") as f:
        f.write("not a directory\n")
    p = run(ctx, sim, h, [])
    try:
        wait_for(lambda: not p.alive() or lines_with(p, "already runs"), 20, "started or exited")
    except Exception:
        pass
    check(p.alive(), "ecr-deployd runs without a usable outbox and no sink: %s"
          % p.read_stderr()[-400:])
    deploy(sim, p, "v2")


class _PerPath:
    """A plain-HTTP receiver on 127.0.0.1: a path starting /slow/ is held until released, any
    other is answered 200 at once. Records (path, time answered)."""

    def __init__(self, tls_ctx=None):
        import http.server
        import threading
        self.release = threading.Event()
        self.answered = []
        self.arrived = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                outer.arrived.append((self.path, time.monotonic()))
                if self.path.startswith("/slow/"):
                    outer.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                outer.answered.append((self.path, time.monotonic()))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        if tls_ctx is not None:
            self.server.socket = tls_ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def same_host(ctx, tls):
    """Two webhook sinks on one receiver (host:port), the first hung; see the tests below."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    recv = _PerPath(h.recv.tls_ctx if tls else None)
    try:
        base = "%s://127.0.0.1:%d" % ("https" if tls else "http", recv.port)
        slow = {"type": "webhook", "name": "slow", "url": base + "/slow/x", "timeout": "20s",
                "concurrency": 2, "events": ["deploy-started", "deploy-completed"]}
        fast = {"type": "webhook", "name": "fast", "url": base + "/fast/x", "timeout": "20s",
                "concurrency": 2, "events": ["deploy-completed"]}
        p = run(ctx, sim, h, [slow, fast])
        settle(p)
        before = time.monotonic()
        deploy(sim, p, "v2")
        done = time.monotonic()
        try:
            wait_for(lambda: [a for a in recv.answered if a[0].startswith("/fast/")], 2.5,
                     "the fast sink's notification")
        except Exception:
            pass
        got = [t for path, t in recv.answered if path.startswith("/fast/")]
        check(got, "the fast sink got its deploy-completed within 2.5 s of the deploy's end while "
              "the slow sink hangs (deploy took %.1f s; arrived %r)" % (done - before, [(a, round(t - done, 2)) for a, t in recv.arrived]))
    finally:
        recv.close()


def test_review_a_hung_sink_does_not_delay_another_sink_on_the_same_host(ctx):
    """Plain HTTP (allowed to 127.0.0.1/localhost: a local relay): two webhook sinks on one
    host:port, the first hung. The other must not wait for it (issue 17: "a dead or slow sink
    never delays ... other sinks"), and the hung sink's own second attempt (concurrency 2) must
    go too. Now nothing after the hung request reaches the host at all: common/http.c:493 sets
    CURLOPT_PIPEWAIT on every request, so with plain HTTP each new transfer waits for the first
    connection's reply to learn whether it can multiplex (no ALPN to say it cannot): one hung
    reply serialises every attempt to that host until its timeout. The outbox's client should
    not pipewait (or set HTTP/1.1 for http:// URLs)."""
    same_host(ctx, tls=False)


def test_review_a_hung_sink_does_not_delay_another_sink_on_the_same_https_host(ctx):
    """HTTPS: two sinks on one host (two Slack channels are two paths of hooks.slack.com), the
    first hung with its 2 attempts in flight. Now the outbox's one HTTP client caps connections
    per host at the biggest concurrency (daemon/outbox.c:1106-1112, max_host_connections = maxc, never recomputed at a reload;
    common/http.c:399 CURLMOPT_MAX_HOST_CONNECTIONS): the hung sink holds every connection to
    the host and the other sink's attempt queues in curl behind them until their timeout (its own
    timeout clock running). The cap should be the sum of the concurrencies of the sinks sharing a
    host (or per-sink clients), so that a sink's in-flight bound is its own."""
    same_host(ctx, tls=True)


def test_review_blocked_said_once_across_a_restart(ctx):
    """A rollout blocked by AccessDenied (for good: the policy is not fixed), then ecr-deployd is
    restarted (an upgrade, a reboot): the same digest to the same service is still blocked, and
    the operators were told already. At most one message per phase per rollout: no second
    "blocked" (and surely not one with a new key, which no receiver can dedupe). Now every restart
    sends another "blocked" with a new Idempotency-Key: the block is only in memory
    (daemon/deployer.c:54-94, dp->blocked; quiet_block at rollout.c:1126 is false after a restart)
    and the blocked rollout's record is not kept, so the retry is a new rollout whose started_at
    makes a new key (rollout.c:446-449). The key of a blocked phase should not change while the
    same digest stays blocked on the same service (e.g. the identity of the blocked rollout kept
    in the target's state, or the notified bit carried to the retry)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    sinks = [h.webhook("all")]
    p = run(ctx, sim, h, sinks)
    settle(p)
    sim.fault("ecs.RegisterTaskDefinition", "error", code="AccessDeniedException", status=400, format="json",
              message="User: x is not authorized to perform: ecs:RegisterTaskDefinition", rate=1.0)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, "MESSAGE_ID=" + event_id("BLOCKED")), 20, "BLOCKED")
    h.recv.wait_requests(1, 15, "blocked", cond=OK)
    wait_for(lambda: sink_status(ctx, "all")["sent"] == 1, 10, "the daemon read the 200")
    p.signal(signal.SIGTERM)
    p.wait(15)
    restart = time.time()
    p = run(ctx, sim, h, sinks)
    try:
        wait_for(lambda: lines_with(p, "MESSAGE_ID=" + event_id("BLOCKED")), 15, "BLOCKED after the restart")
        wait_for(lambda: len(h.recv.answered(200)) > 1, 3, "a second message")
    except Exception:
        pass
    keys = [r.key for r in h.recv.answered(200)]
    check_eq(len(keys), 1, "one blocked message for one blocked rollout, restart or not: (key, seconds "
             "after the restart) %s" % [(r.key, round(r.at - restart, 1)) for r in h.recv.answered(200)])


def _hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_review_a_receivers_big_reply_is_not_buffered(ctx):
    """A receiver answers 200 with a 12 MB body (a misrouted URL serving a file, a hostile
    receiver). The outbox reads nothing of a reply but its status and, for Slack, a word of at
    most 64 bytes, yet every attempt buffers the whole body up to the HTTP client's default
    16 MiB (daemon/outbox.c outbox_new sets no max_response_bytes; common/http.c:23,384): up to
    16 sinks x 16 attempts x 16 MiB = 4 GiB a hostile receiver can make the daemon hold. The
    outbox's client should keep a small bound (a few KiB) and still count a 2xx whose body
    it stopped reading as delivered. Measured: the daemon's peak RSS grows by less than 6 MB."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    import http.server
    import threading
    big = b"x" * (12 * 1024 * 1024)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(big)))
            self.end_headers()
            self.wfile.write(big)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.socket = h.recv.tls_ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "https://127.0.0.1:%d/big/x" % srv.server_address[1]
        p = run(ctx, sim, h, [{"type": "webhook", "name": "big", "url": url, "timeout": "10s",
                               "events": ["deploy-completed"]}])
        settle(p)
        before = _hwm_kb(p.pid)
        deploy(sim, p, "v2")
        wait_for(lambda: sink_status(ctx, "big")["sent"] == 1, 20, "the notification sent")
        grew = _hwm_kb(p.pid) - before
        check(grew < 6 * 1024, "the daemon's peak RSS grew by %d KiB for one reply it does not read" % grew)
    finally:
        srv.shutdown()
        srv.server_close()


class _FakeEvents:
    """A stand-in for EventBridge (AWS_ENDPOINT_URL_EVENTS): answers each PutEvents with the next
    reply of `replies` (the last one repeated), HTTP 200, application/x-amz-json-1.1."""

    def __init__(self, replies):
        import http.server
        import threading
        self.replies = list(replies)
        self.calls = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append((self.headers.get("X-Amz-Target"), body))
                i = min(len(outer.calls), len(outer.replies)) - 1
                out = json.dumps(outer.replies[i]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def eventbridge_against(ctx, replies):
    """The daemon with one EventBridge sink (deploy-completed) against _FakeEvents(replies), after
    one deploy: (process, fake, hooks)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    fake = _FakeEvents(replies)
    ctx.finalizers.append(fake.close)
    p = run(ctx, sim, h, [{"type": "eventbridge", "name": "bus", "event_bus": "deploys",
                           "region": "us-east-1", "events": ["deploy-completed"]}],
            env={"AWS_ENDPOINT_URL_EVENTS": fake.url})
    settle(p)
    deploy(sim, p, "v2")
    wait_for(lambda: fake.calls, 20, "a PutEvents")
    return p, fake, h


def test_review_eventbridge_200_without_a_verdict_is_not_sent(ctx):
    """PutEvents answered 200 with `{}` (no FailedEntryCount, no Entries: a proxy, a stub, a
    truncated reply that still parses). nf-spec: success = HTTP 200 with FailedEntryCount 0, and
    an accepted entry has an EventId. Now daemon/outbox.c on_put_events() (outbox.c:615) counts
    a reply without FailedEntryCount and without an ErrorCode as sent and removes the entry:
    the notification is lost with nothing said. It should be a failed attempt (retried)."""
    p, fake, h = eventbridge_against(ctx, [{}, {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}])
    try:
        wait_for(lambda: len(fake.calls) >= 2, 2, "a second PutEvents after the reply without a verdict")
    except Exception:
        pass
    check(len(fake.calls) >= 2, "the {} reply is not taken as delivery: %d PutEvents, status %r"
          % (len(fake.calls), sink_status(ctx, "bus")))


def test_review_eventbridge_failed_entry_without_error_code_is_retried(ctx):
    """PutEvents answered 200 with FailedEntryCount 1 and an entry without ErrorCode. nf-spec ends
    the attempts only on an entry's ErrorCode other than ThrottlingException/InternalFailure;
    without one, nothing says the entry is refused for good. Now on_put_events() names it
    "UnknownError" and gives the notification up at the first attempt (outbox.c:619-625,
    attempt_refused). It should be retried like a transient failure (given up at max_age)."""
    p, fake, h = eventbridge_against(ctx, [{"FailedEntryCount": 1, "Entries": [{}]},
                                           {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}])
    try:
        wait_for(lambda: len(fake.calls) >= 2, 2, "a second PutEvents")
    except Exception:
        pass
    failed = lines_with(p, "MESSAGE_ID=" + event_id("NOTIFY_FAILED"))
    check(len(fake.calls) >= 2 and not failed, "retried, not given up: %d PutEvents; %s"
          % (len(fake.calls), failed[:1]))
