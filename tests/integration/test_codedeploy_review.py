# SPDX-License-Identifier: MIT
"""Issue 16, review: strategy codedeploy against an odd but possible CodeDeploy, lost replies and
restarts at awkward steps. Each test here failed when it was written; its docstring says what
should happen instead. The world and helpers are test_codedeploy's (steps of 0.2 s)."""

import json
import os
import shutil
import signal
import tempfile

from harness import check, check_eq, wait_for
from test_codedeploy import (APP, BLOCKED, ROLLBACK_COMPLETED, ROLLBACK_STARTED, cd_calls, cd_service, cd_target,
                             cd_world, creates, ctl_bin, daemon, deployments, ended, first, group, info, named,
                             ours, rollout_step, rolled_back)
from test_daemon import lines_with
from test_deploy import DEPLOY_COMPLETED, DEPLOY_FAILED, poll_now
from test_strategies import AWAITING_APPROVAL, events


def record_path(ctx):
    d = ctx.path("state", "rollouts")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith(".json"):
            return os.path.join(d, name)
    return None


def within(cond, timeout):
    """Whether cond() becomes true within timeout seconds (a bound on what must not happen)."""
    try:
        return bool(wait_for(cond, timeout, "a condition that should not come"))
    except Exception:
        return False


def killed_while_tracking(ctx):
    """A linear deployment of v2 tracked at cd-tracking, the daemon killed (-9) there: returns
    (sim, targets, the record's path, the record's JSON) for a test to edit and restart."""
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 1.0})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "cd-tracking", 20, "step cd-tracking")
    p.signal(signal.SIGKILL)
    p.wait(5)
    path = record_path(ctx)
    with open(path) as f:
        return sim, targets, path, json.load(f)


def sent_with(request, value):
    """Whether a logged request named value as a deployment id (exactly: a real id may begin as a
    hostile one does)."""
    p = request.get("params") or {}
    return value in (p.get("deploymentIds") or []) or p.get("deploymentId") == value


def ctl(ctx, *args, timeout=20):
    env = dict(os.environ, ECR_DEPLOYCTL_SOCKET=ctx.control_socket())
    return ctx.run([ctl_bin()] + list(args), timeout=timeout, env=env)


def test_review_list_deployments_refused_after_a_lost_create_reply_makes_no_second_deployment(ctx):
    """CreateDeployment is carried out but its reply is lost; the look for it (ListDeployments) is
    refused once (AccessDenied). It ended BLOCKED at cd-find, its record (and token) forgotten; the
    next attempt registered again and made a second deployment of the same digest once the first
    had ended. It stays at cd-find now (said once, the record kept, the same token) and finds its
    one deployment when ListDeployments is allowed again: one CreateDeployment."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.fault("codedeploy.CreateDeployment", "malformed-json", count=1)
    sim.fault("codedeploy.ListDeployments", "error", code="AccessDeniedException",
              message="User is not authorized to perform: codedeploy:ListDeployments", count=1)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: creates(sim) and lines_with(p, "nothing is made again before it is found"), 20,
             "the lost create, then the refused look, said")
    check_eq(lines_with(p, BLOCKED), [], "not BLOCKED: that would forget the record and its token")
    # The first deployment runs to its end (a few seconds); polls ask for the digest again.
    dep = creates(sim)
    wait_for(lambda: info(sim, ours(sim, "web-dg"))["status"] == "Succeeded", 30, "the one deployment ends")
    for _ in range(3):
        poll_now(p)
        if within(lambda: len(creates(sim)) > 1, 8):
            break
    check_eq(len(creates(sim)), len(dep), "one CreateDeployment carried out for the one digest: %s"
             % [c["params"].get("description") for c in creates(sim)])
    check_eq(len(deployments(sim, "web-dg")), 1, "one deployment in the group")


def test_review_reject_with_a_lost_stop_reply_tells_the_operator_it_took(ctx):
    """ecr-deployctl reject of a Ready deployment; StopDeployment is carried out (CodeDeploy rolls
    back) but its reply is lost. The daemon resumes at cd-stop-check and follows the rollback, but
    the operator's answer is only given when the rollout ends, as ECANCELED (exit status not 0),
    though the reject took. It should answer the operator once cd-stop-check has read that the
    deployment stopped (exit 0), as it does when the reply arrives."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 30, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    sim.fault("codedeploy.StopDeployment", "malformed-json", count=1)
    status, out, err = ctl(ctx, "reject", "web/web")
    wait_for(lambda: rolled_back(p, "web"), 40, "the rollback ends")
    check_eq(info(sim, dep)["status"], "Stopped", "CodeDeploy stopped it")
    check(events(p, ROLLBACK_COMPLETED, "web"), "the rollback followed")
    check_eq(status, 0, "ecr-deployctl reject says the reject took (out %r, err %r)" % (out, err))


