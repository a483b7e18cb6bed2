# SPDX-License-Identifier: MIT
"""Issue 13: ECS's own deployments, as the daemon serves them. Tracking by service deployment
(DescribeServiceDeployments, batched); ROLLING, BLUE_GREEN, LINEAR and CANARY with strategy
revision and force (DEPLOY_PROGRESS at each stage change, done only when ECS says SUCCESSFUL, bake
time honoured); alarm and circuit-breaker failures and ECS's rollback that fails, with ECS's
reason; PAUSE hooks (approved with ContinueServiceDeployment, rejected with ecr-deployd --reject,
approved with --approve after a kill -9, expiry, "approve": "auto"); our rollout timeout through
StopServiceDeployment(ROLLBACK); a just-created ARN that answers MISSING; the zero-downtime guard
(warn, enforce, off); CODE_DEPLOY and EXTERNAL controllers skipped; first start of a blue/green
service. The simulator runs minutes of bake time and hook timeouts in seconds (time_acceleration);
the test reads the simulator with a key of its own, so that the request log tells the daemon's
calls (and those of ecr-deployd --approve/--reject, which uses the daemon's keys) from the test's."""

import json
import re
import signal
import time

from harness import SIM_KEY, Sim, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, lines_with
from test_deploy import (ACCT, DEPLOY_COMPLETED, DEPLOY_FAILED, DEPLOY_STARTED, ROLLBACK_COMPLETED,
                         ROLLBACK_STARTED, SKIPPED, poll_now, rollout_steps, start, target, taskdef, web_watch)

AWAITING_APPROVAL = "9c0c2de006c7491cbff086cc0a5c95f3"
GUARD_WARNING = "81fc6ff6c31f45ecbbe9e789932580db"
DEPLOY_PROGRESS = "bc1ca2c9c06b4873b529bab26f50bc3b"
ROLLBACK_FAILED = "8bb5ae24f05b408996d3fd2bb948f248"

# The test's own key (same account): its reads and approvals are not the daemon's.
TEST_KEY = ("AKIDAWSSIMTESTKEY001", "awssim/test/own/secret/0123456789abcdef", ACCT)
KEYS = (SIM_KEY, TEST_KEY)
STAGES = ["RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME",
          "CLEAN_UP"]
# 30 simulated seconds a real one: a minute of bake time (or of a hook's timeout) takes 2 s; each
# lifecycle stage at least 6 simulated seconds (0.2 s).
ACCEL = 30.0
FAST = {"task_start_seconds": 0.3, "time_acceleration": ACCEL, "lifecycle_stage_seconds": 6}
SAFE = {"maximumPercent": 200, "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}}


# -- the world and what the daemon said ---------------------------------------------------------

def svc(name, config=None, desired=2, controller=None):
    cfg = json.loads(json.dumps(SAFE))
    cfg.update(config or {})
    s = {"cluster": "prod", "serviceName": name, "taskDefinition": name, "desiredCount": desired,
         "deploymentConfiguration": cfg}
    if controller:
        s["deploymentController"] = {"type": controller}
    return s


def make_sim(ctx, services, settings=None, consistency=None):
    """A simulator with team/web:prod and the services given (each with its own family, whose
    container app names the tag); consistency: {family: "disabled"} for versionConsistency."""
    tds = []
    for s in services:
        td = taskdef(s["serviceName"], "team/web")
        if (consistency or {}).get(s["serviceName"]):
            td["containerDefinitions"][0]["versionConsistency"] = consistency[s["serviceName"]]
        tds.append(td)
    return Sim(ctx, keys=KEYS, seed={
        "settings": dict(FAST, **(settings or {})),
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "v1"}]}],
        "clusters": ["prod"], "task_definitions": tds, "services": services})


def ecs(sim):
    return sim.client("ecs", key=TEST_KEY)


def last_request(sim):
    return sim.control("GET", "/requests")["last"]


def daemon_calls(sim, since=0, op=None, service=None):
    """ECS calls made with the daemon's key (the daemon's, or ecr-deployd --approve/--reject's),
    optionally of one operation and one service."""
    out = []
    for r in sim.requests(since=since, service="ecs"):
        if r.get("access_key") != SIM_KEY[0] or (op and r["operation"] != op):
            continue
        if service and r.get("params", {}).get("service") != service and \
                r.get("params", {}).get("family") != service:
            continue
        out.append(r)
    return out


def mutations_of(sim, service, since=0):
    return [r for r in daemon_calls(sim, since, service=service)
            if r["operation"] in ("RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition")]


def fields(line):
    """The journald-like fields of a stderr event line (after MESSAGE_ID=), unescaped."""
    i = line.find(" MESSAGE_ID=")
    if i < 0:
        return {}
    out, s, j = {}, line[i + 1:], 0
    while j < len(s):
        m = re.compile(r"([A-Z0-9_]+)=").match(s, j)
        if not m:
            break
        key, j = m.group(1), m.end()
        if j < len(s) and s[j] == '"':
            j += 1
            val = []
            while j < len(s) and s[j] != '"':
                if s[j] == "\\" and j + 1 < len(s):
                    j += 1
                val.append(s[j])
                j += 1
            j += 1
            out[key] = "".join(val)
        else:
            k = s.find(" ", j)
            k = len(s) if k < 0 else k
            out[key] = s[j:k]
            j = k
        while j < len(s) and s[j] == " ":
            j += 1
    return out


def events(p, message_id, service=None):
    """(line, fields) of each event with this MESSAGE_ID, optionally of one service, in order."""
    out = []
    for l in lines_with(p, "MESSAGE_ID=" + message_id):
        f = fields(l)
        if service is None or f.get("ECS_SERVICE") == service:
            out.append((l, f))
    return out


def state_file(ctx):
    with open(ctx.path("state", "state.json")) as f:
        return json.load(f)


def failed_digests(ctx, service, watch="web"):
    t = state_file(ctx)["watches"][watch]["targets"].get("us-east-1/prod/" + service, {})
    return [f["digest"] for f in t.get("failed", [])]


def settle(p, n=1):
    """The first cycle meets each target: the service already runs ECR's digest."""
    wait_for(lambda: len(lines_with(p, "already runs")) >= n, 20, "first-start inspection of %d target(s)" % n)


