# SPDX-License-Identifier: MIT
"""The deploy engine against awssim: push -> deploy -> COMPLETED (one
service, a fan-out to three), pinning with every other field kept, bad
digest -> FAILED -> rollback -> never retried, timeout -> rollback, push
storms coalesced, first start, dry run, --once, faults."""

import json
import os
import signal
import time

from harness import Failure, Sim, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, lines_with, write_config

ACCT = "123456789012"
REPO_URI = ACCT + ".dkr.ecr.us-east-1.amazonaws.com/"

DEPLOY_STARTED = "fc46dc75a7434e1486ae650574bea85a"
DEPLOY_COMPLETED = "b70dbb90cd4d4e0792b49aff021a4d9b"
DEPLOY_FAILED = "1f6cf0ddee5841c79a2f8cf82538c0a9"
ROLLBACK_STARTED = "946e99c3c2374a8b9420137a0dd04623"
ROLLBACK_COMPLETED = "81c22d2906da4e0280e53f312a2d6d02"
ROLLBACK_FAILED = "8bb5ae24f05b408996d3fd2bb948f248"
SKIPPED = "1826f1f7cb0c46f9bbff8b94c93dace0"
API_ERROR = "0aea6f7260084453a1d3d7197fcf1ef2"

MUTATING = {"RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition", "CreateDeployment",
            "StopServiceDeployment", "ContinueServiceDeployment"}


def taskdef(family, repo, tag="prod", **extra):
    """A task definition with more than the engine knows about, so that copy-through shows."""
    td = {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
          "cpu": "256", "memory": "512", "executionRoleArn": "arn:aws:iam::%s:role/exec" % ACCT,
          "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
          "ephemeralStorage": {"sizeInGiB": 30},
          "containerDefinitions": [
              {"name": "app", "image": REPO_URI + repo + ":" + tag, "essential": True,
               "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
               "environment": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY", "value": ""}],
               "healthCheck": {"command": ["CMD", "true"], "interval": 10},
               "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/" + family}}},
              {"name": "sidecar", "image": "public.ecr.aws/envoy:v1.29", "essential": False}],
          "tags": [{"key": "team", "value": "web"}, {"key": "cost-center", "value": "42"}]}
    td.update(extra)
    return td


def service(name, family, desired=2, breaker=True):
    return {"cluster": "prod", "serviceName": name, "taskDefinition": family, "desiredCount": desired,
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100,
                                        "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}}}


# By DescribeServices, or (since the service-deployment API) by its service deployment's ARN.
TRACKING = ("tracking", "tracking-sd")


def world(services=("web",), repo="team/web", breaker=True, desired=2):
    return {"settings": {"task_start_seconds": 0.3},
            "repositories": [{"name": repo, "images": [{"tag": "prod", "seed": "v1"}]}],
            "clusters": ["prod"],
            "task_definitions": [taskdef(s, repo) for s in services],
            "services": [service(s, s, desired, breaker) for s in services]}


def target(svc, **kw):
    return dict({"cluster": "prod", "service": svc, "container": "app"}, **kw)


def start(ctx, sim, watches, args=(), env=None, **settings):
    settings.setdefault("poll_interval", "10s")
    main = write_config(ctx, watches, **settings)
    p = ctx.spawn([daemon_path(), "-c", main] + list(args), env=env or daemon_env(ctx, sim), name="ecr-deployd")
    return p


def describe(sim, svc):
    ecs = sim.client("ecs")
    return ecs.describe_services(cluster="prod", services=[svc])["services"][0]


def running_image(sim, svc):
    s = describe(sim, svc)
    td = sim.client("ecs").describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
    return [c["image"] for c in td["containerDefinitions"] if c["name"] == "app"][0]


def mutations(sim, since=0):
    return [r for r in sim.requests(since=since, service="ecs") if r["operation"] in MUTATING]


def settle_first_start(p, n=1):
    """The first cycle meets each target: the service already runs ECR's digest."""
    wait_for(lambda: len(lines_with(p, "already runs")) >= n, 20, "first-start inspection")


def test_push_deploys_and_completes(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}])
    settle_first_start(p)
    check_eq(mutations(sim), [], "nothing deployed at first start: the service runs ECR's digest")
    new = sim.push("team/web", "prod", seed="v2")
    pushed = time.time()
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    done = lines_with(p, DEPLOY_COMPLETED)[0]
    check("IMAGE_DIGEST=" + new in done and "ECS_SERVICE=web" in done and "STRATEGY=revision" in done, done)
    check("TASK_DEFINITION=arn:aws:ecs:us-east-1:%s:task-definition/web:2" % ACCT in done, done)
    check("DEPLOYMENT_ID=ecs-svc/" in done and "DURATION_MS=" in done, done)
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the service runs the pinned digest")
    s = describe(sim, "web")
    check_eq([d["rolloutState"] for d in s["deployments"]], ["COMPLETED"], "one COMPLETED deployment")
    ops = [r["operation"] for r in mutations(sim)]
    check_eq(ops, ["RegisterTaskDefinition", "UpdateService"], "exactly one registration and one update")
    check(time.time() - pushed < 20, "deployed promptly")
    # A restart does not redeploy what runs.
    p.stop()
    since = sim.control("GET", "/requests")["last"]
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}])
    wait_for(lambda: "poll cycle:" in p.read_stderr(), 15, "a cycle after the restart")
    time.sleep(1.5)
    check_eq(mutations(sim, since), [], "no redeploy after a restart")


