# SPDX-License-Identifier: MIT
"""Issue 16: strategy codedeploy, blue/green through AWS CodeDeploy, against awssim. A push to a
CODE_DEPLOY service registers one pinned revision and makes one CodeDeploy deployment whose AppSpec
names it (with the service's load balancer container and port, its platform version and network
configuration only when it has them), tracked to Succeeded with a DEPLOY_PROGRESS per change; a
failure follows CodeDeploy's own rollback (or makes ours when CodeDeploy has none) and the digest is
never deployed again; our rollout timeout stops the deployment with rollback; a Ready wait is
approved (ecr-deployctl approve: ContinueDeployment READY_WAIT), rejected (StopDeployment with
rollback) or continued by the daemon ("approve": "auto"); a lost CreateDeployment reply and a kill
-9 while it is sent or while the deployment is tracked never make a second deployment; the
deployment group is found from the service (none, one and cached, several) or taken from the
config with no discovery call; first start and --dry-run read what the PRIMARY task set runs; and
config/examples/codedeploy.json works against the simulator.

The test reads the simulator with a key of its own (test_strategies.TEST_KEY), so that the request
log tells the daemon's calls from the test's. The simulator's CodeDeploy steps every 0.2 s and its
"minute" (of deployment configs and wait times) lasts 0.2 s unless a test says otherwise."""

import json
import os
import re
import signal
import time

from harness import SIM_KEY, Failure, Sim, check, check_eq, ctl_request, daemon_path, wait_for
from test_config import check_config, strip_comments
from test_daemon import daemon_env, lines_with
from test_deploy import (ACCT, DEPLOY_COMPLETED, DEPLOY_FAILED, DEPLOY_STARTED, REPO_URI, ROLLBACK_COMPLETED,
                         ROLLBACK_STARTED, SKIPPED, poll_now, start, taskdef)
from test_strategies import (AWAITING_APPROVAL, DEPLOY_PROGRESS, KEYS, ROLLBACK_FAILED, TEST_KEY, daemon_calls,
                             events, failed_digests)

BLOCKED = "d7631a67aa3d44f8b114544ef9768e73"
APP = "web-app"
# The load balancer's port: the task definition's second port mapping, so that a daemon that takes
# the first one instead of the service's loadBalancers[] is refused by CodeDeploy.
LB_PORT = 9090
FAST = {"task_start_seconds": 0.2, "codedeploy_step_seconds": 0.2, "codedeploy_minute_seconds": 0.2}
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
                                   "securityGroups": ["sg-0123abcd"], "assignPublicIp": "DISABLED"}}
LIFECYCLE = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
             "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
STATUSES = {"Created", "Queued", "InProgress", "Baking", "Ready", "Succeeded", "Failed", "Stopped"}
DISCOVERY = ("ListApplications", "ListDeploymentGroups", "BatchGetDeploymentGroups")
CD_MUTATING = ("CreateDeployment", "StopDeployment", "ContinueDeployment")
# DEPLOY_PROGRESS's CODEDEPLOY_OVERVIEW (README, the catalog); TARGET_STATE: the state CodeDeploy
# counts an ECS deployment's one target in, by the deployment's status.
OVERVIEW = re.compile(r"Pending=\d+ InProgress=\d+ Succeeded=\d+ Failed=\d+ Skipped=\d+ Ready=\d+")
TARGET_STATE = {"Created": "Pending", "Queued": "Pending", "InProgress": "InProgress", "Baking": "InProgress",
                "Ready": "Ready", "Succeeded": "Succeeded", "Failed": "Failed", "Stopped": "Failed"}


# -- the world ----------------------------------------------------------------------------------

def td_arn(family, revision):
    return "arn:aws:ecs:us-east-1:%s:task-definition/%s:%d" % (ACCT, family, revision)


def cd_taskdef(family, image, awsvpc=True):
    td = taskdef(family, "team/web")
    app = td["containerDefinitions"][0]
    app["image"] = image
    app["portMappings"] = [{"containerPort": 8080, "protocol": "tcp"}, {"containerPort": LB_PORT, "protocol": "tcp"}]
    if not awsvpc:
        td["networkMode"] = "bridge"
        td["requiresCompatibilities"] = ["EC2"]
    return td


CAPACITY = [{"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 1},
            {"capacityProvider": "FARGATE", "weight": 1, "base": 0}]


def cd_service(name, awsvpc=True, capacity=False):
    """A CODE_DEPLOY service behind a load balancer: Fargate with a platform version and a network
    configuration (awsvpc), or EC2 with neither; capacity: a capacity provider strategy and a
    network configuration instead of the launch type and the platform version."""
    s = {"cluster": "prod", "serviceName": name, "taskDefinition": name, "desiredCount": 2,
         "deploymentController": {"type": "CODE_DEPLOY"},
         "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:%s:targetgroup/%s-blue/"
                                              "0123456789abcdef" % (ACCT, name),
                            "containerName": "app", "containerPort": LB_PORT}]}
    if capacity:
        s.update(capacityProviderStrategy=CAPACITY, networkConfiguration=NETWORK)
    elif awsvpc:
        s.update(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK)
    else:
        s["launchType"] = "EC2"
    return s


def group(service, name=None, rollback=True, ready=None, config=None, bake=0):
    """A deployment group of one service; rollback: CodeDeploy's automatic rollback on failure and
    on a stop; ready: minutes of a Ready wait (deploymentReadyOption STOP_DEPLOYMENT); bake:
    minutes the original task set is kept after the traffic moved (status Baking)."""
    g = {"deploymentGroupName": name or service + "-dg",
         "serviceRoleArn": "arn:aws:iam::%s:role/codedeploy-ecs" % ACCT,
         "ecsServices": [{"serviceName": service, "clusterName": "prod"}],
         "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
         "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]}
         if rollback else {"enabled": False, "events": []},
         "blueGreenDeploymentConfiguration": {
             "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": ready} if ready
             else {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
             "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE",
                                                           "terminationWaitTimeInMinutes": bake}}}
    if config:
        g["deploymentConfigName"] = config
    return g


def cd_world(ctx, services, apps, settings=None, pinned=True):
    """The simulator with team/web:prod at v1, the services (each its own family, whose container
    app pins v1, or names the tag when not pinned: pinned is a bool or the names of the services
    pinned) and apps: {application: [groups]}. Returns (sim, v1)."""
    sim = Sim(ctx, keys=KEYS, seed={"settings": dict(FAST, **(settings or {})), "repositories": [{"name": "team/web"}]})
    v1 = sim.push("team/web", "prod", seed="v1")

    def image(name):
        pin = pinned if isinstance(pinned, bool) else name in pinned
        return REPO_URI + "team/web" + ("@" + v1 if pin else ":prod")
    sim.seed({"clusters": ["prod"],
              "task_definitions": [cd_taskdef(s["serviceName"], image(s["serviceName"]), "networkConfiguration" in s)
                                   for s in services],
              "services": services,
              "codedeploy": {"applications": [{"name": a, "deployment_groups": g} for a, g in apps.items()]}})
    return sim, v1


def cd_target(service, codedeploy=None, **kw):
    t = dict({"cluster": "prod", "service": service, "container": "app", "strategy": "codedeploy"}, **kw)
    if codedeploy is not None:
        t["codedeploy"] = codedeploy
    return t


def named(service, app=APP, name=None):
    """The codedeploy object that names the application and deployment group."""
    return {"application": app, "deployment_group": name or service + "-dg"}


def watch(*targets):
    return {"name": "web", "repository": "team/web", "tag": "prod", "targets": list(targets)}


def launch(ctx, sim, targets, args=(), **settings):
    """The daemon on one watch of the targets, once its first cycle found each service running v1."""
    p = start(ctx, sim, [watch(*targets)], args=args, **settings)
    wait_for(lambda: len(lines_with(p, "already runs")) >= len(targets) or not p.alive(), 20,
             "first-start inspection of %d target(s)" % len(targets))
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    return p


# -- what the simulator and the daemon say -------------------------------------------------------

def cd(sim):
    return sim.client("codedeploy", key=TEST_KEY)


def ecs(sim):
    return sim.client("ecs", key=TEST_KEY)


def cd_calls(sim, op=None, since=0, carried=False):
    """CodeDeploy calls made with the daemon's key, optionally of one operation, optionally only
    those carried out (whatever became of the reply)."""
    return [r for r in sim.requests(since=since, service="codedeploy")
            if r.get("access_key") == SIM_KEY[0] and (op is None or r["operation"] == op)
            and (not carried or r.get("carried_out"))]


