# SPDX-License-Identifier: MIT
"""Review of issue 19's changes (h-review): cases where a guarantee may have been traded for speed."""

import subprocess
import time

from harness import check, check_eq, daemon_path, wait_for
from harness import Sim
from test_daemon import EVENT_POLL_FAILED, cycles, daemon_env, lines_with, watch, write_config

REPOS = 120


def many_repositories():
    return {"repositories": [{"name": "team/r%03d" % i, "images": [{"tag": "prod", "seed": str(i)}]}
                             for i in range(REPOS)],
            "clusters": ["prod"]}


def poll_under_fd_limit(ctx, sim, in_flight, nofile):
    main = write_config(ctx, [watch("w%03d" % i, "team/r%03d" % i, tag="prod") for i in range(REPOS)],
                        max_requests_in_flight=in_flight, dry_run=True)
    argv = ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--", daemon_path(), "-c", main]
    p = ctx.spawn(argv, env=daemon_env(ctx, sim), name="ecr-deployd")
    wait_for(lambda: cycles(p) >= 1 or not p.alive(), 60, "the first poll cycle")
    return p


def test_a_large_max_requests_in_flight_keeps_within_the_descriptor_limit(ctx):
    """daemon.c sets the HTTP client's connections per host to max_requests_in_flight (up to 1000
    by the schema) where it was 16: over HTTP/1.1 every request in flight holds a connection, so
    a value the configuration allows exhausts a process's descriptors (systemd's default soft
    LimitNOFILE is 1024, and the unit sets none) and the poll fails where 16 connections did
    not. Here: 100 in flight under a limit of 64 descriptors, ECR answering in 0.3 s (the same
    run with max_requests_in_flight 16, as many connections as before, passes)."""
    sim = Sim(ctx, seed=many_repositories())
    sim.fault("ecr.DescribeImages", "delay", delay=0.3, rate=1.0)
    p = poll_under_fd_limit(ctx, sim, 100, 64)
    wait_for(lambda: lines_with(p, "poll cycle: ") or not p.alive(), 60, "the poll cycle's summary")
    failed = lines_with(p, EVENT_POLL_FAILED) + lines_with(p, "Too many open files")
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    check_eq(failed[:3], [], "no poll failure for want of descriptors")


def local_ports(pid, port):
    """The local ports of the established TCP connections process pid holds to port (ss)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True, timeout=30).stdout
    return {line.split()[2].rsplit(":", 1)[1] for line in out.splitlines() if "pid=%d," % pid in line}


def test_quiet_cycles_reuse_their_connections(ctx):
    """A poll cycle's requests go over the connections the cycles before opened: libcurl's own limit
    of idle connections is 4 per transfer still running, so the last transfers of a cycle closed
    most connections (issue 19: 15 of 64 each cycle at the bench's scale; each one a TCP and TLS
    handshake against AWS). Here 16 requests in flight, ECR answering in 0.2 s so that all are
    used: over two more cycles the daemon holds no more than its 16 connections in all."""
    sim = Sim(ctx, seed=many_repositories())
    sim.fault("ecr.DescribeImages", "delay", delay=0.2, rate=1.0)
    main = write_config(ctx, [watch("w%03d" % i, "team/r%03d" % i, tag="prod") for i in range(REPOS)],
                        max_requests_in_flight=16, dry_run=True)
    p = ctx.spawn([daemon_path(), "-c", main], env=daemon_env(ctx, sim), name="ecr-deployd")
    wait_for(lambda: cycles(p) >= 1 or not p.alive(), 60, "the first poll cycle")
    seen, first = set(), cycles(p)
    while cycles(p) < first + 2 and p.alive():
        seen |= local_ports(p.pid, sim.port)
        time.sleep(0.05)
    check(p.alive(), "the daemon runs: %s" % p.read_stderr()[-2000:])
    check(len(seen) >= 8, "the cycles were seen using their connections: %s" % sorted(seen))
    check(len(seen) <= 16, "%d connections over two cycles, at most 16 in flight: %s"
          % (len(seen), sorted(seen)))
