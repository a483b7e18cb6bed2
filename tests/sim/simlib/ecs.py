# SPDX-License-Identifier: MIT
"""ECS: clusters, task definitions, services and rolling deployments that
progress over (simulated) time as ECS does them.

A deployment resolves each container's image to a digest when it starts
(versionConsistency), launches tasks within maximumPercent, stops old ones
within minimumHealthyPercent, and reaches COMPLETED at steady state. Tasks
of a digest marked bad fail (to start, or their health checks); with the
circuit breaker on, the deployment turns FAILED after the threshold and,
with rollback on, ECS rolls back to the last completed deployment."""

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
        self.hold_old = False  # CodeDeploy: keep the old tasks until traffic shifts

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

    @property
    def arn(self):
        c = self.cluster
        return "arn:aws:ecs:%s:%s:service/%s/%s" % (c.region, c.account, c.name, self.name)

    @property
    def primary(self):
        return self.deployments[0] if self.deployments else None


class Ecs:
    def __init__(self, world):
        self.world = world
        self.clusters = {}  # (account, region, name) -> Cluster
        self.families = {}  # (account, region, family) -> [TaskDef by revision-1]
        self.bad_digests = {}  # digest -> "exit" | "health"
        self.reply_taskdef_arns = {}  # family -> the taskDefinitionArn RegisterTaskDefinition shows

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

    def _new_deployment(self, svc, td, digests=None):
        """A new PRIMARY deployment of td; digests (a rollback's, as resolved
        before) or the images resolved now."""
        now = self.world.clock.sim_now()
        d = Deployment(td, self._resolve_all(td) if digests is None else dict(digests), svc.desired, now,
                       svc.launch_type)
        for old in svc.deployments:
            old.status = "ACTIVE"
            old.updated_at = now
        svc.deployments.insert(0, d)
        return d

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
        self._new_deployment(svc, td)
        return {"service": self._describe_service(svc)}

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
        primary = svc.primary
        live = [t for t in tasks if t.last_status != "STOPPED"]
        out = {
            "serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": svc.cluster.arn,
            "loadBalancers": copy.deepcopy(svc.params.get("loadBalancers", [])),
            "serviceRegistries": [], "status": svc.status, "desiredCount": svc.desired,
            "runningCount": sum(1 for t in live if t.last_status == "RUNNING"),
            "pendingCount": sum(1 for t in live if t.last_status == "PENDING"),
            "taskDefinition": deployments[0]["taskDefinition"] if deployments else None,
            "deploymentConfiguration": copy.deepcopy(svc.config),
            "deployments": deployments, "events": copy.deepcopy(svc.events),
            "createdAt": svc.created_at, "placementConstraints": [], "placementStrategy": [],
            "schedulingStrategy": "REPLICA", "deploymentController": {"type": svc.controller},
            "createdBy": svc.created_by, "enableECSManagedTags": False, "propagateTags": "NONE",
            "enableExecuteCommand": False,
        }
        if svc.launch_type:
            out["launchType"] = svc.launch_type
        if current:
            out["currentServiceDeployment"] = current
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
            if cb.get("rollback") and svc.last_completed is not None:
                last = svc.last_completed
                self._event(svc, "rolling back to deployment with task definition %s." % last.taskdef.arn)
                self._new_deployment(svc, last.taskdef, last.digests)
                svc.deployments[0].rollout_reason = "ECS deployment circuit breaker: rolling back to " \
                                                    "deploymentId %s." % last.id
            return

        max_live = math.floor(svc.desired * svc.config["maximumPercent"] / 100.0)
        min_healthy = math.ceil(svc.desired * svc.config["minimumHealthyPercent"] / 100.0)

        if p.rollout_state != "FAILED":
            want = p.desired - len(mine)
            room = max_live - len(tasks)
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
        svc.last_completed = p
        self._event(svc, "has reached a steady state.")

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
        "DescribeTasks": describe_tasks,
    }
