# SPDX-License-Identifier: MIT
"""awssim ECS, driven through boto3: task definitions, services and
rollouts over time."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq, wait_for  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web"


def world(ctx, desired=2, breaker=True, rollback=True, image=REPO + ":prod", steady=True, **service):
    sim = Sim(ctx, seed={
        "settings": {"task_start_seconds": 0.3},
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": image, "memory": 128, "essential": True},
            {"name": "sidecar", "image": "public.ecr.aws/nginx/nginx:1.25", "memory": 64}],
            "tags": [{"key": "team", "value": "web"}]}],
        "services": [dict({"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": desired,
                           "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": breaker,
                                                                                     "rollback": rollback}},
                           "steady": steady}, **service)],
    })
    return sim, sim.client("ecs")


def service(ecs, name="web"):
    return ecs.describe_services(cluster="prod", services=[name])["services"][0]


def register(ecs, image, family="web"):
    td = ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "app", "image": image, "memory": 128}])
    return td["taskDefinition"]["taskDefinitionArn"]


def settled(ecs, state="COMPLETED"):
    def cond():
        s = service(ecs)
        return s if len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == state else None
    return cond


def test_task_definitions(ctx):
    sim, ecs = world(ctx)
    d = ecs.describe_task_definition(taskDefinition="web", include=["TAGS"])
    td = d["taskDefinition"]
    check_eq(td["taskDefinitionArn"], "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1", "arn")
    for f in ("revision", "status", "requiresAttributes", "compatibilities", "registeredAt", "registeredBy"):
        check(f in td, "read-only field %s returned" % f)
    check_eq(d["tags"], [{"key": "team", "value": "web"}], "tags at the top level with include TAGS")
    check("tags" not in ecs.describe_task_definition(taskDefinition="web:1"), "no tags without include")
    # Every field registered comes back, including ones a client may not know.
    extra = dict(family="web", containerDefinitions=[{"name": "app", "image": REPO + ":x", "memory": 64,
                                                      "versionConsistency": "disabled"}],
                 runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
                 enableFaultInjection=True, ephemeralStorage={"sizeInGiB": 30}, pidMode="task")
    got = ecs.register_task_definition(**extra)["taskDefinition"]
    check_eq(got["revision"], 2, "revision increments")
    for k in ("runtimePlatform", "enableFaultInjection", "ephemeralStorage", "pidMode"):
        check_eq(got[k], extra[k], "%s kept" % k)
    code, msg, _, _ = aws_error(ecs.register_task_definition, family="web", tags=[],
                                containerDefinitions=[{"name": "app", "image": "x"}])
    check_eq((code, msg), ("ClientException", "Tags can not be empty."), "empty tags")
    code, msg, _, _ = aws_error(ecs.register_task_definition, family="web", containerDefinitions=[
        {"name": "app", "image": "x", "repositoryCredentials": {"credentialsParameter": ""}}])
    check_eq(code, "ClientException", "empty string rejected")
    check("containerDefinitions[0].repositoryCredentials.credentialsParameter" in msg, "names it: %r" % msg)
    ok = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": "x", "environment": [{"name": "EMPTY", "value": ""}]}])
    check_eq(ok["taskDefinition"]["containerDefinitions"][0]["environment"][0]["value"], "", "empty env value ok")
    code, msg, _, _ = aws_error(ecs.register_task_definition, family="web",
                                containerDefinitions=[{"name": "app", "image": REPO + "@sha256:abc"}])
    check_eq(code, "ClientException", "malformed digest")
    ecs.deregister_task_definition(taskDefinition="web:2")
    check_eq(ecs.describe_task_definition(taskDefinition="web:2")["taskDefinition"]["status"], "INACTIVE", "status")
    code, msg, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", taskDefinition="web:2")
    check_eq(code, "ClientException", "an INACTIVE revision cannot be deployed")
    latest = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"]
    check_eq(latest, 3, "family alone means the latest ACTIVE revision")
    code, _, _, _ = aws_error(ecs.describe_task_definition, taskDefinition="nope:1")
    check_eq(code, "ClientException", "missing task definition")


def test_describe_services_limits_and_failures(ctx):
    sim, ecs = world(ctx)
    out = ecs.describe_services(cluster="prod", services=["web", "ghost"])
    check_eq([s["serviceName"] for s in out["services"]], ["web"], "found")
    check_eq(out["failures"], [{"arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/ghost", "reason": "MISSING"}],
             "missing one")
    code, _, _, _ = aws_error(ecs.describe_services, cluster="prod", services=["s%d" % i for i in range(11)])
    check_eq(code, "InvalidParameterException", "more than 10")
    code, _, _, _ = aws_error(ecs.describe_services, cluster="nope", services=["web"])
    check_eq(code, "ClusterNotFoundException", "cluster")
    code, _, _, _ = aws_error(ecs.update_service, cluster="prod", service="ghost", forceNewDeployment=True)
    check_eq(code, "ServiceNotFoundException", "update of a missing service")
    out = ecs.update_service(cluster="prod", service="web", deploymentConfiguration={
        "minimumHealthyPercent": 50, "maximumPercent": 150,
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    cfg = out["service"]["deploymentConfiguration"]
    check_eq((cfg["minimumHealthyPercent"], cfg["maximumPercent"], cfg["deploymentCircuitBreaker"]["enable"]),
             (50, 150, False), "UpdateService changes deploymentConfiguration")
    check_eq(len(out["service"]["deployments"]), 1, "a configuration change alone starts no deployment")
    s = service(ecs)
    for f in ("status", "desiredCount", "runningCount", "pendingCount", "taskDefinition", "deploymentConfiguration",
              "deploymentController", "deployments", "events"):
        check(f in s, "service has %s" % f)
    check_eq((s["runningCount"], s["deployments"][0]["rolloutState"]), (2, "COMPLETED"), "seeded steady")


def test_rollout_completes_and_respects_minimum_healthy(ctx):
    sim, ecs = world(ctx, desired=4)
    d2 = sim.push("team/web", "prod", seed="two")
    arn = register(ecs, REPO + "@" + d2)
    ecs.update_service(cluster="prod", service="web", taskDefinition=arn)
    s = service(ecs)
    check_eq([d["status"] for d in s["deployments"]], ["PRIMARY", "ACTIVE"], "new PRIMARY, old ACTIVE")
    check_eq(s["deployments"][0]["rolloutState"], "IN_PROGRESS", "in progress")
    low = 99
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s = service(ecs)
        low = min(low, s["runningCount"])
        if len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED":
            break
        time.sleep(0.05)
    check_eq(s["deployments"][0]["rolloutState"], "COMPLETED", "completed")
    check_eq(s["taskDefinition"], arn, "runs the new revision")
    check(low >= 4, "never below minimumHealthyPercent 100%% of 4 (low %d)" % low)
    msgs = [e["message"] for e in s["events"]]
    check("(service web) has reached a steady state." in msgs, "steady-state event")
    tasks = ecs.describe_tasks(cluster="prod", tasks=ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"])
    app = [c for t in tasks["tasks"] for c in t["containers"] if c["name"] == "app"]
    check_eq((len(app), {c["imageDigest"] for c in app}), (4, {d2}), "every task runs the new digest")
    check_eq({t["startedBy"] for t in tasks["tasks"]}, {s["deployments"][0]["id"]}, "startedBy is the deployment")


def app_digests(ecs):
    tasks = ecs.describe_tasks(cluster="prod", tasks=ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"])
    return {c["imageDigest"] for t in tasks["tasks"] for c in t["containers"] if c["name"] == "app"}


def test_bad_digest_circuit_breaker_rolls_back(ctx):
    sim, ecs = world(ctx)
    good = service(ecs)["taskDefinition"]
    before = app_digests(ecs)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad)
    arn = register(ecs, REPO + "@" + bad)
    ecs.update_service(cluster="prod", service="web", taskDefinition=arn)
    failed = wait_for(lambda: next((d for d in service(ecs)["deployments"] if d["rolloutState"] == "FAILED"), None),
                      20, "the deployment to turn FAILED")
    check_eq(failed["taskDefinition"], arn, "the failed deployment is ours")
    check(failed["failedTasks"] >= 3, "failedTasks counted")
    s = wait_for(settled(ecs), 20, "the rollback to complete")
    check_eq(s["taskDefinition"], good, "rolled back to the previous revision")
    check_eq(app_digests(ecs), before, "with the digests it ran before, though its tag moved to the bad one")
    msgs = " ".join(e["message"] for e in s["events"])
    check("deployment failed: tasks failed to start" in msgs and "rolling back" in msgs, "events explain: %s" % msgs)
    stopped = ecs.list_tasks(cluster="prod", serviceName="web", desiredStatus="STOPPED")["taskArns"]
    reasons = {t["stoppedReason"] for t in ecs.describe_tasks(cluster="prod", tasks=stopped[:100])["tasks"]}
    check("Essential container in task exited" in reasons, "stop reasons: %r" % reasons)


def test_health_check_failure_without_breaker_keeps_trying(ctx):
    sim, ecs = world(ctx, breaker=False, rollback=False)
    bad = sim.push("team/web", "prod", seed="sick")
    sim.bad_digest(bad, mode="health")
    ecs.update_service(cluster="prod", service="web", taskDefinition=register(ecs, REPO + "@" + bad))
    s = wait_for(lambda: (lambda x: x if x["deployments"][0]["failedTasks"] >= 4 else None)(service(ecs)), 20,
                 "failed tasks to pile up")
    check_eq(s["deployments"][0]["rolloutState"], "IN_PROGRESS", "no breaker: still IN_PROGRESS")
    check_eq(s["runningCount"] >= 2, True, "old tasks keep serving")
    check(any("failed container health checks" in e["message"] for e in s["events"]), "health-check events")


def test_breaker_without_rollback_stays_failed(ctx):
    sim, ecs = world(ctx, rollback=False)
    bad = sim.push("team/web", "prod", seed="bad2")
    sim.bad_digest(bad)
    arn = register(ecs, REPO + "@" + bad)
    ecs.update_service(cluster="prod", service="web", taskDefinition=arn)
    wait_for(lambda: service(ecs)["deployments"][0]["rolloutState"] == "FAILED", 20, "FAILED")
    s = service(ecs)
    check_eq((s["taskDefinition"], [d["status"] for d in s["deployments"]]), (arn, ["PRIMARY", "ACTIVE"]),
             "no rollback: ours stays PRIMARY and FAILED, the old one keeps serving")
    check_eq(s["runningCount"], 2, "old tasks still running")


def test_tag_resolved_at_deployment_start(ctx):
    sim, ecs = world(ctx)
    first = ecs.describe_tasks(cluster="prod", tasks=ecs.list_tasks(cluster="prod")["taskArns"])["tasks"]
    d1 = {c["imageDigest"] for t in first for c in t["containers"] if c["name"] == "app"}
    sim.control("POST", "/settings", {"task_start_seconds": 1.0})
    d2 = sim.push("team/web", "prod", seed="two")
    # The service runs repo:prod; a push alone changes nothing.
    check_eq(len(service(ecs)["deployments"]), 1, "a push alone starts no deployment")
    ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)
    d3 = sim.push("team/web", "prod", seed="three")  # during the rollout
    wait_for(settled(ecs), 20, "forced deployment to complete")
    tasks = ecs.describe_tasks(cluster="prod", tasks=ecs.list_tasks(cluster="prod")["taskArns"])["tasks"]
    now = {c["imageDigest"] for t in tasks for c in t["containers"] if c["name"] == "app"}
    check(d1 != {d2}, "different digests")
    check_eq(now, {d2}, "tasks run the digest the tag had when the deployment started, not %s" % d3)


def test_unable_to_place(ctx):
    sim = Sim(ctx, seed={
        "clusters": [{"name": "small", "capacity": 1}],
        "task_definitions": [{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1"}]}],
    })
    ecs = sim.client("ecs")
    ecs.create_service(cluster="small", serviceName="web", taskDefinition="web", desiredCount=3)
    s = wait_for(lambda: (lambda x: x if any("unable to place a task" in e["message"] for e in x["events"])
                          else None)(ecs.describe_services(cluster="small", services=["web"])["services"][0]),
                 10, "an unable-to-place event")
    check(s["runningCount"] + s["pendingCount"] <= 1, "no more tasks than capacity")


def test_missing_tasks_and_list_paging(ctx):
    sim, ecs = world(ctx, desired=3)
    out = ecs.describe_tasks(cluster="prod", tasks=["arn:aws:ecs:us-east-1:123456789012:task/prod/" + "0" * 32])
    check_eq(out["failures"][0]["reason"], "MISSING", "missing task")
    page = ecs.list_tasks(cluster="prod", maxResults=2)
    rest = ecs.list_tasks(cluster="prod", maxResults=2, nextToken=page["nextToken"])
    check_eq(len(page["taskArns"]) + len(rest["taskArns"]), 3, "paging")


def test_cluster_and_listing_calls(ctx):
    sim, ecs = world(ctx)
    check_eq(ecs.list_clusters()["clusterArns"], ["arn:aws:ecs:us-east-1:123456789012:cluster/prod"], "clusters")
    out = ecs.describe_clusters(clusters=["prod", "nope"])
    check_eq((out["clusters"][0]["runningTasksCount"], out["clusters"][0]["activeServicesCount"]), (2, 1), "counts")
    check_eq(out["failures"][0]["reason"], "MISSING", "missing cluster")
    register(ecs, REPO + ":x")
    check_eq(ecs.list_task_definitions(familyPrefix="web", sort="DESC")["taskDefinitionArns"][0][-5:], "web:2",
             "newest first")
    check_eq(ecs.list_services(cluster="prod")["serviceArns"],
             ["arn:aws:ecs:us-east-1:123456789012:service/prod/web"], "services")


def test_time_acceleration(ctx):
    sim, ecs = world(ctx)
    sim.settings(task_start_seconds=20, time_acceleration=40)
    ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)
    t0 = time.monotonic()
    wait_for(settled(ecs), 10, "a rollout of 20 s task starts at 40x")
    took = time.monotonic() - t0
    check(took < 5, "20 simulated seconds pass in about half a second (%.2fs)" % took)
