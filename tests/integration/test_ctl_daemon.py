# SPDX-License-Identifier: MIT
"""ecr-deployctl, the real binary, running every command against a running daemon on awssim: as
root and as a user in the control group (nobody with that group, through setpriv); the exit code of
each command and what the daemon did (the simulator's request log, the events, status --json),
not only what the client printed. A user outside the group is refused (77) before anything runs."""

import grp
import json
import os
import subprocess
import tempfile
import threading
import time

from harness import Sim, check, check_eq, ctl_request, wait_for
from test_ctl import ctl_path
from test_ctl_rollouts import completed
from test_deploy import poll_now, settle_first_start, start, target, web_watch, world
from test_daemon import lines_with

NOBODY = 65534
GROUP = "fax"  # a group of every Debian system that nothing else here uses
CONTROL_ACTION = "795048b770ec41b781bea4643d98ae52"
ZERO = "sha256:" + "0" * 64


class Ctl:
    """Runs ecr-deployctl against sock as root, or as nobody with (or without) the control group."""

    def __init__(self, sock, user):
        self.sock, self.user = sock, user

    def run(self, *args):
        argv = [ctl_path(), "--socket", self.sock, "--timeout", "40"] + list(args)
        if self.user == "group":
            gid = grp.getgrnam(GROUP).gr_gid
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % gid, "--groups=%d" % gid] + argv
        elif self.user == "nobody":
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + argv
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, env=env)
        return done.returncode, done.stdout, done.stderr

    def ok(self, *args):
        rc, out, err = self.run(*args)
        check_eq(rc, 0, "%s as %s (stderr %r)" % (" ".join(args), self.user, err[-300:]))
        return out

    def fails(self, code, *args):
        rc, out, err = self.run(*args)
        check_eq(rc, code, "%s as %s exits %d (stdout %r, stderr %r)" % (" ".join(args), self.user, code,
                                                                           out[-200:], err[-300:]))
        check(err.startswith("ecr-deployctl: "), "%s: an error on stderr: %r" % (" ".join(args), err[:200]))
        return err

    def status(self):
        return json.loads(self.ok("status", "--json"))

    def target(self):
        return self.status()["watches"][0]["targets"][0]


def deploys_of(p, digest):
    return len(completed(p, digest))


def push_and_complete(sim, p, seed):
    digest = sim.push("team/web", "prod", seed=seed)
    poll_now(p)
    wait_for(lambda: completed(p, digest), 40, "%s deployed" % seed)
    return digest


def every_command(sim, p, ctl, seed):
    """The whole control surface once, each command's effect checked in the daemon or in AWS."""
    out = ctl.ok("status")
    check("web/web" in out and "idle" in out, "status names the target, idle: %r" % out)
    check_eq(ctl.ok("version").startswith("ecr-deployd"), True, "version names the daemon")

    # pause / resume a target and everything; each change shows in status --json.
    ctl.ok("pause", "web/web", "--reason", "change freeze", "--until", "1h")
    t = ctl.target()
    check_eq((t["state"], t["paused"]["reason"]), ("paused", "change freeze"), "paused, with its reason")
    check(t["paused"]["until"] and t["paused"]["by"]["uid"] in (0, NOBODY), "until and who: %r" % t["paused"])
    ctl.ok("resume", "web/web")
    check_eq(ctl.target()["paused"], None, "resumed")
    ctl.ok("pause", "--all", "--reason", "incident")
    check_eq(ctl.status()["frozen"]["reason"], "incident", "frozen")
    ctl.ok("resume", "--all")
    check_eq(ctl.status()["frozen"], None, "thawed")

    # pin by tag (resolved now) and unpin.
    running = ctl.target()["deployed"]
    ctl.ok("pin", "web/web", "prod")
    check_eq(ctl.target()["pinned"]["digest"], running, "pinned to what prod is now")
    ctl.ok("unpin", "web/web")
    check_eq(ctl.target()["pinned"], None, "unpinned")

    # A push deploys; rollback returns to what ran before and marks the new digest failed; retry
    # forgets that failure and the watch's digest deploys again.
    new = push_and_complete(sim, p, seed)
    ctl.ok("rollback", "web/web")
    wait_for(lambda: ctl.target()["deployed"] == running and ctl.target()["rollout"] is None, 40,
             "the rollback to the digest before")
    check(ctl.target()["state"] in ("skipped-failed", "held"), "the watch's digest waits: %r" % ctl.target())
    check(new in ctl.target()["failed"], "the rolled-back digest is marked failed")
    ctl.ok("retry", "web/web", new)
    wait_for(lambda: deploys_of(p, new) == 2, 40, "the retried digest deployed again")
    check_eq(ctl.target()["deployed"], new, "the retried digest runs")

    # deploy now (nothing new: the target runs it), history, approve/reject with nothing awaiting.
    ctl.ok("deploy", "web")
    hist = ctl.ok("history", "web/web", "-n", "5")
    check("operator" in hist or "rolled" in hist or new[:19] in hist, "history lists the rollouts: %r" % hist)
    entries = json.loads(ctl.ok("history", "web/web", "--json"))["entries"]
    check(any(e["by"] == "operator" for e in entries), "the operator's rollback is in the history")
    ctl.fails(69, "approve", "web/web")
    ctl.fails(69, "reject", "web/web")
    ctl.fails(69, "retry", "web/web", ZERO)
    ctl.fails(64, "pin", "nosuch/target", "prod")

    ctl.ok("reload")
    check("ecr_deployd_info{" in ctl.ok("metrics"), "metrics")
    return new


