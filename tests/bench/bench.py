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
QUIET = int(os.environ.get("BENCH_QUIET", 3))  # cycles without, measured first
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


def http_floor(ctx, sim, requests):
    """CPU of the HTTP layer alone (libcurl multi on libev, loopback TCP): the daemon's DescribeImages
    of one repository's 10 tags, signed once here, sent `requests` times by tests/bench/httpfloor
    with the daemon's 64 in flight. Returns (cpu_s, rss_kb)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import subprocess

    body = json.dumps({"repositoryName": "r0000", "imageIds": [{"imageTag": "t%d" % t} for t in range(TAGS)]})
    req = AWSRequest(method="POST", url=sim.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeImages"})
    SigV4Auth(Credentials(*SIM_KEY[:2]), "ecr", "us-east-1").add_auth(req)
    headers = ctx.write("floor.headers", "".join("%s: %s\n" % kv for kv in req.headers.items()))
    body_file = ctx.write("floor.body", body)
    out = subprocess.run([os.path.join(ROOT, B, "httpfloor"), sim.url + "/", str(requests), "64", headers,
                          body_file], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit("bench: httpfloor failed: %s %s" % (out.stdout, out.stderr))
    f = dict(kv.split("=") for kv in out.stdout.split(": ", 1)[1].split())
    return float(f["cpu_s"]), int(f["rss_kb"])


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
        # Quiet cycles first: nothing is pushed, so each is exactly the reconcile pass the boto3
        # script makes (read every watched tag, compare, deploy nothing).
        wait_for(lambda: cycle_lines(new_text()), 30, "a cycle boundary")
        cpu0 = cpu_seconds(d.pid)
        quiet = []
        while len(quiet) < QUIET:
            quiet += cycle_lines(new_text())
            time.sleep(0.05)
        cpu_quiet = (cpu_seconds(d.pid) - cpu0) / len(quiet)
        rss_quiet = peak_rss_kb(d.pid)
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
        d.stop()
        floor_cpu, floor_rss = http_floor(ctx, sim, requests)
        lat = [(updated[s] - pushes[s]) * 1000 for s in pushes]
        print("bench: requests per cycle %d (API minimum %d = %d repositories x ceil(%d/100))"
              % (requests, minimum, REPOS, TAGS))
        print("bench: ecr-deployd CPU %.4fs per quiet cycle over %d cycles; boto3 %.3fs for the same reconcile "
              "pass" % (cpu_quiet, len(quiet), boto))
        print("bench: ecr-deployd CPU %.4fs per cycle over %d cycles with %d deploys among them"
              % (cpu_cycle, len(cycles), len(pushes)))
        print("bench: ecr-deployd peak RSS %d kB after the quiet cycles, %d kB after the deploys" % (rss_quiet, rss))
        print("bench: HTTP layer alone (libcurl multi + libev + loopback TCP, nothing signed, parsed or "
              "decided): %.4fs CPU for %d requests, peak RSS %d kB; the best ratio to boto3 it leaves is %.1f"
              % (floor_cpu, requests, floor_rss, boto / floor_cpu if floor_cpu else 0))
        print("bench: push -> UpdateService over %d pushes: p50 %.0f ms, p99 %.0f ms (poll interval 10 s)"
              % (len(lat), pct(lat, 50), pct(lat, 99)))
        print("bench: requests_per_cycle=%d minimum=%d cpu_s_per_cycle=%.4f boto3_cpu_s_per_cycle=%.4f "
              "cpu_ratio=%.1f rss_kb=%d latency_p50_ms=%.0f latency_p99_ms=%.0f"
              % (requests, minimum, cpu_quiet, boto, boto / cpu_quiet if cpu_quiet else 0, rss,
                 pct(lat, 50), pct(lat, 99)))
        return 0
    finally:
        ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
