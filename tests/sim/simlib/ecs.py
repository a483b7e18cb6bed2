# SPDX-License-Identifier: MIT
"""ECS: clusters, task definitions, services and rolling deployments that
progress over (simulated) time as ECS does them.

A deployment resolves each container's image to a digest when it starts
(versionConsistency), launches tasks within maximumPercent, stops old ones
within minimumHealthyPercent, and reaches COMPLETED at steady state. Tasks
of a digest marked bad fail (to start, or their health checks); with the
circuit breaker on, the deployment turns FAILED after the threshold and,
with rollback on, ECS rolls back to the last completed deployment.

Every deployment is also a service deployment (DescribeServiceDeployments and
friends) with a service revision; BLUE_GREEN, LINEAR and CANARY walk the
lifecycle stages (hooks, traffic weights, bake time) before they clean up."""

import copy
import math
import random
import re
import string
import uuid

from .core import AwsError, digits, hexid

IMAGE_DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
ECR_IMAGE_RE = re.compile(
    r"^(?P<acct>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<name>[^:@]+)"
    r"(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")

# Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not take.
READ_ONLY_FIELDS = ("taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
                    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt")

STOPPED_TASKS_KEPT = 200
SERVICE_DEPLOYMENTS_KEPT = 100  # per service, newest first

STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
# The lifecycle stages ECS walks through for BLUE_GREEN, LINEAR and CANARY, in order.
STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME",
          "CLEAN_UP")
IN_FLIGHT = ("PENDING", "IN_PROGRESS")
ROLLING_BACK = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
PAUSE_TIMEOUT_MINUTES = 1440  # a PAUSE hook without timeoutConfiguration (the simulator's choice)


def client_error(msg):
    return AwsError("ClientException", msg)


def invalid(msg):
    return AwsError("InvalidParameterException", msg)


class Cluster:
    def __init__(self, account, region, name, capacity=None):
        self.account, self.region, self.name = account, region, name
        self.capacity = capacity  # max tasks not STOPPED, None for unlimited
        self.services = {}
        self.tasks = {}  # arn -> Task

    @property
    def arn(self):
        return "arn:aws:ecs:%s:%s:cluster/%s" % (self.region, self.account, self.name)

    def live_tasks(self):
        return [t for t in self.tasks.values() if t.last_status != "STOPPED"]


class TaskDef:
    def __init__(self, body, tags, arn, revision, registered_at, registered_by):
        self.body = body  # what RegisterTaskDefinition received, minus tags
        self.tags = tags
        self.arn = arn
        self.revision = revision
        self.status = "ACTIVE"
        self.registered_at = registered_at
        self.registered_by = registered_by
        self.deregistered_at = None

    def describe(self):
        d = copy.deepcopy(self.body)
        d["taskDefinitionArn"] = self.arn
        d["revision"] = self.revision
        d["status"] = self.status
        d.setdefault("volumes", [])
        d.setdefault("placementConstraints", [])
        d["requiresAttributes"] = [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]
        if d.get("networkMode") == "awsvpc":
            d["requiresAttributes"].append({"name": "ecs.capability.task-eni"})
            d["compatibilities"] = ["EC2", "FARGATE"]
        else:
            d["compatibilities"] = ["EXTERNAL", "EC2"]
        d["registeredAt"] = self.registered_at
        d["registeredBy"] = self.registered_by
        if self.deregistered_at:
            d["deregisteredAt"] = self.deregistered_at
        return d


class Task:
    def __init__(self, cluster, service, deployment, taskdef, digests, created_at, start_at):
        self.arn = "arn:aws:ecs:%s:%s:task/%s/%s" % (cluster.region, cluster.account, cluster.name, hexid())
        self.cluster = cluster
        self.service = service
        self.deployment_id = deployment.id
        self.taskdef = taskdef
        self.digests = digests  # container name -> digest or None (could not resolve)
        self.created_at = created_at
        self.start_at = start_at
        self.started_at = None
        self.stopped_at = None
        self.last_status = "PENDING"
        self.desired_status = "RUNNING"
        self.health = "UNKNOWN"
        self.stopped_reason = None
        self.stop_code = None
        self.fail_at = None  # health-check failure time for a bad digest
        self.container_reason = None
        self.exit_code = None

    def describe(self):
        containers = []
        for c in self.taskdef.body.get("containerDefinitions", []):
            entry = {"containerArn": "arn:aws:ecs:%s:%s:container/%s/%s" % (
                self.cluster.region, self.cluster.account, self.cluster.name, hexid()),
                "taskArn": self.arn, "name": c.get("name"), "image": c.get("image"),
                "lastStatus": self.last_status, "healthStatus": self.health,
                "networkInterfaces": []}
            d = self.digests.get(c.get("name"))
            if d and self.last_status != "PENDING":
                entry["imageDigest"] = d
            if self.exit_code is not None:
                entry["exitCode"] = self.exit_code
            if self.container_reason:
                entry["reason"] = self.container_reason
            containers.append(entry)
        out = {
            "taskArn": self.arn, "clusterArn": self.cluster.arn, "taskDefinitionArn": self.taskdef.arn,
            "lastStatus": self.last_status, "desiredStatus": self.desired_status,
            "startedBy": self.deployment_id, "group": "service:%s" % self.service.name,
            "launchType": self.service.launch_type or "EC2", "createdAt": self.created_at,
            "healthStatus": self.health, "containers": containers, "version": 1,
            "attachments": [], "tags": [],
        }
        if self.started_at:
            out["startedAt"] = self.started_at
        if self.stopped_at:
            out["stoppedAt"] = self.stopped_at
            out["stoppedReason"] = self.stopped_reason
            out["stopCode"] = self.stop_code
        return out


class Deployment:
    def __init__(self, taskdef, digests, desired, created_at, launch_type):
        self.id = "ecs-svc/" + digits(19)
        self.taskdef = taskdef
        self.digests = digests
        self.desired = desired
        self.created_at = created_at
        self.updated_at = created_at
        self.status = "PRIMARY"
        self.rollout_state = "IN_PROGRESS"
        self.rollout_reason = "ECS deployment %s in progress." % self.id
        self.failed_tasks = 0
        self.sd_suffix = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(21))
        self.launch_type = launch_type
        self.hold_old = False  # CodeDeploy, and ECS's own blue/green: keep the old tasks until traffic shifts
        self.sd = None  # the ServiceDeployment this deployment belongs to (a rollback's: the one rolled back)
        self.revision = None  # its ServiceRevision
        self.announced = None  # the rollout state last sent as an EventBridge event (events.py)

    def describe(self, tasks):
        mine = [t for t in tasks if t.deployment_id == self.id and t.last_status != "STOPPED"]
        out = {
            "id": self.id, "status": self.status, "taskDefinition": self.taskdef.arn,
            "desiredCount": self.desired,
            "pendingCount": sum(1 for t in mine if t.last_status == "PENDING"),
            "runningCount": sum(1 for t in mine if t.last_status == "RUNNING"),
            "failedTasks": self.failed_tasks, "createdAt": self.created_at, "updatedAt": self.updated_at,
            "rolloutState": self.rollout_state, "rolloutStateReason": self.rollout_reason,
        }
        if self.launch_type:
            out["launchType"] = self.launch_type
        return out


