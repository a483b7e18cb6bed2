# SPDX-License-Identifier: MIT
"""awssim ECS service deployments, driven through boto3: DescribeServiceDeployments,
DescribeServiceRevisions, ListServiceDeployments, the strategies ECS runs itself (BLUE_GREEN,
LINEAR, CANARY) with lifecycle stages, traffic weights and bake time, PAUSE hooks with
ContinueServiceDeployment and expiry, StopServiceDeployment and alarm-triggered rollback."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq, wait_for  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web"
SD_PREFIX = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/"
REV_PREFIX = "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/"
# Simulated seconds per real second in the strategy tests: a minute of bake time takes 2 s; each
# lifecycle stage lasts at least STAGE simulated seconds (0.4 s), long enough to be seen by a poll.
FAST = 30.0
IN_FLIGHT = ("PENDING", "IN_PROGRESS")
ROLLING_BACK = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
STAGE = 12.0


def world(ctx, config=None, desired=2, settings=None):
    cfg = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    cfg.update(config or {})
    sim = Sim(ctx, seed={
        "settings": dict({"task_start_seconds": 0.3}, **(settings or {})),
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": REPO + ":prod", "memory": 128, "essential": True},
            {"name": "sidecar", "image": "public.ecr.aws/nginx/nginx:1.25", "memory": 64}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": desired,
                      "deploymentConfiguration": cfg}],
    })
    return sim, sim.client("ecs")


def deploy(sim, ecs, seed):
    """Pushes a new image and deploys it as ecr-deployd does; returns (digest, service deployment ARN)."""
    digest = sim.push("team/web", "prod", seed=seed)
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + digest, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    out = ecs.update_service(cluster="prod", service="web", taskDefinition=td)
    return digest, out["service"]["currentServiceDeployment"]


def sd_of(ecs, arn):
    out = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    return out["serviceDeployments"][0] if out["serviceDeployments"] else None


def until_status(ecs, arn, statuses, timeout=30):
    statuses = (statuses,) if isinstance(statuses, str) else statuses

    def cond():
        d = sd_of(ecs, arn)
        return d if d and d["status"] in statuses else None
    return wait_for(cond, timeout, "service deployment %s to be %s" % (arn, "/".join(statuses)))


def epoch(t):
    return t.timestamp()


def running_digests(ecs):
    arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    return {c["imageDigest"] for t in tasks for c in t["containers"] if c["name"] == "app" and "imageDigest" in c}


def watch(ecs, arn, until, timeout=60):
    """Polls the deployment until until(d) is true; returns every distinct (stage, weight, status)
    seen, in order, with the first reply that showed it."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sd_of(ecs, arn)
        key = (d.get("lifecycleStage"), d["targetServiceRevision"].get("requestedProductionTrafficWeight"),
               d["status"])
        if not seen or seen[-1][0] != key:
            seen.append((key, d))
        if until(d):
            return seen
        time.sleep(0.02)
    raise AssertionError("timed out watching %s; seen %s" % (arn, [k for k, _ in seen]))


# -- 1. service deployments of ROLLING services ------------------------------------------------

def test_rolling_deployment_is_described_listed_and_its_revision_names_the_digest(ctx):
    sim, ecs = world(ctx)
    first = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    old_arn = first["currentServiceDeployment"]
    old = sd_of(ecs, old_arn)
    check_eq(old["status"], "SUCCESSFUL", "the seeded deployment is SUCCESSFUL")
    digest, arn = deploy(sim, ecs, "two")
    check(arn.startswith(SD_PREFIX) and arn != old_arn, "a new service deployment ARN: %s" % arn)
    d = sd_of(ecs, arn)
    check_eq((d["status"] in ("PENDING", "IN_PROGRESS"), d["serviceArn"], d["clusterArn"]),
             (True, "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
              "arn:aws:ecs:us-east-1:123456789012:cluster/prod"), "in progress, of the service")
    check("lifecycleStage" not in d, "ROLLING shows no lifecycle stage")
    check_eq(d["deploymentCircuitBreaker"]["status"], "MONITORING", "the circuit breaker monitors")
    check_eq(d["alarms"], {"status": "DISABLED"}, "no alarms configured")
    target = d["targetServiceRevision"]["arn"]
    check(target.startswith(REV_PREFIX), "target revision ARN %s" % target)
    check_eq([s["arn"] for s in d["sourceServiceRevisions"]], [old["targetServiceRevision"]["arn"]],
             "the source is the seeded revision")
    done = until_status(ecs, arn, "SUCCESSFUL")
    check(epoch(done["finishedAt"]) >= epoch(done["startedAt"]), "finishedAt set")
    check_eq(done["deploymentCircuitBreaker"]["status"], "MONITORING_COMPLETE", "monitoring complete")
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq([(x["status"], x["rolloutState"]) for x in svc["deployments"]], [("PRIMARY", "COMPLETED")],
             "the old deployments[] behave as before")
    check_eq([r["arn"] for r in svc["currentServiceRevisions"]], [target], "currentServiceRevisions")
    revs = ecs.describe_service_revisions(serviceRevisionArns=[target, REV_PREFIX + "1234"])
    check_eq(revs["failures"], [{"arn": REV_PREFIX + "1234", "reason": "MISSING"}], "unknown revision")
    images = {c["containerName"]: c for c in revs["serviceRevisions"][0]["containerImages"]}
    check_eq((images["app"]["imageDigest"], images["app"]["image"]), (digest, REPO + "@" + digest),
             "the revision names the digest ECS resolved")
    check_eq(revs["serviceRevisions"][0]["taskDefinition"], svc["taskDefinition"], "its task definition")
    code, _, _, _ = aws_error(ecs.describe_service_revisions, serviceRevisionArns=[target] * 21)
    check_eq(code, "InvalidParameterException", "more than 20 revisions")


