# SPDX-License-Identifier: MIT
"""The running daemon against awssim: detection of new digests with the
fewest requests, live reload (applied, rejected with the old rules kept),
and a clean stop."""

import json
import os
import signal
import time

from harness import SIM_KEY, Sim, check, check_eq, daemon_path, wait_for

EVENT_DETECTED = "6c8950813d3c48e982e3bf0b11bd17af"
EVENT_RELOADED = "6a8da2d90ba14ef9ac3223977a865491"
EVENT_REJECTED = "f19694e7cd004bc881572e29ad78f0fa"
EVENT_STOPPING = "86682dd8e48845cd8b0c1447238a5012"
EVENT_POLL_FAILED = "551228da42b8448f961a49f2d4aa3870"


def target(service):
    return [{"cluster": "prod", "service": service, "container": "app"}]


def watch(name, repo, **rule):
    return dict(name=name, repository=repo, targets=target(name), **rule)


def write_config(ctx, watches, **settings):
    """The main configuration file; the control socket is the test's own (ctx.control_socket())."""
    os.makedirs(ctx.path("etc", "conf.d"), exist_ok=True)
    cfg = dict({"aws": {"region": "us-east-1"}, "poll_interval": "10s", "log_level": "debug",
                "state_directory": ctx.path("state"), "control": {"socket": ctx.control_socket()},
                "watches": watches}, **settings)
    return ctx.write(os.path.join("etc", "ecr-deployd.json"), json.dumps(cfg, indent=1))


