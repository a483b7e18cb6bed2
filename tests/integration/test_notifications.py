# SPDX-License-Identifier: MIT
"""Notifications (issue 17, docs/notifications.md) against awssim and hookrecv (tests/tools): each
phase one message of the right shape per sink and filter, the HMAC signature, delivery at least
once through the outbox (receiver down, kill -9 mid-send), how each kind of receiver failure ends
(500, 429, hang, slow, 301, 413), a hung receiver never delaying a deploy (measured), the Slack
payload against the block-kit fixture, EventBridge's PutEvents, the backlog bound, and secrets in
no output."""

import json
import os
import re
import secrets
import signal
import sys
import time

from harness import ROOT, Failure, Sim, check, check_eq, ctl_request, daemon_path, wait_for
from test_ctl import ctl_path
from test_daemon import daemon_env, lines_with
from test_deploy import (DEPLOY_COMPLETED, ROLLBACK_COMPLETED, poll_now, start,
                         web_watch, world)
from test_strategies import AWAITING_APPROVAL, events, make_sim, pause_cfg, svc, wait_awaiting
from test_verdicts import BLOCKED, ROLLBACK_FAILED, forget_what_ran

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from hookrecv import HookRecv, sign, verify_signature  # noqa: E402

# What the documentation promises a receiver: version 1 of the body (docs/notifications.md,
# daemon/notice.h notice_body()). Adding a key is compatible; these must all be there.
BODY_KEYS = {"version", "id", "kind", "severity", "time", "host", "watch", "repository", "tag", "digest",
             "previous_digest", "target", "cluster", "service", "region", "task_definition",
             "previous_task_definition", "deployment_id", "strategy", "duration_ms", "reason", "summary",
             "messages"}
SEVERITY = {"deploy-started": "info", "deploy-completed": "info", "deploy-failed": "error",
            "rolled-back": "warning", "rollback-failed": "error", "awaiting-approval": "warning",
            "blocked": "error", "watch-failing": "error"}
DETAIL_TYPE = {"deploy-started": "Deploy Started", "deploy-completed": "Deploy Completed",
               "deploy-failed": "Deploy Failed", "rolled-back": "Deploy Rolled Back",
               "rollback-failed": "Rollback Failed", "awaiting-approval": "Deploy Awaiting Approval",
               "blocked": "Deploy Blocked", "watch-failing": "Watch Failing"}
KEY = re.compile(r"[0-9a-f]{32}\Z")


def documented_body():
    """{key: type} of the body's table in docs/notifications.md (version 1)."""
    with open(os.path.join(ROOT, "docs", "notifications.md")) as f:
        text = f.read()
    start = text.index("## The webhook body (version 1)")
    table = text[start:text.index("\n\n", text.index("| key |", start))]
    out = {}
    for keys, typ in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| ([^|]+?) \|", table, re.M):
        for k in re.findall(r"`(\w+)`", keys):
            out[k] = typ
    return out


TYPES = {"number": (int, float), "string": (str,), "null": (type(None),), "array of strings": (list,)}


def OK(r):
    """A request answered 200 (for wait_requests' cond)."""
    return r.status == 200

# The backoff of notification attempts, shortened for tests through the knob the outbox documents
# (daemon/outbox.h OUTBOX_BACKOFF_ENV, OUTBOX_BACKOFF_CAP_ENV): base and cap in milliseconds.
NOTIFY_ENV = {"ECR_DEPLOYD_NOTIFY_BACKOFF_MS": "50", "ECR_DEPLOYD_NOTIFY_BACKOFF_CAP_MS": "1000"}


def event_ids():
    """The MESSAGE_IDs of daemon/events.h, by name (NOTIFY_FAILED, ...)."""
    with open(os.path.join(ROOT, "daemon", "events.h")) as f:
        return dict(re.findall(r'#define\s+EVENT_(\w+)\s+"([0-9a-f]{32})"', f.read()))


def event_id(name):
    ids = event_ids()
    if name not in ids:
        raise Failure("daemon/events.h defines no EVENT_%s" % name)
    return ids[name]


# -- the world -----------------------------------------------------------------------------------

class Hooks:
    """A test's sinks: the receiver, a secret in a file, and URL tokens no output may show."""

    def __init__(self, ctx, sim=None):
        self.ctx = ctx
        tls = ctx.path("tls")
        self.recv = HookRecv(ctx, tls_dir=tls)
        self.ca = self.recv.ca
        self.secret = ("whsec-" + secrets.token_hex(16)).encode()
        self.secret_file = ctx.write("webhook-secret", self.secret.decode() + "\n")
        os.chmod(self.secret_file, 0o600)
        ctx.secrets.add(self.secret.decode())
        self.tokens = {}

    def url(self, name, recv=None):
        """The URL of sink `name`: a path with a token of its own, as Slack's and most hooks' are."""
        token = self.tokens.setdefault(name, "T0K" + secrets.token_hex(12))
        self.ctx.secrets.add(token)
        return (recv or self.recv).url("/%s/%s" % (name, token))

    def url_file(self, name, recv=None):
        path = self.ctx.write("url-" + name, self.url(name, recv) + "\n")
        os.chmod(path, 0o600)
        return path

    def webhook(self, name, recv=None, signed=True, **kw):
        sink = dict({"type": "webhook", "name": name, "url_file": self.url_file(name, recv), "timeout": "2s"}, **kw)
        if signed:
            sink["secret_file"] = self.secret_file
        return sink

    def slack(self, name="slack", recv=None, **kw):
        return dict({"type": "slack", "name": name, "url_file": self.url_file(name, recv), "timeout": "2s"}, **kw)

    def of(self, name, recv=None):
        """The requests of sink `name` (by its path)."""
        return [r for r in (recv or self.recv).requests() if r.path.split("/")[1:2] == [name]]