def test_describe_service_deployments_limits_and_failures(ctx):
    sim, ecs = world(ctx)
    arn = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["currentServiceDeployment"]
    ghost = SD_PREFIX + "nosuchdeployment"
    out = ecs.describe_service_deployments(serviceDeploymentArns=[arn, ghost])
    check_eq([d["serviceDeploymentArn"] for d in out["serviceDeployments"]], [arn], "found")
    check_eq(out["failures"], [{"arn": ghost, "reason": "MISSING"}], "unknown ARN: a MISSING failure")
    code, msg, _, _ = aws_error(ecs.describe_service_deployments, serviceDeploymentArns=[arn] * 21)
    check_eq(code, "InvalidParameterException", "more than 20: %s" % msg)
    other = sim.client("ecs", region="eu-west-1")
    check_eq(other.describe_service_deployments(serviceDeploymentArns=[arn])["failures"][0]["reason"], "MISSING",
             "another region does not see it")


def test_a_new_deployment_is_not_found_for_a_settable_time(ctx):
    sim, ecs = world(ctx, settings={"service_deployment_not_found_seconds": 1.5})
    _, arn = deploy(sim, ecs, "two")
    t0 = time.monotonic()
    out = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    check_eq((out["serviceDeployments"], out["failures"]), ([], [{"arn": arn, "reason": "MISSING"}]),
             "just created: MISSING")
    code, _, _, _ = aws_error(ecs.stop_service_deployment, serviceDeploymentArn=arn)
    check_eq(code, "ServiceDeploymentNotFoundException", "Stop does not find it yet")
    check(not [s for s in ecs.list_service_deployments(cluster="prod", service="web")["serviceDeployments"]
               if s["serviceDeploymentArn"] == arn], "nor does List")
    wait_for(lambda: sd_of(ecs, arn), 10, "the deployment to be found")
    check(time.monotonic() - t0 >= 1.0, "not found for about the time set (%.2fs)" % (time.monotonic() - t0))


