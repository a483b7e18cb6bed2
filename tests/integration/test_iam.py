# SPDX-License-Identifier: MIT
"""The README's least-privilege IAM policy (docs/iam-policy.json), enforced
by awssim: a whole deploy, a rollback, a first start, the force strategy and
a CodeDeploy blue/green deploy (its group found from the service) succeed
under exactly that policy, and so do a CodeDeploy Ready wait approved, one
rejected and a lost CreateDeployment reply found again; removing any one of
its statements gives the matching clear outcome (POLL_FAILED for ECR,
BLOCKED for ECS and CodeDeploy, the control tool's error for an approval,
never a failed digest), and the same digest deploys once the policy is
back."""

import json
import os
import re
import signal
import time

from harness import ROOT, SIM_KEY, Failure, Sim, aws_error, check, check_eq, daemon_path, wait_for
from test_daemon import lines_with
from test_deploy import (DEPLOY_COMPLETED, DEPLOY_FAILED, REPO_URI, ROLLBACK_COMPLETED, service, start, target,
                         taskdef)
from test_strategies import AWAITING_APPROVAL, fields

ACCT = "210987654321"  # not the simulator's default account: the policy must name the caller's
POLL_FAILED = "551228da42b8448f961a49f2d4aa3870"
BLOCKED = "d7631a67aa3d44f8b114544ef9768e73"
POLICY_FILE = os.path.join(ROOT, "docs", "iam-policy.json")
README = os.path.join(ROOT, "README.md")
EXEC_ROLE = "arn:aws:iam::%s:role/ecsTaskExecutionRole" % ACCT
TASK_ROLE = "arn:aws:iam::%s:role/shop-web-task" % ACCT
KEY = (SIM_KEY[0], SIM_KEY[1], ACCT)
# The README's placeholders, and this world's names for them (cluster prod is the same).
NAMES = {"123456789012": ACCT, ":repository/team/*": ":repository/shop/*", ":role/team-*": ":role/shop-*"}


def load_policy():
    """docs/iam-policy.json with this world's account, repositories and roles in place of its placeholders."""
    with open(POLICY_FILE) as f:
        text = f.read()
    for placeholder, ours in NAMES.items():
        check(placeholder in text, "the policy names %s" % placeholder)
        text = text.replace(placeholder, ours)
    return json.loads(text)


def cd_service(name):
    """A CODE_DEPLOY service behind a load balancer (CodeDeploy deploys it)."""
    return {"cluster": "prod", "serviceName": name, "taskDefinition": name, "desiredCount": 2,
            "deploymentController": {"type": "CODE_DEPLOY"}, "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d"],
                                                             "securityGroups": ["sg-0123abcd"]}},
            "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:%s:targetgroup/%s-blue/"
                                                 "0123456789abcdef" % (ACCT, name), "containerName": "app",
                               "containerPort": 8080}]}


