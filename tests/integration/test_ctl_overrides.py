# SPDX-License-Identifier: MIT
"""The operator's overrides and status on the control socket (issue 15), against awssim with the
real daemon, talking JSON to the socket (not through ecr-deployctl): status's shape (idle, a
rollout tracked, a failing repository), pause / resume of a target, a watch and everything
(persisted, `until` expiring on its own), pin / unpin (a digest, a tag, unknown ones, one that
failed there, force), retry of a failed digest, unknown names with candidates."""

import os
import shutil
import time

from harness import check, check_eq, ctl_connect, ctl_request, daemon_path, wait_for
from harness import Sim
from test_daemon import daemon_env, lines_with, write_config
from test_deploy import (ACCT, DEPLOY_COMPLETED, DEPLOY_STARTED, REPO_URI, ROLLBACK_COMPLETED,
                         SKIPPED, mutations, poll_now, running_image, settle_first_start, target,
                         web_watch, world)

PAUSE_EXPIRED = "433c59c09d514f5b978d6272f3230819"


def start(ctx, sim, watches=None, **settings):
    settings.setdefault("poll_interval", "10s")
    settings.setdefault("control", {"socket": ctx.control_socket()})
    main = write_config(ctx, watches or [web_watch()], **settings)
    return ctx.spawn([daemon_path(), "-c", main], env=daemon_env(ctx, sim), name="ecr-deployd")


def ctl(ctx, cmd, **args):
    return ctl_request(ctx.control_socket(), cmd, args)


def ok(ctx, cmd, **args):
    r = ctl(ctx, cmd, **args)
    check(r.get("ok") is True, "%s %r: %r" % (cmd, args, r))
    return r["result"]


def err(ctx, cmd, code, **args):
    r = ctl(ctx, cmd, **args)
    check(r.get("ok") is False and r["error"]["code"] == code,
          "%s %r: want error %s, got %r" % (cmd, args, code, r))
    return r["error"]


def status_target(ctx, name="web/web"):
    st = ok(ctx, "status")
    for w in st["watches"]:
        for t in w["targets"]:
            if t["name"] == name:
                return t
    raise AssertionError("no target %s in status" % name)


def completed_with(p, digest):
    return [l for l in lines_with(p, DEPLOY_COMPLETED) if "IMAGE_DIGEST=" + digest in l]


def started_with(p, digest):
    return [l for l in lines_with(p, DEPLOY_STARTED) if "IMAGE_DIGEST=" + digest in l]


def skipped(p, reason, digest=None):
    return [l for l in lines_with(p, SKIPPED) if "REASON=" + reason in l and
            (digest is None or "IMAGE_DIGEST=" + digest in l)]


