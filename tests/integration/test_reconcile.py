# SPDX-License-Identifier: MIT
"""What a poll cycle makes the deployer decide (issue 19): a quiet cycle decides nothing (no pass
over the watches), a moved digest decides for its watch alone, a reload for every watch, and a
blocked target is tried again once its backoff is over without any reload or push."""

import signal

from harness import Sim, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import (DEPLOY_COMPLETED, mutations, settle_first_start, start, target, world)

EVERY = "reconcile: every watch"
NAMED = "reconcile: 1 named watches"
BLOCKED = "d7631a67aa3d44f8b114544ef9768e73"


def cycles(p):
    return len(lines_with(p, "poll cycle: "))


def test_a_quiet_cycle_decides_nothing_a_push_decides_for_its_watch(ctx):
    sim = Sim(ctx, seed=world(services=("web", "api")))
    watches = [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
               {"name": "api", "repository": "team/web", "tags": ["prod"], "targets": [target("api")]}]
    p = start(ctx, sim, watches)
    settle_first_start(p, 2)
    # the first cycle (and the end of the first-start inspections) looked at every watch
    wait_for(lambda: lines_with(p, EVERY), 20, "a pass over every watch at the start")
    # the inspections' ends decide again: one cycle more, then quiet
    wait_for(lambda: cycles(p) >= 2, 40, "a second poll cycle")
    settled = cycles(p)
    passes = len(lines_with(p, "reconcile: "))
    wait_for(lambda: cycles(p) >= settled + 2, 40, "two quiet poll cycles")
    check_eq(len(lines_with(p, "reconcile: ")), passes, "quiet cycles decide nothing")

    # a push: its watch is decided for alone (then its rollout's end frees the service: a pass)
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # a reload polls at once, and decides for every watch after it
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 60, "both services deployed")
    check(all(new in l for l in lines_with(p, DEPLOY_COMPLETED)), "the new digest deployed")
    since = cycles(p)
    passes = len(lines_with(p, "reconcile: "))
    newer = sim.push("team/web", "prod", seed="v3")
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 4, 60, "the next push deployed by a poll")
    done = lines_with(p, DEPLOY_COMPLETED)[2:]
    check(all(newer in l for l in done), "the newer digest deployed: %s" % done)
    moved = [l for l in lines_with(p, "reconcile: ")[passes:]]
    check(any("named watches" in l for l in moved), "the moved watches were decided for: %s" % moved)
    check(cycles(p) > since, "a poll read the push")


def test_a_blocked_target_is_tried_again_after_its_backoff(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}])
    settle_first_start(p)
    sim.fault("ecs.RegisterTaskDefinition", "error", code="AccessDeniedException", status=400, format="json",
              message="User is not authorized to perform: ecs:RegisterTaskDefinition", count=1000)
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, BLOCKED), 30, "the target blocked")
    check("trying again in 60s" in lines_with(p, BLOCKED)[0], lines_with(p, BLOCKED)[0])
    sim.control("DELETE", "/faults")
    blocked_at = cycles(p)
    # quiet cycles follow (the digest does not move again); the backoff's end is what decides
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 100, "the deploy once the backoff is over")
    check(new in lines_with(p, DEPLOY_COMPLETED)[0], "the pushed digest deployed")
    check(cycles(p) >= blocked_at + 3, "after quiet cycles, not at once")
    check_eq(len([r for r in mutations(sim) if r["operation"] == "UpdateService"]), 1, "one UpdateService")