def poll_now(p):
    """A reload starts a poll cycle at once."""
    p.signal(signal.SIGHUP)


def push_until_tracking(ctx, sim, p, seed):
    """Pushes team/web:prod, polls at once and waits until its rollout is being tracked; the digest."""
    digest = sim.push("team/web", "prod", seed=seed)
    poll_now(p)
    # Of this digest: the record of the rollout before may still be on disk for a moment.
    wait_for(lambda: rollout_step(ctx) in TRACKING and rollout_field(ctx, "digest") == digest, 20,
             "the rollout of %s tracked" % seed)
    return digest


def web_watch(*targets, **kw):
    return dict({"name": "web", "repository": "team/web", "tag": "prod",
                 "targets": list(targets) or [target("web")]}, **kw)


def test_fan_out_to_three_services(ctx):
    sim = Sim(ctx, seed=world(services=("web-a", "web-b", "web-c")))
    p = start(ctx, sim, [web_watch(target("web-a"), target("web-b"), target("web-c"))])
    settle_first_start(p, 3)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 3, 40, "three DEPLOY_COMPLETED")
    for svc in ("web-a", "web-b", "web-c"):
        check_eq(running_image(sim, svc), REPO_URI + "team/web@" + new, svc + " runs the digest")
    ops = sorted(r["operation"] for r in mutations(sim))
    check_eq(ops, ["RegisterTaskDefinition"] * 3 + ["UpdateService"] * 3, "one revision and one update each")
    tracking = [r for r in sim.requests(service="ecs") if r["operation"] == "DescribeServiceDeployments"
                and len(r["params"]["serviceDeploymentArns"]) > 1]
    check(tracking, "tracking batches the service deployments into one DescribeServiceDeployments")


def test_pinned_revision_keeps_every_other_field_and_the_tags(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    ecs = sim.client("ecs")
    old = ecs.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    cur = ecs.describe_task_definition(taskDefinition="web:2", include=["TAGS"])
    a, b = old["taskDefinition"], cur["taskDefinition"]
    for k in ("taskDefinitionArn", "revision", "registeredAt", "registeredBy"):
        a.pop(k, None), b.pop(k, None)
    app_a = [c for c in a["containerDefinitions"] if c["name"] == "app"][0]
    app_b = [c for c in b["containerDefinitions"] if c["name"] == "app"][0]
    check_eq(app_b["image"], REPO_URI + "team/web@" + new, "the image is pinned to the digest")
    app_a["image"] = app_b["image"]
    check_eq(b, a, "every other field is unchanged (sidecar, env with an empty value, runtimePlatform, ...)")
    tags = {t["key"]: t["value"] for t in cur["tags"]}
    check_eq(tags, {"team": "web", "cost-center": "42", "ecr-deployd:digest": new, "ecr-deployd:tag": "prod",
                    "ecr-deployd:previous": "arn:aws:ecs:us-east-1:%s:task-definition/web:1" % ACCT},
             "the old tags are kept and ours added")


def test_bad_digest_fails_rolls_back_and_is_never_retried(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    good = running_image(sim, "web")
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED")
    failed = lines_with(p, DEPLOY_FAILED)
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    check("IMAGE_DIGEST=" + bad in failed[0] and "circuit breaker" in failed[0], failed[0])
    check("Essential container in task exited" in p.read_stderr() or "tasks failed to start" in failed[0],
          "ECS's explanation is reported")
    check(lines_with(p, ROLLBACK_STARTED), "ROLLBACK_STARTED")
    s = describe(sim, "web")
    check_eq(s["taskDefinition"], "arn:aws:ecs:us-east-1:%s:task-definition/web:1" % ACCT, "back on revision 1")
    check_eq(running_image(sim, "web"), good, "the old image runs")
    since = sim.control("GET", "/requests")["last"]
    poll_now(p)
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 15, "SKIPPED failed-before")
    time.sleep(1)
    check_eq(mutations(sim, since), [], "the failed digest is not deployed again")
    # It stays failed across a restart.
    p.stop()
    p = start(ctx, sim, [web_watch()])
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 15, "SKIPPED after a restart")
    check_eq(mutations(sim, since), [], "not after a restart either")
    fixed = sim.push("team/web", "prod", seed="fixed")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "the newer push deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + fixed, "the fixed digest runs")


def push_unhealthy(ctx, sim):
    """A daemon with a 10 s rollout timeout on web; once its first start settled, a push whose tasks
    fail health checks (never FAILED without a circuit breaker): (process, digest before, bad)."""
    p = start(ctx, sim, [web_watch(target("web", rollout_timeout="10s"))])
    settle_first_start(p)
    good_digest = lines_with(p, "already runs")[0].split("already runs ")[1].split()[0]
    bad = sim.push("team/web", "prod", seed="slow")
    sim.bad_digest(bad, "health")
    poll_now(p)
    return p, good_digest, bad