def test_list_service_deployments_filters_and_pages(ctx):
    sim, ecs = world(ctx, settings={"task_start_seconds": 3})
    seeded = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["currentServiceDeployment"]
    # createdAt goes over the wire in whole seconds (botocore), hence the pauses.
    time.sleep(1.1)
    _, a = deploy(sim, ecs, "two")
    time.sleep(1.1)
    mid = time.time()
    time.sleep(1.1)
    _, b = deploy(sim, ecs, "three")
    listed = ecs.list_service_deployments(cluster="prod", service="web")["serviceDeployments"]
    check_eq([x["serviceDeploymentArn"] for x in listed], [b, a, seeded], "newest first")
    check_eq([x["status"] for x in listed], [listed[0]["status"], "STOPPED", "SUCCESSFUL"], "statuses")
    check(listed[0]["status"] in ("PENDING", "IN_PROGRESS"), "the newest in flight: %s" % listed[0]["status"])
    check(listed[0]["targetServiceRevisionArn"].startswith(REV_PREFIX), "target revision named")
    check(b in listed[1]["statusReason"], "superseded names the newer deployment: %s" % listed[1]["statusReason"])
    stopped = ecs.list_service_deployments(cluster="prod", service="web", status=["STOPPED", "SUCCESSFUL"])
    check_eq([x["serviceDeploymentArn"] for x in stopped["serviceDeployments"]], [a, seeded], "status filter")
    recent = ecs.list_service_deployments(cluster="prod", service="web", createdAt={"after": mid})
    check_eq([x["serviceDeploymentArn"] for x in recent["serviceDeployments"]], [b], "createdAt after")
    older = ecs.list_service_deployments(cluster="prod", service="web", createdAt={"before": mid})
    check_eq([x["serviceDeploymentArn"] for x in older["serviceDeployments"]], [a, seeded], "createdAt before")
    page = ecs.list_service_deployments(cluster="prod", service="web", maxResults=2)
    check_eq(len(page["serviceDeployments"]), 2, "a page of 2")
    rest = ecs.list_service_deployments(cluster="prod", service="web", maxResults=2, nextToken=page["nextToken"])
    check_eq([x["serviceDeploymentArn"] for x in rest["serviceDeployments"]], [seeded], "the next page")
    check("nextToken" not in rest, "the last page")
    code, _, _, _ = aws_error(ecs.list_service_deployments, cluster="prod", service="web", status=["STOPPED"],
                              nextToken=page["nextToken"])
    check_eq(code, "InvalidParameterException", "a token of another request")
    code, _, _, _ = aws_error(ecs.list_service_deployments, cluster="prod", service="ghost")
    check_eq(code, "ServiceNotFoundException", "unknown service")
    sd = sd_of(ecs, a)
    check_eq((sd["status"], sd["finishedAt"] is not None, sd["stoppedAt"] is not None), ("STOPPED", True, True),
             "the superseded one is STOPPED")


def test_circuit_breaker_rollback_is_followed_to_rollback_successful(ctx):
    sim, ecs = world(ctx)
    good = running_digests(ecs)
    before = sd_of(ecs, ecs.describe_services(cluster="prod", services=["web"])["services"][0][
        "currentServiceDeployment"])
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad)
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + bad, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    arn = ecs.update_service(cluster="prod", service="web", taskDefinition=td)["service"]["currentServiceDeployment"]
    seen = set()

    def cond():
        d = sd_of(ecs, arn)
        seen.add(d["status"])
        return d if d["status"] == "ROLLBACK_SUCCESSFUL" else None
    d = wait_for(cond, 30, "ROLLBACK_SUCCESSFUL")
    check("ROLLBACK_IN_PROGRESS" in seen or "ROLLBACK_REQUESTED" in seen, "rolling back seen: %s" % sorted(seen))
    cb = d["deploymentCircuitBreaker"]
    check_eq(cb["status"], "TRIGGERED", "the circuit breaker triggered")
    check(cb["failureCount"] >= cb["threshold"] == 3, "failureCount %d >= threshold %d" % (cb["failureCount"],
                                                                                          cb["threshold"]))
    check_eq(d["rollback"]["serviceRevisionArn"], before["targetServiceRevision"]["arn"],
             "rolled back to the revision before")
    check("circuit breaker" in d["rollback"]["reason"], "reason: %s" % d["rollback"]["reason"])
    check(epoch(d["rollback"]["startedAt"]) <= epoch(d["finishedAt"]), "rollback startedAt")
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq(svc["currentServiceDeployment"], arn, "the rollback belongs to the same service deployment")
    wait_for(lambda: running_digests(ecs) == good, 10, "the good digest to run again")


def test_circuit_breaker_without_rollback_stops_the_deployment(ctx):
    sim, ecs = world(ctx, {"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad)
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + bad, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    arn = ecs.update_service(cluster="prod", service="web", taskDefinition=td)["service"]["currentServiceDeployment"]
    d = until_status(ecs, arn, ("STOPPED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"))
    check_eq(d["status"], "STOPPED", "no rollback configured: STOPPED")
    check_eq(d["deploymentCircuitBreaker"]["status"], "TRIGGERED", "by the circuit breaker")
    check("circuit breaker" in d["statusReason"], "statusReason: %s" % d["statusReason"])
    check("rollback" not in d, "no rollback")
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq(svc["deployments"][0]["rolloutState"], "FAILED", "deployments[] as before: FAILED")


def test_blue_green_circuit_breaker_rolls_back_before_any_production_traffic(ctx):
    sim, ecs = world(ctx, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5},
                     settings={"time_acceleration": FAST, "lifecycle_stage_seconds": 3})
    good = running_digests(ecs)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "health")
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + bad, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    arn = ecs.update_service(cluster="prod", service="web", taskDefinition=td)["service"]["currentServiceDeployment"]
    seen = watch(ecs, arn, lambda d: d["status"] not in IN_FLIGHT + ROLLING_BACK)
    d = seen[-1][1]
    check_eq((d["status"], d["deploymentCircuitBreaker"]["status"]), ("ROLLBACK_SUCCESSFUL", "TRIGGERED"),
             "rolled back by the circuit breaker")
    check(all(w in (0.0, None) for (_, w, _), _ in seen), "never any production traffic: %s"
          % [k for k, _ in seen])
    check_eq(running_digests(ecs), good, "the blue digest runs")