def current_sd(sim, service):
    e = ecs(sim)
    s = e.describe_services(cluster="prod", services=[service])["services"][0]
    arn = s.get("currentServiceDeployment")
    if not arn:
        return None
    out = e.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return out[0] if out else None


def awaiting_hook(sim, service):
    return awaiting_hook_in(ecs(sim), service)


def awaiting_hook_in(client, service):
    """(our service deployment, the hook awaiting action) as this client reads them, or None."""
    s = client.describe_services(cluster="prod", services=[service])["services"][0]
    d = client.describe_service_deployments(serviceDeploymentArns=[s["currentServiceDeployment"]])[
        "serviceDeployments"][0] if s.get("currentServiceDeployment") else None
    hooks = [h for h in (d or {}).get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
    return (d, hooks[0]) if hooks else None


def check_update_params(sim, service, force, since=0):
    """Every UpdateService of ours to this service sends only cluster, service and the revision
    (or forceNewDeployment)."""
    ups = daemon_calls(sim, since, "UpdateService", service)
    check(ups, "an UpdateService to %s" % service)
    for u in ups:
        want = {"cluster", "service", "forceNewDeployment" if force else "taskDefinition"}
        check_eq(set(u["params"]), want, "UpdateService params of %s" % service)
        if force:
            check_eq(u["params"]["forceNewDeployment"], True, "forceNewDeployment")
    return ups


def check_progress(p, service, strategy):
    """DEPLOY_PROGRESS of one service: its fields, stages in ECS's order, never the same stage
    twice in a row, no production traffic before the shift and all of it after."""
    prog = events(p, DEPLOY_PROGRESS, service)
    if strategy != "ROLLING":
        check(prog, "DEPLOY_PROGRESS for %s (%s)" % (service, strategy))
    stages = []
    for line, f in prog:
        for k in ("LIFECYCLE_STAGE", "PRODUCTION_TRAFFIC_WEIGHT", "SERVICE_DEPLOYMENT_STATUS"):
            check(f.get(k), "%s in %s" % (k, line))
        stage = f["LIFECYCLE_STAGE"]
        check(stage in STAGES, "a stage ECS has: %s" % line)
        weight = float(f["PRODUCTION_TRAFFIC_WEIGHT"].rstrip("%"))
        if STAGES.index(stage) < STAGES.index("PRODUCTION_TRAFFIC_SHIFT"):
            check_eq(weight, 0.0, "no production traffic at %s" % stage)
        if STAGES.index(stage) >= STAGES.index("BAKE_TIME"):
            check_eq(weight, 100.0, "all production traffic at %s" % stage)
        stages.append(stage)
    for a, b in zip(stages, stages[1:]):
        check(a != b, "two DEPLOY_PROGRESS in a row for stage %s of %s: %s" % (a, service, stages))
        check(STAGES.index(a) < STAGES.index(b), "stages in ECS's order for %s: %s" % (service, stages))
    return stages


# -- strategies --------------------------------------------------------------------------------

def run_strategy(ctx, strategy, config, bake_minutes=1, extra_revision_services=0):
    """One push to services of this strategy: web (strategy revision), web-f (force) and, for the
    batching check, more revision ones. Returns (sim, p, digest, arns by service)."""
    cfg = dict({"strategy": strategy, "bakeTimeInMinutes": bake_minutes}, **config)
    names = ["web", "web-f"] + ["web-%d" % i for i in range(extra_revision_services)]
    sim = make_sim(ctx, [svc(n, cfg) for n in names])
    targets = [target(n, strategy="force") if n == "web-f" else target(n) for n in names]
    p = start(ctx, sim, [web_watch(*targets)])
    settle(p, len(names))
    seeded = {n: current_sd(sim, n)["serviceDeploymentArn"] for n in names}
    since = last_request(sim)
    # Before the push: the daemon's own poll may see the tag move while the push's reply is still
    # on its way (a slow simulator), so no rollout starts before this.
    t_poll = time.monotonic()
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    bake_seen, done_seen, arns, steps = {}, {}, {}, set()
    bake_real = bake_minutes * 60 / ACCEL

    def cond():
        now = time.monotonic()
        steps.update(rollout_steps(ctx))
        for n in names:
            if n in done_seen:
                continue
            d = current_sd(sim, n)
            if d and d["serviceDeploymentArn"] != seeded[n]:
                arns.setdefault(n, d["serviceDeploymentArn"])
                if d.get("lifecycleStage") == "BAKE_TIME" and d["serviceDeploymentArn"] == arns[n]:
                    bake_seen.setdefault(n, now)
            if events(p, DEPLOY_COMPLETED, n):
                # when it was seen, not when this look began: the reads above may take a while
                # (DURATION_MS was once 4 ms over a bound taken from 'now' in CI)
                done_seen[n] = time.monotonic()
        if lines_with(p, DEPLOY_FAILED):
            return True
        return len(done_seen) == len(names)
    wait_for(cond, 60, "DEPLOY_COMPLETED for %s" % names, interval=0.05)
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    # The record's file is sampled while the rollouts run; every event of a rollout names its step
    # too (a loaded machine's samples may all fall before and after a short tracking step).
    steps.update(f.get("ROLLOUT_STEP") for n in names for mid in (DEPLOY_STARTED, DEPLOY_COMPLETED)
                 for _, f in events(p, mid, n))
    steps.discard(None)
    check("tracking-sd" in steps, "the rollout record's step is tracking-sd (seen: %s)" % sorted(steps))
    for n in names:
        done_line, done = events(p, DEPLOY_COMPLETED, n)[0]
        check_eq(done.get("IMAGE_DIGEST"), new, "the digest completed on %s" % n)
        check_eq(done.get("SERVICE_DEPLOYMENT_ARN"), arns.get(n), "our service deployment on %s" % n)
        check(events(p, DEPLOY_STARTED, n), "DEPLOY_STARTED on %s" % n)
        d = ecs(sim).describe_service_deployments(serviceDeploymentArns=[arns[n]])["serviceDeployments"][0]
        check_eq(d["status"], "SUCCESSFUL", "ECS says SUCCESSFUL for %s" % n)
        check_update_params(sim, n, n == "web-f", since)
        asked = [r for r in daemon_calls(sim, since, "DescribeServiceDeployments")
                 if arns[n] in r["params"].get("serviceDeploymentArns", [])]
        check(asked, "the daemon read %s with DescribeServiceDeployments" % arns[n])
        check_progress(p, n, strategy)
        out = p.read_stderr()
        check(out.index(events(p, DEPLOY_STARTED, n)[0][0]) < out.index(done_line), "started before completed")
        for line, _ in events(p, DEPLOY_PROGRESS, n):
            check(out.index(line) < out.index(done_line), "progress before completion: %s" % line)
        if strategy != "ROLLING" and bake_minutes:
            check(n in bake_seen, "the test saw %s's bake time" % n)
            waited = done_seen[n] - bake_seen[n]
            # The test sees the stage begin up to a poll late (more on a loaded machine): half a
            # second of slack; a daemon that takes running tasks for done is seconds early.
            check(waited >= bake_real - 0.5, "%s: DEPLOY_COMPLETED %.2fs after BAKE_TIME began, before the %.1fs "
                  "of bake time ended" % (n, waited, bake_real))
            ms = int(done["DURATION_MS"])
            check(bake_real * 1000 <= ms <= (done_seen[n] - t_poll) * 1000 + 1000,
                  "%s: DURATION_MS %d covers the bake time (%.1fs) and no more than the rollout (%.1fs)"
                  % (n, ms, bake_real, done_seen[n] - t_poll))
    for r in daemon_calls(sim, since, "DescribeServiceDeployments"):
        check(1 <= len(r["params"]["serviceDeploymentArns"]) <= 20, "at most 20 ARNs a call: %s" % r["params"])
    return sim, p, new, arns


def test_rolling_tracks_by_service_deployment_in_batches(ctx):
    """ROLLING with the service-deployment API: step tracking-sd, DescribeServiceDeployments with
    our ARNs, batched (four services deploying at once: one call with more than one ARN)."""
    sim, p, new, arns = run_strategy(ctx, "ROLLING", {}, bake_minutes=0, extra_revision_services=2)
    batched = [r for r in daemon_calls(sim, 0, "DescribeServiceDeployments")
               if len(r["params"]["serviceDeploymentArns"]) > 1]
    check(batched, "one DescribeServiceDeployments carries more than one ARN")
    check_eq(daemon_calls(sim, 0, "StopServiceDeployment"), [], "nothing stopped")


OTHER = "210987654321"
OTHER_KEY = ("AKIDAWSSIMOTHERKEY01", "awssim/other/account/secret/0123456789ab", OTHER)


def sd_place(arn):
    """(region, account) of a service deployment's ARN."""
    parts = arn.split(":")
    return parts[3], parts[4]


def test_describe_service_deployments_batches_at_most_20_per_region_and_credentials(ctx):
    """25 service deployments tracked at once: 21 in us-east-1 with the daemon's keys, 2 in
    us-west-2, 2 in another account through a role. All wait at a PAUSE hook; a kill -9 and a
    restart resume the 25 together, so that the first look at them is one tick: 20 ARNs in one
    DescribeServiceDeployments and the 21st in a second, the other region and the other
    credentials each in a call of their own. Every call: at most 20 ARNs, of one region and
    account. Approved, all 25 complete."""
    role = "arn:aws:iam::%s:role/deployer" % OTHER
    places = [("web-%02d" % i, None, None) for i in range(21)] + \
        [("west-%d" % i, "us-west-2", None) for i in range(2)] + [("acct-%d" % i, None, OTHER) for i in range(2)]
    cfg = pause_cfg()
    tds, services, targets = [], [], []
    for name, region, account in places:
        td, s = taskdef(name, "team/web"), svc(name, cfg, desired=1)
        for o in (td, s):
            o.update({k: v for k, v in (("region", region), ("account", account)) if v})
        tds.append(td)
        services.append(s)
        t = target(name)
        if region:
            t["cluster"] = "arn:aws:ecs:%s:%s:cluster/prod" % (region, ACCT)
        if account:
            t["role_arn"] = role
        targets.append(t)
    sim = Sim(ctx, keys=KEYS + (OTHER_KEY,), seed={
        "settings": FAST, "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "v1"}]}],
        "clusters": ["prod", {"name": "prod", "region": "us-west-2"}, {"name": "prod", "account": OTHER}],
        "task_definitions": tds, "services": services})
    clients = {(None, None): ecs(sim), ("us-west-2", None): sim.client("ecs", key=TEST_KEY, region="us-west-2"),
               (None, OTHER): sim.client("ecs", key=OTHER_KEY)}

    def looks(since):
        """The daemon's DescribeServiceDeployments (its keys, or the role's), in order."""
        return [r for r in sim.requests(since=since, service="ecs", operation="DescribeServiceDeployments")
                if r.get("access_key") not in (TEST_KEY[0], OTHER_KEY[0])]

    def wrong(r):
        """What is wrong with one of the daemon's calls, or None."""
        got = r["params"]["serviceDeploymentArns"]
        if not 1 <= len(got) <= 20:
            return "%d ARNs in one call (at most 20)" % len(got)
        if len({sd_place(a) for a in got}) != 1:
            return "ARNs of several regions or accounts in one call: %s" % got
        if r["access_key"].startswith("ASIA") != (sd_place(got[0])[1] == OTHER):
            return "%s read with key %s" % (got, r["access_key"])
        return None

    def check_calls(calls):
        for r in calls:
            check(not wrong(r), wrong(r) or "")

    watches = [web_watch(*targets)]
    p = start(ctx, sim, watches, max_concurrent_deploys=30)
    settle(p, len(places))
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(events(p, AWAITING_APPROVAL, n) for n, _, _ in places) or
             [r for r in looks(0) if wrong(r)], 60,
             "AWAITING_APPROVAL for the %d services" % len(places))
    check_calls(looks(0))
    arns = {f["ECS_SERVICE"]: f["SERVICE_DEPLOYMENT_ARN"] for _, f in events(p, AWAITING_APPROVAL)}
    check_eq(sorted(arns), sorted(n for n, _, _ in places), "the ARN of each")

    p.signal(signal.SIGKILL)
    p.wait(5)
    since = last_request(sim)
    p = start(ctx, sim, watches, max_concurrent_deploys=30)
    wait_for(lambda: {a for r in looks(since) for a in r["params"]["serviceDeploymentArns"]} >= set(arns.values()),
             20, "each of the %d deployments read after the restart" % len(arns))
    calls = looks(since)
    check_calls(calls)
    # The call that first read each deployment after the restart.
    first = {}
    for r in calls:
        for a in r["params"]["serviceDeploymentArns"]:
            first.setdefault(a, r)
    firsts = {r["seq"]: r["params"]["serviceDeploymentArns"] for r in first.values()}
    east = sorted(len(a) for a in firsts.values() if sd_place(a[0]) == ("us-east-1", ACCT))
    check_eq(east, [1, 20], "the 21 of us-east-1 read at once: 20 in one call, the 21st in a second")
    check_eq(sorted((sd_place(a[0]), len(a)) for a in firsts.values() if sd_place(a[0]) != ("us-east-1", ACCT)),
             [(("us-east-1", OTHER), 2), (("us-west-2", ACCT), 2)], "us-west-2 and the other account: a call each")
    check_eq(events(p, AWAITING_APPROVAL), [], "still waiting, not said again")
    for name, region, account in places:
        d, hook = awaiting_hook_in(clients[(region, account)], name)
        clients[(region, account)].continue_service_deployment(
            serviceDeploymentArn=d["serviceDeploymentArn"], hookId=hook["hookId"], action="CONTINUE")
    wait_for(lambda: all(events(p, DEPLOY_COMPLETED, n) for n, _, _ in places) or lines_with(p, DEPLOY_FAILED), 60,
             "DEPLOY_COMPLETED for the %d services" % len(places))
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    for name, _, _ in places:
        f = events(p, DEPLOY_COMPLETED, name)[0][1]
        check_eq((f.get("IMAGE_DIGEST"), f.get("SERVICE_DEPLOYMENT_ARN")), (new, arns[name]), "completed: " + name)
    check_calls(looks(0))


