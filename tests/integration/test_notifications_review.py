# SPDX-License-Identifier: MIT
"""Review of issue 17 (notifications): each test here fails against the code as reviewed and says
in its docstring what should happen instead. Quick: the backoff is shortened (NOTIFY_ENV)."""

import json
import os
import secrets
import signal

from harness import Sim, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import poll_now, world
from test_notifications import OK, Hooks, deploy, event_id, run, settle, sink_status


def test_review_watch_failing_reaches_a_sink_filtered_by_its_watch(ctx):
    """A sink with `watches: ["web"]` (nf-spec's own example filters by watch) must hear that the
    repository of watch "web" has failed every poll for failing_after. Now it never does:
    daemon/outbox.c outbox_polled() builds the watch-failing notice without a watch (nor
    cluster/service), so notice_matches() (daemon/notice.c:275) refuses it for every sink with a
    `watches` (or `services`) filter. The unfiltered sink gets it, the filtered one nothing."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", failing_after="10s"),
                          h.webhook("webonly", failing_after="10s", watches=["web"])])
    settle(p)
    sim.fault("ecr.*", "error", code="AccessDeniedException", status=400, format="json", message="denied",
              rate=1.0)
    poll_now(p)
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
        wait_for(lambda: lines_with(p, failing) or lines_with(p, failed), 5, "the failure said")
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
    # let the notification go so the daemon stops cleanly
    wait_for(lambda: sink_status(ctx, "ci")["sent"] >= 1, 20, "delivered once the receiver is up")


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
        wait_for(lambda: fake in [r.key for r in h.of("ci")], 6, "the symlinked entry attempted")
    except Exception:
        pass
    check(fake not in [r.key for r in h.of("ci")], "the symlinked entry's target is not read and sent: %r"
          % [r.key for r in h.of("ci")])
    check(os.path.exists(outside), "the target is left alone")