def run(ctx, sim, hooks, sinks, watches=None, env=None, **settings):
    """The daemon with these sinks, trusting the test CA, its metrics in a file."""
    settings.setdefault("aws", {"region": "us-east-1", "ca_bundle": hooks.ca})
    settings.setdefault("metrics_file", ctx.path("metrics.prom"))
    ctx.outputs.append(ctx.path("metrics.prom"))
    e = daemon_env(ctx, sim, **NOTIFY_ENV)
    e.update(env or {})
    return start(ctx, sim, watches or [web_watch()], env=e, notify=sinks, **settings)


def settle(p):
    """The first cycle met the service (it runs ECR's digest); fails at once if the daemon exited."""
    def ready():
        if not p.alive():
            raise Failure("ecr-deployd exited: %s" % p.read_stderr()[-1500:])
        return lines_with(p, "already runs")
    wait_for(ready, 20, "first-start inspection")


def deploy(sim, p, seed, n=None):
    """Pushes team/web:prod and polls at once; waits for the rollout's end (DEPLOY_COMPLETED or a
    rollback); returns (digest, seconds from the push to DEPLOY_COMPLETED or None)."""
    before = len(lines_with(p, DEPLOY_COMPLETED))
    before_rb = len(lines_with(p, ROLLBACK_COMPLETED)) + len(lines_with(p, ROLLBACK_FAILED))
    digest = sim.push("team/web", "prod", seed=seed)
    t0 = time.monotonic()
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) > before
             or len(lines_with(p, ROLLBACK_COMPLETED)) + len(lines_with(p, ROLLBACK_FAILED)) > before_rb,
             40, "the rollout of %s ends" % seed, interval=0.01)
    took = time.monotonic() - t0 if len(lines_with(p, DEPLOY_COMPLETED)) > before else None
    return digest, took


def by_kind(reqs):
    """{kind: [requests]} by the X-Ecr-Deployd-Event header (or the body's kind)."""
    out = {}
    for r in reqs:
        kind = r.header("X-Ecr-Deployd-Event")
        if kind is None:
            try:
                kind = r.json().get("kind")
            except ValueError:
                kind = None
        out.setdefault(kind, []).append(r)
    return out


def check_webhook(r, kind, secret=None):
    """One webhook request of the documented shape (headers, body version 1); the body."""
    check_eq(r.method, "POST", "method")
    check((r.header("Content-Type") or "").startswith("application/json"), "Content-Type: %r" % r.header("Content-Type"))
    check((r.header("User-Agent") or "").startswith("ecr-deployd/"), "User-Agent: %r" % r.header("User-Agent"))
    check_eq(r.header("X-Ecr-Deployd-Event"), kind, "X-Ecr-Deployd-Event")
    key = r.header("Idempotency-Key")
    check(key and KEY.match(key), "Idempotency-Key is 32 lowercase hex: %r" % key)
    check_eq(r.header_count("Idempotency-Key"), 1, "one Idempotency-Key header")
    body = r.json()
    missing = BODY_KEYS - set(body)
    check(not missing, "%s: the body has every key of version 1 (missing %s)" % (kind, sorted(missing)))
    doc = documented_body()
    check_eq(sorted(body), sorted(doc), "%s: the body's keys are those docs/notifications.md lists" % kind)
    for k, typ in doc.items():
        allowed = tuple(t for name in typ.split("/") for t in TYPES.get(name.strip(), ()))
        check(isinstance(body[k], allowed), "%s: %s is %s as documented: %r" % (kind, k, typ, body[k]))
    check_eq(body["version"], 1, "version")
    check_eq(body["id"], key, "the body's id is the Idempotency-Key")
    check_eq(body["kind"], kind, "kind")
    check_eq(body["severity"], SEVERITY[kind], "%s: severity" % kind)
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z", body["time"] or ""), "time: %r" % body["time"])
    check(isinstance(body["messages"], list), "messages is a list: %r" % body["messages"])
    if secret is not None:
        ok, why = verify_signature(secret, r.header("X-Ecr-Deployd-Signature"), r.body)
        check(ok, "%s: the signature verifies: %s" % (kind, why))
    else:
        check_eq(r.header("X-Ecr-Deployd-Signature"), None, "no signature without a secret")
    return body


def check_once_each(reqs, kinds, what):
    """Exactly one notification (one key, answered 200 once) of each kind, and none of others."""
    got = by_kind(reqs)
    check_eq(sorted(k for k in got), sorted(kinds), "%s: the kinds received" % what)
    for kind, rs in got.items():
        keys = set(r.key for r in rs)
        check_eq(len(keys), 1, "%s: one %s notification (keys %s)" % (what, kind, keys))
        answered_once(rs, "%s: %s" % (what, kind))
    return {k: [r for r in v if r.status == 200][0] for k, v in got.items()}