def test_status_shape(ctx):
    seed = world()
    seed["settings"]["task_start_seconds"] = 3  # a rollout long enough to be seen tracking
    sim = Sim(ctx, seed=seed)
    p = start(ctx, sim)
    settle_first_start(p)
    st = ok(ctx, "status")
    for key in ("version", "pid", "started", "dry_run", "frozen", "poll", "events", "rollouts_in_flight",
                "watches"):
        check(key in st, "status has %s: %r" % (key, st))
    check_eq(st["frozen"], None, "nothing frozen")
    check_eq(st["dry_run"], False, "dry_run")
    check(st["poll"]["cycles"] >= 1 and st["poll"]["last_cycle"] and st["poll"]["last_ok"], st["poll"])
    check_eq(st["poll"]["failing"], [], "no failing repository")
    check_eq(st["events"], {"queues": []}, "no queue")
    check(abs(st["started"] - time.time()) < 120, "started is the process's start: %r" % st["started"])
    w = st["watches"][0]
    check_eq((w["name"], w["repository"], w["region"], w["rule"], w["tag"], w["paused"]),
             ("web", "team/web", "us-east-1", "tag", "prod", None), "the watch")
    digest = w["digest"]
    check(digest and digest.startswith("sha256:"), "the watch's digest: %r" % digest)
    t = w["targets"][0]
    check_eq((t["name"], t["cluster"], t["service"], t["strategy"], t["state"]),
             ("web/web", "prod", "web", "revision", "idle"), "the target")
    check_eq((t["wanted"], t["deployed"], t["pinned"], t["paused"], t["blocked"], t["rollout"], t["failed"]),
             (digest, digest, None, None, None, None, []), "the idle target")

    # During a rollout: deploying, then tracking with the tasks counted.
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    t = wait_for(lambda: (lambda x: x if x["state"] == "tracking" else None)(status_target(ctx)), 30,
                 "status says tracking")
    check(t["detail"] and "tasks" in t["detail"], "tracking detail: %r" % t["detail"])
    check_eq((t["rollout"]["digest"], t["rollout"]["kind"], t["wanted"]), (new, "deploy", new), "the rollout")
    check(t["rollout"]["step"] and t["rollout"]["started"] > 0, t["rollout"])
    check_eq(ok(ctx, "status")["rollouts_in_flight"], 1, "one rollout in flight")
    wait_for(lambda: completed_with(p, new), 60, "DEPLOY_COMPLETED")
    t = wait_for(lambda: (lambda x: x if x["state"] == "idle" else None)(status_target(ctx)), 10, "idle again")
    check_eq((t["deployed"], t["task_definition"]),
             (new, "arn:aws:ecs:us-east-1:%s:task-definition/web:2" % ACCT), "deployed and its task definition")

    # A repository that cannot be read is listed with its region and error.
    sim.fault("ecr.DescribeImages", "error", code="AccessDeniedException", status=400,
              message="not allowed to read team/web")
    sim.fault("ecr.BatchGetImage", "error", code="AccessDeniedException", status=400,
              message="not allowed to read team/web")
    poll_now(p)
    failing = wait_for(lambda: ok(ctx, "status")["poll"]["failing"], 20, "a failing repository in status")
    check_eq((failing[0]["repository"], failing[0]["region"]), ("team/web", "us-east-1"), "the failing one")
    check("AccessDenied" in failing[0]["error"], failing[0]["error"])

    # Unknown names: candidates, closest first.
    e = err(ctx, "pause", "unknown-target", name="web/wbe")
    check_eq(e["candidates"][0], "web/web", "closest candidate")
    check_eq(e["exit"], 64, "exit code")
    e = err(ctx, "pin", "unknown-target", target="wbe", digest=new)
    check_eq(e["candidates"], ["web/web"], "candidates")
    err(ctx, "status", "bad-argument", verbose=True)


def test_pause_target_persists_and_resume_deploys(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    r = ok(ctx, "pause", name="web/web", reason="incident 42")
    check_eq(r, {"paused": "web/web", "until": None}, "pause reply")
    t = status_target(ctx)
    check_eq((t["state"], t["paused"]["reason"], t["paused"]["until"]), ("paused", "incident 42", None),
             "status shows the pause")
    check(t["paused"]["by"]["pid"] > 0 and "uid" in t["paused"]["by"] and t["paused"]["at"] > 0, t["paused"])
    since = sim.control("GET", "/requests")["last"]
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: skipped(p, "paused", new), 20, "SKIPPED with reason paused")
    check_eq(mutations(sim, since), [], "nothing deployed while paused")
    # The pause survives a restart.
    p.stop()
    p = start(ctx, sim)
    wait_for(lambda: skipped(p, "paused", new), 20, "still paused after a restart")
    t = status_target(ctx)
    check_eq((t["state"], t["paused"]["reason"], t["wanted"]), ("paused", "incident 42", new), "after restart")
    check_eq(mutations(sim, since), [], "nothing deployed after the restart")
    err(ctx, "pause", "bad-argument", name="web/web", until=time.time() - 10)
    err(ctx, "pause", "bad-argument", name="web/web", all=True)
    err(ctx, "pause", "bad-argument", name="web/web", reason="x" * 300)
    check_eq(ok(ctx, "resume", name="web/web"), {"resumed": "web/web"}, "resume reply")
    wait_for(lambda: completed_with(p, new), 40, "the waiting digest deploys at the resume")
    err(ctx, "resume", "nothing-to-do", name="web/web")


