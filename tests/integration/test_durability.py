# SPDX-License-Identifier: MIT
"""The state directory and the deploy engine's durability (issue 11): a state
directory others can write is closed or refused, stale temporary files are
removed at start, a full or read-only state disk is waited out with backoff
(no busy loop, one event when it starts and one when it clears, exactly one
deploy after), a failed digest is not deployed again after the state file is
lost, and a SIGTERM while UpdateService is slow to answer never makes a
second UpdateService."""

import json
import os
import signal
import subprocess
import time

from harness import Sim, Skip, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import (DEPLOY_COMPLETED, DEPLOY_FAILED, REPO_URI, ROLLBACK_COMPLETED, SKIPPED, mutations, poll_now,
                         rollout_step, running_image, settle_first_start, start, web_watch, world)

STATE_WRITE_FAILED = "bd68ce62fb5b4196bcf1968a287c01f8"
STATE_WRITE_RECOVERED = "3ce37505869a4781a3ca698ded421681"
STATE_RESET = "cf648c689a9f409db36fac86cee69fe2"


def test_state_directory_writable_by_others_is_made_0700(ctx):
    sim = Sim(ctx, seed=world())
    os.makedirs(ctx.path("state", "rollouts"))
    os.chmod(ctx.path("state"), 0o777)
    os.chmod(ctx.path("state", "rollouts"), 0o777)
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    check_eq(os.stat(ctx.path("state")).st_mode & 0o7777, 0o700, "the state directory is closed")
    check_eq(os.stat(ctx.path("state", "rollouts")).st_mode & 0o7777, 0o700, "and its rollouts directory")
    said = lines_with(p, "was writable by others (mode 0777); its mode is now 0700")
    check_eq(len(said), 1, "said once: %s" % said)
    for d in (ctx.path("state"), ctx.path("state", "rollouts")):
        check("'%s' was writable by others (mode 0777)" % d in said[0], said[0])


