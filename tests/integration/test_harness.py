# SPDX-License-Identifier: MIT
"""The test harness's own guarantees: the leak scan finds a secret in any
output file, and processes are cleaned up by PID."""

import os

from harness import Failure, check, check_eq


def test_leak_scan_finds_secrets(ctx):
    ctx.secrets.add("do-not-print-me-123")
    ctx.run(["sh", "-c", "echo 'token do-not-print-me-123 here'"])
    leaks = ctx.leaks()
    check(len(leaks) == 1 and "do-not" in leaks[0], "the scan found it: %r" % leaks)
    ctx.run(["sh", "-c", "echo 'Authorization: AWS4-HMAC-SHA256 Credential=x'"])
    check(any("Authorization" in l for l in ctx.leaks()), "signatures and auth headers too")
    state = ctx.write("state.json", "{\"token\": \"do-not-print-me-123\"}")
    ctx.outputs.append(state)
    check(any("state.json" in l for l in ctx.leaks()), "registered output files too")
    # Leave nothing behind that the runner's own scan would fail on.
    for p in ctx.procs:
        p.stop()
    ctx.procs = []
    ctx.outputs = []
    check_eq(ctx.leaks(), [], "clean after removal")


def test_cleanup_kills_by_pid(ctx):
    p = ctx.spawn(["sh", "-c", "trap '' TERM; sleep 60 & wait"], name="stubborn")
    pid = p.pid
    ctx.cleanup()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise Failure("process %d still alive after cleanup" % pid)
    os.makedirs(ctx.tmp, exist_ok=True)  # the runner cleans up again


def test_sanitizer_reports_are_caught(ctx):
    ctx.run(["sh", "-c", "echo '==1==ERROR: LeakSanitizer: detected memory leaks' >&2; exit 1"])
    check(ctx.sanitizer_reports(), "a report in stderr is found")
    ctx.procs = []