def test_pause_until_expires_on_its_own(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, poll_interval="1h")
    settle_first_start(p)
    until = time.time() + 3
    r = ok(ctx, "pause", name="web", reason="deploy freeze", until=until)
    check_eq(r["paused"], "web", "a watch paused")
    check(abs(r["until"] - until) < 0.01, r)
    check_eq(ok(ctx, "status")["watches"][0]["paused"]["reason"], "deploy freeze", "the watch's pause")
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: skipped(p, "paused", new), 20, "SKIPPED while paused")
    check(not started_with(p, new), "not deployed before the pause expires")
    wait_for(lambda: lines_with(p, PAUSE_EXPIRED), 15, "PAUSE_EXPIRED")
    check("WATCH=web" in lines_with(p, PAUSE_EXPIRED)[0], lines_with(p, PAUSE_EXPIRED)[0])
    check(time.time() >= until - 0.5, "not before its time")
    # No other push, no poll (the interval is an hour): the timer reconciles.
    wait_for(lambda: completed_with(p, new), 40, "the waiting digest deploys when the pause expires")
    check_eq(ok(ctx, "status")["watches"][0]["paused"], None, "the pause is gone")


def test_pause_all_and_resume_all(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    check_eq(ok(ctx, "pause", all=True, reason="freeze"), {"paused": "*", "until": None}, "pause all")
    st = ok(ctx, "status")
    check_eq(st["frozen"]["reason"], "freeze", "status frozen")
    check_eq(st["watches"][0]["targets"][0]["state"], "paused", "the target is paused by the freeze")
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: skipped(p, "paused", new), 20, "SKIPPED while frozen")
    check(not started_with(p, new), "nothing deployed while frozen")
    e = err(ctx, "resume", "nothing-to-do", name="web/web")
    check("everything is paused" in e["message"], e)
    check_eq(ok(ctx, "resume", all=True), {"resumed": "*"}, "resume all")
    wait_for(lambda: completed_with(p, new), 40, "deploys after resume all")
    check_eq(ok(ctx, "status")["frozen"], None, "no longer frozen")


def test_pin_digest_survives_push_and_restart_then_unpin(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    v1 = status_target(ctx)["deployed"]
    v2 = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: completed_with(p, v2), 40, "v2 deployed")
    r = ok(ctx, "pin", target="web", digest=v1)
    check_eq(r, {"target": "web/web", "digest": v1, "tag": None}, "pin reply")
    wait_for(lambda: completed_with(p, v1), 40, "the pinned digest deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + v1, "the service runs the pin")
    t = status_target(ctx)
    check_eq((t["pinned"]["digest"], t["wanted"], t["deployed"]), (v1, v1, v1), "status shows the pin")
    since = sim.control("GET", "/requests")["last"]
    v3 = sim.push("team/web", "prod", seed="v3")
    poll_now(p)
    wait_for(lambda: skipped(p, "pinned", v3), 20, "a new push waits for the unpin")
    check_eq(mutations(sim, since), [], "a new push does not undo the pin")
    check_eq(status_target(ctx)["state"], "pinned", "state pinned")
    p.stop()
    p = start(ctx, sim)
    wait_for(lambda: skipped(p, "pinned", v3), 20, "still pinned after a restart")
    check_eq(mutations(sim, since), [], "the pin survives a restart")
    check_eq(ok(ctx, "unpin", target="web/web"), {"unpinned": "web/web"}, "unpin reply")
    wait_for(lambda: completed_with(p, v3), 40, "after the unpin it follows the watch")
    err(ctx, "unpin", "nothing-to-do", target="web/web")


def test_pin_tag_resolves_and_unknown_ones_are_refused(ctx):
    seed = world()
    seed["repositories"][0]["images"].append({"tag": "v1.2", "seed": "old"})
    sim = Sim(ctx, seed=seed)
    p = start(ctx, sim)
    settle_first_start(p)
    ecr = sim.client("ecr")
    want = ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "v1.2"}])["imageDetails"][0]
    r = ok(ctx, "pin", target="web/web", tag="v1.2")
    check_eq(r, {"target": "web/web", "digest": want["imageDigest"], "tag": "v1.2"}, "the tag resolved")
    check(sim.requests(service="ecr", operation="DescribeImages"), "asked ECR")
    wait_for(lambda: completed_with(p, want["imageDigest"]), 40, "the tag's digest deploys")
    check_eq(status_target(ctx)["pinned"]["tag"], "v1.2", "status names the tag")
    e = err(ctx, "pin", "unknown-digest", target="web/web", tag="no-such-tag")
    check("no-such-tag" in e["message"] and e["exit"] == 65, e)
    err(ctx, "pin", "unknown-digest", target="web/web", digest="sha256:" + "e" * 64)
    err(ctx, "pin", "unknown-digest", target="web/web", digest="sha256:bad")
    err(ctx, "pin", "bad-argument", target="web/web")
    err(ctx, "pin", "bad-argument", target="web/web", tag="v1.2", digest="sha256:" + "e" * 64)
    sim.fault("ecr.DescribeImages", "error", code="AccessDeniedException", status=400, count=5)
    e = err(ctx, "pin", "aws-error", target="web/web", tag="v1.2")
    check("AccessDeniedException" in e["message"], e)
    check_eq(status_target(ctx)["pinned"]["tag"], "v1.2", "a refused pin changes nothing")


