# SPDX-License-Identifier: MIT
"""awssim CodeDeploy blue/green for ECS, through boto3: task sets, lifecycle events, traffic shifting
configs, Ready waits, stops, automatic rollbacks as real deployments, injected failures, discovery,
targets, paging, limits and policy."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq, wait_for  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/0123456789abcdef"
USER = "arn:aws:iam::123456789012:user/awssim"
END = ("Succeeded", "Failed", "Stopped")
CD_REVISION_ACTIONS = ("codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision")


def world(ctx, rollback=True, config=None, ready=None, bake=0, step=0.1, minute=0.1, **settings):
    """A CODE_DEPLOY service "web" (2 tasks, behind a load balancer: container app, port 8080) and its
    application web-app / group web-dg. ready: the group's deploymentReadyOption; bake: its
    terminationWaitTimeInMinutes."""
    group = {"deploymentGroupName": "web-dg", "serviceRoleArn": "arn:aws:iam::123456789012:role/cd",
             "ecsServices": [{"serviceName": "web", "clusterName": "prod"}],
             "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
             "autoRollbackConfiguration": {"enabled": rollback, "events": ["DEPLOYMENT_FAILURE"]},
             "blueGreenDeploymentConfiguration": {
                 "deploymentReadyOption": ready or {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                 "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE",
                                                               "terminationWaitTimeInMinutes": bake}}}
    if config:
        group["deploymentConfigName"] = config
    sim = Sim(ctx, seed={
        "settings": dict({"task_start_seconds": 0.2, "codedeploy_step_seconds": step,
                          "codedeploy_minute_seconds": minute}, **settings),
        "repositories": [{"name": "web", "images": [{"tag": "v1", "seed": "1"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": REPO + ":v1", "portMappings": [{"containerPort": 8080}]}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2,
                      "deploymentController": {"type": "CODE_DEPLOY"}, "launchType": "FARGATE",
                      "platformVersion": "1.4.0",
                      "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"],
                                                                       "assignPublicIp": "DISABLED"}},
                      "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}]}],
        "codedeploy": {"applications": [{"name": "web-app", "deployment_groups": [group]}]},
    })
    return sim, sim.client("ecs"), sim.client("codedeploy")


def appspec(td_arn, container="app", port=8080, **props):
    p = {"TaskDefinition": td_arn, "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port}}
    p.update(props)
    return json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service",
                                                                          "Properties": p}}]})


def new_revision(sim, ecs, seed, bad=False):
    d = sim.push("web", "v2-" + seed, seed=seed)
    if bad:
        sim.bad_digest(d)
    return ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + d, "portMappings": [{"containerPort": 8080}]}])[
        "taskDefinition"]["taskDefinitionArn"]


def deploy(cd, td, **kw):
    return cd.create_deployment(applicationName="web-app", deploymentGroupName="web-dg", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(td)}}, **kw)["deploymentId"]


def info(cd, dep_id):
    return cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]


def status_of(cd, dep_id, *wanted):
    def cond():
        i = info(cd, dep_id)
        return i if i["status"] in wanted else None
    return cond


def target(cd, dep_id):
    return cd.batch_get_deployment_targets(deploymentId=dep_id, targetIds=["prod:web"])[
        "deploymentTargets"][0]["ecsTarget"]


def service(ecs):
    return ecs.describe_services(cluster="prod", services=["web"])["services"][0]


def weights(cd, dep_id):
    """{label: trafficWeight} of the deployment's task sets."""
    return {ts["taskSetLabel"]: ts["trafficWeight"] for ts in target(cd, dep_id)["taskSetsInfo"]}


def events_of(cd, dep_id):
    return {e["lifecycleEventName"]: e for e in target(cd, dep_id)["lifecycleEvents"]}


