# SPDX-License-Identifier: MIT
"""Helpers for integration tests: start real processes, wait on conditions
with deadlines, and always clean up by PID.

Every process a test starts goes through Context.spawn() or Context.run();
the runner calls Context.cleanup() after each test whatever happened, which
sends SIGTERM to each process group still alive, then SIGKILL after a grace
period, and reaps them.
"""

import os
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Skip(Exception):
    """Raised by a test that cannot run here; the reason is reported."""


class Failure(AssertionError):
    pass


def daemon_path():
    return os.environ.get("ECR_DEPLOYD_BIN") or os.path.join(ROOT, "build", "ecr-deployd")


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a true value, which is returned; raises
    Failure naming `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """A process started by a test, in its own process group."""

    def __init__(self, argv, env=None, cwd=None, stdout_path=None, stderr_path=None):
        self.argv = argv
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=err, start_new_session=True)
        finally:
            if stdout_path:
                out.close()
            if stderr_path:
                err.close()
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit within `timeout` seconds; returns the exit status."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) still running after %.1fs" % (self.argv[0], self.pid, timeout))

    def stop(self, grace=5.0):
        """SIGTERM to the group, then SIGKILL after `grace` seconds; reaps."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # The group may hold children even after the leader exited.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=grace)
        return self.popen.returncode

    def read_stderr(self):
        with open(self.stderr_path, "r", errors="replace") as f:
            return f.read()

    def read_stdout(self):
        with open(self.stdout_path, "r", errors="replace") as f:
            return f.read()


class Context:
    """What one test owns: a scratch directory and the processes it started."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="ecr-it-%s-" % name)
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def spawn(self, argv, env=None, name=None):
        name = name or os.path.basename(argv[0])
        n = len(self.procs)
        p = Proc(argv, env=env, stdout_path=self.path("%s.%d.out" % (name, n)),
                 stderr_path=self.path("%s.%d.err" % (name, n)))
        self.procs.append(p)
        return p

    def run(self, argv, timeout=10.0, env=None):
        """Runs argv to completion; returns (status, stdout, stderr)."""
        p = self.spawn(argv, env=env)
        status = p.wait(timeout)
        return status, p.read_stdout(), p.read_stderr()

    def cleanup(self):
        for p in self.procs:
            p.stop()
        self.procs = []
        for root, dirs, files in os.walk(self.tmp, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(self.tmp)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))
