# SPDX-License-Identifier: MIT
"""The control socket's rollout commands against a running daemon on awssim (docs/control.md):
deploy (what the watch wants, a given digest that the next poll does not undo, an unknown digest
refused before anything is sent, failed-before refused unless forced), rollback (the previous digest
deployed, the current one failed and never redeployed; nothing earlier: nothing-to-do), approve and
reject of a PAUSE hook of an ECS blue/green deployment, and the history (newest first, by auto or by
the operator, bounded by history_max, kept across a restart, a corrupt file kept aside). Each test
speaks JSON to the socket itself and asserts what the simulator saw, not only the reply."""

import json
import os
import signal
import socket
import time

from harness import Sim, check, check_eq, ctl_connect, ctl_request, wait_for
from test_daemon import lines_with
from test_deploy import (DEPLOY_COMPLETED, DEPLOY_FAILED, DEPLOY_STARTED, REPO_URI, ROLLBACK_COMPLETED,
                         ROLLBACK_STARTED, SKIPPED, poll_now, push_until_tracking, settle_first_start,
                         start, target, web_watch, world)
from test_strategies import (ROLLBACK_FAILED, daemon_calls, events, failed_digests, make_sim, pause_cfg,
                             svc, wait_awaiting)

ZERO = "sha256:" + "0" * 64


