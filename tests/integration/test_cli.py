# SPDX-License-Identifier: MIT
"""The command line: help, version, usage errors and their exit codes."""

import os
import re
import subprocess
import time

from harness import ROOT, check, check_eq, daemon_path

EX_USAGE = 64
EX_NOINPUT = 66


def makefile_version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            m = re.match(r"^VERSION\s*:?=\s*(\S+)", line)
            if m:
                return m.group(1)
    raise AssertionError("no VERSION in the Makefile")


def has_head():
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", "-q", "HEAD"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def test_help(ctx):
    for flag in ("--help", "-h"):
        status, out, err = ctx.run([daemon_path(), flag])
        check_eq(status, 0, "%s exit status" % flag)
        check(out.startswith("Usage: ecr-deployd"), "%s: usage on stdout, got %r" % (flag, out[:80]))
        for opt in ("--config", "--help", "--version"):
            check(opt in out, "%s: help lists %s" % (flag, opt))
        check_eq(err, "", "%s stderr" % flag)


def test_version(ctx):
    for flag in ("--version", "-V"):
        status, out, err = ctx.run([daemon_path(), flag])
        check_eq(status, 0, "%s exit status" % flag)
        first = out.splitlines()[0]
        m = re.match(r"^ecr-deployd (\S+)( \(([0-9a-f]{7,}(-dirty)?)\))?$", first)
        check(m, "%s: first line %r" % (flag, first))
        check_eq(m.group(1), makefile_version(), "version")
        if has_head():
            check(m.group(3), "a build from a checkout names its git revision: %r" % first)
        check("libcurl" in out and "OpenSSL" in out, "%s names the libraries: %r" % (flag, out))
        check_eq(err, "", "%s stderr" % flag)


def test_unknown_option_is_usage_error(ctx):
    status, out, err = ctx.run([daemon_path(), "--no-such-option"])
    check_eq(status, EX_USAGE, "exit status")
    check_eq(out, "", "stdout")
    check("unrecognized option '--no-such-option'" in err, "stderr names the option: %r" % err)
    check("Usage: ecr-deployd" in err, "usage on stderr")


def test_missing_option_argument_is_usage_error(ctx):
    status, out, err = ctx.run([daemon_path(), "--config"])
    check_eq(status, EX_USAGE, "exit status")
    check("requires an argument" in err, "stderr says what is missing: %r" % err)


def test_stray_argument_is_usage_error(ctx):
    status, out, err = ctx.run([daemon_path(), "extra"])
    check_eq(status, EX_USAGE, "exit status")
    check("unexpected argument 'extra'" in err, "stderr names the argument: %r" % err)


def test_missing_config_file(ctx):
    missing = ctx.path("nope.json")
    status, out, err = ctx.run([daemon_path(), "-c", missing])
    check_eq(status, EX_NOINPUT, "exit status")
    check(missing in err and "No such file" in err, "stderr names the file: %r" % err)


def test_no_region_anywhere_is_a_config_error(ctx):
    conf = ctx.write("c.json", "{}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = ctx.path()
    status, out, err = ctx.run([daemon_path(), "--config", conf], env=env)
    check_eq(status, 78, "exit status")
    check("no region: set it in the configuration, AWS_REGION, AWS_DEFAULT_REGION or profile 'default'" in err,
          "says where a region may come from: %r" % err)


def test_once_polls_once_and_promises_no_retry(ctx):
    """--once: one poll cycle, then only the rollouts it started are waited on (issue 12, case 6).
    The rollout outlasts the poll interval (10 s, the shortest allowed): ECR is asked once all the
    same. A repository that cannot be read is not said to be tried again."""
    from harness import Sim
    from test_daemon import daemon_env, write_config
    from test_deploy import DEPLOY_COMPLETED, target, web_watch, world

    seed = world()
    seed["settings"]["task_start_seconds"] = 12  # the rollout takes longer than a poll interval
    sim = Sim(ctx, seed=seed)
    main = write_config(ctx, [web_watch()], poll_interval="10s")
    env = daemon_env(ctx, sim)
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=30, env=env)
    check_eq(status, 0, "first start, nothing to deploy: 0\n" + err[-2000:])
    new = sim.push("team/web", "prod", seed="v2")
    since = sim.control("GET", "/requests")["last"]
    started = time.time()
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=60, env=env)
    took = time.time() - started
    check_eq(status, 0, "a deploy that completes: 0\n" + err[-2000:])
    check(DEPLOY_COMPLETED in err and new in err, "it waited for the rollout")
    check(took > 10.5, "the rollout outlasted the poll interval (%.1f s)" % took)
    ops = [r["operation"] for r in sim.requests(since=since, service="ecr")]
    check_eq(ops, ["DescribeImages"], "one poll cycle's ECR requests while the rollout ran")
    check_eq(err.count("poll cycle:"), 1, "one poll cycle\n" + err[-2000:])

    sim.fault("ecr.*", "500", rate=1.0)
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=60, env=env)
    check_eq(status, 1, "a poll failure: 1\n" + err[-2000:])
    check_eq(err.count("poll cycle:"), 1, "one poll cycle, not retried\n" + err[-2000:])
    promises = [l for l in (out + err).splitlines() if "trying again" in l or "retrying" in l]
    check_eq(promises, [], "no line of --once promises a retry")
    check("--once: not retried" in err, "it says what happens instead\n" + err[-2000:])

    sim.control("DELETE", "/faults")
    missing = web_watch(target("web", container="sidecar"), name="next", tag="next")
    main = write_config(ctx, [web_watch(), missing], poll_interval="10s")
    status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=60, env=env)
    check_eq(status, 0, "a missing tag is no failure: 0\n" + err[-2000:])
    said = [l for l in err.splitlines() if "tag 'next' of 'team/web' does not exist" in l]
    check(len(said) == 1 and "--once: not checked again" in said[0] and "every poll" not in said[0],
          "a missing tag is not said to be checked again: %r" % said)