def test_timeout_rolls_back_without_a_circuit_breaker(ctx):
    """Without the service-deployment API (older ECS): our rollback is an UpdateService."""
    sim = Sim(ctx, seed=world(breaker=False))
    sim.settings(service_deployments=False)
    p, good_digest, bad = push_unhealthy(ctx, sim)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 45, "ROLLBACK_COMPLETED")
    failed = lines_with(p, DEPLOY_FAILED)
    check(len(failed) == 1 and "rollout timeout" in failed[0], failed)
    check("failed container health checks" in failed[0], "the ECS events explain it: %s" % failed[0])
    started = lines_with(p, ROLLBACK_STARTED)
    check(started and "rolling service 'web' back to " + good_digest in started[0], "our own rollback")
    ups = [r for r in mutations(sim) if r["operation"] == "UpdateService"]
    # Revision 1 names the tag, which now points at the failed image: going back to it would pull
    # that again. The rollback is revision 3: revision 1 pinned to the digest that ran.
    check_eq([u["params"].get("taskDefinition") for u in ups],
             ["arn:aws:ecs:us-east-1:%s:task-definition/web:2" % ACCT,
              "arn:aws:ecs:us-east-1:%s:task-definition/web:3" % ACCT], "deploy, then the rollback")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + good_digest, "the digest that ran before")
    check_eq(describe(sim, "web")["deployments"][0]["rolloutState"], "COMPLETED", "the rollback completed")


def task_digests(sim, svc):
    ecs = sim.client("ecs")
    arns = ecs.list_tasks(cluster="prod", serviceName=svc, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
    return sorted({c.get("imageDigest") for t in tasks for c in t["containers"] if c["name"] == "app"})


def test_timeout_stops_our_service_deployment_and_ecs_rolls_back(ctx):
    """With the service-deployment API: StopServiceDeployment(ROLLBACK) while ours is in progress,
    and ECS's rollback followed to ROLLBACK_SUCCESSFUL; no second UpdateService."""
    sim = Sim(ctx, seed=world(breaker=False))
    p, good_digest, bad = push_unhealthy(ctx, sim)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 45, "ROLLBACK_COMPLETED")
    failed = lines_with(p, DEPLOY_FAILED)
    check(len(failed) == 1 and "rollout timeout" in failed[0], failed)
    check("failed container health checks" in failed[0], "the ECS events explain it: %s" % failed[0])
    started = lines_with(p, ROLLBACK_STARTED)
    check(started and "StopServiceDeployment(ROLLBACK)" in started[0], "ECS rolls back on our stop: %s" % started)
    stops = [r for r in mutations(sim) if r["operation"] == "StopServiceDeployment"]
    check_eq([(r["params"]["stopType"], r["params"]["serviceDeploymentArn"].split("/")[2]) for r in stops],
             [("ROLLBACK", "web")], "one stop of our deployment")
    check_eq([r["operation"] for r in mutations(sim) if r["operation"] == "UpdateService"], ["UpdateService"],
             "no second UpdateService")
    check("rolled back by ECS on our StopServiceDeployment" in lines_with(p, ROLLBACK_COMPLETED)[0], "said")
    sds = sim.client("ecs").describe_service_deployments(
        serviceDeploymentArns=[stops[0]["params"]["serviceDeploymentArn"]])["serviceDeployments"]
    check_eq(sds[0]["status"], "ROLLBACK_SUCCESSFUL", "ECS says the rollback succeeded")
    wait_for(lambda: task_digests(sim, "web") == [good_digest], 20, "the tasks run the digest that ran before")
    check(bad in json.dumps(state_failed(ctx)), "the digest is marked failed")


def test_stop_refused_rolls_back_with_our_pinned_revision(ctx):
    """StopServiceDeployment refused (AccessDenied: a policy without it): our rollback is the
    pinned previous revision through UpdateService, as without the service-deployment API."""
    sim = Sim(ctx, seed=world(breaker=False))
    sim.fault("ecs.StopServiceDeployment", "error", code="AccessDeniedException", status=400, format="json",
              rate=1.0, message="User: arn:aws:iam::%s:user/deployer is not authorized to perform: "
                                "ecs:StopServiceDeployment on resource: *" % ACCT)
    p, good_digest, bad = push_unhealthy(ctx, sim)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 45, "the rollback ends")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    check([r for r in sim.requests(service="ecs", operation="StopServiceDeployment") if r.get("fault")],
          "the stop was tried and refused")
    check(lines_with(p, "StopServiceDeployment was refused (AccessDeniedException"), "the refusal is said")
    ups = [r["params"].get("taskDefinition", "").rsplit("/", 1)[-1] for r in mutations(sim)
           if r["operation"] == "UpdateService"]
    check_eq(ups, ["web:2", "web:3"], "the deploy, then our rollback to revision 1 pinned to what ran")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + good_digest, "the digest that ran before")
    check_eq(lines_with(p, "d7631a67aa3d44f8b114544ef9768e73"), [], "not blocked: the refusal had a way around it")


