# SPDX-License-Identifier: MIT
"""Issue 12: the rollout engine's verdicts against an ECS that does not answer like the
simulator usually does. Case 1: UpdateService answered, but no deployment of ours listed (for a
while, or ever). Case 2: the rollback of a service whose revision names a tag, with and without a
digest known to have run. Cases 3 and 4: permission and request errors block the target (never
mark the digest failed) and deregister a revision that would go unused."""

import json
import os
import time

from harness import Sim, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import (ACCT, API_ERROR, DEPLOY_COMPLETED, DEPLOY_FAILED, REPO_URI, ROLLBACK_COMPLETED,
                         ROLLBACK_STARTED, describe, mutations, poll_now, push_until_tracking, running_image,
                         settle_first_start, start, target, web_watch, world)

ROLLBACK_FAILED = "8bb5ae24f05b408996d3fd2bb948f248"
BLOCKED = "d7631a67aa3d44f8b114544ef9768e73"
TD = "arn:aws:ecs:us-east-1:%s:task-definition/web:%%d" % ACCT


def quirk(sim, mode, seconds=None):
    sim.control("POST", "/update-quirk", {"cluster": "prod", "service": "web", "mode": mode, "seconds": seconds})


def state_file(ctx):
    with open(ctx.path("state", "state.json")) as f:
        return json.load(f)


def target_state(ctx):
    return state_file(ctx)["watches"]["web"]["targets"]["us-east-1/prod/web"]


def field(line, key):
    for part in line.split(" "):
        if part.startswith(key + "="):
            return part[len(key) + 1:]
    return None


def test_a_deployment_listed_late_is_tracked_not_misread(ctx):
    """Case 1: UpdateService's reply and the next DescribeServices list only the deployment that
    was PRIMARY before. The daemon looks again until ours appears, then tracks it to the end: no
    rollback (ECS did not roll back), no anomaly, one registration and one update."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    quirk(sim, "lag", 4)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED")
    check(lines_with(p, "does not list a deployment of ours yet"), "the wait is said")
    check(lines_with(p, "of ours is listed now"), "ours found when ECS lists it")
    check_eq(lines_with(p, DEPLOY_FAILED) + lines_with(p, ROLLBACK_STARTED), [], "no failure, no rollback")
    check_eq([r["operation"] for r in mutations(sim)], ["RegisterTaskDefinition", "UpdateService"],
             "one registration, one update")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the new digest runs")
    done = lines_with(p, DEPLOY_COMPLETED)[0]
    check("SERVICE_DEPLOYMENT_ARN=arn:aws:ecs:us-east-1:%s:service-deployment/prod/web/" % ACCT in done,
          "the service deployment ARN is kept: " + done)


def test_a_deployment_that_never_appears_is_an_anomaly_and_the_service_is_put_back(ctx):
    """Case 1: UpdateService is answered and ECS never makes a deployment. After the bound the
    daemon reports an anomaly (its own REASON), holds the digest (not failed) and puts the service
    back on the pinned previous revision; nothing is read as ECS's rollback."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch(target("web", rollout_timeout="10s"))])
    settle_first_start(p)
    good = running_image(sim, "web")
    good_digest = sim.client("ecs").describe_tasks(
        cluster="prod", tasks=sim.client("ecs").list_tasks(cluster="prod", serviceName="web")["taskArns"]
    )["tasks"][0]["containers"][0]["imageDigest"]
    quirk(sim, "never")
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 40, "the service put back")
    failed = lines_with(p, DEPLOY_FAILED)
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    check(field(failed[0], "REASON") and "REASON=\"anomaly: UpdateService was answered, but ECS lists no deployment"
          in failed[0], failed[0])
    check("circuit breaker" not in failed[0] and "superseded" not in failed[0], "not misread: " + failed[0])
    check_eq(lines_with(p, ROLLBACK_FAILED), [], "the rollback completed")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED")
    s = describe(sim, "web")
    td = sim.client("ecs").describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
    app = [c for c in td["containerDefinitions"] if c["name"] == "app"][0]
    check_eq(app["image"], REPO_URI + "team/web@" + good_digest, "back on a revision pinned to what ran")
    check(good.endswith(":prod"), "the revision before named a tag: " + good)
    t = target_state(ctx)
    check_eq([f["digest"] for f in t.get("failed", [])], [], "the digest is not marked failed")
    check_eq(t.get("held"), new, "it is held until a newer push")
    since = sim.control("GET", "/requests")["last"]
    poll_now(p)
    wait_for(lambda: lines_with(p, "held back"), 15, "held back")
    check_eq(mutations(sim, since), [], "not deployed again")