def answered_once(rs, what):
    """The attempts of one notification: answered 200 once, the last (an attempt that timed out
    on a loaded machine may come before; none may come after the 200)."""
    oks = [r for r in rs if r.status == 200]
    check_eq(len(oks), 1, "%s: answered 200 once: %r" % (what, rs))
    check(rs[-1] is oks[0], "%s: nothing sent after the 200: %r" % (what, rs))


def status_json(ctx):
    argv = [ctl_path(), "--socket", ctx.control_socket(), "--timeout", "20", "status", "--json"]
    status, out, err = ctx.run(argv, timeout=30)
    check_eq(status, 0, "ecr-deployctl status --json: %s" % err[-300:])
    return json.loads(out)


def status_text(ctx):
    argv = [ctl_path(), "--socket", ctx.control_socket(), "--timeout", "20", "status"]
    status, out, err = ctx.run(argv, timeout=30, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                      "LC_ALL": "C.UTF-8", "TZ": "UTC", "NO_COLOR": "1"})
    check_eq(status, 0, "ecr-deployctl status: %s" % err[-300:])
    return out


def sink_status(ctx, name):
    st = status_json(ctx)
    notify = st.get("notify")
    if notify is None:
        notify = (st.get("status") or {}).get("notify")
    check(isinstance(notify, list), "status --json has a notify list: %s" % sorted(st))
    for s in notify:
        if s.get("name") == name:
            return s
    raise Failure("no sink %r in status: %r" % (name, notify))


def metric(path, name, sink):
    """The value of metric `name` for sink (None when absent)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith(name + "{") and ('sink="%s"' % sink) in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def put_events(sim):
    """The entries awssim's PutEvents accepted (bus, source, detail-type, detail parsed, time)."""
    got = sim.control("GET", "/put-events")
    return got.get("entries", got.get("events", [])) if isinstance(got, dict) else got


def slack_ok(ctx, payload, name):
    """tests/tools/slackcheck.py (F's checker of the block-kit fixture, tests/data/slack) finds
    nothing Slack would refuse in the payload (and does find something in a broken one)."""
    import slackcheck
    check(slackcheck.check({"attachments": [{"blocks": [{"type": "header"}]}]}), "slackcheck can fail")
    problems = slackcheck.check(json.loads(payload))
    check_eq(problems, [], "slack payload %s (%s)" % (name, payload[:300]))


# -- each phase ----------------------------------------------------------------------------------

