# SPDX-License-Identifier: MIT
"""Review of issue 19's changes (h-review): cases where a guarantee may have been traded for speed."""

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
