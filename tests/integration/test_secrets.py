# SPDX-License-Identifier: MIT
"""Secrets out of core dumps (issue 11, case 14): the daemon runs against
awssim with static keys, an environment session token, an assumed role
(STS) and a shared credentials file, makes signed calls, and a core of the
live process (gdb's gcore, which leaves out mappings marked MADV_DONTDUMP,
VmFlag 'dd') must hold none of the secret keys, session tokens or request
signatures the simulator issued or saw. The secret arena must show 'dd' in
/proc/PID/smaps, and the core must really leave it out."""

import os
import shutil
import struct
import time

from harness import SIM_KEY, Failure, Skip, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, lines_with
from test_deploy import DEPLOY_COMPLETED, REPO_URI, poll_now, running_image, settle_first_start, target
from test_deploy import start as start_daemon
from test_deploy import world

ACCT = "123456789012"
OTHER = "210987654321"
ARENA_NAME = "ecr-deployd secrets"


class SecretSim:
    """awssim (harness.Sim) that also writes every request signature it receives to a file."""

    def __new__(cls, ctx, **kw):
        import harness
        sig_file = ctx.path("sim.signatures")
        ctx.secret_holders.add(sig_file)
        real_spawn = ctx.spawn

        def spawn(argv, env=None, name=None):
            if name == "awssim":
                argv = argv + ["--signatures-file", sig_file]
            return real_spawn(argv, env=env, name=name)

        ctx.spawn = spawn
        try:
            sim = harness.Sim(ctx, **kw)
        finally:
            ctx.spawn = real_spawn
        sim.signatures_file = sig_file
        return sim


def signatures(sim):
    with open(sim.signatures_file) as f:
        return set(l.strip() for l in f if l.strip())


def issued_secrets(ctx):
    out = set()
    for path in ctx.secret_files:
        if os.path.exists(path):
            with open(path) as f:
                out.update(l.strip() for l in f if l.strip())
    return out


def smaps(pid):
    """[(start, end, name, flags)] of every mapping of pid."""
    maps, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = head[0].split("-")
                cur = [int(lo, 16), int(hi, 16), " ".join(head[5:]) if len(head) > 5 else "", set()]
                maps.append(cur)
            elif head[0] == "VmFlags:" and cur is not None:
                cur[3] = set(head[1:])
    return maps


def dumped_ranges(core):
    """(vaddr, vaddr + filesz) of every PT_LOAD segment of an ELF64 core that carries bytes."""
    with open(core, "rb") as f:
        ident = f.read(64)
        check(ident[:4] == b"\x7fELF" and ident[4] == 2, "gcore wrote an ELF64 core")
        phoff, = struct.unpack_from("<Q", ident, 32)
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, _, vaddr, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
        if p_type == 1 and filesz > 0:
            out.append((vaddr, vaddr + filesz))
    return out


def gcore(ctx, pid):
    if not shutil.which("gcore"):
        raise Skip("gdb's gcore is not installed (scripts/install-deps installs gdb)")
    prefix = ctx.path("core")
    status, out, err = ctx.run(["gcore", "-o", prefix, str(pid)], timeout=120)
    path = "%s.%d" % (prefix, pid)
    check(status == 0 and os.path.exists(path), "gcore %d failed (%s): %s" % (pid, status, err[-500:]))
    return path


def quiet(sim, p, seconds=0.5):
    """True once awssim serves nothing and saw no request for `seconds`: the daemon is idle
    (its replies handled, nothing in flight)."""
    if not p.alive():
        raise Failure("the daemon exited: %s" % p.read_stderr()[-2000:])
    if sim.control("GET", "/health")["inflight"]:
        return False
    reqs = sim.requests()
    return not reqs or time.time() - reqs[-1]["time"] >= seconds


def core_of_idle_daemon(ctx, sim, p):
    """A core of p taken while no request was in flight; (path, request count before)."""
    for _ in range(3):
        wait_for(lambda: quiet(sim, p), 30, "the daemon idle between polls")
        before = sim.control("GET", "/requests")["last"]
        path = gcore(ctx, p.pid)
        if sim.control("GET", "/requests")["last"] == before and quiet(sim, p, 0):
            return path
        os.unlink(path)
    raise Failure("the daemon never stayed idle long enough for a core")


def assert_no_secrets(ctx, sim, p, extra=()):
    sigs = signatures(sim)
    check(sigs, "awssim logged the daemon's signatures")
    secrets = issued_secrets(ctx) | set(extra) | {SIM_KEY[1]}
    # The arena: an anonymous mapping marked MADV_DONTDUMP ('dd').
    maps = smaps(p.pid)
    # Named where the kernel can name anonymous memory (CONFIG_ANON_VMA_NAME), else unnamed.
    named = [m for m in maps if m[2] == "[anon:%s]" % ARENA_NAME]
    for m in named:
        check("dd" in m[3], "the secret arena %x-%x lacks 'dd': %s" % (m[0], m[1], sorted(m[3])))
    arena = [m for m in maps if "dd" in m[3] and m[2] in ("", "[anon:%s]" % ARENA_NAME)]
    check(arena, "no anonymous mapping marked 'dd' (MADV_DONTDUMP) in /proc/%d/smaps" % p.pid)
    dd = [m for m in maps if "dd" in m[3]]
    with open(daemon_path(), "rb") as f:
        if b"__asan_init" in f.read():
            # gdb reads ASan's terabytes of shadow mappings: minutes per core. The arena and
            # the deploy were checked above; the core is checked in the ordinary build.
            raise Skip("no gcore of an ASan build (its shadow memory makes it take minutes)")
    core = core_of_idle_daemon(ctx, sim, p)
    ranges = dumped_ranges(core)
    for lo, hi, name, _ in dd:
        for a, b in ranges:
            check(b <= lo or a >= hi, "gcore dumped %x-%x (%s), which is marked 'dd'" % (lo, hi, name))
    with open(core, "rb") as f:
        data = f.read()
    leaked = sorted("secret %s…" % s[:6] for s in secrets if s.encode() in data)
    signed = sorted("signature %s…" % s[:8] for s in sigs if s.encode() in data)
    check(not leaked and not signed, "the core of the running daemon holds %d of %d secrets and %d of %d "
          "signatures: %s" % (len(leaked), len(secrets), len(signed), len(sigs), ", ".join((leaked + signed)[:8])))
    return core