def test_state_directory_of_another_user_is_refused(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to give the directory to another user")
    sim = Sim(ctx, seed=world())
    os.makedirs(ctx.path("state"))
    os.chmod(ctx.path("state"), 0o755)
    os.chown(ctx.path("state"), 65534, 65534)
    p = start(ctx, sim, [web_watch()])
    check_eq(p.wait(10), 73, "EX_CANTCREAT")
    err = p.read_stderr()
    check("the state directory '%s' (mode 0755) is owned by uid 65534" % ctx.path("state") in err, err[-800:])
    check_eq(os.listdir(ctx.path("state")), [], "nothing written in it")


def test_stale_temporary_files_are_removed_at_start(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    p.stop()
    # What a kill -9 in the middle of write_atomic leaves, from a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    ctx.write(os.path.join("state", "state.json.tmp-%d" % gone.pid), '{"version": 1, "wat')
    os.makedirs(ctx.path("state", "rollouts"), exist_ok=True)
    ctx.write(os.path.join("state", "rollouts", "0123456789abcdef.json.tmp-%d" % gone.pid), "{")
    ctx.write(os.path.join("state", "notes.tmp-%d" % gone.pid), "the operator's, not ours")
    p = start(ctx, sim, [web_watch()])
    wait_for(lambda: "poll cycle:" in p.read_stderr(), 15, "a cycle")
    said = lines_with(p, "temporary file")
    check(len(said) == 1 and "removed 2 temporary files left in '%s'" % ctx.path("state") in said[0], said)
    left = sorted(os.listdir(ctx.path("state"))) + sorted(os.listdir(ctx.path("state", "rollouts")))
    check_eq([f for f in left if ".tmp-" in f], ["notes.tmp-%d" % gone.pid], "only ours were removed")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def blocked_state_is_waited_out(ctx, block, unblock):
    """A deploy decided while the state cannot be written (block()): no busy loop, no log flood,
    no AWS change; after unblock(), one event and exactly one deploy."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    block()
    since = sim.control("GET", "/requests")["last"]
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, "can be written"), 20, "the deploy waiting for the state disk")
    lines0, cpu0, t0 = len(p.read_stderr().splitlines()), cpu_seconds(p.pid), time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 6, 10, "six seconds blocked", interval=0.5)
    lines1, cpu1, t1 = len(p.read_stderr().splitlines()), cpu_seconds(p.pid), time.monotonic()
    cpu_share = (cpu1 - cpu0) / (t1 - t0)
    print("blocked %.1fs: cpu %.3fs (%.1f%%), %d log lines" % (t1 - t0, cpu1 - cpu0, 100 * cpu_share,
                                                               lines1 - lines0))
    check(cpu_share < 0.05, "CPU while blocked: %.1f%%" % (100 * cpu_share))
    check(lines1 - lines0 < 20, "log lines while blocked: %d" % (lines1 - lines0))
    check_eq(len(lines_with(p, STATE_WRITE_FAILED)), 1, "one event when the failure starts")
    check_eq(mutations(sim, since), [], "no AWS change until the step can be written")
    unblock()
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "the deploy after recovery")
    check_eq(len(lines_with(p, STATE_WRITE_RECOVERED)), 1, "one event when it clears")
    check_eq(sorted(r["operation"] for r in mutations(sim, since)), ["RegisterTaskDefinition", "UpdateService"],
             "exactly one deploy after recovery")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")
    p.stop()


def test_full_state_disk_is_waited_out_with_backoff(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to mount a tmpfs")
    state = ctx.path("state")
    os.makedirs(state)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", state])

    def fill():
        """Not one more block."""
        fd = os.open(os.path.join(state, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)

    try:
        blocked_state_is_waited_out(ctx, fill, lambda: os.unlink(os.path.join(state, "filler")))
    finally:
        subprocess.call(["umount", "-l", state])


def remount(path, mode):
    """Remounts the bind mount read-only or read-write. Read-only is refused (EBUSY) while a file
    is open for writing there: the daemon's atomic write of its state holds a temporary file for
    the moment of a write and an fsync (longer under load), so a refusal is tried again."""
    for _ in range(50):
        if subprocess.call(["mount", "-o", "remount,bind," + mode, path], stderr=subprocess.DEVNULL) == 0:
            return
        time.sleep(0.1)
    subprocess.check_call(["mount", "-o", "remount,bind," + mode, path])


def test_read_only_state_disk_is_waited_out_with_backoff(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to bind-mount")
    state = ctx.path("state")
    os.makedirs(state, mode=0o700)
    subprocess.check_call(["mount", "--bind", state, state])
    try:
        blocked_state_is_waited_out(ctx, lambda: remount(state, "ro"), lambda: remount(state, "rw"))
    finally:
        subprocess.call(["umount", "-l", state])


def test_failed_digest_is_not_deployed_again_after_state_loss(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED")
    p.stop()
    since = sim.control("GET", "/requests")["last"]
    with open(ctx.path("state", "state.json"), "w") as f:
        f.write('{"version": 1, "watches": {"web": {"tar')  # the disk lost its tail
    p = start(ctx, sim, [web_watch()])
    held = lambda: any("REASON=state-reset" in l for l in lines_with(p, SKIPPED))  # noqa: E731
    wait_for(lambda: held() or mutations(sim, since), 20, "the target held, or deployed")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, "poll cycle:")) >= 2, 15, "another cycle")
    check_eq([r["operation"] for r in mutations(sim, since)], [], "the failed digest is not deployed again")
    check(held(), "the target is held")
    check_eq(len(lines_with(p, STATE_RESET)), 1, "said in one event")
    # A restart before a new push still holds it (the mark is in the state file).
    p.stop()
    p = start(ctx, sim, [web_watch()])
    wait_for(lambda: "poll cycle:" in p.read_stderr(), 15, "a cycle after the restart")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, "poll cycle:")) >= 2, 15, "another cycle")
    check_eq(mutations(sim, since), [], "nor after a restart")
    fixed = sim.push("team/web", "prod", seed="fixed")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "a new push deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + fixed, "the new digest runs")


def test_sigterm_while_update_service_is_slow_sends_it_once(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    sim.fault("ecs.UpdateService", "delay", delay=4.0, count=1)
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "updating", 20, "step updating")
    sent = time.monotonic()
    wait_for(lambda: "UpdateService" in sim.control("GET", "/health")["inflight_ops"], 10, "UpdateService sent")
    p.signal(signal.SIGTERM)
    check_eq(p.wait(5), 0, "exit status")
    p = start(ctx, sim, [web_watch()])  # at once: the first UpdateService has not been carried out yet
    wait_for(lambda: lines_with(p, "resuming the rollout"), 10, "the resume")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED")
    # The first UpdateService is carried out when its delay ends, and logged then.
    wait_for(lambda: time.monotonic() - sent > 4.5 and sim.control("GET", "/health")["inflight"] == 0, 15,
             "the delayed call carried out")
    ups = [r for r in mutations(sim) if r["operation"] == "UpdateService"]
    check_eq(len(ups), 1, "one UpdateService for the revision: %s" % [u["params"] for u in ups])
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def carried_out(sim, operation, since=0):
    return [r for r in mutations(sim, since) if r["operation"] == operation and r.get("carried_out")]


def test_kill_while_register_is_slow_registers_once(ctx):
    """kill -9 while RegisterTaskDefinition is slow to answer, then an immediate restart: the
    resume does not see the revision yet (the call is still being carried out) and waits out the
    call's attempt timeout before registering again, so the digest is registered once."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    sim.fault("ecs.RegisterTaskDefinition", "delay", delay=3.0, count=1)
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "registering", 20, "step registering")
    wait_for(lambda: "RegisterTaskDefinition" in sim.control("GET", "/health")["inflight_ops"], 10,
             "RegisterTaskDefinition sent")
    sent = time.monotonic()
    p.signal(signal.SIGKILL)
    p.wait(5)
    p = start(ctx, sim, [web_watch()])  # at once: the first registration is not carried out yet
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED")
    wait_for(lambda: time.monotonic() - sent > 3.5 and sim.control("GET", "/health")["inflight"] == 0, 15,
             "the delayed call carried out")
    regs = carried_out(sim, "RegisterTaskDefinition")
    check_eq(len(regs), 1, "registrations of the digest: %s" % [r.get("status") for r in regs])
    check(lines_with(p, "may still be carried out"), "the wait is said")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_lost_update_reply_then_ecs_rollback_is_not_sent_again(ctx):
    """UpdateService is carried out but its reply is lost; the digest is bad, ECS's circuit breaker
    fails our deployment, rolls back and forgets the FAILED deployment before the daemon looks
    again. No deployment of our revision is listed, but ECS made a deployment of the previous
    revision after ours: that is what ECS said, so the digest is failed, not deployed again."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    before = running_image(sim, "web")
    sim.settings(failed_deployment_retention_seconds=0)  # forgotten before the daemon looks again
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    sim.fault("ecs.UpdateService", "malformed-json", count=1)
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_FAILED), 60, "DEPLOY_FAILED")
    failed = lines_with(p, DEPLOY_FAILED)[0]
    check("not sending it again" in failed, "says why: %s" % failed)
    check_eq(len(carried_out(sim, "UpdateService")), 1, "UpdateService carried out once")
    poll_now(p)
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 15, "not retried")
    check_eq(len(carried_out(sim, "UpdateService")), 1, "and never again")
    check_eq(running_image(sim, "web"), before, "back on what ran before")


ROLLBACK_FAILED = "8bb5ae24f05b408996d3fd2bb948f248"


def rollout_file(ctx):
    d = ctx.path("state", "rollouts")
    names = [n for n in sorted(os.listdir(d)) if n.endswith(".json")]
    check_eq(len(names), 1, "one rollout file: %s" % names)
    return os.path.join(d, names[0])


def stopped_at_registering_then_edited(ctx, edit):
    """kill -9 while RegisterTaskDefinition is slow (it is carried out), then the record is edited
    as an old or hostile file could be, and the daemon starts again: (sim, process, digest)."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    sim.fault("ecs.RegisterTaskDefinition", "delay", delay=1.0, count=1)
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "registering", 20, "step registering")
    p.signal(signal.SIGKILL)
    p.wait(5)
    wait_for(lambda: sim.control("GET", "/health")["inflight"] == 0, 15, "the delayed call carried out")
    path = rollout_file(ctx)
    with open(path) as f:
        doc = json.load(f)
    edit(doc["rollout"])
    with open(path, "w") as f:
        json.dump(doc, f)
    return sim, start(ctx, sim, [web_watch()]), new