def test_each_phase_one_message_per_sink_and_filter(ctx):
    """deploy-started (enabled on one sink), deploy-completed, deploy-failed (with the reason and
    ECS's messages) and rolled-back: one message each, of the documented shape, per sink whose
    filter lets it through (none to a sink whose filter excludes it); the HMAC verifies and a wrong
    secret does not; the Slack payload passes the fixture; EventBridge gets the same bodies."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    all_kinds = sorted(SEVERITY)
    sinks = [h.webhook("all", events=all_kinds),
             h.webhook("done", events=["deploy-completed"], signed=False),
             h.webhook("errors", min_severity="error"),
             h.webhook("other", watches=["other"]),
             h.webhook("elsewhere", services=["prod/api"]),
             h.slack("slack"),
             {"type": "eventbridge", "name": "bus", "event_bus": "deploys", "region": "us-east-1"}]
    p = run(ctx, sim, h, sinks)
    settle(p)
    good, _ = deploy(sim, p, "v2")
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED")
    # all: started (2), completed, failed, rolled-back.
    def delivered(name):  # Slack's requests carry no key: each one answered 200 counts
        return len(set(r.key or id(r) for r in h.of(name) if r.status == 200))
    wait_for(lambda: delivered("all") >= 5, 20, "the five notifications of sink all")
    try:
        wait_for(lambda: delivered("slack") >= 3 and delivered("errors") >= 1 and delivered("done") >= 1, 20,
                 "the other sinks' notifications")
    except Failure as e:
        raise Failure("%s: %s" % (e, [(n, h.of(n)) for n in ("slack", "errors", "done")]))
    time.sleep(0.5)  # anything more that was to come (a second message would be the bug)
    got = by_kind(h.of("all"))
    check_eq(sorted(got), ["deploy-completed", "deploy-failed", "deploy-started", "rolled-back"], "sink all: kinds")
    check_eq(len(set(r.key for r in got["deploy-started"])), 2, "two deploy-started, two keys (two rollouts)")
    for kind in ("deploy-completed", "deploy-failed", "rolled-back"):
        check_eq(len(set(r.key for r in got[kind])), 1, "sink all: one %s" % kind)
    bodies = {}
    for kind, rs in got.items():
        for key in set(r.key for r in rs):
            answered_once([r for r in rs if r.key == key], "sink all: %s" % kind)
        got[kind] = [r for r in rs if r.status == 200]
        for r in got[kind]:
            bodies.setdefault(kind, []).append(check_webhook(r, kind, h.secret))
    c = bodies["deploy-completed"][0]
    check_eq((c["watch"], c["repository"], c["tag"], c["digest"], c["cluster"], c["service"], c["region"]),
             ("web", "team/web", "prod", good, "prod", "web", "us-east-1"), "completed: what and where")
    check(isinstance(c["duration_ms"], int) and c["duration_ms"] > 0, "completed: duration_ms %r" % c["duration_ms"])
    check((c["task_definition"] or "").endswith("task-definition/web:2"), "task_definition %r" % c["task_definition"])
    check(c["previous_digest"] and c["previous_digest"] != good, "previous_digest %r" % c["previous_digest"])
    check((c["deployment_id"] or "").startswith("ecs-svc/"), "deployment_id %r" % c["deployment_id"])
    check_eq(c["strategy"], "revision", "strategy")
    f = bodies["deploy-failed"][0]
    check_eq(f["digest"], bad, "failed: the bad digest")
    check(f["reason"] and "circuit breaker" in f["reason"], "failed: the reason: %r" % f["reason"])
    check(f["messages"] and any("exited" in m or "fail" in m for m in f["messages"]),
          "failed: ECS's messages quoted: %r" % f["messages"])
    rb = bodies["rolled-back"][0]
    check_eq(rb["digest"], bad, "rolled-back: of the bad digest")
    # The HMAC: a receiver with the wrong secret refuses it; a body changed by one byte too.
    r = got["deploy-completed"][0]
    check(not verify_signature(b"not-the-secret", r.header("X-Ecr-Deployd-Signature"), r.body)[0],
          "a wrong secret does not verify")
    check(not verify_signature(h.secret, r.header("X-Ecr-Deployd-Signature"), r.body + b" ")[0],
          "a changed body does not verify")
    t = int(r.header("X-Ecr-Deployd-Signature").split(",")[0][2:])
    check(abs(t - r.at) < 30, "t is the time of the attempt: %d vs %.0f" % (t, r.at))
    check(not verify_signature(h.secret, sign(h.secret, t - 600, r.body), r.body)[0], "an old t is refused")
    # Filters: done has completed only (unsigned); errors failed only; other and elsewhere none.
    done = check_once_each(h.of("done"), ["deploy-completed"], "sink done")["deploy-completed"]
    check_webhook(done, "deploy-completed", None)
    check_eq(done.key, r.key, "the same phase has the same key on every sink")
    check_once_each(h.of("errors"), ["deploy-failed"], "sink errors (min_severity error)")
    check_eq(h.of("other"), [], "no message to a sink of another watch")
    check_eq(h.of("elsewhere"), [], "no message to a sink of another service")
    # Slack: the three default kinds (started is off by default), each a payload Slack accepts.
    sl = h.of("slack")
    check_eq(len([s for s in sl if s.status == 200]), 3, "slack: completed, failed, rolled-back: %r" % sl)
    colours = {}
    for i, s in enumerate(s for s in sl if s.status == 200):
        check_eq(s.header("X-Ecr-Deployd-Signature"), None, "no signature to Slack")
        slack_ok(ctx, s.body, str(i))
        payload = s.json()
        colours[payload["attachments"][0]["color"]] = payload
    check_eq(sorted(colours), sorted(["#2eb67d", "#e01e5a", "#ecb22e"]), "green, red and amber")
    # EventBridge: the same bodies, source ecr-deployd, detail-type per kind, on the bus.
    entries = wait_for(lambda: len(put_events(sim)) >= 3 and put_events(sim), 20, "three PutEvents entries")
    time.sleep(0.3)
    entries = put_events(sim)
    check_eq(len(entries), 3, "one entry per phase (default kinds): %r" % entries)
    for e in entries:
        detail = e.get("detail") if isinstance(e.get("detail"), dict) else json.loads(e.get("detail") or e["Detail"])
        check_eq(e.get("source", e.get("Source")), "ecr-deployd", "source")
        check_eq(e.get("detail-type", e.get("DetailType")), DETAIL_TYPE[detail["kind"]], "detail-type")
        bus = e.get("bus", e.get("EventBusName"))
        check(bus == "deploys" or (bus or "").endswith("event-bus/deploys"), "the bus: %r" % bus)
        web = [b for b in bodies[detail["kind"]] if b["id"] == detail["id"]]
        check_eq(detail, web[0] if web else None, "detail is the webhook's body")


def test_awaiting_approval_once_then_rejected(ctx):
    """A PAUSE hook: awaiting-approval once (however often the daemon looks), then the rejection:
    deploy-failed and rolled-back, one each."""
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all")])
    settle(p)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, _ = wait_awaiting(sim, p)
    h.recv.wait_requests(1, 15, "awaiting-approval", cond=OK)
    st = ctx.run([daemon_path(), "-c", ctx.path("etc", "ecr-deployd.json"), "--reject", "web/web"],
                 env=daemon_env(ctx, sim), timeout=30)
    check_eq(st[0], 0, "--reject: %s" % st[2][-300:])
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 30, "the rollback ends")
    h.recv.wait_requests(3, 15, "failed and rolled-back", cond=OK)
    time.sleep(0.5)
    one = check_once_each(h.of("all"), ["awaiting-approval", "deploy-failed", "rolled-back"], "sink all")
    b = check_webhook(one["awaiting-approval"], "awaiting-approval", h.secret)
    check(b["reason"], "awaiting-approval says why: %r" % b)
    check_eq(len(events(p, AWAITING_APPROVAL, "web")), 1, "the journal said it once too")


def test_operator_rollback_is_one_rolled_back_about_the_digest_left(ctx):
    """`ecr-deployctl rollback` deploys the digest that ran before: one rolled-back notification
    naming the digest rolled back from (digest) and the one running again (previous_digest), with
    the operator in the reason; no deploy-started or deploy-completed for the old digest."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", events=["deploy-started", "deploy-completed", "rolled-back"])])
    settle(p)
    v2, _ = deploy(sim, p, "v2")
    v3, _ = deploy(sim, p, "v3")
    h.recv.wait_requests(4, 20, "the two deploys' notifications", cond=OK)
    n = len(h.recv.answered(200))
    reply = ctl_request(ctx.control_socket(), "rollback", {"target": "web/web"}, id="rb", timeout=40)
    check(reply.get("ok") is True, "rollback accepted: %r" % reply)
    h.recv.wait_requests(n + 1, 30, "the rollback's notification", cond=OK)
    wait_for(lambda: len([f for _, f in events(p, DEPLOY_COMPLETED, "web") if f.get("IMAGE_DIGEST") == v2]) == 2,
             30, "v2 runs again")
    time.sleep(0.5)
    later = h.recv.requests()[n:]
    check_eq([r.header("X-Ecr-Deployd-Event") for r in later], ["rolled-back"], "one rolled-back, nothing else")
    b = check_webhook(later[0], "rolled-back", h.secret)
    check_eq((b["digest"], b["previous_digest"]), (v3, v2), "rolled back from v3 to v2")
    check(b["reason"] and "operator" in b["reason"] and "uid %d" % os.getuid() in b["reason"],
          "the operator in the reason: %r" % b["reason"])