def test_rollback_never_stops_ecs_deployment_when_the_revision_before_resolves_a_tag_again(ctx):
    """Revision 1 names the tag and its container's versionConsistency is disabled: ECS's own
    rollback (StopServiceDeployment) would resolve the tag again, and it names the failed image
    now. On our timeout the rollback is revision 1 pinned to the digest that ran, through
    UpdateService; no StopServiceDeployment, though ours is in progress."""
    spec = world(breaker=False)
    spec["task_definitions"][0]["containerDefinitions"][0]["versionConsistency"] = "disabled"
    sim = Sim(ctx, seed=spec)
    p, good_digest, bad = push_unhealthy(ctx, sim)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 45, "the rollback ends")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    failed = lines_with(p, DEPLOY_FAILED)
    check(len(failed) == 1 and "rollout timeout" in failed[0] and bad in failed[0], failed)
    ops = [r["operation"] for r in mutations(sim) if r["operation"] in ("UpdateService", "StopServiceDeployment")]
    check_eq(ops, ["UpdateService", "UpdateService"], "no StopServiceDeployment: our own rollback")
    ups = [r["params"].get("taskDefinition", "").rsplit("/", 1)[-1] for r in mutations(sim)
           if r["operation"] == "UpdateService"]
    check_eq(ups, ["web:2", "web:3"], "the deploy, then revision 1 pinned to what ran")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + good_digest, "the digest that ran before")
    check(bad in json.dumps(state_failed(ctx)), "the digest is marked failed")


def test_push_storm_deploys_only_the_newest(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()], poll_interval="10s")
    settle_first_start(p)
    digests = [sim.push("team/web", "prod", seed="storm-%d" % i) for i in range(20)]
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    regs = [r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]
    check_eq(len(regs), 1, "one deploy for twenty pushes")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + digests[-1], "the newest")
    # Pushes during a rollout coalesce too: the newest goes after it.
    sim.settings(task_start_seconds=2.0)
    first = sim.push("team/web", "prod", seed="during-0")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_STARTED)) >= 2, 20, "the second deploy")
    later = [sim.push("team/web", "prod", seed="during-%d" % i) for i in range(1, 6)]
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 3, 60, "the deploy after the rollout")
    started = lines_with(p, DEPLOY_STARTED)
    check_eq(len(started), 3, "three deploys in all: %s" % [l[:120] for l in started])
    check("IMAGE_DIGEST=" + first in started[1] and "IMAGE_DIGEST=" + later[-1] in started[2],
          "the rollout in flight finished, then only the newest went")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + later[-1], "the newest runs")


def test_first_start_deploys_only_where_ecr_and_the_service_differ(ctx):
    spec = world(services=("same", "differs", "held"))
    sim = Sim(ctx, seed=spec)
    current = sim.push("team/web", "prod", seed="v2")  # after the services started on v1
    # "same" is updated to run v2 already, pinned.
    ecs = sim.client("ecs")
    td = taskdef("same", "team/web")
    td["containerDefinitions"][0]["image"] = REPO_URI + "team/web@" + current
    arn = ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="same", taskDefinition=arn)
    wait_for(lambda: describe(sim, "same")["deployments"][0]["rolloutState"] == "COMPLETED", 20, "same settles")
    since = sim.control("GET", "/requests")["last"]
    p = start(ctx, sim, [web_watch(target("same"), target("differs"), target("held", on_first_start="skip"))])
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "the one that differs deploys")
    time.sleep(2)
    err = p.read_stderr()
    check("service 'same' already runs " + current in err, "the pinned one is left alone")
    check(any("on_first_start is 'skip'" in l and "REASON=first-start" in l for l in lines_with(p, SKIPPED)),
          "skip waits for the next push")
    regs = [r["params"]["family"] for r in mutations(sim, since) if r["operation"] == "RegisterTaskDefinition"]
    check_eq(regs, ["differs"], "only the service that differs is deployed")
    newer = sim.push("team/web", "prod", seed="v3")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 4, 40, "the next push goes everywhere")
    for svc in ("same", "differs", "held"):
        check_eq(running_image(sim, svc), REPO_URI + "team/web@" + newer, svc)


def test_dry_run_calls_no_mutating_api(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()], args=["--dry-run"])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, "dry run: would deploy"), 20, "the dry-run decision")
    line = lines_with(p, "dry run: would deploy")[0]
    check(new in line and "REASON=dry-run" in line and SKIPPED in line, line)
    poll_now(p)
    time.sleep(1.5)
    check_eq(len(lines_with(p, "dry run: would deploy")), 1, "said once, not every cycle")
    check_eq(mutations(sim), [], "no mutating call in the simulator's log")
    ops = {r["operation"] for r in sim.requests(service="ecs")}
    check(ops <= {"DescribeServices", "DescribeTaskDefinition", "ListTasks", "DescribeTasks"}, ops)


def test_once_exit_codes(ctx):
    sim = Sim(ctx, seed=world())
    main = write_config(ctx, [web_watch()])
    env = daemon_env(ctx, sim)
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=30, env=env)
    check_eq(status, 0, "nothing to do: 0\n" + err[-2000:])
    new = sim.push("team/web", "prod", seed="v2")
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=40, env=env)
    check_eq(status, 0, "a deploy that completes: 0\n" + err[-2000:])
    check(DEPLOY_COMPLETED in err and new in err, "it waited for the rollout")
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=40, env=env)
    check_eq(status, 1, "a failed deploy: 1\n" + err[-2000:])
    check(DEPLOY_FAILED in err and ROLLBACK_COMPLETED in err, "failure and rollback before exiting")