def accepts(path):
    """Whether the socket at path takes a connection: the file appears at bind(), before listen(),
    and a connect() between the two is refused (seen under SANITIZE=1 after a restart)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def launch(ctx, sim, watches, **settings):
    """The daemon with the test's own control socket (write_config's), once the socket answers."""
    p = start(ctx, sim, watches, **settings)
    wait_for(lambda: accepts(ctx.control_socket()) or not p.alive(), 20, "the control socket")
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    return p


def ctl(ctx, cmd, **args):
    """One request on a connection of its own (the harness's client); the reply."""
    reply = ctl_request(ctx.control_socket(), cmd, args, id=cmd, timeout=40)
    check_eq(reply.get("v"), 1, "the reply's version")
    check_eq(reply.get("id"), cmd, "the reply's id")
    return reply


def ok(reply, what):
    check(reply.get("ok") is True, "%s: ok: %r" % (what, reply))
    return reply["result"]


def error(reply, code, exit_code, what):
    check(reply.get("ok") is False, "%s: an error: %r" % (what, reply))
    check_eq((reply["error"]["code"], reply["error"]["exit"]), (code, exit_code), "%s: the error" % what)
    check(reply["error"].get("message"), "%s: a message" % what)
    return reply["error"]


def completed(p, digest):
    return [f for _, f in events(p, DEPLOY_COMPLETED, "web") if f.get("IMAGE_DIGEST") == digest]


def started(p, digest):
    return [f for _, f in events(p, DEPLOY_STARTED, "web") if f.get("IMAGE_DIGEST") == digest]


def registered(sim, digest, since=0):
    """RegisterTaskDefinition calls that pin digest."""
    return [r for r in daemon_calls(sim, since, "RegisterTaskDefinition") if digest in json.dumps(r["params"])]


def running_image(sim, service="web"):
    e = sim.client("ecs")
    s = e.describe_services(cluster="prod", services=[service])["services"][0]
    td = e.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
    return td["containerDefinitions"][0]["image"]


def failed_on(ctx, digest):
    return digest in failed_digests(ctx, "web")


def one_more_cycle(p):
    """Polls at once and waits until that cycle and its reconcile are over."""
    n = p.read_stderr().count("poll cycle:")
    poll_now(p)
    wait_for(lambda: p.read_stderr().count("poll cycle:") > n, 20, "a poll cycle")
    time.sleep(0.5)  # its reconcile runs on the next turn of the loop; nothing may start


def push_and_complete(sim, p, seed):
    digest = sim.push("team/web", "prod", seed=seed)
    poll_now(p)
    wait_for(lambda: completed(p, digest) or events(p, DEPLOY_FAILED, "web"), 30, "%s deployed" % seed)
    check(completed(p, digest), "DEPLOY_COMPLETED of %s" % seed)
    return digest


# -- deploy -------------------------------------------------------------------------------------

def test_deploy_now_deploys_what_the_watch_wants_to_a_held_target(ctx):
    sim = Sim(ctx, seed=world())
    wanted = sim.push("team/web", "prod", seed="v2")  # after the service started on v1
    p = launch(ctx, sim, [web_watch(target("web", on_first_start="skip"))])
    wait_for(lambda: [l for l in lines_with(p, SKIPPED) if wanted in l], 20, "the digest held at first start")
    one_more_cycle(p)
    check_eq(started(p, wanted), [], "held: a poll does not deploy it")
    res = ok(ctl(ctx, "deploy", watch="web"), "deploy web")
    check_eq(res, {"started": [{"target": "web/web", "digest": wanted}], "skipped": []}, "the reply")
    rollout = ok(ctl(ctx, "status"), "status")["watches"][0]["targets"][0]["rollout"]
    # In flight for a second at least (RegisterTaskDefinition, UpdateService, tasks starting).
    check(rollout is not None and (rollout["kind"], rollout["digest"]) == ("manual", wanted),
          "status shows the operator's rollout: %r" % rollout)
    wait_for(lambda: completed(p, wanted), 30, "the deploy completes")
    check_eq(running_image(sim), REPO_URI + "team/web@" + wanted, "the service runs the watch's digest")
    entry = ok(ctl(ctx, "history", name="web/web"), "history")["entries"][0]
    check_eq((entry["digest"], entry["result"], entry["by"], entry["caller"]["uid"]),
             (wanted, "completed", "operator", os.getuid()), "the history names the operator")


def test_deploy_of_an_older_digest_sticks_through_the_next_poll(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    old = [l for l in lines_with(p, "already runs")][0].split("already runs ")[1].split()[0]
    new = push_and_complete(sim, p, "v2")
    res = ok(ctl(ctx, "deploy", watch="web", digest=old), "deploy --digest")
    check_eq(res["started"], [{"target": "web/web", "digest": old}], "started")
    wait_for(lambda: completed(p, old), 30, "the older digest deployed")
    check_eq(running_image(sim), REPO_URI + "team/web@" + old, "the older digest runs")
    one_more_cycle(p)
    check_eq(len(started(p, new)), 1, "the next poll does not deploy the watch's digest again")
    check_eq(running_image(sim), REPO_URI + "team/web@" + old, "still the older digest")
    # A newer push deploys again.
    newer = push_and_complete(sim, p, "v3")
    check_eq(running_image(sim), REPO_URI + "team/web@" + newer, "a newer push follows the watch again")


def test_deploy_of_an_unknown_digest_is_refused_before_anything_is_sent(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    since = sim.control("GET", "/requests")["last"]
    err = error(ctl(ctx, "deploy", watch="web", digest=ZERO), "unknown-digest", 65, "an unknown digest")
    check(ZERO in err["message"] and "web" in err["message"], "the message names both: %r" % err["message"])
    asked = wait_for(lambda: [r for r in sim.requests(since=since, service="ecr") if r["operation"] == "DescribeImages"
                              and ZERO in json.dumps(r["params"].get("imageIds", []))], 5,
                     "ECR asked for that digest (logged after its answer)")
    check_eq(len(asked), 1, "ECR was asked for that digest once")
    check_eq(asked[0]["params"].get("repositoryName"), "team/web", "in the watch's repository")
    error(ctl(ctx, "deploy", watch="web", digest="latest"), "unknown-digest", 65, "not a digest")
    err = error(ctl(ctx, "deploy", watch="wbe"), "unknown-watch", 64, "a typo")
    check_eq(err.get("candidates"), ["web"], "the close names")
    time.sleep(0.5)
    check_eq(daemon_calls(sim, since, "RegisterTaskDefinition"), [], "no RegisterTaskDefinition")
    check_eq(daemon_calls(sim, since, "UpdateService"), [], "no UpdateService")


def test_deploy_of_a_failed_digest_is_refused_unless_forced(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch(target("web", rollout_timeout="20s"))])
    settle_first_start(p)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad)
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 40, "the rollback")
    check(failed_on(ctx, bad), "the digest failed there")
    since = sim.control("GET", "/requests")["last"]
    err = error(ctl(ctx, "deploy", watch="web"), "failed-before", 65, "a failed digest")
    check(bad in err["message"] and "web/web" in err["message"], "names digest and target: %r" % err["message"])
    time.sleep(0.3)
    check_eq(registered(sim, bad, since), [], "nothing registered")
    res = ok(ctl(ctx, "deploy", watch="web", target="web/web", force=True), "deploy --force")
    check_eq(res["started"], [{"target": "web/web", "digest": bad}], "force starts it")
    wait_for(lambda: registered(sim, bad, since), 20, "the forced deploy registers the digest")