def test_review_approve_with_a_lost_continue_reply_is_not_called_refused(ctx):
    """ecr-deployctl approve of a Ready deployment; ContinueDeployment is carried out but its reply
    is lost. The operator is told CodeDeploy refused it (exit status not 0), and the daemon logs
    'refused', while the deployment goes on to Succeeded. A lost reply should be told as such (the
    answer was lost; whether it took shows at the next look), or looked at again before answering:
    the deployment is no longer Ready, so the approval took."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 30, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    sim.fault("codedeploy.ContinueDeployment", "malformed-json", count=1)
    status, out, err = ctl(ctx, "approve", "web/web")
    wait_for(lambda: ended(p, "web"), 40, "the rollout ends")
    check_eq(info(sim, dep)["status"], "Succeeded", "the approval took: Succeeded")
    check(events(p, DEPLOY_COMPLETED, "web"), "DEPLOY_COMPLETED")
    check("refused" not in (out + err) and "refused" not in "".join(lines_with(p, "ContinueDeployment of")),
          "a lost reply is not called a refusal: ctl %r %r; daemon %s" % (out, err,
                                                                          lines_with(p, "ContinueDeployment of")))


def test_review_a_deployment_codedeploy_does_not_list_is_looked_for_by_token_not_made_again(ctx):
    """The record at cd-tracking names a deployment id BatchGetDeployments leaves out (as it does
    for an id it does not know, or one answered from a lagging replica), while our deployment,
    with our token, runs. It used to end the rollout unmarked once the appear window had passed
    ('CodeDeploy no longer lists deployment'), the digest not held, and the next poll made a
    second deployment of it. An absence is no verdict: it should look for ours by its token
    (ListDeployments, as at cd-find) and track the one it finds; one CreateDeployment."""
    sim, targets, path, doc = killed_while_tracking(ctx)
    rec = doc["rollout"]
    real = rec["cd_deployment_id"]
    rec["cd_deployment_id"] = "d-ZZZZZZZZZ"
    rec["cd_create_sent_at"] = rec.get("cd_create_sent_at", 0) - 120  # past the appear window
    with open(path, "w") as f:
        json.dump(doc, f)
    q = daemon(ctx, sim, targets, settle=False)
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    for _ in range(2):
        poll_now(q)
        if within(lambda: len(creates(sim)) > 1, 6):
            break
    check_eq(len(creates(sim)), 1, "one CreateDeployment: %s" % [c["params"].get("description")
                                                                  for c in creates(sim)])
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED: %s" % lines_with(q, "no longer lists"))
    check_eq(first(q, DEPLOY_COMPLETED, "web")[1].get("CODEDEPLOY_DEPLOYMENT_ID"), real, "our deployment tracked")


def test_review_codedeploys_rollback_that_comes_late_after_a_ready_timeout_is_followed(ctx):
    """A Ready wait that nobody answers times out (Stopped, TIMEOUT) in a group whose automatic
    rollback covers DEPLOYMENT_FAILURE; CodeDeploy's rollbackInfo comes 2 s later
    (codedeploy_rollback_delay). Before its fix the verdict was taken at once from the Stopped status without
    rollbackInfo (CD_STOPPED: 'stopped by CodeDeploy'), the rollback is never followed and no
    ROLLBACK_STARTED / ROLLBACK_COMPLETED is said. With an automatic rollback configured a Stopped
    deployment should wait for rollbackInfo (as Failed does) and follow it."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=10)]},
                       settings={"codedeploy_rollback_delay": 2.0})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: creates(sim), 20, "our deployment")
    dep = ours(sim, "web-dg")
    wait_for(lambda: ended(p, "web"), 30, "the rollout ends")
    wait_for(lambda: info(sim, dep).get("rollbackInfo"), 15, "CodeDeploy's rollback")
    rb = info(sim, dep)["rollbackInfo"]["rollbackDeploymentId"]
    wait_for(lambda: info(sim, rb)["status"] == "Succeeded", 20, "CodeDeploy's rollback ends")
    within(lambda: rolled_back(p, "web"), 10)
    l, f = first(p, ROLLBACK_STARTED, "web")
    check_eq(f.get("ROLLBACK_DEPLOYMENT_ID"), rb, "ROLLBACK_STARTED names CodeDeploy's rollback: " + l)
    check(events(p, ROLLBACK_COMPLETED, "web"), "ROLLBACK_COMPLETED")