def cd_group(name, ready=False):
    """The deployment group NAME-dg of service NAME; ready: it waits in Ready for someone to reroute the
    traffic (STOP_DEPLOYMENT after 600 "minutes": 2 minutes here), rolled back when stopped."""
    g = {"deploymentGroupName": name + "-dg", "serviceRoleArn": "arn:aws:iam::%s:role/codedeploy-ecs" % ACCT,
         "ecsServices": [{"serviceName": name, "clusterName": "prod"}],
         "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
         "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"] + (
             ["DEPLOYMENT_STOP_ON_REQUEST"] if ready else [])}}
    if ready:
        g["blueGreenDeploymentConfiguration"] = {
            "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 600},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 0}}
    return g


def iam_world():
    """In account ACCT: web (strategy revision) follows shop/web:prod; api (strategy force) follows
    shop/api:prod; cart (strategy codedeploy, a CODE_DEPLOY service whose deployment group the daemon
    finds) follows shop/cart:prod; till (strategy codedeploy, its application and group named, a group
    that waits in Ready for an approval) follows shop/till:prod. The task definitions name an execution
    role and a task role and carry tags, so that registering a revision asks for iam:PassRole and
    ecs:TagResource as AWS does."""
    roles = {"executionRoleArn": EXEC_ROLE, "taskRoleArn": TASK_ROLE}
    spec = {"settings": {"task_start_seconds": 0.3, "codedeploy_step_seconds": 0.2, "codedeploy_minute_seconds": 0.2},
            "repositories": [{"name": "shop/web", "images": [{"tag": "prod", "seed": "w1"}]},
                             {"name": "shop/api", "images": [{"tag": "prod", "seed": "a1"}]},
                             {"name": "shop/cart", "images": [{"tag": "prod", "seed": "c1"}]},
                             {"name": "shop/till", "images": [{"tag": "prod", "seed": "t1"}]}],
            "clusters": [{"name": "prod"}],
            "task_definitions": [taskdef("web", "shop/web", **roles), taskdef("api", "shop/api", **roles),
                                 taskdef("cart", "shop/cart", **roles), taskdef("till", "shop/till", **roles)],
            "services": [service("web", "web"), service("api", "api"), cd_service("cart"), cd_service("till")],
            "codedeploy": {"applications": [{"name": "cart-app", "deployment_groups": [cd_group("cart")]},
                                            {"name": "till-app", "deployment_groups": [cd_group("till", True)]}]}}
    spec = json.loads(json.dumps(spec).replace(REPO_URI, REPO_URI.replace("123456789012", ACCT)))
    for kind in ("repositories", "clusters", "task_definitions", "services"):
        for item in spec[kind]:
            item["account"] = ACCT
    for app in spec["codedeploy"]["applications"]:
        app["account"] = ACCT
    return spec


def iam_sim(ctx):
    return Sim(ctx, keys=(KEY,), seed=iam_world())


TILL = {"name": "till", "repository": "shop/till", "tag": "prod", "targets": [target(
    "till", strategy="codedeploy", codedeploy={"application": "till-app", "deployment_group": "till-dg"})]}
WATCHES = [{"name": "web", "repository": "shop/web", "tag": "prod", "targets": [target("web")]},
           {"name": "api", "repository": "shop/api", "tag": "prod", "targets": [target("api", strategy="force")]},
           {"name": "cart", "repository": "shop/cart", "tag": "prod",
            "targets": [target("cart", strategy="codedeploy")]},
           TILL]


def set_policy(sim, doc):
    sim.control("POST", "/policy", {"policy": doc})


def denials(sim, since=0):
    return [r for r in sim.requests(since=since) if r.get("denied") or r.get("error") in (
        "AccessDeniedException", "AccessDenied")]


def failed_digests(ctx):
    """Every digest in a "failed" list of the state file, whatever its layout."""
    try:
        with open(ctx.path("state", "state.json")) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return set()
    out = set()

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "failed" and isinstance(x, list):
                    out.update(f.get("digest") if isinstance(f, dict) else f for f in x)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(state)
    return out


def test_the_readme_shows_exactly_docs_iam_policy_json(ctx):
    with open(README) as f:
        readme = f.read()
    m = re.search(r"^## IAM permissions\n(.*?)(?=^## )", readme, re.S | re.M)
    check(m, "README has a section '## IAM permissions'")
    blocks = re.findall(r"```json\n(.*?)```", m.group(1), re.S)
    check_eq(len(blocks), 1, "one JSON block in the section")
    with open(POLICY_FILE) as f:
        check_eq(blocks[0], f.read(), "the README's policy is docs/iam-policy.json, byte for byte")
    doc = json.loads(blocks[0])
    sids = [s.get("Sid") for s in doc["Statement"]]
    check(all(sids) and len(set(sids)) == len(sids), "one Sid per statement: %s" % sids)
    for s in doc["Statement"]:
        check("*" not in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]), "no Action *")
        check(s["Sid"] in m.group(1).split("```", 2)[2], "the README explains %s" % s["Sid"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    check_eq(by_sid["PassTaskRoles"]["Condition"], {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
             "PassRole only to ECS tasks")
    check_eq(by_sid["TagRevisions"]["Condition"], {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
             "TagResource only when registering")


def test_deploy_rollback_first_start_and_force_under_the_policy(ctx):
    sim = iam_sim(ctx)
    set_policy(sim, load_policy())
    p = start(ctx, sim, WATCHES)
    # (c) a first start: both services already run ECR's digest.
    wait_for(lambda: len(lines_with(p, "already runs")) >= 4, 20, "the first-start inspection of all four")
    check({"ListTasks", "DescribeTasks"} <= {r["operation"] for r in sim.requests() if r["status"] == 200},
          "the first start read the tasks of the service whose revision names the tag (ReadTasks)")
    # (a) a whole deploy (web, strategy revision), (d) the force strategy (api) and (e) a CodeDeploy
    # blue/green deploy whose group is found from the service (cart), at once.
    web = sim.push("shop/web", "prod", seed="w2", account=ACCT)
    api = sim.push("shop/api", "prod", seed="a2", account=ACCT)
    cart = sim.push("shop/cart", "prod", seed="c2", account=ACCT)
    p.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 3, 40, "DEPLOY_COMPLETED on all three")
    done = " ".join(lines_with(p, DEPLOY_COMPLETED))
    check(web in done and api in done and cart in done, done)
    ops = {(r["service"], r["operation"]) for r in sim.requests() if r.get("status") == 200}
    for op in (("ecr", "DescribeImages"), ("ecs", "DescribeServices"), ("ecs", "RegisterTaskDefinition"),
               ("ecs", "UpdateService"), ("ecs", "ListTasks"), ("ecs", "DescribeTasks"),
               ("codedeploy", "ListApplications"), ("codedeploy", "ListDeploymentGroups"),
               ("codedeploy", "BatchGetDeploymentGroups"), ("codedeploy", "CreateDeployment"),
               ("codedeploy", "BatchGetDeployments")):
        check(op in ops, "the daemon called %s.%s, and it was allowed" % op)
    reg = [r for r in sim.requests(operation="RegisterTaskDefinition") if r["status"] == 200]
    check(reg and reg[0]["params"].get("tags") and reg[0]["params"].get("taskRoleArn") == TASK_ROLE,
          "the registration carried tags and roles (ecs:TagResource and iam:PassRole were checked)")
    # (b) a rollback: a bad digest fails, and the service goes back.
    bad = sim.push("shop/web", "prod", seed="bad", account=ACCT)
    sim.bad_digest(bad, "exit")
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 45, "ROLLBACK_COMPLETED")
    check(any(bad in l for l in lines_with(p, DEPLOY_FAILED)), "the bad digest failed")
    check_eq(denials(sim), [], "no call was denied under the README's policy")


def ctl(ctx, *args):
    """ecr-deployctl against the daemon's control socket: (exit status, stdout, stderr)."""
    env = dict(os.environ, ECR_DEPLOYCTL_SOCKET=ctx.control_socket())
    return ctx.run([os.path.join(os.path.dirname(daemon_path()), "ecr-deployctl")] + list(args), timeout=60, env=env)


def awaiting(p, digest, since=0):
    """The CodeDeploy deployment id of each AWAITING_APPROVAL of this digest in stderr after since."""
    lines = [l for l in p.read_stderr()[since:].splitlines() if "MESSAGE_ID=" + AWAITING_APPROVAL in l]
    return [fields(l).get("CODEDEPLOY_DEPLOYMENT_ID") for l in lines if digest in l]


def test_codedeploy_approval_rejection_and_a_lost_reply_under_the_policy(ctx):
    """Strategy codedeploy's calls beyond a deploy that simply succeeds, under exactly the README's
    policy: a Ready wait approved with ecr-deployctl approve (ContinueDeployment READY_WAIT); then a
    CreateDeployment whose reply is lost, the deployment found again (ListDeployments, then
    BatchGetDeployments of what it lists) and not made twice, and rejected at Ready with
    ecr-deployctl reject (StopDeployment with autoRollbackEnabled, CodeDeploy's rollback followed).
    Nothing is refused."""
    sim = iam_sim(ctx)
    set_policy(sim, load_policy())
    p = start(ctx, sim, [TILL], poll_interval="1h")
    wait_for(lambda: lines_with(p, "already runs"), 20, "the first-start inspection")
    cd = sim.client("codedeploy", key=KEY)

    def status(dep):
        return cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"]

    # Approved.
    v2 = sim.push("shop/till", "prod", seed="t2", account=ACCT)
    p.signal(signal.SIGHUP)
    wait_for(lambda: awaiting(p, v2), 30, "AWAITING_APPROVAL of %s" % v2)
    (dep2,) = awaiting(p, v2)
    check_eq(status(dep2), "Ready", "CodeDeploy waits at Ready")
    rc, out, err = ctl(ctx, "approve", "till/till")
    check_eq(rc, 0, "ecr-deployctl approve: %s %s" % (out, err))
    check(dep2 in out and "ContinueDeployment READY_WAIT" in out, "it names the deployment and the call: %s" % out)
    wait_for(lambda: [l for l in lines_with(p, DEPLOY_COMPLETED) if v2 in l], 30, "DEPLOY_COMPLETED of %s" % v2)
    check_eq(status(dep2), "Succeeded", "CodeDeploy says Succeeded")
    # A lost CreateDeployment reply, found again; then rejected.
    mark, since = len(p.read_stderr()), sim.control("GET", "/requests")["last"]
    sim.fault("codedeploy.CreateDeployment", "malformed-json", count=1)
    v3 = sim.push("shop/till", "prod", seed="t3", account=ACCT)
    p.signal(signal.SIGHUP)
    wait_for(lambda: awaiting(p, v3, mark), 40, "AWAITING_APPROVAL of %s" % v3)
    (dep3,) = awaiting(p, v3, mark)
    created = sim.requests(since=since, operation="CreateDeployment")
    check_eq([(r["status"], bool(r.get("fault"))) for r in created], [(200, True)],
             "one CreateDeployment, carried out, its reply garbled")
    check([r for r in sim.requests(since=since, operation="ListDeployments", status=200)
           if r["params"].get("deploymentGroupName") == "till-dg"], "ListDeployments of the group looked for it")
    check([r for r in sim.requests(since=since, operation="BatchGetDeployments", status=200)
           if dep3 in r["params"].get("deploymentIds", [])], "BatchGetDeployments read what it listed")
    check_eq(cd.list_deployments(applicationName="till-app", deploymentGroupName="till-dg")["deployments"][0], dep3,
             "the deployment found again is the newest of the group")
    rc, out, err = ctl(ctx, "reject", "till/till")
    check_eq(rc, 0, "ecr-deployctl reject: %s %s" % (out, err))
    check(dep3 in out and "StopDeployment" in out, "it names the deployment and the call: %s" % out)
    wait_for(lambda: ROLLBACK_COMPLETED in p.read_stderr()[mark:], 40, "ROLLBACK_COMPLETED")
    stops = sim.requests(since=since, operation="StopDeployment")
    check_eq([(r["status"], r["params"].get("deploymentId"), r["params"].get("autoRollbackEnabled")) for r in stops],
             [(200, dep3, True)], "one StopDeployment of our deployment, with rollback, allowed")
    check_eq(status(dep3), "Stopped", "CodeDeploy says Stopped")
    check(v3 in failed_digests(ctx), "the rejected digest is marked failed")
    check(v2 not in failed_digests(ctx), "the approved one is not")
    check_eq(len(sim.requests(since=since, operation="CreateDeployment")), 1, "never made twice")
    check_eq(denials(sim), [], "no call was denied under the README's policy")


# Each statement, what removing it breaks, and how: the watch whose push shows it, the refused call and
# the action the denial names (None: ECR, a POLL_FAILED), or a fault that makes the daemon need it.
CASES = [
    ("ReadEcr", "web", "DescribeImages", "ecr:DescribeImages"),
    ("ReadEcs", "web", "DescribeServices", "ecs:DescribeServices"),
    ("ReadRevisions", "web", "DescribeTaskDefinition", "ecs:DescribeTaskDefinition"),
    ("RegisterRevisions", "web", "RegisterTaskDefinition", "ecs:RegisterTaskDefinition"),
    ("TagRevisions", "web", "RegisterTaskDefinition", "ecs:TagResource"),
    ("PassTaskRoles", "web", "RegisterTaskDefinition", "iam:PassRole"),
    ("ReadDeployments", "web", "DescribeServiceDeployments", "ecs:DescribeServiceDeployments"),
    ("DeployServices", "web", "UpdateService", "ecs:UpdateService"),
    ("SteerDeployments", "web", None, None),
    ("ReadTasks", "api", "ListTasks", "ecs:ListTasks"),
    ("CleanUpRevisions", "web", "DeregisterTaskDefinition", "ecs:DeregisterTaskDefinition"),
    # Needed only with "events" configured (these watches have none): a deploy without it is refused nothing.
    # The statement's own proof: test_consume_events_grants_exactly_the_sqs_calls_on_the_configured_queue
    # (boto3) and test_push_events_under_the_policy_and_without_consume_events (the daemon).
    ("ConsumeEvents", "web", None, None),
    # Needed only with an eventbridge sink in "notify" (these watches have none). Its own proof:
    # test_notify_through_eventbridge_grants_put_events_on_the_bus_only (boto3).
    ("NotifyThroughEventBridge", "web", None, None),
    # strategy codedeploy (cart): its group is found again after each reload (the cache is dropped).
    ("FindCodeDeployGroups", "cart", "ListApplications", "codedeploy:ListApplications"),
    ("DeployThroughCodeDeploy", "cart", "CreateDeployment", "codedeploy:CreateDeployment"),
    # CodeDeploy authorizes each CreateDeployment with these two as well (awssim as AWS documents it).
    ("ReadCodeDeployConfigs", "cart", "CreateDeployment", "codedeploy:GetDeploymentConfig"),
    ("RegisterCodeDeployRevisions", "cart", "CreateDeployment", "codedeploy:RegisterApplicationRevision"),
    ("ReadCodeDeploy", "cart", "BatchGetDeployments", "codedeploy:BatchGetDeployments"),
    # An approval of a Ready wait (till) with ecr-deployctl approve. StopDeployment, the statement's other
    # action, runs under the policy in test_codedeploy_approval_rejection_and_a_lost_reply_under_the_policy.
    ("SteerCodeDeploy", "till", "ContinueDeployment", "codedeploy:ContinueDeployment"),
    # Needed only with "ha" (these watches run a single instance). Its own proofs:
    # test_high_availability_table_grants_the_lease_and_fenced_calls_on_the_table_only (boto3) and
    # test_ha_daemons_under_the_policy_and_without_the_table_statement (the daemons).
    ("HighAvailabilityTable", "web", None, None),
]


def test_removing_any_one_statement_blocks_and_the_fix_deploys(ctx):
    full = load_policy()
    check_eq(sorted(s["Sid"] for s in full["Statement"]), sorted(c[0] for c in CASES), "a case per statement")
    sim = iam_sim(ctx)
    set_policy(sim, full)
    p = start(ctx, sim, WATCHES, poll_interval="1h")
    wait_for(lambda: len(lines_with(p, "already runs")) >= 4, 20, "the first-start inspection of all four")
    results = []
    for n, (sid, watch, operation, action) in enumerate(CASES):
        try:
            results.append((sid, run_case(ctx, sim, p, full, n, sid, watch, operation, action)))
        except Failure as e:
            results.append((sid, "FAILED: %s" % str(e)[:500]))
            set_policy(sim, full)
            sim.control("DELETE", "/faults")
    for sid, outcome in results:
        print("statement %-18s %s" % (sid, outcome))
    bad = ["%s: %s" % r for r in results if r[1] != "ok"]
    if bad:
        raise Failure("%d of %d removals did not end as they must:\n  %s" % (len(bad), len(CASES), "\n  ".join(bad)))


def run_case(ctx, sim, p, full, n, sid, watch, operation, action):
    err_mark, since = len(p.read_stderr()), sim.control("GET", "/requests")["last"]

    def new_lines(text):
        return [l for l in p.read_stderr()[err_mark:].splitlines() if text in l]

    set_policy(sim, dict(full, Statement=[s for s in full["Statement"] if s["Sid"] != sid]))
    if operation is None:
        # Our rollback (StopServiceDeployment) and auto approvals (ContinueServiceDeployment) only:
        # a deploy that succeeds needs neither, and is never refused anything without them. (Their
        # refusals: test_deploy.test_stop_refused_rolls_back_with_our_pinned_revision.)
        # ConsumeEvents likewise: these watches have no "events" queue.
        digest = sim.push("shop/" + watch, "prod", seed="%s-%d" % (sid, n), account=ACCT)
        p.signal(signal.SIGHUP)
        wait_for(lambda: [l for l in new_lines(DEPLOY_COMPLETED) if digest in l], 30, "DEPLOY_COMPLETED")
        check_eq(denials(sim, since), [], "nothing refused")
        set_policy(sim, full)
        return "ok"
    if sid == "ReadDeployments":
        # A policy from before service deployments: tracking falls back to DescribeServices, said once.
        digest = sim.push("shop/" + watch, "prod", seed="%s-%d" % (sid, n), account=ACCT)
        p.signal(signal.SIGHUP)
        wait_for(lambda: [l for l in new_lines(DEPLOY_COMPLETED) if digest in l], 30,
                 "DEPLOY_COMPLETED through the fallback")
        check([r for r in denials(sim, since) if r["operation"] == operation], "%s was refused" % operation)
        said = [l for l in new_lines("tracking it with DescribeServices instead") if action in l]
        check_eq(len(said), 1, "the fallback said once, naming %s" % action)
        check_eq(new_lines(BLOCKED) + new_lines(DEPLOY_FAILED), [], "neither blocked nor failed")
        set_policy(sim, full)
        return "ok"
    if sid == "ReadCodeDeploy":
        # The deployment is made, then its tracking is refused: nothing is concluded from that (no
        # failure, no block), the refusal is said once naming the action, and once the policy is back
        # the tracking sees it succeed.
        digest = sim.push("shop/" + watch, "prod", seed="%s-%d" % (sid, n), account=ACCT)
        p.signal(signal.SIGHUP)
        wait_for(lambda: [r for r in denials(sim, since) if r["operation"] == operation], 30,
                 "%s refused" % operation)
        wait_for(lambda: [l for l in new_lines(operation) if action in l], 10, "the refusal said, naming %s" % action)
        check_eq(new_lines(BLOCKED) + new_lines(DEPLOY_FAILED), [], "neither blocked nor failed")
        set_policy(sim, full)
        wait_for(lambda: [l for l in new_lines(DEPLOY_COMPLETED) if digest in l], 30,
                 "DEPLOY_COMPLETED once tracking is allowed again")
        check_eq(len(sim.requests(since=since, operation="CreateDeployment", status=200)), 1, "one deployment")
        return "ok"
    if sid == "SteerCodeDeploy":
        return approval_refused(ctx, sim, p, full, new_lines, since, n, operation, action)
    if sid == "CleanUpRevisions":
        # The daemon deregisters only a revision it registered and could not use: UpdateService is
        # refused once (as when someone else's change or an IAM hole stops it) and the cleanup needs
        # this statement.
        sim.fault("ecs.UpdateService", "error", code="AccessDeniedException", message=(
            "User: arn:aws:iam::%s:user/awssim is not authorized to perform: ecs:UpdateService on resource: "
            "arn:aws:ecs:us-east-1:%s:service/prod/web because no identity-based policy allows the "
            "ecs:UpdateService action" % (ACCT, ACCT)))
    digest = sim.push("shop/" + watch, "prod", seed="%s-%d" % (sid, n), account=ACCT)
    p.signal(signal.SIGHUP)
    def refused():
        return [r for r in denials(sim, since) if r["operation"] == operation]
    wait_for(lambda: refused() or new_lines(DEPLOY_FAILED), 20, "%s refused (%s)" % (operation, action))
    check(refused(), "%s was called and refused (%s), not a DEPLOY_FAILED first: %s" % (
        operation, action, new_lines(DEPLOY_FAILED)))
    got = refused()[0]
    check_eq((got.get("denied") or {}).get("action"), action, "the action awssim refused")
    if operation in ("DescribeImages", "BatchGetImage"):
        wait_for(lambda: new_lines(POLL_FAILED), 15, "POLL_FAILED")
        check(any("AccessDeniedException" in l for l in new_lines(POLL_FAILED)),
              "POLL_FAILED names AccessDeniedException: %s" % new_lines(POLL_FAILED))
        time.sleep(0.5)  # nothing may follow a failed poll; give a deploy the time to (wrongly) start
        check_eq([r for r in sim.requests(since=since, service="ecs") if r["operation"] in (
            "RegisterTaskDefinition", "UpdateService")], [], "no deploy while ECR cannot be read")
    else:
        refused = "UpdateService" if sid == "CleanUpRevisions" else operation

        def blocked():
            return [l for l in new_lines(BLOCKED) if "AWS_OPERATION=%s" % refused in l]
        # A DEPLOY_FAILED instead ends the wait at once: the test then says what the daemon did.
        wait_for(lambda: blocked() or new_lines(DEPLOY_FAILED), 15, "BLOCKED on %s" % refused)
        check_eq(new_lines(DEPLOY_FAILED), [], "no DEPLOY_FAILED")
        line = blocked()[0]
        for field in ("AWS_ERROR_CODE=AccessDeniedException", "AWS_ACTION=%s" % (
                "ecs:UpdateService" if sid == "CleanUpRevisions" else action)):
            check(field in line, "BLOCKED has %s: %s" % (field, line))
        if sid == "CleanUpRevisions":
            wait_for(lambda: "ecs:DeregisterTaskDefinition" in p.read_stderr()[err_mark:], 10,
                     "the event says the cleanup was refused (ecs:DeregisterTaskDefinition)")
    check_eq(new_lines(DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check(digest not in failed_digests(ctx), "the digest is not in the state's failed list")
    # The operator fixes IAM and reloads: the same digest deploys, with no retry.
    set_policy(sim, full)
    sim.control("DELETE", "/faults")
    p.signal(signal.SIGHUP)
    wait_for(lambda: [l for l in new_lines(DEPLOY_COMPLETED) if digest in l], 30,
             "DEPLOY_COMPLETED of the same digest after the fix")
    check(digest not in failed_digests(ctx), "never marked failed")
    if watch == "web":
        image = sim.client("ecs").describe_task_definition(
            taskDefinition=sim.client("ecs").describe_services(cluster="prod", services=["web"])[
                "services"][0]["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
        check_eq(image, "%s.dkr.ecr.us-east-1.amazonaws.com/shop/web@%s" % (ACCT, digest), "the service runs it")
    return "ok"


def approval_refused(ctx, sim, p, full, new_lines, since, n, operation, action):
    """SteerCodeDeploy removed: till's deployment waits in Ready and an operator approves it; CodeDeploy
    refuses the ContinueDeployment and ecr-deployctl says so, naming the action. The deployment waits on,
    nothing fails; once the policy is back the same approval completes it."""
    digest = sim.push("shop/till", "prod", seed="SteerCodeDeploy-%d" % n, account=ACCT)
    p.signal(signal.SIGHUP)
    wait_for(lambda: [l for l in new_lines(AWAITING_APPROVAL) if digest in l] or new_lines(DEPLOY_FAILED), 30,
             "AWAITING_APPROVAL of %s" % digest)
    (line,) = [l for l in new_lines(AWAITING_APPROVAL) if digest in l]
    dep = fields(line).get("CODEDEPLOY_DEPLOYMENT_ID")
    rc, out, err = ctl(ctx, "approve", "till/till")
    check(rc != 0, "ecr-deployctl approve fails: %s %s" % (out, err))
    for what in ("ContinueDeployment", dep, "AccessDeniedException", action):
        check(what in out + err, "ecr-deployctl's error names %s: %s %s" % (what, out, err))
    refused = [r for r in denials(sim, since) if r["operation"] == operation]
    check_eq([(r["params"].get("deploymentId"), (r.get("denied") or {}).get("action")) for r in refused],
             [(dep, action)], "awssim refused the %s of %s for %s" % (operation, dep, action))
    cd = sim.client("codedeploy", key=KEY)
    check_eq(cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"], "Ready", "the deployment waits on")
    check_eq(new_lines(DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check(digest not in failed_digests(ctx), "the digest is not in the state's failed list")
    set_policy(sim, full)
    rc, out, err = ctl(ctx, "approve", "till/till")
    check_eq(rc, 0, "ecr-deployctl approve once the policy is back: %s %s" % (out, err))
    wait_for(lambda: [l for l in new_lines(DEPLOY_COMPLETED) if digest in l], 30,
             "DEPLOY_COMPLETED of the same digest after the fix")
    check(digest not in failed_digests(ctx), "never marked failed")
    check_eq(cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"], "Succeeded", "the deployment ends")
    return "ok"


# -- push events: the ConsumeEvents statement ---------------------------------------------------------------
# What the SQS consumer calls, and the IAM action that authorizes each (DeleteMessageBatch has no action of its
# own: sqs:DeleteMessage authorizes it, as in AWS).
EVENT_CALLS = [("ReceiveMessage", "sqs:ReceiveMessage"), ("DeleteMessageBatch", "sqs:DeleteMessage"),
               ("GetQueueAttributes", "sqs:GetQueueAttributes")]
EVENTS_QUEUE = "ecr-deployd-events"  # the name the policy (and docs/events.md, and the template) use


def sqs_calls(sqs, url, receipt):
    """Each of EVENT_CALLS on the queue at url; returns {operation: reply or botocore ClientError}."""
    import botocore.exceptions
    calls = {
        "ReceiveMessage": lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0, MaxNumberOfMessages=10),
        "DeleteMessageBatch": lambda: sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "0", "ReceiptHandle": receipt}]),
        "GetQueueAttributes": lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "VisibilityTimeout", "RedrivePolicy"]),
    }
    out = {}
    for op, _ in EVENT_CALLS:
        try:
            out[op] = calls[op]()
        except botocore.exceptions.ClientError as e:
            out[op] = e
    return out


def test_consume_events_grants_exactly_the_sqs_calls_on_the_configured_queue(ctx):
    """Signed as the policy's identity: the consumer's three calls succeed on the queue the policy names and are
    AccessDenied on another queue of the same account; the statement allows nothing else on its queue.
    (A daemon-level run under the policy, with a queue configured in "events", belongs with the consumer:
    test_events.py.)"""
    import botocore.exceptions
    doc = load_policy()
    stmt = [s for s in doc["Statement"] if s["Sid"] == "ConsumeEvents"]
    check_eq(len(stmt), 1, "docs/iam-policy.json has a ConsumeEvents statement")
    check_eq(sorted(stmt[0]["Action"]), sorted(a for _, a in EVENT_CALLS), "ConsumeEvents' actions")
    check_eq(stmt[0]["Resource"], "arn:aws:sqs:*:%s:%s" % (ACCT, EVENTS_QUEUE), "ConsumeEvents' resource")
    others = [s for s in doc["Statement"] if s["Sid"] != "ConsumeEvents"]
    check(not [s for s in others if any(a.startswith("sqs:") for a in (
        [s["Action"]] if isinstance(s["Action"], str) else s["Action"]))], "no other statement grants sqs:")
    sim = Sim(ctx, keys=(KEY,), seed={"queues": [{"name": EVENTS_QUEUE, "account": ACCT},
                                                 {"name": "other-events", "account": ACCT}]})
    set_policy(sim, doc)
    sqs = sim.client("sqs", key=KEY)
    ours = "https://sqs.us-east-1.amazonaws.com/%s/%s" % (ACCT, EVENTS_QUEUE)
    other = "https://sqs.us-east-1.amazonaws.com/%s/other-events" % ACCT
    for name in (EVENTS_QUEUE, "other-events"):
        sim.control("POST", "/sqs-send", {"queue": name, "account": ACCT, "body": '{"source": "aws.ecr"}'})

    # The configured queue: a receive, then the batch delete of what it received, and the attributes.
    since = sim.control("GET", "/requests")["last"]
    got = sqs.receive_message(QueueUrl=ours, WaitTimeSeconds=0, MaxNumberOfMessages=10).get("Messages", [])
    check_eq(len(got), 1, "ReceiveMessage on %s returned the message" % EVENTS_QUEUE)
    res = sqs_calls(sqs, ours, got[0]["ReceiptHandle"])
    for op, r in res.items():
        check(not isinstance(r, Exception), "%s on the configured queue is allowed: %s" % (op, r))
    check_eq([e["Id"] for e in res["DeleteMessageBatch"].get("Successful", [])], ["0"],
             "DeleteMessageBatch deleted the message (authorized by sqs:DeleteMessage)")
    check_eq(res["DeleteMessageBatch"].get("Failed", []), [], "no failed entry")
    check_eq(denials(sim, since), [], "nothing refused on the configured queue")

    # Another queue of the same account: each call refused, naming the action that authorizes it.
    since = sim.control("GET", "/requests")["last"]
    res = sqs_calls(sqs, other, "AQEBnotareceipthandle")
    refused = {r["operation"]: r for r in denials(sim, since)}
    for op, action in EVENT_CALLS:
        check(isinstance(res[op], botocore.exceptions.ClientError), "%s on another queue is refused: %r" % (
            op, res[op]))
        check_eq(res[op].response["ResponseMetadata"]["HTTPStatusCode"], 403, "%s: SQS's 403" % op)
        check(op in refused, "awssim's policy engine refused %s (not a later check)" % op)
        check_eq(refused[op]["denied"]["action"].lower(), action.lower(), "the action judged for %s" % op)
        check_eq(refused[op]["denied"]["resource"], "arn:aws:sqs:us-east-1:%s:other-events" % ACCT,
                 "the resource judged for %s" % op)

    # Nothing beyond what the consumer needs, on its own queue (of the calls awssim simulates).
    since = sim.control("GET", "/requests")["last"]
    for op, call in (("SendMessage", lambda: sqs.send_message(QueueUrl=ours, MessageBody="{}")),
                     ("ChangeMessageVisibility", lambda: sqs.change_message_visibility(
                         QueueUrl=ours, ReceiptHandle="AQEBnotareceipthandle", VisibilityTimeout=0))):
        try:
            call()
            raise Failure("%s on the configured queue was allowed: the statement grants more than needed" % op)
        except botocore.exceptions.ClientError as e:
            check_eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 403, "%s refused with 403: %s" % (op, e))
    check_eq(sorted((r["operation"], r["denied"]["action"].lower()) for r in denials(sim, since)),
             [("ChangeMessageVisibility", "sqs:changemessagevisibility"), ("SendMessage", "sqs:sendmessage")],
             "the policy engine refused both")


def test_push_events_under_the_policy_and_without_consume_events(ctx):
    """The daemon with a queue, under exactly the README's policy: a push deploys from its event (no
    poll in between), the message is deleted, nothing is denied. Without ConsumeEvents the queue is
    said failing once (naming the action), and polling still deploys."""
    spec = iam_world()
    spec["queues"] = [{"name": "ecr-deployd-events", "account": ACCT}]
    spec["event_rules"] = [{"queue": "ecr-deployd-events", "account": ACCT}]
    sim = Sim(ctx, keys=(KEY,), seed=spec)
    set_policy(sim, load_policy())
    url = "https://sqs.us-east-1.amazonaws.com/%s/ecr-deployd-events" % ACCT
    p = start(ctx, sim, WATCHES, poll_interval="10m", events=[{"queue_url": url}])
    wait_for(lambda: len(lines_with(p, "already runs")) >= 2, 20, "the first-start inspection of both")
    web = sim.push("shop/web", "prod", seed="w2", account=ACCT)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "deployed from the event")
    check(web in lines_with(p, DEPLOY_COMPLETED)[0], "the pushed digest")
    wait_for(lambda: sim.queue_messages("ecr-deployd-events", account=ACCT) == [], 10, "the messages deleted")
    ops = {r["operation"] for r in sim.requests(service="sqs") if r["status"] == 200}
    check({"ReceiveMessage", "DeleteMessageBatch", "GetQueueAttributes"} <= ops, "allowed: %s" % sorted(ops))
    check_eq(denials(sim), [], "no call was denied under the README's policy")
    p.stop()
    doc = load_policy()
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "ConsumeEvents"]
    set_policy(sim, doc)
    p = start(ctx, sim, WATCHES, poll_interval="10s", events=[{"queue_url": url}])
    wait_for(lambda: lines_with(p, "e088d4ba400d45888cd84c0785483d69"), 20, "QUEUE_FAILED")
    failed = lines_with(p, "e088d4ba400d45888cd84c0785483d69")
    check("AccessDenied" in failed[0] and "sqs:ReceiveMessage" in failed[0].replace("receivemessage", "ReceiveMessage"),
          failed[0][:400])
    api = sim.push("shop/api", "prod", seed="a2", account=ACCT)
    wait_for(lambda: any(api in l for l in lines_with(p, DEPLOY_COMPLETED)), 40, "polling deployed meanwhile")
    check_eq(len(lines_with(p, "e088d4ba400d45888cd84c0785483d69")), 1, "said once")


# -- notifications: the NotifyThroughEventBridge statement (issue 17) -----------------------------------------
NOTIFY_BUS = "ecr-deployd-notices"  # the bus the policy names (config/examples/notify.json uses it too)


def test_notify_through_eventbridge_grants_put_events_on_the_bus_only(ctx):
    """Signed as the policy's identity: PutEvents to the bus the policy names succeeds (by name and by ARN,
    in any region), is AccessDenied on the default bus and on another bus, naming events:PutEvents and the
    bus; no other statement grants events:. (The daemon's own PutEvents under the policy is for the outbox's
    tests, test_notifications.py.)"""
    doc = load_policy()
    stmt = [s for s in doc["Statement"] if s["Sid"] == "NotifyThroughEventBridge"]
    check_eq(len(stmt), 1, "docs/iam-policy.json has a NotifyThroughEventBridge statement")
    check_eq(stmt[0]["Action"], "events:PutEvents", "its action")
    check_eq(stmt[0]["Resource"], "arn:aws:events:*:%s:event-bus/%s" % (ACCT, NOTIFY_BUS), "its resource")
    others = [s for s in doc["Statement"] if s["Sid"] != "NotifyThroughEventBridge"]
    check(not [s for s in others if any(a.startswith("events:") for a in (
        [s["Action"]] if isinstance(s["Action"], str) else s["Action"]))], "no other statement grants events:")
    sim = Sim(ctx, keys=(KEY,))
    set_policy(sim, doc)
    entry = {"Source": "ecr-deployd", "DetailType": "ECR Deploy Completed", "Detail": '{"kind": "deploy-completed"}'}
    for region in ("us-east-1", "eu-west-1"):
        ev = sim.client("events", key=KEY, region=region)
        bus_arn = "arn:aws:events:%s:%s:event-bus/%s" % (region, ACCT, NOTIFY_BUS)
        for bus in (NOTIFY_BUS, bus_arn):
            out = ev.put_events(Entries=[dict(entry, EventBusName=bus)])
            check_eq(out["FailedEntryCount"], 0, "PutEvents to %s in %s is allowed" % (bus, region))
    check_eq(denials(sim), [], "nothing refused on the policy's bus")
    check_eq(len(sim.control("GET", "/put-events")["entries"]), 4, "the four events were put")
    ev = sim.client("events", key=KEY)
    for bus in ("default", "other-bus"):
        since = sim.control("GET", "/requests")["last"]
        code, message, status, _ = aws_error(ev.put_events, Entries=[dict(entry, EventBusName=bus)])
        check_eq((code, status), ("AccessDeniedException", 400), "PutEvents to %s is refused" % bus)
        refused = denials(sim, since)
        check_eq([(r["denied"]["action"], r["denied"]["resource"]) for r in refused],
                 [("events:PutEvents", "arn:aws:events:us-east-1:%s:event-bus/%s" % (ACCT, bus))],
                 "the policy engine judged events:PutEvents on %s" % bus)


# -- high availability: the HighAvailabilityTable statement (issue 18) ------------------------------------------
HA_TABLE = "ecr-deployd"  # the table the policy names (docs/ha.md's template makes it)
HA_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
              "dynamodb:ConditionCheckItem"]