def test_deploy_skips_a_paused_target_unless_forced(ctx):
    sim = Sim(ctx, seed=world(services=("web", "api")))
    p = launch(ctx, sim, [web_watch(target("web"), target("api"))])
    settle_first_start(p, 2)
    ok(ctl(ctx, "pause", name="web/web", reason="maintenance"), "pause web/web")
    wanted = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: [f for _, f in events(p, DEPLOY_COMPLETED, "api") if f.get("IMAGE_DIGEST") == wanted], 30,
             "the target that is not paused deploys")
    res = ok(ctl(ctx, "deploy", watch="web"), "deploy web")
    check_eq(res["started"], [], "nothing started")
    check_eq([s["target"] for s in res["skipped"]], ["web/web", "web/api"], "both skipped")
    check("paused" in res["skipped"][0]["reason"], "the reason: %r" % res["skipped"][0])
    check("runs" in res["skipped"][1]["reason"], "the reason: %r" % res["skipped"][1])
    check_eq(started(p, wanted), [], "the paused one is not deployed")
    res = ok(ctl(ctx, "deploy", watch="web", target="web/web", force=True), "deploy --force")
    check_eq(res, {"started": [{"target": "web/web", "digest": wanted}], "skipped": []}, "force deploys it")
    wait_for(lambda: completed(p, wanted), 30, "the forced deploy completes")


# -- rollback -----------------------------------------------------------------------------------

