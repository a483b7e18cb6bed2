# SPDX-License-Identifier: MIT
"""make install / uninstall honour DESTDIR and PREFIX."""

import os
import subprocess

from harness import ROOT, check, check_eq


def make(*args):
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    check_eq(r.returncode, 0, "make %s exit status (output: %s)" % (" ".join(args), r.stdout))


def test_install_default_prefix(ctx):
    dest = ctx.path("root")
    make("install", "DESTDIR=" + dest)
    binary = os.path.join(dest, "usr/local/sbin/ecr-deployd")
    check(os.access(binary, os.X_OK), "%s is installed and executable" % binary)
    status, out, _ = ctx.run([binary, "--version"])
    check_eq(status, 0, "installed binary --version")
    check(out.startswith("ecr-deployd "), "installed binary prints its version")
    make("uninstall", "DESTDIR=" + dest)
    check(not os.path.exists(binary), "uninstall removes the binary")


def test_install_prefix(ctx):
    dest = ctx.path("root")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    check(os.access(os.path.join(dest, "usr/sbin/ecr-deployd"), os.X_OK), "PREFIX=/usr installs to /usr/sbin")
    check(not os.path.exists(os.path.join(dest, "usr/local")), "nothing under usr/local")


def test_install_deps_is_idempotent(ctx):
    # make check ran install-deps before this suite: nothing may be missing now,
    # and a second run must find everything present and install nothing.
    script = os.path.join(ROOT, "scripts/install-deps")
    status, out, err = ctx.run(["bash", script, "--check"])
    check_eq((status, out), (0, ""), "install-deps --check after install")
    if os.getuid() == 0:
        status, out, err = ctx.run(["bash", script], timeout=60)
        check_eq(status, 0, "second install-deps run")
        check("packages present" in out and "installing" not in out, "second run installs nothing: %r" % out)
