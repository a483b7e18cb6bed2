#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench: ecr-deployd's poll cycle at scale against awssim, next to a
straightforward boto3 poller doing the same reads. Prints figures; asserts
nothing.

World: 1,000 repositories x 10 watched tags, 1,000 ECS services, one watch
(a list of 10 tags) and one target per repository. Measured per poll
cycle: requests (and the API minimum), CPU seconds of the daemon, peak
RSS, and push -> DETECTED latency. The deploy engine is not built yet, so
the push -> UpdateService latency the final benchmark will report is not
measured here.
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
    """CPU seconds of one poll cycle written the obvious way with boto3."""
    ecr = sim.client("ecr")
    tags = ["t%d" % t for t in range(TAGS)]
    ecr.batch_get_image(repositoryName="r0000", imageIds=[{"imageTag": t} for t in tags])  # warm up
    t0 = time.process_time()
    for r in range(REPOS):
        out = ecr.batch_get_image(repositoryName="r%04d" % r, imageIds=[{"imageTag": t} for t in tags])
        {i["imageId"]["imageTag"]: i["imageId"]["imageDigest"] for i in out["images"]}
    return time.process_time() - t0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def main():
    ctx = Context("bench")
    try:
        t0 = time.monotonic()
        seed = {"repositories": [{"name": "r%04d" % r, "images": [{"tag": "t%d" % t, "seed": "%d-%d" % (r, t)}
                                                                 for t in range(TAGS)]} for r in range(REPOS)],
                "clusters": ["prod"],
                "task_definitions": [{"family": "svc", "containerDefinitions": [{"name": "app", "image": "x"}]}],
                "services": [{"cluster": "prod", "serviceName": "s%04d" % r, "taskDefinition": "svc:1",
                              "desiredCount": 1} for r in range(REPOS)]}
        sim = Sim(ctx, seed=seed)
        print("bench: world of %d repositories x %d tags, %d services seeded in %.1fs"
              % (REPOS, TAGS, REPOS, time.monotonic() - t0), flush=True)
        cfg = {"aws": {"region": "us-east-1"}, "poll_interval": "10s", "log_level": "debug",
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
        # Pushes at random moments over several cycles; each is timed until its DETECTED line.
        pushes, detected, cycles = {}, {}, []
        cpu0, t_start = cpu_seconds(d.pid), time.monotonic()
        push_until, next_push = t_start + 10 * CYCLES, t_start
        while True:
            now = time.monotonic()
            if now < push_until and now >= next_push:
                r, t = random.randrange(REPOS), random.randrange(TAGS)
                pushes[sim.push("r%04d" % r, "t%d" % t, seed="bench-%f" % random.random())] = time.monotonic()
                next_push = now + random.uniform(0.3, 2.0)
            chunk = new_text()
            now = time.monotonic()
            cycles += cycle_lines(chunk)
            for dg in pushes:
                if dg not in detected and "IMAGE_DIGEST=" + dg in chunk:
                    detected[dg] = now - pushes[dg]
            if now >= push_until and len(detected) == len(pushes):
                break
            if now > push_until + 60:
                raise SystemExit("bench: pushes not detected within a minute: %d of %d"
                                 % (len(detected), len(pushes)))
            time.sleep(0.05)
        cpu_cycle = (cpu_seconds(d.pid) - cpu0) / max(1, len(cycles))
        m = cycles[-1].split("poll cycle: ")[1]
        requests = int(m.split(" requests")[0].split(", ")[-1])
        minimum = int(m.split("(minimum ")[1].rstrip(")"))
        rss = peak_rss_kb(d.pid)
        boto = boto3_cycle_cpu(sim)
        lat = [v * 1000 for v in detected.values()]
        print("bench: requests per cycle %d (API minimum %d = %d repositories x ceil(%d/100))"
              % (requests, minimum, REPOS, TAGS))
        print("bench: ecr-deployd CPU %.4fs per cycle over %d cycles; boto3 %.3fs for the same reads"
              % (cpu_cycle, len(cycles), boto))
        print("bench: ecr-deployd peak RSS %d kB" % rss)
        print("bench: push -> DETECTED over %d pushes: p50 %.0f ms, p99 %.0f ms (poll interval 10 s)"
              % (len(lat), pct(lat, 50), pct(lat, 99)))
        print("bench: push -> UpdateService latency: not measured (the deploy engine is not built yet)")
        print("bench: requests_per_cycle=%d minimum=%d cpu_s_per_cycle=%.4f boto3_cpu_s_per_cycle=%.4f "
              "cpu_ratio=%.1f rss_kb=%d detect_p50_ms=%.0f detect_p99_ms=%.0f"
              % (requests, minimum, cpu_cycle, boto, boto / cpu_cycle if cpu_cycle else 0, rss,
                 pct(lat, 50), pct(lat, 99)))
        return 0
    finally:
        ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