def deploy_once(ctx, sim, p, account=ACCT):
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    poll_now(p)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    return new


def test_core_static_keys_and_assumed_role(ctx):
    """Static keys from the environment sign ECR and STS AssumeRole; the role's keys sign ECS."""
    role = "arn:aws:iam::%s:role/deployer" % OTHER
    spec = world()
    for key in ("clusters", "task_definitions", "services"):
        spec[key] = [dict({"name": c} if isinstance(c, str) else c, account=OTHER) for c in spec[key]]
    sim = SecretSim(ctx, seed=spec)
    p = start_daemon(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod",
                                 "targets": [target("web", role_arn=role)]}], poll_interval="1h")
    deploy_once(ctx, sim, p)
    check([r for r in sim.requests(service="sts") if r["operation"] == "AssumeRole"], "the role was assumed")
    assert_no_secrets(ctx, sim, p)
    environ = open("/proc/%d/environ" % p.pid, "rb").read()
    check(SIM_KEY[1].encode() not in environ, "AWS_SECRET_ACCESS_KEY is still readable in /proc/PID/environ")


def test_core_environment_session_token(ctx):
    """Temporary keys with AWS_SESSION_TOKEN in the environment."""
    sim = SecretSim(ctx, seed=world())
    sts = sim.client("sts")
    c = sts.assume_role(RoleArn="arn:aws:iam::%s:role/env" % ACCT, RoleSessionName="env-keys")["Credentials"]
    env = daemon_env(ctx, sim, AWS_ACCESS_KEY_ID=c["AccessKeyId"], AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                     AWS_SESSION_TOKEN=c["SessionToken"])
    p = start_daemon(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod",
                                 "targets": [target("web")]}], env=env, poll_interval="1h")
    new = deploy_once(ctx, sim, p)
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "deployed with the session token")
    daemon_calls = [r for r in sim.requests(service="ecs") if r.get("access_key") != SIM_KEY[0]]
    check(daemon_calls and all(r["access_key"] == c["AccessKeyId"] for r in daemon_calls), "env keys used")
    assert_no_secrets(ctx, sim, p, extra=(c["SecretAccessKey"], c["SessionToken"]))
    environ = open("/proc/%d/environ" % p.pid, "rb").read()
    check(c["SessionToken"].encode() not in environ, "AWS_SESSION_TOKEN is still readable in /proc/PID/environ")


def test_core_profile_assume_role(ctx):
    """Static keys read from the shared credentials file, a profile role assumed through STS."""
    sim = SecretSim(ctx, seed=world())
    ctx.write("config", "[profile deploy]\nrole_arn = arn:aws:iam::%s:role/deployer\nsource_profile = base\n"
              % ACCT)
    creds = ctx.write("credentials", "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % SIM_KEY)
    ctx.secret_holders.add(creds)
    env = daemon_env(ctx, sim, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                     AWS_CONFIG_FILE=ctx.path("config"), AWS_SHARED_CREDENTIALS_FILE=creds,
                     AWS_PROFILE="deploy")
    p = start_daemon(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod",
                                 "targets": [target("web")]}], env=env, poll_interval="1h")
    deploy_once(ctx, sim, p)
    daemon_calls = [r for r in sim.requests(service="ecs") if r.get("access_key") != SIM_KEY[0]]
    check(daemon_calls and all(r["access_key"].startswith("ASIA") for r in daemon_calls), "the role's keys")
    assert_no_secrets(ctx, sim, p)


def test_core_over_tls(ctx):
    """The same over HTTPS: OpenSSL's record buffers held the plaintext of STS replies."""
    role = "arn:aws:iam::%s:role/deployer" % OTHER
    spec = world()
    for key in ("clusters", "task_definitions", "services"):
        spec[key] = [dict({"name": c} if isinstance(c, str) else c, account=OTHER) for c in spec[key]]
    sim = SecretSim(ctx, seed=spec, tls=True)
    env = daemon_env(ctx, sim, AWS_ENDPOINT_URL=sim.tls_url)
    p = start_daemon(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod",
                                 "targets": [target("web", role_arn=role)]}], env=env, poll_interval="1h",
                     aws={"region": "us-east-1", "ca_bundle": sim.ca})
    deploy_once(ctx, sim, p)
    check([r for r in sim.requests(service="sts") if r["operation"] == "AssumeRole"], "the role was assumed")
    assert_no_secrets(ctx, sim, p)