def creates(sim, group_name=None, since=0):
    return [r for r in cd_calls(sim, "CreateDeployment", since, carried=True)
            if group_name is None or r["params"].get("deploymentGroupName") == group_name]


def last_request(sim):
    return sim.control("GET", "/requests")["last"]


def deployments(sim, group_name, app=APP):
    """The ids of the group's deployments, every page."""
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = cd(sim).list_deployments(applicationName=app, deploymentGroupName=group_name, **kw)
        out += page.get("deployments", [])
        token = page.get("nextToken")
        if not token:
            return out


def info(sim, dep_id):
    return cd(sim).get_deployment(deploymentId=dep_id)["deploymentInfo"]


def ours(sim, group_name, app=APP):
    """The one deployment of the group made by ecr-deployd (its description says so)."""
    mine = [d for d in deployments(sim, group_name, app)
            if (info(sim, d).get("description") or "").startswith("ecr-deployd ")]
    check_eq(len(mine), 1, "deployments of ecr-deployd in %s/%s" % (app, group_name))
    return mine[0]


def failed_event(sim, dep_id):
    """The lifecycle event that failed in the deployment's one ECS target, as CodeDeploy tells it."""
    c = cd(sim)
    ids = c.list_deployment_targets(deploymentId=dep_id)["targetIds"]
    tgts = c.batch_get_deployment_targets(deploymentId=dep_id, targetIds=ids)["deploymentTargets"]
    failed = [e for t in tgts for e in t["ecsTarget"]["lifecycleEvents"] if e["status"] == "Failed"]
    check_eq(len(failed), 1, "one failed lifecycle event in %s" % dep_id)
    return failed[0]


def service_of(sim, name):
    return ecs(sim).describe_services(cluster="prod", services=[name])["services"][0]


def primary_td(sim, name):
    """The task definition of the service's PRIMARY task set (checked to be the service's too)."""
    s = service_of(sim, name)
    primary = [ts for ts in s.get("taskSets", []) if ts["status"] == "PRIMARY"]
    check_eq(len(primary), 1, "one PRIMARY task set of %s: %s" % (name, s.get("taskSets")))
    check_eq(s["taskDefinition"], primary[0]["taskDefinition"], "%s: the service's task definition is the "
             "PRIMARY task set's" % name)
    return primary[0]["taskDefinition"]


def image_of(sim, td, container="app"):
    t = ecs(sim).describe_task_definition(taskDefinition=td)["taskDefinition"]
    images = [c["image"] for c in t["containerDefinitions"] if c["name"] == container]
    check_eq(len(images), 1, "one container %s in %s" % (container, td))
    return images[0]


def properties(req):
    """The TargetService properties of a CreateDeployment's AppSpec (checked for its shape)."""
    rev = req["params"].get("revision") or {}
    check_eq(rev.get("revisionType"), "AppSpecContent", "revisionType")
    spec = json.loads(rev["appSpecContent"]["content"])
    res = spec.get("Resources")
    check(isinstance(res, list) and len(res) == 1 and len(res[0]) == 1, "one resource in the AppSpec: %s" % spec)
    (_, tgt), = res[0].items()
    check_eq(tgt.get("Type"), "AWS::ECS::Service", "the resource's type")
    return tgt["Properties"]


def ended(p, service):
    return events(p, DEPLOY_COMPLETED, service) or events(p, DEPLOY_FAILED, service)


def rolled_back(p, service):
    return events(p, ROLLBACK_COMPLETED, service) or events(p, ROLLBACK_FAILED, service)


def one_more_cycle(p):
    """Polls at once and waits until that cycle is over."""
    n = p.read_stderr().count("poll cycle:")
    poll_now(p)
    wait_for(lambda: p.read_stderr().count("poll cycle:") > n, 20, "a poll cycle")


def never_again(ctx, sim, p, service, digest, group_name):
    """The digest failed on the service: marked so, and a later poll neither registers nor creates."""
    since = last_request(sim)
    one_more_cycle(p)
    wait_for(lambda: [l for l in lines_with(p, "failed on service '%s' before" % service) if digest in l], 15,
             "the next cycle leaves %s alone on %s" % (digest, service))
    check_eq(creates(sim, group_name, since), [], "%s: no CreateDeployment after the failure" % service)
    check_eq(daemon_calls(sim, since, "RegisterTaskDefinition", service), [], "%s: nothing registered again" % service)
    check(digest in failed_digests(ctx, service), "%s: the digest is marked failed" % service)


def check_progress(sim, p, service, dep_id, bakes=False):
    """DEPLOY_PROGRESS of one service: of our deployment, each saying something the one before did
    not (a change of status, lifecycle event, traffic weight or overview, not a poll), lifecycle
    events in CodeDeploy's order, none but the last and all the traffic once Baking or Succeeded,
    and CODEDEPLOY_OVERVIEW with CodeDeploy's deploymentOverview counts."""
    prog = events(p, DEPLOY_PROGRESS, service)
    check(prog, "DEPLOY_PROGRESS for %s" % service)
    said, order = [], []
    for line, f in prog:
        check_eq(f.get("CODEDEPLOY_DEPLOYMENT_ID"), dep_id, "the deployment of DEPLOY_PROGRESS: " + line)
        check(f.get("CODEDEPLOY_STATUS") in STATUSES, "a status CodeDeploy has: " + line)
        ev = f.get("LIFECYCLE_EVENT")
        if ev:
            check(ev in LIFECYCLE, "a lifecycle event of ECS deployments: " + line)
            order.append(LIFECYCLE.index(ev))
        ov = f.get("CODEDEPLOY_OVERVIEW")
        check(ov and OVERVIEW.fullmatch(ov), "CODEDEPLOY_OVERVIEW in its documented form: " + line)
        counts = dict(kv.split("=") for kv in ov.split())
        # awssim's deployment has one ECS target, in the state CodeDeploy maps the status to
        check_eq(counts, dict({k: "0" for k in counts}, **{TARGET_STATE[f["CODEDEPLOY_STATUS"]]: "1"}),
                 "the overview of a deployment %s: %s" % (f["CODEDEPLOY_STATUS"], line))
        said.append((f.get("CODEDEPLOY_STATUS"), ev, f.get("PRODUCTION_TRAFFIC_WEIGHT"), ov))
    for a, b in zip(said, said[1:]):
        check(a != b, "two DEPLOY_PROGRESS in a row saying %s for %s: %s" % (a, service, said))
    check_eq(order, sorted(order), "%s: lifecycle events in their order" % service)
    polls = [r for r in cd_calls(sim) if r["operation"] in ("GetDeployment", "BatchGetDeployments")
             and dep_id in json.dumps(r["params"])]
    check(polls, "the daemon read %s" % dep_id)
    if bakes:
        check("Baking" in [st for st, _, _, _ in said], "%s: the Baking status said: %s" % (service, said))
    # Baking and Succeeded come after every lifecycle event, with all the traffic moved: a progress
    # line that says otherwise tells of a target read long before.
    for st, ev, weight, _ in said:
        if st in ("Baking", "Succeeded"):
            check(ev in (None, LIFECYCLE[-1]), "%s: the lifecycle event when %s: %s" % (service, st, ev))
            check(weight is None or float(weight.rstrip("%")) == 100.0, "%s: all production traffic when %s: %s"
                  % (service, st, weight))
    return said


def daemon(ctx, sim, targets, args=(), settle=True, **settings):
    if settle:
        return launch(ctx, sim, targets, args, **settings)
    return start(ctx, sim, [watch(*targets)], args=args, **settings)


def fail_next(sim, group_name, event, message, app=APP, count=1):
    sim.control("POST", "/codedeploy-fail", {"application": app, "deployment_group": group_name,
                                             "lifecycle_event": event, "count": count, "message": message})


def first(p, message_id, service):
    got = events(p, message_id, service)
    check(got, "%s said for %s" % (message_id, service))
    return got[0]


# -- success --------------------------------------------------------------------------------------