# -- 2. strategies run by ECS ------------------------------------------------------------------

def test_blue_green_walks_the_stages_shifts_traffic_and_honours_bake_time(ctx):
    sim, ecs = world(ctx, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 2},
                     settings={"time_acceleration": FAST, "task_start_seconds": 3, "lifecycle_stage_seconds": STAGE})
    _, arn = deploy(sim, ecs, "two")
    seen = watch(ecs, arn, lambda d: d["status"] not in IN_FLIGHT)
    stages = []
    for (stage, _, _), _ in seen:
        if stage not in stages:
            stages.append(stage)
    check_eq(stages, ["RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
                      "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
                      "BAKE_TIME", "CLEAN_UP"], "every stage, in order")
    weights = [w for (stage, w, _), _ in seen if stage in ("RECONCILE_SERVICE", "SCALE_UP", "BAKE_TIME")]
    check_eq((weights[0], weights[-1]), (0.0, 100.0), "no production traffic before the shift, all of it after")
    final = seen[-1][1]
    check_eq(final["status"], "SUCCESSFUL", "successful")
    bake_start = next(d for (stage, _, _), d in seen if stage == "BAKE_TIME")["updatedAt"]
    baked = epoch(final["finishedAt"]) - epoch(bake_start)
    check(baked >= 120, "not SUCCESSFUL before the 2 minutes of bake time end (%.0f s)" % baked)
    src = next(d for (stage, _, _), d in seen if stage == "BAKE_TIME")["sourceServiceRevisions"][0]
    check_eq((src["runningTaskCount"], src["requestedProductionTrafficWeight"]), (2, 0.0),
             "the blue tasks keep running, without traffic, while the green bakes")
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq([(x["status"], x["rolloutState"]) for x in svc["deployments"]], [("PRIMARY", "COMPLETED")],
             "cleaned up")


def shifts(seen):
    """The production traffic weights a deployment took during the shift, in order, each with the
    time it was set."""
    out = []
    for (stage, w, _), d in seen:
        if stage in ("PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT") and w and (
                not out or out[-1][0] != w):
            out.append((w, d["updatedAt"]))
    return out