def test_blue_green_succeeds_with_task_sets(ctx):
    sim, ecs, cd = world(ctx)
    svc = service(ecs)
    check_eq((svc["deploymentController"]["type"], svc["deployments"]), ("CODE_DEPLOY", []),
             "a CODE_DEPLOY service lists task sets, not deployments")
    check("currentServiceDeployment" not in svc, "no service deployment either")
    (ts,) = svc["taskSets"]
    check_eq((ts["status"], ts["taskDefinition"], ts["runningCount"], ts["computedDesiredCount"]),
             ("PRIMARY", svc["taskDefinition"], 2, 2), "one PRIMARY task set")
    check_eq((ts["launchType"], ts["platformVersion"], ts["scale"], ts["stabilityStatus"]),
             ("FARGATE", "1.4.0", {"value": 100.0, "unit": "PERCENT"}, "STEADY_STATE"), "its details")
    check_eq(ts["networkConfiguration"]["awsvpcConfiguration"]["subnets"], ["subnet-1"], "network")
    check_eq(ts["loadBalancers"][0]["containerPort"], 8080, "load balancer")
    sim.seed({"queues": ["events"]})
    sim.event_rule("events", sources=["aws.ecs"])
    td = new_revision(sim, ecs, "good")
    dep = deploy(cd, td, description="ecr-deployd 0123456789abcdef sha256:x for web")
    first = info(cd, dep)
    check_eq(first["status"], "Created", "starts Created")
    check_eq(first["description"], "ecr-deployd 0123456789abcdef sha256:x for web", "description echoed")
    check("content" not in first["revision"]["appSpecContent"], "the AppSpec is not given back (null)")
    check_eq(first["creator"], "user", "creator")
    # During Install: two task sets, the replacement ACTIVE without traffic.
    wait_for(lambda: len(service(ecs)["taskSets"]) == 2, 10, "the replacement task set")
    sets = {t["status"]: t for t in service(ecs)["taskSets"]}
    check_eq(sets["ACTIVE"]["taskDefinition"], td, "the replacement runs the new revision")
    check_eq(sets["ACTIVE"]["externalId"], dep, "its externalId is the deployment")
    check_eq(service(ecs)["taskDefinition"], sets["PRIMARY"]["taskDefinition"], "still the PRIMARY's revision")
    done = wait_for(status_of(cd, dep, *END), 20, "the deployment to end")
    check_eq(done["status"], "Succeeded", "status")
    check("completeTime" in done and "startTime" in done, "times")
    check_eq(done["deploymentOverview"]["Succeeded"], 1, "overview")
    svc = service(ecs)
    check_eq([(t["status"], t["taskDefinition"]) for t in svc["taskSets"]], [("PRIMARY", td)], "one task set")
    check_eq(svc["taskDefinition"], td, "the service runs the new revision")
    check_eq([e["status"] for e in target(cd, dep)["lifecycleEvents"]], ["Succeeded"] * 8, "every event")
    wait_for(lambda: service(ecs)["runningCount"] == 2, 10, "the original tasks drained")
    check_eq(sim.queue_messages("events"), [], "no ECS deployment events for a CODE_DEPLOY service")
    code, _, _, _ = aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="nope",
                              revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(td)}})
    check_eq(code, "DeploymentGroupDoesNotExistException", "unknown group")


def test_each_traffic_config_shifts_as_it_says(ctx):
    sim, ecs, cd = world(ctx, step=0.05, minute=0.04)
    # config -> (the replacement's weights it may show, those it must be seen at)
    linear = {float(w) for w in range(0, 101, 10)}
    for config, allowed, seen in (
            ("CodeDeployDefault.ECSAllAtOnce", {0.0, 100.0}, {100.0}),
            ("CodeDeployDefault.ECSLinear10PercentEvery1Minutes", linear, {100.0}),
            ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", linear, {100.0}),
            ("CodeDeployDefault.ECSCanary10Percent5Minutes", {0.0, 10.0, 100.0}, {10.0, 100.0}),
            ("CodeDeployDefault.ECSCanary10Percent15Minutes", {0.0, 10.0, 100.0}, {10.0, 100.0})):
        td = new_revision(sim, ecs, config)
        dep = deploy(cd, td, deploymentConfigName=config)
        got = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20:
            t = target(cd, dep)
            w = {ts["taskSetLabel"]: ts["trafficWeight"] for ts in t["taskSetsInfo"]}
            if "Green" in w:
                got.add(w["Green"])
                check_eq(w["Green"] + w.get("Blue", 0.0), 100.0, "%s: the weights add up" % config)
            if t["status"] in ("Succeeded", "Failed"):
                break
        check_eq(info(cd, dep)["status"], "Succeeded", config)
        check_eq(info(cd, dep)["deploymentConfigName"], config, "the config named")
        check(seen <= got <= allowed, "%s: weights %s seen, wanted %s of %s" % (
            config, sorted(got), sorted(seen), sorted(allowed)))
        if "Linear" in config:
            check(len(got - {0.0, 100.0}) >= 3, "%s: steps of 10 seen: %s" % (config, sorted(got)))
    code, _, _, _ = aws_error(deploy, cd, td, deploymentConfigName="CodeDeployDefault.Nope")
    check_eq(code, "DeploymentConfigDoesNotExistException", "an unknown config")