def test_push_registers_one_pinned_revision_and_makes_one_deployment_tracked_to_success(ctx):
    """Three services: web (Fargate, network configuration, platform version), web-ec2 (EC2,
    neither; container, port and deployment config given) and web-cp (capacity provider strategy,
    network configuration); container and port from the load balancer unless given. Each: one
    pinned revision, one CreateDeployment with its AppSpec, tracked to Succeeded, its PRIMARY task
    set on the new revision, no UpdateService, no discovery call."""
    names = ("web", "web-ec2", "web-cp")
    services = [cd_service("web"), cd_service("web-ec2", awsvpc=False), cd_service("web-cp", capacity=True)]
    # web-ec2 bakes for 15 minutes (3 s): Baking said, and no completion before it ends.
    sim, v1 = cd_world(ctx, services, {APP: [group("web"), group("web-ec2", bake=15), group("web-cp")]})
    targets = [cd_target("web", named("web")),
               cd_target("web-ec2", dict(named("web-ec2"), container="app", port=LB_PORT,
                                         deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes")),
               cd_target("web-cp", named("web-cp"))]
    p = daemon(ctx, sim, targets)
    since = last_request(sim)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    at_done = {}

    def cond():
        # What CodeDeploy says the moment DEPLOY_COMPLETED is seen: web-ec2 bakes 3 s before.
        for s in names:
            if s not in at_done and events(p, DEPLOY_COMPLETED, s):
                at_done[s] = [info(sim, d)["status"] for d in deployments(sim, s + "-dg")]
        # Every DEPLOY_COMPLETED looked at, not only seen ended (one may end between the two).
        return len(at_done) == len(names) and all(ended(p, s) for s in names)
    wait_for(cond, 40, "the three rollouts end")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(at_done, {s: ["Succeeded"] for s in names}, "CodeDeploy's status when DEPLOY_COMPLETED is said")
    for name in names:
        regs = daemon_calls(sim, since, "RegisterTaskDefinition", name)
        check_eq(len(regs), 1, "%s: one RegisterTaskDefinition" % name)
        arn = td_arn(name, 2)
        check_eq(image_of(sim, arn), REPO_URI + "team/web@" + new, "%s: the revision pins the digest" % name)
        tags = {t["key"]: t["value"] for t in ecs(sim).describe_task_definition(
            taskDefinition=arn, include=["TAGS"])["tags"]}
        check_eq((tags.get("ecr-deployd:digest"), tags.get("team")), (new, "web"), "%s: our tags and its own" % name)
        made = creates(sim, name + "-dg", since)
        check_eq(len(made), 1, "%s: one CreateDeployment" % name)
        params = made[0]["params"]
        check_eq(params.get("applicationName"), APP, "%s: the application" % name)
        check(re.fullmatch(r"ecr-deployd [0-9a-f]{16} %s for web" % re.escape(new), params.get("description", "")),
              "%s: the description marks the deployment ours: %r" % (name, params.get("description")))
        want = {"TaskDefinition": arn, "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": LB_PORT}}
        if name != "web-ec2":
            want["NetworkConfiguration"] = {"AwsvpcConfiguration": {
                "Subnets": NETWORK["awsvpcConfiguration"]["subnets"],
                "SecurityGroups": NETWORK["awsvpcConfiguration"]["securityGroups"], "AssignPublicIp": "DISABLED"}}
        if name == "web":
            want["PlatformVersion"] = "1.4.0"
        if name == "web-cp":
            want["CapacityProviderStrategy"] = [{"CapacityProvider": c["capacityProvider"], "Weight": c["weight"],
                                                 "Base": c["base"]} for c in CAPACITY]
        check_eq(properties(made[0]), want, "%s: the AppSpec's properties" % name)
        dep = ours(sim, name + "-dg")
        # web-ec2: the target's; the others: the group's own (sent or not).
        check_eq((params.get("deploymentConfigName") if name == "web-ec2" else None,
                  info(sim, dep)["deploymentConfigName"]),
                 ("CodeDeployDefault.ECSCanary10Percent5Minutes",) * 2 if name == "web-ec2" else
                 (None, "CodeDeployDefault.ECSAllAtOnce"), "%s: the deployment config" % name)
        check_eq(deployments(sim, name + "-dg"), [dep], "%s: one deployment in the group" % name)
        check_eq(info(sim, dep)["status"], "Succeeded", "%s: CodeDeploy says Succeeded" % name)
        line, done = first(p, DEPLOY_COMPLETED, name)
        check_eq((done.get("IMAGE_DIGEST"), done.get("CODEDEPLOY_DEPLOYMENT_ID")), (new, dep),
                 "%s: DEPLOY_COMPLETED names the digest and the deployment: %s" % (name, line))
        for k, v in (("CODEDEPLOY_APPLICATION", APP), ("CODEDEPLOY_DEPLOYMENT_GROUP", name + "-dg"),
                     ("STRATEGY", "codedeploy")):
            check(done.get(k) in (None, v), "%s: %s=%s: %s" % (name, k, v, line))
        check(events(p, DEPLOY_STARTED, name), "%s: DEPLOY_STARTED" % name)
        check_eq(primary_td(sim, name), arn, "%s: the PRIMARY task set runs the new revision" % name)
        check_progress(sim, p, name, dep, bakes=name == "web-ec2")
        out = p.read_stderr()
        for l, _ in events(p, DEPLOY_PROGRESS, name):
            check(out.index(l) < out.index(line), "%s: progress before completion: %s" % (name, l))
    check_eq(daemon_calls(sim, 0, "UpdateService"), [], "no UpdateService ever sent")
    check_eq([r["operation"] for r in cd_calls(sim) if r["operation"] in DISCOVERY[:2]], [],
             "the configured application and groups are used without a discovery call")
    check_eq(cd_calls(sim, "StopDeployment") + cd_calls(sim, "ContinueDeployment"), [], "nothing stopped or continued")


def test_reads_are_batched_and_a_target_container_and_port_override_the_load_balancer(ctx):
    """web-a and web-b shift traffic linearly at the same time, one started 0.7 s after the other: a
    BatchGetDeployments carries both deployment ids. web-o's target gives container app and port 8080 where the service's
    loadBalancers[] says app:9090: the AppSpec carries the target's, which CodeDeploy refuses
    (InvalidRevisionException: not the load balancer's): web-o is BLOCKED naming the refusal, no
    deployment made, its digest not marked failed."""
    names = ("web-a", "web-b")
    sim, v1 = cd_world(ctx, [cd_service(n) for n in names] + [cd_service("web-o")],
                       {APP: [group(n, config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes") for n in names]
                        + [group("web-o")]}, settings={"codedeploy_minute_seconds": 0.5})
    check_eq(service_of(sim, "web-o")["loadBalancers"][0]["containerPort"], LB_PORT, "the load balancer's port")
    p = daemon(ctx, sim, [cd_target(n, named(n)) for n in names] +
               [cd_target("web-o", dict(named("web-o"), container="app", port=8080))])
    # one CreateDeployment answered 0.7 s late: the two rollouts track on timelines apart, and are
    # read together only because a look due soon joins one going out now
    sim.fault("codedeploy.CreateDeployment", "delay", delay=0.7, count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(ended(p, n) for n in names) and events(p, BLOCKED, "web-o"), 40,
             "web-a and web-b end, web-o BLOCKED")
    for n in names:
        check_eq(first(p, DEPLOY_COMPLETED, n)[1].get("IMAGE_DIGEST"), new, "%s: DEPLOY_COMPLETED" % n)
    both = {ours(sim, n + "-dg") for n in names}
    batched = [r["params"]["deploymentIds"] for r in cd_calls(sim, "BatchGetDeployments")
               if both <= set(r["params"].get("deploymentIds") or [])]
    check(batched, "a BatchGetDeployments carries both deployments %s: %s" % (
        sorted(both), [r["params"] for r in cd_calls(sim, "BatchGetDeployments")]))
    made = [r for r in cd_calls(sim, "CreateDeployment") if r["params"].get("deploymentGroupName") == "web-o-dg"]
    check_eq(len(made), 1, "web-o: one CreateDeployment")
    check_eq(properties(made[0])["LoadBalancerInfo"], {"ContainerName": "app", "ContainerPort": 8080},
             "web-o: the AppSpec names the target's container and port")
    line, f = first(p, BLOCKED, "web-o")
    check("InvalidRevisionException" in line and "CreateDeployment" in line,
          "BLOCKED names CodeDeploy's refusal of CreateDeployment: " + line)
    check_eq(deployments(sim, "web-o-dg"), [], "web-o: no deployment")
    check_eq(events(p, DEPLOY_FAILED, "web-o"), [], "web-o: no DEPLOY_FAILED")
    check(new not in failed_digests(ctx, "web-o"), "web-o: the digest is not marked failed")


# -- failures ------------------------------------------------------------------------------------

HOOK_MESSAGE = "smoke test of the green tasks: GET /health answered 503"


def test_failure_follows_codedeploys_rollback_and_the_digest_is_never_deployed_again(ctx):
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    fail_next(sim, "web-dg", "AfterAllowTestTraffic", HOOK_MESSAGE)
    bad = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rolled_back(p, "web"), 40, "the rollback ends")
    dep = ours(sim, "web-dg")
    d = info(sim, dep)
    check_eq(d["status"], "Failed", "CodeDeploy says Failed")
    rb = d["rollbackInfo"]["rollbackDeploymentId"]
    failed = events(p, DEPLOY_FAILED, "web")
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    line, f = failed[0]
    check_eq((f.get("IMAGE_DIGEST"), f.get("CODEDEPLOY_DEPLOYMENT_ID")), (bad, dep), "of our deployment: " + line)
    check_eq(f.get("CODEDEPLOY_ERROR_CODE"), d["errorInformation"]["code"], "errorInformation's code: " + line)
    check(d["errorInformation"]["message"] in line, "quotes errorInformation's message %r: %s"
          % (d["errorInformation"]["message"], line))
    event = failed_event(sim, dep)
    check_eq(event["lifecycleEventName"], "AfterAllowTestTraffic", "the lifecycle event that failed")
    for k in ("message", "scriptName"):
        check(event["diagnostics"][k] in line, "quotes the failing lifecycle event's %s %r: %s"
              % (k, event["diagnostics"][k], line))
    check(f.get("LIFECYCLE_EVENT") == "AfterAllowTestTraffic" or "AfterAllowTestTraffic" in line,
          "names the failing lifecycle event: " + line)
    for mid in (ROLLBACK_STARTED, ROLLBACK_COMPLETED):
        l, rf = first(p, mid, "web")
        check_eq(rf.get("ROLLBACK_DEPLOYMENT_ID"), rb, "CodeDeploy's rollback deployment: " + l)
    check_eq(lines_with(p, ROLLBACK_FAILED), [], "no ROLLBACK_FAILED")
    check_eq(info(sim, rb)["status"], "Succeeded", "the rollback deployment succeeded")
    check_eq(len(creates(sim)), 1, "one CreateDeployment: CodeDeploy's rollback is followed, not made again")
    check_eq(cd_calls(sim, "StopDeployment"), [], "nothing stopped")
    check_eq(primary_td(sim, "web"), td_arn("web", 1), "the PRIMARY task set runs the revision from before")
    check_eq(events(p, DEPLOY_COMPLETED, "web"), [], "not completed")
    never_again(ctx, sim, p, "web", bad, "web-dg")


def test_failure_without_codedeploys_rollback_deploys_the_previous_revision(ctx):
    """Groups without automatic rollback, the hook before the traffic moves fails: our rollback is
    a CodeDeploy deployment of a revision that runs the digest from before: the one that ran when
    it pins it (web), a revision pinning it when the one that ran names the tag (web-tag), which
    now names the failed digest."""
    names = ("web", "web-tag")
    sim, v1 = cd_world(ctx, [cd_service(n) for n in names], {APP: [group(n, rollback=False) for n in names]},
                       pinned=("web",))
    p = daemon(ctx, sim, [cd_target(n, named(n)) for n in names])
    for n in names:
        fail_next(sim, n + "-dg", "BeforeAllowTraffic", HOOK_MESSAGE)
    bad = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(rolled_back(p, n) for n in names), 40, "the rollbacks end")
    check_eq(lines_with(p, ROLLBACK_FAILED), [], "no ROLLBACK_FAILED")
    for n in names:
        made = creates(sim, n + "-dg")
        check_eq(len(made), 2, "%s: two CreateDeployment: ours, then our rollback" % n)
        check_eq(properties(made[0])["TaskDefinition"], td_arn(n, 2), "%s: the first deploys the new revision" % n)
        back = properties(made[1])["TaskDefinition"]
        check_eq(image_of(sim, back), REPO_URI + "team/web@" + v1, "%s: the rollback deploys the digest from before"
                 % n)
        ids = deployments(sim, n + "-dg")
        check_eq(len(ids), 2, "%s: two deployments in the group" % n)
        first_dep = [i for i in ids if bad in (info(sim, i).get("description") or "")]
        check_eq(len(first_dep), 1, "%s: one deployment of the failed digest" % n)
        check("rollbackInfo" not in info(sim, first_dep[0]), "%s: CodeDeploy rolled nothing back" % n)
        rb = [i for i in ids if i != first_dep[0]][0]
        check_eq(info(sim, rb)["status"], "Succeeded", "%s: our rollback deployment succeeded" % n)
        line, f = first(p, DEPLOY_FAILED, n)
        check(HOOK_MESSAGE in line and "BeforeAllowTraffic" in line, "the failing lifecycle event quoted: " + line)
        l, rf = first(p, ROLLBACK_COMPLETED, n)
        check_eq(rf.get("ROLLBACK_DEPLOYMENT_ID"), rb, "ROLLBACK_COMPLETED names our rollback deployment: " + l)
        check(events(p, ROLLBACK_STARTED, n), "%s: ROLLBACK_STARTED" % n)
        check_eq(image_of(sim, primary_td(sim, n)), REPO_URI + "team/web@" + v1,
                 "%s: the PRIMARY task set runs the digest from before" % n)
    check_eq(daemon_calls(sim, 0, "UpdateService"), [], "no UpdateService")
    for n in names:
        never_again(ctx, sim, p, n, bad, n + "-dg")


def test_rollout_timeout_stops_the_deployment_with_rollback(ctx):
    """Ten minutes of linear traffic shifting (20 s here) against a rollout timeout of 10 s:
    StopDeployment with autoRollbackEnabled, CodeDeploy's rollback followed."""
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 2.0})
    p = daemon(ctx, sim, [cd_target("web", named("web"), rollout_timeout="10s")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rolled_back(p, "web") or events(p, DEPLOY_COMPLETED, "web"), 40, "the rollback ends")
    check_eq(events(p, DEPLOY_COMPLETED, "web"), [], "not completed")
    dep = ours(sim, "web-dg")
    stops = cd_calls(sim, "StopDeployment")
    check_eq([(s["params"].get("deploymentId"), s["params"].get("autoRollbackEnabled")) for s in stops],
             [(dep, True)], "one StopDeployment of our deployment, with rollback")
    d = info(sim, dep)
    check_eq(d["status"], "Stopped", "CodeDeploy says Stopped")
    rb = d["rollbackInfo"]["rollbackDeploymentId"]
    line, f = first(p, DEPLOY_FAILED, "web")
    check("timeout" in line, "DEPLOY_FAILED says the rollout timed out: " + line)
    check_eq((f.get("IMAGE_DIGEST"), f.get("CODEDEPLOY_DEPLOYMENT_ID")), (new, dep), "of our deployment: " + line)
    l, rf = first(p, ROLLBACK_COMPLETED, "web")
    check_eq(rf.get("ROLLBACK_DEPLOYMENT_ID"), rb, "the rollback followed: " + l)
    check(events(p, ROLLBACK_STARTED, "web"), "ROLLBACK_STARTED")
    check_eq(lines_with(p, ROLLBACK_FAILED), [], "no ROLLBACK_FAILED")
    check_eq(len(creates(sim)), 1, "one CreateDeployment")
    check_eq(primary_td(sim, "web"), td_arn("web", 1), "the PRIMARY task set runs the revision from before")
    check(new in failed_digests(ctx, "web"), "the digest is marked failed")
    # Six seconds into the shift (10% every 2 s), a look at the target finds part of the traffic moved.
    weights = [float(f["PRODUCTION_TRAFFIC_WEIGHT"].rstrip("%")) for _, f in events(p, DEPLOY_PROGRESS, "web")
               if f.get("PRODUCTION_TRAFFIC_WEIGHT")]
    check([w for w in weights if 0 < w < 100], "DEPLOY_PROGRESS tells of the traffic shift under way: weights %s"
          % weights)
    check_eq(weights, sorted(weights), "the weight only grows")


def test_rollout_timeout_with_rollback_none_asks_codedeploy_for_no_rollback(ctx):
    """"rollback": "none" and a rollout timeout of 10 s against 20 s of traffic shifting: DEPLOY_FAILED
    (timeout), the digest marked failed, and no rollback asked for: no StopDeployment with
    autoRollbackEnabled, no deployment of the revision from before, no ROLLBACK_STARTED."""
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 2.0})
    p = daemon(ctx, sim, [cd_target("web", named("web"), rollout_timeout="10s", rollback="none")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, DEPLOY_FAILED, "web") and rollout_step(ctx) is None, 40,
             "DEPLOY_FAILED, the rollout over")
    line, f = first(p, DEPLOY_FAILED, "web")
    check("timeout" in line, "DEPLOY_FAILED says the rollout timed out: " + line)
    dep = ours(sim, "web-dg")
    check_eq([(s["params"].get("deploymentId"), s["params"].get("autoRollbackEnabled"))
              for s in cd_calls(sim, "StopDeployment") if s["params"].get("autoRollbackEnabled") is not False],
             [], "no StopDeployment that asks CodeDeploy for its rollback")
    check("rollbackInfo" not in info(sim, dep), "CodeDeploy rolls nothing back: %s" % info(sim, dep))
    check_eq(len(creates(sim)), 1, "one CreateDeployment: no rollback of ours")
    check_eq(events(p, ROLLBACK_STARTED, "web") + events(p, DEPLOY_COMPLETED, "web"), [],
             "no ROLLBACK_STARTED, no DEPLOY_COMPLETED")
    check(new in failed_digests(ctx, "web"), "the digest is marked failed")


