# SPDX-License-Identifier: MIT
"""CodeDeploy blue/green for ECS: applications, deployment groups and
deployments whose AppSpec (JSON) names the new task definition.

A deployment goes Created → InProgress (the replacement tasks start in the
ECS service while the original ones keep serving) → after the traffic
shift, Succeeded (the originals drain) or, when the replacement tasks fail,
Failed, with an automatic rollback when the group or the deployment asks
for one. StopDeployment stops it (and rolls back when asked)."""

import json
import os

from .core import AwsError, digits

_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def deployment_id():
    return "d-" + "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in os.urandom(9))


def cd_error(code, message):
    return AwsError(code, message)


class Deployment:
    def __init__(self, app, group, td, created, config_name, auto_rollback, description):
        self.id = deployment_id()
        self.app = app
        self.group = group
        self.taskdef = td
        self.status = "Created"
        self.created = created
        self.started = None
        self.completed = None
        self.config_name = config_name or "CodeDeployDefault.ECSAllAtOnce"
        self.auto_rollback = auto_rollback
        self.description = description
        self.error = None
        self.rollback_info = None
        self.ecs_deployment = None
        self.ready_at = None
        self.original = None  # the ECS deployment serving before this one

    def describe(self):
        overview = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
        key = {"Created": "Pending", "Queued": "Pending", "InProgress": "InProgress", "Succeeded": "Succeeded",
               "Failed": "Failed", "Stopped": "Failed"}.get(self.status, "Pending")
        overview[key] = 1
        out = {
            "applicationName": self.app, "deploymentGroupName": self.group["name"], "deploymentId": self.id,
            "deploymentConfigName": self.config_name, "status": self.status, "createTime": self.created,
            "creator": "user", "computePlatform": "ECS", "deploymentOverview": overview,
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {}},
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        }
        if self.description:
            out["description"] = self.description
        if self.started:
            out["startTime"] = self.started
        if self.completed:
            out["completeTime"] = self.completed
        if self.error:
            out["errorInformation"] = dict(self.error)
        if self.rollback_info:
            out["rollbackInfo"] = dict(self.rollback_info)
        if self.auto_rollback is not None:
            out["autoRollbackConfiguration"] = self.auto_rollback
        return out