def test_record_at_registered_without_new_td_never_forces_a_deployment(ctx):
    """A record at 'registered' (strategy revision) that names no revision of ours: UpdateService
    must never go out without our revision (that would be forceNewDeployment of what runs, and
    its completion would say the digest is deployed); the rollout starts over instead."""
    def edit(rec):
        rec["step"] = "registered"
        rec.pop("new_td", None)
    sim, p, new = stopped_at_registering_then_edited(ctx, edit)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 40, "the rollout ends")
    updates = [r for r in mutations(sim) if r["operation"] == "UpdateService"]
    check(updates, "an UpdateService")
    for u in updates:
        check("taskDefinition" in u["params"] and not u["params"].get("forceNewDeployment"),
              "UpdateService names our revision: %s" % u["params"])
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_record_rolling_back_without_a_target_fails_the_rollback_clearly(ctx):
    """A record at 'rolling-back' that names no revision to go back to (no rollback_td, base not
    pinned): the daemon must not crash nor force a new deployment of what runs; the rollback
    fails with a message that says why."""
    def edit(rec):
        rec["step"] = "rolling-back"
        rec["rollback_by"] = "ecr-deployd"
        for k in ("rollback_td", "new_td", "deployment_id"):
            rec.pop(k, None)
        rec["base_pinned"] = False
    sim, p, new = stopped_at_registering_then_edited(ctx, edit)
    wait_for(lambda: lines_with(p, ROLLBACK_FAILED) or not p.alive(), 30, "the rollback ends")
    check(p.alive(), "the daemon is alive (exit %s)" % p.popen.returncode)
    line = lines_with(p, ROLLBACK_FAILED)[0]
    check("no revision to roll back to" in line, "says why: %s" % line)
    check_eq([r for r in mutations(sim) if r["operation"] == "UpdateService"], [], "no UpdateService")