def test_blocked_once(ctx):
    """AccessDenied on RegisterTaskDefinition: blocked, one message (error severity, the reason)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all")])
    settle(p)
    sim.fault("ecs.RegisterTaskDefinition", "error", code="AccessDeniedException", status=400, format="json",
              message="User: x is not authorized to perform: ecs:RegisterTaskDefinition", count=1)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, BLOCKED), 20, "BLOCKED")
    h.recv.wait_requests(1, 15, "blocked", cond=OK)
    time.sleep(1.0)  # a second message would come now
    one = check_once_each(h.of("all"), ["blocked"], "sink all")
    b = check_webhook(one["blocked"], "blocked", h.secret)
    check(b["reason"], "blocked says why: %r" % b)


def test_rollback_failed_once(ctx):
    """No digest known to go back to (test_verdicts' case 2): rollback-failed, one message."""
    from test_deploy import target as tgt
    sim = Sim(ctx, seed=world(breaker=False))
    sim.settings(service_deployments=False)
    h = Hooks(ctx)
    sinks = [h.webhook("all")]
    watch = web_watch(tgt("web", rollout_timeout="10s"))
    p = run(ctx, sim, h, sinks, watches=[watch])
    settle(p)
    p.stop()
    forget_what_ran(ctx, keep_previous=False)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    p = run(ctx, sim, h, sinks, watches=[watch])
    wait_for(lambda: lines_with(p, ROLLBACK_FAILED), 40, "ROLLBACK_FAILED")
    h.recv.wait_requests(2, 15, "failed and rollback-failed", cond=OK)
    time.sleep(0.5)
    one = check_once_each(h.of("all"), ["deploy-failed", "rollback-failed"], "sink all")
    b = check_webhook(one["rollback-failed"], "rollback-failed", h.secret)
    check(b["reason"], "rollback-failed says why: %r" % b)


def test_watch_failing_once_per_streak(ctx):
    """Every poll of the repository fails for failing_after (10s, the shortest the configuration
    takes): watch-failing once, however many polls fail after it."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", failing_after="10s")])
    settle(p)
    sim.fault("ecr.*", "error", code="AccessDeniedException", status=400, format="json", message="denied", rate=1.0)
    started = time.monotonic()
    poll_now(p)
    h.recv.wait_requests(1, 40, "watch-failing", cond=OK)
    took = time.monotonic() - started
    check(took >= 9.5, "not before failing_after: %.1f s" % took)
    for _ in range(2):  # two more failing polls: not said again
        n = len(sim.requests(service="ecr"))
        poll_now(p)
        wait_for(lambda: len(sim.requests(service="ecr")) > n, 15, "another failing poll")
    time.sleep(0.5)
    one = check_once_each(h.of("all"), ["watch-failing"], "sink all")
    b = check_webhook(one["watch-failing"], "watch-failing", h.secret)
    check_eq(b["repository"], "team/web", "watch-failing names the repository")
    check(b["reason"] and "denied" in b["reason"].lower(), "with the error: %r" % b["reason"])


# -- delivery ------------------------------------------------------------------------------------

def test_receiver_down_then_up_every_message_once_by_key(ctx):
    """The receiver is down through two rollouts: once it is up, every notification arrives and is
    answered 200; the daemon may have retried, but never sent one key after its 200."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", events=["deploy-started", "deploy-completed"])])
    settle(p)
    h.recv.set_mode("down")
    deploy(sim, p, "v2")
    deploy(sim, p, "v3")
    outbox = ctx.path("state", "outbox")
    wait_for(lambda: len([f for f in os.listdir(outbox) if f.endswith(".json")]) == 4, 10,
             "four entries waiting in the outbox")
    h.recv.set_mode("ok")
    wait_for(lambda: len(set(r.key for r in h.recv.answered(200))) >= 4, 30, "four notifications answered 200")
    time.sleep(1.0)
    keys = h.recv.keys()
    check_eq(len(keys), 4, "four distinct keys: %r" % keys)
    for k in keys:
        rs = [r for r in h.recv.requests() if r.key == k]
        oks = [r for r in rs if r.status == 200]
        check_eq(len(oks), 1, "key %s answered 200 once (none sent again after): %r" % (k, rs))
        check(rs[-1].status == 200, "nothing after the 200 of %s" % k)
    wait_for(lambda: not [f for f in os.listdir(outbox) if f.endswith(".json")], 10, "the outbox emptied")