def rollout_field(ctx, field):
    """A field of the one rollout in flight, from its file in <state>/rollouts, or None."""
    d = ctx.path("state", "rollouts")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith(".json"):
            try:
                with open(os.path.join(d, name)) as f:
                    return json.load(f)["rollout"].get(field)
            except (OSError, ValueError):
                return None
    return None


def rollout_step(ctx):
    """The step of the one rollout in flight, or None."""
    return rollout_field(ctx, "step")


def state_failed(ctx):
    """The state file's failed lists (whatever their shape), for a digest to be looked up in."""
    with open(ctx.path("state", "state.json")) as f:
        st = json.load(f)
    return [t.get("failed") for w in st.get("watches", {}).values() for t in w.get("targets", {}).values()
            if isinstance(t, dict)]


def active_revisions(sim, family="web"):
    ecs = sim.client("ecs")
    return [a.rsplit("/", 1)[1] for a in ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]]


def crash_and_resume(ctx, fault_op, step, delay=3.0, before_fault=None, bad=None, settings=None, **world_kw):
    """kill -9 while the rollout is at `step` (a delayed call holds it there; the simulator still
    carries that call out), then start again: returns (sim, the new process, pushed digest)."""
    sim = Sim(ctx, seed=world(**world_kw))
    if settings:
        sim.settings(**settings)
    watches = [web_watch(target("web", rollout_timeout="10s"))]
    p = start(ctx, sim, watches)
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    if bad:
        sim.bad_digest(new, bad)
    if before_fault:
        poll_now(p)
        wait_for(lambda: rollout_step(ctx) == before_fault, 30, "step " + before_fault)
        sim.fault("ecs." + fault_op, "delay", delay=delay, count=1)
    else:
        sim.fault("ecs." + fault_op, "delay", delay=delay, count=1)
        poll_now(p)
    wait_for(lambda: rollout_step(ctx) == step, 30, "step " + step)
    time.sleep(0.3)
    p.signal(signal.SIGKILL)
    p.wait(5)
    time.sleep(delay + 0.5)  # the delayed call is carried out with nobody to hear the reply
    p = start(ctx, sim, watches)
    wait_for(lambda: lines_with(p, "resuming the rollout"), 10, "the resume")
    check("at step '%s'" % step in lines_with(p, "resuming the rollout")[0], "resumed at the right step")
    return sim, p, new


def test_kill_before_register_resumes(ctx):
    sim, p, new = crash_and_resume(ctx, "DescribeTaskDefinition", "start")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED after the restart")
    check_eq(active_revisions(sim), ["web:1", "web:2"], "one revision registered")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_kill_during_register_adopts_the_revision(ctx):
    sim, p, new = crash_and_resume(ctx, "RegisterTaskDefinition", "registering")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED after the restart")
    check(lines_with(p, "was registered before the restart"), "the revision made before the crash is adopted")
    check_eq(active_revisions(sim), ["web:1", "web:2"], "no duplicate revision, no orphan")
    check_eq(len([r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]), 1, "one registration")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_kill_between_register_and_update_service(ctx):
    sim, p, new = crash_and_resume(ctx, "UpdateService", "updating")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED after the restart")
    check(lines_with(p, "was made before the restart"), "the deployment made before the crash is adopted")
    ups = [r for r in mutations(sim) if r["operation"] == "UpdateService"]
    check_eq(len(ups), 1, "one UpdateService: no duplicate deployment")
    check_eq(active_revisions(sim), ["web:1", "web:2"], "no orphan revision")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_kill_during_tracking_resumes_tracking(ctx):
    sim, p, new = crash_and_resume(ctx, "DescribeServiceDeployments", "tracking-sd", delay=1.0,
                                   before_fault="tracking-sd")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED after the restart")
    check_eq(sorted(r["operation"] for r in mutations(sim)), ["RegisterTaskDefinition", "UpdateService"],
             "nothing made twice")


def test_kill_during_rollback_resumes_the_rollback(ctx):
    """Without the service-deployment API: the rollback is our UpdateService."""
    sim, p, new = crash_and_resume(ctx, "UpdateService", "rolling-back", bad="health", before_fault="tracking",
                                   breaker=False, settings={"service_deployments": False})
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED after the restart")
    ups = [r["params"].get("taskDefinition", "").rsplit("/", 1)[-1] for r in mutations(sim)
           if r["operation"] == "UpdateService"]
    check_eq(ups, ["web:2", "web:3"], "the deploy and one rollback: the rollback was adopted, not repeated")
    check_eq(active_revisions(sim), ["web:1", "web:2", "web:3"], "revision 3 pins the digest that ran")
    s = describe(sim, "web")
    check_eq((s["taskDefinition"].rsplit("/", 1)[-1], s["deployments"][0]["rolloutState"]), ("web:3", "COMPLETED"),
             "back on the old digest")