def forget_what_ran(ctx, keep_previous):
    """Edits the stopped daemon's state: what the service runs is unknown ("") and, unless
    keep_previous, so is the digest the tag had before."""
    path = ctx.path("state", "state.json")
    st = state_file(ctx)
    st["watches"]["web"]["targets"]["us-east-1/prod/web"]["deployed"] = ""
    if not keep_previous:
        st["watches"]["web"].pop("want", None)  # what the tag was before: never seen
    with open(path, "w") as f:
        json.dump(st, f)


def test_rollback_without_a_known_digest_never_deploys_a_tag(ctx):
    """Case 2: the revision that ran names a tag (which now points at the failed image) and no
    digest that ran before is known: ROLLBACK_FAILED that says why and what to do; no
    UpdateService to the tag-named revision. (Without the service-deployment API: with it, ECS's
    own rollback on our StopServiceDeployment goes back to the digests it resolved.)"""
    sim = Sim(ctx, seed=world(breaker=False))
    sim.settings(service_deployments=False)
    watch = web_watch(target("web", rollout_timeout="10s"))
    p = start(ctx, sim, [watch])
    settle_first_start(p)
    p.stop()
    forget_what_ran(ctx, keep_previous=False)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    since = sim.control("GET", "/requests")["last"]
    p = start(ctx, sim, [watch])
    wait_for(lambda: lines_with(p, ROLLBACK_FAILED), 40, "ROLLBACK_FAILED")
    rf = lines_with(p, ROLLBACK_FAILED)[0]
    check("names a tag" in rf and "digest that ran before is unknown" in rf and "deploy a known-good digest" in rf, rf)
    updates = [r for r in mutations(sim, since) if r["operation"] == "UpdateService"]
    check_eq([u["params"].get("taskDefinition") for u in updates], [TD % 2], "only our own UpdateService")


def test_rollback_pins_the_digest_the_tag_had_before(ctx):
    """Case 2: what the service ran is unknown, but the tag's digest before the push was seen:
    the rollback registers the old revision pinned to that digest, never the tag. (Without the
    service-deployment API, as above.)"""
    sim = Sim(ctx, seed=world(breaker=False))
    sim.settings(service_deployments=False)
    watch = web_watch(target("web", rollout_timeout="10s"))
    p = start(ctx, sim, [watch])
    settle_first_start(p)
    before = state_file(ctx)["watches"]["web"]["want"]["digest"]
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    sim.settings(task_start_seconds=30)  # the deploy waits in tracking while the state is edited
    poll_now(p)
    wait_for(lambda: state_file(ctx)["watches"]["web"]["want"]["digest"] == bad, 20, "the push seen")
    p.stop()
    sim.settings(task_start_seconds=0.3)
    check_eq(state_file(ctx)["watches"]["web"]["want"].get("previous"), before, "the previous digest is kept")
    forget_what_ran(ctx, keep_previous=True)
    p = start(ctx, sim, [watch])
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 60, "the rollback ends")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + before, "pinned to the digest the tag had")