def test_kill_9_mid_send_delivers_after_restart_with_the_same_key(ctx):
    """The receiver hangs on the attempt, the daemon is killed -9, the receiver answers again and
    the daemon restarts: the entry left in the outbox is delivered, with the same key and body."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    sinks = [h.webhook("all", events=["deploy-completed"])]
    p = run(ctx, sim, h, sinks)
    settle(p)
    h.recv.set_mode("hang")
    deploy(sim, p, "v2")
    first = h.recv.wait_requests(1, 15, "the attempt that hangs")[0]
    p.signal(signal.SIGKILL)
    p.wait(10)
    outbox = ctx.path("state", "outbox")
    left = [f for f in os.listdir(outbox) if f.endswith(".json")]
    check_eq(left, ["all.%s.json" % first.key], "the entry (<sink>.<key>.json) survived the kill")
    h.recv.set_mode("ok")
    check_eq(h.recv.answered(200), [], "nothing was answered before the kill")
    p = run(ctx, sim, h, sinks)
    wait_for(lambda: h.recv.answered(200), 20, "the notification delivered after the restart")
    got = h.recv.answered(200)
    check_eq([r.key for r in got], [first.key], "delivered once, with the same key")
    check_webhook(got[0], "deploy-completed", h.secret)
    check_eq(got[0].body, first.body, "the same body")


def test_500_429_and_slow_are_retried_and_the_status_and_metrics_say_so(ctx):
    """500: retried until the receiver answers; the sink shows failing (once in the journal),
    then recovered; 429: retried; a slow receiver (under the timeout): delivered once. Status and
    metrics count it, and name the host only."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", events=["deploy-completed"], timeout="5s")])
    settle(p)
    failing, recovered = event_id("NOTIFY_SINK_FAILING"), event_id("NOTIFY_SINK_RECOVERED")
    for mode, arg, seed in (("status", 500, "v2"), ("status", 429, "v3")):
        h.recv.set_mode(mode, arg)
        n0 = len(h.recv.requests())
        deploy(sim, p, seed)
        h.recv.wait_requests(n0 + 3, 20, "three attempts answered %d" % arg)
        if arg == 500:
            s = sink_status(ctx, "all")
            check(s["failing"] and s["pending"] == 1, "status: failing, one pending: %r" % s)
            check_eq(s["host"], h.recv.host, "status: the host")
            check(s["failing_since"], "failing_since: %r" % s)
            text = status_text(ctx)
            check(h.recv.host.split(":")[0] in text and "failing since" in text, "status text: %s" % text)
            wait_for(lambda: (metric(ctx.path("metrics.prom"), "ecr_deployd_notification_attempts_failed_total",
                                     "all") or 0) >= 2, 20, "attempts_failed_total in the metrics")
            check_eq(metric(ctx.path("metrics.prom"), "ecr_deployd_notifications_pending", "all"), 1.0,
                     "pending in the metrics")
        keys = set(r.key for r in h.recv.requests()[n0:])
        check_eq(len(keys), 1, "every attempt of one notification has one key")
        h.recv.set_mode("ok")
        wait_for(lambda: [r for r in h.recv.answered(200) if r.key in keys], 20, "delivered after %d" % arg)
    # The receiver's 200 comes before the daemon reads it: wait for the second recovery.
    wait_for(lambda: len(lines_with(p, recovered)) >= 2, 10, "NOTIFY_SINK_RECOVERED after the 429s")
    check_eq(len(lines_with(p, failing)), 2, "NOTIFY_SINK_FAILING once per failing stretch")
    check_eq(len(lines_with(p, recovered)), 2, "NOTIFY_SINK_RECOVERED once per stretch")
    for l in lines_with(p, failing):
        check(h.recv.host.split(":")[0] in l, "failing names the host: " + l)
    h.recv.set_mode("slow", 2)
    n0 = len(h.recv.requests())
    deploy(sim, p, "v4")
    wait_for(lambda: h.recv.answered(200)[-1:] and h.recv.answered(200)[-1] in h.recv.requests()[n0:], 20,
             "the slow receiver answers")
    check_eq(len(h.recv.requests()[n0:]), 1, "slow but within the timeout: one attempt")
    wait_for(lambda: sink_status(ctx, "all")["sent"] == 3, 10, "three sent in the status")
    s = sink_status(ctx, "all")
    check_eq((s["sent"], s["pending"], s["failing"]), (3, 0, False), "status: three sent, none pending, ok")
    wait_for(lambda: metric(ctx.path("metrics.prom"), "ecr_deployd_notifications_sent_total", "all") == 3.0, 20,
             "sent_total 3 in the metrics")
    check_eq(metric(ctx.path("metrics.prom"), "ecr_deployd_notifications_pending", "all"), 0.0, "none pending")