def test_blue_green_completes_after_its_bake_time(ctx):
    run_strategy(ctx, "BLUE_GREEN", {})


def test_linear_completes_after_its_steps_and_bake_time(ctx):
    run_strategy(ctx, "LINEAR", {"linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}})


def test_canary_completes_after_its_canary_and_bake_time(ctx):
    run_strategy(ctx, "CANARY", {"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1}})


# -- failures ECS reports ----------------------------------------------------------------------

def test_alarm_rollback_names_the_alarm_and_the_digest_is_never_retried(ctx):
    cfg = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10,
           "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": True}}
    sim = make_sim(ctx, [svc("web", cfg)])
    p = start(ctx, sim, [web_watch()])
    settle(p)
    good = sim.client("ecs", key=TEST_KEY).describe_services(cluster="prod", services=["web"])["services"][0][
        "taskDefinition"]
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: (lambda d: d and d["status"] == "IN_PROGRESS" and d.get("lifecycleStage") in
                      ("BAKE_TIME", "POST_PRODUCTION_TRAFFIC_SHIFT"))(current_sd(sim, "web")), 30,
             "our deployment in progress, late")
    out = sim.control("POST", "/alarm", {"cluster": "prod", "service": "web", "alarm": "web-5xx", "state": "ALARM"})
    check_eq(out["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"), True, "the alarm triggered: %s" % out)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 40, "the rollback ends")
    failed = events(p, DEPLOY_FAILED, "web")
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    check("web-5xx" in failed[0][1].get("REASON", ""), "REASON names the alarm: %s" % failed[0][0])
    check_eq(failed[0][1].get("IMAGE_DIGEST"), new, "of the new digest")
    check(lines_with(p, ROLLBACK_STARTED), "ROLLBACK_STARTED")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    check(new in failed_digests(ctx, "web"), "the digest is in the failed list: %s" % failed_digests(ctx, "web"))
    check_eq(len(daemon_calls(sim, 0, "UpdateService", "web")), 1, "one UpdateService (ECS rolled back itself)")
    # Another poll cycle: the failed digest is not deployed again.
    since = last_request(sim)
    cycles = len(lines_with(p, "poll cycle:"))
    poll_now(p)
    wait_for(lambda: len(lines_with(p, "poll cycle:")) > cycles, 15, "another poll cycle")
    wait_for(lambda: lines_with(p, "failed on service 'web' before"), 10, "SKIPPED failed-before")
    check_eq(mutations_of(sim, "web", since), [], "not deployed again")
    check_eq(ecs(sim).describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"], good,
             "back on the revision before")


