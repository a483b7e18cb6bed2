# SPDX-License-Identifier: MIT
"""ecr-deployd --approve TARGET / --reject TARGET: the operator's one-shot answer to a PAUSE lifecycle
hook of an ECS-run (BLUE_GREEN) deployment. Each test makes the deployment with boto3 against awssim
(no daemon runs), runs the command, and asserts what the simulator says afterwards, not only the exit
status: the hook SUCCEEDED and the deployment SUCCESSFUL, or rolled back, or nothing sent at all."""

import json

from harness import check, check_eq, daemon_path, wait_for, Sim
from test_daemon import daemon_env, write_config

ACCT = "123456789012"
REPO = ACCT + ".dkr.ecr.us-east-1.amazonaws.com/team/web"
EX_USAGE, EX_UNAVAILABLE, EX_CONFIG = 64, 69, 78
# 30 simulated seconds per real second; each lifecycle stage lasts 12 simulated seconds (0.4 s).
FAST, STAGE = 30.0, 12.0


def world(ctx, hooks=True, services=(("prod", "web"),), account=None):
    cfg = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "strategy": "BLUE_GREEN"}
    if hooks:
        cfg["lifecycleHooks"] = [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                                  "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"}}]
    spec = {
        "settings": {"task_start_seconds": 0.3, "time_acceleration": FAST, "lifecycle_stage_seconds": STAGE},
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"}]}],
        "clusters": [{"name": c} for c in sorted({c for c, _ in services})],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": REPO + ":prod", "memory": 128, "essential": True}]}],
        "services": [{"cluster": c, "serviceName": s, "taskDefinition": "web:1", "desiredCount": 2,
                      "deploymentConfiguration": cfg} for c, s in services],
    }
    if account:
        for key in ("clusters", "task_definitions", "services"):
            spec[key] = [dict(x, account=account) for x in spec[key]]
    sim = Sim(ctx, seed=spec)
    return sim, sim.client("ecs")


def config(ctx, targets=(("web", "prod", "web"),), **extra):
    """A configuration with one watch per distinct watch name, each with its (cluster, service) targets
    (extra: more fields of every target)."""
    watches = {}
    for w, c, s in targets:
        watches.setdefault(w, []).append(dict({"cluster": c, "service": s, "container": "app"}, **extra))
    return write_config(ctx, [{"name": w, "repository": "team/web", "tag": "prod", "targets": t}
                              for w, t in watches.items()])


def deploy(sim, ecs, cluster="prod", service="web", seed="two"):
    """Deploys a new image with boto3 as ecr-deployd would; returns the service deployment ARN."""
    digest = sim.push("team/web", "prod", seed=seed)
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO + "@" + digest, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    return ecs.update_service(cluster=cluster, service=service, taskDefinition=td)["service"]["currentServiceDeployment"]


def sd_of(ecs, arn):
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def awaiting(ecs, arn):
    def cond():
        d = sd_of(ecs, arn)
        hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return (d, hooks[0]) if hooks else None
    return wait_for(cond, 20, "a PAUSE hook awaiting action")


def until_status(ecs, arn, statuses, timeout=30):
    def cond():
        d = sd_of(ecs, arn)
        return d if d["status"] in statuses else None
    return wait_for(cond, timeout, "service deployment %s to be %s" % (arn, "/".join(statuses)))


def run(ctx, sim, conf, *args, env=None):
    return ctx.run([daemon_path(), "-c", conf] + list(args), env=env or daemon_env(ctx, sim), timeout=30)


def continues(sim):
    return [r for r in sim.requests(service="ecs") if r["operation"] == "ContinueServiceDeployment"]


def still_waiting(ecs, arn, hook_id):
    d = sd_of(ecs, arn)
    check_eq((d["status"], [(h["hookId"], h["status"]) for h in d["lifecycleHookDetails"]]),
             ("IN_PROGRESS", [(hook_id, "AWAITING_ACTION")]), "the deployment still waits at its hook")


def test_approve_continues_the_hook_and_the_deployment_completes(ctx):
    sim, ecs = world(ctx)
    conf = config(ctx)
    arn = deploy(sim, ecs)
    d, hook = awaiting(ecs, arn)
    status, out, err = run(ctx, sim, conf, "--approve", "web/web")
    check_eq(status, 0, "exit status (stderr %r)" % err)
    lines = out.splitlines()
    check_eq(len(lines), 1, "one line on stdout: %r" % out)
    for part in ("'web'", arn, hook["hookId"], "POST_TEST_TRAFFIC_SHIFT", "CONTINUE"):
        check(part in lines[0], "the line names %s: %r" % (part, lines[0]))
    sent = continues(sim)
    check_eq([(r["params"]["serviceDeploymentArn"], r["params"]["hookId"], r["params"]["action"]) for r in sent],
             [(arn, hook["hookId"], "CONTINUE")], "one ContinueServiceDeployment")
    d = until_status(ecs, arn, ("SUCCESSFUL",))
    check_eq([(h["hookId"], h["status"]) for h in d["lifecycleHookDetails"]], [(hook["hookId"], "SUCCEEDED")],
             "the hook succeeded")
    check_eq(d["targetServiceRevision"]["requestedProductionTrafficWeight"], 100.0, "production traffic moved")