def test_kill_during_stop_resumes_following_ecs_rollback(ctx):
    """kill -9 while StopServiceDeployment(ROLLBACK) is in flight (carried out with nobody to hear
    the reply): the restart looks before stopping again, and follows ECS's rollback."""
    sim, p, new = crash_and_resume(ctx, "StopServiceDeployment", "stopping", bad="health",
                                   before_fault="tracking-sd", breaker=False)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED after the restart")
    ops = [r["operation"] for r in mutations(sim) if r["operation"] in ("UpdateService", "StopServiceDeployment")]
    check(ops.count("UpdateService") == 1, "one UpdateService, no rollback of our own: %s" % ops)
    check(1 <= ops.count("StopServiceDeployment") <= 2, "the stop, at most once more refused: %s" % ops)
    check_eq(active_revisions(sim), ["web:1", "web:2"], "no rollback revision registered")


def test_sigterm_mid_rollout_exits_fast_and_the_next_start_resumes(ctx):
    sim = Sim(ctx, seed=world())
    sim.settings(task_start_seconds=3.0)
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = push_until_tracking(ctx, sim, p, "v2")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    check_eq(p.wait(5), 0, "exit status")
    check(time.monotonic() - t0 < 3, "exits within seconds")
    check(rollout_step(ctx) in TRACKING, "the rollout is kept in the state file")
    p = start(ctx, sim, [web_watch()])
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "completed after the restart")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")
    check_eq(rollout_step(ctx), None, "no rollout left in the state file")


def test_throttling_and_5xx_storms_neither_duplicate_nor_lose_a_deploy(ctx):
    sim = Sim(ctx, seed=world(services=("web-a", "web-b")))
    p = start(ctx, sim, [web_watch(target("web-a"), target("web-b"))])
    settle_first_start(p, 2)
    # Certain hits on every call a deploy makes, then a random storm on top.
    for match, kind, count in (("ecr.DescribeImages", "500", 2), ("ecs.DescribeServices", "throttle", 2),
                               ("ecs.DescribeTaskDefinition", "503", 1),
                               ("ecs.RegisterTaskDefinition", "throttle", 2), ("ecs.UpdateService", "503", 1),
                               ("ecs.UpdateService", "throttle", 1)):
        sim.fault(match, kind, count=count)
    for match, kind in (("ecr.*", "throttle"), ("ecr.*", "500"), ("ecs.*", "throttle"), ("ecs.*", "503"),
                        ("ecs.*", "500")):
        sim.fault(match, kind, rate=0.1)  # three rules on ECS: about one call in four fails
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 90, "both deploys complete through the storm")
    sim.control("DELETE", "/faults")
    faulted = [r for r in sim.requests() if r.get("fault")]
    check(len(faulted) >= 9, "the storm hit: %d faulted calls" % len(faulted))
    for svc in ("web-a", "web-b"):
        check_eq(running_image(sim, svc), REPO_URI + "team/web@" + new, svc)
        check_eq(active_revisions(sim, svc), [svc + ":1", svc + ":2"], "one revision of " + svc)
    ups = [r for r in mutations(sim) if r["operation"] == "UpdateService" and r["status"] == 200]
    check_eq(len(ups), 2, "one effective UpdateService per service")


def test_force_strategy_confirms_the_digest_through_the_tasks(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch(target("web", strategy="force"))])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    ups = [r for r in mutations(sim) if r["operation"] == "UpdateService"]
    check_eq([u["params"].get("forceNewDeployment") for u in ups], [True], "one forced deployment")
    check_eq([r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"], [], "no new revision")
    check(any(r["operation"] == "DescribeTasks" for r in sim.requests(service="ecs")), "the tasks were read")
    check(lines_with(p, "containers of the new tasks run " + new), "the digest is confirmed on the tasks")
    ecs = sim.client("ecs")
    arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    digests = {c["imageDigest"] for t in ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
               for c in t["containers"] if c["name"] == "app"}
    check_eq(digests, {new}, "every running task runs the new digest")


def test_two_watches_never_deploy_to_one_service_at_once(ctx):
    spec = world()
    spec["repositories"].append({"name": "team/side", "images": [{"tag": "prod", "seed": "s1"}]})
    td = spec["task_definitions"][0]
    td["containerDefinitions"][1]["image"] = REPO_URI + "team/side:prod"
    sim = Sim(ctx, seed=spec)
    sim.settings(task_start_seconds=1.0)
    p = start(ctx, sim, [web_watch(),
                         {"name": "side", "repository": "team/side", "tag": "prod",
                          "targets": [dict(target("web"), container="sidecar")]}])
    settle_first_start(p, 2)
    web = sim.push("team/web", "prod", seed="v2")
    side = sim.push("team/side", "prod", seed="s2")
    poll_now(p)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 60, "both deploys")
    check(lines_with(p, "is busy with a rollout"), "the second waited")
    regs = [r for r in sim.requests(service="ecs") if r["operation"] in ("RegisterTaskDefinition", "UpdateService")]
    check_eq([r["operation"] for r in regs],
             ["RegisterTaskDefinition", "UpdateService", "RegisterTaskDefinition", "UpdateService"],
             "one rollout after the other")
    first_done = lines_with(p, DEPLOY_COMPLETED)[0]
    second_start = lines_with(p, DEPLOY_STARTED)[1]
    check(first_done[:20] <= second_start[:20], "the second started after the first completed")
    td = sim.client("ecs").describe_task_definition(taskDefinition=describe(sim, "web")["taskDefinition"])
    images = {c["name"]: c["image"] for c in td["taskDefinition"]["containerDefinitions"]}
    check_eq(images, {"app": REPO_URI + "team/web@" + web, "sidecar": REPO_URI + "team/side@" + side},
             "both digests, neither deploy undone by the other")


def test_reload_never_interrupts_a_rollout_and_a_changed_target_applies_next(ctx):
    sim = Sim(ctx, seed=world())
    sim.settings(task_start_seconds=2.0)
    p = start(ctx, sim, [web_watch(target("web", strategy="force"))])
    settle_first_start(p)
    first = push_until_tracking(ctx, sim, p, "v2")
    # The target's strategy changes while the rollout runs.
    write_config(ctx, [web_watch(target("web", strategy="revision"))], poll_interval="10s")
    p.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(p, "configuration reloaded")) >= 2, 10, "the reload")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "the rollout in flight completes")
    done = lines_with(p, DEPLOY_COMPLETED)[0]
    check("STRATEGY=force" in done and first in done, "it finished as it started: %s" % done[:200])
    check_eq([r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"], [], "no revision yet")
    second = push_until_tracking(ctx, sim, p, "v3")
    # The watch is removed while that one runs: it still ends, and is not abandoned.
    write_config(ctx, [], poll_interval="10s")
    p.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 30, "the next deploy completes")
    last = lines_with(p, DEPLOY_COMPLETED)[1]
    check("STRATEGY=revision" in last and second in last, "the changed target applies to the next deploy")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + second, "pinned by the revision strategy")
    check_eq(rollout_step(ctx), None, "nothing left in flight")