def test_circuit_breaker_failure_quotes_failure_count_and_threshold(ctx):
    sim = make_sim(ctx, [svc("web")])
    p = start(ctx, sim, [web_watch()])
    settle(p)
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_FAILED), 40, "DEPLOY_FAILED")
    line, f = events(p, DEPLOY_FAILED, "web")[0]
    m = re.search(r"\(failureCount (\d+), threshold (\d+)\)", f.get("REASON", ""))
    check(m, "REASON quotes failureCount and threshold: %s" % line)
    check(int(m.group(1)) >= int(m.group(2)) == 3, "failureCount >= threshold 3: %s" % line)
    check_eq(f.get("IMAGE_DIGEST"), bad, "the bad digest")
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 40, "the rollback ends")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    check(bad in failed_digests(ctx, "web"), "the digest is marked failed")


def test_ecs_rollback_that_fails_quotes_ecs_reason(ctx):
    """The circuit breaker stops the new digest and ECS rolls back to the digest that ran before,
    whose new tasks fail too (it went bad meanwhile; the tasks that run it keep running):
    DEPLOY_FAILED with the counts, then ROLLBACK_FAILED quoting ECS's statusReason."""
    sim = make_sim(ctx, [svc("web")])
    p = start(ctx, sim, [web_watch()])
    settle(p)
    before = lines_with(p, "already runs")[0].split("already runs ")[1].split()[0]
    sim.bad_digest(before, "exit")
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_FAILED) or lines_with(p, ROLLBACK_COMPLETED), 40, "the rollback ends")
    line, f = events(p, DEPLOY_FAILED, "web")[0]
    check_eq(f.get("IMAGE_DIGEST"), bad, "DEPLOY_FAILED of the new digest")
    check("failureCount" in f.get("REASON", ""), "DEPLOY_FAILED quotes the circuit breaker: " + line)
    check(lines_with(p, ROLLBACK_STARTED), "ROLLBACK_STARTED (ECS's rollback followed)")
    check_eq(lines_with(p, ROLLBACK_COMPLETED), [], "no ROLLBACK_COMPLETED")
    rf = events(p, ROLLBACK_FAILED, "web")
    check_eq(len(rf), 1, "one ROLLBACK_FAILED")
    arn = f.get("SERVICE_DEPLOYMENT_ARN") or rf[0][1].get("SERVICE_DEPLOYMENT_ARN")
    d = ecs(sim).describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    check_eq(d["status"], "ROLLBACK_FAILED", "ECS says its rollback failed")
    # ECS's text as the daemon shows any (ecs_printable: quote and backslash escaped).
    said = "ECS: " + d.get("statusReason", "?").replace("\\", "\\\\").replace("'", "\\'")
    check("(failureCount" in rf[0][1].get("REASON", "") and said in rf[0][1].get("REASON", ""),
          "ROLLBACK_FAILED quotes ECS's reason %r: %r" % (said, rf[0][1].get("REASON")))
    check(bad in failed_digests(ctx, "web"), "the digest is marked failed")
    check_eq(daemon_calls(sim, 0, "StopServiceDeployment"), [], "nothing stopped: ECS rolled back itself")