def test_rollback_deploys_the_previous_digest_and_fails_the_current_one(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    v1 = [l for l in lines_with(p, "already runs")][0].split("already runs ")[1].split()[0]
    v2 = push_and_complete(sim, p, "v2")
    v3 = push_and_complete(sim, p, "v3")
    res = ok(ctl(ctx, "rollback", target="web"), "rollback")
    check_eq(res, {"target": "web/web", "from": v3, "to": v2}, "back to the digest before")
    wait_for(lambda: len(completed(p, v2)) == 2, 30, "the previous digest deployed again")
    check_eq(running_image(sim), REPO_URI + "team/web@" + v2, "the previous digest runs")
    check(failed_on(ctx, v3), "the current digest is marked failed")
    one_more_cycle(p)
    check_eq(len(started(p, v3)), 1, "a poll does not deploy the rolled-back digest again")
    entries = ok(ctl(ctx, "history", name="web"), "history")["entries"]
    check_eq([(e["digest"], e["result"], e["by"]) for e in entries],
             [(v2, "completed", "operator"), (v3, "completed", "auto"), (v2, "completed", "auto")],
             "the history, newest first")
    check_eq(entries[0]["caller"]["uid"], os.getuid(), "the caller")
    # Once more: v3 failed, so back to v1 (what the watch followed before is not needed).
    res = ok(ctl(ctx, "rollback", target="web/web"), "rollback again")
    check_eq((res["from"], res["to"]), (v2, v1), "back past the failed digest")


def test_rollback_of_a_rollout_in_flight_rolls_it_back_and_fails_its_digest(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    v1 = [l for l in lines_with(p, "already runs")][0].split("already runs ")[1].split()[0]
    sim.settings(task_start_seconds=60)  # the new tasks never start while the test runs
    v2 = push_until_tracking(ctx, sim, p, "v2")
    since = sim.control("GET", "/requests")["last"]
    res = ok(ctl(ctx, "rollback", target="web/web"), "rollback in flight")
    check_eq(res, {"target": "web/web", "from": v2, "to": v1}, "the reply")
    sim.settings(task_start_seconds=0.3)
    # As on a failure: the engine's rollback (here a revision pinned to v1, the task definition
    # before naming the tag, which points at v2 now; else StopServiceDeployment ROLLBACK).
    wait_for(lambda: lines_with(p, ROLLBACK_STARTED), 10, "ROLLBACK_STARTED")
    busy = ctl(ctx, "rollback", target="web/web")
    if not busy.get("ok"):  # the rollback may be over already
        error(busy, "busy", 75, "a rollback while rolling back")
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 40, "the rollback")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED")
    check_eq(running_image(sim), REPO_URI + "team/web@" + v1, "the service runs v1 again")
    check(failed_on(ctx, v2), "the digest in flight is marked failed")
    check(any("rolled back by an operator" in l for l in lines_with(p, DEPLOY_FAILED)), "DEPLOY_FAILED says why")
    entry = ok(ctl(ctx, "history", name="web/web"), "history")["entries"][0]
    check_eq((entry["digest"], entry["result"]), (v2, "rolled-back"), "the history")
    check(entry["reason"].startswith("rolled back by an operator"), "the reason: %r" % entry["reason"])
    one_more_cycle(p)
    check_eq(len(started(p, v2)), 1, "not deployed again")


def test_rollback_with_nothing_earlier_is_nothing_to_do(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    since = sim.control("GET", "/requests")["last"]
    err = error(ctl(ctx, "rollback", target="web/web"), "nothing-to-do", 69, "nothing earlier")
    check("web/web" in err["message"], "names the target: %r" % err["message"])
    err = error(ctl(ctx, "rollback", target="nope"), "unknown-target", 64, "an unknown target")
    check_eq(err.get("candidates", [])[:1], ["web/web"], "the close names")
    time.sleep(0.3)
    check_eq(daemon_calls(sim, since, "RegisterTaskDefinition"), [], "nothing deployed")


# -- approve, reject ----------------------------------------------------------------------------

def test_approve_continues_the_hook_and_the_rollout_completes(ctx):
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, arn = wait_awaiting(sim, p)
    check(any("ecr-deployctl approve|reject web/web" in l or "ecr-deployctl approve|reject WATCH/SERVICE" in l
              for l, _ in events(p, "9c0c2de006c7491cbff086cc0a5c95f3", "web")),
          "AWAITING_APPROVAL names ecr-deployctl")
    t = ok(ctl(ctx, "status"), "status")["watches"][0]["targets"][0]
    check_eq((t["state"], t["awaiting_approval"]["hook"], t["rollout"]["digest"]),
             ("awaiting-approval", hook["hookId"], new), "status while the hook waits")
    check(t["awaiting_approval"]["expires"] > time.time(), "the hook's expiry: %r" % t["awaiting_approval"])
    res = ok(ctl(ctx, "approve", target="web/web"), "approve")
    check_eq(res, {"target": "web/web", "hook": hook["hookId"], "action": "CONTINUE"}, "the reply")
    # The simulator logs a request after it answered it: looked for with a deadline.
    wait_for(lambda: daemon_calls(sim, 0, "ContinueServiceDeployment"), 5, "the request in the simulator's log")
    check_eq([(c["params"].get("serviceDeploymentArn"), c["params"].get("hookId"), c["params"].get("action"))
              for c in daemon_calls(sim, 0, "ContinueServiceDeployment")], [(arn, hook["hookId"], "CONTINUE")],
             "one ContinueServiceDeployment CONTINUE, answered before the reply")
    wait_for(lambda: completed(p, new) or events(p, DEPLOY_FAILED, "web"), 30, "the rollout ends")
    check(completed(p, new), "DEPLOY_COMPLETED")


def test_reject_rolls_the_deployment_back_and_fails_the_digest(ctx):
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, arn = wait_awaiting(sim, p)
    res = ok(ctl(ctx, "reject", target="prod/web"), "reject")
    check_eq(res, {"target": "web/web", "hook": hook["hookId"], "action": "ROLLBACK"}, "the reply")
    wait_for(lambda: daemon_calls(sim, 0, "ContinueServiceDeployment"), 5, "the request in the simulator's log")
    check_eq([c["params"].get("action") for c in daemon_calls(sim, 0, "ContinueServiceDeployment")],
             ["ROLLBACK"], "ContinueServiceDeployment ROLLBACK")
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 30, "the rollback")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED")
    check_eq(completed(p, new), [], "not completed")
    check(failed_on(ctx, new), "the rejected digest is marked failed")
    entry = ok(ctl(ctx, "history", name="web/web", n=1), "history")["entries"]
    check_eq([(e["digest"], e["result"]) for e in entry], [(new, "rolled-back")], "the history")


def test_approve_when_nothing_awaits_is_nothing_to_do(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    err = error(ctl(ctx, "approve", target="web/web"), "nothing-to-do", 69, "nothing awaits")
    check("web/web" in err["message"] and "no rollout" in err["message"], "says what it does: %r" % err["message"])
    error(ctl(ctx, "reject", target="web/web"), "nothing-to-do", 69, "nothing to reject")
    check_eq(daemon_calls(sim, 0, "ContinueServiceDeployment"), [], "no ContinueServiceDeployment")


# -- history ------------------------------------------------------------------------------------

def test_history_is_bounded_and_survives_a_restart(ctx):
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()], history_max=3)
    settle_first_start(p)
    digests = [push_and_complete(sim, p, "v%d" % i) for i in range(2, 6)]
    entries = ok(ctl(ctx, "history"), "history")["entries"]
    check_eq([e["digest"] for e in entries], digests[::-1][:3], "the last 3, newest first")
    for e in entries:
        check_eq((e["watch"], e["target"], e["result"], e["by"], e["caller"], e["tag"]),
                 ("web", "web/web", "completed", "auto", None, "prod"), "an entry")
        check(e["at"] >= e["started"] and e["duration"] >= 0, "times: %r" % e)
        check(e["to_task_definition"] and e["from_task_definition"], "task definitions: %r" % e)
    p.signal(signal.SIGTERM)
    check_eq(p.wait(10), 0, "stopped")
    p = launch(ctx, sim, [web_watch()], history_max=3)
    again = ok(ctl(ctx, "history", n=2), "history after a restart")["entries"]
    check_eq(again, entries[:2], "the same entries after a restart")
    error(ctl(ctx, "history", n=0), "bad-argument", 64, "n out of range")
    error(ctl(ctx, "history", name="web", count=3), "bad-argument", 64, "an unknown key")