class TaskSet:
    """A task set of a CODE_DEPLOY service: the tasks of one internal Deployment (whose id is the
    task set's), PRIMARY (serving), ACTIVE (a replacement in a CodeDeploy deployment) or DRAINING
    (removed: its tasks stop). CodeDeploy sets its production traffic weight and label."""

    def __init__(self, svc, dep, now, external_id=None, status="PRIMARY"):
        self.svc = svc
        self.dep = dep
        self.status = status
        self.external_id = external_id
        self.created_at = self.updated_at = now
        self.weight = 100.0 if status == "PRIMARY" else 0.0
        self.label = "Blue"
        self.removed = False
        lbs = svc.params.get("loadBalancers") or []
        self.target_group = _tg_name(lbs[0].get("targetGroupArn")) if lbs and lbs[0].get("targetGroupArn") else None

    @property
    def arn(self):
        c = self.svc.cluster
        return "arn:aws:ecs:%s:%s:task-set/%s/%s/%s" % (c.region, c.account, c.name, self.svc.name, self.dep.id)

    def describe(self):
        svc = self.svc
        live = [t for t in svc.tasks.values() if t.deployment_id == self.dep.id and t.last_status != "STOPPED"]
        running = sum(1 for t in live if t.last_status == "RUNNING")
        pending = sum(1 for t in live if t.last_status == "PENDING")
        desired = 0 if self.removed else self.dep.desired
        out = {"id": self.dep.id, "taskSetArn": self.arn, "serviceArn": svc.arn, "clusterArn": svc.cluster.arn,
               "status": self.status, "taskDefinition": self.dep.taskdef.arn, "computedDesiredCount": desired,
               "pendingCount": pending, "runningCount": running, "createdAt": self.created_at,
               "updatedAt": self.updated_at, "launchType": svc.launch_type or "EC2",
               "loadBalancers": copy.deepcopy(svc.params.get("loadBalancers") or []), "serviceRegistries": [],
               "scale": {"value": 0.0 if self.removed else 100.0, "unit": "PERCENT"},
               "stabilityStatus": "STEADY_STATE" if running == desired and not pending else "STABILIZING",
               "stabilityStatusAt": self.updated_at, "tags": []}
        if self.external_id:
            out["externalId"] = self.external_id
            out["startedBy"] = "CodeDeploy"
        for key in ("platformVersion", "networkConfiguration", "capacityProviderStrategy"):
            if svc.params.get(key):
                out[key] = copy.deepcopy(svc.params[key])
        if "capacityProviderStrategy" in out:
            out.pop("launchType")
        return out


def _tg_name(arn):
    if arn and ":targetgroup/" in arn:
        return arn.split(":targetgroup/", 1)[1].split("/", 1)[0]
    return arn


class Service:
    def __init__(self, cluster, name, params, created_at, created_by):
        self.cluster = cluster
        self.name = name
        self.params = params
        self.status = "ACTIVE"
        self.desired = params.get("desiredCount", 1)
        self.launch_type = params.get("launchType")
        cfg = copy.deepcopy(params.get("deploymentConfiguration") or {})
        cfg.setdefault("maximumPercent", 200)
        cfg.setdefault("minimumHealthyPercent", 100)
        cfg.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
        self.config = cfg
        self.controller = (params.get("deploymentController") or {}).get("type", "ECS")
        self.deployments = []  # PRIMARY first
        self.events = []  # newest first
        self.created_at = created_at
        self.created_by = created_by
        self.last_completed = None  # the last COMPLETED Deployment (its digests as resolved)
        self.last_no_place_event = 0
        self.tasks = {}  # arn -> Task, this service's own (cluster.tasks holds all)
        self.quirk = None   # the next UpdateService's oddity: {"mode": "lag"|"never", "seconds": n}
        self.hidden = None  # "lag": {"until": t, "deployments": [...], "current": arn} shown instead
        self.sds = []  # ServiceDeployments, newest first
        self.alarm_states = {}  # alarm name -> "ALARM" | "OK" (the /alarm control)
        self.task_sets = []  # CODE_DEPLOY: TaskSets, PRIMARY first

    @property
    def arn(self):
        c = self.cluster
        return "arn:aws:ecs:%s:%s:service/%s/%s" % (c.region, c.account, c.name, self.name)

    @property
    def primary(self):
        return self.deployments[0] if self.deployments else None


class ServiceRevision:
    """What ECS deployed: the task definition and the image digests it resolved (containerImages)."""

    def __init__(self, svc, taskdef, digests, created_at):
        c = svc.cluster
        self.arn = "arn:aws:ecs:%s:%s:service-revision/%s/%s/%s" % (c.region, c.account, c.name, svc.name,
                                                                     digits(19))
        self.svc = svc
        self.taskdef = taskdef
        self.digests = dict(digests)
        self.created_at = created_at
        self.launch_type = svc.launch_type
        self.load_balancers = copy.deepcopy(svc.params.get("loadBalancers", []))
        self.network = copy.deepcopy(svc.params.get("networkConfiguration"))

    def describe(self):
        images = []
        for cd in self.taskdef.body.get("containerDefinitions", []):
            entry = {"containerName": cd["name"], "image": cd["image"]}
            if self.digests.get(cd["name"]):  # not resolved here with versionConsistency disabled
                entry["imageDigest"] = self.digests[cd["name"]]
            images.append(entry)
        out = {"serviceRevisionArn": self.arn, "serviceArn": self.svc.arn, "clusterArn": self.svc.cluster.arn,
               "taskDefinition": self.taskdef.arn, "containerImages": images, "createdAt": self.created_at,
               "loadBalancers": copy.deepcopy(self.load_balancers)}
        if self.launch_type:
            out["launchType"] = self.launch_type
        if self.network:
            out["networkConfiguration"] = copy.deepcopy(self.network)
        return out


class ServiceDeployment:
    """One service deployment (ECS's DescribeServiceDeployments view of it): its target revision
    (the Deployment `target`), the revisions it replaces, its status, lifecycle stage, hooks,
    rollback and monitors. A rollback is part of the service deployment rolled back."""

    def __init__(self, svc, target, sources, now, visible_at):
        self.svc = svc
        self.target = target  # the Deployment (ecs-svc/...) it rolls out
        self.sources = sources  # the Deployments that ran before it
        self.config = copy.deepcopy(svc.config)
        self.strategy = self.config.get("strategy", "ROLLING")
        c = svc.cluster
        self.arn = "arn:aws:ecs:%s:%s:service-deployment/%s/%s/%s" % (c.region, c.account, c.name, svc.name,
                                                                       target.sd_suffix)
        self.status = "PENDING"  # IN_PROGRESS from the next tick
        self.status_reason = None
        self.created_at = self.started_at = self.updated_at = now
        self.finished_at = self.stopped_at = None
        self.stage = None if self.strategy == "ROLLING" else STAGES[0]
        self.stage_since = now
        self.hooks = []  # {hookId, stage, targetType, targetArn, status, expiresAt, timeoutAction}
        self.hooked_stages = set()
        self.weight = 0.0  # the target's requested production traffic weight
        self.test_weight = 0.0
        self.step_at = None  # when LINEAR / CANARY last moved production traffic
        self.rollback = None  # {reason, startedAt, serviceRevisionArn}
        self.rollback_dep = None  # the Deployment that rolls back
        self.cb_triggered = False
        self.triggered_alarms = []
        self.visible_at = visible_at  # DescribeServiceDeployments answers MISSING before this

    def set_status(self, status, now, reason=None):
        self.status = status
        self.updated_at = now
        if reason is not None:
            self.status_reason = reason
        if status in ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            self.finished_at = now
            self.hooks_end(now)
        if status == "STOPPED":
            self.stopped_at = now

    def hooks_end(self, now):
        for h in self.hooks:
            if h["status"] in ("AWAITING_ACTION", "IN_PROGRESS"):
                h["status"] = "FAILED"

    @staticmethod
    def _summary(dep, tasks):
        mine = [t for t in tasks if t.deployment_id == dep.id and t.last_status != "STOPPED"]
        return {"arn": dep.revision.arn, "requestedTaskCount": dep.desired,
                "runningTaskCount": sum(1 for t in mine if t.last_status == "RUNNING"),
                "pendingTaskCount": sum(1 for t in mine if t.last_status == "PENDING")}

    def describe(self, threshold):
        tasks = list(self.svc.tasks.values())
        target = self._summary(self.target, tasks)
        sources = [self._summary(d, tasks) for d in self.sources if d.revision is not None]
        if self.strategy != "ROLLING":
            target["requestedProductionTrafficWeight"] = float(self.weight)
            target["requestedTestTrafficWeight"] = float(self.test_weight)
            for i, src in enumerate(sources):
                src["requestedProductionTrafficWeight"] = float(100 - self.weight) if i == 0 else 0.0
                src["requestedTestTrafficWeight"] = float(100 - self.test_weight) if i == 0 else 0.0
        done = self.status not in IN_FLIGHT
        cb_cfg = self.config.get("deploymentCircuitBreaker") or {}
        if cb_cfg.get("enable"):
            cb = {"status": "TRIGGERED" if self.cb_triggered else ("MONITORING_COMPLETE" if done else "MONITORING"),
                  "failureCount": self.target.failed_tasks, "threshold": threshold}
        else:
            cb = {"status": "DISABLED"}
        al_cfg = self.config.get("alarms") or {}
        if al_cfg.get("enable"):
            alarms = {"status": "TRIGGERED" if self.triggered_alarms else (
                "MONITORING_COMPLETE" if done else "MONITORING"), "alarmNames": list(al_cfg.get("alarmNames", []))}
            if self.triggered_alarms:
                alarms["triggeredAlarmNames"] = list(self.triggered_alarms)
        else:
            alarms = {"status": "DISABLED"}
        out = {"serviceDeploymentArn": self.arn, "serviceArn": self.svc.arn, "clusterArn": self.svc.cluster.arn,
               "createdAt": self.created_at, "startedAt": self.started_at, "updatedAt": self.updated_at,
               "status": self.status, "targetServiceRevision": target, "sourceServiceRevisions": sources,
               "deploymentConfiguration": copy.deepcopy(self.config), "deploymentCircuitBreaker": cb,
               "alarms": alarms}
        if self.status_reason:
            out["statusReason"] = self.status_reason
        if self.finished_at is not None:
            out["finishedAt"] = self.finished_at
        if self.stopped_at is not None:
            out["stoppedAt"] = self.stopped_at
        if self.stage:
            out["lifecycleStage"] = self.stage
        if self.hooks:
            out["lifecycleHookDetails"] = []
            for h in self.hooks:
                d = {"hookId": h["hookId"], "targetType": h["targetType"], "status": h["status"],
                     "expiresAt": h["expiresAt"], "timeoutAction": h["timeoutAction"]}
                if h.get("targetArn"):
                    d["targetArn"] = h["targetArn"]
                out["lifecycleHookDetails"].append(d)
        if self.rollback:
            out["rollback"] = copy.deepcopy(self.rollback)
        return out

    def brief(self):
        out = {"serviceDeploymentArn": self.arn, "serviceArn": self.svc.arn, "clusterArn": self.svc.cluster.arn,
               "createdAt": self.created_at, "startedAt": self.started_at, "status": self.status,
               "targetServiceRevisionArn": self.target.revision.arn}
        if self.finished_at is not None:
            out["finishedAt"] = self.finished_at
        if self.status_reason:
            out["statusReason"] = self.status_reason
        return out