def ha_calls(ddb, table):
    """Every call the HA table's client makes, on table: {operation: reply or botocore ClientError}."""
    import botocore.exceptions
    key = {"pk": {"S": "prod"}, "sk": {"S": "lease"}}
    calls = [
        ("PutItem", lambda: ddb.put_item(TableName=table, Item=dict(key, owner={"S": "host-a"}, term={"N": "1"},
                                                                    version={"N": "1"}),
                                         ConditionExpression="attribute_not_exists(pk)")),
        ("GetItem", lambda: ddb.get_item(TableName=table, Key=key, ConsistentRead=True)),
        ("UpdateItem", lambda: ddb.update_item(TableName=table, Key=key, UpdateExpression="SET #v = #v + :one",
                                               ConditionExpression="#o = :me",
                                               ExpressionAttributeNames={"#v": "version", "#o": "owner"},
                                               ExpressionAttributeValues={":one": {"N": "1"}, ":me": {"S": "host-a"}})),
        ("Query", lambda: ddb.query(TableName=table, KeyConditionExpression="pk = :g", ConsistentRead=True,
                                    ExpressionAttributeValues={":g": {"S": "prod"}})),
        ("TransactWriteItems", lambda: ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": table, "Key": key, "ConditionExpression": "#o = :me AND #t = :term",
                                "ExpressionAttributeNames": {"#o": "owner", "#t": "term"},
                                "ExpressionAttributeValues": {":me": {"S": "host-a"}, ":term": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "prod"}, "sk": {"S": "w/web"}, "doc": {"S": "{}"},
                                                  "term": {"N": "1"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "prod"}, "sk": {"S": "r/web/x"}}}}])),
        ("DeleteItem", lambda: ddb.delete_item(TableName=table, Key={"pk": {"S": "prod"}, "sk": {"S": "w/web"}})),
    ]
    out = {}
    for op, call in calls:
        try:
            out[op] = call()
        except botocore.exceptions.ClientError as e:
            out[op] = e
    return out