def test_every_command_as_root_and_as_a_member_of_the_group(ctx):
    sim = Sim(ctx, seed=world())
    d = tempfile.mkdtemp(prefix="ecr-ctld-")  # reachable by nobody (the scratch directory is 0700)
    os.chmod(d, 0o755)
    ctx.short_dirs.append(d)
    sock = os.path.join(d, "control.sock")
    p = start(ctx, sim, [web_watch()], control={"socket": sock, "group": GROUP})
    wait_for(lambda: os.path.exists(sock) or not p.alive(), 20, "the socket")
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    settle_first_start(p)

    every_command(sim, p, Ctl(sock, "root"), "v2")
    every_command(sim, p, Ctl(sock, "group"), "v3")
    actions = lines_with(p, CONTROL_ACTION)
    check(any("CALLER_UID=65534" in l and "COMMAND=rollback" in l for l in actions),
          "the group member's rollback is audited with its uid")
    check(any("CALLER_UID=0" in l and "COMMAND=pause" in l for l in actions), "root's pause is audited")

    # Outside the group: refused before any command runs.
    before = len(lines_with(p, CONTROL_ACTION))
    nobody = Ctl(sock, "nobody")
    nobody.fails(77, "status")
    nobody.fails(77, "pause", "--all")
    check_eq(len(lines_with(p, CONTROL_ACTION)), before, "nothing ran for a user outside the group")
    check_eq(Ctl(sock, "root").status()["frozen"], None, "and nothing was paused")