def test_access_denied_blocks_the_target_and_never_fails_the_digest(ctx):
    """Case 3: AccessDenied on RegisterTaskDefinition: a BLOCKED event naming the code and the
    missing action, no DEPLOY_FAILED, the digest not in the failed list; after the fix and a
    reload, the same digest deploys without any 'retry'."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    msg = ("User: arn:aws:iam::%s:user/deployer is not authorized to perform: ecs:RegisterTaskDefinition on "
           "resource: * because no identity-based policy allows the ecs:RegisterTaskDefinition action" % ACCT)
    sim.fault("ecs.RegisterTaskDefinition", "error", code="AccessDeniedException", message=msg, status=400,
              format="json", count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, BLOCKED), 20, "BLOCKED")
    b = lines_with(p, BLOCKED)[0]
    check_eq(field(b, "AWS_ERROR_CODE"), "AccessDeniedException", "the code")
    check_eq(field(b, "AWS_OPERATION"), "RegisterTaskDefinition", "the call")
    check_eq(field(b, "AWS_ACTION"), "ecs:RegisterTaskDefinition", "the missing action")
    check("IMAGE_DIGEST=" + new in b and "not marked failed" in b, b)
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(target_state(ctx).get("failed", []), [], "not in the failed list")
    check("trying again in 60s, or at the next reload" in b, b)
    # Blocked: the next poll cycle (which reconciles every target) does not try again before
    # the backoff ...
    since = sim.control("GET", "/requests")["last"]
    cycles = len(lines_with(p, "poll cycle:"))
    wait_for(lambda: len(lines_with(p, "poll cycle:")) > cycles, 15, "the next poll cycle")
    time.sleep(0.5)  # its reconcile runs from a 0 s timer after the cycle
    check_eq(mutations(sim, since), [], "nothing tried while blocked")
    # ... a reload (the operator fixed IAM) does, and the same digest deploys.
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED after the reload")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed without a retry")


def test_update_refused_after_register_deregisters_and_blocks(ctx):
    """Cases 3 and 4: UpdateService refused (a ClientException caused by the request) after
    RegisterTaskDefinition succeeded: the event says what changed (a revision was registered) and
    that it was deregistered; the target is blocked, the digest not failed."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    sim.fault("ecs.UpdateService", "error", code="ClientException",
              message="TaskDefinition is inactive or the request names something ECS refuses", status=400,
              format="json", count=1)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, BLOCKED), 20, "BLOCKED")
    b = lines_with(p, BLOCKED)[0]
    check_eq(field(b, "AWS_ERROR_CODE"), "ClientException", "the code")
    check_eq(field(b, "ROLLOUT_STEP"), "updating", "the step that was refused, not the deregister after it")
    check("UpdateService refused" in b and ("%s, registered for it, was deregistered" % (TD % 2)) in b, b)
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(target_state(ctx).get("failed", []), [], "not in the failed list")
    ops = [r["operation"] for r in mutations(sim)]
    check_eq(ops, ["RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition"], "what changed")
    td = sim.client("ecs").describe_task_definition(taskDefinition=TD % 2)["taskDefinition"]
    check_eq(td["status"], "INACTIVE", "the unused revision is deregistered")
    check_eq(describe(sim, "web")["taskDefinition"], TD % 1, "the service did not move")


def test_access_denied_while_tracking_is_said_once_and_tracking_goes_on(ctx):
    """DescribeServiceDeployments and DescribeServices refused (AccessDenied) while our deployment is tracked: what ECS did is
    unknown, so nothing is concluded and tracking goes on; the error is said once, not at every
    look (every 10 s for as long as the permission is missing), and when ECS answers again the
    rollout ends on what it says."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = push_until_tracking(ctx, sim, p, "v2")
    since = sim.control("GET", "/requests")["last"]
    # Both ways of looking are refused: DescribeServiceDeployments (the daemon falls back, said
    # once) and DescribeServices (the fallback's: said once, tracking goes on).
    for op in ("DescribeServiceDeployments", "DescribeServices"):
        sim.fault("ecs." + op, "error", code="AccessDeniedException", status=400, format="json",
                  rate=1.0, message="User: arn:aws:iam::%s:user/deployer is not authorized to perform: "
                                    "ecs:%s on resource: *" % (ACCT, op))
    wait_for(lambda: len([r for r in sim.requests(since=since, operation="DescribeServices")
                          if r.get("fault")]) >= 4, 40, "four refused looks")
    sim.control("DELETE", "/faults")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED once ECS answers")
    fallback = [l for l in lines_with(p, API_ERROR) if "AWS_OPERATION=DescribeServiceDeployments" in l]
    check_eq(len(fallback), 1, "the fallback said once: %s" % fallback)
    said = [l for l in lines_with(p, API_ERROR) if "AWS_OPERATION=DescribeServices" in l]
    check_eq(len(said), 1, "the refusal said once: %s" % said)
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")
