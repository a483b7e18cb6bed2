# SPDX-License-Identifier: MIT
"""A dry run tells what the deploy would do on services it would not deploy to: a deployment
controller that refuses UpdateService (CODE_DEPLOY, EXTERNAL) and a guard in "enforce" on an
unsafe service are said as "would not deploy", with the reason a real run would skip for; a
blue/green service and a safe rolling one as "would deploy". Nothing is sent that changes AWS."""

from harness import check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import SKIPPED, poll_now, start, target, web_watch
from test_strategies import daemon_calls, events, make_sim, settle, svc

MUTATING = ("Register", "Update", "Create", "Deregister", "Stop", "Continue", "Delete", "Put")


def test_a_dry_run_says_which_services_a_deploy_would_skip_and_why(ctx):
    sim = make_sim(ctx, [svc("d-cd", controller="CODE_DEPLOY"), svc("d-ext", controller="EXTERNAL"),
                         svc("d-min", {"minimumHealthyPercent": 50}), svc("d-bg", {"strategy": "BLUE_GREEN"}),
                         svc("d-ok")], settings={"time_acceleration": 1.0})
    targets = [target("d-cd"), target("d-ext", strategy="force"), target("d-min", guard="enforce"),
               target("d-bg", guard="enforce"), target("d-ok", guard="enforce")]
    p = start(ctx, sim, [web_watch(*targets)], args=["--dry-run"])
    settle(p, 5)
    digest = sim.push("team/web", "prod", seed="v2")
    poll_now(p)

    def said():
        return {f.get("ECS_SERVICE"): (l, f) for l, f in events(p, SKIPPED) if f.get("REASON") == "dry-run"}
    wait_for(lambda: len(said()) >= 5, 30, "a dry-run decision for each of the five services")
    got = said()
    for s, reason, words in (("d-cd", "deployment-controller", ["CODE_DEPLOY", "refuses UpdateService"]),
                             ("d-ext", "deployment-controller", ["EXTERNAL"]),
                             ("d-min", "unsafe-deployment-config", ["minimumHealthyPercent = 50", "enforce"])):
        line, f = got[s]
        check("would not deploy " + digest in line, "%s: would not deploy: %s" % (s, line))
        check_eq(f.get("DRY_RUN_REASON"), reason, "%s: the reason a real run would skip for" % s)
        for w in words:
            check(w in line, "%s: names %r: %s" % (s, w, line))
    for s in ("d-bg", "d-ok"):
        line, f = got[s]
        check("would deploy " + digest in line, "%s: would deploy: %s" % (s, line))
        check("DRY_RUN_REASON" not in f, "%s: no reason against it: %s" % (s, line))
    check_eq([r["operation"] for r in daemon_calls(sim, 0) if r["operation"].startswith(MUTATING)], [],
             "nothing sent that changes AWS")
    # said once each, not at every cycle
    poll_now(p)
    wait_for(lambda: len(lines_with(p, "poll cycle:")) >= 3, 20, "two more poll cycles")
    check_eq(len([1 for l, f in events(p, SKIPPED) if f.get("REASON") == "dry-run"]), 5, "each said once")
