#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench: ecr-deployd at scale against awssim, next to a straightforward
boto3 script doing the same reconcile pass. Prints figures; asserts nothing.

World: 1,000 repositories x 10 watched tags, 1,000 ECS services (each
running its repository's current digest, pinned), one watch (a list of 10
tags) and one target per repository. Measured: requests per poll cycle (and
the API minimum), CPU seconds of the daemon per cycle, peak RSS, and push ->
UpdateService latency (the simulator's request log times the UpdateService;
the daemon polls every 10 s). The last line is the one the issue fixes.
"""

import json
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import SIM_KEY, Context, Sim, wait_for  # noqa: E402

REPOS, TAGS = int(os.environ.get("BENCH_REPOS", 1000)), int(os.environ.get("BENCH_TAGS", 10))
CYCLES = 3  # cycles with pushes
B = os.environ.get("B", "build")
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def boto3_cycle_cpu(sim):
    """CPU seconds of one reconcile pass written the obvious way with boto3: read every watched tag,
    compare with what was deployed (nothing moved, so no deploy)."""
    ecr = sim.client("ecr")
    tags = ["t%d" % t for t in range(TAGS)]
    deployed = {}
    ecr.describe_images(repositoryName="r0000", imageIds=[{"imageTag": t} for t in tags])  # warm up
    t0 = time.process_time()
    for r in range(REPOS):
        # The same calls the daemon makes: DescribeImages of the 10 tags, no manifests.
        out = ecr.describe_images(repositoryName="r%04d" % r, imageIds=[{"imageTag": t} for t in tags])
        now = {t: i["imageDigest"] for i in out["imageDetails"] for t in i.get("imageTags", [])}
        moved = [t for t in tags if deployed.get((r, t)) not in (None, now.get(t))]
        for t in tags:
            deployed[(r, t)] = now.get(t)
        del moved
    return time.process_time() - t0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def main():
    ctx = Context("bench")
    try:
        t0 = time.monotonic()
        seed = {"settings": {"task_start_seconds": 0.5},
                "repositories": [{"name": "r%04d" % r, "images": [{"tag": "t%d" % t, "seed": "%d-%d" % (r, t)}
                                                                 for t in range(TAGS)]} for r in range(REPOS)],
                "clusters": ["prod"]}
        sim = Sim(ctx, seed=seed)
        ecr = sim.client("ecr")
        uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
        first = {}
        for r in range(REPOS):
            out = ecr.batch_get_image(repositoryName="r%04d" % r, imageIds=[{"imageTag": "t0"}])
            first[r] = out["images"][0]["imageId"]["imageDigest"]
        sim.seed({"task_definitions": [{"family": "s%04d" % r, "containerDefinitions": [
                      {"name": "app", "image": uri + "r%04d@%s" % (r, first[r]), "memory": 128}]}
                      for r in range(REPOS)],
                  "services": [{"cluster": "prod", "serviceName": "s%04d" % r, "taskDefinition": "s%04d" % r,
                                "desiredCount": 1} for r in range(REPOS)]})
        cfg = {"aws": {"region": "us-east-1"}, "poll_interval": "10s", "log_level": "debug",
               "max_concurrent_deploys": 20,
               "max_requests_in_flight": 64, "state_directory": ctx.path("state"),
               "watches": [{"name": "w%04d" % r, "repository": "r%04d" % r, "tags": ["t%d" % t for t in range(TAGS)],
                            "targets": [{"cluster": "prod", "service": "s%04d" % r, "container": "app"}]}
                           for r in range(REPOS)]}
        conf = ctx.write("ecr-deployd.json", json.dumps(cfg))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1], AWS_ENDPOINT_URL=sim.url,
                   AWS_EC2_METADATA_DISABLED="true", HOME=ctx.path())
        d = ctx.spawn([os.path.join(ROOT, B, "ecr-deployd"), "-c", conf, "--config-dir", ctx.path("none")],
                      env=env, name="ecr-deployd")

        log = {"pos": 0, "text": ""}

        def new_text():
            with open(d.stderr_path) as f:
                f.seek(log["pos"])
                chunk = f.read()
                log["pos"] = f.tell()
            return chunk

        def cycle_lines(text):
            return [l for l in text.splitlines() if "poll cycle:" in l]

        wait_for(lambda: cycle_lines(new_text()), 300, "the first cycle")
        # The first cycle meets every service (one DescribeServices and one DescribeTaskDefinition
        # each); wait until that is over before measuring.
        wait_for(lambda: d.read_stderr().count("already runs") >= REPOS, 300, "every service inspected")
        new_text()
        # Pushes to distinct repositories at random moments over several cycles; each is timed until
        # the simulator records the UpdateService of its service.
        pushes, cycles = {}, []
        order = random.sample(range(REPOS), REPOS)
        since = sim.control("GET", "/requests")["last"]
        cpu0, t_start = cpu_seconds(d.pid), time.monotonic()
        push_until, next_push = t_start + 10 * CYCLES, t_start
        updated = {}
        while True:
            now = time.monotonic()
            if now < push_until and now >= next_push:
                r = order.pop()
                sim.push("r%04d" % r, "t%d" % random.randrange(TAGS), seed="bench-%f" % random.random())
                pushes["s%04d" % r] = time.time()
                next_push = now + random.uniform(0.3, 2.0)
            cycles += cycle_lines(new_text())
            if now >= push_until:
                for e in sim.requests(since=since, service="ecs"):
                    svc = (e.get("params") or {}).get("service")
                    if e["operation"] == "UpdateService" and e["status"] == 200 and svc in pushes:
                        updated.setdefault(svc, e["time"])
                if len(updated) == len(pushes):
                    break
            if now > push_until + 60:
                raise SystemExit("bench: pushes not deployed within a minute: %d of %d"
                                 % (len(updated), len(pushes)))
            time.sleep(0.05 if now < push_until else 0.5)
        cpu_cycle = (cpu_seconds(d.pid) - cpu0) / max(1, len(cycles))
        m = cycles[-1].split("poll cycle: ")[1]
        requests = int(m.split(" requests")[0].split(", ")[-1])
        minimum = int(m.split("(minimum ")[1].rstrip(")"))
        rss = peak_rss_kb(d.pid)
        boto = boto3_cycle_cpu(sim)
        lat = [(updated[s] - pushes[s]) * 1000 for s in pushes]
        print("bench: requests per cycle %d (API minimum %d = %d repositories x ceil(%d/100))"
              % (requests, minimum, REPOS, TAGS))
        print("bench: ecr-deployd CPU %.4fs per cycle over %d cycles (%d deploys among them); boto3 %.3fs for "
              "the same reconcile pass" % (cpu_cycle, len(cycles), len(pushes), boto))
        print("bench: ecr-deployd peak RSS %d kB" % rss)
        print("bench: push -> UpdateService over %d pushes: p50 %.0f ms, p99 %.0f ms (poll interval 10 s)"
              % (len(lat), pct(lat, 50), pct(lat, 99)))
        print("bench: requests_per_cycle=%d minimum=%d cpu_s_per_cycle=%.4f boto3_cpu_s_per_cycle=%.4f "
              "cpu_ratio=%.1f rss_kb=%d latency_p50_ms=%.0f latency_p99_ms=%.0f"
              % (requests, minimum, cpu_cycle, boto, boto / cpu_cycle if cpu_cycle else 0, rss,
                 pct(lat, 50), pct(lat, 99)))
        return 0
    finally:
        ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
