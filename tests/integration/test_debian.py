# SPDX-License-Identifier: MIT
"""The Debian package: dpkg-buildpackage builds ecr-deployd_<version>_<arch>.deb
from a copy of the tree, lintian finds no error, and it installs (enabling
nothing, teaching journalctl its catalog) and purges cleanly."""

import os
import re
import subprocess

from harness import ROOT, Skip, check, check_eq

IDS = re.findall(r'#define EVENT_\w+\s+"([0-9a-f]{32})"', open(os.path.join(ROOT, "daemon/events.h")).read())


def run(argv, cwd=None, timeout=300):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def apt(action, what):
    """apt-get, waiting for dpkg's lock should something else (a package trigger, a timer) hold it."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(["apt-get", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", action, what],
                          capture_output=True, text=True, timeout=300, env=env)


def version():
    return re.search(r"^VERSION := (\S+)", open(os.path.join(ROOT, "Makefile")).read(), re.M).group(1)


def test_changelog_version_is_the_makefile_version(ctx):
    first = open(os.path.join(ROOT, "debian/changelog")).readline()
    check_eq(re.match(r"ecr-deployd \(([^)]+)\)", first).group(1), version(), "debian/changelog's version")


def catalog_ids():
    out = run(["journalctl", "--list-catalog"]).stdout
    return {i for i in IDS if re.search(r"^%s ecr-deployd: " % i, out, re.M)}


def test_the_package_builds_installs_and_purges_cleanly(ctx):
    if os.geteuid() != 0:
        raise Skip("installing a package needs root")
    if run(["dpkg-query", "-W", "-f=${Status}", "ecr-deployd"]).stdout.startswith("install ok"):
        raise Skip("an ecr-deployd package is installed on this machine; not touching it")
    src = ctx.path("src", "ecr-deployd")
    os.makedirs(src)
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).stdout
    listing = ctx.write("files", files)
    r = subprocess.run("tar -C '%s' --null -T '%s' -cf - | tar -C '%s' -xf -" % (ROOT, listing, src), shell=True,
                       capture_output=True, text=True, timeout=120)
    check_eq(r.returncode, 0, "copy of the tree: %s" % r.stderr)
    r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=600)
    check_eq(r.returncode, 0, "dpkg-buildpackage: %s" % (r.stdout + r.stderr)[-2000:])
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = ctx.path("src", "ecr-deployd_%s_%s.deb" % (version(), arch))
    check(os.path.isfile(deb), "%s was built" % os.path.basename(deb))
    r = run(["lintian", "--tag-display-limit", "0", ctx.path("src", "ecr-deployd_%s_%s.changes" % (version(), arch))])
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    check_eq(errors, [], "lintian errors")
    listing = run(["dpkg-deb", "-c", deb]).stdout
    for f in ("./usr/sbin/ecr-deployd", "./usr/lib/systemd/system/ecr-deployd.service",
              "./usr/lib/systemd/catalog/ecr-deployd.catalog", "./usr/share/man/man8/ecr-deployd.8.gz",
              "./usr/share/man/man5/ecr-deployd.conf.5.gz", "./etc/ecr-deployd/ecr-deployd.json",
              "./usr/share/ecr-deployd/ecr-deployd.schema.json"):
        check(f in listing, "the package holds %s" % f)

    try:
        r = apt("install", deb)
        check_eq(r.returncode, 0, "apt-get install: %s" % (r.stdout + r.stderr)[-1500:])
        check_eq(run(["/usr/sbin/ecr-deployd", "--version"]).returncode, 0, "the installed binary runs")
        wants = [os.path.join(d, f) for d, _, fs in os.walk("/etc/systemd/system") for f in fs
                 if f == "ecr-deployd.service"]
        check_eq(wants, [], "nothing enabled")
        check_eq(catalog_ids(), set(IDS), "journalctl knows every message id after the install")
    finally:
        r = apt("purge", "ecr-deployd")
    check_eq(r.returncode, 0, "apt-get purge: %s" % (r.stdout + r.stderr)[-1500:])
    for f in ("/usr/sbin/ecr-deployd", "/usr/lib/systemd/system/ecr-deployd.service",
              "/usr/lib/systemd/catalog/ecr-deployd.catalog", "/etc/ecr-deployd"):
        check(not os.path.exists(f), "%s is gone after the purge" % f)
    check_eq(catalog_ids(), set(), "the catalog forgets the ids")