# -- PAUSE hooks -------------------------------------------------------------------------------

def pause_cfg(action="ROLLBACK", minutes=60, stage="POST_TEST_TRAFFIC_SHIFT"):
    return {"strategy": "BLUE_GREEN", "lifecycleHooks": [
        {"targetType": "PAUSE", "lifecycleStages": [stage],
         "timeoutConfiguration": {"timeoutInMinutes": minutes, "action": action}}]}


def operator(ctx, sim, *args):
    """ecr-deployd --approve/--reject TARGET with the daemon's configuration and keys."""
    return ctx.run([daemon_path(), "-c", ctx.path("etc", "ecr-deployd.json")] + list(args),
                   env=daemon_env(ctx, sim), timeout=30)


def wait_awaiting(sim, p, service="web", approve="manual"):
    """AWAITING_APPROVAL for the service, checked against the hook ECS shows: (fields, hook, arn)."""
    wait_for(lambda: events(p, AWAITING_APPROVAL, service), 30, "AWAITING_APPROVAL for %s" % service)
    line, f = events(p, AWAITING_APPROVAL, service)[0]
    d, hook = wait_for(lambda: awaiting_hook(sim, service), 5, "the hook awaiting action in ECS")
    check_eq(f.get("HOOK_ID"), hook["hookId"], "HOOK_ID: " + line)
    check_eq(f.get("LIFECYCLE_STAGE"), "POST_TEST_TRAFFIC_SHIFT", "LIFECYCLE_STAGE: " + line)
    # ECS's expiresAt (boto3 reads the epoch seconds as a datetime), to the second.
    want = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(hook["expiresAt"].timestamp())))
    check_eq(f.get("HOOK_EXPIRES_AT"), want, "HOOK_EXPIRES_AT is the hook's expiresAt: " + line)
    check(want in line, "the message says until when: " + line)
    check_eq(f.get("APPROVE"), approve, "APPROVE: " + line)
    return f, hook, d["serviceDeploymentArn"]


def test_pause_hook_outlasts_the_rollout_timeout_and_approval_completes(ctx):
    """The rollout timeout (10 s) does not run while the hook awaits action; the operator's
    CONTINUE completes the deployment."""
    sim = make_sim(ctx, [svc("web", pause_cfg(minutes=60))])
    p = start(ctx, sim, [web_watch(target("web", rollout_timeout="10s"))])
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    f, hook, arn = wait_awaiting(sim, p)
    check_eq(f.get("SERVICE_DEPLOYMENT_ARN", arn), arn, "the ARN of our deployment")
    # The daemon looks at our deployment again more than the rollout timeout after its
    # UpdateService (the rollout began before it): nothing fails, nothing is stopped.
    updated = daemon_calls(sim, 0, "UpdateService")[0]["time"]
    wait_for(lambda: [r for r in daemon_calls(sim, 0, "DescribeServiceDeployments")
                      if arn in r["params"].get("serviceDeploymentArns", []) and r["time"] > updated + 10.5]
             or lines_with(p, DEPLOY_FAILED), 30, "a look at our deployment past the rollout timeout")
    time.sleep(0.5)  # what the daemon makes of that reply
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED while the hook awaits")
    check_eq(daemon_calls(sim, 0, "StopServiceDeployment"), [], "no StopServiceDeployment")
    check_eq(daemon_calls(sim, 0, "ContinueServiceDeployment"), [], "manual: the daemon does not continue it")
    check_eq(current_sd(sim, "web")["status"], "IN_PROGRESS", "still waiting in ECS")
    ecs(sim).continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 30, "DEPLOY_COMPLETED")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(events(p, DEPLOY_COMPLETED, "web")[0][1].get("IMAGE_DIGEST"), new, "completed")


def test_pause_hook_rejected_rolls_back_and_fails_the_digest(ctx):
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    p = start(ctx, sim, [web_watch()])
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, arn = wait_awaiting(sim, p)
    status, out, err = operator(ctx, sim, "--reject", "web/web")
    check_eq(status, 0, "ecr-deployd --reject: %s %s" % (out, err))
    check_eq([(c["params"].get("hookId"), c["params"].get("action")) for c in
              daemon_calls(sim, 0, "ContinueServiceDeployment")], [(hook["hookId"], "ROLLBACK")], "the reject sent")
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 30, "the rollback ends")
    failed = events(p, DEPLOY_FAILED, "web")
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    check_eq(failed[0][1].get("IMAGE_DIGEST"), new, "of the rejected digest")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    check(new in failed_digests(ctx, "web"), "the digest is marked failed")
    check_eq(lines_with(p, DEPLOY_COMPLETED), [], "not completed")