def test_high_availability_table_grants_the_lease_and_fenced_calls_on_the_table_only(ctx):
    """Signed as the policy's identity: every call of the HA table's client (the lease's PutItem, GetItem and
    UpdateItem, the takeover's Query, a fenced TransactWriteItems with its ConditionCheck, Put and Delete, a
    DeleteItem) succeeds on the table the policy names and is refused on another table of the account, naming
    the action; without ConditionCheckItem the fenced write is refused for it; no other statement grants
    dynamodb:."""
    import botocore.exceptions
    doc = load_policy()
    stmt = [s for s in doc["Statement"] if s["Sid"] == "HighAvailabilityTable"]
    check_eq(len(stmt), 1, "docs/iam-policy.json has a HighAvailabilityTable statement")
    check_eq(sorted(stmt[0]["Action"]), sorted(HA_ACTIONS), "its actions")
    check_eq(stmt[0]["Resource"], "arn:aws:dynamodb:*:%s:table/%s" % (ACCT, HA_TABLE), "its resource: the table only")
    others = [s for s in doc["Statement"] if s["Sid"] != "HighAvailabilityTable"]
    check(not [s for s in others if any(a.startswith("dynamodb:") for a in (
        [s["Action"]] if isinstance(s["Action"], str) else s["Action"]))], "no other statement grants dynamodb:")
    sim = Sim(ctx, keys=(KEY,), seed={"dynamodb_tables": [{"name": HA_TABLE, "account": ACCT},
                                                          {"name": "other-table", "account": ACCT}]})
    set_policy(sim, doc)
    ddb = sim.client("dynamodb", key=KEY)
    since = sim.control("GET", "/requests")["last"]
    res = ha_calls(ddb, HA_TABLE)
    for op, r in res.items():
        check(not isinstance(r, Exception), "%s on the table is allowed: %s" % (op, r))
    check_eq(denials(sim, since), [], "nothing refused on the table")
    since = sim.control("GET", "/requests")["last"]
    res = ha_calls(ddb, "other-table")
    refused = {r["operation"]: r for r in denials(sim, since)}
    for op in ("PutItem", "GetItem", "UpdateItem", "Query", "TransactWriteItems", "DeleteItem"):
        check(isinstance(res[op], botocore.exceptions.ClientError), "%s on another table is refused" % op)
        check_eq(res[op].response["Error"]["Code"], "AccessDeniedException", "%s: AccessDeniedException" % op)
        check(op in refused, "the policy engine refused %s" % op)
        check_eq(refused[op]["denied"]["resource"], "arn:aws:dynamodb:us-east-1:%s:table/other-table" % ACCT,
                 "the resource judged for %s" % op)
    # IAM has no TransactWriteItems action: the ConditionCheck of the fence needs ConditionCheckItem.
    bare = dict(doc, Statement=[dict(s, Action=[a for a in s["Action"] if a != "dynamodb:ConditionCheckItem"])
                                if s["Sid"] == "HighAvailabilityTable" else s for s in doc["Statement"]])
    set_policy(sim, bare)
    since = sim.control("GET", "/requests")["last"]
    res = ha_calls(ddb, HA_TABLE)
    check(isinstance(res["TransactWriteItems"], botocore.exceptions.ClientError),
          "without ConditionCheckItem the fenced write is refused")
    tx = [r for r in denials(sim, since) if r["operation"] == "TransactWriteItems"]
    check(tx and tx[0]["denied"]["action"].lower() == "dynamodb:conditioncheckitem",
          "refused for dynamodb:ConditionCheckItem: %s" % [r.get("denied") for r in tx])