# -- Ready waits ---------------------------------------------------------------------------------

def ctl_bin():
    return os.path.join(os.path.dirname(daemon_path()), "ecr-deployctl")


def test_ready_wait_approved_rejected_and_auto(ctx):
    """Three services whose groups wait at Ready (STOP_DEPLOYMENT after 120 minutes, 24 s here):
    web-a approved with ecr-deployctl approve, web-r rejected, web-auto continued by the daemon."""
    names = ("web-a", "web-r", "web-auto")
    sim, v1 = cd_world(ctx, [cd_service(n) for n in names], {APP: [group(n, ready=120) for n in names]})
    p = daemon(ctx, sim, [cd_target("web-a", named("web-a")), cd_target("web-r", named("web-r")),
                          cd_target("web-auto", named("web-auto"), approve="auto")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web-a") and events(p, AWAITING_APPROVAL, "web-r"), 30,
             "AWAITING_APPROVAL for web-a and web-r")
    dep = {n: ours(sim, n + "-dg") for n in names}
    for n in ("web-a", "web-r"):
        line, f = first(p, AWAITING_APPROVAL, n)
        check_eq(f.get("CODEDEPLOY_DEPLOYMENT_ID"), dep[n], "%s: AWAITING_APPROVAL names the deployment: %s"
                 % (n, line))
        check_eq(info(sim, dep[n])["status"], "Ready", "%s: CodeDeploy waits at Ready" % n)
    # Read again while it waits (one DEPLOY_PROGRESS per change, not per read).
    since = last_request(sim)
    wait_for(lambda: len([r for r in cd_calls(sim, since=since) if r["operation"] in ("GetDeployment",
                          "BatchGetDeployments") and dep["web-a"] in json.dumps(r["params"])]) >= 2, 20,
             "two more reads of web-a's deployment while it waits")
    check_eq(info(sim, dep["web-a"])["status"], "Ready", "web-a: still Ready")
    check_eq(len([f for _, f in events(p, DEPLOY_PROGRESS, "web-a") if f.get("CODEDEPLOY_STATUS") == "Ready"]), 1,
             "web-a: one DEPLOY_PROGRESS says Ready")
    check_eq(len(events(p, AWAITING_APPROVAL, "web-a")), 1, "web-a: AWAITING_APPROVAL said once")
    manual = [c for c in cd_calls(sim, "ContinueDeployment") if c["params"].get("deploymentId") != dep["web-auto"]]
    check_eq(manual, [], "nothing continued before an approval")
    env = dict(os.environ, ECR_DEPLOYCTL_SOCKET=ctx.control_socket())
    status, out, err = ctx.run([ctl_bin(), "approve", "web/web-a"], timeout=60, env=env)
    check_eq(status, 0, "ecr-deployctl approve: %s %s" % (out, err))
    check("CodeDeploy deployment %s" % dep["web-a"] in out and "ContinueDeployment READY_WAIT" in out,
          "ecr-deployctl approve names the deployment and the call: %s" % out)
    wait_for(lambda: [c for c in cd_calls(sim, "ContinueDeployment")
                      if c["params"].get("deploymentId") == dep["web-a"]], 5, "the ContinueDeployment in the log")
    status, out, err = ctx.run([ctl_bin(), "reject", "web/web-r"], timeout=60, env=env)
    check_eq(status, 0, "ecr-deployctl reject: %s %s" % (out, err))
    check("CodeDeploy deployment %s" % dep["web-r"] in out and "StopDeployment" in out,
          "ecr-deployctl reject names the deployment and the call: %s" % out)
    wait_for(lambda: all(ended(p, n) for n in names) and rolled_back(p, "web-r"), 40, "the three rollouts end")
    cont = cd_calls(sim, "ContinueDeployment")
    check_eq(sorted((c["params"].get("deploymentId"), c["params"].get("deploymentWaitType")) for c in cont),
             sorted([(dep["web-a"], "READY_WAIT"), (dep["web-auto"], "READY_WAIT")]),
             "one ContinueDeployment READY_WAIT each for web-a (approved) and web-auto (auto)")
    stops = cd_calls(sim, "StopDeployment")
    check_eq([(s["params"].get("deploymentId"), s["params"].get("autoRollbackEnabled")) for s in stops],
             [(dep["web-r"], True)], "web-r: one StopDeployment with rollback")
    for n in ("web-a", "web-auto"):
        check_eq(info(sim, dep[n])["status"], "Succeeded", "%s: Succeeded" % n)
        check_eq(first(p, DEPLOY_COMPLETED, n)[1].get("IMAGE_DIGEST"), new, "%s: DEPLOY_COMPLETED" % n)
        check_eq(primary_td(sim, n), td_arn(n, 2), "%s: the PRIMARY task set runs the new revision" % n)
    aw = events(p, AWAITING_APPROVAL, "web-auto")
    check(aw and aw[0][1].get("APPROVE") == "auto", "web-auto: AWAITING_APPROVAL with APPROVE=auto: %s" % aw)
    check_eq(info(sim, dep["web-r"])["status"], "Stopped", "web-r: Stopped")
    check(events(p, ROLLBACK_COMPLETED, "web-r"), "web-r: ROLLBACK_COMPLETED")
    check_eq(events(p, DEPLOY_COMPLETED, "web-r"), [], "web-r: not completed")
    check_eq(primary_td(sim, "web-r"), td_arn("web-r", 1), "web-r: the PRIMARY task set runs the revision from before")
    check(new in failed_digests(ctx, "web-r"), "web-r: the rejected digest is marked failed")
    for n in ("web-a", "web-auto"):
        check_progress(sim, p, n, dep[n])


def test_one_shot_approve_and_reject_answer_the_ready_deployment_without_the_daemon(ctx):
    """ecr-deployd --approve / --reject with the daemon stopped: the named group's Ready deployment
    gets ContinueDeployment(READY_WAIT) or StopDeployment with rollback; a group with nothing Ready
    exits 1 and a target whose group is found by the daemon exits 78, both sending nothing."""
    names = ("web-a", "web-r", "web-d")
    sim, v1 = cd_world(ctx, [cd_service(n) for n in names], {APP: [group(n, ready=120) for n in names]})
    targets = [cd_target("web-a", named("web-a")), cd_target("web-r", named("web-r")), cd_target("web-d")]
    p = daemon(ctx, sim, targets)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(events(p, AWAITING_APPROVAL, n) for n in names), 30, "AWAITING_APPROVAL for all three")
    p.stop()
    dep = {n: ours(sim, n + "-dg") for n in names}
    conf = ctx.path("etc", "ecr-deployd.json")

    def one_shot(*args):
        return ctx.run([daemon_path(), "-c", conf] + list(args), env=daemon_env(ctx, sim), timeout=30)

    status, out, err = one_shot("--approve", "web/web-d")
    check_eq(status, 78, "a discovered group is left to the daemon (stderr %r)" % err)
    check("ecr-deployctl approve" in err and "nothing sent" in err, err)
    status, out, err = one_shot("--approve", "web/web-a")
    check_eq(status, 0, "--approve (stderr %r)" % err)
    check(dep["web-a"] in out and "ContinueDeployment READY_WAIT" in out, out)
    status, out, err = one_shot("--reject", "web/web-r")
    check_eq(status, 0, "--reject (stderr %r)" % err)
    check(dep["web-r"] in out and "StopDeployment" in out, out)
    wait_for(lambda: info(sim, dep["web-a"])["status"] == "Succeeded", 30, "web-a Succeeded")
    check_eq(info(sim, dep["web-r"])["status"], "Stopped", "web-r: Stopped")
    check_eq(info(sim, dep["web-d"])["status"], "Ready", "web-d: still Ready")
    status, out, err = one_shot("--approve", "web/web-a")
    check_eq(status, 1, "nothing Ready any more (stderr %r)" % err)
    check("is Ready" in err and "nothing sent" in err, err)
    check_eq([(c["params"]["deploymentId"], c["params"].get("deploymentWaitType"))
              for c in cd_calls(sim, "ContinueDeployment")], [(dep["web-a"], "READY_WAIT")],
             "one ContinueDeployment, web-a's")
    check_eq([(c["params"]["deploymentId"], c["params"].get("autoRollbackEnabled"))
              for c in cd_calls(sim, "StopDeployment")], [(dep["web-r"], True)], "one StopDeployment, web-r's")


