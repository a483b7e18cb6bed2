# SPDX-License-Identifier: MIT
"""A dry run tells what the deploy would do on services it would not deploy to: a deployment
controller that refuses UpdateService (CODE_DEPLOY, EXTERNAL) and a guard in "enforce" on an
unsafe service are said as "would not deploy", with the reason a real run would skip for; a
blue/green service and a safe rolling one as "would deploy". The verdict is the targets' settings
of the moment applied to the service as first found: a reload that changes them changes it.
Nothing is sent that changes AWS."""

from harness import check, check_eq, wait_for
from test_daemon import lines_with, write_config
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

    def said(digest):
        return {f.get("ECS_SERVICE"): (l, f) for l, f in events(p, SKIPPED)
                if f.get("REASON") == "dry-run" and f.get("IMAGE_DIGEST") == digest}
    wait_for(lambda: len(said(digest)) >= 5, 30, "a dry-run decision for each of the five services")
    got = said(digest)
    for s, reason, words in (("d-cd", "deployment-controller", ["CODE_DEPLOY", "refuses UpdateService",
                                                                "strategy 'codedeploy' deploys through CodeDeploy"]),
                             ("d-ext", "deployment-controller", ["EXTERNAL", "it deploys by task sets"]),
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

    # d-cd now deploys through CodeDeploy and d-min only warns: both would deploy
    write_config(ctx, [web_watch(target("d-cd", strategy="codedeploy"), target("d-ext", strategy="force"),
                                 target("d-min", guard="warn"), target("d-bg", guard="enforce"),
                                 target("d-ok", guard="enforce"))], poll_interval="10s", dry_run=True)
    later = sim.push("team/web", "prod", seed="v3")
    poll_now(p)
    wait_for(lambda: len(said(later)) >= 5, 30, "a dry-run decision for each service after the reload")
    got = said(later)
    check("would deploy " + later in got["d-cd"][0], "codedeploy on a CODE_DEPLOY service: %s" % got["d-cd"][0])
    check("would deploy " + later in got["d-min"][0], "guard warn: would deploy: %s" % got["d-min"][0])
    check("would not deploy " + later in got["d-ext"][0], "EXTERNAL still refuses: %s" % got["d-ext"][0])
    for s in ("d-bg", "d-ok"):
        check("would deploy " + later in got[s][0], "%s: %s" % (s, got[s][0]))
    check_eq([r["operation"] for r in daemon_calls(sim, 0) if r["operation"].startswith(MUTATING)], [],
             "still nothing sent that changes AWS")
