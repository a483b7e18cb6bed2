#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs the integration tests: every function named test_* in every
tests/integration/test_*.py, or in the files and folders named on the
command line (--suite NAME names the result line).
Each test gets a fresh harness.Context whose processes are always stopped
afterwards. Ends with "integration: N passed, N failed, N skipped"."""

import glob
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dump_tails(ctx, n=60):
    """The last lines each process of a failed test wrote, so that a CI log shows why."""
    for p in ctx.procs:
        if not p.stderr_path or not os.path.exists(p.stderr_path):
            continue
        lines = p.read_stderr().splitlines()[-n:]
        print("--- last %d lines of %s (pid %d) stderr" % (len(lines), os.path.basename(p.argv[0]), p.pid))
        for line in lines:
            print("  | " + line[:400])


def main(argv):
    suite = "integration"
    args = argv[1:]
    if args[:1] == ["--suite"]:
        suite, args = args[1], args[2:]
    paths = []
    for a in args or [HERE]:
        paths += sorted(glob.glob(os.path.join(a, "test_*.py"))) if os.path.isdir(a) else [a]
    passed = failed = skipped = 0
    for path in paths:
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        mod = load(path)
        tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for name, fn in tests:
            full = "%s.%s" % (mod.__name__, name)
            if os.environ.get("TEST_ONLY") and os.environ["TEST_ONLY"] not in full:
                continue
            ctx = harness.Context(name)
            t0 = time.monotonic()
            try:
                fn(ctx)
            except harness.Skip as e:
                print("skip %s: %s" % (full, e))
                skipped += 1
            except Exception:
                print("FAIL %s" % full)
                traceback.print_exc(file=sys.stdout)
                dump_tails(ctx)
                failed += 1
            else:
                for p in ctx.procs:
                    p.stop()  # flush what sanitizers print at exit
                reports = ctx.sanitizer_reports()
                leaks = ctx.leaks()
                if reports:
                    print("FAIL %s: sanitizer reports: %s" % (full, "; ".join(reports)))
                    failed += 1
                elif leaks:
                    print("FAIL %s: secrets in output: %s" % (full, "; ".join(leaks)))
                    failed += 1
                else:
                    print("ok   %s (%.2fs)" % (full, time.monotonic() - t0))
                    passed += 1
            finally:
                ctx.cleanup()
            sys.stdout.flush()
    print("%s: %d passed, %d failed, %d skipped" % (suite, passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