def test_review_a_hostile_deployment_id_in_the_record_is_refused_naming_it(ctx):
    """The record at cd-tracking is hand-edited (as test_durability does): its cd_deployment_id
    holds a quote, a newline and a fake journal field. The record used to be accepted (only
    non-empty was checked, state.c), the id logged raw ('CodeDeploy deployment %s is ...')
    and sent to CodeDeploy. The record should be refused like a bad region: a message naming
    cd_deployment_id and its value, escaped, and nothing sent with it."""
    sim, targets, path, doc = killed_while_tracking(ctx)
    bad = 'd-X" \nMESSAGE_ID=0123456789abcdef0123456789abcdef FAKE=1'
    doc["rollout"]["cd_deployment_id"] = bad
    with open(path, "w") as f:
        json.dump(doc, f)
    since = len(sim.requests())
    q = daemon(ctx, sim, targets, settle=False)
    wait_for(lambda: lines_with(q, "cd_deployment_id") or
             [r for r in cd_calls(sim, since=since) if sent_with(r, bad)], 20,
             "the record read")
    within(lambda: [r for r in cd_calls(sim, since=since) if sent_with(r, bad)], 3)
    check_eq([r["operation"] for r in cd_calls(sim, since=since) if sent_with(r, bad)], [],
             "nothing sent with the hostile id")
    check([l for l in lines_with(q, "cd_deployment_id") if "d-X" in l],
          "the record refused naming cd_deployment_id and its value: %s" % q.read_stderr()[-3000:])
    check_eq([l for l in q.read_stderr().splitlines() if l.startswith("MESSAGE_ID=0123456789abcdef")], [],
             "no line forged by the id")


def test_review_status_of_a_codedeploy_rollout_does_not_count_tasks_it_never_read(ctx):
    """STATUS= while a CodeDeploy deployment runs: before the target's traffic weight is read it
    said '(web InProgress ... 0/0 tasks)' (deployer.c falls through to the ECS task counts, which
    a codedeploy rollout never reads), and deploymentOverview, which cdtrack parses, was shown
    nowhere (issue 16: 'deploymentOverview and traffic-shift progress in STATUS='). It shows
    CodeDeploy's status and lifecycle event, the traffic on the new revision while it shifts
    (linear, 10% every 0.8 s here) and the targets by state (deploymentOverview), never a task
    count."""
    from test_deploy import start as start_deploy
    from test_notify import NotifySocket
    from test_daemon import daemon_env
    import re
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 0.8})
    short = tempfile.mkdtemp(prefix="ecr-rv-")  # a Unix socket's path has 107 bytes at most
    sock = os.path.join(short, "notify.sock")
    ns = NotifySocket(sock)
    try:
        p = start_deploy(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod",
                                     "targets": [cd_target("web", named("web"))]}],
                         env=daemon_env(ctx, sim, NOTIFY_SOCKET=sock))
        wait_for(lambda: [m for m in ns.having("STATUS") if "no rollout in progress" in m["STATUS"]], 15,
                 "a STATUS after the first poll")
        sim.push("team/web", "prod", seed="v2")
        poll_now(p)
        wait_for(lambda: ended(p, "web"), 40, "the rollout ends")
        said = [m["STATUS"] for m in ns.having("STATUS") if "(web " in m["STATUS"]]
        check(said, "STATUS named the rollout")
        check_eq([s for s in said if "tasks" in s], [], "no task count in a codedeploy rollout's STATUS")
        # '(web CodeDeploy InProgress AllowTraffic, 30% traffic, targets 1 in progress)'
        shape = re.compile(r"\(web CodeDeploy (\w+)(?: (\w+))?(?:, (\d+)% traffic)?(?:, targets ([^)]*))?\)")
        seen = [shape.search(s).groups() for s in said if shape.search(s)]
        check([g for g in seen if g[0] == "InProgress" and g[1] == "AllowTraffic" and g[2] and
               0 < int(g[2]) < 100 and g[3] == "1 in progress"], "a STATUS of the traffic shift under "
              "way, part of the traffic moved, the one target in progress: %s" % said)
        check(all(g[3] for g in seen if g[0] not in ("starting", "Created")),
              "each STATUS with CodeDeploy's status past Created counts the targets: %s" % said)
    finally:
        ns.close()
        shutil.rmtree(short, ignore_errors=True)



def test_review_a_refused_approval_names_codedeploys_call(ctx):
    """ecr-deployctl approve of a Ready CodeDeploy deployment, ContinueDeployment refused
    (AccessDenied). The operator reads 'ECS refused ContinueServiceDeployment (CONTINUE) of hook
    d-...' (cmd_rollout.c on_continued speaks of ECS hooks whatever the strategy). It should name
    CodeDeploy's ContinueDeployment (StopDeployment for a reject) and the deployment id."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 30, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    sim.fault("codedeploy.ContinueDeployment", "error", code="AccessDeniedException",
              message="User is not authorized to perform: codedeploy:ContinueDeployment", count=1)
    status, out, err = ctl(ctx, "approve", "web/web")
    check(status != 0, "refused: %r %r" % (out, err))
    check("ContinueDeployment" in err and "ContinueServiceDeployment" not in err and dep in err,
          "names CodeDeploy's ContinueDeployment of %s: %r" % (dep, err))