def daemon_env(ctx, sim, **extra):
    """No AWS settings from the machine; static keys and the simulator unless extra says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1], AWS_ENDPOINT_URL=sim.url,
               AWS_EC2_METADATA_DISABLED="true", HOME=ctx.path())
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def start(ctx, sim, watches, env=None, **settings):
    main = write_config(ctx, watches, **settings)
    p = ctx.spawn([daemon_path(), "-c", main], env=env or daemon_env(ctx, sim), name="ecr-deployd")
    return p, main


def cycles(p):
    return p.read_stderr().count("poll cycle:")


def lines_with(p, text):
    return [l for l in p.read_stderr().splitlines() if text in l]


def test_detects_new_digests(ctx):
    sim = Sim(ctx, seed={"repositories": [
        {"name": "team/web", "images": [{"tag": "prod", "seed": "a"}, {"tag": "v1.4.0", "seed": "b"},
                                        {"tag": "v2.0.0", "seed": "c"}]},
        {"name": "team/api", "images": [{"tag": "release-1", "seed": "r1"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod"),
                            watch("web-1x", "team/web", semver="^1.4"),
                            watch("api", "team/api", tag_glob="release-*"),
                            watch("missing", "team/web", tag="nope")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first poll cycle")
    err = p.read_stderr()
    check("'team/web:prod' is at sha256:" in err, "first sighting logged")
    check("'team/web:v1.4.0' is at" in err, "semver follows the highest match (not v2.0.0)")
    check("tag 'nope' of 'team/web' does not exist" in err, "a missing tag is reported")
    check(EVENT_DETECTED not in err, "no DETECTED for what was already there")
    new_prod = sim.push("team/web", "prod", seed="a2")
    new_14 = sim.push("team/web", "v1.4.1", seed="b2")
    sim.push("team/web", "v2.1.0", seed="c2")
    sim.push("team/api", "release-2", seed="r2")
    wait_for(lambda: len(lines_with(p, EVENT_DETECTED)) >= 3, 25, "three DETECTED events")
    det = lines_with(p, EVENT_DETECTED)
    check_eq(len(det), 3, "exactly three: %s" % det)
    check(any("IMAGE_TAG=prod" in l and "IMAGE_DIGEST=" + new_prod in l and "PREVIOUS_DIGEST=sha256:" in l
              for l in det), "prod moved")
    check(any("WATCH=web-1x" in l and "IMAGE_TAG=v1.4.1" in l and new_14 in l for l in det), "^1.4 moved to v1.4.1")
    check(any("WATCH=api" in l and "IMAGE_TAG=release-2" in l for l in det), "the glob follows the newest push")
    check_eq(len(lines_with(p, "does not exist")), 1, "the missing tag is reported once, not every cycle")


def test_requests_per_cycle_are_the_api_minimum(ctx):
    tags = ["t%03d" % i for i in range(150)]
    sim = Sim(ctx, seed={"repositories": [
        {"name": "many", "images": [{"tag": t, "seed": t} for t in tags]},
        {"name": "few", "images": [{"tag": "a", "seed": "a"}]},
        {"name": "both", "images": [{"tag": t, "seed": t} for t in "abc"]}]})
    watches = [watch("w%03d" % i, "many", tag=t) for i, t in enumerate(tags)]
    watches.append(watch("few-a", "few", tag="a"))
    watches.append(watch("few-glob", "few", tag_glob="*"))
    # two lists of one repository that share a tag: each tag is asked for once
    watches.append(watch("both-ab", "both", tags=["a", "b"]))
    watches.append(watch("both-bc", "both", tags=["b", "c"]))
    p, _ = start(ctx, sim, watches)
    wait_for(lambda: cycles(p) >= 1, 20, "a poll cycle")
    line = lines_with(p, "poll cycle:")[0]
    # many: 150 fixed tags -> 2 lookups; few: 1 lookup + 1 DescribeImages page of every image;
    # both: 1 lookup of a, b and c.
    check("154 watches, 3 repositories, 5 requests (minimum 5)" in line, line)
    ecr = sim.requests(service="ecr")
    check_eq(sorted((r["operation"], r["params"]["repositoryName"], "imageIds" in r["params"]) for r in ecr),
             sorted([("DescribeImages", "many", True), ("DescribeImages", "many", True),
                     ("DescribeImages", "few", True), ("DescribeImages", "few", False),
                     ("DescribeImages", "both", True)]), "what ECR saw")
    check_eq(sorted(len(r["params"]["imageIds"]) for r in ecr if r["params"]["repositoryName"] == "many"),
             [50, 100], "at most 100 image ids per call")
    check_eq([sorted(i["imageTag"] for i in r["params"]["imageIds"]) for r in ecr
              if r["params"]["repositoryName"] == "both"], [["a", "b", "c"]], "the shared tag asked for once")


def test_a_missing_tag_costs_one_request_once(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod"), watch("next", "team/web", tag="next")])
    wait_for(lambda: cycles(p) >= 1, 15, "a cycle")
    ops = [r["operation"] for r in sim.requests(service="ecr")]
    check_eq(ops, ["DescribeImages", "BatchGetImage"], "DescribeImages fails whole on the missing tag; "
             "BatchGetImage says which one")
    check("1 requests (minimum 1)" not in lines_with(p, "poll cycle:")[0], "the extra request is counted")
    since = sim.control("GET", "/requests")["last"]
    p.signal(signal.SIGHUP)
    wait_for(lambda: cycles(p) >= 2, 15, "the next cycle")
    check_eq([r["operation"] for r in sim.requests(since=since, service="ecr")], ["BatchGetImage"],
             "while the tag is missing: one BatchGetImage, the minimum")
    sim.push("team/web", "next", seed="n")
    since = sim.control("GET", "/requests")["last"]
    p.signal(signal.SIGHUP)
    wait_for(lambda: cycles(p) >= 3, 15, "a cycle that finds the tag")
    p.signal(signal.SIGHUP)
    wait_for(lambda: cycles(p) >= 4, 15, "and one more")
    check_eq([r["operation"] for r in sim.requests(since=since, service="ecr")], ["BatchGetImage", "DescribeImages"],
             "back to DescribeImages once every tag exists")


def test_reload_applies_a_valid_change(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]},
                                          {"name": "team/api", "images": [{"tag": "prod", "seed": "b"}]}]})
    p, main = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    ctx.write(os.path.join("etc", "conf.d", "10-api.json"),
              json.dumps({"watches": [watch("api", "team/api", tag="prod")]}))
    cfg = json.load(open(main))
    cfg["watches"] = []
    cfg["aws"]["region"] = "eu-west-1"  # applies only at a restart
    cfg["aws"]["http_version"] = "2"  # so does this: the HTTP client is made at the start
    ctx.write(os.path.join("etc", "ecr-deployd.json"), json.dumps(cfg))
    since = sim.control("GET", "/requests")["last"]
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_RELOADED), 10, "CONFIG_RELOADED")
    check("configuration reloaded: 1 watches, 1 targets" in p.read_stderr(), "the new rules")
    wait_for(lambda: sim.requests(since=since, service="ecr"), 10, "a poll on the new rules")
    wait_for(lambda: cycles(p) >= 2, 15, "the cycle after the reload")
    repos = {r["params"]["repositoryName"] for r in sim.requests(since=since, service="ecr")}
    check_eq(repos, {"team/api"}, "the removed watch is no longer polled; the added one is")
    check("'team/api:prod' is at" in p.read_stderr(), "the added watch started")
    check("apply only after a restart: aws.region aws.http_version" in p.read_stderr(),
          "the restart-only changes are named")
    check_eq({r["error"] for r in sim.requests(since=since, service="ecr")}, {None},
             "polls stay in the region the daemon started with")
    check(p.alive(), "still running")


def test_reload_rejects_a_broken_drop_in_and_keeps_the_old_rules(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, main = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    bad = ctx.write(os.path.join("etc", "conf.d", "50-broken.json"),
                    '{"watches": [{"name": "web", "repository": "Team/API", "tag": "prod"}]}')
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_REJECTED), 10, "CONFIG_REJECTED")
    rej = lines_with(p, EVENT_REJECTED)[0]
    check("previous configuration stays in force" in rej, "says what happens next: %s" % rej)
    err = p.read_stderr()
    check("%s:1:44: watches[0].repository: 'Team/API'" % bad in err, "names the place and value")
    check("'targets' is required" in err and "already used by the watch" in err, "every error")
    # The old rules keep working: a push is still detected.
    digest = sim.push("team/web", "prod", seed="a2")
    wait_for(lambda: lines_with(p, EVENT_DETECTED), 25, "detection on the old rules")
    check(digest in lines_with(p, EVENT_DETECTED)[0], "the new digest")
    check(p.alive(), "still running")


def test_sigterm_stops_promptly(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    sim.fault("ecr.*", "delay", delay=5, rate=1.0)  # a poll is in flight when the signal comes
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: sim.control("GET", "/health")["inflight"] >= 1, 10, "a request in flight")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    status = p.wait(5)
    took = time.monotonic() - t0
    check_eq(status, 0, "exit status")
    check(took < 2, "stopped within a few seconds, mid-request (%.2fs)" % took)
    check(lines_with(p, EVENT_STOPPING), "STOPPING logged")


def test_poll_failures_are_reported_once_and_recovery_too(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    sim.fault("ecr.DescribeImages", "500", rate=1.0)
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 2, 25, "two failing cycles")
    failed = lines_with(p, EVENT_POLL_FAILED)
    check_eq(len(failed), 1, "one POLL_FAILED for a lasting failure: %s" % failed)
    check("AWS_ERROR_CODE=ServerException" in failed[0] and "trying again in 10s" in failed[0], failed[0])
    sim.control("DELETE", "/faults")
    wait_for(lambda: lines_with(p, "works again"), 15, "recovery reported")


def test_push_while_down_is_detected_after_restart(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    old = lines_with(p, "'team/web:prod' is at")[0].split(" is at ")[1].split()[0]
    p.signal(signal.SIGTERM)
    check_eq(p.wait(5), 0, "clean stop")
    state = json.load(open(ctx.path("state", "state.json")))
    check_eq(state["version"], 1, "versioned state")
    check_eq(state["watches"]["web"]["tags"]["prod"]["digest"], old, "the sighting was saved")
    # A restart with nothing new reports nothing new.
    p2, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p2) >= 1, 15, "a cycle after the first restart")
    check(not lines_with(p2, EVENT_DETECTED), "nothing detected twice")
    p2.signal(signal.SIGTERM)
    p2.wait(5)
    new = sim.push("team/web", "prod", seed="pushed-while-down")
    p3, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: lines_with(p3, EVENT_DETECTED), 15, "the push made while down")
    det = lines_with(p3, EVENT_DETECTED)[0]
    check("IMAGE_DIGEST=" + new in det and "PREVIOUS_DIGEST=" + old in det, det)


def test_corrupt_state_is_kept_aside(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    os.makedirs(ctx.path("state"))
    ctx.write(os.path.join("state", "state.json"), '{"version": 1, "watches": {"web": ')
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "a cycle despite the bad state file")
    err = p.read_stderr()
    check("state.json' is unusable (it is not valid JSON)" in err and "starts afresh" in err, err[:600])
    aside = [f for f in os.listdir(ctx.path("state")) if f.startswith("state.json.bad-")]
    check_eq(len(aside), 1, "kept aside")
    check_eq(open(ctx.path("state", aside[0])).read(), '{"version": 1, "watches": {"web": ', "unchanged")
    check_eq(json.load(open(ctx.path("state", "state.json")))["version"], 1, "a fresh state was written")


def test_kill_9_leaves_a_valid_state_file(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "a cycle")
    p.signal(signal.SIGKILL)
    p.wait(5)
    state = json.load(open(ctx.path("state", "state.json")))
    check("sha256:" in state["watches"]["web"]["tags"]["prod"]["digest"], "complete and parseable")
    check_eq([f for f in os.listdir(ctx.path("state")) if ".tmp" in f], [], "no temporary file left")


def test_unusable_state_directory_stops_the_start(ctx):
    sim = Sim(ctx)
    ctx.write("not-a-dir", "x")
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")], state_directory=ctx.path("not-a-dir", "state"))
    check_eq(p.wait(10), 73, "EX_CANTCREAT")
    check("cannot create the state directory" in p.read_stderr(), p.read_stderr())


def test_an_unreadable_tag_does_not_hide_the_others(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"},
                                                                          {"tag": "locked", "seed": "k"}]}]})
    sim.control("POST", "/image-failure", {"repository": "team/web", "tag": "locked", "code": "KmsError"})
    # A missing tag makes the watcher ask BatchGetImage, which reports failures per image.
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod"), watch("locked", "team/web", tag="locked"),
                            watch("missing", "team/web", tag="nope")])
    wait_for(lambda: cycles(p) >= 1, 15, "a cycle")
    err = p.read_stderr()
    check("tag 'locked' of 'team/web' cannot be read: KmsError" in err, "the unreadable tag is named: %s" % err)
    check(EVENT_POLL_FAILED not in err, "the repository is not reported as failed")
    new = sim.push("team/web", "prod", seed="a2")
    wait_for(lambda: lines_with(p, EVENT_DETECTED), 15, "the other tag still detected")
    check(new in lines_with(p, EVENT_DETECTED)[0], "with the new digest")
    check_eq(len(lines_with(p, "cannot be read")), 1, "reported once")


def test_a_credentials_failure_is_reported_once_for_all_repositories(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/r%d" % i, "images": [{"tag": "prod", "seed": str(i)}]}
                                          for i in range(5)]})
    sim.settings(container_authorization="Bearer right-token")
    ctx.secrets.add("right-token")
    path = sim.control("POST", "/container-credentials", {"id": "task-1"})["path"]
    tok = ctx.write("auth-token", "Bearer wrong-token\n")
    ctx.secret_holders.add(tok)
    env = daemon_env(ctx, sim, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                     AWS_CONTAINER_CREDENTIALS_FULL_URI=sim.url + path, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tok)
    p, _ = start(ctx, sim, [watch("w%d" % i, "team/r%d" % i, tag="prod") for i in range(5)], env=env)
    wait_for(lambda: cycles(p) >= 2, 25, "two cycles without credentials")
    failed = lines_with(p, EVENT_POLL_FAILED)
    check_eq(len(failed), 1, "one POLL_FAILED for five repositories: %s" % failed)
    check("no usable AWS credentials" in failed[0] and "HTTP 401" in failed[0], failed[0])
    ctx.write("auth-token", "Bearer right-token\n")
    wait_for(lambda: lines_with(p, "credentials work again"), 15, "recovery")
    check_eq(len(lines_with(p, "credentials work again")), 1, "one recovery line")
    check_eq(lines_with(p, "works again"), [], "no recovery line per repository")
    wait_for(lambda: len(lines_with(p, "' is at sha256:")) == 5, 5, "all five repositories polled")
