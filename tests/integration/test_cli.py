# SPDX-License-Identifier: MIT
"""The command line: help, version, usage errors and their exit codes."""

import os
import re
import subprocess

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