def test_reject_rolls_the_deployment_back(ctx):
    sim, ecs = world(ctx)
    conf = config(ctx, [("web-prod", "prod", "web")])
    arn = deploy(sim, ecs)
    _, hook = awaiting(ecs, arn)
    status, out, err = run(ctx, sim, conf, "--reject", "prod/web")  # CLUSTER/SERVICE
    check_eq(status, 0, "exit status (stderr %r)" % err)
    check("ROLLBACK" in out and hook["hookId"] in out, "the line says ROLLBACK and the hook: %r" % out)
    check_eq([r["params"]["action"] for r in continues(sim)], ["ROLLBACK"], "ContinueServiceDeployment ROLLBACK")
    d = until_status(ecs, arn, ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"))
    check_eq([h["status"] for h in d["lifecycleHookDetails"]], ["FAILED"], "the hook failed")
    d = until_status(ecs, arn, ("ROLLBACK_SUCCESSFUL",))
    check_eq(d["targetServiceRevision"]["requestedProductionTrafficWeight"], 0.0, "no production traffic moved")


def test_nothing_awaiting_action_exits_1_and_says_what_the_deployment_does(ctx):
    sim, ecs = world(ctx, hooks=False)
    conf = config(ctx)
    current = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["currentServiceDeployment"]
    check_eq(sd_of(ecs, current)["status"], "SUCCESSFUL", "the seeded deployment is done")
    status, out, err = run(ctx, sim, conf, "--approve", "web")  # SERVICE alone: one target has it
    check_eq(status, 1, "exit status")
    check_eq(out, "", "nothing on stdout")
    check(current in err and "SUCCESSFUL" in err and "no PAUSE hook" in err, "stderr says what it saw: %r" % err)
    # A deployment in progress without a hook: its stage is named.
    arn = deploy(sim, ecs)
    wait_for(lambda: sd_of(ecs, arn).get("lifecycleStage"), 10, "a lifecycle stage")
    status, out, err = run(ctx, sim, conf, "--reject", "web/web")
    check_eq(status, 1, "exit status in progress")
    check(arn in err and "stage" in err, "names the deployment and its stage: %r" % err)
    check_eq(continues(sim), [], "no ContinueServiceDeployment was sent")
    check(until_status(ecs, arn, ("SUCCESSFUL",))["status"] == "SUCCESSFUL", "the deployment went on untouched")


def test_unknown_and_ambiguous_targets_are_usage_errors(ctx):
    sim, ecs = world(ctx, services=(("prod", "web"), ("staging", "web")))
    conf = config(ctx, [("web-prod", "prod", "web"), ("web-staging", "staging", "web")])
    arn = deploy(sim, ecs)
    _, hook = awaiting(ecs, arn)
    status, out, err = run(ctx, sim, conf, "--approve", "web")
    check_eq(status, EX_USAGE, "ambiguous: exit status")
    check("'web' is ambiguous" in err and "web-prod/web" in err and "web-staging/web" in err,
          "the candidates are listed: %r" % err)
    status, out, err = run(ctx, sim, conf, "--approve", "api")
    check_eq(status, EX_USAGE, "unknown: exit status")
    check("'api'" in err and "web-prod/web" in err and "web-staging/web" in err,
          "the unknown target is named and the targets listed: %r" % err)
    status, out, err = run(ctx, sim, conf, "--approve", "web-prod/api")
    check_eq(status, EX_USAGE, "unknown WATCH/SERVICE: exit status")
    check_eq(sim.requests(service="ecs", operation="DescribeServices"), [], "no AWS call for a bad target")
    still_waiting(ecs, arn, hook["hookId"])
    status, out, err = run(ctx, sim, conf, "--approve", "web-prod/web")
    check_eq(status, 0, "WATCH/SERVICE picks one (stderr %r)" % err)
    until_status(ecs, arn, ("SUCCESSFUL",))


def test_options_are_mutually_exclusive(ctx):
    sim, ecs = world(ctx)
    conf = config(ctx)
    for args in (["--approve", "web", "--reject", "web"], ["--approve", "web", "--once"],
                 ["--check-config", "--reject", "web"], ["--approve", "web", "--dry-run"]):
        status, out, err = run(ctx, sim, conf, *args)
        check_eq(status, EX_USAGE, "%s: exit status" % args)
        check("cannot be combined" in err or "mutually exclusive" in err, "%s: says why: %r" % (args, err))
    check_eq(sim.requests(service="ecs"), [], "no AWS call")


def test_config_error_exits_78_before_any_call(ctx):
    sim, ecs = world(ctx)
    conf = ctx.write("bad.json", json.dumps({"aws": {"region": "us-east-1"}, "poll_interval": "soon",
                                             "watches": []}))
    arn = deploy(sim, ecs)
    _, hook = awaiting(ecs, arn)
    status, out, err = run(ctx, sim, conf, "--approve", "web")
    check_eq(status, EX_CONFIG, "exit status (stderr %r)" % err)
    check("poll_interval" in err, "the error is shown: %r" % err)
    check_eq(sim.requests(service="ecs", operation="DescribeServices"), [], "no AWS call")
    still_waiting(ecs, arn, hook["hookId"])


def test_access_denied_on_continue_exits_69_naming_the_operation(ctx):
    sim, ecs = world(ctx)
    conf = config(ctx)
    arn = deploy(sim, ecs)
    _, hook = awaiting(ecs, arn)
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoApproval", "Effect": "Deny", "Action": "ecs:ContinueServiceDeployment", "Resource": "*"}]}})
    status, out, err = run(ctx, sim, conf, "--approve", "web/web")
    check_eq(status, EX_UNAVAILABLE, "exit status (stderr %r)" % err)
    check_eq(out, "", "nothing on stdout")
    check("ContinueServiceDeployment" in err and "AccessDeniedException" in err,
          "stderr names the operation and the code: %r" % err)
    denied = [r for r in continues(sim) if r.get("denied")]
    check_eq(len(denied), 1, "the call was made and denied")
    sim.control("POST", "/policy", {"policy": None})
    still_waiting(ecs, arn, hook["hookId"])
    check(not ctx.leaks(), "no secret in any output: %s" % ctx.leaks())


def test_hostile_values_from_aws_are_escaped(ctx):
    sim, ecs = world(ctx, hooks=False)
    conf = config(ctx)
    sim.fault("ecs.DescribeServices", "error", code="ClientException",
              message="bad\x1b[31m\nnews", status=400)
    status, out, err = run(ctx, sim, conf, "--approve", "web")
    check_eq(status, EX_UNAVAILABLE, "exit status (stderr %r)" % err)
    check("DescribeServices" in err and "ClientException" in err, "names the operation and code: %r" % err)
    check("\x1b" not in err and "bad\\x1b[31m\\nnews" in err, "the message is escaped: %r" % err)


def test_a_cross_account_target_is_approved_with_its_role(ctx):
    other = "210987654321"
    role = "arn:aws:iam::%s:role/deployer" % other
    sim, _ = world(ctx, account=other)
    creds = sim.client("sts").assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    ctx.secrets.update((creds["SecretAccessKey"], creds["SessionToken"]))
    ecs = sim.client("ecs", key=(creds["AccessKeyId"], creds["SecretAccessKey"]), token=creds["SessionToken"])
    conf = config(ctx, role_arn=role)
    arn = deploy(sim, ecs)
    check(":%s:service-deployment/" % other in arn, "a deployment in the other account: %s" % arn)
    _, hook = awaiting(ecs, arn)
    since = sim.control("GET", "/requests")["last"]
    status, out, err = run(ctx, sim, conf, "--approve", "web")
    check_eq(status, 0, "exit status (stderr %r)" % err)
    sts = [r for r in sim.requests(since=since, service="sts") if r["operation"] == "AssumeRole"]
    check(sts and all(r["params"]["RoleArn"] == role for r in sts), "the target's role was assumed: %s" % sts)
    calls = sim.requests(since=since, service="ecs")
    check_eq([r["operation"] for r in calls],
             ["DescribeServices", "DescribeServiceDeployments", "ContinueServiceDeployment"], "the calls")
    check(all(r["access_key"].startswith("ASIA") for r in calls), "every ECS call used the role's keys")
    d = until_status(ecs, arn, ("SUCCESSFUL",))
    check_eq([(h["hookId"], h["status"]) for h in d["lifecycleHookDetails"]], [(hook["hookId"], "SUCCEEDED")],
             "the hook succeeded")
    check(not ctx.leaks(), "no secret in any output: %s" % ctx.leaks())
