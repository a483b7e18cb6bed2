# SPDX-License-Identifier: MIT
"""CodeDeploy blue/green for ECS: applications, deployment groups and
deployments whose AppSpec (JSON) names the new task definition.

A deployment goes Created → InProgress and walks the ECS lifecycle events,
one per `codedeploy_step_seconds` (simulated): at Install a replacement task
set (Green) starts tasks of the new task definition beside the original one
(Blue); once they are healthy the test traffic events run; a group whose
deploymentReadyOption.actionOnTimeout is STOP_DEPLOYMENT waits in Ready for
ContinueDeployment (READY_WAIT) or until its wait time passes; AllowTraffic
shifts the production traffic weight as the deployment config says; with a
termination wait the deployment is Baking that long; then the original task
set goes, the replacement is PRIMARY, and the deployment Succeeded.

Failures (replacement tasks that fail, a lifecycle event failed by the
/_sim/codedeploy-fail control, a Ready wait that times out, StopDeployment)
end it Failed or Stopped; with an automatic rollback a real rollback
deployment (creator codeDeployRollback) follows and puts the original task
set back in front. "Minutes" of configs and waits last
`codedeploy_minute_seconds` each."""

import hashlib
import json
import os

from .core import AwsError, digits

_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# The ECS lifecycle events, in order.
EVENTS = ("BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
HOOK_EVENTS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
NOT_ENDED = ("Created", "Queued", "InProgress", "Ready", "Baking")
# The predefined ECS deployment configs: (kind, percent, minutes between shifts). Custom ones are not simulated.
CONFIGS = {
    "CodeDeployDefault.ECSAllAtOnce": ("all", 100, 0),
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": ("linear", 10, 1),
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": ("linear", 10, 3),
    "CodeDeployDefault.ECSCanary10Percent5Minutes": ("canary", 10, 5),
    "CodeDeployDefault.ECSCanary10Percent15Minutes": ("canary", 10, 15),
}
DEFAULT_CONFIG = "CodeDeployDefault.ECSAllAtOnce"
BATCH_DEPLOYMENTS_MAX = 25
BATCH_GROUPS_MAX = 100
BATCH_TARGETS_MAX = 25
APPSPEC_PROPERTIES = {"TaskDefinition", "LoadBalancerInfo", "PlatformVersion", "NetworkConfiguration",
                      "CapacityProviderStrategy"}
HEALTH_MESSAGE = ("The overall deployment failed because too many individual instances failed deployment, too few "
                  "healthy instances are available for deployment, or some instances in your deployment group are "
                  "experiencing problems.")


def deployment_id():
    return "d-" + "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in os.urandom(9))


def cd_error(code, message):
    return AwsError(code, message)


def _tg_name(arn):
    """The name of a target group given by ARN (…:targetgroup/NAME/ID) or by name."""
    if arn and ":targetgroup/" in arn:
        return arn.split(":targetgroup/", 1)[1].split("/", 1)[0]
    return arn


def _epoch(value):
    """A timestamp of a request: JSON 1.1 sends epoch seconds, a number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AwsError("SerializationException", "A timestamp must be a number of seconds since the epoch, "
                       "not %r" % (value,))
    return float(value)


class Deployment:
    def __init__(self, app, group, td, created, config_name, auto_rollback, description, ctx, creator="user"):
        self.id = deployment_id()
        self.app = app
        self.group = group
        self.taskdef = td
        self.status = "Created"
        self.created = created
        self.started = None
        self.completed = None
        self.config_name = config_name
        self.auto_rollback = auto_rollback
        self.description = description
        self.ctx = ctx  # (account, region)
        self.creator = creator
        self.error = None
        self.rollback_info = None
        self.appspec_sha = None
        self.hooks = {}  # lifecycle event -> hook function name, from the AppSpec
        self.events = [{"lifecycleEventName": e, "status": "Pending"} for e in EVENTS]
        self.current = None  # index of the lifecycle event in progress
        self.next_at = None  # when the event in progress may end
        self.ready_until = None  # Ready: when the wait times out
        self.bake_until = None  # Baking: when the original task set goes
        self.weight = 0.0  # the replacement's production traffic weight
        self.shift_at = None
        self.fail = None  # (lifecycle event, message): planned by /_sim/codedeploy-fail
        self.original = None  # the ECS task set serving before (Blue)
        self.replacement = None  # the task set this deployment starts (Green)
        self.rollback_of = None  # a rollback deployment: the Deployment it rolls back
        self.rollback_due = None  # when the rollback deployment of this one is made
        self.updated = created
        self.messages = []

    # -- views ---------------------------------------------------------------------------
    def target_status(self):
        return {"Created": "Pending", "Queued": "Pending", "InProgress": "InProgress", "Baking": "InProgress",
                "Ready": "Ready", "Succeeded": "Succeeded", "Failed": "Failed", "Stopped": "Failed"}[self.status]

    def describe(self):
        overview = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
        overview[self.target_status()] = 1
        bg = self.group.get("blueGreen") or {}
        out = {
            "applicationName": self.app, "deploymentGroupName": self.group["name"], "deploymentId": self.id,
            "deploymentConfigName": self.config_name, "status": self.status, "createTime": self.created,
            "creator": self.creator, "computePlatform": "ECS", "deploymentOverview": overview,
            # CodeDeploy never gives the AppSpec back: content is null (its sha256 is there).
            "revision": {"revisionType": "AppSpecContent",
                         "appSpecContent": {"content": None, "sha256": self.appspec_sha}},
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "deploymentStatusMessages": list(self.messages),
        }
        if bg:
            out["blueGreenDeploymentConfiguration"] = json.loads(json.dumps(bg))
        if self.group.get("loadBalancerInfo"):
            out["loadBalancerInfo"] = json.loads(json.dumps(self.group["loadBalancerInfo"]))
        if self.description is not None:
            out["description"] = self.description
        if self.started:
            out["startTime"] = self.started
        if self.completed:
            out["completeTime"] = self.completed
        if self.error:
            out["errorInformation"] = dict(self.error)
        if self.rollback_info:
            out["rollbackInfo"] = dict(self.rollback_info)
        if self.status == "Baking":
            out["instanceTerminationWaitTimeStarted"] = True
        if self.auto_rollback is not None:
            out["autoRollbackConfiguration"] = json.loads(json.dumps(self.auto_rollback))
        return out

    def target_id(self):
        s = self.group["services"][0]
        return "%s:%s" % (s["clusterName"], s["serviceName"])


class CodeDeploy:
    def __init__(self, world):
        self.world = world
        self.apps = {}  # (account, region, name) -> {"name", "id", "platform", "groups": {}, "created"}
        self.deployments = {}  # id -> Deployment, in creation order

    # -- settings and helpers ------------------------------------------------------------
    def _setting(self, name, default):
        v = self.world.settings.get(name)
        return default if v is None else float(v)

    def _page_size(self):
        return max(1, int(self._setting("codedeploy_page_size", 100)))

    def _page(self, key, scope, items, p, extra=None):
        """A page of items at codedeploy_page_size: {key: […], nextToken?}."""
        start = self.world.pager.offset(scope, p.get("nextToken"), "InvalidNextTokenException")
        n = self._page_size()
        out = dict(extra or {})
        out[key] = items[start:start + n]
        if start + n < len(items):
            out["nextToken"] = self.world.pager.token(scope, start + n)
        return out

    def _app(self, ctx, name):
        if not name:
            raise cd_error("ApplicationNameRequiredException", "The minimum number of required application names "
                           "was not specified.")
        a = self.apps.get((ctx.account, ctx.region, name))
        if a is None:
            raise cd_error("ApplicationDoesNotExistException", "No application found for name: %s" % name)
        return a

    def _group(self, ctx, app_name, group_name):
        app = self._app(ctx, app_name)
        if not group_name:
            raise cd_error("DeploymentGroupNameRequiredException", "Deployment group name is missing")
        g = app["groups"].get(group_name)
        if g is None:
            raise cd_error("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s"
                           % group_name)
        return app, g

    def _deployment(self, ctx, dep_id):
        if not dep_id:
            raise cd_error("DeploymentIdRequiredException", "Deployment ID is missing")
        d = self.deployments.get(dep_id)
        if d is None or d.ctx != (ctx.account, ctx.region):
            raise cd_error("DeploymentDoesNotExistException", "The deployment %s could not be found" % dep_id)
        return d

    def group_of(self, dep_id):
        """(application, group name) of a deployment, or None (policy.py)."""
        d = self.deployments.get(dep_id)
        return (d.app, d.group["name"]) if d else None

    def config_of(self, account, region, app_name, group_name):
        """The deployment config of a group (its own, else CodeDeployDefault.ECSAllAtOnce), or None
        for an unknown group (policy.py: what CreateDeployment asks GetDeploymentConfig for)."""
        app = self.apps.get((account, region, app_name))
        g = app["groups"].get(group_name) if app else None
        return g["config"] if g else None

    def _service(self, d):
        s = d.group["services"][0]
        return self.world.ecs.clusters[(d.ctx[0], d.ctx[1], s["clusterName"])].services[s["serviceName"]]

    # -- applications and deployment groups ----------------------------------------------
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
        config = p.get("deploymentConfigName")
        if config is not None and config not in CONFIGS:
            raise cd_error("DeploymentConfigDoesNotExistException", "No deployment configuration found for name: %s"
                           % config)
        group = {"name": name, "id": digits(8), "services": services, "app": app["name"],
                 "autoRollback": p.get("autoRollbackConfiguration"), "active": None,
                 "config": config or DEFAULT_CONFIG, "serviceRoleArn": p["serviceRoleArn"],
                 "deploymentStyle": p.get("deploymentStyle"), "blueGreen": p.get("blueGreenDeploymentConfiguration"),
                 "loadBalancerInfo": p.get("loadBalancerInfo"), "failures": [], "last_attempted": None,
                 "last_successful": None}
        app["groups"][name] = group
        return {"deploymentGroupId": group["id"]}

    @staticmethod
    def _last(d):
        if d is None:
            return None
        out = {"deploymentId": d.id, "status": d.status, "createTime": d.created}
        if d.completed:
            out["endTime"] = d.completed
        return out

    def _describe_group(self, app, g):
        out = {"applicationName": app["name"], "deploymentGroupId": g["id"], "deploymentGroupName": g["name"],
               "deploymentConfigName": g["config"], "serviceRoleArn": g["serviceRoleArn"],
               "computePlatform": app["platform"], "ecsServices": json.loads(json.dumps(g["services"])),
               "ec2TagFilters": [], "onPremisesInstanceTagFilters": [], "autoScalingGroups": [],
               "triggerConfigurations": [], "alarmConfiguration": {"enabled": False, "alarms": []},
               "autoRollbackConfiguration": json.loads(json.dumps(g["autoRollback"] or {"enabled": False}))}
        for key, src in (("deploymentStyle", "deploymentStyle"), ("blueGreenDeploymentConfiguration", "blueGreen"),
                         ("loadBalancerInfo", "loadBalancerInfo")):
            if g.get(src):
                out[key] = json.loads(json.dumps(g[src]))
        for key, src in (("lastAttemptedDeployment", "last_attempted"),
                         ("lastSuccessfulDeployment", "last_successful")):
            if g.get(src) is not None:
                out[key] = self._last(g[src])
        return out

    def get_deployment_group(self, ctx, p):
        app, g = self._group(ctx, p["applicationName"], p["deploymentGroupName"])
        return {"deploymentGroupInfo": self._describe_group(app, g)}

    def batch_get_deployment_groups(self, ctx, p):
        app = self._app(ctx, p["applicationName"])
        names = p["deploymentGroupNames"]
        if len(names) > BATCH_GROUPS_MAX:
            raise cd_error("BatchLimitExceededException", "The maximum number of names or IDs allowed for this "
                           "request (%d) was exceeded." % BATCH_GROUPS_MAX)
        out, missing = [], []
        for n in names:
            g = app["groups"].get(n)
            if g is None:
                missing.append(n)
            else:
                out.append(self._describe_group(app, g))
        reply = {"deploymentGroupsInfo": out}
        if missing:
            # The simulator's wording; AWS names the groups it could not find in errorMessage too.
            reply["errorMessage"] = "Deployment groups not found: %s" % ", ".join(missing)
        return reply

    def list_applications(self, ctx, p):
        names = sorted(a["name"] for (acct, reg, _), a in self.apps.items() if (acct, reg) == (ctx.account, ctx.region))
        return self._page("applications", ("ListApplications", ctx.account, ctx.region), names, p)

    def list_deployment_groups(self, ctx, p):
        app = self._app(ctx, p["applicationName"])
        return self._page("deploymentGroups", ("ListDeploymentGroups", ctx.account, ctx.region, app["name"]),
                          sorted(app["groups"]), p, {"applicationName": app["name"]})

    # -- deployments -----------------------------------------------------------------------
    def _parse_appspec(self, ctx, content, group):
        """The task definition an AppSpec (JSON) names, after checking it against the group's service;
        and the hook functions it names."""
        try:
            spec = json.loads(content)
        except ValueError:
            raise cd_error("InvalidRevisionException",
                           "The AppSpec content is not valid JSON (this simulator reads JSON AppSpecs only)")
        if not isinstance(spec, dict):
            raise cd_error("InvalidRevisionException", "The AppSpec must be an object")
        unknown = set(spec) - {"version", "Resources", "Hooks"}
        if unknown:
            raise cd_error("InvalidRevisionException", "The AppSpec has unknown keys: %s" % ", ".join(sorted(unknown)))
        try:
            res = spec["Resources"]
            if not isinstance(res, list) or len(res) != 1 or not isinstance(res[0], dict) or len(res[0]) != 1:
                raise KeyError("Resources (exactly one resource)")
            (name, target), = res[0].items()
            if not isinstance(target, dict) or target.get("Type") != "AWS::ECS::Service":
                raise cd_error("InvalidRevisionException", "Resource %s must be of Type AWS::ECS::Service" % name)
            props = target["Properties"]
            if not isinstance(props, dict):
                raise KeyError("Properties")
            td_ref = props["TaskDefinition"]
            lb = props["LoadBalancerInfo"]
            if not isinstance(td_ref, str) or not isinstance(lb, dict):
                raise KeyError("TaskDefinition / LoadBalancerInfo")
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            if isinstance(e, AwsError):
                raise
            raise cd_error("InvalidRevisionException", "The AppSpec is missing %s" % e)
        unknown = set(props) - APPSPEC_PROPERTIES
        if unknown:
            raise cd_error("InvalidRevisionException", "The AppSpec's Properties has unknown keys: %s"
                           % ", ".join(sorted(unknown)))
        self._check_optional(props)
        try:
            td = self.world.ecs.taskdef(ctx.account, ctx.region, td_ref, active_only=True)
        except AwsError:
            raise cd_error("InvalidRevisionException", "The task definition %s in the AppSpec does not exist "
                           "or is not ACTIVE" % td_ref)
        cname, port = lb.get("ContainerName"), lb.get("ContainerPort")
        names = [c.get("name") for c in td.body.get("containerDefinitions", [])]
        if not isinstance(cname, str) or cname not in names:
            raise cd_error("InvalidRevisionException", "LoadBalancerInfo.ContainerName '%s' is not a container "
                           "of %s" % (cname, td.arn))
        if not isinstance(port, int) or isinstance(port, bool):
            raise cd_error("InvalidRevisionException", "LoadBalancerInfo.ContainerPort must be an integer, not %r"
                           % (port,))
        svc = self._service_of_group(ctx, group)
        lbs = [x for x in svc.params.get("loadBalancers") or [] if x.get("containerName")]
        # The replacement task set is registered with the service's target groups: the container and port
        # must be the ones the service's load balancer sends traffic to.
        if lbs and not any(x.get("containerName") == cname and x.get("containerPort") == port for x in lbs):
            raise cd_error("InvalidRevisionException", "LoadBalancerInfo ContainerName '%s' ContainerPort %s does "
                           "not match the load balancer of service %s (%s)" % (
                               cname, port, svc.name, ", ".join("%s:%s" % (x.get("containerName"),
                                                                            x.get("containerPort")) for x in lbs)))
        hooks = {}
        for h in spec.get("Hooks") or []:
            if not isinstance(h, dict):
                raise cd_error("InvalidRevisionException", "Hooks entries must be objects")
            for ev, fn in h.items():
                if ev not in HOOK_EVENTS or not isinstance(fn, str):
                    raise cd_error("InvalidRevisionException", "Hooks: '%s' is not a hookable lifecycle event "
                                   "of ECS (%s)" % (ev, ", ".join(HOOK_EVENTS)))
                hooks[ev] = fn
        return td, hooks

    @staticmethod
    def _check_optional(props):
        def bad(what):
            raise cd_error("InvalidRevisionException", "The AppSpec's %s is malformed" % what)
        if "PlatformVersion" in props and not isinstance(props["PlatformVersion"], str):
            bad("PlatformVersion (a string)")
        if "NetworkConfiguration" in props:
            nc = props["NetworkConfiguration"]
            if not isinstance(nc, dict) or set(nc) != {"AwsvpcConfiguration"}:
                bad("NetworkConfiguration ({AwsvpcConfiguration: {...}})")
            vpc = nc["AwsvpcConfiguration"]
            if not isinstance(vpc, dict) or set(vpc) - {"Subnets", "SecurityGroups", "AssignPublicIp"}:
                bad("NetworkConfiguration.AwsvpcConfiguration (Subnets, SecurityGroups, AssignPublicIp)")
            for k in ("Subnets", "SecurityGroups"):
                v = vpc.get(k)
                if (k == "Subnets" and v is None) or (v is not None and (
                        not isinstance(v, list) or not all(isinstance(x, str) for x in v))):
                    bad("NetworkConfiguration.AwsvpcConfiguration.%s (a list of strings)" % k)
            if vpc.get("AssignPublicIp", "DISABLED") not in ("ENABLED", "DISABLED"):
                bad("NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp (ENABLED or DISABLED)")
        if "CapacityProviderStrategy" in props:
            cps = props["CapacityProviderStrategy"]
            if not isinstance(cps, list):
                bad("CapacityProviderStrategy (a list)")
            for item in cps:
                if not isinstance(item, dict) or set(item) - {"CapacityProvider", "Base", "Weight"} or \
                        not isinstance(item.get("CapacityProvider"), str) or \
                        any(k in item and (not isinstance(item[k], int) or isinstance(item[k], bool))
                            for k in ("Base", "Weight")):
                    bad("CapacityProviderStrategy ([{CapacityProvider, Base, Weight}])")

    def _service_of_group(self, ctx, group):
        s = group["services"][0]
        return self.world.ecs.clusters[(ctx.account, ctx.region, s["clusterName"])].services[s["serviceName"]]

    def create_deployment(self, ctx, p):
        app, group = self._group(ctx, p["applicationName"], p.get("deploymentGroupName"))
        rev = p.get("revision")
        if not rev:
            raise cd_error("RevisionRequiredException", "Revision is missing")
        if rev.get("revisionType") != "AppSpecContent" or not (rev.get("appSpecContent") or {}).get("content"):
            raise cd_error("InvalidRevisionException", "An ECS deployment needs revisionType AppSpecContent "
                           "with content")
        config = p.get("deploymentConfigName") or group["config"]
        if config not in CONFIGS:
            raise cd_error("DeploymentConfigDoesNotExistException", "No deployment configuration found for name: %s"
                           % config)
        content = rev["appSpecContent"]["content"]
        td, hooks = self._parse_appspec(ctx, content, group)
        active = group["active"]
        if active and (active.status in NOT_ENDED or active.rollback_due is not None):
            raise cd_error("DeploymentLimitExceededException", "The Deployment Group '%s' already has an active "
                           "Deployment '%s'" % (group["name"], active.id))
        auto = p.get("autoRollbackConfiguration", group["autoRollback"])
        d = Deployment(app["name"], group, td, self.world.clock.sim_now(), config, auto, p.get("description"),
                       (ctx.account, ctx.region))
        d.appspec_sha = hashlib.sha256(content.encode("utf-8", "surrogateescape")).hexdigest()
        d.hooks = hooks
        for f in group["failures"]:
            if f["count"] > 0:
                f["count"] -= 1
                d.fail = (f["event"], f["message"])
                break
        group["failures"] = [f for f in group["failures"] if f["count"] > 0]
        self.deployments[d.id] = d
        group["active"] = d
        group["last_attempted"] = d
        return {"deploymentId": d.id}

    def get_deployment(self, ctx, p):
        return {"deploymentInfo": self._deployment(ctx, p["deploymentId"]).describe()}

    def batch_get_deployments(self, ctx, p):
        ids = p["deploymentIds"]
        if len(ids) > BATCH_DEPLOYMENTS_MAX:
            raise cd_error("BatchLimitExceededException", "The maximum number of names or IDs allowed for this "
                           "request (%d) was exceeded." % BATCH_DEPLOYMENTS_MAX)
        out = []
        for i in ids:
            d = self.deployments.get(i)
            if d is not None and d.ctx == (ctx.account, ctx.region):
                out.append(d.describe())  # an unknown id is left out, as CodeDeploy does
        return {"deploymentsInfo": out}

    def list_deployments(self, ctx, p):
        app_name, group_name = p.get("applicationName"), p.get("deploymentGroupName")
        # Both or neither, as the API reference says of ListDeployments.
        if group_name and not app_name:
            raise cd_error("ApplicationNameRequiredException", "If you specify a deployment group name, you must "
                           "also specify an application name")
        if app_name and not group_name:
            raise cd_error("DeploymentGroupNameRequiredException", "If you specify an application name, you must "
                           "also specify a deployment group name")
        app = group = None
        if app_name:
            app, group = self._group(ctx, app_name, group_name)
        statuses = p.get("includeOnlyStatuses") or []
        rng = p.get("createTimeRange") or {}
        start, end = _epoch(rng.get("start")), _epoch(rng.get("end"))
        if start is not None and end is not None and start > end:
            raise cd_error("InvalidTimeRangeException", "The specified time range is not valid: start after end")
        out = [d.id for d in sorted(self.deployments.values(), key=lambda x: -x.created)  # newest first
               if d.ctx == (ctx.account, ctx.region)
               and (app is None or d.app == app["name"]) and (group is None or d.group is group)
               and (not statuses or d.status in statuses)
               and (start is None or d.created >= float(start)) and (end is None or d.created <= float(end))]
        scope = ("ListDeployments", ctx.account, ctx.region, app_name, group_name, sorted(statuses),
                 None if start is None else float(start), None if end is None else float(end))
        return self._page("deployments", scope, out, p)

    # -- stop, continue --------------------------------------------------------------------
    def _wants_rollback(self, d, event):
        a = d.auto_rollback
        return bool(a and a.get("enabled") and event in (a.get("events") or []))

    def stop_deployment(self, ctx, p):
        d = self._deployment(ctx, p["deploymentId"])
        if d.status not in NOT_ENDED:
            raise cd_error("DeploymentAlreadyCompletedException", "The deployment %s is already completed" % d.id)
        rollback = p.get("autoRollbackEnabled")
        if rollback is None:
            rollback = self._wants_rollback(d, "DEPLOYMENT_STOP_ON_REQUEST")
        rollback = bool(rollback) and d.rollback_of is None
        self._end(d, "Stopped", self.world.clock.sim_now(),
                  {"code": "MANUAL_STOP", "message": "The deployment was stopped by a user"}, rollback)
        if rollback:
            return {"status": "Pending", "statusMessage": "Stopping deployment %s; a rollback deployment will "
                                                          "restore the original task set" % d.id}
        return {"status": "Succeeded", "statusMessage": "Deployment %s stopped" % d.id}

    def continue_deployment(self, ctx, p):
        d = self._deployment(ctx, p["deploymentId"])
        wait = p.get("deploymentWaitType") or "READY_WAIT"
        if d.status not in NOT_ENDED:
            raise cd_error("DeploymentAlreadyCompletedException", "The deployment %s is already completed" % d.id)
        now = self.world.clock.sim_now()
        if wait == "READY_WAIT":
            if d.status != "Ready":
                raise cd_error("DeploymentIsNotInReadyStateException", "The deployment %s is %s, not Ready"
                               % (d.id, d.status))
            d.status = "InProgress"
            d.ready_until = None
            d.updated = now
            self._begin_event(d, EVENTS.index("BeforeAllowTraffic"), now)
        else:
            if d.status != "Baking":
                raise cd_error("InvalidDeploymentStatusException", "The deployment %s is %s: only a Baking "
                               "deployment waits for the original task set's termination" % (d.id, d.status))
            d.bake_until = now
        return {}

    # -- ECS side --------------------------------------------------------------------------
    def _set_weights(self, d):
        if d.replacement is not None:
            d.replacement.weight = d.weight
        if d.original is not None:
            d.original.weight = 100.0 - d.weight

    def _remove_replacement(self, d, now):
        """The replacement task set goes (its tasks stop); the original serves alone again."""
        if d.replacement is None or d.replacement.removed:
            return
        d.weight = 0.0
        self._set_weights(d)
        self.world.ecs.remove_task_set(self._service(d), d.replacement, now,
                                       "CodeDeploy deployment %s %s." % (d.id, d.status.lower()))

    def _end(self, d, status, now, error=None, rollback=False):
        d.status = status
        d.completed = now
        d.updated = now
        d.ready_until = d.bake_until = None
        if error:
            d.error = error
            d.messages.append(error["message"])
        if d.current is not None and d.events[d.current]["status"] == "InProgress":
            ev = d.events[d.current]
            ev["status"] = "Failed" if status == "Failed" else "Skipped"
            ev["endTime"] = now
        for ev in d.events:
            if ev["status"] == "Pending" and status != "Succeeded":
                ev["status"] = "Skipped"
        if status == "Succeeded":
            return
        if rollback:
            delay = self._setting("codedeploy_rollback_delay", 0.0)
            d.rollback_due = now + delay
            if delay <= 0:
                self._make_rollback(d, now)  # rollbackInfo in the very reply that tells of the end
        else:
            self._remove_replacement(d, now)

    def _begin_event(self, d, i, now):
        d.current = i
        ev = d.events[i]
        ev["status"] = "InProgress"
        ev["startTime"] = now
        d.next_at = now + self._setting("codedeploy_step_seconds", 1.0)
        d.updated = now
        if EVENTS[i] == "Install" and d.rollback_of is None:
            svc = self._service(d)
            d.original, d.replacement = self.world.ecs.create_task_set(svc, d.taskdef, d.id, now)
            d.original.label, d.replacement.label = "Blue", "Green"
            self._set_weights(d)

    def _fail_event(self, d, now, code, message):
        ev = d.events[d.current]
        name = ev["lifecycleEventName"]
        script = d.hooks.get(name) or "CodeDeployHook_%s" % name
        ev["diagnostics"] = {"errorCode": "ScriptFailed", "scriptName": script, "message": message,
                             "logTail": "[%s] %s failed: %s" % (name, script, message)}
        self._end(d, "Failed", now, {"code": code, "message": message}, self._wants_rollback(d, "DEPLOYMENT_FAILURE"))

    def _succeed(self, d, now):
        svc = self._service(d)
        self.world.ecs.promote_task_set(svc, d.replacement, d.original, now)
        self._end(d, "Succeeded", now)
        d.group["last_successful"] = d

    def _make_rollback(self, d, now):
        d.rollback_due = None
        original = d.original or self.world.ecs.primary_task_set(self._service(d))
        rb = Deployment(d.app, d.group, original.dep.taskdef, now, d.config_name, None, None, d.ctx,
                        creator="codeDeployRollback")
        rb.rollback_of = d
        rb.original, rb.replacement = original, d.replacement
        rb.appspec_sha = d.appspec_sha
        rb.rollback_info = {"rollbackTriggeringDeploymentId": d.id,
                            "rollbackMessage": "Deployment %s is a rollback of deployment %s" % (rb.id, d.id)}
        d.rollback_info = {"rollbackDeploymentId": rb.id,
                           "rollbackMessage": "Deployment %s rolled back by deployment %s: the original task set "
                                              "serves again" % (d.id, rb.id)}
        self.deployments[rb.id] = rb
        d.group["active"] = rb
        d.group["last_attempted"] = rb

    def _tick_rollback(self, rb, now, step):
        d = rb.rollback_of
        if rb.status == "Created" and now >= rb.created + step:
            rb.status, rb.started, rb.updated, rb.next_at = "InProgress", now, now, now + step
            d.weight = 0.0  # production traffic goes back to the original task set at once
            self._set_weights(d)
            for ev in rb.events:
                ev["status"], ev["startTime"] = "InProgress", now
        elif rb.status == "InProgress" and now >= rb.next_at:
            self._remove_replacement(d, now)
            for ev in rb.events:
                ev["status"], ev["endTime"] = "Succeeded", now
            rb.status, rb.completed, rb.updated = "Succeeded", now, now

    def tick(self, now):
        step = self._setting("codedeploy_step_seconds", 1.0)
        minute = self._setting("codedeploy_minute_seconds", 1.0)
        for d in list(self.deployments.values()):
            if d.rollback_due is not None and now >= d.rollback_due:
                self._make_rollback(d, now)
            if d.rollback_of is not None:
                self._tick_rollback(d, now, step)
                continue
            if d.status == "Created" and now >= d.created + step:
                d.status, d.started = "InProgress", now
                self._begin_event(d, 0, now)
            elif d.status == "Ready":
                if d.ready_until is not None and now >= d.ready_until:
                    # The wait for someone to reroute traffic timed out: stopped; the guess here is that
                    # an automatic rollback on DEPLOYMENT_FAILURE covers it (nothing was rerouted yet).
                    self._end(d, "Stopped", now, {
                        "code": "TIMEOUT", "message": "The deployment timed out while waiting for traffic to be "
                                                      "rerouted to the replacement task set"},
                        self._wants_rollback(d, "DEPLOYMENT_FAILURE"))
            elif d.status == "Baking":
                if now >= d.bake_until:
                    self._succeed(d, now)
            elif d.status == "InProgress":
                self._tick_event(d, now, step, minute)

    def _tick_event(self, d, now, step, minute):
        name = EVENTS[d.current]
        if d.fail is not None and d.fail[0] == name:
            msg = d.fail[1] or "The %s hook reported a failure" % name
            self._fail_event(d, now, "ECS_UPDATE_ERROR" if name == "Install" else "HOOK_EXECUTION_FAILURE", msg)
            return
        ecs = self.world.ecs
        if name == "Install":
            svc, dep = self._service(d), d.replacement.dep
            if dep.failed_tasks >= ecs.threshold(svc, dep):
                self._fail_event(d, now, "HEALTH_CONSTRAINTS", HEALTH_MESSAGE)
                d.events[d.current]["diagnostics"].update(
                    errorCode="UnknownError", scriptName="",
                    message="The replacement task set's tasks failed to start or to pass health checks "
                            "(%d failed)" % dep.failed_tasks,
                    logTail="")
                return
            healthy = sum(1 for t in svc.tasks.values() if t.deployment_id == dep.id
                          and t.last_status == "RUNNING" and t.health == "HEALTHY")
            if healthy < dep.desired:
                return
        elif name == "AllowTraffic":
            kind, pct, every = CONFIGS[d.config_name]
            if d.shift_at is None:
                d.weight, d.shift_at = float(min(100, pct)), now
                self._set_weights(d)
                d.updated = now
            elif d.weight < 100 and now - d.shift_at >= every * minute:
                d.weight = min(100.0, d.weight + pct) if kind == "linear" else 100.0
                d.shift_at = d.updated = now
                self._set_weights(d)
            if d.weight < 100:
                return
        if now < d.next_at:
            return
        ev = d.events[d.current]
        ev["status"], ev["endTime"] = "Succeeded", now
        d.updated = now
        if name == "AfterAllowTestTraffic":
            ready = (d.group.get("blueGreen") or {}).get("deploymentReadyOption") or {}
            if ready.get("actionOnTimeout") == "STOP_DEPLOYMENT":
                d.status = "Ready"
                d.current = None
                d.ready_until = now + float(ready.get("waitTimeInMinutes") or 0) * minute
                return
        if name == "AfterAllowTraffic":
            term = (d.group.get("blueGreen") or {}).get("terminateBlueInstancesOnDeploymentSuccess") or {}
            wait = float(term.get("terminationWaitTimeInMinutes") or 0)
            d.current = None
            if wait > 0:
                d.status, d.bake_until = "Baking", now + wait * minute
            else:
                self._succeed(d, now)
            return
        self._begin_event(d, d.current + 1, now)

    # -- targets ---------------------------------------------------------------------------
    def list_deployment_targets(self, ctx, p):
        d = self._deployment(ctx, p["deploymentId"])
        filters = p.get("targetFilters") or {}
        bad = set(filters) - {"TargetStatus"}
        if bad:
            raise cd_error("InvalidTargetFilterNameException", "The target filter name %s is not valid for ECS "
                           "deployments" % ", ".join(sorted(bad)))
        want = filters.get("TargetStatus") or []
        ids = [d.target_id()] if not want or d.target_status() in want else []
        return self._page("targetIds", ("ListDeploymentTargets", d.id, sorted(want)), ids, p)

    def _task_set_info(self, ts):
        svc = ts.svc
        live = [t for t in svc.tasks.values() if t.deployment_id == ts.dep.id and t.last_status != "STOPPED"]
        out = {"identifer": ts.dep.id, "desiredCount": 0 if ts.removed else ts.dep.desired,
               "pendingCount": sum(1 for t in live if t.last_status == "PENDING"),
               "runningCount": sum(1 for t in live if t.last_status == "RUNNING"),
               "status": ts.status, "trafficWeight": float(ts.weight), "taskSetLabel": ts.label}
        if ts.target_group:
            out["targetGroup"] = {"name": ts.target_group}
        return out

    def batch_get_deployment_targets(self, ctx, p):
        d = self._deployment(ctx, p["deploymentId"])
        ids = p["targetIds"]
        if len(ids) > BATCH_TARGETS_MAX:
            raise cd_error("DeploymentTargetListSizeExceededException", "The maximum number of targets that can be "
                           "associated with an Amazon ECS deployment (%d) was exceeded." % BATCH_TARGETS_MAX)
        out = []
        for i in ids:
            if i != d.target_id():
                raise cd_error("DeploymentTargetDoesNotExistException", "The provided target ID %s does not belong "
                               "to deployment %s" % (i, d.id))
            svc = self._service(d)
            events = []
            for ev in d.events:
                e = {k: (dict(v) if isinstance(v, dict) else v) for k, v in ev.items()}
                events.append(e)
            sets = [self._task_set_info(ts) for ts in (d.original, d.replacement) if ts is not None]
            out.append({"deploymentTargetType": "ECSTarget", "ecsTarget": {
                "deploymentId": d.id, "targetId": i, "targetArn": svc.arn, "lastUpdatedAt": d.updated,
                "lifecycleEvents": events, "status": d.target_status(), "taskSetsInfo": sets}})
        return {"deploymentTargets": out}

    # -- control ---------------------------------------------------------------------------
    def plan_failure(self, account, region, app_name, group_name, event, count=1, message=None):
        """/_sim/codedeploy-fail: the next `count` deployments of the group fail at `event`."""
        if event not in EVENTS:
            raise ValueError("lifecycle_event must be one of %s" % ", ".join(EVENTS))
        if type(count) is not int or count < 0:
            raise ValueError("count must be a non-negative integer")
        if message is not None and not isinstance(message, str):
            raise ValueError("message must be a string")
        app = self.apps.get((account, region, app_name))
        if app is None or group_name not in app["groups"]:
            raise KeyError("deployment group %s/%s" % (app_name, group_name))
        g = app["groups"][group_name]
        g["failures"] = [f for f in g["failures"] if f["count"] > 0]
        if count:
            g["failures"].append({"event": event, "count": count, "message": message})
        return {"failures": [dict(f) for f in g["failures"]]}

    OPERATIONS = {
        "CreateApplication": create_application,
        "CreateDeploymentGroup": create_deployment_group,
        "GetDeploymentGroup": get_deployment_group,
        "BatchGetDeploymentGroups": batch_get_deployment_groups,
        "ListApplications": list_applications,
        "ListDeploymentGroups": list_deployment_groups,
        "CreateDeployment": create_deployment,
        "GetDeployment": get_deployment,
        "BatchGetDeployments": batch_get_deployments,
        "ListDeployments": list_deployments,
        "StopDeployment": stop_deployment,
        "ContinueDeployment": continue_deployment,
        "ListDeploymentTargets": list_deployment_targets,
        "BatchGetDeploymentTargets": batch_get_deployment_targets,
    }