class Ecs:
    def __init__(self, world):
        self.world = world
        self.clusters = {}  # (account, region, name) -> Cluster
        self.families = {}  # (account, region, family) -> [TaskDef by revision-1]
        self.bad_digests = {}  # digest -> "exit" | "health"
        self.reply_taskdef_arns = {}  # family -> the taskDefinitionArn RegisterTaskDefinition shows
        self.sds = {}  # service deployment ARN -> ServiceDeployment
        self.revisions = {}  # service revision ARN -> ServiceRevision

    # -- lookups -----------------------------------------------------------
    @staticmethod
    def _name(ref):
        return ref.rsplit("/", 1)[-1] if ref else ref

    def _cluster(self, ctx, ref):
        name = self._name(ref) or "default"
        c = self.clusters.get((ctx.account, ctx.region, name))
        if c is None:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        return c

    def _service(self, ctx, cluster, ref):
        s = cluster.services.get(self._name(ref))
        if s is None or s.status == "INACTIVE":
            raise AwsError("ServiceNotFoundException", "Service not found.")
        return s

    def taskdef(self, account, region, ref, active_only=False):
        m = re.match(r"^(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/)?([A-Za-z0-9_-]{1,255})(?::(\d+))?$",
                     ref or "")
        if not m:
            raise client_error("Invalid revision number. Number: %s" % ref)
        revs = self.families.get((account, region, m.group(1)))
        if not revs:
            raise client_error("Unable to describe task definition.")
        if m.group(2):
            n = int(m.group(2))
            if n < 1 or n > len(revs):
                raise client_error("Unable to describe task definition.")
            td = revs[n - 1]
            if active_only and td.status != "ACTIVE":
                raise client_error("TaskDefinition is inactive")
            return td
        active = [t for t in revs if t.status == "ACTIVE"]
        if not active:
            raise client_error("No active task definition found for family %s" % m.group(1))
        return active[-1]

    # -- clusters ------------------------------------------------------------
    def create_cluster(self, ctx, p):
        name = p.get("clusterName", "default")
        key = (ctx.account, ctx.region, name)
        c = self.clusters.get(key)
        if c is None:
            c = self.clusters[key] = Cluster(ctx.account, ctx.region, name)
        return {"cluster": self._describe_cluster(c)}

    def _describe_cluster(self, c):
        live = c.live_tasks()
        return {"clusterArn": c.arn, "clusterName": c.name, "status": "ACTIVE",
                "runningTasksCount": sum(1 for t in live if t.last_status == "RUNNING"),
                "pendingTasksCount": sum(1 for t in live if t.last_status == "PENDING"),
                "activeServicesCount": sum(1 for s in c.services.values() if s.status == "ACTIVE"),
                "registeredContainerInstancesCount": 0}

    def list_clusters(self, ctx, p):
        arns = sorted(c.arn for (a, r, _), c in self.clusters.items() if (a, r) == (ctx.account, ctx.region))
        return self.world.pager.reply("clusterArns", ("ListClusters", ctx.account, ctx.region), arns, p, 100)

    def describe_clusters(self, ctx, p):
        out, failures = [], []
        for ref in p.get("clusters") or ["default"]:
            c = self.clusters.get((ctx.account, ctx.region, self._name(ref)))
            if c:
                out.append(self._describe_cluster(c))
            else:
                failures.append({"arn": ref, "reason": "MISSING"})
        return {"clusters": out, "failures": failures}

    # -- task definitions ----------------------------------------------------
    def _check_empty_strings(self, value, shape, path, errors):
        t = shape.type_name
        if t == "structure" and isinstance(value, dict):
            for k, v in value.items():
                if k not in shape.members:
                    continue
                if v == "" and k != "value":
                    errors.append("%s.%s" % (path, k) if path else k)
                self._check_empty_strings(v, shape.members[k], "%s.%s" % (path, k) if path else k, errors)
        elif t == "list" and isinstance(value, list):
            for i, v in enumerate(value):
                self._check_empty_strings(v, shape.member, "%s[%d]" % (path, i), errors)

    def register_task_definition(self, ctx, p):
        from . import model
        shape = model.service("ecs").operation_model("RegisterTaskDefinition").input_shape
        empties = []
        self._check_empty_strings(p, shape, "", empties)
        if empties:
            raise client_error("Invalid empty string value for %s" % ", ".join(empties))
        if "tags" in p and not p["tags"]:
            raise client_error("Tags can not be empty.")
        tags = p.get("tags") or []
        for t in tags:
            if t.get("key", "").lower().startswith("aws:"):
                raise invalid("Tag keys with the prefix 'aws:' are reserved")
        keys = [t.get("key") for t in tags]
        if len(keys) != len(set(keys)):
            raise invalid("Duplicate tag keys are not allowed")
        if not re.match(r"^[A-Za-z0-9_-]{1,255}$", p["family"]):
            raise client_error("Family contains invalid characters")
        if not p["containerDefinitions"]:
            raise client_error("Container list cannot be empty.")
        names = set()
        for c in p["containerDefinitions"]:
            if not c.get("name"):
                raise client_error("Container.name should not be null or empty.")
            if not c.get("image"):
                raise client_error("Container.image should not be null or empty.")
            if c["name"] in names:
                raise client_error("Duplicate container names are not allowed: %s" % c["name"])
            names.add(c["name"])
            img = c["image"]
            if "@" in img and not IMAGE_DIGEST_RE.search(img):
                raise client_error("Invalid 'image' reference '%s': a digest must be sha256: followed by "
                                   "64 lowercase hex characters" % img)
        body = {k: copy.deepcopy(v) for k, v in p.items() if k != "tags"}
        key = (ctx.account, ctx.region, p["family"])
        revs = self.families.setdefault(key, [])
        rev = len(revs) + 1
        arn = "arn:aws:ecs:%s:%s:task-definition/%s:%d" % (ctx.region, ctx.account, p["family"], rev)
        td = TaskDef(body, copy.deepcopy(tags), arn, rev, self.world.clock.sim_now(), ctx.arn)
        revs.append(td)
        out = {"taskDefinition": td.describe()}
        forced = self.reply_taskdef_arns.get(p["family"])
        if forced is not None:  # the /reply-taskdef-arn control: a hostile ARN in the reply only
            out["taskDefinition"]["taskDefinitionArn"] = forced
        if tags:
            out["tags"] = copy.deepcopy(tags)
        return out

    def describe_task_definition(self, ctx, p):
        td = self.taskdef(ctx.account, ctx.region, p["taskDefinition"])
        out = {"taskDefinition": td.describe()}
        if "TAGS" in (p.get("include") or []):
            out["tags"] = copy.deepcopy(td.tags)
        return out

    def deregister_task_definition(self, ctx, p):
        td = self.taskdef(ctx.account, ctx.region, p["taskDefinition"])
        if not re.search(r":\d+$", p["taskDefinition"]):
            raise client_error("The specified task definition identifier is invalid. Specify a valid "
                               "name or ARN with a revision.")
        td.status = "INACTIVE"
        td.deregistered_at = self.world.clock.sim_now()
        return {"taskDefinition": td.describe()}

    def list_task_definitions(self, ctx, p):
        prefix = p.get("familyPrefix")
        status = p.get("status", "ACTIVE")
        arns = [td.arn for (a, r, fam), revs in sorted(self.families.items())
                if a == ctx.account and r == ctx.region and (not prefix or fam.startswith(prefix))
                for td in revs if status == "ALL" or td.status == status]
        if p.get("sort") == "DESC":
            arns.reverse()
        return self.world.pager.reply("taskDefinitionArns",
                                      ("ListTaskDefinitions", ctx.account, ctx.region, prefix, status), arns, p, 100)

    # -- services -------------------------------------------------------------
    def resolve_image(self, image):
        """The digest ECS would pull for an image reference, or None when it
        cannot be pulled. Images outside the simulated ECR get a stable
        digest derived from the reference."""
        m = ECR_IMAGE_RE.match(image)
        if m:
            ecr = self.world.ecr
            if m.group("digest"):
                repo = ecr.repos.get((m.group("acct"), m.group("region"), m.group("name")))
                if repo is not None and m.group("digest") not in repo.images:
                    return None
                return m.group("digest")
            img = ecr.find_image(m.group("acct"), m.group("region"), m.group("name"), tag=m.group("tag") or "latest")
            return img.digest if img else None
        at = image.find("@sha256:")
        if at >= 0:
            return image[at + 1:]
        import hashlib
        return "sha256:" + hashlib.sha256(image.encode()).hexdigest()

    def _resolve_all(self, td, at_launch=False):
        out = {}
        for c in td.body.get("containerDefinitions", []):
            consistent = c.get("versionConsistency", "enabled") != "disabled"
            if at_launch == consistent:
                continue
            out[c["name"]] = self.resolve_image(c["image"])
        return out

    def add_event(self, account, region, cluster, service, message):
        """The /service-event control: an event with this message, verbatim (any string), newest."""
        c = self.clusters[(account, region, cluster)]
        svc = c.services[service]
        svc.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": self.world.clock.sim_now(), "message": message})
        del svc.events[100:]

    def _event(self, svc, message):
        svc.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": self.world.clock.sim_now(),
                              "message": "(service %s) %s" % (svc.name, message)})
        del svc.events[100:]

    def _new_deployment(self, svc, td, digests=None, rollback_of=None, revision=None):
        """A new PRIMARY deployment of td; digests (a rollback's, as resolved
        before) or the images resolved now. Unless it rolls back the service
        deployment rollback_of (to `revision`), it is a new service deployment
        with a new service revision, and stops the one in flight (superseded)."""
        now = self.world.clock.sim_now()
        d = Deployment(td, self._resolve_all(td) if digests is None else dict(digests), svc.desired, now,
                       svc.launch_type)
        before = list(svc.deployments)
        for old in svc.deployments:
            old.status = "ACTIVE"
            old.updated_at = now
        svc.deployments.insert(0, d)
        if rollback_of is not None:
            d.sd, d.sd_suffix, d.revision = rollback_of, rollback_of.target.sd_suffix, revision
            return d
        d.revision = ServiceRevision(svc, td, d.digests, now)
        self.revisions[d.revision.arn] = d.revision
        live = {t.deployment_id for t in svc.tasks.values() if t.last_status != "STOPPED"}
        for old_sd in svc.sds:
            if old_sd.status in IN_FLIGHT + ROLLING_BACK + ("STOP_REQUESTED",):
                old_sd.set_status("STOPPED", now, "Superseded by service deployment %s." % self._sd_arn(svc, d))
        sources = [x for x in before if x.id in live or x is (before[0] if before else None)]
        visible = now + float(self.world.settings.get("service_deployment_not_found_seconds") or 0)
        sd = ServiceDeployment(svc, d, sources, now, visible)
        d.sd = sd
        if sd.strategy != "ROLLING":
            d.hold_old = True
        self.sds[sd.arn] = sd
        svc.sds.insert(0, sd)
        for gone in svc.sds[SERVICE_DEPLOYMENTS_KEPT:]:
            self.sds.pop(gone.arn, None)
        del svc.sds[SERVICE_DEPLOYMENTS_KEPT:]
        return d

    def _sd_arn(self, svc, d):
        return self.service_deployment_arn(svc, d)

    def create_service(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        name = p["serviceName"]
        if name in cluster.services and cluster.services[name].status != "INACTIVE":
            raise invalid("Creation of service was not idempotent.")
        if "taskDefinition" not in p:
            raise invalid("TaskDefinition must be specified.")
        td = self.taskdef(ctx.account, ctx.region, p["taskDefinition"], active_only=True)
        svc = Service(cluster, name, copy.deepcopy(p), self.world.clock.sim_now(), ctx.arn)
        cluster.services[name] = svc
        dep = self._new_deployment(svc, td)
        if svc.controller == "CODE_DEPLOY":
            svc.task_sets = [TaskSet(svc, dep, svc.created_at)]
        return {"service": self._describe_service(svc)}

    # -- task sets (CODE_DEPLOY services) ------------------------------------------------
    @staticmethod
    def primary_task_set(svc):
        return next((ts for ts in svc.task_sets if ts.status == "PRIMARY"), None)

    def create_task_set(self, svc, td, external_id, now):
        """CodeDeploy's Install: a replacement task set (ACTIVE, no traffic) of td beside the PRIMARY one,
        which keeps its tasks. Returns (original, replacement)."""
        original = self.primary_task_set(svc)
        dep = self._new_deployment(svc, td)
        dep.hold_old = True
        ts = TaskSet(svc, dep, now, external_id, status="ACTIVE")
        if original is not None:
            original.updated_at = now
        svc.task_sets.append(ts)
        return original, ts

    def remove_task_set(self, svc, ts, now, reason):
        """The task set goes: its tasks stop; the internal deployment of the PRIMARY one leads again."""
        ts.removed, ts.status, ts.updated_at, ts.weight = True, "DRAINING", now, 0.0
        svc.task_sets = [x for x in svc.task_sets if x is not ts]
        for t in list(svc.tasks.values()):
            if t.deployment_id == ts.dep.id and t.last_status != "STOPPED":
                self._stop(t, now, reason)
        svc.deployments = [x for x in svc.deployments if x is not ts.dep]
        sd = ts.dep.sd
        if sd is not None and sd.status in IN_FLIGHT:
            sd.set_status("STOPPED", now, reason)
        primary = self.primary_task_set(svc)
        if primary is not None and primary.dep in svc.deployments:
            svc.deployments.remove(primary.dep)
            svc.deployments.insert(0, primary.dep)
        if svc.deployments:
            svc.deployments[0].status = "PRIMARY"

    def promote_task_set(self, svc, ts, original, now):
        """The end of a successful CodeDeploy deployment: ts serves alone (PRIMARY, all traffic); the
        original task set goes (its tasks drain)."""
        ts.status, ts.weight, ts.updated_at = "PRIMARY", 100.0, now
        ts.dep.hold_old = False
        if original is not None:
            original.removed, original.status, original.updated_at, original.weight = True, "DRAINING", now, 0.0
        svc.task_sets = [ts] + [x for x in svc.task_sets if x is not ts and x is not original]

    def service_deployment_arn(self, svc, d):
        c = svc.cluster
        return "arn:aws:ecs:%s:%s:service-deployment/%s/%s/%s" % (c.region, c.account, c.name, svc.name,
                                                                d.sd_suffix)

    def _describe_service(self, svc):
        tasks = list(svc.tasks.values())
        deployments = [d.describe(tasks) for d in svc.deployments]
        current = self.service_deployment_arn(svc, svc.primary) if svc.primary else None
        if svc.hidden and self.world.clock.sim_now() < svc.hidden["until"]:
            # "lag": ECS has made the deployment but does not list it yet.
            deployments = copy.deepcopy(svc.hidden["deployments"])
            current = svc.hidden["current"]
        elif svc.hidden:
            svc.hidden = None
        if not self.world.settings.get("rollout_state", True):
            for d in deployments:
                d.pop("rolloutState", None)
                d.pop("rolloutStateReason", None)
        if svc.controller == "CODE_DEPLOY":
            # Task sets instead of deployments: ECS lists no deployments of a CODE_DEPLOY service (the
            # simulator's reading of the docs: deployments are the ECS controller's), and its task
            # definition is the PRIMARY task set's.
            deployments = []
            current = None
            pts = self.primary_task_set(svc)
        primary = svc.primary
        live = [t for t in tasks if t.last_status != "STOPPED"]
        out = {
            "serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": svc.cluster.arn,
            "loadBalancers": copy.deepcopy(svc.params.get("loadBalancers", [])),
            "serviceRegistries": [], "status": svc.status, "desiredCount": svc.desired,
            "runningCount": sum(1 for t in live if t.last_status == "RUNNING"),
            "pendingCount": sum(1 for t in live if t.last_status == "PENDING"),
            "taskDefinition": deployments[0]["taskDefinition"] if deployments else (
                pts.dep.taskdef.arn if svc.controller == "CODE_DEPLOY" and pts else None),
            "deploymentConfiguration": copy.deepcopy(svc.config),
            "deployments": deployments, "events": copy.deepcopy(svc.events),
            "createdAt": svc.created_at, "placementConstraints": [], "placementStrategy": [],
            "schedulingStrategy": "REPLICA", "deploymentController": {"type": svc.controller},
            "createdBy": svc.created_by, "enableECSManagedTags": False, "propagateTags": "NONE",
            "enableExecuteCommand": False,
        }
        if svc.launch_type:
            out["launchType"] = svc.launch_type
        api = self.world.settings.get("service_deployments", True)
        if current and api:
            out["currentServiceDeployment"] = current
        if svc.controller == "CODE_DEPLOY":
            out["taskSets"] = [ts.describe() for ts in svc.task_sets]
            for key in ("platformVersion", "capacityProviderStrategy"):
                if svc.params.get(key):
                    out[key] = copy.deepcopy(svc.params[key])
        elif not svc.hidden and api:
            # The revisions the service runs (a rollback's is the one it went back to): counts summed.
            revs = {}
            for d in svc.deployments:
                if d.revision is None:
                    continue
                one = ServiceDeployment._summary(d, tasks)
                if d.revision.arn in revs:
                    for k in ("requestedTaskCount", "runningTaskCount", "pendingTaskCount"):
                        revs[d.revision.arn][k] += one[k]
                else:
                    revs[d.revision.arn] = one
            out["currentServiceRevisions"] = list(revs.values())
        if "networkConfiguration" in svc.params:
            out["networkConfiguration"] = copy.deepcopy(svc.params["networkConfiguration"])
        return out

    def describe_services(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        refs = p["services"]
        if len(refs) > 10:
            raise invalid("services can have at most 10 items.")
        out, failures = [], []
        for ref in refs:
            svc = cluster.services.get(self._name(ref))
            if svc is None:
                failures.append({"arn": "arn:aws:ecs:%s:%s:service/%s/%s" % (
                    ctx.region, ctx.account, cluster.name, self._name(ref)), "reason": "MISSING"})
            else:
                out.append(self._describe_service(svc))
        return {"services": out, "failures": failures}

    def list_services(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        arns = [s.arn for s in cluster.services.values() if s.status == "ACTIVE"]
        return self.world.pager.reply("serviceArns", ("ListServices", cluster.arn), arns, p, 10)

    def update_service(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        svc = self._service(ctx, cluster, p["service"])
        if svc.status != "ACTIVE":
            raise AwsError("ServiceNotActiveException", "Service was not ACTIVE.")
        td = None
        if "taskDefinition" in p:
            td = self.taskdef(ctx.account, ctx.region, p["taskDefinition"], active_only=True)
        if svc.controller == "CODE_DEPLOY" and td is not None and td is not svc.primary.taskdef:
            raise invalid("Unable to update task definition on services with a CODE_DEPLOY deployment "
                          "controller. Use AWS CodeDeploy to trigger a new deployment.")
        if svc.controller == "CODE_DEPLOY" and p.get("forceNewDeployment"):
            raise invalid("Cannot force a new deployment on services with a CODE_DEPLOY deployment "
                          "controller. Use AWS CodeDeploy to trigger a new deployment.")
        if svc.controller == "EXTERNAL" and ((td is not None and td is not svc.primary.taskdef)
                                            or p.get("forceNewDeployment")):
            raise invalid("Unable to update the task definition of, or force a new deployment on, a service "
                          "with an EXTERNAL deployment controller. Create a new task set instead.")
        if "deploymentConfiguration" in p:
            for k, v in p["deploymentConfiguration"].items():
                svc.config[k] = copy.deepcopy(v)
        if "desiredCount" in p:
            svc.desired = p["desiredCount"]
            if svc.primary:
                svc.primary.desired = svc.desired
        quirk, svc.quirk = svc.quirk, None
        if quirk and quirk["mode"] == "never":
            # Answered, and nothing happens: no deployment is ever made.
            return {"service": self._describe_service(svc)}
        if quirk and quirk["mode"] == "lag":
            svc.hidden = {"until": self.world.clock.sim_now() + float(quirk.get("seconds", 5)),
                          "deployments": [d.describe(list(svc.tasks.values())) for d in svc.deployments],
                          "current": self.service_deployment_arn(svc, svc.primary)}
        if p.get("forceNewDeployment") or (td is not None and td is not svc.primary.taskdef):
            self._new_deployment(svc, td or svc.primary.taskdef)
        return {"service": self._describe_service(svc)}

    def set_quirk(self, account, region, cluster, service, mode, seconds=None):
        """The next UpdateService of the service answers oddly: "lag" (the reply and
        DescribeServices show the deployments from before for `seconds`), "never" (it is answered
        and no deployment is ever made), None (normal)."""
        if mode not in ("lag", "never", None):
            raise ValueError("mode must be 'lag', 'never' or null")
        c = self.clusters[(account, region, cluster)]
        svc = c.services[service]
        svc.quirk = {"mode": mode, "seconds": seconds} if mode else None

    # -- service deployments and revisions ---------------------------------------
    def _find_sd(self, ctx, ref):
        """The visible service deployment ref names in the caller's account and region, or None."""
        sd = self.sds.get(ref)
        if sd is None or (sd.svc.cluster.account, sd.svc.cluster.region) != (ctx.account, ctx.region):
            return None
        if self.world.clock.sim_now() < sd.visible_at:
            return None  # just made: ECS does not know it yet
        return sd

    def _sd_or_error(self, ctx, ref):
        sd = self._find_sd(ctx, ref)
        if sd is None:
            raise AwsError("ServiceDeploymentNotFoundException",
                           "The service deployment %s was not found." % ref)
        return sd

    def describe_service_deployments(self, ctx, p):
        refs = p["serviceDeploymentArns"]
        if len(refs) > 20:
            raise invalid("serviceDeploymentArns can have at most 20 items.")
        out, failures = [], []
        for ref in refs:
            sd = self._find_sd(ctx, ref)
            if sd is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                out.append(sd.describe(self.threshold(sd.svc, sd.target)))
        return {"serviceDeployments": out, "failures": failures}

    def describe_service_revisions(self, ctx, p):
        refs = p["serviceRevisionArns"]
        if len(refs) > 20:
            raise invalid("serviceRevisionArns can have at most 20 items.")
        out, failures = [], []
        for ref in refs:
            rev = self.revisions.get(ref)
            if rev is None or (rev.svc.cluster.account, rev.svc.cluster.region) != (ctx.account, ctx.region):
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                out.append(rev.describe())
        return {"serviceRevisions": out, "failures": failures}

    def list_service_deployments(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        svc = self._service(ctx, cluster, p["service"])
        if p.get("maxResults") is not None and not 1 <= p["maxResults"] <= 100:
            raise invalid("maxResults must be between 1 and 100.")
        want = set(p.get("status") or [])
        created = p.get("createdAt") or {}
        now = self.world.clock.sim_now()
        sds = [sd for sd in svc.sds if now >= sd.visible_at
               and (not want or sd.status in want)
               and ("after" not in created or sd.created_at >= float(created["after"]))
               and ("before" not in created or sd.created_at <= float(created["before"]))]
        scope = ("ListServiceDeployments", svc.arn, sorted(want), created.get("after"), created.get("before"))
        return self.world.pager.reply("serviceDeployments", scope, sds, p, 20, render=lambda sd: sd.brief())

    def continue_service_deployment(self, ctx, p):
        sd = self._sd_or_error(ctx, p["serviceDeploymentArn"])
        hook = next((h for h in sd.hooks if h["hookId"] == p["hookId"]), None)
        if hook is None:
            raise invalid("The hook %s is not a lifecycle hook of service deployment %s."
                          % (p["hookId"], sd.arn))
        if hook["status"] != "AWAITING_ACTION" or sd.status != "IN_PROGRESS":
            raise AwsError("ConflictException", "The hook %s of service deployment %s is %s (deployment %s), "
                           "not AWAITING_ACTION." % (hook["hookId"], sd.arn, hook["status"], sd.status))
        now = self.world.clock.sim_now()
        sd.updated_at = now
        if p.get("action", "CONTINUE") == "ROLLBACK":
            hook["status"] = "FAILED"
            self._roll_back(sd.svc, sd, "Lifecycle hook %s at stage %s asked for a rollback."
                            % (hook["hookId"], hook["stage"]), now)
        else:
            hook["status"] = "SUCCEEDED"
        return {"serviceDeploymentArn": sd.arn}

    def stop_service_deployment(self, ctx, p):
        sd = self._sd_or_error(ctx, p["serviceDeploymentArn"])
        if sd.status not in IN_FLIGHT:
            raise AwsError("ConflictException", "The service deployment %s is %s: only a deployment in "
                           "progress can be stopped." % (sd.arn, sd.status))
        now = self.world.clock.sim_now()
        if p.get("stopType", "ROLLBACK") == "ROLLBACK":
            self._roll_back(sd.svc, sd, "Service deployment stopped by StopServiceDeployment (ROLLBACK).", now)
        else:
            t = sd.target
            if t.rollout_state == "IN_PROGRESS":
                t.rollout_state, t.rollout_reason, t.updated_at = "FAILED", "Stopped by StopServiceDeployment.", now
            sd.set_status("STOP_REQUESTED", now, "Service deployment stopped by StopServiceDeployment (ABORT).")
            sd.hooks_end(now)
        return {"serviceDeploymentArn": sd.arn}

    def set_alarm(self, account, region, cluster, service, alarm, state):
        """The /alarm control: a CloudWatch alarm of the service changes state ("ALARM" or "OK").
        A deployment in progress that monitors it rolls back (alarms.rollback) or fails."""
        if state not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
            raise ValueError("state must be 'ALARM', 'OK' or 'INSUFFICIENT_DATA'")
        if not isinstance(alarm, str) or not alarm:
            raise ValueError("alarm must be a non-empty string")
        svc = self.clusters[(account, region, cluster)].services[service]
        svc.alarm_states[alarm] = state
        sd = svc.primary.sd if svc.primary else None
        if sd is not None and sd.target is svc.primary and sd.status == "IN_PROGRESS":
            self._check_alarms(svc, sd, self.world.clock.sim_now())
        return {"serviceDeploymentArn": sd.arn if sd else None, "status": sd.status if sd else None}

    # -- tasks ------------------------------------------------------------------
    def list_tasks(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        want = p.get("desiredStatus", "RUNNING")
        tasks = [t for t in cluster.tasks.values()
                 if t.desired_status == want
                 and (not p.get("serviceName") or t.service.name == self._name(p["serviceName"]))
                 and (not p.get("startedBy") or t.deployment_id == p["startedBy"])
                 and (not p.get("family") or t.taskdef.body["family"] == p["family"])]
        arns = [t.arn for t in tasks]
        return self.world.pager.reply("taskArns",
                                      ("ListTasks", cluster.arn, p.get("serviceName"), want,
                                       p.get("startedBy"), p.get("family")),
                                      arns, p, 100)

    def describe_tasks(self, ctx, p):
        cluster = self._cluster(ctx, p.get("cluster"))
        if len(p["tasks"]) > 100:
            raise invalid("tasks can have at most 100 items.")
        out, failures = [], []
        for ref in p["tasks"]:
            t = cluster.tasks.get(ref) or next(
                (x for x in cluster.tasks.values() if x.arn.rsplit("/", 1)[-1] == ref), None)
            if t is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                out.append(t.describe())
        return {"tasks": out, "failures": failures}

    # -- time -----------------------------------------------------------------------
    def threshold(self, svc, dep):
        forced = self.world.settings.get("circuit_breaker_threshold")
        if forced:
            return int(forced)
        cb = svc.config.get("deploymentCircuitBreaker") or {}
        tc = cb.get("thresholdConfiguration")
        if tc and tc.get("type") == "COUNT":
            return max(1, int(tc.get("value", 3)))
        if tc:
            return max(1, math.ceil(dep.desired * int(tc.get("value", 50)) / 100.0))
        return min(200, max(3, math.ceil(dep.desired * 0.5)))

    def _stop(self, task, now, reason, code="ServiceSchedulerInitiated"):
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_at = now
        task.stopped_reason = reason
        task.stop_code = code

    def _launch(self, svc, dep, n, now):
        pace = float(self.world.settings.get("task_start_seconds", 1.0))
        cluster = svc.cluster
        if cluster.capacity is not None:
            room = cluster.capacity - len(cluster.live_tasks())
            if room < n:
                if now - svc.last_no_place_event >= 30:
                    self._event(svc, "was unable to place a task because no container instance met all of "
                                     "its requirements. Reason: No Container Instances were found in your "
                                     "cluster.")
                    svc.last_no_place_event = now
                n = max(0, room)
        started = []
        for _ in range(n):
            digests = dict(dep.digests)
            digests.update(self._resolve_all(dep.taskdef, at_launch=True))
            t = Task(cluster, svc, dep, dep.taskdef, digests, now, now + pace)
            cluster.tasks[t.arn] = t
            svc.tasks[t.arn] = t
            started.append(t)
        if started:
            self._event(svc, "has started %d tasks: %s." % (
                len(started), " ".join("(task %s)" % t.arn.rsplit("/", 1)[-1] for t in started)))

    def _bad_mode(self, task):
        for d in task.digests.values():
            if d is None:
                return "pull"
            if d in self.bad_digests:
                return self.bad_digests[d]
        return None

    def _advance_tasks(self, svc, now):
        pace = float(self.world.settings.get("task_start_seconds", 1.0))
        deps = {d.id: d for d in svc.deployments}
        for t in list(svc.tasks.values()):
            if t.last_status == "STOPPED":
                continue
            dep = deps.get(t.deployment_id)
            mode = self._bad_mode(t)
            if t.last_status == "PENDING" and now >= t.start_at:
                if mode == "pull":
                    t.container_reason = "CannotPullContainerError: pull image manifest has been retried 5 " \
                                         "time(s): failed to resolve ref: not found"
                    self._stop(t, now, "CannotPullContainerError: failed to resolve image", "TaskFailedToStart")
                    if dep:
                        dep.failed_tasks += 1
                elif mode == "exit":
                    t.exit_code = 1
                    t.container_reason = "Essential container in task exited"
                    t.started_at = now
                    self._stop(t, now, "Essential container in task exited", "EssentialContainerExited")
                    if dep:
                        dep.failed_tasks += 1
                else:
                    t.last_status = "RUNNING"
                    t.started_at = now
                    if mode == "health":
                        t.health = "UNKNOWN"
                        t.fail_at = now + pace
                    else:
                        t.health = "HEALTHY"
                        if dep and (svc.config.get("deploymentCircuitBreaker") or {}).get(
                                "resetOnHealthyTask", True):
                            dep.failed_tasks = 0
            elif t.last_status == "RUNNING" and t.fail_at is not None and now >= t.fail_at:
                t.health = "UNHEALTHY"
                self._event(svc, "(task %s) failed container health checks." % t.arn.rsplit("/", 1)[-1])
                self._stop(t, now, "Task failed container health checks", "TaskFailedToStart")
                if dep:
                    dep.failed_tasks += 1
        # Forget old stopped tasks beyond a bound.
        stopped = [t for t in svc.tasks.values() if t.last_status == "STOPPED"]
        for t in sorted(stopped, key=lambda x: x.stopped_at)[:-STOPPED_TASKS_KEPT]:
            del svc.cluster.tasks[t.arn]
            del svc.tasks[t.arn]

    def tick_service(self, svc, now):
        if svc.status != "ACTIVE" or not svc.deployments:
            return
        self._advance_tasks(svc, now)
        self._tick_service_deployment(svc, now)
        p = svc.primary
        tasks = [t for t in svc.tasks.values() if t.last_status != "STOPPED"]
        mine = [t for t in tasks if t.deployment_id == p.id]
        old = [t for t in tasks if t.deployment_id != p.id]
        healthy = [t for t in tasks if t.last_status == "RUNNING" and t.health == "HEALTHY"]

        # Circuit breaker.
        cb = svc.config.get("deploymentCircuitBreaker") or {}
        if p.rollout_state == "IN_PROGRESS" and cb.get("enable") and p.failed_tasks >= self.threshold(svc, p):
            p.rollout_state = "FAILED"
            p.rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
            p.updated_at = now
            self._event(svc, "(deployment %s) deployment failed: tasks failed to start." % p.id)
            sd = p.sd
            ours = sd is not None and sd.target is p and sd.status in IN_FLIGHT
            if ours:
                sd.cb_triggered = True
            if cb.get("rollback") and svc.last_completed is not None:
                last = svc.last_completed
                if ours:
                    self._roll_back(svc, sd, "ECS deployment circuit breaker: tasks failed to start.", now)
                else:
                    if sd is not None and sd.rollback_dep is p and sd.status in ROLLING_BACK:
                        sd.set_status("ROLLBACK_FAILED", now, "The rollback's own tasks failed to start.")
                    self._event(svc, "rolling back to deployment with task definition %s." % last.taskdef.arn)
                    self._new_deployment(svc, last.taskdef, last.digests, rollback_of=sd, revision=last.revision)
                svc.deployments[0].rollout_reason = "ECS deployment circuit breaker: rolling back to " \
                                                    "deploymentId %s." % last.id
            elif ours and cb.get("rollback"):
                sd.set_status("ROLLBACK_FAILED", now, "ECS deployment circuit breaker: tasks failed to start; "
                                                      "no completed deployment to roll back to.")
            elif ours:
                sd.set_status("STOPPED", now, "ECS deployment circuit breaker: tasks failed to start.")
            elif sd is not None and sd.rollback_dep is p and sd.status in ROLLING_BACK:
                sd.set_status("ROLLBACK_FAILED", now, "The rollback's own tasks failed to start.")
            return

        max_live = math.floor(svc.desired * svc.config["maximumPercent"] / 100.0)
        min_healthy = math.ceil(svc.desired * svc.config["minimumHealthyPercent"] / 100.0)

        if p.rollout_state != "FAILED" and self._may_scale_up(p):
            want = p.desired - len(mine)
            room = max_live - len(tasks)
            if (p.sd is not None and p.sd.target is p and p.sd.strategy != "ROLLING") or \
                    svc.controller == "CODE_DEPLOY":  # a CodeDeploy replacement task set: in full too
                room = len(old) + p.desired - len(tasks)  # the new revision scales up in full beside the old
            if want > 0 and room > 0:
                self._launch(svc, p, min(want, room), now)
            elif want < 0:
                for t in sorted(mine, key=lambda x: x.created_at)[:-want]:
                    self._stop(t, now, "Scaling activity initiated by (deployment %s)" % p.id)

        # Drain old tasks while enough healthy ones remain (not after a failure:
        # without a rollback ECS leaves the old tasks serving).
        if not p.hold_old and p.rollout_state != "FAILED":
            mine_healthy = sum(1 for t in mine if t.last_status == "RUNNING" and t.health == "HEALTHY")
            stoppable = len(healthy)
            stopped = []
            for t in sorted(old, key=lambda x: (x.last_status == "RUNNING", x.created_at)):
                if t.last_status != "RUNNING" or mine_healthy >= p.desired or stoppable - 1 >= min_healthy:
                    if t.last_status == "RUNNING" and t.health == "HEALTHY":
                        stoppable -= 1
                    self._stop(t, now, "Scaling activity initiated by (deployment %s)" % p.id)
                    stopped.append(t)
            if stopped:
                self._event(svc, "has stopped %d running tasks: %s." % (
                    len(stopped), " ".join("(task %s)" % t.arn.rsplit("/", 1)[-1] for t in stopped)))

        # Old deployments with no tasks left are gone; a FAILED one stays
        # listed a little while, so that a poller can see how it ended.
        live_ids = {t.deployment_id for t in svc.tasks.values() if t.last_status != "STOPPED"}
        keep = float(self.world.settings.get("failed_deployment_retention_seconds", 5.0))
        svc.deployments = [p] + [d for d in svc.deployments[1:] if d.id in live_ids or (
            d.rollout_state == "FAILED" and now - d.updated_at < keep)]

        if p.rollout_state == "IN_PROGRESS" and not any(d.id in live_ids for d in svc.deployments[1:]):
            running = sum(1 for t in svc.tasks.values() if t.deployment_id == p.id
                          and t.last_status == "RUNNING" and t.health == "HEALTHY")
            if running == p.desired:
                p.rollout_state = "COMPLETED"
                p.rollout_reason = "ECS deployment %s completed." % p.id
                p.updated_at = now
                svc.last_completed = p
                self._event(svc, "(deployment %s) deployment completed." % p.id)
                self._event(svc, "has reached a steady state.")
                sd = p.sd
                if sd is not None and sd.target is p and sd.status in IN_FLIGHT and (
                        sd.strategy == "ROLLING" or sd.stage == "CLEAN_UP"):
                    if sd.strategy != "ROLLING":
                        sd.weight = sd.test_weight = 100.0
                    sd.set_status("SUCCESSFUL", now)
                elif sd is not None and sd.rollback_dep is p and sd.status in ROLLING_BACK:
                    sd.set_status("ROLLBACK_SUCCESSFUL", now)

    # -- service deployments over time ----------------------------------------------
    def _may_scale_up(self, p):
        """Whether the PRIMARY may start tasks: ECS's own blue/green, linear and canary start the
        new revision's tasks at SCALE_UP, after the hooks of the stages before."""
        sd = p.sd
        if sd is None or sd.target is not p or sd.strategy == "ROLLING":
            return True
        return STAGES.index(sd.stage) >= STAGES.index("SCALE_UP")

    def _tick_service_deployment(self, svc, now):
        p = svc.primary
        sd = p.sd if p else None
        if sd is None:
            return
        if sd.status == "ROLLBACK_REQUESTED":
            sd.set_status("ROLLBACK_IN_PROGRESS", now)
        elif sd.status == "STOP_REQUESTED":
            sd.set_status("STOPPED", now)
        elif sd.status == "PENDING":
            sd.set_status("IN_PROGRESS", now)
        elif sd.status == "IN_PROGRESS" and sd.target is p:
            self._check_alarms(svc, sd, now)
            if sd.status == "IN_PROGRESS" and sd.strategy != "ROLLING":
                self._advance_stage(svc, sd, now)

    def _roll_back(self, svc, sd, reason, now):
        """ECS rolls the service deployment sd back to the last completed deployment (the digests it
        had resolved): a circuit breaker, an alarm, a hook, or StopServiceDeployment(ROLLBACK)."""
        p = sd.target
        last = svc.last_completed
        sd.weight = sd.test_weight = 0.0
        sd.rollback = {"reason": reason, "startedAt": now}
        if p.rollout_state == "IN_PROGRESS":
            p.rollout_state = "FAILED"
            p.rollout_reason = reason
            p.updated_at = now
            self._event(svc, "(deployment %s) deployment failed: %s" % (p.id, reason))
        if last is None or last is p:
            sd.set_status("ROLLBACK_FAILED", now, "%s No completed deployment to roll back to." % reason)
            return
        sd.rollback["serviceRevisionArn"] = last.revision.arn
        sd.set_status("ROLLBACK_REQUESTED", now, reason)
        self._event(svc, "rolling back to deployment with task definition %s." % last.taskdef.arn)
        rb = self._new_deployment(svc, last.taskdef, last.digests, rollback_of=sd, revision=last.revision)
        rb.rollout_reason = "Rolling back to deploymentId %s: %s" % (last.id, reason)
        sd.rollback_dep = rb

    def _check_alarms(self, svc, sd, now):
        cfg = sd.config.get("alarms") or {}
        if not cfg.get("enable"):
            return
        hit = [a for a in cfg.get("alarmNames", []) if svc.alarm_states.get(a) == "ALARM"
               and a not in sd.triggered_alarms]
        if not hit:
            return
        sd.triggered_alarms.extend(hit)
        reason = "CloudWatch alarm(s) in ALARM: %s." % ", ".join(sd.triggered_alarms)
        if cfg.get("rollback"):
            self._roll_back(svc, sd, reason, now)
        else:
            p = sd.target
            p.rollout_state, p.rollout_reason, p.updated_at = "FAILED", reason, now
            self._event(svc, "(deployment %s) deployment failed: %s" % (p.id, reason))
            sd.set_status("STOPPED", now, reason)

    def _run_hooks(self, svc, sd, now):
        """Starts the lifecycle hooks of sd's stage (once); True when none of them holds it any more.
        A PAUSE hook awaits ContinueServiceDeployment until it expires (then its timeout action);
        an AWS_LAMBDA hook succeeds at once (no Lambda is simulated)."""
        if sd.stage not in sd.hooked_stages:
            sd.hooked_stages.add(sd.stage)
            for h in sd.config.get("lifecycleHooks") or []:
                if sd.stage not in (h.get("lifecycleStages") or []):
                    continue
                to = h.get("timeoutConfiguration") or {}
                kind = h.get("targetType", "AWS_LAMBDA")
                sd.hooks.append({"hookId": str(uuid.uuid4()), "stage": sd.stage, "targetType": kind,
                                 "targetArn": h.get("hookTargetArn"),
                                 "status": "AWAITING_ACTION" if kind == "PAUSE" else "IN_PROGRESS",
                                 "expiresAt": now + 60 * int(to.get("timeoutInMinutes", PAUSE_TIMEOUT_MINUTES)),
                                 "timeoutAction": to.get("action", "ROLLBACK")})
                sd.updated_at = now
        for h in sd.hooks:
            if h["stage"] != sd.stage:
                continue
            if h["status"] == "IN_PROGRESS":
                h["status"] = "SUCCEEDED"
            elif h["status"] == "AWAITING_ACTION" and now >= h["expiresAt"]:
                h["status"] = "TIMED_OUT"
                sd.updated_at = now
                if h["timeoutAction"] == "ROLLBACK":
                    self._roll_back(svc, sd, "Lifecycle hook %s timed out at stage %s." % (h["hookId"], sd.stage),
                                    now)
                    return False
        return not any(h["stage"] == sd.stage and h["status"] == "AWAITING_ACTION" for h in sd.hooks)

    @staticmethod
    def _shift(sd, now):
        """PRODUCTION_TRAFFIC_SHIFT: moves the target's production traffic weight; True when at 100."""
        if sd.strategy == "BLUE_GREEN":
            sd.weight = 100.0
            return True
        lin = sd.config.get("linearConfiguration") or {}
        can = sd.config.get("canaryConfiguration") or {}
        if sd.strategy == "LINEAR":
            step, wait = float(lin.get("stepPercent", 10.0)), 60.0 * float(lin.get("stepBakeTimeInMinutes", 6))
        else:
            step, wait = float(can.get("canaryPercent", 5.0)), 60.0 * float(can.get("canaryBakeTimeInMinutes", 10))
        if sd.step_at is None:
            sd.weight, sd.step_at = min(100.0, step), now
        elif now - sd.step_at >= wait:
            sd.weight = min(100.0, sd.weight + step) if sd.strategy == "LINEAR" else 100.0
            sd.step_at = now
        else:
            return False
        sd.updated_at = now
        return sd.weight >= 100.0

    def _advance_stage(self, svc, sd, now):
        """BLUE_GREEN, LINEAR, CANARY: one lifecycle stage at most per tick, each at least
        `lifecycle_stage_seconds` long; hooks first, then the stage's work."""
        p = sd.target
        if not self._run_hooks(svc, sd, now):
            return
        if now - sd.stage_since < float(self.world.settings.get("lifecycle_stage_seconds", 1.0)):
            return
        stage = sd.stage
        if stage == "SCALE_UP":
            ready = sum(1 for t in svc.tasks.values() if t.deployment_id == p.id and t.last_status == "RUNNING"
                        and t.health == "HEALTHY")
            if ready < p.desired:
                return
        elif stage == "TEST_TRAFFIC_SHIFT":
            sd.test_weight = 100.0
        elif stage == "PRODUCTION_TRAFFIC_SHIFT":
            if not self._shift(sd, now):
                return
        elif stage == "BAKE_TIME":
            if now - sd.stage_since < 60.0 * float(sd.config.get("bakeTimeInMinutes") or 0):
                return
        elif stage == "CLEAN_UP":
            p.hold_old = False  # the old revision's tasks go now
            if p.rollout_state == "COMPLETED":  # when it completed before (no old tasks to stop)
                sd.weight = sd.test_weight = 100.0
                sd.set_status("SUCCESSFUL", now)
            return
        sd.stage = STAGES[STAGES.index(stage) + 1]
        sd.stage_since = sd.updated_at = now

    def tick(self, now):
        for cluster in self.clusters.values():
            for svc in cluster.services.values():
                self.tick_service(svc, now)

    def settle(self, svc):
        """Makes a freshly seeded service steady at once: its tasks RUNNING
        and its deployment COMPLETED."""
        now = self.world.clock.sim_now()
        p = svc.primary
        for _ in range(p.desired):
            t = Task(svc.cluster, svc, p, p.taskdef, dict(p.digests, **self._resolve_all(p.taskdef, True)), now, now)
            t.last_status, t.started_at, t.health = "RUNNING", now, "HEALTHY"
            svc.cluster.tasks[t.arn] = t
            svc.tasks[t.arn] = t
        p.rollout_state = "COMPLETED"
        p.rollout_reason = "ECS deployment %s completed." % p.id
        p.announced = "COMPLETED"  # seeded steady: no EventBridge events for it
        svc.last_completed = p
        self._event(svc, "has reached a steady state.")
        if p.sd is not None:
            if p.sd.strategy != "ROLLING":
                p.sd.stage, p.sd.weight, p.sd.test_weight = STAGES[-1], 100.0, 100.0
            p.sd.set_status("SUCCESSFUL", now)

    OPERATIONS = {
        "CreateCluster": create_cluster,
        "ListClusters": list_clusters,
        "DescribeClusters": describe_clusters,
        "RegisterTaskDefinition": register_task_definition,
        "DescribeTaskDefinition": describe_task_definition,
        "DeregisterTaskDefinition": deregister_task_definition,
        "ListTaskDefinitions": list_task_definitions,
        "CreateService": create_service,
        "DescribeServices": describe_services,
        "ListServices": list_services,
        "UpdateService": update_service,
        "ListTasks": list_tasks,
        "DescribeServiceDeployments": describe_service_deployments,
        "DescribeServiceRevisions": describe_service_revisions,
        "ListServiceDeployments": list_service_deployments,
        "ContinueServiceDeployment": continue_service_deployment,
        "StopServiceDeployment": stop_service_deployment,
        "DescribeTasks": describe_tasks,
    }