def test_pause_hook_expiry_follows_its_timeout_action(ctx):
    """web: the hook times out with ROLLBACK (rolled back, digest failed, ECS's reason said);
    web-c: with CONTINUE (completed). Both said AWAITING_APPROVAL first. Two minutes of hook
    timeout are 4 s here."""
    sim = make_sim(ctx, [svc("web", pause_cfg("ROLLBACK", 2)), svc("web-c", pause_cfg("CONTINUE", 2))])
    p = start(ctx, sim, [web_watch(target("web"), target("web-c"))])
    settle(p, 2)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: events(p, DEPLOY_COMPLETED, "web-c") and (events(p, ROLLBACK_COMPLETED, "web")
                                                                or events(p, ROLLBACK_FAILED, "web")
                                                                or lines_with(p, ROLLBACK_COMPLETED)),
             40, "web rolled back and web-c completed")
    check_eq(events(p, DEPLOY_FAILED, "web-c"), [], "web-c: no DEPLOY_FAILED")
    check_eq(events(p, DEPLOY_COMPLETED, "web"), [], "web: not completed")
    failed = events(p, DEPLOY_FAILED, "web")
    check_eq(len(failed), 1, "web: one DEPLOY_FAILED")
    check("timed out" in failed[0][1].get("REASON", ""), "web: REASON says the hook timed out: %s" % failed[0][0])
    for s in ("web", "web-c"):
        check_eq([f.get("HOOK_TIMEOUT_ACTION") for _, f in events(p, AWAITING_APPROVAL, s)][:1],
                 ["ROLLBACK" if s == "web" else "CONTINUE"], "%s: AWAITING_APPROVAL with its timeout action" % s)
    check_eq(lines_with(p, ROLLBACK_FAILED), [], "no ROLLBACK_FAILED")
    check(new in failed_digests(ctx, "web"), "web: the digest is marked failed")
    check_eq(failed_digests(ctx, "web-c"), [], "web-c: nothing failed")
    check_eq(daemon_calls(sim, 0, "ContinueServiceDeployment"), [], "manual: the daemon continued nothing")


def test_auto_approve_continues_the_hook_itself(ctx):
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    p = start(ctx, sim, [web_watch(target("web", approve="auto"))])
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 40, "DEPLOY_COMPLETED")
    aw = events(p, AWAITING_APPROVAL, "web")
    check(aw, "AWAITING_APPROVAL said")
    check_eq(aw[0][1].get("APPROVE"), "auto", "APPROVE=auto: " + aw[0][0])
    cont = daemon_calls(sim, 0, "ContinueServiceDeployment")
    check_eq([(c["params"].get("hookId"), c["params"].get("action")) for c in cont],
             [(aw[0][1].get("HOOK_ID"), "CONTINUE")], "the daemon continued the hook, once")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(events(p, DEPLOY_COMPLETED, "web")[0][1].get("IMAGE_DIGEST"), new, "completed")


def test_kill_9_while_awaiting_approval_resumes_waiting(ctx):
    sim = make_sim(ctx, [svc("web", pause_cfg())])
    watches = [web_watch()]
    p = start(ctx, sim, watches)
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, arn = wait_awaiting(sim, p)
    p.signal(signal.SIGKILL)
    p.wait(5)
    since = last_request(sim)
    p = start(ctx, sim, watches)
    wait_for(lambda: lines_with(p, "resuming the rollout"), 10, "the resume")
    # It looks at our deployment again and keeps waiting.
    wait_for(lambda: [r for r in daemon_calls(sim, since, "DescribeServiceDeployments")
                      if arn in r["params"].get("serviceDeploymentArns", [])], 15, "our deployment read again")
    time.sleep(1.5)
    check_eq([r["operation"] for r in daemon_calls(sim, since)
              if r["operation"] in ("RegisterTaskDefinition", "UpdateService", "StopServiceDeployment",
                                    "ContinueServiceDeployment")], [], "no second deployment, nothing decided")
    check_eq(lines_with(p, DEPLOY_FAILED) + lines_with(p, DEPLOY_COMPLETED), [], "still waiting")
    check_eq(events(p, AWAITING_APPROVAL, "web"), [], "AWAITING_APPROVAL not said again after the restart")
    status, out, err = operator(ctx, sim, "--approve", "web/web")
    check_eq(status, 0, "ecr-deployd --approve: %s %s" % (out, err))
    check(hook["hookId"] in out, "the approval names the hook: %s" % out)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 30, "DEPLOY_COMPLETED")
    check_eq(events(p, DEPLOY_COMPLETED, "web")[0][1].get("IMAGE_DIGEST"), new, "completed after the restart")
    check_eq(len(daemon_calls(sim, 0, "UpdateService")), 1, "one UpdateService in all")
    check_eq(len(daemon_calls(sim, 0, "RegisterTaskDefinition")), 1, "one RegisterTaskDefinition in all")


def test_approval_given_while_down_keeps_the_time_left(ctx):
    """kill -9 while awaiting approval; the hook is approved while the daemon is down, for longer
    than the whole rollout timeout; the restart finds the deployment baking: the timeout runs on
    from what was left when the hook began (not from the deadline written then), so it completes.
    (The review found it failed and stopped an approved deployment.)"""
    cfg = pause_cfg(minutes=60)
    cfg["bakeTimeInMinutes"] = 14  # 28 s here: still baking at the restart, done well before the time left
    sim = make_sim(ctx, [svc("web", cfg)])
    watches = [web_watch(target("web", rollout_timeout="20s"))]
    p = start(ctx, sim, watches)
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    _, hook, arn = wait_awaiting(sim, p)
    p.signal(signal.SIGKILL)
    p.wait(5)
    ecs(sim).continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    time.sleep(21)  # longer than the rollout timeout
    check_eq(current_sd(sim, "web")["status"], "IN_PROGRESS", "still in progress at the restart")
    since = last_request(sim)
    p = start(ctx, sim, watches)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 40, "the rollout ends")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED after an approval given while down")
    check_eq(daemon_calls(sim, since, "StopServiceDeployment"), [], "the approved deployment is not stopped")
    check_eq(events(p, DEPLOY_COMPLETED, "web")[0][1].get("IMAGE_DIGEST"), new, "completed")


# -- our own rollback, a late ARN ----------------------------------------------------------------