def test_linear_shifts_in_steps_and_canary_in_two(ctx):
    sim, ecs = world(ctx, {"strategy": "LINEAR",
                           "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1}},
                     settings={"time_acceleration": FAST, "lifecycle_stage_seconds": STAGE})
    _, arn = deploy(sim, ecs, "two")
    seen = watch(ecs, arn, lambda d: d["status"] not in IN_FLIGHT)
    shift = shifts(seen)
    check_eq([w for w, _ in shift], [25.0, 50.0, 75.0, 100.0], "25 % steps")
    gaps = [epoch(b) - epoch(a) for (_, a), (_, b) in zip(shift, shift[1:])]
    check(all(g >= 60 for g in gaps), "a step's bake time between steps: %s" % gaps)
    check_eq(seen[-1][1]["status"], "SUCCESSFUL", "linear successful")
    ecs.update_service(cluster="prod", service="web", deploymentConfiguration={
        "strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}})
    _, arn = deploy(sim, ecs, "three")
    seen = watch(ecs, arn, lambda d: d["status"] not in IN_FLIGHT)
    shift = shifts(seen)
    check_eq([w for w, _ in shift], [10.0, 100.0], "the canary, then everything")
    check(epoch(shift[1][1]) - epoch(shift[0][1]) >= 120, "the canary bakes its 2 minutes")
    d = seen[-1][1]
    check_eq((d["status"], d["deploymentConfiguration"]["strategy"]), ("SUCCESSFUL", "CANARY"), "canary successful")


# -- 3. PAUSE hooks, ContinueServiceDeployment, StopServiceDeployment ---------------------------

def pause_world(ctx, action="ROLLBACK", minutes=30, stage="POST_TEST_TRAFFIC_SHIFT", accel=FAST):
    return world(ctx, {"strategy": "BLUE_GREEN", "lifecycleHooks": [
        {"targetType": "PAUSE", "lifecycleStages": [stage],
         "timeoutConfiguration": {"timeoutInMinutes": minutes, "action": action}}]},
        settings={"time_acceleration": accel, "lifecycle_stage_seconds": STAGE})


def awaiting(ecs, arn):
    def cond():
        d = sd_of(ecs, arn)
        hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return (d, hooks[0]) if hooks else None
    return wait_for(cond, 20, "a hook awaiting action")


def test_pause_hook_waits_until_continued(ctx):
    sim, ecs = pause_world(ctx)
    _, arn = deploy(sim, ecs, "two")
    d, hook = awaiting(ecs, arn)
    check_eq((d["status"], d["lifecycleStage"], hook["targetType"], hook["timeoutAction"]),
             ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", "PAUSE", "ROLLBACK"), "waits at its stage")
    left = epoch(hook["expiresAt"]) - epoch(d["updatedAt"])
    check(29 * 60 <= left <= 30 * 60 + 1, "expires after its 30 minutes (%.0f s)" % left)
    time.sleep(0.5)  # 15 simulated seconds: it does not move on by itself
    d = sd_of(ecs, arn)
    check_eq((d["status"], d["lifecycleStage"], d["targetServiceRevision"]["requestedProductionTrafficWeight"]),
             ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0), "still waiting, no production traffic")
    code, _, _, _ = aws_error(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId="nosuchhook",
                              action="CONTINUE")
    check_eq(code, "InvalidParameterException", "unknown hook id")
    code, _, _, _ = aws_error(ecs.continue_service_deployment, serviceDeploymentArn=SD_PREFIX + "ghost",
                              hookId=hook["hookId"], action="CONTINUE")
    check_eq(code, "ServiceDeploymentNotFoundException", "unknown deployment")
    out = ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    check_eq(out["serviceDeploymentArn"], arn, "answered with the ARN")
    d = until_status(ecs, arn, "SUCCESSFUL")
    check_eq([h["status"] for h in d["lifecycleHookDetails"]], ["SUCCEEDED"], "the hook succeeded")
    code, _, _, _ = aws_error(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId=hook["hookId"],
                              action="CONTINUE")
    check_eq(code, "ConflictException", "a hook no longer awaiting action")


def test_pause_hook_rejected_rolls_back(ctx):
    sim, ecs = pause_world(ctx)
    sim.seed({"queues": ["events"]})
    sim.event_rule("events", sources=["aws.ecs"])
    good = running_digests(ecs)
    _, arn = deploy(sim, ecs, "two")
    _, hook = awaiting(ecs, arn)
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="ROLLBACK")
    d = until_status(ecs, arn, "ROLLBACK_SUCCESSFUL")
    ev = wait_for(lambda: [e for e in ecs_events(sim) if e["detail"].get("hookId")][2:], 10, "HOOK_FAILED")
    check_eq([(e["detail"]["eventName"], e["detail"]["eventType"]) for e in ev], [("HOOK_FAILED", "ERROR")],
             "the hook's event: FAILED, an ERROR")
    check_eq([h["status"] for h in d["lifecycleHookDetails"]], ["FAILED"], "the hook failed")
    check(hook["hookId"] in d["rollback"]["reason"], "the reason names the hook: %s" % d["rollback"]["reason"])
    check_eq(d["targetServiceRevision"]["requestedProductionTrafficWeight"], 0.0, "no traffic on the rejected one")
    wait_for(lambda: running_digests(ecs) == good, 10, "the old digest to run alone")


def test_pause_hook_expiry_with_continue_continues(ctx):
    sim, ecs = pause_world(ctx, action="CONTINUE", minutes=1)
    sim.seed({"queues": ["events"]})
    sim.event_rule("events", sources=["aws.ecs"])
    _, arn = deploy(sim, ecs, "two")
    d, hook = awaiting(ecs, arn)
    d = until_status(ecs, arn, "SUCCESSFUL")
    check_eq([h["status"] for h in d["lifecycleHookDetails"]], ["TIMED_OUT"], "timed out, then continued")
    ev = wait_for(lambda: [e for e in ecs_events(sim) if e["detail"].get("hookId")][2:], 10, "HOOK_TIMED_OUT")
    check_eq([(e["detail"]["eventName"], e["detail"]["eventType"]) for e in ev], [("HOOK_TIMED_OUT", "ERROR")],
             "the hook's event: TIMED_OUT, an ERROR")
    check(epoch(d["finishedAt"]) >= epoch(hook["expiresAt"]), "not before it expired")


def test_pause_hook_expiry_with_rollback_rolls_back(ctx):
    sim, ecs = pause_world(ctx, action="ROLLBACK", minutes=1)
    _, arn = deploy(sim, ecs, "two")
    _, hook = awaiting(ecs, arn)
    d = until_status(ecs, arn, "ROLLBACK_SUCCESSFUL")
    check(epoch(d["rollback"]["startedAt"]) >= epoch(hook["expiresAt"]), "not before it expired")
    check_eq([h["status"] for h in d["lifecycleHookDetails"]], ["TIMED_OUT"], "timed out, then rolled back")
    check("timed out" in d["rollback"]["reason"], "reason: %s" % d["rollback"]["reason"])


def test_stop_service_deployment_rolls_back_or_aborts(ctx):
    # Rollback even though the service configures none (circuit breaker off).
    sim, ecs = world(ctx, {"deploymentCircuitBreaker": {"enable": False, "rollback": False}},
                     settings={"task_start_seconds": 2})
    good = running_digests(ecs)
    _, arn = deploy(sim, ecs, "two")
    out = ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    check_eq(out["serviceDeploymentArn"], arn, "answered with the ARN")
    d = until_status(ecs, arn, "ROLLBACK_SUCCESSFUL", timeout=30)
    check("StopServiceDeployment" in d["rollback"]["reason"], "reason: %s" % d["rollback"]["reason"])
    check_eq(running_digests(ecs), good, "the old digest runs")
    code, _, _, _ = aws_error(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ROLLBACK")
    check_eq(code, "ConflictException", "a finished deployment cannot be stopped")
    _, arn = deploy(sim, ecs, "three")
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    d = until_status(ecs, arn, ("STOP_REQUESTED", "STOPPED"))
    d = until_status(ecs, arn, "STOPPED")
    check("ABORT" in d["statusReason"], "statusReason: %s" % d["statusReason"])
    check(d["stoppedAt"] is not None, "stoppedAt")


# -- 4. alarms ---------------------------------------------------------------------------------

def test_alarm_in_alarm_rolls_the_deployment_back(ctx):
    sim, ecs = world(ctx, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10,
                           "alarms": {"alarmNames": ["web-5xx", "web-latency"], "enable": True, "rollback": True}},
                     settings={"time_acceleration": FAST, "lifecycle_stage_seconds": STAGE})
    good = running_digests(ecs)
    _, arn = deploy(sim, ecs, "two")
    d = wait_for(lambda: (lambda x: x if x.get("lifecycleStage") == "BAKE_TIME" else None)(sd_of(ecs, arn)), 30,
                 "bake time")
    check_eq(d["alarms"], {"status": "MONITORING", "alarmNames": ["web-5xx", "web-latency"]}, "monitoring")
    # An alarm the service does not monitor changes nothing.
    sim.control("POST", "/alarm", {"cluster": "prod", "service": "web", "alarm": "other", "state": "ALARM"})
    check_eq(sd_of(ecs, arn)["status"], "IN_PROGRESS", "an unmonitored alarm is ignored")
    out = sim.control("POST", "/alarm", {"cluster": "prod", "service": "web", "alarm": "web-5xx", "state": "ALARM"})
    check_eq(out["serviceDeploymentArn"], arn, "the control names the deployment")
    d = until_status(ecs, arn, "ROLLBACK_SUCCESSFUL")
    check_eq(d["alarms"], {"status": "TRIGGERED", "alarmNames": ["web-5xx", "web-latency"],
                           "triggeredAlarmNames": ["web-5xx"]}, "the alarm that triggered is named")
    check("web-5xx" in d["rollback"]["reason"], "reason: %s" % d["rollback"]["reason"])
    wait_for(lambda: running_digests(ecs) == good, 10, "the old digest to run alone")
    bad = sim.control("POST", "/alarm", {"cluster": "prod", "service": "web", "alarm": "web-5xx",
                                         "state": "PURPLE"}, expect=400)
    check("state" in bad["error"], "a bad state is refused: %s" % bad["error"])


def test_policies_judge_service_deployment_calls_by_their_arns(ctx):
    sim, ecs = world(ctx, settings={"task_start_seconds": 3})
    _, arn = deploy(sim, ecs, "two")
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["ecs:StopServiceDeployment", "ecs:ContinueServiceDeployment"],
         "Resource": "arn:aws:ecs:*:*:service-deployment/prod/web/*"},
        {"Effect": "Deny", "Action": "ecs:ListServiceDeployments", "Resource": "arn:aws:ecs:*:*:service/prod/web"},
        {"Effect": "Deny", "Action": "ecs:DescribeServiceRevisions",
         "Resource": "arn:aws:ecs:*:*:service-revision/prod/other/*"}]}})
    d = sd_of(ecs, arn)
    check(d["status"] in ("PENDING", "IN_PROGRESS"), "DescribeServiceDeployments allowed")
    code, msg, _, _ = aws_error(ecs.stop_service_deployment, serviceDeploymentArn=arn)
    check_eq(code, "AccessDeniedException", "Stop denied on the deployment's ARN")
    check(arn in msg, "the message names the ARN: %s" % msg)
    code, _, _, _ = aws_error(ecs.list_service_deployments, cluster="prod", service="web")
    check_eq(code, "AccessDeniedException", "List denied on the service's ARN")
    revs = ecs.describe_service_revisions(serviceRevisionArns=[d["targetServiceRevision"]["arn"]])
    check_eq(len(revs["serviceRevisions"]), 1, "DescribeServiceRevisions of another service's denial: allowed")