def test_failed_digest_pin_needs_force_and_retry_forgets(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 60, "ROLLBACK_COMPLETED")
    t = wait_for(lambda: (lambda x: x if x["state"] == "skipped-failed" else None)(status_target(ctx)), 20,
                 "status says skipped-failed")
    check_eq(t["failed"], [bad], "the failed digest is listed")
    e = err(ctx, "pin", "failed-before", target="web/web", digest=bad)
    check(bad in e["message"] and e["exit"] == 65, e)
    check_eq(status_target(ctx)["pinned"], None, "refused: not pinned")
    err(ctx, "retry", "nothing-to-do", target="web/web", digest="sha256:" + "e" * 64)
    err(ctx, "retry", "unknown-digest", target="web/web", digest="latest")
    check_eq(ok(ctx, "retry", target="web/web", digest=bad), {"target": "web/web", "digest": bad}, "retry")
    wait_for(lambda: len(started_with(p, bad)) == 2, 20, "the forgotten digest deploys again")
    wait_for(lambda: len(lines_with(p, ROLLBACK_COMPLETED)) == 2, 60, "and fails again")
    # Pinning it with force deploys it once more.
    r = ok(ctx, "pin", target="web/web", digest=bad, force=True)
    check_eq(r["digest"], bad, "forced pin")
    wait_for(lambda: len(started_with(p, bad)) == 3, 20, "the forced pin deploys it")