def test_rollout_timeout_stops_the_service_deployment_with_rollback(ctx):
    """A bake time of an hour (2 min here) and a rollout timeout of 10 s: StopServiceDeployment
    with stopType ROLLBACK, DEPLOY_FAILED, ROLLBACK_STARTED and ROLLBACK_COMPLETED."""
    sim = make_sim(ctx, [svc("web", {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60})])
    p = start(ctx, sim, [web_watch(target("web", rollout_timeout="10s"))])
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, ROLLBACK_COMPLETED) or lines_with(p, ROLLBACK_FAILED), 45, "the rollback ends")
    stops = daemon_calls(sim, 0, "StopServiceDeployment")
    check_eq(len(stops), 1, "one StopServiceDeployment")
    check_eq(stops[0]["params"].get("stopType"), "ROLLBACK", "stopType ROLLBACK")
    failed = events(p, DEPLOY_FAILED, "web")
    check_eq(len(failed), 1, "one DEPLOY_FAILED")
    check("not complete within the rollout timeout" in failed[0][0], failed[0][0])
    check_eq(failed[0][1].get("IMAGE_DIGEST"), new, "of the new digest")
    check(lines_with(p, ROLLBACK_STARTED), "ROLLBACK_STARTED")
    check(lines_with(p, ROLLBACK_COMPLETED), "ROLLBACK_COMPLETED: %s" % lines_with(p, ROLLBACK_FAILED))
    d = ecs(sim).describe_service_deployments(serviceDeploymentArns=[stops[0]["params"]["serviceDeploymentArn"]])
    check_eq(d["serviceDeployments"][0]["status"], "ROLLBACK_SUCCESSFUL", "ECS rolled back")


def test_a_service_deployment_not_found_at_first_still_completes(ctx):
    sim = make_sim(ctx, [svc("web")], settings={"time_acceleration": 1.0, "service_deployment_not_found_seconds": 3})
    p = start(ctx, sim, [web_watch()])
    settle(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED) or lines_with(p, DEPLOY_FAILED), 40, "DEPLOY_COMPLETED")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    done = events(p, DEPLOY_COMPLETED, "web")[0][1]
    check_eq(done.get("IMAGE_DIGEST"), new, "completed")
    up = daemon_calls(sim, 0, "UpdateService")[0]
    early = [r for r in daemon_calls(sim, 0, "DescribeServiceDeployments")
             if done.get("SERVICE_DEPLOYMENT_ARN") in r["params"].get("serviceDeploymentArns", [])
             and r["time"] - up["time"] < 2.5]
    check(early, "the daemon asked while ECS did not find the deployment yet")


# -- the zero-downtime guard -------------------------------------------------------------------

# Each service unsafe in one setting, with the word its GUARD_SETTING must hold and the value.
GUARDED = {
    "g-min": ("minimumhealthypercent", "50"),
    "g-max": ("maximumpercent", "100"),
    "g-cb": ("circuitbreaker", "disabled"),
    "g-vc": ("versionconsistency", "disabled"),
}


def guard_world(ctx, mode):
    services = [svc("g-min", {"minimumHealthyPercent": 50}),
                svc("g-max", {"maximumPercent": 100}),
                svc("g-cb", {"deploymentCircuitBreaker": {"enable": False, "rollback": False}}),
                svc("g-vc")]
    sim = make_sim(ctx, services, settings={"time_acceleration": 1.0}, consistency={"g-vc": "disabled"})
    targets = [target("g-min", guard=mode), target("g-max", guard=mode),
               target("g-cb", guard=mode, rollback="none"), target("g-vc", guard=mode, strategy="force")]
    p = start(ctx, sim, [web_watch(*targets)])
    settle(p, 4)
    return sim, p


def guard_hits(p, service):
    return events(p, GUARD_WARNING, service)


def squashed(text):
    """Lower case without spaces, '_' and '-': 'Circuit breaker' and deploymentCircuitBreaker alike."""
    return re.sub(r"[\s_-]", "", text.lower())


def test_guard_warn_says_each_unsafe_setting_once_and_deploys(ctx):
    sim, p = guard_world(ctx, "warn")
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(daemon_calls(sim, 0, "UpdateService", s) for s in GUARDED), 30, "an UpdateService to each")
    for s, (word, value) in GUARDED.items():
        hits = guard_hits(p, s)
        check_eq(len(hits), 1, "one GUARD_WARNING for %s: %s" % (s, hits))
        line, f = hits[0]
        check(word in squashed(f.get("GUARD_SETTING", "")), "%s: GUARD_SETTING names %s: %s"
              % (s, word, line))
        check(value in f.get("GUARD_VALUE", ""), "%s: GUARD_VALUE %s: %s" % (s, value, line))
    check_eq([l for l, f in events(p, SKIPPED) if "unsafe" in l], [], "nothing skipped")
    # A second deploy (of the services whose first one completed) warns no more.
    done = ["g-min", "g-cb", "g-vc"]
    wait_for(lambda: all(events(p, DEPLOY_COMPLETED, s) for s in done), 30, "the first deploys completed")
    since = last_request(sim)
    third = sim.push("team/web", "prod", seed="v3")
    poll_now(p)
    wait_for(lambda: all(len(events(p, DEPLOY_COMPLETED, s)) >= 2 for s in done), 40, "the second deploys")
    check_eq([events(p, DEPLOY_COMPLETED, s)[-1][1].get("IMAGE_DIGEST") for s in ("g-min", "g-cb")], [third] * 2,
             "the second digest deployed")
    check(all(daemon_calls(sim, since, "UpdateService", s) for s in done), "deployed again")
    for s in GUARDED:
        check_eq(len(guard_hits(p, s)), 1, "still one GUARD_WARNING for %s" % s)