def test_external_controller_refuses_a_new_revision(ctx):
    sim = Sim(ctx, seed={
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [{"name": "app", "image": REPO + ":prod"}]},
                             {"family": "web", "containerDefinitions": [{"name": "app", "image": REPO + ":next"}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1,
                      "deploymentController": {"type": "EXTERNAL"}}],
    })
    ecs = sim.client("ecs")
    code, msg, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", taskDefinition="web:2")
    check_eq(code, "InvalidParameterException", "a new task definition refused: %s" % msg)
    check("EXTERNAL" in msg, "the message names the controller: %s" % msg)
    code, _, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", forceNewDeployment=True)
    check_eq(code, "InvalidParameterException", "forceNewDeployment refused")
    out = ecs.update_service(cluster="prod", service="web", desiredCount=2)
    check_eq(out["service"]["desiredCount"], 2, "the desired count may change")


# -- issue 14: "ECS Deployment State Change" and "ECS Hook State Change" events ---------------------

SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"


def ecs_events(sim, queue="events"):
    return [e for e in (json.loads(m["body"]) for m in sim.queue_messages(queue)) if e["source"] == "aws.ecs"]


def names(events):
    return [(e["detail"].get("deploymentId") or e["detail"].get("hookId"), e["detail"]["eventName"]) for e in events]