def test_a_ready_wait_holds_the_rollout_timeout(ctx):
    """A rollout timeout of 10 s and a Ready wait of 120 minutes (24 s): the time at Ready does not
    count, as at an ECS PAUSE hook. Read on past the deadline, the deployment is neither stopped
    nor said failed; an approval after the deadline then takes it to DEPLOY_COMPLETED within the
    time that was left when it became Ready (a timeout counted from the start would stop it at the
    first look after the approval)."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    p = daemon(ctx, sim, [cd_target("web", named("web"), rollout_timeout="10s")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 20, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    with open(record_file(ctx)) as f:
        deadline = json.load(f)["rollout"]["deadline"]
    wait_for(lambda: time.time() > deadline + 1, 15, "the rollout timeout passed", interval=0.2)
    since = last_request(sim)
    wait_for(lambda: [r for r in cd_calls(sim, since=since) if r["operation"] in
                      ("GetDeployment", "BatchGetDeployments") and dep in json.dumps(r["params"])],
             20, "a read of the deployment after the deadline")
    check_eq(info(sim, dep)["status"], "Ready", "still Ready")
    check_eq(cd_calls(sim, "StopDeployment"), [], "no StopDeployment while it waits")
    check_eq(events(p, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED while it waits")
    check(approve(ctx, "web/web"), "ecr-deployctl approve")
    wait_for(lambda: ended(p, "web"), 20, "the rollout ends")
    check_eq(events(p, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_eq(first(p, DEPLOY_COMPLETED, "web")[1].get("IMAGE_DIGEST"), new, "DEPLOY_COMPLETED")
    check_eq(info(sim, dep)["status"], "Succeeded", "Succeeded")
    check_eq(cd_calls(sim, "StopDeployment"), [], "nothing stopped")


# -- crash safety --------------------------------------------------------------------------------

def check_one_deployment(sim, p, new, group_name="web-dg"):
    dep = ours(sim, group_name)
    check_eq(deployments(sim, group_name), [dep], "one deployment in the group")
    check_eq(len(creates(sim, group_name)), 1, "one CreateDeployment carried out")
    check_eq(info(sim, dep)["status"], "Succeeded", "Succeeded")
    done = events(p, DEPLOY_COMPLETED, "web")
    check_eq(len(done), 1, "one DEPLOY_COMPLETED")
    check_eq((done[0][1].get("IMAGE_DIGEST"), done[0][1].get("CODEDEPLOY_DEPLOYMENT_ID")), (new, dep),
             "DEPLOY_COMPLETED of our one deployment: " + done[0][0])
    check_eq(len(daemon_calls(sim, 0, "RegisterTaskDefinition")), 1, "one RegisterTaskDefinition")
    check_eq(primary_td(sim, "web"), td_arn("web", 2), "the PRIMARY task set runs the new revision")


def test_lost_create_deployment_reply_makes_no_second_deployment(ctx):
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    sim.fault("codedeploy.CreateDeployment", "malformed-json", count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: ended(p, "web"), 40, "the rollout ends")
    check_eq(events(p, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check([r for r in cd_calls(sim, "CreateDeployment") if r.get("fault")], "the reply was garbled")
    check(cd_calls(sim, "ListDeployments"), "the daemon looked for its deployment")
    check_one_deployment(sim, p, new)


def rollout_step(ctx):
    d = ctx.path("state", "rollouts")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith(".json"):
            try:
                with open(os.path.join(d, name)) as f:
                    return json.load(f)["rollout"].get("step")
            except (OSError, ValueError, KeyError):
                return None
    return None


def restart(ctx, sim, p, targets, step, between=None):
    """kill -9, then a start that resumes the rollout at step: the step the record names after the
    kill, and the one the restarted daemon says it resumes at. between: run after the kill, before
    the start (a wait for a call in flight to be carried out)."""
    p.signal(signal.SIGKILL)
    p.wait(5)
    if between:
        between()
    check_eq(rollout_step(ctx), step, "the record's step after the kill")
    q = daemon(ctx, sim, targets, settle=False)
    line = wait_for(lambda: lines_with(q, "resuming the rollout"), 15, "the resume")[0]
    check("at step '%s'" % step in line, "resumed at step %s: %s" % (step, line))
    return q


def test_kill_9_while_create_deployment_is_sent_makes_one_deployment(ctx):
    """kill -9 while CreateDeployment is slow to answer (the simulator carries it out); the restart
    finds the deployment by its description and tracks it."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    sim.fault("codedeploy.CreateDeployment", "delay", delay=2.0, count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "creating" and
             "CreateDeployment" in sim.control("GET", "/health")["inflight_ops"], 20,
             "step creating, CreateDeployment sent")
    q = restart(ctx, sim, p, targets, "creating", between=lambda: wait_for(
        lambda: sim.control("GET", "/health")["inflight"] == 0 and creates(sim), 15,
        "the delayed CreateDeployment carried out"))
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_one_deployment(sim, q, new)