def test_hung_receiver_is_retried_delays_neither_other_sinks_nor_the_deploy(ctx):
    """A receiver that never answers: its attempts time out and are retried; another sink gets its
    message at once; the deploy takes no longer than with a healthy receiver (measured)."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    other = HookRecv(ctx, tls_dir=ctx.path("tls"))
    sinks = [h.webhook("hung", events=["deploy-started", "deploy-completed"], timeout="1s"),
             h.webhook("fine", recv=other, events=["deploy-started", "deploy-completed"])]
    p = run(ctx, sim, h, sinks)
    settle(p)
    _, healthy = deploy(sim, p, "v2")
    h.recv.wait_requests(2, 10, "the healthy rollout's notifications", cond=OK)
    h.recv.set_mode("hang")
    n0, m0 = len(h.recv.requests()), len(other.requests())
    _, hung = deploy(sim, p, "v3")
    print("push -> DEPLOY_COMPLETED: %.2f s with a healthy receiver, %.2f s with a hung one" % (healthy, hung))
    check(healthy is not None and hung is not None, "both completed")
    check(hung <= healthy + 2.0, "a hung receiver does not delay the deploy: %.2f s vs %.2f s" % (hung, healthy))
    other.wait_requests(m0 + 2, 5, "the other sink's two messages answered, while the first hangs", cond=OK)
    # Each hung attempt times out (1 s) and is tried again.
    h.recv.wait_requests(n0 + 3, 15, "the hung sink's attempts retried")
    h.recv.set_mode("ok")
    wait_for(lambda: len(set(r.key for r in h.recv.requests()[n0:] if r.status == 200)) >= 2, 20,
             "delivered once the receiver answers")


def test_redirect_and_413_end_with_one_notify_failed(ctx):
    """301 is not followed and ends the attempts; 413 too: one NOTIFY_FAILED each, naming the sink,
    the host and the status, never the URL."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    big = HookRecv(ctx, tls_dir=ctx.path("tls"))
    big.set_mode("status", 413)
    h.recv.set_mode("redirect")
    p = run(ctx, sim, h, [h.webhook("moved", events=["deploy-completed"]),
                          h.webhook("big", recv=big, events=["deploy-completed"])])
    settle(p)
    deploy(sim, p, "v2")
    failed = event_id("NOTIFY_FAILED")
    wait_for(lambda: len(lines_with(p, failed)) >= 2, 20, "two NOTIFY_FAILED")
    time.sleep(1.0)
    check_eq(len(h.recv.requests()), 1, "the redirect: one attempt, not followed: %r" % h.recv.requests())
    check_eq(len(big.requests()), 1, "413: one attempt")
    lines = lines_with(p, failed)
    check_eq(len(lines), 2, "one NOTIFY_FAILED each: %s" % lines)
    for sink, status in (("moved", "301"), ("big", "413")):
        mine = [l for l in lines if "NOTIFY_SINK=%s " % sink in l or l.endswith("NOTIFY_SINK=%s" % sink)]
        check_eq(len(mine), 1, "%s: one NOTIFY_FAILED: %s" % (sink, lines))
        check("HTTP_STATUS=" + status in mine[0], "%s: the status: %s" % (sink, mine[0]))
        check("NOTIFY_HOST=127.0.0.1" in mine[0], "%s: the host: %s" % (sink, mine[0]))
    check("redirect" in [l for l in lines if "NOTIFY_SINK=moved" in l][0], "says redirected")
    wait_for(lambda: not [f for f in os.listdir(ctx.path("state", "outbox")) if f.endswith(".json")], 10,
             "entries given up are removed")
    check_eq(sink_status(ctx, "big")["given_up"], 1, "status: given up")