def test_guard_warns_again_when_the_unsafe_value_changes(ctx):
    """"Once per (target, setting) until it changes": a second deploy with the same value says
    nothing; the service's minimumHealthyPercent changed to another unsafe value (by someone else,
    UpdateService) is said again at the next deploy, naming the new value. (What was said is
    remembered by the process: a restart says it once more.)"""
    sim = make_sim(ctx, [svc("g-min", {"minimumHealthyPercent": 50})])
    p = start(ctx, sim, [web_watch(target("g-min", guard="warn"))])
    settle(p)

    def deploy(seed, n):
        digest = sim.push("team/web", "prod", seed=seed)
        poll_now(p)
        wait_for(lambda: len(events(p, DEPLOY_COMPLETED, "g-min")) >= n or lines_with(p, DEPLOY_FAILED), 30,
                 "deploy %d completed" % n)
        check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
        check_eq(events(p, DEPLOY_COMPLETED, "g-min")[-1][1].get("IMAGE_DIGEST"), digest, "deploy %d" % n)

    deploy("v2", 1)
    deploy("v3", 2)
    check_eq([f.get("GUARD_VALUE") for _, f in guard_hits(p, "g-min")], ["50"], "one GUARD_WARNING for 50")
    ecs(sim).update_service(cluster="prod", service="g-min",
                            deploymentConfiguration=dict(SAFE, minimumHealthyPercent=25))
    deploy("v4", 3)
    hits = guard_hits(p, "g-min")
    check_eq([f.get("GUARD_VALUE") for _, f in hits], ["50", "25"], "said again for the new value")
    check("minimumhealthypercent" in squashed(hits[1][1].get("GUARD_SETTING", "")), hits[1][0])
    check(" = 25 " in hits[1][0], "the message names the new value: " + hits[1][0])
    out = p.read_stderr()
    check(out.index(hits[1][0]) < out.index(events(p, DEPLOY_COMPLETED, "g-min")[2][0]),
          "said before the third deploy completed")
    check(out.index(hits[1][0]) > out.index(events(p, DEPLOY_COMPLETED, "g-min")[1][0]),
          "said after the change, not before")


def test_guard_enforce_skips_each_unsafe_service(ctx):
    sim, p = guard_world(ctx, "enforce")
    since = last_request(sim)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)

    def skipped():
        return {f.get("ECS_SERVICE"): l for l, f in events(p, SKIPPED) if f.get("REASON") == "unsafe-deployment-config"}
    wait_for(lambda: len(skipped()) >= 4, 30, "SKIPPED unsafe-deployment-config for the four services")
    for s, (word, value) in GUARDED.items():
        line = skipped().get(s)
        check(line, "SKIPPED for %s" % s)
        # "<setting> = <value> (why)": the setting, then its value.
        named = [(a, v) for a, v in re.findall(r"([A-Za-z.\[\]']+) = ([^;(]+?) \(", line) if word in squashed(a)]
        check(named, "%s: names the setting %s: %s" % (s, word, line))
        check_eq(named[0][1].split(", ")[0], value, "%s: the value of %s: %s" % (s, word, line))
        check_eq(mutations_of(sim, s, since), [], "%s: no RegisterTaskDefinition, no UpdateService" % s)
    check_eq(len([r for r in daemon_calls(sim, since) if r["operation"] in
                  ("RegisterTaskDefinition", "UpdateService")]), 0, "nothing registered or updated")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    for s in GUARDED:
        check_eq(failed_digests(ctx, s), [], "%s: the digest is not marked failed" % s)


def test_guard_off_neither_warns_nor_skips(ctx):
    sim, p = guard_world(ctx, "off")
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: all(daemon_calls(sim, 0, "UpdateService", s) for s in GUARDED), 30, "an UpdateService to each")
    check_eq(lines_with(p, GUARD_WARNING), [], "no GUARD_WARNING")
    check_eq([l for l, f in events(p, SKIPPED) if f.get("REASON") == "unsafe-deployment-config"], [], "no SKIPPED")


# -- controllers, first start ------------------------------------------------------------------

def test_code_deploy_and_external_controllers_are_skipped(ctx):
    sim = make_sim(ctx, [svc("web-cd", controller="CODE_DEPLOY"), svc("web-cd-f", controller="CODE_DEPLOY"),
                         svc("web-ext", controller="EXTERNAL"), svc("web-ext-f", controller="EXTERNAL"),
                         svc("web-ecs-cd")])
    targets = [target("web-cd"), target("web-cd-f", strategy="force"), target("web-ext"),
               target("web-ext-f", strategy="force"),
               target("web-ecs-cd", strategy="codedeploy",
                      codedeploy={"application": "app", "deployment_group": "group"})]
    p = start(ctx, sim, [web_watch(*targets)])
    wait_for(lambda: lines_with(p, "poll cycle:"), 20, "the first poll cycle")
    since = last_request(sim)
    sim.push("team/web", "prod", seed="v2")
    poll_now(p)

    def skipped():
        return {f.get("ECS_SERVICE"): l for l, f in events(p, SKIPPED) if f.get("REASON") == "deployment-controller"}
    wait_for(lambda: len(skipped()) >= 5, 30, "SKIPPED deployment-controller for the five services")
    for s, kind in (("web-cd", "CODE_DEPLOY"), ("web-cd-f", "CODE_DEPLOY"), ("web-ext", "EXTERNAL"),
                    ("web-ext-f", "EXTERNAL"), ("web-ecs-cd", "is ECS, not CODE_DEPLOY")):
        check(kind in skipped()[s], "%s: the controller is named: %s" % (s, skipped()[s]))
    check_eq([r["operation"] for r in daemon_calls(sim, 0) if r["operation"] in
              ("RegisterTaskDefinition", "UpdateService")], [], "no RegisterTaskDefinition, no UpdateService")
    check_eq(lines_with(p, DEPLOY_FAILED), [], "no DEPLOY_FAILED")
    check_eq(sim.requests(since=since, service="codedeploy"), [], "no CodeDeploy call either")


def test_first_start_of_a_blue_green_service_reads_its_service_revision(ctx):
    sim = make_sim(ctx, [svc("web", {"strategy": "BLUE_GREEN"})])
    digest = ecs(sim).describe_service_revisions(serviceRevisionArns=[
        ecs(sim).describe_services(cluster="prod", services=["web"])["services"][0]["currentServiceRevisions"][0][
            "arn"]])["serviceRevisions"][0]["containerImages"][0]["imageDigest"]
    p = start(ctx, sim, [web_watch()])
    settle(p)
    check(digest in lines_with(p, "already runs")[0], "the digest that runs: %s" % lines_with(p, "already runs"))
    check(daemon_calls(sim, 0, "DescribeServiceRevisions"), "the daemon read the service revision")
    time.sleep(1)
    check_eq([r["operation"] for r in daemon_calls(sim, 0) if r["operation"] in
              ("RegisterTaskDefinition", "UpdateService")], [], "nothing deployed")
    check_eq(lines_with(p, DEPLOY_STARTED), [], "no DEPLOY_STARTED")
