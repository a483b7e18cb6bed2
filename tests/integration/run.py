#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs the integration tests: every function named test_* in every
tests/integration/test_*.py (or the modules named on the command line).
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


def main(argv):
    paths = argv[1:] or sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    passed = failed = skipped = 0
    for path in paths:
        mod = load(path)
        tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for name, fn in tests:
            full = "%s.%s" % (mod.__name__, name)
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
                failed += 1
            else:
                print("ok   %s (%.2fs)" % (full, time.monotonic() - t0))
                passed += 1
            finally:
                ctx.cleanup()
            sys.stdout.flush()
    print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