def test_kill_9_while_tracking_resumes_and_completes_once(ctx):
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "cd-tracking" and [r for r in cd_calls(sim) if r["operation"] in
                                                           ("GetDeployment", "BatchGetDeployments")], 20,
             "step cd-tracking, the deployment read")
    check_eq(ended(p, "web"), [], "still in flight at the kill")
    q = restart(ctx, sim, p, targets, "cd-tracking")
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_eq(events(p, DEPLOY_COMPLETED, "web"), [], "nothing completed before the kill")
    check_one_deployment(sim, q, new)


def record_file(ctx):
    d = ctx.path("state", "rollouts")
    names = sorted(n for n in os.listdir(d) if n.endswith(".json")) if os.path.isdir(d) else []
    check_eq(len(names), 1, "one rollout record in %s" % d)
    return os.path.join(d, names[0])


def has_td(sim, family, revision):
    try:
        ecs(sim).describe_task_definition(taskDefinition="%s:%d" % (family, revision))
        return True
    except Exception:
        return False


def approve(ctx, target):
    env = dict(os.environ, ECR_DEPLOYCTL_SOCKET=ctx.control_socket())
    return ctx.run([ctl_bin(), "approve", target], timeout=30, env=env)[0] == 0


def test_kill_9_while_registering_registers_and_deploys_once(ctx):
    """kill -9 while RegisterTaskDefinition is in flight (carried out, its reply held): the restart
    at step registering finds the revision made, registers nothing again and makes one deployment."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    sim.fault("ecs.RegisterTaskDefinition", "blackhole-after", count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "registering" and has_td(sim, "web", 2), 20,
             "step registering, the revision made, its reply held")
    q = restart(ctx, sim, p, targets, "registering")
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_one_deployment(sim, q, new)


def test_kill_9_while_awaiting_ready_approval_waits_again_and_is_approved_once(ctx):
    """kill -9 while a Ready deployment awaits an operator: the restart at cd-tracking reads it
    Ready again and takes an approval (ContinueDeployment READY_WAIT, once); one deployment."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 30, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    q = restart(ctx, sim, p, targets, "cd-tracking")
    # Refused, sending nothing, until the restarted daemon has read the deployment Ready again.
    wait_for(lambda: approve(ctx, "web/web"), 20, "an approval the restarted daemon takes", interval=0.3)
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_eq([(c["params"].get("deploymentId"), c["params"].get("deploymentWaitType"))
              for c in cd_calls(sim, "ContinueDeployment")], [(dep, "READY_WAIT")], "one ContinueDeployment")
    check_eq(cd_calls(sim, "StopDeployment"), [], "nothing stopped")
    check_one_deployment(sim, q, new)