def test_override_whose_save_fails_changes_nothing(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    state = ctx.path("state", "state.json")
    # A directory that is not empty where the state file was: the rename over it fails. The
    # daemon may write the state between the remove and the makedirs (a slow build finishes its
    # first cycle's writes late): then again, until the directory is in place.
    for _ in range(100):
        try:
            if not os.path.isdir(state):
                os.remove(state)
            os.makedirs(os.path.join(state, "in-the-way"), exist_ok=True)
            break
        except (FileNotFoundError, NotADirectoryError, FileExistsError):
            continue
    check(os.path.isdir(os.path.join(state, "in-the-way")), "the state file is a directory now")
    e = err(ctx, "pause", "state-error", name="web/web", reason="x")
    check(e["exit"] == 74 and "nothing was changed" in e["message"], e)
    check_eq(status_target(ctx)["paused"], None, "memory as it was")
    err(ctx, "pin", "state-error", target="web/web", tag="prod")
    check_eq(status_target(ctx)["pinned"], None, "not pinned")
    shutil.rmtree(state)
    ok(ctx, "pause", name="web/web")
    check_eq(status_target(ctx)["state"], "paused", "paused once the state can be written")


def test_a_reason_that_is_not_utf8_is_refused_and_status_stays_json(ctx):
    # A writer's pause reason with bytes that are not UTF-8 was kept as it came: stored in
    # state.json, logged, and echoed in every status reply, which then no longer decoded as JSON
    # text for any reader (the protocol says UTF-8).
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    with ctl_connect(ctx.control_socket()) as c:
        c.send_raw(b'{"v": 1, "cmd": "pause", "args": {"name": "web/web", "reason": "a\xff\xfe\xc0\xafb"}}\n')
        reply = c.reply()
    check(reply["ok"] is False and reply["error"]["code"] == "bad-request", reply)
    t = status_target(ctx)
    check_eq((t["state"], t["paused"]), ("idle", None), "nothing paused")


def test_sigterm_while_a_pin_waits_for_ecr(ctx):
    # A pin by tag waits for DescribeImages; a client that left, and one that waits, while the
    # daemon stops: it exits at once and cleanly (no leak, no late answer into freed memory),
    # and the waiting client is answered or closed, never left hanging.
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    sim.fault("ecr.DescribeImages", "delay", delay=4, count=2)
    gone = ctl_connect(ctx.control_socket())
    gone.send("pin", {"target": "web/web", "tag": "prod"})
    gone.sock.close()
    waiting = ctl_connect(ctx.control_socket())
    waiting.send("pin", {"target": "web/web", "tag": "prod"})
    ok(ctx, "status")  # answered after the loop read both pins (their sockets were readable first)
    t0 = time.time()
    rc = p.stop(grace=10)
    check_eq(rc, 0, "exit status at SIGTERM")
    check(time.time() - t0 < 3, "the stop did not wait for ECR (%.1fs)" % (time.time() - t0))
    check(waiting.closed_by_peer(2), "the waiting client is answered or closed")
    check_eq(ctx.sanitizer_reports(), [], "sanitizer reports")


def test_a_pin_whose_client_left_before_ecr_answered_is_not_applied(ctx):
    # ecr-deployctl interrupted (or the server's 60 s timeout answered) while the tag was being
    # resolved: the operator was told nothing, or `timeout`; the pin must not appear later on
    # its own (deploy --digest already drops such a call: nothing is deployed).
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    since = sim.control("GET", "/requests")["last"]
    sim.fault("ecr.DescribeImages", "delay", delay=1, count=1)
    c = ctl_connect(ctx.control_socket())
    c.send("pin", {"target": "web/web", "tag": "prod"})
    ok(ctx, "status")  # the loop has read the pin
    c.close()
    wait_for(lambda: [r for r in sim.requests(since=since, service="ecr")
                      if r["operation"] == "DescribeImages" and r.get("fault")], 10, "ECR answered")
    wait_for(lambda: [l for l in lines_with(p, "795048b770ec41b781bea4643d98ae52") if "COMMAND=pin" in l],
             10, "the pin's CONTROL_ACTION")
    check_eq(status_target(ctx)["pinned"], None, "not pinned")
    check("RESULT=timeout" in [l for l in lines_with(p, "COMMAND=pin")][0], lines_with(p, "COMMAND=pin"))


def test_a_client_that_only_shuts_its_writing_side_still_gets_the_pin(ctx):
    # The other side of the hang-up check above: `printf req | nc -N` shuts its writing side and
    # waits for the reply; that is not a client gone.
    import socket
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    sim.fault("ecr.DescribeImages", "delay", delay=1, count=1)
    c = ctl_connect(ctx.control_socket())
    c.send("pin", {"target": "web/web", "tag": "prod"})
    c.sock.shutdown(socket.SHUT_WR)
    r = c.reply()
    c.close()
    check(r is not None and r["ok"] is True and r["result"]["tag"] == "prod", r)
    check_eq(status_target(ctx)["pinned"]["tag"], "prod", "pinned")


def test_a_pin_by_a_tag_that_cannot_be_one_is_refused_before_ecr(ctx):
    # A digest given as a tag, or a tag with odd bytes, went to ECR as imageTag, and ECR's
    # refusal came back as aws-error (69, "the AWS call failed"): a typo, not an AWS failure.
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim)
    settle_first_start(p)
    since = sim.control("GET", "/requests")["last"]
    digest = "sha256:" + "a" * 64
    e = err(ctx, "pin", "bad-argument", target="web/web", tag=digest)
    check(digest in e["message"] and "digest" in e["message"], e)
    e = err(ctx, "pin", "bad-argument", target="web/web", tag="v1 2")
    check("'v1 2'" in e["message"], e)
    err(ctx, "pin", "bad-argument", target="web/web", tag="-v1")
    ok(ctx, "status")
    check_eq([r for r in sim.requests(since=since, service="ecr") if r["operation"] == "DescribeImages"],
             [], "ECR not asked")