def test_eventbridge_entry_failures_retried_or_permanent(ctx):
    """PutEvents with a failed entry: ThrottlingException is retried and delivered; another
    ErrorCode ends the attempts with NOTIFY_FAILED quoting it."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [{"type": "eventbridge", "name": "bus", "event_bus": "deploys", "region": "us-east-1",
                           "events": ["deploy-completed"]}])
    settle(p)
    sim.control("POST", "/events-fail", {"count": 2, "code": "ThrottlingException"})
    deploy(sim, p, "v2")
    wait_for(lambda: put_events(sim), 20, "the entry accepted after two throttled attempts")
    calls = [r for r in sim.requests(service="events") if r["operation"] == "PutEvents"]
    check(len(calls) >= 3, "retried: %d PutEvents" % len(calls))
    sim.control("POST", "/events-fail", {"count": 1, "code": "InvalidArgument", "message": "bad detail"})
    deploy(sim, p, "v3")
    failed = event_id("NOTIFY_FAILED")
    wait_for(lambda: lines_with(p, failed), 20, "NOTIFY_FAILED")
    time.sleep(0.5)
    lines = lines_with(p, failed)
    check_eq(len(lines), 1, "one NOTIFY_FAILED: %s" % lines)
    check("AWS_ERROR_CODE=InvalidArgument" in lines[0] and "bad detail" in lines[0], lines[0])
    check_eq(len(put_events(sim)), 1, "only the first was accepted")


def test_backlog_bound_drops_the_oldest_with_one_event_saying_how_many(ctx):
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    p = run(ctx, sim, h, [h.webhook("all", events=["deploy-started", "deploy-completed"], max_pending=2)])
    settle(p)
    h.recv.set_mode("down")
    deploy(sim, p, "v2")
    deploy(sim, p, "v3")
    dropped = event_id("NOTIFY_DROPPED")
    wait_for(lambda: lines_with(p, dropped), 10, "NOTIFY_DROPPED")
    lines = lines_with(p, dropped)
    n = 0
    for l in lines:
        m = re.search(r"\bN=(\d+)|\bDROPPED=(\d+)|\bNOTIFY_DROPPED_COUNT=(\d+)|dropped (\d+)", l)
        check(m, "NOTIFY_DROPPED says how many: " + l)
        n += int([g for g in m.groups() if g][0])
    check_eq(n, 2, "two dropped (four made, two kept): %s" % lines)
    outbox = ctx.path("state", "outbox")
    check_eq(len([f for f in os.listdir(outbox) if f.endswith(".json")]), 2, "two entries kept")
    h.recv.set_mode("ok")
    wait_for(lambda: len(h.recv.answered(200)) >= 2, 20, "the two kept delivered")
    time.sleep(0.5)
    check_once_each(h.recv.requests(), ["deploy-started", "deploy-completed"], "the newest rollout's")
    digests = set(r.json()["digest"] for r in h.recv.requests())
    check_eq(len(digests), 1, "both of the newest rollout")
    wait_for(lambda: metric(ctx.path("metrics.prom"), "ecr_deployd_notifications_dropped_total", "all") == 2.0,
             20, "dropped_total 2 in the metrics")


def test_secrets_in_no_output(ctx):
    """The URL's token and the secret in no journal line, status, metrics or --check-config output
    (the harness scans every process's output for them after the test); the host is shown."""
    sim = Sim(ctx, seed=world())
    h = Hooks(ctx)
    inline = h.url("inline")
    sinks = [h.webhook("all", events=["deploy-completed"]),
             {"type": "slack", "name": "inline", "url": inline, "timeout": "1s"}]
    h.recv.set_mode("status", 500)
    p = run(ctx, sim, h, sinks)
    settle(p)
    deploy(sim, p, "v2")
    h.recv.wait_requests(3, 20, "failing attempts")
    text = status_text(ctx)
    check(h.recv.host in text or "127.0.0.1" in text, "the host in the status: %s" % text)
    sink_status(ctx, "inline")
    status, out, err = ctx.run([daemon_path(), "-c", ctx.path("etc", "ecr-deployd.json"), "--check-config"],
                               env=daemon_env(ctx, sim), timeout=30)
    check_eq(status, 0, "--check-config: %s" % err[-300:])
    check("127.0.0.1" in out + err, "--check-config names the host: %s" % out)
    wait_for(lambda: os.path.exists(ctx.path("metrics.prom")), 20, "the metrics file")
    found = ctx.leaks()
    check_eq(found, [], "no secret in any output")
    for tok in h.tokens.values():
        check(tok not in text and tok not in out + err, "no token in the status or --check-config")


# -- the receiver itself -------------------------------------------------------------------------

def test_hookrecv_answers_per_mode_and_its_check_can_fail(ctx):
    """What the tests above rely on: each mode answers as said (down refuses, hang never answers,
    redirect is a 301, slow is late), the raw body and headers are kept, and the receiver's own
    signature check refuses a wrong secret, a changed body, an old t and a missing header."""
    import http.client
    import ssl
    r = HookRecv(ctx, tls_dir=ctx.path("tls"))
    tls = ssl.create_default_context(cafile=r.ca)

    def post(body=b'{"a": 1}', headers=None, timeout=3):
        c = http.client.HTTPSConnection("127.0.0.1", r.port, context=tls, timeout=timeout)
        try:
            c.request("POST", "/hook/x", body=body, headers=headers or {})
            resp = c.getresponse()
            return resp.status, resp.read()
        except OSError as e:
            return type(e).__name__, None
        finally:
            c.close()
    secret = b"s3cret"
    t = int(time.time())
    check_eq(post(headers={"X-Ecr-Deployd-Signature": sign(secret, t, b'{"a": 1}'), "Idempotency-Key": "k"}),
             (200, b"ok"), "ok")
    got = r.requests()[-1]
    check_eq((got.body, got.key, got.path), (b'{"a": 1}', "k", "/hook/x"), "raw body and headers kept")
    check(verify_signature(secret, got.header("X-Ecr-Deployd-Signature"), got.body)[0], "verifies")
    check(not verify_signature(b"wrong", got.header("X-Ecr-Deployd-Signature"), got.body)[0], "wrong secret")
    check(not verify_signature(secret, got.header("X-Ecr-Deployd-Signature"), got.body + b"x")[0], "changed body")
    check(not verify_signature(secret, sign(secret, t - 301, got.body), got.body)[0], "t too old")
    check(not verify_signature(secret, None, got.body)[0], "no header")
    for code in (500, 413, 429):
        r.set_mode("status", code)
        check_eq(post()[0], code, "status %d" % code)
    r.set_mode("redirect")
    check_eq(post()[0], 301, "redirect")
    r.set_mode("slow", 1)
    t0 = time.monotonic()
    check_eq(post()[0], 200, "slow")
    check(time.monotonic() - t0 >= 0.9, "slow is late")
    r.set_mode("hang")
    check_eq(post(timeout=1)[0], "TimeoutError", "hang never answers")
    r.set_mode("down")
    check_eq(post()[0], "ConnectionRefusedError", "down refuses")
    r.set_mode("ok")
    check_eq(post()[0], 200, "up again on the same port")
    check_eq([x.status for x in r.requests()], [200, 500, 413, 429, 301, 200, None, 200], "what was answered")