def test_kill_9_while_continue_deployment_is_sent_continues_once(ctx):
    """"approve": "auto": kill -9 while ContinueDeployment is in flight (carried out, its reply
    held; cd-approving is not written, the record stays at cd-tracking): the restart reads the
    deployment InProgress and tracks it to the end without continuing it again."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=120)]})
    targets = [cd_target("web", named("web"), approve="auto")]
    p = daemon(ctx, sim, targets)
    sim.fault("codedeploy.ContinueDeployment", "blackhole-after", count=1)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 30, "AWAITING_APPROVAL")
    dep = ours(sim, "web-dg")
    wait_for(lambda: info(sim, dep)["status"] != "Ready", 20, "the deployment continued, the reply held")
    q = restart(ctx, sim, p, targets, "cd-tracking")
    wait_for(lambda: ended(q, "web"), 40, "the rollout ends")
    check_eq(events(q, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    check_eq([(c["params"].get("deploymentId"), c.get("fault")) for c in cd_calls(sim, "ContinueDeployment")],
             [(dep, "blackhole-after")], "one ContinueDeployment, the one before the kill")
    check_one_deployment(sim, q, new)


def test_kill_9_while_codedeploys_rollback_is_followed_resumes_following_it(ctx):
    """A lifecycle hook fails and CodeDeploy rolls back (each step 1.5 s here, so that the
    rollback runs 3 s); kill -9 while the daemon follows it: the restart at cd-rollback-tracking
    follows the same rollback deployment to ROLLBACK_COMPLETED, one DEPLOY_FAILED in all, nothing
    created or stopped, the digest never deployed again."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web")]},
                       settings={"codedeploy_step_seconds": 1.5})
    targets = [cd_target("web", named("web"))]
    p = daemon(ctx, sim, targets)
    fail_next(sim, "web-dg", "BeforeInstall", HOOK_MESSAGE)
    bad = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "cd-rollback-tracking", 20, "following CodeDeploy's rollback")
    q = restart(ctx, sim, p, targets, "cd-rollback-tracking")
    wait_for(lambda: rolled_back(q, "web"), 30, "the rollback ends after the restart")
    rb = info(sim, ours(sim, "web-dg"))["rollbackInfo"]["rollbackDeploymentId"]
    line, f = first(q, ROLLBACK_COMPLETED, "web")
    check_eq(f.get("ROLLBACK_DEPLOYMENT_ID"), rb, "CodeDeploy's rollback followed to its end: " + line)
    check_eq(info(sim, rb)["status"], "Succeeded", "the rollback deployment succeeded")
    check_eq(len(events(p, DEPLOY_FAILED, "web")) + len(events(q, DEPLOY_FAILED, "web")), 1, "one DEPLOY_FAILED")
    check_eq(lines_with(q, ROLLBACK_FAILED), [], "no ROLLBACK_FAILED")
    check_eq(len(creates(sim)), 1, "one CreateDeployment")
    check_eq(cd_calls(sim, "StopDeployment"), [], "nothing stopped")
    check_eq(primary_td(sim, "web"), td_arn("web", 1), "the PRIMARY task set runs the revision from before")
    never_again(ctx, sim, q, "web", bad, "web-dg")


# -- deployment group discovery ------------------------------------------------------------------

def test_discovery_finds_the_one_group_of_the_service_and_caches_it(ctx):
    """No codedeploy object: the group whose ecsServices names the service, among others of other
    services in two applications, listed a page of one at a time; the second rollout (until a
    reload, which finds the groups again) lists nothing again."""
    services = [cd_service("web"), cd_service("api"), cd_service("worker")]
    sim, v1 = cd_world(ctx, services, {"api-app": [group("api")], APP: [group("worker"), group("web", "web-blue")]},
                       settings={"codedeploy_page_size": 1})
    p = daemon(ctx, sim, [cd_target("web")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: ended(p, "web"), 40, "the first rollout ends")
    check_eq(events(p, DEPLOY_FAILED, "web"), [], "no DEPLOY_FAILED")
    made = creates(sim)
    check_eq([(m["params"].get("applicationName"), m["params"].get("deploymentGroupName")) for m in made],
             [(APP, "web-blue")], "the deployment goes to the group found")
    check(cd_calls(sim, "ListApplications"), "the applications were listed")
    check(len(cd_calls(sim, "ListApplications")) >= 2, "every page of applications read")
    first_done = first(p, DEPLOY_COMPLETED, "web")[1]
    check_eq(first_done.get("IMAGE_DIGEST"), new, "completed")
    since = last_request(sim)
    newer = sim.push("team/web", "prod", seed="v3")
    # Through the control socket: a reload (poll_now) forgets the groups found, on purpose.
    reply = ctl_request(ctx.control_socket(), "deploy", {"watch": "web", "digest": newer}, timeout=30)
    check(reply.get("ok"), "deploy %s: %r" % (newer, reply))
    wait_for(lambda: len(events(p, DEPLOY_COMPLETED, "web")) >= 2 or events(p, DEPLOY_FAILED, "web"), 40,
             "the second rollout ends")
    check_eq(events(p, DEPLOY_COMPLETED, "web")[-1][1].get("IMAGE_DIGEST"), newer, "the second digest completed")
    check_eq([r["operation"] for r in cd_calls(sim, since=since) if r["operation"] in DISCOVERY[:2]], [],
             "the second rollout uses the group found before")
    check_eq([(m["params"].get("applicationName"), m["params"].get("deploymentGroupName"))
              for m in creates(sim, since=since)], [(APP, "web-blue")], "and deploys to it")


def test_discovery_blocks_when_no_group_or_several_name_the_service(ctx):
    services = [cd_service("web-none"), cd_service("web-two"), cd_service("api")]
    sim, v1 = cd_world(ctx, services, {"api-app": [group("api"), group("web-two", "web-two-b")],
                                       APP: [group("web-two", "web-two-a")]})
    p = daemon(ctx, sim, [cd_target("web-none", {}), cd_target("web-two")])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, BLOCKED, "web-none") and events(p, BLOCKED, "web-two"), 30,
             "BLOCKED for web-none and web-two")
    none = events(p, BLOCKED, "web-none")[0][0]
    check("deployment group" in none and "web-none" in none, "says no deployment group names the service: " + none)
    two = events(p, BLOCKED, "web-two")[0][0]
    for a, g in ((APP, "web-two-a"), ("api-app", "web-two-b")):
        check(g in two and a in two, "names the group %s of application %s: %s" % (g, a, two))
    for line in (none, two):
        check("\\x1f" not in line and "\x1f" not in line, "no separator of the daemon's own in the message: " + line)
    check_eq(creates(sim), [], "no CreateDeployment")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    for s in ("web-none", "web-two"):
        check(new not in failed_digests(ctx, s), "%s: the digest is not marked failed" % s)


# -- first start, dry run -------------------------------------------------------------------------