def deploy_bad(sim, ecs):
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad)
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + bad, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    return ecs.update_service(cluster="prod", service="web", taskDefinition=td)["service"]["currentServiceDeployment"]


def with_events(sim, **rule):
    sim.seed({"queues": ["events"]})
    sim.event_rule("events", **rule)


def test_deployment_events_in_progress_then_completed_once(ctx):
    sim, ecs = world(ctx)
    with_events(sim)
    _, arn = deploy(sim, ecs, "two")
    dep = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]["id"]
    until_status(ecs, arn, "SUCCESSFUL")
    for _ in range(5):  # polls send nothing
        ecs.describe_services(cluster="prod", services=["web"])
    ev = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(ecs_events(sim)), 10, "two ECS events")
    check_eq(names(ev), [(dep, "SERVICE_DEPLOYMENT_IN_PROGRESS"), (dep, "SERVICE_DEPLOYMENT_COMPLETED")],
             "IN_PROGRESS then COMPLETED, once each")
    for e in ev:
        check_eq(sorted(e), sorted(["version", "id", "detail-type", "source", "account", "time", "region",
                                    "resources", "detail"]), "the whole event")
        check_eq({k: e[k] for k in ("version", "detail-type", "source", "account", "region", "resources")},
                 {"version": "0", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
                  "account": "123456789012", "region": "us-east-1", "resources": [SERVICE_ARN]}, "envelope")
        check_eq(sorted(e["detail"]), ["deploymentId", "eventName", "eventType", "reason", "updatedAt"], "detail")
        check_eq(e["detail"]["eventType"], "INFO", "INFO")
        check(e["detail"]["updatedAt"].endswith("Z") and dep.startswith("ecs-svc/"), "updatedAt, deploymentId")
    check("completed" in ev[1]["detail"]["reason"], "reason: %s" % ev[1]["detail"]["reason"])
    kinds = [json.loads(m["body"])["detail-type"] for m in sim.queue_messages("events")]
    check_eq(kinds.count("ECR Image Action"), 1, "the push's event too (both sources by default)")