def test_kill_while_deregistering_after_a_block_never_updates_to_the_dead_revision(ctx):
    """UpdateService refused after our revision was registered: the revision is deregistered and
    the target blocked. A kill -9 while DeregisterTaskDefinition is in flight (it is carried out)
    must not leave a record that, resumed, sends UpdateService with that now INACTIVE revision
    (refused again: a second, false block) after waiting out a call that was refused; the
    restart starts the rollout over and deploys."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    sim.fault("ecs.UpdateService", "error", code="ClientException",
              message="the request names something ECS refuses", status=400, format="json", count=1)
    sim.fault("ecs.DeregisterTaskDefinition", "delay", delay=1.5, count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    # that very call held by the simulator (another call in flight once made this kill too early:
    # nothing deregistered)
    wait_for(lambda: [r for r in sim.requests(service="ecs") if r["operation"] == "DeregisterTaskDefinition"]
             or "DeregisterTaskDefinition" in sim.control("GET", "/health")["inflight_ops"], 20,
             "DeregisterTaskDefinition sent")
    p.signal(signal.SIGKILL)
    p.wait(5)
    wait_for(lambda: sim.control("GET", "/health")["inflight"] == 0, 15, "the delayed call carried out")
    check_eq(len(carried_out(sim, "DeregisterTaskDefinition")), 1, "deregistered before the restart")
    since = len(sim.requests())
    p = start(ctx, sim, [web_watch()])
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, "is blocked"), 40, "the rollout ends")
    check_eq(lines_with(p, "is blocked"), [], "no second block")
    for u in [r for r in mutations(sim, since) if r["operation"] == "UpdateService"]:
        td = sim.client("ecs").describe_task_definition(taskDefinition=u["params"]["taskDefinition"])
        check_eq(td["taskDefinition"]["status"], "ACTIVE", "UpdateService names an active revision")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")
