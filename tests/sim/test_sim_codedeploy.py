# SPDX-License-Identifier: MIT
"""awssim CodeDeploy blue/green for ECS, through boto3."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq, wait_for  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"


def world(ctx, rollback=True):
    sim = Sim(ctx, seed={
        "settings": {"task_start_seconds": 0.3, "codedeploy_step_seconds": 0.3},
        "repositories": [{"name": "web", "images": [{"tag": "v1", "seed": "1"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": REPO + ":v1", "portMappings": [{"containerPort": 8080}]}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2,
                      "deploymentController": {"type": "CODE_DEPLOY"}}],
        "codedeploy": {"applications": [{"name": "web-app", "deployment_groups": [{
            "deploymentGroupName": "web-dg", "serviceRoleArn": "arn:aws:iam::123456789012:role/cd",
            "ecsServices": [{"serviceName": "web", "clusterName": "prod"}],
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "autoRollbackConfiguration": {"enabled": rollback, "events": ["DEPLOYMENT_FAILURE"]}}]}]},
    })
    return sim, sim.client("ecs"), sim.client("codedeploy")


def appspec(td_arn, container="app", port=8080):
    return json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
        "TaskDefinition": td_arn, "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port}}}}]})


def new_revision(sim, ecs, seed, bad=False):
    d = sim.push("web", "v2-" + seed, seed=seed)
    if bad:
        sim.bad_digest(d)
    return ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + d, "portMappings": [{"containerPort": 8080}]}])[
        "taskDefinition"]["taskDefinitionArn"]


def deploy(cd, td):
    return cd.create_deployment(applicationName="web-app", deploymentGroupName="web-dg", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(td)}})["deploymentId"]


def status_of(cd, dep_id, *wanted):
    def cond():
        info = cd.get_deployment(deploymentId=dep_id)["deploymentInfo"]
        return info if info["status"] in wanted else None
    return cond


def test_blue_green_succeeds(ctx):
    sim, ecs, cd = world(ctx)
    td = new_revision(sim, ecs, "good")
    dep = deploy(cd, td)
    first = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
    check_eq(first["status"], "Created", "starts Created")
    wait_for(status_of(cd, dep, "InProgress"), 10, "InProgress")
    info = wait_for(status_of(cd, dep, "Succeeded", "Failed"), 20, "the deployment to end")
    check_eq(info["status"], "Succeeded", "status")
    check("completeTime" in info, "completeTime")
    svc = wait_for(lambda: (lambda s: s if len(s["deployments"]) == 1 else None)(
        ecs.describe_services(cluster="prod", services=["web"])["services"][0]), 10, "blue tasks drained")
    check_eq(svc["taskDefinition"], td, "the service runs the new revision")
    code, _, _, _ = aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="nope",
                              revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(td)}})
    check_eq(code, "DeploymentGroupDoesNotExistException", "unknown group")


def test_bad_revision_fails_and_rolls_back(ctx):
    sim, ecs, cd = world(ctx)
    before = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"]
    dep = deploy(cd, new_revision(sim, ecs, "bad", bad=True))
    info = wait_for(status_of(cd, dep, "Succeeded", "Failed"), 30, "the deployment to end")
    check_eq(info["status"], "Failed", "status")
    check_eq(info["errorInformation"]["code"], "HEALTH_CONSTRAINTS", "error code")
    check("rollbackDeploymentId" in info.get("rollbackInfo", {}), "rolled back: %r" % info.get("rollbackInfo"))
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq(svc["taskDefinition"], before, "still on the original revision")


def test_stop_deployment(ctx):
    sim, ecs, cd = world(ctx)
    sim.settings(task_start_seconds=30)
    dep = deploy(cd, new_revision(sim, ecs, "slow"))
    code, _, _, _ = aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="web-dg",
                              revision={"revisionType": "AppSpecContent",
                                        "appSpecContent": {"content": appspec("web:1")}})
    check_eq(code, "DeploymentLimitExceededException", "one active deployment per group")
    out = cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=True)
    check_eq(out["status"], "Succeeded", "stop accepted")
    info = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
    check_eq((info["status"], info["errorInformation"]["code"]), ("Stopped", "MANUAL_STOP"), "stopped")
    check("rollbackInfo" in info, "rolled back on request")
    code, _, _, _ = aws_error(cd.stop_deployment, deploymentId=dep)
    check_eq(code, "DeploymentAlreadyCompletedException", "stop twice")


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


def test_appspec_and_controller_rules(ctx):
    sim, ecs, cd = world(ctx)
    td = new_revision(sim, ecs, "x")

    def create(content):
        return aws_error(cd.create_deployment, applicationName="web-app", deploymentGroupName="web-dg",
                         revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}})
    check_eq(create("version: 0.0\nResources: []")[0], "InvalidRevisionException", "not JSON")
    check_eq(create(appspec(td, container="nope"))[0], "InvalidRevisionException", "unknown container")
    check_eq(create(appspec("web:99"))[0], "InvalidRevisionException", "unknown task definition")
    code, msg, _, _ = aws_error(ecs.update_service, cluster="prod", service="web", taskDefinition=td)
    check_eq(code, "InvalidParameterException", "UpdateService cannot change a CODE_DEPLOY service's revision")
    check("CodeDeploy" in msg, "says to use CodeDeploy")
    code, _, _, _ = aws_error(cd.get_deployment, deploymentId="d-NOTHERE00")
    check_eq(code, "DeploymentDoesNotExistException", "unknown deployment")
