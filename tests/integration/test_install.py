# SPDX-License-Identifier: MIT
"""make install / uninstall lay out every file under DESTDIR and PREFIX; the unit is hardened
(systemd-analyze security) and verifies; the catalog explains every event."""

import os
import re
import subprocess

from harness import ROOT, check, check_eq, daemon_path


def make(*args):
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    check_eq(r.returncode, 0, "make %s exit status (output: %s)" % (" ".join(args), r.stdout))


INSTALLED = ["{sbin}/ecr-deployd", "{p}/lib/systemd/system/ecr-deployd.service",
             "{p}/lib/systemd/catalog/ecr-deployd.catalog", "{p}/share/man/man8/ecr-deployd.8",
             "{p}/share/man/man5/ecr-deployd.conf.5", "{p}/share/ecr-deployd/ecr-deployd.schema.json",
             "{p}/share/doc/ecr-deployd/examples/ecr-deployd.json", "{p}/share/doc/ecr-deployd/events.md",
             "{p}/share/doc/ecr-deployd/examples/cloudformation/ecr-deployd-events.json",
             "{sbin}/ecr-deployctl", "{p}/share/man/man8/ecr-deployctl.8",
             "{p}/share/bash-completion/completions/ecr-deployctl", "etc/ecr-deployd/ecr-deployd.json"]


def test_install_lays_out_every_file_and_uninstall_removes_them(ctx):
    dest = ctx.path("root")
    make("install", "DESTDIR=" + dest)
    files = [os.path.join(dest, f.format(p="usr/local", sbin="usr/local/sbin")) for f in INSTALLED]
    for f in files:
        check(os.path.isfile(f), "%s is installed" % f)
    binary = files[0]
    check(os.access(binary, os.X_OK), "%s is executable" % binary)
    status, out, _ = ctx.run([binary, "--version"])
    check_eq(status, 0, "installed binary --version")
    check(out.startswith("ecr-deployd "), "installed binary prints its version")
    ctl = files[INSTALLED.index("{sbin}/ecr-deployctl")]
    check(os.access(ctl, os.X_OK), "%s is executable" % ctl)
    status, out, _ = ctx.run([ctl, "--version"])
    check(status == 0 and out.startswith("ecr-deployctl "), "installed ecr-deployctl prints its version: %r" % out)
    unit = open(files[1]).read()
    check("ExecStart=/usr/local/sbin/ecr-deployd\n" in unit, "the unit names the installed binary")
    check(os.path.isdir(os.path.join(dest, "etc/ecr-deployd/conf.d")), "the drop-in directory")
    # The installed configuration deploys nothing, and a second install never replaces an edited one.
    status, out, _ = ctx.run([binary, "--check-config", "-c", files[-1]])
    check(status == 0 and "0 watches" in out, "the installed configuration is valid and empty: %s" % out)
    with open(files[-1], "a") as f:
        f.write("// edited\n")
    make("install", "DESTDIR=" + dest)
    check(open(files[-1]).read().endswith("// edited\n"), "an operator's configuration is kept")
    make("uninstall", "DESTDIR=" + dest)
    for f in files[:-1]:
        check(not os.path.exists(f), "uninstall removes %s" % f)
    check(os.path.exists(files[-1]), "uninstall leaves the operator's configuration")


def test_install_prefix(ctx):
    dest = ctx.path("root")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    check(os.access(os.path.join(dest, "usr/sbin/ecr-deployd"), os.X_OK), "PREFIX=/usr installs to /usr/sbin")
    check(os.path.isfile(os.path.join(dest, "usr/lib/systemd/catalog/ecr-deployd.catalog")),
          "the catalog where journalctl looks for it")
    check(not os.path.exists(os.path.join(dest, "usr/local")), "nothing under usr/local")
    # journalctl knows every message id of daemon/events.h from the installed catalog.
    r = subprocess.run(["journalctl", "--root=" + dest, "--update-catalog"], capture_output=True, text=True)
    check_eq(r.returncode, 0, "journalctl --update-catalog: %s" % r.stderr)
    r = subprocess.run(["journalctl", "--root=" + dest, "--list-catalog"], capture_output=True, text=True)
    ids = re.findall(r'#define EVENT_\w+\s+"([0-9a-f]{32})"', open(os.path.join(ROOT, "daemon/events.h")).read())
    check(len(ids) >= 14, "the ids of events.h")
    for i in ids:
        check(re.search(r"^%s ecr-deployd: " % i, r.stdout, re.M), "the catalog explains %s" % i)


def test_unit_is_hardened_and_verifies(ctx):
    unit = os.path.join(ROOT, "systemd/ecr-deployd.service")
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for ecr-deployd.service: ([0-9.]+)", r.stdout)
    check(m, "an exposure level: %s %s" % (r.stdout[-300:], r.stderr))
    check(float(m.group(1)) <= 1.5, "exposure %s is at most 1.5" % m.group(1))
    text = open(unit).read()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ConfigurationDirectory=ecr-deployd",
                 "StateDirectory=ecr-deployd", "RuntimeDirectory=ecr-deployd", "DynamicUser=yes",
                 "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile=-/etc/default/ecr-deployd",
                 "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "UMask=0077"):
        check(line in text, "the unit has %s" % line.strip())
    # verify checks ExecStart is executable: point it at the build.
    local = ctx.write("ecr-deployd.service", text.replace("/usr/sbin/ecr-deployd", daemon_path()))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", local], capture_output=True, text=True,
                       timeout=60)
    check_eq((r.returncode, r.stderr.strip()), (0, ""), "systemd-analyze verify is clean")


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