def test_a_corrupt_history_is_kept_aside_and_the_daemon_runs_on(ctx):
    sim = Sim(ctx, seed=world())
    os.makedirs(ctx.path("state"), mode=0o700, exist_ok=True)
    with open(ctx.path("state", "history.json"), "w") as f:
        f.write('{"version": 1, "entries": [ {"watch": ')
    p = launch(ctx, sim, [web_watch()])
    wait_for(lambda: lines_with(p, "history.json"), 10, "the warning")
    line = lines_with(p, "history.json")[0]
    check("unusable" in line and "kept aside" in line, "says it is kept aside: %r" % line)
    aside = [n for n in os.listdir(ctx.path("state")) if n.startswith("history.json.bad-")]
    check_eq(len(aside), 1, "the bad file is kept")
    settle_first_start(p)
    new = push_and_complete(sim, p, "v2")
    entries = ok(ctl(ctx, "history"), "history")["entries"]
    check_eq([e["digest"] for e in entries], [new], "a fresh history")
    with open(ctx.path("state", "history.json")) as f:
        check_eq(len(json.load(f)["entries"]), 1, "written anew")


def test_a_blocked_rollout_that_changed_nothing_stays_out_of_the_history(ctx):
    """A target blocked before anything changed in AWS (AccessDenied on RegisterTaskDefinition) is
    retried after 1 min, doubling: were each attempt an entry, a blocked day would push every real
    outcome out of the bounded history. The journal says BLOCKED; the history stays as it was."""
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    done = push_and_complete(sim, p, "v2")
    sim.fault("ecs.RegisterTaskDefinition", "error", code="AccessDeniedException", status=400, format="json",
              message="User is not authorized to perform: ecs:RegisterTaskDefinition", count=1000)
    sim.push("team/web", "prod", seed="v3")
    poll_now(p)
    wait_for(lambda: lines_with(p, "d7631a67aa3d44f8b114544ef9768e73"), 30, "BLOCKED")
    t = ok(ctl(ctx, "status"), "status")["watches"][0]["targets"][0]
    check_eq(t["state"], "blocked", "status says blocked")
    check("AccessDeniedException" in t["blocked"]["error"] and t["blocked"]["retry_at"] > time.time(),
          "with the error and when it is tried again: %r" % t["blocked"])
    entries = ok(ctl(ctx, "history"), "history")["entries"]
    check_eq([(e["digest"], e["result"]) for e in entries], [(done, "completed")], "only the real outcome")