def test_deployment_failed_event_only_with_the_circuit_breaker(ctx):
    sim, ecs = world(ctx)
    with_events(sim, sources=["aws.ecs"])
    arn = deploy_bad(sim, ecs)
    failed = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]["id"]
    until_status(ecs, arn, "ROLLBACK_SUCCESSFUL")
    ev = wait_for(lambda: (lambda e: e if len(e) >= 4 else None)(ecs_events(sim)), 10, "four ECS events")
    rb = ev[2]["detail"]["deploymentId"]
    check_eq(names(ev), [(failed, "SERVICE_DEPLOYMENT_IN_PROGRESS"), (failed, "SERVICE_DEPLOYMENT_FAILED"),
                         (rb, "SERVICE_DEPLOYMENT_IN_PROGRESS"), (rb, "SERVICE_DEPLOYMENT_COMPLETED")],
             "failed, then the rollback")
    check_eq(ev[1]["detail"]["eventType"], "ERROR", "FAILED is an ERROR")
    check("circuit breaker" in ev[1]["detail"]["reason"], "reason: %s" % ev[1]["detail"]["reason"])
    check(rb != failed, "the rollback is a new ECS deployment")


def test_no_failed_event_without_the_circuit_breaker(ctx):
    sim, ecs = world(ctx, {"deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    with_events(sim, sources=["aws.ecs"])
    deploy_bad(sim, ecs)
    first = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]["id"]
    wait_for(lambda: ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0][
        "failedTasks"] >= 4, 20, "tasks to fail past any threshold")
    # A deployment FAILED otherwise (StopServiceDeployment ABORT) sends no event either.
    _, arn = deploy(sim, ecs, "two")
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    dep = wait_for(lambda: (lambda d: d if d["rolloutState"] == "FAILED" else None)(
        ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]), 10,
        "the aborted deployment to be FAILED")["id"]
    until_status(ecs, arn, "STOPPED")
    check_eq(names(ecs_events(sim)), [(first, "SERVICE_DEPLOYMENT_IN_PROGRESS"),
                                      (dep, "SERVICE_DEPLOYMENT_IN_PROGRESS")], "no FAILED event")


def test_hook_events_at_each_transition(ctx):
    sim, ecs = pause_world(ctx)
    with_events(sim, sources=["aws.ecs"])
    _, arn = deploy(sim, ecs, "two")
    d, hook = awaiting(ecs, arn)
    hid = hook["hookId"]

    def hook_events():
        return [e for e in ecs_events(sim) if e["detail-type"] == "ECS Hook State Change"]
    ev = wait_for(lambda: (lambda e: e if len(e) >= 2 else None)(hook_events()), 10, "two hook events")
    check_eq(names(ev), [(hid, "HOOK_IN_PROGRESS"), (hid, "HOOK_AWAITING_ACTION")], "in progress, awaiting")
    e = ev[1]
    check_eq({k: e[k] for k in ("source", "detail-type", "resources")},
             {"source": "aws.ecs", "detail-type": "ECS Hook State Change", "resources": [SERVICE_ARN]}, "envelope")
    check_eq({k: e["detail"][k] for k in ("serviceDeploymentArn", "lifecycleStage")},
             {"serviceDeploymentArn": arn, "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"}, "detail")
    check(e["detail"]["expiresAt"].endswith("Z"), "expiresAt: %s" % e["detail"]["expiresAt"])
    for _ in range(3):
        sd_of(ecs, arn)
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hid, action="CONTINUE")
    until_status(ecs, arn, "SUCCESSFUL")
    ev = wait_for(lambda: (lambda e: e if len(e) >= 3 else None)(hook_events()), 10, "the third hook event")
    check_eq(names(ev), [(hid, "HOOK_IN_PROGRESS"), (hid, "HOOK_AWAITING_ACTION"), (hid, "HOOK_SUCCEEDED")],
             "then SUCCEEDED, each once")


def test_ecs_events_can_be_turned_off(ctx):
    sim, ecs = world(ctx, settings={"ecs_events": False})
    with_events(sim)
    _, arn = deploy(sim, ecs, "two")
    until_status(ecs, arn, "SUCCESSFUL")
    sim.push("team/web", "other", seed="marker")  # ECR events still flow, after the deployment's
    wait_for(lambda: len(sim.queue_messages("events")) >= 2, 10, "the two push events")
    check_eq([json.loads(m["body"])["source"] for m in sim.queue_messages("events")], ["aws.ecr", "aws.ecr"],
             "no ECS events")