def test_first_start_and_dry_run_read_the_primary_task_set(ctx):
    """The service's task definition names the tag; a deployment (the test's) waits at Ready with
    a replacement task set that runs v2, which the tag now names too; the PRIMARY task set's tasks
    run v1. First start says v1 runs (neither v2 nor unknown), and so does a dry run, which would
    deploy v2."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=600)]}, pinned=False)
    v2 = sim.push("team/web", "prod", seed="v2")
    td = ecs(sim).register_task_definition(**cd_taskdef("web", REPO_URI + "team/web@" + v2))[
        "taskDefinition"]["taskDefinitionArn"]
    spec = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
        "TaskDefinition": td, "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": LB_PORT}}}}]}
    dep = cd(sim).create_deployment(applicationName=APP, deploymentGroupName="web-dg", revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}})["deploymentId"]
    wait_for(lambda: info(sim, dep)["status"] == "Ready", 20, "the test's deployment at Ready")
    check_eq(len([ts for ts in service_of(sim, "web")["taskSets"]]), 2, "two task sets")
    since = last_request(sim)
    p = daemon(ctx, sim, [cd_target("web", named("web"), on_first_start="skip")], settle=False)
    wait_for(lambda: events(p, SKIPPED, "web"), 20, "the first-start decision")
    line = events(p, SKIPPED, "web")[0][0]
    check("runs %s" % v1 in line and "ECR has %s" % v2 in line, "the PRIMARY task set's digest: " + line)
    p.stop()
    q = daemon(ctx, sim, [cd_target("web", named("web"))], args=["--dry-run"], settle=False,
               state_directory=ctx.path("state-dry"))
    wait_for(lambda: lines_with(q, "dry run: would deploy"), 20, "the dry-run decision")
    check([l for l in lines_with(q, "runs %s" % v1) if "ECR has %s" % v2 in l], "the dry run reads v1 too")
    line = lines_with(q, "dry run: would deploy")[0]
    check(v2 in line and "codedeploy" in line, line)
    check_eq([r["operation"] for r in cd_calls(sim, since=since) if r["operation"] in CD_MUTATING], [],
             "no CodeDeploy change")
    check_eq([r["operation"] for r in daemon_calls(sim, since) if r["operation"] in
              ("RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition")], [], "no ECS change")
    check_eq(info(sim, dep)["status"], "Ready", "the test's deployment untouched")


# -- the example -----------------------------------------------------------------------------------

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "config", "examples", "codedeploy.json")


def test_the_example_configuration_works_against_the_simulator(ctx):
    """config/examples/codedeploy.json passes --check-config as it is; with the simulator's endpoint
    (the environment), a state directory and a control socket of the test's, its watch deploys a
    push to the service it names through the deployment group it names."""
    status, out, err = check_config(ctx, EXAMPLE)
    check_eq(status, 0, "--check-config: %s" % err)
    check("codedeploy 1" in out, "the summary counts the codedeploy target: %r" % out)
    with open(EXAMPLE) as f:
        cfg = json.loads(strip_comments(f.read()))
    w = cfg["watches"][0]
    t = w["targets"][0]
    c = t["codedeploy"]
    repo, cluster, svc = w["repository"], t["cluster"], t["service"]
    image_repo = REPO_URI + repo
    sim = Sim(ctx, keys=KEYS, seed={"settings": dict(FAST, codedeploy_minute_seconds=0.1),
                                    "repositories": [{"name": repo}]})
    v1 = sim.push(repo, w["tag"], seed="v1")
    td = cd_taskdef(svc, image_repo + "@" + v1)
    td["containerDefinitions"][0]["name"] = c["container"]
    td["containerDefinitions"][0]["portMappings"] = [{"containerPort": c["port"], "protocol": "tcp"}]
    s = cd_service(svc)
    s["cluster"] = cluster
    s["loadBalancers"][0].update(containerName=c["container"], containerPort=c["port"])
    g = group(svc, c["deployment_group"])
    g["ecsServices"] = [{"serviceName": svc, "clusterName": cluster}]
    sim.seed({"clusters": [cluster], "task_definitions": [td], "services": [s],
              "codedeploy": {"applications": [{"name": c["application"], "deployment_groups": [g]}]}})
    cfg.update(state_directory=ctx.path("state"), control={"socket": ctx.control_socket()}, log_level="debug")
    path = ctx.write("codedeploy.json", json.dumps(cfg))
    p = ctx.spawn([daemon_path(), "-c", path, "--config-dir", ctx.path("no-dropins")], env=daemon_env(ctx, sim),
                  name="ecr-deployd")
    wait_for(lambda: lines_with(p, "already runs") or not p.alive(), 20, "the first start")
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    new = sim.push(repo, w["tag"], seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 40, "the rollout ends")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check(new in lines_with(p, DEPLOY_COMPLETED)[0], "the pushed digest completed")
    made = [r for r in sim.requests(service="codedeploy") if r["operation"] == "CreateDeployment"]
    check_eq([(m["params"].get("applicationName"), m["params"].get("deploymentGroupName"),
               m["params"].get("deploymentConfigName")) for m in made],
             [(c["application"], c["deployment_group"], c.get("deployment_config"))], "one CreateDeployment as written")
    props = properties(made[0])
    check_eq(props["LoadBalancerInfo"], {"ContainerName": c["container"], "ContainerPort": c["port"]},
             "the container and port written")
    check_eq(image_of(sim, props["TaskDefinition"], c["container"]), image_repo + "@" + new,
             "the revision pins the digest")


def test_operator_rollback_in_flight_stops_the_deployment_and_marks_the_digest(ctx):
    """ecr-deployctl rollback of a codedeploy rollout during its traffic shift: one StopDeployment
    with rollback, CodeDeploy's rollback followed to ROLLBACK_COMPLETED, the digest marked failed
    and the service back on the revision it ran."""
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 2.0})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "cd-tracking" and deployments(sim, "web-dg")
             and info(sim, ours(sim, "web-dg"))["status"] == "InProgress", 20, "tracking an InProgress deployment")
    env = dict(os.environ, ECR_DEPLOYCTL_SOCKET=ctx.control_socket())
    status, out, err = ctx.run([ctl_bin(), "rollback", "web/web"], timeout=60, env=env)
    check_eq(status, 0, "ecr-deployctl rollback: %s %s" % (out, err))
    wait_for(lambda: rolled_back(p, "web"), 40, "the rollback ends")
    check(events(p, ROLLBACK_COMPLETED, "web"), "ROLLBACK_COMPLETED: %s" % events(p, ROLLBACK_FAILED, "web"))
    dep = ours(sim, "web-dg")
    check_eq([(c["params"].get("deploymentId"), c["params"].get("autoRollbackEnabled"))
              for c in cd_calls(sim, "StopDeployment")], [(dep, True)], "one StopDeployment with rollback")
    check_eq(events(p, DEPLOY_COMPLETED, "web"), [], "not completed")
    check(new in failed_digests(ctx, "web"), "the digest is marked failed")
    wait_for(lambda: primary_td(sim, "web") == td_arn("web", 1), 10, "the PRIMARY task set back on revision 1")


def test_kill_9_while_stop_deployment_is_sent_stops_once(ctx):
    """Our rollout timeout sends StopDeployment; the daemon is killed while CodeDeploy is slow to
    answer it; after the restart the stop is read back (cd-stop-check), not sent again, and the
    rollback is followed to its end."""
    sim, v1 = cd_world(ctx, [cd_service("web")],
                       {APP: [group("web", config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes")]},
                       settings={"codedeploy_minute_seconds": 2.0})
    targets = [cd_target("web", named("web"), rollout_timeout="10s")]
    p = daemon(ctx, sim, targets)
    sim.fault("codedeploy.StopDeployment", "delay", delay=2.0, count=1)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "cd-stopping" and cd_calls(sim, "StopDeployment"), 30,
             "StopDeployment sent")
    q = restart(ctx, sim, p, targets, "cd-stopping")
    wait_for(lambda: rolled_back(q, "web"), 40, "the rollback ends after the restart")
    check(events(q, ROLLBACK_COMPLETED, "web"), "ROLLBACK_COMPLETED: %s" % events(q, ROLLBACK_FAILED, "web"))
    check_eq(len(cd_calls(sim, "StopDeployment")), 1, "one StopDeployment")
    check_eq(len(creates(sim, "web-dg")), 1, "one CreateDeployment")


def test_a_ready_wait_that_runs_out_holds_the_digest_and_follows_the_rollback(ctx):
    """Nobody continues a Ready deployment within its wait: CodeDeploy stops it (TIMEOUT) and rolls
    back; the daemon says so, follows the rollback, and holds the digest (not failed: the image was
    never judged) until a newer push."""
    sim, v1 = cd_world(ctx, [cd_service("web")], {APP: [group("web", ready=1)]},
                       settings={"codedeploy_minute_seconds": 2.0})
    p = daemon(ctx, sim, [cd_target("web", named("web"))])
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, AWAITING_APPROVAL, "web"), 20, "AWAITING_APPROVAL")
    wait_for(lambda: events(p, DEPLOY_FAILED, "web") and rolled_back(p, "web"), 40, "the stop and its rollback")
    line, f = first(p, DEPLOY_FAILED, "web")
    check("Ready wait" in line, "DEPLOY_FAILED says the Ready wait ran out: %s" % line)
    check(events(p, ROLLBACK_COMPLETED, "web"), "CodeDeploy's rollback followed")
    check(new not in failed_digests(ctx, "web"), "the digest is not marked failed")
    check_eq(cd_calls(sim, "StopDeployment") + cd_calls(sim, "ContinueDeployment"), [], "nothing sent by us")
    # The decision is said when the digest is next looked at, which may be the next poll cycle
    # (a slow build finishes the rollback after the cycle that saw it end).
    poll_now(p)
    held = wait_for(lambda: [f for _, f in events(p, SKIPPED, "web") if f.get("REASON") == "held"],
                    10, "SKIPPED REASON=held")
    check(held[0].get("IMAGE_DIGEST") == new, "SKIPPED REASON=held names the digest: %s" % held)
    # The next poll reads the tag again (still the digest) and decides nothing: no second rollout.
    cycles = len(lines_with(p, "poll cycle:"))
    poll_now(p)
    wait_for(lambda: len(lines_with(p, "poll cycle:")) > cycles, 10, "the next poll cycle")
    try:
        again = wait_for(lambda: len(events(p, DEPLOY_STARTED, "web")) > 1, 2, "a second DEPLOY_STARTED")
    except Failure:
        again = False
    check(not again, "the held digest was not deployed again: %s" % events(p, DEPLOY_STARTED, "web"))
    check_eq(len(creates(sim, "web-dg")), 1, "not deployed again")