def rollout_steps(ctx):
    """The step of each rollout in flight, from <state>/rollouts."""
    d = ctx.path("state", "rollouts")
    out = set()
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        try:
            with open(os.path.join(d, name)) as f:
                out.add(json.load(f)["rollout"]["step"])
        except (OSError, ValueError, KeyError):
            pass
    return out


def test_without_a_service_deployment_arn_tracking_by_describe_services_completes(ctx):
    """ECS before the service-deployment API: UpdateService's reply names no
    currentServiceDeployment. The rollouts (strategy revision and force) are tracked with
    DescribeServices (step tracking, never tracking-sd) and complete; no DescribeServiceDeployments
    is sent."""
    sim = Sim(ctx, seed=world(services=("web", "web-f")))
    sim.settings(service_deployments=False)
    p = start(ctx, sim, [web_watch(target("web"), target("web-f", strategy="force"))])
    settle_first_start(p, 2)
    since = sim.control("GET", "/requests")["last"]
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    steps = set()

    def done():
        steps.update(rollout_steps(ctx))
        return len(lines_with(p, DEPLOY_COMPLETED)) >= 2 or lines_with(p, DEPLOY_FAILED)
    wait_for(done, 30, "DEPLOY_COMPLETED on both")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check("tracking" in steps and "tracking-sd" not in steps, "tracked by DescribeServices: steps %s" % sorted(steps))
    for svc in ("web", "web-f"):
        line = [l for l in lines_with(p, DEPLOY_COMPLETED) if "ECS_SERVICE=%s " % svc in l + " "]
        check(line and "IMAGE_DIGEST=" + new in line[0], "%s completed: %s" % (svc, line))
        check("SERVICE_DEPLOYMENT_ARN=" not in line[0], "no service deployment named: " + line[0])
        check("currentServiceDeployment" not in describe(sim, svc), "ECS names no service deployment of " + svc)
    ups = [r for r in sim.requests(since=since, service="ecs") if r["operation"] == "UpdateService"]
    check_eq(sorted(u["params"]["service"] for u in ups), ["web", "web-f"], "one UpdateService each")
    check([r for r in sim.requests(since=since, service="ecs", operation="DescribeServices")
           if r["seq"] > max(u["seq"] for u in ups)], "DescribeServices after the UpdateServices")
    check_eq(sim.requests(service="ecs", operation="DescribeServiceDeployments"), [],
             "no DescribeServiceDeployments")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pinned digest runs")


def test_an_operator_retries_a_failed_digest_once(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    flaky = sim.push("team/web", "prod", seed="flaky")
    sim.bad_digest(flaky, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED), 40, "the first failure rolled back")
    poll_now(p)
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 15, "not retried on its own")
    # The operator asks for it once more (say, the cause was a secret, fixed since; here it still fails).
    write_config(ctx, [web_watch(target("web", retry=flaky))], poll_interval="10s")
    p.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(p, ROLLBACK_COMPLETED)) >= 2, 40, "the retry ran (and failed again)")
    check(lines_with(p, "deploying it once more"), "the retry is logged")
    check_eq(len(lines_with(p, DEPLOY_STARTED)), 2, "deployed twice in all")
    # Once: with the key still set, neither a reload nor a restart deploys it a third time.
    p.signal(signal.SIGHUP)
    time.sleep(1.5)
    p.stop()
    p = start(ctx, sim, [web_watch(target("web", retry=flaky))])
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 15, "SKIPPED after the restart")
    check_eq(len([r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]), 2,
             "two registrations: the deploy and its one retry (ECS's circuit breaker rolled both back)")