def test_status_names_the_task_definition_found_at_first_start(ctx):
    """Before any deploy of ours, the first-start look read the service's task definition: status and
    the target's deployed info name it (not '-' until the first deploy)."""
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    svc_td = sim.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"]
    st = ok(ctl(ctx, "status"), "status")
    t = st["watches"][0]["targets"][0]
    check_eq((t["state"], t["deployed"], t["task_definition"]), ("idle", t["wanted"], svc_td),
             "what the service runs, with its task definition")


def test_a_deploy_whose_client_left_before_ecr_answered_is_freed(ctx):
    # deploy --digest waits for DescribeImages; its client leaves first. When ECR answers, nothing
    # is deployed and the call is released (the handler dropped it without answering: a leak per
    # such client, found by LeakSanitizer at exit). A second one is still waiting at SIGTERM.
    sim = Sim(ctx, seed=world())
    p = launch(ctx, sim, [web_watch()])
    settle_first_start(p)
    since = sim.control("GET", "/requests")["last"]
    sim.fault("ecr.DescribeImages", "delay", delay=1, count=1)
    c = ctl_connect(ctx.control_socket())
    c.send("deploy", {"watch": "web", "digest": ZERO})
    ok(ctl(ctx, "status"), "status")  # the loop has read the deploy
    c.close()
    wait_for(lambda: [r for r in sim.requests(since=since, service="ecr") if r["operation"] == "DescribeImages"
                      and ZERO in json.dumps(r["params"].get("imageIds", []))], 10, "ECR answered")
    sim.fault("ecr.DescribeImages", "delay", delay=5, count=1)
    c = ctl_connect(ctx.control_socket())
    c.send("deploy", {"watch": "web", "digest": ZERO})
    ok(ctl(ctx, "status"), "status")
    t0 = time.time()
    check_eq(p.stop(grace=10), 0, "exit status at SIGTERM")
    check(time.time() - t0 < 3, "the stop did not wait for ECR (%.1fs)" % (time.time() - t0))
    r = c.reply()
    check(r is not None and r["ok"] is False and r["error"]["code"] == "timeout", "the waiting client is told: %r" % r)
    c.close()
    check_eq(daemon_calls(sim, since, "RegisterTaskDefinition"), [], "nothing deployed")
    check_eq(ctx.sanitizer_reports(), [], "sanitizer reports")