def ha_iam_world():
    """test_ha's world in the default account with task roles the policy may pass."""
    import test_ha
    roles = {"executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
             "taskRoleArn": "arn:aws:iam::123456789012:role/team-web"}
    spec = test_ha.ha_world()
    spec["task_definitions"] = [taskdef("web", "team/web", **roles)]
    return spec


def test_ha_daemons_under_the_policy_and_without_the_table_statement(ctx):
    """Two HA instances under exactly the README's policy (its placeholders as they are: account
    123456789012, repositories team/*, table ecr-deployd): one leads, the other stands by, a push
    deploys, nothing is denied. Without HighAvailabilityTable a new instance never leads: the
    lease read is refused, and it says so naming the action."""
    import test_ha
    with open(POLICY_FILE) as f:
        doc = json.load(f)
    sim = test_ha.ha_sim(ctx, ha_iam_world())
    set_policy(sim, doc)
    g = test_ha.Group(ctx, sim, [test_ha.web_watch()], n=2).start()
    leader = g.wait_one_leader(timeout=20)
    test_ha.first_start_done(leader)
    new = sim.push("team/web", "prod", seed="v2")
    leader.p.signal(signal.SIGHUP)
    wait_for(lambda: [l for l in lines_with(leader.p, DEPLOY_COMPLETED) if new in l], 40, "the leader deploys")
    check_eq(denials(sim), [], "nothing denied under the README's policy")
    ops = {c["op"] for c in test_ha.ddb_log(sim) if c.get("outcome") == "ok"}
    check({"GetItem", "PutItem", "UpdateItem", "Query", "TransactWriteItems"} <= ops,
          "the lease, the takeover's read and fenced writes were all allowed: %s" % sorted(ops))
    for i in g.insts:
        i.terminate()
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "HighAvailabilityTable"]
    set_policy(sim, doc)
    since = sim.control("GET", "/requests")["last"]
    lone = test_ha.Group(ctx, sim, [test_ha.web_watch()], n=1)
    lone.insts[0].start()
    inst = lone.insts[0]
    wait_for(lambda: [r for r in denials(sim, since) if r.get("service") == "dynamodb"], 15, "a DynamoDB call refused")
    wait_for(lambda: "AccessDeniedException" in inst.stderr() and "dynamodb:" in inst.stderr(), 15,
             "the refusal said, naming the action")
    check(inst.role() != "leading", "it does not lead")
    wait_for(lambda: "AccessDeniedException" in (inst.ha().get("error") or ""), 10,
             "its status says why it cannot read the lease")
    check_eq([r for r in sim.requests(since=since) if r.get("service") in ("ecr", "ecs")], [],
             "no ECR or ECS call without the lease")
