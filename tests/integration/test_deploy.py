# SPDX-License-Identifier: MIT
"""The deploy engine against awssim: push -> deploy -> COMPLETED (one
service, a fan-out to three), pinning with every other field kept, bad
digest -> FAILED -> rollback -> never retried, timeout -> rollback, push
storms coalesced, first start, dry run, --once, faults."""

import json
import os
import signal
import time

from harness import Sim, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, lines_with, write_config

ACCT = "123456789012"
REPO_URI = ACCT + ".dkr.ecr.us-east-1.amazonaws.com/"

DEPLOY_STARTED = "fc46dc75a7434e1486ae650574bea85a"
DEPLOY_COMPLETED = "b70dbb90cd4d4e0792b49aff021a4d9b"
DEPLOY_FAILED = "1f6cf0ddee5841c79a2f8cf82538c0a9"
ROLLBACK_STARTED = "946e99c3c2374a8b9420137a0dd04623"
ROLLBACK_COMPLETED = "81c22d2906da4e0280e53f312a2d6d02"
SKIPPED = "1826f1f7cb0c46f9bbff8b94c93dace0"
API_ERROR = "0aea6f7260084453a1d3d7197fcf1ef2"

MUTATING = {"RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition", "CreateDeployment"}


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
