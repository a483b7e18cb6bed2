#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench, second part: the control socket at the bench's scale (1,000 targets in the bench
world). Measured: `version` (the socket's round trip, the floor every other figure is a ratio to),
`status` and `metrics` (latency, the daemon's CPU per request, reply size), and 20 concurrent
clients asking for status (time per request against one client alone). Prints; asserts nothing."""

import json
import os
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.environ.get("B", "build")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import bench  # noqa: E402
from harness import SIM_KEY, Context, ctl_request, wait_for  # noqa: E402

ctx = Context("ctlbench")
try:
    sim = bench.make_world(ctx)
    sock = ctx.control_socket()
    cfg = {"aws": {"region": "us-east-1"}, "poll_interval": "10m", "log_level": "info", "max_requests_in_flight": 64,
           "state_directory": ctx.path("state"), "control": {"socket": sock},
           "watches": [{"name": "w%04d" % r, "repository": "r%04d" % r, "tags": ["t%d" % t for t in range(bench.TAGS)],
                        "targets": [{"cluster": "prod", "service": "s%04d" % r, "container": "app"}]}
                       for r in range(bench.REPOS)]}
    conf = ctx.write("ecr-deployd.json", json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1], AWS_ENDPOINT_URL=sim.url,
               AWS_EC2_METADATA_DISABLED="true", HOME=ctx.path())
    d = ctx.spawn([os.path.join(ROOT, B, "ecr-deployd"), "-c", conf, "--config-dir", ctx.path("none")],
                  env=env, name="ecr-deployd")
    wait_for(lambda: os.path.exists(sock), 60, "socket")
    def settled():
        st = ctl_request(sock, "status", timeout=60)["result"]
        return all(t["state"] == "idle" for w in st["watches"] for t in w["targets"])
    wait_for(settled, 600, "every target idle", interval=2)
    def timed(cmd, n):
        ts, size = [], 0
        c0 = bench.cpu_seconds(d.pid)
        for _ in range(n):
            t = time.monotonic()
            r = ctl_request(sock, cmd, timeout=60)
            ts.append(time.monotonic() - t)
            size = len(json.dumps(r))
        return statistics.median(ts) * 1000, (bench.cpu_seconds(d.pid) - c0) / n * 1000, size
    v = timed("version", 50)
    s = timed("status", 20)
    m = timed("metrics", 20)
    print("ctlbench: %d targets" % bench.REPOS)
    print("ctlbench: version p50 %.2f ms (the socket round trip: the floor)" % v[0])
    print("ctlbench: status  p50 %.1f ms = %.0fx the floor, daemon CPU %.1f ms/request, reply %d kB"
          % (s[0], s[0] / v[0], s[1], s[2] // 1024))
    print("ctlbench: metrics p50 %.1f ms = %.0fx the floor, daemon CPU %.1f ms/request, reply %d kB"
          % (m[0], m[0] / v[0], m[1], m[2] // 1024))
    errs = []
    def worker():
        try:
            for _ in range(5):
                ok = ctl_request(sock, "status", timeout=60).get("ok")
                if not ok: errs.append("not ok")
        except Exception as e:
            errs.append(repr(e))
    t0 = time.monotonic()
    th = [threading.Thread(target=worker) for _ in range(20)]
    [t.start() for t in th]; [t.join() for t in th]
    el = time.monotonic() - t0
    print("ctlbench: 20 concurrent clients x 5 status: %.2f s in all (%.1f ms per status = %.1fx one alone), %d errors"
          % (el, el / 100 * 1000, el / 100 * 1000 / s[0], len(errs)))
    with open("/proc/%d/status" % d.pid) as f:
        print("ctlbench: daemon " + " ".join(l.strip() for l in f if l.startswith(("VmHWM", "RssAnon"))))
    d.stop()
finally:
    ctx.cleanup()