def test_twenty_concurrent_clients_during_a_rollout(ctx):
    """20 clients asking for status (10 times each, on their own connections) while a rollout runs:
    every one answered with a status that is one of the rollout's states, and the rollout goes on
    untouched: one RegisterTaskDefinition, one UpdateService, DEPLOY_COMPLETED."""
    w = world()
    w["settings"]["task_start_seconds"] = 2.0  # a rollout that lasts while the clients ask
    sim = Sim(ctx, seed=w)
    p = start(ctx, sim, [web_watch()])
    sock = ctx.control_socket()
    wait_for(lambda: os.path.exists(sock) or not p.alive(), 20, "the socket")
    settle_first_start(p)
    seq = max([r["seq"] for r in sim.requests()] or [0])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: Ctl(sock, "root").target()["rollout"], 20, "the rollout under way")
    seen, errors = [], []

    def client(n):
        try:
            for i in range(10):
                r = ctl_request(sock, "status", id=[n, i], timeout=20)
                if not r.get("ok") or r.get("id") != [n, i]:
                    errors.append((n, i, r))
                    return
                seen.append(r["result"]["watches"][0]["targets"][0]["state"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check_eq(errors, [], "every status answered")
    check_eq(len(seen), 200, "200 answers")
    check(set(seen) <= {"deploying", "tracking", "idle"}, "states of a rollout: %r" % sorted(set(seen)))
    check("tracking" in seen or "deploying" in seen, "the rollout was seen under way")
    wait_for(lambda: completed(p, new), 40, "DEPLOY_COMPLETED")
    calls = [r["operation"] for r in sim.requests(since=seq, service="ecs")]
    check_eq((calls.count("RegisterTaskDefinition"), calls.count("UpdateService")), (1, 1),
             "one revision and one update, the clients notwithstanding")


def test_overrides_of_what_a_reload_removed_are_dropped_and_said(ctx):
    """A pause or pin of a target (or a watch) that a reload removed is dropped, said, and gone when
    the target comes back: kept, it would be invisible in status, out of reach of resume and unpin,
    and would come back unseen."""
    from test_daemon import write_config
    sim = Sim(ctx, seed=world(services=("web", "api", "other")))
    full = [web_watch(target("web"), target("api")),
            {"name": "other", "repository": "team/web", "tag": "prod", "targets": [target("other")]}]
    p = start(ctx, sim, full)
    sock = ctx.control_socket()
    wait_for(lambda: os.path.exists(sock) or not p.alive(), 20, "the socket")
    settle_first_start(p)
    root = Ctl(sock, "root")
    root.ok("pause", "web/api", "--reason", "x")
    root.ok("pin", "web/api", "prod")
    root.ok("pause", "other", "--reason", "y")
    root.ok("pause", "web/web", "--reason", "stays")

    write_config(ctx, [web_watch(target("web"))])
    root.ok("reload")
    said = lines_with(p, "is dropped: the configuration has no such")
    check_eq(sorted(l.split("the operator's ")[1].split(" of watch")[0] for l in said), ["pause", "pause", "pin"],
             "the two pauses and the pin said: %r" % said)
    check(any("watch 'other' is dropped" in l for l in said), "the watch's pause named")

    write_config(ctx, full)
    root.ok("reload")
    st = root.status()
    by_name = {t["name"]: t for w in st["watches"] for t in w["targets"]}
    check_eq((by_name["web/api"]["paused"], by_name["web/api"]["pinned"]), (None, None), "web/api came back clean")
    check_eq(st["watches"][1]["paused"], None, "so did the watch 'other'")
    check_eq(by_name["web/web"]["paused"]["reason"], "stays", "what is still configured keeps its pause")


def test_an_approval_waiting_for_ecs_at_sigterm_is_told_the_daemon_stops(ctx):
    """`approve` waits for ECS's answer to ContinueServiceDeployment; a SIGTERM meanwhile: the
    daemon exits at once and cleanly, and the client gets `timeout` saying the daemon stops
    (not a bare close it could take for a crash)."""
    from harness import ctl_connect
    from test_strategies import make_sim, pause_cfg, svc, wait_awaiting
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    p = start(ctx, sim, [web_watch()])
    sock = ctx.control_socket()
    wait_for(lambda: os.path.exists(sock) or not p.alive(), 20, "the socket")
    settle_first_start(p)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_awaiting(sim, p)
    sim.fault("ecs.ContinueServiceDeployment", "delay", delay=5, count=1)
    waiting = ctl_connect(sock)
    waiting.send("approve", {"target": "web/web"})
    # The simulator logs a request once answered (5 s from now): nothing to wait on but the time
    # the loop takes to read the request and send the call.
    time.sleep(1)
    check_eq(p.stop(grace=10), 0, "exit status at SIGTERM")
    reply = waiting.reply()
    check(reply is not None and reply.get("ok") is False, "an answer: %r" % reply)
    check_eq((reply["error"]["code"], reply["error"]["exit"]), ("timeout", 75), "the daemon stops")
    check("stopping" in reply["error"]["message"], "said: %r" % reply["error"]["message"])
    check_eq(ctx.sanitizer_reports(), [], "sanitizer reports")