def other_revision(sim, family="web"):
    """Someone else's deploy: a revision of their own, registered and rolled out by hand."""
    ecs = sim.client("ecs")
    td = taskdef(family, "team/web", tag="hotfix")
    return ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]


def test_someone_deploying_in_between_is_never_overwritten(ctx):
    sim = Sim(ctx, seed=world())
    sim.push("team/web", "hotfix", seed="hotfix")
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    sim.fault("ecs.RegisterTaskDefinition", "delay", delay=2.0, count=1)
    poll_now(p)
    wait_for(lambda: rollout_step(ctx) == "registering", 20, "our registration under way")
    theirs = other_revision(sim)  # revision 2: ours becomes 3
    sim.client("ecs").update_service(cluster="prod", service="web", taskDefinition=theirs)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "our deploy, decided anew")
    check(lines_with(p, "changed under us"), "the change is noticed")
    check(lines_with(p, "deregistering"), "our unused revision is deregistered, not left orphaned")
    check_eq(active_revisions(sim), ["web:1", "web:2", "web:4"], "web:3 (unused) is gone")
    ecs = sim.client("ecs")
    cur = ecs.describe_task_definition(taskDefinition="web:4", include=["TAGS"])
    tags = {t["key"]: t["value"] for t in cur["tags"]}
    check_eq(tags["ecr-deployd:previous"], theirs, "built on their revision, not on the one read before")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_a_deployment_by_someone_else_supersedes_ours(ctx):
    sim = Sim(ctx, seed=world())
    sim.push("team/web", "hotfix", seed="hotfix")
    sim.settings(task_start_seconds=3.0)
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = push_until_tracking(ctx, sim, p, "v2")
    theirs = other_revision(sim)
    sim.client("ecs").update_service(cluster="prod", service="web", taskDefinition=theirs)
    wait_for(lambda: lines_with(p, DEPLOY_FAILED), 30, "DEPLOY_FAILED")
    failed = lines_with(p, DEPLOY_FAILED)[0]
    check("superseded by deployment" in failed and theirs in failed, failed)
    check(not lines_with(p, ROLLBACK_STARTED), "their deployment is not rolled back")
    poll_now(p)
    wait_for(lambda: lines_with(p, "held back"), 15, "the digest is held, not fought over")
    ours = [r for r in mutations(sim) if r["operation"] == "UpdateService" and r["params"]["taskDefinition"] != theirs]
    check_eq(len(ours), 1, "no second deploy of ours")
    newer = sim.push("team/web", "prod", seed="v3")
    sim.settings(task_start_seconds=0.3)
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "the next push deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + newer, "on top of theirs")


def test_without_rollout_state_the_services_stable_rule_decides(ctx):
    sim = Sim(ctx, seed=world())
    sim.settings(rollout_state=False, task_start_seconds=1.0)
    p = start(ctx, sim, [web_watch()])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED by the ServicesStable rule")
    s = describe(sim, "web")
    check("rolloutState" not in s["deployments"][0], "the simulator gave no rolloutState")
    check_eq((len(s["deployments"]), s["runningCount"], s["desiredCount"]), (1, 2, 2),
             "completed only at one deployment with every task running")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed")


def test_a_cross_account_target_deploys_with_the_assumed_role(ctx):
    other = "210987654321"
    role = "arn:aws:iam::%s:role/deployer" % other
    spec = world()
    for key in ("clusters", "task_definitions", "services"):
        spec[key] = [dict({"name": c} if isinstance(c, str) else c, account=other) for c in spec[key]]
    sim = Sim(ctx, seed=spec)
    p = start(ctx, sim, [web_watch(target("web", role_arn=role))])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED in the other account")
    sts = [r for r in sim.requests(service="sts") if r["operation"] == "AssumeRole"]
    check(sts and all(r["params"]["RoleArn"] == role for r in sts), "the target's role was assumed")
    ecs = sim.requests(service="ecs")
    check(ecs and all(r["access_key"].startswith("ASIA") for r in ecs), "every ECS call used the role's keys")
    ups = [r for r in ecs if r["operation"] == "UpdateService"]
    check_eq(len(ups), 1, "one UpdateService")
    done = lines_with(p, DEPLOY_COMPLETED)[0]
    check("TASK_DEFINITION=arn:aws:ecs:us-east-1:%s:task-definition/web:2" % other in done, done)
    check(new in done, done)


def context_switches(pid):
    """Voluntary context switches of pid: one each time its event loop sleeps and wakes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise Failure("no voluntary_ctxt_switches for %d" % pid)


def test_an_idle_daemon_sleeps_between_polls(ctx):
    """Rollouts are ticked four times a second while there are any; with none left, nothing wakes
    the daemon until the next poll."""
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}],
              poll_interval="1h", log_level="info")
    settle_first_start(p)
    sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    time.sleep(1.0)  # the tick notices there is nothing left
    before = context_switches(p.pid)
    time.sleep(3.0)
    woke = context_switches(p.pid) - before
    check(woke <= 2, "an idle daemon woke %d times in 3 s (a 0.25 s tick would be 12)" % woke)