def test_ready_wait_continued(ctx):
    sim, ecs, cd = world(ctx, ready={"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 600})
    dep = deploy(cd, new_revision(sim, ecs, "r"))
    code, _, _, _ = aws_error(cd.continue_deployment, deploymentId=dep, deploymentWaitType="READY_WAIT")
    check_eq(code, "DeploymentIsNotInReadyStateException", "continue before Ready")
    ready = wait_for(status_of(cd, dep, "Ready", *END), 20, "Ready")
    check_eq(ready["status"], "Ready", "waits for traffic to be rerouted")
    check_eq(ready["deploymentOverview"]["Ready"], 1, "overview Ready")
    ev = events_of(cd, dep)
    check_eq((ev["AfterAllowTestTraffic"]["status"], ev["BeforeAllowTraffic"]["status"]), ("Succeeded", "Pending"),
             "test traffic done, production not yet")
    check_eq(weights(cd, dep), {"Blue": 100.0, "Green": 0.0}, "no production traffic on the replacement")
    check_eq(target(cd, dep)["status"], "Ready", "the target is Ready")
    time.sleep(0.5)
    check_eq(info(cd, dep)["status"], "Ready", "still Ready")
    cd.continue_deployment(deploymentId=dep, deploymentWaitType="READY_WAIT")
    check_eq(wait_for(status_of(cd, dep, *END), 20, "the end")["status"], "Succeeded", "continued to success")


def test_ready_wait_times_out(ctx):
    sim, ecs, cd = world(ctx, ready={"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 3})
    before = service(ecs)["taskDefinition"]
    dep = deploy(cd, new_revision(sim, ecs, "t"))
    wait_for(status_of(cd, dep, "Ready", *END), 20, "Ready")
    done = wait_for(status_of(cd, dep, *END), 10, "the timeout")
    check_eq((done["status"], done["errorInformation"]["code"]), ("Stopped", "TIMEOUT"), "stopped by the timeout")
    rb = wait_for(lambda: info(cd, dep).get("rollbackInfo"), 10, "the rollback")["rollbackDeploymentId"]
    check_eq(wait_for(status_of(cd, rb, *END), 10, "the rollback's end")["status"], "Succeeded", "rolled back")
    check_eq([(t["status"], t["taskDefinition"]) for t in service(ecs)["taskSets"]], [("PRIMARY", before)],
             "the original task set alone")


def test_stop_with_and_without_rollback(ctx):
    sim, ecs, cd = world(ctx, rollback=False, ready={"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 60})
    before = service(ecs)["taskDefinition"]
    dep = deploy(cd, new_revision(sim, ecs, "s1"))
    code, _, _, _ = aws_error(deploy, cd, "web:1")
    check_eq(code, "DeploymentLimitExceededException", "one deployment at a time per group")
    wait_for(status_of(cd, dep, "Ready"), 20, "Ready")
    out = cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=False)
    check_eq(out["status"], "Succeeded", "stopped at once")
    i = info(cd, dep)
    check_eq((i["status"], i["errorInformation"]["code"]), ("Stopped", "MANUAL_STOP"), "stopped")
    check("rollbackInfo" not in i, "no rollback")
    check_eq([(t["status"], t["taskDefinition"]) for t in service(ecs)["taskSets"]], [("PRIMARY", before)],
             "the replacement removed")
    code, _, _, _ = aws_error(cd.stop_deployment, deploymentId=dep)
    check_eq(code, "DeploymentAlreadyCompletedException", "stop twice")
    # With a rollback: a rollback deployment, real, that ends Succeeded.
    dep2 = deploy(cd, new_revision(sim, ecs, "s2"))
    wait_for(status_of(cd, dep2, "Ready"), 20, "Ready again")
    out = cd.stop_deployment(deploymentId=dep2, autoRollbackEnabled=True)
    check_eq(out["status"], "Pending", "a rollback follows")
    rb = info(cd, dep2)["rollbackInfo"]["rollbackDeploymentId"]
    r = info(cd, rb)
    check_eq((r["creator"], r["rollbackInfo"]["rollbackTriggeringDeploymentId"]), ("codeDeployRollback", dep2),
             "the rollback names what it rolls back")
    check_eq(wait_for(status_of(cd, rb, *END), 10, "the rollback's end")["status"], "Succeeded", "rolled back")
    check_eq([(t["status"], t["taskDefinition"]) for t in service(ecs)["taskSets"]], [("PRIMARY", before)],
             "the original task set alone, with all traffic")
    check_eq(weights(cd, rb), {"Blue": 100.0, "Green": 0.0}, "the rollback's target: traffic on the original")


def test_automatic_rollback_is_a_real_deployment(ctx):
    sim, ecs, cd = world(ctx, codedeploy_rollback_delay=0.5)
    before = service(ecs)["taskDefinition"]
    dep = deploy(cd, new_revision(sim, ecs, "bad", bad=True))
    done = wait_for(status_of(cd, dep, *END), 30, "the deployment to end")
    check_eq((done["status"], done["errorInformation"]["code"]), ("Failed", "HEALTH_CONSTRAINTS"), "failed")
    check("rollbackInfo" not in done, "rollbackInfo only after codedeploy_rollback_delay")
    code, _, _, _ = aws_error(deploy, cd, "web:1")
    check_eq(code, "DeploymentLimitExceededException", "a rollback to come blocks the group")
    ev = events_of(cd, dep)
    check_eq(ev["Install"]["status"], "Failed", "Install failed")
    check("failed" in ev["Install"]["diagnostics"]["message"], "diagnostics: %r" % ev["Install"]["diagnostics"])
    rb = wait_for(lambda: info(cd, dep).get("rollbackInfo"), 10, "rollbackInfo")["rollbackDeploymentId"]
    r = info(cd, rb)
    check_eq((r["creator"], r["rollbackInfo"]["rollbackTriggeringDeploymentId"], r["applicationName"],
              r["deploymentGroupName"]), ("codeDeployRollback", dep, "web-app", "web-dg"), "the rollback deployment")
    check_eq(wait_for(status_of(cd, rb, *END), 10, "the rollback")["status"], "Succeeded", "rollback succeeded")
    svc = service(ecs)
    check_eq([(t["status"], t["taskDefinition"]) for t in svc["taskSets"]], [("PRIMARY", before)], "original")
    check_eq(svc["taskDefinition"], before, "still on the original revision")
    listed = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg")["deployments"]
    check_eq(listed, [rb, dep], "both listed, newest first")


def test_failure_at_a_lifecycle_event(ctx):
    sim, ecs, cd = world(ctx, rollback=False)
    sim.control("POST", "/codedeploy-fail", {"application": "web-app", "deployment_group": "web-dg",
                                             "lifecycle_event": "AfterAllowTestTraffic", "message": "smoke test 503"})
    sim.control("POST", "/codedeploy-fail", {"application": "nope", "deployment_group": "web-dg",
                                             "lifecycle_event": "Install"}, expect=400)
    sim.control("POST", "/codedeploy-fail", {"application": "web-app", "deployment_group": "web-dg",
                                             "lifecycle_event": "Later"}, expect=400)
    content = json.dumps({"version": 0.0, "Resources": json.loads(appspec(new_revision(sim, ecs, "f")))["Resources"],
                          "Hooks": [{"AfterAllowTestTraffic": "arn:aws:lambda:us-east-1:123456789012:function:smoke"}]})
    dep = cd.create_deployment(applicationName="web-app", deploymentGroupName="web-dg", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": content}})["deploymentId"]
    done = wait_for(status_of(cd, dep, *END), 20, "the deployment to end")
    check_eq((done["status"], done["errorInformation"]["code"]), ("Failed", "HOOK_EXECUTION_FAILURE"), "failed")
    check_eq(done["errorInformation"]["message"], "smoke test 503", "the message")
    ev = events_of(cd, dep)
    d = ev["AfterAllowTestTraffic"]
    check_eq((d["status"], d["diagnostics"]["errorCode"], d["diagnostics"]["scriptName"], d["diagnostics"]["message"]),
             ("Failed", "ScriptFailed", "arn:aws:lambda:us-east-1:123456789012:function:smoke", "smoke test 503"),
             "the event's diagnostics")
    check("smoke test 503" in d["diagnostics"]["logTail"], "logTail")
    check_eq((ev["AllowTestTraffic"]["status"], ev["BeforeAllowTraffic"]["status"]), ("Succeeded", "Skipped"),
             "before and after")
    check("rollbackInfo" not in done, "no rollback configured")
    check_eq(len(service(ecs)["taskSets"]), 1, "the replacement removed")
    # count 1: the next one succeeds; Install fails with ECS_UPDATE_ERROR.
    dep = deploy(cd, new_revision(sim, ecs, "g"))
    check_eq(wait_for(status_of(cd, dep, *END), 20, "the next")["status"], "Succeeded", "only the next one failed")
    sim.control("POST", "/codedeploy-fail", {"application": "web-app", "deployment_group": "web-dg",
                                             "lifecycle_event": "Install", "count": 1})
    dep = deploy(cd, new_revision(sim, ecs, "h"))
    done = wait_for(status_of(cd, dep, *END), 20, "the Install failure")
    check_eq(done["errorInformation"]["code"], "ECS_UPDATE_ERROR", "Install's code")
    check_eq(events_of(cd, dep)["Install"]["diagnostics"]["errorCode"], "ScriptFailed", "Install's diagnostics")


def test_discovery_and_paging(ctx):
    sim, ecs, cd = world(ctx, codedeploy_page_size=1)
    for n in ("api", "worker"):
        ecs.create_service(cluster="prod", serviceName=n, taskDefinition="web:1", desiredCount=1,
                           deploymentController={"type": "CODE_DEPLOY"})
    cd.create_application(applicationName="api-app", computePlatform="ECS")
    for g, s in (("api-dg", "api"), ("worker-dg", "worker")):
        cd.create_deployment_group(applicationName="api-app", deploymentGroupName=g,
                                   serviceRoleArn="arn:aws:iam::123456789012:role/cd",
                                   ecsServices=[{"serviceName": s, "clusterName": "prod"}],
                                   deploymentConfigName="CodeDeployDefault.ECSCanary10Percent5Minutes")

    def all_pages(fn, key, **kw):
        out, token, pages = [], None, 0
        while True:
            page = fn(**dict(kw, nextToken=token)) if token else fn(**kw)
            out += page[key]
            pages += 1
            token = page.get("nextToken")
            if not token:
                return out, pages
    check_eq(all_pages(cd.list_applications, "applications"), (["api-app", "web-app"], 2), "applications, paged")
    check_eq(all_pages(cd.list_deployment_groups, "deploymentGroups", applicationName="api-app"),
             (["api-dg", "worker-dg"], 2), "groups, paged")
    check_eq(cd.list_deployment_groups(applicationName="web-app")["applicationName"], "web-app", "applicationName")
    code, _, _, _ = aws_error(cd.list_applications, nextToken="garbage")
    check_eq(code, "InvalidNextTokenException", "a bad token")
    got = cd.batch_get_deployment_groups(applicationName="api-app", deploymentGroupNames=["api-dg", "worker-dg", "x"])
    check_eq([(g["deploymentGroupName"], g["ecsServices"], g["computePlatform"], g["deploymentConfigName"])
              for g in got["deploymentGroupsInfo"]],
             [("api-dg", [{"serviceName": "api", "clusterName": "prod"}], "ECS",
               "CodeDeployDefault.ECSCanary10Percent5Minutes"),
              ("worker-dg", [{"serviceName": "worker", "clusterName": "prod"}], "ECS",
               "CodeDeployDefault.ECSCanary10Percent5Minutes")], "the groups")
    check("x" in got["errorMessage"], "errorMessage names the missing group: %s" % got["errorMessage"])
    g = cd.get_deployment_group(applicationName="web-app", deploymentGroupName="web-dg")["deploymentGroupInfo"]
    check_eq((g["deploymentConfigName"], g["autoRollbackConfiguration"]["events"],
              g["blueGreenDeploymentConfiguration"]["deploymentReadyOption"]["actionOnTimeout"]),
             ("CodeDeployDefault.ECSAllAtOnce", ["DEPLOYMENT_FAILURE"], "CONTINUE_DEPLOYMENT"), "the seeded group")
    code, _, _, _ = aws_error(cd.batch_get_deployment_groups, applicationName="api-app",
                              deploymentGroupNames=["g%d" % i for i in range(101)])
    check_eq(code, "BatchLimitExceededException", "over 100 groups")
    code, _, _, _ = aws_error(cd.list_deployment_groups, applicationName="nope")
    check_eq(code, "ApplicationDoesNotExistException", "unknown application")
    # Targets page too, and filter by status.
    dep = deploy(cd, new_revision(sim, ecs, "p"))
    check_eq(cd.list_deployment_targets(deploymentId=dep)["targetIds"], ["prod:web"], "the ECS target id")
    check_eq(cd.list_deployment_targets(deploymentId=dep, targetFilters={"TargetStatus": ["Succeeded"]})["targetIds"],
             [], "filtered out")
    wait_for(status_of(cd, dep, *END), 20, "the end")
    # A group that was deployed shows its last deployments.
    g = cd.get_deployment_group(applicationName="web-app", deploymentGroupName="web-dg")["deploymentGroupInfo"]
    check_eq((g["lastAttemptedDeployment"]["deploymentId"], g["lastSuccessfulDeployment"]["status"]),
             (dep, "Succeeded"), "last deployments")


def test_batch_get_deployments_and_list_time_range(ctx):
    sim, ecs, cd = world(ctx, rollback=False, codedeploy_page_size=2)
    ids = []
    for n in range(3):
        ids.append(deploy(cd, new_revision(sim, ecs, "b%d" % n)))
        cd.stop_deployment(deploymentId=ids[-1])  # ended at once: the next may be made
        if n == 0:
            # boto3 sends timestamps in whole seconds: the next whole second parts the deployments.
            middle = int(time.time()) + 1
            time.sleep(middle - time.time() + 0.05)
    got = cd.batch_get_deployments(deploymentIds=ids + ["d-NOTHERE00"])["deploymentsInfo"]
    check_eq(sorted(i["deploymentId"] for i in got), sorted(ids), "known ones only")
    code, _, _, _ = aws_error(cd.batch_get_deployments, deploymentIds=["d-%08d" % i for i in range(26)])
    check_eq(code, "BatchLimitExceededException", "over 25 ids")
    check_eq(len(cd.batch_get_deployments(deploymentIds=ids * 8 + ids[:1])["deploymentsInfo"]), 25, "25 is fine")
    page = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg")
    check_eq(page["deployments"], ids[::-1][:2], "newest first, a page of 2")
    rest = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg", nextToken=page["nextToken"])
    check_eq((rest["deployments"], "nextToken" in rest), ([ids[0]], False), "the last page")
    after = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg",
                                createTimeRange={"start": middle})["deployments"]
    check_eq(after, ids[:0:-1], "created after the start")
    before = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg",
                                 createTimeRange={"end": middle})["deployments"]
    check_eq(before, ids[:1], "created before the end")
    check_eq(cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg",
                                 includeOnlyStatuses=["Succeeded", "Failed"])["deployments"], [], "by status")
    check_eq(cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg",
                                 includeOnlyStatuses=["Stopped"])["deployments"], ids[::-1][:2], "by status, paged")
    code, _, _, _ = aws_error(cd.list_deployments, applicationName="web-app", deploymentGroupName="web-dg",
                              createTimeRange={"start": middle, "end": middle - 10})
    check_eq(code, "InvalidTimeRangeException", "start after end")
    code, _, _, _ = aws_error(cd.list_deployments, applicationName="web-app", deploymentGroupName="web-dg",
                              nextToken=cd.list_deployments(includeOnlyStatuses=["Stopped"])["nextToken"])
    check_eq(code, "InvalidNextTokenException", "a token of another listing")
    check_eq(aws_error(cd.list_deployments, applicationName="web-app")[0], "DeploymentGroupNameRequiredException",
             "an application without its group")


def test_lost_create_reply_made_one_deployment(ctx):
    sim, ecs, cd = world(ctx)
    td = new_revision(sim, ecs, "lost")
    sim.fault("codedeploy.CreateDeployment", "malformed-json")
    try:
        deploy(cd, td, description="ecr-deployd feedfacefeedface x for web")
        raise AssertionError("the reply was garbled")
    except Exception as e:
        check("garbled" not in str(e), "a parse error: %s" % e)
    (dep,) = cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg")["deployments"]
    check_eq(info(cd, dep)["description"], "ecr-deployd feedfacefeedface x for web", "found by its description")
    (r,) = sim.requests(service="codedeploy", operation="CreateDeployment")
    check_eq((r["fault"], r.get("carried_out")), ("malformed-json", True), "logged as carried out")


def test_baking_and_termination_wait(ctx):
    sim, ecs, cd = world(ctx, bake=600)
    td = new_revision(sim, ecs, "bake")
    dep = deploy(cd, td)
    wait_for(status_of(cd, dep, "Baking", *END), 20, "Baking")
    check_eq(weights(cd, dep), {"Blue": 0.0, "Green": 100.0}, "all traffic on the replacement")
    check_eq(len(service(ecs)["taskSets"]), 2, "the original kept while baking")
    code, _, _, _ = aws_error(cd.continue_deployment, deploymentId=dep, deploymentWaitType="READY_WAIT")
    check_eq(code, "DeploymentIsNotInReadyStateException", "not Ready")
    cd.continue_deployment(deploymentId=dep, deploymentWaitType="TERMINATION_WAIT")
    check_eq(wait_for(status_of(cd, dep, *END), 10, "the end")["status"], "Succeeded", "ends")
    check_eq([t["taskDefinition"] for t in service(ecs)["taskSets"]], [td], "the original gone")


def test_appspec_and_controller_rules(ctx):
    sim, ecs, cd = world(ctx)
    td = new_revision(sim, ecs, "x")

    def create(content):
        return aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="web-dg",
                         revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}})
    check_eq(create("version: 0.0\nResources: []")[0], "InvalidRevisionException", "not JSON")
    check_eq(create(appspec(td, container="nope"))[0], "InvalidRevisionException", "unknown container")
    code, msg, _, _ = create(appspec(td, port=9090))
    check_eq(code, "InvalidRevisionException", "a port not the load balancer's")
    check("9090" in msg, "names the value: %s" % msg)
    check_eq(create(appspec("web:99"))[0], "InvalidRevisionException", "unknown task definition")
    check_eq(create(appspec(td, Surprise=1))[0], "InvalidRevisionException", "unknown Properties key")
    check_eq(create(appspec(td, NetworkConfiguration={"AwsvpcConfiguration": {"Subnets": "subnet-1"}}))[0],
             "InvalidRevisionException", "malformed NetworkConfiguration")
    check_eq(create(appspec(td, CapacityProviderStrategy=[{"CapacityProvider": "FARGATE", "Weight": "1"}]))[0],
             "InvalidRevisionException", "malformed CapacityProviderStrategy")
    ok = appspec(td, PlatformVersion="1.4.0", NetworkConfiguration={"AwsvpcConfiguration": {
        "Subnets": ["subnet-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}},
        CapacityProviderStrategy=[{"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1}])
    dep = cd.create_deployment(applicationName="web-app", deploymentGroupName="web-dg", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": ok}})["deploymentId"]
    check_eq(info(cd, dep)["status"], "Created", "every optional key accepted")
    code, msg, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", taskDefinition=td)
    check_eq(code, "InvalidParameterException", "UpdateService cannot change a CODE_DEPLOY service's revision")
    check("CodeDeploy" in msg, "says to use CodeDeploy")
    code, _, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", forceNewDeployment=True)
    check_eq(code, "InvalidParameterException", "nor force a new deployment")
    code, _, _, _ = aws_error(cd.get_deployment, deploymentId="d-NOTHERE00")
    check_eq(code, "DeploymentDoesNotExistException", "unknown deployment")
    code, _, _, _ = aws_error(cd.batch_get_deployment_targets, deploymentId=dep, targetIds=["prod:other"])
    check_eq(code, "DeploymentTargetDoesNotExistException", "unknown target")


def test_applications_and_groups_through_the_api(ctx):
    sim, ecs, cd = world(ctx)
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=1,
                       deploymentController={"type": "CODE_DEPLOY"})
    check(cd.create_application(applicationName="api-app", computePlatform="ECS")["applicationId"], "application")
    gid = cd.create_deployment_group(
        applicationName="api-app", deploymentGroupName="api-dg", serviceRoleArn="arn:aws:iam::123456789012:role/cd",
        ecsServices=[{"serviceName": "api", "clusterName": "prod"}],
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    check(gid["deploymentGroupId"], "deployment group")
    code, _, _, _ = aws_error(cd.create_deployment_group, applicationName="api-app", deploymentGroupName="x",
                              serviceRoleArn="arn:aws:iam::123456789012:role/cd",
                              ecsServices=[{"serviceName": "ghost", "clusterName": "prod"}])
    check_eq(code, "InvalidECSServiceException", "unknown service")
    code, _, _, _ = aws_error(cd.create_application, applicationName="api-app", computePlatform="ECS")
    check_eq(code, "ApplicationAlreadyExistsException", "duplicate application")


def test_policy_denies_a_missing_codedeploy_permission(ctx):
    sim, ecs, cd = world(ctx)
    dep = deploy(cd, new_revision(sim, ecs, "pol"))
    group = "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:web-app/web-dg"
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["codedeploy:GetDeployment", "codedeploy:ListApplications",
                                       "codedeploy:ListDeploymentGroups"], "Resource": "*"},
        {"Effect": "Allow", "Action": "codedeploy:BatchGetDeployments", "Resource": group}]}})
    check_eq(info(cd, dep)["deploymentId"], dep, "GetDeployment allowed")
    check_eq(len(cd.batch_get_deployments(deploymentIds=[dep])["deploymentsInfo"]), 1, "allowed on its group")
    cd.list_applications()
    cd.list_deployment_groups(applicationName="web-app")
    for fn, action, resource, kw in (
            (cd.stop_deployment, "codedeploy:StopDeployment", group, {"deploymentId": dep}),
            (cd.continue_deployment, "codedeploy:ContinueDeployment", group, {"deploymentId": dep}),
            (cd.create_deployment, "codedeploy:CreateDeployment", group, {
                "applicationName": "web-app", "deploymentGroupName": "web-dg",
                "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec("web:1")}}}),
            (cd.list_deployments, "codedeploy:ListDeployments", group,
             {"applicationName": "web-app", "deploymentGroupName": "web-dg"}),
            (cd.get_deployment_group, "codedeploy:GetDeploymentGroup", group,
             {"applicationName": "web-app", "deploymentGroupName": "web-dg"}),
            (cd.batch_get_deployment_groups, "codedeploy:BatchGetDeploymentGroups", group,
             {"applicationName": "web-app", "deploymentGroupNames": ["web-dg"]}),
            (cd.list_deployment_targets, "codedeploy:ListDeploymentTargets", group, {"deploymentId": dep}),
            (cd.batch_get_deployment_targets, "codedeploy:BatchGetDeploymentTargets", group,
             {"deploymentId": dep, "targetIds": ["prod:web"]})):
        code, msg, status, _ = aws_error(fn, **kw)
        check_eq((code, status), ("AccessDeniedException", 400), "%s denied" % action)
        check_eq(msg, "User: %s is not authorized to perform: %s on resource: %s because no identity-based "
                 "policy allows the %s action" % (USER, action, resource, action), "the denial")


def test_create_deployment_also_asks_for_its_config_and_its_revision(ctx):
    """CreateDeployment also needs GetDeploymentConfig on the deployment config it runs with and
    RegisterApplicationRevision or GetApplicationRevision on the application (the CodeDeploy user
    guide's permissions reference, note 1): each refusal names the action and the resource, in that
    order, and nothing is deployed until all three are allowed."""
    sim, ecs, cd = world(ctx, config="CodeDeployDefault.ECSCanary10Percent5Minutes")
    td = new_revision(sim, ecs, "asks")
    base = "arn:aws:codedeploy:us-east-1:123456789012:"
    group, app = base + "deploymentgroup:web-app/web-dg", base + "application:web-app"
    create = {"Effect": "Allow", "Action": ["codedeploy:CreateDeployment", "codedeploy:ListDeployments",
                                           "codedeploy:GetDeployment"],
              "Resource": group}

    def under(*statements):
        sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [create] + list(statements)}})

    def refused(action, resource, **kw):
        code, msg, status, _ = aws_error(deploy, cd, td, **kw)
        check_eq((code, status), ("AccessDeniedException", 400), "CreateDeployment refused for %s" % action)
        check_eq(msg, "User: %s is not authorized to perform: %s on resource: %s because no identity-based "
                 "policy allows the %s action" % (USER, action, resource, action), "the denial")

    def config(name):
        return {"Effect": "Allow", "Action": "codedeploy:GetDeploymentConfig",
                "Resource": base + "deploymentconfig:" + name}

    # The group's config, or the one the call names.
    under()
    refused("codedeploy:GetDeploymentConfig", base + "deploymentconfig:CodeDeployDefault.ECSCanary10Percent5Minutes")
    refused("codedeploy:GetDeploymentConfig", base + "deploymentconfig:CodeDeployDefault.ECSAllAtOnce",
            deploymentConfigName="CodeDeployDefault.ECSAllAtOnce")
    under(config("CodeDeployDefault.ECSCanary10Percent5Minutes"))
    refused("codedeploy:RegisterApplicationRevision", app)
    check_eq(cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg")["deployments"], [],
             "nothing deployed while refused")
    # Another application's revisions are not this one's.
    under(config("*"), {"Effect": "Allow", "Action": CD_REVISION_ACTIONS, "Resource": base + "application:api-app"})
    refused("codedeploy:RegisterApplicationRevision", app)
    # Either revision action will do.
    made = []
    for action in CD_REVISION_ACTIONS:
        under(config("*"), {"Effect": "Allow", "Action": action, "Resource": app})
        made.append(deploy(cd, td))
        wait_for(status_of(cd, made[-1], *END), 20, "deployment %s ends" % made[-1])
    check_eq(sorted(cd.list_deployments(applicationName="web-app", deploymentGroupName="web-dg")["deployments"]),
             sorted(made), "one deployment for each allowed attempt")
    # An unknown group: judged on CreateDeployment alone (it has no config), then not found.
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "codedeploy:CreateDeployment", "Resource": base + "deploymentgroup:web-app/*"}]}})
    code, _, _, _ = aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="ghost",
                              revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(td)}})
    check_eq(code, "DeploymentGroupDoesNotExistException", "an unknown group is not found")