class CodeDeploy:
    def __init__(self, world):
        self.world = world
        self.apps = {}  # (account, region, name) -> {"name", "id", "platform", "groups": {}}
        self.deployments = {}

    def _app(self, ctx, name):
        a = self.apps.get((ctx.account, ctx.region, name))
        if a is None:
            raise cd_error("ApplicationDoesNotExistException", "No application found for name: %s" % name)
        return a

    def create_application(self, ctx, p):
        key = (ctx.account, ctx.region, p["applicationName"])
        if key in self.apps:
            raise cd_error("ApplicationAlreadyExistsException", "%s already exists" % p["applicationName"])
        app = {"name": p["applicationName"], "id": digits(8), "platform": p.get("computePlatform", "Server"),
               "groups": {}}
        self.apps[key] = app
        return {"applicationId": app["id"]}

    def create_deployment_group(self, ctx, p):
        app = self._app(ctx, p["applicationName"])
        name = p["deploymentGroupName"]
        if name in app["groups"]:
            raise cd_error("DeploymentGroupAlreadyExistsException", "%s already exists" % name)
        services = p.get("ecsServices") or []
        if app["platform"] == "ECS":
            if len(services) != 1:
                raise cd_error("InvalidECSServiceException", "An ECS deployment group needs exactly one ECS service")
            s = services[0]
            cluster = self.world.ecs.clusters.get((ctx.account, ctx.region, s.get("clusterName")))
            if cluster is None or s.get("serviceName") not in cluster.services:
                raise cd_error("InvalidECSServiceException", "The ECS service %s in cluster %s does not exist"
                               % (s.get("serviceName"), s.get("clusterName")))
            svc = cluster.services[s["serviceName"]]
            if svc.controller != "CODE_DEPLOY":
                raise cd_error("InvalidECSServiceException", "The ECS service %s does not use the CODE_DEPLOY "
                               "deployment controller" % svc.name)
        group = {"name": name, "id": digits(8), "services": services,
                 "autoRollback": p.get("autoRollbackConfiguration"), "active": None}
        app["groups"][name] = group
        return {"deploymentGroupId": group["id"]}

    def _parse_appspec(self, ctx, content, group):
        try:
            spec = json.loads(content)
        except ValueError:
            raise cd_error("InvalidRevisionException",
                           "The AppSpec content is not valid JSON (this simulator reads JSON AppSpecs only)")
        try:
            res = spec["Resources"]
            if not isinstance(res, list) or len(res) != 1:
                raise KeyError("Resources")
            (name, target), = res[0].items()
            if target.get("Type") != "AWS::ECS::Service":
                raise cd_error("InvalidRevisionException", "Resource %s must be of Type AWS::ECS::Service" % name)
            props = target["Properties"]
            td_ref = props["TaskDefinition"]
            lb = props.get("LoadBalancerInfo") or {}
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            if isinstance(e, AwsError):
                raise
            raise cd_error("InvalidRevisionException", "The AppSpec is missing %s" % e)
        try:
            td = self.world.ecs.taskdef(ctx.account, ctx.region, td_ref, active_only=True)
        except AwsError:
            raise cd_error("InvalidRevisionException", "The task definition %s in the AppSpec does not exist "
                           "or is not ACTIVE" % td_ref)
        cname = lb.get("ContainerName")
        names = [c.get("name") for c in td.body.get("containerDefinitions", [])]
        if not cname or cname not in names:
            raise cd_error("InvalidRevisionException", "LoadBalancerInfo.ContainerName '%s' is not a container "
                           "of %s" % (cname, td.arn))
        if not isinstance(lb.get("ContainerPort"), int):
            raise cd_error("InvalidRevisionException", "LoadBalancerInfo.ContainerPort must be an integer")
        return td

    def create_deployment(self, ctx, p):
        app = self._app(ctx, p["applicationName"])
        gname = p.get("deploymentGroupName")
        if not gname:
            raise cd_error("DeploymentGroupNameRequiredException", "Deployment group name is missing")
        group = app["groups"].get(gname)
        if group is None:
            raise cd_error("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s" % gname)
        rev = p.get("revision")
        if not rev:
            raise cd_error("RevisionRequiredException", "Revision is missing")
        if rev.get("revisionType") != "AppSpecContent" or not (rev.get("appSpecContent") or {}).get("content"):
            raise cd_error("InvalidRevisionException", "An ECS deployment needs revisionType AppSpecContent "
                           "with content")
        td = self._parse_appspec(ctx, rev["appSpecContent"]["content"], group)
        active = group["active"]
        if active and active.status in ("Created", "Queued", "InProgress"):
            raise cd_error("DeploymentLimitExceededException", "The Deployment Group '%s' already has an active "
                           "Deployment '%s'" % (gname, active.id))
        auto = p.get("autoRollbackConfiguration", group["autoRollback"])
        d = Deployment(app["name"], group, td, self.world.clock.sim_now(), p.get("deploymentConfigName"), auto,
                       p.get("description"))
        d.ctx = (ctx.account, ctx.region)
        self.deployments[d.id] = d
        group["active"] = d
        return {"deploymentId": d.id}

    def get_deployment(self, ctx, p):
        d = self.deployments.get(p["deploymentId"])
        if d is None:
            raise cd_error("DeploymentDoesNotExistException", "The deployment %s could not be found"
                           % p["deploymentId"])
        return {"deploymentInfo": d.describe()}

    def _service(self, d):
        s = d.group["services"][0]
        return self.world.ecs.clusters[(d.ctx[0], d.ctx[1], s["clusterName"])].services[s["serviceName"]]

    def _wants_rollback(self, d, event):
        a = d.auto_rollback
        return bool(a and a.get("enabled") and event in (a.get("events") or []))

    def _finish(self, d, status, now, error=None, rollback=False):
        svc = self._service(d)
        d.status = status
        d.completed = now
        if error:
            d.error = error
        ecs = self.world.ecs
        if d.ecs_deployment is not None and status != "Succeeded":
            # Undo: the replacement tasks go, the original deployment serves again.
            for t in list(svc.tasks.values()):
                if t.deployment_id == d.ecs_deployment.id and t.last_status != "STOPPED":
                    ecs._stop(t, now, "Deployment %s %s" % (d.id, status.lower()))
            svc.deployments = [x for x in svc.deployments if x is not d.ecs_deployment]
            sd = d.ecs_deployment.sd
            if sd is not None and sd.status in ("PENDING", "IN_PROGRESS"):
                sd.set_status("STOPPED", now, "CodeDeploy deployment %s %s." % (d.id, status.lower()))
            if svc.deployments:
                svc.deployments[0].status = "PRIMARY"
        if rollback and status != "Succeeded":
            d.rollback_info = {"rollbackDeploymentId": deployment_id(),
                               "rollbackMessage": "Deployment %s rolled back to the original task set" % d.id}
        if status == "Succeeded":
            d.ecs_deployment.hold_old = False

    def stop_deployment(self, ctx, p):
        d = self.deployments.get(p["deploymentId"])
        if d is None:
            raise cd_error("DeploymentDoesNotExistException", "The deployment %s could not be found"
                           % p["deploymentId"])
        if d.status not in ("Created", "Queued", "InProgress", "Ready"):
            raise cd_error("DeploymentAlreadyCompletedException", "The deployment %s is already completed" % d.id)
        rollback = p.get("autoRollbackEnabled")
        if rollback is None:
            rollback = self._wants_rollback(d, "DEPLOYMENT_STOP_ON_REQUEST")
        self._finish(d, "Stopped", self.world.clock.sim_now(),
                     {"code": "MANUAL_STOP", "message": "The deployment was stopped by a user"}, rollback)
        return {"status": "Succeeded", "statusMessage": "Deployment %s stopped" % d.id}

    def tick(self, now):
        step = float(self.world.settings.get("codedeploy_step_seconds", 1.0))
        ecs = self.world.ecs
        for d in self.deployments.values():
            if d.status == "Created" and now >= d.created + step:
                d.status = "InProgress"
                d.started = now
                svc = self._service(d)
                dep = ecs._new_deployment(svc, d.taskdef)
                dep.hold_old = True
                d.ecs_deployment = dep
            elif d.status == "InProgress":
                svc = self._service(d)
                dep = d.ecs_deployment
                if dep.failed_tasks >= ecs.threshold(svc, dep):
                    self._finish(d, "Failed", now, {
                        "code": "HEALTH_CONSTRAINTS",
                        "message": "The overall deployment failed because too many individual instances failed "
                                   "deployment, too few healthy instances are available for deployment, or some "
                                   "instances in your deployment group are experiencing problems."},
                        self._wants_rollback(d, "DEPLOYMENT_FAILURE"))
                    continue
                healthy = sum(1 for t in svc.tasks.values() if t.deployment_id == dep.id
                              and t.last_status == "RUNNING" and t.health == "HEALTHY")
                if healthy >= dep.desired:
                    if d.ready_at is None:
                        d.ready_at = now + step  # production traffic shift
                    elif now >= d.ready_at:
                        self._finish(d, "Succeeded", now)

    OPERATIONS = {
        "CreateApplication": create_application,
        "CreateDeploymentGroup": create_deployment_group,
        "CreateDeployment": create_deployment,
        "GetDeployment": get_deployment,
        "StopDeployment": stop_deployment,
    }
